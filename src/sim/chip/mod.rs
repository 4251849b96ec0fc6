//! Flash-chip models: the chips' own state machines, driven by bus cycles at virtual
//! times. Operations take the chip's typical time from the chip table; their effect is
//! applied when that time has passed, so reads in between see busy status and a power
//! cut in between can leave them partial.

pub mod parallel;
pub mod spi;

pub use parallel::JedecChip;
pub use spi::SpiChip;

/// Counters a test or benchmark can read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChipStats {
    pub program_ops: u64,
    pub bytes_programmed: u64,
    pub erase_ops: u64,
    pub bytes_erased: u64,
    pub refused: u64,
}

/// What happened to an operation cut short by power loss.
pub(crate) fn partial_erase(mem: &mut [u8], start: usize, len: usize, done_frac: f64, seed: u64) {
    // Cells in an interrupted erase end anywhere between old content and FF; model that
    // by erasing a prefix proportional to the elapsed time and scrambling the next 16 bytes.
    let n = ((len as f64) * done_frac) as usize;
    for b in &mut mem[start..start + n] {
        *b = 0xFF;
    }
    for (i, b) in mem[start + n..start + len].iter_mut().take(16).enumerate() {
        *b |= (seed.rotate_left(i as u32) & 0xFF) as u8;
    }
}

pub(crate) fn us(us: u64) -> u64 {
    us * 1000
}

/// Erase `start..start+len` to FF, except ranges an erase-fail fault protects.
pub(crate) fn erase_except(mem: &mut [u8], start: usize, len: usize, keep: &[(usize, usize)]) {
    for (i, b) in mem[start..start + len].iter_mut().enumerate() {
        let a = start + i;
        if !keep.iter().any(|&(ks, kl)| a >= ks && a < ks + kl) {
            *b = 0xFF;
        }
    }
}
