//! The flash-chip database: pure data plus lookup. The table itself is in [`table`];
//! its self-check (in the spirit of flashrom's) is in the tests below.

mod table;

pub use table::CHIPS;

/// Where a timing figure comes from (chips.md's letters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provenance {
    /// V: read in the chip's own datasheet.
    Datasheet,
    /// F: taken from a sister or clone part's datasheet.
    Sister,
    /// M: from memory, unconfirmed. Must be labelled wherever it is shown.
    Memory,
}

impl Provenance {
    pub fn letter(self) -> char {
        match self {
            Provenance::Datasheet => 'V',
            Provenance::Sister => 'F',
            Provenance::Memory => 'M',
        }
    }
}

/// A typical duration in microseconds with its provenance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub us: u64,
    pub src: Provenance,
}

pub const fn v(us: u64) -> Timing {
    Timing {
        us,
        src: Provenance::Datasheet,
    }
}
pub const fn f(us: u64) -> Timing {
    Timing {
        us,
        src: Provenance::Sister,
    }
}
pub const fn m(us: u64) -> Timing {
    Timing {
        us,
        src: Provenance::Memory,
    }
}

/// `count` consecutive erase units of `size` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub size: u32,
    pub count: u32,
}

/// One way of erasing: the command that does it, the units it erases, and how long a
/// unit takes. A whole-chip erase has one region of the chip's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Eraser {
    /// Parallel: the final byte of the six-cycle sequence (0x30 sector, 0x50 block,
    /// 0x10 chip). SPI: the opcode (0x20, 0xD7, 0x52, 0xD8, 0x60, 0xC7).
    pub cmd: u8,
    pub regions: &'static [Region],
    pub time: Timing,
}

impl Eraser {
    pub fn is_chip_erase(&self, size: u32) -> bool {
        self.regions.len() == 1 && self.regions[0].count == 1 && self.regions[0].size == size
    }
    /// The erase unit containing `addr`: (start, size).
    pub fn unit_at(&self, addr: u32) -> Option<(u32, u32)> {
        let mut start = 0u32;
        for r in self.regions {
            let span = r.size * r.count;
            if addr < start + span {
                let i = (addr - start) / r.size;
                return Some((start + i * r.size, r.size));
            }
            start += span;
        }
        None
    }
    /// Every unit in address order: (start, size).
    pub fn units(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        let mut start = 0u32;
        self.regions.iter().flat_map(move |r| {
            let s = start;
            start += r.size * r.count;
            (0..r.count).map(move |i| (s + i * r.size, r.size))
        })
    }
    pub fn total(&self) -> u32 {
        self.regions.iter().map(|r| r.size * r.count).sum()
    }
}

/// How bytes get into the chip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// Parallel JEDEC: AA 55 A0 then one byte; cells are ANDed.
    JedecByte,
    /// Parallel page-write EEPROM (W29C020): AA 55 A0 then up to `page` bytes; the
    /// whole page is erased and rewritten, bytes not loaded become FF.
    JedecPage { page: u32 },
    /// SPI page program (02) up to `page` bytes, wrapping inside the page.
    SpiPage { page: u32 },
    /// SPI single-byte program (02 + 1 byte) only.
    SpiByte,
    /// SST auto-address-increment word program (AD), two bytes per step.
    SpiAaiWord,
}

impl WriteMode {
    /// Page-write chips (W29C020): the page size.
    pub fn page(&self) -> Option<u32> {
        match self {
            WriteMode::JedecPage { page } => Some(*page),
            _ => None,
        }
    }
}

/// The chip's identity as the host can read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChipId {
    /// JEDEC software ID mode (90): manufacturer (0x7F-continued codes as 0x7Fxx) and
    /// device byte.
    Jedec { mfr: u16, dev: u8 },
    /// SPI: RDID (9F) bytes if the chip has RDID, REMS (90) manufacturer/device, RES (AB).
    Spi {
        /// RDID (9F) answer: 3 bytes, or 4 where it starts with the 7F continuation
        /// code and the fourth tells variants apart (AMIC).
        rdid: Option<&'static [u8]>,
        rems: (u8, u8),
        res: u8,
    },
}

/// Parallel command addressing: the two unlock addresses as the host sends them, and
/// the address bits the chip decodes for commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unlock {
    pub a1: u32,
    pub a2: u32,
    pub mask: u32,
    /// Address of the device ID byte in ID mode (1, or 2 for x16 parts in byte mode).
    pub dev_addr: u32,
}

