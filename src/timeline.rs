//! The timeline: every cue of a session with its exact start and length.
//!
//! A [`Timeline`] is what the planner ([`crate::plan()`]) makes of a routine and
//! a voice, and what everything downstream consumes: the renderer turns it
//! into samples, the captions and WAV markers are read off it, the player
//! seeks in it. It is plain data: no engine, no device, no clock.
//!
//! All positions are sample indices at [`Timeline::rate`] (mono frames), so
//! a timeline is exact to the sample. Cues live on two lanes:
//!
//! * the **voice** lane ([`Lane::Voice`]): speech and planned silence. Voice
//!   cues never overlap one another.
//! * the **sound** lane ([`Lane::Sound`]): bells, breath tones and ticks.
//!   Sound cues never overlap one another, but may sound under speech (a
//!   breath tone swells under "on each inhale…" phrases).

use std::ops::RangeInclusive;

use serde::Serialize;

/// How far ranges such as `15-30s` are taken when a routine is planned.
/// Defined here, with the rest of what a timeline records, so the timeline
/// depends on nothing; [`crate::routine::Level`] is the same type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// The low end of every range.
    Gentle,
    /// The middle of every range.
    #[default]
    Standard,
    /// The high end of every range.
    Deep,
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "gentle" => Ok(Level::Gentle),
            "standard" => Ok(Level::Standard),
            "deep" => Ok(Level::Deep),
            _ => Err(format!("unknown level {s:?}: use gentle, standard or deep")),
        }
    }
}

/// `text` safe to print on a terminal: control characters (an ESC that
/// would clear the screen, a NUL) are shown as escapes such as `\u{1b}`;
/// other text is unchanged. Tabs and line breaks are kept. Here, below
/// everything that prints a title, a step name or a diagnostic.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && !matches!(c, '\t' | '\n');
    if !text.chars().any(unsafe_char) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if unsafe_char(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// The sample rates a timeline may be planned at, in Hz: from telephone
/// quality (the bells and K-weighting need some room above 4 kHz) to the
/// highest rate audio interfaces commonly run at. The one range: the
/// planner checks it, the renderer and the encoders rely on it.
pub const RATES: RangeInclusive<u32> = 8_000..=192_000;

/// One planned session.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Timeline {
    /// The routine's title.
    pub title: String,
    /// Output sample rate; every position below counts samples at this rate.
    pub rate: u32,
    /// Length of the whole session in samples.
    pub total: u64,
    /// The level ranges were resolved at.
    pub level: Level,
    /// Identity of the voice whose speech lengths were used.
    pub voice: String,
    /// Steps in order, each with the sample range it covers.
    pub steps: Vec<StepSpan>,
    /// Cues sorted by start, voice lane before sound lane at equal starts.
    pub cues: Vec<Cue>,
    /// Things the planner had to bend, each with the place and the numbers.
    pub warnings: Vec<Warning>,
    /// When the session was planned to a length asked for: how near it
    /// came, and what kept it from coming nearer (see [`LengthReport`]).
    pub length: Option<LengthFit>,
}

/// How a session planned to a length asked for came out: the length asked,
/// the shortest and longest the routine's ranges allow, and, when the
/// length asked is beyond them, the ranges that set those bounds. The
/// length reached is the timeline's own [`Timeline::total`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LengthFit {
    /// The routine file the [`limits`](LengthFit::limits) are in.
    pub file: String,
    /// The length asked for, in samples.
    pub target: u64,
    /// The shortest the ranges allow, in samples: every range the search
    /// could move at its low end.
    pub shortest: u64,
    /// The longest the ranges allow, in samples: every range the search
    /// could move at its high end.
    pub longest: u64,
    /// `Some(level)` when the level chose the counts (rounds, repeats,
    /// breaths) and only the durations were fitted; `None` when every
    /// range was.
    pub counts_at: Option<Level>,
    /// How many ranges the search could move.
    pub ranges: usize,
    /// When the length asked is out of reach, the ranges the search could
    /// move, each at the end it stopped at, in the order of the file;
    /// otherwise empty.
    pub limits: Vec<RangeLimit>,
}

/// A range of the routine, as written, that keeps a session from a length
/// asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RangeLimit {
    /// Line of the routine file it is written on.
    pub line: usize,
    /// Column of its value.
    pub column: usize,
    /// The step's name.
    pub step: String,
    /// Its key (`hold`, `rounds`, …).
    pub key: String,
    /// The value as written, quoted: `"30-60s"`.
    pub written: String,
}

