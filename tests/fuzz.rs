//! Keeps hostile input found: a seeded mutation fuzzer over the parser and
//! planner (seeded from routines/, tests/broken/ and tests/corpus/), the
//! corpus of inputs that once crashed or hung, and a soak of random valid
//! routines. All run in CI in a bounded form; `VINYASA_FUZZ_CASES` and
//! `VINYASA_FUZZ_SEED` run more or other cases.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vinyasa::routine;
use vinyasa::voice::TestVoice;
use vinyasa::{Level, PlanOptions};

use crate::util::{assert_well_formed, root};

/// xorshift64*: deterministic, so a failing case can be run again.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// Parses `bytes` and, if they are a routine, plans it at every level and
/// shows the report and the plan table: none of it may panic.
fn parse_and_plan(bytes: &[u8]) {
    let dir = root().join("tests/corpus");
    match routine::parse_bytes("fuzz.toml", &dir, bytes) {
        Ok((routine, report)) => {
            let _ = report.to_string();
            for level in [Level::Gentle, Level::Standard, Level::Deep] {
                let options = PlanOptions {
                    rate: 16_000,
                    level,
                };
                if let Ok(timeline) = vinyasa::plan(&routine, &TestVoice::default(), &options) {
                    assert_well_formed(&timeline);
                    let _ = vinyasa::timeline::Table(&timeline).to_string();
                }
            }
        }
        Err(report) => {
            assert!(report.has_errors());
            let _ = report.to_string();
        }
    }
}

/// Inserted by the mutator: the shapes that found the crashes above.
const SNIPPETS: &[&str] = &[
    "[[step]]\nname = \"X\"\n",
    "hold = \"4h\"\n",
    "hold = \"1ms\"\n",
    "say = \"",
    "\"",
    "\"\"\"",
    "[",
    "]",
    "{",
    "}",
    " = ",
    "\n",
    "\u{1F64F}\u{1F64F}\u{1F64F}\u{1F64F}",
    "e\u{301}\u{301}\u{301}",
    "\\u0001",
    "\\u001b[2J",
    "\\u0000",
    "\u{feff}",
    "[2s]",
    "[0s]",
    "repeat = 1000\n",
    "breaths = 1000\n",
    "rounds = \"1-1000\"\n",
    "transition = \"3h59min\"\n",
    "prompts = [\"a\", \"b\", \"c\"]\n",
    "sides = true\n",
    "flow = [{ inhale = \"Up.\" }, { exhale = \"Down.\", then = \"D.\" }]\nrounds = 3\n",
    "[pronounce]\nom = { say = \"ohm\", phones = \"ow1 m\" }\n",
    "[sounds]\nbell = \"corpus/none.wav\"\n",
    "[cues]\nhalfway = false\n",
    "99999999999999999999",
    "-1",
    "1e308",
    "nan",
    "\"10-5s\"",
    "\"5 min\"",
];

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(6) {
            0 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            1 | 2 => {
                let snippet = rng.pick(SNIPPETS).as_bytes();
                bytes.splice(at..at, snippet.iter().copied());
            }
            3 => {
                let end = (at + rng.below(64)).min(bytes.len());
                bytes.drain(at..end);
            }
            4 => {
                // Repeat a piece many times: long words, many steps.
                let end = (at + 1 + rng.below(40)).min(bytes.len());
                let piece = bytes[at..end].to_vec();
                let times = 1 + rng.below(300);
                let repeated: Vec<u8> = piece
                    .iter()
                    .copied()
                    .cycle()
                    .take(piece.len() * times)
                    .collect();
                bytes.splice(end..end, repeated);
            }
            _ => bytes.truncate(at),
        }
    }
    bytes
}

#[test]
fn fuzzed_routines_never_panic_or_hang() {
    let cases = env_or("VINYASA_FUZZ_CASES", 3_000);
    let mut rng = Rng(env_or("VINYASA_FUZZ_SEED", 0x005E_ED0F_70A5) | 1);
    let seeds: Vec<Vec<u8>> = ["routines", "tests/broken", "tests/corpus"]
        .iter()
        .flat_map(|dir| toml_files(&root().join(dir)))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let started = Instant::now();
    for case in 0..cases {
        let seed = &seeds[rng.below(seeds.len())];
        let input = mutate(seed, &mut rng);
        let one = Instant::now();
        parse_and_plan(&input);
        // Generous: a case takes milliseconds; a hang or a quadratic
        // blow-up takes far longer.
        assert!(
            one.elapsed() < Duration::from_secs(5),
            "case {case} took {:?}:\n{}",
            one.elapsed(),
            String::from_utf8_lossy(&input)
        );
    }
    eprintln!("fuzz: {cases} cases in {:?}", started.elapsed());
}

