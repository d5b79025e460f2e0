//! Routines: the TOML format, its model and its checking.

use serde::Serialize;

/// How far ranges such as `15-30s` are taken when a routine is planned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// The low end of every range.
    Gentle,
    /// The middle of every range.
    #[default]
    Standard,
    /// The high end of every range.
    Deep,
}

/// A checked routine.
#[derive(Clone, Debug)]
pub struct Routine {}
