//! Terminal rendering: the classic lines on stdout, an indicatif bar with ETA on stderr
//! when it is a terminal, plain lines otherwise; questions only when interactive.

use crate::ops::Ui;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufRead, IsTerminal, Write};

pub struct TermUi {
    quiet: bool,
    bar: Option<ProgressBar>,
    interactive: bool,
    /// Answer yes to every question (`--yes`).
    pub yes: bool,
}

impl TermUi {
    pub fn new(quiet: bool, yes: bool) -> TermUi {
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        TermUi {
            quiet,
            bar: None,
            interactive,
            yes,
        }
    }
}

impl Ui for TermUi {
    fn line(&mut self, s: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => b.println(s),
            // Output must never abort a flash: a closed pipe (`| head`) is ignored.
            None => {
                let _ = writeln!(std::io::stdout(), "{s}");
            }
        }
    }
    fn warn(&mut self, s: &str) {
        match &self.bar {
            Some(b) => b.println(format!("warning: {s}")),
            None => {
                let _ = writeln!(std::io::stderr(), "warning: {s}");
            }
        }
    }
    fn begin(&mut self, what: &str, total: u64) {
        if self.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template("{msg:10} [{bar:40}] {percent:>3}% ETA {eta}")
                .expect("template")
                .progress_chars("=> "),
        );
        b.set_message(what.to_string());
        self.bar = Some(b);
    }
    fn advance(&mut self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
    fn end(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
    fn choose(&mut self, prompt: &str, n: usize) -> Option<usize> {
        if !self.interactive {
            return None;
        }
        loop {
            let _ = write!(std::io::stderr(), "{prompt} ");
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            if std::io::stdin().lock().read_line(&mut line).ok()? == 0 {
                return None;
            }
            match line.trim().parse::<usize>() {
                Ok(k) if (1..=n).contains(&k) => return Some(k - 1),
                _ => {
                    let _ = writeln!(std::io::stderr(), "type a number from 1 to {n}");
                }
            }
        }
    }
    fn ask(&mut self, q: &str) -> bool {
        if self.yes {
            return true;
        }
        if !self.interactive {
            return false;
        }
        let _ = write!(std::io::stderr(), "{q} [y/N] ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).is_err() {
            return false;
        }
        matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    }
}

/// `--json`: every event as one JSON line on stdout; human lines become "message" events;
/// progress is throttled to stage start, every 64 KiB and stage end.
#[derive(Default)]
pub struct JsonUi {
    stage: Option<(String, u64, u64, u64)>,
}

impl JsonUi {
    pub fn emit(&mut self, e: &crate::ops::Event) {
        let _ = writeln!(std::io::stdout(), "{}", e.to_line());
    }
    fn progress(&mut self) {
        if let Some((stage, done, total, _)) = self.stage.clone() {
            self.emit(&crate::ops::Event::Progress { stage, done, total });
        }
    }
}

impl Ui for JsonUi {
    fn line(&mut self, s: &str) {
        self.emit(&crate::ops::Event::Message {
            level: "info".into(),
            text: s.into(),
        });
    }
    fn warn(&mut self, s: &str) {
        self.emit(&crate::ops::Event::Message {
            level: "warning".into(),
            text: s.into(),
        });
    }
    fn event(&mut self, e: &crate::ops::Event) {
        self.emit(e);
    }
    fn begin(&mut self, what: &str, total: u64) {
        self.stage = Some((what.to_lowercase(), 0, total, 0));
        self.progress();
    }
    fn advance(&mut self, n: u64) {
        let emit = match &mut self.stage {
            Some((_, done, _, last)) => {
                *done += n;
                if *done - *last >= 0x10000 {
                    *last = *done;
                    true
                } else {
                    false
                }
            }
            None => false,
        };
        if emit {
            self.progress();
        }
    }
    fn end(&mut self) {
        if let Some((_, done, total, _)) = &mut self.stage {
            *done = (*done).min(*total).max(*done);
        }
        self.progress();
        self.stage = None;
    }
}
