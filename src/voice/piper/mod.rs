//! Piper neural voices (`NAME.onnx` + `NAME.onnx.json`), spoken by the
//! Piper program from the PyPI package `piper-tts`, run as a separate
//! process: Piper and the espeak-ng it phonemizes with are GPL-3.0, so
//! vinyasa never links them (see its `process` module).
//!
//! Where things are:
//!
//! * **Python with Piper**: the private environment that `vinyasa voices
//!   install` makes ([`venv_dir`], under the user's data dir), or any
//!   Python with `piper-tts` named by `VINYASA_PIPER_PYTHON`.
//! * **Voices**: [`voices_dir`] (where Piper's own downloader can put them:
//!   `python -m piper.download_voices --data-dir …`), the data folders of
//!   the PyPI voice packages in that Python's site-packages, or a path to a
//!   `.onnx` file as the voice name.
//!
//! Piper's VITS models draw random noise inside the model, so the same text
//! gives different samples from run to run. A [`PiperVoice`] keeps every
//! clip it spoke and answers the same text with the same clip, so a plan
//! and its render agree; the clip cache keeps them between runs, so a
//! second export is byte-identical (its key holds the model file's hash
//! and every setting).

mod install;
pub(crate) mod models;
mod process;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

pub use install::{InstallError, Installed, KNOWN_VOICES, install};
pub use models::PiperModel;
use process::{Frame, Worker, WorkerError};

use super::cache::sha256_hex;
use super::edges::{self, trim_and_fade};
use super::text::{self, normalize, respell};
use super::{
    Clip, Done, Engine, EngineEntry, Pronunciation, Voice, VoiceError, VoiceInfo, VoiceSettings,
};
use crate::Cancel;

/// The Piper engine in [`super::ENGINES`].
pub(super) static ENGINE: EngineEntry = EngineEntry {
    name: "piper",
    aliases: &[],
    built_in: false,
    open: |settings, pronunciations| {
        let setup = PiperSetup::from_env()?;
        Ok(Box::new(PiperVoice::new(&setup, settings, pronunciations)?))
    },
    voices: || PiperSetup::from_env()?.voices(),
};

/// The environment variable naming a Python that has `piper-tts`, used
/// instead of the private environment.
pub const PYTHON_ENV: &str = "VINYASA_PIPER_PYTHON";
/// The environment variable moving vinyasa's data folder (the private
/// Piper environment and `voices/`).
pub const DATA_ENV: &str = "VINYASA_DATA_DIR";
/// The environment variable setting how many seconds Piper may take to
/// load a model or to speak one phrase before it is stopped.
pub const TIMEOUT_ENV: &str = "VINYASA_PIPER_TIMEOUT";

/// How to get Piper.
const INSTALL_HINT: &str = "run `vinyasa voices install joe` (sets up Piper and the voice \
    \"joe\" in a private Python environment; needs Python 3 and the network), or use the \
    built-in voice, flite";

/// vinyasa's data folder: `VINYASA_DATA_DIR`, or the platform's data
/// directory + `vinyasa` (`~/.local/share/vinyasa` on Linux).
pub fn data_dir() -> Option<PathBuf> {
    match std::env::var_os(DATA_ENV) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => dirs::data_dir().map(|d| d.join("vinyasa")),
    }
}

/// The private Python environment with Piper: `piper/` in [`data_dir`].
pub fn venv_dir() -> Option<PathBuf> {
    data_dir().map(|d| d.join("piper"))
}

/// The folder of voices people add by hand or with Piper's downloader:
/// `voices/` in [`data_dir`].
pub fn voices_dir() -> Option<PathBuf> {
    data_dir().map(|d| d.join("voices"))
}

/// Which Python runs Piper, where voices are looked for, and how long it
/// may take.
#[derive(Clone, Debug)]
pub struct PiperSetup {
    /// A Python with `piper-tts` installed.
    pub python: PathBuf,
    /// Folders searched for voices, before the site-packages of `python`.
    pub voice_dirs: Vec<PathBuf>,
    /// How long loading the model may take.
    pub start_timeout: Duration,
    /// How long one phrase may take.
    pub clip_timeout: Duration,
}

