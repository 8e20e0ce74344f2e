//! The saved form of a space's search index: one file per space, written
//! to a temporary name, synced and renamed, so a crash leaves either the
//! old file or the new one. The file records the change-log position and
//! entry hash it covers; loading replays the log from there.
//!
//! Layout (little-endian): magic, format version, space id, position, head
//! hash, collection count, then per collection its id, spec fingerprint,
//! slots (id, version, expiry, payload JSON) and the text and vector index
//! blobs (each length-prefixed, with its own checksum), and last a BLAKE3
//! digest of all the bytes before it.
//!
//! Invariant: each blob is read from exactly its own bytes. The text and
//! vector readers check the end of their input (their checksum, then that
//! nothing follows), so a blob read from the rest of the file fails as soon
//! as anything comes after it; format 1 wrote blobs unprefixed, and no text
//! index ever loaded back from it.

use crate::catalog::Compiled;
use crate::search::coll_index::{CollIndex, Slot, text_error, vector_error};
use crate::search::space_index::SpaceIndex;
use crate::search::store::IndexStore;
use engram_core::backend::{CollectionId, SpaceId};
use engram_core::json::decode_document;
use engram_core::{Error, Result};
use engram_text::TextIndex;
use engram_vector::VectorIndex;
use std::io::{BufWriter, Read, Write};
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"ENGRMSIX";
const FORMAT_VERSION: u32 = 2;
/// Bytes buffered before each write to the store.
const WRITE_BUFFER_BYTES: usize = 1 << 20;
/// Bytes of one length-prefixed string or JSON payload read back.
const FIELD_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// The file name of a space's index.
pub(crate) fn file_name(space: SpaceId) -> String {
    format!("space-{}.idx", space.0)
}

fn io(store: &dyn IndexStore, name: &str, what: &str, e: &std::io::Error) -> Error {
    Error::internal(format!("search index file {}: {what}: {e}", store.describe(name)))
}

// ----- writing ---------------------------------------------------------

struct HashingWriter<W> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Saves `index` atomically: written to a temporary file, synced, renamed.
pub(crate) fn save(store: &dyn IndexStore, index: &SpaceIndex) -> Result<()> {
    let name = file_name(index.space);
    let tmp = format!("{name}.tmp");
    let file = store.create(&tmp).map_err(|e| io(store, &tmp, "create", &e))?;
    let mut w =
        HashingWriter { inner: BufWriter::with_capacity(WRITE_BUFFER_BYTES, file), hasher: blake3::Hasher::new() };
    write_index(&mut w, index).map_err(|e| e.context(&format!("writing {}", store.describe(&tmp))))?;
    let digest = w.hasher.finalize();
    let mut file = w.inner.into_inner().map_err(|e| io(store, &tmp, "write", e.error()))?;
    file.write_all(digest.as_bytes()).map_err(|e| io(store, &tmp, "write", &e))?;
    file.sync().map_err(|e| io(store, &tmp, "sync", &e))?;
    drop(file);
    fail::fail_point!("engram.index.save", |_| Err(Error::internal("injected failure saving a search index")));
    store.rename(&tmp, &name).map_err(|e| io(store, &name, "rename", &e))
}

/// Removes a space's saved index (after a rebuild is requested or the
/// space is gone).
pub(crate) fn remove(store: &dyn IndexStore, space: SpaceId) -> Result<()> {
    let name = file_name(space);
    store.remove(&name).map_err(|e| io(store, &name, "remove", &e))
}

fn write_index(w: &mut dyn Write, index: &SpaceIndex) -> Result<()> {
    let ioe = |e: std::io::Error| Error::internal(e.to_string());
    w.write_all(MAGIC).map_err(ioe)?;
    put_u32(w, FORMAT_VERSION)?;
    put_u64(w, index.space.0 as u64)?;
    put_u64(w, index.position)?;
    w.write_all(&index.head_hash).map_err(ioe)?;
    put_u32(w, index.colls.len() as u32)?;
    let mut colls: Vec<&CollIndex> = index.colls.values().collect();
    colls.sort_by_key(|c| c.coll);
    for c in colls {
        write_coll(w, c)?;
    }
    Ok(())
}

