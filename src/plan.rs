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
//!   alternate inhale and exhale at the routine's pace from the hold's start,
//!   with a breath cue (tone, word, both) on each phase. Timed holds have no
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

use std::collections::HashMap;

use crate::routine::{
    Bells, Body, Countdown, Flow, FlowAmount, Hold, HoldLength, Level, MAX_SESSION, Millis, MoveOn,
    Pos, Routine, Segment, Step, Text, format_millis,
};
use crate::timeline::{Bell, Cue, CueKind, Phase, Role, StepSpan, Timeline, Warning};
use crate::voice::{Voice, VoiceError};

/// Appended to the text of a hold's silence after its first stretch; the
/// plan table shows only the first.
pub const CONTINUED: &str = ", continued";

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
        "{file}: the session lasts {length} at --level {level}, over the {limit} limit; plan it at a lower level or shorten the routine"
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
    /// A rate of zero or beyond what audio uses.
    #[error("the sample rate {0} Hz is out of range; use 8000 to 192000 (44100 is usual)")]
    Rate(u32),
}

/// Plans `routine` with the speech lengths of `voice`.
pub fn plan(
    routine: &Routine,
    voice: &dyn Voice,
    options: &PlanOptions,
) -> Result<Timeline, PlanError> {
    if !(8_000..=192_000).contains(&options.rate) {
        return Err(PlanError::Rate(options.rate));
    }
    let mut p = Planner {
        routine,
        voice,
        rate: options.rate,
        level: options.level,
        cursor: 0,
        step: 0,
        cues: Vec::new(),
        warnings: Vec::new(),
        lengths: HashMap::new(),
    };
    let bells = routine.cues.bells != Bells::Off;
    if bells {
        let len = p.samples(SESSION_BELL_MS);
        p.push(
            0,
            len,
            CueKind::Bell {
                bell: Bell::Session,
            },
            Role::SessionBell,
            "session bell",
        );
        p.cursor = p.samples(BELL_LEAD_MS);
    }
    let mut spans = Vec::new();
    for (i, step) in routine.steps.iter().enumerate() {
        p.step = i;
        let start = if i == 0 { 0 } else { p.cursor };
        p.step(step, routine.steps.get(i + 1))?;
        spans.push(StepSpan {
            index: i,
            name: step.name.clone(),
            start,
            end: p.cursor,
            line: step.at.line,
        });
    }
    if bells {
        // The last phrase was followed by a gap; the bell comes a little after.
        let at = (p.cursor.saturating_sub(p.samples(GAP_MS)) + p.samples(CLOSING_BELL_DELAY_MS))
            .max(p.sound_end());
        let len = p.samples(SESSION_BELL_MS);
        p.push(
            at,
            len,
            CueKind::Bell {
                bell: Bell::Session,
            },
            Role::SessionBell,
            "session bell",
        );
        p.cursor = at + len;
    }
    let total = p.cursor;
    if let Some(last) = spans.last_mut() {
        last.end = total;
    }
    if total > p.samples(MAX_SESSION) {
        return Err(PlanError::TooLong {
            file: routine.file.clone(),
            length: format_millis(total * 1000 / u64::from(p.rate) / 1000 * 1000),
            level: format!("{:?}", options.level).to_lowercase(),
            limit: format_millis(MAX_SESSION),
        });
    }
    let mut cues = p.cues;
    cues.sort_by_key(|c| (c.start, c.lane()));
    Ok(Timeline {
        title: routine.title.clone(),
        rate: options.rate,
        total,
        level: options.level,
        voice: voice.identity(),
        steps: spans,
        cues,
        warnings: p.warnings,
    })
}

/// Asks `voice` for the length of every phrase `routine` will speak, spread
/// over the machine's cores, so that a caching voice holds them all before
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
    let Ok(dry) = plan(routine, &crate::voice::TestVoice::default(), options) else {
        return Ok(()); // the real plan will report it
    };
    let mut texts: Vec<&str> = dry.speech().map(|c| c.text.as_str()).collect();
    texts.sort_unstable();
    texts.dedup();
    // Longest first from one queue: the threads finish together.
    texts.sort_by_key(|t| std::cmp::Reverse(t.len()));
    // One batch: an engine that runs a program loads its model once, and a
    // cache sends it only its misses. The first error is the plan's.
    let first_error = std::sync::Mutex::new(None);
    let cancel = crate::Cancel::new();
    voice.length_batch(&texts, &cancel, &|_, result| {
        if let Err(e) = result {
            first_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(e);
        }
    });
    match first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

struct Planner<'a> {
    routine: &'a Routine,
    voice: &'a dyn Voice,
    rate: u32,
    level: Level,
    /// Where the next sequential speech goes.
    cursor: u64,
    step: usize,
    cues: Vec<Cue>,
    warnings: Vec<Warning>,
    lengths: HashMap<String, u64>,
}

/// A cue waiting to be placed in a hold.
struct Candidate {
    at: u64,
    segments: Vec<Segment>,
    role: Role,
    /// Where to point a warning if it cannot be placed.
    pos: Pos,
    /// Breath words give way without a warning.
    quiet: bool,
}

