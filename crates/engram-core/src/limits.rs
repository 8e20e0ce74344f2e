//! Named limits: every buffer, batch, body and result set has one (units last).

/// Largest serialized JSON document accepted.
pub const DOC_BYTES_MAX: usize = 1024 * 1024;
/// Operations in one transaction or bulk call.
pub const BATCH_OPS_MAX: usize = 10_000;
/// Serialized bytes of all documents of one transaction or bulk call.
pub const BATCH_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Documents returned by one query page.
pub const PAGE_LIMIT_MAX: usize = 1_000;
/// Page size when the caller gives none.
pub const PAGE_LIMIT_DEFAULT: usize = 100;
/// Largest `offset` for page/offset pagination (use cursors beyond it).
pub const OFFSET_MAX: usize = 10_000;
/// Stored rows one query page may examine before it returns a partial page
/// with a cursor (bounded work per request, as DynamoDB's `LastEvaluatedKey`).
pub const PAGE_SCAN_ROWS_MAX: usize = 100_000;
/// Matching documents a sort on non-indexed fields may hold in memory.
pub const SORT_SCAN_ROWS_MAX: usize = 100_000;
/// Nodes in one filter expression.
pub const FILTER_NODES_MAX: usize = 256;
/// Nesting depth of a filter expression.
pub const FILTER_DEPTH_MAX: usize = 16;
/// Elements of an `$in` / `$nin` list.
pub const FILTER_IN_VALUES_MAX: usize = 1_000;
/// Segments in a JSON path.
pub const PATH_SEGMENTS_MAX: usize = 16;
/// Bytes in a JSON path.
pub const PATH_BYTES_MAX: usize = 256;
/// Fields in one sort specification.
pub const SORT_FIELDS_MAX: usize = 4;
/// Declared indexes per collection.
pub const INDEXES_PER_COLLECTION_MAX: usize = 16;
/// Paths in one (compound) index.
pub const INDEX_PATHS_MAX: usize = 4;
/// Bytes of a string (or array/object text) kept in an index key component;
/// longer values share a key prefix and are told apart by rechecking the
/// document, so results stay exact.
pub const KEY_STRING_BYTES_MAX: usize = 256;
/// Bytes of a document id.
pub const DOC_ID_BYTES_MAX: usize = 256;
/// Characters of a space or collection name.
pub const NAME_CHARS_MAX: usize = 64;
/// Change-log entries returned by one read.
pub const CHANGES_LIMIT_MAX: usize = 10_000;
/// Bytes of an idempotency key.
pub const IDEMPOTENCY_KEY_BYTES_MAX: usize = 256;
/// Bytes of a JSON Schema attached to a collection.
pub const SCHEMA_BYTES_MAX: usize = 256 * 1024;
/// Bytes of a pagination cursor.
pub const CURSOR_BYTES_MAX: usize = 4 * 1024;
/// Largest time-to-live, in seconds (100 years).
pub const TTL_SECONDS_MAX: u64 = 100 * 365 * 24 * 3600;
/// Dimensions of a declared vector field.
pub const VECTOR_DIMS_MAX: u32 = 4_096;
/// Vector fields per collection (room for an old and a new embedding model).
pub const VECTOR_FIELDS_MAX: usize = 4;
/// Text fields per collection.
pub const TEXT_FIELDS_MAX: usize = 16;
/// Results one search returns.
pub const SEARCH_K_MAX: usize = 1_000;
/// Bytes of a full-text query string.
pub const SEARCH_TEXT_BYTES_MAX: usize = 4 * 1024;
/// Candidate-list width (`ef`) a k-NN search may ask for.
pub const SEARCH_EF_MAX: usize = 10_000;
/// Bytes of a name or version of an embedding model.
pub const MODEL_NAME_BYTES_MAX: usize = 128;

/// Texts in one call to an embedder (the engine splits larger writes).
pub const EMBED_BATCH_TEXTS_MAX: usize = 256;

/// Bytes of one text handed to an embedder (after joining a field's
/// source paths). Models truncate to their own token limit; this bounds
/// what is tokenized and sent.
pub const EMBED_TEXT_BYTES_MAX: usize = 64 * 1024;

