//! The sound palette: which sound plays for each kind of cue.
//!
//! Every sound is built in (synthesised by [`super::bell`], [`super::breath`]
//! and [`super::tick`]), and each can be replaced by a WAV file: dropped into
//! an `audio/` directory under a fixed name ([`Sound::file_name`]), or named
//! in the routine. A file may have any rate, channel count and bit depth; it
//! is mixed down to mono, resampled to the output rate, set to the same level
//! as the built-in sound it replaces, and fitted to each cue: cut with a
//! fade-out if longer, padded with silence if shorter.
//!
//! [`Palette`] holds the choice (and the decoded files); [`SoundBank`] is the
//! palette at one output rate, ready to render cues.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{bell, breath, fade, gain, loudness, resample, tick};
use crate::timeline::{Bell, CueKind, Phase};

/// The longest sound file accepted, in seconds. A sound is cut to its cue
/// anyway; this keeps a stray hour-long recording from filling memory.
pub const MAX_FILE_SECONDS: f64 = 60.0;

/// One sound of the palette.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sound {
    /// The bell that opens and closes the session.
    SessionBell,
    /// The lighter bell at the start of a step.
    StepBell,
    /// The swell over an inhale.
    Inhale,
    /// The ebb over an exhale.
    Exhale,
    /// The tick of a 3-2-1 count.
    Tick,
    /// The still tone while the breath is held in.
    HoldIn,
    /// The still tone while the breath is held out.
    HoldOut,
}

impl Sound {
    /// Every sound, in palette order.
    pub const ALL: [Sound; 7] = [
        Sound::SessionBell,
        Sound::StepBell,
        Sound::Inhale,
        Sound::Exhale,
        Sound::Tick,
        Sound::HoldIn,
        Sound::HoldOut,
    ];

    /// `f` of every sound, in palette order, each on a thread of its own
    /// (synthesizing and measuring sounds are independent, and on the path
    /// of every render's start). A panic in one is passed on.
    pub(crate) fn each_on_a_thread<T: Send>(
        f: impl Fn(Sound) -> T + Sync,
    ) -> [T; Sound::ALL.len()] {
        std::thread::scope(|scope| {
            let f = &f;
            Sound::ALL
                .map(|sound| scope.spawn(move || f(sound)))
                .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
        })
    }

    /// The sound a cue plays, if it plays one (speech and silence do not).
    pub fn for_cue(kind: CueKind) -> Option<Sound> {
        match kind {
            CueKind::Bell {
                bell: Bell::Session,
            } => Some(Sound::SessionBell),
            CueKind::Bell { bell: Bell::Step } => Some(Sound::StepBell),
            CueKind::Breath {
                phase: Phase::Inhale,
            } => Some(Sound::Inhale),
            CueKind::Breath {
                phase: Phase::Exhale,
            } => Some(Sound::Exhale),
            CueKind::Breath {
                phase: Phase::HoldIn,
            } => Some(Sound::HoldIn),
            CueKind::Breath {
                phase: Phase::HoldOut,
            } => Some(Sound::HoldOut),
            CueKind::Tick => Some(Sound::Tick),
            CueKind::Speech | CueKind::Silence => None,
        }
    }

