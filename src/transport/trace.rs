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
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

enum Out {
    Plain(BufWriter<File>),
    Gz(flate2::write::GzEncoder<BufWriter<File>>),
}

/// A trace being written, with the rules of every file mtkflash writes: it never
/// replaces a file (refused when the name is taken), it is written to a temporary file
/// beside its place and moved there whole when done, and a write error is kept and
/// reported by [`TraceFile::finish`] instead of being lost. Gzip-compressed when the
/// name ends in `.gz`. A trace dropped unfinished (a failed run) is still moved into
/// place: that is the trace most worth having.
pub struct TraceFile {
    out: Option<Out>,
    tmp: Option<tempfile::TempPath>,
    dest: PathBuf,
    err: Option<std::io::Error>,
}

impl TraceFile {
    pub fn create(dest: &Path) -> std::io::Result<TraceFile> {
        if dest.exists() || dest.is_symlink() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the file exists; a trace never replaces a file",
            ));
        }
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (file, tmp) = tempfile::Builder::new()
            .prefix(".mtkflash-trace")
            .tempfile_in(dir)?
            .into_parts();
        let file = BufWriter::new(file);
        let out = if dest.extension().is_some_and(|e| e == "gz") {
            Out::Gz(flate2::write::GzEncoder::new(
                file,
                flate2::Compression::fast(),
            ))
        } else {
            Out::Plain(file)
        };
        Ok(TraceFile {
            out: Some(out),
            tmp: Some(tmp),
            dest: dest.to_path_buf(),
            err: None,
        })
    }

    /// Write one line; the first error is kept for `finish`.
    fn line(&mut self, args: std::fmt::Arguments<'_>) {
        if self.err.is_some() {
            return;
        }
        let r = match &mut self.out {
            Some(Out::Plain(w)) => writeln!(w, "{args}"),
            Some(Out::Gz(w)) => writeln!(w, "{args}"),
            None => Ok(()),
        };
        if let Err(e) = r {
            self.err = Some(e);
        }
    }

    /// Flush, sync and move the trace into place; the first error of the whole run.
    pub fn finish(mut self) -> std::io::Result<PathBuf> {
        self.finish_mut()
    }

    fn finish_mut(&mut self) -> std::io::Result<PathBuf> {
        let out = self.out.take();
        if let Some(e) = self.err.take() {
            return Err(e);
        }
        let file = match out {
            Some(Out::Plain(w)) => w.into_inner().map_err(|e| e.into_error())?,
            Some(Out::Gz(g)) => g.finish()?.into_inner().map_err(|e| e.into_error())?,
            None => return Ok(self.dest.clone()),
        };
        file.sync_all()?;
        if let Some(tmp) = self.tmp.take() {
            tmp.persist_noclobber(&self.dest).map_err(|e| e.error)?;
        }
        Ok(self.dest.clone())
    }
}

impl Drop for TraceFile {
    fn drop(&mut self) {
        if self.out.is_some() {
            self.err = None;
            if let Err(e) = self.finish_mut() {
                log::warn!(
                    "the trace {} could not be written: {e}",
                    self.dest.display()
                );
            }
        }
    }
}

pub struct Tracer<P: PortIo> {
    /// Always Some until `finish`.
    inner: Option<P>,
    /// Always Some until `finish`.
    out: Option<TraceFile>,
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
        let mut out = TraceFile::create(path)?;
        out.line(format_args!("# mtkflash trace 1"));
        out.line(format_args!("# target {describe}"));
        out.line(format_args!("# base {cmd_base:X} {ctl:X}"));
        Ok(Tracer {
            inner: Some(inner),
            out: Some(out),
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
            if let Some(o) = &mut self.out {
                o.line(format_args!("{dt} {text}{rep}"));
            }
        }
    }

    fn io(&mut self) -> &mut P {
        self.inner.as_mut().expect("tracer in use")
    }

    fn io_ref(&self) -> &P {
        self.inner.as_ref().expect("tracer in use")
    }

    /// Stop tracing and give the backend back, with how writing the trace went.
    pub fn finish(mut self) -> (P, std::io::Result<PathBuf>) {
        self.flush_sleeps();
        self.flush_last();
        let r = match self.out.take() {
            Some(o) => o.finish(),
            None => Ok(PathBuf::new()),
        };
        (self.inner.take().expect("tracer in use"), r)
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
        if self.out.is_some() {
            self.flush_sleeps();
            self.flush_last();
        }
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
    out: TraceFile,
    start: std::time::Instant,
    last: u128,
}

impl<'a> TracedScsi<'a> {
    pub fn new(
        inner: &'a mut dyn super::scsi::ScsiTransport,
        path: &Path,
    ) -> std::io::Result<Self> {
        let mut out = TraceFile::create(path)?;
        out.line(format_args!("# mtkflash trace 1"));
        out.line(format_args!("# target {}", inner.describe()));
        Ok(TracedScsi {
            inner,
            out,
            start: std::time::Instant::now(),
            last: 0,
        })
    }
}

impl TracedScsi<'_> {
    /// Stop tracing; how writing the trace went.
    pub fn finish(self) -> std::io::Result<PathBuf> {
        self.out.finish()
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
        self.out.line(format_args!(
            "{} C {} {d} {n} {res} {us}us",
            t0 - self.last,
            hex::encode_upper(cdb)
        ));
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
        self.out.line(format_args!("0 S {}", d.as_nanos()));
        self.inner.sleep(d);
    }
    fn modelled(&self) -> Option<Duration> {
        self.inner.modelled()
    }
    fn bus_ops(&self) -> Option<u64> {
        self.inner.bus_ops()
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
        let (_, r) = t.finish();
        r.unwrap();
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
