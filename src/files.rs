//! File handling for the command line and batch jobs: loading firmware, naming
//! backups, and writing outputs atomically without ever replacing a file. Operations
//! take bytes; this is where paths become bytes and bytes become files.

use crate::error::{Failure, Kind};
use crate::firmware::{self, Analysis, Firmware, Image};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Write `data` to `path` atomically without replacing an existing file.
pub fn write_new_file(path: &Path, data: &[u8]) -> Result<(), Failure> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let io = |e: std::io::Error| {
        Failure::file(
            format!("cannot write {}: {e}", path.display()),
            "choose another file name or folder",
        )
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".mtkflash")
        .tempfile_in(&dir)
        .map_err(io)?;
    tmp.write_all(data).map_err(io)?;
    give_to_user(tmp.as_file()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::file_kind(
                Kind::OutputExists,
                format!("{} already exists; it is not overwritten", path.display()),
                "choose another file name, or move the old file away",
            )
        } else {
            io(e.error)
        }
    })?;
    Ok(())
}

/// An output is an ordinary file of the person who ran the command: mode 0644 (a
/// temporary file starts at 0600), and under `sudo` owned by the invoking user
/// (SUDO_UID/SUDO_GID), so a backup made as root can be read and moved without root.
fn give_to_user(f: &std::fs::File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        let id = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u32>().ok());
        if let (Some(uid), Some(gid)) = (id("SUDO_UID"), id("SUDO_GID")) {
            // Only root can give a file away; as anyone else the file stays theirs.
            let _ = std::os::unix::fs::fchown(f, Some(uid), Some(gid));
        }
    }
    #[cfg(not(unix))]
    let _ = f;
    Ok(())
}

/// Can a new file be created at `path`? Checked before the drive is touched.
pub fn check_output(path: &Path, input: Option<&Path>) -> Result<(), Failure> {
    if path.exists() {
        return Err(Failure::file_kind(
            Kind::OutputExists,
            format!(
                "{} already exists; mtkflash never overwrites a file",
                path.display()
            ),
            "give another file name, or move the old file away",
        ));
    }
    if let Some(inp) = input {
        let same = match (
            inp.canonicalize(),
            path.parent()
                .map(|d| {
                    if d.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        d
                    }
                })
                .and_then(|d| d.canonicalize().ok()),
        ) {
            (Ok(a), Some(d)) => path.file_name().map(|n| d.join(n) == a).unwrap_or(false),
            _ => false,
        };
        if same || inp == path {
            return Err(Failure::file(
                "the output file is the input file",
                "give the backup another name",
            ));
        }
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    tempfile::Builder::new()
        .prefix(".mtkflash-probe")
        .tempfile_in(&dir)
        .map(|_| ())
        .map_err(|e| {
            Failure::file(
                format!("cannot create files in {}: {e}", dir.display()),
                "choose a folder you can write to",
            )
        })
}

fn auto_backup_path(input: &Path, content: &[u8]) -> (PathBuf, bool) {
    let dir = input.parent().unwrap_or(Path::new(""));
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "firmware".into());
    for n in 1..1000 {
        let name = if n == 1 {
            format!("{stem}.backup.bin")
        } else {
            format!("{stem}.backup-{n}.bin")
        };
        let p = dir.join(name);
        match std::fs::read(&p) {
            Ok(existing) if existing == content => return (p, true),
            Ok(_) => continue,
            Err(_) if !p.exists() => return (p, false),
            Err(_) => continue,
        }
    }
    (
        dir.join(format!("{stem}.backup-{}.bin", std::process::id())),
        false,
    )
}

/// Read a firmware file, with the user-facing message when it cannot be used.
pub fn load_firmware(path: &Path) -> Result<Firmware, Failure> {
    firmware::load(path).map_err(|e| {
        let kind = match e {
            firmware::FirmwareError::Io { .. } => Kind::File,
            _ => Kind::BadImage,
        };
        Failure::file_kind(
            kind,
            format!("{}: {e}", path.display()),
            "check that this is a firmware file (.bin, Intel HEX or BTC HEX) and that it was copied whole",
        )
    })
}

/// Load a firmware file as an [`Image`] named by its path.
pub fn load_image(path: &Path) -> Result<Image, Failure> {
    let fw = load_firmware(path)?;
    let analysis = Analysis::of(&fw.data);
    Ok(Image {
        name: path.display().to_string(),
        source: Some(path.to_path_buf()),
        fw,
        analysis,
    })
}

/// Save `current` as the backup `backup` asks for (`auto_next_to`: the image's file, for
/// [`Backup::Auto`]); returns where it is. An identical existing auto backup is reused.
pub fn save_backup(
    backup: &Backup,
    auto_next_to: Option<&Path>,
    current: &[u8],
) -> Result<Option<PathBuf>, Failure> {
    match backup {
        Backup::Skip => Ok(None),
        Backup::To(p) => {
            write_new_file(p, current)?;
            Ok(Some(p.clone()))
        }
        Backup::Auto => {
            let input = auto_next_to.ok_or_else(|| {
                Failure::usage(
                    "an automatic backup goes next to the image's file, and this image has none",
                    "give the backup a path (Backup::To) or skip it",
                )
            })?;
            let (p, exists) = auto_backup_path(input, current);
            if !exists {
                write_new_file(&p, current)?;
            }
            Ok(Some(p))
        }
    }
}

/// Where the backup of the current flash goes before a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backup {
    /// Next to the input file: `<stem>.backup.bin`, or `.backup-2.bin`, `-3`, ... when
    /// taken (an existing backup with the same content is reused).
    Auto,
    To(PathBuf),
    Skip,
}
