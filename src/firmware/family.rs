//! The memory layout of the later MediaTek drives (protocol.md section 7): which family,
//! which regions belong to the model and which to one unit, and the image as it is sent.
//! Pure; `mtk::family` has their commands.

use std::ops::Range;

/// A drive family with its own update protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Mt1959,
    Mt1339,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::Mt1959, Family::Mt1339];

    pub fn name(self) -> &'static str {
        match self {
            Family::Mt1959 => "mt1959",
            Family::Mt1339 => "mt1339",
        }
    }

    /// What users call the drives of this family.
    pub fn describe(self) -> &'static str {
        match self {
            Family::Mt1959 => "MT1959/MT1939 Blu-ray writer (LG/HL-DT-ST, ASUS)",
            Family::Mt1339 => "MT1339 drive (TSST)",
        }
    }

    pub fn parse(s: &str) -> Result<Family, String> {
        Family::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("'{s}' is not a drive family; the families are mt1959 and mt1339")
            })
    }

    /// The image sizes the family's updater takes.
    pub fn image_lens(self) -> &'static [usize] {
        match self {
            Family::Mt1959 => &[MT1959_LEN],
            Family::Mt1339 => &[MT1339_LEN_SMALL, MT1339_LEN],
        }
    }

    /// Its memory regions that belong to one unit, not to a model.
    pub fn unit_regions(self) -> &'static [Region] {
        match self {
            Family::Mt1959 => &[BOOT_CONFIG, CALIBRATION],
            Family::Mt1339 => &[],
        }
    }
}

/// A named span of a drive's memory window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub at: usize,
    pub len: usize,
    pub what: &'static str,
}

impl Region {
    pub fn range(self) -> Range<usize> {
        self.at..self.at + self.len
    }
}

/// MT1959: image and window size, and the upload chunk (RD, FMK).
pub const MT1959_LEN: usize = 0x20_0000;
pub const MT1959_CHUNK: usize = 0x4000;
/// The boot area the drive's updater keeps (RD sends it as FF; inference I19).
pub const BOOT_AREA: Region = Region {
    at: 0,
    len: 0x1_0000,
    what: "boot area (kept by the drive)",
};
/// The drive's boot config: its first 16 bytes name the boot ("MT1959 Boot JB8 ").
pub const BOOT_CONFIG: Region = Region {
    at: 0x3000,
    len: 0x20,
    what: "boot config",
};
/// The identity page (model signature).
pub const IDENTITY: Region = Region {
    at: 0x1E_C000,
    len: 0x100,
    what: "identity page",
};
/// Per-unit calibration NVRAM.
pub const CALIBRATION: Region = Region {
    at: 0x1F_0000,
    len: 0x1_0000,
    what: "calibration",
};

/// RD's allow-list: the boot config ID each model's drives carry (protocol.md
/// section 7). A drive's own ID must match the image's, always.
pub const BOOT_CONFIGS: &[(&str, &str)] = &[
    ("BD-RE BU40N", "MT1959 Boot BU5 "),
    ("BW-16D1HT", "MT1959 Boot JB8 "),
    ("BW-16D1H-U", "MT1959 Boot JB8 "),
    ("BD-RE BH16NS60", "MT1959 Boot JB8 "),
    ("BD-RE WH16NS60", "MT1959 Boot JB8 "),
    ("BD-RE BH16NS58", "MT1959 Boot JB8 "),
    ("BD-RE WH16NS58", "MT1959 Boot JB8 "),
    ("BD-RE BH16NS55", "MT1959 Boot JB8 "),
    ("BD-RE BH16NS50", "MT1959 Boot JB8 "),
    ("BD-RE BH14NS50", "MT1959 Boot JB8 "),
    ("BD-RE BH16NS40", "MT1959 Boot JB8 "),
    ("BD-RE WH16NS40", "MT1959 Boot JB8 "),
    ("BD-RE BH14NS40", "MT1959 Boot JB8 "),
    ("BD-RE WH14NS40", "MT1959 Boot JB8 "),
];

/// The boot config ID RD lists for a product ("MT1959 Boot JB8 " when not listed).
pub fn boot_config_for(product: &str) -> &'static str {
    BOOT_CONFIGS
        .iter()
        .find(|(p, _)| p.eq_ignore_ascii_case(product.trim()))
        .map(|(_, c)| *c)
        .unwrap_or("MT1959 Boot JB8 ")
}