fn write_coll(w: &mut dyn Write, c: &CollIndex) -> Result<()> {
    put_u64(w, c.coll.0 as u64)?;
    put_bytes(w, c.fingerprint.as_bytes())?;
    put_u32(w, c.slots.len() as u32)?;
    for slot in &c.slots {
        match slot {
            None => put_u8(w, 0)?,
            Some(s) => {
                put_u8(w, 1)?;
                put_bytes(w, s.id.as_bytes())?;
                put_u64(w, s.version)?;
                put_u64(w, s.expires_at_ms.map_or(0, |t| t.saturating_add(1)))?;
                put_bytes(w, serde_json::to_string(&s.payload).expect("JSON values serialize").as_bytes())?;
            }
        }
    }
    match &c.text {
        None => put_u8(w, 0)?,
        Some(t) => {
            put_u8(w, 1)?;
            let mut blob = Vec::new();
            t.write_to(&mut blob).map_err(text_error)?;
            put_bytes(w, &blob)?;
        }
    }
    put_u32(w, c.vectors.len() as u32)?;
    for v in &c.vectors {
        let mut blob = Vec::new();
        v.write_to(&mut blob).map_err(vector_error)?;
        put_bytes(w, &blob)?;
    }
    Ok(())
}

fn put_u8(w: &mut dyn Write, v: u8) -> Result<()> {
    w.write_all(&[v]).map_err(|e| Error::internal(e.to_string()))
}
fn put_u32(w: &mut dyn Write, v: u32) -> Result<()> {
    w.write_all(&v.to_le_bytes()).map_err(|e| Error::internal(e.to_string()))
}
fn put_u64(w: &mut dyn Write, v: u64) -> Result<()> {
    w.write_all(&v.to_le_bytes()).map_err(|e| Error::internal(e.to_string()))
}
fn put_bytes(w: &mut dyn Write, b: &[u8]) -> Result<()> {
    put_u64(w, b.len() as u64)?;
    w.write_all(b).map_err(|e| Error::internal(e.to_string()))
}

// ----- reading ---------------------------------------------------------

/// The reader every decoding step takes.
type Src = HashingReader<Box<dyn Read + Send>>;

struct HashingReader<R> {
    inner: R,
    hasher: blake3::Hasher,
    /// Bytes left before the trailing digest.
    left: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..want])?;
        self.hasher.update(&buf[..n]);
        self.left -= n as u64;
        Ok(n)
    }
}

/// A loaded index, or `None` when there is no file. Collections that no
/// longer exist are skipped. A damaged file is an error of kind
/// `Corrupted`; callers rebuild.
pub(crate) fn load(store: &dyn IndexStore, space: SpaceId, colls: &[Arc<Compiled>]) -> Result<Option<SpaceIndex>> {
    let name = file_name(space);
    let Some((file, len)) = store.open(&name).map_err(|e| io(store, &name, "open", &e))? else { return Ok(None) };
    if len < 32 {
        return Err(Error::corrupted(format!("search index file {} is truncated", store.describe(&name))));
    }
    let mut r = HashingReader { inner: file, hasher: blake3::Hasher::new(), left: len - 32 };
    let index = read_index(&mut r, space, colls).map_err(|e| e.context(&store.describe(&name)))?;
    let mut digest = [0u8; 32];
    r.inner.read_exact(&mut digest).map_err(|_| corrupt("truncated before its checksum"))?;
    if r.left != 0 || digest != *r.hasher.finalize().as_bytes() {
        return Err(Error::corrupted(format!("search index file {} fails its checksum", store.describe(&name))));
    }
    Ok(Some(index))
}

fn corrupt(what: &str) -> Error {
    Error::corrupted(format!("damaged search index: {what}"))
}

fn read_index(r: &mut Src, space: SpaceId, colls: &[Arc<Compiled>]) -> Result<SpaceIndex> {
    let mut magic = [0u8; 8];
    read_exact(r, &mut magic)?;
    if &magic != MAGIC {
        return Err(corrupt("not a search index file"));
    }
    let version = get_u32(r)?;
    if version != FORMAT_VERSION {
        return Err(corrupt(&format!("format version {version}, this build reads {FORMAT_VERSION}")));
    }
    if get_u64(r)? != space.0 as u64 {
        return Err(corrupt("the file belongs to another space"));
    }
    let mut index = SpaceIndex::empty(space);
    index.position = get_u64(r)?;
    read_exact(r, &mut index.head_hash)?;
    let n = get_u32(r)?;
    for _ in 0..n {
        let id = CollectionId(get_u64(r)? as i64);
        let coll = colls.iter().find(|c| c.row.id == id);
        if let Some(c) = read_coll(r, id, coll)? {
            index.colls.insert(id, c);
        }
    }
    Ok(index)
}

