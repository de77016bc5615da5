//! The embedded backend: one SQLite file (rusqlite) in WAL mode, the zero
//! configuration default. Schema versions are tracked with
//! `PRAGMA user_version`; each entry of [`MIGRATIONS`] moves the database
//! one version up in its own transaction, and a database newer than this
//! binary is refused.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::backend::{Backend, DbError, DbErrorKind};
use super::{
    AccessEvent, AccountRow, ClusterView, Leader, PlayerState, ServerRow, ServerState, ServerStatus, StoreError,
    unix_millis,
};

/// Ordered migrations; index `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: accounts and the access log.
    "CREATE TABLE accounts (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT    NOT NULL,
        created_at    INTEGER NOT NULL
    );
    CREATE TABLE access_log (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms      INTEGER NOT NULL,
        event      TEXT    NOT NULL,
        account_id INTEGER,
        username   TEXT,
        peer       TEXT
    );
    CREATE INDEX access_log_account ON access_log(account_id);",
    // 2: player progress.
    "CREATE TABLE player_state (
        account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
        x          REAL    NOT NULL,
        y          REAL    NOT NULL,
        score      INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL
    );
    CREATE INDEX player_state_score ON player_state(score DESC);",
    // 3: the cluster registry and the deployment's active colour.
    "CREATE TABLE servers (
        id           TEXT    PRIMARY KEY,
        colour       TEXT    NOT NULL CHECK (colour IN ('blue', 'green')),
        build        TEXT    NOT NULL,
        public_addr  TEXT    NOT NULL,
        capacity     INTEGER NOT NULL,
        players      INTEGER NOT NULL,
        state        TEXT    NOT NULL CHECK (state IN ('starting', 'ready', 'draining', 'stopped')),
        heartbeat_ms INTEGER NOT NULL
    );
    CREATE TABLE deployment (
        id            INTEGER PRIMARY KEY CHECK (id = 1),
        active_colour TEXT    NOT NULL CHECK (active_colour IN ('blue', 'green'))
    );
    INSERT INTO deployment (id, active_colour) VALUES (1, 'blue');",
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn db_error(e: rusqlite::Error) -> DbError {
    let kind = match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            rusqlite::ErrorCode::ConstraintViolation => DbErrorKind::Constraint,
            rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::NotADatabase => DbErrorKind::Unavailable,
            _ => DbErrorKind::Other,
        },
        _ => DbErrorKind::Other,
    };
    DbError::new(kind, e.to_string())
}

/// Applies connection settings: WAL, full sync, foreign keys, busy timeout.
fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on stable storage before it is acknowledged, so an
    // acknowledged write survives kill -9 and power loss alike; batching
    // keeps the cost to one sync per batch.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// Brings the database up to [`SCHEMA_VERSION`].
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(db_error)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::TooNew { found: current, supported: SCHEMA_VERSION });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let mut run = || -> Result<(), rusqlite::Error> {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", index as i64 + 1)?;
            tx.commit()
        };
        run().map_err(db_error)?;
    }
    Ok(())
}

/// The SQLite backend: the store thread's one connection.
#[derive(Debug)]
pub struct SqliteBackend {
    conn: Connection,
}

impl SqliteBackend {
    /// Opens (creating and migrating) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path).map_err(|e| StoreError::Database(db_error(e)))?;
        configure(&conn).map_err(|e| StoreError::Database(db_error(e)))?;
        migrate(&mut conn)?;
        Ok(Self { conn })
    }

    #[cfg(test)]
    fn in_memory() -> Self {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        Self { conn }
    }

    fn exec(&mut self, sql: &str) -> Result<(), DbError> {
        self.conn.execute_batch(sql).map_err(db_error)
    }
}

impl Backend for SqliteBackend {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn reconnect(&mut self) -> Result<(), DbError> {
        Ok(())
    }

    fn begin(&mut self) -> Result<(), DbError> {
        self.exec("BEGIN IMMEDIATE")
    }

    fn commit(&mut self) -> Result<(), DbError> {
        self.exec("COMMIT")
    }

