//! Person names: "SMITH, Robert", "Dr. Robert J. Smith Jr.", "bob smith", "José Müller".
//!
//! A name is folded to ASCII lower case (see [`super::fold_text`]), honorifics and
//! suffixes are dropped, "LAST, First" is turned around, and the parts are kept apart:
//! first, middle, last. Each part that is not an initial also gets a phonetic key
//! (Double Metaphone, which treats `muller`/`mueller` alike) and the first name gets its
//! nickname groups (Bob, Rob, Bobby → robert) from an embedded Apache-2.0 nickname list.

use compact_str::CompactString;
use std::collections::HashMap;
use std::sync::OnceLock;

use rphonetic::{DoubleMetaphone, Encoder};

use super::{fold_text, is_placeholder};

/// A normalized person name. Empty strings mean "not given".
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct PersonName {
    pub first: CompactString,
    pub middle: CompactString,
    pub last: CompactString,
    /// Double Metaphone primary code of `first` (empty for initials and empty names).
    pub first_phonetic: CompactString,
    /// Double Metaphone primary code of `last`.
    pub last_phonetic: CompactString,
    /// Nickname groups of `first` (ids into the embedded table), sorted.
    pub first_groups: Vec<u16>,
    /// A generation suffix as written ("jr", "sr", "ii", "iii", "iv"; empty when none):
    /// a father and son of one name at one address are told apart by it.
    pub generation: CompactString,
}

impl PersonName {
    /// Builds a name from already separated parts (any of them may be empty).
    pub fn from_parts(first: &str, middle: &str, last: &str) -> Option<PersonName> {
        if first.is_empty() && last.is_empty() && middle.is_empty() {
            return None;
        }
        // A name given only as a middle part is a first name.
        let (first, middle) = if first.is_empty() {
            (middle, "")
        } else {
            (first, middle)
        };
        Some(PersonName {
            first: first.into(),
            middle: middle.into(),
            last: last.into(),
            first_phonetic: phonetic(first).into(),
            last_phonetic: phonetic(last).into(),
            first_groups: nickname_groups(first),
            generation: CompactString::default(),
        })
    }

    fn with_generation(mut self, raw: &str) -> PersonName {
        self.generation = generation_of(raw).into();
        self
    }

    /// The name as "first last" for display and search.
    pub fn display(&self) -> String {
        match (self.first.is_empty(), self.last.is_empty()) {
            (false, false) => format!("{} {}", self.first, self.last),
            (true, _) => self.last.to_string(),
            (_, true) => self.first.to_string(),
        }
    }
}

const HONORIFICS: &[&str] = &[
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "madam", "mme", "rev", "fr",
    "herr", "frau", "sr", "sra", "srta",
];
const SUFFIXES: &[&str] = &[
    "jr", "sr", "ii", "iii", "iv", "v", "phd", "md", "esq", "dds", "jnr", "snr",
];
/// Surname particles that belong to the last name ("van der Berg", "de la Cruz").
const PARTICLES: &[&str] = &[
    "van", "von", "der", "den", "de", "la", "le", "da", "di", "del", "du", "st", "mac", "bin", "al",
];

/// Parses a full name written in one column: "SMITH, Robert J", "Dr Robert Smith Jr.",
/// "Robert Smith". Returns `None` for empty and placeholder values.
pub fn parse_full_name(raw: &str) -> Option<PersonName> {
    parse_full_name_parts(raw).map(|n| n.with_generation(raw))
}

/// The generation suffix among a raw name's words ("Jr.", "JNR", "III"), normalized.
fn generation_of(raw: &str) -> &'static str {
    let folded = fold_text(raw);
    for t in folded.split(' ').skip(1) {
        match t {
            "jr" | "jnr" => return "jr",
            "sr" | "snr" => return "sr",
            "ii" => return "ii",
            "iii" => return "iii",
            "iv" => return "iv",
            _ => {}
        }
    }
    ""
}

fn parse_full_name_parts(raw: &str) -> Option<PersonName> {
    if is_placeholder(raw) {
        return None;
    }
    if let Some((before, after)) = raw.split_once(',') {
        let last_tokens = clean_tokens(&fold_text(before));
        let mut rest_tokens = clean_tokens(&fold_text(after));
        if rest_tokens.iter().all(|t| SUFFIXES.contains(&t.as_str())) {
            rest_tokens.clear();
        }
        // "Smith, Jr." or "Robert Smith, PhD": the comma introduces a suffix only.
        if !rest_tokens.is_empty() && !last_tokens.is_empty() {
            let (first, middle) = split_first_middle(&rest_tokens);
            return PersonName::from_parts(&first, &middle, &last_tokens.join(" "));
        }
        let tokens = if last_tokens.is_empty() {
            rest_tokens
        } else {
            last_tokens
        };
        return from_ordered_tokens(&tokens);
    }
    if let Some((surname, given)) = split_capitalized_surname(raw) {
        return parse_full_name_parts(&format!("{surname}, {given}"));
    }
    from_ordered_tokens(&clean_tokens(&fold_text(raw)))
}

