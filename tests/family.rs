//! The later MediaTek drives (MT1959/MT1939 Blu-ray writers, MT1339 drives) on virtual
//! drives of both families: the command stream checked against protocol.md section 7,
//! the unit's own data kept through a write, model checks that send nothing, the unit
//! backup restored, and every command from the command line.

use assert_cmd::Command;
use mtkflash::files::Backup;
use mtkflash::firmware::family::{self as fam, Family};
use mtkflash::firmware::synth::{family_image, Spec};
use mtkflash::firmware::Image;
use mtkflash::ops::family;
use mtkflash::ops::{Recorder, WriteOptions};
use mtkflash::sim::packet::SimPacket;
use mtkflash::sim::store::Stored;
use mtkflash::sim::Settings;
use mtkflash::transport::scsi::{Dir, ScsiResult, ScsiTransport, TransportError};
use std::path::Path;
use std::time::Duration;

fn settings(product: &str, rev: &str) -> Settings {
    Settings {
        vendor: "HL-DT-ST".into(),
        product: product.into(),
        revision: rev.into(),
    }
}

fn spec(product: &str, rev: &str, size: usize) -> Spec {
    Spec {
        vendor: "HL-DT-ST".into(),
        product: product.into(),
        revision: rev.into(),
        size,
    }
}

/// Every command sent to the drive, with the data it carried out.
struct Recording {
    inner: SimPacket,
    sent: Vec<(Vec<u8>, usize)>,
    /// Ask to stop (as Ctrl-C does) when this many upload chunks have been sent.
    interrupt_after: Option<usize>,
}

impl ScsiTransport for Recording {
    fn execute(
        &mut self,
        cdb: &[u8],
        dir: Dir<'_>,
        timeout: Duration,
    ) -> Result<ScsiResult, TransportError> {
        let out = if let Dir::Out(d) = dir { d.len() } else { 0 };
        self.sent.push((cdb.to_vec(), out));
        let chunks = self.sent.iter().filter(|c| c.0[..2] == [0x3B, 6]).count();
        if self.interrupt_after == Some(chunks) {
            mtkflash::interrupt::request();
        }
        self.inner.execute(cdb, dir, timeout)
    }
    fn describe(&self) -> String {
        "recording".into()
    }
    fn sleep(&mut self, d: Duration) {
        self.inner.sleep(d)
    }
}

fn drive(family: Family, product: &str, unit: u64) -> SimPacket {
    let mut s = settings(product, "1.00");
    if family == Family::Mt1339 {
        s.vendor = "TSSTcorp".into();
    }
    let st = Stored::create_family(family, s, unit).unwrap();
    SimPacket::new(st.into_channel().drive)
}

/// An MT1959 write as the command line runs it, its lines kept.
fn write959(
    t: &mut dyn ScsiTransport,
    image: &Image,
    o: &WriteOptions,
) -> Result<mtkflash::ops::Report, mtkflash::error::Failure> {
    family::write(t, Family::Mt1959, image, o, &mut Recorder::default())
}

fn opts() -> WriteOptions {
    WriteOptions {
        backup: Backup::Skip,
        ..WriteOptions::default()
    }
}

