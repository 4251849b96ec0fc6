//! Terminal rendering: the classic lines on stdout, an indicatif bar with ETA on stderr
//! when it is a terminal, plain lines otherwise; questions only when interactive.

use crate::report::{Event, Ui};
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

impl TermUi {
    fn print(&mut self, s: &str) {
        if !self.quiet {
            self.print_always(s);
        }
    }
    fn print_always(&mut self, s: &str) {
        match &self.bar {
            Some(b) => b.println(s),
            // Output must never abort a flash: a closed pipe (`| head`) is ignored.
            None => {
                let _ = writeln!(std::io::stdout(), "{s}");
            }
        }
    }
    fn warning(&mut self, s: &str) {
        match &self.bar {
            Some(b) => b.println(format!("warning: {s}")),
            None => {
                let _ = writeln!(std::io::stderr(), "warning: {s}");
            }
        }
    }
    fn start_bar(&mut self, what: &str, total: u64) {
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
}

impl Ui for TermUi {
    /// Human lines and the bar; structured events (identity, chip, plan steps) have
    /// their own human lines from the operation and are not printed twice.
    fn emit(&mut self, e: &Event) {
        match e {
            Event::Message { level, text } if level == "warning" => self.warning(text),
            Event::Message { text, .. } => self.print(text),
            Event::Bank { .. } => self.print(&e.classic_line().unwrap_or_default()),
            // -q keeps errors and this line (as --help says).
            Event::Summary { text } => self.print_always(text),
            Event::Begin { stage, total } => self.start_bar(stage, *total),
            Event::Advance { bytes } => {
                if let Some(b) = &self.bar {
                    b.inc(*bytes);
                }
            }
            Event::End => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
            }
            _ => {}
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
            let got =
                crate::interrupt::at_question(|| std::io::stdin().lock().read_line(&mut line));
            if got.ok()? == 0 {
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
    fn interactive(&self) -> bool {
        self.interactive
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
        if crate::interrupt::at_question(|| std::io::stdin().lock().read_line(&mut line)).is_err() {
            return false;
        }
        matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    }
}

/// `--json`: every event as one JSON line on stdout; human lines become "message" events;
/// progress is throttled to stage start, every 64 KiB and stage end, and a `phase` event
/// closes each stage with its duration.
#[derive(Default)]
pub struct JsonUi {
    stage: Option<Stage>,
}

struct Stage {
    name: String,
    done: u64,
    total: u64,
    last: u64,
    started: std::time::Instant,
}

impl JsonUi {
    pub fn emit_line(&mut self, e: &Event) {
        let _ = writeln!(std::io::stdout(), "{}", e.to_line());
    }
    fn progress(&mut self) {
        if let Some(st) = &self.stage {
            let e = Event::Progress {
                stage: st.name.clone(),
                done: st.done,
                total: st.total,
            };
            self.emit_line(&e);
        }
    }
}

impl Ui for JsonUi {
    fn emit(&mut self, e: &Event) {
        match e {
            Event::Begin { stage, total } => {
                self.stage = Some(Stage {
                    name: stage.to_lowercase(),
                    done: 0,
                    total: *total,
                    last: 0,
                    started: std::time::Instant::now(),
                });
                self.progress();
            }
            Event::Advance { bytes } => {
                let due = match &mut self.stage {
                    Some(st) => {
                        st.done += bytes;
                        let due = st.done - st.last >= 0x10000;
                        if due {
                            st.last = st.done;
                        }
                        due
                    }
                    None => false,
                };
                if due {
                    self.progress();
                }
            }
            Event::End => {
                self.progress();
                if let Some(st) = self.stage.take() {
                    self.emit_line(&Event::Phase {
                        stage: st.name,
                        done: st.done,
                        total: st.total,
                        seconds: st.started.elapsed().as_secs_f64(),
                    });
                }
            }
            other => self.emit_line(other),
        }
    }
}
