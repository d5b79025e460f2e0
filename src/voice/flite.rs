//! The built-in voice: flite-rs's `kal16` (US English, male, 16 kHz), compiled
//! into the binary, so a fresh machine speaks with nothing installed.
//!
//! Tuned for a calm session rather than for flite's defaults: segments are
//! stretched 1.2× at speed 1 (about 144 words a minute, the clearest in a
//! word-error check), the clip is trimmed to the voice (see `edges`), and
//! the text goes through respellings, ASCII folding and [`super::text::normalize`]
//! first. Yoga words come from [`super::lexicon::YOGA_WORDS`] and the
//! routine's phone spellings.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use super::cache::sha256_hex;
use super::edges::{self, trim_and_fade};
use super::lexicon::{CLEARER_WORDS, YOGA_WORDS, flite_phones};
use super::text::{self, fold_to_ascii, normalize, respell};
use super::{
    Clip, Done, Engine, EngineEntry, Pronunciation, Voice, VoiceError, VoiceInfo, VoiceSettings,
};
use crate::Cancel;

/// The built-in engine in [`super::ENGINES`].
pub(super) static ENGINE: EngineEntry = EngineEntry {
    name: "flite",
    aliases: &[],
    built_in: true,
    open: |settings, pronunciations| Ok(Box::new(FliteVoice::new(settings, pronunciations)?)),
    voices: || Ok(FliteVoice::voices()),
};

/// The flite voices built in: (name, description).
const VOICES: &[(&str, &str)] = &[
    ("kal16", "US English, male, 16 kHz (built in, the default)"),
    (
        "kal",
        "US English, male, 8 kHz (built in; telephone quality)",
    ),
];

/// The built-in speech engine. Cheap to use from many threads at once
/// (`speak` takes `&self`), not cheap to build (it parses the voice data):
/// build one per export.
pub struct FliteVoice {
    /// Shared with the threads that speak a phrase each (see
    /// [`Voice::speak_batch`] here).
    engine: Arc<flite_rs::Engine>,
    /// Words said by substitution: the routine's respellings without phones.
    respellings: Arc<[Pronunciation]>,
    identity: String,
    /// The routine's language, when it is not one flite speaks (English).
    foreign: Option<String>,
}

impl FliteVoice {
    /// The voice used when the settings name none.
    pub const DEFAULT_VOICE: &'static str = "kal16";
    /// flite's duration stretch at speed 1: slower than its own default,
    /// which was measured the most intelligible.
    pub const CLEAR_STRETCH: f32 = 1.2;

