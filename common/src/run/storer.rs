//! [`Storer`]: the second half of every download's loop body, once: a
//! fetched item's name, its store, its outcome. The downloaders stream
//! each body to its file through a [`Storer::spool`] (`spool.rs`), named
//! as [`Storer::store`] names a body held whole; all of them write the
//! same bytes under the same names.

use std::sync::Arc;

use super::names::file_name;
use super::outcome::{Failed, Outcome, Saved};
use crate::fetch::Fetched;
use crate::formats;
use crate::sources::Item;
use crate::store::Sink;

/// The second half of the loop body: a fetched item's name, its store, its
/// outcome. Cheap to clone; clones share one sink.
#[derive(Debug, Clone)]
pub struct Storer {
    sink: Arc<dyn Sink>,
}

impl Storer {
    /// Stores into `sink`.
    pub fn new(sink: impl Sink + 'static) -> Self {
        Storer { sink: Arc::new(sink) }
    }

    /// Stores `fetched`, which took `attempts` attempts, under `item`'s safe,
    /// unique name (the same in every methodology, so all of them write the
    /// same bytes under the same names).
    pub fn store(&self, item: &Item, fetched: &Fetched, attempts: u32) -> Outcome {
        let key = file_name(&item.url, item.stem.as_deref(), fetched.format);
        let stored = self.sink.put(&key, &fetched.bytes).map_err(|error| Failed { error: error.into(), attempts })?;
        let format = formats::extension(fetched.format).to_string();
        Ok(Saved { key: stored.key, bytes: stored.bytes, format, attempts })
    }

    /// A spool writing `item`'s body to its file as it arrives.
    pub(crate) fn spool(&self, item: &Item) -> super::spool::Spool {
        super::spool::Spool::new(&self.sink, item)
    }

    /// Where objects go, for people.
    pub fn location(&self) -> String {
        self.sink.location()
    }
}
