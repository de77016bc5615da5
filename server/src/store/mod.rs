//! Persistence: one named thread owns the database connection.
//!
//! Other threads talk to it only through [`StoreHandle`], which puts typed
//! [`StoreCommand`]s on a bounded crossbeam channel and never blocks: a full
//! queue is an error the caller handles ([`StoreError::Busy`]). The writer
//! drains whatever is queued, commits it in one transaction, and only then
//! answers — so an acknowledged write is on disk.
//!
//! The SQL is a [`backend::Backend`]: embedded SQLite ([`sqlite`], the
//! default, a file in the data dir) or a shared PostgreSQL ([`postgres`]),
//! chosen by a [`DatabaseUrl`]. Everything above the backend — the queue,
//! batching, savepoints, retries, answers — is the same for both.

pub mod backend;
mod outbox;
pub mod postgres;
pub mod replication;
pub mod sqlite;
mod url;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, TrySendError};
use tokio::sync::oneshot;

pub use backend::{DbError, DbErrorKind};
pub use outbox::{StoreOutbox, StoreSet, install};
pub use url::{DatabaseUrl, UrlError};

use crate::metrics::Histogram;

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "tickforge.db";

/// Commands queued before callers see [`StoreError::Busy`].
pub const QUEUE_CAPACITY: usize = 4096;

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error (or could not be reached).
    #[error("database error: {0}")]
    Database(#[from] DbError),
    /// The database was written by a newer Tickforge.
    #[error("database schema version {found} is newer than this server supports ({supported})")]
    TooNew {
        /// Version on disk.
        found: i64,
        /// Version this binary knows.
        supported: i64,
    },
    /// The command queue is full; try again later.
    #[error("store queue is full")]
    Busy,
    /// The store thread has stopped.
    #[error("store is shut down")]
    Closed,
    /// A username that already exists.
    #[error("username is taken")]
    UsernameTaken,
    /// The store thread could not be started.
    #[error("cannot start store thread: {0}")]
    Spawn(std::io::Error),
    /// No answer within the deadline (the database is stalled or slow).
    #[error("the database did not answer within {0:?}")]
    Deadline(std::time::Duration),
}

impl StoreError {
    /// Whether the database could not be reached (try again shortly).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Database(e) if e.is_unavailable())
    }
}

/// A stored account, as the auth API needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    /// Stable account id (also the netcode client id).
    pub id: u64,
    /// Name as registered.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
}

/// What happened, for the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKind {
    /// An account was created.
    Register,
    /// Correct credentials; a connect token was issued.
    LoginOk,
    /// Wrong password or unknown account.
    LoginFailed,
    /// Refused without checking: the account or address is locked out.
    LoginLocked,
    /// Logged in again with a resume token (no password).
    Resume,
    /// A client completed the UDP handshake.
    Connect,
    /// A client left or was dropped.
    Disconnect,
}

impl AccessKind {
    /// The name stored in the `event` column.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessKind::Register => "register",
            AccessKind::LoginOk => "login_ok",
            AccessKind::LoginFailed => "login_failed",
            AccessKind::LoginLocked => "login_locked",
            AccessKind::Resume => "resume",
            AccessKind::Connect => "connect",
            AccessKind::Disconnect => "disconnect",
        }
    }
}

/// One access-log row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEvent {
    /// What happened.
    pub kind: AccessKind,
    /// The account, when known.
    pub account_id: Option<u64>,
    /// The name given (also for failed logins of unknown names).
    pub username: Option<String>,
    /// The peer's address.
    pub peer: Option<SocketAddr>,
    /// Unix time in milliseconds.
    pub at_ms: i64,
    /// How many attempts the row stands for (refusals are summed; 1 otherwise).
    pub repeats: u32,
}

impl AccessEvent {
    /// An event stamped with the current wall-clock time.
    pub fn now(kind: AccessKind, account_id: Option<u64>, username: Option<&str>, peer: Option<SocketAddr>) -> Self {
        Self { kind, account_id, username: username.map(str::to_owned), peer, at_ms: unix_millis(), repeats: 1 }
    }
}

