//! The breath tone: a soft swell that rises over an inhale and falls over an
//! exhale, filling exactly the length of its cue.
//!
//! It is a warm low tone (a fundamental with two quiet overtones) with a
//! breath of low-passed noise on top. Over an inhale it swells slowly and its
//! pitch rises a whole tone; over an exhale it starts full and ebbs away as
//! the pitch sinks. The loudness follows raised-cosine curves, so it starts
//! and ends at exactly zero with no corner. Everything is a function of the
//! position within the cue, so a longer breath is the same gesture, slower.

use std::f64::consts::TAU;

use super::Noise;
use super::fade::raised_cosine;
use crate::timeline::Phase;

/// Where an inhale's swell peaks, as a fraction of the cue: it rises over
/// this much and settles over the rest (an exhale mirrors it).
pub const INHALE_PEAK: f64 = 0.82;

/// The swell's loudness curve (0 to 1) at position `u` (0 to 1) of the cue;
/// a held breath is still (its short fades are made by [`still`]).
pub fn envelope(phase: Phase, u: f64) -> f64 {
    let u = match phase {
        Phase::Inhale => u,
        Phase::Exhale => 1.0 - u,
        Phase::HoldIn | Phase::HoldOut => return 1.0,
    };
    if u <= INHALE_PEAK {
        raised_cosine(u / INHALE_PEAK)
    } else {
        raised_cosine((1.0 - u) / (1.0 - INHALE_PEAK))
    }
}

/// The tone's pitch in Hz at position `u` of the cue: an inhale glides up
/// from F3 to G3, an exhale down from G3 to E3; a held breath stays where
/// the breath before it ended (G3 held in, E3 held out).
pub fn pitch(phase: Phase, u: f64) -> f64 {
    let (from, to) = match phase {
        Phase::Inhale => (174.61, 196.0),
        Phase::Exhale => (196.0, 164.81),
        Phase::HoldIn => (196.0, 196.0),
        Phase::HoldOut => (164.81, 164.81),
    };
    from + (to - from) * raised_cosine(u)
}

/// Samples between exact evaluations of the envelope, the pitch and the
/// air's filter; in between the envelope is interpolated. Far faster than
/// any of them moves (32 samples are under a millisecond).
const CONTROL: usize = 32;

/// `len` samples of the breath tone for `phase` at `rate` Hz, peaking near
/// 0.5, zero at both ends.
///
/// The curves are evaluated every 32 samples (`CONTROL`) and at the last
/// sample, the envelope linearly interpolated between; the tone is a phasor
/// turned by a fixed step within each stretch (a multiply instead of a
/// sine and a cosine per sample), set back to unit length at each.
pub fn breath(phase: Phase, len: usize, rate: u32) -> Vec<f32> {
    if matches!(phase, Phase::HoldIn | Phase::HoldOut) {
        return still(pitch(phase, 0.0), len, rate);
    }
    let fs = f64::from(rate);
    let mut noise = Noise::new(match phase {
        Phase::Inhale | Phase::HoldIn => 0x001a_4a1e,
        Phase::Exhale | Phase::HoldOut => 0x000e_4a1e,
    });
    // White noise through a low pass has a power proportional to the
    // filter's bandwidth over the rate: scaling by √rate keeps the breath
    // equally airy at any output rate.
    let noise_gain = 1.2 * (fs / 44_100.0).sqrt();
    let (mut lp1, mut lp2) = (0.0f64, 0.0f64);
    // The oscillator: (cos φ, sin φ), from φ = 0.
    let (mut c, mut s) = (1.0f64, 0.0f64);
    // The first and last samples sit at u = 0 and u = 1, where the envelope
    // is zero (a one-sample cue is just silence).
    let at = |i: usize| {
        if len <= 1 {
            0.0
        } else {
            i as f64 / (len - 1) as f64
        }
    };
    let mut out = Vec::with_capacity(len);
    let mut start = 0;
    while start < len {
        // This stretch: samples start .. end, with the curves exact at both
        // `start` and `last`.
        let end = (start + CONTROL).min(len);
        let last = if end == len { len - 1 } else { end };
        let (u0, u1) = (at(start), at(last));
        let (e0, e1) = (envelope(phase, u0), envelope(phase, u1));
        let slope = if last > start {
            (e1 - e0) / (last - start) as f64
        } else {
            0.0
        };
        let step = TAU * pitch(phase, 0.5 * (u0 + u1)) / fs;
        let (dc, ds) = (step.cos(), step.sin());
        // The air opens up (a brighter low pass) as the swell grows.
        let a = (-TAU * (250.0 + 650.0 * e0) / fs).exp();
        for k in 0..end - start {
            let env = e0 + slope * k as f64;
            // The fundamental and two overtones from one sine and cosine.
            let tone = s + 0.3 * (2.0 * s * c) + 0.1 * (3.0 * s - 4.0 * s * s * s);
            (c, s) = (c * dc - s * ds, s * dc + c * ds);
            lp1 = a * lp1 + (1.0 - a) * noise.next();
            lp2 = a * lp2 + (1.0 - a) * lp1;
            out.push((0.36 * env * (tone + noise_gain * lp2)) as f32);
        }
        let norm = (c * c + s * s).sqrt().recip();
        (c, s) = (c * norm, s * norm);
        start = end;
    }
    out
}

/// Seconds a still tone takes to fade in and out (less on a short cue).
pub const STILL_FADE_SECONDS: f64 = 0.4;

