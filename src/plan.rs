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
use crate::firmware::BANK;
use crate::inference::BOOT_LEN;
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
    Program { start: u32, data: Vec<u8> },
}

#[derive(Clone, Debug)]
pub struct Plan {
    /// The content the flash will hold afterwards (the image, with the drive's boot code
    /// unless `write_boot`).
    pub target: Vec<u8>,
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

fn program_unit(chip: &ChipInfo) -> usize {
    chip.program_unit() as usize
}

/// Cost (ns) of programming the bytes of `range` that `need` selects.
fn program_cost(
    chip: &ChipInfo,
    cost: &Cost,
    need: impl Fn(usize) -> bool,
    range: std::ops::Range<usize>,
) -> u64 {
    let unit = program_unit(chip);
    let mut units = 0u64;
    let mut bytes = 0u64;
    let mut i = range.start;
    while i < range.end {
        let end = ((i / unit + 1) * unit).min(range.end);
        let n = (i..end).filter(|&j| need(j)).count() as u64;
        if n > 0 {
            units += 1;
            bytes += n;
        }
        i = end;
    }
    units * chip.program.us * 1000 + bytes * cost.byte_bus_ns
}

/// Erasers usable for planning: finest first, each one's units made of whole units of
/// the one before (boot-block layouts nest too; any that does not is left out).
fn nested_erasers(erasers: &[Eraser]) -> Vec<Eraser> {
    let mut out: Vec<Eraser> = Vec::new();
    for e in erasers {
        let ok = match out.last() {
            None => true,
            Some(prev) => {
                e.units().all(|(s, l)| {
                    prev.unit_at(s).map(|(ps, _)| ps == s).unwrap_or(false)
                        && prev
                            .unit_at(s + l - 1)
                            .map(|(ps, pl)| ps + pl == s + l)
                            .unwrap_or(false)
                }) && e.units().count() < prev.units().count()
            }
        };
        if ok {
            out.push(*e);
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

fn step_start(s: &Step) -> u32 {
    match s {
        Step::Erase { start, .. } | Step::Program { start, .. } => *start,
    }
}

fn step_end(s: &Step) -> u32 {
    match s {
        Step::Erase { start, len, .. } => start + len,
        Step::Program { start, data } => start + data.len() as u32,
    }
}

/// First page of a bank, written after the rest of the bank (JF: 256 bytes).
const FIRST_PAGE: u32 = 0x100;

/// Split program steps (not on page-write chips) around each boot mark and each bank
/// start, and at the end of each bank's first page, so those bytes and pages are steps
/// of their own. FF-only pieces are dropped.
fn split_at_marks(steps: Vec<Step>, n: usize, marks: &[u32]) -> Vec<Step> {
    let mut points: Vec<u32> = (1..n / BANK)
        .flat_map(|k| {
            let b = (k * BANK) as u32;
            [b, b + 1, b + FIRST_PAGE]
        })
        .chain(marks.iter().flat_map(|&m| [m, m + 1]))
        .collect();
    points.sort_unstable();
    points.dedup();
    let mut out = Vec::with_capacity(steps.len());
    for st in steps {
        let Step::Program { start, data } = st else {
            out.push(st);
            continue;
        };
        let end = start + data.len() as u32;
        let mut cuts: Vec<u32> = points
            .iter()
            .copied()
            .filter(|&c| c > start && c < end)
            .collect();
        cuts.push(end);
        let mut from = start;
        for c in cuts {
            push_program(
                &mut out,
                from as usize,
                &data[(from - start) as usize..(c - start) as usize],
            );
            from = c;
        }
    }
    out
}

/// Order the steps as the module doc says, with the sentinels' steps added.
///
/// The sentinels are boot marks ([`crate::firmware::boot_marks`]: the bank starts, or
/// on a LiteOn-layout image the jump at 0x4000 and the signature at 0xFFF8). A mark that
/// is invalid now and that the plan does not erase needs nothing more: it is written
/// last. Otherwise two marks A and B (one where the image has only one besides byte 0):
/// they are first programmed to 0x00 (a program only clears bits, so a cut leaves the
/// old value, with nothing else changed, or 0x00), then their units are erased, A while
/// B still reads 0x00, B while A already reads FF: an interrupted erase can leave a cell
/// at any value, so only one erase may be in flight while another mark stays invalid.
/// A is written back second to last, B last: a cut in that last byte leaves it invalid
/// unless it completed. Page-write chips, which have no erase, write each sentinel's
/// page with FF at the mark first, then whole at the end.
fn safe_order(
    chip: &ChipInfo,
    erasers: &[Eraser],
    current: &[u8],
    target: &[u8],
    steps: Vec<Step>,
) -> (Vec<Step>, std::ops::Range<usize>, Vec<u32>, usize, usize) {
    use crate::firmware::{boot_marks, layout_of, mark_ok};
    let n = target.len();
    let boot = BOOT_LEN.min(n);
    let page = chip.write.page().map(|p| p as usize);
    // The rules a half-written image might pass: the target's layout's, and the
    // current image's if that is another (a LiteOn image replaced by a banked one, or the
    // other way round): each needs its own sentinels.
    let mut mark_sets: Vec<Vec<u32>> = vec![boot_marks(layout_of(target), n)
        .into_iter()
        .map(|m| m as u32)
        .collect()];
    let cur_layout = layout_of(current);
    if cur_layout != layout_of(target) && cur_layout != crate::firmware::Layout::Unknown {
        mark_sets.push(
            boot_marks(cur_layout, n)
                .into_iter()
                .map(|m| m as u32)
                .collect(),
        );
    }
    let mut marks: Vec<u32> = mark_sets.concat();
    marks.sort_unstable();
    marks.dedup();
    let mut steps = match page {
        Some(_) => steps,
        None => split_at_marks(steps, n, &marks),
    };
    let covers =
        |s: &Step, a: u32| matches!(s, Step::Erase { .. }) && step_start(s) <= a && a < step_end(s);
    let mut sentinels: Vec<u32> = Vec::new();
    let mut invalidate: Vec<Step> = Vec::new();
    let mut erase_first: Vec<Step> = Vec::new();
    let fine = nested_erasers(erasers)
        .into_iter()
        .next()
        .filter(|e| !e.is_chip_erase(n as u32));
    // Sentinels that are invalid already and stay so without anything being done.
    let mut free: Vec<u32> = Vec::new();
    // Set by set, the target's rule first; the commit goes the other way (below).
    let mut per_set: Vec<usize> = Vec::new();
    for set in &mark_sets {
        per_set.push(sentinels.len());
        if steps.is_empty() || set.is_empty() {
            break;
        }
        // A mark that is invalid now and that nothing erases stays invalid until it is
        // written: one such mark is a sentinel that costs nothing.
        let stable = set.iter().rev().copied().find(|&m| {
            !mark_ok(m as usize, current[m as usize]) && !steps.iter().any(|s| covers(s, m))
        });
        if let Some(m) = stable {
            if !sentinels.contains(&m) {
                sentinels.push(m);
                free.push(m);
            }
            continue;
        }
        let want = sentinels.len() + set.len().min(2);
        // Marks whose unit the plan erases anyway cost nothing extra.
        for &m in set.iter().rev() {
            if sentinels.len() < want
                && !sentinels.contains(&m)
                && steps.iter().any(|s| covers(s, m))
            {
                sentinels.push(m);
            }
        }
        while sentinels.len() < want {
            // The cheapest mark unit (or page) to rewrite whole, never one holding boot
            // code (that would open the boot-code window for a sentinel).
            let unit = |m: u32| -> Option<(u32, u32)> {
                match (page, &fine) {
                    (Some(pg), _) => Some((m & !(pg as u32 - 1), pg as u32)),
                    (None, Some(e)) => e.unit_at(m),
                    (None, None) => None,
                }
            };
            let Some((m, (us, ul))) = set
                .iter()
                .copied()
                .filter(|m| !sentinels.contains(m))
                .filter_map(|m| unit(m).map(|u| (m, u)))
                .filter(|&(_, (us, _))| us as usize >= boot)
                .min_by_key(|&(_, (s, l))| {
                    target[s as usize..(s + l) as usize]
                        .iter()
                        .filter(|&&x| x != 0xFF)
                        .count()
                })
            else {
                break;
            };
            let (us, ul) = (us as usize, ul as usize);
            steps.retain(|st| !(step_start(st) as usize >= us && step_end(st) as usize <= us + ul));
            match (page, &fine) {
                (Some(_), _) => steps.push(Step::Program {
                    start: us as u32,
                    data: target[us..us + ul].to_vec(),
                }),
                (None, Some(e)) => {
                    steps.push(Step::Erase {
                        eraser: *e,
                        start: us as u32,
                        len: ul as u32,
                    });
                    let mut rewrite = Vec::new();
                    push_program(&mut rewrite, us, &target[us..us + ul]);
                    steps.extend(split_at_marks(rewrite, n, &marks));
                }
                (None, None) => unreachable!("unit() gave a unit"),
            }
            sentinels.push(m);
        }
    }
    // The commit writes the current image's rule's sentinels first and the target's last:
    // the last byte written is the one that completes the image the drive will start.
    if per_set.len() > 1 {
        let split = per_set[1];
        let (target_rule, current_rule) = sentinels.split_at(split);
        sentinels = [current_rule, target_rule].concat();
    }
    for &m in sentinels.iter().filter(|m| !free.contains(m)) {
        let a = m as usize;
        match page {
            Some(pg) => {
                let ps = a & !(pg - 1);
                let mut first = target[ps..ps + pg].to_vec();
                first[a - ps] = 0xFF;
                invalidate.push(Step::Program {
                    start: ps as u32,
                    data: first,
                });
            }
            None => {
                if mark_ok(a, current[a]) {
                    invalidate.push(Step::Program {
                        start: m,
                        data: vec![0x00],
                    });
                }
                // The erase covering the mark (one chip erase may cover both).
                if let Some(i) = steps.iter().position(|s| covers(s, m)) {
                    erase_first.push(steps.remove(i));
                }
            }
        }
    }
    // Boot steps keep their order; the rest go bank by bank from the top down, the
    // sentinels' banks last (A, then B), each bank's start byte alone at its end.
    let (boot_part, rest): (Vec<Step>, Vec<Step>) = steps
        .into_iter()
        .partition(|s| (step_start(s) as usize) < boot);
    let mut rest: Vec<((u64, u64, usize), Step)> = rest
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let a = step_start(&s);
            let bank = a / BANK as u32;
            // Ordinary banks rank 2.. (top first); sentinel A's bank ranks 1, B's 0.
            let rank = match sentinels.iter().position(|&m| m / BANK as u32 == bank) {
                Some(j) => (sentinels.len() - 1 - j) as u64,
                None => 2 + bank as u64,
            };
            let off = a % BANK as u32;
            let single = step_end(&s) == a + 1;
            let phase: u64 = match &s {
                Step::Erase { .. } => 0,
                _ if single && (marks.contains(&a) || (off == 0 && bank > 0)) => 3,
                _ if off < FIRST_PAGE => 2,
                _ => 1,
            };
            ((u64::MAX - rank, phase, i), s)
        })
        .collect();
    rest.sort_by_key(|(k, _)| *k);
    let mut rest: Vec<Step> = rest.into_iter().map(|(_, s)| s).collect();
    // The commit: each sentinel mark's byte (page-write chips: its page), A's then B's,
    // after everything else, so it is written only once the rest is verified.
    let mut commit = Vec::new();
    for &m in &sentinels {
        let at = |s: &Step| match page {
            Some(pg) => step_start(s) == m & !(pg as u32 - 1),
            None => step_start(s) == m && step_end(s) == m + 1,
        };
        if let Some(i) = rest.iter().rposition(at) {
            commit.push(rest.remove(i));
        }
    }
    let lead = invalidate.len() + erase_first.len();
    let mut out = invalidate;
    out.extend(erase_first);
    out.extend(boot_part);
    out.extend(rest);
    let commit_len = commit.len();
    out.extend(commit);
    let first = out.iter().position(|s| (step_start(s) as usize) < boot);
    let last = out.iter().rposition(|s| (step_start(s) as usize) < boot);
    let boot_steps = match (first, last) {
        (Some(f), Some(l)) => f..l + 1,
        _ => 0..0,
    };
    (out, boot_steps, sentinels, commit_len, lead)
}

fn page_write_steps(target: &[u8], current: &[u8], page: usize) -> Vec<Step> {
    (0..target.len() / page)
        .filter(|p| target[p * page..(p + 1) * page] != current[p * page..(p + 1) * page])
        .map(|p| Step::Program {
            start: (p * page) as u32,
            data: target[p * page..(p + 1) * page].to_vec(),
        })
        .collect()
}

/// Split `data` (with FF = skip) at `start` into program steps of at most 4 KiB, trimmed
/// to their non-FF span.
fn push_program(steps: &mut Vec<Step>, start: usize, data: &[u8]) {
    for (i, chunk) in data.chunks(0x1000).enumerate() {
        if let (Some(f), Some(l)) = (
            chunk.iter().position(|&b| b != 0xFF),
            chunk.iter().rposition(|&b| b != 0xFF),
        ) {
            steps.push(Step::Program {
                start: (start + i * 0x1000 + f) as u32,
                data: chunk[f..=l].to_vec(),
            });
        }
    }
}

type Erased = Vec<(Eraser, u32, u32)>;

/// With `protect_boot`, a unit covering boot code is erased only at the finest level,
/// where the chip's geometry forces it; never by a coarser (block or chip) erase chosen
/// for speed.
fn erase_program_steps(
    chip: &ChipInfo,
    erasers: &[Eraser],
    current: &[u8],
    target: &[u8],
    cost: &Cost,
    protect_boot: bool,
) -> (Vec<Step>, Erased) {
    let levels = nested_erasers(erasers);
    assert!(!levels.is_empty(), "{}: no usable eraser", chip.name);
    let needs_erase = |i: usize| current[i] & target[i] != target[i];
    // best[level][unit] = (cost, erase_here)
    let mut best: Vec<Vec<(u64, bool)>> = Vec::new();
    for (li, e) in levels.iter().enumerate() {
        let mut row = Vec::new();
        let mut child = 0usize;
        for (s, l) in e.units() {
            let (s, l) = (s as usize, l as usize);
            let erase_cost = if protect_boot && li > 0 && s < BOOT_LEN {
                u64::MAX
            } else {
                e.time.us * 1000 + program_cost(chip, cost, |j| target[j] != 0xFF, s..s + l)
            };
            let keep_cost = if li == 0 {
                if (s..s + l).any(needs_erase) {
                    u64::MAX
                } else {
                    program_cost(chip, cost, |j| current[j] != target[j], s..s + l)
                }
            } else {
                let mut sum = 0u64;
                let prev = &levels[li - 1];
                while child < best[li - 1].len() {
                    let (cs, cl) = prev.units().nth(child).expect("child");
                    if cs as usize >= s + l {
                        break;
                    }
                    let _ = cl;
                    sum = sum.saturating_add(best[li - 1][child].0);
                    child += 1;
                }
                sum
            };
            let unchanged = current[s..s + l] == target[s..s + l];
            row.push(if unchanged {
                (0, false)
            } else if erase_cost < keep_cost {
                (erase_cost, true)
            } else {
                (keep_cost, false)
            });
        }
        best.push(row);
    }
    // Walk down from the coarsest level.
    let mut steps = Vec::new();
    let mut erased = Vec::new();
    let mut stack: Vec<(usize, u32, u32)> = levels
        .last()
        .expect("levels")
        .units()
        .map(|(s, l)| (levels.len() - 1, s, l))
        .collect();
    stack.reverse();
    let unit_index = |e: &Eraser, s: u32| e.units().position(|(us, _)| us == s).expect("unit");
    while let Some((li, s, l)) = stack.pop() {
        let e = &levels[li];
        let (_, erase_here) = best[li][unit_index(e, s)];
        let (su, lu) = (s as usize, l as usize);
        if current[su..su + lu] == target[su..su + lu] {
            continue;
        }
        if erase_here {
            steps.push(Step::Erase {
                eraser: *e,
                start: s,
                len: l,
            });
            erased.push((*e, s, l));
            push_program(&mut steps, su, &target[su..su + lu]);
        } else if li == 0 {
            let data: Vec<u8> = (su..su + lu)
                .map(|j| {
                    if current[j] != target[j] {
                        target[j]
                    } else {
                        0xFF
                    }
                })
                .collect();
            push_program(&mut steps, su, &data);
        } else {
            let prev = &levels[li - 1];
            let mut kids: Vec<(usize, u32, u32)> = prev
                .units()
                .filter(|(cs, _)| *cs >= s && *cs < s + l)
                .map(|(cs, cl)| (li - 1, cs, cl))
                .collect();
            kids.reverse();
            stack.extend(kids);
        }
    }
    (steps, erased)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chips::by_name;
    use proptest::prelude::*;

    fn run(chip: &str, cur: &[u8], want: &[u8], boot: bool) -> (Plan, Vec<u8>) {
        let c = by_name(chip).unwrap();
        let p = plan(c, c.erasers, cur, want, boot, &Cost::default());
        let mut out = cur.to_vec();
        simulate(c, &p, &mut out);
        (p, out)
    }

    #[test]
    fn identical_image_plans_nothing() {
        let img = vec![0x5A; 0x80000];
        let (p, _) = run("SST39SF040", &img, &img, true);
        assert!(p.is_empty());
        assert_eq!(p.chip_time, Duration::ZERO);
    }

    #[test]
    fn one_changed_sector_erases_that_sector_and_two_sentinel_starts() {
        // Every bank starts with a jump, so no bank start is invalid to begin with.
        let cur: Vec<u8> = (0..0x100000)
            .map(|i| if i % BANK == 0 { 0x02 } else { 0x00 })
            .collect();
        let mut want = cur.clone();
        want[0x23456] = 0x01;
        let (p, out) = run("SST39VF080", &cur, &want, true);
        assert_eq!(out, want);
        let erases: Vec<(u32, u32)> = p
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Erase { start, len, .. } => Some((*start, *len)),
                _ => None,
            })
            .collect();
        assert_eq!(erases.len(), 3, "{erases:X?}");
        assert!(erases.contains(&(0x23000, 0x1000)));
        assert_eq!(p.sentinels.len(), 2);
        for m in &p.sentinels {
            assert!(erases.contains(&(*m, 0x1000)), "sentinel {m:X}");
        }
        // The sentinels' starts programmed to 00, their units erased, before anything
        // else; the last sentinel's start byte last.
        for (i, m) in p.sentinels.iter().enumerate() {
            assert!(matches!(&p.steps[i], Step::Program { start, data }
                if start == m && data[..] == [0x00]));
            assert!(matches!(p.steps[2 + i], Step::Erase { start, .. } if start == *m));
        }
        assert!(matches!(p.steps.last(), Some(Step::Program { start, data })
            if *start == p.sentinels[1] && data.len() == 1));
        // Three sectors reprogrammed (4094 zero bytes and a jump each, one changed byte)
        // and the two 00 bytes that invalidate the sentinels' starts.
        assert_eq!(p.program_bytes, 3 * 0x1000 + 2);
    }

