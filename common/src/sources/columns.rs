//! [`ListColumns`]: which columns of a URL list a run reads, the same for
//! every format that has columns (CSV, TSV, JSON lines, Parquet).

/// The column (CSV, TSV) or field (JSON lines) read when `--url-column` is not given.
pub(crate) const DEFAULT_URL_COLUMN: &str = "url";

/// Which columns of a list to read: the URL's, and for datasets the
/// caption's and those to carry along.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListColumns {
    /// The URL column or field; `None` is `url`.
    pub url: Option<String>,
    /// The caption column or field (`--caption-column`).
    pub caption: Option<String>,
    /// The columns or fields carried into each item's fields (`--save-columns`).
    pub save: Vec<String>,
    /// Every row of a CSV, TSV or JSON-lines list becomes one item, a row
    /// without a readable URL one with an empty URL (which fails as
    /// invalid), instead of being skipped and counted: for a run that
    /// numbers rows by their place in the input (a dataset's).
    /// Parquet lists always give one item a row.
    pub every_row: bool,
}

impl ListColumns {
    /// The URL column's name.
    pub(crate) fn url(&self) -> &str {
        self.url.as_deref().unwrap_or(DEFAULT_URL_COLUMN)
    }

    /// Whether items carry [`RowFields`].
    pub(crate) fn wants_fields(&self) -> bool {
        self.caption.is_some() || !self.save.is_empty()
    }

    /// The flag that asked for columns, for a list that has none.
    pub(crate) fn columns_flag(&self) -> Option<&'static str> {
        if self.caption.is_some() {
            Some("--caption-column")
        } else if !self.save.is_empty() {
            Some("--save-columns")
        } else {
            None
        }
    }
}
