//! Durability under SIGKILL: every write acknowledged to a client is present
//! after `engram serve` is killed with SIGKILL mid-load and restarted —
//! many concurrent writers (single puts, conditional updates, multi-op
//! transactions, idempotent writes), repeatedly, on one data directory.

mod common;

use common::{ServerProcess, agent};
use rand::distr::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SPACE: &str = "durable";
const CYCLES: usize = 5;
const WRITERS: usize = 16;
/// Kill the server this long (ms) after the writers start: uniformly in range.
const KILL_AFTER_MS: std::ops::RangeInclusive<u64> = 50..=400;
/// Collections written: single documents, the two sides of transactions,
/// and idempotent writes.
const DOCS: &str = "docs";
const TX_A: &str = "tx_a";
const TX_B: &str = "tx_b";
const IDEM: &str = "idem";
/// Acknowledged idempotent writes re-sent after each restart.
const IDEM_REPLAYS_PER_CHECK: usize = 20;

/// A write the server acknowledged with a 2xx response.
#[derive(Debug, Clone)]
struct Acked {
    coll: String,
    id: String,
    version: u64,
    body: Value,
}

/// An acknowledged idempotent write, to be re-sent after restarts.
#[derive(Debug, Clone)]
struct IdemWrite {
    key: String,
    id: String,
    body: Value,
    version: u64,
}

/// What one writer saw in one cycle.
#[derive(Debug, Default)]
struct WriterReport {
    acked: Vec<Acked>,
    acked_txs: Vec<Vec<Acked>>,
    /// Documents of transactions whose response never arrived.
    unknown_txs: Vec<Vec<(String, String)>>,
    idem: Vec<IdemWrite>,
    /// Responses that should never happen (non-2xx, wrong versions).
    unexpected: Vec<String>,
    unknown_writes: usize,
}

/// Everything acknowledged so far, across cycles.
#[derive(Debug, Default)]
struct Ledger {
    /// Latest acknowledged state of each document.
    latest: HashMap<(String, String), Acked>,
    acked_writes: usize,
    acked_txs: Vec<Vec<Acked>>,
    unknown_txs: Vec<Vec<(String, String)>>,
    idem: Vec<IdemWrite>,
    unknown_writes: usize,
}

impl Ledger {
    fn record(&mut self, a: Acked) {
        self.acked_writes += 1;
        let key = (a.coll.clone(), a.id.clone());
        match self.latest.get(&key) {
            Some(old) if old.version >= a.version => {}
            _ => {
                self.latest.insert(key, a);
            }
        }
    }

    fn absorb(&mut self, r: WriterReport) {
        r.acked.into_iter().for_each(|a| self.record(a));
        for tx in r.acked_txs {
            tx.iter().cloned().for_each(|a| self.record(a));
            self.acked_txs.push(tx);
        }
        self.unknown_txs.extend(r.unknown_txs);
        self.idem.extend(r.idem);
        self.unknown_writes += r.unknown_writes;
    }
}

/// The outcome of one request.
enum Outcome {
    /// A 2xx response, fully read.
    Acked(u16, Value),
    /// Any other complete response.
    Refused(u16, String),
    /// No complete response: the write may or may not have happened.
    Unknown,
}

fn send(agent: &ureq::Agent, method: &str, url: &str, headers: &[(&str, &str)], body: &Value) -> Outcome {
    let mut b = ureq::http::Request::builder().method(method).uri(url).header("content-type", "application/json");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(serde_json::to_vec(body).expect("bodies serialize")).expect("valid request");
    let Ok(mut res) = agent.run(req) else { return Outcome::Unknown };
    let status = res.status().as_u16();
    let Ok(text) = res.body_mut().read_to_string() else { return Outcome::Unknown };
    if (200..300).contains(&status) {
        match serde_json::from_str(&text) {
            Ok(v) => Outcome::Acked(status, v),
            Err(_) => Outcome::Refused(status, text),
        }
    } else {
        Outcome::Refused(status, text)
    }
}

fn pad(rng: &mut StdRng) -> String {
    let n = rng.random_range(0..200);
    rng.sample_iter(Alphanumeric).take(n).map(char::from).collect()
}

