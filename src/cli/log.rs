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

/// The most trace a log carries (of a longer one the start, as a trace that replays,
/// and its last lines as text; said in the log).
const TRACE_CAP: usize = 8 << 20;
/// Lines of the end of a trace longer than that kept as text.
const TAIL_LINES: usize = 20_000;
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

/// A run's log being written: made when the run starts and written as the run goes
/// (each event as it happens), so a run that ends at a question by a signal, or is
/// killed, still leaves what happened up to there; the trace goes in at the end.
pub struct RunLog {
    path: PathBuf,
    file: std::fs::File,
    /// The first write that failed (said at the end).
    err: Option<std::io::Error>,
    /// Where the session's trace goes (this run's own hidden file beside the log, or
    /// the user's `--trace` file, taken in when the run made it).
    trace: PathBuf,
    own_trace: bool,
    start: Instant,
}

impl RunLog {
    /// Start a log for `command` run as `args`; None when it cannot be made (said
    /// once, on stderr).
    pub fn start(args: &[String], command: &str, user_trace: Option<&Path>) -> Option<RunLog> {
        let d = dir();
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_secs());
        let stem = format!("{secs:012}-{}-{command}", std::process::id());
        let path = d.join(format!("{stem}.log"));
        let file = std::fs::create_dir_all(&d).and_then(|()| {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
        });
        let file = match file {
            Ok(f) => f,
            Err(e) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "warning: no diagnostic log ({}: {e}); the command goes on",
                    d.display()
                );
                return None;
            }
        };
        let (trace, own_trace) = match user_trace {
            // A --trace file already there is refused by the command and is not this
            // run's: never taken into the log.
            Some(t) if t.exists() || t.is_symlink() => (PathBuf::new(), false),
            Some(t) => (t.to_path_buf(), false),
            None => (d.join(format!(".{stem}.trace")), true),
        };
        let mut log = RunLog {
            path,
            file,
            err: None,
            trace,
            own_trace,
            start: Instant::now(),
        };
        log.write(&format!(
            "# mtkflash log 1\ncommand: {}\nversion: {}\nsystem: {}\nstarted: {secs} (unix seconds)\n",
            args.join(" "),
            super::VERSION,
            system()
        ));
        Some(log)
    }

    fn write(&mut self, text: &str) {
        if self.err.is_none() {
            if let Err(e) = self.file.write_all(text.as_bytes()) {
                self.err = Some(e);
            }
        }
    }

    /// The file the session's trace goes to, when the log makes it.
    pub fn trace_path(&self) -> Option<PathBuf> {
        self.own_trace.then(|| self.trace.clone())
    }

    /// Write a line with its time into the log.
    pub fn record_line(&mut self, line: &str) {
        let ms = self.start.elapsed().as_millis();
        self.write(&format!("{ms} {line}\n"));
    }

    /// Write `e` into the log (progress ticks left out).
    pub fn record_event(&mut self, e: &Event) {
        if matches!(e, Event::Advance { .. }) {
            return;
        }
        let line = match e {
            Event::Begin { stage, total } => format!("stage {stage} begins ({total} bytes)"),
            Event::End => "stage ends".into(),
            e => e.to_line(),
        };
        self.record_line(&line);
    }

    /// Finish the log with the exit code and the trace; its path, or None when it
    /// could not be written (said once).
    pub fn finish(mut self, exit: i32) -> Option<PathBuf> {
        let mut text = format!(
            "exit: {exit} after {} ms\n",
            self.start.elapsed().as_millis()
        );
        // (Only a regular file this run wrote, as text and binary, decompressed when it
        // was gzip; a --trace given as a device is not read.)
        let trace = std::fs::metadata(&self.trace)
            .ok()
            .filter(|m| m.is_file())
            .and_then(|_| crate::transport::trace::read_bytes(&self.trace).ok());
        if self.own_trace {
            let _ = std::fs::remove_file(&self.trace);
        }
        let cut = trace
            .as_deref()
            .map(|t| crate::transport::trace::cut(t, TRACE_CAP, TAIL_LINES));
        let body: &[u8] = match (&trace, &cut) {
            (Some(t), Some(Err(e))) => {
                // (A trace that does not decode is cut where the cap falls.)
                text.push_str(&format!(
                    "trace: {} bytes, longer than {TRACE_CAP} and not decodable ({e}): its first {TRACE_CAP} bytes are below\n",
                    t.len()
                ));
                &t[..TRACE_CAP.min(t.len())]
            }
            (Some(t), Some(Ok(Some(c)))) => {
                // The start stays a trace that replays; the end is text to read.
                text.push_str(&format!(
                    "trace: {} bytes, longer than {TRACE_CAP}: its start (accesses 1 to {} of {}) is below as a trace that replays, its last {} lines are here\n",
                    t.len(),
                    c.kept,
                    c.total,
                    c.end.len()
                ));
                text.push_str("trace end:\n");
                for l in &c.end {
                    text.push_str("  ");
                    text.push_str(l);
                    text.push('\n');
                }
                &c.start
            }
            (Some(t), _) => t,
            (None, _) => {
                text.push_str(
                    "trace: none here (no session was recorded into this log; with --trace, the trace files hold them)\n",
                );
                &[]
            }
        };
        self.write(&text);
        if self.err.is_none() {
            if let Err(e) = self
                .file
                .write_all(body)
                .and_then(|()| self.file.sync_all())
            {
                self.err = Some(e);
            }
        }
        match self.err.take() {
            None => {
                prune(self.path.parent().unwrap_or(Path::new(".")));
                Some(self.path)
            }
            Some(e) => {
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

/// Delete all but the newest [`KEEP`] logs, and the hidden traces of runs that were
/// killed before they could take theirs in (older than a day: never a running one's).
fn prune(d: &Path) {
    let logs = list(d);
    if logs.len() > KEEP {
        for old in &logs[..logs.len() - KEEP] {
            let _ = std::fs::remove_file(old);
        }
    }
    let day = std::time::Duration::from_secs(24 * 3600);
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let stale = e
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > day);
        let hidden_trace = name.starts_with(".mtkflash-trace")
            || (name.starts_with('.') && name.ends_with(".trace"));
        if hidden_trace && stale {
            let _ = std::fs::remove_file(e.path());
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
        if let Some(l) = self.log.as_deref_mut() {
            l.record_line(&format!("asked: {q}"));
        }
        let yes = self.inner.ask(q);
        if let Some(l) = self.log.as_deref_mut() {
            l.record_line(if yes { "answer: yes" } else { "answer: no" });
        }
        yes
    }
    fn interactive(&self) -> bool {
        self.inner.interactive()
    }
    fn choose(&mut self, prompt: &str, n: usize) -> Option<usize> {
        self.inner.choose(prompt, n)
    }
}