/// RD's MT1339 allow-list: vendors and products.
pub const MT1339_VENDORS: &[&str] = &["TSSTcorp", "hp"];
pub const MT1339_PRODUCTS: &[&str] = &[
    "DVD-ROM SH-D162C",
    "DVD-ROM SH-D162D",
    "DVD-ROM SH-D163A",
    "DVD-ROM SH-D163B",
    "DVD-ROM SH-D163C",
    "DVD-ROM TS-H352C",
    "DVD-ROM TS-H352D",
    "DVD-ROM TS-H353A",
    "DVD-ROM TS-H353B",
    "DVD-ROM TS-H353C",
    "DVD-ROM SH-116AB",
    "DVD-ROM SH-118CB",
];

/// GET CONFIGURATION features FMK reads: the serial number and the firmware date.
pub const FEATURE_SERIAL: u16 = 0x0108;
pub const FEATURE_DATE: u16 = 0x010C;

/// MT1339: image sizes and block (RD).
pub const MT1339_LEN: usize = 0x4_0000;
pub const MT1339_LEN_SMALL: usize = 0x2_0000;
pub const MT1339_BLOCK: usize = 0xFC00;

/// What an MT1959 drive keeps of its own when an image is sent to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitData {
    /// Its boot config (0x3000, 0x20 bytes).
    pub boot_config: Vec<u8>,
    /// Its calibration region (0x1F0000, 64 KiB).
    pub calibration: Vec<u8>,
}

/// The image as it is sent to an MT1959 drive (RD): the boot area FF apart from the
/// drive's own boot config, and the drive's own calibration unless the image is a
/// backup of this very unit (`own`, the same serial), whose calibration is its own.
pub fn image_to_send(image: &[u8], unit: &UnitData, own: bool) -> Vec<u8> {
    let mut out = image.to_vec();
    out[BOOT_AREA.range()].fill(0xFF);
    out[BOOT_CONFIG.range()].copy_from_slice(&unit.boot_config);
    if !own {
        out[CALIBRATION.range()].copy_from_slice(&unit.calibration);
    }
    out
}

/// The bytes of `sent` the drive programs (all but the boot area, inference I19): what
/// a read-back must match.
pub fn programmed(family: Family, len: usize) -> Range<usize> {
    match family {
        Family::Mt1959 => BOOT_AREA.len..len,
        Family::Mt1339 => 0..len,
    }
}

/// The boot config's name: its first 16 bytes, when they are text ("MT1959 Boot JB8 ").
pub fn boot_config_id(window: &[u8]) -> Option<String> {
    let b = window.get(BOOT_CONFIG.at..BOOT_CONFIG.at + 16)?;
    b.iter()
        .all(|c| (0x20..0x7F).contains(c))
        .then(|| String::from_utf8_lossy(b).into_owned())
}

