//! What the tick loop publishes once a second for the admin API: per-player
//! link figures behind a lock that the tick only ever `try_lock`s (it skips
//! a second rather than wait), and the commands operators send back.

use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::oneshot;

/// One connected player, as `GET /admin/players` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlayerRow {
    /// Account id.
    pub account_id: u64,
    /// Account name.
    pub username: String,
    /// UDP address.
    pub address: Option<String>,
    /// Round-trip time in milliseconds.
    pub rtt_ms: f64,
    /// Fraction of packets lost.
    pub packet_loss: f64,
    /// Bytes per second received from the player.
    pub bytes_in_per_s: f64,
    /// Bytes per second sent to the player.
    pub bytes_out_per_s: f64,
    /// Unix seconds when the player connected.
    pub connected_since: i64,
    /// Inputs and chat lines the server refused (invalid, too fast).
    pub flags: u32,
}

/// The latest per-player figures.
#[derive(Debug, Default)]
pub struct LiveStats {
    players: Mutex<Vec<PlayerRow>>,
}

impl LiveStats {
    /// Replaces the rows if the lock is free right now; never waits.
    pub fn try_publish(&self, rows: &mut Vec<PlayerRow>) -> bool {
        match self.players.try_lock() {
            Ok(mut players) => {
                std::mem::swap(&mut *players, rows);
                true
            }
            Err(_) => false,
        }
    }

    /// A copy of the latest rows.
    pub fn players(&self) -> Vec<PlayerRow> {
        self.players.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

/// Requests from the admin API to the tick loop.
#[derive(Debug)]
pub enum AdminCommand {
    /// Start recording a replay to this file (ending any recording).
    RecordStart {
        /// Where.
        path: std::path::PathBuf,
        /// Whether the writer thread started.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Stop recording.
    RecordStop {
        /// The file that was being recorded, if any.
        reply: oneshot::Sender<Option<std::path::PathBuf>>,
    },
}
