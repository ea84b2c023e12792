//! `importIcs` reads files users upload: whatever they hold, the importer answers (a plan or a
//! refusal) without panicking, and whatever it accepts, Almanac's own feed of it imports again
//! with the same occurrences.
//!
//! Inputs are real exports (Google, Outlook and friends, in `tests/data/ics/`) and a fixture of
//! Almanac's own, mutated line by line: lines dropped, repeated, swapped or cut short, values
//! replaced by hostile ones, and recurrence properties inserted where they make the least sense.

use almanac_api::ics::{export, import};
use almanac_domain::availability::AvailabilityMode;
use almanac_domain::occurrence::occurrences_page;
use almanac_domain::series::{Calendar, OccurrenceStatus, Series};
use almanac_domain::time::{instant, TimeWindow};
use almanac_domain::{CalendarId, OrganizationId};
use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

const OWN: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n\
BEGIN:VEVENT\r\nUID:weekly\r\nDTSTART;TZID=America/New_York:20260302T090000\r\nDTEND;TZID=America/New_York:20260302T094500\r\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=30\r\nEXDATE;TZID=America/New_York:20260306T090000\r\nRDATE:20260307T170000Z\r\nSUMMARY:Standup\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:weekly\r\nRECURRENCE-ID;TZID=America/New_York:20260304T090000\r\nDTSTART:20260304T200000Z\r\nDTEND:20260304T210000Z\r\nSUMMARY:Moved\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:weekly\r\nRECURRENCE-ID;TZID=America/New_York:20260311T090000\r\nDTSTART;TZID=America/New_York:20260311T090000\r\nDURATION:PT45M\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:monthly\r\nDTSTART;TZID=Europe/Berlin:20260131T170000\r\nDURATION:PT1H30M\r\nRRULE:FREQ=MONTHLY;BYMONTHDAY=31;UNTIL=20271231T000000Z\r\nSUMMARY:Month end\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:allday\r\nDTSTART;VALUE=DATE:20260704\r\nDTEND;VALUE=DATE:20260706\r\nRRULE:FREQ=YEARLY;UNTIL=20290704T000000Z\r\nSUMMARY:Holiday\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:night\r\nDTSTART;TZID=Europe/Berlin:20260327T023000\r\nDURATION:PT15M\r\nRRULE:FREQ=DAILY;COUNT=5\r\nSUMMARY:Backup\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";

fn corpus() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/ics");
    let mut files: Vec<String> = ["google-export.ics", "outlook-and-friends.ics"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(format!("{dir}/{f}")).unwrap_or_else(|e| panic!("{f}: {e}"))
        })
        .collect();
    files.push(OWN.to_string());
    files
}

/// Values that have broken calendar software somewhere.
const HOSTILE_VALUES: &[&str] = &[
    "",
    " ",
    "\u{0}",
    "é😀\u{202e}",
    "20260230T090000",
    "20261301T000000Z",
    "99991231T235959Z",
    "00000101T000000",
    "20260308T023000",
    "-P1D",
    "PT0S",
    "P9999999W",
    "FREQ=SECONDLY;COUNT=100000",
    "FREQ=MONTHLY;BYMONTHDAY=31;BYSETPOS=-1",
    "FREQ=YEARLY;BYWEEKNO=53;BYDAY=MO;COUNT=3",
    "FREQ=DAILY;UNTIL=19700101T000000Z",
    "FREQ=WEEKLY;INTERVAL=0",
    "FREQ=WEEKLY;BYDAY=5TU",
    "FREQ=MONTHLY;BYDAY=-5FR;COUNT=4",
    "FREQ=DAILY;COUNT=99999999999999999999",
    "Mars/Olympus_Mons",
    "W. Europe Standard Time",
    ";;;;",
    "::::",
    "\\n\\,\\;",
];

/// Lines inserted at random places.
const INSERTED_LINES: &[&str] = &[
    "RRULE:FREQ=DAILY;COUNT=3",
    "RRULE:FREQ=MONTHLY;BYDAY=-1FR",
    "RRULE:FREQ=HOURLY;INTERVAL=7;COUNT=40",
    "EXDATE;VALUE=DATE:20260304",
    "EXDATE:20260304T140000Z",
    "RDATE;VALUE=PERIOD:20260305T100000Z/20260305T120000Z",
    "RDATE;VALUE=DATE:20260401",
    "RECURRENCE-ID;TZID=America/New_York:20260302T090000",
    "RECURRENCE-ID;RANGE=THISANDFUTURE:20260302T140000Z",
    "DTSTART;VALUE=DATE:20260301",
    "DTSTART;TZID=Europe/Berlin:20260329T023000",
    "DTEND;TZID=Asia/Tokyo:20260302T090000",
    "DURATION:PT1H",
    "STATUS:CANCELLED",
    "STATUS:TENTATIVE",
    "X-ALMANAC-KIND:AVAILABLE",
    "UID:weekly",
    "BEGIN:VEVENT",
    "END:VEVENT",
    "BEGIN:VTODO",
    "END:VCALENDAR",
    " folded continuation",
];

