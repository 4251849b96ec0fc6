//! Writing an image over a vendor-mode session: read, check the model, back up, plan,
//! write the body, verify it, commit, verify the commit, reboot and ask again.

use super::execute::{execute, show_plan, verify_ranges};
use super::readback::{confirm, read_once, BLOCK};
use super::session::{greet, identify, in_vendor_mode, EnterOptions, Identity, Session};
use crate::connect::Device;
use crate::error::{Failure, Kind, NOT_CHANGED};
use crate::files::{save_backup, Backup};
use crate::firmware::{self, find_identity, sum16, Analysis, Image};
use crate::inference::BOOT_LEN;
use crate::plan::{self, Cost};
use crate::report::Ui;
use std::path::PathBuf;
use std::time::{Duration, Instant};

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
    /// Written through a later family's own updater.
    pub family: Option<crate::firmware::family::Family>,
}

/// Check an image before a write: every bank must start like 8032 code, and with /b
/// the image must carry boot code. Pure; warnings go to `ui`.
pub fn check_image(image: &Image, write_boot: bool, ui: &mut dyn Ui) -> Result<(), Failure> {
    let a = &image.analysis;
    let bad = a.bad_banks();
    if !bad.is_empty() {
        return Err(Failure::file_kind(
            Kind::BadImage,
            format!(
                "{}: bank(s) {} do not start with LJMP (0x02) or 0x80: this is not a MediaTek 8032 firmware image",
                image.name,
                bad.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(", ")
            ),
            "use the firmware file made for this drive",
        ));
    }
    if !a.boot_ok {
        let what = format!(
            "{}: the image has no boot code (byte 0 is 0x{:02X}, not LJMP 0x02)",
            image.name,
            image.data()[0]
        );
        if write_boot {
            return Err(Failure::file_kind(
                Kind::BadImage,
                what,
                "leave out /b so the drive keeps its own boot code",
            ));
        }
        ui.warn(&format!("{what}; the drive's own boot code is kept"));
    }
    if !a.embedded_ok() {
        ui.warn("the image's end-of-image checksum does not match its content (a check that rests on inference, see docs/inferences.md)");
    }
    Ok(())
}

/// Whether `current` holds a whole identity of the image's model (or the image has
/// none to compare): what one read may be trusted with in the model check.
fn flash_identity_matches(current: &[u8], image: &Analysis) -> bool {
    let Some(img) = &image.identity else {
        return true;
    };
    find_identity(current).is_some_and(|id| {
        current[id.offset + 8..id.offset + 32]
            .iter()
            .all(|b| (0x20..0x7F).contains(b) || *b == 0)
            && img.same_model(&id.vendor, &id.product)
    })
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
            // A write that stopped midway leaves the identity's bytes partly erased
            // (0xFF): that says nothing about the model.
            Some(id)
                if !current[id.offset + 8..id.offset + 32]
                    .iter()
                    .all(|b| (0x20..0x7F).contains(b) || *b == 0) =>
            {
                ui.warn("the drive runs boot code only and the identity in its flash is cut short (a write stopped midway); the model cannot be checked");
                return Ok(());
            }
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
        Kind::ModelMismatch,
        what,
        NOT_CHANGED,
        "use the firmware for this model; if you are sure (cross-flashing), add --force",
    ))
}

/// Refuse (unless forced) a plan whose result the drive would not start: boot code at
/// 0 and a valid start in every bank (or the LiteOn marks), the sources' rule. An image
/// cut short (a HEX file missing its last records) leaves banks empty.
fn check_boots(
    target: &[u8],
    image_sum_ok: bool,
    force: bool,
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    if firmware::weakly_bootable(target) {
        let a = Analysis::of(target);
        // (An image whose own sum does not match was warned about when it was loaded.)
        if image_sum_ok && !a.embedded_ok() {
            // An inferred rule: warn, do not refuse (docs/inferences.md).
            ui.warn("the end-of-image checksum of the result will not match its content (the drive's own boot code is kept and differs from the image's): a drive that checks it runs its boot code only afterwards (an inferred rule, docs/inferences.md); /b writes the image's boot code too");
        }
        return Ok(());
    }
    let bad: Vec<String> = (0..target.len())
        .step_by(firmware::BANK)
        .filter(|&a| !crate::inference::bank_start_ok(target[a]))
        .map(|a| {
            let bank = a / firmware::BANK;
            let end = (a + firmware::BANK).min(target.len());
            if target[a..end].iter().all(|&b| b == 0xFF) {
                format!("{bank} (empty)")
            } else {
                format!("{bank} (starts with 0x{:02X})", target[a])
            }
        })
        .collect();
    let what = format!(
        "the drive would not start the result: bank(s) {} hold no firmware start, so it would run its boot code only",
        bad.join(", ")
    );
    if force {
        ui.warn(&format!("{what}; writing anyway (--force)"));
        return Ok(());
    }
    Err(Failure::new(
        Kind::WouldNotBoot,
        what,
        NOT_CHANGED,
        "use the complete firmware image (a HEX file cut short leaves banks empty: compare its size with the flash's); --force writes it anyway",
    ))
}