    fn weak_bootable(img: &[u8]) -> bool {
        crate::firmware::weakly_bootable(img)
    }

    fn images_with_banks(size: usize, seed: u8) -> (Vec<u8>, Vec<u8>) {
        let cur: Vec<u8> = (0..size)
            .map(|i| {
                if i % BANK == 0 {
                    0x02
                } else {
                    (i as u8).wrapping_mul(seed)
                }
            })
            .collect();
        let want: Vec<u8> = (0..size)
            .map(|i| {
                if i % BANK == 0 {
                    0x02
                } else {
                    (i as u8).wrapping_mul(seed ^ 0x5A)
                }
            })
            .collect();
        (cur, want)
    }

    /// After every step of a plan the flash is the old image, the new one, or one the
    /// drive cannot boot; a step that makes a bank start valid writes that byte alone.
    fn assert_no_half_written_boot(chip: &str, cur: &[u8], want: &[u8], boot: bool) {
        let c = by_name(chip).unwrap();
        let p = plan(c, c.erasers, cur, want, boot, &Cost::default());
        let mut mem = cur.to_vec();
        for (i, st) in p.steps.iter().enumerate() {
            let before = mem.clone();
            simulate(
                c,
                &Plan {
                    steps: vec![st.clone()],
                    ..p.clone()
                },
                &mut mem,
            );
            let half = mem != cur && mem != p.target;
            assert!(
                !(half && weak_bootable(&mem)),
                "{chip}: after step {i} of {} ({:?}) the half-written image is bootable",
                p.steps.len(),
                step_start(st)
            );
            if let (Step::Program { start, data }, None) = (st, c.write.page()) {
                let newly_valid = (0..cur.len()).step_by(BANK).skip(1).any(|a| {
                    !crate::inference::bank_start_ok(before[a])
                        && crate::inference::bank_start_ok(mem[a])
                });
                assert!(
                    !newly_valid || data.len() == 1,
                    "{chip}: step {i} at {start:X} validates a bank start with {} bytes",
                    data.len()
                );
            }
        }
        assert_eq!(mem, p.target);
    }

