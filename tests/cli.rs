//! End to end: the built binary against virtual drives made in each test.

use assert_cmd::Command;
use mtkflash::firmware::synth::{self, Spec};
use mtkflash::inference::{seal_embedded_checksum, BOOT_LEN};
use predicates::prelude::*;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

fn mtk(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("mtkflash").unwrap();
    c.current_dir(dir);
    c
}

struct Bench {
    dir: TempDir,
}

impl Bench {
    fn new() -> Bench {
        Bench {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn cmd(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        mtk(self.dir.path()).args(args).assert()
    }
    fn sim(&self, name: &str, chip: &str, drive: &str, extra: &[&str]) {
        let mut a = vec!["sim", "new", name, "--chip", chip, "--drive", drive];
        a.extend_from_slice(extra);
        self.cmd(&a).success();
    }
    fn image(&self, name: &str, spec: &Spec) -> Vec<u8> {
        let img = synth::generate(spec);
        std::fs::write(self.p(name), &img).unwrap();
        img
    }
    fn flash(&self, sim: &str) -> Vec<u8> {
        let out = format!("{sim}.export.bin");
        let _ = std::fs::remove_file(self.p(&out));
        self.cmd(&["sim", "export", sim, &out]).success();
        std::fs::read(self.p(&out)).unwrap()
    }
}

fn spec(vendor: &str, product: &str, rev: &str, size: usize) -> Spec {
    Spec {
        vendor: vendor.into(),
        product: product.into(),
        revision: rev.into(),
        size,
    }
}

/// Read, write a new revision, verify, on one chip of a family.
fn family(chip: &str, size: usize) {
    family_with(chip, size, &[]);
}

fn family_with(chip: &str, size: usize, sim_args: &[&str]) {
    let b = Bench::new();
    b.sim("d.mtksim", chip, "ACME|DVDRW TEST|0001", sim_args);
    let before = b.flash("d.mtksim");
    b.cmd(&["read", "sim:d.mtksim", "before.bin"]).success();
    assert_eq!(
        std::fs::read(b.p("before.bin")).unwrap(),
        before,
        "read = raw flash"
    );
    let new = b.image("new.bin", &spec("ACME", "DVDRW TEST", "0002", size));
    b.cmd(&["write", "sim:d.mtksim", "new.bin"])
        .success()
        .stdout(
            predicate::str::contains("Verify OK")
                .and(predicate::str::contains("Drive now: ACME DVDRW TEST 0002")),
        );
    assert_eq!(b.flash("d.mtksim"), new);
    assert_eq!(
        std::fs::read(b.p("new.backup.bin")).unwrap(),
        before,
        "backup next to the input"
    );
    b.cmd(&["verify", "sim:d.mtksim", "new.bin"])
        .success()
        .stdout(predicate::str::contains("Verify OK"));
    b.cmd(&["verify", "sim:d.mtksim", "before.bin"])
        .code(5)
        .stderr(predicate::str::contains("differs"));
}

#[test]
fn family_sst_parallel() {
    family("SST39SF040", 0x80000);
}

#[test]
fn family_amd_parallel_64k_sectors() {
    family("Am29LV040B", 0x80000);
}

#[test]
fn family_w29c020_page_write() {
    family("W29C020", 0x40000);
}

#[test]
fn family_spi_page_program() {
    family("MX25L8005", 0x100000);
}

#[test]
fn family_spi_page_program_on_a_0x73_bridge() {
    family_with("MX25L8005", 0x100000, &["--intro", "73"]);
}

#[test]
fn family_sst_aai_on_a_0x73_bridge() {
    family_with("SST25VF080B", 0x100000, &["--intro", "73"]);
}

#[test]
fn family_spi_boot_sector_layouts_top_and_bottom() {
    family("A25L20PT", 0x40000);
    family_with("A25L20PU", 0x40000, &["--intro", "73"]);
}

#[test]
fn a_liteon_layout_image_is_checked_and_written() {
    let b = Bench::new();
    let fx = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/liteon-sohw1673s-js0c-liteon-layout.bin");
    let fx = fx.to_str().unwrap();
    b.cmd(&["check", fx])
        .success()
        .stdout(predicate::str::contains("Layout:    LiteOn"));
    b.sim(
        "d.mtksim",
        "SST39VF080",
        "LITE-ON|DVDRW SOHW-1673S|JS01",
        &[],
    );
    b.cmd(&["write", "sim:d.mtksim", fx, "--backup", "b.bin"])
        .success()
        .stdout(predicate::str::contains(
            "Drive now: LITE-ON DVDRW SOHW-1673S JS0C",
        ));
    assert_eq!(b.flash("d.mtksim"), std::fs::read(fx).unwrap());
}

#[test]
fn a_dry_run_shows_the_plan_and_changes_nothing() {
    let b = Bench::new();
    b.sim(
        "d.mtksim",
        "MX25L8005",
        "ACME|DVDRW TEST|0001",
        &["--intro", "73"],
    );
    let before = b.flash("d.mtksim");
    b.image("new.bin", &spec("ACME", "DVDRW TEST", "0002", 0x100000));
    b.cmd(&["sim:d.mtksim", "w", "/m", "new.bin", "--dry-run"])
        .success()
        .stdout(
            predicate::str::contains("Plan: ")
                .and(predicate::str::contains("[commit]"))
                .and(predicate::str::contains("erase 0x"))
                .and(predicate::str::contains("nothing was written")),
        );
    assert_eq!(b.flash("d.mtksim"), before);
    assert!(!b.p("new.backup.bin").exists(), "a dry run makes no backup");
    // The same drive is still fine for the real write.
    b.cmd(&["sim:d.mtksim", "w", "/m", "new.bin", "--no-backup"])
        .success();
}

#[cfg(unix)]
#[test]
fn file_names_that_are_not_utf8_are_taken_as_they_are() {
    use std::os::unix::ffi::OsStringExt;
    let b = Bench::new();
    b.sim("d.mtksim", "SST39VF080", "BTC|DVDRW IDE1008|0055", &[]);
    let name = std::ffi::OsString::from_vec(b"caf\xe9.bin".to_vec());
    let img = b.image("plain.bin", &spec("BTC", "DVDRW IDE1008", "0758", 0x100000));
    std::fs::write(b.dir.path().join(&name), &img).unwrap();
    // Before: a panic (exit 101) on the argument list.
    mtk(b.dir.path())
        .arg("check")
        .arg(&name)
        .assert()
        .success()
        .stdout(predicate::str::contains("Size:      1024 KiB"));
    mtk(b.dir.path())
        .args(["sim:d.mtksim", "w", "/m"])
        .arg(&name)
        .arg("--no-backup")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Drive now: BTC DVDRW IDE1008 0758",
        ));
    assert_eq!(b.flash("d.mtksim"), img);
}

