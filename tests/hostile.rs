//! The hostile user's reproducers (one test each), run against the built binary and
//! virtual drives.

#![cfg(unix)]

use assert_cmd::Command;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("mtkflash")
}

fn mtk(dir: &Path) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(dir);
    c
}

fn fixture(n: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(n)
}

/// `mtkflash sim new NAME --chip CHIP [EXTRA...]` in `dir`.
fn sim_new(dir: &Path, name: &str, chip: &str, extra: &[&str]) {
    mtk(dir)
        .args(["sim", "new", name, "--chip", chip])
        .args(extra)
        .assert()
        .success();
}

fn flash_of(p: &Path) -> Vec<u8> {
    mtkflash::sim::store::Stored::load(p).unwrap().flash
}

/// Finding 1: two writes to one drive. The first holds the drive until it is done; the
/// second is refused at once (exit 4, drive not touched, the holder's pid named); the
/// flash holds exactly the first's image.
#[test]
fn a_second_write_to_a_busy_drive_is_refused_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sim_new(d, "c.mtksim", "SST39VF080", &[]);
    let old = fixture("btc-ide1008-0055.bin");
    let new = fixture("btc-ide1008-0758.bin");
    let mut first = std::process::Command::new(bin())
        .current_dir(d)
        .args(["write", "sim:c.mtksim"])
        .arg(&new)
        .args(["--no-backup", "--verify-all"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Start the second once the first is in vendor mode (it holds the lock by then).
    let mut out = BufReader::new(first.stdout.take().unwrap());
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 && !line.contains("Identifying flash type") {
        line.clear();
    }
    assert!(
        line.contains("Identifying"),
        "the first write never got going"
    );
    let second = mtk(d)
        .args(["write", "sim:c.mtksim"])
        .arg(&old)
        .arg("--no-backup")
        .output()
        .unwrap();
    let rest: Vec<String> = out.lines().map(|l| l.unwrap()).collect();
    let status = first.wait().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(4), "{err}");
    assert!(
        err.contains(&format!("busy: another mtkflash (pid {})", first.id())),
        "{err}"
    );
    assert!(err.contains("drive: not touched"), "{err}");
    assert!(status.success(), "the first write: {rest:?}");
    let want = std::fs::read(&new).unwrap();
    assert_eq!(flash_of(&d.join("c.mtksim")), want);
}

/// Finding 1, scan: a drive in use is skipped and said to be.
#[test]
fn scan_skips_a_drive_in_use_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sim_new(d, "a.mtksim", "SST39VF080", &[]);
    sim_new(d, "b.mtksim", "SST39VF080", &[]);
    let f = std::fs::File::open(d.join("a.mtksim")).unwrap();
    f.try_lock().unwrap();
    let out = mtk(d).arg("scan").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("sim:a.mtksim: skipped, busy: another mtkflash"),
        "{text}"
    );
    assert!(!text.contains(". sim:a.mtksim"), "listed: {text}");
    assert!(text.contains("sim:b.mtksim"), "{text}");
}

/// Run `args` on a pseudo-terminal, answering prompts: (text to wait for, what to type).
fn on_pty(dir: &Path, answers: &[(&str, &str)], args: &[&str]) -> (String, i32) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pty/run.py");
    let mut c = std::process::Command::new("python3");
    c.current_dir(dir)
        .env("XDG_STATE_HOME", dir.join("state"))
        .arg(script);
    for (want, send) in answers {
        c.args(["--expect", want, "--send", send]);
    }
    c.arg("--").arg(bin()).args(args);
    let out = c.output().expect("python3");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let code = text
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("exit "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(-1);
    (text, code)
}

