//! The chip table: data only. Sources: ../shared/docs/chips.md (flashrom's flashchips and
//! datasheets). Every timing carries its provenance letter: V datasheet, F sister part,
//! M from memory (unconfirmed; shown as such by `mtkflash chips`).

use super::*;

const K: u32 = 1024;

const S4K_128K: &[Region] = &[Region {
    size: 4 * K,
    count: 32,
}];
const S4K_256K: &[Region] = &[Region {
    size: 4 * K,
    count: 64,
}];
const S4K_512K: &[Region] = &[Region {
    size: 4 * K,
    count: 128,
}];
const S4K_1M: &[Region] = &[Region {
    size: 4 * K,
    count: 256,
}];
const S4K_2M: &[Region] = &[Region {
    size: 4 * K,
    count: 512,
}];
const S32K_512K: &[Region] = &[Region {
    size: 32 * K,
    count: 16,
}];
const S32K_1M: &[Region] = &[Region {
    size: 32 * K,
    count: 32,
}];
const B64K_128K: &[Region] = &[Region {
    size: 64 * K,
    count: 2,
}];
const B64K_256K: &[Region] = &[Region {
    size: 64 * K,
    count: 4,
}];
const B64K_512K: &[Region] = &[Region {
    size: 64 * K,
    count: 8,
}];
const B64K_1M: &[Region] = &[Region {
    size: 64 * K,
    count: 16,
}];
const B64K_2M: &[Region] = &[Region {
    size: 64 * K,
    count: 32,
}];
const CHIP_128K: &[Region] = &[Region {
    size: 128 * K,
    count: 1,
}];
const CHIP_256K: &[Region] = &[Region {
    size: 256 * K,
    count: 1,
}];
const CHIP_512K: &[Region] = &[Region {
    size: 512 * K,
    count: 1,
}];
const CHIP_1M: &[Region] = &[Region {
    size: 1024 * K,
    count: 1,
}];
const CHIP_2M: &[Region] = &[Region {
    size: 2048 * K,
    count: 1,
}];
/// A25L20PT (flashrom): from the bottom 3 x 64K, 32K, 16K, 8K, 2 x 4K.
const A25L20PT_UNITS: &[Region] = &[
    Region {
        size: 64 * K,
        count: 3,
    },
    Region {
        size: 32 * K,
        count: 1,
    },
    Region {
        size: 16 * K,
        count: 1,
    },
    Region {
        size: 8 * K,
        count: 1,
    },
    Region {
        size: 4 * K,
        count: 2,
    },
];
/// A25L20PU (flashrom): the PT layout mirrored, 2 x 4K, 8K, 16K, 32K, 3 x 64K.
const A25L20PU_UNITS: &[Region] = &[
    Region {
        size: 4 * K,
        count: 2,
    },
    Region {
        size: 8 * K,
        count: 1,
    },
    Region {
        size: 16 * K,
        count: 1,
    },
    Region {
        size: 32 * K,
        count: 1,
    },
    Region {
        size: 64 * K,
        count: 3,
    },
];
/// Am29LV800BB: bottom boot block 16K + 8K + 8K + 32K + 15 x 64K.
const BOOT_BOTTOM_1M: &[Region] = &[
    Region {
        size: 16 * K,
        count: 1,
    },
    Region {
        size: 8 * K,
        count: 2,
    },
    Region {
        size: 32 * K,
        count: 1,
    },
    Region {
        size: 64 * K,
        count: 15,
    },
];
/// Am29LV800BT: the same mirrored at the top.
const BOOT_TOP_1M: &[Region] = &[
    Region {
        size: 64 * K,
        count: 15,
    },
    Region {
        size: 32 * K,
        count: 1,
    },
    Region {
        size: 8 * K,
        count: 2,
    },
    Region {
        size: 16 * K,
        count: 1,
    },
];

