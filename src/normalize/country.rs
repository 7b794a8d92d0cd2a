//! Countries, from a `country` column: ISO 3166 codes (`DE`, `DEU`), English names and
//! aliases (`Germany`, `United Kingdom`, `UK`, `Great Britain`) through the `celes`
//! crate, and the names exports write in the country's own language (`Deutschland`,
//! `Sverige`, `Éire`). The answer is the phone region of that row.

use std::str::FromStr;

use phonenumber::country::Id as Region;

use super::{fold_text, is_placeholder};

/// Names in the countries' own languages (and a few common short forms) that the ISO
/// tables do not list, folded to lower-case ASCII without spaces.
const LOCAL_NAMES: &[(&str, &str)] = &[
    ("uk", "GB"),
    ("england", "GB"),
    ("scotland", "GB"),
    ("wales", "GB"),
    ("northernireland", "GB"),
    ("greatbritain", "GB"),
    ("britain", "GB"),
    ("unitedkingdom", "GB"),
    ("deutschland", "DE"),
    ("bundesrepublikdeutschland", "DE"),
    ("osterreich", "AT"),
    ("schweiz", "CH"),
    ("suisse", "CH"),
    ("svizzera", "CH"),
    ("eire", "IE"),
    ("ireland", "IE"),
    ("republicofireland", "IE"),
    ("sverige", "SE"),
    ("norge", "NO"),
    ("danmark", "DK"),
    ("suomi", "FI"),
    ("island", "IS"),
    ("nederland", "NL"),
    ("holland", "NL"),
    ("thenetherlands", "NL"),
    ("belgie", "BE"),
    ("belgique", "BE"),
    ("espana", "ES"),
    ("italia", "IT"),
    ("polska", "PL"),
    ("cesko", "CZ"),
    ("ceskarepublika", "CZ"),
    ("czechia", "CZ"),
    ("magyarorszag", "HU"),
    ("hellas", "GR"),
    ("ellada", "GR"),
    ("turkiye", "TR"),
    ("rossiya", "RU"),
    ("russia", "RU"),
    ("brasil", "BR"),
    ("mexico", "MX"),
    ("usa", "US"),
    ("us", "US"),
    ("america", "US"),
    ("unitedstates", "US"),
    ("unitedstatesofamerica", "US"),
    ("southkorea", "KR"),
    ("korea", "KR"),
    ("nippon", "JP"),
    ("zhongguo", "CN"),
    ("uae", "AE"),
    // French and German names of the neighbours.
    ("allemagne", "DE"),
    ("royaumeuni", "GB"),
    ("angleterre", "GB"),
    ("irlande", "IE"),
    ("suede", "SE"),
    ("espagne", "ES"),
    ("italie", "IT"),
    ("paysbas", "NL"),
    ("autriche", "AT"),
    ("etatsunis", "US"),
    ("frankreich", "FR"),
    ("schweden", "SE"),
    ("irland", "IE"),
    ("grossbritannien", "GB"),
    ("vereinigteskonigreich", "GB"),
    ("spanien", "ES"),
    ("italien", "IT"),
    ("niederlande", "NL"),
    ("belgien", "BE"),
    ("danemark", "DK"),
    ("norwegen", "NO"),
    ("polen", "PL"),
    ("vereinigtestaaten", "US"),
];

/// The phone region of a country value; `None` for placeholders and unknown values.
pub fn parse_country(raw: &str) -> Option<Region> {
    if is_placeholder(raw) {
        return None;
    }
    let folded: String = fold_text(raw).chars().filter(|c| *c != ' ').collect();
    if folded.is_empty() || folded.len() > 64 {
        return None;
    }
    let code = LOCAL_NAMES
        .iter()
        .find(|(n, _)| *n == folded)
        .map(|(_, c)| c.to_string())
        .or_else(|| {
            celes::Country::from_str(raw.trim())
                .or_else(|_| celes::Country::from_str(&folded))
                .ok()
                .map(|c| c.alpha2.to_string())
        })?;
    super::phone::parse_region(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_table() {
        let cases = [
            ("DE", Some(Region::DE)),
            ("deu", Some(Region::DE)),
            ("Germany", Some(Region::DE)),
            ("Deutschland", Some(Region::DE)),
            ("United Kingdom", Some(Region::GB)),
            ("UK", Some(Region::GB)),
            ("gb", Some(Region::GB)),
            ("Great Britain", Some(Region::GB)),
            ("Ireland", Some(Region::IE)),
            ("Éire", Some(Region::IE)),
            ("France", Some(Region::FR)),
            ("Sverige", Some(Region::SE)),
            ("Sweden", Some(Region::SE)),
            ("Suède", Some(Region::SE)),
            ("Allemagne", Some(Region::DE)),
            ("United States", Some(Region::US)),
            ("N/A", None),
            ("Atlantis", None),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_country(raw), want, "{raw:?}");
        }
    }
}
