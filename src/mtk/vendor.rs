//! MediaTek vendor mode over the ATA task-file registers (protocol.md section 2).
//!
//! Intro: device, 250 ms, device, 0x2A in LBA low, command 0x80, 2 ms, device, read
//! status: 0x70 parallel flash, 0x72/0x73 (0x52) serial flash. Byte access: address in
//! LBA mid/high and the device nibble, data in LBA low, command 0x01 write / 0x00 read,
//! then reselect and poll for the idle status. Serial drives: 0x00/0x01 access drive
//! memory; SPI bytes are staged (0x8800 on 0x72 drives, 0x0000 on 0x73 drives) and sent
//! with 0x04 (lengths in features/count and LBA mid/high, low byte first on 0x72, high
//! byte first on 0x73; LBA low 0), 0x05 follows. Outro: 0x81, then DEVICE RESET 0x08,
//! wait 350 ms. Any other intro answer (0x52 among them) is refused: no source flashes
//! such a drive.

use crate::clock::{poll_until, Clock, Timed};
use crate::inference;
use crate::transport::ata::{Reg, TaskFile};
use crate::transport::Carries;
use std::time::Duration;
use thiserror::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashKind {
    Parallel,
    Serial,
}

/// How a serial drive's SPI bridge is driven (protocol.md section 6, JF `method_231`,
/// `method_297/298/302`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bridge {
    /// Where the bytes to send are staged in drive memory; the reply follows them.
    pub staging: u16,
    /// Transfer lengths go high byte first (0x73 drives) or low byte first (0x72).
    pub high_first: bool,
}

impl Bridge {
    /// 0x72 drives: staging at 0x8800, lengths low byte first.
    pub const V72: Bridge = Bridge {
        staging: inference::SPI_STAGING_72,
        high_first: false,
    };
    /// 0x73 drives: staging at 0x0000, lengths high byte first.
    pub const V73: Bridge = Bridge {
        staging: inference::SPI_STAGING_73,
        high_first: true,
    };
    /// The two length registers' values for `len`, in register order.
    pub fn length_bytes(&self, len: usize) -> (u8, u8) {
        if self.high_first {
            ((len >> 8) as u8, len as u8)
        } else {
            (len as u8, (len >> 8) as u8)
        }
    }
}

/// What the intro's answer says about the drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntroAnswer {
    /// 0x70: vendor mode, parallel flash.
    Parallel,
    /// 0x72 / 0x73: vendor mode, serial flash behind this bridge variant.
    Serial(Bridge),
    /// A status no known tool flashes from (0x52: JF prints "Serial flash with status
    /// 0x52" and stops).
    Unsupported,
    /// Not in vendor mode.
    Failed,
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum VendorError {
    #[error("MTK vendor intro failed on {at} (status 0x{status:02X})")]
    IntroFailed { at: String, status: u8 },
    #[error("the drive on {at} answered the MTK vendor intro with status 0x{status:02X}, which no known flasher writes to (JungleFlasher stops at 0x52 too)")]
    Unsupported { at: String, status: u8 },
    #[error(
        "nothing answers on {at}: the status register reads 0xFF (no drive there, or wrong port)"
    )]
    NoDrive { at: String },
    #[error("the drive on {at} went silent in vendor mode (the status register reads 0xFF): it lost power or was unplugged")]
    Gone { at: String },
    #[error("the drive on {at} stopped answering during vendor command 0x{cmd:02X} (status 0x{status:02X} after {ms} ms)")]
    Timeout {
        at: String,
        cmd: u8,
        status: u8,
        ms: u64,
    },
    #[error("the drive on {at} refused vendor command 0x{cmd:02X} (status 0x{status:02X})")]
    Refused { at: String, cmd: u8, status: u8 },
    #[error("the flash chip did not finish {what} at 0x{addr:06X} within {ms} ms")]
    ChipTimeout {
        what: &'static str,
        addr: u32,
        ms: u64,
    },
    #[error("stopped: {0}. Vendor mode through ATA pass-through is not safe on this path; use a task-file port (1-4, BASE:POSITION) for vendor mode")]
    PathFault(String),
    /// A program finished (the chip stopped toggling) and the byte reads another value
    /// steadily: the cell did not take it.
    #[error(
        "the byte at 0x{addr:06X} reads 0x{got:02X} after programming, should be 0x{want:02X}"
    )]
    NotTaken { addr: u32, got: u8, want: u8 },
    #[error("{0}")]
    Other(String),
}

/// Per-command timeout: a vendor command is a few microseconds of drive work.
const CMD_TIMEOUT: Duration = Duration::from_millis(500);