/// What a Python says about its Piper.
struct Probe {
    /// The piper-tts version.
    version: String,
    /// Its site-packages folder.
    purelib: PathBuf,
}

impl PiperSetup {
    /// The Python of `VINYASA_PIPER_PYTHON`, or the private environment's;
    /// [`VoiceError::Unavailable`] saying how to install it if there is none.
    pub fn from_env() -> Result<PiperSetup, VoiceError> {
        let timeout = std::env::var(TIMEOUT_ENV)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| *s > 0.0 && s.is_finite())
            .map(Duration::from_secs_f64);
        let python = match std::env::var_os(PYTHON_ENV) {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => {
                let venv = venv_dir().ok_or_else(|| unavailable(
                    "this system has no data directory for its environment (set VINYASA_DATA_DIR)".into(),
                ))?;
                let python = process::venv_python(&venv);
                if !python.exists() {
                    return Err(unavailable(format!(
                        "Piper is not installed ({} does not exist); {INSTALL_HINT}",
                        venv.display()
                    )));
                }
                python
            }
        };
        Ok(PiperSetup {
            python,
            voice_dirs: voices_dir().into_iter().collect(),
            start_timeout: timeout.unwrap_or(Duration::from_secs(120)),
            clip_timeout: timeout.unwrap_or(Duration::from_secs(60)),
        })
    }

    /// The piper-tts version and site-packages of the Python: read from a
    /// virtual environment's folders when it is one (a warm export starts
    /// no Python at all), else asked of the Python.
    fn probe(&self) -> Result<Probe, VoiceError> {
        if let Some(found) = read_venv(&self.python) {
            return Ok(found);
        }
        self.ask_python()
    }

    /// Asks the Python for its piper-tts version and site-packages.
    fn ask_python(&self) -> Result<Probe, VoiceError> {
        let python = self.python.display();
        let output = process::run(
            &self.python,
            &["-c".as_ref(), process::PROBE.as_ref()],
            &[],
            self.start_timeout,
        )
        .map_err(|e| {
            unavailable(if e.kind() == std::io::ErrorKind::NotFound {
                format!("its Python {python} was not found; {INSTALL_HINT}")
            } else {
                format!("its Python {python} cannot be run ({e}); {INSTALL_HINT}")
            })
        })?
        .ok_or_else(|| {
            unavailable(format!(
                "its Python {python} did not answer in {} s",
                self.start_timeout.as_secs()
            ))
        })?;
        let json: Option<serde_json::Value> = output
            .status
            .success()
            .then(|| serde_json::from_slice(&output.stdout).ok())
            .flatten();
        let Some(json) = json else {
            return Err(unavailable(format!(
                "its Python {python} failed ({}: {}); {INSTALL_HINT}",
                output.status,
                last_line(&output.stderr)
            )));
        };
        let Some(version) = json.get("piper").and_then(|v| v.as_str()) else {
            return Err(unavailable(format!(
                "the package piper-tts is not installed in {python}; {INSTALL_HINT}"
            )));
        };
        Ok(Probe {
            version: version.to_string(),
            purelib: PathBuf::from(json.get("purelib").and_then(|v| v.as_str()).unwrap_or("")),
        })
    }

    /// Every voice found, and the voices that are there but broken.
    fn models(&self, probe: &Probe) -> (Vec<PiperModel>, Vec<VoiceError>) {
        let mut dirs = self.voice_dirs.clone();
        dirs.push(probe.purelib.clone());
        models::find(&dirs)
    }

    /// The installed voices, for `vinyasa voices`.
    pub fn voices(&self) -> Result<Vec<VoiceInfo>, VoiceError> {
        let probe = self.probe()?;
        let (models, broken) = self.models(&probe);
        let mut voices: Vec<VoiceInfo> = models
            .iter()
            .map(|m| VoiceInfo {
                engine: Engine(&ENGINE),
                name: Some(m.name.clone()),
                language: Some(m.language.clone()),
                description: format!("{} (Piper {})", m.description(), probe.version),
                installed: true,
            })
            .collect();
        voices.extend(broken.into_iter().map(|e| VoiceInfo {
            engine: Engine(&ENGINE),
            name: None,
            language: None,
            description: format!("a damaged voice: {e}"),
            installed: false,
        }));
        if voices.is_empty() {
            return Err(unavailable(format!(
                "Piper {} is installed but has no voice; {INSTALL_HINT}",
                probe.version
            )));
        }
        Ok(voices)
    }
}