/// A full MT1959 write, CDB by CDB, against protocol.md section 7 (RD's sequence):
/// INQUIRY, GET CONFIGURATION 0x0108 and 0x010C, READ BUFFER mode 6 of the boot config
/// (0x3000, 0x20) and the identity page (0x1EC000, 0x100), the calibration read twice,
/// then WRITE BUFFER mode 1 with no data, 128 WRITE BUFFER mode 6 of 16 KiB at offsets
/// 0..0x1FC000 in order, TEST UNIT READY until ready, and READ BUFFER of the programmed
/// span. Nothing else is sent; nothing is written before the last read of the checks.
#[test]
fn an_mt1959_write_sends_the_sources_commands_in_order() {
    let mut t = Recording {
        inner: drive(Family::Mt1959, "BD-RE WH16NS60", 1),
        sent: Vec::new(),
        interrupt_after: None,
    };
    let img = family_image(Family::Mt1959, &spec("BD-RE WH16NS60", "1.05", 0), 2);
    let image = Image::from_bytes("new.bin", img.clone());
    let mut ui = Recorder::default();
    let r = family::write(&mut t, Family::Mt1959, &image, &opts(), &mut ui).unwrap();
    assert!(!r.dry_run);
    let s = &t.sent;
    assert_eq!(s[0].0, [0x12, 0, 0, 0, 96, 0]);
    assert_eq!(s[1].0, [0x46, 2, 0x01, 0x08, 0, 0, 0, 0, 0x40, 0]);
    assert_eq!(s[2].0, [0x46, 2, 0x01, 0x0C, 0, 0, 0, 0, 0x40, 0]);
    assert_eq!(s[3].0, [0x3C, 6, 0, 0x00, 0x30, 0x00, 0, 0, 0x20, 0]);
    assert_eq!(s[4].0, [0x3C, 6, 0, 0x1E, 0xC0, 0x00, 0, 0x01, 0x00, 0]);
    // The calibration, 64 KiB in 32 KiB blocks, each read twice.
    let cal: Vec<&Vec<u8>> = s[5..9].iter().map(|c| &c.0).collect();
    assert_eq!(
        cal[0],
        &vec![0x3C, 6, 0, 0x1F, 0x00, 0x00, 0, 0x80, 0x00, 0]
    );
    assert_eq!(cal[0], cal[1]);
    assert_eq!(
        cal[2],
        &vec![0x3C, 6, 0, 0x1F, 0x80, 0x00, 0, 0x80, 0x00, 0]
    );
    assert_eq!(cal[2], cal[3]);
    // Nothing was written before: every command so far reads.
    assert!(s[..9].iter().all(|(c, out)| *out == 0 && c[0] != 0x3B));
    // RD's prepare: `3B 01 00 00 00 00 00 00 00 00`, no data.
    assert_eq!(s[9], (vec![0x3B, 1, 0, 0, 0, 0, 0, 0, 0, 0], 0));
    for i in 0..128usize {
        let off = i * 0x4000;
        assert_eq!(
            s[10 + i],
            (
                vec![
                    0x3B,
                    6,
                    0,
                    (off >> 16) as u8,
                    (off >> 8) as u8,
                    0,
                    0,
                    0x40,
                    0,
                    0
                ],
                0x4000
            ),
            "chunk {i}"
        );
    }
    // Then TEST UNIT READY until the drive has programmed (NOT READY meanwhile).
    let after = &s[138..];
    let turs = after.iter().take_while(|c| c.0[0] == 0x00).count();
    assert!(turs >= 2, "the drive answered NOT READY while programming");
    // Then only reads: the read-back and the identity afterwards.
    assert!(after[turs..]
        .iter()
        .all(|(c, out)| *out == 0 && matches!(c[0], 0x3C | 0x12 | 0x46)));
    assert!(after[turs..]
        .iter()
        .any(|(c, _)| c[..6] == [0x3C, 6, 0, 0x01, 0x00, 0x00]));
    assert!(
        ui.lines.iter().any(|l| l.starts_with("Verify OK")),
        "{:?}",
        ui.lines
    );
}

/// The unit's boot config and calibration survive a write of an image made for another
/// unit of the same model; the firmware above the boot area is the image's.
#[test]
fn another_units_image_keeps_this_units_calibration_and_boot_config() {
    let mut t = drive(Family::Mt1959, "BD-RE WH16NS60", 11);
    let before = t.ch.drive.flash.mem().to_vec();
    let img = family_image(Family::Mt1959, &spec("BD-RE WH16NS60", "1.06", 0), 99);
    assert_ne!(
        img[fam::CALIBRATION.range()],
        before[fam::CALIBRATION.range()]
    );
    let image = Image::from_bytes("other-unit.bin", img.clone());
    write959(&mut t, &image, &opts()).unwrap();
    // The write finishes when the drive has programmed; it then runs the new firmware.
    let after = t.ch.drive.flash.mem().to_vec();
    assert_eq!(
        after[fam::CALIBRATION.range()],
        before[fam::CALIBRATION.range()]
    );
    assert_eq!(
        after[..0x1_0000],
        before[..0x1_0000],
        "the boot area is the drive's own"
    );
    assert_eq!(
        after[0x1_0000..fam::CALIBRATION.at],
        img[0x1_0000..fam::CALIBRATION.at]
    );
    let inq = t.ch.drive.inquiry_data();
    assert_eq!(&inq[32..36], b"1.06");
}

