//! The people behind the records: customers with names drawn by frequency, households,
//! namesakes, e-mails, phones, addresses, dates of birth and devices.

use super::*;

/// One synthetic customer: the truth behind the records.
#[derive(Clone)]
pub(super) struct Customer {
    pub(super) id: u64,
    pub(super) first: String,
    pub(super) middle: Option<char>,
    pub(super) last: String,
    pub(super) dob: (i32, u32, u32),
    pub(super) email: String,
    pub(super) new_email: String,
    pub(super) phone: String,
    pub(super) mobile: Option<String>,
    pub(super) street: String,
    pub(super) new_street: String,
    /// Index into the country's cities: [`CITIES`] at home, [`Country::city`] abroad.
    pub(super) city: usize,
    /// Index into [`COUNTRIES`] for a customer abroad.
    pub(super) country: Option<usize>,
    pub(super) zip: String,
    pub(super) serials: Vec<String>,
    pub(super) male: bool,
    /// "Jr" or "Sr": a father and son of one name at one address.
    pub(super) suffix: Option<&'static str>,
    /// A household's shared mailbox (`thejacksons@…`), used beside the personal one.
    pub(super) family_email: Option<String>,
    /// Where the customer works, when the billing account is the employer's.
    pub(super) office: Option<Office>,
    /// Index of the customer whose household this one joined (gifts go there).
    pub(super) household: Option<usize>,
}

/// A small business: its shared mailbox, switchboard and street, shared by colleagues.
#[derive(Clone)]
pub(super) struct Office {
    pub(super) email: String,
    pub(super) phone: String,
    pub(super) street: String,
}

/// A personal e-mail address in one of the usual patterns, unique among customers
/// (two people never share a personal mailbox; a household shares only role mailboxes).
pub(super) fn personal_email(
    c: &Customer,
    rng: &mut ChaCha8Rng,
    taken: &mut HashSet<String>,
) -> String {
    let first = deunicode::deunicode(&c.first).to_lowercase();
    let last: String = deunicode::deunicode(&c.last)
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let (f, l) = (&first[..first.len().min(1)], &last[..last.len().min(4)]);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let provider = PROVIDERS.choose(rng).unwrap_or(&"gmail.com");
        let suffix = if attempt == 1 {
            String::new()
        } else {
            rng.gen_range(1..999).to_string()
        };
        let email = match rng.gen_range(0..4) {
            0 => format!("{first}.{last}{suffix}@{provider}"),
            1 => format!("{f}{last}{}@{provider}", rng.gen_range(1..99)),
            2 => format!("{first}{last}{suffix}@{provider}"),
            _ => format!("{first}_{l}{}@{provider}", rng.gen_range(1950..2005)),
        };
        // Unique as a mailbox, not as a string: gmail ignores dots, so
        // kevin.jackson@ and kevinjackson@ there are one person's.
        let mailbox = crate::normalize::normalize_email(&email)
            .map_or(email.clone(), |e| e.address.to_string());
        if taken.insert(mailbox) {
            return email;
        }
    }
}

/// A surname drawn as often as in the US census; the 29 % of people outside the embedded
/// list get rare names made of two or three syllables.
pub(super) fn surname(rng: &mut ChaCha8Rng) -> String {
    if rng.gen_bool(SURNAMES_SHARE) {
        SURNAMES.pick(rng).to_string()
    } else {
        let k = rng.gen_range(2..=3);
        (0..k)
            .map(|_| *SYLLABLES.choose(rng).unwrap_or(&"ab"))
            .collect::<String>()
    }
}

/// A street address: number, street name and type.
pub(super) fn street(rng: &mut ChaCha8Rng) -> String {
    let (long, _) = STREET_TYPES
        .choose(rng)
        .copied()
        .unwrap_or(("Street", "St"));
    format!(
        "{} {} {}",
        rng.gen_range(1..9999),
        title(STREETS.choose(rng).unwrap_or(&"main")),
        long
    )
}

/// Ten NANP digits in one of the generator's area codes.
pub(super) fn phone_number(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{}{}{:02}{:04}",
        AREA_CODES.choose(rng).unwrap_or(&"217"),
        rng.gen_range(2..10),
        rng.gen_range(0..100),
        rng.gen_range(0..10000)
    )
}

