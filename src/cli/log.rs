//! The diagnostic log: every run that talks to a drive leaves one file, so a user whose
//! flash failed has the evidence without having asked for it. In the platform's state
//! directory (`$XDG_STATE_HOME/mtkflash/logs`, else `~/.cache/mtkflash/logs`, else the
//! temporary directory; `%LOCALAPPDATA%\mtkflash\logs` on Windows): the command line,
//! version, system, every event of the run with its time (the `--json` events), the
//! exit code, and the compact trace of the session (no firmware payload: the trace
//! leaves it out). The newest 50 logs are kept. `--no-log` turns it off; a log that
//! cannot be written is said once and never stops the command.

use crate::report::{Event, Ui};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The most trace a log carries (the start of a longer one; said in the log).
const TRACE_CAP: usize = 8 << 20;
/// Logs kept in the directory.
const KEEP: usize = 50;

/// The directory logs go to.
pub fn dir() -> PathBuf {
    #[cfg(windows)]
    if let Some(d) = std::env::var_os("LOCALAPPDATA") {
        return PathBuf::from(d).join("mtkflash").join("logs");
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("mtkflash").join("logs");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(h)
            .join(".cache")
            .join("mtkflash")
            .join("logs");
    }
    std::env::temp_dir().join("mtkflash").join("logs")
}

/// The newest log in [`dir`].
pub fn latest() -> Option<PathBuf> {
    let mut logs = list(&dir());
    logs.pop()
}

fn list(d: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(d)
        .map(|r| {
            r.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A run's log being gathered.
pub struct RunLog {
    path: PathBuf,
    /// Where the session's trace is recorded (the user's `--trace` file, or a file
    /// beside the log removed once it is copied in).
    trace: PathBuf,
    own_trace: bool,
    start: Instant,
    text: String,
}

impl RunLog {
    /// Start a log for `command` run as `args`; None when the directory cannot be made
    /// (said once, on stderr).
    pub fn start(args: &[String], command: &str, user_trace: Option<&Path>) -> Option<RunLog> {
        let d = dir();
        if let Err(e) = std::fs::create_dir_all(&d) {
            let _ = writeln!(
                std::io::stderr(),
                "warning: no diagnostic log ({}: {e}); the command goes on",
                d.display()
            );
            return None;
        }
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_secs());
        let stem = format!("{secs:012}-{}-{command}", std::process::id());
        let path = d.join(format!("{stem}.log"));
        let (trace, own_trace) = match user_trace {
            // A --trace file already there is refused by the command and is not this
            // run's: never taken into the log.
            Some(t) if t.exists() || t.is_symlink() => (PathBuf::new(), false),
            Some(t) => (t.to_path_buf(), false),
            None => (d.join(format!(".{stem}.trace")), true),
        };
        let mut text = String::from("# mtkflash log 1\n");
        text.push_str(&format!("command: {}\n", args.join(" ")));
        text.push_str(&format!("version: {}\n", super::VERSION));
        text.push_str(&format!("system: {}\n", system()));
        text.push_str(&format!("started: {secs} (unix seconds)\n"));
        Some(RunLog {
            path,
            trace,
            own_trace,
            start: Instant::now(),
            text,
        })
    }

    /// The file the session's trace goes to, when the log makes it.
    pub fn trace_path(&self) -> Option<PathBuf> {
        self.own_trace.then(|| self.trace.clone())
    }

    /// Write `e` into the log (progress ticks left out).
    pub fn record_event(&mut self, e: &Event) {
        if matches!(e, Event::Advance { .. }) {
            return;
        }
        let ms = self.start.elapsed().as_millis();
        let line = match e {
            Event::Begin { stage, total } => format!("stage {stage} begins ({total} bytes)"),
            Event::End => "stage ends".into(),
            e => e.to_line(),
        };
        self.text.push_str(&format!("{ms} {line}\n"));
    }

    /// Write the log with the exit code; its path, or None when it could not be
    /// written (said once).
    pub fn finish(mut self, exit: i32) -> Option<PathBuf> {
        self.text.push_str(&format!(
            "exit: {exit} after {} ms\n",
            self.start.elapsed().as_millis()
        ));
        // (Only a regular file this run wrote, as text and binary, decompressed when it
        // was gzip; a --trace given as a device is not read.)
        let trace = std::fs::metadata(&self.trace)
            .ok()
            .filter(|m| m.is_file())
            .and_then(|_| crate::transport::trace::read_bytes(&self.trace).ok());
        if self.own_trace {
            let _ = std::fs::remove_file(&self.trace);
        }
        let r = (|| -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&self.path)?;
            match &trace {
                Some(t) if t.len() > TRACE_CAP => {
                    self.text.push_str(&format!(
                        "trace: longer than {TRACE_CAP} bytes, its start kept\n"
                    ));
                    f.write_all(self.text.as_bytes())?;
                    f.write_all(&t[..TRACE_CAP])?;
                }
                Some(t) => {
                    f.write_all(self.text.as_bytes())?;
                    f.write_all(t)?;
                }
                None => {
                    self.text.push_str("trace: none (no task-file session)\n");
                    f.write_all(self.text.as_bytes())?;
                }
            }
            f.sync_all()
        })();
        match r {
            Ok(()) => {
                prune(self.path.parent().unwrap_or(Path::new(".")));
                Some(self.path)
            }
            Err(e) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "warning: the diagnostic log {} could not be written: {e}",
                    self.path.display()
                );
                None
            }
        }
    }
}

/// Delete all but the newest [`KEEP`] logs.
fn prune(d: &Path) {
    let logs = list(d);
    if logs.len() > KEEP {
        for old in &logs[..logs.len() - KEEP] {
            let _ = std::fs::remove_file(old);
        }
    }
}

/// `linux x86_64, kernel 6.8.0-49-generic`.
fn system() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| format!(", kernel {}", k.trim()))
        .unwrap_or_default();
    format!(
        "{} {}{kernel}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// A Ui that passes everything on and writes every event into the log.
pub struct Tee<'a> {
    pub inner: &'a mut dyn Ui,
    pub log: Option<&'a mut RunLog>,
}

impl Ui for Tee<'_> {
    fn emit(&mut self, e: &Event) {
        if let Some(l) = self.log.as_deref_mut() {
            l.record_event(e);
        }
        self.inner.emit(e);
    }
    fn ask(&mut self, q: &str) -> bool {
        self.inner.ask(q)
    }
    fn interactive(&self) -> bool {
        self.inner.interactive()
    }
    fn choose(&mut self, prompt: &str, n: usize) -> Option<usize> {
        self.inner.choose(prompt, n)
    }
}