impl LengthFit {
    /// Whether the length asked for is beyond what the ranges allow (or
    /// the routine has no range to move).
    pub fn out_of_reach(&self) -> bool {
        self.target < self.shortest || self.target > self.longest
    }
}

/// How far from the length asked a plan may land, in percent, before the
/// [`LengthReport`] says it is the nearest the ranges allow.
pub const NEAR_PERCENT: f64 = 2.0;

/// How many limiting ranges a [`LengthReport`] names before "and N more".
pub const LIMITS_SHOWN: usize = 5;

/// The length a session reached against the length asked for, for people:
/// `15:02 for the 15:00 asked (+0.2%)`; when the length asked is out of
/// reach, what the routine can do instead and the ranges that keep it
/// there, one per line with `file:line`. Nothing for a timeline not
/// planned to a length.
pub struct LengthReport<'a>(pub &'a Timeline);

impl std::fmt::Display for LengthReport<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.0;
        let Some(fit) = &t.length else {
            return Ok(());
        };
        let minutes = |samples: u64| minutes(samples, t.rate);
        let off = (t.total as f64 - fit.target as f64) / fit.target.max(1) as f64 * 100.0;
        // Under 0.05% either way prints as +0.0%, never as -0.0%.
        let off = if off.abs() < 0.05 { 0.0 } else { off };
        write!(
            f,
            "{} for the {} asked ({off:+.1}%)",
            minutes(t.total),
            minutes(fit.target)
        )?;
        let what = match fit.counts_at {
            None => "ranges",
            Some(_) => "duration ranges",
        };
        let at_level = fit
            .counts_at
            .map(|l| format!(" at the {} level", level_name(l)))
            .unwrap_or_default();
        if fit.ranges == 0 {
            return write!(
                f,
                "; this routine has no {what}{at_level}, so its length is fixed"
            );
        }
        if !fit.out_of_reach() {
            if off.abs() > NEAR_PERCENT {
                write!(
                    f,
                    "; the nearest its ranges allow (a round or a breath more or less is a step)"
                )?;
            }
            return Ok(());
        }
        let (bound, extreme, end) = if fit.target > fit.longest {
            ("longest", fit.longest, "high")
        } else {
            ("shortest", fit.shortest, "low")
        };
        let every = match fit.ranges {
            1 => format!("its one {} at its {end} end", what.trim_end_matches('s')),
            2 => format!("both its {what} at their {end} ends"),
            n => format!("all {n} of its {what} at their {end} ends"),
        };
        write!(
            f,
            "; the {bound} this routine can be{at_level} is {}, with {every}:",
            minutes(extreme)
        )?;
        for limit in fit.limits.iter().take(LIMITS_SHOWN) {
            write!(
                f,
                "\n  {}:{}: \"{}\" {} = {}",
                fit.file,
                limit.line,
                printable(&limit.step),
                limit.key,
                printable(&limit.written)
            )?;
        }
        if fit.limits.len() > LIMITS_SHOWN {
            write!(f, "\n  and {} more", fit.limits.len() - LIMITS_SHOWN)?;
        }
        Ok(())
    }
}

/// The name of a level as written on the command line and in the plan.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::Gentle => "gentle",
        Level::Standard => "standard",
        Level::Deep => "deep",
    }
}

/// Formats a length in samples to the nearest second: `15:02`, `1:02:03`.
pub fn minutes(samples: u64, rate: u32) -> String {
    let rate = u64::from(rate);
    let s = (samples + rate / 2) / rate;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// The sample range of one step of the routine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepSpan {
    /// Position in the routine, from 0.
    pub index: usize,
    /// The step's name as shown and spoken.
    pub name: String,
    /// First sample of the step.
    pub start: u64,
    /// One past the last sample of the step.
    pub end: u64,
    /// Line of the step's `[[step]]` header in the routine file.
    pub line: usize,
}

/// One thing that happens on the timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cue {
    /// First sample.
    pub start: u64,
    /// Length in samples (never zero).
    pub len: u64,
    /// Index into [`Timeline::steps`].
    pub step: usize,
    /// What sounds.
    pub kind: CueKind,
    /// Why it is there.
    pub role: Role,
    /// The words spoken (speech), or a short description (other kinds).
    pub text: String,
    /// Whether this cue carries on the cue before it: a hold's silence is
    /// cut into stretches by the words spoken inside the hold, and every
    /// stretch after the first is marked. Listings show only the first.
    pub continued: bool,
}

