//! From TOML text to a checked [`Routine`], collecting every problem.
//!
//! The TOML is parsed with spans (`toml::de::DeTable`), then walked by hand so
//! that each problem points at its value and checking goes on after the
//! first one. Keys by table:
//!
//! * top level: `title`, `description`, `credit`, `language`, `transition`,
//!   `[voice]`, `[breath]`, `[cues]`, `[pronounce]`, `[sounds]`, `[[step]]`
//! * `[voice]`: `engine`, `name`, `speed`, `pitch`, `volume`
//! * `[breath]` (or `breath = "4-7-8"`; also a step's and a move's
//!   `breath`): `inhale`, `hold_in`, `exhale`, `hold_out`
//! * `[cues]` (and a step's `cues = { … }`): see [`CUE_KEYS`]
//! * `[[step]]`: `name`, `say`, `hold` | `breaths` (a hold) or `flow` (a
//!   flow), `sides`, `repeat`, `rest`, `rest_say`, `again`, `on_inhale`,
//!   `on_exhale`, `prompts`, `rounds` | `for`, `count`, `count_last`,
//!   `tempo`, `tick`, `announce`, `announce_last`, `switch_say`, `release`,
//!   `pause`, `cues`, `breath`
//! * a move of a `flow`: `inhale` | `exhale` | `say` + `time` (+ `tempo`)
//!   | `say` + `breaths` (+ `count_breaths`), and `then`, `breath`

use std::ops::Range;
use std::path::Path;

use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue};

use super::cue_keys::{CUE_KEYS, CueKey, CueValue};
use super::quantity::{Millis, QuantityError, Span, format_millis};
use super::{
    Body, Breath, Count, Cues, Diagnostic, Flow, FlowAmount, Hold, HoldLength, Lines, MAX_SESSION,
    Move, MoveOn, Pos, RangeKind, RangeSite, Repeats, Report, Routine, Segment, Step, Template,
    Text,
};
use crate::voice::text::MAX_WORD_CHARS;
use crate::voice::{Engine, Pronunciation, VoiceSettings};

const TOP_KEYS: &[&str] = &[
    "title",
    "description",
    "credit",
    "language",
    "transition",
    "voice",
    "breath",
    "cues",
    "pronounce",
    "sounds",
    "step",
];
const VOICE_KEYS: &[&str] = &["engine", "name", "speed", "pitch", "volume"];
const BREATH_KEYS: &[&str] = &["inhale", "hold_in", "exhale", "hold_out"];
const STEP_KEYS: &[&str] = &[
    "name",
    "say",
    "hold",
    "breaths",
    "sides",
    "repeat",
    "rest",
    "rest_say",
    "again",
    "on_inhale",
    "on_exhale",
    "prompts",
    "flow",
    "rounds",
    "for",
    "count",
    "release",
    "pause",
    "cues",
    "breath",
    "announce",
    "announce_last",
    "count_last",
    "tempo",
    "tick",
    "switch_say",
];
/// Keys people write on a step that the format spells otherwise or puts
/// elsewhere, and what to write.
const STEP_ELSEWHERE: &[(&str, &str)] = &[
    (
        "sets",
        "sets are written `repeat = 3` (with `rest` between them), on a hold or a flow",
    ),
    (
        "set",
        "sets are written `repeat = 3` (with `rest` between them), on a hold or a flow",
    ),
    (
        "reps",
        "the reps of a flow are its rounds: write `rounds = 12`",
    ),
    (
        "rep",
        "the reps of a flow are its rounds: write `rounds = 12`",
    ),
    (
        "duration",
        "a hold's length is `hold = \"30s\"`; a flow's is `for = \"3 min\"`",
    ),
    (
        "time",
        "a hold's length is `hold = \"30s\"`; `time` belongs to a `say` move of a flow",
    ),
    (
        "side",
        "write `sides = true` for right then left, or `sides = [\"…\", \"…\"]`",
    ),
    (
        "inhale",
        "a step's breath is `breath = { inhale = \"4s\" }` (or `breath = \"4-6\"`); a move on the inhale goes in `flow = [{ inhale = \"…\" }]`",
    ),
    (
        "exhale",
        "a step's breath is `breath = { exhale = \"6s\" }` (or `breath = \"4-6\"`); a move on the exhale goes in `flow = [{ exhale = \"…\" }]`",
    ),
    (
        "hold_in",
        "a held breath is part of the pattern: `breath = { hold_in = \"4s\" }` or `breath = \"4-4-4-4\"`",
    ),
    (
        "hold_out",
        "a held breath is part of the pattern: `breath = { hold_out = \"4s\" }` or `breath = \"4-4-4-4\"`",
    ),
    (
        "pattern",
        "a breath pattern is written `breath = \"4-7-8\"`",
    ),
];
/// Keys of holds and flows alike: rounds of a hold, sets of a flow.
const REPEAT_KEYS: &[&str] = &[
    "repeat",
    "rest",
    "rest_say",
    "again",
    "announce",
    "announce_last",
];
const HOLD_ONLY: &[&str] = &["on_inhale", "on_exhale", "prompts"];
const FLOW_ONLY: &[&str] = &["rounds", "for", "count", "count_last", "tempo", "tick"];
const MOVE_KEYS: &[&str] = &[
    "inhale",
    "exhale",
    "say",
    "time",
    "then",
    "breath",
    "tempo",
    "breaths",
    "count_breaths",
];
const SOUND_NAMES: &[&str] = &[
    "bell",
    "step-bell",
    "inhale",
    "exhale",
    "hold-in",
    "hold-out",
    "tick",
];
const ARPABET: &[&str] = &[
    "aa", "ae", "ah", "ao", "aw", "ax", "ay", "b", "ch", "d", "dh", "eh", "er", "ey", "f", "g",
    "hh", "ih", "iy", "jh", "k", "l", "m", "n", "ng", "ow", "oy", "p", "r", "s", "sh", "t", "th",
    "uh", "uw", "v", "w", "y", "z", "zh", "pau",
];

/// The ARPAbet phones that take a stress digit (`ax` takes none).
const VOWELS: &[&str] = &[
    "aa", "ae", "ah", "ao", "aw", "ay", "eh", "er", "ey", "ih", "iy", "ow", "oy", "uh", "uw",
];

/// Breath phases outside this range are not a human breath.
const BREATH_PHASE: Range<Millis> = 1_000..20_001;
/// A breath held longer than this gets a warning.
const HOLD_WARN: Millis = 60_000;
/// A breath held longer than this is not a breath hold.
const HOLD_MAX: Millis = 300_000;
/// Most rounds a flow or repeats a hold may have.
const MAX_COUNT: u32 = 1_000;
/// Most steps a routine may have: far more than four hours of practice
/// needs, and few enough that checking and planning stay quick.
pub const MAX_STEPS: usize = 10_000;
/// Most phrases one list (`prompts`, a flow's moves) may hold.
pub const MAX_PHRASES: usize = 1_000;
/// Most characters one spoken text may have: about 25 minutes of speech.
/// A voice's memory grows with the text it is given (flite took 2.5 GB
/// for 200 KB).
pub const MAX_TEXT_CHARS: usize = 10_000;

type Table<'a> = DeTable<'a>;
type Value<'a> = Spanned<DeValue<'a>>;

struct Cx<'s> {
    src: &'s str,
    lines: Lines<'s>,
    report: Report,
    /// The step being read, from 0.
    step: usize,
    /// The ranges read so far, in the order read.
    ranges: Vec<RangeSite>,
}

