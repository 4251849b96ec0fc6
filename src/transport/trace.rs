//! `--trace FILE`: every register access, data-port word and wait, with the firmware
//! payload left out; gzip-compressed when FILE ends in `.gz`. Format version 1
//! (docs/trace-format.md), one event per line:
//!
//! ```text
//! # mtkflash trace 1
//! # target port 0x170 master
//! # base 170 376                  command block and control block
//! <dt> W<r> <value|*>[ @addr][ xN]  outb to register r (0-7; c = control)
//! <dt> R<r> <value|*>[ xN]          inb: what the device answered
//! <dt> w0 <value|*>[ xN]            outw to the data register
//! <dt> r0 <value>[ xN]              inw
//! <dt> S <ns>                       the host waited
//! ```
//! `dt` is microseconds since the previous line; `xN` repeats the line N times; `*`
//! marks firmware payload, which the protocol layer names through
//! [`PortIo::carries`](super::PortIo::carries) (the chip drivers' data bytes: programmed
//! bytes, content reads and the polls that can return them, SPI page data and READ
//! replies; WRITE BUFFER data words); the recorder only does what it is told. A written
//! `*` carries `@flash address` so a replay can take the byte from the image.

use super::{Carries, PortIo};
use crate::clock::{Clock, Timed};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// A trace file, gzip-compressed when its name ends in `.gz`.
fn open_writer(path: &Path) -> std::io::Result<Box<dyn Write>> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    Ok(if path.extension().map(|e| e == "gz").unwrap_or(false) {
        Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        ))
    } else {
        Box::new(file)
    })
}

pub struct Tracer<P: PortIo> {
    /// Always Some until `into_inner`.
    inner: Option<P>,
    out: Box<dyn Write>,
    base: u16,
    ctl: u16,
    /// The last line (without its time) and how often it repeated, not yet written.
    last: Option<(u128, String, u32)>,
    last_t: u128,
    /// What the protocol layer says the current accesses carry.
    carries: Carries,
    waits: Waits,
}

/// Waits recorded by the clock side of the tracer (time, ns), written before the next
/// access.
#[derive(Default)]
struct Waits(std::cell::RefCell<Vec<(u128, u128)>>);

impl<P: PortIo> Tracer<P> {
    pub fn new(
        inner: P,
        path: &Path,
        cmd_base: u16,
        ctl: u16,
        describe: &str,
    ) -> std::io::Result<Self> {
        let mut out = open_writer(path)?;
        writeln!(out, "# mtkflash trace 1")?;
        writeln!(out, "# target {describe}")?;
        writeln!(out, "# base {cmd_base:X} {ctl:X}")?;
        Ok(Tracer {
            inner: Some(inner),
            out,
            base: cmd_base,
            ctl,
            last: None,
            last_t: 0,
            carries: Carries::Protocol,
            waits: Waits::default(),
        })
    }

    /// Write a line, merging repeats into `xN`.
    fn emit(&mut self, t: u128, text: String) {
        if let Some((_, prev, n)) = &mut self.last {
            if *prev == text {
                *n += 1;
                return;
            }
        }
        self.flush_last();
        self.last = Some((t, text, 1));
    }

    fn flush_last(&mut self) {
        if let Some((t, text, n)) = self.last.take() {
            let dt = t.saturating_sub(self.last_t);
            self.last_t = t;
            let rep = if n > 1 {
                format!(" x{n}")
            } else {
                String::new()
            };
            let _ = writeln!(self.out, "{dt} {text}{rep}");
        }
    }

    fn io(&mut self) -> &mut P {
        self.inner.as_mut().expect("tracer in use")
    }

    fn io_ref(&self) -> &P {
        self.inner.as_ref().expect("tracer in use")
    }

    /// Stop tracing (flushing the file) and give the backend back.
    pub fn into_inner(mut self) -> P {
        self.inner.take().expect("tracer in use")
    }

    fn t(&self) -> u128 {
        self.io_ref().clock().now().as_micros()
    }

    fn flush_sleeps(&mut self) {
        let waits: Vec<(u128, u128)> = self.waits.0.borrow_mut().drain(..).collect();
        for (t, ns) in waits {
            self.emit(t, format!("S {ns}"));
        }
    }

    fn reg(&self, port: u16) -> String {
        if port == self.ctl {
            "c".into()
        } else if (self.base..self.base + 8).contains(&port) {
            format!("{}", port - self.base)
        } else {
            format!("p{port:X}")
        }
    }

    /// One access: its value, or `*` (and the flash address a written firmware byte
    /// goes to) when the protocol layer said it carries payload.
    fn line(&mut self, kind: char, port: u16, val: u32) {
        self.flush_sleeps();
        let t = self.t();
        let text = match self.carries {
            Carries::Protocol => format!("{kind}{} {val:X}", self.reg(port)),
            Carries::Payload { flash } => {
                let head = format!("{kind}{} *", self.reg(port));
                match flash {
                    Some(a) if kind == 'W' => format!("{head} @{a:X}"),
                    _ => head,
                }
            }
        };
        self.emit(t, text);
    }
}

impl<P: PortIo> Drop for Tracer<P> {
    fn drop(&mut self) {
        self.flush_sleeps();
        self.flush_last();
        let _ = self.out.flush();
    }
}

impl<P: PortIo> Timed for Tracer<P> {
    fn clock(&self) -> &dyn Clock {
        self // the tracer is its own clock: it forwards waits and records them
    }
}

