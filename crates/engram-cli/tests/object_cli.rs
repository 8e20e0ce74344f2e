//! `engram object put|get|ls|rm|cp` as users run it: on a data directory
//! (the engine and the object store in the CLI's process) and through a
//! server holding the directory; a large file (streamed in parts) and a
//! small one come back byte for byte, to a file and to standard output.

mod common;

use common::{ServerProcess, cli, engram};
use std::path::Path;

/// Over the 8 MiB the store takes in one write: the multipart path.
const BIG_BYTES: usize = 9 * 1024 * 1024 + 12_345;

/// Bytes that differ everywhere (a shifted or dropped chunk shows).
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Runs the binary and keeps standard output as bytes.
fn raw(dir: &Path, args: &[&str]) -> (bool, Vec<u8>, String) {
    let out = engram().arg("--data-dir").arg(dir).args(args).output().expect("the engram binary runs");
    (out.status.success(), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn object_commands(dir: &Path, files: &Path, tag: &str) {
    let big = pattern(BIG_BYTES, tag.len() as u64 + 7);
    let small = b"hello, objects\n".to_vec();
    let big_file = files.join(format!("{tag}-big.bin"));
    let small_file = files.join(format!("{tag}-small.txt"));
    std::fs::write(&big_file, &big).expect("write big");
    std::fs::write(&small_file, &small).expect("write small");
    let big_key = format!("{tag}/data/big.bin");
    let small_key = format!("{tag}/notes/small note.txt");
    let path = |p: &Path| p.to_str().expect("utf-8 path").to_owned();

    // Put.
    let put = cli(
        dir,
        &[
            "object",
            "put",
            "acme",
            &big_key,
            &path(&big_file),
            "--content-type",
            "application/x-test",
            "--meta",
            "owner=ana",
            "--meta",
            "batch=7",
        ],
    )
    .json("put big");
    assert_eq!(put["key"], big_key.as_str(), "{put}");
    assert_eq!(put["version"], 1, "{put}");
    assert_eq!(put["size"], BIG_BYTES as u64, "{put}");
    let digest = put["digest"].as_str().expect("digest").to_owned();
    let put =
        cli(dir, &["object", "put", "acme", &small_key, &path(&small_file), "--ttl-seconds", "3600"]).json("put small");
    assert_eq!(put["size"], small.len() as u64, "{put}");

    // Get to a file, with the metadata printed.
    let out_file = files.join(format!("{tag}-big.out"));
    let got = cli(dir, &["object", "get", "acme", &big_key, "-o", &path(&out_file)]).json("get big");
    assert_eq!(std::fs::read(&out_file).expect("read got"), big, "the big object comes back byte for byte");
    assert_eq!(got["size"], BIG_BYTES as u64, "{got}");
    assert_eq!(got["written"], BIG_BYTES as u64, "{got}");
    assert_eq!(got["digest"], digest.as_str(), "{got}");
    assert_eq!(got["content_type"], "application/x-test", "{got}");
    assert_eq!(got["metadata"]["owner"], "ana", "{got}");
    assert_eq!(got["metadata"]["batch"], "7", "{got}");

    // Get to standard output: the bytes and nothing else.
    let (ok, stdout, stderr) = raw(dir, &["object", "get", "acme", &big_key, "-o", "-"]);
    assert!(ok, "get big to stdout: {stderr}");
    assert!(stdout == big, "stdout holds exactly the big object ({} bytes, want {})", stdout.len(), big.len());
    let (ok, stdout, stderr) = raw(dir, &["object", "get", "acme", &small_key, "-o", "-"]);
    assert!(ok, "get small to stdout: {stderr}");
    assert_eq!(stdout, small);

    // A range across a chunk boundary (4 MiB).
    let range_file = files.join(format!("{tag}-range.out"));
    let (a, b) = (4 * 1024 * 1024 - 10, 4 * 1024 * 1024 + 9);
    let r = format!("{a}-{b}");
    let got = cli(dir, &["object", "get", "acme", &big_key, "-o", &path(&range_file), "--range", &r]).json("range");
    assert_eq!(std::fs::read(&range_file).expect("read range"), &big[a..=b]);
    assert_eq!(got["written"], 20, "{got}");
    let (ok, stdout, stderr) = raw(dir, &["object", "get", "acme", &big_key, "-o", "-", "--range", "-5"]);
    assert!(ok, "suffix range: {stderr}");
    assert_eq!(stdout, &big[BIG_BYTES - 5..]);

    // List with a delimiter: keys at the level, sub-levels folded.
    let prefix = format!("{tag}/");
    let ls = cli(dir, &["object", "ls", "acme", "--prefix", &prefix, "--delimiter", "/"]).json("ls");
    assert_eq!(ls["objects"].as_array().map(Vec::len), Some(0), "{ls}");
    let want = serde_json::json!([format!("{tag}/data/"), format!("{tag}/notes/")]);
    assert_eq!(ls["prefixes"], want, "{ls}");
    let ls = cli(dir, &["object", "ls", "acme", "--prefix", &format!("{tag}/data/")]).json("ls data");
    assert_eq!(ls["objects"][0]["key"], big_key.as_str(), "{ls}");
    assert_eq!(ls["objects"][0]["size"], BIG_BYTES as u64, "{ls}");

    // Copy: the same content under another key.
    let copy_key = format!("{tag}/data/copy.bin");
    let cp = cli(dir, &["object", "cp", "acme", &big_key, &copy_key]).json("cp");
    assert_eq!(cp["key"], copy_key.as_str(), "{cp}");
    assert_eq!(cp["digest"], digest.as_str(), "{cp}");
    let copy_file = files.join(format!("{tag}-copy.out"));
    cli(dir, &["object", "get", "acme", &copy_key, "-o", &path(&copy_file)]).json("get copy");
    assert_eq!(std::fs::read(&copy_file).expect("read copy"), big);
    let ls = cli(dir, &["object", "ls", "acme", "--prefix", &format!("{tag}/data/"), "--limit", "1"]).json("page");
    assert_eq!(ls["objects"].as_array().map(Vec::len), Some(1), "{ls}");
    let next = ls["next_after"].as_str().expect("a next page").to_owned();
    let ls = cli(dir, &["object", "ls", "acme", "--prefix", &format!("{tag}/data/"), "--after", &next]).json("page 2");
    assert_eq!(ls["objects"][0]["key"], copy_key.as_str(), "{ls}");

    // Create-only on a taken key fails, and changes nothing.
    let again = cli(dir, &["object", "put", "acme", &small_key, &path(&big_file), "--if-absent"]);
    assert!(!again.success(), "--if-absent on an existing key fails: {again:?}");
    assert!(again.stderr.contains("error:") && again.stderr.contains("expected to be absent"), "{again:?}");
    // The engine's kind in process; over HTTP a failed condition is a 412.
    let named = again.stderr.contains("conflict") || again.stderr.contains("precondition-failed, HTTP 412");
    assert!(named, "the error names its kind: {again:?}");
    assert!(again.stdout.is_empty(), "nothing on stdout: {again:?}");
    let (_, stdout, _) = raw(dir, &["object", "get", "acme", &small_key, "-o", "-"]);
    assert_eq!(stdout, small, "the small object is unchanged");
    let created =
        cli(dir, &["object", "put", "acme", &format!("{tag}/new"), "-", "--if-absent"]).json("new from stdin");
    assert_eq!(created["size"], 0, "{created}");

    // Delete, then the key is gone.
    let rm = cli(dir, &["object", "rm", "acme", &small_key]).json("rm");
    assert_eq!(rm["key"], small_key.as_str(), "{rm}");
    assert_eq!(rm["version"], 0, "{rm}");
    let missing_file = files.join(format!("{tag}-missing.out"));
    let gone = cli(dir, &["object", "get", "acme", &small_key, "-o", &path(&missing_file)]);
    assert!(!gone.success(), "a deleted key cannot be read: {gone:?}");
    assert!(gone.stderr.contains("does not exist") && gone.stderr.contains("not-found"), "{gone:?}");
    assert!(!missing_file.exists(), "a failed get leaves no file");
    let gone = cli(dir, &["object", "rm", "acme", &format!("{tag}/never")]);
    assert!(!gone.success() && gone.stderr.contains("error:"), "{gone:?}");
}

#[test]
fn object_commands_locally_and_through_a_server() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let files = tmp.path().join("files");
    std::fs::create_dir_all(&files).expect("files dir");
    cli(&dir, &["space", "create", "acme"]).json("space create");

    object_commands(&dir, &files, "local");
    assert!(dir.join("objects").is_dir(), "local bytes live in the data directory's objects/");

    let server = ServerProcess::start(&dir, &tmp.path().join("serve.log"));
    object_commands(&dir, &files, "remote");

    // What the CLI stored alone, the server serves (the same store).
    let (ok, stdout, stderr) = raw(&dir, &["object", "get", "acme", "local/data/big.bin", "-o", "-"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains(&format!("using http://{}", server.addr)), "{stderr}");
    assert!(
        stdout == pattern(BIG_BYTES, "local".len() as u64 + 7),
        "the locally put object reads back through the server"
    );

    // An explicit --server with a problem shows its kind and status.
    let bad = engram()
        .args(["--server", &server.base(), "--key", "not-a-key", "object", "ls", "acme"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && stderr.contains("HTTP 401"), "{stderr}");
}

#[test]
fn argument_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    cli(&dir, &["space", "create", "acme"]).json("space create");
    let f = tmp.path().join("f");
    std::fs::write(&f, b"x").expect("write");
    let f = f.to_str().expect("utf-8");
    let bad = cli(&dir, &["object", "put", "acme", "k", f, "--meta", "nameonly"]);
    assert!(!bad.success() && bad.stderr.contains("name=value"), "{bad:?}");
    let bad = cli(&dir, &["object", "put", "acme", "k", "/no/such/file"]);
    assert!(!bad.success() && bad.stderr.contains("/no/such/file"), "{bad:?}");
    let bad = cli(&dir, &["object", "get", "acme", "k", "-o", "-", "--range", "9-1"]);
    assert!(!bad.success() && bad.stderr.contains("--range"), "{bad:?}");
    cli(&dir, &["object", "put", "acme", "k", f]).json("put");
    let bad = cli(&dir, &["object", "get", "acme", "k", "-o", "-", "--range", "5-"]);
    assert!(!bad.success() && bad.stderr.contains("range"), "{bad:?}");
}
