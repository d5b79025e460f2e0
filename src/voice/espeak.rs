//! The `espeak-ng` program as a voice, for languages and voices the built-in
//! one lacks. It runs as a separate process per phrase (never through a
//! shell: the text goes on its stdin), so vinyasa does not link espeak-ng
//! and stays under its own licence.
//!
//! Its WAV output is read from memory. Volume is not passed to espeak-ng
//! (`-a`): the renderer applies it to every engine's speech alike.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::cache::sha256_hex;
use super::edges::{self, trim_and_fade};
use super::lexicon::flite_phones;
use super::text::{self, normalize, respell};
use super::{
    Clip, Engine, EngineEntry, Pronunciation, Voice, VoiceError, VoiceInfo, VoiceSettings,
};

/// The espeak-ng engine in [`super::ENGINES`].
pub(super) static ENGINE: EngineEntry = EngineEntry {
    name: "espeak-ng",
    aliases: &["espeak"],
    built_in: false,
    open: |settings, pronunciations| Ok(Box::new(EspeakVoice::new(settings, pronunciations)?)),
    voices: || EspeakVoice::voices(EspeakVoice::program()),
};

/// How to get espeak-ng, or what to use instead.
const INSTALL_HINT: &str = "install it (Debian/Ubuntu: `sudo apt install espeak-ng`; \
    Fedora: `sudo dnf install espeak-ng`; macOS: `brew install espeak-ng`; Windows: the \
    .msi from https://github.com/espeak-ng/espeak-ng/releases) or use the built-in voice, \
    flite";

/// A voice of the `espeak-ng` program.
pub struct EspeakVoice {
    program: PathBuf,
    voice: String,
    words_per_minute: u32,
    pitch: u32,
    /// English voices get [`normalize`] and phone spellings; others only
    /// respellings, since the shorthand rules are English.
    english: bool,
    /// Respellings, and for English voices the routine's phones written as
    /// espeak-ng phoneme input (`[[u:dZ'aIi:]]`).
    substitutions: Vec<Pronunciation>,
    identity: String,
}

impl EspeakVoice {
    /// The program looked up on `PATH`.
    pub const PROGRAM: &'static str = "espeak-ng";
    /// The voice used when the settings name none.
    pub const DEFAULT_VOICE: &'static str = "en-us";
    /// Words a minute at speed 1: espeak-ng's own 175 is brisk for a
    /// guided session; this matches the built-in voice's pace.
    pub const CLEAR_WORDS_PER_MINUTE: f32 = 145.0;

    /// The `espeak-ng` program on `PATH` (on Windows, also its default
    /// install folder) with the settings' voice (default `en-us`).
    pub fn new(
        settings: &VoiceSettings,
        pronunciations: &[Pronunciation],
    ) -> Result<Self, VoiceError> {
        Self::with_program(Self::program(), settings, pronunciations)
    }

    /// The program [`EspeakVoice::new`] runs: `espeak-ng` on `PATH`, or on
    /// Windows its default install folder if it is not on `PATH` (its
    /// installer does not add itself).
    pub fn program() -> PathBuf {
        find_program()
    }

