//! One mtkflash at a time per drive: an exclusive lock held for the whole session. Two
//! vendor sessions on one channel would interleave their register writes; two writes to
//! one virtual drive would both claim success while one is lost.
//!
//! What is locked: the drive file itself for `sim:`; otherwise a lock file per port
//! base (master and slave share the channel's registers) or per pass-through device,
//! in /run/lock when it is writable, else the runtime or temporary folder. The locks
//! are advisory `flock`-style locks the OS drops when the process ends, so a crash
//! leaves nothing stale. The holder's pid is written into lock files (and, for a drive
//! file, looked up in /proc/locks) so the refusal can name it.

use super::target::Target;
use crate::error::{Failure, Kind, UNTOUCHED};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// An exclusive lock on one drive; released when dropped.
#[derive(Debug)]
pub struct DriveLock {
    _file: File,
    pub path: PathBuf,
}

/// The folder for lock files.
fn lock_dir() -> PathBuf {
    let run_lock = Path::new("/run/lock");
    if cfg!(unix) && writable(run_lock) {
        return run_lock.to_path_buf();
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        if writable(&d) {
            return d;
        }
    }
    std::env::temp_dir()
}

fn writable(dir: &Path) -> bool {
    tempfile::Builder::new()
        .prefix(".mtkflash-lock-probe")
        .tempfile_in(dir)
        .is_ok()
}

/// Whether a virtual drive is locked through its own file. Not on Windows: a file held
/// open cannot be replaced there, and a drive file is saved by replacing it, so the
/// lock is a lock file named after the drive file's full path.
const LOCK_DRIVE_FILE: bool = cfg!(unix);

/// The file that stands for `target` (None: nothing to lock).
pub fn lock_path(target: &Target) -> PathBuf {
    let named = |kind: &str, p: &Path| {
        let real = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        let mut spelled = real.to_string_lossy().to_string();
        if cfg!(windows) {
            // `e:`, `E:` and `\\.\E:` are one drive; Windows paths ignore case.
            spelled = crate::transport::spti::device_path(&spelled).to_uppercase();
        }
        let mut name: String = spelled
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if name.len() > 100 {
            // (File names stop at 255 bytes: the end of the path and a sum of all of it.)
            let sum = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(spelled.as_bytes());
            name = format!("{}-{sum:08x}", &name[name.len() - 80..]);
        }
        lock_dir().join(format!("mtkflash-{kind}{name}.lock"))
    };
    match target {
        Target::Sim(p) if LOCK_DRIVE_FILE => p.clone(),
        Target::Sim(p) => named("sim", p),
        Target::Ports(ch) => lock_dir().join(format!("mtkflash-port-{:x}.lock", ch.cmd)),
        Target::Scsi(p) => named("dev", p),
    }
}

fn busy(target: &Target, pid: Option<u32>) -> Failure {
    let who = match pid {
        Some(p) => format!("another mtkflash (pid {p})"),
        None => "another mtkflash".to_string(),
    };
    Failure::new(
        Kind::Busy,
        format!("busy: {who} is using {}", target.describe()),
        UNTOUCHED,
        "wait for it to finish (never run two flashers on one drive or one IDE channel), then run the command again",
    )
}

/// Take the drive's lock, or refuse at once (no waiting: a flash in progress can take
/// minutes, and a script should learn that now).
/// None for a drive file that does not exist (the opener says so).
pub fn acquire(target: &Target) -> Result<Option<DriveLock>, Failure> {
    let path = lock_path(target);
    let is_sim = LOCK_DRIVE_FILE && matches!(target, Target::Sim(_));
    for _ in 0..5 {
        let mut opts = OpenOptions::new();
        if is_sim {
            // The drive file must exist (a missing one is reported by the opener); it is
            // opened for reading only, and never truncated.
            opts.read(true);
        } else {
            opts.read(true).write(true).create(true).truncate(false);
        }
        // A lock file another user made (root, earlier) opens read-only: a lock works
        // on any descriptor; only the pid is not written then.
        let opened = opts.open(&path).or_else(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied if !is_sim => File::open(&path),
            _ => Err(e),
        });
        let file = match opened {
            Ok(f) => f,
            // Nothing to lock: the opener reports the missing drive file.
            Err(_) if is_sim => return Ok(None),
            Err(e) => {
                return Err(Failure::new(
                    Kind::NoPermission,
                    format!("cannot create the lock file {}: {e}", path.display()),
                    UNTOUCHED,
                    "run as root, or make /run/lock writable",
                ))
            }
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(busy(target, holder(&path, &file)));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Failure::new(
                    Kind::NoPermission,
                    format!("cannot lock {}: {e}", path.display()),
                    UNTOUCHED,
                    "check the file system supports locks (a local folder does)",
                ))
            }
        }
        // A drive file is replaced whole when it is saved: the lock must be on the file
        // the path names now, else a third process could lock the new one.
        if is_sim && !same_file(&file, &path) {
            continue;
        }
        if !is_sim {
            let mut f = &file;
            let _ = f.set_len(0);
            let _ = writeln!(f, "{}", std::process::id());
        }
        return Ok(Some(DriveLock { _file: file, path }));
    }
    Err(busy(target, None))
}

