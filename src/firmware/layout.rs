//! What a firmware image holds: banks, boot code, drive identity, checksums.

use super::{sum16, BANK};
use crate::inference::{bank_start_ok, embedded_checksum, BOOT_LEN};

/// The first 8 bytes of the drive's INQUIRY answer as the firmware keeps them; vendor
/// (8), product (16) and revision (4) follow (protocol.md section 4).
pub const INQUIRY_TEMPLATE: [u8; 8] = [0x05, 0x80, 0x00, 0x32, 0x5B, 0x00, 0x00, 0x00];

/// Is this a firmware's INQUIRY template? OmniPatcher accepts `05 80 00 31|32 1F|5B 00
/// 00 00` (protocol.md section 6): older drives report ANSI version 1 and 0x1F
/// additional bytes.
pub fn is_inquiry_template(b: &[u8]) -> bool {
    b.len() >= 8
        && b[..3] == [0x05, 0x80, 0x00]
        && matches!(b[3], 0x31 | 0x32)
        && matches!(b[4], 0x1F | 0x5B)
        && b[5..8] == [0, 0, 0]
}

/// Where a LiteOn image keeps its signature, and the signature (OmniPatcher
/// `mtk_rebank_check`).
pub const LITEON_SIGNATURE_AT: usize = 0xFFF8;
pub const LITEON_SIGNATURE: &[u8; 8] = b"LITEONIT";
/// The LiteOn layout's common code starts right after the boot code.
pub const LITEON_COMMON_AT: usize = 0x4000;

/// How an image maps onto the 8032's code banks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Every 64 KiB bank starts with a jump (0x02 or 0x80).
    Banked,
    /// LiteOn's layout (OmniPatcher's "rebank" check): a jump at 0x0000 and at 0x4000
    /// and "LITEONIT" at 0xFFF8, the 64 KiB boundaries falling inside code.
    LiteOn,
    /// Neither.
    Unknown,
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Layout::Banked => "banked (a jump at every 64 KiB bank start)",
            Layout::LiteOn => "LiteOn (jumps at 0x0000 and 0x4000, LITEONIT at 0xFFF8)",
            Layout::Unknown => {
                "unknown (neither every bank start nor the LiteOn marks hold a jump)"
            }
        })
    }
}

/// Which layout `image` has (OmniPatcher's order: banked first).
pub fn layout_of(image: &[u8]) -> Layout {
    if image.is_empty() {
        return Layout::Unknown;
    }
    // Banked: byte 0 and every bank that holds anything start with a jump.
    let banked = image
        .chunks(BANK)
        .enumerate()
        .all(|(i, b)| bank_start_ok(b[0]) || (i > 0 && b.iter().all(|&x| x == 0xFF)));
    if banked {
        return Layout::Banked;
    }
    if image.len() >= BANK
        && image[0] == 0x02
        && image[LITEON_COMMON_AT] == 0x02
        && &image[LITEON_SIGNATURE_AT..LITEON_SIGNATURE_AT + 8] == LITEON_SIGNATURE
    {
        return Layout::LiteOn;
    }
    Layout::Unknown
}

/// The weakest boot rule the sources allow: byte 0 and every 64 KiB bank start hold a
/// jump, or the LiteOn marks are all there. A drive might start an image that passes;
/// one that fails certainly does not start (it runs boot code only).
pub fn weakly_bootable(image: &[u8]) -> bool {
    let banked = (0..image.len())
        .step_by(BANK)
        .all(|a| bank_start_ok(image[a]));
    let liteon = image.len() >= BANK
        && bank_start_ok(image[0])
        && bank_start_ok(image[LITEON_COMMON_AT])
        && &image[LITEON_SIGNATURE_AT..LITEON_SIGNATURE_AT + 8] == LITEON_SIGNATURE;
    banked || liteon
}

/// The bytes whose values decide [`weakly_bootable`] for an image of `layout` (besides
/// byte 0, which is boot code): a half-written image stays unbootable while one of them
/// is invalid.
pub fn boot_marks(layout: Layout, len: usize) -> Vec<usize> {
    match layout {
        Layout::LiteOn => vec![LITEON_COMMON_AT, LITEON_SIGNATURE_AT],
        _ => (BANK..len).step_by(BANK).collect(),
    }
}

