//! `check`: what a firmware file holds, offline (no drive involved).

use crate::error::Failure;
use crate::firmware::{self, Analysis, Format};
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
