//! Phone numbers to E.164 through the `phonenumber` crate (a port of Google's
//! libphonenumber), with the configured default region for numbers written without a
//! country code. Extensions are dropped for matching; junk ("N/A", "000-000-0000",
//! too few digits) is missing.
//!
//! Parsing is the slow part of ingestion (~47k parses/s on this machine kind, see
//! ARCHITECTURE.md), so [`PhoneNormalizer`] caches results by digit string: "(555) 123-4567",
//! "555.123.4567" and "555 123 4567" are parsed once.

// FxHash: the keys are value hashes, small ids or short strings; SipHash is a
// measured cost here and its DoS resistance buys nothing for a batch job.
use compact_str::CompactString;
use rustc_hash::FxHashMap as HashMap;
use std::str::FromStr;

use phonenumber::country::Id as Region;
use phonenumber::Mode;

use super::is_placeholder;

/// A normalized phone number.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Phone {
    /// E.164, e.g. `+15551234567`.
    pub e164: CompactString,
    /// Number of leading bytes of `e164` that hold `+` and the country code.
    pub country_len: u8,
}

impl Phone {
    /// The national significant number (E.164 without `+` and country code).
    pub fn national(&self) -> &str {
        &self.e164[self.country_len as usize..]
    }
    /// The last seven digits: the subscriber number in most numbering plans.
    pub fn last7(&self) -> &str {
        let n = self.e164.len();
        &self.e164[n.saturating_sub(7)..]
    }
}

/// Parses a region code such as `US` or `gb`.
pub fn parse_region(code: &str) -> Option<Region> {
    Region::from_str(&code.trim().to_ascii_uppercase()).ok()
}

/// Whether `raw` is a number libphonenumber holds valid when read in `region` (one
/// written with `+` is read as written): how `init` tells a export's phone region.
pub fn is_valid_in(raw: &str, region: Region) -> bool {
    let main = strip_extension(raw).trim();
    if main.is_empty() || is_placeholder(main) {
        return false;
    }
    phonenumber::parse((!main.starts_with('+')).then_some(region), main)
        .is_ok_and(|n| phonenumber::is_valid(&n))
}

/// Normalizes phone numbers with a default region and a cache of parsed digit strings.
pub struct PhoneNormalizer {
    region: Region,
    cache: HashMap<String, Option<Phone>>,
}

/// Fewest digits in a real subscriber number with its area code.
const MIN_PHONE_DIGITS: usize = 7;

impl PhoneNormalizer {
    pub fn new(region: Region) -> Self {
        PhoneNormalizer {
            region,
            cache: HashMap::default(),
        }
    }

    pub fn region(&self) -> Region {
        self.region
    }

    /// Normalizes one raw value; `None` for placeholders and junk.
    pub fn normalize(&mut self, raw: &str) -> Option<Phone> {
        if is_placeholder(raw) {
            return None;
        }
        let main = strip_extension(raw).trim();
        // "0044 20 …": the international call prefix used across Europe, as "+44 20 …";
        // "011 44 20 …" is the same number dialled from North America.
        let idd = match self.region {
            Region::US | Region::CA => "011",
            _ => "00",
        };
        let main: std::borrow::Cow<str> =
            match main.strip_prefix("00").or_else(|| main.strip_prefix(idd)) {
                Some(rest) => format!("+{}", rest.trim_start()).into(),
                None => main.into(),
            };
        // "+44 (0)20 …": the trunk 0 in brackets is dialled only from inside the country;
        // read with the country code it would become part of the number.
        let main: std::borrow::Cow<str> = if main.starts_with('+') && main.contains("(0)") {
            main.replacen("(0)", "", 1).into()
        } else {
            main
        };
        let plus = main.starts_with('+');
        let mut key = String::with_capacity(main.len() + 1);
        if plus {
            key.push('+');
        }
        // The parser reads letters as keypad digits. A word that stands in for digits
        // ("1-800-FLOWERS": too few digits without it) is a vanity number, and its letters
        // are part of the number and of the cache key. Any other letters are dropped, as
        // they are from the cache key: a label ("555-123-4567 home") or a slip of the
        // keyboard ("1y850-816-1154"). So a thread's earlier values never decide a later
        // one's answer.
        let digits_start = key.len();
        key.extend(main.chars().filter(char::is_ascii_digit));
        let digits = &key[digits_start..];
        let vanity = digits.len() < MIN_PHONE_DIGITS
            && main
                .as_bytes()
                .windows(3)
                .any(|w| w.iter().all(u8::is_ascii_alphabetic));
        let keyed = if vanity {
            main.chars().filter(char::is_ascii_alphanumeric).count()
        } else {
            digits.len()
        };
        if !(MIN_PHONE_DIGITS..=17).contains(&keyed) {
            return None;
        }
        // Digits that look typed to fill a field ("0000000000", "1234567890") are junk
        // unless libphonenumber says they are a valid number of their region: the Irish
        // "+353 1 234 5678" is a Dublin number, not a keyboard run.
        let looks_junk = is_junk_digits(digits);
        if vanity {
            key.push('/');
            key.extend(
                main.chars()
                    .filter(char::is_ascii_alphanumeric)
                    .map(|c| c.to_ascii_lowercase()),
            );
        }
        if let Some(hit) = self.cache.get(&key) {
            return hit.clone();
        }
        let parsed = if looks_junk {
            self.parse_valid(&main)
        } else if vanity {
            self.parse(&main)
        } else {
            self.nanp(&key).or_else(|| {
                let without_letters: String =
                    main.chars().filter(|c| !c.is_ascii_alphabetic()).collect();
                self.parse(&without_letters)
            })
        };
        self.cache.insert(key, parsed.clone());
        parsed
    }

