//! The embedded backend: one SQLite file (rusqlite) in WAL mode, the zero
//! configuration default. Schema versions are tracked with
//! `PRAGMA user_version`; each entry of [`MIGRATIONS`] moves the database
//! one version up in its own transaction, and a database newer than this
//! binary is refused.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::DEAD_AFTER_MS;
use super::backend::{Backend, DbError, DbErrorKind};
use super::{
    AccessEvent, AccountRow, ChatLine, Claim, ClusterView, Leader, Placement, PlayerSave, PlayerState, ServerCommand,
    ServerRow, ServerState, ServerStatus, StoreError, unix_millis,
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
    // 4: one player, one server: leases fence player-state writes (the
    // trigger refuses a write whose epoch is not the lease's current one);
    // the director's reservations; orders for app servers.
    "CREATE TABLE leases (
        account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
        server_id  TEXT,
        epoch      INTEGER NOT NULL
    );
    CREATE INDEX leases_server ON leases(server_id);
    ALTER TABLE player_state ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
    CREATE TRIGGER player_state_fence_insert BEFORE INSERT ON player_state
    WHEN NOT EXISTS (SELECT 1 FROM leases WHERE account_id = NEW.account_id AND epoch = NEW.epoch
                     AND server_id IS NOT NULL)
    BEGIN SELECT RAISE(ABORT, 'stale lease epoch'); END;
    CREATE TRIGGER player_state_fence_update BEFORE UPDATE ON player_state
    WHEN NOT EXISTS (SELECT 1 FROM leases WHERE account_id = NEW.account_id AND epoch = NEW.epoch
                     AND server_id IS NOT NULL)
    BEGIN SELECT RAISE(ABORT, 'stale lease epoch'); END;
    CREATE TABLE reservations (
        account_id INTEGER PRIMARY KEY,
        server_id  TEXT    NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    CREATE INDEX reservations_server ON reservations(server_id);
    CREATE TABLE server_commands (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        server_id  TEXT    NOT NULL,
        kind       TEXT    NOT NULL CHECK (kind IN ('kick', 'broadcast', 'release')),
        account_id INTEGER,
        text       TEXT    NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE INDEX server_commands_server ON server_commands(server_id, id);",
    // 5: velocity, so a handoff moves a player exactly.
    "ALTER TABLE player_state ADD COLUMN vx REAL NOT NULL DEFAULT 0;
    ALTER TABLE player_state ADD COLUMN vy REAL NOT NULL DEFAULT 0;",
    // 6: resume tokens, stored hashed.
    "CREATE TABLE resume_tokens (
        token_hash TEXT    PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        expires_ms INTEGER NOT NULL
    );
    CREATE INDEX resume_tokens_account ON resume_tokens(account_id);",
    // 7: the cluster's chat: one gapless sequence of ids for every server.
    "CREATE TABLE chat_head (
        id   INTEGER PRIMARY KEY CHECK (id = 1),
        last INTEGER NOT NULL
    );
    INSERT INTO chat_head (id, last) VALUES (1, 0);
    CREATE TABLE chat (
        id         INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL,
        from_name  TEXT    NOT NULL,
        text       TEXT    NOT NULL,
        created_ms INTEGER NOT NULL
    );",
    // 8: where browsers reach a server (its WebSocket URL; empty: none).
    "ALTER TABLE servers ADD COLUMN ws_url TEXT NOT NULL DEFAULT '';",
    // 9: an access-log row may stand for several refused attempts (summed
    // while an address is locked out), rows age out by time; a chat line
    // is taken once per (account, the sender's own number for it).
    "ALTER TABLE access_log ADD COLUMN repeats INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX access_log_at ON access_log(at_ms);
    ALTER TABLE chat ADD COLUMN client_seq INTEGER;
    CREATE UNIQUE INDEX chat_sender_seq ON chat(account_id, client_seq);",
    // 10: a player's state is its game's own document (JSON), one row per
    // (account, game), ranked for the game's leaderboard; the arena's rows
    // move over as they were. `player_state` stays, mirrored both ways,
    // while servers of the previous build may still run on this database
    // (a blue-green deploy across this version): their saves land in the
    // document, their claims read it. A later migration drops it.
    "CREATE TABLE game_state (
        account_id INTEGER NOT NULL REFERENCES accounts(id),
        game       TEXT    NOT NULL,
        document   TEXT    NOT NULL CHECK (json_valid(document)),
        rank       INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        epoch      INTEGER NOT NULL,
        PRIMARY KEY (account_id, game)
    );
    CREATE INDEX game_state_rank ON game_state(game, rank DESC);
    INSERT INTO game_state (account_id, game, document, rank, last_seen, epoch)
        SELECT account_id, 'arena', json_object('x', x, 'y', y, 'vx', vx, 'vy', vy, 'score', score),
               score, last_seen, epoch FROM player_state;
    CREATE TRIGGER game_state_fence_insert BEFORE INSERT ON game_state
    WHEN NOT EXISTS (SELECT 1 FROM leases WHERE account_id = NEW.account_id AND epoch = NEW.epoch
                     AND server_id IS NOT NULL)
    BEGIN SELECT RAISE(ABORT, 'stale lease epoch'); END;
    CREATE TRIGGER game_state_fence_update BEFORE UPDATE ON game_state
    WHEN NOT EXISTS (SELECT 1 FROM leases WHERE account_id = NEW.account_id AND epoch = NEW.epoch
                     AND server_id IS NOT NULL)
    BEGIN SELECT RAISE(ABORT, 'stale lease epoch'); END;
    CREATE TRIGGER player_state_mirror_insert AFTER INSERT ON player_state
    WHEN NOT EXISTS (SELECT 1 FROM game_state g WHERE g.account_id = NEW.account_id AND g.game = 'arena'
                     AND g.last_seen = NEW.last_seen AND g.epoch = NEW.epoch)
    BEGIN
        INSERT INTO game_state (account_id, game, document, rank, last_seen, epoch)
        VALUES (NEW.account_id, 'arena',
                json_object('x', NEW.x, 'y', NEW.y, 'vx', NEW.vx, 'vy', NEW.vy, 'score', NEW.score),
                NEW.score, NEW.last_seen, NEW.epoch)
        ON CONFLICT(account_id, game) DO UPDATE SET document = excluded.document, rank = excluded.rank,
            last_seen = excluded.last_seen, epoch = excluded.epoch;
    END;
    CREATE TRIGGER player_state_mirror_update AFTER UPDATE ON player_state
    WHEN NOT EXISTS (SELECT 1 FROM game_state g WHERE g.account_id = NEW.account_id AND g.game = 'arena'
                     AND g.last_seen = NEW.last_seen AND g.epoch = NEW.epoch)
    BEGIN
        INSERT INTO game_state (account_id, game, document, rank, last_seen, epoch)
        VALUES (NEW.account_id, 'arena',
                json_object('x', NEW.x, 'y', NEW.y, 'vx', NEW.vx, 'vy', NEW.vy, 'score', NEW.score),
                NEW.score, NEW.last_seen, NEW.epoch)
        ON CONFLICT(account_id, game) DO UPDATE SET document = excluded.document, rank = excluded.rank,
            last_seen = excluded.last_seen, epoch = excluded.epoch;
    END;
    CREATE TRIGGER game_state_mirror_insert AFTER INSERT ON game_state
    WHEN NEW.game = 'arena' AND NOT EXISTS (SELECT 1 FROM player_state p WHERE p.account_id = NEW.account_id
                     AND p.last_seen = NEW.last_seen AND p.epoch = NEW.epoch)
    BEGIN
        INSERT INTO player_state (account_id, x, y, score, last_seen, epoch, vx, vy)
        VALUES (NEW.account_id, COALESCE(NEW.document ->> 'x', 0), COALESCE(NEW.document ->> 'y', 0),
                COALESCE(NEW.document ->> 'score', 0), NEW.last_seen, NEW.epoch,
                COALESCE(NEW.document ->> 'vx', 0), COALESCE(NEW.document ->> 'vy', 0))
        ON CONFLICT(account_id) DO UPDATE SET x = excluded.x, y = excluded.y, score = excluded.score,
            last_seen = excluded.last_seen, epoch = excluded.epoch, vx = excluded.vx, vy = excluded.vy;
    END;
    CREATE TRIGGER game_state_mirror_update AFTER UPDATE ON game_state
    WHEN NEW.game = 'arena' AND NOT EXISTS (SELECT 1 FROM player_state p WHERE p.account_id = NEW.account_id
                     AND p.last_seen = NEW.last_seen AND p.epoch = NEW.epoch)
    BEGIN
        INSERT INTO player_state (account_id, x, y, score, last_seen, epoch, vx, vy)
        VALUES (NEW.account_id, COALESCE(NEW.document ->> 'x', 0), COALESCE(NEW.document ->> 'y', 0),
                COALESCE(NEW.document ->> 'score', 0), NEW.last_seen, NEW.epoch,
                COALESCE(NEW.document ->> 'vx', 0), COALESCE(NEW.document ->> 'vy', 0))
        ON CONFLICT(account_id) DO UPDATE SET x = excluded.x, y = excluded.y, score = excluded.score,
            last_seen = excluded.last_seen, epoch = excluded.epoch, vx = excluded.vx, vy = excluded.vy;
    END;",
    // 11: the game each app server runs; the director places a login on
    // servers of the game it names.
    "ALTER TABLE servers ADD COLUMN game TEXT NOT NULL DEFAULT 'arena';",
];

