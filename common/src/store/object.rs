//! Object stores: S3, Google Cloud Storage and Azure Blob as a [`Sink`]
//! (feature `object-store`), through the `object_store` crate.
//!
//! A destination is a URL: `s3://bucket/prefix`, `gs://bucket/prefix` or
//! `az://container/prefix`; an object's key is `prefix/key`. Endpoints and
//! credentials come from the environment exactly as `object_store` reads
//! it (`AWS_*`, `GOOGLE_*`, `AZURE_*`), so a bucket is configured the way
//! every other tool on the machine is, plus the AWS CLI's
//! `AWS_ENDPOINT_URL` (`AWS_ENDPOINT` wins when both are set).
//!
//! An object is reported stored only once the store answered its `PUT`
//! with success; a `PUT` is atomic on all three stores, so a failed upload
//! leaves no object, never half of one. Objects go up in one `PUT` each:
//! thumbnails and crops are kilobytes, far below the 5 GiB a single `PUT`
//! takes, so multipart uploads would add requests and nothing else.
//!
//! # One runtime, the sink's own
//! Every request runs on a small tokio runtime the sink owns, whichever way
//! it is called: [`Sink::put`] (blocking: from plain threads, from worker
//! processes, from many threads at once) waits for it on a channel, and
//! [`ObjectSink::put_async`] awaits it from the caller's runtime. So the
//! connection pool lives on one runtime whatever the mix of callers, and
//! `put` never panics the way `Runtime::block_on` does when called from
//! inside a runtime (it blocks that thread instead: async code should
//! await `put_async`). The cost is one hand-over between runtimes per
//! object, which is noise next to a network round trip.
//!
//! # Errors
//! A refused signature or permission (401, 403) is [`SinkError::Denied`];
//! a bucket that does not exist, an endpoint that does not answer (after
//! the retries) or a plain-http endpoint without `AWS_ALLOW_HTTP` is
//! [`SinkError::Unusable`], naming the fix. No later request can succeed
//! either, so a run stops at the first (see [`SinkError::is_fatal`]), and
//! [`ObjectSink::check`] finds them with one request before any work.
//! Anything else is [`SinkError::Upload`], after
//! `object_store`'s own retries of timeouts, connection errors and 5xx
//! answers ([`UPLOAD_RETRIES`]), so a run need not retry it again. Every
//! message is one line, and the secrets the sink was configured with are
//! masked in it even if a server echoed them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, AttributeValue, Attributes, BackoffConfig, ObjectStore, ObjectStoreExt, PutOptions, PutPayload,
    RetryConfig,
};

use super::{Sink, SinkError, Stored};
use crate::text::{error_chain, one_line, shorten, whole_chain};

/// How many times `object_store` retries one request that timed out, lost
/// its connection or got a 5xx answer. Its default (10, over up to 3
/// minutes) would make a run against a wrong endpoint look hung; three
/// retries with backoff ride out a restarting server or a throttled burst.
pub const UPLOAD_RETRIES: usize = 3;

/// The most time one object's retries may take, for the same reason.
const RETRY_TIMEOUT: Duration = Duration::from_secs(30);

/// Worker threads of the sink's runtime. Uploads are network waits; two
/// threads drive hundreds of them, and signing and TLS are a small share
/// of a core.
const RUNTIME_THREADS: usize = 2;

/// A bucket or container of S3, Google Cloud Storage or Azure Blob, with a
/// key prefix. Cheap to clone: clones share the connection pool and the
/// runtime.
#[derive(Debug, Clone)]
pub struct ObjectSink {
    shared: Arc<Shared>,
    /// The destination as given, without a trailing `/`: `s3://bucket/prefix`.
    url: String,
    /// The key prefix, without leading or trailing `/` (may be empty).
    prefix: String,
}

/// What clones of a sink (and sinks made [`ObjectSink::within`] it) share.
#[derive(Debug)]
struct Shared {
    store: Arc<dyn ObjectStore>,
    /// Configured secret values, masked in every error message.
    secrets: Vec<String>,
    /// `Some` until dropped (see the `Drop` impl).
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime;
        // the last clone may well be dropped by an async task.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl ObjectSink {
    /// Opens `s3://bucket/prefix`, `gs://bucket/prefix` or
    /// `az://container/prefix`, configured from the environment. Sends no
    /// request: [`ObjectSink::check`] sends the one that says whether the
    /// destination can be used.
    pub fn from_url(url: &str) -> Result<Self, SinkError> {
        Self::from_url_with_env(url, std::iter::empty::<(&str, &str)>())
    }