/// A model mismatch is refused with exit 6 and nothing sent: a boot config of another
/// platform always (as RD), another product unless --force.
#[test]
fn model_mismatches_are_refused_before_anything_is_sent() {
    // BU40N images carry "MT1959 Boot BU5 "; the drive is a JB8 platform.
    let mut t = Recording {
        inner: drive(Family::Mt1959, "BD-RE WH16NS60", 3),
        sent: Vec::new(),
        interrupt_after: None,
    };
    let before = t.inner.ch.drive.flash.mem().to_vec();
    let bu40 = family_image(Family::Mt1959, &spec("BD-RE BU40N", "1.00", 0), 4);
    let mut forced = opts();
    forced.force = true;
    let e = family::write(
        &mut t,
        Family::Mt1959,
        &Image::from_bytes("bu40n.bin", bu40),
        &forced,
        &mut Recorder::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind.code(), "model-mismatch");
    assert_eq!(e.code(), 6);
    assert!(
        e.what.contains("BU5") && e.what.contains("JB8"),
        "{}",
        e.what
    );
    assert!(t.sent.iter().all(|(c, out)| *out == 0 && c[0] != 0x3B));
    // Same platform, another product: refused, then written with --force.
    let wh40 = family_image(Family::Mt1959, &spec("BD-RE WH16NS40", "1.02", 0), 4);
    let image = Image::from_bytes("wh16ns40.bin", wh40.clone());
    let e = write959(&mut t, &image, &opts()).unwrap_err();
    assert_eq!(e.code(), 6);
    assert!(e.what.contains("WH16NS40"), "{}", e.what);
    assert!(t.sent.iter().all(|(c, _)| c[0] != 0x3B), "nothing sent");
    assert_eq!(t.inner.ch.drive.flash.mem(), &before[..]);
    write959(&mut t, &image, &forced).unwrap();
    assert_eq!(&t.inner.ch.drive.inquiry_data()[16..30], b"BD-RE WH16NS40");
}

/// MT1339: blocks of 0xFC00, modes 00, FF, FF, FF, 04 for 256 KiB; verified after.
#[test]
fn an_mt1339_write_sends_first_continue_last() {
    let mut t = Recording {
        inner: drive(Family::Mt1339, "DVD-ROM SH-D162D", 5),
        sent: Vec::new(),
        interrupt_after: None,
    };
    let mut sp = spec("DVD-ROM SH-D162D", "BC07", fam::MT1339_LEN);
    sp.vendor = "TSSTcorp".into();
    let img = mtkflash::firmware::synth::generate(&sp);
    let image = Image::from_bytes("sh-d162d.bin", img.clone());
    family::write(
        &mut t,
        Family::Mt1339,
        &image,
        &opts(),
        &mut Recorder::default(),
    )
    .unwrap();
    let uploads: Vec<&(Vec<u8>, usize)> = t.sent.iter().filter(|c| c.0[0] == 0xFF).collect();
    let modes: Vec<u8> = uploads.iter().map(|c| c.0[5]).collect();
    assert_eq!(modes, [0x00, 0xFF, 0xFF, 0xFF, 0x04]);
    assert!(uploads
        .iter()
        .all(|c| c.0.len() == 12 && c.0[..5] == [0xFF, 0, 1, 0, 0]));
    let lens: Vec<usize> = uploads.iter().map(|c| c.1).collect();
    assert_eq!(lens, [0xFC00, 0xFC00, 0xFC00, 0xFC00, 0x1000]);
    assert_eq!(t.inner.ch.drive.flash.mem(), &img[..]);
}

