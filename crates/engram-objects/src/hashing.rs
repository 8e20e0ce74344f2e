//! Hashing content as it streams: the BLAKE3 digest of the whole (its
//! content address) and of every 4 MiB chunk (what reads verify before
//! serving a byte of it).

use engram::BlobInput;
use engram_core::limits::OBJECT_CHUNK_BYTES;

/// Digests of content fed in pieces of any size.
#[derive(Debug, Default)]
pub struct ChunkHasher {
    whole: blake3::Hasher,
    chunk: blake3::Hasher,
    in_chunk: u64,
    chunks: Vec<String>,
    size: u64,
}

impl ChunkHasher {
    pub fn update(&mut self, mut data: &[u8]) {
        self.whole.update(data);
        self.size += data.len() as u64;
        while !data.is_empty() {
            let room = usize::try_from(OBJECT_CHUNK_BYTES - self.in_chunk).unwrap_or(usize::MAX);
            let take = room.min(data.len());
            self.chunk.update(&data[..take]);
            self.in_chunk += take as u64;
            data = &data[take..];
            if self.in_chunk == OBJECT_CHUNK_BYTES {
                self.chunks.push(self.chunk.finalize().to_hex().to_string());
                self.chunk.reset();
                self.in_chunk = 0;
            }
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The blob's description: its digest, size, and chunk digests when it
    /// has more than one chunk.
    pub fn finish(mut self) -> BlobInput {
        if self.in_chunk > 0 {
            self.chunks.push(self.chunk.finalize().to_hex().to_string());
        }
        let digest = self.whole.finalize().to_hex().to_string();
        let chunks = if self.chunks.len() > 1 { self.chunks } else { Vec::new() };
        BlobInput { digest, size: self.size, chunks }
    }
}

/// The digest one chunk of a blob must have.
pub fn chunk_digest(blob: &engram::BlobInfo, index: usize) -> &str {
    if blob.chunks.is_empty() { &blob.digest } else { &blob.chunks[index] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_do_not_depend_on_how_the_content_is_fed() {
        let data: Vec<u8> = (0..(OBJECT_CHUNK_BYTES * 2 + 17)).map(|i| (i % 251) as u8).collect();
        let mut a = ChunkHasher::default();
        a.update(&data);
        let mut b = ChunkHasher::default();
        for piece in data.chunks(1_000_003) {
            b.update(piece);
        }
        let (a, b) = (a.finish(), b.finish());
        assert_eq!(a, b);
        assert_eq!(a.chunks.len(), 3);
        assert_eq!(a.digest, blake3::hash(&data).to_hex().to_string());
        let first = OBJECT_CHUNK_BYTES as usize;
        assert_eq!(a.chunks[0], blake3::hash(&data[..first]).to_hex().to_string());
        let single = {
            let mut h = ChunkHasher::default();
            h.update(b"hello");
            h.finish()
        };
        assert!(single.chunks.is_empty());
        assert_eq!(single.digest, blake3::hash(b"hello").to_hex().to_string());
    }
}