impl Planner<'_> {
    fn samples(&self, ms: Millis) -> u64 {
        ((u128::from(ms) * u128::from(self.rate) + 500) / 1000) as u64
    }

    fn secs(&self, samples: u64) -> String {
        format!("{:.1} s", samples as f64 / f64::from(self.rate))
    }

    fn push(&mut self, start: u64, len: u64, kind: CueKind, role: Role, text: &str) {
        if len == 0 {
            return;
        }
        self.cues.push(Cue {
            start,
            len,
            step: self.step,
            kind,
            role,
            text: text.to_string(),
        });
    }

    /// Where the sound lane is free from.
    fn sound_end(&self) -> u64 {
        self.cues
            .iter()
            .filter(|c| c.lane() == crate::timeline::Lane::Sound)
            .map(Cue::end)
            .max()
            .unwrap_or(0)
    }

    fn warn(&mut self, pos: Pos, message: String) {
        self.warnings.push(Warning {
            line: pos.line,
            column: pos.column,
            message,
        });
    }

    /// Length of a phrase at the output rate, asked of the voice once.
    fn len(&mut self, text: &str) -> Result<u64, PlanError> {
        if let Some(&n) = self.lengths.get(text) {
            return Ok(n);
        }
        let (rate, samples) = self.voice.length(text)?;
        let n = crate::voice::len_at(samples, rate, self.rate).max(1);
        self.lengths.insert(text.to_string(), n);
        Ok(n)
    }

    /// Length of text with its inline pauses, without trailing gap.
    fn text_len(&mut self, segments: &[Segment]) -> Result<u64, PlanError> {
        let mut total = 0;
        for (i, s) in segments.iter().enumerate() {
            if i > 0 {
                total += self.samples(GAP_MS);
            }
            total += match s {
                Segment::Speak(words) => self.len(words)?,
                Segment::Pause(ms) => self.samples(*ms),
            };
        }
        Ok(total)
    }

    /// Speaks `segments` at `at`, returning where they end (no trailing gap).
    fn place_text(&mut self, at: u64, segments: &[Segment], role: Role) -> Result<u64, PlanError> {
        let mut t = at;
        for (i, s) in segments.iter().enumerate() {
            if i > 0 {
                t += self.samples(GAP_MS);
            }
            match s {
                Segment::Speak(words) => {
                    let len = self.len(words)?;
                    self.push(t, len, CueKind::Speech, role, words);
                    t += len;
                }
                Segment::Pause(ms) => {
                    let len = self.samples(*ms);
                    self.push(
                        t,
                        len,
                        CueKind::Silence,
                        Role::Pause,
                        &format!("pause {}", format_millis(*ms)),
                    );
                    t += len;
                }
            }
        }
        Ok(t)
    }

    /// Speaks at the cursor and moves it past the words and a gap.
    fn say(&mut self, segments: &[Segment], role: Role) -> Result<(), PlanError> {
        let end = self.place_text(self.cursor, segments, role)?;
        self.cursor = end + self.samples(GAP_MS);
        Ok(())
    }

    fn say_words(&mut self, words: &str, role: Role) -> Result<(), PlanError> {
        self.say(&[Segment::Speak(words.to_string())], role)
    }

    /// Silence at the cursor.
    fn silence(&mut self, ms: Millis, role: Role, text: &str) {
        let len = self.samples(ms);
        self.push(self.cursor, len, CueKind::Silence, role, text);
        self.cursor += len;
    }

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
        if cues.name && !spoken_only {
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
            }
            let t = self.routine.transition;
            if t > 0 {
                self.silence(t, Role::Transition, &format!("move into {}", next.name));
            }
        }
        Ok(())
    }

    /// The words that start side `i` of `sides`.
    fn side(&mut self, step: &Step, i: usize) -> Result<(), PlanError> {
        let Some(side) = step.sides.get(i) else {
            return Ok(());
        };
        if !step.cues.switch {
            if i > 0 {
                self.silence(self.routine.transition, Role::Transition, "switch sides");
            }
            return Ok(());
        }
        let words = if i == 0 {
            format!("{} first.", capitalise(side))
        } else {
            format!("Switch sides. {}.", capitalise(side))
        };
        self.say_words(&words, Role::Side)?;
        if i > 0 && self.routine.transition > 0 {
            self.silence(self.routine.transition, Role::Transition, "switch sides");
        }
        Ok(())
    }

    fn sides(step: &Step) -> usize {
        step.sides.len().max(1)
    }

    fn hold_step(&mut self, step: &Step, h: &Hold) -> Result<(), PlanError> {
        let rounds = h.repeat.at(self.level);
        for side in 0..Self::sides(step) {
            self.side(step, side)?;
            for round in 1..=rounds {
                if round > 1 {
                    let rest = h.rest.at(self.level);
                    match &h.rest_say {
                        Some(t) => self.say(&t.segments, Role::Rest)?,
                        None => self.say_words(
                            &format!("Rest for {}.", spoken_duration(rest)),
                            Role::Rest,
                        )?,
                    }
                    self.silence(rest, Role::Rest, &format!("rest {}", format_millis(rest)));
                    self.say_words(&format!("Round {round} of {rounds}."), Role::Round)?;
                    match &h.again {
                        Some(t) => self.say(&t.segments, Role::Round)?,
                        None => self.say_words(&sentence(&step.name), Role::Round)?,
                    }
                }
                self.hold(step, h)?;
                self.release(step, "Release.")?;
            }
        }
        Ok(())
    }

    fn release(&mut self, step: &Step, default: &str) -> Result<(), PlanError> {
        if !step.cues.release {
            return Ok(());
        }
        match &step.release {
            Some(t) => self.say(&t.segments, Role::Release),
            None => self.say_words(default, Role::Release),
        }
    }

    /// One hold at the cursor: silence with anchored cues, cursor to its end.
    fn hold(&mut self, step: &Step, h: &Hold) -> Result<(), PlanError> {
        let cues = &step.cues;
        let (inhale, exhale) = (self.routine.breath.inhale, self.routine.breath.exhale);
        let (length_ms, breaths) = match h.length {
            HoldLength::Time(d) => (d.at(self.level), None),
            HoldLength::Breaths(b) => {
                let n = b.at(self.level);
                (u64::from(n) * (inhale + exhale), Some(n))
            }
        };
        let t0 = self.cursor;
        let len = self.samples(length_ms);
        let end = t0 + len;
        let label = match breaths {
            Some(n) => format!("hold {n} breaths"),
            None => format!("hold {}", format_millis(length_ms)),
        };

        // Breath phases, if the hold is breath-led.
        let breath_led = breaths.is_some() || !h.on_inhale.is_empty() || !h.on_exhale.is_empty();
        let mut phases = Vec::new(); // (start, len, phase, breath index)
        if breath_led {
            let mut t = t0;
            let mut i = 0;
            while t < end {
                for (phase, ms) in [(Phase::Inhale, inhale), (Phase::Exhale, exhale)] {
                    if t >= end {
                        break;
                    }
                    let l = self.samples(ms).min(end - t);
                    phases.push((t, l, phase, i));
                    t += l;
                }
                i += 1;
            }
        }
        if cues.breath.tone() {
            for &(t, l, phase, _) in &phases {
                self.push(
                    t,
                    l,
                    CueKind::Breath { phase },
                    Role::Breath,
                    phase_word(phase),
                );
            }
        }

        // Anchored speech, highest priority first.
        let mut wanted: Vec<Candidate> = Vec::new();
        let at_step = step.at;
        let sec = |s: &Self, ms: Millis| s.samples(ms);
        if breaths.is_none() && length_ms >= COUNTDOWN_MIN_MS {
            for (k, word) in [(3, "Three."), (2, "Two."), (1, "One.")] {
                let at = end - sec(self, k * 1000);
                match cues.countdown {
                    Countdown::Voice => wanted.push(Candidate {
                        at,
                        segments: words(word),
                        role: Role::Countdown,
                        pos: at_step,
                        quiet: false,
                    }),
                    Countdown::Tick => {
                        let l = self.samples(TICK_MS);
                        self.push(at, l, CueKind::Tick, Role::Countdown, &format!("tick {k}"));
                    }
                    Countdown::Off => {}
                }
            }
        }
        match breaths {
            Some(n) => {
                // In breaths: "Two more breaths." at the start of the
                // second-to-last breath, "Halfway." at the middle one.
                let inhale_of = |b: usize| {
                    phases
                        .iter()
                        .find(|p| p.2 == Phase::Inhale && p.3 == b)
                        .map(|p| p.0)
                };
                let n = n as usize;
                let remaining = (!cues.remaining.is_empty() && n >= 4)
                    .then(|| inhale_of(n - 2))
                    .flatten();
                let halfway = (cues.halfway && n >= 6).then(|| inhale_of(n / 2)).flatten();
                for (at, text, role) in [
                    (remaining, "Two more breaths.", Role::Remaining),
                    (halfway, "Halfway.", Role::Halfway),
                ] {
                    if let Some(at) = at {
                        wanted.push(Candidate {
                            at,
                            segments: words(text),
                            role,
                            pos: at_step,
                            quiet: false,
                        });
                    }
                }
            }
            None => {
                for &r in &cues.remaining {
                    if length_ms >= 2 * r {
                        wanted.push(Candidate {
                            at: end - sec(self, r),
                            segments: words(format!("{} left.", capitalise(&spoken_duration(r)))),
                            role: Role::Remaining,
                            pos: at_step,
                            quiet: false,
                        });
                    }
                }
                // "Halfway." gives way to a "seconds left" cue close to it.
                let near_remaining = cues.remaining.iter().any(|&r| {
                    length_ms >= 2 * r
                        && (length_ms / 2).abs_diff(length_ms - r) < HALFWAY_CLEARANCE_MS
                });
                if cues.halfway && length_ms >= HALFWAY_MIN_MS && !near_remaining {
                    wanted.push(Candidate {
                        at: t0 + len / 2,
                        segments: words("Halfway."),
                        role: Role::Halfway,
                        pos: at_step,
                        quiet: false,
                    });
                }
            }
        }
        let k = h.prompts.len() as u64;
        for (j, prompt) in h.prompts.iter().enumerate() {
            let at = t0 + len * (j as u64 + 1) / (k + 1);
            wanted.push(Candidate {
                at,
                segments: prompt.segments.clone(),
                role: Role::Prompt,
                pos: prompt.at,
                quiet: false,
            });
        }
        // Phrases: once each, on successive inhales / exhales.
        for (phase, list) in [(Phase::Inhale, &h.on_inhale), (Phase::Exhale, &h.on_exhale)] {
            let starts: Vec<(u64, u64)> = phases
                .iter()
                .filter(|p| p.2 == phase)
                .map(|p| (p.0, p.1))
                .collect();
            for (i, phrase) in list.iter().enumerate() {
                let Some(&(at, phase_len)) = starts.get(i) else {
                    self.warn(phrase.at, format!(
                        "the {} phrase {:?} has no {} left to be spoken on: the hold has {} {}s",
                        ordinal(i + 1), phrase.raw, phase_word(phase).to_lowercase(), starts.len(), phase_word(phase).to_lowercase()
                    ));
                    continue;
                };
                let need = self.text_len(&phrase.segments)?;
                if need > phase_len {
                    self.warn(phrase.at, format!(
                        "the phrase {:?} takes {} to say, longer than its {} of {}; it runs into the next phase",
                        phrase.raw, self.secs(need), phase_word(phase).to_lowercase(), self.secs(phase_len)
                    ));
                }
                wanted.push(Candidate {
                    at,
                    segments: phrase.segments.clone(),
                    role: Role::Phrase,
                    pos: phrase.at,
                    quiet: false,
                });
            }
        }
        if cues.breath.spoken() {
            for &(t, _, phase, _) in &phases {
                wanted.push(Candidate {
                    at: t,
                    segments: words(format!("{}.", phase_word(phase))),
                    role: Role::Breath,
                    pos: at_step,
                    quiet: true,
                });
            }
        }

        // Place: each in turn, if it fits between what is placed and the end.
        let mut placed: Vec<(u64, u64)> = Vec::new();
        let gap = self.samples(GAP_MS) / 2;
        for c in wanted {
            let segments = c.segments;
            let need = self.text_len(&segments)?;
            let span = (c.at, c.at + need);
            let fits_end = span.1 <= end;
            let clash = placed
                .iter()
                .find(|&&(a, b)| span.0 < b + gap && a < span.1 + gap)
                .copied();
            if fits_end && clash.is_none() {
                self.place_text(c.at, &segments, c.role)?;
                placed.push(span);
            } else if !c.quiet {
                let what = display_segments(&segments);
                let why = match clash {
                    Some((a, b)) => format!(
                        "it would overlap the cue at {}–{} of the hold",
                        self.secs(a - t0),
                        self.secs(b - t0)
                    ),
                    None => format!(
                        "it would run {} past the hold's end",
                        self.secs(span.1 - end)
                    ),
                };
                self.warn(
                    c.pos,
                    format!(
                        "step \"{}\": {:?} ({}) at {} into the hold is left out: {why}",
                        step.name,
                        what,
                        self.secs(need),
                        self.secs(c.at - t0)
                    ),
                );
            }
        }
        // The hold's silence is what is left between the spoken cues.
        placed.sort_unstable();
        let mut t = t0;
        let mut first = true;
        for (a, b) in placed.into_iter().chain([(end, end)]) {
            if a > t {
                let text = if first {
                    label.clone()
                } else {
                    format!("{label}{CONTINUED}")
                };
                self.push(t, a - t, CueKind::Silence, Role::Hold, &text);
                first = false;
            }
            t = t.max(b);
        }
        self.cursor = end;
        Ok(())
    }

    fn flow_step(&mut self, step: &Step, f: &Flow) -> Result<(), PlanError> {
        for side in 0..Self::sides(step) {
            self.side(step, side)?;
            let rounds = self.flow_rounds(f)?;
            let mut warned = vec![false; f.moves.len()];
            for round in 1..=rounds {
                for (mi, m) in f.moves.iter().enumerate() {
                    let text = if round == 1 {
                        &m.text
                    } else {
                        m.then.as_ref().unwrap_or(&m.text)
                    };
                    let segments = self.move_words(step, f, m.on, text, mi, round, rounds);
                    let words = self.text_len(&segments)?;
                    let t = self.cursor;
                    let slot = match m.on {
                        MoveOn::Time(d) => {
                            words + self.samples(GAP_MS) + self.samples(d.at(self.level))
                        }
                        MoveOn::Inhale | MoveOn::Exhale => {
                            let phase = self.samples(if m.on == MoveOn::Inhale {
                                self.routine.breath.inhale
                            } else {
                                self.routine.breath.exhale
                            });
                            let need = words + self.samples(MOVE_MARGIN_MS);
                            if need > phase && !warned[mi] {
                                warned[mi] = true;
                                let name = if m.on == MoveOn::Inhale {
                                    "inhale"
                                } else {
                                    "exhale"
                                };
                                self.warn(text.at, format!(
                                    "step \"{}\": the words {:?} take {} to say, longer than the {} {name}; the {name} is stretched to {}",
                                    step.name, display_segments(&segments), self.secs(words), self.secs(phase), self.secs(need)
                                ));
                            }
                            need.max(phase)
                        }
                    };
                    self.place_text(t, &segments, Role::Move)?;
                    if step.cues.breath.tone() {
                        let phase = match m.on {
                            MoveOn::Inhale => Some(Phase::Inhale),
                            MoveOn::Exhale => Some(Phase::Exhale),
                            MoveOn::Time(_) => None,
                        };
                        if let Some(phase) = phase {
                            self.push(
                                t,
                                slot,
                                CueKind::Breath { phase },
                                Role::Breath,
                                phase_word(phase),
                            );
                        }
                    }
                    if let MoveOn::Time(d) = m.on {
                        let hold_at = t + words + self.samples(GAP_MS);
                        let l = self.samples(d.at(self.level));
                        self.push(
                            hold_at,
                            l,
                            CueKind::Silence,
                            Role::Hold,
                            &format!("hold {}", format_millis(d.at(self.level))),
                        );
                    }
                    self.cursor = t + slot;
                }
            }
            self.cursor += self.samples(GAP_MS);
            self.release(step, "And release.")?;
        }
        Ok(())
    }

    /// The words of one move, with the round count and breath word.
    #[allow(clippy::too_many_arguments)]
    fn move_words(
        &self,
        step: &Step,
        f: &Flow,
        on: MoveOn,
        text: &Text,
        mi: usize,
        round: u32,
        rounds: u32,
    ) -> Vec<Segment> {
        let mut segments = text.segments.clone();
        let mut prefix = String::new();
        if f.count && mi == 0 {
            prefix = if round == rounds && rounds > 1 {
                "Last one.".into()
            } else {
                format!("{}.", number_word(round))
            };
        }
        let phase = match on {
            MoveOn::Inhale => Some("Inhale"),
            MoveOn::Exhale => Some("Exhale"),
            MoveOn::Time(_) => None,
        };
        if let (Some(word), true) = (phase, step.cues.breath.spoken()) {
            let starts_with_it = text
                .raw
                .trim_start()
                .to_lowercase()
                .starts_with(&word.to_lowercase());
            if !starts_with_it {
                prefix = if prefix.is_empty() {
                    format!("{word}.")
                } else {
                    format!("{prefix} {word}.")
                };
            }
        }
        if !prefix.is_empty() {
            match segments.first_mut() {
                Some(Segment::Speak(s)) => *s = format!("{prefix} {s}"),
                _ => segments.insert(0, Segment::Speak(prefix)),
            }
        }
        segments
    }

    /// How many rounds a flow plays at this level.
    fn flow_rounds(&mut self, f: &Flow) -> Result<u32, PlanError> {
        let target = match f.amount {
            FlowAmount::Rounds(r) => return Ok(r.at(self.level)),
            FlowAmount::For(d) => self.samples(d.at(self.level)),
        };
        // Round lengths without count words: the first round and a later one.
        let mut round_len = [0u64; 2];
        for (k, round) in [1u32, 2].into_iter().enumerate() {
            for m in &f.moves {
                let text = if round == 1 {
                    &m.text
                } else {
                    m.then.as_ref().unwrap_or(&m.text)
                };
                let words = self.text_len(&text.segments)?;
                round_len[k] += match m.on {
                    MoveOn::Time(d) => {
                        words + self.samples(GAP_MS) + self.samples(d.at(self.level))
                    }
                    MoveOn::Inhale => (words + self.samples(MOVE_MARGIN_MS))
                        .max(self.samples(self.routine.breath.inhale)),
                    MoveOn::Exhale => (words + self.samples(MOVE_MARGIN_MS))
                        .max(self.samples(self.routine.breath.exhale)),
                };
            }
        }
        if target <= round_len[0] {
            return Ok(1);
        }
        let more = (target - round_len[0] + round_len[1] / 2) / round_len[1].max(1);
        Ok(1 + u32::try_from(more).unwrap_or(u32::MAX))
    }
}

