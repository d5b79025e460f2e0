//! Tests of the Piper engine. Those that speak need Piper: they run with
//! the Python of `VINYASA_TEST_PIPER_PYTHON` (CI sets it), else with the
//! private environment if it is installed; in CI (`CI=true`) a missing
//! Piper fails them instead of skipping them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::*;

const CONFIG: &str = r#"{"audio": {"sample_rate": 16000, "quality": "low"},
    "inference": {"noise_scale": 0.667, "length_scale": 1, "noise_w": 0.8},
    "language": {"code": "en_US", "name_english": "English", "country_english": "United States"}}"#;

/// A stand-in for a Python with Piper: a shell script answering the probe
/// with `probe` and running `driver` (shell) in place of the driver, with
/// voices `en_US-fake-low` and `de_DE-fake-low` in its site-packages.
struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new(probe: &str, driver: &str) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        super::models::tests::fake_voice(
            &site.join("fake_voice/data"),
            "en_US-fake-low",
            CONFIG,
            Some("* License: CC0\n"),
        );
        let de = CONFIG
            .replace("en_US", "de_DE")
            .replace("English", "German")
            .replace("United States", "Germany");
        super::models::tests::fake_voice(
            &site.join("other_voice/data"),
            "de_DE-fake-low",
            &de,
            None,
        );
        let probe = probe.replace("SITE", &site.display().to_string());
        let script = format!(
            "#!/bin/sh\ncase \"$2\" in\n  *sysconfig*) {probe} ;;\n  *PiperVoice*) {driver} ;;\nesac\n"
        );
        let python = dir.path().join("python");
        std::fs::write(&python, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
        Fake { dir }
    }

    /// A Piper whose driver speaks each line as two samples, until `then`.
    fn speaking(then: &str) -> Fake {
        Fake::new(
            PROBE_OK,
            &format!(
                "printf 'ready 16000\\n'; n=0; while read -r line; do n=$((n+1)); {then}; \
                 printf 'ok 8\\n\\000\\100\\000\\100\\000\\100\\000\\100'; done"
            ),
        )
    }

    fn setup(&self) -> PiperSetup {
        PiperSetup {
            python: self.dir.path().join("python"),
            voice_dirs: Vec::new(),
            start_timeout: Duration::from_secs(20),
            clip_timeout: Duration::from_secs(20),
        }
    }
}

const PROBE_OK: &str = r#"echo '{"piper": "1.8.0", "purelib": "SITE"}'"#;

fn english() -> VoiceSettings {
    VoiceSettings {
        engine: Engine(&ENGINE),
        language: Some("en".into()),
        ..VoiceSettings::default()
    }
}

fn open(fake: &Fake, settings: &VoiceSettings) -> Result<PiperVoice, VoiceError> {
    PiperVoice::new(&fake.setup(), settings, &[])
}

