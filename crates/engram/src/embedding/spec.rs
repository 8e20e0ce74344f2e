//! A collection spec's embedded fields, as a caller declares them and as
//! they are stored: the engine fills in each embedder's model and checks
//! its dimensions, and a change of model or source text on a field with
//! documents becomes a model switch (a next generation, backfilled).

use engram_core::embed::{EmbedderInfo, Embedders};
use engram_core::search_spec::{NextEmbedding, SearchSpec, VectorFieldSpec};
use engram_core::{Error, Result};
use std::collections::BTreeMap;

/// The embedders a spec names, looked up before its transaction (the
/// registry is this process's configuration, not stored state).
pub(crate) fn resolve(spec: Option<&SearchSpec>, embedders: &Embedders) -> Result<BTreeMap<String, EmbedderInfo>> {
    let mut out = BTreeMap::new();
    for v in spec.map(|s| s.vectors.as_slice()).unwrap_or_default() {
        if let Some(e) = &v.embed {
            // Declaring a spec that names an embedder this server lacks is
            // the caller's mistake (400); a write to such a collection is
            // this server's (503, from `EngineConfig::embedders`).
            let info = embedders
                .get(&e.model)
                .map_err(|err| Error::invalid(format!("vector field {:?}: {}", v.name, err.message())))?;
            out.insert(e.model.clone(), info.info().clone());
        }
    }
    Ok(out)
}

/// Completes `spec`'s embedded fields against the stored spec
/// (`previous`, none for a new collection).
pub(crate) fn prepare(
    spec: &mut SearchSpec,
    previous: Option<&SearchSpec>,
    infos: &BTreeMap<String, EmbedderInfo>,
) -> Result<()> {
    for v in &mut spec.vectors {
        let old = previous.and_then(|p| p.vectors.iter().find(|o| o.name == v.name));
        prepare_field(v, old, previous.is_some(), infos)
            .map_err(|e| e.context(&format!("vector field {:?}", v.name)))?;
    }
    Ok(())
}

fn prepare_field(
    v: &mut VectorFieldSpec,
    old: Option<&VectorFieldSpec>,
    collection_exists: bool,
    infos: &BTreeMap<String, EmbedderInfo>,
) -> Result<()> {
    let Some(embed) = v.embed.clone() else {
        if old.is_some_and(|o| o.embed.is_some()) {
            // Its documents hold engine entries, not plain vectors.
            return Err(Error::invalid(
                "an embedded field cannot become a plain one; remove the field and declare a new one",
            ));
        }
        // A plain field: nothing engine-set may be given.
        v.generation = 0;
        v.next = None;
        v.backfilling = false;
        return Ok(());
    };
    if let Some(o) = old.filter(|o| o.embed.is_some() && o.path() != v.path()) {
        // Its documents hold entries at the old path.
        return Err(Error::invalid(format!(
            "an embedded field's path cannot change (from {:?} to {:?}); declare a new field",
            o.path(),
            v.path()
        )));
    }
    let info = infos.get(&embed.model).ok_or_else(|| Error::internal("embedder resolved before the transaction"))?;
    check_given(v, info)?;
    // A spec read back and sent again carries the switch in progress; one
    // that names the current model without it cancels the switch.
    let given_next = v.next.is_some();
    match old {
        Some(o) if o.embed.as_ref() == Some(&embed) && o.model == info.model && o.dims == info.dims => {
            v.model = o.model.clone();
            v.dims = o.dims;
            v.generation = o.generation;
            v.next = if given_next { o.next.clone() } else { None };
            v.backfilling = o.backfilling;
        }
        // A field that had vectors: switch, keeping the current generation
        // for searches until the next one is complete.
        Some(o) => {
            v.model = o.model.clone();
            v.dims = o.dims;
            v.embed = o.embed.clone();
            v.generation = o.generation;
            let keep = o.next.as_ref().filter(|n| n.embed == embed && n.model == info.model && n.dims == info.dims);
            let generation = o.generation.max(o.next.as_ref().map_or(0, |n| n.generation)) + 1;
            v.next = Some(keep.cloned().unwrap_or(NextEmbedding {
                embed: embed.clone(),
                model: info.model.clone(),
                dims: info.dims,
                generation,
            }));
            v.backfilling = true;
            // Nothing current to keep writing: vectors were written by
            // callers, or the current model's embedder (same name) is now
            // another model, so no write could compute the current
            // generation. Become current at once; the backfill fills
            // documents in, and searches meanwhile find the ones done.
            let current_gone = o.embed.as_ref().is_some_and(|e| e.model == embed.model) && o.model != info.model;
            if o.embed.is_none() || current_gone {
                let n = v.next.take().expect("just set");
                v.embed = Some(n.embed);
                v.model = n.model;
                v.dims = n.dims;
                v.generation = n.generation;
            }
        }
        // A new field: current at once; an existing collection's documents
        // are filled in by the backfill.
        None => {
            v.model = info.model.clone();
            v.dims = info.dims;
            v.generation = 1;
            v.next = None;
            v.backfilling = collection_exists;
        }
    }
    Ok(())
}

