//! The fault campaign: flash images onto virtual drives of every chip family (serial
//! chips behind both SPI bridges, 0x72 and 0x73) while cutting power at hundreds of
//! points, injecting every other fault kind, interrupting the binary with SIGINT,
//! SIGTERM and SIGHUP at random moments, and racing two processes on one drive; then
//! classify every run.
//!
//! Fault runs (in-process, through the same job a user's command runs): the write with
//! the fault, a power cycle, then the same command again.
//! Signal runs (the binary): the write with a `signal@op=N` fault (the real handler at an
//! exact bus operation) or a real `kill` after a random delay; then the same command
//! again, without a power cycle (a signal does not cut power).
//! Race runs (the binary): a second write of another image starts a random moment after
//! the first, on the same drive.
//!
//! silent: the tool exited 0 but the flash differs from the image, or failed without
//!   saying what state the drive is in, or said "not changed"/"not touched" about a
//!   changed flash; a race in which both processes claimed the drive, or in which the
//!   flash holds neither winner's image; an exit code outside the documented table.
//! unrecoverable: the same command, run again, did not bring the drive to the image with
//!   its firmware running.
//! window: the cut fell inside the boot-code rewrite that a 64 KiB-sector chip forces
//!   (erase of sector 0 until the kept boot code is programmed back). A real drive is
//!   dead then too; these runs are counted and reported apart.
//! half-written boot: after the fault and a power cycle the flash differs from both the
//!   old image and the new one, yet byte 0 and every bank start hold a jump: under the
//!   weakest boot rule the sources allow, the drive would start a half-written image.
//!
//! Sizes: small chips (128 KiB) take most cut points, where size does not matter; every
//! family still gets its own. `MTKFLASH_CAMPAIGN_SCALE=0.1` runs a tenth, for a quick
//! look. Last line: `fault-campaign: R runs, U unrecoverable, S silent, H half-written
//! boots`; fails unless U = S = H = 0 (and, at full scale, R >= 5000).
//! Run alone: `cargo nextest run --test fault_campaign --no-capture`.
#![cfg(unix)]

use mtkflash::chips::{by_name, Bus, ChipInfo};
use mtkflash::connect::{Connect, Target};
use mtkflash::error::{NOT_CHANGED, UNTOUCHED};
use mtkflash::files::Backup;
use mtkflash::firmware::family::{self as fam, Family};
use mtkflash::firmware::synth::{self, Spec};
use mtkflash::inference::BOOT_LEN;
use mtkflash::interrupt::Signal;
use mtkflash::jobs;
use mtkflash::ops::{EnterOptions, Recorder, WriteOptions};
use mtkflash::rng::SplitMix;
use mtkflash::sim::store::{NewDrive, Stored};
use mtkflash::sim::taskfile::{EventKind, FlashEvent};
use mtkflash::sim::{Mode, Settings};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default, Debug)]
struct Tally {
    runs: u64,
    unrecoverable: u64,
    silent: u64,
    window: u64,
    half_boots: u64,
    failures: Vec<String>,
    /// Runs per part (fault kind, signal, race).
    parts: BTreeMap<String, u64>,
    /// read-flip rate -> (runs, runs whose first write had to stop).
    flips: BTreeMap<String, (u64, u64)>,
    /// Races: (second refused as busy, both ran one after the other).
    races: (u64, u64),
    /// Signal runs whose signal came after the work was done (exit 0, image written).
    signal_late: u64,
    seconds: BTreeMap<String, f64>,
    /// Runs per drive kind: 8032-era (vendor mode) or a later family.
    kinds: BTreeMap<String, u64>,
    /// Later-family runs whose cut erased the calibration: recovered from the backup.
    restored: u64,
}

impl Tally {
    fn fail(&mut self, silent: bool, line: String) {
        if silent {
            self.silent += 1;
        } else {
            self.unrecoverable += 1;
        }
        self.failures.push(line);
    }
}

/// One drive configuration: a chip, its bridge, its image layout.
struct Config {
    chip: &'static ChipInfo,
    intro: u8,
    liteon: bool,
    /// A drive of a later family (its own updater) instead of an 8032-era one.
    family: Option<Family>,
    old: Vec<u8>,
    new: Vec<u8>,
    /// Another image for the race's second writer.
    other: Vec<u8>,
    /// What the flash holds after `new` (or `other`) was written: the image, but a
    /// later family's drive keeps its boot area and calibration.
    want: Vec<u8>,
    want_other: Vec<u8>,
    events: Vec<FlashEvent>,
    /// Bus operations of a clean write.
    ops: u64,
    /// A later family's drive: the bus operations during which it programs (after the
    /// last chunk, before it is ready).
    programming: Option<(u64, u64)>,
}

impl Config {
    fn name(&self) -> String {
        if let Some(f) = self.family {
            return f.name().to_string();
        }
        let l = if self.liteon { " LiteOn" } else { "" };
        format!("{} 0x{:02X}{l}", self.chip.name, self.intro)
    }
}

