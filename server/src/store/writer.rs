//! The store thread's loop: drain, commit in one transaction, then answer.
//!
//! Every command runs in its own savepoint, so one that fails (a constraint,
//! a bad row) is rolled back alone and the rest of the batch commits. Callers
//! waiting for an answer always get one. Fire-and-forget writes (access-log
//! rows, player states) that fail — alone, or because the whole transaction
//! failed (disk full, I/O error) — are kept and retried after
//! [`RETRY_AFTER`], newest player state winning, up to [`MAX_ATTEMPTS`] tries;
//! a write given up on is logged with everything needed to replay it.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use rusqlite::{Connection, OptionalExtension, Savepoint, Transaction, params};
use tokio::sync::oneshot;

use super::{
    AccessEvent, AccountRow, Leader, LoadedPlayer, PlayerState, StoreCommand, StoreError, StoreMetrics, unix_millis,
};

/// Most commands folded into one transaction.
const MAX_BATCH: usize = 512;

/// Wait before retrying writes that failed.
pub const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Most attempts at one fire-and-forget write before it is given up (and logged).
pub const MAX_ATTEMPTS: u32 = 20;

/// An answer held back until its transaction commits.
enum Reply {
    Created(oneshot::Sender<Result<u64, StoreError>>, Result<u64, StoreError>),
    Found(oneshot::Sender<Result<Option<AccountRow>, StoreError>>, Result<Option<AccountRow>, StoreError>),
    Loaded(crossbeam_channel::Sender<LoadedPlayer>, LoadedPlayer),
    Leaders(oneshot::Sender<Result<Vec<Leader>, StoreError>>, Result<Vec<Leader>, StoreError>),
}

impl Reply {
    /// Answers the caller; `Some(error)` when the transaction failed.
    fn send(self, failed: Option<&str>) {
        let err = |m: &str| StoreError::Sqlite(rusqlite::Error::ToSqlConversionFailure(m.to_owned().into()));
        match (self, failed) {
            (Reply::Created(tx, result), None) => drop(tx.send(result)),
            (Reply::Found(tx, result), None) => drop(tx.send(result)),
            (Reply::Loaded(tx, loaded), None) => drop(tx.send(loaded)),
            (Reply::Leaders(tx, result), None) => drop(tx.send(result)),
            (Reply::Created(tx, _), Some(m)) => drop(tx.send(Err(err(m)))),
            (Reply::Found(tx, _), Some(m)) => drop(tx.send(Err(err(m)))),
            (Reply::Loaded(tx, loaded), Some(m)) => {
                drop(tx.send(LoadedPlayer { account_id: loaded.account_id, state: Err(m.to_owned()) }))
            }
            (Reply::Leaders(tx, _), Some(m)) => drop(tx.send(Err(err(m)))),
        }
    }
}

/// Fire-and-forget writes with their attempt counts.
#[derive(Default)]
struct Writes {
    access: Vec<(AccessEvent, u32)>,
    /// Newest state per account.
    players: HashMap<u64, (PlayerState, u32)>,
}

impl Writes {
    fn is_empty(&self) -> bool {
        self.access.is_empty() && self.players.is_empty()
    }

    fn len(&self) -> usize {
        self.access.len() + self.players.len()
    }

    fn keep_player(&mut self, state: PlayerState, attempts: u32) {
        // A newer state (a later save) replaces an older failed one.
        let entry = self.players.entry(state.account_id).or_insert((state, attempts));
        if state.last_seen_ms >= entry.0.last_seen_ms {
            *entry = (state, attempts.max(entry.1));
        }
    }

    /// Moves `other` in, counting one more attempt; drops (and logs) what
    /// has been tried too often.
    fn absorb_failed(&mut self, other: Writes) {
        for (event, attempts) in other.access {
            if attempts + 1 >= MAX_ATTEMPTS {
                tracing::error!(?event, "giving up on an access log row after {MAX_ATTEMPTS} attempts");
            } else {
                self.access.push((event, attempts + 1));
            }
        }
        for (state, attempts) in other.players.into_values() {
            if attempts + 1 >= MAX_ATTEMPTS {
                tracing::error!(?state, "giving up on a player state after {MAX_ATTEMPTS} attempts");
            } else {
                self.keep_player(state, attempts + 1);
            }
        }
    }
}

/// One unit of work: a command from outside, or a write being retried.
enum Work {
    Command(StoreCommand),
    Access(AccessEvent, u32),
    Player(PlayerState, u32),
}

