//! Exact sample arithmetic of the timing rules, at 8 kHz with a test
//! voice of 66 ms per character (so "Squat." is 396 ms = 3168 samples).

use super::*;
use crate::routine;
use crate::timeline::Phase;
use crate::voice::TestVoice;

const RATE: u32 = 8_000;
const GAP: u64 = 4_800; // 600 ms

fn plan_at(toml: &str, level: Level) -> Timeline {
    let (r, _) =
        routine::parse("t.toml", std::path::Path::new("."), toml).unwrap_or_else(|e| panic!("{e}"));
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
fn rates_outside_the_timeline_range_are_refused() {
    let (r, _) = routine::parse(
        "t.toml",
        std::path::Path::new("."),
        &format!("{BARE}[[step]]\nname = \"S\"\nsay = \"Hi.\"\n"),
    )
    .unwrap();
    let at = |rate| {
        plan(
            &r,
            &TestVoice::default(),
            &PlanOptions {
                rate,
                level: Level::Standard,
            },
        )
    };
    assert!(at(*RATES.start()).is_ok() && at(*RATES.end()).is_ok());
    assert_eq!(
        at(7_999).unwrap_err().to_string(),
        "the sample rate 7999 Hz is out of range; use 8000 to 192000 (44100 is usual)"
    );
    assert!(matches!(at(192_001), Err(PlanError::Rate(192_001))));
}

#[test]
fn too_long_sessions_are_refused() {
    let r =
        format!("{BARE}[[step]]\nname = \"Sit\"\nhold = \"1h-3h\"\nrepeat = 2\nrest = \"1s\"\n");
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

/// The breath cues of a plan on the sound lane from `t0` on: (start from
/// `t0`, len, phase).
fn tones_from(t: &Timeline, t0: u64) -> Vec<(u64, u64, Phase)> {
    t.cues
        .iter()
        .filter(|c| c.start >= t0)
        .filter_map(|c| match c.kind {
            CueKind::Breath { phase } => Some((c.start - t0, c.len, phase)),
            _ => None,
        })
        .collect()
}

fn plan_rate(toml: &str, rate: u32) -> Timeline {
    let (r, _) =
        routine::parse("t.toml", std::path::Path::new("."), toml).unwrap_or_else(|e| panic!("{e}"));
    let options = PlanOptions {
        rate,
        level: Level::Standard,
    };
    plan(&r, &TestVoice::default(), &options).unwrap()
}

#[test]
fn a_box_is_square_to_the_sample() {
    use Phase::{Exhale, HoldIn, HoldOut, Inhale};
    for (rate, side) in [(8_000, 32_000), (44_100, 176_400), (48_000, 192_000)] {
        let t = plan_rate(
            "title = \"T\"\nbreath = \"4-4-4-4\"\n[cues]\nbells = \"off\"\n[[step]]\nname = \"Box\"\nbreaths = 2\n",
            rate,
        );
        let t0 = t.cues.iter().find(|c| c.role == Role::Hold).unwrap().start;
        let s = side;
        assert_eq!(
            tones_from(&t, t0),
            vec![
                (0, s, Inhale),
                (s, s, HoldIn),
                (2 * s, s, Exhale),
                (3 * s, s, HoldOut),
                (4 * s, s, Inhale),
                (5 * s, s, HoldIn),
                (6 * s, s, Exhale),
                (7 * s, s, HoldOut),
            ],
            "at {rate} Hz"
        );
        // The hold is exactly its two breaths; "Release." comes after it.
        assert_eq!(find(&t, "Release.").start, t0 + 8 * s);
    }
}

#[test]
fn four_seven_eight_keeps_its_ratio_to_the_sample() {
    use Phase::{Exhale, HoldIn, Inhale};
    let t = plan_rate(
        &format!("{BARE}[[step]]\nname = \"Calm\"\nbreaths = 2\nbreath = \"4-7-8\"\n"),
        44_100,
    );
    let t0 = t.cues.iter().find(|c| c.role == Role::Hold).unwrap().start;
    let (i, h, e) = (176_400, 308_700, 352_800);
    assert_eq!((i * 7, h * 4, e * 4), (h * 4, i * 7, i * 8));
    let c = i + h + e;
    assert_eq!(
        tones_from(&t, t0),
        vec![
            (0, i, Inhale),
            (i, h, HoldIn),
            (i + h, e, Exhale),
            (c, i, Inhale),
            (c + i, h, HoldIn),
            (c + i + h, e, Exhale),
        ]
    );
    assert_eq!(find(&t, "Release.").start, t0 + 2 * c);
}

#[test]
fn words_that_do_not_fit_a_phase_warn_and_never_move_it() {
    let t = plan_str(
        "title = \"T\"\nbreath = \"2-4-4\"\n[cues]\nbells = \"off\"\n[[step]]\nname = \"P\"\nbreaths = 2\non_inhale = [\"Breathe in slowly through the nose.\"]\n",
    );
    let t0 = said("P.") + GAP;
    let phases: Vec<u64> = tones_from(&t, t0).iter().map(|p| p.0).collect();
    assert_eq!(phases, [0, 16_000, 48_000, 80_000, 96_000, 128_000]);
    assert_eq!(t.warnings.len(), 1, "{:?}", t.warnings);
    assert!(
        t.warnings[0]
            .message
            .contains("longer than its inhale of 2.0 s"),
        "{:?}",
        t.warnings
    );
    assert_eq!(t.warnings[0].line, 8);
}

#[test]
fn a_held_breath_sounds_a_still_tone_or_silence_and_may_be_said() {
    let held = |cues: &str| {
        let t = plan_str(&format!(
            "title = \"T\"\nbreath = \"2-2-2-2\"\n[cues]\nbells = \"off\"\n{cues}[[step]]\nname = \"H\"\nbreaths = 1\n"
        ));
        let tones: Vec<Phase> = tones_from(&t, 0).iter().map(|p| p.2).collect();
        let words: Vec<(u64, String)> = t
            .cues
            .iter()
            .filter(|c| c.role == Role::Breath && c.kind == CueKind::Speech)
            .map(|c| (c.start, c.text.clone()))
            .collect();
        (tones, words)
    };
    use Phase::{Exhale, HoldIn, HoldOut, Inhale};
    let (tones, words) = held("");
    assert_eq!(tones, [Inhale, HoldIn, Exhale, HoldOut]);
    assert!(words.is_empty());
    let (tones, _) = held("hold_sound = \"silence\"\n");
    assert_eq!(tones, [Inhale, Exhale]);
    let (tones, words) = held("breath = \"voice\"\n");
    assert!(tones.is_empty());
    let t0 = said("H.") + GAP;
    assert_eq!(
        words,
        [
            (t0, "Inhale.".to_string()),
            (t0 + 16_000, "Hold.".to_string()),
            (t0 + 32_000, "Exhale.".to_string()),
            (t0 + 48_000, "Hold.".to_string()),
        ]
    );
}

#[test]
fn steps_and_moves_override_the_routine_pattern() {
    // The routine breathes 2-3; the step 4-4-4-4; its first move 2-1-3 (an
    // inhale of 2 s then a hold of 1 s), its second the step's exhale and
    // hold out.
    let t = plan_str(&format!(
        "{BARE}[breath]\ninhale = \"2s\"\nexhale = \"3s\"\n[[step]]\nname = \"F\"\nbreath = \"4-4-4-4\"\nflow = [{{ inhale = \"Up.\", breath = \"2-1-3\" }}, {{ exhale = \"Down.\" }}]\nrounds = 1\n[[step]]\nname = \"B\"\nbreaths = 1\n"
    ));
    let up = find(&t, "Up.").start;
    use Phase::{Exhale, HoldIn, HoldOut, Inhale};
    let flow: Vec<(u64, u64, Phase)> = tones_from(&t, up)
        .into_iter()
        .filter(|c| c.0 < 100_000)
        .collect();
    assert_eq!(
        flow,
        [
            (0, 16_000, Inhale),
            (16_000, 8_000, HoldIn),
            (24_000, 32_000, Exhale),
            (56_000, 32_000, HoldOut),
        ]
    );
    assert_eq!(find(&t, "Down.").start, up + 24_000);
    // The next step breathes at the routine's pace.
    let b = t.cues.iter().rfind(|c| c.role == Role::Hold).unwrap();
    assert_eq!(
        tones_from(&t, b.start),
        [(0, 16_000, Inhale), (16_000, 24_000, Exhale)]
    );
}

const REP: &str = "flow = [{ say = \"Up.\", time = \"2s\" }, { say = \"Hold.\", time = \"1s\" }, { say = \"Down.\", time = \"2s\" }]\n";

#[test]
fn a_two_one_two_rep_keeps_tempo_to_the_sample() {
    for (rate, second) in [(8_000u64, 8_000u64), (44_100, 44_100)] {
        let t = plan_rate(
            &format!("{BARE}[[step]]\nname = \"Calf raise\"\n{REP}rounds = 3\ntempo = true\n"),
            rate as u32,
        );
        let ups: Vec<u64> = t
            .cues
            .iter()
            .filter(|c| c.text == "Up.")
            .map(|c| c.start)
            .collect();
        assert_eq!(ups.len(), 3);
        assert_eq!(ups[1] - ups[0], 5 * second, "at {rate} Hz");
        assert_eq!(ups[2] - ups[1], 5 * second);
        assert_eq!(find(&t, "Hold.").start, ups[0] + 2 * second);
        assert_eq!(find(&t, "Down.").start, ups[0] + 3 * second);
        // The last rep ends 5 s after it starts; then a gap and the release.
        assert_eq!(
            find(&t, "And release.").start,
            ups[2] + 5 * second + 6 * second / 10
        );
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    }
}

#[test]
fn a_tempo_move_whose_words_do_not_fit_is_stretched_with_a_warning() {
    let t = plan_str(&format!(
        "{BARE}[[step]]\nname = \"R\"\nflow = [{{ say = \"Rise onto the balls of the feet.\", time = \"1s\" }}]\nrounds = 2\ntempo = true\n"
    ));
    let words = said("Rise onto the balls of the feet.");
    let rises: Vec<u64> = t
        .cues
        .iter()
        .filter(|c| c.text.starts_with("Rise"))
        .map(|c| c.start)
        .collect();
    assert_eq!(rises[1] - rises[0], words + 2_400);
    assert_eq!(t.warnings.len(), 1, "{:?}", t.warnings);
    assert!(
        t.warnings[0].message.contains("longer than the 1.0 s beat"),
        "{:?}",
        t.warnings
    );
}

#[test]
fn ticks_mark_every_second_of_a_tempo_move() {
    let t = plan_str(&format!(
        "{BARE}[[step]]\nname = \"Calf raise\"\n{REP}rounds = 1\ntempo = true\ntick = true\n"
    ));
    let up = find(&t, "Up.").start;
    let ticks: Vec<u64> = t
        .cues
        .iter()
        .filter(|c| c.role == Role::Beat)
        .map(|c| c.start - up)
        .collect();
    assert_eq!(ticks, [0, 8_000, 16_000, 24_000, 32_000]);
}

#[test]
fn sets_rest_between_them_and_announce_themselves() {
    let t = plan_str(&format!(
        "{BARE}[[step]]\nname = \"Calf raise\"\n{REP}rounds = 2\ntempo = true\nrepeat = 3\nrest = \"60s\"\nrest_say = \"Rest. Shake out the legs.\"\nannounce = \"Set {{n}} of {{total}}.\"\nannounce_last = \"Last set.\"\ncount = \"Rep {{n}}.\"\ncount_last = \"Last rep.\"\n"
    ));
    let spoken: Vec<&str> = t
        .cues
        .iter()
        .filter(|c| c.role == Role::Round || c.role == Role::Rest)
        .map(|c| c.text.as_str())
        .collect();
    assert_eq!(
        spoken,
        [
            "Set one of three.",
            "Rep one.",
            "Last rep.",
            "Rest. Shake out the legs.",
            "rest 1m",
            "Set two of three.",
            "Rep one.",
            "Last rep.",
            "Rest. Shake out the legs.",
            "rest 1m",
            "Last set.",
            "Rep one.",
            "Last rep.",
        ]
    );
    // Each set: "Set …", then two reps of exactly 5 s, each after its
    // count; then a gap, "And release.", the rest's words and 60 s of rest.
    let rest = t.cues.iter().find(|c| c.text == "rest 1m").unwrap();
    assert_eq!(rest.len, 480_000);
    let sets: Vec<u64> = t
        .cues
        .iter()
        .filter(|c| c.text.starts_with("Set ") || c.text == "Last set.")
        .map(|c| c.start)
        .collect();
    let set_len = said("Set one of three.")
        + GAP
        + said("Rep one.")
        + said("Last rep.")
        + 2 * (GAP + 40_000)
        + GAP
        + said("And release.")
        + GAP
        + said("Rest. Shake out the legs.")
        + GAP
        + 480_000;
    assert_eq!(sets[1] - sets[0], set_len);
    assert_eq!(
        t.cues.iter().filter(|c| c.text == "And release.").count(),
        3
    );
}

#[test]
fn counts_said_with_the_move_keep_their_words() {
    let t = plan_str(&format!(
        "{BARE}[[step]]\nname = \"S\"\nflow = [{{ say = \"Squeeze.\", time = \"2s\" }}]\nrounds = 3\ncount = true\ncount_last = \"And the last one.\"\n"
    ));
    let moves: Vec<&str> = t
        .cues
        .iter()
        .filter(|c| c.role == Role::Move)
        .map(|c| c.text.as_str())
        .collect();
    assert_eq!(
        moves,
        [
            "One. Squeeze.",
            "Two. Squeeze.",
            "And the last one. Squeeze."
        ]
    );
}

#[test]
fn sides_may_be_any_labels_with_a_switch_phrase_naming_them() {
    let side_words = |extra: &str| -> Vec<String> {
        let t = plan_str(&format!(
            "{BARE}[[step]]\nname = \"Wrist circles\"\nsides = [\"clockwise\", \"the other way\"]\n{extra}flow = [{{ say = \"Circle.\", time = \"2s\" }}]\nrounds = 1\n"
        ));
        t.cues
            .iter()
            .filter(|c| c.role == Role::Side)
            .map(|c| c.text.clone())
            .collect()
    };
    assert_eq!(side_words(""), ["Clockwise first.", "Now the other way."]);
    assert_eq!(
        side_words("switch_say = \"Change direction: {side}, side {n} of {total}.\"\n"),
        [
            "Clockwise first.",
            "Change direction: the other way, side two of two."
        ]
    );
}

#[test]
fn a_repeated_hold_announces_its_rounds_with_templates() {
    let t = plan_str(&format!(
        "{BARE}[[step]]\nname = \"Squat\"\nhold = \"5s\"\nrepeat = 3\nrest = \"5s\"\nannounce = \"Round {{n}}.\"\nannounce_last = \"Final round.\"\n"
    ));
    let rounds: Vec<&str> = t
        .cues
        .iter()
        .filter(|c| c.role == Role::Round)
        .map(|c| c.text.as_str())
        .collect();
    assert_eq!(
        rounds,
        [
            "Round one.",
            "Round two.",
            "Squat.",
            "Final round.",
            "Squat."
        ]
    );
}

#[test]
fn a_dropped_cue_names_the_cue_it_collided_with_once() {
    // "Halfway." (at 10 s) would overlap the prompt at 10 s in each of the
    // three rounds on both sides: one warning.
    let t = plan_str(&format!(
        "{BARE}[[step]]\nname = \"Plank\"\nhold = \"20s\"\nrepeat = 3\nsides = true\nprompts = [\"Keep breathing.\"]\ncues = {{ remaining = false }}\n"
    ));
    assert_eq!(t.warnings.len(), 1, "{:?}", t.warnings);
    let w = &t.warnings[0].message;
    assert!(
        w.contains("\"Keep breathing.\" (1.0 s) at 10.0 s into the hold is left out: it would overlap \"Halfway.\" at 10.0 s–10.5 s of the hold"),
        "{w}"
    );
    assert_eq!(t.warnings[0].line, 9);
}

#[test]
fn a_step_just_named_by_next_does_not_say_its_name_again() {
    let names = |cues: &str| -> Vec<String> {
        let t = plan_str(&format!(
            "title = \"T\"\n[cues]\nbells = \"off\"\n{cues}[[step]]\nname = \"Squat\"\nhold = \"5s\"\n[[step]]\nname = \"Bridge\"\nhold = \"5s\"\n"
        ));
        t.cues
            .iter()
            .filter(|c| c.role == Role::Name || c.role == Role::Next)
            .map(|c| c.text.clone())
            .collect()
    };
    assert_eq!(names(""), ["Squat.", "Next: Bridge."]);
    assert_eq!(
        names("name = \"always\"\n"),
        ["Squat.", "Next: Bridge.", "Bridge."]
    );
    assert_eq!(names("next = false\n"), ["Squat.", "Bridge."]);
}

#[test]
fn a_move_held_for_breaths_breathes_and_counts_them() {
    use Phase::{Exhale, Inhale};
    let t = plan_str(&format!(
        "{BARE}[breath]\ninhale = \"2s\"\nexhale = \"3s\"\n[[step]]\nname = \"Sun\"\nflow = [{{ say = \"Stay in downward dog.\", breaths = 3, count_breaths = true }}, {{ exhale = \"Step forward.\" }}]\nrounds = 1\n"
    ));
    let dog = find(&t, "Stay in downward dog.").start;
    let b0 = dog + said("Stay in downward dog.") + GAP;
    let breaths: Vec<(u64, u64, Phase)> = tones_from(&t, b0).into_iter().take(6).collect();
    assert_eq!(
        breaths,
        [
            (0, 16_000, Inhale),
            (16_000, 24_000, Exhale),
            (40_000, 16_000, Inhale),
            (56_000, 24_000, Exhale),
            (80_000, 16_000, Inhale),
            (96_000, 24_000, Exhale),
        ]
    );
    let counts: Vec<(u64, &str)> = ["One.", "Two.", "Three."]
        .iter()
        .map(|w| (find(&t, w).start - b0, *w))
        .collect();
    assert_eq!(counts, [(0, "One."), (40_000, "Two."), (80_000, "Three.")]);
    assert_eq!(find(&t, "Step forward.").start, b0 + 120_000);
}

#[test]
fn many_cues_left_out_of_one_hold_share_one_warning() {
    let prompts = vec!["\"Rest.\""; 300].join(", ");
    let t = plan_str(&format!(
        "{BARE}[[step]]\nname = \"Rest\"\nhold = \"10s\"\nprompts = [{prompts}]\n"
    ));
    let left_out: Vec<_> = t
        .warnings
        .iter()
        .filter(|w| w.message.contains("left out"))
        .collect();
    assert_eq!(left_out.len(), 4, "{:#?}", t.warnings);
    let placed = t.cues.iter().filter(|c| c.role == Role::Prompt).count();
    let last = &left_out[3].message;
    assert!(
        last.contains(&format!(
            "{} more of this hold's cues are left out too",
            300 - placed - 3
        )),
        "{last}"
    );
}

/// A voice whose lengths vary from phrase to phrase as a real voice's do
/// (60 to 140 ms a character, by a hash of the text), so that words collide
/// with anchored cues and flows stretch.
struct Uneven;

impl Voice for Uneven {
    fn identity(&self) -> String {
        "uneven".into()
    }

    fn speak(&self, text: &str) -> Result<crate::voice::Clip, VoiceError> {
        let hash = text
            .bytes()
            .fold(17u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        let ms_per_char = 60 + (hash % 81) as u32;
        TestVoice { ms_per_char }.speak(text)
    }
}

#[test]
fn every_prefix_shown_while_planning_is_the_start_of_the_finished_plan() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("routines");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 6,
        "the seed routines are in {}",
        dir.display()
    );
    let voices: [&dyn Voice; 2] = [&TestVoice::default(), &Uneven];
    let mut shown = 0;
    for file in &files {
        let (r, _) = routine::load(file).unwrap_or_else(|e| panic!("{e}"));
        for voice in voices {
            for level in [Level::Gentle, Level::Standard, Level::Deep] {
                let options = PlanOptions {
                    rate: 44_100,
                    level,
                };
                let at_once = plan(&r, voice, &options).unwrap();
                let mut prefixes = Vec::new();
                let unfolded = plan_unfolding(&r, voice, &options, &Cancel::new(), &mut |p| {
                    prefixes.push((p.frontier(), p.timeline()))
                })
                .unwrap();
                let name = format!("{} at {level:?} with {}", file.display(), voice.identity());
                assert_eq!(unfolded, at_once, "{name}");
                assert!(!prefixes.is_empty(), "{name}");
                let mut last = 0;
                for (frontier, prefix) in prefixes {
                    shown += 1;
                    assert!(frontier >= last, "{name}: the frontier went back");
                    last = frontier;
                    assert_eq!(prefix.total, frontier, "{name}");
                    // The cues before the frontier are the finished plan's,
                    // in its order, and none placed later starts before it.
                    let before = |t: &Timeline| -> Vec<Cue> {
                        t.cues
                            .iter()
                            .filter(|c| c.start < frontier)
                            .cloned()
                            .collect()
                    };
                    assert_eq!(before(&prefix), before(&at_once), "{name} at {frontier}");
                    // Those already placed past it are final too.
                    for cue in &prefix.cues {
                        assert!(at_once.cues.contains(cue), "{name}: {cue:?}");
                    }
                    // Every step but the one being planned is final.
                    let (planning, done) = prefix.steps.split_last().unwrap();
                    assert_eq!(done, &at_once.steps[..done.len()], "{name}");
                    let finished = &at_once.steps[planning.index];
                    assert_eq!(
                        (planning.start, planning.name.as_str()),
                        (finished.start, finished.name.as_str()),
                        "{name}"
                    );
                    assert!(planning.end <= finished.end, "{name}");
                }
            }
        }
    }
    assert!(shown > 100, "only {shown} prefixes shown");
}
