//! Sealing of provider credentials at rest (OAuth tokens, PKCE verifiers): ChaCha20-Poly1305 with
//! keys from configuration. A sealed value is `<key id>.<nonce>.<ciphertext>` (base64url), so keys
//! can rotate: the first configured key seals, every configured key opens, and values sealed with
//! an older key are re-sealed when next written (tokens are rewritten on every refresh).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// A new bearer secret (feed URLs, OAuth states, channel tokens): 256 random bits from the OS
/// generator (two v4 UUIDs), base64url without padding, 43 characters.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored of a bearer secret: its hex SHA-256 (the secrets are random 256-bit values, so a
/// slow hash adds nothing).
pub fn sha256_hex(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the token key configuration is malformed: {0}")]
    BadConfig(String),
    #[error("a sealed value could not be opened (unknown key id or tampered data)")]
    Unreadable,
}

pub struct Sealer {
    /// (key id, cipher); the first seals.
    keys: Vec<(String, ChaCha20Poly1305)>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field(
                "key_ids",
                &self.keys.iter().map(|k| k.0.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Binds a sealed value to its use, so a sealed verifier cannot be replayed as a token.
const AAD: &[u8] = b"almanac provider secret v1";

impl Sealer {
    /// `spec` = `kid:base64key[,kid:base64key…]`, each key 32 bytes (standard or URL-safe base64).
    pub fn from_spec(spec: &str) -> Result<Self, SecretError> {
        let mut keys = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (kid, b64) = part
                .split_once(':')
                .ok_or_else(|| SecretError::BadConfig("expected kid:base64key".into()))?;
            if kid.is_empty() || kid.contains('.') {
                return Err(SecretError::BadConfig(
                    "a key id must be non-empty and contain no '.'".into(),
                ));
            }
            let bytes = URL_SAFE_NO_PAD
                .decode(b64.trim_end_matches('='))
                .or_else(|_| base64::engine::general_purpose::STANDARD.decode(b64))
                .map_err(|_| SecretError::BadConfig(format!("key {kid:?} is not base64")))?;
            if bytes.len() != 32 {
                return Err(SecretError::BadConfig(format!(
                    "key {kid:?} must be 32 bytes, is {}",
                    bytes.len()
                )));
            }
            keys.push((
                kid.to_string(),
                ChaCha20Poly1305::new(Key::from_slice(&bytes)),
            ));
        }
        if keys.is_empty() {
            return Err(SecretError::BadConfig("no key given".into()));
        }
        Ok(Sealer { keys })
    }

    /// A fixed, public key for dev mode only: secrets are still never stored as plaintext, but
    /// anyone can open them. `serve --auth required` refuses to start without real keys.
    pub fn insecure_dev() -> Self {
        let Ok(s) = Self::from_spec("dev:ZGV2LW9ubHktYWxtYW5hYy10b2tlbi1rZXktMzJieXQ") else {
            unreachable!("the dev key is well-formed")
        };
        s
    }

    pub fn seal(&self, plaintext: &str) -> String {
        let (kid, cipher) = &self.keys[0];
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption with a valid key and nonce cannot fail for inputs this size.
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: AAD,
                },
            )
            .unwrap_or_default();
        format!(
            "{kid}.{}.{}",
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(ct)
        )
    }

    pub fn open(&self, sealed: &str) -> Result<String, SecretError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(kid), Some(nonce), Some(ct)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SecretError::Unreadable);
        };
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(k, _)| k == kid)
            .ok_or(SecretError::Unreadable)?;
        let nonce = URL_SAFE_NO_PAD
            .decode(nonce)
            .map_err(|_| SecretError::Unreadable)?;
        let ct = URL_SAFE_NO_PAD
            .decode(ct)
            .map_err(|_| SecretError::Unreadable)?;
        if nonce.len() != 12 {
            return Err(SecretError::Unreadable);
        }
        let pt = cipher
            .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ct, aad: AAD })
            .map_err(|_| SecretError::Unreadable)?;
        String::from_utf8(pt).map_err(|_| SecretError::Unreadable)
    }

    /// Whether the value was sealed with a key other than the current one.
    pub fn is_stale(&self, sealed: &str) -> bool {
        sealed.split('.').next() != Some(self.keys[0].0.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        URL_SAFE_NO_PAD.encode([byte; 32])
    }

    #[test]
    fn sealed_values_open_and_never_contain_the_plaintext() {
        let s = Sealer::from_spec(&format!("k1:{}", key(1))).expect("spec");
        let sealed = s.seal("ya29.secret-access-token");
        assert!(!sealed.contains("secret"));
        assert_ne!(
            s.seal("ya29.secret-access-token"),
            sealed,
            "fresh nonce every time"
        );
        assert_eq!(s.open(&sealed).expect("opens"), "ya29.secret-access-token");
    }

    #[test]
    fn rotation_opens_old_values_and_seals_with_the_new_key() {
        let old = Sealer::from_spec(&format!("k1:{}", key(1))).expect("spec");
        let sealed_old = old.seal("refresh-1");
        let rotated = Sealer::from_spec(&format!("k2:{},k1:{}", key(2), key(1))).expect("spec");
        assert_eq!(
            rotated.open(&sealed_old).expect("old key still opens"),
            "refresh-1"
        );
        assert!(rotated.is_stale(&sealed_old));
        let sealed_new = rotated.seal("refresh-1");
        assert!(!rotated.is_stale(&sealed_new));
        assert!(
            old.open(&sealed_new).is_err(),
            "the old key cannot open new values"
        );
    }

    #[test]
    fn tampering_and_garbage_are_refused() {
        let s = Sealer::from_spec(&format!("k1:{}", key(1))).expect("spec");
        let mut sealed = s.seal("x");
        sealed.push('A');
        assert!(s.open(&sealed).is_err());
        assert!(s.open("nonsense").is_err());
        assert!(Sealer::from_spec("k1:short").is_err());
        assert!(Sealer::from_spec("").is_err());
    }
}
