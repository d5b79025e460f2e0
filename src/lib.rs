//! vinyasa turns a routine written as a TOML file (yoga poses, stretches,
//! breathing) into a spoken, timed, guided session.
//!
//! This crate is the engine: a routine in; a timeline, samples or a file
//! out. [`session::Session`] is its front door and does everything the
//! `vinyasa` binary does (which only adds arguments, progress bars and exit
//! codes). `ARCHITECTURE.md` in the repository is the map.
//!
//! The data flows one way:
//!
//! ```text
//! routine text ─▶ routine::Routine ─▶ plan::plan ─▶ Timeline ─▶ render ─▶ output (file) / play (sound card)
//!                 (checked model)      (+ a Voice)   (pure data)   (samples)
//! ```
//!
//! * [`session`] ties the stages together: load → options → plan →
//!   render / export / play.
//! * [`routine`] parses and checks a routine file, reporting every problem
//!   with `file:line:col`.
//! * [`plan`](mod@plan) lays every cue on one exact timeline, given a [`voice::Voice`]
//!   to measure speech with.
//! * [`timeline`] is the result: plain data, serializable, exact to the sample.
//! * [`voice`] holds the speech engines behind one trait, listed in
//!   [`voice::ENGINES`].
//! * [`cache`] owns the on-disk cache directory: where it is, its files,
//!   pruning and clearing.
//! * [`sound`] holds the bells, breath tones and ticks, and the effects and
//!   loudness control the renderer uses.
//! * [`render`] turns a timeline into samples.
//! * [`output`] writes a session's files: its audio through one encoder per
//!   format (WAV with a marker per step is the first), and captions.
//! * [`atomic`] is how every file is written: beside its target, renamed
//!   into place when complete.
//! * [`export`] exports a session: output paths, audio + captions, progress, summary.
//! * `play` (feature `play`) plays a session live, rendering ahead as it
//!   goes; `play::terminal` (feature `terminal`) is the binary's view.
//! * [`cancel`] is the one way to stop any of them early.
//!
//! # Features
//!
//! `default = ["cli"]`. With `default-features = false` the library pulls
//! in no argument parser, terminal, progress bar, signal handler or sound
//! device. `play` adds live playback, `terminal` its full-screen view,
//! `cli` the binary, `system-voice` the operating system's voice for `play`.
//!
//! # Pinning a routine's timings in a test
//!
//! ```
//! use std::path::Path;
//! use vinyasa::{Level, PlanOptions, Role, routine, voice::TestVoice};
//!
//! let text = r#"
//! title = "Two breaths"
//! [breath]
//! inhale = "4s"
//! exhale = "6s"
//! [cues]
//! bells = "off"
//! [[step]]
//! name = "Breathe"
//! breaths = 2
//! "#;
//! let (routine, _warnings) = routine::parse("two.toml", Path::new("."), text).unwrap();
//! // The test voice's phrase lengths depend only on the text; use
//! // `vinyasa::voice::open` for the real voice.
//! let options = PlanOptions { rate: 8_000, level: Level::Standard };
//! let timeline = vinyasa::plan(&routine, &TestVoice::default(), &options).unwrap();
//!
//! // The hold's clock starts once "Breathe." has been spoken (8 characters × 66 ms)
//! // and a 600 ms gap has passed; two breaths of 4 s + 6 s follow.
//! let release = timeline.cues.iter().find(|c| c.role == Role::Release).unwrap();
//! assert_eq!(release.start, 4_224 + 4_800 + 160_000); // samples at 8 kHz
//! assert_eq!(timeline.seconds(release.start), 21.128);
//! ```

pub mod atomic;
pub mod cache;
pub mod cancel;
mod cores;
pub mod export;
pub mod output;
pub mod plan;
#[cfg(feature = "play")]
pub mod play;
pub mod render;
pub mod routine;
pub mod session;
pub mod sound;
pub mod timeline;
pub mod voice;

pub use cancel::Cancel;
pub use plan::{PlanError, PlanOptions, plan};
pub use routine::{Level, Routine};
pub use timeline::{Cue, CueKind, Role, Timeline};
pub use voice::Voice;