    /// [`ObjectSink::from_url`], as if the variables in `env` (names as in
    /// the environment, such as `AWS_ENDPOINT`) were also set, overriding
    /// the environment: for a caller that configures several stores in one
    /// process, such as tests. Names `object_store` does not know are
    /// ignored, as they are in the environment.
    pub fn from_url_with_env<K: AsRef<str>, V: AsRef<str>>(
        url: &str,
        env: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, SinkError> {
        let bad = |cause: String| SinkError::Destination { url: shorten(url), cause };
        // The HTTP client is built without a TLS crypto provider of its own
        // (see the workspace manifest): ring, for the whole process. An
        // error means one is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let parsed = url::Url::parse(url).map_err(|e| bad(format!("not a URL ({e}); expected s3://bucket/prefix")))?;
        let bucket = parsed.host_str().unwrap_or_default().to_string();
        if bucket.is_empty() {
            return Err(bad("no bucket or container: expected scheme://bucket/prefix".to_string()));
        }
        let prefix = parsed.path().trim_matches('/').to_string();
        if !prefix.is_empty() {
            ObjectPath::parse(&prefix).map_err(|e| bad(format!("bad prefix: {}", error_chain(&e))))?;
        }
        let env: Vec<(String, String)> =
            env.into_iter().map(|(k, v)| (k.as_ref().to_ascii_lowercase(), v.as_ref().to_string())).collect();
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: UPLOAD_RETRIES,
            retry_timeout: RETRY_TIMEOUT,
        };
        let (store, secrets) = match parsed.scheme() {
            "s3" => build_s3(&bucket, &env, retry),
            "gs" => build_gcs(&bucket, &env, retry),
            "az" => build_azure(&bucket, &env, retry),
            other => {
                return Err(bad(format!("unknown scheme '{other}': expected s3://, gs:// or az://, or a folder")));
            }
        }
        .map_err(|(e, secrets)| bad(one_line(&mask(&whole_chain(&e), &secrets))))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("object-sink")
            .enable_all()
            .build()
            .map_err(|e| bad(format!("cannot start the upload runtime: {e}")))?;
        let url = format!("{}://{bucket}{}{prefix}", parsed.scheme(), if prefix.is_empty() { "" } else { "/" });
        Ok(ObjectSink { shared: Arc::new(Shared { store, secrets, runtime: Some(runtime) }), url, prefix })
    }

    /// Stores `bytes` under `key` and returns once the store confirmed it:
    /// the async twin of [`Sink::put`], to await on any tokio runtime.
    pub async fn put_async(&self, key: &str, bytes: Bytes) -> Result<Stored, SinkError> {
        let Some(runtime) = &self.shared.runtime else {
            return Err(SinkError::Panicked("the upload runtime is gone".to_string()));
        };
        let upload = runtime.spawn(upload(Arc::clone(&self.shared.store), self.path(key)?, bytes));
        let result = upload.await.map_err(|e| SinkError::Panicked(e.to_string()))?;
        self.conclude(key, result)
    }

    /// The same bucket with the prefix `prefix/` added (`_shards/3`):
    /// shares the connection pool and the runtime.
    pub fn within(&self, prefix: &str) -> Result<Self, SinkError> {
        let path = self.path(prefix.trim_matches('/'))?;
        let prefix = path.to_string();
        let base = self.url.strip_suffix(&self.prefix).unwrap_or(&self.url).trim_end_matches('/');
        Ok(ObjectSink { shared: Arc::clone(&self.shared), url: format!("{base}/{prefix}"), prefix })
    }

