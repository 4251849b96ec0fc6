//! Where the drive is: classic port numbers 1-4, a command-block base with a position
//! (`0x970:master`), or a virtual drive (`sim`, `sim:PATH`).

use super::virtual_drive::DEFAULT_PATH;
use crate::error::Failure;
use crate::transport::ata::Channel;
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A task-file channel reached by port I/O.
    Ports(Channel),
    /// A virtual drive stored at this path.
    Sim(PathBuf),
    /// An OS pass-through device: /dev/sgN or /dev/srN (Linux), \\.\E: or
    /// \\.\CdRom0 (Windows).
    Scsi(PathBuf),
}

pub const PORT_HELP: &str = "\
Ports: 1 primary master (0x1F0), 2 primary slave, 3 secondary master (0x170),
4 secondary slave; BASE:POSITION for other IDE-mode controllers, e.g. 0x970:master or
0x9F0:slave (BASE = the command block, 8-aligned; the control block is BASE+0x206
unless given as BASE/CTL:POSITION, e.g. 0xC000/0xC00A:master); sim for the default
virtual drive (created in the current folder), sim:PATH for a virtual drive file;
/dev/sgN or /dev/srN (Linux), E: or \\\\.\\CdRom0 (Windows) for the drive's own ATAPI update.";

fn bad(spec: &str, why: &str) -> Failure {
    Failure::usage(
        format!("'{spec}' is not a drive port: {why}"),
        "use 1, 2, 3 or 4 (3 = secondary master, the usual place for a drive being flashed), \
         a base like 0x970:master, or sim / sim:PATH; `mtkflash scan` lists what answers",
    )
}

fn hex16(s: &str) -> Option<u16> {
    let t = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    u16::from_str_radix(t, 16).ok()
}

/// Is `base` a plausible ATA command block? Refuses odd alignment and the ranges of
/// other hardware (keyboard 0x60/0x64, DMA/PIC/PIT below 0x100, floppy 0x3F0-0x3F7,
/// PCI configuration 0xCF8-0xCFF).
pub fn plausible_base(base: u16) -> Result<(), String> {
    if !base.is_multiple_of(8) {
        return Err(format!("0x{base:X} is not 8-aligned; a command block spans 8 ports starting at a multiple of 8"));
    }
    if base < 0x100 {
        return Err(format!(
            "0x{base:X} lies among the motherboard's own devices (keyboard 0x60, timers, DMA)"
        ));
    }
    let end = base as u32 + 7;
    for (lo, hi, what) in [
        (0x3F0u32, 0x3F7u32, "the floppy controller (0x3F0-0x3F7)"),
        (0xCF8, 0xCFF, "PCI configuration (0xCF8-0xCFF)"),
    ] {
        if base as u32 <= hi && end >= lo {
            return Err(format!("0x{base:X} overlaps {what}"));
        }
    }
    Ok(())
}

