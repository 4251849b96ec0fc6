//! The user-facing failure: what happened, what state the drive is in, what to do next,
//! and the exit code scripts rely on.

use std::fmt;

/// Exit codes (documented in README and `--help`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Done (and verified, for writes).
    Ok = 0,
    /// The command line is wrong.
    Usage = 2,
    /// An input or output file is missing, unreadable, malformed or not writable.
    File = 3,
    /// The drive or its connection: not found, no answer, no permission, not MediaTek.
    /// The flash was not changed.
    Drive = 4,
    /// A write or verification failed: the flash may hold a partial image.
    Write = 5,
    /// Refused for safety (wrong model, unknown chip, ...); `--force`/`--chip` overrides.
    Refused = 6,
    /// Interrupted (Ctrl-C, SIGTERM) at a safe point; the message says the drive's state.
    Interrupted = 130,
}

pub const EXIT_CODE_HELP: &str = "\
Exit codes:
  0  done (writes: every planned byte read back correct, checksum matches)
  2  usage error (wrong command line), or a question not answered yes
  3  input/output file problem (missing, unreadable, malformed, wrong size, exists)
  4  drive or transport problem (not found, no answer, no permission, not a MediaTek
     drive); the flash was not changed
  5  a write, verification or erase failed, or the drive does not start what was
     written; the message says what the flash holds and how to recover (usually: run
     the same command again, the boot code is kept)
  6  refused for safety (firmware for another model, an image the drive would not
     start, an unknown or conflicting flash chip, a later family's drive whose own
     calibration is blank: write its backup first); see --force and --chip
  130 interrupted (Ctrl-C, SIGTERM or SIGHUP): stopped after the command in flight (at
     a question: at once, nothing changed; during a boot-code rewrite or an upload to
     the drive's own updater: once that is done); the message says what the flash
     holds and how to finish";

/// What went wrong, as a stable machine code (`--json` error events carry it as `code`)
/// mapped to its exit code in [`Kind::exit`], the one table of exit codes. Layer errors
/// become kinds where they become [`Failure`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The command line is wrong.
    Usage,
    /// A question that guards a destructive step was not answered yes.
    NotConfirmed,
    /// A file cannot be read or written.
    File,
    /// The output file exists; mtkflash never overwrites.
    OutputExists,
    /// The input is not a usable firmware image (format, boot code, banks, identity).
    BadImage,
    /// The image's size is not the flash's (or the protocol's).
    SizeMismatch,
    /// No drive answers there (0xFF bus, no such device, no virtual drive file).
    NoDrive,
    /// The OS refused access (not root, no capability, locked down).
    NoPermission,
    /// Another mtkflash holds this drive's lock.
    Busy,
    /// A kernel driver owns the ports (`--force` uses them anyway).
    PortsInUse,
    /// The drive or the path to it failed a command (timeouts, errors, unreliable reads).
    DriveError,
    /// The drive does not take the vendor intro: not MediaTek, or not right now.
    NotMediatek,
    /// The intro's answer names a bridge no known flasher writes to (0x52, ...).
    IntroRefused,
    /// The pass-through path did something on its own (sense it made up, a reset).
    PathFault,
    /// This system or path cannot do what was asked (raw ports on Windows, ...).
    NotSupported,
    /// The drive does not speak its own update protocol (BTC WRITE BUFFER).
    NoUpdater,
    /// The drive did not come back after leaving vendor mode or after an update.
    NotBack,
    /// Erasing or programming failed; the flash may hold a partial image.
    WriteFailed,
    /// What was written does not read back as the image.
    VerifyFailed,
    /// `verify`: the flash differs from the file (nothing was written).
    Differs,
    /// A trace replay found the model answering otherwise.
    ReplayDiverged,
    /// The image is for another drive model.
    ModelMismatch,
    /// The flash chip's ID is not in the table.
    UnknownChip,
    /// The flash ID fits chips of different geometry.
    AmbiguousChip,
    /// `--chip` names another chip than the one identified.
    ChipConflict,
    /// The planned result is an image the drive would not start.
    WouldNotBoot,
    /// Written and verified, but the drive does not start the image.
    NotBooting,
    /// `erase --boot` did what it says: only a programmer can revive the drive.
    BootErased,
    /// The write plan failed its own consistency check.
    PlanCheck,
    /// A later family's drive lacks its own calibration (blank, or unreadable in its
    /// backup): writing would make the loss permanent.
    UnitDataMissing,
    /// Ctrl-C or SIGTERM, stopped at a safe point.
    Interrupted,
}

