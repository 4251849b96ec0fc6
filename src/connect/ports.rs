//! The port-I/O backends a drive can be reached through, behind one [`PortIo`]: the
//! connect layer picks one, everything above sees only the trait.

use crate::clock::{Clock, Timed};
use crate::sim::SimChannel;
use crate::transport::PortIo;
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
    fn carries(&mut self, c: crate::transport::Carries) {
        if let Ports::Traced(t) = self {
            t.carries(c)
        }
    }
    fn fault(&self) -> Option<String> {
        match self {
            Ports::Traced(t) => t.fault(),
            Ports::PassThrough(p) => p.fault(),
            _ => None,
        }
    }
    fn bus_ops(&self) -> Option<u64> {
        match self {
            Ports::Sim(s) => s.bus_ops(),
            Ports::Traced(t) => t.bus_ops(),
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
