//! The conformance suite on the in-memory reference backend.

engram_testkit::conformance_tests!(engram_testkit::memory_fixture);
