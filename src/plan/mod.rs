//! The planner: a checked routine plus a voice → one exact [`Timeline`].
//!
//! Planning is pure and deterministic: the only outside input is the length
//! of each spoken phrase, asked of the [`Voice`] that will speak it. All
//! arithmetic is in samples at the output rate.
//!
//! # Timing rules
//!
//! * **Speech is sequential.** Each phrase starts where the one before ended
//!   plus a gap of [`GAP_MS`]; inline pauses (`[2s]`) are silence cues.
//! * **A hold's clock starts when its instructions have been spoken.** The
//!   step's name, its `say` text and the side words come first; then the hold
//!   runs for exactly its length; then "Release." is spoken.
//! * **Automatic cues inside a hold are anchored in time**: the 3-2-1 on the
//!   last three seconds, "N seconds left" at N seconds before the end,
//!   "Halfway" at the middle, `prompts` spread evenly, `on_inhale` and
//!   `on_exhale` phrases at the start of successive breaths. They never
//!   overlap: they are placed in that order of priority and one that would
//!   collide with a cue already placed, or run past the hold's end, is left
//!   out with a warning naming the place and the numbers. Spoken breath
//!   words ("Inhale.") give way silently to any other cue.
//! * **Breath-led holds** (`breaths = N`, or any `on_inhale`/`on_exhale`)
//!   follow the step's breath pattern (inhale, hold in, exhale, hold out)
//!   from the hold's start, with a breath cue (tone, word, both) on each
//!   phase; each phase is its own whole number of samples, so a box is
//!   square and a phrase never moves a phase. Timed holds have no
//!   breath cues. A phrase longer than its breath phase is a warning.
//! * **Flows** play their moves in order, round after round. A breath move
//!   lasts one inhale or exhale; if its words take longer (plus
//!   [`MOVE_MARGIN_MS`]) the phase is stretched to fit, with a warning. A
//!   `say`/`time` move lasts its words plus its time. `for = "3 min"` plays the
//!   number of whole rounds nearest that time.
//! * **Between steps**: "Next: …", then `transition` of silence to move.
//! * **Bells** lie on the sound lane: the session bell at 0 (speech starts
//!   [`BELL_LEAD_MS`] later, while it rings) and after the last cue; the
//!   session ends when the closing bell has rung out.
//!
//! # Layout
//!
//! This module holds the entry points and the walk over the steps; its
//! submodules place what a step is made of: `words` the spoken text with its
//! gaps and pauses (names, sides, "Next: …", release), `hold` the rounds of a
//! hold, its clock and the cues anchored in it, `flow` the moves of a flow.
//! `length` plans to a length asked for: it searches where each range is
//! taken ([`Position`]s for counts and for durations; a [`Level`] is one of
//! them) and reports how near it came in [`Timeline::length`].
//! `unfold` plans a session while its phrases are being spoken, for a player
//! that starts before they all are ([`unfold()`]).

mod flow;
mod hold;
mod length;
#[cfg(test)]
mod tests;
mod unfold;
mod words;

pub use unfold::{Unfolded, Unfolding, heard_order, unfold};

use std::collections::HashMap;

use crate::cancel::Cancel;
use crate::routine::{
    Bells, Body, Level, MAX_SESSION, Millis, NameCue, Pos, Position, Routine, Span, Step,
    format_millis,
};
use crate::timeline::{Bell, Cue, CueKind, Lane, RATES, Role, StepSpan, Timeline, Warning};
use crate::voice::{Voice, VoiceError};
pub use length::{
    Fit, LengthError, LengthGoal, parse_length, plan_for_length, plan_for_length_cancellable,
    speak_ahead_for_length,
};
use words::{sentence, trim_stop};