#[test]
fn the_corpus_of_past_crashes_is_refused_or_planned_quickly() {
    for path in toml_files(&root().join("tests/corpus")) {
        let started = Instant::now();
        let _ = vinyasa::session::check(&path);
        parse_and_plan(&std::fs::read(&path).unwrap());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{}: {:?}",
            path.display(),
            started.elapsed()
        );
    }
}

/// A random routine that must be valid: a title, breath, and up to
/// `max_steps` steps of every kind.
fn valid_routine(rng: &mut Rng, max_steps: usize) -> String {
    const WORDS: &[&str] = &[
        "Breathe",
        "in",
        "slowly",
        "and",
        "soften",
        "the",
        "shoulders",
        "5 min",
        "x8",
        "3-5",
        "e.g.",
        "Śavāsana",
        "ujjayi",
        "[1s]",
        "rest",
        "knees",
        "spine.",
        "Let",
        "go,",
    ];
    let words = |rng: &mut Rng| {
        let n = 1 + rng.below(12);
        let mut text: Vec<&str> = vec!["Now"];
        text.extend((0..n).map(|_| *rng.pick(WORDS)));
        text.join(" ")
    };
    let mut out = format!(
        "title = \"Soak {}\"\ntransition = \"{}s\"\n[breath]\ninhale = \"{}s\"\nexhale = \"{}s\"\n",
        rng.next() % 1000,
        rng.below(4),
        2 + rng.below(5),
        2 + rng.below(7)
    );
    if rng.below(3) == 0 {
        out.push_str(
            "[pronounce]\nujjayi = { say = \"oo-jah-yee\", phones = \"uw0 jh aa1 y iy0\" }\n",
        );
    }
    for i in 0..1 + rng.below(max_steps) {
        out.push_str(&format!(
            "[[step]]\nname = \"Step {i}\"\nsay = \"{}\"\n",
            words(rng)
        ));
        match rng.below(4) {
            0 => {}
            1 => {
                out.push_str(&format!("hold = \"{}-{}s\"\n", 5 + rng.below(20), 30 + rng.below(30)));
                if rng.below(2) == 0 {
                    out.push_str(&format!("prompts = [\"{}\", \"{}\"]\n", words(rng), words(rng)));
                }
                if rng.below(3) == 0 {
                    out.push_str("repeat = 2\nrest = \"5s\"\n");
                }
                if rng.below(3) == 0 {
                    out.push_str("sides = true\n");
                }
            }
            2 => out.push_str(&format!("breaths = {}\n", 2 + rng.below(8))),
            _ => out.push_str(&format!(
                "flow = [{{ inhale = \"{}\" }}, {{ exhale = \"{}\", then = \"Out.\" }}]\nrounds = {}\n",
                words(rng),
                words(rng),
                1 + rng.below(5)
            )),
        }
        if rng.below(4) == 0 {
            out.push_str(&format!("pause = \"{}s\"\n", 1 + rng.below(3)));
        }
    }
    out
}

#[test]
fn soak_a_thousand_random_valid_routines() {
    let cases = env_or("VINYASA_FUZZ_CASES", 1_000);
    let mut rng = Rng(env_or("VINYASA_FUZZ_SEED", 0x50A4) | 1);
    let started = Instant::now();
    let mut cues = 0;
    for _ in 0..cases {
        let text = valid_routine(&mut rng, 20);
        let (routine, _) = routine::parse("soak.toml", ".".as_ref(), &text)
            .unwrap_or_else(|report| panic!("{report}\n{text}"));
        let options = PlanOptions {
            rate: 16_000,
            level: Level::Standard,
        };
        let timeline = vinyasa::plan(&routine, &TestVoice::default(), &options)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_well_formed(&timeline);
        cues += timeline.cues.len();
    }
    eprintln!(
        "soak: {cases} routines, {cues} cues, in {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(120));
}

#[test]
fn planning_time_grows_linearly_with_steps() {
    // The same routine at 250 and 2,000 steps: eight times the steps may
    // take up to 32 times as long (loose, against noise); quadratic work
    // would take 64.
    let steps = |n: usize| {
        let mut text = String::from("title = \"T\"\ntransition = \"0s\"\n");
        for i in 0..n {
            text.push_str(&format!(
                "[[step]]\nname = \"S{i}\"\nsay = \"Breathe {i}.\"\nhold = \"1s\"\n"
            ));
        }
        text
    };
    let time = |text: &str| {
        let started = Instant::now();
        for _ in 0..3 {
            let (routine, _) = routine::parse("t.toml", ".".as_ref(), text)
                .unwrap_or_else(|r| panic!("{:?}", r.diagnostics));
            vinyasa::plan(&routine, &TestVoice::default(), &PlanOptions::default())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        started.elapsed()
    };
    let (small, large) = (steps(250), steps(2_000));
    time(&small);
    let (a, b) = (time(&small), time(&large));
    assert!(b < a * 32 + Duration::from_millis(200), "{a:?} then {b:?}");
}