/// Ctrl-C during an upload is held until the last chunk is sent (the drive programs
/// when that lands), then reported with what the drive does; before the upload it stops
/// with nothing sent.
#[test]
fn an_interrupt_during_the_upload_is_held_until_the_last_chunk() {
    let mut t = Recording {
        inner: drive(Family::Mt1959, "BD-RE WH16NS60", 6),
        sent: Vec::new(),
        interrupt_after: Some(10),
    };
    let img = family_image(Family::Mt1959, &spec("BD-RE WH16NS60", "1.07", 0), 6);
    let image = Image::from_bytes("x.bin", img);
    let e = write959(&mut t, &image, &opts()).unwrap_err();
    assert_eq!(e.code(), 130);
    assert!(e.what.starts_with("interrupted"), "{}", e.what);
    assert!(e.drive.contains("whole image was sent"), "{}", e.drive);
    let chunks = t.sent.iter().filter(|c| c.0[..2] == [0x3B, 6]).count();
    assert_eq!(chunks, 128, "every chunk was sent");
    // Already asked to stop before the upload: nothing is sent.
    t.sleep(Duration::from_secs(10)); // the drive programs meanwhile
    t.sent.clear();
    t.interrupt_after = None;
    let e = write959(&mut t, &image, &opts()).unwrap_err();
    mtkflash::interrupt::clear();
    assert_eq!(e.code(), 130);
    assert!(
        e.drive.starts_with("not touched") || e.drive.starts_with("not changed"),
        "{}",
        e.drive
    );
    assert!(t.sent.iter().all(|c| c.0[0] != 0x3B), "nothing sent");
}

// ---- the command line, on virtual drives ----

fn mtk(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("mtkflash").unwrap();
    c.current_dir(dir);
    c
}

fn out(c: &mut Command) -> (String, String, i32) {
    let o = c.output().unwrap();
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.code().unwrap_or(-1),
    )
}

#[test]
fn every_command_works_on_both_families_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (family, drive, other) in [
        (
            "mt1959",
            "HL-DT-ST|BD-RE WH16NS60|1.05",
            "HL-DT-ST|BD-RE WH16NS60|1.06",
        ),
        (
            "mt1339",
            "TSSTcorp|DVD-ROM SH-D162D|BC06",
            "TSSTcorp|DVD-ROM SH-D162D|BC07",
        ),
    ] {
        let a = format!("{family}.mtksim");
        let b = format!("{family}-other.mtksim");
        mtk(d)
            .args([
                "sim", "new", &a, "--family", family, "--drive", drive, "--unit", "1",
            ])
            .assert()
            .success();
        mtk(d)
            .args([
                "sim", "new", &b, "--family", family, "--drive", other, "--unit", "2",
            ])
            .assert()
            .success();
        let img = format!("{family}-new.bin");
        mtk(d).args(["sim", "export", &b, &img]).assert().success();
        let before = Stored::load(&d.join(&a)).unwrap().flash;

        let (o, e, code) = out(mtk(d).args(["scan"]));
        assert_eq!(code, 0, "{e}");
        let line = o
            .lines()
            .find(|l| l.contains(&format!("sim:{a}")))
            .unwrap_or_else(|| panic!("{o}"));
        assert!(line.contains(&format!("{family} updater")), "{line}");
        let (o, e, code) = out(mtk(d).args(["info", &format!("sim:{a}")]));
        assert_eq!(code, 0, "{e}");
        assert!(o.contains(&format!("Family: {family}")), "{o}");
        assert!(o.contains("Serial: "), "{o}");

        let dump = format!("{family}-dump.bin");
        let (o, e, code) = out(mtk(d).args(["read", &format!("sim:{a}"), &dump]));
        assert_eq!(code, 0, "{e}");
        assert!(o.contains("Saved"), "{o}");
        assert_eq!(std::fs::read(d.join(&dump)).unwrap(), before);

        let (o, e, code) = out(mtk(d).args(["write", &format!("sim:{a}"), &img, "--dry-run"]));
        assert_eq!(code, 0, "{e}");
        assert!(o.contains("Plan: "), "{o}");
        let cmds = o
            .lines()
            .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
            .count();
        assert_eq!(cmds, if family == "mt1959" { 129 } else { 5 }, "{o}");
        assert_eq!(
            Stored::load(&d.join(&a)).unwrap().flash,
            before,
            "a dry run sends nothing"
        );

        // The classic command line takes them too.
        let (o, e, code) = out(mtk(d).args([&format!("sim:{a}"), "w", &img]));
        assert_eq!(code, 0, "{e}\n{o}");
        assert!(o.contains("Verify OK"), "{o}");
        let after = Stored::load(&d.join(&a)).unwrap().flash;
        let want = std::fs::read(d.join(&img)).unwrap();
        if family == "mt1959" {
            assert_eq!(
                after[fam::CALIBRATION.range()],
                before[fam::CALIBRATION.range()]
            );
            assert_eq!(
                after[0x1_0000..fam::CALIBRATION.at],
                want[0x1_0000..fam::CALIBRATION.at]
            );
        } else {
            assert_eq!(after, want);
        }
        let backup = d.join(format!("{family}-new.backup.bin"));
        assert!(backup.exists(), "the automatic backup");

        let (o, e, code) = out(mtk(d).args(["verify", &format!("sim:{a}"), &img]));
        assert_eq!(code, 0, "{e}");
        assert!(o.contains("Verify OK"), "{o}");

        // The backup restores this very unit, calibration included.
        let (o, e, code) = out(mtk(d).args([
            "write",
            &format!("sim:{a}"),
            backup.to_str().unwrap(),
            "--no-backup",
        ]));
        assert_eq!(code, 0, "{e}\n{o}");
        let restored = Stored::load(&d.join(&a)).unwrap().flash;
        let from = if family == "mt1959" { 0x1_0000 } else { 0 };
        assert_eq!(restored[from..], before[from..]);
    }
}

