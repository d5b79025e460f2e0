//! Routines: the TOML format, its checked model, and the checking.
//!
//! [`load`] reads a file and [`parse`] reads text; both return a [`Routine`]
//! or a [`Report`] naming every problem at once with `file:line:col`, the
//! value and the fix. The format is documented in the README; the keys are
//! listed in [`parse`]'s module.
//!
//! Ranges (`15-30s`, `8-12`) are kept as [`Span`]s in the model, each also
//! listed with its place in [`Routine::ranges`], and resolved by the
//! [`Level`] (or a [`Position`]) when the routine is planned.

mod cue_keys;
mod diagnostic;
mod nesting;
mod parse;
mod quantity;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use cue_keys::CUE_KEYS;
pub use diagnostic::{Diagnostic, Lines, Report, Severity, line_col, printable};
pub use nesting::MAX_NESTING;
pub use parse::{MAX_PHRASES, MAX_STEPS, MAX_TEXT_CHARS, value_span};
pub use quantity::{
    Millis, Position, QuantityError, Span, format_millis, parse_breath_pattern, parse_count_span,
    parse_duration_span,
};

pub use crate::timeline::Level;
use crate::voice::{Pronunciation, VoiceSettings};

/// The longest session vinyasa will plan: 4 hours.
pub const MAX_SESSION: Millis = 4 * 3_600_000;

/// A place in the routine file, 1-based.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Pos {
    /// Line.
    pub line: usize,
    /// Column, in characters.
    pub column: usize,
}

/// A checked routine.
#[derive(Clone, Debug)]
pub struct Routine {
    /// The file it came from, as named by the user.
    pub file: String,
    /// The directory relative paths in the routine are taken from.
    pub dir: PathBuf,
    /// `title`.
    pub title: String,
    /// `description`, if any.
    pub description: Option<String>,
    /// `credit`: where the sequence comes from.
    pub credit: Option<String>,
    /// `language`, a BCP 47 tag such as `en` (default `en`).
    pub language: String,
    /// `[voice]`.
    pub voice: VoiceSettings,
    /// Whether `[voice]` names an engine or a voice: then the user's own
    /// voice ([`crate::voice::UserVoice`]) does not replace it.
    pub voice_chosen: bool,
    /// `[pronounce]`.
    pub pronounce: Vec<Pronunciation>,
    /// `[breath]`: the pace of one breath.
    pub breath: Breath,
    /// `[cues]`: the automatic cues for every step.
    pub cues: Cues,
    /// `transition`: silence after "Next: …" to move into the next step.
    pub transition: Millis,
    /// `[sounds]`: WAV files replacing built-in sounds, by sound name.
    pub sounds: Vec<(String, PathBuf)>,
    /// `[[step]]`s in order.
    pub steps: Vec<Step>,
    /// Every range planning resolves (`hold = "30-60s"`, `rounds = "5-8"`),
    /// in the order of the file: what a length asked for can move.
    pub ranges: Vec<RangeSite>,
}

/// A range written in a routine, where it is and what it counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RangeSite {
    /// The step it belongs to (index into [`Routine::steps`]).
    pub step: usize,
    /// Its key: `hold`, `breaths`, `repeat`, `rest`, `rounds`, `for`, or a
    /// move's `time` or `breaths`.
    pub key: &'static str,
    /// The value as written, quoted as in the file: `"30-60s"`.
    pub written: String,
    /// Where the value is written.
    pub at: Pos,
    /// Whether it is a count or a duration.
    pub kind: RangeKind,
}

/// What a range resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeKind {
    /// A whole count: rounds, repeats (sets), breaths.
    Count,
    /// A duration: a hold, a rest, a flow's `for`, a move's time.
    Duration,
}

/// The breath pace: a pattern of inhale, hold after it, exhale and hold
/// after it (`"4-7-8"`, `"4-4-4-4"`). A hold of zero is no hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Breath {
    /// Length of an inhale.
    pub inhale: Millis,
    /// `hold_in`: the breath held after the inhale (0: none).
    pub hold_in: Millis,
    /// Length of an exhale.
    pub exhale: Millis,
    /// `hold_out`: the breath held out after the exhale (0: none).
    pub hold_out: Millis,
}

