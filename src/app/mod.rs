//! The binary's own parts, which the library leaves to its users: the
//! command line, progress bars, reports, and messages that name flags.

pub mod cli;
pub mod messages;
pub mod progress;
pub mod report;
