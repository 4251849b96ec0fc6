//! Intel HEX and BTC HEX.
//!
//! Standard Intel HEX records are parsed by the `ihex` crate. BTC HEX is not standard: it
//! is Intel-HEX lines with 16-bit offsets inside 64 KiB banks, the banks separated by the
//! record `:00000155AA` (type 0x55, which no HEX library accepts). That part, and only
//! that part, is hand-written here: a separator line moves to the next bank, every other
//! line goes through `ihex`.

use super::{size_for, FirmwareError, BANK};
use ihex::Record;

pub(crate) const BTC_SEPARATOR: &str = ":00000155AA";
const MAX_IMAGE: usize = 0x200000;
const BTC_MAX_BANKS: usize = 16;

fn hex_err(line: usize, what: impl Into<String>) -> FirmwareError {
    FirmwareError::Hex {
        line,
        what: what.into(),
    }
}

fn record(line_no: usize, line: &str) -> Result<Record, FirmwareError> {
    Record::from_record_string(line).map_err(|e| {
        let what = match e {
            ihex::ReaderError::ChecksumMismatch(found, want) => {
                format!("checksum is {found:02X}, should be {want:02X}: the file is damaged")
            }
            ihex::ReaderError::UnsupportedRecordType(t) => format!("unknown record type {t:02X}"),
            other => format!("not a valid HEX record ({other})"),
        };
        hex_err(line_no, what)
    })
}

/// Image under construction: bytes default to FF; overlaps are errors. Grows with the
/// highest address seen, with a bitset of the bytes given.
struct Builder {
    data: Vec<u8>,
    given: Vec<u64>,
}

impl Builder {
    fn new() -> Self {
        Builder {
            data: Vec::new(),
            given: Vec::new(),
        }
    }
    fn put(&mut self, line: usize, addr: usize, bytes: &[u8]) -> Result<(), FirmwareError> {
        let end = addr + bytes.len();
        if end > MAX_IMAGE {
            return Err(hex_err(
                line,
                format!("data at {addr:#X} lies beyond 2 MiB, the largest flash a drive has"),
            ));
        }
        if end > self.data.len() {
            self.data.resize(end, 0xFF);
            self.given.resize(end.div_ceil(64), 0);
        }
        for (i, &b) in bytes.iter().enumerate() {
            let a = addr + i;
            let (w, bit) = (a / 64, 1u64 << (a % 64));
            if self.given[w] & bit != 0 {
                return Err(hex_err(
                    line,
                    format!("data at {a:#X} overlaps an earlier record"),
                ));
            }
            self.given[w] |= bit;
            self.data[a] = b;
        }
        Ok(())
    }
    fn finish(mut self, min: usize) -> Result<Vec<u8>, FirmwareError> {
        if self.data.is_empty() {
            return Err(FirmwareError::HexNoData);
        }
        let size = size_for(self.data.len().max(min)).expect("end <= MAX_IMAGE");
        self.data.resize(size, 0xFF);
        Ok(self.data)
    }
}

/// Parse standard Intel HEX (types 00-05). Bytes not given are FF; the image size is the
/// smallest firmware size holding the highest address.
pub fn parse_intel_hex(text: &str) -> Result<Vec<u8>, FirmwareError> {
    parse_intel_hex_lines(text.lines().map(Ok))
}

/// [`parse_intel_hex`] over lines as they are read (no copy of the whole text).
pub fn parse_intel_hex_lines<S: AsRef<str>>(
    lines: impl Iterator<Item = Result<S, FirmwareError>>,
) -> Result<Vec<u8>, FirmwareError> {
    let mut b = Builder::new();
    let mut base = 0usize;
    let mut eof = false;
    for (i, raw) in lines.enumerate() {
        let raw = raw?;
        let line_no = i + 1;
        let line = raw.as_ref().trim();
        if line.is_empty() {
            continue;
        }
        if eof {
            return Err(hex_err(line_no, "data after the end-of-file record"));
        }
        match record(line_no, line)? {
            Record::Data { offset, value } => b.put(line_no, base + offset as usize, &value)?,
            Record::EndOfFile => eof = true,
            Record::ExtendedSegmentAddress(seg) => base = (seg as usize) << 4,
            Record::ExtendedLinearAddress(hi) => base = (hi as usize) << 16,
            Record::StartSegmentAddress { .. } | Record::StartLinearAddress(_) => {}
        }
    }
    if !eof {
        return Err(FirmwareError::HexTruncated);
    }
    b.finish(0)
}

/// Parse BTC HEX: 16-bit offsets within 64 KiB banks, banks separated by `:00000155AA`.
pub fn parse_btc_hex(text: &str) -> Result<Vec<u8>, FirmwareError> {
    parse_btc_hex_lines(text.lines().map(Ok))
}