    #[test]
    fn no_step_of_a_plan_leaves_a_bootable_half_written_image() {
        for chip in [
            "SST39VF080",
            "SST39SF040",
            "Am29F040B",
            "Am29LV800BB",
            "W29C020",
            "MX25L8005",
            "SST25VF080B",
            "PM25LV020",
        ] {
            let size = by_name(chip).unwrap().size as usize;
            let (cur, want) = images_with_banks(size, 3);
            // A new revision, one changed byte in a bank, one in bank 0, the boot too.
            assert_no_half_written_boot(chip, &cur, &want, false);
            assert_no_half_written_boot(chip, &cur, &want, true);
            for at in [0x23456 % size, 0x8123, size - 0x10 - BANK / 2] {
                let mut one = cur.clone();
                one[at] ^= 0x81;
                assert_no_half_written_boot(chip, &cur, &one, false);
            }
        }
    }

    #[test]
    fn liteon_layout_images_use_the_liteon_marks_as_sentinels() {
        use crate::firmware::synth;
        for chip in [
            "SST39VF080",
            "Am29F040B",
            "W29C020",
            "MX25L8005",
            "SST25VF080B",
        ] {
            let size = by_name(chip).unwrap().size as usize;
            let spec = |rev: &str| synth::Spec {
                vendor: "LITE-ON".into(),
                product: "DVDRW SOHW-1673S".into(),
                revision: rev.into(),
                size,
            };
            let (cur, want) = (synth::liteon(&spec("JS01")), synth::liteon(&spec("JS0C")));
            let c = by_name(chip).unwrap();
            let p = plan(c, c.erasers, &cur, &want, false, &Cost::default());
            assert!(!p.sentinels.is_empty(), "{chip}");
            assert!(
                p.sentinels.iter().all(|m| [0x4000, 0xFFF8].contains(m)),
                "{chip}: {:X?}",
                p.sentinels
            );
            assert_no_half_written_boot(chip, &cur, &want, false);
            let mut one = cur.clone();
            one[size - 0x9000] ^= 0x41;
            if c.write.page().is_none() && c.erasers[0].unit_at(0).unwrap().1 as usize > BOOT_LEN {
                // Both LiteOn marks share the boot-code sector: guarding them would open
                // the boot-code window for a change elsewhere. No sentinel; the engine
                // warns (docs/inferences.md).
                let p = plan(c, c.erasers, &cur, &one, false, &Cost::default());
                assert!(p.sentinels.is_empty() && !p.is_empty(), "{chip}");
            } else {
                assert_no_half_written_boot(chip, &cur, &one, false);
            }
        }
    }