const NO_SPI_STATUS: SpiStatus = SpiStatus {
    powerup: 0,
    bp_mask: 0,
    ewsr: false,
};
/// Generic SPI NOR: BP0-BP2 in bits 2..4, powering up unprotected.
const SPI_BP3: SpiStatus = SpiStatus {
    powerup: 0,
    bp_mask: 0x1C,
    ewsr: false,
};
/// SST25VF040B/080B: BP0-BP3 in bits 2..5, all set at power-up; EWSR accepted.
const SST_BP4: SpiStatus = SpiStatus {
    powerup: 0x3C,
    bp_mask: 0x3C,
    ewsr: true,
};
/// SST25LF020/25VF020: BP0-BP1, set at power-up; EWSR accepted.
const SST_BP2: SpiStatus = SpiStatus {
    powerup: 0x0C,
    bp_mask: 0x0C,
    ewsr: true,
};

#[allow(clippy::too_many_arguments)]
const fn par(
    name: &'static str,
    vendor: &'static str,
    size: u32,
    mfr: u16,
    dev: u8,
    shared_id: bool,
    unlock: Unlock,
    write: WriteMode,
    program: Timing,
    erasers: &'static [Eraser],
    note: &'static str,
) -> ChipInfo {
    ChipInfo {
        name,
        vendor,
        bus: Bus::Parallel,
        size,
        id: ChipId::Jedec { mfr, dev },
        shared_id,
        unlock,
        write,
        program,
        erasers,
        status: NO_SPI_STATUS,
        note,
    }
}

#[allow(clippy::too_many_arguments)]
const fn spi(
    name: &'static str,
    vendor: &'static str,
    size: u32,
    rdid: Option<&'static [u8]>,
    rems: (u8, u8),
    shared_id: bool,
    write: WriteMode,
    program: Timing,
    erasers: &'static [Eraser],
    status: SpiStatus,
    note: &'static str,
) -> ChipInfo {
    ChipInfo {
        name,
        vendor,
        bus: Bus::Spi,
        size,
        id: ChipId::Spi {
            rdid,
            rems,
            res: rems.1,
        },
        shared_id,
        unlock: UNLOCK_SST,
        write,
        program,
        erasers,
        status,
        note,
    }
}

macro_rules! erasers {
    ($($cmd:expr, $regions:expr, $time:expr);* $(;)?) => {
        &[$(Eraser { cmd: $cmd, regions: $regions, time: $time }),*]
    };
}

const SST39_128K: &[Eraser] = erasers![0x30, S4K_128K, v(18_000); 0x10, CHIP_128K, v(70_000)];
const SST39_256K: &[Eraser] = erasers![0x30, S4K_256K, v(18_000); 0x10, CHIP_256K, v(70_000)];
const SST39_512K: &[Eraser] = erasers![0x30, S4K_512K, v(18_000); 0x10, CHIP_512K, v(70_000)];
const SST39_1M: &[Eraser] =
    erasers![0x30, S4K_1M, v(18_000); 0x50, B64K_1M, v(18_000); 0x10, CHIP_1M, v(70_000)];
const AM29F040B: &[Eraser] = erasers![0x30, B64K_512K, m(1_000_000); 0x10, CHIP_512K, m(8_000_000)];
const MX29F040: &[Eraser] = erasers![0x30, B64K_512K, m(1_000_000); 0x10, CHIP_512K, m(8_000_000)];
const AM29LV040B: &[Eraser] = erasers![0x30, B64K_512K, v(700_000); 0x10, CHIP_512K, v(11_000_000)];
const MX29LV040: &[Eraser] = erasers![0x30, B64K_512K, f(700_000); 0x10, CHIP_512K, f(11_000_000)];
const EN29LV040: &[Eraser] = erasers![0x30, B64K_512K, f(700_000); 0x10, CHIP_512K, f(11_000_000)];
const M29W040B: &[Eraser] = erasers![0x30, B64K_512K, f(800_000); 0x10, CHIP_512K, f(2_500_000)];
const PM39_128K: &[Eraser] =
    erasers![0x30, S4K_128K, f(40_000); 0x50, B64K_128K, f(40_000); 0x10, CHIP_128K, f(40_000)];
