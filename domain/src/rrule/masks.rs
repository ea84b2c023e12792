//! Per-day lookup tables for one year (plus seven days of the next, which a week may run into),
//! built at compile time. Index = day of the year, 0-based. The same tables python-dateutil uses.

pub(super) const M366_RANGE: [u16; 13] =
    [0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335, 366];
pub(super) const M365_RANGE: [u16; 13] =
    [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];

const fn month_lengths(leap: bool) -> [u8; 12] {
    [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ]
}

/// Month (1–12) of each day.
const fn month_mask(leap: bool) -> [u8; 373] {
    let lens = month_lengths(leap);
    let mut out = [1u8; 373];
    let mut i = 0;
    let mut m = 0;
    while m < 12 {
        let mut d = 0;
        while d < lens[m] {
            out[i] = (m + 1) as u8;
            i += 1;
            d += 1;
        }
        m += 1;
    }
    out // the tail stays January of the next year
}

/// Day of the month (1–31) of each day.
const fn month_day_mask(leap: bool) -> [i8; 373] {
    let lens = month_lengths(leap);
    let mut out = [0i8; 373];
    let mut i = 0;
    let mut m = 0;
    while m < 12 {
        let mut d = 0;
        while d < lens[m] {
            out[i] = (d + 1) as i8;
            i += 1;
            d += 1;
        }
        m += 1;
    }
    let mut t = 0;
    while i < 373 {
        out[i] = (t + 1) as i8;
        i += 1;
        t += 1;
    }
    out
}

/// Day of the month counted from the end (-1 = last day) of each day.
const fn neg_month_day_mask(leap: bool) -> [i8; 373] {
    let lens = month_lengths(leap);
    let mut out = [0i8; 373];
    let mut i = 0;
    let mut m = 0;
    while m < 12 {
        let mut d = 0;
        while d < lens[m] {
            out[i] = d as i8 - lens[m] as i8;
            i += 1;
            d += 1;
        }
        m += 1;
    }
    let mut t = 0;
    while i < 373 {
        out[i] = t - 31; // January of the next year: -31, -30, …
        i += 1;
        t += 1;
    }
    out
}

pub(super) static M365: [u8; 373] = month_mask(false);
pub(super) static M366: [u8; 373] = month_mask(true);
pub(super) static MDAY365: [i8; 373] = month_day_mask(false);
pub(super) static MDAY366: [i8; 373] = month_day_mask(true);
pub(super) static NMDAY365: [i8; 373] = neg_month_day_mask(false);
pub(super) static NMDAY366: [i8; 373] = neg_month_day_mask(true);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_agree_with_the_calendar() {
        assert_eq!(M365[58], 2);
        assert_eq!(M365[59], 3);
        assert_eq!(M366[59], 2);
        assert_eq!(MDAY366[59], 29);
        assert_eq!(NMDAY365[31], -28);
        assert_eq!(NMDAY366[31], -29);
        assert_eq!(NMDAY365[364], -1);
        assert_eq!(M365[365], 1);
        assert_eq!(MDAY365[365], 1);
        assert_eq!(NMDAY366[366], -31);
    }
}
