//! URL lists in the forms people have them: plain text, CSV, TSV or JSON
//! lines, any of them gzip-compressed, and Parquet (the `parquet` feature),
//! read as a stream.
//!
//! The format comes from the file name (`.csv`, `.tsv`, `.jsonl`/`.ndjson`,
//! each optionally followed by `.gz`, `.parquet`; anything else is one URL a
//! line); gzip and Parquet are recognised by their magic bytes whatever the
//! name. CSV, TSV and Parquet take the URL from the column named `url` (or
//! `--url-column NAME`); JSON lines from the field of that name. A dataset's
//! list also gives each row's caption (`--caption-column`) and the columns
//! to carry into its metadata (`--save-columns`), as the item's
//! [`RowFields`](super::RowFields).
//!
//! Every format is read one record at a time through a fixed-size buffer,
//! so memory stays flat whatever the file's size: ten million URLs never sit
//! in memory together (`common/tests/url_list_memory.rs` measures it). A row
//! that cannot be read is skipped and counted, and the count ends the
//! listing as an error, so one bad line in a million neither stops the run
//! nor goes unnoticed.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::columns::ListColumns;
use super::metadata::BadLines;
use super::{Item, Listing, RowFields, SourceError};

/// Read buffer for the file and the decompressor: large enough that reading
/// is a few system calls a megabyte, small enough not to matter.
const READ_BUFFER: usize = 64 * 1024;

/// The byte-order mark some editors (Excel, Notepad) put before UTF-8 text;
/// not whitespace to `trim`, so it is removed by name.
const BOM: char = '\u{feff}';

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The first four bytes of every Parquet file.
const PARQUET_MAGIC: [u8; 4] = *b"PAR1";

/// The layouts a URL list can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UrlListFormat {
    /// One URL a line; blank lines and `#` comments skipped.
    Text,
    /// Comma-separated, with a header line naming a URL column.
    Csv,
    /// Tab-separated, with a header line naming a URL column.
    Tsv,
    /// One JSON object a line, with a URL field.
    JsonLines,
    /// Apache Parquet, with a URL column.
    Parquet,
}

impl UrlListFormat {
    /// The format a file's name says it has (`.gz` is looked through).
    pub(crate) fn from_path(path: &Path) -> Self {
        let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        match name.rsplit_once('.').map(|(_, extension)| extension) {
            Some("csv") => UrlListFormat::Csv,
            Some("tsv" | "tab") => UrlListFormat::Tsv,
            Some("jsonl" | "ndjson") => UrlListFormat::JsonLines,
            Some("parquet") => UrlListFormat::Parquet,
            _ => UrlListFormat::Text,
        }
    }
}

/// Opens the URL list at `path`, in the format its name says, taking URLs
/// from `column` (default `url`) in CSV, TSV and JSON lines.
///
/// A missing file, or a CSV/TSV header without the column, is an error
/// here, before anything is downloaded.
pub fn open_url_list(path: &Path, column: Option<&str>) -> Result<Listing, SourceError> {
    open_list(path, &ListColumns { url: column.map(str::to_string), ..ListColumns::default() })
}

/// Opens the list at `path` reading `columns`: [`open_url_list`], with a
/// caption and saved columns in each item's [`RowFields`] when asked for.
///
/// A column asked for and missing, or a list without columns given
/// `--caption-column`/`--save-columns`, is an error here, before anything
/// is downloaded.
pub fn open_list(path: &Path, columns: &ListColumns) -> Result<Listing, SourceError> {
    let read_error = |cause| SourceError::UrlList { path: path.to_path_buf(), cause };
    let (format, reader) = sniffed(path).map_err(read_error)?;
    if format == UrlListFormat::Parquet {
        return parquet(path, columns);
    }
    let reader = decompressed(reader).map_err(read_error)?;
    match format {
        UrlListFormat::Text => match columns.columns_flag() {
            Some(flag) => Err(SourceError::NoColumns { flag, what: format!("{} (one URL a line)", path.display()) }),
            None => Ok(text_lines(path, reader)),
        },
        UrlListFormat::Csv => delimited(path, reader, b',', columns),
        UrlListFormat::Tsv => delimited(path, reader, b'\t', columns),
        UrlListFormat::JsonLines | UrlListFormat::Parquet => Ok(json_lines(path, reader, columns)),
    }
}

