//! Loudness: BS.1770 K-weighting, and measurement with the ebur128 crate.
//!
//! Two jobs live here. [`Meter`] wraps ebur128 to measure a finished stream
//! (integrated LUFS, true peak), as export does for its summary and the tests
//! do to check the target. The K-weighting functions compute the same
//! weighted energy as ebur128 (same filter, same coefficients) on single
//! clips, which the renderer uses to set each clip's level and to predict the
//! session's loudness before rendering it ([`super::gain`]).

/// The loudness of a mono K-weighted mean square `power`, in LUFS.
pub fn power_to_lufs(power: f64) -> f64 {
    -0.691 + 10.0 * power.log10()
}

/// The K-weighted mean square of a mono signal at `lufs`.
pub fn lufs_to_power(lufs: f64) -> f64 {
    10f64.powf((lufs + 0.691) / 10.0)
}

/// Samples in one 100 ms step of the BS.1770 block grid, as ebur128 counts
/// them.
pub fn samples_per_100ms(rate: u32) -> usize {
    (rate as usize + 5) / 10
}

/// The BS.1770 K-weighting filter (a high shelf and a high pass as one
/// fourth-order section), with the coefficients ebur128 uses.
#[derive(Clone, Debug)]
pub struct KWeighting {
    b: [f64; 5],
    a: [f64; 5],
    state: [f64; 5],
}

impl KWeighting {
    /// A filter at rest for `rate` Hz.
    #[allow(non_snake_case)]
    pub fn new(rate: u32) -> Self {
        let rate = f64::from(rate);
        let (f0, G, Q) = (1681.974450955533, 3.999843853973347, 0.7071752369554196);
        let K = (std::f64::consts::PI * f0 / rate).tan();
        let Vh = 10f64.powf(G / 20.0);
        let Vb = Vh.powf(0.4996667741545416);
        let a0 = 1.0 + K / Q + K * K;
        let pb = [
            (Vh + Vb * K / Q + K * K) / a0,
            2.0 * (K * K - Vh) / a0,
            (Vh - Vb * K / Q + K * K) / a0,
        ];
        let pa = [1.0, 2.0 * (K * K - 1.0) / a0, (1.0 - K / Q + K * K) / a0];
        let (f0, Q) = (38.13547087602444, 0.5003270373238773);
        let K = (std::f64::consts::PI * f0 / rate).tan();
        let rb = [1.0, -2.0, 1.0];
        let d = 1.0 + K / Q + K * K;
        let ra = [1.0, 2.0 * (K * K - 1.0) / d, (1.0 - K / Q + K * K) / d];
        let conv = |p: [f64; 3], r: [f64; 3]| {
            [
                p[0] * r[0],
                p[0] * r[1] + p[1] * r[0],
                p[0] * r[2] + p[1] * r[1] + p[2] * r[0],
                p[1] * r[2] + p[2] * r[1],
                p[2] * r[2],
            ]
        };
        KWeighting {
            b: conv(pb, rb),
            a: conv(pa, ra),
            state: [0.0; 5],
        }
    }

    /// Filters one sample.
    ///
    /// Only `s[1]` (the last value of the recursion) is needed before the
    /// next sample can start, so the older terms are summed first and it is
    /// subtracted last: one multiply and one subtract on the loop's critical
    /// path instead of four of each. The state is kept clear of subnormal
    /// numbers by [`KWeighting::flush`], once per block.
    #[inline(always)]
    pub fn process(&mut self, x: f32) -> f64 {
        let (a, b, s) = (&self.a, &self.b, &mut self.state);
        let older = f64::from(x) - (a[4] * s[4] + a[3] * s[3] + a[2] * s[2]);
        s[0] = older - a[1] * s[1];
        let y = b[0] * s[0] + (b[1] * s[1] + b[2] * s[2] + b[3] * s[3] + b[4] * s[4]);
        s[4] = s[3];
        s[3] = s[2];
        s[2] = s[1];
        s[1] = s[0];
        y
    }

    /// Sets a state that has decayed to nothing to exactly zero.
    ///
    /// In silence the state decays toward subnormal numbers, on which the
    /// CPU is a hundred times slower; and a filter at rest lets silence be
    /// skipped. Below 1e-20 an output's square (1e-40) is some thirty orders
    /// of magnitude under BS.1770's absolute gate, so zeroing changes no
    /// measurement. Call it every few thousand samples: from 1e-20 the
    /// state takes over a hundred thousand samples to reach subnormal
    /// numbers.
    #[inline]
    pub fn flush(&mut self) {
        if self.state.iter().all(|v| v.abs() < 1e-20) {
            self.state = [0.0; 5];
        }
    }

    /// Whether `samples` can change the output: not if they are all zero
    /// and the filter is at rest.
    #[inline]
    fn sounds(&self, samples: &[f32]) -> bool {
        self.state != [0.0; 5] || first_sound(samples) < samples.len()
    }

