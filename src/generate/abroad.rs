//! Customers abroad: German, French and British names with their diacritics,
//! apostrophes and hyphens, phone numbers with a country code written the ways a US
//! system writes them (`+49 30 …`, `+44 (0)20 …`, `011 33 …`), their cities and
//! postcodes. Each export then treats the name as its users and software do: kept as
//! typed, upper-cased, or folded to ASCII (`Müller` as `Muller` or `Mueller`).

use super::*;

pub(super) struct Country {
    /// Calling code, without the `+`.
    pub(super) dial: &'static str,
    /// Area (or mobile) codes after the trunk `0`, and the digits that follow each.
    areas: &'static [(&'static str, usize)],
    male: &'static [&'static str],
    female: &'static [&'static str],
    surnames: &'static [&'static str],
    /// Beginnings and endings of the country's rarer surnames (`Kr` + `ämer`), so that
    /// namesakes abroad are as rare as at home.
    surname_heads: &'static [&'static str],
    surname_tails: &'static [&'static str],
    /// City and the first characters of its postcodes.
    cities: &'static [(&'static str, &'static str)],
    /// How a street address is written: `{n}` is the house number, `{s}` the street.
    street_pattern: &'static str,
    streets: &'static [&'static str],
    /// German transliteration (ü → ue, ß → ss) as well as plain folding.
    umlauts: bool,
}

pub(super) const COUNTRIES: [Country; 3] = [
    Country {
        dial: "49",
        areas: &[("30", 8), ("40", 8), ("89", 8), ("151", 8), ("170", 7)],
        male: &[
            "Jürgen", "Jörg", "Günter", "Stefan", "Andreas", "Matthias", "Uwe", "Björn", "Klaus",
            "Dieter",
        ],
        female: &[
            "Jutta", "Bärbel", "Sabine", "Käthe", "Anja", "Ursula", "Gisela", "Monika", "Renate",
            "Sönke",
        ],
        surnames: &[
            "Müller",
            "Schröder",
            "Groß",
            "Weiß",
            "Schäfer",
            "Köhler",
            "Krüger",
            "Jäger",
            "Böhm",
            "Hoffmann",
            "Schmitz",
            "Fuchs",
            "Lößner",
            "Wagner",
            "Becker",
        ],
        surname_heads: &[
            "Kr", "Schw", "Br", "Ste", "Wal", "Ho", "Lin", "Ro", "Ha", "Ke", "Zi", "Mö", "Bü",
            "Gr", "Pf", "Sch", "Dre", "Ei",
        ],
        surname_tails: &[
            "ämer", "ölzer", "übner", "ermann", "enberg", "feld", "stein", "hofer", "ßner",
            "ecker", "inger", "maier", "bauer", "thaler", "wald", "brück",
        ],
        cities: &[
            ("München", "80"),
            ("Köln", "50"),
            ("Berlin", "10"),
            ("Düsseldorf", "40"),
            ("Nürnberg", "90"),
        ],
        street_pattern: "{s} {n}",
        streets: &[
            "Hauptstraße",
            "Bahnhofstraße",
            "Gartenweg",
            "Schillerstraße",
            "Lindenallee",
        ],
        umlauts: true,
    },
    Country {
        dial: "33",
        areas: &[("1", 8), ("4", 8), ("6", 8), ("7", 8)],
        male: &[
            "François",
            "Jérôme",
            "Hervé",
            "Gaëtan",
            "Benoît",
            "Jean-Luc",
            "Thierry",
            "Cédric",
        ],
        female: &[
            "Hélène",
            "Amélie",
            "Chloé",
            "Françoise",
            "Véronique",
            "Anaïs",
            "Mélanie",
            "Noémie",
        ],
        surnames: &[
            "Lefèvre",
            "Girard",
            "Dubois",
            "Lemaître",
            "Bérard",
            "Moreau",
            "Fontaine",
            "Mercier",
            "Rousseau",
            "Chevalier",
            "Lefébure",
        ],
        surname_heads: &[
            "Le", "Du", "La", "Bel", "Mar", "Ber", "Gi", "Ro", "Che", "Fon", "Mou", "Va", "Des",
            "Bou", "Ga", "Pé",
        ],
        surname_tails: &[
            "four", "nard", "chet", "vière", "geot", "mont", "rand", "let", "ssier", "lard",
            "thier", "cq", "rault", "zère", "bès", "guin",
        ],
        cities: &[
            ("Paris", "75"),
            ("Lyon", "69"),
            ("Orléans", "45"),
            ("Besançon", "25"),
        ],
        street_pattern: "{n} {s}",
        streets: &[
            "rue de la République",
            "avenue Victor-Hugo",
            "rue des Écoles",
            "boulevard Pasteur",
        ],
        umlauts: false,
    },
    Country {
        dial: "44",
        areas: &[("20", 8), ("161", 7), ("113", 7), ("7911", 6)],
        male: &[
            "Oliver", "Alistair", "Nigel", "Rhys", "Callum", "Declan", "Gareth", "Hamish",
        ],
        female: &[
            "Siobhan", "Niamh", "Fiona", "Imogen", "Gemma", "Eilidh", "Sinéad", "Bronwen",
        ],
        surnames: &[
            "O'Brien",
            "Smith-Jones",
            "MacDonald",
            "Ashworth",
            "O'Neill",
            "Fairclough",
            "Llewellyn",
            "Featherstone",
        ],
        surname_heads: &[
            "Ash", "Bright", "Fair", "Hol", "Wood", "Brad", "Whit", "Pem", "Thorn", "Crad", "Mac",
            "O'", "Llew", "Pen", "Staf", "Hart",
        ],
        surname_tails: &[
            "worth", "ley", "ford", "ton", "field", "bury", "well", "combe", "shaw", "brook",
            "kin", "dale", "more", "wick", "hurst", "lyn",
        ],
        cities: &[
            ("London", "SW1"),
            ("Manchester", "M1"),
            ("Leeds", "LS2"),
            ("Cardiff", "CF10"),
        ],
        street_pattern: "{n} {s}",
        streets: &[
            "High Street",
            "Station Road",
            "Church Lane",
            "Victoria Road",
        ],
        umlauts: false,
    },
];

