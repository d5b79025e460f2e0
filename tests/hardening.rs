//! Hostile input: limits, time that grows with the input, and `check`
//! finding what `export` would refuse.

use std::time::{Duration, Instant};

use vinyasa::routine;

/// A routine of `steps` steps, each with an unknown key, so every step
/// makes a diagnostic with a position.
fn steps_with_errors(steps: usize) -> String {
    let mut text = String::from("title = \"Many\"\n");
    for i in 0..steps {
        text.push_str(&format!(
            "[[step]]\nname = \"Step {i}\"\nsay = \"Breathe in {i}.\"\nbogus = {i}\n"
        ));
    }
    text
}

#[test]
fn checking_is_linear_in_steps() {
    // Finding a position used to scan the file from the top: 8,000 steps
    // took 2 s and 10,000 failing ones over 10 s. Linear, this takes well
    // under a second; the bound only catches the quadratic.
    let text = steps_with_errors(10_000);
    let started = Instant::now();
    let report = routine::parse("many.toml", ".".as_ref(), &text).unwrap_err();
    let shown = report.to_string();
    let took = started.elapsed();
    assert_eq!(report.errors().count(), 10_000);
    assert!(
        shown.contains("many.toml:40001:1: unknown key `bogus`"),
        "{}",
        &shown[shown.len() - 300..]
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// The errors of routine `text`, each as `line:col: message`.
fn errors(text: &str) -> Vec<String> {
    let report = routine::parse("r.toml", ".".as_ref(), text).unwrap_err();
    report
        .errors()
        .map(|d| {
            let (line, col) = report.line_col(d.span.start);
            format!("{line}:{col}: {}", d.message)
        })
        .collect()
}

fn say(words: &str) -> String {
    format!("title = \"T\"\n[[step]]\nname = \"A\"\nsay = \"{words}\"\n")
}

#[test]
fn a_huge_word_is_refused_at_its_place() {
    let word = "\u{1F64F}".repeat(5_000);
    assert_eq!(
        errors(&say(&format!("Bow {word}"))),
        ["4:12: a word in `say` is 5000 characters long; the most a word may have is 100"]
    );
}

#[test]
fn a_huge_text_is_refused() {
    let text = "Breathe in. ".repeat(100_000);
    assert_eq!(
        errors(&say(&text)),
        ["4:7: `say` is 1200000 characters long; the most one text may have is 10000"]
    );
}

#[test]
fn control_characters_are_refused_in_spoken_text() {
    assert_eq!(
        errors(&say("Breathe \\u0001in.")),
        ["4:7: `say` holds the control character U+0001"]
    );
}

#[test]
fn too_many_steps_or_phrases_are_refused() {
    let mut text = String::from("title = \"T\"\n");
    for i in 0..=routine::MAX_STEPS {
        text.push_str(&format!("[[step]]\nname = \"S{i}\"\nhold = \"1s\"\n"));
    }
    assert_eq!(
        errors(&text),
        ["30002:1: the routine has 10001 steps; the most a routine may have is 10000"]
    );
    let prompts = vec!["\"Breathe.\""; 1_001].join(", ");
    let text =
        format!("title = \"T\"\n[[step]]\nname = \"A\"\nhold = \"1h\"\nprompts = [{prompts}]\n");
    assert_eq!(
        errors(&text),
        ["5:12012: `prompts` lists 1001 phrases; the most one list may have is 1000"]
    );
}

/// The one error `routine::load` gives for `path`.
fn load_error(path: &std::path::Path) -> String {
    let report = routine::load(path).unwrap_err();
    let messages: Vec<String> = report.errors().map(|d| d.message.clone()).collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    messages[0].clone()
}

#[test]
fn only_a_regular_file_of_a_sane_size_is_read() {
    let started = Instant::now();
    assert_eq!(
        load_error("/dev/zero".as_ref()),
        "cannot read the file: it is not a regular file (a device, pipe or socket)"
    );
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.toml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        // Opening a FIFO with no writer would block forever.
        assert!(load_error(&fifo).contains("not a regular file"));
    }
    assert_eq!(
        load_error(dir.path()),
        "cannot read the file: it is a directory"
    );
    let big = dir.path().join("big.toml");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    assert_eq!(
        load_error(&big),
        "the file is 2147483648 bytes; the most a routine file may have is 4194304"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A routine of many long phrases: minutes of speech to plan without a
/// cache.
fn many_phrases() -> String {
    let mut text = String::from("title = \"Long\"\n");
    for i in 0..400 {
        text.push_str(&format!(
            "[[step]]\nname = \"Step {i}\"\nsay = \"Phrase {i}: breathe in slowly through the nose, \
             and let the shoulders soften as you breathe out.\"\n"
        ));
    }
    text
}

/// How a run of `vinyasa` ended after a signal.
struct Stopped {
    code: Option<i32>,
    /// From the signal to the exit.
    took: Duration,
    /// The run's directory: the routine `r.toml`, its cache `cache/`, and
    /// whatever it wrote.
    dir: tempfile::TempDir,
}

/// Runs `vinyasa ARGS r.toml` on `routine` in a fresh directory (its own
/// cache), sends `signal` once it has started, and says how it ended.
fn stop_with(routine: &str, signal: &str, args: &[&str]) -> Stopped {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.toml"), routine).unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vinyasa"))
        .args(args)
        .arg("r.toml")
        .current_dir(dir.path())
        .env("VINYASA_CACHE_DIR", dir.path().join("cache"))
        .env("HOME", dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Not a timing assertion: long enough for the handler to be installed
    // and planning under way, far shorter than the planning.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "{args:?}: the child ended early"
    );
    let sent = Instant::now();
    let killed = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let took = sent.elapsed();
            return Stopped {
                code: status.code(),
                took,
                dir,
            };
        }
        if sent.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            let took = sent.elapsed();
            return Stopped {
                code: None,
                took,
                dir,
            };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn ctrl_c_and_sigterm_stop_planning_at_once() {
    let routine = many_phrases();
    for (signal, args, want) in [
        ("-INT", &["plan", "--no-cache"][..], 130),
        ("-TERM", &["plan", "--no-cache"][..], 143),
        ("-INT", &["plan"][..], 130),
        ("-TERM", &["export", "-o", "out.wav"][..], 143),
        ("-INT", &["check"][..], 130),
        // Play plans before it opens the sound device: no device needed.
        ("-INT", &["play", "--plain", "--no-cache"][..], 130),
        ("-TERM", &["play", "--plain"][..], 143),
    ] {
        let stopped = stop_with(&routine, signal, args);
        assert_eq!(stopped.code, Some(want), "{signal} {args:?}");
        // A phrase takes well under a second to speak; the bound is loose.
        let took = stopped.took;
        assert!(took < Duration::from_secs(5), "{signal} {args:?}: {took:?}");
    }
}

#[test]
fn ctrl_c_does_not_wait_for_a_long_phrase_to_be_spoken() {
    // One phrase that takes flite seconds (every number is read out in
    // words): a stop must not wait for it to end.
    let routine = format!(
        "title = \"Long\"\n[[step]]\nname = \"A\"\nsay = \"{}.\"\n",
        "999999999 ".repeat(500).trim_end()
    );
    for (signal, args, want) in [
        ("-INT", &["export", "-o", "out.wav"][..], 130),
        ("-TERM", &["export", "--no-cache", "-o", "out.wav"][..], 143),
        ("-INT", &["plan", "--no-cache"][..], 130),
        ("-INT", &["check"][..], 130),
    ] {
        let stopped = stop_with(&routine, signal, args);
        assert_eq!(stopped.code, Some(want), "{signal} {args:?}");
        // Generous: the phrase alone takes several seconds.
        let took = stopped.took;
        assert!(took < Duration::from_secs(1), "{signal} {args:?}: {took:?}");
        // No output, no temporary file, no clip in the cache, whole or partial.
        assert_eq!(
            files_under(stopped.dir.path()),
            ["r.toml"],
            "{signal} {args:?}"
        );
    }
}

/// A 16-bit PCM WAV file's bytes with these header fields and samples.
fn wav(channels: u16, rate: u32, samples: &[i16]) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    b.extend_from_slice(&(channels * 2).to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&data);
    b
}

