//! Linux SG_IO pass-through on /dev/sgN (or /dev/srN, mapped to its sg twin).

use super::scsi::{classify, Category, Dir, ScsiResult, ScsiTransport, TransportError};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SG_IO: libc::c_ulong = 0x2285;
const SG_GET_RESERVED_SIZE: libc::c_ulong = 0x2272;
const SG_DXFER_NONE: libc::c_int = -1;
const SG_DXFER_TO_DEV: libc::c_int = -2;
const SG_DXFER_FROM_DEV: libc::c_int = -3;

/// `struct sg_io_hdr` from <scsi/sg.h> (88 bytes on x86_64).
#[repr(C)]
pub struct SgIoHdr {
    pub interface_id: libc::c_int,
    pub dxfer_direction: libc::c_int,
    pub cmd_len: u8,
    pub mx_sb_len: u8,
    pub iovec_count: u16,
    pub dxfer_len: u32,
    pub dxferp: *mut libc::c_void,
    pub cmdp: *mut u8,
    pub sbp: *mut u8,
    pub timeout: u32,
    pub flags: u32,
    pub pack_id: libc::c_int,
    pub usr_ptr: *mut libc::c_void,
    pub status: u8,
    pub masked_status: u8,
    pub msg_status: u8,
    pub sb_len_wr: u8,
    pub host_status: u16,
    pub driver_status: u16,
    pub resid: libc::c_int,
    pub duration: u32,
    pub info: u32,
}

pub struct SgIo {
    file: std::fs::File,
    path: String,
    max: usize,
}

/// /dev/srN -> /dev/sgM through sysfs (vendor commands need the sg node for callers
/// without CAP_SYS_RAWIO).
pub fn sg_twin(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    if !name.starts_with("sr") {
        return None;
    }
    let dir = Path::new("/sys/block")
        .join(name)
        .join("device/scsi_generic");
    let e = std::fs::read_dir(dir).ok()?.flatten().next()?;
    Some(Path::new("/dev").join(e.file_name()))
}

/// The kernel driver of the SCSI host an sg device hangs off (`ahci`, `ata_piix`,
/// `pata_*`, `usb-storage`, ...), from sysfs: /sys/class/scsi_generic/sgN/device
/// resolves into .../hostH/..., whose /sys/class/scsi_host/hostH/proc_name names it.
pub fn host_driver(sys: &Path, path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let dev =
        std::fs::canonicalize(sys.join("class/scsi_generic").join(name).join("device")).ok()?;
    let host = dev
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .find(|c| c.starts_with("host") && c[4..].chars().all(|d| d.is_ascii_digit()))?
        .to_string();
    let n =
        std::fs::read_to_string(sys.join("class/scsi_host").join(host).join("proc_name")).ok()?;
    Some(n.trim().to_string())
}

/// What libata's error handler does after a vendor-mode status (DF set) on a host with
/// this driver (docs/inferences.md, "libata and ATA PASS-THROUGH"): SFF drivers run it
/// for DF alone and send the drive a REQUEST SENSE packet; AHCI does only for ERR
/// (0x73). None: not a libata host, or not known.
pub fn libata_request_sense_on_df(driver: &str) -> Option<bool> {
    match driver {
        "ahci" => Some(false),
        d if d == "ata_piix"
            || d.starts_with("pata_")
            || d.starts_with("sata_")
            || d == "ata_generic" =>
        {
            Some(true)
        }
        _ => None,
    }
}

fn os_err(path: &str, e: &std::io::Error) -> TransportError {
    let errno = e.raw_os_error().unwrap_or(0);
    let what = match errno {
        libc::EACCES | libc::EPERM => format!(
            "permission denied ({e}); run as root, or add yourself to the group owning {path} (often 'cdrom') and use the /dev/sgN node opened read-write"
        ),
        libc::ENOENT => format!("no such device ({e}); `mtkflash scan` lists the optical drives"),
        libc::EBUSY => format!("the device is busy ({e}); unmount any disc and close programs using the drive"),
        _ => e.to_string(),
    };
    TransportError::Os {
        path: path.to_string(),
        what,
        errno,
    }
}

impl SgIo {
    pub fn open(path: &Path) -> Result<SgIo, TransportError> {
        let p = sg_twin(path).unwrap_or_else(|| path.to_path_buf());
        let ps = p.display().to_string();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&p)
            .map_err(|e| os_err(&ps, &e))?;
        let mut reserved: libc::c_int = 0;
        // SAFETY: SG_GET_RESERVED_SIZE writes one int through the valid pointer; on a
        // non-sg node it fails with an error code and writes nothing.
        let r = unsafe { libc::ioctl(file.as_raw_fd(), SG_GET_RESERVED_SIZE as _, &mut reserved) };
        if r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOTTY) {
            return Err(TransportError::Os {
                path: ps,
                what: "not a SCSI generic or CD/DVD device (it does not take SG_IO commands); `mtkflash scan` lists the drives".into(),
                errno: libc::ENOTTY,
            });
        }
        let mut max = if r == 0 && reserved > 0 {
            reserved as usize
        } else {
            64 * 1024
        };
        if let Some(kb) = path
            .file_name()
            .and_then(|n| {
                std::fs::read_to_string(
                    Path::new("/sys/block")
                        .join(n)
                        .join("queue/max_hw_sectors_kb"),
                )
                .ok()
            })
            .and_then(|s| s.trim().parse::<usize>().ok())
        {
            max = max.min(kb * 1024);
        }
        Ok(SgIo {
            file,
            path: ps,
            max: max.max(4096),
        })
    }
}