/// Writes as fast as it can until the server dies or `stop` is set.
fn writer(base: String, cycle: usize, w: usize, seed: u64, stop: Arc<AtomicBool>) -> WriterReport {
    let agent = agent(Duration::from_secs(30));
    let mut rng = StdRng::seed_from_u64(seed);
    let mut report = WriterReport::default();
    let mut own: Vec<(String, u64)> = Vec::new(); // documents in DOCS this writer wrote this cycle
    let doc_url = |coll: &str, id: &str| format!("{base}/v1/spaces/{SPACE}/collections/{coll}/docs/{id}");
    let mut seq = 0u64;
    while !stop.load(Ordering::SeqCst) {
        seq += 1;
        let id = format!("c{cycle}-w{w:02}-{seq:06}");
        let body = json!({"cycle": cycle, "writer": w, "seq": seq, "pad": pad(&mut rng)});
        let roll = rng.random_range(0..100);
        if roll < 50 || own.is_empty() {
            // A new document.
            match send(&agent, "PUT", &doc_url(DOCS, &id), &[], &body) {
                Outcome::Acked(_, r) => {
                    let version = r["version"].as_u64().unwrap_or(0);
                    if version != 1 {
                        report.unexpected.push(format!("new document {id} acknowledged at version {version}: {r}"));
                    }
                    own.push((id.clone(), version));
                    report.acked.push(Acked { coll: DOCS.into(), id, version, body });
                }
                Outcome::Refused(s, t) => report.unexpected.push(format!("PUT {id}: {s} {t}")),
                Outcome::Unknown => {
                    report.unknown_writes += 1;
                    break;
                }
            }
        } else if roll < 70 {
            // A conditional update of one of this writer's documents.
            let i = rng.random_range(0..own.len());
            let (doc, version) = own[i].clone();
            let etag = format!("\"{version}\"");
            match send(&agent, "PUT", &doc_url(DOCS, &doc), &[("If-Match", &etag)], &body) {
                Outcome::Acked(_, r) => {
                    let got = r["version"].as_u64().unwrap_or(0);
                    if got != version + 1 {
                        report.unexpected.push(format!("update of {doc} at {version} acknowledged at version {got}"));
                    }
                    own[i].1 = got;
                    report.acked.push(Acked { coll: DOCS.into(), id: doc, version: got, body });
                }
                Outcome::Refused(s, t) => report.unexpected.push(format!("update of {doc}: {s} {t}")),
                Outcome::Unknown => {
                    report.unknown_writes += 1;
                    break;
                }
            }
        } else if roll < 85 {
            // A transaction across three collections.
            let docs = [(TX_A, id.clone()), (TX_B, id.clone()), (DOCS, format!("{id}-t"))];
            let ops: Vec<Value> = docs
                .iter()
                .enumerate()
                .map(|(k, (c, d))| json!({"op": "put", "collection": c, "id": d, "body": {"tx": id, "part": k, "body": body}}))
                .collect();
            let url = format!("{base}/v1/spaces/{SPACE}/transactions");
            match send(&agent, "POST", &url, &[], &json!({ "ops": ops })) {
                Outcome::Acked(_, r) => {
                    let results = r["results"].as_array().cloned().unwrap_or_default();
                    if results.len() != docs.len() {
                        report.unexpected.push(format!("transaction {id}: {} results: {r}", results.len()));
                    }
                    let acked = docs
                        .iter()
                        .zip(&ops)
                        .zip(&results)
                        .map(|(((c, d), op), res)| Acked {
                            coll: (*c).into(),
                            id: d.clone(),
                            version: res["version"].as_u64().unwrap_or(0),
                            body: op["body"].clone(),
                        })
                        .collect();
                    report.acked_txs.push(acked);
                }
                Outcome::Refused(s, t) => report.unexpected.push(format!("transaction {id}: {s} {t}")),
                Outcome::Unknown => {
                    report.unknown_writes += 1;
                    report.unknown_txs.push(docs.iter().map(|(c, d)| ((*c).to_owned(), d.clone())).collect());
                    break;
                }
            }
        } else {
            // An idempotent write, sometimes retried at once.
            let key = format!("key-{id}");
            let headers = [("Idempotency-Key", key.as_str())];
            match send(&agent, "PUT", &doc_url(IDEM, &id), &headers, &body) {
                Outcome::Acked(_, r) => {
                    let version = r["version"].as_u64().unwrap_or(0);
                    report.acked.push(Acked { coll: IDEM.into(), id: id.clone(), version, body: body.clone() });
                    report.idem.push(IdemWrite { key: key.clone(), id: id.clone(), body: body.clone(), version });
                    if rng.random_bool(0.3) {
                        match send(&agent, "PUT", &doc_url(IDEM, &id), &headers, &body) {
                            Outcome::Acked(_, again) => {
                                if again["replayed"] != true || again["version"].as_u64() != Some(version) {
                                    report.unexpected.push(format!("idempotent retry of {id}: {again}"));
                                }
                            }
                            Outcome::Refused(s, t) => {
                                report.unexpected.push(format!("idempotent retry of {id}: {s} {t}"))
                            }
                            Outcome::Unknown => break,
                        }
                    }
                }
                Outcome::Refused(s, t) => report.unexpected.push(format!("idempotent PUT {id}: {s} {t}")),
                Outcome::Unknown => {
                    report.unknown_writes += 1;
                    break;
                }
            }
        }
    }
    report
}