#[test]
fn intro_answer_0x52_is_refused_even_with_force() {
    let b = Bench::new();
    b.sim(
        "d.mtksim",
        "MX25L8005",
        "ACME|DVDRW TEST|0001",
        &["--intro", "52"],
    );
    let before = b.flash("d.mtksim");
    b.image("new.bin", &spec("ACME", "DVDRW TEST", "0002", 0x100000));
    for args in [
        &["write", "sim:d.mtksim", "new.bin", "--no-backup"][..],
        &["write", "sim:d.mtksim", "new.bin", "--no-backup", "--force"][..],
        &["read", "sim:d.mtksim", "r.bin"][..],
        &["info", "sim:d.mtksim"][..],
    ] {
        b.cmd(args).code(4).stderr(
            predicate::str::contains("status 0x52")
                .and(predicate::str::contains("no known flasher"))
                .and(predicate::str::contains("--trace"))
                .and(predicate::str::contains("nothing was written")),
        );
    }
    assert_eq!(b.flash("d.mtksim"), before);
    assert!(!b.p("r.bin").exists());
}

#[test]
fn the_btc_update_takes_exactly_1_mib_and_refuses_anything_else_untouched() {
    let b = Bench::new();
    b.sim("d.mtksim", "SST39VF080", "BTC|DVDRW IDE1008|0055", &[]);
    let before = b.flash("d.mtksim");
    let half = synth::generate(&spec("BTC", "DVDRW IDE1008", "0758", 0x80000));
    std::fs::write(b.p("half.bin"), &half).unwrap();
    std::fs::write(b.p("half.hex"), mtkflash::firmware::to_btc_hex(&half)).unwrap();
    for (f, says) in [
        ("half.bin", "exactly 1 MiB"),
        ("half.hex", "describes 8 of the 16 banks"),
    ] {
        b.cmd(&["write", "sim:d.mtksim", f, "--method", "atapi", "--force"])
            .code(3)
            .stderr(
                predicate::str::contains(says).and(predicate::str::contains("drive: not touched")),
            );
    }
    assert_eq!(b.flash("d.mtksim"), before);
    // A whole BTC HEX goes through, and the wait after the commit is announced.
    let full = b.image("new.bin", &spec("BTC", "DVDRW IDE1008", "0758", 0x100000));
    std::fs::write(b.p("new.hex"), mtkflash::firmware::to_btc_hex(&full)).unwrap();
    b.cmd(&["write", "sim:d.mtksim", "new.hex", "--method", "atapi"])
        .success()
        .stdout(predicate::str::contains("leaving it alone for 50 s"));
    assert_eq!(b.flash("d.mtksim"), full);
}

