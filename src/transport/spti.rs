//! Windows pass-through on \\.\E: or \\.\CdRom0: SCSI pass-through (SPTI,
//! IOCTL_SCSI_PASS_THROUGH_DIRECT) for the packet path (the drive's own update), and for
//! vendor mode the system's ATA pass-through (IOCTL_ATA_PASS_THROUGH, registers in and
//! out) where the port driver has it, else ATA PASS-THROUGH(16) CDBs through SPTI.
//! Raw task-file ports on Windows need a kernel driver, which this tool does not ship.
//!
//! The structure layouts and their encoding are plain data and are checked on every
//! platform; the Win32 calls exist only on Windows.

use crate::transport::scsi::{AtaCommand, AtaReply};

/// SCSI_PASS_THROUGH_DIRECT (56 bytes on x64), followed by our sense buffer.
#[repr(C)]
pub struct ScsiPassThroughDirect {
    pub length: u16,
    pub scsi_status: u8,
    pub path_id: u8,
    pub target_id: u8,
    pub lun: u8,
    pub cdb_length: u8,
    pub sense_info_length: u8,
    /// 0 out, 1 in, 2 none.
    pub data_in: u8,
    pub data_transfer_length: u32,
    /// Seconds.
    pub time_out_value: u32,
    pub data_buffer: *mut core::ffi::c_void,
    pub sense_info_offset: u32,
    pub cdb: [u8; 16],
}

#[repr(C)]
pub struct WithSense {
    pub sptd: ScsiPassThroughDirect,
    pub sense: [u8; 32],
}

pub const IOCTL_SCSI_PASS_THROUGH_DIRECT: u32 = 0x4D014;

/// ATA_PASS_THROUGH_EX (ntddscsi.h): 48 bytes on x64, 40 on x86; with
/// IOCTL_ATA_PASS_THROUGH the data follows it in the same buffer at
/// `data_buffer_offset`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AtaPassThroughEx {
    pub length: u16,
    pub ata_flags: u16,
    pub path_id: u8,
    pub target_id: u8,
    pub lun: u8,
    pub reserved_as_uchar: u8,
    pub data_transfer_length: u32,
    /// Seconds.
    pub time_out_value: u32,
    pub reserved_as_ulong: u32,
    pub data_buffer_offset: usize,
    pub previous_task_file: [u8; 8],
    /// In: features, count, LBA low, mid, high, device, command, 0. Out: error, count,
    /// LBA low, mid, high, device, status, 0.
    pub current_task_file: [u8; 8],
}

/// CTL_CODE(IOCTL_SCSI_BASE, 0x040B, METHOD_BUFFERED, FILE_READ_ACCESS | FILE_WRITE_ACCESS).
pub const IOCTL_ATA_PASS_THROUGH: u32 = 0x4D02C;
pub const ATA_FLAGS_DRDY_REQUIRED: u16 = 0x01;
pub const ATA_FLAGS_DATA_IN: u16 = 0x02;

/// The buffer for one command through IOCTL_ATA_PASS_THROUGH: the header, then room for
/// the data. DRDY is not required: a drive in vendor mode or running boot code only may
/// not set it.
pub fn ata_request(c: &AtaCommand) -> Vec<u8> {
    use std::mem::{offset_of, size_of};
    type P = AtaPassThroughEx;
    let head = size_of::<P>();
    let mut b = vec![0u8; head + c.data_in];
    let put = |b: &mut [u8], at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    put(&mut b, offset_of!(P, length), &(head as u16).to_le_bytes());
    let flags = if c.data_in > 0 { ATA_FLAGS_DATA_IN } else { 0 };
    put(&mut b, offset_of!(P, ata_flags), &flags.to_le_bytes());
    let n = c.data_in as u32;
    put(
        &mut b,
        offset_of!(P, data_transfer_length),
        &n.to_le_bytes(),
    );
    let secs = c.timeout.as_secs().clamp(1, u32::MAX as u64) as u32;
    put(&mut b, offset_of!(P, time_out_value), &secs.to_le_bytes());
    let at = if c.data_in > 0 { head } else { 0 };
    put(&mut b, offset_of!(P, data_buffer_offset), &at.to_le_bytes());
    let [f, k, l, m, h, d] = c.regs;
    put(
        &mut b,
        offset_of!(P, current_task_file),
        &[f, k, l, m, h, d, c.command, 0],
    );
    b
}

