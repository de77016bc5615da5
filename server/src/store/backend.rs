//! The seam between the store thread and a database: [`Backend`] is all the
//! SQL the store speaks, one implementation per dialect ([`super::sqlite`],
//! [`super::postgres`]). The writer thread (batching, savepoints, retries,
//! answers) is the same for both; only what is behind this trait differs.
//! Errors come back backend-neutral ([`DbError`]): what failed, and whether
//! trying again later can help.

use super::{
    AccessEvent, AccountRow, ChatLine, Claim, ClusterView, Leader, Placement, PlayerSave, ServerCommand, ServerRow,
};

/// A database failure, as the rest of the server sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DbError {
    /// What kind of failure.
    pub kind: DbErrorKind,
    /// The database's own words (never a password or a hash).
    pub message: String,
}

/// Kinds of [`DbError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// The database cannot be reached (connection refused or lost, server
    /// shutting down): nothing was written; the same work may succeed later.
    Unavailable,
    /// The statement broke a rule of the schema (a foreign key, a check):
    /// this write will fail however often it is tried.
    Constraint,
    /// A player-state write under a lease epoch that is no longer current:
    /// another server holds the player now; refused for good.
    Fenced,
    /// Anything else (disk full, I/O error, a bug): it may pass on retry.
    Other,
}

impl DbError {
    /// A failure of `kind` with `message`.
    pub fn new(kind: DbErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// Whether the database could not be reached at all.
    pub fn is_unavailable(&self) -> bool {
        self.kind == DbErrorKind::Unavailable
    }
}

/// The SQL the store thread runs, for one database. Every call except
/// [`Backend::begin`] and [`Backend::reconnect`] runs inside the open
/// transaction.
pub trait Backend: Send {
    /// A name for logs ("sqlite", "postgres").
    fn name(&self) -> &'static str;
    /// Makes sure there is a working connection (after
    /// [`DbErrorKind::Unavailable`]); a no-op where there is nothing to lose.
    fn reconnect(&mut self) -> Result<(), DbError>;
    /// Starts a transaction.
    fn begin(&mut self) -> Result<(), DbError>;
    /// Commits it; only then is anything acknowledged.
    fn commit(&mut self) -> Result<(), DbError>;
    /// Abandons it (best effort: a lost connection has abandoned it already).
    fn rollback(&mut self);
    /// Opens a savepoint, so one command can fail alone.
    fn savepoint(&mut self) -> Result<(), DbError>;
    /// Keeps what was done since the savepoint.
    fn release_savepoint(&mut self) -> Result<(), DbError>;
    /// Undoes what was done since the savepoint.
    fn rollback_savepoint(&mut self) -> Result<(), DbError>;

