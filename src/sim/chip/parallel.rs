//! JEDEC parallel NOR (SST39, Am29, MX29, EN29, M29W, Pm39) and the W29C020 page-write
//! EEPROM, as seen on their byte-wide bus.
//!
//! Command cycles: AA@a1, 55@a2, then A0 (program), 90 (ID), 80 + AA 55 + 30/50/10
//! (sector / block / chip erase); F0 anywhere resets. Unlock addresses are compared on the
//! address bits the chip decodes (`Unlock::mask`). While an operation runs, reads return
//! DQ7 = complement of the programmed bit 7 (0 while erasing) and DQ6 toggling on every
//! read; writes are ignored.

use super::{partial_erase, us, ChipStats};
use crate::chips::{ChipInfo, WriteMode};

/// W29C020 byte-load timeout: a page write starts when no byte is loaded for this long
/// (datasheet tBLCO 200 us, F).
const PAGE_LOAD_TIMEOUT_NS: u64 = 200_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    Read,
    Unlock1,
    Unlock2,
    Program,
    Erase1,
    Erase2,
    Erase3,
}

#[derive(Clone, Debug)]
enum Pending {
    Program { addr: usize, data: u8 },
    Page { base: usize, bytes: Vec<Option<u8>> },
    Erase { start: usize, len: usize },
}

#[derive(Clone, Debug)]
struct Busy {
    from: u64,
    until: u64,
    op: Pending,
}

#[derive(Clone, Debug)]
struct PageLoad {
    base: usize,
    bytes: Vec<Option<u8>>,
    last_ns: u64,
}

#[derive(Clone, Debug)]
pub struct JedecChip {
    pub info: &'static ChipInfo,
    pub mem: Vec<u8>,
    cmd: Cmd,
    id_mode: bool,
    busy: Option<Busy>,
    page: Option<PageLoad>,
    toggle: u8,
    pub stats: ChipStats,
    /// Fault hooks: bits that never program, ranges an erase leaves as they were, and a
    /// chip stuck busy until power is cut.
    pub stuck_bits: Vec<(usize, u8)>,
    pub erase_fail: Vec<(usize, usize)>,
    pub stuck: bool,
}

impl JedecChip {
    pub fn new(info: &'static ChipInfo, mem: Vec<u8>) -> Self {
        assert_eq!(mem.len(), info.size as usize, "{}: content size", info.name);
        JedecChip {
            info,
            mem,
            cmd: Cmd::Read,
            id_mode: false,
            busy: None,
            page: None,
            toggle: 0,
            stats: ChipStats::default(),
            stuck_bits: Vec::new(),
            erase_fail: Vec::new(),
            stuck: false,
        }
    }

    fn is(&self, addr: u32, want: u32) -> bool {
        (addr & self.info.unlock().mask) == (want & self.info.unlock().mask)
    }

    /// Apply a finished operation, and start a page write whose load window closed.
    pub fn settle(&mut self, now: u64) {
        if let Some(p) = &self.page {
            if now >= p.last_ns + PAGE_LOAD_TIMEOUT_NS && self.busy.is_none() {
                let p = self.page.take().expect("page");
                let from = p.last_ns + PAGE_LOAD_TIMEOUT_NS;
                self.busy = Some(Busy {
                    from,
                    until: from + us(self.info.program.us),
                    op: Pending::Page {
                        base: p.base,
                        bytes: p.bytes,
                    },
                });
            }
        }
        if let Some(b) = &self.busy {
            if now >= b.until {
                let b = self.busy.take().expect("busy");
                self.apply(b.op);
                // A page write may itself have been queued behind nothing else; done.
            }
        }
    }

    fn apply(&mut self, op: Pending) {
        match op {
            Pending::Program { addr, data } => {
                let mut v = data;
                for &(a, mask) in &self.stuck_bits {
                    if a == addr {
                        v |= mask;
                    }
                }
                self.mem[addr] &= v;
            }
            Pending::Page { base, bytes } => {
                for (i, b) in bytes.iter().enumerate() {
                    self.mem[base + i] = b.unwrap_or(0xFF);
                }
            }
            Pending::Erase { start, len } => {
                super::erase_except(&mut self.mem, start, len, &self.erase_fail)
            }
        }
    }

    pub fn is_busy(&mut self, now: u64) -> bool {
        self.settle(now);
        self.stuck || self.busy.is_some() || self.page.is_some()
    }

    /// Time at which the current operation ends, if any.
    pub fn busy_until(&self) -> Option<u64> {
        self.busy.as_ref().map(|b| b.until)
    }

    fn start(&mut self, now: u64, dur_us: u64, op: Pending) {
        self.busy = Some(Busy {
            from: now,
            until: now + us(dur_us),
            op,
        });
    }