fn read_coll(r: &mut Src, id: CollectionId, coll: Option<&Arc<Compiled>>) -> Result<Option<CollIndex>> {
    let fingerprint = String::from_utf8(get_bytes(r)?).map_err(|_| corrupt("fingerprint is not UTF-8"))?;
    let n = get_u32(r)? as usize;
    let mut slots = Vec::with_capacity(n.min(r.left as usize / 2));
    for _ in 0..n {
        slots.push(read_slot(r)?);
    }
    let text = match get_u8(r)? {
        0 => None,
        1 => Some(read_blob(r, "text", |b| TextIndex::read_from(b).map_err(|e| e.to_string()))?),
        _ => return Err(corrupt("bad text index flag")),
    };
    let nv = get_u32(r)? as usize;
    let mut vectors = Vec::new();
    for _ in 0..nv {
        vectors.push(read_blob(r, "vector", |b| VectorIndex::read_from(b).map_err(|e| e.to_string()))?);
    }
    let Some(coll) = coll else { return Ok(None) };
    let Some(search) = coll.search.as_ref() else { return Ok(None) };
    let mut index = CollIndex::new(coll, search)?;
    index.fingerprint = fingerprint;
    index.text = text;
    index.vectors = vectors;
    index.slots = slots;
    for (key, slot) in index.slots.iter_mut().enumerate() {
        let Some(s) = slot else { continue };
        s.keys = coll.index_entries(&s.payload);
        for e in &s.keys {
            index.keyset.insert((e.index, e.key.clone(), key as u32));
        }
        index.by_id.insert(s.id.clone(), key as u32);
    }
    index.restore_free_list();
    let _ = id;
    Ok(Some(index))
}

/// Reads one length-prefixed blob with `parse`, which sees exactly the
/// blob's bytes and must consume all of them.
fn read_blob<T>(
    r: &mut Src,
    what: &str,
    parse: impl FnOnce(&mut dyn Read) -> std::result::Result<T, String>,
) -> Result<T> {
    let n = get_u64(r)?;
    if n > r.left {
        return Err(corrupt(&format!("the {what} index runs past the end of the file")));
    }
    let mut blob = (&mut *r).take(n);
    let value = parse(&mut blob).map_err(|e| corrupt(&format!("{what} index: {e}")))?;
    if blob.limit() != 0 {
        return Err(corrupt(&format!("{what} index: {} bytes left unread", blob.limit())));
    }
    Ok(value)
}

fn read_slot(r: &mut Src) -> Result<Option<Slot>> {
    match get_u8(r)? {
        0 => Ok(None),
        1 => {
            let id = String::from_utf8(get_bytes(r)?).map_err(|_| corrupt("document id is not UTF-8"))?;
            let version = get_u64(r)?;
            let expires = get_u64(r)?;
            let payload_text = String::from_utf8(get_bytes(r)?).map_err(|_| corrupt("payload is not UTF-8"))?;
            let payload = decode_document(&payload_text).map_err(|_| corrupt("payload is not JSON"))?;
            let expires_at_ms = expires.checked_sub(1);
            Ok(Some(Slot { id, version, expires_at_ms, payload, keys: Vec::new() }))
        }
        _ => Err(corrupt("bad slot flag")),
    }
}

fn read_exact(r: &mut impl Read, buf: &mut [u8]) -> Result<()> {
    r.read_exact(buf).map_err(|_| corrupt("truncated"))
}
fn get_u8(r: &mut impl Read) -> Result<u8> {
    let mut b = [0u8; 1];
    read_exact(r, &mut b)?;
    Ok(b[0])
}
fn get_u32(r: &mut impl Read) -> Result<u32> {
    let mut b = [0u8; 4];
    read_exact(r, &mut b)?;
    Ok(u32::from_le_bytes(b))
}
fn get_u64(r: &mut impl Read) -> Result<u64> {
    let mut b = [0u8; 8];
    read_exact(r, &mut b)?;
    Ok(u64::from_le_bytes(b))
}
fn get_bytes(r: &mut Src) -> Result<Vec<u8>> {
    let n = get_u64(r)?;
    if n > FIELD_BYTES_MAX || n > r.left {
        return Err(corrupt("a length runs past the end of the file"));
    }
    let mut b = vec![0u8; n as usize];
    read_exact(r, &mut b)?;
    Ok(b)
}
