//! The ATA task file on top of port I/O: device selection, BSY/DRQ polling with
//! timeouts, SRST and DEVICE RESET, IDENTIFY PACKET DEVICE and polled PIO PACKET.
//! Runs unchanged on real ports and on the virtual drive.

use super::{Carries, PortIo};
use crate::clock::{poll_until, Clock, Timed};
use std::time::Duration;
use thiserror::Error;

pub const BSY: u8 = 0x80;
pub const DRQ: u8 = 0x08;
pub const ERR: u8 = 0x01;

/// Task-file registers by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reg {
    /// Features (write) / Error (read).
    Feature,
    /// Sector count (write) / interrupt reason (read).
    Count,
    LbaLow,
    LbaMid,
    LbaHigh,
    Device,
    /// Command (write) / Status (read).
    Command,
    /// Device control (write) / Alternate status (read).
    Control,
}

/// Where a channel's registers are, and which device on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channel {
    pub cmd: u16,
    pub ctl: u16,
    pub slave: bool,
}

impl Channel {
    /// Port 3: the secondary master at 0x170/0x376.
    pub const LEGACY_SECONDARY_MASTER: Channel = Channel {
        cmd: 0x170,
        ctl: 0x376,
        slave: false,
    };
    /// Classic MTKFlash port numbers: 1 primary master, 2 primary slave, 3 secondary
    /// master, 4 secondary slave.
    pub fn legacy(n: u8) -> Option<Channel> {
        let (cmd, slave) = match n {
            1 => (0x1F0, false),
            2 => (0x1F0, true),
            3 => (0x170, false),
            4 => (0x170, true),
            _ => return None,
        };
        Some(Channel {
            cmd,
            ctl: cmd + 0x206,
            slave,
        })
    }
    /// Value of the device register selecting this device (LBA bit set as tools do).
    pub fn dev(&self) -> u8 {
        if self.slave {
            0xB0
        } else {
            0xA0
        }
    }
    pub fn describe(&self) -> String {
        format!(
            "port 0x{:03X} {}",
            self.cmd,
            if self.slave { "slave" } else { "master" }
        )
    }
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum AtaError {
    #[error(
        "nothing answers at {at}: the status register reads 0x{status:02X} (no device, or the port is wrong)"
    )]
    NoDevice { at: String, status: u8 },
    #[error("the drive at {at} stayed busy for {secs:.1} s while {what} (status 0x{status:02X})")]
    Timeout {
        at: String,
        what: &'static str,
        secs: f64,
        status: u8,
    },
    #[error("the drive at {at} rejected {what} (status 0x{status:02X}, error 0x{error:02X})")]
    Aborted {
        at: String,
        what: &'static str,
        status: u8,
        error: u8,
    },
    #[error("the drive at {at} broke the packet protocol: {what}")]
    Protocol { at: String, what: String },
}

/// Register-level access to one device's task file. Vendor mode is written against this
/// trait; [`Ata`] implements it on ports, a pass-through adapter can shadow it.
pub trait TaskFile: Timed {
    fn write(&mut self, reg: Reg, val: u8);
    fn read(&mut self, reg: Reg) -> u8;
    /// The device register value that selects this device.
    fn dev(&self) -> u8;
    /// `port 0x170 master`, for messages.
    fn describe(&self) -> String;
    /// Something the path to the drive did on its own that makes the registers
    /// untrustworthy from here on (e.g. the kernel's error handler reset the drive behind
    /// an ATA pass-through). Real ports: never.
    fn fault(&self) -> Option<String> {
        None
    }
    /// What the next register accesses carry (see [`Carries`]), for recorders.
    fn carries(&mut self, _c: Carries) {}
}

impl<T: TaskFile + ?Sized> TaskFile for &mut T {
    fn carries(&mut self, c: Carries) {
        (**self).carries(c)
    }
    fn write(&mut self, reg: Reg, val: u8) {
        (**self).write(reg, val)
    }
    fn read(&mut self, reg: Reg) -> u8 {
        (**self).read(reg)
    }
    fn dev(&self) -> u8 {
        (**self).dev()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn fault(&self) -> Option<String> {
        (**self).fault()
    }
}

/// Result of one packet command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketOutcome {
    pub status: u8,
    pub error: u8,
    /// Bytes moved in the data phase.
    pub transferred: usize,
}

