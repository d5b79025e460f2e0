//! Holds: the rounds and sides of a hold step, the clock of one hold (in
//! time or in breaths), the cues anchored in it, and the silence between
//! them.
//!
//! One hold is planned in steps: its [`Clock`], its breath phases, then the
//! anchored cues wanted in order of priority (3-2-1, time or breaths left,
//! halfway, prompts, phrases, breath words), then placed in that order so
//! that a later one gives way to an earlier one, then the silence around
//! what was placed.

use super::words::is_held;
use super::words::{
    capitalise, display_segments, ordinal, phase_word, sentence, sides, spoken_duration, words,
};
use super::{
    COUNTDOWN_MIN_MS, GAP_MS, HALFWAY_CLEARANCE_MS, HALFWAY_MIN_MS, PlanError, Planner, TICK_MS,
};
use crate::routine::{
    Countdown, Hold, HoldLength, HoldSound, Millis, Pos, Repeats, Segment, Step, format_millis,
};
use crate::timeline::{Cue, CueKind, Phase, Role};

/// Appended to the text of a hold's silence after its first stretch (which
/// [`Cue::continued`] marks).
const CONTINUED: &str = ", continued";

/// Where one hold runs and what it counts.
struct Clock {
    /// First sample: where the hold's instructions ended.
    start: u64,
    /// Length in samples.
    len: u64,
    /// One past the last sample.
    end: u64,
    /// Length in milliseconds (for a hold in breaths: breaths × pace).
    ms: Millis,
    /// The number of breaths, if the hold is counted in breaths.
    breaths: Option<u32>,
}

impl Clock {
    /// What the hold's silence is called on the timeline.
    fn label(&self) -> String {
        match self.breaths {
            Some(n) => format!("hold {n} breaths"),
            None => format!("hold {}", format_millis(self.ms)),
        }
    }
}

/// One phase of a breath-led hold: an inhale, exhale or a held breath.
struct BreathPhase {
    start: u64,
    len: u64,
    phase: Phase,
    /// Which breath of the hold, from 0.
    breath: usize,
}

/// A cue waiting to be placed in a hold.
/// Cues left out of one hold that get a warning each; the rest share one.
const LEFT_OUT_WARNINGS: usize = 3;

struct Candidate {
    at: u64,
    segments: Vec<Segment>,
    role: Role,
    /// Where to point a warning if it cannot be placed.
    pos: Pos,
    /// Breath words give way without a warning.
    quiet: bool,
}

impl Candidate {
    /// Words of one of the step's automatic cues; a warning points at the step.
    fn automatic(at: u64, text: impl Into<String>, role: Role, step: &Step) -> Self {
        Candidate {
            at,
            segments: words(text),
            role,
            pos: step.at,
            quiet: false,
        }
    }
}

