//! The connect layer: turns a [`Target`] (port, base, `/dev/sgN`, drive letter, `sim`,
//! `sim:PATH`) into an open [`Device`] behind the transport traits. The OS backend
//! choice, the preflight checks, the trace recorder and the virtual drive (which saves
//! itself when closed) live here and nowhere above: operations take an open device.

pub mod lock;
mod ports;
pub mod target;
mod virtual_drive;

use ports::Backend;
pub use ports::Ports;
pub use target::{plausible_base, Target, PORT_HELP};
pub use virtual_drive::{create_default as create_default_sim, DEFAULT_PATH};

use crate::error::{Failure, Kind, UNTOUCHED};
use crate::report::Ui;
use crate::transport::ata::Ata;
use crate::transport::scsi::ScsiTransport;
use crate::transport::PortIo;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to connect: what the command line says about reaching the drive.
#[derive(Clone, Debug, Default)]
pub struct Connect {
    /// Use ports a kernel driver owns.
    pub force: bool,
    /// Record every access to this file (`--trace`).
    pub trace: Option<PathBuf>,
    /// Without `--trace`: record task-file sessions to this file for the diagnostic
    /// log, on a best-effort basis (a trace that cannot be made or written is left
    /// out, never a reason to fail the command).
    pub log_trace: Option<PathBuf>,
}

impl Connect {
    pub fn forced(force: bool) -> Connect {
        Connect {
            force,
            ..Connect::default()
        }
    }
}

/// An open drive reached through a task file (real, emulated over pass-through, or
/// virtual).
pub struct Device {
    pub ata: Ata<Ports>,
    pub target: Target,
    saved: Option<virtual_drive::Saved>,
    /// Held until the device is dropped (after a virtual drive is saved).
    _lock: Option<lock::DriveLock>,
    /// Where `--trace` writes, when it does.
    trace: Option<PathBuf>,
    /// The trace is the diagnostic log's: its failures are not the command's.
    trace_best_effort: bool,
}

fn trace_failure(path: &Path, e: std::io::Error) -> Failure {
    let kind = if e.kind() == std::io::ErrorKind::AlreadyExists {
        Kind::OutputExists
    } else {
        Kind::File
    };
    Failure::file_kind(
        kind,
        format!("cannot write the trace {}: {e}", path.display()),
        "give --trace a new file name in a folder you can write to",
    )
}

/// A trace that could not be finished, after the command ran: the drive's state is
/// what the command reported; only the trace is lost.
fn trace_lost(path: &Path, e: std::io::Error) -> Failure {
    trace_failure(path, e)
        .with_drive("as the command reported above (it ran to its end); only the trace is lost")
}

/// Open `target` as a task-file device; with `--trace` every access is recorded.
pub fn open(target: &Target, conn: &Connect, ui: &mut dyn Ui) -> Result<Device, Failure> {
    if let Target::Sim(p) = target {
        virtual_drive::ensure_default(p, ui)?;
    }
    if let Some(path) = &conn.trace {
        // Refused before the drive is touched: a trace never replaces a file.
        crate::files::check_output(path, None)?;
    }
    // A drive file is locked before its state is loaded; a port or device after the
    // opener's checks (permissions, kernel drivers), which say more than a lock file can.
    let is_sim = matches!(target, Target::Sim(_));
    let sim_lock = if is_sim { lock::acquire(target)? } else { None };
    let mut dev = open_untraced(target, conn.force, ui)?;
    dev._lock = if is_sim {
        sim_lock
    } else {
        lock::acquire(target)?
    };
    let (path, best_effort) = match (&conn.trace, &conn.log_trace) {
        (Some(p), _) => (Some(p), false),
        (None, Some(p)) if !p.exists() => (Some(p), true),
        _ => (None, false),
    };
    if let Some(path) = path {
        let describe = dev.ata.ch.describe();
        let (cmd, ctl) = (dev.ata.ch.cmd, dev.ata.ch.ctl);
        match crate::transport::trace::Recorder::start(path, cmd, ctl, &describe) {
            Ok(rec) => {
                dev.ata.io.start_recording(rec);
                dev.trace = Some(path.clone());
                dev.trace_best_effort = best_effort;
            }
            Err(e) => {
                if !best_effort {
                    return Err(trace_failure(path, e));
                }
                log::warn!("the diagnostic log's trace {}: {e}", path.display());
            }
        }
    }
    Ok(dev)
}

/// Open `target`, run `f` on the device, and close it (saving a virtual drive) on every
/// path. A failure to close is reported: as the result when `f` succeeded, added to
/// the drive line when `f` failed.
pub fn with_device<R>(
    target: &Target,
    conn: &Connect,
    ui: &mut dyn Ui,
    f: impl FnOnce(&mut Device, &mut dyn Ui) -> Result<R, Failure>,
) -> Result<R, Failure> {
    let mut dev = open(target, conn, ui)?;
    let r = f(&mut dev, ui);
    match (r, dev.close()) {
        (Ok(v), Ok(())) => Ok(v),
        (Ok(_), Err(c)) => Err(c),
        (Err(f), Ok(())) => Err(f),
        (Err(f), Err(c)) => {
            let drive = format!("{}; also: {}", f.drive, c.what);
            Err(f.with_drive(drive))
        }
    }
}

