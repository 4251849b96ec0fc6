//! The cheapest erase and program steps for a change, ignoring order: the dynamic
//! programme over nested erase levels (as flashrom chooses erasers), and the page-write
//! chips' plain page rewrite.

use super::{Cost, Step};
use crate::chips::{ChipInfo, Eraser};
use crate::inference::BOOT_LEN;
use bytes::Bytes;

pub(super) fn program_unit(chip: &ChipInfo) -> usize {
    chip.program_unit() as usize
}

/// Erasers usable for planning: finest first, each one's units made of whole units of
/// the one before (boot-block layouts nest too; any that does not is left out).
pub(super) fn nested_erasers(erasers: &[Eraser]) -> Vec<Eraser> {
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

pub(super) fn page_write_steps(target: &Bytes, current: &[u8], page: usize) -> Vec<Step> {
    (0..target.len() / page)
        .filter(|p| target[p * page..(p + 1) * page] != current[p * page..(p + 1) * page])
        .map(|p| Step::Program {
            start: (p * page) as u32,
            data: target.slice(p * page..(p + 1) * page),
        })
        .collect()
}

/// Split `data` (with FF = skip) at `start` into program steps of at most 4 KiB, trimmed
/// to their non-FF span (slices of `data`'s buffer, not copies).
pub(super) fn push_program(steps: &mut Vec<Step>, start: usize, data: &Bytes) {
    for (i, chunk) in data.chunks(0x1000).enumerate() {
        if let (Some(f), Some(l)) = (
            chunk.iter().position(|&b| b != 0xFF),
            chunk.iter().rposition(|&b| b != 0xFF),
        ) {
            let from = i * 0x1000 + f;
            steps.push(Step::Program {
                start: (start + from) as u32,
                data: data.slice(from..i * 0x1000 + l + 1),
            });
        }
    }
}

pub(super) type Erased = Vec<(Eraser, u32, u32)>;

/// With `protect_boot`, a unit covering boot code is erased only at the finest level,
/// where the chip's geometry forces it; never by a coarser (block or chip) erase chosen
/// for speed.
pub(super) fn erase_program_steps(
    chip: &ChipInfo,
    erasers: &[Eraser],
    current: &[u8],
    target: &Bytes,
    cost: &Cost,
    protect_boot: bool,
) -> (Vec<Step>, Erased) {
    let levels = nested_erasers(erasers);
    assert!(!levels.is_empty(), "{}: no usable eraser", chip.name);
    // What each unit holds, counted once at the finest level and summed upwards (the
    // levels nest, and every unit is whole program units): program units and bytes the
    // target has (what an erase must program back) and that differ (what a program
    // without an erase must write), whether a differing byte needs a 0 -> 1 (an erase).
    #[derive(Clone, Copy, Default)]
    struct Stat {
        tgt_units: u64,
        tgt_bytes: u64,
        diff_units: u64,
        diff_bytes: u64,
        needs_erase: bool,
        unchanged: bool,
    }
    let unit = program_unit(chip);
    let price = |units: u64, bytes: u64| units * chip.program.us * 1000 + bytes * cost.byte_bus_ns;
    let finest = |s: usize, l: usize| -> Stat {
        let (c, t) = (&current[s..s + l], &target[s..s + l]);
        let mut st = Stat {
            unchanged: c == t,
            ..Stat::default()
        };
        for (c, t) in c.chunks(unit).zip(t.chunks(unit)) {
            let tn = t.iter().filter(|&&b| b != 0xFF).count() as u64;
            st.tgt_units += u64::from(tn > 0);
            st.tgt_bytes += tn;
            if st.unchanged || c == t {
                continue;
            }
            let dn = c.iter().zip(t).filter(|(a, b)| a != b).count() as u64;
            st.diff_units += 1;
            st.diff_bytes += dn;
            st.needs_erase |= c.iter().zip(t).any(|(&a, &b)| a & b != b);
        }
        st
    };
    // best[level][unit] = (cost, erase_here)
    let mut best: Vec<Vec<(u64, bool)>> = Vec::new();
    let mut stats: Vec<Stat> = Vec::new();
    for (li, e) in levels.iter().enumerate() {
        let mut row = Vec::new();
        let mut row_stats = Vec::new();
        let mut child = 0usize;
        let prev_units: Vec<(u32, u32)> = match li {
            0 => Vec::new(),
            _ => levels[li - 1].units().collect(),
        };
        for (s, l) in e.units() {
            let (s, l) = (s as usize, l as usize);
            let (st, keep_cost) = if li == 0 {
                let st = finest(s, l);
                let keep = if st.needs_erase {
                    u64::MAX
                } else {
                    price(st.diff_units, st.diff_bytes)
                };
                (st, keep)
            } else {
                let mut st = Stat {
                    unchanged: true,
                    ..Stat::default()
                };
                let mut sum = 0u64;
                while child < prev_units.len() && (prev_units[child].0 as usize) < s + l {
                    let k = stats[child];
                    st.tgt_units += k.tgt_units;
                    st.tgt_bytes += k.tgt_bytes;
                    st.unchanged &= k.unchanged;
                    sum = sum.saturating_add(best[li - 1][child].0);
                    child += 1;
                }
                (st, sum)
            };
            let erase_cost = if protect_boot && li > 0 && s < BOOT_LEN {
                u64::MAX
            } else {
                e.time.us * 1000 + price(st.tgt_units, st.tgt_bytes)
            };
            row.push(if st.unchanged {
                (0, false)
            } else if erase_cost < keep_cost {
                (erase_cost, true)
            } else {
                (keep_cost, false)
            });
            row_stats.push(st);
        }
        best.push(row);
        stats = row_stats;
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
            push_program(&mut steps, su, &target.slice(su..su + lu));
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
            push_program(&mut steps, su, &Bytes::from(data));
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