impl Cue {
    /// One past the last sample.
    pub fn end(&self) -> u64 {
        self.start + self.len
    }

    /// The lane this cue sits on.
    pub fn lane(&self) -> Lane {
        self.kind.lane()
    }
}

/// What a cue sounds like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum CueKind {
    /// Words spoken by the voice; the text is in [`Cue::text`].
    Speech,
    /// Planned silence: a hold, a rest, an inline `[2s]` pause. Renders as
    /// digital zero unless a sound-lane cue plays over it.
    Silence,
    /// A struck bell or singing bowl.
    Bell {
        /// Which bell.
        bell: Bell,
    },
    /// A soft tone that rises over an inhale or falls over an exhale (or a
    /// still one while the breath is held) and fills the cue's length.
    Breath {
        /// Inhale or exhale.
        phase: Phase,
    },
    /// A short gentle tick (used for 3-2-1 when the routine asks for ticks).
    Tick,
}

impl CueKind {
    /// The lane this kind of cue sits on.
    pub fn lane(self) -> Lane {
        match self {
            CueKind::Speech | CueKind::Silence => Lane::Voice,
            CueKind::Bell { .. } | CueKind::Breath { .. } | CueKind::Tick => Lane::Sound,
        }
    }
}

/// The two lanes of a timeline; cues on one lane never overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// Speech and planned silence.
    Voice,
    /// Bells, breath tones and ticks.
    Sound,
}

/// Which bell sounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bell {
    /// The full singing bowl that opens and closes the session.
    Session,
    /// A lighter strike that marks the start of a step.
    Step,
}

/// A breath phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Breathing in.
    Inhale,
    /// The breath held in, after an inhale.
    HoldIn,
    /// Breathing out.
    Exhale,
    /// The breath held out, after an exhale.
    HoldOut,
}

/// Why a cue is on the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The session's opening or closing bell.
    SessionBell,
    /// The bell at the start of a step.
    StepBell,
    /// The step's name, spoken as it starts.
    Name,
    /// "Next: …", spoken at the end of the step before.
    Next,
    /// The step's instructions, spoken before its clock starts.
    Instruction,
    /// A spoken-only step (welcome, safety note, closing).
    Say,
    /// The words that start a side ("Right arm first.") or switch to the next.
    Side,
    /// The words that start another round of a repeated step.
    Round,
    /// The words and silence of a rest between rounds.
    Rest,
    /// A hold, counted in time or in breaths.
    Hold,
    /// A phrase spoken on an inhale or exhale during a hold.
    Phrase,
    /// One move of a breath-led flow or a counted rep.
    Move,
    /// A prompt spread over a long rest.
    Prompt,
    /// "Halfway."
    Halfway,
    /// "Ten seconds left."
    Remaining,
    /// The final 3-2-1.
    Countdown,
    /// A tick on each second of a move that keeps tempo.
    Beat,
    /// "Release." at the end of a hold.
    Release,
    /// A breath cue: the word inhale/exhale, or a breath tone.
    Breath,
    /// A pause written inline in spoken text as `[2s]`, or after a spoken step.
    Pause,
    /// Time to move into the next step.
    Transition,
}

/// Something the planner had to bend to keep cues from overlapping.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Warning {
    /// Line of the routine file the warning is about.
    pub line: usize,
    /// Column of the routine file the warning is about.
    pub column: usize,
    /// What happened, with the numbers.
    pub message: String,
}

impl Timeline {
    /// Seconds from samples at this timeline's rate.
    pub fn seconds(&self, samples: u64) -> f64 {
        samples as f64 / f64::from(self.rate)
    }

    /// The cues of one step.
    pub fn cues_of(&self, step: usize) -> impl Iterator<Item = &Cue> {
        self.cues.iter().filter(move |c| c.step == step)
    }