enum Case {
    /// In-process: the write with `fault`, a power cycle, the write again.
    Fault(String),
    /// The binary with a `signal@op` fault.
    Signal(u64, Signal),
    /// The binary, killed with a real signal after a delay.
    Kill(Duration, Signal),
    /// Two binaries on one drive, the second started after a delay.
    Race(Duration),
}

fn settings() -> Settings {
    Settings {
        vendor: "ACME".into(),
        product: "DVDRW TEST".into(),
        revision: "0001".into(),
    }
}

fn family_settings(f: Family, rev: &str) -> Settings {
    match f {
        Family::Mt1959 => Settings {
            vendor: "HL-DT-ST".into(),
            product: "BD-RE WH16NS60".into(),
            revision: rev.into(),
        },
        Family::Mt1339 => Settings {
            vendor: "TSSTcorp".into(),
            product: "DVD-ROM SH-D162D".into(),
            revision: rev.into(),
        },
    }
}

/// The image of a later family's drive of revision `rev`, made for unit `unit`.
fn family_image(f: Family, rev: &str, unit: u64) -> Vec<u8> {
    let s = family_settings(f, rev);
    let spec = Spec {
        vendor: s.vendor,
        product: s.product,
        revision: s.revision,
        size: 0,
    };
    synth::family_image(f, &spec, unit)
}

/// What a drive holding `old` holds after `img` was written through its own updater.
fn kept(f: Family, old: &[u8], img: &[u8]) -> Vec<u8> {
    let mut w = img.to_vec();
    if f == Family::Mt1959 {
        w[..fam::BOOT_AREA.len].copy_from_slice(&old[..fam::BOOT_AREA.len]);
        w[fam::CALIBRATION.range()].copy_from_slice(&old[fam::CALIBRATION.range()]);
    }
    w
}

fn image(chip: &ChipInfo, liteon: bool, rev: &str) -> Vec<u8> {
    let spec = Spec {
        vendor: "ACME".into(),
        product: "DVDRW TEST".into(),
        revision: rev.into(),
        size: chip.size as usize,
    };
    if liteon {
        synth::liteon(&spec)
    } else {
        synth::generate(&spec)
    }
}

fn make_drive(dir: &Path, cfg: &Config, faults: &str, record: bool) -> PathBuf {
    let p = dir.join("d.mtksim");
    let mut s = match cfg.family {
        Some(f) => Stored::create_family(f, family_settings(f, "0001"), 1).unwrap(),
        None => Stored::create(NewDrive {
            chip: cfg.chip,
            settings: settings(),
            firmware: Some(cfg.old.clone()),
            bricked: false,
        })
        .unwrap(),
    };
    assert_eq!(s.flash, cfg.old);
    s.meta.faults = faults.to_string();
    if cfg.family.is_none() {
        s.meta.intro = Some(cfg.intro);
    }
    if record {
        s.meta.events = Some(Vec::new());
    }
    s.save(&p).unwrap();
    p
}

fn opts() -> WriteOptions {
    WriteOptions {
        backup: Backup::Skip,
        enter: EnterOptions {
            attempts: 2,
            chip: None,
            force: false,
        },
        ..WriteOptions::default()
    }
}

/// The same job a user's command runs: write `fw` to the drive (for a later family's
/// drive, found by asking it, as the command line does).
fn write(drive: &Path, fw: &Path) -> Result<mtkflash::ops::Report, mtkflash::error::Failure> {
    let mut ui = Recorder {
        answer: true,
        ..Recorder::default()
    };
    let target = Target::Sim(drive.to_path_buf());
    let conn = Connect::default();
    if jobs::ask_family(&target, None) {
        jobs::own_updater_write(&target, &conn, None, fw, &opts(), &mut ui)
    } else {
        jobs::write(&target, &conn, fw, &opts(), &mut ui)
    }
}

fn power_cycle(drive: &Path) {
    let mut st = Stored::load(drive).unwrap();
    st.meta.faults.clear();
    let meta = st.meta.clone();
    let mut ch = st.into_channel();
    ch.power_cycle(7);
    Stored::from_channel(ch, meta).save(drive).unwrap();
}

fn flash_and_mode(drive: &Path) -> (Vec<u8>, Mode) {
    let st = Stored::load(drive).unwrap();
    let flash = st.flash.clone();
    (flash, st.into_channel().drive.mode)
}

/// What a failure said about the drive, judged against the flash after it: None when
/// it is honest.
fn dishonest(drive_line: &str, what: &str, old: &[u8], after: &[u8]) -> Option<String> {
    let d = drive_line.trim();
    if d.is_empty() {
        return Some(format!("failed without a drive state: {what}"));
    }
    let unchanged = d.starts_with(NOT_CHANGED)
        || d.starts_with(UNTOUCHED)
        || d.starts_with("not changed")
        || d.starts_with("flash not changed");
    if unchanged && after != old {
        return Some(format!("said '{d}' but the flash changed ({what})"));
    }
    None
}

