//! Azure Blob through Azurite (npm `azurite@3.35.0`, the last release that
//! runs on Node 20), the blob service alone.
//!
//! Azurite knows one account, `devstoreaccount1`, with a key published in
//! Microsoft's documentation, and checks Shared Key signatures against it:
//! a request signed with another key gets 403. `--loose` and
//! `--skipApiVersionCheck` let a client newer than the emulator talk to it;
//! `--disableTelemetry` keeps it off the network. The container is created
//! here with one signed request, since `object_store` cannot create one.

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use crate::http;
use crate::process::{self, ServerProcess};

/// The container the tests write to.
pub const CONTAINER: &str = "thumbnails";

/// Azurite's one account and its well-known key (public, emulator only).
pub const ACCOUNT: &str = "devstoreaccount1";
const ACCOUNT_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The Blob service API version of the one request made here.
const API_VERSION: &str = "2021-08-06";

/// A running Azurite blob service with a container [`CONTAINER`]; killed on drop.
#[derive(Debug)]
pub struct AzureServer {
    /// The account's blob endpoint, path style: `http://127.0.0.1:PORT/devstoreaccount1`.
    pub endpoint: String,
    /// The account name.
    pub account: String,
    /// The account key.
    pub account_key: String,
    /// The container, created.
    pub container: String,
    _server: ServerProcess,
}

impl AzureServer {
    /// The environment that points `object_store` at this server as at any
    /// account with a custom endpoint (not its emulator switch, which reads
    /// the emulator's address from the process environment alone).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_ACCOUNT_NAME", self.account.clone()),
            ("AZURE_STORAGE_ACCOUNT_KEY", self.account_key.clone()),
            ("AZURE_STORAGE_ENDPOINT", self.endpoint.clone()),
            ("AZURE_ALLOW_HTTP", "true".to_string()),
        ]
    }

    /// `az://CONTAINER/prefix`.
    pub fn url(&self, prefix: &str) -> String {
        format!("az://{}/{prefix}", self.container)
    }
}

/// Starts Azurite's blob service, or returns `None` (after one loud line)
/// when it is not installed. Panics when it is installed but does not come up.
pub fn azure() -> Option<AzureServer> {
    let Some(azurite) = crate::find_program("node/node_modules/.bin/azurite-blob", "azurite-blob") else {
        return crate::not_installed("azurite");
    };
    let command = |folder: &Path, ports: &[u16]| {
        let mut command = Command::new(&azurite);
        command
            .args(["--blobHost", "127.0.0.1", "--blobPort", &ports[0].to_string(), "--location"])
            .arg(folder.join("data"))
            .args(["--loose", "--skipApiVersionCheck", "--disableTelemetry", "--silent"]);
        command
    };
    let ready = |ports: &[u16]| -> Result<bool, String> {
        let Ok(response) = create_container(ports[0]) else { return Ok(false) };
        match response.status {
            // Created, or there already (an earlier poll's request whose
            // answer was lost).
            201 | 409 => Ok(true),
            status => Err(format!("creating container {CONTAINER} answered {status}: {}", response.text())),
        }
    };
    let (server, ports) = process::start("azurite", 1, command, |_| Vec::new(), ready);
    Some(AzureServer {
        endpoint: format!("http://127.0.0.1:{}/{ACCOUNT}", ports[0]),
        account: ACCOUNT.to_string(),
        account_key: ACCOUNT_KEY.to_string(),
        container: CONTAINER.to_string(),
        _server: server,
    })
}

/// `PUT /ACCOUNT/CONTAINER?restype=container`, signed with the account key
/// (Shared Key: an HMAC-SHA256 of the request's canonical form).
fn create_container(port: u16) -> std::io::Result<http::Response> {
    let date = httpdate::fmt_http_date(SystemTime::now());
    // Verb, eleven standard headers left empty (Content-Length is empty
    // when zero), the x-ms- headers sorted, then the resource (path style:
    // the account appears twice).
    let string_to_sign = format!(
        "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{API_VERSION}\n/{ACCOUNT}/{ACCOUNT}/{CONTAINER}\nrestype:container"
    );
    let key = BASE64.decode(ACCOUNT_KEY).expect("the well-known Azurite key is base64");
    let signature = BASE64.encode(hmac_sha256(&key, string_to_sign.as_bytes()));
    http::request(
        port,
        "PUT",
        &format!("/{ACCOUNT}/{CONTAINER}?restype=container"),
        &[
            ("x-ms-date", date),
            ("x-ms-version", API_VERSION.to_string()),
            ("Authorization", format!("SharedKey {ACCOUNT}:{signature}")),
        ],
    )
}

/// HMAC-SHA256 (RFC 2104), in the ten lines it takes, rather than one more
/// crate for one request.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|k| k ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}
