//! Reading the flash through a chip driver: every block twice for a backup, once (and
//! again where it differs) for a verification; interruptible between blocks.

use super::session::Session;
use crate::error::{Failure, Kind, NOT_CHANGED};
use crate::firmware;
use crate::mtk::flash::FlashOps;
use crate::report::{Recorder, Ui};

/// The unit of reads: confirmation and settling go block by block.
pub const BLOCK: usize = 0x1000;

fn read_failure(e: crate::mtk::vendor::VendorError) -> Failure {
    Failure::new(
        Kind::DriveError,
        format!("reading the flash failed: {e}"),
        NOT_CHANGED,
        "power-cycle the drive and try again",
    )
}

/// A Ctrl-C between blocks of a read: nothing was changed by reading.
fn stop_if_interrupted(what: &str, at: u32) -> Result<(), Failure> {
    if crate::interrupt::requested() {
        return Err(Failure::new(
            Kind::Interrupted,
            format!("interrupted while {what} at 0x{at:06X}"),
            NOT_CHANGED,
            "run the command again",
        ));
    }
    Ok(())
}

/// Most reads of one block: two that agree settle it; past that, the odd counts up to
/// [`MAX_READS`] are tried.
pub const MAX_READS: usize = 7;

/// Read `len` bytes at `addr`, every block twice. A block read differently is read
/// again: two whole reads that agree settle it, else each byte takes the value 4 of 5
/// (then 5 of 7) reads agree on. A transient flip is
/// outvoted; only a block no such majority settles after [`MAX_READS`] reads stops the
/// command. (A systematic fault, a bus that floats the same way every time, reads the
/// same wrong value each time: no re-read guards against it; the verification after a
/// write, and the image's checks, do.)
pub fn read_checked(
    drv: &mut dyn FlashOps,
    addr: u32,
    out: &mut [u8],
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    read_blocks(drv, addr, out, ui, true)
}

/// [`read_checked`] to the end whatever is asked meanwhile: for a read that must not be
/// cut short (the boot code just rewritten); an interruption is seen after it.
pub fn read_checked_whole(
    drv: &mut dyn FlashOps,
    addr: u32,
    out: &mut [u8],
) -> Result<(), Failure> {
    read_blocks(drv, addr, out, &mut Recorder::default(), false)
}

fn read_blocks(
    drv: &mut dyn FlashOps,
    addr: u32,
    out: &mut [u8],
    ui: &mut dyn Ui,
    interruptible: bool,
) -> Result<(), Failure> {
    let mut reads: Vec<Vec<u8>> = Vec::with_capacity(MAX_READS);
    for (i, a) in out.chunks_mut(BLOCK).enumerate() {
        let at = addr + (i * BLOCK) as u32;
        if interruptible {
            stop_if_interrupted("reading", at)?;
        }
        reads.clear();
        settle_block(drv, at, a, &mut reads)?;
        ui.advance(a.len() as u64);
    }
    Ok(())
}

/// Read the block at `at` until [`settle`] agrees on a value (starting from `reads`,
/// the reads of it made so far), and put that in `a`; stop the command after
/// [`MAX_READS`] reads without agreement.
fn settle_block(
    drv: &mut dyn FlashOps,
    at: u32,
    a: &mut [u8],
    reads: &mut Vec<Vec<u8>>,
) -> Result<(), Failure> {
    loop {
        let mut r = vec![0u8; a.len()];
        drv.read(at, &mut r).map_err(read_failure)?;
        reads.push(r);
        if let Some(v) = settle(reads) {
            a.copy_from_slice(&v);
            return Ok(());
        }
        if reads.len() >= MAX_READS {
            return Err(Failure::new(
                Kind::DriveError,
                format!(
                    "reads of 0x{at:06X}..0x{:06X} do not agree after {MAX_READS} tries: the connection is unreliable",
                    at as usize + a.len()
                ),
                NOT_CHANGED,
                "check the cable and power; try a shorter IDE cable or another port",
            ));
        }
    }
}