/// The piper-tts version and site-packages of the virtual environment
/// whose Python is `python`, from its folders: `pyvenv.cfg` beside
/// `bin/`, one `lib/python3.*/site-packages` (`Lib/site-packages` on
/// Windows) holding one `piper_tts-VERSION.dist-info`. `None` when any of
/// that is not so: then the Python is asked.
fn read_venv(python: &Path) -> Option<Probe> {
    let venv = python.parent()?.parent()?;
    if !venv.join("pyvenv.cfg").is_file() {
        return None;
    }
    let only = |dirs: Vec<PathBuf>| -> Option<PathBuf> {
        let [one] = <[PathBuf; 1]>::try_from(dirs).ok()?;
        Some(one)
    };
    let children = |dir: &Path, keep: &dyn Fn(&str) -> bool| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| keep(&e.file_name().to_string_lossy()))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    };
    let purelib = if cfg!(windows) {
        venv.join("Lib").join("site-packages")
    } else {
        only(children(&venv.join("lib"), &|n| n.starts_with("python3")))?.join("site-packages")
    };
    let dist = only(children(&purelib, &|n| {
        n.starts_with("piper_tts-") && n.ends_with(".dist-info")
    }))?;
    let name = dist.file_name()?.to_str()?;
    let version = name
        .strip_prefix("piper_tts-")?
        .strip_suffix(".dist-info")?;
    Some(Probe {
        version: version.to_string(),
        purelib,
    })
}

fn unavailable(reason: String) -> VoiceError {
    VoiceError::Unavailable {
        engine: "piper".to_string(),
        reason,
    }
}

fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

/// A Piper voice, spoken by one Piper process started at its first phrase
/// (a cached export starts none) and kept for the voice's life.
pub struct PiperVoice {
    setup: PiperSetup,
    model: PiperModel,
    /// The driver's arguments after `-c DRIVER`.
    args: Vec<String>,
    english: bool,
    substitutions: Vec<Pronunciation>,
    identity: String,
    warnings: Vec<String>,
    worker: Mutex<Option<Worker>>,
    /// Every clip spoken, by prepared text: Piper's output is random, the
    /// contract of [`Voice`] is one text, one clip.
    spoken: Mutex<HashMap<String, Clip>>,
}

impl PiperVoice {
    /// Speech a little slower than the model's own pace: a guided session
    /// is heard with the eyes closed, often while moving.
    pub const CLEAR_LENGTH: f32 = 1.1;
    /// Silence between the sentences of one phrase, in seconds.
    pub const SENTENCE_SILENCE: f32 = 0.25;

