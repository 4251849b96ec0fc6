//! Real port I/O on Linux: x86 `in`/`out` after ioperm(2), or the PCI sysfs `resourceN`
//! files when ioperm is not available. [`open`] runs the preflight checks first and never
//! executes an `in`/`out` before permission was granted.

use super::ata::Channel;
use super::discover::{self, Controller};
use super::PortIo;
use crate::clock::{Clock, RealClock, Timed};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RawError {
    #[error("raw port access needs root (the CAP_SYS_RAWIO capability)")]
    NoPrivilege,
    #[error("the kernel is locked down ({0} mode, usually because of Secure Boot): it forbids raw port access even to root")]
    Lockdown(String),
    #[error("the kernel driver {drivers} owns ports 0x{cmd:03X}-0x{end:03X}: using them at the same time would corrupt both")]
    Owned {
        drivers: String,
        cmd: u16,
        end: u16,
        unbind: Option<String>,
    },
    #[error("{0}, and no PCI IDE controller exposes these ports through sysfs")]
    NoAccess(String),
    #[error("raw port I/O needs an x86 machine or a PCI IDE controller in sysfs")]
    Unsupported,
}

impl RawError {
    /// What the user can do about it.
    pub fn next(&self) -> String {
        match self {
            RawError::NoPrivilege => "run it as root, e.g. `sudo mtkflash 3 w /m fw.bin`".into(),
            RawError::Lockdown(_) => "disable Secure Boot in the firmware setup for this session, or use the drive's own update: `mtkflash write /dev/sgN fw.bin` (working drives only)".into(),
            RawError::Owned { unbind, .. } => format!(
                "free the ports first{}; or, for a working drive, use its own update through /dev/sgN (`--method atapi`); `--force` uses them anyway (risky)",
                unbind.as_ref().map(|u| format!(" with `{u}` (this drops every disk on that controller: do not do it on the controller holding your system disk)")).unwrap_or_default()
            ),
            RawError::NoAccess(_) | RawError::Unsupported => "a SATA (AHCI) controller has no task-file ports: set it to IDE/legacy mode in the BIOS, or use /dev/sgN (`--method atapi`)".into(),
        }
    }
}