    /// As [`EspeakVoice::new`], running `program` instead of looking on `PATH`.
    pub fn with_program(
        program: impl Into<PathBuf>,
        settings: &VoiceSettings,
        pronunciations: &[Pronunciation],
    ) -> Result<Self, VoiceError> {
        settings.check()?;
        let program = program.into();
        let version = version(&program)?;
        let voice = settings
            .name
            .clone()
            .unwrap_or_else(|| Self::DEFAULT_VOICE.to_string());
        check_voice_name(&voice)?;
        // espeak-ng falls back to its default variant without a word: ask
        // its lists rather than trust that it would refuse.
        if let Some(unknown) = Self::unknown_voice(&program, &voice)? {
            return Err(VoiceError::Invalid {
                what: format!("espeak-ng voice {voice:?}"),
                reason: format!("espeak-ng has {}; {}", unknown.problem, unknown.fix),
            });
        }
        let words_per_minute = (Self::CLEAR_WORDS_PER_MINUTE * settings.speed)
            .round()
            .clamp(80.0, 450.0) as u32;
        let pitch = (50.0 * settings.pitch).round().clamp(0.0, 99.0) as u32;
        let english = voice == "en" || voice.starts_with("en-") || voice.starts_with("en+");

        let mut substitutions = Vec::new();
        for p in pronunciations {
            let respelling = match (&p.respell, &p.phones) {
                (Some(respelling), _) => respelling.clone(),
                (None, Some(phones)) if english => espeak_phonemes(&p.word, phones)?,
                // ARPAbet is English: other languages need a respelling.
                (None, Some(_)) => continue,
                (None, None) => {
                    return Err(p.says_nothing());
                }
            };
            substitutions.push(Pronunciation {
                respell: Some(respelling),
                ..p.clone()
            });
        }

        let mut espeak = EspeakVoice {
            identity: String::new(),
            program,
            voice,
            words_per_minute,
            pitch,
            english,
            substitutions,
        };
        // A voice espeak-ng does not have fails here, once, with a clear
        // message, rather than on every phrase.
        espeak.run("").map_err(|e| VoiceError::Invalid {
            what: format!("espeak-ng voice {:?}", espeak.voice),
            reason: match e {
                VoiceError::Failed { reason, .. } => {
                    format!("{reason}; `vinyasa voices` lists the voices installed")
                }
                other => other.to_string(),
            },
        })?;
        let substitutions: String = espeak
            .substitutions
            .iter()
            .map(|p| {
                format!(
                    "{}\u{1f}{}\u{1e}",
                    p.word,
                    p.respell.as_deref().unwrap_or("")
                )
            })
            .collect();
        espeak.identity = format!(
            "espeak-ng/{version}/{}/wpm={}/pitch={}/text-v{}/edges-v{}/lex={}",
            espeak.voice,
            espeak.words_per_minute,
            espeak.pitch,
            text::VERSION,
            edges::VERSION,
            &sha256_hex(substitutions.as_bytes())[..16],
        );
        Ok(espeak)
    }

    /// The voices `program` has, one per language (voices that need the
    /// separate MBROLA synthesiser are left out), for `vinyasa voices`.
    pub fn voices(program: impl AsRef<Path>) -> Result<Vec<VoiceInfo>, VoiceError> {
        Ok(parse_voices(&table(program.as_ref(), "--voices")?))
    }

    /// What is wrong with the voice name `voice` (`language[+variant]`) for
    /// espeak-ng at `program`, if anything: `None` when its language is one
    /// `--voices` lists (as a code, a name or a file, in any case) and its
    /// variant one `--voices=variant` lists. What `check` asks before an
    /// export would refuse the name.
    pub fn unknown_voice(program: &Path, voice: &str) -> Result<Option<UnknownVoice>, VoiceError> {
        let (language, variant) = match voice.split_once('+') {
            Some((language, variant)) => (language, Some(variant)),
            None => (voice, None),
        };
        let languages = listing(program, "--voices")?;
        if !languages.answers_to(language) {
            return Ok(Some(UnknownVoice {
                problem: format!("no voice \"{language}\""),
                fix: languages.fix(language, "voices"),
            }));
        }
        let Some(variant) = variant else {
            return Ok(None);
        };
        let variants = listing(program, "--voices=variant")?;
        Ok((!variants.answers_to(variant)).then(|| UnknownVoice {
            problem: format!("no variant \"{variant}\" (in \"{voice}\")"),
            fix: variants.fix(variant, "variants"),
        }))
    }

