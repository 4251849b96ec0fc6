//! Learning who a drive is, and a vendor-mode session with an identified flash chip
//! that leaves vendor mode (outro + reset) however it ends.

use crate::chips::{Bus, ChipInfo, Eraser};
use crate::connect::{Device, Ports};
use crate::error::{Failure, Kind, NOT_CHANGED, UNTOUCHED};
use crate::mtk::flash::{jedec, spi, FlashOps};
pub use crate::mtk::identity::Identity;
use crate::mtk::vendor::{FlashKind, Vendor, VendorError};
use crate::report::{Event, Ui};
use crate::transport::ata::{Ata, AtaError};
use crate::transport::PortIo;

pub(crate) fn drive_err(e: AtaError) -> Failure {
    let (kind, next) = match e {
        AtaError::NoDevice { .. } => (
            Kind::NoDrive,
            "check the cable, power and master/slave jumper, and the port number (`mtkflash scan`)",
        ),
        _ => (Kind::DriveError, "power-cycle the drive and try again"),
    };
    Failure::new(kind, e.to_string(), UNTOUCHED, next)
}

/// Ask the drive who it is (IDENTIFY PACKET DEVICE + INQUIRY). Status 0x00 after
/// IDENTIFY PACKET (neither data nor an abort) is what an empty position reads, and
/// maybe a boot code that ignores the command (I7 leaves its answer open): a drive
/// named on the command line is then taken as running boot code only, so the vendor
/// intro decides; `scan` leaves out a position where the intro gets no answer either.
pub fn identify(dev: &mut Device) -> Result<Identity, Failure> {
    match crate::mtk::identity::identify(&mut dev.ata) {
        Err(AtaError::NoDevice { status: 0x00, at }) => {
            log::info!("{at}: status 0x00 after IDENTIFY PACKET: an empty position, or boot code that ignores it; asking the vendor intro");
            Ok(Identity::BootOnly)
        }
        r => r.map_err(drive_err),
    }
}

/// The classic opening of read and write: the port line, then who the drive is (also
/// as the `identity` event).
pub fn greet(dev: &mut Device, ui: &mut dyn Ui) -> Result<Identity, Failure> {
    match &dev.target {
        // (The task file there is an emulation: its port numbers mean nothing.)
        crate::connect::Target::Scsi(p) => {
            ui.line(&format!("Device: {} (ATA pass-through)", p.display()))
        }
        _ => ui.line(&format!(
            "Port: {:X}, Master/Slave: {:02x}",
            dev.ata.ch.cmd,
            dev.ata.ch.dev()
        )),
    }
    let identity = identify(dev)?;
    ui.event(&identity.event());
    Ok(identity)
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

/// A vendor-mode session with an identified chip. It leaves vendor mode (outro, then
/// the reset that reboots the drive from its flash) when it ends: through
/// [`Session::leave`], which reports the leaving's error, or by being dropped on any
/// other path (an early return, a panic), which logs it. [`in_vendor_mode`] wraps both.
pub struct Session<'d> {
    pub v: Vendor<&'d mut Ata<Ports>>,
    pub chip: &'static ChipInfo,
    /// Erase operations safe for this chip (fewer when the ID is shared by variants).
    pub erasers: Vec<Eraser>,
    /// The ID bytes read, for messages.
    pub ids: String,
    left: bool,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if !self.left {
            self.left = true;
            if let Err(e) = self.v.leave() {
                log::warn!("leaving vendor mode: {e}");
            }
        }
    }
}