    /// Creates an account; `None` when the name (case-insensitively) is taken.
    fn create_account(&mut self, username: &str, password_hash: &str, now_s: i64) -> Result<Option<u64>, DbError>;
    /// Finds an account by name, case-insensitively.
    fn find_account(&mut self, username: &str) -> Result<Option<AccountRow>, DbError>;
    /// Appends an access-log row.
    fn log_access(&mut self, event: &AccessEvent) -> Result<(), DbError>;
    /// Deletes up to `limit` access-log rows older than `before_ms`, oldest
    /// first; answers how many went.
    fn prune_access_log(&mut self, before_ms: i64, limit: u32) -> Result<u64, DbError>;
    /// Takes `account_id`'s lease for `server_id` (a new epoch) and reads its
    /// saved state in `game` — unless a live other server holds it, which
    /// is then ordered to release it.
    fn claim_player(&mut self, account_id: u64, server_id: &str, game: &'static str) -> Result<Claim, DbError>;
    /// Lets go of `server_id`'s lease on `account_id` (only at `epoch`, if given).
    fn release_lease(&mut self, account_id: u64, server_id: &str, epoch: Option<i64>) -> Result<(), DbError>;
    /// Inserts or replaces a player's saved state (the database refuses a
    /// stale epoch); with `release`, lets go of the lease too.
    fn save_player(&mut self, save: &PlayerSave) -> Result<(), DbError>;
    /// `game`'s best ranks, best first (ties by name).
    fn leaderboard(&mut self, game: &str, limit: u32) -> Result<Vec<Leader>, DbError>;
    /// Upserts a registry row, its heartbeat stamped with the database's clock.
    fn heartbeat(&mut self, row: &ServerRow) -> Result<(), DbError>;
    /// A server's first row: upserts it and drops the leases and orders of
    /// its previous life (every lease, when `exclusive`).
    fn register(&mut self, row: &ServerRow, exclusive: bool) -> Result<(), DbError>;
    /// The registry (ages by the same clock) and the active colour.
    fn cluster(&mut self) -> Result<ClusterView, DbError>;
    /// Takes (deletes and returns) a server's orders, oldest first.
    fn take_commands(&mut self, server_id: &str) -> Result<Vec<ServerCommand>, DbError>;
    /// The director: up to three fresh `ready` servers of the active colour
    /// running `game`, with room, least loaded first; reserves a slot on the
    /// first for `ttl_ms`. A server at the address `avoid` (one the client
    /// could not reach) comes last. Empty: no room anywhere.
    fn place(
        &mut self,
        account_id: u64,
        game: &str,
        ttl_ms: i64,
        avoid: Option<&str>,
    ) -> Result<Vec<Placement>, DbError>;
    /// Orders the holder of `username`'s lease to kick it; the holder's id.
    fn kick(&mut self, username: &str, reason: &str) -> Result<Option<String>, DbError>;
    /// Orders every live server to show `text`; how many were ordered.
    fn broadcast(&mut self, text: &str) -> Result<u32, DbError>;
    /// Stores a resume token hash (and drops expired ones).
    fn put_resume(&mut self, account_id: u64, token_hash: &str, expires_ms: i64) -> Result<(), DbError>;
    /// Deletes the token if stored; its account if it was also unexpired.
    fn take_resume(&mut self, token_hash: &str) -> Result<Option<AccountRow>, DbError>;
    /// The account of a stored, unexpired token, leaving it stored.
    fn peek_resume(&mut self, token_hash: &str) -> Result<Option<AccountRow>, DbError>;
    /// Replaces an account's password hash.
    fn set_password(&mut self, account_id: u64, password_hash: &str) -> Result<(), DbError>;
    /// Deletes every resume token of the account.
    fn revoke_resume(&mut self, account_id: u64) -> Result<(), DbError>;
    /// The colour new logins go to.
    fn active_colour(&mut self) -> Result<String, DbError>;
    /// Sets it.
    fn set_active_colour(&mut self, colour: &str) -> Result<(), DbError>;
    /// Moves the lease of `account_id` from `epoch` to `to` under a new
    /// epoch, which it answers (`None` if the lease is no longer at
    /// `epoch`), and drops the account's reservation (the lease counts now).
    fn move_lease(&mut self, account_id: u64, epoch: i64, to: &str) -> Result<Option<i64>, DbError>;
    /// Appends `lines` to the cluster's chat under the next ids and
    /// answers the first, and which lines were new: a line whose (account,
    /// `client_seq`) is already there (its sender said it again after a
    /// reconnect) is left out. The ids are gapless and in commit order (the
    /// head row stays locked until the transaction ends, so the writer
    /// posts last in a batch); lines more than [`CHAT_KEPT`] behind go.
    fn post_chat(&mut self, lines: &[ChatLine]) -> Result<(u64, Vec<bool>), DbError>;
    /// Up to `limit` lines after `after`, oldest first, and the newest id.
    fn read_chat(&mut self, after: u64, limit: u32) -> Result<(Vec<(u64, ChatLine)>, u64), DbError>;
}

/// Chat lines the database keeps behind the newest (a relay further
/// behind skips what is gone).
pub const CHAT_KEPT: u64 = 10_000;

/// Orders as both dialects read them from the commands table — `(id, kind,
/// account_id, text)` — oldest first; a row of an unknown kind is skipped.
pub(super) fn commands_from_rows(mut rows: Vec<(i64, String, Option<i64>, String)>) -> Vec<ServerCommand> {
    rows.sort_by_key(|row| row.0);
    rows.into_iter()
        .filter_map(|(id, kind, account, text)| {
            let account_id = account.map(|a| a as u64);
            let command = match (kind.as_str(), account_id) {
                ("kick", Some(account_id)) => ServerCommand::Kick { account_id, reason: text },
                ("broadcast", _) => ServerCommand::Broadcast { text },
                ("release", Some(account_id)) => ServerCommand::Release { account_id },
                _ => {
                    tracing::warn!(id, %kind, "skipping a malformed server command");
                    return None;
                }
            };
            Some(command)
        })
        .collect()
}
