//! An outage of PostgreSQL under load: a server of the test's own is
//! stopped at once (as a crash would) while writers keep writing through
//! `engram serve`; requests fail fast with 503 and `Retry-After` while it
//! is down (p99 under 100 ms), the server recovers by itself when the
//! database returns, and no acknowledged write is lost.

mod common;

use common::{agent, serve_on_database};
use engram_testkit::disposable::DisposablePostgres;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const ADMIN: &str = "outage-test-admin-key-0123456789abc";
const WRITERS: usize = 4;

/// One request: status, `Retry-After`, latency.
fn put(base: &str, id: &str) -> (u16, Option<String>, Duration) {
    let started = Instant::now();
    let req = ureq::http::Request::builder()
        .method("PUT")
        .uri(format!("{base}/v1/spaces/acme/collections/docs/docs/{id}"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&json!({"id": id})).expect("json"))
        .expect("request");
    let res = agent(Duration::from_secs(30)).run(req).expect("the server answers");
    let retry = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (res.status().as_u16(), retry, started.elapsed())
}

fn get_status(base: &str, path: &str) -> (u16, Value) {
    let req = ureq::http::Request::builder()
        .uri(format!("{base}{path}"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(())
        .expect("request");
    let res = agent(Duration::from_secs(30)).run(req).expect("the server answers");
    let status = res.status().as_u16();
    (status, serde_json::from_str(&res.into_body().read_to_string().unwrap_or_default()).unwrap_or(Value::Null))
}

/// What one writer saw: (id, status, retry-after, latency, sent at).
type Seen = Vec<(String, u16, Option<String>, Duration, Instant)>;

#[test]
fn an_outage_gives_fast_503s_then_recovery_with_nothing_acknowledged_lost() {
    let Some(pg) = DisposablePostgres::start(Path::new(env!("CARGO_TARGET_TMPDIR"))) else { return };
    let dir = tempfile::tempdir().expect("dir");
    let server = serve_on_database(dir.path(), &pg.url(), ADMIN, &["--rate-limit-per-key", "0"]);
    let base = server.base.clone();
    let (status, _) = {
        let req = ureq::http::Request::builder()
            .method("POST")
            .uri(format!("{base}/v1/spaces"))
            .header("authorization", format!("Bearer {ADMIN}"))
            .body(br#"{"name":"acme"}"#.to_vec())
            .expect("request");
        let res = agent(Duration::from_secs(30)).run(req).expect("answer");
        (res.status().as_u16(), ())
    };
    assert_eq!(status, 201);
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (base, stop) = (base.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen: Seen = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("w{w}-{i}");
                    let at = Instant::now();
                    let (status, retry, took) = put(&base, &id);
                    seen.push((id, status, retry, took, at));
                    i += 1;
                    if status != 201 && status != 200 {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                seen
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    pg.stop_immediately();
    let down_from = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let down_until = Instant::now();
    pg.start_again();
    // The server recovers by itself: readiness, then writes.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get_status(&base, "/readyz");
        if status == 200 {
            assert_eq!(body["backend"], "postgres", "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "not ready 30 s after PostgreSQL returned: {status} {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let seen: Seen = writers.into_iter().flat_map(|h| h.join().expect("writer")).collect();

    // While down (sent at least 200 ms after the stop completed): 503s with
    // Retry-After, fast.
    let during: Vec<_> =
        seen.iter().filter(|s| s.4 >= down_from + Duration::from_millis(200) && s.4 < down_until).collect();
    assert!(during.len() > 50, "the writers kept sending while the database was down: {}", during.len());
    for (id, status, retry, _, _) in &during {
        assert_eq!(*status, 503, "{id} while the database was down");
        assert!(retry.is_some(), "{id}: 503 without Retry-After");
    }
    let mut latencies: Vec<Duration> = during.iter().map(|s| s.3).collect();
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    assert!(p99 < Duration::from_millis(100), "p99 while down: {p99:?} over {} requests", latencies.len());
    eprintln!("outage: {} requests while down, p99 {p99:?}", latencies.len());

    // Writes succeed again, and every acknowledged one is there.
    let acked: Vec<&String> = seen.iter().filter(|s| s.1 == 201 || s.1 == 200).map(|s| &s.0).collect();
    assert!(seen.iter().any(|s| s.4 > down_until && (s.1 == 201 || s.1 == 200)), "writes resumed");
    for id in acked {
        let (status, body) = get_status(&base, &format!("/v1/spaces/acme/collections/docs/docs/{id}"));
        assert_eq!(status, 200, "acknowledged write {id} lost: {body}");
    }
}