    /// The first step whose name matches `name` (case-insensitive).
    pub fn step_named(&self, name: &str) -> Option<&StepSpan> {
        self.steps
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// The spoken cues, in order.
    pub fn speech(&self) -> impl Iterator<Item = &Cue> {
        self.cues.iter().filter(|c| c.kind == CueKind::Speech)
    }
}

/// Formats a sample position as `m:ss.cc` (or `h:mm:ss.cc` from one hour).
pub fn clock(samples: u64, rate: u32) -> String {
    let centis = (u128::from(samples) * 100 / u128::from(rate)) as u64;
    let (h, m, s, c) = (
        centis / 360_000,
        centis / 6000 % 60,
        centis / 100 % 60,
        centis % 100,
    );
    if h > 0 {
        format!("{h}:{m:02}:{s:02}.{c:02}")
    } else {
        format!("{m}:{s:02}.{c:02}")
    }
}

/// The plan as JSON: the [`Timeline`] with a schema tag and seconds beside
/// samples. The schema is documented in the README and pinned by a test.
#[derive(Debug, Serialize)]
pub struct Json<'a> {
    /// Always `"vinyasa.plan/1"` for this layout.
    pub schema: &'static str,
    /// Title of the routine.
    pub title: &'a str,
    /// Samples per second.
    pub rate: u32,
    /// Length in samples.
    pub total: u64,
    /// Length in seconds.
    pub total_seconds: f64,
    /// Level ranges were resolved at.
    pub level: Level,
    /// Voice identity.
    pub voice: &'a str,
    /// Steps.
    pub steps: Vec<JsonStep<'a>>,
    /// Cues.
    pub cues: Vec<JsonCue<'a>>,
    /// Warnings.
    pub warnings: &'a [Warning],
    /// Only for a session planned to a length asked for: how near it came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<JsonLength<'a>>,
}

/// A [`LengthFit`] in [`Json`]: lengths in samples, and in seconds beside.
#[derive(Debug, Serialize)]
pub struct JsonLength<'a> {
    /// The length asked for.
    pub target: u64,
    /// The length asked for, in seconds.
    pub target_seconds: f64,
    /// The length reached: the plan's `total`.
    pub reached: u64,
    /// The length reached, in seconds.
    pub reached_seconds: f64,
    /// The shortest the ranges allow.
    pub shortest: u64,
    /// The shortest, in seconds.
    pub shortest_seconds: f64,
    /// The longest the ranges allow.
    pub longest: u64,
    /// The longest, in seconds.
    pub longest_seconds: f64,
    /// `"fitted"`, or the level that chose the counts.
    pub counts: &'static str,
    /// How many ranges could move.
    pub ranges: usize,
    /// When out of reach, the ranges that keep it there.
    pub limits: &'a [RangeLimit],
}

/// A step in [`Json`].
#[derive(Debug, Serialize)]
pub struct JsonStep<'a> {
    /// Position from 0.
    pub index: usize,
    /// Name.
    pub name: &'a str,
    /// First sample.
    pub start: u64,
    /// One past the last sample.
    pub end: u64,
    /// Start in seconds.
    pub start_seconds: f64,
    /// End in seconds.
    pub end_seconds: f64,
    /// Line of its `[[step]]` header.
    pub line: usize,
}

/// A cue in [`Json`].
#[derive(Debug, Serialize)]
pub struct JsonCue<'a> {
    /// First sample.
    pub start: u64,
    /// Length in samples.
    pub len: u64,
    /// Start in seconds.
    pub start_seconds: f64,
    /// Length in seconds.
    pub seconds: f64,
    /// Index of its step.
    pub step: usize,
    /// `voice` or `sound`.
    pub lane: Lane,
    /// What sounds: `{"type": "speech"}`, `{"type": "bell", "bell": "session"}`…
    pub kind: CueKind,
    /// Why it is there.
    pub role: Role,
    /// Words spoken, or a description.
    pub text: &'a str,
}

/// The JSON schema tag.
pub const JSON_SCHEMA: &str = "vinyasa.plan/1";

