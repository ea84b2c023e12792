//! Small helpers: Graph's id, key and time shapes, `Prefer` parsing.

use crate::util::{b64url, sha256_b64url, SplitMix64};
pub(crate) use crate::util::{instant_to_local, local_to_instant, token};
use axum::http::HeaderMap;
use base64::Engine;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;

const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A REST id (changes when the item moves to another folder) looks like Exchange's `AAMkAG…=`.
pub(crate) fn rest_id(rng: &mut SplitMix64) -> String {
    format!("AAMkAG{}AAA=", rng.string(ID_ALPHABET, 90))
}

/// An immutable id (`Prefer: IdType="ImmutableId"`) looks like `AAkALgAA…=`.
pub(crate) fn immutable_id(rng: &mut SplitMix64) -> String {
    format!("AAkALgAA{}AAA=", rng.string(ID_ALPHABET, 88))
}

/// The id of an occurrence (and of the exception it becomes): derived from the master's id of the
/// same kind and the original start, so it is stable, yet opaque and case-sensitive.
pub(crate) fn occurrence_id(master_id: &str, orig: i64) -> String {
    let prefix = if master_id.starts_with("AAkALgAA") {
        "AAkALgAA"
    } else {
        "AAMkAG"
    };
    let a = sha256_b64url(format!("{master_id}/{orig}").as_bytes());
    let b = sha256_b64url(format!("{orig}/{master_id}").as_bytes());
    format!("{prefix}BRgAA{a}{}AAAEA=", &b[..30])
}

/// Whether a string could be an Exchange id at all (else 400 `ErrorInvalidIdMalformed`).
pub(crate) fn id_well_formed(id: &str) -> bool {
    id.len() >= 16
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'+' | b'/'))
}

pub(crate) fn guid(rng: &mut SplitMix64) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// A `changeKey`: 16 random bytes in standard base64, like `EZ9r3czxY0m2jz8c45czkwAAFXcvIw==`.
pub(crate) fn change_key(rng: &mut SplitMix64) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Exchange's GlobalObjectId as hex: class id, instance date (0 for the series / single items),
/// creation FILETIME, reserved, then 16 random bytes.
pub(crate) fn new_ical_uid(rng: &mut SplitMix64, created_ms: i64) -> String {
    let filetime = (created_ms.max(0) as u64)
        .saturating_mul(10_000)
        .saturating_add(116_444_736_000_000_000);
    format!(
        "040000008200E00074C5B7101A82E00800000000{:016X}000000000000000010000000{:016X}{:016X}",
        filetime.swap_bytes(),
        rng.next_u64(),
        rng.next_u64()
    )
}

/// The per-occurrence `iCalUId`: the master's with bytes 16–19 set to the instance date.
pub(crate) fn occurrence_ical_uid(master: &str, date: NaiveDate) -> String {
    use chrono::Datelike;
    if master.len() < 40 {
        return master.to_string();
    }
    format!(
        "{}{:04X}{:02X}{:02X}{}",
        &master[..32],
        date.year(),
        date.month(),
        date.day(),
        &master[40..]
    )
}

/// `2016-12-09T20:30:00.0000000` (wall clock, the form of `dateTimeTimeZone.dateTime`).
pub(crate) fn graph_local(t: NaiveDateTime) -> String {
    format!("{}.0000000", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// `2019-03-29T18:57:11.9622327Z` (created/lastModified stamps; milliseconds padded).
pub(crate) fn stamp(ms: i64) -> String {
    let t = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    format!("{}0000Z", t.format("%Y-%m-%dT%H:%M:%S%.3f"))
}

/// `2017-05-01T20:00:00Z` (`originalStart`, subscription expirations).
pub(crate) fn utc_instant(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub(crate) fn utc_ms(ms: i64) -> String {
    let t = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    format!("{}0000Z", t.format("%Y-%m-%dT%H:%M:%S%.3f"))
}

/// A wall-clock `dateTime` as Graph accepts it: `2027-03-01T09:00:00`, with optional fraction,
/// optional `Z`/offset (then converted to `tz`), or a bare date (midnight).
pub(crate) fn parse_wall_clock(text: &str, tz: Tz) -> Option<NaiveDateTime> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(instant_to_local(d.timestamp(), tz));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, f) {
            return Some(n.with_nanosecond0());
        }
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

trait Nanos {
    fn with_nanosecond0(self) -> Self;
}

impl Nanos for NaiveDateTime {
    fn with_nanosecond0(self) -> Self {
        use chrono::Timelike;
        self.with_nanosecond(0).unwrap_or(self)
    }
}

/// A query-string instant (`startDateTime`…): RFC 3339, or a wall-clock time read in UTC.
pub(crate) fn parse_query_instant(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.timestamp());
    }
    parse_wall_clock(t, chrono_tz::UTC).map(|n| n.and_utc().timestamp())
}

