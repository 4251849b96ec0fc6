//! Virtual drives on disk.
//!
//! File format (version 1): the line `MTKSIM 1`, one line of JSON metadata ([`Meta`]),
//! then the raw flash content (exactly the chip's size). Saved atomically (temporary
//! file in the same folder, then rename), so a crash never leaves half a drive.

use super::drive::family::Unit;
use super::drive::{boot_crc, Drive, Flash, Mode, Settings};
use super::taskfile::SimChannel;
use crate::chips::{self, ChipInfo};
use crate::firmware::family::Family;
use crate::firmware::synth;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;

const MAGIC: &[u8] = b"MTKSIM 1\n";

/// Where the default virtual drive (`sim`) lives: this file in the current folder.
pub const DEFAULT_PATH: &str = "mtkflash-default.mtksim";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Meta {
    pub chip: String,
    pub vendor: String,
    pub product: String,
    pub revision: String,
    /// Command-block base of the channel the drive sits on, and its position.
    pub cmd_base: u16,
    pub slave: bool,
    /// CRC-32 of the boot block last known to run.
    pub good_boot_crc: u32,
    /// What the drive was doing when last saved (it stays powered between commands).
    pub mode: String,
    /// Fault specification (see docs), empty for none.
    #[serde(default)]
    pub faults: String,
    /// Serial-flash drives: the vendor intro's answer, 0x72 or 0x73 (0x52: a drive no
    /// source flashes). None: 0x72.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intro: Option<u8>,
    /// Record flash events with their bus-operation counts (fault campaigns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<super::taskfile::FlashEvent>>,
    /// A drive of a later family (MT1959, MT1339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<UnitMeta>,
}

/// What a drive of a later family keeps beyond its flash.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct UnitMeta {
    pub family: Family,
    pub serial: String,
    pub fw_date: String,
    /// A programming was cut short: only its loader runs.
    #[serde(default)]
    pub loader_only: bool,
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot read the virtual drive {path}: {err}")]
    Read { path: String, err: String },
    #[error("{path} is not a virtual drive file ({why})")]
    Format { path: String, why: String },
    #[error("cannot save the virtual drive {path}: {err}")]
    Write { path: String, err: String },
    #[error("unknown flash chip '{0}' (see `mtkflash chips` for the list)")]
    UnknownChip(String),
    #[error("{0}")]
    Invalid(String),
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Normal => "normal",
        Mode::BootOnly => "boot-only",
        Mode::Vendor => "vendor",
        Mode::Outro => "outro",
        Mode::Dead => "dead",
    }
}

/// A virtual drive as stored.
pub struct Stored {
    pub meta: Meta,
    pub flash: Vec<u8>,
    pub chip: &'static ChipInfo,
}

/// What `sim new` makes.
pub struct NewDrive {
    pub chip: &'static ChipInfo,
    pub settings: Settings,
    pub firmware: Option<Vec<u8>>,
    pub bricked: bool,
}

impl Stored {
    pub fn create(n: NewDrive) -> Result<Stored, StoreError> {
        let size = n.chip.size as usize;
        let mut flash = match n.firmware {
            Some(f) if f.len() != size => {
                return Err(StoreError::Invalid(format!(
                    "the firmware is {} bytes but {} holds {} bytes",
                    f.len(),
                    n.chip.name,
                    size
                )))
            }
            Some(f) => f,
            None => synth::generate(&synth::Spec {
                vendor: n.settings.vendor.clone(),
                product: n.settings.product.clone(),
                revision: n.settings.revision.clone(),
                size,
            }),
        };
        let good = boot_crc(&flash);
        if n.bricked {
            // As after a flash cut short: bank 1 erased past its first sector.
            flash[0x10000..0x1F000].fill(0xFF);
        }
        let meta = Meta {
            chip: n.chip.name.to_string(),
            vendor: n.settings.vendor,
            product: n.settings.product,
            revision: n.settings.revision,
            cmd_base: 0x170,
            slave: false,
            good_boot_crc: good,
            mode: "normal".into(),
            faults: String::new(),
            intro: None,
            events: None,
            unit: None,
        };
        Ok(Stored {
            meta,
            flash,
            chip: n.chip,
        })
    }

