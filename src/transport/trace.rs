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

use super::compact::{self, Access, Encoder};
use super::Carries;
#[cfg(test)]
use super::PortIo;
use crate::clock::Clock;
#[cfg(test)]
use crate::clock::Timed;
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

/// A backend whose accesses and waits are recorded: a [`Recorder`] around any
/// [`PortIo`](super::PortIo), for the tests (the connect layer puts the recorder inside its own port
/// dispatch, which saves a layer on every access).
#[cfg(test)]
pub struct Tracer<P: PortIo> {
    inner: P,
    rec: Recorder,
}

/// The session's side of a trace: the backend hands it every access ([`Recorder::
/// access`]), wait ([`Recorder::sleep`]) and payload marking ([`Recorder::carries`]);
/// it writes them into the ring for the writer thread, which it waits for at the end
/// ([`Recorder::end`]; a recorder dropped unfinished ends its trace too).
pub struct Recorder {
    ring: Producer,
    /// Published batches since the last time mark by count ([`MARK_EVERY`]).
    batches: u32,
    /// The template and value mask of each kind of access (outb, inb, outw, inw) for
    /// what the protocol layer says the current accesses carry, and those for protocol
    /// bytes and for payload (kept, so a change costs a copy).
    kinds: [(u64, u64); 4],
    protocol: [(u64, u64); 4],
    payload: [(u64, u64); 4],
    /// The session time of the last mark (µs), for an end without a clock.
    last_us: std::cell::Cell<u64>,
    worker: Option<std::thread::JoinHandle<std::io::Result<PathBuf>>>,
}

/// What the session's thread hands the trace writer: one `u64` an entry, the key of
/// each access as it went to its port ([`compact::port_template`]; the writer names the
/// registers, [`compact::with_register`]), of each wait ([`compact::key_of`]) and the
/// time marks ([`compact::time_key`]).
/// The ring between the session's thread and the trace writer: the session writes
/// entries into it and publishes how far it got every [`PUBLISH`] entries; the writer
/// looks every so often (it naps, a little longer each time it finds nothing) and says
/// how far it has read. Nobody waits for anybody while there is room, so a busy bus
/// pays only for its entries: no hand-over wakes the writer (a wake-up costs the
/// session tens of microseconds in a virtual machine), no lock is taken.
struct Shared {
    slots: Box<[std::sync::atomic::AtomicU64; RING]>,
    /// Entries published by the session, and read by the writer.
    head: std::sync::atomic::AtomicUsize,
    tail: std::sync::atomic::AtomicUsize,
    /// The session is over (all entries published).
    done: std::sync::atomic::AtomicBool,
    /// The writer is napping (the session wakes it when the ring fills).
    napping: std::sync::atomic::AtomicBool,
    /// The writer has stopped (finished, or failed): nobody reads any more.
    gone: std::sync::atomic::AtomicBool,
}

/// Entries in the ring (512 KiB): a few milliseconds of the virtual drive's bus, many
/// of real hardware's, so the writer's naps never make the session wait.
const RING: usize = 1 << 15;
const PUBLISH: usize = 1 << 10;
/// A time mark at most every millisecond of session time, looked at every 4 published
/// batches (4096 entries) and at every wait.
const MARK_US: u64 = 1000;
const MARK_EVERY: u32 = 4;
/// The writer's naps when it finds nothing new.
const NAP_MIN: Duration = Duration::from_micros(100);
const NAP_MAX: Duration = Duration::from_millis(1);
/// How long the session waits for room in the ring before it stops recording (a file
/// system that stalls must not stall a flash).
const STALL: Duration = Duration::from_secs(2);
/// How long the end of a session waits for the writer to finish the file.
const FINISH: Duration = Duration::from_secs(30);

