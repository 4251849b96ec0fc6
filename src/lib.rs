//! mtkflash: a flasher for MediaTek-chipset optical drives.
//!
//! Layers, top to bottom (docs/architecture.md): `cli` (command line) over `jobs` (a
//! whole job: files, connect, operate, close) over `connect` (a target becomes an open
//! device; the only place above `sim` that knows the virtual drive) and `ops` (use cases
//! on an open device) over `mtk` (drive protocols and chip drivers) over `transport`
//! (port I/O, ATA, pass-through). `firmware`, `plan`, `chips`, `limit` and `bus_timing`
//! are pure; `report` (Ui, events) and `error` are shared by every layer; `files` turns
//! paths into bytes and back; `sim` is the virtual drive behind the same traits as
//! hardware.

// Unsafe lives only at the OS edge (port I/O, ioctls, signals, Windows handles), and
// every block says why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod bus_timing;
pub mod chips;
pub mod cli;
pub mod clock;
pub mod connect;
pub mod error;
pub mod files;
pub mod firmware;
pub mod inference;
pub mod interrupt;
pub mod jobs;
pub mod limit;
pub mod mtk;
pub mod ops;
pub mod plan;
pub mod report;
pub mod rng;
pub mod sim;
pub mod transport;
