//! The MediaTek drive itself, independent of how it is reached: its flash, what it is
//! running (firmware, boot code only, vendor mode, nothing), its ATAPI packet commands,
//! and its vendor-mode flash access. `sim::taskfile` puts ATA registers in front of it;
//! a pass-through transport can call [`Drive::packet`] directly.

pub mod family;

use super::chip::{JedecChip, SpiChip};
use crate::chips::{Bus, ChipInfo};
use crate::firmware::{find_identity, Analysis, Identity};
use crate::inference;

#[derive(Clone, Debug)]
pub enum Flash {
    Parallel(JedecChip),
    Spi(SpiChip),
}

impl Flash {
    pub fn new(info: &'static ChipInfo, content: Vec<u8>) -> Flash {
        match info.bus() {
            Bus::Parallel => Flash::Parallel(JedecChip::new(info, content)),
            Bus::Spi => Flash::Spi(SpiChip::new(info, content)),
        }
    }
    pub fn info(&self) -> &'static ChipInfo {
        match self {
            Flash::Parallel(c) => c.info,
            Flash::Spi(c) => c.info,
        }
    }
    pub fn mem(&self) -> &[u8] {
        match self {
            Flash::Parallel(c) => &c.mem,
            Flash::Spi(c) => &c.mem,
        }
    }
    pub fn mem_mut(&mut self) -> &mut Vec<u8> {
        match self {
            Flash::Parallel(c) => &mut c.mem,
            Flash::Spi(c) => &mut c.mem,
        }
    }
    pub fn settle(&mut self, now: u64) {
        match self {
            Flash::Parallel(c) => c.settle(now),
            Flash::Spi(c) => c.settle(now),
        }
    }
    /// Let any operation in flight finish (time passes between commands).
    pub fn finish(&mut self) {
        let until = match self {
            Flash::Parallel(c) => c.busy_until(),
            Flash::Spi(c) => c.busy_until(),
        };
        if let Some(t) = until {
            self.settle(t);
        }
        // A W29C020 page load whose window has not closed yet.
        self.settle(u64::MAX / 2);
    }
    pub fn stats(&self) -> super::chip::ChipStats {
        match self {
            Flash::Parallel(c) => c.stats,
            Flash::Spi(c) => c.stats,
        }
    }
    pub fn power_cut(&mut self, now: u64, seed: u64) {
        match self {
            Flash::Parallel(c) => c.power_cut(now, seed),
            Flash::Spi(c) => c.power_cut(now, seed),
        }
    }

    /// Install the chip-level faults: bytes that never program, sectors that never erase.
    pub fn set_faults(&mut self, f: &super::fault::Faults) {
        let stuck: Vec<(usize, u8)> = f.program_fail.iter().map(|&a| (a as usize, 0xFF)).collect();
        let keep: Vec<(usize, usize)> = f
            .erase_fail
            .iter()
            .map(|&s| (s as usize * 0x1000, 0x1000))
            .collect();
        match self {
            Flash::Parallel(c) => {
                c.stuck_bits = stuck;
                c.erase_fail = keep;
            }
            Flash::Spi(c) => {
                c.stuck_bits = stuck;
                c.erase_fail = keep;
            }
        }
    }

    /// The chip-level faults installed: bytes that never program, spans that never
    /// erase.
    pub fn faults(&self) -> (Vec<usize>, Vec<(usize, usize)>) {
        let (stuck, keep) = match self {
            Flash::Parallel(c) => (&c.stuck_bits, &c.erase_fail),
            Flash::Spi(c) => (&c.stuck_bits, &c.erase_fail),
        };
        (stuck.iter().map(|s| s.0).collect(), keep.clone())
    }

    /// The chip hangs busy until power is cut.
    pub fn set_stuck(&mut self) {
        match self {
            Flash::Parallel(c) => c.stuck = true,
            Flash::Spi(c) => c.stuck = true,
        }
    }

    pub fn is_stuck(&self) -> bool {
        match self {
            Flash::Parallel(c) => c.stuck,
            Flash::Spi(c) => c.stuck,
        }
    }
}