/// `len` samples of the still tone of a held breath at `hz`: the breath
/// tone's voice without its air or its swell, steady between raised-cosine
/// fades, zero at both ends.
pub fn still(hz: f64, len: usize, rate: u32) -> Vec<f32> {
    let fade = (STILL_FADE_SECONDS * f64::from(rate)) as usize;
    let fade = fade.min(len / 4).max(1);
    let step = TAU * hz / f64::from(rate);
    let (dc, ds) = (step.cos(), step.sin());
    let (mut c, mut s) = (1.0f64, 0.0f64);
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        let tone = s + 0.2 * (2.0 * s * c);
        (c, s) = (c * dc - s * ds, s * dc + c * ds);
        if i % CONTROL == CONTROL - 1 {
            let norm = (c * c + s * s).sqrt().recip();
            (c, s) = (c * norm, s * norm);
        }
        let edge = i.min(len - 1 - i);
        let env = raised_cosine(edge as f64 / fade as f64);
        out.push((0.4 * env * tone) as f32);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sound::analysis::{peak_between, window_rms};

    const RATE: u32 = 44_100;

    #[test]
    fn a_held_breath_is_a_still_tone_at_the_pitch_the_breath_stopped() {
        let x = breath(Phase::HoldIn, 4 * RATE as usize, RATE);
        assert_eq!((x[0], x[x.len() - 1]), (0.0, 0.0));
        // Steady after its fade: every second of the middle is as loud.
        let a = window_rms(&x[RATE as usize..2 * RATE as usize], 1)[0];
        let b = window_rms(&x[2 * RATE as usize..3 * RATE as usize], 1)[0];
        assert!((a - b).abs() < 1e-3 * a, "{a} {b}");
        assert_eq!(pitch(Phase::HoldIn, 0.3), pitch(Phase::Inhale, 1.0));
        assert_eq!(pitch(Phase::HoldOut, 0.7), pitch(Phase::Exhale, 1.0));
        let y = breath(Phase::HoldOut, 3, RATE);
        assert_eq!(y.len(), 3);
    }

    #[test]
    fn fills_the_cue_and_starts_and_ends_at_zero() {
        for phase in [Phase::Inhale, Phase::Exhale, Phase::HoldIn, Phase::HoldOut] {
            for len in [1usize, 2, 441, 176_400, 176_401] {
                let x = breath(phase, len, RATE);
                assert_eq!(x.len(), len);
                assert_eq!(x[0], 0.0, "{phase:?} {len}");
                assert_eq!(x[len - 1], 0.0, "{phase:?} {len}");
            }
            let x = breath(phase, 4 * RATE as usize, RATE);
            let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!((0.3..0.75).contains(&peak), "{phase:?} peak {peak}");
        }
    }

    #[test]
    fn inhale_swells_and_exhale_ebbs() {
        let argmax = |x: &[f64]| (0..x.len()).max_by(|&a, &b| x[a].total_cmp(&x[b])).unwrap();
        let inhale = window_rms(&breath(Phase::Inhale, 4 * RATE as usize, RATE), 10);
        // Rises through the first eight tenths, peaks at INHALE_PEAK, settles.
        assert!(inhale[..8].windows(2).all(|w| w[1] > w[0]), "{inhale:?}");
        assert!((7..=8).contains(&argmax(&inhale)), "{inhale:?}");
        assert!(inhale[9] < inhale[8] / 2.0);
        // An exhale is the mirror image.
        let exhale = window_rms(&breath(Phase::Exhale, 4 * RATE as usize, RATE), 10);
        assert!(exhale[2..].windows(2).all(|w| w[1] < w[0]), "{exhale:?}");
        assert!((1..=2).contains(&argmax(&exhale)), "{exhale:?}");
        assert!(exhale[0] < exhale[1] / 2.0);
        // The curves themselves.
        assert_eq!(envelope(Phase::Inhale, INHALE_PEAK), 1.0);
        assert_eq!(envelope(Phase::Exhale, 1.0 - INHALE_PEAK), 1.0);
        assert_eq!(envelope(Phase::Inhale, 0.0), 0.0);
        assert_eq!(envelope(Phase::Exhale, 1.0), 0.0);
    }

    #[test]
    fn pitch_rises_on_inhale_and_falls_on_exhale() {
        let x = breath(Phase::Inhale, 6 * RATE as usize, RATE);
        let second = RATE as usize;
        let early = peak_between(&x[second..2 * second], RATE, 150.0, 220.0);
        let late = peak_between(&x[4 * second..5 * second], RATE, 150.0, 220.0);
        assert!(late > early + 8.0, "{early} → {late}");
        let y = breath(Phase::Exhale, 6 * RATE as usize, RATE);
        let early = peak_between(&y[second..2 * second], RATE, 150.0, 220.0);
        let late = peak_between(&y[4 * second..5 * second], RATE, 150.0, 220.0);
        assert!(late < early - 12.0, "{early} → {late}");
    }

    #[test]
    fn no_clicks_inside() {
        // No step beyond what the tone's own slope gives (0.36 × (1 + 0.6 +
        // 0.3) × 2π × 196 Hz / 44.1 kHz ≈ 0.019) plus the air's (≈ 0.013).
        let x = breath(Phase::Exhale, 2 * RATE as usize, RATE);
        let step = crate::sound::analysis::max_step(&x);
        assert!(step < 0.035, "{step}");
    }
}
