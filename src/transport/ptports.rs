//! EXPERIMENTAL: a task file emulated over SCSI pass-through, so the whole vendor-mode
//! engine (and the ATA layer under it) runs on drives behind AHCI/libata or a USB bridge.
//!
//! Register writes are shadowed; a command-register write becomes one ATA PASS-THROUGH(16)
//! (non-data with CK_COND; IDENTIFY PACKET DEVICE as PIO data-in) whose result registers
//! come back in the ATA status return descriptor. PACKET (0xA0) is the exception: the CDB
//! written to the data register is sent as an ordinary SCSI command and its data phase is
//! replayed through the data register with the usual interrupt-reason protocol. SRST
//! cannot be passed through and is ignored. Unproven on hardware (transports.md: whether
//! libata lets vendor status 0x70, DF set, through is unknown).

use super::atapt::ata16_pio_in;
use super::scsi::{AtaCommand, Dir, ScsiTransport};
use super::PortIo;
use crate::clock::{Clock, RealClock, Timed};
use std::collections::VecDeque;
use std::time::Duration;

/// The pseudo-channel the emulation answers on (the classic secondary master).
pub const BASE: u16 = 0x170;
pub const CTL: u16 = 0x376;

enum Phase {
    Idle,
    /// Collecting the 12-byte CDB of a PACKET command.
    Cdb(Vec<u8>),
    /// Collecting `need` data-out bytes for `cdb`.
    DataOut {
        cdb: Vec<u8>,
        data: Vec<u8>,
        need: usize,
    },
    /// Data-in words waiting to be read; then the completion status.
    DataIn {
        words: VecDeque<u16>,
        done: u8,
        error: u8,
    },
}

pub struct PtPorts {
    t: Box<dyn ScsiTransport>,
    /// features, count, lba low, mid, high, device.
    shadow: [u8; 6],
    /// error, count, lba low, mid, high, device, status.
    result: [u8; 7],
    phase: Phase,
    /// Sense of the last packet command, for REQUEST SENSE.
    last_sense: Vec<u8>,
    real: RealClock,
    /// The first thing seen that makes the registers untrustworthy (atapt::Outcome).
    alarm: Option<String>,
}

impl PtPorts {
    pub fn new(t: Box<dyn ScsiTransport>) -> PtPorts {
        PtPorts {
            t,
            shadow: [0, 0, 0, 0, 0, 0xA0],
            result: [1, 1, 1, 0x14, 0xEB, 0xA0, 0x00],
            phase: Phase::Idle,
            last_sense: Vec::new(),
            real: RealClock::new(),
            alarm: None,
        }
    }

    pub fn describe(&self) -> String {
        format!("{} (ATA pass-through, experimental)", self.t.describe())
    }

    fn status(&mut self, s: u8) {
        self.result[6] = s;
    }

    fn ata(&mut self, cmd: u8) {
        if cmd == 0x80 && self.shadow[2] == 0x2A {
            // A new vendor intro (after a power cycle, say): what went before is over.
            self.alarm = None;
        }
        let o = super::atapt::run_nondata(&mut *self.t, &self.shadow, cmd);
        self.result = o.regs;
        if self.alarm.is_none() {
            self.alarm = o.alarm;
        }
    }

    fn identify(&mut self) {
        let native = AtaCommand {
            regs: [0, 0, 0, 0, 0, self.shadow[5]],
            command: 0xA1,
            data_in: 512,
            timeout: Duration::from_secs(10),
        };
        let data = match self.t.ata_command(&native) {
            // (The system's ATA pass-through: data only with a status without ERR.)
            Some(r) => r.ok().filter(|a| a.regs[6] & 0x01 == 0).map(|a| a.data),
            None => {
                let cdb = ata16_pio_in(0xA1, self.shadow[5], 1);
                match self.t.execute(&cdb, Dir::In(512), Duration::from_secs(10)) {
                    Ok(r) if r.sense_info().map(|s| s.key <= 1).unwrap_or(true) => Some(r.data),
                    _ => None,
                }
            }
        };
        match data {
            Some(d) if d.len() >= 512 => {
                let words = d
                    .chunks(2)
                    .take(256)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                self.phase = Phase::DataIn {
                    words,
                    done: 0x50,
                    error: 0,
                };
                self.status(0x58);
            }
            _ => {
                self.result[0] = 0x04;
                self.status(0x51);
            }
        }
    }

