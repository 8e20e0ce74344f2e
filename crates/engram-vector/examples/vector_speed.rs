//! Speed and recall of the vector index on real MiniLM embeddings (the last 1000 rows are the queries, cosine)
//! or on Fashion-MNIST (prepared raw f32 files with exact ground truth, squared L2).
//!
//! Run: `cargo run --release -p engram-vector --example vector_speed [path/to/embeddings-f16.npy]`
//! or `cargo run --release -p engram-vector --example vector_speed fashion [dir with base.f32 ...]`

use std::time::Instant;

use engram_vector::{HnswParams, Metric, VectorIndex, kernel};

const DEFAULT_PATH: &str = "/work/shared/data/minilm-nlpcorpus/embeddings-f16.npy";
const FASHION_DIR: &str = "/work/main/target/bench-data/fashion";
const FASHION_DIMS: usize = 784;
const QUERIES: usize = 1000;
const K: usize = 10;
const EFS: [usize; 8] = [10, 16, 24, 32, 48, 64, 96, 128];

type Rows = Vec<Vec<f32>>;
/// Exact top-K ids per query.
type Truth = Vec<Vec<u32>>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = std::env::args().nth(1);
    let (base, queries, truth, dims, metric) = if arg.as_deref() == Some("fashion") {
        let dir = std::env::args().nth(2).unwrap_or_else(|| FASHION_DIR.to_string());
        let (base, queries, truth) = load_fashion(&dir)?;
        (base, queries, truth, FASHION_DIMS, Metric::L2)
    } else {
        let path = arg.unwrap_or_else(|| DEFAULT_PATH.to_string());
        let (rows, dims) = load_npy_f16(&path)?;
        let (base, queries) = split(rows);
        let started = Instant::now();
        let truth: Vec<Vec<u32>> = queries.iter().map(|q| exact_top(&base, q)).collect();
        println!("ground truth (exact kernel): {:.2} s", started.elapsed().as_secs_f64());
        (base, queries, truth, dims, Metric::Cosine)
    };
    println!("base {} x {dims}, queries {}", base.len(), queries.len());

    let index = match std::env::var("VECTOR_SPEED_INDEX") {
        Ok(cache) if std::path::Path::new(&cache).exists() => {
            VectorIndex::read_from(&mut std::io::BufReader::new(std::fs::File::open(cache)?))?
        }
        Ok(cache) => {
            let index = build(&base, dims, metric)?;
            index.write_to(&mut std::fs::File::create(cache)?)?;
            index
        }
        Err(_) => build(&base, dims, metric)?,
    };

    println!("{:>5} {:>10} {:>10}", "ef", "recall@10", "QPS");
    let rounds: usize = std::env::var("VECTOR_SPEED_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    for ef in EFS {
        // Best of `rounds` passes: the machine is shared, so the fastest pass is the least disturbed.
        let mut best = (0.0, 0.0);
        for _ in 0..rounds.max(1) {
            let (recall, qps) = measure(&index, &queries, &truth, ef)?;
            if qps > best.1 {
                best = (recall, qps);
            }
        }
        let (recall, qps) = best;
        println!("{ef:>5} {recall:>10.4} {qps:>10.0}");
    }
    exact_speed(&index, &queries, &base)?;
    save_load_speed(&index)?;
    Ok(())
}

/// Builds the index single-threaded, printing the time. Set `VECTOR_SPEED_INDEX` to a file path to reuse a
/// built index across runs (it is written on the first run and loaded afterwards).
fn build(base: &[Vec<f32>], dims: usize, metric: Metric) -> Result<VectorIndex, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut index = VectorIndex::new(dims, metric, HnswParams::default())?;
    for (key, v) in base.iter().enumerate() {
        index.upsert(key as u32, v)?;
    }
    println!("build: {:.2} s (single thread, M=16, ef_construction=200)", started.elapsed().as_secs_f64());
    Ok(index)
}

/// Reads the prepared Fashion-MNIST files: base and query rows, and the exact top-10 ids per query.
fn load_fashion(dir: &str) -> Result<(Rows, Rows, Truth), Box<dyn std::error::Error>> {
    let floats = |name: &str| -> Result<Rows, Box<dyn std::error::Error>> {
        let bytes = std::fs::read(format!("{dir}/{name}"))?;
        let all: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        Ok(all.chunks_exact(FASHION_DIMS).map(<[f32]>::to_vec).collect())
    };
    let gt = std::fs::read(format!("{dir}/gt.i32"))?;
    let ids: Vec<i32> = gt.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let truth = ids.chunks_exact(K).map(|row| row.iter().filter(|&&i| i >= 0).map(|&i| i as u32).collect()).collect();
    Ok((floats("base.f32")?, floats("queries.f32")?, truth))
}

