//! Peak control: a look-ahead limiter for single clips and a sample-local
//! soft clipper for the mix.
//!
//! Speech from a small TTS voice is peaky (flite's peaks sit 16–22 dB above
//! its loudness), while the export must reach −16 LUFS with true peaks at or
//! under −1 dBTP. So each speech clip passes through [`limit`] once, when it
//! is prepared: the whole clip is in memory, so the limiter can look ahead
//! and its result depends on the clip alone, never on the block the player
//! asked for. It finds true peaks by 4× oversampling ([`Limiter::true_peak`]): an
//! "s" near half a low rate has peaks between samples that a cubic
//! estimate misses by up to 2 dB (at 16 kHz a sibilant-heavy routine's WAV
//! measured +0.3 dBTP by ffmpeg with every cubic point at −1.8 dBFS; with
//! true peaks, −1.6). Where sounds overlap (a breath tone under a phrase),
//! their sum goes through [`soft_clip`], which looks at one sample only, so
//! it too gives the same result whatever the block size. Before a lossy encoder the
//! limiter runs again (see `crate::output::headroom`), by true peaks for
//! MP3 and by the cubic ([`Limiter::new`]) for Opus.

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
fn local_peaks(x: &[f32]) -> Vec<f32> {
    let n = x.len();
    let at = |i: usize| x.get(i).copied().unwrap_or(0.0);
    // Sample k's neighbours are k - 1 ..= k + 2; at the edges some are zero.
    let edge = |k: usize| {
        let before = if k == 0 { 0.0 } else { x[k - 1] };
        local_peak(before, at(k), at(k + 1), at(k + 2))
    };
    if n < 4 {
        return (0..n).map(edge).collect();
    }
    // Window j holds x[j ..= j + 3], the neighbours of sample j + 1: samples
    // 1 ..= n - 3 with no edge checks (a loop the compiler vectorizes).
    let mut peaks = Vec::with_capacity(n);
    peaks.push(edge(0));
    peaks.extend(x.windows(4).map(|w| local_peak(w[0], w[1], w[2], w[3])));
    peaks.extend([edge(n - 2), edge(n - 1)]);
    peaks
}

/// Points between two samples at which [`true_peaks`] interpolates, plus
/// one: 4× oversampling, as ITU-R BS.1770 true-peak meters do.
const OVERSAMPLING: usize = 4;

/// Samples on each side of a point the interpolating filters read.
const HALF_TAPS: usize = 16;

/// Band-limited interpolation at the points `1/4, 2/4, 3/4` of the way
/// from one sample to the next: a Kaiser-windowed sinc (β = 6, flat to
/// about 0.44 of the rate) per point, each summing to 1.
struct Interpolator {
    /// `taps[p][j]` weighs sample `n + j + 1 − HALF_TAPS` for the point
    /// `(p + 1) / 4` past `n`.
    taps: [[f32; 2 * HALF_TAPS]; OVERSAMPLING - 1],
    /// The largest sum of absolute taps: no point is louder than this
    /// times the loudest sample the filter reads.
    gain_bound: f32,
}

impl Interpolator {
    fn get() -> &'static Interpolator {
        static INTERPOLATOR: std::sync::LazyLock<Interpolator> =
            std::sync::LazyLock::new(Interpolator::new);
        &INTERPOLATOR
    }

    fn new() -> Self {
        const BETA: f64 = 6.0;
        // The modified Bessel function I₀, by its series.
        let i0 = |x: f64| {
            let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
            while term > 1e-12 * sum {
                term *= (x / (2.0 * k)).powi(2);
                sum += term;
                k += 1.0;
            }
            sum
        };
        let half = HALF_TAPS as f64;
        let mut taps = [[0.0f32; 2 * HALF_TAPS]; OVERSAMPLING - 1];
        let mut gain_bound = 0.0f32;
        for (p, phase) in taps.iter_mut().enumerate() {
            let f = (p + 1) as f64 / OVERSAMPLING as f64;
            let weights: Vec<f64> = (0..2 * HALF_TAPS)
                .map(|j| {
                    // Distance from the point to sample n + j + 1 − HALF_TAPS.
                    let t = f - (j as f64 + 1.0 - half);
                    let sinc = (std::f64::consts::PI * t).sin() / (std::f64::consts::PI * t);
                    let window = i0(BETA * (1.0 - (t / half).powi(2)).max(0.0).sqrt()) / i0(BETA);
                    sinc * window
                })
                .collect();
            let sum: f64 = weights.iter().sum();
            for (tap, w) in phase.iter_mut().zip(&weights) {
                *tap = (w / sum) as f32;
            }
            gain_bound = gain_bound.max(phase.iter().map(|t| t.abs()).sum());
        }
        Interpolator { taps, gain_bound }
    }
}

