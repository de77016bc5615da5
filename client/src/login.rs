//! HTTP login and registration against the auth API.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// What went wrong talking to the auth API.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown account or wrong password.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Registration of a name that exists.
    #[error("username is taken")]
    UsernameTaken,
    /// The server is busy (its hashing queue is full); try again after the delay.
    #[error("server busy, retry after {retry_after:?}")]
    Busy {
        /// From the `Retry-After` header (1 s if missing).
        retry_after: Duration,
    },
    /// Too many attempts from here (429): a lockout after failed logins,
    /// the limit on accounts made per address, or too many requests at once.
    #[error("{message} (retry after {retry_after:?})")]
    Limited {
        /// From the `Retry-After` header (1 s if missing).
        retry_after: Duration,
        /// The server's error text.
        message: String,
    },
    /// The server refused the request (bad input, …).
    #[error("server answered {status}: {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The server's error text.
        message: String,
    },
    /// The server could not be reached or answered garbage.
    #[error("cannot talk to auth server at {url}: {reason}")]
    Transport {
        /// The URL tried.
        url: String,
        /// What failed.
        reason: String,
    },
}

#[derive(Serialize)]
struct Credentials<'a> {
    username: &'a str,
    password: &'a str,
    /// Only a login names a game (and only when one was chosen).
    #[serde(skip_serializing_if = "Option::is_none")]
    game: Option<&'a str>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

pub use tickforge_client_core::login::Login;

/// A client for one auth server.
#[derive(Debug, Clone)]
pub struct AuthClient {
    base: String,
    agent: ureq::Agent,
    /// The game logins ask to play (`None`: the server's default).
    game: Option<String>,
}

impl AuthClient {
    /// A client for `base_url` (e.g. `http://127.0.0.1:7000`, or `https://…`
    /// verified against the usual web roots).
    pub fn new(base_url: &str) -> Self {
        Self::build(base_url, None)
    }

    /// A client for an HTTPS server whose certificate chains to one of the
    /// PEM certificates in `ca_pem` (for a private CA or a self-signed cert).
    pub fn with_ca_pem(base_url: &str, ca_pem: &[u8]) -> Result<Self, LoginError> {
        let bad = |reason: String| LoginError::Transport { url: base_url.to_owned(), reason };
        let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(ca_pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => Some(Ok(cert)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<_, _>>()
            .map_err(|e| bad(format!("bad CA certificate: {e}")))?;
        if certs.is_empty() {
            return Err(bad("no certificate in the CA file".into()));
        }
        Ok(Self::build(base_url, Some(RootCerts::Specific(std::sync::Arc::new(certs)))))
    }

    fn build(base_url: &str, roots: Option<RootCerts>) -> Self {
        let mut config =
            ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(15)));
        if let Some(roots) = roots {
            config = config.tls_config(TlsConfig::builder().root_certs(roots).build());
        }
        Self { base: base_url.trim_end_matches('/').to_owned(), agent: config.build().into(), game: None }
    }

    /// Logins and resumes ask to play `game` (`None`: the server's default).
    pub fn for_game(self, game: Option<String>) -> Self {
        Self { game, ..self }
    }

    fn post(
        &self,
        path: &str,
        username: &str,
        password: &str,
        game: Option<&str>,
    ) -> Result<(u16, String), LoginError> {
        let body = serde_json::to_string(&Credentials { username, password, game }).unwrap_or_default();
        self.post_body(path, &body)
    }

    fn post_body(&self, path: &str, body: &str) -> Result<(u16, String), LoginError> {
        let url = format!("{}{path}", self.base);
        let transport = |reason: String| LoginError::Transport { url: url.clone(), reason };
        let mut response = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .send(body)
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(1);
        if status == 503 {
            return Err(LoginError::Busy { retry_after: Duration::from_secs(retry_after.clamp(1, 60)) });
        }
        let body = response.body_mut().read_to_string().map_err(|e| transport(e.to_string()))?;
        if status == 429 {
            let message = serde_json::from_str::<ErrorBody>(&body).map(|b| b.error).unwrap_or(body);
            return Err(LoginError::Limited { retry_after: Duration::from_secs(retry_after.max(1)), message });
        }
        Ok((status, body))
    }

    fn rejected(status: u16, body: &str) -> LoginError {
        let message = serde_json::from_str::<ErrorBody>(body).map(|b| b.error).unwrap_or_else(|_| body.to_owned());
        LoginError::Rejected { status, message }
    }

    /// Creates an account.
    pub fn register(&self, username: &str, password: &str) -> Result<(), LoginError> {
        match self.post("/v1/register", username, password, None)? {
            (201, _) => Ok(()),
            (409, _) => Err(LoginError::UsernameTaken),
            (status, body) => Err(Self::rejected(status, &body)),
        }
    }

    /// Logs in again with a resume token instead of the password;
    /// `unreachable` names the game server the link to was lost (the
    /// director tries it last).
    pub fn resume(&self, resume_token: &str, unreachable: Option<std::net::SocketAddr>) -> Result<Login, LoginError> {
        let mut body = serde_json::json!({ "resume_token": resume_token });
        if let Some(addr) = unreachable {
            body["unreachable"] = serde_json::Value::String(addr.to_string());
        }
        if let Some(game) = &self.game {
            body["game"] = serde_json::Value::String(game.clone());
        }
        let body = body.to_string();
        match self.post_body("/v1/resume", &body)? {
            (200, body) => self.parse_login("/v1/resume", &body),
            (401, _) => Err(LoginError::InvalidCredentials),
            (status, body) => Err(Self::rejected(status, &body)),
        }
    }

    fn parse_login(&self, path: &str, body: &str) -> Result<Login, LoginError> {
        tickforge_client_core::login::parse_login(body)
            .map_err(|reason| LoginError::Transport { url: format!("{}{path}", self.base), reason })
    }

    /// Logs in and returns the connect token.
    pub fn login(&self, username: &str, password: &str) -> Result<Login, LoginError> {
        match self.post("/v1/login", username, password, self.game.as_deref())? {
            (200, body) => self.parse_login("/v1/login", &body),
            (401, _) => Err(LoginError::InvalidCredentials),
            (status, body) => Err(Self::rejected(status, &body)),
        }
    }

    /// Registers if the account is missing (a taken name is fine), then logs in.
    pub fn register_and_login(&self, username: &str, password: &str) -> Result<Login, LoginError> {
        self.ensure_account(username, password)?;
        self.login(username, password)
    }

    /// Registers the account unless it exists (a taken name is fine: it
    /// may be ours, registered by an earlier try).
    pub fn ensure_account(&self, username: &str, password: &str) -> Result<(), LoginError> {
        match self.register(username, password) {
            Ok(()) | Err(LoginError::UsernameTaken) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
