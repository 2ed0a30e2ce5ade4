//! `ObjectSink` against real local object stores: SeaweedFS for S3,
//! Azurite for Azure Blob, gcp-storage-emulator for Google Cloud Storage,
//! each started by the test on 127.0.0.1 (`test_servers`) and killed when
//! the test ends, pass or fail.
//!
//! A server that is not installed skips its tests with one loud line
//! naming `scripts/install_test_servers.sh`; with `REQUIRE_TEST_SERVERS=1`
//! (CI) it fails them instead.
//!
//! Running: `cargo test -p common --test object_stores`.

#![allow(clippy::unwrap_used)] // a test whose store fails should panic, with the error

use std::sync::Arc;

use bytes::Bytes;
use common::store::{ObjectSink, Sink, SinkError, Store};
use futures_util::StreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;

/// Threads that upload at once in the blocking test.
const THREADS: usize = 8;
/// Objects each thread uploads.
const OBJECTS_PER_THREAD: usize = 4;
/// Objects uploaded by concurrent tasks with `put_async`.
const ASYNC_OBJECTS: usize = 8;

/// Distinct, recognisable contents for object `n`: sizes from a few bytes to
/// 200 KB, so both tiny and multi-packet bodies go up.
fn contents(n: usize) -> Vec<u8> {
    let size = 7 + (n * 7919) % 200_000;
    (0..size).map(|i| (i.wrapping_mul(31) ^ n) as u8).collect()
}

/// A tokio runtime for the test's own async calls (not the sink's).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime")
}

/// Every key under the sink's prefix, sorted.
fn list_keys(rt: &tokio::runtime::Runtime, sink: &ObjectSink, prefix: &str) -> Vec<String> {
    rt.block_on(async {
        let prefix = ObjectPath::from(prefix);
        let mut listing = sink.store().list(Some(&prefix));
        let mut keys = Vec::new();
        while let Some(meta) = listing.next().await {
            keys.push(meta.expect("listing the bucket").location.to_string());
        }
        keys.sort();
        keys
    })
}

/// Uploads from many threads (blocking `put`), from tasks on the caller's
/// runtime (`put_async`) and from inside a runtime (blocking `put` in
/// `block_on`), then reads every object back byte for byte, and (where the
/// server can list) finds exactly those keys under the prefix.
fn round_trip(sink: &ObjectSink, prefix: &str, can_list: bool) {
    let sink = Arc::new(sink.clone());
    // Blocking puts from plain threads, all at once.
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let sink = Arc::clone(&sink);
            scope.spawn(move || {
                for i in 0..OBJECTS_PER_THREAD {
                    let n = thread * OBJECTS_PER_THREAD + i;
                    let data = contents(n);
                    let key = format!("image-{n}/crop-{i:03}.jpg");
                    let stored = sink.put(&key, &data).unwrap_or_else(|e| panic!("put {key}: {e}"));
                    assert_eq!((stored.key.as_str(), stored.bytes), (key.as_str(), data.len() as u64));
                }
            });
        }
    });
    // put_async from tasks of the test's own runtime.
    let rt = runtime();
    let first_async = THREADS * OBJECTS_PER_THREAD;
    rt.block_on(async {
        let mut tasks = Vec::new();
        for n in first_async..first_async + ASYNC_OBJECTS {
            let sink = Arc::clone(&sink);
            tasks.push(tokio::spawn(async move {
                let data = Bytes::from(contents(n));
                sink.put_async(&format!("async-{n}_thumbnail.jpg"), data).await
            }));
        }
        for task in tasks {
            task.await.expect("upload task").expect("put_async");
        }
    });
    // The blocking put called from async code does not panic.
    let last = first_async + ASYNC_OBJECTS;
    rt.block_on(async { sink.put(&format!("async-{last}_thumbnail.jpg"), &contents(last)) })
        .expect("put inside a runtime");

    // Every object reads back identical.
    let mut expected = Vec::new();
    for n in 0..first_async {
        expected.push((format!("image-{n}/crop-{:03}.jpg", n % OBJECTS_PER_THREAD), n));
    }
    for n in first_async..=last {
        expected.push((format!("async-{n}_thumbnail.jpg"), n));
    }
    rt.block_on(async {
        for (key, n) in &expected {
            let path = sink.path(key).expect("a valid key");
            let read = sink.store().get(&path).await.expect("get").bytes().await.expect("body");
            assert!(read.as_ref() == contents(*n).as_slice(), "{key} differs from what was uploaded");
        }
    });
    if can_list {
        let mut want: Vec<String> = expected.iter().map(|(key, _)| format!("{prefix}/{key}")).collect();
        want.sort();
        assert_eq!(list_keys(&rt, &sink, prefix), want);
    }
}

