//! The memory tools an agent calls: remember, recall, get, update, forget,
//! link, neighbors, assert_fact, query_facts, append_episode, read_episode.
//! Each is one request of the HTTP API on the server's space; descriptions
//! are written for a model to read.

use crate::target::{CallFailed, Target};
use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Memories a recall returns at most.
pub const RECALL_K_MAX: u32 = 100;
/// Events a read returns at most.
pub const READ_EVENTS_MAX: u32 = 1000;

/// The tools, bound to one space and its memory collection.
#[derive(Clone)]
pub struct Memory {
    target: Target,
    space: String,
    collection: String,
    tool_router: ToolRouter<Self>,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory").field("space", &self.space).field("collection", &self.collection).finish()
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Remember {
    /// What to remember, in plain language (searchable by recall).
    pub text: String,
    /// An id to store it under (replaces the memory with that id); a new id is made when omitted.
    #[serde(default)]
    pub id: Option<String>,
    /// Extra fields stored with the memory (e.g. {"topic": "travel", "importance": 3}); recall can filter on them.
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    /// An embedding of the text, when the collection declares a vector field named "embedding" without an embedder (with one, the server computes it from the text).
    #[serde(default)]
    pub vector: Option<Vec<f32>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Recall {
    /// What to look for: words, "a phrase", +required, -excluded.
    pub query: String,
    /// Only memories whose fields match, e.g. {"topic": "travel"} or {"importance": {"$gte": 3}}.
    #[serde(default)]
    pub filter: Option<Value>,
    /// How many memories to return (default 5, at most 100).
    #[serde(default)]
    pub k: Option<u32>,
    /// An embedding of the query: combined with the words (hybrid search) when given.
    #[serde(default)]
    pub vector: Option<Vec<f32>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct MemoryId {
    /// The memory's id (as remember or recall returned it).
    pub id: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Update {
    /// The memory's id.
    pub id: String,
    /// The new text, if it changes.
    #[serde(default)]
    pub text: Option<String>,
    /// Fields to change; a field set to null is removed.
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Link {
    /// The memory the relation starts from.
    pub from: String,
    /// The memory it points to.
    pub to: String,
    /// The relation's name: letters, digits, _ - . : (e.g. "mentions", "caused_by").
    pub relation: String,
    /// How strong the relation is (default 1.0).
    #[serde(default)]
    pub weight: Option<f64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Neighbors {
    /// The memory to start from.
    pub id: String,
    /// How many hops to walk (default 1, at most 32).
    #[serde(default)]
    pub depth: Option<u32>,
    /// Follow only these relations (all when omitted).
    #[serde(default)]
    pub relations: Option<Vec<String>>,
    /// "out" (default), "in" or "both".
    #[serde(default)]
    pub direction: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct AssertFact {
    /// Who or what the fact is about: an entity name (e.g. "user", "project:apollo"), or a memory id when subject_is_memory is true.
    pub subject: String,
    /// True when subject is a memory id.
    #[serde(default)]
    pub subject_is_memory: bool,
    /// The property or relation, e.g. "lives_in", "prefers" (letters, digits, _ - . :).
    pub predicate: String,
    /// The value: any JSON (a string, number, object…).
    pub object: Value,
    /// True when the subject has one value for this predicate at a time: the new value supersedes the old (kept in history).
    #[serde(default)]
    pub functional: bool,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct QueryFacts {
    /// Only facts about this subject (an entity name, or a memory id when subject_is_memory is true).
    #[serde(default)]
    pub subject: Option<String>,
    /// True when subject is a memory id.
    #[serde(default)]
    pub subject_is_memory: bool,
    /// Only facts with this predicate.
    #[serde(default)]
    pub predicate: Option<String>,
    /// Include facts that are no longer true (superseded or retracted), with their validity times.
    #[serde(default)]
    pub history: bool,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Event {
    /// What happened, e.g. "user_said", "tool_called" (letters, digits, _ - . :).
    #[serde(rename = "type")]
    pub kind: String,
    /// The event's content (any JSON).
    #[serde(default)]
    pub data: Value,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct AppendEpisode {
    /// The episode (stream) name, e.g. "session-42" (letters, digits, _ - . : /).
    pub episode: String,
    /// The events to append, in order.
    pub events: Vec<Event>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ReadEpisode {
    /// The episode (stream) name.
    pub episode: String,
    /// How many events (default 50, at most 1000).
    #[serde(default)]
    pub limit: Option<u32>,
    /// True for the most recent events first.
    #[serde(default)]
    pub latest_first: bool,
}

/// Percent-encodes one path segment.
pub(crate) fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The bearer key the MCP client sent over HTTP (none over stdio).
fn caller_key(ctx: &RequestContext<RoleServer>) -> Option<String> {
    let parts = ctx.extensions.get::<axum::http::request::Parts>()?;
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

/// A tool's answer: the JSON result, or the refusal as an error result the
/// model reads (not a protocol error: the call itself was well formed).
fn answer(result: Result<Value, CallFailed>) -> Result<CallToolResult, ErrorData> {
    Ok(match result {
        Ok(v) => CallToolResult::success(vec![ContentBlock::text(v.to_string())]),
        Err(CallFailed(why)) => CallToolResult::error(vec![ContentBlock::text(why)]),
    })
}

fn subject(name: &str, is_memory: bool, collection: &str) -> Value {
    if is_memory { json!({"collection": collection, "id": name}) } else { json!({"value": name}) }
}

impl Memory {
    pub fn new(target: Target, space: String, collection: String) -> Self {
        Self { target, space, collection, tool_router: Self::tool_router() }
    }

    fn space_path(&self, rest: &str) -> String {
        format!("/v1/spaces/{}{rest}", seg(&self.space))
    }

    fn doc_path(&self, id: &str) -> String {
        self.space_path(&format!("/collections/{}/docs/{}", seg(&self.collection), seg(id)))
    }

    fn node(&self, id: &str) -> Value {
        json!({"collection": self.collection, "id": id})
    }

    async fn call(
        &self,
        ctx: &RequestContext<RoleServer>,
        method: &'static str,
        path: String,
        body: Option<Value>,
    ) -> Result<Value, CallFailed> {
        self.target.call(caller_key(ctx), method, path, body).await
    }
}

#[tool_router]
impl Memory {
    #[tool(
        description = "Store a memory: a piece of text worth keeping (a fact about the user, a decision, an observation), with optional metadata fields. Returns its id. Use the same id to replace a memory."
    )]
    async fn remember(
        &self,
        Parameters(p): Parameters<Remember>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let mut body = p.metadata.unwrap_or_default();
        body.insert("text".into(), Value::String(p.text));
        if let Some(v) = p.vector {
            body.insert("embedding".into(), json!(v));
        }
        let coll = self.space_path(&format!("/collections/{}/docs", seg(&self.collection)));
        let result = match p.id {
            Some(id) => self.call(&ctx, "PUT", self.doc_path(&id), Some(Value::Object(body))).await,
            None => self.call(&ctx, "POST", coll, Some(Value::Object(body))).await,
        };
        answer(result.map(|r| json!({"id": r["id"], "version": r["version"]})))
    }

    #[tool(
        description = "Search memories by meaning and words (hybrid full-text and vector search: the server embeds the query when the memory collection has an embedder, or pass a vector), optionally filtered on metadata fields. Returns the best matches first with their text and fields."
    )]
    async fn recall(
        &self,
        Parameters(p): Parameters<Recall>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let k = p.k.unwrap_or(5).clamp(1, RECALL_K_MAX);
        // Without a vector, `query` searches the words and, when the
        // collection's `embedding` has an embedder, the meaning too.
        let mut body = json!({"k": k, "include_documents": true, "snippets": false});
        match p.vector {
            Some(v) => {
                body["text"] = json!(p.query);
                body["vector"] = json!(v);
            }
            None => body["query"] = json!(p.query),
        }
        if let Some(f) = p.filter {
            body["filter"] = f;
        }
        let path = self.space_path(&format!("/collections/{}/search", seg(&self.collection)));
        let result = self.call(&ctx, "POST", path, Some(body)).await.map(|r| {
            let hits = r["hits"].as_array().cloned().unwrap_or_default();
            let memories: Vec<Value> = hits
                .into_iter()
                .map(|h| {
                    let mut doc = h.get("document").and_then(|d| d.get("body")).cloned().unwrap_or(Value::Null);
                    if let Some(o) = doc.as_object_mut() {
                        o.remove("embedding");
                    }
                    json!({"id": h["id"], "score": h["score"], "memory": doc})
                })
                .collect();
            json!({"memories": memories})
        });
        answer(result)
    }

    #[tool(description = "Read one memory by id: its text, fields and version.")]
    async fn get(
        &self,
        Parameters(p): Parameters<MemoryId>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        answer(self.call(&ctx, "GET", self.doc_path(&p.id), None).await)
    }

    #[tool(
        description = "Change a memory: new text and/or metadata fields (a field set to null is removed). Fields not mentioned stay as they are."
    )]
    async fn update(
        &self,
        Parameters(p): Parameters<Update>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let mut patch = p.metadata.unwrap_or_default();
        if let Some(t) = p.text {
            patch.insert("text".into(), Value::String(t));
        }
        let result = self.call(&ctx, "PATCH", self.doc_path(&p.id), Some(Value::Object(patch))).await;
        answer(result.map(|r| json!({"id": r["id"], "version": r["version"]})))
    }

    #[tool(
        description = "Forget a memory: delete it by id, with its links. It no longer appears in recall, get or neighbors."
    )]
    async fn forget(
        &self,
        Parameters(p): Parameters<MemoryId>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let result = self.call(&ctx, "DELETE", self.doc_path(&p.id), None).await;
        answer(result.map(|_| json!({"forgotten": p.id})))
    }

    #[tool(
        description = "Relate two memories with a named, directed relation (e.g. 'mentions', 'follows_from'). Linking the same pair and relation again replaces the link."
    )]
    async fn link(
        &self,
        Parameters(p): Parameters<Link>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let mut edge = json!({"from": self.node(&p.from), "to": self.node(&p.to), "type": p.relation});
        if let Some(w) = p.weight {
            edge["weight"] = json!(w);
        }
        let result = self.call(&ctx, "POST", self.space_path("/graph/edges"), Some(edge)).await;
        answer(result.map(|e| json!({"link": e["id"]})))
    }

    #[tool(
        description = "Memories related to one memory through links, nearest first, up to a number of hops; optionally only some relations or a direction."
    )]
    async fn neighbors(
        &self,
        Parameters(p): Parameters<Neighbors>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let mut body = json!({"from": self.node(&p.id), "depth": p.depth.unwrap_or(1), "include_documents": true});
        if let Some(r) = p.relations {
            body["types"] = json!(r);
        }
        if let Some(d) = p.direction {
            body["direction"] = json!(d);
        }
        answer(self.call(&ctx, "POST", self.space_path("/graph/neighbors"), Some(body)).await)
    }

