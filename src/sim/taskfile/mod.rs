//! The virtual drive at ATA register level: implements [`PortIo`] for one channel, so the
//! host's ATA and vendor-mode code runs against it unchanged.
//!
//! Modelled: device selection (the master answers 00 for an absent slave, an empty
//! address reads FF), BSY timing on the virtual clock, SRST and DEVICE RESET with the
//! ATAPI signature (01 01 14 EB), IDENTIFY PACKET DEVICE, polled PIO PACKET with
//! byte-count limit, DRQ blocks and interrupt reason, CHECK CONDITION (status 0x51, sense
//! key in the error register's high nibble), the vendor intro/outro and byte/SPI
//! commands, and the boot-code-only and dead states.

use super::drive::{Drive, Mode, Sense};
use super::timing::*;
use crate::clock::{Clock, Timed, VirtualClock};
use crate::inference;
use crate::transport::PortIo;

mod packet_io;

pub const ST_BSY: u8 = 0x80;
pub const ST_DRDY: u8 = 0x40;
pub const ST_DSC: u8 = 0x10;
pub const ST_DRQ: u8 = 0x08;
pub const ST_ERR: u8 = 0x01;
const READY: u8 = ST_DRDY | ST_DSC;

#[derive(Debug)]
enum Phase {
    Idle,
    /// PIO data-in of a non-packet command (IDENTIFY PACKET).
    PioIn {
        buf: Vec<u8>,
        pos: usize,
    },
    Cdb {
        buf: Vec<u8>,
        bcl: usize,
    },
    PacketIn {
        data: Vec<u8>,
        pos: usize,
        block_end: usize,
        bcl: usize,
        check: Option<Sense>,
    },
    PacketOut {
        cdb: Vec<u8>,
        data: Vec<u8>,
        need: usize,
        block_end: usize,
        bcl: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EventKind {
    /// An erase started.
    Erase,
    /// Programming reached a new 64 KiB bank.
    Program,
}

/// A flash event and the bus-operation count at which it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FlashEvent {
    pub op: u64,
    pub kind: EventKind,
    pub addr: u32,
}

pub struct SimChannel {
    pub drive: Drive,
    pub clock: VirtualClock,
    pub cmd_base: u16,
    pub ctl_base: u16,
    /// The drive is the slave (device 1) on this channel.
    pub slave: bool,
    feat: u8,
    err: u8,
    nsect: u8,
    lbal: u8,
    lbam: u8,
    lbah: u8,
    dev: u8,
    devctl: u8,
    status: u8,
    busy_until: u64,
    phase: Phase,
    /// Register and data-port accesses so far.
    pub ops: u64,
    pub faults: super::fault::Faults,
    /// When set, flash events are logged with the bus-operation count at which they
    /// happened (for fault campaigns that aim power cuts at them).
    pub record: Option<Vec<FlashEvent>>,
    /// False after a power-loss fault: everything floats until the next power-on.
    pub powered: bool,
    /// When the drive was last powered on (None: long before this command).
    pub powered_at: Option<u64>,
    rng: crate::rng::SplitMix,
}

impl SimChannel {
    /// A drive on a channel at `cmd_base` (control block at cmd_base + 0x206, as on
    /// legacy channels).
    pub fn new(drive: Drive, cmd_base: u16, slave: bool) -> SimChannel {
        let mut s = SimChannel {
            drive,
            clock: VirtualClock::new(),
            cmd_base,
            ctl_base: cmd_base + 0x206,
            slave,
            feat: 0,
            err: 0,
            nsect: 0,
            lbal: 0,
            lbam: 0,
            lbah: 0,
            dev: 0,
            devctl: 0,
            status: 0,
            busy_until: 0,
            phase: Phase::Idle,
            ops: 0,
            faults: super::fault::Faults::default(),
            record: None,
            powered: true,
            powered_at: None,
            rng: crate::rng::SplitMix(0),
        };
        s.signature();
        s
    }

    fn now(&self) -> u64 {
        self.clock.ns()
    }

    /// Install faults (chip-level ones go to the flash model).
    pub fn set_faults(&mut self, f: super::fault::Faults) {
        self.drive.flash.set_faults(&f);
        self.rng = crate::rng::SplitMix(f.read_flip.map(|r| r.1).unwrap_or(0));
        self.faults = f;
    }

    /// The drive needs a power cycle before it works again (power lost, chip stuck).
    pub fn needs_power_on(&self) -> bool {
        !self.powered || self.drive.flash.is_stuck()
    }

