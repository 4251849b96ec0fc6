//! Parallel JEDEC flash over a byte bus: software ID, sector/block/chip erase, byte
//! program, W29C020 page write; completion by the DQ6 toggle bit.

use super::{FlashOps, ParallelBus};
use crate::chips::{self, ChipInfo, Eraser, Unlock, WriteMode};
use crate::clock::poll_until;
use crate::mtk::vendor::VendorError;
use std::time::Duration;

/// What the ID probe read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JedecProbe {
    pub mfr: u16,
    pub dev: u8,
    pub unlock: Unlock,
    pub candidates: Vec<&'static ChipInfo>,
}

fn cycle<B: ParallelBus>(bus: &mut B, u: &Unlock, cmd: u8) -> Result<(), VendorError> {
    bus.write(u.a1, 0xAA)?;
    bus.write(u.a2, 0x55)?;
    bus.write(u.a1, cmd)
}

/// Read the chip's ID: enter ID mode with each unlock style (5555/2AAA, which AMD-class
/// parts also decode as 555/2AA, then AAA/555 for x16 parts in byte mode), read the
/// manufacturer (with the 0x7F continuation at 0x100) and device, leave ID mode, and
/// re-read the same addresses: an "ID" equal to the ordinary content was not an ID.
/// Returns the first known chip, else the first unknown ID read, else None.
pub fn probe<B: ParallelBus>(bus: &mut B) -> Result<Option<JedecProbe>, VendorError> {
    let mut unknown = None;
    for unlock in [chips::UNLOCK_SST, chips::UNLOCK_BYTE_MODE] {
        let Some((mfr, dev)) = read_id(bus, &unlock)? else {
            continue;
        };
        let candidates = chips::by_jedec(mfr, dev);
        let p = JedecProbe {
            mfr,
            dev,
            unlock,
            candidates,
        };
        if !p.candidates.is_empty() {
            return Ok(Some(p));
        }
        unknown.get_or_insert(p);
    }
    Ok(unknown)
}

fn read_id<B: ParallelBus>(bus: &mut B, u: &Unlock) -> Result<Option<(u16, u8)>, VendorError> {
    let plain = |bus: &mut B| -> Result<[u8; 3], VendorError> {
        Ok([bus.read(0)?, bus.read(u.dev_addr)?, bus.read(0x100)?])
    };
    let before = plain(bus)?;
    cycle(bus, u, 0x90)?;
    let (m0, dev, cont) = (bus.read(0)?, bus.read(u.dev_addr)?, bus.read(0x100)?);
    bus.write(0, 0xF0)?;
    if plain(bus)? != before {
        // Some parts want the full exit sequence.
        cycle(bus, u, 0xF0)?;
        let after = plain(bus)?;
        if after != before {
            return Err(VendorError::Other(format!(
                "the flash chip did not leave ID mode (reads {} instead of {})",
                hex::encode_upper(after),
                hex::encode_upper(before)
            )));
        }
    }
    if [m0, dev] == before[..2] {
        return Ok(None); // ID mode did not take: that was flash content
    }
    let mfr = if m0 == 0x7F {
        0x7F00 | cont as u16
    } else {
        m0 as u16
    };
    Ok(Some((mfr, dev)))
}

pub struct JedecDriver<B: ParallelBus> {
    pub bus: B,
    pub info: &'static ChipInfo,
}

impl<B: ParallelBus> JedecDriver<B> {
    pub fn new(bus: B, info: &'static ChipInfo) -> Self {
        JedecDriver { bus, info }
    }

