//! Windows ↔ IANA time zone names for Microsoft Graph.
//!
//! Graph names zones the Windows way (`Pacific Standard Time`) in `originalStartTimeZone`,
//! `recurrence.range.recurrenceTimeZone` and, when asked for, `start.timeZone`; it accepts only a
//! fixed subset of IANA names on input, and some of those have failed in practice (PROVIDERS.md
//! 2.10, hard case 1). So the adapter writes Windows names and reads both.
//!
//! The table is CLDR's `common/supplemental/windowsZones.xml` (unicode-org/cldr, `mapTimezones
//! otherVersion="7e11800" typeVersion="2021a"`, the revision with "Yukon Standard Time" and
//! America/Ciudad_Juarez): for every Windows zone, the IANA zone of territory "001" (the canonical
//! target) and the zones of every other territory, merged. CLDR spells some zones the old way
//! (`Asia/Calcutta`, `Europe/Kiev`); [`windows_to_iana`] returns today's tzdb spelling, and
//! [`iana_to_windows`] also accepts every spelling tzdb links to a listed zone (tzdb `backward`
//! file as shipped in chrono-tz 0.10.4, tzdata 2025b).

use chrono_tz::Tz;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::OnceLock;

/// What Graph writes for a zone defined ad hoc by an old client; it names no rules we can read.
pub const CUSTOM_ZONE: &str = "tzone://Microsoft/Custom";

/// Looks a Windows zone name up (exactly, then ignoring ASCII case) and returns its canonical IANA
/// zone. `None` for unknown names, including [`CUSTOM_ZONE`]. Legacy names that CLDR no longer
/// lists but old mailboxes still carry (`Mexico Standard Time 2`, `Mid-Atlantic Standard Time` …)
/// are accepted too.
pub fn windows_to_iana(name: &str) -> Option<Tz> {
    let name = name.trim();
    let maps = maps();
    let iana = maps
        .windows
        .get(name)
        .or_else(|| maps.windows_folded.get(&name.to_ascii_lowercase()))?;
    let modern = MODERN_SPELLING
        .iter()
        .find(|(old, _)| old == iana)
        .map_or(*iana, |(_, new)| *new);
    Tz::from_str(modern).ok()
}

/// The Windows zone for an IANA zone: the zone CLDR maps it to in any territory, trying the name
/// itself, then every tzdb name linked to the same zone (so `Asia/Kolkata` finds CLDR's
/// `Asia/Calcutta`, and `US/Eastern` finds `America/New_York`). `None` when CLDR has no mapping
/// (a few Antarctic stations and the like).
pub fn iana_to_windows(tz: Tz) -> Option<&'static str> {
    let maps = maps();
    let name = tz.name();
    if let Some(w) = maps.iana.get(name) {
        return Some(w);
    }
    // The zone this name links to (or the name itself), then every other name of that zone.
    let target = maps.link_target.get(name).copied().unwrap_or(name);
    if let Some(w) = maps.iana.get(target) {
        return Some(w);
    }
    maps.aliases
        .get(target)?
        .iter()
        .find_map(|alias| maps.iana.get(alias).copied())
}

/// Reads a zone name as Graph writes it: a Windows name, `UTC`, or an IANA name. `None` for
/// [`CUSTOM_ZONE`] and anything unknown: the caller must then fall back to the instant-based
/// (UTC) times Graph also sends, because the zone's rules are not available.
pub fn from_graph(name: &str) -> Option<Tz> {
    let name = name.trim();
    if name.eq_ignore_ascii_case(CUSTOM_ZONE) {
        return None;
    }
    // Seen in Exchange data for events created by some clients in UTC [K].
    if name.eq_ignore_ascii_case("tzone://Microsoft/Utc") {
        return Some(Tz::UTC);
    }
    windows_to_iana(name).or_else(|| Tz::from_str(name).ok())
}

/// The name to send to Graph for a zone: its Windows name, or the IANA name when CLDR maps it to
/// no Windows zone (`false` in the second field: Graph accepts only some IANA names, so the caller
/// should say the push may be refused).
pub fn to_graph(tz: Tz) -> (String, bool) {
    match iana_to_windows(tz) {
        Some(w) => (w.to_string(), true),
        None => (tz.name().to_string(), false),
    }
}

struct Maps {
    /// Windows name → CLDR "001" zone.
    windows: HashMap<&'static str, &'static str>,
    windows_folded: HashMap<String, &'static str>,
    /// Every IANA name CLDR lists → its Windows zone.
    iana: HashMap<&'static str, &'static str>,
    /// tzdb link name → the zone it links to.
    link_target: HashMap<&'static str, &'static str>,
    /// Zone → every tzdb name linked to it.
    aliases: HashMap<&'static str, Vec<&'static str>>,
}

fn maps() -> &'static Maps {
    static MAPS: OnceLock<Maps> = OnceLock::new();
    MAPS.get_or_init(|| {
        let mut m = Maps {
            windows: HashMap::new(),
            windows_folded: HashMap::new(),
            iana: HashMap::new(),
            link_target: HashMap::new(),
            aliases: HashMap::new(),
        };
        for &(windows, canonical, others) in WINDOWS_ZONES.iter().chain(LEGACY_WINDOWS_ZONES) {
            m.windows.entry(windows).or_insert(canonical);
            m.windows_folded
                .entry(windows.to_ascii_lowercase())
                .or_insert(canonical);
            for iana in std::iter::once(canonical).chain(others.split_ascii_whitespace()) {
                // Legacy names come last, so a zone keeps its current Windows name.
                m.iana.entry(iana).or_insert(windows);
            }
        }
        for &(alias, target) in LINKS {
            m.link_target.insert(alias, target);
            m.aliases.entry(target).or_default().push(alias);
        }
        m
    })
}