pub const UNLOCK_SST: Unlock = Unlock {
    a1: 0x5555,
    a2: 0x2AAA,
    mask: 0x7FFF,
    dev_addr: 1,
};
pub const UNLOCK_AMD: Unlock = Unlock {
    a1: 0x555,
    a2: 0x2AA,
    mask: 0x7FF,
    dev_addr: 1,
};
pub const UNLOCK_BYTE_MODE: Unlock = Unlock {
    a1: 0xAAA,
    a2: 0x555,
    mask: 0xFFF,
    dev_addr: 2,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bus {
    Parallel,
    Spi,
}

/// SPI status-register behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpiStatus {
    /// Status register value at power-up (SST parts come up write-protected).
    pub powerup: u8,
    /// The block-protect bits that exist.
    pub bp_mask: u8,
    /// The chip takes EWSR (50) as well as WREN before WRSR.
    pub ewsr: bool,
}

/// How a chip is wired and identified, with what only that bus has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Iface {
    /// A parallel chip on the drive's flash bus: its JEDEC ID (manufacturer, with
    /// 0x7F-continued codes as 0x7Fxx, and device byte) and its unlock addresses.
    Parallel { mfr: u16, dev: u8, unlock: Unlock },
    /// A serial chip behind the drive's SPI bridge: its RDID answer (3 bytes, or 4 where
    /// it starts with the 7F continuation code), its REMS (90) manufacturer/device
    /// (RES, AB, answers the device byte) and how its status register behaves.
    Spi {
        rdid: Option<&'static [u8]>,
        rems: (u8, u8),
        status: SpiStatus,
    },
}

/// What the table says about one chip (a struct literal per chip in `table.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChipInfo {
    pub name: &'static str,
    pub vendor: &'static str,
    pub size: u32,
    pub iface: Iface,
    /// The ID is shared with other entries (variants the host cannot tell apart).
    pub shared_id: bool,
    pub write: WriteMode,
    /// Time for one program unit: a byte, an AAI word, an SPI page or a page write.
    pub program: Timing,
    /// From finest to coarsest; the chip erase last.
    pub erasers: &'static [Eraser],
    pub note: &'static str,
}

/// The status behaviour of a chip that has no SPI status register.
pub const NO_SPI_STATUS: SpiStatus = SpiStatus {
    powerup: 0,
    bp_mask: 0,
    ewsr: false,
};

impl ChipInfo {
    /// Whether programming a byte reads it back: a JEDEC byte program's completion wait
    /// reads the programmed address until it holds the byte (mtk::flash::jedec), so a
    /// byte programmed without error needs no second read to prove it.
    pub fn program_reads_back(&self) -> bool {
        matches!(self.write, WriteMode::JedecByte)
    }
    pub fn bus(&self) -> Bus {
        match self.iface {
            Iface::Parallel { .. } => Bus::Parallel,
            Iface::Spi { .. } => Bus::Spi,
        }
    }
    /// The ID as the host reads it.
    pub fn id(&self) -> ChipId {
        match self.iface {
            Iface::Parallel { mfr, dev, .. } => ChipId::Jedec { mfr, dev },
            Iface::Spi { rdid, rems, .. } => ChipId::Spi {
                rdid,
                rems,
                res: rems.1,
            },
        }
    }
    /// A parallel chip's unlock addresses (serial chips have none: the SST pair is
    /// returned, never used).
    pub fn unlock(&self) -> Unlock {
        match self.iface {
            Iface::Parallel { unlock, .. } => unlock,
            Iface::Spi { .. } => UNLOCK_SST,
        }
    }
    /// A serial chip's status-register behaviour ([`NO_SPI_STATUS`] for parallel ones).
    pub fn spi_status(&self) -> SpiStatus {
        match self.iface {
            Iface::Spi { status, .. } => status,
            Iface::Parallel { .. } => NO_SPI_STATUS,
        }
    }
    pub fn chip_eraser(&self) -> Option<&Eraser> {
        self.erasers.iter().find(|e| e.is_chip_erase(self.size))
    }
    /// Erasers that erase less than the whole chip, finest first.
    pub fn unit_erasers(&self) -> impl Iterator<Item = &Eraser> {
        self.erasers.iter().filter(|e| !e.is_chip_erase(self.size))
    }
    /// Bytes per program unit.
    pub fn program_unit(&self) -> u32 {
        match self.write {
            WriteMode::JedecByte | WriteMode::SpiByte => 1,
            WriteMode::SpiAaiWord => 2,
            WriteMode::JedecPage { page } | WriteMode::SpiPage { page } => page,
        }
    }
    /// A short manufacturer-style label: `SST(SST39VF080)`.
    pub fn label(&self) -> String {
        let serial = if self.bus() == Bus::Spi {
            "(Serial)"
        } else {
            ""
        };
        format!("{}({}){}", self.vendor, self.name, serial)
    }
}

