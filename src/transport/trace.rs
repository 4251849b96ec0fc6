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
//! marks firmware payload (bytes programmed after an `AA 55 A0` program command, bytes
//! read through the vendor interface away from the chip-ID area, SPI page data and READ
//! replies, WRITE BUFFER data words); a written `*` carries `@flash address` so a replay
//! can take the byte from the image.

use super::PortIo;
use crate::clock::{Clock, Timed};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// `W3 <value>` -> `W3 * @addr`: the value replaced by the payload mark.
fn redact(text: &str, at: Option<u32>) -> String {
    let head = text.rsplit_once(' ').map(|x| x.0).unwrap_or(text);
    match at {
        Some(a) => format!("{head} * @{a:X}"),
        None => format!("{head} *"),
    }
}

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

/// Where in the flash (or drive memory) the vendor interface points, from the registers.
#[derive(Default, Clone)]
struct Regs {
    feat: u8,
    count: u8,
    lbal: u8,
    lbam: u8,
    lbah: u8,
    dev: u8,
    /// A held LBA-low write, emitted when the command shows whether it is payload.
    pending_lbal: Option<u8>,
    serial: bool,
    /// SPI bridge variant from the intro's answer: staging base, lengths high byte first.
    staging: u16,
    high_first: bool,
    /// SPI: opcode and bytes staged so far (drive memory from `staging`).
    spi_op: u8,
    /// PIO PACKET: words of the CDB seen, its opcode.
    cdb_words: u8,
    cdb_op: u8,
    packet: bool,
    /// The address the last vendor command used.
    cmd_addr: u32,
    /// An `AA 55 A0` program command was given: the next data writes are payload.
    armed: bool,
    /// SPI: staged bytes (offset, value) of the transaction being built.
    staged: Vec<(usize, u8)>,
    /// SPI: where the next SST AAI word goes.
    aai_next: Option<u32>,
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
    /// SPI staging: lines held until the transfer command shows which bytes are
    /// payload; `Some(offset)` marks a staged value to decide.
    held: Vec<(u128, String, Option<usize>)>,
    regs: Regs,
    waits: Waits,
}

/// Waits recorded by the clock side of the tracer (time, ns), written before the next
/// access.
#[derive(Default)]
struct Waits(std::cell::RefCell<Vec<(u128, u128)>>);

/// A flash address the vendor interface points at (parallel), or drive memory (serial).
fn addr(r: &Regs) -> u32 {
    r.lbam as u32 | (r.lbah as u32) << 8 | ((r.dev & 0x0F) as u32) << 16
}

