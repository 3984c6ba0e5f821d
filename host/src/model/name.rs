//! Names people give things (connections, syncs, API keys, webhooks'
//! descriptions): one rule everywhere, stated once for the checks and once
//! for the API's schema, with a test that the two agree.

/// Longest name, in characters.
pub const NAME_MAX: usize = 100;

/// The rule as a regular expression for the API's schema: at least one
/// character that is neither whitespace nor a control character, and no
/// control characters at all (the length is stated separately).
pub const NAME_PATTERN: &str =
    r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";

/// Whether `name` is a valid name: 1 to [`NAME_MAX`] characters, not blank,
/// no control characters.
pub fn is_valid_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name.chars().count() <= NAME_MAX
        && !name.chars().any(char::is_control)
}

/// What a valid name is, for error messages.
pub const NAME_RULE: &str = "1-100 characters, not blank, no control characters";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_and_the_check_agree() {
        let schema = serde_json::json!({"type": "string", "pattern": NAME_PATTERN});
        let pattern = crate::model::record::schema_validator(&schema).unwrap();
        for name in [
            "shop",
            " shop ",
            "Café — main",
            "",
            "   ",
            "\t",
            "a\u{0}b",
            "a\nb",
            "\u{85}x",
            "x\u{9f}",
            "\u{a0}",
            "名前",
        ] {
            assert_eq!(
                pattern.is_valid(&serde_json::json!(name)),
                is_valid_name(name),
                "{name:?}: the schema and the check disagree"
            );
        }
        assert!(is_valid_name(&"é".repeat(NAME_MAX)));
        assert!(!is_valid_name(&"é".repeat(NAME_MAX + 1)));
    }
}
