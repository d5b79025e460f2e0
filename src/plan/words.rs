//! Spoken text on the timeline: phrases one after another with a gap
//! between, inline pauses as silence, the words of sides and releases, and
//! how the planner words what it makes up (names as sentences, durations,
//! counts).

use super::{GAP_MS, PlanError, Planner};
use crate::routine::{Breath, Millis, Segment, Step, format_millis};
use crate::timeline::{CueKind, Phase, Role};

impl Planner<'_> {
    /// Length of a phrase at the output rate, asked of the voice once.
    fn len(&mut self, text: &str) -> Result<u64, PlanError> {
        if let Some(&n) = self.lengths.get(text) {
            return Ok(n);
        }
        if self.cancel.is_cancelled() {
            return Err(PlanError::Cancelled);
        }
        self.show_prefix();
        // As a batch of one so that the voice sees the stop flag: flite
        // gives up a long phrase at once rather than finish it.
        let (rate, samples) = crate::voice::one(|done| {
            self.voice.length_batch(&[text], self.cancel, done);
        })
        .ok_or(PlanError::Cancelled)??;
        let n = crate::voice::len_at(samples, rate, self.rate).max(1);
        self.lengths.insert(text.to_string(), n);
        Ok(n)
    }

    /// Length of text with its inline pauses, without trailing gap.
    pub(super) fn text_len(&mut self, segments: &[Segment]) -> Result<u64, PlanError> {
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
    pub(super) fn place_text(
        &mut self,
        at: u64,
        segments: &[Segment],
        role: Role,
    ) -> Result<u64, PlanError> {
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
    pub(super) fn say(&mut self, segments: &[Segment], role: Role) -> Result<(), PlanError> {
        let end = self.place_text(self.cursor, segments, role)?;
        self.cursor = end + self.samples(GAP_MS);
        Ok(())
    }

    /// Speaks one phrase at the cursor, like [`Self::say`].
    pub(super) fn say_words(&mut self, words: &str, role: Role) -> Result<(), PlanError> {
        self.say(&[Segment::Speak(words.to_string())], role)
    }

    /// Silence at the cursor.
    pub(super) fn silence(&mut self, ms: Millis, role: Role, text: &str) {
        let len = self.samples(ms);
        self.push(self.cursor, len, CueKind::Silence, role, text);
        self.cursor += len;
    }

    /// The phases of one breath of `pattern` in samples, in order, each
    /// rounded on its own (so equal phases are equal: a box is square);
    /// a hold of zero is left out.
    pub(super) fn pattern(&self, pattern: Breath) -> Vec<(Phase, u64)> {
        [
            (Phase::Inhale, pattern.inhale),
            (Phase::HoldIn, pattern.hold_in),
            (Phase::Exhale, pattern.exhale),
            (Phase::HoldOut, pattern.hold_out),
        ]
        .into_iter()
        .map(|(p, ms)| (p, self.samples(ms)))
        .filter(|&(_, len)| len > 0)
        .collect()
    }

    /// The words that start side `i` of `sides`.
    pub(super) fn side(&mut self, step: &Step, i: usize) -> Result<(), PlanError> {
        let Some(side) = step.sides.get(i) else {
            return Ok(());
        };
        if !step.cues.switch {
            if i > 0 {
                self.silence(self.routine.transition, Role::Transition, "switch sides");
            }
            return Ok(());
        }
        let total = step.sides.len() as u32;
        let left_right = step.sides.iter().all(|s| {
            let first = s.split_whitespace().next().unwrap_or("");
            first.eq_ignore_ascii_case("left") || first.eq_ignore_ascii_case("right")
        });
        let words = match (&step.switch_say, i) {
            (_, 0) => format!("{} first.", capitalise(side)),
            (Some(t), _) => t.fill(i as u32 + 1, total, side),
            (None, _) if left_right => format!("Switch sides. {}.", capitalise(side)),
            (None, _) => format!("Now {}.", trim_stop(side)),
        };
        self.say_words(&words, Role::Side)?;
        if i > 0 && self.routine.transition > 0 {
            self.silence(self.routine.transition, Role::Transition, "switch sides");
        }
        Ok(())
    }

    /// The words that end a hold or flow: the step's `release`, or `default`.
    pub(super) fn release(&mut self, step: &Step, default: &str) -> Result<(), PlanError> {
        if !step.cues.release {
            return Ok(());
        }
        match &step.release {
            Some(t) => self.say(&t.segments, Role::Release),
            None => self.say_words(default, Role::Release),
        }
    }
}

/// How many sides a step is done on (one if it has no `sides`).
pub(super) fn sides(step: &Step) -> usize {
    step.sides.len().max(1)
}

pub(super) fn words(w: impl Into<String>) -> Vec<Segment> {
    vec![Segment::Speak(w.into())]
}

pub(super) fn phase_word(p: Phase) -> &'static str {
    match p {
        Phase::Inhale => "Inhale",
        Phase::Exhale => "Exhale",
        Phase::HoldIn | Phase::HoldOut => "Hold",
    }
}

/// Whether `p` is a held breath.
pub(super) fn is_held(p: Phase) -> bool {
    matches!(p, Phase::HoldIn | Phase::HoldOut)
}

pub(super) fn display_segments(segments: &[Segment]) -> String {
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
pub(super) fn sentence(name: &str) -> String {
    format!("{}.", capitalise(trim_stop(name)))
}

pub(super) fn trim_stop(s: &str) -> &str {
    s.trim().trim_end_matches(['.', '!', '?'])
}

pub(super) fn capitalise(s: &str) -> String {
    let mut c = s.trim().chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `10_000` → "10 seconds", `60_000` → "1 minute", `90_000` → "1 minute 30 seconds".
pub(super) fn spoken_duration(ms: Millis) -> String {
    let s = ms / 1000;
    let (m, s) = (s / 60, s % 60);
    let unit = |n: u64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    match (m, s) {
        (0, s) => unit(s, "second"),
        (m, 0) => unit(m, "minute"),
        (m, s) => format!("{} {}", unit(m, "minute"), unit(s, "second")),
    }
}

pub(super) fn number_word(n: u32) -> String {
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

pub(super) fn ordinal(n: usize) -> String {
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
