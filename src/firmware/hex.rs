//! Intel HEX and BTC HEX.
//!
//! Standard Intel HEX records are parsed by the `ihex` crate. BTC HEX is not standard: it
//! is Intel-HEX lines with 16-bit offsets inside 64 KiB banks, the banks separated by the
//! record `:00000155AA` (type 0x55, which no HEX library accepts). That part, and only
//! that part, is hand-written here: a separator line moves to the next bank, every other
//! line goes through `ihex`.

use super::{size_for, FirmwareError, BANK};
use ihex::{ReaderError, Record};

pub(crate) const BTC_SEPARATOR: &str = ":00000155AA";
const MAX_IMAGE: usize = 0x200000;
const BTC_MAX_BANKS: usize = 16;

fn hex_err(line: usize, what: impl Into<String>) -> FirmwareError {
    FirmwareError::Hex {
        line,
        what: what.into(),
    }
}

/// The value of each ASCII hex digit; 0xFF for every other byte.
const HEX_VALUE: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// One record as [`decode`] reads it: its type, its 16-bit offset and its payload.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Rec<'b> {
    pub kind: u8,
    pub offset: u16,
    pub payload: &'b [u8],
}

/// Decode one Intel HEX record line into `buf`, accepting and refusing exactly what
/// `ihex::Record::from_record_string` does, with its errors (a property test compares
/// the two on arbitrary lines). Hand-written because that function allocates for every
/// record: parsing a 2 MiB image (131,072 records) spent most of its time there. The
/// writer still goes through `ihex`.
pub(crate) fn decode<'b>(line: &str, buf: &'b mut [u8; 260]) -> Result<Rec<'b>, ReaderError> {
    let Some(d) = line.strip_prefix(':') else {
        return Err(ReaderError::MissingStartCode);
    };
    let d = d.as_bytes();
    // One pass: decode the pairs into `buf` (as far as it holds them) and note any byte
    // that is not a hex digit (its table value has the high nibble set).
    let mut bad = d.len() % 2 == 1 && HEX_VALUE[d[d.len() - 1] as usize] > 0x0F;
    for (i, pair) in d.chunks_exact(2).enumerate() {
        let (hi, lo) = (HEX_VALUE[pair[0] as usize], HEX_VALUE[pair[1] as usize]);
        bad |= (hi | lo) > 0x0F;
        if let Some(o) = buf.get_mut(i) {
            *o = hi << 4 | lo;
        }
    }
    if bad {
        return Err(ReaderError::ContainsInvalidCharacters);
    }
    if d.len() < 10 {
        return Err(ReaderError::RecordTooShort);
    } else if d.len() > 10 + 2 * 255 {
        return Err(ReaderError::RecordTooLong);
    } else if d.len() % 2 != 0 {
        return Err(ReaderError::RecordNotEvenLength);
    }
    let n = d.len() / 2;
    let (region, expected) = (&buf[..n - 1], buf[n - 1]);
    let checksum = 0u8.wrapping_sub(region.iter().fold(0u8, |a, &b| a.wrapping_add(b)));
    if checksum != expected {
        return Err(ReaderError::ChecksumMismatch(checksum, expected));
    }
    let (len, offset, kind) = (
        region[0],
        u16::from_be_bytes([region[1], region[2]]),
        region[3],
    );
    let payload = &region[4..];
    if payload.len() != len as usize {
        return Err(ReaderError::PayloadLengthMismatch);
    }
    let want = match kind {
        0 => payload.len(),
        1 => 0,
        2 | 4 => 2,
        3 | 5 => 4,
        t => return Err(ReaderError::UnsupportedRecordType(t)),
    };
    if payload.len() != want {
        return Err(ReaderError::InvalidLengthForType);
    }
    Ok(Rec {
        kind,
        offset,
        payload,
    })
}

