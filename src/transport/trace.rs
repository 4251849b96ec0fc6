//! `--trace FILE`: every register access, data-port word and wait, with the firmware
//! payload left out; gzip-compressed when FILE ends in `.gz`. Register sessions are
//! written in format version 2 (docs/trace-format.md): three text header lines
//!
//! ```text
//! # mtkflash trace 2
//! # target port 0x170 master
//! # base 170 376                  command block and control block
//! # binary
//! ```
//!
//! then the accesses as a compact binary stream ([`super::compact`]), whose repeats are
//! found while recording. [`read`] renders any trace as the version 1 lines (one access
//! a line, what `mtkflash trace show` prints and version 1 files hold):
//!
//! ```text
//! <dt> W<r> <value|*>[ @addr][ xN]  outb to register r (0-7; c = control)
//! <dt> R<r> <value|*>[ xN]          inb: what the device answered
//! <dt> w0 <value|*>[ xN]            outw to the data register
//! <dt> r0 <value>[ xN]              inw
//! <dt> S <ns>                       the host waited
//! ```
//! `*` marks firmware payload, which the protocol layer names through
//! [`PortIo::carries`](super::PortIo::carries) (the chip drivers' data bytes: programmed
//! bytes, content reads and the polls that can return them, SPI page data and READ
//! replies; WRITE BUFFER data words); the recorder only does what it is told. A written
//! `*` carries `@flash address` so a replay can take the byte from the image.

use super::compact::{self, Access, Encoder, Reg};
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

    /// Write bytes as they are; the first error is kept for `finish`.
    fn bytes(&mut self, b: &[u8]) {
        if self.err.is_some() {
            return;
        }
        let r = match &mut self.out {
            Some(Out::Plain(w)) => w.write_all(b),
            Some(Out::Gz(w)) => w.write_all(b),
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
    base: u16,
    ctl: u16,
    /// Keys not yet handed to the encoder thread ([`Sink`]).
    buf: Vec<u64>,
    sink: Option<Sink>,
    /// A run of polls: the same read (its key), each after a wait, how many, the
    /// first wait and all the waits' total (see [`Tracer::end_poll`]).
    poll: Option<(u64, u32, u64, u64)>,
    /// Accesses since the last time mark was considered.
    since_mark: u32,
    /// What the protocol layer says the current accesses carry.
    carries: Carries,
    waits: Waits,
}

/// The encoder and the trace file, on a thread of their own: the session's thread only
/// computes each access's key and appends it to a buffer, handed over 8 K keys at a
/// time, so a trace costs the session little more than the keys (the encoding runs
/// beside it on another core).
struct Sink {
    tx: std::sync::mpsc::SyncSender<Vec<u64>>,
    spare: std::sync::mpsc::Receiver<Vec<u64>>,
    worker: std::thread::JoinHandle<std::io::Result<PathBuf>>,
}

const BATCH: usize = 1 << 13;

impl Sink {
    fn start(mut out: TraceFile) -> std::io::Result<Sink> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u64>>(2);
        let (back, spare) = std::sync::mpsc::sync_channel::<Vec<u64>>(4);
        // (Made here, so the writer thread allocates nothing of its own: no heap arena
        // of its own either.)
        let mut enc = Encoder::default();
        let worker = std::thread::Builder::new()
            .name("mtkflash-trace".into())
            // (It needs little: the encoder's state is on the heap.)
            .stack_size(128 << 10)
            .spawn(move || {
                for mut keys in rx {
                    for &k in &keys {
                        enc.push_any(k, MARK_US);
                    }
                    enc.drain(|b| out.bytes(b));
                    keys.clear();
                    let _ = back.try_send(keys);
                }
                enc.flush();
                enc.drain(|b| out.bytes(b));
                out.finish()
            })?;
        Ok(Sink { tx, spare, worker })
    }

    /// Hand `keys` over (a buffer comes back for the next batch).
    fn send(&self, keys: &mut Vec<u64>) {
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let full = std::mem::replace(keys, next);
        // (A worker that stopped keeps its error for `end`.)
        let _ = self.tx.send(full);
    }

    fn end(self) -> std::io::Result<PathBuf> {
        drop(self.tx);
        self.worker
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the trace writer stopped")))
    }
}

