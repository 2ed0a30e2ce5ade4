//! Sharded `pipeline_run` against a real origin on 127.0.0.1, started
//! in-process, each shard a process of its own as a cluster engine would
//! start it: four shards into one store make exactly the objects of one
//! run; a shard done is not run again; a shard killed part way (SIGKILL)
//! is run again and finishes; `merge` lists what is missing until nothing
//! is; Kubernetes' `JOB_COMPLETION_INDEX` works the same way; bad
//! combinations are one line and status 2.

#![allow(clippy::unwrap_used)] // a test that cannot read its temp dir should panic

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use origin::{OriginConfig, RunningOrigin};
use serde_json::Value;

/// Images served.
const IMAGES: usize = 24;

/// Shards of the tests.
const SHARDS: usize = 4;

/// Files that are records, not objects.
const RECORDS: [&str; 4] = ["complete.jsonl", "failures.jsonl", "_shards", "_records"];

/// An origin of `count` small photos, each answered after `latency`.
fn start_origin(count: usize, latency: Duration) -> RunningOrigin {
    origin::start(OriginConfig { count, latency, width: 240, height: 160, ..OriginConfig::default() }).unwrap()
}

/// `urls.txt` in `dir`, listing every image of `origin`.
fn url_list(dir: &Path, origin: &RunningOrigin) -> PathBuf {
    let urls: Vec<String> = (0..IMAGES).map(|id| origin.image_url(id)).collect();
    let path = dir.join("urls.txt");
    std::fs::write(&path, urls.join("\n")).unwrap();
    path
}

/// `pipeline_run` in `dir` with `args` and the environment `env`, with
/// no engine's variables inherited.
fn command(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pipeline_run"));
    command.args(args).current_dir(dir).stdout(Stdio::piped()).stderr(Stdio::piped());
    for name in [
        "UNSPLASH_ACCESS_KEY",
        "IMGUR_CLIENT_ID",
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "JOB_COMPLETION_INDEX",
        "PIPELINE_TASK_COUNT",
        "PIPELINE_SHARD_COUNT",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().map(|(name, value)| (*name, value)));
    command
}

fn run(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    command(dir, args, env).output().unwrap()
}

/// The `--json` object of a run that must exit with `status`.
fn json(output: &Output, status: i32, what: &str) -> Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(status), "{what}: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| panic!("{what}: {err}: {stderr}"))
}

/// Every object under `store` (keys with `/` for subfolders), with its
/// bytes; a partial file anywhere fails the test.
fn objects(store: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(store).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with(".partial"), "a partial file is visible: {name}");
        if RECORDS.contains(&name.as_str()) {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            for inner in std::fs::read_dir(entry.path()).unwrap() {
                let inner = inner.unwrap();
                found.insert(
                    format!("{name}/{}", inner.file_name().to_string_lossy()),
                    std::fs::read(inner.path()).unwrap(),
                );
            }
        } else {
            found.insert(name, std::fs::read(entry.path()).unwrap());
        }
    }
    found
}

/// The flags every run of a test uses: a thumbnail and two grid crops, so
/// an image is more than one object.
const MAKE: [&str; 6] = ["--urls", "urls.txt", "--thumbnail", "64x64", "--crops-grid", "2"];

/// A shard's flags into `store`.
fn shard_args<'a>(store: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--json", "--store", store, "--concurrency", "2"];
    args.extend(MAKE);
    args.extend(extra);
    args
}

/// Waits for a spawned run and returns its output.
fn finish(child: Child) -> Output {
    child.wait_with_output().unwrap()
}

/// `merge --json` of `store`, which must exit with `status`.
fn merge(dir: &Path, store: &str, status: i32) -> Value {
    json(&run(dir, &["merge", "--store", store, "--json"], &[]), status, "merge")
}

