//! `check`: what a firmware file holds, offline (no drive involved).

use crate::error::Failure;
use crate::firmware::family::{self, Family};
use crate::firmware::{self, Analysis, Firmware, Format};
use crate::inference::BOOT_LEN;
use std::path::Path;

#[derive(Clone, Debug)]
pub struct CheckReport {
    pub format: Format,
    pub analysis: Analysis,
    /// Human lines, in order.
    pub lines: Vec<String>,
    /// Problems that would stop a write (empty = writable).
    pub problems: Vec<String>,
}

pub fn check(path: &Path) -> Result<CheckReport, Failure> {
    let fw = crate::files::load_firmware(path)?;
    let a = Analysis::of(&fw.data);
    let mut lines = vec![
        format!("File:      {}", path.display()),
        format!("Format:    {}", fw.format),
        format!(
            "Size:      {} KiB ({} banks of 64 KiB)",
            a.size / 1024,
            a.banks.len()
        ),
    ];
    if let Some(f) = family::family_of_image(&fw.data, fw.unit.as_deref()) {
        return Ok(check_family(f, fw, a, lines));
    }
    lines.push(format!("Layout:    {}", a.layout));
    match &a.identity {
        Some(id) => lines.push(format!(
            "Identity:  vendor '{}' product '{}' revision '{}' (INQUIRY template at 0x{:05X})",
            id.vendor, id.product, id.revision, id.offset
        )),
        None => lines.push(
            "Identity:  none found (no INQUIRY template 05 80 00 31|32 1F|5B 00 00 00)".into(),
        ),
    }
    lines.push(format!(
        "Check Sum: {:04X} (16-bit sum of all bytes)",
        a.sum16
    ));
    match a.embedded {
        Some((stored, computed)) if stored == computed => {
            lines.push(format!("End sum:   {stored:04X} stored in the last two bytes matches (inferred rule)"))
        }
        Some((stored, computed)) => lines.push(format!(
            "End sum:   {stored:04X} stored in the last two bytes, content sums to {computed:04X} (inferred rule; see docs/inferences.md)"
        )),
        None => {}
    }
    let boot = &fw.data[..BOOT_LEN.min(fw.data.len())];
    lines.push(format!(
        "Boot code: 0x0000-0x3FFF {} (sum {:04X})",
        if a.boot_empty {
            "empty (all FF)"
        } else if a.boot_ok {
            "present, starts with LJMP"
        } else {
            "does not start with LJMP"
        },
        firmware::sum16(boot)
    ));
    for b in &a.banks {
        let state = if b.empty {
            "empty".to_string()
        } else if b.ok {
            format!("starts with {:02X}", b.first)
        } else if a.layout == firmware::Layout::LiteOn {
            format!(
                "starts with {:02X} (inside code in the LiteOn layout)",
                b.first
            )
        } else {
            format!("BAD START {:02X}", b.first)
        };
        lines.push(format!("Bank{:<2} sum {:04X} {state}", b.index, b.sum));
    }
    let mut problems = Vec::new();
    let bad = a.bad_banks();
    if !bad.is_empty() {
        problems.push(format!(
            "bank(s) {bad:?} do not start with LJMP (0x02) or 0x80"
        ));
    }
    if !a.boot_ok {
        problems.push("no boot code at 0x0000 (writable only without /b)".into());
    }
    Ok(CheckReport {
        format: fw.format,
        analysis: a,
        lines,
        problems,
    })
}

/// `check` of an image for a later family: what it is for and which parts of it belong
/// to one unit.
fn check_family(f: Family, fw: Firmware, a: Analysis, mut lines: Vec<String>) -> CheckReport {
    // Its size in plain KiB: these drives have no 64 KiB banks of 8032 code.
    if let Some(l) = lines.iter_mut().find(|l| l.starts_with("Size:")) {
        *l = format!("Size:      {} KiB", fw.data.len() / 1024);
    }
    lines.push(format!(
        "Family:    {} ({}): written through the drive's own updater, not vendor mode",
        f.name(),
        f.describe()
    ));
    let mut problems = Vec::new();
    if let Err(e) = crate::mtk::family::upload_steps(f, fw.data.len()) {
        problems.push(e);
    }
    match f {
        Family::Mt1959 => {
            lines.push(format!(
                "Boot config: {} (0x003000; RD's rule: it must be the drive's own platform)",
                family::boot_config_id(&fw.data)
                    .map(|c| format!("\"{c}\""))
                    .unwrap_or_else(|| "none (FF)".into())
            ));
            lines.push(format!(
                "Identity:  {}",
                family::identity_of(&fw.data)
                    .map(|(v, p, r)| format!(
                        "vendor '{v}' product '{p}' revision '{r}' (identity page 0x1EC000)"
                    ))
                    .unwrap_or_else(|| "none found in the identity page (0x1EC000)".into())
            ));
            lines.push("Boot area: 0x000000-0x00FFFF is kept by the drive; it is sent as FF with the drive's own boot config".into());
        }
        Family::Mt1339 => lines.push(match &a.identity {
            Some(id) => format!(
                "Identity:  vendor '{}' product '{}' revision '{}' (INQUIRY template at 0x{:05X})",
                id.vendor, id.product, id.revision, id.offset
            ),
            None => "Identity:  none found".into(),
        }),
    }
    let unit = f.unit_regions();
    if unit.is_empty() {
        lines.push("Per-unit:  none known; the whole image is written as it is".into());
    }
    for r in unit {
        lines.push(format!(
            "Per-unit:  {} 0x{:06X}-0x{:06X}: the drive's own is kept when written{}",
            r.what,
            r.at,
            r.at + r.len - 1,
            if fw.unit.is_some() {
                ""
            } else {
                " (this image's is not used)"
            }
        ));
    }
    if let Some(b) = &fw.unit {
        lines.push(format!(
            "Backup of: {} {} {}, serial {}: written back to that drive, its own calibration is restored too",
            b.vendor, b.product, b.revision, b.serial
        ));
        if !b.gaps.is_empty() {
            lines.push(format!(
                "Gaps:      {} span(s) the drive would not give, filled with FF",
                b.gaps.len()
            ));
        }
    }
    lines.push(format!(
        "Check Sum: {:04X} (16-bit sum of all bytes)",
        a.sum16
    ));
    CheckReport {
        format: fw.format,
        analysis: a,
        lines,
        problems,
    }
}
