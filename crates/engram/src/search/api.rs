//! The search operations of a [`Space`]: search, check and rebuild.

use crate::catalog::Compiled;
use crate::search::check::IndexCheck;
use crate::search::coll_index::{CollIndex, fingerprint};
use crate::search::execute::{Parsed, Ranked, run};
use crate::search::fields::CompiledSearch;
use crate::search::manager::read;
use crate::search::request::{SearchHit, SearchRequest, SearchResults, Snippet};
use crate::space::{Document, Space};
use engram_core::json::decode_document;
use engram_core::{Error, Result};
use engram_text::TextQuery;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Characters of a snippet at most.
const SNIPPET_CHARS: usize = 200;

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RebuildReport {
    /// Change-log position the rebuilt index covers.
    pub position: u64,
    /// Collections rebuilt.
    pub collections: u64,
}

/// A collection's search index as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IndexStatus {
    pub collection: String,
    /// Documents indexed.
    pub documents: u64,
    /// Vectors indexed per vector field, in declaration order.
    pub vectors: Vec<(String, u64)>,
    /// Change-log position covered.
    pub position: u64,
}

impl Space {
    fn searchable(&self, collection: &str) -> Result<Arc<Compiled>> {
        let coll = self.inner.collection(self.id, collection)?;
        if coll.search.is_none() {
            return Err(Error::invalid(format!("collection {collection:?} declares no text or vector fields")));
        }
        Ok(coll)
    }

    /// Searches one collection by text, vector, or both; see [`SearchRequest`].
    pub fn search(&self, collection: &str, req: &SearchRequest) -> Result<SearchResults> {
        req.validate()?;
        let embedded;
        let req = match (&req.vector_text, &req.query) {
            (None, None) => req,
            _ => {
                embedded = self.embed_query(collection, req)?;
                &embedded
            }
        };
        match self.search_once(collection, req)? {
            Some(results) => Ok(results),
            None => {
                // The cached spec and the caught-up index disagree (the spec
                // changed meanwhile): drop the cached spec and try once more.
                self.inner.forget_collection(self.id, collection);
                self.search_once(collection, req)?.ok_or_else(|| {
                    Error::conflict(format!("collection {collection:?} changed during the search; retry"))
                })
            }
        }
    }

    /// Turns `vector_text` or `query` into a `vector` (and `text`) with the
    /// vector field's current embedder.
    fn embed_query(&self, collection: &str, req: &SearchRequest) -> Result<SearchRequest> {
        let coll = self.searchable(collection)?;
        let search = coll.search.as_ref().expect("checked by searchable");
        let mut out = req.clone();
        out.vector_text = None;
        out.query = None;
        let field = search.vector_field(req.vector_field.as_deref()).ok().map(|i| &search.vectors[i]);
        let embed = field.and_then(|f| f.embed.as_ref().map(|e| (f, e)));
        let wanted = match (&req.vector_text, &req.query) {
            (Some(t), _) => {
                if embed.is_none() {
                    let name = field.map_or("(none)", |f| f.spec.name.as_str());
                    return Err(Error::invalid(format!(
                        "`vector_text` needs a vector field with an embedder; field {name:?} has none (give `vector`)"
                    )));
                }
                Some(t)
            }
            (None, Some(q)) => {
                // Plain words: a natural-language question may hold `:`,
                // `-` or quotes, which the text syntax would read as
                // operators.
                if embed.is_none() && search.text.is_empty() {
                    return Err(Error::invalid(
                        "`query` needs text fields or a vector field with an embedder; this collection has neither",
                    ));
                }
                let words: Vec<&str> = q.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
                if !search.text.is_empty() && !words.is_empty() {
                    out.text = Some(words.join(" "));
                }
                if out.text.is_none() && embed.is_none() {
                    return Err(Error::invalid("`query` has no words to search for"));
                }
                embed.map(|_| q)
            }
            (None, None) => None,
        };
        if let (Some(text), Some((_, e))) = (wanted, embed) {
            let embedder = crate::embedding::fields::embedder_for(&self.inner.config.embedders, &e.generations[0])?;
            let mut v = embedder.embed(vec![text.clone()])?;
            out.vector = v.pop();
        }
        Ok(out)
    }

    /// One attempt; `None` when the index does not match the collection's
    /// spec as this engine has it cached.
    fn search_once(&self, collection: &str, req: &SearchRequest) -> Result<Option<SearchResults>> {
        let coll = self.searchable(collection)?;
        self.with_index(&coll, |position, index| {
            let Some(index) = index else { return Ok(None) };
            let search = coll.search.as_ref().expect("checked by searchable");
            let parsed = Parsed::of(search, req)?;
            let now = self.inner.hlc.wall_ms();
            let (ranked, plan) = run(index, &coll, search, req, &parsed, now)?;
            let hits = self.materialize(index, &coll, req, &parsed, ranked, now)?;
            Ok(Some(SearchResults { hits, plan, position }))
        })
    }

