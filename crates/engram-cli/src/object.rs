//! `engram object …`: put, get, ls, rm and cp of objects. Bytes stream
//! between a file (or standard input and output) and the data directory's
//! object store (`objects/` in it, as `engram serve` keeps it by default),
//! or a server; never whole in memory.

use crate::client::{Client, Out, enc, reply};
use crate::progress::Progress;
use bytes::Bytes;
use clap::Subcommand;
use engram::{Engine, Expect, ListObjects, ObjectInfo};
use engram_objects::{Objects, PutOptions};
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Bytes read from a file (or standard input) at a time.
const CHUNK_BYTES: usize = 1024 * 1024;
/// User metadata travels in headers with this prefix.
const META_PREFIX: &str = "x-engram-meta-";

#[derive(Debug, Subcommand)]
pub enum ObjectCommand {
    /// Store a file (or standard input, with '-') under a key; prints the
    /// written version as JSON.
    Put {
        space: String,
        /// The object's key; may hold slashes (`reports/2026/q1.pdf`).
        #[arg(id = "object_key", value_name = "KEY")]
        key: String,
        /// The file to store, or '-' for standard input.
        file: String,
        /// Default: application/octet-stream.
        #[arg(long)]
        content_type: Option<String>,
        /// User metadata, `name=value` (repeatable; names of lowercase
        /// letters, digits, '-' and '_').
        #[arg(long = "meta", value_name = "NAME=VALUE")]
        meta: Vec<String>,
        /// Seconds until the object expires.
        #[arg(long)]
        ttl_seconds: Option<u64>,
        /// Only create: fail if the key holds an object.
        #[arg(long)]
        if_absent: bool,
    },
    /// Write an object's bytes to a file (or standard output, with '-');
    /// prints the object's metadata as JSON (nothing with '-').
    Get {
        space: String,
        /// (Named apart from the global --key, the API key.)
        #[arg(id = "object_key", value_name = "KEY")]
        key: String,
        /// Where the bytes go: a file, or '-' for standard output.
        #[arg(short, long, value_name = "FILE")]
        output: String,
        /// Only these bytes: `a-b` (inclusive), `a-` or `-n` (the last n).
        #[arg(long, value_name = "A-B", allow_hyphen_values = true)]
        range: Option<String>,
    },
    /// List objects by prefix, in key order.
    Ls {
        space: String,
        /// Only keys starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Fold keys holding this after the prefix into common prefixes (e.g. '/').
        #[arg(long)]
        delimiter: Option<String>,
        /// Resume after this key or common prefix (a page's `next_after`).
        #[arg(long)]
        after: Option<String>,
        /// Entries per page (1 to 1000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Delete an object.
    Rm {
        space: String,
        #[arg(id = "object_key", value_name = "KEY")]
        key: String,
    },
    /// Copy an object to another key (no bytes move: both refer to one copy).
    Cp { space: String, from: String, to: String },
}

/// Where bytes come from.
pub struct Input {
    reader: Box<dyn Read + Send>,
    /// Known for files, not for standard input.
    size: Option<u64>,
}

/// Where an object's bytes go.
#[derive(Debug, Clone)]
pub enum Output {
    Stdout,
    File(PathBuf),
}

/// One object call with its arguments parsed.
pub enum ObjectCall {
    Put(String, Input, PutOptions),
    Get(String, Option<String>, Output),
    List(ListObjects),
    Delete(String),
    Copy(String, String),
}

/// Runs an object command and prints its result (nothing after writing
/// the bytes to standard output).
pub fn run(c: &dyn Client, data_dir: &Path, command: ObjectCommand) -> Result<(), String> {
    let (space, call) = object_call(command)?;
    let quiet = matches!(call, ObjectCall::Get(_, _, Output::Stdout));
    let out = c.object(data_dir, &space, call)?;
    if !quiet {
        println!("{}", serde_json::to_string_pretty(&out).expect("JSON prints"));
    }
    Ok(())
}

/// The space and the call a command names.
pub fn object_call(c: ObjectCommand) -> Result<(String, ObjectCall), String> {
    use ObjectCommand as C;
    Ok(match c {
        C::Put { space, key, file, content_type, meta, ttl_seconds, if_absent } => {
            let metadata = meta
                .iter()
                .map(|m| {
                    m.split_once('=')
                        .map(|(n, v)| (n.to_owned(), v.to_owned()))
                        .ok_or_else(|| format!("--meta {m:?}: give name=value"))
                })
                .collect::<Result<BTreeMap<_, _>, String>>()?;
            let expect = if if_absent { Expect::Absent } else { Expect::Any };
            let opts = PutOptions { content_type, metadata, ttl_seconds, expect, if_digest: None };
            (space, ObjectCall::Put(key, open_input(&file)?, opts))
        }
        C::Get { space, key, output, range } => {
            if let Some(r) = &range {
                parse_range(r)?;
            }
            let output = if output == "-" { Output::Stdout } else { Output::File(PathBuf::from(output)) };
            (space, ObjectCall::Get(key, range, output))
        }
        C::Ls { space, prefix, delimiter, after, limit } => {
            (space, ObjectCall::List(ListObjects { prefix, delimiter, after, limit }))
        }
        C::Rm { space, key } => (space, ObjectCall::Delete(key)),
        C::Cp { space, from, to } => (space, ObjectCall::Copy(from, to)),
    })
}

fn open_input(file: &str) -> Result<Input, String> {
    if file == "-" {
        return Ok(Input { reader: Box::new(io::stdin()), size: None });
    }
    let f = File::open(file).map_err(|e| format!("opening {file}: {e}"))?;
    let size = f.metadata().map_err(|e| format!("reading {file}: {e}"))?.len();
    Ok(Input { reader: Box::new(f), size: Some(size) })
}

/// A byte range as given to `--range`: from, to (inclusive), or the last n.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeSpec {
    From(u64),
    FromTo(u64, u64),
    Last(u64),
}

