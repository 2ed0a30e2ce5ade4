//! The image formats this workspace accepts, and their file extensions: once.
//!
//! A download is accepted only if its bytes are one of these formats
//! (`fetch`), it is saved under that format's extension (`run`), the
//! thumbnail binaries list input files by these extensions, and `--clean`
//! removes files with them. One list, so the four cannot disagree.

use image::ImageFormat;

/// What photo hosts serve and the thumbnail maker reads. GIFs and TIFFs are
/// read as their first frame.
pub(crate) const IMAGE_FORMATS: [ImageFormat; 6] =
    [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Gif, ImageFormat::WebP, ImageFormat::Bmp, ImageFormat::Tiff];

/// The format of `bytes` by their magic bytes, if it is one we accept.
pub(crate) fn recognise(bytes: &[u8]) -> Option<ImageFormat> {
    image::guess_format(bytes).ok().filter(|format| IMAGE_FORMATS.contains(format))
}

/// The extension a file of `format` is saved with (`jpg`, `png`, ...).
pub(crate) fn extension(format: ImageFormat) -> &'static str {
    format.extensions_str().first().copied().unwrap_or("img")
}

/// `extension` as [`extension`] spells it for some accepted format, if it is
/// one of those spellings exactly: the names a download run itself writes.
pub(crate) fn as_saved_extension(extension: &str) -> Option<&'static str> {
    IMAGE_FORMATS.iter().map(|format| self::extension(*format)).find(|saved| *saved == extension)
}

/// Whether `extension` (any case) names one of [`IMAGE_FORMATS`], in any of
/// its spellings (`jpg` and `jpeg`, `tif` and `tiff`).
pub(crate) fn is_image_extension(extension: &str) -> bool {
    let extension = extension.to_ascii_lowercase();
    IMAGE_FORMATS.iter().any(|format| format.extensions_str().contains(&extension.as_str()))
}

/// The media type of an object we store, by its key's extension: what a
/// bucket serves it as (`Content-Type`), so a browser shows an image and a
/// download tool names a shard, instead of everything being
/// `binary/octet-stream`. Keys are made by the run, so the extension is ours.
#[cfg_attr(not(feature = "object-store"), allow(dead_code))]
pub(crate) fn content_type(key: &str) -> &'static str {
    let extension = key.rsplit_once('.').map(|(_, extension)| extension.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "tar" => "application/x-tar",
        "parquet" => "application/vnd.apache.parquet",
        "json" => "application/json",
        "jsonl" => "application/x-ndjson",
        "txt" => "text/plain; charset=utf-8",
        other => ImageFormat::from_extension(other)
            .filter(|format| IMAGE_FORMATS.contains(format))
            .map_or("application/octet-stream", |format| format.to_mime_type()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every spelling of every accepted format is recognised, in any case;
    /// nothing else is.
    #[test]
    fn extensions_cover_every_spelling() {
        for extension in ["jpg", "JPEG", "png", "gif", "webp", "bmp", "tif", "TIFF"] {
            assert!(is_image_extension(extension), "{extension}");
        }
        for extension in ["txt", "jsonl", "svg", "", "jpgx"] {
            assert!(!is_image_extension(extension), "{extension}");
        }
        assert_eq!(extension(ImageFormat::Jpeg), "jpg");
        assert!(["tif", "tiff"].contains(&extension(ImageFormat::Tiff)));
        assert_eq!(as_saved_extension("jpg"), Some("jpg"));
        assert_eq!(as_saved_extension("JPG"), None, "a run writes lower case only");
        assert_eq!(as_saved_extension("jsonl"), None);
    }

    /// Every kind of object a run stores has its media type.
    #[test]
    fn content_types_by_extension() {
        let types = [
            ("a_thumbnail.jpg", "image/jpeg"),
            ("x/crop-000.JPEG", "image/jpeg"),
            ("a.png", "image/png"),
            ("a.webp", "image/webp"),
            ("a.gif", "image/gif"),
            ("00000.tar", "application/x-tar"),
            ("00000.parquet", "application/vnd.apache.parquet"),
            ("00000_stats.json", "application/json"),
            ("_records/failures.jsonl", "application/x-ndjson"),
            ("00000001.txt", "text/plain; charset=utf-8"),
            ("no-extension", "application/octet-stream"),
            ("a.svg", "application/octet-stream"),
        ];
        for (key, expected) in types {
            assert_eq!(content_type(key), expected, "{key}");
        }
    }

    /// Magic bytes decide, and formats we do not accept are refused.
    #[test]
    fn recognises_by_magic_bytes() {
        assert_eq!(recognise(b"\xFF\xD8\xFF\xE0rest"), Some(ImageFormat::Jpeg));
        assert_eq!(recognise(b"\x89PNG\r\n\x1a\nrest"), Some(ImageFormat::Png));
        assert_eq!(recognise(b"<html>"), None);
        assert_eq!(recognise(b"qoif\0\0\0\x01\0\0\0\x01\x03\0"), None, "QOI is an image, but not one we accept");
    }
}
