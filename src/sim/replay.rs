//! `sim replay TRACE --drive PATH`: run a recorded trace against a virtual drive and find
//! the first place where the model answers differently from what was recorded. This is
//! how a trace from real hardware corrects the model. The drive file is not changed.
//! Both trace versions replay (docs/trace-format.md).

use super::taskfile::SimChannel;
use crate::clock::Clock;
use crate::transport::compact::{self, Access, Reg};
use crate::transport::trace;
use crate::transport::PortIo;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// Where: `line N` (version 1) or `access N (record M)` (version 2).
    pub at: String,
    /// The access as a version 1 line.
    pub text: String,
    pub recorded: u32,
    pub answered: u32,
    /// The register read (command block 0-7, `c`, or a port).
    pub reg: Reg,
    /// The accesses just before it, oldest first, as version 1 lines.
    pub before: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub version: u32,
    /// Accesses and waits replayed (a version 1 `xN` line counts N).
    pub lines: usize,
    pub compared: usize,
    pub redacted_writes: usize,
    pub skipped_commands: usize,
    pub divergence: Option<Divergence>,
}

fn hex(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 16).map_err(|_| format!("'{s}' is not hex"))
}

/// How many accesses before a divergence it shows.
const CONTEXT: usize = 8;

struct Player<'a> {
    ch: &'a mut SimChannel,
    image: Option<&'a [u8]>,
    base: u16,
    ctl: u16,
    r: Report,
    before: std::collections::VecDeque<String>,
}

impl Player<'_> {
    fn port(&self, reg: Reg) -> u16 {
        match reg {
            Reg::Cmd(n) => self.base + n as u16,
            Reg::Ctl => self.ctl,
            Reg::Port(p) => p,
        }
    }

    /// Play one access; a read that differs is returned as (recorded, answered).
    fn play(&mut self, a: &Access) -> Option<(u32, u32)> {
        self.r.lines += 1;
        let out = match *a {
            Access::Sleep(ns) => {
                self.ch.clock.sleep(Duration::from_nanos(ns));
                None
            }
            Access::Write {
                reg,
                word,
                value,
                at,
            } => {
                let port = self.port(reg);
                if value.is_none() {
                    self.r.redacted_writes += 1;
                }
                if word {
                    self.ch.outw(port, value.unwrap_or(0xFFFF));
                } else {
                    let fill = at
                        .and_then(|a| self.image.and_then(|img| img.get(a as usize).copied()))
                        .unwrap_or(0xFF);
                    self.ch.outb(port, value.map_or(fill, |v| v as u8));
                }
                None
            }
            Access::Read { reg, word, value } => {
                let port = self.port(reg);
                let got = if word {
                    self.ch.inw(port) as u32
                } else {
                    self.ch.inb(port) as u32
                };
                match value {
                    Some(v) => {
                        self.r.compared += 1;
                        (got != v as u32).then_some((v as u32, got))
                    }
                    None => None,
                }
            }
        };
        if out.is_none() {
            if self.before.len() == CONTEXT {
                self.before.pop_front();
            }
            self.before.push_back(compact::line_of(a));
        }
        out
    }

    fn diverged(&mut self, at: String, a: &Access, (recorded, answered): (u32, u32)) {
        let reg = match *a {
            Access::Read { reg, .. } => reg,
            _ => Reg::Cmd(7),
        };
        self.r.divergence = Some(Divergence {
            at,
            text: compact::line_of(a),
            recorded,
            answered,
            reg,
            before: self.before.iter().cloned().collect(),
        });
    }
}

/// One version 1 line as accesses: (the access, how many times).
fn parse_line(line: &str) -> Result<Option<(Access, u32)>, String> {
    let mut f: Vec<&str> = line.split_whitespace().collect();
    let repeat = match f
        .last()
        .and_then(|x| x.strip_prefix('x'))
        .and_then(|n| n.parse::<u32>().ok())
    {
        Some(n) if f.len() > 2 => {
            f.pop();
            n
        }
        _ => 1,
    };
    if f.len() < 3 {
        return Err("not a trace line".into());
    }
    let op = f[1];
    if op == "S" {
        let ns: u64 = f[2].parse().map_err(|_| "not a wait".to_string())?;
        return Ok(Some((Access::Sleep(ns), repeat)));
    }
    if op == "C" {
        return Ok(None);
    }
    let (kind, r) = op.split_at(1);
    let reg = match r {
        "c" => Reg::Ctl,
        r if r.starts_with('p') => Reg::Port(hex(&r[1..])? as u16),
        r => Reg::Cmd(hex(r)? as u8),
    };
    let value = if f[2] == "*" {
        None
    } else {
        Some(hex(f[2])? as u16)
    };
    let at = f
        .get(3)
        .and_then(|a| a.strip_prefix('@'))
        .map(hex)
        .transpose()?;
    let a = match kind {
        "W" | "w" => Access::Write {
            reg,
            word: kind == "w",
            value,
            at,
        },
        "R" | "r" => Access::Read {
            reg,
            word: kind == "r",
            value,
        },
        _ => return Err("not a trace line".into()),
    };
    Ok(Some((a, repeat)))
}

/// Replay `trace` (a whole trace file's bytes, either version) on `ch`; `image` fills
/// written payload bytes (`* @addr`).
pub fn replay(trace: &[u8], ch: &mut SimChannel, image: Option<&[u8]>) -> Result<Report, String> {
    let parsed = trace::parse(trace)?;
    let (mut base, mut ctl) = (ch.cmd_base, ch.ctl_base);
    for h in &parsed.header {
        if let Some(rest) = h.strip_prefix("# base ") {
            let v: Vec<&str> = rest.split_whitespace().collect();
            if v.len() == 2 {
                base = hex(v[0])? as u16;
                ctl = hex(v[1])? as u16;
            }
        }
    }
    // The model sits where the trace was taken.
    ch.cmd_base = base;
    ch.ctl_base = ctl;
    let mut p = Player {
        ch,
        image,
        base,
        ctl,
        r: Report {
            version: parsed.version,
            ..Report::default()
        },
        before: Default::default(),
    };
    if parsed.version == 2 {
        for d in compact::Decoder::new(parsed.body) {
            let d = d?;
            if let Some(diff) = p.play(&d.access) {
                p.diverged(
                    format!("access {} (record {})", d.index, d.record),
                    &d.access,
                    diff,
                );
                return Ok(p.r);
            }
        }
        return Ok(p.r);
    }
    let text = std::str::from_utf8(parsed.body)
        .map_err(|_| "a version 1 trace that is not text".to_string())?;
    // (Line numbers count the header lines before the body.)
    let skip = parsed.header.len();
    for (i, raw) in text.lines().enumerate() {
        let line_no = skip + i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = parse_line(line).map_err(|e| format!("line {line_no}: {e}: {line}"))?;
        let Some((a, n)) = parsed else {
            p.r.skipped_commands += 1;
            continue;
        };
        for _ in 0..n {
            if let Some(diff) = p.play(&a) {
                p.diverged(format!("line {line_no}"), &a, diff);
                return Ok(p.r);
            }
        }
    }
    Ok(p.r)
}
