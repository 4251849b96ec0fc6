//! A drive of a later family (MT1959, MT1339): no vendor mode, only its own updater over
//! packet commands, as protocol.md section 7 describes it.
//!
//! MT1959: INQUIRY, TEST UNIT READY (NOT READY, no medium: the normal answer with the
//! tray empty), REQUEST SENSE, GET CONFIGURATION 0x0108 (serial) and 0x010C (firmware
//! date), READ BUFFER mode 6 over the 2 MiB window, WRITE BUFFER mode 1 (prepare; RD's
//! 10-byte form and FMK's 12-byte form with byte 9 = 0x0B), mode 6 chunks with offsets,
//! mode 7 (FMK's commit `1B 12`, a trailing handshake). The drive programs when the
//! chunk that completes the image lands, keeps its boot area (inference I19), and
//! answers NOT READY 2/04/07 while it programs (I21).
//!
//! MT1339: the vendor CDB `FF 00 01 00 00 <mode>` with blocks of 0xFC00: 00 starts an
//! upload, FF continues, 02 (128 KiB) or 04 (256 KiB) carries the last block; the
//! drive programs then. Everything else as MT1959 but READ BUFFER (RD reads nothing
//! back from these drives; the model answers it so a read-back is possible).

use super::{
    Drive, PacketResult, INVALID_FIELD, INVALID_OPCODE, INVALID_PARAMETER, MEDIUM_NOT_PRESENT,
    NO_SENSE, POWER_ON_RESET, SEQUENCE_ERROR, UPDATING,
};
use crate::firmware::family::{self as fam, Family};
use crate::inference;

/// What a drive of a later family is, beyond its flash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    pub family: Family,
    /// GET CONFIGURATION 0x0108.
    pub serial: String,
    /// GET CONFIGURATION 0x010C: "YYYYMMDDhhmmss".
    pub fw_date: String,
    /// A programming was cut short: only the loader runs (inference I21).
    pub loader_only: bool,
    /// An upload in progress: the image as received, which parts arrived, and (MT1339)
    /// where the next block goes.
    pub upload: Option<(Vec<u8>, Vec<bool>, usize)>,
}

impl Unit {
    pub fn new(family: Family, serial: &str, fw_date: &str) -> Unit {
        Unit {
            family,
            serial: serial.to_string(),
            fw_date: fw_date.to_string(),
            loader_only: false,
            upload: None,
        }
    }
}

/// Bytes of data a family command takes from the host.
pub fn data_out_len(drive: &Drive, unit: &Unit, cdb: &[u8]) -> usize {
    match (cdb[0], unit.family) {
        (0xFF, Family::Mt1339) if cdb.len() >= 6 => {
            let total = drive.flash.mem().len();
            let at = match cdb[5] {
                0x00 => 0,
                _ => unit.upload.as_ref().map(|u| u.2).unwrap_or(0),
            };
            total.saturating_sub(at).min(fam::MT1339_BLOCK)
        }
        (0x3B, _) if cdb.len() >= 9 => {
            (cdb[6] as usize) << 16 | (cdb[7] as usize) << 8 | cdb[8] as usize
        }
        _ => 0,
    }
}

impl Drive {
    /// One packet command to a drive of a later family.
    pub(super) fn family_packet(&mut self, cdb: &[u8], data: &[u8], now: u64) -> PacketResult {
        let mut unit = self.unit.take().expect("a family drive");
        let r = self.family_command(&mut unit, cdb, data, now);
        self.unit = Some(unit);
        if cdb[0] != 0x03 {
            self.sense = r.check.unwrap_or(NO_SENSE);
        }
        r
    }