impl<'a> Json<'a> {
    /// The JSON view of `t`.
    pub fn new(t: &'a Timeline) -> Self {
        let secs = |n: u64| (n as f64 / f64::from(t.rate) * 1e6).round() / 1e6;
        Json {
            schema: JSON_SCHEMA,
            title: &t.title,
            rate: t.rate,
            total: t.total,
            total_seconds: secs(t.total),
            level: t.level,
            voice: &t.voice,
            steps: t
                .steps
                .iter()
                .map(|s| JsonStep {
                    index: s.index,
                    name: &s.name,
                    start: s.start,
                    end: s.end,
                    start_seconds: secs(s.start),
                    end_seconds: secs(s.end),
                    line: s.line,
                })
                .collect(),
            cues: t
                .cues
                .iter()
                .map(|c| JsonCue {
                    start: c.start,
                    len: c.len,
                    start_seconds: secs(c.start),
                    seconds: secs(c.len),
                    step: c.step,
                    lane: c.lane(),
                    kind: c.kind,
                    role: c.role,
                    text: &c.text,
                })
                .collect(),
            warnings: &t.warnings,
            length: t.length.as_ref().map(|fit| JsonLength {
                target: fit.target,
                target_seconds: secs(fit.target),
                reached: t.total,
                reached_seconds: secs(t.total),
                shortest: fit.shortest,
                shortest_seconds: secs(fit.shortest),
                longest: fit.longest,
                longest_seconds: secs(fit.longest),
                counts: fit.counts_at.map_or("fitted", level_name),
                ranges: fit.ranges,
                limits: &fit.limits,
            }),
        }
    }
}

/// The plan as a table for people: time, length, step, cue.
pub struct Table<'a>(pub &'a Timeline);

impl std::fmt::Display for Table<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.0;
        let ranges = match &t.length {
            None => format!("level {}", level_name(t.level)),
            Some(fit) => {
                let target = minutes(fit.target, t.rate);
                match fit.counts_at {
                    None => format!("ranges fitted to {target}"),
                    Some(l) => format!("level {} · durations fitted to {target}", level_name(l)),
                }
            }
        };
        // Titles, names and words come from the routine: no control
        // character of theirs reaches the terminal.
        writeln!(f, "{}", printable(&t.title))?;
        writeln!(
            f,
            "{} · {} steps · {ranges} · voice {} · {} Hz",
            clock(t.total, t.rate),
            t.steps.len(),
            t.voice,
            t.rate
        )?;
        let name_width = t
            .steps
            .iter()
            .map(|s| printable(&s.name).chars().count() + 3)
            .max()
            .unwrap_or(4)
            .min(28);
        writeln!(f)?;
        writeln!(
            f,
            "{:>10}  {:>7}  {:<name_width$}  {:<11} cue",
            "time", "length", "step", "what"
        )?;
        for c in &t.cues {
            if c.continued {
                continue;
            }
            let step = t
                .steps
                .get(c.step)
                .map(|s| format!("{} {}", s.index + 1, printable(&s.name)))
                .unwrap_or_default();
            let step: String = step.chars().take(name_width).collect();
            let what = match c.kind {
                CueKind::Speech => "speech",
                CueKind::Silence => "silence",
                CueKind::Bell { .. } => "bell",
                CueKind::Breath { .. } => "breath tone",
                CueKind::Tick => "tick",
            };
            let text = if c.kind == CueKind::Speech {
                format!("\u{201c}{}\u{201d}", c.text)
            } else {
                c.text.clone()
            };
            writeln!(
                f,
                "{:>10}  {:>6.2}s  {:<name_width$}  {:<11} {}",
                clock(c.start, t.rate),
                t.seconds(c.len),
                step,
                what,
                printable(&text)
            )?;
        }
        Ok(())
    }
}

/// Hand-built timelines for tests of what consumes a timeline (captions,
/// the renderer, the player), so that every planned sample is known without
/// planning a routine.
#[cfg(test)]
pub(crate) mod testing {
    use std::ops::Range;

    use super::{Cue, CueKind, Lane, Level, Role, StepSpan, Timeline};

    /// Builds a [`Timeline`] step by step and cue by cue:
    ///
    /// ```ignore
    /// let t = TimelineBuilder::new(100)
    ///     .title("Twists")
    ///     .step("Twist", 0..3000)
    ///     .speech(0, 100, Role::Name, "Twist.")
    ///     .silence(100, 400, Role::Hold, "hold 4s")
    ///     .step("Rest", 3000..4000)
    ///     .line(11)
    ///     .silence(3000, 1000, Role::Rest, "")
    ///     .build();
    /// ```
    ///
    /// Title and voice are "test" and the level standard unless set. A step
    /// is on line 1 unless [`line`](Self::line) says otherwise. A cue belongs
    /// to the step added last (step 0 before any), or to the one
    /// [`in_step`](Self::in_step) names. [`build`](Self::build) sorts the
    /// cues as the planner does; the total is the end of the last step or
    /// cue unless [`total`](Self::total) sets it.
    pub(crate) struct TimelineBuilder {
        timeline: Timeline,
        total: Option<u64>,
        step: usize,
    }

