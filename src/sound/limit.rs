//! Peak control: a look-ahead limiter for single clips and a sample-local
//! soft clipper for the mix.
//!
//! Speech from a small TTS voice is peaky (flite's peaks sit 16–22 dB above
//! its loudness), while the export must reach −16 LUFS with true peaks at or
//! under −1 dBTP. So each speech clip passes through [`limit`] once, when it
//! is prepared: the whole clip is in memory, so the limiter can look ahead
//! and its result depends on the clip alone, never on the block the player
//! asked for. Where sounds overlap (a breath tone under a phrase), their sum
//! goes through [`soft_clip`], which looks at one sample only, so it too gives
//! the same result whatever the block size.

/// How far ahead (and behind) a peak the limiter starts bringing the gain
/// down: short enough to leave syllables alone, long enough not to distort.
const ATTACK_SECONDS: f64 = 0.002;

/// Time constant of the gain's recovery after a peak.
const RELEASE_SECONDS: f64 = 0.04;

/// An estimate of the peak at and after each sample: the larger of the
/// sample itself and the cubic-interpolated value half way to the next one.
/// It catches most inter-sample peaks at a fraction of the cost of
/// oversampling.
fn local_peaks(x: &[f32]) -> Vec<f32> {
    // Two zeros of padding on each side keep the loop free of edge cases:
    // padded[k + 2] is x[k].
    let mut padded = Vec::with_capacity(x.len() + 4);
    padded.extend_from_slice(&[0.0, 0.0]);
    padded.extend_from_slice(x);
    padded.extend_from_slice(&[0.0, 0.0]);
    padded
        .windows(4)
        .skip(1) // window k + 1 holds x[k - 1 ..= k + 2]
        .take(x.len())
        .map(|w| {
            let mid = (-w[0] + 9.0 * w[1] + 9.0 * w[2] - w[3]) / 16.0;
            w[1].abs().max(mid.abs())
        })
        .collect()
}

/// A look-ahead limiter prepared for one clip, to be applied at any gain.
///
/// The gain each sample needs at input gain `g` is `min(1, ceiling / (g ×
/// peak))`, so its minimum over a window is the same expression of the
/// window's *largest* peak, which does not depend on `g`: it is found once
/// here, and trying another gain (as the make-up loop does) costs a few
/// operations per sample.
#[derive(Clone, Debug)]
pub struct Limiter {
    /// Largest estimated peak within ±`width` of each sample.
    loudest: Vec<f32>,
    /// Half-width of the attack window, in samples.
    width: usize,
    /// Per-sample recovery coefficient of the release.
    release: f64,
}

impl Limiter {
    /// Prepares the limiter for `samples` at `rate` Hz.
    pub fn new(samples: &[f32], rate: u32) -> Self {
        let peaks = local_peaks(samples);
        let width = super::samples_in(ATTACK_SECONDS, rate).max(1);
        Limiter {
            loudest: sliding_max(&peaks, width),
            width,
            release: 1.0 - (-1.0 / (RELEASE_SECONDS * f64::from(rate))).exp(),
        }
    }

    /// Writes `samples × gain` into `out` with every peak brought down to
    /// `ceiling` (linear, > 0) by a smooth gain curve; samples already under
    /// it pass unchanged. Returns the deepest gain reduction, in dB (0 when
    /// nothing was done).
    ///
    /// The curve is the window minimum of the gain each sample needs,
    /// averaged over the same window (so it ramps down ahead of a peak and
    /// still meets it: every value averaged at a peak is at most that peak's
    /// need), then released slowly.
    pub fn apply(&self, samples: &[f32], gain: f32, ceiling: f32, out: &mut [f32]) -> f64 {
        assert_eq!(
            samples.len(),
            self.loudest.len(),
            "limiter prepared for another clip"
        );
        let n = samples.len();
        let loudest = self.loudest.iter().fold(0.0f32, |m, &v| m.max(v)) * gain;
        if loudest <= ceiling {
            for (o, &s) in out.iter_mut().zip(samples) {
                *o = s * gain;
            }
            return 0.0;
        }
        let need = |i: usize| -> f64 {
            let p = self.loudest[i] * gain;
            if p > ceiling {
                f64::from(ceiling / p)
            } else {
                1.0
            }
        };
        let w = self.width;
        let mut prefix = Vec::with_capacity(n + 1);
        let mut total = 0.0f64;
        prefix.push(total);
        for i in 0..n {
            total += need(i);
            prefix.push(total);
        }
        let mut level = 1.0f64;
        for (i, (o, &s)) in out.iter_mut().zip(samples).enumerate() {
            let (lo, hi) = (i.saturating_sub(w), (i + w + 1).min(n));
            let smooth = (prefix[hi] - prefix[lo]) / (hi - lo) as f64;
            // Recover slowly, but never above what the averaged curve allows.
            level = smooth.min(level + (1.0 - level) * self.release);
            // Rounding can leave a peak a hair over; the ceiling is a promise.
            *o = ((f64::from(s * gain)) * level).clamp(-f64::from(ceiling), f64::from(ceiling))
                as f32;
        }
        20.0 * f64::from(ceiling / loudest).log10()
    }
}