/// Finding 7: Ctrl-C at a question ends the program at once, exit 130, drive untouched.
#[test]
fn ctrl_c_at_a_question_ends_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sim_new(d, "a.mtksim", "SST39VF080", &[]);
    let before = std::fs::read(d.join("a.mtksim")).unwrap();
    let (text, code) = on_pty(d, &[("[y/N]", "\\x03")], &["erase", "sim:a.mtksim"]);
    assert_eq!(code, 130, "{text}");
    assert!(text.contains("interrupted at a question"), "{text}");
    assert_eq!(std::fs::read(d.join("a.mtksim")).unwrap(), before);
    // The diagnostic log says what happened up to the question (it has no exit line:
    // the run ended there).
    let logs: Vec<_> = std::fs::read_dir(d.join("state/mtkflash/logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let log = String::from_utf8_lossy(&std::fs::read(&logs[0]).unwrap()).into_owned();
    assert!(
        log.contains("command: ") && log.contains("erase sim:a.mtksim"),
        "{log}"
    );
    assert!(log.contains("asked: "), "{log}");
    assert!(!log.contains("exit: "), "{log}");
    // The drive chooser of the classic form without a port, too.
    let (text, code) = on_pty(d, &[("chose one drive:", "\\x03")], &["r", "/m", "x.bin"]);
    assert_eq!(code, 130, "{text}");
    assert!(!d.join("x.bin").exists());
}

/// Finding 5: `--chip` never overrides a chip that was identified; it stands in only
/// for an unknown ID. A conflict is refused, exit 6, and no file is written.
#[test]
fn chip_never_overrides_an_identified_chip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sim_new(d, "a.mtksim", "SST39VF080", &[]);
    let out = mtk(d)
        .args(["read", "sim:a.mtksim", "b.bin", "--chip", "SST39SF010A"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(
        err.contains("conflicts with the chip the drive identifies: SST39VF080"),
        "{err}"
    );
    assert!(!d.join("b.bin").exists(), "no 128 KiB \"backup\"");
    // Naming the chip the drive has is fine.
    mtk(d)
        .args(["read", "sim:a.mtksim", "c.bin", "--chip", "SST39VF080"])
        .assert()
        .success();
    assert_eq!(std::fs::metadata(d.join("c.bin")).unwrap().len(), 1 << 20);
}

/// Finding 4: a trace never replaces a file (refused before the drive is touched, exit
/// 3), and a trace that cannot be written is reported, not lost in silence.
#[test]
fn a_trace_never_replaces_a_file_and_its_failures_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sim_new(d, "a.mtksim", "SST39SF010A", &[]);
    std::fs::write(d.join("t.trace"), b"keep me").unwrap();
    let before = std::fs::read(d.join("a.mtksim")).unwrap();
    let out = mtk(d)
        .args(["--trace", "t.trace", "info", "sim:a.mtksim"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("already exists"), "{err}");
    assert!(err.contains("drive: not touched"), "{err}");
    assert_eq!(std::fs::read(d.join("t.trace")).unwrap(), b"keep me");
    assert_eq!(std::fs::read(d.join("a.mtksim")).unwrap(), before);
    // /dev/full exists: refused the same way, never "exit 0 with the trace lost".
    let out = mtk(d)
        .args(["--trace", "/dev/full", "info", "sim:a.mtksim"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    // A new name: the trace is there, whole, and nothing else is left behind.
    mtk(d)
        .args(["--trace", "n.trace", "info", "sim:a.mtksim"])
        .assert()
        .success();
    let t = std::fs::read(d.join("n.trace")).unwrap();
    assert!(t.starts_with(b"# mtkflash trace 2\n"));
    let stray: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".mtkflash"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

/// Finding 4: a file that cannot be written in full (a file-size limit: EFBIG) fails
/// the command with exit 3 and says so, instead of exit 0. Traces are now smaller than
/// the drive file, so the limit that stops the trace stops the drive file too; the
/// trace's own failure reaching `finish` is tested in transport::trace
/// (a_trace_that_cannot_be_written_is_reported_by_finish).
#[cfg(target_os = "linux")]
#[test]
fn a_trace_that_cannot_be_written_fails_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sim_new(d, "a.mtksim", "SST39SF010A", &[]);
    let script = format!(
        "trap '' XFSZ; ulimit -f 8; exec {} --trace big.trace info sim:a.mtksim",
        bin().display()
    );
    let out = std::process::Command::new("sh")
        .current_dir(d)
        .args(["-c", &script])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // The drive file (128 KiB) cannot be saved under this limit either: either
    // failure is reported, never exit 0.
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("cannot write the trace") || err.contains("cannot save the virtual drive"),
        "{err}"
    );
}

/// Finding 3: a HEX file cut short (the first 200 records of the combo fixture) would
/// leave a working drive running boot code only. Refused before anything is written
/// (exit 6); with --force it is written, and the result is exit 5, not 0.
#[test]
fn an_image_the_drive_would_not_start_is_refused_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hex = std::fs::read_to_string(fixture("liteon-combo-nk0d-512k.hex")).unwrap();
    let mut part: Vec<&str> = hex.lines().take(200).collect();
    part.push(":00000001FF");
    std::fs::write(d.join("part.hex"), part.join("\n") + "\n").unwrap();
    sim_new(d, "s.mtksim", "SST39SF010A", &[]);
    let before = flash_of(&d.join("s.mtksim"));
    let out = mtk(d)
        .args(["write", "sim:s.mtksim", "part.hex", "--no-backup"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(err.contains("bank(s) 1 (empty)"), "{err}");
    assert_eq!(flash_of(&d.join("s.mtksim")), before, "nothing written");
    let out = mtk(d)
        .args([
            "write",
            "sim:s.mtksim",
            "part.hex",
            "--no-backup",
            "--force",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("runs its boot code only"), "{err}");
    let info = mtk(d).args(["info", "sim:s.mtksim"]).output().unwrap();
    assert!(String::from_utf8_lossy(&info.stdout).contains("BOOT CODE ONLY"));
}

/// Finding 2: erasing the boot code needs its own confirmation, never asked; when done,
/// exit 5 says the truth: only a programmer can help, and where the backup is.
#[test]
fn erasing_the_boot_code_needs_its_own_confirmation_and_tells_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sim_new(d, "a.mtksim", "SST39SF010A", &[]);
    let before = flash_of(&d.join("a.mtksim"));
    let out = mtk(d)
        .args(["erase", "sim:a.mtksim", "--boot", "--yes"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--destroy-boot-code"), "{err}");
    assert_eq!(flash_of(&d.join("a.mtksim")), before);
    let out = mtk(d)
        .args([
            "erase",
            "sim:a.mtksim",
            "--boot",
            "--destroy-boot-code",
            "--yes",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains("the boot code is erased: the drive can only be revived with an external flash programmer"),
        "{err}"
    );
    assert!(err.contains("your backup is erase.backup.bin"), "{err}");
    assert_eq!(std::fs::read(d.join("erase.backup.bin")).unwrap(), before);
    assert!(flash_of(&d.join("a.mtksim")).iter().all(|&b| b == 0xFF));
}

/// Finding 8 (README recovery step 5): the intro fails, the user answers y and power-
/// cycles the drive; the intro is then sent again and again over the window the boot
/// code listens in, so the write goes through, whatever that window is.
#[test]
fn the_power_cycle_retry_gets_the_boot_code_within_its_window() {
    for window in ["500", "1000", "3000"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        sim_new(d, "D.mtksim", "SST39VF080", &[]);
        mtk(d)
            .args([
                "sim",
                "fault",
                "D.mtksim",
                &format!("intro-window={window}"),
            ])
            .assert()
            .success();
        let fw = fixture("btc-ide1008-0758.bin");
        let (text, code) = on_pty(
            d,
            &[("[y/N]", "y\\n")],
            &[
                "sim:D.mtksim",
                "w",
                "/m",
                fw.to_str().unwrap(),
                "--no-backup",
            ],
        );
        assert_eq!(code, 0, "window {window} ms: {text}");
        assert!(text.contains("Sending the vendor intro every"), "{text}");
        assert!(text.contains("Drive now: BTC DVDRW IDE1008 0758"), "{text}");
        assert_eq!(flash_of(&d.join("D.mtksim")), std::fs::read(&fw).unwrap());
    }
}

/// Finding 8, `--retries`: a drive switched on just before the command, still starting
/// (its boot code listens only from 1.5 s after power-on), is caught by the default retries, which send the intro every
/// 50 ms for two more seconds; three intros in a row (0.1) all came too early.
#[test]
fn retries_keep_sending_the_intro_while_the_drive_starts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sim_new(d, "L.mtksim", "SST39VF080", &[]);
    let fw = fixture("btc-ide1008-0758.bin");
    let fw = fw.to_str().unwrap();
    let late = |retries: &str| {
        mtk(d)
            .args(["sim", "fault", "L.mtksim", "intro-late=1500"])
            .assert()
            .success();
        // Switched on just now, and the command typed at once.
        mtk(d)
            .args(["sim", "power-cycle", "L.mtksim"])
            .assert()
            .success();
        mtk(d)
            .args([
                "write",
                "sim:L.mtksim",
                fw,
                "--no-backup",
                "--retries",
                retries,
            ])
            .output()
            .unwrap()
    };
    let one = late("1");
    let err = String::from_utf8_lossy(&one.stderr);
    assert_eq!(one.status.code(), Some(4), "{err}");
    assert!(
        err.contains("intro failed") && err.contains("not touched"),
        "{err}"
    );
    let three = late("3");
    let err = String::from_utf8_lossy(&three.stderr);
    assert!(three.status.success(), "{err}");
    assert_eq!(flash_of(&d.join("L.mtksim")), std::fs::read(fw).unwrap());
}

/// Finding 12: a flaky connection (read-flip at 1e-5, 1e-4 and 1e-3 per read byte) no
/// longer stops reads (17 of 20 seeds stopped at 1e-5 in 0.1), and every backup read
/// is the flash byte for byte.
#[test]
fn reads_outvote_transient_flips_instead_of_giving_up() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sim_new(d, "R.mtksim", "SST39SF040", &[]);
    let want = flash_of(&d.join("R.mtksim"));
    let mut stopped = 0;
    for (i, (rate, seed)) in [1e-5, 1e-4, 1e-3]
        .iter()
        .flat_map(|r| (1..=4).map(move |s| (*r, s)))
        .enumerate()
    {
        let drive = d.join(format!("R{i}.mtksim"));
        std::fs::copy(d.join("R.mtksim"), &drive).unwrap();
        let spec = format!("read-flip@rate={rate},seed={seed}");
        mtk(d)
            .args(["sim", "fault", drive.to_str().unwrap(), &spec])
            .assert()
            .success();
        let out = format!("r{i}.bin");
        let ok = mtk(d)
            .args(["read", &format!("sim:{}", drive.display()), &out])
            .output()
            .unwrap()
            .status
            .success();
        if ok {
            assert_eq!(std::fs::read(d.join(&out)).unwrap(), want, "{spec}");
        } else {
            stopped += 1;
        }
    }
    assert_eq!(stopped, 0, "runs that had to stop");
}

/// Finding 11: a drive file that cannot be saved is refused before the session (not
/// found after a write claimed success), a read-only one is never replaced, and a saved
/// one keeps its mode.
#[test]
fn a_drive_file_that_cannot_be_saved_is_refused_first_and_modes_are_kept() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sim_new(d, "a.mtksim", "SST39SF010A", &[]);
    let p = d.join("a.mtksim");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o444)).unwrap();
    let before = std::fs::read(&p).unwrap();
    let fw = d.join("fw.bin");
    let mut img = flash_of(&p);
    img[0x5000] ^= 0xFF;
    mtkflash::inference::seal_embedded_checksum(&mut img);
    std::fs::write(&fw, &img).unwrap();
    let out = mtk(d)
        .args(["write", "sim:a.mtksim", "fw.bin", "--no-backup"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("could not be saved after the session: the file is read-only"),
        "{err}"
    );
    assert!(err.contains("drive: not touched"), "{err}");
    assert_eq!(std::fs::read(&p).unwrap(), before);
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o444
    );
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
    mtk(d)
        .args(["write", "sim:a.mtksim", "fw.bin", "--no-backup"])
        .assert()
        .success();
    assert_eq!(flash_of(&p), img);
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o640
    );
}

fn image(d: &Path, name: &str, rev: &str, size: usize) -> Vec<u8> {
    let img = mtkflash::firmware::synth::generate(&mtkflash::firmware::synth::Spec {
        vendor: "ACME".into(),
        product: "DVDRW TEST".into(),
        revision: rev.into(),
        size,
    });
    std::fs::write(d.join(name), &img).unwrap();
    img
}

/// Finding 9: on a 64 KiB-sector chip the boot code is erased and rewritten; the window
/// is announced with its length, a person at a terminal is asked, and a failure inside
/// it tells the truth (the boot code may be gone; an external programmer; the backup).
#[test]
fn the_boot_code_window_of_64k_sector_chips_is_announced_asked_and_told_truthfully() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    mtk(d)
        .args([
            "sim",
            "new",
            "a.mtksim",
            "--chip",
            "Am29F040B",
            "--drive",
            "ACME|DVDRW TEST|0001",
        ])
        .assert()
        .success();
    image(d, "new.bin", "0002", 0x80000);
    let before = flash_of(&d.join("a.mtksim"));
    // At a terminal: asked; "n" changes nothing.
    let (text, code) = on_pty(
        d,
        &[("go ahead? [y/N]", "n\\n")],
        &["write", "sim:a.mtksim", "new.bin", "--no-backup"],
    );
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("a power loss would leave the drive without boot code"),
        "{text}"
    );
    assert!(
        text.contains("only an external flash programmer revives it"),
        "{text}"
    );
    assert_eq!(flash_of(&d.join("a.mtksim")), before);
    // A failure while the boot code is rewritten says what may be lost.
    mtk(d)
        .args(["sim", "fault", "a.mtksim", "program-fail@addr=0x100"])
        .assert()
        .success();
    let out = mtk(d)
        .args(["write", "sim:a.mtksim", "new.bin", "--backup", "old.bin"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("the boot code may be damaged"), "{err}");
    assert!(
        err.contains("only an external flash programmer revives it"),
        "{err}"
    );
    assert!(err.contains("the backup old.bin holds everything"), "{err}");
    assert!(
        !err.contains("next:  run the same command again to finish"),
        "{err}"
    );
}

