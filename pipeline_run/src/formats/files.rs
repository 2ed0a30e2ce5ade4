//! `files`: each thumbnail or crop stored as its own object, named after
//! its image (`NAME_thumbnail.jpg`, `NAME/crop-NNN.jpg`), as the teaching
//! binaries store them; the shard's metadata names each row's objects.

use super::ShardFormat;

pub(crate) struct Files;

impl ShardFormat for Files {
    fn name(&self) -> &'static str {
        "files"
    }

    /// Stored when made, so a run that stops keeps what it made.
    fn holds_images(&self) -> bool {
        false
    }

    fn names_column(&self) -> bool {
        true
    }
}
