//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use vinyasa::routine::{self, Routine};
use vinyasa::timeline::Lane;
use vinyasa::voice::TestVoice;
use vinyasa::{Level, PlanOptions, Timeline};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A config directory that does not exist: the binary under test must not
/// take the user's own voice (`~/.config/vinyasa/config.toml`).
pub const NO_CONFIG: &str = "/nonexistent/vinyasa-test-config";

/// The seed routines, by file name.
pub const SEEDS: [&str; 3] = ["childs-pose.toml", "seven-stretches.toml", "mid-back.toml"];

/// Loads a routine that must be free of errors.
pub fn load(path: &Path) -> Routine {
    match routine::load(path) {
        Ok((r, _)) => r,
        Err(report) => panic!("{report}"),
    }
}

/// Loads a seed routine from routines/.
pub fn seed(name: &str) -> Routine {
    load(&root().join("routines").join(name))
}

/// Plans with the deterministic test voice at 44.1 kHz.
pub fn plan(routine: &Routine, level: Level) -> Timeline {
    let options = PlanOptions {
        rate: 44_100,
        level,
    };
    vinyasa::plan(routine, &TestVoice::default(), &options).unwrap()
}

/// The invariants every timeline keeps: cues inside the session, no two
/// cues of one lane overlapping, steps back to back from 0 to the end.
pub fn assert_well_formed(t: &Timeline) {
    for c in &t.cues {
        assert!(c.len > 0, "empty cue {c:?}");
        assert!(c.end() <= t.total, "cue past the end: {c:?}");
    }
    for lane in [Lane::Voice, Lane::Sound] {
        let mut cues: Vec<_> = t.cues.iter().filter(|c| c.lane() == lane).collect();
        cues.sort_by_key(|c| c.start);
        for w in cues.windows(2) {
            let (a, b) = (w[0], w[1]);
            assert!(a.end() <= b.start, "{lane:?} cues overlap:\n{a:?}\n{b:?}");
        }
    }
    assert_eq!(t.steps.first().map(|s| s.start), Some(0));
    assert_eq!(t.steps.last().map(|s| s.end), Some(t.total));
    for w in t.steps.windows(2) {
        assert_eq!(w[0].end, w[1].start, "steps not back to back");
    }
}
