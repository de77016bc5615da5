//! Replay protection: a window of the last 256 sequences seen.
//!
//! [`Window::fresh`] only looks; [`Window::accept`] records, and callers
//! call it only after the packet decrypted, so forged packets cannot move
//! the window. Nothing here can overflow: the top sequence `u64::MAX` is
//! simply never fresh (no honest sender counts that far).

/// Sequences remembered.
pub const WINDOW: usize = 256;

/// Which recent sequences have been seen.
#[derive(Debug, Clone)]
pub struct Window {
    /// Newest sequence accepted, if any.
    newest: Option<u64>,
    /// Sequence stored at each slot (`u64::MAX`: empty).
    slots: Box<[u64; WINDOW]>,
}

impl Default for Window {
    fn default() -> Self {
        Self { newest: None, slots: Box::new([u64::MAX; WINDOW]) }
    }
}

impl Window {
    /// Whether `sequence` may be accepted: not seen, not older than the window.
    pub fn fresh(&self, sequence: u64) -> bool {
        if sequence == u64::MAX {
            return false;
        }
        if let Some(newest) = self.newest
            && newest.checked_sub(WINDOW as u64).is_some_and(|floor| sequence <= floor)
        {
            return false;
        }
        let stored = self.slots[(sequence % WINDOW as u64) as usize];
        stored == u64::MAX || stored < sequence
    }

    /// Records `sequence` as received. Call only after it decrypted.
    pub fn accept(&mut self, sequence: u64) {
        if sequence == u64::MAX {
            return;
        }
        self.newest = Some(self.newest.map_or(sequence, |n| n.max(sequence)));
        self.slots[(sequence % WINDOW as u64) as usize] = sequence;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn duplicates_and_old_sequences_are_stale() {
        let mut w = Window::default();
        assert!(w.fresh(0));
        w.accept(0);
        assert!(!w.fresh(0));
        w.accept(1000);
        assert!(!w.fresh(1000 - 256), "one window behind");
        assert!(w.fresh(1000 - 255));
        assert!(w.fresh(999));
        assert!(w.fresh(1001));
    }

    #[test]
    fn the_top_of_the_range_neither_overflows_nor_passes() {
        let mut w = Window::default();
        assert!(!w.fresh(u64::MAX));
        w.accept(u64::MAX);
        assert!(w.fresh(0), "refused sequence did not move the window");
        w.accept(u64::MAX - 1);
        assert!(!w.fresh(u64::MAX - 1));
        assert!(!w.fresh(5));
        assert!(w.fresh(u64::MAX - 2));
    }

    #[test]
    fn looking_does_not_move_the_window() {
        let w = Window::default();
        assert!(w.fresh(1 << 40));
        assert!(w.fresh(3), "only accept() advances");
    }

    proptest! {
        #[test]
        fn each_sequence_is_accepted_at_most_once(seqs in proptest::collection::vec(0u64..600, 0..400)) {
            let mut w = Window::default();
            let mut taken = std::collections::HashSet::new();
            for s in seqs {
                if w.fresh(s) {
                    prop_assert!(taken.insert(s), "sequence {} accepted twice", s);
                    w.accept(s);
                }
            }
        }
    }
}