pub(super) fn routine(
    file: &str,
    dir: &Path,
    text: &str,
) -> Result<(Routine, Report), Box<Report>> {
    let mut cx = Cx {
        src: text,
        lines: Lines::new(text),
        report: Report::new(file, text),
        step: 0,
        ranges: Vec::new(),
    };
    if text.trim().is_empty() {
        cx.report
            .diagnostics
            .push(Diagnostic::error(0..0, "the file is empty").help(
                "a routine needs a `title` and at least one [[step]]; see routines/ for examples",
            ));
        return Err(Box::new(cx.report));
    }
    if text.len() as u64 > super::MAX_FILE_BYTES {
        cx.report.diagnostics.push(
            Diagnostic::error(
                0..0,
                format!(
                    "the routine is {} bytes; the most a routine may have is {}",
                    text.len(),
                    super::MAX_FILE_BYTES
                ),
            )
            .help("a routine is a short text; check that this is the routine you meant"),
        );
        return Err(Box::new(cx.report));
    }
    if let Some(at) = super::nesting::too_deep(text) {
        let max = super::nesting::MAX_NESTING;
        cx.report.diagnostics.push(
            Diagnostic::error(
                at..at + 1,
                format!(
                    "this goes {} levels deep; the most tables, lists and dotted keys may nest is {max}",
                    max + 1
                ),
            )
            .help("a routine needs a few levels ([[step]], a key, a list of phrases): remove the extra brackets or dots"),
        );
        return Err(Box::new(cx.report));
    }
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().trim_end_matches('.').to_string();
            cx.report.diagnostics.push(
                Diagnostic::error(span, format!("this is not valid TOML: {message}"))
                    .help("fix the TOML syntax first (quotes, brackets, `key = value`); other checks run after it parses"),
            );
        }
        cx.report.sort();
        return Err(Box::new(cx.report));
    }
    let root_span = root.span();
    let root = root.get_ref();
    let routine = cx.routine(root, root_span, file, dir);
    cx.report.sort();
    if cx.report.has_errors() {
        Err(Box::new(cx.report))
    } else {
        Ok((routine, cx.report))
    }
}

/// Where the value of `key` in `[table]` is in `source` (a routine that
/// parses), if it has one: for a check made after parsing, such as a voice
/// name an installed engine lacks, to point at its line.
pub fn value_span(source: &str, table: &str, key: &str) -> Option<Range<usize>> {
    let root = DeTable::parse(source).ok()?;
    let DeValue::Table(table) = root.get_ref().get(table)?.get_ref() else {
        return None;
    };
    Some(table.get(key)?.span())
}

