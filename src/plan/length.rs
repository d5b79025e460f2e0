//! Planning to a length asked for: where each range is taken so that the
//! session lands as near the length as the ranges allow.
//!
//! A plan's length grows with the position its ranges are taken at (more
//! rounds, longer holds), so the position is found by bisection. Counts
//! and durations have a position each:
//!
//! * [`Fit::All`]: both move together until the counts that bracket the
//!   length are found; then, for each of those two count choices, the
//!   durations alone are bisected, and the nearer plan wins. Counts are
//!   coarse (a round more is a minute more), durations fine (whole
//!   seconds), so the counts say roughly how much work and the durations
//!   land it.
//! * [`Fit::Durations`]: the level keeps choosing the counts; only the
//!   durations are bisected.
//!
//! Every plan of the search reuses the phrase lengths of the ones before,
//! so a search costs a few dozen plans of arithmetic (each ended early
//! once within half a second of the length asked). Planning at the ends of
//! every range also gives the shortest and longest the routine can be,
//! which the [`LengthFit`] reports when the length asked is beyond them.

use std::collections::HashMap;

use super::{
    PlanError, PlanOptions, Resolve, check_rate, max_samples, plan_at, speak_phrases_of,
    within_limit,
};
use crate::cancel::Cancel;
use crate::routine::{
    Level, MAX_SESSION, Millis, Position, QuantityError, RangeKind, Routine, format_millis,
    parse_duration_span,
};
use crate::timeline::{LengthFit, RangeLimit, Timeline};
use crate::voice::Voice;

/// A length asked of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LengthGoal {
    /// The length, more than zero and at most [`MAX_SESSION`] (see
    /// [`parse_length`]).
    pub target: Millis,
    /// Which ranges may move to meet it.
    pub fit: Fit,
}

/// Which ranges a [`LengthGoal`] may move.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fit {
    /// Every range: counts (rounds, repeats, breaths) and durations.
    #[default]
    All,
    /// The durations only (holds, rests, `for`, move times); the counts
    /// are taken at [`PlanOptions::level`], which says how much work.
    Durations,
}

/// Why a length cannot be asked for: the value, what is wrong, the fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{value:?}: {problem}; {fix}")]
pub struct LengthError {
    /// The length as given.
    pub value: String,
    /// What is wrong with it.
    pub problem: String,
    /// What to give instead.
    pub fix: String,
}

/// Reads a session length as routines write durations (`15m`, `15 min`,
/// `1h30m`, `45 seconds`): one length, more than zero, at most
/// [`MAX_SESSION`].
pub fn parse_length(text: &str) -> Result<Millis, LengthError> {
    let error = |problem: String, fix: &str| LengthError {
        value: text.to_string(),
        problem,
        fix: fix.to_string(),
    };
    let fix = "give a length such as 15m, 20 min or 1h30m";
    let span = parse_duration_span(text).map_err(|QuantityError { message, .. }| {
        // The parser's message quotes the value itself; say what is wrong.
        let problem = message.replace(&format!("{:?}", text.trim()), "it");
        error(problem, fix)
    })?;
    if span.lo != span.hi {
        return Err(error("a length is one duration, not a range".into(), fix));
    }
    match span.lo {
        0 => Err(error("a session must last more than zero".into(), fix)),
        ms if ms > MAX_SESSION => Err(error(
            format!("over the {} a session may last", format_millis(MAX_SESSION)),
            &format!("give {} or less", format_millis(MAX_SESSION)),
        )),
        ms => Ok(ms),
    }
}

/// Plans `routine` with its ranges taken so that the session lasts as near
/// `goal` as they allow; the timeline's [`length`](Timeline::length) says
/// how near it came and, if the goal is out of reach, which ranges keep it
/// there.
pub fn plan_for_length(
    routine: &Routine,
    voice: &dyn Voice,
    options: &PlanOptions,
    goal: &LengthGoal,
) -> Result<Timeline, PlanError> {
    plan_for_length_cancellable(routine, voice, options, goal, &Cancel::new())
}

/// Bisection steps over the counts: a thousandth of each range, finer than
/// one count of any range under a thousand.
const COUNT_STEPS: u32 = 10;
/// Bisection steps over the durations: 1/16384 of each range, finer than a
/// second of any range under four hours.
const DURATION_STEPS: u32 = 14;

