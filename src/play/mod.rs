//! Live playback: a session played through the sound card as it renders.
//!
//! [`play`] streams the same samples `export` writes (from the same
//! [`Samples`]), rendering a few seconds ahead in the background so the
//! first sound comes at once even for a session of hours. While it plays, a
//! [`View`] shows where the session is and passes on what the listener asks
//! for: pause, the next step, back, volume, quit.
//!
//! Layout (private modules): `ahead` renders in the background and makes
//! one rodio source per step; `transport` queues them on a rodio `Player`
//! and holds the controls; `device` plays the player's stream on the sound
//! card (`alsa` on Linux, rodio's own output elsewhere). [`terminal`]
//! (feature `terminal`) is the view the binary uses: a full-screen view
//! with single-key controls, or plain lines. [`system_voice`] lets the
//! operating system's voice speak instead of the renderer
//! ([`play_system_voice`]). This file ties them together and owns the
//! errors.

mod ahead;
#[cfg(target_os = "linux")]
mod alsa;
mod device;
pub mod system_voice;
#[cfg(feature = "terminal")]
pub mod terminal;
mod transport;

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::plan::{PlanError, Unfolded, Unfolding};
use crate::render::{RenderError, Renderer, Samples};
use crate::timeline::Timeline;

use ahead::{Ahead, Unrolled, Whole};
use device::Device;
use system_voice::{Speaker, SystemVoice};
use transport::{Steps, Transport};

/// How often the view is redrawn and the device checked.
const TICK: Duration = Duration::from_millis(50);

/// How [`play`] runs.
#[derive(Clone, Debug)]
pub struct PlayOptions {
    /// Start at this step (0-based index into the timeline's steps; see
    /// [`find_step`]).
    pub first_step: usize,
    /// Volume factor on the rendered level, 0.0 to 2.0 (1.0 as exported).
    pub volume: f32,
    /// The sound device. On Linux an ALSA device name: `default` (the
    /// desktop's sound server or card), `hw:1`, a name from `~/.asoundrc`…
    /// Elsewhere only `default`.
    pub device: String,
    /// Cancel it to stop at once, as Ctrl-C does: the caller's signal
    /// handler does (the terminal view handles Ctrl-C itself, in raw mode no
    /// signal arrives). `play` cancels it too when playback stops before the
    /// end, so a renderer made with the same flag (`RenderOptions`) stops
    /// its current phrase instead of finishing it.
    pub cancel: Cancel,
}

impl Default for PlayOptions {
    fn default() -> PlayOptions {
        PlayOptions {
            first_step: 0,
            volume: 1.0,
            device: "default".into(),
            cancel: Cancel::new(),
        }
    }
}

/// What the listener asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Pause, or resume.
    TogglePause,
    /// Skip to the next step.
    Next,
    /// Restart the step (back one step if near its start).
    Back,
    /// Stop: playback ends as [`Ended::Quit`].
    Quit,
    /// Ctrl-C: stop like quit, but end as [`Ended::Interrupted`].
    Interrupt,
    /// Louder by one step.
    VolumeUp,
    /// Softer by one step.
    VolumeDown,
}

/// The player's state, as a [`View`] shows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Status {
    /// Session position in samples.
    pub position: u64,
    /// Whether playback is paused.
    pub paused: bool,
    /// The volume factor (1.0 as exported).
    pub volume: f32,
}

/// What the listener sees and presses while a session plays: the binary's
/// terminal view ([`terminal::Screen`], feature `terminal`), a GUI, or
/// [`NoView`].
pub trait View {
    /// Shows `status`; called about every 50 ms.
    fn show(&mut self, status: &Status) -> io::Result<()>;
    /// Waits up to `timeout` for what the listener asks for next.
    fn poll(&mut self, timeout: Duration) -> io::Result<Option<Action>>;
    /// Playback has ended and the sound has stopped; not called when
    /// playback fails (the error says why).
    fn close(&mut self, ended: &Ended);

    /// The session is being planned while it plays ([`play_unfolding`]):
    /// `timeline` is the latest estimate of the whole, exact as far as it
    /// is planned (ahead of the listener), final once `complete`. By
    /// default the view keeps the timeline it was made with.
    fn replan(&mut self, timeline: &Timeline, complete: bool) {
        let _ = (timeline, complete);
    }
}

/// A view that shows nothing and takes no keys: playback runs to its end,
/// or until [`PlayOptions::cancel`] is cancelled.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoView;

impl View for NoView {
    fn show(&mut self, _status: &Status) -> io::Result<()> {
        Ok(())
    }