/// "SMITH Robert": a surname in capitals before a given name in mixed case, as many
/// registration systems write names (and as "SMITH, Robert" reads with its comma lost).
/// Splits off the leading all-capital words when a word with lower-case letters follows.
fn split_capitalized_surname(raw: &str) -> Option<(&str, &str)> {
    let words: Vec<&str> = raw.split_whitespace().collect();
    // Three letters at least: "AJ Smith" and "JR Smith" are initials, not surnames.
    let capital = |w: &str| {
        w.chars().filter(|c| c.is_alphabetic()).count() >= 3
            && !w.chars().any(|c| c.is_lowercase())
            && !HONORIFICS.contains(&w.to_lowercase().trim_end_matches('.'))
    };
    let k = words.iter().take_while(|w| capital(w)).count();
    let rest_mixed = words[k..]
        .iter()
        .any(|w| w.chars().any(|c| c.is_lowercase()));
    if k == 0 || k == words.len() || !rest_mixed {
        return None;
    }
    let split = raw.find(words[k])?;
    Some((raw[..split].trim(), raw[split..].trim()))
}

/// Normalizes names given in separate columns.
pub fn parse_name_parts(first_raw: &str, last_raw: &str) -> Option<PersonName> {
    let first_raw = if is_placeholder(first_raw) {
        ""
    } else {
        first_raw
    };
    let last_raw = if is_placeholder(last_raw) {
        ""
    } else {
        last_raw
    };
    let first_tokens = clean_tokens(&fold_text(first_raw));
    let last_tokens = clean_tokens(&fold_text(last_raw));
    let (first, middle) = split_first_middle(&first_tokens);
    PersonName::from_parts(&first, &middle, &last_tokens.join(" "))
        .map(|n| n.with_generation(&format!("{first_raw} {last_raw}")))
}

fn from_ordered_tokens(tokens: &[String]) -> Option<PersonName> {
    match tokens.len() {
        0 => None,
        1 => PersonName::from_parts("", "", &tokens[0]),
        _ => {
            // The last name starts at the earliest particle before the final token.
            let mut last_start = tokens.len() - 1;
            while last_start > 1 && PARTICLES.contains(&tokens[last_start - 1].as_str()) {
                last_start -= 1;
            }
            let first = &tokens[0];
            let middle = tokens[1..last_start].join(" ");
            PersonName::from_parts(first, &middle, &tokens[last_start..].join(" "))
        }
    }
}

fn split_first_middle(tokens: &[String]) -> (String, String) {
    match tokens.split_first() {
        None => (String::new(), String::new()),
        Some((first, rest)) => (first.clone(), rest.join(" ")),
    }
}

/// Drops honorifics (leading) and suffixes (trailing) from folded tokens.
fn clean_tokens(folded: &str) -> Vec<String> {
    let mut tokens: Vec<&str> = folded.split(' ').filter(|t| !t.is_empty()).collect();
    while tokens.len() > 1 && HONORIFICS.contains(&tokens[0]) {
        tokens.remove(0);
    }
    while tokens.len() > 1 && SUFFIXES.contains(tokens.last().unwrap_or(&"")) {
        tokens.pop();
    }
    tokens.into_iter().map(str::to_string).collect()
}

/// Double Metaphone primary code of a folded name; empty for initials.
pub fn phonetic(folded: &str) -> String {
    let letters: String = folded.chars().filter(|c| c.is_ascii_alphabetic()).collect();
    if letters.len() < 2 {
        return String::new();
    }
    // rphonetic expects ASCII; `letters` is ASCII by construction.
    static ENCODER: OnceLock<DoubleMetaphone> = OnceLock::new();
    ENCODER
        .get_or_init(DoubleMetaphone::default)
        .encode(&letters)
}

/// The nickname groups of a folded first name: ids of the formal names it can stand for
/// (itself included when it is a formal name). Sorted; empty when the name is unknown.
pub fn nickname_groups(folded_first: &str) -> Vec<u16> {
    let table = nickname_table();
    let key = folded_first.split(' ').next().unwrap_or("");
    table.get(key).cloned().unwrap_or_default()
}

/// The formal name behind a nickname group id (for indexing and explanations).
pub fn nickname_group_name(id: u16) -> &'static str {
    nickname_names()
        .get(id as usize)
        .map(String::as_str)
        .unwrap_or("")
}

/// True when two folded first names may name the same person by nickname (Bob/Robert).
pub fn nickname_equivalent(a: &[u16], b: &[u16]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
        }
    }
    false
}

static NICKNAMES_CSV: &str = include_str!("nicknames.csv");

struct NicknameTable {
    names: Vec<String>,
    groups: HashMap<String, Vec<u16>>,
}

