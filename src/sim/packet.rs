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
/// How the Linux kernel's libata answers an ATA PASS-THROUGH(16) with CK_COND for an
/// ATAPI drive (docs/inferences.md, "libata and ATA PASS-THROUGH"): which kernel's
/// fixed-sense layout, and whether the controller driver runs the error handler (and so
/// sends REQUEST SENSE to the drive) for a status with DF but no ERR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Libata {
    /// 6.11 and later: fixed sense 0xF0 with the registers in bytes 3-6 and 9-11. Before
    /// (Debian bookworm's 6.1): 0x70 with them in bytes 8-11 and 17, LBA mid/high lost.
    pub new_layout: bool,
    /// ata_piix and other SFF drivers: any DF or ERR runs the error handler. AHCI: only
    /// ERR does (DF alone raises no task-file error).
    pub sff: bool,
}

impl Libata {
    /// A current kernel on an AHCI controller: what a modern PC runs.
    pub const MODERN_AHCI: Libata = Libata {
        new_layout: true,
        sff: false,
    };
    /// Parse `K612|K61`-`ahci|piix` (e.g. "k61-piix").
    pub fn parse(s: &str) -> Option<Libata> {
        let (k, c) = s.split_once('-')?;
        let new_layout = match k.to_ascii_lowercase().as_str() {
            "k612" => true,
            "k61" => false,
            _ => return None,
        };
        let sff = match c.to_ascii_lowercase().as_str() {
            "ahci" => false,
            "piix" => true,
            _ => return None,
        };
        Some(Libata { new_layout, sff })
    }
}

pub struct SimPacket {
    pub ch: SimChannel,
    /// How the kernel in front of the drive answers ATA PASS-THROUGH.
    pub libata: Libata,
    /// REQUEST SENSE packets the modelled kernel sent to the drive on its own.
    pub kernel_request_senses: u32,
    pub commands: u64,
}

impl SimPacket {
    pub fn new(drive: Drive) -> SimPacket {
        SimPacket {
            ch: SimChannel::new(drive, 0x170, false),
            commands: 0,
            libata: Libata::MODERN_AHCI,
            kernel_request_senses: 0,
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
        let (df, err) = (status & 0x20 != 0, status & 0x01 != 0);
        if !df && !err && status & 0x88 == 0 {
            // Clean completion: descriptor sense 1/00/1D with the ATA status return
            // descriptor (libata's ata_gen_passthru_sense).
            let sense = vec![
                0x72, 0x01, 0x00, 0x1D, 0, 0, 0, 14, 0x09, 0x0C, 0, regs[0], 0, regs[1], 0,
                regs[2], 0, regs[3], 0, regs[4], regs[5], status,
            ];
            return ScsiResult {
                status: 0x02,
                sense,
                data,
            };
        }
        // DF or ERR: a device error. The error handler runs on SFF controllers for both,
        // on AHCI for ERR only, and sends the drive a REQUEST SENSE packet; a 6.11+
        // kernel hands the drive's answer back, when it gave one.
        let mut drive_sense = None;
        if err || self.libata.sff {
            self.kernel_request_senses += 1;
            drive_sense = self.kernel_request_sense();
        }
        // The drive's answer, or libata's own from the registers: DF -> 4/44/00,
        // ERR/ABRT -> B/00/00.
        let mut sb = drive_sense.unwrap_or_else(|| {
            let (k, asc) = if df { (4, 0x44) } else { (0x0B, 0) };
            crate::transport::scsi::fixed_sense(k, asc, 0)
        });
        sb.resize(18, 0);
        let sense = if self.libata.new_layout {
            sb[0] |= 0x80;
            sb[3] = regs[0];
            sb[4] = status;
            sb[5] = regs[5];
            sb[6] = regs[1];
            sb[9] = regs[2];
            sb[10] = regs[3];
            sb[11] = regs[4];
            sb
        } else {
            // 6.1: always made up (the drive's answer is discarded), here with the
            // status table from before the 2025 fix (DRDY matched first: 5/21/04); the
            // registers at 8-11 and LBA low at 17, LBA mid/high past the 18 bytes.
            let mut sb = if df {
                crate::transport::scsi::fixed_sense(5, 0x21, 4)
            } else {
                crate::transport::scsi::fixed_sense(0x0B, 0, 0)
            };
            sb[8] = regs[0];
            sb[9] = status;
            sb[10] = regs[5];
            sb[11] = regs[1];
            sb[17] = regs[2];
            sb.truncate(18);
            sb
        };
        ScsiResult {
            status: 0x02,
            sense,
            data,
        }
    }

    /// The kernel's REQUEST SENSE packet to the drive (libata's atapi_eh_request_sense):
    /// a PACKET command on the task file. A drive in vendor mode or running boot code
    /// refuses it; a working drive answers with its sense.
    fn kernel_request_sense(&mut self) -> Option<Vec<u8>> {
        let b = self.ch.cmd_base;
        let wait = |ch: &mut SimChannel| {
            let mut n = 0;
            while ch.inb(b + 7) & 0x80 != 0 && n < 1_000_000 {
                ch.clock.sleep(std::time::Duration::from_micros(1));
                n += 1;
            }
            ch.inb(b + 7)
        };
        self.ch.outb(b + 1, 0); // PIO
        self.ch.outb(b + 4, 96);
        self.ch.outb(b + 5, 0);
        self.ch.outb(b + 7, 0xA0);
        if wait(&mut self.ch) & 0x09 != 0x08 {
            return None; // aborted: no sense from the drive
        }
        let cdb = [0x03u8, 0, 0, 0, 96, 0, 0, 0, 0, 0, 0, 0];
        for w in cdb.chunks(2) {
            self.ch.outw(b, u16::from_le_bytes([w[0], w[1]]));
        }
        let mut d = Vec::new();
        while wait(&mut self.ch) & 0x08 != 0 && d.len() < 96 {
            d.extend_from_slice(&self.ch.inw(b).to_le_bytes());
        }
        (d.len() >= 14).then_some(d)
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
