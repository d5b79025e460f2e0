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

/// The estimated peak at and after sample `b` of `a, b, c, d` (four
/// neighbours): the larger of `|b|` and the cubic-interpolated value half way
/// to `c`. It catches most inter-sample peaks at a fraction of the cost of
/// oversampling.
#[inline(always)]
fn local_peak(a: f32, b: f32, c: f32, d: f32) -> f32 {
    let mid = (-a + 9.0 * b + 9.0 * c - d) / 16.0;
    b.abs().max(mid.abs())
}

/// [`local_peak`] of every sample, with zeros beyond both ends.
fn local_peaks(x: &[f32]) -> impl Iterator<Item = f32> + '_ {
    let n = x.len();
    let at = move |i: usize| x.get(i).copied().unwrap_or(0.0);
    // Sample k's neighbours are k - 1 ..= k + 2; at the edges some are zero.
    let edge = move |k: usize| {
        let before = if k == 0 { 0.0 } else { x[k - 1] };
        local_peak(before, at(k), at(k + 1), at(k + 2))
    };
    // Window j holds x[j ..= j + 3], the neighbours of sample j + 1: samples
    // 1 ..= n - 3 with no edge checks. The rest are edges.
    let (first, last) = if n < 4 {
        (0..n, 0..0)
    } else {
        (0..1, n - 2..n)
    };
    first
        .map(edge)
        .chain(x.windows(4).map(|w| local_peak(w[0], w[1], w[2], w[3])))
        .chain(last.map(edge))
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
    /// The largest of them all: whether there is anything to do at a gain.
    peak: f32,
    /// Half-width of the attack window, in samples.
    width: usize,
    /// Per-sample recovery coefficient of the release.
    release: f64,
}