    #[tool(
        description = "Record a fact: subject, predicate, value (e.g. user / lives_in / \"Paris\"). With functional=true the new value replaces the current one, and the old one stays in history with the time it stopped being true."
    )]
    async fn assert_fact(
        &self,
        Parameters(p): Parameters<AssertFact>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let body = json!({
            "subject": subject(&p.subject, p.subject_is_memory, &self.collection),
            "predicate": p.predicate,
            "object": {"value": p.object},
            "functional": p.functional,
        });
        answer(self.call(&ctx, "POST", self.space_path("/facts"), Some(body)).await)
    }

    #[tool(
        description = "Look up facts by subject and/or predicate: what is true now, or with history=true every value it ever had with its validity times."
    )]
    async fn query_facts(
        &self,
        Parameters(p): Parameters<QueryFacts>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let mut body = json!({"all_valid_times": p.history});
        if let Some(s) = &p.subject {
            body["subject"] = subject(s, p.subject_is_memory, &self.collection);
        }
        if let Some(pr) = p.predicate {
            body["predicate"] = json!(pr);
        }
        answer(self.call(&ctx, "POST", self.space_path("/facts/query"), Some(body)).await)
    }

    #[tool(
        description = "Append events to an episode (a conversation, a task run): an ordered, append-only record of what happened. Returns the episode's new length."
    )]
    async fn append_episode(
        &self,
        Parameters(p): Parameters<AppendEpisode>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let events: Vec<Value> = p.events.into_iter().map(|e| json!({"type": e.kind, "data": e.data})).collect();
        let path = self.space_path(&format!("/streams/{}/events", seg(&p.episode)));
        let result = self.call(&ctx, "POST", path, Some(json!({"events": events}))).await;
        answer(result.map(|r| json!({"episode": r["stream"], "length": r["version"]})))
    }

    #[tool(description = "Read an episode's events in order (or the latest first).")]
    async fn read_episode(
        &self,
        Parameters(p): Parameters<ReadEpisode>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let limit = p.limit.unwrap_or(50).clamp(1, READ_EVENTS_MAX);
        let direction = if p.latest_first { "backward" } else { "forward" };
        let path = self.space_path(&format!("/streams/{}/events?limit={limit}&direction={direction}", seg(&p.episode)));
        answer(self.call(&ctx, "GET", path, None).await)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Memory {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("engram", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "Long-term memory for this agent, kept in Engram (space {:?}). Use `remember` to keep something, `recall` to find it again by words or meaning, `get`/`update`/`forget` on one memory by id, `link`/`neighbors` to relate memories, `assert_fact`/`query_facts` for facts that change over time, and `append_episode`/`read_episode` to record what happened in order.",
                self.space
            ))
    }
}
