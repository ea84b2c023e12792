//! The candidate generator: the wall-clock times an RRULE produces, in order, one period at a time.
//!
//! The iteration is python-dateutil's (which the conformance corpus and libical's rule iterator
//! agree with): a period of the rule's frequency is expanded to a set of days (filtered by the BYxxx
//! parts), combined with a set of times, narrowed by BYSETPOS. What this adds is [`Generator::seek`]:
//! the periods of a rule form an arithmetic lattice in wall-clock time (years, months, weeks, days,
//! hours, minutes or seconds × INTERVAL from DTSTART), so the period containing any moment is found
//! by division, never by replaying the periods before it.
//!
//! Times here are "local seconds": seconds since 1970-01-01T00:00 on the wall clock, no zone. COUNT,
//! UNTIL and the zone are applied by `recurrence`, which resolves wall-clock times to instants.

use super::masks::{M365, M365_RANGE, M366, M366_RANGE, MDAY365, MDAY366, NMDAY365, NMDAY366};
use super::{Frequency, Rule};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

const SECS_PER_DAY: i64 = 86_400;
const MAX_YEAR: i32 = 9999;
/// Days from 0001-01-01 (CE day 1) to 1970-01-01.
const CE_TO_EPOCH_DAYS: i64 = 719_163;

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn epoch_day(y: i32, m: u32, d: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, m, d)
        .map_or(0, |d| i64::from(d.num_days_from_ce()) - CE_TO_EPOCH_DAYS)
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Weekday of an epoch day, Monday = 0.
fn weekday_of(epoch_day: i64) -> u8 {
    // 1970-01-01 was a Thursday (3).
    (epoch_day + 3).rem_euclid(7) as u8
}

#[derive(Clone, Copy, Default)]
struct Bits128([u64; 6]); // 0..=383

