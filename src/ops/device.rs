//! Opening a drive, learning who it is, and holding a vendor-mode session with an
//! identified flash chip.

use super::target::Target;
use super::Ui;
use crate::chips::{Bus, ChipInfo, Eraser};
use crate::clock::{Clock, Timed};
use crate::error::{Exit, Failure, NOT_CHANGED, UNTOUCHED};
use crate::mtk::flash::{jedec, spi, FlashOps};
use crate::mtk::vendor::{FlashKind, Vendor, VendorError};
use crate::sim::store::{self, Meta, Stored};
use crate::sim::SimChannel;
use crate::transport::ata::{ata_string, Ata, AtaError, DataDir};
use crate::transport::PortIo;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The port-I/O backends a drive can be reached through.
pub enum Ports {
    /// Nothing (only while a backend is being moved).
    Closed,
    Sim(Box<SimChannel>),
    /// A task file emulated over SCSI pass-through (experimental).
    PassThrough(Box<crate::transport::ptports::PtPorts>),
    /// Any backend, recorded by `--trace`.
    Traced(Box<crate::transport::trace::Tracer<Ports>>),
    #[cfg(target_os = "linux")]
    Raw(crate::transport::raw::RawPorts),
}

impl Timed for Ports {
    fn clock(&self) -> &dyn Clock {
        match self {
            Ports::Sim(s) => s.clock(),
            Ports::Closed => &*CLOSED_CLOCK,
            Ports::Traced(t) => t.clock(),
            Ports::PassThrough(p) => p.clock(),
            #[cfg(target_os = "linux")]
            Ports::Raw(r) => r.clock(),
        }
    }
}

impl PortIo for Ports {
    fn inb(&mut self, port: u16) -> u8 {
        match self {
            Ports::Sim(s) => s.inb(port),
            Ports::Closed => 0xFF,
            Ports::Traced(t) => t.inb(port),
            Ports::PassThrough(p) => p.inb(port),
            #[cfg(target_os = "linux")]
            Ports::Raw(r) => r.inb(port),
        }
    }
    fn outb(&mut self, port: u16, val: u8) {
        match self {
            Ports::Sim(s) => s.outb(port, val),
            Ports::Closed => {}
            Ports::Traced(t) => t.outb(port, val),
            Ports::PassThrough(p) => p.outb(port, val),
            #[cfg(target_os = "linux")]
            Ports::Raw(r) => r.outb(port, val),
        }
    }
    fn inw(&mut self, port: u16) -> u16 {
        match self {
            Ports::Sim(s) => s.inw(port),
            Ports::Closed => 0xFFFF,
            Ports::Traced(t) => t.inw(port),
            Ports::PassThrough(p) => p.inw(port),
            #[cfg(target_os = "linux")]
            Ports::Raw(r) => r.inw(port),
        }
    }
    fn outw(&mut self, port: u16, val: u16) {
        match self {
            Ports::Sim(s) => s.outw(port, val),
            Ports::Closed => {}
            Ports::Traced(t) => t.outw(port, val),
            Ports::PassThrough(p) => p.outw(port, val),
            #[cfg(target_os = "linux")]
            Ports::Raw(r) => r.outw(port, val),
        }
    }
    fn fault(&self) -> Option<String> {
        match self {
            Ports::Traced(t) => t.fault(),
            Ports::PassThrough(p) => p.fault(),
            _ => None,
        }
    }
    fn modelled(&self) -> Option<Duration> {
        match self {
            Ports::Sim(s) => s.modelled(),
            Ports::Closed => None,
            Ports::Traced(t) => t.modelled(),
            Ports::PassThrough(p) => p.modelled(),
            #[cfg(target_os = "linux")]
            Ports::Raw(_) => None,
        }
    }
    fn power_cycle(&mut self) -> bool {
        match self {
            Ports::Sim(s) => PortIo::power_cycle(&mut **s),
            Ports::Closed => false,
            Ports::Traced(t) => t.power_cycle(),
            Ports::PassThrough(_) => false,
            #[cfg(target_os = "linux")]
            Ports::Raw(_) => false,
        }
    }
}

static CLOSED_CLOCK: std::sync::LazyLock<crate::clock::RealClock> =
    std::sync::LazyLock::new(crate::clock::RealClock::new);

/// An open drive.
pub struct Device {
    pub ata: Ata<Ports>,
    pub target: Target,
    sim: Option<(PathBuf, Meta)>,
}

