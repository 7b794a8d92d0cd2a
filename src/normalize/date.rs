//! Dates (event dates and dates of birth) in the formats exports use, to ISO:
//! `2021-03-04`, `2021/03/04`, `03/04/2021`, `04.03.2021`, `20210304`, `4 Mar 2021`,
//! `Mar 4, 2021`, and any of them followed by a time. Impossible dates are missing.
//!
//! `03/04/2021` is 4 March in the US and 3 April in most of the world: a source's
//! [`DateOrder`] (from its `date_order` key or its region) decides such dates, and
//! the parse says when it had to ([`ParsedDate::ambiguous`]). A date that can be
//! read only one way (`25/12/2020`, `12/25/2020`) is read that way whatever the order;
//! ISO dates (year first) are always recognised, and dotted dates are day first.

use chrono::{Datelike, NaiveDate};

use super::is_placeholder;

/// Years outside this range are typing errors or placeholders (0001-01-01, 9999-12-31).
const YEAR_RANGE: std::ops::RangeInclusive<i32> = 1880..=2100;

/// The order of day, month and year in a source's short numeric dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DateOrder {
    /// Day first: most of the world (`03/07/2023` is 3 July).
    Dmy,
    /// Month first: the US and the other NANP countries (`03/07/2023` is 7 March).
    #[default]
    Mdy,
    /// Year first (`23/07/03`): China, Japan, Korea, Hungary, ...
    Ymd,
}

impl DateOrder {
    pub fn parse(s: &str) -> Option<DateOrder> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dmy" => Some(DateOrder::Dmy),
            "mdy" => Some(DateOrder::Mdy),
            "ymd" => Some(DateOrder::Ymd),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DateOrder::Dmy => "dmy",
            DateOrder::Mdy => "mdy",
            DateOrder::Ymd => "ymd",
        }
    }

    /// The usual order of a region (ISO 3166 alpha-2): month first in the countries of
    /// the North American Numbering Plan (and the Philippines), year first in East Asia,
    /// Hungary, Lithuania, Iran and Mongolia, day first elsewhere.
    pub fn of_region(region: &str) -> DateOrder {
        const MDY: &[&str] = &[
            "US", "CA", "PR", "VI", "GU", "AS", "MP", "UM", "AG", "AI", "BB", "BM", "BS", "DM",
            "DO", "GD", "JM", "KN", "KY", "LC", "MS", "SX", "TC", "TT", "VC", "VG", "PH",
        ];
        const YMD: &[&str] = &["CN", "JP", "KR", "KP", "TW", "HU", "LT", "IR", "MN"];
        let r = region.trim().to_ascii_uppercase();
        if MDY.contains(&r.as_str()) {
            DateOrder::Mdy
        } else if YMD.contains(&r.as_str()) {
            DateOrder::Ymd
        } else {
            DateOrder::Dmy
        }
    }
}

/// A parsed date, and whether the source's order had to decide it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedDate {
    pub date: NaiveDate,
    pub ambiguous: bool,
}

/// Parses a date month first where it is ambiguous (the US reading); see [`parse_date_in`].
pub fn parse_date(raw: &str) -> Option<NaiveDate> {
    parse_date_in(raw, DateOrder::Mdy).map(|p| p.date)
}

/// Parses a date; `None` for placeholders, impossible and out-of-range dates.
pub fn parse_date_in(raw: &str, order: DateOrder) -> Option<ParsedDate> {
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
    let parsed = parse_numeric(s, order).or_else(|| {
        parse_with_month_name(s).map(|date| ParsedDate {
            date,
            ambiguous: false,
        })
    })?;
    YEAR_RANGE.contains(&parsed.date.year()).then_some(parsed)
}

fn plain(date: Option<NaiveDate>) -> Option<ParsedDate> {
    date.map(|date| ParsedDate {
        date,
        ambiguous: false,
    })
}

fn parse_numeric(s: &str, order: DateOrder) -> Option<ParsedDate> {
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        let (y, m, d) = (
            s[..4].parse().ok()?,
            s[4..6].parse().ok()?,
            s[6..].parse().ok()?,
        );
        return plain(NaiveDate::from_ymd_opt(y, m, d));
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
        return plain(NaiveDate::from_ymd_opt(n[0] as i32, n[1], n[2]));
    }
    // Two-digit years: pivot so that dates of birth land in the last century.
    let pivot = |y: u32| {
        if y <= 30 {
            2000 + y as i32
        } else {
            1900 + y as i32
        }
    };
    if order == DateOrder::Ymd && parts[0].len() == 2 && parts[2].len() <= 2 {
        return NaiveDate::from_ymd_opt(pivot(n[0]), n[1], n[2]).map(|date| ParsedDate {
            date,
            ambiguous: true,
        });
    }
    let year = match parts[2].len() {
        4 => n[2] as i32,
        2 => pivot(n[2]),
        _ => return None,
    };
    let day_first = NaiveDate::from_ymd_opt(year, n[1], n[0]);
    let month_first = NaiveDate::from_ymd_opt(year, n[0], n[1]);
    match (day_first, month_first) {
        (Some(d), Some(m)) if d == m => plain(Some(d)),
        // "04.03.2021" is day first in every country that writes dots.
        (Some(d), Some(_)) if sep == '.' => plain(Some(d)),
        (Some(d), Some(m)) => Some(ParsedDate {
            date: if order == DateOrder::Mdy { m } else { d },
            ambiguous: true,
        }),
        (Some(d), None) => plain(Some(d)),
        (None, Some(m)) => plain(Some(m)),
        (None, None) => None,
    }
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

    #[test]
    fn the_source_order_decides_ambiguous_dates() {
        let uk = parse_date_in("03/07/2023", DateOrder::Dmy).unwrap();
        assert_eq!(uk.date.to_string(), "2023-07-03");
        assert!(uk.ambiguous);
        let us = parse_date_in("03/07/2023", DateOrder::Mdy).unwrap();
        assert_eq!(us.date.to_string(), "2023-03-07");
        // One reading only: no order needed.
        let p = parse_date_in("25/12/2020", DateOrder::Mdy).unwrap();
        assert_eq!(
            (p.date.to_string().as_str(), p.ambiguous),
            ("2020-12-25", false)
        );
        let p = parse_date_in("12/25/2020", DateOrder::Dmy).unwrap();
        assert_eq!(p.date.to_string(), "2020-12-25");
        assert!(
            !parse_date_in("2023-07-03", DateOrder::Mdy)
                .unwrap()
                .ambiguous
        );
        assert!(
            !parse_date_in("05/05/2020", DateOrder::Dmy)
                .unwrap()
                .ambiguous
        );
        assert_eq!(
            parse_date_in("23/07/03", DateOrder::Ymd)
                .unwrap()
                .date
                .to_string(),
            "2023-07-03"
        );
        assert_eq!(DateOrder::of_region("GB"), DateOrder::Dmy);
        assert_eq!(DateOrder::of_region("us"), DateOrder::Mdy);
        assert_eq!(DateOrder::of_region("JP"), DateOrder::Ymd);
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
