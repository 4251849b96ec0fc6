//! Traces: recorded from virtual drives, replayed against the same starting state with
//! no divergence; a deliberately altered trace is caught at the altered line; the
//! firmware payload never appears in a trace.

use assert_cmd::Command;
use mtkflash::firmware::synth::{self, Spec};
use predicates::prelude::*;
use std::path::Path;

fn mtk(d: &Path, a: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("mtkflash")
        .unwrap()
        .current_dir(d)
        .args(a)
        .assert()
}

/// A drive d0 (kept as the starting state), a copy d1 written with --trace, the image.
fn record(chip: &str, trace: &str) -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let size = mtkflash::chips::by_name(chip).unwrap().size as usize;
    let spec = |r: &str| Spec {
        vendor: "ACME".into(),
        product: "DVDRW TEST".into(),
        revision: r.into(),
        size,
    };
    std::fs::write(d.join("old.bin"), synth::generate(&spec("0001"))).unwrap();
    let new = synth::generate(&spec("0002"));
    std::fs::write(d.join("new.bin"), &new).unwrap();
    mtk(
        d,
        &[
            "sim",
            "new",
            "d0.mtksim",
            "--chip",
            chip,
            "--firmware",
            "old.bin",
        ],
    )
    .success();
    std::fs::copy(d.join("d0.mtksim"), d.join("d1.mtksim")).unwrap();
    mtk(
        d,
        &[
            "--trace",
            trace,
            "sim:d1.mtksim",
            "w",
            "/m",
            "new.bin",
            "--no-backup",
        ],
    )
    .success();
    (dir, new)
}

fn text(d: &Path, trace: &str) -> String {
    mtkflash::transport::trace::read(&d.join(trace)).unwrap()
}

/// The payload stays out: LBA-low values in the clear are protocol bytes (or, on SPI
/// drives, the few address bytes of each transaction), and the image's identity bytes
/// never appear as a run among the values written or read in the clear.
fn assert_no_payload(t: &str, image: &[u8]) {
    let protocol = [
        0xAAu32, 0x55, 0xA0, 0x80, 0x30, 0x50, 0x10, 0x90, 0xF0, 0x2A, 0x06, 0x05, 0x04, 0x9F,
        0x02, 0x03, 0xAD, 0x20, 0xD8, 0x01, 0x00,
    ];
    let (mut redacted, mut other) = (0usize, 0usize);
    let (mut written, mut read) = (Vec::new(), Vec::new());
    for l in t.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = l.split_whitespace().collect();
        let n = f
            .iter()
            .find_map(|x| x.strip_prefix('x'))
            .and_then(|n| n.parse().ok())
            .unwrap_or(1usize);
        match (f[1], f[2]) {
            ("W3", "*") => redacted += n,
            ("W3", v) => {
                let v = u32::from_str_radix(v, 16).unwrap();
                if !protocol.contains(&v) {
                    other += n;
                }
                written.extend(std::iter::repeat_n(v as u8, n));
            }
            ("R3", v) if v != "*" => {
                read.extend(std::iter::repeat_n(u8::from_str_radix(v, 16).unwrap(), n))
            }
            _ => {}
        }
    }
    assert!(redacted > 1000, "payload writes are redacted ({redacted})");
    assert!(
        other * 20 < redacted,
        "{other} non-protocol bytes in the clear against {redacted} redacted"
    );
    let id = &image[0x40BC..0x40C8]; // "ACME    DVDR"
    for (name, seq) in [("written", &written), ("read", &read)] {
        assert!(
            !seq.windows(id.len()).any(|w| w == id),
            "the image's identity appears in the clear ({name})"
        );
    }
}

#[test]
fn parallel_write_replays_without_divergence() {
    let (dir, new) = record("SST39SF010A", "t.trace");
    let d = dir.path();
    let t = text(d, "t.trace");
    assert!(t.starts_with("# mtkflash trace 1\n# target port 0x170 master\n# base 170 376\n"));
    assert_no_payload(&t, &new);
    mtk(
        d,
        &[
            "sim",
            "replay",
            "t.trace",
            "--drive",
            "d0.mtksim",
            "--firmware",
            "new.bin",
        ],
    )
    .success()
    .stdout(predicate::str::contains("the model answered as recorded"));
}

#[test]
fn spi_write_replays_and_keeps_page_data_out() {
    let (dir, new) = record("MX25L2005", "t.trace.gz");
    let d = dir.path();
    let t = text(d, "t.trace.gz");
    assert!(
        t.lines().filter(|l| l.contains(" * @")).count() > 1000,
        "staged page data is redacted with its flash address"
    );
    assert_no_payload(&t, &new);
    mtk(
        d,
        &[
            "sim",
            "replay",
            "t.trace.gz",
            "--drive",
            "d0.mtksim",
            "--firmware",
            "new.bin",
        ],
    )
    .success();
}

#[test]
fn sst_aai_continuation_words_are_payload_too() {
    let (dir, new) = record("SST25VF040B", "t.trace");
    let d = dir.path();
    let t = text(d, "t.trace");
    assert_no_payload(&t, &new);
    mtk(
        d,
        &[
            "sim",
            "replay",
            "t.trace",
            "--drive",
            "d0.mtksim",
            "--firmware",
            "new.bin",
        ],
    )
    .success();
}