impl Target {
    pub fn parse(spec: &str) -> Result<Target, Failure> {
        let s = spec.trim();
        let lower = s.to_ascii_lowercase();
        if lower == "sim" {
            return Ok(Target::Sim(PathBuf::from(DEFAULT_PATH)));
        }
        if lower.starts_with("sim:") {
            let p = &s[4..];
            if p.is_empty() {
                return Err(bad(spec, "sim: needs a path, e.g. sim:drive.mtksim"));
            }
            return Ok(Target::Sim(PathBuf::from(p)));
        }
        if cfg!(not(windows))
            && s.len() == 2
            && s.ends_with(':')
            && s.as_bytes()[0].is_ascii_alphabetic()
        {
            return Err(bad(
                spec,
                "drive letters are Windows names; here the drive is /dev/srN or /dev/sgN (`mtkflash scan` lists them), or a port 1-4",
            ));
        }
        if s.starts_with("/dev/")
            || s.starts_with("\\\\.\\")
            || (s.len() == 2 && s.ends_with(':') && s.as_bytes()[0].is_ascii_alphabetic())
        {
            return Ok(Target::Scsi(PathBuf::from(s)));
        }
        if let Ok(n) = s.parse::<u8>() {
            return Channel::legacy(n)
                .map(Target::Ports)
                .ok_or_else(|| bad(spec, "the classic ports are 1, 2, 3 and 4"));
        }
        if lower.starts_with("0x") || lower.contains(':') {
            let (bases, pos) = lower.split_once(':').unwrap_or((&lower, "master"));
            let slave = match pos {
                "master" | "m" | "0" | "a0" => false,
                "slave" | "s" | "1" | "b0" => true,
                _ => return Err(bad(spec, "the position after ':' is master or slave")),
            };
            let (cmd_s, ctl_s) = match bases.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (bases, None),
            };
            let cmd = hex16(cmd_s).ok_or_else(|| {
                if u32::from_str_radix(cmd_s.trim_start_matches("0x"), 16).is_ok() {
                    bad(
                        spec,
                        "I/O ports end at 0xFFFF; a base is a 16-bit number like 0x970",
                    )
                } else {
                    bad(spec, "the base must be a hex number like 0x970")
                }
            })?;
            plausible_base(cmd).map_err(|w| bad(spec, &w))?;
            let ctl = match ctl_s {
                Some(c) => {
                    hex16(c).ok_or_else(|| bad(spec, "the control block must be a hex number"))?
                }
                None => cmd.wrapping_add(0x206),
            };
            if ctl == 0x3F7 {
                return Err(bad(spec, "0x3F7 belongs to the floppy controller"));
            }
            return Ok(Target::Ports(Channel { cmd, ctl, slave }));
        }
        Err(bad(spec, "not a port number, base or sim"))
    }

    pub fn describe(&self) -> String {
        match self {
            Target::Ports(c) => c.describe(),
            Target::Sim(p) => format!("virtual drive {}", p.display()),
            Target::Scsi(p) => p.display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_ports() {
        assert_eq!(
            Target::parse("3").unwrap(),
            Target::Ports(Channel {
                cmd: 0x170,
                ctl: 0x376,
                slave: false
            })
        );
        assert_eq!(
            Target::parse("2").unwrap(),
            Target::Ports(Channel {
                cmd: 0x1F0,
                ctl: 0x3F6,
                slave: true
            })
        );
        for bad in ["0", "5", "x", ""] {
            let e = Target::parse(bad).unwrap_err();
            assert!(e.next.contains("1, 2, 3 or 4"), "{bad}: {e}");
        }
    }

    #[test]
    fn bases_and_positions() {
        assert_eq!(
            Target::parse("0x970:master").unwrap(),
            Target::Ports(Channel {
                cmd: 0x970,
                ctl: 0xB76,
                slave: false
            })
        );
        assert_eq!(
            Target::parse("0xC000/0xC00A:slave").unwrap(),
            Target::Ports(Channel {
                cmd: 0xC000,
                ctl: 0xC00A,
                slave: true
            })
        );
        for bad in [
            "0x971:master",
            "0x60",
            "0x3F0:master",
            "0xCF8",
            "0x170:middle",
            "0x170/0x3F7:master",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sim_targets() {
        assert_eq!(
            Target::parse("SIM").unwrap(),
            Target::Sim(PathBuf::from(DEFAULT_PATH))
        );
        assert_eq!(
            Target::parse("sim:a/b.mtksim").unwrap(),
            Target::Sim(PathBuf::from("a/b.mtksim"))
        );
        assert!(Target::parse("sim:").is_err());
    }

    #[test]
    fn pass_through_devices() {
        assert_eq!(
            Target::parse("/dev/sg0").unwrap(),
            Target::Scsi(PathBuf::from("/dev/sg0"))
        );
        if cfg!(windows) {
            assert_eq!(
                Target::parse("E:").unwrap(),
                Target::Scsi(PathBuf::from("E:"))
            );
        } else {
            let e = Target::parse("E:").unwrap_err();
            assert!(e.what.contains("/dev/srN"), "{e}");
        }
        let e = Target::parse("0x10000:master").unwrap_err();
        assert!(e.what.contains("end at 0xFFFF"), "{e}");
        assert_eq!(
            Target::parse(r"\\.\CdRom0").unwrap(),
            Target::Scsi(PathBuf::from(r"\\.\CdRom0"))
        );
    }
}
