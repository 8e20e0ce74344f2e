//! Engram's test kit: the backend conformance suite and its fixtures.
//!
//! Each backend's tests call [`conformance_tests!`] with a factory; every
//! case then runs against that backend. The in-memory backend is the
//! reference; the suite states expected behaviour explicitly, so a backend
//! passes by being right, not by agreeing with another backend's bugs.

pub mod audit_conformance;
pub mod clock;
pub mod conformance;
pub mod consistency;
pub mod disposable;
pub mod embed_conformance;
pub mod faulty_store;
pub mod feed_conformance;
pub mod fixture;
pub mod memory_conformance;
pub mod number_conformance;
pub mod postgres;
pub mod queue_conformance;
pub mod search_conformance;
pub mod shared;
pub mod words_embedder;

pub use clock::ManualClock;
pub use faulty_store::FaultyStore;
pub use fixture::{Fixture, memory_fixture, postgres_fixture, sqlite_fixture};
pub use postgres::{TestDatabase, postgres_available};

/// Generates one `#[test]` per conformance case for a fixture factory
/// (`fn(Arc<ManualClock>) -> Fixture`). With `skip_unless = guard`, each
/// case first calls `guard()` and returns at once when it is false (for
/// backends that need a server the machine may not have).
#[macro_export]
macro_rules! conformance_tests {
    ($factory:path) => {
        $crate::conformance_tests!(@all $factory, (|| true));
    };
    ($factory:path, skip_unless = $guard:path) => {
        $crate::conformance_tests!(@all $factory, $guard);
    };
    (@all $factory:path, $guard:expr) => {
        $crate::conformance_tests!(@cases $factory, $guard;
            spaces_lifecycle, space_isolation, put_get_versions, conditional_writes,
            merge_patch, deletes, bulk_is_atomic, bulk_puts_match_one_by_one, transactions_span_collections,
            ttl_hides_and_purges, default_ttl, schema_validation, filters_match_brute_force,
            sort_and_cursor_pages, cursor_stable_under_inserts, indexes_agree_with_scans,
            offset_pages, count_and_exists, change_log_records_every_mutation,
            idempotency_keys, bad_input_is_rejected_cleanly, collection_ddl,
            optimistic_concurrency, reopen_keeps_everything, rolled_back_collection_leaves_no_stale_spec,
            search_text_ranks_filters_and_highlights, search_never_returns_deleted_or_stale,
            search_filtered_knn_equals_exact, search_hybrid_fuses_text_and_vectors, search_rejects_bad_input,
            search_switches_embedding_models, search_index_survives_reopen_check_and_rebuild,
            search_file_with_many_indexes_loads,
            search_hides_expired_documents,
            graph_traverses_with_bounds_and_filters, graph_rejects_bad_edges, graph_edges_go_with_their_documents,
            graph_strengthens_and_decays, graph_fan_out_is_bounded, facts_are_bitemporal,
            facts_functional_concurrent_asserts_leave_one_value, streams_append_read_and_snapshot,
            streams_deduplicate_retried_appends, streams_concurrent_expected_version_one_wins,
            memory_ops_commit_with_documents, memory_model_is_isolated_and_survives_reopen,
            numbers_compare_exactly_beyond_2_pow_53,
            queues_lease_ack_and_expire, queues_retry_with_backoff_then_dead_letter,
            queues_groups_deliver_in_order_one_at_a_time, queues_dedup_delay_and_priority,
            queues_enqueue_commits_and_rolls_back_with_its_transaction,
            queues_concurrent_consumers_never_share_a_message, queues_idle_long_poll_writes_nothing,
            queues_combined_receives_keep_queues_spaces_and_leases_apart, queues_ack_of_many_receipts_reports_each,
            feed_selects_entries_in_order_with_documents, outbox_delivers_only_what_committed,
            consumers_resume_from_their_acknowledged_position, objects_metadata_follows_the_log,
            embeddings_follow_the_text, embedding_model_switch_backfills_then_promotes,
            embedded_field_added_later_is_backfilled, audit_entries_record_their_actor,
            audit_tree_proves_every_entry, audit_rows_agree_with_the_log, audit_rows_tolerate_concurrent_writes);
    };
    (@cases $factory:path, $guard:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                if !$guard() {
                    return;
                }
                $crate::conformance::$case(&$factory);
            }
        )*
    };
}
