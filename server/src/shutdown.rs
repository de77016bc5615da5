//! A shutdown signal both the tick loop (polls it) and async tasks (await it) can use.

use std::sync::Arc;

use tokio::sync::watch;

/// Cloneable "please stop" flag.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self { tx: Arc::new(watch::channel(false).0) }
    }
}

impl Shutdown {
    /// A fresh, untriggered signal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks everything holding this signal to stop.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Whether stop was asked.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once stop is asked.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_is_seen_by_clones_and_waiters() {
        let shutdown = Shutdown::new();
        let clone = shutdown.clone();
        assert!(!clone.is_triggered());
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let waiter = tokio::spawn({
                let s = clone.clone();
                async move { s.wait().await }
            });
            shutdown.trigger();
            waiter.await.unwrap();
        });
        assert!(clone.is_triggered());
    }
}