/// `update --manifest` with rules for both families: each drive is written through its
/// own updater, a second run skips them as up to date.
#[test]
fn a_batch_updates_drives_of_both_families() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    std::fs::copy(fx.join("mt1959-wh16ns60-103.bin"), d.join("wh.bin")).unwrap();
    std::fs::copy(fx.join("mt1339-sh-d162d-bc07.bin"), d.join("ts.bin")).unwrap();
    mtk(d)
        .args([
            "sim",
            "new",
            "bd.mtksim",
            "--family",
            "mt1959",
            "--unit",
            "3",
        ])
        .assert()
        .success();
    mtk(d)
        .args([
            "sim",
            "new",
            "ts.mtksim",
            "--family",
            "mt1339",
            "--unit",
            "4",
        ])
        .assert()
        .success();
    let before = Stored::load(&d.join("bd.mtksim")).unwrap().flash;
    std::fs::write(
        d.join("m.json"),
        r#"{"drives": ["sim:bd.mtksim", "sim:ts.mtksim"], "rules": [
            {"vendor": "HL-DT-ST", "product": "BD-RE WH16NS60", "firmware": "wh.bin", "family": "mt1959"},
            {"vendor": "TSSTcorp", "product": "DVD-ROM SH-D162D", "firmware": "ts.bin", "family": "mt1339"}]}"#,
    )
    .unwrap();
    let (o, e, code) = out(mtk(d).args(["update", "--manifest", "m.json"]));
    assert_eq!(code, 0, "{e}\n{o}");
    assert!(o.contains("sim:bd.mtksim: updated"), "{o}");
    assert!(o.contains("sim:ts.mtksim: updated"), "{o}");
    let after = Stored::load(&d.join("bd.mtksim")).unwrap().flash;
    assert_eq!(
        after[fam::CALIBRATION.range()],
        before[fam::CALIBRATION.range()]
    );
    assert_eq!(
        &after[fam::IDENTITY.at + 24..fam::IDENTITY.at + 28],
        b"1.03"
    );
    let (o, _, code) = out(mtk(d).args(["update", "--manifest", "m.json"]));
    assert_eq!(code, 0);
    assert!(
        o.contains("sim:bd.mtksim: skipped (already at 1.03)"),
        "{o}"
    );
    assert!(
        o.contains("sim:ts.mtksim: skipped (already at BC07)"),
        "{o}"
    );
}

