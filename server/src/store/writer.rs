//! The store thread's loop: drain, commit in one transaction, then answer.
//!
//! Every command runs in its own savepoint, so one that fails (a constraint,
//! a bad row) is rolled back alone and the rest of the batch commits. Callers
//! waiting for an answer always get one. Fire-and-forget writes (access-log
//! rows, player states) that fail — alone, or because the whole transaction
//! failed (disk full, I/O error) — are kept and retried after
//! [`RETRY_AFTER`], newest player state winning, up to [`MAX_ATTEMPTS`] tries;
//! a write given up on is logged with everything needed to replay it. While
//! the database cannot be reached at all, nothing counts as an attempt:
//! the thread reconnects with back-off and the writes wait, however long the
//! outage lasts. The SQL itself is the [`Backend`]'s.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use tokio::sync::oneshot;

use super::backend::{Backend, DbError, DbErrorKind};
use super::{
    AccessEvent, AccountRow, ChatNews, Claimed, ClusterView, HandedOff, Leader, Moved, Placement, PlayerSave, Polled,
    StoreCommand, StoreError, StoreMetrics, unix_millis,
};

/// Most commands folded into one transaction.
const MAX_BATCH: usize = 512;

/// Most chat lines one read returns.
const CHAT_READ_LIMIT: u32 = 1024;

/// Wait before retrying writes that failed.
pub const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Most attempts at one fire-and-forget write before it is given up (and logged).
pub const MAX_ATTEMPTS: u32 = 20;

/// Longest wait between reconnection attempts while the database is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Access-log rows deleted for their age in one transaction, at most.
const PRUNE_BATCH: u32 = 1000;

/// How often old access-log rows are looked for.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The pause between two batches while old rows remain.
const PRUNE_AGAIN: Duration = Duration::from_secs(1);

/// The access log's retention: old rows go in small batches between the
/// writer's own, so a backlog of millions never holds a long transaction.
struct Retention {
    keep: Duration,
    next: Instant,
}

impl Retention {
    /// Deletes one batch if one is due; says when the next is.
    fn run<B: Backend>(&mut self, db: &mut B, metrics: &StoreMetrics) {
        if Instant::now() < self.next {
            return;
        }
        let before = unix_millis() - i64::try_from(self.keep.as_millis()).unwrap_or(i64::MAX);
        let pruned = (|| {
            db.begin()?;
            let n = db.prune_access_log(before, PRUNE_BATCH)?;
            db.commit()?;
            Ok::<u64, DbError>(n)
        })();
        self.next = Instant::now()
            + match pruned {
                Ok(n) => {
                    metrics.access_log_pruned.fetch_add(n, Ordering::Relaxed);
                    if n == u64::from(PRUNE_BATCH) { PRUNE_AGAIN } else { PRUNE_EVERY }
                }
                Err(e) => {
                    db.rollback();
                    tracing::warn!(error = %e, "old access-log rows not deleted; trying again later");
                    PRUNE_EVERY
                }
            };
    }

    /// How long the writer may wait for a command before this is due.
    fn wait(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }
}

/// An answer held back until its transaction commits.
enum Reply {
    Created(oneshot::Sender<Result<u64, StoreError>>, Result<u64, StoreError>),
    Found(oneshot::Sender<Result<Option<AccountRow>, StoreError>>, Result<Option<AccountRow>, StoreError>),
    Claimed(crossbeam_channel::Sender<Claimed>, Claimed),
    Polled(crossbeam_channel::Sender<Polled>, Polled),
    Leaders(oneshot::Sender<Result<Vec<Leader>, StoreError>>, Result<Vec<Leader>, StoreError>),
    Cluster(oneshot::Sender<Result<ClusterView, StoreError>>, Result<ClusterView, StoreError>),
    Placed(oneshot::Sender<Result<Vec<Placement>, StoreError>>, Result<Vec<Placement>, StoreError>),
    Kicked(oneshot::Sender<Result<Option<String>, StoreError>>, Result<Option<String>, StoreError>),
    Broadcast(oneshot::Sender<Result<u32, StoreError>>, Result<u32, StoreError>),
    Done(oneshot::Sender<Result<(), StoreError>>, Result<(), StoreError>),
    Resumed(oneshot::Sender<Result<Option<AccountRow>, StoreError>>, Result<Option<AccountRow>, StoreError>),
    HandedOff(crossbeam_channel::Sender<HandedOff>, HandedOff),
    Chat(crossbeam_channel::Sender<ChatNews>, ChatNews),
}

