//! The identity of a cluster job: what its input is (a digest that
//! changes when the input does) and what is made of each image
//! (`plan.rs`'s `Made`). A task's record names both, so a record of
//! another job is never taken for this one's.
//!
//! Each is a typed struct, hashed (or compared) through one canonical
//! text: the text records already written were made from, so a job
//! started before this code names the same identity after it.

use std::fs::File;
use std::path::Path;

use anyhow::Context;
use common::DownloadArgs;
use common::sources::{ListColumns, SourceKind};
use sha2::{Digest, Sha256};

/// What the job's input is, for people, and a digest that changes when it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Input {
    pub(crate) label: String,
    pub(crate) digest: String,
}

/// The job's input, typed: every flag that changes which rows it has, or
/// what each row carries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct InputIdentity {
    /// The source: `urls sha256:<hex>` and `metadata sha256:<hex>` (a file
    /// by its bytes, so tasks whose nodes keep it at other paths agree),
    /// `folder <path>`, `source <name>` or `default source`.
    pub(crate) source: String,
    /// `--count`.
    pub(crate) count: Option<usize>,
    /// `--url-column`.
    pub(crate) url_column: Option<String>,
    /// `--caption-column`: a dataset's rows carry it, so another choice is another job.
    pub(crate) caption_column: Option<String>,
    /// `--save-columns`, likewise.
    pub(crate) save_columns: Vec<String>,
}

impl InputIdentity {
    /// The canonical text the digest is of: the source, then each flag
    /// given, in this order (`, count N, column C, caption C, saved A,B`).
    pub(crate) fn canonical(&self) -> String {
        let mut text = self.source.clone();
        if let Some(count) = self.count {
            text += &format!(", count {count}");
        }
        if let Some(column) = &self.url_column {
            text += &format!(", column {column}");
        }
        if let Some(column) = &self.caption_column {
            text += &format!(", caption {column}");
        }
        if !self.save_columns.is_empty() {
            text += &format!(", saved {}", self.save_columns.join(","));
        }
        text
    }

    /// The SHA-256 of the canonical text, in hex.
    pub(crate) fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.canonical().as_bytes()))
    }
}

/// Identifies the input the flags name: a URL list or metadata file by
/// the SHA-256 of its bytes (read streaming), a folder by its path, any
/// other source by its name; each with `--count` and the columns read.
pub(crate) fn identify(args: &DownloadArgs, columns: &ListColumns, input: Option<&Path>) -> anyhow::Result<Input> {
    // `shown` names the file for people; the digest is of `source`, which
    // does not, so tasks whose nodes keep the list at other paths agree.
    let mut shown = None;
    let source = if let Some(dir) = input {
        let path = dir.canonicalize().with_context(|| format!("cannot read --input {}", dir.display()))?;
        format!("folder {}", path.display())
    } else if let Some(path) = args.urls.as_deref().filter(|_| matches!(args.source, None | Some(SourceKind::Urls))) {
        let digest = file_digest(path, "--urls")?;
        shown = Some(format!("urls {} sha256:{}", path.display(), &digest[..16]));
        format!("urls sha256:{digest}")
    } else if let Some(path) = args.from.as_deref() {
        let digest = file_digest(path, "--from")?;
        shown = Some(format!("metadata {} sha256:{}", path.display(), &digest[..16]));
        format!("metadata sha256:{digest}")
    } else {
        match args.source {
            Some(kind) => format!("source {kind:?}").to_lowercase(),
            None => "default source".into(),
        }
    };
    let identity = InputIdentity {
        source: source.clone(),
        count: args.count,
        url_column: columns.url.clone(),
        caption_column: columns.caption.clone(),
        save_columns: columns.save.clone(),
    };
    let described = identity.canonical();
    let label = match shown {
        Some(shown) => described.replacen(&source, &shown, 1),
        None => described,
    };
    Ok(Input { label, digest: identity.digest() })
}

/// The SHA-256 of a file's bytes, read streaming.
fn file_digest(path: &Path, flag: &str) -> anyhow::Result<String> {
    let mut file = File::open(path).with_context(|| format!("cannot read {flag} {}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).with_context(|| format!("cannot read {flag} {}", path.display()))?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest of an identity is the digest of the text records already
    /// written were made from: these values never change (a change would
    /// make every finished task of a running job run again).
    #[test]
    fn the_digest_is_stable() {
        let identity = InputIdentity {
            source: "urls sha256:ab".into(),
            count: Some(10),
            url_column: None,
            caption_column: Some("caption".into()),
            save_columns: vec!["a".into(), "b".into()],
        };
        assert_eq!(identity.canonical(), "urls sha256:ab, count 10, caption caption, saved a,b");
        assert_eq!(
            identity.digest(),
            hex::encode(Sha256::digest(b"urls sha256:ab, count 10, caption caption, saved a,b"))
        );
        let plain = InputIdentity { count: None, caption_column: None, save_columns: Vec::new(), ..identity };
        // sha256("urls sha256:ab"), as `printf %s 'urls sha256:ab' | sha256sum` prints it.
        assert_eq!(plain.digest(), "44cc6bf311e69282760a46b25a5d6ac43651c87443a8cd78540864e3e153980a");
    }
}
