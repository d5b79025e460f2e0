//! The gains: the loudness every part is set to, and the session gain that
//! brings the whole export to −16 LUFS, decided before any audio is made.
//!
//! The export must measure [`TARGET_LUFS`] integrated (BS.1770 with its
//! gates), and the live player must play the very same samples and start
//! within half a second, so the gain cannot come from measuring a finished
//! render. Instead every part has a known level:
//!
//! * each speech clip is set to [`SPEECH_LUFS`] (its K-weighted energy over
//!   its length, no gating), then peak-limited;
//! * each palette sound sits at its level under the voice
//!   ([`super::Sound::level_db`]);
//!
//! so the K-weighted energy of every 100 ms of the session can be predicted
//! from the timeline alone: speech as its level spread over its cue, sounds
//! from a measured profile of their energy over time. Overlapping parts add
//! as uncorrelated power. The prediction then goes through BS.1770's gating
//! exactly as ebur128 does it (400 ms blocks every 100 ms, −70 LUFS absolute
//! and −10 LU relative gates), and the session gain is what moves the
//! predicted loudness onto the target. Sounds are raised at most until their
//! limiter would take more than their allowance off their peaks
//! ([`super::Sound::limit_allowance_db`]), speech at most
//! [`SPEECH_MAX_BOOST_DB`]; the prediction takes both into account.

use super::loudness::{cumulative_energy, lufs_to_power, power_to_lufs, samples_per_100ms};

/// Integrated loudness of every export, in LUFS.
pub const TARGET_LUFS: f64 = -16.0;

/// Highest true peak of any export, in dBTP.
pub const TRUE_PEAK_CEILING_DBTP: f64 = -1.0;

/// Level of each speech clip (K-weighted mean over the clip) before the
/// session gain, in LUFS.
pub const SPEECH_LUFS: f64 = -16.0;

/// Most the session gain may raise speech over [`SPEECH_LUFS`], in dB. A
/// session of mostly tones or silence needs a large gain to reach the
/// target; speech raised as much would be crushed by its limiter, so it
/// stops here and the sounds make up the rest.
pub const SPEECH_MAX_BOOST_DB: f64 = 3.0;

/// Peak ceiling of each single part (a speech clip, a sound, an overlap
/// group), in dBFS, on its true peaks (4× oversampled, see
/// `sound::limit`). It leaves room under [`TRUE_PEAK_CEILING_DBTP`] for
/// parts that sound together and for the mix's soft clipper.
pub const SOURCE_CEILING_DBFS: f64 = -1.8;

/// Ceiling of the soft clipper on the mix, in dBFS: parts that sound
/// together (a breath tone under a phrase) can add up past
/// [`SOURCE_CEILING_DBFS`], and are bent smoothly under this.
pub const MIX_CEILING_DBFS: f64 = -1.5;

/// The session gain never leaves this range, in dB, whatever the prediction
/// (a timeline of near silence must not be boosted without limit).
pub const GAIN_RANGE_DB: (f64, f64) = (-30.0, 20.0);

/// Resolution of a sound's energy profile, in samples.
const PROFILE_STEP: usize = 32;

/// How a sound's K-weighted energy is spread over its cue.
#[derive(Clone, Debug)]
pub struct Profile {
    /// Running energy every [`PROFILE_STEP`] samples of the measured render.
    cum: Vec<f64>,
    /// Length of the measured render.
    len: usize,
    /// Whether the sound stretches to its cue (the same gesture at any
    /// length) rather than keeping its shape and being cut or padded.
    stretch: bool,
}

impl Profile {
    /// A sound that keeps its shape: `samples` is its longest rendering;
    /// shorter cues hold its beginning, and nothing sounds past its end.
    pub fn fixed(samples: &[f32], rate: u32) -> Self {
        Profile {
            cum: cumulative_energy(samples, rate, PROFILE_STEP),
            len: samples.len(),
            stretch: false,
        }
    }

    /// A sound that stretches to fill its cue, measured at one length.
    pub fn stretching(samples: &[f32], rate: u32) -> Self {
        Profile {
            stretch: true,
            ..Profile::fixed(samples, rate)
        }
    }

    /// Running energy at (fractional) sample `x` of the measured render.
    fn at(&self, x: f64) -> f64 {
        let x = x.clamp(0.0, self.len as f64);
        let k = x / PROFILE_STEP as f64;
        let i = (k.floor() as usize).min(self.cum.len() - 1);
        let next = self.cum.get(i + 1).copied().unwrap_or(self.cum[i]);
        // The last step may be short; interpolating across it as if full is
        // a negligible error for a prediction.
        self.cum[i] + (next - self.cum[i]) * (k - i as f64).min(1.0)
    }