/// CLDR ids (used as "001" targets) that tzdb has since renamed; the old names remain tzdb links,
/// but the new spelling is what users and Google expect to see.
const MODERN_SPELLING: &[(&str, &str)] = &[
    ("Asia/Calcutta", "Asia/Kolkata"),
    ("Asia/Katmandu", "Asia/Kathmandu"),
    ("Asia/Rangoon", "Asia/Yangon"),
    ("Asia/Saigon", "Asia/Ho_Chi_Minh"),
    ("Europe/Kiev", "Europe/Kyiv"),
    ("America/Godthab", "America/Nuuk"),
    ("America/Buenos_Aires", "America/Argentina/Buenos_Aires"),
    ("America/Indianapolis", "America/Indiana/Indianapolis"),
    ("Pacific/Enderbury", "Pacific/Kanton"),
];

/// Windows zones CLDR dropped (from CLDR 1.8's windowsZones.xml) that old mailboxes may still
/// report. Only read, never written.
static LEGACY_WINDOWS_ZONES: &[(&str, &str, &str)] = &[
    ("Mexico Standard Time", "America/Mexico_City", ""),
    ("Mexico Standard Time 2", "America/Chihuahua", ""),
    ("Mid-Atlantic Standard Time", "Etc/GMT+2", ""),
    ("Kamchatka Standard Time", "Asia/Kamchatka", ""),
    ("Armenian Standard Time", "Asia/Yerevan", ""),
];

// ---------------------------------------------------------------------------------------------
// Data (generated; see the module doc for the sources)
// ---------------------------------------------------------------------------------------------

