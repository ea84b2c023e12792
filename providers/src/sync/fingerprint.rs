//! Fingerprints of content as a provider shows it: equal fingerprints, nothing to push.
//!
//! They are stored with every mapping, so their encoding is a stored format: a fingerprint is
//! `v2:` followed by the SHA-256 (hex) of a canonical JSON list of exactly the fields a provider
//! shows, each named, in a fixed order. Adding a field to [`RemoteSeries`] or changing a `Debug`
//! output does not change any fingerprint; changing what is encoded here must bump the version.
//!
//! Releases before `v2` stored the first 16 bytes (hex) of the SHA-256 of the content's `Debug`
//! text, without a prefix. Treating those as "unknown" would re-push every series and exception
//! of every link the first time it is touched after the upgrade, so an unprefixed fingerprint is
//! still compared the old way — against a frozen copy of the old `Debug` shape (`legacy`), not
//! today's types, so it keeps matching whatever happens to them later. A legacy fingerprint that
//! matches is replaced by the `v2` one the next time the mapping is written, so the old scheme
//! fades out without a single extra provider write.

use super::model::{RemoteException, RemoteSeries, RemoteTime};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The prefix of fingerprints in the current encoding.
pub const CURRENT_VERSION: &str = "v2:";

/// The fingerprint of a series as the provider shows it, without its exceptions (which are
/// fingerprinted one by one, so one changed occurrence does not rewrite the others).
pub fn series_fingerprint(series: &RemoteSeries) -> String {
    seal(&json!([
        "series",
        ["title", series.title],
        ["description", series.description],
        ["start", time(&series.start)],
        ["end", time(&series.end)],
        ["rrule", series.rrule],
        [
            "rdates",
            series.rdates.iter().map(wall_clock).collect::<Vec<_>>()
        ],
        [
            "exdates",
            series.exdates.iter().map(wall_clock).collect::<Vec<_>>()
        ],
        ["tentative", series.tentative],
        ["transparent", series.transparent],
        ["kind", series.kind.as_str()],
    ]))
}

/// The fingerprint of one overridden occurrence.
pub fn exception_fingerprint(e: &RemoteException) -> String {
    seal(&json!([
        "exception",
        ["original_start", e.original_start],
        ["cancelled", e.cancelled],
        ["start", e.start.as_ref().map(time)],
        ["end", e.end.as_ref().map(time)],
        ["title", e.title],
        ["description", e.description],
        ["tentative", e.tentative],
    ]))
}

/// Whether a stored series fingerprint (of either scheme) describes `series`.
pub fn series_matches(stored: &str, series: &RemoteSeries) -> bool {
    match stored.strip_prefix(CURRENT_VERSION) {
        Some(_) => stored == series_fingerprint(series),
        None => stored == legacy::series(series),
    }
}

/// Whether a stored exception fingerprint (of either scheme) describes `e`.
pub fn exception_matches(stored: &str, e: &RemoteException) -> bool {
    match stored.strip_prefix(CURRENT_VERSION) {
        Some(_) => stored == exception_fingerprint(e),
        None => stored == legacy::exception(e),
    }
}

