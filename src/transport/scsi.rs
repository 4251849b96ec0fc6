//! SCSI command transport (pass-through): one trait for SG_IO, SPTI, PIO PACKET over the
//! task file and the virtual drive's packet face; sense decoding and result
//! classification in one place, as sg3_utils does.

use std::time::Duration;
use thiserror::Error;

/// Data phase of one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir<'a> {
    None,
    In(usize),
    Out(&'a [u8]),
}

/// A command that completed at the SCSI level (GOOD or CHECK CONDITION etc.).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ScsiResult {
    /// SCSI status byte (0x00 GOOD, 0x02 CHECK CONDITION, 0x08 BUSY ...).
    pub status: u8,
    pub sense: Vec<u8>,
    pub data: Vec<u8>,
}

impl ScsiResult {
    pub fn good(&self) -> bool {
        self.status == 0 && self.sense_info().map(|s| s.key == 0).unwrap_or(true)
    }
    pub fn sense_info(&self) -> Option<SenseInfo> {
        SenseInfo::parse(&self.sense)
    }
    /// "CHECK CONDITION: ILLEGAL REQUEST, invalid command operation code (5/20/00)".
    pub fn describe(&self) -> String {
        match (self.status, self.sense_info()) {
            (0, None) => "GOOD".into(),
            (_, Some(s)) => format!("CHECK CONDITION: {s}"),
            (st, None) => format!("status 0x{st:02X} ({})", status_name(st)),
        }
    }
}

/// Transport-level failures: the command may not have reached the drive.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TransportError {
    #[error("{path}: {what}")]
    Os {
        path: String,
        what: String,
        errno: i32,
    },
    #[error("{path}: the host adapter reported an error (host_status 0x{host:04X}, driver_status 0x{driver:04X})")]
    Host {
        path: String,
        host: u16,
        driver: u16,
    },
    #[error("{0}")]
    Protocol(String),
}

pub trait ScsiTransport {
    fn execute(
        &mut self,
        cdb: &[u8],
        dir: Dir<'_>,
        timeout: Duration,
    ) -> Result<ScsiResult, TransportError>;
    /// Largest data phase one command may carry.
    fn max_transfer(&self) -> usize {
        64 * 1024
    }
    fn describe(&self) -> String;
    /// Wait (real or virtual time).
    fn sleep(&mut self, d: Duration);
    /// Modelled device time so far, for virtual drives.
    fn modelled(&self) -> Option<Duration> {
        None
    }
    /// Bus operations so far, for virtual drives reached through their task file.
    fn bus_ops(&self) -> Option<u64> {
        None
    }
    /// The clock waits run on, when not the wall clock (virtual drives).
    fn clock(&self) -> Option<&dyn crate::clock::Clock> {
        None
    }
    /// The system's own ATA pass-through (Windows' IOCTL_ATA_PASS_THROUGH), where the
    /// registers go in and come back as registers. None: this transport has none (or
    /// found out it has none), and ATA PASS-THROUGH(16) carries the command instead.
    fn ata_command(&mut self, _c: &AtaCommand) -> Option<Result<AtaReply, TransportError>> {
        None
    }
}

/// One ATA command for [`ScsiTransport::ata_command`]: non-data, or PIO data-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtaCommand {
    /// Features, count, LBA low, mid, high, device.
    pub regs: [u8; 6],
    pub command: u8,
    /// Bytes of PIO data-in (0: a non-data command).
    pub data_in: usize,
    pub timeout: Duration,
}

/// What came back from [`ScsiTransport::ata_command`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AtaReply {
    /// Error, count, LBA low, mid, high, device, status.
    pub regs: [u8; 7],
    pub data: Vec<u8>,
}

pub fn status_name(s: u8) -> &'static str {
    match s {
        0x00 => "GOOD",
        0x02 => "CHECK CONDITION",
        0x04 => "CONDITION MET",
        0x08 => "BUSY",
        0x18 => "RESERVATION CONFLICT",
        0x22 => "COMMAND TERMINATED",
        0x28 => "TASK SET FULL",
        0x30 => "ACA ACTIVE",
        0x40 => "TASK ABORTED",
        _ => "unknown status",
    }
}

pub fn key_name(k: u8) -> &'static str {
    match k {
        0x0 => "NO SENSE",
        0x1 => "RECOVERED ERROR",
        0x2 => "NOT READY",
        0x3 => "MEDIUM ERROR",
        0x4 => "HARDWARE ERROR",
        0x5 => "ILLEGAL REQUEST",
        0x6 => "UNIT ATTENTION",
        0x7 => "DATA PROTECT",
        0x8 => "BLANK CHECK",
        0x9 => "VENDOR SPECIFIC",
        0xA => "COPY ABORTED",
        0xB => "ABORTED COMMAND",
        0xD => "VOLUME OVERFLOW",
        0xE => "MISCOMPARE",
        _ => "reserved sense key",
    }
}

