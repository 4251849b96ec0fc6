//! The chip drivers (`mtk::flash`) on their own: each talks to a chip model through a
//! bare [`ParallelBus`] or [`SpiBus`] here, with no vendor protocol, task file or drive
//! in between, so a driver bug shows up as a driver bug. Every chip in the table.

use mtkflash::chips::{Bus, ChipInfo, CHIPS};
use mtkflash::clock::{Clock, Timed, VirtualClock};
use mtkflash::mtk::flash::jedec::{self, JedecDriver};
use mtkflash::mtk::flash::spi::{self, SpiDriver};
use mtkflash::mtk::flash::{FlashOps, ParallelBus, SpiBus};
use mtkflash::mtk::vendor::VendorError;
use mtkflash::sim::chip::{JedecChip, SpiChip};

/// One bus cycle on the drive's side: the order of the ATA PIO cycle.
const CYCLE_NS: u64 = 600;

struct ParBus {
    chip: JedecChip,
    clock: VirtualClock,
    cycles: u64,
}

/// The chip's own time: `slow` times slower than the bus clock (a chip working past its
/// datasheet's typical times).
fn chip_ns(clock: &VirtualClock, slow: u64) -> u64 {
    clock.ns() / slow
}

impl Timed for ParBus {
    fn clock(&self) -> &dyn Clock {
        &self.clock
    }
}

impl ParallelBus for ParBus {
    fn read(&mut self, addr: u32) -> Result<u8, VendorError> {
        self.clock.advance_ns(CYCLE_NS);
        self.cycles += 1;
        Ok(self.chip.read(addr, self.clock.ns()))
    }
    fn write(&mut self, addr: u32, v: u8) -> Result<(), VendorError> {
        self.clock.advance_ns(CYCLE_NS);
        self.cycles += 1;
        self.chip.write(addr, v, self.clock.ns());
        Ok(())
    }
}

/// An SPI bus that keeps the longest transfer and counts status reads; its chip runs
/// `slow` times slower than the bus clock.
struct SerBus {
    chip: SpiChip,
    clock: VirtualClock,
    longest: usize,
    slow: u64,
    status_reads: u64,
}

impl Timed for SerBus {
    fn clock(&self) -> &dyn Clock {
        &self.clock
    }
}

impl SpiBus for SerBus {
    fn transfer(&mut self, tx: &[u8], rx_len: usize) -> Result<Vec<u8>, VendorError> {
        self.longest = self.longest.max(tx.len() + rx_len);
        if tx == [0x05] {
            self.status_reads += 1;
        }
        self.clock.advance_ns(CYCLE_NS);
        let now = chip_ns(&self.clock, self.slow);
        self.chip.select(now);
        for &b in tx {
            self.chip.transfer(b, now);
        }
        let rx = (0..rx_len).map(|_| self.chip.transfer(0, now)).collect();
        self.chip.deselect(now);
        Ok(rx)
    }
    fn max_transfer(&self) -> usize {
        260
    }
}

/// Content that is not erased anywhere and differs from byte to byte.
fn content(size: u32, seed: u32) -> Vec<u8> {
    (0..size)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8 & 0xFE)
        .collect()
}

fn chips(bus: Bus) -> impl Iterator<Item = &'static ChipInfo> {
    CHIPS.iter().filter(move |c| c.bus() == bus)
}

/// The finest unit erase (not the chip erase) and the unit containing `addr`.
fn unit_at(c: &ChipInfo, addr: u32) -> Option<(mtkflash::chips::Eraser, u32, u32)> {
    let e = c.unit_erasers().next()?;
    let (s, l) = e.unit_at(addr)?;
    Some((*e, s, l))
}