    /// The voice in `settings.name` (default `kal16`) at the settings' speed
    /// and pitch (the volume is the renderer's), with the built-in yoga words and `pronunciations`
    /// in its lexicon. An entry with `phones` goes into the lexicon (it
    /// must be one word); one with only `respell` is substituted in the text.
    pub fn new(
        settings: &VoiceSettings,
        pronunciations: &[Pronunciation],
    ) -> Result<Self, VoiceError> {
        settings.check()?;
        let name = settings.name.as_deref().unwrap_or(Self::DEFAULT_VOICE);
        let mut engine = flite_rs::Engine::try_new().map_err(|e| VoiceError::Unavailable {
            engine: "flite".to_string(),
            reason: format!("its built-in voice data is damaged ({e:?}); reinstall vinyasa"),
        })?;
        if !VOICES.iter().any(|(known, _)| *known == name) || !engine.select_voice(name) {
            return Err(VoiceError::Invalid {
                what: format!("flite voice {name:?}"),
                reason: format!(
                    "flite has no such voice; its voices are {} (`vinyasa voices` lists every engine's)",
                    VOICES
                        .iter()
                        .map(|(n, d)| format!("{n} ({d})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        let stretch = Self::CLEAR_STRETCH / settings.speed;
        engine.set_duration_stretch(stretch);
        engine.set_f0_shift(settings.pitch);

        let built_in: String = YOGA_WORDS
            .iter()
            .chain(CLEARER_WORDS)
            .map(|(word, phones)| format!("{word} : {phones}\n"))
            .collect();
        engine
            .add_lex_entries(&built_in)
            .map_err(|e| VoiceError::Unavailable {
                engine: "flite".to_string(),
                reason: format!("its built-in words were refused ({e}); this is a bug"),
            })?;

        let mut respellings = Vec::new();
        for pronunciation in pronunciations {
            let one_word = lexicon_word(&pronunciation.word).is_some();
            match (&pronunciation.phones, &pronunciation.respell) {
                // Phones for a phrase cannot go in the lexicon: its
                // respelling, if it has one, is used instead.
                (Some(_), Some(_)) if !one_word => respellings.push(pronunciation.clone()),
                (Some(phones), _) => add_word(&mut engine, &pronunciation.word, phones)?,
                (None, Some(_)) => respellings.push(pronunciation.clone()),
                (None, None) => {
                    return Err(pronunciation.says_nothing());
                }
            }
        }

        let identity = format!(
            "flite-rs-0.2/{name}/stretch={stretch}/f0={}/text-v{}/edges-v{}/lex={}",
            settings.pitch,
            text::VERSION,
            edges::VERSION,
            lexicon_hash(pronunciations),
        );
        let foreign = settings
            .language
            .clone()
            .filter(|l| !l.to_ascii_lowercase().starts_with("en"));
        Ok(FliteVoice {
            engine: Arc::new(engine),
            respellings: respellings.into(),
            identity,
            foreign,
        })
    }

    /// The built-in voices, for `vinyasa voices`.
    pub fn voices() -> Vec<VoiceInfo> {
        VOICES
            .iter()
            .map(|(name, description)| VoiceInfo {
                engine: Engine::FLITE,
                name: Some(name.to_string()),
                language: Some("en-us".to_string()),
                description: description.to_string(),
                installed: true,
            })
            .collect()
    }

    /// The phones this voice would say for `text`, space separated with
    /// `pau` at pauses: for checking a pronunciation without listening.
    pub fn phones(&self, text: &str) -> String {
        self.engine.phones(&self.prepare(text))
    }

    /// Sample rate of this voice's clips.
    pub fn rate(&self) -> u32 {
        self.engine.sample_rate()
    }

    /// The text flite is given: respelled, folded to ASCII, normalised,
    /// without control characters, and with no word longer than
    /// [`text::MAX_WORD_CHARS`] (flite's time and stack grow with a word's
    /// length).
    fn prepare(&self, text: &str) -> String {
        prepare(text, &self.respellings)
    }

    /// [`Voice::speak`] on a thread of its own, given up on once `cancel`
    /// is set: flite cannot be stopped inside a phrase, and a long one takes
    /// seconds.
    fn speak_unless_cancelled(
        &self,
        text: &str,
        cancel: &Cancel,
    ) -> Option<Result<Clip, VoiceError>> {
        let engine = Arc::clone(&self.engine);
        let respellings = Arc::clone(&self.respellings);
        let text = text.to_owned();
        super::unless_cancelled(cancel, move || speak(&engine, &respellings, &text))
    }
}

/// The text flite is given for `text`: see [`FliteVoice::prepare`].
fn prepare(text: &str, respellings: &[Pronunciation]) -> String {
    let text = normalize(&fold_to_ascii(&respell(
        &text::strip_controls(text),
        respellings,
    )));
    let text = set_off_final_letters(&text);
    text::bound_words(&text).into_owned()
}

/// [`Voice::speak`] of the voice with this engine and these respellings.
fn speak(
    engine: &flite_rs::Engine,
    respellings: &[Pronunciation],
    text: &str,
) -> Result<Clip, VoiceError> {
    let prepared = prepare(text, respellings);
    // flite-rs is safe Rust but young; a panic on odd text must fail this
    // phrase with a message, not abort the export.
    let audio = catch_unwind(AssertUnwindSafe(|| engine.synthesize(&prepared))).map_err(|_| {
        VoiceError::Failed {
            engine: "flite".to_string(),
            text: text.to_string(),
            reason: "the synthesiser crashed on this text; try rewording it".to_string(),
        }
    })?;
    let raw: Vec<f32> = audio
        .samples
        .iter()
        .map(|&s| f32::from(s) / 32768.0)
        .collect();
    Ok(Clip {
        rate: audio.sample_rate,
        samples: trim_and_fade(&raw, audio.sample_rate),
    })
}

/// Sets off a capital letter that ends a sentence after a word with a
/// comma: "Sun salutation A." becomes "Sun salutation, A.".
///
/// Such a letter names a variant of what comes before it (a sequence, a
/// side, a plan), but flite says it as the article "uh" glued to the word
/// before, heard as "salutation-uh" or "ache". The comma makes flite pause
/// and say the letter's name. "I" is left alone: it is a word.
fn set_off_final_letters(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let is_final_letter = |i: usize| {
        let letter = bytes[i];
        letter.is_ascii_uppercase()
            && letter != b'I'
            && i >= 2
            && bytes[i - 1] == b' '
            && bytes[i - 2].is_ascii_alphanumeric()
            && bytes
                .get(i + 1)
                .is_none_or(|&after| matches!(after, b'.' | b'!' | b'?' | b';' | b':' | b','))
    };
    let letters: Vec<usize> = (0..bytes.len()).filter(|&i| is_final_letter(i)).collect();
    if letters.is_empty() {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + letters.len());
    let mut from = 0;
    for i in letters {
        out.push_str(&text[from..i - 1]);
        out.push_str(", ");
        from = i;
    }
    out.push_str(&text[from..]);
    out.into()
}

/// Adds one word from the routine's pronunciations to flite's lexicon.
fn add_word(engine: &mut flite_rs::Engine, word: &str, phones: &str) -> Result<(), VoiceError> {
    let invalid = |reason: String| VoiceError::Invalid {
        what: format!("pronunciation of {word:?}"),
        reason,
    };
    let folded = fold_to_ascii(word.trim()).to_lowercase();
    if folded.is_empty()
        || !folded
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '\'')
    {
        return Err(invalid(
            "phones can be given for one word only (letters, digits, apostrophes); \
             give a respelling for a phrase, or phones for each word"
                .to_string(),
        ));
    }
    let phones = flite_phones(phones);
    if phones.is_empty() {
        return Err(invalid("its phones are empty".to_string()));
    }
    engine
        .add_lex_entries(&format!("{folded} : {phones}"))
        .map(drop)
        .map_err(|e| {
            invalid(match e {
                flite_rs::LexiconError::UnknownPhone { phone, .. } => format!(
                    "{phone:?} is not a phone of the flite voice; use ARPAbet phones \
                     such as \"uw0 jh ay1 iy0\" (vowels take stress 0 or 1, `ax` has none)"
                ),
                other => other.to_string(),
            })
        })
}

/// The word as flite's lexicon holds it (ASCII, lowercase), or `None` if it
/// is not a single word.
fn lexicon_word(word: &str) -> Option<String> {
    let folded = fold_to_ascii(word.trim()).to_lowercase();
    let single = !folded.is_empty()
        && folded
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '\'');
    single.then_some(folded)
}

/// A short hash of every pronunciation the voice uses, built-in and the
/// routine's, so a changed word changes the voice's identity.
fn lexicon_hash(pronunciations: &[Pronunciation]) -> String {
    let mut text = String::new();
    for (word, phones) in YOGA_WORDS.iter().chain(CLEARER_WORDS) {
        text.push_str(&format!("{word}\u{1f}{phones}\u{1e}"));
    }
    for p in pronunciations {
        text.push_str(&format!(
            "{}\u{1f}{}\u{1f}{}\u{1e}",
            p.word,
            p.respell.as_deref().unwrap_or("\u{0}"),
            p.phones.as_deref().unwrap_or("\u{0}")
        ));
    }
    sha256_hex(text.as_bytes())[..16].to_string()
}

impl Voice for FliteVoice {
    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn warnings(&self) -> Vec<String> {
        self.foreign
            .iter()
            .map(|language| {
                format!(
                    "the built-in flite voice speaks English only, but the routine's language is \
                     \"{language}\": its words will be read as English; use a voice of that \
                     language (Piper or espeak-ng)"
                )
            })
            .collect()
    }

    fn label(&self) -> String {
        // The identity's second part is the voice's name.
        let name = self
            .identity
            .split('/')
            .nth(1)
            .unwrap_or(Self::DEFAULT_VOICE);
        format!("flite {name} (built in)")
    }

    fn speak(&self, text: &str) -> Result<Clip, VoiceError> {
        speak(&self.engine, &self.respellings, text)
    }

    fn speak_batch(&self, texts: &[&str], cancel: &Cancel, done: Done<'_, Clip>) {
        super::each_text(texts, cancel, |i| {
            if let Some(result) = self.speak_unless_cancelled(texts[i], cancel) {
                done(i, result);
            }
        });
    }

    fn length_batch(&self, texts: &[&str], cancel: &Cancel, done: Done<'_, (u32, u64)>) {
        self.speak_batch(texts, cancel, &|i, result| {
            done(i, result.map(|clip| (clip.rate, clip.samples.len() as u64)));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice() -> FliteVoice {
        FliteVoice::new(&VoiceSettings::default(), &[]).unwrap()
    }

    /// The first and last 10 ms windows of voice: RMS within 40 dB of the
    /// loudest window's. Also the number of windows.
    fn voice_windows(rate: u32, samples: &[f32]) -> (usize, usize, usize) {
        let levels: Vec<f32> = samples
            .chunks(rate as usize / 100)
            .map(|c| {
                let power = c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32;
                10.0 * power.max(1e-12).log10()
            })
            .collect();
        let loudest = levels.iter().fold(f32::MIN, |m, &l| m.max(l));
        let first = levels.iter().position(|&l| l > loudest - 40.0).unwrap();
        let last = levels.iter().rposition(|&l| l > loudest - 40.0).unwrap();
        (first, last, levels.len())
    }

    #[test]
    fn a_huge_word_neither_overflows_nor_takes_long() {
        // Each used to overflow a worker thread's stack (5,000 emoji or
        // combining marks) or take seconds (10,000 letters, quadratic).
        let v = voice();
        for word in [
            "\u{1F64F}".repeat(30_000),
            format!("a{}", "e\u{301}".repeat(5_000)),
            "a".repeat(10_000),
        ] {
            let phones = std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn({
                    let prepared = v.prepare(&word);
                    let engine_phones = move |v: &FliteVoice| v.engine.phones(&prepared);
                    let v = voice();
                    move || engine_phones(&v)
                })
                .unwrap()
                .join()
                .unwrap();
            assert!(phones.len() < 200_000, "{}", phones.len());
        }
    }

    #[test]
    fn speaks_16_khz_deterministically() {
        let v = voice();
        let a = v.speak("Inhale deeply, and lengthen the spine.").unwrap();
        let b = v.speak("Inhale deeply, and lengthen the spine.").unwrap();
        let c = voice()
            .speak("Inhale deeply, and lengthen the spine.")
            .unwrap();
        assert_eq!(a.rate, 16_000);
        assert!(a.samples.len() > 16_000, "{} samples", a.samples.len());
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert!(a.samples.iter().all(|s| (-1.0..=1.0).contains(s)));
    }

    #[test]
    fn clips_start_with_the_voice_and_end_silent() {
        let v = voice();
        for text in [
            "Inhale deeply.",
            "Sit tall.",
            "Stretch.",
            "Relax your shoulders",
        ] {
            let clip = v.speak(text).unwrap();
            let n = clip.samples.len();
            assert_eq!((clip.samples[0], clip.samples[n - 1]), (0.0, 0.0), "{text}");
            assert!(clip.samples[..8].iter().all(|s| s.abs() < 1e-3), "{text}");
            assert!(
                clip.samples[n - 8..].iter().all(|s| s.abs() < 1e-3),
                "{text}"
            );
            // The voice starts in the second or third 10 ms window (the
            // margin and fade come first) and ends as close to the end.
            let (first, last, windows) = voice_windows(clip.rate, &clip.samples);
            assert!(first <= 2, "{text}: voice starts at {first}0 ms");
            assert!(
                windows - last <= 3,
                "{text}: voice ends {}0 ms early",
                windows - last
            );
        }
    }

    #[test]
    fn untrimmed_flite_starts_late() {
        // The premise of trimming: flite's own audio has a quiet lead-in.
        let mut engine = flite_rs::Engine::new();
        engine.select_voice("kal16");
        let audio = engine.synthesize("Inhale deeply.");
        let samples: Vec<f32> = audio
            .samples
            .iter()
            .map(|&s| f32::from(s) / 32768.0)
            .collect();
        let (first, _, _) = voice_windows(audio.sample_rate, &samples);
        assert!(first >= 15, "flite's voice starts at {first}0 ms");
    }

    #[test]
    fn a_routine_in_another_language_is_warned_about() {
        let with = |language: Option<&str>| {
            FliteVoice::new(
                &VoiceSettings {
                    language: language.map(str::to_string),
                    ..VoiceSettings::default()
                },
                &[],
            )
            .unwrap()
            .warnings()
        };
        let french = with(Some("fr"));
        assert_eq!(french.len(), 1);
        assert!(french[0].contains("English only") && french[0].contains("\"fr\""));
        assert!(with(Some("en-GB")).is_empty());
        assert!(with(Some("EN")).is_empty());
        assert!(with(None).is_empty());
    }

    #[test]
    fn volume_is_left_to_the_renderer() {
        // The renderer sets each phrase to the speech level times the
        // volume; a voice that scaled (and clipped) too applied it twice.
        let plain = voice();
        let loud = FliteVoice::new(
            &VoiceSettings {
                volume: 2.0,
                ..VoiceSettings::default()
            },
            &[],
        )
        .unwrap();
        assert_eq!(
            loud.speak("Exhale slowly.").unwrap(),
            plain.speak("Exhale slowly.").unwrap()
        );
        // So a phrase is cached once for every volume.
        assert_eq!(loud.identity(), plain.identity());
    }

    #[test]
    fn speed_and_pitch_change_the_audio_and_identity() {
        let normal = voice();
        let fast = FliteVoice::new(
            &VoiceSettings {
                speed: 1.5,
                ..Default::default()
            },
            &[],
        )
        .unwrap();
        let high = FliteVoice::new(
            &VoiceSettings {
                pitch: 1.2,
                ..Default::default()
            },
            &[],
        )
        .unwrap();
        let text = "Lift your arms overhead.";
        let n = normal.speak(text).unwrap().samples.len();
        let f = fast.speak(text).unwrap().samples.len();
        assert!(f * 5 < n * 4, "fast {f} vs normal {n}");
        assert_ne!(high.speak(text).unwrap(), normal.speak(text).unwrap());
        let ids = [normal.identity(), fast.identity(), high.identity()];
        assert!(
            ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
            "{ids:?}"
        );
    }

    #[test]
    fn says_yoga_words_from_the_built_in_lexicon() {
        let v = voice();
        assert_eq!(v.phones("Ujjayi"), "pau uw jh ay iy pau");
        assert_eq!(v.phones("balasana"), "pau b aa l aa s ax n ax pau");
        assert_eq!(v.phones("Om."), "pau ow m pau");
        // Written in IAST, the word is folded to ASCII first.
        assert_eq!(v.phones("Śavāsana"), v.phones("savasana"));
        // Shorthand is expanded before synthesis.
        assert_eq!(v.phones("5 min"), v.phones("5 minutes"));
    }

    #[test]
    fn says_the_clearer_spellings_of_words_flite_blurs() {
        let v = voice();
        assert_eq!(v.phones("Release."), "pau r ih l ih iy s pau");
        assert_eq!(v.phones("floor"), "pau f l ao ao r pau");
        // Other forms of the word keep flite's own reading.
        assert_ne!(v.phones("released"), "pau r ih l ih iy s t pau");
        // A routine's phones still win over the built-in ones.
        let custom = [Pronunciation {
            word: "release".to_string(),
            respell: None,
            phones: Some("r ih0 l iy1 s".to_string()),
        }];
        let own = FliteVoice::new(&VoiceSettings::default(), &custom).unwrap();
        assert_eq!(own.phones("Release."), "pau r ih l iy s pau");
    }

    #[test]
    fn a_letter_after_a_pose_name_is_said_as_a_letter() {
        assert_eq!(
            set_off_final_letters("Next: Sun salutation A."),
            "Next: Sun salutation, A."
        );
        assert_eq!(
            set_off_final_letters("Sun salutation B, round two."),
            "Sun salutation, B, round two."
        );
        assert_eq!(set_off_final_letters("Plan A"), "Plan, A");
        // The article, the pronoun and a letter that starts a phrase stay.
        for same in [
            "A breath in.",
            "Take a breath.",
            "Then I.",
            "Hold A-frame.",
            "B.",
        ] {
            assert_eq!(set_off_final_letters(same), same);
        }
        let v = voice();
        assert_eq!(
            v.phones("Sun salutation A."),
            v.phones("Sun salutation, A.")
        );
        assert_ne!(v.phones("Sun salutation A."), v.phones("Sun salutation a."));
    }

    #[test]
    fn routine_phones_override_the_lexicon_and_change_the_audio() {
        let plain = voice();
        let custom = [Pronunciation {
            word: "Ujjayi".to_string(),
            respell: Some("ignored by flite when phones are given".to_string()),
            phones: Some("UW1 JH AA2 Y IY0".to_string()),
        }];
        let v = FliteVoice::new(&VoiceSettings::default(), &custom).unwrap();
        assert_eq!(v.phones("ujjayi breath"), "pau uw jh aa y iy b r eh th pau");
        assert_ne!(
            v.speak("Ujjayi breath.").unwrap(),
            plain.speak("Ujjayi breath.").unwrap()
        );
        // Words not in the list sound as before.
        assert_eq!(
            v.speak("Breathe.").unwrap(),
            plain.speak("Breathe.").unwrap()
        );
        assert_ne!(v.identity(), plain.identity());
    }

    #[test]
    fn respellings_are_substituted_in_the_text() {
        let custom = [Pronunciation {
            word: "Tadasana".to_string(),
            respell: Some("mountain pose".to_string()),
            phones: None,
        }];
        let v = FliteVoice::new(&VoiceSettings::default(), &custom).unwrap();
        assert_eq!(
            v.speak("Come to Tadasana.").unwrap(),
            voice().speak("Come to mountain pose.").unwrap()
        );
    }

    #[test]
    fn refuses_bad_pronunciations_naming_the_word() {
        let bad = |word: &str, phones: &str| {
            let p = Pronunciation {
                word: word.to_string(),
                respell: None,
                phones: Some(phones.to_string()),
            };
            match FliteVoice::new(&VoiceSettings::default(), &[p]) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("{word} : {phones} was accepted"),
            }
        };
        assert_eq!(
            bad("ujjayi", "uw1 jj ay1"),
            "pronunciation of \"ujjayi\": \"jj\" is not a phone of the flite voice; use ARPAbet \
             phones such as \"uw0 jh ay1 iy0\" (vowels take stress 0 or 1, `ax` has none)"
        );
        assert!(bad("adho mukha", "aa1 d ow0").contains("one word only"));
        // With a respelling, a phrase is respelled instead.
        let phrase = Pronunciation {
            word: "adho mukha".to_string(),
            respell: Some("downward".to_string()),
            phones: Some("aa1 d ow0".to_string()),
        };
        let v = FliteVoice::new(&VoiceSettings::default(), &[phrase]).unwrap();
        assert_eq!(v.phones("Adho Mukha"), voice().phones("downward"));
        assert!(bad("om", "  ").contains("empty"));
    }

    #[test]
    fn refuses_unknown_voices_and_bad_settings() {
        let err = |settings: VoiceSettings| match FliteVoice::new(&settings, &[]) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{settings:?} was accepted"),
        };
        let unknown = err(VoiceSettings {
            name: Some("en-us".into()),
            ..Default::default()
        });
        assert!(
            unknown.starts_with(
                "flite voice \"en-us\": flite has no such voice; its voices are kal16"
            ),
            "{unknown}"
        );
        assert_eq!(
            err(VoiceSettings {
                speed: 0.0,
                ..Default::default()
            }),
            "voice speed 0: must be between 0.25 and 4 (1 is the voice's own)"
        );
        assert!(
            err(VoiceSettings {
                pitch: f32::NAN,
                ..Default::default()
            })
            .starts_with("voice pitch NaN")
        );
        assert!(
            FliteVoice::new(
                &VoiceSettings {
                    name: Some("kal".into()),
                    ..Default::default()
                },
                &[]
            )
            .is_ok()
        );
    }

    #[test]
    fn nothing_to_say_is_an_empty_clip() {
        let v = voice();
        assert!(v.speak("").unwrap().samples.is_empty());
        assert!(v.speak("...").unwrap().samples.is_empty());
    }
}