impl Cx<'_> {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>, help: impl Into<String>) {
        let help = help.into();
        let mut d = Diagnostic::error(span, message);
        if !help.is_empty() {
            d = d.help(help);
        }
        self.report.diagnostics.push(d);
    }

    fn warn(&mut self, span: Range<usize>, message: impl Into<String>, help: impl Into<String>) {
        self.report
            .diagnostics
            .push(Diagnostic::warning(span, message).help(help));
    }

    fn pos(&self, offset: usize) -> Pos {
        let (line, column) = self.lines.line_col(offset);
        Pos { line, column }
    }

    /// The value as written in the file, shortened for messages.
    fn shown(&self, span: &Range<usize>) -> String {
        let s = self.src.get(span.clone()).unwrap_or("").trim();
        let s = s.lines().next().unwrap_or("");
        if s.chars().count() > 40 {
            format!("{}…", s.chars().take(39).collect::<String>())
        } else {
            s.to_string()
        }
    }

    /// Reports every key of `table` not in `allowed`, suggesting the nearest.
    fn keys(&mut self, table: &Table<'_>, allowed: &[&str], place: &str) {
        self.keys_or(table, allowed, place, &[]);
    }

    /// [`Self::keys`], with `elsewhere`: keys people write that this
    /// format spells otherwise or puts elsewhere, with what to write.
    fn keys_or(
        &mut self,
        table: &Table<'_>,
        allowed: &[&str],
        place: &str,
        elsewhere: &[(&str, &str)],
    ) {
        for (key, v) in table.iter() {
            let k: &str = key.get_ref();
            if allowed.contains(&k) {
                continue;
            }
            if let Some((_, fix)) = elsewhere.iter().find(|(e, _)| e.eq_ignore_ascii_case(k)) {
                self.error(key.span(), format!("unknown key `{k}` {place}"), *fix);
                continue;
            }
            // `breath` takes a pattern: a misspelt key whose value is words
            // meant something else.
            let words = |v: &Value<'_>| matches!(v.get_ref(), DeValue::String(s) if super::quantity::parse_breath_pattern(s).is_err());
            let help = match suggest(k, allowed).filter(|&s| s != "breath" || !words(v)) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("the keys here are: {}", allowed.join(", ")),
            };
            self.error(key.span(), format!("unknown key `{k}` {place}"), help);
        }
    }

    fn wrong_type(&mut self, key: &str, v: &Value<'_>, wanted: &str, example: &str) {
        let shown = self.shown(&v.span());
        self.error(
            v.span(),
            format!(
                "`{key}` must be {wanted}, not {} `{shown}`",
                article(v.get_ref().type_str())
            ),
            format!("write it like `{key} = {example}`"),
        );
    }

    fn string(&mut self, t: &Table<'_>, key: &str) -> Option<(String, Range<usize>)> {
        let v = t.get(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some((s.to_string(), v.span())),
            _ => {
                self.wrong_type(key, v, "text in quotes", "\"…\"");
                None
            }
        }
    }

    fn bool(&mut self, t: &Table<'_>, key: &str) -> Option<bool> {
        let v = t.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(key, v, "true or false", "true");
                None
            }
        }
    }

    fn number(&mut self, t: &Table<'_>, key: &str, range: (f64, f64)) -> Option<f64> {
        let v = t.get(key)?;
        let n = match v.get_ref() {
            DeValue::Integer(i) => i.as_str().parse::<f64>().ok(),
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            _ => {
                self.wrong_type(key, v, "a number", "1.0");
                return None;
            }
        };
        match n {
            Some(n) if n >= range.0 && n <= range.1 => Some(n),
            _ => {
                let shown = self.shown(&v.span());
                self.error(
                    v.span(),
                    format!("`{key} = {shown}` is out of range"),
                    format!(
                        "use a value from {} to {} (1.0 is normal)",
                        range.0, range.1
                    ),
                );
                None
            }
        }
    }

    fn text(&mut self, t: &Table<'_>, key: &str) -> Option<Text> {
        let v = t.get(key)?;
        self.text_value(key, v)
    }

    fn text_value(&mut self, key: &str, v: &Value<'_>) -> Option<Text> {
        let DeValue::String(s) = v.get_ref() else {
            self.wrong_type(key, v, "text in quotes", "\"…\"");
            return None;
        };
        let span = v.span();
        if s.trim().is_empty() {
            self.error(
                span,
                format!("`{key}` is empty"),
                "write the words to speak, or remove the key",
            );
            return None;
        }
        if !self.spoken_text_fits(key, s, &span) {
            return None;
        }
        let segments = self.segments(s, &span)?;
        Some(Text {
            raw: s.to_string(),
            at: self.pos(span.start),
            segments,
        })
    }

    /// Whether spoken text is within the limits a voice can say: its
    /// length, its longest word, and no control characters. Reports each
    /// problem at its place.
    fn spoken_text_fits(&mut self, key: &str, s: &str, span: &Range<usize>) -> bool {
        let chars = s.chars().count();
        if chars > MAX_TEXT_CHARS {
            self.error(
                span.start..span.start + 1,
                format!("`{key}` is {chars} characters long; the most one text may have is {MAX_TEXT_CHARS}"),
                "split the words over several steps or phrases",
            );
            return false;
        }
        let mut fits = true;
        if let Some(word) = s
            .split(|c: char| c.is_whitespace() || c == '[' || c == ']')
            .find(|w| w.chars().count() > MAX_WORD_CHARS)
        {
            let start = word
                .char_indices()
                .nth(40)
                .map_or(word, |(i, _)| &word[..i]);
            let at = self.locate(span, start);
            self.error(
                at,
                format!(
                    "a word in `{key}` is {} characters long; the most a word may have is {MAX_WORD_CHARS}",
                    word.chars().count()
                ),
                "put spaces between the words",
            );
            fits = false;
        }
        if let Some(c) = s.chars().find(|&c| c.is_control() && !c.is_whitespace()) {
            let at = self.locate(span, &c.to_string());
            self.error(
                at,
                format!("`{key}` holds the control character U+{:04X}", u32::from(c)),
                "remove it; voices would obey it, not say it",
            );
            fits = false;
        }
        fits
    }

    /// Splits `Close your eyes. [2s] Breathe in.` into phrases and pauses.
    fn segments(&mut self, s: &str, span: &Range<usize>) -> Option<Vec<Segment>> {
        let mut out = Vec::new();
        let mut rest = s;
        let mut ok = true;
        while let Some(open) = rest.find('[') {
            let before = rest[..open].trim();
            if !before.is_empty() {
                out.push(Segment::Speak(before.to_string()));
            }
            let after = &rest[open + 1..];
            let Some(close) = after.find(']') else {
                let at = self.locate(span, &rest[open..]);
                self.error(
                    at,
                    "a `[` in spoken text opens a pause but is never closed",
                    "write a pause as `[2s]`; brackets are not spoken",
                );
                return None;
            };
            let inner = &after[..close];
            match super::quantity::parse_duration_span(inner) {
                Ok(d) if d.lo == d.hi && d.lo > 0 && d.lo <= 600_000 => {
                    out.push(Segment::Pause(d.lo));
                }
                Ok(_) => {
                    let at = self.locate(span, &rest[open..open + close + 2]);
                    self.error(
                        at,
                        format!("the pause `[{inner}]` must be one length from 1 ms to 10 min"),
                        "write a pause as `[2s]` or `[500ms]`",
                    );
                    ok = false;
                }
                Err(e) => {
                    let at = self.locate(span, &rest[open..open + close + 2]);
                    self.error(
                        at,
                        format!("`[{inner}]` in spoken text is not a pause: {}", e.message),
                        "write a pause as `[2s]` or `[500ms]`; brackets are not spoken",
                    );
                    ok = false;
                }
            }
            rest = &after[close + 1..];
        }
        let tail = rest.trim();
        if !tail.is_empty() {
            out.push(Segment::Speak(tail.to_string()));
        }
        if out.iter().all(|s| matches!(s, Segment::Pause(_))) && ok {
            self.error(
                span.clone(),
                "spoken text holds only pauses",
                "add words to speak, or use `pause` for silence",
            );
            return None;
        }
        ok.then_some(out)
    }

    /// The span of `needle` inside the string at `span`, or `span` itself.
    fn locate(&self, span: &Range<usize>, needle: &str) -> Range<usize> {
        self.src
            .get(span.clone())
            .and_then(|s| s.find(needle))
            .map_or(span.clone(), |i| {
                span.start + i..span.start + i + needle.len()
            })
    }

    fn texts(&mut self, t: &Table<'_>, key: &str) -> Vec<Text> {
        let Some(v) = t.get(key) else {
            return Vec::new();
        };
        match v.get_ref() {
            DeValue::String(_) => self.text_value(key, v).into_iter().collect(),
            DeValue::Array(items) => {
                if items.len() > MAX_PHRASES {
                    let at = items[MAX_PHRASES].span();
                    self.error(
                        at,
                        format!(
                            "`{key}` lists {} phrases; the most one list may have is {MAX_PHRASES}",
                            items.len()
                        ),
                        "keep the phrases that fit the step; split a long one into several steps",
                    );
                    return Vec::new();
                }
                let mut out = Vec::new();
                for item in items {
                    out.extend(self.text_value(key, item));
                }
                if items.is_empty() {
                    self.warn(
                        v.span(),
                        format!("`{key}` is an empty list"),
                        "add phrases or remove the key",
                    );
                }
                out
            }
            _ => {
                self.wrong_type(key, v, "text or a list of texts", "[\"…\", \"…\"]");
                Vec::new()
            }
        }
    }

    /// A duration or range; `positive` rejects zero.
    fn duration(&mut self, t: &Table<'_>, key: &str, positive: bool) -> Option<Span<Millis>> {
        let v = t.get(key)?;
        self.duration_value(key, v, positive)
    }

    fn duration_value(&mut self, key: &str, v: &Value<'_>, positive: bool) -> Option<Span<Millis>> {
        let span = v.span();
        let text = match v.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Integer(_) | DeValue::Float(_) => {
                let n = self.shown(&span);
                self.error(
                    span,
                    format!("`{key} = {n}` has no unit"),
                    format!(
                        "write `{key} = \"{n}s\"` for seconds or `{key} = \"{n} min\"` for minutes"
                    ),
                );
                return None;
            }
            _ => {
                self.wrong_type(key, v, "a duration in quotes", "\"30s\"");
                return None;
            }
        };
        match super::quantity::parse_duration_span(&text) {
            Err(QuantityError { message, help }) => {
                self.error(span, format!("`{key}`: {message}"), help);
                None
            }
            Ok(d) if positive && d.lo == 0 => {
                self.error(
                    span,
                    format!("`{key} = \"{text}\"` is zero"),
                    "a length must be more than zero; remove the key to leave it out",
                );
                None
            }
            Ok(d) if d.hi > MAX_SESSION => {
                self.error(
                    span,
                    format!(
                        "`{key} = \"{text}\"` is longer than a whole session may be ({})",
                        format_millis(MAX_SESSION)
                    ),
                    "check the unit: \"30s\" is seconds, \"30 min\" minutes, \"3h\" hours",
                );
                None
            }
            Ok(d) => Some(d),
        }
    }

    /// A count or range, from 1 to [`MAX_COUNT`].
    fn count(&mut self, t: &Table<'_>, key: &str) -> Option<Span<u32>> {
        let v = t.get(key)?;
        let span = v.span();
        let parsed = match v.get_ref() {
            DeValue::Integer(i) => match i.as_str().replace('_', "").parse::<i64>() {
                Ok(n) if n < 0 => Err(QuantityError {
                    message: format!("{n} is negative"),
                    help: "write a count of 1 or more".into(),
                }),
                Ok(n) => Ok(Span::one(u32::try_from(n).unwrap_or(u32::MAX))),
                Err(_) => Err(QuantityError {
                    message: "not a count".into(),
                    help: "write a whole number".into(),
                }),
            },
            DeValue::String(s) => super::quantity::parse_count_span(s),
            _ => {
                self.wrong_type(key, v, "a whole number or a range in quotes", "\"8-12\"");
                return None;
            }
        };
        match parsed {
            Err(QuantityError { message, help }) => {
                self.error(span, format!("`{key}`: {message}"), help);
                None
            }
            Ok(c) if c.lo == 0 => {
                let shown = self.shown(&span);
                self.error(
                    span,
                    format!("`{key} = {shown}` is zero"),
                    format!("a count starts at 1; remove `{key}` to leave it out"),
                );
                None
            }
            Ok(c) if c.hi > MAX_COUNT => {
                let shown = self.shown(&span);
                self.error(
                    span,
                    format!("`{key} = {shown}` is more than {MAX_COUNT}"),
                    "check the number: counts are rounds or breaths, not seconds",
                );
                None
            }
            Ok(c) => Some(c),
        }
    }

    /// A duration of the current step that planning resolves (and a
    /// length asked for may move): a range is noted in [`RangeSite`]s.
    fn resolved_duration(&mut self, t: &Table<'_>, key: &'static str) -> Option<Span<Millis>> {
        let d = self.duration(t, key, true)?;
        if d.lo < d.hi {
            self.note_range(t, key, RangeKind::Duration);
        }
        Some(d)
    }

    /// A count of the current step that planning resolves; a range is
    /// noted as in [`Self::resolved_duration`].
    fn resolved_count(&mut self, t: &Table<'_>, key: &'static str) -> Option<Span<u32>> {
        let c = self.count(t, key)?;
        if c.lo < c.hi {
            self.note_range(t, key, RangeKind::Count);
        }
        Some(c)
    }

    fn note_range(&mut self, t: &Table<'_>, key: &'static str, kind: RangeKind) {
        let Some(v) = t.get(key) else { return };
        let span = v.span();
        self.ranges.push(RangeSite {
            step: self.step,
            key,
            written: self.shown(&span),
            at: self.pos(span.start),
            kind,
        });
    }

    fn table<'t, 'i>(&mut self, t: &'t Table<'i>, key: &str) -> Option<&'t Table<'i>> {
        let v = t.get(key)?;
        match v.get_ref() {
            DeValue::Table(inner) => Some(inner),
            _ => {
                let shown = self.shown(&v.span());
                self.error(
                    v.span(),
                    format!(
                        "`{key}` must be a table, not {} `{shown}`",
                        article(v.get_ref().type_str())
                    ),
                    format!("write it as a section: `[{key}]` on its own line, then its keys"),
                );
                None
            }
        }
    }

    fn routine(
        &mut self,
        root: &Table<'_>,
        root_span: Range<usize>,
        file: &str,
        dir: &Path,
    ) -> Routine {
        self.keys(root, TOP_KEYS, "at the top of the routine");
        let title = match self.string(root, "title") {
            Some((t, _)) if !t.trim().is_empty() => t.trim().to_string(),
            Some((_, span)) => {
                self.error(span, "`title` is empty", "give the routine a title");
                String::new()
            }
            None if root.contains_key("title") => String::new(),
            None => {
                self.error(
                    0..0,
                    "the routine has no `title`",
                    "add a line like `title = \"Mid-back release\"` at the top",
                );
                String::new()
            }
        };
        let description = self.string(root, "description").map(|s| s.0);
        let credit = self.string(root, "credit").map(|s| s.0);
        let language = self.language(root);
        let voice = self.voice(root, &language);
        let voice_chosen = root.get("voice").is_some_and(|v| match v.get_ref() {
            DeValue::Table(t) => t.contains_key("engine") || t.contains_key("name"),
            _ => false,
        });
        let pronounce = self.pronounce(root);
        let breath = self.breath(root);
        let mut cues = Cues::default();
        if let Some(t) = self.table(root, "cues") {
            self.keys(t, CUE_KEYS, "in [cues]");
            self.cue_table(t, &mut cues);
        }
        let transition = self.duration(root, "transition", false).map_or(2_000, |d| {
            if d.lo != d.hi {
                let v = root.get("transition").map(|v| v.span()).unwrap_or(0..0);
                self.error(
                    v,
                    "`transition` must be one length, not a range",
                    "write e.g. `transition = \"3s\"`",
                );
            }
            d.lo
        });
        let sounds = self.sounds(root, dir);
        let steps = self.steps(root, root_span, &cues, breath);
        let mut ranges = std::mem::take(&mut self.ranges);
        ranges.sort_by_key(|r| (r.at.line, r.at.column));
        let routine = Routine {
            file: file.to_string(),
            dir: dir.to_path_buf(),
            title,
            description,
            credit,
            language,
            voice,
            voice_chosen,
            pronounce,
            breath,
            cues,
            transition,
            sounds,
            steps,
            ranges,
        };
        if !self.report.has_errors() {
            self.check_length(root, &routine);
        }
        routine
    }

    fn language(&mut self, root: &Table<'_>) -> String {
        match self.string(root, "language") {
            Some((lang, span)) => {
                let ok = {
                    let mut parts = lang.split(['-', '_']);
                    let first = parts.next().unwrap_or("");
                    (2..=3).contains(&first.len())
                        && first.chars().all(|c| c.is_ascii_alphabetic())
                        && parts.all(|p| {
                            (2..=8).contains(&p.len())
                                && p.chars().all(|c| c.is_ascii_alphanumeric())
                        })
                };
                if !ok {
                    self.error(
                        span,
                        format!("`language = \"{lang}\"` is not a language tag"),
                        "write a BCP 47 tag such as \"en\", \"en-GB\", \"de\" or \"fr\"",
                    );
                }
                lang
            }
            None => "en".to_string(),
        }
    }

    fn voice(&mut self, root: &Table<'_>, language: &str) -> VoiceSettings {
        let mut v = VoiceSettings {
            language: Some(language.to_string()),
            ..VoiceSettings::default()
        };
        let Some(t) = self.table(root, "voice") else {
            return v;
        };
        self.keys(t, VOICE_KEYS, "in [voice]");
        if let Some((engine, span)) = self.string(t, "engine") {
            match Engine::named(&engine) {
                Some(found) => v.engine = found,
                None => {
                    let help = match suggest(&engine, &Engine::names()) {
                        Some(s) => {
                            format!(
                                "did you mean \"{s}\"? The engines are {}",
                                Engine::listing(false)
                            )
                        }
                        None => format!("the engines are {}", Engine::listing(true)),
                    };
                    self.error(span, format!("unknown voice engine \"{engine}\""), help);
                }
            }
        }
        v.name = self.string(t, "name").map(|(name, span)| {
            self.voice_name(v.engine, &name, span);
            name
        });
        if let Some(s) = self.number(t, "speed", (0.5, 2.0)) {
            v.speed = s as f32;
        }
        if let Some(p) = self.number(t, "pitch", (0.5, 2.0)) {
            v.pitch = p as f32;
        }
        if let Some(vol) = self.number(t, "volume", (0.1, 2.0)) {
            v.volume = vol as f32;
        }
        if v.engine == Engine::FLITE && !language.to_ascii_lowercase().starts_with("en") {
            let span = root.get("language").map(|v| v.span()).unwrap_or(0..0);
            self.warn(
                span,
                format!(
                    "the built-in flite voice speaks English only, but `language = \"{language}\"`"
                ),
                "set `engine = \"espeak-ng\"` in [voice] (needs the espeak-ng program)",
            );
        }
        v
    }

    /// Refuses a voice name a built-in engine does not have (an installed
    /// engine's voices are checked when it is opened).
    fn voice_name(&mut self, engine: Engine, name: &str, span: Range<usize>) {
        let entry = engine.entry();
        if !entry.built_in {
            return;
        }
        let Ok(voices) = (entry.voices)() else {
            return;
        };
        let names: Vec<&str> = voices.iter().filter_map(|v| v.name.as_deref()).collect();
        if !names.contains(&name) {
            self.error(
                span,
                format!("the {} engine has no voice \"{name}\"", engine.name()),
                format!("its voices are {}", names.join(", ")),
            );
        }
    }

    fn pronounce(&mut self, root: &Table<'_>) -> Vec<Pronunciation> {
        let Some(t) = self.table(root, "pronounce") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (word, v) in t.iter() {
            let w: &str = word.get_ref();
            if w.is_empty() || w.chars().any(char::is_whitespace) {
                self.error(
                    word.span(),
                    format!("`{w}` is not one word"),
                    "list single words under [pronounce]",
                );
                continue;
            }
            let (respell, phones) = match v.get_ref() {
                DeValue::String(s) => (Some(s.to_string()), None),
                DeValue::Table(inner) => {
                    self.keys(
                        inner,
                        &["say", "phones"],
                        &format!("in the pronunciation of `{w}`"),
                    );
                    (
                        self.string(inner, "say").map(|s| s.0),
                        self.string(inner, "phones").map(|(p, span)| {
                            self.check_phones(&p, span);
                            p
                        }),
                    )
                }
                _ => {
                    self.wrong_type(w, v, "a respelling or { say, phones }", "\"oo-JYE-ee\"");
                    continue;
                }
            };
            if let Some(r) = &respell
                && !r.trim().is_empty()
                && !self.spoken_text_fits(w, r, &v.span())
            {
                continue;
            }
            if respell.as_deref().is_some_and(|s| s.trim().is_empty()) {
                self.error(
                    v.span(),
                    format!("the pronunciation of `{w}` is empty"),
                    "write how to say it, e.g. \"oo-JYE-ee\"",
                );
                continue;
            }
            if respell.is_none() && phones.is_none() {
                self.error(
                    v.span(),
                    format!("the pronunciation of `{w}` gives neither `say` nor `phones`"),
                    "write e.g. `{ say = \"oo-JYE-ee\" }`",
                );
                continue;
            }
            out.push(Pronunciation {
                word: w.to_string(),
                respell,
                phones,
            });
        }
        out
    }

    fn check_phones(&mut self, phones: &str, span: Range<usize>) {
        if phones.trim().is_empty() {
            self.error(
                span,
                "`phones` is empty",
                "write the word's phones, e.g. \"uw1 jh ay1 iy0\", or remove the key",
            );
            return;
        }
        for p in phones.split_whitespace() {
            let lower = p.to_ascii_lowercase();
            let base = lower.trim_end_matches(['0', '1', '2']);
            let stress_digits = lower.len() - base.len();
            if ARPABET.contains(&base)
                && (stress_digits > 1 || (stress_digits == 1 && !VOWELS.contains(&base)))
            {
                self.error(
                    span.clone(),
                    format!("`{p}` is not an ARPAbet phone: only a vowel takes a stress digit, and only one"),
                    "write a vowel with one stress digit (0, 1 or 2) and a consonant without, e.g. \"uw1 jh ay1 iy0\"",
                );
                return;
            }
            if !ARPABET.contains(&base) {
                self.error(
                    span.clone(),
                    format!("`{p}` is not an ARPAbet phone"),
                    "phones are CMU ARPAbet with stress digits, e.g. \"uw1 jh ay1 iy0\"; or use `say` with a respelling",
                );
                return;
            }
        }
    }

    /// The routine's `[breath]` (or `breath = "4-7-8"`).
    fn breath(&mut self, root: &Table<'_>) -> Breath {
        match root.get("breath") {
            Some(v) => self.breath_value(v, Breath::default(), "in [breath]"),
            None => Breath::default(),
        }
    }

    /// A breath pattern: the compact form `"4-7-8"` (every phase given, a
    /// missing hold zero) or a table whose keys override `base`.
    fn breath_value(&mut self, v: &Value<'_>, base: Breath, place: &str) -> Breath {
        let span = v.span();
        match v.get_ref() {
            DeValue::String(text) => match super::quantity::parse_breath_pattern(text) {
                Ok([inhale, hold_in, exhale, hold_out]) => {
                    let mut ok = true;
                    for (key, ms) in [
                        ("inhale", inhale),
                        ("hold_in", hold_in),
                        ("exhale", exhale),
                        ("hold_out", hold_out),
                    ] {
                        ok &= self.breath_phase(key, ms, span.clone(), Some(text));
                    }
                    if ok {
                        Breath {
                            inhale,
                            hold_in,
                            exhale,
                            hold_out,
                        }
                    } else {
                        base
                    }
                }
                Err(QuantityError { message, help }) => {
                    self.error(span, format!("`breath`: {message}"), help);
                    base
                }
            },
            DeValue::Table(t) => {
                self.keys(t, BREATH_KEYS, place);
                let mut b = base;
                for key in BREATH_KEYS {
                    let hold = key.starts_with("hold");
                    let Some(d) = self.duration(t, key, !hold) else {
                        continue;
                    };
                    let span = t.get(*key).map(|v| v.span()).unwrap_or(0..0);
                    if d.lo != d.hi {
                        self.error(
                            span,
                            format!("`{key}` must be one length, not a range"),
                            format!("write e.g. `{key} = \"4s\"`"),
                        );
                        continue;
                    }
                    if !self.breath_phase(key, d.lo, span, None) {
                        continue;
                    }
                    *match *key {
                        "inhale" => &mut b.inhale,
                        "hold_in" => &mut b.hold_in,
                        "exhale" => &mut b.exhale,
                        _ => &mut b.hold_out,
                    } = d.lo;
                }
                b
            }
            _ => {
                self.wrong_type("breath", v, "a pattern in quotes or a table", "\"4-7-8\"");
                base
            }
        }
    }

    /// Checks one phase of a breath pattern, written in the compact form
    /// `compact` or else as its own key; false when it is refused.
    fn breath_phase(
        &mut self,
        key: &str,
        ms: Millis,
        span: Range<usize>,
        compact: Option<&str>,
    ) -> bool {
        let length = format_millis(ms);
        let what = match compact {
            Some(text) => {
                let phase = match key {
                    "hold_in" => "hold after the inhale",
                    "hold_out" => "hold after the exhale",
                    other => other,
                };
                format!("the {phase} of `breath = \"{text}\"` ({length})")
            }
            None => format!("`{key} = \"{length}\"`"),
        };
        if key == "inhale" || key == "exhale" {
            if !BREATH_PHASE.contains(&ms) {
                self.error(
                    span,
                    format!("{what} is not a human breath"),
                    "an inhale or exhale lasts from 1s to 20s; 4s in and 6s out is calm",
                );
                return false;
            }
        } else if ms > HOLD_MAX {
            self.error(
                span,
                format!("{what} is longer than a breath can be held"),
                "hold a breath for 0s to 60s; for a long still pause use a step with `hold`",
            );
            return false;
        } else if ms > HOLD_WARN {
            self.warn(
                span,
                format!("{what} holds the breath over a minute, which makes most people dizzy or anxious"),
                "keep breath holds to 60s or less unless you train for it",
            );
        }
        true
    }

    fn cue_table(&mut self, t: &Table<'_>, cues: &mut Cues) {
        for (key, v) in t.iter() {
            let k: &str = key.get_ref();
            let Some(cue) = CueKey::find(k) else {
                continue; // reported by `keys`
            };
            let value = match v.get_ref() {
                DeValue::Boolean(b) => CueValue::Bool(*b),
                DeValue::String(s) => CueValue::Str(s.to_string()),
                DeValue::Array(items) if cue.takes_list() => {
                    let mut list = Vec::new();
                    for item in items {
                        match item.get_ref() {
                            DeValue::String(s) => list.push(s.to_string()),
                            _ => {
                                self.wrong_type(
                                    k,
                                    item,
                                    "a duration in quotes",
                                    "[\"30s\", \"10s\"]",
                                );
                            }
                        }
                    }
                    CueValue::List(list)
                }
                _ => {
                    self.wrong_type(k, v, "true, false or a word in quotes", "false");
                    continue;
                }
            };
            if let Err(message) = cue.set(cues, value) {
                let (m, h) = message.split_once("; ").unwrap_or((&message, ""));
                self.error(v.span(), m.to_string(), h.to_string());
            }
        }
    }

    fn sounds(&mut self, root: &Table<'_>, dir: &Path) -> Vec<(String, std::path::PathBuf)> {
        let Some(t) = self.table(root, "sounds") else {
            return Vec::new();
        };
        self.keys(t, SOUND_NAMES, "in [sounds]");
        let mut out = Vec::new();
        for name in SOUND_NAMES {
            let Some((file, span)) = self.string(t, name) else {
                continue;
            };
            let path = dir.join(&file);
            if !path.is_file() {
                self.error(
                    span,
                    format!("sound file \"{file}\" not found (looked for {})", path.display()),
                    "give a WAV path relative to the routine file, or remove the line to use the built-in sound",
                );
                continue;
            }
            out.push((name.to_string(), path));
        }
        out
    }

    fn steps(
        &mut self,
        root: &Table<'_>,
        root_span: Range<usize>,
        cues: &Cues,
        breath: Breath,
    ) -> Vec<Step> {
        let Some(v) = root.get("step") else {
            let at = root_span.end.min(self.src.len());
            self.error(
                at..at,
                "the routine has no steps",
                "add steps, each starting with a `[[step]]` line",
            );
            return Vec::new();
        };
        let items: Vec<&Value<'_>> = match v.get_ref() {
            DeValue::Array(items) => items.iter().collect(),
            DeValue::Table(_) => {
                self.error(
                    v.span(),
                    "`[step]` is a single table, but steps are a list",
                    "write each step header with double brackets: `[[step]]`",
                );
                return Vec::new();
            }
            _ => {
                self.wrong_type("step", v, "a list of [[step]] tables", "[[step]]");
                return Vec::new();
            }
        };
        if items.len() > MAX_STEPS {
            self.error(
                items[MAX_STEPS].span(),
                format!(
                    "the routine has {} steps; the most a routine may have is {MAX_STEPS}",
                    items.len()
                ),
                "split it into several routines",
            );
            return Vec::new();
        }
        let mut steps = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let DeValue::Table(t) = item.get_ref() else {
                self.wrong_type("step", item, "a [[step]] table", "[[step]]");
                continue;
            };
            if let Some(step) = self.step(i + 1, t, item.span(), cues, breath) {
                steps.push(step);
            }
        }
        steps
    }

    fn step(
        &mut self,
        n: usize,
        t: &Table<'_>,
        span: Range<usize>,
        routine_cues: &Cues,
        routine_breath: Breath,
    ) -> Option<Step> {
        self.step = n - 1;
        let name = self.step_name(n, t, &span);
        let place = format!("in step {n} \"{name}\"");
        self.keys_or(t, STEP_KEYS, &place, STEP_ELSEWHERE);
        let say = self.text(t, "say");
        let mut cues = routine_cues.clone();
        if let Some(ct) = t.get("cues") {
            match ct.get_ref() {
                DeValue::Table(ct) => {
                    self.keys(ct, CUE_KEYS, &format!("in the cues of step {n} \"{name}\""));
                    self.cue_table(ct, &mut cues);
                }
                _ => self.wrong_type("cues", ct, "an inline table", "{ halfway = false }"),
            }
        }
        let release = self.step_release(t, &mut cues);
        let pause = self.duration(t, "pause", true).map_or(0, |d| d.lo);
        let sides = self.sides(t);
        let switch_say = self.template(t, "switch_say");
        if let (true, Some(v)) = (sides.is_empty(), t.get("switch_say")) {
            self.warn(
                v.span(),
                format!("`switch_say` in step {n} \"{name}\" has no effect without `sides`"),
                "add `sides = [\"…\", \"…\"]`, or remove `switch_say`",
            );
        }
        let breath = match t.get("breath") {
            Some(v) => self.breath_value(
                v,
                routine_breath,
                &format!("in the breath of step {n} \"{name}\""),
            ),
            None => routine_breath,
        };
        let body = self.body(n, &name, t, &span, breath)?;
        Some(Step {
            name,
            at: self.pos(span.start),
            say,
            breath,
            switch_say,
            sides,
            cues,
            release,
            pause,
            body,
        })
    }

    /// The step's `name`, or "step N" (with an error) if it has none.
    fn step_name(&mut self, n: usize, t: &Table<'_>, span: &Range<usize>) -> String {
        match self.string(t, "name") {
            Some((s, _)) if !s.trim().is_empty() => s.trim().to_string(),
            Some((_, span)) => {
                self.error(
                    span,
                    format!("step {n} has an empty `name`"),
                    "name the step, e.g. `name = \"Cat-cow\"`",
                );
                format!("step {n}")
            }
            None => {
                if !t.contains_key("name") {
                    self.error(
                        span.start..span.start,
                        format!("step {n} has no `name`"),
                        "add `name = \"…\"`: it is spoken, shown while playing and marks the step in the file",
                    );
                }
                format!("step {n}")
            }
        }
    }

    /// The step's `release`: words to speak instead of "Release.", or
    /// `true`/`false`, which switches the step's `release` cue.
    fn step_release(&mut self, t: &Table<'_>, cues: &mut Cues) -> Option<Text> {
        let v = t.get("release")?;
        match v.get_ref() {
            DeValue::Boolean(b) => {
                cues.release = *b;
                None
            }
            _ => self.text_value("release", v),
        }
    }

    /// What the step does after its words: a flow, a hold, or nothing (a
    /// spoken-only step). Keys that belong to another kind of step are errors.
    fn body(
        &mut self,
        n: usize,
        name: &str,
        t: &Table<'_>,
        span: &Range<usize>,
        breath: Breath,
    ) -> Option<Body> {
        if t.contains_key("flow") {
            self.misplaced(
                t,
                &["hold", "breaths"],
                |k| format!("step {n} \"{name}\" has both `flow` and `{k}`"),
                "a step is either a hold or a flow: split it into two steps",
            );
            self.misplaced(
                t,
                HOLD_ONLY,
                |k| format!("`{k}` belongs to holds, but step {n} \"{name}\" is a flow"),
                "in a flow, put the words in the moves and use `rounds` or `for`",
            );
            self.flow(n, name, t, span.clone(), breath).map(Body::Flow)
        } else if t.contains_key("hold") || t.contains_key("breaths") {
            self.misplaced(
                t,
                FLOW_ONLY,
                |k| format!("`{k}` belongs to flows, but step {n} \"{name}\" is a hold"),
                "use `repeat` to repeat a hold, or write the step as a `flow`",
            );
            let hold = self.hold(n, name, t)?;
            if let (Some(v), HoldLength::Time(_), true, true) = (
                t.get("breath"),
                hold.length,
                hold.on_inhale.is_empty(),
                hold.on_exhale.is_empty(),
            ) {
                self.warn(
                    v.span(),
                    format!("`breath` in step {n} \"{name}\" has no effect: a timed hold follows no breath"),
                    "count the hold in `breaths`, or add `on_inhale`/`on_exhale` phrases, or remove `breath`",
                );
            }
            Some(Body::Hold(hold))
        } else {
            self.misplaced(
                t,
                &[
                    HOLD_ONLY,
                    FLOW_ONLY,
                    REPEAT_KEYS,
                    &["sides", "breath", "switch_say"],
                ]
                .concat(),
                |k| format!("`{k}` in step {n} \"{name}\" has nothing to act on"),
                "add a `hold`, `breaths` or `flow` to the step, or remove the key",
            );
            if !t.contains_key("say") {
                self.error(
                    span.start..span.start,
                    format!("step {n} \"{name}\" is empty"),
                    "give it words to `say`, a `hold`, a number of `breaths`, or a `flow`",
                );
                return None;
            }
            Some(Body::Say)
        }
    }

    /// Reports every one of `keys` that `t` has, at its value, with the
    /// message `what(key)`.
    fn misplaced(
        &mut self,
        t: &Table<'_>,
        keys: &[&str],
        what: impl Fn(&str) -> String,
        help: &str,
    ) {
        for (k, v) in keys.iter().filter_map(|&k| Some((k, t.get(k)?))) {
            self.error(v.span(), what(k), help);
        }
    }

    fn sides(&mut self, t: &Table<'_>) -> Vec<String> {
        let Some(v) = t.get("sides") else {
            return Vec::new();
        };
        let help = "write `sides = true` for right then left, or name them: `sides = [\"right arm\", \"left arm\"]` or `[\"clockwise\", \"the other way\"]`";
        match v.get_ref() {
            DeValue::Boolean(true) => vec!["right".into(), "left".into()],
            DeValue::Boolean(false) => Vec::new(),
            DeValue::Array(items) => {
                let mut out: Vec<String> = Vec::new();
                for item in items {
                    let DeValue::String(s) = item.get_ref() else {
                        self.wrong_type("sides", item, "a side in quotes", "[\"right\", \"left\"]");
                        continue;
                    };
                    if s.trim().is_empty() {
                        self.error(
                            item.span(),
                            "a side has no words",
                            format!("name each side; {help}"),
                        );
                        continue;
                    }
                    if out.iter().any(|o| o.eq_ignore_ascii_case(s)) {
                        self.error(
                            item.span(),
                            format!("the side \"{s}\" is listed twice"),
                            help,
                        );
                        continue;
                    }
                    out.push(s.trim().to_string());
                }
                if items.len() == 1 {
                    self.error(
                        v.span(),
                        "a single side is not sides",
                        "list both sides, or remove `sides` for a pose done once",
                    );
                    return Vec::new();
                }
                if items.is_empty() {
                    self.error(v.span(), "`sides` is an empty list", help);
                }
                out
            }
            _ => {
                self.wrong_type(
                    "sides",
                    v,
                    "true or a list of sides",
                    "[\"right\", \"left\"]",
                );
                Vec::new()
            }
        }
    }

    fn hold(&mut self, n: usize, name: &str, t: &Table<'_>) -> Option<Hold> {
        let length = match (t.get("hold"), t.get("breaths")) {
            (Some(_), Some(b)) => {
                self.error(
                    b.span(),
                    format!("step {n} \"{name}\" has both `hold` and `breaths`"),
                    "count the hold in time or in breaths, not both",
                );
                None
            }
            (Some(_), None) => self.resolved_duration(t, "hold").map(HoldLength::Time),
            (None, Some(_)) => self.resolved_count(t, "breaths").map(HoldLength::Breaths),
            (None, None) => None,
        };
        let repeats = self.repeats(n, name, t);
        let hold = Hold {
            length: length?,
            repeats,
            on_inhale: self.texts(t, "on_inhale"),
            on_exhale: self.texts(t, "on_exhale"),
            prompts: self.texts(t, "prompts"),
        };
        Some(hold)
    }

    /// `repeat` and what goes with it: rounds of a hold, sets of a flow.
    fn repeats(&mut self, n: usize, name: &str, t: &Table<'_>) -> Repeats {
        let repeat = self.resolved_count(t, "repeat");
        let once = repeat.is_none_or(|r| r.hi <= 1);
        for key in ["rest", "rest_say", "again", "announce_last"] {
            if let (Some(v), true) = (t.get(key), once) {
                self.warn(
                    v.span(),
                    format!(
                        "`{key}` in step {n} \"{name}\" has no effect without `repeat` of 2 or more"
                    ),
                    "add e.g. `repeat = 2`, or remove it; use `pause` for silence after the step",
                );
            }
        }
        let d = Repeats::default();
        Repeats {
            repeat: repeat.unwrap_or(d.repeat),
            rest: self.resolved_duration(t, "rest").unwrap_or(d.rest),
            rest_say: self.text(t, "rest_say"),
            again: self.text(t, "again"),
            announce: self.template(t, "announce"),
            announce_last: self.template(t, "announce_last"),
        }
    }

    /// Spoken text with `{placeholders}`; an unknown one is an error at it.
    fn template(&mut self, t: &Table<'_>, key: &str) -> Option<Template> {
        let v = t.get(key)?;
        let text = self.text_value(key, v)?;
        let span = v.span();
        let mut ok = true;
        let mut rest = text.raw.as_str();
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                let at = self.locate(&span, &rest[open..]);
                self.error(
                    at,
                    format!("a `{{` in `{key}` opens a placeholder but is never closed"),
                    format!("write a placeholder as {}", placeholders()),
                );
                return None;
            };
            let inner = &after[..close];
            if !Template::NAMES.contains(&inner) {
                let at = self.locate(&span, &rest[open..open + close + 2]);
                let hint = suggest(inner, Template::NAMES)
                    .map_or(String::new(), |s| format!("did you mean `{{{s}}}`? "));
                self.error(
                    at,
                    format!("`{{{inner}}}` in `{key}` is not a placeholder"),
                    format!("{hint}the placeholders are {}", placeholders()),
                );
                ok = false;
            }
            rest = &after[close + 1..];
        }
        ok.then_some(Template {
            raw: text.raw,
            at: text.at,
        })
    }

    fn flow(
        &mut self,
        n: usize,
        name: &str,
        t: &Table<'_>,
        span: Range<usize>,
        breath: Breath,
    ) -> Option<Flow> {
        let v = t.get("flow")?;
        let DeValue::Array(items) = v.get_ref() else {
            self.wrong_type(
                "flow",
                v,
                "a list of moves",
                "[{ inhale = \"…\" }, { exhale = \"…\" }]",
            );
            return None;
        };
        let mut ok = true;
        if items.is_empty() {
            self.error(
                v.span(),
                format!("the flow of step {n} \"{name}\" has no moves"),
                "list moves like `{ inhale = \"Reach up.\" }`, `{ exhale = \"Fold.\" }`",
            );
            ok = false;
        }
        let tempo = self.bool(t, "tempo").unwrap_or(false);
        let mut moves = Vec::new();
        for item in items {
            match self.flow_move(item, breath, tempo) {
                Some(m) => moves.push(m),
                None => ok = false,
            }
        }
        let amount = match (t.get("rounds"), t.get("for")) {
            (Some(_), Some(f)) => {
                self.error(
                    f.span(),
                    format!("step {n} \"{name}\" has both `rounds` and `for`"),
                    "give the flow a number of `rounds` or a time with `for`, not both",
                );
                None
            }
            (Some(_), None) => self.resolved_count(t, "rounds").map(FlowAmount::Rounds),
            (None, Some(_)) => self.resolved_duration(t, "for").map(FlowAmount::For),
            (None, None) => {
                self.error(
                    span.start..span.start,
                    format!("the flow of step {n} \"{name}\" has no length"),
                    "add `rounds = 5` (or a range like \"3-5\") or a time like `for = \"3 min\"`",
                );
                None
            }
        };
        let count = self.count_key(n, name, t);
        let repeats = self.repeats(n, name, t);
        let tick = self.bool(t, "tick").unwrap_or(false);
        let keeps_tempo = moves
            .iter()
            .any(|m| matches!(m.on, MoveOn::Time { tempo: true, .. }));
        if let (true, false, Some(v)) = (tick, keeps_tempo, t.get("tick")) {
            self.warn(
                v.span(),
                format!("`tick` in step {n} \"{name}\" has no effect: no move keeps tempo"),
                "add `tempo = true` to the step (or to its `say` moves), or remove `tick`",
            );
        }
        if !ok {
            return None;
        }
        Some(Flow {
            moves,
            amount: amount?,
            count,
            repeats,
            tick,
        })
    }

    /// `count` (true, or a template) and `count_last`.
    fn count_key(&mut self, n: usize, name: &str, t: &Table<'_>) -> Count {
        let last = self.template(t, "count_last");
        let count = match t.get("count").map(|v| v.get_ref()) {
            Some(DeValue::String(text)) if !text.contains("{n}") => {
                let v = &t["count"];
                self.wrong_type(
                    "count",
                    v,
                    "true or false, or a phrase with {n}",
                    "true` or `count = \"Rep {n}.\"",
                );
                Count::Off
            }
            Some(DeValue::String(_)) => match self.template(t, "count") {
                Some(each) => Count::Template { each, last },
                None => Count::Off,
            },
            Some(_) => match self.bool(t, "count") {
                Some(true) => Count::Words { last },
                _ => Count::Off,
            },
            None => Count::Off,
        };
        if let (Count::Off, Some(v)) = (&count, t.get("count_last")) {
            self.warn(
                v.span(),
                format!("`count_last` in step {n} \"{name}\" has no effect without `count`"),
                "add `count = true` or a phrase like `count = \"Rep {n}.\"`, or remove `count_last`",
            );
        }
        count
    }

    fn flow_move(&mut self, item: &Value<'_>, step_breath: Breath, tempo: bool) -> Option<Move> {
        let DeValue::Table(m) = item.get_ref() else {
            self.wrong_type(
                "flow",
                item,
                "a list of moves in braces",
                "[{ inhale = \"Reach up.\" }]",
            );
            return None;
        };
        self.keys(m, MOVE_KEYS, "in a move");
        let phases: Vec<&str> = ["inhale", "exhale", "say"]
            .into_iter()
            .filter(|k| m.contains_key(*k))
            .collect();
        let (key, on) = match phases.as_slice() {
            [] => {
                self.error(
                    item.span(),
                    "a move needs `inhale`, `exhale` or `say`",
                    "write `{ inhale = \"Reach up.\" }` or `{ say = \"Squeeze.\", time = \"5s\" }`",
                );
                return None;
            }
            [one] => {
                let on = match *one {
                    "inhale" => Some(MoveOn::Inhale),
                    "exhale" => Some(MoveOn::Exhale),
                    _ => {
                        match (m.get("time"), m.get("breaths")) {
                            (Some(_), Some(b)) => {
                                self.error(b.span(), "a `say` move lasts a `time` or a number of `breaths`, not both", "remove one: `time = \"5s\"` or `breaths = 5`");
                                None
                            }
                            (None, Some(_)) => {
                                let count = self.bool(m, "count_breaths").unwrap_or(false);
                                self.resolved_count(m, "breaths")
                                    .map(|n| MoveOn::Breaths { n, count })
                            }
                            (Some(_), None) => {
                                let tempo = self.bool(m, "tempo").unwrap_or(tempo);
                                self.resolved_duration(m, "time")
                                    .map(|time| MoveOn::Time { time, tempo })
                            }
                            (None, None) => {
                                self.error(item.span(), "a `say` move needs a `time` or a number of `breaths`", "write e.g. `{ say = \"Squeeze.\", time = \"5s\" }` or `{ say = \"Stay in downward dog.\", breaths = 5 }`, or use `inhale`/`exhale` to move with the breath");
                                None
                            }
                        }
                    }
                };
                if *one != "say" && m.contains_key("time") {
                    let s = m.get("time").map(|v| v.span()).unwrap_or(item.span());
                    self.error(s, format!("an `{one}` move lasts one {one} at the routine's pace; `time` does not apply"), "remove `time`, or write the move as `{ say = \"…\", time = \"5s\" }`");
                }
                for key in ["breaths", "count_breaths"] {
                    if let (true, Some(v)) = (*one != "say", m.get(key)) {
                        self.error(v.span(), format!("an `{one}` move lasts one {one}; `{key}` belongs to a `say` move held for some breaths"), "write the move as `{ say = \"Stay here.\", breaths = 5 }`");
                    }
                }
                if let (true, Some(v)) =
                    (*one == "say" && m.contains_key("breaths"), m.get("tempo"))
                {
                    self.error(v.span(), "a move held for `breaths` follows the breath; `tempo` applies to moves with a `time`", "remove `tempo`");
                }
                if let (true, Some(v)) = (*one != "say", m.get("tempo")) {
                    self.error(v.span(), format!("an `{one}` move follows the breath; `tempo` applies to `say` moves with a `time`"), "remove `tempo`, or set the breath's pace with `breath = \"4-6\"`");
                }
                (*one, on)
            }
            many => {
                self.error(
                    item.span(),
                    format!(
                        "a move has one of `inhale`, `exhale` or `say`, but this one has {}",
                        many.iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                    "split it into one move per breath: `{ inhale = \"…\" }, { exhale = \"…\" }`",
                );
                return None;
            }
        };
        let text = self.text(m, key);
        let then = self.text(m, "then");
        let breath = match m.get("breath") {
            Some(v) if key == "say" && !m.contains_key("breaths") => {
                self.error(
                    v.span(),
                    "a `say` move lasts its own `time`; `breath` does not apply",
                    "remove `breath`, or write the move as `{ inhale = \"…\", breath = \"4-7-8\" }`",
                );
                step_breath
            }
            Some(v) => self.breath_value(v, step_breath, "in the breath of a move"),
            None => step_breath,
        };
        Some(Move {
            on: on?,
            text: text?,
            then,
            breath,
        })
    }

    /// The shortest the routine can be (its gentle level, without speech)
    /// must fit a session; the longest gets a warning if it does not.
    fn check_length(&mut self, root: &Table<'_>, routine: &Routine) {
        use super::Level;
        // Transitions: between steps, and between the sides of a step.
        let transitions: Millis = routine
            .steps
            .iter()
            .map(|s| s.sides.len().saturating_sub(1) as Millis + 1)
            .sum::<Millis>()
            .saturating_sub(1)
            .saturating_mul(routine.transition);
        let est = |level: Level| -> Millis {
            routine
                .steps
                .iter()
                .map(|s| step_floor(s, level))
                .sum::<Millis>()
                .saturating_add(transitions)
                // Every step speaks (its name or its words): more than 1 ms.
                .saturating_add(routine.steps.len() as Millis)
        };
        let title_span = root.get("title").map(|v| v.span()).unwrap_or(0..0);
        let gentle = est(Level::Gentle);
        let deep = est(Level::Deep);
        if gentle > MAX_SESSION {
            self.error(
                title_span,
                format!(
                    "the routine lasts at least {} even at the gentle level; the limit is {}",
                    format_millis(gentle / 1000 * 1000),
                    format_millis(MAX_SESSION)
                ),
                "shorten holds, repeats or rounds, or split it into several routines",
            );
        } else if deep > MAX_SESSION {
            self.warn(
                title_span,
                format!(
                    "at the deep level the routine lasts at least {}, over the {} limit",
                    format_millis(deep / 1000 * 1000),
                    format_millis(MAX_SESSION)
                ),
                "plan it at the gentle or standard level, or shorten its ranges",
            );
        }
    }
}

