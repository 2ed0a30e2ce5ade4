//! A shard's rows as a Parquet file: one row per input row, the columns
//! the established tool writes (key, url, caption, status, error_message,
//! width, height, original_width, original_height, exif, sha256) with
//! ours beside them (`name` for loose files, `error_kind`), then the
//! saved columns, then (`parquet` format) the image in `jpg`.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::{Map, Value};

use super::RESERVED_COLUMNS;

/// One input row as the metadata has it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct Row {
    pub(crate) key: String,
    /// `files`: the image's name (its objects are `NAME_thumbnail.jpg`, `NAME/crop-NNN.jpg`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    pub(crate) url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) caption: Option<String>,
    /// `success`, `failed_to_download` or `failed_to_resize`, as the
    /// established tool says; a row an earlier run saved is a success.
    pub(crate) status: String,
    /// A failure's kind, finer than its status: `status` (an HTTP
    /// status), `timeout`, `dns`, `not_an_image`, `transform`, ...
    pub(crate) error_kind: Option<String>,
    pub(crate) error_message: Option<String>,
    pub(crate) width: Option<u32>,
    pub(crate) height: Option<u32>,
    pub(crate) original_width: Option<u32>,
    pub(crate) original_height: Option<u32>,
    /// The original's EXIF tags as a JSON object (`--extract-exif`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) exif: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sha256: Option<String>,
    #[serde(flatten)]
    pub(crate) columns: Map<String, Value>,
    /// `parquet` format: the image, for its `jpg` column.
    #[serde(skip)]
    pub(crate) jpeg: Option<Vec<u8>>,
    /// `files`: a row an earlier run saved and this one skipped, whose
    /// sizes and hash that run's metadata may know.
    #[serde(skip)]
    pub(super) from_earlier: bool,
}

/// The status of a row whose sample was made.
pub(super) const SUCCESS: &str = "success";

/// The status of a row whose image could not be had, as the established tool says.
pub(super) const FAILED_TO_DOWNLOAD: &str = "failed_to_download";

/// The status of a row whose image came but was refused or could not be
/// made (it does not decode, `--min-image-size`, ...).
pub(super) const FAILED_TO_RESIZE: &str = "failed_to_resize";

impl Row {
    /// Whether the row's sample was made.
    pub(crate) fn is_success(&self) -> bool {
        self.status == SUCCESS
    }
}

/// Which optional columns a dataset's tables have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TableSpec {
    pub(super) caption: bool,
    /// The `name` column (`files`: the objects' name).
    pub(super) names: bool,
    pub(super) saved: Vec<String>,
    pub(super) sha256: bool,
    pub(super) exif: bool,
    /// The `jpg` column (`parquet` format).
    pub(super) images: bool,
}

/// The rows as a Parquet file (snappy, as pyarrow writes by default).
pub(super) fn parquet_bytes(rows: &[Row], spec: &TableSpec) -> Result<Vec<u8>, String> {
    let mut fields = vec![Field::new("key", DataType::Utf8, false), Field::new("url", DataType::Utf8, false)];
    let mut columns: Vec<ArrayRef> = vec![strings(rows, |row| Some(&row.key)), strings(rows, |row| Some(&row.url))];
    if spec.names {
        fields.push(Field::new("name", DataType::Utf8, true));
        columns.push(strings(rows, |row| row.name.as_deref()));
    }
    if spec.caption {
        fields.push(Field::new("caption", DataType::Utf8, true));
        columns.push(strings(rows, |row| row.caption.as_deref()));
    }
    fields.push(Field::new("status", DataType::Utf8, false));
    columns.push(strings(rows, |row| Some(&row.status)));
    fields.push(Field::new("error_kind", DataType::Utf8, true));
    columns.push(strings(rows, |row| row.error_kind.as_deref()));
    fields.push(Field::new("error_message", DataType::Utf8, true));
    columns.push(strings(rows, |row| row.error_message.as_deref()));
    for (name, size) in [
        ("width", (|row: &Row| row.width) as fn(&Row) -> Option<u32>),
        ("height", |row| row.height),
        ("original_width", |row| row.original_width),
        ("original_height", |row| row.original_height),
    ] {
        fields.push(Field::new(name, DataType::Int32, true));
        let mut builder = Int32Builder::with_capacity(rows.len());
        for row in rows {
            builder.append_option(size(row).and_then(|value| i32::try_from(value).ok()));
        }
        columns.push(Arc::new(builder.finish()));
    }
    if spec.exif {
        fields.push(Field::new("exif", DataType::Utf8, true));
        columns.push(strings(rows, |row| row.exif.as_deref()));
    }
    if spec.sha256 {
        fields.push(Field::new("sha256", DataType::Utf8, true));
        columns.push(strings(rows, |row| row.sha256.as_deref()));
    }
    for name in &spec.saved {
        let values: Vec<&Value> = rows.iter().map(|row| row.columns.get(name).unwrap_or(&Value::Null)).collect();
        let (data_type, column) = saved_column(&values);
        fields.push(Field::new(name, data_type, true));
        columns.push(column);
    }
    if spec.images {
        fields.push(Field::new("jpg", DataType::Binary, true));
        let mut builder = BinaryBuilder::with_capacity(rows.len(), 0);
        for row in rows {
            builder.append_option(row.jpeg.as_deref());
        }
        columns.push(Arc::new(builder.finish()));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).map_err(|err| err.to_string())?;
    let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut writer = ArrowWriter::try_new(Vec::new(), schema, Some(properties)).map_err(|err| err.to_string())?;
    writer.write(&batch).map_err(|err| err.to_string())?;
    writer.into_inner().map_err(|err| err.to_string())
}