/// A drive whose calibration is blank (a programming was cut short) is refused with
/// nothing sent: writing would make the loss permanent. Its own backup restores it.
#[test]
fn a_blank_calibration_is_refused_until_the_drives_backup_is_written() {
    let mut t = Recording {
        inner: drive(Family::Mt1959, "BD-RE WH16NS60", 12),
        sent: Vec::new(),
        interrupt_after: None,
    };
    let good = t.inner.ch.drive.flash.mem().to_vec();
    // The backup made before: this drive's window and serial.
    let facts = family::facts(&mut t, Family::Mt1959).unwrap();
    let backup = family::backup_of(&facts, &good, &[]);
    t.inner.ch.drive.flash.mem_mut()[fam::CALIBRATION.range()].fill(0xFF);
    t.sent.clear();
    let img = family_image(Family::Mt1959, &spec("BD-RE WH16NS60", "1.08", 0), 13);
    let e = write959(&mut t, &Image::from_bytes("new.bin", img.clone()), &opts()).unwrap_err();
    assert_eq!(e.kind.code(), "unit-data-missing");
    assert_eq!(e.code(), 6);
    assert!(e.next.contains("backup"), "{}", e.next);
    assert!(t.sent.iter().all(|c| c.0[0] != 0x3B), "nothing sent");
    // The backup carries the calibration back; then the firmware goes on.
    let fw = mtkflash::firmware::parse(&backup).unwrap();
    let restore = Image {
        name: "drive.backup.bin".into(),
        source: None,
        analysis: mtkflash::firmware::Analysis::of(&fw.data),
        fw,
    };
    write959(&mut t, &restore, &opts()).unwrap();
    write959(&mut t, &Image::from_bytes("new.bin", img), &opts()).unwrap();
    let after = t.inner.ch.drive.flash.mem();
    assert_eq!(
        after[fam::CALIBRATION.range()],
        good[fam::CALIBRATION.range()]
    );
}

#[test]
fn vendor_mode_commands_say_the_drive_has_none() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_, err, code) = out(mtk(d).args(["sim", "new", "f.mtksim", "--family", "mt1959"]));
    assert_eq!(code, 0, "{err}");
    let before = std::fs::read(d.join("f.mtksim")).unwrap();
    let (_, err, code) = out(mtk(d).args(["erase", "sim:f.mtksim", "--yes", "--no-backup"]));
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("has no vendor mode to erase through"), "{err}");
    assert!(err.contains("drive: not touched"), "{err}");
    assert!(err.contains("mtkflash write"), "{err}");
    assert_eq!(std::fs::read(d.join("f.mtksim")).unwrap(), before);
}

/// A path that answers every command GOOD with nothing filled in (Wine's SCSI
/// pass-through does so when the Linux side fails with a host error: it passes on
/// the SCSI status and drops host_status) is no drive of any family: an MT1959 answers
/// INQUIRY as an MMC device (peripheral type 5) with a vendor.
#[test]
fn a_path_that_answers_good_with_zeros_is_no_family_drive() {
    struct Zeros(u32);
    impl ScsiTransport for Zeros {
        fn execute(
            &mut self,
            _cdb: &[u8],
            dir: Dir<'_>,
            _t: Duration,
        ) -> Result<ScsiResult, TransportError> {
            self.0 += 1;
            let n = match dir {
                Dir::In(n) => n,
                _ => 0,
            };
            Ok(ScsiResult {
                status: 0,
                sense: vec![],
                data: vec![0; n],
            })
        }
        fn describe(&self) -> String {
            "zeros".into()
        }
        fn sleep(&mut self, _d: Duration) {}
    }
    let mut z = Zeros(0);
    assert_eq!(family::detect(&mut z).unwrap(), None);
    assert!(z.0 >= 1, "it was asked");
}
