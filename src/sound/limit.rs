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

/// An estimate of the peak between each pair of samples: the larger of the
/// sample itself and the cubic-interpolated value half way to the next one.
/// It catches most inter-sample peaks at a fraction of the cost of
/// oversampling.
fn local_peak(x: &[f32], i: usize) -> f32 {
    let at = |k: isize| -> f32 {
        if k < 0 || k as usize >= x.len() {
            0.0
        } else {
            x[k as usize]
        }
    };
    let i = i as isize;
    let mid = (-at(i - 1) + 9.0 * at(i) + 9.0 * at(i + 1) - at(i + 2)) / 16.0;
    at(i).abs().max(mid.abs())
}

/// Brings every peak of `samples` down to `ceiling` (linear, > 0) with a
/// smooth gain curve; leaves a clip whose peaks are already under it
/// untouched.
///
/// The gain is a minimum filter of the gain each sample needs, averaged over
/// the same width (so it ramps down ahead of a peak and still meets it), then
/// released slowly. Returns the deepest gain reduction, in dB (0 when nothing
/// was done).
pub fn limit(samples: &mut [f32], ceiling: f32, rate: u32) -> f64 {
    let n = samples.len();
    let need: Vec<f32> = (0..n)
        .map(|i| {
            let p = local_peak(samples, i);
            if p > ceiling { ceiling / p } else { 1.0 }
        })
        .collect();
    let deepest = need.iter().copied().fold(1.0f32, f32::min);
    if deepest >= 1.0 {
        return 0.0;
    }
    let w = super::samples_in(ATTACK_SECONDS, rate).max(1);
    let min = sliding_min(&need, w);
    // Mean of the minimum over the same ±w window: every value averaged at a
    // peak is at most that peak's need, so the mean is too.
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0.0f64);
    for &m in &min {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + f64::from(m));
    }
    let release = 1.0 - (-1.0 / (RELEASE_SECONDS * f64::from(rate))).exp();
    let mut gain = 1.0f64;
    for (i, s) in samples.iter_mut().enumerate() {
        let (lo, hi) = (i.saturating_sub(w), (i + w + 1).min(n));
        let smooth = (prefix[hi] - prefix[lo]) / (hi - lo) as f64;
        // Recover slowly, but never above what the averaged curve allows.
        gain = smooth.min(gain + (1.0 - gain) * release);
        *s = (f64::from(*s) * gain) as f32;
        // Rounding can leave a peak a hair over; the ceiling is a promise.
        *s = s.clamp(-ceiling, ceiling);
    }
    20.0 * f64::from(deepest).log10()
}

/// The minimum of `x` over `i - w ..= i + w` for every `i` (monotonic deque,
/// linear time).
fn sliding_min(x: &[f32], w: usize) -> Vec<f32> {
    let n = x.len();
    let mut out = Vec::with_capacity(n);
    let mut deque = std::collections::VecDeque::<usize>::new();
    let mut next = 0;
    for i in 0..n {
        while next < n && next <= i + w {
            while deque.back().is_some_and(|&b| x[b] >= x[next]) {
                deque.pop_back();
            }
            deque.push_back(next);
            next += 1;
        }
        while deque.front().is_some_and(|&f| f + w < i) {
            deque.pop_front();
        }
        out.push(deque.front().map_or(1.0, |&f| x[f]));
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
    fn sliding_min_is_a_window_minimum() {
        let x = [5.0, 3.0, 4.0, 1.0, 6.0, 7.0, 8.0];
        assert_eq!(sliding_min(&x, 1), vec![3.0, 3.0, 1.0, 1.0, 1.0, 6.0, 7.0]);
        assert_eq!(sliding_min(&x, 0), x.to_vec());
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
