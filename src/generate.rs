//! Synthetic exports with ground truth: four systems (warranty, billing, support, shop)
//! as four vendors would export them, each with its own column names, name, date and
//! phone formats, and a `truth.csv` naming the real customer behind every row.
//!
//! Deterministic for a seed. The noise rates are named constants below and listed in
//! `docs/generate.md`; they are plausible, not measured from any one company.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// Chance that a customer appears in each system (at least one is forced).
const P_IN_WARRANTY: f64 = 0.55;
const P_IN_BILLING: f64 = 0.65;
const P_IN_SUPPORT: f64 = 0.5;
const P_IN_SHOP: f64 = 0.6;
/// Chance that a customer lives with another customer (shared address and home phone).
const P_HOUSEHOLD: f64 = 0.12;
/// Largest household.
const MAX_HOUSEHOLD: u8 = 4;
/// Chance that a customer has the same name and city as an earlier, different customer.
const P_NAMESAKE: f64 = 0.02;
/// Chance that a customer's billing e-mail is a shared role mailbox of a small business.
const P_ROLE_MAILBOX: f64 = 0.02;
/// Per written value: a keyboard typo (insert, delete, substitute or transpose).
const P_TYPO: f64 = 0.06;
/// Per written value: left blank.
const P_BLANK: f64 = 0.08;
/// Support and shop: the customer gives a nickname (Bob for Robert) when there is one.
const P_NICKNAME: f64 = 0.35;
/// Per record: the first name written as an initial.
const P_INITIAL: f64 = 0.04;
/// Shop: an order placed with a newer e-mail address / after moving house.
const P_NEW_EMAIL: f64 = 0.08;
const P_MOVED: f64 = 0.08;
/// Per written phone: one digit mistyped.
const P_PHONE_TYPO: f64 = 0.03;
/// Support: the serial read out over the phone with O/0, I/1 confusions.
const P_SERIAL_CONFUSION: f64 = 0.15;
/// Per row: a junk row (placeholders everywhere) or a ragged row (a field missing).
const P_JUNK_ROW: f64 = 0.002;
const P_RAGGED_ROW: f64 = 0.0005;
/// Warranty claims that cite the support ticket they came from.
const P_CLAIM_CITES_TICKET: f64 = 0.3;