impl PacketOutcome {
    pub fn check_condition(&self) -> bool {
        self.status & ERR != 0
    }
    /// Sense key from the error register's high nibble.
    pub fn sense_key(&self) -> u8 {
        self.error >> 4
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataDir<'a> {
    None,
    In(usize),
    Out(&'a [u8]),
}

pub const SELECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Ata<P: PortIo> {
    pub io: P,
    pub ch: Channel,
    /// Byte-count limit for PACKET data phases (even, at most 0xFFFE).
    pub byte_limit: u16,
}

impl<P: PortIo> Ata<P> {
    pub fn new(io: P, ch: Channel) -> Self {
        Ata {
            io,
            ch,
            byte_limit: 0xFFFE,
        }
    }

    fn port(&self, reg: Reg) -> u16 {
        match reg {
            Reg::Feature => self.ch.cmd + 1,
            Reg::Count => self.ch.cmd + 2,
            Reg::LbaLow => self.ch.cmd + 3,
            Reg::LbaMid => self.ch.cmd + 4,
            Reg::LbaHigh => self.ch.cmd + 5,
            Reg::Device => self.ch.cmd + 6,
            Reg::Command => self.ch.cmd + 7,
            Reg::Control => self.ch.ctl,
        }
    }

    pub fn status(&mut self) -> u8 {
        self.io.inb(self.ch.cmd + 7)
    }

    pub fn alt_status(&mut self) -> u8 {
        self.io.inb(self.ch.ctl)
    }

    /// The 400 ns settle time after selecting a device or writing a command: four
    /// alternate-status reads (each at least 100 ns on any bus).
    pub fn settle(&mut self) {
        for _ in 0..4 {
            self.alt_status();
        }
    }

    /// Wait until BSY clears; return the status.
    pub fn wait_not_busy(&mut self, timeout: Duration, what: &'static str) -> Result<u8, AtaError> {
        let mut last = 0;
        let mut gone = false;
        let got = poll_until(&mut self.io, timeout, |io| {
            let s = io.inb(self.ch.cmd + 7);
            last = s;
            gone = s == 0xFF;
            (gone || s & BSY == 0).then_some(s)
        });
        match got {
            Some(_) if gone => Err(AtaError::NoDevice {
                at: self.ch.describe(),
                status: 0xFF,
            }),
            Some(s) => Ok(s),
            None => Err(AtaError::Timeout {
                at: self.ch.describe(),
                what,
                secs: timeout.as_secs_f64(),
                status: last,
            }),
        }
    }

    /// Select the device: wait idle, write the device register, settle, wait idle.
    pub fn select(&mut self) -> Result<u8, AtaError> {
        self.wait_not_busy(SELECT_TIMEOUT, "waiting to select it")?;
        self.io.outb(self.ch.cmd + 6, self.ch.dev());
        self.settle();
        self.wait_not_busy(SELECT_TIMEOUT, "being selected")
    }

    /// Software reset of the channel (both devices): SRST set, then cleared; polled mode.
    pub fn soft_reset(&mut self) -> Result<u8, AtaError> {
        self.io.outb(self.ch.ctl, 0x0E);
        self.io.clock().sleep(Duration::from_micros(5));
        self.io.outb(self.ch.ctl, 0x0A);
        self.io.clock().sleep(Duration::from_millis(2));
        self.wait_not_busy(Duration::from_secs(31), "resetting")
    }

    /// DEVICE RESET (0x08): resets only this ATAPI device.
    pub fn device_reset(&mut self) -> Result<u8, AtaError> {
        self.io.outb(self.ch.cmd + 6, self.ch.dev());
        self.settle();
        self.io.outb(self.ch.cmd + 7, 0x08);
        self.settle();
        self.wait_not_busy(Duration::from_secs(31), "resetting")
    }

    /// Signature registers (count, LBA low, mid, high): 01 01 14 EB for ATAPI.
    pub fn signature(&mut self) -> [u8; 4] {
        [
            self.io.inb(self.ch.cmd + 2),
            self.io.inb(self.ch.cmd + 3),
            self.io.inb(self.ch.cmd + 4),
            self.io.inb(self.ch.cmd + 5),
        ]
    }

    pub fn is_atapi_signature(sig: [u8; 4]) -> bool {
        sig[2] == 0x14 && sig[3] == 0xEB
    }

    /// IDENTIFY PACKET DEVICE (0xA1): 256 words.
    pub fn identify_packet(&mut self) -> Result<[u16; 256], AtaError> {
        self.select()?;
        self.io.outb(self.ch.cmd + 7, 0xA1);
        self.settle();
        let s = self.wait_not_busy(SELECT_TIMEOUT, "answering IDENTIFY PACKET DEVICE")?;
        if s == 0x00 {
            // Neither data nor an abort: nobody is there. Device 0 answers 0x00 for an
            // absent device 1, and QEMU reads 0x00 on a channel without devices (libata
            // likewise takes status 0 as no device in ata_sff_dev_classify).
            return Err(AtaError::NoDevice {
                at: self.ch.describe(),
                status: s,
            });
        }
        if s & ERR != 0 || s & DRQ == 0 {
            let error = self.io.inb(self.ch.cmd + 1);
            return Err(AtaError::Aborted {
                at: self.ch.describe(),
                what: "IDENTIFY PACKET DEVICE",
                status: s,
                error,
            });
        }
        let mut w = [0u16; 256];
        self.io.ins_w(self.ch.cmd, &mut w);
        self.settle();
        self.wait_not_busy(SELECT_TIMEOUT, "finishing IDENTIFY PACKET DEVICE")?;
        Ok(w)
    }

    /// One polled PIO PACKET command (12-byte CDB). CHECK CONDITION is an Ok outcome
    /// with ERR set; only protocol failures are errors.
    pub fn packet(
        &mut self,
        cdb: &[u8; 12],
        dir: DataDir<'_>,
        buf_in: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<PacketOutcome, AtaError> {
        let at = self.ch.describe();
        self.select()?;
        let limit = self.byte_limit & !1;
        self.io.outb(self.ch.cmd + 1, 0x00); // PIO, no overlap
        self.io.outb(self.ch.cmd + 4, limit as u8);
        self.io.outb(self.ch.cmd + 5, (limit >> 8) as u8);
        self.io.outb(self.ch.cmd + 7, 0xA0);
        self.settle();
        let s = self.wait_not_busy(SELECT_TIMEOUT, "waiting for the command packet")?;
        if s & ERR != 0 {
            let error = self.io.inb(self.ch.cmd + 1);
            return Ok(PacketOutcome {
                status: s,
                error,
                transferred: 0,
            });
        }
        let reason = self.io.inb(self.ch.cmd + 2) & 0x03;
        if s & DRQ == 0 || reason != 0x01 {
            return Err(AtaError::Protocol {
                at,
                what: format!(
                    "expected a request for the CDB, got status 0x{s:02X} reason 0x{reason:X}"
                ),
            });
        }
        let words: Vec<u16> = cdb
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        self.io.outs_w(self.ch.cmd, &words);
        self.settle();
        let mut out_pos = 0usize;
        let want_in = if let DataDir::In(n) = dir { n } else { 0 };
        buf_in.clear();
        loop {
            let s = self.wait_not_busy(timeout, "executing a packet command")?;
            if s & DRQ == 0 {
                let error = if s & ERR != 0 {
                    self.io.inb(self.ch.cmd + 1)
                } else {
                    0
                };
                let transferred = match dir {
                    DataDir::Out(_) => out_pos,
                    _ => buf_in.len(),
                };
                return Ok(PacketOutcome {
                    status: s,
                    error,
                    transferred,
                });
            }
            let reason = self.io.inb(self.ch.cmd + 2) & 0x03;
            let count = self.io.inb(self.ch.cmd + 4) as usize
                | (self.io.inb(self.ch.cmd + 5) as usize) << 8;
            let nwords = count.div_ceil(2);
            match (reason, dir) {
                (0x02, DataDir::In(_)) => {
                    let mut w = vec![0u16; nwords];
                    self.io.ins_w(self.ch.cmd, &mut w);
                    let bytes = w.iter().flat_map(|x| x.to_le_bytes()).take(count);
                    buf_in.extend(bytes);
                    if buf_in.len() > want_in {
                        return Err(AtaError::Protocol {
                            at,
                            what: format!(
                                "the drive sent {} bytes, more than the {want_in} asked for",
                                buf_in.len()
                            ),
                        });
                    }
                }
                (0x00, DataDir::Out(data)) => {
                    let end = (out_pos + count).min(data.len());
                    let mut chunk = data[out_pos..end].to_vec();
                    chunk.resize(nwords * 2, 0);
                    let w: Vec<u16> = chunk
                        .chunks(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]))
                        .collect();
                    // Data a host sends with a packet command is the caller's (here only
                    // WRITE BUFFER: firmware), never protocol a replay needs.
                    self.io.carries(Carries::Payload { flash: None });
                    self.io.outs_w(self.ch.cmd, &w);
                    self.io.carries(Carries::Protocol);
                    out_pos = end;
                }
                _ => {
                    return Err(AtaError::Protocol {
                        at,
                        what: format!("unexpected data phase (reason 0x{reason:X}, {count} bytes)"),
                    })
                }
            }
            self.settle();
        }
    }

    /// REQUEST SENSE after a CHECK CONDITION: (key, asc, ascq).
    pub fn request_sense(&mut self) -> Result<(u8, u8, u8), AtaError> {
        let mut buf = Vec::new();
        let cdb = [0x03, 0, 0, 0, 18, 0, 0, 0, 0, 0, 0, 0];
        self.packet(&cdb, DataDir::In(18), &mut buf, SELECT_TIMEOUT)?;
        if buf.len() < 14 {
            return Err(AtaError::Protocol {
                at: self.ch.describe(),
                what: "short REQUEST SENSE data".into(),
            });
        }
        Ok((buf[2] & 0x0F, buf[12], buf[13]))
    }
}

impl<P: PortIo> Timed for Ata<P> {
    fn clock(&self) -> &dyn Clock {
        self.io.clock()
    }
}

impl<P: PortIo> TaskFile for Ata<P> {
    fn write(&mut self, reg: Reg, val: u8) {
        let p = self.port(reg);
        self.io.outb(p, val);
    }
    fn read(&mut self, reg: Reg) -> u8 {
        let p = self.port(reg);
        self.io.inb(p)
    }
    fn dev(&self) -> u8 {
        self.ch.dev()
    }
    fn describe(&self) -> String {
        self.ch.describe()
    }
    fn fault(&self) -> Option<String> {
        self.io.fault()
    }
    fn carries(&mut self, c: Carries) {
        self.io.carries(c)
    }
}

/// ATA strings are byte-swapped per word.
pub fn ata_string(words: &[u16]) -> String {
    let b: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
    String::from_utf8_lossy(&b).trim().to_string()
}

/// The packet path over the task file: PIO PACKET, and REQUEST SENSE after an error.
impl<P: PortIo> crate::transport::scsi::ScsiTransport for Ata<P> {
    fn execute(
        &mut self,
        cdb: &[u8],
        dir: crate::transport::scsi::Dir<'_>,
        timeout: Duration,
    ) -> Result<crate::transport::scsi::ScsiResult, crate::transport::scsi::TransportError> {
        use crate::transport::scsi::{Dir, ScsiResult, TransportError};
        let mut packet = [0u8; 12];
        packet[..cdb.len().min(12)].copy_from_slice(&cdb[..cdb.len().min(12)]);
        let ddir = match dir {
            Dir::None => DataDir::None,
            Dir::In(n) => DataDir::In(n),
            Dir::Out(d) => DataDir::Out(d),
        };
        let mut buf = Vec::new();
        let err = |e: AtaError| TransportError::Protocol(e.to_string());
        let out = self.packet(&packet, ddir, &mut buf, timeout).map_err(err)?;
        if !out.check_condition() {
            return Ok(ScsiResult {
                status: 0,
                sense: Vec::new(),
                data: buf,
            });
        }
        let (k, asc, ascq) = self.request_sense().map_err(err)?;
        let sense = crate::transport::scsi::fixed_sense(k, asc, ascq);
        Ok(ScsiResult {
            status: 0x02,
            sense,
            data: buf,
        })
    }
    fn describe(&self) -> String {
        self.ch.describe()
    }
    fn sleep(&mut self, d: Duration) {
        self.io.clock().sleep(d);
    }
    fn modelled(&self) -> Option<Duration> {
        self.io.modelled()
    }
    fn bus_ops(&self) -> Option<u64> {
        self.io.bus_ops()
    }
}