fn fault_run(cfg: &Config, fault: &str, t: &Mutex<Tally>) {
    let dir = tempfile::tempdir().unwrap();
    let fw = dir.path().join("new.bin");
    std::fs::write(&fw, &cfg.new).unwrap();
    let drive = make_drive(dir.path(), cfg, fault, false);
    let r1 = write(&drive, &fw);
    let after = Stored::load(&drive).unwrap().flash;
    let silent = match &r1 {
        Ok(_) if after != cfg.want => Some("exit 0 but the flash differs from the image".into()),
        Ok(_) => None,
        Err(f) => dishonest(&f.drive, &f.what, &cfg.old, &after),
    };
    let boot_changed = after[..BOOT_LEN] != cfg.old[..BOOT_LEN];
    power_cycle(&drive);
    let cut = Stored::load(&drive).unwrap().flash;
    let boot_intact =
        cut[..BOOT_LEN] == cfg.old[..BOOT_LEN] || cut[..BOOT_LEN] == cfg.new[..BOOT_LEN];
    let half_boot = cfg.family.is_none()
        && cut != cfg.old
        && cut != cfg.new
        && boot_intact
        && mtkflash::firmware::weakly_bootable(&cut);
    let mut r2 = write(&drive, &fw);
    let mut restored = false;
    if let (Some(f), Err(e)) = (cfg.family, &r2) {
        if e.kind == mtkflash::error::Kind::UnitDataMissing {
            // As the message says: write the drive's backup, then the firmware.
            restored = true;
            r2 = restore_then_write(f, cfg, &drive, &fw);
        }
    }
    let (flash2, mode) = flash_and_mode(&drive);
    let recovered = r2.is_ok() && flash2 == cfg.want && mode == Mode::Normal;
    let window =
        !recovered && boot_changed && cfg.chip.erasers[0].regions[0].size > BOOT_LEN as u32;
    let kind = fault.split(['@', '=']).next().unwrap_or(fault).to_string();
    let mut t = t.lock().unwrap();
    t.runs += 1;
    t.restored += u64::from(restored);
    *t.parts.entry(kind).or_default() += 1;
    if let Some(rate) = fault
        .strip_prefix("read-flip@rate=")
        .and_then(|r| r.split(',').next())
    {
        let e = t.flips.entry(rate.to_string()).or_default();
        e.0 += 1;
        e.1 += u64::from(r1.is_err());
    }
    let name = cfg.name();
    if half_boot {
        let first = cut
            .iter()
            .zip(&cfg.new)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        t.half_boots += 1;
        t.failures.push(format!(
            "HALF-WRITTEN BOOT {name} [{fault}]: bank starts all valid, first difference from the new image at 0x{first:06X}"
        ));
    }
    if let Some(s) = silent {
        t.fail(true, format!("SILENT {name} [{fault}]: {s}"));
    }
    if window {
        t.window += 1;
    } else if !recovered {
        t.fail(
            false,
            format!(
                "UNRECOVERABLE {name} [{fault}]: first run {:?}; rerun {:?}, mode {mode:?}",
                r1.err().map(|f| f.what),
                r2.err().map(|f| f.what)
            ),
        );
    }
}

/// The recovery the refusal asks for: the drive's own backup written back (made before
/// the first write, as `write` does by default), then the firmware.
fn restore_then_write(
    f: Family,
    cfg: &Config,
    drive: &Path,
    fw: &Path,
) -> Result<mtkflash::ops::Report, mtkflash::error::Failure> {
    let st = Stored::load(drive).unwrap();
    let unit = st.meta.unit.clone().expect("a family drive");
    let s = family_settings(f, "0001");
    let backup = fam::encode_backup(
        &fam::UnitBackup {
            family: f,
            vendor: s.vendor,
            product: s.product,
            revision: s.revision,
            serial: unit.serial,
            fw_date: unit.fw_date,
            inquiry: String::new(),
            config_serial: String::new(),
            config_date: String::new(),
            gaps: Vec::new(),
            crc32: 0,
        },
        &cfg.old,
    );
    let b = fw.with_file_name("drive.backup.bin");
    std::fs::write(&b, backup).unwrap();
    write(drive, &b)?;
    write(drive, fw)
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mtkflash")
}