/// Protocol bytes, not payload: JEDEC command cycles go to unlock addresses; ID reads
/// happen below 0x200.
fn jedec_protocol_addr(a: u32) -> bool {
    let m = a & 0xFFF;
    matches!(a & 0x7FFF, 0x5555 | 0x2AAA) || matches!(a & 0x7FF, 0x555 | 0x2AA) || m == 0xAAA
}

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
            held: Vec::new(),
            regs: Regs::default(),
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

    /// A transfer runs with `tx` staged bytes and `rx` reply bytes: decide every held
    /// staging write it sends (payload or protocol, by the opcode) or overwrites unsent,
    /// then write out the held lines up to the first one still undecided.
    fn release_held(&mut self, tx: usize, rx: usize) {
        let byte = |i: usize| {
            self.regs
                .staged
                .iter()
                .rev()
                .find(|(o, _)| *o == i)
                .map(|x| x.1)
                .unwrap_or(0)
        };
        let op = byte(0);
        let addr = (byte(1) as u32) << 16 | (byte(2) as u32) << 8 | byte(3) as u32;
        // (first data offset, flash address of that byte) for program transactions.
        let data: Option<(usize, u32)> = match (op, tx) {
            (0x02, _) => Some((4, addr)),
            (0xAD, 6) => Some((4, addr)),
            (0xAD, 3) => self.regs.aai_next.map(|a| (1, a)),
            _ => None,
        };
        match (op, tx) {
            (0xAD, 6) => self.regs.aai_next = Some(addr + 2),
            (0xAD, 3) => self.regs.aai_next = self.regs.aai_next.map(|a| a + 2),
            (0x04, _) => self.regs.aai_next = None,
            _ => {}
        }
        for h in self.held.iter_mut() {
            let Some(o) = h.2 else { continue };
            if o < tx {
                if let Some((first, fa)) = data.filter(|d| o >= d.0) {
                    h.1 = redact(&h.1, Some(fa + (o - first) as u32));
                }
                h.2 = None;
            } else if o < tx + rx {
                h.1 = redact(&h.1, None); // overwritten by the reply before it was sent
                h.2 = None;
            }
        }
        self.emit_decided();
    }

    /// Write out held lines up to the first undecided one.
    fn emit_decided(&mut self) {
        let n = self
            .held
            .iter()
            .position(|h| h.2.is_some())
            .unwrap_or(self.held.len());
        let ready: Vec<(u128, String, Option<usize>)> = self.held.drain(..n).collect();
        for (t, text, _) in ready {
            self.emit(t, text);
        }
    }

    fn line(&mut self, kind: char, port: u16, val: Option<u32>, note: Option<u32>) {
        self.line_staged(kind, port, val, note, None);
    }

    fn line_staged(
        &mut self,
        kind: char,
        port: u16,
        val: Option<u32>,
        note: Option<u32>,
        staged: Option<usize>,
    ) {
        if !self.held.is_empty() || staged.is_some() {
            let waits: Vec<(u128, u128)> = self.waits.0.borrow_mut().drain(..).collect();
            for (t, ns) in waits {
                self.held.push((t, format!("S {ns}"), None));
            }
            let t = self.t();
            let v = val.map(|v| format!("{v:X}")).unwrap_or_else(|| "*".into());
            let n = note.map(|a| format!(" @{a:X}")).unwrap_or_default();
            let text = format!("{kind}{} {v}{n}", self.reg(port));
            self.held.push((t, text, staged));
            return;
        }
        self.flush_sleeps();
        let t = self.t();
        let v = match val {
            Some(v) => format!("{v:X}"),
            None => "*".to_string(),
        };
        let n = note.map(|a| format!(" @{a:X}")).unwrap_or_default();
        let text = format!("{kind}{} {v}{n}", self.reg(port));
        self.emit(t, text);
    }

    /// Is the LBA-low value that goes with this vendor command payload?
    fn lbal_is_payload(&self, cmd: u8) -> (bool, Option<u32>) {
        let a = addr(&self.regs);
        if self.regs.serial {
            // Drive memory: staged SPI bytes past opcode + address are page data.
            let off = (a & 0xFFFF) as i64 - self.regs.staging as i64;
            let payload = cmd == 0x01 && off >= 4 && matches!(self.regs.spi_op, 0x02 | 0xAD);
            return (payload, None);
        }
        if cmd != 0x01 {
            return (false, None);
        }
        if jedec_protocol_addr(a) {
            return (false, None);
        }
        (self.regs.armed, Some(a))
    }
}

impl<P: PortIo> Drop for Tracer<P> {
    fn drop(&mut self) {
        let held = std::mem::take(&mut self.held);
        for (t, text, pending) in held {
            // Staged but never sent: leave the value out.
            let text = if pending.is_some() {
                redact(&text, None)
            } else {
                text
            };
            self.emit(t, text);
        }
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
        let payload = port == self.base + 3 && {
            let a = self.regs.cmd_addr;
            if self.regs.serial {
                // SPI replies: a READ's data is payload, ID and status replies are not.
                let off = (a & 0xFFFF) as i64 - self.regs.staging as i64;
                matches!(self.regs.spi_op, 0x03 | 0x0B)
                    && off >= 4
                    && off < crate::inference::SPI_MAX_TRANSFER as i64
            } else {
                a >= 0x200 && !jedec_protocol_addr(a)
            }
        };
        self.line('R', port, (!payload).then_some(v as u32), None);
        if port == self.base + 3 && !self.regs.serial {
            self.regs.armed = false; // a read ends a byte program or a page load
        }
        if port == self.base + 7 && (v == 0x72 || v == 0x73) {
            self.regs.serial = true;
            self.regs.high_first = v == 0x73;
            self.regs.staging = if v == 0x73 {
                crate::inference::SPI_STAGING_73
            } else {
                crate::inference::SPI_STAGING_72
            };
        }
        if port == self.base + 7 && v == 0x70 {
            self.regs.serial = false;
        }
        v
    }

