//! The plans of the seed routines: pinned as snapshots (with the test
//! voice, so they do not move when the real voice is tuned) and checked for
//! what the source articles ask of them.

use vinyasa::timeline::{CueKind, Phase, Role, Timeline};
use vinyasa::{Level, timeline};

use crate::util::{SEEDS, assert_well_formed, plan, seed};

fn speech(t: &Timeline, step: &str) -> Vec<String> {
    let i = t
        .step_named(step)
        .unwrap_or_else(|| panic!("no step {step}"))
        .index;
    t.cues_of(i)
        .filter(|c| c.kind == CueKind::Speech)
        .map(|c| c.text.clone())
        .collect()
}

fn count(t: &Timeline, step: &str, text: &str) -> usize {
    speech(t, step).iter().filter(|s| *s == text).count()
}

/// Seconds from the start of the step's first hold (its clock) to `to`.
fn hold_seconds(t: &Timeline, step: &str, to: Role) -> f64 {
    let i = t.step_named(step).unwrap().index;
    let in_hold = |r: Role| {
        matches!(
            r,
            Role::Hold
                | Role::Phrase
                | Role::Breath
                | Role::Prompt
                | Role::Halfway
                | Role::Remaining
                | Role::Countdown
        )
    };
    let a = t.cues_of(i).find(|c| in_hold(c.role)).unwrap().start;
    let b = t
        .cues_of(i)
        .find(|c| c.role == to && c.start > a)
        .unwrap()
        .start;
    t.seconds(b - a)
}

fn seconds_between(t: &Timeline, step: &str, from: Role, to: Role) -> f64 {
    let i = t.step_named(step).unwrap().index;
    let a = t.cues_of(i).find(|c| c.role == from).unwrap().start;
    let b = t
        .cues_of(i)
        .find(|c| c.role == to && c.start > a)
        .unwrap()
        .start;
    t.seconds(b - a)
}

#[test]
fn seed_plans_are_well_formed_at_every_level() {
    for name in SEEDS {
        let r = seed(name);
        let mut totals = Vec::new();
        for level in [Level::Gentle, Level::Standard, Level::Deep] {
            let t = plan(&r, level);
            assert_well_formed(&t);
            totals.push(t.total);
        }
        assert!(
            totals[0] < totals[1] && totals[1] < totals[2],
            "{name}: {totals:?}"
        );
    }
}

#[test]
fn seed_plans_fit_the_built_in_voice_without_warnings() {
    for name in SEEDS {
        let r = seed(name);
        let voice = vinyasa::voice::open(&r.voice, &r.pronounce, None).unwrap();
        for level in [Level::Gentle, Level::Standard, Level::Deep] {
            let options = vinyasa::PlanOptions {
                rate: 44_100,
                level,
            };
            let t = vinyasa::plan(&r, voice.as_ref(), &options).unwrap();
            assert_well_formed(&t);
            assert!(
                t.warnings.is_empty(),
                "{name} at {level:?}: {:#?}",
                t.warnings
            );
        }
    }
}

#[test]
fn seed_plan_snapshots() {
    for name in SEEDS {
        let t = plan(&seed(name), Level::Standard);
        insta::assert_snapshot!(name, timeline::Table(&t).to_string());
    }
}