#[test]
fn check_refuses_sound_files_export_would_refuse_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let tone: Vec<i16> = (0..800).map(|i| ((i % 40) * 500 - 10_000) as i16).collect();
    let cases: [(&str, Vec<u8>, &str); 8] = [
        ("empty", Vec::new(), ""),
        ("text", b"just some text\n".to_vec(), ""),
        ("garbage", vec![0xA5; 300], ""),
        ("riff", b"RIFF\x04\x00\x00\x00WAVE".to_vec(), ""),
        ("silent", wav(1, 8_000, &[0; 800]), "silent"),
        ("no-samples", wav(1, 8_000, &[]), "cannot be used"),
        ("zero-hz", wav(1, 0, &tone), "cannot be used"),
        ("zero-channels", wav(0, 8_000, &tone), "cannot be used"),
    ];
    for (name, bytes, problem) in cases {
        std::fs::write(dir.path().join(format!("{name}.wav")), bytes).unwrap();
        let routine = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &routine,
            format!("title = \"T\"\n[sounds]\nbell = \"{name}.wav\"\n[[step]]\nname = \"A\"\nsay = \"Hi.\"\n"),
        )
        .unwrap();
        let report = vinyasa::session::check(&routine).unwrap_err();
        let errors: Vec<_> = report.errors().collect();
        assert_eq!(errors.len(), 1, "{name}: {report}");
        assert_eq!(report.line_col(errors[0].span.start), (3, 8), "{name}");
        assert!(
            errors[0]
                .message
                .starts_with(&format!("sound file \"{name}.wav\" cannot be used: "))
                && errors[0].message.contains(problem),
            "{name}: {}",
            errors[0].message
        );
    }
    std::fs::write(dir.path().join("ok.wav"), wav(1, 8_000, &tone)).unwrap();
    let routine = dir.path().join("ok.toml");
    std::fs::write(
        &routine,
        "title = \"T\"\n[sounds]\nbell = \"ok.wav\"\n[[step]]\nname = \"A\"\nsay = \"Hi.\"\n",
    )
    .unwrap();
    assert!(vinyasa::session::check(&routine).is_ok());
}

