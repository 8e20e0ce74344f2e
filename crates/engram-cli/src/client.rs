//! Where CLI commands go: the data directory itself, or a running server.
//!
//! A data directory belongs to one process. When a server holds it, the CLI
//! finds the server's address in the directory's lock and talks HTTP to it
//! instead of failing.

use crate::memory::{Call, call_local, http_request};
use crate::queue::QueueCall;
use engram::{CollectionSpec, Engine, EngineConfig, ErrorKind, Expect, Query, SearchRequest, WriteOptions};
use serde_json::{Value, json};
use std::path::Path;

/// Result of a CLI operation: JSON to print, or a message.
pub type Out = Result<Value, String>;

/// Operations the commands need.
pub trait Client {
    fn create_space(&self, name: &str) -> Out;
    fn list_spaces(&self) -> Out;
    fn delete_space(&self, name: &str) -> Out;
    fn put_collection(&self, space: &str, coll: &str, spec: Value) -> Out;
    fn put(&self, space: &str, coll: &str, id: &str, body: Value, opts: WriteOptions) -> Out;
    fn get(&self, space: &str, coll: &str, id: &str) -> Out;
    fn delete(&self, space: &str, coll: &str, id: &str, opts: WriteOptions) -> Out;
    fn query(&self, space: &str, coll: &str, q: Query) -> Out;
    fn count(&self, space: &str, coll: &str, filter: Value) -> Out;
    fn changes(&self, space: &str, after: u64, limit: usize) -> Out;
    fn verify(&self, space: &str) -> Out;
    fn search(&self, space: &str, coll: &str, req: SearchRequest) -> Out;
    fn index_status(&self, space: &str, coll: &str) -> Out;
    fn index_check(&self, space: &str) -> Out;
    fn index_rebuild(&self, space: &str) -> Out;
    /// Embedding status of a collection, after a backfill run if asked.
    fn embeddings(&self, space: &str, coll: &str, backfill: bool) -> Out;
    /// A graph, fact or stream operation.
    fn memory(&self, space: &str, call: Call) -> Out;
    /// A queue operation.
    fn queue(&self, space: &str, call: QueueCall) -> Out;
    /// A feed, consumer or webhook operation.
    fn feed(&self, space: &str, call: crate::feed::FeedCall) -> Out;
    /// An object operation (`data_dir` holds the bytes of a local one).
    fn object(&self, data_dir: &Path, space: &str, call: crate::object::ObjectCall) -> Out;
    /// A signed checkpoint or receipt (`data_dir` holds a local one's key).
    fn audit(&self, data_dir: &Path, space: &str, call: crate::audit::AuditCall) -> Out;
}