/// The session's end of the ring (Cells: the clock side records through `&self`).
struct Producer {
    shared: std::sync::Arc<Shared>,
    worker: std::thread::Thread,
    /// Entries written (not all published yet).
    head: std::cell::Cell<usize>,
    /// Write up to here without looking at the writer's progress.
    limit: std::cell::Cell<usize>,
    /// Entries published (the writer reads up to here).
    published: std::cell::Cell<usize>,
    /// How long to wait for room before recording stops ([`STALL`]).
    stall: Duration,
    /// Recording stopped (the writer fell behind by [`STALL`], or stopped) after this
    /// many entries: the rest are dropped, as `end` reports.
    stopped: std::cell::Cell<Option<usize>>,
}

impl Producer {
    /// Write one entry; true when this one published a batch.
    #[inline(always)]
    fn push(&self, v: u64) -> bool {
        let mut h = self.head.get();
        // (One comparison: `limit` is the end of the batch.)
        let mut published = false;
        if h == self.limit.get() {
            published = self.publish();
            h = self.head.get();
        }
        if let Some(slot) = self.shared.slots.get(h % RING) {
            slot.store(v, std::sync::atomic::Ordering::Relaxed);
        }
        self.head.set(h + 1);
        published
    }

    /// The end of a batch: make sure the next batch has room (waiting for the writer,
    /// up to [`STALL`], when it has not read that far yet) and publish this one. True
    /// when it was published. Once recording has stopped (the writer stalled or
    /// stopped) the entries after the last batch published are dropped: the session
    /// writes them again and again into the room of that batch, which nobody reads.
    #[cold]
    #[inline(never)]
    fn publish(&self) -> bool {
        use std::sync::atomic::Ordering::*;
        let h = self.head.get();
        if self.stopped.get().is_none() {
            let want = h + PUBLISH;
            let mut tail = self.shared.tail.load(Acquire);
            let mut since: Option<std::time::Instant> = None;
            while want - tail > RING {
                if self.shared.gone.load(Acquire)
                    || since.get_or_insert_with(std::time::Instant::now).elapsed() > self.stall
                {
                    self.stopped.set(Some(self.published.get()));
                    break;
                }
                self.worker.unpark();
                // (The writer frees a few thousand entries within microseconds once
                // awake: yield to it first, sleep only when that does not do.)
                if since.is_some_and(|t| t.elapsed() < Duration::from_millis(1)) {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(50));
                }
                tail = self.shared.tail.load(Acquire);
            }
            if self.stopped.get().is_none() {
                self.shared.head.store(h, Release);
                self.published.set(h);
                self.limit.set(want);
                // (Wake the writer only when the ring is half full and it naps: not
                // while it keeps up.)
                if h - tail > RING / 2 && self.shared.napping.load(SeqCst) {
                    self.worker.unpark();
                }
                return true;
            }
        }
        let p = self.published.get();
        self.head.set(p);
        self.limit.set(p + PUBLISH);
        false
    }

    /// Publish everything and tell the writer the session is over.
    fn close(&self) {
        use std::sync::atomic::Ordering::*;
        if self.stopped.get().is_none() {
            self.shared.head.store(self.head.get(), Release);
        }
        self.shared.done.store(true, Release);
        self.worker.unpark();
    }
}

/// Sets [`Shared::gone`] when the writer stops, however it stops.
struct Gone(std::sync::Arc<Shared>);

impl Drop for Gone {
    fn drop(&mut self) {
        self.0
            .gone
            .store(true, std::sync::atomic::Ordering::Release);
    }
}

/// The writer's side: entries to keys, with the runs of polls folded
/// ([`Keys::end_poll`]), into the encoder.
struct Keys {
    base: u16,
    ctl: u16,
    enc: Encoder,
    /// A run of polls: the same read (its key), each after a wait, how many, the
    /// first wait and all the waits' total (see [`Keys::end_poll`]).
    poll: Option<(u64, u32, u64, u64)>,
    /// The waits since the last access, summed (ns).
    waits: u64,
}

