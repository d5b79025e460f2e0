//! One guided session, from a routine file to a timeline, samples, a file
//! or the sound card: the whole engine behind one door.
//!
//! [`Session`] is what the `vinyasa` binary does, as a library: it loads a
//! routine, applies the settings a user can change (level or length, cues,
//! voice, rate, sounds, cache), plans it with its voice, and hands out the
//! renderer, an export or live playback. The binary adds only arguments,
//! printing and exit codes, so a library user gets the binary's output byte
//! for byte.
//!
//! ```no_run
//! use vinyasa::session::Session;
//! use vinyasa::export::{ExportOptions, NoProgress};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut session = Session::load("routines/childs-pose.toml".as_ref())?;
//! session.set_cue("halfway=off")?;
//! session.set_voice(|v| v.volume = 1.2)?;
//! let planned = session.plan()?;
//! println!("{} cues", planned.timeline().cues.len());
//! planned.export("childs-pose.wav".as_ref(), &ExportOptions::default(), &NoProgress)?;
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};

use crate::cache::{self, PreparedDir};
use crate::cancel::Cancel;
use crate::export::{self, ExportError, ExportOptions, ExportSummary, Progress};
use crate::plan::{self, LengthGoal, PlanError, PlanOptions, Unfolding};
use crate::render::{RenderError, RenderOptions, Renderer};
use crate::routine::{self, Diagnostic, Level, Report, Routine};
use crate::sound::{Palette, PaletteError, Sound};
use crate::timeline::{LengthFit, LengthReport, Timeline};
use crate::voice::{self, UserVoice, Voice, VoiceError, VoiceSettings};

/// What a session is made with, beyond the routine itself.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where ranges such as `15-30s` are taken.
    pub level: Level,
    /// A length to plan the session to: its ranges are taken so that it
    /// lands as near as they allow (with [`plan::Fit::Durations`], the level
    /// still chooses the counts). `None`: every range at `level`.
    pub length: Option<LengthGoal>,
    /// Output sample rate in Hz (e.g. 44100 or 48000).
    pub rate: u32,
    /// A folder of replacement sounds (`bell.wav`, …). `None`: `audio/` in
    /// the current directory, when there is one.
    pub sounds: Option<PathBuf>,
    /// The clip cache's directory: phrases and prepared clips kept between
    /// runs (see [`crate::cache`]). `None` speaks and prepares everything
    /// afresh.
    pub cache: Option<PathBuf>,
}

impl Default for Options {
    /// Standard level, 44.1 kHz, the sounds in `audio/`, the platform's
    /// cache directory (none if the platform has none).
    fn default() -> Options {
        Options {
            level: Level::Standard,
            length: None,
            rate: 44_100,
            sounds: None,
            cache: cache::default_dir(),
        }
    }
}

/// Why a session could not be made, planned, rendered or written. The
/// messages name the file, the value and the fix; none names a command-line
/// flag (the binary adds those).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The routine has errors; the report lists every one with its line.
    #[error("{0}")]
    Routine(Box<Report>),
    /// A cue setting is not one the routine format knows: `reason` names
    /// the setting, what is wrong and what would be right.
    #[error("{reason}")]
    Cue {
        /// The setting given, `KEY=VALUE`.
        setting: String,
        /// What is wrong and what would be right.
        reason: String,
    },
    /// A voice setting is out of range, or the voice cannot be opened.
    #[error("cannot open the voice for {file}")]
    Voice {
        /// The routine file.
        file: String,
        /// Why.
        #[source]
        source: VoiceError,
    },
    /// The routine cannot be planned (too long, a phrase the voice cannot say).
    #[error("cannot plan {file}")]
    Plan {
        /// The routine file.
        file: String,
        /// Why.
        #[source]
        source: PlanError,
    },
    /// A replacement sound cannot be used.
    #[error(transparent)]
    Sounds(#[from] PaletteError),
    /// The renderer could not be set up.
    #[error("cannot render {file}")]
    Render {
        /// The routine file.
        file: String,
        /// Why.
        #[source]
        source: RenderError,
    },
    /// The export failed, was refused or was cancelled.
    #[error("cannot export {file}")]
    Export {
        /// The routine file.
        file: String,
        /// Why.
        #[source]
        source: Box<ExportError>,
    },
}