    /// The sound's name in routines and messages: `bell`, `step-bell`,
    /// `inhale`, `exhale`, `hold-in`, `hold-out`, `tick`.
    pub fn name(self) -> &'static str {
        match self {
            Sound::SessionBell => "bell",
            Sound::StepBell => "step-bell",
            Sound::Inhale => "inhale",
            Sound::Exhale => "exhale",
            Sound::HoldIn => "hold-in",
            Sound::HoldOut => "hold-out",
            Sound::Tick => "tick",
        }
    }

    /// The sound named `name` (as [`Sound::name`] spells it, any case).
    pub fn from_name(name: &str) -> Option<Sound> {
        Sound::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }

    /// The file that replaces this sound when it is in the audio directory:
    /// its name plus `.wav`.
    pub fn file_name(self) -> String {
        format!("{}.wav", self.name())
    }

    /// Level relative to speech, in dB: how loud the sound is at its
    /// loudest moment (K-weighted, over [`Sound::reference_seconds`])
    /// compared with a speech clip's mean loudness. Bells sit a few dB under
    /// the voice, breath tones further under (they sound beneath phrases).
    pub fn level_db(self) -> f64 {
        match self {
            Sound::SessionBell => -4.0,
            Sound::StepBell => -6.0,
            Sound::Inhale | Sound::Exhale => -10.0,
            // Stiller than a breath: it only says the breath is held.
            Sound::HoldIn | Sound::HoldOut => -16.0,
            Sound::Tick => -8.0,
        }
    }

    /// How far the session gain may push the sound's peaks into the
    /// limiter, in dB, when a quiet session needs it louder: a bell's strike
    /// can lose a few dB unnoticed (it sounds like a softer mallet) and little
    /// of its energy, which is in the ring; the smooth breath tones barely
    /// any; a tick none (it is all strike: limiting it would only lose it).
    pub fn limit_allowance_db(self) -> f64 {
        match self {
            Sound::SessionBell | Sound::StepBell => 4.0,
            Sound::Inhale | Sound::Exhale | Sound::HoldIn | Sound::HoldOut => 1.0,
            Sound::Tick => 0.0,
        }
    }

    /// The window the sound's level is measured over: BS.1770's 400 ms
    /// momentary window, or the tick's own length for the tick.
    pub fn reference_seconds(self) -> f64 {
        match self {
            Sound::Tick => tick::TICK_SECONDS,
            _ => 0.4,
        }
    }

    /// Cue length the built-in sound is designed for, in seconds (the
    /// breath tones fill whatever they are given; 4 s is a calm breath).
    pub fn natural_seconds(self) -> f64 {
        match self {
            Sound::SessionBell => bell::SESSION_BELL_SECONDS,
            Sound::StepBell => bell::STEP_BELL_SECONDS,
            Sound::Inhale | Sound::Exhale | Sound::HoldIn | Sound::HoldOut => 4.0,
            Sound::Tick => tick::TICK_SECONDS,
        }
    }

    /// The built-in sound, `len` samples at `rate` Hz, at its synthesis
    /// level (peak near 0.5).
    pub fn builtin(self, len: usize, rate: u32) -> Vec<f32> {
        match self {
            Sound::SessionBell => bell::bell(Bell::Session, len, rate),
            Sound::StepBell => bell::bell(Bell::Step, len, rate),
            Sound::Inhale => breath::breath(Phase::Inhale, len, rate),
            Sound::Exhale => breath::breath(Phase::Exhale, len, rate),
            Sound::HoldIn => breath::breath(Phase::HoldIn, len, rate),
            Sound::HoldOut => breath::breath(Phase::HoldOut, len, rate),
            Sound::Tick => tick::tick(len, rate),
        }
    }
}

impl fmt::Display for Sound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a sound file could not be used. The message names the file, what is
/// wrong with it, and what to do.
#[derive(Debug, thiserror::Error)]
#[error("sound file {}: {problem}; {fix}", path.display())]
pub struct PaletteError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: String,
    /// How to put it right.
    pub fix: String,
}

/// A decoded sound file: mono at its own rate.
#[derive(Clone)]
struct SoundFile {
    path: PathBuf,
    rate: u32,
    samples: Arc<[f32]>,
}

/// Where each sound comes from.
#[derive(Clone, Default)]
pub struct Palette {
    files: BTreeMap<Sound, SoundFile>,
}

impl fmt::Debug for Palette {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for s in Sound::ALL {
            match self.file(s) {
                Some(p) => m.entry(&s.name(), &p.display()),
                None => m.entry(&s.name(), &"built-in"),
            };
        }
        m.finish()
    }
}

impl Palette {
    /// Every sound built in.
    pub fn builtin() -> Self {
        Palette::default()
    }

    /// The built-in sounds, replaced by any `bell.wav`, `step-bell.wav`,
    /// `inhale.wav`, `exhale.wav`, `hold-in.wav`, `hold-out.wav` or
    /// `tick.wav` found in `dir`, then by the
    /// files in `overrides` (from the routine; they win over the directory).
    ///
    /// A missing `dir` is not an error: it just replaces nothing. A file that
    /// is named but missing, unreadable, silent or too long is.
    pub fn load(dir: &Path, overrides: &[(Sound, PathBuf)]) -> Result<Self, PaletteError> {
        let mut palette = Palette::builtin();
        for sound in Sound::ALL {
            let path = dir.join(sound.file_name());
            if path.is_file() {
                palette = palette.with_file(sound, &path)?;
            }
        }
        for (sound, path) in overrides {
            palette = palette.with_file(*sound, path)?;
        }
        Ok(palette)
    }