    /// The voice `settings.name` names (an installed voice's name, its
    /// short name such as `joe`, or a path to a `.onnx` file), or the
    /// first installed voice of the routine's language; with the routine's
    /// pronunciations.
    pub fn new(
        setup: &PiperSetup,
        settings: &VoiceSettings,
        pronunciations: &[Pronunciation],
    ) -> Result<Self, VoiceError> {
        settings.check()?;
        let probe = setup.probe()?;
        let language = settings.language.as_deref().unwrap_or("en");
        let model = choose(setup, &probe, settings.name.as_deref(), language)?;
        if !model.speaks(language) {
            return Err(VoiceError::Invalid {
                what: format!("Piper voice {:?}", model.name),
                reason: format!(
                    "it speaks {} ({}), but the routine's language is {language:?}; choose a \
                     voice of that language (`vinyasa voices` lists them) or change `language`",
                    model.language_name.as_deref().unwrap_or(&model.language),
                    model.language
                ),
            });
        }
        let mut warnings = Vec::new();
        if settings.pitch != 1.0 {
            warnings.push(format!(
                "Piper voices have no pitch setting: pitch {} is ignored for {}",
                settings.pitch, model.name
            ));
        }
        let english = model.speaks("en");
        let mut substitutions = Vec::new();
        for p in pronunciations {
            let respelling = match (&p.respell, &p.phones) {
                (Some(respelling), _) => respelling.clone(),
                (None, Some(phones)) if english => ipa_phonemes(&p.word, phones)?,
                (None, Some(_)) => {
                    warnings.push(format!(
                        "the pronunciation of {:?} gives only ARPAbet phones, which are English; \
                         {} speaks {}: give a respelling (`say`) or Piper phonemes \
                         (`say = \"[[ ... ]]\"`)",
                        p.word, model.name, model.language
                    ));
                    continue;
                }
                (None, None) => {
                    return Err(p.says_nothing());
                }
            };
            substitutions.push(Pronunciation {
                respell: Some(respelling),
                ..p.clone()
            });
        }
        let length = model.length_scale * Self::CLEAR_LENGTH / settings.speed;
        let speaker = if model.speakers > 1 { "0" } else { "" };
        let args = vec![
            model.onnx.display().to_string(),
            model.config.display().to_string(),
            format!("{length:.4}"),
            format!("{:.4}", model.noise_scale),
            format!("{:.4}", model.noise_w),
            speaker.to_string(),
            format!("{:.3}", Self::SENTENCE_SILENCE),
        ];
        let model_hash = file_hash(&model.onnx)?;
        let config_hash = file_hash(&model.config)?;
        let lexicon: String = substitutions
            .iter()
            .map(|p| {
                format!(
                    "{}\u{1f}{}\u{1e}",
                    p.word,
                    p.respell.as_deref().unwrap_or("")
                )
            })
            .collect();
        let identity = format!(
            "piper/{}/model={}/config={}/piper-tts={}/driver-v{}/{}/text-v{}/edges-v{}/lex={}",
            model.name,
            &model_hash[..16],
            &config_hash[..16],
            probe.version,
            process::DRIVER_VERSION,
            args[2..].join(","),
            text::VERSION,
            edges::VERSION,
            &sha256_hex(lexicon.as_bytes())[..16],
        );
        Ok(PiperVoice {
            setup: setup.clone(),
            model,
            args,
            english,
            substitutions,
            identity,
            warnings,
            worker: Mutex::new(None),
            spoken: Mutex::new(HashMap::new()),
        })
    }

    /// The model it speaks with.
    pub fn model(&self) -> &PiperModel {
        &self.model
    }

    /// The text Piper is given: respelled, and for English voices with
    /// shorthand written out (`3-5 min` → `3 to 5 minutes`).
    fn prepare(&self, text: &str) -> String {
        let respelled = respell(text, &self.substitutions);
        let prepared = if self.english {
            normalize(&respelled)
        } else {
            respelled
        };
        // One phrase is one line of the driver's input.
        prepared.replace(['\n', '\r'], " ").trim().to_string()
    }

    fn failed(&self, text: &str, reason: String) -> VoiceError {
        VoiceError::Failed {
            engine: "piper".to_string(),
            text: text.to_string(),
            reason,
        }
    }

    /// What a worker's failure means for a phrase.
    fn worker_error(&self, error: &WorkerError) -> String {
        match error {
            WorkerError::Spawn(e) => format!(
                "its Python {} cannot be started ({e}); {INSTALL_HINT}",
                self.setup.python.display()
            ),
            WorkerError::Exited(why) if why.contains("cannot load the model") => format!(
                "the model {} could not be loaded ({why}); the file is damaged or not a \
                 Piper voice: install or download it again",
                self.model.onnx.display()
            ),
            WorkerError::Exited(why) => format!(
                "the Piper program stopped ({why}); nothing it said after its last whole \
                 clip was kept"
            ),
            WorkerError::Hung(after) => format!(
                "the Piper program gave no answer in {} s and was stopped (set {TIMEOUT_ENV} \
                 to wait longer on a slow machine)",
                after.as_secs_f64()
            ),
        }
    }