    /// A drive of a later family: `family`'s flash chip (2 MiB for MT1959, 256 KiB for
    /// MT1339) holding a synthetic image of the model, with this unit's own calibration
    /// and serial (both from `unit`).
    pub fn create_family(
        family: Family,
        settings: Settings,
        unit: u64,
    ) -> Result<Stored, StoreError> {
        let chip = chips::by_name(match family {
            Family::Mt1959 => "MX25L1605D",
            Family::Mt1339 => "MX25L2005",
        })
        .expect("in the chip table");
        let spec = synth::Spec {
            vendor: settings.vendor.clone(),
            product: settings.product.clone(),
            revision: settings.revision.clone(),
            size: chip.size as usize,
        };
        let firmware = synth::family_image(family, &spec, unit);
        let mut s = Stored::create(NewDrive {
            chip,
            settings,
            firmware: Some(firmware),
            bricked: false,
        })?;
        let mut serial = String::new();
        let mut r = crate::rng::SplitMix(unit);
        for _ in 0..12 {
            serial.push(char::from(
                b"0123456789ABCDEFGHJKLMNPRSTUVWXYZ"[(r.next_u64() % 33) as usize],
            ));
        }
        s.meta.unit = Some(UnitMeta {
            family,
            serial,
            fw_date: "20200518143000".into(),
            loader_only: false,
        });
        Ok(s)
    }

    pub fn load(path: &Path) -> Result<Stored, StoreError> {
        use std::io::{BufRead, Read};
        let p = path.display().to_string();
        let rerr = |e: std::io::Error| StoreError::Read {
            path: p.clone(),
            err: e.to_string(),
        };
        let mut f = std::io::BufReader::new(std::fs::File::open(path).map_err(rerr)?);
        let mut magic = Vec::new();
        f.read_until(b'\n', &mut magic).map_err(rerr)?;
        if magic != MAGIC {
            return Err(StoreError::Format {
                path: p.clone(),
                why: "no MTKSIM header".into(),
            });
        }
        let mut line = Vec::new();
        f.read_until(b'\n', &mut line).map_err(rerr)?;
        if line.last() != Some(&b'\n') {
            return Err(StoreError::Format {
                path: p.clone(),
                why: "no metadata line".into(),
            });
        }
        let meta: Meta =
            serde_json::from_slice(&line[..line.len() - 1]).map_err(|e| StoreError::Format {
                path: p.clone(),
                why: format!("bad metadata: {e}"),
            })?;
        let chip =
            chips::by_name(&meta.chip).ok_or_else(|| StoreError::UnknownChip(meta.chip.clone()))?;
        let mut flash = Vec::with_capacity(chip.size as usize);
        f.take(chip.size as u64 + 1)
            .read_to_end(&mut flash)
            .map_err(rerr)?;
        if flash.len() != chip.size as usize {
            return Err(StoreError::Format {
                path: p,
                why: format!(
                    "flash content is {} bytes, {} holds {}",
                    flash.len(),
                    chip.name,
                    chip.size
                ),
            });
        }
        Ok(Stored { meta, flash, chip })
    }

    pub fn save(&self, path: &Path) -> Result<(), StoreError> {
        self.save_as(path, true)
    }