    /// Energy of samples `a .. b` of a cue `len` samples long.
    pub fn energy(&self, a: u64, b: u64, len: u64) -> f64 {
        if self.stretch && len > 0 && self.len > 0 {
            let scale = self.len as f64 / len as f64;
            (self.at(b as f64 * scale) - self.at(a as f64 * scale)) / scale
        } else {
            self.at(b as f64) - self.at(a as f64)
        }
    }
}

/// Number of gain groups: speech, then one per palette sound.
pub const GAIN_GROUPS: usize = 1 + crate::sound::palette::Sound::ALL.len();

/// How one part's energy is spread over its cue.
#[derive(Clone, Copy, Debug)]
pub enum Shape<'p> {
    /// The same K-weighted power (mean square) at every sample.
    Uniform(f64),
    /// A measured profile.
    Profile(&'p Profile),
}

/// One part of the session for the prediction, at unit session gain.
#[derive(Clone, Copy, Debug)]
pub struct Part<'p> {
    /// Which gain applies: 0 for speech, 1 + the sound's index for sounds.
    pub group: usize,
    /// First sample.
    pub start: u64,
    /// Length in samples.
    pub len: u64,
    /// Its energy over time.
    pub shape: Shape<'p>,
}

/// The decided session gain.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gains {
    /// The session gain, in dB, applied to every part.
    pub gain_db: f64,
    /// Each group's gain in dB: the session gain, or less for a sound held
    /// at its peak ceiling.
    pub group_gain_db: [f64; GAIN_GROUPS],
    /// The integrated loudness the prediction expects the export to
    /// measure, in LUFS (`-inf` for a silent session).
    pub predicted_lufs: f64,
}

/// The session's K-weighted energy per 100 ms step and gain group.
struct Grid {
    /// Samples per step.
    step: u64,
    energy: Vec<[f64; GAIN_GROUPS]>,
}

impl Grid {
    fn new<'p>(total: u64, rate: u32, parts: impl IntoIterator<Item = Part<'p>>) -> Self {
        let step = samples_per_100ms(rate) as u64;
        // Like ebur128, only whole 100 ms steps count.
        let steps = (total / step) as usize;
        let mut energy = vec![[0.0; GAIN_GROUPS]; steps];
        for part in parts {
            let end = (part.start + part.len).min(steps as u64 * step);
            if part.len == 0 || part.start >= end {
                continue;
            }
            for j in (part.start / step)..=((end - 1) / step) {
                let a = part.start.max(j * step) - part.start;
                let b = end.min((j + 1) * step) - part.start;
                energy[j as usize][part.group] += match part.shape {
                    Shape::Uniform(power) => power * (b - a) as f64,
                    Shape::Profile(p) => p.energy(a, b, part.len),
                };
            }
        }
        Grid { step, energy }
    }

    /// The integrated loudness with each group at its gain (linear), gated
    /// as BS.1770 and ebur128 do.
    fn loudness(&self, gains: &[f64; GAIN_GROUPS]) -> f64 {
        let squares = gains.map(|g| g * g);
        let steps: Vec<f64> = self
            .energy
            .iter()
            .map(|e| e.iter().zip(&squares).map(|(e, g)| e * g).sum())
            .collect();
        let block = 4.0 * self.step as f64;
        let absolute = lufs_to_power(-70.0);
        let blocks: Vec<f64> = steps
            .windows(4)
            .map(|w| w.iter().sum::<f64>() / block)
            .filter(|&p| p >= absolute)
            .collect();
        if blocks.is_empty() {
            return f64::NEG_INFINITY;
        }
        let relative = blocks.iter().sum::<f64>() / blocks.len() as f64 * 0.1;
        let gated: Vec<f64> = blocks.into_iter().filter(|&p| p >= relative).collect();
        power_to_lufs(gated.iter().sum::<f64>() / gated.len() as f64)
    }
}