/// What the drive's processor is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The firmware in flash is valid: a working ATAPI drive.
    Normal,
    /// The firmware is invalid but the boot code is intact: no IDENTIFY, no INQUIRY,
    /// vendor intro works (a "misflashed" drive).
    BootOnly,
    /// Vendor (flashing) mode.
    Vendor,
    /// Vendor mode left with 0x81; waiting for the reset that reboots it.
    Outro,
    /// The boot code is damaged: nothing answers.
    Dead,
}

/// Sense data: key, ASC, ASCQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Sense {
    pub key: u8,
    pub asc: u8,
    pub ascq: u8,
}

pub const NO_SENSE: Sense = Sense {
    key: 0,
    asc: 0,
    ascq: 0,
};
pub const INVALID_OPCODE: Sense = Sense {
    key: 5,
    asc: 0x20,
    ascq: 0,
};
pub const INVALID_FIELD: Sense = Sense {
    key: 5,
    asc: 0x24,
    ascq: 0,
};
pub const MEDIUM_NOT_PRESENT: Sense = Sense {
    key: 2,
    asc: 0x3A,
    ascq: 0,
};
pub const INVALID_PARAMETER: Sense = Sense {
    key: 5,
    asc: 0x26,
    ascq: 0,
};
pub const SEQUENCE_ERROR: Sense = Sense {
    key: 5,
    asc: 0x2C,
    ascq: 0,
};
pub const POWER_ON_RESET: Sense = Sense {
    key: 6,
    asc: 0x29,
    ascq: 0,
};
pub const UPDATING: Sense = Sense {
    key: inference::UPDATING_SENSE.0,
    asc: inference::UPDATING_SENSE.1,
    ascq: inference::UPDATING_SENSE.2,
};

/// The outcome of one packet command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketResult {
    pub data_in: Vec<u8>,
    /// None = GOOD; Some = CHECK CONDITION with this sense.
    pub check: Option<Sense>,
}

impl PacketResult {
    fn good(data_in: Vec<u8>) -> Self {
        PacketResult {
            data_in,
            check: None,
        }
    }
    fn check(s: Sense) -> Self {
        PacketResult {
            data_in: Vec::new(),
            check: Some(s),
        }
    }
}

/// The identity a drive was created with; used for INQUIRY when the firmware carries no
/// INQUIRY template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub vendor: String,
    pub product: String,
    pub revision: String,
}

/// The drive's own firmware update (BTC WRITE BUFFER), in progress.
#[derive(Clone, Debug, Default)]
pub struct Upload {
    /// Header (checksum at 0x1E) + image (inference I14).
    pub buffer: Vec<u8>,
    /// Which 4 KiB pieces of the image were uploaded.
    pub covered: Vec<bool>,
}

pub struct Drive {
    pub flash: Flash,
    pub settings: Settings,
    pub mode: Mode,
    /// The answer to the vendor intro on a serial-flash drive: 0x72 (bridge staging at
    /// 0x8800, lengths low byte first) or 0x73 (staging at 0x0000, lengths high byte
    /// first); 0x52 stands for a drive no source flashes. Parallel drives answer 0x70.
    pub serial_intro: u8,
    /// Drive memory (XRAM) seen through the serial-mode byte commands.
    pub xram: Vec<u8>,
    pub sense: Sense,
    /// CRC-32 of the boot block last known to run.
    pub good_boot_crc: u32,
    identity: Option<Identity>,
    pub upload: Option<Upload>,
    /// A committed update rewriting the flash until this time (ns), with its image.
    pub updating: Option<(u64, Vec<u8>)>,
    /// Report UNIT ATTENTION once (after a reboot that followed an update).
    pub unit_attention: bool,
    /// A drive of a later family (MT1959, MT1339): no vendor mode, its own updater.
    pub unit: Option<family::Unit>,
}

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

