//! Parquet URL lists (LAION, CC3M, DataComp ship theirs so), read as a
//! stream: only the columns asked for, one record batch at a time, so a
//! list of tens of millions of rows holds one batch in memory.
//!
//! Every row gives exactly one item, in order, even a row whose URL is null
//! or empty (its item has an empty URL and fails as an invalid URL): a
//! dataset numbers its rows by their place in the file, and they must line
//! up with the input's.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::Value;

use super::columns::ListColumns;
use super::{Item, Listing, RowFields, SourceError};

/// Rows per record batch: a few hundred kilobytes of URLs and captions.
const BATCH_ROWS: usize = 1024;

/// Opens the Parquet list at `path`, reading `columns`.
pub(super) fn parquet_list(path: &Path, columns: &ListColumns) -> Result<Listing, SourceError> {
    let unreadable = |cause: String| SourceError::UrlList { path: path.to_path_buf(), cause: io::Error::other(cause) };
    let file = File::open(path).map_err(|cause| SourceError::UrlList { path: path.to_path_buf(), cause })?;
    // By the file's own Parquet types, not the Arrow schema its writer may
    // have embedded: a pandas "category" column then reads as the strings
    // it holds, not as a dictionary.
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
        .map_err(|err| unreadable(err.to_string()))?;
    let schema = builder.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|field| field.name().as_str()).collect();
    let found = || names.iter().map(|name| format!("{name:?}")).collect::<Vec<_>>().join(", ");
    let find = |column: &str, flag: &'static str| {
        let index = names.iter().position(|name| name.eq_ignore_ascii_case(column));
        index.ok_or_else(|| match flag {
            "--url-column" => {
                SourceError::NoUrlColumn { path: path.to_path_buf(), column: column.to_string(), found: found() }
            }
            _ => SourceError::NoColumn { path: path.to_path_buf(), column: column.to_string(), found: found(), flag },
        })
    };
    let type_of = |index: usize| schema.field(index).data_type().clone();
    let wrong_type = |index: usize, wanted| SourceError::ColumnType {
        path: path.to_path_buf(),
        column: names[index].to_string(),
        found: type_of(index).to_string(),
        wanted,
    };

    let url = find(columns.url(), "--url-column")?;
    if !is_text(&type_of(url)) {
        return Err(wrong_type(url, "the URL column must hold text"));
    }
    let caption = match &columns.caption {
        Some(name) => {
            let index = find(name, "--caption-column")?;
            if !is_text(&type_of(index)) {
                return Err(wrong_type(index, "the caption column must hold text"));
            }
            Some(index)
        }
        None => None,
    };
    let mut saved = Vec::new();
    for name in &columns.save {
        let index = find(name, "--save-columns")?;
        if !is_text(&type_of(index)) && json_kind(&type_of(index)).is_none() {
            return Err(wrong_type(index, "saved columns must hold text, numbers, booleans or nulls"));
        }
        saved.push((name.clone(), index));
    }

    // Read only the columns asked for; a projected batch keeps them in
    // the file's order, so each is found again by name.
    let mut roots = vec![url];
    roots.extend(caption);
    roots.extend(saved.iter().map(|(_, index)| *index));
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader =
        builder.with_projection(mask).with_batch_size(BATCH_ROWS).build().map_err(|err| unreadable(err.to_string()))?;
    let rows = Rows {
        path: path.to_path_buf(),
        reader,
        batch: None,
        next: 0,
        url: names[url].to_string(),
        caption: caption.map(|index| names[index].to_string()),
        saved: saved.into_iter().map(|(name, index)| (name, names[index].to_string())).collect(),
        wants_fields: columns.wants_fields(),
        failed: false,
    };
    Ok(Box::new(rows))
}