fn parse_range(text: &str) -> Result<RangeSpec, String> {
    let bad = || format!("--range {text:?}: give a-b (inclusive), a- or -n");
    let (a, b) = text.trim().split_once('-').ok_or_else(bad)?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (false, true) => Ok(RangeSpec::From(num(a)?)),
        (false, false) if num(a)? <= num(b)? => Ok(RangeSpec::FromTo(num(a)?, num(b)?)),
        (true, false) => Ok(RangeSpec::Last(num(b)?)),
        _ => Err(bad()),
    }
}

/// The bytes of an object of `size` bytes a range names (as HTTP reads it).
fn resolve(spec: RangeSpec, size: u64) -> Result<Range<u64>, String> {
    let range = match spec {
        RangeSpec::From(a) => a..size,
        RangeSpec::FromTo(a, b) => a..b.saturating_add(1).min(size),
        RangeSpec::Last(n) => size.saturating_sub(n)..size,
    };
    if range.start >= size || range.start >= range.end {
        return Err(format!("the range is outside the object's {size} bytes (range-not-satisfiable)"));
    }
    Ok(range)
}

/// A file being written: deleted again unless the download completes.
struct Sink {
    path: Option<PathBuf>,
    out: Progress<Box<dyn Write>>,
    written: u64,
    done: bool,
}