const PM39_256K: &[Eraser] =
    erasers![0x30, S4K_256K, f(40_000); 0x50, B64K_256K, f(40_000); 0x10, CHIP_256K, f(40_000)];
const PM39_512K: &[Eraser] =
    erasers![0x30, S4K_512K, f(40_000); 0x50, B64K_512K, f(40_000); 0x10, CHIP_512K, f(40_000)];
const W29C020: &[Eraser] = erasers![0x10, CHIP_256K, f(50_000)];
const AM29LV800BB: &[Eraser] =
    erasers![0x30, BOOT_BOTTOM_1M, m(700_000); 0x10, CHIP_1M, m(14_000_000)];
const AM29LV800BT: &[Eraser] =
    erasers![0x30, BOOT_TOP_1M, m(700_000); 0x10, CHIP_1M, m(14_000_000)];

const SST25_512K: &[Eraser] = erasers![
    0x20, S4K_512K, m(18_000); 0x52, S32K_512K, m(18_000); 0xD8, B64K_512K, m(18_000);
    0x60, CHIP_512K, m(35_000); 0xC7, CHIP_512K, m(35_000)];
const SST25_1M: &[Eraser] = erasers![
    0x20, S4K_1M, m(18_000); 0x52, S32K_1M, m(18_000); 0xD8, B64K_1M, m(18_000);
    0x60, CHIP_1M, m(35_000); 0xC7, CHIP_1M, m(35_000)];
const SST25LF020: &[Eraser] = erasers![0x20, S4K_256K, m(25_000); 0x60, CHIP_256K, m(100_000)];
const MX25_256K: &[Eraser] = erasers![
    0x20, S4K_256K, m(60_000); 0x52, B64K_256K, m(700_000); 0xD8, B64K_256K, m(700_000);
    0x60, CHIP_256K, m(2_000_000); 0xC7, CHIP_256K, m(2_000_000)];
const MX25_512K: &[Eraser] = erasers![
    0x20, S4K_512K, m(60_000); 0x52, B64K_512K, m(700_000); 0xD8, B64K_512K, m(700_000);
    0x60, CHIP_512K, m(4_000_000); 0xC7, CHIP_512K, m(4_000_000)];
const MX25_1M: &[Eraser] = erasers![
    0x20, S4K_1M, m(60_000); 0x52, B64K_1M, m(700_000); 0xD8, B64K_1M, m(700_000);
    0x60, CHIP_1M, m(8_000_000); 0xC7, CHIP_1M, m(8_000_000)];
/// The original MX25L1605: opcode 20 erases 64 KiB, not 4 KiB.
const MX25L1605_ORIG: &[Eraser] = erasers![
    0x20, B64K_2M, m(700_000); 0xD8, B64K_2M, m(700_000);
    0x60, CHIP_2M, m(15_000_000); 0xC7, CHIP_2M, m(15_000_000)];
const MX25_2M: &[Eraser] = erasers![
    0x20, S4K_2M, m(60_000); 0xD8, B64K_2M, m(700_000);
    0x60, CHIP_2M, m(15_000_000); 0xC7, CHIP_2M, m(15_000_000)];
const W25X_512K: &[Eraser] = erasers![
    0x20, S4K_512K, m(120_000); 0xD8, B64K_512K, m(1_000_000);
    0x60, CHIP_512K, m(5_000_000); 0xC7, CHIP_512K, m(5_000_000)];
const W25X_1M: &[Eraser] = erasers![
    0x20, S4K_1M, m(120_000); 0xD8, B64K_1M, m(1_000_000);
    0x60, CHIP_1M, m(10_000_000); 0xC7, CHIP_1M, m(10_000_000)];
const W25X_2M: &[Eraser] = erasers![
    0x20, S4K_2M, m(120_000); 0xD8, B64K_2M, m(1_000_000);
    0x60, CHIP_2M, m(20_000_000); 0xC7, CHIP_2M, m(20_000_000)];
