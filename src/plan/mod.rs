//! Pure planning: current flash content + wanted image + chip geometry -> the erase and
//! program steps that turn one into the other at the least modelled cost.
//!
//! As flashrom does: bytes already right cost nothing; a unit is erased only when some
//! byte needs a 0 turned into a 1; an erased byte that should be FF needs no programming;
//! coarser erasers (64 KiB block, chip) are chosen where they are cheaper than the finer
//! ones they cover. Without `write_boot` the boot code (0x0000..0x4000) is kept byte for
//! byte: if an erase unit must cover it (64 KiB-sector chips), the kept boot code is
//! programmed back first, right after that erase.
//!
//! Write order (protocol.md section 6: JungleFlasher writes banks from the top down and
//! the first page of each bank last), made safe for a differential write, where most
//! bank starts stay valid throughout: before anything else, the starts of one or two
//! banks other than 0 (the *sentinels*) are made invalid, so that under the weakest boot
//! rule the sources allow (byte 0 and every bank start valid) the drive cannot boot while
//! the image is half written; then the boot-code steps; then the banks from the top
//! down, each with its erases first, its first page after the rest and its start byte
//! alone last; the sentinels' banks come last of all, a sentinel's start byte the very
//! last step (see [`safe_order`]).

use crate::chips::{ChipInfo, Eraser, WriteMode};
use crate::inference::BOOT_LEN;
use bytes::Bytes;
use std::time::Duration;

/// Cost figures for choosing between plans (ns).
#[derive(Clone, Copy, Debug)]
pub struct Cost {
    /// Bus time to program one byte (commands around it), beyond the chip's own time.
    pub byte_bus_ns: u64,
}