    fn poll(&mut self, timeout: Duration) -> io::Result<Option<Action>> {
        std::thread::sleep(timeout);
        Ok(None)
    }

    fn close(&mut self, _ended: &Ended) {}
}

/// How a session that played ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// It played to the end.
    Finished,
    /// The listener quit (`q`, Esc) during step `step` (0-based).
    Quit {
        /// Index into the timeline's steps.
        step: usize,
        /// Session position in samples.
        position: u64,
    },
    /// Ctrl-C, or [`PlayOptions::cancel`], during step `step`.
    Interrupted {
        /// Index into the timeline's steps.
        step: usize,
        /// Session position in samples.
        position: u64,
    },
}

/// Why a session could not be played. Every message says what to do; those
/// about the sound device suggest `vinyasa export`, which needs none.
#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    /// The ALSA library could not be loaded (Linux).
    #[error(
        "cannot load the sound library {library} ({reason}); install the package libasound2, \
         or write the session to a WAV file with `vinyasa export`"
    )]
    NoLibrary {
        /// The library's file name.
        library: String,
        /// The loader's reason.
        reason: String,
    },
    /// The sound device could not be opened.
    #[error(
        "cannot open the sound device \"{device}\": {reason}; check that a sound card or \
         sound server is available, or write the session to a WAV file with `vinyasa export`"
    )]
    NoDevice {
        /// The device name.
        device: String,
        /// What failed.
        reason: String,
    },
    /// The sound device failed or stopped taking sound while playing.
    #[error(
        "the sound device stopped during playback: {reason}; \
         write the session to a WAV file with `vinyasa export` instead"
    )]
    DeviceLost {
        /// What failed.
        reason: String,
    },
    /// [`find_step`] found no step by that number or name.
    #[error("{problem}")]
    UnknownStep {
        /// The value given.
        given: String,
        /// What is wrong and what would be right.
        problem: String,
    },
    /// The samples are not the timeline's (a caller's bug).
    #[error(
        "the samples ({samples_total} at {samples_rate} Hz) do not match the timeline \
         ({timeline_total} at {timeline_rate} Hz)"
    )]
    Mismatch {
        /// The timeline's rate.
        timeline_rate: u32,
        /// The timeline's length in samples.
        timeline_total: u64,
        /// The samples' rate.
        samples_rate: u32,
        /// The samples' length.
        samples_total: u64,
    },
    /// The renderer failed part-way (the cause is the error's source).
    #[error("cannot render the session")]
    Render(#[from] RenderError),
    /// A playback thread could not be started.
    #[error("cannot start a thread for {what}")]
    Thread {
        /// What the thread was for.
        what: &'static str,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The operating system's voice could not be reached or failed.
    #[error(
        "the system voice failed: {reason}; on Linux it is speech-dispatcher, which must be \
         installed and running (`spd-say hello` should speak), or use \
         the built-in voice"
    )]
    SystemVoice {
        /// What failed.
        reason: String,
    },
    /// The view (the terminal) could not be drawn or read.
    #[error("cannot draw on the terminal or read its keys")]
    View(#[source] std::io::Error),
    /// The session being planned while it plays could not be planned
    /// further (the cause is the error's source).
    #[error("cannot plan the rest of the session")]
    Plan(#[source] Box<PlanError>),
}

/// The step a listener means: a 1-based step number or a step's name (any
/// case), for [`PlayOptions::first_step`].
pub fn find_step(timeline: &Timeline, given: &str) -> Result<usize, PlayError> {
    let count = timeline.steps.len();
    let unknown = |problem: String| PlayError::UnknownStep {
        given: given.to_owned(),
        problem,
    };
    let trimmed = given.trim();
    if let Ok(number) = trimmed.parse::<usize>() {
        return match number {
            1.. if number <= count => Ok(number - 1),
            _ => Err(unknown(format!(
                "there is no step {number}; this routine's steps are numbered 1 to {count}"
            ))),
        };
    }
    if let Some(step) = timeline.step_named(trimmed) {
        return Ok(step.index);
    }
    let wanted = trimmed.to_lowercase();
    let closest = timeline
        .steps
        .iter()
        .map(|s| (strsim::jaro_winkler(&wanted, &s.name.to_lowercase()), s))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(score, _)| *score >= 0.8);
    Err(unknown(match closest {
        Some((_, step)) => format!(
            "no step is named \"{trimmed}\"; did you mean \"{}\" (step {})?",
            step.name,
            step.index + 1
        ),
        None => format!(
            "no step is named \"{trimmed}\"; give a step's name or its number, 1 to {count}"
        ),
    }))
}