const A25L20PT: &[Eraser] =
    erasers![0xD8, A25L20PT_UNITS, m(1_000_000); 0xC7, CHIP_256K, m(3_000_000)];
const A25L20PU: &[Eraser] =
    erasers![0xD8, A25L20PU_UNITS, m(1_000_000); 0xC7, CHIP_256K, m(3_000_000)];
const D8C7_256K: &[Eraser] = erasers![0xD8, B64K_256K, m(1_000_000); 0xC7, CHIP_256K, m(3_000_000)];
const D8C7_1M: &[Eraser] = erasers![0xD8, B64K_1M, m(1_000_000); 0xC7, CHIP_1M, m(10_000_000)];
const D8C7_2M: &[Eraser] = erasers![0xD8, B64K_2M, m(1_000_000); 0xC7, CHIP_2M, m(20_000_000)];
const EN25F_512K: &[Eraser] = erasers![
    0x20, S4K_512K, f(150_000); 0xD8, B64K_512K, f(1_000_000);
    0x60, CHIP_512K, m(5_000_000); 0xC7, CHIP_512K, m(5_000_000)];
const EN25F_1M: &[Eraser] = erasers![
    0x20, S4K_1M, f(150_000); 0xD8, B64K_1M, f(1_000_000);
    0x60, CHIP_1M, m(10_000_000); 0xC7, CHIP_1M, m(10_000_000)];
const PM25_256K: &[Eraser] =
    erasers![0xD7, S4K_256K, f(40_000); 0xD8, B64K_256K, f(400_000); 0xC7, CHIP_256K, m(1_000_000)];
const PM25_512K: &[Eraser] =
    erasers![0xD7, S4K_512K, f(40_000); 0xD8, B64K_512K, f(400_000); 0xC7, CHIP_512K, m(2_000_000)];

const BYTE: WriteMode = WriteMode::JedecByte;
const PP: WriteMode = WriteMode::SpiPage { page: 256 };