impl Country {
    pub(super) fn first_name(&self, male: bool, rng: &mut ChaCha8Rng) -> String {
        let names = if male { self.male } else { self.female };
        names.choose(rng).unwrap_or(&"Anna").to_string()
    }

    /// A common surname of the country (40%) or a rarer one made of a beginning and an
    /// ending (a few hundred per country, before the two-part names).
    pub(super) fn surname(&self, rng: &mut ChaCha8Rng) -> String {
        if rng.gen_bool(0.4) {
            return self.surnames.choose(rng).unwrap_or(&"Weber").to_string();
        }
        let head = self.surname_heads.choose(rng).unwrap_or(&"Kr");
        let tail = self.surname_tails.choose(rng).unwrap_or(&"ämer");
        let name = format!("{head}{tail}");
        if rng.gen_bool(0.1) {
            // A double-barrelled name.
            format!("{name}-{}", self.surnames.choose(rng).unwrap_or(&"Weber"))
        } else {
            name
        }
    }

    /// A city (index into `cities`) and a postcode in it.
    pub(super) fn city_and_postcode(&self, rng: &mut ChaCha8Rng) -> (usize, String) {
        let city = rng.gen_range(0..self.cities.len());
        let prefix = self.cities[city].1;
        let code = if prefix.chars().all(|c| c.is_ascii_digit()) {
            format!("{prefix}{:03}", rng.gen_range(0..1000))
        } else {
            let letters = b"ABDEFGHJLNPQRSTUWXYZ";
            let l = |rng: &mut ChaCha8Rng| letters[rng.gen_range(0..letters.len())] as char;
            format!("{prefix} {}{}{}", rng.gen_range(1..10), l(rng), l(rng))
        };
        (city, code)
    }

    pub(super) fn city(&self, i: usize) -> &'static str {
        self.cities[i % self.cities.len()].0
    }

    pub(super) fn street(&self, rng: &mut ChaCha8Rng) -> String {
        self.street_pattern
            .replace("{n}", &rng.gen_range(1..200).to_string())
            .replace("{s}", self.streets.choose(rng).unwrap_or(&"Hauptstraße"))
    }

    /// `+` and the digits of a number in this country (no trunk `0`).
    pub(super) fn phone(&self, rng: &mut ChaCha8Rng) -> String {
        let (area, rest) = *self.areas.choose(rng).unwrap_or(&("30", 8));
        let mut d = format!("+{}{area}{}", self.dial, rng.gen_range(2..10));
        for _ in 1..rest {
            d.push((b'0' + rng.gen_range(0..10)) as char);
        }
        d
    }

    /// The name as a system that keeps only ASCII stores it.
    pub(super) fn ascii(&self, s: &str, rng: &mut ChaCha8Rng) -> String {
        if self.umlauts && rng.gen_bool(0.5) {
            let german = s
                .replace('ä', "ae")
                .replace('ö', "oe")
                .replace('ü', "ue")
                .replace('Ä', "Ae")
                .replace('Ö', "Oe")
                .replace('Ü', "Ue")
                .replace('ß', "ss");
            deunicode::deunicode(&german)
        } else {
            deunicode::deunicode(s)
        }
    }
}

/// A number with a country code as a US system writes it, by style: grouped, with the
/// trunk `(0)` kept, as dialled from the US (`011`), or run together.
pub(super) fn format_foreign_phone(d: &str, country: &Country, style: u8) -> String {
    let national = &d[1 + country.dial.len()..];
    let split = country
        .areas
        .iter()
        .find(|(a, _)| national.starts_with(a))
        .map_or(0, |(a, _)| a.len());
    let (area, rest) = national.split_at(split);
    match style % 4 {
        0 => format!("+{} {area} {rest}", country.dial),
        1 => format!("+{} (0){area} {rest}", country.dial),
        2 => format!("011 {} {area} {rest}", country.dial),
        _ => d.to_string(),
    }
}

/// The country of a phone written with [`Country::phone`].
pub(super) fn country_of_phone(d: &str) -> Option<&'static Country> {
    let digits = d.strip_prefix('+')?;
    COUNTRIES.iter().find(|c| digits.starts_with(c.dial))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::PhoneNormalizer;
    use rand::SeedableRng;

    #[test]
    fn every_written_form_of_a_foreign_number_reads_back_as_it() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut n = PhoneNormalizer::new(phonenumber::country::Id::US);
        for country in &COUNTRIES {
            for _ in 0..20 {
                let d = country.phone(&mut rng);
                for style in 0..4 {
                    let shown = format_foreign_phone(&d, country, style);
                    assert_eq!(
                        n.normalize(&shown).map(|p| p.e164).as_deref(),
                        Some(d.as_str()),
                        "{shown}"
                    );
                }
            }
        }
    }

    #[test]
    fn ascii_systems_fold_names_both_ways() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let de = &COUNTRIES[0];
        let forms: HashSet<String> = (0..50).map(|_| de.ascii("Müller", &mut rng)).collect();
        assert_eq!(
            forms,
            ["Muller", "Mueller"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
    }
}
