//! `engram serve` as operators run it: HTTPS from PEM files, settings from
//! a TOML file, the admin key printed once at first start, and `--help`
//! naming every option with its environment variable.

mod common;

use common::engram;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
}

/// A running `engram serve` and the lines it printed before listening.
struct Served {
    child: Child,
    lines: Vec<String>,
    addr: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, args: &[&str]) -> Served {
    let mut child = engram()
        .arg("serve")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn engram serve");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    // Owned from here on, so a failed start still kills and reaps it.
    let mut served = Served { child, lines: Vec::new(), addr: String::new() };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "engram serve did not start: {:?}", served.lines);
        let mut line = String::new();
        if out.read_line(&mut line).expect("read stdout") == 0 {
            panic!("engram serve exited: {:?}", served.lines);
        }
        let addr = line.split("listening on ").nth(1).and_then(|r| r.split_whitespace().next()).map(str::to_owned);
        served.lines.push(line);
        if let Some(addr) = addr {
            served.addr = addr;
            return served;
        }
    }
}

/// One HTTP/1.1 request over TLS, trusting only the test CA.
fn https_get(addr: &str, path: &str) -> String {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(fixture("ca.pem")).expect("ca.pem") {
        roots.add(c.expect("certificate")).expect("trust the test CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let host = addr.trim_start_matches("https://");
    let conn = rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").expect("name"))
        .expect("client connection");
    let tcp = std::net::TcpStream::connect(host).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    write!(tls, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").expect("send");
    let mut response = String::new();
    let _ = tls.read_to_string(&mut response);
    response
}

#[test]
fn https_with_pem_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cert = fixture("server.pem");
    let key = fixture("server.key");
    let s = serve(
        tmp.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().expect("path"),
            "--tls-key",
            key.to_str().expect("path"),
        ],
    );
    assert!(s.addr.starts_with("https://"), "{}", s.addr);
    let res = https_get(&s.addr, "/healthz");
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    let res = https_get(&s.addr, "/v1/spaces");
    assert!(res.starts_with("HTTP/1.1 401"), "no key over TLS either: {res}");
    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut plain = std::net::TcpStream::connect(s.addr.trim_start_matches("https://")).expect("connect");
    plain.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let _ = plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = Vec::new();
    let _ = plain.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
}

#[test]
fn a_bad_certificate_is_refused_at_start() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = engram()
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(fixture("server.key"))
        .arg("--tls-key")
        .arg(fixture("server.key"))
        .arg("--data-dir")
        .arg(tmp.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TLS certificate"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn config_file_and_first_start_admin_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let file = tmp.path().join("engram.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nrate_limit_per_key = 3\n").expect("write config");
    let s = serve(&data, &["--config", file.to_str().expect("path")]);
    let printed: Vec<&String> = s.lines.iter().filter(|l| l.contains("admin API key")).collect();
    assert_eq!(printed.len(), 1, "the first start prints one admin key: {:?}", s.lines);
    let key = printed[0].rsplit(' ').next().expect("key").trim().to_owned();
    assert!(key.starts_with("egk_"));
    let agent = common::agent(Duration::from_secs(10));
    let url = format!("{}/v1/spaces", s.addr);
    let statuses: Vec<u16> = (0..8)
        .map(|_| {
            agent.get(&url).header("authorization", format!("Bearer {key}")).call().expect("call").status().as_u16()
        })
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 6, "rate 3/s from the file: {statuses:?}");
    assert!(statuses.contains(&429));
    drop(s);
    // The second start prints no key: the first is stored (as a hash).
    let stored = std::fs::read_to_string(data.join("keys.json")).expect("keys.json");
    assert!(!stored.contains(key.rsplit('_').next().expect("secret")), "the secret is not stored");
    let s = serve(&data, &["--listen", "127.0.0.1:0"]);
    assert!(s.lines.iter().all(|l| !l.contains("admin API key")), "{:?}", s.lines);
}

#[test]
fn serve_help_documents_every_option() {
    let out = engram().args(["serve", "--help"]).output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--config",
        "--listen",
        "--index-save-interval-ms",
        "--admin-key",
        "--rate-limit-per-key",
        "--max-connections",
        "--max-concurrent-requests",
        "--max-large-requests",
        "--request-timeout-ms",
        "--auth-failures-per-minute",
        "--tls-cert",
        "--tls-key",
        "--data-dir",
        "--log-format",
    ] {
        assert!(help.contains(opt), "serve --help lacks {opt}:\n{help}");
    }
    assert!(help.contains("ENGRAM_RATE_LIMIT_PER_KEY") && help.contains("ENGRAM_CONFIG"), "{help}");
}

#[test]
fn sigterm_finishes_in_flight_requests() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = "graceful-shutdown-admin-key-0123456789";
    let mut s = serve(tmp.path(), &["--listen", "127.0.0.1:0", "--admin-key", key]);
    let agent = common::agent(Duration::from_secs(60));
    let auth = format!("Bearer {key}");
    let created = agent
        .post(format!("{}/v1/spaces", s.addr))
        .header("authorization", &auth)
        .send_json(serde_json::json!({"name": "acme"}));
    assert_eq!(created.expect("create space").status().as_u16(), 201);
    let docs: Vec<serde_json::Value> = (0..10_000)
        .map(|i| serde_json::json!({"id": format!("d{i}"), "body": {"n": i, "pad": "x".repeat(400)}}))
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({"documents": docs})).expect("json");
    let url = format!("{}/v1/spaces/acme/collections/c/bulk/put", s.addr);
    let writer = std::thread::spawn(move || {
        let mut res = agent
            .post(&url)
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .send(&body[..])
            .expect("the in-flight request gets its answer");
        (res.status().as_u16(), res.body_mut().read_to_string().unwrap_or_default())
    });
    std::thread::sleep(Duration::from_millis(150));
    let pid = s.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let (status, body) = writer.join().expect("writer");
    assert_eq!(status, 200, "{body}");
    let exit = s.child.wait().expect("wait");
    assert!(exit.success(), "a clean exit after SIGTERM: {exit:?}");
}
