//! Where a body goes as it arrives: a [`BodyWriter`] (blocking) or an
//! [`AsyncBodyWriter`] is handed the bytes the rules (`rules.rs`) let
//! through, chunk by chunk, once they know the body is an image. The
//! download binaries' writer streams them to the image's file (in `run/`);
//! [`InMemory`] keeps them, under the run's [`ByteBudget`], for a run that
//! decodes from memory. So no client ever holds a whole body itself.

use std::time::{Duration, Instant};

use image::ImageFormat;

use super::budget::{ByteBudget, Reservation, next_size};
use super::rules::Pass;
use super::{FetchError, Fetched, Refusal};

/// Where a blocking client puts a body's bytes.
pub(crate) trait BodyWriter {
    /// Why the writer could not take them (a full disk, ...).
    type Error;
    /// The body is an image of `format`, `declared` bytes long if its
    /// headers said: get ready for it. Called once, before any `write`.
    fn begin(&mut self, format: ImageFormat, declared: Option<u64>) -> Result<(), Self::Error>;
    /// The next bytes of the body.
    fn write(&mut self, bytes: &[u8]) -> Result<(), Self::Error>;
}

/// Where an async client puts a body's bytes, without blocking its runtime.
pub(crate) trait AsyncBodyWriter {
    /// Why the writer could not take them.
    type Error;
    /// As [`BodyWriter::begin`].
    fn begin(&mut self, format: ImageFormat, declared: Option<u64>) -> impl Future<Output = Result<(), Self::Error>>;
    /// As [`BodyWriter::write`].
    fn write(&mut self, bytes: &[u8]) -> impl Future<Output = Result<(), Self::Error>>;
}

/// Why an attempt that wrote its body somewhere failed: the fetch (with
/// what the server said about trying again), or the writer.
#[derive(Debug)]
pub(crate) enum Failure<E> {
    Fetch(Refusal),
    Write(E),
}

impl<E> From<Refusal> for Failure<E> {
    fn from(refusal: Refusal) -> Self {
        Failure::Fetch(refusal)
    }
}

impl<E> From<FetchError> for Failure<E> {
    fn from(error: FetchError) -> Self {
        Failure::Fetch(error.into())
    }
}

/// Hands what the rules let through to `writer`.
pub(crate) fn pass_on<W: BodyWriter>(pass: Pass<'_>, writer: &mut W) -> Result<(), Failure<W::Error>> {
    match pass {
        Pass::Held => Ok(()),
        Pass::Begin(format, declared, head) => {
            writer.begin(format, declared).map_err(Failure::Write)?;
            writer.write(head).map_err(Failure::Write)
        }
        Pass::More([]) => Ok(()),
        Pass::More(bytes) => writer.write(bytes).map_err(Failure::Write),
    }
}

/// [`pass_on`] for an async writer.
pub(crate) async fn pass_on_async<W: AsyncBodyWriter>(pass: Pass<'_>, writer: &mut W) -> Result<(), Failure<W::Error>> {
    match pass {
        Pass::Held => Ok(()),
        Pass::Begin(format, declared, head) => {
            writer.begin(format, declared).await.map_err(Failure::Write)?;
            writer.write(head).await.map_err(Failure::Write)
        }
        Pass::More([]) => Ok(()),
        Pass::More(bytes) => writer.write(bytes).await.map_err(Failure::Write),
    }
}

/// A body kept in memory, holding its share of a [`ByteBudget`] as it
/// grows (the rule is in `budget.rs`).
#[derive(Debug)]
pub(crate) struct InMemory {
    bytes: Vec<u8>,
    format: Option<ImageFormat>,
    held: Reservation,
    /// `--max-bytes`: no body grows past it.
    largest: u64,
    /// When the attempt's `--timeout` ends, for a blocking wait for room.
    deadline: Instant,
    timeout: Duration,
}

impl InMemory {
    /// An empty body under `budget`, whose attempt (of `timeout`) ends at
    /// `deadline`.
    pub(crate) fn new(budget: &ByteBudget, largest: u64, deadline: Instant, timeout: Duration) -> Self {
        InMemory { bytes: Vec::new(), format: None, held: budget.reservation(), largest, deadline, timeout }
    }

    /// The whole body, once the client has passed it all on.
    pub(crate) fn finish(self) -> Result<Fetched, FetchError> {
        let format = self.format.ok_or_else(|| FetchError::NotAnImage(String::new()))?;
        Ok(Fetched { bytes: self.bytes, format, _held: self.held })
    }

    /// How much to hold for `more` bytes more, if more than now.
    fn needs(&self, more: usize) -> Option<u64> {
        let needed = (self.bytes.len() + more) as u64;
        (needed > self.held.bytes()).then(|| next_size(self.held.bytes(), needed, self.largest))
    }

    /// Makes the buffer's capacity what is held, so what is held is what
    /// the buffer takes.
    fn fit(&mut self) {
        let held = usize::try_from(self.held.bytes()).unwrap_or(usize::MAX);
        self.bytes.reserve_exact(held.saturating_sub(self.bytes.len()));
    }
}

impl BodyWriter for InMemory {
    type Error = FetchError;

    fn begin(&mut self, format: ImageFormat, declared: Option<u64>) -> Result<(), FetchError> {
        self.format = Some(format);
        // A declared length is reserved whole, up front.
        if let Some(length) = declared
            && !self.held.grow_blocking(length, self.deadline)
        {
            return Err(FetchError::Timeout(self.timeout));
        }
        self.fit();
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), FetchError> {
        if let Some(size) = self.needs(bytes.len()) {
            if !self.held.grow_blocking(size, self.deadline) {
                return Err(FetchError::Timeout(self.timeout));
            }
            self.fit();
        }
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }
}

impl AsyncBodyWriter for InMemory {
    type Error = FetchError;

    /// The waits are bounded by the client, which holds the whole attempt
    /// to its `--timeout`.
    async fn begin(&mut self, format: ImageFormat, declared: Option<u64>) -> Result<(), FetchError> {
        self.format = Some(format);
        if let Some(length) = declared {
            self.held.grow(length).await;
        }
        self.fit();
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), FetchError> {
        if let Some(size) = self.needs(bytes.len()) {
            self.held.grow(size).await;
            self.fit();
        }
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }
}
