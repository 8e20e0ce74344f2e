//! Who may call what: API keys, roles, and the policy of every route.
//!
//! Invariant: every route is in [`policy`]; a route missing from it is
//! refused (admin only), so a new route is never public by accident. The
//! space check runs before the handler, so a key for space A gets the same
//! 403 for space B's existing and missing resources.

pub mod key_records;
pub mod keys;
pub mod middleware;

use axum::http::Method;
use serde::{Deserialize, Serialize};

/// What a key may do, each role including the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads and read-only queries.
    Read,
    /// Reads and data writes.
    Write,
    /// Everything in its scope: collection specs, index operations, spaces
    /// and keys (keys and space creation need an all-spaces admin).
    Admin,
}

/// The caller, once authenticated.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: String,
    /// The one space the key works in; all when `None`.
    pub space: Option<String>,
    pub role: Role,
}

impl Principal {
    /// Whether the key works in `space`.
    pub fn covers(&self, space: &str) -> bool {
        self.space.as_deref().is_none_or(|s| s == space)
    }
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key.
    Public,
    /// A key of at least this role; `all_spaces` demands a key for every
    /// space. Routes under `/v1/spaces/{space}` also demand that the key
    /// covers that space.
    Key { role: Role, all_spaces: bool },
}

const fn key(role: Role) -> Access {
    Access::Key { role, all_spaces: false }
}

const fn global(role: Role) -> Access {
    Access::Key { role, all_spaces: true }
}

/// The access a route needs, by method and route template.
pub fn policy(method: &Method, route: &str) -> Access {
    const READ_POSTS: [&str; 9] = [
        "/query",
        "/count",
        "/exists",
        "/search",
        "/graph/neighbors",
        "/graph/path",
        "/facts/query",
        "/poll",
        "/bulk/get",
    ];
    match (method.as_str(), route) {
        ("GET", "/healthz" | "/readyz" | "/openapi.json" | "/docs" | "/v1/audit/public-key") => Access::Public,
        ("GET", "/metrics") => global(Role::Read),
        (_, r) if r.starts_with("/v1/keys") => global(Role::Admin),
        ("GET", "/v1/spaces") => key(Role::Read),
        ("POST", "/v1/spaces") => global(Role::Admin),
        ("DELETE", "/v1/spaces/{space}") => key(Role::Admin),
        (_, r) if !r.starts_with("/v1/spaces/{space}") => global(Role::Admin),
        ("GET" | "HEAD", _) => key(Role::Read),
        ("PUT" | "DELETE", "/v1/spaces/{space}/collections/{collection}") => key(Role::Admin),
        ("PUT" | "DELETE", "/v1/spaces/{space}/queues/{queue}") => key(Role::Admin),
        ("PUT" | "DELETE", "/v1/spaces/{space}/webhooks/{webhook}") => key(Role::Admin),
        ("POST", "/v1/spaces/{space}/queues/{queue}/purge") => key(Role::Admin),
        ("POST", r) if r.starts_with("/v1/spaces/{space}/search-index/") => key(Role::Admin),
        ("POST", r) if r.ends_with("/embeddings/backfill") => key(Role::Admin),
        ("POST", "/v1/spaces/{space}/audit/verify") => key(Role::Admin),
        ("POST", r) if READ_POSTS.iter().any(|s| r.ends_with(s)) => key(Role::Read),
        _ => key(Role::Write),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_covers_the_kinds_of_route() {
        let p = |m: &str, r: &str| policy(&Method::from_bytes(m.as_bytes()).expect("method"), r);
        assert_eq!(p("GET", "/healthz"), Access::Public);
        assert_eq!(p("GET", "/metrics"), global(Role::Read));
        assert_eq!(p("POST", "/v1/keys"), global(Role::Admin));
        assert_eq!(p("POST", "/v1/spaces"), global(Role::Admin));
        assert_eq!(p("GET", "/v1/spaces/{space}/collections/{collection}/docs/{id}"), key(Role::Read));
        assert_eq!(p("PUT", "/v1/spaces/{space}/collections/{collection}/docs/{id}"), key(Role::Write));
        assert_eq!(p("POST", "/v1/spaces/{space}/collections/{collection}/query"), key(Role::Read));
        assert_eq!(p("PUT", "/v1/spaces/{space}/collections/{collection}"), key(Role::Admin));
        assert_eq!(p("POST", "/v1/spaces/{space}/graph/edges"), key(Role::Write));
        assert_eq!(p("POST", "/v1/spaces/{space}/graph/neighbors"), key(Role::Read));
        assert_eq!(p("POST", "/v1/spaces/{space}/search-index/rebuild"), key(Role::Admin));
        assert_eq!(p("POST", "/v1/spaces/{space}/queues/{queue}/receive"), key(Role::Write));
        assert_eq!(p("GET", "/v1/spaces/{space}/queues/{queue}"), key(Role::Read));
        assert_eq!(p("PUT", "/v1/spaces/{space}/queues/{queue}"), key(Role::Admin));
        assert_eq!(p("POST", "/v1/spaces/{space}/queues/{queue}/purge"), key(Role::Admin));
        assert_eq!(p("PUT", "/v1/spaces/{space}/webhooks/{webhook}"), key(Role::Admin));
        assert_eq!(p("POST", "/v1/spaces/{space}/consumers/{consumer}/poll"), key(Role::Read));
        assert_eq!(p("HEAD", "/v1/spaces/{space}/objects/{*key}"), key(Role::Read));
        assert_eq!(p("PUT", "/v1/spaces/{space}/objects/{*key}"), key(Role::Write));
        assert_eq!(p("POST", "/v1/spaces/{space}/blobs"), key(Role::Write));
        assert_eq!(p("GET", "/v1/audit/public-key"), Access::Public);
        assert_eq!(p("GET", "/v1/spaces/{space}/changes/{position}/receipt"), key(Role::Read));
        assert_eq!(p("POST", "/v1/spaces/{space}/audit/verify"), key(Role::Admin));
        assert_eq!(p("POST", "/v1/unknown"), global(Role::Admin), "unlisted routes are admin-only");
    }
}