impl Keys {
    #[inline]
    fn take(&mut self, e: u64) {
        if compact::is_access(e) {
            let k = compact::with_register(e, self.base, self.ctl);
            let slept = std::mem::take(&mut self.waits);
            if slept == 0 && self.poll.is_none() {
                self.enc.push_key(k);
            } else {
                self.after_wait(k, compact::is_write(k), slept);
            }
        } else if let Some(ns) = compact::sleep_ns(e) {
            self.waits = self.waits.saturating_add(ns);
        } else {
            let (us, forced) = (e >> 5, (e >> 4) & 1 == 1);
            if forced {
                self.end_poll();
                let slept = std::mem::take(&mut self.waits);
                if slept > 0 {
                    self.enc.push(&Access::Sleep(slept));
                }
            }
            self.enc.time(us, if forced { 0 } else { MARK_US });
        }
    }

    /// Write a run of `n` polls (the same read after each of its waits, the first
    /// `first` ns, `total` in all) as the first wait, `n - 1` reads, one wait of the
    /// rest, and the last read: the earlier reads come at the time of the first, which
    /// saw what they all saw (a device polled stays as it was until it changes), and
    /// the last one at its own time. The waits between the polls (a back-off) are not
    /// kept one by one.
    fn end_poll(&mut self) {
        if let Some((read, n, first, total)) = self.poll.take() {
            self.enc.push(&Access::Sleep(first));
            for _ in 1..n {
                self.enc.push_key(read);
            }
            if n > 1 {
                self.enc.push(&Access::Sleep(total - first));
            }
            self.enc.push_key(read);
        }
    }

    /// An access after a wait, or while a run of polls is open: a read after a wait
    /// may be one of a run of polls ([`Keys::end_poll`]).
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
                        self.enc.push(&Access::Sleep(slept));
                    }
                    self.enc.push_key(k);
                }
            }
        }
    }
}

/// Start the trace writer: it reads the ring, encodes and writes `out`.
/// (`held`: the writer stops reading after that many entries until the session is
/// over, and the session waits `stall` for room: for the tests of a stalled writer.)
fn start_writer(
    mut out: TraceFile,
    base: u16,
    ctl: u16,
    held: Option<(usize, Duration)>,
) -> std::io::Result<(Producer, std::thread::JoinHandle<std::io::Result<PathBuf>>)> {
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
    let shared = std::sync::Arc::new(Shared {
        slots: (0..RING)
            .map(|_| AtomicU64::new(0))
            .collect::<Box<[_]>>()
            .try_into()
            .expect("RING slots"),
        head: AtomicUsize::new(0),
        tail: AtomicUsize::new(0),
        done: AtomicBool::new(false),
        napping: AtomicBool::new(false),
        gone: AtomicBool::new(false),
    });
    // (Made here, so the writer thread allocates nothing of its own: no heap arena of
    // its own either.)
    let mut keys = Keys {
        base,
        ctl,
        enc: Encoder::default(),
        poll: None,
        waits: 0,
    };
    let gone = Gone(shared.clone());
    let worker = std::thread::Builder::new()
        .name("mtkflash-trace".into())
        // (It needs little: the encoder's state is on the heap.)
        .stack_size(128 << 10)
        .spawn(move || {
            let sh = gone.0.clone();
            let mut tail = 0;
            let mut nap = NAP_MIN;
            loop {
                let mut head = sh.head.load(Acquire);
                if let Some((n, _)) = held {
                    if !sh.done.load(Acquire) {
                        head = head.min(n);
                    }
                }
                if head != tail {
                    // (A few thousand at a time, so the room is given back soon.)
                    let upto = head.min(tail + 4 * PUBLISH);
                    for i in tail..upto {
                        keys.take(sh.slots[i % RING].load(Relaxed));
                    }
                    tail = upto;
                    sh.tail.store(tail, Release);
                    keys.enc.drain(|b| out.bytes(b));
                    nap = NAP_MIN;
                    continue;
                }
                if sh.done.load(Acquire) {
                    if sh.head.load(Acquire) != tail {
                        continue;
                    }
                    break;
                }
                sh.napping.store(true, SeqCst);
                if sh.head.load(SeqCst) == tail && !sh.done.load(SeqCst) {
                    std::thread::park_timeout(nap);
                    nap = (nap * 2).min(NAP_MAX);
                }
                sh.napping.store(false, Relaxed);
            }
            keys.enc.flush();
            keys.enc.drain(|b| out.bytes(b));
            let r = out.finish();
            drop(gone);
            r
        })?;
    let producer = Producer {
        shared,
        worker: worker.thread().clone(),
        head: std::cell::Cell::new(0),
        limit: std::cell::Cell::new(PUBLISH),
        published: std::cell::Cell::new(0),
        stall: held.map_or(STALL, |(_, d)| d),
        stopped: std::cell::Cell::new(None),
    };
    Ok((producer, worker))
}

