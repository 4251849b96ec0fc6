//! Trace format version 2: the accesses of a register session as a compact binary
//! stream (docs/trace-format.md). The repetition that dominates a session (the same
//! register pattern for every byte, with an address register counting up; status polls
//! that repeat) is found while recording and written once with a count, so a 1 MiB read
//! takes a few hundred KB instead of a hundred MB, at a few nanoseconds per access.
//!
//! Every access becomes a *key* (one `u64`): its kind, register and value. The stream
//! is a sequence of LEB128 numbers: a key, a repeat, a copy or a time mark
//! (microseconds since the previous mark). A repeat says: the next N keys each follow
//! the pattern of period P, key(i) = key(i-P) + (key(i-P) - key(i-2P)), so a loop whose
//! address byte counts up by one each time round, inside otherwise equal accesses, is
//! one record; a copy: the next N keys are each the key D back (what follows a break in
//! a pattern, or the same steps of an earlier transfer). The decoder keeps the last
//! 4096 keys, so it gets every access back.

/// Where an access went: a command-block register (0-7), the control block, or any
/// other port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reg {
    Cmd(u8),
    Ctl,
    Port(u16),
}

/// One recorded access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A byte (`word`: 16-bit) written; `None` = firmware payload left out, `at` its
    /// flash address when known.
    Write {
        reg: Reg,
        word: bool,
        value: Option<u16>,
        at: Option<u32>,
    },
    /// A byte or word read: what the device answered (`None` = payload left out).
    Read {
        reg: Reg,
        word: bool,
        value: Option<u16>,
    },
    /// The host waited this many nanoseconds.
    Sleep(u64),
}

const T_W: u64 = 0;
const T_W_AT: u64 = 1;
const T_W_PAY: u64 = 2;
const T_R: u64 = 3;
const T_R_PAY: u64 = 4;
const T_WW: u64 = 5;
const T_WW_PAY: u64 = 6;
const T_RW: u64 = 7;
const T_RW_PAY: u64 = 8;
const T_SLEEP: u64 = 9;
const T_COPY: u64 = 13;
const T_TIME: u64 = 14;
/// The value field of a key (40 bits), and the bits that say which kind of access.
const VALUE_MASK: u64 = (1 << 40) - 1;
const KIND_MASK: u64 = 0xFFFF_0000_0000_00FF;
const T_REPEAT: u64 = 15;

/// Longest pattern a repeat can carry, and the keys both sides remember.
const MAX_PERIOD: usize = 64;
const RING: usize = 4096;
/// Keys held back at most: a run needs at most MAX_PERIOD of them, and a copy looks
/// MAX_PERIOD further back, all within the ring.
const PENDING: usize = 2 * MAX_PERIOD;

#[inline(always)]
fn reg_code(r: Reg) -> (u64, u64) {
    // (4-bit code, port for code 15)
    match r {
        Reg::Cmd(n) => (n as u64 & 7, 0),
        Reg::Ctl => (8, 0),
        Reg::Port(p) => (15, p as u64),
    }
}

/// An access as a key: `port << 48 | value << 8 | code << 4 | tag` (small for the
/// common accesses: a byte written to a task-file register is three LEB128 bytes).
pub fn key_of(a: &Access) -> u64 {
    key(a)
}

/// A time mark (microseconds on the session clock) in a stream of keys for
/// [`Encoder::push_any`]; `forced`: written even when less than the mark interval
/// passed. (Not a key of the file format: the encoder turns it into a time record.)
pub fn time_key(us: u64, forced: bool) -> u64 {
    us << 5 | (forced as u64) << 4 | T_TIME
}

/// The key of a register access straight from its parts (the recorder's hot path; the
/// same key as [`key_of`] gives): `write`/`word` its kind, `port` where it went (as
/// [`Reg`]), `value` the value (`None`: payload left out), `at` a written payload
/// byte's flash address.
#[inline(always)]
pub fn access_key(write: bool, word: bool, reg: Reg, value: Option<u16>, at: Option<u32>) -> u64 {
    let (code, port) = reg_code(reg);
    let (tag, v) = match (value, write, word) {
        (Some(v), true, false) => (T_W, v as u64),
        (Some(v), false, false) => (T_R, v as u64),
        (Some(v), true, true) => (T_WW, v as u64),
        (Some(v), false, true) => (T_RW, v as u64),
        (None, true, false) => match at {
            Some(a) => (T_W_AT, a as u64),
            None => (T_W_PAY, 0),
        },
        (None, false, false) => (T_R_PAY, 0),
        (None, true, true) => (T_WW_PAY, 0),
        (None, false, true) => (T_RW_PAY, 0),
    };
    port << 48 | v << 8 | code << 4 | tag
}