/// Finding 10: messages that were wrong.
#[test]
fn messages_say_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let new = |name: &str, chip: &str| sim_new(d, name, chip, &[]);
    let fw = fixture("btc-ide1008-0758.bin");
    let fw = fw.to_str().unwrap();
    // -q keeps the closing line, as --help promises.
    new("q.mtksim", "SST39VF080");
    let out = mtk(d)
        .args(["-q", "write", "sim:q.mtksim", fw, "--no-backup"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("Done: "), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    new("v0.mtksim", "SST39VF080");
    let out = mtk(d)
        .args([
            "--json",
            "write",
            "sim:v0.mtksim",
            fw,
            "--no-backup",
            "--verify-all",
        ])
        .output()
        .unwrap();
    let ops = bus_ops(&out);
    // A power loss mid-write: not "no drive there, or wrong port"; and with
    // --no-backup no "keep the backup file". (Two thirds into the same write,
    // unfaulted on a copy: inside the programming.)
    new("p0.mtksim", "SST39VF080");
    let out = mtk(d)
        .args(["--json", "write", "sim:p0.mtksim", fw, "--no-backup"])
        .output()
        .unwrap();
    let plain = bus_ops(&out);
    new("p.mtksim", "SST39VF080");
    mtk(d)
        .args([
            "sim",
            "fault",
            "p.mtksim",
            &format!("power-loss@op={}", plain * 2 / 3),
        ])
        .assert()
        .success();
    let out = mtk(d)
        .args(["write", "sim:p.mtksim", fw, "--no-backup"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("lost power or was unplugged"), "{err}");
    assert!(!err.contains("wrong port"), "{err}");
    assert!(!err.contains("keep the backup"), "{err}");
    // A power loss while the write is being read back: written, not confirmed; never
    // "partly written" about a flash that holds everything.
    // (--verify-all reads the whole flash back last: 3 M operations before the end of
    // an unfaulted run is inside that read.)
    new("v.mtksim", "SST39VF080");
    mtk(d)
        .args([
            "sim",
            "fault",
            "v.mtksim",
            &format!("power-loss@op={}", ops - 3_000_000),
        ])
        .assert()
        .success();
    let out = mtk(d)
        .args(["write", "sim:v.mtksim", fw, "--no-backup", "--verify-all"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reading the flash failed"), "{err}");
    assert!(
        err.contains("drive: written, but the read-back failed"),
        "{err}"
    );
    assert!(!err.contains("partly written"), "{err}");
    // A page-write chip's erase counts what it erased.
    new("w.mtksim", "W29C020");
    let out = mtk(d)
        .args(["erase", "sim:w.mtksim", "--yes", "--no-backup"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Erased ") && !text.contains("Erased 0 KiB"),
        "{text}"
    );
    // Ports beyond 16 bits, and drive letters on a system without them.
    let out = mtk(d).args(["info", "0x10000:master"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("end at 0xFFFF"));
    let out = mtk(d).args(["info", "E:"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/dev/srN"), "{err}");
    // --json completions: every stdout line is JSON.
    let out = mtk(d)
        .args(["--json", "completions", "bash"])
        .output()
        .unwrap();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{l}: {e}"));
    }
    // An empty trace compares nothing: not "answered as recorded".
    std::fs::write(d.join("empty.trace"), "").unwrap();
    let out = mtk(d)
        .args(["sim", "replay", "empty.trace", "--drive", "q.mtksim"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("holds no accesses"), "{err}");
}

/// Finding 10: --stop-on-error lists the drives it never tried.
#[test]
fn stop_on_error_accounts_for_every_drive() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for n in ["a", "c"] {
        sim_new(d, &format!("{n}.mtksim"), "SST39VF080", &[]);
    }
    std::fs::copy(fixture("btc-ide1008-0758.hex"), d.join("fw.hex")).unwrap();
    let manifest = r#"{"drives": ["sim:a.mtksim", "sim:missing.mtksim", "sim:c.mtksim"],
        "rules": [{"vendor": "BTC", "product": "DVDRW IDE1008", "firmware": "fw.hex"}]}"#;
    std::fs::write(d.join("m.json"), manifest).unwrap();
    let out = mtk(d)
        .args(["update", "--manifest", "m.json", "--stop-on-error"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0));
    assert!(text.contains("sim:a.mtksim: updated"), "{text}");
    assert!(text.contains("sim:missing.mtksim: failed"), "{text}");
    assert!(text.contains("sim:c.mtksim: not-tried"), "{text}");
    assert!(text.contains("1 not tried"), "{text}");
}

/// Finding 13: outputs are ordinary files of the person who ran the command: mode 0644,
/// and under sudo owned by the invoking user.
#[test]
fn backups_belong_to_the_user_who_ran_sudo() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sim_new(d, "a.mtksim", "SST39SF010A", &[]);
    mtk(d)
        .args(["read", "sim:a.mtksim", "b.bin"])
        .env("SUDO_UID", "4242")
        .env("SUDO_GID", "4343")
        .assert()
        .success();
    let m = std::fs::metadata(d.join("b.bin")).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o644);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        assert_eq!((m.uid(), m.gid()), (4242, 4343));
    }
}

/// The bus operations a `--json` run reported in its last line.
fn bus_ops(out: &std::process::Output) -> u64 {
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(last).unwrap()["bus_ops"]
        .as_u64()
        .unwrap_or_else(|| panic!("{text}"))
}
