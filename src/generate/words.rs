//! The generator's word lists, kept as data files in `words/` (one value a line; tables
//! tab-separated) and read once.

use std::sync::LazyLock;

/// The non-empty, non-comment lines of a list.
fn lines(text: &'static str) -> Vec<&'static str> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// A table's rows, split on tabs (the files are ours: a short row is a bug, caught by
/// the tests).
fn cells(text: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    lines(text).into_iter().map(|l| l.split('\t').collect())
}

pub static FIRST_NAMES: LazyLock<Vec<&str>> =
    LazyLock::new(|| lines(include_str!("words/first_names.txt")));

pub static SURNAMES: LazyLock<Vec<&str>> =
    LazyLock::new(|| lines(include_str!("words/surnames.txt")));

/// Syllables for the long tail of rare surnames.
pub static SYLLABLES: LazyLock<Vec<&str>> =
    LazyLock::new(|| lines(include_str!("words/syllables.txt")));

pub static STREETS: LazyLock<Vec<&str>> =
    LazyLock::new(|| lines(include_str!("words/streets.txt")));

pub static AREA_CODES: LazyLock<Vec<&str>> =
    LazyLock::new(|| lines(include_str!("words/area_codes.txt")));

pub static PROVIDERS: LazyLock<Vec<&str>> =
    LazyLock::new(|| lines(include_str!("words/providers.txt")));

pub static SUBJECTS: LazyLock<Vec<&str>> =
    LazyLock::new(|| lines(include_str!("words/subjects.txt")));

/// E-mails that agents and customers type to get past a required field.
pub static PLACEHOLDER_EMAILS: LazyLock<Vec<&str>> =
    LazyLock::new(|| lines(include_str!("words/placeholder_emails.txt")));
pub static PRODUCTS: LazyLock<Vec<&str>> =
    LazyLock::new(|| lines(include_str!("words/products.txt")));

pub static ROLE_DOMAINS: LazyLock<Vec<&str>> =
    LazyLock::new(|| lines(include_str!("words/role_domains.txt")));

pub static STREET_TYPES: LazyLock<Vec<(&str, &str)>> = LazyLock::new(|| {
    cells(include_str!("words/street_types.tsv"))
        .map(|c| (c[0], c[1]))
        .collect()
});

/// City, state, ZIP prefix.
pub static CITIES: LazyLock<Vec<(&str, &str, &str)>> = LazyLock::new(|| {
    cells(include_str!("words/cities.tsv"))
        .map(|c| (c[0], c[1], c[2]))
        .collect()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_list_loads_and_tables_are_whole() {
        for list in [
            &FIRST_NAMES,
            &SURNAMES,
            &SYLLABLES,
            &STREETS,
            &AREA_CODES,
            &PROVIDERS,
            &SUBJECTS,
            &PRODUCTS,
            &ROLE_DOMAINS,
        ] {
            assert!(!list.is_empty());
        }
        assert_eq!(STREET_TYPES.len(), 7);
        assert!(CITIES
            .iter()
            .all(|(c, s, z)| !c.is_empty() && s.len() == 2 && z.len() == 3));
        for c in cells(include_str!("words/cities.tsv")) {
            assert_eq!(c.len(), 3);
        }
        for c in cells(include_str!("words/street_types.tsv")) {
            assert_eq!(c.len(), 2);
        }
    }
}