/// The time a step takes without any speech: holds, rests, moves.
fn step_floor(step: &Step, level: super::Level) -> Millis {
    let sides = step.sides.len().max(1) as u64;
    let breath = step.breath.cycle();
    let body = match &step.body {
        Body::Say => 0,
        Body::Hold(h) => {
            let one = match h.length {
                HoldLength::Time(d) => d.at(level),
                HoldLength::Breaths(b) => u64::from(b.at(level)) * breath,
            };
            let rounds = u64::from(h.repeats.repeat.at(level));
            rounds * one + (rounds - 1) * h.repeats.rest.at(level)
        }
        Body::Flow(f) => {
            let set = match f.amount {
                FlowAmount::For(d) => d.at(level),
                FlowAmount::Rounds(r) => {
                    let round: Millis = f
                        .moves
                        .iter()
                        .map(|m| match m.on {
                            MoveOn::Inhale => m.breath.inhale + m.breath.hold_in,
                            MoveOn::Exhale => m.breath.exhale + m.breath.hold_out,
                            MoveOn::Time { time, .. } => time.at(level),
                            MoveOn::Breaths { n, .. } => u64::from(n.at(level)) * m.breath.cycle(),
                        })
                        .sum();
                    u64::from(r.at(level)) * round
                }
            };
            let sets = u64::from(f.repeats.repeat.at(level));
            sets * set + (sets - 1) * f.repeats.rest.at(level)
        }
    };
    sides * body + step.pause
}

