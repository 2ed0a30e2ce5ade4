//! `scripts/run_all.sh` itself, run for real with `--bin-dir` pointing at
//! tiny stand-in binaries (bash scripts that honour the download, resize
//! and pipeline contracts: they write files, a pipeline also a `--trace`,
//! and print a `--json` report) and the real `results_matrix` and
//! `timeline`. This checks the script's control flow (interleaving, flags
//! passed, failures named, placeholders refused, the timelines drawn from
//! the last round) in a second or two; the real binaries are measured by
//! running the script itself.

#![cfg(unix)]
#![allow(clippy::unwrap_used)] // a test that cannot write its temp dir should panic

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/run_all.sh");

const DOWNLOADS: [&str; 4] = ["normal_run", "multithreading_run", "multiprocessing_run", "asyncio_run"];

/// A download binary that saves all but `short` of `--count` files into
/// `--out`, logs its arguments, and reports like the real ones.
fn download_stand_in(log: &Path, short: usize) -> String {
    format!(
        r#"#!/usr/bin/env bash
echo "$(basename "$0") $*" >> '{log}'
count=0; out=""
while [[ $# -gt 0 ]]; do case $1 in --count) count=$2; shift 2;; --out) out=$2; shift 2;; *) shift;; esac; done
saved=$((count - {short})); failed={short}
mkdir -p "$out"; for ((i = 0; i < saved; i++)); do echo x > "$out/img-$i.jpg"; done
printf '{{"run":"%s","source":"test","requested":%d,"files":%d,"failed":%d,"bytes":1,"seconds":0.01,"concurrency":2,"failures":[],"listing_error":null,"interrupted":false}}\n' "$(basename "$0")" "$count" "$saved" "$failed"
[[ $failed -eq 0 ]] || exit 3
"#,
        log = log.display()
    )
}

/// A resize binary that makes one file per file in `--input`.
fn resize_stand_in(log: &Path) -> String {
    format!(
        r#"#!/usr/bin/env bash
[[ $1 == --help ]] && exit 0
echo "$(basename "$0") $*" >> '{log}'
input=""; output=""
while [[ $# -gt 0 ]]; do case $1 in --input) input=$2; shift 2;; --output) output=$2; shift 2;; *) shift;; esac; done
mkdir -p "$output"; files=0
for f in "$input"/*; do cp "$f" "$output/"; files=$((files + 1)); done
printf '{{"run":"%s","files":%d,"failed":0,"seconds":0.01,"threads":2}}\n' "$(basename "$0")" "$files"
"#,
        log = log.display()
    )
}

/// `pipeline_run`: stores one thumbnail per image of `--count` into
/// `--store`, traces each image's four events, and reports like the real
/// one. The n-th run of a mode traces tasks numbered from 10n, so a trace
/// the script appended to instead of replacing would show more images.
fn pipeline_stand_in(log: &Path) -> String {
    format!(
        r#"#!/usr/bin/env bash
echo "$(basename "$0") $*" >> '{log}'
count=0; store=""; trace=""; mode=""
while [[ $# -gt 0 ]]; do case $1 in --count) count=$2; shift 2;; --store) store=$2; shift 2;; --trace) trace=$2; shift 2;; --mode) mode=$2; shift 2;; *) shift;; esac; done
runs_file='{log}'.$mode; echo x >> "$runs_file"; run=$(wc -l < "$runs_file")
[[ ! -e $store ]] || {{ echo "the store was not emptied" >&2; exit 2; }}
mkdir -p "$store"
for ((i = 0; i < count; i++)); do
    echo x > "$store/img-${{i}}_thumbnail.jpg"
    if [[ $i -lt $run ]]; then
        task=$((10 * run + i))
        for event in queued downloaded transformed stored; do
            printf '{{"mode":"%s","task":%d,"event":"%s","t":0.0%d}}
' "$mode" "$task" "$event" "$i" >> "$trace"
        done
    fi
done
printf '{{"run":"pipeline_run/%s","source":"test","requested":%d,"files":%d,"failed":0,"bytes":1,"seconds":0.02,"concurrency":2,"failures":[],"listing_error":null,"interrupted":false,"mode":"%s","store":"%s","objects_stored":%d,"empty_crops":0,"stage_seconds":{{"download":0.01,"transform":0.01,"store":0.01}}}}
' "$mode" "$count" "$count" "$mode" "$store" "$count"
"#,
        log = log.display()
    )
}

/// What main's placeholders do.
const PLACEHOLDER: &str = "#!/usr/bin/env bash\necho \"error: $(basename \"$0\") is not written yet\" >&2\nexit 2\n";

struct Setup {
    dir: tempfile::TempDir,
    log: PathBuf,
}

impl Setup {
    /// A bin dir of stand-ins; `short` names a download binary that comes up
    /// one file short, `placeholder` a resize binary that is not written.
    /// The real `results_matrix` and `timeline` are linked beside them.
    fn new(short: Option<&str>, placeholder: Option<&str>) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let log = dir.path().join("calls.log");
        std::fs::write(&log, "").unwrap();
        let write = |name: &str, text: &str| {
            let path = bin.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        for name in DOWNLOADS {
            write(name, &download_stand_in(&log, usize::from(short == Some(name))));
        }
        for name in ["resize_serial", "resize_parallel"] {
            write(name, &if placeholder == Some(name) { PLACEHOLDER.to_string() } else { resize_stand_in(&log) });
        }
        write("pipeline_run", &pipeline_stand_in(&log));
        write("origin", "#!/usr/bin/env bash\necho 'the tests use --source urls' >&2\nexit 1\n");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_results_matrix"), bin.join("results_matrix")).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_timeline"), bin.join("timeline")).unwrap();
        std::fs::write(dir.path().join("urls.txt"), "http://127.0.0.1:9/a.jpg\n").unwrap();
        Setup { dir, log }
    }

    fn run(&self, extra: &[&str]) -> Output {
        let path = |name: &str| self.dir.path().join(name).display().to_string();
        Command::new("bash")
            .arg(SCRIPT)
            .args(["--count", "3", "--repeat", "2", "--source", "urls", "--urls", &path("urls.txt")])
            .args(["--bin-dir", &path("bin"), "--out", &path("results"), "--scratch", &path("scratch")])
            .args(extra)
            .output()
            .unwrap()
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log).unwrap().lines().map(str::to_string).collect()
    }

    fn results(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("results/RESULTS.md")).unwrap()
    }

    /// The timeline pictures in the results folder, sorted.
    fn timelines(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path().join("results"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("timeline-"))
            .collect();
        names.sort();
        names
    }
}

/// The pipeline modes' labels, as the script names them, in its first round's order.
const PIPELINES: [&str; 4] = [
    "pipeline_run --mode serial",
    "pipeline_run --mode threads",
    "pipeline_run --mode processes",
    "pipeline_run --mode async",
];

/// The timeline pictures a run with pipelines leaves, sorted.
const TIMELINES: [&str; 5] = [
    "timeline-async.png",
    "timeline-comparison.png",
    "timeline-processes.png",
    "timeline-serial.png",
    "timeline-threads.png",
];

/// Every binary and pipeline mode runs once a round, the order rotated each
/// round, with the contract's flags; the matrix gets a row for each,
/// async-std and the four pipeline modes included, and the timelines are
/// drawn from the last round's traces and shown in RESULTS.md.
#[test]
fn runs_every_binary_interleaved_and_writes_the_results() {
    let setup = Setup::new(None, None);
    let output = setup.run(&[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");

    let calls = setup.calls();
    // A binary and its --mode, if it has one.
    let binaries: Vec<String> = calls
        .iter()
        .map(|call| {
            let words: Vec<&str> = call.split(' ').collect();
            let mode = words.iter().position(|w| *w == "--mode").and_then(|i| words.get(i + 1));
            mode.map_or(words[0].to_string(), |mode| format!("{} --mode {mode}", words[0]))
        })
        .collect();
    assert_eq!(
        binaries,
        [
            "normal_run",
            "multithreading_run",
            "multiprocessing_run",
            "asyncio_run",
            "asyncio_run",
            "resize_serial",
            "resize_parallel",
            PIPELINES[0],
            PIPELINES[1],
            PIPELINES[2],
            PIPELINES[3],
            "multithreading_run",
            "multiprocessing_run",
            "asyncio_run",
            "asyncio_run",
            "normal_run",
            "resize_parallel",
            "resize_serial",
            PIPELINES[1],
            PIPELINES[2],
            PIPELINES[3],
            PIPELINES[0],
        ]
    );
    let scratch = setup.dir.path().join("scratch");
    assert!(calls[0].contains("--count 3 --out") && calls[0].contains("--json --source urls --urls"), "{}", calls[0]);
    assert!(calls[4].ends_with("--runtime async-std"), "{}", calls[4]);
    assert!(
        calls[5].contains(&format!(
            "--input {}/images --output {}/thumbnails --json",
            scratch.display(),
            scratch.display()
        )),
        "{}",
        calls[5]
    );
    let pipeline_args = format!("--count 3 --store {}/stored --thumbnail 128x128 --json --trace ", scratch.display());
    assert!(calls[7].contains(&pipeline_args), "{}", calls[7]);
    assert!(calls[7].contains("--source urls --urls") && calls[7].ends_with("--mode serial"), "{}", calls[7]);

    let results = setup.results();
    for binary in ["`normal_run`", "`asyncio_run --runtime async-std`", "`resize_serial`", "`resize_parallel`"]
        .into_iter()
        .map(str::to_string)
        .chain(PIPELINES.map(|label| format!("`{label}`")))
    {
        assert!(results.contains(&binary), "no row for {binary}:\n{results}");
    }
    assert!(
        results
            .contains("| 8 | Pipeline (download + thumbnail), serial (2 at once) | `pipeline_run --mode serial` | 3 |"),
        "{results}"
    );
    assert_eq!(results.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| No.")).count(), 11, "{results}");
    assert!(setup.dir.path().join("results/timings.png").is_file());
    assert!(setup.dir.path().join("results/results.json").is_file());

    // The timelines: one per mode and the comparison, from the last round's
    // traces (the second run of each mode traced two images, the first one).
    assert_eq!(setup.timelines(), TIMELINES);
    for mode in ["serial", "threads", "processes", "async"] {
        assert!(stderr.contains(&format!("({mode}: 2 images, 8 events, 2 objects stored")), "{mode}: {stderr}");
        assert!(results.contains(&format!("![Timeline of --mode {mode}](timeline-{mode}.png)")), "{results}");
    }
    assert!(results.contains("![Pipeline modes compared](timeline-comparison.png)"), "{results}");
    let picture = image::open(setup.dir.path().join("results/timeline-async.png")).unwrap();
    assert_eq!((picture.width(), picture.height()), (1200, 800));
}

/// --skip-pipeline leaves pipeline_run out: it need not exist, the matrix has
/// no pipeline rows, RESULTS.md no timelines; without the flag, a missing
/// pipeline_run is a usage error before any run.
#[test]
fn pipelines_can_be_skipped_and_are_needed_otherwise() {
    let setup = Setup::new(None, None);
    std::fs::remove_file(setup.dir.path().join("bin/pipeline_run")).unwrap();
    let output = setup.run(&[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pipeline_run is missing"), "{stderr}");
    assert!(setup.calls().is_empty(), "runs started: {:?}", setup.calls());

    let output = setup.run(&["--skip-pipeline"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("--skip-pipeline"), "{stderr}");
    assert!(setup.calls().iter().all(|call| !call.starts_with("pipeline_run")), "{:?}", setup.calls());
    let results = setup.results();
    assert_eq!(results.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| No.")).count(), 7, "{results}");
    assert!(!results.contains("pipeline_run") && !results.contains("timeline"), "{results}");
    assert!(setup.timelines().is_empty(), "{:?}", setup.timelines());
}

/// Pictures from an earlier run do not survive a run whose traces draw
/// new ones: a mode that left no trace gets no picture and fails the script.
#[test]
fn a_pipeline_without_a_trace_fails_and_leaves_no_old_picture() {
    let setup = Setup::new(None, None);
    let results = setup.dir.path().join("results");
    std::fs::create_dir_all(&results).unwrap();
    std::fs::write(results.join("timeline-threads.png"), "an old picture").unwrap();
    // A threads run that stores everything but writes no trace.
    let bin = setup.dir.path().join("bin/pipeline_run");
    let script = std::fs::read_to_string(&bin).unwrap();
    std::fs::write(
        &bin,
        script.replace("mode=$2; shift 2;;", "mode=$2; [[ $mode == threads ]] && trace=/dev/null; shift 2;;"),
    )
    .unwrap();
    let output = setup.run(&[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("FAILED: pipeline_run --mode threads left no trace"), "{stderr}");
    let pictures = setup.timelines();
    assert!(!pictures.contains(&"timeline-threads.png".to_string()), "{pictures:?}");
    assert!(pictures.contains(&"timeline-async.png".to_string()), "{pictures:?}");
    assert!(!setup.results().contains("timeline-threads.png"));
}

/// A binary that saves too few files makes the script fail and name it.
#[test]
fn a_short_count_fails_the_script_and_names_the_binary() {
    let setup = Setup::new(Some("multiprocessing_run"), None);
    let output = setup.run(&[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("FAILED: multiprocessing_run (round 1) exited with status 3"), "{stderr}");
    assert!(stderr.contains("2 of 3 files"), "{stderr}");
    assert!(setup.results().contains("## Failed runs"));
}

/// A resize binary that is a placeholder stops the script before any
/// download, unless --skip-resize says to leave the resize rows out.
#[test]
fn a_placeholder_resize_binary_is_refused_unless_skipped() {
    let setup = Setup::new(None, Some("resize_parallel"));
    let output = setup.run(&[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("resize_parallel is not written yet") && stderr.contains("--skip-resize"), "{stderr}");
    assert!(setup.calls().is_empty(), "downloads ran: {:?}", setup.calls());

    let output = setup.run(&["--skip-resize"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let results = setup.results();
    assert!(results.contains("`asyncio_run --runtime async-std`"), "{results}");
    assert!(!results.contains("| `resize_serial` |") && !results.contains("| `resize_parallel` |"), "{results}");
}

/// Flags that make no sense are usage errors (status 2) that say why.
#[test]
fn bad_flags_are_usage_errors() {
    let setup = Setup::new(None, None);
    let output = setup.run(&["--repeat", "zero"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--repeat must be a whole number"));
    let output = setup.run(&["--fast"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown argument '--fast'"));
}

/// `--readme FILE` writes the header and the matrix between the file's
/// markers, separator row included, and leaves the rest of it alone; a
/// file without the markers is a usage error that names them, with the
/// results still written.
#[test]
fn writes_the_matrix_into_the_readme() {
    let setup = Setup::new(None, None);
    let readme = setup.dir.path().join("README.md");
    let before = "# Guide\n\nThe matrix:\n\n<!-- results-matrix:start -->\nstale | table\n<!-- results-matrix:end -->\n\nMore.\n";
    std::fs::write(&readme, before).unwrap();
    let output = setup.run(&["--skip-pipeline", "--readme", readme.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = std::fs::read_to_string(&readme).unwrap();
    assert!(text.starts_with("# Guide\n\nThe matrix:\n\n<!-- results-matrix:start -->\n\n- **Machine:**"), "{text}");
    assert!(text.ends_with("|\n\n<!-- results-matrix:end -->\n\nMore.\n") && !text.contains("stale"), "{text}");
    let header = "| No. | Run type | Binary | Files |";
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().position(|line| line.starts_with(header)).unwrap();
    assert!(lines[at + 1].starts_with("|---|---|"), "{text}");
    assert!(lines[at + 2].starts_with("| 1 | Serial download") && text.contains("`resize_parallel`"), "{text}");
    assert!(setup.results().contains(&lines[at..at + 3].join("\n")), "the README's matrix is RESULTS.md's");

    std::fs::write(&readme, "# No markers\n").unwrap();
    let output = setup.run(&["--skip-pipeline", "--readme", readme.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("<!-- results-matrix:start -->"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&readme).unwrap(), "# No markers\n");
}