    pub fn read(&mut self, addr: u32, now: u64) -> u8 {
        self.settle(now);
        if self.stuck {
            self.toggle ^= 0x40;
            return self.toggle;
        }
        if self.page.is_some() {
            // A read ends the byte-load phase: the page write starts now.
            let p = self.page.take().expect("page");
            self.start(
                now,
                self.info.program.us,
                Pending::Page {
                    base: p.base,
                    bytes: p.bytes,
                },
            );
        }
        if let Some(b) = &self.busy {
            self.toggle ^= 0x40;
            let dq7 = match &b.op {
                Pending::Program { data, .. } => !data & 0x80,
                Pending::Page { bytes, .. } => {
                    !bytes.iter().rev().flatten().next().copied().unwrap_or(0xFF) & 0x80
                }
                Pending::Erase { .. } => 0,
            };
            return dq7 | self.toggle;
        }
        let addr = addr as usize % self.mem.len();
        if self.id_mode {
            let (mfr, dev) = match self.info.id() {
                crate::chips::ChipId::Jedec { mfr, dev } => (mfr, dev),
                _ => unreachable!("parallel chip with SPI id"),
            };
            let a = addr as u32 & 0x1FF;
            return if a == 0 {
                if mfr > 0xFF {
                    (mfr >> 8) as u8
                } else {
                    mfr as u8
                }
            } else if a == 0x100 && mfr > 0xFF {
                mfr as u8
            } else if a == self.info.unlock().dev_addr {
                dev
            } else {
                0
            };
        }
        self.mem[addr]
    }

    pub fn write(&mut self, addr: u32, val: u8, now: u64) {
        self.settle(now);
        if self.busy.is_some() || self.stuck {
            return; // ignored during an embedded operation
        }
        if let Some(p) = &mut self.page {
            // W29C020 byte load: same page continues the load.
            let a = addr as usize % self.mem.len();
            if a / p.bytes.len() == p.base / p.bytes.len() {
                p.bytes[a - p.base] = Some(val);
                p.last_ns = now;
                return;
            }
            let p = self.page.take().expect("page");
            self.start(
                now,
                self.info.program.us,
                Pending::Page {
                    base: p.base,
                    bytes: p.bytes,
                },
            );
            return;
        }
        if val == 0xF0 && self.cmd != Cmd::Program {
            self.cmd = Cmd::Read;
            self.id_mode = false;
            return;
        }
        let a1 = self.info.unlock().a1;
        let a2 = self.info.unlock().a2;
        self.cmd = match self.cmd {
            Cmd::Program => {
                self.program(addr as usize % self.mem.len(), val, now);
                Cmd::Read
            }
            Cmd::Erase3 => {
                self.erase(addr, val, now);
                Cmd::Read
            }
            Cmd::Erase1 if val == 0xAA && self.is(addr, a1) => Cmd::Erase2,
            Cmd::Erase2 if val == 0x55 && self.is(addr, a2) => Cmd::Erase3,
            Cmd::Unlock1 if val == 0x55 && self.is(addr, a2) => Cmd::Unlock2,
            Cmd::Unlock2 if self.is(addr, a1) => match val {
                0xA0 => Cmd::Program,
                0x90 => {
                    self.id_mode = true;
                    Cmd::Read
                }
                0x80 => Cmd::Erase1,
                _ => Cmd::Read,
            },
            _ if val == 0xAA && self.is(addr, a1) => Cmd::Unlock1,
            _ => Cmd::Read,
        };
    }

    fn program(&mut self, addr: usize, val: u8, now: u64) {
        self.stats.program_ops += 1;
        self.stats.bytes_programmed += 1;
        match self.info.write {
            WriteMode::JedecPage { page } => {
                let page = page as usize;
                let base = addr / page * page;
                let mut bytes = vec![None; page];
                bytes[addr - base] = Some(val);
                self.page = Some(PageLoad {
                    base,
                    bytes,
                    last_ns: now,
                });
            }
            _ => self.start(
                now,
                self.info.program.us,
                Pending::Program { addr, data: val },
            ),
        }
    }

    fn erase(&mut self, addr: u32, val: u8, now: u64) {
        let size = self.info.size;
        let eraser = self.info.erasers.iter().find(|e| {
            e.cmd == val && (!e.is_chip_erase(size) || self.is(addr, self.info.unlock().a1))
        });
        let Some(e) = eraser else {
            self.stats.refused += 1;
            return;
        };
        let (start, len) = e.unit_at(addr % size).expect("address inside chip");
        self.stats.erase_ops += 1;
        self.stats.bytes_erased += len as u64;
        self.start(
            now,
            e.time.us,
            Pending::Erase {
                start: start as usize,
                len: len as usize,
            },
        );
    }

