//! Byte-level encoding for the file format: LEB128 varints through a hashing writer, and a bounds-checked
//! decoder that turns every malformation into [`TextError::Corrupt`].

use std::io::Write;

use crate::error::TextError;

/// Bytes buffered before a write to the underlying writer.
const WRITE_BUFFER_BYTES_MAX: usize = 64 << 10;

/// Buffers output, hashing every byte written, and appends the BLAKE3 digest on [`Encoder::finish`].
pub(crate) struct Encoder<'w> {
    out: &'w mut dyn Write,
    hasher: blake3::Hasher,
    buf: Vec<u8>,
}

impl<'w> Encoder<'w> {
    pub(crate) fn new(out: &'w mut dyn Write) -> Encoder<'w> {
        Encoder { out, hasher: blake3::Hasher::new(), buf: Vec::with_capacity(WRITE_BUFFER_BYTES_MAX) }
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> Result<(), TextError> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= WRITE_BUFFER_BYTES_MAX {
            self.flush()?;
        }
        Ok(())
    }

    pub(crate) fn varint(&mut self, mut value: u64) -> Result<(), TextError> {
        let mut tmp = [0u8; 10];
        let mut n = 0;
        while value >= 0x80 {
            tmp[n] = (value as u8) | 0x80;
            value >>= 7;
            n += 1;
        }
        tmp[n] = value as u8;
        self.bytes(&tmp[..=n])
    }

    /// A length-prefixed UTF-8 string.
    pub(crate) fn str(&mut self, s: &str) -> Result<(), TextError> {
        self.varint(s.len() as u64)?;
        self.bytes(s.as_bytes())
    }

    fn flush(&mut self) -> Result<(), TextError> {
        self.hasher.update(&self.buf);
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Writes the remaining bytes, then the checksum of everything before it.
    pub(crate) fn finish(mut self) -> Result<(), TextError> {
        self.flush()?;
        let digest = self.hasher.finalize();
        self.out.write_all(digest.as_bytes())?;
        self.out.flush()?;
        Ok(())
    }
}

/// Reads values from a verified byte slice; never panics and never trusts a count beyond the bytes left.
pub(crate) struct Decoder<'b> {
    buf: &'b [u8],
    pos: usize,
}

pub(crate) fn corrupt(what: impl Into<String>) -> TextError {
    TextError::Corrupt(what.into())
}

impl<'b> Decoder<'b> {
    pub(crate) fn new(buf: &'b [u8]) -> Decoder<'b> {
        Decoder { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'b [u8], TextError> {
        if n > self.remaining() {
            return Err(corrupt(format!("truncated: {n} bytes wanted at offset {}", self.pos)));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn varint(&mut self) -> Result<u64, TextError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.bytes(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(corrupt(format!("varint too long at offset {}", self.pos)))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, TextError> {
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| corrupt(format!("value {v} exceeds u32 at offset {}", self.pos)))
    }

    /// A count of items each taking at least `min_bytes`, rejected when the remaining bytes cannot hold them,
    /// so corrupt counts never cause huge allocations.
    pub(crate) fn count(&mut self, min_bytes: usize) -> Result<usize, TextError> {
        let n = self.varint()?;
        let fits = usize::try_from(n).ok().filter(|&n| n.saturating_mul(min_bytes.max(1)) <= self.remaining());
        fits.ok_or_else(|| corrupt(format!("count {n} exceeds remaining bytes at offset {}", self.pos)))
    }

    pub(crate) fn str(&mut self) -> Result<&'b str, TextError> {
        let len = self.count(1)?;
        std::str::from_utf8(self.bytes(len)?).map_err(|_| corrupt(format!("invalid UTF-8 before offset {}", self.pos)))
    }
}