impl Bits128 {
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn has(&self, i: usize) -> bool {
        i < 384 && self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn any(&self) -> bool {
        self.0.iter().any(|w| *w != 0)
    }
}

/// The rule with DTSTART's defaults filled in (RFC 5545: missing BYxxx parts are taken from
/// DTSTART), as bit sets for cheap membership tests.
#[derive(Clone)]
struct Expanded {
    freq: Frequency,
    interval: i64,
    wkst: u8,
    by_set_pos: Vec<i32>,
    by_month: u16,
    by_week_no: Vec<i32>,
    by_year_day_pos: Bits128,
    by_year_day_neg: Bits128,
    by_month_day_pos: u32,
    by_month_day_neg: u32,
    by_weekday: u8,
    by_nweekday: Vec<(u8, i32)>,
    by_hour: u32,
    by_minute: u64,
    by_second: u64,
    /// Seconds of the day, sorted; the times of every period for DAILY and coarser.
    timeset: Vec<u32>,
}

fn bit_list(mask: u64) -> impl Iterator<Item = u32> {
    (0..64).filter(move |b| mask & (1u64 << b) != 0)
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

/// Keeps the BYHOUR/BYMINUTE/BYSECOND values a sub-daily lattice can reach from DTSTART
/// (dateutil's `__construct_byset`); `None` when none can be reached.
fn reachable(start: u32, values: &[u8], base: i64, interval: i64) -> Option<u64> {
    let g = gcd(interval, base);
    let mut mask = 0u64;
    for &v in values {
        if g == 1 || (i64::from(v) - i64::from(start)).rem_euclid(g) == 0 {
            mask |= 1 << v;
        }
    }
    (mask != 0).then_some(mask)
}

impl Expanded {
    fn new(rule: &Rule, dtstart: NaiveDateTime) -> Result<Self, String> {
        use Frequency::*;
        let freq = rule.freq;
        let interval = i64::from(rule.interval);
        let mut by_month: u16 = rule.by_month.iter().fold(0, |m, &v| m | (1 << v));
        let mut by_month_day = rule.by_month_day.clone();
        let mut by_weekday: u8 = 0;
        let mut by_nweekday = Vec::new();
        for &(wd, n) in &rule.by_day {
            if n == 0 || freq > Monthly {
                by_weekday |= 1 << wd;
            } else {
                by_nweekday.push((wd, i32::from(n)));
            }
        }
        if rule.by_week_no.is_empty()
            && rule.by_year_day.is_empty()
            && rule.by_month_day.is_empty()
            && rule.by_day.is_empty()
        {
            match freq {
                Yearly => {
                    if by_month == 0 {
                        by_month = 1 << dtstart.month();
                    }
                    by_month_day = vec![dtstart.day() as i8];
                }
                Monthly => by_month_day = vec![dtstart.day() as i8],
                Weekly => by_weekday = 1 << dtstart.weekday().num_days_from_monday(),
                _ => {}
            }
        }
        let mut by_month_day_pos = 0u32;
        let mut by_month_day_neg = 0u32;
        for d in by_month_day {
            if d > 0 {
                by_month_day_pos |= 1 << d;
            } else {
                by_month_day_neg |= 1 << (-d);
            }
        }
        let mut by_year_day_pos = Bits128::default();
        let mut by_year_day_neg = Bits128::default();
        for &d in &rule.by_year_day {
            if d > 0 {
                by_year_day_pos.set(d as usize);
            } else {
                by_year_day_neg.set((-d) as usize);
            }
        }
        let hour_mask = |v: &[u8]| v.iter().fold(0u64, |m, &x| m | (1 << x));
        let by_hour = if rule.by_hour.is_empty() {
            if freq < Hourly {
                1u64 << dtstart.hour()
            } else {
                0
            }
        } else if freq == Hourly {
            reachable(dtstart.hour(), &rule.by_hour, 24, interval)
                .ok_or("no BYHOUR value can be reached with this INTERVAL")?
        } else {
            hour_mask(&rule.by_hour)
        } as u32;
        let by_minute = if rule.by_minute.is_empty() {
            if freq < Minutely {
                1u64 << dtstart.minute()
            } else {
                0
            }
        } else if freq == Minutely {
            reachable(dtstart.minute(), &rule.by_minute, 60, interval)
                .ok_or("no BYMINUTE value can be reached with this INTERVAL")?
        } else {
            hour_mask(&rule.by_minute)
        };
        let by_second = if rule.by_second.is_empty() {
            if freq < Secondly {
                1u64 << dtstart.second()
            } else {
                0
            }
        } else if freq == Secondly {
            reachable(dtstart.second(), &rule.by_second, 60, interval)
                .ok_or("no BYSECOND value can be reached with this INTERVAL")?
        } else {
            hour_mask(&rule.by_second)
        };
        let mut timeset = Vec::new();
        if freq < Hourly {
            for h in bit_list(u64::from(by_hour)) {
                for m in bit_list(by_minute) {
                    for s in bit_list(by_second) {
                        timeset.push(h * 3600 + m * 60 + s);
                    }
                }
            }
            timeset.sort_unstable();
        }
        Ok(Expanded {
            freq,
            interval,
            wkst: rule.wkst,
            by_set_pos: rule.by_set_pos.clone(),
            by_month,
            by_week_no: rule.by_week_no.iter().map(|&w| i32::from(w)).collect(),
            by_year_day_pos,
            by_year_day_neg,
            by_month_day_pos,
            by_month_day_neg,
            by_weekday,
            by_nweekday,
            by_hour,
            by_minute,
            by_second,
            timeset,
        })
    }

    fn hour_ok(&self, h: u32) -> bool {
        self.by_hour == 0 || self.by_hour & (1 << h) != 0
    }
    fn minute_ok(&self, m: u32) -> bool {
        self.by_minute == 0 || self.by_minute & (1 << m) != 0
    }
    fn second_ok(&self, s: u32) -> bool {
        self.by_second == 0 || self.by_second & (1 << s) != 0
    }
}

/// What one year (and, for ordinal weekdays, one month) looks like under the rule.
struct YearInfo {
    year: i32,
    month: u32,
    len: usize,
    next_len: usize,
    /// Epoch day of January 1.
    first_day: i64,
    first_weekday: u8,
    mmask: &'static [u8; 373],
    mdaymask: &'static [i8; 373],
    nmdaymask: &'static [i8; 373],
    mrange: &'static [u16; 13],
    wnomask: Vec<bool>,
    nwdaymask: Vec<bool>,
}

impl YearInfo {
    fn empty() -> Self {
        YearInfo {
            year: i32::MIN,
            month: 0,
            len: 365,
            next_len: 365,
            first_day: 0,
            first_weekday: 0,
            mmask: &M365,
            mdaymask: &MDAY365,
            nmdaymask: &NMDAY365,
            mrange: &M365_RANGE,
            wnomask: Vec::new(),
            nwdaymask: Vec::new(),
        }
    }

    fn wday(&self, i: usize) -> u8 {
        ((self.first_weekday as usize + i) % 7) as u8
    }

    fn rebuild(&mut self, r: &Expanded, year: i32, month: u32) {
        if year != self.year {
            let leap = is_leap(year);
            self.len = if leap { 366 } else { 365 };
            self.next_len = if is_leap(year + 1) { 366 } else { 365 };
            self.first_day = epoch_day(year, 1, 1);
            self.first_weekday = weekday_of(self.first_day);
            if leap {
                self.mmask = &M366;
                self.mdaymask = &MDAY366;
                self.nmdaymask = &NMDAY366;
                self.mrange = &M366_RANGE;
            } else {
                self.mmask = &M365;
                self.mdaymask = &MDAY365;
                self.nmdaymask = &NMDAY365;
                self.mrange = &M365_RANGE;
            }
            self.wnomask.clear();
            if !r.by_week_no.is_empty() {
                self.build_week_numbers(r, year);
            }
        }
        if !r.by_nweekday.is_empty() && (month != self.month || year != self.year) {
            let mut ranges: Vec<(usize, usize)> = Vec::new();
            match r.freq {
                Frequency::Yearly => {
                    if r.by_month != 0 {
                        for m in 1..=12usize {
                            if r.by_month & (1 << m) != 0 {
                                ranges.push((self.mrange[m - 1] as usize, self.mrange[m] as usize));
                            }
                        }
                    } else {
                        ranges.push((0, self.len));
                    }
                }
                Frequency::Monthly => {
                    let m = month as usize;
                    ranges.push((self.mrange[m - 1] as usize, self.mrange[m] as usize));
                }
                _ => {}
            }
            self.nwdaymask.clear();
            if !ranges.is_empty() {
                self.nwdaymask.resize(self.len, false);
                for (first, last) in ranges {
                    let last = last as i64 - 1;
                    let first = first as i64;
                    for &(wd, n) in &r.by_nweekday {
                        let i = if n < 0 {
                            let i = last + i64::from(n + 1) * 7;
                            if i < 0 {
                                continue;
                            }
                            i - (i64::from(self.wday(i as usize)) - i64::from(wd)).rem_euclid(7)
                        } else {
                            let i = first + i64::from(n - 1) * 7;
                            if i as usize >= 373 {
                                continue;
                            }
                            i + (7 - i64::from(self.wday(i as usize)) + i64::from(wd)).rem_euclid(7)
                        };
                        if first <= i && i <= last {
                            self.nwdaymask[i as usize] = true;
                        }
                    }
                }
            }
        }
        self.year = year;
        self.month = month;
    }

    /// BYWEEKNO: ISO-style week numbers relative to WKST (RFC 5545: week 1 is the first week with
    /// at least four days of the year), including weeks that spill into the neighbouring years.
    fn build_week_numbers(&mut self, r: &Expanded, year: i32) {
        let len = self.len as i64;
        let wkst = i64::from(r.wkst);
        let yw = i64::from(self.first_weekday);
        self.wnomask = vec![false; self.len + 7];
        let firstwkst = (7 - yw + wkst).rem_euclid(7);
        let (no1wkst, wyearlen) = if firstwkst >= 4 {
            (0, len + (yw - wkst).rem_euclid(7))
        } else {
            (firstwkst, len - firstwkst)
        };
        let numweeks = wyearlen / 7 + (wyearlen % 7) / 4;
        let mark_week = |mask: &mut Vec<bool>, mut i: i64, wday: &dyn Fn(usize) -> u8| {
            for _ in 0..7 {
                if i < 0 || i as usize >= mask.len() {
                    break;
                }
                mask[i as usize] = true;
                i += 1;
                if wday(i as usize) == r.wkst {
                    break;
                }
            }
        };
        let fw = self.first_weekday;
        let wday = move |i: usize| ((fw as usize + i) % 7) as u8;
        for &n0 in &r.by_week_no {
            let n = if n0 < 0 {
                i64::from(n0) + numweeks + 1
            } else {
                i64::from(n0)
            };
            if !(0 < n && n <= numweeks) {
                continue;
            }
            let i = if n > 1 {
                let mut i = no1wkst + (n - 1) * 7;
                if no1wkst != firstwkst {
                    i -= 7 - firstwkst;
                }
                i
            } else {
                no1wkst
            };
            mark_week(&mut self.wnomask, i, &wday);
        }
        if r.by_week_no.contains(&1) {
            // Week 1 of the next year may start in this one.
            let mut i = no1wkst + numweeks * 7;
            if no1wkst != firstwkst {
                i -= 7 - firstwkst;
            }
            if i < len {
                mark_week(&mut self.wnomask, i, &wday);
            }
        }
        if no1wkst != 0 {
            // The days before week 1 belong to the last week of the previous year.
            let lnumweeks = if !r.by_week_no.contains(&-1) {
                let ly_first = epoch_day(year - 1, 1, 1);
                let lyw = i64::from(weekday_of(ly_first));
                let lno1wkst = (7 - lyw + wkst).rem_euclid(7);
                let lyearlen = if is_leap(year - 1) { 366 } else { 365 };
                if lno1wkst >= 4 {
                    52 + (lyearlen + (lyw - wkst).rem_euclid(7)) % 7 / 4
                } else {
                    // python-dateutil uses this year's length here; kept for agreement with it.
                    52 + (len - no1wkst) % 7 / 4
                }
            } else {
                -1
            };
            if r.by_week_no.iter().any(|&w| i64::from(w) == lnumweeks) {
                for i in 0..no1wkst as usize {
                    self.wnomask[i] = true;
                }
            }
        }
    }
}

/// Produces a rule's wall-clock candidates (local seconds) in increasing order, from DTSTART or
/// from a period found by [`Generator::seek`]. COUNT, UNTIL and zones are not its business.
pub struct Generator {
    r: Expanded,
    dtstart: i64,
    info: YearInfo,
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    weekday: u8,
    /// Times of the current period for sub-daily rules.
    sub_timeset: Vec<u32>,
    out: Vec<i64>,
    out_pos: usize,
    days_buf: Vec<usize>,
    empty_periods: u32,
    /// Periods expanded and lattice steps taken inside `advance`: the measure of what walking the
    /// rule has cost, whatever it produced.
    steps: u64,
    done: bool,
}

/// Local seconds of a wall-clock time.
pub fn local_seconds(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp()
}

impl Generator {
    /// Fails only when a sub-daily rule's BYHOUR/BYMINUTE/BYSECOND can never be reached.
    pub fn new(rule: &Rule, dtstart: NaiveDateTime) -> Result<Self, String> {
        let r = Expanded::new(rule, dtstart)?;
        let mut g = Generator {
            r,
            dtstart: local_seconds(dtstart),
            info: YearInfo::empty(),
            year: 0,
            month: 0,
            day: 0,
            hour: 0,
            minute: 0,
            second: 0,
            weekday: 0,
            sub_timeset: Vec::new(),
            out: Vec::with_capacity(8),
            out_pos: 0,
            days_buf: Vec::new(),
            empty_periods: 0,
            steps: 0,
            done: false,
        };
        g.position(dtstart, dtstart.weekday().num_days_from_monday() as u8);
        Ok(g)
    }

    fn position(&mut self, t: NaiveDateTime, weekday: u8) {
        self.year = t.year();
        self.month = t.month();
        self.day = t.day();
        self.hour = t.hour();
        self.minute = t.minute();
        self.second = t.second();
        self.weekday = weekday;
        self.out.clear();
        self.out_pos = 0;
        self.empty_periods = 0;
        self.done = !(1..=MAX_YEAR).contains(&self.year);
        if !self.done {
            self.info.rebuild(&self.r, self.year, self.month);
        }
        if self.r.freq.is_sub_daily() {
            let r = &self.r;
            let ok = r.hour_ok(self.hour)
                && (r.freq < Frequency::Minutely || r.minute_ok(self.minute))
                && (r.freq < Frequency::Secondly || r.second_ok(self.second));
            self.sub_timeset.clear();
            if ok {
                self.fill_sub_timeset();
            }
        }
    }

    fn fill_sub_timeset(&mut self) {
        self.sub_timeset.clear();
        let (h, m, s) = (self.hour, self.minute, self.second);
        match self.r.freq {
            Frequency::Hourly => {
                for mi in bit_list(self.r.by_minute) {
                    for se in bit_list(self.r.by_second) {
                        self.sub_timeset.push(h * 3600 + mi * 60 + se);
                    }
                }
            }
            Frequency::Minutely => {
                for se in bit_list(self.r.by_second) {
                    self.sub_timeset.push(h * 3600 + m * 60 + se);
                }
            }
            _ => self.sub_timeset.push(h * 3600 + m * 60 + s),
        }
    }

    /// Moves to the period that contains `target` (wall-clock) — or stays at the start if `target`
    /// is before DTSTART — without generating the periods in between. Candidates before `target`
    /// may still follow (the period's earlier ones); callers filter them.
    pub fn seek(&mut self, target: NaiveDateTime) {
        let t = local_seconds(target);
        if t <= self.dtstart {
            return;
        }
        let Some(start) = chrono::DateTime::from_timestamp(self.dtstart, 0).map(|d| d.naive_utc())
        else {
            return;
        };
        let iv = self.r.interval;
        use Frequency::*;
        let floor_div = |a: i64, b: i64| a.div_euclid(b);
        let moved: Option<(NaiveDateTime, u8)> = match self.r.freq {
            Yearly => {
                let k = floor_div(i64::from(target.year() - start.year()), iv);
                let y = i64::from(start.year()) + k * iv;
                i32::try_from(y)
                    .ok()
                    .and_then(|y| start.with_day(1).and_then(|d| d.with_year(y)))
                    .map(|d| (d, 0))
            }
            Monthly => {
                let months = |d: NaiveDateTime| i64::from(d.year()) * 12 + i64::from(d.month0());
                let k = floor_div(months(target) - months(start), iv);
                let idx = months(start) + k * iv;
                let (y, m) = (idx.div_euclid(12), idx.rem_euclid(12) as u32 + 1);
                i32::try_from(y)
                    .ok()
                    .and_then(|y| NaiveDate::from_ymd_opt(y, m, 1))
                    .map(|d| (d.and_time(start.time()), 0))
            }
            Weekly => {
                let wk = i64::from(self.r.wkst);
                let week_start = |day: i64| day - (i64::from(weekday_of(day)) - wk).rem_euclid(7);
                let sday = self.dtstart.div_euclid(SECS_PER_DAY);
                let ws0 = week_start(sday);
                let wt = week_start(t.div_euclid(SECS_PER_DAY));
                let k = floor_div((wt - ws0) / 7, iv);
                if k >= 1 {
                    let day = ws0 + k * iv * 7;
                    chrono::DateTime::from_timestamp(day * SECS_PER_DAY, 0)
                        .map(|d| (d.naive_utc().date().and_time(start.time()), self.r.wkst))
                } else {
                    None
                }
            }
            Daily | Hourly | Minutely | Secondly => {
                let unit = match self.r.freq {
                    Daily => SECS_PER_DAY,
                    Hourly => 3600,
                    Minutely => 60,
                    _ => 1,
                };
                // The lattice is anchored at DTSTART truncated to the unit (dateutil keeps the
                // finer fields of DTSTART and replaces them through the time set).
                let anchor = self.dtstart - self.dtstart.rem_euclid(unit);
                let k = floor_div(t - anchor, unit * iv);
                let at = self.dtstart + k * unit * iv;
                chrono::DateTime::from_timestamp(at, 0).map(|d| (d.naive_utc(), 0))
            }
        };
        if let Some((at, weekday)) = moved {
            if local_seconds(at) > self.dtstart || self.r.freq <= Monthly {
                let weekday = if self.r.freq == Weekly {
                    weekday
                } else {
                    at.weekday().num_days_from_monday() as u8
                };
                self.position(at, weekday);
            }
        }
    }

    /// The next candidate (local seconds), or `None` when the rule can produce no more (year 9999,
    /// or so many empty periods in a row that the 400-year Gregorian cycle has been covered).
    pub fn next_local(&mut self) -> Option<i64> {
        loop {
            if self.out_pos < self.out.len() {
                let v = self.out[self.out_pos];
                self.out_pos += 1;
                return Some(v);
            }
            if self.done {
                return None;
            }
            self.out.clear();
            self.out_pos = 0;
            self.steps += 1;
            let filtered = self.expand_period();
            if self.out.is_empty() {
                self.empty_periods += 1;
                if self.empty_periods > self.empty_limit() {
                    self.done = true;
                }
            } else {
                self.empty_periods = 0;
            }
            self.advance(filtered);
        }
    }

    /// How many periods (years, months, … seconds of the rule's lattice) have been expanded and
    /// how many lattice steps were taken between them, empty ones included: the work done so far,
    /// whatever the rule produced.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// How many empty periods in a row prove that no period will ever produce again: the calendar
    /// repeats every 400 years, so that many years' worth of periods.
    fn empty_limit(&self) -> u32 {
        match self.r.freq {
            Frequency::Yearly => 401,
            Frequency::Monthly => 4801,
            Frequency::Weekly => 20_872,
            _ => 146_098 * 2,
        }
    }

    fn day_passes(&self, i: usize) -> bool {
        let r = &self.r;
        let ii = &self.info;
        if r.by_month != 0 && r.by_month & (1 << ii.mmask[i]) == 0 {
            return false;
        }
        if !ii.wnomask.is_empty() && !ii.wnomask.get(i).copied().unwrap_or(false) {
            return false;
        }
        if !r.by_week_no.is_empty() && ii.wnomask.is_empty() {
            return false;
        }
        if r.by_weekday != 0 && r.by_weekday & (1 << ii.wday(i)) == 0 {
            return false;
        }
        if !ii.nwdaymask.is_empty() && !ii.nwdaymask.get(i).copied().unwrap_or(false) {
            return false;
        }
        if (r.by_month_day_pos != 0 || r.by_month_day_neg != 0)
            && r.by_month_day_pos & (1 << ii.mdaymask[i]) == 0
            && r.by_month_day_neg & (1 << (-ii.nmdaymask[i])) == 0
        {
            return false;
        }
        if r.by_year_day_pos.any() || r.by_year_day_neg.any() {
            let (pos, neg) = if i < ii.len {
                (i + 1, ii.len - i)
            } else {
                (i + 1 - ii.len, ii.next_len + ii.len - i)
            };
            if !r.by_year_day_pos.has(pos) && !r.by_year_day_neg.has(neg) {
                return false;
            }
        }
        true
    }

    /// Fills `out` with the current period's candidates; returns whether any day was filtered out.
    fn expand_period(&mut self) -> bool {
        let ii = &self.info;
        let day_index = ii.mrange[self.month as usize - 1] as usize + self.day as usize - 1;
        let (start, end) = match self.r.freq {
            Frequency::Yearly => (0, ii.len),
            Frequency::Monthly => (
                ii.mrange[self.month as usize - 1] as usize,
                ii.mrange[self.month as usize] as usize,
            ),
            Frequency::Weekly => {
                let mut i = day_index;
                let s = i;
                for _ in 0..7 {
                    i += 1;
                    if ii.wday(i) == self.r.wkst {
                        break;
                    }
                }
                (s, i)
            }
            _ => (day_index, day_index + 1),
        };
        let mut filtered = false;
        let mut days = std::mem::take(&mut self.days_buf);
        days.clear();
        for i in start..end {
            if self.day_passes(i) {
                days.push(i);
            } else {
                filtered = true;
            }
        }
        let first_day = self.info.first_day;
        let timeset: &[u32] = if self.r.freq.is_sub_daily() {
            &self.sub_timeset
        } else {
            &self.r.timeset
        };
        if !self.r.by_set_pos.is_empty() && !timeset.is_empty() {
            let nt = timeset.len() as i64;
            for &pos in &self.r.by_set_pos {
                let pos = i64::from(pos);
                let (daypos, timepos) = if pos < 0 {
                    (pos.div_euclid(nt), pos.rem_euclid(nt))
                } else {
                    ((pos - 1) / nt, (pos - 1) % nt)
                };
                let idx = if daypos < 0 {
                    days.len() as i64 + daypos
                } else {
                    daypos
                };
                if idx < 0 || idx >= days.len() as i64 {
                    continue;
                }
                let v = (first_day + days[idx as usize] as i64) * SECS_PER_DAY
                    + i64::from(timeset[timepos as usize]);
                if !self.out.contains(&v) {
                    self.out.push(v);
                }
            }
            self.out.sort_unstable();
            let dt = self.dtstart;
            self.out.retain(|&v| v >= dt);
        } else {
            for &i in &days {
                let base = (first_day + i as i64) * SECS_PER_DAY;
                for &tod in timeset {
                    let v = base + i64::from(tod);
                    if v >= self.dtstart {
                        self.out.push(v);
                    }
                }
            }
        }
        self.days_buf = days;
        filtered
    }

    /// Python's divmod-based "advance `value` by INTERVAL until it lands in `set`".
    fn mod_distance(&mut self, value: u32, set: u64, base: i64) -> Option<(i64, u32)> {
        let mut acc = 0i64;
        let mut v = i64::from(value);
        for _ in 0..base {
            self.steps += 1;
            let n = v + self.r.interval;
            acc += n.div_euclid(base);
            v = n.rem_euclid(base);
            if set & (1 << v) != 0 {
                return Some((acc, v as u32));
            }
        }
        None
    }

    fn advance(&mut self, mut filtered: bool) {
        use Frequency::*;
        let iv = self.r.interval;
        let mut fixday = false;
        let mut day = i64::from(self.day);
        match self.r.freq {
            Yearly => {
                let y = i64::from(self.year) + iv;
                if y > i64::from(MAX_YEAR) {
                    self.done = true;
                    return;
                }
                self.year = y as i32;
                self.info.rebuild(&self.r, self.year, self.month);
            }
            Monthly => {
                let idx = i64::from(self.year) * 12 + i64::from(self.month) - 1 + iv;
                let y = idx.div_euclid(12);
                if y > i64::from(MAX_YEAR) {
                    self.done = true;
                    return;
                }
                self.year = y as i32;
                self.month = idx.rem_euclid(12) as u32 + 1;
                self.info.rebuild(&self.r, self.year, self.month);
            }
            Weekly => {
                let wd = i64::from(self.weekday);
                let wk = i64::from(self.r.wkst);
                day += -(wd - wk).rem_euclid(7) + iv * 7;
                self.weekday = self.r.wkst;
                fixday = true;
            }
            Daily => {
                day += iv;
                fixday = true;
            }
            Hourly => {
                let mut hour = i64::from(self.hour);
                if filtered {
                    hour += ((23 - hour) / iv) * iv;
                }
                let (ndays, h) = if self.r.by_hour != 0 {
                    match self.mod_distance(hour as u32, u64::from(self.r.by_hour), 24) {
                        Some(x) => x,
                        None => {
                            self.done = true;
                            return;
                        }
                    }
                } else {
                    (
                        (hour + iv).div_euclid(24),
                        (hour + iv).rem_euclid(24) as u32,
                    )
                };
                self.hour = h;
                if ndays != 0 {
                    day += ndays;
                    fixday = true;
                }
                self.fill_sub_timeset();
            }
            Minutely => {
                let mut minute = i64::from(self.minute);
                let mut hour = i64::from(self.hour);
                if filtered {
                    minute += ((1439 - (hour * 60 + minute)) / iv) * iv;
                }
                let rep = 1440 / gcd(iv, 1440);
                let mut valid = false;
                for _ in 0..rep {
                    self.steps += 1;
                    let (nhours, m) = if self.r.by_minute != 0 {
                        match self.mod_distance(minute.rem_euclid(60) as u32, self.r.by_minute, 60)
                        {
                            Some((a, m)) => (a + minute.div_euclid(60), m),
                            None => break,
                        }
                    } else {
                        (
                            (minute + iv).div_euclid(60),
                            (minute + iv).rem_euclid(60) as u32,
                        )
                    };
                    minute = i64::from(m);
                    let nh = hour + nhours;
                    let div = nh.div_euclid(24);
                    hour = nh.rem_euclid(24);
                    if div != 0 {
                        day += div;
                        fixday = true;
                        filtered = false;
                    }
                    if self.r.hour_ok(hour as u32) {
                        valid = true;
                        break;
                    }
                    // The rest of a refused hour is refused too: skip to its last step rather than
                    // walk it (BYHOUR with day filters that refuse most days cost a step per minute).
                    (hour, minute) = skip_within(hour * 60 + minute, (hour + 1) * 60, iv, 60);
                }
                let _ = filtered;
                if !valid {
                    self.done = true;
                    return;
                }
                self.minute = minute as u32;
                self.hour = hour as u32;
                self.fill_sub_timeset();
            }
            Secondly => {
                let mut second = i64::from(self.second);
                let mut minute = i64::from(self.minute);
                let mut hour = i64::from(self.hour);
                if filtered {
                    second += ((86399 - (hour * 3600 + minute * 60 + second)) / iv) * iv;
                }
                let rep = 86400 / gcd(iv, 86400);
                let mut valid = false;
                for _ in 0..rep {
                    self.steps += 1;
                    let (nminutes, s) = if self.r.by_second != 0 {
                        match self.mod_distance(second.rem_euclid(60) as u32, self.r.by_second, 60)
                        {
                            Some((a, s)) => (a + second.div_euclid(60), s),
                            None => break,
                        }
                    } else {
                        (
                            (second + iv).div_euclid(60),
                            (second + iv).rem_euclid(60) as u32,
                        )
                    };
                    second = i64::from(s);
                    let nm = minute + nminutes;
                    minute = nm.rem_euclid(60);
                    let div = nm.div_euclid(60);
                    if div != 0 {
                        let nh = hour + div;
                        hour = nh.rem_euclid(24);
                        let dd = nh.div_euclid(24);
                        if dd != 0 {
                            day += dd;
                            fixday = true;
                        }
                    }
                    if self.r.hour_ok(hour as u32)
                        && self.r.minute_ok(minute as u32)
                        && self.r.second_ok(second as u32)
                    {
                        valid = true;
                        break;
                    }
                    // The rest of a refused hour (or minute) is refused too: skip to its last step
                    // rather than walk it (`BYHOUR=9` on a never-matching day cost 32,400 steps
                    // per day for 800 years before the rule was found never to occur).
                    let sod = hour * 3600 + minute * 60;
                    let boundary = if !self.r.hour_ok(hour as u32) {
                        Some((hour + 1) * 3600)
                    } else if !self.r.minute_ok(minute as u32) {
                        Some(sod + 60)
                    } else {
                        None
                    };
                    if let Some(boundary) = boundary {
                        let (minute_of_day, s) = skip_within(sod + second, boundary, iv, 60);
                        (hour, minute, second) = (minute_of_day / 60, minute_of_day % 60, s);
                    }
                }
                if !valid {
                    self.done = true;
                    return;
                }
                self.second = second as u32;
                self.minute = minute as u32;
                self.hour = hour as u32;
                self.fill_sub_timeset();
            }
        }
        if fixday && day > 28 {
            let mut dim = i64::from(days_in_month(self.year, self.month));
            if day > dim {
                while day > dim {
                    day -= dim;
                    self.month += 1;
                    if self.month == 13 {
                        self.month = 1;
                        self.year += 1;
                        if self.year > MAX_YEAR {
                            self.done = true;
                            return;
                        }
                    }
                    dim = i64::from(days_in_month(self.year, self.month));
                }
                self.info.rebuild(&self.r, self.year, self.month);
            }
        }
        self.day = day as u32;
    }
}

/// The last point of the grid `from + k·step` before `boundary` (both in units of the day, e.g.
/// seconds), split into (value / unit, value % unit). Points strictly between `from` and
/// `boundary` lie in the same refused hour or minute, so skipping them loses nothing.
fn skip_within(from: i64, boundary: i64, step: i64, unit: i64) -> (i64, i64) {
    let last = if boundary > from && step > 0 {
        from + ((boundary - 1 - from) / step) * step
    } else {
        from
    };
    (last.div_euclid(unit), last.rem_euclid(unit))
}