impl Default for Breath {
    fn default() -> Self {
        Breath {
            inhale: 4_000,
            hold_in: 0,
            exhale: 6_000,
            hold_out: 0,
        }
    }
}

impl Breath {
    /// One whole breath: its four phases.
    pub fn cycle(&self) -> Millis {
        self.inhale + self.hold_in + self.exhale + self.hold_out
    }

    /// The pattern as written in the compact form: `4-7-8`, `4-4-4-4`,
    /// `4-6`.
    pub fn compact(&self) -> String {
        let s = |ms: Millis| format!("{}", ms as f64 / 1000.0);
        match (self.hold_in, self.hold_out) {
            (0, 0) => format!("{}-{}", s(self.inhale), s(self.exhale)),
            (h, 0) => format!("{}-{}-{}", s(self.inhale), s(h), s(self.exhale)),
            (h, o) => format!("{}-{}-{}-{}", s(self.inhale), s(h), s(self.exhale), s(o)),
        }
    }
}

/// How breath cues sound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreathCue {
    /// The words "inhale" and "exhale".
    Voice,
    /// A soft tone that rises on the inhale and falls on the exhale.
    #[default]
    Tone,
    /// Both.
    Both,
    /// No breath cues.
    None,
}

impl BreathCue {
    /// Whether the words are spoken.
    pub fn spoken(self) -> bool {
        matches!(self, BreathCue::Voice | BreathCue::Both)
    }
    /// Whether the tone sounds.
    pub fn tone(self) -> bool {
        matches!(self, BreathCue::Tone | BreathCue::Both)
    }
}

/// How the final 3-2-1 of a hold sounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Countdown {
    /// Spoken "three, two, one".
    #[default]
    Voice,
    /// Three soft ticks.
    Tick,
    /// None.
    Off,
}

/// When a step's name is spoken as it starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameCue {
    /// Unless "Next: …" has just named the step (`true`).
    #[default]
    Unannounced,
    /// Always, even right after "Next: …".
    Always,
    /// Never (`false`).
    Off,
}

/// What sounds while the breath is held in a breath pattern.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldSound {
    /// A still, quiet tone at the pitch where the breath stopped.
    #[default]
    Tone,
    /// Silence.
    Silence,
}

/// Which bells ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bells {
    /// A singing bowl at the start and end of the session.
    #[default]
    Session,
    /// The session bells and a lighter bell at the start of every step.
    Steps,
    /// No bells.
    Off,
}

/// The automatic cues; each is switchable in `[cues]`, per step, and from
/// the command line (`--cue KEY=VALUE`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cues {
    /// `name`: speak the step's name as it starts.
    pub name: NameCue,
    /// `next`: say what comes next at the end of a step.
    pub next: bool,
    /// `halfway`: "Halfway." in holds of 20 s or more.
    pub halfway: bool,
    /// `remaining`: "N seconds left." this long before the end of a hold (empty: off).
    pub remaining: Vec<Millis>,
    /// `countdown`: the final 3-2-1 of a timed hold.
    pub countdown: Countdown,
    /// `release`: "Release." when a hold ends.
    pub release: bool,
    /// `switch`: speak the side at the start of each side.
    pub switch: bool,
    /// `bells`: which bells ring.
    pub bells: Bells,
    /// `breath`: how breath cues sound.
    pub breath: BreathCue,
    /// `hold_sound`: what sounds while a breath is held (with breath tones).
    pub hold_sound: HoldSound,
}

impl Default for Cues {
    fn default() -> Self {
        Cues {
            name: NameCue::Unannounced,
            next: true,
            halfway: true,
            remaining: vec![10_000],
            countdown: Countdown::Voice,
            release: true,
            switch: true,
            bells: Bells::Session,
            breath: BreathCue::Tone,
            hold_sound: HoldSound::Tone,
        }
    }
}

/// Spoken text, with inline pauses (`Close your eyes. [2s] Breathe in.`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Text {
    /// The text as written.
    pub raw: String,
    /// Where it is written.
    pub at: Pos,
    /// The phrases and pauses, in order; never empty, no empty phrase.
    pub segments: Vec<Segment>,
}