/// Four shards run at once into one store make exactly the objects of one
/// unsharded run, each image once, whatever each one's mode; each records itself; a shard run again
/// is skipped without a request; merge adds them up.
#[test]
fn four_shards_make_what_one_run_makes() {
    let origin = start_origin(IMAGES, Duration::from_millis(5));
    let dir = tempfile::tempdir().unwrap();
    url_list(dir.path(), &origin);
    let one = json(&run(dir.path(), &shard_args("one", &[]), &[]), 0, "single run");
    assert_eq!(one["files"], IMAGES);

    let children: Vec<Child> = (0..SHARDS)
        .map(|index| {
            let index = index.to_string();
            let count = SHARDS.to_string();
            // Each shard in another mode: the worker processes of one find their shard too.
            let mode = ["serial", "threads", "processes", "async"][index.parse::<usize>().unwrap() % 4];
            let args = shard_args("sharded", &["--task-index", &index, "--task-count", &count, "--mode", mode]);
            command(dir.path(), &args, &[]).spawn().unwrap()
        })
        .collect();
    let mut made = 0;
    for (index, child) in children.into_iter().enumerate() {
        let report = json(&finish(child), 0, &format!("shard {index}"));
        assert_eq!(report["failed"], 0, "shard {index}: {report}");
        assert_eq!(report["shard_record"], format!("_shards/{index}.json"));
        made += report["files"].as_u64().unwrap();
        let record: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(format!("sharded/_shards/{index}.json"))).unwrap())
                .unwrap();
        assert_eq!((record["shard"].as_u64(), record["shard_count"].as_u64()), (Some(index as u64), Some(4)));
    }
    assert_eq!(made, IMAGES as u64, "every image made once, by one shard");
    let single = objects(&dir.path().join("one"));
    assert_eq!(single.len(), IMAGES * 3);
    assert!(objects(&dir.path().join("sharded")) == single, "the shards' union differs from the single run");

    let summary = merge(dir.path(), "sharded", 0);
    assert_eq!(summary["recorded"], SHARDS);
    assert_eq!(summary["files"], IMAGES);
    assert_eq!(summary["objects_stored"], IMAGES * 3);
    assert_eq!(summary["objects_present"], IMAGES * 3, "counted from the store: {summary}");
    assert_eq!(summary["missing"], serde_json::json!([]));
    assert_eq!(summary["complete"], true);

    // Done is done: no request, nothing written.
    let served = origin.stats().image_requests;
    let segments = |dir: &Path| objects(dir).into_keys().collect::<Vec<_>>();
    let ledger = segments(&dir.path().join("sharded/_shards/2/_records"));
    assert!(!ledger.is_empty(), "shard 2 recorded no complete image");
    let again =
        json(&run(dir.path(), &shard_args("sharded", &["--task-index", "2", "--task-count", "4"]), &[]), 0, "again");
    assert_eq!(again["already_done"], true, "{again}");
    assert_eq!(origin.stats().image_requests, served, "a shard done made requests");
    assert_eq!(segments(&dir.path().join("sharded/_shards/2/_records")), ledger, "a shard done wrote records");
}

