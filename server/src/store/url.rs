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

/// The URL with any password replaced by `***`.
fn mask(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let masked = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{hosts}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    // A password may also come as a query parameter.
    let tail = match tail.find("password=") {
        Some(at) => {
            let end = tail[at..].find('&').map_or(tail.len(), |e| at + e);
            format!("{}password=***{}", &tail[..at], &tail[end..])
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{masked}{tail}")
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
}
