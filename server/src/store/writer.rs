//! The store thread's loop: drain, commit in one transaction, then answer.
//!
//! When a transaction fails, callers waiting for an answer get the error;
//! fire-and-forget writes (access-log rows, player states) are kept and
//! retried after [`RETRY_AFTER`], so none is dropped by a passing fault.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::oneshot;

use super::{
    AccessEvent, AccountRow, Leader, LoadedPlayer, PlayerState, StoreCommand, StoreError, StoreMetrics, unix_millis,
};

/// Most commands folded into one transaction.
const MAX_BATCH: usize = 512;

/// Wait before retrying writes that failed.
pub const RETRY_AFTER: Duration = Duration::from_millis(500);

/// An answer held back until its transaction commits.
enum Reply {
    Created(oneshot::Sender<Result<u64, StoreError>>, Result<u64, StoreError>),
    Found(oneshot::Sender<Result<Option<AccountRow>, StoreError>>, Result<Option<AccountRow>, StoreError>),
    Loaded(crossbeam_channel::Sender<LoadedPlayer>, LoadedPlayer),
    Leaders(oneshot::Sender<Result<Vec<Leader>, StoreError>>, Result<Vec<Leader>, StoreError>),
}

/// Writes that must not be lost, kept across a failed transaction.
#[derive(Default)]
struct Retry {
    access: Vec<AccessEvent>,
    /// Newest state per account.
    players: HashMap<u64, PlayerState>,
}

impl Retry {
    fn is_empty(&self) -> bool {
        self.access.is_empty() && self.players.is_empty()
    }
}

/// Runs until [`StoreCommand::Shutdown`] arrives or every sender is gone.
pub(super) fn run(mut conn: Connection, rx: Receiver<StoreCommand>, metrics: &StoreMetrics) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut retry = Retry::default();
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
        let mut work: Vec<StoreCommand> = Vec::with_capacity(batch.len() + 2);
        if !retry.access.is_empty() {
            work.extend(retry.access.drain(..).map(StoreCommand::LogAccess));
        }
        if !retry.players.is_empty() {
            work.push(StoreCommand::SavePlayers(retry.players.drain().map(|(_, s)| s).collect()));
        }
        work.append(&mut batch);
        commit_batch(&mut conn, work, &mut retry, metrics);
        if stopping {
            if retry.is_empty() {
                tracing::debug!("store flushed and stopped");
                return;
            }
            // Shutting down with writes that keep failing: try a few more times.
            for _ in 0..3 {
                std::thread::sleep(RETRY_AFTER);
                let work = std::mem::take(&mut retry);
                let mut again: Vec<StoreCommand> = work.access.into_iter().map(StoreCommand::LogAccess).collect();
                again.push(StoreCommand::SavePlayers(work.players.into_values().collect()));
                commit_batch(&mut conn, again, &mut retry, metrics);
                if retry.is_empty() {
                    return;
                }
            }
            tracing::error!(
                access_rows = retry.access.len(),
                players = retry.players.len(),
                "store stopping with writes it could not commit"
            );
            return;
        }
    }
}

fn commit_batch(conn: &mut Connection, work: Vec<StoreCommand>, retry: &mut Retry, metrics: &StoreMetrics) {
    if work.is_empty() {
        return;
    }
    let started = Instant::now();
    let mut replies = Vec::new();
    let mut kept = Retry::default();
    let outcome = (|| -> Result<(), rusqlite::Error> {
        let tx = conn.transaction()?;
        for command in work {
            apply(&tx, command, &mut replies, &mut kept)?;
        }
        tx.commit()
    })();
    match outcome {
        Ok(()) => {
            metrics.commits.fetch_add(1, Ordering::Relaxed);
            metrics.commit_latency.observe(started.elapsed());
            for reply in replies {
                match reply {
                    Reply::Created(tx, result) => drop(tx.send(result)),
                    Reply::Found(tx, result) => drop(tx.send(result)),
                    Reply::Loaded(tx, loaded) => drop(tx.send(loaded)),
                    Reply::Leaders(tx, result) => drop(tx.send(result)),
                }
            }
        }
        Err(e) => {
            metrics.errors.fetch_add(1, Ordering::Relaxed);
            let kept_count = kept.access.len() + kept.players.len();
            metrics.retries.fetch_add(kept_count as u64, Ordering::Relaxed);
            tracing::error!(error = %e, retrying = kept_count, "store transaction failed");
            let message = e.to_string();
            let err = || StoreError::Sqlite(rusqlite::Error::ToSqlConversionFailure(message.clone().into()));
            for reply in replies {
                match reply {
                    Reply::Created(tx, _) => drop(tx.send(Err(err()))),
                    Reply::Found(tx, _) => drop(tx.send(Err(err()))),
                    Reply::Loaded(tx, loaded) => {
                        drop(tx.send(LoadedPlayer { account_id: loaded.account_id, state: Err(message.clone()) }))
                    }
                    Reply::Leaders(tx, _) => drop(tx.send(Err(err()))),
                }
            }
            retry.access.extend(kept.access);
            for (id, state) in kept.players {
                retry.players.insert(id, state);
            }
        }
    }
}