#[cfg(target_os = "linux")]
fn open_sg(p: &Path) -> Result<crate::transport::sgio::SgIo, Failure> {
    crate::transport::sgio::SgIo::open(p).map_err(|e| {
        let kind = if e.to_string().contains("ermission") {
            Kind::NoPermission
        } else {
            Kind::NoDrive
        };
        Failure::new(
            kind,
            e.to_string(),
            UNTOUCHED,
            "check the device name (`mtkflash scan`) and your permissions",
        )
    })
}

/// A drive letter or \\.\CdRomN through Windows' pass-through.
#[cfg(windows)]
fn open_spti(p: &Path) -> Result<crate::transport::spti::Spti, Failure> {
    let t = crate::transport::spti::Spti::open(p).map_err(|e| {
        let denied = matches!(e, crate::transport::scsi::TransportError::Os { errno: 5, .. });
        let (kind, next) = if denied {
            (
                Kind::NoPermission,
                "run it from an elevated prompt: right-click Command Prompt or Terminal, \"Run as administrator\"",
            )
        } else {
            (
                Kind::NoDrive,
                "check the drive letter (`mtkflash scan` lists the optical drives)",
            )
        };
        Failure::new(kind, e.to_string(), UNTOUCHED, next)
    })?;
    Ok(t.native_ata_first(crate::inference::WINDOWS_ATA_IOCTL_FIRST))
}

