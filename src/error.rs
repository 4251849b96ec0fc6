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
  2  usage error (wrong command line)
  3  input/output file problem (missing, unreadable, malformed, wrong size, exists)
  4  drive or transport problem (not found, no answer, no permission, not a MediaTek
     drive); the flash was not changed
  5  a write or verification failed; the message says what the flash holds and how
     to recover (run the same command again: the boot code is kept)
  6  refused for safety (firmware for another model, unknown flash chip); see --force
     and --chip
  130 interrupted (Ctrl-C or SIGTERM): stopped after the command in flight; the message
     says what the flash holds and how to finish";

/// A failed command, as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub exit: Exit,
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
        exit: Exit,
        what: impl Into<String>,
        drive: impl Into<String>,
        next: impl Into<String>,
    ) -> Self {
        Failure {
            exit,
            what: what.into(),
            drive: drive.into(),
            next: next.into(),
        }
    }
    pub fn usage(what: impl Into<String>, next: impl Into<String>) -> Self {
        Self::new(Exit::Usage, what, UNTOUCHED, next)
    }
    pub fn file(what: impl Into<String>, next: impl Into<String>) -> Self {
        Self::new(Exit::File, what, UNTOUCHED, next)
    }
    pub fn code(&self) -> i32 {
        self.exit as i32
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
