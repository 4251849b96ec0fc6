//! Bus costs of the virtual drive, in one place with their sources (the ATA bus cycle
//! itself lives in crate::bus_timing, shared with the planner's limit). Chip operation
//! times come from the chip table; protocol guesses from crate::inference.

pub use crate::bus_timing::{DATA_WORD_NS, REG_NS};
/// Time from writing an ATA command to the drive dropping BSY for a simple command
/// (IDENTIFY PACKET, PACKET's CDB phase): a guess of 50 us, the "DRQ within 50 us"
/// class that IDENTIFY PACKET word 0 bits 6:5 = 10 advertises.
pub const CMD_NS: u64 = 50_000;
/// Time the drive takes to execute a packet command before the data or status phase.
pub const PACKET_EXEC_NS: u64 = 200_000;
/// Time the drive is busy after the vendor intro before it answers 0x70/0x72.
pub const INTRO_NS: u64 = 1_000_000;
/// One byte clocked over the drive's SPI bus: a guess, kept with the others.
pub use crate::inference::SPI_BYTE_NS;
/// Reset (SRST) of the ATA interface until BSY clears, when no reboot is involved.
pub const RESET_NS: u64 = 2_000_000;
