//! Rules for what a username and a password may be.

/// Shortest username.
pub const USERNAME_MIN: usize = 1;
/// Longest username (fits the connect token's user data).
pub const USERNAME_MAX: usize = 32;
/// Shortest password.
pub const PASSWORD_MIN: usize = 8;
/// Longest password, in bytes (bounds hashing work per request).
pub const PASSWORD_MAX: usize = 256;

/// Normalizes a username (Unicode NFKC, so look-alike compatibility forms
/// such as full-width letters become their plain form) and checks it.
/// Returns the name to store and look up.
pub fn normalize_username(raw: &str) -> Result<String, &'static str> {
    use unicode_normalization::UnicodeNormalization;
    if raw.len() > USERNAME_MAX * 4 {
        return Err("username must be 1 to 32 characters");
    }
    let name: String = raw.nfkc().collect();
    username(&name)?;
    Ok(name)
}

/// Checks a username: 1–32 characters of ASCII letters, digits, `_`, `-`, `.`.
pub fn username(name: &str) -> Result<(), &'static str> {
    let len = name.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
        return Err("username must be 1 to 32 characters");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err("username may contain only letters, digits, '_', '-' and '.'");
    }
    Ok(())
}

/// Checks a new password's length.
pub fn password(password: &str) -> Result<(), &'static str> {
    if password.chars().count() < PASSWORD_MIN {
        return Err("password must be at least 8 characters");
    }
    if password.len() > PASSWORD_MAX {
        return Err("password must be at most 256 bytes");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["a", "abc", "Player_1", "a.b-c", &"x".repeat(32)] {
            assert!(username(ok).is_ok(), "{ok}");
        }
        for bad in ["", "has space", "émile", "a/b", &"x".repeat(33)] {
            assert!(username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn normalization_folds_compatibility_forms() {
        assert_eq!(normalize_username("ａｌｉｃｅ").unwrap(), "alice");
        assert_eq!(normalize_username("ﬁsh").unwrap(), "fish");
        assert!(normalize_username("ali ce").is_err());
        assert!(normalize_username(&"ａ".repeat(200)).is_err());
    }

    #[test]
    fn passwords() {
        assert!(password("12345678").is_ok());
        assert!(password("1234567").is_err());
        assert!(password(&"x".repeat(257)).is_err());
    }
}
