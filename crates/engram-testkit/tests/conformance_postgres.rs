//! The conformance suite on the PostgreSQL backend, each case in a fresh
//! database (skipped with a message when no server is reachable, outside CI).

engram_testkit::conformance_tests!(engram_testkit::postgres_fixture, skip_unless = engram_testkit::postgres_available);
