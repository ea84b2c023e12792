//! Time zone names as Exchange accepts them: every Windows zone id (mapped to IANA for the
//! arithmetic with the CLDR `windowsZones` "001" table) plus the fixed list of IANA names in the
//! Graph `dateTimeTimeZone` reference. Anything else is refused with
//! `TimeZoneNotSupportedException`.

use chrono_tz::Tz;

/// Windows zone id → IANA zone (CLDR `windowsZones.xml`, territory "001").
const WINDOWS: &[(&str, &str)] = &[
    ("Dateline Standard Time", "Etc/GMT+12"),
    ("UTC-11", "Etc/GMT+11"),
    ("Aleutian Standard Time", "America/Adak"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Marquesas Standard Time", "Pacific/Marquesas"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("UTC-09", "Etc/GMT+9"),
    ("Pacific Standard Time (Mexico)", "America/Tijuana"),
    ("UTC-08", "Etc/GMT+8"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Mountain Standard Time (Mexico)", "America/Mazatlan"),
    ("Mountain Standard Time", "America/Denver"),
    ("Yukon Standard Time", "America/Whitehorse"),
    ("Central America Standard Time", "America/Guatemala"),
    ("Central Standard Time", "America/Chicago"),
    ("Easter Island Standard Time", "Pacific/Easter"),
    ("Central Standard Time (Mexico)", "America/Mexico_City"),
    ("Canada Central Standard Time", "America/Regina"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("Eastern Standard Time (Mexico)", "America/Cancun"),
    ("Eastern Standard Time", "America/New_York"),
    ("Haiti Standard Time", "America/Port-au-Prince"),
    ("Cuba Standard Time", "America/Havana"),
    ("US Eastern Standard Time", "America/Indiana/Indianapolis"),
    ("Turks And Caicos Standard Time", "America/Grand_Turk"),
    ("Paraguay Standard Time", "America/Asuncion"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("Venezuela Standard Time", "America/Caracas"),
    ("Central Brazilian Standard Time", "America/Cuiaba"),
    ("SA Western Standard Time", "America/La_Paz"),
    ("Pacific SA Standard Time", "America/Santiago"),
    ("Newfoundland Standard Time", "America/St_Johns"),
    ("Tocantins Standard Time", "America/Araguaina"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("SA Eastern Standard Time", "America/Cayenne"),
    ("Argentina Standard Time", "America/Argentina/Buenos_Aires"),
    ("Greenland Standard Time", "America/Godthab"),
    ("Montevideo Standard Time", "America/Montevideo"),
    ("Magallanes Standard Time", "America/Punta_Arenas"),
    ("Saint Pierre Standard Time", "America/Miquelon"),
    ("Bahia Standard Time", "America/Bahia"),
    ("UTC-02", "Etc/GMT+2"),
    ("Mid-Atlantic Standard Time", "Etc/GMT+2"),
    ("Azores Standard Time", "Atlantic/Azores"),
    ("Cape Verde Standard Time", "Atlantic/Cape_Verde"),
    ("UTC", "Etc/UTC"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("Sao Tome Standard Time", "Africa/Sao_Tome"),
    ("Morocco Standard Time", "Africa/Casablanca"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("W. Central Africa Standard Time", "Africa/Lagos"),
    ("Jordan Standard Time", "Asia/Amman"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Middle East Standard Time", "Asia/Beirut"),
    ("Egypt Standard Time", "Africa/Cairo"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("Syria Standard Time", "Asia/Damascus"),
    ("West Bank Standard Time", "Asia/Hebron"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("FLE Standard Time", "Europe/Kiev"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("South Sudan Standard Time", "Africa/Juba"),
    ("Kaliningrad Standard Time", "Europe/Kaliningrad"),
    ("Sudan Standard Time", "Africa/Khartoum"),
    ("Libya Standard Time", "Africa/Tripoli"),
    ("Namibia Standard Time", "Africa/Windhoek"),
    ("Arabic Standard Time", "Asia/Baghdad"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Arab Standard Time", "Asia/Riyadh"),
    ("Belarus Standard Time", "Europe/Minsk"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("E. Africa Standard Time", "Africa/Nairobi"),
    ("Volgograd Standard Time", "Europe/Volgograd"),
    ("Iran Standard Time", "Asia/Tehran"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Astrakhan Standard Time", "Europe/Astrakhan"),
    ("Azerbaijan Standard Time", "Asia/Baku"),
    ("Russia Time Zone 3", "Europe/Samara"),
    ("Mauritius Standard Time", "Indian/Mauritius"),
    ("Saratov Standard Time", "Europe/Saratov"),
    ("Georgian Standard Time", "Asia/Tbilisi"),
    ("Caucasus Standard Time", "Asia/Yerevan"),
    ("Afghanistan Standard Time", "Asia/Kabul"),
    ("West Asia Standard Time", "Asia/Tashkent"),
    ("Ekaterinburg Standard Time", "Asia/Yekaterinburg"),
    ("Pakistan Standard Time", "Asia/Karachi"),
    ("Qyzylorda Standard Time", "Asia/Qyzylorda"),
    ("India Standard Time", "Asia/Kolkata"),
    ("Sri Lanka Standard Time", "Asia/Colombo"),
    ("Nepal Standard Time", "Asia/Kathmandu"),
    ("Central Asia Standard Time", "Asia/Almaty"),
    ("Bangladesh Standard Time", "Asia/Dhaka"),
    ("Omsk Standard Time", "Asia/Omsk"),
    ("Myanmar Standard Time", "Asia/Yangon"),
    ("SE Asia Standard Time", "Asia/Bangkok"),
    ("Altai Standard Time", "Asia/Barnaul"),
    ("W. Mongolia Standard Time", "Asia/Hovd"),
    ("North Asia Standard Time", "Asia/Krasnoyarsk"),
    ("N. Central Asia Standard Time", "Asia/Novosibirsk"),
    ("Tomsk Standard Time", "Asia/Tomsk"),
    ("China Standard Time", "Asia/Shanghai"),
    ("North Asia East Standard Time", "Asia/Irkutsk"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("W. Australia Standard Time", "Australia/Perth"),
    ("Taipei Standard Time", "Asia/Taipei"),
    ("Ulaanbaatar Standard Time", "Asia/Ulaanbaatar"),
    ("Aus Central W. Standard Time", "Australia/Eucla"),
    ("Transbaikal Standard Time", "Asia/Chita"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("North Korea Standard Time", "Asia/Pyongyang"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("Yakutsk Standard Time", "Asia/Yakutsk"),
    ("Cen. Australia Standard Time", "Australia/Adelaide"),
    ("AUS Central Standard Time", "Australia/Darwin"),
    ("E. Australia Standard Time", "Australia/Brisbane"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("West Pacific Standard Time", "Pacific/Port_Moresby"),
    ("Tasmania Standard Time", "Australia/Hobart"),
    ("Vladivostok Standard Time", "Asia/Vladivostok"),
    ("Lord Howe Standard Time", "Australia/Lord_Howe"),
    ("Bougainville Standard Time", "Pacific/Bougainville"),
    ("Russia Time Zone 10", "Asia/Srednekolymsk"),
    ("Magadan Standard Time", "Asia/Magadan"),
    ("Norfolk Standard Time", "Pacific/Norfolk"),
    ("Sakhalin Standard Time", "Asia/Sakhalin"),
    ("Central Pacific Standard Time", "Pacific/Guadalcanal"),
    ("Russia Time Zone 11", "Asia/Kamchatka"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("UTC+12", "Etc/GMT-12"),
    ("Fiji Standard Time", "Pacific/Fiji"),
    ("Chatham Islands Standard Time", "Pacific/Chatham"),
    ("UTC+13", "Etc/GMT-13"),
    ("Tonga Standard Time", "Pacific/Tongatapu"),
    ("Samoa Standard Time", "Pacific/Apia"),
    ("Line Islands Standard Time", "Pacific/Kiritimati"),
];

/// The IANA names the `dateTimeTimeZone` reference lists as accepted (with the spellings it puts in
/// parentheses: Kiev, Tashkent, Almaty, Rangoon), each with its Windows zone. Every other IANA name
/// is refused, as on the real service ("only a fixed IANA subset is accepted").
const IANA_ACCEPTED: &[(&str, &str)] = &[
    ("Etc/GMT+12", "Dateline Standard Time"),
    ("Etc/GMT+11", "UTC-11"),
    ("Pacific/Honolulu", "Hawaiian Standard Time"),
    ("America/Anchorage", "Alaskan Standard Time"),
    ("America/Santa_Isabel", "Pacific Standard Time (Mexico)"),
    ("America/Los_Angeles", "Pacific Standard Time"),
    ("America/Phoenix", "US Mountain Standard Time"),
    ("America/Chihuahua", "Mountain Standard Time (Mexico)"),
    ("America/Denver", "Mountain Standard Time"),
    ("America/Guatemala", "Central America Standard Time"),
    ("America/Chicago", "Central Standard Time"),
    ("America/Mexico_City", "Central Standard Time (Mexico)"),
    ("America/Regina", "Canada Central Standard Time"),
    ("America/Bogota", "SA Pacific Standard Time"),
    ("America/New_York", "Eastern Standard Time"),
    ("America/Indiana/Indianapolis", "US Eastern Standard Time"),
    ("America/Caracas", "Venezuela Standard Time"),
    ("America/Asuncion", "Paraguay Standard Time"),
    ("America/Halifax", "Atlantic Standard Time"),
    ("America/Cuiaba", "Central Brazilian Standard Time"),
    ("America/La_Paz", "SA Western Standard Time"),
    ("America/Santiago", "Pacific SA Standard Time"),
    ("America/St_Johns", "Newfoundland Standard Time"),
    ("America/Sao_Paulo", "E. South America Standard Time"),
    ("America/Argentina/Buenos_Aires", "Argentina Standard Time"),
    ("America/Cayenne", "SA Eastern Standard Time"),
    ("America/Godthab", "Greenland Standard Time"),
    ("America/Montevideo", "Montevideo Standard Time"),
    ("America/Bahia", "Bahia Standard Time"),
    ("Etc/GMT+2", "UTC-02"),
    ("Atlantic/Azores", "Azores Standard Time"),
    ("Atlantic/Cape_Verde", "Cape Verde Standard Time"),
    ("Africa/Casablanca", "Morocco Standard Time"),
    ("Etc/GMT", "UTC"),
    ("Europe/London", "GMT Standard Time"),
    ("Atlantic/Reykjavik", "Greenwich Standard Time"),
    ("Europe/Berlin", "W. Europe Standard Time"),
    ("Europe/Budapest", "Central Europe Standard Time"),
    ("Europe/Paris", "Romance Standard Time"),
    ("Europe/Warsaw", "Central European Standard Time"),
    ("Africa/Lagos", "W. Central Africa Standard Time"),
    ("Africa/Windhoek", "Namibia Standard Time"),
    ("Europe/Bucharest", "GTB Standard Time"),
    ("Asia/Beirut", "Middle East Standard Time"),
    ("Africa/Cairo", "Egypt Standard Time"),
    ("Asia/Damascus", "Syria Standard Time"),
    ("Africa/Johannesburg", "South Africa Standard Time"),
    ("Europe/Kyiv", "FLE Standard Time"),
    ("Europe/Kiev", "FLE Standard Time"),
    ("Europe/Istanbul", "Turkey Standard Time"),
    ("Asia/Jerusalem", "Israel Standard Time"),
    ("Asia/Amman", "Jordan Standard Time"),
    ("Asia/Baghdad", "Arabic Standard Time"),
    ("Europe/Kaliningrad", "Kaliningrad Standard Time"),
    ("Asia/Riyadh", "Arab Standard Time"),
    ("Africa/Nairobi", "E. Africa Standard Time"),
    ("Asia/Tehran", "Iran Standard Time"),
    ("Asia/Dubai", "Arabian Standard Time"),
    ("Asia/Baku", "Azerbaijan Standard Time"),
    ("Europe/Moscow", "Russian Standard Time"),
    ("Indian/Mauritius", "Mauritius Standard Time"),
    ("Asia/Tbilisi", "Georgian Standard Time"),
    ("Asia/Yerevan", "Caucasus Standard Time"),
    ("Asia/Kabul", "Afghanistan Standard Time"),
    ("Asia/Karachi", "Pakistan Standard Time"),
    ("Asia/Tashkent", "West Asia Standard Time"),
    ("Asia/Kolkata", "India Standard Time"),
    ("Asia/Colombo", "Sri Lanka Standard Time"),
    ("Asia/Kathmandu", "Nepal Standard Time"),
    ("Asia/Almaty", "Central Asia Standard Time"),
    ("Asia/Dhaka", "Bangladesh Standard Time"),
    ("Asia/Yekaterinburg", "Ekaterinburg Standard Time"),
    ("Asia/Yangon", "Myanmar Standard Time"),
    ("Asia/Rangoon", "Myanmar Standard Time"),
    ("Asia/Bangkok", "SE Asia Standard Time"),
    ("Asia/Novosibirsk", "N. Central Asia Standard Time"),
    ("Asia/Shanghai", "China Standard Time"),
    ("Asia/Krasnoyarsk", "North Asia Standard Time"),
    ("Asia/Singapore", "Singapore Standard Time"),
    ("Australia/Perth", "W. Australia Standard Time"),
    ("Asia/Taipei", "Taipei Standard Time"),
    ("Asia/Ulaanbaatar", "Ulaanbaatar Standard Time"),
    ("Asia/Irkutsk", "North Asia East Standard Time"),
    ("Asia/Tokyo", "Tokyo Standard Time"),
    ("Asia/Seoul", "Korea Standard Time"),
    ("Australia/Adelaide", "Cen. Australia Standard Time"),
    ("Australia/Darwin", "AUS Central Standard Time"),
    ("Australia/Brisbane", "E. Australia Standard Time"),
    ("Australia/Sydney", "AUS Eastern Standard Time"),
    ("Pacific/Port_Moresby", "West Pacific Standard Time"),
    ("Australia/Hobart", "Tasmania Standard Time"),
    ("Asia/Yakutsk", "Yakutsk Standard Time"),
    ("Pacific/Guadalcanal", "Central Pacific Standard Time"),
    ("Asia/Vladivostok", "Vladivostok Standard Time"),
    ("Pacific/Auckland", "New Zealand Standard Time"),
    ("Etc/GMT-12", "UTC+12"),
    ("Pacific/Fiji", "Fiji Standard Time"),
    ("Asia/Magadan", "Magadan Standard Time"),
    ("Pacific/Tongatapu", "Tonga Standard Time"),
    ("Pacific/Apia", "Samoa Standard Time"),
    ("Pacific/Kiritimati", "Line Islands Standard Time"),
];

/// A zone as the emulator keeps it: the arithmetic zone and the Windows id Exchange stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Zone {
    pub tz: Tz,
    pub windows: &'static str,
}

impl Zone {
    pub(crate) const UTC: Zone = Zone {
        tz: chrono_tz::UTC,
        windows: "UTC",
    };
}

/// Resolves a zone name from a request: a Windows id (case-insensitive), `UTC`, or one of the
/// accepted IANA names (case-insensitive). `None` means 400 `TimeZoneNotSupportedException`.
pub(crate) fn resolve(name: &str) -> Option<Zone> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("UTC") || name.eq_ignore_ascii_case("Etc/UTC") {
        return Some(Zone::UTC);
    }
    if let Some((w, iana)) = WINDOWS.iter().find(|(w, _)| w.eq_ignore_ascii_case(name)) {
        return iana.parse().ok().map(|tz| Zone { tz, windows: w });
    }
    let (iana, w) = IANA_ACCEPTED
        .iter()
        .find(|(i, _)| i.eq_ignore_ascii_case(name))?;
    let windows = WINDOWS.iter().find(|(x, _)| x == w).map(|(x, _)| *x)?;
    iana.parse().ok().map(|tz| Zone { tz, windows })
}

/// The exact refusal Graph sends for an unknown zone name.
pub(crate) fn unsupported_message(name: &str) -> String {
    format!("A valid TimeZone value must be specified. The following TimeZone value is not supported: '{name}'.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_entry_resolves_in_the_tz_database() {
        for (w, iana) in WINDOWS {
            assert!(iana.parse::<Tz>().is_ok(), "{w} → {iana}");
            assert_eq!(resolve(w).map(|z| z.windows), Some(*w));
        }
        for (iana, w) in IANA_ACCEPTED {
            assert_eq!(resolve(iana).map(|z| z.windows), Some(*w), "{iana}");
        }
        assert!(WINDOWS.len() >= 60);
    }

    #[test]
    fn names_and_refusals() {
        assert_eq!(
            resolve("eastern standard time").map(|z| z.tz),
            Some(chrono_tz::America::New_York)
        );
        assert_eq!(
            resolve("Asia/Kolkata").map(|z| z.windows),
            Some("India Standard Time")
        );
        assert_eq!(resolve("UTC"), Some(Zone::UTC));
        assert!(
            resolve("Europe/Amsterdam").is_none(),
            "not in the documented IANA list"
        );
        assert!(resolve("Mars/Olympus").is_none());
        assert_eq!(unsupported_message("x"), "A valid TimeZone value must be specified. The following TimeZone value is not supported: 'x'.");
    }
}