/// Decides the session gain: the gain that brings the predicted integrated
/// loudness of `parts` to [`TARGET_LUFS`], with each group's gain held at or
/// under its `caps` (linear; `f64::INFINITY` for no cap).
pub fn decide<'p>(
    total: u64,
    rate: u32,
    parts: impl IntoIterator<Item = Part<'p>>,
    caps: [f64; GAIN_GROUPS],
) -> Gains {
    let grid = Grid::new(total, rate, parts);
    let (lo, hi) = (
        10f64.powf(GAIN_RANGE_DB.0 / 20.0),
        10f64.powf(GAIN_RANGE_DB.1 / 20.0),
    );
    let gains_at = |g: f64| {
        let mut gains = [g; GAIN_GROUPS];
        for (gain, cap) in gains.iter_mut().zip(caps) {
            *gain = gain.min(cap);
        }
        gains
    };
    let mut g = 1.0;
    let mut predicted = grid.loudness(&gains_at(g));
    // Loudness rises with the gain, one for one until sounds reach their
    // caps and more slowly after: a few corrections converge.
    for _ in 0..50 {
        if !predicted.is_finite() {
            break;
        }
        let miss = TARGET_LUFS - predicted;
        if miss.abs() < 0.001 {
            break;
        }
        let next = (g * 10f64.powf(miss / 20.0)).clamp(lo, hi);
        if next == g {
            break;
        }
        g = next;
        predicted = grid.loudness(&gains_at(g));
    }
    if !predicted.is_finite() {
        g = 1.0;
    }
    Gains {
        gain_db: 20.0 * g.log10(),
        group_gain_db: gains_at(g).map(|x| 20.0 * x.log10()),
        predicted_lufs: predicted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 10_000;

    fn speech(start: u64, len: u64, lufs: f64) -> Part<'static> {
        Part {
            group: 0,
            start,
            len,
            shape: Shape::Uniform(lufs_to_power(lufs)),
        }
    }

    #[test]
    fn steady_speech_needs_only_its_own_offset() {
        let parts = [speech(0, 100_000, -20.0)];
        let l = decide(100_000, RATE, parts, [f64::INFINITY; GAIN_GROUPS]);
        assert!((l.gain_db - 4.0).abs() < 0.01, "{l:?}");
        assert!((l.predicted_lufs - TARGET_LUFS).abs() < 0.001);
    }

    #[test]
    fn silence_is_gated_out_and_quiet_parts_are_gated_relative() {
        // Speech at -16 with long silences: the silences do not count.
        let parts = [speech(0, 20_000, -16.0), speech(500_000, 20_000, -16.0)];
        let l = decide(1_000_000, RATE, parts, [f64::INFINITY; GAIN_GROUPS]);
        // Only the blocks straddling each clip's edges pull it a little
        // under; their weight is small.
        assert!(l.gain_db.abs() < 0.7, "{l:?}");
        // A part 30 dB under the rest is below the relative gate: it changes nothing.
        let alone = decide(
            1_000_000,
            RATE,
            [speech(0, 400_000, -16.0)],
            [f64::INFINITY; GAIN_GROUPS],
        );
        let with_murmur = decide(
            1_000_000,
            RATE,
            [speech(0, 400_000, -16.0), speech(400_000, 400_000, -46.0)],
            [f64::INFINITY; GAIN_GROUPS],
        );
        assert!((alone.gain_db - with_murmur.gain_db).abs() < 0.01);
        // Nothing at all: no gain.
        let none = decide(1_000_000, RATE, [], [f64::INFINITY; GAIN_GROUPS]);
        assert_eq!(none.gain_db, 0.0);
        assert_eq!(none.predicted_lufs, f64::NEG_INFINITY);
    }

    #[test]
    fn capped_groups_hold_and_the_rest_makes_up() {
        let sound = Part {
            group: 1,
            ..speech(0, 100_000, -30.0)
        };
        let caps = {
            let mut c = [f64::INFINITY; GAIN_GROUPS];
            c[1] = 10f64.powf(6.0 / 20.0);
            c
        };
        // A quiet sound alone wants +14 dB but may only take +6.
        let l = decide(100_000, RATE, [sound], caps);
        assert!((l.group_gain_db[1] - 6.0).abs() < 1e-9);
        assert!((l.predicted_lufs - -24.0).abs() < 0.01, "{l:?}");
        assert!((l.gain_db - GAIN_RANGE_DB.1).abs() < 1e-9);
    }

    #[test]
    fn profiles_spread_energy_as_measured() {
        let x: Vec<f32> = (0..1000)
            .map(|i| {
                if i < 500 {
                    0.5 * (i as f32 * 0.6).sin()
                } else {
                    0.0
                }
            })
            .collect();
        let fixed = Profile::fixed(&x, RATE);
        let total = fixed.energy(0, 1000, 1000);
        assert!(total > 0.0);
        // Past the end of the measured render there is nothing.
        assert_eq!(fixed.energy(1000, 5000, 5000), 0.0);
        let stretched = Profile::stretching(&x, RATE);
        // Twice as long: twice the energy, the same half-and-half shape.
        let doubled = stretched.energy(0, 2000, 2000);
        assert!((doubled - 2.0 * total).abs() < 1e-9 * total);
        assert!(stretched.energy(1100, 2000, 2000) < 0.02 * doubled);
    }
}
