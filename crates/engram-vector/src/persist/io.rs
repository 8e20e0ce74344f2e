//! Buffered readers and writers that hash every byte passing through them.

use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};

use crate::error::VectorError;

/// Bytes converted per step of an array read or write: large enough to amortize calls, small enough that a
/// lying header cannot make us allocate far beyond the bytes that actually arrived.
const CHUNK_BYTES: usize = 1 << 20;

/// Maps an early end of input to `Corrupt` (a truncated file), other I/O errors to `Io`.
fn read_error(e: std::io::Error) -> VectorError {
    if e.kind() == ErrorKind::UnexpectedEof { VectorError::Corrupt("truncated".into()) } else { VectorError::Io(e) }
}

/// Reads through a buffer and hashes what it returns.
pub(crate) struct HashReader<'r> {
    inner: BufReader<&'r mut dyn Read>,
    hasher: blake3::Hasher,
    chunk: Vec<u8>,
}

impl<'r> HashReader<'r> {
    pub(crate) fn new(r: &'r mut dyn Read) -> HashReader<'r> {
        HashReader { inner: BufReader::with_capacity(CHUNK_BYTES, r), hasher: blake3::Hasher::new(), chunk: Vec::new() }
    }

    /// Fills `buf` exactly, hashing it.
    pub(crate) fn bytes(&mut self, buf: &mut [u8]) -> Result<(), VectorError> {
        self.inner.read_exact(buf).map_err(read_error)?;
        self.hasher.update(buf);
        Ok(())
    }

    pub(crate) fn u32(&mut self) -> Result<u32, VectorError> {
        let mut b = [0u8; 4];
        self.bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, VectorError> {
        let mut b = [0u8; 8];
        self.bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Appends `count` elements of `WIDTH` bytes each to `out`, decoded by `decode`, a chunk at a time.
    fn array<T, const WIDTH: usize>(
        &mut self,
        count: usize,
        out: &mut Vec<T>,
        decode: fn([u8; WIDTH]) -> T,
    ) -> Result<(), VectorError> {
        let mut left = count;
        let mut chunk = std::mem::take(&mut self.chunk);
        while left > 0 {
            let n = left.min(CHUNK_BYTES / WIDTH);
            chunk.resize(n * WIDTH, 0);
            self.bytes(&mut chunk)?;
            out.extend(chunk.chunks_exact(WIDTH).map(|b| decode(b.try_into().expect("chunks are WIDTH long"))));
            left -= n;
        }
        self.chunk = chunk;
        Ok(())
    }

    pub(crate) fn f32s(&mut self, count: usize, out: &mut Vec<f32>) -> Result<(), VectorError> {
        self.array(count, out, f32::from_le_bytes)
    }

    pub(crate) fn u32s(&mut self, count: usize, out: &mut Vec<u32>) -> Result<(), VectorError> {
        self.array(count, out, u32::from_le_bytes)
    }

    pub(crate) fn u8s(&mut self, count: usize, out: &mut Vec<u8>) -> Result<(), VectorError> {
        self.array(count, out, |[b]: [u8; 1]| b)
    }

    /// Reads the trailing checksum (not hashed), compares it, and requires the input to end there.
    pub(crate) fn finish(mut self) -> Result<(), VectorError> {
        let mut stored = [0u8; 32];
        self.inner.read_exact(&mut stored).map_err(read_error)?;
        if self.hasher.finalize() != blake3::Hash::from_bytes(stored) {
            return Err(VectorError::Corrupt("checksum mismatch".into()));
        }
        let mut extra = [0u8; 1];
        loop {
            match self.inner.read(&mut extra) {
                Ok(0) => return Ok(()),
                Ok(_) => return Err(VectorError::Corrupt("bytes after the checksum".into())),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(VectorError::Io(e)),
            }
        }
    }
}

/// Writes through a buffer and hashes what it writes.
pub(crate) struct HashWriter<'w> {
    inner: BufWriter<&'w mut dyn Write>,
    hasher: blake3::Hasher,
    chunk: Vec<u8>,
}

impl<'w> HashWriter<'w> {
    pub(crate) fn new(w: &'w mut dyn Write) -> HashWriter<'w> {
        HashWriter { inner: BufWriter::with_capacity(CHUNK_BYTES, w), hasher: blake3::Hasher::new(), chunk: Vec::new() }
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> Result<(), VectorError> {
        self.hasher.update(b);
        self.inner.write_all(b)?;
        Ok(())
    }

    pub(crate) fn u32(&mut self, v: u32) -> Result<(), VectorError> {
        self.bytes(&v.to_le_bytes())
    }

    pub(crate) fn u64(&mut self, v: u64) -> Result<(), VectorError> {
        self.bytes(&v.to_le_bytes())
    }

    /// Writes `items` encoded by `encode`, a chunk at a time.
    fn array<T: Copy, const WIDTH: usize>(
        &mut self,
        items: &[T],
        encode: fn(T) -> [u8; WIDTH],
    ) -> Result<(), VectorError> {
        let mut chunk = std::mem::take(&mut self.chunk);
        for part in items.chunks(CHUNK_BYTES / WIDTH) {
            chunk.clear();
            chunk.extend(part.iter().flat_map(|&x| encode(x)));
            self.bytes(&chunk)?;
        }
        self.chunk = chunk;
        Ok(())
    }

    pub(crate) fn f32s(&mut self, items: &[f32]) -> Result<(), VectorError> {
        self.array(items, f32::to_le_bytes)
    }

    pub(crate) fn u32s(&mut self, items: &[u32]) -> Result<(), VectorError> {
        self.array(items, u32::to_le_bytes)
    }

    /// Writes the checksum of everything so far and flushes.
    pub(crate) fn finish(mut self) -> Result<(), VectorError> {
        let hash = self.hasher.finalize();
        self.inner.write_all(hash.as_bytes())?;
        self.inner.flush()?;
        Ok(())
    }
}