const FIRST_NAMES: &[&str] = &[
    "robert",
    "john",
    "james",
    "michael",
    "william",
    "david",
    "richard",
    "joseph",
    "thomas",
    "charles",
    "christopher",
    "daniel",
    "matthew",
    "anthony",
    "mark",
    "donald",
    "steven",
    "paul",
    "andrew",
    "joshua",
    "kenneth",
    "kevin",
    "brian",
    "george",
    "timothy",
    "ronald",
    "edward",
    "jason",
    "jeffrey",
    "ryan",
    "jacob",
    "gary",
    "nicholas",
    "eric",
    "jonathan",
    "stephen",
    "larry",
    "justin",
    "scott",
    "brandon",
    "benjamin",
    "samuel",
    "gregory",
    "alexander",
    "frank",
    "patrick",
    "raymond",
    "jack",
    "dennis",
    "jerry",
    "mary",
    "patricia",
    "jennifer",
    "linda",
    "elizabeth",
    "barbara",
    "susan",
    "jessica",
    "sarah",
    "karen",
    "lisa",
    "nancy",
    "betty",
    "margaret",
    "sandra",
    "ashley",
    "kimberly",
    "emily",
    "donna",
    "michelle",
    "carol",
    "amanda",
    "dorothy",
    "melissa",
    "deborah",
    "stephanie",
    "rebecca",
    "sharon",
    "laura",
    "cynthia",
    "kathleen",
    "amy",
    "angela",
    "shirley",
    "anna",
    "brenda",
    "pamela",
    "emma",
    "nicole",
    "helen",
    "samantha",
    "katherine",
    "christine",
    "debra",
    "rachel",
    "carolyn",
    "janet",
    "catherine",
    "maria",
    "heather",
    "josé",
    "zoë",
    "renée",
    "andré",
    "françois",
    "björn",
    "søren",
    "chloé",
    "noémie",
    "inés",
    "priya",
    "wei",
    "hiroshi",
    "olga",
    "fatima",
    "aleksandr",
    "mohammed",
    "siobhan",
    "nguyen",
    "kofi",
];
const NICKNAMES: &[(&str, &[&str])] = &[
    ("robert", &["bob", "rob", "bobby"]),
    ("william", &["bill", "will", "billy"]),
    ("richard", &["dick", "rick", "rich"]),
    ("james", &["jim", "jimmy"]),
    ("john", &["jack", "johnny"]),
    ("michael", &["mike", "mikey"]),
    ("joseph", &["joe", "joey"]),
    ("thomas", &["tom", "tommy"]),
    ("charles", &["charlie", "chuck"]),
    ("christopher", &["chris"]),
    ("daniel", &["dan", "danny"]),
    ("matthew", &["matt"]),
    ("anthony", &["tony"]),
    ("steven", &["steve"]),
    ("andrew", &["andy", "drew"]),
    ("kenneth", &["ken", "kenny"]),
    ("timothy", &["tim"]),
    ("edward", &["ed", "ted", "eddie"]),
    ("jeffrey", &["jeff"]),
    ("nicholas", &["nick"]),
    ("jonathan", &["jon"]),
    ("benjamin", &["ben"]),
    ("samuel", &["sam"]),
    ("gregory", &["greg"]),
    ("alexander", &["alex"]),
    ("elizabeth", &["liz", "beth", "betty", "lizzie"]),
    ("margaret", &["peggy", "maggie", "meg"]),
    ("patricia", &["pat", "patty", "trish"]),
    ("jennifer", &["jen", "jenny"]),
    ("susan", &["sue", "suzy"]),
    ("jessica", &["jess"]),
    ("kimberly", &["kim"]),
    ("deborah", &["debbie", "deb"]),
    ("rebecca", &["becky"]),
    ("katherine", &["kate", "kathy", "katie"]),
    ("catherine", &["cathy", "cate"]),
    ("samantha", &["sam"]),
    ("stephanie", &["steph"]),
    ("pamela", &["pam"]),
    ("cynthia", &["cindy"]),
    ("christine", &["chris", "tina"]),
    ("dorothy", &["dot", "dottie"]),
    ("kathleen", &["kathy"]),
    ("amanda", &["mandy"]),
];
const SURNAMES: &[&str] = &[
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "hernandez",
    "lopez",
    "gonzalez",
    "wilson",
    "anderson",
    "thomas",
    "taylor",
    "moore",
    "jackson",
    "martin",
    "lee",
    "perez",
    "thompson",
    "white",
    "harris",
    "sanchez",
    "clark",
    "ramirez",
    "lewis",
    "robinson",
    "walker",
    "young",
    "allen",
    "king",
    "wright",
    "scott",
    "torres",
    "nguyen",
    "hill",
    "flores",
    "green",
    "adams",
    "nelson",
    "baker",
    "hall",
    "rivera",
    "campbell",
    "mitchell",
    "carter",
    "roberts",
    "müller",
    "o'brien",
    "núñez",
    "dubois",
    "van der berg",
    "schröder",
    "kowalski",
    "o'neil",
    "mcdonald",
    "fitzgerald",
];
/// Syllables for the long tail of rare surnames.
const SYLLABLES: &[&str] = &[
    "ab", "ber", "cal", "dan", "el", "fen", "gar", "hol", "is", "jor", "kel", "lan", "mor", "nor",
    "ol", "pen", "quin", "ros", "sten", "tor", "ul", "van", "wes", "yar", "zel", "ash", "brook",
    "craft", "dale", "ford",
];
const STREETS: &[&str] = &[
    "main",
    "oak",
    "pine",
    "maple",
    "cedar",
    "elm",
    "washington",
    "lake",
    "hill",
    "park",
    "view",
    "river",
    "church",
    "mill",
    "spring",
    "north",
    "ridge",
    "meadow",
    "forest",
    "sunset",
    "highland",
    "jackson",
    "walnut",
    "cherry",
];
const STREET_TYPES: &[(&str, &str)] = &[
    ("Street", "St"),
    ("Avenue", "Ave"),
    ("Road", "Rd"),
    ("Drive", "Dr"),
    ("Lane", "Ln"),
    ("Court", "Ct"),
    ("Boulevard", "Blvd"),
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Springfield", "IL", "627"),
    ("Riverside", "CA", "925"),
    ("Franklin", "TN", "370"),
    ("Greenville", "SC", "296"),
    ("Bristol", "CT", "060"),
    ("Clinton", "IA", "527"),
    ("Fairview", "OR", "970"),
    ("Salem", "MA", "019"),
    ("Madison", "WI", "537"),
    ("Georgetown", "TX", "786"),
    ("Arlington", "VA", "222"),
    ("Ashland", "OH", "448"),
    ("Burlington", "VT", "054"),
    ("Dover", "DE", "199"),
    ("Jackson", "MS", "392"),
    ("Milton", "FL", "325"),
    ("Newport", "RI", "028"),
    ("Oxford", "MS", "386"),
    ("Auburn", "AL", "368"),
    ("Dayton", "OH", "454"),
];
const AREA_CODES: &[&str] = &[
    "217", "951", "615", "864", "860", "563", "503", "978", "608", "512", "703", "419", "802",
    "302", "601", "850",
];
const PROVIDERS: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "aol.com",
    "comcast.net",
];
const SUBJECTS: &[&str] = &[
    "laptop will not boot",
    "battery drains fast",
    "screen flickers",
    "keyboard keys stuck",
    "fan noise",
    "warranty question",
    "replacement status",
    "overheating",
    "wifi drops",
    "charger broken",
];
const PRODUCTS: &[&str] = &[
    "laptop", "charger", "dock", "mouse", "headset", "monitor", "sleeve", "keyboard",
];
const ROLE_DOMAINS: &[&str] = &[
    "acme-plumbing.com",
    "bakerlaw.com",
    "hillsidevet.com",
    "northdental.com",
    "sunsetcafe.com",
];