/// Who the drive says it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// A working ATAPI drive.
    Atapi {
        vendor: String,
        product: String,
        revision: String,
        model: String,
    },
    /// Runs boot code only: no IDENTIFY PACKET, no INQUIRY.
    BootOnly,
}

impl Identity {
    pub fn describe(&self) -> String {
        match self {
            Identity::Atapi {
                vendor,
                product,
                revision,
                ..
            } => format!("{vendor} {product} {revision}"),
            Identity::BootOnly => "no identity (the drive runs its boot code only)".into(),
        }
    }
}

/// Create the default virtual drive: a BTC DVDRW IDE1008, revision 0055, 1 MiB flash.
pub fn create_default_sim(path: &Path) -> Result<(), Failure> {
    let s = Stored::create(store::NewDrive {
        chip: crate::chips::by_name("SST39VF080").expect("in table"),
        settings: crate::sim::btc_settings("0055"),
        firmware: None,
        bricked: false,
    })
    .map_err(|e| Failure::file(e.to_string(), "check the folder"))?;
    s.save(path)
        .map_err(|e| Failure::file(e.to_string(), "run from a folder you can write to"))
}

impl Device {
    /// Open `target`; `force` uses raw ports even when a kernel driver owns them. With
    /// `--trace` every access is recorded.
    pub fn open(target: &Target, force: bool, ui: &mut dyn Ui) -> Result<Device, Failure> {
        let mut dev = Self::open_untraced(target, force, ui)?;
        if let Some(path) = crate::transport::trace::path() {
            let describe = dev.ata.ch.describe();
            let (cmd, ctl) = (dev.ata.ch.cmd, dev.ata.ch.ctl);
            let io = std::mem::replace(&mut dev.ata.io, Ports::Closed);
            let t = crate::transport::trace::Tracer::new(io, &path, cmd, ctl, &describe).map_err(
                |e| {
                    Failure::file(
                        format!("cannot write the trace {}: {e}", path.display()),
                        "choose another file",
                    )
                },
            )?;
            dev.ata.io = Ports::Traced(Box::new(t));
        }
        Ok(dev)
    }

    fn open_untraced(target: &Target, force: bool, ui: &mut dyn Ui) -> Result<Device, Failure> {
        #[cfg(not(target_os = "linux"))]
        let _ = force;
        match target {
            Target::Sim(path) => {
                if !path.exists() && path == Path::new(store::DEFAULT_PATH) {
                    create_default_sim(path)?;
                    ui.line(&format!(
                        "Created the default virtual drive {} (BTC DVDRW IDE1008 0055, SST39VF080 1 MiB)",
                        path.display()
                    ));
                }
                let stored = Stored::load(path).map_err(|e| {
                    Failure::new(
                        Exit::Drive,
                        e.to_string(),
                        UNTOUCHED,
                        "create it with `mtkflash sim new PATH --chip NAME --drive \"VENDOR|PRODUCT|REV\"`, or use `sim` for the default drive",
                    )
                })?;
                let meta = stored.meta.clone();
                let ch = stored.into_channel();
                let channel = crate::transport::ata::Channel {
                    cmd: ch.cmd_base,
                    ctl: ch.ctl_base,
                    slave: ch.slave,
                };
                Ok(Device {
                    ata: Ata::new(Ports::Sim(Box::new(ch)), channel),
                    target: target.clone(),
                    sim: Some((path.clone(), meta)),
                })
            }
            #[cfg(target_os = "linux")]
            Target::Scsi(p) => {
                let t = crate::transport::sgio::SgIo::open(p).map_err(|e| {
                    Failure::new(Exit::Drive, e.to_string(), UNTOUCHED, "check the device name (`mtkflash scan`) and your permissions")
                })?;
                ui.warn("vendor mode through ATA PASS-THROUGH is experimental (unproven on hardware)");
                let driver = crate::transport::sgio::host_driver(Path::new("/sys"), p);
                match driver.as_deref().map(|d| (d, crate::transport::sgio::libata_request_sense_on_df(d))) {
                    Some((d, Some(true))) => ui.warn(&format!(
                        "{d} runs libata's error handler after every vendor-mode status (DF set): the kernel sends the drive a REQUEST SENSE packet after each vendor command, which no source shows a MediaTek drive in vendor mode tolerating; a task-file port (unbind {d}) is the proven path"
                    )),
                    Some((d, None)) => ui.warn(&format!(
                        "the drive hangs off {d}, not libata: whether it passes ATA PASS-THROUGH with a vendor status back is unknown"
                    )),
                    _ => {}
                }
                Ok(Device::from_transport(Box::new(t), target.clone()))
            }
            #[cfg(not(target_os = "linux"))]
            Target::Scsi(p) => Err(Failure::new(
                Exit::Usage,
                format!("{} is a pass-through device: vendor mode needs a task-file port here", p.display()),
                UNTOUCHED,
                "use --method atapi for the drive's own update",
            )),
            #[cfg(target_os = "linux")]
            Target::Ports(ch) => {
                let raw = crate::transport::raw::open(Path::new("/"), ch, force).map_err(|e| {
                    Failure::new(Exit::Drive, format!("{}: {e}", ch.describe()), UNTOUCHED, e.next())
                })?;
                log::info!("{}: port access through {}", ch.describe(), raw.describe());
                Ok(Device { ata: Ata::new(Ports::Raw(raw), *ch), target: target.clone(), sim: None })
            }
            #[cfg(not(target_os = "linux"))]
            Target::Ports(ch) => Err(Failure::new(
                Exit::Drive,
                format!("raw port I/O on {} needs a kernel driver on this system", ch.describe()),
                UNTOUCHED,
                "on Windows use the drive's own update (a drive letter, --method atapi), or boot Linux for vendor mode",
            )),
        }
    }