/// A caller may give dims, but they must be the embedder's (the model is
/// always the embedder's, or the stored generation's during a switch).
fn check_given(v: &VectorFieldSpec, info: &EmbedderInfo) -> Result<()> {
    if v.dims != 0 && v.dims != info.dims {
        return Err(Error::invalid(format!(
            "dims is {}, but embedder {:?} makes vectors of {} dimensions",
            v.dims, info.model.name, info.dims
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use engram_core::search_spec::{EmbedSpec, EmbeddingModel, HnswSpec, VectorMetric};

    fn info(name: &str, version: &str, dims: u32) -> EmbedderInfo {
        EmbedderInfo { model: EmbeddingModel { name: name.into(), version: version.into() }, dims }
    }

    fn field(model: &str) -> VectorFieldSpec {
        VectorFieldSpec {
            name: "emb".into(),
            path: None,
            dims: 0,
            metric: VectorMetric::Cosine,
            model: EmbeddingModel::default(),
            hnsw: HnswSpec::default(),
            embed: Some(EmbedSpec { from: vec!["text".into()], model: model.into() }),
            generation: 0,
            next: None,
            backfilling: false,
        }
    }

    fn infos() -> BTreeMap<String, EmbedderInfo> {
        [("a".to_owned(), info("a", "1", 3)), ("b".to_owned(), info("b", "2", 5))].into_iter().collect()
    }

    fn spec(v: VectorFieldSpec) -> SearchSpec {
        SearchSpec { text: vec![], vectors: vec![v], default_vector: None }
    }

    #[test]
    fn a_new_collection_field_is_current_at_once() {
        let mut s = spec(field("a"));
        prepare(&mut s, None, &infos()).expect("prepared");
        let v = &s.vectors[0];
        assert_eq!((v.dims, v.generation, v.backfilling, v.next.is_none()), (3, 1, false, true));
        assert_eq!(v.model, info("a", "1", 3).model);
    }

    #[test]
    fn a_model_change_becomes_a_next_generation_then_is_kept() {
        let mut stored = spec(field("a"));
        prepare(&mut stored, None, &infos()).expect("prepared");
        let mut switched = spec(field("b"));
        prepare(&mut switched, Some(&stored), &infos()).expect("prepared");
        let v = &switched.vectors[0];
        assert_eq!(v.embed.as_ref().map(|e| e.model.as_str()), Some("a"), "searches keep the current model");
        assert_eq!((v.dims, v.generation, v.backfilling), (3, 1, true));
        let next = v.next.as_ref().expect("a next generation");
        assert_eq!((next.dims, next.generation, next.embed.model.as_str()), (5, 2, "b"));
        // Sending the same change again keeps the switch in progress.
        let mut again = spec(field("b"));
        prepare(&mut again, Some(&switched), &infos()).expect("prepared");
        assert_eq!(again.vectors[0].next, switched.vectors[0].next);
        // The spec as read back (with its next) keeps it too.
        let mut read_back = switched.clone();
        prepare(&mut read_back, Some(&switched), &infos()).expect("prepared");
        assert_eq!(read_back, switched);
        // Naming the current model without a next cancels the switch.
        let mut back = spec(field("a"));
        prepare(&mut back, Some(&switched), &infos()).expect("prepared");
        assert!(back.vectors[0].next.is_none());
    }

    #[test]
    fn an_embedded_field_cannot_become_plain() {
        let mut stored = spec(field("a"));
        prepare(&mut stored, None, &infos()).expect("prepared");
        let mut plain = field("a");
        plain.embed = None;
        plain.dims = 3;
        let err = prepare(&mut spec(plain), Some(&stored), &infos()).expect_err("refused");
        assert!(err.to_string().contains("cannot become a plain one"), "{err}");
    }

    #[test]
    fn a_replaced_model_under_the_same_name_switches_at_once() {
        let mut stored = spec(field("a"));
        prepare(&mut stored, None, &infos()).expect("prepared");
        let upgraded: BTreeMap<String, EmbedderInfo> = [("a".to_owned(), info("a", "2", 3))].into_iter().collect();
        let mut again = spec(field("a"));
        prepare(&mut again, Some(&stored), &upgraded).expect("prepared");
        let v = &again.vectors[0];
        assert_eq!((v.model.version.as_str(), v.generation, v.backfilling), ("2", 2, true));
        assert!(v.next.is_none(), "the old model cannot be computed any more: no two-generation switch");
    }

    #[test]
    fn wrong_dims_are_refused() {
        let mut f = field("a");
        f.dims = 4;
        let err = prepare(&mut spec(f), None, &infos()).expect_err("refused");
        assert!(err.to_string().contains("3 dimensions"), "{err}");
    }
}