    fn family_command(&mut self, u: &mut Unit, cdb: &[u8], data: &[u8], now: u64) -> PacketResult {
        let commit = cdb[0] == 0x3B && cdb.get(1).map(|m| m & 0x1F) == Some(7);
        match &self.updating {
            Some((until, _)) if now < *until => {
                // FMK's commit right after the last chunk is a handshake: taken.
                if commit && u.family == Family::Mt1959 {
                    return PacketResult::good(Vec::new());
                }
                // INQUIRY and REQUEST SENSE are answered while not ready (SPC); the
                // rest waits.
                if !matches!(cdb[0], 0x12 | 0x03) {
                    return PacketResult::check(UPDATING);
                }
            }
            Some(_) => {
                let (_, image) = self.updating.take().expect("updating");
                self.family_programmed(u, image);
            }
            None => {}
        }
        if self.unit_attention && cdb[0] != 0x03 && cdb[0] != 0x12 {
            self.unit_attention = false;
            return PacketResult::check(POWER_ON_RESET);
        }
        match cdb[0] {
            0x00 => PacketResult::check(MEDIUM_NOT_PRESENT),
            0x03 => {
                let alloc = cdb.get(4).copied().unwrap_or(18) as usize;
                let s = std::mem::replace(&mut self.sense, NO_SENSE);
                let mut d = crate::transport::scsi::fixed_sense(s.key, s.asc, s.ascq);
                d.truncate(alloc);
                PacketResult::good(d)
            }
            0x12 => {
                let alloc = if cdb.len() >= 5 {
                    (cdb[3] as usize) << 8 | cdb[4] as usize
                } else {
                    36
                };
                let mut d = self.inquiry_data();
                if u.loader_only {
                    d[32..36].copy_from_slice(b"BOOT");
                }
                d.truncate(alloc);
                PacketResult::good(d)
            }
            0x46 if cdb.len() >= 9 => {
                let feature = u16::from_be_bytes([cdb[2], cdb[3]]);
                let alloc = u16::from_be_bytes([cdb[7], cdb[8]]) as usize;
                let body: Vec<u8> = match feature {
                    fam::FEATURE_SERIAL => u.serial.bytes().collect(),
                    fam::FEATURE_DATE => {
                        let mut d: Vec<u8> = u.fw_date.bytes().take(14).collect();
                        d.resize(16, 0);
                        d
                    }
                    _ => return PacketResult::check(INVALID_FIELD),
                };
                let mut body = body;
                body.resize(body.len().div_ceil(4) * 4, b' ');
                let mut d = Vec::new();
                // Feature header: data length, reserved, current profile (none).
                d.extend_from_slice(&((4 + 4 + body.len()) as u32).to_be_bytes());
                d.extend_from_slice(&[0, 0, 0, 0]);
                d.extend_from_slice(&feature.to_be_bytes());
                d.push(0x01); // current
                d.push(body.len() as u8);
                d.extend_from_slice(&body);
                d.truncate(alloc);
                PacketResult::good(d)
            }
            0x3C if cdb.len() >= 9 && cdb[1] & 0x1F == 6 => {
                let off = (cdb[3] as usize) << 16 | (cdb[4] as usize) << 8 | cdb[5] as usize;
                let len = (cdb[6] as usize) << 16 | (cdb[7] as usize) << 8 | cdb[8] as usize;
                let mem = self.flash.mem();
                if off + len > mem.len() {
                    return PacketResult::check(INVALID_FIELD);
                }
                PacketResult::good(mem[off..off + len].to_vec())
            }
            0x3B if u.family == Family::Mt1959 && cdb.len() >= 10 => {
                self.mt1959_write_buffer(u, cdb, data, now)
            }
            0xFF if u.family == Family::Mt1339
                && cdb.len() >= 12
                && cdb[..5] == [0xFF, 0, 1, 0, 0] =>
            {
                self.mt1339_block(u, cdb[5], data, now)
            }
            _ => PacketResult::check(INVALID_OPCODE),
        }
    }

    fn mt1959_write_buffer(
        &mut self,
        u: &mut Unit,
        cdb: &[u8],
        data: &[u8],
        now: u64,
    ) -> PacketResult {
        let size = self.flash.mem().len();
        let off = (cdb[3] as usize) << 16 | (cdb[4] as usize) << 8 | cdb[5] as usize;
        match cdb[1] & 0x1F {
            // Prepare: RD's `3B 01 00..` or FMK's with byte 9 = 0x0B; no data.
            1 if data.is_empty() => {
                u.upload = Some((vec![0xFF; size], vec![false; size / fam::MT1959_CHUNK], 0));
                PacketResult::good(Vec::new())
            }
            6 => {
                let Some((buf, covered, _)) = u.upload.as_mut() else {
                    return PacketResult::check(SEQUENCE_ERROR);
                };
                if !off.is_multiple_of(fam::MT1959_CHUNK)
                    || data.len() != fam::MT1959_CHUNK
                    || off + data.len() > size
                {
                    return PacketResult::check(INVALID_FIELD);
                }
                buf[off..off + data.len()].copy_from_slice(data);
                covered[off / fam::MT1959_CHUNK] = true;
                if covered.iter().all(|&c| c) {
                    // The last chunk landed: the drive erases and programs now.
                    let (image, _, _) = u.upload.take().expect("upload");
                    self.updating = Some((now + inference::FAMILY_PROGRAM_NS, image));
                }
                PacketResult::good(Vec::new())
            }
            // FMK's commit `1B 12` after the programming finished: nothing to do.
            7 if data.is_empty() && u.upload.is_none() => PacketResult::good(Vec::new()),
            7 => PacketResult::check(SEQUENCE_ERROR),
            _ => PacketResult::check(INVALID_FIELD),
        }
    }