    /// A drive reached through SCSI pass-through, with its task file emulated over ATA
    /// PASS-THROUGH (experimental).
    pub fn from_transport(
        t: Box<dyn crate::transport::scsi::ScsiTransport>,
        target: Target,
    ) -> Device {
        let pt = crate::transport::ptports::PtPorts::new(t);
        Device {
            ata: Ata::new(
                Ports::PassThrough(Box::new(pt)),
                crate::transport::ata::Channel::legacy(3).expect("3"),
            ),
            target,
            sim: None,
        }
    }

    /// Save a virtual drive's state. Real drives need nothing.
    pub fn close(self) -> Result<(), Failure> {
        let io = match self.ata.io {
            Ports::Traced(t) => t.into_inner(),
            other => other,
        };
        if let (Some((path, meta)), Ports::Sim(ch)) = (self.sim, io) {
            Stored::from_channel(*ch, meta).save(&path).map_err(|e| {
                Failure::file(e.to_string(), "check free space and permissions")
                    .with_drive("virtual drive state not saved")
            })?;
        }
        Ok(())
    }

    /// Modelled device time so far (virtual drives only).
    pub fn modelled(&self) -> Option<Duration> {
        self.ata.io.modelled()
    }

    /// Bus operations so far (virtual drives only).
    pub fn bus_ops(&self) -> Option<u64> {
        match &self.ata.io {
            Ports::Sim(s) => Some(s.ops),
            Ports::PassThrough(_) => None,
            Ports::Closed => None,
            Ports::Traced(_) => None,
            #[cfg(target_os = "linux")]
            Ports::Raw(_) => None,
        }
    }

    pub fn describe(&self) -> String {
        self.target.describe()
    }

    fn drive_err(&self, e: AtaError) -> Failure {
        let next = match e {
            AtaError::NoDevice { .. } => "check the cable, power and master/slave jumper, and the port number (`mtkflash scan`)",
            _ => "power-cycle the drive and try again",
        };
        Failure::new(Exit::Drive, e.to_string(), UNTOUCHED, next)
    }

    /// Ask the drive who it is (IDENTIFY PACKET DEVICE + INQUIRY). A drive that aborts
    /// IDENTIFY PACKET and posts no ATAPI signature runs boot code only.
    pub fn identity(&mut self) -> Result<Identity, Failure> {
        let s = self.ata.status();
        if s == 0xFF {
            return Err(self.drive_err(AtaError::NoDevice {
                at: self.ata.ch.describe(),
            }));
        }
        let words = match self.ata.identify_packet() {
            Ok(w) => w,
            Err(AtaError::Aborted { .. }) => return Ok(Identity::BootOnly),
            Err(e) => return Err(self.drive_err(e)),
        };
        let model = ata_string(&words[27..47]);
        let mut buf = Vec::new();
        let cdb = [0x12, 0, 0, 0, 96, 0, 0, 0, 0, 0, 0, 0];
        let out = self
            .ata
            .packet(&cdb, DataDir::In(96), &mut buf, Duration::from_secs(10))
            .map_err(|e| self.drive_err(e))?;
        if out.check_condition() || buf.len() < 36 {
            return Ok(Identity::Atapi {
                vendor: String::new(),
                product: model.clone(),
                revision: ata_string(&words[23..27]),
                model,
            });
        }
        let f = |r: std::ops::Range<usize>| String::from_utf8_lossy(&buf[r]).trim().to_string();
        Ok(Identity::Atapi {
            vendor: f(8..16),
            product: f(16..32),
            revision: f(32..36),
            model,
        })
    }
}

