//! Every object a run stores carries its `Content-Type`, read back from
//! each real server: SeaweedFS (S3), Azurite (Azure Blob) and
//! gcp-storage-emulator (Google Cloud Storage), started on 127.0.0.1 by
//! `test_servers`. Without it a bucket serves a thumbnail or a shard as
//! `binary/octet-stream`, and a browser or a download tool cannot tell.
//!
//! A server that is not installed skips with one loud line (fails with
//! `REQUIRE_TEST_SERVERS=1`).
//!
//! Running: `cargo test -p common --test content_types`.

use common::store::{ObjectSink, Sink};
use object_store::{Attribute, ObjectStoreExt};

/// Each kind of object a run writes, and the type it must be served as.
const OBJECTS: [(&str, &str); 7] = [
    ("a_thumbnail.jpg", "image/jpeg"),
    ("b/crop-000.png", "image/png"),
    ("c.webp", "image/webp"),
    ("00000.tar", "application/x-tar"),
    ("00000.parquet", "application/vnd.apache.parquet"),
    ("00000_stats.json", "application/json"),
    ("_records/failures.jsonl", "application/x-ndjson"),
];

/// Stores every kind of object through `sink`, each with contents of its
/// kind (the GCS emulator parses what it is told is JSON).
fn store_all(sink: &ObjectSink) {
    for (key, _) in OBJECTS {
        let bytes: &[u8] =
            if key.ends_with(".json") || key.ends_with(".jsonl") { b"{\"count\": 1}\n" } else { b"bytes" };
        sink.put(key, bytes).unwrap_or_else(|e| panic!("put {key}: {e}"));
    }
}

/// Reads each object's type back through the store's own `GET`.
fn assert_types_read_back(sink: &ObjectSink) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    for (key, expected) in OBJECTS {
        let path = sink.path(key).expect("a valid key");
        let got = runtime.block_on(sink.store().get(&path)).unwrap_or_else(|e| panic!("get {key}: {e}"));
        let content_type = got.attributes.get(&Attribute::ContentType).map(|value| value.to_string());
        assert_eq!(content_type.as_deref(), Some(expected), "{key}");
    }
}

/// S3 (SeaweedFS): each object is served with its type.
#[test]
fn s3_objects_have_their_content_type() {
    let Some(server) = test_servers::s3() else { return };
    let sink = ObjectSink::from_url_with_env(&server.url("types"), server.env()).expect("s3 sink");
    store_all(&sink);
    assert_types_read_back(&sink);
}

/// Azure Blob (Azurite): each blob is served with its type.
#[test]
fn azure_objects_have_their_content_type() {
    let Some(server) = test_servers::azure() else { return };
    let sink = ObjectSink::from_url_with_env(&server.url("types"), server.env()).expect("azure sink");
    store_all(&sink);
    assert_types_read_back(&sink);
}

/// Google Cloud Storage (gcp-storage-emulator): each object's resource
/// names its type (read through the JSON API, as the emulator serves it).
#[test]
fn gcs_objects_have_their_content_type() {
    let Some(server) = test_servers::gcs() else { return };
    let sink = ObjectSink::from_url_with_env(&server.url("types"), server.env()).expect("gcs sink");
    store_all(&sink);
    for (key, expected) in OBJECTS {
        assert_eq!(server.content_type(&format!("types/{key}")).as_deref(), Some(expected), "{key}");
    }
}
