//! `scan`: what answers where. Legacy ports 1-4 (when raw ports can be opened), PCI IDE
//! controllers and their channels, SATA/AHCI controllers (which have no task file),
//! optical SG devices with their /dev/srN twin, and virtual drives in the current folder.

use super::session::{EnterOptions, Identity, Session};
use crate::connect::{self, Connect, Target};
use crate::error::Failure;
use crate::report::{Recorder, Ui};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// What to type as the port.
    pub port: String,
    pub what: String,
    pub identity: Option<String>,
    /// Answer to the MTK vendor intro, when it could be asked.
    pub vendor: Option<String>,
}

/// Ask a drive who it is and whether it answers the vendor intro (then let it reboot).
fn probe(target: &Target, force: bool) -> Result<(String, String), Failure> {
    let quiet = &mut Recorder::default();
    connect::with_device(target, &Connect::forced(force), quiet, |dev, quiet| {
        // (Status 0x00 to IDENTIFY PACKET: an empty position unless the intro answers.)
        let boot_only = || "runs boot code only (misflashed)".to_string();
        let (id_text, silent) = match crate::mtk::identity::identify(&mut dev.ata) {
            Ok(i @ Identity::Atapi { .. }) => (i.describe(), false),
            Ok(Identity::BootOnly) => (boot_only(), false),
            Err(crate::transport::ata::AtaError::NoDevice { status: 0x00, .. }) => {
                (boot_only(), true)
            }
            Err(e) => return Err(super::session::drive_err(e)),
        };
        let opts = EnterOptions {
            attempts: 1,
            chip: None,
            force,
        };
        let vendor = match Session::enter(dev, &opts, quiet) {
            Ok(s) => {
                let label = format!("yes, flash {}", s.chip.label());
                match s.leave() {
                    Ok(_) => label,
                    Err(f) => format!("{label}; then {}", f.what),
                }
            }
            Err(f) if silent => {
                return Err(Failure::new(
                    crate::error::Kind::NoDrive,
                    format!("nothing answers: {}", f.what),
                    crate::error::UNTOUCHED,
                    "",
                ))
            }
            Err(f) => format!("no: {}", f.what),
        };
        Ok((id_text, vendor))
    })
}

/// The vendor intro through ATA pass-through (experimental), for `scan --intro`.
#[cfg(any(target_os = "linux", windows))]
fn ask_intro(target: &Target, force: bool) -> String {
    match probe(target, force) {
        Ok((_, v)) => format!("{v} (through ATA pass-through, experimental)"),
        Err(f) => format!("no answer: {}", f.what),
    }
}

/// Ask a drive of a later family (MT1959, MT1339) who it is: None when it is none.
fn probe_family(target: &Target, force: bool) -> Result<Option<(String, String)>, Failure> {
    let quiet = &mut Recorder::default();
    connect::with_packet(target, &Connect::forced(force), quiet, |t, _| {
        let Some(f) = super::family::detect(t)? else {
            return Ok(None);
        };
        let facts = super::family::facts(t, f)?;
        Ok(Some((
            format!("{} {} {}", facts.vendor, facts.product, facts.revision),
            format!(
                "no vendor mode: {} updater{}{}",
                f.name(),
                facts
                    .serial
                    .as_deref()
                    .map(|s| format!(", serial {s}"))
                    .unwrap_or_default(),
                if facts.loader_only {
                    ", runs its loader only"
                } else {
                    ""
                }
            ),
        )))
    })
}

/// What a pass-through device says when the intro was not asked.
const NOT_ASKED: &str = "not asked (`mtkflash scan --intro` asks it through ATA pass-through)";