pub(super) fn new_customer(id: u64, rng: &mut ChaCha8Rng) -> Customer {
    let male = rng.gen_bool(0.5);
    let first = if male { &MALE_NAMES } else { &FEMALE_NAMES }
        .pick(rng)
        .to_string();
    let last = surname(rng);
    let city = rng.gen_range(0..CITIES.len());
    let (street, new_street) = (street(rng), street(rng));
    let zip = format!("{}{:02}", CITIES[city].2, rng.gen_range(0..100));
    let serials = (0..rng.gen_range(1..=3))
        .map(|_| {
            let chars: Vec<char> = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789OI".chars().collect();
            let body: String = (0..8).map(|_| *chars.choose(rng).unwrap_or(&'A')).collect();
            format!(
                "{}{}",
                ["5CD", "SN", "PF", "C02"].choose(rng).unwrap_or(&"SN"),
                body
            )
        })
        .collect();
    Customer {
        id,
        first,
        middle: rng
            .gen_bool(0.4)
            .then(|| (b'A' + rng.gen_range(0..26)) as char),
        last,
        dob: (
            rng.gen_range(1940..2005),
            rng.gen_range(1..=12),
            rng.gen_range(1..=28),
        ),
        email: String::new(),
        new_email: String::new(),
        phone: phone_number(rng),
        mobile: rng.gen_bool(0.5).then(|| phone_number(rng)),
        street,
        new_street,
        city,
        zip,
        serials,
        male,
        suffix: None,
        family_email: None,
        office: None,
        household: None,
        country: None,
    }
    .abroad(rng)
}

impl Customer {
    /// Now and then, moves a new customer abroad: a name, phones, address, city and
    /// postcode of another country.
    fn abroad(mut self, rng: &mut ChaCha8Rng) -> Customer {
        if !rng.gen_bool(P_ABROAD) {
            return self;
        }
        let k = rng.gen_range(0..COUNTRIES.len());
        let country = &COUNTRIES[k];
        self.country = Some(k);
        self.first = country.first_name(self.male, rng);
        self.last = country.surname(rng);
        let (city, zip) = country.city_and_postcode(rng);
        self.city = city;
        self.zip = zip;
        self.street = country.street(rng);
        self.new_street = country.street(rng);
        self.phone = country.phone(rng);
        self.mobile = rng.gen_bool(0.5).then(|| country.phone(rng));
        self
    }

    /// The customer's city as written.
    pub(super) fn city_name(&self) -> &'static str {
        match self.country {
            Some(k) => COUNTRIES[k].city(self.city),
            None => CITIES[self.city].0,
        }
    }

    /// A name as a system that keeps only ASCII (or an agent who skips accents) writes
    /// it: `Müller` as `Muller` or `Mueller`. Home names are ASCII already.
    pub(super) fn folded(&self, s: &str, rng: &mut ChaCha8Rng) -> String {
        match self.country {
            Some(k) => COUNTRIES[k].ascii(s, rng),
            None => s.to_string(),
        }
    }
}

pub(super) fn given_name(c: &Customer, rng: &mut ChaCha8Rng, nick: bool) -> String {
    if rng.gen_bool(P_INITIAL) {
        return c
            .first
            .chars()
            .next()
            .map(|ch| ch.to_string())
            .unwrap_or_default();
    }
    if nick && rng.gen_bool(P_NICKNAME) {
        if let Some((_, nicks)) = NICKNAMES.iter().find(|(f, _)| *f == c.first) {
            return nicks.choose(rng).unwrap_or(&"").to_string();
        }
    }
    c.first.clone()
}

/// The surname as one record writes it: with "Jr"/"Sr" now and then.
pub(super) fn written_last(c: &Customer, rng: &mut ChaCha8Rng) -> String {
    match c.suffix {
        Some(s) if rng.gen_bool(P_WRITE_SUFFIX) => format!("{} {s}", c.last),
        _ => c.last.clone(),
    }
}

/// The e-mail a record carries: the household's shared one now and then.
pub(super) fn email_of<'a>(c: &'a Customer, rng: &mut ChaCha8Rng) -> &'a str {
    match &c.family_email {
        Some(f) if rng.gen_bool(P_USE_FAMILY_EMAIL) => f,
        _ => &c.email,
    }
}

pub(super) fn phone_digits(c: &Customer, rng: &mut ChaCha8Rng) -> String {
    let base = match &c.mobile {
        Some(m) if rng.gen_bool(0.5) => m.clone(),
        _ => c.phone.clone(),
    };
    if rng.gen_bool(P_PHONE_TYPO) {
        let mut d: Vec<u8> = base.into_bytes();
        let i = rng.gen_range(3..d.len());
        d[i] = b'0' + rng.gen_range(0..10);
        String::from_utf8(d).unwrap_or_default()
    } else {
        base
    }
}

pub(super) fn event_date(rng: &mut ChaCha8Rng) -> (i32, u32, u32) {
    (
        rng.gen_range(2019..2026),
        rng.gen_range(1..=12),
        rng.gen_range(1..=28),
    )
}