/// An open vendor-mode session on one drive.
/// What one intro led to.
enum Answer<T: TaskFile> {
    Entered(Box<Vendor<T>>),
    /// Not answered (yet): the task file back for another try.
    No(T),
    /// An answer that ends the attempt.
    Stop(T, VendorError),
}

/// Which bytes of an SPI transaction are firmware (see [`Vendor::spi_data`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpiData {
    /// Index in `tx` of the first firmware byte (`usize::MAX`: none).
    pub tx_from: usize,
    /// The flash address that byte goes to.
    pub flash: u32,
    /// The reply is firmware (a READ).
    pub rx: bool,
}

impl SpiData {
    /// A READ: the reply is firmware, nothing sent is.
    pub const READ: SpiData = SpiData {
        tx_from: usize::MAX,
        flash: 0,
        rx: true,
    };
    /// A program: `tx` from `tx_from` on goes to flash from `flash`.
    pub fn program(tx_from: usize, flash: u32) -> SpiData {
        SpiData {
            tx_from,
            flash,
            rx: false,
        }
    }
}

pub struct Vendor<T: TaskFile> {
    pub tf: T,
    pub kind: FlashKind,
    /// The SPI bridge variant (serial drives only).
    pub bridge: Option<Bridge>,
    idle: u8,
    /// Last value written to each address register, to skip rewriting unchanged ones.
    shadow: [Option<u8>; 3],
    /// Vendor commands issued (for statistics).
    pub commands: u64,
    /// How long after a [`Vendor::read_data`] began the drive read the flash, as last
    /// measured: the bus time up to the command write plus the drive's work (I23).
    read_lead: Duration,
    /// When the SPI transaction under way began, and how long after its start the
    /// last one-byte transaction (a status read) clocked its reply: the bus time up to
    /// the 0x04 command plus the drive's work and the opcode's clocking.
    spi_start: Duration,
    status_lead: Duration,
}

/// Classify the intro's answer.
pub fn intro_answer(status: u8) -> IntroAnswer {
    match status {
        0x70 => IntroAnswer::Parallel,
        0x72 => IntroAnswer::Serial(Bridge::V72),
        0x73 => IntroAnswer::Serial(Bridge::V73),
        // Statuses a drive in vendor mode could plausibly post (DRDY with low bits set)
        // but that no source flashes: refused rather than guessed at.
        0x52 | 0x71 | 0x74..=0x7F => IntroAnswer::Unsupported,
        _ => IntroAnswer::Failed,
    }
}

/// Send the intro once; return the status read back.
pub fn send_intro<T: TaskFile>(tf: &mut T) -> u8 {
    let drv = tf.dev();
    tf.write(Reg::Device, drv);
    tf.clock().sleep(Duration::from_millis(250));
    send_intro_now(tf)
}

/// The intro without the settle wait before it: for trying again and again while a
/// drive is being powered on.
pub fn send_intro_now<T: TaskFile>(tf: &mut T) -> u8 {
    let drv = tf.dev();
    tf.write(Reg::Device, drv);
    tf.write(Reg::LbaLow, 0x2A);
    tf.write(Reg::Command, 0x80);
    tf.clock().sleep(Duration::from_millis(2));
    tf.write(Reg::Device, drv);
    // A drive still busy after 2 ms gets a little longer before its answer counts.
    poll_until(tf, Duration::from_millis(50), |tf| {
        let s = tf.read(Reg::Command);
        (s != 0x80).then_some(s)
    })
    .unwrap_or(0x80)
}

/// The outro: device, 0x81, device, DEVICE RESET (0x08), then the 350 ms the classic
/// tools wait. The drive reboots from its flash.
pub fn send_outro<T: TaskFile>(tf: &mut T) {
    let drv = tf.dev();
    tf.write(Reg::Device, drv);
    tf.write(Reg::Command, 0x81);
    let _ = poll_until(tf, CMD_TIMEOUT, |tf| {
        (tf.read(Reg::Command) & 0x80 == 0).then_some(())
    });
    tf.write(Reg::Device, drv);
    tf.write(Reg::Command, 0x08);
    tf.clock().sleep(Duration::from_millis(350));
}

impl<T: TaskFile> Vendor<T> {
    /// Enter vendor mode with one intro (after the settle wait the classic tools use).
    /// Retrying is [`Vendor::enter_within`]: a drive that does not answer now may answer
    /// a moment later, not on an immediate second try.
    pub fn enter(mut tf: T) -> Result<Self, (T, VendorError)> {
        let status = send_intro(&mut tf);
        match Self::answered(tf, status) {
            Answer::Entered(v) => Ok(*v),
            Answer::Stop(tf, e) => Err((tf, e)),
            Answer::No(tf) => {
                let at = tf.describe();
                Err((tf, VendorError::IntroFailed { at, status }))
            }
        }
    }

