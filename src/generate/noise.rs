//! Noise as people and systems make it: typos, blanks, capitalisation, phone formats.

use super::*;

pub(super) fn title(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A keyboard typo: insert, delete, substitute or transpose one character.
pub(super) fn typo(s: &str, rng: &mut ChaCha8Rng) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    if chars.len() < 3 {
        return s.to_string();
    }
    let i = rng.gen_range(1..chars.len() - 1);
    let letter = (b'a' + rng.gen_range(0..26)) as char;
    match rng.gen_range(0..4) {
        0 => chars.insert(i, letter),
        1 => {
            chars.remove(i);
        }
        2 => chars[i] = letter,
        _ => chars.swap(i, i + 1),
    }
    chars.into_iter().collect()
}

/// A required field (the system refuses to save without it): typos, never blank.
pub(super) fn required(s: &str, rng: &mut ChaCha8Rng) -> String {
    if rng.gen_bool(P_TYPO) {
        typo(s, rng)
    } else {
        s.to_string()
    }
}

/// An optional field: sometimes blank, sometimes mistyped.
pub(super) fn noisy(s: &str, rng: &mut ChaCha8Rng) -> String {
    if rng.gen_bool(P_BLANK) {
        String::new()
    } else if rng.gen_bool(P_TYPO) {
        typo(s, rng)
    } else {
        s.to_string()
    }
}

/// Formats ten NANP digits (or a number abroad, `+` and digits) in a system's style.
pub(super) fn format_phone(d: &str, style: u8) -> String {
    if let Some(country) = country_of_phone(d) {
        return format_foreign_phone(d, country, style);
    }
    if d.len() != 10 {
        return d.to_string();
    }
    match style {
        0 => format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..]),
        1 => format!("{}.{}.{}", &d[..3], &d[3..6], &d[6..]),
        2 => format!("+1 {} {} {}", &d[..3], &d[3..6], &d[6..]),
        3 => format!("1-{}-{}-{}", &d[..3], &d[3..6], &d[6..]),
        _ => format!("{}-{}-{}", &d[..3], &d[3..6], &d[6..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::PhoneNormalizer;

    #[test]
    fn a_typo_is_one_edit() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            let t = typo("jennifer", &mut rng);
            assert!(crate::similarity::within_one_edit("jennifer", &t), "{t}");
        }
        assert_eq!(typo("al", &mut rng), "al");
    }

    #[test]
    fn every_phone_style_reads_back_as_the_same_number() {
        let mut n = PhoneNormalizer::new(phonenumber::country::Id::US);
        for style in 0..5 {
            let shown = format_phone("2175550123", style);
            assert_eq!(
                n.normalize(&shown).map(|p| p.e164).as_deref(),
                Some("+12175550123"),
                "{shown}"
            );
        }
    }
}
