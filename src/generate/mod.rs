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

mod abroad;
mod noise;
mod people;
mod vendors;
mod words;

use abroad::*;
use noise::*;
use people::*;
use vendors::*;
use words::*;

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
/// Chance that a customer's billing account is their employer's: the office's shared
/// mailbox (a local part outside any built-in role list), switchboard and street.
const P_AT_WORK: f64 = 0.03;
/// Chance that a customer at work shares the office with an earlier such customer.
const P_COLLEAGUE: f64 = 0.6;
/// Chance that a household uses a shared family mailbox (`thejacksons@…`), and per record
/// of a member, that the record carries it instead of the personal one.
const P_FAMILY_EMAIL: f64 = 0.3;
const P_USE_FAMILY_EMAIL: f64 = 0.5;
/// Chance that a household member also owns one of the head's devices (a shared TV, the
/// family laptop): the same serial in both people's claims and tickets.
const P_SHARED_SERIAL: f64 = 0.25;
/// Chance that a son living with his father has the father's first name (Jr and Sr), and
/// per record, that the suffix is written.
const P_JUNIOR: f64 = 0.15;
const P_WRITE_SUFFIX: f64 = 0.3;
/// Shop: an order shipped to someone else (a gift, a family member): the ship-to name and
/// address are the recipient's, the buyer's e-mail and phone stay.
const P_GIFT: f64 = 0.08;
/// Support: a ticket where the agent took only a callback number (no name), one with a
/// name only, and one with the name written surname first without a comma.
const P_KEY_ONLY_TICKET: f64 = 0.08;
const P_NAME_ONLY_TICKET: f64 = 0.04;
const P_SURNAME_FIRST: f64 = 0.06;
/// Per written value: a keyboard typo (insert, delete, substitute or transpose).
const P_TYPO: f64 = 0.06;
/// Per written value: left blank.
const P_BLANK: f64 = 0.08;
/// Support and shop: the customer gives a nickname (Bob for Robert) when there is one.
const P_NICKNAME: f64 = 0.35;
/// Customers living abroad (Germany, France, the UK): names with diacritics, apostrophes
/// and hyphens, phones with a country code, foreign cities and postcodes.
const P_ABROAD: f64 = 0.04;
/// Support agents who type a foreign name without its accents.
const P_AGENT_FOLDS_ACCENTS: f64 = 0.4;
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
/// A support agent or a shop customer types a placeholder e-mail into a required field
/// (`noemail@noemail.com`): one value shared by strangers, growing with the data.
const P_PLACEHOLDER_EMAIL: f64 = 0.02;
/// A support agent types a made-up callback number that passes as a real one.
const P_PLACEHOLDER_PHONE: f64 = 0.01;
/// The placeholder number agents type.
const PLACEHOLDER_PHONE: &str = "555-555-1234";
/// A billing system's default date of birth, kept when the customer gave none.
const P_PLACEHOLDER_DOB: f64 = 0.01;
/// A ticket or order where the agent filled every contact field with placeholders (a
/// caller who would not give details, an order keyed in at the till): name, e-mail,
/// phone and address that hundreds of strangers share, and that agree with each other.
const P_PLACEHOLDER_ROW: f64 = 0.004;
/// Names agents type for an unknown caller.
const PLACEHOLDER_NAMES: &[&str] = &["Jane Doe", "John Doe", "Test Customer", "Walk In"];
/// A shop order with a test address typed at the till.
const P_PLACEHOLDER_ADDRESS: f64 = 0.005;

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
            // Their tickets come days apart, about the same failure (an episode).
            let repeat = rng.gen_bool(0.1);
            let n = if repeat {
                rng.gen_range(4..=12)
            } else {
                rng.gen_range(1..=2)
            };
            let mut episode = vendors::Episode::default();
            for _ in 0..n {
                ticket_no += rng.gen_range(1..40);
                tickets.push(format!("T-{ticket_no}"));
                let e = repeat.then_some(&mut episode);
                support_row(&mut w, c, &tickets[tickets.len() - 1], e, &mut rng)?;
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
                // A gift goes to the household's head, or to a friend.
                let recipient = rng.gen_bool(P_GIFT).then(|| match c.household {
                    Some(h) => &people[h],
                    None => &people[rng.gen_range(0..people.len())],
                });
                shop_row(&mut w, c, recipient.filter(|r| r.id != c.id), &mut rng)?;
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
    let mut offices: Vec<Office> = Vec::new();
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
            c.household = Some(h);
            let other = &people[h];
            c.street = other.street.clone();
            c.new_street = other.new_street.clone();
            c.city = other.city;
            c.country = other.country;
            c.zip = other.zip.clone();
            c.phone = other.phone.clone();
            if rng.gen_bool(0.7) {
                c.last = other.last.clone();
                if c.male && other.male && other.suffix.is_none() && rng.gen_bool(P_JUNIOR) {
                    // Named after his father; born 20-35 years later.
                    c.first = other.first.clone();
                    c.suffix = Some("Jr");
                    c.dob.0 = (other.dob.0 + rng.gen_range(20..36)).min(2006);
                    people[h].suffix = Some("Sr");
                }
            }
            if rng.gen_bool(P_SHARED_SERIAL) {
                if let Some(s) = people[h].serials.choose(rng).cloned() {
                    c.serials.push(s);
                }
            }
            if rng.gen_bool(P_FAMILY_EMAIL) {
                let family = match &people[h].family_email {
                    Some(f) => f.clone(),
                    None => family_email(&people[h].last, rng, &mut taken_emails),
                };
                people[h].family_email = Some(family.clone());
                c.family_email = Some(family);
            }
        } else if !people.is_empty() && rng.gen_bool(P_NAMESAKE) {
            let other = &people[rng.gen_range(0..people.len())];
            c.first = other.first.clone();
            c.last = other.last.clone();
            c.city = other.city;
            c.country = other.country;
            c.zip = other.zip.clone();
        }
        c.email = personal_email(&c, rng, &mut taken_emails);
        c.new_email = personal_email(&c, rng, &mut taken_emails);
        if rng.gen_bool(P_AT_WORK) {
            let office = match offices.choose(rng) {
                Some(o) if rng.gen_bool(P_COLLEAGUE) => o.clone(),
                _ => {
                    let o = new_office(rng);
                    offices.push(o.clone());
                    o
                }
            };
            c.office = Some(office);
        }
        people.push(c);
        household_size.push(size);
    }
    people
}

