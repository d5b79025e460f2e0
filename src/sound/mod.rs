//! Sounds and effects: everything the renderer needs besides speech.
//!
//! Each file is one sound or one effect, as a pure function of its length and
//! sample rate (the output is the same on every run, so export and live
//! playback agree to the sample):
//!
//! * [`bell`]: a struck singing bowl (session and step bells);
//! * [`breath`]: a soft swell that rises over an inhale and falls over an
//!   exhale;
//! * [`tick`]: a short woodblock tick for 3-2-1;
//! * [`fade`]: edge fades, so no clip starts or ends with a click;
//! * [`resample`]: speech and sound files to the output rate, fitted to the
//!   length the plan reserved;
//! * [`rotation`]: a phase rotator that lowers speech's peaks inaudibly;
//! * [`limit`]: peak limiting that keeps the true-peak ceiling;
//! * [`loudness`]: BS.1770 K-weighting and measurement (ebur128);
//! * [`gain`]: the loudness of each part and the session gain, decided from
//!   the timeline alone;
//! * [`palette`]: which sound plays for which cue, built in or from a WAV.

pub mod bell;
pub mod breath;
pub mod fade;
pub mod gain;
pub mod limit;
pub mod loudness;
pub mod palette;
pub mod resample;
pub mod rotation;
pub mod tick;

pub use bell::{SESSION_BELL_SECONDS, STEP_BELL_SECONDS};
pub use palette::{Palette, PaletteError, Sound};
pub use tick::TICK_SECONDS;

/// Samples in `seconds` at `rate`, rounded to the nearest sample.
pub fn samples_in(seconds: f64, rate: u32) -> usize {
    (seconds * f64::from(rate)).round().max(0.0) as usize
}

/// Samples in `ms` milliseconds at `rate`, rounded down, in exact integer
/// arithmetic. Speech engines' clips are trimmed in these steps; it differs
/// from [`samples_in`] where a count falls on a half sample (10 ms at
/// 22.05 kHz: 220 here, 221 there), and those clips are cached on disk, so
/// each keeps its own rounding.
pub fn samples_in_ms(ms: u32, rate: u32) -> usize {
    (u64::from(rate) * u64::from(ms) / 1000) as usize
}

/// Converts decibels to a linear amplitude factor.
pub fn db_to_amp(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// Converts a linear amplitude factor to decibels.
pub fn amp_to_db(amp: f64) -> f64 {
    20.0 * amp.log10()
}

/// A small deterministic noise source (xorshift32): the same seed gives the
/// same noise on every machine, so noisy sounds stay reproducible.
#[derive(Clone, Debug)]
pub(crate) struct Noise(u32);

impl Noise {
    pub(crate) fn new(seed: u32) -> Self {
        Noise(seed.max(1))
    }

    /// Uniform noise in `-1.0..1.0`.
    pub(crate) fn next(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        f64::from(x) / f64::from(u32::MAX) * 2.0 - 1.0
    }
}

#[cfg(test)]
pub(crate) mod analysis {
    //! Measurements the sound tests share: spectra and envelopes read off
    //! samples.

    /// Magnitude of the frequency `freq` in `x` (Goertzel), normalised so a
    /// full-scale sine of that frequency gives about 0.5.
    pub fn magnitude(x: &[f32], rate: u32, freq: f64) -> f64 {
        let w = std::f64::consts::TAU * freq / f64::from(rate);
        let (c, s) = (w.cos(), w.sin());
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        let n = x.len() as f64;
        for (i, &v) in x.iter().enumerate() {
            // A Hann window keeps neighbouring partials from leaking in.
            let win = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n).cos();
            let s0 = f64::from(v) * win + 2.0 * c * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let re = s1 - s2 * c;
        let im = s2 * s;
        (re * re + im * im).sqrt() / n
    }

    /// The frequency with the largest magnitude in `lo..=hi` (1 Hz steps).
    pub fn peak_between(x: &[f32], rate: u32, lo: f64, hi: f64) -> f64 {
        let mut best = (lo, 0.0);
        let mut f = lo;
        while f <= hi {
            let m = magnitude(x, rate, f);
            if m > best.1 {
                best = (f, m);
            }
            f += 1.0;
        }
        best.0
    }

    /// RMS of each of `n` equal windows of `x`.
    pub fn window_rms(x: &[f32], n: usize) -> Vec<f64> {
        let w = x.len() / n;
        (0..n)
            .map(|k| {
                let s = &x[k * w..(k + 1) * w];
                (s.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
            })
            .collect()
    }

    /// Largest jump between neighbouring samples.
    pub fn max_step(x: &[f32]) -> f32 {
        x.windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millisecond_counts_round_down_where_second_counts_round() {
        assert_eq!(samples_in_ms(5, 16_000), 80);
        assert_eq!(samples_in_ms(10, 22_050), 220);
        assert_eq!(samples_in(0.010, 22_050), 221);
        assert_eq!(samples_in_ms(5, 22_050), samples_in(0.005, 22_050));
        assert_eq!(samples_in_ms(1, 999), 0);
    }
}
