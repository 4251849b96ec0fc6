//! `--json`: every line of every command's output is one object valid against
//! docs/events.schema.json; the first is `start`, the last `result` or `error` with the
//! process's exit code; nothing else goes to stdout.

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/events.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn run(dir: &Path, args: &[&str]) -> (i32, Vec<Value>) {
    let o = Command::cargo_bin("mtkflash")
        .unwrap()
        .current_dir(dir)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8(o.stdout).unwrap();
    let v = validator();
    let events: Vec<Value> = text
        .lines()
        .map(|l| {
            let e: Value =
                serde_json::from_str(l).unwrap_or_else(|err| panic!("not JSON ({err}): {l}"));
            if let Err(errs) = v.validate(&e) {
                panic!("{args:?}: {l}\ndoes not match the schema: {errs}");
            }
            e
        })
        .collect();
    (o.status.code().unwrap(), events)
}

fn fixture(n: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(n)
        .display()
        .to_string()
}

#[test]
fn every_command_speaks_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(Command::cargo_bin("mtkflash")
        .unwrap()
        .current_dir(d)
        .args(["sim", "new", "d.mtksim", "--chip", "SST39VF080"])
        .output()
        .unwrap()
        .status
        .success());
    let fw = fixture("btc-ide1008-0758.hex");
    let old = fixture("btc-ide1008-0055.bin");
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["info", "sim:d.mtksim"], 0),
        (vec!["read", "sim:d.mtksim", "r.bin"], 0),
        (vec!["write", "sim:d.mtksim", &fw, "--no-backup"], 0),
        (vec!["sim:d.mtksim", "w", "/m", &fw, "--no-backup"], 0),
        (vec!["verify", "sim:d.mtksim", &fw], 0),
        (vec!["check", &fw], 0),
        (vec!["scan"], 0),
        (vec!["write", "sim:d.mtksim", "missing.bin"], 3),
        (vec!["verify", "sim:d.mtksim", &old], 5),
        (vec!["9", "w", "x.bin"], 2),
        (vec!["write", "sim:d.mtksim"], 2),
    ];
    for (args, code) in cases {
        let (exit, ev) = run(d, &args);
        assert_eq!(exit, code, "{args:?}");
        assert_eq!(
            ev.last().unwrap()["exit"],
            code,
            "{args:?}: last event carries the exit code"
        );
        let last = ev.last().unwrap()["event"].as_str().unwrap().to_string();
        assert_eq!(last, if code == 0 { "result" } else { "error" }, "{args:?}");
        if code != 0 {
            let want = match code {
                2 => "usage",
                3 => "bad-image",
                5 => "differs",
                _ => unreachable!(),
            };
            let code_of = |e: &Value| e["code"].as_str().map(str::to_string);
            let got = code_of(ev.last().unwrap());
            // A missing file is a file problem, not a bad image.
            let want = if args.contains(&"missing.bin") {
                "file"
            } else {
                want
            };
            assert_eq!(got.as_deref(), Some(want), "{args:?}: the error's kind");
        }
        if ev.len() > 1 {
            assert_eq!(ev[0]["event"], "start", "{args:?}");
        }
    }
}

#[test]
fn a_write_reports_identity_chip_progress_and_result() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(Command::cargo_bin("mtkflash")
        .unwrap()
        .current_dir(d)
        .args(["sim", "new", "d.mtksim", "--chip", "MX25L8005"])
        .output()
        .unwrap()
        .status
        .success());
    let (exit, ev) = run(
        d,
        &[
            "write",
            "sim:d.mtksim",
            &fixture("btc-ide1008-0758.bin"),
            "--no-backup",
        ],
    );
    assert_eq!(exit, 0);
    let kinds: Vec<&str> = ev.iter().map(|e| e["event"].as_str().unwrap()).collect();
    for k in ["start", "identity", "chip", "progress", "result"] {
        assert!(kinds.contains(&k), "{k} missing: {kinds:?}");
    }
    let chip = ev.iter().find(|e| e["event"] == "chip").unwrap();
    assert_eq!(
        (chip["name"].as_str(), chip["bus"].as_str()),
        (Some("MX25L8005"), Some("spi"))
    );
    let r = ev.last().unwrap();
    assert_eq!(r["checksum"], "DCC9");
    assert_eq!(r["identity_after"], "BTC DVDRW IDE1008 0758");
    let stages: std::collections::BTreeSet<&str> = ev
        .iter()
        .filter(|e| e["event"] == "progress")
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    assert!(
        stages.contains("reading") && stages.contains("writing") && stages.contains("verifying"),
        "{stages:?}"
    );
    // Each stage closes with a phase event: what it did and how long it took.
    let phases: Vec<&Value> = ev.iter().filter(|e| e["event"] == "phase").collect();
    let names: std::collections::BTreeSet<&str> = phases
        .iter()
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    assert_eq!(names, stages, "one phase per stage");
    let reading = phases.iter().find(|e| e["stage"] == "reading").unwrap();
    assert_eq!(reading["done"], 0x100000);
    assert_eq!(reading["total"], 0x100000);
    assert!(reading["seconds"].as_f64().unwrap() > 0.0);
    // The classic bank lines still come out as messages.
    assert!(ev
        .iter()
        .any(|e| e["event"] == "message" && e["text"] == "Bank15"));
}

#[test]
fn a_dry_run_emits_the_plan_in_order_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(Command::cargo_bin("mtkflash")
        .unwrap()
        .current_dir(d)
        .args(["sim", "new", "d.mtksim", "--chip", "SST39VF080"])
        .output()
        .unwrap()
        .status
        .success());
    let before = std::fs::read(d.join("d.mtksim")).unwrap();
    let fw = fixture("btc-ide1008-0758.bin");
    let (exit, ev) = run(d, &["sim:d.mtksim", "w", "/m", &fw, "--dry-run"]);
    assert_eq!(exit, 0);
    let steps: Vec<&Value> = ev.iter().filter(|e| e["event"] == "plan-step").collect();
    assert!(steps.len() > 16, "{} steps", steps.len());
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s["index"], i);
    }
    // Banks from the top down (the sentinels' banks, and the commit, at the end).
    let commits: Vec<&&Value> = steps.iter().filter(|s| s["commit"] == true).collect();
    assert!(!commits.is_empty());
    assert!(steps
        .iter()
        .rev()
        .take(commits.len())
        .all(|s| s["commit"] == true));
    let r = ev.last().unwrap();
    assert_eq!(
        (r["dry_run"].as_bool(), r["method"].as_str()),
        (Some(true), Some("vendor"))
    );
    // Nothing written: the drive file's flash is the same (its state line may differ).
    let after = std::fs::read(d.join("d.mtksim")).unwrap();
    assert_eq!(
        after[after.len() - 0x100000..],
        before[before.len() - 0x100000..]
    );
    // The ATAPI method lists its commands and sends none after INQUIRY.
    let (exit, ev) = run(
        d,
        &[
            "write",
            "sim:d.mtksim",
            &fw,
            "--method",
            "atapi",
            "--dry-run",
        ],
    );
    assert_eq!(exit, 0);
    let cmds: Vec<&Value> = ev.iter().filter(|e| e["event"] == "plan-step").collect();
    assert_eq!(cmds.len(), 256 + 3);
    assert!(cmds[0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("WRITE BUFFER 3B0600000020"));
    let after2 = std::fs::read(d.join("d.mtksim")).unwrap();
    assert_eq!(
        after2[after2.len() - 0x100000..],
        before[before.len() - 0x100000..]
    );
}
