//! The conformance suite on the embedded SQLite backend.

engram_testkit::conformance_tests!(engram_testkit::sqlite_fixture);