/// One synthetic customer: the truth behind the records.
#[derive(Clone)]
struct Customer {
    id: u64,
    first: String,
    middle: Option<char>,
    last: String,
    dob: (i32, u32, u32),
    email: String,
    new_email: String,
    phone: String,
    mobile: Option<String>,
    street: String,
    new_street: String,
    city: usize,
    zip: String,
    serials: Vec<String>,
}

/// What `generate` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Generated {
    pub customers: u64,
    pub records: u64,
    pub per_source: Vec<(String, u64)>,
}

/// Writes four exports, `resolve.toml` and `truth.csv` into `out`.
pub fn generate(customers: u64, seed: u64, out: &Path) -> Result<Generated> {
    fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let people = make_customers(customers, &mut rng);
    let mut w = Writers::new(out)?;
    let mut ticket_no: u64 = 100_000;
    let mut counters = [0u64; 4];
    for c in &people {
        let mut present = [
            rng.gen_bool(P_IN_WARRANTY),
            rng.gen_bool(P_IN_BILLING),
            rng.gen_bool(P_IN_SUPPORT),
            rng.gen_bool(P_IN_SHOP),
        ];
        if !present.iter().any(|p| *p) {
            present[rng.gen_range(0..4)] = true;
        }
        let mut tickets = Vec::new();
        if present[2] {
            // Most customers call once or twice; a customer with a failing device calls again and again.
            let n = if rng.gen_bool(0.1) {
                rng.gen_range(4..=12)
            } else {
                rng.gen_range(1..=2)
            };
            for _ in 0..n {
                ticket_no += rng.gen_range(1..40);
                tickets.push(format!("T-{ticket_no}"));
                support_row(&mut w, c, &tickets[tickets.len() - 1], &mut rng)?;
                counters[2] += 1;
            }
        }
        if present[0] {
            for serial in &c.serials {
                let cite = tickets
                    .choose(&mut rng)
                    .filter(|_| rng.gen_bool(P_CLAIM_CITES_TICKET))
                    .cloned();
                warranty_row(&mut w, c, serial, cite, &mut rng)?;
                counters[0] += 1;
            }
        }
        if present[1] {
            billing_row(&mut w, c, &mut rng)?;
            counters[1] += 1;
        }
        if present[3] {
            for _ in 0..rng.gen_range(1..=4) {
                shop_row(&mut w, c, &mut rng)?;
                counters[3] += 1;
            }
        }
    }
    w.finish()?;
    write_config(out)?;
    let names = ["warranty", "billing", "support", "shop"];
    Ok(Generated {
        customers,
        records: counters.iter().sum(),
        per_source: names.iter().map(|n| n.to_string()).zip(counters).collect(),
    })
}