impl Limiter {
    /// Prepares the limiter for `samples` at `rate` Hz.
    pub fn new(samples: &[f32], rate: u32) -> Self {
        let peaks: Vec<f32> = local_peaks(samples).collect();
        let width = super::samples_in(ATTACK_SECONDS, rate).max(1);
        Limiter {
            peak: peaks.iter().fold(0.0f32, |m, &v| m.max(v)),
            loudest: sliding_max(&peaks, width),
            width,
            release: release(rate),
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
        let loudest = self.peak * gain;
        if loudest <= ceiling {
            for (o, &s) in out.iter_mut().zip(samples) {
                *o = s * gain;
            }
            return 0.0;
        }
        // Running sums of the gain each sample needs: a window's mean is a
        // difference of two. (The sums are the clip's own, from its first
        // sample, so the result depends on the clip alone.)
        let mut prefix = Vec::with_capacity(n + 1);
        let mut total = 0.0f64;
        prefix.push(total);
        for &l in &self.loudest {
            let p = l * gain;
            total += if p > ceiling {
                f64::from(ceiling / p)
            } else {
                1.0
            };
            prefix.push(total);
        }
        let release = self.release;
        let bound = f64::from(ceiling);
        let mut level = 1.0f64;
        let mut put = |o: &mut f32, s: f32, smooth: f64| {
            // Recover slowly, but never above what the averaged curve allows.
            level = smooth.min(level + (1.0 - level) * release);
            // Rounding can leave a peak a hair over; the ceiling is a promise.
            *o = (f64::from(s * gain) * level).clamp(-bound, bound) as f32;
        };
        let w = self.width;
        let mean = |i: usize| {
            let (lo, hi) = (i.saturating_sub(w), (i + w + 1).min(n));
            (prefix[hi] - prefix[lo]) / (hi - lo) as f64
        };
        // Windows cut by the clip's edges at the start and end; whole ones
        // (2w + 1 samples) between, without the edge arithmetic.
        let head = w.min(n);
        let tail = n.saturating_sub(w).max(head);
        for i in 0..head {
            put(&mut out[i], samples[i], mean(i));
        }
        if tail > head {
            let whole = (2 * w + 1) as f64;
            let ahead = prefix[head + w + 1..].iter();
            let behind = prefix[head - w..].iter();
            let body = samples[head..tail].iter().zip(&mut out[head..tail]);
            for (((s, o), hi), lo) in body.zip(ahead).zip(behind) {
                put(o, *s, (hi - lo) / whole);
            }
        }
        for i in tail..n {
            put(&mut out[i], samples[i], mean(i));
        }
        20.0 * f64::from(ceiling / loudest).log10()
    }
}

/// Per-sample recovery coefficient of the release at `rate` Hz.
fn release(rate: u32) -> f64 {
    1.0 - (-1.0 / (RELEASE_SECONDS * f64::from(rate))).exp()
}

/// Brings every peak of `samples` down to `ceiling` in place: a
/// [`Limiter`] at unit gain. Returns the deepest gain reduction in dB.
///
/// A clip whose peaks are all under the ceiling (most mixes of a quiet tone
/// under speech) is left as it is at the cost of one pass.
pub fn limit(samples: &mut [f32], ceiling: f32, rate: u32) -> f64 {
    let peak = local_peaks(samples).fold(0.0f32, |m, v| m.max(v));
    if peak <= ceiling {
        // What `apply` would write: every sample times 1.
        return 0.0;
    }
    let limiter = Limiter::new(samples, rate);
    let input = samples.to_vec();
    limiter.apply(&input, 1.0, ceiling, samples)
}

/// The maximum of `x` over `i - w ..= i + w` (cut to the slice) for every
/// `i`, in linear time whatever `w` (van Herk / Gil-Werman: maxima running
/// forward and backward within blocks of one window's length, so any window
/// is the larger of a block's tail and the next block's head).
fn sliding_max(x: &[f32], w: usize) -> Vec<f32> {
    let n = x.len();
    if n == 0 {
        return Vec::new();
    }
    let k = 2 * w + 1;
    // Window i is padded[i .. i + k]; the padding is never a maximum.
    let mut padded = vec![f32::NEG_INFINITY; n + 2 * w];
    padded[w..w + n].copy_from_slice(x);
    let mut head = padded.clone();
    for block in head.chunks_mut(k) {
        for j in 1..block.len() {
            block[j] = block[j].max(block[j - 1]);
        }
    }
    let mut tail = padded;
    for block in tail.chunks_mut(k) {
        for j in (1..block.len()).rev() {
            block[j - 1] = block[j - 1].max(block[j]);
        }
    }
    tail[..n]
        .iter()
        .zip(&head[k - 1..])
        .map(|(t, h)| t.max(*h))
        .collect()
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

    /// The first version of the limiter (padded copies, a `VecDeque`,
    /// edge arithmetic on every sample), kept as the reference the fast one
    /// must match bit for bit: prepared clips on disk were made with it.
    fn reference_limit(x: &[f32], gain: f32, ceiling: f32, rate: u32) -> (Vec<f32>, f64) {
        let mut padded = vec![0.0, 0.0];
        padded.extend_from_slice(x);
        padded.extend_from_slice(&[0.0, 0.0]);
        let peaks: Vec<f32> = padded
            .windows(4)
            .skip(1)
            .take(x.len())
            .map(|w| {
                let mid = (-w[0] + 9.0 * w[1] + 9.0 * w[2] - w[3]) / 16.0;
                w[1].abs().max(mid.abs())
            })
            .collect();
        let w = crate::sound::samples_in(ATTACK_SECONDS, rate).max(1);
        let n = x.len();
        let mut loudest = Vec::with_capacity(n);
        let mut deque = std::collections::VecDeque::<usize>::new();
        let mut next = 0;
        for i in 0..n {
            while next < n && next <= i + w {
                while deque.back().is_some_and(|&b| peaks[b] <= peaks[next]) {
                    deque.pop_back();
                }
                deque.push_back(next);
                next += 1;
            }
            while deque.front().is_some_and(|&f| f + w < i) {
                deque.pop_front();
            }
            loudest.push(deque.front().map_or(0.0, |&f| peaks[f]));
        }
        let top = loudest.iter().fold(0.0f32, |m, &v| m.max(v)) * gain;
        if top <= ceiling {
            return (x.iter().map(|s| s * gain).collect(), 0.0);
        }
        let need = |i: usize| -> f64 {
            let p = loudest[i] * gain;
            if p > ceiling {
                f64::from(ceiling / p)
            } else {
                1.0
            }
        };
        let mut prefix = vec![0.0f64];
        let mut total = 0.0f64;
        for i in 0..n {
            total += need(i);
            prefix.push(total);
        }
        let release = 1.0 - (-1.0 / (RELEASE_SECONDS * f64::from(rate))).exp();
        let mut level = 1.0f64;
        let mut out = vec![0.0; n];
        for (i, (o, &s)) in out.iter_mut().zip(x).enumerate() {
            let (lo, hi) = (i.saturating_sub(w), (i + w + 1).min(n));
            let smooth = (prefix[hi] - prefix[lo]) / (hi - lo) as f64;
            level = smooth.min(level + (1.0 - level) * release);
            *o = ((f64::from(s * gain)) * level).clamp(-f64::from(ceiling), f64::from(ceiling))
                as f32;
        }
        (out, 20.0 * f64::from(ceiling / top).log10())
    }

    #[test]
    fn the_fast_limiter_matches_the_reference_bit_for_bit() {
        let mut noise = crate::sound::Noise::new(7);
        // Attack half-windows of 2 (at 1 kHz), 16 and 88 samples; lengths
        // around and across a whole window.
        for rate in [1_000u32, 8_000, 44_100] {
            for n in [0usize, 1, 2, 3, 4, 5, 7, 33, 100, 177, 178, 179, 5000] {
                let x: Vec<f32> = (0..n)
                    .map(|i| {
                        let burst = if i % 700 < 40 { 1.6 } else { 0.4 };
                        burst * noise.next() as f32
                    })
                    .collect();
                for (gain, ceiling) in [(1.0f32, 0.5f32), (2.5, 0.7), (0.3, 0.9), (1.0, 2.0)] {
                    let (want, want_db) = reference_limit(&x, gain, ceiling, rate);
                    let mut got = vec![0.0; n];
                    let db = Limiter::new(&x, rate).apply(&x, gain, ceiling, &mut got);
                    let bits = |v: &[f32]| v.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&want), "rate {rate}, n {n}, gain {gain}");
                    assert_eq!(db.to_bits(), want_db.to_bits());
                    if gain == 1.0 {
                        let mut inplace = x.clone();
                        assert_eq!(
                            limit(&mut inplace, ceiling, rate).to_bits(),
                            want_db.to_bits()
                        );
                        assert_eq!(bits(&inplace), bits(&want), "limit: rate {rate}, n {n}");
                    }
                }
            }
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