impl<P: PortIo> Clock for Tracer<P> {
    fn now(&self) -> Duration {
        self.io_ref().clock().now()
    }
    fn sleep(&self, d: Duration) {
        let t = self.io_ref().clock().now().as_micros();
        self.waits.0.borrow_mut().push((t, d.as_nanos()));
        self.io_ref().clock().sleep(d);
    }
}

impl<P: PortIo> PortIo for Tracer<P> {
    fn inb(&mut self, port: u16) -> u8 {
        let v = self.io().inb(port);
        self.line('R', port, v as u32);
        v
    }

    fn outb(&mut self, port: u16, val: u8) {
        self.line('W', port, val as u32);
        self.io().outb(port, val);
    }

    fn inw(&mut self, port: u16) -> u16 {
        let v = self.io().inw(port);
        self.line('r', port, v as u32);
        v
    }

    fn outw(&mut self, port: u16, val: u16) {
        self.line('w', port, val as u32);
        self.io().outw(port, val);
    }

    fn carries(&mut self, c: Carries) {
        self.carries = c;
        self.io().carries(c);
    }

    fn modelled(&self) -> Option<Duration> {
        self.io_ref().modelled()
    }

    fn bus_ops(&self) -> Option<u64> {
        self.io_ref().bus_ops()
    }

    fn fault(&self) -> Option<String> {
        self.io_ref().fault()
    }

    fn power_cycle(&mut self) -> bool {
        self.io().power_cycle()
    }
}

/// Read a trace file, decompressing `.gz`.
pub fn read(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut s = String::new();
    if path.extension().map(|e| e == "gz").unwrap_or(false) {
        flate2::read::GzDecoder::new(f).read_to_string(&mut s)?;
    } else {
        std::io::BufReader::new(f).read_to_string(&mut s)?;
    }
    Ok(s)
}

/// `--trace` for pass-through sessions: one `C` line per command with the CDB, the data
/// direction and length, status, sense and duration; never the data itself.
pub struct TracedScsi<'a> {
    inner: &'a mut dyn super::scsi::ScsiTransport,
    out: Box<dyn Write>,
    start: std::time::Instant,
    last: u128,
}

impl<'a> TracedScsi<'a> {
    pub fn new(
        inner: &'a mut dyn super::scsi::ScsiTransport,
        path: &Path,
    ) -> std::io::Result<Self> {
        let mut out = open_writer(path)?;
        writeln!(out, "# mtkflash trace 1")?;
        writeln!(out, "# target {}", inner.describe())?;
        Ok(TracedScsi {
            inner,
            out,
            start: std::time::Instant::now(),
            last: 0,
        })
    }
}

impl super::scsi::ScsiTransport for TracedScsi<'_> {
    fn execute(
        &mut self,
        cdb: &[u8],
        dir: super::scsi::Dir<'_>,
        timeout: Duration,
    ) -> Result<super::scsi::ScsiResult, super::scsi::TransportError> {
        let t0 = self.start.elapsed().as_micros();
        let r = self.inner.execute(cdb, dir, timeout);
        let (d, n) = match dir {
            super::scsi::Dir::None => ("-", 0),
            super::scsi::Dir::In(n) => ("in", n),
            super::scsi::Dir::Out(b) => ("out", b.len()),
        };
        let res = match &r {
            Ok(x) => format!(
                "{:02X} {}",
                x.status,
                if x.sense.is_empty() {
                    "-".into()
                } else {
                    hex::encode_upper(&x.sense)
                }
            ),
            Err(e) => format!("ERR {}", e.to_string().replace(' ', "_")),
        };
        let us = self.start.elapsed().as_micros() - t0;
        let _ = writeln!(
            self.out,
            "{} C {} {d} {n} {res} {us}us",
            t0 - self.last,
            hex::encode_upper(cdb)
        );
        self.last = t0;
        r
    }
    fn max_transfer(&self) -> usize {
        self.inner.max_transfer()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn sleep(&mut self, d: Duration) {
        let _ = writeln!(self.out, "0 S {}", d.as_nanos());
        self.inner.sleep(d);
    }
    fn modelled(&self) -> Option<Duration> {
        self.inner.modelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::VirtualClock;

    /// Ports that answer 0x5A everywhere.
    struct Echo(VirtualClock);
    impl Timed for Echo {
        fn clock(&self) -> &dyn Clock {
            &self.0
        }
    }
    impl PortIo for Echo {
        fn inb(&mut self, _: u16) -> u8 {
            0x5A
        }
        fn outb(&mut self, _: u16, _: u8) {}
        fn inw(&mut self, _: u16) -> u16 {
            0x5A5A
        }
        fn outw(&mut self, _: u16, _: u16) {}
    }

    #[test]
    fn the_recorder_leaves_out_exactly_what_it_is_told_is_payload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.trace");
        let mut t = Tracer::new(Echo(VirtualClock::new()), &path, 0x170, 0x376, "test").unwrap();
        t.outb(0x173, 0x12);
        t.carries(Carries::Payload {
            flash: Some(0x4321),
        });
        t.outb(0x173, 0x34);
        t.carries(Carries::Payload { flash: None });
        assert_eq!(t.inb(0x173), 0x5A);
        t.outw(0x170, 0xBEEF);
        t.carries(Carries::Protocol);
        t.outb(0x173, 0x56);
        t.inb(0x177);
        drop(t);
        let text = read(&path).unwrap();
        let body: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split_once(' ').unwrap().1)
            .collect();
        assert_eq!(
            body,
            ["W3 12", "W3 * @4321", "R3 *", "w0 *", "W3 56", "R7 5A"]
        );
    }
}
