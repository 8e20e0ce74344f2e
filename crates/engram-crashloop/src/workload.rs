//! The workload: concurrent writers, each on its own documents plus the
//! shared hot pairs, sending single puts (create-only and `If-Match`
//! updates), merge patches, deletes, transactions over two or three
//! collections (some refused on purpose, some competing), and idempotent
//! requests (some sent twice at once, some again cycles later), until the
//! server dies under them.
//!
//! A writer knows the exact state of every document it owns, so it predicts
//! each response (versions) and each resulting body; a write is recorded
//! as acknowledged only once its 2xx response was read in full.

use crate::http::{Outcome, Request, agent, send};
use crate::ledger::{
    DOCS, DOCS_PER_WRITER, Doc, HOT_PAIRS, IdemRecord, Key, LogAck, OpKind, PAIRS_PER_WRITER, Planned, PlannedOp,
    SPACE, State, TX_A, TX_B, Unknown, VECTOR_DIMS, doc_id, hot_id, pair_id,
};
use rand::distr::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long one request may take before its outcome counts as unknown.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Share of single writes and pair transactions sent with an idempotency key.
const IDEMPOTENT_SHARE: f64 = 0.15;
/// Share of idempotent requests sent twice in a row.
const REPEAT_SHARE: f64 = 0.3;
/// Share of pair transactions given an operation that must fail.
const REFUSED_SHARE: f64 = 0.15;
/// Longest random padding of a body.
const PAD_MAX: usize = 160;
/// Distinct values of the indexed field `k`.
const K_VALUES: u64 = 8;

/// What a writer starts a cycle with.
#[derive(Debug)]
pub struct WriterInput {
    pub base: String,
    pub cycle: usize,
    pub writer: usize,
    pub seed: u64,
    /// The writer's documents and their acknowledged (verified) states.
    pub state: BTreeMap<Key, State>,
    /// Its idempotent requests of unknown outcome from the last cycle.
    pub retries: Vec<Unknown>,
    /// Its acknowledged idempotent requests to send again.
    pub replays: Vec<IdemRecord>,
    pub stop: Arc<AtomicBool>,
}

/// What a writer saw in one cycle.
#[derive(Debug, Default)]
pub struct WriterReport {
    pub writer: usize,
    /// Its documents' states after its acknowledged writes.
    pub state: BTreeMap<Key, State>,
    pub acknowledged: u64,
    pub transactions: u64,
    /// Hot-pair transactions refused because another writer got there first.
    pub conflicts: u64,
    /// Transactions refused as planned (an operation's precondition false).
    pub refused: u64,
    /// Hot documents' acknowledged states.
    pub hot: Vec<(Key, Doc)>,
    pub log: Vec<LogAck>,
    /// The request the server died under, if any.
    pub unknown: Option<Unknown>,
    pub idempotent: Vec<IdemRecord>,
    /// Idempotent requests correctly answered as replays.
    pub replays: u64,
    /// Idempotency failures: a request acknowledged before was not replayed.
    pub lost: Vec<String>,
    /// Responses that must never happen.
    pub anomalies: Vec<String>,
}

/// How an operation's precondition is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pre {
    Any,
    Absent,
    Version(u64),
}

impl Pre {
    fn json(self) -> Value {
        match self {
            Self::Any => json!("any"),
            Self::Absent => json!("absent"),
            Self::Version(v) => json!({ "version": v }),
        }
    }
}

/// One document operation, renderable as a single request or as one
/// operation of a transaction.
#[derive(Debug, Clone)]
struct DocOp {
    op: PlannedOp,
    pre: Pre,
    /// The put's body or the patch.
    payload: Option<Value>,
}

impl DocOp {
    fn tx_json(&self) -> Value {
        let (coll, id) = &self.op.key;
        let mut o = json!({"collection": coll, "id": id, "expect": self.pre.json()});
        match self.op.kind {
            OpKind::Put => {
                o["op"] = json!("put");
                o["body"] = self.payload.clone().unwrap_or_default();
            }
            OpKind::Patch => {
                o["op"] = json!("patch");
                o["patch"] = self.payload.clone().unwrap_or_default();
            }
            OpKind::Delete => o["op"] = json!("delete"),
        }
        o
    }

