//! The PACKET command's phases on the virtual task file: the CDB coming in word by word,
//! data going out in byte-count-limited pieces, and the status at the end.

use super::*;

impl SimChannel {
    pub(super) fn complete_packet(&mut self, check: Option<Sense>) {
        self.phase = Phase::Idle;
        self.nsect = 0x03; // IO | CoD
        match check {
            None => {
                self.status = READY;
                self.err = 0;
            }
            Some(s) => {
                self.status = READY | ST_ERR;
                self.err = s.key << 4;
            }
        }
    }

    pub(super) fn start_data_in(&mut self, data: Vec<u8>, bcl: usize, check: Option<Sense>) {
        if data.is_empty() {
            return self.complete_packet(check);
        }
        let block = data.len().min(bcl);
        self.lbam = block as u8;
        self.lbah = (block >> 8) as u8;
        self.nsect = 0x02; // IO
        self.status = READY | ST_DRQ;
        self.phase = Phase::PacketIn {
            data,
            pos: 0,
            block_end: block,
            bcl,
            check,
        };
    }

    pub(super) fn cdb_received(&mut self, cdb: Vec<u8>, bcl: usize) {
        self.busy_for(PACKET_EXEC_NS);
        let need = self.drive.data_out_len(&cdb);
        if need > 0 {
            let block = need.min(bcl);
            self.lbam = block as u8;
            self.lbah = (block >> 8) as u8;
            self.nsect = 0x00; // data out
            self.status = READY | ST_DRQ;
            self.phase = Phase::PacketOut {
                cdb,
                data: Vec::with_capacity(need),
                need,
                block_end: block,
                bcl,
            };
            return;
        }
        let now = self.now();
        let mut r = self.drive.packet(&cdb, &[], now);
        if cdb[0] == 0x3C && self.drive.unit.is_some() {
            // A flaky path flips bits of the drive's memory read over READ BUFFER too.
            self.flip_bytes(&mut r.data_in);
        }
        self.start_data_in(r.data_in, bcl, r.check);
    }

    pub(super) fn data_read(&mut self) -> u16 {
        if self.now() < self.busy_until {
            return 0xFFFF;
        }
        match &mut self.phase {
            Phase::PioIn { buf, pos } => {
                let w = u16::from_le_bytes([buf[*pos], buf[*pos + 1]]);
                *pos += 2;
                if *pos >= buf.len() {
                    self.phase = Phase::Idle;
                    self.status = READY;
                }
                w
            }
            Phase::PacketIn {
                data,
                pos,
                block_end,
                bcl,
                check,
            } => {
                let lo = data[*pos];
                let hi = data.get(*pos + 1).copied().unwrap_or(0);
                *pos += 2;
                if *pos >= *block_end {
                    if *pos >= data.len() {
                        let c = *check;
                        self.complete_packet(c);
                    } else {
                        let block = (data.len() - *pos).min(*bcl);
                        *block_end = *pos + block;
                        self.lbam = block as u8;
                        self.lbah = (block >> 8) as u8;
                        self.busy_for(CMD_NS);
                    }
                }
                u16::from_le_bytes([lo, hi])
            }
            _ => 0xFFFF,
        }
    }

    pub(super) fn data_write(&mut self, w: u16) {
        if self.now() < self.busy_until {
            return;
        }
        match &mut self.phase {
            Phase::Cdb { buf, bcl } => {
                buf.extend_from_slice(&w.to_le_bytes());
                if buf.len() >= 12 {
                    let (cdb, bcl) = (std::mem::take(buf), *bcl);
                    self.cdb_received(cdb, bcl);
                }
            }
            Phase::PacketOut {
                cdb,
                data,
                need,
                block_end,
                bcl,
            } => {
                for b in w.to_le_bytes() {
                    if data.len() < *need {
                        data.push(b);
                    }
                }
                if data.len() >= *block_end {
                    if data.len() >= *need {
                        let (cdb, data, bcl) = (std::mem::take(cdb), std::mem::take(data), *bcl);
                        let now = self.now();
                        let r = self.drive.packet(&cdb, &data, now);
                        self.busy_for(PACKET_EXEC_NS);
                        self.start_data_in(r.data_in, bcl, r.check);
                    } else {
                        let block = (*need - data.len()).min(*bcl);
                        *block_end = data.len() + block;
                        self.lbam = block as u8;
                        self.lbah = (block >> 8) as u8;
                        self.busy_for(CMD_NS);
                    }
                }
            }
            _ => {}
        }
    }
}