/// A household's shared mailbox, unique like a personal one.
fn family_email(last: &str, rng: &mut ChaCha8Rng, taken: &mut HashSet<String>) -> String {
    let last: String = deunicode::deunicode(last)
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    loop {
        let provider = PROVIDERS.choose(rng).unwrap_or(&"gmail.com");
        let email = match rng.gen_range(0..3) {
            0 => format!("the{last}s@{provider}"),
            1 => format!("{last}family@{provider}"),
            _ => format!("{last}s{}@{provider}", rng.gen_range(1..999)),
        };
        if taken.insert(email.clone()) {
            return email;
        }
    }
}

/// A small business with a shared mailbox under its own domain.
fn new_office(rng: &mut ChaCha8Rng) -> Office {
    let domain = ROLE_DOMAINS.choose(rng).unwrap_or(&"acme.com");
    let local = OFFICE_MAILBOXES.choose(rng).unwrap_or(&"frontdesk");
    let n = rng.gen_range(1..99);
    Office {
        email: format!("{local}@{n}{domain}"),
        phone: phone_number(rng),
        street: street(rng),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truth_names_every_row_and_the_config_reads_the_exports() {
        let t = tempfile::tempdir().unwrap();
        let g = generate(60, 5, t.path()).unwrap();
        let config = crate::Config::load(&t.path().join("resolve.toml")).unwrap();
        let data = crate::ingest::ingest(&config, |_| {}).unwrap();
        let truth = std::fs::read_to_string(t.path().join("truth.csv")).unwrap();
        let truth_rows = truth.lines().count() as u64 - 1;
        let rows: u64 = data.counts.iter().map(|c| c.rows).sum();
        assert_eq!(rows, g.records);
        // Junk and ragged rows are in the exports on purpose; every accepted row has truth.
        assert!(truth_rows >= data.records.len() as u64);
        for r in &data.records {
            let key = format!("{},{},", data.sources[r.source as usize], r.record_id);
            assert!(truth.contains(&key), "{key} has no truth");
        }
    }
}
