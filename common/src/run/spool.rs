//! [`Spool`]: a body on its way to its file, so that a download binary
//! never holds a whole body in memory.
//!
//! The client hands the spool each chunk the rules let through (`fetch`'s
//! `BodyWriter`): first the format, known from the first bytes, which
//! names the file (so an HTML page is refused before anything is named or
//! created); then the bytes, gathered up to [`SPOOL_BYTES`] and written to
//! a file of the destination that has no name yet ([`Sink::create`]: an
//! unnamed `O_TMPFILE` file, or a hidden temporary one). Once the body is
//! complete, [`Spool::commit`] gives the file its name, atomically. A
//! spool dropped before that (a failure, a timeout, a stop) leaves nothing.
//!
//! The blocking downloader writes on its own thread; the async ones hand
//! each full spool to their writer threads ([`AsyncSpool`]), so a disk
//! write never blocks a runtime. An image no larger than [`SPOOL_BYTES`]
//! (most photos) is one job there: create, write, name.

use std::sync::Arc;

use image::ImageFormat;

use super::names::file_name;
use super::outcome::{Failed, Outcome, Saved};
use super::writers::Writers;
use crate::fetch::{AsyncBodyWriter, BodyWriter};
use crate::formats;
use crate::sources::Item;
use crate::store::{Partial, Sink, SinkError};

/// Bytes gathered before they are written: a few network chunks per
/// write (a syscall, or a trip to a writer thread), and the most a
/// download holds of its body, so 100 downloads hold 25 MiB at most.
pub(crate) const SPOOL_BYTES: usize = 256 * 1024;

/// A body being written to its file.
#[derive(Debug)]
pub(crate) struct Spool {
    sink: Arc<dyn Sink>,
    url: String,
    stem: Option<String>,
    /// Known from the first bytes; names the file.
    format: Option<ImageFormat>,
    /// Bytes received and not written yet.
    buffer: Vec<u8>,
    /// The file, once the first bytes were written.
    partial: Option<Partial>,
}

impl Spool {
    /// An empty spool for `item`, into `sink`.
    pub(crate) fn new(sink: &Arc<dyn Sink>, item: &Item) -> Self {
        Spool {
            sink: Arc::clone(sink),
            url: item.url.clone(),
            stem: item.stem.clone(),
            format: None,
            buffer: Vec::new(),
            partial: None,
        }
    }

    /// Whether enough is gathered to write.
    fn is_full(&self) -> bool {
        self.buffer.len() >= SPOOL_BYTES
    }

    /// Writes what is gathered, starting the file first if need be.
    fn flush(&mut self) -> Result<(), SinkError> {
        let partial = match &mut self.partial {
            Some(partial) => partial,
            None => {
                let format = self.format.unwrap_or(ImageFormat::Jpeg);
                let key = file_name(&self.url, self.stem.as_deref(), format);
                self.partial.insert(self.sink.create(&key)?)
            }
        };
        partial.write(&self.buffer)?;
        self.buffer.clear();
        Ok(())
    }

    /// Writes the rest and names the file (blocking): the item's outcome,
    /// after `attempts` attempts.
    pub(crate) fn commit(mut self, attempts: u32) -> Outcome {
        let failed = |error: SinkError| Failed { error: error.into(), attempts };
        self.flush().map_err(failed)?;
        let format = self.format.map_or("img", formats::extension).to_string();
        let partial = self.partial.take().ok_or_else(|| failed(SinkError::Panicked("nothing was written".into())))?;
        let stored = self.sink.commit(partial).map_err(failed)?;
        Ok(Saved { key: stored.key, bytes: stored.bytes, format, attempts })
    }
}

impl BodyWriter for Spool {
    type Error = SinkError;

    fn begin(&mut self, format: ImageFormat, _declared: Option<u64>) -> Result<(), SinkError> {
        self.format = Some(format);
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        self.buffer.extend_from_slice(bytes);
        if self.is_full() { self.flush() } else { Ok(()) }
    }
}

/// A [`Spool`] written on writer threads, for an async client.
#[derive(Debug)]
pub(crate) struct AsyncSpool<'a> {
    /// `None` only while a writer thread has it.
    spool: Option<Spool>,
    writers: &'a Writers,
}

impl<'a> AsyncSpool<'a> {
    /// `spool`, written on `writers`.
    pub(crate) fn new(spool: Spool, writers: &'a Writers) -> Self {
        AsyncSpool { spool: Some(spool), writers }
    }

    /// The spool, to be committed.
    pub(crate) fn into_inner(self) -> Option<Spool> {
        self.spool
    }

    fn spool(&mut self) -> Result<&mut Spool, SinkError> {
        self.spool.as_mut().ok_or_else(|| SinkError::Panicked("a write to this file failed before".into()))
    }
}

impl AsyncBodyWriter for AsyncSpool<'_> {
    type Error = SinkError;

    async fn begin(&mut self, format: ImageFormat, _declared: Option<u64>) -> Result<(), SinkError> {
        self.spool()?.format = Some(format);
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        let spool = self.spool()?;
        spool.buffer.extend_from_slice(bytes);
        if !spool.is_full() {
            return Ok(());
        }
        // The spool goes to a writer thread and comes back written. If this
        // task is dropped meanwhile (a stop), the thread drops it: no file.
        let Some(mut spool) = self.spool.take() else { return Ok(()) };
        let written = self.writers.run(move || spool.flush().map(|()| spool)).await??;
        self.spool = Some(written);
        Ok(())
    }
}