    /// K-weighted energy (sum of squared outputs) of `samples`, flushing as it
    /// goes and skipping silence while the filter is at rest.
    fn energy(&mut self, samples: &[f32]) -> f64 {
        // The filter in a local, kept in registers.
        let mut k = self.clone();
        let mut total = 0.0;
        for chunk in samples.chunks(FLUSH_EVERY) {
            let chunk = k.skip_silence(chunk);
            total += chunk.iter().map(|&x| k.process(x).powi(2)).sum::<f64>();
            k.flush();
        }
        self.state = k.state;
        total
    }

    /// `samples` from the first one that can change the output: all of them
    /// unless the filter is at rest, when leading zeros give zeros.
    #[inline]
    fn skip_silence<'s>(&self, samples: &'s [f32]) -> &'s [f32] {
        if self.state != [0.0; 5] {
            return samples;
        }
        &samples[first_sound(samples)..]
    }
}

/// Samples between flushes of the K-weighting state ([`KWeighting::flush`]).
const FLUSH_EVERY: usize = 4096;

/// Filters side by side in [`energy_lanes`].
const LANES: usize = 4;

/// The K-weighted energies of `xs[l]` through `filters[l]`, for all four
/// lanes at once (the samples of each are as many as the first's; the
/// filters share their coefficients).
///
/// One filter is a chain of dependent multiplies and adds, the next sample
/// waiting on the last; four independent chains fill the CPU's vector
/// units instead (`wide`'s `f64x4`: two SSE2 registers, or one AVX register
/// where the build targets it), so four lanes cost about twice what one
/// does. The arithmetic is the same in every lane and on every CPU (no
/// fused multiply-add), so the lanes give what [`KWeighting::process`]
/// gives, bit for bit.
fn energy_lanes(
    filters: &mut [KWeighting; LANES],
    xs: [&[f32]; LANES],
    rounding: Rounding,
) -> [f64; LANES] {
    let n = xs[0].len();
    let mut energy = [0.0; LANES];
    for from in (0..n).step_by(FLUSH_EVERY) {
        let to = (from + FLUSH_EVERY).min(n);
        let (a, b) = (filters[0].a, filters[0].b);
        let xs = xs.map(|x| &x[from..to]);
        let e = match avx::lanes(&a, &b, filters, xs, rounding) {
            Some(e) => e,
            None => energy_lanes_unflushed(&a, &b, filters, xs),
        };
        for (total, e) in energy.iter_mut().zip(e) {
            *total += e;
        }
        filters.iter_mut().for_each(KWeighting::flush);
    }
    energy
}

/// How [`energy_lanes`] may round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rounding {
    /// As [`KWeighting::process`] does, bit for bit, on every CPU: what sets
    /// a clip's level, so that the samples never depend on the machine.
    Exact,
    /// Fused multiply-adds where the CPU has them (a last-bit difference):
    /// what a meter reading may do.
    Fused,
}

/// [`energy_lanes`] without flushing.
fn energy_lanes_unflushed(
    a: &[f64; 5],
    b: &[f64; 5],
    filters: &mut [KWeighting; LANES],
    xs: [&[f32]; LANES],
) -> [f64; LANES] {
    use wide::f64x4;
    let n = xs[0].len();
    let [x0, x1, x2, x3] = xs;
    let (x0, x1, x2, x3) = (&x0[..n], &x1[..n], &x2[..n], &x3[..n]);
    let [f0, f1, f2, f3] = &*filters;
    let state = |k: usize| f64x4::new([f0.state[k], f1.state[k], f2.state[k], f3.state[k]]);
    let (mut s1, mut s2, mut s3, mut s4) = (state(1), state(2), state(3), state(4));
    let [a1, a2, a3, a4] = [a[1], a[2], a[3], a[4]].map(f64x4::splat);
    let [b0, b1, b2, b3, b4] = b.map(f64x4::splat);
    let mut e = f64x4::ZERO;
    for i in 0..n {
        let x = f64x4::new([
            f64::from(x0[i]),
            f64::from(x1[i]),
            f64::from(x2[i]),
            f64::from(x3[i]),
        ]);
        // As in `KWeighting::process`, four lanes at a time.
        let older = x - (a4 * s4 + a3 * s3 + a2 * s2);
        let s0 = older - a1 * s1;
        let y = b0 * s0 + (b1 * s1 + b2 * s2 + b3 * s3 + b4 * s4);
        e += y * y;
        (s4, s3, s2, s1) = (s3, s2, s1, s0);
    }
    let [s1, s2, s3, s4] = [s1, s2, s3, s4].map(f64x4::to_array);
    for (l, f) in filters.iter_mut().enumerate() {
        f.state = [s1[l], s1[l], s2[l], s3[l], s4[l]];
    }
    e.to_array()
}

/// How long a lane of [`mean_power`] or [`Integrated`] filters, from rest and
/// uncounted, before its own stretch, to take up the state the signal
/// before it left: by then that state has decayed by e⁻⁴⁸ (the
/// K-weighting's slowest poles are at 38 Hz), under the last bit of an
/// `f64`.
const WARM_UP_SECONDS: f64 = 0.2;