#[cfg(unix)]
fn same_file(f: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (f.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_f: &File, _path: &Path) -> bool {
    true
}

/// Who holds the lock: the pid in a lock file, or (Linux) the process /proc/locks names
/// for the file's inode.
fn holder(path: &Path, file: &File) -> Option<u32> {
    if let Some(pid) = std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        return Some(pid);
    }
    proc_locks_holder(file)
}

#[cfg(target_os = "linux")]
fn proc_locks_holder(file: &File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let m = file.metadata().ok()?;
    let ino = m.ino();
    let text = std::fs::read_to_string("/proc/locks").ok()?;
    // "1: FLOCK  ADVISORY  WRITE 12345 08:01:1234567 0 EOF": pid, then maj:min:inode.
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let pos = f.iter().position(|w| *w == "WRITE" || *w == "READ")?;
        let pid: u32 = f.get(pos + 1)?.parse().ok()?;
        let node = f.get(pos + 2)?;
        let i: u64 = node.rsplit(':').next()?.parse().ok()?;
        (i == ino).then_some(pid)
    })
}

#[cfg(not(target_os = "linux"))]
fn proc_locks_holder(_file: &File) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_session_on_the_same_drive_file_is_refused_with_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.mtksim");
        std::fs::write(&p, b"x").unwrap();
        let t = Target::Sim(p.clone());
        let held = acquire(&t).unwrap().expect("a lock on an existing file");
        let f = acquire(&t).unwrap_err();
        assert_eq!(f.kind, Kind::Busy);
        assert_eq!(f.drive, UNTOUCHED);
        if cfg!(target_os = "linux") {
            let me = format!("pid {}", std::process::id());
            assert!(f.what.contains(&me), "{}", f.what);
        }
        drop(held);
        assert!(acquire(&t).unwrap().is_some(), "free again once released");
    }

    #[test]
    #[cfg(unix)]
    fn a_replaced_drive_file_is_locked_as_it_is_now() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.mtksim");
        std::fs::write(&p, b"old").unwrap();
        let t = Target::Sim(p.clone());
        let first = acquire(&t).unwrap().unwrap();
        // The holder saves: the path now names a new file. A newcomer locks that one,
        // and a third process is refused on it.
        let tmp = dir.path().join("new");
        std::fs::write(&tmp, b"new").unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        let second = acquire(&t).unwrap().unwrap();
        assert_eq!(acquire(&t).unwrap_err().kind, Kind::Busy);
        drop((first, second));
    }

    #[test]
    fn a_long_drive_path_gets_a_short_lock_name() {
        let deep = PathBuf::from(format!("/{}/d.mtksim", "folder/".repeat(60)));
        let t = Target::Scsi(deep.clone());
        let name = lock_path(&t)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        assert!(name.len() < 120, "{name}");
        let other = Target::Scsi(PathBuf::from(format!(
            "/x{}/d.mtksim",
            "folder/".repeat(60)
        )));
        assert_ne!(
            lock_path(&t),
            lock_path(&other),
            "paths that end alike differ"
        );
    }

    #[test]
    fn master_and_slave_share_their_channel_lock() {
        let a = Target::parse("3").unwrap();
        let b = Target::parse("4").unwrap();
        let c = Target::parse("1").unwrap();
        assert_eq!(lock_path(&a), lock_path(&b));
        assert_ne!(lock_path(&a), lock_path(&c));
    }

    #[test]
    #[cfg(unix)]
    fn a_missing_drive_file_is_not_locked_but_left_to_the_opener() {
        let dir = tempfile::tempdir().unwrap();
        let t = Target::Sim(dir.path().join("none.mtksim"));
        assert!(acquire(&t).unwrap().is_none());
    }
}
