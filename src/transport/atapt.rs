//! EXPERIMENTAL: the ATA task file through SCSI ATA PASS-THROUGH(16) (opcode 0x85), so
//! vendor mode can reach drives behind AHCI/libata without legacy ports. Register writes
//! are shadowed; writing the command register issues one non-data ATA command with
//! CK_COND set. The result registers come back in the ATA status return descriptor
//! (sense descriptor 0x09) for a clean status, and, from libata, in fixed-format sense
//! when the status has DF or ERR, as every vendor-mode status does (0x70/0x72 DF, 0x73
//! DF|ERR). What libata's error handler does then (a REQUEST SENSE packet to the drive,
//! sometimes a reset) is in docs/inferences.md; what of it can be seen from here is
//! turned into a [`TaskFile::fault`] that stops the session. Unproven on MediaTek
//! hardware.

use super::ata::{Reg, TaskFile};
use super::scsi::{AtaCommand, Dir, ScsiTransport, SenseInfo, TransportError};
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

/// What one non-data ATA command through pass-through gave back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Error, count, LBA low, mid, high, device, status.
    pub regs: [u8; 7],
    /// The transport ignored CK_COND: GOOD is taken as status 0x50 with the registers
    /// as written.
    pub blind: bool,
    /// Something seen that means the path did more than pass the command on.
    pub alarm: Option<String>,
}

/// One libata error-handler run costs at least a REQUEST SENSE with a 5 s timeout when
/// the drive does not answer; a vendor command is microseconds.
const EH_SUSPECT: Duration = Duration::from_secs(5);

/// One non-data ATA command through pass-through: the system's own ATA pass-through
/// where the transport has one, else ATA PASS-THROUGH(16) read the way libata answers
/// it (docs/inferences.md, "libata and ATA PASS-THROUGH").
pub fn run_nondata(t: &mut dyn ScsiTransport, regs: &[u8; 6], command: u8) -> Outcome {
    let now = |t: &dyn ScsiTransport| t.clock().map(|c| c.now());
    let (t0, w0) = (now(t), std::time::Instant::now());
    let cmd = AtaCommand {
        regs: *regs,
        command,
        data_in: 0,
        timeout: Duration::from_secs(30),
    };
    let (mut out, native) = match t.ata_command(&cmd) {
        Some(r) => (
            Outcome {
                regs: r.map(|a| a.regs).unwrap_or([0, 0, 0, 0, 0, 0, 0xFF]),
                blind: false,
                alarm: None,
            },
            true,
        ),
        None => {
            let r = t.execute(
                &ata16_nondata(regs, command),
                Dir::None,
                Duration::from_secs(30),
            );
            (from_ata16(r, regs, command), false)
        }
    };
    let took = match (t0, now(t)) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => w0.elapsed(),
    };
    // What the path does behind the tool's back after such a status, or when a
    // command takes that long: libata's error handler, or (undocumented) the Windows
    // port driver's recovery.
    let st = out.regs[6];
    if out.alarm.is_none() && st != 0xFF && !out.blind && (st & 0x40 == 0 || st & 0x88 != 0) {
        out.alarm = Some(if native {
            format!("vendor command 0x{command:02X} ended with status 0x{st:02X} (DRDY clear, or BSY/DRQ set) through the system's ATA pass-through: its port driver may reset the drive after such a status")
        } else {
            format!("vendor command 0x{command:02X} ended with status 0x{st:02X} (DRDY clear, or BSY/DRQ set): libata's error handler resets the link after such a status")
        });
    }
    if out.alarm.is_none() && took >= EH_SUSPECT {
        let secs = took.as_secs_f64();
        out.alarm = Some(if native {
            format!("vendor command 0x{command:02X} took {secs:.1} s through the system's ATA pass-through: its port driver recovered the drive (a reset, most likely)")
        } else {
            format!("vendor command 0x{command:02X} took {secs:.1} s through the kernel: its error handler ran (a REQUEST SENSE that timed out, or a reset)")
        });
    }
    out
}