/// Find a chip by name, case-insensitively.
pub fn by_name(name: &str) -> Option<&'static ChipInfo> {
    CHIPS.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// Chips whose JEDEC parallel ID is `mfr`/`dev`.
pub fn by_jedec(mfr: u16, dev: u8) -> Vec<&'static ChipInfo> {
    CHIPS
        .iter()
        .filter(|c| c.id() == ChipId::Jedec { mfr, dev })
        .collect()
}

/// Chips whose RDID answer is a prefix of `rdid` (the host reads 4 bytes).
pub fn by_rdid(rdid: &[u8]) -> Vec<&'static ChipInfo> {
    CHIPS
        .iter()
        .filter(|c| matches!(c.id(), ChipId::Spi { rdid: Some(r), .. } if rdid.starts_with(r)))
        .collect()
}

/// The REMS (90) fallback when RDID gave nothing: chips without RDID answering `rems`,
/// or, when there is none, every SPI chip answering `rems` (a chip whose RDID did not
/// answer; several of different geometry are then refused by the caller).
pub fn by_rems(rems: (u8, u8)) -> Vec<&'static ChipInfo> {
    let of = |no_rdid_only: bool| -> Vec<&'static ChipInfo> {
        CHIPS
            .iter()
            .filter(|c| matches!(c.id(), ChipId::Spi { rdid, rems: r, .. } if r == rems && (rdid.is_none() || !no_rdid_only)))
            .collect()
    };
    let first = of(true);
    if first.is_empty() {
        of(false)
    } else {
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn every_eraser_covers_the_whole_chip_in_order() {
        for c in CHIPS {
            assert!(!c.erasers.is_empty(), "{} has no eraser", c.name);
            for e in c.erasers {
                assert_eq!(
                    e.total(),
                    c.size,
                    "{}: eraser {:02X} covers {} of {}",
                    c.name,
                    e.cmd,
                    e.total(),
                    c.size
                );
                let mut next = 0;
                for (start, size) in e.units() {
                    assert_eq!(start, next, "{}: units out of order", c.name);
                    assert_eq!(
                        start % size,
                        0,
                        "{}: unit at {start:#x} not aligned to {size:#x}",
                        c.name
                    );
                    next = start + size;
                }
            }
            assert!(c.chip_eraser().is_some(), "{} lacks a chip erase", c.name);
            assert!(c.size.is_power_of_two(), "{}", c.name);
        }
    }

    #[test]
    fn erasers_go_from_finest_to_coarsest() {
        for c in CHIPS {
            let smallest: Vec<u32> = c
                .erasers
                .iter()
                .map(|e| e.regions.iter().map(|r| r.size).min().unwrap())
                .collect();
            assert!(
                smallest.windows(2).all(|w| w[0] <= w[1]),
                "{}: {:?}",
                c.name,
                smallest
            );
        }
    }

    #[test]
    fn ids_are_unique_unless_marked_shared() {
        let mut seen: HashMap<String, Vec<&ChipInfo>> = HashMap::new();
        for c in CHIPS {
            let key = match c.id() {
                ChipId::Jedec { mfr, dev } => format!("jedec {mfr:04X} {dev:02X}"),
                ChipId::Spi { rdid: Some(r), .. } => format!("rdid {}", hex::encode(r)),
                ChipId::Spi {
                    rdid: None, rems, ..
                } => format!("rems {:02X}{:02X}", rems.0, rems.1),
            };
            seen.entry(key).or_default().push(c);
        }
        for (key, chips) in seen {
            if chips.len() > 1 {
                for c in &chips {
                    assert!(
                        c.shared_id,
                        "{} shares {key} with others but is not marked shared",
                        c.name
                    );
                }
            }
        }
        let mut names: Vec<_> = CHIPS.iter().map(|c| c.name.to_ascii_uppercase()).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len(), "duplicate chip names");
    }

    #[test]
    fn every_timing_has_provenance_and_is_plausible() {
        for c in CHIPS {
            assert!(c.program.us > 0, "{}", c.name);
            for e in c.erasers {
                assert!(
                    e.time.us >= 1000,
                    "{}: erase {:02X} under 1 ms",
                    c.name,
                    e.cmd
                );
            }
            // A label-able letter exists for every figure: M figures are shown as such.
            let _ = c.program.src.letter();
        }
    }

    #[test]
    fn bus_specific_fields_are_consistent() {
        for c in CHIPS {
            match c.bus() {
                Bus::Parallel => {
                    assert!(matches!(c.id(), ChipId::Jedec { .. }), "{}", c.name);
                    assert!(
                        matches!(c.write, WriteMode::JedecByte | WriteMode::JedecPage { .. }),
                        "{}",
                        c.name
                    );
                    assert_eq!(c.unlock().a1 & !c.unlock().mask, 0, "{}", c.name);
                }
                Bus::Spi => {
                    assert!(matches!(c.id(), ChipId::Spi { .. }), "{}", c.name);
                    assert!(
                        !matches!(c.write, WriteMode::JedecByte | WriteMode::JedecPage { .. }),
                        "{}",
                        c.name
                    );
                }
            }
        }
    }

    #[test]
    fn the_chips_named_in_chips_md_are_all_there() {
        for n in [
            "SST39SF010A",
            "SST39SF020A",
            "SST39SF040",
            "SST39VF010",
            "SST39VF020",
            "SST39VF040",
            "SST39LF010",
            "SST39LF020",
            "SST39LF040",
            "SST39VF080",
            "Am29F040B",
            "Am29LV040B",
            "MX29F040",
            "MX29LV040",
            "EN29LV040",
            "M29W040B",
            "Pm39LV010",
            "Pm39LV020",
            "Pm39LV040",
            "W29C020",
            "Am29LV800BT",
            "Am29LV800BB",
            "SST25VF040B",
            "SST25VF080B",
            "SST25LF020",
            "SST25VF020",
            "MX25L2005",
            "MX25L4005",
            "MX25L8005",
            "MX25L1605",
            "MX25L1605A",
            "MX25L1605D",
            "W25X40",
            "W25X80",
            "W25X16",
            "W25P20",
            "W25P80",
            "W25P16",
            "EN25P80",
            "EN25P16",
            "EN25F40",
            "EN25F80",
            "PM25LV020",
            "PM25LV040",
            "A25L20PT",
            "A25L20PU",
            "S25FL002D",
        ] {
            assert!(by_name(n).is_some(), "{n} missing");
        }
    }

    #[test]
    fn lookups_find_by_id() {
        assert_eq!(by_jedec(0xBF, 0xD8)[0].name, "SST39VF080");
        let lv040: Vec<_> = by_jedec(0x01, 0x4F).iter().map(|c| c.name).collect();
        assert_eq!(lv040, ["Am29LV040B"]);
        assert_eq!(by_jedec(0x7F1C, 0x4F)[0].name, "EN29LV040");
        assert_eq!(by_rdid(&[0xC2, 0x20, 0x14, 0x00])[0].name, "MX25L8005");
        assert_eq!(by_rdid(&[0xC2, 0x20, 0x15, 0x00]).len(), 3);
        // flashrom: these answer RDID, with REMS kept as the fallback.
        assert_eq!(by_rdid(&[0xEF, 0x20, 0x14, 0x00])[0].name, "W25P80");
        assert_eq!(by_rdid(&[0xEF, 0x20, 0x15, 0x00])[0].name, "W25P16");
        assert_eq!(by_rdid(&[0x1C, 0x20, 0x14, 0x00])[0].name, "EN25P80");
        assert_eq!(by_rdid(&[0x1C, 0x20, 0x15, 0x00])[0].name, "EN25P16");
        assert_eq!(by_rdid(&[0x7F, 0x9D, 0x7D, 0x00])[0].name, "PM25LV020");
        assert_eq!(by_rdid(&[0x7F, 0x37, 0x20, 0x22])[0].name, "A25L20PT");
        assert_eq!(by_rdid(&[0x7F, 0x37, 0x20, 0x12])[0].name, "A25L20PU");
        assert_eq!(by_rems((0x1C, 0x14))[0].name, "EN25P16");
        let amic: Vec<_> = by_rems((0x37, 0x11)).iter().map(|c| c.name).collect();
        assert_eq!(
            amic,
            ["A25L20PT", "A25L20PU"],
            "REMS cannot tell them apart"
        );
        assert!(by_name("sst39vf080").is_some());
    }

    #[test]
    fn mx25l1605_original_sector_erase_is_64k() {
        let c = by_name("MX25L1605").unwrap();
        let e20 = c.erasers.iter().find(|e| e.cmd == 0x20).unwrap();
        assert_eq!(e20.regions[0].size, 0x10000);
        let d = by_name("MX25L1605D").unwrap();
        assert_eq!(
            d.erasers.iter().find(|e| e.cmd == 0x20).unwrap().regions[0].size,
            0x1000
        );
    }
}
