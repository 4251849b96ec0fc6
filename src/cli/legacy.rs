//! The classic MTKFlash command line, `MTKFLASH <port> <r|w> [/b] [/m] <file>`, turned
//! into the modern one before clap sees it. Case-insensitive; forgiving where the intent
//! is clear (`W/M` glued, switches before or after the file), precise where it is not.

use crate::error::Failure;

/// Subcommand names: an argv starting with one of these is modern.
pub const SUBCOMMANDS: &[&str] = &[
    "info",
    "read",
    "write",
    "verify",
    "erase",
    "check",
    "chips",
    "sim",
    "help",
    "scan",
    "update",
    "completions",
    "man",
];

/// The port placeholder for "scan and ask".
pub const SCAN_PORT: &str = "?";

pub const SWITCH_HELP: &str = "valid switches: /b (also write the boot code 0x0000-0x3FFF), \
/m (accepted for compatibility; no effect)";

/// A token like `/b`, `/M`, `/sata`: a slash and a few letters (a path has more).
fn is_switch(t: &str) -> bool {
    t.len() >= 2
        && t.len() <= 6
        && t.starts_with('/')
        && t[1..].chars().all(|c| c.is_ascii_alphabetic())
}

/// `w/m/b` -> ("w", ["/m", "/b"]).
fn split_glued(t: &str) -> Option<(String, Vec<String>)> {
    let lower = t.to_ascii_lowercase();
    let (head, rest) = lower.split_at(lower.find('/')?);
    if !matches!(head, "r" | "w") {
        return None;
    }
    let parts: Vec<String> = rest.split('/').skip(1).map(|p| format!("/{p}")).collect();
    parts
        .iter()
        .all(|p| is_switch(p))
        .then(|| (head.to_string(), parts))
}

fn is_command(t: &str) -> bool {
    matches!(t.to_ascii_lowercase().as_str(), "r" | "w")
}

/// A token that can only be a port: 1-4 and other numbers, 0x bases, sim:PATH.
fn looks_like_port(t: &str) -> bool {
    let l = t.to_ascii_lowercase();
    (!l.is_empty() && l.chars().all(|c| c.is_ascii_digit()))
        || l.starts_with("0x")
        || l.starts_with("sim:")
}

/// Is this argv (without the program name) in the classic form?
pub fn is_legacy(args: &[String]) -> bool {
    let mut words = args.iter().filter(|a| !a.starts_with('-'));
    let Some(first) = words.next() else {
        return false;
    };
    let first = first.to_ascii_lowercase();
    if first == "sim" {
        // `sim` is both the default virtual drive's port and the `sim` subcommand.
        return words
            .next()
            .map(|w| is_command(w) || split_glued(w).is_some())
            .unwrap_or(false);
    }
    if SUBCOMMANDS.contains(&first.as_str()) {
        return false;
    }
    if looks_like_port(&first) {
        return true; // a port first: the classic form, whatever follows
    }
    args.iter()
        .any(|a| is_command(a) || split_glued(a).is_some())
}