    /// Runs espeak-ng on `text` (already prepared) and returns its samples.
    fn run(&self, text: &str) -> Result<Clip, VoiceError> {
        let failed = |reason: String| VoiceError::Failed {
            engine: "espeak-ng".to_string(),
            text: text.to_string(),
            reason,
        };
        let mut child = Command::new(&self.program)
            .args(["--stdout", "-b", "1", "-v", &self.voice])
            .args(["-s", &self.words_per_minute.to_string()])
            .args(["-p", &self.pitch.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed(format!("cannot run {}: {e}", self.program.display())))?;
        // Written from another thread: espeak-ng may fill its stdout pipe
        // before it has read all of a long text.
        let mut stdin = child.stdin.take();
        let input = format!("{text}\n");
        let output = std::thread::scope(|scope| {
            scope.spawn(move || {
                if let Some(stdin) = stdin.as_mut() {
                    // A write error shows as a failed exit below.
                    let _ = stdin.write_all(input.as_bytes());
                }
            });
            child.wait_with_output()
        })
        .map_err(|e| failed(format!("lost contact with espeak-ng: {e}")))?;
        if !output.status.success() {
            return Err(failed(format!(
                "espeak-ng exited with {}: {}",
                output.status,
                first_line(&output.stderr)
            )));
        }
        if output.stdout.is_empty() {
            // Nothing to say: espeak-ng writes no WAV header at all.
            return Ok(Clip {
                rate: 22_050,
                samples: Vec::new(),
            });
        }
        read_wav(output.stdout).map_err(failed)
    }
}

impl Voice for EspeakVoice {
    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn label(&self) -> String {
        format!("espeak-ng {}", self.voice)
    }

    fn speak(&self, text: &str) -> Result<Clip, VoiceError> {
        // U+0001 and its kind are espeak-ng's embedded commands.
        let respelled = respell(&text::strip_controls(text), &self.substitutions);
        let prepared = if self.english {
            normalize(&respelled)
        } else {
            respelled
        };
        let clip = self.run(&prepared).map_err(|e| match e {
            VoiceError::Failed { engine, reason, .. } => VoiceError::Failed {
                engine,
                text: text.to_string(),
                reason,
            },
            other => other,
        })?;
        Ok(Clip {
            samples: trim_and_fade(&clip.samples, clip.rate),
            rate: clip.rate,
        })
    }
}

/// `espeak-ng` on `PATH`, or on Windows in its default install folder (its
/// installer does not add itself to `PATH`).
fn find_program() -> PathBuf {
    #[cfg(windows)]
    {
        let on_path = std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| dir.join("espeak-ng.exe").is_file())
        });
        if !on_path {
            for var in ["ProgramFiles", "ProgramFiles(x86)"] {
                if let Some(dir) = std::env::var_os(var) {
                    let exe = PathBuf::from(dir).join("eSpeak NG").join("espeak-ng.exe");
                    if exe.is_file() {
                        return exe;
                    }
                }
            }
        }
    }
    PathBuf::from(EspeakVoice::PROGRAM)
}

fn unavailable(program: &Path, error: &std::io::Error) -> VoiceError {
    VoiceError::Unavailable {
        engine: "espeak-ng".to_string(),
        reason: if error.kind() == std::io::ErrorKind::NotFound {
            format!(
                "the program `{}` was not found; {INSTALL_HINT}",
                program.display()
            )
        } else {
            format!(
                "cannot run `{}` ({error}); {INSTALL_HINT}",
                program.display()
            )
        },
    }
}

/// The first line of `espeak-ng --version`: its version and data folder,
/// both of which change the audio.
fn version(program: &Path) -> Result<String, VoiceError> {
    let output = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| unavailable(program, &e))?;
    let version = first_line(&output.stdout);
    if !output.status.success() || version.is_empty() {
        return Err(VoiceError::Unavailable {
            engine: "espeak-ng".to_string(),
            reason: format!(
                "`{} --version` failed ({}{}); {INSTALL_HINT}",
                program.display(),
                output.status,
                match first_line(&output.stderr) {
                    e if e.is_empty() => String::new(),
                    e => format!(": {e}"),
                }
            ),
        });
    }
    Ok(version)
}

