//! An embedded field's generations: which ones a document must carry,
//! the text each is computed from, and the check that what a write
//! carries matches the text it commits.

use engram_core::path::JsonPath;
use engram_core::search_spec::{EmbeddingModel, VectorFieldSpec, generation_key};
use engram_core::{Error, ErrorKind, Result};
use serde_json::{Map, Value};

/// Separator between the texts of a field's source paths.
const SOURCE_SEPARATOR: &str = "\n";

/// One generation documents must carry.
#[derive(Debug, Clone)]
pub(crate) struct Generation {
    pub key: String,
    pub from: Vec<JsonPath>,
    /// The embedder's configured name.
    pub embedder: String,
    pub model: EmbeddingModel,
    pub dims: u32,
}

/// An embedded vector field, compiled.
#[derive(Debug, Clone)]
pub(crate) struct CompiledEmbed {
    /// The current generation (searches read it) first, then the next.
    pub generations: Vec<Generation>,
}

impl CompiledEmbed {
    pub fn compile(v: &VectorFieldSpec) -> Result<Option<Self>> {
        let Some(embed) = &v.embed else { return Ok(None) };
        let parse = |from: &[String]| from.iter().map(|p| JsonPath::parse(p)).collect::<Result<Vec<_>>>();
        let mut generations = vec![Generation {
            key: generation_key(v.generation),
            from: parse(&embed.from)?,
            embedder: embed.model.clone(),
            model: v.model.clone(),
            dims: v.dims,
        }];
        if let Some(n) = &v.next {
            generations.push(Generation {
                key: generation_key(n.generation),
                from: parse(&n.embed.from)?,
                embedder: n.embed.model.clone(),
                model: n.model.clone(),
                dims: n.dims,
            });
        }
        Ok(Some(Self { generations }))
    }

    /// The current generation's vector in a field value, if any.
    pub fn current<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        value.get(&self.generations[0].key)?.get("vector")
    }
}

/// The text a generation embeds: its source paths' strings (or arrays of
/// strings), joined by newlines; empty when none holds text.
pub(crate) fn source_text(body: &Value, from: &[JsonPath]) -> Result<String> {
    let mut parts: Vec<&str> = Vec::new();
    for p in from {
        match p.lookup(body) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => parts.push(s),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                parts.extend(items.iter().filter_map(Value::as_str));
            }
            Some(_) => {
                return Err(Error::invalid(format!(
                    "embedding source {:?} must be a string or an array of strings",
                    p.as_str()
                )));
            }
        }
    }
    parts.retain(|s| !s.is_empty());
    Ok(parts.join(SOURCE_SEPARATOR))
}

/// The digest recorded beside a vector: of the text it was computed from.
pub(crate) fn source_hash(text: &str) -> String {
    format!("blake3:{}", &blake3::hash(text.as_bytes()).to_hex()[..32])
}

/// The entry a generation's vector is stored as.
pub(crate) fn entry(g: &Generation, text: &str, vector: Vec<f32>) -> Value {
    let mut m = Map::new();
    m.insert("model".into(), Value::String(g.model.name.clone()));
    m.insert("version".into(), Value::String(g.model.version.clone()));
    m.insert("source".into(), Value::String(source_hash(text)));
    m.insert("vector".into(), Value::Array(vector.into_iter().map(short_number).collect()));
    Value::Object(m)
}

/// An f32 as the shortest decimal that reads back as the same f32 (the
/// f64 widening of an f32 would print 17 digits).
fn short_number(x: f32) -> Value {
    let shortest: f64 = x.to_string().parse().unwrap_or(f64::from(x));
    Value::from(shortest)
}

/// Whether `entry` holds a vector of generation `g` computed from `text`.
pub(crate) fn entry_matches(g: &Generation, text: &str, entry: Option<&Value>) -> bool {
    let Some(Value::Object(e)) = entry else { return false };
    let is = |k: &str, want: &str| e.get(k).and_then(Value::as_str) == Some(want);
    is("model", &g.model.name)
        && is("version", &g.model.version)
        && is("source", &source_hash(text))
        && e.get("vector")
            .and_then(Value::as_array)
            .is_some_and(|v| v.len() == g.dims as usize && v.iter().all(|x| x.as_f64().is_some_and(f64::is_finite)))
}

