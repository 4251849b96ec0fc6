//! Faults for the virtual drive, seeded and repeatable, persisted with it.
//!
//! Grammar (docs/faults.md): `FAULT[;FAULT...]`, each `NAME`, `NAME=VALUE` or
//! `NAME@KEY=VALUE[,KEY=VALUE]`; numbers are decimal or 0x-hex.
//!
//! | fault | effect |
//! |---|---|
//! | `power-loss@op=N` | power is cut after N bus operations of a command; flash keeps what was programmed, an operation in progress is left partial; the next command finds the drive powered again (one-shot) |
//! | `program-fail@addr=A` | the byte at A never programs |
//! | `erase-fail@sector=N` | erasing the 4 KiB sector N leaves it as it was |
//! | `stuck-busy@op=N` | after N bus operations the flash chip stays busy until power is cut |
//! | `read-flip@rate=R,seed=S` | each byte read through the vendor interface has a bit flipped with probability R |
//! | `intro-window=MS` | the vendor intro is answered only within MS ms of power-on |
//! | `intro-late=MS` | after a power-on, the vendor intro is answered only from MS ms on (a drive still starting) |
//! | `signal@op=N,sig=S` | after N bus operations this process gets signal S (INT, TERM or HUP): a user's Ctrl-C, a shutdown, a closed terminal at that instant |
//! | `no-intro` | the vendor intro is refused (not a MediaTek drive) |
//! | `bus-float` | every register reads 0xFF (nothing connected) |

pub use crate::interrupt::Signal;
use std::fmt;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    pub power_loss_op: Option<u64>,
    pub program_fail: Vec<u32>,
    pub erase_fail: Vec<u32>,
    pub stuck_busy_op: Option<u64>,
    pub read_flip: Option<(f64, u64)>,
    pub intro_window_ms: Option<u64>,
    pub intro_late_ms: Option<u64>,
    /// (bus operation, signal name) of a `signal` fault.
    pub signal: Option<(u64, Signal)>,
    pub no_intro: bool,
    pub bus_float: bool,
}

fn num(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse::<u64>(),
    };
    r.map_err(|_| format!("'{s}' is not a number"))
}

pub const GRAMMAR: &str = "FAULT[;FAULT...] with FAULT one of: power-loss@op=N, program-fail@addr=A, \
erase-fail@sector=N, stuck-busy@op=N, read-flip@rate=R,seed=S, intro-window=MS, intro-late=MS, signal@op=N,sig=INT|TERM|HUP, no-intro, bus-float";

impl Faults {
    pub fn is_empty(&self) -> bool {
        *self == Faults::default()
    }

    pub fn parse(spec: &str) -> Result<Faults, String> {
        let mut f = Faults::default();
        for item in spec.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, params) = match item.split_once('@') {
                Some((n, p)) => (n.trim(), p),
                None => match item.split_once('=') {
                    Some((n, v)) => (n.trim(), v),
                    None => (item, ""),
                },
            };
            let mut kv = std::collections::HashMap::new();
            if item.contains('@') {
                for p in params.split(',').filter(|p| !p.trim().is_empty()) {
                    let (k, v) = p
                        .split_once('=')
                        .ok_or_else(|| format!("'{p}' in '{item}' is not KEY=VALUE"))?;
                    kv.insert(k.trim().to_string(), v.trim().to_string());
                }
            }
            let get = |k: &str| {
                kv.get(k)
                    .cloned()
                    .ok_or_else(|| format!("'{item}' needs {k}=..."))
            };
            match name {
                "power-loss" => f.power_loss_op = Some(num(&get("op")?)?),
                "program-fail" => f.program_fail.push(num(&get("addr")?)? as u32),
                "erase-fail" => f.erase_fail.push(num(&get("sector")?)? as u32),
                "stuck-busy" => f.stuck_busy_op = Some(num(&get("op")?)?),
                "read-flip" => {
                    let rate: f64 = get("rate")?
                        .parse()
                        .map_err(|_| format!("rate in '{item}' is not a number"))?;
                    if !(0.0..=1.0).contains(&rate) {
                        return Err(format!("rate in '{item}' must be between 0 and 1"));
                    }
                    f.read_flip = Some((rate, num(&get("seed")?)?));
                }
                "intro-window" => f.intro_window_ms = Some(num(params)?),
                "intro-late" => f.intro_late_ms = Some(num(params)?),
                "signal" => f.signal = Some((num(&get("op")?)?, Signal::parse(&get("sig")?)?)),
                "no-intro" if params.is_empty() => f.no_intro = true,
                "bus-float" if params.is_empty() => f.bus_float = true,
                _ => return Err(format!("unknown fault '{item}'; the grammar is {GRAMMAR}")),
            }
        }
        Ok(f)
    }
}

impl fmt::Display for Faults {
    /// The canonical spec (what is stored with the drive).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(n) = self.power_loss_op {
            parts.push(format!("power-loss@op={n}"));
        }
        for a in &self.program_fail {
            parts.push(format!("program-fail@addr=0x{a:X}"));
        }
        for s in &self.erase_fail {
            parts.push(format!("erase-fail@sector={s}"));
        }
        if let Some(n) = self.stuck_busy_op {
            parts.push(format!("stuck-busy@op={n}"));
        }
        if let Some((r, s)) = self.read_flip {
            parts.push(format!("read-flip@rate={r},seed={s}"));
        }
        if let Some(ms) = self.intro_window_ms {
            parts.push(format!("intro-window={ms}"));
        }
        if let Some(ms) = self.intro_late_ms {
            parts.push(format!("intro-late={ms}"));
        }
        if let Some((n, sig)) = self.signal {
            parts.push(format!("signal@op={n},sig={}", sig.name()));
        }
        if self.no_intro {
            parts.push("no-intro".into());
        }
        if self.bus_float {
            parts.push("bus-float".into());
        }
        f.write_str(&parts.join(";"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar_round_trips() {
        let spec = "power-loss@op=1234; program-fail@addr=0x40BC;erase-fail@sector=5;stuck-busy@op=99;read-flip@rate=0.001,seed=7;intro-window=500;intro-late=1500;signal@op=77,sig=sigterm;no-intro;bus-float";
        let f = Faults::parse(spec).unwrap();
        assert_eq!(f.power_loss_op, Some(1234));
        assert_eq!(f.program_fail, [0x40BC]);
        assert_eq!(f.erase_fail, [5]);
        assert_eq!(f.read_flip, Some((0.001, 7)));
        assert_eq!(f.intro_window_ms, Some(500));
        assert_eq!(f.intro_late_ms, Some(1500));
        assert_eq!(f.signal, Some((77, Signal::Term)));
        assert!(f.no_intro && f.bus_float);
        assert_eq!(Faults::parse(&f.to_string()).unwrap(), f);
        assert!(Faults::parse("").unwrap().is_empty());
    }

    #[test]
    fn mistakes_are_explained() {
        assert!(Faults::parse("power-loss").unwrap_err().contains("op="));
        assert!(Faults::parse("melt@op=1")
            .unwrap_err()
            .contains("unknown fault"));
        assert!(Faults::parse("read-flip@rate=2,seed=1")
            .unwrap_err()
            .contains("between 0 and 1"));
        assert!(Faults::parse("power-loss@op=x")
            .unwrap_err()
            .contains("not a number"));
        assert!(Faults::parse("signal@op=5,sig=KILL")
            .unwrap_err()
            .contains("INT, TERM or HUP"));
        assert!(Faults::parse("program-fail@addr")
            .unwrap_err()
            .contains("KEY=VALUE"));
    }
}