/// Plays `timeline` live: `samples` must be its rendering (the same
/// renderer `export` uses). Returns when the session ends, the listener
/// quits through `view`, or `options.cancel` is cancelled; the sound has
/// stopped and `view` has been closed by then.
pub fn play(
    timeline: &Timeline,
    samples: &mut (dyn Samples + Send),
    options: &PlayOptions,
    view: &mut dyn View,
) -> Result<Ended, PlayError> {
    play_inner(timeline, samples, options, view, None)
}

/// Plays `timeline` live with `speaker` (the OS voice,
/// `system_voice::os_speaker`) saying its speech cues: `samples` must be
/// the rendering of [`system_voice::speech_as_silence`]`(timeline)`, which
/// gives the bells, tones and silences. See [`system_voice`] for how the
/// two are kept in step. Otherwise as [`play`].
pub fn play_system_voice(
    timeline: &Timeline,
    samples: &mut (dyn Samples + Send),
    options: &PlayOptions,
    view: &mut dyn View,
    speaker: Box<dyn Speaker>,
) -> Result<Ended, PlayError> {
    play_inner(timeline, samples, options, view, Some(speaker))
}

fn play_inner(
    timeline: &Timeline,
    samples: &mut (dyn Samples + Send),
    options: &PlayOptions,
    view: &mut dyn View,
    speaker: Option<Box<dyn Speaker>>,
) -> Result<Ended, PlayError> {
    if samples.rate() != timeline.rate || samples.total() != timeline.total {
        return Err(PlayError::Mismatch {
            timeline_rate: timeline.rate,
            timeline_total: timeline.total,
            samples_rate: samples.rate(),
            samples_total: samples.total(),
        });
    }
    let first = options
        .first_step
        .min(timeline.steps.len().saturating_sub(1));
    let ahead = Ahead::new(timeline.rate, timeline.total);
    // The render thread borrows `samples`, so it runs in a scope that
    // `play` waits for; the guard closes the cache on every way out
    // (panics included) so the thread ends and the wait does too.
    std::thread::scope(|scope| {
        let worker = ahead.clone();
        std::thread::Builder::new()
            .name("vinyasa-render".into())
            .spawn_scoped(scope, move || worker.render(&mut Whole(samples)))
            .map_err(|source| PlayError::Thread {
                what: "rendering",
                source,
            })?;
        let _close = CloseOnDrop(&ahead);
        let mut steps: Vec<(u64, u64)> = timeline.steps.iter().map(|s| (s.start, s.end)).collect();
        if steps.is_empty() {
            steps.push((0, timeline.total));
        }
        let transport = Transport::new(ahead.clone(), Steps(steps), first, options.volume);
        let voice = speaker.map(|speaker| SystemVoice::new(timeline, speaker));
        play_with(
            transport,
            timeline.rate,
            &ahead,
            options,
            view,
            voice,
            &mut |_, _| Ok(()),
        )
    })
}