/// A recorder's shortcut: the key of an access to `port` (as [`Reg::Port`]) is
/// `template | port << 48 | (value << 8 & mask)` for the template and mask this gives
/// for the kind of access and whether its value is payload (and a written payload
/// byte's flash address). [`with_register`] then names the task-file registers.
pub fn port_template(write: bool, word: bool, payload: bool, at: Option<u32>) -> (u64, u64) {
    if payload {
        (access_key(write, word, Reg::Port(0), None, at), 0)
    } else {
        (
            access_key(write, word, Reg::Port(0), Some(0), None),
            0xFFFF << 8,
        )
    }
}

/// Whether a key is a register access (not a wait or a time mark), and whether it
/// writes.
#[inline]
pub fn is_access(k: u64) -> bool {
    k & 15 <= T_RW_PAY
}

#[inline]
pub fn is_write(k: u64) -> bool {
    const WRITES: u64 = 1 << T_W | 1 << T_W_AT | 1 << T_W_PAY | 1 << T_WW | 1 << T_WW_PAY;
    WRITES >> (k & 15) & 1 == 1
}

/// The nanoseconds of a wait's key; None for any other key.
#[inline]
pub fn sleep_ns(k: u64) -> Option<u64> {
    (k & 15 == T_SLEEP).then_some((k >> 8) & VALUE_MASK)
}

/// An access key made with [`Reg::Port`] as the key [`access_key`] gives with its
/// register named: a port `base..base + 8` as [`Reg::Cmd`], `ctl` as [`Reg::Ctl`].
#[inline]
pub fn with_register(k: u64, base: u16, ctl: u16) -> u64 {
    let port = (k >> 48) as u16;
    let code = if port == ctl {
        8
    } else if port.wrapping_sub(base) < 8 {
        port.wrapping_sub(base) as u64
    } else {
        return k;
    };
    (k & ((1 << 48) - 1) & !(15 << 4)) | code << 4
}

#[inline]
fn key(a: &Access) -> u64 {
    let pack = |tag: u64, r: Reg, value: u64| {
        let (code, port) = reg_code(r);
        port << 48 | (value & VALUE_MASK) << 8 | code << 4 | tag
    };
    match *a {
        Access::Write {
            reg,
            word: false,
            value,
            at,
        } => match (value, at) {
            (Some(v), _) => pack(T_W, reg, v as u64),
            (None, Some(at)) => pack(T_W_AT, reg, at as u64),
            (None, None) => pack(T_W_PAY, reg, 0),
        },
        Access::Write {
            reg,
            word: true,
            value,
            ..
        } => match value {
            Some(v) => pack(T_WW, reg, v as u64),
            None => pack(T_WW_PAY, reg, 0),
        },
        Access::Read {
            reg,
            word: false,
            value,
        } => match value {
            Some(v) => pack(T_R, reg, v as u64),
            None => pack(T_R_PAY, reg, 0),
        },
        Access::Read {
            reg,
            word: true,
            value,
        } => match value {
            Some(v) => pack(T_RW, reg, v as u64),
            None => pack(T_RW_PAY, reg, 0),
        },
        Access::Sleep(ns) => (ns.min(VALUE_MASK)) << 8 | T_SLEEP,
    }
}