/// Every live document of a collection: id → (version, body).
fn read_collection(agent: &ureq::Agent, base: &str, coll: &str) -> HashMap<String, (u64, Value)> {
    let mut out = HashMap::new();
    let mut q = json!({"limit": 1000});
    let url = format!("{base}/v1/spaces/{SPACE}/collections/{coll}/query");
    for _ in 0..100_000 {
        let page = match send(agent, "POST", &url, &[], &q) {
            Outcome::Acked(_, page) => page,
            Outcome::Refused(404, _) => return out, // not created yet
            Outcome::Refused(s, t) => panic!("query of {coll} after restart: {s} {t}"),
            Outcome::Unknown => panic!("query of {coll} after restart: no response"),
        };
        for d in page["documents"].as_array().expect("documents") {
            let id = d["id"].as_str().expect("id").to_owned();
            let fresh = out.insert(id.clone(), (d["version"].as_u64().expect("version"), d["body"].clone()));
            assert!(fresh.is_none(), "query of {coll} returned {id} twice");
        }
        match page["next_cursor"].as_str() {
            Some(c) => q["cursor"] = json!(c),
            None => return out,
        }
    }
    panic!("paging through {coll} did not end");
}

/// Checks the restarted server against the ledger; returns the losses found.
fn verify(server: &ServerProcess, ledger: &Ledger, rng: &mut StdRng) -> Vec<String> {
    let base = server.base();
    let agent = agent(Duration::from_secs(60));
    let mut stored: HashMap<(String, String), (u64, Value)> = HashMap::new();
    for coll in [DOCS, TX_A, TX_B, IDEM] {
        for (id, v) in read_collection(&agent, &base, coll) {
            stored.insert((coll.to_owned(), id), v);
        }
    }
    let mut losses = Vec::new();
    for ((coll, id), a) in &ledger.latest {
        match stored.get(&(coll.clone(), id.clone())) {
            None => losses.push(format!("{coll}/{id}: acknowledged at version {} but missing", a.version)),
            Some((v, _)) if *v < a.version => {
                losses.push(format!("{coll}/{id}: acknowledged at version {} but stored at {v}", a.version))
            }
            Some((v, body)) if *v == a.version && *body != a.body => {
                losses.push(format!("{coll}/{id}: version {v} has body {body}, acknowledged {}", a.body));
            }
            Some(_) => {}
        }
    }
    for tx in &ledger.acked_txs {
        let missing: Vec<String> = tx
            .iter()
            .filter(|a| !stored.contains_key(&(a.coll.clone(), a.id.clone())))
            .map(|a| format!("{}/{}", a.coll, a.id))
            .collect();
        if !missing.is_empty() {
            losses.push(format!("acknowledged transaction lost {missing:?}"));
        }
    }
    for tx in &ledger.unknown_txs {
        let present = tx.iter().filter(|k| stored.contains_key(*k)).count();
        if present != 0 && present != tx.len() {
            losses.push(format!("transaction partially applied: {present} of {} documents of {tx:?}", tx.len()));
        }
    }
    // Idempotency records are as durable as the writes they guard.
    let n = ledger.idem.len().min(IDEM_REPLAYS_PER_CHECK);
    for w in rand::seq::index::sample(rng, ledger.idem.len(), n).into_iter().map(|i| &ledger.idem[i]) {
        let url = format!("{base}/v1/spaces/{SPACE}/collections/{IDEM}/docs/{}", w.id);
        match send(&agent, "PUT", &url, &[("Idempotency-Key", &w.key)], &w.body) {
            Outcome::Acked(_, r) if r["replayed"] == true && r["version"].as_u64() == Some(w.version) => {}
            Outcome::Acked(_, r) => {
                losses.push(format!("idempotent write {} re-sent after restart was not a replay: {r}", w.id))
            }
            Outcome::Refused(s, t) => losses.push(format!("idempotent write {} re-sent after restart: {s} {t}", w.id)),
            Outcome::Unknown => panic!("re-sending an idempotent write: no response"),
        }
    }
    match send(&agent, "GET", &format!("{base}/v1/spaces/{SPACE}/changes/verify"), &[], &Value::Null) {
        Outcome::Acked(_, report) => {
            let entries = report["entries"].as_u64().unwrap_or(0);
            if entries < ledger.acked_writes as u64 {
                losses.push(format!(
                    "change log holds {entries} entries but {} writes were acknowledged",
                    ledger.acked_writes
                ));
            }
        }
        Outcome::Refused(s, t) => losses.push(format!("change-log verification failed after restart: {s} {t}")),
        Outcome::Unknown => panic!("verify changes: no response"),
    }
    losses
}

