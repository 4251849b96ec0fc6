//! The later MediaTek drives, flashed by their own firmware over SCSI commands (no vendor
//! mode, no task file; any controller or USB bridge): protocol.md section 7, from
//! redumper (RD, `drive/flash_mt1959.ixx`, `drive/flash_tsst.ixx`) and freemkv-flash
//! (FMK, `crates/freemkv-flash/src/drive/mtk.rs`).
//!
//! - `mt1959`: MT1959/MT1939 Blu-ray writers (LG/HL-DT-ST, ASUS). A 2 MiB image sent
//!   with WRITE BUFFER mode 1 (prepare), then mode 6 in 16 KiB chunks with offsets; the
//!   drive erases and programs when the last chunk lands and answers NOT READY while it
//!   does. READ BUFFER mode 6 reads its memory window.
//! - `mt1339`: MT1339 drives (TSST). The vendor CDB `FF 00 01 00 00 <mode>` with blocks
//!   of 0xFC00: mode 00 first, FF for the following, 04 for the last block of a 256 KiB
//!   image (02 for 128 KiB).
//!
//! Everything here is pure: CDBs and the command sequence of an upload (the layout is
//! `firmware::family`). `ops::family` runs them.

pub use crate::firmware::family::*;
use crate::inference;
use std::ops::Range;

/// READ BUFFER mode 6 (read drive memory): `3C 06 00 <off 24> <len 24> 00`, laid out
/// as WRITE BUFFER is.
pub fn read_buffer_cdb(off: usize, len: usize) -> [u8; 10] {
    let mut c = write_buffer_cdb(6, off, len);
    c[0] = 0x3C;
    c
}

/// WRITE BUFFER (10-byte, as RD sends it): `3B <mode> 00 <off 24> <len 24> 00`.
pub fn write_buffer_cdb(mode: u8, off: usize, len: usize) -> [u8; 10] {
    crate::mtk::update::write_buffer_cdb(mode, off, len)
}

/// GET CONFIGURATION, one feature (RT = 2): `46 02 <feature> 00 00 00 <alloc> 00`.
pub fn get_configuration_cdb(feature: u16, alloc: u16) -> [u8; 10] {
    let [fh, fl] = feature.to_be_bytes();
    let [ah, al] = alloc.to_be_bytes();
    [0x46, 0x02, fh, fl, 0, 0, 0, ah, al, 0]
}

/// The MT1339 vendor CDB: `FF 00 01 00 00 <mode> 00 00 00 00 00 00`.
pub fn mt1339_cdb(mode: u8) -> [u8; 12] {
    [0xFF, 0, 1, 0, 0, mode, 0, 0, 0, 0, 0, 0]
}

/// One command of an upload and the image bytes it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub cdb: Vec<u8>,
    pub data: Range<usize>,
}

impl Step {
    /// "3B0600004000004000 00 (16384 bytes at 0x004000)".
    pub fn describe(&self) -> String {
        let what = match (self.cdb[0], self.cdb.get(1), self.cdb.get(5)) {
            (0x3B, Some(1), _) => "WRITE BUFFER mode 1 (prepare)".to_string(),
            (0x3B, Some(6), _) => "WRITE BUFFER mode 6".to_string(),
            (0x3B, Some(7), _) => "WRITE BUFFER mode 7 (commit)".to_string(),
            (0xFF, _, Some(m)) => format!("vendor FF, mode {m:02X}"),
            _ => "command".to_string(),
        };
        let data = if self.data.is_empty() {
            "no data".to_string()
        } else {
            format!(
                "{} bytes of image 0x{:06X}",
                self.data.len(),
                self.data.start
            )
        };
        format!("{}  {what}, {data}", hex::encode_upper(&self.cdb))
    }
}