/// The `Prefer` preferences Graph honours for calendars, from any number of `Prefer` headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Prefs {
    pub time_zone: Option<String>,
    pub immutable_ids: bool,
    pub max_page_size: Option<usize>,
}

pub(crate) fn prefs(headers: &HeaderMap) -> Prefs {
    let mut p = Prefs::default();
    for h in headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for item in split_outside_quotes(h) {
            let (k, v) = item.split_once('=').unwrap_or((item.as_str(), ""));
            let v = v.trim().trim_matches('"').to_string();
            match k.trim().to_ascii_lowercase().as_str() {
                "outlook.timezone" => p.time_zone = Some(v),
                "idtype" => p.immutable_ids = v.eq_ignore_ascii_case("ImmutableId"),
                "odata.maxpagesize" => p.max_page_size = v.parse().ok().filter(|n: &usize| *n > 0),
                _ => {}
            }
        }
    }
    p
}

fn split_outside_quotes(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' | ';' if !quoted => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
            }
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// A JWT-shaped access token (claims readable by clients, signature meaningless).
pub(crate) fn jwt(claims: &serde_json::Value, rng: &mut SplitMix64) -> String {
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "kid": "almanac-emulator"});
    let sig: Vec<u8> = (0..32).map(|_| rng.next_u64() as u8).collect();
    format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes()),
        b64url(&sig)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn prefer_headers_combine() {
        let mut h = HeaderMap::new();
        h.append(
            "prefer",
            HeaderValue::from_static(
                "outlook.timezone=\"Pacific Standard Time\", IdType=\"ImmutableId\"",
            ),
        );
        h.append("prefer", HeaderValue::from_static("odata.maxpagesize=2"));
        assert_eq!(
            prefs(&h),
            Prefs {
                time_zone: Some("Pacific Standard Time".into()),
                immutable_ids: true,
                max_page_size: Some(2)
            }
        );
    }

    #[test]
    fn shapes() {
        let mut r = SplitMix64::new(1);
        let id = rest_id(&mut r);
        assert!(id_well_formed(&id) && id.starts_with("AAMkAG"));
        assert!(occurrence_id(&immutable_id(&mut r), 5).starts_with("AAkALgAA"));
        assert_ne!(occurrence_id(&id, 5), occurrence_id(&id, 6));
        let uid = new_ical_uid(&mut r, 0);
        assert_eq!(uid.len(), 112);
        let occ = occurrence_ical_uid(&uid, NaiveDate::from_ymd_opt(2027, 3, 1).expect("date"));
        assert_eq!(&occ[32..40], "07EB0301");
        assert_eq!(stamp(1_000), "1970-01-01T00:00:01.0000000Z");
        assert_eq!(
            parse_wall_clock("2027-03-01", chrono_tz::UTC).map(|d| d.to_string()),
            Some("2027-03-01 00:00:00".into())
        );
        assert_eq!(
            parse_wall_clock("2027-03-01T09:00:00.0000000", chrono_tz::UTC).map(|d| d.to_string()),
            Some("2027-03-01 09:00:00".into())
        );
    }
}
