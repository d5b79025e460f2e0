//! `--length`: sessions planned to a length asked for, over a grid of
//! lengths on the example routines, with the built-in voice (flite).

use vinyasa::plan::{Fit, LengthGoal, plan_for_length};
use vinyasa::routine::{RangeKind, Routine};
use vinyasa::timeline::{LIMITS_SHOWN, LengthReport};
use vinyasa::voice::{Engine, Voice};
use vinyasa::{Level, PlanOptions, Timeline};

use crate::util::{assert_well_formed, seed};

/// The example routines with ranges of every kind: counts only
/// (breathwork, sun-salutation), counts and rests (calf-strength), and a
/// seed with holds, breaths, rounds and `for` (mid-back).
const ROUTINES: [&str; 5] = [
    "breathwork.toml",
    "calf-strength.toml",
    "sun-salutation.toml",
    "mid-back.toml",
    "childs-pose.toml",
];

fn flite(r: &Routine) -> Box<dyn Voice> {
    assert_eq!(
        r.voice.engine,
        Engine::FLITE,
        "{}: the grid runs on flite",
        r.file
    );
    vinyasa::voice::open(&r.voice, &r.pronounce, None).unwrap()
}

fn at_level(r: &Routine, voice: &dyn Voice, level: Level) -> Timeline {
    let options = PlanOptions {
        rate: 44_100,
        level,
    };
    vinyasa::plan(r, voice, &options).unwrap()
}

fn fitted(r: &Routine, voice: &dyn Voice, level: Level, target: u64, fit: Fit) -> Timeline {
    let options = PlanOptions {
        rate: 44_100,
        level,
    };
    plan_for_length(r, voice, &options, &LengthGoal { target, fit }).unwrap()
}

/// Percent off `target` (ms) for a length in samples at 44.1 kHz.
fn off(total: u64, target: u64) -> f64 {
    (total as f64 / 44.1 - target as f64) / target as f64 * 100.0
}

/// How many rounds, sets and breaths a plan has: its count cues.
fn counts_of(t: &Timeline) -> Vec<(usize, String)> {
    t.cues
        .iter()
        .filter(|c| {
            matches!(
                c.role,
                vinyasa::Role::Round | vinyasa::Role::Rest | vinyasa::Role::Move
            ) || matches!(c.kind, vinyasa::CueKind::Breath { .. })
        })
        .map(|c| (c.step, format!("{:?}", c.role)))
        .collect()
}

