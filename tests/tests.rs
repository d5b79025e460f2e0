//! All integration tests, built as one binary.

mod util;

mod check;
mod cli;
mod export;
mod formats;
mod golden;
mod plan;
mod play;
mod readme;
