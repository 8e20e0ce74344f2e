//! Hashing content as it streams, once: each 4 MiB chunk is hashed as a
//! BLAKE3 subtree at its offset (its chaining value is what reads verify
//! before serving a byte of it), and the content's digest (its address,
//! equal to `blake3::hash` of the whole) is merged from those subtrees.
//!
//! 4 MiB is a power of two of BLAKE3's 1 KiB chunks, so every 4 MiB chunk
//! at a multiple of 4 MiB is a complete subtree of the content's tree, and
//! the final, shorter one is a valid subtree too.

use blake3::Hasher;
use blake3::hazmat::{ChainingValue, HasherExt, Mode, left_subtree_len, merge_subtrees_non_root, merge_subtrees_root};
use engram::BlobInput;
use engram_core::limits::OBJECT_CHUNK_BYTES;

/// Digests of content fed in pieces of any size.
#[derive(Debug)]
pub struct ChunkHasher {
    /// The chunk being hashed, at its offset.
    current: Hasher,
    in_chunk: u64,
    /// The first chunk's hasher once complete: its root hash is the
    /// content's digest when no second chunk follows.
    first: Option<Hasher>,
    /// Chaining values of the completed chunks.
    cvs: Vec<ChainingValue>,
    size: u64,
}

impl Default for ChunkHasher {
    fn default() -> Self {
        Self { current: Hasher::new(), in_chunk: 0, first: None, cvs: Vec::new(), size: 0 }
    }
}

impl ChunkHasher {
    pub fn update(&mut self, mut data: &[u8]) {
        self.size += data.len() as u64;
        while !data.is_empty() {
            let room = usize::try_from(OBJECT_CHUNK_BYTES - self.in_chunk).unwrap_or(usize::MAX);
            let take = room.min(data.len());
            self.current.update(&data[..take]);
            self.in_chunk += take as u64;
            data = &data[take..];
            if self.in_chunk == OBJECT_CHUNK_BYTES {
                self.close_chunk();
            }
        }
    }

    fn close_chunk(&mut self) {
        self.cvs.push(self.current.finalize_non_root());
        let next = self.cvs.len() as u64 * OBJECT_CHUNK_BYTES;
        let mut fresh = Hasher::new();
        fresh.set_input_offset(next);
        let done = std::mem::replace(&mut self.current, fresh);
        if self.first.is_none() {
            self.first = Some(done);
        }
        self.in_chunk = 0;
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The blob's description: its digest, size, and chunk chaining values
    /// when it has more than one chunk.
    pub fn finish(mut self) -> BlobInput {
        if self.size <= OBJECT_CHUNK_BYTES {
            let root = match self.first.take() {
                Some(first) => first.finalize(), // exactly one full chunk
                None => self.current.finalize(),
            };
            return BlobInput { digest: root.to_hex().to_string(), size: self.size, chunks: Vec::new() };
        }
        if self.in_chunk > 0 {
            self.cvs.push(self.current.finalize_non_root());
        }
        let digest = root_of(&self.cvs, self.size).to_hex().to_string();
        let chunks = self.cvs.iter().map(hex).collect();
        BlobInput { digest, size: self.size, chunks }
    }
}

/// The root hash of content of `len` bytes (more than one chunk) from the
/// chaining values of its 4 MiB chunks, merged as BLAKE3's tree does.
fn root_of(cvs: &[ChainingValue], len: u64) -> blake3::Hash {
    let (left, right, left_len) = split(cvs, len);
    merge_subtrees_root(&subtree(left, left_len), &subtree(right, len - left_len), Mode::Hash)
}

/// The chaining value of a subtree made of whole chunks (and a shorter last).
fn subtree(cvs: &[ChainingValue], len: u64) -> ChainingValue {
    if cvs.len() == 1 {
        return cvs[0];
    }
    let (left, right, left_len) = split(cvs, len);
    merge_subtrees_non_root(&subtree(left, left_len), &subtree(right, len - left_len), Mode::Hash)
}

/// BLAKE3's split of `len` bytes: the left subtree holds the largest power
/// of two of 1 KiB chunks that leaves something on the right; above 4 MiB
/// that is a whole number of 4 MiB chunks.
fn split(cvs: &[ChainingValue], len: u64) -> (&[ChainingValue], &[ChainingValue], u64) {
    let left_len = left_subtree_len(len);
    let n = usize::try_from(left_len / OBJECT_CHUNK_BYTES).unwrap_or(usize::MAX).min(cvs.len());
    (&cvs[..n], &cvs[n..], left_len)
}

fn hex(cv: &ChainingValue) -> String {
    cv.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether chunk `index` of a blob, read back as `bytes`, is what was
/// written: the content's digest for a single chunk, else the chunk's
/// chaining value at its offset.
pub fn chunk_matches(blob: &engram::BlobInfo, index: u64, bytes: &[u8]) -> bool {
    if blob.chunks.is_empty() {
        return index == 0 && blake3::hash(bytes).to_hex().as_str() == blob.digest;
    }
    let Some(expected) = usize::try_from(index).ok().and_then(|i| blob.chunks.get(i)) else { return false };
    if bytes.is_empty() {
        return false;
    }
    let mut h = Hasher::new();
    h.set_input_offset(index * OBJECT_CHUNK_BYTES);
    h.update(bytes);
    hex(&h.finalize_non_root()) == *expected
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashed(data: &[u8], piece: usize) -> BlobInput {
        let mut h = ChunkHasher::default();
        for p in data.chunks(piece.max(1)) {
            h.update(p);
        }
        if data.is_empty() {
            h.update(&[]);
        }
        h.finish()
    }

    #[test]
    fn the_digest_is_blake3_of_the_whole_whatever_the_size_and_pieces() {
        let c = OBJECT_CHUNK_BYTES as usize;
        for len in [0, 1, 5, c - 1, c, c + 1, 2 * c, 2 * c + 17, 3 * c, 5 * c + 3, 8 * c] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let want = blake3::hash(&data).to_hex().to_string();
            for piece in [1_000_003, c, 7_777] {
                let b = hashed(&data, piece);
                assert_eq!(b.digest, want, "len {len}, pieces of {piece}");
                assert_eq!(b.size, len as u64);
                let chunks = engram::chunk_count(len as u64) as usize;
                assert_eq!(b.chunks.len(), if chunks == 1 { 0 } else { chunks }, "len {len}");
            }
        }
    }

    #[test]
    fn each_chunk_verifies_and_a_flipped_bit_does_not() {
        let c = OBJECT_CHUNK_BYTES as usize;
        let data: Vec<u8> = (0..3 * c + 10).map(|i| (i % 253) as u8).collect();
        let b = hashed(&data, 65_536);
        let info = engram::BlobInfo {
            digest: b.digest.clone(),
            size: b.size,
            chunks: b.chunks.clone(),
            refs: 1,
            stored: true,
            collecting: false,
            unreferenced_since_ms: None,
        };
        for (i, chunk) in data.chunks(c).enumerate() {
            assert!(chunk_matches(&info, i as u64, chunk), "chunk {i}");
            let mut bad = chunk.to_vec();
            bad[chunk.len() / 2] ^= 1;
            assert!(!chunk_matches(&info, i as u64, &bad), "corrupted chunk {i}");
        }
        // A chunk at the wrong place does not verify either.
        assert!(!chunk_matches(&info, 1, &data[..c]));
        let small = hashed(b"hello", 10);
        let info = engram::BlobInfo { digest: small.digest, size: 5, chunks: vec![], ..info };
        assert!(chunk_matches(&info, 0, b"hello"));
        assert!(!chunk_matches(&info, 0, b"hellp"));
    }
}
