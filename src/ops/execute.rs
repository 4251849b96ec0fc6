//! Running a plan's steps through the chip driver, reading back what was written, and
//! showing a plan without running it (`--dry-run`).

use super::readback::{read_checked_whole, read_verify};
use super::session::Session;
use super::write::{boot_gone_next, partial_state, saved_in, uncommitted, Report};
use crate::error::{Failure, Kind, NOT_CHANGED};
use crate::firmware;
use crate::inference::BOOT_LEN;
use crate::mtk::flash::FlashOps;
use crate::plan::{self, Step};
use crate::report::{Event, Ui};
use std::path::PathBuf;
use std::time::Duration;

/// Chip time of one step (datasheet timings from the chip table).
pub(super) fn step_chip_time(chip: &crate::chips::ChipInfo, st: &Step) -> Duration {
    match st {
        Step::Erase { eraser, .. } => Duration::from_micros(eraser.time.us),
        Step::Program { start, data } => {
            let unit = chip.program_unit() as usize;
            let first = *start as usize;
            let units = (first / unit..(first + data.len()).div_ceil(unit))
                .filter(|u| {
                    chip.write.page().is_some()
                        || (u * unit..(u + 1) * unit)
                            .filter(|a| (first..first + data.len()).contains(a))
                            .any(|a| data[a - first] != 0xFF)
                })
                .count() as u64;
            Duration::from_micros(units * chip.program.us)
        }
    }
}

/// Print a plan in the order it would run (`--dry-run`), one line and one `plan-step`
/// event per step.
pub(super) fn show_plan(p: &plan::Plan, chip: &crate::chips::ChipInfo, ui: &mut dyn Ui) {
    if p.is_empty() {
        ui.line("Plan: nothing to write (the flash already holds this image)");
        return;
    }
    ui.line(&format!(
        "Plan: {} steps, in the order they would run (banks from the top down, each bank's first page and start byte last; the commit only after everything before it reads back correct):",
        p.steps.len()
    ));
    let commit_from = p.steps.len() - p.commit;
    for (i, st) in p.steps.iter().enumerate() {
        let t = step_chip_time(chip, st);
        let (op, start, len, detail) = match st {
            Step::Erase { eraser, start, len } => (
                "erase",
                *start,
                *len,
                format!(
                    "erase 0x{start:06X}-0x{:06X} ({} KiB, opcode {:02X})",
                    start + len - 1,
                    len / 1024,
                    eraser.cmd
                ),
            ),
            Step::Program { start, data } => ("program", *start, data.len() as u32, {
                let n = data.iter().filter(|&&b| b != 0xFF).count();
                let end = *start as usize + data.len() - 1;
                let s = if n == 1 { "" } else { "s" };
                format!("program 0x{start:06X}-0x{end:06X} ({n} byte{s})")
            }),
        };
        let commit = i >= commit_from;
        let bank = start / firmware::BANK as u32;
        let boot = if p.boot_steps.contains(&i) {
            " [boot code]"
        } else {
            ""
        };
        let tag = if commit {
            " [commit]"
        } else if p.sentinels.contains(&start) && op == "program" && len == 1 {
            " [sentinel made invalid]"
        } else {
            ""
        };
        let time = if t < Duration::from_millis(1) {
            format!("{} us", t.as_micros())
        } else {
            format!("{:.1} ms", t.as_secs_f64() * 1000.0)
        };
        ui.line(&format!(
            "  {i:>4}  Bank{bank:<2} {detail}, {time}{boot}{tag}"
        ));
        ui.event(&Event::PlanStep {
            index: i,
            bank,
            op: op.into(),
            start,
            len,
            detail,
            chip_ms: t.as_secs_f64() * 1000.0,
            commit,
        });
    }
    ui.line(&format!(
        "Total: erase {} KiB, program {} bytes, chip time {:.2} s (datasheet timings; bus time comes on top)",
        p.erase_bytes / 1024,
        p.program_bytes,
        p.chip_time.as_secs_f64()
    ));
}