#[test]
fn family_sst_aai_protected_at_power_up() {
    family("SST25VF080B", 0x100000);
}

#[test]
fn family_amd_byte_mode_boot_block() {
    family("Am29LV800BB", 0x100000);
}

#[test]
fn classic_forms_on_a_virtual_drive() {
    let b = Bench::new();
    b.sim("d.mtksim", "SST39VF080", "BTC|DVDRW IDE1008|0055", &[]);
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/btc-ide1008-0758.hex");
    std::fs::copy(&fx, b.p("fw.hex")).unwrap();
    b.cmd(&["sim:d.mtksim", "r", "backup.bin"]).success();
    b.cmd(&["SIM:d.mtksim", "W", "/M", "fw.hex"])
        .success()
        .stdout(
            predicate::str::contains("Flash Type: SST(SST39VF080)")
                .and(predicate::str::contains("Bank15")),
        );
    b.cmd(&["sim:d.mtksim", "w/m", "fw.hex"])
        .success()
        .stdout(predicate::str::contains("nothing to write"));
    b.cmd(&["sim:d.mtksim", "w", "fw.hex", "/m", "/b"])
        .success();
    b.cmd(&["sim:d.mtksim", "W/M/B", "fw.hex"]).success();
    b.cmd(&["sim:d.mtksim", "r", "/b", "/m", "backup2.bin"])
        .success();
    assert_eq!(
        std::fs::read(b.p("backup2.bin")).unwrap(),
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/btc-ide1008-0758.bin"))
            .unwrap()
    );
}

#[test]
fn classic_form_mistakes_are_usage_errors() {
    let b = Bench::new();
    b.cmd(&["5", "w", "/m", "fw.bin"])
        .code(2)
        .stderr(predicate::str::contains("1, 2, 3 or 4"));
    b.cmd(&["x", "r", "/b", "/m", "backup.bin"])
        .code(2)
        .stderr(predicate::str::contains("not a drive port"));
    b.cmd(&["3", "w", "/q", "fw.bin"])
        .code(2)
        .stderr(predicate::str::contains("/b").and(predicate::str::contains("/m")));
    b.cmd(&["3", "w"])
        .code(2)
        .stderr(predicate::str::contains("needs a file"));
    b.cmd(&["frobnicate"]).code(2);
}

#[test]
fn raw_ports_that_cannot_be_opened_are_refused_untouched() {
    // On machines without usable ports (no ioperm, no IDE controller, no root) the
    // classic command must say why and touch nothing.
    let b = Bench::new();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/btc-ide1008-0758.bin"),
        b.p("fw.bin"),
    )
    .unwrap();
    b.cmd(&["3", "w", "/m", "fw.bin"]).code(4).stderr(
        predicate::str::contains("port 0x170 master")
            .and(predicate::str::contains("drive: not touched"))
            .and(predicate::str::contains("next:")),
    );
}

