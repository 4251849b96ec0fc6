//! Read, write, verify, erase and info over a vendor-mode session.

use super::device::{Device, EnterOptions, Identity, Session};
use super::target::Target;
use super::Ui;
use crate::error::{Exit, Failure, NOT_CHANGED};
use crate::firmware::{self, find_identity, sum16, Analysis, Firmware};
use crate::inference::BOOT_LEN;
use crate::mtk::flash::FlashOps;
use crate::plan::{self, Cost, Step};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BLOCK: usize = 0x1000;

/// Where the backup of the current flash goes before a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backup {
    /// Next to the input file: `<stem>.backup.bin`, or `.backup-2.bin`, `-3`, ... when
    /// taken (an existing backup with the same content is reused).
    Auto,
    To(PathBuf),
    Skip,
}

#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// Also write the boot code (0x0000-0x3FFF): the `/b` switch.
    pub write_boot: bool,
    /// Write even when the image names another drive model.
    pub force: bool,
    pub backup: Backup,
    pub enter: EnterOptions,
    /// Read the whole flash back after writing, not only what was written.
    pub verify_all: bool,
    /// Everything up to the plan (intro, chip ID, read, model check), then show the
    /// plan and leave vendor mode: nothing is erased or programmed.
    pub dry_run: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            write_boot: false,
            force: false,
            backup: Backup::Auto,
            enter: EnterOptions {
                attempts: 3,
                chip: None,
                force: false,
            },
            verify_all: false,
            dry_run: false,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub chip: String,
    pub identity_before: Option<String>,
    pub identity_after: Option<String>,
    pub backup: Option<PathBuf>,
    pub erase_bytes: u64,
    pub program_bytes: u64,
    pub changed_bytes: u64,
    pub sum16: u16,
    pub chip_time: Duration,
    pub modelled: Option<Duration>,
    pub bus_ops: Option<u64>,
    pub wall: Duration,
    pub boot_rewritten: bool,
    pub nothing_to_do: bool,
    /// The drive did not come back running firmware after the reboot.
    pub drive_not_booting: bool,
    /// Written by the drive's own ATAPI updater (no read-back possible).
    pub atapi: bool,
    /// A dry run: the plan was shown, nothing was written.
    pub dry_run: bool,
}

fn read_failure(e: crate::mtk::vendor::VendorError) -> Failure {
    Failure::new(
        Exit::Drive,
        format!("reading the flash failed: {e}"),
        NOT_CHANGED,
        "power-cycle the drive and try again",
    )
}

/// A Ctrl-C between blocks of a read: nothing was changed by reading.
fn stop_if_interrupted(what: &str, at: u32) -> Result<(), Failure> {
    if crate::interrupt::requested() {
        return Err(Failure::new(
            Exit::Interrupted,
            format!("interrupted while {what} at 0x{at:06X}"),
            NOT_CHANGED,
            "run the command again",
        ));
    }
    Ok(())
}

/// Read `len` bytes at `addr`, every block twice; a block read differently is read a
/// third time and must agree with one of the first two.
pub fn read_checked(
    drv: &mut dyn FlashOps,
    addr: u32,
    out: &mut [u8],
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    let mut b = vec![0u8; BLOCK];
    let mut c = vec![0u8; BLOCK];
    for (i, a) in out.chunks_mut(BLOCK).enumerate() {
        let at = addr + (i * BLOCK) as u32;
        stop_if_interrupted("reading", at)?;
        drv.read(at, a).map_err(read_failure)?;
        let b = &mut b[..a.len()];
        drv.read(at, b).map_err(read_failure)?;
        if a != b {
            let c = &mut c[..a.len()];
            drv.read(at, c).map_err(read_failure)?;
            if c == b {
                a.copy_from_slice(c);
            } else if c != a {
                return Err(Failure::new(
                    Exit::Drive,
                    format!("reads of 0x{at:06X}..0x{:06X} do not agree three times in a row: the connection is unreliable", at as usize + a.len()),
                    NOT_CHANGED,
                    "check the cable and power; try a shorter IDE cable or another port",
                ));
            }
        }
        ui.advance(a.len() as u64);
    }
    Ok(())
}

/// Read `out.len()` bytes at `addr` to verify them against `want`: one read per block; a
/// block that differs is read twice more, and what two reads agree on is kept (so a bad
/// bus cannot make a wrong byte look right, and a flaky read does not fail a good write).
pub fn read_verify(
    drv: &mut dyn FlashOps,
    addr: u32,
    out: &mut [u8],
    want: &[u8],
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    for (i, (a, w)) in out.chunks_mut(BLOCK).zip(want.chunks(BLOCK)).enumerate() {
        let at = addr + (i * BLOCK) as u32;
        stop_if_interrupted("verifying", at)?;
        drv.read(at, a).map_err(read_failure)?;
        if a != w {
            read_checked(drv, at, a, &mut super::Recorder::default())?;
        }
        ui.advance(a.len() as u64);
    }
    Ok(())
}

