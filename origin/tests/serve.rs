//! The origin over real sockets: what it serves, and that it is repeatable.

#![allow(clippy::unwrap_used)] // a test that cannot talk to its own server should panic

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use origin::OriginConfig;

fn get(url: &str) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent.get(url).call().unwrap();
    (response.status().as_u16(), response.body_mut().with_config().limit(1 << 26).read_to_vec().unwrap())
}

fn fast(count: usize) -> OriginConfig {
    OriginConfig { count, latency: Duration::ZERO, jitter: Duration::ZERO, ..OriginConfig::default() }
}

/// Full-size photos are real JPEGs of web-photo size, the same bytes on every
/// request, different bytes for every id (even ids sharing a pooled picture).
#[test]
fn photos_are_realistic_and_deterministic() {
    let running = origin::start(fast(30)).unwrap();
    let (status, first) = get(&running.image_url(2));
    assert_eq!(status, 200);
    assert_eq!(get(&running.image_url(2)).1, first, "same id, same bytes");
    assert_ne!(get(&running.image_url(2 + origin::PHOTO_POOL)).1, first, "pooled picture, own bytes");
    assert!((80_000..=250_000).contains(&first.len()), "{} bytes", first.len());
    let photo = image::load_from_memory(&first).unwrap().to_rgb8();
    assert_eq!(photo.dimensions(), (1080, 720));
    // Not flat: the picture has both smooth areas and real contrast.
    let lumas: Vec<u8> = photo.pixels().map(|p| p.0[1]).collect();
    let (min, max) = (lumas.iter().min().unwrap(), lumas.iter().max().unwrap());
    assert!(max - min > 100, "contrast {min}..{max}");
}

/// Ids outside `0..count` and malformed names are 404; the URL list has
/// exactly `count` lines pointing back at this server.
#[test]
fn routes_and_url_list() {
    let running = origin::start(OriginConfig { width: 64, height: 48, ..fast(5) }).unwrap();
    let base = running.base_url();
    assert_eq!(get(&format!("{base}/images/5.jpg")).0, 404);
    assert_eq!(get(&format!("{base}/images/x.jpg")).0, 404);
    assert_eq!(get(&format!("{base}/faults/status/503")).0, 503);
    let (status, body) = get(&format!("{base}/urls.txt"));
    assert_eq!(status, 200);
    let urls: Vec<String> = String::from_utf8(body).unwrap().lines().map(str::to_string).collect();
    assert_eq!(urls, (0..5).map(|id| running.image_url(id)).collect::<Vec<_>>());
    let (_, body) = get(&format!("{base}/urls.txt?count=2"));
    assert_eq!(String::from_utf8(body).unwrap().lines().count(), 2);
}

/// `photos_dir` serves the folder's files as they are, cycling through them.
#[test]
fn serves_a_folder_of_photos() {
    let dir = tempfile::tempdir().unwrap();
    let a = origin::generate_jpeg(1, 40, 30);
    let b = origin::generate_jpeg(2, 50, 20);
    std::fs::write(dir.path().join("a.jpg"), &a).unwrap();
    std::fs::write(dir.path().join("b.jpg"), &b).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a photo").unwrap();
    let running = origin::start(OriginConfig { photos_dir: Some(dir.path().into()), ..fast(4) }).unwrap();
    let served: Vec<Vec<u8>> = (0..4).map(|id| get(&running.image_url(id)).1).collect();
    assert_eq!(served, [a.clone(), b.clone(), a, b]);
}

/// The latency of each id is fixed and stays within `latency ± jitter`.
#[test]
fn latency_is_fixed_per_id_and_bounded() {
    let config = OriginConfig::default();
    for id in 0..1000 {
        let latency = config.latency_for(id);
        assert_eq!(latency, config.latency_for(id));
        assert!(latency >= Duration::from_millis(100) && latency <= Duration::from_millis(300), "{latency:?}");
    }
    let mean: f64 = (0..1000).map(|id| config.latency_for(id).as_secs_f64()).sum::<f64>() / 1000.0;
    assert!((mean - 0.2).abs() < 0.01, "mean {mean}");
}

/// The binary prints its base URL as the first line and then serves on it.
#[test]
fn binary_prints_base_url_first() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_origin"))
        .args(["--port", "0", "--count", "3", "--latency-ms", "0", "--width", "64", "--height", "48"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().to_string();
    let served = std::panic::catch_unwind(|| get(&format!("{base}/images/2.jpg")));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let (status, body) = served.unwrap();
    assert_eq!(status, 200);
    assert_eq!(image::load_from_memory(&body).unwrap().height(), 48);
}