/// Reads and checks the routine at `path` as [`routine::load`] does, and
/// also checks that every file of its `[sounds]` can be used (a WAV with
/// samples, not silent, not too long) and that an installed espeak-ng has
/// its voice: what an export would refuse, reported at its line.
pub fn check(path: &Path) -> Result<(Routine, Report), Box<Report>> {
    routine::load(path)
        .and_then(check_sounds)
        .and_then(check_espeak_voice)
}

/// The routine, or its report with an error at `[voice] name` if it names
/// an espeak-ng voice or variant the installed espeak-ng lacks (the
/// built-in voices are checked when parsing; a missing program is the
/// export's to report).
fn check_espeak_voice(
    (routine, mut report): (Routine, Report),
) -> Result<(Routine, Report), Box<Report>> {
    let settings = &routine.voice;
    let Some(name) = settings.name.as_deref() else {
        return Ok((routine, report));
    };
    if settings.engine != voice::Engine::ESPEAK {
        return Ok((routine, report));
    }
    let Ok(Some(unknown)) = voice::EspeakVoice::unknown_voice(&voice::EspeakVoice::program(), name)
    else {
        return Ok((routine, report));
    };
    let at = routine::value_span(&report.source, "voice", "name").unwrap_or(0..0);
    report.diagnostics.push(
        Diagnostic::error(at, format!("the espeak-ng engine has {}", unknown.problem))
            .help(unknown.fix),
    );
    report.sort();
    Err(Box::new(report))
}

/// The routine, or its report with an error at each `[sounds]` file that
/// [`Palette`] would refuse.
fn check_sounds(
    (routine, mut report): (Routine, Report),
) -> Result<(Routine, Report), Box<Report>> {
    for (name, path) in &routine.sounds {
        let Some(sound) = Sound::from_name(name) else {
            continue;
        };
        let Err(e) = Palette::builtin().with_file(sound, path) else {
            continue;
        };
        // The file as written in the routine: the quoted name after the key.
        let written = path.strip_prefix(&routine.dir).unwrap_or(path);
        let quoted = format!("\"{}\"", written.display());
        let at = report
            .source
            .find("[sounds]")
            .and_then(|table| {
                report.source[table..]
                    .find(&quoted)
                    .map(|i| table + i..table + i + quoted.len())
            })
            .or_else(|| {
                let i = report.source.find(&quoted)?;
                Some(i..i + quoted.len())
            })
            .unwrap_or(0..0);
        report.diagnostics.push(
            Diagnostic::error(
                at,
                format!("sound file {quoted} cannot be used: {}", e.problem),
            )
            .help(e.fix),
        );
    }
    if report.has_errors() {
        report.sort();
        return Err(Box::new(report));
    }
    Ok((routine, report))
}

/// A loaded routine and the settings it will be planned with.
#[derive(Debug)]
pub struct Session {
    routine: Routine,
    report: Report,
    options: Options,
}

impl Session {
    /// Loads and checks the routine at `path`, with default [`Options`].
    /// Its warnings are in [`report`](Session::report).
    pub fn load(path: &Path) -> Result<Session, SessionError> {
        let (routine, report) = check(path).map_err(SessionError::Routine)?;
        Ok(Session::new(routine, report))
    }

    /// Parses routine `text` as if read from the file `file`; relative paths
    /// in it (sounds) are taken from `dir`.
    pub fn parse(file: &str, dir: &Path, text: &str) -> Result<Session, SessionError> {
        let (routine, report) = routine::parse(file, dir, text)
            .and_then(check_sounds)
            .map_err(SessionError::Routine)?;
        Ok(Session::new(routine, report))
    }

