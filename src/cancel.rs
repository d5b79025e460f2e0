//! One way to stop work early: a [`Cancel`] flag shared by whoever may ask
//! (a Ctrl-C handler, the player quitting) and whatever must stop (the
//! renderer between blocks, the file writer, the render-ahead thread).
//!
//! Cloning shares the flag; once set it stays set.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A shared stop flag. `Cancel::default()` is a fresh, unset flag.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A fresh, unset flag.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks everything holding a clone of this flag to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Cancel::cancel) was called on any clone.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag() {
        let a = Cancel::new();
        let b = a.clone();
        assert!(!b.is_cancelled());
        a.cancel();
        assert!(b.is_cancelled());
        assert!(!Cancel::new().is_cancelled());
    }
}