/// Silence after each spoken phrase before the next thing starts.
pub const GAP_MS: Millis = 600;
/// Breath moves need their words plus this much to fit their phase.
pub const MOVE_MARGIN_MS: Millis = 300;
/// Length of the session bell cue (opening and closing): the bell's own.
pub const SESSION_BELL_MS: Millis = (crate::sound::bell::SESSION_BELL_SECONDS * 1000.0) as Millis;
/// Length of a step bell cue: the bell's own.
pub const STEP_BELL_MS: Millis = (crate::sound::bell::STEP_BELL_SECONDS * 1000.0) as Millis;
/// Speech starts this long after the opening session bell is struck.
pub const BELL_LEAD_MS: Millis = 2_500;
/// Speech starts this long after a step bell is struck.
pub const STEP_BELL_LEAD_MS: Millis = 1_500;
/// The closing bell is struck this long after the last spoken word.
pub const CLOSING_BELL_DELAY_MS: Millis = 1_000;
/// Length of a countdown tick cue: the tick's own.
pub const TICK_MS: Millis = (crate::sound::tick::TICK_SECONDS * 1000.0) as Millis;
/// Timed holds at least this long get "Halfway.".
pub const HALFWAY_MIN_MS: Millis = 20_000;
/// "Halfway." is left out when a "seconds left" cue falls closer than this.
pub const HALFWAY_CLEARANCE_MS: Millis = 5_000;
/// Timed holds at least this long get the 3-2-1.
pub const COUNTDOWN_MIN_MS: Millis = 8_000;

/// How to plan.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    /// Output sample rate.
    pub rate: u32,
    /// Where ranges are taken.
    pub level: Level,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            rate: 44_100,
            level: Level::Standard,
        }
    }
}

/// Why a routine could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The voice could not speak a phrase.
    #[error(transparent)]
    Voice(#[from] VoiceError),
    /// The session is longer than [`MAX_SESSION`].
    #[error(
        "{file}: the session lasts {length} at the {level} level, over the {limit} limit; plan it at a lower level or shorten the routine"
    )]
    TooLong {
        /// The routine file.
        file: String,
        /// Its planned length.
        length: String,
        /// The level.
        level: String,
        /// The limit.
        limit: String,
    },
    /// A rate outside [`RATES`].
    #[error(
        "the sample rate {0} Hz is out of range; use {min} to {max} (44100 is usual)",
        min = RATES.start(),
        max = RATES.end()
    )]
    Rate(u32),
    /// The planning was cancelled before it finished.
    #[error("planning was cancelled")]
    Cancelled,
}

/// Plans `routine` with the speech lengths of `voice`.
pub fn plan(
    routine: &Routine,
    voice: &dyn Voice,
    options: &PlanOptions,
) -> Result<Timeline, PlanError> {
    plan_cancellable(routine, voice, options, &Cancel::new())
}

/// As [`plan`], stopping with [`PlanError::Cancelled`] before the next
/// phrase once `cancel` is set.
pub fn plan_cancellable(
    routine: &Routine,
    voice: &dyn Voice,
    options: &PlanOptions,
    cancel: &Cancel,
) -> Result<Timeline, PlanError> {
    plan_unfolding(routine, voice, options, cancel, &mut |_| {})
}

/// As [`plan_cancellable`], showing `observer` the session as far as it is
/// planned each time the planner is about to ask `voice` for a phrase it
/// has not measured yet (with a voice that speaks slowly, the wait).
///
/// The planner is causal: it lays the session from its start, and no cue
/// it places later starts before the [`Prefix::frontier`] it showed. So the
/// prefix's cues are exactly the finished timeline's cues that start before
/// the frontier, and a player can play the session while it is planned
/// (see [`Prefix`]).
pub fn plan_unfolding(
    routine: &Routine,
    voice: &dyn Voice,
    options: &PlanOptions,
    cancel: &Cancel,
    observer: &mut dyn FnMut(&Prefix<'_>),
) -> Result<Timeline, PlanError> {
    check_rate(options.rate)?;
    let at = Resolve::level(options.level);
    let lengths = &mut HashMap::new();
    let timeline = plan_at(routine, voice, options, at, lengths, cancel, Some(observer))?;
    within_limit(routine, timeline, options.level)
}

/// A rate outside [`RATES`] is an error.
fn check_rate(rate: u32) -> Result<(), PlanError> {
    if RATES.contains(&rate) {
        Ok(())
    } else {
        Err(PlanError::Rate(rate))
    }
}

/// `timeline`, or [`PlanError::TooLong`] (naming `level`) if it is over
/// [`MAX_SESSION`].
fn within_limit(
    routine: &Routine,
    timeline: Timeline,
    level: Level,
) -> Result<Timeline, PlanError> {
    let rate = u64::from(timeline.rate);
    if timeline.total > max_samples(timeline.rate) {
        return Err(PlanError::TooLong {
            file: routine.file.clone(),
            length: format_millis(timeline.total * 1000 / rate / 1000 * 1000),
            level: format!("{level:?}").to_lowercase(),
            limit: format_millis(MAX_SESSION),
        });
    }
    Ok(timeline)
}

/// [`MAX_SESSION`] in samples at `rate`.
fn max_samples(rate: u32) -> u64 {
    MAX_SESSION * u64::from(rate) / 1000
}

/// Where the planner takes each range: counts (rounds, repeats, breaths)
/// at one position, durations (holds, rests, `for`, move times) at another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Resolve {
    counts: Position,
    durations: Position,
}