    /// Runs `f` with the change-log position covered and the caught-up
    /// index of `coll` (`None` when the index does not match the spec as
    /// cached here), under the space index's read lock.
    fn with_index<T>(&self, coll: &Compiled, f: impl FnOnce(u64, Option<&CollIndex>) -> Result<T>) -> Result<T> {
        let inner = &self.inner;
        let slot = inner.search.current(&*inner.backend, &inner.catalog, self.id)?;
        let guard = read(&slot);
        let space_index = guard.as_ref().ok_or_else(|| Error::internal("search index not loaded after catch-up"))?;
        let index = space_index.colls.get(&coll.row.id).filter(|ix| ix.fingerprint == fingerprint(coll));
        f(space_index.position, index)
    }

    /// Reads the result documents from the records; ones deleted or expired
    /// since the index was caught up are left out.
    fn materialize(
        &self,
        index: &CollIndex,
        coll: &Compiled,
        req: &SearchRequest,
        parsed: &Parsed,
        ranked: Vec<Ranked>,
        now: u64,
    ) -> Result<Vec<SearchHit>> {
        let search = coll.search.as_ref().expect("searchable collections only");
        let query = parsed.text.as_ref().filter(|_| req.snippets.unwrap_or(true));
        let mut hits = Vec::with_capacity(ranked.len());
        if query.is_none() && req.include_documents == Some(false) {
            // Ids only: the index was caught up to the log head when the
            // search began and admitted only live documents, so no read of
            // the records is needed.
            for r in ranked {
                let Some(slot) = index.slot(r.key) else { continue };
                hits.push(SearchHit {
                    id: slot.id.clone(),
                    score: r.score,
                    text_score: r.text_score,
                    vector_distance: r.vector_distance,
                    document: None,
                    snippets: Vec::new(),
                });
            }
            return Ok(hits);
        }
        for r in ranked {
            let Some(slot) = index.slot(r.key) else { continue };
            let Some(doc) = self.inner.backend.read_doc(coll.row.id, &slot.id)? else { continue };
            if !doc.is_live(now) {
                continue;
            }
            let body = decode_document(&doc.body)?;
            let rewritten_out = || parsed.filter.as_ref().is_some_and(|f| !f.matches(&search.payload(&body)));
            if doc.version != slot.version && rewritten_out() {
                // Rewritten since the index caught up and no longer
                // admitted by the filter: leave it out rather than return
                // content the search did not select.
                continue;
            }
            let snippets = query.map(|q| snippets(search, &body, q)).unwrap_or_default();
            let document = req.include_documents.unwrap_or(true).then(|| Document {
                id: doc.id.clone(),
                version: doc.version,
                body: if req.include_vectors { body.clone() } else { search.payload(&body) },
                expires_at_ms: doc.expires_at_ms,
            });
            hits.push(SearchHit {
                id: doc.id,
                score: r.score,
                text_score: r.text_score,
                vector_distance: r.vector_distance,
                document,
                snippets,
            });
        }
        Ok(hits)
    }

    /// Compares the space's search index with the records and reports every
    /// divergence.
    pub fn check_search_index(&self) -> Result<IndexCheck> {
        let inner = &self.inner;
        inner.search.check(&*inner.backend, &inner.catalog, self.id, inner.hlc.wall_ms())
    }

    /// Drops the space's search index and builds it again from the records.
    pub fn rebuild_search_index(&self) -> Result<RebuildReport> {
        let inner = &self.inner;
        let (done, position) = inner.search.rebuild(&*inner.backend, &inner.catalog, self.id)?;
        Ok(RebuildReport { position, collections: done.rebuilt })
    }

    /// Saves the space's search index now (it is otherwise saved in the
    /// background and at close).
    pub fn save_search_index(&self) -> Result<()> {
        self.inner.search.save(self.id)
    }

    /// The search index of one collection, caught up.
    pub fn search_index_status(&self, collection: &str) -> Result<IndexStatus> {
        let coll = self.searchable(collection)?;
        let search = coll.search.as_ref().expect("checked by searchable");
        self.with_index(&coll, |position, index| {
            let count = |i: usize| index.and_then(|ix| ix.vectors.get(i)).map_or(0, |x| x.len() as u64);
            Ok(IndexStatus {
                collection: collection.to_owned(),
                documents: index.map_or(0, |ix| ix.len() as u64),
                vectors: search.vectors.iter().enumerate().map(|(i, v)| (v.spec.name.clone(), count(i))).collect(),
                position,
            })
        })
    }
}

fn snippets(search: &CompiledSearch, body: &serde_json::Value, q: &TextQuery) -> Vec<Snippet> {
    search
        .texts(body)
        .into_iter()
        .filter_map(|(field, text)| {
            let s = engram_text::snippet(&text, q, SNIPPET_CHARS);
            (!s.highlights.is_empty()).then(|| Snippet {
                field: search.text[field].0.as_str().to_owned(),
                text: s.text,
                highlights: s.highlights,
            })
        })
        .collect()
}