#[test]
fn phones_flite_would_refuse_are_errors() {
    let with = |phones: &str| {
        errors(&format!(
            "title = \"T\"\n[pronounce]\nom = {{ phones = \"{phones}\" }}\n[[step]]\nname = \"A\"\nsay = \"Om.\"\n"
        ))
    };
    assert_eq!(with(""), ["3:17: `phones` is empty"]);
    for bad in ["aa1001", "y0"] {
        assert_eq!(
            with(bad),
            [format!(
                "3:17: `{bad}` is not an ARPAbet phone: only a vowel takes a stress digit, and only one"
            )]
        );
    }
    let ok = "title = \"T\"\n[pronounce]\nom = { phones = \"ow1 m\" }\n[[step]]\nname = \"A\"\nsay = \"Om.\"\n";
    assert!(routine::parse("r.toml", ".".as_ref(), ok).is_ok());
}

#[test]
fn check_counts_transitions_towards_the_four_hour_limit() {
    let text = "title = \"T\"\ntransition = \"4h\"\n[[step]]\nname = \"A\"\nsay = \"Hi.\"\n[[step]]\nname = \"B\"\nsay = \"Bye.\"\n";
    let found = errors(text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("1:9: the routine lasts at least 4h"),
        "{found:?}"
    );
}

#[test]
fn terminal_escapes_in_titles_and_names_are_shown_escaped() {
    let text = "title = \"T\\u001b[2J\"\n[[step]]\nname = \"A\\u001b[31m\"\nsay = \"Hi.\"\n[[step]]\nname = \"B\"\nhold = \"zz\"\n";
    let report = routine::parse("r.toml", ".".as_ref(), text).unwrap_err();
    assert!(!report.to_string().contains('\u{1b}'), "{report}");
    let text = text.replace("hold = \"zz\"", "hold = \"10s\"");
    let (routine, _) = routine::parse("r.toml", ".".as_ref(), &text).unwrap();
    let table = vinyasa::timeline::Table(&crate::util::plan(&routine, vinyasa::Level::Standard))
        .to_string();
    assert!(!table.contains('\u{1b}'), "{table}");
    assert!(table.starts_with("T\\u{1b}[2J\n"), "{table}");
    assert!(table.contains("1 A\\u{1b}[31m"), "{table}");
}

#[test]
fn check_refuses_a_voice_the_built_in_engine_lacks() {
    let text = "title = \"T\"\n[voice]\nname = \"kal99\"\n[[step]]\nname = \"A\"\nsay = \"Hi.\"\n";
    assert_eq!(
        errors(text),
        ["3:8: the flite engine has no voice \"kal99\""]
    );
    let text = text.replace("kal99", "kal");
    assert!(routine::parse("r.toml", ".".as_ref(), &text).is_ok());
}