    /// A session of an already checked routine, with default [`Options`].
    pub fn new(routine: Routine, report: Report) -> Session {
        Session {
            routine,
            report,
            options: Options::default(),
        }
    }

    /// The routine as it will be planned (with the cue and voice settings
    /// applied).
    pub fn routine(&self) -> &Routine {
        &self.routine
    }

    /// The routine's warnings (empty of errors: those stop [`load`](Session::load)).
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The session's options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The session's options, to change.
    pub fn options_mut(&mut self) -> &mut Options {
        &mut self.options
    }

    /// Overrides an automatic cue for the routine and every step, whatever
    /// the file says: `KEY=VALUE` as in `[cues]` (`halfway=off`,
    /// `breath=both`, `remaining=30s,10s`; see the README).
    pub fn set_cue(&mut self, setting: &str) -> Result<(), SessionError> {
        self.routine
            .set_cue(setting)
            .map_err(|reason| SessionError::Cue {
                setting: setting.into(),
                reason,
            })
    }

    /// Changes the voice settings (engine, name, speed, pitch, volume), then
    /// checks them.
    pub fn set_voice(
        &mut self,
        change: impl FnOnce(&mut VoiceSettings),
    ) -> Result<(), SessionError> {
        change(&mut self.routine.voice);
        self.routine
            .voice
            .check()
            .map_err(|source| SessionError::Voice {
                file: self.routine.file.clone(),
                source,
            })
    }

    /// Makes `user` (the user's own voice, [`UserVoice::load`]) speak this
    /// session if the routine's `[voice]` names no engine or voice; says
    /// whether it did. Settings changed afterwards (the command line's)
    /// still win.
    pub fn use_user_voice(&mut self, user: &UserVoice) -> bool {
        if self.routine.voice_chosen {
            return false;
        }
        self.routine.voice.engine = user.engine;
        self.routine.voice.name = user.name.clone();
        true
    }