    /// North American numbers in their usual shapes, without the general parser: at a
    /// million records parsing is the slowest part of ingestion (ARCHITECTURE.md: ~47k parses/s,
    /// slower on two threads). Gives exactly what the parser gives for these shapes (a
    /// test checks); anything else goes to the parser.
    fn nanp(&self, key: &str) -> Option<Phone> {
        let (plus, digits) = match key.strip_prefix('+') {
            Some(d) => (true, d),
            None => (false, key),
        };
        let home = matches!(self.region, Region::US | Region::CA);
        let national = match digits.len() {
            10 if home && !plus => digits,
            11 if digits.starts_with('1') && (plus || home) => &digits[1..],
            _ => return None,
        };
        let b = national.as_bytes();
        if !(b'2'..=b'9').contains(&b[0]) || !(b'2'..=b'9').contains(&b[3]) {
            return None;
        }
        Some(Phone {
            e164: compact_str::format_compact!("+1{national}"),
            country_len: 2,
        })
    }

    /// Only a number that libphonenumber holds valid for its region.
    fn parse_valid(&self, main: &str) -> Option<Phone> {
        let number = phonenumber::parse(self.region_for(main), main).ok()?;
        if !phonenumber::is_valid(&number) {
            return None;
        }
        self.parse(main)
    }

    /// The region a number is read in: none for a number with its country code. The
    /// `phonenumber` crate (0.3) strips the *given* region's national prefix from any
    /// number, so "+44 161 496 0000" read with US as the region lost the 1 of 161 (the
    /// US trunk prefix) and became another, valid-looking Manchester number.
    fn region_for(&self, main: &str) -> Option<Region> {
        (!main.starts_with('+')).then_some(self.region)
    }

    fn parse(&self, main: &str) -> Option<Phone> {
        let number = phonenumber::parse(self.region_for(main), main).ok()?;
        let e164 = number.format().mode(Mode::E164).to_string();
        let code_len = number.code().value().to_string().len();
        let national_len = e164.len().checked_sub(1 + code_len)?;
        if national_len < MIN_PHONE_DIGITS - 1 {
            return None;
        }
        if is_junk_digits(&e164[1 + code_len..]) && !phonenumber::is_valid(&number) {
            return None;
        }
        Some(Phone {
            e164: e164.into(),
            country_len: (1 + code_len) as u8,
        })
    }
}

/// Removes an extension ("x123", "ext. 45", "extension 9", ";ext=7", "#12").
fn strip_extension(raw: &str) -> &str {
    let lower = raw.to_ascii_lowercase();
    let mut cut = raw.len();
    for marker in ["ext", ";ext", "x", "#"] {
        if let Some(pos) = lower.find(marker) {
            // Only when digits come before the marker (not "x" inside a word).
            if lower[..pos].chars().filter(char::is_ascii_digit).count() >= MIN_PHONE_DIGITS {
                cut = cut.min(pos);
            }
        }
    }
    &raw[..cut]
}

