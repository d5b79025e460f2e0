//! All integration tests, built as one binary.

mod util;

mod check;
mod cli;
mod export;
mod formats;
mod fuzz;
mod golden;
mod hardening;
mod length;
// Its fake Pythons are shell scripts.
#[cfg(unix)]
mod piper;
mod plan;
mod play;
mod readme;
mod session;
