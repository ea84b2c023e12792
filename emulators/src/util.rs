//! Helpers both emulators share: a seedable PRNG and the tokens it draws, URL/form and base64
//! coding, wall-clock ↔ instant conversion, and capped logs behind forgiving locks.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::sync::{Mutex, MutexGuard};

// ----- PRNG -----

/// SplitMix64: tiny, seedable and good enough to make fault plans and generated ids reproducible.
/// A real RNG crate would add a dependency for no gain here.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// `len` characters from `alphabet`.
    pub(crate) fn string(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len())] as char)
            .collect()
    }
}

const TOKEN_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// An opaque token or id: `prefix` then `len` URL-safe characters.
pub(crate) fn token(rng: &mut SplitMix64, prefix: &str, len: usize) -> String {
    format!("{prefix}{}", rng.string(TOKEN_ALPHABET, len))
}

// ----- URL, form and base64 coding -----

/// Decodes `application/x-www-form-urlencoded` text (query strings and form bodies) into ordered
/// pairs; repeated names stay repeated.
pub(crate) fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

pub(crate) fn sha256_b64url(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    b64url(&Sha256::digest(data))
}

pub(crate) fn now_ms_real() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

// ----- wall clock and instants -----

/// A wall-clock time in `tz` → instant, with the RFC 5545 reading of gaps and overlaps (the same
/// rule the domain's resolver applies to occurrences).
pub(crate) fn local_to_instant(local: NaiveDateTime, tz: Tz) -> i64 {
    almanac_domain::time::ZoneResolver::new(tz).instant_of(local)
}

pub(crate) fn instant_to_local(secs: i64, tz: Tz) -> NaiveDateTime {
    let utc = DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or_default();
    tz.from_utc_datetime(&utc.naive_utc()).naive_local()
}

// ----- logs and locks -----

/// A poisoned lock only means another request panicked mid-way; the data is still usable for an
/// emulator, and refusing every later request would hide the original failure.
pub(crate) fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Logs are for assertions; a long-running `almanac emulate` must not grow them without bound.
pub(crate) const LOG_CAP: usize = 100_000;

pub(crate) fn push_capped<T>(log: &mut Vec<T>, item: T) {
    if log.len() >= LOG_CAP {
        log.drain(..LOG_CAP / 2);
    }
    log.push(item);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_handles_plus_percent_and_repeats() {
        let pairs = parse_form("a=1&p=x%3Dy&p=b+c&bad=%zz&tail=%4");
        assert_eq!(pairs[1], ("p".into(), "x=y".into()));
        assert_eq!(pairs[2], ("p".into(), "b c".into()));
        assert_eq!(pairs[3].1, "%zz");
        assert_eq!(pairs[4].1, "%4");
    }
}