/// A part of spoken text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// Words to speak.
    Speak(String),
    /// Silence of this length.
    Pause(Millis),
}

/// One `[[step]]`.
#[derive(Clone, Debug)]
pub struct Step {
    /// `name`.
    pub name: String,
    /// Where its `[[step]]` header is.
    pub at: Pos,
    /// `say`: instructions spoken before the clock starts.
    pub say: Option<Text>,
    /// The breath pattern of the step: the routine's `[breath]` with the
    /// step's `breath` applied.
    pub breath: Breath,
    /// `sides`: each side in order, e.g. `["right arm", "left arm"]` or
    /// `["clockwise", "the other way"]` (empty: one side).
    pub sides: Vec<String>,
    /// `switch_say`: spoken as each later side starts, instead of "Switch
    /// sides. Left side." (`{side}`, `{n}`, `{total}`).
    pub switch_say: Option<Template>,
    /// The routine's `[cues]` with the step's `cues = { … }` applied.
    pub cues: Cues,
    /// `release`: words spoken when the hold or flow ends, instead of "Release.".
    pub release: Option<Text>,
    /// `pause`: silence after the step.
    pub pause: Millis,
    /// What happens after the instructions.
    pub body: Body,
}

/// What a step does after its instructions.
#[derive(Clone, Debug)]
pub enum Body {
    /// Nothing: a spoken-only step (welcome, safety note, closing).
    Say,
    /// A hold, in time or breaths, maybe per side and repeated.
    Hold(Hold),
    /// A breath-led flow or counted reps.
    Flow(Flow),
}

/// Spoken text with placeholders (`"Set {n} of {total}."`), filled in when
/// planned; the numbers are spoken as words. Only known placeholders pass
/// the check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Template {
    /// The text as written.
    pub raw: String,
    /// Where it is written.
    pub at: Pos,
}

impl Template {
    /// The placeholders a template may use.
    pub const NAMES: &[&str] = &["n", "total", "side"];

    /// The text with `{n}` and `{total}` as words and `{side}` as given,
    /// its first letter capitalised.
    pub fn fill(&self, n: u32, total: u32, side: &str) -> String {
        let out = self
            .raw
            .replace("{n}", &number_words(n))
            .replace("{total}", &number_words(total))
            .replace("{side}", side);
        let mut c = out.trim().chars();
        match c.next() {
            Some(first) => first.to_uppercase().chain(c).collect(),
            None => String::new(),
        }
    }
}

/// `n` in words, lower case, as a voice reads it best: "three", "twenty-one".
pub fn number_words(n: u32) -> String {
    const ONES: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 10] = [
        "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    match n {
        0..20 => ONES[n as usize].to_string(),
        20..100 if n.is_multiple_of(10) => TENS[n as usize / 10].to_string(),
        20..100 => format!("{}-{}", TENS[n as usize / 10], ONES[n as usize % 10]),
        100..1000 if n.is_multiple_of(100) => format!("{} hundred", ONES[n as usize / 100]),
        100..1000 => format!(
            "{} hundred {}",
            ONES[n as usize / 100],
            number_words(n % 100)
        ),
        _ => n.to_string(),
    }
}

/// Repeats of a hold or a flow (sets), with rests between them.
#[derive(Clone, Debug)]
pub struct Repeats {
    /// `repeat`: rounds of a hold, or sets of a flow (per side).
    pub repeat: Span<u32>,
    /// `rest`: rest between them.
    pub rest: Span<Millis>,
    /// `rest_say`: spoken as a rest begins, instead of "Rest for 20 seconds.".
    pub rest_say: Option<Text>,
    /// `again`: spoken as another round or set begins.
    pub again: Option<Text>,
    /// `announce`: spoken before every round or set (`{n}`, `{total}`,
    /// `{side}`), instead of "Round 2 of 3." before the later ones.
    pub announce: Option<Template>,
    /// `announce_last`: spoken before the last round or set instead.
    pub announce_last: Option<Template>,
}