/// Port access through in/out instructions. Only [`IoPorts::acquire`] makes one, after
/// ioperm granted every port it will touch.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
pub struct IoPorts {
    clock: RealClock,
    /// The ioperm grant belongs to the thread that asked for it: not Send.
    _thread_bound: std::marker::PhantomData<*const ()>,
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
impl IoPorts {
    pub fn acquire(ch: &Channel) -> Result<IoPorts, std::io::Error> {
        for (from, n) in [(ch.cmd as libc::c_ulong, 8), (ch.ctl as libc::c_ulong, 1)] {
            // SAFETY: ioperm only changes this thread's I/O permission bitmap; it touches
            // no memory of ours.
            if unsafe { libc::ioperm(from, n, 1) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(IoPorts {
            clock: RealClock::new(),
            _thread_bound: std::marker::PhantomData,
        })
    }
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
impl PortIo for IoPorts {
    fn inb(&mut self, port: u16) -> u8 {
        let v: u8;
        // SAFETY: ioperm granted this thread the channel's ports (IoPorts exists only
        // then); `in` reads a device register and touches no memory.
        unsafe {
            std::arch::asm!("in al, dx", out("al") v, in("dx") port, options(nomem, nostack, preserves_flags))
        };
        v
    }
    fn outb(&mut self, port: u16, val: u8) {
        // SAFETY: as for inb; `out` writes a device register only.
        unsafe {
            std::arch::asm!("out dx, al", in("dx") port, in("al") val, options(nomem, nostack, preserves_flags))
        };
    }
    fn inw(&mut self, port: u16) -> u16 {
        let v: u16;
        // SAFETY: as for inb (16-bit data register).
        unsafe {
            std::arch::asm!("in ax, dx", out("ax") v, in("dx") port, options(nomem, nostack, preserves_flags))
        };
        v
    }
    fn outw(&mut self, port: u16, val: u16) {
        // SAFETY: as for outb (16-bit data register).
        unsafe {
            std::arch::asm!("out dx, ax", in("dx") port, in("ax") val, options(nomem, nostack, preserves_flags))
        };
    }
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
impl Timed for IoPorts {
    fn clock(&self) -> &dyn Clock {
        &self.clock
    }
}

/// Port access through /sys/bus/pci/devices/BDF/resourceN: a 1- or 2-byte pread/pwrite
/// at an offset is an inb/inw/outb/outw on that I/O BAR.
pub struct SysfsPorts {
    windows: Vec<(u16, u16, std::fs::File)>,
    clock: RealClock,
}

impl SysfsPorts {
    /// Open the resource files of `c` that cover the channel's command and control block.
    pub fn open(root: &Path, c: &Controller, ch: &Channel) -> Result<SysfsPorts, String> {
        let mut windows = Vec::new();
        for port in [ch.cmd, ch.ctl] {
            let Some(&(i, start, end)) = c.io.iter().find(|r| (r.1..=r.2).contains(&(port as u64)))
            else {
                return Err(format!(
                    "{} exposes no I/O resource holding port 0x{port:X}",
                    c.bdf
                ));
            };
            let p: PathBuf = root
                .join("sys/bus/pci/devices")
                .join(&c.bdf)
                .join(format!("resource{i}"));
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&p)
                .map_err(|e| format!("{}: {e}", p.display()))?;
            windows.push((start as u16, end as u16, f));
        }
        Ok(SysfsPorts {
            windows,
            clock: RealClock::new(),
        })
    }

    fn at(&self, port: u16) -> Option<(&std::fs::File, u64)> {
        self.windows
            .iter()
            .find(|w| (w.0..=w.1).contains(&port))
            .map(|w| (&w.2, (port - w.0) as u64))
    }
}

impl PortIo for SysfsPorts {
    fn inb(&mut self, port: u16) -> u8 {
        let mut b = [0xFFu8];
        if let Some((f, off)) = self.at(port) {
            let _ = f.read_at(&mut b, off);
        }
        b[0]
    }
    fn outb(&mut self, port: u16, val: u8) {
        if let Some((f, off)) = self.at(port) {
            let _ = f.write_at(&[val], off);
        }
    }
    fn inw(&mut self, port: u16) -> u16 {
        let mut b = [0xFFu8; 2];
        if let Some((f, off)) = self.at(port) {
            let _ = f.read_at(&mut b, off);
        }
        u16::from_le_bytes(b)
    }
    fn outw(&mut self, port: u16, val: u16) {
        if let Some((f, off)) = self.at(port) {
            let _ = f.write_at(&val.to_le_bytes(), off);
        }
    }
}

impl Timed for SysfsPorts {
    fn clock(&self) -> &dyn Clock {
        &self.clock
    }
}

pub enum RawPorts {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    Io(IoPorts),
    Sysfs(SysfsPorts),
}

impl RawPorts {
    pub fn port_io(&mut self) -> &mut dyn PortIo {
        match self {
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            RawPorts::Io(p) => p,
            RawPorts::Sysfs(p) => p,
        }
    }
    pub fn describe(&self) -> &'static str {
        match self {
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            RawPorts::Io(_) => "ioperm",
            RawPorts::Sysfs(_) => "sysfs PCI resource",
        }
    }
}

impl Timed for RawPorts {
    fn clock(&self) -> &dyn Clock {
        match self {
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            RawPorts::Io(p) => p.clock(),
            RawPorts::Sysfs(p) => p.clock(),
        }
    }
}

impl PortIo for RawPorts {
    fn inb(&mut self, port: u16) -> u8 {
        self.port_io().inb(port)
    }
    fn outb(&mut self, port: u16, val: u8) {
        self.port_io().outb(port, val)
    }
    fn inw(&mut self, port: u16) -> u16 {
        self.port_io().inw(port)
    }
    fn outw(&mut self, port: u16, val: u16) {
        self.port_io().outw(port, val)
    }
}

/// What the checks found, before anything is touched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preflight {
    pub rawio: bool,
    pub lockdown: Option<String>,
    pub owners: Vec<String>,
    pub controller: Option<Controller>,
}

/// Read the facts for `ch` under `root` (normally "/").
pub fn preflight(root: &Path, ch: &Channel) -> Preflight {
    let rd = |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_default();
    let ranges = [(ch.cmd, ch.cmd + 7), (ch.ctl, ch.ctl)];
    let controller = discover::controllers(root)
        .into_iter()
        .find(|c| c.channels.iter().any(|&(cmd, _)| cmd == ch.cmd));
    let mut owners = discover::ioport_owners(&rd("proc/ioports"), &ranges);
    if let Some(d) = controller.as_ref().and_then(|c| c.driver.clone()) {
        if !owners.contains(&d) {
            owners.push(d);
        }
    }
    Preflight {
        rawio: discover::has_rawio(&rd("proc/self/status")),
        lockdown: discover::lockdown(&rd("sys/kernel/security/lockdown")),
        owners,
        controller,
    }
}

/// Decide from the preflight facts; pure, so every refusal is testable.
pub fn check(p: &Preflight, ch: &Channel, force: bool) -> Result<(), RawError> {
    if !p.rawio {
        return Err(RawError::NoPrivilege);
    }
    if let Some(l) = &p.lockdown {
        return Err(RawError::Lockdown(l.clone()));
    }
    if !p.owners.is_empty() && !force {
        let unbind = p.controller.as_ref().and_then(|c| {
            c.driver
                .as_ref()
                .map(|d| format!("echo {} > /sys/bus/pci/drivers/{d}/unbind", c.bdf))
        });
        return Err(RawError::Owned {
            drivers: p.owners.join(", "),
            cmd: ch.cmd,
            end: ch.cmd + 7,
            unbind,
        });
    }
    Ok(())
}

/// Preflight, then ioperm, then the sysfs fallback.
pub fn open(root: &Path, ch: &Channel, force: bool) -> Result<RawPorts, RawError> {
    let p = preflight(root, ch);
    check(&p, ch, force)?;
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    let ioperm_err = match IoPorts::acquire(ch) {
        Ok(io) => return Ok(RawPorts::Io(io)),
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            "this kernel has no ioperm (built without CONFIG_X86_IOPL_IOPERM)".to_string()
        }
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            format!("ioperm was refused ({e}): a security module or container forbids raw ports")
        }
        Err(e) => format!("ioperm failed ({e})"),
    };
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    let ioperm_err = "not an x86 machine".to_string();
    match &p.controller {
        Some(c) => SysfsPorts::open(root, c, ch)
            .map(RawPorts::Sysfs)
            .map_err(|e| RawError::NoAccess(format!("{ioperm_err}; {e}"))),
        None => Err(RawError::NoAccess(ioperm_err)),
    }
}