/// A key back as an access; an error for a key no encoder writes.
fn access(key: u64) -> Result<Access, String> {
    let tag = key & 15;
    let code = (key >> 4) & 15;
    let port = (key >> 48) as u16;
    let value = (key >> 8) & VALUE_MASK;
    if tag == T_SLEEP {
        return Ok(Access::Sleep(value));
    }
    let reg = match code {
        0..=7 => Reg::Cmd(code as u8),
        8 => Reg::Ctl,
        15 => Reg::Port(port),
        _ => return Err(format!("register code {code} is not one the format has")),
    };
    let byte = |v: u64| -> Result<u16, String> {
        u8::try_from(v)
            .map(u16::from)
            .map_err(|_| format!("a byte access with the value {v:#X}"))
    };
    let word = |v: u64| -> Result<u16, String> {
        u16::try_from(v).map_err(|_| format!("a word access with the value {v:#X}"))
    };
    let none = |v: u64| -> Result<(), String> {
        if v == 0 {
            Ok(())
        } else {
            Err(format!("a payload access with the value {v:#X}"))
        }
    };
    Ok(match tag {
        T_W => Access::Write {
            reg,
            word: false,
            value: Some(byte(value)?),
            at: None,
        },
        T_W_AT => Access::Write {
            reg,
            word: false,
            value: None,
            at: Some(u32::try_from(value).map_err(|_| format!("a flash address {value:#X}"))?),
        },
        T_W_PAY | T_WW_PAY | T_R_PAY | T_RW_PAY => {
            none(value)?;
            match tag {
                T_W_PAY => Access::Write {
                    reg,
                    word: false,
                    value: None,
                    at: None,
                },
                T_WW_PAY => Access::Write {
                    reg,
                    word: true,
                    value: None,
                    at: None,
                },
                T_R_PAY => Access::Read {
                    reg,
                    word: false,
                    value: None,
                },
                _ => Access::Read {
                    reg,
                    word: true,
                    value: None,
                },
            }
        }
        T_WW => Access::Write {
            reg,
            word: true,
            value: Some(word(value)?),
            at: None,
        },
        T_R => Access::Read {
            reg,
            word: false,
            value: Some(byte(value)?),
        },
        T_RW => Access::Read {
            reg,
            word: true,
            value: Some(word(value)?),
        },
        _ => return Err(format!("record kind {tag} is not one the format has")),
    })
}

/// The value bits each record kind keeps when a pattern moves on (bytes and words wrap).
const VALUE_BITS: [u64; 16] = {
    let mut m = [VALUE_MASK; 16];
    m[T_W as usize] = 0xFF;
    m[T_R as usize] = 0xFF;
    m[T_WW as usize] = 0xFFFF;
    m[T_RW as usize] = 0xFFFF;
    m
};

/// The key a repeat of period `p` gives at position `i` of `ring`: the key `p` back,
/// moved on by as much as it moved from the one `2p` back. Byte and word values move
/// modulo 256 and 65536 (an address byte counting from FF to 00 still follows). Keys
/// of two kinds of access give `u64::MAX`, which no access is.
#[inline]
fn predict(ring: &[u64; RING], i: usize, p: usize) -> u64 {
    let a = ring[i.wrapping_sub(p) % RING];
    let b = ring[i.wrapping_sub(2 * p) % RING];
    let v = ((a >> 8).wrapping_mul(2).wrapping_sub(b >> 8)) & VALUE_BITS[(a & 15) as usize];
    if (a ^ b) & KIND_MASK == 0 {
        v << 8 | (a & KIND_MASK)
    } else {
        u64::MAX
    }
}

fn leb(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Turns accesses into the version 2 stream as they happen. Costs one key, one ring
/// write and one comparison per access while a pattern repeats.
pub struct Encoder {
    ring: Box<[u64; RING]>,
    /// Accesses seen.
    n: u64,
    /// Keys not written yet (the last `pending.len()` positions of the ring), each with
    /// how far back the same key was last seen (0: not within the ring).
    pending: Vec<(u64, u32)>,
    /// Where each key was last seen (a small hash table of positions).
    seen: Box<[(u64, u64); 1024]>,
    /// A pattern of this period: `run` keys in a row so far followed it.
    period: usize,
    run: u64,
    repeating: bool,
    /// The period of the last repeat: literals equal to the key this far back are
    /// written as copies (after a pattern breaks, most of its accesses go on the same).
    copy_from: usize,
    /// The distance of the last copy written.
    last_copy: usize,
    /// While repeating: the key the pattern gives next.
    next: u64,
    out: Vec<u8>,
    last_time: u64,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            ring: Box::new([0; RING]),
            n: 0,
            pending: Vec::with_capacity(PENDING + 1),
            seen: Box::new([(u64::MAX, 0); 1024]),
            period: 0,
            run: 0,
            repeating: false,
            copy_from: 0,
            last_copy: 0,
            next: u64::MAX,
            out: Vec::with_capacity(1 << 16),
            last_time: 0,
        }
    }
}

