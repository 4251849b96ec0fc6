//! How every layer tells the person (or script) what is going on: the [`Ui`] trait and
//! the typed [`Event`]s that both the terminal renderer and `--json` consume. Neutral:
//! imported by the connect layer, the operations and the command line alike.

pub mod events;

pub use events::Event;

/// How an operation talks to the person (or script) running it: every report is an
/// [`Event`] through [`Ui::emit`], which the terminal renderer and `--json` both
/// consume; the other methods are shorthands that build one.
pub trait Ui {
    /// The one channel.
    fn emit(&mut self, e: &Event);
    /// Ask a yes/no question; a non-interactive Ui answers no.
    fn ask(&mut self, _q: &str) -> bool {
        false
    }
    /// Is a person there to answer questions?
    fn interactive(&self) -> bool {
        false
    }
    /// Ask for a number from 1 to `n`; None when not interactive.
    fn choose(&mut self, _prompt: &str, _n: usize) -> Option<usize> {
        None
    }
    /// A line in the classic MTKFlash rhythm (`Identifying flash type`, ...).
    fn line(&mut self, s: &str) {
        self.emit(&Event::info(s));
    }
    /// A warning that does not stop the command.
    fn warn(&mut self, s: &str) {
        self.emit(&Event::Message {
            level: "warning".into(),
            text: s.into(),
        });
    }
    /// Start a measured stage of `total` bytes.
    fn begin(&mut self, what: &str, total: u64) {
        self.emit(&Event::Begin {
            stage: what.into(),
            total,
        });
    }
    /// `n` more bytes of the current stage are done.
    fn advance(&mut self, n: u64) {
        self.emit(&Event::Advance { bytes: n });
    }
    /// The current stage ended.
    fn end(&mut self) {
        self.emit(&Event::End);
    }
    /// A structured event (the same as [`Ui::emit`]).
    fn event(&mut self, e: &Event) {
        self.emit(e);
    }
}

/// A Ui that records what it is told (tests, library users): the human lines (warnings
/// prefixed `warning: `, banks as `BankN`) and every other event except progress.
#[derive(Default)]
pub struct Recorder {
    pub lines: Vec<String>,
    pub events: Vec<Event>,
    pub answer: bool,
}

impl Ui for Recorder {
    fn emit(&mut self, e: &Event) {
        match e {
            Event::Message { level, text } if level == "warning" => {
                self.lines.push(format!("warning: {text}"))
            }
            Event::Message { text, .. } => self.lines.push(text.clone()),
            Event::Bank { .. } | Event::Summary { .. } => {
                self.lines.extend(e.classic_line());
            }
            Event::Begin { .. } | Event::Advance { .. } | Event::End => {}
            other => self.events.push(other.clone()),
        }
    }
    fn ask(&mut self, q: &str) -> bool {
        self.lines.push(format!("? {q}"));
        self.answer
    }
}