/// Samples [`true_peaks`] looks at a time.
const PEAK_CHUNK: usize = 64;

/// The true peak at and after each sample of `x` (zeros beyond both ends):
/// the largest of `|x[n]|` and the band-limited wave's magnitude at the
/// three points [`Interpolator`] finds between `x[n]` and `x[n + 1]`.
///
/// Unlike [`local_peaks`], this finds the peaks between samples of sounds
/// near half the rate (an "s" at 16 kHz), which a cubic misses by up to
/// 2 dB. Only values over `floor` matter to a limiter whose ceiling over
/// its gain is at least `floor`, so where no point can pass `floor` (a
/// chunk whose loudest sample, times the filters' gain bound, stays under
/// it: most of any session) the samples' magnitudes stand for the peaks,
/// and the filters are not run.
fn true_peaks(x: &[f32], floor: f32) -> Vec<f32> {
    let filter = Interpolator::get();
    let mut peaks: Vec<f32> = x.iter().map(|s| s.abs()).collect();
    let n = x.len();
    // `padded[i]` is `x[i − HALF_TAPS]`, zero outside.
    let mut padded = vec![0.0f32; n + 2 * HALF_TAPS + PEAK_CHUNK];
    padded[HALF_TAPS..HALF_TAPS + n].copy_from_slice(x);
    let mut point = [0.0f32; PEAK_CHUNK];
    for at in (0..n).step_by(PEAK_CHUNK) {
        let end = (at + PEAK_CHUNK).min(n);
        // Every sample the chunk's filters read: x[at + 1 − H .. end + H].
        let read = &padded[at + 1..end + 2 * HALF_TAPS];
        if super::loudness::peak(read) * filter.gain_bound <= floor {
            continue;
        }
        for phase in &filter.taps {
            point.fill(0.0);
            // One tap over the whole chunk at a time: a vectorized loop.
            for (j, &tap) in phase.iter().enumerate() {
                let from = &padded[at + 1 + j..at + 1 + j + PEAK_CHUNK];
                for (v, &s) in point.iter_mut().zip(from) {
                    *v += tap * s;
                }
            }
            for (peak, v) in peaks[at..end].iter_mut().zip(&point) {
                *peak = peak.max(v.abs());
            }
        }
    }
    peaks
}

/// The smallest gain [`Limiter::apply`] reaches for: −120 dB. Needs are kept
/// at or above it so that the window sums are exact (see there); a peak
/// that would need more (a million times over the ceiling) is still held at
/// the ceiling by the final clamp.
const DEEPEST_NEED: f32 = 1.0 / (1 << 20) as f32;

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
    /// Per-sample decay of the gain reduction while it recovers.
    recovery: f64,
}

impl Limiter {
    /// Prepares the limiter for `samples` at `rate` Hz.
    pub fn new(samples: &[f32], rate: u32) -> Self {
        Limiter::from_peaks(local_peaks(samples), rate)
    }

    /// Prepares the limiter for `samples` at `rate` Hz by their true peaks,
    /// found by 4× oversampling (a band-limited interpolation at three
    /// points between each two samples) rather than [`Limiter::new`]'s
    /// cubic, which misses up to 2 dB of the peaks of sounds near half the
    /// rate: for a lossy encoder, whose decoded wave shows them. It holds
    /// them under any `ceiling` at any `gain` with `ceiling / gain` at
    /// least `floor`; under `floor` it spares itself the filters.
    pub fn true_peak(samples: &[f32], rate: u32, floor: f32) -> Self {
        Limiter::from_peaks(true_peaks(samples, floor), rate)
    }

