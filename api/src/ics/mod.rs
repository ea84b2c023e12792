//! iCalendar (RFC 5545): the export of a calendar as a feed and the import of `.ics` files, as pure
//! functions over domain types. No I/O here: `services::ics` loads and stores, `http::ics` serves
//! the feed.
//!
//! - [`export`] writes a calendar's series as VEVENTs (RRULE/RDATE/EXDATE, RECURRENCE-ID
//!   overrides) with one VTIMEZONE per zone used ([`vtimezone`], generated from chrono-tz).
//! - [`import`] reads a file (parsed by the `icalendar` crate's RFC 5545 parser) into series and
//!   exceptions built with the same domain constructors as `createSeries` and `editOccurrence`.
//!
//! Both sides agree on one mapping, so import → export → import keeps every occurrence:
//!
//! | Almanac | iCalendar |
//! |---|---|
//! | series | VEVENT, `UID:<series id>@almanac`; a split's continuation is its own VEVENT |
//! | kind | `X-ALMANAC-KIND` (EVENT, BLOCKED, AVAILABLE) |
//! | zone, wall-clock start | `DTSTART;TZID=<IANA name>` (`…Z` for UTC, `VALUE=DATE` for all-day) |
//! | length as a duration / as an end | `DURATION` / `DTEND` (all-day: a `DTEND` date) |
//! | rule, RDATE, EXDATE | `RRULE` (COUNT kept; UNTIL in UTC, a DATE for all-day), `RDATE`, `EXDATE` |
//! | cancelled occurrence | `EXDATE` |
//! | edited or moved occurrence | VEVENT with the same UID and `RECURRENCE-ID` |
//! | status TENTATIVE / COMPLETED | `STATUS:TENTATIVE` / `STATUS:CONFIRMED` + `X-ALMANAC-STATUS:COMPLETED` |
//! | show as free | `TRANSP:TRANSPARENT` |

pub mod export;
pub mod import;
pub mod vtimezone;

use chrono::{NaiveDate, NaiveDateTime};

/// Content lines longer than this many octets are folded (RFC 5545 §3.1), CRLF excluded.
pub const MAX_LINE_OCTETS: usize = 75;

/// Builds an iCalendar document line by line: CRLF line ends, lines folded at 75 octets without
/// splitting a UTF-8 sequence.
#[derive(Debug, Default)]
pub struct IcsWriter {
    out: String,
}

impl IcsWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// A content line: `head` is the name with its parameters (`DTSTART;TZID=Europe/Berlin`),
    /// `value` is already in its RFC 5545 form (TEXT escaped).
    pub fn line(&mut self, head: &str, value: &str) {
        let mut budget = MAX_LINE_OCTETS;
        let mut used = 0;
        for ch in head
            .chars()
            .chain(std::iter::once(':'))
            .chain(value.chars())
        {
            let n = ch.len_utf8();
            if used + n > budget {
                self.out.push_str("\r\n ");
                used = 1;
                budget = MAX_LINE_OCTETS;
            }
            self.out.push(ch);
            used += n;
        }
        self.out.push_str("\r\n");
    }

    /// A TEXT property, escaped.
    pub fn text(&mut self, name: &str, value: &str) {
        self.line(name, &escape_text(value));
    }

    pub fn begin(&mut self, component: &str) {
        self.line("BEGIN", component);
    }

    pub fn end(&mut self, component: &str) {
        self.line("END", component);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Escapes a TEXT value (RFC 5545 §3.3.11): backslash, semicolon, comma and newlines. Other
/// control characters, which TEXT may not contain, are dropped.
pub fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push_str("\\n");
                }
            }
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A parameter value, quoted when it contains a character that would end it.
pub fn param_value(value: &str) -> String {
    let clean: String = value
        .chars()
        .filter(|c| *c != '"' && !c.is_control())
        .collect();
    if clean.contains([':', ';', ',']) {
        format!("\"{clean}\"")
    } else {
        clean
    }
}

pub(crate) fn fmt_date(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

pub(crate) fn fmt_local(t: NaiveDateTime) -> String {
    t.format("%Y%m%dT%H%M%S").to_string()
}

pub(crate) fn fmt_utc(t: i64) -> String {
    almanac_domain::time::instant(t)
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let mut w = IcsWriter::new();
        let summary = "Ünïcödé планёрка — 会議 ".repeat(12);
        w.text("SUMMARY", &summary);
        let doc = w.finish();
        for line in doc.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(
                line.len() <= MAX_LINE_OCTETS,
                "{} octets: {line:?}",
                line.len()
            );
        }
        // Unfolding (CRLF + one space) restores the line.
        let unfolded = doc.replace("\r\n ", "");
        assert_eq!(unfolded, format!("SUMMARY:{}\r\n", escape_text(&summary)));
        assert!(doc.lines().count() > 4);
    }

    #[test]
    fn a_line_of_exactly_75_octets_is_not_folded() {
        let mut w = IcsWriter::new();
        w.line("X", &"a".repeat(73));
        assert_eq!(w.finish(), format!("X:{}\r\n", "a".repeat(73)));
        let mut w = IcsWriter::new();
        w.line("X", &"a".repeat(74));
        assert_eq!(w.finish(), format!("X:{}\r\n a\r\n", "a".repeat(73)));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape_text("a, b; c\\d\r\ne\nf\u{7}"),
            "a\\, b\\; c\\\\d\\ne\\nf"
        );
        assert_eq!(param_value("Europe/Berlin"), "Europe/Berlin");
        assert_eq!(param_value("a:b"), "\"a:b\"");
    }
}
