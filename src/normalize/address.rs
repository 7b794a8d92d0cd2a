//! Street addresses, cities and postcodes: folded tokens with the common street-type
//! and unit abbreviations unified ("Street" and "St." are one token), and US ZIP+4
//! shortened to the five-digit ZIP.

use super::{fold_text, is_placeholder};

/// Long form → the abbreviation every address is rewritten to.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("street", "st"),
    ("str", "st"),
    ("avenue", "ave"),
    ("av", "ave"),
    ("road", "rd"),
    ("drive", "dr"),
    ("lane", "ln"),
    ("boulevard", "blvd"),
    ("court", "ct"),
    ("place", "pl"),
    ("crescent", "cres"),
    ("circuit", "cct"),
    ("parade", "pde"),
    ("highway", "hwy"),
    ("terrace", "tce"),
    ("square", "sq"),
    ("parkway", "pkwy"),
    ("close", "cl"),
    ("circle", "cir"),
    ("way", "wy"),
    ("apartment", "apt"),
    ("unit", "apt"),
    ("suite", "ste"),
    ("floor", "fl"),
    ("building", "bldg"),
    ("north", "n"),
    ("south", "s"),
    ("east", "e"),
    ("west", "w"),
    ("mount", "mt"),
    ("saint", "st"),
    ("fort", "ft"),
    ("number", "no"),
];

fn abbreviate(token: &str) -> &str {
    ABBREVIATIONS
        .iter()
        .find(|(long, _)| *long == token)
        .map(|(_, short)| *short)
        .unwrap_or(token)
}

fn normalize_tokens(raw: &str) -> Option<String> {
    if is_placeholder(raw) {
        return None;
    }
    let folded = fold_text(raw);
    let out: Vec<&str> = folded
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(abbreviate)
        .collect();
    (!out.is_empty()).then(|| out.join(" "))
}

/// Normalizes a street address (one value, or the parts of one joined with spaces).
pub fn normalize_address(raw: &str) -> Option<String> {
    normalize_tokens(raw)
}

/// Normalizes a city or suburb name.
pub fn normalize_city(raw: &str) -> Option<String> {
    normalize_tokens(raw)
}

/// Normalizes a postcode: upper-case alphanumerics without spaces; ZIP+4 → ZIP.
pub fn normalize_postcode(raw: &str) -> Option<String> {
    if is_placeholder(raw) {
        return None;
    }
    let t = raw.trim();
    let b = t.as_bytes();
    if b.len() == 10
        && b[5] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 5 || c.is_ascii_digit())
    {
        return Some(t[..5].to_string());
    }
    let code: String = t
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (!code.is_empty() && !code.bytes().all(|c| c == b'0')).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_table() {
        let cases = [
            ("12 Main Street", Some("12 main st")),
            ("12 MAIN ST.", Some("12 main st")),
            ("Apt 4, 221B Baker Street", Some("apt 4 221b baker st")),
            (
                "Unit 4 / 7 Goldfinch Circuit",
                Some("apt 4 7 goldfinch cct"),
            ),
            (
                "1600 Pennsylvania Avenue NW",
                Some("1600 pennsylvania ave nw"),
            ),
            ("Rue de l'Église 5", Some("rue de leglise 5")),
            ("n/a", None),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_address(raw).as_deref(), want, "{raw:?}");
        }
        assert_eq!(normalize_city(" St. James ").as_deref(), Some("st james"));
        assert_eq!(normalize_city("Saint James").as_deref(), Some("st james"));
    }

    #[test]
    fn postcode_table() {
        let cases = [
            ("12345-6789", Some("12345")),
            ("12345", Some("12345")),
            ("sw1a 1aa", Some("SW1A1AA")),
            ("4011", Some("4011")),
            ("00000", None),
            ("", None),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_postcode(raw).as_deref(), want, "{raw:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn address_normalizers_never_panic(s in "\\PC*") {
            let _ = normalize_address(&s);
            let _ = normalize_city(&s);
            let _ = normalize_postcode(&s);
        }
    }
}