#[test]
fn childs_pose_is_breath_led_for_a_few_minutes() {
    let t = plan(&seed("childs-pose.toml"), Level::Standard);
    let step = t.step_named("Child's pose").unwrap();
    // 3-5 min at standard is 4 min of hold after the instructions.
    let hold = hold_seconds(&t, "Child's pose", Role::Release);
    assert_eq!(hold, 240.0);
    let said = speech(&t, "Child's pose");
    assert!(said.iter().any(|s| s.contains("ujjayi")));
    assert!(
        said.iter()
            .any(|s| s.starts_with("Breathe in; the shoulder blades rise"))
    );
    assert!(said.iter().any(|s| s.starts_with("As you breathe out")));
    // Breath tones pace the hold: 4 s in, 6 s out.
    let tones: Vec<_> = t
        .cues_of(step.index)
        .filter(|c| matches!(c.kind, CueKind::Breath { .. }))
        .collect();
    assert_eq!(tones.len(), 48);
    assert_eq!(
        tones[0].kind,
        CueKind::Breath {
            phase: Phase::Inhale
        }
    );
    assert_eq!(tones[0].len, 4 * 44_100);
    assert_eq!(tones[1].len, 6 * 44_100);
    // The supported variant and the doctor are mentioned.
    let all: String = t
        .speech()
        .map(|c| c.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(all.contains("cushion") && all.contains("doctor"));
}

#[test]
fn seven_stretches_have_every_hold_side_and_count() {
    let t = plan(&seed("seven-stretches.toml"), Level::Standard);
    let names: Vec<&str> = t.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Welcome",
            "Deep squat",
            "Lat stretch",
            "Downward-facing dog",
            "Knee to chest",
            "Shoulder blade squeeze",
            "Crossover stretch",
            "Bridge",
            "Closing"
        ]
    );
    // Squat: 30 s, a break, then again.
    assert_eq!(count(&t, "Deep squat", "Round 2 of 2."), 1);
    assert_eq!(count(&t, "Deep squat", "Release."), 2);
    // Each side of the one-sided stretches.
    assert_eq!(count(&t, "Lat stretch", "Right arm first."), 1);
    assert_eq!(count(&t, "Lat stretch", "Switch sides. Left arm."), 1);
    assert_eq!(count(&t, "Knee to chest", "Switch sides. Left leg."), 1);
    assert_eq!(count(&t, "Crossover stretch", "Switch sides. Left leg."), 1);
    // Downward dog several times: 3-4 rounds, 4 at standard.
    assert_eq!(count(&t, "Downward-facing dog", "Round 4 of 4."), 1);
    // Shoulder squeeze 5-8 times (7), bridge 8-12 times (10), counted.
    let squeeze = speech(&t, "Shoulder blade squeeze");
    let moves = |step: &str| {
        let i = t.step_named(step).unwrap().index;
        t.cues_of(i)
            .filter(|c| c.role == Role::Move)
            .map(|c| c.text.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        moves("Shoulder blade squeeze")
            .iter()
            .filter(|s| s.contains("squeeze"))
            .count(),
        7
    );
    assert_eq!(
        moves("Shoulder blade squeeze")
            .iter()
            .filter(|s| s.ends_with("elax."))
            .count(),
        7
    );
    assert!(squeeze.contains(&"Last one. Breathe in and squeeze.".to_string()));
    let bridge = speech(&t, "Bridge");
    assert_eq!(
        moves("Bridge")
            .iter()
            .filter(|s| s.ends_with("Lift.") || s.ends_with("lift your hips."))
            .count(),
        10
    );
    assert_eq!(
        moves("Bridge")
            .iter()
            .filter(|s| s.ends_with("Lower.") || s.ends_with("back down."))
            .count(),
        10
    );
    assert!(bridge.contains(&"Last one. Lift.".to_string()));
    // The hold of a side of the lat stretch is 15-30 s → 23 s.
    assert_eq!(hold_seconds(&t, "Lat stretch", Role::Release), 23.0);
}

#[test]
fn mid_back_follows_the_article() {
    let t = plan(&seed("mid-back.toml"), Level::Standard);
    let names: Vec<&str> = t.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Welcome",
            "Breathing into the back",
            "Cat-cow",
            "Dolphin prelude",
            "Mini suns",
            "Lying twist",
            "Final rest",
            "Closing"
        ]
    );
    // At least 10 breaths into the back: 12 at standard, 9 s each.
    let breathing = seconds_between(
        &t,
        "Breathing into the back",
        Role::Instruction,
        Role::Release,
    );
    assert!(breathing > 12.0 * 9.0, "{breathing}");
    // Cat-cow: inhale lift, exhale round, on every breath for 3-5 min.
    let cat = speech(&t, "Cat-cow");
    let lifts = cat.iter().filter(|s| s.starts_with("Inhale.")).count();
    let rounds = cat.iter().filter(|s| s.starts_with("Exhale.")).count();
    assert_eq!(lifts, rounds);
    let minutes = lifts as f64 * 9.0 / 60.0;
    assert!(
        (3.8..=4.2).contains(&minutes),
        "{lifts} rounds = {minutes} min"
    );
    // Dolphin: 8-10 breaths.
    let dolphin = t.step_named("Dolphin prelude").unwrap().index;
    let inhales = t
        .cues_of(dolphin)
        .filter(|c| {
            c.kind
                == CueKind::Breath {
                    phase: Phase::Inhale,
                }
        })
        .count();
    assert_eq!(inhales, 9);
    // Mini suns: 3-5 rounds of a four-part inhale/exhale sequence.
    let suns = t.step_named("Mini suns").unwrap().index;
    let phases: Vec<Phase> = t
        .cues_of(suns)
        .filter_map(|c| match c.kind {
            CueKind::Breath { phase } => Some(phase),
            _ => None,
        })
        .collect();
    assert_eq!(phases.len(), 4 * 4);
    assert!(
        phases
            .chunks(2)
            .all(|p| p == [Phase::Inhale, Phase::Exhale])
    );
    // Lying twist: 5 breaths each side.
    assert_eq!(count(&t, "Lying twist", "Right side first."), 1);
    assert_eq!(count(&t, "Lying twist", "Switch sides. Left side."), 1);
    let twist = t.step_named("Lying twist").unwrap().index;
    let twist_inhales = t
        .cues_of(twist)
        .filter(|c| {
            c.kind
                == CueKind::Breath {
                    phase: Phase::Inhale,
                }
        })
        .count();
    assert_eq!(twist_inhales, 10);
    // Final rest: at least 5 min, quiet but for sparse prompts.
    // 5-8 min at standard: 6 min 30 s.
    assert_eq!(hold_seconds(&t, "Final rest", Role::Release), 390.0);
    assert_eq!(
        speech(&t, "Final rest").len(),
        1 + 3 + 1,
        "instructions, 3 prompts, release (the name was just said by \"Next\"; no \"Next\" before a spoken-only step)"
    );
}

