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
        readyz,
        metrics,
        api_reference,
        openapi_json,
        create_key,
        list_keys,
        revoke_key,
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
    modifiers(&Security),
    components(schemas(
        crate::problem::Problem,
        engram::Expect,
        engram::Op,
        engram::SortField,
        engram::SortOrder,
        crate::auth::Role,
        engram::NodeRef,
        engram::Term,
        engram::Direction,
        engram::ExpectedVersion, engram::ReadDirection,
        engram::EventInput,
        engram::Hop
    ))
)]
struct ApiDoc;

/// Declares the bearer-key scheme and applies it to every route that needs
/// a key (per `auth::policy`), so the document says which routes are public.
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("egk_…").build()),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in operations(item) {
                if crate::auth::policy(&method, path) != crate::auth::Access::Public {
                    op.security = Some(vec![SecurityRequirement::new("api_key", Vec::<String>::new())]);
                }
            }
        }
    }
}

fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> Vec<(axum::http::Method, &mut utoipa::openapi::path::Operation)> {
    use axum::http::Method;
    [
        (Method::GET, item.get.as_mut()),
        (Method::PUT, item.put.as_mut()),
        (Method::POST, item.post.as_mut()),
        (Method::DELETE, item.delete.as_mut()),
        (Method::PATCH, item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|o| (m, o)))
    .collect()
}

/// The OpenAPI document of this build.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