/// The registers of an ATA PASS-THROUGH(16) command from what came back: the status
/// return descriptor, libata's fixed-format sense for DF/ERR, or nothing (a transport
/// that ignored CK_COND).
fn from_ata16(
    r: Result<crate::transport::scsi::ScsiResult, TransportError>,
    regs: &[u8; 6],
    command: u8,
) -> Outcome {
    let written = |status| [0, regs[1], regs[2], regs[3], regs[4], regs[5], status];
    match r {
        Err(_) => Outcome {
            regs: [0, 0, 0, 0, 0, 0, 0xFF],
            blind: false,
            alarm: None,
        },
        Ok(r) => {
            let fixed = crate::transport::scsi::ata_fixed_registers(&r.sense);
            match (r.sense_info(), fixed) {
                (Some(SenseInfo { ata: Some(a), .. }), _) => Outcome {
                    regs: a,
                    blind: false,
                    alarm: None,
                },
                (Some(si), Some((mut a, complete))) => {
                    if !complete {
                        // LBA mid/high did not fit the 18 bytes (6.1): they are as written.
                        a[3] = regs[3];
                        a[4] = regs[4];
                    }
                    let (df, err) = (a[6] & 0x20 != 0, a[6] & 0x01 != 0);
                    // For DF with no error bits libata makes up 4/44/00 (its status
                    // table since the 2025 fix) or 5/21/04 (before it, DRDY matched
                    // first); anything else there is the drive's own answer to a REQUEST
                    // SENSE the kernel sent (6.11+ hands it back).
                    let made_up = matches!((si.key, si.asc, si.ascq), (4, 0x44, 0) | (5, 0x21, 4));
                    let alarm = (df && !err && a[0] == 0 && !made_up).then(|| {
                        format!(
                            "after vendor command 0x{command:02X} the kernel asked the drive for sense on its own (sense {:X}/{:02X}/{:02X} came back, not the 4/44/00 or 5/21/04 libata makes up): its error handler sends the drive a REQUEST SENSE packet after every vendor command on this controller",
                            si.key, si.asc, si.ascq
                        )
                    });
                    Outcome {
                        regs: a,
                        blind: false,
                        alarm,
                    }
                }
                (_, _) if r.good() => Outcome {
                    regs: written(0x50),
                    blind: true,
                    alarm: None,
                },
                (None, _) => Outcome {
                    regs: written(0x51),
                    blind: false,
                    alarm: Some(format!(
                        "vendor command 0x{command:02X} ended in CHECK CONDITION with no sense data: libata's error handler may have reset the drive"
                    )),
                },
                // Sense without registers: an aborted command as far as can be told.
                (Some(_), None) => Outcome {
                    regs: [0x04, 0, 0, 0, 0, regs[5], 0x51],
                    blind: false,
                    alarm: None,
                },
            }
        }
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
    /// The first thing seen that makes the registers untrustworthy (see [`Outcome`]).
    pub alarm: Option<String>,
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
            alarm: None,
        }
    }

    fn issue(&mut self, command: u8) {
        if command == 0x80 && self.shadow[2] == 0x2A {
            // A new vendor intro (after a power cycle, say): what went before is over.
            self.alarm = None;
        }
        let o = run_nondata(&mut *self.t, &self.shadow, command);
        self.result = o.regs;
        self.blind += o.blind as u32;
        if self.alarm.is_none() {
            self.alarm = o.alarm;
        }
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
    fn fault(&self) -> Option<String> {
        self.alarm.clone()
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

    /// Answers with a fixed sense in the given layout, as libata does for DF/ERR.
    struct Fixed {
        sense: Vec<u8>,
    }
    impl ScsiTransport for Fixed {
        fn execute(
            &mut self,
            _c: &[u8],
            _d: Dir<'_>,
            _t: Duration,
        ) -> Result<ScsiResult, TransportError> {
            Ok(ScsiResult {
                status: 2,
                sense: self.sense.clone(),
                data: vec![],
            })
        }
        fn describe(&self) -> String {
            "fixed".into()
        }
        fn sleep(&mut self, _d: Duration) {}
    }

    #[test]
    fn registers_come_from_fixed_sense_in_both_kernel_layouts() {
        // 6.11+: 0xF0, error/status/device/count at 3-6, LBA at 9-11; sense 4/44/00.
        let mut k612 = crate::transport::scsi::fixed_sense(4, 0x44, 0);
        k612[0] = 0xF0;
        k612[3] = 0x00;
        k612[4] = 0x70;
        k612[5] = 0xA3;
        k612[6] = 0x01;
        k612[9] = 0x5A;
        k612[10] = 0x34;
        k612[11] = 0x12;
        let o = run_nondata(
            &mut Fixed {
                sense: k612.clone(),
            },
            &[0, 1, 0, 0x34, 0x12, 0xA3],
            0x00,
        );
        assert_eq!(o.regs, [0x00, 0x01, 0x5A, 0x34, 0x12, 0xA3, 0x70]);
        assert_eq!(o.alarm, None);
        // 6.1: 0x70, registers at 8-11, LBA low at 17, mid/high lost (taken as written).
        let mut k61 = crate::transport::scsi::fixed_sense(4, 0x44, 0);
        k61[8] = 0x00;
        k61[9] = 0x72;
        k61[10] = 0xA0;
        k61[11] = 0x00;
        k61[17] = 0xC2;
        let o = run_nondata(
            &mut Fixed { sense: k61.clone() },
            &[0, 0, 0, 0x04, 0x88, 0xA0],
            0x00,
        );
        assert_eq!(o.regs, [0x00, 0x00, 0xC2, 0x04, 0x88, 0xA0, 0x72]);
        assert_eq!(o.alarm, None);
        // Kernels before the 2025 status-table fix make up 5/21/04 for the same status.
        let mut older = k61;
        older[2] = 0x05;
        older[12] = 0x21;
        older[13] = 0x04;
        let o = run_nondata(
            &mut Fixed { sense: older },
            &[0, 0, 0, 0x04, 0x88, 0xA0],
            0x00,
        );
        assert_eq!((o.regs[6], o.alarm), (0x72, None));
        // The drive's own sense where libata would have made up 4/44/00: the kernel
        // asked the drive (REQUEST SENSE) on its own.
        let mut asked = k612;
        asked[2] = 0x06;
        asked[12] = 0x29;
        let o = run_nondata(&mut Fixed { sense: asked }, &[0; 6], 0x01);
        assert!(o.alarm.unwrap().contains("asked the drive for sense"));
        // No sense at all, and a status without DRDY: alarms too.
        let o = run_nondata(&mut Fixed { sense: vec![] }, &[0; 6], 0x01);
        assert!(o.alarm.unwrap().contains("no sense data"));
        let mut busy = crate::transport::scsi::fixed_sense(4, 0x44, 0);
        busy[0] = 0xF0;
        busy[4] = 0x40 | 0x08 | 0x20;
        let o = run_nondata(
            &mut Fixed {
                sense: busy.clone(),
            },
            &[0; 6],
            0x01,
        );
        assert!(o.alarm.unwrap().contains("BSY/DRQ"));
        // After a reset the status has DRDY clear; it still comes through, and alarms.
        let mut reset = busy;
        reset[4] = 0x00;
        let o = run_nondata(&mut Fixed { sense: reset }, &[0; 6], 0x01);
        assert_eq!(o.regs[6], 0x00);
        assert!(o.alarm.unwrap().contains("DRDY clear"));
    }
}
