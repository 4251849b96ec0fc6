//! SPI NOR flash as seen on its four wires: chip select, then bytes clocked in and out.
//!
//! Read-type commands answer while the bytes are clocked (RDID 9F, REMS 90, RES AB,
//! RDSR 05, READ 03, FAST READ 0B); write-type commands take effect when chip select
//! rises (WREN 06, WRDI 04, EWSR 50, WRSR 01, PP 02, AAI AD, the chip's erase opcodes).
//! Program, erase and WRSR need WEL and clear it; while WIP only RDSR is answered;
//! block-protect bits refuse writes to the protected range.

use super::{partial_erase, us, ChipStats};
use crate::chips::{ChipId, ChipInfo, WriteMode};

/// Status register bits.
pub const WIP: u8 = 0x01;
pub const WEL: u8 = 0x02;
/// WRSR busy time (M: not in the source table; a few ms is typical of these parts).
const WRSR_US: u64 = 5_000;

#[derive(Clone, Debug)]
enum Pending {
    Program { addr: usize, bytes: Vec<u8> },
    Erase { start: usize, len: usize },
    Status(u8),
}

#[derive(Clone, Debug)]
struct Busy {
    from: u64,
    until: u64,
    op: Pending,
}

#[derive(Clone, Debug)]
pub struct SpiChip {
    pub info: &'static ChipInfo,
    pub mem: Vec<u8>,
    /// Non-volatile and volatile status bits other than WIP/WEL.
    sr: u8,
    wel: bool,
    ewsr: bool,
    aai: Option<usize>,
    busy: Option<Busy>,
    selected: bool,
    /// Bytes clocked in during this chip-select cycle.
    rx: Vec<u8>,
    /// The first byte arrived while busy: the whole cycle is ignored unless it is RDSR.
    ignored: bool,
    pub stats: ChipStats,
    /// Fault hooks (see sim::fault).
    pub stuck_bits: Vec<(usize, u8)>,
    pub erase_fail: Vec<(usize, usize)>,
    pub stuck: bool,
}

impl SpiChip {
    pub fn new(info: &'static ChipInfo, mem: Vec<u8>) -> Self {
        assert_eq!(mem.len(), info.size as usize, "{}: content size", info.name);
        SpiChip {
            info,
            mem,
            sr: info.spi_status().powerup,
            wel: false,
            ewsr: false,
            aai: None,
            busy: None,
            selected: false,
            rx: Vec::new(),
            ignored: false,
            stats: ChipStats::default(),
            stuck_bits: Vec::new(),
            erase_fail: Vec::new(),
            stuck: false,
        }
    }

    pub fn settle(&mut self, now: u64) {
        if matches!(&self.busy, Some(b) if now >= b.until) {
            let b = self.busy.take().expect("busy");
            self.apply(b.op);
        }
    }

    fn apply(&mut self, op: Pending) {
        match op {
            Pending::Program { addr, bytes } => {
                let page = self.page_len();
                for (i, &v) in bytes.iter().enumerate() {
                    let a = match self.info.write {
                        WriteMode::SpiPage { .. } => {
                            (addr & !(page - 1)) | ((addr + i) & (page - 1))
                        }
                        _ => addr + i,
                    } % self.mem.len();
                    let mut v = v;
                    for &(sa, mask) in &self.stuck_bits {
                        if sa == a {
                            v |= mask;
                        }
                    }
                    self.mem[a] &= v;
                }
            }
            Pending::Erase { start, len } => {
                super::erase_except(&mut self.mem, start, len, &self.erase_fail)
            }
            Pending::Status(v) => self.sr = v,
        }
    }

    fn page_len(&self) -> usize {
        match self.info.write {
            WriteMode::SpiPage { page } => page as usize,
            _ => 1,
        }
    }

    pub fn is_busy(&mut self, now: u64) -> bool {
        self.settle(now);
        self.stuck || self.busy.is_some()
    }

    pub fn busy_until(&self) -> Option<u64> {
        self.busy.as_ref().map(|b| b.until)
    }

    /// The status register as RDSR returns it.
    pub fn status(&mut self, now: u64) -> u8 {
        self.settle(now);
        let wip = if self.busy.is_some() || self.stuck {
            WIP
        } else {
            0
        };
        let wel = if self.wel { WEL } else { 0 };
        (self.sr & !(WIP | WEL)) | wip | wel
    }