#[test]
fn jedec_driver_identifies_erases_programs_and_reads_every_parallel_chip() {
    for c in chips(Bus::Parallel) {
        let mem = content(c.size, 7);
        let mut bus = ParBus {
            chip: JedecChip::new(c, mem.clone()),
            clock: VirtualClock::new(),
            cycles: 0,
        };
        let p = jedec::probe(&mut bus).unwrap().expect("an ID");
        assert!(
            p.candidates.iter().any(|k| k.name == c.name),
            "{}: probe found {:?}",
            c.name,
            p.candidates.iter().map(|k| k.name).collect::<Vec<_>>()
        );
        let mut drv = JedecDriver::new(&mut bus, c);
        let mut got = vec![0u8; 0x2000];
        drv.read(0x1000, &mut got).unwrap();
        assert_eq!(got, mem[0x1000..0x3000], "{}: read", c.name);
        // Program a few bytes into an erased unit near the top, leave FF alone.
        let at = c.size - 0x800;
        let data = [0x12, 0xFF, 0x00, 0xA5];
        match unit_at(c, at) {
            Some((e, s, l)) => {
                drv.erase(&e, at).unwrap();
                let mut unit = vec![0u8; l as usize];
                drv.read(s, &mut unit).unwrap();
                assert!(unit.iter().all(|&b| b == 0xFF), "{}: erase", c.name);
                drv.program(at, &data).unwrap();
                let mut back = [0u8; 4];
                drv.read(at, &mut back).unwrap();
                assert_eq!(back, data, "{}: program", c.name);
                // Nothing outside the unit moved.
                let mut below = vec![0u8; 0x100];
                drv.read(s - 0x100, &mut below).unwrap();
                assert_eq!(below, mem[(s - 0x100) as usize..s as usize], "{}", c.name);
            }
            None => {
                // Page-write chips: a program rewrites its pages (FF where data has FF).
                assert!(c.write.page().is_some(), "{}: no unit eraser", c.name);
                drv.program(at, &data).unwrap();
                let mut back = [0u8; 4];
                drv.read(at, &mut back).unwrap();
                assert_eq!(back, data, "{}: page write", c.name);
            }
        }
        assert_eq!(
            bus.chip.mem[at as usize..at as usize + 4],
            data,
            "{}",
            c.name
        );
        assert!(bus.cycles > 0);
    }
}

#[test]
fn spi_driver_identifies_unprotects_erases_programs_and_reads_every_serial_chip() {
    for c in chips(Bus::Spi) {
        let mem = content(c.size, 11);
        let mut bus = SerBus {
            chip: SpiChip::new(c, mem.clone()),
            clock: VirtualClock::new(),
            longest: 0,
            slow: 1,
            status_reads: 0,
        };
        let p = spi::probe(&mut bus).unwrap();
        assert!(
            p.candidates.iter().any(|k| k.name == c.name),
            "{}: probe found {:?} ({})",
            c.name,
            p.candidates.iter().map(|k| k.name).collect::<Vec<_>>(),
            p.ids()
        );
        let protected_before = bus.chip.protected();
        let mut drv = SpiDriver::new(&mut bus, c);
        drv.prepare().unwrap();
        let mut got = vec![0u8; 0x1000];
        drv.read(0x3000, &mut got).unwrap();
        assert_eq!(got, mem[0x3000..0x4000], "{}: read", c.name);
        let at = c.size - 0x900;
        let (e, s, l) = unit_at(c, at).expect("a unit eraser");
        drv.erase(&e, at).unwrap();
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
        drv.program(at, &data).unwrap();
        let mut back = vec![0u8; data.len()];
        drv.read(at, &mut back).unwrap();
        assert_eq!(back, data, "{}: program across a page boundary", c.name);
        let mut rest = vec![0u8; (s + l - at) as usize - data.len()];
        drv.read(at + data.len() as u32, &mut rest).unwrap();
        assert!(rest.iter().all(|&b| b == 0xFF), "{}: erase", c.name);
        drv.restore().unwrap();
        assert!(
            bus.longest <= 260,
            "{}: a transfer of {}",
            c.name,
            bus.longest
        );
        assert_eq!(
            bus.chip.protected(),
            protected_before,
            "{}: restore puts the protection back",
            c.name
        );
    }
}

/// A parallel bus that counts reads and runs the chip `slow` times slower.
struct CountingParBus {
    chip: JedecChip,
    clock: VirtualClock,
    slow: u64,
    reads: u64,
}

impl Timed for CountingParBus {
    fn clock(&self) -> &dyn Clock {
        &self.clock
    }
}

impl ParallelBus for CountingParBus {
    fn read(&mut self, addr: u32) -> Result<u8, VendorError> {
        self.clock.advance_ns(CYCLE_NS);
        self.reads += 1;
        Ok(self.chip.read(addr, chip_ns(&self.clock, self.slow)))
    }
    fn write(&mut self, addr: u32, v: u8) -> Result<(), VendorError> {
        self.clock.advance_ns(CYCLE_NS);
        self.chip.write(addr, v, chip_ns(&self.clock, self.slow));
        Ok(())
    }
}

