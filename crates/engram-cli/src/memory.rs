//! The `graph`, `fact` and `stream` commands: their arguments, the engine
//! call each makes, and the HTTP request that makes it on a server.

use clap::{Args, Subcommand};
use engram::{
    AppendRequest, Direction, EdgeInput, EventInput, ExpectedVersion, FactInput, FactQuery, NeighborsRequest, NodeRef,
    PathRequest, ReadDirection, Space,
};
use serde_json::{Value, json};

#[derive(Debug, Subcommand)]
pub enum GraphCommand {
    /// Create or replace an edge between two documents.
    Link {
        space: String,
        /// Source document as collection/id.
        from: String,
        /// Edge type, e.g. knows.
        edge_type: String,
        /// Target document as collection/id.
        to: String,
        #[arg(long)]
        weight: Option<f64>,
        /// Properties as a JSON object.
        #[arg(long)]
        props: Option<String>,
    },
    /// Delete the edge (from, type, to).
    Unlink { space: String, from: String, edge_type: String, to: String },
    /// Nodes within a number of hops of a document.
    Neighbors {
        space: String,
        /// Start document as collection/id.
        from: String,
        #[arg(long, default_value_t = 1)]
        depth: u32,
        #[command(flatten)]
        walk: Walk,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// A shortest path between two documents.
    Path {
        space: String,
        from: String,
        to: String,
        #[arg(long, default_value_t = 6)]
        max_depth: u32,
        #[command(flatten)]
        walk: Walk,
        /// Least summed weight instead of fewest hops.
        #[arg(long)]
        weighted: bool,
    },
}

#[derive(Debug, Args)]
pub struct Walk {
    /// out, in or both.
    #[arg(long, default_value = "out")]
    direction: String,
    /// Edge types to follow (repeatable); all when none.
    #[arg(long = "type")]
    types: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum FactCommand {
    /// Record a fact given as JSON: {"subject":…, "predicate":…, "object":…, "functional":…}.
    Assert { space: String, fact: String },
    /// Facts about a subject, given as JSON: {"subject":…, "valid_at_ms":…, "known_at_ms":…}.
    Query { space: String, query: String },
}

#[derive(Debug, Subcommand)]
pub enum StreamCommand {
    /// Append events, each given as TYPE=JSON-DATA.
    Append {
        space: String,
        stream: String,
        #[arg(required = true)]
        events: Vec<String>,
        /// any, no_stream, exists or a version number.
        #[arg(long, default_value = "any")]
        expected_version: String,
        #[arg(long)]
        dedup_window_seconds: Option<u64>,
    },
    /// Read events by version.
    Read {
        space: String,
        stream: String,
        #[arg(long)]
        from: Option<u64>,
        #[arg(long)]
        backward: bool,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

/// One engine call with its arguments parsed.
pub enum Call {
    Link(EdgeInput),
    Unlink(NodeRef, String, NodeRef),
    Neighbors(NeighborsRequest),
    Path(PathRequest),
    Assert(FactInput),
    Facts(FactQuery),
    Append(String, AppendRequest),
    Read(String, Option<u64>, ReadDirection, usize),
}

fn node(s: &str) -> Result<NodeRef, String> {
    let (c, id) = s.split_once('/').ok_or_else(|| format!("{s:?}: give a document as collection/id"))?;
    Ok(NodeRef::new(c, id))
}

fn direction(s: &str) -> Result<Direction, String> {
    serde_json::from_value(json!(s)).map_err(|_| format!("--direction {s:?}: use out, in or both"))
}

fn json_arg<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, String> {
    let value = serde_json::from_str(s).map_err(|e| format!("{what}: {e}"))?;
    engram::check_integer_range(s.as_bytes()).map_err(|e| format!("{what}: {}", e.message()))?;
    Ok(value)
}

pub fn graph_call(c: GraphCommand) -> Result<(String, Call), String> {
    Ok(match c {
        GraphCommand::Link { space, from, edge_type, to, weight, props } => {
            let props = props.map(|p| json_arg("--props", &p)).transpose()?;
            (space, Call::Link(EdgeInput { from: node(&from)?, to: node(&to)?, edge_type, weight, props }))
        }
        GraphCommand::Unlink { space, from, edge_type, to } => {
            (space, Call::Unlink(node(&from)?, edge_type, node(&to)?))
        }
        GraphCommand::Neighbors { space, from, depth, walk, limit } => {
            let req = NeighborsRequest {
                direction: direction(&walk.direction)?,
                types: walk.types,
                limit,
                ..NeighborsRequest::new(node(&from)?, depth)
            };
            (space, Call::Neighbors(req))
        }
        GraphCommand::Path { space, from, to, max_depth, walk, weighted } => {
            let req = PathRequest {
                max_depth,
                direction: direction(&walk.direction)?,
                types: walk.types,
                weighted,
                ..PathRequest::new(node(&from)?, node(&to)?)
            };
            (space, Call::Path(req))
        }
    })
}

pub fn fact_call(c: FactCommand) -> Result<(String, Call), String> {
    Ok(match c {
        FactCommand::Assert { space, fact } => (space, Call::Assert(json_arg("fact", &fact)?)),
        FactCommand::Query { space, query } => (space, Call::Facts(json_arg("query", &query)?)),
    })
}

pub fn stream_call(c: StreamCommand) -> Result<(String, Call), String> {
    Ok(match c {
        StreamCommand::Append { space, stream, events, expected_version, dedup_window_seconds } => {
            let events = events
                .iter()
                .map(|e| {
                    let (ty, data) = e.split_once('=').ok_or_else(|| format!("{e:?}: give an event as TYPE=JSON"))?;
                    Ok(EventInput::new(ty, json_arg(&format!("event {ty}"), data)?))
                })
                .collect::<Result<Vec<_>, String>>()?;
            let expected = match expected_version.as_str() {
                "any" => ExpectedVersion::Any,
                "no_stream" => ExpectedVersion::NoStream,
                "exists" => ExpectedVersion::Exists,
                n => ExpectedVersion::Exact(n.parse().map_err(|_| {
                    format!("--expected-version {n:?}: use any, no_stream, exists or a version number")
                })?),
            };
            let req = AppendRequest { events, expected_version: expected, dedup_window_seconds };
            (space, Call::Append(stream, req))
        }
        StreamCommand::Read { space, stream, from, backward, limit } => {
            let dir = if backward { ReadDirection::Backward } else { ReadDirection::Forward };
            (space, Call::Read(stream, from, dir, limit))
        }
    })
}

pub(crate) fn to_json<T: serde::Serialize>(r: engram::Result<T>) -> Result<Value, String> {
    r.map(|v| serde_json::to_value(v).expect("results serialize")).map_err(|e| e.to_string())
}

/// Makes the call on an engine in this process.
pub fn call_local(space: &Space, call: Call) -> Result<Value, String> {
    match call {
        Call::Link(e) => to_json(space.link(e)),
        Call::Unlink(f, t, to) => to_json(space.unlink(&f, &t, &to).map(|p| json!({"position": p}))),
        Call::Neighbors(r) => to_json(space.neighbors(&r)),
        Call::Path(r) => to_json(space.shortest_path(&r)),
        Call::Assert(f) => to_json(space.assert_fact(f)),
        Call::Facts(q) => to_json(space.facts(&q)),
        Call::Append(s, r) => to_json(space.append(&s, r)),
        Call::Read(s, from, dir, limit) => to_json(space.read_stream(&s, from, dir, limit)),
    }
}

/// The HTTP method, path under `/v1/spaces/{space}`, query and body of a call.
pub fn http_request(call: Call, enc: impl Fn(&str) -> String) -> (&'static str, String, Vec<(String, String)>, Value) {
    match call {
        Call::Link(e) => ("POST", "/graph/edges".into(), Vec::new(), body(&e)),
        Call::Unlink(f, t, to) => {
            ("DELETE", format!("/graph/edges/{}", engram::edge_id(&f, &t, &to)), Vec::new(), Value::Null)
        }
        Call::Neighbors(r) => ("POST", "/graph/neighbors".into(), Vec::new(), body(&r)),
        Call::Path(r) => ("POST", "/graph/path".into(), Vec::new(), body(&r)),
        Call::Assert(f) => ("POST", "/facts".into(), Vec::new(), body(&f)),
        Call::Facts(q) => ("POST", "/facts/query".into(), Vec::new(), body(&q)),
        Call::Append(s, r) => ("POST", format!("/streams/{}/events", enc(&s)), Vec::new(), body(&r)),
        Call::Read(s, from, dir, limit) => {
            let mut q = vec![("limit".to_owned(), limit.to_string())];
            if let Some(f) = from {
                q.push(("from_version".into(), f.to_string()));
            }
            if dir == ReadDirection::Backward {
                q.push(("direction".into(), "backward".into()));
            }
            ("GET", format!("/streams/{}/events", enc(&s)), q, Value::Null)
        }
    }
}

pub(crate) fn body<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("requests serialize")
}