fn nickname_data() -> &'static NicknameTable {
    static TABLE: OnceLock<NicknameTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut names: Vec<String> = Vec::new();
        let mut ids: HashMap<String, u16> = HashMap::new();
        let mut groups: HashMap<String, Vec<u16>> = HashMap::new();
        for line in NICKNAMES_CSV.lines().skip(1) {
            let mut parts = line.split(',');
            let (Some(formal), Some(_), Some(nick)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let (formal, nick) = (formal.trim(), nick.trim());
            let id = *ids.entry(formal.to_string()).or_insert_with(|| {
                names.push(formal.to_string());
                (names.len() - 1) as u16
            });
            groups.entry(formal.to_string()).or_default().push(id);
            groups.entry(nick.to_string()).or_default().push(id);
        }
        for g in groups.values_mut() {
            g.sort_unstable();
            g.dedup();
        }
        NicknameTable { names, groups }
    })
}

fn nickname_table() -> &'static HashMap<String, Vec<u16>> {
    &nickname_data().groups
}

fn nickname_names() -> &'static [String] {
    &nickname_data().names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(n: &PersonName) -> (&str, &str, &str) {
        (&n.first, &n.middle, &n.last)
    }

    #[test]
    fn full_name_table() {
        let cases = [
            ("SMITH, Robert", ("robert", "", "smith")),
            ("Bob Smith", ("bob", "", "smith")),
            ("Dr. Robert J. Smith Jr.", ("robert", "j", "smith")),
            ("Mrs Mary-Ann O'Neil", ("mary", "ann", "oneil")),
            ("José  MÜLLER", ("jose", "", "muller")),
            ("R. Smith", ("r", "", "smith")),
            ("Ludwig van Beethoven", ("ludwig", "", "van beethoven")),
            ("Smith, Jr.", ("", "", "smith")),
            ("Robert Smith, PhD", ("robert", "", "smith")),
            ("Cher", ("", "", "cher")),
            ("SANCHEZ Dennis", ("dennis", "", "sanchez")),
            ("VAN DER BERG Anna Maria", ("anna", "maria", "van der berg")),
            ("AJ Smith", ("aj", "", "smith")),
            ("MRS Mary Jones", ("mary", "", "jones")),
            ("ROBERT SMITH", ("robert", "", "smith")),
            ("Robert SMITH", ("robert", "", "smith")),
        ];
        for (raw, want) in cases {
            let n = parse_full_name(raw).unwrap_or_else(|| panic!("{raw} parsed to nothing"));
            assert_eq!(parts(&n), want, "{raw}");
        }
        for raw in ["", "N/A", "  ", "unknown", "-"] {
            assert_eq!(parse_full_name(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn parts_table() {
        let n = parse_name_parts(" Robert James ", "SMITH").unwrap();
        assert_eq!(parts(&n), ("robert", "james", "smith"));
        let n = parse_name_parts("", "waller").unwrap();
        assert_eq!(parts(&n), ("", "", "waller"));
        assert_eq!(parse_name_parts("n/a", ""), None);
    }

    #[test]
    fn generation_suffixes_are_kept_apart_from_the_name() {
        let jr = parse_full_name("BROWN JR, Donald").unwrap();
        assert_eq!((jr.first.as_str(), jr.last.as_str()), ("donald", "brown"));
        assert_eq!(jr.generation, "jr");
        assert_eq!(
            parse_full_name("Donald Brown Sr.").unwrap().generation,
            "sr"
        );
        assert_eq!(
            parse_name_parts("Max", "Hallmark Sr").unwrap().generation,
            "sr"
        );
        assert_eq!(parse_full_name("Donald Brown").unwrap().generation, "");
        // A first name is never a suffix.
        assert_eq!(parse_full_name("Jr Smith").unwrap().generation, "");
    }

    #[test]
    fn nicknames_link_formal_names() {
        let g = |s: &str| nickname_groups(s);
        assert!(nickname_equivalent(&g("bob"), &g("robert")));
        assert!(nickname_equivalent(&g("liz"), &g("elizabeth")));
        assert!(nickname_equivalent(&g("bill"), &g("william")));
        assert!(nickname_equivalent(&g("peggy"), &g("margaret")));
        assert!(!nickname_equivalent(&g("robert"), &g("margaret")));
        assert!(
            nickname_data().names.len() >= 300,
            "a few hundred name groups"
        );
    }

    #[test]
    fn phonetic_treats_umlaut_spellings_alike() {
        let a = parse_full_name("Müller").unwrap();
        let b = parse_full_name("Mueller").unwrap();
        assert_eq!(a.last_phonetic, b.last_phonetic);
        assert_eq!(phonetic("smith"), phonetic("smyth"));
        assert_eq!(phonetic("r"), "");
    }

    proptest::proptest! {
        #[test]
        fn parse_full_name_never_panics(s in "\\PC*") {
            let _ = parse_full_name(&s);
            let _ = parse_name_parts(&s, &s);
        }
    }
}