    /// Send the intro again and again, `gap` apart, until the drive answers or `window`
    /// has passed: the boot code listens only for a moment after power-on, and nobody
    /// knows exactly when the person at the drive switches it on. `tick` hears the time
    /// left about once a second; `go_on` is asked before every intro, and false ends the
    /// tries (the user asked to stop).
    pub fn enter_within(
        mut tf: T,
        window: Duration,
        gap: Duration,
        mut tick: impl FnMut(Duration),
        mut go_on: impl FnMut() -> bool,
    ) -> Result<Self, (T, VendorError)> {
        let start = tf.clock().now();
        let mut status = 0;
        let mut last_tick = None;
        loop {
            let spent = tf.clock().now().saturating_sub(start);
            if spent >= window || !go_on() {
                break;
            }
            let secs = spent.as_secs();
            if last_tick != Some(secs) {
                last_tick = Some(secs);
                tick(window - spent);
            }
            status = send_intro_now(&mut tf);
            match Self::answered(tf, status) {
                // A drive still booting reads 0xFF on some buses: keep trying.
                Answer::Stop(back, VendorError::NoDrive { .. }) => tf = back,
                Answer::Entered(v) => return Ok(*v),
                Answer::Stop(tf, e) => return Err((tf, e)),
                Answer::No(back) => tf = back,
            }
            tf.clock().sleep(gap);
        }
        let at = tf.describe();
        Err((tf, VendorError::IntroFailed { at, status }))
    }

    /// What the intro's answer `status` means for the session.
    fn answered(tf: T, status: u8) -> Answer<T> {
        if status == 0xFF {
            let at = tf.describe();
            return Answer::Stop(tf, VendorError::NoDrive { at });
        }
        let (kind, bridge, idle) = match intro_answer(status) {
            IntroAnswer::Parallel => (FlashKind::Parallel, None, inference::VENDOR_IDLE_PARALLEL),
            IntroAnswer::Serial(b) => (FlashKind::Serial, Some(b), status),
            IntroAnswer::Unsupported => {
                let at = tf.describe();
                return Answer::Stop(tf, VendorError::Unsupported { at, status });
            }
            IntroAnswer::Failed => return Answer::No(tf),
        };
        if let Some(f) = tf.fault() {
            return Answer::Stop(tf, VendorError::PathFault(f));
        }
        log::info!(
            "vendor mode on {}: status 0x{status:02X} ({kind:?})",
            tf.describe()
        );
        Answer::Entered(Box::new(Vendor {
            tf,
            kind,
            bridge,
            idle,
            shadow: [None; 3],
            commands: 0,
            read_lead: Duration::ZERO,
            spi_start: Duration::ZERO,
            status_lead: Duration::ZERO,
        }))
    }

    fn set(&mut self, idx: usize, reg: Reg, v: u8) {
        if self.shadow[idx] != Some(v) {
            self.tf.write(reg, v);
            self.shadow[idx] = Some(v);
        }
    }

    /// Issue a vendor command with the registers already set; reselect; poll for idle.
    fn command(&mut self, cmd: u8) -> Result<(), VendorError> {
        self.commands += 1;
        let drv = self.tf.dev();
        self.tf.write(Reg::Command, cmd);
        // Reselect as the classic tools do. This write lands while the drive is BSY and
        // may be ignored, so the device register holds drv or what it held before: known
        // only when that was drv too (address bits A19..A16 zero, and always on serial
        // drives), else it is written again before the next access.
        self.tf.write(Reg::Device, drv);
        if self.shadow[2] != Some(drv) {
            self.shadow[2] = None;
        }
        let idle = self.idle;
        let mut last = 0;
        let r = poll_until(&mut self.tf, CMD_TIMEOUT, |tf| {
            let s = tf.read(Reg::Command);
            last = s;
            (s & 0x80 == 0 || s == 0xFF).then_some(s)
        });
        if let Some(f) = self.tf.fault() {
            return Err(VendorError::PathFault(f));
        }
        let at = || self.tf.describe();
        match r {
            Some(s) if s == idle => Ok(()),
            // The intro was answered, so a drive was there: it has gone since.
            Some(0xFF) => Err(VendorError::Gone { at: at() }),
            Some(s) => Err(VendorError::Refused {
                at: at(),
                cmd,
                status: s,
            }),
            None => Err(VendorError::Timeout {
                at: at(),
                cmd,
                status: last,
                // (poll_until waited at least this long; the clock is not read for
                // every command just to say how much longer.)
                ms: CMD_TIMEOUT.as_millis() as u64,
            }),
        }
    }

