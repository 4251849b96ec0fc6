//! How every layer tells the person (or script) what is going on: the [`Ui`] trait and
//! the typed [`Event`]s that both the terminal renderer and `--json` consume. Neutral:
//! imported by the connect layer, the operations and the command line alike.

pub mod events;

pub use events::Event;

/// How an operation talks to the person (or script) running it.
pub trait Ui {
    /// A line in the classic MTKFlash rhythm (`Identifying flash type`, `Bank0`, ...).
    fn line(&mut self, s: &str);
    /// A warning that does not stop the command.
    fn warn(&mut self, s: &str) {
        self.line(&format!("warning: {s}"));
    }
    /// Start a measured stage of `total` bytes.
    fn begin(&mut self, _what: &str, _total: u64) {}
    fn advance(&mut self, _n: u64) {}
    fn end(&mut self) {}
    /// Ask a yes/no question; a non-interactive Ui answers no.
    fn ask(&mut self, _q: &str) -> bool {
        false
    }
    /// A structured event (rendered by `--json`; the human renderer ignores it).
    fn event(&mut self, _e: &Event) {}
    /// Ask for a number from 1 to `n`; None when not interactive.
    fn choose(&mut self, _prompt: &str, _n: usize) -> Option<usize> {
        None
    }
}

/// A Ui that records lines (tests, library users).
#[derive(Default)]
pub struct Recorder {
    pub lines: Vec<String>,
    pub events: Vec<Event>,
    pub answer: bool,
}

impl Ui for Recorder {
    fn line(&mut self, s: &str) {
        self.lines.push(s.to_string());
    }
    fn event(&mut self, e: &Event) {
        self.events.push(e.clone());
    }
    fn ask(&mut self, q: &str) -> bool {
        self.lines.push(format!("? {q}"));
        self.answer
    }
}