    fn outb(&mut self, port: u16, val: u8) {
        let off = port.wrapping_sub(self.base);
        match off {
            3 => {
                // Held until the command shows whether this byte is payload.
                if let Some(prev) = self.regs.pending_lbal.replace(val) {
                    self.line('W', port, Some(prev as u32), None);
                }
                self.regs.lbal = val;
                self.io().outb(port, val);
                return;
            }
            1 => self.regs.feat = val,
            2 => self.regs.count = val,
            4 => self.regs.lbam = val,
            5 => self.regs.lbah = val,
            6 => self.regs.dev = val,
            7 => {
                self.regs.cmd_addr = addr(&self.regs);
                if let Some(v) = self.regs.pending_lbal.take() {
                    let (payload, note) = self.lbal_is_payload(val);
                    let a = addr(&self.regs);
                    let staging = self.regs.staging as u32;
                    let off = (a & 0xFFFF).wrapping_sub(staging) as usize;
                    if self.regs.serial && val == 0x01 && off < crate::inference::SPI_MAX_TRANSFER {
                        if off == 0 {
                            self.regs.spi_op = v;
                        }
                        for h in self.held.iter_mut().filter(|h| h.2 == Some(off)) {
                            h.1 = redact(&h.1, None); // overwritten before it was sent
                            h.2 = None;
                        }
                        self.regs.staged.retain(|(o, _)| *o != off);
                        self.regs.staged.push((off, v));
                        self.line_staged('W', self.base + 3, Some(v as u32), None, Some(off));
                    } else {
                        self.line(
                            'W',
                            self.base + 3,
                            (!payload).then_some(v as u32),
                            if payload { note } else { None },
                        );
                    }
                    if !self.regs.serial && val == 0x01 {
                        let a = addr(&self.regs);
                        if jedec_protocol_addr(a) {
                            // AA and 55 keep the state; A0 arms; any other command disarms.
                            match v {
                                0xA0 => self.regs.armed = true,
                                0xAA | 0x55 => {}
                                _ => self.regs.armed = false,
                            }
                        }
                    }
                }
                if val == 0xA0 {
                    self.regs.packet = true;
                    self.regs.cdb_words = 0;
                }
                if self.regs.serial
                    && val == crate::inference::SPI_CMD_TRANSFER
                    && !self.held.is_empty()
                {
                    let len = |a: u8, b: u8| {
                        if self.regs.high_first {
                            (a as usize) << 8 | b as usize
                        } else {
                            a as usize | (b as usize) << 8
                        }
                    };
                    let tx = len(self.regs.feat, self.regs.count);
                    let rx = len(self.regs.lbam, self.regs.lbah);
                    self.release_held(tx, rx);
                }
            }
            _ => {}
        }
        self.line('W', port, Some(val as u32), None);
        self.io().outb(port, val);
    }

    fn inw(&mut self, port: u16) -> u16 {
        let v = self.io().inw(port);
        self.line('r', port, Some(v as u32), None);
        v
    }

    fn outw(&mut self, port: u16, val: u16) {
        let mut payload = false;
        if self.regs.packet {
            if self.regs.cdb_words < 6 {
                if self.regs.cdb_words == 0 {
                    self.regs.cdb_op = val as u8;
                }
                self.regs.cdb_words += 1;
            } else {
                payload = self.regs.cdb_op == 0x3B;
            }
        }
        self.line('w', port, (!payload).then_some(val as u32), None);
        self.io().outw(port, val);
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