/// How many rows (so items) the Parquet list at `path` has, as its footer
/// says: read without reading a page. `None` if the file is not readable
/// Parquet (opening the listing will say why).
pub(super) fn parquet_rows(path: &Path) -> Option<usize> {
    let reader = SerializedFileReader::new(File::open(path).ok()?).ok()?;
    usize::try_from(reader.metadata().file_metadata().num_rows()).ok()
}

/// The rows of a Parquet list, batch by batch.
struct Rows {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
    batch: Option<RecordBatch>,
    /// The next row of `batch`.
    next: usize,
    url: String,
    caption: Option<String>,
    /// The saved columns: the name asked for, and the file's.
    saved: Vec<(String, String)>,
    wants_fields: bool,
    /// A batch could not be read: the listing has ended with that error.
    failed: bool,
}

impl Iterator for Rows {
    type Item = Result<Item, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        while self.batch.as_ref().is_none_or(|batch| self.next >= batch.num_rows()) {
            match self.reader.next()? {
                Ok(batch) => {
                    self.batch = Some(batch);
                    self.next = 0;
                }
                Err(err) => {
                    self.failed = true;
                    let cause = io::Error::other(err.to_string());
                    return Some(Err(SourceError::UrlList { path: self.path.clone(), cause }));
                }
            }
        }
        let batch = self.batch.as_ref()?;
        let row = self.next;
        self.next += 1;
        let column = |name: &str| batch.column_by_name(name);
        let url = column(&self.url).and_then(|array| text(array, row)).unwrap_or_default();
        let mut item = Item::from_url(url.trim());
        if self.wants_fields {
            let caption = self.caption.as_deref().and_then(column).and_then(|array| text(array, row));
            let columns = self
                .saved
                .iter()
                .map(|(name, file_name)| {
                    (name.clone(), column(file_name).map_or(Value::Null, |array| value(array, row)))
                })
                .collect();
            item.fields = Some(Box::new(RowFields { caption, columns, row: None }));
        }
        Some(Ok(item))
    }
}

fn is_text(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// The JSON kind a non-text column's values become, if it has one.
fn json_kind(data_type: &DataType) -> Option<&'static str> {
    use DataType::{
        Boolean, Float16, Float32, Float64, Int8, Int16, Int32, Int64, Null, UInt8, UInt16, UInt32, UInt64,
    };
    match data_type {
        Null => Some("null"),
        Boolean => Some("boolean"),
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => Some("integer"),
        Float16 | Float32 | Float64 => Some("number"),
        _ => None,
    }
}