/// A text column.
fn strings<'a>(rows: &'a [Row], value: impl Fn(&'a Row) -> Option<&'a str>) -> ArrayRef {
    let mut builder = StringBuilder::with_capacity(rows.len(), 0);
    for row in rows {
        builder.append_option(value(row));
    }
    Arc::new(builder.finish())
}

/// A saved column, typed by its values: integers, floats, booleans, or
/// else text (strings as they are, anything else as its JSON).
fn saved_column(values: &[&Value]) -> (DataType, ArrayRef) {
    let present = || values.iter().filter(|value| !value.is_null());
    if present().clone().count() > 0 && present().clone().all(|value| value.is_i64()) {
        let mut builder = Int64Builder::with_capacity(values.len());
        values.iter().for_each(|value| builder.append_option(value.as_i64()));
        return (DataType::Int64, Arc::new(builder.finish()));
    }
    if present().clone().count() > 0 && present().clone().all(|value| value.is_number()) {
        let mut builder = Float64Builder::with_capacity(values.len());
        values.iter().for_each(|value| builder.append_option(value.as_f64()));
        return (DataType::Float64, Arc::new(builder.finish()));
    }
    if present().clone().count() > 0 && present().clone().all(|value| value.is_boolean()) {
        let mut builder = BooleanBuilder::with_capacity(values.len());
        values.iter().for_each(|value| builder.append_option(value.as_bool()));
        return (DataType::Boolean, Arc::new(builder.finish()));
    }
    let mut builder = StringBuilder::with_capacity(values.len(), 0);
    for value in values {
        match value {
            Value::Null => builder.append_null(),
            Value::String(text) => builder.append_value(text),
            other => builder.append_value(other.to_string()),
        }
    }
    (DataType::Utf8, Arc::new(builder.finish()))
}

/// What an earlier version of a shard's metadata said of a row's image.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Earlier {
    pub(super) status: String,
    pub(super) width: Option<u32>,
    pub(super) height: Option<u32>,
    pub(super) original_width: Option<u32>,
    pub(super) original_height: Option<u32>,
    pub(super) exif: Option<String>,
    pub(super) sha256: Option<String>,
}

/// Reads the outcomes of an earlier `NNNNN.parquet`, by key.
pub(super) fn read_outcomes(bytes: Vec<u8>) -> Result<HashMap<String, Earlier>, String> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .and_then(ParquetRecordBatchReaderBuilder::build)
        .map_err(|err| err.to_string())?;
    let mut earlier = HashMap::new();
    for batch in reader {
        let batch = batch.map_err(|err| err.to_string())?;
        let text = |name: &str, row: usize| text_at(&batch, name, row);
        let size = |name: &str, row: usize| size_at(&batch, name, row);
        for row in 0..batch.num_rows() {
            let (Some(key), Some(status)) = (text("key", row), text("status", row)) else { continue };
            let outcome = Earlier {
                status,
                width: size("width", row),
                height: size("height", row),
                original_width: size("original_width", row),
                original_height: size("original_height", row),
                exif: text("exif", row),
                sha256: text("sha256", row),
            };
            earlier.insert(key, outcome);
        }
    }
    Ok(earlier)
}