    /// This palette with `sound` replaced by the WAV file at `path`.
    pub fn with_file(mut self, sound: Sound, path: &Path) -> Result<Self, PaletteError> {
        let (rate, samples) = read_wav(path)?;
        if samples.iter().all(|&v| v == 0.0) {
            return Err(PaletteError {
                path: path.to_owned(),
                problem: "it is silent (every sample is zero)".into(),
                fix: format!(
                    "use a recording with sound in it, or remove it to use the built-in {sound}"
                ),
            });
        }
        self.files.insert(
            sound,
            SoundFile {
                path: path.to_owned(),
                rate,
                samples: samples.into(),
            },
        );
        Ok(self)
    }

    /// The file that replaces `sound`, or `None` when it is built in.
    pub fn file(&self, sound: Sound) -> Option<&Path> {
        self.files.get(&sound).map(|f| f.path.as_path())
    }

    /// The palette ready to render at `rate` Hz: files resampled and every
    /// sound's level set.
    pub fn at_rate(&self, rate: u32) -> Result<SoundBank, PaletteError> {
        // Each sound on a thread of its own: synthesis and measurement are
        // most of what starting a render costs, and they are independent.
        let entries = Sound::each_on_a_thread(|sound| self.entry_at_rate(sound, rate));
        Ok(SoundBank {
            rate,
            entries: entries.into_iter().collect::<Result<_, _>>()?,
        })
    }

    /// `sound` at `rate`, set to its palette level.
    fn entry_at_rate(&self, sound: Sound, rate: u32) -> Result<BankEntry, PaletteError> {
        let file = match self.files.get(&sound) {
            Some(f) => Some(resample_file(f, rate)?),
            None => None,
        };
        // The level is measured on the sound as it would play at its
        // natural length: a file whole, a built-in sound at its design
        // length. That rendering is kept: most cues are that long.
        let natural = super::samples_in(sound.natural_seconds(), rate).max(1);
        let probe: Arc<[f32]> = match &file {
            Some(samples) => Arc::clone(samples),
            None => sound.builtin(natural, rate).into(),
        };
        let window = super::samples_in(sound.reference_seconds(), rate);
        let reference = loudness::reference_power(&probe, rate, window);
        let wanted = loudness::lufs_to_power(gain::SPEECH_LUFS + sound.level_db());
        let gain = if reference > 0.0 {
            (wanted / reference).sqrt()
        } else {
            0.0
        };
        let peak = probe.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let identity = match &file {
            Some(samples) => format!("file {}", samples_digest(samples)),
            None => "built-in".to_owned(),
        };
        Ok(BankEntry {
            natural: file.is_none().then_some(probe),
            identity,
            file,
            gain,
            peak: f64::from(peak) * gain,
        })
    }
}

/// Files in `dir` that look like sound overrides (`*.wav`) but match no
/// sound's name: probably a typo worth a warning. Empty when `dir` cannot be
/// read.
pub fn unknown_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let known: Vec<String> = Sound::ALL.iter().map(|s| s.file_name()).collect();
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_none_or(|n| !known.iter().any(|k| k == n))
        })
        .collect();
    out.sort();
    out
}

