//! Reading the flash through a chip driver: every block twice for a backup, once (and
//! again where it differs) for a verification; interruptible between blocks.

use super::session::Session;
use crate::error::{Failure, Kind, NOT_CHANGED};
use crate::firmware;
use crate::mtk::flash::FlashOps;
use crate::report::{Recorder, Ui};

const BLOCK: usize = 0x1000;

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

/// Read `len` bytes at `addr`, every block twice; a block read differently is read a
/// third time and must agree with one of the first two.
pub fn read_checked(
    drv: &mut dyn FlashOps,
    addr: u32,
    out: &mut [u8],
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    let mut b = vec![0u8; BLOCK];
    let mut c = vec![0u8; BLOCK];
    for (i, a) in out.chunks_mut(BLOCK).enumerate() {
        let at = addr + (i * BLOCK) as u32;
        stop_if_interrupted("reading", at)?;
        drv.read(at, a).map_err(read_failure)?;
        let b = &mut b[..a.len()];
        drv.read(at, b).map_err(read_failure)?;
        if a != b {
            let c = &mut c[..a.len()];
            drv.read(at, c).map_err(read_failure)?;
            if c == b {
                a.copy_from_slice(c);
            } else if c != a {
                return Err(Failure::new(
                    Kind::DriveError,
                    format!("reads of 0x{at:06X}..0x{:06X} do not agree three times in a row: the connection is unreliable", at as usize + a.len()),
                    NOT_CHANGED,
                    "check the cable and power; try a shorter IDE cable or another port",
                ));
            }
        }
        ui.advance(a.len() as u64);
    }
    Ok(())
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