    impl TimelineBuilder {
        /// An empty timeline at `rate`.
        pub(crate) fn new(rate: u32) -> Self {
            TimelineBuilder {
                timeline: Timeline {
                    title: "test".into(),
                    rate,
                    total: 0,
                    level: Level::Standard,
                    voice: "test".into(),
                    steps: Vec::new(),
                    cues: Vec::new(),
                    warnings: Vec::new(),
                    length: None,
                },
                total: None,
                step: 0,
            }
        }

        /// The routine's title.
        pub(crate) fn title(&mut self, title: &str) -> &mut Self {
            self.timeline.title = title.into();
            self
        }

        /// The voice's identity.
        pub(crate) fn voice(&mut self, voice: &str) -> &mut Self {
            self.timeline.voice = voice.into();
            self
        }

        /// The session's length in samples.
        pub(crate) fn total(&mut self, total: u64) -> &mut Self {
            self.total = Some(total);
            self
        }

        /// A step covering `span`; the cues that follow belong to it.
        pub(crate) fn step(&mut self, name: &str, span: Range<u64>) -> &mut Self {
            self.step = self.timeline.steps.len();
            self.timeline.steps.push(StepSpan {
                index: self.step,
                name: name.into(),
                start: span.start,
                end: span.end,
                line: 1,
            });
            self
        }

        /// The routine-file line of the step added last.
        pub(crate) fn line(&mut self, line: usize) -> &mut Self {
            let step = self
                .timeline
                .steps
                .last_mut()
                .expect("a step before its line");
            step.line = line;
            self
        }

        /// The cues that follow belong to step `index`.
        pub(crate) fn in_step(&mut self, index: usize) -> &mut Self {
            self.step = index;
            self
        }

        /// Any cue.
        pub(crate) fn cue(
            &mut self,
            start: u64,
            len: u64,
            kind: CueKind,
            role: Role,
            text: &str,
        ) -> &mut Self {
            self.timeline.cues.push(Cue {
                start,
                len,
                step: self.step,
                kind,
                role,
                text: text.into(),
                continued: false,
            });
            self
        }

        /// Words spoken.
        pub(crate) fn speech(&mut self, start: u64, len: u64, role: Role, text: &str) -> &mut Self {
            self.cue(start, len, CueKind::Speech, role, text)
        }

        /// Planned silence.
        pub(crate) fn silence(
            &mut self,
            start: u64,
            len: u64,
            role: Role,
            text: &str,
        ) -> &mut Self {
            self.cue(start, len, CueKind::Silence, role, text)
        }

        /// Marks the cue added last as carrying on the one before it.
        pub(crate) fn continued(&mut self) -> &mut Self {
            let cue = self.timeline.cues.last_mut().expect("a cue to mark");
            cue.continued = true;
            self
        }

        /// Samples in `seconds` at the timeline's rate, rounded.
        pub(crate) fn samples(&self, seconds: f64) -> u64 {
            (seconds * f64::from(self.timeline.rate)).round() as u64
        }

        /// Where the last cue so far on `lane` ends (0 if none).
        pub(crate) fn end_of(&self, lane: Lane) -> u64 {
            self.timeline
                .cues
                .iter()
                .filter(|c| c.lane() == lane)
                .map(Cue::end)
                .max()
                .unwrap_or(0)
        }

