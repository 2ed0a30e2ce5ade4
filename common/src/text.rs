//! One-line messages: what every error that reaches a person goes through.
//!
//! Errors from the network and from input files can be arbitrarily long (a
//! 5,000-character URL) or spread over a chain of causes (`reqwest` puts the
//! useful part, "connection refused", in the source). These two functions
//! make either fit on one line.

/// Longest piece of input quoted in a message, in characters.
const MAX_QUOTED: usize = 120;

/// `text` cut to a length that fits on one line of an error message.
pub(crate) fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTED {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX_QUOTED).collect();
    format!("{head}…")
}

/// An error and its causes on one line, joined by `: `.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Long input is cut with an ellipsis; short input is left alone.
    #[test]
    fn shortens_long_text_only() {
        assert_eq!(shorten("http://h/a.jpg"), "http://h/a.jpg");
        let long = "x".repeat(500);
        let cut = shorten(&long);
        assert_eq!(cut.chars().count(), MAX_QUOTED + 1);
        assert!(cut.ends_with('…'));
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot fetch")]
    struct Outer(#[source] std::io::Error);

    /// Every cause of a chain is on the line, outermost first.
    #[test]
    fn chains_causes() {
        let outer = Outer(std::io::Error::other("connection refused"));
        assert_eq!(error_chain(&outer), "cannot fetch: connection refused");
    }
}
