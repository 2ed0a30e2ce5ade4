//! One-line messages: what every error that reaches a person goes through.
//!
//! Two kinds of text end up in a message, and each has its own danger:
//!
//! - **Input echoed back** (a URL, a column value, a file name) is chosen by
//!   whoever wrote the list, which may be hostile: `ESC]0;…` retitles a
//!   terminal, `ESC[2J` clears it, a bidi override reorders what a person
//!   reads, and a 5 MB URL fills a log. [`shorten`] escapes every control
//!   and direction-override character (`\u{1b}`, `\n`) and cuts the text to
//!   [`MAX_QUOTED`] characters.
//! - **A cause** is a chain (`reqwest` puts the useful part, "connection
//!   refused", in the innermost source, after a long request line), so it
//!   is cut in the *middle* ([`one_line`]): the head says what was being
//!   done, the tail says why, and neither is lost to a fixed-width cut.

/// Longest piece of input quoted in a message, in characters: a whole
/// ordinary URL fits, a hostile one cannot fill a screen.
const MAX_QUOTED: usize = 200;

/// Longest cause kept in a message, in characters: a store's XML error body
/// can run to kilobytes (S3 echoes the canonical request); 300 keeps the
/// operation at the head and the innermost cause at the tail.
const MAX_CAUSE: usize = 300;

/// Where a cause cut in the middle was cut.
const CUT: &str = " … ";

/// `text` as it may be quoted in a message: control characters escaped,
/// cut to [`MAX_QUOTED`] characters with `…`.
pub(crate) fn shorten(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len().min(MAX_QUOTED + 8));
    for (count, c) in text.chars().enumerate() {
        if count == MAX_QUOTED {
            quoted.push('…');
            break;
        }
        push_escaped(&mut quoted, c);
    }
    quoted
}

/// `line` with every control character escaped and nothing cut: the last
/// guard on what is printed for people, whatever it was built from.
pub(crate) fn printable(line: &str) -> String {
    if !line.chars().any(|c| c.is_control() || is_direction_override(c)) {
        return line.to_string();
    }
    let mut shown = String::with_capacity(line.len() + 8);
    line.chars().for_each(|c| push_escaped(&mut shown, c));
    shown
}

/// `cause` on one short line: white space (new lines included) folded to
/// single spaces, control characters escaped, and cut in the middle to
/// [`MAX_CAUSE`] characters so that the innermost cause, at the end of a
/// chain, is always kept.
pub(crate) fn one_line(cause: &str) -> String {
    let mut folded = String::with_capacity(cause.len().min(4 * MAX_CAUSE));
    for word in cause.split_whitespace() {
        if !folded.is_empty() {
            folded.push(' ');
        }
        for c in word.chars() {
            push_escaped(&mut folded, c);
        }
    }
    let count = folded.chars().count();
    if count <= MAX_CAUSE {
        return folded;
    }
    let keep = MAX_CAUSE - CUT.chars().count();
    let head_len = keep / 2;
    let tail_len = keep - head_len;
    let head: String = folded.chars().take(head_len).collect();
    let tail: String = folded.chars().skip(count - tail_len).collect();
    format!("{}{CUT}{}", head.trim_end(), tail.trim_start())
}

/// An error and its causes on one line, outermost first, joined by `: `,
/// and made short by [`one_line`]. A cause whose text the error before it
/// already shows is not repeated (many libraries print their source
/// inside their own message).
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    one_line(&whole_chain(err))
}

/// [`error_chain`] before it is made short: for a caller that must mask
/// secrets first (a secret cut in two would no longer be found).
pub(crate) fn whole_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        let said = inner.to_string();
        if !said.is_empty() && !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = inner.source();
    }
    text
}

/// Appends `c`, escaped if a terminal would act on it rather than show it.
fn push_escaped(out: &mut String, c: char) {
    if c.is_control() || is_direction_override(c) {
        out.extend(c.escape_debug());
    } else {
        out.push(c);
    }
}

/// Unicode's invisible direction marks and overrides, which make a
/// terminal show text in another order than it is ("Trojan Source").
fn is_direction_override(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Long input is cut with an ellipsis; short input is left alone.
    #[test]
    fn shortens_long_text_only() {
        assert_eq!(shorten("http://h/a.jpg"), "http://h/a.jpg");
        let long = "x".repeat(5_000);
        let cut = shorten(&long);
        assert_eq!(cut.chars().count(), MAX_QUOTED + 1);
        assert!(cut.ends_with('…'));
    }

    /// Escape sequences, new lines and direction overrides from input are
    /// shown, not acted on: nothing a terminal interprets is left.
    #[test]
    fn escapes_what_a_terminal_would_act_on() {
        let hostile = "http://h/\u{1b}]0;pwned\u{7}\u{1b}[2J\nfake line\r\u{202e}gpj.exe\u{9b}31m";
        let quoted = shorten(hostile);
        assert!(!quoted.chars().any(|c| c.is_control() || is_direction_override(c)), "{quoted}");
        assert!(quoted.contains("\\u{1b}]0;pwned"), "{quoted}");
        assert!(quoted.contains("\\nfake line\\r\\u{202e}"), "{quoted}");
        // Ordinary non-ASCII text is kept as it is.
        assert_eq!(shorten("http://h/café-東京.jpg"), "http://h/café-東京.jpg");
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

    #[derive(Debug, thiserror::Error)]
    #[error("builder error: {0}")]
    struct Repeats(#[source] std::io::Error);

    /// A cause the outer message already shows is said once.
    #[test]
    fn a_cause_is_not_repeated() {
        let outer = Repeats(std::io::Error::other("URL scheme is not allowed"));
        assert_eq!(error_chain(&outer), "builder error: URL scheme is not allowed");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("Error performing PUT {0}")]
    struct LongRequest(String, #[source] std::io::Error);

    /// A chain longer than a line keeps its head and its innermost cause:
    /// it is cut in the middle, never before the cause.
    #[test]
    fn long_chains_keep_the_innermost_cause() {
        let request = format!("http://127.0.0.1:9/bucket/{}", "k".repeat(2_000));
        let err = LongRequest(request, std::io::Error::other("tcp connect error: Connection refused (os error 111)"));
        let line = error_chain(&err);
        assert!(line.chars().count() <= MAX_CAUSE, "{}", line.chars().count());
        assert!(line.starts_with("Error performing PUT http://127.0.0.1:9/bucket/"), "{line}");
        assert!(line.ends_with("Connection refused (os error 111)"), "{line}");
        assert!(line.contains(CUT));
    }

    /// A multi-line body (an XML error) becomes one line.
    #[test]
    fn causes_are_one_line() {
        let cause = one_line(&format!("<Error>\n  <Code>Denied</Code>\n{}</Error>", "x".repeat(1000)));
        assert!(!cause.contains('\n'));
        assert!(cause.chars().count() <= MAX_CAUSE);
        assert!(cause.starts_with("<Error> <Code>Denied</Code>"));
        assert!(cause.ends_with("</Error>"));
    }
}