/// The index of the first sample that is not zero (±0), or the length.
///
/// Looks at 64 samples at a time, OR-ing their bits without the sign,
/// which vectorizes (a search sample by sample, stopping at the first hit,
/// does not, and took a third of the meter's time in silence).
fn first_sound(samples: &[f32]) -> usize {
    let mut at = 0;
    for chunk in samples.chunks(64) {
        if chunk
            .iter()
            .fold(0u32, |bits, &x| bits | (x.to_bits() << 1))
            != 0
        {
            return at + chunk.iter().position(|&x| x != 0.0).unwrap_or(0);
        }
        at += chunk.len();
    }
    samples.len()
}

/// The largest absolute sample (0 for none; NaN is no peak), as eight
/// running maxima, which the compiler turns into vector instructions (a
/// single running maximum is a chain of dependent compares).
pub(crate) fn peak(samples: &[f32]) -> f32 {
    let mut most = [0.0f32; 8];
    let mut chunks = samples.chunks_exact(8);
    for chunk in &mut chunks {
        for (m, &x) in most.iter_mut().zip(chunk) {
            let a = x.abs();
            *m = if a > *m { a } else { *m };
        }
    }
    let rest = chunks.remainder().iter().map(|x| x.abs());
    most.into_iter().chain(rest).fold(0.0, f32::max)
}

/// K-weighted energy (sum of squares) of every `step` samples of a mono
/// clip, as a running total: `out[k]` is the energy of samples `0 .. k×step`
/// (the last entry covers the whole clip).
pub fn cumulative_energy(samples: &[f32], rate: u32, step: usize) -> Vec<f64> {
    let mut k = KWeighting::new(rate);
    let mut out = Vec::with_capacity(samples.len() / step + 2);
    let mut total = 0.0;
    out.push(0.0);
    for chunk in samples.chunks(step) {
        total += k.energy(chunk);
        out.push(total);
    }
    out
}

/// K-weighted mean square of a whole mono clip (no gating): its energy over
/// its length. Zero for an empty clip.
///
/// A clip long enough is filtered as four lanes, each over a quarter of it
/// after a 0.2 s warm-up on the samples before its quarter:
/// a quarter of the time, and the same energy but for the order of
/// additions.
pub fn mean_power(samples: &[f32], rate: u32) -> f64 {
    let n = samples.len();
    if n == 0 {
        return 0.0;
    }
    let filter = KWeighting::new(rate);
    let warm = (WARM_UP_SECONDS * f64::from(rate)) as usize;
    if n < 2 * LANES * warm {
        return filter.clone().energy(samples) / n as f64;
    }
    // Lane l filters `steps` samples from l × (steps - warm); all but the
    // first count them after `warm`. The last lane goes on to the end alone.
    let steps = (n + (LANES - 1) * warm) / LANES;
    let start = |l: usize| l * (steps - warm);
    let mut filters = std::array::from_fn(|_| filter.clone());
    let warming = energy_lanes(
        &mut filters,
        std::array::from_fn(|l| &samples[start(l)..start(l) + warm]),
        Rounding::Exact,
    );
    let counted = energy_lanes(
        &mut filters,
        std::array::from_fn(|l| &samples[start(l) + warm..start(l) + steps]),
        Rounding::Exact,
    );
    let [.., last] = &mut filters;
    let rest = last.energy(&samples[start(LANES - 1) + steps..]);
    (warming[0] + counted.iter().sum::<f64>() + rest) / n as f64
}

/// The loudest `window` of a clip: the largest K-weighted mean square over
/// windows of `window` samples stepped by 100 ms, or the whole clip's mean
/// square if it is shorter than one window.
///
/// This is how loud a sound seems at its peak (for a bell, its strike), and
/// what the palette levels refer to.
pub fn reference_power(samples: &[f32], rate: u32, window: usize) -> f64 {
    let window = window.max(1);
    if samples.len() <= window {
        return mean_power(samples, rate);
    }
    let hop = samples_per_100ms(rate).min(window);
    let cum = cumulative_energy(samples, rate, hop);
    let per_window = window.div_ceil(hop);
    (0..cum.len().saturating_sub(per_window))
        .map(|k| (cum[k + per_window] - cum[k]) / (per_window * hop) as f64)
        .fold(0.0, f64::max)
}

/// A fast BS.1770 integrated-loudness meter for a mono stream (or the same
/// mono signal in two channels, `dual_mono`).
///
/// It computes what ebur128's `Mode::I` computes (same K-weighting, 400 ms
/// blocks on a 100 ms grid, −70 LUFS absolute and −10 LU relative gates),
/// in one pass without allocation per sample, so an export can report the
/// loudness of what it wrote at little cost: silence into a filter at rest
/// is skipped (a session is half silence), and the filter runs as four
/// lanes over four stretches of the stream, side by side in vector
/// registers (see [`Integrated::add`]). Tests pin it to ebur128 and the lanes
/// to a single filter.
#[derive(Clone, Debug)]
pub struct Integrated {
    k: KWeighting,
    step: usize,
    /// Samples and energy of the 100 ms segment being filled.
    filled: usize,
    energy: f64,
    /// The last three whole segments' energies, oldest first.
    recent: [f64; 3],
    segments: u64,
    /// Mean square of every 400 ms block.
    blocks: Vec<f64>,
    weight: f64,
    peak: f32,
    /// Samples waiting for a run of the lanes, from a segment boundary.
    pending: Vec<f32>,
}

