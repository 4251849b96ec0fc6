//! EXPERIMENTAL: the ATA task file through SCSI ATA PASS-THROUGH(16) (opcode 0x85), so
//! vendor mode can reach drives behind AHCI/libata without legacy ports. Register writes
//! are shadowed; writing the command register issues one non-data ATA command with
//! CK_COND set, and the result registers come back in the ATA status return descriptor
//! (sense descriptor 0x09). Unproven on hardware: whether libata's error handling lets
//! vendor status 0x70 (DF set) through is not known (transports.md).

use super::ata::{Reg, TaskFile};
use super::scsi::{Dir, ScsiTransport};
use crate::clock::{Clock, RealClock, Timed};
use std::time::Duration;

/// ATA PASS-THROUGH(16) for a non-data command with CK_COND: the 16-byte CDB.
pub fn ata16_nondata(regs: &[u8; 6], command: u8) -> [u8; 16] {
    let [feature, count, lbal, lbam, lbah, device] = *regs;
    [
        0x85,
        3 << 1,
        0x20,
        0,
        feature,
        0,
        count,
        0,
        lbal,
        0,
        lbam,
        0,
        lbah,
        device,
        command,
        0,
    ]
}

/// ATA PASS-THROUGH(16) for a PIO data-in command of `blocks` 512-byte blocks
/// (IDENTIFY PACKET DEVICE): protocol 4, T_DIR in, BYT_BLOK, length in the count field.
pub fn ata16_pio_in(command: u8, device: u8, blocks: u8) -> [u8; 16] {
    [
        0x85,
        4 << 1,
        0x0E,
        0,
        0,
        0,
        blocks,
        0,
        0,
        0,
        0,
        0,
        0,
        device,
        command,
        0,
    ]
}

/// One non-data ATA command through pass-through: the result registers (error, count,
/// LBA low, mid, high, device, status), and whether the transport ignored CK_COND (then
/// GOOD is taken as status 0x50 with the registers as written).
pub fn run_nondata(t: &mut dyn ScsiTransport, regs: &[u8; 6], command: u8) -> ([u8; 7], bool) {
    let cdb = ata16_nondata(regs, command);
    match t.execute(&cdb, Dir::None, Duration::from_secs(30)) {
        Ok(r) => match r.sense_info().and_then(|s| s.ata) {
            Some(a) => (a, false),
            None if r.good() => ([0, regs[1], regs[2], regs[3], regs[4], regs[5], 0x50], true),
            // CHECK CONDITION without ATA registers: an aborted command.
            None => ([0x04, 0, 0, 0, 0, regs[5], 0x51], false),
        },
        Err(_) => ([0, 0, 0, 0, 0, 0, 0xFF], false),
    }
}

pub struct PassThroughTaskFile<'a> {
    pub t: &'a mut dyn ScsiTransport,
    /// feature, count, lba low, mid, high, device.
    shadow: [u8; 6],
    /// error, count, lba low, mid, high, device, status of the last command.
    result: [u8; 7],
    dev: u8,
    clock: RealClock,
    /// Commands whose result registers did not come back (CK_COND ignored).
    pub blind: u32,
}

impl<'a> PassThroughTaskFile<'a> {
    pub fn new(t: &'a mut dyn ScsiTransport, slave: bool) -> Self {
        let dev = if slave { 0xB0 } else { 0xA0 };
        PassThroughTaskFile {
            t,
            shadow: [0, 0, 0, 0, 0, dev],
            result: [0, 0, 0, 0, 0, dev, 0x50],
            dev,
            clock: RealClock::new(),
            blind: 0,
        }
    }

    fn issue(&mut self, command: u8) {
        let (result, blind) = run_nondata(&mut *self.t, &self.shadow, command);
        self.result = result;
        self.blind += blind as u32;
    }

    /// IDENTIFY PACKET DEVICE through pass-through: 256 words.
    pub fn identify_packet(&mut self) -> Option<[u16; 256]> {
        let cdb = ata16_pio_in(0xA1, self.dev, 1);
        let r = self
            .t
            .execute(&cdb, Dir::In(512), Duration::from_secs(10))
            .ok()?;
        if r.data.len() < 512
            || r.sense_info()
                .map(|s| s.key != 0 && s.key != 1)
                .unwrap_or(false)
        {
            return None;
        }
        let mut w = [0u16; 256];
        for (i, c) in r.data.chunks(2).take(256).enumerate() {
            w[i] = u16::from_le_bytes([c[0], c[1]]);
        }
        Some(w)
    }
}

