//! Whole jobs as the command line runs them: check the files, connect to the drive, run
//! the operation on the open device, write the output, close. Library users who have
//! paths start here; those who have a device and bytes call `ops` directly.

pub mod update;

use crate::connect::{self, Connect, Target};
use crate::error::{Failure, NOT_CHANGED};
use crate::files::{self, check_output, Backup};
use crate::firmware::{sum16, Image};
use crate::ops::flash::{self, Info};
use crate::ops::{atapi, write, EnterOptions, Report, WriteOptions};
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
        write::write(dev, &image, opts, ui)
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
    connect::with_device(target, &forced(conn, opts.force), ui, |dev, ui| {
        flash::erase(dev, with_boot, backup, opts, ui)
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn force_on_the_command_reaches_the_connect_layer() {
        let base = Connect {
            force: false,
            trace: Some("t.trace".into()),
        };
        let c = forced(&base, true);
        assert!(c.force);
        assert_eq!(c.trace, base.trace);
        assert!(!forced(&base, false).force);
        assert!(forced(&Connect::forced(true), false).force);
    }
}
