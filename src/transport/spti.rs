//! Windows SCSI pass-through (SPTI): IOCTL_SCSI_PASS_THROUGH_DIRECT on \\.\E: or
//! \\.\CdRom0, for the packet path (the drive's own update). Raw task-file ports on
//! Windows need a kernel driver, which this tool does not ship.
//!
//! The structure layout is plain data and is checked on every platform; the Win32 calls
//! exist only on Windows.

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
            Ok(Spti { handle: h, path: p })
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
            let mut returned = 0u32;
            let size = std::mem::size_of::<WithSense>() as u32;
            let sp: *mut WithSense = &mut s;
            // SAFETY: input and output are the same live WithSense of `size` bytes; the
            // data buffer it points to lives in `store` for the whole call.
            let ok = unsafe {
                DeviceIoControl(
                    self.handle,
                    IOCTL_SCSI_PASS_THROUGH_DIRECT,
                    sp.cast(),
                    size,
                    sp.cast(),
                    size,
                    &mut returned,
                    std::ptr::null_mut(),
                )
            };
            if ok == 0 {
                // SAFETY: reads the calling thread's last-error value.
                let err = unsafe { GetLastError() };
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
    fn drive_letters_become_device_paths() {
        assert_eq!(device_path("E:"), r"\\.\E:");
        assert_eq!(device_path(r"\\.\CdRom0"), r"\\.\CdRom0");
    }
}