    fn busy_for(&mut self, ns: u64) {
        self.busy_until = self.now() + ns;
    }

    fn selected(&self) -> bool {
        (self.dev & 0x10 != 0) == self.slave
    }

    /// Registers after reset or boot, by what the drive runs.
    fn signature(&mut self) {
        self.phase = Phase::Idle;
        self.err = 0x01; // diagnostic code: no error
        self.nsect = 0x01;
        self.lbal = 0x01;
        match self.drive.mode {
            Mode::Normal => {
                self.lbam = 0x14;
                self.lbah = 0xEB;
                self.status = 0x00;
            }
            _ => {
                // Inference I7: boot code posts no ATAPI signature.
                self.lbam = 0x00;
                self.lbah = 0x00;
                self.status = READY;
            }
        }
    }

    fn abort(&mut self) {
        self.phase = Phase::Idle;
        self.err = 0x04;
        self.status = match self.drive.mode {
            Mode::Vendor => self.drive.vendor_status() | ST_ERR,
            Mode::BootOnly | Mode::Outro => inference::BOOT_ONLY_STATUS,
            _ => READY | ST_ERR,
        };
        self.busy_for(CMD_NS);
    }

    /// Reboot from flash (DEVICE RESET after the outro, SRST, power-on).
    fn reboot(&mut self) {
        self.drive.boot();
        self.signature();
        self.busy_for(inference::BOOT_NS);
    }

    fn command(&mut self, cmd: u8) {
        if !self.selected() || self.now() < self.busy_until {
            return;
        }
        self.err = 0;
        let mode = self.drive.mode;
        let mut intro = cmd == 0x80 && self.lbal == 0x2A;
        if intro && (self.faults.no_intro || self.drive.unit.is_some()) {
            intro = false; // (a later family's drive has no vendor mode)
        }
        if let (true, Some(ms)) = (intro, self.faults.intro_window_ms) {
            let since = self.powered_at.map(|t| self.now().saturating_sub(t));
            if since.map(|d| d > ms * 1_000_000).unwrap_or(true) {
                intro = false; // the boot code no longer listens
            }
        }
        if let (true, Some(ms)) = (intro, self.faults.intro_late_ms) {
            let since = self.powered_at.map(|t| self.now().saturating_sub(t));
            // Unknown power-on time: it has been on for a while, and has started.
            if since.is_some_and(|d| d < ms * 1_000_000) {
                intro = false; // still starting: the boot code does not listen yet
            }
        }
        match (mode, cmd) {
            (Mode::Dead, _) => {}
            (Mode::Normal, _) if intro && inference::INTRO_IN_NORMAL_MODE => self.enter_vendor(),
            (Mode::BootOnly, _) | (Mode::Vendor, _) if intro => self.enter_vendor(),
            (Mode::Normal, 0xA1) => {
                let words = self.drive.identify_packet();
                let buf = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                self.phase = Phase::PioIn { buf, pos: 0 };
                self.nsect = 0x02;
                self.status = READY | ST_DRQ;
                self.busy_for(CMD_NS);
            }
            (Mode::Normal, 0xA0) => {
                let bcl = (self.lbam as usize | (self.lbah as usize) << 8) & !1;
                if self.feat & 0x01 != 0 || bcl == 0 {
                    return self.abort(); // no DMA in the model; limit 0 is invalid
                }
                self.phase = Phase::Cdb {
                    buf: Vec::with_capacity(12),
                    bcl,
                };
                self.nsect = 0x01; // CoD
                self.status = READY | ST_DRQ;
                self.busy_for(CMD_NS);
            }
            (Mode::Normal, 0x08) => {
                self.signature();
                self.busy_for(RESET_NS);
            }
            (Mode::BootOnly | Mode::Outro | Mode::Vendor, 0x08) => self.reboot(),
            (Mode::Vendor, 0x81) => {
                self.drive.mode = Mode::Outro;
                self.status = READY;
                self.busy_for(inference::VENDOR_CMD_NS);
            }
            (Mode::Vendor, 0x00 | 0x01 | 0x04 | 0x05) => self.vendor_command(cmd),
            _ => self.abort(),
        }
    }

    fn enter_vendor(&mut self) {
        self.drive.mode = Mode::Vendor;
        self.phase = Phase::Idle;
        self.status = self.drive.vendor_status();
        self.busy_for(INTRO_NS);
    }