/// What the fencing trigger says when it refuses a write.
const FENCED: &str = "stale lease epoch";

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// An account from a row of `id, username, password_hash`.
fn account_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AccountRow> {
    Ok(AccountRow { id: row.get::<_, i64>(0)? as u64, username: row.get(1)?, password_hash: row.get(2)? })
}

fn db_error(e: rusqlite::Error) -> DbError {
    let kind = match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            rusqlite::ErrorCode::ConstraintViolation if e.to_string().contains(FENCED) => DbErrorKind::Fenced,
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
    migrate_to(conn, SCHEMA_VERSION)
}

/// Brings the database up to `target` (at most [`SCHEMA_VERSION`]).
fn migrate_to(conn: &mut Connection, target: i64) -> Result<(), StoreError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(db_error)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::TooNew { found: current, supported: SCHEMA_VERSION });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().take(target as usize).skip(current as usize) {
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

    /// Runs one statement the writer runs again and again (a save, a
    /// savepoint) from the connection's statement cache: compiled once —
    /// with the triggers it fires — not once a call.
    fn run_cached(&mut self, sql: &str, params: impl rusqlite::Params) -> Result<usize, DbError> {
        self.conn.prepare_cached(sql).and_then(|mut stmt| stmt.execute(params)).map_err(db_error)
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
        self.run_cached("SAVEPOINT command", []).map(drop)
    }

    fn release_savepoint(&mut self) -> Result<(), DbError> {
        self.run_cached("RELEASE command", []).map(drop)
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
            .and_then(|mut stmt| stmt.query_row(params![username], account_row).optional())
            .map_err(db_error)
    }

    fn log_access(&mut self, event: &AccessEvent) -> Result<(), DbError> {
        self.conn
            .prepare(
                "INSERT INTO access_log (at_ms, event, account_id, username, peer, repeats)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    event.at_ms,
                    event.kind.as_str(),
                    event.account_id.map(|id| id as i64),
                    event.username,
                    event.peer.map(|p| p.to_string()),
                    event.repeats,
                ])
            })
            .map(drop)
            .map_err(db_error)
    }

    fn prune_access_log(&mut self, before_ms: i64, limit: u32) -> Result<u64, DbError> {
        self.conn
            .execute(
                "DELETE FROM access_log WHERE id IN (SELECT id FROM access_log WHERE at_ms < ?1 ORDER BY at_ms LIMIT ?2)",
                params![before_ms, limit],
            )
            .map(|n| n as u64)
            .map_err(db_error)
    }

    fn claim_player(&mut self, account_id: u64, server_id: &str, game: &'static str) -> Result<Claim, DbError> {
        let now = unix_millis();
        let epoch: Option<i64> = self
            .conn
            .query_row(
                "INSERT INTO leases (account_id, server_id, epoch) VALUES (?1, ?2, 1)
                 ON CONFLICT(account_id) DO UPDATE SET server_id = excluded.server_id, epoch = leases.epoch + 1
                 WHERE leases.server_id IS NULL OR leases.server_id = excluded.server_id OR NOT EXISTS (
                     SELECT 1 FROM servers s WHERE s.id = leases.server_id AND s.state <> 'stopped'
                     AND ?3 - s.heartbeat_ms <= ?4)
                 RETURNING epoch",
                params![account_id as i64, server_id, now, DEAD_AFTER_MS],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_error)?;
        let Some(epoch) = epoch else {
            let by: String = self
                .conn
                .query_row("SELECT server_id FROM leases WHERE account_id = ?1", params![account_id as i64], |r| {
                    r.get(0)
                })
                .map_err(db_error)?;
            self.conn
                .execute(
                    "INSERT INTO server_commands (server_id, kind, account_id, text, created_ms)
                     SELECT ?1, 'release', ?2, '', ?3 WHERE NOT EXISTS (
                         SELECT 1 FROM server_commands WHERE server_id = ?1 AND kind = 'release' AND account_id = ?2)",
                    params![by, account_id as i64, now],
                )
                .map_err(db_error)?;
            return Ok(Claim::Held { by });
        };
        self.conn
            .execute("DELETE FROM reservations WHERE account_id = ?1", params![account_id as i64])
            .map_err(db_error)?;
        let saved = self
            .conn
            .prepare("SELECT document, rank, last_seen FROM game_state WHERE account_id = ?1 AND game = ?2")
            .and_then(|mut stmt| {
                stmt.query_row(params![account_id as i64, game], |row| {
                    Ok(PlayerState {
                        account_id,
                        game,
                        document: row.get(0)?,
                        rank: row.get(1)?,
                        last_seen_ms: row.get(2)?,
                    })
                })
                .optional()
            })
            .map_err(db_error)?;
        Ok(Claim::Granted { epoch, saved })
    }

    fn release_lease(&mut self, account_id: u64, server_id: &str, epoch: Option<i64>) -> Result<(), DbError> {
        self.conn
            .execute(
                "UPDATE leases SET server_id = NULL, epoch = epoch + 1 WHERE account_id = ?1 AND server_id = ?2
                 AND (?3 IS NULL OR epoch = ?3)",
                params![account_id as i64, server_id, epoch],
            )
            .map(drop)
            .map_err(db_error)
    }

    fn save_player(&mut self, save: &PlayerSave) -> Result<(), DbError> {
        let state = &save.state;
        self.run_cached(
            "INSERT INTO game_state (account_id, game, document, rank, last_seen, epoch)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(account_id, game) DO UPDATE SET document = excluded.document, rank = excluded.rank,
             last_seen = excluded.last_seen, epoch = excluded.epoch",
            params![state.account_id as i64, state.game, state.document, state.rank, state.last_seen_ms, save.epoch],
        )?;
        if save.release {
            self.run_cached(
                "UPDATE leases SET server_id = NULL, epoch = epoch + 1 WHERE account_id = ?1 AND epoch = ?2",
                params![state.account_id as i64, save.epoch],
            )?;
        }
        Ok(())
    }

    fn leaderboard(&mut self, game: &str, limit: u32) -> Result<Vec<Leader>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT a.username, g.rank FROM game_state g JOIN accounts a ON a.id = g.account_id
                 WHERE g.game = ?1 ORDER BY g.rank DESC, a.username ASC LIMIT ?2",
            )
            .map_err(db_error)?;
        let rows = stmt
            .query_map(params![game, limit], |row| Ok(Leader { username: row.get(0)?, score: row.get(1)? }))
            .map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)
    }

    fn heartbeat(&mut self, row: &ServerRow) -> Result<(), DbError> {
        self.conn
            .prepare(
                "INSERT INTO servers (id, colour, build, public_addr, capacity, players, state, heartbeat_ms, ws_url, game)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT(id) DO UPDATE SET colour = excluded.colour, build = excluded.build,
                 public_addr = excluded.public_addr, ws_url = excluded.ws_url, capacity = excluded.capacity, players = excluded.players,
                 state = excluded.state, heartbeat_ms = excluded.heartbeat_ms, game = excluded.game",
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
                    unix_millis(),
                    row.ws_url,
                    row.game
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
                "SELECT id, colour, build, public_addr, capacity, players, state, ?1 - heartbeat_ms, ws_url, game
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
                        ws_url: r.get(8)?,
                        game: r.get(9)?,
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

    fn register(&mut self, row: &ServerRow, exclusive: bool) -> Result<(), DbError> {
        self.heartbeat(row)?;
        let leases = if exclusive {
            self.conn.execute("UPDATE leases SET server_id = NULL, epoch = epoch + 1", [])
        } else {
            self.conn
                .execute("UPDATE leases SET server_id = NULL, epoch = epoch + 1 WHERE server_id = ?1", params![row.id])
        };
        leases.map_err(db_error)?;
        self.conn.execute("DELETE FROM server_commands WHERE server_id = ?1", params![row.id]).map_err(db_error)?;
        Ok(())
    }

    fn take_commands(&mut self, server_id: &str) -> Result<Vec<ServerCommand>, DbError> {
        let mut stmt = self
            .conn
            .prepare("DELETE FROM server_commands WHERE server_id = ?1 RETURNING id, kind, account_id, text")
            .map_err(db_error)?;
        let rows = stmt
            .query_map(params![server_id], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<i64>>(2)?, r.get::<_, String>(3)?))
            })
            .map_err(db_error)?;
        let rows: Vec<_> = rows.collect::<Result<_, _>>().map_err(db_error)?;
        Ok(super::backend::commands_from_rows(rows))
    }

    fn place(
        &mut self,
        account_id: u64,
        game: &str,
        ttl_ms: i64,
        avoid: Option<&str>,
    ) -> Result<Vec<Placement>, DbError> {
        let now = unix_millis();
        self.conn.execute("DELETE FROM reservations WHERE expires_ms <= ?1", params![now]).map_err(db_error)?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, public_addr, ws_url FROM (
                     SELECT s.id, s.public_addr, s.ws_url, s.capacity,
                         (SELECT COUNT(*) FROM leases l WHERE l.server_id = s.id)
                         + (SELECT COUNT(*) FROM reservations r WHERE r.server_id = s.id AND r.account_id <> ?1)
                         AS load
                     FROM servers s JOIN deployment d ON d.id = 1 AND s.colour = d.active_colour
                     WHERE s.state = 'ready' AND ?2 - s.heartbeat_ms <= ?3 AND s.game = ?5)
                 WHERE load < capacity ORDER BY COALESCE(public_addr = ?4, 0), load, id LIMIT 3",
            )
            .map_err(db_error)?;
        let chosen: Vec<Placement> = stmt
            .query_map(params![account_id as i64, now, DEAD_AFTER_MS, avoid, game], |r| {
                Ok(Placement { server_id: r.get(0)?, public_addr: r.get(1)?, ws_url: r.get(2)? })
            })
            .map_err(db_error)?
            .collect::<Result<_, _>>()
            .map_err(db_error)?;
        drop(stmt);
        if let Some(first) = chosen.first() {
            self.conn
                .execute(
                    "INSERT INTO reservations (account_id, server_id, expires_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT(account_id) DO UPDATE SET server_id = excluded.server_id,
                     expires_ms = excluded.expires_ms",
                    params![account_id as i64, first.server_id, now.saturating_add(ttl_ms)],
                )
                .map_err(db_error)?;
        }
        Ok(chosen)
    }

    fn kick(&mut self, username: &str, reason: &str) -> Result<Option<String>, DbError> {
        self.conn
            .query_row(
                "INSERT INTO server_commands (server_id, kind, account_id, text, created_ms)
                 SELECT l.server_id, 'kick', a.id, ?2, ?3 FROM accounts a JOIN leases l ON l.account_id = a.id
                 WHERE a.username = ?1 AND l.server_id IS NOT NULL
                 RETURNING server_id",
                params![username, reason, unix_millis()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_error)
    }

    fn put_resume(&mut self, account_id: u64, token_hash: &str, expires_ms: i64) -> Result<(), DbError> {
        self.conn
            .execute("DELETE FROM resume_tokens WHERE expires_ms <= ?1", params![unix_millis()])
            .map_err(db_error)?;
        self.conn
            .execute(
                "INSERT INTO resume_tokens (token_hash, account_id, expires_ms) VALUES (?1, ?2, ?3)",
                params![token_hash, account_id as i64, expires_ms],
            )
            .map(drop)
            .map_err(db_error)
    }

    fn take_resume(&mut self, token_hash: &str) -> Result<Option<AccountRow>, DbError> {
        let found: Option<(i64, i64)> = self
            .conn
            .query_row(
                "DELETE FROM resume_tokens WHERE token_hash = ?1 RETURNING account_id, expires_ms",
                params![token_hash],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db_error)?;
        let Some((account_id, expires_ms)) = found.filter(|f| f.1 > unix_millis()) else { return Ok(None) };
        let _ = expires_ms;
        self.conn
            .query_row(
                "SELECT id, username, password_hash FROM accounts WHERE id = ?1",
                params![account_id],
                account_row,
            )
            .optional()
            .map_err(db_error)
    }

    fn peek_resume(&mut self, token_hash: &str) -> Result<Option<AccountRow>, DbError> {
        self.conn
            .query_row(
                "SELECT a.id, a.username, a.password_hash FROM resume_tokens t JOIN accounts a ON a.id = t.account_id
                 WHERE t.token_hash = ?1 AND t.expires_ms > ?2",
                params![token_hash, unix_millis()],
                account_row,
            )
            .optional()
            .map_err(db_error)
    }

    fn set_password(&mut self, account_id: u64, password_hash: &str) -> Result<(), DbError> {
        self.conn
            .execute("UPDATE accounts SET password_hash = ?2 WHERE id = ?1", params![account_id as i64, password_hash])
            .map(drop)
            .map_err(db_error)
    }

    fn revoke_resume(&mut self, account_id: u64) -> Result<(), DbError> {
        self.conn
            .execute("DELETE FROM resume_tokens WHERE account_id = ?1", params![account_id as i64])
            .map(drop)
            .map_err(db_error)
    }

    fn active_colour(&mut self) -> Result<String, DbError> {
        self.conn.query_row("SELECT active_colour FROM deployment WHERE id = 1", [], |r| r.get(0)).map_err(db_error)
    }

    fn set_active_colour(&mut self, colour: &str) -> Result<(), DbError> {
        self.conn
            .execute("UPDATE deployment SET active_colour = ?1 WHERE id = 1", params![colour])
            .map(drop)
            .map_err(db_error)
    }

    fn post_chat(&mut self, lines: &[ChatLine]) -> Result<(u64, Vec<bool>), DbError> {
        // The writer holds the only write lock: nothing changes between the look and the insert.
        let mut seen =
            self.conn.prepare("SELECT 1 FROM chat WHERE account_id = ?1 AND client_seq = ?2").map_err(db_error)?;
        let mut fresh = Vec::with_capacity(lines.len());
        for line in lines {
            let dup = seen.exists(params![line.account_id as i64, line.client_seq as i64]).map_err(db_error)?;
            fresh.push(!dup);
        }
        drop(seen);
        let n = fresh.iter().filter(|f| **f).count() as i64;
        let last: i64 = self
            .conn
            .query_row("UPDATE chat_head SET last = last + ?1 WHERE id = 1 RETURNING last", params![n], |r| r.get(0))
            .map_err(db_error)?;
        let first = last - n + 1;
        let now = unix_millis();
        let mut insert = self
            .conn
            .prepare(
                "INSERT INTO chat (id, account_id, from_name, text, created_ms, client_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(db_error)?;
        let kept_lines = lines.iter().zip(&fresh).filter(|(_, f)| **f).map(|(l, _)| l);
        for (id, line) in (first..).zip(kept_lines) {
            insert
                .execute(params![id, line.account_id as i64, line.from, line.text, now, line.client_seq as i64])
                .map_err(db_error)?;
        }
        drop(insert);
        let kept = i64::try_from(super::backend::CHAT_KEPT).unwrap_or(i64::MAX);
        self.conn.execute("DELETE FROM chat WHERE id <= ?1", params![last - kept]).map_err(db_error)?;
        match u64::try_from(first) {
            Ok(first) if first > 0 => Ok((first, fresh)),
            _ => Err(DbError::new(DbErrorKind::Other, format!("chat head corrupt: next id {first}"))),
        }
    }

    fn read_chat(&mut self, after: u64, limit: u32) -> Result<(Vec<(u64, ChatLine)>, u64), DbError> {
        let head: i64 =
            self.conn.query_row("SELECT last FROM chat_head WHERE id = 1", [], |r| r.get(0)).map_err(db_error)?;
        let mut read = self
            .conn
            .prepare(
                "SELECT id, account_id, from_name, text, coalesce(client_seq, 0) FROM chat
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(db_error)?;
        let lines = read
            .query_map(params![i64::try_from(after).unwrap_or(i64::MAX), limit], |r| {
                let line = ChatLine {
                    account_id: r.get::<_, i64>(1)? as u64,
                    from: r.get(2)?,
                    text: r.get(3)?,
                    client_seq: r.get::<_, i64>(4)? as u64,
                };
                Ok((r.get::<_, i64>(0)? as u64, line))
            })
            .map_err(db_error)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_error)?;
        Ok((lines, u64::try_from(head).unwrap_or(0)))
    }

    fn move_lease(&mut self, account_id: u64, epoch: i64, to: &str) -> Result<Option<i64>, DbError> {
        let moved = self
            .conn
            .query_row(
                "UPDATE leases SET server_id = ?3, epoch = epoch + 1 WHERE account_id = ?1 AND epoch = ?2
                 AND server_id IS NOT NULL RETURNING epoch",
                params![account_id as i64, epoch, to],
                |row| row.get::<_, i64>(0),
            )
            .optional()
            .map_err(db_error)?;
        self.conn
            .execute("DELETE FROM reservations WHERE account_id = ?1", params![account_id as i64])
            .map_err(db_error)?;
        Ok(moved)
    }

    fn broadcast(&mut self, text: &str) -> Result<u32, DbError> {
        let now = unix_millis();
        self.conn
            .execute(
                "INSERT INTO server_commands (server_id, kind, account_id, text, created_ms)
                 SELECT id, 'broadcast', NULL, ?1, ?2 FROM servers
                 WHERE state <> 'stopped' AND ?2 - heartbeat_ms <= ?3",
                params![text, now, DEAD_AFTER_MS],
            )
            .map(|n| n as u32)
            .map_err(db_error)
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
        let error = db.claim_player(42, "app-1", "arena").unwrap_err();
        assert_eq!(error.kind, DbErrorKind::Constraint, "no account 42: {error}");
        db.rollback_savepoint().unwrap();
        db.savepoint().unwrap();
        assert_eq!(db.create_account("alice", "h", 0).unwrap(), Some(1));
        assert_eq!(db.create_account("ALICE", "h", 0).unwrap(), None, "names are case-insensitive");
        db.release_savepoint().unwrap();
        db.commit().unwrap();
        assert_eq!(db.find_account("Alice").unwrap().map(|a| a.id), Some(1));
    }

    fn save(account_id: u64, x: f32, epoch: i64) -> PlayerSave {
        let document = format!(r#"{{"x":{x}}}"#);
        let state = PlayerState { account_id, game: "arena", document, rank: 3, last_seen_ms: 0 };
        PlayerSave { state, epoch, release: false }
    }

    fn document(claim: Claim) -> (i64, Option<String>) {
        let Claim::Granted { epoch, saved } = claim else { panic!("not granted: {claim:?}") };
        (epoch, saved.map(|s| s.document))
    }

    #[test]
    fn an_arena_row_of_schema_9_becomes_its_document_exactly() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 9).unwrap();
        let (x, vy) = (0.1f32, -3.7f32);
        conn.execute_batch(&format!(
            "INSERT INTO accounts (id, username, password_hash, created_at) VALUES (5, 'alice', 'h', 0);
             INSERT INTO leases (account_id, server_id, epoch) VALUES (5, 'app-1', 4);
             INSERT INTO player_state (account_id, x, y, score, last_seen, epoch, vx, vy)
             VALUES (5, {}, 250.0, 17, 1234, 4, 0.0, {});",
            f64::from(x),
            f64::from(vy)
        ))
        .unwrap();
        migrate(&mut conn).unwrap();
        let (game, document, rank, seen, epoch): (String, String, i64, i64, i64) = conn
            .query_row("SELECT game, document, rank, last_seen, epoch FROM game_state", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap();
        assert_eq!((game.as_str(), rank, seen, epoch), ("arena", 17, 1234, 4));
        let value: serde_json::Value = serde_json::from_str(&document).unwrap();
        let get = |k: &str| value[k].as_f64().unwrap() as f32;
        assert_eq!((get("x"), get("y"), get("vx"), get("vy"), get("score")), (x, 250.0, 0.0, vy, 17.0));
        let mut db = SqliteBackend { conn };
        assert_eq!(db.leaderboard("arena", 5).unwrap(), vec![Leader { username: "alice".into(), score: 17 }]);
        assert!(db.leaderboard("skirmish", 5).unwrap().is_empty(), "a leaderboard is one game's");

        // A server of the previous build, still draining, saves the old way:
        // the document follows; a claim there reads what this build saved.
        db.conn.execute_batch("UPDATE player_state SET x = 42.5, score = 18, last_seen = 2000").unwrap();
        let (document, rank): (String, i64) =
            db.conn.query_row("SELECT document, rank FROM game_state", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        let value: serde_json::Value = serde_json::from_str(&document).unwrap();
        assert_eq!((value["x"].as_f64(), value["score"].as_i64(), rank), (Some(42.5), Some(18), 18));
        let state = PlayerState {
            account_id: 5,
            game: "arena",
            document: r#"{"x":7.25,"y":8.0,"vx":1.0,"vy":0.0,"score":19}"#.into(),
            rank: 19,
            last_seen_ms: 3000,
        };
        db.save_player(&PlayerSave { state, epoch: 4, release: false }).unwrap();
        let old: (f64, f64, i64, i64) = db
            .conn
            .query_row("SELECT x, vx, score, last_seen FROM player_state", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap();
        assert_eq!(old, (7.25, 1.0, 19, 3000), "the previous build reads this build's save");
    }

    #[test]
    fn the_database_refuses_a_save_under_a_stale_lease() {
        let mut db = SqliteBackend::in_memory();
        let id = db.create_account("alice", "h", 0).unwrap().unwrap();
        assert_eq!(db.claim_player(id, "app-1", "arena").unwrap(), Claim::Granted { epoch: 1, saved: None });
        assert_eq!(db.save_player(&save(id, 5.0, 2)).unwrap_err().kind, DbErrorKind::Fenced, "a future epoch");
        db.save_player(&save(id, 5.0, 1)).unwrap();
        // app-1 has no live registry row: app-2 may take the player over.
        assert_eq!(document(db.claim_player(id, "app-2", "arena").unwrap()), (2, Some(r#"{"x":5}"#.into())));
        let stale = db.save_player(&save(id, 9.0, 1)).unwrap_err();
        assert_eq!(stale.kind, DbErrorKind::Fenced, "{stale}");
        db.save_player(&PlayerSave { release: true, ..save(id, 6.0, 2) }).unwrap();
        assert_eq!(db.save_player(&save(id, 7.0, 2)).unwrap_err().kind, DbErrorKind::Fenced, "released");
        // The release took an epoch of its own: nothing written under 2,
        // before or after it, can land any more.
        let claim = db.claim_player(id, "app-1", "arena").unwrap();
        assert_eq!(document(claim), (4, Some(r#"{"x":6}"#.into())), "epochs never go back; the released state loads");
        let other = db.claim_player(id, "app-1", "skirmish").unwrap();
        assert_eq!(document(other), (5, None), "another game's state is its own");
    }
}