impl Timed for PassThroughTaskFile<'_> {
    fn clock(&self) -> &dyn Clock {
        &self.clock
    }
}

impl TaskFile for PassThroughTaskFile<'_> {
    fn write(&mut self, reg: Reg, val: u8) {
        match reg {
            Reg::Feature => self.shadow[0] = val,
            Reg::Count => self.shadow[1] = val,
            Reg::LbaLow => self.shadow[2] = val,
            Reg::LbaMid => self.shadow[3] = val,
            Reg::LbaHigh => self.shadow[4] = val,
            Reg::Device => self.shadow[5] = val,
            Reg::Command => self.issue(val),
            Reg::Control => {}
        }
    }
    fn read(&mut self, reg: Reg) -> u8 {
        match reg {
            Reg::Feature => self.result[0],
            Reg::Count => self.result[1],
            Reg::LbaLow => self.result[2],
            Reg::LbaMid => self.result[3],
            Reg::LbaHigh => self.result[4],
            Reg::Device => self.result[5],
            Reg::Command | Reg::Control => self.result[6],
        }
    }
    fn dev(&self) -> u8 {
        self.dev
    }
    fn describe(&self) -> String {
        format!("{} (ATA pass-through)", self.t.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::scsi::{ScsiResult, TransportError};

    /// A transport answering ATA_16 like a drive in vendor mode would.
    struct Fake {
        cdbs: Vec<Vec<u8>>,
        status: u8,
        with_regs: bool,
    }
    impl ScsiTransport for Fake {
        fn execute(
            &mut self,
            cdb: &[u8],
            _d: Dir<'_>,
            _t: Duration,
        ) -> Result<ScsiResult, TransportError> {
            self.cdbs.push(cdb.to_vec());
            if !self.with_regs {
                return Ok(ScsiResult::default());
            }
            let mut s = vec![
                0x72,
                0x01,
                0x00,
                0x1D,
                0,
                0,
                0,
                14,
                0x09,
                0x0C,
                0,
                0,
                0,
                0x01,
                0,
                0x5A,
                0,
                cdb[10],
                0,
                cdb[12],
                cdb[13],
                self.status,
            ];
            s.truncate(22);
            Ok(ScsiResult {
                status: 2,
                sense: s,
                data: vec![],
            })
        }
        fn describe(&self) -> String {
            "fake".into()
        }
        fn sleep(&mut self, _d: Duration) {}
    }

    #[test]
    fn cdb_encoding() {
        let c = ata16_nondata(&[0x11, 0x22, 0x2A, 0x44, 0x55, 0xA0], 0x80);
        assert_eq!(
            c,
            [0x85, 0x06, 0x20, 0, 0x11, 0, 0x22, 0, 0x2A, 0, 0x44, 0, 0x55, 0xA0, 0x80, 0]
        );
        let i = ata16_pio_in(0xA1, 0xA0, 1);
        assert_eq!((i[1], i[2], i[6], i[14]), (0x08, 0x0E, 1, 0xA1));
    }

    #[test]
    fn registers_round_trip_through_the_descriptor() {
        let mut f = Fake {
            cdbs: vec![],
            status: 0x70,
            with_regs: true,
        };
        let mut tf = PassThroughTaskFile::new(&mut f, false);
        tf.write(Reg::LbaLow, 0x2A);
        tf.write(Reg::LbaMid, 0x34);
        tf.write(Reg::Command, 0x80);
        assert_eq!(tf.read(Reg::Command), 0x70);
        assert_eq!(tf.read(Reg::LbaLow), 0x5A);
        assert_eq!(tf.read(Reg::LbaMid), 0x34);
        assert_eq!(
            f.cdbs.len(),
            1,
            "one ATA command per command-register write"
        );
    }

    #[test]
    fn a_transport_that_ignores_ck_cond_is_counted() {
        let mut f = Fake {
            cdbs: vec![],
            status: 0,
            with_regs: false,
        };
        let mut tf = PassThroughTaskFile::new(&mut f, false);
        tf.write(Reg::Command, 0x80);
        assert_eq!(tf.read(Reg::Command), 0x50);
        assert_eq!(tf.blind, 1);
    }
}