impl Default for Repeats {
    fn default() -> Self {
        Repeats {
            repeat: Span::one(1),
            rest: Span::one(10_000),
            rest_say: None,
            again: None,
            announce: None,
            announce_last: None,
        }
    }
}

/// A hold.
#[derive(Clone, Debug)]
pub struct Hold {
    /// `hold` (time) or `breaths` (counted at the routine's pace).
    pub length: HoldLength,
    /// `repeat`, `rest`, `rest_say`, `again`, `announce`, `announce_last`.
    pub repeats: Repeats,
    /// `on_inhale`: phrases spoken on successive inhales, once each.
    pub on_inhale: Vec<Text>,
    /// `on_exhale`: phrases spoken on successive exhales, once each.
    pub on_exhale: Vec<Text>,
    /// `prompts`: phrases spread evenly over the hold (for long rests).
    pub prompts: Vec<Text>,
}

/// How long a hold lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldLength {
    /// A time.
    Time(Span<Millis>),
    /// A number of breaths at the routine's pace.
    Breaths(Span<u32>),
}

/// A sequence of moves repeated for a count or a time, maybe in sets.
#[derive(Clone, Debug)]
pub struct Flow {
    /// `flow`: the moves of one round.
    pub moves: Vec<Move>,
    /// `rounds` or `for`: the rounds of one set.
    pub amount: FlowAmount,
    /// `count`: how each round is counted.
    pub count: Count,
    /// Sets: `repeat`, `rest`, `rest_say`, `again`, `announce`,
    /// `announce_last`.
    pub repeats: Repeats,
    /// `tick`: a soft tick on every second of a move that keeps tempo.
    pub tick: bool,
}

/// How the rounds of a flow are counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Count {
    /// Not at all.
    Off,
    /// `count = true`: "One. …", "Two. …", "Last one. …" said with the
    /// first move (`count_last` replaces "Last one.").
    Words {
        /// `count_last`.
        last: Option<Template>,
    },
    /// `count = "Rep {n} of {total}."`: a phrase of its own before the
    /// round's first move (`count_last` for the last round).
    Template {
        /// The phrase.
        each: Template,
        /// `count_last`.
        last: Option<Template>,
    },
}

/// How many rounds a flow has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowAmount {
    /// A count of rounds.
    Rounds(Span<u32>),
    /// As many whole rounds as fit this time (nearest).
    For(Span<Millis>),
}

/// One move of a flow.
#[derive(Clone, Debug)]
pub struct Move {
    /// When it happens.
    pub on: MoveOn,
    /// Words for the first round.
    pub text: Text,
    /// `then`: shorter words for later rounds.
    pub then: Option<Text>,
    /// The breath pattern of the move: the step's with the move's `breath`
    /// applied. An inhale move lasts `inhale` then `hold_in`; an exhale
    /// move `exhale` then `hold_out`.
    pub breath: Breath,
}

/// The timing of a move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoveOn {
    /// `{ inhale = "…" }`: lasts one inhale.
    Inhale,
    /// `{ exhale = "…" }`: lasts one exhale.
    Exhale,
    /// `{ say = "…", time = "5s" }`: the words, then this long; or, with
    /// `tempo`, this long from when the words start.
    Time {
        /// `time`.
        time: Span<Millis>,
        /// `tempo`: the time counts from when the words start.
        tempo: bool,
    },
    /// `{ say = "…", breaths = 5 }`: the words, then this many breaths of
    /// the move's pattern, with breath cues.
    Breaths {
        /// `breaths`.
        n: Span<u32>,
        /// `count_breaths`: say each breath's number as it starts.
        count: bool,
    },
}

/// Reads and checks a routine file. Warnings come back with the routine.
pub fn load(path: &Path) -> Result<(Routine, Report), Box<Report>> {
    let file = path.display().to_string();
    let bytes = match read_routine_file(path) {
        Ok(b) => b,
        Err((message, help)) => {
            let mut r = Report::new(&file, "");
            r.diagnostics
                .push(Diagnostic::error(0..0, message).help(help));
            return Err(Box::new(r));
        }
    };
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse_bytes(&file, &dir, &bytes)
}