impl Kind {
    /// Every kind, for documentation and tests.
    pub const ALL: &'static [Kind] = &[
        Kind::Usage,
        Kind::NotConfirmed,
        Kind::File,
        Kind::OutputExists,
        Kind::BadImage,
        Kind::SizeMismatch,
        Kind::NoDrive,
        Kind::NoPermission,
        Kind::Busy,
        Kind::PortsInUse,
        Kind::DriveError,
        Kind::NotMediatek,
        Kind::IntroRefused,
        Kind::PathFault,
        Kind::NotSupported,
        Kind::NoUpdater,
        Kind::NotBack,
        Kind::WriteFailed,
        Kind::VerifyFailed,
        Kind::Differs,
        Kind::ReplayDiverged,
        Kind::ModelMismatch,
        Kind::UnknownChip,
        Kind::AmbiguousChip,
        Kind::ChipConflict,
        Kind::WouldNotBoot,
        Kind::NotBooting,
        Kind::BootErased,
        Kind::PlanCheck,
        Kind::UnitDataMissing,
        Kind::Interrupted,
    ];

    /// The stable machine code and the exit code of each kind: the one table.
    pub fn table(self) -> (&'static str, Exit) {
        match self {
            Kind::Usage => ("usage", Exit::Usage),
            Kind::NotConfirmed => ("not-confirmed", Exit::Usage),
            Kind::File => ("file", Exit::File),
            Kind::OutputExists => ("output-exists", Exit::File),
            Kind::BadImage => ("bad-image", Exit::File),
            Kind::SizeMismatch => ("size-mismatch", Exit::File),
            Kind::NoDrive => ("no-drive", Exit::Drive),
            Kind::NoPermission => ("no-permission", Exit::Drive),
            Kind::Busy => ("busy", Exit::Drive),
            Kind::PortsInUse => ("ports-in-use", Exit::Drive),
            Kind::DriveError => ("drive-error", Exit::Drive),
            Kind::NotMediatek => ("not-mediatek", Exit::Drive),
            Kind::IntroRefused => ("intro-refused", Exit::Drive),
            Kind::PathFault => ("path-fault", Exit::Drive),
            Kind::NotSupported => ("not-supported", Exit::Drive),
            Kind::NoUpdater => ("no-updater", Exit::Drive),
            Kind::NotBack => ("not-back", Exit::Drive),
            Kind::WriteFailed => ("write-failed", Exit::Write),
            Kind::VerifyFailed => ("verify-failed", Exit::Write),
            Kind::Differs => ("differs", Exit::Write),
            Kind::ReplayDiverged => ("replay-diverged", Exit::Write),
            Kind::ModelMismatch => ("model-mismatch", Exit::Refused),
            Kind::UnknownChip => ("unknown-chip", Exit::Refused),
            Kind::AmbiguousChip => ("ambiguous-chip", Exit::Refused),
            Kind::ChipConflict => ("chip-conflict", Exit::Refused),
            Kind::WouldNotBoot => ("would-not-boot", Exit::Refused),
            Kind::NotBooting => ("not-booting", Exit::Write),
            Kind::BootErased => ("boot-erased", Exit::Write),
            Kind::PlanCheck => ("plan-check", Exit::Refused),
            Kind::UnitDataMissing => ("unit-data-missing", Exit::Refused),
            Kind::Interrupted => ("interrupted", Exit::Interrupted),
        }
    }
    pub fn code(self) -> &'static str {
        self.table().0
    }
    pub fn exit(self) -> Exit {
        self.table().1
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A failed command, as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong; decides the exit code.
    pub kind: Kind,
    /// What happened.
    pub what: String,
    /// The drive's state: always said, so nobody has to guess.
    pub drive: String,
    /// What to do next.
    pub next: String,
}

pub const UNTOUCHED: &str = "not touched";
pub const NOT_CHANGED: &str =
    "flash not changed (vendor mode was entered and left; nothing was written)";

impl Failure {
    pub fn new(
        kind: Kind,
        what: impl Into<String>,
        drive: impl Into<String>,
        next: impl Into<String>,
    ) -> Self {
        Failure {
            kind,
            what: what.into(),
            drive: drive.into(),
            next: next.into(),
        }
    }
    pub fn usage(what: impl Into<String>, next: impl Into<String>) -> Self {
        Self::new(Kind::Usage, what, UNTOUCHED, next)
    }
    pub fn file(what: impl Into<String>, next: impl Into<String>) -> Self {
        Self::new(Kind::File, what, UNTOUCHED, next)
    }
    /// A file failure of a more precise kind (exists, bad image, wrong size).
    pub fn file_kind(kind: Kind, what: impl Into<String>, next: impl Into<String>) -> Self {
        Self::new(kind, what, UNTOUCHED, next)
    }
    pub fn exit(&self) -> Exit {
        self.kind.exit()
    }
    /// The process exit code.
    pub fn code(&self) -> i32 {
        self.exit() as i32
    }
    /// Replace the drive-state line (e.g. when a failure happened after the intro).
    pub fn with_drive(mut self, drive: impl Into<String>) -> Self {
        self.drive = drive.into();
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.what)?;
        writeln!(f, "drive: {}", self.drive)?;
        write!(f, "next:  {}", self.next)
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_distinct_code_and_a_documented_exit() {
        let mut seen = std::collections::HashSet::new();
        for k in Kind::ALL {
            assert!(seen.insert(k.code()), "{k:?} repeats a code");
            assert!(
                k.code().chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{k:?}"
            );
            let line = format!("  {} ", k.exit() as i32);
            assert!(
                EXIT_CODE_HELP.contains(&line),
                "{k:?}: exit {line} undocumented"
            );
        }
    }

    #[test]
    fn the_json_schema_lists_exactly_the_kinds() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../docs/events.schema.json")).unwrap();
        let error = schema["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["properties"]["event"]["const"] == "error")
            .unwrap();
        let listed: Vec<&str> = error["properties"]["code"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let codes: Vec<&str> = Kind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(listed, codes);
    }
}