/// The table. Order is irrelevant to lookups; it follows chips.md.
pub static CHIPS: &[ChipInfo] = &[
    par(
        "SST39SF010A",
        "SST",
        128 * K,
        0xBF,
        0xB5,
        false,
        UNLOCK_SST,
        BYTE,
        v(14),
        SST39_128K,
        "",
    ),
    par(
        "SST39SF020A",
        "SST",
        256 * K,
        0xBF,
        0xB6,
        false,
        UNLOCK_SST,
        BYTE,
        v(14),
        SST39_256K,
        "seen in Samsung TS-H943 (JF)",
    ),
    par(
        "SST39SF040",
        "SST",
        512 * K,
        0xBF,
        0xB7,
        false,
        UNLOCK_SST,
        BYTE,
        v(14),
        SST39_512K,
        "",
    ),
    par(
        "SST39VF010",
        "SST",
        128 * K,
        0xBF,
        0xD5,
        true,
        UNLOCK_SST,
        BYTE,
        v(14),
        SST39_128K,
        "same ID as SST39LF010; same geometry",
    ),
    par(
        "SST39VF020",
        "SST",
        256 * K,
        0xBF,
        0xD6,
        true,
        UNLOCK_SST,
        BYTE,
        v(14),
        SST39_256K,
        "same ID as SST39LF020; same geometry",
    ),
    par(
        "SST39VF040",
        "SST",
        512 * K,
        0xBF,
        0xD7,
        true,
        UNLOCK_SST,
        BYTE,
        v(14),
        SST39_512K,
        "same ID as SST39LF040; same geometry",
    ),
    par(
        "SST39LF010",
        "SST",
        128 * K,
        0xBF,
        0xD5,
        true,
        UNLOCK_SST,
        BYTE,
        v(14),
        SST39_128K,
        "",
    ),
    par(
        "SST39LF020",
        "SST",
        256 * K,
        0xBF,
        0xD6,
        true,
        UNLOCK_SST,
        BYTE,
        v(14),
        SST39_256K,
        "",
    ),
    par(
        "SST39LF040",
        "SST",
        512 * K,
        0xBF,
        0xD7,
        true,
        UNLOCK_SST,
        BYTE,
        v(14),
        SST39_512K,
        "",
    ),
    par(
        "SST39VF080",
        "SST",
        1024 * K,
        0xBF,
        0xD8,
        false,
        UNLOCK_SST,
        BYTE,
        v(14),
        SST39_1M,
        "4 KiB sectors (30) and 64 KiB blocks (50)",
    ),
    par(
        "Am29F040B",
        "AMD",
        512 * K,
        0x01,
        0xA4,
        false,
        UNLOCK_AMD,
        BYTE,
        m(7),
        AM29F040B,
        "64 KiB sectors: the boot code shares sector 0 with bank 0",
    ),
    par(
        "Am29LV040B",
        "AMD",
        512 * K,
        0x01,
        0x4F,
        false,
        UNLOCK_AMD,
        BYTE,
        v(9),
        AM29LV040B,
        "64 KiB sectors; device ID 4F also used by MX29LV040 and EN29LV040",
    ),
    par(
        "MX29F040",
        "MXIC",
        512 * K,
        0xC2,
        0xA4,
        false,
        UNLOCK_AMD,
        BYTE,
        v(7),
        MX29F040,
        "erase timings not in the source table",
    ),
    par(
        "MX29LV040",
        "MXIC",
        512 * K,
        0xC2,
        0x4F,
        false,
        UNLOCK_AMD,
        BYTE,
        v(9),
        MX29LV040,
        "",
    ),
    par(
        "EN29LV040",
        "EON",
        512 * K,
        0x7F1C,
        0x4F,
        false,
        UNLOCK_SST,
        BYTE,
        f(9),
        EN29LV040,
        "manufacturer 7F 1C: the 1C continuation byte is read at address 0x100",
    ),
    par(
        "M29W040B",
        "ST",
        512 * K,
        0x20,
        0xE3,
        false,
        UNLOCK_AMD,
        BYTE,
        f(10),
        M29W040B,
        "",
    ),
    par(
        "Pm39LV010",
        "PMC",
        128 * K,
        0x9D,
        0x1C,
        false,
        UNLOCK_AMD,
        BYTE,
        f(11),
        PM39_128K,
        "",
    ),
    par(
        "Pm39LV020",
        "PMC",
        256 * K,
        0x9D,
        0x3D,
        false,
        UNLOCK_AMD,
        BYTE,
        f(11),
        PM39_256K,
        "",
    ),
    par(
        "Pm39LV040",
        "PMC",
        512 * K,
        0x9D,
        0x3E,
        false,
        UNLOCK_AMD,
        BYTE,
        f(11),
        PM39_512K,
        "",
    ),
    par(
        "W29C020",
        "Winbond",
        256 * K,
        0xDA,
        0x45,
        false,
        UNLOCK_SST,
        WriteMode::JedecPage { page: 128 },
        f(10_000),
        W29C020,
        "page-write EEPROM: a loaded page is erased and rewritten; no sector erase",
    ),
    par(
        "Am29LV800BT",
        "AMD",
        1024 * K,
        0x01,
        0xDA,
        false,
        UNLOCK_BYTE_MODE,
        BYTE,
        m(9),
        AM29LV800BT,
        "x16 part in byte mode: unlock AAA/555, device ID at address 2; top boot block",
    ),
    par(
        "Am29LV800BB",
        "AMD",
        1024 * K,
        0x01,
        0x5B,
        false,
        UNLOCK_BYTE_MODE,
        BYTE,
        m(9),
        AM29LV800BB,
        "x16 part in byte mode: unlock AAA/555, device ID at address 2; bottom boot block",
    ),
    spi(
        "SST25VF040B",
        "SST",
        512 * K,
        Some(&[0xBF, 0x25, 0x8D]),
        (0xBF, 0x8D),
        false,
        WriteMode::SpiAaiWord,
        v(7),
        SST25_512K,
        SST_BP4,
        "AAI word program; powers up write-protected; seen in Samsung MS28",
    ),
    spi(
        "SST25VF080B",
        "SST",
        1024 * K,
        Some(&[0xBF, 0x25, 0x8E]),
        (0xBF, 0x8E),
        false,
        WriteMode::SpiAaiWord,
        v(7),
        SST25_1M,
        SST_BP4,
        "AAI word program; powers up write-protected",
    ),
    spi(
        "SST25LF020",
        "SST",
        256 * K,
        None,
        (0xBF, 0x43),
        true,
        WriteMode::SpiByte,
        m(20),
        SST25LF020,
        SST_BP2,
        "no RDID; same REMS as SST25VF020 (seen in MTK drives, JF)",
    ),
    spi(
        "SST25VF020",
        "SST",
        256 * K,
        None,
        (0xBF, 0x43),
        true,
        WriteMode::SpiByte,
        m(20),
        SST25LF020,
        SST_BP2,
        "no RDID; same REMS as SST25LF020",
    ),
    spi(
        "MX25L2005",
        "MXIC",
        256 * K,
        Some(&[0xC2, 0x20, 0x12]),
        (0xC2, 0x11),
        false,
        PP,
        m(1_400),
        MX25_256K,
        SPI_BP3,
        "seen in MTK drives (JF)",
    ),
    spi(
        "MX25L4005",
        "MXIC",
        512 * K,
        Some(&[0xC2, 0x20, 0x13]),
        (0xC2, 0x12),
        false,
        PP,
        m(1_400),
        MX25_512K,
        SPI_BP3,
        "",
    ),
    spi(
        "MX25L8005",
        "MXIC",
        1024 * K,
        Some(&[0xC2, 0x20, 0x14]),
        (0xC2, 0x13),
        false,
        PP,
        m(1_400),
        MX25_1M,
        SPI_BP3,
        "seen in MTK drives (JF)",
    ),
    spi(
        "MX25L1605",
        "MXIC",
        2048 * K,
        Some(&[0xC2, 0x20, 0x15]),
        (0xC2, 0x14),
        true,
        PP,
        m(1_400),
        MX25L1605_ORIG,
        SPI_BP3,
        "original part: opcode 20 erases 64 KiB; ID shared with 1605A/D",
    ),
    spi(
        "MX25L1605A",
        "MXIC",
        2048 * K,
        Some(&[0xC2, 0x20, 0x15]),
        (0xC2, 0x14),
        true,
        PP,
        m(1_400),
        MX25_2M,
        SPI_BP3,
        "opcode 20 erases 4 KiB; ID shared with 1605/1605D",
    ),
    spi(
        "MX25L1605D",
        "MXIC",
        2048 * K,
        Some(&[0xC2, 0x20, 0x15]),
        (0xC2, 0x14),
        true,
        PP,
        m(1_400),
        MX25_2M,
        SPI_BP3,
        "opcode 20 erases 4 KiB; ID shared with 1605/1605A (seen in MTK drives, JF)",
    ),
    spi(
        "W25X40",
        "Winbond",
        512 * K,
        Some(&[0xEF, 0x30, 0x13]),
        (0xEF, 0x12),
        false,
        PP,
        v(2_000),
        W25X_512K,
        SPI_BP3,
        "",
    ),
    spi(
        "W25X80",
        "Winbond",
        1024 * K,
        Some(&[0xEF, 0x30, 0x14]),
        (0xEF, 0x13),
        false,
        PP,
        v(2_000),
        W25X_1M,
        SPI_BP3,
        "",
    ),
    spi(
        "W25X16",
        "Winbond",
        2048 * K,
        Some(&[0xEF, 0x30, 0x15]),
        (0xEF, 0x14),
        false,
        PP,
        v(2_000),
        W25X_2M,
        SPI_BP3,
        "",
    ),
    spi(
        "W25P20",
        "Winbond",
        256 * K,
        None,
        (0xEF, 0x11),
        false,
        PP,
        m(1_500),
        D8C7_256K,
        SPI_BP3,
        "no RDID (REMS/RES only); seen in MTK drives (JF)",
    ),
    spi(
        "W25P80",
        "Winbond",
        1024 * K,
        Some(&[0xEF, 0x20, 0x14]),
        (0xEF, 0x13),
        false,
        PP,
        m(1_500),
        D8C7_1M,
        SPI_BP3,
        "RDID EF 20 14 (flashrom), REMS as fallback; seen in MTK drives (JF)",
    ),
    spi(
        "W25P16",
        "Winbond",
        2048 * K,
        Some(&[0xEF, 0x20, 0x15]),
        (0xEF, 0x14),
        false,
        PP,
        m(1_500),
        D8C7_2M,
        SPI_BP3,
        "RDID EF 20 15 (flashrom), REMS as fallback; seen in MTK drives (JF)",
    ),
    spi(
        "EN25P80",
        "EON",
        1024 * K,
        Some(&[0x1C, 0x20, 0x14]),
        (0x1C, 0x13),
        false,
        PP,
        m(1_500),
        D8C7_1M,
        SPI_BP3,
        "RDID 1C 20 14 (flashrom), REMS as fallback; seen in MTK drives (JF)",
    ),
    spi(
        "EN25P16",
        "EON",
        2048 * K,
        Some(&[0x1C, 0x20, 0x15]),
        (0x1C, 0x14),
        false,
        PP,
        m(1_500),
        D8C7_2M,
        SPI_BP3,
        "RDID 1C 20 15 (flashrom), REMS as fallback; seen in MTK drives (JF)",
    ),
    spi(
        "EN25F40",
        "EON",
        512 * K,
        Some(&[0x1C, 0x31, 0x13]),
        (0x1C, 0x12),
        false,
        PP,
        f(1_500),
        EN25F_512K,
        SPI_BP3,
        "",
    ),
    spi(
        "EN25F80",
        "EON",
        1024 * K,
        Some(&[0x1C, 0x31, 0x14]),
        (0x1C, 0x13),
        false,
        PP,
        f(1_500),
        EN25F_1M,
        SPI_BP3,
        "",
    ),
    spi(
        "PM25LV020",
        "PMC",
        256 * K,
        Some(&[0x7F, 0x9D, 0x7D]),
        (0x9D, 0x7D),
        false,
        PP,
        f(2_000),
        PM25_256K,
        SPI_BP3,
        "RDID 7F 9D 7D (flashrom); 4 KiB erase is D7, not 20; seen in MTK drives (JF)",
    ),
    spi(
        "PM25LV040",
        "PMC",
        512 * K,
        Some(&[0x7F, 0x9D, 0x7E]),
        (0x9D, 0x7E),
        false,
        PP,
        f(2_000),
        PM25_512K,
        SPI_BP3,
        "RDID starts with the 7F continuation code; 4 KiB erase is D7",
    ),
    spi(
        "A25L20PT",
        "AMIC",
        256 * K,
        Some(&[0x7F, 0x37, 0x20, 0x22]),
        (0x37, 0x11),
        true,
        PP,
        m(1_500),
        A25L20PT,
        SPI_BP3,
        "top boot sectors (flashrom); RDID 7F 37 20 22; seen in MTK drives (JF, as A25L20P)",
    ),
    spi(
        "A25L20PU",
        "AMIC",
        256 * K,
        Some(&[0x7F, 0x37, 0x20, 0x12]),
        (0x37, 0x11),
        true,
        PP,
        m(1_500),
        A25L20PU,
        SPI_BP3,
        "bottom boot sectors (flashrom); RDID 7F 37 20 12; REMS alone cannot tell it from A25L20PT",
    ),
    spi(
        "S25FL002D",
        "Spansion",
        256 * K,
        None,
        (0x01, 0x10),
        false,
        PP,
        m(1_500),
        D8C7_256K,
        SPI_BP3,
        "no RDID; the ID bytes differ between sources (JF shows 10/00): unverified",
    ),
];