/// Runs one command inside the transaction. Writes that must survive a
/// failure are also copied into `kept`; a SQL error aborts the transaction.
fn apply(
    tx: &Transaction<'_>,
    command: StoreCommand,
    replies: &mut Vec<Reply>,
    kept: &mut Retry,
) -> Result<(), rusqlite::Error> {
    match command {
        StoreCommand::CreateAccount { username, password_hash, reply } => {
            let result = create_account(tx, &username, &password_hash);
            let failed = matches!(result, Err(StoreError::Sqlite(_)));
            replies.push(Reply::Created(reply, result));
            if failed {
                return Err(rusqlite::Error::InvalidQuery);
            }
        }
        StoreCommand::FindAccount { username, reply } => {
            let result = find_account(tx, &username);
            replies.push(Reply::Found(reply, result.map_err(StoreError::from)));
        }
        StoreCommand::LogAccess(event) => {
            let result = log_access(tx, &event);
            kept.access.push(event);
            result?;
        }
        StoreCommand::LoadPlayer { account_id, reply } => {
            let state = load_player(tx, account_id).map_err(|e| e.to_string());
            replies.push(Reply::Loaded(reply, LoadedPlayer { account_id, state }));
        }
        StoreCommand::SavePlayers(states) => {
            for state in &states {
                kept.players.insert(state.account_id, *state);
            }
            for state in &states {
                save_player(tx, state)?;
            }
        }
        StoreCommand::Leaderboard { limit, reply } => {
            replies.push(Reply::Leaders(reply, leaderboard(tx, limit).map_err(StoreError::from)));
        }
        StoreCommand::Shutdown => {}
    }
    Ok(())
}

fn create_account(tx: &Transaction<'_>, username: &str, hash: &str) -> Result<u64, StoreError> {
    let now = unix_millis() / 1000;
    // DO NOTHING on a taken name, so it fails alone rather than aborting the batch.
    let inserted = tx.execute(
        "INSERT INTO accounts (username, password_hash, created_at) VALUES (?1, ?2, ?3) ON CONFLICT(username) DO NOTHING",
        params![username, hash, now],
    )?;
    if inserted == 0 {
        return Err(StoreError::UsernameTaken);
    }
    Ok(tx.last_insert_rowid() as u64)
}

fn find_account(tx: &Transaction<'_>, username: &str) -> Result<Option<AccountRow>, rusqlite::Error> {
    tx.query_row("SELECT id, username, password_hash FROM accounts WHERE username = ?1", params![username], |row| {
        Ok(AccountRow { id: row.get::<_, i64>(0)? as u64, username: row.get(1)?, password_hash: row.get(2)? })
    })
    .optional()
}

fn log_access(tx: &Transaction<'_>, event: &AccessEvent) -> Result<(), rusqlite::Error> {
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

fn load_player(tx: &Transaction<'_>, account_id: u64) -> Result<Option<PlayerState>, rusqlite::Error> {
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

fn save_player(tx: &Transaction<'_>, state: &PlayerState) -> Result<(), rusqlite::Error> {
    tx.execute(
        "INSERT INTO player_state (account_id, x, y, score, last_seen) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(account_id) DO UPDATE SET x = excluded.x, y = excluded.y, score = excluded.score,
         last_seen = excluded.last_seen",
        params![state.account_id as i64, f64::from(state.x), f64::from(state.y), state.score, state.last_seen_ms],
    )?;
    Ok(())
}

fn leaderboard(tx: &Transaction<'_>, limit: u32) -> Result<Vec<Leader>, rusqlite::Error> {
    let mut stmt = tx.prepare(
        "SELECT a.username, p.score FROM player_state p JOIN accounts a ON a.id = p.account_id
         ORDER BY p.score DESC, a.username ASC LIMIT ?1",
    )?;
    let rows = stmt.query_map(params![limit], |row| {
        Ok(Leader { username: row.get(0)?, score: u32::try_from(row.get::<_, i64>(1)?).unwrap_or(0) })
    })?;
    rows.collect()
}