/// Runs until [`StoreCommand::Shutdown`] arrives or every sender is gone.
pub(super) fn run(mut conn: Connection, rx: Receiver<StoreCommand>, metrics: &StoreMetrics) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut retry = Writes::default();
    let mut stopping = false;
    loop {
        if !stopping {
            let first = if retry.is_empty() {
                rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
            } else {
                rx.recv_timeout(RETRY_AFTER)
            };
            match first {
                Ok(command) => batch.push(command),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => stopping = true,
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            stopping |= batch.iter().any(|c| matches!(c, StoreCommand::Shutdown));
        }
        // Earlier failed writes go first, so newer states overwrite them.
        let mut work: Vec<Work> = Vec::with_capacity(batch.len() + retry.len());
        let earlier = std::mem::take(&mut retry);
        work.extend(earlier.access.into_iter().map(|(e, n)| Work::Access(e, n)));
        work.extend(earlier.players.into_values().map(|(s, n)| Work::Player(s, n)));
        work.extend(batch.drain(..).map(Work::Command));
        commit_batch(&mut conn, work, &mut retry, metrics);
        if stopping {
            // Shutting down: a few more tries for writes that keep failing.
            for _ in 0..3 {
                if retry.is_empty() {
                    break;
                }
                std::thread::sleep(RETRY_AFTER);
                let earlier = std::mem::take(&mut retry);
                let mut work: Vec<Work> = earlier.access.into_iter().map(|(e, n)| Work::Access(e, n)).collect();
                work.extend(earlier.players.into_values().map(|(s, n)| Work::Player(s, n)));
                commit_batch(&mut conn, work, &mut retry, metrics);
            }
            if !retry.is_empty() {
                tracing::error!(
                    access_rows = retry.access.len(),
                    players = retry.players.len(),
                    "store stopping with writes it could not commit"
                );
            }
            tracing::debug!("store flushed and stopped");
            return;
        }
    }
}

fn commit_batch(conn: &mut Connection, work: Vec<Work>, retry: &mut Writes, metrics: &StoreMetrics) {
    if work.is_empty() {
        return;
    }
    let started = Instant::now();
    let mut replies = Vec::new();
    // Writes that succeeded (to retry if the commit itself fails) and failed.
    let mut written = Writes::default();
    let mut failed = Writes::default();
    let outcome = (|| -> Result<(), rusqlite::Error> {
        let mut tx = conn.transaction()?;
        for item in work {
            apply(&mut tx, item, &mut replies, &mut written, &mut failed)?;
        }
        tx.commit()
    })();
    match outcome {
        Ok(()) => {
            metrics.commits.fetch_add(1, Ordering::Relaxed);
            metrics.commit_latency.observe(started.elapsed());
            for reply in replies {
                reply.send(None);
            }
        }
        Err(e) => {
            // Nothing was written: everything is retried, every caller hears the error.
            metrics.errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, "store transaction failed");
            let message = e.to_string();
            for reply in replies {
                reply.send(Some(&message));
            }
            failed.access.append(&mut written.access);
            for (state, attempts) in written.players.into_values() {
                failed.keep_player(state, attempts);
            }
        }
    }
    if !failed.is_empty() {
        metrics.retries.fetch_add(failed.len() as u64, Ordering::Relaxed);
        retry.absorb_failed(failed);
    }
}

