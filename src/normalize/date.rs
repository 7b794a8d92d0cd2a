//! Dates (event dates and dates of birth) in the formats exports use, to ISO:
//! `2021-03-04`, `2021/03/04`, `03/04/2021` (US month first; day first when the first
//! number cannot be a month), `04.03.2021`, `20210304`, `4 Mar 2021`, `Mar 4, 2021`,
//! and any of them followed by a time. Impossible dates are missing.

use chrono::{Datelike, NaiveDate};

use super::is_placeholder;

/// Years outside this range are typing errors or placeholders (0001-01-01, 9999-12-31).
const YEAR_RANGE: std::ops::RangeInclusive<i32> = 1880..=2100;

/// Parses a date; `None` for placeholders, impossible and out-of-range dates.
pub fn parse_date(raw: &str) -> Option<NaiveDate> {
    if is_placeholder(raw) {
        return None;
    }
    let s = raw.trim();
    // Drop a time part: "2021-03-04T10:00:00Z", "03/04/2021 10:00".
    let s = match s.find(['T', ' ']) {
        Some(pos)
            if pos >= 8
                && s[..pos]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b"-/.".contains(&b)) =>
        {
            &s[..pos]
        }
        _ => s,
    };
    let date = parse_numeric(s).or_else(|| parse_with_month_name(s))?;
    YEAR_RANGE.contains(&date.year()).then_some(date)
}

fn parse_numeric(s: &str) -> Option<NaiveDate> {
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        let (y, m, d) = (
            s[..4].parse().ok()?,
            s[4..6].parse().ok()?,
            s[6..].parse().ok()?,
        );
        return NaiveDate::from_ymd_opt(y, m, d);
    }
    let sep = s.chars().find(|c| matches!(c, '-' | '/' | '.'))?;
    let parts: Vec<&str> = s.split(sep).collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let n: Vec<u32> = parts
        .iter()
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if parts[0].len() == 4 {
        return NaiveDate::from_ymd_opt(n[0] as i32, n[1], n[2]);
    }
    let year = match parts[2].len() {
        4 => n[2] as i32,
        // Two-digit years: pivot so that dates of birth land in the last century.
        2 => {
            if n[2] <= 30 {
                2000 + n[2] as i32
            } else {
                1900 + n[2] as i32
            }
        }
        _ => return None,
    };
    // "04.03.2021" is day first in every country that writes dots.
    let day_first = sep == '.' || n[0] > 12;
    let (m, d) = if day_first {
        (n[1], n[0])
    } else {
        (n[0], n[1])
    };
    NaiveDate::from_ymd_opt(year, m, d)
}

fn parse_with_month_name(s: &str) -> Option<NaiveDate> {
    let cleaned = s.replace(',', " ");
    let tokens: Vec<&str> = cleaned
        .split([' ', '-'])
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.len() != 3 {
        return None;
    }
    let (month_pos, month) = tokens
        .iter()
        .enumerate()
        .find_map(|(i, t)| month_number(t).map(|m| (i, m)))?;
    let numbers: Vec<u32> = tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != month_pos)
        .map(|(_, t)| {
            t.trim_end_matches(|c: char| c.is_ascii_alphabetic())
                .parse()
                .ok()
        })
        .collect::<Option<_>>()?;
    let (day, year) = if numbers[0] > 31 {
        (numbers[1], numbers[0])
    } else {
        (numbers[0], numbers[1])
    };
    NaiveDate::from_ymd_opt(year as i32, month, day)
}

fn month_number(token: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let lower = token.to_ascii_lowercase();
    if lower.len() < 3 || !lower.is_ascii() {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| lower.starts_with(m))
        .map(|i| i as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_table() {
        let cases = [
            ("2021-03-04", Some("2021-03-04")),
            ("2021/03/04", Some("2021-03-04")),
            ("03/04/2021", Some("2021-03-04")),
            ("3/4/2021", Some("2021-03-04")),
            ("25/12/2020", Some("2020-12-25")),
            ("04.03.2021", Some("2021-03-04")),
            ("20210304", Some("2021-03-04")),
            ("19081209", Some("1908-12-09")),
            ("2021-03-04T10:22:00Z", Some("2021-03-04")),
            ("03/04/2021 10:22", Some("2021-03-04")),
            ("4 Mar 2021", Some("2021-03-04")),
            ("March 4, 2021", Some("2021-03-04")),
            ("04-Mar-2021", Some("2021-03-04")),
            ("12/31/99", Some("1999-12-31")),
            ("2021-02-30", None),
            ("13/13/2021", None),
            ("19990231", None),
            ("0000-00-00", None),
            ("9999-12-31", None),
            ("unknown", None),
            ("yesterday", None),
        ];
        for (raw, want) in cases {
            assert_eq!(
                parse_date(raw).map(|d| d.to_string()),
                want.map(String::from),
                "{raw:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_date_never_panics(s in "\\PC*") {
            let _ = parse_date(&s);
        }
        #[test]
        fn parse_date_numeric_never_panics(s in "[0-9./ :T-]{0,20}") {
            let _ = parse_date(&s);
        }
    }
}