    /// Save to a new file; an existing one is left alone (`Ok(false)`).
    pub fn save_new(&self, path: &Path) -> Result<bool, StoreError> {
        match self.save_as(path, false) {
            Ok(()) => Ok(true),
            Err(_) if path.exists() => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn save_as(&self, path: &Path, replace: bool) -> Result<(), StoreError> {
        let err = |e: std::io::Error| StoreError::Write {
            path: path.display().to_string(),
            err: e.to_string(),
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".mtksim")
            .tempfile_in(&dir)
            .map_err(err)?;
        tmp.write_all(MAGIC).map_err(err)?;
        serde_json::to_writer(&mut tmp, &self.meta).map_err(|e| err(std::io::Error::other(e)))?;
        tmp.write_all(b"\n").map_err(err)?;
        tmp.write_all(&self.flash).map_err(err)?;
        if let (true, Ok(old)) = (replace, std::fs::metadata(path)) {
            // The drive file keeps its mode and (where allowed) its owner.
            tmp.as_file()
                .set_permissions(old.permissions())
                .map_err(err)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                let _ = std::os::unix::fs::fchown(tmp.as_file(), Some(old.uid()), Some(old.gid()));
            }
        }
        tmp.as_file().sync_all().map_err(err)?;
        if replace {
            tmp.persist(path).map_err(|e| err(e.error))?;
        } else {
            tmp.persist_noclobber(path).map_err(|e| err(e.error))?;
        }
        Ok(())
    }

    /// Power the drive (it keeps the state it was saved in).
    pub fn into_channel(self) -> SimChannel {
        let settings = Settings {
            vendor: self.meta.vendor.clone(),
            product: self.meta.product.clone(),
            revision: self.meta.revision.clone(),
        };
        let mut drive = match &self.meta.unit {
            Some(u) => {
                let mut unit = Unit::new(u.family, &u.serial, &u.fw_date);
                unit.loader_only = u.loader_only;
                Drive::new_family(Flash::new(self.chip, self.flash), settings, unit)
            }
            None => Drive::new(
                Flash::new(self.chip, self.flash),
                settings,
                self.meta.good_boot_crc,
            ),
        };
        if let Some(i) = self.meta.intro {
            drive.serial_intro = i;
        }
        match self.meta.mode.as_str() {
            "vendor" if drive.mode != Mode::Dead => drive.mode = Mode::Vendor,
            "outro" if drive.mode != Mode::Dead => drive.mode = Mode::Outro,
            _ => {}
        }
        let mut ch = SimChannel::new(drive, self.meta.cmd_base, self.meta.slave);
        if self.meta.mode == "off" {
            ch.powered_at = Some(0); // switched on just now
        }
        ch.set_faults(super::fault::Faults::parse(&self.meta.faults).unwrap_or_default());
        ch.record = self.meta.events.as_ref().map(|_| Vec::new());
        ch
    }

    /// The state to save after a session on `ch`.
    pub fn from_channel(mut ch: SimChannel, mut meta: Meta) -> Stored {
        ch.finish();
        meta.faults = ch.faults.to_string();
        if let Some(log) = ch.record.take() {
            meta.events = Some(log);
        }
        let off = ch.needs_power_on();
        let mut st = Self::from_drive(ch.drive, meta);
        if off {
            // Power was lost or the chip hung: the next command finds it power-cycled.
            st.meta.mode = "off".into();
        }
        st
    }

    /// The state to save of a drive.
    pub fn from_drive(mut drive: Drive, mut meta: Meta) -> Stored {
        drive.flash.finish();
        if let Some(mut u) = drive.unit.take() {
            // It stays powered: a programming under way finishes.
            if let Some((_, image)) = drive.updating.take() {
                drive.unit = Some(u);
                drive.family_finish(image);
                u = drive.unit.take().expect("a family drive");
            }
            meta.unit = Some(UnitMeta {
                family: u.family,
                serial: u.serial.clone(),
                fw_date: u.fw_date.clone(),
                loader_only: u.loader_only,
            });
            drive.unit = Some(u);
        }
        meta.good_boot_crc = drive.good_boot_crc;
        meta.mode = mode_name(drive.mode).to_string();
        let chip = drive.flash.info();
        let flash = std::mem::take(drive.flash.mem_mut());
        Stored { meta, flash, chip }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(bricked: bool) -> Stored {
        Stored::create(NewDrive {
            chip: chips::by_name("SST39VF080").unwrap(),
            settings: super::super::btc_settings("0055"),
            firmware: None,
            bricked,
        })
        .unwrap()
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.mtksim");
        let s = new(false);
        s.save(&p).unwrap();
        let l = Stored::load(&p).unwrap();
        assert_eq!(l.meta, s.meta);
        assert_eq!(l.flash, s.flash);
        assert_eq!(l.into_channel().drive.mode, Mode::Normal);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left behind"
        );
    }

    #[test]
    fn bricked_drive_boots_to_boot_code_only() {
        assert_eq!(new(true).into_channel().drive.mode, Mode::BootOnly);
    }

    #[test]
    fn vendor_mode_survives_between_commands() {
        let s = new(false);
        let meta = s.meta.clone();
        let mut ch = s.into_channel();
        ch.drive.mode = Mode::Vendor;
        let s2 = Stored::from_channel(ch, meta);
        assert_eq!(s2.meta.mode, "vendor");
        assert_eq!(s2.into_channel().drive.mode, Mode::Vendor);
    }

    #[test]
    fn damaged_files_are_rejected_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad");
        std::fs::write(&p, b"hello").unwrap();
        assert!(matches!(Stored::load(&p), Err(StoreError::Format { .. })));
        let s = new(false);
        s.save(&p).unwrap();
        let mut b = std::fs::read(&p).unwrap();
        b.truncate(b.len() - 10);
        std::fs::write(&p, b).unwrap();
        let e = Stored::load(&p).err().unwrap();
        assert!(e.to_string().contains("flash content"), "{e}");
    }
}