    fn address(&mut self, addr: u32) {
        self.set(0, Reg::LbaMid, addr as u8);
        self.set(1, Reg::LbaHigh, (addr >> 8) as u8);
        let dev = self.tf.dev() | ((addr >> 16) & 0x0F) as u8;
        self.set(2, Reg::Device, dev);
    }

    /// Parallel flash: read one byte (command 0x00).
    pub fn read_byte(&mut self, addr: u32) -> Result<u8, VendorError> {
        self.address(addr);
        self.command(0x00)?;
        Ok(self.tf.read(Reg::LbaLow))
    }

    /// Parallel flash: one write cycle on the flash bus (command 0x01).
    pub fn write_byte(&mut self, addr: u32, v: u8) -> Result<(), VendorError> {
        self.address(addr);
        self.tf.write(Reg::LbaLow, v);
        self.command(0x01)
    }

    /// Parallel flash: read a firmware byte (left out of traces).
    pub fn read_data(&mut self, addr: u32) -> Result<u8, VendorError> {
        self.address(addr);
        self.read_command()
    }

    /// The read command after the address is set, and the byte (payload).
    fn read_command(&mut self) -> Result<u8, VendorError> {
        self.command(0x00)?;
        self.tf.carries(Carries::Payload { flash: None });
        let v = self.tf.read(Reg::LbaLow);
        self.tf.carries(Carries::Protocol);
        Ok(v)
    }

    /// How long after a content read begins the drive samples the flash (as the last
    /// [`Vendor::read_data_timed`] measured).
    pub fn read_lead(&self) -> Duration {
        self.read_lead
    }

    /// [`Vendor::read_data`], measuring how long after its start the drive read the
    /// flash: the bus time up to the command write plus the drive's work (I23). (Two
    /// clock readings: done for the completion reads that need it, not for every read.)
    pub fn read_data_timed(&mut self, addr: u32) -> Result<u8, VendorError> {
        let start = self.tf.clock().now();
        self.address(addr);
        self.read_lead = self.tf.clock().now().saturating_sub(start)
            + Duration::from_nanos(crate::inference::SAMPLE_AFTER_CMD_NS);
        self.read_command()
    }

    /// How long after a one-byte SPI transaction (RDSR) begins the chip's reply is
    /// clocked (last measured).
    pub fn status_lead(&self) -> Duration {
        self.status_lead
    }

    /// Parallel flash: write a firmware byte bound for flash address `addr` (left out of
    /// traces, which note the address instead).
    pub fn write_data(&mut self, addr: u32, v: u8) -> Result<(), VendorError> {
        self.write_marked(addr, v, Carries::Payload { flash: Some(addr) })
    }

    /// A write cycle whose data byte carries `c` (only the data register is marked).
    fn write_marked(&mut self, addr: u32, v: u8, c: Carries) -> Result<(), VendorError> {
        self.address(addr);
        self.tf.carries(c);
        self.tf.write(Reg::LbaLow, v);
        self.tf.carries(Carries::Protocol);
        self.command(0x01)
    }

    /// Serial drives: read a byte of drive memory.
    pub fn mem_read(&mut self, addr: u16) -> Result<u8, VendorError> {
        self.read_byte(addr as u32)
    }

    /// Serial drives: write a byte of drive memory.
    pub fn mem_write(&mut self, addr: u16, v: u8) -> Result<(), VendorError> {
        self.write_byte(addr as u32, v)
    }

    fn bridge(&self) -> Result<Bridge, VendorError> {
        self.bridge.ok_or_else(|| {
            VendorError::Other("SPI transfer on a drive with parallel flash".to_string())
        })
    }

    fn check_len(len: usize) -> Result<(), VendorError> {
        if len > inference::SPI_MAX_TRANSFER {
            return Err(VendorError::Other(format!(
                "an SPI transfer of {len} bytes is longer than the {} bytes any known flasher sends",
                inference::SPI_MAX_TRANSFER
            )));
        }
        Ok(())
    }

    /// One SPI transaction through the bridge: stage `tx`, run it, collect `rx_len`
    /// reply bytes (inference I3/I4 for the 0x04/0x05 split and where the reply lands).
    pub fn spi(&mut self, tx: &[u8], rx_len: usize) -> Result<Vec<u8>, VendorError> {
        self.spi_start = self.tf.clock().now();
        self.spi_stage(0, tx)?;
        self.spi_run(tx.len(), rx_len)
    }