impl Resolve {
    /// Both at `level`.
    fn level(level: Level) -> Resolve {
        Resolve {
            counts: level.into(),
            durations: level.into(),
        }
    }
}

/// Plans `routine` with its ranges taken `at`, without the session limit;
/// `lengths` keeps the phrase lengths asked of `voice` between plans, and
/// `observer`, if any, is shown the session as it is planned (see
/// [`plan_unfolding`]).
fn plan_at<'a>(
    routine: &'a Routine,
    voice: &'a dyn Voice,
    options: &PlanOptions,
    at: Resolve,
    lengths: &'a mut HashMap<String, u64>,
    cancel: &'a Cancel,
    observer: Option<&'a mut dyn FnMut(&Prefix<'_>)>,
) -> Result<Timeline, PlanError> {
    let mut p = Planner {
        routine,
        voice,
        cancel,
        rate: options.rate,
        level: options.level,
        at,
        cursor: 0,
        step: 0,
        step_start: 0,
        cues: Vec::new(),
        spans: Vec::new(),
        warnings: Vec::new(),
        lengths,
        announced: false,
        observer,
    };
    let bells = routine.cues.bells != Bells::Off;
    if bells {
        p.session_bell(0);
        p.cursor = p.samples(BELL_LEAD_MS);
    }
    for (i, step) in routine.steps.iter().enumerate() {
        p.step = i;
        p.step_start = if i == 0 { 0 } else { p.cursor };
        p.step(step, routine.steps.get(i + 1))?;
        let span = p.span(p.cursor);
        p.spans.push(span);
    }
    if bells {
        // The last phrase was followed by a gap; the bell comes a little after.
        let at = (p.cursor.saturating_sub(p.samples(GAP_MS)) + p.samples(CLOSING_BELL_DELAY_MS))
            .max(p.sound_end());
        p.cursor = at + p.session_bell(at);
    }
    let total = p.cursor;
    let mut spans = std::mem::take(&mut p.spans);
    if let Some(last) = spans.last_mut() {
        last.end = total;
    }
    Ok(p.timeline(spans, total))
}

/// A session planned as far as the phrases measured so far reach: what
/// [`plan_unfolding`] shows its observer.
pub struct Prefix<'p> {
    frontier: u64,
    timeline: &'p dyn Fn() -> Timeline,
}

impl Prefix<'_> {
    /// No cue placed from now on starts before this sample (the planner's
    /// cursor: it only moves forward, and every cue is placed at or after
    /// it). Cues already placed may lie past it (a hold's anchored cues).
    pub fn frontier(&self) -> u64 {
        self.frontier
    }

    /// The timeline so far: every cue placed, sorted as in the finished
    /// timeline; the steps begun, the one being planned ending at the
    /// frontier; `total` at the frontier; the warnings so far.
    pub fn timeline(&self) -> Timeline {
        (self.timeline)()
    }
}

/// Asks `voice` for the length of every phrase `routine` will speak, as one
/// batch ([`Voice::length_batch`]: spread over the machine's cores, or one
/// run of an engine's program), so that a caching voice holds them all before
/// [`plan`] asks for them one by one. Planning a long routine from a cold
/// cache then takes a fraction of the time; with a warm cache this reads
/// only file headers. The phrases are found by planning once with the test
/// voice (a few milliseconds), so the odd phrase the real plan places
/// differently is simply spoken then.
pub fn speak_ahead(
    routine: &Routine,
    voice: &dyn Voice,
    options: &PlanOptions,
) -> Result<(), PlanError> {
    speak_ahead_cancellable(routine, voice, options, &Cancel::new())
}