/// Checks, inside the writing transaction, that the field's value carries
/// every required generation computed from the body's text. A mismatch
/// is a `Conflict` (the text or the spec changed since the vectors were
/// computed; the write path embeds again and retries).
pub(crate) fn check(body: &Value, path: &JsonPath, name: &str, embed: &CompiledEmbed) -> Result<()> {
    let value = path.lookup(body).filter(|v| !v.is_null());
    if value.is_some_and(|v| !v.is_object()) {
        return Err(Error::invalid(format!("vector field {name:?} is computed by its embedder; do not write it")));
    }
    match stale_generation(body, value, embed)? {
        None => Ok(()),
        Some(g) => Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "the embedding of vector field {name:?} ({}) does not match the document's text; the text or the \
                 collection's spec changed while it was computed, retry the write",
                g.key
            ),
        )),
    }
}

/// The first generation `embed` requires that the field's `value` lacks
/// an entry for, computed from `body`'s text (an entry where the text is
/// empty counts as wrong too). An error when a source is not text.
pub(crate) fn stale_generation<'a>(
    body: &Value,
    value: Option<&Value>,
    embed: &'a CompiledEmbed,
) -> Result<Option<&'a Generation>> {
    for g in &embed.generations {
        let text = source_text(body, &g.from)?;
        let entry = value.and_then(|v| v.get(&g.key)).filter(|e| !e.is_null());
        let ok = if text.is_empty() { entry.is_none() } else { entry_matches(g, &text, entry) };
        if !ok {
            return Ok(Some(g));
        }
    }
    Ok(None)
}

/// The embedder that computes generation `g`, checked to be the model the
/// spec records (a replaced model would mix two vector spaces).
pub(crate) fn embedder_for<'a>(
    embedders: &'a engram_core::embed::Embedders,
    g: &Generation,
) -> Result<&'a std::sync::Arc<dyn engram_core::embed::Embedder>> {
    let e = embedders.get(&g.embedder)?;
    let have = e.info();
    if have.model != g.model || have.dims != g.dims {
        return Err(Error::new(
            ErrorKind::Unavailable,
            format!(
                "embedder {:?} here is {} {} ({} dimensions); the collection's spec records {} {} ({}): configure \
                 the same model, or declare the spec again to switch to this one",
                g.embedder, have.model.name, have.model.version, have.dims, g.model.name, g.model.version, g.dims
            ),
        ));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn generation() -> Generation {
        Generation {
            key: "g0".into(),
            from: vec![JsonPath::parse("title").expect("path"), JsonPath::parse("tags").expect("path")],
            embedder: "e".into(),
            model: EmbeddingModel { name: "e".into(), version: "1".into() },
            dims: 2,
        }
    }

    #[test]
    fn source_text_joins_strings_and_rejects_other_values() {
        let g = generation();
        assert_eq!(source_text(&json!({"title": "a", "tags": ["b", "", "c"]}), &g.from).expect("text"), "a\nb\nc");
        assert_eq!(source_text(&json!({"other": 1}), &g.from).expect("text"), "");
        assert!(source_text(&json!({"title": 5}), &g.from).is_err());
    }

    #[test]
    fn check_requires_an_entry_from_the_committed_text() {
        let g = generation();
        let embed = CompiledEmbed { generations: vec![g.clone()] };
        let path = JsonPath::parse("emb").expect("path");
        let good = json!({"title": "hi", "emb": {"g0": entry(&g, "hi", vec![1.0, 0.0])}});
        check(&good, &path, "emb", &embed).expect("matches");
        let stale = json!({"title": "changed", "emb": {"g0": entry(&g, "hi", vec![1.0, 0.0])}});
        assert_eq!(check(&stale, &path, "emb", &embed).expect_err("stale").kind(), ErrorKind::Conflict);
        let missing = json!({"title": "hi"});
        assert_eq!(check(&missing, &path, "emb", &embed).expect_err("missing").kind(), ErrorKind::Conflict);
        check(&json!({}), &path, "emb", &embed).expect("no text, no vector");
        let written = json!({"title": "hi", "emb": [1, 0]});
        assert_eq!(check(&written, &path, "emb", &embed).expect_err("raw").kind(), ErrorKind::InvalidInput);
        assert_eq!(embed.current(&good["emb"]).and_then(Value::as_array).map(Vec::len), Some(2));
    }
}
