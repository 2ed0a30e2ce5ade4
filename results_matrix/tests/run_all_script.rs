//! `scripts/run_all.sh` itself, run for real with `--bin-dir` pointing at
//! tiny stand-in binaries (bash scripts that honour the download and resize
//! contracts: they write files and print a `--json` report) and the real
//! `results_matrix`. This checks the script's control flow (interleaving,
//! flags passed, failures named, placeholders refused) in well under a
//! second; the real binaries are measured by running the script itself.

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

/// What main's placeholders do.
const PLACEHOLDER: &str = "#!/usr/bin/env bash\necho \"error: $(basename \"$0\") is not written yet\" >&2\nexit 2\n";

struct Setup {
    dir: tempfile::TempDir,
    log: PathBuf,
}

impl Setup {
    /// A bin dir of stand-ins; `short` names a download binary that comes up
    /// one file short, `placeholder` a resize binary that is not written.
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
        write("origin", "#!/usr/bin/env bash\necho 'the tests use --source urls' >&2\nexit 1\n");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_results_matrix"), bin.join("results_matrix")).unwrap();
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
}

/// Every binary runs once a round, the order rotated each round, with the
/// contract's flags; the matrix gets a row for each, async-std included.
#[test]
fn runs_every_binary_interleaved_and_writes_the_results() {
    let setup = Setup::new(None, None);
    let output = setup.run(&[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let calls = setup.calls();
    let binaries: Vec<&str> = calls.iter().map(|c| c.split(' ').next().unwrap_or("")).collect();
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
            "multithreading_run",
            "multiprocessing_run",
            "asyncio_run",
            "asyncio_run",
            "normal_run",
            "resize_parallel",
            "resize_serial",
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

    let results = setup.results();
    for binary in ["`normal_run`", "`asyncio_run --runtime async-std`", "`resize_serial`", "`resize_parallel`"] {
        assert!(results.contains(binary), "no row for {binary}:\n{results}");
    }
    assert_eq!(results.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| No.")).count(), 7, "{results}");
    assert!(setup.dir.path().join("results/timings.png").is_file());
    assert!(setup.dir.path().join("results/results.json").is_file());
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