impl Reply {
    /// Answers the caller; `Some(error)` when the transaction failed.
    fn send(self, failed: Option<&DbError>) {
        let err = |e: &DbError| StoreError::Database(e.clone());
        match (self, failed) {
            (Reply::Created(tx, result), None) => drop(tx.send(result)),
            (Reply::Found(tx, result), None) => drop(tx.send(result)),
            (Reply::Claimed(tx, claimed), None) => drop(tx.send(claimed)),
            (Reply::Polled(tx, polled), None) => drop(tx.send(polled)),
            (Reply::Leaders(tx, result), None) => drop(tx.send(result)),
            (Reply::Cluster(tx, result), None) => drop(tx.send(result)),
            (Reply::Placed(tx, result), None) => drop(tx.send(result)),
            (Reply::Kicked(tx, result), None) => drop(tx.send(result)),
            (Reply::Broadcast(tx, result), None) => drop(tx.send(result)),
            (Reply::Done(tx, result), None) => drop(tx.send(result)),
            (Reply::Resumed(tx, result), None) => drop(tx.send(result)),
            (Reply::Resumed(tx, _), Some(e)) => drop(tx.send(Err(err(e)))),
            (Reply::HandedOff(tx, handed), None) => drop(tx.send(handed)),
            (Reply::Chat(tx, news), None) => drop(tx.send(news)),
            // Not committed: posted lines go back to be posted again.
            (Reply::Chat(tx, ChatNews::Posted { mut lines, duplicates, .. }), Some(e)) => {
                lines.extend(duplicates);
                drop(tx.send(ChatNews::NotPosted { lines, error: e.to_string() }))
            }
            (Reply::Chat(tx, news), Some(_)) => drop(tx.send(news)),
            (Reply::Done(tx, _), Some(e)) => drop(tx.send(Err(err(e)))),
            (Reply::HandedOff(tx, handed), Some(e)) => {
                drop(tx.send(HandedOff { account_id: handed.account_id, result: Err(e.to_string()) }))
            }
            (Reply::Cluster(tx, _), Some(e)) => drop(tx.send(Err(err(e)))),
            (Reply::Created(tx, _), Some(e)) => drop(tx.send(Err(err(e)))),
            (Reply::Found(tx, _), Some(e)) => drop(tx.send(Err(err(e)))),
            (Reply::Claimed(tx, claimed), Some(e)) => {
                drop(tx.send(Claimed { account_id: claimed.account_id, result: Err(e.to_string()) }))
            }
            // The orders were not taken (the delete rolled back): the next poll gets them.
            (Reply::Polled(tx, polled), Some(_)) => {
                drop(tx.send(Polled { commands: Vec::new(), active_colour: None, ..polled }))
            }
            (Reply::Leaders(tx, _), Some(e)) => drop(tx.send(Err(err(e)))),
            (Reply::Placed(tx, _), Some(e)) => drop(tx.send(Err(err(e)))),
            (Reply::Kicked(tx, _), Some(e)) => drop(tx.send(Err(err(e)))),
            (Reply::Broadcast(tx, _), Some(e)) => drop(tx.send(Err(err(e)))),
        }
    }
}

/// Fire-and-forget writes with their attempt counts.
#[derive(Default)]
struct Writes {
    access: Vec<(AccessEvent, u32)>,
    /// Newest state per account.
    players: HashMap<u64, (PlayerSave, u32)>,
}