#[test]
fn a_grid_of_lengths_lands_within_two_percent_where_the_ranges_allow() {
    let mut worst: (f64, String) = (0.0, String::new());
    let mut lines = Vec::new();
    for name in ROUTINES {
        let r = seed(name);
        let voice = flite(&r);
        let gentle = at_level(&r, voice.as_ref(), Level::Gentle);
        let standard = at_level(&r, voice.as_ref(), Level::Standard);
        let deep = at_level(&r, voice.as_ref(), Level::Deep);
        let count_only = r.ranges.iter().all(|s| s.kind == RangeKind::Count);
        // From well under the shortest to well over the longest, 24 steps.
        let (lo, hi) = (gentle.total / 44 * 7 / 10, deep.total / 44 * 13 / 10);
        for k in 0..=24 {
            let target = (lo + (hi - lo) * k / 24) / 1000 * 1000;
            let t = fitted(&r, voice.as_ref(), Level::Standard, target, Fit::All);
            assert_well_formed(&t);
            let fit = t.length.as_ref().unwrap();
            let report = LengthReport(&t).to_string();
            // The report's figures are the plans' own.
            assert_eq!(fit.target, target * 44_100 / 1000);
            assert_eq!(fit.shortest, gentle.total, "{name}");
            assert_eq!(fit.longest, deep.total, "{name}");
            assert_eq!(fit.ranges, r.ranges.len());
            let e = off(t.total, target);
            lines.push(format!("{name} {target} ms: {} ({e:+.2}%)", t.total));
            if fit.target < gentle.total || fit.target > deep.total {
                // Out of reach: the nearest end, and every range named.
                let end = if fit.target < gentle.total {
                    &gentle
                } else {
                    &deep
                };
                let same = Timeline {
                    length: t.length.clone(),
                    level: t.level,
                    ..end.clone()
                };
                assert!(
                    t == same,
                    "{name} {target} ms: not the plan at the end of its ranges"
                );
                assert!(fit.out_of_reach());
                assert_eq!(fit.limits.len(), r.ranges.len());
                for (limit, site) in fit.limits.iter().zip(&r.ranges) {
                    assert_eq!(
                        (limit.line, limit.written.as_str()),
                        (site.at.line, site.written.as_str())
                    );
                    assert_eq!(limit.step, r.steps[site.step].name);
                }
                for limit in fit.limits.iter().take(LIMITS_SHOWN) {
                    let place = format!("{}:{}: ", r.file, limit.line);
                    assert!(report.contains(&place), "{report}");
                }
                let bound = if fit.target < gentle.total {
                    "shortest"
                } else {
                    "longest"
                };
                assert!(
                    report.contains(&format!("the {bound} this routine can be is")),
                    "{report}"
                );
                continue;
            }
            assert!(!fit.out_of_reach() && fit.limits.is_empty(), "{report}");
            // Never worse than the nearest level.
            let nearest_level = [&gentle, &standard, &deep]
                .iter()
                .map(|l| l.total.abs_diff(fit.target))
                .min()
                .unwrap();
            assert!(
                t.total.abs_diff(fit.target) <= nearest_level,
                "{name} {target}: {report}"
            );
            if e.abs() > 2.0 {
                // Only where whole rounds or breaths leave a gap, and then
                // the report says it is the nearest they allow.
                assert!(count_only, "{name} {target} ms: {e:+.2}%: {report}");
                assert!(report.contains("the nearest its ranges allow"), "{report}");
            } else if e.abs() > worst.0 {
                worst = (e.abs(), format!("{name} {target} ms"));
            }
        }
    }
    eprintln!(
        "{}\nworst within reach: {:.2}% ({})",
        lines.join("\n"),
        worst.0,
        worst.1
    );
}

#[test]
fn with_a_level_the_counts_stay_and_the_durations_fit() {
    // Its counts: reps and wrist circles; its durations: the rests.
    let r = seed("calf-strength.toml");
    let voice = flite(&r);
    for level in [Level::Gentle, Level::Standard, Level::Deep] {
        let plain = at_level(&r, voice.as_ref(), level);
        let mut reached = 0;
        for target in [360_000, 400_000, 420_000, 440_000, 480_000, 600_000] {
            let t = fitted(&r, voice.as_ref(), level, target, Fit::Durations);
            assert_eq!(counts_of(&t), counts_of(&plain), "{level:?} {target}");
            let fit = t.length.as_ref().unwrap();
            assert_eq!(fit.counts_at, Some(level));
            assert_eq!(
                fit.ranges,
                r.ranges
                    .iter()
                    .filter(|s| s.kind == RangeKind::Duration)
                    .count()
            );
            if !fit.out_of_reach() {
                reached += 1;
                assert!(off(t.total, target).abs() <= 2.0, "{}", LengthReport(&t));
            } else {
                assert!(LengthReport(&t).to_string().contains(&format!(
                    "at the {} level is",
                    format!("{level:?}").to_lowercase()
                )));
            }
        }
        assert!(reached > 0, "{level:?}: no length in reach");
    }
}

#[test]
fn a_routine_without_ranges_says_its_length_is_fixed() {
    let text = "title = \"Fixed\"\n[[step]]\nname = \"Sit\"\nhold = \"30s\"\n";
    let (r, _) = vinyasa::routine::parse("fixed.toml", ".".as_ref(), text).unwrap();
    let voice = flite(&r);
    let plain = at_level(&r, voice.as_ref(), Level::Standard);
    let t = fitted(&r, voice.as_ref(), Level::Standard, 60_000, Fit::All);
    assert_eq!(t.total, plain.total);
    let report = LengthReport(&t).to_string();
    assert!(
        report.ends_with("this routine has no ranges, so its length is fixed"),
        "{report}"
    );
}
