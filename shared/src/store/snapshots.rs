//! Item snapshots remembered per warm container, so a hot path can skip its read. A snapshot is
//! only ever a guess: every commit built on one is conditioned on what it assumed, and a stale
//! guess fails that condition and brings back the current item.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Entries kept before the cache starts over (bounded memory per container).
const MAX_SNAPSHOTS: usize = 10_000;

#[derive(Clone)]
pub(crate) struct Snapshots<T>(Arc<Mutex<HashMap<String, T>>>);

impl<T> Default for Snapshots<T> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<T: Clone> Snapshots<T> {
    pub(crate) fn get(&self, id: &str) -> Option<T> {
        self.0.lock().ok()?.get(id).cloned()
    }

    pub(crate) fn put(&self, id: &str, value: T) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= MAX_SNAPSHOTS && !map.contains_key(id) {
                map.clear();
            }
            map.insert(id.to_owned(), value);
        }
    }
}