    fn mt1339_block(&mut self, u: &mut Unit, mode: u8, data: &[u8], now: u64) -> PacketResult {
        let size = self.flash.mem().len();
        let last_mode = if size == fam::MT1339_LEN { 0x04 } else { 0x02 };
        if mode == 0x00 {
            u.upload = Some((vec![0xFF; size], Vec::new(), 0));
        }
        let Some((buf, _, pos)) = u.upload.as_mut() else {
            return PacketResult::check(SEQUENCE_ERROR);
        };
        let want = (size - *pos).min(fam::MT1339_BLOCK);
        let last = *pos + want == size;
        let mode_ok = match mode {
            0x00 | 0xFF => !last,
            m => m == last_mode && last,
        };
        if !mode_ok || data.len() != want {
            u.upload = None;
            return PacketResult::check(INVALID_PARAMETER);
        }
        buf[*pos..*pos + want].copy_from_slice(data);
        *pos += want;
        if last {
            let (image, _, _) = u.upload.take().expect("upload");
            self.updating = Some((now + inference::FAMILY_PROGRAM_NS, image));
        }
        PacketResult::good(Vec::new())
    }

    /// The programming finished: the flash holds the image (an MT1959 keeps its boot
    /// area), the firmware restarts, UNIT ATTENTION is pending.
    pub(super) fn family_programmed(&mut self, u: &mut Unit, image: Vec<u8>) {
        let from = fam::programmed(u.family, image.len()).start;
        // The drive's own erase and program, through the chip's faults: a sector that
        // does not erase takes the new bytes on top of the old (bits only clear), a
        // byte that does not program stays erased.
        let (stuck, keep) = self.flash.faults();
        let mem = self.flash.mem_mut();
        let old = mem.clone();
        mem[from..].copy_from_slice(&image[from..]);
        for (at, len) in keep {
            for i in at.max(from)..(at + len).min(mem.len()) {
                mem[i] = old[i] & image[i];
            }
        }
        let end = mem.len();
        for a in stuck.into_iter().filter(|&a| a >= from && a < end) {
            mem[a] = 0xFF;
        }
        u.loader_only = false;
        self.flash.finish();
        self.family_boot(u.family);
        self.unit_attention = true;
    }

    /// Its loader starts the firmware (or, after a cut programming, itself): what it
    /// answers INQUIRY with comes from the image (the identity page on MT1959).
    pub(super) fn family_boot(&mut self, family: Family) {
        self.sense = NO_SENSE;
        // An upload held in RAM is gone.
        if let Some(u) = self.unit.as_mut() {
            u.upload = None;
        }
        self.mode = super::Mode::Normal;
        let mem = self.flash.mem();
        self.identity = match family {
            Family::Mt1959 => {
                fam::identity_of(mem).map(|(vendor, product, revision)| crate::firmware::Identity {
                    vendor,
                    product,
                    revision,
                    offset: fam::IDENTITY.at,
                })
            }
            Family::Mt1339 => crate::firmware::find_identity(mem),
        };
    }

    /// Finish a programming under way (the drive kept power until it was done).
    pub fn family_finish(&mut self, image: Vec<u8>) {
        let mut u = self.unit.take().expect("a family drive");
        self.family_programmed(&mut u, image);
        self.unit = Some(u);
    }

    /// Power lost while programming: part of the image is in flash and only the loader
    /// runs (inference I21). `done` of the programmed span was written.
    pub fn family_power_cut(&mut self, done: f64) {
        let Some((_, image)) = self.updating.take() else {
            return;
        };
        let Some(mut u) = self.unit.take() else {
            return;
        };
        let span = fam::programmed(u.family, image.len());
        let cut = span.start + ((span.len() as f64 * done) as usize).min(span.len());
        let mem = self.flash.mem_mut();
        mem[span.start..cut].copy_from_slice(&image[span.start..cut]);
        mem[cut..span.end].fill(0xFF);
        u.loader_only = true;
        u.upload = None;
        self.unit = Some(u);
    }
}