    /// Power is cut at `now`: an operation in flight is left partial, command state lost.
    pub fn power_cut(&mut self, now: u64, seed: u64) {
        self.stuck = false;
        self.page = None; // an unstarted page load is lost
        if let Some(b) = self.busy.take() {
            if now >= b.until {
                self.apply(b.op);
            } else {
                let frac = now.saturating_sub(b.from) as f64 / (b.until - b.from).max(1) as f64;
                match b.op {
                    Pending::Program { addr, data } => {
                        // Some of the bits that should clear have cleared.
                        let clear = !data & self.mem[addr];
                        self.mem[addr] &= !(clear & (seed as u8));
                    }
                    Pending::Page { base, bytes } => {
                        // The page was erased first, then partly written.
                        let n = (bytes.len() as f64 * frac) as usize;
                        for (i, b) in bytes.iter().enumerate() {
                            self.mem[base + i] = if i < n { b.unwrap_or(0xFF) } else { 0xFF };
                        }
                    }
                    Pending::Erase { start, len } => {
                        partial_erase(&mut self.mem, start, len, frac, seed)
                    }
                }
            }
        }
        self.cmd = Cmd::Read;
        self.id_mode = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chips::by_name;

    struct Bus {
        chip: JedecChip,
        t: u64,
    }
    impl Bus {
        fn new(name: &str) -> Bus {
            let info = by_name(name).unwrap();
            Bus {
                chip: JedecChip::new(info, vec![0xFF; info.size as usize]),
                t: 0,
            }
        }
        fn w(&mut self, a: u32, v: u8) {
            self.t += 1_000;
            self.chip.write(a, v, self.t);
        }
        fn r(&mut self, a: u32) -> u8 {
            self.t += 1_000;
            self.chip.read(a, self.t)
        }
        fn cmd(&mut self, c: u8) {
            let u = self.chip.info.unlock();
            self.w(u.a1, 0xAA);
            self.w(u.a2, 0x55);
            self.w(u.a1, c);
        }
        fn wait(&mut self, ns: u64) {
            self.t += ns;
            self.chip.settle(self.t);
        }
    }

    #[test]
    fn id_mode_reads_manufacturer_and_device_then_f0_leaves() {
        let mut b = Bus::new("SST39VF080");
        b.chip.mem[0] = 0x02;
        b.chip.mem[1] = 0x33;
        b.cmd(0x90);
        assert_eq!((b.r(0), b.r(1)), (0xBF, 0xD8));
        b.w(0, 0xF0);
        assert_eq!((b.r(0), b.r(1)), (0x02, 0x33));
    }

    #[test]
    fn amd_chip_decodes_555_and_also_accepts_5555() {
        let mut b = Bus::new("Am29LV040B");
        b.w(0x5555, 0xAA);
        b.w(0x2AAA, 0x55);
        b.w(0x5555, 0x90);
        assert_eq!((b.r(0), b.r(1)), (0x01, 0x4F));
        // An SST part decodes A14..A0: 555/2AA is not an unlock for it.
        let mut s = Bus::new("SST39SF040");
        s.w(0x555, 0xAA);
        s.w(0x2AA, 0x55);
        s.w(0x555, 0x90);
        assert_eq!(s.r(0), 0xFF);
    }

    #[test]
    fn eon_continuation_code_and_byte_mode_device_address() {
        let mut b = Bus::new("EN29LV040");
        b.cmd(0x90);
        assert_eq!((b.r(0), b.r(0x100), b.r(1)), (0x7F, 0x1C, 0x4F));
        let mut w = Bus::new("Am29LV800BB");
        // 5555/2AAA is not an unlock in byte mode (AAA/555 is).
        w.w(0x5555, 0xAA);
        w.w(0x2AAA, 0x55);
        w.w(0x5555, 0x90);
        assert_eq!(w.r(0), 0xFF);
        w.cmd(0x90);
        assert_eq!((w.r(0), w.r(2)), (0x01, 0x5B));
    }

    #[test]
    fn program_ands_into_cells_and_shows_busy_status() {
        let mut b = Bus::new("SST39SF040");
        b.chip.mem[0x1234] = 0xF0;
        b.cmd(0xA0);
        b.w(0x1234, 0x3C);
        // DQ7 = complement of bit 7 of the data (0x3C -> 1), DQ6 toggles.
        let s1 = b.r(0x1234);
        let s2 = b.r(0x1234);
        assert_eq!(s1 & 0x80, 0x80);
        assert_ne!(s1 & 0x40, s2 & 0x40);
        b.wait(14_000);
        assert_eq!(b.r(0x1234), 0x30, "AND of F0 and 3C");
        // Programming cannot turn 0s into 1s.
        b.cmd(0xA0);
        b.w(0x1234, 0xFF);
        b.wait(20_000);
        assert_eq!(b.r(0x1234), 0x30);
    }

    #[test]
    fn writes_during_busy_are_ignored() {
        let mut b = Bus::new("SST39SF040");
        b.cmd(0xA0);
        b.w(0x10, 0x00);
        b.cmd(0xA0);
        b.w(0x11, 0x00);
        b.wait(50_000);
        assert_eq!((b.r(0x10), b.r(0x11)), (0x00, 0xFF));
    }

    #[test]
    fn sector_block_and_chip_erase_granularity() {
        let mut b = Bus::new("SST39VF080");
        b.chip.mem.fill(0x00);
        b.cmd(0x80);
        b.w(0x5555, 0xAA);
        b.w(0x2AAA, 0x55);
        b.w(0x3456, 0x30); // 4 KiB sector 0x3000..0x3FFF
        assert_eq!(b.r(0x3000) & 0x80, 0, "DQ7 = 0 while erasing");
        b.wait(18_000_000);
        assert_eq!(b.r(0x3000), 0xFF);
        assert_eq!(b.r(0x3FFF), 0xFF);
        assert_eq!((b.r(0x2FFF), b.r(0x4000)), (0x00, 0x00));
        b.cmd(0x80);
        b.w(0x5555, 0xAA);
        b.w(0x2AAA, 0x55);
        b.w(0x2_1234, 0x50); // 64 KiB block 0x20000..0x2FFFF
        b.wait(18_000_000);
        assert!(b.chip.mem[0x20000..0x30000].iter().all(|&x| x == 0xFF));
        assert_eq!((b.chip.mem[0x1FFFF], b.chip.mem[0x30000]), (0, 0));
        b.cmd(0x80);
        b.w(0x5555, 0xAA);
        b.w(0x2AAA, 0x55);
        b.w(0x5555, 0x10);
        b.wait(69_000_000);
        assert!(b.chip.is_busy(b.t));
        b.wait(1_000_000);
        assert!(b.chip.mem.iter().all(|&x| x == 0xFF));
    }

    #[test]
    fn amd_64k_sector_and_boot_block_layouts() {
        let mut b = Bus::new("Am29LV040B");
        b.chip.mem.fill(0);
        b.cmd(0x80);
        b.w(0x555, 0xAA);
        b.w(0x2AA, 0x55);
        b.w(0x1000, 0x30);
        b.wait(700_000_000);
        assert!(b.chip.mem[..0x10000].iter().all(|&x| x == 0xFF));
        assert_eq!(b.chip.mem[0x10000], 0);
        let mut bb = Bus::new("Am29LV800BB");
        bb.chip.mem.fill(0);
        bb.cmd(0x80);
        bb.w(0xAAA, 0xAA);
        bb.w(0x555, 0x55);
        bb.w(0x4100, 0x30); // second sector: 8 KiB at 0x4000
        bb.wait(700_000_000);
        assert!(bb.chip.mem[0x4000..0x6000].iter().all(|&x| x == 0xFF));
        assert_eq!((bb.chip.mem[0x3FFF], bb.chip.mem[0x6000]), (0, 0));
    }

    #[test]
    fn w29c020_page_write_replaces_the_whole_page() {
        let mut b = Bus::new("W29C020");
        b.chip.mem.fill(0x11);
        b.cmd(0xA0);
        b.w(0x100, 0xAB);
        b.w(0x101, 0xCD);
        // Load window closes after 200 us without a write; the write takes 10 ms.
        b.wait(200_000);
        let s = b.r(0x101);
        assert_eq!(s & 0x80, !0xCD & 0x80, "DQ7 polling on the last byte");
        b.wait(10_000_000);
        assert_eq!(
            (b.r(0x100), b.r(0x101), b.r(0x102), b.r(0x17F)),
            (0xAB, 0xCD, 0xFF, 0xFF)
        );
        assert_eq!(
            (b.r(0xFF), b.r(0x180)),
            (0x11, 0x11),
            "neighbouring pages untouched"
        );
        assert_eq!(b.chip.stats.erase_ops, 0);
    }

    #[test]
    fn power_cut_during_erase_leaves_a_partial_sector() {
        let mut b = Bus::new("SST39SF040");
        b.chip.mem.fill(0);
        b.cmd(0x80);
        b.w(0x5555, 0xAA);
        b.w(0x2AAA, 0x55);
        b.w(0x0000, 0x30);
        b.wait(9_000_000);
        b.chip.power_cut(b.t, 0x5A5A);
        let erased = b.chip.mem[..0x1000].iter().filter(|&&x| x == 0xFF).count();
        assert!(erased > 0 && erased < 0x1000, "{erased}");
        assert!(!b.chip.is_busy(b.t));
    }

    #[test]
    fn stuck_bits_never_program() {
        let mut b = Bus::new("SST39SF040");
        b.chip.stuck_bits.push((0x20, 0x01));
        b.cmd(0xA0);
        b.w(0x20, 0x00);
        b.wait(20_000);
        assert_eq!(b.r(0x20), 0x01);
    }
}
