//! Read, verify, erase and info over a vendor-mode session on an open device. Nothing
//! here opens a drive or touches a file: the caller brings the device and the bytes.

use super::execute::execute;
use super::readback::{read_all, read_checked};
use super::session::{greet, identify, in_vendor_mode, EnterOptions, Identity};
use super::write::Report;
use crate::connect::Device;
use crate::error::{Failure, Kind, NOT_CHANGED};
use crate::files::{save_backup, Backup};
use crate::firmware::{sum16, Analysis, Image};
use crate::inference::BOOT_LEN;
use crate::plan::{self, Cost};
use crate::report::Ui;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Read the whole flash (every block read twice). The report names the chip, the
/// identity and the checksum.
pub fn read(
    dev: &mut Device,
    opts: &EnterOptions,
    ui: &mut dyn Ui,
) -> Result<(Vec<u8>, Report), Failure> {
    let start = Instant::now();
    let identity = greet(dev, ui)?;
    let (data, chip) = in_vendor_mode(dev, opts, ui, |s, ui| {
        ui.line("Reading....");
        Ok((read_all(s, ui)?, s.chip.name.to_string()))
    })?;
    let report = Report {
        chip,
        identity_before: Some(identity.describe()),
        sum16: sum16(&data),
        modelled: dev.modelled(),
        bus_ops: dev.bus_ops(),
        wall: start.elapsed(),
        ..Report::default()
    };
    Ok((data, report))
}

/// Compare the drive's flash with `image`; nothing is written.
pub fn verify(
    dev: &mut Device,
    image: &Image,
    with_boot: bool,
    opts: &EnterOptions,
    ui: &mut dyn Ui,
) -> Result<Report, Failure> {
    let start = Instant::now();
    let identity = identify(dev)?;
    ui.event(&identity.event());
    let (data, chip) = in_vendor_mode(dev, opts, ui, |s, ui| {
        if image.data().len() != s.chip.size as usize {
            return Err(Failure::new(
                Kind::SizeMismatch,
                format!(
                    "{} is {} KiB but the flash holds {} KiB",
                    image.name,
                    image.data().len() / 1024,
                    s.chip.size / 1024
                ),
                NOT_CHANGED,
                "compare with the firmware made for this drive",
            ));
        }
        Ok((read_all(s, ui)?, s.chip.name.to_string()))
    })?;
    let from = if with_boot { 0 } else { BOOT_LEN };
    let want = image.data();
    let diffs = (from..data.len()).filter(|&i| data[i] != want[i]);
    if let Some(first) = diffs.clone().next() {
        return Err(Failure::new(
            Kind::Differs,
            format!(
                "the drive's flash differs from {} in {} byte(s), the first at 0x{first:06X}",
                image.name,
                diffs.count()
            ),
            NOT_CHANGED,
            "write the file with `mtkflash write` (or the classic `w`) if it should be on the drive",
        ));
    }
    ui.line(&format!(
        "Verify OK: the flash matches {}{} (Check Sum : {:04X})",
        image.name,
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
        modelled: dev.modelled(),
        wall: start.elapsed(),
        ..Report::default()
    })
}

/// Erase the flash except the boot code (or all of it with `with_boot`).
pub fn erase(
    dev: &mut Device,
    with_boot: bool,
    backup: &Backup,
    opts: &EnterOptions,
    ui: &mut dyn Ui,
) -> Result<Report, Failure> {
    let start = Instant::now();
    let identity = identify(dev)?;
    ui.event(&identity.event());
    let mut saved: Option<PathBuf> = None;
    let mut boot_gone = false;
    let r = in_vendor_mode(dev, opts, ui, |s, ui| {
        let current = read_all(s, ui)?;
        saved = save_backup(backup, Some(Path::new("erase.bin")), &current)
            .map_err(|f| f.with_drive(NOT_CHANGED))?;
        if let Some(b) = &saved {
            ui.line(&format!("Backup: {}", b.display()));
        }
        boot_gone = with_boot;
        let blank = vec![0xFF; current.len()];
        let p = plan::plan_owned(s.chip, &s.erasers, &current, blank, with_boot, &Cost::default())
            .map_err(|e| {
                Failure::new(
                    Kind::PlanCheck,
                    format!("refusing an erase plan that fails its self-check: {e}"),
                    NOT_CHANGED,
                    "this is a bug in mtkflash's chip table or planner: please report it with `mtkflash chips` output",
                )
            })?;
        execute(s, &p, 0..p.steps.len(), &current, None, ui)?;
        let mut got = current.clone();
        {
            let mut drv = s.driver();
            for (a, l) in p.touched() {
                let r = a as usize..(a + l) as usize;
                read_checked(drv.as_mut(), a, &mut got[r], ui)
                    .map_err(|f| f.with_drive("partly erased"))?;
            }
            let _ = drv.restore();
        }
        if got != p.target {
            return Err(Failure::new(
                Kind::WriteFailed,
                "the erase did not take everywhere",
                "partly erased",
                "run the erase again",
            ));
        }
        let erased: u64 = p.touched().iter().map(|&(_, l)| l as u64).sum();
        Ok((s.chip.name.to_string(), erased))
    });
    if boot_gone {
        // Whatever leaving vendor mode said: there is no boot code to come back to.
        let backup = match &saved {
            Some(b) => format!("your backup is {}", b.display()),
            None => "there is no backup (--no-backup)".to_string(),
        };
        return Err(match r {
            Err(f) if f.kind != Kind::NotBack => f,
            _ => Failure::new(
                Kind::BootErased,
                "the boot code is erased: the drive can only be revived with an external flash programmer",
                format!("erased completely, boot code included; it no longer answers anything; {backup}"),
                "write the backup to the chip with an external programmer (the drive cannot take it)",
            ),
        });
    }
    let (chip, erased) = r?;
    ui.line(&format!(
        "Erased {} KiB{}",
        erased / 1024,
        if with_boot {
            " including the boot code"
        } else {
            "; the boot code was kept"
        }
    ));
    Ok(Report {
        chip,
        identity_before: Some(identity.describe()),
        erase_bytes: erased,
        modelled: dev.modelled(),
        wall: start.elapsed(),
        ..Report::default()
    })
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
    /// Modelled device time (virtual drives) and wall time of the whole command.
    pub modelled: Option<std::time::Duration>,
    pub wall: std::time::Duration,
}

/// Identify the drive and its flash, read the flash, say what it holds. Writes nothing.
pub fn info(dev: &mut Device, opts: &EnterOptions, ui: &mut dyn Ui) -> Result<Info, Failure> {
    let start = Instant::now();
    let identity = identify(dev)?;
    ui.event(&identity.event());
    ui.line(&format!("Drive:     {}", identity.describe()));
    ui.line(&format!(
        "Mode:      {}",
        match identity {
            Identity::Atapi { .. } => "running firmware",
            Identity::BootOnly => "BOOT CODE ONLY: the firmware is damaged; write the right firmware with `mtkflash write` (or `mtkflash 3 w /m fw.bin`) to recover",
        }
    ));
    let mut info = in_vendor_mode(dev, opts, ui, |s, ui| {
        let data = read_all(s, ui)?;
        let a = Analysis::of(&data);
        Ok(Info {
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
            modelled: None,
            wall: std::time::Duration::ZERO,
        })
    })?;
    info.modelled = dev.modelled();
    info.wall = start.elapsed();
    Ok(info)
}
