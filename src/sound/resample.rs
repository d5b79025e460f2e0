//! Resampling to the output rate and fitting to a planned length.
//!
//! Speech comes from the voice at its own rate (16 kHz for flite) and sound
//! files at whatever rate they were saved; the session has one output rate.
//! [`resample`] converts with rubato's FFT resampler (band-limited, not by
//! dropping or repeating samples), and [`fit`] cuts or pads the result to the
//! exact number of samples the planner reserved, so every later cue still
//! starts at its planned sample.

use std::cell::RefCell;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::fade;

/// Samples per input chunk handed to the resampler: big enough for a fast
/// FFT, small enough that short clips waste little work.
const CHUNK: usize = 1024;

/// Length of the fade-out put on a clip that [`fit`] has to cut short.
pub const CUT_FADE_SECONDS: f64 = 0.03;

/// Why samples could not be resampled.
#[derive(Debug, thiserror::Error)]
#[error("cannot resample from {from} Hz to {to} Hz: {reason}")]
pub struct ResampleError {
    /// Rate of the input.
    pub from: u32,
    /// Rate asked for.
    pub to: u32,
    /// What the resampler said.
    pub reason: String,
}

/// Resamples mono `samples` from `from` Hz to `to` Hz.
///
/// The result has `ceil(len × to / from)` samples, give or take one, with the
/// resampler's delay removed (it lines up with the input). Equal rates return
/// the input unchanged.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, ResampleError> {
    let err = |reason: String| ResampleError { from, to, reason };
    if from == 0 || to == 0 {
        return Err(err("a sample rate of 0 Hz".into()));
    }
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let input = InterleavedSlice::new(samples, 1, samples.len()).map_err(|e| err(e.to_string()))?;
    // A resampler costs a filter design and FFT plans to make: one per
    // pair of rates and thread, reset to its initial state for each clip
    // (so the result is what a new one gives).
    type Made = Vec<((u32, u32), Fft<f32>)>;
    thread_local! {
        static MADE: RefCell<Made> = const { RefCell::new(Vec::new()) };
    }
    MADE.with_borrow_mut(|made| {
        let at = match made.iter().position(|(rates, _)| *rates == (from, to)) {
            Some(at) => at,
            None => {
                let new = Fft::<f32>::new(from as usize, to as usize, CHUNK, 1, FixedSync::Input)
                    .map_err(|e| err(e.to_string()))?;
                made.push(((from, to), new));
                made.len() - 1
            }
        };
        let resampler = &mut made[at].1;
        resampler.reset();
        let out = resampler
            .process_all(&input, samples.len(), None)
            .map_err(|e| err(e.to_string()))?;
        Ok(out.take_data())
    })
}

/// Cuts or pads `samples` to exactly `len` samples.
///
/// Padding is digital silence. A cut gets a short fade-out
/// ([`CUT_FADE_SECONDS`]) so the clip does not end on a click.
pub fn fit(mut samples: Vec<f32>, len: usize, rate: u32) -> Vec<f32> {
    if samples.len() > len {
        samples.truncate(len);
        fade::fade_out(&mut samples, super::samples_in(CUT_FADE_SECONDS, rate));
    } else {
        samples.resize(len, 0.0);
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sound::analysis;

    fn sine(freq: f64, rate: u32, seconds: f64) -> Vec<f32> {
        (0..super::super::samples_in(seconds, rate))
            .map(|i| {
                (0.5 * (std::f64::consts::TAU * freq * i as f64 / f64::from(rate)).sin()) as f32
            })
            .collect()
    }

    #[test]
    fn keeps_pitch_level_and_length() {
        let x = sine(440.0, 16_000, 1.0);
        let y = resample(&x, 16_000, 44_100).unwrap();
        assert!((y.len() as i64 - 44_100).abs() <= 1, "{}", y.len());
        // Same pitch at the new rate, same level in the steady middle.
        let mid = &y[11_025..33_075];
        assert_eq!(analysis::peak_between(mid, 44_100, 400.0, 480.0), 440.0);
        let peak = mid.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!((peak - 0.5).abs() < 0.01, "{peak}");
        // The resampler's delay is removed: the output starts where the input does.
        let first = y.iter().position(|v| v.abs() > 0.05).unwrap();
        assert!(first < 20, "{first}");
    }

    #[test]
    fn a_reused_resampler_gives_what_a_new_one_gives() {
        let x = sine(440.0, 16_000, 0.3);
        let y = sine(1000.0, 16_000, 0.2);
        let first = resample(&x, 16_000, 44_100).unwrap();
        resample(&y, 16_000, 44_100).unwrap();
        assert_eq!(resample(&x, 16_000, 44_100).unwrap(), first);
        let fresh = std::thread::spawn(move || resample(&x, 16_000, 44_100).unwrap());
        assert_eq!(fresh.join().unwrap(), first);
    }

    #[test]
    fn downsamples_without_aliasing_above_nyquist() {
        // 10 kHz cannot exist at 16 kHz: it must be filtered out, not folded to 6 kHz.
        let x = sine(10_000.0, 44_100, 0.5);
        let y = resample(&x, 44_100, 16_000).unwrap();
        let mid = &y[2000..6000];
        assert!(analysis::magnitude(mid, 16_000, 6_000.0) < 0.001);
    }

    #[test]
    fn equal_rates_are_a_copy_and_zero_rates_an_error() {
        let x = vec![0.1, 0.2, 0.3];
        assert_eq!(resample(&x, 22_050, 22_050).unwrap(), x);
        let e = resample(&x, 0, 22_050).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot resample from 0 Hz to 22050 Hz: a sample rate of 0 Hz"
        );
    }

    #[test]
    fn fit_pads_with_silence_and_cuts_with_a_fade() {
        assert_eq!(fit(vec![1.0; 3], 5, 1000), vec![1.0, 1.0, 1.0, 0.0, 0.0]);
        let cut = fit(vec![1.0; 1000], 500, 1000);
        assert_eq!(cut.len(), 500);
        assert_eq!(cut[499], 0.0);
        assert_eq!(cut[400], 1.0);
        assert!(cut[480] < 1.0 && cut[480] > 0.0);
    }
}