/// The JSON layout of `vinyasa plan --json`, pinned: a field added,
/// renamed or removed fails here and must be documented in the README.
mod json_schema {
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct Plan {
        pub schema: String,
        pub title: String,
        pub rate: u32,
        pub total: u64,
        pub total_seconds: f64,
        pub level: String,
        pub voice: String,
        pub steps: Vec<Step>,
        pub cues: Vec<Cue>,
        pub warnings: Vec<Warning>,
        /// Only in a plan to a length asked for.
        pub length: Option<Length>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct Length {
        pub target: u64,
        pub target_seconds: f64,
        pub reached: u64,
        pub reached_seconds: f64,
        pub shortest: u64,
        pub shortest_seconds: f64,
        pub longest: u64,
        pub longest_seconds: f64,
        pub counts: String,
        pub ranges: usize,
        pub limits: Vec<Limit>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct Limit {
        pub line: usize,
        pub column: usize,
        pub step: String,
        pub key: String,
        pub written: String,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct Step {
        pub index: usize,
        pub name: String,
        pub start: u64,
        pub end: u64,
        pub start_seconds: f64,
        pub end_seconds: f64,
        pub line: usize,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct Cue {
        pub start: u64,
        pub len: u64,
        pub start_seconds: f64,
        pub seconds: f64,
        pub step: usize,
        pub lane: String,
        pub kind: Kind,
        pub role: String,
        pub text: String,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct Kind {
        #[serde(rename = "type")]
        pub kind: String,
        pub bell: Option<String>,
        pub phase: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct Warning {
        pub line: usize,
        pub column: usize,
        pub message: String,
    }
}

#[test]
fn json_schema_is_pinned() {
    let t = plan(&seed("mid-back.toml"), Level::Standard);
    let text = serde_json::to_string(&timeline::Json::new(&t)).unwrap();
    let p: json_schema::Plan = serde_json::from_str(&text).unwrap();
    assert!(p.length.is_none(), "no length asked, none in the plan");
    assert_eq!(p.schema, "vinyasa.plan/1");
    assert_eq!(p.total, t.total);
    assert_eq!(p.cues.len(), t.cues.len());
    let kinds: std::collections::BTreeSet<&str> =
        p.cues.iter().map(|c| c.kind.kind.as_str()).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["bell", "breath", "silence", "speech"]
    );
    let roles: std::collections::BTreeSet<&str> = p.cues.iter().map(|c| c.role.as_str()).collect();
    // No "name": in mid-back "Next: …" names every step before it starts,
    // so the step does not say its name again.
    assert!(!roles.contains("name"), "{roles:?}");
    for role in [
        "session_bell",
        "instruction",
        "say",
        "hold",
        "phrase",
        "move",
        "prompt",
        "release",
        "breath",
        "next",
        "side",
    ] {
        assert!(roles.contains(role), "{role} missing from {roles:?}");
    }
    let first = &p.cues[0];
    assert_eq!(
        (
            first.kind.kind.as_str(),
            first.kind.bell.as_deref(),
            first.lane.as_str()
        ),
        ("bell", Some("session"), "sound")
    );
    assert!((p.total_seconds - t.total as f64 / 44_100.0).abs() < 1e-6);
}

#[test]
fn json_of_a_plan_to_a_length_is_pinned() {
    use vinyasa::plan::{Fit, LengthGoal, plan_for_length};
    let r = seed("mid-back.toml");
    let options = vinyasa::PlanOptions {
        rate: 44_100,
        level: Level::Standard,
    };
    let goal = LengthGoal {
        target: 3_600_000,
        fit: Fit::All,
    };
    let t = plan_for_length(&r, &vinyasa::voice::TestVoice::default(), &options, &goal).unwrap();
    let text = serde_json::to_string(&timeline::Json::new(&t)).unwrap();
    let p: json_schema::Plan = serde_json::from_str(&text).unwrap();
    let length = p.length.expect("the length asked");
    assert_eq!(
        (length.target, length.target_seconds),
        (3_600 * 44_100, 3_600.0)
    );
    assert_eq!((length.reached, length.longest), (t.total, t.total));
    assert_eq!(length.counts, "fitted");
    assert_eq!(length.ranges, r.ranges.len());
    assert_eq!(length.limits.len(), r.ranges.len());
    assert_eq!(length.limits[0].key, "breaths");
}
