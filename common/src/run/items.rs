//! [`Images`]: a source's listing as a run consumes it.
//!
//! A run needs four things of a listing that no source should have to
//! know about: a count cap (`--count`), a stop (Ctrl-C ends listing at
//! once), a memory of why a listing ended early (an API quota, an
//! unreadable file) for the report, and the resume: items an earlier run
//! completed are skipped here, before any request, and told to the tally
//! instead of being yielded. With those, a methodology sees a plain
//! `Iterator<Item = Item>`, and resuming is the same in every methodology
//! without a line of it in any `main.rs` (a multi-process run lists in its
//! parent, so its workers never see a skipped item either). A run that
//! does more to its items (numbers them, takes a share, resumes its own
//! way) adapts the iterator with `map` and `filter`.

use std::sync::{Arc, Mutex};

use super::stop::StopFlag;
use crate::sources::{Item, Listing};

/// A listing with a count cap, Ctrl-C, a memory of why it ended early, and
/// the skip of items already complete.
///
/// It yields plain [`Item`]s; if the listing fails part way (an
/// unreadable file, an API quota), iteration ends and the error is kept for
/// the report (see [`Images::problem`]), so downloads already listed go on.
pub struct Images {
    listing: Listing,
    remaining: Option<usize>,
    stop: StopFlag,
    problem: Arc<Mutex<Option<String>>>,
    /// Says whether an item is complete already, and if so records it as
    /// skipped; `None` skips nothing.
    skip: Option<SkipFilter>,
}

/// See [`Images::skipping`].
type SkipFilter = Box<dyn FnMut(&Item) -> bool + Send>;

impl std::fmt::Debug for Images {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Images").field("remaining", &self.remaining).finish_non_exhaustive()
    }
}

impl Images {
    /// Wraps `listing`, stopping after `limit` images (if any) or on `stop`.
    pub fn new(listing: Listing, limit: Option<usize>, stop: StopFlag) -> Self {
        Images { listing, remaining: limit, stop, problem: Arc::default(), skip: None }
    }

    /// The same listing, not yielding the items for which `skip` returns
    /// `true` (it is told each item once, and records the ones it skips).
    /// Skipped items count towards the cap: `--count N` is the first N
    /// listed, however many of them a re-run finds complete.
    pub(crate) fn skipping(self, skip: impl FnMut(&Item) -> bool + Send + 'static) -> Self {
        Images { skip: Some(Box::new(skip)), ..self }
    }

    /// Where the reason a listing ended early is written, for the report.
    pub fn problem(&self) -> Arc<Mutex<Option<String>>> {
        Arc::clone(&self.problem)
    }
}

impl Iterator for Images {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if self.stop.is_stopped() || self.remaining == Some(0) {
                return None;
            }
            match self.listing.next()? {
                Ok(image) => {
                    if let Some(remaining) = &mut self.remaining {
                        *remaining -= 1;
                    }
                    if self.skip.as_mut().is_some_and(|skip| skip(&image)) {
                        continue;
                    }
                    return Some(image);
                }
                Err(err) => {
                    if let Ok(mut problem) = self.problem.lock() {
                        *problem = Some(err.to_string());
                    }
                    self.remaining = Some(0);
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{SourceError, open_url_list, origin_list};

    /// Blank lines and comments are skipped; the count cap applies.
    #[test]
    fn url_list_skips_comments_and_caps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("urls.txt");
        std::fs::write(&path, "# photos\nhttp://a/1.jpg\n\n  http://a/2.jpg  \n#http://a/x.jpg\nhttp://a/3.jpg\n")
            .unwrap();
        let list = || open_url_list(&path, None).unwrap();
        let all: Vec<String> = Images::new(list(), None, StopFlag::new()).map(|i| i.url).collect();
        assert_eq!(all, ["http://a/1.jpg", "http://a/2.jpg", "http://a/3.jpg"]);
        let two = Images::new(list(), Some(2), StopFlag::new()).count();
        assert_eq!(two, 2);
    }

    /// A stop flag ends the listing at once.
    #[test]
    fn stop_ends_listing() {
        let stop = StopFlag::new();
        let mut images = Images::new(origin_list("http://o", 10), None, stop.clone());
        assert!(images.next().is_some());
        stop.stop();
        assert!(images.next().is_none());
    }

    /// Skipped items are not yielded, are each told to the filter once, and
    /// count towards the cap.
    #[test]
    fn skipped_items_are_not_yielded() {
        let told = Arc::new(Mutex::new(Vec::new()));
        let skipped = Arc::clone(&told);
        let images = Images::new(origin_list("http://o", 10), Some(6), StopFlag::new()).skipping(move |item| {
            let skip = item.url.ends_with("/1.jpg") || item.url.ends_with("/2.jpg") || item.url.ends_with("/8.jpg");
            if skip {
                skipped.lock().unwrap().push(item.url.clone());
            }
            skip
        });
        let yielded: Vec<String> = images.map(|i| i.url).collect();
        assert_eq!(
            yielded,
            ["http://o/images/0.jpg", "http://o/images/3.jpg", "http://o/images/4.jpg", "http://o/images/5.jpg"]
        );
        assert_eq!(*told.lock().unwrap(), ["http://o/images/1.jpg", "http://o/images/2.jpg"]);
    }

    /// A listing error ends iteration and is remembered.
    #[test]
    fn listing_errors_are_kept() {
        let listing: Listing =
            Box::new([Ok(Item::from_url("http://a/1.jpg")), Err(SourceError::MissingUrlFile)].into_iter());
        let mut images = Images::new(listing, None, StopFlag::new());
        let problem = images.problem();
        assert_eq!(images.by_ref().count(), 1);
        assert!(problem.lock().unwrap().as_deref().unwrap().contains("--urls FILE"));
    }
}