/// How many items [`open_list`] will list from `path`, when a quick look
/// can tell: a text list's URL lines (blank lines and comments skipped as
/// the listing skips them), counted in one streaming pass, gzipped or not;
/// a Parquet list's rows, from its footer. `None` for CSV, TSV and JSON
/// lines, whose unreadable rows only a full parse finds, and for a file
/// that cannot be read to its end (the listing will say why). Counting
/// stops at `at_most` (a run's `--count`): past it the number is not needed.
///
/// For the progress bar's total, one line in memory at a time: a million
/// URL lines (67 MB) took 0.65 s, gzipped 0.8 s, in a debug build on a
/// busy 2-core machine.
pub(crate) fn count_items(path: &Path, at_most: Option<usize>) -> Option<usize> {
    let (format, reader) = sniffed(path).ok()?;
    match format {
        UrlListFormat::Text => count_urls(decompressed(reader).ok()?, at_most.unwrap_or(usize::MAX)).ok(),
        UrlListFormat::Parquet => parquet_rows(path),
        UrlListFormat::Csv | UrlListFormat::Tsv | UrlListFormat::JsonLines => None,
    }
}

/// The file at `path`, open, and its format: Parquet by its magic bytes,
/// else as its name says.
fn sniffed(path: &Path) -> io::Result<(UrlListFormat, BufReader<File>)> {
    let mut reader = BufReader::with_capacity(READ_BUFFER, File::open(path)?);
    let format = if reader.fill_buf()?.starts_with(&PARQUET_MAGIC) {
        UrlListFormat::Parquet
    } else {
        UrlListFormat::from_path(path)
    };
    Ok((format, reader))
}

#[cfg(feature = "parquet")]
fn parquet_rows(path: &Path) -> Option<usize> {
    super::parquet_list::parquet_rows(path)
}

#[cfg(not(feature = "parquet"))]
fn parquet_rows(_: &Path) -> Option<usize> {
    None
}

#[cfg(feature = "parquet")]
fn parquet(path: &Path, columns: &ListColumns) -> Result<Listing, SourceError> {
    super::parquet_list::parquet_list(path, columns)
}

#[cfg(not(feature = "parquet"))]
fn parquet(path: &Path, _: &ListColumns) -> Result<Listing, SourceError> {
    Err(SourceError::NoParquet { path: path.to_path_buf() })
}

/// The file's bytes, gunzipped if they start with gzip's magic bytes.
fn decompressed(mut reader: BufReader<File>) -> io::Result<Box<dyn BufRead + Send>> {
    let is_gzip = reader.fill_buf()?.starts_with(&GZIP_MAGIC);
    Ok(if is_gzip {
        Box::new(BufReader::with_capacity(READ_BUFFER, MultiGzDecoder::new(reader)))
    } else {
        Box::new(reader)
    })
}

/// One URL a line: blank lines and `#` comments skipped. A line of bad
/// UTF-8 becomes one bad URL (which fails to download with a reason), not
/// the end of the list.
fn text_lines(path: &Path, reader: Box<dyn BufRead + Send>) -> Listing {
    let path = path.to_path_buf();
    Box::new(reader.split(b'\n').filter_map(move |line| match line {
        Ok(line) => url_of_line(&String::from_utf8_lossy(&line)).map(|url| Ok(Item::from_url(url))),
        Err(cause) => Some(Err(SourceError::UrlList { path: path.clone(), cause })),
    }))
}

