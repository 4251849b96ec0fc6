//! Port I/O: the lowest layer. Implemented by real x86 ports (ioperm), by sysfs PCI
//! resource files, and by the virtual drive's register model.

use crate::clock::{Clock, Timed};

/// What the protocol layer says the data accesses that follow carry. Only the layer that
/// speaks the protocol knows which bytes are firmware; it says so here, and a recorder
/// (`--trace`) leaves those values out. Set back to `Protocol` right after.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Carries {
    /// Commands, addresses, IDs, status: recorded.
    #[default]
    Protocol,
    /// Firmware bytes: the value is left out. `flash` is the flash address a written
    /// byte goes to, so a replay can take it from the image.
    Payload { flash: Option<u32> },
}

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
    /// What the next data accesses carry (see [`Carries`]); only recorders care.
    fn carries(&mut self, _c: Carries) {}

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
    fn carries(&mut self, c: Carries) {
        (**self).carries(c)
    }
}

impl<P: PortIo + ?Sized> Timed for Box<P> {
    fn clock(&self) -> &dyn Clock {
        (**self).clock()
    }
}