/// Voice names are language codes and file names with an optional variant
/// (`en-gb-x-rp`, `mb/mb-en1`, `en-us+f3`); anything else is refused before
/// it reaches the command line.
/// A voice name is `language[+variant]`. espeak-ng reads the variant as a
/// path under its variants folder, so the variant may hold no `/` and no
/// name may hold `..`: `en+../../tmp/x` would load a file of anyone's
/// choosing as a voice.
fn check_voice_name(voice: &str) -> Result<(), VoiceError> {
    let (language, variant) = voice.split_once('+').unwrap_or((voice, ""));
    let fine = !language.is_empty()
        && !voice.starts_with('-')
        && !voice.contains("..")
        && language
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_/.".contains(c))
        && variant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
    if fine {
        Ok(())
    } else {
        Err(VoiceError::Invalid {
            what: format!("espeak-ng voice {voice:?}"),
            reason: "a voice name is a language code such as `en-us` or `fr`, optionally \
                     with a variant such as `+f3`; `vinyasa voices` lists them"
                .to_string(),
        })
    }
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

/// A voice name espeak-ng does not have: what is missing and what it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownVoice {
    /// What it lacks, naming the value: `no voice "xx"`, `no variant "zz"
    /// (in "en+zz")`.
    pub problem: String,
    /// What would fix it: the closest name it has, if one is close, and all
    /// of them.
    pub fix: String,
}

/// The names one of espeak-ng's listings holds.
struct Listing {
    /// The short names, in the listing's order, for the message: language
    /// codes, or variant files.
    shown: Vec<String>,
    /// Every name it answers to, lowercase: codes, voice names, files and
    /// the other languages a voice lists.
    accepted: Vec<String>,
}

impl Listing {
    fn answers_to(&self, name: &str) -> bool {
        self.accepted.contains(&name.to_lowercase())
    }

    /// "did you mean …? its voices are …".
    fn fix(&self, name: &str, what: &str) -> String {
        let name = name.to_lowercase();
        let close = self
            .shown
            .iter()
            .map(|s| (strsim::damerau_levenshtein(&name, &s.to_lowercase()), s))
            .filter(|(d, s)| *d <= 1.max(s.len() / 4) && *d < s.len())
            .min_by_key(|(d, _)| *d);
        let all = format!("its {what} are {}", self.shown.join(", "));
        match close {
            Some((_, s)) => format!("did you mean \"{s}\"? {all}"),
            None => all,
        }
    }
}

/// Runs `program ARG` (`--voices` or `--voices=variant`) and reads its
/// table: `Pty Language Age/Gender VoiceName File Other-languages`.
fn listing(program: &Path, arg: &str) -> Result<Listing, VoiceError> {
    let mut listing = Listing {
        shown: Vec::new(),
        accepted: Vec::new(),
    };
    for line in table(program, arg)?.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, language, _, name, file, ref others @ ..] = fields[..] else {
            continue;
        };
        // Other languages a voice speaks, as `(fr 8)(fr-fr 5)`: `-v fr`
        // picks one of them.
        let others = others.join(" ");
        let others = others
            .split('(')
            .filter_map(|other| other.split_whitespace().next());
        // Variants are all listed as the language "variant"; their files
        // are `!v/NAME`, and NAME is what follows the `+`.
        let variant = file.strip_prefix("!v/");
        let short = variant.unwrap_or(language);
        if !listing.shown.iter().any(|s| s == short) {
            listing.shown.push(short.to_string());
        }
        let names = match variant {
            Some(file) => vec![file, name],
            None => [language, name, file].into_iter().chain(others).collect(),
        };
        listing
            .accepted
            .extend(names.into_iter().map(str::to_lowercase));
    }
    Ok(listing)
}

