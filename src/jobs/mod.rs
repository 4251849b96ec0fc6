//! Whole jobs as the command line runs them: check the files, connect to the drive, run
//! the operation on the open device, write the output, close. Library users who have
//! paths start here; those who have a device and bytes call `ops` directly.

pub mod update;

use crate::connect::{self, Connect, Target};
use crate::error::{Failure, Kind, NOT_CHANGED, UNTOUCHED};
use crate::files::{self, check_output, Backup};
use crate::firmware::family::Family;
use crate::firmware::{sum16, Image};
use crate::ops::flash::{self, Info};
use crate::ops::{atapi, family, write, EnterOptions, Report, WriteOptions};
use crate::report::Ui;
use std::path::Path;
use std::time::Instant;

/// `conn` with `--force` added when the command asked for it: ports a kernel driver
/// owns are used only then.
fn forced(conn: &Connect, force: bool) -> Connect {
    Connect {
        force: conn.force || force,
        ..conn.clone()
    }
}

/// Load `input` and check it for a write (pure apart from reading the file).
pub fn load_for_write(input: &Path, write_boot: bool, ui: &mut dyn Ui) -> Result<Image, Failure> {
    let image = files::load_image(input)?;
    write::check_image(&image, write_boot, ui)?;
    Ok(image)
}

/// Everything about the backup that can be refused before the drive is touched.
fn check_backup(input: &Path, opts: &WriteOptions) -> Result<(), Failure> {
    if opts.dry_run {
        return Ok(());
    }
    match &opts.backup {
        Backup::To(p) => check_output(p, Some(input)),
        Backup::Auto => {
            check_output(&input.with_file_name(".mtkflash-probe-name"), None).map_err(|f| {
                Failure::file(
                    format!(
                        "cannot write the backup next to {}: {}",
                        input.display(),
                        f.what
                    ),
                    "give --backup FILE in a folder you can write to, or --no-backup",
                )
            })
        }
        Backup::Skip => Ok(()),
    }
}

/// Write `input` through vendor mode: backup, differential write, verify.
pub fn write(
    target: &Target,
    conn: &Connect,
    input: &Path,
    opts: &WriteOptions,
    ui: &mut dyn Ui,
) -> Result<Report, Failure> {
    let start = Instant::now();
    // The operation checks the image (and says its warnings) itself.
    let image = files::load_image(input)?;
    write::check_image(
        &image,
        opts.write_boot,
        &mut crate::report::Recorder::default(),
    )?;
    check_backup(input, opts)?;
    let conn = forced(conn, opts.enter.force);
    let mut r = connect::with_device(target, &conn, ui, |dev, ui| {
        write::write(dev, image, opts, ui)
    })?;
    r.wall = start.elapsed();
    Ok(r)
}

/// Write `input` through the drive's own update protocol.
pub fn atapi_write(
    target: &Target,
    conn: &Connect,
    input: &Path,
    opts: &WriteOptions,
    ui: &mut dyn Ui,
) -> Result<Report, Failure> {
    atapi::check_options(opts)?;
    let image = load_for_write(input, true, ui)?;
    atapi::check(&image, opts)?;
    let conn = forced(conn, opts.enter.force);
    connect::with_packet(target, &conn, ui, |t, ui| atapi::write(t, &image, opts, ui))
}

/// `info` on a pass-through device (INQUIRY, IDENTIFY, the vendor intro's answer).
pub fn atapi_info(
    target: &Target,
    conn: &Connect,
    force: bool,
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    connect::with_packet(target, &forced(conn, force), ui, atapi::info)
}

/// Read the whole flash into a new file (never replacing one).
pub fn read(
    target: &Target,
    conn: &Connect,
    out: &Path,
    opts: &EnterOptions,
    ui: &mut dyn Ui,
) -> Result<Report, Failure> {
    let start = Instant::now();
    check_output(out, None)?;
    let conn = forced(conn, opts.force);
    let mut r = connect::with_device(target, &conn, ui, |dev, ui| {
        let (data, r) = flash::read(dev, opts, ui)?;
        files::write_new_file(out, &data).map_err(|f| f.with_drive(NOT_CHANGED))?;
        ui.line(&format!(
            "Saved {} ({} KiB, Check Sum : {:04X})",
            out.display(),
            data.len() / 1024,
            sum16(&data)
        ));
        Ok(r)
    })?;
    r.backup = Some(out.to_path_buf());
    r.wall = start.elapsed();
    Ok(r)
}

/// Compare the flash with `input`; nothing is written.
pub fn verify(
    target: &Target,
    conn: &Connect,
    input: &Path,
    with_boot: bool,
    opts: &EnterOptions,
    ui: &mut dyn Ui,
) -> Result<Report, Failure> {
    let image = files::load_image(input)?;
    connect::with_device(target, &forced(conn, opts.force), ui, |dev, ui| {
        flash::verify(dev, &image, with_boot, opts, ui)
    })
}

/// Erase the flash (keeping the boot code unless `with_boot`).
pub fn erase(
    target: &Target,
    conn: &Connect,
    with_boot: bool,
    backup: &Backup,
    opts: &EnterOptions,
    ui: &mut dyn Ui,
) -> Result<Report, Failure> {
    match backup {
        Backup::To(p) => check_output(p, None)?,
        Backup::Auto => check_output(Path::new(".mtkflash-probe-name"), None)?,
        Backup::Skip => {}
    }
    if matches!(target, Target::Sim(_)) && connect::may_be_family(target) {
        return Err(no_vendor_mode("erase"));
    }
    connect::with_device(target, &forced(conn, opts.force), ui, |dev, ui| {
        flash::erase(dev, with_boot, backup, opts, ui)
    })
}

