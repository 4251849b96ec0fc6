//! Finding drives and checking what stands between us and a port, from /proc and /sys.
//! Every function takes the file-system root, so tests run on fake trees.

use std::path::{Path, PathBuf};

/// CAP_SYS_RAWIO (bit 17) in the effective capability set of /proc/self/status.
pub fn has_rawio(status: &str) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .map(|caps| caps & (1 << 17) != 0)
        .unwrap_or(false)
}

/// The active kernel lockdown mode ("integrity", "confidentiality"), if any.
pub fn lockdown(content: &str) -> Option<String> {
    let start = content.find('[')?;
    let end = content[start..].find(']')? + start;
    let mode = &content[start + 1..end];
    (mode != "none").then(|| mode.to_string())
}

fn is_bdf(name: &str) -> bool {
    let b = name.as_bytes();
    name.len() == 12 && b[4] == b':' && b[7] == b':' && b[10] == b'.'
}

/// Names of drivers in /proc/ioports holding any of `ranges` (inclusive). PCI device
/// names (BDFs), bus windows and "reserved" are not drivers.
pub fn ioport_owners(ioports: &str, ranges: &[(u16, u16)]) -> Vec<String> {
    let mut out = Vec::new();
    for line in ioports.lines() {
        let Some((span, name)) = line.trim().split_once(" : ") else {
            continue;
        };
        let Some((a, b)) = span.split_once('-') else {
            continue;
        };
        let (Ok(a), Ok(b)) = (u16::from_str_radix(a, 16), u16::from_str_radix(b, 16)) else {
            continue;
        };
        if a == 0 && b == 0 {
            continue; // unprivileged readers see zeros
        }
        let name = name.trim();
        let overlaps = ranges.iter().any(|&(lo, hi)| a <= hi && b >= lo);
        let generic = is_bdf(name)
            || name.starts_with("PCI")
            || name == "reserved"
            || name.starts_with("pnp");
        if overlaps && !generic && !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    }
    out
}

/// A PCI storage controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Controller {
    pub bdf: String,
    pub class: u32,
    pub id: String,
    pub driver: Option<String>,
    /// (command block, control block) per channel, primary first.
    pub channels: Vec<(u16, u16)>,
    /// I/O port resources by index: (start, end).
    pub io: Vec<(usize, u64, u64)>,
}

impl Controller {
    pub fn is_ide(&self) -> bool {
        self.class >> 8 == 0x0101
    }
    pub fn is_ahci(&self) -> bool {
        self.class >> 8 == 0x0106
    }
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

/// PCI IDE (class 0x0101) and SATA (0x0106) controllers under `root`/sys/bus/pci/devices.
pub fn controllers(root: &Path) -> Vec<Controller> {
    let dir = root.join("sys/bus/pci/devices");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        let Some(class) = read(&p.join("class"))
            .and_then(|c| u32::from_str_radix(c.trim().trim_start_matches("0x"), 16).ok())
        else {
            continue;
        };
        if class >> 8 != 0x0101 && class >> 8 != 0x0106 {
            continue;
        }
        let v = read(&p.join("vendor")).unwrap_or_default();
        let d = read(&p.join("device")).unwrap_or_default();
        let id = format!(
            "{}:{}",
            v.trim().trim_start_matches("0x"),
            d.trim().trim_start_matches("0x")
        );
        let driver = std::fs::read_link(p.join("driver"))
            .ok()
            .and_then(|l| l.file_name().map(|n| n.to_string_lossy().to_string()));
        let io: Vec<(usize, u64, u64)> = read(&p.join("resource"))
            .unwrap_or_default()
            .lines()
            .enumerate()
            .filter_map(|(i, l)| {
                let f: Vec<u64> = l
                    .split_whitespace()
                    .filter_map(|x| u64::from_str_radix(x.trim_start_matches("0x"), 16).ok())
                    .collect();
                (f.len() == 3 && f[2] & 0x100 != 0 && f[0] != 0).then_some((i, f[0], f[1]))
            })
            .collect();
        let mut channels = Vec::new();
        if class >> 8 == 0x0101 {
            let progif = class & 0xFF;
            let bar = |i: usize| io.iter().find(|r| r.0 == i).map(|r| r.1 as u16);
            // Primary: native mode (prog-if bit 0) uses BAR0/BAR1+2, else legacy ports.
            let prim = if progif & 0x01 != 0 {
                bar(0).zip(bar(1).map(|c| c + 2))
            } else {
                Some((0x1F0, 0x3F6))
            };
            let sec = if progif & 0x04 != 0 {
                bar(2).zip(bar(3).map(|c| c + 2))
            } else {
                Some((0x170, 0x376))
            };
            channels.extend(prim);
            channels.extend(sec);
        }
        out.push(Controller {
            bdf: e.file_name().to_string_lossy().to_string(),
            class,
            id,
            driver,
            channels,
            io,
        });
    }
    out.sort_by(|a, b| a.bdf.cmp(&b.bdf));
    out
}

/// An SCSI generic device of type 5 (CD/DVD) with its block twin and identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SgDevice {
    pub sg: PathBuf,
    pub sr: Option<PathBuf>,
    pub vendor: String,
    pub model: String,
    pub rev: String,
}

