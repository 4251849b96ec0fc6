//! `update --manifest`: several virtual drives in one run.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

fn mtk(d: &Path, a: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("mtkflash")
        .unwrap()
        .current_dir(d)
        .args(a)
        .assert()
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, chip, drive) in [
        ("a.mtksim", "SST39VF080", "BTC|DVDRW IDE1008|0055"),
        ("b.mtksim", "SST39VF080", "BTC|DVDRW IDE1008|0758"),
        ("c.mtksim", "MX25L8005", "LITE-ON|DVDRW SHW-160P6S|PS0A"),
        ("d.mtksim", "SST39VF080", "BTC|DVDRW IDE1008|0055"),
        ("e.mtksim", "MX25L8005", "BTC|DVDRW IDE1008|0100"),
        ("f.mtksim", "SST39VF080", "BTC|DVDRW IDE1008|0010"),
    ] {
        mtk(d, &["sim", "new", name, "--chip", chip, "--drive", drive]).success();
    }
    // Drive d has a byte that never programs: its update fails verification.
    mtk(
        d,
        &["sim", "fault", "d.mtksim", "program-fail@addr=0x51000"],
    )
    .success();
    std::fs::create_dir(d.join("fw")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/btc-ide1008-0758.hex"),
        d.join("fw/v0758.hex"),
    )
    .unwrap();
    std::fs::write(
        d.join("drives.json"),
        r#"{
  "drives": ["sim:a.mtksim", "sim:b.mtksim", "sim:c.mtksim", "sim:d.mtksim", "sim:e.mtksim", "sim:f.mtksim"],
  "rules": [ { "vendor": "btc", "product": "DVDRW IDE1008", "firmware": "fw/v0758.hex", "min_revision": "0050" } ]
}"#,
    )
    .unwrap();
    dir
}

fn revision(d: &Path, sim: &str) -> String {
    let o = Command::cargo_bin("mtkflash")
        .unwrap()
        .current_dir(d)
        .args(["sim", "show", sim])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&o.stdout).to_string();
    s.lines()
        .find(|l| l.starts_with("Firmware:"))
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn a_batch_updates_what_matches_and_reports_each_drive() {
    let dir = setup();
    let d = dir.path();
    mtk(d, &["update", "--manifest", "drives.json"])
        .code(5)
        .stdout(
            predicate::str::contains("sim:a.mtksim: updated")
                .and(predicate::str::contains(
                    "sim:b.mtksim: skipped (already at 0758)",
                ))
                .and(predicate::str::contains("sim:c.mtksim: no-rule"))
                .and(predicate::str::contains("sim:d.mtksim: failed"))
                .and(predicate::str::contains("sim:e.mtksim: updated"))
                .and(predicate::str::contains(
                    "sim:f.mtksim: skipped (revision 0010 is outside the rule's range)",
                ))
                .and(predicate::str::contains(
                    "6 drive(s): 2 updated, 2 skipped, 1 without a rule, 1 failed",
                )),
        )
        .stderr(
            predicate::str::contains("first failure on sim:d.mtksim")
                .and(predicate::str::contains("drive:")),
        );
    for (sim, rev) in [
        ("a.mtksim", "0758"),
        ("b.mtksim", "0758"),
        ("e.mtksim", "0758"),
        ("f.mtksim", "0010"),
    ] {
        assert_eq!(revision(d, sim), rev, "{sim}");
    }
    assert!(
        d.join("fw/v0758.backup.bin").exists() && d.join("fw/v0758.backup-2.bin").exists(),
        "one backup per updated drive"
    );
    // Fix d and run the same update again: only d is written.
    mtk(d, &["sim", "fault", "d.mtksim", "--clear"]).success();
    mtk(d, &["update", "--manifest", "drives.json"])
        .success()
        .stdout(
            predicate::str::contains("sim:d.mtksim: updated").and(predicate::str::contains(
                "sim:a.mtksim: skipped (already at 0758)",
            )),
        );
}

#[test]
fn stop_on_error_leaves_the_rest_alone() {
    let dir = setup();
    let d = dir.path();
    mtk(
        d,
        &["update", "--manifest", "drives.json", "--stop-on-error"],
    )
    .code(5)
    .stdout(predicate::str::contains("stopping at the first failure"));
    assert_eq!(revision(d, "a.mtksim"), "0758");
    assert_eq!(
        revision(d, "e.mtksim"),
        "0100",
        "after the failure nothing else is touched"
    );
}

#[test]
fn json_batch_report() {
    let dir = setup();
    let d = dir.path();
    let o = Command::cargo_bin("mtkflash")
        .unwrap()
        .current_dir(d)
        .args(["--json", "update", "--manifest", "drives.json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(5));
    let events: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let results: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["event"] == "drive-result")
        .map(|e| {
            (
                e["port"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(results.len(), 6);
    assert_eq!(
        results[3],
        ("sim:d.mtksim".to_string(), "failed".to_string())
    );
    assert_eq!(events.last().unwrap()["event"], "error");
}

#[test]
fn a_bad_manifest_touches_nothing() {
    let dir = setup();
    let d = dir.path();
    std::fs::write(
        d.join("bad.json"),
        r#"{ "rules": [ { "vendor": "BTC", "product": "X", "firmware": "missing.hex" } ] }"#,
    )
    .unwrap();
    mtk(d, &["update", "--manifest", "bad.json"])
        .code(3)
        .stderr(
            predicate::str::contains("missing.hex")
                .and(predicate::str::contains("drive: not touched")),
        );
    std::fs::write(d.join("typo.json"), r#"{ "rulez": [] }"#).unwrap();
    mtk(d, &["update", "--manifest", "typo.json"])
        .code(3)
        .stderr(predicate::str::contains("not a valid manifest"));
    assert_eq!(revision(d, "a.mtksim"), "0055");
}