/// What the reads of one block so far settle on: two identical whole reads, or the value
/// of each byte that 4 of 5 (then 5 of 7) reads agree on.
fn settle(reads: &[Vec<u8>]) -> Option<Vec<u8>> {
    let last = reads.last()?;
    if let Some(same) = reads[..reads.len() - 1].iter().find(|r| *r == last) {
        return Some(same.clone());
    }
    // A wrong value wins only if that many reads flipped the same bit of the same byte:
    // negligible even on a connection that flips one byte in a hundred, which these
    // thresholds then refuse (it rarely gets 4 of 5 right everywhere in a block).
    let need = match reads.len() {
        5 => 4,
        7 => 5,
        _ => return None,
    };
    (0..last.len())
        .map(|i| {
            let mut counts = [0u8; 256];
            for r in reads {
                counts[r[i] as usize] += 1;
            }
            let (v, c) = counts.iter().enumerate().max_by_key(|(_, c)| **c)?;
            (*c as usize >= need).then_some(v as u8)
        })
        .collect()
}

/// Read `out.len()` bytes at `addr` to verify them against `want`: one read per block; a
/// block that differs is read twice more, and what two reads agree on is kept (so a bad
/// bus cannot make a wrong byte look right, and a flaky read does not fail a good write).
pub fn read_verify(
    drv: &mut dyn FlashOps,
    addr: u32,
    out: &mut [u8],
    want: &[u8],
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    for (i, (a, w)) in out.chunks_mut(BLOCK).zip(want.chunks(BLOCK)).enumerate() {
        let at = addr + (i * BLOCK) as u32;
        stop_if_interrupted("verifying", at)?;
        drv.read(at, a).map_err(read_failure)?;
        if a != w {
            read_checked(drv, at, a, &mut Recorder::default())?;
        }
        ui.advance(a.len() as u64);
    }
    Ok(())
}

/// Read the whole flash once, for a write: the plan is made from this read, and what the
/// write will destroy is read again by [`confirm`] before the backup is saved. (A block
/// misread once and equal to the image is left alone and keeps its bytes on the flash;
/// a misread that differs from the image puts its block into the plan, and so under
/// confirmation; docs/faults.md says what this leaves out.)
pub fn read_once(s: &mut Session<'_>, ui: &mut dyn Ui) -> Result<Vec<u8>, Failure> {
    let size = s.chip.size as usize;
    let mut out = vec![0u8; size];
    let mut drv = s.driver();
    ui.begin("Reading", size as u64);
    for (i, a) in out.chunks_mut(BLOCK).enumerate() {
        let at = (i * BLOCK) as u32;
        stop_if_interrupted("reading", at)?;
        drv.read(at, a).map_err(read_failure)?;
        ui.advance(a.len() as u64);
    }
    ui.end();
    Ok(out)
}

/// Read again each [`BLOCK`]-sized block starting at the addresses in `blocks` and settle
/// it against its first read in `first` (two agreeing reads, else a majority, as
/// [`read_checked`]). Returns how many blocks settled on something other than the first
/// read (those bytes are corrected in `first`).
pub fn confirm(
    drv: &mut dyn FlashOps,
    first: &mut [u8],
    blocks: &[u32],
    ui: &mut dyn Ui,
) -> Result<usize, Failure> {
    let mut corrected = 0;
    let mut reads: Vec<Vec<u8>> = Vec::with_capacity(MAX_READS);
    for &at in blocks {
        stop_if_interrupted("confirming what will be erased", at)?;
        let r = at as usize..(at as usize + BLOCK).min(first.len());
        let a = &mut first[r];
        reads.clear();
        reads.push(a.to_vec());
        settle_block(drv, at, a, &mut reads)?;
        if a[..] != reads[0][..] {
            corrected += 1;
        }
        ui.advance(a.len() as u64);
    }
    Ok(corrected)
}