pub fn sg_devices(root: &Path) -> Vec<SgDevice> {
    let dir = root.join("sys/class/scsi_generic");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let dev = e.path().join("device");
        if read(&dev.join("type")).map(|t| t.trim() == "5") != Some(true) {
            continue;
        }
        let sr = std::fs::read_dir(dev.join("block"))
            .ok()
            .and_then(|mut r| r.next())
            .and_then(|x| x.ok())
            .map(|x| Path::new("/dev").join(x.file_name()));
        let f = |n: &str| read(&dev.join(n)).unwrap_or_default().trim().to_string();
        out.push(SgDevice {
            sg: Path::new("/dev").join(e.file_name()),
            sr,
            vendor: f("vendor"),
            model: f("model"),
            rev: f("rev"),
        });
    }
    out.sort_by(|a, b| a.sg.cmp(&b.sg));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_from_proc_status() {
        assert!(has_rawio("Name:\tx\nCapEff:\t000001ffffffffff\n"));
        assert!(!has_rawio("CapEff:\t0000000000000000\n"));
        assert!(has_rawio("CapEff:\t0000000000020000\n"));
        assert!(!has_rawio("no caps line"));
    }

    #[test]
    fn lockdown_mode() {
        assert_eq!(lockdown("[none] integrity confidentiality\n"), None);
        assert_eq!(
            lockdown("none [integrity] confidentiality\n").as_deref(),
            Some("integrity")
        );
        assert_eq!(lockdown(""), None);
    }

    #[test]
    fn ioports_owners() {
        let io = "0000-0cf7 : PCI Bus 0000:00\n  0000-001f : dma1\n  0170-0177 : 0000:00:01.1\n    0170-0177 : ata_piix\n  01f0-01f7 : 0000:00:01.1\n  0376-0376 : 0000:00:01.1\n    0376-0376 : ata_piix\n  03f6-03f6 : 0000:00:01.1\n";
        assert_eq!(
            ioport_owners(io, &[(0x170, 0x177), (0x376, 0x376)]),
            ["ata_piix"]
        );
        assert!(ioport_owners(io, &[(0x1F0, 0x1F7), (0x3F6, 0x3F6)]).is_empty());
        // What an unprivileged reader sees.
        assert!(ioport_owners("0000-0000 : ata_piix\n", &[(0x170, 0x177)]).is_empty());
    }

    fn w(root: &Path, rel: &str, content: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    #[test]
    fn pci_controllers_and_their_channels() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        w(r, "sys/bus/pci/devices/0000:00:01.1/class", "0x010180\n");
        w(r, "sys/bus/pci/devices/0000:00:01.1/vendor", "0x8086\n");
        w(r, "sys/bus/pci/devices/0000:00:01.1/device", "0x7010\n");
        w(
            r,
            "sys/bus/pci/devices/0000:00:01.1/resource",
            "0x00000000000001f0 0x00000000000001f7 0x0000000000000110\n",
        );
        w(r, "sys/bus/pci/devices/0000:02:00.0/class", "0x01018f\n");
        w(r, "sys/bus/pci/devices/0000:02:00.0/vendor", "0x10de\n");
        w(r, "sys/bus/pci/devices/0000:02:00.0/device", "0x0266\n");
        w(
            r,
            "sys/bus/pci/devices/0000:02:00.0/resource",
            "0x09f0 0x09f7 0x101\n0x0bf0 0x0bf3 0x101\n0x0970 0x0977 0x101\n0x0b70 0x0b73 0x101\n0xe000 0xe00f 0x101\n",
        );
        w(r, "sys/bus/pci/devices/0000:03:00.0/class", "0x010601\n");
        w(r, "sys/bus/pci/devices/0000:04:00.0/class", "0x020000\n");
        let c = controllers(r);
        assert_eq!(c.len(), 3);
        assert_eq!(
            c[0].channels,
            [(0x1F0, 0x3F6), (0x170, 0x376)],
            "legacy mode"
        );
        assert_eq!(
            c[1].channels,
            [(0x09F0, 0x0BF2), (0x0970, 0x0B72)],
            "native mode BARs"
        );
        assert_eq!(c[1].id, "10de:0266");
        assert!(c[2].is_ahci() && c[2].channels.is_empty());
    }

    #[test]
    fn optical_sg_devices_with_twins() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        w(r, "sys/class/scsi_generic/sg0/device/type", "5\n");
        w(r, "sys/class/scsi_generic/sg0/device/vendor", "QEMU    \n");
        w(
            r,
            "sys/class/scsi_generic/sg0/device/model",
            "QEMU DVD-ROM    \n",
        );
        w(r, "sys/class/scsi_generic/sg0/device/rev", "2.5+\n");
        std::fs::create_dir_all(r.join("sys/class/scsi_generic/sg0/device/block/sr0")).unwrap();
        w(r, "sys/class/scsi_generic/sg1/device/type", "0\n");
        let d = sg_devices(r);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].sr.as_deref(), Some(Path::new("/dev/sr0")));
        assert_eq!(
            (d[0].vendor.as_str(), d[0].model.as_str()),
            ("QEMU", "QEMU DVD-ROM")
        );
    }
}
