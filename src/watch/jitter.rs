//! Timing policy shared by the loop's waits: a ±10 % jitter (so that many
//! daemons started together do not poll, fetch or reconnect in step), and
//! the exponential backoff for transient failures (1 s doubling to 5 min).
//!
//! Pure apart from the random numbers, which tests inject. `backon`'s
//! backoff is not used here: its jitter only ever adds (up to +100 %, past
//! the maximum), and it does not say how many failures there were, which
//! `/status` shows.

use rand::Rng;
use std::time::Duration;

/// How far a jittered wait strays from the nominal one, either way.
const JITTER: f64 = 0.10;

/// `d` moved by a random amount within ±10 %.
pub fn jittered(d: Duration, rng: &mut impl Rng) -> Duration {
    let factor = 1.0 + rng.gen_range(-JITTER..=JITTER);
    d.mul_f64(factor)
}

/// The first wait after a failure.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// The longest wait between two tries.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);

/// Exponential backoff with jitter, kept across loop iterations: each
/// failure in a row doubles the wait (1 s, 2 s, 4 s, … 5 min, then 5 min
/// again), each wait jittered ±10 %; a success resets it.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(BACKOFF_MIN, BACKOFF_MAX)
    }
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff { min, max: max.max(min), failures: 0 }
    }

    /// Another failure: how long to wait before the next try.
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_with(&mut rand::thread_rng())
    }

    /// `next_delay`, with the random numbers given.
    pub fn next_delay_with(&mut self, rng: &mut impl Rng) -> Duration {
        // 2^31 s is far past any maximum: stop doubling there, never overflow.
        let doubled = self.min.checked_mul(1u32 << self.failures.min(31)).unwrap_or(self.max);
        self.failures = self.failures.saturating_add(1);
        jittered(doubled.min(self.max), rng)
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A success: the next failure waits the minimum again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn within(d: Duration, nominal: Duration) -> bool {
        d >= nominal.mul_f64(0.9) && d <= nominal.mul_f64(1.1)
    }

    #[test]
    fn jitter_stays_within_ten_percent_and_varies() {
        let mut rng = StdRng::seed_from_u64(7);
        let nominal = Duration::from_secs(60);
        let waits: Vec<Duration> = (0..1000).map(|_| jittered(nominal, &mut rng)).collect();
        assert!(waits.iter().all(|d| within(*d, nominal)), "{waits:?}");
        let (lo, hi) = (waits.iter().min().unwrap(), waits.iter().max().unwrap());
        // Spread over most of the band, on both sides of the nominal wait.
        assert!(*lo < Duration::from_secs(55) && *hi > Duration::from_secs(65), "{lo:?}..{hi:?}");
    }

    #[test]
    fn backoff_doubles_from_one_second_to_five_minutes() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut b = Backoff::default();
        let nominal = [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300];
        for (i, secs) in nominal.iter().enumerate() {
            let d = b.next_delay_with(&mut rng);
            assert!(within(d, Duration::from_secs(*secs)), "try {i}: {d:?}, expected about {secs} s");
        }
        assert_eq!(b.failures(), nominal.len() as u32);
    }

    #[test]
    fn backoff_never_overflows_and_resets() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut b = Backoff::default();
        for _ in 0..100 {
            assert!(b.next_delay_with(&mut rng) <= BACKOFF_MAX.mul_f64(1.1));
        }
        b.reset();
        assert_eq!(b.failures(), 0);
        assert!(within(b.next_delay_with(&mut rng), BACKOFF_MIN));
    }
}