    /// Speaks `texts` (prepared, distinct, not yet spoken) with the worker
    /// in `slot`, starting one if needed, reporting each as it arrives.
    fn run_batch(
        &self,
        slot: &mut Option<Worker>,
        texts: &[&str],
        cancel: &Cancel,
        report: &dyn Fn(usize, Result<Clip, String>),
    ) {
        if slot.is_none() {
            match Worker::start(&self.setup.python, &self.args, self.setup.start_timeout) {
                Ok(worker) => *slot = Some(worker),
                Err(e) => {
                    let reason = self.worker_error(&e);
                    for k in 0..texts.len() {
                        report(k, Err(reason.clone()));
                    }
                    return;
                }
            }
        }
        let worker = slot.as_mut().expect("started above");
        let rate = worker.rate;
        let Some(mut input) = worker.take_input() else {
            *slot = None;
            for k in 0..texts.len() {
                report(k, Err("the Piper program's input is closed".into()));
            }
            return;
        };
        let mut dead = false;
        let input = std::thread::scope(|scope| {
            let writer = scope.spawn(move || {
                use std::io::Write;
                for text in texts {
                    if cancel.is_cancelled() {
                        break;
                    }
                    let line = format!("{}\n", serde_json::Value::String((*text).to_string()));
                    if input
                        .write_all(line.as_bytes())
                        .and_then(|()| input.flush())
                        .is_err()
                    {
                        // It died; its answers say how.
                        break;
                    }
                }
                input
            });
            for k in 0..texts.len() {
                if cancel.is_cancelled() {
                    dead = true;
                    break;
                }
                match worker.next(self.setup.clip_timeout) {
                    Ok(Frame::Clip(samples)) => {
                        let raw: Vec<f32> =
                            samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
                        report(
                            k,
                            Ok(Clip {
                                samples: trim_and_fade(&raw, rate),
                                rate,
                            }),
                        );
                    }
                    Ok(Frame::Failed(message)) => {
                        report(k, Err(format!("Piper failed: {message}")))
                    }
                    Ok(other) => {
                        let reason = format!("the Piper program sent {other:?} instead of a clip");
                        for rest in k..texts.len() {
                            report(rest, Err(reason.clone()));
                        }
                        dead = true;
                        break;
                    }
                    Err(e) => {
                        let reason = self.worker_error(&e);
                        for rest in k..texts.len() {
                            report(rest, Err(reason.clone()));
                        }
                        dead = true;
                        break;
                    }
                }
            }
            if dead {
                // A writer blocked on a full pipe is freed by the kill.
                worker.kill();
            }
            writer.join().ok()
        });
        match (slot.as_mut(), input) {
            (Some(worker), Some(input)) if !dead => worker.restore_input(input),
            _ => *slot = None,
        }
    }
}