/// Current Unix time in milliseconds.
pub fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A player's persisted state in one game (a database row, not a
/// component): the game's own document, which the store keeps whole and
/// never reads, and its rank on the game's leaderboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerState {
    /// Whose.
    pub account_id: u64,
    /// Which game's state.
    pub game: &'static str,
    /// The game's state, as JSON.
    pub document: String,
    /// The leaderboard's key (higher is better).
    pub rank: i64,
    /// Unix milliseconds of the last save.
    pub last_seen_ms: i64,
}

/// A write of a player's state by the server holding its lease.
///
/// The database refuses it (a [`DbErrorKind::Fenced`] error) unless `epoch`
/// is the account's current lease epoch: a server that lost the lease can
/// never overwrite what the new holder saves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerSave {
    /// The state.
    pub state: PlayerState,
    /// The lease epoch it was written under.
    pub epoch: i64,
    /// The player left this server: the same write releases the lease, so
    /// the next holder loads exactly this state.
    pub release: bool,
}

/// What a claim of a player's lease found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This server holds the lease now, under `epoch`; `saved` is the
    /// player's saved state (`None` for a first visit).
    Granted {
        /// The new lease epoch.
        epoch: i64,
        /// The saved state.
        saved: Option<PlayerState>,
    },
    /// A live server holds it; it has been asked to save and let go.
    Held {
        /// The holder's id.
        by: String,
    },
}

/// The answer to [`StoreCommand::ClaimPlayer`], delivered to the tick loop's inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// Whose lease.
    pub account_id: u64,
    /// What the claim found, or why it could not be made.
    pub result: Result<Claim, String>,
}

/// An order for one app server, from the commands table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerCommand {
    /// Disconnect this player, telling it why.
    Kick {
        /// Whose avatar.
        account_id: u64,
        /// Shown to the player.
        reason: String,
    },
    /// A notice to every player on the server.
    Broadcast {
        /// The text.
        text: String,
    },
    /// The player logged in elsewhere: save it, drop it, release its lease.
    Release {
        /// Whose lease.
        account_id: u64,
    },
}

/// The answer to [`StoreCommand::PollCommands`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Polled {
    /// Orders for this server, oldest first.
    pub commands: Vec<ServerCommand>,
    /// Players (and the epochs) whose saves the database refused since the
    /// last poll: this server no longer holds their lease.
    pub fenced: Vec<(u64, i64)>,
    /// The colour new logins go to (`None` if it could not be read).
    pub active_colour: Option<String>,
}

/// A chat line as the cluster relays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    /// The sender's account.
    pub account_id: u64,
    /// The sender's name, as receivers see it.
    pub from: String,
    /// The line (checked and cut to the protocol limit already).
    pub text: String,
    /// The sender's own number for the line: a line sent again (after a
    /// reconnect, to another server) carries the same, and is taken once.
    pub client_seq: u64,
}

/// What the store tells the chat relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatNews {
    /// Lines appended under ids `first`, `first + 1`, … (committed).
    Posted {
        /// The first line's id.
        first: u64,
        /// The lines, in order.
        lines: Vec<ChatLine>,
        /// Lines of the post the database already had (said again after a
        /// reconnect): not appended again.
        duplicates: Vec<ChatLine>,
    },
    /// Lines not appended (the database failed): the relay tries again.
    NotPosted {
        /// The lines, in order.
        lines: Vec<ChatLine>,
        /// Why.
        error: String,
    },
    /// Lines read after the relay's position, oldest first, and the newest
    /// id in the database (where a relay that just started begins).
    Read {
        /// (id, line) pairs.
        lines: Vec<(u64, ChatLine)>,
        /// The newest id.
        head: u64,
    },
    /// The read failed; the next one will catch up.
    ReadFailed(String),
}

/// The answer to [`StoreCommand::Handoff`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandedOff {
    /// Whose.
    pub account_id: u64,
    /// Where the lease went (`None`: no room anywhere, nothing moved), or
    /// why the handoff failed (nothing moved either).
    pub result: Result<Option<Moved>, String>,
}