/// As [`plan_for_length`], stopping with [`PlanError::Cancelled`] before
/// the next phrase once `cancel` is set.
pub fn plan_for_length_cancellable(
    routine: &Routine,
    voice: &dyn Voice,
    options: &PlanOptions,
    goal: &LengthGoal,
    cancel: &Cancel,
) -> Result<Timeline, PlanError> {
    check_rate(options.rate)?;
    let rate = u64::from(options.rate);
    let mut search = Search {
        routine,
        voice,
        options,
        cancel,
        lengths: HashMap::new(),
        target: goal.target * rate / 1000,
        close: rate / 2,
        best: None,
    };
    let counts_at = match goal.fit {
        Fit::All => None,
        Fit::Durations => Some(options.level),
    };
    let at = |counts: Position, durations: Position| Resolve {
        counts: counts_at.map_or(counts, Position::from),
        durations,
    };
    let movable: Vec<_> = routine
        .ranges
        .iter()
        .filter(|r| counts_at.is_none() || r.kind == RangeKind::Duration)
        .collect();
    let (low, high) = (Position::LOW, Position::HIGH);
    let shortest = search.plan(at(low, low))?;
    let longest = if movable.is_empty() {
        shortest
    } else {
        search.plan(at(high, high))?
    };
    let target = search.target;
    if shortest < target && target < longest {
        match goal.fit {
            Fit::All => {
                // Counts and durations together, until the counts that
                // bracket the target are found.
                let (mut a, mut b) = (low, high);
                let mut close = false;
                for _ in 0..COUNT_STEPS {
                    let m = a.midpoint(b);
                    let len = search.plan(at(m, m))?;
                    close = search.is_close(len);
                    if close {
                        break;
                    }
                    if len < target {
                        a = m;
                    } else {
                        b = m;
                    }
                }
                // Then the durations alone, with either count choice: at
                // (a, a) shorter than the target, at (b, b) longer.
                if !close {
                    search.durations(a, (a, high), Some(high), at)?;
                    search.durations(b, (low, b), Some(low), at)?;
                }
            }
            Fit::Durations => search.durations(low, (low, high), None, at)?,
        }
    }
    let limits = if target < shortest || target > longest {
        movable
            .iter()
            .map(|r| RangeLimit {
                line: r.at.line,
                column: r.at.column,
                step: routine.steps[r.step].name.clone(),
                key: r.key.to_string(),
                written: r.written.clone(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut timeline = search
        .best
        .take()
        .map(|(_, t)| t)
        .expect("planned at least once");
    timeline.length = Some(LengthFit {
        file: routine.file.clone(),
        target,
        shortest,
        longest,
        counts_at,
        ranges: movable.len(),
        limits,
    });
    within_limit(routine, timeline, counts_at.unwrap_or(Level::Gentle))
}

/// The plans of one search and the best so far.
struct Search<'a> {
    routine: &'a Routine,
    voice: &'a dyn Voice,
    options: &'a PlanOptions,
    cancel: &'a Cancel,
    lengths: HashMap<String, u64>,
    /// The length asked for, in samples.
    target: u64,
    /// Near enough to stop searching: half a second, as durations move by
    /// whole seconds.
    close: u64,
    /// The plan nearest the target within the session limit (or, while
    /// there is none, the shortest), with how far it is from the target.
    best: Option<(u64, Timeline)>,
}

impl Search<'_> {
    /// Plans at `at`; keeps the plan if it is the nearest yet; returns its
    /// length.
    fn plan(&mut self, at: Resolve) -> Result<u64, PlanError> {
        let t = plan_at(
            self.routine,
            self.voice,
            self.options,
            at,
            &mut self.lengths,
            self.cancel,
            None,
        )?;
        let len = t.total;
        let max = max_samples(self.options.rate);
        // Over the limit counts as farther than anything within it.
        let miss = len.abs_diff(self.target) + if len > max { u64::MAX / 2 } else { 0 };
        if self.best.as_ref().is_none_or(|(best, _)| miss < *best) {
            self.best = Some((miss, t));
        }
        Ok(len)
    }

    fn is_close(&self, len: u64) -> bool {
        len.abs_diff(self.target) <= self.close
    }

    /// Bisects the durations between `lo` (shorter than the target) and
    /// `hi` (longer) with the counts at `counts`. `unplanned`, if given, is
    /// the end not yet planned: it is planned first, and if it does not
    /// cross the target either, it is the nearest.
    fn durations(
        &mut self,
        counts: Position,
        (mut lo, mut hi): (Position, Position),
        unplanned: Option<Position>,
        at: impl Fn(Position, Position) -> Resolve,
    ) -> Result<(), PlanError> {
        if let Some(end) = unplanned {
            let len = self.plan(at(counts, end))?;
            let crosses = if end == hi {
                len >= self.target
            } else {
                len <= self.target
            };
            if self.is_close(len) || !crosses {
                return Ok(());
            }
        }
        for _ in 0..DURATION_STEPS {
            let m = lo.midpoint(hi);
            if m == lo {
                break;
            }
            let len = self.plan(at(counts, m))?;
            if self.is_close(len) {
                break;
            }
            if len < self.target {
                lo = m;
            } else {
                hi = m;
            }
        }
        Ok(())
    }
}

/// As [`super::speak_ahead`] for a plan to `goal`: the phrases of a search
/// with the test voice (whose choices are near the real voice's), and of
/// the routine at the ends of its ranges, in one batch. A phrase the real
/// search meets that these did not is spoken then.
pub fn speak_ahead_for_length(
    routine: &Routine,
    voice: &dyn Voice,
    options: &PlanOptions,
    goal: &LengthGoal,
    cancel: &Cancel,
) -> Result<(), PlanError> {
    let test = crate::voice::TestVoice::default();
    let mut plans = Vec::new();
    for level in [Level::Gentle, Level::Deep] {
        let at_level = PlanOptions {
            level,
            ..options.clone()
        };
        plans.extend(super::plan(routine, &test, &at_level).ok());
    }
    plans.extend(plan_for_length(routine, &test, options, goal).ok());
    speak_phrases_of(&plans, voice, cancel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{LIMITS_SHOWN, LengthReport};
    use crate::voice::TestVoice;

    const RATE: u32 = 8_000;

    /// A hold of 30-90 s done 2-4 times with 10-20 s rests, and a flow of
    /// 3-6 rounds: counts and durations.
    const RANGED: &str = r#"title = "T"
[[step]]
name = "Hold"
hold = "30-90s"
repeat = "2-4"
rest = "10-20s"

[[step]]
name = "Flow"
flow = [{ inhale = "Up." }, { exhale = "Down." }]
rounds = "3-6"
"#;

    fn routine(text: &str) -> Routine {
        crate::routine::parse("t.toml", ".".as_ref(), text)
            .unwrap_or_else(|e| panic!("{e}"))
            .0
    }

    fn fit(r: &Routine, level: Level, target: Millis, fit: Fit) -> Timeline {
        let options = PlanOptions { rate: RATE, level };
        plan_for_length(
            r,
            &TestVoice::default(),
            &options,
            &LengthGoal { target, fit },
        )
        .unwrap()
    }

    fn at(r: &Routine, level: Level) -> Timeline {
        super::super::plan(r, &TestVoice::default(), &PlanOptions { rate: RATE, level }).unwrap()
    }

    fn seconds(t: &Timeline) -> f64 {
        t.total as f64 / f64::from(RATE)
    }

    #[test]
    fn lengths_are_read_as_routines_write_durations() {
        assert_eq!(parse_length("15m"), Ok(900_000));
        assert_eq!(parse_length("15 min"), Ok(900_000));
        assert_eq!(parse_length("1h30m"), Ok(5_400_000));
        assert_eq!(parse_length(" 45 seconds "), Ok(45_000));
        assert_eq!(parse_length("4h"), Ok(MAX_SESSION));
        let e = |text: &str| parse_length(text).unwrap_err().to_string();
        assert_eq!(
            e("0"),
            "\"0\": it has no unit; give a length such as 15m, 20 min or 1h30m"
        );
        assert_eq!(
            e("0s"),
            "\"0s\": a session must last more than zero; give a length such as 15m, 20 min or 1h30m"
        );
        assert_eq!(
            e("-5m"),
            "\"-5m\": it is negative; give a length such as 15m, 20 min or 1h30m"
        );
        assert_eq!(
            e("9h"),
            "\"9h\": over the 4h a session may last; give 4h or less"
        );
        assert_eq!(
            e("10-20m"),
            "\"10-20m\": a length is one duration, not a range; give a length such as 15m, 20 min or 1h30m"
        );
        assert!(
            e("soon").starts_with("\"soon\": it is not a duration"),
            "{}",
            e("soon")
        );
        assert!(
            e("15 parsecs").contains("unknown unit"),
            "{}",
            e("15 parsecs")
        );
    }

    #[test]
    fn the_search_lands_within_two_percent_between_the_ends() {
        let r = routine(RANGED);
        let (short, long) = (
            seconds(&at(&r, Level::Gentle)),
            seconds(&at(&r, Level::Deep)),
        );
        let mut last = 0;
        for k in 0..=20 {
            let target = short + (long - short) * f64::from(k) / 20.0;
            let t = fit(&r, Level::Standard, (target * 1000.0) as Millis, Fit::All);
            let off = (seconds(&t) - target) / target * 100.0;
            assert!(off.abs() <= 2.0, "{target} s: {}", LengthReport(&t));
            assert!(t.total >= last, "a longer length asked never gives less");
            last = t.total;
            let f = t.length.as_ref().unwrap();
            assert_eq!(f.ranges, 4);
            assert!(f.limits.is_empty());
        }
    }

    #[test]
    fn out_of_reach_reports_the_end_and_names_every_range() {
        let r = routine(RANGED);
        let (gentle, deep) = (at(&r, Level::Gentle), at(&r, Level::Deep));
        let t = fit(&r, Level::Standard, 3_600_000, Fit::All);
        assert_eq!(t.total, deep.total);
        let f = t.length.as_ref().unwrap();
        assert_eq!((f.shortest, f.longest), (gentle.total, deep.total));
        let written: Vec<_> = f
            .limits
            .iter()
            .map(|l| (l.line, l.key.as_str(), l.written.as_str()))
            .collect();
        assert_eq!(
            written,
            [
                (4, "hold", "\"30-90s\""),
                (5, "repeat", "\"2-4\""),
                (6, "rest", "\"10-20s\""),
                (11, "rounds", "\"3-6\"")
            ]
        );
        let report = LengthReport(&t).to_string();
        let first = report.lines().next().unwrap();
        assert!(
            first.ends_with("the longest this routine can be is 8:35, with all 4 of its ranges at their high ends:"),
            "{report}"
        );
        assert!(
            report.contains("\n  t.toml:4: \"Hold\" hold = \"30-90s\""),
            "{report}"
        );
        let t = fit(&r, Level::Standard, 1_000, Fit::All);
        assert_eq!(t.total, gentle.total);
        assert!(
            LengthReport(&t)
                .to_string()
                .contains("the shortest this routine can be is")
        );
    }

    #[test]
    fn a_long_list_of_limits_is_cut_short() {
        let step = |n: usize| format!("[[step]]\nname = \"S{n}\"\nhold = \"10-20s\"\n");
        let text = format!("title = \"T\"\n{}", (0..8).map(step).collect::<String>());
        let t = fit(&routine(&text), Level::Standard, 10_000, Fit::All);
        let report = LengthReport(&t).to_string();
        assert_eq!(t.length.as_ref().unwrap().limits.len(), 8);
        assert_eq!(report.lines().count(), 1 + LIMITS_SHOWN + 1, "{report}");
        assert!(report.ends_with("\n  and 3 more"), "{report}");
    }

    #[test]
    fn with_the_level_choosing_counts_only_durations_move() {
        let r = routine(RANGED);
        for level in [Level::Gentle, Level::Standard, Level::Deep] {
            let plain = at(&r, level);
            let rounds = |t: &Timeline| t.cues.iter().filter(|c| c.text == "Up.").count();
            let holds = |t: &Timeline| t.cues.iter().filter(|c| c.text == "Release.").count();
            for target in [120_000, 200_000, 300_000] {
                let t = fit(&r, level, target, Fit::Durations);
                assert_eq!(rounds(&t), rounds(&plain), "{level:?}");
                assert_eq!(holds(&t), holds(&plain), "{level:?}");
                let f = t.length.as_ref().unwrap();
                assert_eq!((f.counts_at, f.ranges), (Some(level), 2));
                let off = (seconds(&t) * 1000.0 - target as f64) / target as f64 * 100.0;
                assert!(f.out_of_reach() || off.abs() <= 2.0, "{}", LengthReport(&t));
            }
        }
    }

    #[test]
    fn without_ranges_the_length_is_fixed() {
        let r = routine("title = \"T\"\n[[step]]\nname = \"Sit\"\nhold = \"30s\"\n");
        let t = fit(&r, Level::Standard, 600_000, Fit::All);
        assert_eq!(t.total, at(&r, Level::Standard).total);
        let report = LengthReport(&t).to_string();
        assert!(
            report.ends_with("; this routine has no ranges, so its length is fixed"),
            "{report}"
        );
        // Counts only, fitting durations: nothing to move either.
        let r = routine("title = \"T\"\n[[step]]\nname = \"Sit\"\nbreaths = \"4-8\"\n");
        let t = fit(&r, Level::Deep, 600_000, Fit::Durations);
        assert_eq!(t.total, at(&r, Level::Deep).total);
        assert!(LengthReport(&t).to_string().ends_with(
            "; this routine has no duration ranges at the deep level, so its length is fixed"
        ));
    }

    #[test]
    fn a_session_over_the_limit_is_never_chosen() {
        // 1-5 hours of holding: the longest is over the 4 h limit.
        let r =
            routine("title = \"T\"\n[[step]]\nname = \"Sit\"\nhold = \"1-3h\"\nrepeat = \"1-2\"\n");
        let t = fit(&r, Level::Standard, MAX_SESSION, Fit::All);
        assert!(t.total <= MAX_SESSION * u64::from(RATE) / 1000);
        assert!(t.total >= (MAX_SESSION - 60_000) * u64::from(RATE) / 1000);
    }
}
