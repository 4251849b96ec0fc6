//! Structured events for `--json` (schema: docs/events.schema.json, version 2). One JSON
//! object per line on stdout; nothing else is printed there in that mode.

use serde::Serialize;

/// 2 (mtkflash 0.2): `error` and `drive-result` carry `code`, the failure's kind; the
/// `phase` event is new. Version 1 had neither.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// First line of every run.
    Start {
        version: u32,
        tool: String,
        command: String,
        port: Option<String>,
        file: Option<String>,
    },
    /// Who the drive says it is (mode "firmware" or "boot-only").
    Identity {
        vendor: String,
        product: String,
        revision: String,
        mode: String,
    },
    /// The flash chip found in vendor mode.
    Chip {
        name: String,
        vendor: String,
        bus: String,
        size: u32,
        ids: String,
    },
    /// Progress of a stage ("reading", "writing", "verifying", "uploading").
    Progress {
        stage: String,
        done: u64,
        total: u64,
    },
    /// One step of a write plan in the order it would run (`write --dry-run`): an erase
    /// unit, a program range, or (ATAPI update) a command.
    PlanStep {
        index: usize,
        bank: u32,
        op: String,
        start: u32,
        len: u32,
        detail: String,
        chip_ms: f64,
        commit: bool,
    },
    /// A human line ("info") or a warning.
    Message { level: String, text: String },
    /// A drive found by `scan` (or by `update`).
    Drive {
        port: String,
        what: String,
        identity: Option<String>,
        vendor_intro: Option<String>,
    },
    /// One drive's outcome in a batch `update`: "updated", "skipped", "failed", "no-rule".
    DriveResult {
        port: String,
        status: String,
        detail: String,
        exit: i32,
        /// The failure's kind when `status` is "failed".
        code: Option<String>,
    },
    /// Last line on success: command-specific fields.
    Result {
        ok: bool,
        exit: i32,
        #[serde(flatten)]
        fields: serde_json::Map<String, serde_json::Value>,
    },
    /// A measured stage finished: what it did and how long it took (after the stage's
    /// last progress event).
    Phase {
        stage: String,
        done: u64,
        total: u64,
        seconds: f64,
    },
    /// The command's closing line (`Done: ...`): shown even with `-q` (`--json`: a
    /// message event, as in version 1).
    #[serde(skip)]
    Summary { text: String },
    /// Work on a 64 KiB bank began: the classic `BankN` line (`--json`: a message
    /// event with that text, as in version 1).
    #[serde(skip)]
    Bank { bank: u32 },
    /// A measured stage of `total` bytes began (`--json`: a progress event at 0).
    #[serde(skip)]
    Begin { stage: String, total: u64 },
    /// More of the current stage is done (`--json`: throttled progress events).
    #[serde(skip)]
    Advance { bytes: u64 },
    /// The current stage ended (`--json`: its last progress event, then `phase`).
    #[serde(skip)]
    End,
    /// Last line on failure; `code` is the failure's stable kind (error::Kind).
    Error {
        exit: i32,
        code: String,
        error: String,
        drive: String,
        next: String,
    },
}

impl Event {
    /// An informational human line.
    pub fn info(text: &str) -> Event {
        Event::Message {
            level: "info".into(),
            text: text.into(),
        }
    }
    /// The last line of a failed run.
    pub fn error(f: &crate::error::Failure) -> Event {
        Event::Error {
            exit: f.code(),
            code: f.kind.code().into(),
            error: f.what.clone(),
            drive: f.drive.clone(),
            next: f.next.clone(),
        }
    }
    pub fn chip(c: &crate::chips::ChipInfo, ids: &str) -> Event {
        Event::Chip {
            name: c.name.into(),
            vendor: c.vendor.into(),
            bus: match c.bus() {
                crate::chips::Bus::Parallel => "parallel".into(),
                crate::chips::Bus::Spi => "spi".into(),
            },
            size: c.size,
            ids: ids.into(),
        }
    }
    /// The event as one JSON line (a bank as the message line version 1 printed).
    /// Progress bookkeeping (`Begin`, `Advance`, `End`) has no line of its own: the
    /// renderer turns it into `progress` and `phase` events.
    pub fn to_line(&self) -> String {
        match self.classic_line() {
            Some(l) => Event::info(&l).to_line(),
            None => serde_json::to_string(self).unwrap_or_default(),
        }
    }

    /// The classic line a bank or summary event stands for (`Bank3`, `Done: ...`).
    pub fn classic_line(&self) -> Option<String> {
        match self {
            Event::Bank { bank } => Some(format!("Bank{bank}")),
            Event::Summary { text } => Some(text.clone()),
            _ => None,
        }
    }
}