/// The closest of `options` to `word`, if close enough to be a typo.
pub(super) fn suggest<'a>(word: &str, options: &[&'a str]) -> Option<&'a str> {
    let w = word.to_ascii_lowercase();
    options
        .iter()
        .map(|o| (strsim::damerau_levenshtein(&w, o), *o))
        .filter(|(d, o)| *d <= 2.max(o.len() / 4) && *d < o.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, o)| o)
        .or_else(|| {
            options
                .iter()
                .map(|o| (strsim::jaro_winkler(&w, o), *o))
                .filter(|(s, _)| *s > 0.88)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, o)| o)
        })
}

/// The placeholders of a template, for messages: "{n}, {total} or {side}".
fn placeholders() -> String {
    let names: Vec<String> = Template::NAMES.iter().map(|n| format!("{{{n}}}")).collect();
    format!(
        "{} or {}",
        names[..names.len() - 1].join(", "),
        names[names.len() - 1]
    )
}

fn article(type_str: &str) -> String {
    match type_str {
        "integer" => "an integer".into(),
        "array" => "a list".into(),
        other => format!("a {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(suggest("colour", &["color", "count"]), Some("color"));
        assert_eq!(suggest("halfwya", CUE_KEYS), Some("halfway"));
        assert_eq!(suggest("breathe", STEP_KEYS), Some("breaths"));
        assert_eq!(suggest("zzz", STEP_KEYS), None);
    }
}
