//! The least time any tool could need to turn `current` into `wanted` on a chip through
//! the vendor protocol, and what a classic full rewrite needs. Pure.
//!
//! limit = cheapest erase plan (chip time) + program time of the units that change
//!       + the fewest bus cycles the protocol allows for those erases and programs
//!         (on SPI chips the chip's work runs under the first part of its status poll)
//!       + one read of the whole flash through the byte interface (a differential writer
//!         must learn the current content; the protocol has no checksum command)
//!       + the protocol's fixed waits (intro 252 ms, outro 350 ms).
//! safe limit = limit
//!       + (with a backup) one more read of every 4 KiB block holding a byte that the
//!         cheapest plan destroys (erases, or changes by programming) and that is not FF:
//!         a backup must hold what is destroyed confirmed by a second read
//!       + one read-back of every byte the plan writes where the protocol does not hand
//!         it back while programming: every erased byte (FF is proved only by reading
//!         it), every byte programmed by SPI page, AAI and byte programming and every
//!         page of a page-write chip (a JEDEC byte program's completion read already
//!         returns the byte).
//!       What a tool that proves every written byte and backs up everything it destroys
//!       must pay at the least.
//! guarded = the safe limit of the plan in the order the engine runs it: with the
//!       sentinel steps that keep the image unbootable until everything else is written
//!       and read back (docs/inferences.md, "Write order"). Its excess over the safe
//!       limit is what that protection costs (`Safe::guard`).
//! full rewrite = chip erase + every non-FF byte programmed + their bus cycles + the
//!       fixed waits (no read: the classic tools rewrote blindly).
//!
//! Bus figures come from bus_timing (600 ns per register access),
//! inference::VENDOR_CMD_NS (drive work per vendor command) and inference::SPI_BYTE_NS
//! (each byte clocked over the SPI bus in a bridge transaction).

use crate::bus_timing::REG_NS;
use crate::chips::{Bus, ChipInfo, WriteMode};
use crate::inference::{SPI_BYTE_NS, VENDOR_CMD_NS};
use crate::plan::{self, Cost, Step};
use std::time::Duration;

/// One vendor command that writes `changed` task-file registers, issues the command and
/// reads the status once: the fewest register cycles the protocol allows. The drive's
/// work starts as the command is written and a status read is sampled as its cycle
/// ends; a host that speaks only through the task file fills the work with whole
/// register cycles, so the first status read that can see the drive idle ends on the
/// first cycle boundary after the work (2 us of work at 600 ns cycles: 4 cycles).
pub fn cmd_ns(changed: u64) -> u64 {
    (changed + 1) * REG_NS + VENDOR_CMD_NS.div_ceil(REG_NS) * REG_NS
}

/// Reading one byte: the low address register changes, command, status, LBA low.
pub fn read_byte_ns(_chip: &ChipInfo) -> u64 {
    cmd_ns(1) + REG_NS
}

/// Staging one byte in drive memory (serial drives): low address + data register.
fn stage_ns() -> u64 {
    cmd_ns(2)
}

/// One SPI transaction of `tx` staged bytes with `rx` bytes read back: staging, 0x04
/// (features, count, LBA mid, LBA high) while the bridge clocks every byte over the SPI
/// bus, 0x05, and reading the reply bytes.
fn spi_ns(tx: u64, rx: u64) -> u64 {
    // The 0x04 command's work and the bus clocking end together, in whole cycles.
    let exec = 5 * REG_NS + (VENDOR_CMD_NS + (tx + rx) * SPI_BYTE_NS).div_ceil(REG_NS) * REG_NS;
    tx * stage_ns() + exec + cmd_ns(0) + rx * read_byte_ns_spi()
}

fn read_byte_ns_spi() -> u64 {
    cmd_ns(1) + REG_NS
}

/// The device register written again before an access at `addr` on parallel flash:
/// it carries A19..A16 (drv | bank), and the protocol's reselect after every command
/// writes drv alone, so every access outside the first 64 KiB writes it again (the
/// unlock cycles at 0x5555/0x2AAA are in the first 64 KiB).
fn dev_ns(chip: &ChipInfo, addr: u32) -> u64 {
    match chip.bus() {
        Bus::Parallel if addr >= 0x10000 => REG_NS,
        _ => 0,
    }
}