#[derive(Debug, Clone)]
enum Mutation {
    Drop(usize),
    Repeat(usize),
    Swap(usize, usize),
    ReplaceValue(usize, usize),
    Insert(usize, usize),
    CutShort(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Drop),
        any::<usize>().prop_map(Mutation::Repeat),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        (any::<usize>(), 0..HOSTILE_VALUES.len()).prop_map(|(a, v)| Mutation::ReplaceValue(a, v)),
        (any::<usize>(), 0..INSERTED_LINES.len()).prop_map(|(a, v)| Mutation::Insert(a, v)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::CutShort(a, b)),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text
        .split("\r\n")
        .map(|l| l.trim_end_matches('\n').to_string())
        .filter(|l| !l.is_empty())
        .collect();
    for m in mutations {
        if lines.is_empty() {
            break;
        }
        let at = |i: usize| i % lines.len();
        match *m {
            Mutation::Drop(i) => {
                lines.remove(at(i));
            }
            Mutation::Repeat(i) => {
                let l = lines[at(i)].clone();
                lines.insert(at(i), l);
            }
            Mutation::Swap(a, b) => {
                let (a, b) = (at(a), at(b));
                lines.swap(a, b);
            }
            Mutation::ReplaceValue(i, v) => {
                let i = at(i);
                if let Some(colon) = lines[i].find(':') {
                    lines[i] = format!("{}:{}", &lines[i][..colon], HOSTILE_VALUES[v]);
                }
            }
            Mutation::Insert(i, v) => {
                let i = at(i);
                lines.insert(i, INSERTED_LINES[v].to_string());
            }
            Mutation::CutShort(i, n) => {
                let i = at(i);
                let chars: Vec<char> = lines[i].chars().collect();
                lines[i] = chars[..n % (chars.len() + 1)].iter().collect();
            }
        }
    }
    let mut out = lines.join("\r\n");
    out.push_str("\r\n");
    out
}

fn calendar() -> Calendar {
    Calendar {
        id: CalendarId::from_uuid(uuid::Uuid::now_v7()),
        organization: OrganizationId::DEFAULT,
        name: "c".into(),
        time_zone: chrono_tz::America::New_York,
        availability: AvailabilityMode::Default {
            working_hours: None,
        },
    }
}

/// (start, end, title) of every visible occurrence in 2026–2028.
fn shown(series: &[Series]) -> Vec<(DateTime<Utc>, DateTime<Utc>, String)> {
    let from = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .map(|t| t.timestamp())
        .unwrap_or_default();
    let to = Utc
        .with_ymd_and_hms(2029, 1, 1, 0, 0, 0)
        .single()
        .map(|t| t.timestamp())
        .unwrap_or_default();
    let window = TimeWindow::new(instant(from), instant(to)).expect("window");
    let titles: std::collections::HashMap<_, _> =
        series.iter().map(|s| (s.id, s.title.clone())).collect();
    occurrences_page(series.iter(), window, None, 200_000, false)
        .occurrences
        .into_iter()
        .filter(|o| o.status != OccurrenceStatus::Cancelled)
        .map(|o| {
            (
                o.start,
                o.end,
                o.title.clone().unwrap_or_else(|| titles[&o.series].clone()),
            )
        })
        .collect()
}

/// Import → export → import gives the same occurrences, and every accepted event is exported.
fn check_round_trip(text: &str) -> Result<(), TestCaseError> {
    let cal = calendar();
    let Ok(first) = import::plan(text, &cal) else {
        return Ok(());
    };
    let series: Vec<Series> = first.events.iter().map(|e| e.series.clone()).collect();
    let feed = export::calendar(&cal, &series, Utc::now());
    let second = import::plan(&feed, &cal).map_err(|e| {
        TestCaseError::fail(format!("Almanac's own feed was refused: {e:?}\n{feed}"))
    })?;
    prop_assert!(
        second.skipped.is_empty(),
        "parts of Almanac's own feed were skipped: {:?}\n{}",
        second.skipped,
        feed
    );
    prop_assert_eq!(second.events.len(), first.events.len(), "{}", feed);
    let again: Vec<Series> = second.events.iter().map(|e| e.series.clone()).collect();
    prop_assert_eq!(
        shown(&again),
        shown(&series),
        "input:\n{}\nfeed:\n{}",
        text,
        feed
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_files_never_panic_and_what_is_accepted_round_trips(which in 0usize..3, mutations in prop::collection::vec(mutation(), 1..6)) {
        let files = corpus();
        let text = mutate(&files[which % files.len()], &mutations);
        check_round_trip(&text)?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        let cal = calendar();
        let _ = import::plan(&text, &cal);
        let wrapped = format!("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n{text}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
        let _ = import::plan(&wrapped, &cal);
    }
}

/// The unmutated inputs round-trip (and the property above is not vacuous: they import events).
#[test]
fn the_corpus_itself_round_trips() {
    for text in corpus() {
        let plan = import::plan(&text, &calendar()).expect("the corpus is valid iCalendar");
        assert!(!plan.events.is_empty());
        check_round_trip(&text).expect("round trip");
    }
}
