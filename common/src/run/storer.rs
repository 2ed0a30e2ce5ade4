//! [`Storer`]: the second half of every download's loop body, once: a
//! fetched item's name, its store, its outcome. The downloaders stream
//! each body to its file through a [`Storer::spool`] (`spool.rs`); all of
//! them write the same bytes under the same names.

use std::sync::Arc;

use crate::sources::Item;
use crate::store::Sink;

/// The second half of the loop body: a fetched item's name, its store, its
/// outcome. Cheap to clone; clones share one sink.
#[derive(Debug, Clone)]
pub(crate) struct Storer {
    sink: Arc<dyn Sink>,
}

impl Storer {
    /// Stores into `sink`.
    pub(crate) fn new(sink: impl Sink + 'static) -> Self {
        Storer { sink: Arc::new(sink) }
    }

    /// A spool writing `item`'s body to its file as it arrives.
    pub(crate) fn spool(&self, item: &Item) -> super::spool::Spool {
        super::spool::Spool::new(&self.sink, item)
    }
}
