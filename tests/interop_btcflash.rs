//! Interop with Debian's btcflash (package dvd+rw-tools), an independent implementation
//! of the BTC update protocol: the unmodified program flashes the virtual drive through
//! an LD_PRELOAD shim (tests/shim/sgshim.c), and mtkflash's own SG_IO transport does the
//! same through the same shim; both CDB streams are compared.
//! Skipped, saying why, when btcflash or a C compiler is missing (`.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mtkflash");

fn which(prog: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file())
}

struct Env {
    dir: tempfile::TempDir,
    shim: PathBuf,
}

fn setup() -> Option<Env> {
    if which("btcflash").is_none() {
        eprintln!(
            "btcflash interop: SKIPPED (btcflash not installed: apt-get install dvd+rw-tools)"
        );
        return None;
    }
    setup_shim()
}

/// The shim alone (mtkflash's own SG_IO code against a virtual drive).
fn setup_shim() -> Option<Env> {
    if !cfg!(target_os = "linux") {
        eprintln!("SG_IO shim: SKIPPED (needs Linux)");
        return None;
    }
    let Some(cc) = which("cc").or_else(|| which("gcc")) else {
        eprintln!("btcflash interop: SKIPPED (no C compiler for the shim)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let shim = dir.path().join("sgshim.so");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/shim/sgshim.c");
    let st = Command::new(cc)
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o"])
        .arg(&shim)
        .arg(&src)
        .arg("-ldl")
        .status()
        .unwrap();
    assert!(st.success(), "the shim must compile cleanly");
    Some(Env { dir, shim })
}

impl Env {
    /// The device path the shim answers for: one per test, so tests running at once
    /// never share a drive lock (mtkflash locks a pass-through device by its name).
    fn dev(&self) -> String {
        let dir = self.dir.path().file_name().unwrap().to_string_lossy();
        format!("/dev/mtksim-{dir}")
    }
    fn p(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }
    fn mtk(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .current_dir(self.dir.path())
            .args(args)
            .output()
            .unwrap()
    }
    /// Serve `drive` for one connection; returns the server process.
    fn serve(&self, drive: &str, log: &str) -> std::process::Child {
        let sock = self.p("s.sock");
        let _ = std::fs::remove_file(&sock);
        let child = Command::new(BIN)
            .current_dir(self.dir.path())
            .args(["sim", "serve", drive, "--socket"])
            .arg(&sock)
            .arg("--log")
            .arg(self.p(log))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while !sock.exists() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }
    fn shimmed(&self, prog: &str) -> Command {
        let mut c = Command::new(prog);
        c.current_dir(self.dir.path())
            .env("LD_PRELOAD", &self.shim)
            .env("MTKSHIM_DEV", self.dev())
            .env("MTKSHIM_SOCK", self.p("s.sock"));
        c
    }
    fn firmware(&self, drive: &str) -> String {
        let out = format!("{drive}.bin");
        let _ = std::fs::remove_file(self.p(&out));
        assert!(self.mtk(&["sim", "export", drive, &out]).status.success());
        let f = std::fs::read(self.p(&out)).unwrap();
        mtkflash::firmware::find_identity(&f).unwrap().revision
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn write_buffer_stream(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("cdb=3B"))
        .map(|l| l.split(" in=").next().unwrap().to_string())
        .collect()
}

#[test]
fn btcflash_and_mtkflash_update_the_virtual_drive_alike() {
    let Some(env) = setup() else { return };
    assert!(env
        .mtk(&["sim", "new", "d.mtksim", "--chip", "SST39VF080"])
        .status
        .success());
    assert_eq!(env.firmware("d.mtksim"), "0055");

    // 1. The unmodified btcflash.
    let server = env.serve("d.mtksim", "btcflash.log");
    let mut bt = env
        .shimmed("btcflash")
        .arg(env.dev())
        .arg(fixture("btc-ide1008-0758.bin"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    bt.stdin.take().unwrap().write_all(b"YES\n").unwrap();
    let out = bt.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "btcflash failed:\n{text}");
    assert!(
        text.contains("Drive is now:           [BTC     ][DVDRW IDE1008   ][0758]"),
        "{text}"
    );
    assert!(server.wait_with_output().unwrap().status.success());
    assert_eq!(
        env.firmware("d.mtksim"),
        "0758",
        "the drive runs what btcflash wrote"
    );
    let exported = std::fs::read(env.p("d.mtksim.bin")).unwrap();
    assert_eq!(
        exported,
        std::fs::read(fixture("btc-ide1008-0758.bin")).unwrap()
    );
    eprintln!("btcflash interop: btcflash flashed the virtual drive to 0758");

    // 2. mtkflash's own SG_IO transport through the same shim, back to 0055.
    let server = env.serve("d.mtksim", "mtkflash.log");
    let out = env
        .shimmed(BIN)
        .arg("--trace")
        .arg(env.p("sg.trace"))
        .args(["write", &env.dev()])
        .arg(fixture("btc-ide1008-0055.bin"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mtkflash failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("Drive is now:       [BTC][DVDRW IDE1008][0055]"),
        "{text}"
    );
    assert!(server.wait_with_output().unwrap().status.success());
    assert_eq!(env.firmware("d.mtksim"), "0055");

    // The pass-through trace has one C line per command, lengths but no data.
    let trace = std::fs::read_to_string(env.p("sg.trace")).unwrap();
    let c: Vec<&str> = trace
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("C"))
        .collect();
    assert_eq!(
        c.iter().filter(|l| l.contains(" C 3B06")).count(),
        257,
        "256 chunks + the checksum block"
    );
    assert!(
        c.iter()
            .any(|l| l.contains(" C 3B07") && l.contains(" - 0 00 ")),
        "the commit, no data, GOOD"
    );
    assert!(
        c.iter().any(|l| l.contains(" C 000000000000 - 0 02 70")),
        "TEST UNIT READY with its sense"
    );
    assert!(
        trace.len() < 40_000,
        "no payload in the trace ({} bytes)",
        trace.len()
    );

    // 3. Both speak the protocol the same way: identical WRITE BUFFER commands.
    let a = write_buffer_stream(&env.p("btcflash.log"));
    let b = write_buffer_stream(&env.p("mtkflash.log"));
    assert_eq!(a.len(), 258, "256 chunks, the checksum block, the commit");
    // Same CDBs and lengths; the data differs only because the images differ.
    assert_eq!(a, b);
    eprintln!(
        "btcflash interop: mtkflash's SG_IO path sends the same {} WRITE BUFFER commands",
        a.len()
    );
}

#[test]
fn a_model_mismatch_is_refused_before_any_upload() {
    let Some(env) = setup() else { return };
    assert!(env
        .mtk(&[
            "sim",
            "new",
            "l.mtksim",
            "--chip",
            "MX25L8005",
            "--drive",
            "LITE-ON|DVDRW SHW-160P6S|PS0A"
        ])
        .status
        .success());
    let server = env.serve("l.mtksim", "refused.log");
    let out = env
        .shimmed(BIN)
        .args(["write", &env.dev()])
        .arg(fixture("btc-ide1008-0758.bin"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.wait_with_output().unwrap();
    let log = std::fs::read_to_string(env.p("refused.log")).unwrap();
    assert!(!log.contains("cdb=3B"), "nothing uploaded:\n{log}");
}

#[test]
fn vendor_mode_through_ata_pass_through_over_real_sg_io() {
    let Some(env) = setup() else { return };
    // A 128 KiB chip: every vendor command is one SG_IO round trip through the shim.
    assert!(env
        .mtk(&[
            "sim",
            "new",
            "v.mtksim",
            "--chip",
            "SST39SF010A",
            "--bricked"
        ])
        .status
        .success());
    let img = mtkflash::firmware::synth::generate(&mtkflash::firmware::synth::Spec {
        size: 0x20000,
        ..mtkflash::firmware::synth::Spec::btc("0758")
    });
    std::fs::write(env.p("small.bin"), &img).unwrap();
    let server = env.serve("v.mtksim", "vendor.log");
    let out = env
        .shimmed(BIN)
        .args(["write", &env.dev(), "--method", "vendor", "--no-backup"])
        .arg(env.p("small.bin"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}\n{err}");
    assert!(err.contains("experimental"), "{err}");
    assert!(
        text.contains("runs boot code only") && text.contains("Drive now: BTC DVDRW IDE1008 0758"),
        "{text}"
    );
    assert!(server.wait_with_output().unwrap().status.success());
    assert_eq!(
        env.firmware("v.mtksim"),
        "0758",
        "a boot-only drive recovered without task-file ports"
    );
    let log = std::fs::read_to_string(env.p("vendor.log")).unwrap();
    assert!(
        log.lines().filter(|l| l.starts_with("cdb=85")).count() > 1000,
        "vendor commands went as ATA PASS-THROUGH(16)"
    );
}

/// An MT1959 Blu-ray writer behind the real SG_IO code (the shim): found by asking it,
/// written with its own calibration kept, and the CDB stream as protocol.md section 7
/// says (RD's prepare, 128 chunks of 16 KiB, then TEST UNIT READY and READ BUFFER).
#[test]
fn an_mt1959_drive_over_real_sg_io() {
    let Some(env) = setup_shim() else { return };
    for (name, unit) in [("bd.mtksim", "1"), ("other.mtksim", "2")] {
        assert!(env
            .mtk(&["sim", "new", name, "--family", "mt1959", "--unit", unit])
            .status
            .success());
    }
    assert!(env
        .mtk(&["sim", "export", "other.mtksim", "new.bin"])
        .status
        .success());
    let before = mtkflash::sim::store::Stored::load(&env.p("bd.mtksim"))
        .unwrap()
        .flash;
    let server = env.serve("bd.mtksim", "bd.log");
    let state = env.p("state");
    let out = env
        .shimmed(BIN)
        .env("XDG_STATE_HOME", &state)
        .args(["write", &env.dev(), "new.bin", "--no-backup"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("Family: mt1959") && text.contains("Verify OK"),
        "{text}"
    );
    assert!(server.wait_with_output().unwrap().status.success());
    let after = mtkflash::sim::store::Stored::load(&env.p("bd.mtksim"))
        .unwrap()
        .flash;
    let cal = mtkflash::firmware::family::CALIBRATION.range();
    assert_eq!(
        after[cal.clone()],
        before[cal],
        "the drive's own calibration"
    );
    let log = std::fs::read_to_string(env.p("bd.log")).unwrap();
    let writes: Vec<&str> = log.lines().filter(|l| l.contains("cdb=3B")).collect();
    assert_eq!(writes.len(), 129, "{log}");
    // The diagnostic log of the pass-through session holds its CDBs (the same 129
    // WRITE BUFFERs, no data).
    let logs: Vec<PathBuf> = std::fs::read_dir(state.join("mtkflash/logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let diag = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(diag.contains("# mtkflash trace 1"), "{diag}");
    assert_eq!(
        diag.lines().filter(|l| l.contains(" C 3B")).count(),
        129,
        "{diag}"
    );
    assert!(
        writes[0].contains("cdb=3B010000000000000000"),
        "{}",
        writes[0]
    );
    assert!(
        writes[128].contains("cdb=3B06001FC00000400000"),
        "{}",
        writes[128]
    );
}