/// The largest routine file read: a routine of [`MAX_STEPS`] steps
/// fits several times over.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// The bytes of a routine file, or what is wrong and how to fix it. Only a
/// regular file is read (a FIFO would block, `/dev/zero` never ends), and
/// never more than [`MAX_FILE_BYTES`], even if it grows while read.
fn read_routine_file(path: &Path) -> Result<Vec<u8>, (String, &'static str)> {
    use std::io::Read;
    let cannot = |e: std::io::Error| {
        let help = match e.kind() {
            std::io::ErrorKind::NotFound => "check the path; routines usually live in routines/",
            std::io::ErrorKind::PermissionDenied => "make the file readable",
            _ => "check that the path names a readable file",
        };
        (format!("cannot read the file: {e}"), help)
    };
    let too_big = |size: String| {
        (
            format!(
                "the file is {size} bytes; the most a routine file may have is {MAX_FILE_BYTES}"
            ),
            "a routine is a short text file; check that this is the routine you meant",
        )
    };
    let metadata = std::fs::metadata(path).map_err(cannot)?;
    if !metadata.is_file() {
        let kind = if metadata.is_dir() {
            "a directory"
        } else {
            "not a regular file (a device, pipe or socket)"
        };
        return Err((
            format!("cannot read the file: it is {kind}"),
            "name a routine file (.toml)",
        ));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(too_big(metadata.len().to_string()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big(format!("over {MAX_FILE_BYTES}")));
    }
    Ok(bytes)
}

/// Checks routine text given as bytes (which may not be UTF-8).
pub fn parse_bytes(file: &str, dir: &Path, bytes: &[u8]) -> Result<(Routine, Report), Box<Report>> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(file, dir, text),
        Err(e) => {
            let source = String::from_utf8_lossy(bytes).into_owned();
            let at = e.valid_up_to();
            // The lossy text has the same bytes up to the bad one.
            let mut r = Report::new(file, source);
            let bad: Vec<String> = bytes[at..]
                .iter()
                .take(e.error_len().unwrap_or(1))
                .map(|b| format!("0x{b:02X}"))
                .collect();
            r.diagnostics.push(
                Diagnostic::error(
                    at..at + 1,
                    format!(
                        "the file is not UTF-8 text (byte {} at offset {at})",
                        bad.join(" ")
                    ),
                )
                .help("save the file as UTF-8 (most editors offer this in \"Save As\")"),
            );
            Err(Box::new(r))
        }
    }
}

/// Checks routine text. `dir` is where relative paths (sounds) are found.
pub fn parse(file: &str, dir: &Path, text: &str) -> Result<(Routine, Report), Box<Report>> {
    parse::routine(file, dir, text)
}

impl Routine {
    /// Applies a cue setting given as `KEY=VALUE` (as on the command line) to
    /// the routine and every step, overriding what the file says.
    pub fn set_cue(&mut self, setting: &str) -> Result<(), String> {
        let (key, value) = setting
            .split_once('=')
            .ok_or_else(|| format!("{setting:?}: write KEY=VALUE, e.g. halfway=off"))?;
        cue_keys::apply_cue_setting(&mut self.cues, key.trim(), value.trim())?;
        for step in &mut self.steps {
            cue_keys::apply_cue_setting(&mut step.cues, key.trim(), value.trim())?;
        }
        Ok(())
    }

    /// The step whose name matches (case-insensitive) or whose 1-based number
    /// is `which`.
    pub fn find_step(&self, which: &str) -> Option<usize> {
        if let Ok(n) = which.parse::<usize>() {
            return (1..=self.steps.len()).contains(&n).then(|| n - 1);
        }
        self.steps
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(which.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_words_and_templates_fill_them_in() {
        assert_eq!(number_words(3), "three");
        assert_eq!(number_words(15), "fifteen");
        assert_eq!(number_words(40), "forty");
        assert_eq!(number_words(21), "twenty-one");
        assert_eq!(number_words(100), "one hundred");
        assert_eq!(number_words(342), "three hundred forty-two");
        let t = Template {
            raw: "{side}: set {n} of {total}.".into(),
            at: Pos::default(),
        };
        assert_eq!(t.fill(2, 3, "left leg"), "Left leg: set two of three.");
    }
}