/// Read the whole flash (double-read checked), one `BankN` line per 64 KiB.
pub fn read_all(s: &mut Session<'_>, ui: &mut dyn Ui) -> Result<Vec<u8>, Failure> {
    let size = s.chip.size as usize;
    let mut out = vec![0u8; size];
    let mut drv = s.driver();
    ui.begin("Reading", size as u64);
    for (bank, chunk) in out.chunks_mut(firmware::BANK).enumerate() {
        read_checked(drv.as_mut(), (bank * firmware::BANK) as u32, chunk, ui)?;
    }
    ui.end();
    Ok(out)
}

/// [`read_all`], leaving vendor mode when it fails.
fn read_all_or_leave(s: &mut Session<'_>, ui: &mut dyn Ui) -> Result<Vec<u8>, Failure> {
    read_all(s, ui).inspect_err(|_| {
        let _ = s.v.leave();
    })
}

/// Write `data` to `path` atomically without replacing an existing file.
pub fn write_new_file(path: &Path, data: &[u8]) -> Result<(), Failure> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let io = |e: std::io::Error| {
        Failure::file(
            format!("cannot write {}: {e}", path.display()),
            "choose another file name or folder",
        )
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".mtkflash")
        .tempfile_in(&dir)
        .map_err(io)?;
    tmp.write_all(data).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::file(
                format!("{} already exists; it is not overwritten", path.display()),
                "choose another file name, or move the old file away",
            )
        } else {
            io(e.error)
        }
    })?;
    Ok(())
}

/// Can a new file be created at `path`? Checked before the drive is touched.
pub fn check_output(path: &Path, input: Option<&Path>) -> Result<(), Failure> {
    if path.exists() {
        return Err(Failure::file(
            format!(
                "{} already exists; mtkflash never overwrites a file",
                path.display()
            ),
            "give another file name, or move the old file away",
        ));
    }
    if let Some(inp) = input {
        let same = match (
            inp.canonicalize(),
            path.parent()
                .map(|d| {
                    if d.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        d
                    }
                })
                .and_then(|d| d.canonicalize().ok()),
        ) {
            (Ok(a), Some(d)) => path.file_name().map(|n| d.join(n) == a).unwrap_or(false),
            _ => false,
        };
        if same || inp == path {
            return Err(Failure::file(
                "the output file is the input file",
                "give the backup another name",
            ));
        }
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    tempfile::Builder::new()
        .prefix(".mtkflash-probe")
        .tempfile_in(&dir)
        .map(|_| ())
        .map_err(|e| {
            Failure::file(
                format!("cannot create files in {}: {e}", dir.display()),
                "choose a folder you can write to",
            )
        })
}

fn auto_backup_path(input: &Path, content: &[u8]) -> (PathBuf, bool) {
    let dir = input.parent().unwrap_or(Path::new(""));
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "firmware".into());
    for n in 1..1000 {
        let name = if n == 1 {
            format!("{stem}.backup.bin")
        } else {
            format!("{stem}.backup-{n}.bin")
        };
        let p = dir.join(name);
        match std::fs::read(&p) {
            Ok(existing) if existing == content => return (p, true),
            Ok(_) => continue,
            Err(_) if !p.exists() => return (p, false),
            Err(_) => continue,
        }
    }
    (
        dir.join(format!("{stem}.backup-{}.bin", std::process::id())),
        false,
    )
}

/// Read a firmware file, with the user-facing message when it cannot be used.
pub fn load_firmware(path: &Path) -> Result<Firmware, Failure> {
    firmware::load(path).map_err(|e| {
        Failure::file(
            format!("{}: {e}", path.display()),
            "check that this is a firmware file (.bin, Intel HEX or BTC HEX) and that it was copied whole",
        )
    })
}

/// Load and sanity-check an image for writing. Pure apart from reading the file.
pub fn load_for_write(
    input: &Path,
    write_boot: bool,
    ui: &mut dyn Ui,
) -> Result<(Firmware, Analysis), Failure> {
    let fw = load_firmware(input)?;
    let a = Analysis::of(&fw.data);
    let bad = a.bad_banks();
    if !bad.is_empty() {
        return Err(Failure::file(
            format!(
                "{}: bank(s) {} do not start with LJMP (0x02) or 0x80: this is not a MediaTek 8032 firmware image",
                input.display(),
                bad.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(", ")
            ),
            "use the firmware file made for this drive",
        ));
    }
    if !a.boot_ok {
        let what = format!(
            "{}: the image has no boot code (byte 0 is 0x{:02X}, not LJMP 0x02)",
            input.display(),
            fw.data[0]
        );
        if write_boot {
            return Err(Failure::file(
                what,
                "leave out /b so the drive keeps its own boot code",
            ));
        }
        ui.warn(&format!("{what}; the drive's own boot code is kept"));
    }
    if !a.embedded_ok() {
        ui.warn("the image's end-of-image checksum does not match its content (a check that rests on inference, see docs/inferences.md)");
    }
    Ok((fw, a))
}

