//! Time, real or virtual.
//!
//! Every wait and timeout in the protocol layers goes through [`Clock`], so the same code
//! runs at full speed against the virtual drive (whose clock only moves when the host
//! waits or touches the bus) and in real time against hardware.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A source of time plus the ability to wait.
pub trait Clock {
    /// Time since an arbitrary origin.
    fn now(&self) -> Duration;
    /// Wait for `d`.
    fn sleep(&self, d: Duration);
}

/// Wall-clock time for real hardware.
pub struct RealClock {
    origin: Instant,
}

impl RealClock {
    pub fn new() -> Self {
        RealClock {
            origin: Instant::now(),
        }
    }
}

impl Default for RealClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for RealClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
    fn sleep(&self, d: Duration) {
        // Short waits spin: a sleep syscall overshoots by ~50 us, which would dominate
        // the 400 ns register settle times.
        if d < Duration::from_micros(200) {
            let end = Instant::now() + d;
            while Instant::now() < end {
                std::hint::spin_loop();
            }
        } else {
            std::thread::sleep(d);
        }
    }
}

/// A shared virtual clock in nanoseconds. Cloning shares the same time line.
#[derive(Clone, Default)]
pub struct VirtualClock {
    ns: Rc<Cell<u64>>,
}

impl VirtualClock {
    pub fn new() -> Self {
        Self::default()
    }
    /// Current virtual time in nanoseconds.
    pub fn ns(&self) -> u64 {
        self.ns.get()
    }
    /// Advance by `ns` nanoseconds (bus cost, device work).
    pub fn advance_ns(&self, ns: u64) {
        self.ns.set(self.ns.get().saturating_add(ns));
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.ns.get())
    }
    fn sleep(&self, d: Duration) {
        self.advance_ns(d.as_nanos() as u64);
    }
}

/// Something that has a clock: a port, a task file, a bus.
pub trait Timed {
    fn clock(&self) -> &dyn Clock;
}

impl<T: Timed + ?Sized> Timed for &mut T {
    fn clock(&self) -> &dyn Clock {
        (**self).clock()
    }
}

impl Timed for VirtualClock {
    fn clock(&self) -> &dyn Clock {
        self
    }
}

/// Poll `f` until it returns `Some`, or until `timeout` passes on `s`'s clock.
///
/// Spins for the first polls (the first seven without reading the clock), then sleeps
/// with a back-off of 1/32 of the time already waited (at most 10 ms), so a wait
/// overshoots the true completion by about 3 %.
pub fn poll_until<S: Timed + ?Sized, T>(
    s: &mut S,
    timeout: Duration,
    mut f: impl FnMut(&mut S) -> Option<T>,
) -> Option<T> {
    // Most waits end within a few polls: the clock is read only from the eighth poll
    // on (the polls before take microseconds of bus time, nothing next to a timeout).
    let mut start = None;
    let mut polls = 0u32;
    loop {
        if let Some(v) = f(s) {
            return Some(v);
        }
        polls += 1;
        if polls < 8 {
            continue;
        }
        let now = s.clock().now();
        let waited = now.saturating_sub(*start.get_or_insert(now));
        if waited >= timeout {
            return None;
        }
        if polls > 64 {
            let step = (waited / 32).clamp(Duration::from_micros(1), Duration::from_millis(10));
            s.clock().sleep(step);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_is_shared_and_moves_only_when_told() {
        let a = VirtualClock::new();
        let b = a.clone();
        a.sleep(Duration::from_millis(3));
        b.advance_ns(500);
        assert_eq!(a.ns(), 3_000_500);
        assert_eq!(b.now(), Duration::from_nanos(3_000_500));
    }

    #[test]
    fn poll_until_times_out_on_virtual_time() {
        let mut c = VirtualClock::new();
        let r: Option<()> = poll_until(&mut c, Duration::from_millis(50), |_| None);
        assert!(r.is_none());
        let t = c.now();
        assert!(
            t >= Duration::from_millis(50) && t < Duration::from_millis(60),
            "{t:?}"
        );
    }

    #[test]
    fn poll_until_overshoots_little() {
        let mut c = VirtualClock::new();
        let done_at = Duration::from_millis(70);
        let r = poll_until(&mut c, Duration::from_secs(5), |c| {
            (c.now() >= done_at).then_some(1)
        });
        assert_eq!(r, Some(1));
        assert!(c.now() <= done_at + done_at / 30, "{:?}", c.now());
    }
}
