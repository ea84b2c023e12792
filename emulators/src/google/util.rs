//! Google's id shapes and time formats (the PRNG, tokens and URL/form coding live in
//! `crate::util` and are re-exported here).

pub(crate) use crate::util::{
    b64url, b64url_decode, instant_to_local, local_to_instant, parse_form, percent_encode,
    sha256_b64url, token, SplitMix64,
};
use chrono::{DateTime, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// The alphabet of Google event ids (RFC 2938 base32hex, lower case).
pub(crate) const BASE32HEX: &[u8] = b"0123456789abcdefghijklmnopqrstuv";

/// Server-generated event ids look like Google's: 26 base32hex characters.
pub(crate) fn new_event_id(rng: &mut SplitMix64) -> String {
    rng.string(BASE32HEX, 26)
}

/// Client-supplied ids: base32hex characters only, 5 to 1024 of them.
pub(crate) fn is_valid_event_id(id: &str) -> bool {
    (5..=1024).contains(&id.len()) && id.bytes().all(|b| BASE32HEX.contains(&b))
}

/// RFC 3339 with milliseconds in UTC, the form of `created`/`updated`.
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// An instant as a `dateTime` in `tz`, offset included ("Z" for UTC-equivalent zones).
pub(crate) fn render_instant(secs: i64, tz: Tz) -> String {
    let utc = DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or_default();
    let local = tz.from_utc_datetime(&utc.naive_utc());
    if local.offset().fix().local_minus_utc() == 0 {
        local.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        local.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// HTTP-date (RFC 7231 IMF-fixdate), as in `X-Goog-Channel-Expiration`.
pub(crate) fn http_date(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// Parses an RFC 3339 timestamp with a mandatory offset (fractions ignored, as Google does).
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|d| d.timestamp())
}

pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(is_valid_event_id("abcde"));
        assert!(!is_valid_event_id("abcd"));
        assert!(!is_valid_event_id("abcdw"));
        assert!(!is_valid_event_id("ABCDE"));
        let mut r = SplitMix64::new(1);
        assert!(is_valid_event_id(&new_event_id(&mut r)));
    }
}