/// Compare the drive's model with the image's; refuse a mismatch unless forced.
fn check_model(
    drive: &Identity,
    current: &[u8],
    image: &Analysis,
    force: bool,
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    let Some(img) = &image.identity else {
        ui.warn(
            "the image carries no drive identity (INQUIRY template); the model cannot be checked",
        );
        return Ok(());
    };
    let (vendor, product, source) = match drive {
        Identity::Atapi {
            vendor, product, ..
        } => (vendor.clone(), product.clone(), "the drive reports"),
        Identity::BootOnly => match find_identity(current) {
            Some(id) => (id.vendor, id.product, "the drive's flash holds"),
            None => {
                ui.warn("the drive runs boot code only and its flash holds no identity; the model cannot be checked");
                return Ok(());
            }
        },
    };
    if img.same_model(&vendor, &product) {
        return Ok(());
    }
    let what = format!(
        "the firmware is for {} {}, but {source} {} {}",
        img.vendor, img.product, vendor, product
    );
    if force {
        ui.warn(&format!("{what}; writing anyway (--force)"));
        return Ok(());
    }
    Err(Failure::new(
        Exit::Refused,
        what,
        NOT_CHANGED,
        "use the firmware for this model; if you are sure (cross-flashing), add --force",
    ))
}

fn partial_state(done_to: Option<u32>, boot_ok: bool, backup: &Option<PathBuf>) -> String {
    let mut s = match done_to {
        Some(a) => {
            format!("partly written: the flash may be erased or half-programmed from 0x{a:06X} on")
        }
        None => "partly written".to_string(),
    };
    s.push_str(if boot_ok {
        "; the boot code is intact, so the drive still answers the vendor intro"
    } else {
        "; the boot code may be damaged"
    });
    if let Some(b) = backup {
        s.push_str(&format!(
            "; the previous content is saved in {}",
            b.display()
        ));
    }
    s
}

/// The drive's state when the commit (the sentinels' bank starts) was cut short.
fn uncommitted(backup: &Option<PathBuf>) -> String {
    let mut s = "everything but the last bank start(s) is written and was read back correct; those are not (all) written, so the drive runs its boot code only until the same command finishes".to_string();
    if let Some(b) = backup {
        s.push_str(&format!(
            "; the previous content is saved in {}",
            b.display()
        ));
    }
    s
}

/// Write an image to the drive (the heart of `mtkflash <port> w` and `write`).
pub fn write(
    target: &Target,
    input: &Path,
    opts: &WriteOptions,
    ui: &mut dyn Ui,
) -> Result<Report, Failure> {
    let start = Instant::now();
    let (fw, analysis) = load_for_write(input, opts.write_boot, ui)?;
    if let (Backup::To(p), false) = (&opts.backup, opts.dry_run) {
        check_output(p, Some(input))?;
    }
    if opts.backup == Backup::Auto && !opts.dry_run {
        check_output(&input.with_file_name(".mtkflash-probe-name"), None).map_err(|f| {
            Failure::file(
                format!(
                    "cannot write the backup next to {}: {}",
                    input.display(),
                    f.what
                ),
                "give --backup FILE in a folder you can write to, or --no-backup",
            )
        })?;
    }
    let mut dev = Device::open(target, opts.enter.force, ui)?;
    let r = write_on(&mut dev, fw, &analysis, input, opts, ui);
    let mut report = match r {
        Ok(rep) => rep,
        Err(f) => {
            let _ = dev.close();
            return Err(f);
        }
    };
    report.modelled = dev.modelled();
    report.bus_ops = dev.bus_ops();
    dev.close()?;
    report.wall = start.elapsed();
    Ok(report)
}

/// [`write`] on a drive that is already open (e.g. through an emulated task file).
pub fn write_device(
    dev: &mut Device,
    input: &Path,
    opts: &WriteOptions,
    ui: &mut dyn Ui,
) -> Result<Report, Failure> {
    let start = Instant::now();
    let (fw, analysis) = load_for_write(input, opts.write_boot, ui)?;
    let mut r = write_on(dev, fw, &analysis, input, opts, ui)?;
    r.modelled = dev.modelled();
    r.wall = start.elapsed();
    Ok(r)
}