    /// Opens the voice, speaks every phrase (into the cache, on every core)
    /// and lays the session on its timeline.
    pub fn plan(&self) -> Result<Planned<'_>, SessionError> {
        self.plan_cancellable(&Cancel::new())
    }

    /// As [`plan`](Session::plan), stopping before the next phrase once
    /// `cancel` is set (with [`PlanError::Cancelled`] inside
    /// [`SessionError::Plan`]).
    pub fn plan_cancellable(&self, cancel: &Cancel) -> Result<Planned<'_>, SessionError> {
        let voice = self.open_voice()?;
        self.plan_with(voice, cancel)
    }

    /// The session's voice, behind its cache.
    fn open_voice(&self) -> Result<Box<dyn Voice>, SessionError> {
        let cache = self.options.cache.as_deref();
        voice::open(&self.routine.voice, &self.routine.pronounce, cache).map_err(|source| {
            SessionError::Voice {
                file: self.routine.file.clone(),
                source,
            }
        })
    }

    fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            rate: self.options.rate,
            level: self.options.level,
        }
    }

    /// Opens the voice and, as `play` does, plans the session
    /// ([`ToPlay::Planned`], as [`plan`](Session::plan)) unless its voice
    /// would keep the listener waiting ([`Voice::speaks_slowly`]: a neural
    /// voice with phrases not cached yet). Then it is to be planned while
    /// it plays ([`ToPlay::Unfolding`]). A session planned to a length
    /// ([`Options::length`]) is always planned first: the search for the
    /// length plans it many times over, with every phrase measured.
    pub fn plan_to_play(&self, cancel: &Cancel) -> Result<ToPlay<'_>, SessionError> {
        let voice = self.open_voice()?;
        let texts = plan::heard_order(&self.routine, &self.plan_options());
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        if self.options.length.is_none() && voice.speaks_slowly(&texts) {
            return Ok(ToPlay::Unfolding(Unplanned {
                session: self,
                voice,
            }));
        }
        self.plan_with(voice, cancel)
            .map(|planned| ToPlay::Planned(Box::new(planned)))
    }

    fn plan_with(
        &self,
        voice: Box<dyn Voice>,
        cancel: &Cancel,
    ) -> Result<Planned<'_>, SessionError> {
        let file = || self.routine.file.clone();
        let cache = self.options.cache.as_deref();
        let options = self.plan_options();
        let plan_error = |source| SessionError::Plan {
            file: file(),
            source,
        };
        let (routine, voice_ref) = (&self.routine, voice.as_ref());
        // Phrases are spoken on every core into the cache first; without a
        // cache that would speak them twice.
        if cache.is_some() {
            match &self.options.length {
                None => plan::speak_ahead_cancellable(routine, voice_ref, &options, cancel),
                Some(goal) => {
                    plan::speak_ahead_for_length(routine, voice_ref, &options, goal, cancel)
                }
            }
            .map_err(plan_error)?;
        }
        let timeline = match &self.options.length {
            None => plan::plan_cancellable(routine, voice_ref, &options, cancel),
            Some(goal) => {
                plan::plan_for_length_cancellable(routine, voice_ref, &options, goal, cancel)
            }
        }
        .map_err(plan_error)?;
        Ok(Planned {
            session: self,
            voice,
            timeline,
            store: cache.map(PreparedDir::in_cache),
        })
    }

    /// The built-in sounds, replaced by files from the sounds folder and the
    /// routine's `[sounds]`.
    fn palette(&self) -> Result<Palette, SessionError> {
        let dir = self
            .options
            .sounds
            .clone()
            .unwrap_or_else(|| PathBuf::from("audio"));
        let overrides: Vec<(Sound, PathBuf)> = self
            .routine
            .sounds
            .iter()
            .filter_map(|(name, path)| Sound::from_name(name).map(|s| (s, path.clone())))
            .collect();
        let palette = if dir.is_dir() {
            Palette::load(&dir, &overrides)?
        } else {
            let mut palette = Palette::builtin();
            for (sound, path) in &overrides {
                palette = palette.with_file(*sound, path)?;
            }
            palette
        };
        Ok(palette)
    }
}

/// What `play` plays: a session planned, or one to plan while it plays
/// ([`Session::plan_to_play`]).
#[derive(Debug)]
pub enum ToPlay<'s> {
    /// Planned: played as [`Planned::play`] does.
    Planned(Box<Planned<'s>>),
    /// Its voice speaks slowly: spoken and planned while it plays
    /// ([`Unplanned::unfold`]).
    Unfolding(Unplanned<'s>),
}

/// A session whose voice is open, to be spoken and planned while it plays.
pub struct Unplanned<'s> {
    session: &'s Session,
    voice: Box<dyn Voice>,
}

impl std::fmt::Debug for Unplanned<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unplanned")
            .field("routine", &self.session.routine.file)
            .field("voice", &self.voice.identity())
            .finish_non_exhaustive()
    }
}

impl<'s> Unplanned<'s> {
    /// The session to play.
    pub fn session(&self) -> &'s Session {
        self.session
    }

    /// The voice that speaks the session.
    pub fn voice(&self) -> &dyn Voice {
        self.voice.as_ref()
    }

    /// Speaks the session's phrases in the order they are heard and plans
    /// it as they arrive, in the background, while `run` works with it
    /// ([`plan::unfold`]; `run` ending or `cancel` stops both).
    pub fn unfold<R>(&self, cancel: &Cancel, run: impl FnOnce(&Unfolding<'_>) -> R) -> R {
        let session = self.session;
        plan::unfold(
            &session.routine,
            self.voice.as_ref(),
            &session.plan_options(),
            cancel,
            run,
        )
    }
}