fn make_customers(n: u64, rng: &mut ChaCha8Rng) -> Vec<Customer> {
    let mut people: Vec<Customer> = Vec::with_capacity(n as usize);
    let mut taken_emails: HashSet<String> = HashSet::new();
    let mut household_size: Vec<u8> = Vec::with_capacity(n as usize);
    for id in 0..n {
        let mut c = new_customer(id, rng);
        let mut size = 1;
        let head = (!people.is_empty()).then(|| rng.gen_range(0..people.len()));
        if let Some(h) =
            head.filter(|&h| household_size[h] < MAX_HOUSEHOLD && rng.gen_bool(P_HOUSEHOLD))
        {
            // Lives with an earlier customer: same address and home phone, own name and e-mail.
            household_size[h] += 1;
            size = household_size[h];
            let other = &people[h];
            c.street = other.street.clone();
            c.new_street = other.new_street.clone();
            c.city = other.city;
            c.zip = other.zip.clone();
            c.phone = other.phone.clone();
            if rng.gen_bool(0.7) {
                c.last = other.last.clone();
            }
        } else if !people.is_empty() && rng.gen_bool(P_NAMESAKE) {
            let other = &people[rng.gen_range(0..people.len())];
            c.first = other.first.clone();
            c.last = other.last.clone();
            c.city = other.city;
        }
        c.email = personal_email(&c, rng, &mut taken_emails);
        c.new_email = personal_email(&c, rng, &mut taken_emails);
        if rng.gen_bool(P_ROLE_MAILBOX) {
            let domain = ROLE_DOMAINS.choose(rng).unwrap_or(&"acme.com");
            c.email = format!(
                "{}@{domain}",
                ["info", "office", "billing"].choose(rng).unwrap_or(&"info")
            );
        }
        people.push(c);
        household_size.push(size);
    }
    people
}

/// A personal e-mail address in one of the usual patterns, unique among customers
/// (two people never share a personal mailbox; a household shares only role mailboxes).
fn personal_email(c: &Customer, rng: &mut ChaCha8Rng, taken: &mut HashSet<String>) -> String {
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
        let mailbox =
            crate::normalize::normalize_email(&email).map_or(email.clone(), |e| e.address);
        if taken.insert(mailbox) {
            return email;
        }
    }
}

/// Picks by a flattened Zipf law: rank r has weight 1/(r + offset). With the offsets used
/// the most common first name is ~3.6% of people and "smith" ~2% (US census: 3.3%, 0.8%).
fn zipf_pick<'a>(items: &[&'a str], offset: f64, rng: &mut ChaCha8Rng) -> &'a str {
    let h: f64 = (1..=items.len()).map(|r| 1.0 / (r as f64 + offset)).sum();
    let mut x = rng.gen::<f64>() * h;
    for (i, item) in items.iter().enumerate() {
        x -= 1.0 / (i as f64 + 1.0 + offset);
        if x <= 0.0 {
            return item;
        }
    }
    items[items.len() - 1]
}

fn new_customer(id: u64, rng: &mut ChaCha8Rng) -> Customer {
    let first = zipf_pick(FIRST_NAMES, 10.0, rng).to_string();
    let last = if rng.gen_bool(0.55) {
        zipf_pick(SURNAMES, 20.0, rng).to_string()
    } else {
        // The long tail: rare surnames made of two or three syllables.
        let k = rng.gen_range(2..=3);
        (0..k)
            .map(|_| *SYLLABLES.choose(rng).unwrap_or(&"ab"))
            .collect::<String>()
    };
    let city = rng.gen_range(0..CITIES.len());
    let mut street = || {
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
    };
    let (street, new_street) = (street(), street());
    let zip = format!("{}{:02}", CITIES[city].2, rng.gen_range(0..100));
    let phone = |rng: &mut ChaCha8Rng| {
        format!(
            "{}{}{:02}{:04}",
            AREA_CODES.choose(rng).unwrap_or(&"217"),
            rng.gen_range(2..10),
            rng.gen_range(0..100),
            rng.gen_range(0..10000)
        )
    };
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
        phone: phone(rng),
        mobile: rng.gen_bool(0.5).then(|| phone(rng)),
        street,
        new_street,
        city,
        zip,
        serials,
    }
}

