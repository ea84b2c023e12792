"""Expands recurrence cases with python-dateutil, independently of Almanac.

    expand.py < cases.json

Reads a JSON array of cases, each
    {"id", "dtstart": "YYYY-MM-DDTHH:MM:SS" (wall clock in tzid), "tzid", "rrule",
     "duration_seconds", "window_start", "window_end" (UTC instants, "...Z")}
and prints a JSON object {id: [start_utc, ...]}: the distinct UTC instants of the occurrences
that overlap [window_start, window_end) (start < window_end and start + duration > window_start),
sorted.

This is the plain, documented use of dateutil: DTSTART is an aware datetime in the zone (Python's
zoneinfo, read from the pinned `tzdata` package, not the system's), the rule iterates its
wall-clock times, and each is converted to UTC as Python does for fold=0: a time that occurs
twice is the first (earlier) instant, and a time in a spring-forward gap takes the offset before
the gap -- RFC 5545 section 3.3.5, which section 3.3.10 applies to computed instances.
"""

import datetime
import json
import sys
import zoneinfo

from dateutil.rrule import rrulestr

UTC = datetime.timezone.utc


def parse_utc(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def expand(case):
    tz = zoneinfo.ZoneInfo(case["tzid"])
    dtstart = datetime.datetime.strptime(case["dtstart"], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=tz)
    rule = rrulestr(case["rrule"], dtstart=dtstart)
    start, end = parse_utc(case["window_start"]), parse_utc(case["window_end"])
    length = datetime.timedelta(seconds=case["duration_seconds"])
    # Gap-shifted times come out of wall-clock order by at most the gap; a day past the window
    # leaves room for any zone's gap before an unbounded rule is cut off.
    cutoff = end + datetime.timedelta(days=1)
    found = set()
    for occurrence in rule:
        instant = occurrence.astimezone(UTC)
        if instant >= cutoff:
            break
        if instant < end and instant + length > start:
            found.add(instant)
    return [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in sorted(found)]


def main():
    cases = json.load(sys.stdin)
    json.dump({case["id"]: expand(case) for case in cases}, sys.stdout)


if __name__ == "__main__":
    main()