    /// The limiter for a clip whose [`local_peaks`] are `peaks`.
    fn from_peaks(peaks: Vec<f32>, rate: u32) -> Self {
        let width = super::samples_in(ATTACK_SECONDS, rate).max(1);
        Limiter {
            // The peaks are magnitudes already: their largest absolute value.
            peak: super::loudness::peak(&peaks),
            loudest: sliding_max(peaks, width),
            width,
            recovery: recovery(rate),
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
        assert_eq!(samples.len(), out.len(), "output of another length");
        let Some(reduction) = self.run(gain, ceiling, |at, levels| {
            let range = at..at + levels.len();
            scale(
                &samples[range.clone()],
                levels,
                gain,
                ceiling,
                &mut out[range],
            );
        }) else {
            for (o, &s) in out.iter_mut().zip(samples) {
                *o = s * gain;
            }
            return 0.0;
        };
        reduction
    }

    /// [`Limiter::apply`] with `samples` as both input and output.
    fn apply_in_place(&self, samples: &mut [f32], gain: f32, ceiling: f32) -> f64 {
        assert_eq!(samples.len(), self.loudest.len());
        let mut input = [0.0f32; BLOCK];
        let Some(reduction) = self.run(gain, ceiling, |at, levels| {
            let out = &mut samples[at..at + levels.len()];
            let input = &mut input[..levels.len()];
            input.copy_from_slice(out);
            scale(input, levels, gain, ceiling, out);
        }) else {
            samples.iter_mut().for_each(|s| *s *= gain);
            return 0.0;
        };
        reduction
    }

    /// Calls `put(at, levels)` with the gains of samples `at ..` a block at
    /// a time, in order, and returns the deepest reduction in dB; `None`
    /// when no peak reaches the ceiling at `gain` (every gain is 1).
    #[inline(always)]
    fn run(&self, gain: f32, ceiling: f32, mut put: impl FnMut(usize, &[f64])) -> Option<f64> {
        let n = self.loudest.len();
        let loudest = self.peak * gain;
        if loudest <= ceiling {
            return None;
        }
        // The gain each sample needs (a loop the compiler vectorizes).
        let need: Vec<f32> = self
            .loudest
            .iter()
            .map(|&l| {
                let p = l * gain;
                let need = if p > ceiling { ceiling / p } else { 1.0 };
                if need > DEEPEST_NEED {
                    need
                } else {
                    DEEPEST_NEED
                }
            })
            .collect();
        // The sum over each window, kept by adding the sample entering it
        // and subtracting the one leaving. Every need is a multiple of
        // 2⁻⁴³ under 1 and a window holds fewer than 2⁸ of them, so every
        // sum fits in an f64's 53 bits: each is exact, and the same as
        // summing the window afresh.
        let w = self.width;
        let mut sum: f64 = need[..w.min(n)].iter().map(|&v| f64::from(v)).sum();
        // The reduction `1 - level` decays by `recovery` each sample, but
        // never below what the window's mean asks for. (Comparisons rather
        // than `f64::max`, which spends instructions on NaN, here none.)
        let (recovery, mut reduction) = (self.recovery, 0.0f64);
        let mut step = |sum: f64, inverse_count: f64| {
            let wanted = 1.0 - sum * inverse_count;
            let kept = reduction * recovery;
            reduction = if wanted > kept { wanted } else { kept };
            1.0 - reduction
        };
        let whole = 1.0 / (2 * w + 1) as f64;
        let mut levels = [0.0f64; BLOCK];
        for at in (0..n).step_by(BLOCK) {
            let end = (at + BLOCK).min(n);
            let levels = &mut levels[..end - at];
            if at > w && end + w <= n {
                // Whole windows: one sample enters, one leaves.
                let entering = &need[at + w..end + w];
                let leaving = &need[at - w - 1..end - w - 1];
                for ((l, &e), &o) in levels.iter_mut().zip(entering).zip(leaving) {
                    sum += f64::from(e) - f64::from(o);
                    *l = step(sum, whole);
                }
            } else {
                // Windows cut by the clip's start or end.
                for (l, i) in levels.iter_mut().zip(at..end) {
                    if i + w < n {
                        sum += f64::from(need[i + w]);
                    }
                    if i > w {
                        sum -= f64::from(need[i - w - 1]);
                    }
                    let count = (i + w + 1).min(n) - i.saturating_sub(w);
                    *l = step(sum, 1.0 / count as f64);
                }
            }
            put(at, levels);
        }
        Some(20.0 * f64::from(ceiling / loudest).log10())
    }
}

/// Samples [`Limiter::run`] hands over at a time.
const BLOCK: usize = 1024;

/// `out = samples × gain × levels`, held within ±`ceiling` (rounding can
/// leave a peak a hair over; the ceiling is a promise).
#[inline(always)]
fn scale(samples: &[f32], levels: &[f64], gain: f32, ceiling: f32, out: &mut [f32]) {
    let bound = f64::from(ceiling);
    for ((o, &s), &level) in out.iter_mut().zip(samples).zip(levels) {
        let v = f64::from(s * gain) * level;
        // Comparisons, which become vector min and max.
        let v = if v > bound { bound } else { v };
        *o = (if v < -bound { -bound } else { v }) as f32;
    }
}

/// Per-sample decay of the gain reduction at `rate` Hz: its recovery has
/// the time constant [`RELEASE_SECONDS`].
fn recovery(rate: u32) -> f64 {
    (-1.0 / (RELEASE_SECONDS * f64::from(rate))).exp()
}

/// Brings every true peak of `samples` (4× oversampled, see
/// [`Limiter::true_peak`]) down to `ceiling` in place: a [`Limiter`] at
/// unit gain. Returns the deepest gain reduction in dB.
///
/// A clip whose peaks are all under the ceiling (most mixes of a quiet tone
/// under speech) is left as it is at the cost of one pass.
pub fn limit(samples: &mut [f32], ceiling: f32, rate: u32) -> f64 {
    let peaks = true_peaks(samples, ceiling);
    if super::loudness::peak(&peaks) <= ceiling {
        // What `apply` would write: every sample times 1.
        return 0.0;
    }
    Limiter::from_peaks(peaks, rate).apply_in_place(samples, 1.0, ceiling)
}

/// The maximum of `x` over `i - w ..= i + w` (cut to the slice) for every
/// `i`.
///
/// By doubling: after passes with shifts of 1, 2, 4, … each value is the
/// maximum of the `L` values from it on, until `L` is `w + 1`; two such
/// windows, at `i - w` (or 0) and at `i`, cover the whole window of `i`.
/// Each pass is a vectorized loop from one buffer into the other, about
/// log₂ w passes in all.
fn sliding_max(x: Vec<f32>, w: usize) -> Vec<f32> {
    let n = x.len();
    let larger = |a: f32, b: f32| if a > b { a } else { b };
    let (mut from, mut to) = (x, vec![0.0f32; n]);
    let span = w + 1;
    let mut len = 1;
    while len < span && len < n {
        // From windows of `len` to windows of `len + shift`, cut at the end
        // (where the window already reaches it).
        let shift = len.min(span - len);
        let head = n - shift;
        for ((t, &a), &b) in to[..head].iter_mut().zip(&from[..head]).zip(&from[shift..]) {
            *t = larger(a, b);
        }
        to[head..].copy_from_slice(&from[head..]);
        std::mem::swap(&mut from, &mut to);
        len += shift;
    }
    // Window i is [i - w, i] ∪ [i, i + w]; before w, [0, w] ∪ [i, i + w].
    let first = w.min(n);
    for (t, &b) in to[..first].iter_mut().zip(&from[..first]) {
        *t = larger(from[0], b);
    }
    for ((t, &a), &b) in to[first..].iter_mut().zip(&from).zip(&from[first..]) {
        *t = larger(a, b);
    }
    to
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
        assert_eq!(
            sliding_max(x.to_vec(), 1),
            vec![5.0, 5.0, 4.0, 6.0, 7.0, 7.0, 7.0]
        );
        assert_eq!(sliding_max(x.to_vec(), 0), x.to_vec());
    }

