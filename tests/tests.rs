//! All integration tests, built as one binary.

mod util;

mod check;
mod cli;
mod export;
mod fuzz;
mod golden;
mod hardening;
mod plan;
mod play;
mod readme;
mod session;
