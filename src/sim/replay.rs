//! `sim replay TRACE --drive PATH`: run a recorded trace against a virtual drive and find
//! the first place where the model answers differently from what was recorded. This is
//! how a trace from real hardware corrects the model. The drive file is not changed.

use super::taskfile::SimChannel;
use crate::clock::Clock;
use crate::transport::PortIo;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    pub line: usize,
    pub text: String,
    pub recorded: u32,
    pub answered: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub lines: usize,
    pub compared: usize,
    pub redacted_writes: usize,
    pub skipped_commands: usize,
    pub divergence: Option<Divergence>,
}

fn hex(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 16).map_err(|_| format!("'{s}' is not hex"))
}

/// Replay `trace` on `ch`; `image` fills written payload bytes (`* @addr`).
pub fn replay(trace: &str, ch: &mut SimChannel, image: Option<&[u8]>) -> Result<Report, String> {
    let mut r = Report::default();
    let (mut base, mut ctl) = (ch.cmd_base, ch.ctl_base);
    for (i, raw) in trace.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if let Some(h) = line.strip_prefix("# base ") {
            let v: Vec<&str> = h.split_whitespace().collect();
            if v.len() == 2 {
                base = hex(v[0])? as u16;
                ctl = hex(v[1])? as u16;
            }
            // The model sits where the trace was taken.
            ch.cmd_base = base;
            ch.ctl_base = ctl;
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f: Vec<&str> = line.split_whitespace().collect();
        let bad = || format!("line {line_no}: not a trace line: {line}");
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
            return Err(bad());
        }
        let op = f[1];
        for _ in 0..repeat {
            r.lines += 1;
            if op == "S" {
                let ns: u64 = f[2].parse().map_err(|_| bad())?;
                ch.clock.sleep(Duration::from_nanos(ns));
                continue;
            }
            if op == "C" {
                r.skipped_commands += 1;
                continue;
            }
            let (kind, reg) = op.split_at(1);
            let port = match reg {
                "c" => ctl,
                r if r.starts_with('p') => hex(&r[1..])? as u16,
                r => base + hex(r)? as u16,
            };
            let value = if f[2] == "*" {
                None
            } else {
                Some(hex(f[2]).map_err(|e| format!("line {line_no}: {e}"))?)
            };
            let at = f
                .get(3)
                .and_then(|a| a.strip_prefix('@'))
                .map(hex)
                .transpose()
                .map_err(|e| format!("line {line_no}: {e}"))?;
            let fill = at
                .and_then(|a| image.and_then(|img| img.get(a as usize).copied()))
                .unwrap_or(0xFF) as u32;
            match kind {
                "W" => {
                    if value.is_none() {
                        r.redacted_writes += 1;
                    }
                    ch.outb(port, value.unwrap_or(fill) as u8);
                }
                "w" => {
                    if value.is_none() {
                        r.redacted_writes += 1;
                    }
                    ch.outw(port, value.unwrap_or(0xFFFF) as u16);
                }
                "R" | "r" => {
                    let got = if kind == "R" {
                        ch.inb(port) as u32
                    } else {
                        ch.inw(port) as u32
                    };
                    if let Some(v) = value {
                        r.compared += 1;
                        if got != v {
                            r.divergence = Some(Divergence {
                                line: line_no,
                                text: line.to_string(),
                                recorded: v,
                                answered: got,
                            });
                            return Ok(r);
                        }
                    }
                }
                _ => return Err(bad()),
            }
        }
    }
    Ok(r)
}
