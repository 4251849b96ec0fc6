//! The write order: boot-code steps first, banks from the top down with each bank's
//! first page and start byte last, and the sentinels that keep a half-written image
//! from booting (see the module doc of `plan`).

use super::erase::{nested_erasers, push_program};
use super::Step;
use crate::chips::{ChipInfo, Eraser};
use crate::firmware::BANK;
use crate::inference::BOOT_LEN;
use bytes::Bytes;

pub(super) fn step_start(s: &Step) -> u32 {
    match s {
        Step::Erase { start, .. } | Step::Program { start, .. } => *start,
    }
}

pub(super) fn step_end(s: &Step) -> u32 {
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
pub(super) fn split_at_marks(steps: Vec<Step>, n: usize, marks: &[u32]) -> Vec<Step> {
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
                &data.slice((from - start) as usize..(c - start) as usize),
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
pub(super) fn safe_order(
    chip: &ChipInfo,
    erasers: &[Eraser],
    current: &[u8],
    target: &Bytes,
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
                    data: target.slice(us..us + ul),
                }),
                (None, Some(e)) => {
                    steps.push(Step::Erase {
                        eraser: *e,
                        start: us as u32,
                        len: ul as u32,
                    });
                    let mut rewrite = Vec::new();
                    push_program(&mut rewrite, us, &target.slice(us..us + ul));
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
                    data: first.into(),
                });
            }
            None => {
                if mark_ok(a, current[a]) {
                    invalidate.push(Step::Program {
                        start: m,
                        data: Bytes::from_static(&[0x00]),
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
