//! Port I/O: the lowest layer. Implemented by real x86 ports (ioperm), by sysfs PCI
//! resource files, and by the virtual drive's register model.

use crate::clock::{Clock, Timed};

/// Byte and word access to I/O ports, plus the clock that times waits on this bus.
pub trait PortIo: Timed {
    fn inb(&mut self, port: u16) -> u8;
    fn outb(&mut self, port: u16, val: u8);
    fn inw(&mut self, port: u16) -> u16;
    fn outw(&mut self, port: u16, val: u16);
    /// Modelled device time so far, for a virtual drive; None on real hardware.
    fn modelled(&self) -> Option<std::time::Duration> {
        None
    }
    /// Bus operations so far, for a virtual drive; None on real hardware.
    fn bus_ops(&self) -> Option<u64> {
        None
    }
    /// Power the drive off and on, where the tool can (virtual drives: standing in for
    /// the user who unplugs it). Real hardware returns false: a person has to do it.
    fn power_cycle(&mut self) -> bool {
        false
    }
    /// Something the path to the drive did on its own (see `TaskFile::fault`).
    fn fault(&self) -> Option<String> {
        None
    }

    /// Read words from a data port (rep insw).
    fn ins_w(&mut self, port: u16, buf: &mut [u16]) {
        for w in buf {
            *w = self.inw(port);
        }
    }
    /// Write words to a data port (rep outsw).
    fn outs_w(&mut self, port: u16, buf: &[u16]) {
        for &w in buf {
            self.outw(port, w);
        }
    }
}

impl<P: PortIo + ?Sized> PortIo for Box<P> {
    fn inb(&mut self, port: u16) -> u8 {
        (**self).inb(port)
    }
    fn outb(&mut self, port: u16, val: u8) {
        (**self).outb(port, val)
    }
    fn inw(&mut self, port: u16) -> u16 {
        (**self).inw(port)
    }
    fn outw(&mut self, port: u16, val: u16) {
        (**self).outw(port, val)
    }
    fn modelled(&self) -> Option<std::time::Duration> {
        (**self).modelled()
    }
    fn bus_ops(&self) -> Option<u64> {
        (**self).bus_ops()
    }
    fn power_cycle(&mut self) -> bool {
        (**self).power_cycle()
    }
    fn fault(&self) -> Option<String> {
        (**self).fault()
    }
}

impl<P: PortIo + ?Sized> Timed for Box<P> {
    fn clock(&self) -> &dyn Clock {
        (**self).clock()
    }
}