fn title(s: &str) -> String {
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
fn typo(s: &str, rng: &mut ChaCha8Rng) -> String {
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
fn required(s: &str, rng: &mut ChaCha8Rng) -> String {
    if rng.gen_bool(P_TYPO) {
        typo(s, rng)
    } else {
        s.to_string()
    }
}

/// An optional field: sometimes blank, sometimes mistyped.
fn noisy(s: &str, rng: &mut ChaCha8Rng) -> String {
    if rng.gen_bool(P_BLANK) {
        String::new()
    } else if rng.gen_bool(P_TYPO) {
        typo(s, rng)
    } else {
        s.to_string()
    }
}

fn given_name(c: &Customer, rng: &mut ChaCha8Rng, nick: bool) -> String {
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

fn phone_digits(c: &Customer, rng: &mut ChaCha8Rng) -> String {
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

/// Formats ten NANP digits in a system's style.
fn format_phone(d: &str, style: u8) -> String {
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

fn event_date(rng: &mut ChaCha8Rng) -> (i32, u32, u32) {
    (
        rng.gen_range(2019..2026),
        rng.gen_range(1..=12),
        rng.gen_range(1..=28),
    )
}

struct Writers {
    warranty: csv::Writer<BufWriter<File>>,
    billing: csv::Writer<BufWriter<File>>,
    support: csv::Writer<BufWriter<File>>,
    shop: csv::Writer<BufWriter<File>>,
    truth: csv::Writer<BufWriter<File>>,
    ids: [u64; 4],
    out: std::path::PathBuf,
}

impl Writers {
    fn new(out: &Path) -> Result<Writers> {
        let open = |name: &str, header: &[&str]| -> Result<csv::Writer<BufWriter<File>>> {
            let path = out.join(name);
            let f = File::create(&path).map_err(|e| Error::io(&path, e))?;
            let mut w = csv::WriterBuilder::new()
                .flexible(true)
                .from_writer(BufWriter::with_capacity(1 << 20, f));
            w.write_record(header).map_err(|e| csv_err(&path, e))?;
            Ok(w)
        };
        Ok(Writers {
            warranty: open(
                "warranty.csv",
                &[
                    "claim_no",
                    "owner_name",
                    "owner_email",
                    "owner_phone",
                    "serial_number",
                    "purchase_date",
                    "support_case_ref",
                ],
            )?,
            billing: open(
                "billing.csv",
                &[
                    "account_id",
                    "first_name",
                    "last_name",
                    "email",
                    "phone",
                    "mobile",
                    "street",
                    "city",
                    "zip",
                    "birth_date",
                    "opened",
                ],
            )?,
            support: open(
                "support.csv",
                &[
                    "case_number",
                    "caller",
                    "callback_number",
                    "email",
                    "device_serial",
                    "opened_at",
                    "subject",
                ],
            )?,
            shop: open(
                "shop.csv",
                &[
                    "order_id",
                    "customer_name",
                    "customer_email",
                    "customer_phone",
                    "ship_address",
                    "ship_city",
                    "ship_zip",
                    "order_date",
                    "items",
                ],
            )?,
            truth: open("truth.csv", &["source", "record_id", "entity_id"])?,
            ids: [0; 4],
            out: out.to_path_buf(),
        })
    }

    fn finish(mut self) -> Result<()> {
        for (w, name) in [
            (&mut self.warranty, "warranty.csv"),
            (&mut self.billing, "billing.csv"),
            (&mut self.support, "support.csv"),
            (&mut self.shop, "shop.csv"),
            (&mut self.truth, "truth.csv"),
        ] {
            w.flush().map_err(|e| Error::io(self.out.join(name), e))?;
        }
        Ok(())
    }

    fn next_id(&mut self, source: usize, prefix: &str) -> String {
        self.ids[source] += 1;
        format!("{prefix}{:07}", self.ids[source] * 7 + 1_000_000)
    }

    /// Writes a row, sometimes replaced by junk or made ragged, and its truth.
    fn row(
        &mut self,
        source: usize,
        c: &Customer,
        mut fields: Vec<String>,
        rng: &mut ChaCha8Rng,
    ) -> Result<()> {
        let name = ["warranty", "billing", "support", "shop"][source];
        let record_id = fields[0].clone();
        let junk = rng.gen_bool(P_JUNK_ROW);
        if junk {
            for f in fields.iter_mut().skip(1) {
                *f = ["N/A", "test", "", "unknown"]
                    .choose(rng)
                    .unwrap_or(&"")
                    .to_string();
            }
        } else if rng.gen_bool(P_RAGGED_ROW) {
            fields.pop();
        }
        let w = match source {
            0 => &mut self.warranty,
            1 => &mut self.billing,
            2 => &mut self.support,
            _ => &mut self.shop,
        };
        let path = self.out.join(format!("{name}.csv"));
        w.write_record(&fields).map_err(|e| csv_err(&path, e))?;
        // A junk row is a test entry: it belongs to nobody, so it is its own entity.
        let entity = if junk {
            format!("junk-{record_id}")
        } else {
            c.id.to_string()
        };
        self.truth
            .write_record([name, record_id.as_str(), entity.as_str()])
            .map_err(|e| csv_err(&self.out.join("truth.csv"), e))
    }
}

fn csv_err(path: &Path, e: csv::Error) -> Error {
    Error::io(path, std::io::Error::other(e.to_string()))
}

fn warranty_row(
    w: &mut Writers,
    c: &Customer,
    serial: &str,
    cite: Option<String>,
    rng: &mut ChaCha8Rng,
) -> Result<()> {
    let first = title(&given_name(c, rng, false));
    let last = c.last.to_uppercase();
    let name = if rng.gen_bool(0.7) {
        format!("{last}, {first}")
    } else {
        format!("{first} {}", title(&c.last))
    };
    let serial = match rng.gen_range(0..3) {
        0 => serial.to_string(),
        1 => format!("{}-{}-{}", &serial[..3], &serial[3..7], &serial[7..]),
        _ => serial.to_lowercase(),
    };
    let (y, m, d) = event_date(rng);
    let id = w.next_id(0, "W");
    let fields = vec![
        id,
        required(&name, rng),
        noisy(&c.email, rng),
        noisy(&format_phone(&phone_digits(c, rng), 0), rng),
        serial,
        format!("{m}/{d}/{y}"),
        cite.unwrap_or_default(),
    ];
    w.row(0, c, fields, rng)
}

fn billing_row(w: &mut Writers, c: &Customer, rng: &mut ChaCha8Rng) -> Result<()> {
    let (city, _, _) = CITIES[c.city];
    let zip = if rng.gen_bool(0.3) {
        format!("{}-{:04}", c.zip, rng.gen_range(0..10000))
    } else {
        c.zip.clone()
    };
    let street = if rng.gen_bool(0.5) {
        STREET_TYPES
            .iter()
            .fold(c.street.clone(), |s, (long, short)| s.replace(long, short))
    } else {
        c.street.clone()
    };
    let first = match c.middle {
        Some(mi) if rng.gen_bool(0.5) => format!("{} {mi}.", title(&given_name(c, rng, false))),
        _ => title(&given_name(c, rng, false)),
    };
    let (y, m, d) = c.dob;
    let (oy, om, od) = event_date(rng);
    let id = w.next_id(1, "B");
    let fields = vec![
        id,
        noisy(&first, rng),
        required(&title(&c.last), rng),
        noisy(&c.email, rng),
        noisy(&format_phone(&c.phone, 1 + rng.gen_range(0..2)), rng),
        c.mobile
            .as_deref()
            .map(|m| format_phone(m, 4))
            .unwrap_or_default(),
        noisy(&street, rng),
        city.to_string(),
        zip,
        noisy(&format!("{y}-{m:02}-{d:02}"), rng),
        format!("{od:02}.{om:02}.{oy}"),
    ];
    w.row(1, c, fields, rng)
}

fn support_row(w: &mut Writers, c: &Customer, case: &str, rng: &mut ChaCha8Rng) -> Result<()> {
    let name = format!("{} {}", title(&given_name(c, rng, true)), title(&c.last));
    let serial = c.serials.choose(rng).cloned().unwrap_or_default();
    let serial = if rng.gen_bool(P_SERIAL_CONFUSION) {
        serial.replace('0', "O").replace('1', "I")
    } else {
        serial
    };
    let (y, m, d) = event_date(rng);
    let fields = vec![
        case.to_string(),
        noisy(&name, rng),
        required(
            &format_phone(&phone_digits(c, rng), [0, 3, 4][rng.gen_range(0..3)]),
            rng,
        ),
        if rng.gen_bool(0.4) {
            noisy(&c.email, rng)
        } else {
            String::new()
        },
        if rng.gen_bool(0.6) {
            noisy(&serial, rng)
        } else {
            String::new()
        },
        format!(
            "{y}-{m:02}-{d:02}T{:02}:{:02}:00Z",
            rng.gen_range(8..18),
            rng.gen_range(0..60)
        ),
        SUBJECTS.choose(rng).unwrap_or(&"").to_string(),
    ];
    w.row(2, c, fields, rng)
}

fn shop_row(w: &mut Writers, c: &Customer, rng: &mut ChaCha8Rng) -> Result<()> {
    let name = format!("{} {}", title(&given_name(c, rng, true)), title(&c.last));
    let email = if rng.gen_bool(P_NEW_EMAIL) {
        c.new_email.clone()
    } else {
        c.email.clone()
    };
    let email = match rng.gen_range(0..4) {
        0 => email.replacen('@', "+shop@", 1),
        1 => email.to_uppercase(),
        _ => email,
    };
    let street = if rng.gen_bool(P_MOVED) {
        &c.new_street
    } else {
        &c.street
    };
    let (city, _, _) = CITIES[c.city];
    let (y, m, d) = event_date(rng);
    let id = w.next_id(3, "O");
    let fields = vec![
        id,
        required(&name, rng),
        required(&email, rng),
        if rng.gen_bool(0.5) {
            format_phone(&phone_digits(c, rng), 2)
        } else {
            String::new()
        },
        noisy(street, rng),
        city.to_string(),
        c.zip.clone(),
        format!("{y}{m:02}{d:02}"),
        PRODUCTS.choose(rng).unwrap_or(&"").to_string(),
    ];
    w.row(3, c, fields, rng)
}

fn write_config(out: &Path) -> Result<()> {
    let path = out.join("resolve.toml");
    let mut f = File::create(&path).map_err(|e| Error::io(&path, e))?;
    f.write_all(GENERATED_CONFIG.as_bytes())
        .map_err(|e| Error::io(&path, e))
}

const GENERATED_CONFIG: &str = r#"# Written by `idresolve generate`: four systems, four vendors' column names.
[normalize]
default_region = "US"

[[source]]
name = "warranty"
path = "warranty.csv"
record_id = "claim_no"
[source.fields]
full_name = "owner_name"
email = "owner_email"
phone = "owner_phone"
serial = "serial_number"
date = "purchase_date"
case = ["claim_no", "support_case_ref"]

[[source]]
name = "billing"
path = "billing.csv"
record_id = "account_id"
[source.fields]
first_name = "first_name"
last_name = "last_name"
email = "email"
phone = ["phone", "mobile"]
address = "street"
city = "city"
postcode = "zip"
dob = "birth_date"
date = "opened"
case = "account_id"

[[source]]
name = "support"
path = "support.csv"
record_id = "case_number"
[source.fields]
full_name = "caller"
phone = "callback_number"
email = "email"
serial = "device_serial"
date = "opened_at"
case = "case_number"

[[source]]
name = "shop"
path = "shop.csv"
record_id = "order_id"
[source.fields]
full_name = "customer_name"
email = "customer_email"
phone = "customer_phone"
address = "ship_address"
city = "ship_city"
postcode = "ship_zip"
date = "order_date"
case = "order_id"
"#;
