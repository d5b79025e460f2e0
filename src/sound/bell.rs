//! A struck singing bowl: the session bell and the lighter step bell.
//!
//! A bowl's partials are not harmonics: they sit near 1, 2.7, 5.2, 8.4 and
//! 12.3 times the lowest, which is what makes it sound like metal rather than
//! a beep. Each partial is a pair of slightly detuned modes (the bowl is not
//! perfectly round), so it beats slowly as it rings. The mallet gives a soft
//! attack of a few milliseconds and a brief thud of filtered noise; each
//! partial then decays exponentially, the higher ones faster, and the last
//! part of the cue is faded so the sound reaches zero exactly at its end.

use std::f64::consts::TAU;

use super::{Noise, fade};
use crate::timeline::Bell;

/// Length of the session bell's cue. The planner gives every session bell
/// cue this length (at its rate: [`super::samples_in`]).
pub const SESSION_BELL_SECONDS: f64 = 6.0;

/// Length of the step bell's cue. The planner gives every step bell cue this
/// length.
pub const STEP_BELL_SECONDS: f64 = 3.0;

/// One mode pair of the bowl.
struct Partial {
    /// Frequency over the fundamental.
    ratio: f64,
    /// Amplitude relative to the fundamental.
    amp: f64,
    /// Time for the amplitude to fall by 1/e, in seconds.
    decay: f64,
    /// Distance between the pair's two modes, in Hz: the beat rate.
    beat: f64,
}

/// How one bell is made.
struct Recipe {
    /// The lowest partial, in Hz.
    fundamental: f64,
    partials: &'static [Partial],
    /// The mallet's rise time.
    attack: f64,
    /// Level of the mallet's knock relative to the first partial.
    knock: f64,
    /// Seconds of fade at the end of the cue (at most a third of it).
    tail: f64,
}

/// A large bowl: low, full, long.
const SESSION: Recipe = Recipe {
    fundamental: 196.0,
    partials: &[
        Partial {
            ratio: 1.0,
            amp: 1.0,
            decay: 2.8,
            beat: 0.7,
        },
        Partial {
            ratio: 2.71,
            amp: 0.62,
            decay: 1.7,
            beat: 1.3,
        },
        Partial {
            ratio: 5.18,
            amp: 0.34,
            decay: 0.95,
            beat: 2.1,
        },
        Partial {
            ratio: 8.43,
            amp: 0.17,
            decay: 0.55,
            beat: 2.9,
        },
        Partial {
            ratio: 12.36,
            amp: 0.08,
            decay: 0.32,
            beat: 3.7,
        },
    ],
    attack: 0.004,
    knock: 0.12,
    tail: 1.5,
};

/// A small bowl: higher, lighter, shorter.
const STEP: Recipe = Recipe {
    fundamental: 523.0,
    partials: &[
        Partial {
            ratio: 1.0,
            amp: 1.0,
            decay: 1.3,
            beat: 1.1,
        },
        Partial {
            ratio: 2.74,
            amp: 0.45,
            decay: 0.7,
            beat: 1.9,
        },
        Partial {
            ratio: 5.24,
            amp: 0.18,
            decay: 0.35,
            beat: 2.6,
        },
        Partial {
            ratio: 8.5,
            amp: 0.07,
            decay: 0.2,
            beat: 3.3,
        },
    ],
    attack: 0.003,
    knock: 0.08,
    tail: 0.8,
};

/// The default cue length of `bell`, in seconds.
pub fn seconds(bell: Bell) -> f64 {
    match bell {
        Bell::Session => SESSION_BELL_SECONDS,
        Bell::Step => STEP_BELL_SECONDS,
    }
}

/// Frequencies of `bell`'s partials in Hz, lowest first (for tests and
/// anyone curious).
pub fn partials(bell: Bell) -> Vec<f64> {
    let r = recipe(bell);
    r.partials.iter().map(|p| r.fundamental * p.ratio).collect()
}

fn recipe(bell: Bell) -> &'static Recipe {
    match bell {
        Bell::Session => &SESSION,
        Bell::Step => &STEP,
    }
}

/// The decaying phasors of a bell's modes, one array per part.
#[derive(Default)]
struct Modes {
    re: Vec<f64>,
    im: Vec<f64>,
    step_re: Vec<f64>,
    step_im: Vec<f64>,
}

