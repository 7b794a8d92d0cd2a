//! Field normalizers: one pure function per field kind, turning a raw CSV value into
//! the form that is indexed and compared. They never panic and never allocate more than
//! the value needs; a value that carries no information (a placeholder such as `N/A`,
//! an invalid e-mail, junk phone digits, an impossible date) becomes `None`.
//!
//! This module owns *what a value means*. It does not decide how similar two values are
//! (that is [`crate::compare`]) nor which values are searched (that is [`crate::index`]).

pub mod address;
pub mod country;
pub mod date;
pub mod email;
pub mod name;
pub mod phone;
pub mod serial;

pub use address::{normalize_address, normalize_city, normalize_postcode};
pub use country::parse_country;
pub use date::{parse_date, parse_date_in, DateOrder, ParsedDate};
pub use email::{normalize_email, Email};
pub use name::{parse_full_name, parse_name_parts, PersonName};
pub use phone::{Phone, PhoneNormalizer};
pub use serial::{normalize_serial, Serial};

/// Values that mean "nothing here" in exports, compared after trimming and lower-casing.
const PLACEHOLDERS: &[&str] = &[
    "",
    "-",
    "--",
    "---",
    ".",
    "?",
    "??",
    "n/a",
    "na",
    "n.a.",
    "#n/a",
    "none",
    "null",
    "nil",
    "unknown",
    "unk",
    "test",
    "tbd",
    "not available",
    "not provided",
    "no",
    "x",
    "xx",
    "xxx",
    "missing",
    "(null)",
    "(blank)",
    "blank",
    "undefined",
    "0",
];

/// True when a raw value is empty or a known placeholder.
pub fn is_placeholder(raw: &str) -> bool {
    let t = raw.trim();
    if t.len() > 16 {
        return false;
    }
    let lower = t.to_ascii_lowercase();
    PLACEHOLDERS.contains(&lower.as_str())
}

/// Identifiers and case numbers: upper-case alphanumerics, other characters dropped
/// ("t-00123 " → "T00123"); placeholders are missing.
pub fn normalize_code(raw: &str) -> Option<String> {
    if is_placeholder(raw) {
        return None;
    }
    let code: String = raw
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect();
    (!code.is_empty()).then_some(code)
}

/// Folds any Unicode text to lower-case ASCII letters, digits and single spaces:
/// accents are removed (`José` → `jose`, `Müller` → `muller`), apostrophes are dropped
/// (`O'Brien` → `obrien`) and every other punctuation becomes a word break.
pub fn fold_text(raw: &str) -> String {
    let ascii = deunicode::deunicode(raw);
    let mut out = String::with_capacity(ascii.len());
    let mut pending_space = false;
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c.to_ascii_lowercase());
        } else if c == '\'' || c == '`' {
            // O'Brien and D`Angelo are one word.
        } else {
            pending_space = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_upper_alphanumeric() {
        assert_eq!(normalize_code(" t-00123 ").as_deref(), Some("T00123"));
        assert_eq!(normalize_code("N/A"), None);
    }

    #[test]
    fn placeholders_are_missing() {
        for v in ["", " N/A ", "null", "Unknown", "-", "TEST", "none", "#N/A"] {
            assert!(is_placeholder(v), "{v:?}");
        }
        for v in ["Ann", "555-1234", "n/a street"] {
            assert!(!is_placeholder(v), "{v:?}");
        }
    }

    #[test]
    fn fold_text_table() {
        let cases = [
            ("José", "jose"),
            ("Müller", "muller"),
            ("O'Brien", "obrien"),
            ("  SMITH,   Robert ", "smith robert"),
            ("Zoë-Ann", "zoe ann"),
            ("Ørsted", "orsted"),
            ("北京", "bei jing"),
        ];
        for (raw, want) in cases {
            assert_eq!(fold_text(raw), want, "{raw}");
        }
    }

    proptest::proptest! {
        #[test]
        fn fold_text_never_panics_and_is_ascii(s in "\\PC*") {
            let f = fold_text(&s);
            proptest::prop_assert!(f.is_ascii());
            proptest::prop_assert!(!f.starts_with(' ') && !f.ends_with(' '));
        }
    }
}