    fn single_request(&self) -> Request {
        let (coll, id) = &self.op.key;
        let path = doc_path(coll, id);
        let method = match self.op.kind {
            OpKind::Put => "PUT",
            OpKind::Patch => "PATCH",
            OpKind::Delete => "DELETE",
        };
        let req = Request::new(method, path, self.payload.clone());
        match self.pre {
            Pre::Any => req,
            Pre::Absent => req.with("If-None-Match", "*"),
            Pre::Version(v) => req.with("If-Match", &format!("\"{v}\"")),
        }
    }
}

fn doc_path(coll: &str, id: &str) -> String {
    format!("/v1/spaces/{SPACE}/collections/{coll}/docs/{id}")
}

fn tx_path() -> String {
    format!("/v1/spaces/{SPACE}/transactions")
}

/// RFC 7386 merge patch, written independently of the engine's so that the
/// server's result is checked against a second implementation.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else { return patch.clone() };
    let mut out = match target {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    for (k, v) in p {
        if v.is_null() {
            out.remove(k);
        } else {
            let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), v);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

/// Runs one writer until `stop` is set or the server stops answering.
pub fn run_writer(input: WriterInput) -> WriterReport {
    let mut w = Writer::new(input);
    if w.retry_unknown() && w.replay_old() {
        while !w.stop.load(Ordering::SeqCst) && w.step() {}
    }
    w.report.state = std::mem::take(&mut w.state);
    w.report
}

struct Writer {
    base: String,
    cycle: usize,
    w: usize,
    rng: StdRng,
    agent: ureq::Agent,
    state: BTreeMap<Key, State>,
    retries: Vec<Unknown>,
    replays: Vec<IdemRecord>,
    stop: Arc<AtomicBool>,
    seq: u64,
    report: WriterReport,
}

impl Writer {
    fn new(i: WriterInput) -> Self {
        Self {
            base: i.base,
            cycle: i.cycle,
            w: i.writer,
            rng: StdRng::seed_from_u64(i.seed),
            agent: agent(REQUEST_TIMEOUT),
            state: i.state,
            retries: i.retries,
            replays: i.replays,
            stop: i.stop,
            seq: 0,
            report: WriterReport { writer: i.writer, ..WriterReport::default() },
        }
    }

    fn label(&mut self) -> String {
        self.seq += 1;
        format!("c{}-w{:03}-{}", self.cycle, self.w, self.seq)
    }

    fn current(&self, key: &Key) -> State {
        self.state.get(key).cloned().flatten()
    }

    // ----- the steps -----------------------------------------------------

    /// One random request; false once the server stops answering.
    fn step(&mut self) -> bool {
        let roll = self.rng.random_range(0..100);
        if roll < 15 {
            return self.hot_transaction();
        }
        let label = self.label();
        let mut p = if roll < 60 { self.single(label) } else { self.pair_transaction(label) };
        if self.rng.random_bool(IDEMPOTENT_SHARE) {
            p.request = p.request.with("Idempotency-Key", &p.label);
        }
        self.execute(p)
    }

    /// A put, patch or delete of one of the writer's documents.
    fn single(&mut self, label: String) -> Planned {
        let key = (DOCS.to_owned(), doc_id(self.w, self.rng.random_range(0..DOCS_PER_WRITER)));
        let op = self.doc_op(key, &label);
        let request = op.single_request();
        Planned { label, request, ops: vec![op.op], refusal: false, contended: false, transaction: false }
    }

    /// A random operation on `key` valid in its current state.
    fn doc_op(&mut self, key: Key, label: &str) -> DocOp {
        let before = self.current(&key);
        let conditional = self.rng.random_bool(0.7);
        let Some(d) = before.clone() else {
            let pre = if conditional { Pre::Absent } else { Pre::Any };
            let body = self.body(label);
            return put_op(key, before, body, pre);
        };
        let pre = if conditional { Pre::Version(d.version) } else { Pre::Any };
        match self.rng.random_range(0..100) {
            0..45 => {
                let body = self.body(label);
                put_op(key, before, body, pre)
            }
            45..80 => {
                let patch = self.patch(label);
                patch_op(key, d, patch, pre)
            }
            _ => delete_op(key, d, pre),
        }
    }

    /// A transaction over both sides of one of the writer's pairs, maybe
    /// with one of its documents, maybe with an operation bound to fail.
    fn pair_transaction(&mut self, label: String) -> Planned {
        let id = pair_id(self.w, self.rng.random_range(0..PAIRS_PER_WRITER));
        let (ka, kb) = ((TX_A.to_owned(), id.clone()), (TX_B.to_owned(), id));
        let mut ops = self.pair_ops(ka, kb, &label);
        if self.rng.random_bool(0.35) {
            let key = (DOCS.to_owned(), doc_id(self.w, self.rng.random_range(0..DOCS_PER_WRITER)));
            ops.push(self.doc_op(key, &label));
        }
        let refusal = self.rng.random_bool(REFUSED_SHARE);
        if refusal {
            ops.push(self.doomed_op(&label));
        }
        let body = json!({"ops": ops.iter().map(DocOp::tx_json).collect::<Vec<_>>()});
        let request = Request::new("POST", tx_path(), Some(body));
        Planned {
            label,
            request,
            ops: ops.into_iter().map(|o| o.op).collect(),
            refusal,
            contended: false,
            transaction: true,
        }
    }

    /// The operations on a pair's two sides: the same kind on both, the
    /// same tag `tx` in both bodies.
    fn pair_ops(&mut self, ka: Key, kb: Key, label: &str) -> Vec<DocOp> {
        let (a, b) = (self.current(&ka), self.current(&kb));
        let (Some(da), Some(db)) = (a.clone(), b.clone()) else {
            // Both absent (or, after a bug, one side only: then overwrite).
            let pre = if a.is_none() && b.is_none() && self.rng.random_bool(0.7) { Pre::Absent } else { Pre::Any };
            let (ba, bb) = (self.pair_body(label, "a"), self.pair_body(label, "b"));
            return vec![put_op(ka, a, ba, pre), put_op(kb, b, bb, pre)];
        };
        let (pa, pb) = if self.rng.random_bool(0.7) {
            (Pre::Version(da.version), Pre::Version(db.version))
        } else {
            (Pre::Any, Pre::Any)
        };
        match self.rng.random_range(0..100) {
            0..50 => {
                let (ba, bb) = (self.pair_body(label, "a"), self.pair_body(label, "b"));
                vec![put_op(ka, a, ba, pa), put_op(kb, b, bb, pb)]
            }
            50..80 => {
                let patch = json!({"tx": label, "n": self.rng.random_range(0..1000), "extra": self.maybe(label)});
                vec![patch_op(ka, da, patch.clone(), pa), patch_op(kb, db, patch, pb)]
            }
            _ => vec![delete_op(ka, da, pa), delete_op(kb, db, pb)],
        }
    }

    /// A put whose precondition is false whatever the transaction did
    /// before it: the whole transaction must be refused.
    fn doomed_op(&mut self, label: &str) -> DocOp {
        let key = (DOCS.to_owned(), doc_id(self.w, self.rng.random_range(0..DOCS_PER_WRITER)));
        let before = self.current(&key);
        let wrong = before.as_ref().map_or(0, |d| d.version) + 1_000;
        let body = self.body(label);
        let mut op = put_op(key, before.clone(), body, Pre::Version(wrong));
        op.op.after = before;
        op.op.effective = false;
        op
    }

    /// A transaction on a hot pair, competing with the other writers:
    /// read its version, then write both sides expecting that version.
    fn hot_transaction(&mut self) -> bool {
        let id = hot_id(self.rng.random_range(0..HOT_PAIRS));
        let (ka, kb) = ((TX_A.to_owned(), id.clone()), (TX_B.to_owned(), id));
        let Some(before) = self.read(&ka) else { return false };
        let label = self.label();
        let pre = before.as_ref().map_or(Pre::Absent, |d| Pre::Version(d.version));
        let (ba, bb) = (self.pair_body(&label, "a"), self.pair_body(&label, "b"));
        let mut ops = vec![hot_op(ka, before.clone(), ba, pre), hot_op(kb, before, bb, pre)];
        if self.rng.random_bool(0.5) {
            let key = (DOCS.to_owned(), doc_id(self.w, self.rng.random_range(0..DOCS_PER_WRITER)));
            ops.push(self.doc_op(key, &label));
        }
        let body = json!({"ops": ops.iter().map(DocOp::tx_json).collect::<Vec<_>>()});
        let request = Request::new("POST", tx_path(), Some(body));
        let ops = ops.into_iter().map(|o| o.op).collect();
        self.execute(Planned { label, request, ops, refusal: false, contended: true, transaction: true })
    }

    // ----- bodies ------------------------------------------------------

    fn body(&mut self, label: &str) -> Value {
        let nested = json!({"a": self.rng.random_range(0..5), "b": [self.rng.random_range(0..100), label]});
        let vec = self.vector();
        json!({"k": self.rng.random_range(0..K_VALUES), "w": self.w, "seq": label, "pad": self.pad(), "nested": nested, "vec": vec})
    }

    /// A document vector for the search index (never all zeros).
    fn vector(&mut self) -> Vec<f32> {
        (0..VECTOR_DIMS).map(|_| self.rng.random_range(0.1f32..1.0)).collect()
    }

    fn pair_body(&mut self, label: &str, side: &str) -> Value {
        json!({"tx": label, "side": side, "w": self.w, "n": self.rng.random_range(0..1000), "pad": self.pad()})
    }

    /// A merge patch of a document body: changes `k` (or removes it),
    /// nested fields, and sometimes drops the padding.
    fn patch(&mut self, label: &str) -> Value {
        let mut p = Map::new();
        let k = if self.rng.random_bool(0.1) { Value::Null } else { json!(self.rng.random_range(0..K_VALUES)) };
        p.insert("k".into(), k);
        p.insert("seq".into(), json!(label));
        p.insert("nested".into(), json!({"a": self.rng.random_range(0..5), "c": self.maybe(label)}));
        if self.rng.random_bool(0.3) {
            p.insert("pad".into(), Value::Null);
        }
        if self.rng.random_bool(0.3) {
            let vec = if self.rng.random_bool(0.2) { Value::Null } else { json!(self.vector()) };
            p.insert("vec".into(), vec);
        }
        Value::Object(p)
    }

    /// `label` or null (a merge patch's null removes the field).
    fn maybe(&mut self, label: &str) -> Value {
        if self.rng.random_bool(0.5) { json!(label) } else { Value::Null }
    }

    fn pad(&mut self) -> String {
        let n = self.rng.random_range(0..PAD_MAX);
        (&mut self.rng).sample_iter(Alphanumeric).take(n).map(char::from).collect()
    }

    // ----- sending -------------------------------------------------------

    /// Sends a planned request and records what came of it; false once the
    /// server stops answering.
    fn execute(&mut self, p: Planned) -> bool {
        match send(&self.agent, &self.base, &p.request) {
            Outcome::Acked(_, body) => self.acked(&p, &body),
            Outcome::Refused(409, _) if p.refusal => {
                self.report.refused += 1;
                true
            }
            Outcome::Refused(409, _) if p.contended => {
                self.report.conflicts += 1;
                true
            }
            other => {
                if let Outcome::Unknown(_) = other {
                    self.report.unknown = Some(Unknown { writer: self.w, planned: p, applied: None });
                    return false;
                }
                self.report.anomalies.push(format!("{}: refused: {}", p.label, other.describe()));
                self.resync(&p.ops)
            }
        }
    }

    /// Records an acknowledged request after checking its response.
    fn acked(&mut self, p: &Planned, body: &Value) -> bool {
        let results = results_of(body, p.transaction);
        let predicted: Vec<u64> = p.ops.iter().map(|o| o.after.as_ref().map_or(0, |d| d.version)).collect();
        let versions: Option<Vec<u64>> = results.as_ref().map(|r| r.iter().map(|x| x.0).collect());
        if p.refusal || body["replayed"] == true || versions.as_ref() != Some(&predicted) {
            let why =
                if p.refusal { "committed although an operation's precondition is false" } else { "unexpected result" };
            self.report.anomalies.push(format!("{}: {why}: predicted versions {predicted:?}, got {body}", p.label));
            return self.resync(&p.ops);
        }
        let results = results.unwrap_or_default();
        for (op, &(_, position)) in p.ops.iter().zip(&results) {
            self.apply(op, position, &p.label);
        }
        self.report.acknowledged += 1;
        self.report.transactions += u64::from(p.transaction);
        if !p.idempotent() {
            return true;
        }
        let rec = IdemRecord { writer: self.w, label: p.label.clone(), request: p.request.clone(), results };
        self.report.idempotent.push(rec.clone());
        !self.rng.random_bool(REPEAT_SHARE) || self.replay(&rec, "sent twice in a row")
    }

    /// Takes an acknowledged operation's effect into the writer's state.
    fn apply(&mut self, op: &PlannedOp, position: u64, label: &str) {
        if op.hot {
            if let Some(d) = &op.after {
                self.report.hot.push((op.key.clone(), d.clone()));
            }
        } else {
            self.state.insert(op.key.clone(), op.after.clone());
        }
        let ack =
            LogAck { position, key: op.key.clone(), kind: op.kind, after: op.after.clone(), label: label.to_owned() };
        self.report.log.push(ack);
    }

    /// Re-sends an acknowledged idempotent request: the answer must be the
    /// first result, marked as a replay. False once the server is gone.
    fn replay(&mut self, rec: &IdemRecord, when: &str) -> bool {
        let out = send(&self.agent, &self.base, &rec.request);
        let Outcome::Acked(_, body) = &out else {
            if let Outcome::Unknown(_) = out {
                return false;
            }
            self.report.lost.push(format!("idempotent {} ({when}) was refused: {}", rec.label, out.describe()));
            return true;
        };
        let tx = rec.request.path.ends_with("/transactions");
        if body["replayed"] == true && results_of(body, tx).as_ref() == Some(&rec.results) {
            self.report.replays += 1;
        } else {
            self.report.lost.push(format!(
                "idempotent {} ({when}) was not replayed as first answered {:?}: {body}",
                rec.label, rec.results
            ));
        }
        true
    }

    /// Sends the acknowledged idempotent requests handed to this writer.
    fn replay_old(&mut self) -> bool {
        let replays = std::mem::take(&mut self.replays);
        replays.iter().all(|rec| self.replay(rec, "sent again cycles later"))
    }

    /// Sends again last cycle's idempotent requests of unknown outcome:
    /// applied ones must be replayed, the others applied now.
    fn retry_unknown(&mut self) -> bool {
        for u in std::mem::take(&mut self.retries) {
            let alive = match u.applied {
                Some(true) => self.retry_applied(&u.planned),
                Some(false) => self.execute(u.planned),
                None => true,
            };
            if !alive {
                return false;
            }
        }
        true
    }

    fn retry_applied(&mut self, p: &Planned) -> bool {
        let predicted: Vec<u64> = p.ops.iter().map(|o| o.after.as_ref().map_or(0, |d| d.version)).collect();
        let out = send(&self.agent, &self.base, &p.request);
        match &out {
            Outcome::Acked(_, body) if body["replayed"] == true => {
                let got: Option<Vec<u64>> = results_of(body, p.transaction).map(|r| r.iter().map(|x| x.0).collect());
                if got.as_ref() == Some(&predicted) {
                    self.report.replays += 1;
                } else {
                    self.report.lost.push(format!(
                        "{}: applied before the kill, replayed as {body}, predicted {predicted:?}",
                        p.label
                    ));
                }
                true
            }
            Outcome::Unknown(_) => false,
            _ => {
                self.report.lost.push(format!(
                    "{}: applied before the kill, but its idempotency key was forgotten: {}",
                    p.label,
                    out.describe()
                ));
                self.resync(&p.ops)
            }
        }
    }

    /// Reads a document; None when the server does not answer.
    fn read(&mut self, key: &Key) -> Option<State> {
        let req = Request::new("GET", doc_path(&key.0, &key.1), None);
        match send(&self.agent, &self.base, &req) {
            Outcome::Acked(_, d) => {
                Some(Some(Doc { version: d["version"].as_u64().unwrap_or(0), body: d["body"].clone() }))
            }
            Outcome::Refused(404, _) => Some(None),
            Outcome::Refused(s, t) => {
                self.report.anomalies.push(format!("GET {}/{}: {s} {t}", key.0, key.1));
                None
            }
            Outcome::Unknown(_) => None,
        }
    }

    /// After a response that contradicts the writer's knowledge, learns the
    /// server's state of the writer's documents involved (the anomaly is
    /// already reported). False when the server does not answer.
    fn resync(&mut self, ops: &[PlannedOp]) -> bool {
        for op in ops.iter().filter(|o| !o.hot) {
            let Some(s) = self.read(&op.key) else { return false };
            self.state.insert(op.key.clone(), s);
        }
        true
    }
}

fn put_op(key: Key, before: State, body: Value, pre: Pre) -> DocOp {
    let version = before.as_ref().map_or(1, |d| d.version + 1);
    let after = Some(Doc { version, body: body.clone() });
    let op = PlannedOp { key, kind: OpKind::Put, before, after, hot: false, effective: true };
    DocOp { op, pre, payload: Some(body) }
}

fn hot_op(key: Key, before: State, body: Value, pre: Pre) -> DocOp {
    let mut op = put_op(key, before, body, pre);
    op.op.hot = true;
    op
}

fn patch_op(key: Key, before: Doc, patch: Value, pre: Pre) -> DocOp {
    let after = Some(Doc { version: before.version + 1, body: merge_patch(&before.body, &patch) });
    let op = PlannedOp { key, kind: OpKind::Patch, before: Some(before), after, hot: false, effective: true };
    DocOp { op, pre, payload: Some(patch) }
}

fn delete_op(key: Key, before: Doc, pre: Pre) -> DocOp {
    let op = PlannedOp { key, kind: OpKind::Delete, before: Some(before), after: None, hot: false, effective: true };
    DocOp { op, pre, payload: None }
}

/// (version, position) of each operation of a write's response.
fn results_of(body: &Value, transaction: bool) -> Option<Vec<(u64, u64)>> {
    let one = |r: &Value| Some((r["version"].as_u64()?, r["position"].as_u64()?));
    if transaction { body["results"].as_array()?.iter().map(one).collect() } else { one(body).map(|r| vec![r]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let target = json!({"a": "b", "c": {"d": "e", "f": "g"}, "k": 1});
        let patch = json!({"a": "z", "c": {"f": null}, "k": null, "n": [1]});
        assert_eq!(merge_patch(&target, &patch), json!({"a": "z", "c": {"d": "e"}, "n": [1]}));
        assert_eq!(merge_patch(&json!({"a": 1}), &json!({"a": {"b": null}})), json!({"a": {}}));
    }

    #[test]
    fn results_are_read_from_single_and_transaction_responses() {
        assert_eq!(results_of(&json!({"version": 2, "position": 9}), false), Some(vec![(2, 9)]));
        let tx = json!({"results": [{"version": 1, "position": 3}, {"version": 0, "position": 4}], "position": 4});
        assert_eq!(results_of(&tx, true), Some(vec![(1, 3), (0, 4)]));
        assert_eq!(results_of(&json!({"results": [{"version": 1}]}), true), None);
    }

    #[test]
    fn transaction_ops_render_preconditions() {
        let op = delete_op((DOCS.into(), "x".into()), Doc { version: 3, body: json!({}) }, Pre::Version(3));
        assert_eq!(op.tx_json(), json!({"op": "delete", "collection": DOCS, "id": "x", "expect": {"version": 3}}));
        let single = op.single_request();
        assert_eq!(
            (single.method, single.headers.clone()),
            ("DELETE", vec![("If-Match".to_owned(), "\"3\"".to_owned())])
        );
    }
}
