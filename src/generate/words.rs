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

/// Names with their share of the population, drawn by that share.
pub struct Weighted {
    pub names: Vec<&'static str>,
    /// Running total of the shares, for a binary search.
    cumulative: Vec<f64>,
}

impl Weighted {
    fn from_tsv(text: &'static str) -> Weighted {
        let mut names = Vec::new();
        let mut cumulative = Vec::new();
        let mut total = 0.0;
        for c in cells(text) {
            // Shares of 0.000 (rounded away) still happen: give them the smallest step.
            total += c[1].parse::<f64>().unwrap_or(0.0).max(0.0005);
            names.push(c[0]);
            cumulative.push(total);
        }
        Weighted { names, cumulative }
    }

    /// A name drawn in proportion to its share.
    pub fn pick(&self, rng: &mut impl rand::Rng) -> &'static str {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.gen::<f64>() * total;
        let i = self.cumulative.partition_point(|&c| c < x);
        self.names[i.min(self.names.len() - 1)]
    }
}

/// US Census 1990 surnames, the 10,000 most common (71 % of people); the rest of the
/// population gets rarer names from the syllables below.
pub static SURNAMES: LazyLock<Weighted> =
    LazyLock::new(|| Weighted::from_tsv(include_str!("words/census_surnames.tsv")));
/// Share of people whose surname is one of `SURNAMES` (the file's cumulative percent).
pub const SURNAMES_SHARE: f64 = 0.711;

/// US Census 1990 first names by sex.
pub static FEMALE_NAMES: LazyLock<Weighted> =
    LazyLock::new(|| Weighted::from_tsv(include_str!("words/census_female.tsv")));
pub static MALE_NAMES: LazyLock<Weighted> =
    LazyLock::new(|| Weighted::from_tsv(include_str!("words/census_male.tsv")));

/// Local parts of shared office mailboxes that no built-in list knows: the tool has to
/// learn from the data that several people use them.
pub static OFFICE_MAILBOXES: LazyLock<Vec<&str>> =
    LazyLock::new(|| lines(include_str!("words/office_mailboxes.txt")));

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
    use rand::SeedableRng;

    #[test]
    fn every_list_loads_and_tables_are_whole() {
        for w in [&SURNAMES, &FEMALE_NAMES, &MALE_NAMES] {
            assert!(w.names.len() > 1000);
            assert!(w.cumulative.windows(2).all(|p| p[0] < p[1]));
        }
        assert_eq!(SURNAMES.names[0], "smith");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let smiths = (0..20_000)
            .filter(|_| SURNAMES.pick(&mut rng) == "smith")
            .count();
        // Smith is 1.006 % of everyone, 1.006 / 71.1 of those drawn from the list.
        assert!((250..=320).contains(&smiths), "{smiths}");
        for list in [
            &OFFICE_MAILBOXES,
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
