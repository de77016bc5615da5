//! The two AEAD constructions netcode.io uses: ChaCha20-Poly1305 (IETF,
//! 96-bit nonce built from a 64-bit sequence) for packets and challenge
//! tokens, XChaCha20-Poly1305 for private connect tokens.

use chacha20poly1305::aead::{OsRng, rand_core::RngCore};
use chacha20poly1305::{AeadInPlace, ChaCha20Poly1305, Key, KeyInit, Nonce, Tag, XChaCha20Poly1305, XNonce};

use crate::{KEY_BYTES, MAC_BYTES, XNONCE_BYTES};

/// The AEAD tag did not verify (wrong key, nonce, data or associated data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Forged;

fn nonce(sequence: u64) -> Nonce {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&sequence.to_le_bytes());
    Nonce::from(nonce)
}

/// Encrypts `buf[..len - 16]` in place and writes the tag into the last 16 bytes.
pub(crate) fn seal(buf: &mut [u8], sequence: u64, key: &[u8; KEY_BYTES], aad: &[u8]) -> Result<(), Forged> {
    let split = buf.len().checked_sub(MAC_BYTES).ok_or(Forged)?;
    let (text, tag) = buf.split_at_mut(split);
    let sealed = ChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt_in_place_detached(&nonce(sequence), aad, text)
        .map_err(|_| Forged)?;
    tag.copy_from_slice(&sealed);
    Ok(())
}

/// Verifies the trailing tag and decrypts the rest in place.
pub(crate) fn open(buf: &mut [u8], sequence: u64, key: &[u8; KEY_BYTES], aad: &[u8]) -> Result<(), Forged> {
    let split = buf.len().checked_sub(MAC_BYTES).ok_or(Forged)?;
    let (text, tag) = buf.split_at_mut(split);
    ChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt_in_place_detached(&nonce(sequence), aad, text, Tag::from_slice(tag))
        .map_err(|_| Forged)
}

/// [`seal`] with a 24-byte nonce.
pub(crate) fn seal_x(
    buf: &mut [u8],
    xnonce: &[u8; XNONCE_BYTES],
    key: &[u8; KEY_BYTES],
    aad: &[u8],
) -> Result<(), Forged> {
    let split = buf.len().checked_sub(MAC_BYTES).ok_or(Forged)?;
    let (text, tag) = buf.split_at_mut(split);
    let sealed = XChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt_in_place_detached(XNonce::from_slice(xnonce), aad, text)
        .map_err(|_| Forged)?;
    tag.copy_from_slice(&sealed);
    Ok(())
}

/// [`open`] with a 24-byte nonce.
pub(crate) fn open_x(
    buf: &mut [u8],
    xnonce: &[u8; XNONCE_BYTES],
    key: &[u8; KEY_BYTES],
    aad: &[u8],
) -> Result<(), Forged> {
    let split = buf.len().checked_sub(MAC_BYTES).ok_or(Forged)?;
    let (text, tag) = buf.split_at_mut(split);
    XChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt_in_place_detached(XNonce::from_slice(xnonce), aad, text, Tag::from_slice(tag))
        .map_err(|_| Forged)
}

/// `N` bytes from the operating system's random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_opens_only_with_the_same_nonce_key_and_data() {
        let key = [7u8; 32];
        let mut buf = *b"sixteen byte msg................";
        seal(&mut buf, 9, &key, b"aad").unwrap();
        let sealed = buf;
        assert!(open(&mut buf.clone(), 10, &key, b"aad").is_err());
        assert!(open(&mut buf.clone(), 9, &[8; 32], b"aad").is_err());
        assert!(open(&mut buf.clone(), 9, &key, b"aaD").is_err());
        open(&mut buf, 9, &key, b"aad").unwrap();
        assert_eq!(&buf[..16], b"sixteen byte msg");
        assert_ne!(sealed[..16], buf[..16]);
        assert!(open(&mut [0u8; 3], 0, &key, b"").is_err(), "shorter than a tag");
    }
}