pub fn boot_crc(mem: &[u8]) -> u32 {
    CRC32.checksum(&mem[..inference::BOOT_LEN])
}

impl Drive {
    /// A drive powered on with this flash content.
    pub fn new(flash: Flash, settings: Settings, good_boot_crc: u32) -> Drive {
        let mut d = Drive {
            flash,
            settings,
            mode: Mode::Dead,
            serial_intro: inference::VENDOR_IDLE_SERIAL,
            xram: vec![0; 0x10000],
            sense: NO_SENSE,
            good_boot_crc,
            identity: None,
            upload: None,
            updating: None,
            unit_attention: false,
            unit: None,
        };
        d.boot();
        d
    }

    /// A drive of a later family with this flash content, powered on.
    pub fn new_family(flash: Flash, settings: Settings, unit: family::Unit) -> Drive {
        let mut d = Drive::new(flash, settings, 0);
        d.unit = Some(unit);
        d.boot();
        d
    }

    /// What the processor does after power-on or reset: run the boot code, which starts
    /// the firmware if it is valid.
    ///
    /// Boot code intact = the boot block is the one last known to run, or the whole
    /// image is a valid firmware (new boot code written together with its firmware). A
    /// boot block that changed and is not part of a valid image is taken as damaged: a
    /// half-rewritten boot block is the one thing a real drive cannot survive.
    pub fn boot(&mut self) {
        self.flash.finish();
        if let Some(f) = self.unit.as_ref().map(|u| u.family) {
            return self.family_boot(f);
        }
        let mem = self.flash.mem();
        let analysis = Analysis::of(mem);
        let crc = boot_crc(mem);
        let boot_intact = crc == self.good_boot_crc || analysis.bootable();
        self.sense = NO_SENSE;
        self.xram.fill(0);
        self.mode = if !boot_intact || !analysis.boot_ok {
            Mode::Dead
        } else if analysis.bootable() {
            self.good_boot_crc = crc;
            Mode::Normal
        } else {
            Mode::BootOnly
        };
        self.identity = find_identity(mem);
    }

    /// The answer to the vendor intro: 0x70 parallel, 0x72/0x73 serial.
    pub fn vendor_status(&self) -> u8 {
        match self.flash {
            Flash::Parallel(_) => inference::VENDOR_IDLE_PARALLEL,
            Flash::Spi(_) => self.serial_intro,
        }
    }

    /// Where this drive's SPI bridge stages bytes, and whether it reads lengths high
    /// byte first (protocol.md section 6).
    pub fn bridge(&self) -> (usize, bool) {
        if self.serial_intro == 0x73 {
            (inference::SPI_STAGING_73 as usize, true)
        } else {
            (inference::SPI_STAGING_72 as usize, false)
        }
    }

    /// INQUIRY data (96 bytes): the firmware's template, or the settings when the
    /// firmware carries none.
    pub fn inquiry_data(&self) -> Vec<u8> {
        let mut d = vec![0u8; 96];
        d[..8].copy_from_slice(&crate::firmware::INQUIRY_TEMPLATE);
        let (v, p, r) = match &self.identity {
            Some(id) => (id.vendor.clone(), id.product.clone(), id.revision.clone()),
            None => (
                self.settings.vendor.clone(),
                self.settings.product.clone(),
                self.settings.revision.clone(),
            ),
        };
        let put = |d: &mut [u8], at: usize, s: &str, n: usize| {
            let mut b: Vec<u8> = s.bytes().take(n).collect();
            b.resize(n, b' ');
            d[at..at + n].copy_from_slice(&b);
        };
        put(&mut d, 8, &v, 8);
        put(&mut d, 16, &p, 16);
        put(&mut d, 32, &r, 4);
        d
    }

    /// Bytes of data a packet command takes from the host (the data-out phase).
    pub fn data_out_len(&self, cdb: &[u8]) -> usize {
        if let Some(u) = &self.unit {
            return family::data_out_len(self, u, cdb);
        }
        match cdb[0] {
            0x3B => (cdb[6] as usize) << 16 | (cdb[7] as usize) << 8 | cdb[8] as usize,
            _ => 0,
        }
    }