/// `len` samples of `bell` at `rate` Hz, peaking near 0.5: struck at sample
/// 0, ringing, faded to exactly zero at the last sample.
pub fn bell(bell: Bell, len: usize, rate: u32) -> Vec<f32> {
    let r = recipe(bell);
    let fs = f64::from(rate);
    // Each mode is a decaying phasor turned by a fixed complex step per
    // sample (one multiply instead of a sine and an exponential); fixed
    // starting phases keep the strike the same every time. Unequal halves
    // of each pair: the beating swells and ebbs but never cancels. The
    // modes are kept side by side (one array per part), so each sample
    // turns them all at once, in vector registers.
    let mut modes = Modes::default();
    for (k, p) in r.partials.iter().enumerate() {
        let f = r.fundamental * p.ratio;
        // A partial near or past Nyquist would fold back as a wrong pitch
        // (only at low output rates such as 8 kHz).
        if f + p.beat >= 0.45 * fs {
            continue;
        }
        let fall = (-1.0 / (p.decay * fs)).exp();
        let phase = 0.37 * k as f64;
        for (weight, freq) in [(0.56, f - p.beat / 2.0), (0.44, f + p.beat / 2.0)] {
            let w = TAU * freq / fs;
            modes.re.push(weight * p.amp * phase.cos());
            modes.im.push(weight * p.amp * phase.sin());
            modes.step_re.push(fall * w.cos());
            modes.step_im.push(fall * w.sin());
        }
    }
    let Modes {
        mut re,
        mut im,
        step_re,
        step_im,
    } = modes;
    let mut out = vec![0.0f64; len];
    for o in out.iter_mut() {
        *o = im.iter().sum();
        for (((re, im), sr), si) in re.iter_mut().zip(&mut im).zip(&step_re).zip(&step_im) {
            (*re, *im) = (*re * sr - *im * si, *re * si + *im * sr);
        }
    }
    // The mallet's knock: noise through a low pass (a felt mallet thuds, it
    // does not hiss), dying in ~5 ms.
    let mut noise = Noise::new(0x0b0e_11ed);
    let knock_fall = (-1.0 / (0.005 * fs)).exp();
    let smooth = (-TAU * 1500.0 / fs).exp();
    let (mut env, mut lp) = (r.knock, 0.0);
    for o in out.iter_mut().take(super::samples_in(0.05, rate)) {
        lp = smooth * lp + (1.0 - smooth) * noise.next();
        *o += env * lp * 4.0;
        env *= knock_fall;
    }
    let mut out: Vec<f32> = out.into_iter().map(|v| (v * 0.32) as f32).collect();
    let tail = super::samples_in(r.tail, rate).min(len / 3);
    fade::fade_in(&mut out, super::samples_in(r.attack, rate).max(1));
    fade::fade_out(&mut out, tail.max(1));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sound::analysis::{magnitude, peak_between, window_rms};

    const RATE: u32 = 44_100;

    fn render(b: Bell) -> Vec<f32> {
        bell(b, super::super::samples_in(seconds(b), RATE), RATE)
    }

    #[test]
    fn fills_its_cue_and_ends_at_zero() {
        for b in [Bell::Session, Bell::Step] {
            let x = render(b);
            assert_eq!(x.len(), super::super::samples_in(seconds(b), RATE));
            assert_eq!(x[0], 0.0);
            assert_eq!(*x.last().unwrap(), 0.0);
            let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!((0.3..0.7).contains(&peak), "{b:?} peak {peak}");
        }
        // Any length works, even a very short one.
        assert_eq!(bell(Bell::Step, 10, RATE).len(), 10);
        assert!(bell(Bell::Step, 0, RATE).is_empty());
    }

    #[test]
    fn rings_with_inharmonic_partials() {
        for b in [Bell::Session, Bell::Step] {
            let x = render(b);
            let f0 = partials(b)[0];
            // Half a second after the strike, one second long.
            let body = &x[RATE as usize / 2..RATE as usize * 3 / 2];
            // The partials are where the recipe puts them, within 1 %.
            for (k, &f) in partials(b).iter().enumerate().take(3) {
                let found = peak_between(body, RATE, f * 0.97, f * 1.03);
                assert!(
                    (found - f).abs() < f * 0.01,
                    "{b:?} partial {k}: {found} vs {f}"
                );
            }
            // And not at the harmonics a sine-and-overtones beep would have.
            let second = magnitude(body, RATE, partials(b)[1]);
            for h in [2.0, 3.0, 4.0] {
                let at_harmonic = magnitude(body, RATE, f0 * h);
                assert!(
                    at_harmonic < second / 30.0,
                    "{b:?}: {h}×f0 {at_harmonic} vs {second}"
                );
            }
        }
    }

    #[test]
    fn decays_and_high_partials_die_first() {
        let x = render(Bell::Session);
        let rms = window_rms(&x, 6);
        assert!(rms.windows(2).all(|w| w[1] < w[0]), "{rms:?}");
        // After the strike the top partial has fallen further than the lowest.
        let p = partials(Bell::Session);
        let early = &x[..RATE as usize / 2];
        let late = &x[RATE as usize * 2..RATE as usize * 5 / 2];
        let fall = |f: f64| magnitude(late, RATE, f) / magnitude(early, RATE, f);
        assert!(fall(p[3]) < fall(p[0]) / 10.0);
        // The step bell is shorter: by 2 s it has lost more than the session bell.
        let s = render(Bell::Step);
        let ratio = |x: &[f32]| {
            window_rms(&x[..3 * RATE as usize], 6)[4] / window_rms(&x[..3 * RATE as usize], 6)[0]
        };
        assert!(ratio(&s) < ratio(&x));
    }

    #[test]
    fn the_strike_is_soft_not_a_click() {
        let x = render(Bell::Session);
        // The first millisecond rises without jumping.
        assert!(crate::sound::analysis::max_step(&x[..44]) < 0.05);
        // Deterministic: the same bell twice.
        assert_eq!(x, render(Bell::Session));
    }
}