/// The model an identity page names: vendor (8), product (16) and revision (4) at its
/// start, as in INQUIRY (inference I20).
pub fn identity_of(window: &[u8]) -> Option<(String, String, String)> {
    let p = window.get(IDENTITY.range())?;
    let text = |r: Range<usize>| {
        let b = &p[r];
        b.iter()
            .all(|c| (0x20..0x7F).contains(c))
            .then(|| String::from_utf8_lossy(b).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    Some((text(0..8)?, text(8..24)?, text(24..28)?))
}

/// The family an image is for, when it is one of the later ones: a unit backup says so;
/// a 2 MiB image with an MT1959 boot config or identity page is MT1959's; a 128 or
/// 256 KiB image naming a drive on RD's MT1339 list is MT1339's.
pub fn family_of_image(data: &[u8], backup: Option<&UnitBackup>) -> Option<Family> {
    if let Some(b) = backup {
        return Some(b.family);
    }
    if data.len() == MT1959_LEN
        && (boot_config_id(data).is_some_and(|c| c.starts_with("MT1959 Boot"))
            || identity_of(data).is_some())
    {
        return Some(Family::Mt1959);
    }
    if Family::Mt1339.image_lens().contains(&data.len()) {
        let id = super::find_identity(data)?;
        let listed = MT1339_VENDORS
            .iter()
            .any(|v| v.eq_ignore_ascii_case(&id.vendor))
            && MT1339_PRODUCTS
                .iter()
                .any(|p| p.eq_ignore_ascii_case(&id.product));
        return listed.then_some(Family::Mt1339);
    }
    None
}

/// The first line of a unit backup file.
pub const BACKUP_MAGIC: &[u8] = b"MTKFLASH UNIT BACKUP 1\n";

/// What a unit backup records besides the window: which drive it came from and what
/// the drive answered (hex), so a restore can tell this unit from another.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnitBackup {
    pub family: Family,
    pub vendor: String,
    pub product: String,
    pub revision: String,
    pub serial: String,
    pub fw_date: String,
    /// INQUIRY (96 bytes) and the GET CONFIGURATION answers, as hex.
    pub inquiry: String,
    pub config_serial: String,
    pub config_date: String,
    /// Spans the drive would not give, filled with FF: (start, length).
    pub gaps: Vec<(usize, usize)>,
    /// CRC-32 of the window, so a damaged copy is refused.
    pub crc32: u32,
}

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// The file: [`BACKUP_MAGIC`], one line of JSON, the window's bytes.
pub fn encode_backup(meta: &UnitBackup, window: &[u8]) -> Vec<u8> {
    let mut m = meta.clone();
    m.crc32 = CRC32.checksum(window);
    let mut out = BACKUP_MAGIC.to_vec();
    out.extend_from_slice(serde_json::to_string(&m).expect("plain data").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(window);
    out
}

/// None: not a unit backup. Some(Err): one, damaged.
pub fn decode_backup(bytes: &[u8]) -> Option<Result<(UnitBackup, Vec<u8>), String>> {
    let rest = bytes.strip_prefix(BACKUP_MAGIC)?;
    Some((|| {
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("no record line")?;
        let meta: UnitBackup =
            serde_json::from_slice(&rest[..nl]).map_err(|e| format!("bad record: {e}"))?;
        let window = rest[nl + 1..].to_vec();
        if !meta.family.image_lens().contains(&window.len()) {
            return Err(format!(
                "its window is {} bytes; an {} drive's is {} KiB",
                window.len(),
                meta.family.name(),
                meta.family.image_lens()[meta.family.image_lens().len() - 1] / 1024
            ));
        }
        if CRC32.checksum(&window) != meta.crc32 {
            return Err("its content does not match its CRC (the file was changed or cut)".into());
        }
        Ok((meta, window))
    })())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_backup_round_trips_and_refuses_damage() {
        let meta = UnitBackup {
            family: Family::Mt1959,
            vendor: "HL-DT-ST".into(),
            product: "BD-RE WH16NS60".into(),
            revision: "1.05".into(),
            serial: "K1234".into(),
            fw_date: "20200518143000".into(),
            inquiry: "05".into(),
            config_serial: String::new(),
            config_date: String::new(),
            gaps: vec![(0x1000, 0x10)],
            crc32: 0,
        };
        let window = vec![0x5Au8; MT1959_LEN];
        let mut file = encode_backup(&meta, &window);
        let (m, w) = decode_backup(&file).unwrap().unwrap();
        assert_eq!(
            (m.serial.as_str(), m.gaps.clone()),
            ("K1234", meta.gaps.clone())
        );
        assert_eq!(w, window);
        assert!(decode_backup(&window).is_none());
        let n = file.len();
        file[n - 1] ^= 1;
        assert!(decode_backup(&file).unwrap().unwrap_err().contains("CRC"));
        file.truncate(n - 100);
        assert!(decode_backup(&file).unwrap().unwrap_err().contains("KiB"));
    }

    #[test]
    fn the_sent_image_keeps_the_units_own_data() {
        let image = vec![0x11u8; MT1959_LEN];
        let unit = UnitData {
            boot_config: b"MT1959 Boot JB8 0123456789ABCDEF".to_vec(),
            calibration: vec![0xC5; CALIBRATION.len],
        };
        let sent = image_to_send(&image, &unit, false);
        assert!(sent[..0x3000].iter().all(|&b| b == 0xFF));
        assert_eq!(&sent[BOOT_CONFIG.range()], &unit.boot_config[..]);
        assert!(sent[0x3020..0x1_0000].iter().all(|&b| b == 0xFF));
        assert!(sent[0x1_0000..CALIBRATION.at].iter().all(|&b| b == 0x11));
        assert!(sent[CALIBRATION.range()].iter().all(|&b| b == 0xC5));
        // A backup of this very unit keeps its own calibration.
        let own = image_to_send(&image, &unit, true);
        assert!(own[CALIBRATION.range()].iter().all(|&b| b == 0x11));
        assert_eq!(boot_config_id(&sent).as_deref(), Some("MT1959 Boot JB8 "));
    }
}