/// Read back `ranges` into `flash` and compare the whole of it with `want`, except the
/// `pending` bytes (the commit, not written yet), which must hold their given values.
/// While anything is pending the drive will not start the image (said in the message).
#[allow(clippy::too_many_arguments)]
pub(super) fn verify_ranges(
    s: &mut Session<'_>,
    ranges: &[(u32, u32)],
    flash: &mut [u8],
    want: &[u8],
    pending: &[(usize, u8)],
    old_boot: &[u8],
    report: &Report,
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    let total: u64 = ranges.iter().map(|r| r.1 as u64).sum();
    ui.begin("Verifying", total);
    let verified = {
        let mut drv = s.driver();
        ranges.iter().try_for_each(|&(a, l)| {
            let r = a as usize..(a + l) as usize;
            read_verify(drv.as_mut(), a, &mut flash[r.clone()], &want[r], ui)
        })
    };
    ui.end();
    let not_committed = if pending.is_empty() {
        ""
    } else {
        "; the image is not committed yet (a bank start is left blank), so the drive will run its boot code only until the same command finishes"
    };
    if let Err(f) = verified {
        let interrupted = f.kind == Kind::Interrupted;
        // Every step ran before the read-back began: the flash holds what was written;
        // only the confirmation is missing (a read that failed says nothing about it).
        let saved = saved_in(&report.backup);
        let st = if interrupted {
            format!("written, but the read-back was interrupted before it finished{not_committed}{saved}")
        } else {
            format!("written, but the read-back failed before it finished, so the write is not confirmed; the boot code is intact{not_committed}{saved}")
        };
        let kind = if interrupted {
            Kind::Interrupted
        } else {
            Kind::VerifyFailed
        };
        let next = "run the same command again: it verifies, and writes only what differs";
        return Err(Failure::new(kind, f.what, st, next));
    }
    let pending: std::collections::HashMap<usize, u8> = pending.iter().copied().collect();
    let want_at = |i: usize| pending.get(&i).copied().unwrap_or(want[i]);
    let differs = |i: &usize| flash[*i] != want_at(*i);
    if let Some(bad) = (0..flash.len()).find(differs) {
        let n = (0..flash.len()).filter(differs).count();
        let boot = old_boot.len();
        let boot_ok = flash[..boot] == want[..boot] || flash[..boot] == old_boot[..];
        return Err(Failure::new(
            Kind::VerifyFailed,
            format!("verification failed: {n} byte(s) differ from the image, the first at 0x{bad:06X} (0x{:02X}, should be 0x{:02X})", flash[bad], want_at(bad)),
            format!("{}{not_committed}", partial_state(Some(bad as u32 & !0xFFF), boot_ok, &report.backup)),
            "run the same command again; if the same bytes fail again the flash chip may be worn out",
        ));
    }
    Ok(())
}

/// The failure of a write stopped by Ctrl-C before step `i`: what the flash holds then.
fn interrupted_at(p: &plan::Plan, i: usize, backup: &Option<PathBuf>) -> Failure {
    let at = match &p.steps[i] {
        Step::Erase { start, .. } | Step::Program { start, .. } => *start,
    };
    let boot_steps = &p.boot_steps;
    let in_boot = boot_steps.start < i && i < boot_steps.end;
    let state = if i == 0 {
        NOT_CHANGED.to_string()
    } else if i >= p.steps.len() - p.commit {
        uncommitted(backup)
    } else {
        format!(
            "{} of {} steps done; {}",
            i,
            p.steps.len(),
            partial_state(Some(at), !in_boot, backup)
        )
    };
    super::interrupted(
        &format!("before the step at 0x{at:06X}; the step in flight was finished"),
        state,
        if in_boot {
            boot_gone_next(backup)
        } else {
            "run the same command again to finish: only what still differs is written".into()
        },
    )
}

/// Read the rewritten boot code back; it must be the plan's.
fn check_boot(drv: &mut dyn FlashOps, p: &plan::Plan, current: &[u8]) -> Result<(), Failure> {
    let mut got = vec![0u8; BOOT_LEN];
    read_checked_whole(drv, 0, &mut got)?;
    if got[..] == p.target[..BOOT_LEN] {
        return Ok(());
    }
    Err(Failure::new(
        Kind::VerifyFailed,
        "the rewritten boot code does not read back correctly".to_string(),
        "the boot code may be damaged: do NOT power the drive off",
        format!(
            "run the same command with /b right away to write the boot code again{}",
            if got[..] == current[..BOOT_LEN] {
                ""
            } else {
                " (the old boot code is in the backup)"
            }
        ),
    ))
}

