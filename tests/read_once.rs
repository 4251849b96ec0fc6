//! A write reads the flash once, plans from that read, and reads a second time only
//! the blocks it will destroy, before the backup is saved (docs/faults.md, "What one
//! read leaves out").

use assert_cmd::Command;
use std::path::{Path, PathBuf};

fn mtk(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("mtkflash").unwrap();
    c.current_dir(dir);
    c
}

fn fixture(n: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(n)
}

fn flash_of(p: &Path) -> Vec<u8> {
    mtkflash::sim::store::Stored::load(p).unwrap().flash
}

/// The modelled device time of a `--json` command (its last line).
fn modelled(dir: &Path, args: &[&str]) -> f64 {
    let out = mtk(dir).arg("--json").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    last["modelled_s"]
        .as_f64()
        .unwrap_or_else(|| panic!("{last}"))
}

/// A virtual drive `d.mtksim` in `dir` with `chip` and the default firmware.
fn new_sim(dir: &Path, chip: &str) {
    mtk(dir)
        .args(["sim", "new", "d.mtksim", "--chip", chip])
        .assert()
        .success();
}

#[test]
fn an_identical_image_costs_one_read_and_a_read_costs_two() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    new_sim(d, "SST39VF080");
    let fw = fixture("btc-ide1008-0758.bin");
    let fw = fw.to_str().unwrap();
    mtk(d)
        .args(["write", "sim:d.mtksim", fw, "--no-backup"])
        .assert()
        .success();
    // `read` makes a backup: every block twice. A write of what the flash holds reads
    // it once, whether or not it makes a backup (nothing is destroyed).
    let read = modelled(d, &["read", "sim:d.mtksim", "r.bin"]);
    let same = modelled(d, &["write", "sim:d.mtksim", fw, "--backup", "b.bin"]);
    assert!(
        same < 0.56 * read,
        "identical write {same} s, read {read} s"
    );
    assert!(same > 0.45 * read, "{same} vs {read}");
}

#[test]
fn only_what_is_destroyed_is_read_again_and_only_with_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    new_sim(d, "SST39VF080");
    let old = flash_of(&d.join("d.mtksim"));
    // One 4 KiB sector changed (the embedded checksum sits elsewhere and changes too).
    let mut img = std::fs::read(fixture("btc-ide1008-0758.bin")).unwrap();
    mtk(d)
        .args([
            "write",
            "sim:d.mtksim",
            fixture("btc-ide1008-0758.bin").to_str().unwrap(),
            "--no-backup",
        ])
        .assert()
        .success();
    for b in &mut img[0x51000..0x52000] {
        *b ^= 0x5A;
    }
    mtkflash::inference::seal_embedded_checksum(&mut img);
    std::fs::write(d.join("one.bin"), &img).unwrap();
    let out = mtk(d)
        .args([
            "write",
            "sim:d.mtksim",
            "one.bin",
            "--backup",
            "b.bin",
            "--force",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("Confirming"))
        .unwrap_or_else(|| panic!("no confirmation read: {text}"));
    // The kept boot code (16 KiB), the changed sector, the checksum's sector and the
    // sentinels' bank starts: a few blocks, not the flash.
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((20..=48).contains(&kib), "{line}");
    assert_eq!(flash_of(&d.join("d.mtksim")), img);
    assert_ne!(old, img);
    // Without a backup only the boot code the image keeps from the drive is read twice.
    std::fs::write(
        d.join("back.bin"),
        std::fs::read(fixture("btc-ide1008-0758.bin")).unwrap(),
    )
    .unwrap();
    let out = mtk(d)
        .args(["write", "sim:d.mtksim", "back.bin", "--no-backup"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("Confirming 16 KiB by a second read"),
        "{text}"
    );
}

/// Bits flipped in the first read never reach the backup: a flipped block either
/// equals the image (then it is not touched and keeps its bytes) or it joins the plan
/// and is confirmed by a second read before the backup is saved.
#[test]
fn flips_in_the_first_read_never_reach_the_backup() {
    for (chip, seed) in [
        ("SST39VF080", 1u32),
        ("SST39VF080", 2),
        ("MX25L8005", 3),
        ("Am29LV800BT", 4),
        ("W25P80", 5),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        new_sim(d, chip);
        let old = flash_of(&d.join("d.mtksim"));
        let spec = format!("read-flip@rate=0.0002,seed={seed}");
        mtk(d)
            .args(["sim", "fault", "d.mtksim", &spec])
            .assert()
            .success();
        let fw = fixture("btc-ide1008-0758.bin");
        let out = mtk(d)
            .args([
                "write",
                "sim:d.mtksim",
                fw.to_str().unwrap(),
                "--backup",
                "b.bin",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let backup = std::fs::read(d.join("b.bin")).unwrap();
        let bad = backup.iter().zip(&old).filter(|(a, b)| a != b).count();
        assert_eq!(
            bad, 0,
            "{chip} seed {seed}: {bad} byte(s) of the backup differ from the flash it replaced"
        );
        assert_eq!(flash_of(&d.join("d.mtksim")), std::fs::read(&fw).unwrap());
    }
}