fn error_of(result: Result<PiperVoice, VoiceError>) -> String {
    match result {
        Ok(_) => panic!("opened"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_missing_python_or_piper_says_how_to_install_it() {
    let fake = Fake::speaking("true");
    let mut setup = fake.setup();
    setup.python = PathBuf::from("/nonexistent/bin/python");
    let err = PiperVoice::new(&setup, &english(), &[])
        .err()
        .unwrap()
        .to_string();
    assert!(err.starts_with("piper is not available: its Python /nonexistent/bin/python was not found; run `vinyasa voices install joe`"), "{err}");
    let no_piper = Fake::new(r#"echo '{"piper": null, "purelib": "SITE"}'"#, "true");
    let err = error_of(open(&no_piper, &english()));
    assert!(
        err.contains("the package piper-tts is not installed in"),
        "{err}"
    );
    assert!(err.contains("vinyasa voices install joe"), "{err}");
}

#[test]
fn voices_are_chosen_by_name_short_name_path_or_language() {
    let fake = Fake::speaking("true");
    assert_eq!(
        open(&fake, &english()).unwrap().model().name,
        "en_US-fake-low"
    );
    let named = |name: &str| VoiceSettings {
        name: Some(name.into()),
        ..english()
    };
    assert_eq!(
        open(&fake, &named("fake")).unwrap().model().name,
        "en_US-fake-low"
    );
    let path = fake
        .dir
        .path()
        .join("site/fake_voice/data/en_US-fake-low.onnx");
    assert_eq!(
        open(&fake, &named(&path.display().to_string()))
            .unwrap()
            .model()
            .name,
        "en_US-fake-low"
    );
    let german = VoiceSettings {
        language: Some("de".into()),
        ..english()
    };
    assert_eq!(open(&fake, &german).unwrap().model().name, "de_DE-fake-low");

    let err = error_of(open(&fake, &named("amy")));
    assert!(err.starts_with("Piper voice \"amy\": not found; the voices installed are de_DE-fake-low (de_DE), en_US-fake-low (en_US)"), "{err}");
    let err = error_of(open(
        &fake,
        &VoiceSettings {
            language: Some("fr".into()),
            ..english()
        },
    ));
    assert!(
        err.starts_with(
            "a Piper voice for language \"fr\": none is installed; the voices installed are"
        ),
        "{err}"
    );
    let err = error_of(open(
        &fake,
        &VoiceSettings {
            language: Some("fr".into()),
            ..named("en_US-fake-low")
        },
    ));
    assert_eq!(
        err,
        "Piper voice \"en_US-fake-low\": it speaks English (United States) (en_US), but the routine's language is \"fr\"; choose a voice of that language (`vinyasa voices` lists them) or change `language`"
    );
}

#[test]
fn the_identity_holds_the_model_contents_and_settings() {
    let fake = Fake::speaking("true");
    let a = open(&fake, &english()).unwrap();
    assert!(
        a.identity().starts_with("piper/en_US-fake-low/model="),
        "{}",
        a.identity()
    );
    assert!(
        a.identity().contains("/piper-tts=1.8.0/"),
        "{}",
        a.identity()
    );
    assert_eq!(a.label(), "piper en_US-fake-low");
    assert!(a.warnings().is_empty());
    let fast = open(
        &fake,
        &VoiceSettings {
            speed: 1.5,
            ..english()
        },
    )
    .unwrap();
    assert_ne!(fast.identity(), a.identity());
    let high = open(
        &fake,
        &VoiceSettings {
            pitch: 1.5,
            ..english()
        },
    )
    .unwrap();
    assert_eq!(high.identity(), a.identity());
    assert_eq!(
        high.warnings(),
        ["Piper voices have no pitch setting: pitch 1.5 is ignored for en_US-fake-low"]
    );
    // Another model under the same name is another voice.
    std::fs::write(
        fake.dir
            .path()
            .join("site/fake_voice/data/en_US-fake-low.onnx"),
        b"retrained",
    )
    .unwrap();
    assert_ne!(open(&fake, &english()).unwrap().identity(), a.identity());
}

fn batch(voice: &PiperVoice, texts: &[&str]) -> Vec<Vec<Result<Clip, String>>> {
    let got = Mutex::new(vec![Vec::new(); texts.len()]);
    voice.speak_batch(texts, &Cancel::new(), &|i, r| {
        got.lock().unwrap()[i].push(r.map_err(|e| e.to_string()));
    });
    got.into_inner().unwrap()
}

#[test]
fn one_process_speaks_a_batch_and_a_text_keeps_its_clip() {
    // The driver counts the processes started in a file.
    let fake = Fake::speaking("true");
    let count = fake.dir.path().join("starts");
    let fake = Fake::new(
        PROBE_OK,
        &format!(
            "echo x >> {}; printf 'ready 16000\\n'; while read -r line; do \
             printf 'ok 8\\n\\000\\100\\000\\100\\000\\100\\000\\100'; done",
            count.display()
        ),
    );
    let voice = open(&fake, &english()).unwrap();
    let got = batch(&voice, &["Inhale.", "Exhale.", "Inhale.", "", "Rest."]);
    for (i, reports) in got.iter().enumerate() {
        assert_eq!(reports.len(), 1, "{i}: {reports:?}");
        let clip = reports[0].as_ref().unwrap();
        assert_eq!(clip.rate, 16_000);
    }
    assert!(got[3][0].as_ref().unwrap().samples.is_empty());
    assert_eq!(voice.speak("Rest.").unwrap(), *got[4][0].as_ref().unwrap());
    assert_eq!(voice.length("Exhale.").unwrap().0, 16_000);
    let starts = std::fs::read_to_string(&count).unwrap();
    assert_eq!(starts.lines().count(), 1, "one process for everything");
}

#[test]
fn a_crash_mid_batch_fails_the_rest_and_keeps_what_was_whole() {
    let fake = Fake::speaking(
        "if [ $n -gt 2 ]; then echo 'Traceback (most recent call last):' >&2; \
         echo 'RuntimeError: boom' >&2; exit 1; fi",
    );
    let voice = open(&fake, &english()).unwrap();
    let got = batch(&voice, &["One.", "Two.", "Three.", "Four."]);
    assert!(got[0][0].is_ok() && got[1][0].is_ok(), "{got:?}");
    for reports in &got[2..] {
        let err = reports[0].as_ref().unwrap_err();
        assert!(
            err.contains(
                "the Piper program stopped (it exited, exit status: 1: RuntimeError: boom)"
            ),
            "{err}"
        );
    }
    // The clips it finished are kept; the next batch starts a new process.
    assert_eq!(voice.speak("One.").unwrap(), *got[0][0].as_ref().unwrap());
    assert!(voice.speak("Three.").is_ok());
}

#[test]
fn a_hang_is_stopped_after_the_timeout() {
    let fake = Fake::speaking("if [ $n -gt 1 ]; then sleep 30; fi");
    let mut setup = fake.setup();
    setup.clip_timeout = Duration::from_millis(500);
    let voice = PiperVoice::new(&setup, &english(), &[]).unwrap();
    let started = Instant::now();
    let got = batch(&voice, &["One.", "Two."]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(got[0][0].is_ok());
    let err = got[1][0].as_ref().unwrap_err();
    assert!(
        err.contains(
            "the Piper program gave no answer in 0.5 s and was stopped (set VINYASA_PIPER_TIMEOUT"
        ),
        "{err}"
    );
}

#[test]
fn a_model_that_does_not_load_is_called_damaged() {
    let fake = Fake::new(
        PROBE_OK,
        "echo 'vinyasa: cannot load the model: InvalidProtobuf: Protobuf parsing failed.' >&2; exit 4",
    );
    let voice = open(&fake, &english()).unwrap();
    let err = voice.speak("Rest.").unwrap_err().to_string();
    assert!(
        err.starts_with("piper could not speak \"Rest.\": the model "),
        "{err}"
    );
    assert!(err.contains("could not be loaded (it exited, exit status: 4: vinyasa: cannot load the model: InvalidProtobuf"), "{err}");
    assert!(
        err.ends_with("the file is damaged or not a Piper voice: install or download it again"),
        "{err}"
    );
}

#[test]
fn phones_become_piper_phonemes() {
    assert_eq!(
        ipa_phonemes("ujjayi", "uw0 jh ay1 iy0").unwrap(),
        "[[uːdʒˈaɪiː]]"
    );
    assert_eq!(ipa_phonemes("om", "OW1 M").unwrap(), "[[ˈoʊm]]");
    assert!(
        ipa_phonemes("om", "ow1 q")
            .unwrap_err()
            .to_string()
            .contains("\"q\"")
    );
}

/// The Python with Piper for the tests that speak: `VINYASA_TEST_PIPER_PYTHON`,
/// else the installed environment; in CI a missing one fails the test.
pub(crate) fn real_setup() -> Option<PiperSetup> {
    let setup = match std::env::var_os("VINYASA_TEST_PIPER_PYTHON") {
        Some(python) => PiperSetup {
            python: PathBuf::from(python),
            voice_dirs: Vec::new(),
            start_timeout: Duration::from_secs(120),
            clip_timeout: Duration::from_secs(60),
        },
        None => match PiperSetup::from_env() {
            Ok(setup) => setup,
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!(
                    "CI must test the Piper engine, but it is not installed: {e}; .ci/run sets VINYASA_TEST_PIPER_PYTHON"
                )
            }
            Err(e) => {
                eprintln!("Piper is not installed, its real-speech tests are skipped: {e}");
                return None;
            }
        },
    };
    Some(setup)
}

#[test]
fn speaks_with_a_real_piper_voice() {
    let Some(setup) = real_setup() else { return };
    let voice = PiperVoice::new(&setup, &english(), &[]).unwrap();
    let texts = ["Inhale, and reach up.", "Release.", "Switch sides. Left."];
    let got = batch(&voice, &texts);
    for (text, reports) in texts.iter().zip(&got) {
        let clip = reports[0].as_ref().unwrap();
        assert_eq!(clip.rate, voice.model().sample_rate);
        assert!(
            clip.samples.len() > clip.rate as usize / 4,
            "{text}: {} samples",
            clip.samples.len()
        );
        let n = clip.samples.len();
        assert!(
            clip.samples[0].abs() < 1e-3 && clip.samples[n - 1].abs() < 1e-3,
            "{text}: edges not faded"
        );
        // Random inside, the same clip every time it is asked here.
        assert_eq!(voice.speak(text).unwrap(), *clip);
    }
    // A respelling in Piper's raw phonemes changes the words.
    let custom = [Pronunciation {
        word: "ujjayi".into(),
        respell: None,
        phones: Some("uw0 jh ay1 iy0".into()),
    }];
    let with = PiperVoice::new(&setup, &english(), &custom).unwrap();
    assert_ne!(with.identity(), voice.identity());
    assert!(!with.speak("Ujjayi breath.").unwrap().samples.is_empty());
}

#[test]
fn a_damaged_real_model_is_reported_as_damaged() {
    let Some(setup) = real_setup() else { return };
    let good = PiperVoice::new(&setup, &english(), &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("en_US-broken-medium.onnx");
    let bytes = std::fs::read(&good.model().onnx).unwrap();
    std::fs::write(&onnx, &bytes[..bytes.len() / 3]).unwrap();
    std::fs::copy(
        &good.model().config,
        dir.path().join("en_US-broken-medium.onnx.json"),
    )
    .unwrap();
    let settings = VoiceSettings {
        name: Some(onnx.display().to_string()),
        ..english()
    };
    let broken = PiperVoice::new(&setup, &settings, &[]).unwrap();
    let err = broken.speak("Rest.").unwrap_err().to_string();
    assert!(err.contains("could not be loaded"), "{err}");
    assert!(err.contains("damaged"), "{err}");
}

#[test]
fn a_virtual_environment_is_read_from_its_folders() {
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("piper");
    let site = venv.join("lib/python3.11/site-packages");
    std::fs::create_dir_all(site.join("piper_tts-1.8.0.dist-info")).unwrap();
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    let python = venv.join("bin/python");
    assert!(read_venv(&python).is_none(), "no pyvenv.cfg: not a venv");
    std::fs::write(venv.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
    let probe = read_venv(&python).unwrap();
    assert_eq!(
        (probe.version.as_str(), probe.purelib),
        ("1.8.0", site.clone())
    );
    // Two versions side by side: ask the Python instead.
    std::fs::create_dir_all(site.join("piper_tts-1.9.0.dist-info")).unwrap();
    assert!(read_venv(&python).is_none());
}