impl Planner<'_> {
    /// A hold step's body: each side, each round with a rest before it, each
    /// hold followed by its release.
    pub(super) fn hold_step(&mut self, step: &Step, h: &Hold) -> Result<(), PlanError> {
        let rounds = self.count(h.repeats.repeat);
        for side in 0..sides(step) {
            self.side(step, side)?;
            for round in 1..=rounds {
                if round > 1 {
                    self.rest(&h.repeats)?;
                }
                let default = (round > 1).then(|| format!("Round {round} of {rounds}."));
                self.announce(step, side, &h.repeats, round, rounds, default)?;
                if round > 1 {
                    match &h.repeats.again {
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

    /// The rest between two rounds or sets: its words, then its silence.
    pub(super) fn rest(&mut self, r: &Repeats) -> Result<(), PlanError> {
        let rest = self.duration(r.rest);
        match &r.rest_say {
            Some(t) => self.say(&t.segments, Role::Rest)?,
            None => self.say_words(&format!("Rest for {}.", spoken_duration(rest)), Role::Rest)?,
        }
        self.silence(rest, Role::Rest, &format!("rest {}", format_millis(rest)));
        Ok(())
    }

    /// The phrase that announces round or set `n` of `total` on side
    /// `side`: `announce_last` on the last, else `announce`, else `default`.
    pub(super) fn announce(
        &mut self,
        step: &Step,
        side: usize,
        r: &Repeats,
        n: u32,
        total: u32,
        default: Option<String>,
    ) -> Result<(), PlanError> {
        let label = step.sides.get(side).map_or("", String::as_str);
        let last = (n == total && total > 1)
            .then_some(r.announce_last.as_ref())
            .flatten();
        let words = match last.or(r.announce.as_ref()) {
            Some(t) => Some(t.fill(n, total, label)),
            None => default,
        };
        match words {
            Some(w) => self.say_words(&w, Role::Round),
            None => Ok(()),
        }
    }

    /// One hold at the cursor: silence with anchored cues, cursor to its end.
    fn hold(&mut self, step: &Step, h: &Hold) -> Result<(), PlanError> {
        let clock = self.clock(step, h);
        let phases = self.breath_phases(step, h, &clock);
        if step.cues.breath.tone() {
            self.breath_tones(step, &phases);
        }
        // Anchored cues, highest priority first.
        let mut wanted = self.countdown(step, &clock);
        match clock.breaths {
            Some(n) => wanted.extend(breaths_left(step, n, &phases)),
            None => wanted.extend(self.time_left(step, &clock)),
        }
        wanted.extend(prompts(h, &clock));
        wanted.extend(self.phrases(h, &phases)?);
        if step.cues.breath.spoken() {
            wanted.extend(breath_words(step, &phases));
        }
        let placed = self.place_anchored(step, &clock, wanted)?;
        self.hold_silence(&clock, placed);
        self.cursor = clock.end;
        Ok(())
    }

    /// The clock of a hold that starts at the cursor. A hold in breaths
    /// lasts exactly its breaths' phases, each a whole number of samples.
    fn clock(&self, step: &Step, h: &Hold) -> Clock {
        let (ms, breaths, len) = match h.length {
            HoldLength::Time(d) => {
                let ms = self.duration(d);
                (ms, None, self.samples(ms))
            }
            HoldLength::Breaths(b) => {
                let n = self.count(b);
                let cycle: u64 = self.pattern(step.breath).iter().map(|p| p.1).sum();
                (
                    u64::from(n) * step.breath.cycle(),
                    Some(n),
                    u64::from(n) * cycle,
                )
            }
        };
        Clock {
            start: self.cursor,
            len,
            end: self.cursor + len,
            ms,
            breaths,
        }
    }

    /// The phases of a breath-led hold (one in breaths, or with
    /// `on_inhale`/`on_exhale` phrases) at the step's pattern from its
    /// start, the last cut at its end. A timed hold has none.
    fn breath_phases(&self, step: &Step, h: &Hold, clock: &Clock) -> Vec<BreathPhase> {
        let breath_led =
            clock.breaths.is_some() || !h.on_inhale.is_empty() || !h.on_exhale.is_empty();
        let mut phases = Vec::new();
        if !breath_led {
            return phases;
        }
        let pattern = self.pattern(step.breath);
        let mut t = clock.start;
        let mut breath = 0;
        while t < clock.end {
            for &(phase, len) in &pattern {
                if t >= clock.end {
                    break;
                }
                let len = len.min(clock.end - t);
                phases.push(BreathPhase {
                    start: t,
                    len,
                    phase,
                    breath,
                });
                t += len;
            }
            breath += 1;
        }
        phases
    }

    /// A breath tone filling each phase, on the sound lane; a held breath's
    /// still tone only when the step's `hold_sound` asks for it.
    fn breath_tones(&mut self, step: &Step, phases: &[BreathPhase]) {
        let still = step.cues.hold_sound == HoldSound::Tone;
        for p in phases {
            if is_held(p.phase) && !still {
                continue;
            }
            self.push(
                p.start,
                p.len,
                CueKind::Breath { phase: p.phase },
                Role::Breath,
                phase_word(p.phase),
            );
        }
    }

    /// The final 3-2-1 of a long enough timed hold: words to be placed, or
    /// ticks placed on the sound lane at once.
    fn countdown(&mut self, step: &Step, clock: &Clock) -> Vec<Candidate> {
        let mut wanted = Vec::new();
        if clock.breaths.is_some() || clock.ms < COUNTDOWN_MIN_MS {
            return wanted;
        }
        for (k, word) in [(3, "Three."), (2, "Two."), (1, "One.")] {
            let at = clock.end - self.samples(k * 1000);
            match step.cues.countdown {
                Countdown::Voice => {
                    wanted.push(Candidate::automatic(at, word, Role::Countdown, step));
                }
                Countdown::Tick => {
                    let len = self.samples(TICK_MS);
                    self.push(
                        at,
                        len,
                        CueKind::Tick,
                        Role::Countdown,
                        &format!("tick {k}"),
                    );
                }
                Countdown::Off => {}
            }
        }
        wanted
    }

    /// "N seconds left." for each of the step's `remaining` that fits twice
    /// into a timed hold, then "Halfway." unless one of those is close to it.
    fn time_left(&self, step: &Step, clock: &Clock) -> Vec<Candidate> {
        let cues = &step.cues;
        let fits = |r: Millis| clock.ms >= 2 * r;
        let mut wanted: Vec<Candidate> = cues
            .remaining
            .iter()
            .filter(|&&r| fits(r))
            .map(|&r| {
                let words = format!("{} left.", capitalise(&spoken_duration(r)));
                let at = clock.end - self.samples(r);
                Candidate::automatic(at, words, Role::Remaining, step)
            })
            .collect();
        let near_remaining = cues
            .remaining
            .iter()
            .any(|&r| fits(r) && (clock.ms / 2).abs_diff(clock.ms - r) < HALFWAY_CLEARANCE_MS);
        if cues.halfway && clock.ms >= HALFWAY_MIN_MS && !near_remaining {
            let at = clock.start + clock.len / 2;
            wanted.push(Candidate::automatic(at, "Halfway.", Role::Halfway, step));
        }
        wanted
    }

    /// `on_inhale` and `on_exhale` phrases, once each on successive phases.
    /// A phrase with no phase left, or longer than its phase, is a warning.
    fn phrases(&mut self, h: &Hold, phases: &[BreathPhase]) -> Result<Vec<Candidate>, PlanError> {
        let mut wanted = Vec::new();
        for (phase, list) in [(Phase::Inhale, &h.on_inhale), (Phase::Exhale, &h.on_exhale)] {
            let name = phase_word(phase).to_lowercase();
            let slots: Vec<&BreathPhase> = phases.iter().filter(|p| p.phase == phase).collect();
            for (i, phrase) in list.iter().enumerate() {
                let Some(slot) = slots.get(i) else {
                    self.warn(phrase.at, format!(
                        "the {} phrase {:?} has no {name} left to be spoken on: the hold has {} {name}s",
                        ordinal(i + 1), phrase.raw, slots.len()
                    ));
                    continue;
                };
                let need = self.text_len(&phrase.segments)?;
                if need > slot.len {
                    self.warn(phrase.at, format!(
                        "the phrase {:?} takes {} to say, longer than its {name} of {}; it runs into the next phase",
                        phrase.raw, self.secs(need), self.secs(slot.len)
                    ));
                }
                wanted.push(Candidate {
                    at: slot.start,
                    segments: phrase.segments.clone(),
                    role: Role::Phrase,
                    pos: phrase.at,
                    quiet: false,
                });
            }
        }
        Ok(wanted)
    }

    /// Places each wanted cue in turn if it fits between the cues already
    /// placed (half a gap clear of them) and the hold's end; one that does
    /// not is left out, with a warning unless it is quiet. Returns the spans
    /// placed.
    fn place_anchored(
        &mut self,
        step: &Step,
        clock: &Clock,
        wanted: Vec<Candidate>,
    ) -> Result<Vec<(u64, u64)>, PlanError> {
        // Each span placed, with the words placed there.
        let mut placed: Vec<(u64, u64, String)> = Vec::new();
        let gap = self.samples(GAP_MS) / 2;
        // Beyond the first few, cues left out of one hold are counted in one
        // warning: a thousand prompts in a short hold are one mistake.
        let mut unplaced = 0;
        let mut more: Option<Pos> = None;
        for c in wanted {
            let need = self.text_len(&c.segments)?;
            let span = (c.at, c.at + need);
            let clash = placed
                .iter()
                .find(|&&(a, b, _)| span.0 < b + gap && a < span.1 + gap);
            if span.1 <= clock.end && clash.is_none() {
                self.place_text(c.at, &c.segments, c.role)?;
                placed.push((span.0, span.1, display_segments(&c.segments)));
            } else if !c.quiet {
                unplaced += 1;
                if unplaced <= LEFT_OUT_WARNINGS {
                    let clash = clash.cloned();
                    self.left_out(step, clock, &c, need, clash);
                } else {
                    more.get_or_insert(c.pos);
                }
            }
        }
        if let Some(pos) = more {
            self.warn(
                pos,
                format!(
                    "step \"{}\": {} more of this hold's cues are left out too, for lack of room; \
                     give it fewer prompts or phrases, or a longer hold",
                    step.name,
                    unplaced - LEFT_OUT_WARNINGS
                ),
            );
        }
        Ok(placed.into_iter().map(|(a, b, _)| (a, b)).collect())
    }

    /// Warns that `c`, `need` samples long, is left out of the hold because
    /// it clashes with the words placed at `clash` or else runs past the end.
    fn left_out(
        &mut self,
        step: &Step,
        clock: &Clock,
        c: &Candidate,
        need: u64,
        clash: Option<(u64, u64, String)>,
    ) {
        let why = match clash {
            Some((a, b, words)) => format!(
                "it would overlap {words:?} at {}–{} of the hold",
                self.secs(a - clock.start),
                self.secs(b - clock.start)
            ),
            None => format!(
                "it would run {} past the hold's end",
                self.secs(c.at + need - clock.end)
            ),
        };
        self.warn(
            c.pos,
            format!(
                "step \"{}\": {:?} ({}) at {} into the hold is left out: {why}",
                step.name,
                display_segments(&c.segments),
                self.secs(need),
                self.secs(c.at - clock.start)
            ),
        );
    }

    /// The hold's silence: what is left between the placed cues. The first
    /// stretch carries the hold's label; the later ones are marked continued.
    fn hold_silence(&mut self, clock: &Clock, mut placed: Vec<(u64, u64)>) {
        placed.sort_unstable();
        let label = clock.label();
        let mut t = clock.start;
        let mut first = true;
        for (a, b) in placed.into_iter().chain([(clock.end, clock.end)]) {
            if a > t {
                let text = if first {
                    label.clone()
                } else {
                    format!("{label}{CONTINUED}")
                };
                self.place(Cue {
                    start: t,
                    len: a - t,
                    step: self.step,
                    kind: CueKind::Silence,
                    role: Role::Hold,
                    text,
                    continued: !first,
                });
                first = false;
            }
            t = t.max(b);
        }
    }
}

/// In a hold of `n` breaths: "Two more breaths." at the start of the
/// second-to-last breath and "Halfway." at the middle one.
fn breaths_left(step: &Step, n: u32, phases: &[BreathPhase]) -> Vec<Candidate> {
    let cues = &step.cues;
    let inhale_of = |b: usize| {
        phases
            .iter()
            .find(|p| p.phase == Phase::Inhale && p.breath == b)
            .map(|p| p.start)
    };
    let n = n as usize;
    let remaining = (!cues.remaining.is_empty() && n >= 4)
        .then(|| inhale_of(n - 2))
        .flatten();
    let halfway = (cues.halfway && n >= 6).then(|| inhale_of(n / 2)).flatten();
    [
        (remaining, "Two more breaths.", Role::Remaining),
        (halfway, "Halfway.", Role::Halfway),
    ]
    .into_iter()
    .filter_map(|(at, text, role)| Some(Candidate::automatic(at?, text, role, step)))
    .collect()
}

/// The hold's `prompts`, spread evenly over it.
fn prompts(h: &Hold, clock: &Clock) -> Vec<Candidate> {
    let k = h.prompts.len() as u64;
    h.prompts
        .iter()
        .enumerate()
        .map(|(j, prompt)| Candidate {
            at: clock.start + clock.len * (j as u64 + 1) / (k + 1),
            segments: prompt.segments.clone(),
            role: Role::Prompt,
            pos: prompt.at,
            quiet: false,
        })
        .collect()
}

/// "Inhale." and "Exhale." on each phase; they give way silently to any
/// other cue.
fn breath_words(step: &Step, phases: &[BreathPhase]) -> Vec<Candidate> {
    phases
        .iter()
        .map(|p| Candidate {
            at: p.start,
            segments: words(format!("{}.", phase_word(p.phase))),
            role: Role::Breath,
            pos: step.at,
            quiet: true,
        })
        .collect()
}
