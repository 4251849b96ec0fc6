//! Synthetic firmware images that are structurally real: LJMP at every bank start, boot
//! code in 0x0000..0x4000 that does not change between revisions, the INQUIRY template
//! with the drive's identity at 0x40B4 (where BTC keeps it), FF padding at the end of each
//! bank, and a valid embedded checksum. Contents are pseudo-random from a seed, so two
//! revisions of one model share their boot code and part of their sectors, as real
//! revisions do. Never real vendor firmware.

use super::{layout::INQUIRY_TEMPLATE, BANK};
use crate::inference::{seal_embedded_checksum, BOOT_LEN};

#[derive(Clone, Debug)]
pub struct Spec {
    pub vendor: String,
    pub product: String,
    pub revision: String,
    pub size: usize,
}

impl Spec {
    /// A BTC DRW1008-style 1 MiB image of the given revision.
    pub fn btc(revision: &str) -> Spec {
        Spec {
            vendor: "BTC".into(),
            product: "DVDRW IDE1008".into(),
            revision: revision.into(),
            size: 0x100000,
        }
    }
}

/// splitmix64: a small deterministic generator (a dependency is not worth it for this).
struct Mix(u64);
impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

fn seed(parts: &[&[u8]]) -> u64 {
    let crc = crc::Crc::<u64>::new(&crc::CRC_64_ECMA_182);
    let mut d = crc.digest();
    for p in parts {
        d.update(p);
        d.update(&[0]);
    }
    d.finalize()
}

fn pad(s: &str, n: usize) -> Vec<u8> {
    let mut v: Vec<u8> = s.bytes().take(n).collect();
    v.resize(n, b' ');
    v
}

/// Generate the image described by `spec`.
pub fn generate(spec: &Spec) -> Vec<u8> {
    assert!(
        super::SIZES.contains(&spec.size),
        "unsupported size {}",
        spec.size
    );
    let model = format!("{}|{}", spec.vendor, spec.product);
    let mut img = vec![0xFFu8; spec.size];

    // Boot code: depends on the model only; its last 4 KiB is padding.
    Mix(seed(&[model.as_bytes(), b"boot"])).fill(&mut img[3..BOOT_LEN - 0x1000]);
    img[..3].copy_from_slice(&[0x02, 0x01, 0x00]);

    const SECTOR: usize = 0x1000;
    for bank in 0..spec.size / BANK {
        let base = bank * BANK;
        // The last three sectors of each bank are unused (FF).
        for sector in 0..BANK / SECTOR - 3 {
            let start = base + sector * SECTOR;
            if start < BOOT_LEN {
                continue;
            }
            let key = [bank as u8, sector as u8];
            let shared = seed(&[model.as_bytes(), &key, b"share"]) % 10 < 4;
            let rev: &[u8] = if shared {
                b""
            } else {
                spec.revision.as_bytes()
            };
            Mix(seed(&[model.as_bytes(), &key, rev])).fill(&mut img[start..start + SECTOR]);
        }
        if bank > 0 {
            img[base..base + 3].copy_from_slice(&[0x02, (bank as u8) << 4 | 0x01, 0x00]);
        }
    }

    let t = 0x40B4;
    img[t..t + 8].copy_from_slice(&INQUIRY_TEMPLATE);
    img[t + 8..t + 16].copy_from_slice(&pad(&spec.vendor, 8));
    img[t + 16..t + 32].copy_from_slice(&pad(&spec.product, 16));
    img[t + 32..t + 36].copy_from_slice(&pad(&spec.revision, 4));
    seal_embedded_checksum(&mut img);
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firmware::Analysis;

    #[test]
    fn deterministic_and_revisions_share_boot_code() {
        let a = generate(&Spec::btc("0055"));
        let b = generate(&Spec::btc("0758"));
        assert_eq!(a, generate(&Spec::btc("0055")));
        assert_eq!(a[..BOOT_LEN], b[..BOOT_LEN]);
        let differing = a
            .chunks(0x1000)
            .zip(b.chunks(0x1000))
            .filter(|(x, y)| x != y)
            .count();
        // Most used sectors differ, some are shared, padding is equal.
        assert!((100..200).contains(&differing), "{differing}");
        assert!(Analysis::of(&a).bootable() && Analysis::of(&b).bootable());
    }

    #[test]
    fn every_size_is_bootable() {
        for size in crate::firmware::SIZES {
            let s = Spec {
                size,
                ..Spec::btc("0001")
            };
            assert!(Analysis::of(&generate(&s)).bootable(), "{size}");
        }
    }
}