/// A text cell, `None` when null.
fn text(array: &ArrayRef, row: usize) -> Option<String> {
    if array.is_null(row) {
        return None;
    }
    match array.data_type() {
        DataType::Utf8 => Some(array.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Some(array.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Some(array.as_string_view().value(row).to_string()),
        _ => None,
    }
}

/// A saved cell as JSON (a type checked at open; anything else is null).
fn value(array: &ArrayRef, row: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    let number = |value: f64| serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
    match array.data_type() {
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Int8 => array.as_primitive::<Int8Type>().value(row).into(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(row).into(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(row).into(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row).into(),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(row).into(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(row).into(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(row).into(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(row).into(),
        DataType::Float32 => number(f64::from(array.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => number(array.as_primitive::<Float64Type>().value(row)),
        _ => text(array, row).map_or(Value::Null, Value::String),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{BooleanArray, Float64Array, Int64Array, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;

    use super::*;
    use crate::sources::{count_items, open_list};

    /// Writes `rows` rows (URL `http://h/N.jpg`, null for every 7th; a
    /// caption, null for every 5th; an int, a float, a bool) in row
    /// groups of 10, compressed with `compression`.
    fn write_list(path: &Path, rows: usize, compression: Compression) {
        let urls: StringArray = (0..rows).map(|n| (n % 7 != 3).then(|| format!("http://h/{n}.jpg"))).collect();
        let captions: StringArray = (0..rows).map(|n| (n % 5 != 0).then(|| format!("caption {n}"))).collect();
        let ids: Int64Array = (0..rows).map(|n| Some(n as i64 * 10)).collect();
        let scores: Float64Array = (0..rows).map(|n| (n % 2 == 0).then_some(n as f64 / 2.0)).collect();
        let flags: BooleanArray = (0..rows).map(|n| Some(n % 3 == 0)).collect();
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("id", Arc::new(ids)),
            ("URL", Arc::new(urls)),
            ("caption", Arc::new(captions)),
            ("score", Arc::new(scores)),
            ("nsfw", Arc::new(flags)),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let properties =
            WriterProperties::builder().set_max_row_group_row_count(Some(10)).set_compression(compression).build();
        let mut writer = ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    fn columns(caption: Option<&str>, save: &[&str]) -> ListColumns {
        ListColumns {
            url: None,
            caption: caption.map(str::to_string),
            save: save.iter().map(|name| (*name).to_string()).collect(),
            every_row: false,
        }
    }

    /// Snappy and zstd, several row groups: every row in order (a null URL
    /// as an empty one), captions and saved columns typed.
    #[test]
    fn rows_in_order_with_captions_and_columns() {
        let dir = tempfile::tempdir().unwrap();
        for (name, compression) in
            [("s.parquet", Compression::SNAPPY), ("z.parquet", Compression::ZSTD(ZstdLevel::default()))]
        {
            let path = dir.path().join(name);
            write_list(&path, 25, compression);
            let items: Vec<Item> = open_list(&path, &columns(Some("caption"), &["id", "score", "nsfw"]))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(items.len(), 25, "{name}: one item per row");
            assert_eq!(count_items(&path, None), Some(25), "{name}: the footer's count is the listing's");
            for (n, item) in items.iter().enumerate() {
                let url = if n % 7 == 3 { String::new() } else { format!("http://h/{n}.jpg") };
                assert_eq!(item.url, url);
                let fields = item.fields.as_ref().unwrap();
                assert_eq!(fields.caption, (n % 5 != 0).then(|| format!("caption {n}")));
                assert_eq!(fields.columns["id"], serde_json::json!(n * 10));
                let score = if n % 2 == 0 { serde_json::json!(n as f64 / 2.0) } else { Value::Null };
                assert_eq!(fields.columns["score"], score);
                assert_eq!(fields.columns["nsfw"], Value::Bool(n % 3 == 0));
            }
        }
    }

    /// Without caption or saved columns an item carries no fields; the
    /// URL column is found by name whatever its case.
    #[test]
    fn plain_urls_carry_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.parquet");
        write_list(&path, 3, Compression::SNAPPY);
        let items: Vec<Item> = open_list(&path, &ListColumns::default()).unwrap().map(Result::unwrap).collect();
        assert_eq!(items[0], Item::from_url("http://h/0.jpg"));
    }

    /// A missing column names the flag and the columns there are; a URL
    /// column of numbers is refused; a file that is not Parquet is one line.
    #[test]
    fn bad_columns_and_files_are_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.parquet");
        write_list(&path, 3, Compression::SNAPPY);
        let err = open_list(&path, &columns(Some("text"), &[])).err().unwrap().to_string();
        assert!(err.contains("\"text\"") && err.contains("--caption-column") && err.contains("\"caption\""), "{err}");
        let err = open_list(&path, &columns(None, &["width"])).err().unwrap().to_string();
        assert!(err.contains("--save-columns"), "{err}");
        let url_id = ListColumns { url: Some("id".into()), ..ListColumns::default() };
        let err = open_list(&path, &url_id).err().unwrap().to_string();
        assert!(err.contains("\"id\"") && err.contains("Int64") && err.contains("text"), "{err}");
        let broken = dir.path().join("broken.parquet");
        std::fs::write(&broken, b"PAR1 this is not a parquet file").unwrap();
        let err = open_list(&broken, &ListColumns::default()).err().unwrap().to_string();
        assert!(err.contains("broken.parquet") && !err.contains('\n'), "{err}");
    }
}