/// The drive's state after a write stopped at `done_to` (None: somewhere).
pub(super) fn partial_state(
    done_to: Option<u32>,
    boot_ok: bool,
    backup: &Option<PathBuf>,
) -> String {
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
    s + &saved_in(backup)
}

/// The drive's state when the commit (the sentinels' bank starts) was cut short.
pub(super) fn uncommitted(backup: &Option<PathBuf>) -> String {
    "everything but the last bank start(s) is written and was read back correct; those are not (all) written, so the drive runs its boot code only until the same command finishes".to_string() + &saved_in(backup)
}

/// `; the previous content is saved in FILE` for a drive line (nothing without one).
pub(super) fn saved_in(backup: &Option<PathBuf>) -> String {
    match backup {
        Some(b) => format!("; the previous content is saved in {}", b.display()),
        None => String::new(),
    }
}

/// Where the way back is, for a next line.
pub(super) fn backup_holds(backup: &Option<PathBuf>) -> String {
    match backup {
        Some(b) => format!("the backup {} holds everything", b.display()),
        None => "there is no backup (--no-backup)".to_string(),
    }
}

/// Write `image` to the drive (the heart of `mtkflash <port> w` and `write`). The image
/// is taken: its bytes become the plan's target rather than a copy of them (a 2 MiB
/// image is 2 MiB less at the peak).
pub fn write(
    dev: &mut Device,
    image: Image,
    opts: &WriteOptions,
    ui: &mut dyn Ui,
) -> Result<Report, Failure> {
    let start = Instant::now();
    check_image(&image, opts.write_boot, ui)?;
    let identity = greet(dev, ui)?;
    match &identity {
        Identity::Atapi { .. } => ui.line(&format!("Drive: {}", identity.describe())),
        Identity::BootOnly => {
            ui.line("Drive: runs boot code only (misflashed); recovering through vendor mode")
        }
    }
    let mut report = in_vendor_mode(dev, &opts.enter, ui, |s, ui| {
        write_in_session(s, &identity, image, opts, ui)
    })?;
    report.identity_before = Some(identity.describe());
    if report.dry_run {
        ui.line(
            "Dry run: nothing was erased or programmed; vendor mode was left and the drive reset",
        );
    } else {
        // The drive reboots into the new firmware: ask it who it is now.
        match identify(dev) {
            Ok(id @ Identity::Atapi { .. }) => {
                ui.line(&format!("Drive now: {}", id.describe()));
                report.identity_after = Some(id.describe());
            }
            Ok(Identity::BootOnly) | Err(_) => {
                let drive = "holds the image, read back byte for byte; runs its boot code only (vendor mode still answers)".to_string()
                    + &saved_in(&report.backup);
                return Err(Failure::new(
                    Kind::NotBooting,
                    "the image was written and verified, but after the reset the drive does not start it: it runs its boot code only",
                    drive,
                    "write the firmware made for this drive (or the backup) the same way; the drive takes vendor mode as it is",
                ));
            }
        }
    }
    report.modelled = dev.modelled();
    report.bus_ops = dev.bus_ops();
    report.wall = start.elapsed();
    Ok(report)
}