#[test]
fn an_altered_trace_is_caught_at_the_altered_line() {
    let (dir, _) = record("SST39SF010A", "t.trace");
    let d = dir.path();
    let t = text(d, "t.trace");
    // The vendor intro's answer: the first status read of 70.
    let lines: Vec<&str> = t.lines().collect();
    let n = lines.iter().position(|l| l.ends_with("R7 70")).unwrap();
    let mut altered: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    altered[n] = altered[n].replace("R7 70", "R7 72");
    std::fs::write(d.join("bad.trace"), altered.join("\n")).unwrap();
    mtk(
        d,
        &[
            "sim",
            "replay",
            "bad.trace",
            "--drive",
            "d0.mtksim",
            "--firmware",
            "new.bin",
        ],
    )
    .code(5)
    .stderr(
        predicate::str::contains(format!("line {}", n + 1)).and(predicate::str::contains(
            "recorded 0x72, the model answered 0x70",
        )),
    );
}

#[test]
fn a_replay_without_the_image_diverges_where_the_payload_matters() {
    let (dir, _) = record("SST39SF010A", "t.trace");
    let d = dir.path();
    // Without --firmware the programmed bytes are FF: the drive reboots into boot code
    // only, and its answers after the outro differ from the recording.
    mtk(d, &["sim", "replay", "t.trace", "--drive", "d0.mtksim"])
        .code(5)
        .stderr(predicate::str::contains("the model differs"));
}

/// `sim replay TRACE` against the starting state d0 with the image, and `extra`.
fn replay(d: &Path, trace: &str, extra: &[&str]) -> assert_cmd::assert::Assert {
    let mut a = vec![
        "sim",
        "replay",
        trace,
        "--drive",
        "d0.mtksim",
        "--firmware",
        "new.bin",
    ];
    a.extend(extra);
    mtk(d, &a)
}

/// Bytes of a trace file as written.
fn raw(d: &Path, trace: &str) -> Vec<u8> {
    std::fs::read(d.join(trace)).unwrap()
}

#[test]
fn a_trace_is_version_2_and_its_version_1_rendering_replays_as_well() {
    let (dir, _) = record("MX25L2005", "t.trace");
    let d = dir.path();
    assert!(raw(d, "t.trace").starts_with(
        b"# mtkflash trace 2\n# target port 0x170 master\n# base 170 376\n# binary\n"
    ));
    // `trace show` prints version 1; that text is a version 1 trace, and replays.
    let out = Command::cargo_bin("mtkflash")
        .unwrap()
        .current_dir(d)
        .args(["trace", "show", "t.trace"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v1 = String::from_utf8(out.stdout).unwrap();
    assert!(v1.starts_with("# mtkflash trace 1\n"), "{}", &v1[..200]);
    assert_eq!(v1, text(d, "t.trace"));
    std::fs::write(d.join("v1.trace"), &v1).unwrap();
    for t in ["t.trace", "v1.trace"] {
        replay(d, t, &[])
            .success()
            .stdout(predicate::str::contains("the model answered as recorded"));
    }
}

#[test]
fn an_altered_record_is_caught_at_its_access() {
    use mtkflash::transport::compact::{Access, Decoder, Encoder};
    let (dir, _) = record("SST39SF010A", "t.trace");
    let d = dir.path();
    let bytes = raw(d, "t.trace");
    let p = mtkflash::transport::trace::parse(&bytes).unwrap();
    // The same accesses, one status read of 70 (the intro's answer) recorded as 72.
    let mut enc = Encoder::default();
    let mut altered_at = None;
    for a in Decoder::new(p.body) {
        let a = a.unwrap();
        let mut acc = a.access;
        if let Access::Read {
            value: Some(0x70), ..
        } = acc
        {
            if altered_at.is_none() {
                altered_at = Some(a.index);
                if let Access::Read { value, .. } = &mut acc {
                    *value = Some(0x72);
                }
            }
        }
        enc.push(&acc);
    }
    enc.flush();
    let mut file = b"# mtkflash trace 2\n".to_vec();
    for h in &p.header[1..] {
        file.extend_from_slice(h.as_bytes());
        file.push(b'\n');
    }
    file.extend_from_slice(b"# binary\n");
    file.extend_from_slice(&enc.take());
    std::fs::write(d.join("bad.trace"), file).unwrap();
    let n = altered_at.expect("a status read of 70");
    replay(d, "bad.trace", &["--explain"])
        .code(5)
        .stderr(
            predicate::str::contains(format!("access {n} ")).and(predicate::str::contains(
                "recorded 0x72, the model answered 0x70",
            )),
        )
        .stdout(
            predicate::str::contains(
                "a read of the status register: recorded 72 (DRDY DF DSC IDX)",
            )
            .and(predicate::str::contains("<- here")),
        );
}

/// Sizes of traces of a 1 MiB flash: `info` (one read of the flash) at most 1 MB, a
/// whole write at most 5 MB (issue 17's limits).
#[test]
fn traces_of_a_1_mib_flash_are_small() {
    for chip in ["SST39VF080", "MX25L8005"] {
        let (dir, _) = record(chip, "w.trace");
        let d = dir.path();
        mtk(d, &["--trace", "i.trace", "info", "sim:d0.mtksim"]).success();
        let (info, write) = (raw(d, "i.trace").len(), raw(d, "w.trace").len());
        println!("{chip}: info trace {info} bytes, write trace {write} bytes");
        assert!(info <= 1_000_000, "{chip}: info trace {info} bytes");
        assert!(write <= 5_000_000, "{chip}: write trace {write} bytes");
        // Both replay.
        mtk(d, &["sim", "replay", "i.trace", "--drive", "d0.mtksim"]).success();
    }
}