    /// Bytes [start, end) protected by the BP bits. Generic map: with n BP bits, value
    /// all-ones protects everything and value k protects the top size >> (2^n - 1 - k).
    /// Chips differ in the exact map; the flasher only ever clears BP bits, so the model
    /// keeps the generic one.
    pub fn protected(&self) -> (usize, usize) {
        let mask = self.info.spi_status().bp_mask;
        if mask == 0 {
            return (0, 0);
        }
        let bp = (self.sr & mask) >> mask.trailing_zeros();
        let max = mask >> mask.trailing_zeros();
        let size = self.mem.len();
        match bp {
            0 => (size, size),
            b if b == max => (0, size),
            b => {
                let len = size >> (max - b).min(31);
                (size - len, size)
            }
        }
    }

    fn overlaps_protection(&self, start: usize, len: usize) -> bool {
        let (ps, pe) = self.protected();
        start < pe && start + len > ps
    }

    pub fn select(&mut self, now: u64) {
        self.settle(now);
        self.selected = true;
        self.rx.clear();
        self.ignored = false;
    }

    /// Clock one byte in (MOSI) and one out (MISO).
    pub fn transfer(&mut self, mosi: u8, now: u64) -> u8 {
        if !self.selected {
            return 0xFF;
        }
        self.settle(now);
        if self.rx.is_empty() && (self.busy.is_some() || self.stuck) && mosi != 0x05 {
            self.ignored = true;
        }
        self.rx.push(mosi);
        if self.ignored {
            return 0xFF;
        }
        let pos = self.rx.len() - 1; // index of this byte; 0 = opcode
        let op = self.rx[0];
        let addr = |rx: &[u8]| {
            ((rx[1] as usize) << 16 | (rx[2] as usize) << 8 | rx[3] as usize) % self.mem.len()
        };
        let (rdid, rems, res) = match self.info.id() {
            ChipId::Spi { rdid, rems, res } => (rdid, rems, res),
            _ => unreachable!("SPI chip with JEDEC id"),
        };
        if self.aai.is_some() && !matches!(op, 0x05 | 0x04 | 0xAD) {
            return 0xFF; // in AAI mode only RDSR, WRDI and AD are answered
        }
        match op {
            0x9F if pos >= 1 => rdid
                .map(|r| r.get(pos - 1).copied().unwrap_or(0))
                .unwrap_or(0xFF),
            0x90 if pos >= 4 => {
                let first_dev = self.rx[3] & 1 == 1;
                if (pos - 4).is_multiple_of(2) ^ first_dev {
                    rems.0
                } else {
                    rems.1
                }
            }
            0xAB if pos >= 4 => res,
            0x05 if pos >= 1 => self.status(now),
            0x03 if pos >= 4 => self.mem[(addr(&self.rx) + pos - 4) % self.mem.len()],
            0x0B if pos >= 5 => self.mem[(addr(&self.rx) + pos - 5) % self.mem.len()],
            _ => 0xFF,
        }
    }

