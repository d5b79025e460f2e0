//! Flows: moves played in order, round after round, each lasting a breath
//! phase (stretched to fit its words) or its words plus a time.

use super::words::{display_segments, is_held, number_word, phase_word, sides, words};
use super::{GAP_MS, MOVE_MARGIN_MS, PlanError, Planner, TICK_MS};
use crate::routine::{
    Count, Flow, FlowAmount, HoldSound, Move, MoveOn, Segment, Step, Text, format_millis,
    number_words,
};
use crate::timeline::{CueKind, Phase, Role};

impl Planner<'_> {
    /// A flow step's body: each side, every round of moves, then its release.
    /// With `repeat`, the rounds are played in sets, a rest between them.
    pub(super) fn flow_step(&mut self, step: &Step, f: &Flow) -> Result<(), PlanError> {
        let sets = self.count(f.repeats.repeat);
        // A move that does not fit is told once, not each round.
        let mut warned = vec![false; f.moves.len()];
        for side in 0..sides(step) {
            self.side(step, side)?;
            let rounds = self.flow_rounds(f)?;
            for set in 1..=sets {
                if set > 1 {
                    self.rest(&f.repeats)?;
                }
                let default = (set > 1)
                    .then(|| format!("Set {} of {}.", number_words(set), number_words(sets)));
                self.announce(step, side, &f.repeats, set, sets, default)?;
                if let (true, Some(t)) = (set > 1, &f.repeats.again) {
                    self.say(&t.segments, Role::Round)?;
                }
                for round in 1..=rounds {
                    self.round(step, f, side, round, rounds, &mut warned)?;
                }
                self.cursor += self.samples(GAP_MS);
                self.release(step, "And release.")?;
            }
        }
        Ok(())
    }

    /// Round `round` of `rounds`: its count, then its moves.
    fn round(
        &mut self,
        step: &Step,
        f: &Flow,
        side: usize,
        round: u32,
        rounds: u32,
        warned: &mut [bool],
    ) -> Result<(), PlanError> {
        let label = step.sides.get(side).map_or("", String::as_str);
        let last = round == rounds && rounds > 1;
        let mut glued = None;
        match &f.count {
            Count::Off => {}
            Count::Words { last: phrase } => {
                glued = Some(match (last, phrase) {
                    (true, Some(t)) => t.fill(round, rounds, label),
                    _ => count_word(round, rounds),
                });
            }
            Count::Template { each, last: phrase } => {
                let t = match (last, phrase) {
                    (true, Some(t)) => t,
                    _ => each,
                };
                self.say_words(&t.fill(round, rounds, label), Role::Round)?;
            }
        }
        for (mi, m) in f.moves.iter().enumerate() {
            let text = text_in_round(m, round);
            let count = if mi == 0 { glued.take() } else { None };
            let segments = move_words(step, m.on, text, count);
            let words = self.text_len(&segments)?;
            if !warned[mi] {
                warned[mi] = self.warn_stretched(step, m, text, &segments, words);
            }
            self.play_move(step, m, &segments, words, f.tick)?;
        }
        Ok(())
    }

    /// The samples a move takes: its words, a gap and its time; or its
    /// breath phase, stretched to hold its words and a margin, then the
    /// breath held after it (the second number).
    fn move_slot(&self, m: &Move, words: u64) -> (u64, u64) {
        let pace = m.breath;
        let fit = |ms| (words + self.samples(MOVE_MARGIN_MS)).max(self.samples(ms));
        match m.on {
            MoveOn::Time { time, tempo: false } => (
                words + self.samples(GAP_MS) + self.samples(self.duration(time)),
                0,
            ),
            MoveOn::Time { time, tempo: true } => (fit(self.duration(time)), 0),
            MoveOn::Breaths { n, .. } => {
                let cycle: u64 = self.pattern(pace).iter().map(|p| p.1).sum();
                (
                    words + self.samples(GAP_MS) + u64::from(self.count(n)) * cycle,
                    0,
                )
            }
            MoveOn::Inhale => (fit(pace.inhale), self.samples(pace.hold_in)),
            MoveOn::Exhale => (fit(pace.exhale), self.samples(pace.hold_out)),
        }
    }

    /// Warns when a breath move's words (and margin) take longer than its
    /// phase, which is then stretched; returns whether it warned.
    fn warn_stretched(
        &mut self,
        step: &Step,
        m: &Move,
        text: &Text,
        segments: &[Segment],
        words: u64,
    ) -> bool {
        let (name, ms) = match m.on {
            MoveOn::Inhale => ("inhale", m.breath.inhale),
            MoveOn::Exhale => ("exhale", m.breath.exhale),
            MoveOn::Time { time, tempo: true } => ("beat", self.duration(time)),
            MoveOn::Time { tempo: false, .. } | MoveOn::Breaths { .. } => return false,
        };
        let phase = self.samples(ms);
        let need = words + self.samples(MOVE_MARGIN_MS);
        if need <= phase {
            return false;
        }
        self.warn(text.at, format!(
            "step \"{}\": the words {:?} take {} to say, longer than the {} {name}; the {name} is stretched to {}",
            step.name, display_segments(segments), self.secs(words), self.secs(phase), self.secs(need)
        ));
        true
    }

    /// One move at the cursor: its words, then a breath tone under its whole
    /// slot (and the breath held after it) or the silence of its time; the
    /// cursor moves past it.
    fn play_move(
        &mut self,
        step: &Step,
        m: &Move,
        segments: &[Segment],
        words: u64,
        tick: bool,
    ) -> Result<(), PlanError> {
        let t = self.cursor;
        let on = m.on;
        let (slot, held) = self.move_slot(m, words);
        let said = self.place_text(t, segments, Role::Move)?;
        if held > 0 {
            let phase = if on == MoveOn::Inhale {
                Phase::HoldIn
            } else {
                Phase::HoldOut
            };
            self.held_breath(step, phase, t + slot, held, said)?;
        }
        match on {
            MoveOn::Inhale | MoveOn::Exhale => {
                if step.cues.breath.tone() {
                    let phase = if on == MoveOn::Inhale {
                        Phase::Inhale
                    } else {
                        Phase::Exhale
                    };
                    let kind = CueKind::Breath { phase };
                    self.push(t, slot, kind, Role::Breath, phase_word(phase));
                }
            }
            MoveOn::Time { time, tempo: false } => {
                let ms = self.duration(time);
                let hold_at = t + words + self.samples(GAP_MS);
                let len = self.samples(ms);
                let label = format!("hold {}", format_millis(ms));
                self.push(hold_at, len, CueKind::Silence, Role::Hold, &label);
            }
            MoveOn::Breaths { n, count } => {
                let start = t + words + self.samples(GAP_MS);
                self.held_breaths(step, m, start, self.count(n), count)?;
            }
            MoveOn::Time { time, tempo: true } => {
                let label = format!("hold to {}", format_millis(self.duration(time)));
                self.push(
                    t + words,
                    slot - words,
                    CueKind::Silence,
                    Role::Hold,
                    &label,
                );
                if tick {
                    self.beat_ticks(t, slot);
                }
            }
        }
        self.cursor = t + slot + held;
        Ok(())
    }

    /// The breath held after a move, `len` samples from `at`: its still
    /// tone and, when breath cues are spoken and the move's words (ending
    /// at `said`) leave room, "Hold.".
    fn held_breath(
        &mut self,
        step: &Step,
        phase: Phase,
        at: u64,
        len: u64,
        said: u64,
    ) -> Result<(), PlanError> {
        if step.cues.breath.tone() && step.cues.hold_sound == HoldSound::Tone {
            self.push(
                at,
                len,
                CueKind::Breath { phase },
                Role::Breath,
                phase_word(phase),
            );
        }
        if step.cues.breath.spoken() && said + self.samples(GAP_MS) <= at {
            let hold = words("Hold.");
            if self.text_len(&hold)? <= len {
                self.place_text(at, &hold, Role::Breath)?;
            }
        }
        Ok(())
    }

    /// The `n` breaths of a move held for breaths, from `at`: a breath cue
    /// on each phase of its pattern (a held breath's per `hold_sound`), and
    /// on each inhale its number ("Two.") when counted, or the breath words
    /// when they are spoken, if it fits in the inhale.
    fn held_breaths(
        &mut self,
        step: &Step,
        m: &Move,
        at: u64,
        n: u32,
        count: bool,
    ) -> Result<(), PlanError> {
        let pattern = self.pattern(m.breath);
        let mut t = at;
        for breath in 1..=n {
            for &(phase, len) in &pattern {
                let still = step.cues.hold_sound == HoldSound::Tone;
                if step.cues.breath.tone() && (!is_held(phase) || still) {
                    let kind = CueKind::Breath { phase };
                    self.push(t, len, kind, Role::Breath, phase_word(phase));
                }
                let said = match (phase, count) {
                    (Phase::Inhale, true) => {
                        Some((format!("{}.", number_word(breath)), Role::Move))
                    }
                    _ if step.cues.breath.spoken() => {
                        Some((format!("{}.", phase_word(phase)), Role::Breath))
                    }
                    _ => None,
                };
                if let Some((text, role)) = said {
                    let w = words(text);
                    if self.text_len(&w)? <= len {
                        self.place_text(t, &w, role)?;
                    }
                }
                t += len;
            }
        }
        Ok(())
    }

    /// A tick on every whole second of a move that keeps tempo, from its
    /// start, each one that ends within the move.
    fn beat_ticks(&mut self, at: u64, slot: u64) {
        let (second, len) = (self.samples(1_000), self.samples(TICK_MS));
        let mut k = 0;
        while k * second + len <= slot {
            self.push(
                at + k * second,
                len,
                CueKind::Tick,
                Role::Beat,
                &format!("beat {}", k + 1),
            );
            k += 1;
        }
    }

    /// How many rounds a flow plays where its ranges are taken.
    fn flow_rounds(&mut self, f: &Flow) -> Result<u32, PlanError> {
        let target = match f.amount {
            FlowAmount::Rounds(r) => return Ok(self.count(r)),
            FlowAmount::For(d) => self.samples(self.duration(d)),
        };
        // Round lengths without count words: the first round and a later one.
        let mut round_len = [0u64; 2];
        for (k, round) in [1u32, 2].into_iter().enumerate() {
            for m in &f.moves {
                let words = self.text_len(&text_in_round(m, round).segments)?;
                let (slot, held) = self.move_slot(m, words);
                round_len[k] += slot + held;
            }
        }
        if target <= round_len[0] {
            return Ok(1);
        }
        let more = (target - round_len[0] + round_len[1] / 2) / round_len[1].max(1);
        Ok(1 + u32::try_from(more).unwrap_or(u32::MAX))
    }
}

/// A move's words in round `round`: its `then` after the first, if it has one.
fn text_in_round(m: &Move, round: u32) -> &Text {
    if round == 1 {
        &m.text
    } else {
        m.then.as_ref().unwrap_or(&m.text)
    }
}

/// The count spoken before the first move of round `round` of `rounds`.
fn count_word(round: u32, rounds: u32) -> String {
    if round == rounds && rounds > 1 {
        "Last one.".into()
    } else {
        format!("{}.", number_word(round))
    }
}

/// The words of one move: its text after the round's `count` and the breath
/// word (when breath cues are spoken and the text does not start with it).
fn move_words(step: &Step, on: MoveOn, text: &Text, count: Option<String>) -> Vec<Segment> {
    let mut segments = text.segments.clone();
    let mut prefix = count.unwrap_or_default();
    let phase = match on {
        MoveOn::Inhale => Some("Inhale"),
        MoveOn::Exhale => Some("Exhale"),
        MoveOn::Time { .. } | MoveOn::Breaths { .. } => None,
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