impl Recorder {
    /// Start a trace at `path` (never replacing a file) of a task file at `cmd_base`
    /// and `ctl`; `describe` names it in the header.
    pub fn start(path: &Path, cmd_base: u16, ctl: u16, describe: &str) -> std::io::Result<Self> {
        let mut out = TraceFile::create(path)?;
        Self::header(&mut out, cmd_base, ctl, describe);
        Self::with_file(out, cmd_base, ctl)
    }

    fn header(out: &mut TraceFile, cmd_base: u16, ctl: u16, describe: &str) {
        out.line(format_args!("# mtkflash trace 2"));
        out.line(format_args!("# target {describe}"));
        out.line(format_args!("# base {cmd_base:X} {ctl:X}"));
        out.line(format_args!("# binary"));
    }

    fn with_file(out: TraceFile, cmd_base: u16, ctl: u16) -> std::io::Result<Self> {
        Self::with_writer(out, cmd_base, ctl, None)
    }

    fn with_writer(
        out: TraceFile,
        cmd_base: u16,
        ctl: u16,
        held: Option<(usize, Duration)>,
    ) -> std::io::Result<Self> {
        let (ring, worker) = start_writer(out, cmd_base, ctl, held)?;
        let kinds = |payload: bool| {
            [(true, false), (false, false), (true, true), (false, true)]
                .map(|(write, word)| compact::port_template(write, word, payload, None))
        };
        Ok(Recorder {
            ring,
            batches: 0,
            kinds: kinds(false),
            protocol: kinds(false),
            payload: kinds(true),
            last_us: std::cell::Cell::new(0),
            worker: Some(worker),
        })
    }

    /// Record an access of kind `kind` (0 outb, 1 inb, 2 outw, 3 inw) to `port` with
    /// `val` (what was written or read). True when a time mark is due: the caller
    /// gives one ([`Recorder::mark_now`]).
    #[inline(always)]
    pub fn access(&mut self, kind: usize, port: u16, val: u16) -> bool {
        let (template, mask) = self.kinds[kind & 3];
        let e = template | (port as u64) << 48 | ((val as u64) << 8 & mask);
        if self.ring.push(e) {
            self.batches += 1;
            if self.batches >= MARK_EVERY {
                self.batches = 0;
                return true;
            }
        }
        false
    }

    /// A time mark from `clock`.
    #[inline(never)]
    pub fn mark_now(&self, clock: &dyn Clock) {
        self.mark(clock.now().as_micros() as u64, false);
    }

    /// Wait `d` on `clock`, recorded.
    pub fn sleep(&self, d: Duration, clock: &dyn Clock) {
        // (A wait of 0 ns is kept as 1: it is still a wait.)
        let ns = (d.as_nanos() as u64).max(1);
        self.ring.push(compact::key_of(&Access::Sleep(ns)));
        clock.sleep(d);
        self.mark_now(clock);
    }

    /// What the next accesses carry ([`PortIo::carries`](super::PortIo::carries)).
    pub fn carries(&mut self, c: Carries) {
        match c {
            Carries::Protocol => self.kinds = self.protocol,
            Carries::Payload { flash } => {
                self.kinds = self.payload;
                if flash.is_some() {
                    self.kinds[0] = compact::port_template(true, false, true, flash);
                }
            }
        }
    }

    fn mark(&self, us: u64, forced: bool) {
        self.last_us.set(us);
        self.ring.push(compact::time_key(us, forced));
    }

    /// Hand over everything (`clock`'s time as the end mark), wait for the writer and
    /// say how writing the trace went.
    pub fn finish(mut self, clock: &dyn Clock) -> std::io::Result<PathBuf> {
        self.end(clock.now().as_micros() as u64)
    }

