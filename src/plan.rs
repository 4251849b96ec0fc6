//! Pure planning: current flash content + wanted image + chip geometry -> the erase and
//! program steps that turn one into the other at the least modelled cost.
//!
//! As flashrom does: bytes already right cost nothing; a unit is erased only when some
//! byte needs a 0 turned into a 1; an erased byte that should be FF needs no programming;
//! coarser erasers (64 KiB block, chip) are chosen where they are cheaper than the finer
//! ones they cover. Without `write_boot` the boot code (0x0000..0x4000) is kept byte for
//! byte: if an erase unit must cover it (64 KiB-sector chips), the kept boot code is
//! programmed back first, right after that erase.

use crate::chips::{ChipInfo, Eraser, WriteMode};
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
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
    /// Address ranges to read back after executing: every erased unit and programmed span.
    pub fn touched(&self) -> Vec<(u32, u32)> {
        let mut v: Vec<(u32, u32)> = self
            .steps
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
/// `chip.erasers`; fewer when the chip variant is ambiguous).
pub fn plan(
    chip: &ChipInfo,
    erasers: &[Eraser],
    current: &[u8],
    wanted: &[u8],
    write_boot: bool,
    cost: &Cost,
) -> Plan {
    plan_owned(chip, erasers, current, wanted.to_vec(), write_boot, cost)
}

/// [`plan`] taking the wanted image by value: it becomes the plan's target, no copy.
pub fn plan_owned(
    chip: &ChipInfo,
    erasers: &[Eraser],
    current: &[u8],
    wanted: Vec<u8>,
    write_boot: bool,
    cost: &Cost,
) -> Plan {
    assert_eq!(current.len(), wanted.len(), "plan: sizes differ");
    let n = current.len();
    let boot = BOOT_LEN.min(n);
    let mut target = wanted;
    if !write_boot {
        target[..boot].copy_from_slice(&current[..boot]);
    }
    let boot_changes = current[..boot] != target[..boot];

    let (mut steps, erased): (Vec<Step>, Vec<(Eraser, u32, u32)>) = match chip.write {
        WriteMode::JedecPage { page } => (
            page_write_steps(&target, current, page as usize),
            Vec::new(),
        ),
        _ => erase_program_steps(chip, erasers, current, &target, cost, !write_boot),
    };
    // Order: any unit holding boot code first, so the window without boot code is short.
    steps.sort_by_key(|s| match s {
        Step::Erase { start, .. } | Step::Program { start, .. } if (*start as usize) < boot => 0,
        _ => 1,
    });
    let erase_bytes = erased.iter().map(|e| e.2 as u64).sum();
    let program_bytes = steps
        .iter()
        .map(|s| match s {
            Step::Program { data, .. } => data.iter().filter(|&&b| b != 0xFF).count() as u64,
            _ => 0,
        })
        .sum();
    let mut chip_ns: u64 = erased.iter().map(|e| e.0.time.us * 1000).sum();
    let unit = program_unit(chip);
    for s in &steps {
        if let Step::Program { start, data } = s {
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
    Plan {
        boot_erased: erased.iter().any(|e| (e.1 as usize) < boot),
        target,
        steps,
        erase_bytes,
        program_bytes,
        chip_time: Duration::from_nanos(chip_ns),
        boot_changes,
    }
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
    for s in &plan.steps {
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
    fn one_changed_sector_erases_only_that_sector() {
        let cur = vec![0x00; 0x100000];
        let mut want = cur.clone();
        want[0x23456] = 0x01;
        let (p, out) = run("SST39VF080", &cur, &want, true);
        assert_eq!(out, want);
        let erases: Vec<_> = p
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Erase { .. }))
            .collect();
        assert_eq!(erases.len(), 1);
        assert!(matches!(
            erases[0],
            Step::Erase {
                start: 0x23000,
                len: 0x1000,
                ..
            }
        ));
        // Sector erase 18 ms + 4095 zero bytes reprogrammed at 14 us...
        assert_eq!(p.program_bytes, 0x1000);
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
        // Erase of sector 0, then the program step covering 0x0000 comes before others.
        assert!(matches!(p.steps[0], Step::Erase { start: 0, .. }));
        assert!(matches!(&p.steps[1], Step::Program { start: 0, .. }));
    }

    #[test]
    fn page_write_chip_rewrites_changed_pages_only() {
        let cur = vec![0x11; 0x40000];
        let mut want = cur.clone();
        want[0x1000] = 0xFF;
        want[0x2005] = 0x00;
        let (p, out) = run("W29C020", &cur, &want, true);
        assert_eq!(out, want);
        assert_eq!(p.steps.len(), 2);
        assert_eq!(p.chip_time, Duration::from_millis(20));
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
            chip in prop::sample::select(vec!["SST39SF010A", "Am29F040B", "W29C020", "MX25L2005", "SST25VF040B", "Pm39LV010", "PM25LV020"]),
            seed_pair in arb_pair(0x20000),
            write_boot in any::<bool>(),
        ) {
            let c = by_name(chip).unwrap();
            let size = c.size as usize;
            let (mut cur, mut want) = seed_pair;
            cur.resize(size, 0xA5);
            want.resize(size, 0xA5);
            let p = plan(c, c.erasers, &cur, &want, write_boot, &Cost::default());
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