/// Read the whole flash (double-read checked), one `BankN` line per 64 KiB.
pub fn read_all(s: &mut Session<'_>, ui: &mut dyn Ui) -> Result<Vec<u8>, Failure> {
    let size = s.chip.size as usize;
    let mut out = vec![0u8; size];
    let mut drv = s.driver();
    ui.begin("Reading", size as u64);
    for (bank, chunk) in out.chunks_mut(firmware::BANK).enumerate() {
        read_checked(drv.as_mut(), (bank * firmware::BANK) as u32, chunk, ui)?;
    }
    ui.end();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chips::{ChipInfo, Eraser};
    use crate::mtk::vendor::VendorError;

    /// A flash whose reads flip bits as `flip(read_no, addr)` says.
    struct Flaky<F: FnMut(usize, u32) -> u8> {
        mem: Vec<u8>,
        reads: usize,
        flip: F,
    }

    impl<F: FnMut(usize, u32) -> u8> FlashOps for Flaky<F> {
        fn info(&self) -> &'static ChipInfo {
            crate::chips::by_name("SST39SF010A").unwrap()
        }
        fn read(&mut self, addr: u32, buf: &mut [u8]) -> Result<(), VendorError> {
            self.reads += 1;
            for (i, b) in buf.iter_mut().enumerate() {
                let a = addr + i as u32;
                *b = self.mem[a as usize] ^ (self.flip)(self.reads, a);
            }
            Ok(())
        }
        fn erase(&mut self, _: &Eraser, _: u32) -> Result<(), VendorError> {
            unreachable!()
        }
        fn program(&mut self, _: u32, _: &[u8]) -> Result<(), VendorError> {
            unreachable!()
        }
    }

    fn mem() -> Vec<u8> {
        (0..BLOCK as u32).map(|i| (i * 7) as u8).collect()
    }

    fn read(f: impl FnMut(usize, u32) -> u8) -> (Result<Vec<u8>, Failure>, usize) {
        let mut d = Flaky {
            mem: mem(),
            reads: 0,
            flip: f,
        };
        let mut out = vec![0u8; BLOCK];
        let r = read_checked(&mut d, 0, &mut out, &mut Recorder::default()).map(|()| out);
        (r, d.reads)
    }

    #[test]
    fn a_flip_in_every_read_is_outvoted_byte_by_byte() {
        // Every read has its own flipped byte, so no two whole reads ever agree (the 0.1
        // rule gave up after three); five reads outvote each flip.
        let (r, n) = read(|read, a| u8::from(a == read as u32 * 100));
        assert_eq!(r.unwrap(), mem());
        assert_eq!(n, 5);
    }

    #[test]
    fn two_agreeing_reads_settle_a_block() {
        let (r, n) = read(|_, _| 0);
        assert_eq!((r.unwrap(), n), (mem(), 2));
        let (r, n) = read(|read, a| u8::from(read == 1 && a == 9));
        assert_eq!(
            (r.unwrap(), n),
            (mem(), 3),
            "the third read agrees with the second"
        );
    }

    #[test]
    fn a_block_no_majority_settles_stops_the_command() {
        // The same byte reads differently every time: nothing can be trusted there.
        let (r, n) = read(|read, a| if a == 5 { read as u8 } else { 0 });
        let f = r.unwrap_err();
        assert_eq!(n, MAX_READS);
        assert_eq!(f.kind, Kind::DriveError);
        assert!(f.what.contains("do not agree after 7 tries"), "{}", f.what);
    }

    #[test]
    fn three_of_five_is_not_enough() {
        // Byte 5 reads wrong in the first two reads: 3 of 5 would take it, but a
        // value needs 4 of 5 (then 5 of 7), so seven reads are made and 5 of 7 agree.
        let (r, n) =
            read(|read, a| u8::from(a == 5 && read <= 2) | u8::from(a == 40 + read as u32));
        assert_eq!(r.unwrap(), mem());
        assert_eq!(n, 7);
    }
}