impl Writes {
    fn is_empty(&self) -> bool {
        self.access.is_empty() && self.players.is_empty()
    }

    fn len(&self) -> usize {
        self.access.len() + self.players.len()
    }

    fn keep_player(&mut self, save: PlayerSave, attempts: u32) {
        // A newer state (a later save, or a later lease) replaces an older failed one.
        use std::collections::hash_map::Entry;
        match self.players.entry(save.state.account_id) {
            Entry::Vacant(slot) => {
                slot.insert((save, attempts));
            }
            Entry::Occupied(mut slot) => {
                let entry = slot.get_mut();
                if (save.epoch, save.state.last_seen_ms) >= (entry.0.epoch, entry.0.state.last_seen_ms) {
                    *entry = (save, attempts.max(entry.1));
                }
            }
        }
    }

    /// Moves `other` in, counting one more attempt (unless `counted` is
    /// false: the database was unreachable, so nothing was really tried);
    /// drops (and logs) what has been tried too often.
    fn absorb_failed(&mut self, other: Writes, counted: bool) {
        let step = u32::from(counted);
        for (event, attempts) in other.access {
            if attempts + step >= MAX_ATTEMPTS {
                tracing::error!(?event, "giving up on an access log row after {MAX_ATTEMPTS} attempts");
            } else {
                self.access.push((event, attempts + step));
            }
        }
        for (state, attempts) in other.players.into_values() {
            if attempts + step >= MAX_ATTEMPTS {
                tracing::error!(?state, "giving up on a player state after {MAX_ATTEMPTS} attempts");
            } else {
                self.keep_player(state, attempts + step);
            }
        }
    }
}

/// What the thread carries from one batch to the next.
#[derive(Default)]
struct Carry {
    /// Writes to try again.
    retry: Writes,
    /// Accounts whose saves were fenced, for the next [`StoreCommand::PollCommands`].
    fenced: Fences,
}

/// Saves the database refused for a stale lease.
#[derive(Default)]
struct Fences {
    /// Not yet reported: (account, epoch).
    unreported: Vec<(u64, i64)>,
    /// Refused in the batch being committed.
    refused: u64,
}

/// One unit of work: a command from outside, or a write being retried.
enum Work {
    Command(StoreCommand),
    Access(AccessEvent, u32),
    Player(PlayerSave, u32),
}

/// Connection state: while the database is unreachable, when to try again.
struct Link {
    down_since: Option<Instant>,
    backoff: Duration,
    /// When the first write of the current outage failed.
    failing_since: Option<Instant>,
}

/// What one batch came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Nothing to do.
    Idle,
    /// Committed.
    Committed,
    /// The transaction failed; the database answered.
    Failed,
    /// The database could not be reached.
    Unreachable,
}

impl Link {
    /// Follows one batch's outcome: reconnects after an unreachable
    /// database, and records how long writes failed — from the first
    /// failed write to the first one committed after it, or to the
    /// reconnection when no write was left waiting (`pending`).
    fn after<B: Backend>(&mut self, outcome: Outcome, pending: bool, db: &mut B, metrics: &StoreMetrics) {
        match outcome {
            Outcome::Unreachable => {
                self.failing_since.get_or_insert_with(Instant::now);
                self.recover(db);
                if self.down_since.is_none() && !pending {
                    self.outage_over(db, metrics);
                }
            }
            Outcome::Committed => self.outage_over(db, metrics),
            Outcome::Idle | Outcome::Failed => {}
        }
    }

    fn outage_over<B: Backend>(&mut self, db: &B, metrics: &StoreMetrics) {
        if let Some(since) = self.failing_since.take() {
            let ms = since.elapsed().as_millis() as u64;
            metrics.outages.fetch_add(1, Ordering::Relaxed);
            metrics.last_outage_ms.store(ms, Ordering::Relaxed);
            tracing::info!(backend = db.name(), outage_ms = ms, "writes go through again");
        }
    }

