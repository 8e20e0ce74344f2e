//! Collection ids by name, remembered for `get`s: with a remembered id a
//! get reads the document by id alone (the one statement a hand-written
//! application runs); without one, or when the document is absent, it
//! reads the collection row joined with the document.
//!
//! Why a remembered id needs no check when its document is found:
//! collection names never change, a collection's documents are deleted in
//! the transaction that deletes it, and ids come from a sequence and are
//! never reused. So a document row of collection X, read in one
//! statement's snapshot, proves that X existed in that snapshot, and X is
//! then the collection of that name in its space (names are unique per
//! space). An absent document proves nothing (the collection may have been
//! dropped, or replaced under the same name), so that answer always comes
//! from the collection row.

use engram_core::backend::{CollectionId, SpaceId};
use engram_core::names::CollectionName;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Entries kept before the map is emptied (a bound on memory).
const COLL_IDS_MAX: usize = 1 << 16;

#[derive(Debug, Default)]
pub(crate) struct CollIds(Mutex<HashMap<(SpaceId, String), CollectionId>>);

impl CollIds {
    pub(crate) fn get(&self, space: SpaceId, name: &CollectionName) -> Option<CollectionId> {
        self.map().get(&(space, name.as_str().to_owned())).copied()
    }

    /// Records what a read of the collection row found (`None`: missing).
    pub(crate) fn set(&self, space: SpaceId, name: &CollectionName, id: Option<CollectionId>) {
        let mut map = self.map();
        let key = (space, name.as_str().to_owned());
        match id {
            Some(id) => {
                if map.len() >= COLL_IDS_MAX {
                    map.clear();
                }
                map.insert(key, id);
            }
            None => {
                map.remove(&key);
            }
        }
    }

    /// Every update is a single insert, remove or clear: a panic elsewhere
    /// cannot leave the map inconsistent, so poisoning is ignored.
    fn map(&self) -> MutexGuard<'_, HashMap<(SpaceId, String), CollectionId>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