/// [`parse_btc_hex`] over lines as they are read.
pub fn parse_btc_hex_lines<S: AsRef<str>>(
    lines: impl Iterator<Item = Result<S, FirmwareError>>,
) -> Result<Vec<u8>, FirmwareError> {
    let mut b = Builder::new();
    let mut bank = 0usize;
    let mut eof = false;
    for (i, raw) in lines.enumerate() {
        let raw = raw?;
        let line_no = i + 1;
        let line = raw.as_ref().trim();
        if line.is_empty() {
            continue;
        }
        if eof {
            return Err(hex_err(line_no, "data after the end-of-file record"));
        }
        if line.eq_ignore_ascii_case(BTC_SEPARATOR) {
            bank += 1;
            if bank >= BTC_MAX_BANKS {
                return Err(FirmwareError::TooManyBanks { banks: bank + 1 });
            }
            continue;
        }
        match record(line_no, line)? {
            Record::Data { offset, value } => {
                if offset as usize + value.len() > BANK {
                    return Err(hex_err(
                        line_no,
                        "record runs past the end of its 64 KiB bank",
                    ));
                }
                b.put(line_no, bank * BANK + offset as usize, &value)?
            }
            Record::EndOfFile => eof = true,
            other => {
                return Err(hex_err(
                    line_no,
                    format!(
                        "record type {:02X} does not belong in a BTC HEX file",
                        other.record_type()
                    ),
                ))
            }
        }
    }
    if !eof {
        return Err(FirmwareError::HexTruncated);
    }
    // A BTC file describes every bank up to its last separator.
    b.finish((bank + 1) * BANK)
}

fn data_lines(chunk_base: usize, data: &[u8], out: &mut String) {
    for (j, line) in data.chunks(16).enumerate() {
        if line.iter().all(|&x| x == 0xFF) {
            continue;
        }
        let rec = Record::Data {
            offset: (chunk_base + j * 16) as u16,
            value: line.to_vec(),
        };
        out.push_str(&rec.to_record_string().expect("16-byte record"));
        out.push('\n');
    }
}

/// Write BTC HEX (all-FF lines are left out: bytes not given are FF).
pub fn to_btc_hex(image: &[u8]) -> String {
    let mut out = String::new();
    for (bank, chunk) in image.chunks(BANK).enumerate() {
        if bank > 0 {
            out.push_str(BTC_SEPARATOR);
            out.push('\n');
        }
        data_lines(0, chunk, &mut out);
    }
    out.push_str(":00000001FF\n");
    out
}

/// Write standard Intel HEX with extended linear address records.
pub fn to_intel_hex(image: &[u8]) -> String {
    let mut out = String::new();
    for (bank, chunk) in image.chunks(BANK).enumerate() {
        let rec = Record::ExtendedLinearAddress(bank as u16);
        out.push_str(&rec.to_record_string().expect("ela"));
        out.push('\n');
        data_lines(0, chunk, &mut out);
    }
    out.push_str(":00000001FF\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_image() -> Vec<u8> {
        let mut v = vec![0xFF; 0x20000];
        for (i, b) in v.iter_mut().enumerate().take(0x1000) {
            *b = (i * 7) as u8;
        }
        v[0x1FFFF] = 0x12;
        v
    }

    #[test]
    fn intel_hex_round_trip() {
        let img = small_image();
        assert_eq!(parse_intel_hex(&to_intel_hex(&img)).unwrap(), img);
    }

    #[test]
    fn btc_hex_round_trip_and_separators() {
        let mut img = vec![0x02; 0x100000];
        img[0x40000] = 0x99;
        let text = to_btc_hex(&img);
        assert_eq!(text.lines().filter(|l| *l == BTC_SEPARATOR).count(), 15);
        assert_eq!(parse_btc_hex(&text).unwrap(), img);
    }

    #[test]
    fn bad_checksum_names_the_line() {
        let text = ":020000040000FA\n:0400000001020304F1\n:00000001FF\n";
        let e = parse_intel_hex(text).unwrap_err();
        assert!(
            matches!(&e, FirmwareError::Hex { line: 2, what } if what.contains("checksum")),
            "{e}"
        );
    }

    #[test]
    fn missing_eof_is_truncation() {
        let text = ":0400000001020304F2\n";
        assert_eq!(
            parse_intel_hex(text).unwrap_err(),
            FirmwareError::HexTruncated
        );
    }

    #[test]
    fn overlap_and_range_and_type_errors() {
        let overlap = ":0400000001020304F2\n:0200020055AAFD\n:00000001FF\n";
        assert!(matches!(
            parse_intel_hex(overlap).unwrap_err(),
            FirmwareError::Hex { line: 2, .. }
        ));
        let far = ":020000040030CA\n:0400000001020304F2\n:00000001FF\n";
        let e = parse_intel_hex(far).unwrap_err();
        assert!(e.to_string().contains("beyond 2 MiB"), "{e}");
        let bad_type = ":00000007F9\n:00000001FF\n";
        let e = parse_intel_hex(bad_type).unwrap_err();
        assert!(e.to_string().contains("record type"), "{e}");
    }

    #[test]
    fn btc_too_many_banks() {
        let mut text = String::from(":0400000001020304F2\n");
        for _ in 0..16 {
            text.push_str(":00000155AA\n");
        }
        text.push_str(":00000001FF\n");
        assert_eq!(
            parse_btc_hex(&text).unwrap_err(),
            FirmwareError::TooManyBanks { banks: 17 }
        );
    }

    #[test]
    fn data_after_eof_is_rejected() {
        let text = ":00000001FF\n:0400000001020304F2\n";
        assert!(parse_intel_hex(text).is_err());
    }
}