/// As [`speak_ahead`], starting no phrase once `cancel` is set (and then
/// returning [`PlanError::Cancelled`]).
pub fn speak_ahead_cancellable(
    routine: &Routine,
    voice: &dyn Voice,
    options: &PlanOptions,
    cancel: &Cancel,
) -> Result<(), PlanError> {
    let Ok(dry) = plan(routine, &crate::voice::TestVoice::default(), options) else {
        return Ok(()); // the real plan will report it
    };
    speak_phrases_of(&[dry], voice, cancel)
}

/// Asks `voice` for every phrase of `plans` in one batch (see
/// [`speak_ahead`]).
fn speak_phrases_of(
    plans: &[Timeline],
    voice: &dyn Voice,
    cancel: &Cancel,
) -> Result<(), PlanError> {
    let mut texts: Vec<&str> = plans
        .iter()
        .flat_map(|t| t.speech().map(|c| c.text.as_str()))
        .collect();
    texts.sort_unstable();
    texts.dedup();
    // Longest first: spread over cores, the threads finish together.
    texts.sort_by_key(|t| std::cmp::Reverse(t.len()));
    let first_error = std::sync::Mutex::new(None);
    voice.length_batch(&texts, cancel, &|_, result| {
        if let Err(e) = result {
            first_error.lock().unwrap().get_or_insert(e);
        }
    });
    if let Some(e) = first_error.into_inner().unwrap() {
        return Err(e.into());
    }
    if cancel.is_cancelled() {
        return Err(PlanError::Cancelled);
    }
    Ok(())
}

/// The state of one planning run: the cues placed so far and where the
/// next speech goes.
struct Planner<'a> {
    routine: &'a Routine,
    voice: &'a dyn Voice,
    cancel: &'a Cancel,
    rate: u32,
    /// The level the timeline is labelled with ([`Timeline::level`]).
    level: Level,
    /// Where ranges are taken.
    at: Resolve,
    /// Where the next sequential speech goes.
    cursor: u64,
    /// The step being planned (index into the routine's steps).
    step: usize,
    /// Where the step being planned starts.
    step_start: u64,
    cues: Vec<Cue>,
    /// The steps planned so far.
    spans: Vec<StepSpan>,
    warnings: Vec<Warning>,
    /// Speech lengths at the output rate, by text, asked of the voice once
    /// (and kept from one plan to the next while a length is searched for).
    lengths: &'a mut HashMap<String, u64>,
    /// Whether "Next: …" has just named the step about to start.
    announced: bool,
    /// Shown the session so far before each phrase is measured (taken out
    /// while it is called).
    observer: Option<&'a mut dyn FnMut(&Prefix<'_>)>,
}