    fn log_flash(&mut self, before: super::chip::ChipStats, addr: u32) {
        let Some(log) = self.record.as_mut() else {
            return;
        };
        let after = self.drive.flash.stats();
        if after.erase_ops > before.erase_ops {
            log.push(FlashEvent {
                op: self.ops,
                kind: EventKind::Erase,
                addr,
            });
        }
        if after.program_ops > before.program_ops {
            let bank = addr >> 16;
            if log
                .iter()
                .rev()
                .find(|e| e.kind == EventKind::Program)
                .map(|e| e.addr >> 16)
                != Some(bank)
            {
                log.push(FlashEvent {
                    op: self.ops,
                    kind: EventKind::Program,
                    addr,
                });
            }
        }
    }

    fn vendor_command(&mut self, cmd: u8) {
        let before = self.drive.flash.stats();
        let t = self.now() + inference::VENDOR_CMD_NS;
        let mut extra = 0;
        let serial = self.drive.vendor_status() != inference::VENDOR_IDLE_PARALLEL;
        let mem_addr = self.lbam as usize | (self.lbah as usize) << 8;
        let flash_addr = mem_addr as u32 | ((self.dev & 0x0F) as u32) << 16;
        match (cmd, serial) {
            (0x00, false) => {
                self.lbal = self.drive.vendor_read(flash_addr, t);
                self.maybe_flip();
            }
            (0x01, false) => self.drive.vendor_write(flash_addr, self.lbal, t),
            (0x00, true) => {
                self.lbal = self.drive.xram[mem_addr];
                self.maybe_flip();
            }
            (0x01, true) => self.drive.xram[mem_addr] = self.lbal,
            (0x04, true) => {
                let (_, high_first) = self.drive.bridge();
                let len = |a: u8, b: u8| {
                    if high_first {
                        (a as usize) << 8 | b as usize
                    } else {
                        a as usize | (b as usize) << 8
                    }
                };
                if high_first && self.lbal != 0 {
                    // Model rule S3: a 0x73 bridge is given LBA low = 0 (JF does so);
                    // anything else is refused so a host that forgets it fails.
                    return self.abort();
                }
                let tx = len(self.feat, self.nsect);
                let rx = len(self.lbam, self.lbah);
                let noise = self.ops;
                extra = self.drive.spi_transfer(tx, rx, t, noise);
            }
            (0x05, true) => self.drive.spi_end(t),
            _ => return self.abort(),
        }
        self.status = self.drive.vendor_status();
        self.busy_for(inference::VENDOR_CMD_NS + extra);
        if self.record.is_some() {
            let addr = if serial {
                self.spi_address()
            } else {
                flash_addr
            };
            self.log_flash(before, addr);
        }
    }

    /// The address bytes of the SPI command in the staging area (for the event log).
    fn spi_address(&self) -> u32 {
        let (b, _) = self.drive.bridge();
        (self.drive.xram[b + 1] as u32) << 16
            | (self.drive.xram[b + 2] as u32) << 8
            | self.drive.xram[b + 3] as u32
    }

    /// `read-flip` on bytes read in a packet's data phase.
    fn flip_bytes(&mut self, data: &mut [u8]) {
        if let Some((rate, _)) = self.faults.read_flip {
            for b in data.iter_mut() {
                if self.rng.chance(rate) {
                    *b ^= 1 << (self.rng.next_u64() % 8);
                }
            }
        }
    }

    fn maybe_flip(&mut self) {
        if let Some((rate, _)) = self.faults.read_flip {
            if self.rng.chance(rate) {
                self.lbal ^= 1 << (self.rng.next_u64() % 8);
            }
        }
    }

    fn status_read(&mut self) -> u8 {
        if !self.selected() {
            return 0x00; // device 0 answers for an absent device 1
        }
        if self.drive.mode == Mode::Dead {
            return inference::DEAD_STATUS;
        }
        if self.now() < self.busy_until {
            return ST_BSY;
        }
        self.status
    }

    /// A later family's drive programming its flash when power goes: part of it done.
    fn family_cut(&mut self, now: u64) {
        if let (Some((until, _)), true) = (self.drive.updating.as_ref(), self.drive.unit.is_some())
        {
            let left = until.saturating_sub(now) as f64;
            let done = 1.0 - left / crate::inference::FAMILY_PROGRAM_NS as f64;
            self.drive.family_power_cut(done.clamp(0.0, 1.0));
        }
    }

