//! Reads tensors from a `.safetensors` file: an 8-byte little-endian
//! header length, a JSON header naming each tensor's dtype, shape and byte
//! range, then the raw data. Only what BERT-style weights use is read
//! (F32, F16 and BF16, converted to f32).

use engram_core::{Error, Result};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// Largest header accepted (real headers are tens of kilobytes).
const HEADER_BYTES_MAX: u64 = 16 * 1024 * 1024;

#[derive(Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

/// A loaded file: its bytes and where each tensor sits in them.
pub struct Tensors {
    bytes: Vec<u8>,
    data_start: usize,
    entries: HashMap<String, Entry>,
}

impl Tensors {
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::invalid(format!("reading {}: {e}", path.display())))?;
        Self::parse(bytes).map_err(|e| e.context(&path.display().to_string()))
    }

    fn parse(bytes: Vec<u8>) -> Result<Self> {
        let head: [u8; 8] = bytes.get(..8).and_then(|b| b.try_into().ok()).ok_or_else(|| bad("file too short"))?;
        let n = u64::from_le_bytes(head);
        if n > HEADER_BYTES_MAX || 8 + n > bytes.len() as u64 {
            return Err(bad("header length out of range"));
        }
        let data_start = 8 + n as usize;
        let mut raw: HashMap<String, serde_json::Value> =
            serde_json::from_slice(&bytes[8..data_start]).map_err(|e| bad(&format!("header: {e}")))?;
        raw.remove("__metadata__");
        let mut entries = HashMap::with_capacity(raw.len());
        for (name, v) in raw {
            let e: Entry = serde_json::from_value(v).map_err(|e| bad(&format!("tensor {name}: {e}")))?;
            let (a, b) = e.data_offsets;
            if a > b || data_start.checked_add(b).is_none_or(|end| end > bytes.len()) {
                return Err(bad(&format!("tensor {name}: data range out of the file")));
            }
            entries.insert(name, e);
        }
        Ok(Self { bytes, data_start, entries })
    }

    /// The tensor `name` as f32 values, checked to have `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let e = self.entries.get(name).ok_or_else(|| bad(&format!("missing tensor {name}")))?;
        if e.shape != shape {
            return Err(bad(&format!("tensor {name} has shape {:?}, expected {shape:?}", e.shape)));
        }
        let count: usize = shape.iter().product();
        let data = &self.bytes[self.data_start + e.data_offsets.0..self.data_start + e.data_offsets.1];
        let width = match e.dtype.as_str() {
            "F32" => 4,
            "F16" | "BF16" => 2,
            other => return Err(bad(&format!("tensor {name} has dtype {other}; F32, F16 or BF16 expected"))),
        };
        if data.len() != count * width {
            return Err(bad(&format!("tensor {name}: {} bytes for {count} values", data.len())));
        }
        Ok(match e.dtype.as_str() {
            "F32" => data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            "F16" => data.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect(),
            _ => data
                .chunks_exact(2)
                .map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16))
                .collect(),
        })
    }

    /// Whether a tensor of this name exists.
    pub fn has(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }
}

fn bad(what: &str) -> Error {
    Error::invalid(format!("invalid safetensors file: {what}"))
}

/// IEEE 754 half precision to single precision (subnormals included).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: value = f * 2^-24.
            let v = f as f32 * 2f32.powi(-24);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn reads_f32_and_f16_tensors() {
        let mut data = Vec::new();
        for x in [1.5f32, -2.0] {
            data.extend_from_slice(&x.to_le_bytes());
        }
        data.extend_from_slice(&0x3c00u16.to_le_bytes()); // 1.0 in f16
        let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[1],"data_offsets":[8,10]},"__metadata__":{"format":"pt"}}"#;
        let t = Tensors::parse(file(h, &data)).unwrap();
        assert_eq!(t.get("a", &[2]).unwrap(), vec![1.5, -2.0]);
        assert_eq!(t.get("b", &[1]).unwrap(), vec![1.0]);
        assert!(t.get("a", &[3]).unwrap_err().to_string().contains("shape"));
        assert!(t.get("c", &[1]).unwrap_err().to_string().contains("missing tensor c"));
    }

    #[test]
    fn rejects_truncated_and_out_of_range_files() {
        assert!(Tensors::parse(vec![1, 2]).is_err());
        assert!(Tensors::parse(file(r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, &[0; 8])).is_err());
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(Tensors::parse(huge).is_err());
        let wraps = format!(r#"{{"a":{{"dtype":"F32","shape":[1],"data_offsets":[0,{}]}}}}"#, usize::MAX);
        assert!(Tensors::parse(file(&wraps, &[0; 4])).is_err());
    }

    #[test]
    fn half_precision_values_convert() {
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert!(f16_to_f32(0x7c00).is_infinite());
    }
}
