//! The port-I/O backends a drive can be reached through, behind one [`PortIo`]: the
//! connect layer picks one, everything above sees only the trait. A trace recorder,
//! when there is one, sits in the same dispatch (one branch on every access, not a
//! layer of its own).

use crate::clock::{Clock, Timed};
use crate::sim::SimChannel;
use crate::transport::trace::Recorder;
use crate::transport::{Carries, PortIo};
use std::path::PathBuf;
use std::time::Duration;

/// The port-I/O backends a drive can be reached through.
pub enum Backend {
    /// Nothing (only while a backend is being moved).
    Closed,
    Sim(Box<SimChannel>),
    /// A task file emulated over SCSI pass-through (experimental).
    PassThrough(Box<crate::transport::ptports::PtPorts>),
    #[cfg(target_os = "linux")]
    Raw(crate::transport::raw::RawPorts),
}

/// A backend, and the recorder of `--trace` (or of the diagnostic log) when the
/// session is recorded.
pub struct Ports {
    backend: Backend,
    rec: Option<Recorder>,
}

impl From<Backend> for Ports {
    fn from(backend: Backend) -> Ports {
        Ports { backend, rec: None }
    }
}

impl Ports {
    /// Record the session from here on.
    pub(super) fn start_recording(&mut self, rec: Recorder) {
        self.rec = Some(rec);
    }

    /// The backend, with how writing the trace went when the session was recorded.
    pub(super) fn finish(self) -> (Backend, Option<std::io::Result<PathBuf>>) {
        let Ports { backend, rec } = self;
        let r = rec.map(|r| r.finish(backend.clock()));
        (backend, r)
    }

    #[inline(always)]
    fn record_access(&mut self, kind: usize, port: u16, val: u16) {
        if self.rec.is_some() {
            self.record_out_of_line(kind, port, val);
        }
    }

    /// (Out of line: an unrecorded session's accesses stay as short as they were.)
    #[inline(never)]
    fn record_out_of_line(&mut self, kind: usize, port: u16, val: u16) {
        if let Some(r) = &mut self.rec {
            if r.access(kind, port, val) {
                r.mark_now(self.backend.clock());
            }
        }
    }
}

impl Timed for Backend {
    fn clock(&self) -> &dyn Clock {
        match self {
            Backend::Sim(s) => s.clock(),
            Backend::Closed => &*CLOSED_CLOCK,
            Backend::PassThrough(p) => p.clock(),
            #[cfg(target_os = "linux")]
            Backend::Raw(r) => r.clock(),
        }
    }
}

impl Timed for Ports {
    fn clock(&self) -> &dyn Clock {
        match self.rec {
            // (Recorded: waits go through the recorder.)
            Some(_) => self,
            None => self.backend.clock(),
        }
    }
}

impl Clock for Ports {
    fn now(&self) -> Duration {
        self.backend.clock().now()
    }
    fn sleep(&self, d: Duration) {
        match &self.rec {
            Some(r) => r.sleep(d, self.backend.clock()),
            None => self.backend.clock().sleep(d),
        }
    }
}

impl PortIo for Backend {
    #[inline]
    fn inb(&mut self, port: u16) -> u8 {
        match self {
            Backend::Sim(s) => s.inb(port),
            Backend::Closed => 0xFF,
            Backend::PassThrough(p) => p.inb(port),
            #[cfg(target_os = "linux")]
            Backend::Raw(r) => r.inb(port),
        }
    }
    #[inline]
    fn outb(&mut self, port: u16, val: u8) {
        match self {
            Backend::Sim(s) => s.outb(port, val),
            Backend::Closed => {}
            Backend::PassThrough(p) => p.outb(port, val),
            #[cfg(target_os = "linux")]
            Backend::Raw(r) => r.outb(port, val),
        }
    }
    #[inline]
    fn inw(&mut self, port: u16) -> u16 {
        match self {
            Backend::Sim(s) => s.inw(port),
            Backend::Closed => 0xFFFF,
            Backend::PassThrough(p) => p.inw(port),
            #[cfg(target_os = "linux")]
            Backend::Raw(r) => r.inw(port),
        }
    }
    #[inline]
    fn outw(&mut self, port: u16, val: u16) {
        match self {
            Backend::Sim(s) => s.outw(port, val),
            Backend::Closed => {}
            Backend::PassThrough(p) => p.outw(port, val),
            #[cfg(target_os = "linux")]
            Backend::Raw(r) => r.outw(port, val),
        }
    }
    fn fault(&self) -> Option<String> {
        match self {
            Backend::PassThrough(p) => p.fault(),
            _ => None,
        }
    }
    fn bus_ops(&self) -> Option<u64> {
        match self {
            Backend::Sim(s) => s.bus_ops(),
            _ => None,
        }
    }
    fn modelled(&self) -> Option<Duration> {
        match self {
            Backend::Sim(s) => s.modelled(),
            Backend::Closed => None,
            Backend::PassThrough(p) => p.modelled(),
            #[cfg(target_os = "linux")]
            Backend::Raw(_) => None,
        }
    }
    fn power_cycle(&mut self) -> bool {
        match self {
            Backend::Sim(s) => PortIo::power_cycle(&mut **s),
            _ => false,
        }
    }
}

impl PortIo for Ports {
    fn inb(&mut self, port: u16) -> u8 {
        let v = self.backend.inb(port);
        self.record_access(1, port, v as u16);
        v
    }
    fn outb(&mut self, port: u16, val: u8) {
        self.record_access(0, port, val as u16);
        self.backend.outb(port, val);
    }
    fn inw(&mut self, port: u16) -> u16 {
        let v = self.backend.inw(port);
        self.record_access(3, port, v);
        v
    }
    fn outw(&mut self, port: u16, val: u16) {
        self.record_access(2, port, val);
        self.backend.outw(port, val);
    }
    fn carries(&mut self, c: Carries) {
        if let Some(r) = &mut self.rec {
            r.carries(c)
        }
    }
    fn fault(&self) -> Option<String> {
        self.backend.fault()
    }
    fn bus_ops(&self) -> Option<u64> {
        self.backend.bus_ops()
    }
    fn modelled(&self) -> Option<Duration> {
        self.backend.modelled()
    }
    fn power_cycle(&mut self) -> bool {
        self.backend.power_cycle()
    }
}

static CLOSED_CLOCK: std::sync::LazyLock<crate::clock::RealClock> =
    std::sync::LazyLock::new(crate::clock::RealClock::new);