    /// After an unreachable database: waits, then tries to reconnect.
    fn recover<B: Backend>(&mut self, db: &mut B) {
        let since = *self.down_since.get_or_insert_with(Instant::now);
        std::thread::sleep(self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        match db.reconnect() {
            Ok(()) => {
                tracing::info!(backend = db.name(), after = ?since.elapsed(), "database reachable again");
                self.down_since = None;
                self.backoff = RETRY_AFTER / 5;
            }
            Err(e) => {
                tracing::warn!(backend = db.name(), error = %e, down_for = ?since.elapsed(), "database still unreachable")
            }
        }
    }
}

/// Runs until [`StoreCommand::Shutdown`] arrives or every sender is gone;
/// deletes access-log rows older than `retention` as it goes.
pub(super) fn run<B: Backend>(
    mut db: B,
    rx: Receiver<StoreCommand>,
    metrics: &StoreMetrics,
    retention: Option<Duration>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut carry = Carry::default();
    let mut stopping = false;
    let mut link = Link { down_since: None, backoff: RETRY_AFTER / 5, failing_since: None };
    let mut retention = retention.map(|keep| Retention { keep, next: Instant::now() });
    loop {
        if !stopping {
            if link.down_since.is_none()
                && let Some(retention) = &mut retention
            {
                retention.run(&mut db, metrics);
            }
            let mut wait = retention.as_ref().map_or(Duration::MAX, Retention::wait);
            if !carry.retry.is_empty() {
                wait = wait.min(RETRY_AFTER);
            }
            let first = if wait == Duration::MAX {
                rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
            } else {
                rx.recv_timeout(wait)
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
        let mut work: Vec<Work> = Vec::with_capacity(batch.len() + carry.retry.len());
        let earlier = std::mem::take(&mut carry.retry);
        work.extend(earlier.access.into_iter().map(|(e, n)| Work::Access(e, n)));
        work.extend(earlier.players.into_values().map(|(s, n)| Work::Player(s, n)));
        work.extend(batch.drain(..).map(Work::Command));
        // Chat posts last: the chat head stays locked until the commit, and
        // a transaction that takes it last waits for nothing while holding it.
        work.sort_by_key(|w| matches!(w, Work::Command(StoreCommand::PostChat { .. })));
        let outcome = commit_batch(&mut db, work, &mut carry, metrics);
        link.after(outcome, !carry.retry.is_empty(), &mut db, metrics);
        if stopping {
            // Shutting down: a few more tries for writes that keep failing.
            for _ in 0..3 {
                if carry.retry.is_empty() {
                    break;
                }
                std::thread::sleep(RETRY_AFTER);
                let earlier = std::mem::take(&mut carry.retry);
                let mut work: Vec<Work> = earlier.access.into_iter().map(|(e, n)| Work::Access(e, n)).collect();
                work.extend(earlier.players.into_values().map(|(s, n)| Work::Player(s, n)));
                if commit_batch(&mut db, work, &mut carry, metrics) == Outcome::Unreachable {
                    let _ = db.reconnect();
                }
            }
            if !carry.retry.is_empty() {
                tracing::error!(
                    access_rows = carry.retry.access.len(),
                    players = carry.retry.players.len(),
                    "store stopping with writes it could not commit"
                );
            }
            tracing::debug!("store flushed and stopped");
            return;
        }
    }
}

/// Commits `work` in one transaction; says whether it did, and whether
/// the database was unreachable (so the caller reconnects first).
fn commit_batch<B: Backend>(db: &mut B, work: Vec<Work>, carry: &mut Carry, metrics: &StoreMetrics) -> Outcome {
    if work.is_empty() {
        return Outcome::Idle;
    }
    let started = Instant::now();
    let mut replies = Vec::new();
    // Writes that succeeded (to retry if the commit itself fails) and failed.
    let mut written = Writes::default();
    let mut failed = Writes::default();
    let mut work = work.into_iter();
    let fenced = &mut carry.fenced;
    let outcome = (|| -> Result<(), DbError> {
        db.begin()?;
        for item in work.by_ref() {
            apply(db, item, &mut replies, &mut written, &mut failed, fenced)?;
        }
        db.commit()
    })();
    // Work the failed transaction never reached: writes are kept, callers answered.
    if let Err(e) = &outcome {
        for item in work {
            abandon(item, e, &mut failed);
        }
    }
    let result = match outcome {
        Ok(()) => {
            metrics.commits.fetch_add(1, Ordering::Relaxed);
            metrics.commit_latency.observe(started.elapsed());
            for reply in replies {
                reply.send(None);
            }
            Outcome::Committed
        }
        Err(e) => {
            // Nothing was written: everything is retried, every caller hears the error.
            db.rollback();
            metrics.errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(backend = db.name(), error = %e, "store transaction failed");
            for reply in replies {
                reply.send(Some(&e));
            }
            failed.access.append(&mut written.access);
            for (state, attempts) in written.players.into_values() {
                failed.keep_player(state, attempts);
            }
            if e.is_unavailable() { Outcome::Unreachable } else { Outcome::Failed }
        }
    };
    metrics.fenced.fetch_add(std::mem::take(&mut carry.fenced.refused), Ordering::Relaxed);
    if !failed.is_empty() {
        metrics.retries.fetch_add(failed.len() as u64, Ordering::Relaxed);
        carry.retry.absorb_failed(failed, result != Outcome::Unreachable);
    }
    result
}

/// Work left over when its transaction failed before reaching it: writes go
/// back for a retry, and every waiting caller hears the error.
fn abandon(item: Work, error: &DbError, failed: &mut Writes) {
    let answer = |e: &DbError| StoreError::Database(e.clone());
    match item {
        Work::Access(event, attempts) => failed.access.push((event, attempts)),
        Work::Player(state, attempts) => failed.keep_player(state, attempts),
        Work::Command(StoreCommand::LogAccess(event)) => failed.access.push((event, 0)),
        Work::Command(StoreCommand::SavePlayers(states)) => {
            for state in states {
                failed.keep_player(state, 0);
            }
        }
        Work::Command(StoreCommand::CreateAccount { reply, .. }) => drop(reply.send(Err(answer(error)))),
        Work::Command(StoreCommand::FindAccount { reply, .. }) => drop(reply.send(Err(answer(error)))),
        Work::Command(StoreCommand::Leaderboard { reply, .. }) => drop(reply.send(Err(answer(error)))),
        Work::Command(StoreCommand::Cluster { reply }) => drop(reply.send(Err(answer(error)))),
        Work::Command(StoreCommand::Place { reply, .. }) => drop(reply.send(Err(answer(error)))),
        Work::Command(StoreCommand::Kick { reply, .. }) => drop(reply.send(Err(answer(error)))),
        Work::Command(StoreCommand::Broadcast { reply, .. }) => drop(reply.send(Err(answer(error)))),
        Work::Command(StoreCommand::Deploy { reply, .. }) => drop(reply.send(Err(answer(error)))),
        Work::Command(StoreCommand::IssueResume { reply, .. }) => drop(reply.send(Err(answer(error)))),
        Work::Command(StoreCommand::SetPassword { reply, .. }) => drop(reply.send(Err(answer(error)))),
        Work::Command(StoreCommand::Resume { reply, .. }) => drop(reply.send(Err(answer(error)))),
        Work::Command(StoreCommand::RevokeResume { account_id }) => {
            tracing::warn!(account = account_id, %error, "resume tokens not revoked")
        }
        Work::Command(StoreCommand::Handoff { save, reply, .. }) => {
            drop(reply.send(HandedOff { account_id: save.state.account_id, result: Err(error.to_string()) }))
        }
        Work::Command(StoreCommand::Heartbeat(_)) => {}
        Work::Command(StoreCommand::ReleaseLease { account_id, server_id, .. }) => {
            tracing::warn!(account = account_id, server = %server_id, %error, "lease not released; an order will ask again")
        }
        Work::Command(StoreCommand::Register { row, .. }) => {
            tracing::warn!(server = %row.id, %error, "registration not written; heartbeats will register the server")
        }
        Work::Command(StoreCommand::PollCommands { reply, .. }) => drop(reply.send(Polled::default())),
        Work::Command(StoreCommand::PostChat { lines, reply }) => {
            drop(reply.send(ChatNews::NotPosted { lines, error: error.to_string() }))
        }
        Work::Command(StoreCommand::ReadChat { reply, .. }) => {
            drop(reply.send(ChatNews::ReadFailed(error.to_string())))
        }
        Work::Command(StoreCommand::ClaimPlayer { account_id, reply, .. }) => {
            drop(reply.send(Claimed { account_id, result: Err(error.to_string()) }))
        }
        Work::Command(StoreCommand::Shutdown) => {}
    }
}

/// Runs `f` in a savepoint, rolled back alone if it fails. The outer `Err`
/// is a failure of the transaction itself.
fn in_savepoint<B: Backend, T>(
    db: &mut B,
    f: impl FnOnce(&mut B) -> Result<T, DbError>,
) -> Result<Result<T, DbError>, DbError> {
    db.savepoint()?;
    let result = f(db);
    match &result {
        Ok(_) => db.release_savepoint()?,
        // A lost connection fails the whole transaction, not one command.
        Err(e) if e.is_unavailable() => return Err(e.clone()),
        Err(_) => db.rollback_savepoint()?,
    }
    Ok(result)
}

/// Runs one unit of work. The outer `Err` is a failure of the transaction
/// itself (it aborts the batch); a failing command only fails itself.
fn apply<B: Backend>(
    db: &mut B,
    item: Work,
    replies: &mut Vec<Reply>,
    written: &mut Writes,
    failed: &mut Writes,
    fenced: &mut Fences,
) -> Result<(), DbError> {
    // A failure of the transaction itself: every later step is skipped, the
    // caller of this command still gets its answer (the error), a write is
    // kept for a retry, and the batch ends after this command.
    let mut aborted: Option<DbError> = None;
    match item {
        Work::Access(event, attempts) => match step(db, &mut aborted, |db| db.log_access(&event)) {
            Ok(()) => written.access.push((event, attempts)),
            Err(e) => {
                tracing::warn!(error = %e, "access log row not written; will retry");
                failed.access.push((event, attempts));
            }
        },
        Work::Player(save, attempts) => match step(db, &mut aborted, |db| db.save_player(&save)) {
            Ok(()) => written.keep_player(save, attempts),
            Err(e) if e.kind == DbErrorKind::Fenced => {
                // Another server holds the player now: this write must never land.
                tracing::warn!(
                    account = save.state.account_id,
                    epoch = save.epoch,
                    "player state refused: stale lease"
                );
                fenced.unreported.push((save.state.account_id, save.epoch));
                fenced.refused += 1;
            }
            Err(e) => {
                tracing::warn!(error = %e, account = save.state.account_id, "player state not written; will retry");
                failed.keep_player(save, attempts);
            }
        },
        Work::Command(StoreCommand::LogAccess(event)) => {
            apply(db, Work::Access(event, 0), replies, written, failed, fenced)?
        }
        Work::Command(StoreCommand::SavePlayers(saves)) => {
            let mut saves = saves.into_iter();
            while let Some(save) = saves.next() {
                if let Err(e) = apply(db, Work::Player(save, 0), replies, written, failed, fenced) {
                    for rest in saves {
                        failed.keep_player(rest, 0);
                    }
                    return Err(e);
                }
            }
        }
        Work::Command(StoreCommand::CreateAccount { username, password_hash, reply }) => {
            let now = unix_millis() / 1000;
            let result = match step(db, &mut aborted, |db| db.create_account(&username, &password_hash, now)) {
                Ok(Some(id)) => Ok(id),
                Ok(None) => Err(StoreError::UsernameTaken),
                Err(e) => Err(StoreError::Database(e)),
            };
            replies.push(Reply::Created(reply, result));
        }
        // Reads run in savepoints too: on PostgreSQL a failed statement
        // would otherwise abort the whole transaction.
        Work::Command(StoreCommand::FindAccount { username, reply }) => {
            let found = step(db, &mut aborted, |db| db.find_account(&username));
            replies.push(Reply::Found(reply, found.map_err(StoreError::Database)));
        }
        Work::Command(StoreCommand::ClaimPlayer { account_id, server_id, game, reply }) => {
            let result =
                step(db, &mut aborted, |db| db.claim_player(account_id, &server_id, game)).map_err(|e| e.to_string());
            replies.push(Reply::Claimed(reply, Claimed { account_id, result }));
        }
        Work::Command(StoreCommand::PollCommands { server_id, reply }) => {
            let commands = step(db, &mut aborted, |db| db.take_commands(&server_id)).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read server commands");
                Vec::new()
            });
            let active_colour = step(db, &mut aborted, |db| db.active_colour()).ok();
            let fenced = std::mem::take(&mut fenced.unreported);
            replies.push(Reply::Polled(reply, Polled { commands, fenced, active_colour }));
        }
        Work::Command(StoreCommand::PostChat { lines, reply }) => {
            let news = match step(db, &mut aborted, |db| db.post_chat(&lines)) {
                Ok((first, fresh)) => {
                    let (new, duplicates): (Vec<_>, Vec<_>) = lines.into_iter().zip(fresh).partition(|(_, f)| *f);
                    let lines = new.into_iter().map(|(l, _)| l).collect();
                    ChatNews::Posted { first, lines, duplicates: duplicates.into_iter().map(|(l, _)| l).collect() }
                }
                Err(e) => ChatNews::NotPosted { lines, error: e.to_string() },
            };
            replies.push(Reply::Chat(reply, news));
        }
        Work::Command(StoreCommand::ReadChat { after, reply }) => {
            let news = match step(db, &mut aborted, |db| db.read_chat(after.unwrap_or(u64::MAX), CHAT_READ_LIMIT)) {
                Ok((lines, head)) => ChatNews::Read { lines, head },
                Err(e) => ChatNews::ReadFailed(e.to_string()),
            };
            replies.push(Reply::Chat(reply, news));
        }
        Work::Command(StoreCommand::Place { account_id, game, ttl_ms, avoid, reply }) => {
            let placed = step(db, &mut aborted, |db| db.place(account_id, &game, ttl_ms, avoid.as_deref()));
            replies.push(Reply::Placed(reply, placed.map_err(StoreError::Database)));
        }
        Work::Command(StoreCommand::Kick { username, reason, reply }) => {
            // A kicked player must not come straight back with a resume token.
            let kicked = step(db, &mut aborted, |db| {
                if let Some(account) = db.find_account(&username)? {
                    db.revoke_resume(account.id)?;
                }
                db.kick(&username, &reason)
            });
            replies.push(Reply::Kicked(reply, kicked.map_err(StoreError::Database)));
        }
        Work::Command(StoreCommand::IssueResume { account_id, token_hash, expires_ms, reply }) => {
            let put = step(db, &mut aborted, |db| db.put_resume(account_id, &token_hash, expires_ms));
            replies.push(Reply::Done(reply, put.map_err(StoreError::Database)));
        }
        Work::Command(StoreCommand::Resume { token_hash, spend, reply }) => {
            let found =
                step(
                    db,
                    &mut aborted,
                    |db| {
                        if spend { db.take_resume(&token_hash) } else { db.peek_resume(&token_hash) }
                    },
                );
            replies.push(Reply::Resumed(reply, found.map_err(StoreError::Database)));
        }
        Work::Command(StoreCommand::SetPassword { account_id, password_hash, reply }) => {
            let set = step(db, &mut aborted, |db| {
                db.set_password(account_id, &password_hash)?;
                db.revoke_resume(account_id)
            });
            replies.push(Reply::Done(reply, set.map_err(StoreError::Database)));
        }
        Work::Command(StoreCommand::RevokeResume { account_id }) => {
            if let Err(e) = step(db, &mut aborted, |db| db.revoke_resume(account_id)) {
                tracing::warn!(error = %e, account = account_id, "resume tokens not revoked");
            }
        }
        Work::Command(StoreCommand::Deploy { colour, reply }) => {
            let set = step(db, &mut aborted, |db| db.set_active_colour(&colour));
            replies.push(Reply::Done(reply, set.map_err(StoreError::Database)));
        }
        Work::Command(StoreCommand::Handoff { save, ttl_ms, reply }) => {
            let account_id = save.state.account_id;
            let moved = step(db, &mut aborted, |db| {
                // Only a server of the same game can take the player on.
                let game = save.state.game;
                let Some(to) = db.place(account_id, game, ttl_ms, None)?.into_iter().next() else { return Ok(None) };
                db.save_player(&save)?;
                let Some(epoch) = db.move_lease(account_id, save.epoch, &to.server_id)? else {
                    return Err(DbError::new(DbErrorKind::Fenced, "the lease moved on before the handoff"));
                };
                Ok(Some(Moved { to, epoch }))
            });
            let result = moved.map_err(|e| e.to_string());
            replies.push(Reply::HandedOff(reply, HandedOff { account_id, result }));
        }
        Work::Command(StoreCommand::Broadcast { text, reply }) => {
            let sent = step(db, &mut aborted, |db| db.broadcast(&text));
            replies.push(Reply::Broadcast(reply, sent.map_err(StoreError::Database)));
        }
        Work::Command(StoreCommand::ReleaseLease { account_id, server_id, epoch }) => {
            if let Err(e) = step(db, &mut aborted, |db| db.release_lease(account_id, &server_id, epoch)) {
                tracing::warn!(error = %e, account = account_id, "lease not released");
            }
        }
        Work::Command(StoreCommand::Register { row, exclusive }) => {
            if let Err(e) = step(db, &mut aborted, |db| db.register(&row, exclusive)) {
                tracing::warn!(error = %e, server = %row.id, "registration not written");
            }
        }
        Work::Command(StoreCommand::Leaderboard { game, limit, reply }) => {
            let leaders = step(db, &mut aborted, |db| db.leaderboard(&game, limit));
            replies.push(Reply::Leaders(reply, leaders.map_err(StoreError::Database)));
        }
        Work::Command(StoreCommand::Heartbeat(row)) => {
            if let Err(e) = step(db, &mut aborted, |db| db.heartbeat(&row)) {
                tracing::warn!(error = %e, server = %row.id, "heartbeat not written");
            }
        }
        Work::Command(StoreCommand::Cluster { reply }) => {
            let view = step(db, &mut aborted, |db| db.cluster());
            replies.push(Reply::Cluster(reply, view.map_err(StoreError::Database)));
        }
        Work::Command(StoreCommand::Shutdown) => {}
    }
    aborted.map_or(Ok(()), Err)
}

/// [`in_savepoint`] for one step of a command: the step's own result,
/// where a failure of the whole transaction is that step's error too (and
/// is kept in `aborted`, so later steps do not run).
fn step<B: Backend, T>(
    db: &mut B,
    aborted: &mut Option<DbError>,
    f: impl FnOnce(&mut B) -> Result<T, DbError>,
) -> Result<T, DbError> {
    if let Some(e) = aborted {
        return Err(e.clone());
    }
    in_savepoint(db, f).unwrap_or_else(|e| {
        *aborted = Some(e.clone());
        Err(e)
    })
}
