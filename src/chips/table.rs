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
    ChipInfo {
        name: "SST39SF010A",
        vendor: "SST",
        size: 128 * K,
        iface: Iface::Parallel {
            mfr: 0xBF,
            dev: 0xB5,
            unlock: UNLOCK_SST,
        },
        shared_id: false,
        write: BYTE,
        program: v(14),
        erasers: SST39_128K,
        note: "",
    },
    ChipInfo {
        name: "SST39SF020A",
        vendor: "SST",
        size: 256 * K,
        iface: Iface::Parallel {
            mfr: 0xBF,
            dev: 0xB6,
            unlock: UNLOCK_SST,
        },
        shared_id: false,
        write: BYTE,
        program: v(14),
        erasers: SST39_256K,
        note: "seen in Samsung TS-H943 (JF)",
    },
    ChipInfo {
        name: "SST39SF040",
        vendor: "SST",
        size: 512 * K,
        iface: Iface::Parallel {
            mfr: 0xBF,
            dev: 0xB7,
            unlock: UNLOCK_SST,
        },
        shared_id: false,
        write: BYTE,
        program: v(14),
        erasers: SST39_512K,
        note: "",
    },
    ChipInfo {
        name: "SST39VF010",
        vendor: "SST",
        size: 128 * K,
        iface: Iface::Parallel {
            mfr: 0xBF,
            dev: 0xD5,
            unlock: UNLOCK_SST,
        },
        shared_id: true,
        write: BYTE,
        program: v(14),
        erasers: SST39_128K,
        note: "same ID as SST39LF010; same geometry",
    },
    ChipInfo {
        name: "SST39VF020",
        vendor: "SST",
        size: 256 * K,
        iface: Iface::Parallel {
            mfr: 0xBF,
            dev: 0xD6,
            unlock: UNLOCK_SST,
        },
        shared_id: true,
        write: BYTE,
        program: v(14),
        erasers: SST39_256K,
        note: "same ID as SST39LF020; same geometry",
    },
    ChipInfo {
        name: "SST39VF040",
        vendor: "SST",
        size: 512 * K,
        iface: Iface::Parallel {
            mfr: 0xBF,
            dev: 0xD7,
            unlock: UNLOCK_SST,
        },
        shared_id: true,
        write: BYTE,
        program: v(14),
        erasers: SST39_512K,
        note: "same ID as SST39LF040; same geometry",
    },
    ChipInfo {
        name: "SST39LF010",
        vendor: "SST",
        size: 128 * K,
        iface: Iface::Parallel {
            mfr: 0xBF,
            dev: 0xD5,
            unlock: UNLOCK_SST,
        },
        shared_id: true,
        write: BYTE,
        program: v(14),
        erasers: SST39_128K,
        note: "",
    },
    ChipInfo {
        name: "SST39LF020",
        vendor: "SST",
        size: 256 * K,
        iface: Iface::Parallel {
            mfr: 0xBF,
            dev: 0xD6,
            unlock: UNLOCK_SST,
        },
        shared_id: true,
        write: BYTE,
        program: v(14),
        erasers: SST39_256K,
        note: "",
    },
    ChipInfo {
        name: "SST39LF040",
        vendor: "SST",
        size: 512 * K,
        iface: Iface::Parallel {
            mfr: 0xBF,
            dev: 0xD7,
            unlock: UNLOCK_SST,
        },
        shared_id: true,
        write: BYTE,
        program: v(14),
        erasers: SST39_512K,
        note: "",
    },
    ChipInfo {
        name: "SST39VF080",
        vendor: "SST",
        size: 1024 * K,
        iface: Iface::Parallel {
            mfr: 0xBF,
            dev: 0xD8,
            unlock: UNLOCK_SST,
        },
        shared_id: false,
        write: BYTE,
        program: v(14),
        erasers: SST39_1M,
        note: "4 KiB sectors (30) and 64 KiB blocks (50)",
    },
    ChipInfo {
        name: "Am29F040B",
        vendor: "AMD",
        size: 512 * K,
        iface: Iface::Parallel {
            mfr: 0x01,
            dev: 0xA4,
            unlock: UNLOCK_AMD,
        },
        shared_id: false,
        write: BYTE,
        program: m(7),
        erasers: AM29F040B,
        note: "64 KiB sectors: the boot code shares sector 0 with bank 0",
    },
    ChipInfo {
        name: "Am29LV040B",
        vendor: "AMD",
        size: 512 * K,
        iface: Iface::Parallel {
            mfr: 0x01,
            dev: 0x4F,
            unlock: UNLOCK_AMD,
        },
        shared_id: false,
        write: BYTE,
        program: v(9),
        erasers: AM29LV040B,
        note: "64 KiB sectors; device ID 4F also used by MX29LV040 and EN29LV040",
    },
    ChipInfo {
        name: "MX29F040",
        vendor: "MXIC",
        size: 512 * K,
        iface: Iface::Parallel {
            mfr: 0xC2,
            dev: 0xA4,
            unlock: UNLOCK_AMD,
        },
        shared_id: false,
        write: BYTE,
        program: v(7),
        erasers: MX29F040,
        note: "erase timings not in the source table",
    },
    ChipInfo {
        name: "MX29LV040",
        vendor: "MXIC",
        size: 512 * K,
        iface: Iface::Parallel {
            mfr: 0xC2,
            dev: 0x4F,
            unlock: UNLOCK_AMD,
        },
        shared_id: false,
        write: BYTE,
        program: v(9),
        erasers: MX29LV040,
        note: "",
    },
    ChipInfo {
        name: "EN29LV040",
        vendor: "EON",
        size: 512 * K,
        iface: Iface::Parallel {
            mfr: 0x7F1C,
            dev: 0x4F,
            unlock: UNLOCK_SST,
        },
        shared_id: false,
        write: BYTE,
        program: f(9),
        erasers: EN29LV040,
        note: "manufacturer 7F 1C: the 1C continuation byte is read at address 0x100",
    },
    ChipInfo {
        name: "M29W040B",
        vendor: "ST",
        size: 512 * K,
        iface: Iface::Parallel {
            mfr: 0x20,
            dev: 0xE3,
            unlock: UNLOCK_AMD,
        },
        shared_id: false,
        write: BYTE,
        program: f(10),
        erasers: M29W040B,
        note: "",
    },
    ChipInfo {
        name: "Pm39LV010",
        vendor: "PMC",
        size: 128 * K,
        iface: Iface::Parallel {
            mfr: 0x9D,
            dev: 0x1C,
            unlock: UNLOCK_AMD,
        },
        shared_id: false,
        write: BYTE,
        program: f(11),
        erasers: PM39_128K,
        note: "",
    },
    ChipInfo {
        name: "Pm39LV020",
        vendor: "PMC",
        size: 256 * K,
        iface: Iface::Parallel {
            mfr: 0x9D,
            dev: 0x3D,
            unlock: UNLOCK_AMD,
        },
        shared_id: false,
        write: BYTE,
        program: f(11),
        erasers: PM39_256K,
        note: "",
    },
    ChipInfo {
        name: "Pm39LV040",
        vendor: "PMC",
        size: 512 * K,
        iface: Iface::Parallel {
            mfr: 0x9D,
            dev: 0x3E,
            unlock: UNLOCK_AMD,
        },
        shared_id: false,
        write: BYTE,
        program: f(11),
        erasers: PM39_512K,
        note: "",
    },
    ChipInfo {
        name: "W29C020",
        vendor: "Winbond",
        size: 256 * K,
        iface: Iface::Parallel {
            mfr: 0xDA,
            dev: 0x45,
            unlock: UNLOCK_SST,
        },
        shared_id: false,
        write: WriteMode::JedecPage { page: 128 },
        program: f(10_000),
        erasers: W29C020,
        note: "page-write EEPROM: a loaded page is erased and rewritten; no sector erase",
    },
    ChipInfo {
        name: "Am29LV800BT",
        vendor: "AMD",
        size: 1024 * K,
        iface: Iface::Parallel {
            mfr: 0x01,
            dev: 0xDA,
            unlock: UNLOCK_BYTE_MODE,
        },
        shared_id: false,
        write: BYTE,
        program: m(9),
        erasers: AM29LV800BT,
        note: "x16 part in byte mode: unlock AAA/555, device ID at address 2; top boot block",
    },
    ChipInfo {
        name: "Am29LV800BB",
        vendor: "AMD",
        size: 1024 * K,
        iface: Iface::Parallel {
            mfr: 0x01,
            dev: 0x5B,
            unlock: UNLOCK_BYTE_MODE,
        },
        shared_id: false,
        write: BYTE,
        program: m(9),
        erasers: AM29LV800BB,
        note: "x16 part in byte mode: unlock AAA/555, device ID at address 2; bottom boot block",
    },
    ChipInfo {
        name: "SST25VF040B",
        vendor: "SST",
        size: 512 * K,
        iface: Iface::Spi {
            rdid: Some(&[0xBF, 0x25, 0x8D]),
            rems: (0xBF, 0x8D),
            status: SST_BP4,
        },
        shared_id: false,
        write: WriteMode::SpiAaiWord,
        program: v(7),
        erasers: SST25_512K,
        note: "AAI word program; powers up write-protected; seen in Samsung MS28",
    },
    ChipInfo {
        name: "SST25VF080B",
        vendor: "SST",
        size: 1024 * K,
        iface: Iface::Spi {
            rdid: Some(&[0xBF, 0x25, 0x8E]),
            rems: (0xBF, 0x8E),
            status: SST_BP4,
        },
        shared_id: false,
        write: WriteMode::SpiAaiWord,
        program: v(7),
        erasers: SST25_1M,
        note: "AAI word program; powers up write-protected",
    },
    ChipInfo {
        name: "SST25LF020",
        vendor: "SST",
        size: 256 * K,
        iface: Iface::Spi {
            rdid: None,
            rems: (0xBF, 0x43),
            status: SST_BP2,
        },
        shared_id: true,
        write: WriteMode::SpiByte,
        program: m(20),
        erasers: SST25LF020,
        note: "no RDID; same REMS as SST25VF020 (seen in MTK drives, JF)",
    },
    ChipInfo {
        name: "SST25VF020",
        vendor: "SST",
        size: 256 * K,
        iface: Iface::Spi {
            rdid: None,
            rems: (0xBF, 0x43),
            status: SST_BP2,
        },
        shared_id: true,
        write: WriteMode::SpiByte,
        program: m(20),
        erasers: SST25LF020,
        note: "no RDID; same REMS as SST25LF020",
    },
    ChipInfo {
        name: "MX25L2005",
        vendor: "MXIC",
        size: 256 * K,
        iface: Iface::Spi {
            rdid: Some(&[0xC2, 0x20, 0x12]),
            rems: (0xC2, 0x11),
            status: SPI_BP3,
        },
        shared_id: false,
        write: PP,
        program: m(1_400),
        erasers: MX25_256K,
        note: "seen in MTK drives (JF)",
    },
    ChipInfo {
        name: "MX25L4005",
        vendor: "MXIC",
        size: 512 * K,
        iface: Iface::Spi {
            rdid: Some(&[0xC2, 0x20, 0x13]),
            rems: (0xC2, 0x12),
            status: SPI_BP3,
        },
        shared_id: false,
        write: PP,
        program: m(1_400),
        erasers: MX25_512K,
        note: "",
    },
    ChipInfo {
        name: "MX25L8005",
        vendor: "MXIC",
        size: 1024 * K,
        iface: Iface::Spi {
            rdid: Some(&[0xC2, 0x20, 0x14]),
            rems: (0xC2, 0x13),
            status: SPI_BP3,
        },
        shared_id: false,
        write: PP,
        program: m(1_400),
        erasers: MX25_1M,
        note: "seen in MTK drives (JF)",
    },
    ChipInfo {
        name: "MX25L1605",
        vendor: "MXIC",
        size: 2048 * K,
        iface: Iface::Spi {
            rdid: Some(&[0xC2, 0x20, 0x15]),
            rems: (0xC2, 0x14),
            status: SPI_BP3,
        },
        shared_id: true,
        write: PP,
        program: m(1_400),
        erasers: MX25L1605_ORIG,
        note: "original part: opcode 20 erases 64 KiB; ID shared with 1605A/D",
    },
    ChipInfo {
        name: "MX25L1605A",
        vendor: "MXIC",
        size: 2048 * K,
        iface: Iface::Spi {
            rdid: Some(&[0xC2, 0x20, 0x15]),
            rems: (0xC2, 0x14),
            status: SPI_BP3,
        },
        shared_id: true,
        write: PP,
        program: m(1_400),
        erasers: MX25_2M,
        note: "opcode 20 erases 4 KiB; ID shared with 1605/1605D",
    },
    ChipInfo {
        name: "MX25L1605D",
        vendor: "MXIC",
        size: 2048 * K,
        iface: Iface::Spi {
            rdid: Some(&[0xC2, 0x20, 0x15]),
            rems: (0xC2, 0x14),
            status: SPI_BP3,
        },
        shared_id: true,
        write: PP,
        program: m(1_400),
        erasers: MX25_2M,
        note: "opcode 20 erases 4 KiB; ID shared with 1605/1605A (seen in MTK drives, JF)",
    },
    ChipInfo {
        name: "W25X40",
        vendor: "Winbond",
        size: 512 * K,
        iface: Iface::Spi {
            rdid: Some(&[0xEF, 0x30, 0x13]),
            rems: (0xEF, 0x12),
            status: SPI_BP3,
        },
        shared_id: false,
        write: PP,
        program: v(2_000),
        erasers: W25X_512K,
        note: "",
    },
    ChipInfo {
        name: "W25X80",
        vendor: "Winbond",
        size: 1024 * K,
        iface: Iface::Spi {
            rdid: Some(&[0xEF, 0x30, 0x14]),
            rems: (0xEF, 0x13),
            status: SPI_BP3,
        },
        shared_id: false,
        write: PP,
        program: v(2_000),
        erasers: W25X_1M,
        note: "",
    },
    ChipInfo {
        name: "W25X16",
        vendor: "Winbond",
        size: 2048 * K,
        iface: Iface::Spi {
            rdid: Some(&[0xEF, 0x30, 0x15]),
            rems: (0xEF, 0x14),
            status: SPI_BP3,
        },
        shared_id: false,
        write: PP,
        program: v(2_000),
        erasers: W25X_2M,
        note: "",
    },
    ChipInfo {
        name: "W25P20",
        vendor: "Winbond",
        size: 256 * K,
        iface: Iface::Spi {
            rdid: None,
            rems: (0xEF, 0x11),
            status: SPI_BP3,
        },
        shared_id: false,
        write: PP,
        program: m(1_500),
        erasers: D8C7_256K,
        note: "no RDID (REMS/RES only); seen in MTK drives (JF)",
    },
    ChipInfo {
        name: "W25P80",
        vendor: "Winbond",
        size: 1024 * K,
        iface: Iface::Spi {
            rdid: Some(&[0xEF, 0x20, 0x14]),
            rems: (0xEF, 0x13),
            status: SPI_BP3,
        },
        shared_id: false,
        write: PP,
        program: m(1_500),
        erasers: D8C7_1M,
        note: "RDID EF 20 14 (flashrom), REMS as fallback; seen in MTK drives (JF)",
    },
    ChipInfo {
        name: "W25P16",
        vendor: "Winbond",
        size: 2048 * K,
        iface: Iface::Spi {
            rdid: Some(&[0xEF, 0x20, 0x15]),
            rems: (0xEF, 0x14),
            status: SPI_BP3,
        },
        shared_id: false,
        write: PP,
        program: m(1_500),
        erasers: D8C7_2M,
        note: "RDID EF 20 15 (flashrom), REMS as fallback; seen in MTK drives (JF)",
    },
    ChipInfo {
        name: "EN25P80",
        vendor: "EON",
        size: 1024 * K,
        iface: Iface::Spi {
            rdid: Some(&[0x1C, 0x20, 0x14]),
            rems: (0x1C, 0x13),
            status: SPI_BP3,
        },
        shared_id: false,
        write: PP,
        program: m(1_500),
        erasers: D8C7_1M,
        note: "RDID 1C 20 14 (flashrom), REMS as fallback; seen in MTK drives (JF)",
    },
    ChipInfo {
        name: "EN25P16",
        vendor: "EON",
        size: 2048 * K,
        iface: Iface::Spi {
            rdid: Some(&[0x1C, 0x20, 0x15]),
            rems: (0x1C, 0x14),
            status: SPI_BP3,
        },
        shared_id: false,
        write: PP,
        program: m(1_500),
        erasers: D8C7_2M,
        note: "RDID 1C 20 15 (flashrom), REMS as fallback; seen in MTK drives (JF)",
    },
    ChipInfo {
        name: "EN25F40",
        vendor: "EON",
        size: 512 * K,
        iface: Iface::Spi {
            rdid: Some(&[0x1C, 0x31, 0x13]),
            rems: (0x1C, 0x12),
            status: SPI_BP3,
        },
        shared_id: false,
        write: PP,
        program: f(1_500),
        erasers: EN25F_512K,
        note: "",
    },
    ChipInfo {
        name: "EN25F80",
        vendor: "EON",
        size: 1024 * K,
        iface: Iface::Spi {
            rdid: Some(&[0x1C, 0x31, 0x14]),
            rems: (0x1C, 0x13),
            status: SPI_BP3,
        },
        shared_id: false,
        write: PP,
        program: f(1_500),
        erasers: EN25F_1M,
        note: "",
    },
    ChipInfo {
        name: "PM25LV020",
        vendor: "PMC",
        size: 256 * K,
        iface: Iface::Spi {
            rdid: Some(&[0x7F, 0x9D, 0x7D]),
            rems: (0x9D, 0x7D),
            status: SPI_BP3,
        },
        shared_id: false,
        write: PP,
        program: f(2_000),
        erasers: PM25_256K,
        note: "RDID 7F 9D 7D (flashrom); 4 KiB erase is D7, not 20; seen in MTK drives (JF)",
    },
    ChipInfo {
        name: "PM25LV040",
        vendor: "PMC",
        size: 512 * K,
        iface: Iface::Spi {
            rdid: Some(&[0x7F, 0x9D, 0x7E]),
            rems: (0x9D, 0x7E),
            status: SPI_BP3,
        },
        shared_id: false,
        write: PP,
        program: f(2_000),
        erasers: PM25_512K,
        note: "RDID starts with the 7F continuation code; 4 KiB erase is D7",
    },
    ChipInfo {
        name: "A25L20PT",
        vendor: "AMIC",
        size: 256 * K,
        iface: Iface::Spi {
            rdid: Some(&[0x7F, 0x37, 0x20, 0x22]),
            rems: (0x37, 0x11),
            status: SPI_BP3,
        },
        shared_id: true,
        write: PP,
        program: m(1_500),
        erasers: A25L20PT,
        note: "top boot sectors (flashrom); RDID 7F 37 20 22; seen in MTK drives (JF, as A25L20P)",
    },
    ChipInfo {
        name: "A25L20PU",
        vendor: "AMIC",
        size: 256 * K,
        iface: Iface::Spi {
            rdid: Some(&[0x7F, 0x37, 0x20, 0x12]),
            rems: (0x37, 0x11),
            status: SPI_BP3,
        },
        shared_id: true,
        write: PP,
        program: m(1_500),
        erasers: A25L20PU,
        note: "bottom boot sectors (flashrom); RDID 7F 37 20 12; REMS alone cannot tell it from A25L20PT",
    },
    ChipInfo {
        name: "S25FL002D",
        vendor: "Spansion",
        size: 256 * K,
        iface: Iface::Spi {
            rdid: None,
            rems: (0x01, 0x10),
            status: SPI_BP3,
        },
        shared_id: false,
        write: PP,
        program: m(1_500),
        erasers: D8C7_256K,
        note: "no RDID; the ID bytes differ between sources (JF shows 10/00): unverified",
    },
];
