//! The `exif` column: an image's EXIF tags as one JSON object, as the
//! established tool writes it (its `exifread`'s names: `"Image Make"`,
//! `"EXIF ExposureTime"`, `"GPS GPSLatitude"`, values as text), read with
//! `kamadak-exif` from the downloaded bytes (JPEG, PNG, WebP, TIFF, HEIF).

use std::collections::BTreeMap;
use std::io::Cursor;

use exif::{Context, In, Tag, Value};

/// Longest value kept, in characters: a tag's text is for reading, and
/// one image's metadata should not outweigh its thumbnail.
const MAX_VALUE_CHARS: usize = 256;

/// The image's tags as a JSON object: `{}` when it has none; `None` when
/// its EXIF is there but cannot be read (as the established tool: null).
pub(crate) fn exif_json(bytes: &[u8]) -> Option<String> {
    let exif = match exif::Reader::new().read_from_container(&mut Cursor::new(bytes)) {
        Ok(exif) => exif,
        Err(exif::Error::NotFound(_)) => return Some("{}".into()),
        Err(_) => return None,
    };
    let mut tags = BTreeMap::new();
    for field in exif.fields() {
        // Opaque blobs (the maker's private notes), which the established
        // tool leaves out too without its `details`.
        if field.tag == Tag::MakerNote {
            continue;
        }
        let group = match (field.tag.context(), field.ifd_num) {
            (Context::Exif, _) => "EXIF",
            (Context::Gps, _) => "GPS",
            (Context::Interop, _) => "Interoperability",
            (_, In::THUMBNAIL) => "Thumbnail",
            _ => "Image",
        };
        let value = match &field.value {
            // Text as it is, not quoted as `display_value` quotes it.
            Value::Ascii(texts) => {
                texts.iter().map(|text| String::from_utf8_lossy(text)).collect::<Vec<_>>().join(", ")
            }
            _ => field.display_value().to_string(),
        };
        let value: String = value.trim().chars().take(MAX_VALUE_CHARS).collect();
        tags.insert(format!("{group} {}", field.tag), value);
    }
    serde_json::to_string(&tags).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG with an APP1 Exif segment holding IFD0's Make ("Cy") and Orientation (6).
    fn jpeg_with_exif() -> Vec<u8> {
        let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
        tiff.extend_from_slice(&[0, 2]); // two entries
        tiff.extend_from_slice(&[0x01, 0x0f, 0, 2, 0, 0, 0, 3, b'C', b'y', 0, 0]); // Make, ASCII, 3: "Cy\0"
        tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]); // Orientation, SHORT, 1: 6
        tiff.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe1];
        jpeg.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
        jpeg.extend_from_slice(&app1);
        jpeg.extend_from_slice(&[0xff, 0xd9]);
        jpeg
    }

    #[test]
    fn tags_are_named_as_the_established_tool_names_them() {
        let json: serde_json::Value = serde_json::from_str(&exif_json(&jpeg_with_exif()).unwrap()).unwrap();
        assert_eq!(json["Image Make"], "Cy", "{json}");
        assert_eq!(json["Image Orientation"], "row 0 at right and column 0 at top", "{json}");
    }

    #[test]
    fn no_exif_is_an_empty_object_and_broken_exif_is_none() {
        assert_eq!(exif_json(&[0xff, 0xd8, 0xff, 0xd9]).as_deref(), Some("{}"));
        let mut broken = jpeg_with_exif();
        broken[12..16].copy_from_slice(b"XXXX"); // the TIFF header
        assert_eq!(exif_json(&broken), None);
    }
}
