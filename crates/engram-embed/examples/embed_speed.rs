//! Sentences per second of the local embedder on the test fixture's
//! sentences: `cargo run --release -p engram-embed --example embed_speed -- DIR [THREADS] [N]`.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).expect("usage: embed_speed MODEL_DIR [THREADS] [N]");
    let threads: usize = args.get(2).map_or(1, |t| t.parse().expect("threads"));
    let n: usize = args.get(3).map_or(2000, |t| t.parse().expect("n"));
    let (_, e) = engram_embed::parse(&format!("m=local:{dir},threads={threads}")).expect("model loads");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/minilm-5000.json");
    let sentences: Vec<String> = serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("json");
    let sentences = &sentences[..n.min(sentences.len())];
    e.embed(sentences[..64].to_vec()).expect("warm-up");
    let start = Instant::now();
    for chunk in sentences.chunks(256) {
        e.embed(chunk.to_vec()).expect("embeds");
    }
    let secs = start.elapsed().as_secs_f64();
    println!("threads={threads} {:.1} sentences/s", sentences.len() as f64 / secs);
}