    /// Run a PACKET command's CDB as a SCSI command.
    fn packet(&mut self, cdb: Vec<u8>, out: Option<Vec<u8>>) {
        if cdb[0] == 0x03 && !self.last_sense.is_empty() {
            // REQUEST SENSE answers from the sense the OS already fetched.
            let mut d = std::mem::take(&mut self.last_sense);
            d.truncate(cdb[4] as usize);
            return self.data_in(d, 0x50, 0);
        }
        let dir = match (&out, cdb[0]) {
            (Some(d), _) => Dir::Out(d),
            (None, 0x12) => Dir::In((cdb[3] as usize) << 8 | cdb[4] as usize),
            (None, 0x03) => Dir::In(cdb[4] as usize),
            _ => Dir::None,
        };
        match self.t.execute(&cdb, dir, Duration::from_secs(60)) {
            Ok(r) => {
                let check = r.status != 0;
                self.last_sense = if check { r.sense.clone() } else { Vec::new() };
                let key = r.sense_info().map(|s| s.key).unwrap_or(0);
                let (done, error) = if check { (0x51, key << 4) } else { (0x50, 0) };
                self.data_in(r.data, done, error);
            }
            Err(_) => {
                self.phase = Phase::Idle;
                self.result[1] = 0x03;
                self.status(0x51);
                self.result[0] = 0x04;
            }
        }
    }

    fn data_in(&mut self, data: Vec<u8>, done: u8, error: u8) {
        if data.is_empty() {
            return self.complete(done, error);
        }
        let n = data.len();
        let words = data
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]))
            .collect();
        self.phase = Phase::DataIn { words, done, error };
        self.result[1] = 0x02; // IO
        self.result[3] = n as u8;
        self.result[4] = (n >> 8) as u8;
        self.status(0x58);
    }

    fn complete(&mut self, done: u8, error: u8) {
        self.phase = Phase::Idle;
        self.result[0] = error;
        self.result[1] = 0x03; // IO | CoD
        self.status(done);
    }
}

impl Timed for PtPorts {
    fn clock(&self) -> &dyn Clock {
        self.t.clock().unwrap_or(&self.real)
    }
}

impl PortIo for PtPorts {
    fn inb(&mut self, port: u16) -> u8 {
        match port {
            CTL => self.result[6],
            p if (BASE + 1..=BASE + 7).contains(&p) => self.result[(p - BASE - 1) as usize],
            _ => 0xFF,
        }
    }

    fn outb(&mut self, port: u16, val: u8) {
        match port {
            p if (BASE + 1..=BASE + 6).contains(&p) => self.shadow[(p - BASE - 1) as usize] = val,
            p if p == BASE + 7 => match val {
                0xA0 => {
                    self.phase = Phase::Cdb(Vec::with_capacity(12));
                    self.result[1] = 0x01; // CoD
                    self.status(0x58);
                }
                0xA1 => self.identify(),
                c => {
                    self.phase = Phase::Idle;
                    self.ata(c);
                }
            },
            _ => {} // SRST cannot be passed through
        }
    }

    fn inw(&mut self, port: u16) -> u16 {
        if port != BASE {
            return 0xFFFF;
        }
        let Phase::DataIn { words, done, error } = &mut self.phase else {
            return 0xFFFF;
        };
        let w = words.pop_front().unwrap_or(0xFFFF);
        if words.is_empty() {
            let (d, e) = (*done, *error);
            self.complete(d, e);
        }
        w
    }

    fn outw(&mut self, port: u16, val: u16) {
        if port != BASE {
            return;
        }
        match &mut self.phase {
            Phase::Cdb(buf) => {
                buf.extend_from_slice(&val.to_le_bytes());
                if buf.len() >= 12 {
                    let cdb = std::mem::take(buf);
                    let need = if cdb[0] == 0x3B {
                        (cdb[6] as usize) << 16 | (cdb[7] as usize) << 8 | cdb[8] as usize
                    } else {
                        0
                    };
                    if need > 0 {
                        self.phase = Phase::DataOut {
                            cdb,
                            data: Vec::with_capacity(need),
                            need,
                        };
                        self.result[1] = 0x00;
                        self.result[3] = need.min(0xFFFE) as u8;
                        self.result[4] = (need.min(0xFFFE) >> 8) as u8;
                        self.status(0x58);
                    } else {
                        self.packet(cdb, None);
                    }
                }
            }
            Phase::DataOut { cdb, data, need } => {
                data.extend_from_slice(&val.to_le_bytes());
                if data.len() >= *need {
                    let (cdb, mut d, n) = (std::mem::take(cdb), std::mem::take(data), *need);
                    d.truncate(n);
                    self.packet(cdb, Some(d));
                }
            }
            _ => {}
        }
    }

    fn fault(&self) -> Option<String> {
        self.alarm.clone()
    }
    fn modelled(&self) -> Option<Duration> {
        self.t.modelled()
    }
}