impl Encoder {
    /// Record one access.
    #[inline]
    pub fn push(&mut self, a: &Access) {
        self.push_key(key(a));
    }

    /// Record one access given as its key ([`key_of`]). While a pattern repeats this
    /// is a comparison with the key foreseen and the next foresight.
    #[inline]
    pub fn push_key(&mut self, k: u64) {
        if self.repeating && k == self.next {
            let i = self.n as usize;
            self.ring[i % RING] = k;
            self.n += 1;
            self.run += 1;
            self.next = predict(&self.ring, i + 1, self.period);
            return;
        }
        self.push_slow(k);
    }

    #[inline(never)]
    fn push_slow(&mut self, k: u64) {
        let i = self.n as usize;
        self.n += 1;
        let follows =
            |ring: &[u64; RING], p: usize| p > 0 && i >= 2 * p && predict(ring, i, p) == k;
        if self.repeating {
            if follows(&self.ring, self.period) {
                self.ring[i % RING] = k;
                self.run += 1;
                return;
            }
            self.end_repeat();
        }
        // A period from the last time the same key was seen (at most MAX_PERIOD back).
        let slot = (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize;
        let (prev_key, prev_at) = self.seen[slot];
        self.seen[slot] = (k, i as u64);
        let p = i as u64 - prev_at;
        let back = if prev_key == k && p <= (RING - PENDING) as u64 {
            p as u32
        } else {
            0
        };
        if follows(&self.ring, self.period) {
            self.run += 1;
        } else {
            if prev_key == k && p <= MAX_PERIOD as u64 && follows(&self.ring, p as usize) {
                self.period = p as usize;
                self.run = 1;
            } else {
                self.period = 0;
                self.run = 0;
            }
        }
        self.ring[i % RING] = k;
        self.pending.push((k, back));
        // One whole period followed the pattern (and at least 4 keys): repeat from the
        // start of that run on.
        if self.period > 0 && self.run >= self.period.max(4) as u64 {
            let keep = self.pending.len() - self.run as usize;
            self.write_literals(keep);
            self.pending.clear();
            self.repeating = true;
            self.copy_from = self.period;
            self.next = predict(&self.ring, i + 1, self.period);
        } else if self.pending.len() > PENDING {
            // (Older keys cannot start a run any more: at most MAX_PERIOD are needed.)
            self.write_literals(self.pending.len() - MAX_PERIOD);
        }
    }

    /// Write the oldest `upto` pending keys: runs of keys equal to the keys a fixed
    /// distance back as one copy record (the distance of the last repeat's period, or
    /// of the last time the run's first key was seen: the same steps of the previous
    /// transfer), the others as they are.
    fn write_literals(&mut self, upto: usize) {
        let first = self.n as usize - self.pending.len();
        let (mut d, mut copies) = (self.last_copy, 0u64);
        let flush = |out: &mut Vec<u8>, d: usize, copies: u64| {
            if copies > 0 {
                leb(out, (copies << 20) | ((d as u64) << 4) | T_COPY);
            }
        };
        let n = self.n as usize;
        for j in 0..upto {
            let (k, back) = self.pending[j];
            let pos = first + j;
            // (The key d back must still be in the ring: at most RING keys back from
            // the newest.)
            let same = |d: usize| {
                d > 0 && pos >= d && n - (pos - d) <= RING && self.ring[(pos - d) % RING] == k
            };
            if same(d) {
                // (Also after one different key: a transfer like the last one with one
                // value changed goes on at the same distance.)
                copies += 1;
                continue;
            }
            flush(&mut self.out, d, copies);
            copies = 0;
            if same(self.copy_from) {
                (d, copies) = (self.copy_from, 1);
            } else if same(back as usize) {
                (d, copies) = (back as usize, 1);
            } else {
                leb(&mut self.out, k);
            }
        }
        flush(&mut self.out, d, copies);
        self.last_copy = d;
        self.pending.drain(..upto);
    }

    fn write_repeat(&mut self) {
        if self.run > 0 {
            leb(
                &mut self.out,
                (self.run << 12) | ((self.period as u64) << 4) | T_REPEAT,
            );
        }
        self.run = 0;
    }

    fn end_repeat(&mut self) {
        self.write_repeat();
        self.repeating = false;
        self.period = 0;
    }

    /// A time mark (microseconds on the session's clock), written when at least `min`
    /// has passed since the last one. A repeat under way goes on after it (its count so
    /// far is written first, the pattern stays).
    pub fn time(&mut self, us: u64, min: u64) {
        if us < self.last_time.saturating_add(min) {
            return;
        }
        if self.repeating {
            self.write_repeat();
        } else {
            let n = self.pending.len();
            self.write_literals(n);
            self.period = 0;
            self.run = 0;
        }
        leb(
            &mut self.out,
            (us.saturating_sub(self.last_time) << 4) | T_TIME,
        );
        self.last_time = us;
    }

    /// Record a key from [`key_of`] or a time mark from [`time_key`] (written when at
    /// least `mark_us` passed since the last, or forced).
    #[inline]
    pub fn push_any(&mut self, k: u64, mark_us: u64) {
        if k & 15 == T_TIME {
            let forced = (k >> 4) & 1 == 1;
            self.time(k >> 5, if forced { 0 } else { mark_us });
        } else {
            self.push_key(k);
        }
    }

    /// Write out everything held back (at the end, or before a time mark).
    pub fn flush(&mut self) {
        if self.repeating {
            self.end_repeat();
        }
        let n = self.pending.len();
        self.write_literals(n);
        self.period = 0;
        self.run = 0;
    }

    /// Hand the bytes encoded so far to `f`, and forget them (no allocation).
    pub fn drain(&mut self, f: impl FnOnce(&[u8])) {
        f(&self.out);
        self.out.clear();
    }

    /// Bytes encoded so far that the caller may write out now.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.out, Vec::with_capacity(1 << 16))
    }
}