/// Waits recorded by the clock side of the tracer (ns, summed), written before the
/// next access.
#[derive(Default)]
struct Waits(std::cell::Cell<u64>);

/// A time mark at most every millisecond of session time, looked at every 4096
/// accesses and at every wait.
const MARK_US: u64 = 1000;
const MARK_EVERY: u32 = 4096;

impl<P: PortIo> Tracer<P> {
    pub fn new(
        inner: P,
        path: &Path,
        cmd_base: u16,
        ctl: u16,
        describe: &str,
    ) -> std::io::Result<Self> {
        Self::create(inner, path, cmd_base, ctl, describe).map_err(|(_, e)| e)
    }

    /// [`Tracer::new`] that gives the backend back when the trace cannot be made.
    pub fn create(
        inner: P,
        path: &Path,
        cmd_base: u16,
        ctl: u16,
        describe: &str,
    ) -> Result<Self, (P, std::io::Error)> {
        let out = match TraceFile::create(path) {
            Ok(mut out) => {
                out.line(format_args!("# mtkflash trace 2"));
                out.line(format_args!("# target {describe}"));
                out.line(format_args!("# base {cmd_base:X} {ctl:X}"));
                out.line(format_args!("# binary"));
                out
            }
            Err(e) => return Err((inner, e)),
        };
        match Sink::start(out) {
            Ok(sink) => Ok(Self::with_sink(inner, sink, cmd_base, ctl)),
            Err(e) => Err((inner, e)),
        }
    }

    #[cfg(test)]
    fn with_file(inner: P, out: TraceFile, cmd_base: u16, ctl: u16) -> std::io::Result<Self> {
        Ok(Self::with_sink(inner, Sink::start(out)?, cmd_base, ctl))
    }