impl Sink {
    /// Opens the output once the download has started (so a failed one
    /// leaves no file behind).
    fn open(output: &Output, size: u64) -> Result<Self, String> {
        let (path, out): (_, Box<dyn Write>) = match output {
            Output::Stdout => (None, Box::new(io::BufWriter::with_capacity(CHUNK_BYTES, io::stdout()))),
            Output::File(p) => {
                let f = File::create(p).map_err(|e| format!("creating {}: {e}", p.display()))?;
                (Some(p.clone()), Box::new(f))
            }
        };
        Ok(Self { path, out: Progress::new(out, "get", Some(size)), written: 0, done: false })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.out.write_all(bytes).map_err(|e| self.failed(&e))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Flushes (and syncs a file); returns the bytes written.
    fn finish(mut self) -> Result<u64, String> {
        self.out.flush().map_err(|e| self.failed(&e))?;
        if let Some(p) = &self.path {
            File::open(p).and_then(|f| f.sync_all()).map_err(|e| self.failed(&e))?;
        }
        self.done = true;
        Ok(self.written)
    }

    fn failed(&self, e: &io::Error) -> String {
        match &self.path {
            Some(p) => format!("writing {}: {e}", p.display()),
            None => format!("writing standard output: {e}"),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let (false, Some(p)) = (self.done, &self.path) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The metadata `get` prints: the object's, and the bytes written.
fn got(info: Value, written: u64, range: Option<Range<u64>>) -> Value {
    let mut out = info;
    out["written"] = json!(written);
    if let Some(r) = range {
        out["range"] = json!({ "start": r.start, "end": r.end });
    }
    out
}

fn json_of<T: serde::Serialize>(r: engram::Result<T>) -> Out {
    r.map(|v| serde_json::to_value(v).expect("results serialize")).map_err(|e| e.to_string())
}

/// An object call on the engine in this process, with the bytes in
/// `<data_dir>/objects` (the server's default store).
pub fn call_local(engine: &Engine, data_dir: &Path, space: &str, call: ObjectCall) -> Out {
    let space = engine.space(space).map_err(|e| e.to_string())?;
    let store = engram_objects::open_dir(&data_dir.join("objects")).map_err(|e| e.to_string())?;
    let objects = Objects::new(store, engram_objects::GRACE_DEFAULT);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    rt.block_on(async move {
        match call {
            ObjectCall::Put(key, input, opts) => {
                let reader = Box::new(Progress::new(input.reader, "put", input.size));
                json_of(objects.put(&space, &key, chunks(reader), opts).await)
            }
            ObjectCall::Get(key, range, output) => get_local(&objects, &space, &key, range, &output).await,
            ObjectCall::List(req) => json_of(objects.list(&space, req).await),
            ObjectCall::Delete(key) => json_of(objects.delete(&space, &key, Expect::Any, None).await),
            ObjectCall::Copy(from, to) => json_of(objects.copy(&space, &from, &to, Expect::Any).await),
        }
    })
}

async fn get_local(objects: &Objects, space: &engram::Space, key: &str, range: Option<String>, output: &Output) -> Out {
    let missing = || engram::Error::not_found(format!("object {key:?} does not exist")).to_string();
    let range = match range {
        None => None,
        Some(text) => {
            let info = objects.head(space, key).await.map_err(|e| e.to_string())?.ok_or_else(missing)?;
            Some(resolve(parse_range(&text)?, info.size)?)
        }
    };
    let asked = range.is_some();
    let mut d = objects.get(space, key, range).await.map_err(|e| e.to_string())?;
    let mut sink = Sink::open(output, d.range.end - d.range.start)?;
    while let Some(chunk) = d.body.next().await {
        sink.write(&chunk.map_err(|e| e.to_string())?)?;
    }
    let written = sink.finish()?;
    let info = serde_json::to_value(&d.info).expect("results serialize");
    Ok(got(info, written, asked.then_some(d.range)))
}

/// A reader as a stream of chunks, each read off the async workers.
fn chunks(reader: Box<dyn Read + Send>) -> impl Stream<Item = io::Result<Bytes>> + Unpin {
    Box::pin(futures_util::stream::unfold(Some(reader), |state| async move {
        let mut reader = state?;
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; CHUNK_BYTES];
            let n = read_full(&mut reader, &mut buf)?;
            buf.truncate(n);
            Ok::<_, io::Error>((reader, buf))
        })
        .await;
        match read {
            Err(e) => Some((Err(io::Error::other(e.to_string())), None)),
            Ok(Err(e)) => Some((Err(e), None)),
            Ok(Ok((_, buf))) if buf.is_empty() => None,
            Ok(Ok((reader, buf))) => Some((Ok(Bytes::from(buf)), Some(reader))),
        }
    }))
}

/// Reads until `buf` is full or the input ends.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// `/v1/spaces/{space}/objects/{key}`, each segment of the key encoded
/// and its slashes kept.
fn object_url(base: &str, space: &str, key: &str) -> String {
    let key = key.split('/').map(enc).collect::<Vec<_>>().join("/");
    format!("{base}/v1/spaces/{}/objects/{key}", enc(space))
}

/// An object call through a server.
pub fn call_remote(agent: &ureq::Agent, base: &str, space: &str, call: ObjectCall) -> Out {
    match call {
        ObjectCall::Put(key, input, opts) => {
            let mut req = agent.put(object_url(base, space, &key));
            if let Some(ct) = &opts.content_type {
                req = req.header("Content-Type", ct);
            }
            for (name, value) in &opts.metadata {
                req = req.header(format!("{META_PREFIX}{name}"), value);
            }
            if opts.expect == Expect::Absent {
                req = req.header("If-None-Match", "*");
            }
            if let Some(t) = opts.ttl_seconds {
                req = req.query("ttl_seconds", t.to_string());
            }
            let reader = Progress::new(input.reader, "put", input.size);
            reply(req.send(ureq::SendBody::from_owned_reader(reader))).map_err(|e| match e.contains("io:") {
                // A refusal (a wrong key, a full server) closes the
                // connection before the body is read: the reply is lost.
                true => format!("{e} (the server may have refused the upload; `engram object ls {space}` shows why)"),
                false => e,
            })
        }
        ObjectCall::Get(key, range, output) => get_remote(agent, base, space, &key, range, &output),
        ObjectCall::List(req) => {
            let mut r = agent
                .get(format!("{base}/v1/spaces/{}/objects", enc(space)))
                .query("prefix", &req.prefix)
                .query("limit", req.limit.to_string());
            if let Some(d) = &req.delimiter {
                r = r.query("delimiter", d);
            }
            if let Some(a) = &req.after {
                r = r.query("after", a);
            }
            reply(r.call())
        }
        ObjectCall::Delete(key) => reply(agent.delete(object_url(base, space, &key)).call()),
        ObjectCall::Copy(from, to) => {
            let url = format!("{base}/v1/spaces/{}/object-copy", enc(space));
            reply(agent.post(url).send_json(json!({ "from": from, "to": to })))
        }
    }
}

fn get_remote(agent: &ureq::Agent, base: &str, space: &str, key: &str, range: Option<String>, output: &Output) -> Out {
    let mut req = agent.get(object_url(base, space, key));
    if let Some(r) = &range {
        req = req.header("Range", format!("bytes={}", r.trim()));
    }
    let res = req.call().map_err(|e| format!("cannot reach the server: {e}"))?;
    if !res.status().is_success() {
        return reply(Ok(res));
    }
    let (parts, body) = res.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let length = header("content-length").and_then(|v| v.parse::<u64>().ok());
    // `bytes a-b/size` on a range.
    let served = header("content-range").and_then(|v| {
        let (span, total) = v.strip_prefix("bytes ")?.split_once('/')?;
        let (a, b) = span.split_once('-')?;
        Some((a.parse::<u64>().ok()?..b.parse::<u64>().ok()? + 1, total.parse::<u64>().ok()?))
    });
    let mut sink = Sink::open(output, length.unwrap_or(0))?;
    let mut reader = body.into_reader();
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        let n = read_full(&mut reader, &mut buf).map_err(|e| format!("reading the object from the server: {e}"))?;
        if n == 0 {
            break;
        }
        sink.write(&buf[..n])?;
    }
    let written = sink.finish()?;
    if length.is_some_and(|l| l != written) {
        return Err(format!("the server sent {written} of {} bytes", length.unwrap_or(0)));
    }
    let etag = header("etag").unwrap_or_default();
    let info = match described(agent, base, space, key)? {
        Some(info) if info.etag == etag => serde_json::to_value(info).expect("results serialize"),
        // Replaced meanwhile: what the response's headers tell.
        _ => {
            let metadata: BTreeMap<String, String> = parts
                .headers
                .iter()
                .filter_map(|(n, v)| {
                    Some((n.as_str().strip_prefix(META_PREFIX)?.to_owned(), v.to_str().ok()?.to_owned()))
                })
                .collect();
            json!({
                "key": key,
                "version": header("x-engram-version").and_then(|v| v.parse::<u64>().ok()),
                "size": served.as_ref().map(|(_, total)| *total).or(length),
                "digest": etag.trim_matches('"'),
                "etag": etag,
                "content_type": header("content-type"),
                "metadata": metadata,
            })
        }
    };
    Ok(got(info, written, served.map(|(r, _)| r)))
}