    /// Execute one packet command (CDB plus any data-out bytes) at time `now` (ns).
    pub fn packet(&mut self, cdb: &[u8], data_out: &[u8], now: u64) -> PacketResult {
        if self.unit.is_some() {
            return self.family_packet(cdb, data_out, now);
        }
        if let Some((until, _)) = &self.updating {
            if now < *until {
                self.sense = UPDATING;
                return PacketResult::check(UPDATING);
            }
            let (_, image) = self.updating.take().expect("updating");
            self.finish_update(image);
        }
        if self.unit_attention && cdb[0] != 0x03 && cdb[0] != 0x12 {
            self.unit_attention = false;
            self.sense = POWER_ON_RESET;
            return PacketResult::check(POWER_ON_RESET);
        }
        let r = match cdb[0] {
            0x00 => PacketResult::check(MEDIUM_NOT_PRESENT),
            0x03 => {
                let alloc = cdb[4] as usize;
                let s = std::mem::replace(&mut self.sense, NO_SENSE);
                let mut d = crate::transport::scsi::fixed_sense(s.key, s.asc, s.ascq);
                d.truncate(alloc);
                return PacketResult::good(d);
            }
            0x12 => {
                if cdb[1] & 1 != 0 {
                    PacketResult::check(INVALID_FIELD) // no VPD pages
                } else {
                    let alloc = if cdb.len() >= 6 {
                        (cdb[3] as usize) << 8 | cdb[4] as usize
                    } else {
                        36
                    };
                    let mut d = self.inquiry_data();
                    d.truncate(alloc);
                    PacketResult::good(d)
                }
            }
            0x3B => self.write_buffer(cdb, data_out, now),
            _ => PacketResult::check(INVALID_OPCODE),
        };
        self.sense = r.check.unwrap_or(NO_SENSE);
        r
    }

    /// WRITE BUFFER: mode 6 uploads (with offsets), mode 7 commits (BTC protocol).
    fn write_buffer(&mut self, cdb: &[u8], data: &[u8], now: u64) -> PacketResult {
        if cdb.len() < 10 {
            return PacketResult::check(INVALID_FIELD);
        }
        let mode = cdb[1] & 0x1F;
        let offset = (cdb[3] as usize) << 16 | (cdb[4] as usize) << 8 | cdb[5] as usize;
        let size = self.flash.mem().len();
        let hdr = inference::BTC_HEADER;
        match mode {
            // The BTC updater takes exactly 1 MiB (btcflash); a drive with another flash
            // size has no such updater.
            6 | 7 if size != crate::firmware::BTC_IMAGE_LEN => PacketResult::check(INVALID_FIELD),
            6 => {
                if offset + data.len() > hdr + size {
                    return PacketResult::check(INVALID_FIELD);
                }
                let up = self.upload.get_or_insert_with(|| Upload {
                    buffer: vec![0u8; hdr + size],
                    covered: vec![false; size / 0x1000],
                });
                up.buffer[offset..offset + data.len()].copy_from_slice(data);
                if offset >= hdr {
                    for c in (offset - hdr) / 0x1000..(offset - hdr + data.len()).div_ceil(0x1000) {
                        if let Some(x) = up.covered.get_mut(c) {
                            *x = true;
                        }
                    }
                }
                PacketResult::good(Vec::new())
            }
            7 => {
                let Some(up) = self.upload.take() else {
                    return PacketResult::check(SEQUENCE_ERROR);
                };
                if !up.covered.iter().all(|&c| c) {
                    return PacketResult::check(SEQUENCE_ERROR);
                }
                let image = up.buffer[hdr..].to_vec();
                let want = u16::from_be_bytes([up.buffer[hdr - 2], up.buffer[hdr - 1]]);
                if crate::firmware::sum16(&image) != want {
                    return PacketResult::check(INVALID_PARAMETER);
                }
                // The drive rewrites its whole flash: chip erase + every program unit.
                let info = self.flash.info();
                let erase = info.chip_eraser().map(|e| e.time.us).unwrap_or(0);
                let units = (size as u64).div_ceil(info.program_unit() as u64);
                let dur_ns = (erase + units * info.program.us) * 1000 + inference::BOOT_NS;
                self.updating = Some((now + dur_ns, image));
                PacketResult::good(Vec::new())
            }
            _ => PacketResult::check(INVALID_FIELD),
        }
    }

