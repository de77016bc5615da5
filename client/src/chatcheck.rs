//! Numbered chat lines for checking the reliable channel: senders number
//! their lines `#RUN:N`; receivers check that each sender's lines arrive
//! exactly as 1, 2, 3, … with no gap and no reordering.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

/// Prefix of numbered lines.
const PREFIX: &str = "#";

/// Sends numbered lines at a rate and checks the ones received.
#[derive(Debug, Clone)]
pub struct ChatCheck {
    /// Tells apart runs of the same account (numbering restarts each run).
    run_id: u32,
    /// Lines sent so far.
    pub sent: u64,
    /// When (seconds into the run) the next line is due.
    next_at: f32,
    /// Last number seen per sender run.
    last: HashMap<String, u64>,
    /// Numbered lines received.
    pub received: u64,
    /// Lines that arrived out of order or after a gap.
    pub out_of_order: u64,
}

impl Default for ChatCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl ChatCheck {
    /// A checker with a run id unique to this process and moment.
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let run_id = nanos.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9));
        Self { run_id, sent: 0, next_at: 0.0, last: HashMap::new(), received: 0, out_of_order: 0 }
    }

    /// The next line to send if, `elapsed_s` into the run at `rate` lines
    /// per second, one is due. A sender that fell behind (a stalled thread)
    /// does not catch up in a burst: lines are at least `1 / rate` apart, so
    /// the server's chat limit never drops one and any gap a receiver sees
    /// is a delivery failure.
    pub fn due(&mut self, elapsed_s: f32, rate: f32) -> Option<String> {
        if rate <= 0.0 {
            return None;
        }
        let period = 1.0 / rate;
        if self.sent == 0 {
            self.next_at = period;
        }
        if elapsed_s < self.next_at {
            return None;
        }
        self.next_at = elapsed_s + period;
        self.sent += 1;
        Some(format!("{PREFIX}{}:{}", self.run_id, self.sent))
    }

    /// Checks a received line (lines that are not numbered are ignored).
    pub fn observe(&mut self, from: &str, text: &str) {
        let numbered = text.strip_prefix(PREFIX).and_then(|rest| rest.split_once(':'));
        let Some((run, n)) = numbered.and_then(|(run, n)| Some((run, n.parse::<u64>().ok()?))) else { return };
        self.received += 1;
        // The first line seen from a sender sets where it starts (lines
        // sent before we joined never reach us).
        if let Some(last) = self.last.insert(format!("{from}/{run}"), n)
            && n != last + 1
        {
            self.out_of_order += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_and_reordering_are_counted_per_sender() {
        let mut sender = ChatCheck::new();
        assert_eq!(sender.due(0.5, 1.0), None, "not due yet");
        let lines: Vec<String> = (1..=4).filter_map(|s| sender.due(s as f32, 1.0)).collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(sender.due(4.5, 1.0), None, "not due yet");
        // Ten seconds late: one line, not a burst of ten.
        assert!(sender.due(15.0, 1.0).is_some());
        assert_eq!(sender.due(15.1, 1.0), None);
        let mut receiver = ChatCheck::new();
        receiver.observe("a", &lines[0]);
        receiver.observe("a", &lines[1]);
        receiver.observe("b", &lines[0]);
        receiver.observe("a", &lines[3]);
        receiver.observe("a", "plain text");
        assert_eq!((receiver.received, receiver.out_of_order), (4, 1));
    }
}
