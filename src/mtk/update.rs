//! The drive's own firmware update over ATAPI packet commands, for working drives:
//! the BTC WRITE BUFFER protocol (protocol.md section 3; the same as btcflash speaks).
//!
//! INQUIRY; WRITE BUFFER mode 6 in 4 KiB chunks at buffer offset image+0x20; a 32-byte
//! block at offset 0 carrying the 16-bit sum in bytes 30..31; WRITE BUFFER mode 7 with
//! no data to commit; leave the drive alone for 50 s while it rewrites itself (as
//! btcflash does); poll TEST UNIT READY until it is ready or reports no medium (btcflash
//! sets no limit; this waits 10 minutes); INQUIRY again. Exactly 1 MiB is uploaded and
//! summed, as btcflash does (protocol.md section 6).

use crate::firmware::sum16;
use crate::inference::BTC_HEADER;
use crate::transport::scsi::{Dir, ScsiResult, ScsiTransport, TransportError};
use std::time::Duration;
use thiserror::Error;

pub const CHUNK: usize = 0x1000;
pub use crate::firmware::BTC_IMAGE_LEN;
/// btcflash sleeps this long after the commit before it polls.
pub const SETTLE: Duration = Duration::from_secs(50);
/// How long to keep polling after the settle time (btcflash: no limit).
pub const READY_LIMIT: Duration = Duration::from_secs(600);

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum UpdateError {
    #[error("{0}")]
    Transport(#[from] TransportError),
    #[error("{step} failed: {result}")]
    Command {
        step: String,
        result: String,
        sent_any: bool,
    },
    #[error("the drive did not become ready within {secs} s after the update")]
    NotReady { secs: u64 },
    #[error("interrupted before the commit")]
    Cancelled,
    #[error("the BTC update takes exactly 1 MiB (btcflash uploads and sums 1 MiB); this image is {len} bytes")]
    Size { len: usize },
}

/// INQUIRY vendor (8), product (16), revision (4), as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inquiry {
    pub vendor: String,
    pub product: String,
    pub revision: String,
}

fn field(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim().to_string()
}

pub fn inquiry<T: ScsiTransport + ?Sized>(t: &mut T) -> Result<Inquiry, UpdateError> {
    let r = t.execute(
        &[0x12, 0, 0, 0, 36, 0],
        Dir::In(36),
        Duration::from_secs(10),
    )?;
    if !r.good() || r.data.len() < 36 {
        return Err(UpdateError::Command {
            step: "INQUIRY".into(),
            result: r.describe(),
            sent_any: false,
        });
    }
    Ok(Inquiry {
        vendor: field(&r.data[8..16]),
        product: field(&r.data[16..32]),
        revision: field(&r.data[32..36]),
    })
}

/// The WRITE BUFFER CDB for one upload at `buffer_offset`, `len` bytes.
pub fn write_buffer_cdb(mode: u8, buffer_offset: usize, len: usize) -> [u8; 10] {
    [
        0x3B,
        mode,
        0,
        (buffer_offset >> 16) as u8,
        (buffer_offset >> 8) as u8,
        buffer_offset as u8,
        (len >> 16) as u8,
        (len >> 8) as u8,
        len as u8,
        0,
    ]
}

fn check(step: impl Into<String>, r: ScsiResult, sent_any: bool) -> Result<(), UpdateError> {
    if r.good() {
        Ok(())
    } else {
        Err(UpdateError::Command {
            step: step.into(),
            result: r.describe(),
            sent_any,
        })
    }
}

/// Upload and commit `image`; `progress(done, total)` after each chunk returns false to
/// stop before the commit (nothing is changed then). Returns the identity after the
/// drive rebooted.
pub fn btc_update<T: ScsiTransport + ?Sized>(
    t: &mut T,
    image: &[u8],
    progress: impl FnMut(usize, usize) -> bool,
) -> Result<Inquiry, UpdateError> {
    btc_update_with(t, image, progress, |_, _| {})
}

/// [`btc_update`], telling `waiting(waited, limit)` once a second while the drive
/// rewrites itself after the commit.
pub fn btc_update_with<T: ScsiTransport + ?Sized>(
    t: &mut T,
    image: &[u8],
    mut progress: impl FnMut(usize, usize) -> bool,
    mut waiting: impl FnMut(Duration, Duration),
) -> Result<Inquiry, UpdateError> {
    if image.len() != BTC_IMAGE_LEN {
        return Err(UpdateError::Size { len: image.len() });
    }
    let timeout = Duration::from_secs(60);
    for (i, chunk) in image.chunks(CHUNK).enumerate() {
        let off = i * CHUNK;
        let cdb = write_buffer_cdb(6, off + BTC_HEADER, chunk.len());
        let r = t.execute(&cdb, Dir::Out(chunk), timeout)?;
        // A refusal of the very first chunk means nothing was taken: not a BTC updater.
        check(format!("WRITE BUFFER at 0x{off:06X}"), r, off > 0)?;
        if !progress(off + chunk.len(), image.len()) {
            return Err(UpdateError::Cancelled);
        }
    }
    let mut header = [0u8; BTC_HEADER];
    header[BTC_HEADER - 2..].copy_from_slice(&sum16(image).to_be_bytes());
    let r = t.execute(
        &write_buffer_cdb(6, 0, BTC_HEADER),
        Dir::Out(&header),
        timeout,
    )?;
    check("WRITE BUFFER (checksum)", r, true)?;
    let r = t.execute(
        &write_buffer_cdb(7, 0, 0),
        Dir::None,
        Duration::from_secs(300),
    )?;
    check("WRITE BUFFER (commit)", r, true)?;
    // The drive rewrites its flash and reboots; btcflash leaves it alone for 50 s.
    let limit = SETTLE + READY_LIMIT;
    let second = Duration::from_secs(1);
    let mut waited = Duration::ZERO;
    while waited < SETTLE {
        waiting(waited, limit);
        t.sleep(second);
        waited += second;
    }
    let mut ready = false;
    while waited < limit {
        waiting(waited, limit);
        match t.execute(&[0, 0, 0, 0, 0, 0], Dir::None, Duration::from_secs(10)) {
            Ok(r) if r.good() => ready = true,
            Ok(r) => {
                if let Some(s) = r.sense_info() {
                    ready = s.key == 2 && s.asc == 0x3A; // ready, no disc
                }
            }
            Err(_) => {} // the drive may drop off the bus while it reboots
        }
        if ready {
            break;
        }
        t.sleep(second);
        waited += second;
    }
    if !ready {
        return Err(UpdateError::NotReady {
            secs: limit.as_secs(),
        });
    }
    let mut last = Err(UpdateError::NotReady {
        secs: limit.as_secs(),
    });
    for _ in 0..3 {
        last = inquiry(t);
        if last.is_ok() {
            break;
        }
        t.sleep(second);
    }
    last
}