/// A refused upload: `Denied`, fatal, one line, the secret nowhere in it,
/// and no object under the prefix (checked with the right credentials).
fn assert_denied(wrong: &ObjectSink, right: &ObjectSink, prefix: &str, wrong_secret: &str) {
    let error = wrong.put("a_thumbnail.jpg", b"not stored").expect_err("a wrong secret must be refused");
    assert!(matches!(error, SinkError::Denied { .. }), "expected Denied, got {error:?}");
    assert!(error.is_fatal());
    let message = error.to_string();
    assert!(!message.contains('\n'), "not one line: {message}");
    assert!(!message.contains(wrong_secret), "the secret is in the message: {message}");
    assert!(message.contains("a_thumbnail.jpg"), "which object is not said: {message}");
    assert_eq!(list_keys(&runtime(), right, prefix), Vec::<String>::new());
}

/// S3 (SeaweedFS): uploads from threads and tasks read back identical.
#[test]
fn s3_uploads_read_back_identical() {
    let Some(server) = test_servers::s3() else { return };
    let sink = ObjectSink::from_url_with_env(&server.url("run-1"), server.env()).expect("s3 sink");
    assert_eq!(sink.location(), format!("s3://{}/run-1", server.bucket));
    round_trip(&sink, "run-1", true);
}

/// S3 (SeaweedFS checks signatures): a wrong secret is refused and stores nothing.
#[test]
fn s3_wrong_secret_is_denied() {
    let Some(server) = test_servers::s3() else { return };
    let wrong_secret = "this-is-not-the-secret";
    let mut env = server.env();
    env.retain(|(name, _)| *name != "AWS_SECRET_ACCESS_KEY");
    env.push(("AWS_SECRET_ACCESS_KEY", wrong_secret.to_string()));
    let wrong = ObjectSink::from_url_with_env(&server.url("denied"), env).expect("s3 sink");
    let right = ObjectSink::from_url_with_env(&server.url("denied"), server.env()).expect("s3 sink");
    assert_denied(&wrong, &right, "denied", wrong_secret);
}

/// S3 through the AWS CLI's `AWS_ENDPOINT_URL`, with no `AWS_ENDPOINT`.
#[test]
fn s3_endpoint_url_is_accepted() {
    let Some(server) = test_servers::s3() else { return };
    let env = server
        .env()
        .into_iter()
        .map(|(name, value)| (if name == "AWS_ENDPOINT" { "AWS_ENDPOINT_URL" } else { name }, value));
    let sink = ObjectSink::from_url_with_env(&server.url("cli"), env).expect("s3 sink");
    sink.put("one.jpg", b"one").expect("put through AWS_ENDPOINT_URL");
}

/// Azure Blob (Azurite): uploads from threads and tasks read back identical.
#[test]
fn azure_uploads_read_back_identical() {
    let Some(server) = test_servers::azure() else { return };
    let sink = ObjectSink::from_url_with_env(&server.url("run-1"), server.env()).expect("azure sink");
    round_trip(&sink, "run-1", true);
}

/// Azure Blob (Azurite checks Shared Key signatures): a wrong key is refused
/// and stores nothing.
#[test]
fn azure_wrong_key_is_denied() {
    let Some(server) = test_servers::azure() else { return };
    // A well-formed key (base64 of 64 bytes) that is not the account's.
    let wrong_key = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc=";
    let mut env = server.env();
    env.retain(|(name, _)| *name != "AZURE_STORAGE_ACCOUNT_KEY");
    env.push(("AZURE_STORAGE_ACCOUNT_KEY", wrong_key.to_string()));
    let wrong = ObjectSink::from_url_with_env(&server.url("denied"), env).expect("azure sink");
    let right = ObjectSink::from_url_with_env(&server.url("denied"), server.env()).expect("azure sink");
    assert_denied(&wrong, &right, "denied", wrong_key);
}