/// Segments (100 ms each) of the stream in one run of [`Integrated`]'s
/// lanes: 6.6 s.
const RUN_SEGMENTS: usize = 66;

/// Segments each lane but the first filters before its own stretch:
/// [`WARM_UP_SECONDS`].
const WARM_UP_SEGMENTS: usize = 2;

/// Segments each lane filters in a run, its warm-up included.
const LANE_SEGMENTS: usize = (RUN_SEGMENTS + (LANES - 1) * WARM_UP_SEGMENTS) / LANES;

const _: () = assert!(
    LANES * LANE_SEGMENTS == RUN_SEGMENTS + (LANES - 1) * WARM_UP_SEGMENTS
        && WARM_UP_SEGMENTS as f64 * 0.1 >= WARM_UP_SECONDS
);

impl Integrated {
    /// A meter for `rate` Hz; `dual_mono` counts the signal as two channels.
    pub fn new(rate: u32, dual_mono: bool) -> Self {
        Integrated {
            k: KWeighting::new(rate),
            step: samples_per_100ms(rate),
            filled: 0,
            energy: 0.0,
            recent: [0.0; 3],
            segments: 0,
            blocks: Vec::new(),
            weight: if dual_mono { 2.0 } else { 1.0 },
            peak: 0.0,
            pending: Vec::new(),
        }
    }

    /// Measures more samples.
    ///
    /// They are filtered 6.6 s at a time as four lanes, each over a
    /// quarter of them: all but the first start from rest 0.2 s early,
    /// which gives the state the lane before would have reached. The
    /// result is what one filter over the whole stream gives, but for the
    /// order of additions.
    pub fn add(&mut self, samples: &[f32]) {
        self.peak = self.peak.max(peak(samples));
        self.pending.extend_from_slice(samples);
        self.run_pending();
    }

    /// Measures more 16-bit samples, as ebur128 reads them (full scale is
    /// 32768): what [`Integrated::add`] does, without a copy in between.
    pub fn add_pcm16(&mut self, samples: &[i16]) {
        // The largest and smallest, eight at a time (vector max and min of
        // 16-bit integers); −32768 has no positive i16, so not `abs`.
        let (mut hi, mut lo) = ([0i16; 8], [0i16; 8]);
        let mut chunks = samples.chunks_exact(8);
        for chunk in &mut chunks {
            for ((h, l), &v) in hi.iter_mut().zip(&mut lo).zip(chunk) {
                *h = (*h).max(v);
                *l = (*l).min(v);
            }
        }
        let most = hi
            .iter()
            .chain(chunks.remainder())
            .map(|&v| i32::from(v))
            .chain(lo.iter().chain(chunks.remainder()).map(|&v| -i32::from(v)))
            .max()
            .unwrap_or(0);
        self.peak = self.peak.max(most as f32 / 32_768.0);
        if most == 0 {
            // Silence (half a session): zeros without converting.
            let len = self.pending.len();
            self.pending.resize(len + samples.len(), 0.0);
        } else {
            self.pending
                .extend(samples.iter().map(|&v| f32::from(v) / 32_768.0));
        }
        self.run_pending();
    }

    /// Filters the pending samples, a run at a time.
    fn run_pending(&mut self) {
        let run = RUN_SEGMENTS * self.step;
        let mut done = 0;
        while self.pending.len() - done >= run {
            let pending = std::mem::take(&mut self.pending);
            self.lanes(&pending[done..done + run]);
            self.pending = pending;
            done += run;
        }
        self.pending.drain(..done);
    }

    /// Filters `x` ([`RUN_SEGMENTS`] whole segments from a segment
    /// boundary) as [`LANES`] lanes of equal length, and counts its
    /// segments.
    fn lanes(&mut self, x: &[f32]) {
        let (step, warm) = (self.step, WARM_UP_SEGMENTS);
        // Lane l filters segments from l × (LANE_SEGMENTS - warm) on; the
        // first counts all of them, the others all but their first `warm`.
        // The first carries on the stream's state, the others start at rest.
        let first = |l: usize| l * (LANE_SEGMENTS - warm);
        let segment = |j: usize| &x[j * step..(j + 1) * step];
        let mut filters: [KWeighting; LANES] = std::array::from_fn(|l| KWeighting {
            state: if l == 0 { self.k.state } else { [0.0; 5] },
            ..self.k.clone()
        });
        let mut energies = [0.0f64; RUN_SEGMENTS];
        for j in 0..LANE_SEGMENTS {
            let xs: [&[f32]; LANES] = std::array::from_fn(|l| segment(first(l) + j));
            // Silence into filters at rest (half a session): nothing to do.
            if !filters.iter().zip(xs).any(|(f, x)| f.sounds(x)) {
                continue;
            }
            let e = energy_lanes(&mut filters, xs, Rounding::Fused);
            for (l, e) in e.into_iter().enumerate() {
                if l == 0 || j >= warm {
                    energies[first(l) + j] = e;
                }
            }
        }
        let [.., last] = filters;
        self.k = last;
        for e in energies {
            self.push_segment(e);
        }
    }

