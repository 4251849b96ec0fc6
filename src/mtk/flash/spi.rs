//! SPI NOR flash over an SPI transaction bus: RDID/REMS/RES identification, block
//! protection, erase, page / byte / SST AAI program, read.

use super::{FlashOps, SpiBus, SpiData};
use crate::chips::{self, ChipInfo, Eraser, WriteMode};
use crate::clock::poll_until;
use crate::mtk::vendor::VendorError;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpiProbe {
    /// RDID (9F), four bytes: 7F-continued IDs (AMIC) need the fourth.
    pub rdid: [u8; 4],
    pub rems: (u8, u8),
    pub candidates: Vec<&'static ChipInfo>,
}

impl SpiProbe {
    pub fn ids(&self) -> String {
        let n = if self.rdid[0] == 0x7F { 4 } else { 3 };
        format!(
            "RDID {} REMS {:02X} {:02X}",
            hex::encode_upper(&self.rdid[..n]),
            self.rems.0,
            self.rems.1
        )
    }
}

/// Identify: RDID (4 bytes) first, as flashrom; REMS when RDID finds nothing.
pub fn probe<B: SpiBus>(bus: &mut B) -> Result<SpiProbe, VendorError> {
    let r = bus.transfer(&[0x9F], 4)?;
    let rdid = [r[0], r[1], r[2], r[3]];
    let m = bus.transfer(&[0x90, 0, 0, 0], 2)?;
    let rems = (m[0], m[1]);
    let mut candidates = Vec::new();
    if rdid[..3] != [0xFF; 3] && rdid[..3] != [0; 3] {
        candidates = chips::by_rdid(&rdid);
    }
    if candidates.is_empty() && rems != (0xFF, 0xFF) && rems != (0, 0) {
        // The 0x90 fallback for chips whose RDID did not answer.
        candidates = chips::by_rems(rems);
    }
    Ok(SpiProbe {
        rdid,
        rems,
        candidates,
    })
}

pub struct SpiDriver<B: SpiBus> {
    pub bus: B,
    pub info: &'static ChipInfo,
    saved_sr: Option<u8>,
}

impl<B: SpiBus> SpiDriver<B> {
    pub fn new(bus: B, info: &'static ChipInfo) -> Self {
        SpiDriver {
            bus,
            info,
            saved_sr: None,
        }
    }

    pub fn status(&mut self) -> Result<u8, VendorError> {
        Ok(self.bus.transfer(&[0x05], 1)?[0])
    }

    /// Poll RDSR until `done(status, time since `start`)`; `Ok(false)` when `limit`
    /// ran out.
    fn poll_status(
        &mut self,
        start: Duration,
        limit: Duration,
        mut done: impl FnMut(u8, Duration) -> bool,
    ) -> Result<bool, VendorError> {
        let mut err = None;
        let r = poll_until(&mut self.bus, limit, |bus| match bus.transfer(&[0x05], 1) {
            Ok(v) => {
                let since = bus.clock().now().saturating_sub(start);
                done(v[0], since).then_some(())
            }
            Err(e) => {
                err = Some(e);
                Some(())
            }
        });
        match err {
            Some(e) => Err(e),
            None => Ok(r.is_some()),
        }
    }

