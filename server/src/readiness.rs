//! Whether this process takes players now: `starting` until its world
//! ticks (an auth node: until it is bound), `ready` while it does,
//! `draining` while it moves its players away (and, read from the
//! shutdown, once it is stopping). The tick loop writes it (one atomic);
//! `/readyz` reads it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// A process's readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// Bound, not yet serving.
    Starting,
    /// Serving: takes players (or logins).
    Ready,
    /// Leaving: takes no one new.
    Draining,
}

impl Ready {
    /// The name `/readyz` answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Ready::Starting => "starting",
            Ready::Ready => "ready",
            Ready::Draining => "draining",
        }
    }
}

/// The shared readiness (cheap to clone; lock-free; a resource of the tick loop).
#[derive(Debug, Clone, Default, bevy_ecs::resource::Resource)]
pub struct Readiness(Arc<AtomicU8>);

impl Readiness {
    /// Where it stands.
    pub fn get(&self) -> Ready {
        match self.0.load(Ordering::Relaxed) {
            0 => Ready::Starting,
            1 => Ready::Ready,
            _ => Ready::Draining,
        }
    }

    /// Moves it (a drain that a rollback ends goes back to `ready`; a
    /// shutdown is final, and the probe reads that from the shutdown itself).
    pub fn set(&self, ready: Ready) {
        let value = match ready {
            Ready::Starting => 0,
            Ready::Ready => 1,
            Ready::Draining => 2,
        };
        self.0.store(value, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_ready_draining_and_back() {
        let r = Readiness::default();
        assert_eq!(r.get(), Ready::Starting);
        r.set(Ready::Ready);
        assert_eq!(r.clone().get(), Ready::Ready, "clones share it");
        r.set(Ready::Draining);
        assert_eq!(r.get(), Ready::Draining);
        r.set(Ready::Ready);
        assert_eq!(r.get(), Ready::Ready, "a rollback ends a drain");
    }
}