/// All one digit ("0000000000") or a keyboard run ("1234567890").
fn is_junk_digits(digits: &str) -> bool {
    let bytes = digits.as_bytes();
    let national = if bytes.len() == 11 && bytes[0] == b'1' {
        &bytes[1..]
    } else {
        bytes
    };
    national.iter().all(|&b| b == national[0])
        || "12345678901234567890".contains(digits)
        || "09876543210987654321".contains(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(raw: &str) -> Option<String> {
        PhoneNormalizer::new(Region::US)
            .normalize(raw)
            .map(|p| p.e164.to_string())
    }

    #[test]
    fn phone_table_us() {
        let cases = [
            ("(555) 123-4567", Some("+15551234567")),
            ("555.123.4567", Some("+15551234567")),
            ("+1 555 123 4567", Some("+15551234567")),
            ("1-555-123-4567", Some("+15551234567")),
            ("555-123-4567 ext. 89", Some("+15551234567")),
            ("555 123 4567 x12", Some("+15551234567")),
            ("+44 20 7946 0958", Some("+442079460958")),
            ("0044 20 7946 0958", Some("+442079460958")),
            ("+44 (0)20 7946 0958", Some("+442079460958")),
            // Foreign numbers that start with the US trunk prefix 1 keep it.
            ("+44 161 496 0000", Some("+441614960000")),
            ("+49 170 9443035", Some("+491709443035")),
            ("011 49 170 9443035", Some("+491709443035")),
            ("+49 (0)30 1234567", Some("+49301234567")),
            ("N/A", None),
            ("000-000-0000", None),
            ("123-4567-890", None),
            ("12345", None),
            ("call me", None),
            ("", None),
        ];
        for (raw, want) in cases {
            assert_eq!(us(raw), want.map(String::from), "{raw:?}");
        }
    }

    #[test]
    fn a_valid_number_is_never_junk() {
        let mut ie = PhoneNormalizer::new(Region::IE);
        assert_eq!(
            ie.normalize("+353 1 234 5678").map(|p| p.e164).as_deref(),
            Some("+35312345678")
        );
        assert_eq!(us("123-456-7890"), None);
        assert_eq!(us("000-000-0000"), None);
    }

    #[test]
    fn default_region_applies_to_national_numbers() {
        let mut gb = PhoneNormalizer::new(parse_region("gb").unwrap());
        assert_eq!(gb.normalize("020 7946 0958").unwrap().e164, "+442079460958");
        let mut au = PhoneNormalizer::new(parse_region("AU").unwrap());
        let p = au.normalize("(02) 9876 5432").unwrap();
        assert_eq!(p.e164, "+61298765432");
        assert_eq!(p.national(), "298765432");
        assert_eq!(p.last7(), "8765432");
        assert!(parse_region("XX").is_none());
    }

    #[test]
    fn cache_answers_reformatted_numbers_alike() {
        let mut n = PhoneNormalizer::new(Region::US);
        let a = n.normalize("(555) 123-4567");
        let b = n.normalize("555 123 4567");
        assert_eq!(a, b);
        assert_eq!(n.cache.len(), 1);
    }

    /// Ingestion threads keep their own caches and meet values in different orders: an
    /// answer must not depend on what a cache saw before.
    #[test]
    fn cached_answers_do_not_depend_on_order() {
        let values = [
            "615-4p6-3310",
            "615-46-3310",
            "1-800-FLOWERS",
            "1800356-9377",
        ];
        let mut n = PhoneNormalizer::new(Region::US);
        assert_eq!(
            n.normalize("1y850-816-1154").map(|p| p.e164),
            Some("+18508161154".into()),
            "a stray letter is a typo"
        );
        assert_eq!(
            n.normalize("1-800-FLOWERS").map(|p| p.e164),
            Some("+18003569377".into()),
            "a word in place of digits is a vanity number"
        );
        for labelled in [
            "555-123-4567 home",
            "Tel: 555-123-4567",
            "555-123-4567 (work)",
        ] {
            assert_eq!(
                n.normalize(labelled).map(|p| p.e164),
                Some("+15551234567".into()),
                "{labelled}: a label is not part of the number"
            );
        }
        let fresh: Vec<_> = values
            .iter()
            .map(|v| PhoneNormalizer::new(Region::US).normalize(v))
            .collect();
        let mut shared = PhoneNormalizer::new(Region::US);
        for order in [[0, 1, 2, 3], [3, 2, 1, 0]] {
            for i in order {
                assert_eq!(shared.normalize(values[i]), fresh[i], "{}", values[i]);
            }
        }
    }

    #[test]
    fn nanp_shortcut_agrees_with_the_parser() {
        let n = PhoneNormalizer::new(Region::US);
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..3000 {
            // xorshift: varied digit strings, some invalid area or exchange codes.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ten = format!("{:010}", x % 10_000_000_000);
            let raw = match i % 3 {
                0 => ten.clone(),
                1 => format!("1{ten}"),
                _ => format!("+1{ten}"),
            };
            let key = raw.clone();
            if let Some(fast) = n.nanp(&key) {
                assert_eq!(Some(fast), n.parse(&raw), "{raw}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn normalize_phone_never_panics(s in "\\PC*") {
            let mut n = PhoneNormalizer::new(Region::US);
            if let Some(p) = n.normalize(&s) {
                proptest::prop_assert!(p.e164.starts_with('+'));
                let _ = (p.national(), p.last7());
            }
        }
        #[test]
        fn normalize_phone_digits_never_panics(s in "[0-9+() .x-]{0,25}") {
            let mut n = PhoneNormalizer::new(Region::GB);
            let _ = n.normalize(&s);
        }
    }
}
