//! The gain of every clip: decided once from the timeline (the session gain
//! of [`crate::sound::gain`], shared out to speech and each sound), and the
//! make-up gain that sets a limited speech clip to its power.

use crate::sound::gain::{self, GAIN_GROUPS, Gains, Part, Profile, Shape};
use crate::sound::palette::{Sound, SoundBank};
use crate::sound::{db_to_amp, limit, loudness};
use crate::timeline::Timeline;

/// Most make-up gain a limited speech clip gets to win back the energy its
/// peaks took, in dB.
const MAKEUP_MAX_DB: f64 = 6.0;
/// Rounds of limiting and make-up gain for one clip.
const MAKEUP_ROUNDS: usize = 6;
/// A limited clip within this power ratio (0.1 dB) of its power is done.
const MAKEUP_TOLERANCE: f64 = 1.023;

/// The gains every clip is made at, decided before any audio is made.
#[derive(Clone, Debug)]
pub(super) struct ClipGains {
    /// The session gain decision.
    pub(super) session: Gains,
    /// K-weighted mean square each speech clip is set to, session gain
    /// included.
    pub(super) speech_power: f64,
    /// Gain of each sound over its palette level (the session gain, or less
    /// where the sound reached its limit allowance), by `Sound as usize`.
    pub(super) sound: [f32; Sound::ALL.len()],
    /// Peak ceiling of every clip, and the knee of the mix's soft clipper.
    pub(super) source_ceiling: f32,
    /// Ceiling of the mix's soft clipper.
    pub(super) mix_ceiling: f32,
}

impl ClipGains {
    /// The gains for `timeline`, whose sounding cues are `speech` and
    /// `sounds` (indices), with the palette's sounds in `bank` and speech at
    /// `voice_volume` over its level: the loudness prediction counts speech
    /// as its power over its cue and each sound as its measured profile.
    pub(super) fn decide(
        timeline: &Timeline,
        bank: &SoundBank,
        speech: &[usize],
        sounds: &[usize],
        voice_volume: f32,
    ) -> ClipGains {
        let volume = f64::from(voice_volume.max(0.0));
        let speech_power = loudness::lufs_to_power(gain::SPEECH_LUFS) * volume * volume;
        let source_ceiling = db_to_amp(gain::SOURCE_CEILING_DBFS);
        let profiles = sound_profiles(timeline, bank, sounds);
        let parts = speech_parts(timeline, speech, speech_power)
            .chain(sound_parts(timeline, sounds, &profiles));
        let caps = caps(bank, volume, source_ceiling);
        let session = gain::decide(timeline.total, timeline.rate, parts, caps);
        let mut sound = [0.0f32; Sound::ALL.len()];
        for s in Sound::ALL {
            sound[s as usize] = db_to_amp(session.group_gain_db[1 + s as usize]) as f32;
        }
        ClipGains {
            speech_power: speech_power * db_to_amp(2.0 * session.group_gain_db[0]),
            sound,
            session,
            source_ceiling: source_ceiling as f32,
            mix_ceiling: db_to_amp(gain::MIX_CEILING_DBFS) as f32,
        }
    }
}

/// The energy profile of each sound at the length of its longest cue, or
/// `None` for a sound that does not play. A thread a sound: each profile
/// renders and measures its sound.
fn sound_profiles(
    timeline: &Timeline,
    bank: &SoundBank,
    sounds: &[usize],
) -> [Option<Profile>; Sound::ALL.len()] {
    Sound::each_on_a_thread(|sound| {
        let longest = sounds
            .iter()
            .map(|&i| &timeline.cues[i])
            .filter(|c| Sound::for_cue(c.kind) == Some(sound))
            .map(|c| c.len)
            .max()?;
        Some(bank.profile(sound, usize::try_from(longest).unwrap_or(usize::MAX)))
    })
}