/// Whether espeak-ng is installed; outside CI a test that needs it is
/// skipped with a note, in CI (`CI=true`, which installs it) it fails.
fn espeak_installed() -> bool {
    let found = std::process::Command::new("espeak-ng")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must test the espeak-ng engine: apt-get install espeak-ng"
        );
        eprintln!("note: espeak-ng is not installed; its voice-name check was not tested");
    }
    found
}

/// `check`'s errors for routine `text` in a file, each as `line:col:
/// message (help)`.
fn check_errors(text: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.toml");
    std::fs::write(&path, text).unwrap();
    let report = match vinyasa::session::check(&path) {
        Ok(_) => return Vec::new(),
        Err(report) => report,
    };
    report
        .errors()
        .map(|d| {
            let (line, col) = report.line_col(d.span.start);
            format!(
                "{line}:{col}: {} ({})",
                d.message,
                d.help.as_deref().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn check_refuses_a_voice_or_variant_espeak_ng_lacks() {
    if !espeak_installed() {
        return;
    }
    let routine = |name: &str| {
        format!(
            "title = \"T\"\n[voice]\nengine = \"espeak-ng\"\nname = \"{name}\"\n\
             [[step]]\nname = \"A\"\nsay = \"Hi.\"\n"
        )
    };
    let errors = check_errors(&routine("en-uss"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = &errors[0];
    assert!(
        error.starts_with(
            "4:8: the espeak-ng engine has no voice \"en-uss\" (did you mean \"en-us\"? its voices are "
        ),
        "{error}"
    );
    // The names it has, whatever this espeak-ng holds.
    for name in ["en-us", "fr-fr", "de"] {
        assert!(error.contains(&format!(" {name},")), "{name}: {error}");
    }
    let errors = check_errors(&routine("en-us+zz"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(
            "4:8: the espeak-ng engine has no variant \"zz\" (in \"en-us+zz\") (its variants are "
        ),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains(" f3,"), "{}", errors[0]);
    // A path is no variant (espeak-ng would load that file as one).
    assert!(check_errors(&routine("en+../../../../tmp/x"))[0].starts_with("4:8: "));
    // Codes, voice names and files, in any case, and listed variants pass.
    for name in [
        "en-us",
        "EN-GB",
        "fr",
        "Afrikaans",
        "gmw/af",
        "en-us+f3",
        "en+Klatt",
    ] {
        assert_eq!(check_errors(&routine(name)), Vec::<String>::new(), "{name}");
    }
    // Export refuses the same names with the same reason.
    let settings = vinyasa::voice::VoiceSettings {
        engine: vinyasa::voice::Engine::ESPEAK,
        name: Some("en-us+zz".to_string()),
        ..Default::default()
    };
    let err = vinyasa::voice::EspeakVoice::new(&settings, &[])
        .err()
        .expect("an unknown variant was accepted")
        .to_string();
    assert!(
        err.starts_with(
            "espeak-ng voice \"en-us+zz\": espeak-ng has no variant \"zz\" (in \"en-us+zz\"); its variants are "
        ),
        "{err}"
    );
}

#[test]
fn nesting_too_deep_is_refused_where_it_goes_too_deep() {
    let step = "title = \"T\"\n[[step]]\nname = \"A\"\nsay = \"Hi.\"\n";
    let limit = vinyasa::routine::MAX_NESTING;
    let message = format!(
        "this goes {} levels deep; the most tables, lists and dotted keys may nest is {limit}",
        limit + 1
    );
    // Lists thousands deep: the bracket one level too deep (the step's
    // table is level 1, `x` 2, so the 63rd bracket is level 65).
    let lists = format!("{step}x = {}{}\n", "[".repeat(5000), "]".repeat(5000));
    assert_eq!(errors(&lists), [format!("5:{}: {message}", 4 + limit - 1)]);
    // Dotted keys thousands deep (the parser said 1:1): the dot before
    // the 65th segment.
    let dotted = format!("{step}{} = 1\n", vec!["a"; 5000].join("."));
    assert_eq!(errors(&dotted), [format!("5:{}: {message}", 2 * limit - 2)]);
    let header = format!("{step}[{}]\n", vec!["a"; 5000].join("."));
    assert_eq!(errors(&header), [format!("5:{}: {message}", 2 * limit + 1)]);
    let report = routine::parse("r.toml", ".".as_ref(), &lists).unwrap_err();
    let help = report.errors().next().unwrap().help.clone().unwrap();
    assert!(help.contains("remove the extra brackets"), "{help}");
}