/// Plays a session while it is still being planned ([`crate::plan::unfold`]):
/// each prefix of its timeline is rendered by a renderer `renderer` makes
/// of it (at the [`crate::render::Levels`] of the whole session, so that
/// what is played does not change as the timeline grows), and played as
/// far as it has settled ([`Renderer::settled_before`]). A listener who
/// catches up with the planning (a voice slower than real time) hears
/// silence, the session's clock held, until more is planned. Playback
/// starts once step `options.first_step` is being planned. `view` is given
/// the latest estimate of the whole session now and then
/// ([`View::replan`]). Otherwise as [`play`].
pub fn play_unfolding<'a>(
    unfolding: &Unfolding<'_>,
    renderer: &mut (dyn FnMut(Arc<Timeline>) -> Result<Renderer<'a>, RenderError> + Send),
    options: &PlayOptions,
    view: &mut dyn View,
) -> Result<Ended, PlayError> {
    let wanted = options.first_step;
    let begun = unfolding
        .wait_for(|u| u.complete || u.timeline.steps.len() > wanted)
        .map_err(|e| PlayError::Plan(Box::new(e)))?;
    let rate = begun.timeline.rate;
    let ahead = Ahead::growing(rate, 0, false);
    std::thread::scope(|scope| {
        let worker = ahead.clone();
        let mut prefixes = Prefixes {
            unfolding,
            make: renderer,
            current: None,
        };
        std::thread::Builder::new()
            .name("vinyasa-render".into())
            .spawn_scoped(scope, move || worker.render(&mut prefixes))
            .map_err(|source| PlayError::Thread {
                what: "rendering",
                source,
            })?;
        let _close = CloseOnDrop(&ahead);
        let (steps, complete) = steps_of(&begun);
        let first = wanted.min(steps.0.len().saturating_sub(1));
        let transport = Transport::growing(ahead.clone(), steps, complete, first, options.volume);
        let mut version = begun.version;
        let mut replanned: Option<Instant> = None;
        let mut grow = |transport: &mut Transport, view: &mut dyn View| {
            // Stopped planning is a stopped playback, seen above.
            if let Some(error) = unfolding.take_failure()
                && !matches!(error, PlanError::Cancelled)
            {
                return Err(PlayError::Plan(Box::new(error)));
            }
            let Some(latest) = unfolding.latest() else {
                return Ok(());
            };
            if latest.version > version {
                version = latest.version;
                let (steps, complete) = steps_of(&latest);
                transport.grow(steps, complete);
                if complete {
                    view.replan(&latest.timeline, true);
                    replanned = Some(Instant::now());
                }
            }
            // The estimate is a plan of the whole routine: now and then.
            if !latest.complete && replanned.is_none_or(|at| at.elapsed() > REPLAN) {
                replanned = Some(Instant::now());
                if let Ok(estimate) = unfolding.estimate() {
                    view.replan(&estimate, false);
                }
            }
            Ok(())
        };
        play_with(transport, rate, &ahead, options, view, None, &mut grow)
    })
}

/// How often the view is given a new estimate of a session being planned.
const REPLAN: Duration = Duration::from_secs(2);

/// The steps of what is planned, and whether it is all.
fn steps_of(unfolded: &Unfolded) -> (Steps, bool) {
    let timeline = &unfolded.timeline;
    let mut steps: Vec<(u64, u64)> = timeline.steps.iter().map(|s| (s.start, s.end)).collect();
    if steps.is_empty() {
        steps.push((0, timeline.total));
    }
    (Steps(steps), unfolded.complete)
}

/// The render thread's view of a session being planned: a renderer of the
/// latest prefix, made anew when the window needs more than it has settled.
struct Prefixes<'u, 'r, 'a> {
    unfolding: &'u Unfolding<'r>,
    make: &'u mut (dyn FnMut(Arc<Timeline>) -> Result<Renderer<'a>, RenderError> + Send),
    current: Option<Prefix<'a>>,
}

/// A renderer of one prefix.
struct Prefix<'a> {
    renderer: Renderer<'a>,
    version: u64,
    settled: u64,
    complete: bool,
}

impl Unrolled for Prefixes<'_, '_, '_> {
    fn extent(&mut self, wanted: u64) -> Result<(u64, bool), RenderError> {
        let enough = self
            .current
            .as_ref()
            .is_some_and(|c| c.complete || c.settled >= wanted);
        if !enough && let Some(latest) = self.unfolding.latest() {
            let newer = self
                .current
                .as_ref()
                .is_none_or(|c| latest.version > c.version);
            if newer {
                let renderer = (self.make)(Arc::clone(&latest.timeline))?;
                let settled = if latest.complete {
                    latest.timeline.total
                } else {
                    renderer.settled_before(latest.frontier)
                };
                self.current = Some(Prefix {
                    renderer,
                    version: latest.version,
                    settled,
                    complete: latest.complete,
                });
            }
        }
        Ok(self
            .current
            .as_ref()
            .map_or((0, false), |c| (c.settled, c.complete)))
    }

    fn samples(&mut self) -> &mut dyn Samples {
        // Asked only for samples within an extent given, so after a
        // renderer was made.
        &mut self
            .current
            .as_mut()
            .expect("samples are asked for only within an extent")
            .renderer
    }
}

/// Closes the render-ahead cache when dropped.
struct CloseOnDrop<'a>(&'a Ahead);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// What the main loop does on each tick beyond playing: a session being
/// planned grows its transport and replans its view.
type Grow<'g> = dyn FnMut(&mut Transport, &mut dyn View) -> Result<(), PlayError> + 'g;

