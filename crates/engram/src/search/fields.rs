//! A collection's searchable fields, compiled: where its text and vectors
//! sit in documents, how to check them on write and extract them to index.

use crate::embedding;
use crate::embedding::fields::CompiledEmbed;
use engram_core::path::JsonPath;
use engram_core::search_spec::{SearchSpec, VectorFieldSpec, VectorMetric};
use engram_core::{Error, Result};
use serde_json::Value;

/// Separator between the strings of an array-valued text field, so a phrase
/// never matches across two elements by accident of concatenation.
const TEXT_ARRAY_SEPARATOR: &str = "\n\u{2029}\n";

/// A declared vector field with its parsed path.
pub(crate) struct CompiledVector {
    pub spec: VectorFieldSpec,
    pub path: JsonPath,
    /// How the engine computes it, for an embedded field.
    pub embed: Option<CompiledEmbed>,
}

/// A collection's search declarations, ready for use.
pub(crate) struct CompiledSearch {
    pub spec: SearchSpec,
    pub text: Vec<(JsonPath, f32)>,
    pub vectors: Vec<CompiledVector>,
}

impl CompiledSearch {
    /// Compiles a validated spec; `None` when it declares nothing.
    pub fn compile(spec: Option<&SearchSpec>) -> Result<Option<Self>> {
        let Some(spec) = spec.filter(|s| !s.is_empty()) else { return Ok(None) };
        spec.validate()?;
        let text = spec.text.iter().map(|t| Ok((JsonPath::parse(&t.path)?, t.boost))).collect::<Result<_>>()?;
        let vectors = spec
            .vectors
            .iter()
            .map(|v| {
                Ok(CompiledVector {
                    spec: v.clone(),
                    path: JsonPath::parse(v.path())?,
                    embed: CompiledEmbed::compile(v)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Some(Self { spec: spec.clone(), text, vectors }))
    }

    /// Text field names (their paths), in declaration order.
    pub fn text_fields(&self) -> Vec<&str> {
        self.text.iter().map(|(p, _)| p.as_str()).collect()
    }

    /// The index of a vector field by name, or of the default one.
    pub fn vector_field(&self, name: Option<&str>) -> Result<usize> {
        let wanted = match name {
            Some(n) => n,
            None => match self.spec.default_vector() {
                Some(v) => v.name.as_str(),
                None => return Err(Error::invalid("the collection declares no vector field")),
            },
        };
        self.vectors
            .iter()
            .position(|v| v.spec.name == wanted)
            .ok_or_else(|| Error::invalid(format!("unknown vector field {wanted:?}")))
    }

    /// Checks a document's text and vector fields; the error names the field.
    pub fn check_doc(&self, body: &Value) -> Result<()> {
        for (path, _) in &self.text {
            check_text(path.lookup(body)).map_err(|e| e.context(&format!("text field {:?}", path.as_str())))?;
        }
        for v in &self.vectors {
            if let Some(embed) = &v.embed {
                embedding::fields::check(body, &v.path, &v.spec.name, embed)?;
            } else if let Some(value) = v.path.lookup(body).filter(|x| !x.is_null()) {
                parse_vector(value, &v.spec).map_err(|e| e.context(&format!("vector field {:?}", v.spec.name)))?;
            }
        }
        Ok(())
    }

    /// The document's text per text field (by field number), empty ones left out.
    pub fn texts(&self, body: &Value) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for (i, (path, _)) in self.text.iter().enumerate() {
            let text = match path.lookup(body) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(items)) => {
                    items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(TEXT_ARRAY_SEPARATOR)
                }
                _ => continue,
            };
            if !text.is_empty() {
                out.push((i, text));
            }
        }
        out
    }

    /// The document's vector for field `i`, when it has a valid one.
    pub fn vector(&self, i: usize, body: &Value) -> Option<Vec<f32>> {
        let v = &self.vectors[i];
        let value = v.path.lookup(body).filter(|x| !x.is_null())?;
        let value = match &v.embed {
            Some(embed) => embed.current(value)?,
            None => value,
        };
        parse_vector(value, &v.spec).ok()
    }

    /// The body without its vectors: what filters are evaluated on.
    pub fn payload(&self, body: &Value) -> Value {
        let mut payload = body.clone();
        for v in &self.vectors {
            remove_path(&mut payload, v.path.as_str());
        }
        payload
    }
}

fn check_text(value: Option<&Value>) -> Result<()> {
    match value {
        None | Some(Value::Null | Value::String(_)) => Ok(()),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err(Error::invalid("must be a string or an array of strings")),
    }
}