/// Does the byte at a boot mark hold a valid value?
pub fn mark_ok(at: usize, byte: u8) -> bool {
    if at == LITEON_SIGNATURE_AT {
        byte == LITEON_SIGNATURE[0]
    } else {
        bank_start_ok(byte)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub vendor: String,
    pub product: String,
    pub revision: String,
    /// Offset of the INQUIRY template in the image.
    pub offset: usize,
}

impl Identity {
    /// `VENDOR PRODUCT REV` with padding removed.
    pub fn display(&self) -> String {
        format!("{} {} {}", self.vendor, self.product, self.revision)
    }
    /// Same drive model (vendor and product), ignoring padding and case.
    pub fn same_model(&self, vendor: &str, product: &str) -> bool {
        self.vendor.trim().eq_ignore_ascii_case(vendor.trim())
            && self.product.trim().eq_ignore_ascii_case(product.trim())
    }
}

fn field(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .trim_end_matches([' ', '\0'])
        .to_string()
}

/// Find the INQUIRY template: from 0x4000 on (OmniPatcher), else 0x2000..0x3000 (where JF
/// looks on Samsung drives).
pub fn find_identity(image: &[u8]) -> Option<Identity> {
    let scan = |from: usize, to: usize| -> Option<Identity> {
        let to = to.min(image.len().saturating_sub(36));
        (from..to)
            .find(|&o| is_inquiry_template(&image[o..o + 8]))
            .map(|o| Identity {
                vendor: field(&image[o + 8..o + 16]),
                product: field(&image[o + 16..o + 32]),
                revision: field(&image[o + 32..o + 36]),
                offset: o,
            })
    };
    scan(0x4000, image.len()).or_else(|| scan(0x2000, 0x3000))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankInfo {
    pub index: usize,
    pub first: u8,
    pub ok: bool,
    pub empty: bool,
    pub sum: u16,
}

/// Everything `check` shows about an image, and what the safety checks use.
#[derive(Clone, Debug)]
pub struct Analysis {
    pub size: usize,
    pub banks: Vec<BankInfo>,
    pub boot_ok: bool,
    pub boot_empty: bool,
    pub identity: Option<Identity>,
    pub layout: Layout,
    pub sum16: u16,
    /// (stored, computed) per inference I10.
    pub embedded: Option<(u16, u16)>,
}

impl Analysis {
    pub fn of(image: &[u8]) -> Analysis {
        let banks = image
            .chunks(BANK)
            .enumerate()
            .map(|(index, b)| {
                let empty = b.iter().all(|&x| x == 0xFF);
                BankInfo {
                    index,
                    first: b[0],
                    ok: bank_start_ok(b[0]),
                    empty,
                    sum: sum16(b),
                }
            })
            .collect();
        let boot = &image[..BOOT_LEN.min(image.len())];
        Analysis {
            size: image.len(),
            banks,
            boot_ok: boot.first() == Some(&0x02),
            boot_empty: boot.iter().all(|&b| b == 0xFF),
            identity: find_identity(image),
            layout: layout_of(image),
            sum16: sum16(image),
            embedded: embedded_checksum(image),
        }
    }
    /// Banks that hold data but do not start with LJMP/SJMP (none in the LiteOn layout,
    /// whose 64 KiB boundaries fall inside code).
    pub fn bad_banks(&self) -> Vec<usize> {
        if self.layout == Layout::LiteOn {
            return Vec::new();
        }
        self.banks
            .iter()
            .filter(|b| !b.ok && !b.empty)
            .map(|b| b.index)
            .collect()
    }
    pub fn embedded_ok(&self) -> bool {
        matches!(self.embedded, Some((s, c)) if s == c)
    }
    /// Would the drive boot this image (the drive model's rule: boot code present, every
    /// bank starts validly or the LiteOn marks are there, embedded checksum matches)?
    pub fn bootable(&self) -> bool {
        let layout_ok = match self.layout {
            Layout::LiteOn => true,
            _ => self.banks.iter().all(|b| b.ok),
        };
        self.boot_ok && layout_ok && self.embedded_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firmware::synth;

    #[test]
    fn synthetic_btc_image_is_recognised() {
        let img = synth::generate(&synth::Spec::btc("0758"));
        let a = Analysis::of(&img);
        assert_eq!(a.size, 0x100000);
        assert_eq!(a.banks.len(), 16);
        assert!(a.bootable());
        let id = a.identity.unwrap();
        assert_eq!(
            (
                id.vendor.as_str(),
                id.product.as_str(),
                id.revision.as_str()
            ),
            ("BTC", "DVDRW IDE1008", "0758")
        );
        assert_eq!(id.offset, 0x40B4);
        assert!(id.same_model("btc ", "DVDRW IDE1008"));
    }

    #[test]
    fn damage_is_seen() {
        let mut img = synth::generate(&synth::Spec::btc("0758"));
        img[0x30000] = 0xFF;
        let a = Analysis::of(&img);
        assert_eq!(a.bad_banks(), vec![3]);
        assert!(!a.bootable());
        let mut img2 = synth::generate(&synth::Spec::btc("0758"));
        img2[0x50000 + 5] ^= 1;
        assert!(!Analysis::of(&img2).embedded_ok());
    }

    #[test]
    fn samsung_style_identity_location() {
        let mut img = vec![0u8; 0x20000];
        img[0x2100..0x2108].copy_from_slice(&INQUIRY_TEMPLATE);
        img[0x2108..0x2110].copy_from_slice(b"TSSTcorp");
        img[0x2110..0x2120].copy_from_slice(b"CD/DVDW TS-H943 ");
        img[0x2120..0x2124].copy_from_slice(b"MS28");
        let id = find_identity(&img).unwrap();
        assert_eq!(id.revision, "MS28");
        assert_eq!(id.offset, 0x2100);
    }
}