/// What `program ARG` prints (`--voices` or `--voices=variant`), or why it
/// could not be run.
fn table(program: &Path, arg: &str) -> Result<String, VoiceError> {
    let output = Command::new(program)
        .arg(arg)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| unavailable(program, &e))?;
    if !output.status.success() {
        return Err(VoiceError::Unavailable {
            engine: "espeak-ng".to_string(),
            reason: format!(
                "`{} {arg}` failed: {}",
                program.display(),
                first_line(&output.stderr)
            ),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Parses `espeak-ng --voices`: a header, then
/// `Pty Language Age/Gender VoiceName File Other-languages` per line.
fn parse_voices(listing: &str) -> Vec<VoiceInfo> {
    let mut voices: Vec<VoiceInfo> = Vec::new();
    for line in listing.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, language, age_gender, name, file, ..] = fields[..] else {
            continue;
        };
        if file.starts_with("mb/") || voices.iter().any(|v| v.name.as_deref() == Some(language)) {
            continue;
        }
        let gender = match age_gender.rsplit('/').next() {
            Some("M") => ", male",
            Some("F") => ", female",
            _ => "",
        };
        voices.push(VoiceInfo {
            engine: Engine(&ENGINE),
            name: Some(language.to_string()),
            language: Some(language.to_string()),
            description: format!("{}{gender} (espeak-ng)", name.replace('_', " ")),
            installed: true,
        });
    }
    voices
}

/// Reads espeak-ng's WAV. Written to a pipe, its RIFF and data sizes are
/// placeholders (0x7ffff000-ish), so they are set from the real length
/// before hound reads it.
fn read_wav(mut bytes: Vec<u8>) -> Result<Clip, String> {
    let bad = |what: &str| format!("its output is not a WAV file espeak-ng writes ({what})");
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("no RIFF/WAVE header"));
    }
    let riff_len = u32::try_from(bytes.len() - 8).map_err(|_| bad("too long"))?;
    bytes[4..8].copy_from_slice(&riff_len.to_le_bytes());
    let mut at = 12;
    loop {
        let header = bytes.get(at..at + 8).ok_or_else(|| bad("no data chunk"))?;
        let id: [u8; 4] = header[..4].try_into().map_err(|_| bad("short chunk"))?;
        let len = u32::from_le_bytes(header[4..8].try_into().map_err(|_| bad("short chunk"))?);
        if &id == b"data" {
            let real = (bytes.len() - at - 8) as u32 & !1;
            bytes[at + 4..at + 8].copy_from_slice(&real.to_le_bytes());
            break;
        }
        at += 8 + len as usize + (len as usize & 1);
    }
    let mut reader = hound::WavReader::new(Cursor::new(bytes)).map_err(|e| bad(&e.to_string()))?;
    let spec = reader.spec();
    if spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(bad(&format!(
            "{} channels, {} bits: expected mono 16-bit",
            spec.channels, spec.bits_per_sample
        )));
    }
    let samples = reader
        .samples::<i16>()
        .map(|s| s.map(|s| f32::from(s) / 32768.0))
        .collect::<Result<Vec<f32>, _>>()
        .map_err(|e| bad(&e.to_string()))?;
    Ok(Clip {
        rate: spec.sample_rate,
        samples,
    })
}