/// Run the plan's steps in `range`, one `BankN` line per 64 KiB bank reached, verifying
/// the boot code as soon as the steps that rewrite it are done.
pub(super) fn execute(
    s: &mut Session<'_>,
    p: &plan::Plan,
    range: std::ops::Range<usize>,
    current: &[u8],
    backup: Option<PathBuf>,
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    let total: u64 = p.steps[range.clone()]
        .iter()
        .map(|st| match st {
            Step::Erase { len, .. } => *len as u64 / 16,
            Step::Program { data, .. } => data.len() as u64,
        })
        .sum();
    let mut drv = s.driver();
    drv.prepare().map_err(|e| {
        Failure::new(
            Kind::WriteFailed,
            e.to_string(),
            NOT_CHANGED,
            "power-cycle the drive and try again",
        )
    })?;
    ui.begin("Writing", total);
    let commit_from = p.steps.len() - p.commit;
    // One `BankN` line per bank as its own steps begin (the sentinels' lead steps and
    // the commit revisit banks already named, silently).
    let mut banks_shown = std::collections::BTreeSet::new();
    let boot_steps = p.boot_steps.clone();
    for (i, st) in p
        .steps
        .iter()
        .enumerate()
        .skip(range.start)
        .take(range.len())
    {
        // Inside the boot code's rewrite (sector 0 erased until the kept boot code is
        // programmed back and read back) a stop would leave a drive that cannot start:
        // an interruption waits until the boot code is back.
        let in_boot_window = boot_steps.start < i && i < boot_steps.end;
        if crate::interrupt::requested() && !in_boot_window {
            ui.end();
            let _ = drv.restore();
            return Err(interrupted_at(p, i, &backup));
        }
        let (addr, r, cost) = match st {
            Step::Erase { eraser, start, len } => {
                (*start, drv.erase(eraser, *start), *len as u64 / 16)
            }
            Step::Program { start, data } => (*start, drv.program(*start, data), data.len() as u64),
        };
        let bank = addr / firmware::BANK as u32;
        if i >= p.lead && i < commit_from && banks_shown.insert(bank) {
            ui.emit(&Event::Bank { bank });
        }
        if let Err(e) = r {
            ui.end();
            let boot_ok = !boot_steps.contains(&i);
            let state = if i >= commit_from {
                uncommitted(&backup)
            } else {
                partial_state(Some(addr), boot_ok, &backup)
            };
            let next = if !boot_ok {
                boot_gone_next(&backup)
            } else if backup.is_some() {
                "run the same command again to finish; keep the backup file".to_string()
            } else {
                "run the same command again to finish".to_string()
            };
            // A byte whose completion read (its read-back) shows it was not taken.
            if let crate::mtk::vendor::VendorError::NotTaken { .. } = e {
                return Err(Failure::new(
                    Kind::VerifyFailed,
                    format!("verification failed: {e}"),
                    state,
                    next + "; if the same byte fails again the flash chip may be worn out",
                ));
            }
            return Err(Failure::new(
                Kind::WriteFailed,
                format!("writing failed at 0x{addr:06X}: {e}"),
                state,
                next,
            ));
        }
        ui.advance(cost);
        if !boot_steps.is_empty() && i + 1 == boot_steps.end {
            // The boot code was rewritten: check it before going on.
            check_boot(drv.as_mut(), p, current)
                .map_err(|f| match f.kind {
                    // Stopped while reading the new boot code back: it was written.
                    Kind::Interrupted if i + 1 < p.steps.len() => {
                        interrupted_at(p, i + 1, &backup)
                    }
                    Kind::VerifyFailed => f,
                    _ => Failure::new(
                        f.kind,
                        f.what,
                        "the boot code was rewritten but could not be read back, so it is not confirmed: do NOT power the drive off",
                        "run the same command again right away: it reads the flash and writes only what differs",
                    ),
                })
                .inspect_err(|_| ui.end())?;
            ui.line("Boot code rewritten and verified");
        }
    }
    ui.end();
    Ok(())
}