impl Default for Cost {
    fn default() -> Self {
        Cost {
            byte_bus_ns: 40_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Erase the unit of `eraser` at `start`.
    Erase {
        eraser: Eraser,
        start: u32,
        len: u32,
    },
    /// Program `data` at `start` (0xFF = leave alone; page-write chips: whole pages).
    /// Most programs are slices of the plan's target and share its buffer (a write's
    /// program data costs no memory of its own).
    Program { start: u32, data: Bytes },
}

#[derive(Clone, Debug)]
pub struct Plan {
    /// The content the flash will hold afterwards (the image, with the drive's boot code
    /// unless `write_boot`).
    pub target: Bytes,
    pub steps: Vec<Step>,
    pub erase_bytes: u64,
    pub program_bytes: u64,
    /// Modelled chip time of erases and program units (no bus time).
    pub chip_time: Duration,
    /// An erase covers the boot code and it is rewritten (kept content, or the image's
    /// with `write_boot`).
    pub boot_erased: bool,
    /// The boot code changes (only with `write_boot`).
    pub boot_changes: bool,
    /// Indexes of the steps that touch the boot code (0x0000..0x4000); the boot code is
    /// verified right after the last of them.
    pub boot_steps: std::ops::Range<usize>,
    /// The boot marks (bank starts, or the LiteOn marks) made invalid first and written
    /// last (module doc).
    pub sentinels: Vec<u32>,
    /// The last `commit` steps write the sentinels' starts: the engine runs them only
    /// after everything before them has been read back correct, so a write that fails
    /// leaves an image the drive will not start.
    pub commit: usize,
    /// The first `lead` steps make the sentinels invalid (programs to 00, erases).
    pub lead: usize,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
    /// The steps before the commit.
    pub fn body(&self) -> &[Step] {
        &self.steps[..self.steps.len() - self.commit]
    }
    /// The commit steps (see [`Plan::commit`]).
    pub fn commit_steps(&self) -> &[Step] {
        &self.steps[self.steps.len() - self.commit..]
    }
    /// Self-check: every erase is one unit of an eraser the chip has, at that unit's
    /// start and of its size (an erase that covers less than planned would leave old
    /// bytes under new ones).
    pub fn check_units(&self, chip: &ChipInfo) -> Result<(), String> {
        for st in &self.steps {
            if let Step::Erase { eraser, start, len } = st {
                if !chip.erasers.contains(eraser) {
                    return Err(format!(
                        "{}: the plan erases with opcode {:02X} over a layout the chip does not have",
                        chip.name, eraser.cmd
                    ));
                }
                if eraser.unit_at(*start) != Some((*start, *len)) {
                    return Err(format!(
                        "{}: the plan erases 0x{len:X} bytes at 0x{start:06X}, which is not one unit of opcode {:02X}",
                        chip.name, eraser.cmd
                    ));
                }
            }
        }
        Ok(())
    }
    /// Address ranges to read back after executing: every erased unit and programmed span.
    pub fn touched(&self) -> Vec<(u32, u32)> {
        touched_by(&self.steps)
    }
}

/// The merged address ranges that `steps` erase or program.
pub fn touched_by(steps: &[Step]) -> Vec<(u32, u32)> {
    let mut v: Vec<(u32, u32)> = steps
        .iter()
        .map(|s| match s {
            Step::Erase { start, len, .. } => (*start, *len),
            Step::Program { start, data } => (*start, data.len() as u32),
        })
        .collect();
    v.sort();
    let mut out: Vec<(u32, u32)> = Vec::new();
    for (s, l) in v {
        match out.last_mut() {
            Some((ps, pl)) if *ps + *pl >= s => *pl = (*pl).max(s + l - *ps),
            _ => out.push((s, l)),
        }
    }
    out
}

/// Plan the write of `wanted` over `current` on `chip` using `erasers` (normally
/// `chip.erasers`; fewer when the chip variant is ambiguous). The caller guarantees
/// equal lengths and a usable eraser (see [`plan_owned`] for the checked form).
pub fn plan(
    chip: &ChipInfo,
    erasers: &[Eraser],
    current: &[u8],
    wanted: &[u8],
    write_boot: bool,
    cost: &Cost,
) -> Plan {
    plan_ordered(
        chip,
        erasers,
        current,
        wanted.to_vec(),
        write_boot,
        cost,
        true,
    )
}

/// [`plan`] taking the wanted image by value (it becomes the plan's target, no copy),
/// checking its inputs instead of assuming them.
pub fn plan_owned(
    chip: &ChipInfo,
    erasers: &[Eraser],
    current: &[u8],
    wanted: Vec<u8>,
    write_boot: bool,
    cost: &Cost,
) -> Result<Plan, String> {
    if current.len() != wanted.len() {
        return Err(format!(
            "the flash holds {} bytes but the image {}",
            current.len(),
            wanted.len()
        ));
    }
    if chip.write.page().is_none() && nested_erasers(erasers).is_empty() {
        return Err(format!("{}: no usable erase operation", chip.name));
    }
    Ok(plan_ordered(
        chip, erasers, current, wanted, write_boot, cost, true,
    ))
}

/// The cheapest plan with no sentinel and no write order beyond boot code first: the
/// physical bound of `limit`, not a plan to execute.
pub fn plan_unordered(
    chip: &ChipInfo,
    erasers: &[Eraser],
    current: &[u8],
    wanted: &[u8],
    write_boot: bool,
    cost: &Cost,
) -> Plan {
    plan_ordered(
        chip,
        erasers,
        current,
        wanted.to_vec(),
        write_boot,
        cost,
        false,
    )
}

fn plan_ordered(
    chip: &ChipInfo,
    erasers: &[Eraser],
    current: &[u8],
    wanted: Vec<u8>,
    write_boot: bool,
    cost: &Cost,
    sentinel: bool,
) -> Plan {
    assert_eq!(current.len(), wanted.len(), "plan: sizes differ");
    let n = current.len();
    let boot = BOOT_LEN.min(n);
    let mut target = wanted;
    if !write_boot {
        target[..boot].copy_from_slice(&current[..boot]);
    }
    let boot_changes = current[..boot] != target[..boot];
    let target = Bytes::from(target);

    let steps = match chip.write {
        WriteMode::JedecPage { page } => page_write_steps(&target, current, page as usize),
        _ => erase_program_steps(chip, erasers, current, &target, cost, !write_boot).0,
    };
    let (steps, boot_steps, sentinels, commit, lead) = if sentinel {
        safe_order(chip, erasers, current, &target, steps)
    } else {
        let mut steps = steps;
        steps.sort_by_key(|s| (step_start(s) as usize) >= boot);
        let nb = steps
            .iter()
            .filter(|s| (step_start(s) as usize) < boot)
            .count();
        (steps, 0..nb, Vec::new(), 0, 0)
    };
    let erase_bytes = steps
        .iter()
        .map(|s| match s {
            Step::Erase { len, .. } => *len as u64,
            _ => 0,
        })
        .sum();
    let program_bytes = steps
        .iter()
        .map(|s| match s {
            Step::Program { data, .. } => data.iter().filter(|&&b| b != 0xFF).count() as u64,
            _ => 0,
        })
        .sum();
    let unit = program_unit(chip);
    let mut chip_ns = 0u64;
    for s in &steps {
        match s {
            Step::Erase { eraser, .. } => chip_ns += eraser.time.us * 1000,
            Step::Program { start, data } => {
                let first = *start as usize;
                let mut i = first;
                while i < first + data.len() {
                    let end = ((i / unit + 1) * unit).min(first + data.len());
                    if data[i - first..end - first].iter().any(|&b| b != 0xFF)
                        || matches!(chip.write, WriteMode::JedecPage { .. })
                    {
                        chip_ns += chip.program.us * 1000;
                    }
                    i = end;
                }
            }
        }
    }
    Plan {
        boot_erased: steps
            .iter()
            .any(|s| matches!(s, Step::Erase { start, .. } if (*start as usize) < boot)),
        target,
        steps,
        erase_bytes,
        program_bytes,
        chip_time: Duration::from_nanos(chip_ns),
        boot_changes,
        boot_steps,
        sentinels,
        commit,
        lead,
    }
}

/// The starts of the `block`-aligned blocks that `steps` change (an erase, a page write,
/// or a byte programmed) and that do not read all FF in `current`: what a backup must
/// hold confirmed by a second read. A block is taken whole, not only its changed bytes:
/// a misread that makes a byte look FF where the plan programs over it would otherwise
/// go unconfirmed; a block that reads all FF needs none (no transient fault turns a
/// block of data into FF).
pub fn destroyed_blocks(chip: &ChipInfo, steps: &[Step], current: &[u8], block: usize) -> Vec<u32> {
    let mut hit = vec![false; current.len().div_ceil(block)];
    let page_write = matches!(chip.write, WriteMode::JedecPage { .. });
    for s in steps {
        let start = step_start(s) as usize;
        let end = (step_end(s) as usize).min(current.len());
        match s {
            Step::Erase { .. } => (start / block..end.div_ceil(block)).for_each(|i| hit[i] = true),
            Step::Program { data, .. } => {
                for (i, &d) in data.iter().enumerate().take(end.saturating_sub(start)) {
                    if page_write || d != 0xFF {
                        hit[(start + i) / block] = true;
                    }
                }
            }
        }
    }
    hit.iter()
        .enumerate()
        .filter(|(i, h)| {
            let r = i * block..((i + 1) * block).min(current.len());
            **h && current[r].iter().any(|&b| b != 0xFF)
        })
        .map(|(i, _)| (i * block) as u32)
        .collect()
}

/// Every byte the chip driver sends to the chip to program `data` at `start`, with the
/// value sent (src/mtk/flash): byte-programming chips (JEDEC byte, SPI byte) get the
/// non-FF bytes only; a page-write chip its pages whole; an SPI page program the span
/// from the first to the last non-FF byte of each page, FF bytes between included; SST
/// AAI every word holding a non-FF byte, both its bytes (an FF half-word outside
/// `data` included).
pub fn sent_by_program(chip: &ChipInfo, start: u32, data: &[u8], mut f: impl FnMut(u32, u8)) {
    match chip.write {
        WriteMode::JedecByte | WriteMode::SpiByte => {
            for (i, &d) in data.iter().enumerate() {
                if d != 0xFF {
                    f(start + i as u32, d);
                }
            }
        }
        WriteMode::JedecPage { .. } => {
            for (i, &d) in data.iter().enumerate() {
                f(start + i as u32, d);
            }
        }
        WriteMode::SpiPage { page } => {
            let mut off = 0usize;
            while off < data.len() {
                let a = start + off as u32;
                let room = (page - a % page) as usize;
                let part = &data[off..(off + room).min(data.len())];
                if let (Some(first), Some(last)) = (
                    part.iter().position(|&b| b != 0xFF),
                    part.iter().rposition(|&b| b != 0xFF),
                ) {
                    for (j, &d) in part.iter().enumerate().take(last + 1).skip(first) {
                        f(a + j as u32, d);
                    }
                }
                off += part.len();
            }
        }
        WriteMode::SpiAaiWord => {
            let byte = |a: u32| -> u8 {
                a.checked_sub(start)
                    .and_then(|i| data.get(i as usize).copied())
                    .unwrap_or(0xFF)
            };
            let mut w = start & !1;
            while w < start + data.len() as u32 {
                if byte(w) != 0xFF || byte(w + 1) != 0xFF {
                    f(w, byte(w));
                    f(w + 1, byte(w + 1));
                }
                w += 2;
            }
        }
    }
}

/// The ranges a write must read back after `steps` to prove them, and (put into `flash`)
/// the bytes their own programming already proved. A byte needs a read when a step
/// wrote it or sent it to the chip: erased (the erase's only proof is reading FF), or
/// sent by a program ([`sent_by_program`]: an FF sent can arrive as something else),
/// unless its last step was a program of a non-FF byte on a chip whose program reads
/// the byte back ([`ChipInfo::program_reads_back`]). Bytes a program did not send
/// (the FF bytes a byte-programming driver skips) were not written and need no read.
pub fn read_back_ranges(chip: &ChipInfo, steps: &[Step], flash: &mut [u8]) -> Vec<(u32, u32)> {
    let n = flash.len();
    let reads_back = chip.program_reads_back();
    let mut need = vec![0u64; n.div_ceil(64)];
    let set = |need: &mut [u64], a: usize, on: bool| {
        let (w, m) = (a / 64, 1u64 << (a % 64));
        if on {
            need[w] |= m
        } else {
            need[w] &= !m
        }
    };
    for s in steps {
        let start = step_start(s) as usize;
        let end = (step_end(s) as usize).min(n);
        match s {
            Step::Erase { .. } => (start..end).for_each(|a| set(&mut need, a, true)),
            Step::Program { data, .. } => sent_by_program(chip, start as u32, data, |a, d| {
                let a = a as usize;
                if a >= n {
                    return;
                }
                if reads_back && d != 0xFF {
                    set(&mut need, a, false);
                    flash[a] = d;
                } else {
                    set(&mut need, a, true);
                }
            }),
        }
    }
    let mut out: Vec<(u32, u32)> = Vec::new();
    let mut a = 0;
    while a < n {
        let w = need[a / 64] >> (a % 64);
        if w == 0 {
            a = (a / 64 + 1) * 64;
            continue;
        }
        a += w.trailing_zeros() as usize;
        if a >= n {
            break;
        }
        match out.last_mut() {
            Some((ps, pl)) if (*ps + *pl) as usize == a => *pl += 1,
            _ => out.push((a as u32, 1)),
        }
        a += 1;
    }
    out
}

/// The starts of the `block`-aligned blocks, not all FF in `current`, where `steps`
/// program bytes no erase step covers (page-write chips excepted: a page write replaces
/// its page whatever it held). The result of such a program depends on what the cells
/// held, so the read of them must be right even when no backup is made.
pub fn programmed_unerased_blocks(
    chip: &ChipInfo,
    steps: &[Step],
    current: &[u8],
    block: usize,
) -> Vec<u32> {
    if matches!(chip.write, WriteMode::JedecPage { .. }) {
        return Vec::new();
    }
    let n = current.len().div_ceil(block);
    let (mut erased, mut hit) = (vec![false; n], vec![false; n]);
    for s in steps {
        if let Step::Erase { start, len, .. } = s {
            let end = ((*start + *len) as usize).min(current.len());
            (*start as usize / block..end.div_ceil(block)).for_each(|i| erased[i] = true);
        }
    }
    for s in steps {
        if let Step::Program { start, data } = s {
            for (i, &d) in data.iter().enumerate() {
                let a = *start as usize + i;
                if d != 0xFF && a < current.len() && !erased[a / block] {
                    hit[a / block] = true;
                }
            }
        }
    }
    (0..n)
        .filter(|&i| {
            hit[i]
                && current[i * block..((i + 1) * block).min(current.len())]
                    .iter()
                    .any(|&b| b != 0xFF)
        })
        .map(|i| (i * block) as u32)
        .collect()
}

/// Apply a plan to `content` in memory, with the chip's semantics (erase to FF, program
/// ANDs, page writes replace). Used by tests and the dry run.
pub fn simulate(chip: &ChipInfo, plan: &Plan, content: &mut [u8]) {
    simulate_steps(chip, &plan.steps, content)
}

/// The byte at `addr` after `steps`, starting from `before` (chip semantics as in
/// [`simulate`]), without building a whole image.
pub fn value_after(chip: &ChipInfo, steps: &[Step], addr: usize, before: u8) -> u8 {
    let mut v = before;
    for s in steps {
        let (start, end) = (step_start(s) as usize, step_end(s) as usize);
        if !(start..end).contains(&addr) {
            continue;
        }
        v = match s {
            Step::Erase { .. } => 0xFF,
            Step::Program { data, .. } => match chip.write {
                WriteMode::JedecPage { .. } => data[addr - start],
                _ => v & data[addr - start],
            },
        };
    }
    v
}

/// [`simulate`] for some of a plan's steps.
pub fn simulate_steps(chip: &ChipInfo, steps: &[Step], content: &mut [u8]) {
    for s in steps {
        match s {
            Step::Erase { start, len, .. } => {
                content[*start as usize..(*start + *len) as usize].fill(0xFF)
            }
            Step::Program { start, data } => {
                let st = *start as usize;
                for (i, &b) in data.iter().enumerate() {
                    match chip.write {
                        WriteMode::JedecPage { .. } => content[st + i] = b,
                        _ => content[st + i] &= b,
                    }
                }
            }
        }
    }
}

mod erase;
mod order;
#[cfg(test)]
mod tests;

use erase::{erase_program_steps, nested_erasers, page_write_steps, program_unit};
use order::{safe_order, step_end, step_start};