/// Brings every peak of `samples` down to `ceiling` in place: a
/// [`Limiter`] at unit gain. Returns the deepest gain reduction in dB.
pub fn limit(samples: &mut [f32], ceiling: f32, rate: u32) -> f64 {
    let limiter = Limiter::new(samples, rate);
    let input = samples.to_vec();
    limiter.apply(&input, 1.0, ceiling, samples)
}

/// The maximum of `x` over `i - w ..= i + w` for every `i` (monotonic deque,
/// linear time).
fn sliding_max(x: &[f32], w: usize) -> Vec<f32> {
    let n = x.len();
    let mut out = Vec::with_capacity(n);
    let mut deque = std::collections::VecDeque::<usize>::new();
    let mut next = 0;
    for i in 0..n {
        while next < n && next <= i + w {
            while deque.back().is_some_and(|&b| x[b] <= x[next]) {
                deque.pop_back();
            }
            deque.push_back(next);
            next += 1;
        }
        while deque.front().is_some_and(|&f| f + w < i) {
            deque.pop_front();
        }
        out.push(deque.front().map_or(0.0, |&f| x[f]));
    }
    out
}

/// A memoryless soft clipper: the identity up to `knee`, then a tanh curve
/// that approaches `ceiling` and never passes it (both linear, knee <
/// ceiling). Its slope is continuous at the knee, so it adds no edge.
pub fn soft_clip(x: f32, knee: f32, ceiling: f32) -> f32 {
    let a = x.abs();
    if a <= knee {
        return x;
    }
    let room = ceiling - knee;
    let y = knee + room * ((a - knee) / room).tanh();
    y.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_clips_pass_untouched() {
        let mut x: Vec<f32> = (0..1000).map(|i| 0.3 * (i as f32 * 0.05).sin()).collect();
        let before = x.clone();
        assert_eq!(limit(&mut x, 0.5, 16_000), 0.0);
        assert_eq!(x, before);
    }

    #[test]
    fn peaks_meet_the_ceiling_smoothly() {
        let rate = 16_000;
        // A steady tone that swells to more than twice as loud for 50 ms.
        let mut x: Vec<f32> = (0..16_000)
            .map(|i| {
                let bump = if (7800..8600).contains(&i) {
                    crate::sound::fade::raised_cosine(1.0 - ((i as f64 - 8200.0) / 400.0).abs())
                        as f32
                } else {
                    0.0
                };
                (0.4 + 0.5 * bump) * (i as f32 * 0.07).sin()
            })
            .collect();
        let reduction = limit(&mut x, 0.5, rate);
        assert!(
            (reduction - 20.0 * (0.5f64 / 0.9).log10()).abs() < 0.2,
            "{reduction}"
        );
        assert!(x.iter().all(|v| v.abs() <= 0.5));
        // Far from the burst the tone is left alone.
        assert!((x[2000] - 0.4 * (2000f32 * 0.07).sin()).abs() < 1e-6);
        // The burst is brought to the ceiling, not far below it.
        let burst_peak = x[8100..8300].iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(burst_peak > 0.45, "{burst_peak}");
        // No step larger than the tone's own slope at the ceiling (0.5 × 0.07).
        let step = crate::sound::analysis::max_step(&x);
        assert!(step < 0.04, "{step}");
    }

    #[test]
    fn sliding_max_is_a_window_maximum() {
        let x = [5.0, 3.0, 4.0, 1.0, 6.0, 7.0, 2.0];
        assert_eq!(sliding_max(&x, 1), vec![5.0, 5.0, 4.0, 6.0, 7.0, 7.0, 7.0]);
        assert_eq!(sliding_max(&x, 0), x.to_vec());
    }

    #[test]
    fn one_preparation_serves_any_gain() {
        let x: Vec<f32> = (0..4000)
            .map(|i| 0.3 * (i as f32 * 0.05).sin() * (1.0 + (i as f32 * 0.002).sin()))
            .collect();
        let limiter = Limiter::new(&x, 16_000);
        for gain in [0.5f32, 1.0, 2.0, 4.0] {
            let mut a = vec![0.0; x.len()];
            limiter.apply(&x, gain, 0.5, &mut a);
            let mut b: Vec<f32> = x.iter().map(|v| v * gain).collect();
            limit(&mut b, 0.5, 16_000);
            // Same up to the rounding of scaling before or after peak finding.
            assert!(
                a.iter().zip(&b).all(|(a, b)| (a - b).abs() < 1e-5),
                "gain {gain}"
            );
            assert!(a.iter().all(|v| v.abs() <= 0.5));
        }
    }

    #[test]
    fn soft_clip_is_identity_below_the_knee_and_bounded_above() {
        assert_eq!(soft_clip(0.5, 0.7, 0.8), 0.5);
        assert_eq!(soft_clip(-0.7, 0.7, 0.8), -0.7);
        for x in [0.71f32, 0.9, 2.0, 100.0] {
            let y = soft_clip(x, 0.7, 0.8);
            assert!(y > 0.7 && y <= 0.8, "{x} → {y}");
            assert_eq!(soft_clip(-x, 0.7, 0.8), -y);
        }
        // Monotonic.
        assert!(soft_clip(0.9, 0.7, 0.8) < soft_clip(1.0, 0.7, 0.8));
    }
}