/// Rewrite a classic argv into the modern one, or explain what is wrong.
pub fn normalise(args: &[String]) -> Result<Vec<String>, Failure> {
    let mut port: Option<String> = None;
    let mut cmd: Option<String> = None;
    let mut boot = false;
    let mut m = false;
    let mut files: Vec<String> = Vec::new();
    let mut passthrough: Vec<String> = Vec::new();
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        if a.starts_with("--") || (a.starts_with('-') && a.len() > 1) {
            // Modern options given alongside the classic form.
            passthrough.push(a.clone());
            if matches!(
                a.as_str(),
                "--backup" | "--chip" | "--retries" | "--trace" | "--method"
            ) {
                if let Some(v) = it.next() {
                    passthrough.push(v.clone());
                }
            }
            continue;
        }
        let mut switches = Vec::new();
        if cmd.is_none() && is_command(a) {
            cmd = Some(a.to_ascii_lowercase());
        } else if let (None, Some((c, sw))) = (&cmd, split_glued(a)) {
            cmd = Some(c);
            switches = sw;
        } else if is_switch(a) {
            switches.push(a.clone());
        } else if cmd.is_none() && port.is_none() {
            port = Some(a.clone());
        } else if port.is_none() && files.is_empty() && looks_like_port(a) {
            return Err(Failure::usage(
                format!("the port '{a}' comes after the command"),
                format!(
                    "the port comes first: mtkflash {a} {} ...",
                    cmd.as_deref().unwrap_or("w")
                ),
            ));
        } else {
            files.push(a.clone());
        }
        for s in switches {
            match s.to_ascii_lowercase().as_str() {
                "/b" => boot = true,
                "/m" => m = true,
                other => {
                    return Err(Failure::usage(
                        format!("unknown switch '{other}'"),
                        SWITCH_HELP,
                    ));
                }
            }
        }
    }
    let cmd = cmd.ok_or_else(|| {
        Failure::usage(
            "no r or w command: the classic form is MTKFLASH <port> <r|w> [/b] [/m] <file>",
            "e.g. mtkflash 3 w /m fw.bin (write) or mtkflash 3 r backup.bin (read)",
        )
    })?;
    // No port: scan and ask, as MTKFlash 1.83 did ("drive scaned:", "chose one drive:").
    let port = port.unwrap_or_else(|| SCAN_PORT.to_string());
    let file =
        match files.len() {
            1 => files.remove(0),
            0 => {
                return Err(Failure::usage(
                    format!("'{}' needs a file name", if cmd == "w" { "w" } else { "r" }),
                    if cmd == "w" {
                        "e.g. mtkflash 3 w /m fw.bin"
                    } else {
                        "e.g. mtkflash 3 r backup.bin"
                    },
                ))
            }
            _ => return Err(Failure::usage(
                format!("more than one file given: {}", files.join(", ")),
                "give exactly one file; switches are /b and /m, written with a space before each",
            )),
        };
    let mut out = vec![
        if cmd == "w" { "write" } else { "read" }.to_string(),
        port,
        file,
    ];
    // A read always takes the whole flash, boot code included: /b and /m change nothing.
    let write = cmd == "w";
    if boot && write {
        out.push("--boot".into());
    }
    if m && write {
        out.push("--classic-m".into());
    }
    out.extend(passthrough);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Result<Vec<String>, Failure> {
        let v: Vec<String> = s.split_whitespace().map(String::from).collect();
        assert!(is_legacy(&v), "{s} should be legacy");
        normalise(&v)
    }

    #[test]
    fn classic_forms() {
        assert_eq!(
            n("3 w /m rpc1v758.bin").unwrap(),
            ["write", "3", "rpc1v758.bin", "--classic-m"]
        );
        assert_eq!(
            n("4 W /M fw.hex").unwrap(),
            ["write", "4", "fw.hex", "--classic-m"]
        );
        assert_eq!(
            n("3 w /m /b fw.bin").unwrap(),
            ["write", "3", "fw.bin", "--boot", "--classic-m"]
        );
        assert_eq!(n("3 r backup.bin").unwrap(), ["read", "3", "backup.bin"]);
        assert_eq!(
            n("x r /b /m backup.bin").unwrap(),
            ["read", "x", "backup.bin"]
        );
        assert_eq!(
            n("sim w /m fixtures/a.hex").unwrap(),
            ["write", "sim", "fixtures/a.hex", "--classic-m"]
        );
    }

    #[test]
    fn forgiving_where_intent_is_clear() {
        assert_eq!(
            n("3 W/M fw.bin").unwrap(),
            ["write", "3", "fw.bin", "--classic-m"]
        );
        assert_eq!(
            n("3 w/m/b fw.bin").unwrap(),
            ["write", "3", "fw.bin", "--boot", "--classic-m"]
        );
        assert_eq!(
            n("3 w fw.bin /b").unwrap(),
            ["write", "3", "fw.bin", "--boot"]
        );
        assert_eq!(
            n("3 w /B fw.bin --force").unwrap(),
            ["write", "3", "fw.bin", "--boot", "--force"]
        );
        assert_eq!(
            n("3 w /home/u/fw.bin").unwrap(),
            ["write", "3", "/home/u/fw.bin"]
        );
    }

    #[test]
    fn precise_where_it_is_not() {
        let e = n("3 w /x fw.bin").unwrap_err();
        assert!(e.what.contains("/x") && e.next.contains("/b"), "{e}");
        assert!(n("3 w").unwrap_err().what.contains("needs a file"));
        assert!(n("3 w a.bin b.bin")
            .unwrap_err()
            .what
            .contains("more than one"));
        assert_eq!(
            n("r /m orig.bin").unwrap(),
            ["read", "?", "orig.bin"],
            "no port: scan and ask"
        );
    }

    #[test]
    fn modern_commands_are_not_legacy() {
        for s in [
            "write 3 fw.bin",
            "info sim",
            "check x.bin",
            "--help",
            "sim new a --chip X",
        ] {
            let v: Vec<String> = s.split_whitespace().map(String::from).collect();
            assert!(!is_legacy(&v), "{s}");
        }
    }
}