fn write_on(
    dev: &mut Device,
    fw: Firmware,
    analysis: &Analysis,
    input: &Path,
    opts: &WriteOptions,
    ui: &mut dyn Ui,
) -> Result<Report, Failure> {
    ui.line(&format!(
        "Port: {:X}, Master/Slave: {:02x}",
        dev.ata.ch.cmd,
        dev.ata.ch.dev()
    ));
    let identity = dev.identity()?;

    ui.event(&super::Event::identity(&identity));
    match &identity {
        Identity::Atapi { .. } => ui.line(&format!("Drive: {}", identity.describe())),
        Identity::BootOnly => {
            ui.line("Drive: runs boot code only (misflashed); recovering through vendor mode")
        }
    }
    let mut s = Session::enter(dev, &opts.enter, ui)?;
    let mut report = Report {
        chip: s.chip.name.to_string(),
        identity_before: Some(identity.describe()),
        ..Report::default()
    };
    let leave_with = |mut s: Session<'_>, f: Failure| -> Failure {
        let _ = s.v.leave();
        f
    };
    if fw.data.len() != s.chip.size as usize {
        let f = Failure::new(
            Exit::File,
            format!(
                "{} is {} KiB but the drive's {} holds {} KiB",
                input.display(),
                fw.data.len() / 1024,
                s.chip.name,
                s.chip.size / 1024
            ),
            NOT_CHANGED,
            "use the firmware made for this drive (its flash size must match)",
        );
        return Err(leave_with(s, f));
    }
    ui.line("Reading....");
    let current = match read_all(&mut s, ui) {
        Ok(c) => c,
        Err(f) => return Err(leave_with(s, f)),
    };
    if let Err(f) = check_model(&identity, &current, analysis, opts.force, ui) {
        return Err(leave_with(s, f));
    }
    // Back up before anything is changed (a dry run changes nothing).
    let backup = if opts.dry_run {
        &Backup::Skip
    } else {
        &opts.backup
    };
    match backup {
        Backup::Skip => {}
        Backup::To(p) => {
            if let Err(f) = write_new_file(p, &current) {
                return Err(leave_with(s, f.with_drive(NOT_CHANGED)));
            }
            report.backup = Some(p.clone());
        }
        Backup::Auto => {
            let (p, exists) = auto_backup_path(input, &current);
            if !exists {
                if let Err(f) = write_new_file(&p, &current) {
                    return Err(leave_with(s, f.with_drive(NOT_CHANGED)));
                }
            }
            report.backup = Some(p);
        }
    }
    if let Some(b) = &report.backup {
        ui.line(&format!("Backup: {}", b.display()));
    }
    let p = plan::plan_owned(
        s.chip,
        &s.erasers,
        &current,
        fw.data,
        opts.write_boot,
        &Cost::default(),
    );
    if let Err(e) = p.check_units(s.chip) {
        let f = Failure::new(
            Exit::Refused,
            format!("refusing a plan that fails its self-check: {e}"),
            NOT_CHANGED,
            "this is a bug in mtkflash's chip table or planner: please report it with `mtkflash chips` output",
        );
        return Err(leave_with(s, f));
    }
    report.erase_bytes = p.erase_bytes;
    report.program_bytes = p.program_bytes;
    report.chip_time = p.chip_time;
    report.changed_bytes = current
        .iter()
        .zip(&p.target)
        .filter(|(a, b)| a != b)
        .count() as u64;
    report.sum16 = sum16(&p.target);
    report.boot_rewritten = p.boot_erased || p.boot_changes;
    if opts.dry_run {
        show_plan(&p, s.chip, ui);
        report.dry_run = true;
        report.nothing_to_do = p.is_empty();
        let _ = s.driver().restore();
        s.leave()?;
        ui.line(
            "Dry run: nothing was erased or programmed; vendor mode was left and the drive reset",
        );
        return Ok(report);
    }
    if p.is_empty() {
        report.nothing_to_do = true;
        ui.line("The flash already holds this image: nothing to write.");
    } else {
        if p.boot_erased && !opts.write_boot {
            ui.warn(&format!(
                "{} erases in {} KiB units: the boot code shares its first unit and is rewritten from the drive's own copy first, then verified",
                s.chip.name,
                s.erasers[0].regions[0].size / 1024
            ));
        }
        if p.sentinels.is_empty() && p.target.len() > firmware::BANK {
            ui.warn(&format!(
                "this image's boot marks all share the boot-code sector of {}: if this write is cut short, the drive may start a half-written image (power-cycle it and run the same command right away)",
                s.chip.name
            ));
        }
        ui.line("Updating....");
        let body = 0..p.steps.len() - p.commit;
        if let Err(f) = execute(
            &mut s,
            &p,
            body.clone(),
            &current[..BOOT_LEN.min(current.len())],
            report.backup.clone(),
            ui,
        ) {
            return Err(leave_with(s, f));
        }
        // Verify every byte written so far; only then write the commit (the sentinels'
        // bank starts), so a failed write leaves an image the drive will not start.
        ui.line("Verifying....");
        // The commit's bytes are not written yet: until then they must read as the body
        // left them (FF after a sentinel's erase). Everything else must be the target.
        let pending: Vec<(usize, u8)> = plan::touched_by(p.commit_steps())
            .into_iter()
            .flat_map(|(a, l)| a as usize..(a + l) as usize)
            .map(|a| (a, plan::value_after(s.chip, p.body(), a, current[a])))
            .collect();
        let ranges = if opts.verify_all {
            vec![(0u32, s.chip.size)]
        } else {
            plan::touched_by(p.body())
        };
        let old_boot = current[..BOOT_LEN.min(current.len())].to_vec();
        let mut flash = current;
        let r = verify_ranges(
            &mut s, &ranges, &mut flash, &p.target, &pending, &old_boot, &report, ui,
        );
        if let Err(f) = r {
            return Err(leave_with(s, f));
        }
        if !pending.is_empty() {
            let starts: Vec<String> = p.sentinels.iter().map(|a| format!("0x{a:06X}")).collect();
            ui.line(&format!(
                "Committing: writing {} kept blank until everything else read back correct",
                starts.join(" and ")
            ));
            let all = body.end..p.steps.len();
            let r = execute(&mut s, &p, all, &old_boot, report.backup.clone(), ui).and_then(|()| {
                let ranges = plan::touched_by(p.commit_steps());
                verify_ranges(
                    &mut s,
                    &ranges,
                    &mut flash,
                    &p.target,
                    &[],
                    &old_boot,
                    &report,
                    ui,
                )
            });
            if let Err(f) = r {
                return Err(leave_with(s, f));
            }
        }
        if sum16(&flash) != report.sum16 {
            let f = Failure::new(
                Exit::Write,
                format!(
                    "the checksum of the flash is {:04X}, the image's is {:04X}",
                    sum16(&flash),
                    report.sum16
                ),
                partial_state(None, true, &report.backup),
                "run the same command again",
            );
            return Err(leave_with(s, f));
        }
        ui.line(&format!("Verify OK, Check Sum : {:04X}", report.sum16));
    }
    let _ = s.driver().restore();
    s.leave()?;
    // The drive reboots into the new firmware: ask it who it is now.
    match dev.identity() {
        Ok(id @ Identity::Atapi { .. }) => {
            ui.line(&format!("Drive now: {}", id.describe()));
            report.identity_after = Some(id.describe());
        }
        Ok(Identity::BootOnly) | Err(_) => {
            report.drive_not_booting = true;
            ui.warn("after the reset the drive runs boot code only: the image was written and verified, but the drive does not start it");
        }
    }
    Ok(report)
}

