//! vinyasa turns a routine written as a TOML file (yoga poses, stretches,
//! breathing) into a spoken, timed, guided session.
//!
//! The data flows one way:
//!
//! ```text
//! routine text ─▶ routine::Routine ─▶ plan::plan ─▶ Timeline ─▶ render ─▶ output (WAV, captions, player)
//!                 (checked model)      (+ a Voice)   (pure data)   (samples)
//! ```
//!
//! * [`routine`] parses and checks a routine file, reporting every problem
//!   with `file:line:col`.
//! * [`plan`] lays every cue on one exact timeline, given a [`voice::Voice`]
//!   to measure speech with.
//! * [`timeline`] is the result: plain data, serializable, exact to the sample.
//! * [`voice`] holds the speech engines behind one trait.
//! * [`play`] plays a session live, rendering ahead as it goes.

pub mod plan;
pub mod play;
pub mod render;
pub mod routine;
pub mod timeline;
pub mod voice;

pub use plan::{PlanError, PlanOptions, plan};
pub use routine::{Level, Routine};
pub use timeline::{Cue, CueKind, Role, Timeline};
pub use voice::Voice;