/// Parses a JSON array into a vector of the declared shape.
pub(crate) fn parse_vector(value: &Value, spec: &VectorFieldSpec) -> Result<Vec<f32>> {
    let Value::Array(items) = value else {
        return Err(Error::invalid(format!("must be an array of {} numbers", spec.dims)));
    };
    let v = numbers(items)?;
    check_vector(&v, spec)?;
    Ok(v)
}

fn numbers(items: &[Value]) -> Result<Vec<f32>> {
    items
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let n = x.as_f64().ok_or_else(|| Error::invalid(format!("element {i} is not a number")))?;
            let f = n as f32;
            if !f.is_finite() {
                return Err(Error::invalid(format!("element {i} ({n}) is not a finite 32-bit float")));
            }
            Ok(f)
        })
        .collect()
}

/// Checks dimensions, finiteness and (for cosine) a non-zero norm.
pub(crate) fn check_vector(v: &[f32], spec: &VectorFieldSpec) -> Result<()> {
    if v.len() != spec.dims as usize {
        return Err(Error::invalid(format!("has {} dimensions, the field declares {}", v.len(), spec.dims)));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::invalid(format!("element {i} is not a finite number (NaN or infinite)")));
    }
    if spec.metric == VectorMetric::Cosine && v.iter().all(|x| *x == 0.0) {
        return Err(Error::invalid("is all zeros, which has no cosine direction"));
    }
    Ok(())
}

fn remove_path(doc: &mut Value, path: &str) {
    let mut segs: Vec<&str> = path.split('.').collect();
    let Some(last) = segs.pop() else { return };
    let mut cur = doc;
    for s in segs {
        cur = match cur {
            Value::Object(m) => match m.get_mut(s) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    if let Value::Object(m) = cur {
        m.remove(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engram_core::search_spec::{EmbeddingModel, HnswSpec, TextFieldSpec};
    use serde_json::json;

    fn spec() -> SearchSpec {
        SearchSpec {
            text: vec![
                TextFieldSpec { path: "title".into(), boost: 2.0 },
                TextFieldSpec { path: "tags".into(), boost: 1.0 },
            ],
            vectors: vec![VectorFieldSpec {
                name: "emb".into(),
                path: Some("v.emb".into()),
                dims: 3,
                metric: VectorMetric::Cosine,
                model: EmbeddingModel { name: "m".into(), version: "1".into() },
                hnsw: HnswSpec::default(),
                embed: None,
                generation: 0,
                next: None,
                backfilling: false,
            }],
            default_vector: None,
        }
    }

    #[test]
    fn checks_and_extracts() {
        let c = CompiledSearch::compile(Some(&spec())).expect("compiles").expect("declares fields");
        let body = json!({"title": "Hello", "tags": ["a", "b"], "v": {"emb": [1, 0, 0.5]}, "n": 1});
        c.check_doc(&body).expect("ok");
        assert_eq!(c.texts(&body), vec![(0, "Hello".to_owned()), (1, format!("a{TEXT_ARRAY_SEPARATOR}b"))]);
        assert_eq!(c.vector(0, &body), Some(vec![1.0, 0.0, 0.5]));
        assert_eq!(c.payload(&body), json!({"title": "Hello", "tags": ["a", "b"], "v": {}, "n": 1}));
    }

    #[test]
    fn rejects_bad_fields_naming_them() {
        let c = CompiledSearch::compile(Some(&spec())).expect("compiles").expect("declares fields");
        for (body, needle) in [
            (json!({"title": 5}), "text field \"title\""),
            (json!({"tags": ["a", 1]}), "text field \"tags\""),
            (json!({"v": {"emb": [1, 2]}}), "2 dimensions"),
            (json!({"v": {"emb": [0, 0, 0]}}), "all zeros"),
            (json!({"v": {"emb": [1, "x", 0]}}), "element 1"),
            (json!({"v": {"emb": [1, 1e300, 0]}}), "finite"),
            (json!({"v": {"emb": "nope"}}), "array of 3"),
        ] {
            let err = c.check_doc(&body).expect_err("rejected");
            assert!(err.to_string().contains(needle), "{body}: {err}");
        }
        c.check_doc(&json!({"v": {"emb": null}, "title": null})).expect("ok");
    }

    #[test]
    fn picks_vector_fields() {
        let mut s = spec();
        let c = CompiledSearch::compile(Some(&s)).expect("compiles").expect("declares fields");
        assert_eq!(c.vector_field(None).expect("ok"), 0);
        assert!(c.vector_field(Some("other")).expect_err("rejected").to_string().contains("unknown vector field"));
        s.default_vector = Some("missing".into());
        assert!(CompiledSearch::compile(Some(&s)).is_err());
    }
}
