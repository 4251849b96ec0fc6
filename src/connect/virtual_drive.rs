//! The virtual drive plugged in like any other backend: opened from its file, saved
//! back when the device is closed. The only place above `sim` that knows it.

use super::ports::{Backend, Ports};
use crate::error::{Failure, Kind, UNTOUCHED};
use crate::report::Ui;
use crate::sim::store::{self, Meta, Stored};
use crate::transport::ata::{Ata, Channel};
use std::path::{Path, PathBuf};

/// The default virtual drive's file (`sim` as the port).
pub use store::DEFAULT_PATH;

/// What a closed virtual drive is saved from.
pub struct Saved {
    path: PathBuf,
    meta: Meta,
}

/// Create the default virtual drive: a BTC DVDRW IDE1008, revision 0055, 1 MiB flash.
/// Returns false when another process created it first (it is not replaced).
pub fn create_default(path: &Path) -> Result<bool, Failure> {
    let s = Stored::create(store::NewDrive {
        chip: crate::chips::by_name("SST39VF080").expect("in the chip table"),
        settings: crate::sim::btc_settings("0055"),
        firmware: None,
        bricked: false,
    })
    .map_err(|e| Failure::file(e.to_string(), "check the folder"))?;
    s.save_new(path)
        .map_err(|e| Failure::file(e.to_string(), "run from a folder you can write to"))
}

/// The default virtual drive (`sim`) is created on first use.
pub fn ensure_default(path: &Path, ui: &mut dyn Ui) -> Result<(), Failure> {
    if !path.exists() && path == Path::new(DEFAULT_PATH) && create_default(path)? {
        ui.line(&format!(
            "Created the default virtual drive {} (BTC DVDRW IDE1008 0055, SST39VF080 1 MiB)",
            path.display()
        ));
    }
    Ok(())
}

/// Can the drive's state be saved at `path` when the session ends? Asked before the
/// session, so a write never claims success and then loses it.
fn check_savable(path: &Path) -> Result<(), Failure> {
    let why = if std::fs::metadata(path).is_ok_and(|m| m.permissions().readonly()) {
        Some("the file is read-only".to_string())
    } else if let Err(e) = std::fs::OpenOptions::new().write(true).open(path) {
        Some(e.to_string())
    } else {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        tempfile::Builder::new()
            .prefix(".mtksim-probe")
            .tempfile_in(dir)
            .err()
            .map(|e| format!("its folder takes no new files ({e})"))
    };
    match why {
        None => Ok(()),
        Some(why) => Err(Failure::file(
            format!(
                "the virtual drive {} could not be saved after the session: {why}",
                path.display()
            ),
            "make the file and its folder writable, or copy the drive file to a folder you can write to",
        )),
    }
}

/// Open the virtual drive stored at `path`.
pub fn open(path: &Path) -> Result<(Ata<Ports>, Saved), Failure> {
    if path.exists() {
        check_savable(path)?;
    }
    let stored = Stored::load(path).map_err(|e| {
        Failure::new(
            Kind::NoDrive,
            e.to_string(),
            UNTOUCHED,
            "create it with `mtkflash sim new PATH --chip NAME --drive \"VENDOR|PRODUCT|REV\"`, or use `sim` for the default drive",
        )
    })?;
    let meta = stored.meta.clone();
    let ch = stored.into_channel();
    let channel = Channel {
        cmd: ch.cmd_base,
        ctl: ch.ctl_base,
        slave: ch.slave,
    };
    let saved = Saved {
        path: path.to_path_buf(),
        meta,
    };
    Ok((Ata::new(Backend::Sim(Box::new(ch)).into(), channel), saved))
}

/// Is the virtual drive at `path` one of a later family (updated by its own firmware)?
pub fn is_family(path: &Path) -> bool {
    Stored::load(path).is_ok_and(|s| s.meta.unit.is_some())
}

/// Save the drive's state after a session (`io` is the untraced backend).
pub fn save(saved: Saved, io: Backend) -> Result<(), Failure> {
    if let Backend::Sim(ch) = io {
        Stored::from_channel(*ch, saved.meta)
            .save(&saved.path)
            .map_err(|e| {
                Failure::file(e.to_string(), "check free space and permissions")
                    .with_drive("virtual drive state not saved")
            })?;
    }
    Ok(())
}
