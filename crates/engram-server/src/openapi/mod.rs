//! The OpenAPI 3.1 document, generated from the route annotations and
//! completed by modifiers for what no single handler decides: security,
//! the error responses of the shared layers, and tuple schemas.

mod errors;
mod security;
#[cfg(test)]
mod tests;
mod tuples;

use errors::Errors;
use security::Security;
use tuples::Tuples;

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
        bulk_get,
        query_documents,
        count_documents,
        exists_documents,
        search_collection,
        search_index_status,
        embedding_status,
        backfill_embeddings,
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
        read_feed,
        stream_feed,
        publish_message,
        list_consumers,
        get_consumer,
        create_consumer,
        delete_consumer,
        poll_consumer,
        ack_consumer,
        list_webhooks,
        get_webhook,
        create_webhook,
        delete_webhook,
        list_webhook_attempts,
        list_webhook_dead_letters,
        replay_webhook,
        list_queues,
        get_queue,
        put_queue,
        delete_queue,
        enqueue_messages,
        receive_messages,
        ack_messages,
        nack_message,
        extend_lease,
        list_dead_letters,
        redrive_dead_letters,
        purge_queue,
        put_object,
        get_object,
        head_object,
        delete_object,
        list_objects,
        copy_object,
        stage_blob,
        signed_object_url,
        commit_transaction,
        audit_public_key,
        audit_checkpoint,
        change_receipt,
        audit_consistency,
        audit_verify,
        list_changes,
        verify_changes,
    ),
    modifiers(&Security, &Errors, &Tuples),
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
        engram::Hop,
        engram::ObjectPut,
        engram::BlobInput,
        engram::ObjectInfo
    ))
)]
struct ApiDoc;

/// The operations of a path item with their methods.
pub(crate) fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> Vec<(axum::http::Method, &mut utoipa::openapi::path::Operation)> {
    use axum::http::Method;
    [
        (Method::GET, item.get.as_mut()),
        (Method::PUT, item.put.as_mut()),
        (Method::POST, item.post.as_mut()),
        (Method::DELETE, item.delete.as_mut()),
        (Method::PATCH, item.patch.as_mut()),
        (Method::HEAD, item.head.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|o| (m, o)))
    .collect()
}

/// The OpenAPI document of this build.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