/// [`play`] once the render thread runs.
fn play_with(
    mut transport: Transport,
    rate: u32,
    ahead: &Ahead,
    options: &PlayOptions,
    view: &mut dyn View,
    mut voice: Option<SystemVoice>,
    grow: &mut Grow<'_>,
) -> Result<Ended, PlayError> {
    if let Some(voice) = &voice {
        transport.set_gate(voice.gate());
    }
    let device = Device::start(transport.feed(), rate, &options.device)?;

    let result = run(
        &mut transport,
        &device,
        view,
        ahead,
        options,
        voice.as_mut(),
        grow,
    );
    if let Some(voice) = &mut voice {
        voice.silence();
    }
    // Sound first: quitting silences at once, before the terminal redraws.
    let ended = match result {
        Ok(Some(ended)) => {
            device.stop();
            Ok(ended)
        }
        Ok(None) => device.finish().map(|()| Ended::Finished),
        Err(error) => {
            device.stop();
            Err(error)
        }
    };
    if !matches!(ended, Ok(Ended::Finished)) {
        // A renderer sharing the flag stops its current phrase now.
        options.cancel.cancel();
    }
    if let Ok(ended) = &ended {
        view.close(ended);
    }
    ended
}

/// The main loop. `Ok(None)`: the session played to its end and the
/// output should play out; `Ok(Some(_))`: stop now.
fn run(
    transport: &mut Transport,
    device: &Device,
    view: &mut dyn View,
    ahead: &Ahead,
    options: &PlayOptions,
    mut voice: Option<&mut SystemVoice>,
    grow: &mut Grow<'_>,
) -> Result<Option<Ended>, PlayError> {
    loop {
        if options.cancel.is_cancelled() {
            let (step, position) = (transport.step(), transport.position());
            return Ok(Some(Ended::Interrupted { step, position }));
        }
        grow(transport, view)?;
        let here = || (transport.step(), transport.position());
        // Before `finished`: a failing renderer ends every step early.
        if ahead.failed() {
            return Err(ahead
                .take_failure()
                .map_or(PlayError::Render(RenderError::Cancelled), PlayError::Render));
        }
        device.check()?;
        if let Some(voice) = voice.as_deref_mut() {
            voice.service()?;
        }
        let finished = transport.finished();
        view.show(&Status {
            position: transport.position(),
            paused: transport.paused(),
            volume: transport.volume(),
        })
        .map_err(PlayError::View)?;
        if finished {
            return Ok(None);
        }
        match view.poll(TICK).map_err(PlayError::View)? {
            None => {}
            Some(Action::TogglePause) => {
                let paused = transport.toggle_pause();
                if let Some(voice) = voice.as_deref_mut() {
                    voice.paused(paused)?;
                }
            }
            Some(Action::Next) => {
                transport.next_step();
                if let Some(voice) = voice.as_deref_mut() {
                    voice.moved()?;
                }
            }
            Some(Action::Back) => {
                transport.back();
                if let Some(voice) = voice.as_deref_mut() {
                    voice.moved()?;
                }
            }
            Some(Action::VolumeUp) => {
                transport.change_volume(1);
            }
            Some(Action::VolumeDown) => {
                transport.change_volume(-1);
            }
            Some(Action::Quit) => {
                let (step, position) = here();
                return Ok(Some(Ended::Quit { step, position }));
            }
            Some(Action::Interrupt) => {
                let (step, position) = here();
                return Ok(Some(Ended::Interrupted { step, position }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::testing::TimelineBuilder;

    fn timeline() -> Timeline {
        TimelineBuilder::new(100)
            .title("Mid-back")
            .step("Welcome", 0..1000)
            .step("Cat-cow", 1000..2000)
            .step("Child's pose", 2000..3000)
            .build()
    }

    #[test]
    fn from_takes_a_number_or_a_name() {
        let t = timeline();
        assert_eq!(find_step(&t, "1").unwrap(), 0);
        assert_eq!(find_step(&t, " 3 ").unwrap(), 2);
        assert_eq!(find_step(&t, "cat-COW").unwrap(), 1);
    }

    #[test]
    fn from_errors_say_what_would_work() {
        let t = timeline();
        assert_eq!(
            find_step(&t, "4").unwrap_err().to_string(),
            "there is no step 4; this routine's steps are numbered 1 to 3"
        );
        assert_eq!(
            find_step(&t, "0").unwrap_err().to_string(),
            "there is no step 0; this routine's steps are numbered 1 to 3"
        );
        assert_eq!(
            find_step(&t, "catcow").unwrap_err().to_string(),
            "no step is named \"catcow\"; did you mean \"Cat-cow\" (step 2)?"
        );
        assert_eq!(
            find_step(&t, "warrior").unwrap_err().to_string(),
            "no step is named \"warrior\"; give a step's name or its number, 1 to 3"
        );
    }
}