/// Words for the additional sense codes an optical drive being updated may return.
pub fn asc_text(asc: u8, ascq: u8) -> String {
    let s = match (asc, ascq) {
        (0x00, 0x00) => "no additional sense information",
        (0x00, 0x1D) => "ATA pass through information available",
        (0x04, 0x00) => "logical unit not ready, cause not reportable",
        (0x04, 0x01) => "logical unit is in process of becoming ready",
        (0x04, 0x02) => "logical unit not ready, initializing command required",
        (0x04, 0x07) => "logical unit not ready, operation in progress",
        (0x20, 0x00) => "invalid command operation code",
        (0x21, 0x00) => "logical block address out of range",
        (0x24, 0x00) => "invalid field in CDB",
        (0x26, 0x00) => "invalid field in parameter list",
        (0x28, 0x00) => "not ready to ready change, medium may have changed",
        (0x29, 0x00) => "power on, reset, or bus device reset occurred",
        (0x2C, 0x00) => "command sequence error",
        (0x3A, 0x00) => "medium not present",
        (0x3A, 0x01) => "medium not present, tray closed",
        (0x3A, 0x02) => "medium not present, tray open",
        (0x3F, 0x01) => "microcode has been changed",
        (0x44, 0x00) => "internal target failure",
        _ => return format!("ASC 0x{asc:02X} ASCQ 0x{ascq:02X}"),
    };
    s.to_string()
}

/// Fixed-format sense data (response code 0x70, 18 bytes) for key/ASC/ASCQ.
pub fn fixed_sense(key: u8, asc: u8, ascq: u8) -> Vec<u8> {
    let mut d = vec![0u8; 18];
    d[0] = 0x70;
    d[2] = key;
    d[7] = 10;
    d[12] = asc;
    d[13] = ascq;
    d
}

/// Decoded sense data (fixed or descriptor format).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenseInfo {
    pub key: u8,
    pub asc: u8,
    pub ascq: u8,
    pub descriptor: bool,
    /// ATA status return descriptor (type 0x09): error, count, lba low/mid/high,
    /// device, status.
    pub ata: Option<[u8; 7]>,
}

/// The task-file registers libata puts into FIXED-format sense for an ATA
/// PASS-THROUGH with CK_COND when the status has DF or ERR (it never uses descriptor
/// format for an ATAPI device then). 6.11 and later set the VALID bit (0xF0) and put
/// error, status, device, count in bytes 3-6 and LBA low/mid/high in 9-11; earlier
/// kernels (6.1) put them in bytes 8-11 and LBA low in 17, with LBA mid/high cut off.
/// Returns error, count, LBA low, mid, high, device, status, and whether LBA mid/high
/// are real. (drivers/ata/libata-scsi.c; docs/inferences.md.)
pub fn ata_fixed_registers(b: &[u8]) -> Option<([u8; 7], bool)> {
    // The layouts are told apart by the VALID bit alone: a status with DRDY clear (after
    // a reset) must come through too, so the caller can see it.
    if b.len() < 12 || b[0] & 0x7F != 0x70 {
        return None;
    }
    if b[0] & 0x80 != 0 {
        return Some(([b[3], b[6], b[9], b[10], b[11], b[5], b[4]], true));
    }
    if b.len() >= 18 {
        return Some(([b[8], b[11], b[17], 0, 0, b[10], b[9]], false));
    }
    None
}

impl SenseInfo {
    pub fn parse(b: &[u8]) -> Option<SenseInfo> {
        let code = *b.first()? & 0x7F;
        match code {
            0x70 | 0x71 => {
                let key = *b.get(2)? & 0x0F;
                let add = b.get(7).copied().unwrap_or(0) as usize;
                let asc = if add >= 5 {
                    b.get(12).copied().unwrap_or(0)
                } else {
                    0
                };
                let ascq = if add >= 6 {
                    b.get(13).copied().unwrap_or(0)
                } else {
                    0
                };
                Some(SenseInfo {
                    key,
                    asc,
                    ascq,
                    descriptor: false,
                    ata: None,
                })
            }
            0x72 | 0x73 => {
                let key = *b.get(1)? & 0x0F;
                let asc = b.get(2).copied().unwrap_or(0);
                let ascq = b.get(3).copied().unwrap_or(0);
                let add = b.get(7).copied().unwrap_or(0) as usize;
                let end = (8 + add).min(b.len());
                let mut ata = None;
                let mut i = 8;
                while i + 1 < end {
                    let (ty, len) = (b[i], b[i + 1] as usize);
                    if ty == 0x09 && len >= 12 && i + 14 <= b.len() {
                        let d = &b[i..i + 14];
                        // error, count(lo), lba low, mid, high, device, status
                        ata = Some([d[3], d[5], d[7], d[9], d[11], d[12], d[13]]);
                    }
                    i += 2 + len;
                }
                Some(SenseInfo {
                    key,
                    asc,
                    ascq,
                    descriptor: true,
                    ata,
                })
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for SenseInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {} ({:X}/{:02X}/{:02X})",
            key_name(self.key),
            asc_text(self.asc, self.ascq),
            self.key,
            self.asc,
            self.ascq
        )
    }
}

/// What an SG_IO-style completion means (sg3_utils' categories).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Good,
    /// CHECK CONDITION (or COMMAND TERMINATED) with sense data.
    Sense,
    /// Another non-GOOD SCSI status (BUSY, RESERVATION CONFLICT ...).
    Status,
    /// The host adapter or driver failed the command.
    Transport,
}

