//! The README's annotated routine is a working routine.

use crate::util::root;

#[test]
fn the_readme_routine_checks_clean_and_plans() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("```toml\n").expect("no toml block") + "```toml\n".len();
    let text = &readme[start..start + readme[start..].find("```").unwrap()];
    // Its [sounds] table names a WAV beside the routine: make one.
    let dir = root().join("target/test-readme");
    std::fs::create_dir_all(&dir).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 22_050,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(dir.join("my-bowl.wav"), spec).unwrap();
    for n in 0..22_050 {
        w.write_sample(((n as f32 * 0.05).sin() * 8_000.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
    let (routine, report) = match vinyasa::routine::parse("README.md", &dir, text) {
        Ok(ok) => ok,
        Err(report) => panic!("{report}"),
    };
    assert!(report.diagnostics.is_empty(), "{report}");
    assert_eq!(routine.steps.len(), 9);
    let box_breathing = routine.steps.iter().find(|s| s.name == "Box breathing");
    assert_eq!(box_breathing.unwrap().breath.compact(), "4-4-4-4");
    let t = crate::util::plan(&routine, vinyasa::Level::Standard);
    crate::util::assert_well_formed(&t);
    // The calf raises announce their sets and reps in words.
    for said in [
        "Set one of three.",
        "Rep one.",
        "Last set.",
        "Now the other way.",
    ] {
        assert!(t.cues.iter().any(|c| c.text == said), "no {said:?}");
    }
}

/// The README's example of a length out of reach is what `--length 30m`
/// says of mid-back, with the built-in voice.
#[test]
fn the_readme_length_report_is_the_real_one() {
    use vinyasa::plan::{Fit, LengthGoal, plan_for_length};
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let at = readme
        .find("```text\nlength: 22:44 for the 30:00 asked")
        .expect("no example of a length out of reach");
    let block = &readme[at + "```text\n".len()..];
    let shown: Vec<&str> = block.lines().take_while(|l| !l.contains('…')).collect();
    let (r, _) = vinyasa::routine::load("routines/mid-back.toml".as_ref()).unwrap();
    let voice = vinyasa::voice::open(&r.voice, &r.pronounce, None).unwrap();
    let options = vinyasa::PlanOptions {
        rate: 44_100,
        level: vinyasa::Level::Standard,
    };
    let goal = LengthGoal {
        target: 30 * 60_000,
        fit: Fit::All,
    };
    let t = plan_for_length(&r, voice.as_ref(), &options, &goal).unwrap();
    let report = format!("length: {}", vinyasa::timeline::LengthReport(&t));
    let real: Vec<&str> = report.lines().take(shown.len()).collect();
    assert_eq!(shown, real);
}