/// Bus cost of programming `n` bytes in the program unit at `addr`.
fn program_unit_bus_ns(chip: &ChipInfo, n: u64, addr: u32) -> u64 {
    match chip.write {
        // AA@5555, 55@2AAA, A0@5555 (address low, high and data change each time), the
        // byte, then one read at that address to see it done.
        WriteMode::JedecByte => n * (4 * cmd_ns(3) + cmd_ns(0) + REG_NS + 2 * dev_ns(chip, addr)),
        // The three unlock cycles, n loads (address low + data), the 200 us load window,
        // one completion read.
        WriteMode::JedecPage { .. } => {
            3 * cmd_ns(3)
                + n * cmd_ns(2)
                + 200_000
                + cmd_ns(0)
                + REG_NS
                + (n + 1) * dev_ns(chip, addr)
        }
        // WREN, PP with 4 + n bytes, one RDSR.
        WriteMode::SpiPage { .. } => spi_ns(1, 0) + spi_ns(4 + n, 0) + spi_ns(1, 1),
        WriteMode::SpiByte => n * (spi_ns(1, 0) + spi_ns(5, 0) + spi_ns(1, 1)),
        // One AAI word (3 staged bytes after the first), one RDSR.
        WriteMode::SpiAaiWord => spi_ns(3, 0) + spi_ns(1, 1),
    }
}

/// The parts of a lower bound.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bound {
    pub erase: Duration,
    pub program: Duration,
    pub bus: Duration,
    pub read: Duration,
    pub fixed: Duration,
}

impl Bound {
    pub fn total(&self) -> Duration {
        // (the five parts are disjoint: see the module comment)
        self.erase + self.program + self.bus + self.read + self.fixed
    }
}

/// The protocol's fixed waits: the intro's 250 ms + 2 ms, the outro's 350 ms.
pub const FIXED: Duration = Duration::from_millis(602);

fn units_of(chip: &ChipInfo, data: &[u8], start: u32) -> Vec<(u32, u64)> {
    // Where each program unit touched starts, and its bytes to program.
    let unit = chip.program_unit() as usize;
    let mut out = Vec::new();
    let first = start as usize;
    let mut i = first;
    while i < first + data.len() {
        let end = ((i / unit + 1) * unit).min(first + data.len());
        let n = data[i - first..end - first]
            .iter()
            .filter(|&&b| b != 0xFF)
            .count() as u64;
        if n > 0 || matches!(chip.write, WriteMode::JedecPage { .. }) {
            out.push((i as u32, n));
        }
        i = end;
    }
    out
}

/// The part of a unit's bus time the chip's own work may run under: the completion
/// poll's cycles before the chip is sampled. SPI: the status poll stages its opcode,
/// writes the 0x04 registers and command, and the drive works 2 us before it clocks the
/// status out; the program's own 0x05 (which starts the chip) ends its work in the same
/// window. Parallel: the completion read's command and the drive's work before it reads
/// the flash.
fn overlap_ns(chip: &ChipInfo) -> u64 {
    let work = VENDOR_CMD_NS.div_ceil(REG_NS) * REG_NS;
    match chip.bus() {
        Bus::Parallel => REG_NS + work,
        Bus::Spi => stage_ns() + 5 * REG_NS + work,
    }
}

/// Chip time `chip_ns` and bus time `bus_ns` of one erase or program unit as (chip
/// time, bus time) counted in a bound: the overlap ([`overlap_ns`]) counted once.
fn unit_ns(chip: &ChipInfo, chip_ns: u64, bus_ns: u64) -> (u64, u64) {
    let o = overlap_ns(chip).min(bus_ns);
    (chip_ns.max(o), bus_ns - o)
}

fn erase_bus_ns(chip: &ChipInfo, addr: u32) -> u64 {
    match chip.bus() {
        Bus::Parallel => 6 * cmd_ns(3) + read_byte_ns(chip) + 2 * dev_ns(chip, addr),
        Bus::Spi => spi_ns(1, 0) + spi_ns(4, 0) + spi_ns(1, 1),
    }
}

fn cost(chip: &ChipInfo) -> Cost {
    Cost {
        byte_bus_ns: read_byte_ns(chip) * 4,
    }
}

/// The least time to go from `current` to `wanted` (boot code kept unless `write_boot`).
pub fn limit(chip: &ChipInfo, current: &[u8], wanted: &[u8], write_boot: bool) -> Bound {
    let p = plan::plan_unordered(chip, chip.erasers, current, wanted, write_boot, &cost(chip));
    bound_of(chip, &p.steps, current.len())
}

