//! The committed `docs/openapi.json` is the document the code generates:
//! a route, schema or policy change without regenerating it fails here.
//! Regenerate with `ENGRAM_UPDATE_OPENAPI=1 cargo test -p engram-server --test openapi_committed`.

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[test]
fn committed_openapi_matches_the_code() {
    let mut generated =
        serde_json::to_string_pretty(&engram_server::openapi::document()).expect("the OpenAPI document serializes");
    generated.push('\n');
    let path = committed_path();
    if std::env::var_os("ENGRAM_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write docs/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let first = committed.lines().zip(generated.lines()).position(|(a, b)| a != b);
        panic!(
            "docs/openapi.json differs from the code (first differing line: {:?}); regenerate it with \
             ENGRAM_UPDATE_OPENAPI=1 cargo test -p engram-server --test openapi_committed",
            first.map(|i| i + 1)
        );
    }
}
