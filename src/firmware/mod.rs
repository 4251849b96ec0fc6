//! Firmware images: loading (.bin, Intel HEX, BTC HEX) and layout analysis. Pure: no I/O
//! besides reading the file in [`load`].

pub mod family;
mod hex;
mod layout;
pub mod synth;

pub use self::hex::{parse_btc_hex, parse_intel_hex, to_btc_hex, to_intel_hex};
pub use layout::{
    boot_marks, find_identity, is_inquiry_template, layout_of, mark_ok, weakly_bootable, Analysis,
    BankInfo, Identity, Layout, INQUIRY_TEMPLATE,
};

use std::path::Path;
use thiserror::Error;

pub const BANK: usize = 0x10000;
/// The BTC update takes exactly this much: btcflash uploads and sums 1 MiB, whatever
/// the file (protocol.md section 6).
pub const BTC_IMAGE_LEN: usize = 0x100000;

/// Image sizes a MediaTek drive's flash can have.
pub const SIZES: [usize; 5] = [0x20000, 0x40000, 0x80000, 0x100000, 0x200000];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Bin,
    IntelHex,
    BtcHex,
    /// mtkflash's backup of a later-family drive: its window plus what it answered.
    UnitBackup,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Bin => "binary",
            Format::IntelHex => "Intel HEX",
            Format::BtcHex => "BTC HEX",
            Format::UnitBackup => "mtkflash unit backup",
        })
    }
}

#[derive(Clone, Debug)]
pub struct Firmware {
    pub data: Vec<u8>,
    pub format: Format,
    /// A unit backup's record of the drive it came from.
    pub unit: Option<Box<family::UnitBackup>>,
}

/// A firmware image ready for an operation: the bytes, what they hold, and where they
/// came from (for messages and for naming the backup next to it).
#[derive(Clone, Debug)]
pub struct Image {
    /// How messages name it (the file name as given).
    pub name: String,
    /// The file it was loaded from, if any.
    pub source: Option<std::path::PathBuf>,
    pub fw: Firmware,
    pub analysis: Analysis,
}

impl Image {
    /// An image from bytes (library users, tests).
    pub fn from_bytes(name: &str, data: Vec<u8>) -> Image {
        let analysis = Analysis::of(&data);
        Image {
            name: name.into(),
            source: None,
            fw: Firmware {
                data,
                format: Format::Bin,
                unit: None,
            },
            analysis,
        }
    }
    pub fn data(&self) -> &[u8] {
        &self.fw.data
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FirmwareError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is {len} bytes, not a firmware size (128 KiB, 256 KiB, 512 KiB, 1 MiB or 2 MiB){hint}")]
    BadSize { len: usize, hint: &'static str },
    #[error("line {line}: {what}")]
    Hex { line: usize, what: String },
    #[error("the HEX file ends without an end-of-file record (:00000001FF): it is truncated")]
    HexTruncated,
    #[error("the HEX file has no data records")]
    HexNoData,
    #[error("the BTC HEX file has {banks} banks; a BTC image has at most 16 (1 MiB)")]
    TooManyBanks { banks: usize },
    #[error("cannot read {path}: {err}")]
    Io { path: String, err: String },
    #[error("a damaged mtkflash unit backup: {what}")]
    Backup { what: String },
}

/// 16-bit sum of all bytes (BTC's "Check Sum").
pub fn sum16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |a, &b| a.wrapping_add(b as u16))
}