/// Enter vendor mode, run `f` in the session, and leave on every path. The leaving's
/// error is the result when `f` succeeded, and is added to the drive line when `f`
/// failed (the drive is then in a state the user must know).
pub fn in_vendor_mode<R>(
    dev: &mut Device,
    opts: &EnterOptions,
    ui: &mut dyn Ui,
    f: impl FnOnce(&mut Session<'_>, &mut dyn Ui) -> Result<R, Failure>,
) -> Result<R, Failure> {
    let mut s = Session::enter(dev, opts, ui)?;
    let r = f(&mut s, ui);
    match (r, s.leave()) {
        (Ok(v), Ok(_)) => Ok(v),
        (Ok(_), Err(e)) => Err(e),
        (Err(f), Ok(_)) => Err(f),
        (Err(f), Err(e)) => {
            let drive = format!("{}; leaving vendor mode failed too: {}", f.drive, e.what);
            Err(f.with_drive(drive))
        }
    }
}

fn vendor_failure(e: VendorError, drive: &str) -> Failure {
    let kind = match e {
        VendorError::ChipTimeout { .. } => Kind::WriteFailed,
        _ => Kind::DriveError,
    };
    Failure::new(
        kind,
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

/// Send the intro every INTRO_RETRY_GAP for `window` (inference I17), with a countdown
/// named `stage`; a Ctrl-C ends the tries.
fn intro_window<'d>(
    tf: &'d mut Ata<Ports>,
    window: std::time::Duration,
    stage: &str,
    ui: &mut dyn Ui,
) -> Result<Vendor<&'d mut Ata<Ports>>, (&'d mut Ata<Ports>, VendorError)> {
    ui.begin(stage, window.as_secs());
    let mut first = true;
    let r = Vendor::enter_within(
        tf,
        window,
        crate::inference::INTRO_RETRY_GAP,
        |_| {
            if !std::mem::take(&mut first) {
                ui.advance(1);
            }
        },
        || !crate::interrupt::requested(),
    );
    ui.end();
    r
}

impl<'d> Session<'d> {
    /// Enter vendor mode (retrying the intro; when interactive, asking the user to
    /// power-cycle the drive between tries) and identify the flash chip.
    pub fn enter(
        dev: &'d mut Device,
        opts: &EnterOptions,
        ui: &mut dyn Ui,
    ) -> Result<Session<'d>, Failure> {
        let mut r = Vendor::enter(&mut dev.ata);
        // --retries N: a drive that is still starting (or is switched on right now)
        // answers a moment later, so the intro is sent again and again for N - 1 more
        // rounds of a second each, not N times in a row (inference I17).
        let rounds = opts.attempts.max(1) - 1;
        r = match r {
            Err((tf, VendorError::IntroFailed { .. })) if rounds > 0 => {
                let window = crate::inference::INTRO_RETRY_ROUND * rounds;
                log::info!(
                    "no answer to the vendor intro; sending it every {} ms for {} s (--retries)",
                    crate::inference::INTRO_RETRY_GAP.as_millis(),
                    window.as_secs()
                );
                intro_window(tf, window, "Waiting for the vendor intro's answer (s)", ui)
            }
            r => r,
        };
        // After the automatic attempts, an interactive user may power-cycle the drive up
        // to three times: the boot code answers only just after power-on, so the intro
        // is sent again and again over a window, with a countdown (inference I17).
        let mut cycles = 0;
        while let Err((tf, VendorError::IntroFailed { at, status })) = r {
            let window = crate::inference::INTRO_RETRY_WINDOW;
            let q = format!(
                "MTK vendor intro failed (status 0x{status:02X}). Answer y, then switch the drive off and on (its power connector) within {} s: the intro is sent until the boot code answers",
                window.as_secs()
            );
            if cycles == 3 || !ui.ask(&q) {
                r = Err((tf, VendorError::IntroFailed { at, status }));
                break;
            }
            cycles += 1;
            // A virtual drive is power-cycled by the tool, standing in for the user.
            tf.io.power_cycle();
            ui.line(&format!(
                "Sending the vendor intro every {} ms for up to {} s: power-cycle the drive now",
                crate::inference::INTRO_RETRY_GAP.as_millis(),
                window.as_secs()
            ));
            r = intro_window(tf, window, "Waiting for the boot code (s)", ui);
        }
        if r.is_err() && crate::interrupt::requested() {
            return Err(super::interrupted(
                "while waiting for the vendor intro's answer",
                UNTOUCHED,
                "run the command again when the drive is ready",
            ));
        }
        let v = match r {
            Ok(v) => v,
            Err((mut tf, e @ VendorError::Unsupported { .. })) => {
                // Whatever mode the drive entered, the outro and reset bring it back.
                crate::mtk::vendor::send_outro(&mut tf);
                return Err(Failure::new(
                    Kind::IntroRefused,
                    format!("{e}; mtkflash does not guess at an unknown bridge (--force does not change this)"),
                    "not changed (nothing was written; the outro and a reset were sent)",
                    "record what the drive answers with `mtkflash --trace intro.trace info PORT` and send the trace to the mtkflash developers",
                ));
            }
            Err((_, e)) => {
                let (kind, what, next) = match &e {
                    VendorError::IntroFailed { status, .. } if *status == 0x80 => (
                        Kind::NotMediatek,
                        format!("{e}: the drive stays busy; it is not running its boot code"),
                        "power-cycle the drive and try again; a drive whose boot code is damaged cannot be recovered by any flasher",
                    ),
                    VendorError::IntroFailed { .. } => (
                        Kind::NotMediatek,
                        format!("{e}: this is not a MediaTek drive, or it does not accept the vendor intro"),
                        "check the port (`mtkflash scan`); if this is a MediaTek drive, power-cycle it and run the command right after power-on. If a write to it stopped while it rewrote the boot code (chips with 64 KiB sectors), the boot code may be gone: then only an external flash programmer revives it, from the backup",
                    ),
                    VendorError::PathFault(_) => (
                        Kind::PathFault,
                        e.to_string(),
                        "connect the drive to a task-file port (an IDE channel, or a SATA controller in IDE mode) and use port 1-4; send a --trace of this run to the mtkflash developers",
                    ),
                    _ => (
                        Kind::DriveError,
                        e.to_string(),
                        "check the cable, power and jumper, and the port number",
                    ),
                };
                return Err(Failure::new(kind, what, UNTOUCHED, next));
            }
        };
        let mut s = Session {
            v,
            chip: crate::chips::CHIPS.first().expect("table"),
            erasers: Vec::new(),
            ids: String::new(),
            left: false,
        };
        ui.line("Identifying flash type");
        // A failure here drops the session, which leaves vendor mode.
        s.identify(opts)?;
        ui.line(&format!("Flash Type: {}", s.chip.label()));
        ui.event(&Event::chip(s.chip, &s.ids));
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
            if c.bus() != want_bus {
                return Err(Failure::new(
                    Kind::Usage,
                    format!(
                        "--chip {} is a {:?} chip but this drive has {:?} flash",
                        c.name,
                        c.bus(),
                        want_bus
                    ),
                    NOT_CHANGED,
                    "pick a chip of the right kind from `mtkflash chips`",
                ));
            }
            // --chip stands in for an ID that is not known, or picks among variants
            // that share one; it never overrides a chip that was identified.
            if !cands.is_empty() && !cands.iter().any(|k| k.name == c.name) {
                let names: Vec<_> = cands.iter().map(|k| k.name).collect();
                return Err(Failure::new(
                    Kind::ChipConflict,
                    format!(
                        "--chip {} conflicts with the chip the drive identifies: {} ({ids})",
                        c.name,
                        names.join(" or ")
                    ),
                    NOT_CHANGED,
                    "leave --chip out: it is only for a chip whose ID is unknown or shared",
                ));
            }
            self.chip = c;
            self.erasers = c.erasers.to_vec();
            return Ok(());
        }
        match cands.len() {
            0 => Err(Failure::new(
                Kind::UnknownChip,
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
                        Kind::AmbiguousChip,
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

    /// Leave vendor mode so the drive reboots from its flash; the leaving's error is
    /// returned (dropping the session instead only logs it).
    pub fn leave(mut self) -> Result<u8, Failure> {
        self.left = true;
        self.v.leave().map_err(|e| {
            Failure::new(
                Kind::NotBack,
                e.to_string(),
                "the drive did not come back after the reset",
                "power-cycle the drive",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::{self, Connect, Target};
    use crate::report::Recorder;

    fn drive() -> (tempfile::TempDir, Target) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.mtksim");
        connect::create_default_sim(&path).unwrap();
        (dir, Target::Sim(path))
    }

    /// After a session ends, the drive has been reset and runs its firmware again: it
    /// answers IDENTIFY PACKET and INQUIRY (in vendor mode it does not).
    fn runs_firmware(dev: &mut Device) -> bool {
        matches!(identify(dev), Ok(Identity::Atapi { .. }))
    }

    #[test]
    fn a_dropped_session_leaves_vendor_mode() {
        let (_dir, t) = drive();
        let ui = &mut Recorder::default();
        let mut dev = connect::open(&t, &Connect::default(), ui).unwrap();
        let opts = EnterOptions {
            attempts: 1,
            ..EnterOptions::default()
        };
        {
            let s = Session::enter(&mut dev, &opts, ui).unwrap();
            assert_eq!(s.chip.name, "SST39VF080");
            assert!(!s.left);
        }
        assert!(runs_firmware(&mut dev), "the drive stayed in vendor mode");
        dev.close().unwrap();
    }

    #[test]
    fn a_failing_operation_still_leaves_and_keeps_its_own_failure() {
        let (_dir, t) = drive();
        let ui = &mut Recorder::default();
        let mut dev = connect::open(&t, &Connect::default(), ui).unwrap();
        let opts = EnterOptions {
            attempts: 1,
            ..EnterOptions::default()
        };
        let f = in_vendor_mode(&mut dev, &opts, ui, |s, _| -> Result<(), Failure> {
            // Prove the session is live: the chip answers a read.
            let mut b = [0u8; 1];
            s.driver().read(0, &mut b).unwrap();
            Err(Failure::new(
                Kind::Differs,
                "made up",
                NOT_CHANGED,
                "nothing",
            ))
        })
        .unwrap_err();
        assert_eq!(f.kind, Kind::Differs);
        assert_eq!(
            f.drive, NOT_CHANGED,
            "leaving succeeded, so nothing is added"
        );
        assert!(runs_firmware(&mut dev), "the drive stayed in vendor mode");
        let ok = in_vendor_mode(&mut dev, &opts, ui, |s, _| Ok(s.chip.size)).unwrap();
        assert_eq!(ok, 1 << 20);
        assert!(runs_firmware(&mut dev));
        dev.close().unwrap();
    }
}
