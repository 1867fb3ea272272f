//! Redis's instantaneous metrics (INFO's instantaneous_ops_per_sec,
//! instantaneous_input_kbps and instantaneous_output_kbps): a rate sampled
//! about every 100 ms and averaged over the last 16 samples, so the figure
//! follows the load of the last 1.6 s. Each reactor samples its own
//! counters on its tick; INFO adds the reactors' rates.

const SAMPLES: usize = 16;

/// One counter's recent rate.
#[derive(Default)]
pub struct Rate {
    samples: [u64; SAMPLES],
    next: usize,
    last_ms: u64,
    last_value: u64,
}

impl Rate {
    /// Note the counter's `value` at `now_ms`. The first call only sets
    /// the starting point.
    pub fn sample(&mut self, now_ms: u64, value: u64) {
        if self.last_ms != 0 {
            let dt = now_ms.saturating_sub(self.last_ms);
            if dt == 0 {
                return;
            }
            let per_sec = value.saturating_sub(self.last_value).saturating_mul(1000) / dt;
            self.samples[self.next] = per_sec;
            self.next = (self.next + 1) % SAMPLES;
        }
        self.last_ms = now_ms;
        self.last_value = value;
    }

    /// Per second, averaged over the samples (those not taken yet count
    /// as 0, as in Redis right after start).
    pub fn per_sec(&self) -> u64 {
        self.samples.iter().sum::<u64>() / SAMPLES as u64
    }
}

/// A reactor's three rates.
#[derive(Default)]
pub struct Rates {
    pub commands: Rate,
    pub net_input: Rate,
    pub net_output: Rate,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_the_last_sixteen_samples() {
        let mut r = Rate::default();
        r.sample(1000, 0);
        assert_eq!(r.per_sec(), 0, "the first call is only a starting point");
        // 100 ms apart, 50 more each time: 500 per second.
        for i in 1..=8 {
            r.sample(1000 + i * 100, i * 50);
        }
        assert_eq!(r.per_sec(), 500 * 8 / 16, "half the window filled");
        for i in 9..=24 {
            r.sample(1000 + i * 100, i * 50);
        }
        assert_eq!(r.per_sec(), 500);
        // Idle from then on: the average falls to 0 over 1.6 s.
        for i in 25..=40 {
            r.sample(1000 + i * 100, 24 * 50);
        }
        assert_eq!(r.per_sec(), 0);
        // A clock that did not move takes no sample.
        r.sample(1000 + 40 * 100, 10_000);
        assert_eq!(r.per_sec(), 0);
    }
}