    /// Reads the object under `key`, blocking: `None` if there is none. For
    /// the records a run keeps beside its objects, not for images.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, SinkError> {
        let store = Arc::clone(&self.shared.store);
        let path = self.path(key)?;
        let result = self.block_on(key, async move {
            match store.get(&path).await {
                Ok(found) => found.bytes().await.map(|bytes| Some(bytes.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(error) => Err(error),
            }
        })?;
        result.map_err(|error| self.refusal(key, &error))
    }

    /// The size of the object under `key`, blocking: `None` if there is none.
    pub fn head(&self, key: &str) -> Result<Option<u64>, SinkError> {
        let store = Arc::clone(&self.shared.store);
        let path = self.path(key)?;
        let result = self.block_on(key, async move {
            match store.head(&path).await {
                Ok(meta) => Ok(Some(meta.size)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(error) => Err(error),
            }
        })?;
        result.map_err(|error| self.refusal(key, &error))
    }

    /// Deletes the object under `key`, blocking; one that is not there is
    /// no error.
    pub fn delete(&self, key: &str) -> Result<(), SinkError> {
        let store = Arc::clone(&self.shared.store);
        let path = self.path(key)?;
        let result = self.block_on(key, async move {
            match store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(error) => Err(error),
            }
        })?;
        result.map_err(|error| self.refusal(key, &error))
    }

    /// Every object under `prefix/` (relative to the sink's own prefix; ``
    /// for all of them), at any depth, as keys relative to the sink's
    /// prefix with their sizes, blocking. The store answers in pages (1000
    /// keys a request on S3); they are read one after the other.
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, SinkError> {
        let store = Arc::clone(&self.shared.store);
        let prefix = prefix.trim_matches('/');
        let path = if prefix.is_empty() && self.prefix.is_empty() { None } else { Some(self.path(prefix)?) };
        let result = self.block_on(prefix, async move {
            use futures_util::TryStreamExt;
            store
                .list(path.as_ref())
                .map_ok(|meta| (meta.location.to_string(), meta.size))
                .try_collect::<Vec<(String, u64)>>()
                .await
        })?;
        let own = if self.prefix.is_empty() { String::new() } else { format!("{}/", self.prefix) };
        let keys = result.map_err(|error| self.refusal(prefix, &error))?;
        Ok(keys.into_iter().filter_map(|(key, size)| Some((key.strip_prefix(&own)?.to_string(), size))).collect())
    }

    /// One request that says whether the destination can be used at all:
    /// the bucket exists, the credentials are accepted, the endpoint
    /// answers. A listing of at most one page, of a prefix no run writes.
    pub fn check(&self) -> Result<(), SinkError> {
        let store = Arc::clone(&self.shared.store);
        let path = self.path(CHECK_PREFIX)?;
        let result = self.block_on(CHECK_PREFIX, async move {
            use futures_util::StreamExt;
            match store.list(Some(&path)).next().await {
                Some(Err(error)) => Err(error),
                _ => Ok(()),
            }
        })?;
        result.map_err(|error| self.refusal(CHECK_PREFIX, &error))
    }

    /// Runs `work` on the sink's runtime and waits for it from this thread.
    fn block_on<T: Send + 'static>(
        &self,
        what: &str,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T, SinkError> {
        let Some(runtime) = &self.shared.runtime else {
            return Err(SinkError::Panicked("the upload runtime is gone".to_string()));
        };
        let (done, result) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = done.send(work.await);
        });
        result.recv().map_err(|_| SinkError::Panicked(format!("reading {what} failed unexpectedly")))
    }

    /// The store's own handle, to read back or list what a run stored.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.shared.store
    }

    /// The object path of `key`: `prefix/key`.
    pub fn path(&self, key: &str) -> Result<ObjectPath, SinkError> {
        let full = if self.prefix.is_empty() { key.to_string() } else { format!("{}/{key}", self.prefix) };
        ObjectPath::parse(&full).map_err(|e| SinkError::Upload {
            key: format!("{}/{}", self.url, shorten(key)),
            cause: format!("not a valid object key: {}", error_chain(&e)),
        })
    }

    /// A finished upload as the sink reports it.
    fn conclude(&self, key: &str, result: Result<u64, object_store::Error>) -> Result<Stored, SinkError> {
        match result {
            Ok(bytes) => Ok(Stored { key: key.to_string(), bytes }),
            Err(error) => Err(self.refusal(key, &error)),
        }
    }

    /// What went wrong with `key`, as a [`SinkError`]: denied, unusable
    /// (both fatal: no later request can succeed) or a failure of this one
    /// object.
    fn refusal(&self, key: &str, error: &object_store::Error) -> SinkError {
        let object = if key == CHECK_PREFIX { self.url.clone() } else { format!("{}/{}", self.url, shorten(key)) };
        let chain = mask(&whole_chain(error), &self.shared.secrets);
        // A refused listing comes as `Generic`, with the status in its text.
        let denied =
            matches!(error, object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. })
                || ["403 Forbidden", "401 Unauthorized", "SignatureDoesNotMatch", "InvalidAccessKeyId"]
                    .iter()
                    .any(|refusal| chain.contains(refusal));
        let unusable = unusable(&chain, &self.url);
        let cause = one_line(&chain);
        if denied {
            SinkError::Denied { location: object, cause: http_status(&cause).unwrap_or(cause) }
        } else if let Some((problem, fix)) = unusable {
            SinkError::Unusable { location: self.url.clone(), problem: problem.into(), fix: fix.into(), cause }
        } else {
            SinkError::Upload { key: object, cause }
        }
    }
}