/// (Windows name, CLDR territory-"001" IANA zone, IANA zones of the other territories).
static WINDOWS_ZONES: &[(&str, &str, &str)] = &[
    ("Dateline Standard Time", "Etc/GMT+12", ""),
    ("UTC-11", "Etc/GMT+11", "Pacific/Pago_Pago Pacific/Niue Pacific/Midway"),
    ("Aleutian Standard Time", "America/Adak", ""),
    ("Hawaiian Standard Time", "Pacific/Honolulu", "Pacific/Rarotonga Pacific/Tahiti Etc/GMT+10"),
    ("Marquesas Standard Time", "Pacific/Marquesas", ""),
    ("Alaskan Standard Time", "America/Anchorage", "America/Juneau America/Metlakatla America/Nome America/Sitka America/Yakutat"),
    ("UTC-09", "Etc/GMT+9", "Pacific/Gambier"),
    ("Pacific Standard Time (Mexico)", "America/Tijuana", ""),
    ("UTC-08", "Etc/GMT+8", "Pacific/Pitcairn"),
    ("Pacific Standard Time", "America/Los_Angeles", "America/Vancouver"),
    ("US Mountain Standard Time", "America/Phoenix", "America/Creston America/Dawson_Creek America/Fort_Nelson America/Hermosillo Etc/GMT+7"),
    ("Mountain Standard Time (Mexico)", "America/Mazatlan", ""),
    ("Mountain Standard Time", "America/Denver", "America/Edmonton America/Cambridge_Bay America/Inuvik America/Ciudad_Juarez America/Boise"),
    ("Yukon Standard Time", "America/Whitehorse", "America/Dawson"),
    ("Central America Standard Time", "America/Guatemala", "America/Belize America/Costa_Rica Pacific/Galapagos America/Tegucigalpa America/Managua America/El_Salvador Etc/GMT+6"),
    ("Central Standard Time", "America/Chicago", "America/Winnipeg America/Rankin_Inlet America/Resolute America/Matamoros America/Ojinaga America/Indiana/Knox America/Indiana/Tell_City America/Menominee America/North_Dakota/Beulah America/North_Dakota/Center America/North_Dakota/New_Salem"),
    ("Easter Island Standard Time", "Pacific/Easter", ""),
    ("Central Standard Time (Mexico)", "America/Mexico_City", "America/Bahia_Banderas America/Merida America/Monterrey America/Chihuahua"),
    ("Canada Central Standard Time", "America/Regina", "America/Swift_Current"),
    ("SA Pacific Standard Time", "America/Bogota", "America/Rio_Branco America/Eirunepe America/Coral_Harbour America/Guayaquil America/Jamaica America/Cayman America/Panama America/Lima Etc/GMT+5"),
    ("Eastern Standard Time (Mexico)", "America/Cancun", ""),
    ("Eastern Standard Time", "America/New_York", "America/Nassau America/Toronto America/Iqaluit America/Detroit America/Indiana/Petersburg America/Indiana/Vincennes America/Indiana/Winamac America/Kentucky/Monticello America/Louisville"),
    ("Haiti Standard Time", "America/Port-au-Prince", ""),
    ("Cuba Standard Time", "America/Havana", ""),
    ("US Eastern Standard Time", "America/Indianapolis", "America/Indiana/Marengo America/Indiana/Vevay"),
    ("Turks And Caicos Standard Time", "America/Grand_Turk", ""),
    ("Paraguay Standard Time", "America/Asuncion", ""),
    ("Atlantic Standard Time", "America/Halifax", "Atlantic/Bermuda America/Glace_Bay America/Goose_Bay America/Moncton America/Thule"),
    ("Venezuela Standard Time", "America/Caracas", ""),
    ("Central Brazilian Standard Time", "America/Cuiaba", "America/Campo_Grande"),
    ("SA Western Standard Time", "America/La_Paz", "America/Antigua America/Anguilla America/Aruba America/Barbados America/St_Barthelemy America/Kralendijk America/Manaus America/Boa_Vista America/Porto_Velho America/Blanc-Sablon America/Curacao America/Dominica America/Santo_Domingo America/Grenada America/Guadeloupe America/Guyana America/St_Kitts America/St_Lucia America/Marigot America/Martinique America/Montserrat America/Puerto_Rico America/Lower_Princes America/Port_of_Spain America/St_Vincent America/Tortola America/St_Thomas Etc/GMT+4"),
    ("Pacific SA Standard Time", "America/Santiago", ""),
    ("Newfoundland Standard Time", "America/St_Johns", ""),
    ("Tocantins Standard Time", "America/Araguaina", ""),
    ("E. South America Standard Time", "America/Sao_Paulo", ""),
    ("SA Eastern Standard Time", "America/Cayenne", "Antarctica/Rothera Antarctica/Palmer America/Fortaleza America/Belem America/Maceio America/Recife America/Santarem Atlantic/Stanley America/Paramaribo Etc/GMT+3"),
    ("Argentina Standard Time", "America/Buenos_Aires", "America/Argentina/La_Rioja America/Argentina/Rio_Gallegos America/Argentina/Salta America/Argentina/San_Juan America/Argentina/San_Luis America/Argentina/Tucuman America/Argentina/Ushuaia America/Catamarca America/Cordoba America/Jujuy America/Mendoza"),
    ("Greenland Standard Time", "America/Godthab", ""),
    ("Montevideo Standard Time", "America/Montevideo", ""),
    ("Magallanes Standard Time", "America/Punta_Arenas", ""),
    ("Saint Pierre Standard Time", "America/Miquelon", ""),
    ("Bahia Standard Time", "America/Bahia", ""),
    ("UTC-02", "Etc/GMT+2", "America/Noronha Atlantic/South_Georgia"),
    ("Azores Standard Time", "Atlantic/Azores", "America/Scoresbysund"),
    ("Cape Verde Standard Time", "Atlantic/Cape_Verde", "Etc/GMT+1"),
    ("UTC", "Etc/UTC", "Etc/GMT"),
    ("GMT Standard Time", "Europe/London", "Atlantic/Canary Atlantic/Faeroe Europe/Guernsey Europe/Dublin Europe/Isle_of_Man Europe/Jersey Europe/Lisbon Atlantic/Madeira"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik", "Africa/Ouagadougou Africa/Abidjan Africa/Accra America/Danmarkshavn Africa/Banjul Africa/Conakry Africa/Bissau Africa/Monrovia Africa/Bamako Africa/Nouakchott Atlantic/St_Helena Africa/Freetown Africa/Dakar Africa/Lome"),
    ("Sao Tome Standard Time", "Africa/Sao_Tome", ""),
    ("Morocco Standard Time", "Africa/Casablanca", "Africa/El_Aaiun"),
    ("W. Europe Standard Time", "Europe/Berlin", "Europe/Andorra Europe/Vienna Europe/Zurich Europe/Busingen Europe/Gibraltar Europe/Rome Europe/Vaduz Europe/Luxembourg Europe/Monaco Europe/Malta Europe/Amsterdam Europe/Oslo Europe/Stockholm Arctic/Longyearbyen Europe/San_Marino Europe/Vatican"),
    ("Central Europe Standard Time", "Europe/Budapest", "Europe/Tirane Europe/Prague Europe/Podgorica Europe/Belgrade Europe/Ljubljana Europe/Bratislava"),
    ("Romance Standard Time", "Europe/Paris", "Europe/Brussels Europe/Copenhagen Europe/Madrid Africa/Ceuta"),
    ("Central European Standard Time", "Europe/Warsaw", "Europe/Sarajevo Europe/Zagreb Europe/Skopje"),
    ("W. Central Africa Standard Time", "Africa/Lagos", "Africa/Luanda Africa/Porto-Novo Africa/Kinshasa Africa/Bangui Africa/Brazzaville Africa/Douala Africa/Algiers Africa/Libreville Africa/Malabo Africa/Niamey Africa/Ndjamena Africa/Tunis Etc/GMT-1"),
    ("Jordan Standard Time", "Asia/Amman", ""),
    ("GTB Standard Time", "Europe/Bucharest", "Asia/Nicosia Asia/Famagusta Europe/Athens"),
    ("Middle East Standard Time", "Asia/Beirut", ""),
    ("Egypt Standard Time", "Africa/Cairo", ""),
    ("E. Europe Standard Time", "Europe/Chisinau", ""),
    ("Syria Standard Time", "Asia/Damascus", ""),
    ("West Bank Standard Time", "Asia/Hebron", "Asia/Gaza"),
    ("South Africa Standard Time", "Africa/Johannesburg", "Africa/Bujumbura Africa/Gaborone Africa/Lubumbashi Africa/Maseru Africa/Blantyre Africa/Maputo Africa/Kigali Africa/Mbabane Africa/Lusaka Africa/Harare Etc/GMT-2"),
    ("FLE Standard Time", "Europe/Kiev", "Europe/Mariehamn Europe/Sofia Europe/Tallinn Europe/Helsinki Europe/Vilnius Europe/Riga"),
    ("Israel Standard Time", "Asia/Jerusalem", ""),
    ("South Sudan Standard Time", "Africa/Juba", ""),
    ("Kaliningrad Standard Time", "Europe/Kaliningrad", ""),
    ("Sudan Standard Time", "Africa/Khartoum", ""),
    ("Libya Standard Time", "Africa/Tripoli", ""),
    ("Namibia Standard Time", "Africa/Windhoek", ""),
    ("Arabic Standard Time", "Asia/Baghdad", ""),
    ("Turkey Standard Time", "Europe/Istanbul", ""),
    ("Arab Standard Time", "Asia/Riyadh", "Asia/Bahrain Asia/Kuwait Asia/Qatar Asia/Aden"),
    ("Belarus Standard Time", "Europe/Minsk", ""),
    ("Russian Standard Time", "Europe/Moscow", "Europe/Kirov Europe/Simferopol"),
    ("E. Africa Standard Time", "Africa/Nairobi", "Antarctica/Syowa Africa/Djibouti Africa/Asmera Africa/Addis_Ababa Indian/Comoro Indian/Antananarivo Africa/Mogadishu Africa/Dar_es_Salaam Africa/Kampala Indian/Mayotte Etc/GMT-3"),
    ("Iran Standard Time", "Asia/Tehran", ""),
    ("Arabian Standard Time", "Asia/Dubai", "Asia/Muscat Etc/GMT-4"),
    ("Astrakhan Standard Time", "Europe/Astrakhan", "Europe/Ulyanovsk"),
    ("Azerbaijan Standard Time", "Asia/Baku", ""),
    ("Russia Time Zone 3", "Europe/Samara", ""),
    ("Mauritius Standard Time", "Indian/Mauritius", "Indian/Reunion Indian/Mahe"),
    ("Saratov Standard Time", "Europe/Saratov", ""),
    ("Georgian Standard Time", "Asia/Tbilisi", ""),
    ("Volgograd Standard Time", "Europe/Volgograd", ""),
    ("Caucasus Standard Time", "Asia/Yerevan", ""),
    ("Afghanistan Standard Time", "Asia/Kabul", ""),
    ("West Asia Standard Time", "Asia/Tashkent", "Antarctica/Mawson Asia/Oral Asia/Almaty Asia/Aqtau Asia/Aqtobe Asia/Atyrau Asia/Qostanay Indian/Maldives Indian/Kerguelen Asia/Dushanbe Asia/Ashgabat Asia/Samarkand Etc/GMT-5"),
    ("Ekaterinburg Standard Time", "Asia/Yekaterinburg", ""),
    ("Pakistan Standard Time", "Asia/Karachi", ""),
    ("Qyzylorda Standard Time", "Asia/Qyzylorda", ""),
    ("India Standard Time", "Asia/Calcutta", ""),
    ("Sri Lanka Standard Time", "Asia/Colombo", ""),
    ("Nepal Standard Time", "Asia/Katmandu", ""),
    ("Central Asia Standard Time", "Asia/Bishkek", "Antarctica/Vostok Asia/Urumqi Indian/Chagos Etc/GMT-6"),
    ("Bangladesh Standard Time", "Asia/Dhaka", "Asia/Thimphu"),
    ("Omsk Standard Time", "Asia/Omsk", ""),
    ("Myanmar Standard Time", "Asia/Rangoon", "Indian/Cocos"),
    ("SE Asia Standard Time", "Asia/Bangkok", "Antarctica/Davis Indian/Christmas Asia/Jakarta Asia/Pontianak Asia/Phnom_Penh Asia/Vientiane Asia/Saigon Etc/GMT-7"),
    ("Altai Standard Time", "Asia/Barnaul", ""),
    ("W. Mongolia Standard Time", "Asia/Hovd", ""),
    ("North Asia Standard Time", "Asia/Krasnoyarsk", "Asia/Novokuznetsk"),
    ("N. Central Asia Standard Time", "Asia/Novosibirsk", ""),
    ("Tomsk Standard Time", "Asia/Tomsk", ""),
    ("China Standard Time", "Asia/Shanghai", "Asia/Hong_Kong Asia/Macau"),
    ("North Asia East Standard Time", "Asia/Irkutsk", ""),
    ("Singapore Standard Time", "Asia/Singapore", "Asia/Brunei Asia/Makassar Asia/Kuala_Lumpur Asia/Kuching Asia/Manila Etc/GMT-8"),
    ("W. Australia Standard Time", "Australia/Perth", ""),
    ("Taipei Standard Time", "Asia/Taipei", ""),
    ("Ulaanbaatar Standard Time", "Asia/Ulaanbaatar", "Asia/Choibalsan"),
    ("Aus Central W. Standard Time", "Australia/Eucla", ""),
    ("Transbaikal Standard Time", "Asia/Chita", ""),
    ("Tokyo Standard Time", "Asia/Tokyo", "Asia/Jayapura Pacific/Palau Asia/Dili Etc/GMT-9"),
    ("North Korea Standard Time", "Asia/Pyongyang", ""),
    ("Korea Standard Time", "Asia/Seoul", ""),
    ("Yakutsk Standard Time", "Asia/Yakutsk", "Asia/Khandyga"),
    ("Cen. Australia Standard Time", "Australia/Adelaide", "Australia/Broken_Hill"),
    ("AUS Central Standard Time", "Australia/Darwin", ""),
    ("E. Australia Standard Time", "Australia/Brisbane", "Australia/Lindeman"),
    ("AUS Eastern Standard Time", "Australia/Sydney", "Australia/Melbourne"),
    ("West Pacific Standard Time", "Pacific/Port_Moresby", "Antarctica/DumontDUrville Pacific/Truk Pacific/Guam Pacific/Saipan Etc/GMT-10"),
    ("Tasmania Standard Time", "Australia/Hobart", "Antarctica/Macquarie"),
    ("Vladivostok Standard Time", "Asia/Vladivostok", "Asia/Ust-Nera"),
    ("Lord Howe Standard Time", "Australia/Lord_Howe", ""),
    ("Bougainville Standard Time", "Pacific/Bougainville", ""),
    ("Russia Time Zone 10", "Asia/Srednekolymsk", ""),
    ("Magadan Standard Time", "Asia/Magadan", ""),
    ("Norfolk Standard Time", "Pacific/Norfolk", ""),
    ("Sakhalin Standard Time", "Asia/Sakhalin", ""),
    ("Central Pacific Standard Time", "Pacific/Guadalcanal", "Antarctica/Casey Pacific/Ponape Pacific/Kosrae Pacific/Noumea Pacific/Efate Etc/GMT-11"),
    ("Russia Time Zone 11", "Asia/Kamchatka", "Asia/Anadyr"),
    ("New Zealand Standard Time", "Pacific/Auckland", "Antarctica/McMurdo"),
    ("UTC+12", "Etc/GMT-12", "Pacific/Tarawa Pacific/Majuro Pacific/Kwajalein Pacific/Nauru Pacific/Funafuti Pacific/Wake Pacific/Wallis"),
    ("Fiji Standard Time", "Pacific/Fiji", ""),
    ("Chatham Islands Standard Time", "Pacific/Chatham", ""),
    ("UTC+13", "Etc/GMT-13", "Pacific/Enderbury Pacific/Fakaofo"),
    ("Tonga Standard Time", "Pacific/Tongatapu", ""),
    ("Samoa Standard Time", "Pacific/Apia", ""),
    ("Line Islands Standard Time", "Pacific/Kiritimati", "Etc/GMT-14"),
];
/// tzdb links: (link name, zone it links to); the `backward` file plus the one link in `etcetera`.
static LINKS: &[(&str, &str)] = &[
    ("GMT", "Etc/GMT"),
    ("Australia/ACT", "Australia/Sydney"),
    ("Australia/LHI", "Australia/Lord_Howe"),
    ("Australia/NSW", "Australia/Sydney"),
    ("Australia/North", "Australia/Darwin"),
    ("Australia/Queensland", "Australia/Brisbane"),
    ("Australia/South", "Australia/Adelaide"),
    ("Australia/Tasmania", "Australia/Hobart"),
    ("Australia/Victoria", "Australia/Melbourne"),
    ("Australia/West", "Australia/Perth"),
    ("Australia/Yancowinna", "Australia/Broken_Hill"),
    ("Brazil/Acre", "America/Rio_Branco"),
    ("Brazil/DeNoronha", "America/Noronha"),
    ("Brazil/East", "America/Sao_Paulo"),
    ("Brazil/West", "America/Manaus"),
    ("CET", "Europe/Brussels"),
    ("CST6CDT", "America/Chicago"),
    ("Canada/Atlantic", "America/Halifax"),
    ("Canada/Central", "America/Winnipeg"),
    ("Canada/Eastern", "America/Toronto"),
    ("Canada/Mountain", "America/Edmonton"),
    ("Canada/Newfoundland", "America/St_Johns"),
    ("Canada/Pacific", "America/Vancouver"),
    ("Canada/Saskatchewan", "America/Regina"),
    ("Canada/Yukon", "America/Whitehorse"),
    ("Chile/Continental", "America/Santiago"),
    ("Chile/EasterIsland", "Pacific/Easter"),
    ("Cuba", "America/Havana"),
    ("EET", "Europe/Athens"),
    ("EST", "America/Panama"),
    ("EST5EDT", "America/New_York"),
    ("Egypt", "Africa/Cairo"),
    ("Eire", "Europe/Dublin"),
    ("Etc/GMT+0", "Etc/GMT"),
    ("Etc/GMT-0", "Etc/GMT"),
    ("Etc/GMT0", "Etc/GMT"),
    ("Etc/Greenwich", "Etc/GMT"),
    ("Etc/UCT", "Etc/UTC"),
    ("Etc/Universal", "Etc/UTC"),
    ("Etc/Zulu", "Etc/UTC"),
    ("GB", "Europe/London"),
    ("GB-Eire", "Europe/London"),
    ("GMT+0", "Etc/GMT"),
    ("GMT-0", "Etc/GMT"),
    ("GMT0", "Etc/GMT"),
    ("Greenwich", "Etc/GMT"),
    ("Hongkong", "Asia/Hong_Kong"),
    ("Iceland", "Africa/Abidjan"),
    ("Iran", "Asia/Tehran"),
    ("Israel", "Asia/Jerusalem"),
    ("Jamaica", "America/Jamaica"),
    ("Japan", "Asia/Tokyo"),
    ("Kwajalein", "Pacific/Kwajalein"),
    ("Libya", "Africa/Tripoli"),
    ("MET", "Europe/Brussels"),
    ("MST", "America/Phoenix"),
    ("MST7MDT", "America/Denver"),
    ("Mexico/BajaNorte", "America/Tijuana"),
    ("Mexico/BajaSur", "America/Mazatlan"),
    ("Mexico/General", "America/Mexico_City"),
    ("NZ", "Pacific/Auckland"),
    ("NZ-CHAT", "Pacific/Chatham"),
    ("Navajo", "America/Denver"),
    ("PRC", "Asia/Shanghai"),
    ("Poland", "Europe/Warsaw"),
    ("Portugal", "Europe/Lisbon"),
    ("ROC", "Asia/Taipei"),
    ("ROK", "Asia/Seoul"),
    ("Singapore", "Asia/Singapore"),
    ("Turkey", "Europe/Istanbul"),
    ("UCT", "Etc/UTC"),
    ("US/Alaska", "America/Anchorage"),
    ("US/Aleutian", "America/Adak"),
    ("US/Arizona", "America/Phoenix"),
    ("US/Central", "America/Chicago"),
    ("US/East-Indiana", "America/Indiana/Indianapolis"),
    ("US/Eastern", "America/New_York"),
    ("US/Hawaii", "Pacific/Honolulu"),
    ("US/Indiana-Starke", "America/Indiana/Knox"),
    ("US/Michigan", "America/Detroit"),
    ("US/Mountain", "America/Denver"),
    ("US/Pacific", "America/Los_Angeles"),
    ("US/Samoa", "Pacific/Pago_Pago"),
    ("UTC", "Etc/UTC"),
    ("Universal", "Etc/UTC"),
    ("W-SU", "Europe/Moscow"),
    ("Zulu", "Etc/UTC"),
    ("America/Buenos_Aires", "America/Argentina/Buenos_Aires"),
    ("America/Catamarca", "America/Argentina/Catamarca"),
    ("America/Cordoba", "America/Argentina/Cordoba"),
    ("America/Indianapolis", "America/Indiana/Indianapolis"),
    ("America/Jujuy", "America/Argentina/Jujuy"),
    ("America/Knox_IN", "America/Indiana/Knox"),
    ("America/Louisville", "America/Kentucky/Louisville"),
    ("America/Mendoza", "America/Argentina/Mendoza"),
    ("America/Virgin", "America/Puerto_Rico"),
    ("Pacific/Samoa", "Pacific/Pago_Pago"),
    ("Africa/Accra", "Africa/Abidjan"),
    ("Africa/Addis_Ababa", "Africa/Nairobi"),
    ("Africa/Asmara", "Africa/Nairobi"),
    ("Africa/Bamako", "Africa/Abidjan"),
    ("Africa/Bangui", "Africa/Lagos"),
    ("Africa/Banjul", "Africa/Abidjan"),
    ("Africa/Blantyre", "Africa/Maputo"),
    ("Africa/Brazzaville", "Africa/Lagos"),
    ("Africa/Bujumbura", "Africa/Maputo"),
    ("Africa/Conakry", "Africa/Abidjan"),
    ("Africa/Dakar", "Africa/Abidjan"),
    ("Africa/Dar_es_Salaam", "Africa/Nairobi"),
    ("Africa/Djibouti", "Africa/Nairobi"),
    ("Africa/Douala", "Africa/Lagos"),
    ("Africa/Freetown", "Africa/Abidjan"),
    ("Africa/Gaborone", "Africa/Maputo"),
    ("Africa/Harare", "Africa/Maputo"),
    ("Africa/Kampala", "Africa/Nairobi"),
    ("Africa/Kigali", "Africa/Maputo"),
    ("Africa/Kinshasa", "Africa/Lagos"),
    ("Africa/Libreville", "Africa/Lagos"),
    ("Africa/Lome", "Africa/Abidjan"),
    ("Africa/Luanda", "Africa/Lagos"),
    ("Africa/Lubumbashi", "Africa/Maputo"),
    ("Africa/Lusaka", "Africa/Maputo"),
    ("Africa/Malabo", "Africa/Lagos"),
    ("Africa/Maseru", "Africa/Johannesburg"),
    ("Africa/Mbabane", "Africa/Johannesburg"),
    ("Africa/Mogadishu", "Africa/Nairobi"),
    ("Africa/Niamey", "Africa/Lagos"),
    ("Africa/Nouakchott", "Africa/Abidjan"),
    ("Africa/Ouagadougou", "Africa/Abidjan"),
    ("Africa/Porto-Novo", "Africa/Lagos"),
    ("America/Anguilla", "America/Puerto_Rico"),
    ("America/Antigua", "America/Puerto_Rico"),
    ("America/Aruba", "America/Puerto_Rico"),
    ("America/Atikokan", "America/Panama"),
    ("America/Blanc-Sablon", "America/Puerto_Rico"),
    ("America/Cayman", "America/Panama"),
    ("America/Creston", "America/Phoenix"),
    ("America/Curacao", "America/Puerto_Rico"),
    ("America/Dominica", "America/Puerto_Rico"),
    ("America/Grenada", "America/Puerto_Rico"),
    ("America/Guadeloupe", "America/Puerto_Rico"),
    ("America/Kralendijk", "America/Puerto_Rico"),
    ("America/Lower_Princes", "America/Puerto_Rico"),
    ("America/Marigot", "America/Puerto_Rico"),
    ("America/Montserrat", "America/Puerto_Rico"),
    ("America/Nassau", "America/Toronto"),
    ("America/Port_of_Spain", "America/Puerto_Rico"),
    ("America/St_Barthelemy", "America/Puerto_Rico"),
    ("America/St_Kitts", "America/Puerto_Rico"),
    ("America/St_Lucia", "America/Puerto_Rico"),
    ("America/St_Thomas", "America/Puerto_Rico"),
    ("America/St_Vincent", "America/Puerto_Rico"),
    ("America/Tortola", "America/Puerto_Rico"),
    ("Antarctica/DumontDUrville", "Pacific/Port_Moresby"),
    ("Antarctica/McMurdo", "Pacific/Auckland"),
    ("Antarctica/Syowa", "Asia/Riyadh"),
    ("Arctic/Longyearbyen", "Europe/Berlin"),
    ("Asia/Aden", "Asia/Riyadh"),
    ("Asia/Bahrain", "Asia/Qatar"),
    ("Asia/Brunei", "Asia/Kuching"),
    ("Asia/Kuala_Lumpur", "Asia/Singapore"),
    ("Asia/Kuwait", "Asia/Riyadh"),
    ("Asia/Muscat", "Asia/Dubai"),
    ("Asia/Phnom_Penh", "Asia/Bangkok"),
    ("Asia/Vientiane", "Asia/Bangkok"),
    ("Atlantic/Reykjavik", "Africa/Abidjan"),
    ("Atlantic/St_Helena", "Africa/Abidjan"),
    ("Europe/Amsterdam", "Europe/Brussels"),
    ("Europe/Bratislava", "Europe/Prague"),
    ("Europe/Busingen", "Europe/Zurich"),
    ("Europe/Copenhagen", "Europe/Berlin"),
    ("Europe/Guernsey", "Europe/London"),
    ("Europe/Isle_of_Man", "Europe/London"),
    ("Europe/Jersey", "Europe/London"),
    ("Europe/Ljubljana", "Europe/Belgrade"),
    ("Europe/Luxembourg", "Europe/Brussels"),
    ("Europe/Mariehamn", "Europe/Helsinki"),
    ("Europe/Monaco", "Europe/Paris"),
    ("Europe/Oslo", "Europe/Berlin"),
    ("Europe/Podgorica", "Europe/Belgrade"),
    ("Europe/San_Marino", "Europe/Rome"),
    ("Europe/Sarajevo", "Europe/Belgrade"),
    ("Europe/Skopje", "Europe/Belgrade"),
    ("Europe/Stockholm", "Europe/Berlin"),
    ("Europe/Vaduz", "Europe/Zurich"),
    ("Europe/Vatican", "Europe/Rome"),
    ("Europe/Zagreb", "Europe/Belgrade"),
    ("Indian/Antananarivo", "Africa/Nairobi"),
    ("Indian/Christmas", "Asia/Bangkok"),
    ("Indian/Cocos", "Asia/Yangon"),
    ("Indian/Comoro", "Africa/Nairobi"),
    ("Indian/Kerguelen", "Indian/Maldives"),
    ("Indian/Mahe", "Asia/Dubai"),
    ("Indian/Mayotte", "Africa/Nairobi"),
    ("Indian/Reunion", "Asia/Dubai"),
    ("Pacific/Chuuk", "Pacific/Port_Moresby"),
    ("Pacific/Funafuti", "Pacific/Tarawa"),
    ("Pacific/Majuro", "Pacific/Tarawa"),
    ("Pacific/Midway", "Pacific/Pago_Pago"),
    ("Pacific/Pohnpei", "Pacific/Guadalcanal"),
    ("Pacific/Saipan", "Pacific/Guam"),
    ("Pacific/Wake", "Pacific/Tarawa"),
    ("Pacific/Wallis", "Pacific/Tarawa"),
    ("Africa/Timbuktu", "Africa/Abidjan"),
    (
        "America/Argentina/ComodRivadavia",
        "America/Argentina/Catamarca",
    ),
    ("America/Atka", "America/Adak"),
    ("America/Coral_Harbour", "America/Panama"),
    ("America/Ensenada", "America/Tijuana"),
    ("America/Fort_Wayne", "America/Indiana/Indianapolis"),
    ("America/Montreal", "America/Toronto"),
    ("America/Nipigon", "America/Toronto"),
    ("America/Pangnirtung", "America/Iqaluit"),
    ("America/Porto_Acre", "America/Rio_Branco"),
    ("America/Rainy_River", "America/Winnipeg"),
    ("America/Rosario", "America/Argentina/Cordoba"),
    ("America/Santa_Isabel", "America/Tijuana"),
    ("America/Shiprock", "America/Denver"),
    ("America/Thunder_Bay", "America/Toronto"),
    ("America/Yellowknife", "America/Edmonton"),
    ("Antarctica/South_Pole", "Pacific/Auckland"),
    ("Asia/Choibalsan", "Asia/Ulaanbaatar"),
    ("Asia/Chongqing", "Asia/Shanghai"),
    ("Asia/Harbin", "Asia/Shanghai"),
    ("Asia/Kashgar", "Asia/Urumqi"),
    ("Asia/Tel_Aviv", "Asia/Jerusalem"),
    ("Atlantic/Jan_Mayen", "Europe/Berlin"),
    ("Australia/Canberra", "Australia/Sydney"),
    ("Australia/Currie", "Australia/Hobart"),
    ("Europe/Belfast", "Europe/London"),
    ("Europe/Tiraspol", "Europe/Chisinau"),
    ("Europe/Uzhgorod", "Europe/Kyiv"),
    ("Europe/Zaporozhye", "Europe/Kyiv"),
    ("Pacific/Enderbury", "Pacific/Kanton"),
    ("Pacific/Johnston", "Pacific/Honolulu"),
    ("Pacific/Yap", "Pacific/Port_Moresby"),
    ("WET", "Europe/Lisbon"),
    ("Africa/Asmera", "Africa/Nairobi"),
    ("America/Godthab", "America/Nuuk"),
    ("Asia/Ashkhabad", "Asia/Ashgabat"),
    ("Asia/Calcutta", "Asia/Kolkata"),
    ("Asia/Chungking", "Asia/Shanghai"),
    ("Asia/Dacca", "Asia/Dhaka"),
    ("Asia/Istanbul", "Europe/Istanbul"),
    ("Asia/Katmandu", "Asia/Kathmandu"),
    ("Asia/Macao", "Asia/Macau"),
    ("Asia/Rangoon", "Asia/Yangon"),
    ("Asia/Saigon", "Asia/Ho_Chi_Minh"),
    ("Asia/Thimbu", "Asia/Thimphu"),
    ("Asia/Ujung_Pandang", "Asia/Makassar"),
    ("Asia/Ulan_Bator", "Asia/Ulaanbaatar"),
    ("Atlantic/Faeroe", "Atlantic/Faroe"),
    ("Europe/Kiev", "Europe/Kyiv"),
    ("Europe/Nicosia", "Asia/Nicosia"),
    ("HST", "Pacific/Honolulu"),
    ("PST8PDT", "America/Los_Angeles"),
    ("Pacific/Ponape", "Pacific/Guadalcanal"),
    ("Pacific/Truk", "Pacific/Port_Moresby"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_is_a_chrono_tz_zone() {
        for &(windows, canonical, others) in WINDOWS_ZONES.iter().chain(LEGACY_WINDOWS_ZONES) {
            for iana in std::iter::once(canonical).chain(others.split_ascii_whitespace()) {
                assert!(
                    Tz::from_str(iana).is_ok(),
                    "{windows}: {iana} is not a chrono-tz zone"
                );
            }
        }
        for &(alias, target) in LINKS {
            assert!(
                Tz::from_str(alias).is_ok() && Tz::from_str(target).is_ok(),
                "{alias} -> {target}"
            );
        }
        for (old, new) in MODERN_SPELLING {
            assert_eq!(
                maps().link_target.get(old),
                Some(new),
                "{old} is not a tzdb link to {new}"
            );
        }
    }

    #[test]
    fn each_iana_zone_belongs_to_one_windows_zone() {
        let mut seen = HashMap::new();
        for &(windows, canonical, others) in WINDOWS_ZONES {
            for iana in std::iter::once(canonical).chain(others.split_ascii_whitespace()) {
                if let Some(prev) = seen.insert(iana, windows) {
                    panic!("{iana} is listed under {prev} and {windows}");
                }
            }
        }
        assert_eq!(WINDOWS_ZONES.len(), 139);
    }

    #[test]
    fn windows_names_round_trip_through_their_canonical_zone() {
        for &(windows, _, _) in WINDOWS_ZONES {
            let tz = windows_to_iana(windows).unwrap_or_else(|| panic!("{windows}"));
            assert_eq!(
                iana_to_windows(tz),
                Some(windows),
                "{windows} -> {}",
                tz.name()
            );
        }
    }

    #[test]
    fn well_known_zones() {
        assert_eq!(
            windows_to_iana("Pacific Standard Time"),
            Some(Tz::America__Los_Angeles)
        );
        assert_eq!(
            windows_to_iana("pacific standard time"),
            Some(Tz::America__Los_Angeles)
        );
        assert_eq!(
            windows_to_iana("W. Europe Standard Time"),
            Some(Tz::Europe__Berlin)
        );
        assert_eq!(
            windows_to_iana("India Standard Time"),
            Some(Tz::Asia__Kolkata)
        );
        assert_eq!(windows_to_iana("FLE Standard Time"), Some(Tz::Europe__Kyiv));
        assert_eq!(windows_to_iana("UTC"), Some(Tz::Etc__UTC));
        assert_eq!(
            windows_to_iana("Mexico Standard Time 2"),
            Some(Tz::America__Chihuahua)
        );
        assert_eq!(windows_to_iana(CUSTOM_ZONE), None);
        assert_eq!(windows_to_iana("Mars Standard Time"), None);

        assert_eq!(
            iana_to_windows(Tz::Europe__Amsterdam),
            Some("W. Europe Standard Time")
        );
        assert_eq!(
            iana_to_windows(Tz::Europe__Brussels),
            Some("Romance Standard Time")
        );
        assert_eq!(
            iana_to_windows(Tz::Asia__Kolkata),
            Some("India Standard Time")
        );
        assert_eq!(
            iana_to_windows(Tz::Asia__Calcutta),
            Some("India Standard Time")
        );
        assert_eq!(
            iana_to_windows(Tz::America__Argentina__Buenos_Aires),
            Some("Argentina Standard Time")
        );
        assert_eq!(
            iana_to_windows(Tz::US__Eastern),
            Some("Eastern Standard Time")
        );
        assert_eq!(
            iana_to_windows(Tz::America__Vancouver),
            Some("Pacific Standard Time")
        );
        assert_eq!(iana_to_windows(Tz::UTC), Some("UTC"));
        assert_eq!(iana_to_windows(Tz::Etc__GMT), Some("UTC"));
        assert_eq!(
            iana_to_windows(Tz::Etc__GMTPlus5),
            Some("SA Pacific Standard Time")
        );
        assert_eq!(iana_to_windows(Tz::Pacific__Kanton), Some("UTC+13"));
        // Legacy names are read, never written.
        assert_eq!(
            iana_to_windows(Tz::America__Chihuahua),
            Some("Central Standard Time (Mexico)")
        );
    }

    #[test]
    fn graph_names() {
        assert_eq!(
            from_graph("Eastern Standard Time"),
            Some(Tz::America__New_York)
        );
        assert_eq!(from_graph("Europe/Berlin"), Some(Tz::Europe__Berlin));
        assert_eq!(from_graph("UTC"), Some(Tz::Etc__UTC));
        assert_eq!(from_graph("tzone://Microsoft/Utc"), Some(Tz::UTC));
        assert_eq!(from_graph(CUSTOM_ZONE), None);
        assert_eq!(from_graph(""), None);
        assert_eq!(
            to_graph(Tz::Europe__Berlin),
            ("W. Europe Standard Time".to_string(), true)
        );
    }

    #[test]
    fn nearly_every_chrono_tz_zone_has_a_windows_name() {
        let missing: Vec<&str> = chrono_tz::TZ_VARIANTS
            .iter()
            .filter(|tz| iana_to_windows(**tz).is_none())
            .map(|tz| tz.name())
            .collect();
        // CLDR leaves a few zones unmapped (tzdata 2025b: America/Coyhaique, Antarctica/Troll).
        assert!(
            missing.len() <= 5,
            "{} zones without a Windows name: {missing:?}",
            missing.len()
        );
    }
}