#[test]
fn model_mismatch_is_refused_then_forced() {
    let b = Bench::new();
    b.sim(
        "d.mtksim",
        "SST39VF080",
        "LITE-ON|DVDRW SHW-160P6S|PS0A",
        &[],
    );
    let before = b.flash("d.mtksim");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/btc-ide1008-0758.bin"),
        b.p("fw.bin"),
    )
    .unwrap();
    b.cmd(&["write", "sim:d.mtksim", "fw.bin"]).code(6).stderr(
        predicate::str::contains("for BTC DVDRW IDE1008")
            .and(predicate::str::contains("--force"))
            .and(predicate::str::contains("drive: flash not changed")),
    );
    assert_eq!(b.flash("d.mtksim"), before);
    b.cmd(&[
        "write",
        "sim:d.mtksim",
        "fw.bin",
        "--force",
        "--backup",
        "old.bin",
    ])
    // Written and verified; the model does not start a cross-flash whose end checksum
    // no longer matches (the drive's own boot code kept), and that is exit 5, not 0.
    .code(5)
    .stderr(predicate::str::contains("does not start it").and(predicate::str::contains("old.bin")));
    assert_eq!(
        b.flash("d.mtksim")[BOOT_LEN..],
        std::fs::read(b.p("fw.bin")).unwrap()[BOOT_LEN..]
    );
}

#[test]
fn bricked_drive_is_recovered_by_the_same_command() {
    let b = Bench::new();
    b.sim(
        "d.mtksim",
        "SST39VF080",
        "BTC|DVDRW IDE1008|0055",
        &["--bricked"],
    );
    b.cmd(&["sim", "show", "d.mtksim"])
        .success()
        .stdout(predicate::str::contains("bricked"));
    b.cmd(&["info", "sim:d.mtksim"])
        .success()
        .stdout(predicate::str::contains("BOOT CODE ONLY"));
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/btc-ide1008-0758.hex"),
        b.p("fw.hex"),
    )
    .unwrap();
    b.cmd(&["sim:d.mtksim", "w", "/m", "fw.hex"])
        .success()
        .stdout(
            predicate::str::contains("runs boot code only").and(predicate::str::contains(
                "Drive now: BTC DVDRW IDE1008 0758",
            )),
        );
    b.cmd(&["info", "sim:d.mtksim"])
        .success()
        .stdout(predicate::str::contains("running firmware").and(predicate::str::contains("0758")));
}

#[test]
fn boot_code_is_kept_without_b_and_replaced_with_it() {
    let b = Bench::new();
    b.sim("d.mtksim", "SST39VF080", "BTC|DVDRW IDE1008|0055", &[]);
    let orig = b.flash("d.mtksim");
    let mut img = synth::generate(&Spec::btc("0758"));
    for (i, x) in img[0x10..0x3000].iter_mut().enumerate() {
        *x = (i as u8).wrapping_mul(13);
    }
    seal_embedded_checksum(&mut img);
    std::fs::write(b.p("fw.bin"), &img).unwrap();
    // The kept boot code differs from the image's, so the image's end checksum no
    // longer matches: the model does not start it, which is said (exit 5), not hidden.
    b.cmd(&["sim:d.mtksim", "w", "/m", "fw.bin"])
        .code(5)
        .stderr(
            predicate::str::contains("checksum of the result will not match")
                .and(predicate::str::contains("does not start it")),
        );
    let after = b.flash("d.mtksim");
    assert_eq!(
        after[..BOOT_LEN],
        orig[..BOOT_LEN],
        "boot code kept byte for byte"
    );
    assert_eq!(after[BOOT_LEN..], img[BOOT_LEN..]);
    b.cmd(&["sim:d.mtksim", "w", "/m", "/b", "fw.bin", "--no-backup"])
        .success();
    assert_eq!(b.flash("d.mtksim"), img, "boot code replaced with /b");
}