/// Everything between entering vendor mode and leaving it.
fn write_in_session(
    s: &mut Session<'_>,
    identity: &Identity,
    mut image: Image,
    opts: &WriteOptions,
    ui: &mut dyn Ui,
) -> Result<Report, Failure> {
    let mut report = Report {
        chip: s.chip.name.to_string(),
        ..Report::default()
    };
    if image.data().len() != s.chip.size as usize {
        return Err(Failure::new(
            Kind::SizeMismatch,
            format!(
                "{} is {} KiB but the drive's {} holds {} KiB",
                image.name,
                image.data().len() / 1024,
                s.chip.name,
                s.chip.size / 1024
            ),
            NOT_CHANGED,
            "use the firmware made for this drive (its flash size must match)",
        ));
    }
    ui.line("Reading....");
    let mut current = read_once(s, ui)?;
    // A drive that runs its boot code only is checked against the identity in its
    // flash. Unless one read shows that identity whole and of the image's model, the
    // flash is read again and settled first: one misread there must not pass the check
    // as "cut short" or "no identity", nor refuse a drive of the right model.
    // (A misread cannot turn a block of data into FF, so the blocks that read all FF
    // are left as they are: a blank flash costs nothing more.)
    let mut confirmed = std::collections::BTreeSet::new();
    if matches!(identity, Identity::BootOnly) && !flash_identity_matches(&current, &image.analysis)
    {
        let data: Vec<u32> = current
            .chunks(BLOCK)
            .enumerate()
            .filter(|(_, b)| b.iter().any(|&x| x != 0xFF))
            .map(|(i, _)| (i * BLOCK) as u32)
            .collect();
        confirm_blocks(s, &mut current, &data, ui)?;
        confirmed.extend(data);
    }
    check_model(identity, &current, &image.analysis, opts.force, ui)?;
    // Bytes carried from the drive into the image (the kept boot code) and, with a
    // backup, what the plan destroys are read a second time (and settled) before the
    // backup is saved; a block that settles differently changes the plan, which is
    // made again.
    let keep: Vec<u32> = if opts.write_boot || opts.dry_run {
        Vec::new()
    } else {
        (0..BOOT_LEN.min(current.len()))
            .step_by(BLOCK)
            .map(|a| a as u32)
            .collect()
    };
    let confirming = !opts.dry_run && !matches!(opts.backup, Backup::Skip);
    // The plan's target is the image with the kept boot code, which is also a valid
    // image to plan again from after a correction (the boot code is taken from the
    // flash again, or it is the image's own with /b).
    let mut wanted = std::mem::take(&mut image.fw.data);
    let p = loop {
        let p = plan_for(s, &current, wanted, opts)?;
        let mut need: std::collections::BTreeSet<u32> = keep.iter().copied().collect();
        if confirming {
            need.extend(plan::destroyed_blocks(s.chip, &p.steps, &current, BLOCK));
        } else if !opts.dry_run {
            // Without a backup, what is programmed without an erase still rests on the
            // read: a misread there would make the write fail for no fault of the chip.
            need.extend(plan::programmed_unerased_blocks(
                s.chip, &p.steps, &current, BLOCK,
            ));
        }
        let need: Vec<u32> = need.difference(&confirmed).copied().collect();
        if need.is_empty() {
            break p;
        }
        let corrected = confirm_blocks(s, &mut current, &need, ui)?;
        confirmed.extend(need);
        if corrected == 0 {
            break p;
        }
        // (The steps, which share the target's buffer, go first: then no copy.)
        let plan::Plan { target, steps, .. } = p;
        drop(steps);
        wanted = Vec::from(target);
    };
    // Back up before anything is changed (a dry run changes nothing).
    if !opts.dry_run {
        report.backup = save_backup(&opts.backup, image.source.as_deref(), &current)
            .map_err(|f| f.with_drive(NOT_CHANGED))?;
    }
    if let Some(b) = &report.backup {
        ui.line(&format!("Backup: {}", b.display()));
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
    check_boots(&p.target, image.analysis.embedded_ok(), opts.force, ui)?;
    if opts.dry_run {
        show_plan(&p, s.chip, ui);
        report.dry_run = true;
        report.nothing_to_do = p.is_empty();
        let _ = s.driver().restore();
        return Ok(report);
    }
    if p.is_empty() {
        report.nothing_to_do = true;
        ui.line("The flash already holds this image: nothing to write.");
    } else {
        write_plan(s, &p, current, opts, &report, ui)?;
    }
    let _ = s.driver().restore();
    Ok(report)
}

/// Read `blocks` of the flash a second time and settle them into `current`, saying so;
/// how many settled on something other than the first read.
fn confirm_blocks(
    s: &mut Session<'_>,
    current: &mut [u8],
    blocks: &[u32],
    ui: &mut dyn Ui,
) -> Result<usize, Failure> {
    let bytes = blocks.len() * BLOCK;
    ui.line(&format!(
        "Confirming {} KiB by a second read....",
        bytes / 1024
    ));
    ui.begin("Confirming", bytes as u64);
    let r = confirm(s.driver().as_mut(), current, blocks, ui);
    ui.end();
    r
}

/// The cheapest plan from `current` to the image, refused if it fails its self-check.
fn plan_for(
    s: &Session<'_>,
    current: &[u8],
    wanted: Vec<u8>,
    opts: &WriteOptions,
) -> Result<plan::Plan, Failure> {
    plan::plan_owned(
        s.chip,
        &s.erasers,
        current,
        wanted,
        opts.write_boot,
        &Cost::default(),
    )
    .and_then(|p| p.check_units(s.chip).map(|()| p))
    .map_err(|e| {
        Failure::new(
            Kind::PlanCheck,
            format!("refusing a plan that fails its self-check: {e}"),
            NOT_CHANGED,
            "this is a bug in mtkflash's chip table or planner: please report it with `mtkflash chips` output",
        )
    })
}

/// A chip whose erase unit holds the boot code (64 KiB sectors): the plan erases it and
/// writes the kept boot code back first. For that moment a power loss leaves the drive
/// without boot code, which no software can repair: say so, how long it is, and ask a
/// person who is there.
fn boot_window(
    s: &Session<'_>,
    p: &plan::Plan,
    report: &Report,
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    let t: Duration = p.steps[p.boot_steps.clone()]
        .iter()
        .map(|st| super::execute::step_chip_time(s.chip, st))
        .sum();
    let backup = backup_holds(&report.backup);
    ui.warn(&format!(
        "{} erases in {} KiB units: the boot code shares its first unit and is rewritten from the drive's own copy first, then verified. For about {:.1} s (chip time) a power loss would leave the drive without boot code: then only an external flash programmer revives it; {backup}",
        s.chip.name,
        s.erasers[0].regions[0].size / 1024,
        t.as_secs_f64()
    ));
    if ui.interactive() && !ui.ask("Keep the drive powered and go ahead?") {
        return Err(Failure::new(
            Kind::NotConfirmed,
            "the write was not confirmed",
            NOT_CHANGED,
            "run the same command again when the drive's power is safe (or write with /b from a full image)",
        ));
    }
    Ok(())
}

/// What to do after a failure while the boot code was being rewritten.
pub(super) fn boot_gone_next(backup: &Option<PathBuf>) -> String {
    let b = backup_holds(backup);
    format!("do not power the drive off; run the same command with /b right away to write the boot code again. If the drive no longer answers at all (not even after a power cycle), the boot code is gone and only an external flash programmer revives it; {b}")
}

/// Run a non-empty plan: the body, its verification, then the commit and its own.
fn write_plan(
    s: &mut Session<'_>,
    p: &plan::Plan,
    current: Vec<u8>,
    opts: &WriteOptions,
    report: &Report,
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    if p.boot_erased && !opts.write_boot {
        boot_window(s, p, report, ui)?;
    }
    if p.sentinels.is_empty() && p.target.len() > firmware::BANK {
        ui.warn(&format!(
            "this image's boot marks all share the boot-code sector of {}: if this write is cut short, the drive may start a half-written image (power-cycle it and run the same command right away)",
            s.chip.name
        ));
    }
    ui.line("Updating....");
    let old_boot = current[..BOOT_LEN.min(current.len())].to_vec();
    let body = 0..p.steps.len() - p.commit;
    execute(s, p, body.clone(), &old_boot, report.backup.clone(), ui)?;
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
    let mut flash = current;
    let ranges = if opts.verify_all {
        vec![(0u32, s.chip.size)]
    } else {
        plan::read_back_ranges(s.chip, p.body(), &mut flash)
    };
    verify_ranges(
        s, &ranges, &mut flash, &p.target, &pending, &old_boot, report, ui,
    )?;
    if !pending.is_empty() {
        let starts: Vec<String> = p.sentinels.iter().map(|a| format!("0x{a:06X}")).collect();
        ui.line(&format!(
            "Committing: writing {} kept blank until everything else read back correct",
            starts.join(" and ")
        ));
        execute(
            s,
            p,
            body.end..p.steps.len(),
            &old_boot,
            report.backup.clone(),
            ui,
        )?;
        let ranges = plan::touched_by(p.commit_steps());
        verify_ranges(
            s,
            &ranges,
            &mut flash,
            &p.target,
            &[],
            &old_boot,
            report,
            ui,
        )?;
    }
    if sum16(&flash) != report.sum16 {
        return Err(Failure::new(
            Kind::VerifyFailed,
            format!(
                "the checksum of the flash is {:04X}, the image's is {:04X}",
                sum16(&flash),
                report.sum16
            ),
            partial_state(None, true, &report.backup),
            "run the same command again",
        ));
    }
    ui.line(&format!("Verify OK, Check Sum : {:04X}", report.sum16));
    Ok(())
}