/// Google Cloud Storage (gcp-storage-emulator, with the `ETag` its XML
/// uploads leave out added by test_servers/gcs_emulator_etag.py): uploads
/// from threads and tasks are confirmed and arrive whole under
/// `prefix/key`, read back through the emulator's JSON API.
#[test]
fn gcs_uploads_arrive_whole() {
    let Some(server) = test_servers::gcs() else { return };
    let sink = ObjectSink::from_url_with_env(&server.url("run-1"), server.env()).expect("gcs sink");
    std::thread::scope(|scope| {
        for n in 0..THREADS {
            let sink = &sink;
            scope.spawn(move || {
                let key = format!("image-{n}/crop-000.jpg");
                let stored = sink.put(&key, &contents(n)).expect("gcs put");
                assert_eq!(stored.bytes, contents(n).len() as u64);
            });
        }
    });
    runtime().block_on(async {
        let key = format!("async-{THREADS}_thumbnail.jpg");
        sink.put_async(&key, Bytes::from(contents(THREADS))).await.expect("gcs put_async");
    });
    for n in 0..THREADS {
        let name = format!("run-1/image-{n}/crop-000.jpg");
        assert_eq!(server.download(&name).as_deref(), Some(contents(n).as_slice()), "{name}");
    }
    let name = format!("run-1/async-{THREADS}_thumbnail.jpg");
    assert_eq!(server.download(&name).as_deref(), Some(contents(THREADS).as_slice()), "{name}");
    assert_eq!(server.download("run-1/never-uploaded.jpg"), None);
}

/// Destinations that cannot work are refused up front, in one line.
#[test]
fn bad_destinations_are_refused_in_one_line() {
    for (url, expected) in [
        ("ftp://bucket/prefix", "unknown scheme 'ftp'"),
        ("s3:///prefix", "no bucket"),
        ("gs://bucket/a//b", "bad prefix"),
        ("not a url", "not a URL"),
    ] {
        let error = ObjectSink::from_url(url).expect_err(url);
        assert!(matches!(error, SinkError::Destination { .. }), "{url}: {error:?}");
        assert!(error.is_fatal());
        let message = error.to_string();
        assert!(message.contains(expected), "{url}: {message}");
        assert!(!message.contains('\n'), "{url}: {message}");
    }
}

/// Every verb of [`Store`] against one server: put (also into a
/// "subfolder"), get, head, list under a prefix and of everything (keys
/// relative to the store, with sizes), delete (twice: a missing object is
/// no error), `within`, and the one-request check; then a bucket that does
/// not exist: the check fails `Unusable`, fatal, one line, naming the fix.
fn store_verbs(url: &str, missing: &str, env: &[(&'static str, String)]) {
    let store = Store::open_with_env(url, env.iter().cloned()).expect("a store");
    store.check().expect("the bucket is there");
    store.put("a_thumbnail.jpg", b"abc").unwrap();
    store.put("a/crop-000.jpg", b"de").unwrap();
    store.within("_shards/1").unwrap().put("r.json", b"{}").unwrap();
    assert_eq!(store.get("a_thumbnail.jpg").unwrap().as_deref(), Some(&b"abc"[..]));
    assert_eq!(store.get("nothing.jpg").unwrap(), None);
    assert_eq!((store.head("a/crop-000.jpg").unwrap(), store.head("nothing.jpg").unwrap()), (Some(2), None));
    let mut all = store.list("").unwrap();
    all.sort();
    let expected = [("_shards/1/r.json", 2), ("a/crop-000.jpg", 2), ("a_thumbnail.jpg", 3)];
    assert_eq!(all, expected.map(|(key, size)| (key.to_string(), size)));
    assert_eq!(store.list("_shards").unwrap(), [("_shards/1/r.json".to_string(), 2)]);
    store.delete("a_thumbnail.jpg").unwrap();
    store.delete("a_thumbnail.jpg").unwrap();
    assert_eq!(store.head("a_thumbnail.jpg").unwrap(), None);

    let gone = Store::open_with_env(missing, env.iter().cloned()).expect("a store");
    let error = gone.check().expect_err("a missing bucket must be found by the check");
    assert!(matches!(error, SinkError::Unusable { .. }) && error.is_fatal(), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("does not exist") && message.contains("create the"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

/// S3 (SeaweedFS): every verb of the store.
#[test]
fn s3_store_verbs() {
    let Some(server) = test_servers::s3() else { return };
    store_verbs(&server.url("verbs"), "s3://no-such-bucket/verbs", &server.env());
}

/// Azure Blob (Azurite): every verb of the store.
#[test]
fn azure_store_verbs() {
    let Some(server) = test_servers::azure() else { return };
    store_verbs(&server.url("verbs"), "az://no-such-container/verbs", &server.env());
}

/// Google Cloud Storage (the emulator, with the XML listing, `HEAD` and
/// `DELETE` test_servers/gcs_emulator_etag.py adds): every verb of the store.
#[test]
fn gcs_store_verbs() {
    let Some(server) = test_servers::gcs() else { return };
    store_verbs(&server.url("verbs"), "gs://nosuchbucket/verbs", &server.env());
}
