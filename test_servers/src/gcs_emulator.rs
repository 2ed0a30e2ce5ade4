//! Google Cloud Storage through gcp-storage-emulator (PyPI), in memory.
//!
//! It serves the XML API's single-request `PUT` of an object, which is what
//! `object_store` uses to store one, and the JSON API for buckets and
//! reading objects back ([`GcsServer::download`]). Two limits: it checks no
//! credentials at all, so a wrong key cannot be tested against it; and its
//! XML `PUT` (and `GET`) answer without an `ETag` header, which
//! `object_store` requires before it calls an upload done, so a client of
//! `object_store` sees every upload fail although the object arrived whole. A client is pointed at it with `GOOGLE_BASE_URL`
//! and a service account key that turns OAuth off (`disable_oauth`, the
//! way `object_store` supports emulators): `GOOGLE_SKIP_SIGNATURE=true`
//! would be the obvious switch, but `object_store` 0.14 still asks the
//! metadata server for a token before a `PUT` with it.

use std::path::Path;
use std::process::Command;

use crate::http;
use crate::process::{self, ServerProcess};

/// The bucket the tests write to, created by the emulator at start.
pub const BUCKET: &str = "thumbnails";

/// A running gcp-storage-emulator with a bucket [`BUCKET`]; killed on drop.
#[derive(Debug)]
pub struct GcsServer {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The bucket, created.
    pub bucket: String,
    port: u16,
    _server: ServerProcess,
}

impl GcsServer {
    /// The environment that points `object_store` at this server: its
    /// address, and a service account with OAuth off (the emulator wants no
    /// token; without one `object_store` would ask the metadata server).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let key = r#"{"private_key":"","private_key_id":"","client_email":"","disable_oauth":true}"#;
        vec![("GOOGLE_BASE_URL", self.base_url.clone()), ("GOOGLE_SERVICE_ACCOUNT_KEY", key.to_string())]
    }

    /// The object `name` (`prefix/key`), read through the JSON API, or
    /// `None` when there is none. Names are expected in the characters our
    /// keys use (letters, digits, `-_./`).
    pub fn download(&self, name: &str) -> Option<Vec<u8>> {
        let path = format!("/storage/v1/b/{}/o/{}?alt=media", self.bucket, name.replace('/', "%2F"));
        let response = http::request(self.port, "GET", &path, &[]).ok()?;
        (response.status == 200).then_some(response.body)
    }

    /// The `Content-Type` the emulator keeps for object `name`, read from
    /// its JSON API's object resource, or `None` when there is no object.
    pub fn content_type(&self, name: &str) -> Option<String> {
        let path = format!("/storage/v1/b/{}/o/{}", self.bucket, name.replace('/', "%2F"));
        let response = http::request(self.port, "GET", &path, &[]).ok()?;
        if response.status != 200 {
            return None;
        }
        // `"contentType": "image/jpeg"`: the value is the next quoted string.
        let text = response.text();
        let after = &text[text.find("\"contentType\"")? + "\"contentType\"".len()..];
        let value = after.split('"').nth(1)?;
        Some(value.to_string())
    }

    /// `gs://BUCKET/prefix`.
    pub fn url(&self, prefix: &str) -> String {
        format!("gs://{}/{prefix}", self.bucket)
    }
}

/// Starts gcp-storage-emulator, or returns `None` (after one loud line)
/// when it is not installed. Panics when it is installed but does not come up.
pub fn gcs() -> Option<GcsServer> {
    let Some(emulator) = crate::find_program("venv/bin/gcp-storage-emulator", "gcp-storage-emulator") else {
        return crate::not_installed("gcp-storage-emulator");
    };
    // The emulator's own Python (its script's neighbour in a virtual
    // environment), running it through gcs_emulator_etag.py: the emulator
    // unchanged but for the `ETag` its XML uploads leave out (see there).
    let python = emulator.with_file_name("python");
    let python = if python.exists() { python } else { "python3".into() };
    let launcher = Path::new(env!("CARGO_MANIFEST_DIR")).join("gcs_emulator_etag.py");
    let command = |_folder: &Path, ports: &[u16]| {
        let mut command = Command::new(&python);
        command.arg(&launcher).args(["start", "--host", "127.0.0.1", "--port", &ports[0].to_string()]).args([
            "--in-memory",
            "--default-bucket",
            BUCKET,
        ]);
        command
    };
    let ready = |ports: &[u16]| -> Result<bool, String> {
        // The bucket's JSON resource: ready once it exists.
        let Ok(response) = http::request(ports[0], "GET", &format!("/storage/v1/b/{BUCKET}"), &[]) else {
            return Ok(false);
        };
        Ok(response.status == 200)
    };
    let (server, ports) = process::start("gcp-storage-emulator", 1, command, |_| Vec::new(), ready);
    Some(GcsServer {
        base_url: format!("http://127.0.0.1:{}", ports[0]),
        bucket: BUCKET.to_string(),
        port: ports[0],
        _server: server,
    })
}