impl Planner<'_> {
    /// Samples in `ms`, rounded to the nearest.
    fn samples(&self, ms: Millis) -> u64 {
        ((u128::from(ms) * u128::from(self.rate) + 500) / 1000) as u64
    }

    /// The count `span` resolves to.
    fn count(&self, span: Span<u32>) -> u32 {
        span.at_position(self.at.counts)
    }

    /// The duration `span` resolves to.
    fn duration(&self, span: Span<Millis>) -> Millis {
        span.at_position(self.at.durations)
    }

    /// Samples as seconds for a warning: "2.5 s".
    fn secs(&self, samples: u64) -> String {
        format!("{:.1} s", samples as f64 / f64::from(self.rate))
    }

    /// The session bell at `at`; returns its length.
    fn session_bell(&mut self, at: u64) -> u64 {
        let len = self.samples(SESSION_BELL_MS);
        let kind = CueKind::Bell {
            bell: Bell::Session,
        };
        self.push(at, len, kind, Role::SessionBell, "session bell");
        len
    }

    /// A cue of the current step; nothing if it has no length.
    fn push(&mut self, start: u64, len: u64, kind: CueKind, role: Role, text: &str) {
        if len == 0 {
            return;
        }
        self.place(Cue {
            start,
            len,
            step: self.step,
            kind,
            role,
            text: text.to_string(),
            continued: false,
        });
    }

    /// Places `cue`, which never starts before the cursor: what
    /// [`Prefix::frontier`] promises.
    fn place(&mut self, cue: Cue) {
        debug_assert!(
            cue.start >= self.cursor,
            "{cue:?} placed before the cursor {}",
            self.cursor
        );
        self.cues.push(cue);
    }

    /// Shows the observer the session so far.
    fn show_prefix(&mut self) {
        if let Some(observer) = self.observer.take() {
            let timeline = || {
                let mut spans = self.spans.clone();
                if spans.len() == self.step {
                    spans.push(self.span(self.cursor));
                }
                self.timeline(spans, self.cursor)
            };
            observer(&Prefix {
                frontier: self.cursor,
                timeline: &timeline,
            });
            self.observer = Some(observer);
        }
    }

    /// The span of the step being planned, ending at `end`.
    fn span(&self, end: u64) -> StepSpan {
        let step = &self.routine.steps[self.step];
        StepSpan {
            index: self.step,
            name: step.name.clone(),
            start: self.step_start,
            end,
            line: step.at.line,
        }
    }

    /// The timeline of the cues placed so far, with `spans`, `total` long.
    fn timeline(&self, spans: Vec<StepSpan>, total: u64) -> Timeline {
        let mut cues = self.cues.clone();
        cues.sort_by_key(|c| (c.start, c.lane()));
        // A hold repeated, or done on each side, would say the same thing
        // each time: once is enough.
        let mut warnings: Vec<Warning> = Vec::new();
        for w in &self.warnings {
            if !warnings.contains(w) {
                warnings.push(w.clone());
            }
        }
        Timeline {
            title: self.routine.title.clone(),
            rate: self.rate,
            total,
            level: self.level,
            voice: self.voice.identity(),
            steps: spans,
            cues,
            warnings,
            length: None,
        }
    }

    /// Where the sound lane is free from.
    fn sound_end(&self) -> u64 {
        self.cues
            .iter()
            .filter(|c| c.lane() == Lane::Sound)
            .map(Cue::end)
            .max()
            .unwrap_or(0)
    }

    /// A warning pointing at `pos` of the routine file.
    fn warn(&mut self, pos: Pos, message: String) {
        self.warnings.push(Warning {
            line: pos.line,
            column: pos.column,
            message,
        });
    }

    /// One step at the cursor: its bell, name and instructions, its body,
    /// its pause, and what leads into the next step.
    fn step(&mut self, step: &Step, next: Option<&Step>) -> Result<(), PlanError> {
        let cues = &step.cues;
        // The opening session bell already marks the first step.
        let first = self.step == 0 && self.routine.cues.bells != Bells::Off;
        if cues.bells == Bells::Steps && !first {
            let len = self.samples(STEP_BELL_MS);
            self.push(
                self.cursor,
                len,
                CueKind::Bell { bell: Bell::Step },
                Role::StepBell,
                "step bell",
            );
            self.cursor += self.samples(STEP_BELL_LEAD_MS);
        }
        let spoken_only = matches!(step.body, Body::Say);
        let announced = std::mem::take(&mut self.announced);
        let name = match cues.name {
            NameCue::Always => true,
            NameCue::Unannounced => !announced,
            NameCue::Off => false,
        };
        if name && !spoken_only {
            self.say_words(&sentence(&step.name), Role::Name)?;
        }
        if let Some(say) = &step.say {
            let role = if spoken_only {
                Role::Say
            } else {
                Role::Instruction
            };
            self.say(&say.segments, role)?;
        }
        // Sounds of the body must not start while the step bell rings.
        if !matches!(step.body, Body::Say) {
            self.cursor = self.cursor.max(self.sound_end());
        }
        match &step.body {
            Body::Say => {}
            Body::Hold(h) => self.hold_step(step, h)?,
            Body::Flow(f) => self.flow_step(step, f)?,
        }
        if step.pause > 0 {
            self.silence(
                step.pause,
                Role::Pause,
                &format!("pause {}", format_millis(step.pause)),
            );
        }
        if let Some(next) = next {
            if cues.next && !matches!(next.body, Body::Say) {
                self.say_words(&format!("Next: {}.", trim_stop(&next.name)), Role::Next)?;
                self.announced = true;
            }
            let t = self.routine.transition;
            if t > 0 {
                self.silence(t, Role::Transition, &format!("move into {}", next.name));
            }
        }
        Ok(())
    }
}