/// Hex SHA-256 of samples' bits.
fn samples_digest(samples: &[f32]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for v in samples {
        h.update(v.to_bits().to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn resample_file(file: &SoundFile, rate: u32) -> Result<Arc<[f32]>, PaletteError> {
    let out = resample::resample(&file.samples, file.rate, rate).map_err(|e| PaletteError {
        path: file.path.clone(),
        problem: e.to_string(),
        fix: "save it at a common rate such as 44100 or 48000 Hz".into(),
    })?;
    Ok(out.into())
}

/// Reads a WAV file as mono `f32` at its own rate: channels are averaged,
/// integer samples of any depth scaled to `-1.0..1.0`.
pub fn read_wav(path: &Path) -> Result<(u32, Vec<f32>), PaletteError> {
    let fail = |problem: String, fix: &str| PaletteError {
        path: path.to_owned(),
        problem,
        fix: fix.to_owned(),
    };
    let resave = "save it again as a 16-bit PCM or 32-bit float WAV";
    let mut reader = hound::WavReader::open(path).map_err(|e| match e {
        hound::Error::IoError(io) => fail(
            format!("cannot open it: {io}"),
            "check the path (a routine's paths are relative to the routine file)",
        ),
        other => fail(format!("not a WAV file that can be read: {other}"), resave),
    })?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    if spec.sample_rate == 0 {
        return Err(fail(
            "its header gives a sample rate of 0 Hz".into(),
            resave,
        ));
    }
    let seconds = f64::from(reader.duration()) / f64::from(spec.sample_rate);
    if seconds > MAX_FILE_SECONDS {
        return Err(fail(
            format!(
                "it is {seconds:.1} s long, more than the {MAX_FILE_SECONDS:.0} s a sound may be"
            ),
            "trim it: a sound is cut to the length of its cue anyway",
        ));
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / 2f64.powi(i32::from(spec.bits_per_sample.clamp(1, 32)) - 1);
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| (f64::from(v) * scale) as f32))
                .collect::<Result<_, _>>()
        }
    }
    .map_err(|e| fail(format!("cannot decode its samples: {e}"), resave))?;
    if interleaved.len() < channels {
        return Err(fail(
            "it has no samples".into(),
            "use a recording with sound in it",
        ));
    }
    let mono = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    Ok((spec.sample_rate, mono))
}

/// One sound of a [`SoundBank`].
struct BankEntry {
    /// The replacing file at the bank's rate, if any.
    file: Option<Arc<[f32]>>,
    /// The built-in sound at its natural length (before `gain`), if built in.
    natural: Option<Arc<[f32]>>,
    /// What the sound is made from (built in, or a digest of the file's
    /// samples at the bank's rate), for the keys of stored clips.
    identity: String,
    /// Gain that sets the sound at its palette level.
    gain: f64,
    /// Its peak at that level (of the file, or of the built-in sound at its
    /// natural length).
    peak: f64,
}

/// A [`Palette`] at one output rate: renders the sound of any cue.
pub struct SoundBank {
    rate: u32,
    entries: Vec<BankEntry>,
}

impl fmt::Debug for SoundBank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoundBank")
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

/// Fade-in put on every file-based sound, in case the file starts abruptly.
const FILE_FADE_IN_SECONDS: f64 = 0.002;
/// Fade-out put on every file-based sound, in case the file ends abruptly.
const FILE_FADE_OUT_SECONDS: f64 = 0.01;