/// The registers and data of a completed request: the buffer as it came back and the
/// bytes the call said it returned. Less than a header is no reply; the data is what
/// both the header's length and the bytes returned cover (a driver that says success
/// without copying data gives none, not the zeros the buffer started with).
pub fn ata_reply(b: &[u8], returned: usize) -> Option<AtaReply> {
    use std::mem::{offset_of, size_of};
    type P = AtaPassThroughEx;
    let head = size_of::<P>();
    if returned < head {
        return None;
    }
    let b = &b[..returned.min(b.len())];
    let t = b.get(offset_of!(P, current_task_file)..offset_of!(P, current_task_file) + 7)?;
    let at = offset_of!(P, data_transfer_length);
    let n = u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize;
    let data = b.get(head..).unwrap_or_default();
    Some(AtaReply {
        regs: [t[0], t[1], t[2], t[3], t[4], t[5], t[6]],
        data: data[..n.min(data.len())].to_vec(),
    })
}

/// `E:` -> `\\.\E:`; `\\.\CdRom0` and full paths unchanged.
pub fn device_path(spec: &str) -> String {
    if spec.len() == 2 && spec.ends_with(':') {
        format!(r"\\.\{spec}")
    } else {
        spec.to_string()
    }
}

#[cfg(windows)]
mod win {
    use super::*;
    use crate::transport::scsi::{Dir, ScsiResult, ScsiTransport, TransportError};
    use std::path::Path;
    use std::time::Duration;
    use windows_sys::Win32::Foundation::{
        CloseHandle, GetLastError, GENERIC_READ, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE,
    };
    use windows_sys::Win32::Storage::FileSystem::{
        CreateFileW, FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING,
    };
    use windows_sys::Win32::System::IO::DeviceIoControl;

    pub struct Spti {
        handle: HANDLE,
        path: String,
        /// Whether IOCTL_ATA_PASS_THROUGH works here: unknown until first tried.
        native_ata: Option<bool>,
    }

    impl Spti {
        pub fn open(path: &Path) -> Result<Spti, TransportError> {
            let p = device_path(&path.display().to_string());
            let wide: Vec<u16> = p.encode_utf16().chain(std::iter::once(0)).collect();
            // SAFETY: `wide` is a NUL-terminated UTF-16 string alive for the call; null
            // security attributes and template are allowed.
            let h = unsafe {
                CreateFileW(
                    wide.as_ptr(),
                    GENERIC_READ | GENERIC_WRITE,
                    FILE_SHARE_READ | FILE_SHARE_WRITE,
                    std::ptr::null(),
                    OPEN_EXISTING,
                    0,
                    std::ptr::null_mut(),
                )
            };
            if h == INVALID_HANDLE_VALUE {
                // SAFETY: reads the calling thread's last-error value.
                let err = unsafe { GetLastError() };
                let what = match err {
                    5 => "access denied: run as Administrator".to_string(),
                    2 | 3 => "no such drive: give its letter (E:) or \\\\.\\CdRomN".to_string(),
                    e => format!("CreateFile failed (error {e})"),
                };
                return Err(TransportError::Os {
                    path: p,
                    what,
                    errno: err as i32,
                });
            }
            Ok(Spti {
                handle: h,
                path: p,
                native_ata: None,
            })
        }
    }

    impl Spti {
        /// DeviceIoControl with one buffer for input and output: the bytes returned, or
        /// the Windows error.
        ///
        /// # Safety
        /// `buf` must point to `len` bytes that stay valid (with any buffer they point
        /// to) for the whole call.
        unsafe fn ioctl(
            &self,
            code: u32,
            buf: *mut core::ffi::c_void,
            len: u32,
        ) -> Result<u32, u32> {
            let mut returned = 0u32;
            // SAFETY: the caller keeps `buf` valid for `len` bytes; `returned` is ours.
            let ok = unsafe {
                DeviceIoControl(
                    self.handle,
                    code,
                    buf,
                    len,
                    buf,
                    len,
                    &mut returned,
                    std::ptr::null_mut(),
                )
            };
            if ok == 0 {
                // SAFETY: reads the calling thread's last-error value.
                Err(unsafe { GetLastError() })
            } else {
                Ok(returned)
            }
        }

        /// Whether to try IOCTL_ATA_PASS_THROUGH before ATA PASS-THROUGH(16).
        pub fn native_ata_first(mut self, yes: bool) -> Spti {
            if !yes {
                self.native_ata = Some(false);
            }
            self
        }
    }

    impl Drop for Spti {
        fn drop(&mut self) {
            // SAFETY: the handle came from CreateFileW and is closed once.
            unsafe { CloseHandle(self.handle) };
        }
    }

