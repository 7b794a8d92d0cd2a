//! String similarity on the comparison hot path. strsim defines the measures; these are
//! allocation-free forms of the two the comparison asks most often, checked against
//! strsim by property tests:
//!
//! - [`within_one_edit`]: `strsim::damerau_levenshtein(a, b) <= 1` without building the
//!   full distance matrix and alphabet map (it was 28% of a 100k-record run's CPU time).
//! - [`jaro_winkler`]: `strsim::jaro_winkler` on stack buffers for ASCII strings up to
//!   64 bytes (every name, city and address token in practice); anything else goes to
//!   strsim.

/// True when `a` and `b` are at most one insertion, deletion, substitution or
/// transposition of adjacent characters apart.
pub fn within_one_edit(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        one_edit(a.as_bytes(), b.as_bytes())
    } else {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        one_edit(&a, &b)
    }
}

pub(crate) fn one_edit<T: Eq>(a: &[T], b: &[T]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let Some(i) = short.iter().zip(long).position(|(x, y)| x != y) else {
        return true; // equal, or one character appended
    };
    if short.len() == long.len() {
        let substitution = short[i + 1..] == long[i + 1..];
        let transposition = i + 1 < short.len()
            && short[i] == long[i + 1]
            && short[i + 1] == long[i]
            && short[i + 2..] == long[i + 2..];
        substitution || transposition
    } else {
        short[i..] == long[i + 1..]
    }
}

/// Longest ASCII string compared on the stack.
const STACK_LEN: usize = 64;

/// Jaro-Winkler similarity, equal to `strsim::jaro_winkler`.
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    if !(a.is_ascii() && b.is_ascii()) || x.len() > STACK_LEN || y.len() > STACK_LEN {
        return strsim::jaro_winkler(a, b);
    }
    let sim = jaro_ascii(x, y);
    if sim > 0.7 {
        let prefix = x.iter().zip(y).take_while(|(p, q)| p == q).take(4).count();
        sim + 0.1 * prefix as f64 * (1.0 - sim)
    } else {
        sim
    }
}

/// Jaro similarity of two ASCII byte strings of at most [`STACK_LEN`] bytes, following
/// strsim's definition (including its treatment of empty and one-character strings).
fn jaro_ascii(a: &[u8], b: &[u8]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let window = (a.len().max(b.len()) / 2).saturating_sub(1);
    let mut a_used = [false; STACK_LEN];
    let mut b_used = [false; STACK_LEN];
    let mut matches = 0usize;
    for (i, &ca) in a.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(b.len());
        for j in lo..hi {
            if !b_used[j] && b[j] == ca {
                a_used[i] = true;
                b_used[j] = true;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let mut transpositions = 0usize;
    let mut j = 0usize;
    for (i, &ca) in a.iter().enumerate() {
        if a_used[i] {
            while !b_used[j] {
                j += 1;
            }
            if ca != b[j] {
                transpositions += 1;
            }
            j += 1;
        }
    }
    let m = matches as f64;
    let t = (transpositions / 2) as f64;
    (m / a.len() as f64 + m / b.len() as f64 + (m - t) / m) / 3.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_edit_cases() {
        for (a, b, want) in [
            ("", "", true),
            ("a", "", true),
            ("smith", "smith", true),
            ("smith", "smyth", true),
            ("smith", "smiht", true),
            ("smith", "smit", true),
            ("smith", "msith", true),
            ("smith", "smithe", true),
            ("smith", "smyht", false),
            ("smith", "sith_", false),
            ("ab", "ba", true),
            ("abc", "ca", false),
            ("müller", "muller", true),
            ("müller", "mülelr", true),
        ] {
            assert_eq!(within_one_edit(a, b), want, "{a} / {b}");
            assert_eq!(within_one_edit(b, a), want, "{b} / {a}");
        }
    }

    proptest! {
        #[test]
        fn one_edit_agrees_with_strsim(a in "[abc]{0,7}", b in "[abc]{0,7}") {
            prop_assert_eq!(within_one_edit(&a, &b), strsim::damerau_levenshtein(&a, &b) <= 1);
        }

        #[test]
        fn one_edit_agrees_with_strsim_on_unicode(a in "[aé ß]{0,5}", b in "[aé ß]{0,5}") {
            prop_assert_eq!(within_one_edit(&a, &b), strsim::damerau_levenshtein(&a, &b) <= 1);
        }

        #[test]
        fn jaro_winkler_agrees_with_strsim(a in "[a-e ]{0,12}", b in "[a-e ]{0,12}") {
            let (ours, theirs) = (jaro_winkler(&a, &b), strsim::jaro_winkler(&a, &b));
            prop_assert!((ours - theirs).abs() < 1e-12, "{} vs {}", ours, theirs);
        }

        #[test]
        fn jaro_winkler_agrees_on_long_and_unicode(a in "[aöx]{0,80}", b in "[aöx]{0,80}") {
            let (ours, theirs) = (jaro_winkler(&a, &b), strsim::jaro_winkler(&a, &b));
            prop_assert!((ours - theirs).abs() < 1e-12, "{} vs {}", ours, theirs);
        }
    }
}