/// A later family's drive asked for a vendor-mode operation.
fn no_vendor_mode(what: &str) -> Failure {
    Failure::new(
        Kind::NotSupported,
        format!("this is an MT1959/MT1339-class drive: it has no vendor mode to {what} through"),
        UNTOUCHED,
        "write a whole image with `mtkflash write` (the drive's own updater keeps its boot area and calibration); `read` and `verify` work as they are",
    )
}

/// Identify the drive and its flash; writes nothing.
pub fn info(
    target: &Target,
    conn: &Connect,
    opts: &EnterOptions,
    ui: &mut dyn Ui,
) -> Result<Info, Failure> {
    connect::with_device(target, &forced(conn, opts.force), ui, |dev, ui| {
        flash::info(dev, opts, ui)
    })
}

/// Refused: the drive answered as none of the later families, where one was expected.
fn not_a_family(target: &Target) -> Failure {
    Failure::new(
        crate::error::Kind::NoUpdater,
        format!("{} does not answer as an MT1959/MT1339 drive (INQUIRY and READ BUFFER at 0x1EC000)", target.describe()),
        UNTOUCHED,
        "check the device (`mtkflash info`); give --family mt1959 or mt1339 when the drive runs its loader only",
    )
}

/// Is the drive at `target` to be asked whether it is of a later family? When
/// `--family` names one, on pass-through devices (`write` and `info`: the BTC update
/// is the other possibility) and on virtual drives made as one.
pub fn ask_family(target: &Target, given: Option<Family>) -> bool {
    given.is_some() || connect::may_be_family(target)
}

/// Write `input` through the drive's own updater, in one session: a later family's
/// (`--family`, or found by asking the drive), else on a pass-through device the BTC
/// update.
pub fn own_updater_write(
    target: &Target,
    conn: &Connect,
    given: Option<Family>,
    input: &Path,
    opts: &WriteOptions,
    ui: &mut dyn Ui,
) -> Result<Report, Failure> {
    let image = files::load_image(input)?;
    if let Some(f) = given {
        family::check_image(f, &image)?;
        check_backup(input, opts)?;
    }
    let conn = forced(conn, opts.enter.force);
    connect::with_packet(target, &conn, ui, |t, ui| {
        match family::family_here(t, given)? {
            Some(f) => {
                check_backup(input, opts)?;
                family::write(t, f, &image, opts, ui)
            }
            None if matches!(target, Target::Scsi(_)) => {
                atapi::check_options(opts)?;
                write::check_image(&image, true, ui)?;
                atapi::check(&image, opts)?;
                atapi::write(t, &image, opts, ui)
            }
            None => Err(not_a_family(target)),
        }
    })
}

/// `info` through the drive's own interface: a later family's facts, else on a
/// pass-through device what the BTC path shows. The family, when it is one.
pub fn own_updater_info(
    target: &Target,
    conn: &Connect,
    given: Option<Family>,
    force: bool,
    ui: &mut dyn Ui,
) -> Result<Option<family::Facts>, Failure> {
    connect::with_packet(
        target,
        &forced(conn, force),
        ui,
        |t, ui| match family::family_here(t, given)? {
            Some(f) => {
                let facts = family::facts(t, f)?;
                family::show(&facts, ui);
                Ok(Some(facts))
            }
            None if matches!(target, Target::Scsi(_)) => atapi::info(t, ui).map(|()| None),
            None => Err(not_a_family(target)),
        },
    )
}

/// Read the whole window of a later family's drive into a new file (every block read
/// twice; gaps filled with FF and reported).
pub fn family_read(
    target: &Target,
    conn: &Connect,
    given: Option<Family>,
    out: &Path,
    ui: &mut dyn Ui,
) -> Result<(Family, usize, family::Gaps), Failure> {
    check_output(out, None)?;
    connect::with_packet(target, conn, ui, |t, ui| {
        let fam = family::family_here(t, given)?.ok_or_else(|| not_a_family(target))?;
        let (data, gaps) = family::read_window(t, fam, ui)?;
        files::write_new_file(out, &data).map_err(|f| f.with_drive(UNTOUCHED))?;
        ui.line(&format!(
            "Saved {} ({} KiB, Check Sum : {:04X})",
            out.display(),
            data.len() / 1024,
            sum16(&data)
        ));
        Ok((fam, data.len(), gaps))
    })
}

/// Compare a later family's drive with `input`.
pub fn family_verify(
    target: &Target,
    conn: &Connect,
    given: Option<Family>,
    input: &Path,
    ui: &mut dyn Ui,
) -> Result<Family, Failure> {
    let image = files::load_image(input)?;
    connect::with_packet(target, conn, ui, |t, ui| {
        let fam = family::family_here(t, given)?.ok_or_else(|| not_a_family(target))?;
        family::verify(t, fam, &image, ui).map(|()| fam)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn force_on_the_command_reaches_the_connect_layer() {
        let base = Connect {
            force: false,
            trace: Some("t.trace".into()),
            log_trace: None,
        };
        let c = forced(&base, true);
        assert!(c.force);
        assert_eq!(c.trace, base.trace);
        assert!(!forced(&base, false).force);
        assert!(forced(&Connect::forced(true), false).force);
    }
}