/// A planned session: its timeline, and the voice that will speak it.
pub struct Planned<'s> {
    session: &'s Session,
    voice: Box<dyn Voice>,
    timeline: Timeline,
    store: Option<PreparedDir>,
}

impl std::fmt::Debug for Planned<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planned")
            .field("routine", &self.session.routine.file)
            .field("voice", &self.voice.identity())
            .finish_non_exhaustive()
    }
}

impl<'s> Planned<'s> {
    /// Every cue with its time.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// How near a length asked for ([`Options::length`]) the session came,
    /// and what kept it from coming nearer; `None` when no length was asked.
    pub fn length(&self) -> Option<&LengthFit> {
        self.timeline.length.as_ref()
    }

    /// [`length`](Planned::length) for people: "15:02 for the 15:00 asked
    /// (+0.2%)", and the limiting ranges when it is out of reach.
    pub fn length_report(&self) -> Option<LengthReport<'_>> {
        self.timeline.length.as_ref()?;
        Some(LengthReport(&self.timeline))
    }

    /// The session this was planned from.
    pub fn session(&self) -> &'s Session {
        self.session
    }

    /// The voice that speaks the session.
    pub fn voice(&self) -> &dyn Voice {
        self.voice.as_ref()
    }

    /// A note about the phrase cache worth showing (it could not be
    /// written, say), if any.
    pub fn cache_note(&self) -> Option<String> {
        self.voice.cache_stats().and_then(|stats| stats.warning)
    }

    /// The renderer of this session's samples: random access, deterministic,
    /// stopping with [`RenderError::Cancelled`] once `cancel` is cancelled.
    pub fn renderer(&self, cancel: &Cancel) -> Result<Renderer<'_>, SessionError> {
        self.renderer_of(&self.timeline, cancel)
    }

    /// The renderer of `timeline`, which must be this session's or derived
    /// from it (the system voice plays it with the speech left silent).
    fn renderer_of<'a>(
        &'a self,
        timeline: &'a Timeline,
        cancel: &Cancel,
    ) -> Result<Renderer<'a>, SessionError> {
        let palette = self.session.palette()?;
        let options = RenderOptions {
            voice_volume: self.session.routine.voice.volume,
            cancel: cancel.clone(),
            store: self.store.as_ref().map(|s| s as _),
            ..RenderOptions::default()
        };
        Renderer::with_options(timeline, self.voice.as_ref(), &palette, options).map_err(|source| {
            SessionError::Render {
                file: self.session.routine.file.clone(),
                source,
            }
        })
    }

    /// Writes the session to `path` (and its captions beside it), as
    /// `vinyasa export` does, reporting progress to `progress`.
    pub fn export(
        &self,
        path: &Path,
        options: &ExportOptions,
        progress: &dyn Progress,
    ) -> Result<ExportSummary, SessionError> {
        let error = |source| SessionError::Export {
            file: self.session.routine.file.clone(),
            source: Box::new(source),
        };
        // The tags a timeline does not carry, from the routine, unless given.
        let routine = &self.session.routine;
        let options = ExportOptions {
            artist: options.artist.clone().or_else(|| routine.credit.clone()),
            comment: options
                .comment
                .clone()
                .or_else(|| routine.description.clone()),
            ..options.clone()
        };
        let mut renderer = self.renderer(&options.cancel)?;
        export::export(&self.timeline, &mut renderer, path, &options, progress).map_err(error)
    }
}

#[cfg(feature = "play")]
mod playing {
    use std::sync::Arc;

    use super::{Planned, SessionError, Unplanned};
    use crate::cache::PreparedDir;
    use crate::plan::Unfolding;
    use crate::play::{self, Ended, PlayError, PlayOptions, View};
    use crate::render::{RenderOptions, Renderer};
    use crate::timeline::Timeline;

