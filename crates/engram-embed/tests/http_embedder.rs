//! The OpenAI-compatible embedder against a real HTTP server on loopback
//! that this test runs: the embeddings shape, retries after 5xx, no retry
//! after 4xx, timeouts on slow answers, the breaker, bad answers, and the
//! key never showing in an error.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEY: &str = "sk-test-sekret-key";

/// How the server answers the next request.
#[derive(Clone)]
enum Reply {
    /// 200 with one vector per input ([len, 1, 0, 0] then scaled), in reverse order.
    Ok,
    Status(u16),
    Slow(Duration),
    WrongDims,
    /// 401 whose body echoes the authorization header it got.
    EchoKey,
}

struct Server {
    url: String,
    script: Arc<Mutex<Vec<Reply>>>,
    seen: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

fn server() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let script: Arc<Mutex<Vec<Reply>>> = Arc::default();
    let seen: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::default();
    let (s, v) = (script.clone(), seen.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (s, v) = (s.clone(), v.clone());
            std::thread::spawn(move || answer(conn, &s, &v));
        }
    });
    Server { url, script, seen }
}

type Seen = Mutex<Vec<(String, serde_json::Value)>>;

/// Reads one request and answers it as the script says.
fn answer(mut conn: std::net::TcpStream, s: &Mutex<Vec<Reply>>, v: &Seen) {
    {
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let (mut len, mut auth) = (0usize, String::new());
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h.trim().is_empty() {
                break;
            }
            let (k, val) = h.split_once(':').unwrap();
            match k.to_ascii_lowercase().as_str() {
                "content-length" => len = val.trim().parse().unwrap(),
                "authorization" => auth = val.trim().to_owned(),
                _ => {}
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v.lock().unwrap().push((auth.clone(), req.clone()));
        let reply = { s.lock().unwrap().pop().unwrap_or(Reply::Ok) };
        let (status, text) = match reply {
            Reply::EchoKey => (401, format!("{{\"error\": \"invalid key {auth}\"}}")),
            Reply::Ok | Reply::Slow(_) | Reply::WrongDims => {
                if let Reply::Slow(d) = reply {
                    std::thread::sleep(d);
                }
                let dims = if matches!(reply, Reply::WrongDims) { 3 } else { 4 };
                let inputs = req["input"].as_array().unwrap();
                let mut data: Vec<_> = inputs
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let mut e = vec![0.0f32; dims];
                        e[0] = t.as_str().unwrap().len() as f32;
                        e[1] = 1.0;
                        serde_json::json!({"object": "embedding", "index": i, "embedding": e})
                    })
                    .collect();
                data.reverse();
                (200, serde_json::json!({"object": "list", "data": data, "model": req["model"]}).to_string())
            }
            Reply::Status(code) => (code, format!("{{\"error\": {{\"message\": \"status {code}\"}}}}")),
        };
        let _ = write!(
            conn,
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
            text.len()
        );
    }
}

fn embedder(url: &str, extra: &str) -> std::sync::Arc<dyn engram_core::embed::Embedder> {
    // SAFETY of the test: the variable name is unique to this test binary.
    unsafe_env();
    engram_embed::parse(&format!("remote=http:{url},model=m-small,dims=4,key_env=ENGRAM_TEST_EMBED_KEY{extra}"))
        .unwrap()
        .1
}

fn unsafe_env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Set once, before any thread reads the environment.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("ENGRAM_TEST_EMBED_KEY", KEY);
        }
    });
}

#[test]
fn embeds_in_order_with_the_key_and_normalizes() {
    let s = server();
    let e = embedder(&s.url, "");
    let out = e.embed(vec!["ab".into(), "abcd".into()]).unwrap();
    assert_eq!(out.len(), 2);
    // [2, 1, 0, 0] and [4, 1, 0, 0], normalized, in input order despite the reversed answer.
    assert!((out[0][0] - 2.0 / 5f32.sqrt()).abs() < 1e-6 && (out[1][0] - 4.0 / 17f32.sqrt()).abs() < 1e-6);
    let seen = s.seen.lock().unwrap();
    assert_eq!(seen[0].0, format!("Bearer {KEY}"));
    assert_eq!(seen[0].1["model"], "m-small");
    assert_eq!(e.info().model.version, "m-small");
}