fn seal(fields: &Value) -> String {
    // serde_json writes arrays, strings and numbers one way only: the text is canonical.
    let digest = Sha256::digest(fields.to_string().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{CURRENT_VERSION}{hex}")
}

fn wall_clock(t: &chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
}

fn time(t: &RemoteTime) -> Value {
    match t {
        RemoteTime::Timed { local, zone } => json!(["timed", wall_clock(local), zone.name()]),
        RemoteTime::AllDay(d) => json!(["all_day", d.format("%Y-%m-%d").to_string()]),
    }
}

/// The pre-`v2` scheme, kept only to recognise fingerprints stored by older releases. The
/// structs mirror the model types as they were then, field for field, because their derived
/// `Debug` text *is* the old encoding: do not change them when the model changes.
// Their fields are only read by the derived `Debug`, which is what dead-code analysis ignores.
#[allow(dead_code)]
pub(crate) mod legacy {
    use chrono::{NaiveDate, NaiveDateTime};
    use chrono_tz::Tz;
    use sha2::{Digest, Sha256};

    #[derive(Debug)]
    enum RemoteTime {
        Timed { local: NaiveDateTime, zone: Tz },
        AllDay(NaiveDate),
    }

    #[derive(Debug)]
    enum SeriesKind {
        Event,
        Blocked,
        Available,
    }

    #[derive(Debug)]
    struct RemoteSeries {
        title: String,
        description: Option<String>,
        start: RemoteTime,
        end: RemoteTime,
        rrule: Option<String>,
        rdates: Vec<NaiveDateTime>,
        exdates: Vec<NaiveDateTime>,
        tentative: bool,
        transparent: bool,
        kind: SeriesKind,
        exceptions: Vec<RemoteException>,
    }

    #[derive(Debug)]
    struct RemoteException {
        original_start: i64,
        cancelled: bool,
        start: Option<RemoteTime>,
        end: Option<RemoteTime>,
        title: Option<String>,
        description: Option<String>,
        tentative: bool,
    }

    fn time(t: &super::RemoteTime) -> RemoteTime {
        match *t {
            super::RemoteTime::Timed { local, zone } => RemoteTime::Timed { local, zone },
            super::RemoteTime::AllDay(d) => RemoteTime::AllDay(d),
        }
    }

    fn digest<T: std::fmt::Debug>(content: &T) -> String {
        let digest = Sha256::digest(format!("{content:?}").as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// The old fingerprint of a series without its exceptions.
    pub(crate) fn series(s: &super::RemoteSeries) -> String {
        use almanac_domain::series::SeriesKind as Kind;
        digest(&RemoteSeries {
            title: s.title.clone(),
            description: s.description.clone(),
            start: time(&s.start),
            end: time(&s.end),
            rrule: s.rrule.clone(),
            rdates: s.rdates.clone(),
            exdates: s.exdates.clone(),
            tentative: s.tentative,
            transparent: s.transparent,
            kind: match s.kind {
                Kind::Event => SeriesKind::Event,
                Kind::Blocked => SeriesKind::Blocked,
                Kind::Available => SeriesKind::Available,
            },
            exceptions: Vec::new(),
        })
    }

    pub(crate) fn exception(e: &super::RemoteException) -> String {
        digest(&RemoteException {
            original_start: e.original_start,
            cancelled: e.cancelled,
            start: e.start.as_ref().map(time),
            end: e.end.as_ref().map(time),
            title: e.title.clone(),
            description: e.description.clone(),
            tentative: e.tentative,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use almanac_domain::series::SeriesKind;
    use chrono::NaiveDate;

    fn weekly_standup() -> RemoteSeries {
        let at = |d: u32, h: u32| {
            NaiveDate::from_ymd_opt(2026, 3, d)
                .and_then(|d| d.and_hms_opt(h, 0, 0))
                .expect("valid")
        };
        RemoteSeries {
            title: "Standup".into(),
            description: Some("Daily sync".into()),
            start: RemoteTime::Timed {
                local: at(2, 9),
                zone: chrono_tz::Europe::Berlin,
            },
            end: RemoteTime::Timed {
                local: at(2, 10),
                zone: chrono_tz::Europe::Berlin,
            },
            rrule: Some("FREQ=WEEKLY;BYDAY=MO".into()),
            rdates: vec![at(4, 9)],
            exdates: vec![at(9, 9)],
            tentative: false,
            transparent: false,
            kind: SeriesKind::Event,
            exceptions: vec![moved_occurrence()],
        }
    }

    fn moved_occurrence() -> RemoteException {
        RemoteException {
            original_start: 1_774_252_800,
            cancelled: false,
            start: Some(RemoteTime::AllDay(
                NaiveDate::from_ymd_opt(2026, 3, 24).expect("valid"),
            )),
            end: None,
            title: Some("Standup (moved)".into()),
            description: None,
            tentative: true,
        }
    }

    // The literals below are stored in databases: if one of these fails, the encoding changed
    // and every mapping would be pushed again. Bump the version deliberately instead.
    #[test]
    fn the_v2_encoding_is_pinned() {
        assert_eq!(
            series_fingerprint(&weekly_standup()),
            "v2:14eb9bbfc13a6a387b0a686a5417bea9089b8aee76ee0cf1f7f388923cac5236"
        );
        assert_eq!(
            exception_fingerprint(&moved_occurrence()),
            "v2:26850545524c93f32dea53d7116228eaeff0f10e1c992965f5538e8dfe065943"
        );
    }

    #[test]
    fn fingerprints_stored_by_older_releases_still_match() {
        // What releases before v2 stored for the same content (computed with their code).
        let series = "351ed0ecee5d366f670167e0e06c8f81";
        let exception = "e1ff52657cd43a38a1598c1dcedce976";
        assert!(series_matches(series, &weekly_standup()));
        assert!(exception_matches(exception, &moved_occurrence()));
        let mut renamed = weekly_standup();
        renamed.title = "Retro".into();
        assert!(!series_matches(series, &renamed));
    }

    #[test]
    fn a_series_fingerprint_ignores_exceptions_but_not_fields() {
        let s = weekly_standup();
        let without = RemoteSeries {
            exceptions: Vec::new(),
            ..s.clone()
        };
        assert_eq!(series_fingerprint(&s), series_fingerprint(&without));
        let none = RemoteSeries {
            description: None,
            ..s.clone()
        };
        let empty = RemoteSeries {
            description: Some(String::new()),
            ..s.clone()
        };
        assert_ne!(series_fingerprint(&none), series_fingerprint(&empty));
        let transparent = RemoteSeries {
            transparent: true,
            ..s.clone()
        };
        assert_ne!(series_fingerprint(&s), series_fingerprint(&transparent));
        assert!(series_matches(&series_fingerprint(&s), &s));
        assert!(!series_matches(&series_fingerprint(&s), &transparent));
    }
}
