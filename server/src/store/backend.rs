//! The seam between the store thread and a database: [`Backend`] is all the
//! SQL the store speaks, one implementation per dialect ([`super::sqlite`],
//! [`super::postgres`]). The writer thread (batching, savepoints, retries,
//! answers) is the same for both; only what is behind this trait differs.
//! Errors come back backend-neutral ([`DbError`]): what failed, and whether
//! trying again later can help.

use super::{AccessEvent, AccountRow, ClusterView, Leader, PlayerState, ServerRow};

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
    /// A player's saved state, if any.
    fn load_player(&mut self, account_id: u64) -> Result<Option<PlayerState>, DbError>;
    /// Inserts or replaces a player's saved state.
    fn save_player(&mut self, state: &PlayerState) -> Result<(), DbError>;
    /// The best saved scores, best first (ties by name).
    fn leaderboard(&mut self, limit: u32) -> Result<Vec<Leader>, DbError>;
    /// Upserts a registry row, its heartbeat stamped with the database's clock.
    fn heartbeat(&mut self, row: &ServerRow) -> Result<(), DbError>;
    /// The registry (ages by the same clock) and the active colour.
    fn cluster(&mut self) -> Result<ClusterView, DbError>;
}