/// Chip time of one step (datasheet timings from the chip table).
fn step_chip_time(chip: &crate::chips::ChipInfo, st: &Step) -> Duration {
    match st {
        Step::Erase { eraser, .. } => Duration::from_micros(eraser.time.us),
        Step::Program { start, data } => {
            let unit = chip.program_unit() as usize;
            let first = *start as usize;
            let units = (first / unit..(first + data.len()).div_ceil(unit))
                .filter(|u| {
                    chip.write.page().is_some()
                        || (u * unit..(u + 1) * unit)
                            .filter(|a| (first..first + data.len()).contains(a))
                            .any(|a| data[a - first] != 0xFF)
                })
                .count() as u64;
            Duration::from_micros(units * chip.program.us)
        }
    }
}

/// Print a plan in the order it would run (`--dry-run`), one line and one `plan-step`
/// event per step.
fn show_plan(p: &plan::Plan, chip: &crate::chips::ChipInfo, ui: &mut dyn Ui) {
    if p.is_empty() {
        ui.line("Plan: nothing to write (the flash already holds this image)");
        return;
    }
    ui.line(&format!(
        "Plan: {} steps, in the order they would run (banks from the top down, each bank's first page and start byte last; the commit only after everything before it reads back correct):",
        p.steps.len()
    ));
    let commit_from = p.steps.len() - p.commit;
    for (i, st) in p.steps.iter().enumerate() {
        let t = step_chip_time(chip, st);
        let (op, start, len, detail) = match st {
            Step::Erase { eraser, start, len } => (
                "erase",
                *start,
                *len,
                format!(
                    "erase 0x{start:06X}-0x{:06X} ({} KiB, opcode {:02X})",
                    start + len - 1,
                    len / 1024,
                    eraser.cmd
                ),
            ),
            Step::Program { start, data } => ("program", *start, data.len() as u32, {
                let n = data.iter().filter(|&&b| b != 0xFF).count();
                let end = *start as usize + data.len() - 1;
                let s = if n == 1 { "" } else { "s" };
                format!("program 0x{start:06X}-0x{end:06X} ({n} byte{s})")
            }),
        };
        let commit = i >= commit_from;
        let bank = start / firmware::BANK as u32;
        let boot = if p.boot_steps.contains(&i) {
            " [boot code]"
        } else {
            ""
        };
        let tag = if commit {
            " [commit]"
        } else if p.sentinels.contains(&start) && op == "program" && len == 1 {
            " [sentinel made invalid]"
        } else {
            ""
        };
        let time = if t < Duration::from_millis(1) {
            format!("{} us", t.as_micros())
        } else {
            format!("{:.1} ms", t.as_secs_f64() * 1000.0)
        };
        ui.line(&format!(
            "  {i:>4}  Bank{bank:<2} {detail}, {time}{boot}{tag}"
        ));
        ui.event(&super::Event::PlanStep {
            index: i,
            bank,
            op: op.into(),
            start,
            len,
            detail,
            chip_ms: t.as_secs_f64() * 1000.0,
            commit,
        });
    }
    ui.line(&format!(
        "Total: erase {} KiB, program {} bytes, chip time {:.2} s (datasheet timings; bus time comes on top)",
        p.erase_bytes / 1024,
        p.program_bytes,
        p.chip_time.as_secs_f64()
    ));
}