impl ScsiTransport for SgIo {
    fn execute(
        &mut self,
        cdb: &[u8],
        dir: Dir<'_>,
        timeout: Duration,
    ) -> Result<ScsiResult, TransportError> {
        let mut cdb_buf = cdb.to_vec();
        let mut sense = [0u8; 64];
        let mut data: Vec<u8> = match dir {
            Dir::In(n) => vec![0u8; n],
            Dir::Out(d) => d.to_vec(),
            Dir::None => Vec::new(),
        };
        let direction = match dir {
            Dir::None => SG_DXFER_NONE,
            Dir::In(_) => SG_DXFER_FROM_DEV,
            Dir::Out(_) => SG_DXFER_TO_DEV,
        };
        let mut h = SgIoHdr {
            interface_id: b'S' as libc::c_int,
            dxfer_direction: direction,
            cmd_len: cdb_buf.len() as u8,
            mx_sb_len: sense.len() as u8,
            iovec_count: 0,
            dxfer_len: data.len() as u32,
            dxferp: if data.is_empty() {
                std::ptr::null_mut()
            } else {
                data.as_mut_ptr().cast()
            },
            cmdp: cdb_buf.as_mut_ptr(),
            sbp: sense.as_mut_ptr(),
            timeout: timeout.as_millis().min(u32::MAX as u128) as u32,
            flags: 0,
            pack_id: 0,
            usr_ptr: std::ptr::null_mut(),
            status: 0,
            masked_status: 0,
            msg_status: 0,
            sb_len_wr: 0,
            host_status: 0,
            driver_status: 0,
            resid: 0,
            duration: 0,
            info: 0,
        };
        let fd = self.file.as_raw_fd();
        // SAFETY: SG_IO reads the header and the CDB, writes the sense buffer (at most
        // mx_sb_len bytes) and moves at most dxfer_len bytes through dxferp; every
        // pointer refers to a live local buffer of the stated length for the whole call.
        // Signals are held back so Ctrl-C cannot orphan the request.
        let r = crate::interrupt::deferred(|| unsafe {
            libc::ioctl(fd, SG_IO as _, &mut h as *mut SgIoHdr)
        });
        if r < 0 {
            return Err(os_err(&self.path, &std::io::Error::last_os_error()));
        }
        let sb = sense[..(h.sb_len_wr as usize).min(sense.len())].to_vec();
        match classify(h.host_status, h.driver_status, h.status, sb.len()) {
            Category::Transport => Err(TransportError::Host {
                path: self.path.clone(),
                host: h.host_status,
                driver: h.driver_status,
            }),
            _ => {
                if let Dir::In(n) = dir {
                    // resid is unreliable behind libata: trust it only when it is sane.
                    if h.resid > 0 && (h.resid as usize) < n {
                        data.truncate(n - h.resid as usize);
                    }
                } else {
                    data.clear();
                }
                Ok(ScsiResult {
                    status: h.status,
                    sense: sb,
                    data,
                })
            }
        }
    }
    fn max_transfer(&self) -> usize {
        self.max
    }
    fn describe(&self) -> String {
        self.path.clone()
    }
    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_matches_the_kernel() {
        assert_eq!(std::mem::size_of::<SgIoHdr>(), 88);
        assert_eq!(std::mem::offset_of!(SgIoHdr, dxferp), 16);
        assert_eq!(std::mem::offset_of!(SgIoHdr, timeout), 40);
        assert_eq!(std::mem::offset_of!(SgIoHdr, usr_ptr), 56);
        assert_eq!(std::mem::offset_of!(SgIoHdr, status), 64);
        assert_eq!(std::mem::offset_of!(SgIoHdr, host_status), 68);
        assert_eq!(std::mem::offset_of!(SgIoHdr, resid), 72);
        assert_eq!(std::mem::offset_of!(SgIoHdr, info), 80);
    }

    #[test]
    fn missing_device_says_how_to_find_one() {
        let e = SgIo::open(Path::new("/dev/sg-does-not-exist"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("mtkflash scan"), "{e}");
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;

    #[test]
    fn the_host_driver_is_read_from_sysfs() {
        let d = tempfile::tempdir().unwrap();
        let sys = d.path();
        let dev = sys.join("devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0");
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::create_dir_all(sys.join("class/scsi_generic/sg0")).unwrap();
        std::os::unix::fs::symlink(&dev, sys.join("class/scsi_generic/sg0/device")).unwrap();
        std::fs::create_dir_all(sys.join("class/scsi_host/host0")).unwrap();
        std::fs::write(sys.join("class/scsi_host/host0/proc_name"), "ata_piix\n").unwrap();
        let drv = host_driver(sys, Path::new("/dev/sg0")).unwrap();
        assert_eq!(drv, "ata_piix");
        assert_eq!(libata_request_sense_on_df(&drv), Some(true));
        assert_eq!(libata_request_sense_on_df("ahci"), Some(false));
        assert_eq!(libata_request_sense_on_df("usb-storage"), None);
        assert_eq!(host_driver(sys, Path::new("/dev/sg1")), None);
    }
}