/// One decoded access with where it is in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// 1-based number of the access.
    pub index: u64,
    /// 1-based number of the record (literal or repeat) that holds it.
    pub record: u64,
    /// Microseconds of the last time mark before it.
    pub time_us: u64,
    pub access: Access,
}

/// Reads a version 2 stream back, access by access.
pub struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
    ring: Box<[u64; RING]>,
    n: u64,
    record: u64,
    time_us: u64,
    /// A repeat (or, with `copy`, a copy) in progress: keys left and its period.
    left: u64,
    period: usize,
    copy: bool,
    failed: bool,
}

impl<'a> Decoder<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Decoder {
            bytes,
            pos: 0,
            ring: Box::new([0; RING]),
            n: 0,
            record: 0,
            time_us: 0,
            left: 0,
            period: 0,
            copy: false,
            failed: false,
        }
    }

    /// The bytes of the stream the accesses so far came from, when they end at a
    /// record's end (None while a repeat or copy still has accesses to give): a stream
    /// cut there decodes to exactly these accesses.
    pub fn boundary(&self) -> Option<usize> {
        (self.left == 0).then_some(self.pos)
    }

    fn number(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(format!(
                    "the stream ends inside a record at byte {}",
                    self.pos
                ));
            };
            self.pos += 1;
            if shift >= 64 {
                return Err(format!("a number too long at byte {}", self.pos));
            }
            v |= ((b & 0x7F) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    fn next_key(&mut self) -> Result<Option<u64>, String> {
        loop {
            if self.left > 0 {
                self.left -= 1;
                let i = self.n as usize;
                return Ok(Some(if self.copy {
                    self.ring[(i + RING - self.period) % RING]
                } else {
                    predict(&self.ring, i, self.period)
                }));
            }
            if self.pos >= self.bytes.len() {
                return Ok(None);
            }
            let at = self.pos;
            let k = self.number()?;
            match k & 15 {
                T_TIME => self.time_us = self.time_us.saturating_add(k >> 4),
                T_REPEAT | T_COPY => {
                    self.record += 1;
                    let copy = k & 15 == T_COPY;
                    let (period, max, count) = if copy {
                        (((k >> 4) & 0xFFFF) as usize, RING - PENDING, k >> 20)
                    } else {
                        (((k >> 4) & 0xFF) as usize, MAX_PERIOD, k >> 12)
                    };
                    let need = if copy { 1 } else { 2 } * period as u64;
                    // (A count no recorder writes: a damaged stream, not a long wait.)
                    if period == 0 || period > max || need > self.n || count > 1 << 32 {
                        return Err(format!(
                            "record {} (byte {at}): a {} of distance {period} after {} accesses",
                            self.record,
                            if copy { "copy" } else { "repeat" },
                            self.n
                        ));
                    }
                    self.period = period;
                    self.copy = copy;
                    self.left = count;
                }
                _ => {
                    self.record += 1;
                    return Ok(Some(k));
                }
            }
        }
    }
}

