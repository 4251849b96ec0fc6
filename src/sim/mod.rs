//! The virtual drive: flash-chip models, the MediaTek drive at packet and register
//! level, and its persistence on disk.

pub mod chip;
pub mod drive;
pub mod fault;
pub mod packet;
pub mod replay;
#[cfg(unix)]
pub mod serve;
pub mod store;
pub mod taskfile;
pub mod timing;

pub use drive::{Drive, Flash, Mode, Settings};
pub use taskfile::SimChannel;

use crate::chips::ChipInfo;

/// A powered virtual drive with this flash content, as the master on the secondary
/// channel (port 3, 0x170), the classic place for a drive being flashed.
pub fn channel(chip: &'static ChipInfo, image: Vec<u8>, settings: Settings) -> SimChannel {
    let crc = drive::boot_crc(&image);
    SimChannel::new(
        Drive::new(Flash::new(chip, image), settings, crc),
        0x170,
        false,
    )
}

/// Settings for a BTC DVDRW IDE1008 of the given revision.
pub fn btc_settings(rev: &str) -> Settings {
    Settings {
        vendor: "BTC".into(),
        product: "DVDRW IDE1008".into(),
        revision: rev.into(),
    }
}
