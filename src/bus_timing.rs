//! Facts of the ATA bus itself, shared by the planner's physical limit (`limit`) and the
//! virtual drive (`sim::timing`), so neither has to import the other.

/// One 8-bit register access on the legacy task file: ATA PIO mode 0 cycle time
/// t0 = 600 ns (ATA/ATAPI specifications, PIO timing table). Legacy ISA-decoded ports
/// on real chipsets are of the same order (~1 us).
pub const REG_NS: u64 = 600;
/// One 16-bit data-register access in PIO mode 0: also t0 = 600 ns.
pub const DATA_WORD_NS: u64 = 600;
