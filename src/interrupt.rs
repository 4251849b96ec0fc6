//! Ctrl-C (SIGINT) and SIGTERM: never act in the middle of a command. A handler only
//! records the request; the engine stops at the next safe point. Around calls that a
//! signal would orphan (an SG_IO ioctl) the signals are blocked, so they arrive after.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Has an interruption been requested?
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Record a request (the signal handler; tests).
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}

#[cfg(unix)]
extern "C" fn on_signal(_sig: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Install the handlers (once, from the binary).
#[cfg(unix)]
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
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
