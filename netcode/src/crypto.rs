//! The two AEAD constructions netcode.io uses: ChaCha20-Poly1305 (IETF,
//! 96-bit nonce built from a 64-bit sequence) for packets and challenge
//! tokens, XChaCha20-Poly1305 for private connect tokens.
//!
//! Packets are sealed with `ring` on native targets: its assembly is about
//! five times faster than the portable implementation at packet sizes
//! (`cargo bench -p tickforge-netcode`), and the server seals one per
//! player per tick. The browser build (wasm32) seals with the portable
//! one; both are the same RFC 8439 construction, and a test checks they
//! agree byte for byte.

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
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn seal(buf: &mut [u8], sequence: u64, key: &[u8; KEY_BYTES], aad: &[u8]) -> Result<(), Forged> {
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
    let split = buf.len().checked_sub(MAC_BYTES).ok_or(Forged)?;
    let (text, tag) = buf.split_at_mut(split);
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, key).map_err(|_| Forged)?);
    let sealed = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce(sequence).into()), Aad::from(aad), text)
        .map_err(|_| Forged)?;
    tag.copy_from_slice(sealed.as_ref());
    Ok(())
}

/// Verifies the trailing tag and decrypts the rest in place.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn open(buf: &mut [u8], sequence: u64, key: &[u8; KEY_BYTES], aad: &[u8]) -> Result<(), Forged> {
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
    if buf.len() < MAC_BYTES {
        return Err(Forged);
    }
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, key).map_err(|_| Forged)?);
    key.open_in_place(Nonce::assume_unique_for_key(nonce(sequence).into()), Aad::from(aad), buf)
        .map(|_| ())
        .map_err(|_| Forged)
}

/// [`seal`] in portable Rust (the browser build).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn seal_portable(buf: &mut [u8], sequence: u64, key: &[u8; KEY_BYTES], aad: &[u8]) -> Result<(), Forged> {
    let split = buf.len().checked_sub(MAC_BYTES).ok_or(Forged)?;
    let (text, tag) = buf.split_at_mut(split);
    let sealed = ChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt_in_place_detached(&nonce(sequence), aad, text)
        .map_err(|_| Forged)?;
    tag.copy_from_slice(&sealed);
    Ok(())
}

/// [`open`] in portable Rust (the browser build).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn open_portable(buf: &mut [u8], sequence: u64, key: &[u8; KEY_BYTES], aad: &[u8]) -> Result<(), Forged> {
    let split = buf.len().checked_sub(MAC_BYTES).ok_or(Forged)?;
    let (text, tag) = buf.split_at_mut(split);
    ChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt_in_place_detached(&nonce(sequence), aad, text, Tag::from_slice(tag))
        .map_err(|_| Forged)
}

#[cfg(target_arch = "wasm32")]
pub(crate) use {open_portable as open, seal_portable as seal};

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

    /// The native and the portable implementations are the same cipher:
    /// each opens what the other sealed, and they seal to the same bytes.
    #[test]
    fn native_and_portable_packets_agree() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8 * 7 + 1);
        for len in [16usize, 17, 60, 200, 1000, 1300] {
            for sequence in [0u64, 1, 255, 1 << 40, u64::MAX] {
                let text: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
                let (mut a, mut b) = (text.clone(), text.clone());
                seal(&mut a, sequence, &key, b"aad").unwrap();
                seal_portable(&mut b, sequence, &key, b"aad").unwrap();
                assert_eq!(a, b, "len {len}, sequence {sequence}");
                open_portable(&mut a, sequence, &key, b"aad").unwrap();
                open(&mut b, sequence, &key, b"aad").unwrap();
                assert_eq!(a[..len - MAC_BYTES], text[..len - MAC_BYTES]);
                assert_eq!(b[..len - MAC_BYTES], text[..len - MAC_BYTES]);
                let mut forged = text.clone();
                seal(&mut forged, sequence, &key, b"aad").unwrap();
                forged[0] ^= 1;
                assert!(open(&mut forged.clone(), sequence, &key, b"aad").is_err());
                assert!(open_portable(&mut forged, sequence, &key, b"aad").is_err());
            }
        }
    }
}
