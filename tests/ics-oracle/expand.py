"""Expands an iCalendar file with an implementation independent of Almanac.

    expand.py FILE FROM TO FLOATING_ZONE

FROM/TO are RFC 3339 instants; FLOATING_ZONE is the IANA zone that floating times and all-day
dates are read in. Prints JSON:

    {"occurrences": [[start_utc, end_utc, summary], ...],   # sorted; overlapping [FROM, TO)
     "problems": ["...", ...]}                               # VTIMEZONE definitions that
                                                              # disagree with the tz database

Occurrences come from recurring-ical-events (python-dateutil's RRULE iteration, RDATE/EXDATE,
RECURRENCE-ID overrides); cancelled ones (STATUS:CANCELLED) are left out, as Almanac's
`occurrences` query leaves them out. Each VTIMEZONE is also turned into a time zone from its own
STANDARD/DAYLIGHT definitions (not looked up by name) and compared hour by hour with the zone
database its name refers to, from a day before the first occurrence in that zone to a day after
the last (the span a VTIMEZONE must cover).
"""

import datetime
import json
import sys
import zoneinfo

import icalendar
import recurring_ical_events

UTC = datetime.timezone.utc


def to_utc(value, floating):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=floating)
        return value.astimezone(UTC)
    return datetime.datetime.combine(value, datetime.time(0), tzinfo=floating).astimezone(UTC)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    path, start, end, floating_name = sys.argv[1:5]
    floating = zoneinfo.ZoneInfo(floating_name)
    start = datetime.datetime.fromisoformat(start.replace("Z", "+00:00"))
    end = datetime.datetime.fromisoformat(end.replace("Z", "+00:00"))
    with open(path, "rb") as f:
        calendar = icalendar.Calendar.from_ical(f.read())

    occurrences = []
    spans = {}  # zone name -> [first start, last end] of the occurrences in it
    pad = datetime.timedelta(days=3)
    for event in recurring_ical_events.of(calendar).between(start - pad, end + pad):
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        s = to_utc(event["DTSTART"].dt, floating)
        if "DTEND" in event:
            e = to_utc(event["DTEND"].dt, floating)
        else:
            e = s + event["DURATION"].dt
        if s < end and e > start:
            occurrences.append([iso(s), iso(e), str(event.get("SUMMARY", ""))])
            zone = event["DTSTART"].params.get("TZID")
            if zone:
                span = spans.setdefault(zone, [s, e])
                span[0], span[1] = min(span[0], s), max(span[1], e)

    problems = []
    for vtimezone in calendar.walk("VTIMEZONE"):
        name = str(vtimezone["TZID"])
        defined = vtimezone.to_tz(lookup_tzid=False)
        real = zoneinfo.ZoneInfo(name)
        if name not in spans:
            continue
        first, last = spans[name]
        t = first.replace(minute=0, second=0) - datetime.timedelta(days=1)
        while t < last + datetime.timedelta(days=1):
            a, b = t.astimezone(defined).utcoffset(), t.astimezone(real).utcoffset()
            if a != b:
                problems.append(f"{name} at {iso(t)}: the VTIMEZONE says {a}, the tz database {b}")
                if len(problems) > 20:
                    break
            t += datetime.timedelta(hours=1)

    unchecked = sorted(set(spans) - {str(v["TZID"]) for v in calendar.walk("VTIMEZONE")})
    problems += [f"{name} is used but has no VTIMEZONE" for name in unchecked]
    json.dump({"occurrences": sorted(occurrences), "problems": problems}, sys.stdout)


if __name__ == "__main__":
    main()