    #[test]
    fn one_preparation_serves_any_gain() {
        let x: Vec<f32> = (0..4000)
            .map(|i| 0.3 * (i as f32 * 0.05).sin() * (1.0 + (i as f32 * 0.002).sin()))
            .collect();
        // Gains up to 4 at a ceiling of 0.5: no peak under 0.5 / 4 matters.
        let limiter = Limiter::true_peak(&x, 16_000, 0.5 / 4.0);
        let cubic = Limiter::new(&x, 16_000);
        for gain in [0.5f32, 1.0, 2.0, 4.0] {
            let mut a = vec![0.0; x.len()];
            limiter.apply(&x, gain, 0.5, &mut a);
            let mut b: Vec<f32> = x.iter().map(|v| v * gain).collect();
            let mut c = vec![0.0; x.len()];
            cubic.apply(&x, gain, 0.5, &mut c);
            let mut d = vec![0.0; x.len()];
            Limiter::new(&b, 16_000).apply(&b, 1.0, 0.5, &mut d);
            limit(&mut b, 0.5, 16_000);
            // Same up to the rounding of scaling before or after peak finding.
            let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-5);
            assert!(close(&a, &b), "gain {gain}");
            assert!(close(&c, &d), "cubic, gain {gain}");
            assert!(a.iter().chain(&c).all(|v| v.abs() <= 0.5));
        }
    }

    /// The cubic's peaks written plainly (a padded copy).
    fn reference_cubic_peaks(x: &[f32]) -> Vec<f32> {
        let mut padded = vec![0.0, 0.0];
        padded.extend_from_slice(x);
        padded.extend_from_slice(&[0.0, 0.0]);
        padded
            .windows(4)
            .skip(1)
            .take(x.len())
            .map(|w| {
                let mid = (-w[0] + 9.0 * w[1] + 9.0 * w[2] - w[3]) / 16.0;
                w[1].abs().max(mid.abs())
            })
            .collect()
    }

    /// The limiter of `x` with the given `peaks` written plainly (a
    /// `VecDeque`, each window summed afresh), the reference the fast one
    /// must match bit for bit.
    fn reference_limit(
        x: &[f32],
        peaks: &[f32],
        gain: f32,
        ceiling: f32,
        rate: u32,
    ) -> (Vec<f32>, f64) {
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
            let need = if p > ceiling { ceiling / p } else { 1.0 };
            f64::from(need.max(DEEPEST_NEED))
        };
        let recovery = (-1.0 / (RELEASE_SECONDS * f64::from(rate))).exp();
        let mut reduction = 0.0f64;
        let mut out = vec![0.0; n];
        for (i, (o, &s)) in out.iter_mut().zip(x).enumerate() {
            let (lo, hi) = (i.saturating_sub(w), (i + w + 1).min(n));
            let smooth = (lo..hi).map(need).sum::<f64>() * (1.0 / (hi - lo) as f64);
            reduction = (1.0 - smooth).max(reduction * recovery);
            let level = 1.0 - reduction;
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
                    let cubic = reference_cubic_peaks(&x);
                    let (want, want_db) = reference_limit(&x, &cubic, gain, ceiling, rate);
                    let mut got = vec![0.0; n];
                    let db = Limiter::new(&x, rate).apply(&x, gain, ceiling, &mut got);
                    let bits = |v: &[f32]| v.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&want), "rate {rate}, n {n}, gain {gain}");
                    assert_eq!(db.to_bits(), want_db.to_bits());
                    if gain == 1.0 {
                        // `limit` by true peaks: those under the ceiling,
                        // which it spares the filters, need no reduction.
                        let peaks = true_peaks(&x, 0.0);
                        let (want, want_db) = reference_limit(&x, &peaks, gain, ceiling, rate);
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
    fn true_peaks_find_what_a_cubic_misses_near_half_the_rate() {
        use std::f32::consts::PI;
        // A tone at a quarter of the rate (4 kHz at 16 kHz), amplitude 0.9,
        // whose samples fall 45° either side of its crests: 3 dB under,
        // and the cubic half way between them still 1.07 dB under.
        let tone = |n: usize| (std::f32::consts::FRAC_PI_2 * n as f32 + 0.25 * PI).sin();
        let x: Vec<f32> = (0..4_000).map(|n| 0.9 * tone(n)).collect();
        let db = |v: f32| 20.0 * v.log10();
        let middle = |p: &[f32]| p[100..3_900].iter().fold(0f32, |m, &v| m.max(v));
        let cubic = middle(&local_peaks(&x));
        let true_peak = middle(&true_peaks(&x, 0.0));
        assert!(db(0.9 / cubic) > 1.05, "the cubic sees {cubic}");
        assert!(db(true_peak / 0.9).abs() < 0.1, "{true_peak}");
        // Quiet then loud: where no point can pass the floor the samples
        // stand for the peaks; wherever one passes it (where a limiter
        // acts), the peaks are those found with no floor.
        let x: Vec<f32> = (0..4_000)
            .map(|n| if n < 2_000 { 0.3 } else { 0.9 } * tone(n))
            .collect();
        let (floored, exact) = (true_peaks(&x, 0.8), true_peaks(&x, 0.0));
        for (n, (f, e)) in floored.iter().zip(&exact).enumerate() {
            assert!(f == e || (*f <= 0.8 && *e <= 0.8), "{n}: {f} {e}");
        }
        assert!(floored[..1_900].iter().zip(&x).all(|(f, s)| *f == s.abs()));
        assert!(exact[..1_900].iter().zip(&x).any(|(e, s)| *e > s.abs()));
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
