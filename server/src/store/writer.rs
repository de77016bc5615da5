//! The store thread's loop: drain, commit in one transaction, then answer.

use crossbeam_channel::Receiver;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::oneshot;

use super::{AccessEvent, AccountRow, StoreCommand, StoreError};

/// Most commands folded into one transaction.
const MAX_BATCH: usize = 512;

/// An answer held back until its transaction commits.
enum Reply {
    Created(oneshot::Sender<Result<u64, StoreError>>, Result<u64, StoreError>),
    Found(oneshot::Sender<Result<Option<AccountRow>, StoreError>>, Result<Option<AccountRow>, StoreError>),
}

/// Runs until [`StoreCommand::Shutdown`] arrives or every sender is gone.
pub(super) fn run(mut conn: Connection, rx: Receiver<StoreCommand>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let Ok(first) = rx.recv() else { return };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        let stop = batch.iter().any(|c| matches!(c, StoreCommand::Shutdown));
        commit_batch(&mut conn, &mut batch);
        if stop {
            tracing::debug!("store flushed and stopped");
            return;
        }
    }
}

fn commit_batch(conn: &mut Connection, batch: &mut Vec<StoreCommand>) {
    let mut replies = Vec::new();
    let outcome = (|| -> Result<(), rusqlite::Error> {
        let tx = conn.transaction()?;
        for command in batch.drain(..) {
            apply(&tx, command, &mut replies);
        }
        tx.commit()
    })();
    match outcome {
        Ok(()) => {
            for reply in replies {
                match reply {
                    Reply::Created(tx, result) => drop(tx.send(result)),
                    Reply::Found(tx, result) => drop(tx.send(result)),
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "store transaction failed; answering every caller with the error");
            for reply in replies {
                match reply {
                    Reply::Created(tx, _) => drop(tx.send(Err(StoreError::Sqlite(clone_err(&e))))),
                    Reply::Found(tx, _) => drop(tx.send(Err(StoreError::Sqlite(clone_err(&e))))),
                }
            }
        }
    }
}

fn clone_err(e: &rusqlite::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(e.to_string().into())
}

fn apply(tx: &Transaction<'_>, command: StoreCommand, replies: &mut Vec<Reply>) {
    match command {
        StoreCommand::CreateAccount { username, password_hash, reply } => {
            replies.push(Reply::Created(reply, create_account(tx, &username, &password_hash)));
        }
        StoreCommand::FindAccount { username, reply } => {
            replies.push(Reply::Found(reply, find_account(tx, &username)));
        }
        StoreCommand::LogAccess(event) => {
            if let Err(e) = log_access(tx, &event) {
                tracing::error!(error = %e, event = event.kind.as_str(), "cannot write access log row");
            }
        }
        StoreCommand::Shutdown => {}
    }
}

fn create_account(tx: &Transaction<'_>, username: &str, hash: &str) -> Result<u64, StoreError> {
    let now = super::unix_millis() / 1000;
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

fn find_account(tx: &Transaction<'_>, username: &str) -> Result<Option<AccountRow>, StoreError> {
    let row = tx
        .query_row("SELECT id, username, password_hash FROM accounts WHERE username = ?1", params![username], |row| {
            Ok(AccountRow { id: row.get::<_, i64>(0)? as u64, username: row.get(1)?, password_hash: row.get(2)? })
        })
        .optional()?;
    Ok(row)
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