impl SoundBank {
    /// Output rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    fn entry(&self, sound: Sound) -> &BankEntry {
        &self.entries[sound as usize]
    }

    /// `sound` for a cue of `len` samples, at its palette level: relative to
    /// speech at [`gain::SPEECH_LUFS`], before the session gain.
    pub fn render(&self, sound: Sound, len: usize) -> Vec<f32> {
        let entry = self.entry(sound);
        let mut out = match &entry.file {
            Some(file) => {
                let mut x = resample::fit(file.to_vec(), len, self.rate);
                let content = file.len().min(len);
                fade::fade_edges(
                    &mut x[..content],
                    super::samples_in(FILE_FADE_IN_SECONDS, self.rate),
                    super::samples_in(FILE_FADE_OUT_SECONDS, self.rate),
                );
                x
            }
            None => match &entry.natural {
                Some(natural) if natural.len() == len => natural.to_vec(),
                _ => sound.builtin(len, self.rate),
            },
        };
        let gain = entry.gain as f32;
        out.iter_mut().for_each(|v| *v *= gain);
        out
    }

    /// The peak of `sound` at its palette level (for the breath tones, as
    /// rendered at their natural length).
    pub fn peak(&self, sound: Sound) -> f64 {
        self.entry(sound).peak
    }

    /// What `sound` is made from: `built-in`, or `file` and a SHA-256 of
    /// the file's samples at this rate. Two banks at one rate whose
    /// identities agree render the same samples.
    pub fn identity(&self, sound: Sound) -> &str {
        &self.entry(sound).identity
    }

    /// Whether `sound` comes from a file.
    pub fn is_file(&self, sound: Sound) -> bool {
        self.entry(sound).file.is_some()
    }

    /// How `sound`'s K-weighted energy is spread over a cue, for the
    /// loudness prediction; `longest` is the longest cue it will fill.
    pub(crate) fn profile(&self, sound: Sound, longest: usize) -> gain::Profile {
        let rate = self.rate;
        let stretches = matches!(sound, Sound::Inhale | Sound::Exhale) && !self.is_file(sound);
        if stretches {
            // A built-in breath is one gesture at any length: measure it once
            // at its natural length and stretch.
            let natural = super::samples_in(sound.natural_seconds(), rate);
            gain::Profile::stretching(&self.render(sound, natural), rate)
        } else {
            // Files and bells keep their shape and are cut or padded: the
            // longest cue's rendering holds every shorter one's start.
            let longest = longest.min(super::samples_in(MAX_FILE_SECONDS, rate));
            gain::Profile::fixed(&self.render(sound, longest), rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wav(path: &Path, spec: hound::WavSpec, frames: &[Vec<f64>]) {
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for frame in frames {
            for &v in frame {
                match (spec.sample_format, spec.bits_per_sample) {
                    (hound::SampleFormat::Float, _) => w.write_sample(v as f32).unwrap(),
                    (_, 8) => w.write_sample((v * 127.0) as i8).unwrap(),
                    (_, 16) => w.write_sample((v * 32767.0) as i16).unwrap(),
                    (_, bits) => w
                        .write_sample((v * ((1i64 << (bits - 1)) - 1) as f64) as i32)
                        .unwrap(),
                }
            }
        }
        w.finalize().unwrap();
    }

    fn spec(channels: u16, rate: u32, bits: u16, float: bool) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: if float {
                hound::SampleFormat::Float
            } else {
                hound::SampleFormat::Int
            },
        }
    }

    fn tone(rate: u32, seconds: f64, channels: usize) -> Vec<Vec<f64>> {
        (0..(seconds * f64::from(rate)) as usize)
            .map(|i| {
                let v = 0.5 * (std::f64::consts::TAU * 440.0 * i as f64 / f64::from(rate)).sin();
                vec![v; channels]
            })
            .collect()
    }

    #[test]
    fn names_and_cues() {
        assert_eq!(Sound::SessionBell.file_name(), "bell.wav");
        assert_eq!(Sound::StepBell.file_name(), "step-bell.wav");
        assert_eq!(Sound::from_name("Step-Bell"), Some(Sound::StepBell));
        assert_eq!(Sound::from_name("gong"), None);
        assert_eq!(Sound::for_cue(CueKind::Tick), Some(Sound::Tick));
        assert_eq!(Sound::for_cue(CueKind::Speech), None);
        for (i, s) in Sound::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
    }

    #[test]
    fn reads_any_wav_layout_as_mono() {
        let dir = tempfile::tempdir().unwrap();
        for (channels, rate, bits, float) in [
            (1, 44_100, 16, false),
            (2, 48_000, 24, false),
            (2, 22_050, 8, false),
            (1, 32_000, 32, true),
            (6, 8_000, 32, false),
        ] {
            let path = dir
                .path()
                .join(format!("t{channels}-{rate}-{bits}-{float}.wav"));
            write_wav(
                &path,
                spec(channels, rate, bits, float),
                &tone(rate, 0.1, channels as usize),
            );
            let (r, x) = read_wav(&path).unwrap();
            assert_eq!(r, rate);
            assert_eq!(x.len(), (0.1 * f64::from(rate)) as usize);
            let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!((peak - 0.5).abs() < 0.02, "{path:?}: {peak}");
        }
    }

    #[test]
    fn an_override_replaces_the_sound_and_fits_each_cue() {
        let dir = tempfile::tempdir().unwrap();
        write_wav(
            &dir.path().join("step-bell.wav"),
            spec(2, 48_000, 16, false),
            &tone(48_000, 1.0, 2),
        );
        std::fs::write(dir.path().join("README.md"), "not a sound").unwrap();
        let palette = Palette::load(dir.path(), &[]).unwrap();
        assert_eq!(
            palette.file(Sound::StepBell),
            Some(dir.path().join("step-bell.wav").as_path())
        );
        assert_eq!(palette.file(Sound::SessionBell), None);

        let bank = palette.at_rate(44_100).unwrap();
        assert!(bank.is_file(Sound::StepBell));
        // Longer cue: the second of tone, then silence.
        let long = bank.render(Sound::StepBell, 88_200);
        assert_eq!(long.len(), 88_200);
        assert!(long[44_200..].iter().all(|&v| v == 0.0));
        assert!(long[22_050].abs() > 0.0);
        // Shorter cue: cut, and faded to zero at the cut.
        let short = bank.render(Sound::StepBell, 10_000);
        assert_eq!(short.len(), 10_000);
        assert_eq!(short[0], 0.0);
        assert_eq!(short[9_999], 0.0);
        // Set to the level of the built-in step bell it replaces.
        let builtin = Palette::builtin().at_rate(44_100).unwrap();
        let window = super::super::samples_in(0.4, 44_100);
        let r = |x: &[f32]| loudness::power_to_lufs(loudness::reference_power(x, 44_100, window));
        let natural = super::super::samples_in(bell::STEP_BELL_SECONDS, 44_100);
        let (a, b) = (r(&long), r(&builtin.render(Sound::StepBell, natural)));
        assert!((a - b).abs() < 0.2, "{a} vs {b}");
    }

    #[test]
    fn the_routine_wins_over_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("tick.wav"), dir.path().join("mine.wav"));
        write_wav(&a, spec(1, 16_000, 16, false), &tone(16_000, 0.1, 1));
        write_wav(&b, spec(1, 16_000, 16, false), &tone(16_000, 0.2, 1));
        let p = Palette::load(dir.path(), &[(Sound::Tick, b.clone())]).unwrap();
        assert_eq!(p.file(Sound::Tick), Some(b.as_path()));
        assert_eq!(unknown_files(dir.path()), vec![b]);
        // A directory that does not exist replaces nothing.
        let p = Palette::load(&dir.path().join("nope"), &[]).unwrap();
        assert!(Sound::ALL.iter().all(|&s| p.file(s).is_none()));
    }

    #[test]
    fn errors_name_the_file_the_problem_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone.wav");
        let e = Palette::builtin()
            .with_file(Sound::SessionBell, &missing)
            .unwrap_err();
        assert_eq!(e.path, missing);
        assert!(
            e.to_string().starts_with(&format!(
                "sound file {}: cannot open it: ",
                missing.display()
            )),
            "{e}"
        );
        assert!(
            e.to_string()
                .ends_with("; check the path (a routine's paths are relative to the routine file)")
        );

        let text = dir.path().join("notes.wav");
        std::fs::write(&text, "this is not audio").unwrap();
        let e = Palette::builtin()
            .with_file(Sound::Tick, &text)
            .unwrap_err();
        assert!(
            e.to_string().contains("not a WAV file that can be read"),
            "{e}"
        );
        assert!(
            e.to_string()
                .ends_with("; save it again as a 16-bit PCM or 32-bit float WAV")
        );

        let silent = dir.path().join("silent.wav");
        write_wav(&silent, spec(1, 8000, 16, false), &vec![vec![0.0]; 800]);
        let e = Palette::builtin()
            .with_file(Sound::Inhale, &silent)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "sound file {}: it is silent (every sample is zero); use a recording with sound in it, or remove it to use the built-in inhale",
                silent.display()
            )
        );

        let long = dir.path().join("long.wav");
        write_wav(&long, spec(1, 8000, 16, false), &vec![vec![0.1]; 8000 * 61]);
        let e = Palette::builtin()
            .with_file(Sound::Exhale, &long)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "sound file {}: it is 61.0 s long, more than the 60 s a sound may be; trim it: a sound is cut to the length of its cue anyway",
                long.display()
            )
        );
    }

    #[test]
    fn builtin_levels_sit_under_the_voice() {
        let bank = Palette::builtin().at_rate(44_100).unwrap();
        for sound in Sound::ALL {
            let natural = super::super::samples_in(sound.natural_seconds(), 44_100);
            let x = bank.render(sound, natural);
            let window = super::super::samples_in(sound.reference_seconds(), 44_100);
            let got = loudness::power_to_lufs(loudness::reference_power(&x, 44_100, window));
            let want = gain::SPEECH_LUFS + sound.level_db();
            assert!((got - want).abs() < 0.05, "{sound}: {got} vs {want}");
            let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!((f64::from(peak) - bank.peak(sound)).abs() < 1e-6);
        }
    }
}