    impl Unplanned<'_> {
        /// Plays the session while `unfolding` (from
        /// [`unfold`](Unplanned::unfold)) speaks and plans it: see
        /// [`play::play_unfolding`]. Every prefix is rendered at the levels
        /// of the whole session as estimated when the first phrase is
        /// known ([`Unfolding::estimate`]): exact where planned, each phrase
        /// still to come as long as the phrases spoken suggest. The played
        /// samples are then those of an export but for that level, which
        /// can be several dB off the export's (up to 4.7 dB over it on
        /// mid-back, depending on which phrases are known when the estimate
        /// is made); a second play, from the cache, plays the export's own.
        pub fn play(
            &self,
            unfolding: &Unfolding<'_>,
            options: &PlayOptions,
            view: &mut dyn View,
        ) -> Result<Ended, PlaySessionError> {
            let file = || self.session.routine.file.clone();
            let planning = |source| PlaySessionError::Play {
                file: file(),
                source: PlayError::Plan(Box::new(source)),
            };
            // The estimate learns the voice's pace from its first phrase,
            // which the first sound waits for anyway.
            unfolding
                .wait_for(|u| u.complete || u.timeline.speech().next().is_some())
                .map_err(planning)?;
            let estimate = unfolding.estimate().map_err(planning)?;
            let palette = self.session.palette()?;
            let store = self
                .session
                .options
                .cache
                .as_deref()
                .map(PreparedDir::in_cache);
            let render_options = |levels| RenderOptions {
                voice_volume: self.session.routine.voice.volume,
                cancel: options.cancel.clone(),
                store: store.as_ref().map(|s| s as _),
                levels,
                ..RenderOptions::default()
            };
            let levels = Renderer::with_options(
                &estimate,
                self.voice.as_ref(),
                &palette,
                render_options(None),
            )
            .map_err(|source| SessionError::Render {
                file: file(),
                source,
            })?
            .levels();
            let mut renderer = |prefix: Arc<Timeline>| {
                let options = render_options(Some(levels.clone()));
                Renderer::shared(prefix, self.voice.as_ref(), &palette, options)
            };
            play::play_unfolding(unfolding, &mut renderer, options, view).map_err(|source| {
                PlaySessionError::Play {
                    file: file(),
                    source,
                }
            })
        }
    }

    /// Why a session could not be played.
    #[derive(Debug, thiserror::Error)]
    pub enum PlaySessionError {
        /// Before playing: the renderer could not be made.
        #[error(transparent)]
        Session(#[from] SessionError),
        /// While playing.
        #[error("cannot play {file}")]
        Play {
            /// The routine file.
            file: String,
            /// Why.
            #[source]
            source: PlayError,
        },
    }

    impl Planned<'_> {
        /// Plays the session live on the sound card, shown by `view`: the
        /// samples [`export`](Planned::export) writes, rendered ahead.
        pub fn play(
            &self,
            options: &PlayOptions,
            view: &mut dyn View,
        ) -> Result<Ended, PlaySessionError> {
            let mut renderer = self.renderer(&options.cancel)?;
            play::play(&self.timeline, &mut renderer, options, view).map_err(|source| {
                PlaySessionError::Play {
                    file: self.session.routine.file.clone(),
                    source,
                }
            })
        }

        /// Plays the session with `speaker` (the operating system's voice)
        /// saying the speech and the renderer playing everything else; see
        /// [`play::system_voice`].
        pub fn play_with_speaker(
            &self,
            options: &PlayOptions,
            view: &mut dyn View,
            speaker: Box<dyn play::system_voice::Speaker>,
        ) -> Result<Ended, PlaySessionError> {
            let silent = play::system_voice::speech_as_silence(&self.timeline);
            let mut renderer = self.renderer_of(&silent, &options.cancel)?;
            play::play_system_voice(&self.timeline, &mut renderer, options, view, speaker).map_err(
                |source| PlaySessionError::Play {
                    file: self.session.routine.file.clone(),
                    source,
                },
            )
        }
    }
}

#[cfg(feature = "play")]
pub use playing::PlaySessionError;
