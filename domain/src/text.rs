//! What free text a person typed may hold (titles, names, descriptions). PostgreSQL refuses NUL
//! in text and SQLite would store it, so control characters are refused here, before either
//! engine sees them, and both behave the same.

use crate::error::InvalidInput;

/// Longest series or occurrence title, in characters.
pub const MAX_TITLE: usize = 500;
/// Longest series or occurrence description, in characters.
pub const MAX_DESCRIPTION: usize = 10_000;

/// A one-line field (a title, a name), trimmed: no control characters, not even tab or newline.
pub fn single_line(
    field: &'static str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<String, InvalidInput> {
    if value.chars().any(char::is_control) {
        return Err(InvalidInput::field(
            field,
            "may not contain control characters (tab, newline, NUL, …)",
        ));
    }
    checked(field, value, max, required)
}

/// A multi-line field (a description), trimmed: tab, line feed and carriage return are allowed,
/// other control characters are not.
pub fn multi_line(field: &'static str, value: &str, max: usize) -> Result<String, InvalidInput> {
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(InvalidInput::field(
            field,
            "may not contain control characters other than tab and line breaks",
        ));
    }
    checked(field, value, max, false)
}

/// A series' or occurrence's title.
pub fn title(value: &str) -> Result<String, InvalidInput> {
    single_line("title", value, MAX_TITLE, true)
}

/// A series' or occurrence's description; blank is the same as none.
pub fn description(value: Option<String>) -> Result<Option<String>, InvalidInput> {
    value
        .map(|d| multi_line("description", &d, MAX_DESCRIPTION))
        .transpose()
        .map(|d| d.filter(|s| !s.is_empty()))
}

fn checked(
    field: &'static str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<String, InvalidInput> {
    let v = value.trim();
    if required && v.is_empty() {
        return Err(InvalidInput::field(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(InvalidInput::field(
            field,
            format!("may be at most {max} characters"),
        ));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_fields_refuse_every_control_character_and_multi_line_fields_allow_line_breaks() {
        assert!(single_line("name", "a\tb", 10, true).is_err());
        assert!(single_line("name", "a\0b", 10, true).is_err());
        assert_eq!(multi_line("d", " a\n\tb ", 10).as_deref(), Ok("a\n\tb"));
        assert!(multi_line("d", "a\0b", 10).is_err());
    }

    #[test]
    fn limits_count_characters_after_trimming() {
        assert_eq!(single_line("name", "  é  ", 1, true).as_deref(), Ok("é"));
        assert!(single_line("name", "ab", 1, true).is_err());
        assert!(single_line("name", "   ", 5, true).is_err());
        assert_eq!(description(Some("  ".into())), Ok(None));
    }
}
