//! How bytes reach a drive: port I/O, the ATA task file, pass-through.

pub mod ata;
pub mod port;

pub use port::PortIo;
