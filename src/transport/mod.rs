//! How bytes reach a drive: port I/O, the ATA task file, pass-through.

pub mod ata;
pub mod atapt;
pub mod compact;
pub mod discover;
pub mod port;
pub mod ptports;
#[cfg(target_os = "linux")]
pub mod raw;
pub mod scsi;
#[cfg(target_os = "linux")]
pub mod sgio;
pub mod spti;
pub mod trace;

pub use port::{Carries, PortIo};