    fn with_sink(inner: P, sink: Sink, cmd_base: u16, ctl: u16) -> Self {
        Tracer {
            inner: Some(inner),
            base: cmd_base,
            ctl,
            buf: Vec::with_capacity(BATCH),
            sink: Some(sink),
            poll: None,
            since_mark: 0,
            carries: Carries::Protocol,
            waits: Waits::default(),
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
        let r = self.end();
        (self.inner.take().expect("tracer in use"), r)
    }

    /// Hand over everything (the end time as a mark) and wait for the writer.
    fn end(&mut self) -> std::io::Result<PathBuf> {
        self.end_poll();
        let slept = self.take_waits();
        if slept > 0 {
            self.push(compact::key_of(&Access::Sleep(slept)));
        }
        let t = self.now_us();
        self.buf.push(compact::time_key(t, true));
        match self.sink.take() {
            Some(sink) => {
                sink.send(&mut self.buf);
                sink.end()
            }
            None => Ok(PathBuf::new()),
        }
    }

    fn now_us(&self) -> u64 {
        self.io_ref().clock().now().as_micros() as u64
    }

    #[inline]
    fn push(&mut self, k: u64) {
        self.buf.push(k);
        if self.buf.len() >= BATCH {
            self.hand_over();
        }
    }

    #[inline(never)]
    fn hand_over(&mut self) {
        if let Some(sink) = &self.sink {
            sink.send(&mut self.buf);
        } else {
            self.buf.clear();
        }
    }

    /// The waits since the last access, summed (0: none); a time mark when due.
    #[inline]
    fn take_waits(&mut self) -> u64 {
        let ns = self.waits.0.take();
        if ns != 0 {
            self.mark();
        }
        ns
    }

    #[inline(never)]
    fn mark(&mut self) {
        let t = self.now_us();
        self.push(compact::time_key(t, false));
    }

    /// Write a run of `n` polls (the same read after each of its waits, the first
    /// `first` ns, `total` in all) as the first wait, `n - 1` reads, one wait of the
    /// rest, and the last read: the earlier reads come at the time of the first, which
    /// saw what they all saw (a device polled stays as it was until it changes), and
    /// the last one at its own time. The waits between the polls (a back-off) are not
    /// kept one by one.
    fn end_poll(&mut self) {
        if let Some((read, n, first, total)) = self.poll.take() {
            self.push(compact::key_of(&Access::Sleep(first)));
            for _ in 1..n {
                self.push(read);
            }
            if n > 1 {
                self.push(compact::key_of(&Access::Sleep(total - first)));
            }
            self.push(read);
        }
    }

    /// One access as its key ([`compact::key_of`]): its value, or none (and the flash
    /// address a written firmware byte goes to) when the protocol layer said it carries
    /// payload.
    #[inline]
    fn key(&self, write: bool, word: bool, port: u16, val: u16) -> u64 {
        let reg = if port == self.ctl {
            Reg::Ctl
        } else if port.wrapping_sub(self.base) < 8 {
            Reg::Cmd((port - self.base) as u8)
        } else {
            Reg::Port(port)
        };
        match self.carries {
            Carries::Protocol => compact::access_key(write, word, reg, Some(val), None),
            Carries::Payload { flash } => {
                compact::access_key(write, word, reg, None, if write { flash } else { None })
            }
        }
    }

    #[inline]
    fn access(&mut self, write: bool, word: bool, port: u16, val: u16) {
        let slept = self.take_waits();
        let k = self.key(write, word, port, val);
        if slept == 0 && self.poll.is_none() {
            self.push(k);
        } else {
            self.after_wait(k, write, slept);
        }
        self.since_mark += 1;
        if self.since_mark >= MARK_EVERY {
            self.since_mark = 0;
            self.mark();
        }
    }

    /// An access after a wait, or while a run of polls is open: a read after a wait
    /// may be one of a run of polls ([`Tracer::end_poll`]).
    #[inline(never)]
    fn after_wait(&mut self, k: u64, write: bool, slept: u64) {
        match &mut self.poll {
            Some((read, n, _, total)) if slept > 0 && *read == k => {
                *n += 1;
                *total += slept;
            }
            _ => {
                self.end_poll();
                if slept > 0 && !write {
                    self.poll = Some((k, 1, slept, slept));
                } else {
                    if slept > 0 {
                        self.push(compact::key_of(&Access::Sleep(slept)));
                    }
                    self.push(k);
                }
            }
        }
    }
}

impl<P: PortIo> Drop for Tracer<P> {
    fn drop(&mut self) {
        if self.sink.is_some() && self.inner.is_some() {
            if let Err(e) = self.end() {
                log::warn!("the trace could not be written: {e}");
            }
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
        // (A wait of 0 ns is kept as 1: it is still a wait.)
        let ns = (d.as_nanos() as u64).max(1);
        self.waits.0.set(self.waits.0.get().saturating_add(ns));
        self.io_ref().clock().sleep(d);
    }
}

impl<P: PortIo> PortIo for Tracer<P> {
    fn inb(&mut self, port: u16) -> u8 {
        let v = self.io().inb(port);
        self.access(false, false, port, v as u16);
        v
    }

    fn outb(&mut self, port: u16, val: u8) {
        self.access(true, false, port, val as u16);
        self.io().outb(port, val);
    }

    fn inw(&mut self, port: u16) -> u16 {
        let v = self.io().inw(port);
        self.access(false, true, port, v);
        v
    }