/// A lease a handoff moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The server that holds it now.
    pub to: Placement,
    /// Its new epoch (the target's saves go under it).
    pub epoch: i64,
}

/// One server a login may use, as the director chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Registry id.
    pub server_id: String,
    /// Game address for the token.
    pub public_addr: String,
    /// Its WebSocket URL (empty: it serves none).
    pub ws_url: String,
}

/// One leaderboard line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Leader {
    /// Account name.
    pub username: String,
    /// Its rank (the game's score).
    pub score: i64,
}

/// Where an app server is in its life, as the registry shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// Bound, not yet ticking.
    Starting,
    /// Ticking and taking players.
    Ready,
    /// Ticking, moving its players away, taking none.
    Draining,
    /// Shut down cleanly.
    Stopped,
}

impl ServerState {
    /// The name stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerState::Starting => "starting",
            ServerState::Ready => "ready",
            ServerState::Draining => "draining",
            ServerState::Stopped => "stopped",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "starting" => Some(ServerState::Starting),
            "ready" => Some(ServerState::Ready),
            "draining" => Some(ServerState::Draining),
            "stopped" => Some(ServerState::Stopped),
            _ => None,
        }
    }
}

/// An app server's registry row (a database row, not a component).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRow {
    /// Stable server id.
    pub id: String,
    /// Deployment colour: "blue" or "green".
    pub colour: String,
    /// Version of the binary.
    pub build: String,
    /// The game address clients connect to.
    pub public_addr: String,
    /// Where browsers reach it (`ws://…/ws`; empty: nowhere).
    pub ws_url: String,
    /// The game it runs ([`crate::api::Game::NAME`]).
    pub game: String,
    /// Most players it takes.
    pub capacity: u32,
    /// Players on it now.
    pub players: u32,
    /// Where it is in its life.
    pub state: ServerState,
}

/// A registry row as read back, with its heartbeat's age by the database's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStatus {
    /// The row.
    pub row: ServerRow,
    /// Milliseconds since its last heartbeat.
    pub heartbeat_age_ms: i64,
}

/// The registry and the deployment, read in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterView {
    /// The colour new logins go to.
    pub active_colour: String,
    /// Every registered server, by id.
    pub servers: Vec<ServerStatus>,
}