/// ARPAbet phones written as espeak-ng phoneme input for English voices:
/// `uw0 jh ay1 iy0` → `[[u:dZ'aIi:]]` (a stressed vowel is preceded by `'`).
fn espeak_phonemes(word: &str, phones: &str) -> Result<String, VoiceError> {
    let mut out = String::from("[[");
    for phone in flite_phones(phones).split_whitespace() {
        let (bare, stress) = match phone.strip_suffix(['0', '1']) {
            Some(bare) => (bare, phone.ends_with('1')),
            None => (phone, false),
        };
        let mnemonic = match bare {
            "aa" => "A:",
            "ae" => "a",
            "ah" => "V",
            "ao" => "O:",
            "aw" => "aU",
            "ax" => "@",
            "axr" => "3",
            "ay" => "aI",
            "eh" => "E",
            "er" => "3:",
            "ey" => "eI",
            "ih" => "I",
            "iy" => "i:",
            "ow" => "oU",
            "oy" => "OI",
            "uh" => "U",
            "uw" => "u:",
            "el" => "@L",
            "em" => "@m",
            "en" => "@n",
            "b" | "d" | "f" | "g" | "k" | "l" | "m" | "n" | "p" | "r" | "s" | "t" | "v" | "w"
            | "z" => bare,
            "ch" => "tS",
            "dh" => "D",
            "dx" => "t",
            "hh" | "hv" => "h",
            "jh" => "dZ",
            "ng" => "N",
            "nx" => "n",
            "sh" => "S",
            "th" => "T",
            "y" => "j",
            "zh" => "Z",
            "pau" => "_",
            _ => {
                return Err(VoiceError::Invalid {
                    what: format!("pronunciation of {word:?}"),
                    reason: format!(
                        "{phone:?} is not an ARPAbet phone; use phones such as \"uw0 jh ay1 iy0\""
                    ),
                });
            }
        };
        if stress {
            out.push('\'');
        }
        out.push_str(mnemonic);
    }
    out.push_str("]]");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// espeak-ng on this machine, if installed: the real-synthesis tests
    /// run only then (CI installs it).
    fn installed() -> Option<EspeakVoice> {
        EspeakVoice::new(&VoiceSettings::default(), &[]).ok()
    }

    #[test]
    fn a_missing_program_says_how_to_install_it() {
        let missing = Path::new("/nonexistent/bin/espeak-ng");
        let Err(err) = EspeakVoice::with_program(missing, &VoiceSettings::default(), &[]) else {
            panic!("a missing program was accepted");
        };
        assert!(matches!(err, VoiceError::Unavailable { ref engine, .. } if engine == "espeak-ng"));
        let message = err.to_string();
        assert!(
            message.starts_with(
                "espeak-ng is not available: the program `/nonexistent/bin/espeak-ng` was not found; install it"
            ),
            "{message}"
        );
        for hint in [
            "sudo apt install espeak-ng",
            "brew install espeak-ng",
            "Windows",
            "the built-in voice, flite",
        ] {
            assert!(message.contains(hint), "{hint} missing from {message}");
        }
        assert!(matches!(
            EspeakVoice::voices(missing),
            Err(VoiceError::Unavailable { .. })
        ));
    }

    #[test]
    fn a_program_that_fails_is_unavailable() {
        // `false` exists everywhere this runs and prints no version.
        let Err(err) = EspeakVoice::with_program("false", &VoiceSettings::default(), &[]) else {
            panic!("`false` was accepted as espeak-ng");
        };
        assert!(
            err.to_string().contains("`false --version` failed"),
            "{err}"
        );
    }

    #[test]
    fn voice_names_cannot_smuggle_options() {
        for name in [
            "-w/tmp/x",
            "en us",
            "en;rm",
            "",
            "en+../../../../tmp/x",
            "en+f3/x",
            "../x",
            "+f3",
        ] {
            assert!(check_voice_name(name).is_err(), "{name:?}");
        }
        for name in ["en-us", "en-gb-x-rp", "en-us+f3", "mb/mb-en1", "fr"] {
            assert!(check_voice_name(name).is_ok(), "{name:?}");
        }
    }

    #[test]
    fn reads_the_voice_listing() {
        let listing =
            "Pty Language       Age/Gender VoiceName          File                 Other Languages
 5  af              --/M      Afrikaans          gmw/af
 2  en-us           --/M      English_(America)  gmw/en-US            (en 3)
 5  en-us           --/F      us-mbrola-1        mb/mb-us1            (en 8)
 5  en-us           --/M      us-mbrola-3        mb/mb-us3            (en 8)
 5  fr-fr           --/F      French_(France)    roa/fr               (fr 5)
";
        let voices = parse_voices(listing);
        let lines: Vec<(Option<&str>, &str)> = voices
            .iter()
            .map(|v| (v.name.as_deref(), v.description.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (Some("af"), "Afrikaans, male (espeak-ng)"),
                (Some("en-us"), "English (America), male (espeak-ng)"),
                (Some("fr-fr"), "French (France), female (espeak-ng)"),
            ]
        );
        assert!(
            voices
                .iter()
                .all(|v| v.installed && v.engine == Engine(&ENGINE))
        );
    }

    #[test]
    fn reads_wav_written_to_a_pipe() {
        // The header espeak-ng writes to a pipe: placeholder sizes.
        let mut wav = Vec::new();
        wav.extend_from_slice(b"RIFF");
        wav.extend_from_slice(&0x7fff_f024u32.to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
        wav.extend_from_slice(&1u16.to_le_bytes()); // mono
        wav.extend_from_slice(&22_050u32.to_le_bytes());
        wav.extend_from_slice(&44_100u32.to_le_bytes());
        wav.extend_from_slice(&2u16.to_le_bytes());
        wav.extend_from_slice(&16u16.to_le_bytes());
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&0x7fff_f000u32.to_le_bytes());
        for s in [0i16, 16_384, -32_768, 1] {
            wav.extend_from_slice(&s.to_le_bytes());
        }
        wav.push(0); // a stray odd byte at the end
        let clip = read_wav(wav).unwrap();
        assert_eq!(clip.rate, 22_050);
        assert_eq!(clip.samples, [0.0, 0.5, -1.0, 1.0 / 32768.0]);
        assert!(
            read_wav(b"RIFF\0\0\0\0WAVE".to_vec())
                .unwrap_err()
                .contains("no data chunk")
        );
        assert!(read_wav(b"ID3".to_vec()).is_err());
    }

    #[test]
    fn phones_become_espeak_phoneme_input() {
        assert_eq!(
            espeak_phonemes("ujjayi", "uw0 jh ay1 iy0").unwrap(),
            "[[u:dZ'aIi:]]"
        );
        assert_eq!(espeak_phonemes("om", "OW1 M").unwrap(), "[['oUm]]");
        assert!(
            espeak_phonemes("om", "ow1 q")
                .unwrap_err()
                .to_string()
                .contains("\"q\"")
        );
    }

    #[test]
    fn speaks_when_installed() {
        let Some(voice) = installed() else {
            eprintln!("espeak-ng is not installed: real synthesis not tested");
            return;
        };
        let clip = voice.speak("Inhale, and reach up.").unwrap();
        assert_eq!(clip.rate, 22_050);
        assert!(
            clip.samples.len() > 22_050 / 2,
            "{} samples",
            clip.samples.len()
        );
        let n = clip.samples.len();
        assert_eq!((clip.samples[0], clip.samples[n - 1]), (0.0, 0.0));
        assert_eq!(clip, voice.speak("Inhale, and reach up.").unwrap());
        assert!(
            voice
                .identity()
                .starts_with("espeak-ng/eSpeak NG text-to-speech: ")
        );
        assert!(voice.speak("").unwrap().samples.is_empty());

        // Shorthand is expanded for English voices: "3-5" is not "three dash five".
        assert_eq!(
            voice.speak("3-5 breaths").unwrap(),
            voice.speak("3 to 5 breaths").unwrap()
        );

        // Slower speech is longer.
        let slow = EspeakVoice::new(
            &VoiceSettings {
                speed: 0.7,
                ..Default::default()
            },
            &[],
        )
        .unwrap();
        assert!(slow.speak("Inhale, and reach up.").unwrap().samples.len() > n * 5 / 4);

        // Phones reach espeak-ng as phoneme input.
        let custom = [Pronunciation {
            word: "ujjayi".into(),
            respell: None,
            phones: Some("uw0 jh ay1 iy0".into()),
        }];
        let with = EspeakVoice::new(&VoiceSettings::default(), &custom).unwrap();
        assert_ne!(
            with.speak("Ujjayi").unwrap(),
            voice.speak("Ujjayi").unwrap()
        );
        assert_ne!(with.identity(), voice.identity());
    }

    #[test]
    fn unknown_voices_are_refused_when_installed() {
        if installed().is_none() {
            return;
        }
        let settings = VoiceSettings {
            engine: Engine(&ENGINE),
            name: Some("xx-nosuch".into()),
            ..Default::default()
        };
        let Err(err) = EspeakVoice::new(&settings, &[]) else {
            panic!("an unknown voice was accepted");
        };
        let message = err.to_string();
        // Found in espeak-ng's lists before it is run.
        assert!(
            message.starts_with(
                "espeak-ng voice \"xx-nosuch\": espeak-ng has no voice \"xx-nosuch\"; its voices are "
            ),
            "{message}"
        );
        assert!(message.contains(" en-us,"), "{message}");
    }
}