/// Read back `ranges` into `flash` and compare the whole of it with `want`, except the
/// `pending` bytes (the commit, not written yet), which must hold their given values.
/// While anything is pending the drive will not start the image (said in the message).
#[allow(clippy::too_many_arguments)]
fn verify_ranges(
    s: &mut Session<'_>,
    ranges: &[(u32, u32)],
    flash: &mut [u8],
    want: &[u8],
    pending: &[(usize, u8)],
    old_boot: &[u8],
    report: &Report,
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    let total: u64 = ranges.iter().map(|r| r.1 as u64).sum();
    ui.begin("Verifying", total);
    let verified = {
        let mut drv = s.driver();
        ranges.iter().try_for_each(|&(a, l)| {
            let r = a as usize..(a + l) as usize;
            read_verify(drv.as_mut(), a, &mut flash[r.clone()], &want[r], ui)
        })
    };
    ui.end();
    let not_committed = if pending.is_empty() {
        ""
    } else {
        "; the image is not committed yet (a bank start is left blank), so the drive will run its boot code only until the same command finishes"
    };
    if let Err(f) = verified {
        let interrupted = f.exit == Exit::Interrupted;
        let st = if interrupted {
            format!("written, but the read-back was interrupted before it finished{not_committed}")
        } else {
            format!(
                "{}{not_committed}",
                partial_state(None, true, &report.backup)
            )
        };
        let exit = if interrupted {
            Exit::Interrupted
        } else {
            Exit::Write
        };
        let next = "run the same command again: it verifies, and writes only what differs";
        return Err(Failure::new(exit, f.what, st, next));
    }
    let pending: std::collections::HashMap<usize, u8> = pending.iter().copied().collect();
    let want_at = |i: usize| pending.get(&i).copied().unwrap_or(want[i]);
    let differs = |i: &usize| flash[*i] != want_at(*i);
    if let Some(bad) = (0..flash.len()).find(differs) {
        let n = (0..flash.len()).filter(differs).count();
        let boot = old_boot.len();
        let boot_ok = flash[..boot] == want[..boot] || flash[..boot] == old_boot[..];
        return Err(Failure::new(
            Exit::Write,
            format!("verification failed: {n} byte(s) differ from the image, the first at 0x{bad:06X} (0x{:02X}, should be 0x{:02X})", flash[bad], want_at(bad)),
            format!("{}{not_committed}", partial_state(Some(bad as u32 & !0xFFF), boot_ok, &report.backup)),
            "run the same command again; if the same bytes fail again the flash chip may be worn out",
        ));
    }
    Ok(())
}

