//! A gentle tick for a 3-2-1 count: a short knock on a small wooden block.
//!
//! Two inharmonic resonances (wood is not a string either) that die within a
//! few tens of milliseconds, with a sub-millisecond attack so it is crisp
//! without a click, then silence for the rest of the cue.

use std::f64::consts::TAU;

use super::fade;

/// Length of the tick itself; a longer cue is padded with silence.
pub const TICK_SECONDS: f64 = 0.06;

/// Resonances of the block: frequency (Hz), amplitude, decay time (s).
const MODES: [(f64, f64, f64); 3] = [
    (1150.0, 1.0, 0.011),
    (1985.0, 0.55, 0.007),
    (3120.0, 0.2, 0.004),
];

/// `len` samples starting with one tick at `rate` Hz (peak near 0.5), zero
/// at both ends and after [`TICK_SECONDS`].
pub fn tick(len: usize, rate: u32) -> Vec<f32> {
    let fs = f64::from(rate);
    let body = super::samples_in(TICK_SECONDS, rate).min(len);
    let mut out: Vec<f32> = (0..body)
        .map(|i| {
            let t = i as f64 / fs;
            let v: f64 = MODES
                .iter()
                .filter(|(f, _, _)| *f < 0.45 * fs)
                .map(|(f, a, d)| a * (-t / d).exp() * (TAU * f * t).sin())
                .sum();
            (0.4 * v) as f32
        })
        .collect();
    fade::fade_in(&mut out, super::samples_in(0.0007, rate).max(1));
    fade::fade_out(&mut out, super::samples_in(0.02, rate).max(1));
    out.resize(len, 0.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sound::analysis::window_rms;

    #[test]
    fn short_crisp_and_then_silent() {
        let rate = 48_000;
        let x = tick(rate as usize, rate);
        assert_eq!(x.len(), 48_000);
        assert_eq!(x[0], 0.0);
        // A soft attack: it takes a few samples to rise.
        assert!(x[..4].iter().all(|v| v.abs() < 0.01), "{:?}", &x[..4]);
        let body = super::super::samples_in(TICK_SECONDS, rate);
        assert!(x[body - 1..].iter().all(|&v| v == 0.0));
        let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!((0.3..0.7).contains(&peak), "{peak}");
        // Most of its energy in the first 20 ms.
        let rms = window_rms(&x[..body], 3);
        assert!(rms[0] > 3.0 * rms[1] && rms[1] > rms[2], "{rms:?}");
        // Cut short, it still ends at zero.
        let short = tick(100, rate);
        assert_eq!(short.len(), 100);
        assert_eq!(short[99], 0.0);
    }
}