#[test]
fn sixty_four_k_sector_chip_rewrites_the_kept_boot_code_first() {
    let b = Bench::new();
    b.sim("d.mtksim", "Am29F040B", "ACME|DVDRW TEST|0001", &[]);
    let orig = b.flash("d.mtksim");
    let new = b.image("new.bin", &spec("ACME", "DVDRW TEST", "0002", 0x80000));
    b.cmd(&["write", "sim:d.mtksim", "new.bin"])
        .success()
        .stdout(predicate::str::contains("Boot code rewritten and verified"))
        .stderr(predicate::str::contains("shares its first unit"));
    let after = b.flash("d.mtksim");
    assert_eq!(after[..BOOT_LEN], orig[..BOOT_LEN]);
    assert_eq!(after[BOOT_LEN..], new[BOOT_LEN..]);
}

#[test]
fn exit_codes() {
    let b = Bench::new();
    b.sim("d.mtksim", "SST39VF080", "BTC|DVDRW IDE1008|0055", &[]);
    let fx = |n: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(n)
            .display()
            .to_string()
    };
    // 3: file problems, drive untouched.
    b.cmd(&["write", "sim:d.mtksim", "missing.bin"])
        .code(3)
        .stderr(predicate::str::contains("drive: not touched"));
    b.cmd(&["write", "sim:d.mtksim", &fx("broken-truncated.bin")])
        .code(3)
        .stderr(predicate::str::contains("truncated"));
    b.cmd(&["write", "sim:d.mtksim", &fx("broken-bad-checksum.hex")])
        .code(3)
        .stderr(predicate::str::contains("checksum"));
    b.cmd(&["write", "sim:d.mtksim", &fx("liteon-combo-nk0d-512k.hex")])
        .code(3)
        .stderr(predicate::str::contains("512 KiB"));
    std::fs::write(b.p("exists.bin"), b"x").unwrap();
    b.cmd(&[
        "write",
        "sim:d.mtksim",
        &fx("btc-ide1008-0758.bin"),
        "--backup",
        "exists.bin",
    ])
    .code(3)
    .stderr(predicate::str::contains("already exists"));
    // 4: no such drive.
    b.cmd(&["info", "sim:nothing.mtksim"])
        .code(4)
        .stderr(predicate::str::contains("sim new"));
    // 2: usage.
    b.cmd(&["erase", "sim:d.mtksim"])
        .code(2)
        .stderr(predicate::str::contains("--yes"));
    // 0 then 5 (verification of a file that is not on the drive).
    b.cmd(&["check", &fx("btc-ide1008-0758.hex")])
        .success()
        .stdout(
            predicate::str::contains("BTC HEX").and(predicate::str::contains("revision '0758'")),
        );
    b.cmd(&["verify", "sim:d.mtksim", &fx("btc-ide1008-0758.bin")])
        .code(5);
}

#[test]
fn dead_drive_exit_4_and_nothing_written() {
    let b = Bench::new();
    b.sim("d.mtksim", "SST39VF080", "BTC|DVDRW IDE1008|0055", &[]);
    // Damage the boot code directly in the stored flash.
    let path = b.p("d.mtksim");
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 0x100000..n - 0x100000 + 0x2000].fill(0xFF);
    std::fs::write(&path, &bytes).unwrap();
    let before = b.flash("d.mtksim");
    b.cmd(&[
        "write",
        "sim:d.mtksim",
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/btc-ide1008-0758.bin")
            .display()
            .to_string(),
        "--retries",
        "1",
    ])
    .code(4)
    .stderr(predicate::str::contains("stayed busy").or(predicate::str::contains("busy")));
    assert_eq!(b.flash("d.mtksim"), before);
}