impl Iterator for Decoder<'_> {
    type Item = Result<Decoded, String>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let r = (|| -> Result<Option<Decoded>, String> {
            let Some(k) = self.next_key()? else {
                return Ok(None);
            };
            self.ring[self.n as usize % RING] = k;
            self.n += 1;
            let access = access(k).map_err(|e| format!("record {}: {e}", self.record))?;
            Ok(Some(Decoded {
                index: self.n,
                record: self.record,
                time_us: self.time_us,
                access,
            }))
        })();
        match r {
            Ok(Some(d)) => Some(Ok(d)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// The version 1 text of an access (without its time): `W3 5A`, `R3 *`, `W3 * @4000`,
/// `S 2000`, `r0 BEEF`.
pub fn line_of(a: &Access) -> String {
    let reg = |r: Reg| match r {
        Reg::Cmd(n) => n.to_string(),
        Reg::Ctl => "c".into(),
        Reg::Port(p) => format!("p{p:X}"),
    };
    match *a {
        Access::Write {
            reg: r,
            word,
            value,
            at,
        } => {
            let k = if word { 'w' } else { 'W' };
            match (value, at) {
                (Some(v), _) => format!("{k}{} {v:X}", reg(r)),
                (None, Some(at)) => format!("{k}{} * @{at:X}", reg(r)),
                (None, None) => format!("{k}{} *", reg(r)),
            }
        }
        Access::Read {
            reg: r,
            word,
            value,
        } => {
            let k = if word { 'r' } else { 'R' };
            match value {
                Some(v) => format!("{k}{} {v:X}", reg(r)),
                None => format!("{k}{} *", reg(r)),
            }
        }
        Access::Sleep(ns) => format!("S {ns}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(r: u8, v: u16) -> Access {
        Access::Write {
            reg: Reg::Cmd(r),
            word: false,
            value: Some(v),
            at: None,
        }
    }
    fn rd(r: u8, v: Option<u16>) -> Access {
        Access::Read {
            reg: Reg::Cmd(r),
            word: false,
            value: v,
        }
    }

    fn roundtrip(accesses: &[Access]) -> Vec<u8> {
        let mut e = Encoder::default();
        for (i, a) in accesses.iter().enumerate() {
            e.push(a);
            if i % 1000 == 999 {
                e.time(i as u64, 1);
            }
        }
        e.flush();
        let bytes = e.take();
        let back: Vec<Access> = Decoder::new(&bytes).map(|d| d.unwrap().access).collect();
        assert_eq!(back.len(), accesses.len());
        for (i, (a, b)) in accesses.iter().zip(&back).enumerate() {
            assert_eq!(a, b, "access {}", i + 1);
        }
        bytes
    }

    /// A byte read as the vendor protocol does it, address low counting up.
    fn byte_reads(n: u32) -> Vec<Access> {
        let mut v = Vec::new();
        for a in 0..n {
            if a % 256 == 0 {
                v.push(w(4, (a >> 8) as u16 & 0xFF));
                v.push(w(5, (a >> 16) as u16 & 0xFF));
            }
            v.extend([
                w(3, a as u16 & 0xFF),
                w(7, 0),
                w(6, 0xA0),
                rd(7, Some(0x80)),
                rd(7, Some(0x80)),
                rd(7, Some(0x70)),
                rd(3, None),
            ]);
        }
        v
    }

    #[test]
    fn a_byte_loop_is_written_once_per_address_high_change() {
        let acc = byte_reads(0x10000);
        let bytes = roundtrip(&acc);
        // 65536 x 7 accesses (460 K) in well under 50 bytes per 256 bytes read: the
        // address high writes, one period as literals, a repeat, the time marks.
        assert!(bytes.len() < 256 * 48, "{} bytes", bytes.len());
    }

    #[test]
    fn anything_round_trips() {
        // Irregular values, payload addresses going back and forth, words, other ports,
        // sleeps, and patterns that break off mid-period.
        let mut s = 0x1234_5678u64;
        let mut rnd = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut acc = Vec::new();
        for i in 0..20_000u32 {
            let r = rnd();
            let a = match r % 9 {
                0 => w((r >> 8) as u8 % 8, (r >> 16) as u16 & 0xFF),
                1 => rd((r >> 8) as u8 % 8, Some((r >> 16) as u16 & 0xFF)),
                2 => rd(3, None),
                3 => Access::Write {
                    reg: Reg::Cmd(3),
                    word: false,
                    value: None,
                    at: Some(((r >> 20) as u32) & 0x1F_FFFF),
                },
                4 => Access::Write {
                    reg: Reg::Cmd(0),
                    word: true,
                    value: Some((r >> 8) as u16),
                    at: None,
                },
                5 => Access::Read {
                    reg: Reg::Ctl,
                    word: false,
                    value: Some((r >> 8) as u16 & 0xFF),
                },
                6 => Access::Write {
                    reg: Reg::Port(0x1F0 + (r >> 30) as u16 % 16),
                    word: false,
                    value: Some((r >> 8) as u16 & 0xFF),
                    at: None,
                },
                7 => Access::Sleep((r >> 8) % 5_000_000),
                _ => Access::Read {
                    reg: Reg::Cmd(0),
                    word: true,
                    value: None,
                },
            };
            acc.push(a);
            // Stretches of a repeating pattern, cut at odd places.
            if i % 500 == 0 {
                acc.extend(byte_reads(37 + i % 13));
            }
        }
        // The same transfer again and again, one access different each time: copies
        // from far back.
        let block: Vec<Access> = acc[1000..1700].to_vec();
        for round in 0..5u16 {
            let mut b = block.clone();
            let at = (round as usize * 97) % b.len();
            b[at] = w(3, round);
            acc.extend(b);
        }
        let before = roundtrip(&acc[..acc.len() - 4 * block.len()]).len();
        let after = roundtrip(&acc).len();
        // Four more transfers of 700 accesses, each like the one before: a few bytes
        // each, time marks included (the first, too far from its source to copy, is
        // written out).
        assert!(after - before < 4 * 80, "{before} -> {after}");
    }

    #[test]
    fn copies_from_as_far_back_as_the_ring_allows_round_trip() {
        // Blocks of distinct accesses sent again at distances around the ring's reach
        // (RING - PENDING), with time marks forcing literals out at odd places.
        let mut s = 7u64;
        for len in [3900usize, 3960, 3967, 3968, 3969, 4000, 4095] {
            let block: Vec<Access> = (0..len)
                .map(|_| {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    Access::Write {
                        reg: Reg::Cmd(3),
                        word: true,
                        value: Some((s >> 33) as u16),
                        at: None,
                    }
                })
                .collect();
            let mut acc = block.clone();
            acc.extend(block.iter().copied());
            acc.extend(block);
            roundtrip(&acc);
        }
    }

    #[test]
    fn a_damaged_stream_is_an_error_not_a_panic() {
        let bytes = roundtrip(&byte_reads(300));
        for cut in [1, bytes.len() / 2, bytes.len() - 1] {
            let mut b = bytes[..cut].to_vec();
            b.push(0x80); // a number that never ends
            assert!(Decoder::new(&b).any(|d| d.is_err()));
        }
        // A repeat before anything to repeat.
        let mut b = Vec::new();
        leb(&mut b, (5 << 12) | (3 << 4) | T_REPEAT);
        assert!(Decoder::new(&b).next().unwrap().is_err());
        // A count no recorder writes, and time marks that would overflow.
        let mut b = roundtrip(&byte_reads(40));
        leb(&mut b, (1u64 << 60) | (1 << 4) | T_COPY);
        assert!(Decoder::new(&b).any(|d| d.is_err()));
        let mut b = Vec::new();
        leb(&mut b, !15 | T_TIME);
        leb(&mut b, !15 | T_TIME);
        leb(&mut b, key(&w(3, 1)));
        assert!(Decoder::new(&b).all(|d| d.is_ok()));
    }
}