/// Requests the store thread serves.
#[derive(Debug)]
pub enum StoreCommand {
    /// Create an account; answers its id or [`StoreError::UsernameTaken`].
    CreateAccount {
        /// Name to register.
        username: String,
        /// Argon2id PHC string.
        password_hash: String,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    /// Look an account up by name (case-insensitive).
    FindAccount {
        /// Name to find.
        username: String,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<Option<AccountRow>, StoreError>>,
    },
    /// Append an access-log row.
    LogAccess(AccessEvent),
    /// Take a player's lease for `server_id` and read its saved state, in
    /// one transaction; the answer goes to `reply` (the tick loop polls it,
    /// never waits on it).
    ClaimPlayer {
        /// Whose.
        account_id: u64,
        /// The claiming server.
        server_id: String,
        /// The game whose state is read.
        game: &'static str,
        /// The tick loop's inbox.
        reply: crossbeam_channel::Sender<Claimed>,
    },
    /// Let go of a lease this server holds with no player behind it (at
    /// `epoch`, or whatever epoch when `None`).
    ReleaseLease {
        /// Whose lease.
        account_id: u64,
        /// The holder letting go.
        server_id: String,
        /// Only this epoch.
        epoch: Option<i64>,
    },
    /// Upsert player states (newest wins), fenced by their lease epochs.
    SavePlayers(Vec<PlayerSave>),
    /// A game's best ranks.
    Leaderboard {
        /// Which game's.
        game: String,
        /// How many lines.
        limit: u32,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<Vec<Leader>, StoreError>>,
    },
    /// Upsert this server's registry row (stamped with the database's
    /// clock); a failed heartbeat is not retried, the next one replaces it.
    Heartbeat(ServerRow),
    /// A server starts: its first registry row; its old leases and orders
    /// (from a previous life under the same id) are dropped. `exclusive`
    /// (a single-process server, alone on its database) drops every lease.
    Register {
        /// The row.
        row: ServerRow,
        /// Whether no other server shares the database.
        exclusive: bool,
    },
    /// Appends chat lines to the cluster's chat (one sequence of ids for
    /// every server, gapless and in commit order).
    PostChat {
        /// The lines, in the order they arrived.
        lines: Vec<ChatLine>,
        /// The relay's inbox.
        reply: crossbeam_channel::Sender<ChatNews>,
    },
    /// Reads the cluster's chat after id `after` (`None`: nothing, only
    /// the newest id).
    ReadChat {
        /// The relay's position.
        after: Option<u64>,
        /// The relay's inbox.
        reply: crossbeam_channel::Sender<ChatNews>,
    },
    /// Take this server's orders from the commands table (and report fenced saves).
    PollCommands {
        /// The server.
        server_id: String,
        /// The tick loop's inbox.
        reply: crossbeam_channel::Sender<Polled>,
    },
    /// The director: choose up to three servers for a login and reserve a
    /// slot on the first until `ttl_ms` from now.
    Place {
        /// Who is logging in.
        account_id: u64,
        /// The game to play.
        game: String,
        /// How long the reservation lasts (the token's lifetime).
        ttl_ms: i64,
        /// The address of a server the client could not reach (it comes last).
        avoid: Option<String>,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<Vec<Placement>, StoreError>>,
    },
    /// Order whichever server holds the player to kick it (and revoke its
    /// resume tokens); answers the holder's id (`None`: the player is not
    /// playing anywhere).
    Kick {
        /// Account name (any case).
        username: String,
        /// Shown to the player.
        reason: String,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<Option<String>, StoreError>>,
    },
    /// Set the colour new logins go to (blue-green); servers of the other
    /// colour learn it with their next poll and drain.
    Deploy {
        /// "blue" or "green".
        colour: String,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// A draining server hands a player over: in one transaction the
    /// director chooses a server of the active colour, the exact state is
    /// saved under the current lease, and the lease moves to the chosen
    /// server under a new epoch. The transfer token carries both, so the
    /// target starts the player without asking the database again.
    Handoff {
        /// The frozen state, under the lease the draining server holds.
        save: PlayerSave,
        /// How long the director's reservation would last (the token's
        /// lifetime); the moved lease replaces it in the same transaction.
        ttl_ms: i64,
        /// The tick loop's inbox.
        reply: crossbeam_channel::Sender<HandedOff>,
    },
    /// Store a resume token's hash for an account until `expires_ms`;
    /// answers once it is committed.
    IssueResume {
        /// Whose.
        account_id: u64,
        /// The token's hash (the token itself is never stored).
        token_hash: String,
        /// Unix milliseconds after which it is refused.
        expires_ms: i64,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Spend a resume token: if it is stored and unexpired, delete it (a
    /// token works once; the answer to a resume carries a new one) and
    /// answer the account. Without `spend`, only look: the token stays.
    Resume {
        /// The token's hash.
        token_hash: String,
        /// Delete it (the resume goes ahead), or only say whose it is.
        spend: bool,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<Option<AccountRow>, StoreError>>,
    },
    /// Set an account's password hash and revoke its resume tokens, in one
    /// transaction; answers once committed.
    SetPassword {
        /// Whose.
        account_id: u64,
        /// The new argon2id PHC string.
        password_hash: String,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Revoke every resume token of an account (a kick, a logout, a new password).
    RevokeResume {
        /// Whose.
        account_id: u64,
    },
    /// Order every live server to show a notice; answers how many.
    Broadcast {
        /// The text.
        text: String,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<u32, StoreError>>,
    },
    /// Read the registry and the active colour.
    Cluster {
        /// Where the answer goes.
        reply: oneshot::Sender<Result<ClusterView, StoreError>>,
    },
    /// Finish everything queued before this, then stop.
    Shutdown,
}

/// A command the store queue did not take, handed back to the caller.
#[derive(Debug)]
pub struct Refused {
    /// True if the store has stopped; false if its queue is only full.
    pub closed: bool,
    /// The command, to retry or report.
    pub command: Box<StoreCommand>,
}

impl Refused {
    /// The matching error.
    pub fn error(&self) -> StoreError {
        if self.closed { StoreError::Closed } else { StoreError::Busy }
    }
}

/// A registry row whose heartbeat is older than this (by the database's
/// clock) belongs to a dead server: placement skips it, its leases may be
/// taken, orders are not addressed to it.
pub const DEAD_AFTER_MS: i64 = 5_000;

/// How long a caller waits for the store's answer before giving up, by default.
pub const DEFAULT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Cheap, cloneable sender side of the store. Its async requests wait at
/// most the store deadline, so they need a Tokio runtime with its timer.
#[derive(Debug, Clone)]
pub struct StoreHandle {
    tx: Sender<StoreCommand>,
    /// The database cluster's health (PostgreSQL only).
    watched: Option<Arc<replication::Watched>>,
    /// How long an async caller waits for an answer.
    deadline: std::time::Duration,
    metrics: Arc<StoreMetrics>,
}

impl StoreHandle {
    /// Queues a command without blocking; a refused command comes back.
    pub fn try_send(&self, command: StoreCommand) -> Result<(), Refused> {
        self.tx.try_send(command).map_err(|e| match e {
            TrySendError::Full(c) => Refused { closed: false, command: Box::new(c) },
            TrySendError::Disconnected(c) => Refused { closed: true, command: Box::new(c) },
        })
    }

    /// The same store, answering async callers within `deadline`.
    pub fn with_deadline(mut self, deadline: std::time::Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Queues the command `make` builds around a reply channel and waits for
    /// the answer, at most the deadline: a commit that waits on a standby
    /// that does not stream, or a database that hangs, gives
    /// [`StoreError::Deadline`] (counted) rather than an answer never. The
    /// command itself stays queued and runs when the store gets to it.
    /// (The asking runtime needs Tokio's timer enabled.)
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> StoreCommand,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.try_send(make(reply)).map_err(|r| r.error())?;
        match tokio::time::timeout(self.deadline, rx).await {
            Ok(answer) => answer.map_err(|_| StoreError::Closed)?,
            Err(_) => {
                self.metrics.deadline_exceeded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Err(StoreError::Deadline(self.deadline))
            }
        }
    }

    /// Creates an account and waits (asynchronously) for the commit.
    pub async fn create_account(&self, username: &str, password_hash: String) -> Result<u64, StoreError> {
        let username = username.to_owned();
        self.ask(|reply| StoreCommand::CreateAccount { username, password_hash, reply }).await
    }

    /// `game`'s top `limit` ranks.
    pub async fn leaderboard(&self, game: &str, limit: u32) -> Result<Vec<Leader>, StoreError> {
        let game = game.to_owned();
        self.ask(|reply| StoreCommand::Leaderboard { game, limit, reply }).await
    }

    /// The registry and the active colour.
    pub async fn cluster(&self) -> Result<ClusterView, StoreError> {
        self.ask(|reply| StoreCommand::Cluster { reply }).await
    }

    /// The director's choice for `account_id` to play `game`, with a slot
    /// reserved for `ttl`; a server at `avoid` (unreachable for the client)
    /// comes last.
    pub async fn place(
        &self,
        account_id: u64,
        game: &str,
        ttl: std::time::Duration,
        avoid: Option<String>,
    ) -> Result<Vec<Placement>, StoreError> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let game = game.to_owned();
        self.ask(|reply| StoreCommand::Place { account_id, game, ttl_ms, avoid, reply }).await
    }

    /// Orders the holder of `username`'s lease to kick it; answers the holder.
    pub async fn kick(&self, username: &str, reason: &str) -> Result<Option<String>, StoreError> {
        let (username, reason) = (username.to_owned(), reason.to_owned());
        self.ask(|reply| StoreCommand::Kick { username, reason, reply }).await
    }

    /// Orders every live server to show `text`; answers how many.
    pub async fn broadcast(&self, text: &str) -> Result<u32, StoreError> {
        let text = text.to_owned();
        self.ask(|reply| StoreCommand::Broadcast { text, reply }).await
    }

    /// Stores a resume token's hash, answering once it is committed.
    pub async fn issue_resume(&self, account_id: u64, token_hash: String, expires_ms: i64) -> Result<(), StoreError> {
        self.ask(|reply| StoreCommand::IssueResume { account_id, token_hash, expires_ms, reply }).await
    }

    /// Spends a resume token (or with `spend` false, only looks at it);
    /// the account it was issued for, if valid.
    pub async fn resume(&self, token_hash: String, spend: bool) -> Result<Option<AccountRow>, StoreError> {
        self.ask(|reply| StoreCommand::Resume { token_hash, spend, reply }).await
    }

    /// Changes an account's password hash (revoking its resume tokens).
    pub async fn set_password(&self, account_id: u64, password_hash: String) -> Result<(), StoreError> {
        self.ask(|reply| StoreCommand::SetPassword { account_id, password_hash, reply }).await
    }

    /// Sets the active colour.
    pub async fn deploy(&self, colour: &str) -> Result<(), StoreError> {
        let colour = colour.to_owned();
        self.ask(|reply| StoreCommand::Deploy { colour, reply }).await
    }

    /// The database cluster as the last look saw it: `None` for SQLite
    /// (one embedded file, nothing to replicate) and before the first look.
    pub fn database_health(&self) -> Option<replication::Health> {
        self.watched.as_ref()?.latest()
    }

    /// Whether the store is on PostgreSQL (and so watched).
    pub fn is_shared(&self) -> bool {
        self.watched.is_some()
    }

    /// Commands waiting in the queue.
    pub fn queue_depth(&self) -> usize {
        self.tx.len()
    }

    /// Finds an account by name.
    pub async fn find_account(&self, username: &str) -> Result<Option<AccountRow>, StoreError> {
        let username = username.to_owned();
        self.ask(|reply| StoreCommand::FindAccount { username, reply }).await
    }
}

/// Figures the store thread publishes.
#[derive(Debug, Default)]
pub struct StoreMetrics {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Transactions that failed.
    pub errors: AtomicU64,
    /// Writes kept for another try after a failure.
    pub retries: AtomicU64,
    /// Player-state writes the database refused: their lease had moved on.
    pub fenced: AtomicU64,
    /// Commit latency.
    pub commit_latency: Histogram,
    /// Times writes failed because the database could not be reached and
    /// later went through again.
    pub outages: AtomicU64,
    /// The last such outage as the writer saw it, from the first failed
    /// write to the first one committed after it, in milliseconds.
    pub last_outage_ms: AtomicU64,
    /// Requests whose answer did not come within the deadline.
    pub deadline_exceeded: AtomicU64,
    /// Access-log rows deleted for their age.
    pub access_log_pruned: AtomicU64,
}

/// The running store: its thread and a handle to it.
#[derive(Debug)]
pub struct Store {
    handle: StoreHandle,
    metrics: Arc<StoreMetrics>,
    thread: Option<JoinHandle<()>>,
    /// The replication watch (PostgreSQL only); stops with the store.
    _watch: Option<replication::Watch>,
}

/// How a store runs, beyond where its data is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// How long async callers wait for an answer ([`StoreHandle::with_deadline`]).
    pub deadline: std::time::Duration,
    /// How long access-log rows are kept (`None`: for ever).
    pub access_log_retention: Option<std::time::Duration>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { deadline: DEFAULT_DEADLINE, access_log_retention: None }
    }
}

impl Store {
    /// Connects to the database `url` names (creating and migrating it)
    /// and starts the writer thread, with the default options.
    pub fn open(url: &DatabaseUrl) -> Result<Self, StoreError> {
        Self::open_with(url, StoreOptions::default())
    }

    /// [`Store::open`] with `options`.
    pub fn open_with(url: &DatabaseUrl, options: StoreOptions) -> Result<Self, StoreError> {
        match url {
            DatabaseUrl::Sqlite(path) => Self::start(sqlite::SqliteBackend::open(path)?, None, options),
            DatabaseUrl::Postgres(config) => {
                let backend = postgres::PgBackend::connect(config)?;
                let watched = Arc::new(replication::Watched::default());
                let watch = replication::Watch::start(config, watched.clone())?;
                Self::start(backend, Some((watch, watched)), options)
            }
        }
    }

    fn start(
        backend: impl backend::Backend + 'static,
        watch: Option<(replication::Watch, Arc<replication::Watched>)>,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = crossbeam_channel::bounded(QUEUE_CAPACITY);
        let metrics = Arc::new(StoreMetrics::default());
        let thread_metrics = metrics.clone();
        let retention = options.access_log_retention;
        let thread = std::thread::Builder::new()
            .name("tickforge-store".into())
            .spawn(move || writer::run(backend, rx, &thread_metrics, retention))
            .map_err(StoreError::Spawn)?;
        let (watch, watched) = watch.unzip();
        let handle = StoreHandle { tx, watched, deadline: options.deadline, metrics: metrics.clone() };
        Ok(Self { handle, metrics, thread: Some(thread), _watch: watch })
    }

    /// A sender for other threads.
    pub fn handle(&self) -> StoreHandle {
        self.handle.clone()
    }

    /// Commit counters and latency.
    pub fn metrics(&self) -> Arc<StoreMetrics> {
        self.metrics.clone()
    }

    /// Flushes everything queued so far and stops the thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            // A blocking send is right here: shutdown must not lose queued writes.
            let _ = self.handle.tx.send(StoreCommand::Shutdown);
            let _ = thread.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player(account_id: u64, x: f32, epoch: i64) -> PlayerSave {
        let document = format!(r#"{{"x":{x}}}"#);
        let state = PlayerState { account_id, game: "arena", document, rank: 2, last_seen_ms: unix_millis() };
        PlayerSave { state, epoch, release: false }
    }

    fn claim(handle: &StoreHandle, account_id: u64) -> Claimed {
        let (reply, rx) = crossbeam_channel::unbounded();
        handle
            .try_send(StoreCommand::ClaimPlayer { account_id, server_id: "app-1".into(), game: "arena", reply })
            .unwrap();
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap()
    }

    #[test]
    fn a_failing_write_fails_alone_and_everything_else_commits() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&DatabaseUrl::in_data_dir(dir.path())).unwrap();
        let handle = store.handle();
        let (reply, created) = oneshot::channel();
        // Account 999 does not exist (nor its lease): its save is refused.
        handle.try_send(StoreCommand::SavePlayers(vec![player(999, 5.0, 1)])).unwrap();
        handle
            .try_send(StoreCommand::CreateAccount { username: "alice".into(), password_hash: "h".into(), reply })
            .unwrap();
        handle.try_send(StoreCommand::LogAccess(AccessEvent::now(AccessKind::Connect, Some(1), None, None))).unwrap();
        let id = created.blocking_recv().unwrap().unwrap();
        let Ok(Claim::Granted { epoch, saved: None }) = claim(&handle, id).result else { panic!("not granted") };
        handle.try_send(StoreCommand::SavePlayers(vec![player(id, 7.0, epoch)])).unwrap();
        let Ok(Claim::Granted { saved, .. }) = claim(&handle, id).result else { panic!("not granted") };
        assert_eq!(saved.map(|s| s.document), Some(r#"{"x":7}"#.into()));
        let metrics = store.metrics();
        store.shutdown();

        let db = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        let rows: i64 = db.query_row("SELECT COUNT(*) FROM access_log", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 1);
        let players: i64 = db.query_row("SELECT COUNT(*) FROM game_state", [], |r| r.get(0)).unwrap();
        assert_eq!(players, 1, "only the valid save");
        assert_eq!(metrics.fenced.load(std::sync::atomic::Ordering::Relaxed), 1, "the bad save was refused for good");
    }
}