fn words(w: impl Into<String>) -> Vec<Segment> {
    vec![Segment::Speak(w.into())]
}

fn phase_word(p: Phase) -> &'static str {
    match p {
        Phase::Inhale => "Inhale",
        Phase::Exhale => "Exhale",
    }
}

fn display_segments(segments: &[Segment]) -> String {
    segments
        .iter()
        .map(|s| match s {
            Segment::Speak(w) => w.clone(),
            Segment::Pause(ms) => format!("[{}]", format_millis(*ms)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `"cat-cow"` → `"Cat-cow."`: a name spoken as a sentence.
fn sentence(name: &str) -> String {
    format!("{}.", capitalise(trim_stop(name)))
}

fn trim_stop(s: &str) -> &str {
    s.trim().trim_end_matches(['.', '!', '?'])
}

fn capitalise(s: &str) -> String {
    let mut c = s.trim().chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `10_000` → "10 seconds", `60_000` → "1 minute", `90_000` → "1 minute 30 seconds".
fn spoken_duration(ms: Millis) -> String {
    let s = ms / 1000;
    let (m, s) = (s / 60, s % 60);
    let unit = |n: u64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    match (m, s) {
        (0, s) => unit(s, "second"),
        (m, 0) => unit(m, "minute"),
        (m, s) => format!("{} {}", unit(m, "minute"), unit(s, "second")),
    }
}

fn number_word(n: u32) -> String {
    const WORDS: [&str; 21] = [
        "Zero",
        "One",
        "Two",
        "Three",
        "Four",
        "Five",
        "Six",
        "Seven",
        "Eight",
        "Nine",
        "Ten",
        "Eleven",
        "Twelve",
        "Thirteen",
        "Fourteen",
        "Fifteen",
        "Sixteen",
        "Seventeen",
        "Eighteen",
        "Nineteen",
        "Twenty",
    ];
    WORDS
        .get(n as usize)
        .map_or_else(|| n.to_string(), |w| (*w).to_string())
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(spoken_duration(10_000), "10 seconds");
        assert_eq!(spoken_duration(1_000), "1 second");
        assert_eq!(spoken_duration(60_000), "1 minute");
        assert_eq!(spoken_duration(150_000), "2 minutes 30 seconds");
        assert_eq!(sentence("cat-cow"), "Cat-cow.");
        assert_eq!(sentence("Rest."), "Rest.");
        assert_eq!(number_word(3), "Three");
        assert_eq!(number_word(25), "25");
        assert_eq!(ordinal(2), "2nd");
        assert_eq!(ordinal(12), "12th");
    }
}

#[cfg(test)]
mod timing {
    //! Exact sample arithmetic of the timing rules, at 8 kHz with a test
    //! voice of 66 ms per character (so "Squat." is 396 ms = 3168 samples).
    use super::*;
    use crate::routine;
    use crate::voice::TestVoice;

    const RATE: u32 = 8_000;
    const GAP: u64 = 4_800; // 600 ms

    fn plan_at(toml: &str, level: Level) -> Timeline {
        let (r, _) = routine::parse("t.toml", std::path::Path::new("."), toml)
            .unwrap_or_else(|e| panic!("{e}"));
        plan(
            &r,
            &TestVoice::default(),
            &PlanOptions { rate: RATE, level },
        )
        .unwrap()
    }

    fn plan_str(toml: &str) -> Timeline {
        plan_at(toml, Level::Standard)
    }

    /// Samples of a phrase spoken by the test voice.
    fn said(text: &str) -> u64 {
        text.chars().count() as u64 * 66 * 8
    }

    fn find<'t>(t: &'t Timeline, text: &str) -> &'t Cue {
        t.cues
            .iter()
            .find(|c| c.text == text)
            .unwrap_or_else(|| panic!("no cue {text:?}"))
    }

    const BARE: &str = "title = \"T\"\n[cues]\nbells = \"off\"\n";

    #[test]
    fn a_hold_starts_when_its_name_is_spoken_and_counts_down_to_release() {
        let t = plan_str(&format!(
            "{BARE}[[step]]\nname = \"Squat\"\nhold = \"10s\"\n"
        ));
        let name = find(&t, "Squat.");
        assert_eq!((name.start, name.len), (0, said("Squat.")));
        let hold = t.cues.iter().find(|c| c.role == Role::Hold).unwrap();
        let t0 = said("Squat.") + GAP;
        assert_eq!(hold.start, t0);
        // The hold's silence fills the gaps between the countdown words.
        let silent: u64 = t
            .cues
            .iter()
            .filter(|c| c.role == Role::Hold)
            .map(|c| c.len)
            .sum();
        let spoken = said("Three.") + said("Two.") + said("One.");
        assert_eq!(silent + spoken, 80_000);
        assert_eq!(find(&t, "Three.").start, t0 + 80_000 - 24_000);
        assert_eq!(find(&t, "Two.").start, t0 + 80_000 - 16_000);
        assert_eq!(find(&t, "One.").start, t0 + 80_000 - 8_000);
        assert_eq!(find(&t, "Release.").start, t0 + 80_000);
        // A 10 s hold is too short for "Halfway." and "10 seconds left.".
        assert!(
            t.cues
                .iter()
                .all(|c| c.role != Role::Halfway && c.role != Role::Remaining)
        );
        assert_eq!(t.total, t0 + 80_000 + said("Release.") + GAP);
        assert_eq!(t.steps[0].start, 0);
        assert_eq!(t.steps[0].end, t.total);
    }

    #[test]
    fn halfway_and_seconds_left_are_anchored_to_the_hold() {
        let t = plan_str(&format!("{BARE}[[step]]\nname = \"Dog\"\nhold = \"40s\"\n"));
        let t0 = said("Dog.") + GAP;
        assert_eq!(find(&t, "Halfway.").start, t0 + 160_000);
        assert_eq!(find(&t, "10 seconds left.").start, t0 + 320_000 - 80_000);
        // At 20 s "Halfway." would sit 2 s from "10 seconds left." and is left out.
        let t = plan_str(&format!("{BARE}[[step]]\nname = \"Dog\"\nhold = \"22s\"\n"));
        assert!(t.cues.iter().all(|c| c.role != Role::Halfway));
    }

    #[test]
    fn ranges_resolve_by_level() {
        let toml = format!("{BARE}[[step]]\nname = \"Lat\"\nhold = \"15-30s\"\n");
        let hold_len = |level| {
            let t = plan_at(&toml, level);
            let start = t.cues.iter().find(|c| c.role == Role::Hold).unwrap().start;
            t.cues
                .iter()
                .find(|c| c.role == Role::Release)
                .unwrap()
                .start
                - start
        };
        assert_eq!(hold_len(Level::Gentle), 15 * 8_000);
        assert_eq!(hold_len(Level::Standard), 23 * 8_000);
        assert_eq!(hold_len(Level::Deep), 30 * 8_000);
    }

    #[test]
    fn breath_holds_alternate_phases_at_the_routine_pace() {
        let t = plan_str(&format!(
            "{BARE}[breath]\ninhale = \"2s\"\nexhale = \"3s\"\n[[step]]\nname = \"B\"\nbreaths = 2\n"
        ));
        let t0 = said("B.") + GAP;
        let tones: Vec<(u64, u64, CueKind)> = t
            .cues
            .iter()
            .filter(|c| c.role == Role::Breath)
            .map(|c| (c.start, c.len, c.kind))
            .collect();
        let inhale = CueKind::Breath {
            phase: Phase::Inhale,
        };
        let exhale = CueKind::Breath {
            phase: Phase::Exhale,
        };
        assert_eq!(
            tones,
            vec![
                (t0, 16_000, inhale),
                (t0 + 16_000, 24_000, exhale),
                (t0 + 40_000, 16_000, inhale),
                (t0 + 56_000, 24_000, exhale),
            ]
        );
        // Breath holds have no 3-2-1.
        assert!(t.cues.iter().all(|c| c.role != Role::Countdown));
    }

    #[test]
    fn inline_pauses_are_silence_between_phrases() {
        let t = plan_str(&format!(
            "{BARE}[[step]]\nname = \"W\"\nsay = \"Sit. [2s] Breathe.\"\n"
        ));
        let sit = find(&t, "Sit.");
        let pause = t.cues.iter().find(|c| c.role == Role::Pause).unwrap();
        let breathe = find(&t, "Breathe.");
        assert_eq!(sit.start, 0);
        assert_eq!(pause.start, said("Sit.") + GAP);
        assert_eq!(pause.len, 16_000);
        assert_eq!(breathe.start, pause.start + 16_000 + GAP);
    }

    #[test]
    fn a_long_flow_move_stretches_its_breath_with_a_warning() {
        let t = plan_str(&format!(
            "{BARE}[breath]\ninhale = \"2s\"\nexhale = \"2s\"\n[[step]]\nname = \"F\"\nflow = [{{ inhale = \"Lift the arms all the way up.\" }}, {{ exhale = \"Down.\" }}]\nrounds = 2\n"
        ));
        let words = said("Lift the arms all the way up.");
        let lifts: Vec<&Cue> = t
            .cues
            .iter()
            .filter(|c| c.text.starts_with("Lift"))
            .collect();
        assert_eq!(lifts.len(), 2);
        // The inhale lasts the words plus 300 ms instead of 2 s.
        let slot = words + 2_400;
        assert_eq!(lifts[1].start - lifts[0].start, slot + 16_000);
        assert_eq!(t.warnings.len(), 1, "{:?}", t.warnings);
        assert!(
            t.warnings[0].message.contains("stretched"),
            "{:?}",
            t.warnings
        );
        assert_eq!(t.warnings[0].line, 9); // the line of the `flow`
    }

    #[test]
    fn a_timed_move_lasts_its_words_and_its_time() {
        let t = plan_str(&format!(
            "{BARE}[[step]]\nname = \"S\"\nflow = [{{ say = \"Squeeze.\", time = \"5s\" }}, {{ say = \"Relax.\", time = \"2s\" }}]\nrounds = 2\ncount = true\n"
        ));
        let first = find(&t, "One. Squeeze.");
        let relax = t.cues.iter().find(|c| c.text == "Relax.").unwrap();
        assert_eq!(
            relax.start,
            first.start + said("One. Squeeze.") + GAP + 40_000
        );
        assert!(t.cues.iter().any(|c| c.text == "Last one. Squeeze."));
    }

    #[test]
    fn a_flow_for_a_time_plays_the_nearest_whole_rounds() {
        // One round is 2 s + 2 s = 4 s (the words fit): 30 s is 7.5 rounds → 8.
        let t = plan_str(&format!(
            "{BARE}[breath]\ninhale = \"2s\"\nexhale = \"2s\"\n[[step]]\nname = \"F\"\nflow = [{{ inhale = \"Up.\" }}, {{ exhale = \"Down.\" }}]\nfor = \"30s\"\n"
        ));
        assert_eq!(t.cues.iter().filter(|c| c.text == "Up.").count(), 8);
    }

    #[test]
    fn phrases_that_collide_are_left_out_with_the_numbers() {
        let t = plan_str(&format!(
            "{BARE}[breath]\ninhale = \"2s\"\nexhale = \"2s\"\n[[step]]\nname = \"C\"\nbreaths = 3\non_inhale = [\"A phrase far too long to fit in two seconds.\"]\non_exhale = [\"Out.\"]\n"
        ));
        let msgs: Vec<&str> = t.warnings.iter().map(|w| w.message.as_str()).collect();
        assert!(
            msgs.iter()
                .any(|m| m.contains("longer than its inhale of 2.0 s")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("\"Out.\"") && m.contains("left out")),
            "{msgs:?}"
        );
        assert!(t.cues.iter().all(|c| c.text != "Out."));
    }

    #[test]
    fn sides_and_rounds_are_spoken() {
        let t = plan_str(&format!(
            "{BARE}[[step]]\nname = \"Lunge\"\nhold = \"5s\"\nsides = true\nrepeat = 2\nrest = \"3s\"\n"
        ));
        let texts: Vec<&str> = t.speech().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Lunge.",
                "Right first.",
                "Release.",
                "Rest for 3 seconds.",
                "Round 2 of 2.",
                "Lunge.",
                "Release.",
                "Switch sides. Left.",
                "Release.",
                "Rest for 3 seconds.",
                "Round 2 of 2.",
                "Lunge.",
                "Release."
            ]
        );
    }

    #[test]
    fn bells_open_and_close_the_session_without_overlap() {
        let t = plan_str(
            "title = \"T\"\n[cues]\nbells = \"steps\"\n[[step]]\nname = \"A\"\nsay = \"Hi.\"\n[[step]]\nname = \"B\"\nhold = \"5s\"\n",
        );
        let bells: Vec<(u64, u64, Role)> = t
            .cues
            .iter()
            .filter(|c| matches!(c.kind, CueKind::Bell { .. }))
            .map(|c| (c.start, c.len, c.role))
            .collect();
        assert_eq!(bells.len(), 3, "{bells:?}"); // no step bell on the first step
        assert_eq!(bells[0], (0, 48_000, Role::SessionBell));
        assert_eq!(bells[1].2, Role::StepBell);
        assert_eq!(bells[2].2, Role::SessionBell);
        for w in bells.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "{bells:?}");
        }
        assert_eq!(t.total, bells[2].0 + bells[2].1);
    }

    #[test]
    fn speaking_ahead_asks_for_every_phrase_of_the_plan() {
        use std::collections::BTreeSet;
        use std::sync::Mutex;
        struct Asked(TestVoice, Mutex<BTreeSet<String>>);
        impl Voice for Asked {
            fn identity(&self) -> String {
                self.0.identity()
            }
            fn speak(&self, text: &str) -> Result<crate::voice::Clip, VoiceError> {
                self.1.lock().unwrap().insert(text.to_string());
                self.0.speak(text)
            }
        }
        let (r, _) = routine::parse(
            "t.toml",
            std::path::Path::new("."),
            "title = \"T\"\n[[step]]\nname = \"Lunge\"\nsay = \"Step forward. [1s] Sink.\"\nhold = \"30s\"\nsides = true\n[[step]]\nname = \"Bye\"\nsay = \"Thank you.\"\n",
        )
        .unwrap();
        let voice = Asked(TestVoice::default(), Mutex::default());
        let options = PlanOptions {
            rate: RATE,
            level: Level::Standard,
        };
        speak_ahead(&r, &voice, &options).unwrap();
        let asked = voice.1.lock().unwrap().clone();
        let t = plan(&r, &TestVoice::default(), &options).unwrap();
        let spoken: BTreeSet<String> = t.speech().map(|c| c.text.clone()).collect();
        assert_eq!(asked, spoken);
        assert!(spoken.contains("Switch sides. Left.") && spoken.contains("Sink."));
    }

    #[test]
    fn too_long_sessions_are_refused() {
        let r = format!(
            "{BARE}[[step]]\nname = \"Sit\"\nhold = \"1h-3h\"\nrepeat = 2\nrest = \"1s\"\n"
        );
        let (r, _) = routine::parse("t.toml", std::path::Path::new("."), &r).unwrap();
        let err = plan(
            &r,
            &TestVoice::default(),
            &PlanOptions {
                rate: RATE,
                level: Level::Deep,
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("over the 4h limit"), "{err}");
    }
}
