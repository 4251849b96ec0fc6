//! The diagnostic log every run that talks to a drive leaves: where it goes, what it
//! holds, that its trace replays up to a failure, that `--no-log` leaves none, that a
//! log that cannot be written never stops the command, and `report`'s bundle.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

fn mtk(d: &Path, state: &Path, a: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("mtkflash")
        .unwrap()
        .current_dir(d)
        .env("XDG_STATE_HOME", state)
        .args(a)
        .assert()
}

/// `sim replay FILE` (a log or a bundle) against the starting state d0 with the image.
fn replay(d: &Path, state: &Path, file: &Path) -> assert_cmd::assert::Assert {
    mtk(
        d,
        state,
        &[
            "--no-log",
            "sim",
            "replay",
            &file.to_string_lossy(),
            "--drive",
            "d0.mtksim",
            "--firmware",
            "fw.bin",
        ],
    )
}

fn logs(state: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(state.join("mtkflash/logs"))
        .map(|r| r.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// A drive d0 with `fault` (kept as the starting state), its copy d1, the fixture image.
fn setup(fault: Option<&str>) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let state = d.join("state");
    mtk(
        &d,
        &state,
        &["sim", "new", "d0.mtksim", "--chip", "SST39VF080"],
    )
    .success();
    if let Some(f) = fault {
        mtk(&d, &state, &["sim", "fault", "d0.mtksim", f]).success();
    }
    std::fs::copy(d.join("d0.mtksim"), d.join("d1.mtksim")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/btc-ide1008-0758.bin"),
        d.join("fw.bin"),
    )
    .unwrap();
    (dir, d, state)
}

#[test]
fn a_failed_write_leaves_a_log_whose_trace_replays_up_to_the_failure() {
    for fault in [
        "program-fail@addr=0x50000",
        "erase-fail@sector=80",
        "power-loss@op=9000000",
    ] {
        let (_dir, d, state) = setup(Some(fault));
        let out = Command::cargo_bin("mtkflash")
            .unwrap()
            .current_dir(&d)
            .env("XDG_STATE_HOME", &state)
            .args(["sim:d1.mtksim", "w", "/m", "fw.bin", "--no-backup"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{fault}");
        let err = String::from_utf8_lossy(&out.stderr);
        let logs = logs(&state);
        assert_eq!(logs.len(), 1, "{fault}: {logs:?}");
        let log = &logs[0];
        // The last line of a failed run names the file to send.
        let last = err.lines().last().unwrap();
        assert!(
            last.starts_with("log:") && last.contains(&*log.to_string_lossy()),
            "{fault}: {err}"
        );
        let text = String::from_utf8_lossy(&std::fs::read(log).unwrap()).to_string();
        for want in [
            "# mtkflash log 1",
            "command: ",
            "sim:d1.mtksim w /m fw.bin --no-backup",
            "version: ",
            "system: ",
            "\"event\":\"chip\"",
            "\"event\":\"error\"",
            &format!("exit: {}", out.status.code().unwrap()),
            "# mtkflash trace 2",
        ] {
            assert!(text.contains(want), "{fault}: no {want:?} in the log");
        }
        // The trace in the log replays against a fresh drive with the same fault.
        replay(&d, &state, log).success().stdout(
            predicate::str::contains("the model answered as recorded").and(
                // Not an empty trace: the read of the whole 1 MiB flash at least.
                predicate::function(|s: &str| {
                    s.split("replay: ")
                        .nth(1)
                        .and_then(|r| r.split(' ').next())
                        .and_then(|n| n.parse::<u64>().ok())
                        .is_some_and(|n| n > 5_000_000)
                }),
            ),
        );
    }
}

#[test]
fn no_log_leaves_none_and_a_good_run_names_none() {
    let (_dir, d, state) = setup(None);
    mtk(&d, &state, &["--no-log", "info", "sim:d1.mtksim"]).success();
    assert!(logs(&state).is_empty());
    mtk(&d, &state, &["info", "sim:d1.mtksim"])
        .success()
        .stderr(predicate::str::contains("log:").not());
    assert_eq!(logs(&state).len(), 1);
    // Commands that reach no drive leave none.
    mtk(&d, &state, &["chips"]).success();
    assert_eq!(logs(&state).len(), 1);
}

#[test]
fn scan_and_update_leave_a_log_too() {
    let (_dir, d, state) = setup(None);
    // (`scan` finds no drive without root; its log says what it saw all the same.)
    mtk(&d, &state, &["scan"]);
    let l = logs(&state);
    assert_eq!(l.len(), 1, "{l:?}");
    let text = std::fs::read_to_string(&l[0]).unwrap();
    assert!(
        text.contains("command: ") && text.contains(" scan"),
        "{text}"
    );
    assert!(text.contains("exit: "), "{text}");
    std::fs::write(
        d.join("m.json"),
        r#"{"drives": ["sim:d1.mtksim"],
            "rules": [{"vendor": "BTC", "product": "DVDRW IDE1008", "firmware": "fw.bin"}]}"#,
    )
    .unwrap();
    mtk(&d, &state, &["update", "--manifest", "m.json"]).success();
    let l = logs(&state);
    assert_eq!(l.len(), 2, "{l:?}");
    let text = String::from_utf8_lossy(&std::fs::read(&l[1]).unwrap()).into_owned();
    assert!(text.contains("sim:d1.mtksim: "), "{text}");
    assert!(text.contains("exit: 0"), "{text}");
    // The drive's write session is in it (not the identity question before it), as a
    // trace that replays.
    let out = replay(&d, &state, &l[1])
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8_lossy(&out);
    let writes: u64 = out
        .split(", ")
        .find_map(|p| p.split_once(" payload writes").map(|(n, _)| n))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(writes > 100_000, "{out}");
}

#[test]
fn a_log_that_cannot_be_written_never_stops_the_command() {
    let (_dir, d, _) = setup(None);
    // The state "directory" is a file: no log folder can be made there.
    std::fs::write(d.join("blocker"), b"").unwrap();
    mtk(
        &d,
        &d.join("blocker"),
        &["sim:d1.mtksim", "w", "/m", "fw.bin", "--no-backup"],
    )
    .success()
    .stderr(predicate::str::contains("no diagnostic log"));
}

#[test]
fn report_bundles_the_newest_log_with_scan_and_the_chip_table() {
    let (_dir, d, state) = setup(Some("program-fail@addr=0x50000"));
    mtk(
        &d,
        &state,
        &["sim:d1.mtksim", "w", "/m", "fw.bin", "--no-backup"],
    )
    .failure();
    let out = Command::cargo_bin("mtkflash")
        .unwrap()
        .current_dir(&d)
        .env("XDG_STATE_HOME", &state)
        .args(["report"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bundle: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("mtkflash-report-"))
        .collect();
    assert_eq!(bundle.len(), 1);
    let text = String::from_utf8_lossy(&std::fs::read(&bundle[0]).unwrap()).to_string();
    for want in [
        "# mtkflash report 1",
        "chips: ",
        "## scan",
        "## log ",
        "# mtkflash log 1",
    ] {
        assert!(text.contains(want), "no {want:?} in the bundle");
    }
    assert!(String::from_utf8_lossy(&out.stdout).contains("no firmware"));
    // The bundle replays as the log does.
    replay(&d, &state, &bundle[0]).success();
    // No log yet: said, not a crash.
    let empty = d.join("empty-state");
    mtk(&d, &empty, &["report"])
        .failure()
        .stderr(predicate::str::contains("no diagnostic log"));
}

#[test]
fn a_file_named_by_trace_that_was_there_is_never_taken_into_the_log() {
    let (_dir, d, state) = setup(None);
    std::fs::write(d.join("secret.bin"), b"SECRET-BYTES-NOT-FOR-THE-LOG").unwrap();
    mtk(
        &d,
        &state,
        &["--trace", "secret.bin", "info", "sim:d1.mtksim"],
    )
    .code(3);
    for l in logs(&state) {
        let t = std::fs::read(&l).unwrap();
        assert!(
            !t.windows(12).any(|w| w == b"SECRET-BYTES"),
            "{} holds the file",
            l.display()
        );
    }
    // A gzip trace this run wrote is taken in decompressed, and the log replays.
    mtk(
        &d,
        &state,
        &["--trace", "t.trace.gz", "info", "sim:d1.mtksim"],
    )
    .success();
    let newest = logs(&state).pop().unwrap();
    mtk(
        &d,
        &state,
        &[
            "--no-log",
            "sim",
            "replay",
            &newest.to_string_lossy(),
            "--drive",
            "d0.mtksim",
        ],
    )
    .success();
}
