//! Ctrl-C / SIGTERM during a write: the step in flight finishes, the tool stops at a safe
//! point, says exactly what the flash holds and how to finish, keeps the backup, exits 130,
//! and running the same command again completes the job.

use mtkflash::connect::{Connect, Target};
use mtkflash::error::Exit;
use mtkflash::files::Backup;
use mtkflash::jobs;
use mtkflash::ops::{Event, Ui, WriteOptions};
#[cfg(unix)]
use std::io::{BufRead, BufReader};
use std::path::Path;
#[cfg(unix)]
use std::process::{Command, Stdio};

/// Requests an interruption when the write reaches bank 2.
struct CtrlCAtBank2;
impl Ui for CtrlCAtBank2 {
    fn emit(&mut self, e: &Event) {
        if *e == (Event::Bank { bank: 2 }) {
            mtkflash::interrupt::request();
        }
    }
}

fn fixture(n: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(n)
}

fn flash_of(drive: &Path) -> Vec<u8> {
    mtkflash::sim::store::Stored::load(drive).unwrap().flash
}

#[test]
fn interrupted_write_stops_safely_and_the_same_command_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let drive = dir.path().join("d.mtksim");
    mtkflash::connect::create_default_sim(&drive).unwrap();
    let before = flash_of(&drive);
    let fw = dir.path().join("fw.bin");
    std::fs::copy(fixture("btc-ide1008-0758.bin"), &fw).unwrap();
    let image = std::fs::read(&fw).unwrap();
    let opts = WriteOptions {
        backup: Backup::To(dir.path().join("backup.bin")),
        ..WriteOptions::default()
    };
    let target = Target::Sim(drive.clone());
    let e = jobs::write(&target, &Connect::default(), &fw, &opts, &mut CtrlCAtBank2).unwrap_err();
    assert_eq!(e.exit(), Exit::Interrupted);
    assert!(e.what.contains("interrupted"), "{e}");
    assert!(
        e.drive.contains("steps done")
            && e.drive.contains("boot code is intact")
            && e.drive.contains("backup.bin"),
        "{e}"
    );
    assert!(e.next.contains("same command"), "{e}");
    let mid = flash_of(&drive);
    assert_ne!(mid, before, "some steps were done");
    assert_ne!(mid, image, "it stopped before the end");
    assert_eq!(mid[..0x4000], before[..0x4000], "boot code untouched");
    assert_eq!(
        std::fs::read(dir.path().join("backup.bin")).unwrap(),
        before,
        "backup kept"
    );
    mtkflash::interrupt::clear();
    let opts = WriteOptions {
        backup: Backup::Skip,
        ..WriteOptions::default()
    };
    jobs::write(
        &Target::Sim(drive.clone()),
        &Connect::default(),
        &fw,
        &opts,
        &mut mtkflash::ops::Recorder::default(),
    )
    .unwrap();
    assert_eq!(flash_of(&drive), image);
}

#[cfg(unix)]
#[test]
fn sigint_to_the_binary_during_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_mtkflash");
    let st = Command::new(bin)
        .current_dir(dir.path())
        .args(["sim", "new", "d.mtksim", "--chip", "W25X16"])
        .output()
        .unwrap();
    assert!(st.status.success());
    // A 2 MiB image that differs everywhere outside the boot code: a long write.
    let spec = mtkflash::firmware::synth::Spec {
        vendor: "BTC".into(),
        product: "DVDRW IDE1008".into(),
        revision: "0758".into(),
        size: 0x200000,
    };
    let mut img = mtkflash::firmware::synth::generate(&spec);
    for b in img[0x4000..0x1F0000].iter_mut() {
        *b = !*b;
    }
    for bank in 1..32 {
        img[bank * 0x10000] = 0x02;
    }
    img[0x4000] = 0x02;
    mtkflash::inference::seal_embedded_checksum(&mut img);
    std::fs::write(dir.path().join("fw.bin"), &img).unwrap();
    let mut child = Command::new(bin)
        .current_dir(dir.path())
        .args(["sim:d.mtksim", "w", "/m", "fw.bin", "--force"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    for line in lines.by_ref() {
        if line.unwrap() == "Updating...." {
            // SAFETY: sending SIGINT to our own child process.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            break;
        }
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect(); // keep the pipe open
    let o = child.wait_with_output().unwrap();
    assert!(
        !rest.iter().any(|l| l.starts_with("Done")),
        "the write finished before the signal"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted") && err.contains("drive:") && err.contains("next:"),
        "{err}"
    );
    assert!(dir.path().join("fw.backup.bin").exists(), "backup kept");
    // The same command finishes the job.
    let o = Command::new(bin)
        .current_dir(dir.path())
        .args(["sim:d.mtksim", "w", "/m", "fw.bin", "--force"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Verify OK"));
}

#[cfg(unix)]
#[test]
fn a_closed_output_pipe_never_aborts_a_flash() {
    // `mtkflash sim w /m fw.bin | head -1`: the reader goes away early.
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_mtkflash");
    let drive = dir.path().join("d.mtksim");
    mtkflash::connect::create_default_sim(&drive).unwrap();
    let fw = fixture("btc-ide1008-0758.bin");
    let mut child = Command::new(bin)
        .current_dir(dir.path())
        .args(["sim:d.mtksim", "w", "/m"])
        .arg(&fw)
        .arg("--no-backup")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    drop(out);
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(flash_of(&drive), std::fs::read(&fw).unwrap());
}