    /// Wait until the operation at `addr` is done: DQ6 stops toggling (two reads in a
    /// row agree on it) and the byte reads `expect` (the programmed byte; FF after an
    /// erase), which a status read never does (DQ7 is the complement of the data's
    /// while busy). One bit misread in a status read can make two reads agree on DQ6;
    /// it cannot also make the read equal the data, so a misread never ends the wait
    /// early and the next command never lands on a busy chip. A chip that finished
    /// without taking the data (a worn cell) reads the same wrong value steadily: after
    /// five such reads in a row the wait ends with that value, for the caller and the
    /// read-back to judge (one misread amid the toggling makes three equal reads in a
    /// row; five take two misreads at the right places).
    fn wait_toggle(
        &mut self,
        addr: u32,
        expect: u8,
        limit: Duration,
        what: &'static str,
    ) -> Result<u8, VendorError> {
        // Polls read the programmed address: once done they return firmware.
        let mut prev = self.bus.read_data(addr)?;
        let mut steady = 0;
        let mut err = None;
        let r = poll_until(&mut self.bus, limit, |bus| match bus.read_data(addr) {
            Ok(v) => {
                let still = (v ^ prev) & 0x40 == 0;
                steady = if still && v == prev { steady + 1 } else { 0 };
                prev = v;
                (still && (v == expect || steady >= 4)).then_some(v)
            }
            Err(e) => {
                err = Some(e);
                Some(0)
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        r.ok_or(VendorError::ChipTimeout {
            what,
            addr,
            ms: limit.as_millis() as u64,
        })
    }

    /// Wait for a byte program at `addr` to end. The chip is first given its typical
    /// program time, timed so that the first read samples it just after (the bus says
    /// how long after a read begins the chip is read); a read that returns the byte
    /// itself ends the wait: while the chip programs, DQ7 reads as the complement of
    /// the byte's bit 7 (Data# polling, every JEDEC byte-program datasheet in the
    /// table), so a busy chip never reads as the byte. A busy status has DQ5-DQ0 clear
    /// (DQ5 timeout, DQ3 and DQ2 erase-only status on AMD parts; the model), so a busy
    /// read misread in DQ7 alone can equal only a byte whose bits 0-5 are clear (00,
    /// 40, 80, C0): those are read once more. Anything else and the wait goes on as
    /// [`Self::wait_toggle`]. What a misread can still do is in docs/faults.md
    /// ("Completion reads").
    fn wait_byte(&mut self, addr: u32, b: u8) -> Result<u8, VendorError> {
        let typical = Duration::from_micros(self.info.program.us);
        let lead = self.bus.read_lead();
        self.bus.clock().sleep(typical.saturating_sub(lead));
        let v = self.bus.read_data_timed(addr)?;
        if v == b && (b & 0x3F != 0 || self.bus.read_data(addr)? == b) {
            return Ok(v);
        }
        self.wait_toggle(addr, b, Self::limit(self.info.program.us), "programming")
    }

    fn limit(us: u64) -> Duration {
        Duration::from_micros(us * 20).max(Duration::from_millis(2))
    }
}

impl<B: ParallelBus> FlashOps for JedecDriver<B> {
    fn info(&self) -> &'static ChipInfo {
        self.info
    }

    fn read(&mut self, addr: u32, buf: &mut [u8]) -> Result<(), VendorError> {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.bus.read_data(addr + i as u32)?;
        }
        Ok(())
    }

    fn erase(&mut self, e: &Eraser, addr: u32) -> Result<(), VendorError> {
        let u = self.info.unlock();
        cycle(&mut self.bus, &u, 0x80)?;
        self.bus.write(u.a1, 0xAA)?;
        self.bus.write(u.a2, 0x55)?;
        let target = if e.is_chip_erase(self.info.size) {
            u.a1
        } else {
            addr
        };
        self.bus.write(target, e.cmd)?;
        let limit = Duration::from_micros(e.time.us * 10) + Duration::from_secs(1);
        // A wait that ends on a steady value other than FF is an erase that did not
        // take (the command was ignored, or the sector is worn).
        let got = self.wait_toggle(addr, 0xFF, limit, "erasing")?;
        if got != 0xFF {
            return Err(VendorError::Other(format!(
                "the erase at 0x{addr:06X} did not take: the flash reads 0x{got:02X} there, not FF"
            )));
        }
        Ok(())
    }

    fn program(&mut self, addr: u32, data: &[u8]) -> Result<(), VendorError> {
        let u = self.info.unlock();
        match self.info.write {
            WriteMode::JedecPage { page } => {
                for (pi, chunk) in data.chunks(page as usize).enumerate() {
                    let base = addr + pi as u32 * page;
                    cycle(&mut self.bus, &u, 0xA0)?;
                    let mut last = base;
                    let mut last_byte = 0xFF;
                    let mut loaded = false;
                    for (i, &b) in chunk.iter().enumerate() {
                        if b != 0xFF {
                            self.bus.write_data(base + i as u32, b)?;
                            last = base + i as u32;
                            last_byte = b;
                            loaded = true;
                        }
                    }
                    if !loaded {
                        self.bus.write_data(base, 0xFF)?; // an all-FF page still needs a write
                    }
                    // The load window closes 200 us after the last byte.
                    self.bus.clock().sleep(Duration::from_micros(200));
                    self.wait_toggle(
                        last,
                        last_byte,
                        Self::limit(self.info.program.us),
                        "writing a page",
                    )?;
                }
            }
            _ => {
                for (i, &b) in data.iter().enumerate() {
                    if b == 0xFF {
                        continue;
                    }
                    let a = addr + i as u32;
                    cycle(&mut self.bus, &u, 0xA0)?;
                    self.bus.write_data(a, b)?;
                    let got = self.wait_byte(a, b)?;
                    // The completion read is the byte's read-back (ChipInfo::
                    // program_reads_back): a steady other value is a cell that did not
                    // take it.
                    if got != b {
                        return Err(VendorError::NotTaken {
                            addr: a,
                            got,
                            want: b,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}