    #[test]
    fn a_write_across_layouts_guards_the_rules_of_both() {
        use crate::firmware::synth;
        for chip in ["SST39VF080", "MX25L8005", "W29C020"] {
            let size = by_name(chip).unwrap().size as usize;
            let spec = |rev: &str| synth::Spec {
                vendor: "LITE-ON".into(),
                product: "DVDRW SOHW-1673S".into(),
                revision: rev.into(),
                size,
            };
            let liteon = synth::liteon(&spec("JS01"));
            let banked = synth::generate(&spec("JS0C"));
            assert_no_half_written_boot(chip, &liteon, &banked, false);
            assert_no_half_written_boot(chip, &banked, &liteon, false);
        }
    }

    #[test]
    fn banks_are_written_from_the_top_down_with_each_start_byte_last() {
        let (cur, want) = images_with_banks(0x100000, 7);
        let c = by_name("SST39VF080").unwrap();
        let p = plan(c, c.erasers, &cur, &want, false, &Cost::default());
        // Programs outside the sentinels' banks, in order of appearance.
        let banks: Vec<u32> = p
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Program { .. }))
            .map(|s| step_start(s) / BANK as u32)
            .filter(|b| !p.sentinels.contains(&(b * BANK as u32)))
            .collect();
        let mut sorted = banks.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(banks, sorted, "top down");
        // Within each bank the start byte is programmed after everything else.
        for b in 1..16u32 {
            let idx: Vec<usize> = p
                .steps
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    step_start(s) / BANK as u32 == b && matches!(s, Step::Program { .. })
                })
                .map(|(i, _)| i)
                .collect();
            let last = *idx.last().unwrap();
            assert!(
                matches!(&p.steps[last], Step::Program { start, data } if *start == b * BANK as u32 && data.len() == 1),
                "bank {b}"
            );
        }
    }

    #[test]
    fn a_bank_start_that_is_invalid_now_is_a_free_sentinel() {
        // Blank chip: no erase at all; one bank's start byte is programmed last.
        let cur = vec![0xFF; 0x100000];
        let (want, _) = images_with_banks(0x100000, 3);
        let (p, out) = run("SST39VF080", &cur, &want, false);
        assert_eq!(out[BOOT_LEN..], want[BOOT_LEN..]);
        assert_eq!(p.erase_bytes, 0);
        assert_eq!(p.sentinels, [0xF0000]);
        assert!(
            matches!(p.steps.last(), Some(Step::Program { start: 0xF0000, data }) if data.len() == 1)
        );
    }

    #[test]
    fn program_only_when_bits_only_clear() {
        let cur = vec![0xFF; 0x80000];
        let mut want = cur.clone();
        want[0x100] = 0x12;
        want[0x7FFFF] = 0x00;
        let (p, out) = run("SST39SF040", &cur, &want, true);
        assert_eq!(out, want);
        assert_eq!(p.erase_bytes, 0);
        assert_eq!(p.program_bytes, 2);
        assert_eq!(p.chip_time, Duration::from_micros(28));
    }

    #[test]
    fn a_whole_changed_chip_uses_the_chip_or_block_erase() {
        let cur = vec![0x00; 0x100000];
        let want = vec![0x01; 0x100000];
        let (p, out) = run("SST39VF080", &cur, &want, true);
        assert_eq!(out, want);
        let n_erase = p
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Erase { .. }))
            .count();
        assert_eq!(n_erase, 1, "one chip erase beats 256 sector erases");
    }

    #[test]
    fn boot_code_is_kept_without_write_boot() {
        let cur = vec![0x11; 0x80000];
        let want = vec![0x22; 0x80000];
        let (p, out) = run("SST39SF040", &cur, &want, false);
        assert!(out[..BOOT_LEN].iter().all(|&b| b == 0x11));
        assert!(out[BOOT_LEN..].iter().all(|&b| b == 0x22));
        assert!(
            !p.boot_erased,
            "4 KiB sectors: the boot code need not be touched"
        );
        assert!(!p.boot_changes);
        let (p2, out2) = run("SST39SF040", &cur, &want, true);
        assert_eq!(out2, want);
        assert!(p2.boot_changes);
    }

    #[test]
    fn sixty_four_k_sector_chip_rewrites_kept_boot_code_first() {
        let cur = vec![0x11; 0x80000];
        let mut want = cur.clone();
        want[0x8000] = 0x33; // inside sector 0, outside the boot code
        let (p, out) = run("Am29LV040B", &cur, &want, false);
        assert!(p.boot_erased);
        assert_eq!(out[..BOOT_LEN], cur[..BOOT_LEN]);
        assert_eq!(out, {
            let mut w = want.clone();
            w[..BOOT_LEN].copy_from_slice(&cur[..BOOT_LEN]);
            w
        });
        // Erase of sector 0, then the program step covering 0x0000 comes before others
        // (bank starts hold no jump here: no sentinel needs erasing).
        assert!(matches!(p.steps[0], Step::Erase { start: 0, .. }));
        assert!(matches!(&p.steps[1], Step::Program { start: 0, .. }));
        assert_eq!(p.boot_steps.start, 0);
        // With jumps at every bank start, two sentinels are erased first.
        let (cur, _) = images_with_banks(0x80000, 3);
        let mut want = cur.clone();
        want[0x8000] ^= 0x33;
        let (p, _) = run("Am29LV040B", &cur, &want, false);
        assert!(matches!(&p.steps[0], Step::Program { data, .. } if data[..] == [0]));
        assert!(matches!(&p.steps[1], Step::Program { data, .. } if data[..] == [0]));
        assert!(matches!(p.steps[2], Step::Erase { start, .. } if start >= 0x10000));
        assert!(matches!(p.steps[3], Step::Erase { start, .. } if start >= 0x10000));
        assert!(matches!(p.steps[4], Step::Erase { start: 0, .. }));
        assert!(matches!(&p.steps[5], Step::Program { start: 0, .. }));
        assert_eq!(p.boot_steps.start, 4);
    }

    #[test]
    fn page_write_chip_rewrites_changed_pages_only() {
        let cur = vec![0x11; 0x40000];
        let mut want = cur.clone();
        want[0x1000] = 0xFF;
        want[0x2005] = 0x00;
        let (p, out) = run("W29C020", &cur, &want, true);
        assert_eq!(out, want);
        // Bank starts hold no jump (0x11): bank 3's start is a free sentinel, so only
        // the two changed pages are written.
        assert_eq!(p.steps.len(), 2);
        assert_eq!(p.chip_time, Duration::from_millis(20));
        let (cur, mut want) = images_with_banks(0x40000, 3);
        want[..0x8000].copy_from_slice(&cur[..0x8000]);
        let (p, out) = run("W29C020", &cur, &want, true);
        assert_eq!(out, want);
        // Valid bank starts: each of the two sentinels' first pages is written with FF
        // at its start first, and whole at the end.
        let first_pages = p
            .steps
            .iter()
            .filter(|s| p.sentinels.contains(&step_start(s)))
            .count();
        assert_eq!(first_pages, 4);
        assert!(matches!(&p.steps[0], Step::Program { data, .. } if data[0] == 0xFF));
    }

    #[test]
    fn nested_erasers_drop_a_layout_that_does_not_nest() {
        let c = by_name("SST25VF080B").unwrap();
        let n = nested_erasers(c.erasers);
        // 4K, 32K, 64K, one chip erase (the second chip-erase opcode adds nothing).
        assert_eq!(
            n.iter().map(|e| e.cmd).collect::<Vec<_>>(),
            [0x20, 0x52, 0xD8, 0x60]
        );
        let b = by_name("Am29LV800BB").unwrap();
        assert_eq!(nested_erasers(b.erasers).len(), 2);
    }

    #[test]
    fn the_unit_check_catches_an_erase_the_layout_does_not_have() {
        let pt = by_name("A25L20PT").unwrap();
        let (cur, want) = images_with_banks(0x40000, 3);
        let p = plan(pt, pt.erasers, &cur, &want, false, &Cost::default());
        assert_eq!(p.check_units(pt), Ok(()));
        // A plan made for the uniform 64 KiB layout erases 0x30000..0x40000 in one go;
        // on the A25L20PT that D8 would erase only the 32 KiB unit.
        let uniform = by_name("PM25LV020").unwrap();
        let mut bad = p.clone();
        bad.steps.push(Step::Erase {
            eraser: pt.erasers[0],
            start: 0x30000,
            len: 0x10000,
        });
        assert!(bad.check_units(pt).unwrap_err().contains("not one unit"));
        let other = plan(
            uniform,
            uniform.erasers,
            &cur,
            &want,
            false,
            &Cost::default(),
        );
        assert!(other.check_units(pt).is_err());
    }

    #[test]
    fn touched_ranges_merge() {
        let cur = vec![0x00; 0x80000];
        let mut want = cur.clone();
        want[0x5000] = 1;
        want[0x5001] = 1;
        let (p, _) = run("SST39SF040", &cur, &want, true);
        assert_eq!(p.touched(), vec![(0x5000, 0x1000)]);
    }

    fn arb_pair(size: usize) -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
        // Mostly equal images with random sparse differences, so all plan shapes occur.
        (
            proptest::collection::vec(any::<u8>(), 64),
            proptest::collection::vec((0..size, any::<u8>()), 0..40),
            proptest::collection::vec((0..size, any::<u8>()), 0..40),
            any::<bool>(),
        )
            .prop_map(move |(pat, d1, d2, ff)| {
                let base: Vec<u8> = (0..size)
                    .map(|i| if ff && i % 3 == 0 { 0xFF } else { pat[i % 64] })
                    .collect();
                let mut a = base.clone();
                let mut b = base;
                for (i, v) in d1 {
                    a[i] = v;
                }
                for (i, v) in d2 {
                    b[i] = v;
                }
                (a, b)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn any_plan_yields_the_target(
            chip in prop::sample::select(vec!["SST39SF010A", "Am29F040B", "W29C020", "MX25L2005", "SST25VF040B", "Pm39LV010", "PM25LV020", "A25L20PT", "A25L20PU"]),
            seed_pair in arb_pair(0x20000),
            write_boot in any::<bool>(),
        ) {
            let c = by_name(chip).unwrap();
            let size = c.size as usize;
            let (mut cur, mut want) = seed_pair;
            cur.resize(size, 0xA5);
            want.resize(size, 0xA5);
            let p = plan(c, c.erasers, &cur, &want, write_boot, &Cost::default());
            prop_assert_eq!(p.check_units(c), Ok(()));
            let mut out = cur.clone();
            simulate(c, &p, &mut out);
            prop_assert_eq!(&out, &p.target);
            prop_assert_eq!(&out[BOOT_LEN..], &want[BOOT_LEN..]);
            if write_boot {
                prop_assert_eq!(&out[..BOOT_LEN], &want[..BOOT_LEN]);
            } else {
                prop_assert_eq!(&out[..BOOT_LEN], &cur[..BOOT_LEN]);
                // Without /b nothing touches the boot code unless an erase unit forces it.
                let min_unit = c.erasers[0].regions[0].size as usize;
                if min_unit <= BOOT_LEN && c.erasers[0].unit_at(0).unwrap().1 as usize <= BOOT_LEN {
                    prop_assert!(!p.boot_erased);
                    for s in &p.steps {
                        if let Step::Program { start, .. } = s { prop_assert!(*start as usize >= BOOT_LEN); }
                    }
                }
            }
        }
    }
}