    /// Poll until the chip is ready (WIP clear). A ready status sooner than `typical`
    /// (the datasheet time of a program; `Duration::MAX` for erases and status writes,
    /// where one more poll is nothing next to milliseconds of work) must be read twice
    /// in a row: one misread bit in a busy status must not end the wait while the chip
    /// still works (the next command would be ignored). After `typical`, one ready read
    /// ends it, so the guard costs nothing per byte or word on a sound connection; a
    /// program running past its datasheet time has that one read's exposure. A program
    /// is first given its typical time, timed so that the first status read samples
    /// the chip just after it (the bus says how long into a status read that is): a
    /// poll that could only see it busy is not sent.
    fn wait_ready(
        &mut self,
        limit: Duration,
        typical: Duration,
        what: &'static str,
        addr: u32,
    ) -> Result<(), VendorError> {
        let start = self.bus.clock().now();
        if typical != Duration::MAX {
            let lead = self.bus.status_lead();
            self.bus.clock().sleep(typical.saturating_sub(lead));
        }
        let mut ready = 0;
        let done = |s: u8, since: Duration| {
            ready = if s & 0x01 == 0 { ready + 1 } else { 0 };
            ready >= 2 || (ready == 1 && since >= typical)
        };
        if self.poll_status(start, limit, done)? {
            Ok(())
        } else {
            Err(VendorError::ChipTimeout {
                what,
                addr,
                ms: limit.as_millis() as u64,
            })
        }
    }

    fn write_status(&mut self, v: u8) -> Result<(), VendorError> {
        let enable = if self.info.spi_status().ewsr {
            0x50
        } else {
            0x06
        };
        self.bus.transfer(&[enable], 0)?;
        self.bus.transfer(&[0x01, v], 0)?;
        self.wait_ready(
            Duration::from_millis(200),
            Duration::MAX,
            "writing the status register",
            0,
        )
    }

    fn limit(us: u64) -> Duration {
        Duration::from_micros(us * 20).max(Duration::from_millis(5))
    }

    /// WREN, then RDSR until the write-enable latch reads set, as JF does before every
    /// erase and page program (it waits for the status to read 0x02).
    fn wren(&mut self) -> Result<(), VendorError> {
        self.bus.transfer(&[0x06], 0)?;
        let now = self.bus.clock().now();
        if self.poll_status(now, Duration::from_millis(50), |s, _| s & 0x03 == 0x02)? {
            Ok(())
        } else {
            Err(VendorError::Other(
                "the flash chip did not set its write-enable latch after WREN".to_string(),
            ))
        }
    }
}

fn cmd_addr(op: u8, a: u32) -> [u8; 4] {
    [op, (a >> 16) as u8, (a >> 8) as u8, a as u8]
}