/// The prefix [`ObjectSink::check`] lists: one no run writes, so the
/// answer is one short page whatever the bucket holds.
const CHECK_PREFIX: &str = "_check-the-destination";

/// Whether an error (its whole chain, as text) says that no request to
/// this destination can succeed, and if so what is wrong and what to do.
/// By text, because `object_store` reports a missing bucket, a refused
/// connection and a refused plain-http endpoint all as its `Generic` error.
fn unusable(chain: &str, url: &str) -> Option<(&'static str, &'static str)> {
    let has = |needles: &[&str]| needles.iter().any(|needle| chain.contains(needle));
    if has(&["NoSuchBucket", "ContainerNotFound", "The specified bucket does not exist", "bucket does not exist"]) {
        let fix = if url.starts_with("az://") {
            "create the container, or fix its name in --store"
        } else {
            "create the bucket, or fix its name in --store"
        };
        return Some(("the bucket or container does not exist", fix));
    }
    if has(&["URL scheme is not allowed", "builder error"]) {
        return Some((
            "the endpoint is plain http://, which is refused by default",
            "set AWS_ALLOW_HTTP=true (or AZURE_ALLOW_HTTP, GOOGLE_ALLOW_HTTP) for a local endpoint, or use https://",
        ));
    }
    if has(&[
        "Connection refused",
        "connection refused",
        "error sending request",
        "dns error",
        "tcp connect error",
        "client error (Connect)",
    ]) {
        return Some((
            "the endpoint does not answer (after the store client's retries)",
            "check that the store is up and that its endpoint is right, then run again",
        ));
    }
    None
}

/// The HTTP status in an `object_store` error chain ("403 Forbidden"), for
/// a refusal, where the rest (the request, the server's XML) says nothing
/// more to the person who must fix the credentials.
fn http_status(cause: &str) -> Option<String> {
    let after = &cause[cause.find("status code: ")? + "status code: ".len()..];
    Some(after.split(':').next().unwrap_or(after).trim().to_string())
}

impl Sink for ObjectSink {
    /// Blocks until the store confirmed the object (see the module docs on
    /// calling it from async code).
    fn put(&self, key: &str, bytes: &[u8]) -> Result<Stored, SinkError> {
        let Some(runtime) = &self.shared.runtime else {
            return Err(SinkError::Panicked("the upload runtime is gone".to_string()));
        };
        let (done, result) = std::sync::mpsc::sync_channel(1);
        let upload = upload(Arc::clone(&self.shared.store), self.path(key)?, Bytes::copy_from_slice(bytes));
        runtime.spawn(async move {
            // The receiver waits below; if it is gone there is no one to tell.
            let _ = done.send(upload.await);
        });
        let result = result.recv().map_err(|_| SinkError::Panicked(format!("uploading {key} failed unexpectedly")))?;
        self.conclude(key, result)
    }

    fn location(&self) -> String {
        self.url.clone()
    }
}

/// One `PUT`, with the object's `Content-Type`: its size once the store
/// confirmed it.
async fn upload(store: Arc<dyn ObjectStore>, path: ObjectPath, bytes: Bytes) -> Result<u64, object_store::Error> {
    let size = bytes.len() as u64;
    let content_type = crate::formats::content_type(path.as_ref());
    let attributes = Attributes::from_iter([(Attribute::ContentType, AttributeValue::from(content_type))]);
    store.put_opts(&path, PutPayload::from_bytes(bytes), PutOptions { attributes, ..PutOptions::default() }).await?;
    Ok(size)
}