/// Opens the data directory, or connects to the server holding it.
pub fn connect(
    data_dir: &Path,
    server: Option<&str>,
    key: Option<&str>,
    command: &str,
) -> Result<Box<dyn Client>, String> {
    // The key a running server leaves for local commands.
    let local_key = || std::fs::read_to_string(data_dir.join(engram_server::auth::keys::CLI_KEY_FILE)).ok();
    let key = |fallback: bool| key.map(str::to_owned).or_else(|| if fallback { local_key() } else { None });
    if let Some(url) = server {
        return Ok(Box::new(Remote::new(url, key(false))));
    }
    let mut config = EngineConfig::dir(data_dir);
    config.holder_command = format!("engram {command}");
    match Engine::open(config) {
        Ok(engine) => Ok(Box::new(Local(engine))),
        Err(e) if e.kind() == ErrorKind::Locked => match engram::datadir::holder(data_dir).and_then(|h| h.address) {
            Some(addr) => {
                eprintln!("note: {} is held by a server; using http://{addr}", data_dir.display());
                Ok(Box::new(Remote::new(&format!("http://{addr}"), key(true))))
            }
            None => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    }
}

/// The engine in this process.
pub struct Local(pub Engine);

fn json_of<T: serde::Serialize>(r: engram::Result<T>) -> Out {
    r.map(|v| serde_json::to_value(v).expect("results serialize")).map_err(|e| e.to_string())
}

impl Client for Local {
    fn create_space(&self, name: &str) -> Out {
        json_of(self.0.create_space(name))
    }
    fn list_spaces(&self) -> Out {
        json_of(self.0.spaces().map(|spaces| json!({ "spaces": spaces })))
    }
    fn delete_space(&self, name: &str) -> Out {
        json_of(self.0.delete_space(name).map(|()| json!({ "deleted": name })))
    }
    fn put_collection(&self, space: &str, coll: &str, spec: Value) -> Out {
        let spec: CollectionSpec = serde_json::from_value(spec).map_err(|e| format!("invalid collection spec: {e}"))?;
        let space = self.0.space(space).map_err(|e| e.to_string())?;
        json_of(match space.create_collection(coll, spec.clone()) {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => space.update_collection(coll, spec),
            other => other,
        })
    }
    fn put(&self, space: &str, coll: &str, id: &str, body: Value, opts: WriteOptions) -> Out {
        json_of(self.0.space(space).and_then(|s| s.put(coll, id, body, opts)))
    }
    fn get(&self, space: &str, coll: &str, id: &str) -> Out {
        json_of(self.0.space(space).and_then(|s| s.get(coll, id)))
    }
    fn delete(&self, space: &str, coll: &str, id: &str, opts: WriteOptions) -> Out {
        json_of(self.0.space(space).and_then(|s| s.delete(coll, id, opts)))
    }
    fn query(&self, space: &str, coll: &str, q: Query) -> Out {
        json_of(self.0.space(space).and_then(|s| s.query(coll, &q)))
    }
    fn count(&self, space: &str, coll: &str, filter: Value) -> Out {
        json_of(self.0.space(space).and_then(|s| s.count(coll, &filter)).map(|count| json!({ "count": count })))
    }
    fn changes(&self, space: &str, after: u64, limit: usize) -> Out {
        json_of(self.0.space(space).and_then(|s| s.changes(after, limit)).map(|entries| json!({ "entries": entries })))
    }
    fn verify(&self, space: &str) -> Out {
        json_of(self.0.space(space).and_then(|s| s.verify_changes()))
    }
    fn search(&self, space: &str, coll: &str, req: SearchRequest) -> Out {
        json_of(self.0.space(space).and_then(|s| s.search(coll, &req)))
    }
    fn index_status(&self, space: &str, coll: &str) -> Out {
        json_of(self.0.space(space).and_then(|s| s.search_index_status(coll)))
    }
    fn index_check(&self, space: &str) -> Out {
        json_of(self.0.space(space).and_then(|s| s.check_search_index()))
    }
    fn embeddings(&self, space: &str, coll: &str, backfill: bool) -> Out {
        json_of(
            self.0.space(space).and_then(
                |s| {
                    if backfill { s.backfill_embeddings(coll) } else { s.embedding_status(coll) }
                },
            ),
        )
    }
    fn index_rebuild(&self, space: &str) -> Out {
        json_of(self.0.space(space).and_then(|s| s.rebuild_search_index()))
    }
    fn memory(&self, space: &str, call: Call) -> Out {
        call_local(&self.0.space(space).map_err(|e| e.to_string())?, call)
    }
    fn queue(&self, space: &str, call: QueueCall) -> Out {
        crate::queue::call_local(&self.0.space(space).map_err(|e| e.to_string())?, call)
    }
    fn feed(&self, space: &str, call: crate::feed::FeedCall) -> Out {
        crate::feed::call_local(&self.0.space(space).map_err(|e| e.to_string())?, call)
    }
    fn object(&self, data_dir: &Path, space: &str, call: crate::object::ObjectCall) -> Out {
        crate::object::call_local(&self.0, data_dir, space, call)
    }
    fn audit(&self, data_dir: &Path, space: &str, call: crate::audit::AuditCall) -> Out {
        crate::audit::call_local(&self.0, data_dir, space, call)
    }
}

/// A server over HTTP.
pub struct Remote {
    base: String,
    agent: ureq::Agent,
}

/// Adds the API key to every request.
struct BearerKey(String);

impl ureq::middleware::Middleware for BearerKey {
    fn handle(
        &self,
        mut req: ureq::http::Request<ureq::SendBody>,
        next: ureq::middleware::MiddlewareNext,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        if let Ok(v) = ureq::http::HeaderValue::from_str(&format!("Bearer {}", self.0.trim())) {
            req.headers_mut().insert(ureq::http::header::AUTHORIZATION, v);
        }
        next.handle(req)
    }
}

impl Remote {
    pub fn new(base: &str, key: Option<String>) -> Self {
        let mut config = ureq::Agent::config_builder().http_status_as_error(false);
        if let Some(k) = key {
            config = config.middleware(BearerKey(k));
        }
        Self { base: base.trim_end_matches('/').to_owned(), agent: config.build().into() }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A GET of `path` (with its query string).
    pub fn get(&self, path: &str) -> Out {
        reply(self.agent.get(self.url(path)).call())
    }

    fn doc_url(&self, space: &str, coll: &str, id: &str) -> String {
        self.url(&format!("/v1/spaces/{}/collections/{}/docs/{}", enc(space), enc(coll), enc(id)))
    }

    fn coll_url(&self, space: &str, coll: &str, rest: &str) -> String {
        self.url(&format!("/v1/spaces/{}/collections/{}{rest}", enc(space), enc(coll)))
    }
}

/// Percent-encodes one path segment.
pub(crate) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Reads a response: JSON on success, the problem's detail otherwise.
pub(crate) fn reply(res: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Out {
    let mut res = res.map_err(|e| format!("cannot reach the server: {e}"))?;
    let status = res.status();
    if status.as_u16() == 204 {
        return Ok(json!({ "status": 204 }));
    }
    let body: Value =
        res.body_mut().read_json().map_err(|e| format!("server sent an unreadable response ({status}): {e}"))?;
    if status.is_success() {
        return Ok(body);
    }
    let detail = body.get("detail").and_then(Value::as_str).unwrap_or("no detail");
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("").rsplit(':').next().unwrap_or("");
    Err(format!("{detail} ({kind}, HTTP {})", status.as_u16()))
}

fn with_options(
    mut req: ureq::RequestBuilder<ureq::typestate::WithBody>,
    opts: &WriteOptions,
) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
    match opts.expect {
        Expect::Version(v) => req = req.header("If-Match", format!("\"{v}\"")),
        Expect::Absent => req = req.header("If-None-Match", "*"),
        Expect::Exists => req = req.header("If-Match", "*"),
        Expect::Any => {}
    }
    if let Some(k) = &opts.idempotency_key {
        req = req.header("Idempotency-Key", k);
    }
    if let Some(t) = opts.ttl_seconds {
        req = req.query("ttl_seconds", t.to_string());
    }
    req
}

impl Client for Remote {
    fn create_space(&self, name: &str) -> Out {
        reply(self.agent.post(self.url("/v1/spaces")).send_json(json!({ "name": name })))
    }
    fn list_spaces(&self) -> Out {
        reply(self.agent.get(self.url("/v1/spaces")).call())
    }
    fn delete_space(&self, name: &str) -> Out {
        reply(self.agent.delete(self.url(&format!("/v1/spaces/{}", enc(name)))).call())
            .map(|_| json!({ "deleted": name }))
    }
    fn put_collection(&self, space: &str, coll: &str, spec: Value) -> Out {
        reply(self.agent.put(self.coll_url(space, coll, "")).send_json(spec))
    }
    fn put(&self, space: &str, coll: &str, id: &str, body: Value, opts: WriteOptions) -> Out {
        reply(with_options(self.agent.put(self.doc_url(space, coll, id)), &opts).send_json(body))
    }
    fn get(&self, space: &str, coll: &str, id: &str) -> Out {
        reply(self.agent.get(self.doc_url(space, coll, id)).call())
    }
    fn delete(&self, space: &str, coll: &str, id: &str, opts: WriteOptions) -> Out {
        let mut req = self.agent.delete(self.doc_url(space, coll, id));
        if let Expect::Version(v) = opts.expect {
            req = req.header("If-Match", format!("\"{v}\""));
        }
        reply(req.call())
    }
    fn query(&self, space: &str, coll: &str, q: Query) -> Out {
        reply(self.agent.post(self.coll_url(space, coll, "/query")).send_json(&q))
    }
    fn count(&self, space: &str, coll: &str, filter: Value) -> Out {
        reply(self.agent.post(self.coll_url(space, coll, "/count")).send_json(json!({ "filter": filter })))
    }
    fn changes(&self, space: &str, after: u64, limit: usize) -> Out {
        let url = self.url(&format!("/v1/spaces/{}/changes", enc(space)));
        reply(self.agent.get(url).query("after", after.to_string()).query("limit", limit.to_string()).call())
    }
    fn verify(&self, space: &str) -> Out {
        reply(self.agent.get(self.url(&format!("/v1/spaces/{}/changes/verify", enc(space)))).call())
    }
    fn search(&self, space: &str, coll: &str, req: SearchRequest) -> Out {
        reply(self.agent.post(self.coll_url(space, coll, "/search")).send_json(&req))
    }
    fn index_status(&self, space: &str, coll: &str) -> Out {
        reply(self.agent.get(self.coll_url(space, coll, "/search-index")).call())
    }
    fn index_check(&self, space: &str) -> Out {
        reply(self.agent.post(self.url(&format!("/v1/spaces/{}/search-index/check", enc(space)))).send_empty())
    }
    fn embeddings(&self, space: &str, coll: &str, backfill: bool) -> Out {
        if backfill {
            reply(self.agent.post(self.coll_url(space, coll, "/embeddings/backfill")).send_empty())
        } else {
            reply(self.agent.get(self.coll_url(space, coll, "/embeddings")).call())
        }
    }
    fn index_rebuild(&self, space: &str) -> Out {
        reply(self.agent.post(self.url(&format!("/v1/spaces/{}/search-index/rebuild", enc(space)))).send_empty())
    }
    fn memory(&self, space: &str, call: Call) -> Out {
        self.send(space, http_request(call, enc))
    }
    fn queue(&self, space: &str, call: QueueCall) -> Out {
        self.send(space, crate::queue::http_request(call, enc))
    }
    fn feed(&self, space: &str, call: crate::feed::FeedCall) -> Out {
        self.send(space, crate::feed::http_request(call, enc))
    }
    fn object(&self, _data_dir: &Path, space: &str, call: crate::object::ObjectCall) -> Out {
        crate::object::call_remote(&self.agent, &self.base, space, call)
    }
    fn audit(&self, _data_dir: &Path, space: &str, call: crate::audit::AuditCall) -> Out {
        reply(self.agent.get(self.url(&crate::audit::http_path(space, &call))).call())
    }
}

impl Remote {
    /// Sends a request under `/v1/spaces/{space}`.
    fn send(&self, space: &str, (method, path, query, body): HttpCall) -> Out {
        let url = self.url(&format!("/v1/spaces/{}{path}", enc(space)));
        let query = query.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        match method {
            "GET" => reply(self.agent.get(url).query_pairs(query).call()),
            "DELETE" => reply(self.agent.delete(url).call()),
            "PUT" => reply(self.agent.put(url).send_json(body)),
            _ => reply(self.agent.post(url).send_json(body)),
        }
    }
}

/// A method, a path under the space, query pairs and a JSON body.
type HttpCall = (&'static str, String, Vec<(String, String)>, Value);