    impl ScsiTransport for Spti {
        fn execute(
            &mut self,
            cdb: &[u8],
            dir: Dir<'_>,
            timeout: Duration,
        ) -> Result<ScsiResult, TransportError> {
            // A 16-byte-aligned data buffer satisfies the usual adapter alignment masks.
            let len = match dir {
                Dir::In(n) => n,
                Dir::Out(d) => d.len(),
                Dir::None => 0,
            };
            let mut store = vec![0u128; len.div_ceil(16).max(1)];
            // SAFETY: `store` holds at least `len` bytes; u8 has no alignment needs.
            let buf =
                unsafe { std::slice::from_raw_parts_mut(store.as_mut_ptr().cast::<u8>(), len) };
            if let Dir::Out(d) = dir {
                buf.copy_from_slice(d);
            }
            let mut s = WithSense {
                sptd: ScsiPassThroughDirect {
                    length: std::mem::size_of::<ScsiPassThroughDirect>() as u16,
                    scsi_status: 0,
                    path_id: 0,
                    target_id: 0,
                    lun: 0,
                    cdb_length: cdb.len().min(16) as u8,
                    sense_info_length: 32,
                    data_in: match dir {
                        Dir::Out(_) => 0,
                        Dir::In(_) => 1,
                        Dir::None => 2,
                    },
                    data_transfer_length: len as u32,
                    time_out_value: timeout.as_secs().max(1) as u32,
                    data_buffer: if len == 0 {
                        std::ptr::null_mut()
                    } else {
                        buf.as_mut_ptr().cast()
                    },
                    sense_info_offset: std::mem::offset_of!(WithSense, sense) as u32,
                    cdb: [0; 16],
                },
                sense: [0; 32],
            };
            s.sptd.cdb[..cdb.len().min(16)].copy_from_slice(&cdb[..cdb.len().min(16)]);
            let size = std::mem::size_of::<WithSense>() as u32;
            let sp: *mut WithSense = &mut s;
            // SAFETY: input and output are the same live WithSense of `size` bytes; the
            // data buffer it points to lives in `store` for the whole call.
            if let Err(err) = unsafe { self.ioctl(IOCTL_SCSI_PASS_THROUGH_DIRECT, sp.cast(), size) }
            {
                return Err(TransportError::Os {
                    path: self.path.clone(),
                    what: format!("DeviceIoControl failed (error {err})"),
                    errno: err as i32,
                });
            }
            let status = s.sptd.scsi_status;
            let sense = if status == 2 {
                s.sense.to_vec()
            } else {
                Vec::new()
            };
            let data = if matches!(dir, Dir::In(_)) {
                buf.to_vec()
            } else {
                Vec::new()
            };
            Ok(ScsiResult {
                status,
                sense,
                data,
            })
        }
        fn describe(&self) -> String {
            self.path.clone()
        }
        fn sleep(&mut self, d: Duration) {
            std::thread::sleep(d);
        }
        fn ata_command(&mut self, c: &AtaCommand) -> Option<Result<AtaReply, TransportError>> {
            if self.native_ata == Some(false) {
                return None;
            }
            let mut buf = ata_request(c);
            let len = buf.len() as u32;
            // SAFETY: input and output are the same live buffer of `len` bytes (the
            // header, then room for the data); METHOD_BUFFERED copies it both ways.
            let returned =
                unsafe { self.ioctl(IOCTL_ATA_PASS_THROUGH, buf.as_mut_ptr().cast(), len) };
            if let Err(err) = returned {
                // The first call failing (ERROR_INVALID_FUNCTION or ERROR_NOT_SUPPORTED
                // from a port driver without ATA pass-through, ERROR_INVALID_PARAMETER
                // from a bridge that does not take it...): ATA PASS-THROUGH(16) through
                // SPTI from now on.
                if self.native_ata.is_none() {
                    self.native_ata = Some(false);
                    log::info!(
                        "{}: no IOCTL_ATA_PASS_THROUGH (error {err}); ATA PASS-THROUGH(16) through SPTI instead",
                        self.path
                    );
                    return None;
                }
                return Some(Err(TransportError::Os {
                    path: self.path.clone(),
                    what: format!("IOCTL_ATA_PASS_THROUGH failed (error {err})"),
                    errno: err as i32,
                }));
            }
            let returned = returned.unwrap_or(0) as usize;
            match ata_reply(&buf, returned) {
                Some(r) => {
                    self.native_ata = Some(true);
                    Some(Ok(r))
                }
                // (Success with less than the header back on the first call: no
                // usable ATA pass-through here either.)
                None if self.native_ata.is_none() => {
                    self.native_ata = Some(false);
                    None
                }
                None => Some(Err(TransportError::Protocol(format!(
                    "{}: IOCTL_ATA_PASS_THROUGH returned {returned} bytes",
                    self.path
                )))),
            }
        }
    }

    /// \\.\CdRom0..15 that open.
    pub fn cdroms() -> Vec<String> {
        (0..16)
            .map(|i| format!(r"\\.\CdRom{i}"))
            .filter(|p| Spti::open(Path::new(p)).is_ok())
            .collect()
    }
}

