//! Who a drive says it is: IDENTIFY PACKET DEVICE and INQUIRY over the task file. A
//! drive that aborts IDENTIFY PACKET and posts no ATAPI signature runs boot code only.

use crate::report::Event;
use crate::transport::ata::{ata_string, Ata, AtaError, DataDir};
use crate::transport::PortIo;
use std::time::Duration;

/// Who the drive says it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// A working ATAPI drive.
    Atapi {
        vendor: String,
        product: String,
        revision: String,
        model: String,
    },
    /// Runs boot code only: no IDENTIFY PACKET, no INQUIRY.
    BootOnly,
}

impl Identity {
    pub fn describe(&self) -> String {
        match self {
            Identity::Atapi {
                vendor,
                product,
                revision,
                ..
            } => format!("{vendor} {product} {revision}"),
            Identity::BootOnly => "no identity (the drive runs its boot code only)".into(),
        }
    }

    /// The `identity` event (mode "firmware" or "boot-only").
    pub fn event(&self) -> Event {
        match self {
            Identity::Atapi {
                vendor,
                product,
                revision,
                ..
            } => Event::Identity {
                vendor: vendor.clone(),
                product: product.clone(),
                revision: revision.clone(),
                mode: "firmware".into(),
            },
            Identity::BootOnly => Event::Identity {
                vendor: String::new(),
                product: String::new(),
                revision: String::new(),
                mode: "boot-only".into(),
            },
        }
    }
}

/// Ask the drive on `ata` who it is.
pub fn identify<P: PortIo>(ata: &mut Ata<P>) -> Result<Identity, AtaError> {
    if ata.status() == 0xFF {
        return Err(AtaError::NoDevice {
            at: ata.ch.describe(),
            status: 0xFF,
        });
    }
    let words = match ata.identify_packet() {
        Ok(w) => w,
        Err(AtaError::Aborted { .. }) => return Ok(Identity::BootOnly),
        Err(e) => return Err(e),
    };
    let model = ata_string(&words[27..47]);
    let mut buf = Vec::new();
    let cdb = [0x12, 0, 0, 0, 96, 0, 0, 0, 0, 0, 0, 0];
    let out = ata.packet(&cdb, DataDir::In(96), &mut buf, Duration::from_secs(10))?;
    if out.check_condition() || buf.len() < 36 {
        return Ok(Identity::Atapi {
            vendor: String::new(),
            product: model.clone(),
            revision: ata_string(&words[23..27]),
            model,
        });
    }
    let f = |r: std::ops::Range<usize>| String::from_utf8_lossy(&buf[r]).trim().to_string();
    Ok(Identity::Atapi {
        vendor: f(8..16),
        product: f(16..32),
        revision: f(32..36),
        model,
    })
}
