//! mtkflash: a flasher for MediaTek-chipset optical drives.
//!
//! Layers, top to bottom: `ops` (use cases) over `mtk` (drive protocols and chip
//! drivers) over `transport` (port I/O, ATA, pass-through); `firmware`, `plan` and
//! `chips` are pure; `sim` is the virtual drive behind the same traits as hardware.

// Unsafe lives only at the OS edge (port I/O, ioctls, signals, Windows handles), and
// every block says why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod chips;
pub mod cli;
pub mod clock;
pub mod error;
pub mod firmware;
pub mod inference;
pub mod interrupt;
pub mod limit;
pub mod mtk;
pub mod ops;
pub mod plan;
pub mod rng;
pub mod sim;
pub mod transport;