/// The bound of running `steps` on a flash of `len` bytes after one read of it.
fn bound_of(chip: &ChipInfo, steps: &[Step], len: usize) -> Bound {
    let mut b = Bound {
        fixed: FIXED,
        ..Bound::default()
    };
    // SPI: at most 4 + 256 bytes per bridge transfer (JF), so one READ transaction per
    // 256 bytes, each byte read back from drive memory.
    b.read = Duration::from_nanos(read_ns(chip, 0, len as u64));
    let mut bus = 0u64;
    let mut prog = 0u64;
    for s in steps {
        match s {
            Step::Erase { eraser, start, .. } => {
                let (c, bu) = unit_ns(chip, eraser.time.us * 1000, erase_bus_ns(chip, *start));
                b.erase += Duration::from_nanos(c);
                bus += bu;
            }
            Step::Program { start, data } => {
                for (at, n) in units_of(chip, data, *start) {
                    let bus_ns = program_unit_bus_ns(chip, n, at);
                    let (c, bu) = unit_ns(chip, chip.program.us * 1000, bus_ns);
                    prog += c;
                    bus += bu;
                }
            }
        }
    }
    b.program = Duration::from_nanos(prog);
    b.bus = Duration::from_nanos(bus);
    b
}

/// The reads a proving, backing-up write needs beyond [`limit`]: the confirmation read
/// of what the plan destroys (only `with_backup`) and the read-back of every byte the
/// plan writes that the protocol does not hand back while programming. [`safe_limit`]
/// is their sum with the limit. `guard` is what keeping the image unbootable
/// throughout adds (docs/inferences.md, "Write order"): the same sum over the plan in
/// the order the engine runs it, with its sentinel steps, less the sum over the
/// cheapest plan.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Safe {
    pub limit: Bound,
    pub confirm: Duration,
    pub read_back: Duration,
    pub guard: Duration,
}

impl Safe {
    pub fn total(&self) -> Duration {
        self.limit.total() + self.confirm + self.read_back
    }
    /// The safe limit of a write that also never leaves a bootable half-written image.
    pub fn guarded(&self) -> Duration {
        self.total() + self.guard
    }
}

/// Reading `n` bytes at `addr` through the vendor protocol (SPI: one READ per 256
/// bytes).
fn read_ns(chip: &ChipInfo, addr: u32, n: u64) -> u64 {
    match chip.bus() {
        Bus::Parallel => {
            let outside_first_64k = (addr as u64 + n).saturating_sub((addr as u64).max(0x10000));
            n * read_byte_ns(chip) + outside_first_64k * REG_NS
        }
        // One READ (opcode + 3 address bytes) per 256 bytes, every reply byte clocked
        // over the SPI bus and then read from drive memory.
        Bus::Spi => {
            (n / 256) * spi_ns(4, 256)
                + if n.is_multiple_of(256) {
                    0
                } else {
                    spi_ns(4, n % 256)
                }
        }
    }
}

/// The safe limit: see the module comment.
pub fn safe_limit(
    chip: &ChipInfo,
    current: &[u8],
    wanted: &[u8],
    write_boot: bool,
    with_backup: bool,
) -> Safe {
    let terms = |steps: &[Step]| -> (Bound, Duration, Duration) {
        let confirm = if with_backup {
            let blocks = plan::destroyed_blocks(chip, steps, current, 0x1000);
            blocks.iter().map(|&b| read_ns(chip, b, 0x1000)).sum()
        } else {
            0
        };
        // Every byte written and not handed back: erased bytes (an erase's only proof is
        // reading FF) and bytes sent by a program, less those a byte program's
        // completion read returned (plan::read_back_ranges; the engine reads these, and
        // the commit's one or two bytes once more).
        let mut scratch = current.to_vec();
        let read_back = plan::read_back_ranges(chip, steps, &mut scratch)
            .iter()
            .map(|&(a, n)| read_ns(chip, a, n as u64))
            .sum();
        (
            bound_of(chip, steps, current.len()),
            Duration::from_nanos(confirm),
            Duration::from_nanos(read_back),
        )
    };
    let c = cost(chip);
    let cheapest = plan::plan_unordered(chip, chip.erasers, current, wanted, write_boot, &c);
    let (limit, confirm, read_back) = terms(&cheapest.steps);
    let ordered = plan::plan(chip, chip.erasers, current, wanted, write_boot, &c);
    let (gl, gc, gr) = terms(&ordered.steps);
    Safe {
        limit,
        confirm,
        read_back,
        guard: (gl.total() + gc + gr).saturating_sub(limit.total() + confirm + read_back),
    }
}