    pub fn deselect(&mut self, now: u64) {
        if !self.selected {
            return;
        }
        self.selected = false;
        self.settle(now);
        if self.ignored || self.rx.is_empty() || self.busy.is_some() || self.stuck {
            return;
        }
        let rx = std::mem::take(&mut self.rx);
        let op = rx[0];
        let addr = |rx: &[u8]| {
            ((rx[1] as usize) << 16 | (rx[2] as usize) << 8 | rx[3] as usize) % self.mem.len()
        };
        if let Some(next) = self.aai {
            match op {
                0x04 => {
                    self.aai = None;
                    self.wel = false;
                }
                0xAD if rx.len() == 3 => {
                    self.aai = Some(next + 2);
                    self.program(next, rx[1..3].to_vec(), now);
                }
                _ => {}
            }
            return;
        }
        match op {
            0x06 => self.wel = true,
            0x04 => self.wel = false,
            0x50 if self.info.spi_status().ewsr => self.ewsr = true,
            0x01 if rx.len() >= 2 && (self.wel || self.ewsr) => {
                let keep = WIP | WEL;
                let v = rx[1] & !keep;
                self.wel = false;
                self.ewsr = false;
                self.busy = Some(Busy {
                    from: now,
                    until: now + us(WRSR_US),
                    op: Pending::Status(v),
                });
            }
            0x02 if rx.len() >= 5 && self.wel => {
                let a = addr(&rx);
                let data: Vec<u8> = match self.info.write {
                    WriteMode::SpiPage { page } => {
                        let d = &rx[4..];
                        d[d.len().saturating_sub(page as usize)..].to_vec()
                    }
                    // Byte-program parts (and SST parts' 02) take one byte.
                    _ => rx[4..5].to_vec(),
                };
                self.wel = false;
                if self.overlaps_protection(
                    a & !(self.page_len() - 1),
                    self.page_len().max(data.len()),
                ) {
                    self.stats.refused += 1;
                    return;
                }
                self.program(a, data, now);
            }
            0xAD if rx.len() == 6 && self.wel && self.info.write == WriteMode::SpiAaiWord => {
                let a = addr(&rx) & !1;
                if self.overlaps_protection(a, 2) {
                    self.wel = false;
                    self.stats.refused += 1;
                    return;
                }
                self.aai = Some(a + 2);
                self.program(a, rx[4..6].to_vec(), now);
            }
            _ => {
                let size = self.info.size;
                let eraser = self.info.erasers.iter().find(|e| e.cmd == op);
                if let (Some(e), true) = (eraser, self.wel) {
                    let chip = e.is_chip_erase(size);
                    if !chip && rx.len() < 4 {
                        return;
                    }
                    let a = if chip { 0 } else { addr(&rx) as u32 };
                    let (start, len) = e.unit_at(a).expect("inside chip");
                    self.wel = false;
                    if self.overlaps_protection(start as usize, len as usize) {
                        self.stats.refused += 1;
                        return;
                    }
                    self.stats.erase_ops += 1;
                    self.stats.bytes_erased += len as u64;
                    self.busy = Some(Busy {
                        from: now,
                        until: now + us(e.time.us),
                        op: Pending::Erase {
                            start: start as usize,
                            len: len as usize,
                        },
                    });
                }
            }
        }
    }

    fn program(&mut self, addr: usize, bytes: Vec<u8>, now: u64) {
        if self.aai.is_none() {
            self.wel = false;
        }
        self.stats.program_ops += 1;
        self.stats.bytes_programmed += bytes.len() as u64;
        self.busy = Some(Busy {
            from: now,
            until: now + us(self.info.program.us),
            op: Pending::Program { addr, bytes },
        });
    }