/// The URL on a line of a text list; `None` for a blank line or a `#`
/// comment.
fn url_of_line(line: &str) -> Option<&str> {
    // A byte-order mark is not whitespace to `trim`, and may sit on either
    // side of an indent ("\u{feff}\t# comment"): both go, or the comment
    // would be read as the URL "# comment".
    let url = line.trim_matches(|c: char| c.is_whitespace() || c == BOM);
    (!url.is_empty() && !url.starts_with('#')).then_some(url)
}

/// The URL lines of a text list, counted as [`text_lines`] lists them (the
/// same lines, the same rule) up to `at_most`, reusing one line's buffer.
fn count_urls(mut reader: Box<dyn BufRead + Send>, at_most: usize) -> io::Result<usize> {
    let mut line = Vec::new();
    let mut count = 0;
    while count < at_most {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(count);
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if url_of_line(&String::from_utf8_lossy(&line)).is_some() {
            count += 1;
        }
    }
    Ok(count)
}

/// CSV or TSV: the header line names the columns; rows are read one at a time.
fn delimited(
    path: &Path,
    reader: Box<dyn BufRead + Send>,
    delimiter: u8,
    columns: &ListColumns,
) -> Result<Listing, SourceError> {
    let column = columns.url();
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        // Rows of different lengths are read as they are; a short row just
        // lacks the URL and is counted as bad.
        .flexible(true)
        // TSV files rarely quote, and a stray `"` in a title must not
        // swallow the rest of the file.
        .quoting(delimiter != b'\t')
        .from_reader(reader);
    let csv_error = |err: csv::Error| SourceError::UrlList { path: path.to_path_buf(), cause: io::Error::other(err) };
    let headers = csv.byte_headers().map_err(csv_error)?.clone();
    let position = |column: &str| {
        headers
            .iter()
            .position(|name| String::from_utf8_lossy(name).trim_start_matches(BOM).trim().eq_ignore_ascii_case(column))
    };
    let found =
        || headers.iter().map(|name| format!("{:?}", String::from_utf8_lossy(name))).collect::<Vec<_>>().join(", ");
    let Some(index) = position(column) else {
        return Err(SourceError::NoUrlColumn { path: path.to_path_buf(), column: column.to_string(), found: found() });
    };
    let missing = |column: &str, flag| SourceError::NoColumn {
        path: path.to_path_buf(),
        column: column.to_string(),
        found: found(),
        flag,
    };
    let caption = match &columns.caption {
        Some(name) => Some(position(name).ok_or_else(|| missing(name, "--caption-column"))?),
        None => None,
    };
    let saved = columns
        .save
        .iter()
        .map(|name| position(name).map(|index| (name.clone(), index)).ok_or_else(|| missing(name, "--save-columns")))
        .collect::<Result<Vec<_>, _>>()?;
    let wants_fields = columns.wants_fields();
    let every_row = columns.every_row;
    let what = format!("{} rows with a {column:?} column", if delimiter == b'\t' { "TSV" } else { "CSV" });
    let path = path.to_path_buf();
    let mut bad = BadLines::default();
    let mut rows = csv.into_byte_records();
    Ok(Box::new(std::iter::from_fn(move || {
        loop {
            let Some(row) = rows.next() else {
                return bad.take_error(&path, &what);
            };
            match row {
                Ok(row) => match row.get(index).map(|field| String::from_utf8_lossy(field).trim().to_string()) {
                    Some(url) if !url.is_empty() || every_row => {
                        let mut item = Item::from_url(url);
                        if wants_fields {
                            let text =
                                |index: usize| row.get(index).map(|field| String::from_utf8_lossy(field).into_owned());
                            let columns = saved
                                .iter()
                                .map(|(name, index)| {
                                    (
                                        name.clone(),
                                        text(*index).map_or(serde_json::Value::Null, serde_json::Value::String),
                                    )
                                })
                                .collect();
                            let caption = caption.and_then(text).filter(|caption| !caption.is_empty());
                            item.fields = Some(Box::new(RowFields { caption, columns, row: None }));
                        }
                        return Some(Ok(item));
                    }
                    _ if every_row => return Some(Ok(Item::from_url(""))),
                    _ => bad.note(line_of(row.position()), "no URL in the column"),
                },
                // An I/O error (a truncated gzip stream) ends the list; a
                // malformed row is skipped (or, numbering rows, an item
                // with no URL, which fails).
                Err(err) if matches!(err.kind(), csv::ErrorKind::Io(_)) => {
                    return Some(Err(SourceError::UrlList { path: path.clone(), cause: io::Error::other(err) }));
                }
                Err(_) if every_row => return Some(Ok(Item::from_url(""))),
                Err(err) => bad.note(line_of(err.position()), &err.to_string()),
            }
        }
    })))
}

