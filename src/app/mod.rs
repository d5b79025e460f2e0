//! The binary's own parts, which the library leaves to its users: how
//! progress is drawn on the terminal.

pub mod progress;