    /// Power is cut at `now`: an operation in flight is left partial; volatile state is
    /// lost and the status register returns to its power-up value.
    pub fn power_cut(&mut self, now: u64, seed: u64) {
        self.stuck = false;
        if let Some(b) = self.busy.take() {
            if now >= b.until {
                self.apply(b.op);
            } else {
                let frac = now.saturating_sub(b.from) as f64 / (b.until - b.from).max(1) as f64;
                match b.op {
                    Pending::Program { addr, bytes } => {
                        let n = (bytes.len() as f64 * frac) as usize;
                        self.apply(Pending::Program {
                            addr,
                            bytes: bytes[..n].to_vec(),
                        });
                    }
                    Pending::Erase { start, len } => {
                        partial_erase(&mut self.mem, start, len, frac, seed)
                    }
                    Pending::Status(_) => {}
                }
            }
        }
        self.sr = self.info.spi_status().powerup;
        self.wel = false;
        self.ewsr = false;
        self.aai = None;
        self.selected = false;
        self.rx.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chips::by_name;

    struct Bus {
        chip: SpiChip,
        t: u64,
    }
    impl Bus {
        fn new(name: &str) -> Bus {
            let info = by_name(name).unwrap();
            let mut chip = SpiChip::new(info, vec![0xFF; info.size as usize]);
            chip.sr = 0; // unprotected unless a test says otherwise
            Bus { chip, t: 0 }
        }
        fn xfer(&mut self, tx: &[u8], rx_len: usize) -> Vec<u8> {
            self.t += 1_000;
            self.chip.select(self.t);
            for &b in tx {
                self.chip.transfer(b, self.t);
            }
            let out = (0..rx_len).map(|_| self.chip.transfer(0, self.t)).collect();
            self.chip.deselect(self.t);
            out
        }
        fn sr(&mut self) -> u8 {
            self.xfer(&[0x05], 1)[0]
        }
        fn wait_idle(&mut self) -> u64 {
            let start = self.t;
            while self.sr() & WIP != 0 {
                self.t += 10_000;
            }
            self.t - start
        }
    }

    #[test]
    fn ids_rdid_rems_res() {
        let mut b = Bus::new("MX25L8005");
        assert_eq!(b.xfer(&[0x9F], 3), [0xC2, 0x20, 0x14]);
        assert_eq!(b.xfer(&[0x90, 0, 0, 0], 2), [0xC2, 0x13]);
        assert_eq!(b.xfer(&[0x90, 0, 0, 1], 2), [0x13, 0xC2]);
        assert_eq!(b.xfer(&[0xAB, 0, 0, 0], 1), [0x13]);
        let mut p = Bus::new("W25P20");
        assert_eq!(p.xfer(&[0x9F], 3), [0xFF, 0xFF, 0xFF], "no RDID on W25P20");
        assert_eq!(p.xfer(&[0x90, 0, 0, 0], 2), [0xEF, 0x11]);
        let mut w = Bus::new("W25P80");
        assert_eq!(w.xfer(&[0x9F], 3), [0xEF, 0x20, 0x14], "RDID, as flashrom");
        let mut a = Bus::new("A25L20PU");
        assert_eq!(a.xfer(&[0x9F], 4), [0x7F, 0x37, 0x20, 0x12]);
    }

    #[test]
    fn page_program_needs_wel_ands_and_wraps_in_the_page() {
        let mut b = Bus::new("MX25L8005");
        b.xfer(&[0x02, 0, 0x01, 0x00, 0x00], 0);
        assert_eq!(b.chip.stats.program_ops, 0, "no WEL: ignored");
        b.xfer(&[0x06], 0);
        assert_eq!(b.sr() & WEL, WEL);
        let mut tx = vec![0x02, 0x00, 0x01, 0xFE];
        tx.extend_from_slice(&[0x11, 0x22, 0x33, 0x44]);
        b.xfer(&tx, 0);
        assert_eq!(b.sr() & (WIP | WEL), WIP, "busy, WEL cleared at start");
        assert_eq!(
            b.xfer(&[0x03, 0, 1, 0xFE], 2),
            [0xFF, 0xFF],
            "reads ignored while busy"
        );
        let t = b.wait_idle();
        assert!(t >= 1_390_000, "page program takes its time: {t}");
        assert_eq!(b.xfer(&[0x03, 0, 1, 0xFE], 2), [0x11, 0x22]);
        // 0x33, 0x44 wrapped to the start of the page 0x100.
        assert_eq!(b.xfer(&[0x03, 0, 1, 0x00], 3), [0x33, 0x44, 0xFF]);
        assert_eq!(
            b.xfer(&[0x03, 0, 2, 0x00], 1),
            [0xFF],
            "next page untouched"
        );
        b.xfer(&[0x06], 0);
        b.xfer(&[0x02, 0, 1, 0xFE, 0xF0], 0);
        b.wait_idle();
        assert_eq!(b.xfer(&[0x03, 0, 1, 0xFE], 1), [0x10], "AND");
    }

    #[test]
    fn erase_granularity_and_original_mx25l1605_quirk() {
        let mut b = Bus::new("MX25L1605D");
        b.chip.mem.fill(0);
        b.xfer(&[0x06], 0);
        b.xfer(&[0x20, 0x01, 0x20, 0x00], 0);
        b.wait_idle();
        assert!(b.chip.mem[0x12000..0x13000].iter().all(|&x| x == 0xFF));
        assert_eq!((b.chip.mem[0x11FFF], b.chip.mem[0x13000]), (0, 0));
        let mut o = Bus::new("MX25L1605");
        o.chip.mem.fill(0);
        o.xfer(&[0x06], 0);
        o.xfer(&[0x20, 0x01, 0x20, 0x00], 0);
        o.wait_idle();
        assert!(
            o.chip.mem[0x10000..0x20000].iter().all(|&x| x == 0xFF),
            "20 erased 64 KiB"
        );
        let mut pm = Bus::new("PM25LV020");
        pm.chip.mem.fill(0);
        pm.xfer(&[0x06], 0);
        pm.xfer(&[0x20, 0, 0x10, 0], 0);
        pm.wait_idle();
        assert_eq!(pm.chip.mem[0x1000], 0, "20 is not an erase on PM25LV");
        pm.xfer(&[0x06], 0);
        pm.xfer(&[0xD7, 0, 0x10, 0], 0);
        pm.wait_idle();
        assert!(pm.chip.mem[0x1000..0x2000].iter().all(|&x| x == 0xFF));
        let mut c = Bus::new("W25X80");
        c.chip.mem.fill(0);
        c.xfer(&[0x06], 0);
        c.xfer(&[0xC7], 0);
        c.wait_idle();
        assert!(c.chip.mem.iter().all(|&x| x == 0xFF));
    }

    #[test]
    fn sst_aai_word_program() {
        let mut b = Bus::new("SST25VF080B");
        b.xfer(&[0x06], 0);
        b.xfer(&[0xAD, 0x00, 0x10, 0x00, 0xA1, 0xA2], 0);
        b.wait_idle();
        assert_eq!(
            b.xfer(&[0x05], 1)[0] & WEL,
            WEL,
            "WEL stays set in AAI mode"
        );
        assert_eq!(
            b.xfer(&[0x03, 0, 0, 0], 1),
            [0xFF],
            "reads ignored in AAI mode"
        );
        b.xfer(&[0xAD, 0xB1, 0xB2], 0);
        b.wait_idle();
        b.xfer(&[0x04], 0);
        assert_eq!(b.sr() & WEL, 0);
        assert_eq!(
            b.xfer(&[0x03, 0, 0x10, 0], 5),
            [0xA1, 0xA2, 0xB1, 0xB2, 0xFF]
        );
        assert_eq!(b.chip.stats.program_ops, 2);
    }

    #[test]
    fn sst25_powers_up_protected_and_ewsr_unprotects() {
        let info = by_name("SST25VF040B").unwrap();
        let mut b = Bus {
            chip: SpiChip::new(info, vec![0xFF; info.size as usize]),
            t: 0,
        };
        assert_eq!(b.sr() & 0x3C, 0x3C);
        b.xfer(&[0x06], 0);
        b.xfer(&[0x02, 0, 0, 0, 0x00], 0);
        b.wait_idle();
        assert_eq!(b.chip.stats.refused, 1);
        assert_eq!(b.chip.mem[0], 0xFF);
        b.xfer(&[0x06], 0);
        b.xfer(&[0xC7], 0);
        b.wait_idle();
        assert_eq!(
            b.chip.stats.refused, 2,
            "chip erase refused while protected"
        );
        b.xfer(&[0x50], 0);
        b.xfer(&[0x01, 0x00], 0);
        b.wait_idle();
        assert_eq!(b.sr() & 0x3C, 0);
        b.xfer(&[0x06], 0);
        b.xfer(&[0x02, 0, 0, 0, 0x12], 0);
        b.wait_idle();
        assert_eq!(b.chip.mem[0], 0x12, "SST 02 programs one byte");
    }

    #[test]
    fn partial_protection_covers_the_top() {
        let mut b = Bus::new("MX25L8005");
        b.xfer(&[0x06], 0);
        b.xfer(&[0x01, 0x18], 0); // BP = 6 -> top half
        b.wait_idle();
        assert_eq!(b.chip.protected(), (0x80000, 0x100000));
        b.xfer(&[0x06], 0);
        b.xfer(&[0x02, 0x0F, 0, 0, 0x00], 0);
        b.wait_idle();
        assert_eq!(b.chip.mem[0xF0000], 0xFF);
        b.xfer(&[0x06], 0);
        b.xfer(&[0x02, 0x00, 0, 0, 0x00], 0);
        b.wait_idle();
        assert_eq!(b.chip.mem[0], 0x00);
    }

    #[test]
    fn commands_other_than_rdsr_are_ignored_while_busy() {
        let mut b = Bus::new("MX25L8005");
        b.xfer(&[0x06], 0);
        b.xfer(&[0xD8, 0, 0, 0], 0);
        b.xfer(&[0x06], 0);
        assert_eq!(b.sr() & WEL, 0, "WREN while busy ignored");
        b.wait_idle();
    }

    #[test]
    fn power_cut_resets_volatile_state() {
        let info = by_name("SST25VF080B").unwrap();
        let mut c = SpiChip::new(info, vec![0xFF; info.size as usize]);
        c.sr = 0;
        c.wel = true;
        c.power_cut(0, 1);
        assert_eq!(c.status(0), 0x3C);
    }
}
