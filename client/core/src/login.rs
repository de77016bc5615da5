//! The auth API's login answer, as every client reads it (the native
//! client over its HTTP client, the page over `fetch`).

use base64::Engine;
use serde::Deserialize;

/// A successful login (or resume).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The raw netcode connect token.
    pub connect_token: Vec<u8>,
    /// Unix seconds after which the token is refused.
    pub expires_at: u64,
    /// Game servers the token names.
    pub servers: Vec<String>,
    /// WebSocket URLs of the chosen game server (`ws://host:port/ws`).
    pub ws: Vec<String>,
    /// Logs in once more without the password (short-lived), if the server gave one.
    pub resume_token: Option<String>,
    /// The game the server placed the player in (`None` from a server that does not say).
    pub game: Option<String>,
}

#[derive(Deserialize)]
struct LoginBody {
    connect_token: String,
    expires_at: u64,
    servers: Vec<String>,
    #[serde(default)]
    ws: Vec<String>,
    #[serde(default)]
    resume_token: Option<String>,
    #[serde(default)]
    game: Option<String>,
}

/// Reads the JSON body of a `200` answer to `/v1/login` or `/v1/resume`.
pub fn parse_login(body: &str) -> Result<Login, String> {
    let parsed: LoginBody = serde_json::from_str(body).map_err(|e| format!("bad login answer: {e}"))?;
    let connect_token = base64::engine::general_purpose::STANDARD
        .decode(parsed.connect_token)
        .map_err(|e| format!("bad connect token: {e}"))?;
    Ok(Login {
        connect_token,
        expires_at: parsed.expires_at,
        servers: parsed.servers,
        ws: parsed.ws,
        resume_token: parsed.resume_token,
        game: parsed.game,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_answer_reads_with_and_without_its_websocket_urls() {
        let body =
            r#"{"connect_token":"AAEC","expires_at":5,"servers":["127.0.0.1:7001"],"ws":["ws://127.0.0.1:7003/ws"]}"#;
        let login = parse_login(body).unwrap();
        assert_eq!(login.connect_token, vec![0, 1, 2]);
        assert_eq!(login.ws, vec!["ws://127.0.0.1:7003/ws".to_owned()]);
        assert_eq!(login.resume_token, None);
        assert_eq!(login.game, None);
        let placed = r#"{"connect_token":"AAEC","expires_at":5,"servers":[],"game":"skirmish"}"#;
        assert_eq!(parse_login(placed).unwrap().game.as_deref(), Some("skirmish"));
        let old = r#"{"connect_token":"AAEC","expires_at":5,"servers":[],"resume_token":"r"}"#;
        assert!(parse_login(old).unwrap().ws.is_empty());
        assert!(parse_login(r#"{"connect_token":"!!","expires_at":5,"servers":[]}"#).unwrap_err().contains("token"));
        assert!(parse_login("{").is_err());
    }
}