/// Options for entering vendor mode and picking the chip.
#[derive(Clone, Debug, Default)]
pub struct EnterOptions {
    /// Intro attempts before asking (interactive) or giving up.
    pub attempts: u32,
    /// Use this chip's geometry whatever the ID says.
    pub chip: Option<&'static ChipInfo>,
    /// `--force`: use ports a kernel driver owns (and, for writes, another model's firmware).
    pub force: bool,
}

/// A vendor-mode session with an identified chip.
pub struct Session<'d> {
    pub v: Vendor<&'d mut Ata<Ports>>,
    pub chip: &'static ChipInfo,
    /// Erase operations safe for this chip (fewer when the ID is shared by variants).
    pub erasers: Vec<Eraser>,
    /// The ID bytes read, for messages.
    pub ids: String,
}

fn vendor_failure(e: VendorError, drive: &str) -> Failure {
    let exit = match e {
        VendorError::ChipTimeout { .. } => Exit::Write,
        _ => Exit::Drive,
    };
    Failure::new(
        exit,
        e.to_string(),
        drive,
        "power-cycle the drive and run the command again",
    )
}

/// Erasers common to all chips sharing an ID (same opcode and layout in each).
fn common_erasers(cands: &[&'static ChipInfo]) -> Vec<Eraser> {
    cands[0]
        .erasers
        .iter()
        .filter(|e| cands.iter().all(|c| c.erasers.contains(e)))
        .copied()
        .collect()
}

impl<'d> Session<'d> {
    /// Enter vendor mode (retrying the intro; when interactive, asking the user to
    /// power-cycle the drive between tries) and identify the flash chip.
    pub fn enter(
        dev: &'d mut Device,
        opts: &EnterOptions,
        ui: &mut dyn Ui,
    ) -> Result<Session<'d>, Failure> {
        let attempts = opts.attempts.max(1);
        // After the automatic attempts, an interactive user may power-cycle the drive
        // and ask for up to three more (the boot code answers right after power-on).
        let mut prompt = |tf: &mut &mut Ata<Ports>, i: u32, status: u8| {
            if i < attempts {
                return true;
            }
            let yes = ui.ask(&format!(
                "MTK vendor intro failed (status 0x{status:02X}). Power-cycle the drive now, then answer y to retry"
            ));
            if yes {
                // A virtual drive is power-cycled by the tool, standing in for the user.
                tf.io.power_cycle();
            }
            yes
        };
        let v = match Vendor::enter(&mut dev.ata, attempts + 3, &mut prompt) {
            Ok(v) => v,
            Err((mut tf, e @ VendorError::Unsupported { .. })) => {
                // Whatever mode the drive entered, the outro and reset bring it back.
                crate::mtk::vendor::send_outro(&mut tf);
                return Err(Failure::new(
                    Exit::Drive,
                    format!("{e}; mtkflash does not guess at an unknown bridge (--force does not change this)"),
                    "not changed (nothing was written; the outro and a reset were sent)",
                    "record what the drive answers with `mtkflash --trace intro.trace info PORT` and send the trace to the mtkflash developers",
                ));
            }
            Err((_, e)) => {
                let (what, next) = match &e {
                    VendorError::IntroFailed { status, .. } if *status == 0x80 => (
                        format!("{e}: the drive stays busy; it is not running its boot code"),
                        "power-cycle the drive and try again; a drive whose boot code is damaged cannot be recovered by any flasher",
                    ),
                    VendorError::IntroFailed { .. } => (
                        format!("{e}: this is not a MediaTek drive, or it does not accept the vendor intro"),
                        "check the port (`mtkflash scan`); if this is a MediaTek drive, power-cycle it and run the command right after power-on",
                    ),
                    VendorError::PathFault(_) => (
                        e.to_string(),
                        "connect the drive to a task-file port (an IDE channel, or a SATA controller in IDE mode) and use port 1-4; send a --trace of this run to the mtkflash developers",
                    ),
                    _ => (e.to_string(), "check the cable, power and jumper, and the port number"),
                };
                return Err(Failure::new(Exit::Drive, what, UNTOUCHED, next));
            }
        };
        let mut s = Session {
            v,
            chip: crate::chips::CHIPS.first().expect("table"),
            erasers: Vec::new(),
            ids: String::new(),
        };
        ui.line("Identifying flash type");
        if let Err(f) = s.identify(opts) {
            let _ = s.v.leave();
            return Err(f);
        }
        ui.line(&format!("Flash Type: {}", s.chip.label()));
        ui.event(&super::Event::chip(s.chip, &s.ids));
        Ok(s)
    }

    fn identify(&mut self, opts: &EnterOptions) -> Result<(), Failure> {
        let (cands, ids) = match self.v.kind {
            FlashKind::Parallel => {
                match jedec::probe(&mut self.v).map_err(|e| vendor_failure(e, NOT_CHANGED))? {
                    Some(p) => {
                        let ids = if p.mfr > 0xFF {
                            format!(
                                "JEDEC {:02X} {:02X} {:02X}",
                                p.mfr >> 8,
                                p.mfr & 0xFF,
                                p.dev
                            )
                        } else {
                            format!("JEDEC {:02X} {:02X}", p.mfr, p.dev)
                        };
                        (p.candidates, ids)
                    }
                    None => (
                        Vec::new(),
                        "no JEDEC ID (the chip did not enter ID mode)".into(),
                    ),
                }
            }
            FlashKind::Serial => {
                let p = spi::probe(&mut self.v).map_err(|e| vendor_failure(e, NOT_CHANGED))?;
                let ids = p.ids();
                (p.candidates, ids)
            }
        };
        self.ids = ids.clone();
        let want_bus = match self.v.kind {
            FlashKind::Parallel => Bus::Parallel,
            FlashKind::Serial => Bus::Spi,
        };
        if let Some(c) = opts.chip {
            if c.bus != want_bus {
                return Err(Failure::new(
                    Exit::Usage,
                    format!(
                        "--chip {} is a {:?} chip but this drive has {:?} flash",
                        c.name, c.bus, want_bus
                    ),
                    NOT_CHANGED,
                    "pick a chip of the right kind from `mtkflash chips`",
                ));
            }
            self.chip = c;
            self.erasers = c.erasers.to_vec();
            return Ok(());
        }
        match cands.len() {
            0 => Err(Failure::new(
                Exit::Refused,
                format!("unknown flash chip ({ids}); refusing to write to a chip whose geometry is not known"),
                NOT_CHANGED,
                "if you know the chip (read its marking), give --chip NAME (`mtkflash chips` lists them); reading with --chip is safe",
            )),
            1 => {
                self.chip = cands[0];
                self.erasers = cands[0].erasers.to_vec();
                Ok(())
            }
            _ => {
                let same_size = cands.iter().all(|c| c.size == cands[0].size && c.write == cands[0].write);
                let common = common_erasers(&cands);
                if !same_size || !common.iter().any(|e| e.is_chip_erase(cands[0].size)) {
                    let names: Vec<_> = cands.iter().map(|c| c.name).collect();
                    return Err(Failure::new(
                        Exit::Refused,
                        format!("the flash ID {ids} fits several chips of different geometry: {}", names.join(", ")),
                        NOT_CHANGED,
                        "read the chip's marking and give --chip NAME",
                    ));
                }
                self.chip = cands[0];
                self.erasers = common;
                Ok(())
            }
        }
    }

    /// A driver for the identified chip.
    pub fn driver(&mut self) -> Box<dyn FlashOps + '_> {
        match self.v.kind {
            FlashKind::Parallel => Box::new(jedec::JedecDriver::new(&mut self.v, self.chip)),
            FlashKind::Serial => Box::new(spi::SpiDriver::new(&mut self.v, self.chip)),
        }
    }

    /// Leave vendor mode so the drive reboots from its flash.
    pub fn leave(mut self) -> Result<u8, Failure> {
        self.v.leave().map_err(|e| {
            Failure::new(
                Exit::Drive,
                e.to_string(),
                "the drive did not come back after the reset",
                "power-cycle the drive",
            )
        })
    }
}