    /// Hand over everything (the end time `us` as a forced mark) and wait for the
    /// writer.
    fn end(&mut self, us: u64) -> std::io::Result<PathBuf> {
        let Some(worker) = self.worker.take() else {
            return Ok(PathBuf::new());
        };
        self.mark(us, true);
        self.ring.close();
        let gone = || {
            self.ring
                .shared
                .gone
                .load(std::sync::atomic::Ordering::Acquire)
        };
        // The writer is waited for, but not for ever: the stall time again when it
        // fell behind already, else FINISH (the rest to encode, the file to sync).
        let stopped = self.ring.stopped.get().is_some();
        let limit = if stopped { self.ring.stall } else { FINISH };
        let since = std::time::Instant::now();
        while !gone() && since.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(1));
        }
        if !gone() {
            // (Stuck, most likely on a stalled file system: it is left to finish, or
            // not, by itself; the session does not wait for it.)
            return Err(std::io::Error::other(format!(
                "its writer {} (a slow or stalled disk?); the session went on without it and the trace may be missing or incomplete",
                if stopped {
                    format!("fell more than {} ms behind", limit.as_millis())
                } else {
                    format!("did not finish within {} s", limit.as_secs())
                }
            )));
        }
        let r = worker
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the trace writer stopped")));
        match (r, self.ring.stopped.get()) {
            (Ok(path), Some(_)) => Err(std::io::Error::other(format!(
                "the trace {} ends early: its writer stopped reading and the session went on without it",
                path.display()
            ))),
            (r, _) => r,
        }
    }
}

#[cfg(test)]
impl<P: PortIo> Tracer<P> {
    pub fn new(
        inner: P,
        path: &Path,
        cmd_base: u16,
        ctl: u16,
        describe: &str,
    ) -> std::io::Result<Self> {
        let rec = Recorder::start(path, cmd_base, ctl, describe)?;
        Ok(Tracer { inner, rec })
    }

    #[cfg(test)]
    fn with_file(inner: P, out: TraceFile, cmd_base: u16, ctl: u16) -> std::io::Result<Self> {
        let rec = Recorder::with_file(out, cmd_base, ctl)?;
        Ok(Tracer { inner, rec })
    }

    /// Stop tracing and give the backend back, with how writing the trace went.
    pub fn finish(self) -> (P, std::io::Result<PathBuf>) {
        let Tracer { inner, rec } = self;
        let r = rec.finish(inner.clock());
        (inner, r)
    }

    #[inline(always)]
    fn access(&mut self, kind: usize, port: u16, val: u16) {
        if self.rec.access(kind, port, val) {
            self.rec.mark_now(self.inner.clock());
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.worker.is_some() {
            if let Err(e) = self.end(self.last_us.get()) {
                log::warn!("the trace could not be written: {e}");
            }
        }
    }
}

#[cfg(test)]
impl<P: PortIo> Timed for Tracer<P> {
    fn clock(&self) -> &dyn Clock {
        self // the tracer is its own clock: it forwards waits and records them
    }
}

#[cfg(test)]
impl<P: PortIo> Clock for Tracer<P> {
    fn now(&self) -> Duration {
        self.inner.clock().now()
    }
    fn sleep(&self, d: Duration) {
        self.rec.sleep(d, self.inner.clock());
    }
}

#[cfg(test)]
impl<P: PortIo> PortIo for Tracer<P> {
    fn inb(&mut self, port: u16) -> u8 {
        let v = self.inner.inb(port);
        self.access(1, port, v as u16);
        v
    }

    fn outb(&mut self, port: u16, val: u8) {
        self.access(0, port, val as u16);
        self.inner.outb(port, val);
    }

    fn inw(&mut self, port: u16) -> u16 {
        let v = self.inner.inw(port);
        self.access(3, port, v);
        v
    }

    fn outw(&mut self, port: u16, val: u16) {
        self.access(2, port, val);
        self.inner.outw(port, val);
    }

    fn carries(&mut self, c: Carries) {
        self.rec.carries(c);
        self.inner.carries(c);
    }