/// Bytes whose bits 0-5 are clear as well as others: a busy status read differs from
/// them in bit 7 alone (DQ7 complemented, DQ6 toggling, the rest 0 in the model).
fn program_data() -> Vec<u8> {
    let mut d = vec![0x00, 0x40, 0x80, 0xC0];
    d.extend((0..60u32).map(|i| (i * 37 + 1) as u8 & 0xFE));
    d
}

fn jedec_byte_chips() -> impl Iterator<Item = &'static ChipInfo> {
    chips(Bus::Parallel).filter(|c| c.program_reads_back())
}

/// Program `data` near the top of a blank `c` whose chip runs `slow` times slower than
/// its datasheet; check it landed; the reads it took.
fn program_counting(c: &'static ChipInfo, data: &[u8], slow: u64) -> u64 {
    let mut bus = CountingParBus {
        chip: JedecChip::new(c, vec![0xFF; c.size as usize]),
        clock: VirtualClock::new(),
        slow,
        reads: 0,
    };
    let at = c.size - 0x800;
    JedecDriver::new(&mut bus, c).program(at, data).unwrap();
    assert_eq!(
        bus.chip.mem[at as usize..][..data.len()],
        *data,
        "{} at 1/{slow} speed",
        c.name
    );
    bus.reads
}

#[test]
fn a_jedec_byte_program_on_time_takes_one_completion_read() {
    let data = program_data();
    for c in jedec_byte_chips() {
        // Given its typical time before the first read, the chip is done at that read
        // and the read returns the byte: one read per programmed byte, two for a byte
        // a busy status misread in DQ7 alone could look like (bits 0-5 clear).
        let want: u64 = data
            .iter()
            .filter(|&&b| b != 0xFF)
            .map(|&b| if b & 0x3F == 0 { 2 } else { 1 })
            .sum();
        assert_eq!(program_counting(c, &data, 1), want, "{}", c.name);
    }
}

#[test]
fn a_jedec_byte_program_waits_out_a_chip_slower_than_its_datasheet() {
    // Three times the typical program time: the first read finds the chip busy (DQ7
    // complemented), and the wait must go on, else the next byte's commands land on a
    // busy chip and are ignored.
    let data = program_data();
    for c in jedec_byte_chips() {
        let reads = program_counting(c, &data, 3);
        assert!(reads > data.len() as u64, "{}: polled", c.name);
    }
}

#[test]
fn spi_programs_on_time_read_the_status_once_and_wait_out_a_slow_chip() {
    let data: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8 & 0xFE).collect();
    for c in chips(Bus::Spi) {
        for slow in [1, 3] {
            let mut bus = SerBus {
                chip: SpiChip::new(c, vec![0xFF; c.size as usize]),
                clock: VirtualClock::new(),
                longest: 0,
                slow,
                status_reads: 0,
            };
            let at = c.size - 0x900;
            let mut drv = SpiDriver::new(&mut bus, c);
            drv.prepare().unwrap();
            let before = drv.bus.status_reads;
            drv.program(at, &data).unwrap();
            let reads = drv.bus.status_reads - before;
            assert_eq!(
                bus.chip.mem[at as usize..][..data.len()],
                data,
                "{} at 1/{slow} speed",
                c.name
            );
            // On time: per program unit one status read after WREN (the latch) and one
            // after the program (given its typical time first). AAI: one WREN for the
            // run, one read per word, and the WRDI that ends it read ready twice (an
            // end with no datasheet time).
            let want = match c.write {
                mtkflash::chips::WriteMode::SpiPage { page } => {
                    let first = at / page;
                    let last = (at + data.len() as u32 - 1) / page;
                    2 * (last - first + 1) as u64
                }
                mtkflash::chips::WriteMode::SpiByte => 2 * data.len() as u64,
                mtkflash::chips::WriteMode::SpiAaiWord => 1 + data.len() as u64 / 2 + 2,
                _ => unreachable!("{}: an SPI chip", c.name),
            };
            if slow == 1 {
                assert_eq!(reads, want, "{}", c.name);
            } else {
                assert!(reads > want, "{}: polled ({reads})", c.name);
            }
        }
    }
}
