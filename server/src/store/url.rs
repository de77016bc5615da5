//! `--database URL`: which backend, and where. `sqlite://PATH` is a file
//! (relative paths are relative to the working directory);
//! `postgres://…` or `postgresql://…` is a PostgreSQL connection string as
//! libpq reads it (hosts, port, user, password, database,
//! `target_session_attrs`…). The password never reaches a log: `Debug` and
//! `Display` show the URL with it masked.

use std::path::{Path, PathBuf};

/// Where the store keeps its data.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An embedded SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server (the whole connection string, password included).
    Postgres(String),
}

/// A `--database` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Neither `sqlite://` nor `postgres://`.
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://USER@HOST:PORT/DB")]
    Scheme(String),
    /// `sqlite://` with no path.
    #[error("sqlite:// needs a file path, e.g. sqlite://data/tickforge.db")]
    EmptyPath,
    /// PostgreSQL could not read the connection string.
    #[error("invalid PostgreSQL URL {url}: {reason}")]
    Postgres {
        /// The URL, password masked.
        url: String,
        /// What the parser said.
        reason: String,
    },
}

impl DatabaseUrl {
    /// Reads a `--database` value.
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        if let Some(path) = text.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(UrlError::EmptyPath);
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            text.parse::<::postgres::Config>()
                .map_err(|e| UrlError::Postgres { url: mask(text), reason: e.to_string() })?;
            return Ok(Self::Postgres(text.to_owned()));
        }
        Err(UrlError::Scheme(mask(text)))
    }

    /// The embedded default: `<data_dir>/tickforge.db`.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self::Sqlite(data_dir.join(super::DB_FILE))
    }

    /// Whether several processes can share it (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

/// A part of the URL as shown: itself if it holds only what a user, host
/// or database name holds; else `***` — a password with a raw `@` or `/`
/// makes the parser put the rest of it in the next part.
fn plain(part: &str) -> &str {
    if part.chars().all(|c| c.is_ascii_alphanumeric() || "._-:[]".contains(c)) { part } else { "***" }
}

/// The URL as the driver's own parser reads it, rebuilt from its parts
/// with any password as `***`: whatever the password holds (`/`, `@`,
/// `%2F`), it is never cut out of the text, so no piece of it can show.
/// A URL the driver cannot read shows as its scheme alone.
fn mask(url: &str) -> String {
    use ::postgres::config::{Host, TargetSessionAttrs};
    let scheme = url.split_once("://").map_or("postgres", |(scheme, _)| scheme);
    let Ok(config) = url.parse::<::postgres::Config>() else { return format!("{scheme}://***") };
    let mut shown = format!("{scheme}://");
    if let Some(user) = config.get_user() {
        shown += plain(user);
        if config.get_password().is_some() {
            shown += ":***";
        }
        shown += "@";
    }
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                Host::Tcp(name) => plain(name).to_owned(),
                Host::Unix(path) => path.display().to_string(),
            };
            // One port for all hosts, or one each.
            match ports.get(i).or(if ports.len() == 1 { ports.first() } else { None }) {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    shown += &hosts.join(",");
    if let Some(db) = config.get_dbname() {
        shown += "/";
        shown += plain(db);
    }
    let mut query = Vec::new();
    if config.get_target_session_attrs() == TargetSessionAttrs::ReadWrite {
        query.push("target_session_attrs=read-write".to_owned());
    }
    if let Some(name) = config.get_application_name() {
        query.push(format!("application_name={}", plain(name)));
    }
    if !query.is_empty() {
        shown += "?";
        shown += &query.join("&");
    }
    shown
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(url) => f.write_str(&mask(url)),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_paths() {
        assert_eq!(DatabaseUrl::parse("sqlite://data/x.db"), Ok(DatabaseUrl::Sqlite("data/x.db".into())));
        assert_eq!(DatabaseUrl::parse("sqlite:///var/x.db"), Ok(DatabaseUrl::Sqlite("/var/x.db".into())));
        assert_eq!(DatabaseUrl::parse("sqlite://"), Err(UrlError::EmptyPath));
        assert!(matches!(DatabaseUrl::parse("mysql://x"), Err(UrlError::Scheme(_))));
        let pg = DatabaseUrl::parse("postgres://tf:hunter2@127.0.0.1:5432/tickforge").unwrap();
        assert!(pg.is_shared());
        assert!(DatabaseUrl::parse("postgresql://a@h1:1,h2:2/db?target_session_attrs=read-write").is_ok());
    }

    #[test]
    fn passwords_never_show() {
        for url in
            ["postgres://tf:hunter2@127.0.0.1:5432/tickforge", "postgres://tf@h/db?password=hunter2&application_name=x"]
        {
            let parsed = DatabaseUrl::parse(url).unwrap();
            for shown in [format!("{parsed}"), format!("{parsed:?}")] {
                assert!(!shown.contains("hunter2"), "{shown}");
                assert!(shown.contains("***"), "{shown}");
            }
        }
        let bad = DatabaseUrl::parse("postgres://tf:hunter2@h:notaport/db").unwrap_err().to_string();
        assert!(!bad.contains("hunter2"), "{bad}");
    }

    #[test]
    fn passwords_with_separators_never_show_in_part() {
        // Percent-encoded separators, raw ones, and a password query parameter.
        for (url, secret) in [
            ("postgres://tf:hun%2Fter%40two@127.0.0.1:5432/tickforge", "ter"),
            ("postgres://tf:hun%2Fter%40two@127.0.0.1:5432/tickforge", "%2F"),
            ("postgres://tf:hunter/two@127.0.0.1:5432/tickforge", "two"),
            ("postgres://tf:hun@ter@127.0.0.1:5432/tickforge", "ter"),
            ("postgres://tf:123/two@127.0.0.1:5432/tickforge", "two"),
            ("postgres://tf@h/db?password=hun%26ter&application_name=x", "ter"),
        ] {
            let shown = match DatabaseUrl::parse(url) {
                Ok(parsed) => format!("{parsed} {parsed:?}"),
                Err(e) => e.to_string(),
            };
            assert!(!shown.contains(secret), "{url} shows {secret}: {shown}");
        }
        let parsed = DatabaseUrl::parse("postgres://tf:p%2Fw@db1:5433,db2:5434/game?target_session_attrs=read-write")
            .unwrap()
            .to_string();
        assert_eq!(parsed, "postgres://tf:***@db1:5433,db2:5434/game?target_session_attrs=read-write");
    }
}