/// Source paths one embedded vector field may read its text from.
pub const EMBED_FROM_PATHS_MAX: usize = 16;
/// Characters of a label: edge type, fact predicate, event type, property name.
pub const LABEL_CHARS_MAX: usize = 64;
/// Bytes of an event stream's name (its events' ids add 21 bytes).
pub const STREAM_NAME_BYTES_MAX: usize = 200;
/// Hops a graph traversal or path search may go.
pub const GRAPH_DEPTH_MAX: u32 = 32;
/// Nodes one traversal returns.
pub const GRAPH_RESULT_MAX: usize = 10_000;
/// Nodes returned when the caller gives no limit.
pub const GRAPH_RESULT_DEFAULT: usize = 100;
/// Edges one traversal or path search may examine before it stops and
/// reports a truncated result (bounded work under huge fan-out).
pub const GRAPH_EXPAND_MAX: usize = 1_000_000;
/// Edges one decay may change (it runs in one transaction).
pub const GRAPH_DECAY_EDGES_MAX: usize = 100_000;
/// Largest edge weight.
pub const EDGE_WEIGHT_MAX: f64 = 1e12;
/// Serialized bytes of an edge's properties.
pub const EDGE_PROPS_BYTES_MAX: usize = 64 * 1024;
/// Facts one query returns.
pub const FACTS_LIMIT_MAX: usize = 1_000;
/// Events in one append.
pub const EVENTS_PER_APPEND_MAX: usize = 1_000;
/// Events one read returns.
pub const EVENTS_READ_MAX: usize = 1_000;
/// Longest deduplication window of an append, in seconds (7 days).
pub const DEDUP_WINDOW_SECONDS_MAX: u64 = 7 * 24 * 3600;
/// Bytes of a queue name (the rules of stream names).
pub const QUEUE_NAME_BYTES_MAX: usize = 200;
/// Serialized bytes of one queue message's body.
pub const MESSAGE_BYTES_MAX: usize = 256 * 1024;
/// Messages in one enqueue request.
pub const ENQUEUE_BATCH_MAX: usize = 1_000;
/// Messages one receive hands out.
pub const RECEIVE_MAX: usize = 100;
/// Bytes of a message group or deduplication key.
pub const QUEUE_KEY_BYTES_MAX: usize = 128;
/// Highest message priority (0 is the lowest and the default).
pub const PRIORITY_MAX: u8 = 9;
/// Longest lease (visibility timeout), in seconds (12 hours).
pub const VISIBILITY_SECONDS_MAX: u64 = 12 * 3600;
/// Longest delay before a message becomes visible, in seconds (7 days).
pub const DELAY_SECONDS_MAX: u64 = 7 * 24 * 3600;
/// Longest long-poll wait of one receive, in seconds.
pub const RECEIVE_WAIT_SECONDS_MAX: u64 = 20;
/// Most deliveries of a message before it is dead-lettered.
pub const MAX_ATTEMPTS_MAX: u32 = 1_000;
/// Longest retry backoff, in milliseconds (1 day).
pub const RETRY_BACKOFF_MS_MAX: u64 = 24 * 3600 * 1000;
/// Messages a stats call counts before it reports an inexact figure.
pub const QUEUE_STATS_SCAN_MAX: usize = 100_000;
/// Messages one purge or redrive transaction moves or deletes.
pub const QUEUE_CHUNK_MAX: usize = 1_000;
/// Receipts in one acknowledgement.
pub const ACK_BATCH_MAX: usize = 1_000;
/// Collections, operations and topics one feed filter names.
pub const FEED_FILTER_NAMES_MAX: usize = 64;
/// Entries one feed page returns.
pub const FEED_LIMIT_MAX: usize = 1_000;
/// Change-log entries one feed page reads before it returns (matched or
/// not), so a selective filter over a long log answers in bounded time.
pub const FEED_SCAN_MAX: usize = 10_000;
/// How long an outbox message's payload is kept, in seconds (7 days): a
/// consumer further behind finds the entry without its payload.
pub const OUTBOX_RETENTION_SECONDS: u64 = 7 * 24 * 3600;
/// Serialized bytes of an outbox payload.
pub const OUTBOX_PAYLOAD_BYTES_MAX: usize = 256 * 1024;
/// Bytes of a webhook endpoint's URL.
pub const WEBHOOK_URL_BYTES_MAX: usize = 2_048;
/// Webhook endpoints per space.
pub const WEBHOOKS_PER_SPACE_MAX: usize = 100;
/// Delivery attempts or dead letters one listing returns.
pub const WEBHOOK_LIST_MAX: usize = 1_000;
/// How long a delivery attempt's log record is kept, in seconds (7 days).
pub const WEBHOOK_LOG_RETENTION_SECONDS: u64 = 7 * 24 * 3600;
/// Bytes of an object's key (keys are stored as record ids).
pub const OBJECT_KEY_BYTES_MAX: usize = DOC_ID_BYTES_MAX;
/// Bytes of one object (5 GiB: the largest an S3 store copies in one
/// request, which moving an upload under its content address needs).
pub const OBJECT_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024;
/// Bytes per verified chunk of an object: reads check each chunk's BLAKE3
/// digest before serving any byte of it.
pub const OBJECT_CHUNK_BYTES: u64 = 4 * 1024 * 1024;
/// User metadata entries of one object.
pub const OBJECT_METADATA_ENTRIES_MAX: usize = 32;
/// Bytes of one object's user metadata (names and values together).
pub const OBJECT_METADATA_BYTES_MAX: usize = 8 * 1024;
/// Bytes of an object's content type.
pub const CONTENT_TYPE_BYTES_MAX: usize = 256;
/// Objects (plus common prefixes) one listing page returns.
pub const OBJECT_LIST_MAX: usize = 1_000;
/// Object records one listing reads before it returns a page, so a
/// delimiter that folds many keys answers in bounded time.
pub const OBJECT_LIST_SCAN_MAX: usize = 10_000;