impl<B: SpiBus> FlashOps for SpiDriver<B> {
    fn info(&self) -> &'static ChipInfo {
        self.info
    }

    /// Clear the block-protect bits, remembering them for [`FlashOps::restore`].
    fn prepare(&mut self) -> Result<(), VendorError> {
        let sr = self.status()?;
        let bp = sr & self.info.spi_status().bp_mask;
        if bp != 0 {
            self.saved_sr = Some(sr);
            self.write_status(sr & !self.info.spi_status().bp_mask & !0x80)?;
            let now = self.status()?;
            if now & self.info.spi_status().bp_mask != 0 {
                return Err(VendorError::Other(format!(
                    "the flash chip stays write-protected (status 0x{now:02X}): its WP# pin may be held low"
                )));
            }
        }
        Ok(())
    }

    fn restore(&mut self) -> Result<(), VendorError> {
        if let Some(sr) = self.saved_sr.take() {
            self.write_status(sr & !0x03)?;
        }
        Ok(())
    }

    fn read(&mut self, addr: u32, buf: &mut [u8]) -> Result<(), VendorError> {
        let chunk = (self.bus.max_transfer() - 4).min(256);
        for (i, part) in buf.chunks_mut(chunk).enumerate() {
            let a = addr + (i * chunk) as u32;
            let got = self
                .bus
                .transfer_data(&cmd_addr(0x03, a), part.len(), SpiData::READ)?;
            part.copy_from_slice(&got);
        }
        Ok(())
    }

    fn erase(&mut self, e: &Eraser, addr: u32) -> Result<(), VendorError> {
        self.wren()?;
        if e.is_chip_erase(self.info.size) {
            self.bus.transfer(&[e.cmd], 0)?;
        } else {
            self.bus.transfer(&cmd_addr(e.cmd, addr), 0)?;
        }
        let limit = Duration::from_micros(e.time.us * 10) + Duration::from_secs(1);
        self.wait_ready(limit, Duration::MAX, "erasing", addr)
    }

    fn program(&mut self, addr: u32, data: &[u8]) -> Result<(), VendorError> {
        let limit = Self::limit(self.info.program.us);
        let typical = Duration::from_micros(self.info.program.us);
        match self.info.write {
            WriteMode::SpiPage { page } => {
                // Transactions: 02 + address + the non-FF span of each page piece.
                let mut txs: Vec<(u32, u32, Vec<u8>)> = Vec::new();
                let mut off = 0usize;
                while off < data.len() {
                    let a = addr + off as u32;
                    let room = (page - a % page) as usize;
                    let part = &data[off..(off + room).min(data.len())];
                    off += part.len();
                    let Some(first) = part.iter().position(|&b| b != 0xFF) else {
                        continue;
                    };
                    let last = part
                        .iter()
                        .rposition(|&b| b != 0xFF)
                        .expect("has a non-FF byte");
                    let mut tx = cmd_addr(0x02, a + first as u32).to_vec();
                    tx.extend_from_slice(&part[first..=last]);
                    txs.push((a, a + first as u32, tx));
                }
                // Each page staged whole right before it runs (I16 withdrawn: nothing
                // shows that a drive keeps staged bytes while the chip programs).
                for (a, data_at, tx) in &txs {
                    self.wren()?;
                    self.bus
                        .transfer_data(tx, 0, SpiData::program(4, *data_at))?;
                    self.wait_ready(limit, typical, "programming a page", *a)?;
                }
            }
            WriteMode::SpiByte => {
                for (i, &b) in data.iter().enumerate() {
                    if b != 0xFF {
                        let a = addr + i as u32;
                        self.wren()?;
                        let c = cmd_addr(0x02, a);
                        self.bus.transfer_data(
                            &[c[0], c[1], c[2], c[3], b],
                            0,
                            SpiData::program(4, a),
                        )?;
                        self.wait_ready(limit, typical, "programming", a)?;
                    }
                }
            }
            WriteMode::SpiAaiWord => {
                // Word-aligned runs of words that hold something to program.
                let start = addr & !1;
                let mut buf = vec![0xFF; (addr - start) as usize];
                buf.extend_from_slice(data);
                if buf.len() % 2 == 1 {
                    buf.push(0xFF);
                }
                let words: Vec<[u8; 2]> = buf.chunks(2).map(|c| [c[0], c[1]]).collect();
                let mut i = 0;
                while i < words.len() {
                    if words[i] == [0xFF, 0xFF] {
                        i += 1;
                        continue;
                    }
                    let a = start + 2 * i as u32;
                    self.wren()?;
                    let c = cmd_addr(0xAD, a);
                    self.bus.transfer_data(
                        &[c[0], c[1], c[2], c[3], words[i][0], words[i][1]],
                        0,
                        SpiData::program(4, a),
                    )?;
                    self.wait_ready(limit, typical, "programming (AAI)", a)?;
                    i += 1;
                    while i < words.len() && words[i] != [0xFF, 0xFF] {
                        let at = start + 2 * i as u32;
                        self.bus.transfer_data(
                            &[0xAD, words[i][0], words[i][1]],
                            0,
                            SpiData::program(1, at),
                        )?;
                        self.wait_ready(limit, typical, "programming (AAI)", start + 2 * i as u32)?;
                        i += 1;
                    }
                    self.bus.transfer(&[0x04], 0)?; // WRDI ends AAI
                    self.wait_ready(limit, Duration::MAX, "ending AAI", a)?;
                }
            }
            WriteMode::JedecByte | WriteMode::JedecPage { .. } => {
                return Err(VendorError::Other(format!(
                    "{} is not an SPI chip",
                    self.info.name
                )))
            }
        }
        Ok(())
    }
}
