//! The netcode private key: shared by the auth API (which seals connect
//! tokens) and the game transport (which opens them).
//!
//! It comes from `TICKFORGE_PRIVATE_KEY` (64 hex digits) or from
//! `<data dir>/private.key`, created with mode 0600 on first start. It is
//! never printed: its `Debug` is redacted.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;

/// Bytes in a netcode private key.
pub const KEY_BYTES: usize = 32;

/// File name of the key inside the data dir.
pub const KEY_FILE: &str = "private.key";

/// A 32-byte symmetric key. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey(pub(crate) [u8; KEY_BYTES]);

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

/// The admin API's bearer token. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// Wraps a token; refuses one too short to resist guessing.
    pub fn new(token: String) -> Result<Self, KeyError> {
        if token.trim().len() < 16 {
            return Err(KeyError::WeakToken);
        }
        Ok(Self(token.trim().to_owned()))
    }

    /// The token text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Why a key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not 64 hex digits.
    #[error("private key must be {} hex digits", KEY_BYTES * 2)]
    Format,
    /// An admin token shorter than 16 characters.
    #[error("admin token must be at least 16 characters")]
    WeakToken,
    /// A key file that others than its owner may read.
    #[error("private key file {0} is readable by other users: chmod 600 it")]
    Exposed(String),
    /// The key file could not be read or written.
    #[error("private key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl PrivateKey {
    /// Parses 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        if text.len() != KEY_BYTES * 2 || !text.is_ascii() {
            return Err(KeyError::Format);
        }
        let mut key = [0u8; KEY_BYTES];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| KeyError::Format)?;
        }
        Ok(Self(key))
    }

    fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads the shared key from a file an operator placed (`--key-file`):
    /// 64 hex digits, readable by its owner only (as ssh insists for its
    /// keys); never created here.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let io_err = |source| KeyError::Io { path: shown.clone(), source };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(path).map_err(io_err)?.permissions().mode();
            if mode & 0o044 != 0 {
                return Err(KeyError::Exposed(shown.clone()));
            }
        }
        Self::from_hex(&fs::read_to_string(path).map_err(io_err)?)
    }

    /// Loads the key from the data dir, creating a random one (mode 0600) if absent.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyError> {
        let path = data_dir.join(KEY_FILE);
        let io_err = |source| KeyError::Io { path: path.display().to_string(), source };
        match fs::read_to_string(&path) {
            Ok(text) => Self::from_hex(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self(tickforge_netcode::random_bytes());
                let mut options = fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(&path).map_err(io_err)?;
                file.write_all(key.to_hex().as_bytes()).map_err(io_err)?;
                file.sync_all().map_err(io_err)?;
                Ok(key)
            }
            Err(e) => Err(io_err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_key_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let first = PrivateKey::load_or_create(dir.path()).unwrap();
        let second = PrivateKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn debug_is_redacted() {
        let key = PrivateKey::from_hex(&"ab".repeat(32)).unwrap();
        assert!(!format!("{key:?}").contains("ab"));
    }

    #[test]
    fn a_key_file_must_be_private_and_hold_a_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.key");
        fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(PrivateKey::from_file(&path), Err(KeyError::Exposed(_))));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(PrivateKey::from_file(&path).unwrap(), PrivateKey::from_hex(&"ab".repeat(32)).unwrap());
        assert!(matches!(PrivateKey::from_file(&dir.path().join("missing")), Err(KeyError::Io { .. })));
    }

    #[test]
    fn bad_hex_is_rejected() {
        assert!(PrivateKey::from_hex("zz").is_err());
        assert!(PrivateKey::from_hex(&"g0".repeat(32)).is_err());
    }
}