/// Reads a little-endian float16 `.npy` matrix and returns its rows as re-normalized f32 vectors.
fn load_npy_f16(path: &str) -> Result<(Rows, usize), Box<dyn std::error::Error>> {
    let bytes = std::fs::read(path)?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file".into());
    }
    // Version 1 has a u16 header length at 8; versions 2 and 3 a u32.
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (u32::from_le_bytes(bytes[8..12].try_into()?) as usize, 12),
    };
    let header = std::str::from_utf8(&bytes[start..start + len])?;
    if !header.contains("'<f2'") || header.contains("'fortran_order': True") {
        return Err(format!("unsupported header {header}").into());
    }
    let (n, dims) = parse_shape(header)?;
    let data = &bytes[start + len..];
    if data.len() != n * dims * 2 {
        return Err("size does not match the shape".into());
    }
    let rows = data.chunks_exact(dims * 2).map(normalized).collect();
    Ok((rows, dims))
}

/// Parses `'shape': (n, d)` from the header dictionary.
fn parse_shape(header: &str) -> Result<(usize, usize), Box<dyn std::error::Error>> {
    let after = header.split("'shape':").nth(1).ok_or("no shape")?;
    let inner = after.split('(').nth(1).and_then(|s| s.split(')').next()).ok_or("bad shape")?;
    let dims: Vec<usize> =
        inner.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::parse).collect::<Result<_, _>>()?;
    match dims[..] {
        [n, d] => Ok((n, d)),
        _ => Err("expected a 2-d array".into()),
    }
}

fn normalized(row: &[u8]) -> Vec<f32> {
    let v: Vec<f32> = row.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect();
    let norm = kernel::dot(&v, &v).sqrt();
    v.iter().map(|x| x / norm).collect()
}

/// IEEE half to single precision by bit manipulation (subnormals renormalized, inf/NaN kept).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = frac * 2^-24; shift the fraction up until its leading bit is the hidden bit.
            let shift = frac.leading_zeros() - 21;
            let frac = (frac << shift) & 0x3ff;
            sign | ((127 - 15 + 1 - shift) << 23) | (frac << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

fn split(mut rows: Rows) -> (Rows, Rows) {
    let queries = rows.split_off(rows.len() - QUERIES);
    (rows, queries)
}

/// Exact top-K by dot product (the vectors are unit length), ties by index.
fn exact_top(base: &[Vec<f32>], q: &[f32]) -> Vec<u32> {
    let mut scored: Vec<(f32, u32)> = base.iter().enumerate().map(|(i, v)| (-kernel::dot(q, v), i as u32)).collect();
    scored.select_nth_unstable_by(K, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    scored.truncate(K);
    scored.into_iter().map(|(_, i)| i).collect()
}

fn measure(
    index: &VectorIndex,
    queries: &[Vec<f32>],
    truth: &[Vec<u32>],
    ef: usize,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut results = Vec::with_capacity(queries.len());
    for q in queries {
        results.push(index.search(q, K, ef, None)?);
    }
    let secs = started.elapsed().as_secs_f64();
    let found: usize =
        results.iter().zip(truth).map(|(hits, t)| hits.iter().filter(|h| t.contains(&h.key)).count()).sum();
    Ok((found as f64 / (queries.len() * K) as f64, queries.len() as f64 / secs))
}

/// Exact scans: over the whole base (memory-bound) and over a cache-resident subset of keys.
fn exact_speed(index: &VectorIndex, queries: &[Vec<f32>], base: &[Vec<f32>]) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let scans = 20;
    for q in &queries[..scans] {
        index.exact_filtered(q, K, None)?;
    }
    let rate = (scans * base.len()) as f64 / started.elapsed().as_secs_f64();
    println!("exact scan, all {} vectors: {:.1} M vectors/s", base.len(), rate / 1e6);
    let subset = 2000u32;
    let started = Instant::now();
    for q in queries {
        index.exact(q, K, &mut (0..subset))?;
    }
    let rate = (queries.len() * subset as usize) as f64 / started.elapsed().as_secs_f64();
    println!("exact scan, {subset} keys (cache-resident, with key lookup): {:.1} M vectors/s", rate / 1e6);
    let v = &base[..subset as usize];
    let started = Instant::now();
    let mut sink = 0.0f32;
    for q in queries {
        for x in v {
            sink += kernel::dot(q, x);
        }
    }
    let rate = (queries.len() * v.len()) as f64 / started.elapsed().as_secs_f64();
    println!("dot kernel alone, cache-resident: {:.1} M vectors/s (checksum {sink:.1})", rate / 1e6);
    Ok(())
}

fn save_load_speed(index: &VectorIndex) -> Result<(), Box<dyn std::error::Error>> {
    let mut bytes = Vec::new();
    let started = Instant::now();
    index.write_to(&mut bytes)?;
    let write = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let loaded = VectorIndex::read_from(&mut &bytes[..])?;
    let read = started.elapsed().as_secs_f64();
    println!(
        "file {:.0} MB: write {write:.2} s, read {read:.2} s ({} vectors)",
        bytes.len() as f64 / 1e6,
        loaded.len()
    );
    Ok(())
}
