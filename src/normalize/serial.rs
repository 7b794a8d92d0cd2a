//! Product serial numbers: upper-case alphanumerics with separators removed, plus a
//! second key with visually confusable characters folded (O→0, I/L→1, S→5, B→8, Z→2),
//! so that "sn-ab10-0O1l" and "SNAB1000I1" compare as the same serial.

use super::is_placeholder;
use compact_str::CompactString;

/// A normalized serial number.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Serial {
    /// Upper-case ASCII alphanumerics as written.
    pub key: CompactString,
    /// `key` with confusable characters folded; used for fuzzy agreement.
    pub folded: CompactString,
}

/// Shortest serial worth comparing: shorter codes collide by chance.
const MIN_SERIAL_LEN: usize = 4;

/// Normalizes a serial number; `None` for placeholders, values without enough
/// alphanumerics, and runs of one repeated character ("0000000").
pub fn normalize_serial(raw: &str) -> Option<Serial> {
    if is_placeholder(raw) {
        return None;
    }
    let key: CompactString = deunicode::deunicode(raw)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if key.len() < MIN_SERIAL_LEN || key.bytes().all(|b| b == key.as_bytes()[0]) {
        return None;
    }
    let folded = key.chars().map(fold_confusable).collect();
    Some(Serial { key, folded })
}

fn fold_confusable(c: char) -> char {
    match c {
        'O' => '0',
        'I' | 'L' => '1',
        'S' => '5',
        'B' => '8',
        'Z' => '2',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_table() {
        let cases = [
            ("sn-ab10-0O1l", Some(("SNAB100O1L", "5NA8100011"))),
            ("SN AB10 0O1L", Some(("SNAB100O1L", "5NA8100011"))),
            ("5CD-1234-XYZ", Some(("5CD1234XYZ", "5CD1234XY2"))),
            ("000000", None),
            ("N/A", None),
            ("ab", None),
        ];
        for (raw, want) in cases {
            let got = normalize_serial(raw);
            let got = got.as_ref().map(|s| (s.key.as_str(), s.folded.as_str()));
            assert_eq!(got, want, "{raw}");
        }
        let a = normalize_serial("SNAB1000I1").unwrap();
        let b = normalize_serial("snab-l00o-11").unwrap();
        assert_eq!(a.folded, b.folded);
        assert_ne!(a.key, b.key);
    }

    proptest::proptest! {
        #[test]
        fn normalize_serial_never_panics(s in "\\PC*") {
            if let Some(v) = normalize_serial(&s) {
                proptest::prop_assert_eq!(v.key.len(), v.folded.len());
            }
        }
    }
}