/// Scan under `root` (normally "/") and the folder `here` for virtual drives; with
/// `intro`, pass-through devices are asked the vendor intro too.
pub fn scan(root: &Path, here: &Path, force: bool, intro: bool, ui: &mut dyn Ui) -> Vec<Found> {
    let mut found = Vec::new();
    #[cfg(target_os = "linux")]
    {
        use crate::transport::ata::Channel;
        use crate::transport::{discover, raw};
        let mut tried = std::collections::HashSet::new();
        let mut chans: Vec<(String, Channel, String)> = (1..=4u8)
            .map(|n| {
                (
                    n.to_string(),
                    Channel::legacy(n).expect("1-4"),
                    "legacy port".to_string(),
                )
            })
            .collect();
        for c in discover::controllers(root) {
            if c.is_ahci() {
                ui.line(&format!(
                    "{} SATA/AHCI controller {}: no task-file ports (set it to IDE mode for vendor mode; its drives appear as /dev/sgN)",
                    c.bdf, c.id
                ));
                continue;
            }
            ui.line(&format!(
                "{} IDE controller {} ({}): channels {}",
                c.bdf,
                c.id,
                c.driver.as_deref().unwrap_or("no driver"),
                c.channels
                    .iter()
                    .map(|(a, b)| format!("0x{a:X}/0x{b:X}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            for &(cmd, ctl) in &c.channels {
                if cmd == 0x1F0 || cmd == 0x170 {
                    continue; // the legacy ports above
                }
                for slave in [false, true] {
                    let pos = if slave { "slave" } else { "master" };
                    chans.push((
                        format!("0x{cmd:X}/0x{ctl:X}:{pos}"),
                        Channel { cmd, ctl, slave },
                        format!("{} channel", c.bdf),
                    ));
                }
            }
        }
        for (port, ch, what) in chans {
            let p = raw::preflight(root, &ch);
            if let Err(e) = raw::check(&p, &ch, force) {
                if tried.insert(e.to_string()) {
                    ui.line(&format!("{what} {port}: not probed: {e}"));
                }
                continue;
            }
            match probe(&Target::Ports(ch), force) {
                Ok((id, v)) => found.push(Found {
                    port,
                    what,
                    identity: Some(id),
                    vendor: Some(v),
                }),
                Err(f) if f.kind == crate::error::Kind::NoDrive => {}
                Err(f) if f.kind == crate::error::Kind::Busy => {
                    ui.line(&format!("{what} {port}: skipped, {}", f.what));
                }
                Err(f) => {
                    // The same cause for every port is said once.
                    let cause = f
                        .what
                        .split_once(": ")
                        .map(|x| x.1.to_string())
                        .unwrap_or_else(|| f.what.clone());
                    if tried.insert(cause.clone()) {
                        ui.line(&format!("{what}s: {cause}"));
                    }
                }
            }
        }
        for d in discover::sg_devices(root) {
            let twin =
                d.sr.as_ref()
                    .map(|s| format!(" ({})", s.display()))
                    .unwrap_or_default();
            let mut f = Found {
                port: d.sg.display().to_string(),
                what: format!("pass-through device{twin}"),
                identity: Some(format!("{} {} {}", d.vendor, d.model, d.rev)),
                vendor: Some(NOT_ASKED.into()),
            };
            // A later family's drive says so over its own interface.
            if root == Path::new("/") {
                let t = Target::Scsi(d.sg.clone());
                match probe_family(&t, force) {
                    Ok(Some((id, v))) => (f.identity, f.vendor) = (Some(id), Some(v)),
                    _ if intro => f.vendor = Some(ask_intro(&t, force)),
                    _ => {}
                }
            }
            found.push(f);
        }
    }
    #[cfg(windows)]
    {
        let _ = root;
        ui.line("ports 1-4 need raw port access, which Windows gives no program (the rescue image or Linux has it); drives are reached through pass-through here");
        for p in crate::transport::spti::cdroms() {
            let t = Target::Scsi(p.clone().into());
            let id = connect::with_packet(
                &t,
                &Connect::forced(force),
                &mut Recorder::default(),
                |t, _| {
                    crate::mtk::update::inquiry(t)
                        .map_err(|e| crate::error::Failure::file(e.to_string(), ""))
                },
            );
            let mut f = Found {
                port: p,
                what: "pass-through device".into(),
                identity: id
                    .ok()
                    .map(|i| format!("{} {} {}", i.vendor, i.product, i.revision)),
                vendor: Some(NOT_ASKED.into()),
            };
            match probe_family(&t, force) {
                Ok(Some((id, v))) => (f.identity, f.vendor) = (Some(id), Some(v)),
                _ if intro => f.vendor = Some(ask_intro(&t, force)),
                _ => {}
            }
            found.push(f);
        }
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    let _ = (root, &ui, intro);
    let mut sims: Vec<_> = std::fs::read_dir(here)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().map(|x| x == "mtksim").unwrap_or(false))
                .collect()
        })
        .unwrap_or_default();
    sims.sort();
    for p in sims {
        let port = format!(
            "sim:{}",
            p.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default()
        );
        let t = Target::Sim(p.clone());
        let r = if connect::may_be_family(&t) {
            probe_family(&t, force).and_then(|r| {
                r.ok_or_else(|| {
                    Failure::new(
                        crate::error::Kind::NoUpdater,
                        "made as a later family's drive, but it does not answer as one",
                        crate::error::UNTOUCHED,
                        "look at it with `mtkflash sim show`",
                    )
                })
            })
        } else {
            probe(&t, force)
        };
        match r {
            Ok((id, v)) => found.push(Found {
                port,
                what: "virtual drive".into(),
                identity: Some(id),
                vendor: Some(v),
            }),
            Err(f) if f.kind == crate::error::Kind::Busy => {
                ui.line(&format!("virtual drive {port}: skipped, {}", f.what));
            }
            Err(f) => found.push(Found {
                port,
                what: "virtual drive".into(),
                identity: None,
                vendor: Some(format!("no answer: {}", f.what)),
            }),
        }
    }
    found
}

/// One line per drive, numbered from 1.
/// One line per drive, numbered from 1; the columns as wide as their longest entry.
pub fn render(found: &[Found]) -> Vec<String> {
    let chars = |s: &str| s.chars().count();
    let wp = found.iter().map(|f| chars(&f.port)).max().unwrap_or(0);
    let id = |f: &Found| f.identity.clone().unwrap_or_else(|| "?".into());
    let wi = found.iter().map(|f| chars(&id(f))).max().unwrap_or(0);
    found
        .iter()
        .enumerate()
        .map(|(i, f)| {
            format!(
                "{:>2}. {:<wp$}  {:<wi$}  {}; MTK vendor intro: {}",
                i + 1,
                f.port,
                id(f),
                f.what,
                f.vendor.as_deref().unwrap_or("-")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_whatever_the_names() {
        let f = |port: &str, id: &str| Found {
            port: port.into(),
            what: "virtual drive".into(),
            identity: Some(id.into()),
            vendor: Some("yes".into()),
        };
        let lines = render(&[
            f("sim:a.mtksim", "BTC DVDRW IDE1008 0055"),
            f(
                "sim:a-much-longer-name.mtksim",
                "HL-DT-ST BD-RE WH16NS60 1.02 (a long product)",
            ),
        ]);
        let at = |l: &str| l.find("virtual drive").unwrap();
        assert_eq!(at(&lines[0]), at(&lines[1]), "{lines:?}");
    }
}
