//! [`Images`]: a source's listing as a run consumes it.
//!
//! A run needs three things of a listing that no source should have to
//! know about: a count cap (`--count`), a stop (Ctrl-C ends listing at
//! once), and a memory of why a listing ended early (an API quota, an
//! unreadable file) for the report. With those, a methodology sees a plain
//! `Iterator<Item = Item>`.

use std::sync::{Arc, Mutex};

use super::stop::StopFlag;
use crate::sources::{Item, Listing};

/// A listing with a count cap, Ctrl-C and a memory of why it ended early.
///
/// It yields plain [`Item`]s; if the listing fails part way (an
/// unreadable file, an API quota), iteration ends and the error is kept for
/// the report (see [`Images::problem`]), so downloads already listed go on.
pub struct Images {
    listing: Listing,
    remaining: Option<usize>,
    stop: StopFlag,
    problem: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for Images {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Images").field("remaining", &self.remaining).finish_non_exhaustive()
    }
}

impl Images {
    /// Wraps `listing`, stopping after `limit` images (if any) or on `stop`.
    pub fn new(listing: Listing, limit: Option<usize>, stop: StopFlag) -> Self {
        Images { listing, remaining: limit, stop, problem: Arc::default() }
    }

    /// Where the reason a listing ended early is written, for the report.
    pub fn problem(&self) -> Arc<Mutex<Option<String>>> {
        Arc::clone(&self.problem)
    }
}

impl Iterator for Images {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        if self.stop.is_stopped() || self.remaining == Some(0) {
            return None;
        }
        match self.listing.next()? {
            Ok(image) => {
                if let Some(remaining) = &mut self.remaining {
                    *remaining -= 1;
                }
                Some(image)
            }
            Err(err) => {
                if let Ok(mut problem) = self.problem.lock() {
                    *problem = Some(err.to_string());
                }
                self.remaining = Some(0);
                None
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