    fn rollback(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.exec("ROLLBACK");
        }
    }

    fn savepoint(&mut self) -> Result<(), DbError> {
        self.exec("SAVEPOINT command")
    }

    fn release_savepoint(&mut self) -> Result<(), DbError> {
        self.exec("RELEASE command")
    }

    fn rollback_savepoint(&mut self) -> Result<(), DbError> {
        self.exec("ROLLBACK TO command; RELEASE command")
    }

    fn create_account(&mut self, username: &str, password_hash: &str, now_s: i64) -> Result<Option<u64>, DbError> {
        // DO NOTHING on a taken name, so it fails alone rather than aborting the batch.
        let inserted = self
            .conn
            .prepare(
                "INSERT INTO accounts (username, password_hash, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(username) DO NOTHING",
            )
            .and_then(|mut stmt| stmt.execute(params![username, password_hash, now_s]))
            .map_err(db_error)?;
        Ok((inserted > 0).then(|| self.conn.last_insert_rowid() as u64))
    }

    fn find_account(&mut self, username: &str) -> Result<Option<AccountRow>, DbError> {
        self.conn
            .prepare("SELECT id, username, password_hash FROM accounts WHERE username = ?1")
            .and_then(|mut stmt| {
                stmt.query_row(params![username], |row| {
                    Ok(AccountRow {
                        id: row.get::<_, i64>(0)? as u64,
                        username: row.get(1)?,
                        password_hash: row.get(2)?,
                    })
                })
                .optional()
            })
            .map_err(db_error)
    }

    fn log_access(&mut self, event: &AccessEvent) -> Result<(), DbError> {
        self.conn
            .prepare("INSERT INTO access_log (at_ms, event, account_id, username, peer) VALUES (?1, ?2, ?3, ?4, ?5)")
            .and_then(|mut stmt| {
                stmt.execute(params![
                    event.at_ms,
                    event.kind.as_str(),
                    event.account_id.map(|id| id as i64),
                    event.username,
                    event.peer.map(|p| p.to_string()),
                ])
            })
            .map(drop)
            .map_err(db_error)
    }

    fn load_player(&mut self, account_id: u64) -> Result<Option<PlayerState>, DbError> {
        self.conn
            .prepare("SELECT x, y, score, last_seen FROM player_state WHERE account_id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row(params![account_id as i64], |row| {
                    Ok(PlayerState {
                        account_id,
                        x: row.get::<_, f64>(0)? as f32,
                        y: row.get::<_, f64>(1)? as f32,
                        score: u32::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
                        last_seen_ms: row.get(3)?,
                    })
                })
                .optional()
            })
            .map_err(db_error)
    }

    fn save_player(&mut self, state: &PlayerState) -> Result<(), DbError> {
        self.conn
            .prepare(
                "INSERT INTO player_state (account_id, x, y, score, last_seen) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(account_id) DO UPDATE SET x = excluded.x, y = excluded.y, score = excluded.score,
                 last_seen = excluded.last_seen",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    state.account_id as i64,
                    f64::from(state.x),
                    f64::from(state.y),
                    state.score,
                    state.last_seen_ms
                ])
            })
            .map(drop)
            .map_err(db_error)
    }

    fn leaderboard(&mut self, limit: u32) -> Result<Vec<Leader>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT a.username, p.score FROM player_state p JOIN accounts a ON a.id = p.account_id
                 ORDER BY p.score DESC, a.username ASC LIMIT ?1",
            )
            .map_err(db_error)?;
        let rows = stmt
            .query_map(params![limit], |row| {
                Ok(Leader { username: row.get(0)?, score: u32::try_from(row.get::<_, i64>(1)?).unwrap_or(0) })
            })
            .map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)
    }

    fn heartbeat(&mut self, row: &ServerRow) -> Result<(), DbError> {
        self.conn
            .prepare(
                "INSERT INTO servers (id, colour, build, public_addr, capacity, players, state, heartbeat_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(id) DO UPDATE SET colour = excluded.colour, build = excluded.build,
                 public_addr = excluded.public_addr, capacity = excluded.capacity, players = excluded.players,
                 state = excluded.state, heartbeat_ms = excluded.heartbeat_ms",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    row.id,
                    row.colour,
                    row.build,
                    row.public_addr,
                    row.capacity,
                    row.players,
                    row.state.as_str(),
                    unix_millis()
                ])
            })
            .map(drop)
            .map_err(db_error)
    }

    fn cluster(&mut self) -> Result<ClusterView, DbError> {
        let active_colour: String = self
            .conn
            .query_row("SELECT active_colour FROM deployment WHERE id = 1", [], |r| r.get(0))
            .map_err(db_error)?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, colour, build, public_addr, capacity, players, state, ?1 - heartbeat_ms
                 FROM servers ORDER BY id",
            )
            .map_err(db_error)?;
        let rows = stmt
            .query_map(params![unix_millis()], |r| {
                Ok(ServerStatus {
                    row: ServerRow {
                        id: r.get(0)?,
                        colour: r.get(1)?,
                        build: r.get(2)?,
                        public_addr: r.get(3)?,
                        capacity: r.get(4)?,
                        players: r.get(5)?,
                        state: ServerState::parse(&r.get::<_, String>(6)?).unwrap_or(ServerState::Stopped),
                    },
                    heartbeat_age_ms: r.get(7)?,
                })
            })
            .map_err(db_error)?;
        let servers = rows.collect::<Result<_, _>>().map_err(db_error)?;
        Ok(ClusterView { active_colour, servers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_from_empty_and_is_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn refuses_a_newer_database() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        assert!(matches!(migrate(&mut conn), Err(StoreError::TooNew { .. })));
    }

    #[test]
    fn a_broken_foreign_key_is_a_constraint_error_and_rolls_back_alone() {
        let mut db = SqliteBackend::in_memory();
        db.begin().unwrap();
        db.savepoint().unwrap();
        let state = PlayerState { account_id: 42, x: 1.0, y: 2.0, score: 3, last_seen_ms: 0 };
        let error = db.save_player(&state).unwrap_err();
        assert_eq!(error.kind, DbErrorKind::Constraint, "{error}");
        db.rollback_savepoint().unwrap();
        db.savepoint().unwrap();
        assert_eq!(db.create_account("alice", "h", 0).unwrap(), Some(1));
        assert_eq!(db.create_account("ALICE", "h", 0).unwrap(), None, "names are case-insensitive");
        db.release_savepoint().unwrap();
        db.commit().unwrap();
        assert_eq!(db.find_account("Alice").unwrap().map(|a| a.id), Some(1));
        assert_eq!(db.load_player(42).unwrap(), None);
    }
}