    /// Power off and on: an operation in flight is cut short (`seed` picks how the
    /// half-done cells end up), then the drive boots from what is in flash.
    pub fn power_cycle(&mut self, seed: u64) {
        let now = self.now();
        self.drive.flash.power_cut(now, seed);
        self.family_cut(now);
        self.powered = true;
        self.powered_at = Some(now);
        self.devctl = 0;
        self.dev = 0;
        self.reboot();
    }

    /// Let pending flash operations finish (before saving the drive).
    pub fn finish(&mut self) {
        self.drive.flash.finish();
    }

    fn reg_cost(&mut self) {
        self.ops += 1;
        self.clock.advance_ns(REG_NS);
        self.fault_tick();
    }

    fn fault_tick(&mut self) {
        if let Some((n, sig)) = self.faults.signal {
            if self.ops >= n {
                self.faults.signal = None;
                crate::interrupt::deliver(sig);
            }
        }
        if let Some(n) = self.faults.power_loss_op {
            if self.ops >= n {
                self.faults.power_loss_op = None;
                let now = self.now();
                self.drive.flash.power_cut(now, n);
                self.family_cut(now);
                self.powered = false;
            }
        }
        if let Some(n) = self.faults.stuck_busy_op {
            if self.ops >= n {
                self.faults.stuck_busy_op = None;
                self.drive.flash.set_stuck();
            }
        }
    }

    /// Nothing drives the bus.
    fn floating(&self) -> bool {
        !self.powered || self.faults.bus_float
    }
}

impl PortIo for SimChannel {
    fn inb(&mut self, port: u16) -> u8 {
        self.reg_cost();
        if self.floating() {
            return 0xFF;
        }
        if port == self.ctl_base {
            return self.status_read();
        }
        if !(self.cmd_base..self.cmd_base + 8).contains(&port) {
            return 0xFF; // nothing decodes this address
        }
        if !self.selected() && port != self.cmd_base + 6 {
            return 0x00;
        }
        if port != self.cmd_base + 7 && self.now() < self.busy_until {
            return ST_BSY; // while BSY, every register reads as status
        }
        match port - self.cmd_base {
            0 => self.data_read() as u8,
            1 => self.err,
            2 => self.nsect,
            3 => self.lbal,
            4 => self.lbam,
            5 => self.lbah,
            6 => self.dev,
            _ => self.status_read(),
        }
    }

    fn outb(&mut self, port: u16, val: u8) {
        self.reg_cost();
        if self.floating() {
            return;
        }
        if port == self.ctl_base {
            let was_srst = self.devctl & 0x04 != 0;
            self.devctl = val;
            if was_srst && val & 0x04 == 0 {
                // Inference: SRST on a drive in vendor mode or boot code restarts it.
                if matches!(self.drive.mode, Mode::Vendor | Mode::Outro | Mode::BootOnly) {
                    self.reboot();
                } else if self.drive.mode == Mode::Normal {
                    self.signature();
                    self.busy_for(RESET_NS);
                }
            }
            return;
        }
        if !(self.cmd_base..self.cmd_base + 8).contains(&port) {
            return;
        }
        let busy = self.now() < self.busy_until;
        match port - self.cmd_base {
            0 => self.data_write(val as u16),
            _ if busy => {}
            1 => self.feat = val,
            2 => self.nsect = val,
            3 => self.lbal = val,
            4 => self.lbam = val,
            5 => self.lbah = val,
            6 => self.dev = val,
            _ => self.command(val),
        }
    }

    fn inw(&mut self, port: u16) -> u16 {
        self.ops += 1;
        self.clock.advance_ns(DATA_WORD_NS);
        self.fault_tick();
        if self.floating() {
            return 0xFFFF;
        }
        if port == self.cmd_base && self.selected() {
            self.data_read()
        } else {
            0xFFFF
        }
    }

    fn modelled(&self) -> Option<std::time::Duration> {
        Some(self.clock.now())
    }

    fn bus_ops(&self) -> Option<u64> {
        Some(self.ops)
    }

    fn power_cycle(&mut self) -> bool {
        SimChannel::power_cycle(self, self.ops);
        true
    }

    fn outw(&mut self, port: u16, val: u16) {
        self.ops += 1;
        self.clock.advance_ns(DATA_WORD_NS);
        self.fault_tick();
        if self.floating() {
            return;
        }
        if port == self.cmd_base && self.selected() {
            self.data_write(val);
        }
    }
}

impl Timed for SimChannel {
    fn clock(&self) -> &dyn Clock {
        &self.clock
    }
}