/// Runs `f` in a savepoint, rolled back alone if it fails.
fn in_savepoint<T>(
    tx: &mut Transaction<'_>,
    f: impl FnOnce(&Savepoint<'_>) -> Result<T, rusqlite::Error>,
) -> Result<Result<T, rusqlite::Error>, rusqlite::Error> {
    let sp = tx.savepoint()?;
    let result = f(&sp);
    if result.is_ok() {
        sp.commit()?
    } else {
        sp.finish()?
    }
    Ok(result)
}

/// Runs one unit of work. The outer `Err` is a failure of the transaction
/// itself (it aborts the batch); a failing command only fails itself.
fn apply(
    tx: &mut Transaction<'_>,
    item: Work,
    replies: &mut Vec<Reply>,
    written: &mut Writes,
    failed: &mut Writes,
) -> Result<(), rusqlite::Error> {
    match item {
        Work::Access(event, attempts) => match in_savepoint(tx, |sp| log_access(sp, &event))? {
            Ok(()) => written.access.push((event, attempts)),
            Err(e) => {
                tracing::warn!(error = %e, "access log row not written; will retry");
                failed.access.push((event, attempts));
            }
        },
        Work::Player(state, attempts) => match in_savepoint(tx, |sp| save_player(sp, &state))? {
            Ok(()) => written.keep_player(state, attempts),
            Err(e) => {
                tracing::warn!(error = %e, account = state.account_id, "player state not written; will retry");
                failed.keep_player(state, attempts);
            }
        },
        Work::Command(StoreCommand::LogAccess(event)) => apply(tx, Work::Access(event, 0), replies, written, failed)?,
        Work::Command(StoreCommand::SavePlayers(states)) => {
            for state in states {
                apply(tx, Work::Player(state, 0), replies, written, failed)?;
            }
        }
        Work::Command(StoreCommand::CreateAccount { username, password_hash, reply }) => {
            let result = match in_savepoint(tx, |sp| create_account(sp, &username, &password_hash))? {
                Ok(result) => result,
                Err(e) => Err(StoreError::Sqlite(e)),
            };
            replies.push(Reply::Created(reply, result));
        }
        Work::Command(StoreCommand::FindAccount { username, reply }) => {
            replies.push(Reply::Found(reply, find_account(tx, &username).map_err(StoreError::from)));
        }
        Work::Command(StoreCommand::LoadPlayer { account_id, reply }) => {
            let state = load_player(tx, account_id).map_err(|e| e.to_string());
            replies.push(Reply::Loaded(reply, LoadedPlayer { account_id, state }));
        }
        Work::Command(StoreCommand::Leaderboard { limit, reply }) => {
            replies.push(Reply::Leaders(reply, leaderboard(tx, limit).map_err(StoreError::from)));
        }
        Work::Command(StoreCommand::Shutdown) => {}
    }
    Ok(())
}

fn create_account(tx: &Connection, username: &str, hash: &str) -> Result<Result<u64, StoreError>, rusqlite::Error> {
    let now = unix_millis() / 1000;
    // DO NOTHING on a taken name, so it fails alone rather than aborting the batch.
    let inserted = tx.execute(
        "INSERT INTO accounts (username, password_hash, created_at) VALUES (?1, ?2, ?3) ON CONFLICT(username) DO NOTHING",
        params![username, hash, now],
    )?;
    if inserted == 0 {
        return Ok(Err(StoreError::UsernameTaken));
    }
    Ok(Ok(tx.last_insert_rowid() as u64))
}

fn find_account(tx: &Connection, username: &str) -> Result<Option<AccountRow>, rusqlite::Error> {
    tx.query_row("SELECT id, username, password_hash FROM accounts WHERE username = ?1", params![username], |row| {
        Ok(AccountRow { id: row.get::<_, i64>(0)? as u64, username: row.get(1)?, password_hash: row.get(2)? })
    })
    .optional()
}

fn log_access(tx: &Connection, event: &AccessEvent) -> Result<(), rusqlite::Error> {
    tx.execute(
        "INSERT INTO access_log (at_ms, event, account_id, username, peer) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            event.at_ms,
            event.kind.as_str(),
            event.account_id.map(|id| id as i64),
            event.username,
            event.peer.map(|p| p.to_string()),
        ],
    )?;
    Ok(())
}

fn load_player(tx: &Connection, account_id: u64) -> Result<Option<PlayerState>, rusqlite::Error> {
    tx.query_row(
        "SELECT x, y, score, last_seen FROM player_state WHERE account_id = ?1",
        params![account_id as i64],
        |row| {
            Ok(PlayerState {
                account_id,
                x: row.get::<_, f64>(0)? as f32,
                y: row.get::<_, f64>(1)? as f32,
                score: u32::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
                last_seen_ms: row.get(3)?,
            })
        },
    )
    .optional()
}

fn save_player(tx: &Connection, state: &PlayerState) -> Result<(), rusqlite::Error> {
    tx.execute(
        "INSERT INTO player_state (account_id, x, y, score, last_seen) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(account_id) DO UPDATE SET x = excluded.x, y = excluded.y, score = excluded.score,
         last_seen = excluded.last_seen",
        params![state.account_id as i64, f64::from(state.x), f64::from(state.y), state.score, state.last_seen_ms],
    )?;
    Ok(())
}

fn leaderboard(tx: &Connection, limit: u32) -> Result<Vec<Leader>, rusqlite::Error> {
    let mut stmt = tx.prepare(
        "SELECT a.username, p.score FROM player_state p JOIN accounts a ON a.id = p.account_id
         ORDER BY p.score DESC, a.username ASC LIMIT ?1",
    )?;
    let rows = stmt.query_map(params![limit], |row| {
        Ok(Leader { username: row.get(0)?, score: u32::try_from(row.get::<_, i64>(1)?).unwrap_or(0) })
    })?;
    rows.collect()
}