/// Compile-time check that IoPorts is not Send (the ioperm grant is per thread): were it
/// Send, both impls below would apply and the call would be ambiguous, so the test
/// build would fail.
#[cfg(all(test, any(target_arch = "x86", target_arch = "x86_64")))]
const _: fn() = || {
    trait AmbiguousIfSend<A> {
        fn check() {}
    }
    impl<T: ?Sized> AmbiguousIfSend<()> for T {}
    impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}
    <IoPorts as AmbiguousIfSend<_>>::check();
};

#[cfg(test)]
mod tests {
    use super::*;

    fn pf() -> Preflight {
        Preflight {
            rawio: true,
            lockdown: None,
            owners: vec![],
            controller: None,
        }
    }

    #[test]
    fn refusals_in_order() {
        let ch = Channel::legacy(3).unwrap();
        assert_eq!(
            check(
                &Preflight {
                    rawio: false,
                    ..pf()
                },
                &ch,
                true
            ),
            Err(RawError::NoPrivilege)
        );
        assert_eq!(
            check(
                &Preflight {
                    lockdown: Some("integrity".into()),
                    ..pf()
                },
                &ch,
                true
            ),
            Err(RawError::Lockdown("integrity".into()))
        );
        let owned = Preflight {
            owners: vec!["ata_piix".into()],
            controller: Some(Controller {
                bdf: "0000:00:01.1".into(),
                class: 0x010180,
                id: String::new(),
                driver: Some("ata_piix".into()),
                channels: vec![(0x170, 0x376)],
                io: vec![],
            }),
            ..pf()
        };
        let e = check(&owned, &ch, false).unwrap_err();
        assert!(
            e.to_string().contains("ata_piix owns ports 0x170-0x177"),
            "{e}"
        );
        assert!(
            e.next()
                .contains("echo 0000:00:01.1 > /sys/bus/pci/drivers/ata_piix/unbind"),
            "{}",
            e.next()
        );
        assert_eq!(check(&owned, &ch, true), Ok(()), "--force");
        assert_eq!(check(&pf(), &ch, false), Ok(()));
    }

    #[test]
    fn every_refusal_says_what_to_do() {
        for e in [
            RawError::NoPrivilege,
            RawError::Lockdown("integrity".into()),
            RawError::NoAccess("ENOSYS".into()),
            RawError::Unsupported,
        ] {
            assert!(!e.next().is_empty());
        }
        assert!(RawError::NoPrivilege.next().contains("sudo"));
        assert!(RawError::NoAccess("x".into()).next().contains("AHCI"));
    }

    #[test]
    fn preflight_reads_the_tree() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("proc/self")).unwrap();
        std::fs::write(r.join("proc/self/status"), "CapEff:\t0000000000000000\n").unwrap();
        std::fs::write(r.join("proc/ioports"), "  0170-0177 : ata_piix\n").unwrap();
        let p = preflight(r, &Channel::legacy(3).unwrap());
        assert!(!p.rawio);
        assert_eq!(p.owners, ["ata_piix"]);
        assert!(p.lockdown.is_none());
    }

    #[test]
    fn sysfs_ports_read_and_write_resource_files() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let d = r.join("sys/bus/pci/devices/0000:00:01.1");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("resource2"), [0u8; 8]).unwrap();
        std::fs::write(d.join("resource3"), [0u8; 1]).unwrap();
        let c = Controller {
            bdf: "0000:00:01.1".into(),
            class: 0x010185,
            id: String::new(),
            driver: None,
            channels: vec![(0x170, 0x376)],
            io: vec![(2, 0x170, 0x177), (3, 0x376, 0x376)],
        };
        let ch = Channel::legacy(3).unwrap();
        let mut p = SysfsPorts::open(r, &c, &ch).unwrap();
        p.outb(0x173, 0x2A);
        p.outw(0x170, 0xBEEF);
        p.outb(0x376, 0x0A);
        assert_eq!(
            (p.inb(0x173), p.inw(0x170), p.inb(0x376)),
            (0x2A, 0xBEEF, 0x0A)
        );
        assert_eq!(
            std::fs::read(d.join("resource2")).unwrap()[..4],
            [0xEF, 0xBE, 0x00, 0x2A]
        );
        assert_eq!(p.inb(0x1F0), 0xFF, "outside the windows: floating");
    }
}