    fn modelled(&self) -> Option<Duration> {
        self.inner.modelled()
    }

    fn bus_ops(&self) -> Option<u64> {
        self.inner.bus_ops()
    }

    fn fault(&self) -> Option<String> {
        self.inner.fault()
    }

    fn power_cycle(&mut self) -> bool {
        self.inner.power_cycle()
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

/// A trace too long to keep whole, cut: its start (a whole trace, every record up to
/// the cap) and its last lines as text.
pub struct Cut {
    /// The header and the first records (replays as far as it goes).
    pub start: Vec<u8>,
    /// Accesses in the start, and in the whole trace.
    pub kept: u64,
    pub total: u64,
    /// The last `tail` lines of the whole trace as `trace show` prints them.
    pub end: Vec<String>,
}

/// Cut a trace (as [`parse`] reads it) longer than `cap` bytes: the start up to the
/// last record that ends within `cap`, and the last `tail` lines. None when it is not
/// longer, or not a version 2 trace (a version 1 trace is cut at a line).
pub fn cut(bytes: &[u8], cap: usize, tail: usize) -> Result<Option<Cut>, String> {
    if bytes.len() <= cap {
        return Ok(None);
    }
    let p = parse(bytes)?;
    let head = bytes.len() - p.body.len();
    let mut end = std::collections::VecDeque::with_capacity(tail + 1);
    let mut keep = |l: &str| {
        if end.len() == tail {
            end.pop_front();
        }
        end.push_back(l.to_string());
    };
    if p.version == 1 {
        let text = String::from_utf8_lossy(p.body);
        let (mut at, mut kept, mut total, mut full) = (head, 0, 0, false);
        for l in text.lines() {
            total += 1;
            full |= at + l.len() + 1 > cap;
            if !full {
                at += l.len() + 1;
                kept += 1;
            }
            keep(l);
        }
        return Ok(Some(Cut {
            start: bytes[..at.min(bytes.len())].to_vec(),
            kept,
            total,
            end: end.into(),
        }));
    }
    let room = cap.saturating_sub(head);
    let mut dec = compact::Decoder::new(p.body);
    let (mut stop, mut kept, mut total) = (0, 0, 0);
    // (Only the last accesses are formatted, twice as many as the lines wanted, since
    // a line can hold several: a long trace is hundreds of millions.)
    let mut last: std::collections::VecDeque<compact::Decoded> =
        std::collections::VecDeque::with_capacity(2 * tail + 1);
    let mut before = 0;
    while let Some(d) = dec.next() {
        let d = d?;
        total += 1;
        if let Some(b) = dec.boundary().filter(|&b| b <= room) {
            (stop, kept) = (b, total);
        }
        if last.len() == 2 * tail {
            if let Some(old) = last.pop_front() {
                before = old.time_us;
            }
        }
        last.push_back(d);
    }
    render_accesses(last.into_iter().map(Ok), before, &mut keep)?;
    Ok(Some(Cut {
        start: bytes[..head + stop].to_vec(),
        kept,
        total,
        end: end.into(),
    }))
}

/// Render a version 2 body as version 1 lines (`dt` from the time marks, repeats of a
/// line merged as `xN`), each passed to `out`.
pub fn render(body: &[u8], out: impl FnMut(&str)) -> Result<(), String> {
    render_accesses(compact::Decoder::new(body), 0, out)
}

/// [`render`] of decoded accesses, the first `dt` counted from `prev_time`.
fn render_accesses(
    accesses: impl Iterator<Item = Result<compact::Decoded, String>>,
    mut prev_time: u64,
    mut out: impl FnMut(&str),
) -> Result<(), String> {
    let mut last: Option<(String, u64, u64)> = None; // text, dt, count
    let emit = |l: &Option<(String, u64, u64)>, out: &mut dyn FnMut(&str)| {
        if let Some((text, dt, n)) = l {
            if *n > 1 {
                out(&format!("{dt} {text} x{n}"));
            } else {
                out(&format!("{dt} {text}"));
            }
        }
    };
    for d in accesses {
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

    /// Echo that counts the accesses that reached it.
    struct Counting(VirtualClock, u64);
    impl Timed for Counting {
        fn clock(&self) -> &dyn Clock {
            &self.0
        }
    }
    impl PortIo for Counting {
        fn inb(&mut self, _: u16) -> u8 {
            self.1 += 1;
            0x5A
        }
        fn outb(&mut self, _: u16, _: u8) {
            self.1 += 1;
        }
        fn inw(&mut self, _: u16) -> u16 {
            0
        }
        fn outw(&mut self, _: u16, _: u16) {}
    }

    #[test]
    fn a_stalled_writer_never_stalls_the_session_and_the_trace_keeps_what_it_read() {
        // The writer reads 10 000 entries and then nothing (a file system that hangs);
        // the session fills the ring, waits the stall time (50 ms here) and goes on
        // unrecorded: every access still reaches the drive, and the end says so.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.trace");
        let mut out = TraceFile::create(&path).unwrap();
        Recorder::header(&mut out, 0x170, 0x376, "test");
        let rec =
            Recorder::with_writer(out, 0x170, 0x376, Some((10_000, Duration::from_millis(50))))
                .unwrap();
        let mut t = Tracer {
            inner: Counting(VirtualClock::new(), 0),
            rec,
        };
        let start = std::time::Instant::now();
        for i in 0..(4 * RING as u32) {
            t.outb(0x174, i as u8);
            t.inb(0x177);
        }
        let took = start.elapsed();
        let (inner, r) = t.finish();
        assert_eq!(inner.1, 8 * RING as u64, "every access reached the drive");
        assert!(took < Duration::from_secs(2), "the session waited {took:?}");
        let e = r.expect_err("a trace that stopped early is reported");
        assert!(e.to_string().contains("ends early"), "{e}");
        // What the writer had read is in the file: a prefix of the session.
        // (All the writer was handed before the session stopped waiting: at least
        // the 10 000 it read, at most a ring more.)
        let text = read(&path).unwrap();
        let body: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(
            (10_000..10_000 + RING + PUBLISH).contains(&body.len()),
            "{} lines",
            body.len()
        );
        for (i, l) in body.iter().enumerate() {
            let want = if i % 2 == 0 {
                format!("W4 {:X}", (i / 2) as u8)
            } else {
                "R7 5A".to_string()
            };
            assert!(
                l.ends_with(&format!(" {want}")),
                "line {i}: {l}, not {want}"
            );
        }
    }

    #[test]
    fn a_trace_cut_to_a_cap_keeps_a_start_that_decodes_and_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.trace");
        let mut t = Tracer::new(Echo(VirtualClock::new()), &path, 0x170, 0x376, "t").unwrap();
        // (Values that do not repeat, and runs that do: both kinds of record.)
        let mut x = 0x1234_5678u32;
        for i in 0..100_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            t.outb(0x173, x as u8);
            if i % 1000 == 0 {
                for a in 0..300u32 {
                    t.outb(0x174, a as u8);
                    t.inb(0x177);
                }
            }
        }
        t.finish().1.unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(cut(&bytes, bytes.len(), 10).unwrap().is_none());
        let c = cut(&bytes, 50_000, 1000)
            .unwrap()
            .expect("longer than the cap");
        assert!(
            c.start.len() <= 50_000 && c.start.len() > 40_000,
            "{}",
            c.start.len()
        );
        let all: Vec<Access> = compact::Decoder::new(parse(&bytes).unwrap().body)
            .map(|d| d.unwrap().access)
            .collect();
        let start: Vec<Access> = compact::Decoder::new(parse(&c.start).unwrap().body)
            .map(|d| d.unwrap().access)
            .collect();
        assert_eq!(c.total, all.len() as u64);
        assert_eq!(c.kept, start.len() as u64);
        assert!(c.kept > 0 && c.kept < c.total);
        assert_eq!(start[..], all[..start.len()]);
        let mut lines = Vec::new();
        render(parse(&bytes).unwrap().body, |l| lines.push(l.to_string())).unwrap();
        assert_eq!(c.end[..], lines[lines.len() - 1000..]);
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