/// Run the plan's steps in `range`, one `BankN` line per 64 KiB bank reached, verifying
/// the boot code as soon as the steps that rewrite it are done.
fn execute(
    s: &mut Session<'_>,
    p: &plan::Plan,
    range: std::ops::Range<usize>,
    current: &[u8],
    backup: Option<PathBuf>,
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    let total: u64 = p.steps[range.clone()]
        .iter()
        .map(|st| match st {
            Step::Erase { len, .. } => *len as u64 / 16,
            Step::Program { data, .. } => data.len() as u64,
        })
        .sum();
    let mut drv = s.driver();
    drv.prepare().map_err(|e| {
        Failure::new(
            Exit::Write,
            e.to_string(),
            NOT_CHANGED,
            "power-cycle the drive and try again",
        )
    })?;
    ui.begin("Writing", total);
    let commit_from = p.steps.len() - p.commit;
    // One `BankN` line per bank as its own steps begin (the sentinels' lead steps and
    // the commit revisit banks already named, silently).
    let mut banks_shown = std::collections::BTreeSet::new();
    let boot_steps = p.boot_steps.clone();
    for (i, st) in p
        .steps
        .iter()
        .enumerate()
        .skip(range.start)
        .take(range.len())
    {
        if crate::interrupt::requested() {
            ui.end();
            let _ = drv.restore();
            let at = match st {
                Step::Erase { start, .. } | Step::Program { start, .. } => *start,
            };
            let state = if i == 0 {
                NOT_CHANGED.to_string()
            } else if i >= commit_from {
                uncommitted(&backup)
            } else {
                format!(
                    "{} of {} steps done; {}",
                    i,
                    p.steps.len(),
                    partial_state(
                        Some(at),
                        !(boot_steps.start < i && i < boot_steps.end),
                        &backup
                    )
                )
            };
            return Err(Failure::new(
                Exit::Interrupted,
                format!("interrupted (Ctrl-C) before the step at 0x{at:06X}; the step in flight was finished"),
                state,
                "run the same command again to finish: only what still differs is written",
            ));
        }
        let (addr, r, cost) = match st {
            Step::Erase { eraser, start, len } => {
                (*start, drv.erase(eraser, *start), *len as u64 / 16)
            }
            Step::Program { start, data } => (*start, drv.program(*start, data), data.len() as u64),
        };
        let bank = addr / firmware::BANK as u32;
        if i >= p.lead && i < commit_from && banks_shown.insert(bank) {
            ui.line(&format!("Bank{bank}"));
        }
        if let Err(e) = r {
            ui.end();
            let boot_ok = !boot_steps.contains(&i);
            let state = if i >= commit_from {
                uncommitted(&backup)
            } else {
                partial_state(Some(addr), boot_ok, &backup)
            };
            return Err(Failure::new(
                Exit::Write,
                format!("writing failed at 0x{addr:06X}: {e}"),
                state,
                "run the same command again to finish; keep the backup file",
            ));
        }
        ui.advance(cost);
        if !boot_steps.is_empty() && i + 1 == boot_steps.end {
            // The boot code was rewritten: check it before going on.
            let mut got = vec![0u8; BOOT_LEN];
            read_checked(drv.as_mut(), 0, &mut got, &mut super::Recorder::default())?;
            if got[..] != p.target[..BOOT_LEN] {
                ui.end();
                return Err(Failure::new(
                    Exit::Write,
                    "the rewritten boot code does not read back correctly".to_string(),
                    "the boot code may be damaged: do NOT power the drive off",
                    format!(
                        "run the same command with /b right away to write the boot code again{}",
                        if got[..] == current[..BOOT_LEN] {
                            ""
                        } else {
                            " (the old boot code is in the backup)"
                        }
                    ),
                ));
            }
            ui.line("Boot code rewritten and verified");
        }
    }
    ui.end();
    Ok(())
}

/// Read the whole flash into a new file.
pub fn read_to_file(
    target: &Target,
    out: &Path,
    opts: &EnterOptions,
    ui: &mut dyn Ui,
) -> Result<Report, Failure> {
    let start = Instant::now();
    check_output(out, None)?;
    let mut dev = Device::open(target, opts.force, ui)?;
    ui.line(&format!(
        "Port: {:X}, Master/Slave: {:02x}",
        dev.ata.ch.cmd,
        dev.ata.ch.dev()
    ));
    let r = (|| {
        let identity = dev.identity()?;

        ui.event(&super::Event::identity(&identity));
        let mut s = Session::enter(&mut dev, opts, ui)?;
        ui.line("Reading....");
        let data = read_all_or_leave(&mut s, ui)?;
        let chip = s.chip.name.to_string();
        s.leave()?;
        write_new_file(out, &data).map_err(|f| f.with_drive(NOT_CHANGED))?;
        ui.line(&format!(
            "Saved {} ({} KiB, Check Sum : {:04X})",
            out.display(),
            data.len() / 1024,
            sum16(&data)
        ));
        Ok(Report {
            chip,
            identity_before: Some(identity.describe()),
            sum16: sum16(&data),
            backup: Some(out.to_path_buf()),
            ..Report::default()
        })
    })();
    let modelled = dev.modelled();
    let ops = dev.bus_ops();
    dev.close()?;
    r.map(|mut rep| {
        rep.modelled = modelled;
        rep.bus_ops = ops;
        rep.wall = start.elapsed();
        rep
    })
}