    /// [`Vendor::spi`] where `data` says which bytes are firmware: the staged bytes from
    /// `data.tx_from` on (bound for flash from `data.flash`), and the reply when
    /// `data.rx`. Those values are left out of traces.
    pub fn spi_data(
        &mut self,
        tx: &[u8],
        rx_len: usize,
        data: SpiData,
    ) -> Result<Vec<u8>, VendorError> {
        Self::check_len(tx.len() + rx_len)?;
        self.spi_start = self.tf.clock().now();
        let bridge = self.bridge()?;
        let base = bridge.staging as usize;
        for (i, &b) in tx.iter().enumerate() {
            let c = match i.checked_sub(data.tx_from) {
                Some(k) => Carries::Payload {
                    flash: Some(data.flash + k as u32),
                },
                None => Carries::Protocol,
            };
            self.write_marked((base + i) as u32, b, c)?;
        }
        self.spi_exec(tx.len(), rx_len)?;
        self.spi_reply(tx.len(), rx_len, data.rx)
    }

    /// Put bytes into the staging area at `offset` without running a transaction.
    pub fn spi_stage(&mut self, offset: usize, bytes: &[u8]) -> Result<(), VendorError> {
        Self::check_len(offset + bytes.len())?;
        let base = self.bridge()?.staging as usize + offset;
        for (i, &b) in bytes.iter().enumerate() {
            self.mem_write((base + i) as u16, b)?;
        }
        Ok(())
    }

    /// Run a transaction of the first `tx_len` staged bytes and read `rx_len` reply
    /// bytes, which the drive puts right after them. Register order as JF
    /// (`method_231`): lengths in features/count and LBA mid/high, LBA low = 0, then
    /// 0x04; then 0x05.
    pub fn spi_run(&mut self, tx_len: usize, rx_len: usize) -> Result<Vec<u8>, VendorError> {
        self.spi_exec(tx_len, rx_len)?;
        self.spi_reply(tx_len, rx_len, false)
    }

    /// The registers and commands of [`Vendor::spi_run`], without reading the reply.
    fn spi_exec(&mut self, tx_len: usize, rx_len: usize) -> Result<(), VendorError> {
        Self::check_len(tx_len + rx_len)?;
        let bridge = self.bridge()?;
        let (t0, t1) = bridge.length_bytes(tx_len);
        let (r0, r1) = bridge.length_bytes(rx_len);
        self.tf.write(Reg::Feature, t0);
        self.tf.write(Reg::Count, t1);
        self.tf.write(Reg::LbaLow, 0);
        self.set(0, Reg::LbaMid, r0);
        self.set(1, Reg::LbaHigh, r1);
        if tx_len == 1 {
            self.status_lead = self.tf.clock().now().saturating_sub(self.spi_start)
                + Duration::from_nanos(inference::SAMPLE_AFTER_CMD_NS + inference::SPI_BYTE_NS);
        }
        self.command(inference::SPI_CMD_TRANSFER)?;
        self.command(inference::SPI_CMD_END)
    }

    /// The `rx_len` reply bytes the drive put right after the `tx_len` staged ones;
    /// `payload`: they are firmware (left out of traces).
    fn spi_reply(
        &mut self,
        tx_len: usize,
        rx_len: usize,
        payload: bool,
    ) -> Result<Vec<u8>, VendorError> {
        let reply = self.bridge()?.staging as u32 + tx_len as u32;
        (0..rx_len as u32)
            .map(|i| {
                if payload {
                    self.read_data(reply + i)
                } else {
                    self.read_byte(reply + i)
                }
            })
            .collect()
    }

    /// Leave vendor mode: 0x81, DEVICE RESET, wait for the drive to boot. Returns the
    /// status after the reboot.
    pub fn leave(&mut self) -> Result<u8, VendorError> {
        send_outro(&mut self.tf);
        let r = poll_until(&mut self.tf, Duration::from_secs(31), |tf| {
            let s = tf.read(Reg::Command);
            (s & 0x80 == 0).then_some(s)
        });
        let at = self.tf.describe();
        r.ok_or(VendorError::Timeout {
            at,
            cmd: 0x08,
            status: 0x80,
            ms: 31_000,
        })
    }
}

impl<T: TaskFile> Timed for Vendor<T> {
    fn clock(&self) -> &dyn Clock {
        self.tf.clock()
    }
}
