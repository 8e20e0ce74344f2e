//! The OpenAPI 3.1 document, generated from the route annotations.

use crate::routes::*;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Engram",
        description = "One storage engine for AI-agent platforms. Errors are RFC 9457 problem+json with a stable `type` (urn:engram:problem:<kind>)."
    ),
    paths(
        healthz,
        openapi_json,
        list_spaces,
        create_space,
        get_space,
        delete_space,
        list_collections,
        get_collection,
        put_collection,
        drop_collection,
        get_document,
        put_document,
        patch_document,
        delete_document,
        insert_document,
        list_documents,
        bulk_put,
        bulk_delete,
        query_documents,
        count_documents,
        exists_documents,
        search_collection,
        search_index_status,
        check_search_index,
        rebuild_search_index,
        create_edge,
        get_edge,
        delete_edge,
        strengthen_edge,
        decay_edges,
        graph_neighbors,
        graph_path,
        assert_fact,
        query_facts,
        retract_fact,
        append_events,
        read_events,
        get_stream,
        put_snapshot,
        get_snapshot,
        commit_transaction,
        list_changes,
        verify_changes,
    ),
    components(schemas(
        crate::problem::Problem,
        engram::Expect,
        engram::Op,
        engram::SortField,
        engram::SortOrder,
        engram::NodeRef,
        engram::Term,
        engram::Direction,
        engram::ExpectedVersion,
        engram::EventInput,
        engram::Hop
    ))
)]
struct ApiDoc;

/// The OpenAPI document of this build.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