fn spawn_write(dir: &Path, fw: &str) -> std::process::Child {
    std::process::Command::new(bin())
        .current_dir(dir)
        .args(["write", "sim:d.mtksim", fw, "--no-backup"])
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A finished binary run: exit code (None: killed by a signal) and its `drive:` line.
struct Outcome {
    code: Option<i32>,
    stderr: String,
}

impl Outcome {
    fn of(o: std::process::Output) -> Outcome {
        Outcome {
            code: o.status.code(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
    fn drive_line(&self) -> String {
        self.stderr
            .lines()
            .find_map(|l| l.strip_prefix("drive:"))
            .unwrap_or("")
            .trim()
            .to_string()
    }
    fn first_line(&self) -> &str {
        self.stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or("")
    }
}

/// A signal run: the write interrupted (by the signal fault, or a real kill after
/// `delay`), then the same command again.
fn signal_run(cfg: &Config, sig: Signal, at: Result<u64, Duration>, t: &Mutex<Tally>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("new.bin"), &cfg.new).unwrap();
    let fault = match at {
        Ok(op) => format!("signal@op={op},sig={}", sig.name()),
        Err(_) => String::new(),
    };
    let drive = make_drive(dir.path(), cfg, &fault, false);
    let child = spawn_write(dir.path(), "new.bin");
    if let Err(delay) = at {
        std::thread::sleep(delay);
        let n = match sig {
            Signal::Int => libc::SIGINT,
            Signal::Term => libc::SIGTERM,
            Signal::Hup => libc::SIGHUP,
        };
        // SAFETY: sends a signal to our own child process (still a zombie at worst,
        // as it is not yet waited for, so the pid is not reused).
        unsafe { libc::kill(child.id() as i32, n) };
    }
    let first = Outcome::of(child.wait_with_output().unwrap());
    let after = Stored::load(&drive).unwrap().flash;
    let label = match at {
        Ok(op) => format!("SIG{} at op {op}", sig.name()),
        Err(d) => format!("kill -{} after {} us", sig.name(), d.as_micros()),
    };
    let mut silent = None;
    let mut late = false;
    match first.code {
        Some(0) if after != cfg.want => silent = Some("exit 0 but the flash differs".into()),
        Some(0) => late = true,
        Some(130) => {
            if !(first.stderr.contains("interrupted")
                && first.stderr.contains("drive:")
                && first.stderr.contains("next:"))
            {
                silent = Some(format!(
                    "exit 130 without the three lines: {}",
                    first.stderr
                ));
            } else {
                silent = dishonest(&first.drive_line(), first.first_line(), &cfg.old, &after);
            }
        }
        // Killed before the handlers were installed: nothing may have happened.
        None if at.is_err() && after == cfg.old => {}
        c => {
            silent = Some(format!(
                "exit {c:?} (expected 130, or 0 with the image written): {}",
                first.stderr
            ))
        }
    }
    let second = Outcome::of(
        std::process::Command::new(bin())
            .current_dir(dir.path())
            .args(["write", "sim:d.mtksim", "new.bin", "--no-backup"])
            .output()
            .unwrap(),
    );
    let (flash2, mode) = flash_and_mode(&drive);
    let recovered = second.code == Some(0) && flash2 == cfg.want && mode == Mode::Normal;
    let mut t = t.lock().unwrap();
    t.runs += 1;
    let part = match at {
        Ok(_) => format!("signal-{}", sig.name()),
        Err(_) => format!("kill-{}", sig.name()),
    };
    *t.parts.entry(part).or_default() += 1;
    t.signal_late += u64::from(late);
    let name = cfg.name();
    if let Some(s) = silent {
        t.fail(true, format!("SILENT {name} [{label}]: {s}"));
    }
    if !recovered {
        t.fail(
            false,
            format!(
                "UNRECOVERABLE {name} [{label}]: rerun exit {:?}: {}",
                second.code, second.stderr
            ),
        );
    }
}

/// Two processes write different images to one drive, the second `delay` after the
/// first. Each either runs or is refused as busy with the drive not touched; the flash
/// ends holding the image of the last one that ran.
fn race_run(cfg: &Config, delay: Duration, t: &Mutex<Tally>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.bin"), &cfg.new).unwrap();
    std::fs::write(dir.path().join("b.bin"), &cfg.other).unwrap();
    let drive = make_drive(dir.path(), cfg, "", false);
    let mut a = spawn_write(dir.path(), "a.bin");
    std::thread::sleep(delay);
    let mut b = spawn_write(dir.path(), "b.bin");
    // Note which finishes last.
    let mut done: Vec<char> = Vec::new();
    let (mut oa, mut ob) = (None, None);
    while oa.is_none() || ob.is_none() {
        if oa.is_none() && a.try_wait().unwrap().is_some() {
            done.push('a');
            oa = Some(());
        }
        if ob.is_none() && b.try_wait().unwrap().is_some() {
            done.push('b');
            ob = Some(());
        }
        std::thread::sleep(Duration::from_micros(300));
    }
    let a = Outcome::of(a.wait_with_output().unwrap());
    let b = Outcome::of(b.wait_with_output().unwrap());
    let (flash, mode) = flash_and_mode(&drive);
    let label = format!("race, second after {} us", delay.as_micros());
    let mut problem = None;
    for (who, o) in [("first", &a), ("second", &b)] {
        match o.code {
            Some(0) => {}
            Some(4) if o.stderr.contains("busy") && o.drive_line() == UNTOUCHED => {}
            c => problem = Some(format!("{who} exited {c:?}: {}", o.stderr)),
        }
    }
    let (ra, rb) = (a.code == Some(0), b.code == Some(0));
    let want = match (ra, rb) {
        (true, true) => Some(if done.last() == Some(&'a') {
            &cfg.want
        } else {
            &cfg.want_other
        }),
        (true, false) => Some(&cfg.want),
        (false, true) => Some(&cfg.want_other),
        (false, false) => {
            problem.get_or_insert_with(|| "both were refused".into());
            None
        }
    };
    if let Some(w) = want {
        if flash != *w || mode != Mode::Normal {
            problem.get_or_insert_with(|| {
                format!(
                    "exits {:?}/{:?}, finished {done:?}, but the flash holds {} (mode {mode:?})",
                    a.code,
                    b.code,
                    if flash == cfg.want {
                        "the first's image"
                    } else if flash == cfg.want_other {
                        "the second's image"
                    } else if flash == cfg.old {
                        "the old image"
                    } else {
                        "a mix"
                    }
                )
            });
        }
    }
    let mut t = t.lock().unwrap();
    t.runs += 1;
    *t.parts.entry("race".into()).or_default() += 1;
    if ra != rb {
        t.races.0 += 1;
    } else if ra {
        t.races.1 += 1;
    }
    if let Some(p) = problem {
        t.fail(true, format!("SILENT {} [{label}]: {p}", cfg.name()));
    }
}

/// Power-cut points from a recorded clean run: bank boundaries, erases, inside sectors,
/// and evenly spread points in between, `want` in all.
fn cut_points(events: &[FlashEvent], total: u64, want: usize, rng: &mut SplitMix) -> Vec<u64> {
    let mut pts = Vec::new();
    for (i, e) in events.iter().enumerate() {
        pts.push(e.op);
        pts.push(e.op + 3);
        if e.kind == EventKind::Erase {
            pts.push(e.op + 1); // while the erase runs
        }
        let next = events.get(i + 1).map(|n| n.op).unwrap_or(total);
        pts.push((e.op + next) / 2); // inside the sector being written
    }
    pts.sort();
    pts.dedup();
    if pts.len() > want {
        let step = pts.len() as f64 / want as f64;
        pts = (0..want).map(|i| pts[(i as f64 * step) as usize]).collect();
    }
    // Fill up with random points over the whole run (read-back included).
    while pts.len() < want {
        pts.push(1 + rng.next_u64() % total);
    }
    pts
}

fn prepare(chip_name: &str, intro: u8, liteon: bool, family: Option<Family>) -> Config {
    let chip = by_name(chip_name).unwrap();
    let mut cfg = match family {
        None => {
            let (old, new, other) = (
                image(chip, liteon, "0001"),
                image(chip, liteon, "0002"),
                image(chip, liteon, "0003"),
            );
            Config {
                chip,
                intro,
                liteon,
                family,
                want: new.clone(),
                want_other: other.clone(),
                old,
                new,
                other,
                events: Vec::new(),
                ops: 0,
                programming: None,
            }
        }
        Some(f) => {
            let st = Stored::create_family(f, family_settings(f, "0001"), 1).unwrap();
            let old = st.flash;
            // Images made for other units: this drive keeps its own calibration.
            let (new, other) = (family_image(f, "0002", 2), family_image(f, "0003", 3));
            Config {
                chip: st.chip,
                intro,
                liteon,
                family,
                want: kept(f, &old, &new),
                want_other: kept(f, &old, &other),
                old,
                new,
                other,
                events: Vec::new(),
                ops: 0,
                programming: None,
            }
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let fw = dir.path().join("new.bin");
    std::fs::write(&fw, &cfg.new).unwrap();
    let drive = make_drive(dir.path(), &cfg, "", true);
    let r =
        write(&drive, &fw).unwrap_or_else(|f| panic!("{}: clean run failed: {f:?}", cfg.name()));
    assert_eq!(
        Stored::load(&drive).unwrap().flash,
        cfg.want,
        "{}: clean run",
        cfg.name()
    );
    cfg.events = Stored::load(&drive).unwrap().meta.events.unwrap();
    assert!(
        family.is_some() || !cfg.events.is_empty(),
        "{chip_name}: no flash events recorded"
    );
    cfg.ops = r.bus_ops.expect("the virtual drive counts bus operations");
    if family.is_some() {
        cfg.programming = Some(programming_window(&cfg));
    }
    cfg
}

/// Where a later family's drive programs, in bus operations of the write: found by
/// cutting power and looking at the drive (a binary search on each edge).
fn programming_window(cfg: &Config) -> (u64, u64) {
    // 0: not begun (flash as before), 1: programming (loader only), 2: done.
    let stage = |op: u64| -> u8 {
        let dir = tempfile::tempdir().unwrap();
        let fw = dir.path().join("new.bin");
        std::fs::write(&fw, &cfg.new).unwrap();
        let drive = make_drive(dir.path(), cfg, &format!("power-loss@op={op}"), false);
        let _ = write(&drive, &fw);
        let st = Stored::load(&drive).unwrap();
        if st.meta.unit.as_ref().is_some_and(|u| u.loader_only) {
            1
        } else if st.flash == cfg.old {
            0
        } else {
            2
        }
    };
    let edge = |below: u8| {
        let (mut lo, mut hi) = (1, cfg.ops);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if stage(mid) <= below {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    };
    let (a, b) = (edge(0), edge(1));
    assert!(
        a < b,
        "{}: no programming window found ({a}, {b})",
        cfg.name()
    );
    (a, b)
}

/// The cases for a later family's drive: power cuts anywhere (during the checks, the
/// backup, the upload, the programming, the read-back), a byte or sector its own
/// programming fails on, read-flip, bus-float, signals and races. (stuck-busy and the
/// intro faults are about a flash chip or a vendor intro the host never drives here.)
fn family_cases(cfg: &Config, scale: f64, rng: &mut SplitMix) -> Vec<Case> {
    let n = |full: usize| ((full as f64 * scale).round() as usize).max(1);
    let mut out: Vec<Case> = (0..n(120))
        .map(|_| Case::Fault(format!("power-loss@op={}", 1 + rng.next_u64() % cfg.ops)))
        .collect();
    for rate in ["0.000001", "0.00001", "0.0001", "0.001"] {
        for _ in 0..n(4) {
            let seed = rng.next_u64() % 1_000_000;
            out.push(Case::Fault(format!("read-flip@rate={rate},seed={seed}")));
        }
    }
    out.push(Case::Fault("bus-float".into()));
    // Power cuts while the drive programs: it runs its loader only after.
    let (a, b) = cfg.programming.expect("found by prepare");
    for k in 0..n(20) as u64 {
        out.push(Case::Fault(format!(
            "power-loss@op={}",
            a + k * (b - a) / n(20) as u64
        )));
    }
    // The drive's own programming meets a byte that does not program, a sector that
    // does not erase (in the part it programs: above the MT1959 boot area).
    let from = fam::programmed(cfg.family.expect("a family"), cfg.new.len()).start;
    let changed: Vec<usize> = (from..cfg.new.len())
        .filter(|&i| cfg.want[i] != cfg.old[i] && cfg.want[i] != 0xFF)
        .collect();
    for _ in 0..n(4) {
        out.extend(fail_cases(&changed, rng));
    }
    for i in 0..n(45) {
        let sig = Signal::ALL[i % 3];
        if i % 4 == 3 {
            out.push(Case::Kill(
                Duration::from_micros(rng.next_u64() % 300_000),
                sig,
            ));
        } else {
            out.push(Case::Signal(1 + rng.next_u64() % cfg.ops, sig));
        }
    }
    for _ in 0..n(10) {
        out.push(Case::Race(Duration::from_micros(rng.next_u64() % 200_000)));
    }
    out
}

/// A byte that does not program and a sector that does not erase, each picked among
/// the `changed` addresses.
fn fail_cases(changed: &[usize], rng: &mut SplitMix) -> [Case; 2] {
    let a = changed[rng.next_u64() as usize % changed.len()];
    let s = changed[rng.next_u64() as usize % changed.len()] / 0x1000;
    [
        Case::Fault(format!("program-fail@addr=0x{a:X}")),
        Case::Fault(format!("erase-fail@sector={s}")),
    ]
}

/// The cases for one configuration, `scale` times the full campaign.
fn cases(cfg: &Config, scale: f64, rng: &mut SplitMix) -> Vec<Case> {
    if cfg.family.is_some() {
        return family_cases(cfg, scale, rng);
    }
    let n = |full: usize| ((full as f64 * scale).round() as usize).max(1);
    let kib = cfg.chip.size / 1024;
    // Most cut points on the small chips, where a run is cheap and size does not
    // matter; every family keeps its own.
    let (cuts, signals, races) = match kib {
        0..=128 => (n(1300), n(450), n(150)),
        129..=256 => (n(60), n(24), n(6)),
        _ => (n(30), n(12), n(3)),
    };
    let mut out: Vec<Case> = cut_points(&cfg.events, cfg.ops, cuts, rng)
        .into_iter()
        .map(|op| Case::Fault(format!("power-loss@op={op}")))
        .collect();
    // Power cuts during the kept boot code's rewrite (64 KiB-sector chips).
    if let Some(e0) = cfg
        .events
        .iter()
        .find(|e| e.kind == EventKind::Erase && e.addr < 0x10000)
    {
        for d in [1u64, 2_000, 20_000, 60_000] {
            out.push(Case::Fault(format!("power-loss@op={}", e0.op + d)));
        }
    }
    let changed: Vec<usize> = (BOOT_LEN..cfg.new.len())
        .filter(|&i| cfg.old[i] != cfg.new[i] && cfg.new[i] != 0xFF)
        .collect();
    for _ in 0..n(4) {
        out.extend(fail_cases(&changed, rng));
        let first = cfg.events[0].op;
        let op = first + rng.next_u64() % (cfg.ops - first);
        out.push(Case::Fault(format!("stuck-busy@op={op}")));
    }
    for rate in ["0.000001", "0.00001", "0.0001", "0.001"] {
        for _ in 0..n(4) {
            let seed = rng.next_u64() % 1_000_000;
            out.push(Case::Fault(format!("read-flip@rate={rate},seed={seed}")));
        }
    }
    for f in [
        "intro-window=5000",
        "intro-late=600",
        "no-intro",
        "bus-float",
    ] {
        out.push(Case::Fault(f.into()));
    }
    for i in 0..signals {
        let sig = Signal::ALL[i % 3];
        if i % 4 == 3 {
            // A real kill at a random moment of the process's life (up to ~0.3 s).
            let us = rng.next_u64() % 300_000;
            out.push(Case::Kill(Duration::from_micros(us), sig));
        } else {
            out.push(Case::Signal(1 + rng.next_u64() % cfg.ops, sig));
        }
    }
    for _ in 0..races {
        out.push(Case::Race(Duration::from_micros(rng.next_u64() % 200_000)));
    }
    out
}

fn part_of(c: &Case) -> &'static str {
    match c {
        Case::Fault(_) => "faults",
        Case::Signal(..) | Case::Kill(..) => "signals",
        Case::Race(_) => "races",
    }
}

/// "a 3, b 5": a tally's counts by name.
fn counts(m: &BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn fault_campaign() {
    let wall = Instant::now();
    let scale: f64 = std::env::var("MTKFLASH_CAMPAIGN_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let mut configs: Vec<(&str, u8, bool, Option<Family>)> = [
        "SST39SF010A",
        "Pm39LV010",
        "Am29F040B",
        "W29C020",
        "MX25L2005",
        "SST25LF020",
        "SST25VF040B",
        "PM25LV020",
    ]
    .into_iter()
    .flat_map(|c| {
        let spi = by_name(c).unwrap().bus() == Bus::Spi;
        let intros: &[u8] = if spi { &[0x72, 0x73] } else { &[0x70] };
        intros.iter().map(move |&i| (c, i, false, None))
    })
    .collect();
    // LiteOn-layout images, whose boot marks are the jump at 0x4000 and LITEONIT.
    configs.push(("SST39SF040", 0x70, true, None));
    configs.push(("MX25L4005", 0x73, true, None));
    // The later families, through their own updater.
    configs.push(("MX25L1605D", 0, false, Some(Family::Mt1959)));
    configs.push(("MX25L2005", 0, false, Some(Family::Mt1339)));
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(8);

    // Clean runs, with the flash events recorded, in parallel.
    let t0 = Instant::now();
    let next = Mutex::new(0usize);
    let prepared = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                let Some(&(c, intro, liteon, family)) = configs.get(i) else {
                    break;
                };
                let cfg = prepare(c, intro, liteon, family);
                prepared.lock().unwrap().push((i, cfg));
            });
        }
    });
    let mut prepared = prepared.into_inner().unwrap();
    prepared.sort_by_key(|p| p.0);
    let configs: Vec<Config> = prepared.into_iter().map(|p| p.1).collect();
    let clean = t0.elapsed();

    // Every case of every configuration, interleaved, shared by the workers.
    let mut rng = SplitMix(0x5EED_CA4F);
    let mut work: Vec<(usize, Case)> = Vec::new();
    for (i, cfg) in configs.iter().enumerate() {
        work.extend(cases(cfg, scale, &mut rng).into_iter().map(|c| (i, c)));
    }
    // Shuffle, so the workers' loads even out and no two races share a moment.
    for i in (1..work.len()).rev() {
        work.swap(i, rng.next_u64() as usize % (i + 1));
    }
    let total_cases = work.len();
    let work = Mutex::new(work.into_iter());
    let tally = Mutex::new(Tally::default());
    let seconds = Mutex::new(BTreeMap::<&str, f64>::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let Some((i, case)) = work.lock().unwrap().next() else {
                    break;
                };
                let cfg = &configs[i];
                let t = Instant::now();
                match &case {
                    Case::Fault(f) => fault_run(cfg, f, &tally),
                    Case::Signal(op, sig) => signal_run(cfg, *sig, Ok(*op), &tally),
                    Case::Kill(d, sig) => signal_run(cfg, *sig, Err(*d), &tally),
                    Case::Race(d) => race_run(cfg, *d, &tally),
                }
                *seconds.lock().unwrap().entry(part_of(&case)).or_default() +=
                    t.elapsed().as_secs_f64();
                let kind = cfg
                    .family
                    .map(|f| f.name())
                    .unwrap_or("8032-era (vendor mode)");
                *tally
                    .lock()
                    .unwrap()
                    .kinds
                    .entry(kind.to_string())
                    .or_default() += 1;
            });
        }
    });
    let mut t = tally.into_inner().unwrap();
    for (k, v) in seconds.into_inner().unwrap() {
        t.seconds.insert(k.to_string(), v);
    }
    for f in &t.failures {
        eprintln!("{f}");
    }
    let mut report = Vec::new();
    report.push(format!(
        "configurations: {} ({} chips; serial chips behind both bridges)",
        configs
            .iter()
            .map(Config::name)
            .collect::<Vec<_>>()
            .join(", "),
        configs.len()
    ));
    report.push(format!("runs by drive: {}", counts(&t.kinds)));
    report.push(format!("runs by kind: {}", counts(&t.parts)));
    report.push(format!(
        "read-flip, runs stopped by an unreliable connection: {}",
        t.flips
            .iter()
            .map(|(r, (n, s))| format!("rate {r}: {s} of {n}"))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    report.push(format!(
        "races: {} times the second writer was refused as busy, {} times they ran one after the other",
        t.races.0, t.races.1
    ));
    report.push(format!(
        "signals: {} arrived after the work was done (exit 0, image written)",
        t.signal_late
    ));
    report.push(format!(
        "later families: {} runs found the calibration erased by a cut programming, were refused (unit-data-missing) and recovered by writing the drive's backup first",
        t.restored
    ));
    report.push(format!(
        "window: {} runs hit the boot-code rewrite of 64 KiB-sector chips (a real drive dies there too)",
        t.window
    ));
    report.push(format!(
        "wall time: {:.0} s in all with {workers} workers (clean runs {:.1} s); worker seconds: {}",
        wall.elapsed().as_secs_f64(),
        clean.as_secs_f64(),
        t.seconds
            .iter()
            .map(|(k, v)| format!("{k} {v:.0} s"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let line = format!(
        "fault-campaign: {} runs, {} unrecoverable, {} silent, {} half-written boots",
        t.runs, t.unrecoverable, t.silent, t.half_boots
    );
    report.push(line.clone());
    let text = report.join("\n") + "\n";
    eprint!("{text}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fault-campaign.txt");
    let _ = std::fs::write(out, &text);
    assert_eq!(t.runs as usize, total_cases);
    if scale >= 1.0 {
        assert!(t.runs >= 5000, "the campaign ran only {} runs", t.runs);
    }
    assert_eq!(
        (t.unrecoverable, t.silent, t.half_boots),
        (0, 0, 0),
        "{line}"
    );
}

/// Found by the campaign: a power cut while the identity string is programmed leaves it
/// cut short (0xFF tail) in a drive that runs its boot code only; the rerun took that for
/// another model and refused. The same command must finish the job.
#[test]
fn a_cut_inside_the_identity_is_finished_by_the_same_command() {
    let cfg = prepare("Pm39LV010", 0x70, false, None);
    let id = mtkflash::firmware::find_identity(&cfg.new).expect("an identity");
    let region = id.offset..id.offset + 36;
    // The flash after a power cut at `op`.
    let cut_at = |op: u64| -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let fw = dir.path().join("new.bin");
        std::fs::write(&fw, &cfg.new).unwrap();
        let drive = make_drive(dir.path(), &cfg, &format!("power-loss@op={op}"), false);
        let _ = write(&drive, &fw);
        Stored::load(&drive).unwrap().flash
    };
    // The first cut point after which the identity holds the new image's (nothing
    // rewrites it later): found by a binary search, so the test follows the engine.
    let (mut lo, mut hi) = (1, cfg.ops);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if cut_at(mid)[region.clone()] == cfg.new[region.clone()] {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let done = lo;
    // A few bytes before: the identity cut short, its tail still erased.
    let short = cut_at(done - 200);
    assert!(
        short[region.clone()] != cfg.new[region.clone()] && short[region.clone()].contains(&0xFF),
        "{:02X?}",
        &short[region.clone()]
    );
    let t = Mutex::new(Tally::default());
    for op in [done - 1, done - 200] {
        fault_run(&cfg, &format!("power-loss@op={op}"), &t);
    }
    let t = t.into_inner().unwrap();
    assert_eq!(t.runs, 2);
    assert!(t.failures.is_empty(), "{:?}", t.failures);
}

/// Found by the campaign (kill -HUP during an Am29F040B write): an interruption while the
/// rewritten boot code was read back said "flash not changed"; and one inside the boot
/// code's rewrite stopped there, leaving a drive that cannot start. An interruption
/// waits until the boot code is back, and says what the write had done.
#[test]
fn an_interrupt_while_the_new_boot_code_is_read_back_says_what_was_written() {
    let cfg = prepare("Am29F040B", 0x70, false, None);
    let erase0 = cfg
        .events
        .iter()
        .find(|e| e.kind == EventKind::Erase && e.addr < 0x10000)
        .expect("a 64 KiB-sector chip erases sector 0")
        .op;
    let last_boot = cfg
        .events
        .iter()
        .rfind(|e| e.kind == EventKind::Program && (e.addr as usize) < BOOT_LEN)
        .expect("the boot code is programmed back")
        .op;
    // Inside the rewrite window, and while the new boot code is read back.
    let points = [1u64, 2_000, 20_000, 60_000]
        .map(|d| erase0 + d)
        .into_iter()
        .chain([5_000u64, 50_000, 100_000, 150_000].map(|d| last_boot + d));
    for op in points {
        let dir = tempfile::tempdir().unwrap();
        let fw = dir.path().join("new.bin");
        std::fs::write(&fw, &cfg.new).unwrap();
        let fault = format!("signal@op={op},sig=HUP");
        let drive = make_drive(dir.path(), &cfg, &fault, false);
        mtkflash::interrupt::clear();
        let f = write(&drive, &fw).expect_err("interrupted");
        mtkflash::interrupt::clear();
        let after = Stored::load(&drive).unwrap().flash;
        assert_eq!(f.kind, mtkflash::error::Kind::Interrupted, "{}", f.what);
        assert_eq!(
            dishonest(&f.drive, &f.what, &cfg.old, &after),
            None,
            "[{fault}]"
        );
        // It stopped only once the boot code was back: never inside sector 0.
        assert!(!f.what.contains("step at 0x00"), "[{fault}] {}", f.what);
        assert!(
            !f.drive.contains("boot code may be damaged"),
            "[{fault}] {}",
            f.drive
        );
        // The drive still starts, and the same command finishes the job.
        write(&drive, &fw).unwrap_or_else(|e| panic!("[{fault}] rerun: {}", e.what));
        assert_eq!(Stored::load(&drive).unwrap().flash, cfg.want);
    }
}