/// Classify host/driver/SCSI status the way sg3_utils does: transport errors first
/// (host_status set, or a driver status other than OK/SENSE), then sense (DRIVER_SENSE
/// or status CHECK CONDITION / COMMAND TERMINATED), then any other status.
pub fn classify(host_status: u16, driver_status: u16, status: u8, sense_len: usize) -> Category {
    const DRIVER_SENSE: u16 = 0x08;
    let drv = driver_status & 0x0F;
    if host_status != 0 || (drv != 0 && drv != DRIVER_SENSE) {
        return Category::Transport;
    }
    let st = status & 0x7E;
    if drv == DRIVER_SENSE || st == 0x02 || st == 0x22 {
        return if sense_len > 0 || st != 0 {
            Category::Sense
        } else {
            Category::Good
        };
    }
    if st != 0 {
        return Category::Status;
    }
    Category::Good
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_format_sense() {
        let mut b = [0u8; 18];
        b[0] = 0x70;
        b[2] = 0x05;
        b[7] = 10;
        b[12] = 0x20;
        let s = SenseInfo::parse(&b).unwrap();
        assert_eq!((s.key, s.asc, s.ascq, s.descriptor), (5, 0x20, 0, false));
        assert_eq!(
            s.to_string(),
            "ILLEGAL REQUEST, invalid command operation code (5/20/00)"
        );
        // Deferred error code 0x71 and the valid bit 0x80 are accepted.
        b[0] = 0xF1;
        assert_eq!(SenseInfo::parse(&b).unwrap().key, 5);
        // A short additional length hides ASC/ASCQ.
        b[7] = 4;
        assert_eq!(SenseInfo::parse(&b).unwrap().asc, 0);
    }

    #[test]
    fn descriptor_format_with_ata_return() {
        // 72h, key 1 (recovered), ASC 00/1D, then an ATA status return descriptor.
        let mut b = vec![0x72, 0x01, 0x00, 0x1D, 0, 0, 0, 14];
        b.extend_from_slice(&[
            0x09, 0x0C, 0x00, 0x04, 0x00, 0x01, 0x00, 0x2A, 0x00, 0x14, 0x00, 0xEB, 0xA0, 0x70,
        ]);
        let s = SenseInfo::parse(&b).unwrap();
        assert!(s.descriptor);
        assert_eq!((s.key, s.asc, s.ascq), (1, 0, 0x1D));
        assert_eq!(s.ata, Some([0x04, 0x01, 0x2A, 0x14, 0xEB, 0xA0, 0x70]));
        assert!(s.to_string().contains("ATA pass through"));
    }

    #[test]
    fn junk_is_not_sense() {
        assert_eq!(SenseInfo::parse(&[]), None);
        assert_eq!(SenseInfo::parse(&[0x12, 0, 0]), None);
    }

    #[test]
    fn classification_follows_sg3_utils_order() {
        assert_eq!(classify(0, 0, 0, 0), Category::Good);
        // CHECK CONDITION as seen behind libata: status 02, driver_status 08, 18 bytes.
        assert_eq!(classify(0, 0x08, 0x02, 18), Category::Sense);
        assert_eq!(classify(0, 0x08, 0x00, 18), Category::Sense);
        assert_eq!(classify(0, 0, 0x08, 0), Category::Status, "BUSY");
        assert_eq!(
            classify(0x07, 0x08, 0x02, 18),
            Category::Transport,
            "host error wins"
        );
        assert_eq!(
            classify(0, 0x06, 0, 0),
            Category::Transport,
            "DRIVER_TIMEOUT"
        );
        assert_eq!(classify(0, 0, 0x22, 18), Category::Sense);
    }

    #[test]
    fn results_describe_themselves() {
        let r = ScsiResult {
            status: 2,
            sense: vec![0x70, 0, 2, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x3A, 0, 0, 0, 0, 0],
            data: vec![],
        };
        assert_eq!(
            r.describe(),
            "CHECK CONDITION: NOT READY, medium not present (2/3A/00)"
        );
        assert!(!r.good());
        assert!(ScsiResult::default().good());
        assert_eq!(
            ScsiResult {
                status: 8,
                ..Default::default()
            }
            .describe(),
            "status 0x08 (BUSY)"
        );
    }
}