#[test]
fn erase_keeps_the_boot_code() {
    let b = Bench::new();
    b.sim("d.mtksim", "MX25L8005", "BTC|DVDRW IDE1008|0055", &[]);
    let orig = b.flash("d.mtksim");
    b.cmd(&["erase", "sim:d.mtksim", "--yes"])
        .success()
        .stdout(predicate::str::contains("boot code was kept"));
    let after = b.flash("d.mtksim");
    assert_eq!(after[..BOOT_LEN], orig[..BOOT_LEN]);
    assert!(after[BOOT_LEN..].iter().all(|&x| x == 0xFF));
    b.cmd(&["sim", "show", "d.mtksim"])
        .success()
        .stdout(predicate::str::contains("boot code only"));
}

#[test]
fn read_never_overwrites() {
    let b = Bench::new();
    b.sim("d.mtksim", "SST39VF080", "BTC|DVDRW IDE1008|0055", &[]);
    std::fs::write(b.p("out.bin"), b"keep me").unwrap();
    b.cmd(&["read", "sim:d.mtksim", "out.bin"])
        .code(3)
        .stderr(predicate::str::contains("never overwrites"));
    assert_eq!(std::fs::read(b.p("out.bin")).unwrap(), b"keep me");
}

#[test]
fn default_virtual_drive_is_created_on_first_use() {
    let b = Bench::new();
    b.cmd(&["info", "sim"]).success().stdout(
        predicate::str::contains("Created the default virtual drive")
            .and(predicate::str::contains("BTC DVDRW IDE1008 0055")),
    );
    assert!(b.p("mtkflash-default.mtksim").exists());
    b.cmd(&["sim", "show", "mtkflash-default.mtksim"])
        .success()
        .stdout(predicate::str::contains("SST39VF080"));
}

#[test]
fn help_shows_exit_codes_and_examples() {
    let b = Bench::new();
    b.cmd(&["--help"]).success().stdout(
        predicate::str::contains("Exit codes").and(predicate::str::contains("mtkflash 3 w /m")),
    );
    for sub in ["info", "read", "write", "verify", "erase", "check"] {
        b.cmd(&[sub, "--help"])
            .success()
            .stdout(predicate::str::contains("Example"));
    }
}

#[test]
fn scan_lists_virtual_drives_with_their_vendor_answer() {
    let b = Bench::new();
    b.sim("a.mtksim", "SST39VF080", "BTC|DVDRW IDE1008|0055", &[]);
    b.sim(
        "z.mtksim",
        "MX25L8005",
        "BTC|DVDRW IDE1008|0055",
        &["--bricked"],
    );
    b.cmd(&["scan"]).success().stdout(
        predicate::str::contains("sim:a.mtksim")
            .and(predicate::str::contains("BTC DVDRW IDE1008 0055"))
            .and(predicate::str::contains("yes, flash SST(SST39VF080)"))
            .and(predicate::str::contains("runs boot code only"))
            .and(predicate::str::contains(
                "yes, flash MXIC(MX25L8005)(Serial)",
            )),
    );
}

#[test]
fn classic_form_without_port_scans_and_without_terminal_exits_2() {
    let b = Bench::new();
    b.sim("a.mtksim", "SST39VF080", "BTC|DVDRW IDE1008|0055", &[]);
    b.cmd(&["r", "/m", "orig.bin"])
        .code(2)
        .stdout(
            predicate::str::contains("drive scaned:")
                .and(predicate::str::contains(" 1. sim:a.mtksim")),
        )
        .stderr(predicate::str::contains("no terminal"));
    assert!(!b.p("orig.bin").exists());
}

/// `--version` names the release, the revision and the target the binary was built for
/// (which download it is: x86_64 or i686, musl or glibc, Windows).
#[test]
fn version_names_the_build_target() {
    let d = tempfile::tempdir().unwrap();
    let out = mtk(d.path()).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let target = text
        .trim()
        .rsplit_once(", ")
        .and_then(|(_, t)| t.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no target in {text}"));
    assert!(
        target.starts_with(std::env::consts::ARCH) && target.contains(std::env::consts::OS),
        "{text}"
    );
    assert!(
        text.contains(env!("CARGO_PKG_VERSION")) && text.contains("(git "),
        "{text}"
    );
}