/// An object's metadata from a listing (the first key under a prefix is
/// the prefix itself when it exists).
fn described(agent: &ureq::Agent, base: &str, space: &str, key: &str) -> Result<Option<ObjectInfo>, String> {
    let url = format!("{base}/v1/spaces/{}/objects", enc(space));
    let page = reply(agent.get(url).query("prefix", key).query("limit", "1").call())?;
    let list: engram::ObjectList = serde_json::from_value(page).map_err(|e| format!("an unreadable listing: {e}"))?;
    Ok(list.objects.into_iter().find(|o| o.key == key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_as_http_reads_them() {
        assert_eq!(resolve(parse_range("0-9").expect("a-b"), 100), Ok(0..10));
        assert_eq!(resolve(parse_range("90-").expect("a-"), 100), Ok(90..100));
        assert_eq!(resolve(parse_range("-5").expect("-n"), 100), Ok(95..100));
        assert_eq!(resolve(parse_range("50-500").expect("a-b"), 100), Ok(50..100));
        assert!(resolve(parse_range("100-").expect("a-"), 100).is_err());
        assert!(parse_range("9-1").is_err());
        assert!(parse_range("x").is_err());
        assert!(parse_range("-").is_err());
    }

    #[test]
    fn keys_keep_their_slashes_in_urls() {
        assert_eq!(
            object_url("http://h", "acme", "a b/c?d/e.txt"),
            "http://h/v1/spaces/acme/objects/a%20b/c%3Fd/e.txt"
        );
    }
}
