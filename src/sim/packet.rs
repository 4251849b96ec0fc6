//! The virtual drive's packet-level face: a [`ScsiTransport`] that hands CDBs straight to
//! the drive model, as an OS pass-through interface (SG_IO, SPTI) would to a real drive.

use super::drive::Drive;
use super::taskfile::SimChannel;
use super::timing::{DATA_WORD_NS, PACKET_EXEC_NS};
use crate::clock::Clock;
use crate::transport::scsi::{Dir, ScsiResult, ScsiTransport, TransportError};
use crate::transport::PortIo;
use std::time::Duration;

/// Cost of one pass-through command beyond the drive's own work: the OS round trip and
/// the PACKET protocol (a guess of 100 us, of the order of an ioctl plus a few register
/// cycles).
pub const PASSTHROUGH_NS: u64 = 100_000;

/// The drive behind an OS pass-through interface. It keeps the drive's register model so
/// that ATA PASS-THROUGH(16) commands reach its task file, as libata passes them on.
pub struct SimPacket {
    pub ch: SimChannel,
    pub commands: u64,
}

impl SimPacket {
    pub fn new(drive: Drive) -> SimPacket {
        SimPacket {
            ch: SimChannel::new(drive, 0x170, false),
            commands: 0,
        }
    }

    /// ATA PASS-THROUGH(16): load the task file, issue the command, wait for BSY to clear,
    /// move PIO data in if asked, and report the result registers in an ATA status return
    /// descriptor (CK_COND). Boot code and vendor mode answer these too.
    fn ata16(&mut self, cdb: &[u8], dir: Dir<'_>) -> ScsiResult {
        let b = self.ch.cmd_base;
        let protocol = (cdb[1] >> 1) & 0x0F;
        for (off, v) in [
            (1u16, cdb[4]),
            (2, cdb[6]),
            (3, cdb[8]),
            (4, cdb[10]),
            (5, cdb[12]),
            (6, cdb[13]),
        ] {
            self.ch.outb(b + off, v);
        }
        self.ch.outb(b + 7, cdb[14]);
        let mut status = self.ch.inb(b + 7);
        let mut n = 0u32;
        while status & 0x80 != 0 && n < 1_000_000 {
            self.ch.clock.sleep(std::time::Duration::from_micros(1));
            status = self.ch.inb(b + 7);
            n += 1;
        }
        let mut data = Vec::new();
        if let (4, Dir::In(len)) = (protocol, dir) {
            if status & 0x08 != 0 {
                for _ in 0..len / 2 {
                    data.extend_from_slice(&self.ch.inw(b).to_le_bytes());
                }
                status = self.ch.inb(b + 7);
            }
        }
        let regs: Vec<u8> = (1..=6).map(|o| self.ch.inb(b + o)).collect();
        let key = if status & 0x01 != 0 { 0x0B } else { 0x01 };
        let sense = vec![
            0x72, key, 0x00, 0x1D, 0, 0, 0, 14, 0x09, 0x0C, 0, regs[0], 0, regs[1], 0, regs[2], 0,
            regs[3], 0, regs[4], regs[5], status,
        ];
        ScsiResult {
            status: 0x02,
            sense,
            data,
        }
    }
}

impl ScsiTransport for SimPacket {
    fn execute(
        &mut self,
        cdb: &[u8],
        dir: Dir<'_>,
        _timeout: Duration,
    ) -> Result<ScsiResult, TransportError> {
        if cdb.len() == 16 && cdb[0] == 0x85 {
            self.commands += 1;
            self.ch.clock.advance_ns(PASSTHROUGH_NS);
            return Ok(self.ata16(cdb, dir));
        }
        if self.ch.drive.mode != super::Mode::Normal && self.ch.drive.updating.is_none() {
            // Boot code and vendor mode do not speak ATAPI: the OS sees an aborted command.
            return Err(TransportError::Host {
                path: "virtual drive".into(),
                host: 0,
                driver: 0x06,
            });
        }
        self.commands += 1;
        let out: &[u8] = match dir {
            Dir::Out(d) => d,
            _ => &[],
        };
        let bytes = out.len() + if let Dir::In(n) = dir { n } else { 0 };
        self.ch
            .clock
            .advance_ns(PASSTHROUGH_NS + PACKET_EXEC_NS + bytes as u64 / 2 * DATA_WORD_NS);
        let now = self.ch.clock.ns();
        let r = self.ch.drive.packet(cdb, out, now);
        let mut data = r.data_in;
        if let Dir::In(n) = dir {
            data.truncate(n);
        }
        Ok(match r.check {
            None => ScsiResult {
                status: 0,
                sense: Vec::new(),
                data,
            },
            Some(s) => ScsiResult {
                status: 0x02,
                sense: crate::transport::scsi::fixed_sense(s.key, s.asc, s.ascq),
                data,
            },
        })
    }
    fn describe(&self) -> String {
        "virtual drive (packet face)".into()
    }
    fn sleep(&mut self, d: Duration) {
        self.ch.clock.sleep(d);
    }
    fn modelled(&self) -> Option<Duration> {
        Some(self.ch.clock.now())
    }
    fn clock(&self) -> Option<&dyn Clock> {
        Some(&self.ch.clock)
    }
}
