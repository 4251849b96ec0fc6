//! The virtual drive's packet-level face: a [`ScsiTransport`] that hands CDBs straight to
//! the drive model, as an OS pass-through interface (SG_IO, SPTI) would to a real drive.

use super::drive::Drive;
use super::timing::{DATA_WORD_NS, PACKET_EXEC_NS};
use crate::clock::{Clock, VirtualClock};
use crate::transport::scsi::{Dir, ScsiResult, ScsiTransport, TransportError};
use std::time::Duration;

/// Cost of one pass-through command beyond the drive's own work: the OS round trip and
/// the PACKET protocol (a guess of 100 us, of the order of an ioctl plus a few register
/// cycles).
pub const PASSTHROUGH_NS: u64 = 100_000;

pub struct SimPacket {
    pub drive: Drive,
    pub clock: VirtualClock,
    pub commands: u64,
}

impl SimPacket {
    pub fn new(drive: Drive) -> SimPacket {
        SimPacket {
            drive,
            clock: VirtualClock::new(),
            commands: 0,
        }
    }
}

impl ScsiTransport for SimPacket {
    fn execute(
        &mut self,
        cdb: &[u8],
        dir: Dir<'_>,
        _timeout: Duration,
    ) -> Result<ScsiResult, TransportError> {
        if self.drive.mode != super::Mode::Normal && self.drive.updating.is_none() {
            // Boot code and vendor mode do not speak ATAPI: the OS sees an aborted command.
            return Err(TransportError::Host {
                path: "virtual drive".into(),
                host: 0,
                driver: 0x06,
            });
        }
        self.commands += 1;
        let out: &[u8] = match dir {
            Dir::Out(d) => d,
            _ => &[],
        };
        let bytes = out.len() + if let Dir::In(n) = dir { n } else { 0 };
        self.clock
            .advance_ns(PASSTHROUGH_NS + PACKET_EXEC_NS + bytes as u64 / 2 * DATA_WORD_NS);
        let r = self.drive.packet(cdb, out, self.clock.ns());
        let mut data = r.data_in;
        if let Dir::In(n) = dir {
            data.truncate(n);
        }
        Ok(match r.check {
            None => ScsiResult {
                status: 0,
                sense: Vec::new(),
                data,
            },
            Some(s) => ScsiResult {
                status: 0x02,
                sense: crate::transport::scsi::fixed_sense(s.key, s.asc, s.ascq),
                data,
            },
        })
    }
    fn describe(&self) -> String {
        "virtual drive (packet face)".into()
    }
    fn sleep(&mut self, d: Duration) {
        self.clock.sleep(d);
    }
    fn modelled(&self) -> Option<Duration> {
        Some(self.clock.now())
    }
}