    /// The self-reflash is done: new flash content, reboot, UNIT ATTENTION pending.
    pub fn finish_update(&mut self, image: Vec<u8>) {
        *self.flash.mem_mut() = image;
        self.boot();
        self.unit_attention = true;
    }

    /// IDENTIFY PACKET DEVICE data, 256 words.
    pub fn identify_packet(&self) -> [u16; 256] {
        let mut w = [0u16; 256];
        // ATAPI, CD/DVD (type 5), removable, DRQ within 50 us, 12-byte packets.
        w[0] = 0x85C0;
        let put = |w: &mut [u16; 256], first: usize, words: usize, s: &str| {
            let mut b: Vec<u8> = s.bytes().take(words * 2).collect();
            b.resize(words * 2, b' ');
            for i in 0..words {
                w[first + i] = (b[2 * i] as u16) << 8 | b[2 * i + 1] as u16;
            }
        };
        let inq = self.inquiry_data();
        let field =
            |r: std::ops::Range<usize>| String::from_utf8_lossy(&inq[r]).trim_end().to_string();
        put(&mut w, 10, 10, "MTKSIM0001");
        put(&mut w, 23, 4, &field(32..36));
        put(
            &mut w,
            27,
            20,
            &format!("{} {}", field(8..16), field(16..32)),
        );
        w[49] = 0x0200; // LBA supported; no DMA in the model
        w[80] = 0x007E; // ATA/ATAPI-1..6
        w
    }

    /// Parallel flash byte read through vendor command 0x00.
    pub fn vendor_read(&mut self, addr: u32, now: u64) -> u8 {
        match &mut self.flash {
            Flash::Parallel(c) => c.read(addr, now),
            Flash::Spi(_) => 0xFF,
        }
    }

    /// Parallel flash byte write through vendor command 0x01.
    pub fn vendor_write(&mut self, addr: u32, val: u8, now: u64) {
        if let Flash::Parallel(c) = &mut self.flash {
            c.write(addr, val, now);
        }
    }

    /// SPI bridge, command 0x04: chip select low, clock out `tx` staged bytes from the
    /// staging area, clock in `rx` bytes after them (inference I3/I4). The bridge does
    /// what the registers say, whatever the lengths; drive memory wraps at 64 KiB. The
    /// rest of the staging area, up to the longest transfer, is left undefined (noise
    /// from `noise`): the drive's firmware owns that memory between transfers (I16).
    /// Returns the time the transfer took.
    pub fn spi_transfer(&mut self, tx: usize, rx: usize, now: u64, noise: u64) -> u64 {
        let (base, _) = self.bridge();
        let Flash::Spi(c) = &mut self.flash else {
            return 0;
        };
        let at = |i: usize| (base + i) & 0xFFFF;
        c.select(now);
        for i in 0..tx {
            c.transfer(self.xram[at(i)], now);
        }
        for i in 0..rx {
            self.xram[at(tx + i)] = c.transfer(0x00, now);
        }
        let mut n = crate::rng::SplitMix(noise);
        for i in tx + rx..inference::SPI_MAX_TRANSFER {
            self.xram[at(i)] = n.next_u64() as u8;
        }
        (tx + rx) as u64 * super::timing::SPI_BYTE_NS
    }

    /// SPI bridge, command 0x05: chip select high.
    pub fn spi_end(&mut self, now: u64) {
        if let Flash::Spi(c) = &mut self.flash {
            c.deselect(now);
        }
    }
}

#[cfg(test)]
mod tests;