/// The speech cues for the prediction: each at `power` over its cue, in
/// gain group 0.
fn speech_parts<'p>(
    timeline: &'p Timeline,
    speech: &'p [usize],
    power: f64,
) -> impl Iterator<Item = Part<'p>> + 'p {
    speech.iter().map(move |&i| {
        let c = &timeline.cues[i];
        Part {
            group: 0,
            start: c.start,
            len: c.len,
            shape: Shape::Uniform(power),
        }
    })
}

/// The sound cues for the prediction: each as its sound's profile, in gain
/// group 1 + the sound.
fn sound_parts<'p>(
    timeline: &'p Timeline,
    sounds: &'p [usize],
    profiles: &'p [Option<Profile>; Sound::ALL.len()],
) -> impl Iterator<Item = Part<'p>> + 'p {
    sounds.iter().filter_map(move |&i| {
        let c = &timeline.cues[i];
        let sound = Sound::for_cue(c.kind)?;
        Some(Part {
            group: 1 + sound as usize,
            start: c.start,
            len: c.len,
            shape: Shape::Profile(profiles[sound as usize].as_ref()?),
        })
    })
}

/// The most each gain group may be raised (linear): speech by its boost
/// limit, on its final level whatever the voice `volume`; each sound until
/// its limiter would take more than its allowance off peaks that must stay
/// under `source_ceiling`.
fn caps(bank: &SoundBank, volume: f64, source_ceiling: f64) -> [f64; GAIN_GROUPS] {
    let mut caps = [f64::INFINITY; GAIN_GROUPS];
    caps[0] = db_to_amp(gain::SPEECH_MAX_BOOST_DB) / volume.max(1e-3);
    for sound in Sound::ALL {
        let peak = bank.peak(sound);
        if peak > 0.0 {
            caps[1 + sound as usize] =
                source_ceiling / peak * db_to_amp(sound.limit_allowance_db());
        }
    }
    caps
}

/// Sets the spoken part of a speech clip, `body` at `rate`, to the
/// K-weighted mean square `target` with its peaks under `ceiling`.
/// Limiting takes energy with the peaks (a lot, for buzzy synthetic
/// speech), so the gain is corrected until the limited clip has its power:
/// the loudness prediction counts on it. A `target` of 0 (voice volume 0)
/// leaves the phrase its time, in silence.
pub(super) fn set_speech_power(body: &mut [f32], rate: u32, target: f64, ceiling: f32) {
    let power = loudness::mean_power(body, rate);
    if target <= 0.0 {
        body.fill(0.0);
        return;
    }
    if power <= 0.0 {
        return;
    }
    let original = body.to_vec();
    let mut gain = (target / power).sqrt();
    let most = gain * db_to_amp(MAKEUP_MAX_DB);
    // True peaks, not the cubic's estimate: an "s" near half a low rate
    // has peaks between samples the cubic misses by up to 2 dB. No gain
    // tried passes `most`, so no peak under `ceiling / most` matters.
    let limiter = limit::Limiter::true_peak(&original, rate, (f64::from(ceiling) / most) as f32);
    // Secant steps on log power against log gain.
    let mut last: Option<(f64, f64)> = None;
    for _ in 0..MAKEUP_ROUNDS {
        let reduction = limiter.apply(&original, gain as f32, ceiling, body);
        let got = loudness::mean_power(body, rate);
        let miss = (target / got).ln();
        if miss.abs() <= MAKEUP_TOLERANCE.ln() || (miss > 0.0 && gain >= most) {
            break;
        }
        // Unlimited, power goes with the square of the gain; once the
        // limiter works, more slowly: measured from the last step.
        let slope = match last {
            Some((g0, p0)) if (gain.ln() - g0).abs() > 1e-9 => {
                ((got.ln() - p0) / (gain.ln() - g0)).clamp(0.1, 2.0)
            }
            _ if reduction < 0.0 => 1.0,
            _ => 2.0,
        };
        last = Some((gain.ln(), got.ln()));
        gain = (gain.ln() + miss / slope).exp().min(most);
    }
}
