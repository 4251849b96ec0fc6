//! The use cases: info, read, write, verify, erase, check, scan. Each takes an open
//! device (from `connect`) and bytes (an [`Image`](crate::firmware::Image)), runs
//! identify -> vendor mode -> read -> plan -> execute -> verify -> leave, and reports
//! through [`Ui`]. Nothing here opens a drive by itself (but `scan`, whose job that is)
//! or reads and writes files (but the backup, through `files`).

pub mod atapi;
pub mod check;
pub mod execute;
pub mod family;
pub mod flash;
pub mod readback;
pub mod scan;
pub mod session;
pub mod write;

pub use crate::report::{Event, Recorder, Ui};

/// The failure of a command stopped at a safe point by Ctrl-C, SIGTERM or SIGHUP:
/// "interrupted (<what arrived>) <doing>", exit 130.
pub(crate) fn interrupted(
    doing: &str,
    drive: impl Into<String>,
    next: impl Into<String>,
) -> crate::error::Failure {
    crate::error::Failure::new(
        crate::error::Kind::Interrupted,
        format!("interrupted ({}) {doing}", crate::interrupt::what()),
        drive,
        next,
    )
}
pub use session::{EnterOptions, Identity, Session};
pub use write::{Report, WriteOptions};
