//! Ctrl-C (SIGINT), SIGTERM and SIGHUP (the terminal closed): never act in the middle of
//! a command. A handler only records the request; the engine stops at the next safe
//! point. Around calls that a signal would orphan (an SG_IO ioctl) the signals are
//! blocked, so they arrive after. At a question (nothing in flight) a signal ends the
//! program at once, exit 130.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// The signal that asked to stop (0: none; -1: a request from code).
static REQUESTED: AtomicI32 = AtomicI32::new(0);
/// A question is waiting for an answer: nothing is in flight.
static PROMPTING: AtomicBool = AtomicBool::new(false);

/// The signals that ask mtkflash to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Int,
    Term,
    Hup,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Int, Signal::Term, Signal::Hup];

    pub fn name(self) -> &'static str {
        match self {
            Signal::Int => "INT",
            Signal::Term => "TERM",
            Signal::Hup => "HUP",
        }
    }

    /// `INT`, `sigterm`, `HUP`...
    pub fn parse(s: &str) -> Result<Signal, String> {
        let t = s.trim().to_ascii_uppercase();
        let t = t.strip_prefix("SIG").unwrap_or(&t);
        Signal::ALL
            .into_iter()
            .find(|g| g.name() == t)
            .ok_or_else(|| format!("'{s}' is not a signal a fault can send (INT, TERM or HUP)"))
    }

    #[cfg(unix)]
    fn number(self) -> libc::c_int {
        match self {
            Signal::Int => libc::SIGINT,
            Signal::Term => libc::SIGTERM,
            Signal::Hup => libc::SIGHUP,
        }
    }
}

/// Deliver `sig` to this process now, as a user or the system would (the virtual
/// drive's `signal` fault). Where the handlers are installed (the binary) it is a real
/// signal through the real handler; elsewhere (library users, tests) only the request
/// is recorded, so it never kills a test process.
pub fn deliver(sig: Signal) {
    #[cfg(unix)]
    if INSTALLED.load(Ordering::SeqCst) {
        // SAFETY: raise(3) sends a signal to the calling thread; a handler that only
        // stores to atomics (or ends the program at a question) is installed for it.
        unsafe {
            libc::raise(sig.number());
        }
        return;
    }
    #[cfg(unix)]
    REQUESTED.store(sig.number(), Ordering::SeqCst);
    #[cfg(not(unix))]
    {
        let _ = sig;
        request();
    }
}

/// Have the handlers been installed?
#[cfg(unix)]
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Has an interruption been requested?
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst) != 0
}

/// Record a request (tests, library users).
pub fn request() {
    REQUESTED.store(-1, Ordering::SeqCst);
}

pub fn clear() {
    REQUESTED.store(0, Ordering::SeqCst);
}

/// What asked to stop, for messages: "Ctrl-C", "SIGTERM", "SIGHUP".
pub fn what() -> &'static str {
    #[cfg(unix)]
    match REQUESTED.load(Ordering::SeqCst) {
        libc::SIGTERM => return "SIGTERM",
        libc::SIGHUP => return "SIGHUP (the terminal closed)",
        _ => {}
    }
    "Ctrl-C"
}

/// Ask a question: while `f` waits for the answer, a signal ends the program at once
/// with exit 130 and the three lines (the question comes before anything is changed).
pub fn at_question<T>(f: impl FnOnce() -> T) -> T {
    struct Done;
    impl Drop for Done {
        fn drop(&mut self) {
            PROMPTING.store(false, Ordering::SeqCst);
        }
    }
    if requested() {
        quit_at_question();
    }
    PROMPTING.store(true, Ordering::SeqCst);
    let _done = Done;
    f()
}

/// The exit at a question, also from the signal handler: only async-signal-safe calls.
fn quit_at_question() -> ! {
    const MSG: &[u8] = b"\nerror: interrupted at a question\ndrive: not changed by this command's question (nothing is written while it waits)\nnext:  run the command again when ready\n";
    #[cfg(unix)]
    // SAFETY: write(2) and _exit(2) are async-signal-safe; MSG is a valid static buffer.
    unsafe {
        libc::write(2, MSG.as_ptr().cast(), MSG.len());
        libc::_exit(130);
    }
    #[cfg(not(unix))]
    {
        let _ = std::io::Write::write_all(&mut std::io::stderr(), MSG);
        std::process::exit(130);
    }
}

#[cfg(unix)]
extern "C" fn on_signal(sig: libc::c_int) {
    if PROMPTING.load(Ordering::SeqCst) {
        quit_at_question();
    }
    // Only an atomic store: async-signal-safe.
    REQUESTED.store(sig, Ordering::SeqCst);
}

/// Install the handlers (once, from the binary).
#[cfg(unix)]
pub fn install() {
    INSTALLED.store(true, Ordering::SeqCst);
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: sigaction with a zeroed struct, a handler that only stores to an atomic
        // (async-signal-safe), and an empty mask; the pointers are valid for the call.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

#[cfg(not(unix))]
pub fn install() {}

/// Run `f` with SIGINT and SIGTERM held back; they are delivered when it returns, or
/// when it unwinds (the old mask is put back by a guard).
#[cfg(unix)]
pub fn deferred<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(libc::sigset_t);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: puts back the mask saved below for this thread; the set is a valid
            // sigset_t filled by pthread_sigmask.
            unsafe {
                libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut());
            }
        }
    }
    // SAFETY: sigset operations on local, zero-initialised sets; pthread_sigmask only
    // changes this thread's mask, and the guard restores it on every path.
    let _restore = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        Restore(old)
    };
    f()
}

#[cfg(not(unix))]
pub fn deferred<T>(f: impl FnOnce() -> T) -> T {
    f()
}

#[cfg(all(test, unix))]
mod tests {
    use super::deferred;

    /// Is SIGINT blocked on this thread right now?
    fn sigint_blocked() -> bool {
        // SAFETY: reads this thread's mask into a local, zero-initialised set.
        unsafe {
            let mut cur: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut cur);
            libc::sigismember(&cur, libc::SIGINT) == 1
        }
    }

    #[test]
    fn the_signal_mask_comes_back_even_when_the_guarded_call_panics() {
        std::thread::spawn(|| {
            assert!(!sigint_blocked());
            assert!(deferred(sigint_blocked), "held back inside");
            assert!(!sigint_blocked(), "restored after a normal return");
            let r = std::panic::catch_unwind(|| deferred(|| panic!("in the ioctl")));
            assert!(r.is_err());
            assert!(!sigint_blocked(), "restored after a panic");
        })
        .join()
        .unwrap();
    }
}