fn setup(server: &ServerProcess) {
    let agent = agent(Duration::from_secs(30));
    let base = server.base();
    match send(&agent, "POST", &format!("{base}/v1/spaces"), &[], &json!({"name": SPACE})) {
        Outcome::Acked(201, _) => {}
        other => panic!("create space: {}", describe(&other)),
    }
    // DOCS is indexed so its writes take the read-check-reindex path; the
    // others take the fast upsert path.
    let specs = [
        (DOCS, json!({"indexes": [{"name": "by_writer", "paths": ["writer", "seq"]}]})),
        (TX_A, json!({})),
        (TX_B, json!({})),
        (IDEM, json!({})),
    ];
    for (coll, spec) in specs {
        match send(&agent, "PUT", &format!("{base}/v1/spaces/{SPACE}/collections/{coll}"), &[], &spec) {
            Outcome::Acked(201, _) => {}
            other => panic!("create collection {coll}: {}", describe(&other)),
        }
    }
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Acked(s, v) => format!("{s} {v}"),
        Outcome::Refused(s, t) => format!("{s} {t}"),
        Outcome::Unknown => "no response".into(),
    }
}

fn seed() -> u64 {
    match std::env::var("ENGRAM_TEST_SEED") {
        Ok(s) => s.parse().expect("ENGRAM_TEST_SEED is a u64"),
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64),
    }
}

fn start(dir: &Path, logs: &Path, n: usize) -> ServerProcess {
    ServerProcess::start(dir, &logs.join(format!("serve-{n}.log")))
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let seed = seed();
    println!("kill9 seed: {seed} (set ENGRAM_TEST_SEED={seed} to reuse it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let logs = tmp.path();
    let started = Instant::now();

    let mut server = start(&dir, logs, 0);
    setup(&server);
    let mut ledger = Ledger::default();
    let mut total_losses = 0;
    let mut unexpected = Vec::new();
    for cycle in 0..CYCLES {
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (base, stop, wseed) = (server.base(), stop.clone(), rng.random::<u64>());
                std::thread::spawn(move || writer(base, cycle, w, wseed, stop))
            })
            .collect();
        let delay = rng.random_range(KILL_AFTER_MS);
        std::thread::sleep(Duration::from_millis(delay));
        server.kill(); // SIGKILL while the writers are in flight
        assert!(server.exited(), "the server is dead after SIGKILL");
        stop.store(true, Ordering::SeqCst);
        let before = ledger.acked_writes;
        for h in writers {
            let report = h.join().expect("a writer thread panicked");
            unexpected.extend(report.unexpected.iter().cloned());
            ledger.absorb(report);
        }
        let acked_now = ledger.acked_writes - before;
        drop(server);

        server = start(&dir, logs, cycle + 1);
        let losses = verify(&server, &ledger, &mut rng);
        println!(
            "cycle {cycle}: killed after {delay} ms, {acked_now} writes acknowledged ({} in total, {} documents, {} transactions), {} outcomes unknown, restart ready in {:?}, losses {}",
            ledger.acked_writes,
            ledger.latest.len(),
            ledger.acked_txs.len(),
            ledger.unknown_writes,
            server.ready_after,
            losses.len()
        );
        for l in losses.iter().take(20) {
            println!("  LOST: {l}");
        }
        total_losses += losses.len();
        assert!(
            acked_now > 0,
            "cycle {cycle}: no write was acknowledged in {delay} ms; server log:\n{}",
            server.log_text()
        );
    }
    println!(
        "kill9: {CYCLES} cycles, {} acknowledged writes, {} acknowledged transactions, {} unknown outcomes, {total_losses} losses, {:?}",
        ledger.acked_writes,
        ledger.acked_txs.len(),
        ledger.unknown_writes,
        started.elapsed()
    );
    assert!(ledger.unknown_writes > 0, "the kills never caught a writer mid-request");
    assert!(
        unexpected.is_empty(),
        "writers saw {} unexpected responses, first: {:#?}",
        unexpected.len(),
        &unexpected[..unexpected.len().min(10)]
    );
    assert_eq!(total_losses, 0, "acknowledged writes were lost after SIGKILL (seed {seed})");
}
