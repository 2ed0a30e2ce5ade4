//! A blocking listing as an async stream: the bridge both async
//! methodologies (`asyncio_run`, `pipeline_run --mode async`) cross.

use futures_util::{Stream, stream};

/// Moves a listing off the async runtime: a blocking task (on tokio's
/// blocking pool) reads `listing` (a file, an API page) and feeds a
/// channel of `capacity` items, so the stream never waits on a disk read
/// or an API page while downloads could run, and never runs far ahead of
/// them. Dropping the stream stops the listing at its next item.
///
/// # Panics
/// When called outside a tokio runtime.
pub fn listing_stream<I>(listing: I, capacity: usize) -> impl Stream<Item = I::Item>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
{
    let (sender, mut receiver) = tokio::sync::mpsc::channel(capacity);
    tokio::task::spawn_blocking(move || {
        for item in listing {
            if sender.blocking_send(item).is_err() {
                break; // the stream was dropped: the downloads ended early
            }
        }
    });
    stream::poll_fn(move |context| receiver.poll_recv(context))
}
