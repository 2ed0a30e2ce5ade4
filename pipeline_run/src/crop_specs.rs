//! `--crops FILE.csv`: which rectangles to cut out of which images.
//!
//! Rows are `image,x,y,w,h` (the crop applies to the image of that name:
//! the name its objects are stored under, e.g. `origin-00007`, or a file's
//! stem with `--input`) or `x,y,w,h` (it applies to every image). A first
//! row whose numbers are not numbers is a header and is skipped. An image's
//! crops are the rows naming it, in file order, then the rows naming no
//! image; `crop-NNN` numbers them in that order.
//!
//! This lives here, not in `common::sources`: crop specs are not a source
//! of images but a setting of this one binary's transform, read once when
//! the run starts. Any bad row stops the run before it starts, with one
//! line naming the row (exit status 2), rather than a run that silently
//! makes fewer crops than asked.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, bail};
use common::thumbnail::CropRect;

/// The crops of a CSV file, by image.
#[derive(Debug, Default)]
pub(crate) struct CropSpecs {
    /// Rows naming an image, by name, in file order.
    named: HashMap<String, Vec<CropRect>>,
    /// Rows naming no image, in file order.
    every: Vec<CropRect>,
}

impl CropSpecs {
    /// Reads `path`; one clear error for the first bad row.
    pub(crate) fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read --crops {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("--crops {}", path.display()))
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut specs = CropSpecs::default();
        for (index, record) in reader.records().enumerate() {
            let record = record.with_context(|| format!("row {}", index + 1))?;
            let fields: Vec<&str> = record.iter().collect();
            if fields.iter().all(|field| field.is_empty()) {
                continue; // a blank line
            }
            let (image, numbers) = match fields.len() {
                4 => (None, &fields[..]),
                5 => (Some(fields[0]), &fields[1..]),
                n => bail!("row {}: expected image,x,y,w,h or x,y,w,h, found {n} fields", index + 1),
            };
            let parsed: Result<Vec<u32>, _> = numbers.iter().map(|n| n.parse::<u32>()).collect();
            let Ok(parsed) = parsed else {
                if index == 0 && numbers.iter().all(|n| n.parse::<u32>().is_err()) {
                    continue; // a header: no number where the numbers go
                }
                bail!("row {}: x,y,w,h must be whole numbers of pixels, not {:?}", index + 1, numbers.join(","));
            };
            let rect = CropRect { x: parsed[0], y: parsed[1], width: parsed[2], height: parsed[3] };
            match image {
                Some("") => bail!("row {}: the image name is empty", index + 1),
                Some(image) => specs.named.entry(image.to_string()).or_default().push(rect),
                None => specs.every.push(rect),
            }
        }
        if specs.named.is_empty() && specs.every.is_empty() {
            bail!("no crops listed (rows are image,x,y,w,h or x,y,w,h)");
        }
        Ok(specs)
    }

    /// The crops of the image named `image`, in `crop-NNN` order.
    pub(crate) fn for_image(&self, image: &str) -> Vec<CropRect> {
        let own = self.named.get(image).map_or(&[][..], Vec::as_slice);
        own.iter().chain(&self.every).copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x: u32, y: u32, width: u32, height: u32) -> CropRect {
        CropRect { x, y, width, height }
    }

    /// Both row shapes, a header, blank lines and spaces; an image's own
    /// rows come first.
    #[test]
    fn parses_both_shapes() {
        let specs = CropSpecs::parse("image,x,y,w,h\n\n1, 2, 3, 4\norigin-00001,5,6,7,8\n9,10,11,12\n").unwrap();
        assert_eq!(specs.for_image("origin-00001"), [rect(5, 6, 7, 8), rect(1, 2, 3, 4), rect(9, 10, 11, 12)]);
        assert_eq!(specs.for_image("other"), [rect(1, 2, 3, 4), rect(9, 10, 11, 12)]);
    }

    /// A bad row is refused with its number; an empty file too.
    #[test]
    fn bad_rows_are_refused() {
        for (text, says) in [
            ("1,2,3,4\n1,2,x,4\n", "row 2"),
            ("1,2,3\n", "found 3 fields"),
            ("a,1,2,3,-4\n1,2,3,4\n", "row 1"),
            ("x,y,w,h\n", "no crops"),
            ("", "no crops"),
            (",1,2,3,4\n", "empty"),
        ] {
            let err = format!("{:#}", CropSpecs::parse(text).unwrap_err());
            assert!(err.contains(says), "{text:?}: {err}");
        }
    }
}