impl Voice for PiperVoice {
    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn label(&self) -> String {
        format!("piper {}", self.model.name)
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn speak(&self, text: &str) -> Result<Clip, VoiceError> {
        let result = Mutex::new(None);
        self.speak_batch(&[text], &Cancel::new(), &|_, r| {
            *result.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        });
        result
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or_else(|| Err(self.failed(text, "it was cancelled".into())))
    }

    /// One Piper process for the whole batch (the model loaded once),
    /// each clip reported as it arrives; a text spoken before is answered
    /// with the same clip.
    fn speak_batch(&self, texts: &[&str], cancel: &Cancel, done: Done<'_, Clip>) {
        let prepared: Vec<String> = texts.iter().map(|t| self.prepare(t)).collect();
        let empty = Clip {
            rate: self.model.sample_rate,
            samples: Vec::new(),
        };
        // What was spoken before is answered without waiting for a batch
        // that runs (the player asks for clips while the session's batch
        // is still being spoken).
        let unspoken = {
            let spoken = self.spoken.lock().unwrap_or_else(|e| e.into_inner());
            prepared
                .iter()
                .any(|text| !text.is_empty() && !spoken.contains_key(text))
        };
        // A batch at a time: a second waits, then finds the first's clips.
        let mut slot = unspoken.then(|| self.worker.lock().unwrap_or_else(|e| e.into_inner()));
        let mut askers: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut missing: Vec<&str> = Vec::new();
        let mut known = Vec::new();
        {
            let spoken = self.spoken.lock().unwrap_or_else(|e| e.into_inner());
            for (i, text) in prepared.iter().enumerate() {
                if text.is_empty() {
                    known.push((i, empty.clone()));
                } else if let Some(clip) = spoken.get(text) {
                    known.push((i, clip.clone()));
                } else {
                    let who = askers.entry(text).or_default();
                    if who.is_empty() {
                        missing.push(text);
                    }
                    who.push(i);
                }
            }
        }
        for (i, clip) in known {
            if cancel.is_cancelled() {
                return;
            }
            done(i, Ok(clip));
        }
        if missing.is_empty() || cancel.is_cancelled() {
            return;
        }
        // Clips are never forgotten: what is missing now was missing then.
        let slot = slot
            .as_mut()
            .expect("the worker is locked when a text is unspoken");
        self.run_batch(slot, &missing, cancel, &|k, result| {
            if let Ok(clip) = &result {
                self.spoken
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(missing[k].to_string(), clip.clone());
            }
            for &i in &askers[missing[k]] {
                done(
                    i,
                    result
                        .clone()
                        .map_err(|reason| self.failed(texts[i], reason)),
                );
            }
        });
    }

    fn length_batch(&self, texts: &[&str], cancel: &Cancel, done: Done<'_, (u32, u64)>) {
        self.speak_batch(texts, cancel, &|i, r| {
            done(i, r.map(|c| (c.rate, c.samples.len() as u64)));
        });
    }

    /// Piper starts in a second or two and speaks at a few times real
    /// time: a session's phrases take minutes.
    fn speaks_slowly(&self, texts: &[&str]) -> bool {
        let spoken = self.spoken.lock().unwrap_or_else(|e| e.into_inner());
        texts.iter().any(|text| {
            let prepared = self.prepare(text);
            !prepared.is_empty() && !spoken.contains_key(&prepared)
        })
    }
}

/// The voice named `name`, or the first of `language` when none is named.
fn choose(
    setup: &PiperSetup,
    probe: &Probe,
    name: Option<&str>,
    language: &str,
) -> Result<PiperModel, VoiceError> {
    if let Some(name) = name {
        let path = Path::new(name);
        if name.ends_with(".onnx") || path.components().count() > 1 {
            return PiperModel::read(path);
        }
    }
    let (models, broken) = setup.models(probe);
    let found = match name {
        Some(name) => {
            let exact = models.iter().find(|m| m.name == name);
            let short: Vec<&PiperModel> = models
                .iter()
                .filter(|m| m.short_name().eq_ignore_ascii_case(name))
                .collect();
            match (exact, short.as_slice()) {
                (Some(m), _) => Some(m),
                (None, [m]) => Some(*m),
                (None, [m, ..]) => short
                    .iter()
                    .find(|m| m.speaks(language))
                    .copied()
                    .or(Some(*m)),
                (None, []) => None,
            }
        }
        None => models.iter().find(|m| m.speaks(language)),
    };
    if let Some(model) = found {
        return Ok(model.clone());
    }
    let installed = if models.is_empty() {
        "no Piper voice is installed".to_string()
    } else {
        format!(
            "the voices installed are {}",
            models
                .iter()
                .map(|m| format!("{} ({})", m.name, m.language))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let broken = match broken.first() {
        Some(e) => format!("; a voice is damaged: {e}"),
        None => String::new(),
    };
    Err(match name {
        Some(name) => VoiceError::Invalid {
            what: format!("Piper voice {name:?}"),
            reason: format!(
                "not found; {installed}{broken} (`vinyasa voices install joe` installs one; a \
                 path to a NAME.onnx file works too)"
            ),
        },
        None => VoiceError::Invalid {
            what: format!("a Piper voice for language {language:?}"),
            reason: format!(
                "none is installed; {installed}{broken}; name one as the voice (`name` in [voice]), or put a \
                 voice of that language in {}",
                voices_dir().map_or_else(|| "a folder".to_string(), |d| d.display().to_string())
            ),
        },
    })
}

/// The SHA-256 of a file, in hex; remembered in the data folder by path,
/// size and modification time, since a model is tens of megabytes and a
/// warm export should not read it.
fn file_hash(path: &Path) -> Result<String, VoiceError> {
    let unreadable = |e: std::io::Error| VoiceError::Invalid {
        what: format!("Piper voice {}", path.display()),
        reason: format!("cannot be read ({e})"),
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let key = sha256_hex(format!("{}\0{}\0{modified}", absolute.display(), meta.len()).as_bytes());
    // Small files are hashed faster than a memo is read.
    let memo = (meta.len() > 1 << 20)
        .then(data_dir)
        .flatten()
        .map(|d| d.join("model-hashes").join(&key[..32]));
    if let Some(memo) = &memo
        && let Ok(hash) = std::fs::read_to_string(memo)
        && hash.len() == 64
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Ok(hash);
    }
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    std::io::copy(&mut file, &mut hasher).map_err(unreadable)?;
    let hash: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if let Some(memo) = memo
        && let Some(dir) = memo.parent()
        && std::fs::create_dir_all(dir).is_ok()
        && let Ok(mut file) = crate::atomic::AtomicFile::new(&memo)
    {
        // Only a speed-up: a failure to remember is not an error.
        use std::io::Write;
        if file.file().write_all(hash.as_bytes()).is_ok() {
            let _ = file.commit(
                crate::atomic::Overwrite::Replace,
                crate::atomic::Durability::Unsynced,
            );
        }
    }
    Ok(hash)
}

/// ARPAbet phones as Piper's raw phoneme input for English voices (the IPA
/// of espeak-ng that Piper's English models were trained on):
/// `uw0 jh ay1 iy0` → `[[uːdʒˈaɪiː]]`.
fn ipa_phonemes(word: &str, phones: &str) -> Result<String, VoiceError> {
    let mut out = String::from("[[");
    for phone in super::lexicon::flite_phones(phones).split_whitespace() {
        let (bare, stress) = match phone.strip_suffix(['0', '1']) {
            Some(bare) => (bare, Some(phone.ends_with('1'))),
            None => (phone, None),
        };
        let ipa = match (bare, stress) {
            ("aa", _) => "ɑː",
            ("ae", _) => "æ",
            ("ah", Some(false)) | ("ax", _) => "ə",
            ("ah", _) => "ʌ",
            ("ao", _) => "ɔː",
            ("aw", _) => "aʊ",
            ("ay", _) => "aɪ",
            ("eh", _) => "ɛ",
            ("er", Some(false)) | ("axr", _) => "ɚ",
            ("er", _) => "ɜː",
            ("ey", _) => "eɪ",
            ("ih", _) => "ɪ",
            ("iy", _) => "iː",
            ("ow", _) => "oʊ",
            ("oy", _) => "ɔɪ",
            ("uh", _) => "ʊ",
            ("uw", _) => "uː",
            ("b" | "d" | "f" | "k" | "l" | "m" | "n" | "p" | "s" | "t" | "v" | "w" | "z", _) => {
                bare
            }
            ("g", _) => "ɡ",
            ("r", _) => "ɹ",
            ("ch", _) => "tʃ",
            ("dh", _) => "ð",
            ("dx", _) => "ɾ",
            ("hh" | "hv", _) => "h",
            ("jh", _) => "dʒ",
            ("ng", _) => "ŋ",
            ("nx", _) => "n",
            ("sh", _) => "ʃ",
            ("th", _) => "θ",
            ("y", _) => "j",
            ("zh", _) => "ʒ",
            ("el", _) => "əl",
            ("em", _) => "əm",
            ("en", _) => "ən",
            ("pau", _) => " ",
            _ => {
                return Err(VoiceError::Invalid {
                    what: format!("pronunciation of {word:?}"),
                    reason: format!(
                        "{phone:?} is not an ARPAbet phone; use phones such as \"uw0 jh ay1 iy0\""
                    ),
                });
            }
        };
        if stress == Some(true) {
            out.push('ˈ');
        }
        out.push_str(ipa);
    }
    out.push_str("]]");
    Ok(out)
}

// The fakes are shell scripts.
#[cfg(all(test, unix))]
mod tests;