/// Read and parse a firmware file. HEX files are parsed line by line as they are read
/// (a 2 MiB image is 4.7 MB of HEX text, never held whole).
pub fn load(path: &Path) -> Result<Firmware, FirmwareError> {
    use std::io::{BufRead, Read};
    let io = |e: std::io::Error| FirmwareError::Io {
        path: path.display().to_string(),
        err: e.to_string(),
    };
    if path.is_dir() {
        return Err(FirmwareError::Io {
            path: path.display().to_string(),
            err: "it is a directory".into(),
        });
    }
    let mut f = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    let head = f.fill_buf().map_err(io)?;
    let first = head
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(head)
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .copied();
    if first != Some(b':') {
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).map_err(io)?;
        return parse(&bytes);
    }
    // Decide BTC vs Intel from the separator line, then parse the lines again.
    let btc = f
        .by_ref()
        .lines()
        .map(|l| l.map_err(io))
        .try_fold(false, |seen, l| {
            let l = l?;
            if !l.is_ascii() {
                return Err(FirmwareError::Hex {
                    line: 0,
                    what: "the file is not plain ASCII text".into(),
                });
            }
            Ok(seen || l.trim().eq_ignore_ascii_case(hex::BTC_SEPARATOR))
        })?;
    let f = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    let lines = f.lines().map(|l| l.map_err(io));
    if btc {
        Ok(Firmware {
            data: hex::parse_btc_hex_lines(lines)?,
            format: Format::BtcHex,
            unit: None,
        })
    } else {
        Ok(Firmware {
            data: hex::parse_intel_hex_lines(lines)?,
            format: Format::IntelHex,
            unit: None,
        })
    }
}
/// Parse a firmware image from its bytes, detecting the format from the content.
pub fn parse(bytes: &[u8]) -> Result<Firmware, FirmwareError> {
    if bytes.is_empty() {
        return Err(FirmwareError::Empty);
    }
    let trimmed = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = trimmed.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b':') && trimmed.is_ascii() {
        let text = std::str::from_utf8(trimmed).expect("ascii");
        // (A substring search first: most files have no separator, and it is fast.)
        if text.contains(&hex::BTC_SEPARATOR[..9])
            && text
                .lines()
                .any(|l| l.trim().eq_ignore_ascii_case(hex::BTC_SEPARATOR))
        {
            return Ok(Firmware {
                data: parse_btc_hex(text)?,
                format: Format::BtcHex,
                unit: None,
            });
        }
        return Ok(Firmware {
            data: parse_intel_hex(text)?,
            format: Format::IntelHex,
            unit: None,
        });
    }
    if let Some(b) = family::decode_backup(bytes) {
        let (unit, data) = b.map_err(|what| FirmwareError::Backup { what })?;
        return Ok(Firmware {
            data,
            format: Format::UnitBackup,
            unit: Some(Box::new(unit)),
        });
    }
    if !SIZES.contains(&bytes.len()) {
        let kind = [
            (&b"\x89PNG"[..], "; it is a PNG image, not firmware"),
            (b"PK\x03\x04", "; it is a ZIP archive: unpack the firmware from it first"),
            (b"Rar!", "; it is a RAR archive: unpack the firmware from it first"),
            (b"\x7fELF", "; it is a Linux program, not firmware"),
            (b"MZ", "; it is a Windows program (often a vendor's flasher with the firmware inside), not a firmware image"),
            (b"%PDF", "; it is a PDF document, not firmware"),
            (b"\xff\xd8\xff", "; it is a JPEG image, not firmware"),
        ]
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, what)| *what);
        let hint = if let Some(k) = kind {
            k
        } else if SIZES
            .iter()
            .any(|&s| bytes.len() < s && bytes.len() > s / 2)
        {
            "; it looks truncated"
        } else if bytes.len() < 0x10000 {
            "; far too small for a firmware image"
        } else {
            ""
        };
        return Err(FirmwareError::BadSize {
            len: bytes.len(),
            hint,
        });
    }
    Ok(Firmware {
        data: bytes.to_vec(),
        format: Format::Bin,
        unit: None,
    })
}

/// The smallest firmware size holding `end` bytes.
pub(crate) fn size_for(end: usize) -> Option<usize> {
    SIZES.iter().copied().find(|&s| s >= end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum16_wraps() {
        assert_eq!(sum16(&[0xFF; 0x102]), (0xFFu32 * 0x102 % 0x10000) as u16);
        assert_eq!(sum16(&[]), 0);
    }

    #[test]
    fn binary_sizes_are_checked() {
        assert_eq!(parse(&[]).unwrap_err(), FirmwareError::Empty);
        let e = parse(&vec![0u8; 0x100000 - 5]).unwrap_err();
        assert!(matches!(e, FirmwareError::BadSize { hint, .. } if hint.contains("truncated")));
        assert!(parse(&vec![0u8; 0x300000]).is_err());
        let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &[0u8; 61]].concat();
        let e = parse(&png).unwrap_err().to_string();
        assert!(e.contains("PNG image") && !e.contains("truncated"), "{e}");
        let e = parse(&[1u8; 100]).unwrap_err().to_string();
        assert!(e.contains("far too small"), "{e}");
        assert_eq!(parse(&vec![2u8; 0x80000]).unwrap().format, Format::Bin);
    }

    #[test]
    fn content_decides_the_format() {
        let img = synth::generate(&synth::Spec::btc("0055"));
        let hex = to_btc_hex(&img);
        assert_eq!(parse(hex.as_bytes()).unwrap().format, Format::BtcHex);
        assert_eq!(parse(hex.as_bytes()).unwrap().data, img);
        let ihex = to_intel_hex(&img);
        let fw = parse(ihex.as_bytes()).unwrap();
        assert_eq!(fw.format, Format::IntelHex);
        assert_eq!(fw.data, img);
    }
}