#[cfg(windows)]
pub use win::{cdroms, Spti};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_windows_sdk_on_64_bit() {
        if std::mem::size_of::<usize>() != 8 {
            return;
        }
        assert_eq!(std::mem::size_of::<ScsiPassThroughDirect>(), 56);
        assert_eq!(std::mem::offset_of!(ScsiPassThroughDirect, data_in), 8);
        assert_eq!(
            std::mem::offset_of!(ScsiPassThroughDirect, data_transfer_length),
            12
        );
        assert_eq!(
            std::mem::offset_of!(ScsiPassThroughDirect, time_out_value),
            16
        );
        assert_eq!(std::mem::offset_of!(ScsiPassThroughDirect, data_buffer), 24);
        assert_eq!(
            std::mem::offset_of!(ScsiPassThroughDirect, sense_info_offset),
            32
        );
        assert_eq!(std::mem::offset_of!(ScsiPassThroughDirect, cdb), 36);
        assert_eq!(std::mem::offset_of!(WithSense, sense), 56);
    }

    #[test]
    fn ata_pass_through_ex_layout_matches_the_windows_sdk() {
        let (size, offset_buf, offset_cur) = if std::mem::size_of::<usize>() == 8 {
            (48, 24, 40)
        } else {
            (40, 20, 32)
        };
        assert_eq!(std::mem::size_of::<AtaPassThroughEx>(), size);
        assert_eq!(
            std::mem::offset_of!(AtaPassThroughEx, data_transfer_length),
            8
        );
        assert_eq!(std::mem::offset_of!(AtaPassThroughEx, time_out_value), 12);
        assert_eq!(
            std::mem::offset_of!(AtaPassThroughEx, data_buffer_offset),
            offset_buf
        );
        assert_eq!(
            std::mem::offset_of!(AtaPassThroughEx, current_task_file),
            offset_cur
        );
    }

    #[test]
    fn ata_requests_carry_the_task_file_and_replies_give_it_back() {
        use std::mem::offset_of;
        let head = std::mem::size_of::<AtaPassThroughEx>();
        let intro = AtaCommand {
            regs: [0x00, 0x01, 0x2A, 0x34, 0x12, 0xA0],
            command: 0x80,
            data_in: 0,
            timeout: std::time::Duration::from_secs(30),
        };
        let b = ata_request(&intro);
        assert_eq!(b.len(), head);
        assert_eq!(&b[0..2], &(head as u16).to_le_bytes(), "Length");
        assert_eq!(&b[2..4], &[0, 0], "no flags: non-data, DRDY not required");
        assert_eq!(&b[12..16], &30u32.to_le_bytes(), "timeout");
        let cur = offset_of!(AtaPassThroughEx, current_task_file);
        assert_eq!(
            &b[cur..cur + 8],
            &[0x00, 0x01, 0x2A, 0x34, 0x12, 0xA0, 0x80, 0]
        );
        let identify = AtaCommand {
            regs: [0, 0, 0, 0, 0, 0xB0],
            command: 0xA1,
            data_in: 512,
            timeout: std::time::Duration::from_millis(10),
        };
        let mut b = ata_request(&identify);
        assert_eq!(b.len(), head + 512);
        assert_eq!(&b[2..4], &ATA_FLAGS_DATA_IN.to_le_bytes());
        assert_eq!(&b[8..12], &512u32.to_le_bytes());
        assert_eq!(&b[12..16], &1u32.to_le_bytes(), "at least a second");
        let off = offset_of!(AtaPassThroughEx, data_buffer_offset);
        assert_eq!(b[off], head as u8, "data right after the header");
        // The reply: registers in the current task file, the data after the header.
        b[cur..cur + 7].copy_from_slice(&[0x04, 0x01, 0x5A, 0x14, 0xEB, 0xB0, 0x51]);
        b[8..12].copy_from_slice(&2u32.to_le_bytes());
        b[head] = 0xAB;
        b[head + 1] = 0xCD;
        let full = b.len();
        assert_eq!(
            ata_reply(&b, full),
            Some(AtaReply {
                regs: [0x04, 0x01, 0x5A, 0x14, 0xEB, 0xB0, 0x51],
                data: vec![0xAB, 0xCD]
            })
        );
        assert_eq!(ata_reply(&b[..10], 10), None, "a short buffer is no reply");
        assert_eq!(
            ata_reply(&b, 10),
            None,
            "fewer bytes returned than a header"
        );
        assert_eq!(
            ata_reply(&b, head + 1).map(|r| r.data),
            Some(vec![0xAB]),
            "only the data the call returned"
        );
        assert_eq!(ata_reply(&b, head).map(|r| r.data), Some(vec![]));
    }

    #[test]
    fn drive_letters_become_device_paths() {
        assert_eq!(device_path("E:"), r"\\.\E:");
        assert_eq!(device_path(r"\\.\CdRom0"), r"\\.\CdRom0");
    }
}