fn open_untraced(target: &Target, force: bool, ui: &mut dyn Ui) -> Result<Device, Failure> {
    #[cfg(not(target_os = "linux"))]
    let _ = (force, &ui);
    match target {
        Target::Sim(path) => {
            let (ata, saved) = virtual_drive::open(path)?;
            Ok(Device {
                ata,
                target: target.clone(),
                saved: Some(saved),
                _lock: None,
                trace: None,
                trace_best_effort: false,
            })
        }
        #[cfg(target_os = "linux")]
        Target::Scsi(p) => {
            let t = open_sg(p)?;
            ui.warn("vendor mode through ATA PASS-THROUGH is experimental (unproven on hardware)");
            let driver = crate::transport::sgio::host_driver(Path::new("/sys"), p);
            match driver
                .as_deref()
                .map(|d| (d, crate::transport::sgio::libata_request_sense_on_df(d)))
            {
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
        #[cfg(windows)]
        Target::Scsi(p) => {
            let t = open_spti(p)?;
            ui.warn("vendor mode through ATA pass-through is experimental (unproven on hardware)");
            Ok(Device::from_transport(Box::new(t), target.clone()))
        }
        #[cfg(not(any(target_os = "linux", windows)))]
        Target::Scsi(p) => Err(Failure::new(
            Kind::Usage,
            format!(
                "{} is a pass-through device: vendor mode needs a task-file port here",
                p.display()
            ),
            UNTOUCHED,
            "use --method atapi for the drive's own update",
        )),
        #[cfg(target_os = "linux")]
        Target::Ports(ch) => {
            let raw = crate::transport::raw::open(Path::new("/"), ch, force).map_err(|e| {
                use crate::transport::raw::RawError;
                let kind = match e {
                    RawError::NoPrivilege | RawError::Lockdown(_) => Kind::NoPermission,
                    RawError::Owned { .. } => Kind::PortsInUse,
                    RawError::NoAccess(_) | RawError::Unsupported => Kind::NotSupported,
                };
                let next = match e {
                    RawError::NoPrivilege => format!("run it as root: `sudo {}`", as_typed()),
                    _ => e.next(),
                };
                Failure::new(kind, format!("{}: {e}", ch.describe()), UNTOUCHED, next)
            })?;
            log::info!("{}: port access through {}", ch.describe(), raw.describe());
            Ok(Device {
                ata: Ata::new(Backend::Raw(raw).into(), *ch),
                target: target.clone(),
                saved: None,
                _lock: None,
                trace: None,
                trace_best_effort: false,
            })
        }
        #[cfg(not(target_os = "linux"))]
        Target::Ports(ch) => Err(Failure::new(
            Kind::NotSupported,
            format!(
                "raw port I/O on {} needs a kernel driver on this system",
                ch.describe()
            ),
            UNTOUCHED,
            "on Windows use the drive's own update (a drive letter, --method atapi), or boot Linux for vendor mode",
        )),
    }
}

/// The command line as the user typed it (for "run it as root: `sudo ...`").
#[cfg(target_os = "linux")]
fn as_typed() -> String {
    let mut words: Vec<String> = vec!["mtkflash".into()];
    for a in std::env::args_os().skip(1) {
        let a = a.to_string_lossy().to_string();
        let plain = !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
        words.push(if plain {
            a
        } else {
            format!("'{}'", a.replace('\'', "'\\''"))
        });
    }
    words.join(" ")
}

impl Device {
    /// A drive reached through SCSI pass-through, with its task file emulated over ATA
    /// PASS-THROUGH (experimental).
    pub fn from_transport(t: Box<dyn ScsiTransport>, target: Target) -> Device {
        let pt = crate::transport::ptports::PtPorts::new(t);
        Device {
            ata: Ata::new(
                Backend::PassThrough(Box::new(pt)).into(),
                crate::transport::ata::Channel::LEGACY_SECONDARY_MASTER,
            ),
            target,
            saved: None,
            _lock: None,
            trace: None,
            trace_best_effort: false,
        }
    }

    /// Close the device: a virtual drive saves its state; real drives need nothing.
    /// The lock is released after that.
    pub fn close(self) -> Result<(), Failure> {
        let Device {
            ata,
            saved,
            _lock,
            trace: trace_path,
            trace_best_effort,
            ..
        } = self;
        let (io, trace) = ata.io.finish();
        let trace = trace.and_then(|r| r.err());
        let saved = match saved {
            Some(saved) => virtual_drive::save(saved, io),
            None => Ok(()),
        };
        let trace = match trace {
            Some(e) if trace_best_effort => {
                log::warn!("the diagnostic log's trace could not be written: {e}");
                None
            }
            t => t,
        };
        match (saved, trace) {
            (Err(f), _) => Err(f),
            (Ok(()), Some(e)) => Err(trace_lost(&trace_path.unwrap_or_default(), e)),
            (Ok(()), None) => Ok(()),
        }
    }

    /// Modelled device time so far (virtual drives only).
    pub fn modelled(&self) -> Option<Duration> {
        self.ata.io.modelled()
    }

    /// Bus operations so far (virtual drives only).
    pub fn bus_ops(&self) -> Option<u64> {
        self.ata.io.bus_ops()
    }

    pub fn describe(&self) -> String {
        self.target.describe()
    }
}

/// Might the drive at `target` be one of the later families, flashed by its own
/// firmware? Pass-through devices might (ask them: `ops::family::detect`); task-file
/// ports are the 8032-era drives' way in; a virtual drive is what it was made as.
pub fn may_be_family(target: &Target) -> bool {
    match target {
        Target::Scsi(_) => true,
        Target::Sim(p) => virtual_drive::is_family(p),
        _ => false,
    }
}

/// Open a packet (SCSI) transport for `target` and run `f` on it: the OS pass-through
/// for `/dev/sgN` and drive letters, PIO PACKET over the task file otherwise.
pub fn with_packet<R>(
    target: &Target,
    conn: &Connect,
    ui: &mut dyn Ui,
    f: impl FnOnce(&mut dyn ScsiTransport, &mut dyn Ui) -> Result<R, Failure>,
) -> Result<R, Failure> {
    match target {
        Target::Scsi(path) => {
            #[cfg(target_os = "linux")]
            {
                let mut t = open_sg(path)?;
                let _lock = lock::acquire(target)?;
                traced_packet(&mut t, conn, ui, f)
            }
            #[cfg(windows)]
            {
                let mut t = open_spti(path)?;
                let _lock = lock::acquire(target)?;
                traced_packet(&mut t, conn, ui, f)
            }
            #[cfg(not(any(target_os = "linux", windows)))]
            {
                let _ = (path, conn, f);
                Err(Failure::new(
                    Kind::NotSupported,
                    "pass-through is not available on this system",
                    UNTOUCHED,
                    "use Linux or Windows",
                ))
            }
        }
        _ => {
            // The task file carries the packets itself; `open` records it when asked.
            with_device(target, conn, ui, |dev, ui| f(&mut dev.ata, ui))
        }
    }
}

/// Run `f` on `t`, recorded when `--trace` asked for it (or, best effort, for the
/// diagnostic log).
#[allow(dead_code)]
fn traced_packet<R>(
    t: &mut dyn ScsiTransport,
    conn: &Connect,
    ui: &mut dyn Ui,
    f: impl FnOnce(&mut dyn ScsiTransport, &mut dyn Ui) -> Result<R, Failure>,
) -> Result<R, Failure> {
    match (&conn.trace, &conn.log_trace) {
        (Some(p), _) => {
            crate::files::check_output(p, None)?;
            let mut tt =
                crate::transport::trace::TracedScsi::new(t, p).map_err(|e| trace_failure(p, e))?;
            let r = f(&mut tt, ui);
            match (r, tt.finish()) {
                (Ok(v), Ok(_)) => Ok(v),
                (Ok(_), Err(e)) => Err(trace_lost(p, e)),
                (Err(f), _) => Err(f),
            }
        }
        (None, Some(p)) if !p.exists() => {
            match crate::transport::trace::TracedScsi::new(&mut *t, p) {
                Ok(mut tt) => {
                    let r = f(&mut tt, ui);
                    if let Err(e) = tt.finish() {
                        log::warn!("the diagnostic log's trace could not be written: {e}");
                    }
                    r
                }
                Err(e) => {
                    log::warn!("the diagnostic log's trace {}: {e}", p.display());
                    f(t, ui)
                }
            }
        }
        _ => f(t, ui),
    }
}