    /// Measures `samples` on one lane, segment by segment.
    fn one_lane(&mut self, mut samples: &[f32]) {
        while !samples.is_empty() {
            let n = (self.step - self.filled).min(samples.len());
            let (part, rest) = samples.split_at(n);
            samples = rest;
            self.energy += self.k.energy(part);
            self.filled += n;
            if self.filled == self.step {
                let energy = std::mem::take(&mut self.energy);
                self.push_segment(energy);
                self.filled = 0;
            }
        }
    }

    /// Counts a whole segment's energy: with the three before it, a block.
    fn push_segment(&mut self, energy: f64) {
        if self.segments >= 3 {
            let sum = self.recent.iter().sum::<f64>() + energy;
            self.blocks.push(sum / (4 * self.step) as f64);
        }
        self.recent = [self.recent[1], self.recent[2], energy];
        self.segments += 1;
    }

    /// Every block's mean square, with the pending samples measured (on one
    /// lane, in a copy).
    fn all_blocks(&self) -> std::borrow::Cow<'_, [f64]> {
        if self.pending.is_empty() {
            return std::borrow::Cow::Borrowed(&self.blocks);
        }
        let mut rest = self.clone();
        let pending = std::mem::take(&mut rest.pending);
        rest.one_lane(&pending);
        std::borrow::Cow::Owned(rest.blocks)
    }

    /// Integrated loudness in LUFS, `None` if no block passes the gates.
    pub fn lufs(&self) -> Option<f64> {
        let w = self.weight;
        let loud = |z: f64| power_to_lufs(z * w);
        let gated: Vec<f64> = self
            .all_blocks()
            .iter()
            .copied()
            .filter(|&z| loud(z) > -70.0)
            .collect();
        if gated.is_empty() {
            return None;
        }
        let relative = loud(gated.iter().sum::<f64>() / gated.len() as f64) - 10.0;
        let kept: Vec<f64> = gated.into_iter().filter(|&z| loud(z) > relative).collect();
        (!kept.is_empty()).then(|| loud(kept.iter().sum::<f64>() / kept.len() as f64))
    }

    /// The highest absolute sample, in dBFS; `None` for digital silence.
    pub fn sample_peak(&self) -> Option<f64> {
        (self.peak > 0.0).then(|| 20.0 * f64::from(self.peak).log10())
    }
}

/// Why a loudness meter failed.
#[derive(Debug, thiserror::Error)]
#[error("loudness meter: {0}")]
pub struct MeterError(String);

impl From<ebur128::Error> for MeterError {
    fn from(e: ebur128::Error) -> Self {
        MeterError(e.to_string())
    }
}

/// A BS.1770 / EBU R128 meter for a stream of interleaved samples.
pub struct Meter {
    inner: ebur128::EbuR128,
    channels: u32,
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter")
            .field("rate", &self.inner.rate())
            .field("channels", &self.channels)
            .finish()
    }
}

impl Meter {
    /// A meter for `channels` interleaved channels at `rate` Hz.
    pub fn new(rate: u32, channels: u32) -> Result<Self, MeterError> {
        let inner =
            ebur128::EbuR128::new(channels, rate, ebur128::Mode::I | ebur128::Mode::TRUE_PEAK)?;
        Ok(Meter { inner, channels })
    }

    /// Adds interleaved frames.
    pub fn add(&mut self, samples: &[f32]) -> Result<(), MeterError> {
        Ok(self.inner.add_frames_f32(samples)?)
    }

    /// Integrated loudness so far, in LUFS (`-inf` when nothing passed the
    /// gates, e.g. a silent stream).
    pub fn integrated(&self) -> Result<f64, MeterError> {
        Ok(self.inner.loudness_global()?)
    }

    /// True peak so far over all channels, in dBTP (`-inf` for silence).
    pub fn true_peak(&self) -> Result<f64, MeterError> {
        let mut peak = 0.0f64;
        for c in 0..self.channels {
            peak = peak.max(self.inner.true_peak(c)?);
        }
        Ok(20.0 * peak.log10())
    }
}

/// Integrated loudness (LUFS) and true peak (dBTP) of a mono clip.
pub fn measure(samples: &[f32], rate: u32) -> Result<(f64, f64), MeterError> {
    let mut m = Meter::new(rate, 1)?;
    m.add(samples)?;
    Ok((m.integrated()?, m.true_peak()?))
}

/// [`energy_lanes`] with AVX: four lanes in one 256-bit register, so a step
/// costs half the instructions of two 128-bit ones (and fewer again with
/// fused multiply-adds). Chosen at run time; `None` on a CPU without AVX.
///
/// This and `play/alsa.rs` are the crate's only `unsafe` code: calling a
/// function compiled for CPU features is sound only once the CPU is known
/// to have them, which the one `unsafe` block below checks first.
#[cfg(target_arch = "x86_64")]
mod avx {
    use super::{KWeighting, LANES, Rounding};
    use std::arch::x86_64::{
        __m256d, _mm_set_ps, _mm256_add_pd, _mm256_cvtps_pd, _mm256_fmadd_pd, _mm256_fnmadd_pd,
        _mm256_mul_pd, _mm256_set1_pd, _mm256_setr_pd, _mm256_sub_pd,
    };