        /// The timeline, cues sorted by start, voice lane first at equal
        /// starts, in the order added otherwise.
        pub(crate) fn build(&self) -> Timeline {
            let mut t = self.timeline.clone();
            t.cues.sort_by_key(|c| (c.start, c.lane()));
            let ends = t
                .steps
                .iter()
                .map(|s| s.end)
                .chain(t.cues.iter().map(Cue::end));
            t.total = self.total.unwrap_or_else(|| ends.max().unwrap_or(0));
            t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::TimelineBuilder;
    use super::*;

    #[test]
    fn clock_formats_minutes_and_hours() {
        assert_eq!(clock(0, 44_100), "0:00.00");
        assert_eq!(clock(44_100 * 75 + 22_050, 44_100), "1:15.50");
        assert_eq!(clock(44_100 * 3_723, 44_100), "1:02:03.00");
        // Truncates rather than rounds: a cue at 0.999 s is still in second 0.
        assert_eq!(clock(44_099, 44_100), "0:00.99");
    }

    #[test]
    fn lanes() {
        assert_eq!(CueKind::Speech.lane(), Lane::Voice);
        assert_eq!(CueKind::Silence.lane(), Lane::Voice);
        assert_eq!(CueKind::Tick.lane(), Lane::Sound);
        assert_eq!(
            CueKind::Breath {
                phase: Phase::Inhale
            }
            .lane(),
            Lane::Sound
        );
    }

    #[test]
    fn the_builder_makes_the_timeline_written_out() {
        // The player's test session, as a literal and from the builder.
        let step = |index: usize, name: &str, start: u64, end: u64, line: usize| StepSpan {
            index,
            name: name.into(),
            start,
            end,
            line,
        };
        let cue = |start, len, step, kind, role, text: &str| Cue {
            start,
            len,
            step,
            kind,
            role,
            text: text.into(),
            continued: false,
        };
        let literal = Timeline {
            title: "Twists".into(),
            rate: 100,
            total: 4000,
            level: Level::Standard,
            voice: "test".into(),
            steps: vec![
                step(0, "Twist", 0, 3000, 1),
                step(1, "Rest", 3000, 4000, 11),
            ],
            cues: vec![
                cue(0, 100, 0, CueKind::Speech, Role::Name, "Twist."),
                cue(100, 400, 0, CueKind::Silence, Role::Hold, ""),
                cue(300, 10, 0, CueKind::Tick, Role::Breath, "tick"),
                cue(500, 100, 0, CueKind::Speech, Role::Halfway, "Halfway."),
                cue(3000, 200, 1, CueKind::Speech, Role::Name, "Rest."),
                cue(3200, 800, 1, CueKind::Silence, Role::Rest, ""),
            ],
            warnings: vec![],
            length: None,
        };
        let built = TimelineBuilder::new(100)
            .title("Twists")
            .step("Twist", 0..3000)
            .speech(0, 100, Role::Name, "Twist.")
            .silence(100, 400, Role::Hold, "")
            .cue(300, 10, CueKind::Tick, Role::Breath, "tick")
            .speech(500, 100, Role::Halfway, "Halfway.")
            .step("Rest", 3000..4000)
            .line(11)
            .speech(3000, 200, Role::Name, "Rest.")
            .silence(3200, 800, Role::Rest, "")
            .build();
        assert_eq!(built, literal);
    }

    #[test]
    fn the_builder_sorts_cues_and_takes_what_it_is_told() {
        let mut b = TimelineBuilder::new(8_000);
        b.voice("v")
            .step("A", 0..50)
            .step("B", 50..100)
            .line(5)
            .in_step(0);
        let bell = CueKind::Bell { bell: Bell::Step };
        b.cue(10, 20, bell, Role::StepBell, "bell");
        b.speech(10, 20, Role::Say, "One.");
        b.speech(0, 5, Role::Say, "Zero.");
        assert_eq!((b.end_of(Lane::Voice), b.end_of(Lane::Sound)), (30, 30));
        assert_eq!(b.samples(0.5), 4_000);
        let t = b.build();
        let order: Vec<(u64, Lane, usize)> =
            t.cues.iter().map(|c| (c.start, c.lane(), c.step)).collect();
        assert_eq!(
            order,
            [
                (0, Lane::Voice, 0),
                (10, Lane::Voice, 0),
                (10, Lane::Sound, 0)
            ]
        );
        assert_eq!(
            (t.voice.as_str(), t.title.as_str(), t.total),
            ("v", "test", 100)
        );
        assert_eq!((t.steps[1].index, t.steps[1].line), (1, 5));
        assert_eq!(b.total(7).build().total, 7);
    }

    #[test]
    fn the_table_shows_a_hold_once_however_often_it_is_cut() {
        let t = TimelineBuilder::new(100)
            .step("Squat", 0..1000)
            .silence(0, 400, Role::Hold, "hold 10s")
            .speech(400, 100, Role::Halfway, "Halfway.")
            .silence(500, 500, Role::Hold, "hold 10s, later")
            .continued()
            .build();
        let table = Table(&t).to_string();
        assert!(table.contains("hold 10s\n"), "{table}");
        assert!(!table.contains("later"), "{table}");
        assert!(table.contains("\u{201c}Halfway.\u{201d}"), "{table}");
    }
}