/// The commands that upload an image of `len` bytes, in order; the drive programs when
/// the last one lands. MT1959: RD's sequence (inference I18 says why not FMK's).
pub fn upload_steps(family: Family, len: usize) -> Result<Vec<Step>, String> {
    if !family.image_lens().contains(&len) {
        return Err(format!(
            "the {} updater takes {}; the image is {len} bytes",
            family.name(),
            family
                .image_lens()
                .iter()
                .map(|l| format!("{} KiB", l / 1024))
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    }
    Ok(match family {
        Family::Mt1959 => {
            let mut v = vec![Step {
                cdb: write_buffer_cdb(1, 0, 0).to_vec(),
                data: 0..0,
            }];
            v.extend((0..len).step_by(MT1959_CHUNK).map(|off| Step {
                cdb: write_buffer_cdb(6, off, MT1959_CHUNK).to_vec(),
                data: off..off + MT1959_CHUNK,
            }));
            if inference::MT1959_COMMIT {
                v.push(Step {
                    cdb: vec![0x3B, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0x1B, 0x12],
                    data: 0..0,
                });
            }
            v
        }
        Family::Mt1339 => {
            let blocks: Vec<Range<usize>> = (0..len)
                .step_by(MT1339_BLOCK)
                .map(|s| s..(s + MT1339_BLOCK).min(len))
                .collect();
            let last = blocks.len() - 1;
            let last_mode = if len == MT1339_LEN { 0x04 } else { 0x02 };
            blocks
                .into_iter()
                .enumerate()
                .map(|(i, data)| Step {
                    cdb: mt1339_cdb(match i {
                        0 => 0x00,
                        _ if i == last => last_mode,
                        _ => 0xFF,
                    })
                    .to_vec(),
                    data,
                })
                .collect()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdbs_are_the_sources_bytes() {
        // protocol.md section 7: `3C 06 00 <off 24> <len 24> 00`.
        assert_eq!(
            read_buffer_cdb(0x1E_C000, 0x100),
            [0x3C, 6, 0, 0x1E, 0xC0, 0x00, 0, 0x01, 0x00, 0]
        );
        // RD's prepare: `3B 01 00 00 00 00 00 00 00 00`.
        assert_eq!(write_buffer_cdb(1, 0, 0), [0x3B, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            write_buffer_cdb(6, 0x1F_C000, 0x4000),
            [0x3B, 6, 0, 0x1F, 0xC0, 0, 0, 0x40, 0, 0]
        );
        assert_eq!(mt1339_cdb(0xFF), [0xFF, 0, 1, 0, 0, 0xFF, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            get_configuration_cdb(FEATURE_SERIAL, 0x40),
            [0x46, 2, 0x01, 0x08, 0, 0, 0, 0, 0x40, 0]
        );
    }

    #[test]
    fn an_mt1959_upload_is_a_prepare_and_128_chunks_in_order() {
        let s = upload_steps(Family::Mt1959, MT1959_LEN).unwrap();
        let chunks = &s[1..1 + 128];
        assert_eq!(s[0].cdb[..2], [0x3B, 1]);
        assert!(s[0].data.is_empty());
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.data, i * 0x4000..(i + 1) * 0x4000);
            assert_eq!(c.cdb, write_buffer_cdb(6, i * 0x4000, 0x4000));
        }
        assert_eq!(s.len(), 129 + usize::from(inference::MT1959_COMMIT));
        assert!(upload_steps(Family::Mt1959, 0x10_0000)
            .unwrap_err()
            .contains("2048 KiB"));
    }

    #[test]
    fn mt1339_modes_are_first_continue_last() {
        let s = upload_steps(Family::Mt1339, MT1339_LEN).unwrap();
        let modes: Vec<u8> = s.iter().map(|x| x.cdb[5]).collect();
        assert_eq!(modes, [0x00, 0xFF, 0xFF, 0xFF, 0x04]);
        assert_eq!(s[4].data, 4 * 0xFC00..MT1339_LEN);
        let s = upload_steps(Family::Mt1339, MT1339_LEN_SMALL).unwrap();
        let modes: Vec<u8> = s.iter().map(|x| x.cdb[5]).collect();
        assert_eq!(modes, [0x00, 0xFF, 0x02]);
        let covered: usize = s.iter().map(|x| x.data.len()).sum();
        assert_eq!(covered, MT1339_LEN_SMALL);
    }
}