    pub(super) fn lanes(
        a: &[f64; 5],
        b: &[f64; 5],
        filters: &mut [KWeighting; LANES],
        xs: [&[f32]; LANES],
        rounding: Rounding,
    ) -> Option<[f64; LANES]> {
        if !is_x86_feature_detected!("avx") {
            return None;
        }
        let fused = rounding == Rounding::Fused && is_x86_feature_detected!("fma");
        // SAFETY: the CPU has AVX, and FMA where the fused version runs.
        Some(unsafe {
            if fused {
                fused_lanes(a, b, filters, xs)
            } else {
                exact_lanes(a, b, filters, xs)
            }
        })
    }

    /// The loop of `energy_lanes_unflushed`, with `$madd(p, q, r)` for
    /// `p × q + r` and `$nmadd(p, q, r)` for `r - p × q`.
    macro_rules! lanes_loop {
        ($a:ident, $b:ident, $filters:ident, $xs:ident, $madd:expr, $nmadd:expr) => {{
            let n = $xs[0].len();
            let [x0, x1, x2, x3] = $xs;
            let (x0, x1, x2, x3) = (&x0[..n], &x1[..n], &x2[..n], &x3[..n]);
            let [f0, f1, f2, f3] = &*$filters;
            let state =
                |k: usize| _mm256_setr_pd(f0.state[k], f1.state[k], f2.state[k], f3.state[k]);
            let (mut s1, mut s2, mut s3, mut s4) = (state(1), state(2), state(3), state(4));
            let [a1, a2, a3, a4] = [$a[1], $a[2], $a[3], $a[4]].map(|v| _mm256_set1_pd(v));
            let [b0, b1, b2, b3, b4] = $b.map(|v| _mm256_set1_pd(v));
            let mut e = _mm256_set1_pd(0.0);
            for i in 0..n {
                let x = _mm256_cvtps_pd(_mm_set_ps(x3[i], x2[i], x1[i], x0[i]));
                // As in `KWeighting::process`.
                let older = _mm256_sub_pd(x, $madd(a2, s2, $madd(a3, s3, _mm256_mul_pd(a4, s4))));
                let s0 = $nmadd(a1, s1, older);
                let rest = $madd(b4, s4, $madd(b3, s3, $madd(b2, s2, _mm256_mul_pd(b1, s1))));
                let y = $madd(b0, s0, rest);
                e = $madd(y, y, e);
                (s4, s3, s2, s1) = (s3, s2, s1, s0);
            }
            let [s1, s2, s3, s4] = [s1, s2, s3, s4].map(bytemuck::cast::<__m256d, [f64; 4]>);
            for (l, f) in $filters.iter_mut().enumerate() {
                f.state = [s1[l], s1[l], s2[l], s3[l], s4[l]];
            }
            bytemuck::cast::<__m256d, [f64; 4]>(e)
        }};
    }

    /// Separate multiplies and adds, in `KWeighting::process`'s order.
    #[target_feature(enable = "avx")]
    fn exact_lanes(
        a: &[f64; 5],
        b: &[f64; 5],
        filters: &mut [KWeighting; LANES],
        xs: [&[f32]; LANES],
    ) -> [f64; LANES] {
        lanes_loop!(
            a,
            b,
            filters,
            xs,
            |p, q, r| _mm256_add_pd(_mm256_mul_pd(p, q), r),
            |p, q, r| _mm256_sub_pd(r, _mm256_mul_pd(p, q))
        )
    }

    /// Fused multiply-adds.
    #[target_feature(enable = "avx,fma")]
    fn fused_lanes(
        a: &[f64; 5],
        b: &[f64; 5],
        filters: &mut [KWeighting; LANES],
        xs: [&[f32]; LANES],
    ) -> [f64; LANES] {
        lanes_loop!(a, b, filters, xs, _mm256_fmadd_pd, _mm256_fnmadd_pd)
    }
}

