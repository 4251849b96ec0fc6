//! Bus costs of the virtual drive, in one place with their sources. Chip operation
//! times come from the chip table; protocol guesses from crate::inference.

/// One 8-bit register access on the legacy task file: ATA PIO mode 0 cycle time
/// t0 = 600 ns (ATA/ATAPI specifications, PIO timing table). Legacy ISA-decoded ports
/// on real chipsets are of the same order (~1 us).
pub const REG_NS: u64 = 600;
/// One 16-bit data-register access in PIO mode 0: also t0 = 600 ns.
pub const DATA_WORD_NS: u64 = 600;
/// Time from writing an ATA command to the drive dropping BSY for a simple command
/// (IDENTIFY PACKET, PACKET's CDB phase): a guess of 50 us, the "DRQ within 50 us"
/// class that IDENTIFY PACKET word 0 bits 6:5 = 10 advertises.
pub const CMD_NS: u64 = 50_000;
/// Time the drive takes to execute a packet command before the data or status phase.
pub const PACKET_EXEC_NS: u64 = 200_000;
/// Time the drive is busy after the vendor intro before it answers 0x70/0x72.
pub const INTRO_NS: u64 = 1_000_000;
/// One byte clocked over the drive's SPI bus (assumes an 8 MHz SPI clock: a guess).
pub const SPI_BYTE_NS: u64 = 1_000;
/// Reset (SRST) of the ATA interface until BSY clears, when no reboot is involved.
pub const RESET_NS: u64 = 2_000_000;
