//! Each fault through the command line: set, observe the tool's answer, recover.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

struct B(tempfile::TempDir);

/// The write every test here runs.
const WRITE: [&str; 7] = [
    "sim:d.mtksim",
    "w",
    "/m",
    "fw.bin",
    "--no-backup",
    "--retries",
    "1",
];

impl B {
    fn new(chip: &str) -> B {
        let b = B(tempfile::tempdir().unwrap());
        b.ok(&["sim", "new", "d.mtksim", "--chip", chip]);
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/btc-ide1008-0758.bin"),
            b.p("fw.bin"),
        )
        .unwrap();
        b
    }
    fn p(&self, n: &str) -> PathBuf {
        self.0.path().join(n)
    }
    fn cmd(&self, a: &[&str]) -> assert_cmd::assert::Assert {
        Command::cargo_bin("mtkflash")
            .unwrap()
            .current_dir(self.0.path())
            .args(a)
            .assert()
    }
    fn ok(&self, a: &[&str]) {
        self.cmd(a).success();
    }
    fn fault(&self, spec: &str) {
        self.cmd(&["sim", "fault", "d.mtksim", spec])
            .success()
            .stdout(predicate::str::contains("Faults on"));
    }
    fn flash(&self) -> Vec<u8> {
        let _ = std::fs::remove_file(self.p("x.bin"));
        self.ok(&["sim", "export", "d.mtksim", "x.bin"]);
        std::fs::read(self.p("x.bin")).unwrap()
    }
    /// Bus operations of the same write on an unfaulted copy of this drive: fault
    /// points derived from it stay inside the write when the engine gets faster.
    fn clean_write_ops(&self) -> u64 {
        std::fs::copy(self.p("d.mtksim"), self.p("clean.mtksim")).unwrap();
        let mut args = vec!["--json", "sim:clean.mtksim"];
        args.extend(&WRITE[1..]);
        let out = Command::cargo_bin("mtkflash")
            .unwrap()
            .current_dir(self.0.path())
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let last = text.lines().last().unwrap_or_default();
        serde_json::from_str::<serde_json::Value>(last).unwrap()["bus_ops"]
            .as_u64()
            .unwrap_or_else(|| panic!("{text}"))
    }
    fn write(&self) -> assert_cmd::assert::Assert {
        self.cmd(&WRITE)
    }
    fn image(&self) -> Vec<u8> {
        std::fs::read(self.p("fw.bin")).unwrap()
    }
}

#[test]
fn fault_grammar_set_show_clear() {
    let b = B::new("SST39VF080");
    b.fault("program-fail@addr=0x5000; read-flip@rate=0.5,seed=3");
    b.cmd(&["sim", "show", "d.mtksim"])
        .success()
        .stdout(predicate::str::contains(
            "program-fail@addr=0x5000;read-flip@rate=0.5,seed=3",
        ));
    b.cmd(&["sim", "fault", "d.mtksim", "--clear"])
        .success()
        .stdout(predicate::str::contains("none"));
    b.cmd(&["sim", "fault", "d.mtksim", "melt@op=3"])
        .code(2)
        .stderr(
            predicate::str::contains("unknown fault")
                .and(predicate::str::contains("power-loss@op=N")),
        );
}

#[test]
fn no_intro_is_not_a_mediatek_drive() {
    let b = B::new("SST39VF080");
    let before = b.flash();
    b.fault("no-intro");
    b.write().code(4).stderr(
        predicate::str::contains("not a MediaTek drive")
            .and(predicate::str::contains("drive: not touched")),
    );
    assert_eq!(b.flash(), before);
}

#[test]
fn bus_float_is_nothing_connected() {
    let b = B::new("SST39VF080");
    b.fault("bus-float");
    b.cmd(&["info", "sim:d.mtksim"])
        .code(4)
        .stderr(predicate::str::contains("nothing answers").and(predicate::str::contains("0xFF")));
}

#[test]
fn intro_window_needs_a_power_cycle() {
    let b = B::new("SST39VF080");
    b.fault("intro-window=2000");
    // Powered long ago: the boot code no longer listens; without a terminal nobody can
    // power-cycle it.
    b.cmd(&["info", "sim:d.mtksim", "--retries", "2"])
        .code(4)
        .stderr(
            predicate::str::contains("vendor intro failed")
                .and(predicate::str::contains("power-cycle")),
        );
    b.ok(&["sim", "power-cycle", "d.mtksim"]);
    b.cmd(&["info", "sim:d.mtksim"])
        .success()
        .stdout(predicate::str::contains("Flash:     SST(SST39VF080)"));
}

#[test]
fn a_byte_that_never_programs_fails_verification_then_recovers() {
    let b = B::new("SST39VF080");
    let img = b.image();
    let addr = (0x5000..img.len())
        .find(|&i| img[i] != 0xFF && img[i] != b.flash()[i])
        .unwrap();
    b.fault(&format!("program-fail@addr=0x{addr:X}"));
    b.write().code(5).stderr(
        predicate::str::contains("verification failed")
            .and(predicate::str::contains(format!("0x{addr:06X}")))
            .and(predicate::str::contains("boot code is intact")),
    );
    b.ok(&["sim", "fault", "d.mtksim", "--clear"]);
    b.write().success();
    assert_eq!(b.flash(), img);
}

#[test]
fn a_sector_that_never_erases_fails_then_recovers() {
    let b = B::new("SST39VF080");
    b.fault("erase-fail@sector=5");
    // The erase's wait ends on the old content, steady: said at once, not at the
    // read-back.
    b.write().code(5).stderr(
        predicate::str::contains("the erase at 0x005000 did not take")
            .and(predicate::str::contains("drive: partly written")),
    );
    b.ok(&["sim", "fault", "d.mtksim", "--clear"]);
    b.write().success();
    assert_eq!(b.flash(), b.image());
}

#[test]
fn a_stuck_chip_times_out_and_a_power_cycle_frees_it() {
    let b = B::new("MX25L8005");
    b.fault("stuck-busy@op=12000000");
    b.write()
        .code(5)
        .stderr(predicate::str::contains("did not finish").and(predicate::str::contains("drive:")));
    // The next command finds the drive power-cycled.
    b.write().success();
    assert_eq!(b.flash(), b.image());
}

#[test]
fn unreliable_reads_are_refused() {
    let b = B::new("SST39VF080");
    b.fault("read-flip@rate=0.01,seed=9");
    b.cmd(&["read", "sim:d.mtksim", "out.bin"]).code(4).stderr(
        predicate::str::contains("do not agree").and(predicate::str::contains("flash not changed")),
    );
    assert!(!b.p("out.bin").exists(), "no half-good backup left behind");
}

#[test]
fn power_loss_mid_write_then_the_same_command_finishes() {
    let b = B::new("SST39VF080");
    // Two thirds of the way through: inside the programming.
    b.fault(&format!("power-loss@op={}", b.clean_write_ops() * 2 / 3));
    b.write()
        .failure()
        .stderr(predicate::str::contains("drive:").and(predicate::str::contains("same command")));
    b.cmd(&["sim", "show", "d.mtksim"])
        .success()
        .stdout(predicate::str::contains("boot code only").or(predicate::str::contains("working")));
    b.write().success();
    assert_eq!(b.flash(), b.image());
}