/// No AVX off x86-64: the portable lanes.
#[cfg(not(target_arch = "x86_64"))]
mod avx {
    pub(super) fn lanes(
        _: &[f64; 5],
        _: &[f64; 5],
        _: &mut [super::KWeighting; super::LANES],
        _: [&[f32]; super::LANES],
        _: super::Rounding,
    ) -> Option<[f64; super::LANES]> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, amp: f64, rate: u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                (amp * (std::f64::consts::TAU * freq * i as f64 / f64::from(rate)).sin()) as f32
            })
            .collect()
    }

    /// Bursts of tone and noise at different levels with silences between:
    /// the gates matter, and the fast meter must agree with ebur128.
    #[test]
    fn the_fast_integrated_meter_matches_ebur128() {
        for (rate, dual) in [
            (44_100, false),
            (48_000, true),
            (16_000, false),
            (22_050, true),
        ] {
            let mut x = Vec::new();
            let mut seed = 12345u32;
            for (i, level) in [0.3, 0.02, 0.0, 0.5, 0.001, 0.1, 0.0, 0.25]
                .into_iter()
                .enumerate()
            {
                let n = rate as usize * (1 + i % 3) + 777 * i;
                for j in 0..n {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let noise = f64::from(seed >> 8) / f64::from(1u32 << 24) - 0.5;
                    let tone = (std::f64::consts::TAU * 440.0 * j as f64 / f64::from(rate)).sin();
                    x.push((level * if i % 2 == 0 { tone } else { noise }) as f32);
                }
            }
            let mut reference = ebur128::EbuR128::new(1, rate, ebur128::Mode::I).unwrap();
            if dual {
                reference
                    .set_channel(0, ebur128::Channel::DualMono)
                    .unwrap();
            }
            reference.add_frames_f32(&x).unwrap();
            let want = reference.loudness_global().unwrap();
            let mut fast = Integrated::new(rate, dual);
            // In uneven pieces, as the writer feeds it.
            for piece in x.chunks(4093) {
                fast.add(piece);
            }
            let got = fast.lufs().unwrap();
            assert!(
                (got - want).abs() < 0.01,
                "{rate} Hz dual={dual}: {got} vs ebur128 {want}"
            );
            let peak = x.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert_eq!(fast.sample_peak(), Some(20.0 * f64::from(peak).log10()));
        }
        assert_eq!(Integrated::new(44_100, false).lufs(), None);
        assert_eq!(Integrated::new(44_100, false).sample_peak(), None);
    }

    #[test]
    fn sixteen_bit_samples_measure_as_their_floats() {
        let x: Vec<i16> = (0..200_000)
            .map(|i| ((i as f64 * 0.05).sin() * 20_000.0) as i16)
            .chain([-32768, 0, 5])
            .collect();
        let floats: Vec<f32> = x.iter().map(|&v| f32::from(v) / 32_768.0).collect();
        let (mut a, mut b) = (
            Integrated::new(16_000, false),
            Integrated::new(16_000, false),
        );
        for piece in x.chunks(999) {
            a.add_pcm16(piece);
        }
        b.add(&floats);
        assert_eq!(a.lufs(), b.lufs());
        assert_eq!(a.sample_peak(), Some(0.0));
        assert_eq!(a.sample_peak(), b.sample_peak());
    }

    #[test]
    fn first_sound_finds_the_first_nonzero_sample() {
        assert_eq!(first_sound(&[]), 0);
        assert_eq!(first_sound(&[0.0, -0.0, 0.0]), 3);
        for at in [0, 1, 63, 64, 65, 200] {
            let mut x = vec![0.0f32; 300];
            x[at] = -1e-30;
            x[299] = 1.0;
            assert_eq!(first_sound(&x), at);
        }
        assert_eq!(first_sound(&[-0.0, f32::NAN]), 1);
    }

    #[test]
    fn the_lanes_measure_what_one_filter_measures() {
        // Tone and noise bursts between silences, several runs long.
        let rate = 44_100;
        let mut x = Vec::new();
        let mut seed = 7u32;
        for burst in 0..40 {
            let n = 9_000 + 37_000 * (burst % 5);
            let level = [0.3, 0.0, 0.05, 0.6, 0.0][burst % 5];
            for j in 0..n {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = f64::from(seed >> 8) / f64::from(1u32 << 24) - 0.5;
                let tone = (std::f64::consts::TAU * 220.0 * j as f64 / f64::from(rate)).sin();
                x.push((level * (tone + noise)) as f32);
            }
        }
        assert!(x.len() > 3 * RUN_SEGMENTS * samples_per_100ms(rate));
        let mut lanes = Integrated::new(rate, false);
        for piece in x.chunks(4093) {
            lanes.add(piece);
        }
        let mut one = Integrated::new(rate, false);
        one.one_lane(&x);
        let (a, b) = (lanes.all_blocks(), one.all_blocks());
        assert_eq!(a.len(), b.len());
        for (i, (p, q)) in a.iter().zip(b.iter()).enumerate() {
            // Equal but for the order of additions (and the 1e-20 flush).
            assert!((p - q).abs() <= 1e-9 * q + 1e-20, "block {i}: {p} vs {q}");
        }
    }

    #[test]
    fn lanes_filter_as_one_filter_does_bit_for_bit() {
        let rate = 48_000;
        let x = sine(440.0, 0.4, rate, 10_000);
        let mut one = KWeighting::new(rate);
        // Summed a flush's worth at a time, as the lanes sum.
        let want: f64 = x
            .chunks(FLUSH_EVERY)
            .map(|c| c.iter().map(|&v| one.process(v).powi(2)).sum::<f64>())
            .sum();
        let mut filters = std::array::from_fn(|_| KWeighting::new(rate));
        let got = energy_lanes(
            &mut filters,
            [&x[..], &x[..], &x[..], &x[..]],
            Rounding::Exact,
        );
        // Flushing only zeroes states under 1e-20; a loud tone has none.
        assert_eq!(got.map(f64::to_bits), [want.to_bits(); LANES]);
        assert!(filters.iter().all(|f| f.state == one.state));
        // The portable lanes too (the above took AVX where the CPU has it).
        let mut portable = std::array::from_fn(|_| KWeighting::new(rate));
        let (a, b) = (one.a, one.b);
        let chunks: f64 = x
            .chunks(FLUSH_EVERY)
            .map(|c| energy_lanes_unflushed(&a, &b, &mut portable, [c, c, c, c])[2])
            .sum();
        assert_eq!(chunks.to_bits(), want.to_bits());
        // A meter's fused rounding differs in the last bits at most.
        let mut fused = std::array::from_fn(|_| KWeighting::new(rate));
        let got = energy_lanes(
            &mut fused,
            [&x[..], &x[..], &x[..], &x[..]],
            Rounding::Fused,
        );
        assert!(
            got.iter().all(|e| (e - want).abs() <= 1e-12 * want),
            "{got:?} vs {want}"
        );
    }

    #[test]
    fn mean_power_in_lanes_is_the_one_filter_power() {
        // Noise bursts and tone, long enough for lanes, with silence inside.
        let rate = 44_100;
        let mut seed = 99u32;
        let x: Vec<f32> = (0..rate as usize * 3 + 123)
            .map(|i| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = f64::from(seed >> 8) / f64::from(1u32 << 24) - 0.5;
                let level = [0.5, 0.0, 0.05, 0.3][(i / 20_000) % 4];
                (level * (noise + (i as f64 * 0.03).sin())) as f32
            })
            .collect();
        for n in [x.len(), 2 * 8820, 2 * 8820 - 1, 40_000] {
            let clip = &x[..n];
            let one = KWeighting::new(rate).energy(clip) / n as f64;
            let lanes = mean_power(clip, rate);
            assert!((lanes - one).abs() <= 1e-12 * one, "{n}: {lanes} vs {one}");
        }
    }

    #[test]
    fn k_weighting_matches_ebur128() {
        // A steady tone: every gating block passes, so the integrated
        // loudness is the mean square we compute ourselves.
        for (rate, freq) in [(44_100, 997.0), (48_000, 3000.0), (16_000, 150.0)] {
            let x = sine(freq, 0.3, rate, rate as usize * 3);
            let (integrated, _) = measure(&x, rate).unwrap();
            let ours = power_to_lufs(mean_power(&x, rate));
            assert!(
                (integrated - ours).abs() < 0.05,
                "{rate}: {integrated} vs {ours}"
            );
        }
        // BS.1770's reference: a full-scale 997 Hz sine in one channel reads
        // -3.01 LUFS, so one of peak 0.1 (-20 dB) reads -23.0.
        let x = sine(997.0, 0.1, 48_000, 48_000 * 2);
        let l = power_to_lufs(mean_power(&x, 48_000));
        assert!((l - -23.0).abs() < 0.1, "{l}");
    }

    #[test]
    fn power_and_lufs_round_trip() {
        assert!((power_to_lufs(lufs_to_power(-16.0)) - -16.0).abs() < 1e-12);
        assert_eq!(samples_per_100ms(44_100), 4410);
        assert_eq!(samples_per_100ms(22_050), 2205);
        assert_eq!(samples_per_100ms(11_025), 1103);
    }

    #[test]
    fn cumulative_energy_adds_up() {
        let x = sine(500.0, 0.5, 8000, 1000);
        let cum = cumulative_energy(&x, 8000, 64);
        assert_eq!(cum.len(), 1000usize.div_ceil(64) + 1);
        let total = mean_power(&x, 8000) * 1000.0;
        assert!((cum.last().unwrap() - total).abs() < 1e-9);
        assert!(cum.windows(2).all(|w| w[1] >= w[0]));
    }

    #[test]
    fn reference_power_finds_the_loudest_window() {
        let rate = 10_000;
        let mut x = sine(1000.0, 0.1, rate, 20_000);
        x.extend(sine(1000.0, 0.4, rate, 4_000));
        x.extend(sine(1000.0, 0.1, rate, 20_000));
        let r = reference_power(&x, rate, 4000);
        let loud = mean_power(&sine(1000.0, 0.4, rate, 4_000), rate);
        assert!((power_to_lufs(r) - power_to_lufs(loud)).abs() < 0.3);
        // Shorter than the window: the whole clip.
        let short = sine(1000.0, 0.4, rate, 300);
        assert_eq!(
            reference_power(&short, rate, 4000),
            mean_power(&short, rate)
        );
    }

    #[test]
    fn meter_reports_true_peak_and_silence() {
        let x = sine(1000.0, 0.5, 44_100, 44_100);
        let (_, tp) = measure(&x, 44_100).unwrap();
        assert!((tp - -6.02).abs() < 0.1, "{tp}");
        let (i, _) = measure(&vec![0.0; 44_100], 44_100).unwrap();
        assert_eq!(i, f64::NEG_INFINITY);
    }
}