/// Compare the drive's flash with a file; nothing is written.
pub fn verify(
    target: &Target,
    input: &Path,
    with_boot: bool,
    opts: &EnterOptions,
    ui: &mut dyn Ui,
) -> Result<Report, Failure> {
    let fw = load_firmware(input)?;
    let mut dev = Device::open(target, opts.force, ui)?;
    let r = (|| {
        let identity = dev.identity()?;

        ui.event(&super::Event::identity(&identity));
        let mut s = Session::enter(&mut dev, opts, ui)?;
        if fw.data.len() != s.chip.size as usize {
            let _ = s.v.leave();
            return Err(Failure::new(
                Exit::File,
                format!(
                    "{} is {} KiB but the flash holds {} KiB",
                    input.display(),
                    fw.data.len() / 1024,
                    s.chip.size / 1024
                ),
                NOT_CHANGED,
                "compare with the firmware made for this drive",
            ));
        }
        let data = read_all_or_leave(&mut s, ui)?;
        let chip = s.chip.name.to_string();
        s.leave()?;
        let from = if with_boot { 0 } else { BOOT_LEN };
        let diffs: Vec<usize> = (from..data.len())
            .filter(|&i| data[i] != fw.data[i])
            .collect();
        if let Some(&first) = diffs.first() {
            return Err(Failure::new(
                Exit::Write,
                format!("the drive's flash differs from {} in {} byte(s), the first at 0x{first:06X}", input.display(), diffs.len()),
                NOT_CHANGED,
                "write the file with `mtkflash write` (or the classic `w`) if it should be on the drive",
            ));
        }
        ui.line(&format!(
            "Verify OK: the flash matches {}{} (Check Sum : {:04X})",
            input.display(),
            if with_boot {
                ""
            } else {
                " outside the boot code"
            },
            sum16(&data)
        ));
        Ok(Report {
            chip,
            identity_before: Some(identity.describe()),
            sum16: sum16(&data),
            ..Report::default()
        })
    })();
    dev.close()?;
    r
}

/// Erase the flash except the boot code (or all of it with `with_boot`).
pub fn erase(
    target: &Target,
    with_boot: bool,
    opts: &EnterOptions,
    ui: &mut dyn Ui,
) -> Result<Report, Failure> {
    let mut dev = Device::open(target, opts.force, ui)?;
    let r = (|| {
        let identity = dev.identity()?;

        ui.event(&super::Event::identity(&identity));
        let mut s = Session::enter(&mut dev, opts, ui)?;
        let current = read_all_or_leave(&mut s, ui)?;
        let blank = vec![0xFF; current.len()];
        let p = plan::plan(
            s.chip,
            &s.erasers,
            &current,
            &blank,
            with_boot,
            &Cost::default(),
        );
        if let Err(f) = execute(&mut s, &p, 0..p.steps.len(), &current, None, ui) {
            let _ = s.v.leave();
            return Err(f);
        }
        let mut got = current.clone();
        {
            let mut drv = s.driver();
            for (a, l) in p.touched() {
                if let Err(f) =
                    read_checked(drv.as_mut(), a, &mut got[a as usize..(a + l) as usize], ui)
                {
                    drop(drv);
                    let _ = s.v.leave();
                    return Err(f.with_drive("partly erased"));
                }
            }
            let _ = drv.restore();
        }
        if got != p.target {
            let _ = s.v.leave();
            return Err(Failure::new(
                Exit::Write,
                "the erase did not take everywhere",
                "partly erased",
                "run the erase again",
            ));
        }
        let chip = s.chip.name.to_string();
        s.leave()?;
        ui.line(&format!(
            "Erased {} KiB{}",
            p.erase_bytes / 1024,
            if with_boot {
                " including the boot code"
            } else {
                "; the boot code was kept"
            }
        ));
        Ok(Report {
            chip,
            identity_before: Some(identity.describe()),
            erase_bytes: p.erase_bytes,
            ..Report::default()
        })
    })();
    dev.close()?;
    r
}

/// What `info` finds out.
#[derive(Clone, Debug)]
pub struct Info {
    pub identity: Identity,
    pub chip: String,
    pub chip_label: String,
    pub ids: String,
    pub size: u32,
    pub flash_identity: Option<String>,
    pub sum16: u16,
    pub bootable: bool,
    pub embedded_ok: bool,
    pub bad_banks: Vec<usize>,
}

/// Identify the drive and its flash, read the flash, say what it holds. Writes nothing.
pub fn info(target: &Target, opts: &EnterOptions, ui: &mut dyn Ui) -> Result<Info, Failure> {
    let mut dev = Device::open(target, opts.force, ui)?;
    let r = (|| {
        let identity = dev.identity()?;

        ui.event(&super::Event::identity(&identity));
        ui.line(&format!("Drive:     {}", identity.describe()));
        ui.line(&format!(
            "Mode:      {}",
            match identity {
                Identity::Atapi { .. } => "running firmware",
                Identity::BootOnly => "BOOT CODE ONLY: the firmware is damaged; write the right firmware with `mtkflash write` (or `mtkflash 3 w /m fw.bin`) to recover",
            }
        ));
        let mut s = Session::enter(&mut dev, opts, ui)?;
        let data = read_all_or_leave(&mut s, ui)?;
        let a = Analysis::of(&data);
        let info = Info {
            identity: identity.clone(),
            chip: s.chip.name.to_string(),
            chip_label: s.chip.label(),
            ids: s.ids.clone(),
            size: s.chip.size,
            flash_identity: a.identity.as_ref().map(|i| i.display()),
            sum16: a.sum16,
            bootable: a.bootable(),
            embedded_ok: a.embedded_ok(),
            bad_banks: a.bad_banks(),
        };
        s.leave()?;
        Ok(info)
    })();
    dev.close()?;
    r
}