fn record<'b>(
    line_no: usize,
    line: &str,
    buf: &'b mut [u8; 260],
) -> Result<Rec<'b>, FirmwareError> {
    decode(line, buf).map_err(|e| {
        let what = match e {
            ReaderError::ChecksumMismatch(computed, in_file) => format!(
                "the record's checksum byte is {in_file:02X}, its bytes call for {computed:02X}: the file is damaged"
            ),
            ReaderError::UnsupportedRecordType(t) => format!("unknown record type {t:02X}"),
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
        // Room for the largest image at once: no copy as the image grows (the pages of
        // a smaller image's unused room are never touched, so never resident).
        Builder {
            data: Vec::with_capacity(MAX_IMAGE),
            given: Vec::with_capacity(MAX_IMAGE / 64),
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
        // Mark the bytes given, a 64-bit word of the bitset at a time.
        let mut a = addr;
        while a < end {
            let (w, lo) = (a / 64, a % 64);
            let hi = (end - w * 64).min(64);
            let mask = (u64::MAX >> (64 - (hi - lo))) << lo;
            if self.given[w] & mask != 0 {
                let first = w * 64 + (self.given[w] & mask).trailing_zeros() as usize;
                return Err(hex_err(
                    line,
                    format!("data at {first:#X} overlaps an earlier record"),
                ));
            }
            self.given[w] |= mask;
            a = w * 64 + hi;
        }
        self.data[addr..end].copy_from_slice(bytes);
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
    let mut buf = [0u8; 260];
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
        let r = record(line_no, line, &mut buf)?;
        let word = || u16::from_be_bytes([r.payload[0], r.payload[1]]) as usize;
        match r.kind {
            0 => b.put(line_no, base + r.offset as usize, r.payload)?,
            1 => eof = true,
            2 => base = word() << 4,
            4 => base = word() << 16,
            _ => {} // start addresses (03, 05) say nothing about the image
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
    let mut buf = [0u8; 260];
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
        let r = record(line_no, line, &mut buf)?;
        match r.kind {
            0 => {
                if r.offset as usize + r.payload.len() > BANK {
                    return Err(hex_err(
                        line_no,
                        "record runs past the end of its 64 KiB bank",
                    ));
                }
                b.put(line_no, bank * BANK + r.offset as usize, r.payload)?
            }
            1 => eof = true,
            t => {
                return Err(hex_err(
                    line_no,
                    format!("record type {t:02X} does not belong in a BTC HEX file"),
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

#[cfg(test)]
mod decode_tests {
    use super::*;
    use proptest::prelude::*;

    /// What `ihex` makes of a line, in [`Rec`]'s terms.
    fn oracle(line: &str) -> Result<(u8, u16, Vec<u8>), ReaderError> {
        Record::from_record_string(line).map(|r| match r {
            Record::Data { offset, value } => (0, offset, value),
            Record::EndOfFile => (1, 0, vec![]),
            Record::ExtendedSegmentAddress(a) => (2, 0, a.to_be_bytes().to_vec()),
            Record::StartSegmentAddress { cs, ip } => {
                (3, 0, [cs.to_be_bytes(), ip.to_be_bytes()].concat())
            }
            Record::ExtendedLinearAddress(a) => (4, 0, a.to_be_bytes().to_vec()),
            Record::StartLinearAddress(a) => (5, 0, a.to_be_bytes().to_vec()),
        })
    }

    fn ours(line: &str) -> Result<(u8, u16, Vec<u8>), ReaderError> {
        let mut buf = [0u8; 260];
        decode(line, &mut buf).map(|r| {
            // ihex keeps no offset for records other than data.
            let offset = if r.kind == 0 { r.offset } else { 0 };
            (r.kind, offset, r.payload.to_vec())
        })
    }

    /// A well-formed record of any type and length (the checksum right or not).
    fn record_line() -> impl Strategy<Value = String> {
        (
            0u8..8,
            any::<u16>(),
            prop::collection::vec(any::<u8>(), 0..20),
            any::<bool>(),
            any::<u8>(),
        )
            .prop_map(|(t, off, data, good, bad)| {
                let mut bytes = vec![data.len() as u8, (off >> 8) as u8, off as u8, t];
                bytes.extend(&data);
                let sum = 0u8.wrapping_sub(bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b)));
                bytes.push(if good { sum } else { bad });
                format!(":{}", hex::encode_upper(bytes))
            })
    }

    proptest! {
        #[test]
        fn decode_agrees_with_ihex_on_records(line in record_line()) {
            prop_assert_eq!(ours(&line), oracle(&line));
        }

        #[test]
        fn decode_agrees_with_ihex_on_any_text(line in "[:0-9a-fA-FgG ]{0,40}") {
            prop_assert_eq!(ours(&line), oracle(&line));
        }

        #[test]
        fn decode_agrees_with_ihex_on_damaged_records(
            line in record_line(),
            at in 0usize..60,
            c in prop::sample::select(vec!['0', '9', 'a', 'F', 'x', ':', 'é']),
            cut in any::<bool>(),
        ) {
            let mut s: Vec<char> = line.chars().collect();
            let at = at % s.len();
            if cut { s.truncate(at) } else { s[at] = c }
            let s: String = s.into_iter().collect();
            prop_assert_eq!(ours(&s), oracle(&s));
        }
    }

    #[test]
    fn long_records_and_lowercase_decode() {
        let data: Vec<u8> = (0..=254).collect();
        let mut bytes = vec![255u8, 0x12, 0x34, 0];
        bytes.extend(&data);
        let sum = 0u8.wrapping_sub(bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b)));
        bytes.push(sum);
        let line = format!(":{}", hex::encode(&bytes));
        assert_eq!(ours(&line), oracle(&line));
        assert_eq!(ours(&line).unwrap().2.len(), 255);
        let long = format!("{line}00");
        assert_eq!(ours(&long), Err(ReaderError::RecordTooLong));
    }
}