/// A string column's value at `row`, if the column exists and the value is set.
fn text_at(batch: &RecordBatch, name: &str, row: usize) -> Option<String> {
    let column = batch.column_by_name(name)?.as_string_opt::<i32>()?;
    column.is_valid(row).then(|| column.value(row).to_string())
}

/// A size (`Int32`) column's value at `row`, if it exists, is set and is not negative.
fn size_at(batch: &RecordBatch, name: &str, row: usize) -> Option<u32> {
    let column = batch.column_by_name(name)?.as_primitive_opt::<Int32Type>()?;
    column.is_valid(row).then(|| u32::try_from(column.value(row)).ok()).flatten()
}

/// Reads a whole `NNNNN.parquet` back: its columns (as a [`TableSpec`],
/// the saved columns in their order) and its rows, each with every value
/// it holds (the image too, in the `parquet` format), so that the shard
/// can be written again with one row changed and the others as they were.
pub(super) fn read_rows(bytes: Vec<u8>) -> Result<(TableSpec, Vec<Row>), String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).map_err(|err| err.to_string())?;
    let schema = Arc::clone(builder.schema());
    let has = |name: &str| schema.column_with_name(name).is_some();
    let saved: Vec<String> = schema
        .fields()
        .iter()
        .map(|field| field.name().clone())
        .filter(|name| !RESERVED_COLUMNS.contains(&name.as_str()))
        .collect();
    let spec = TableSpec {
        caption: has("caption"),
        names: has("name"),
        saved,
        sha256: has("sha256"),
        exif: has("exif"),
        images: has("jpg"),
    };
    let mut rows = Vec::new();
    for batch in builder.build().map_err(|err| err.to_string())? {
        let batch = batch.map_err(|err| err.to_string())?;
        let text = |name: &str, row: usize| text_at(&batch, name, row);
        let size = |name: &str, row: usize| size_at(&batch, name, row);
        for row in 0..batch.num_rows() {
            let (Some(key), Some(url), Some(mut status)) = (text("key", row), text("url", row), text("status", row))
            else {
                return Err(format!("row {row} has no key, url or status"));
            };
            let mut error_kind = text("error_kind", row);
            // A shard an earlier version wrote: its status was the kind.
            if ![SUCCESS, FAILED_TO_DOWNLOAD, FAILED_TO_RESIZE].contains(&status.as_str()) {
                let transform = status == "transform";
                error_kind.get_or_insert(status);
                status = if transform { FAILED_TO_RESIZE } else { FAILED_TO_DOWNLOAD }.to_string();
            }
            let mut columns = Map::new();
            for name in &spec.saved {
                let value = batch.column_by_name(name).map_or(Value::Null, |column| json_value(column, row));
                columns.insert(name.clone(), value);
            }
            let jpeg = batch.column_by_name("jpg").and_then(|column| {
                let column = column.as_binary_opt::<i32>()?;
                column.is_valid(row).then(|| column.value(row).to_vec())
            });
            rows.push(Row {
                key,
                name: text("name", row),
                url,
                caption: text("caption", row),
                status,
                error_kind,
                error_message: text("error_message", row),
                width: size("width", row),
                height: size("height", row),
                original_width: size("original_width", row),
                original_height: size("original_height", row),
                exif: text("exif", row),
                sha256: text("sha256", row),
                columns,
                jpeg,
                from_earlier: false,
            });
        }
    }
    Ok((spec, rows))
}

/// A saved column's value as [`saved_column`] wrote it: an integer, a
/// float, a boolean or text (null when missing).
fn json_value(column: &ArrayRef, row: usize) -> Value {
    if !column.is_valid(row) {
        return Value::Null;
    }
    if let Some(ints) = column.as_primitive_opt::<Int64Type>() {
        return Value::from(ints.value(row));
    }
    if let Some(floats) = column.as_primitive_opt::<Float64Type>() {
        return Value::from(floats.value(row));
    }
    if let Some(booleans) = column.as_boolean_opt() {
        return Value::Bool(booleans.value(row));
    }
    column.as_string_opt::<i32>().map_or(Value::Null, |text| Value::String(text.value(row).to_string()))
}