#[test]
fn batches_large_calls() {
    let s = server();
    let e = embedder(&s.url, ",batch=3,threads=1");
    let texts: Vec<String> = (0..10).map(|i| "x".repeat(i + 1)).collect();
    let out = e.embed(texts).unwrap();
    assert_eq!(out.len(), 10);
    let seen = s.seen.lock().unwrap();
    assert_eq!(seen.len(), 4, "10 texts in batches of 3");
    assert!(seen.iter().all(|(_, r)| r["input"].as_array().unwrap().len() <= 3));
}

#[test]
fn retries_server_errors_but_not_client_errors() {
    let s = server();
    let e = embedder(&s.url, ",attempts=3");
    *s.script.lock().unwrap() = vec![Reply::Status(503), Reply::Status(500)];
    assert_eq!(e.embed(vec!["a".into()]).unwrap().len(), 1, "third attempt succeeds");
    assert_eq!(s.seen.lock().unwrap().len(), 3);
    *s.script.lock().unwrap() = vec![Reply::Status(401)];
    let err = e.embed(vec!["a".into()]).unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    assert!(!err.to_string().contains(KEY));
    assert_eq!(s.seen.lock().unwrap().len(), 4, "a 4xx is not retried");
    *s.script.lock().unwrap() = vec![Reply::EchoKey];
    let err = e.embed(vec!["a".into()]).unwrap_err();
    assert!(err.to_string().contains("<redacted>") && !err.to_string().contains(KEY), "{err}");
}

#[test]
fn slow_answers_time_out_and_bad_answers_are_refused() {
    let s = server();
    let e = embedder(&s.url, ",attempts=1,timeout_ms=300");
    *s.script.lock().unwrap() = vec![Reply::Slow(Duration::from_secs(2))];
    let start = Instant::now();
    let err = e.embed(vec!["a".into()]).unwrap_err();
    assert!(start.elapsed() < Duration::from_millis(1_500), "timed out at {:?}", start.elapsed());
    assert!(!err.to_string().contains(KEY), "{err}");
    *s.script.lock().unwrap() = vec![Reply::WrongDims];
    let err = e.embed(vec!["a".into()]).unwrap_err();
    assert!(err.to_string().contains("4 configured"), "{err}");
}

#[test]
fn the_breaker_opens_after_repeated_failures() {
    let s = server();
    let e = embedder(&s.url, ",attempts=1");
    *s.script.lock().unwrap() = vec![Reply::Status(500); 5];
    for _ in 0..5 {
        assert!(e.embed(vec!["a".into()]).is_err());
    }
    let err = e.embed(vec!["a".into()]).unwrap_err();
    assert!(err.to_string().contains("suspended"), "{err}");
    assert_eq!(s.seen.lock().unwrap().len(), 5, "an open breaker sends nothing");
}

#[test]
fn an_unreachable_endpoint_and_keys_in_urls_are_clear_errors() {
    unsafe_env();
    let e = engram_embed::parse("r=http:http://127.0.0.1:1/v1,model=m,dims=4,attempts=1").unwrap().1;
    let err = e.embed(vec!["a".into()]).unwrap_err();
    assert!(err.to_string().contains("could not be reached"), "{err}");
    let err = engram_embed::parse("r=http:https://user:pw@example.com/v1,model=m,dims=4").err().unwrap();
    assert!(err.to_string().contains("key_env"), "{err}");
    let err = engram_embed::parse("r=http:http://x/v1,model=m,dims=4,key_env=ENGRAM_NO_SUCH_VAR").err().unwrap();
    assert!(err.to_string().contains("ENGRAM_NO_SUCH_VAR"), "{err}");
}