    fn outw(&mut self, port: u16, val: u16) {
        self.access(true, true, port, val);
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

/// A trace file's bytes, decompressed when it is gzip (by content, whatever its name).
pub fn read_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let raw = std::fs::read(path)?;
    if raw.starts_with(&[0x1F, 0x8B]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// A trace's parts: its header lines and, for version 2, the binary stream.
pub struct Parsed<'a> {
    pub version: u32,
    pub header: Vec<&'a str>,
    /// Version 1: the text after the header. Version 2: the binary stream.
    pub body: &'a [u8],
}

/// Split a trace into header and body; an error names what is wrong. A diagnostic
/// log or a report bundle holding a trace gives that trace.
pub fn parse(bytes: &[u8]) -> Result<Parsed<'_>, String> {
    if bytes.starts_with(b"# mtkflash log") || bytes.starts_with(b"# mtkflash report") {
        let marker = b"\n# mtkflash trace ";
        return match bytes.windows(marker.len()).position(|w| w == marker) {
            Some(at) => parse(&bytes[at + 1..]),
            None => Err("this log holds no trace (the run reached no task-file port)".into()),
        };
    }
    let mut header = Vec::new();
    let mut pos = 0;
    let mut version = 1;
    while pos < bytes.len() && bytes[pos] == b'#' {
        let end = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |e| pos + e);
        let line = std::str::from_utf8(&bytes[pos..end])
            .map_err(|_| "the header is not text".to_string())?
            .trim_end_matches('\r');
        pos = (end + 1).min(bytes.len());
        if let Some(v) = line.strip_prefix("# mtkflash trace ") {
            version = v
                .trim()
                .parse()
                .map_err(|_| format!("unknown trace version '{}'", v.trim()))?;
            if !(1..=2).contains(&version) {
                return Err(format!(
                    "trace version {version}: this mtkflash reads versions 1 and 2"
                ));
            }
        }
        if line == "# binary" {
            return Ok(Parsed {
                version,
                header,
                body: &bytes[pos..],
            });
        }
        header.push(line);
    }
    if version == 2 {
        return Err("a version 2 trace without its '# binary' line".into());
    }
    Ok(Parsed {
        version,
        header,
        body: &bytes[pos..],
    })
}

/// Render a version 2 body as version 1 lines (`dt` from the time marks, repeats of a
/// line merged as `xN`), each passed to `out`.
pub fn render(body: &[u8], mut out: impl FnMut(&str)) -> Result<(), String> {
    let mut last: Option<(String, u64, u64)> = None; // text, dt, count
    let mut prev_time = 0u64;
    let emit = |l: &Option<(String, u64, u64)>, out: &mut dyn FnMut(&str)| {
        if let Some((text, dt, n)) = l {
            if *n > 1 {
                out(&format!("{dt} {text} x{n}"));
            } else {
                out(&format!("{dt} {text}"));
            }
        }
    };
    for d in compact::Decoder::new(body) {
        let d = d?;
        let text = compact::line_of(&d.access);
        let dt = d.time_us - prev_time;
        prev_time = d.time_us;
        match &mut last {
            Some((t, _, n)) if *t == text && dt == 0 => *n += 1,
            _ => {
                emit(&last, &mut out);
                last = Some((text, dt, 1));
            }
        }
    }
    emit(&last, &mut out);
    Ok(())
}

/// Read a trace file (either version, gzip or not) as version 1 text.
pub fn read(path: &Path) -> std::io::Result<String> {
    let bytes = read_bytes(path)?;
    let bad = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let p = parse(&bytes).map_err(bad)?;
    if p.version == 1 {
        let mut s = String::new();
        for h in &p.header {
            s.push_str(h);
            s.push('\n');
        }
        s.push_str(
            std::str::from_utf8(p.body)
                .map_err(|_| bad("a version 1 trace that is not text".into()))?,
        );
        return Ok(s);
    }
    let mut s = String::from("# mtkflash trace 1\n");
    for h in p
        .header
        .iter()
        .filter(|h| !h.starts_with("# mtkflash trace"))
    {
        s.push_str(h);
        s.push('\n');
    }
    render(p.body, |l| {
        s.push_str(l);
        s.push('\n');
    })
    .map_err(bad)?;
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
    fn a_trace_that_cannot_be_written_is_reported_by_finish() {
        // (A full file system or a file-size limit: here a file opened read-only, so
        // every write fails.) Issue 17 made traces too small for a file-size limit to
        // fail them in a command without failing the drive file first.
        let dir = tempfile::tempdir().unwrap();
        let mut out = TraceFile::create(&dir.path().join("t.trace")).unwrap();
        std::fs::write(dir.path().join("ro"), b"").unwrap();
        let ro = std::fs::File::open(dir.path().join("ro")).unwrap();
        out.out = Some(Out::Plain(BufWriter::new(ro)));
        let mut t = Tracer::with_file(Echo(VirtualClock::new()), out, 0x170, 0x376).unwrap();
        for i in 0..100_000u32 {
            t.outb(0x173, i as u8);
            t.inb(0x177);
        }
        let (_, r) = t.finish();
        assert!(r.is_err(), "{r:?}");
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