/// What a classic full rewrite needs: chip erase, then every non-FF byte of the image.
pub fn full_rewrite(chip: &ChipInfo, wanted: &[u8]) -> Bound {
    let mut b = Bound {
        fixed: FIXED,
        ..Bound::default()
    };
    let chip_erase_us = chip.chip_eraser().map_or(0, |e| e.time.us);
    let (c, mut bus) = unit_ns(chip, chip_erase_us * 1000, erase_bus_ns(chip, 0));
    b.erase = Duration::from_nanos(c);
    let mut prog = 0u64;
    for (at, n) in units_of(chip, wanted, 0) {
        let (c, bu) = unit_ns(
            chip,
            chip.program.us * 1000,
            program_unit_bus_ns(chip, n, at),
        );
        prog += c;
        bus += bu;
    }
    b.program = Duration::from_nanos(prog);
    b.bus = Duration::from_nanos(bus);
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chips::by_name;

    #[test]
    fn identical_costs_only_the_read_and_the_fixed_waits() {
        let c = by_name("SST39SF010A").unwrap();
        let img = vec![0x11; 0x20000];
        let b = limit(c, &img, &img, true);
        assert_eq!(
            (b.erase, b.program, b.bus),
            (Duration::ZERO, Duration::ZERO, Duration::ZERO)
        );
        // 128 Ki reads: address (600 ns), command (600 ns), 2 us of work filled with
        // whole cycles the last of which reads the status (2.4 us), the byte (600 ns).
        // Past the first 64 KiB the device register (drv | A19..A16) is written again
        // before every read: the protocol's reselect writes drv alone, and whether that
        // write lands while the drive is busy is not known (the model's S2 is a guess).
        assert_eq!(
            b.read,
            Duration::from_nanos(0x20000 * 4_200 + 0x10000 * 600)
        );
        assert_eq!(read_byte_ns(c), 4_200);
        assert_eq!(b.total(), b.read + FIXED);
    }

    #[test]
    fn one_byte_on_an_sst_parallel_chip_by_hand() {
        let c = by_name("SST39SF010A").unwrap();
        let cur = vec![0xFF; 0x20000];
        let mut want = cur.clone();
        want[0x5000] = 0x00;
        let b = limit(c, &cur, &want, true);
        assert_eq!(b.erase, Duration::ZERO, "FF -> 00 needs no erase");
        assert_eq!(b.program, Duration::from_micros(14));
        // 4 commands writing 3 registers (3 x 600 ns + 3 us = 4.8 us) + a completion
        // read (3 + 0.6 us), whose command and the drive's work before it reads the
        // flash (3 us) run under the chip's 14 us.
        assert_eq!(b.bus, Duration::from_nanos(4 * 4_800 + 3_600 - 3_000));
    }

    #[test]
    fn one_sector_needing_erase_by_hand() {
        let c = by_name("SST39SF010A").unwrap();
        let cur = vec![0x00; 0x20000];
        let mut want = cur.clone();
        want[0x5000] = 0x01;
        let b = limit(c, &cur, &want, true);
        // One 4 KiB sector erase (18 ms), then its 4096 bytes of 00/01 programmed again.
        assert_eq!(b.erase, Duration::from_millis(18));
        assert_eq!(b.program, Duration::from_micros(14 * 4096));
        assert_eq!(
            b.bus,
            Duration::from_nanos(6 * 4_800 + 4_200 - 3_000 + 4096 * (4 * 4_800 + 3_600 - 3_000))
        );
    }

    #[test]
    fn full_rewrite_of_a_spi_page_chip_by_hand() {
        let c = by_name("MX25L2005").unwrap();
        let img = vec![0x00; 0x40000];
        let b = full_rewrite(c, &img);
        assert_eq!(b.erase, Duration::from_secs(2));
        assert_eq!(
            b.program,
            Duration::from_micros(1_400 * 1024),
            "1024 pages of 256 bytes"
        );
        // Staging a byte 4.2 us; 0x04: 5 registers and the command (3 us), then 2 us of
        // work and 1 us per byte clocked, in whole 600 ns cycles; 0x05 3 us; reading a
        // byte back 4.2 us.
        let spi = |tx: u64, rx: u64| {
            tx * 4_200
                + 3_000
                + (2_000 + (tx + rx) * 1_000).div_ceil(600) * 600
                + 3_000
                + rx * 4_200
        };
        // The chip works under the status poll's staging, 0x04 registers and the
        // drive's work before the status is clocked (4.2 + 3 + 2.4 us), counted once,
        // in the chip's time.
        let under = 4_200 + 3_000 + 2_400;
        let page_bus = spi(1, 0) + spi(260, 0) + spi(1, 1) - under;
        assert_eq!(
            b.bus,
            Duration::from_nanos(spi(1, 0) + spi(4, 0) + spi(1, 1) - under + 1024 * page_bus)
        );
    }
}