/// A built store, or why not (with the secrets to mask in that message).
type Built = Result<(Arc<dyn ObjectStore>, Vec<String>), (object_store::Error, Vec<String>)>;

/// The overrides whose names start with `prefix`, as config keys.
fn overrides<'a, K: std::str::FromStr>(
    env: &'a [(String, String)],
    prefix: &str,
) -> impl Iterator<Item = (K, &'a str)> {
    env.iter()
        .filter(move |(name, _)| name.starts_with(prefix))
        .filter_map(|(name, value)| Some((name.parse().ok()?, value.as_str())))
}

/// S3: `AWS_*`, with `AWS_ENDPOINT` ahead of `AWS_ENDPOINT_URL` (both name
/// one setting, and `object_store` takes whichever it meets last).
fn build_s3(bucket: &str, env: &[(String, String)], retry: RetryConfig) -> Built {
    let mut builder = AmazonS3Builder::from_env();
    let endpoint = std::env::var("AWS_ENDPOINT").ok();
    let endpoint = env.iter().find(|(name, _)| name == "aws_endpoint").map(|(_, v)| v.clone()).or(endpoint);
    for (key, value) in overrides::<AmazonS3ConfigKey>(env, "aws_") {
        builder = builder.with_config(key, value);
    }
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    let secrets = secrets(&[
        builder.get_config_value(&AmazonS3ConfigKey::SecretAccessKey),
        builder.get_config_value(&AmazonS3ConfigKey::Token),
    ]);
    match builder.with_bucket_name(bucket).with_retry(retry).build() {
        Ok(store) => Ok((Arc::new(store), secrets)),
        Err(e) => Err((e, secrets)),
    }
}

/// Google Cloud Storage: `GOOGLE_*` (`GOOGLE_SERVICE_ACCOUNT`, or
/// `GOOGLE_BASE_URL` with `GOOGLE_SKIP_SIGNATURE=true` for an emulator).
fn build_gcs(bucket: &str, env: &[(String, String)], retry: RetryConfig) -> Built {
    let mut builder = GoogleCloudStorageBuilder::from_env();
    for (key, value) in overrides::<GoogleConfigKey>(env, "google_") {
        builder = builder.with_config(key, value);
    }
    let secrets = secrets(&[builder.get_config_value(&GoogleConfigKey::ServiceAccountKey)]);
    match builder.with_bucket_name(bucket).with_retry(retry).build() {
        Ok(store) => Ok((Arc::new(store), secrets)),
        Err(e) => Err((e, secrets)),
    }
}

/// Azure Blob: `AZURE_*` (account, key or other credential, endpoint).
fn build_azure(container: &str, env: &[(String, String)], retry: RetryConfig) -> Built {
    let mut builder = MicrosoftAzureBuilder::from_env();
    for (key, value) in overrides::<AzureConfigKey>(env, "azure_") {
        builder = builder.with_config(key, value);
    }
    let secrets = secrets(&[
        builder.get_config_value(&AzureConfigKey::AccessKey),
        builder.get_config_value(&AzureConfigKey::ClientSecret),
        builder.get_config_value(&AzureConfigKey::SasKey),
        builder.get_config_value(&AzureConfigKey::Token),
    ]);
    match builder.with_container_name(container).with_retry(retry).build() {
        Ok(store) => Ok((Arc::new(store), secrets)),
        Err(e) => Err((e, secrets)),
    }
}

/// The configured secrets worth masking (a value of a few characters would
/// mask ordinary words).
fn secrets(values: &[Option<String>]) -> Vec<String> {
    values.iter().flatten().filter(|secret| secret.len() >= 8).cloned().collect()
}

/// `text` with every secret replaced by `***`.
fn mask(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_string(), |text, secret| text.replace(secret.as_str(), "***"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A secret a server echoed never reaches a message.
    #[test]
    fn masks_secrets() {
        let secrets = vec!["s3cr3t-value".to_string()];
        assert_eq!(mask("signature for s3cr3t-value failed", &secrets), "signature for *** failed");
    }
}