/// The 1-based line a CSV record starts on.
fn line_of(position: Option<&csv::Position>) -> usize {
    position.map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX))
}

/// JSON lines: one object a line, the URL in field `columns.url`.
fn json_lines(path: &Path, reader: Box<dyn BufRead + Send>, columns: &ListColumns) -> Listing {
    let path = path.to_path_buf();
    let column = columns.url().to_string();
    let columns = columns.clone();
    let what = format!("JSON objects with a {column:?} field");
    let mut bad = BadLines::default();
    let mut lines = reader.split(b'\n').enumerate();
    Box::new(std::iter::from_fn(move || {
        loop {
            let Some((index, line)) = lines.next() else {
                return bad.take_error(&path, &what);
            };
            let line = match line {
                Ok(line) => line,
                Err(cause) => return Some(Err(SourceError::UrlList { path: path.clone(), cause })),
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let line = line.strip_prefix(BOM.to_string().as_bytes()).unwrap_or(&line);
            match serde_json::from_slice::<serde_json::Value>(line) {
                Ok(object) => match object.get(&column).and_then(serde_json::Value::as_str).map(str::trim) {
                    url if url.is_some_and(|url| !url.is_empty()) || columns.every_row => {
                        let url = url.unwrap_or_default();
                        let mut item = Item::from_url(url);
                        if columns.wants_fields() {
                            let field = |name: &String| object.get(name).cloned().unwrap_or(serde_json::Value::Null);
                            let caption = columns
                                .caption
                                .as_ref()
                                .and_then(|name| object.get(name)?.as_str().map(str::to_string));
                            let saved = columns.save.iter().map(|name| (name.clone(), field(name))).collect();
                            item.fields = Some(Box::new(RowFields { caption, columns: saved, row: None }));
                        }
                        return Some(Ok(item));
                    }
                    _ => bad.note(index + 1, &format!("no string field {column:?}")),
                },
                Err(_) if columns.every_row => return Some(Ok(Item::from_url(""))),
                Err(err) => bad.note(index + 1, &err.to_string()),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn urls(listing: Listing) -> (Vec<String>, Option<String>) {
        let mut good = Vec::new();
        let mut error = None;
        for item in listing {
            match item {
                Ok(image) => good.push(image.url),
                Err(err) => error = Some(err.to_string()),
            }
        }
        (good, error)
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// Formats follow the name, through `.gz`.
    #[test]
    fn format_from_name() {
        assert_eq!(UrlListFormat::from_path(Path::new("a.CSV")), UrlListFormat::Csv);
        assert_eq!(UrlListFormat::from_path(Path::new("a.tsv.gz")), UrlListFormat::Tsv);
        assert_eq!(UrlListFormat::from_path(Path::new("a.ndjson")), UrlListFormat::JsonLines);
        assert_eq!(UrlListFormat::from_path(Path::new("urls.txt.gz")), UrlListFormat::Text);
        assert_eq!(UrlListFormat::from_path(Path::new("urls")), UrlListFormat::Text);
    }

    /// CSV with quotes and commas in other columns, the URL column found by
    /// name; a row without a URL is skipped and reported at the end.
    #[test]
    fn csv_by_column_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("photos.csv");
        std::fs::write(&path, "id,title,URL\n1,\"a, b\",http://h/1.jpg\n2,\"say \"\"hi\"\"\",http://h/2.jpg\n3,none\n")
            .unwrap();
        let (good, error) = urls(open_url_list(&path, None).unwrap());
        assert_eq!(good, ["http://h/1.jpg", "http://h/2.jpg"]);
        let error = error.unwrap();
        assert!(error.contains("skipped 1 line") && error.contains("line 4"), "{error}");
        // A byte-order mark (Excel's "CSV UTF-8") does not hide the column.
        let bom = dir.path().join("excel.csv");
        std::fs::write(&bom, "\u{feff}url,n\nhttp://h/9.jpg,1\n").unwrap();
        assert_eq!(urls(open_url_list(&bom, None).unwrap()), (vec!["http://h/9.jpg".into()], None));
    }

    /// TSV, gzip-compressed, with another column named by `--url-column`.
    #[test]
    fn gzipped_tsv_with_named_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("photos.tsv.gz");
        std::fs::write(&path, gzip(b"name\tlink\na \"quoted\thttp://h/1.jpg\nb\t\nc\thttp://h/3.jpg\n")).unwrap();
        let err = open_url_list(&path, None).err().unwrap().to_string();
        assert!(err.contains("\"url\"") && err.contains("\"link\"") && err.contains("--url-column"), "{err}");
        let (good, error) = urls(open_url_list(&path, Some("link")).unwrap());
        assert_eq!(good, ["http://h/1.jpg", "http://h/3.jpg"]);
        assert!(error.unwrap().contains("line 3"));
    }

    /// JSON lines, and plain text gzipped under a name that does not say so.
    #[test]
    fn json_lines_and_sniffed_gzip_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("photos.jsonl");
        std::fs::write(
            &path,
            "\u{feff}{\"url\": \"http://h/1.jpg\", \"w\": 3}\n\n{\"href\": 1}\nnot json\n{\"url\":\"http://h/2.jpg\"}\n",
        )
        .unwrap();
        let (good, error) = urls(open_url_list(&path, None).unwrap());
        assert_eq!(good, ["http://h/1.jpg", "http://h/2.jpg"]);
        assert!(error.unwrap().contains("skipped 2 line"));
        let text = dir.path().join("urls.txt");
        std::fs::write(&text, gzip("\u{feff}# c\nhttp://h/1.jpg\n\nhttp://h/2.jpg\n".as_bytes())).unwrap();
        assert_eq!(
            urls(open_url_list(&text, None).unwrap()),
            (vec!["http://h/1.jpg".into(), "http://h/2.jpg".into()], None)
        );
    }

    /// The count taken before a run is the number of items the listing
    /// gives: blank lines, comments, byte-order marks, CRLF and a last line
    /// without its newline as the listing reads them, gzipped or not; a
    /// list with columns is not counted ahead.
    #[test]
    fn count_ahead_is_what_the_listing_gives() {
        let dir = tempfile::tempdir().unwrap();
        let text: &[u8] = b"\xef\xbb\xbf# urls\r\nhttp://h/1.jpg\r\n\n   \n\t# indented comment\n  http://h/2.jpg  \n\
                            \xff\xfe not utf-8\n#\nhttp://h/3.jpg";
        let plain = dir.path().join("urls.txt");
        std::fs::write(&plain, text).unwrap();
        let zipped = dir.path().join("urls.txt.gz");
        std::fs::write(&zipped, gzip(text)).unwrap();
        for path in [&plain, &zipped] {
            let listed = open_url_list(path, None).unwrap().count();
            assert_eq!(listed, 4, "{}", path.display());
            assert_eq!(count_items(path, None), Some(listed), "{}", path.display());
            assert_eq!(count_items(path, Some(2)), Some(2), "counting stops at --count");
        }
        let csv = dir.path().join("urls.csv");
        std::fs::write(&csv, "url\nhttp://h/1.jpg\n").unwrap();
        assert_eq!(count_items(&csv, None), None);
        assert_eq!(count_items(&dir.path().join("missing.txt"), None), None);
        std::fs::write(&zipped, &gzip(text)[..20]).unwrap();
        assert_eq!(count_items(&zipped, None), None, "a truncated gzip stream has no count");
    }

    /// A dataset's CSV and JSON lines give each item its caption and saved
    /// columns; a missing column is named with its flag; a plain list has
    /// no columns to give.
    #[test]
    fn captions_and_saved_columns() {
        let dir = tempfile::tempdir().unwrap();
        let columns = ListColumns {
            url: None,
            caption: Some("TEXT".into()),
            save: vec!["score".into(), "missing_in_json".into()],
            every_row: false,
        };
        let csv = dir.path().join("d.csv");
        std::fs::write(
            &csv,
            "url,text,score,missing_in_json\nhttp://h/1.jpg,\"a cat, grey\",0.5,x\nhttp://h/2.jpg,,1,\n",
        )
        .unwrap();
        let items: Vec<Item> = open_list(&csv, &columns).unwrap().map(Result::unwrap).collect();
        let fields = items[0].fields.as_ref().unwrap();
        assert_eq!(fields.caption.as_deref(), Some("a cat, grey"));
        assert_eq!(fields.columns["score"], "0.5");
        assert_eq!(items[1].fields.as_ref().unwrap().caption, None, "an empty caption is none");

        let jsonl = dir.path().join("d.jsonl");
        std::fs::write(&jsonl, "{\"url\":\"http://h/1.jpg\",\"TEXT\":\"hi\",\"score\":0.5}\n").unwrap();
        let items: Vec<Item> = open_list(&jsonl, &columns).unwrap().map(Result::unwrap).collect();
        let fields = items[0].fields.as_ref().unwrap();
        assert_eq!((fields.caption.as_deref(), &fields.columns["score"]), (Some("hi"), &serde_json::json!(0.5)));
        assert_eq!(fields.columns["missing_in_json"], serde_json::Value::Null);

        let missing = ListColumns { caption: Some("alt".into()), ..ListColumns::default() };
        let err = open_list(&csv, &missing).err().unwrap().to_string();
        assert!(err.contains("\"alt\"") && err.contains("--caption-column") && err.contains("\"text\""), "{err}");
        let text = dir.path().join("urls.txt");
        std::fs::write(&text, "http://h/1.jpg\n").unwrap();
        let err = open_list(&text, &missing).err().unwrap().to_string();
        assert!(err.contains("--caption-column") && err.contains("one URL a line"), "{err}");
        assert!(open_list(&text, &ListColumns::default()).unwrap().all(|item| item.unwrap().fields.is_none()));

        // Numbering rows: a row without a URL is an item with an empty one, in its place.
        let every_row = ListColumns { every_row: true, ..ListColumns::default() };
        let urls: Vec<String> = open_list(&csv, &every_row).unwrap().map(|item| item.unwrap().url).collect();
        assert_eq!(urls, ["http://h/1.jpg", "http://h/2.jpg"]);
        std::fs::write(&jsonl, "{\"url\":\"http://h/1.jpg\"}\nnot json\n{\"href\":1}\n{\"url\":\"http://h/4.jpg\"}\n")
            .unwrap();
        let urls: Vec<String> = open_list(&jsonl, &every_row).unwrap().map(|item| item.unwrap().url).collect();
        assert_eq!(urls, ["http://h/1.jpg", "", "", "http://h/4.jpg"]);
    }
}