/// The Kubernetes way (`JOB_COMPLETION_INDEX`, the count from the
/// manifest's `PIPELINE_TASK_COUNT`): a shard killed outright part way
/// leaves no record, merge says it is missing, and its re-run finishes
/// what is missing, skipping what it had made, with nothing half-written
/// visible; then merge is complete and the union is the single run's.
#[test]
fn a_killed_shard_is_run_again_and_finishes() {
    let origin = start_origin(IMAGES, Duration::from_millis(150));
    let dir = tempfile::tempdir().unwrap();
    url_list(dir.path(), &origin);
    let one = json(&run(dir.path(), &shard_args("one", &[]), &[]), 0, "single run");
    assert_eq!(one["files"], IMAGES);
    let env = |index: usize| [("JOB_COMPLETION_INDEX", index.to_string()), ("PIPELINE_TASK_COUNT", SHARDS.to_string())];
    for index in [0, 2, 3] {
        json(&run(dir.path(), &shard_args("k8s", &[]), &env(index)), 0, &format!("shard {index}"));
    }
    // Shard 1, one image at a time, killed once its records (in the store) have a segment.
    let slow = ["--json", "--store", "k8s", "--concurrency", "1", "--mode", "serial"];
    let mut args: Vec<&str> = slow.to_vec();
    args.extend(MAKE);
    let mut child = command(dir.path(), &args, &env(1)).spawn().unwrap();
    let ledger = dir.path().join("k8s/_shards/1/_records");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_dir(&ledger).map_or(0, Iterator::count) == 0 {
        assert!(child.try_wait().unwrap().is_none(), "shard 1 ended before it could be killed");
        assert!(Instant::now() < deadline, "shard 1 completed no image in 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no handler runs
    child.wait().unwrap();
    assert!(!dir.path().join("k8s/_shards/1.json").exists(), "a killed shard left a record");
    let partial = merge(dir.path(), "k8s", 4);
    assert_eq!(partial["missing"], serde_json::json!([1]), "{partial}");
    assert_eq!(partial["complete"], false);
    objects(&dir.path().join("k8s")); // nothing half-written visible

    let rerun = json(&run(dir.path(), &args, &env(1)), 0, "shard 1 again");
    assert!(rerun["skipped"].as_u64().unwrap() >= 1, "the re-run made again what was done: {rerun}");
    assert_eq!(rerun["failed"], 0);
    assert_eq!(rerun["requested"], rerun["files"].as_u64().unwrap() + rerun["skipped"].as_u64().unwrap());
    let summary = merge(dir.path(), "k8s", 0);
    assert_eq!(summary["requested"], IMAGES, "{summary}");
    assert_eq!(summary["missing"], serde_json::json!([]));
    assert!(objects(&dir.path().join("k8s")) == objects(&dir.path().join("one")), "union differs from the single run");
}

/// A record of another input (the URL list changed) or another shard
/// count is not taken for this job's: the shard runs again, and merge
/// counts it as stale until it has.
#[test]
fn a_record_of_another_input_is_not_this_jobs() {
    let origin = start_origin(IMAGES, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    url_list(dir.path(), &origin);
    let first = shard_args("store", &["--task-index", "0", "--task-count", "2"]);
    json(&run(dir.path(), &first, &[]), 0, "first");
    assert_eq!(json(&run(dir.path(), &first, &[]), 0, "same")["already_done"], true);
    // Another list: one URL fewer.
    let urls = std::fs::read_to_string(dir.path().join("urls.txt")).unwrap();
    let fewer: Vec<&str> = urls.lines().skip(1).collect();
    std::fs::write(dir.path().join("urls.txt"), fewer.join("\n")).unwrap();
    let other = json(&run(dir.path(), &first, &[]), 0, "other input");
    assert!(other.get("already_done").is_none(), "a record of another input was taken: {other}");
    // Another count: shard 0 of 3 is another share.
    let three = shard_args("store", &["--task-index", "0", "--task-count", "3"]);
    assert!(json(&run(dir.path(), &three, &[]), 0, "three").get("already_done").is_none());
    let summary = merge(dir.path(), "store", 4);
    assert_eq!(summary["shard_count"], 3);
    assert_eq!(summary["missing"], serde_json::json!([1, 2]));
    let two = json(&run(dir.path(), &["merge", "--store", "store", "--task-count", "2", "--json"], &[]), 4, "two");
    assert_eq!(two["stale"], serde_json::json!([0]), "{two}");
}

/// A refused setting: flags, environment, and what the one line says.
type Case = (&'static [&'static str], &'static [(&'static str, &'static str)], &'static str);

/// Contradictory or unreadable shard settings, and flags that cannot go
/// with shards, are one line and status 2, before anything is listed.
#[test]
fn bad_shard_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("urls.txt"), "http://127.0.0.1:9/1.jpg\n").unwrap();
    let cases: [Case; 6] = [
        (&["--task-index", "4", "--task-count", "4"], &[], "not below the task count"),
        (&["--task-index", "1"], &[], "needs a task count"),
        (&["--task-count", "4"], &[], "needs a task index"),
        (&[], &[("JOB_COMPLETION_INDEX", "1")], "needs a task count"),
        (&[], &[("SLURM_ARRAY_TASK_ID", "one"), ("SLURM_ARRAY_TASK_COUNT", "4")], "not a whole number"),
        (&["--task-index", "0", "--task-count", "2", "--clean"], &[], "--clean cannot go with a cluster task"),
    ];
    for (flags, env, expected) in cases {
        let mut args = vec!["--urls", "urls.txt", "--store", "out"];
        args.extend(flags);
        let env: Vec<(&str, String)> = env.iter().map(|(name, value)| (*name, (*value).to_string())).collect();
        let output = run(dir.path(), &args, &env);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flags:?} {env:?}: {stderr}");
        assert!(stderr.contains(expected) && stderr.trim().lines().count() == 1, "{flags:?}: {stderr}");
    }
    let output = run(dir.path(), &["merge", "--store", "nowhere"], &[]);
    assert_eq!(output.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no such folder"));
}

/// The flags and variable of the time a task was called a shard
/// (`--shard-index`, `--shard-count`, `PIPELINE_SHARD_COUNT`, `merge
/// --shard-count`) still work, so scripts written then keep working: they
/// name the very task the new ones do.
#[test]
fn the_old_names_of_the_task_flags_still_work() {
    let origin = start_origin(IMAGES, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    url_list(dir.path(), &origin);
    let new = shard_args("store", &["--task-index", "0", "--task-count", "2"]);
    assert!(json(&run(dir.path(), &new, &[]), 0, "new names").get("already_done").is_none());
    let old = shard_args("store", &["--shard-index", "0", "--shard-count", "2"]);
    assert_eq!(json(&run(dir.path(), &old, &[]), 0, "old names")["already_done"], true, "not the same task");
    let from_env = [("JOB_COMPLETION_INDEX", "0".to_string()), ("PIPELINE_SHARD_COUNT", "2".to_string())];
    assert_eq!(json(&run(dir.path(), &shard_args("store", &[]), &from_env), 0, "old variable")["already_done"], true);
    let summary =
        json(&run(dir.path(), &["merge", "--store", "store", "--shard-count", "2", "--json"], &[]), 4, "merge");
    assert_eq!(summary["missing"], serde_json::json!([1]), "{summary}");
}
