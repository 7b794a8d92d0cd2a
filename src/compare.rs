//! Comparison: turns a pair of profiles into a vector of small integer *levels*, one per
//! comparison (first name, last name, e-mail …), as in Splink's comparison levels. Level
//! 0 is "different", higher levels are stronger kinds of agreement, and [`MISSING`]
//! means a value is absent on either side and carries no weight. Multi-valued fields
//! (two phone columns, several serials) take the best level over all value pairs.
//!
//! This module owns what "similar" means; how much each level counts is learned by
//! [`crate::model`]. Level numbers do not leave it: later stages read a pair's
//! [`Evidence`] (named facts such as "a personal key agrees").

use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::{Datelike, NaiveDate};

use crate::config::FieldKind;
use crate::normalize::name::nickname_equivalent;
use crate::normalize::PersonName;
use crate::record::Profile;
use crate::similarity::{jaro_winkler, within_one_edit};

/// The level of a comparison whose value is absent on either side.
pub const MISSING: u8 = u8::MAX;

/// Jaro-Winkler cut-offs: ≥ 0.95 is a one-letter slip in a long name, ≥ 0.88 a typo or
/// two (Splink's name comparisons use 0.92/0.88; we keep its lower cut and a stricter upper).
const JW_CLOSE: f64 = 0.95;
const JW_NEAR: f64 = 0.88;

/// One comparison: a name, the levels it can reach (index = level, weakest agreement
/// first: EM's starting `m` relies on that order), and which field kinds feed it.
///
/// Level numbers are this module's own business. Stages after scoring read a pair's
/// [`Evidence`] — named facts — and never a level number; the model reads only the
/// count and order of levels.
#[derive(Debug, Clone, Copy)]
pub struct ComparisonSpec {
    pub name: &'static str,
    pub levels: &'static [&'static str],
    pub kinds: &'static [FieldKind],
    /// The level whose weight is adjusted by the frequency of the agreeing value.
    pub tf_level: Option<u8>,
}

pub const FIRST_NAME: usize = 0;
pub const LAST_NAME: usize = 1;
pub const EMAIL: usize = 2;
pub const PHONE: usize = 3;
pub const SERIAL: usize = 4;
pub const DOB: usize = 5;
pub const ADDRESS: usize = 6;
pub const CITY: usize = 7;
pub const POSTCODE: usize = 8;
pub const ID: usize = 9;
pub const CASE: usize = 10;
pub const TEXT: usize = 11;
/// Number of comparisons.
pub const N: usize = 12;

const NAME_KINDS: &[FieldKind] = &[
    FieldKind::FirstName,
    FieldKind::LastName,
    FieldKind::FullName,
];

pub const SPECS: [ComparisonSpec; N] = [
    ComparisonSpec {
        name: "first_name",
        levels: &[
            "different",
            "initial",
            "phonetic",
            "jaro_winkler>=0.88",
            "nickname",
            "jaro_winkler>=0.95",
            "exact",
        ],
        kinds: NAME_KINDS,
        tf_level: Some(6),
    },
    ComparisonSpec {
        name: "last_name",
        levels: &[
            "different",
            "phonetic",
            "jaro_winkler>=0.88",
            "jaro_winkler>=0.95",
            "exact",
        ],
        kinds: NAME_KINDS,
        tf_level: Some(4),
    },
    ComparisonSpec {
        name: "email",
        levels: &["different", "one_typo", "exact_role_mailbox", "exact"],
        kinds: &[FieldKind::Email],
        tf_level: Some(3),
    },
    ComparisonSpec {
        name: "phone",
        levels: &["different", "same_last_7_digits", "one_edit", "exact"],
        kinds: &[FieldKind::Phone],
        tf_level: Some(3),
    },
    ComparisonSpec {
        name: "serial",
        levels: &["different", "one_edit", "exact_after_confusables", "exact"],
        kinds: &[FieldKind::Serial],
        tf_level: Some(3),
    },
    ComparisonSpec {
        name: "dob",
        levels: &[
            "different",
            "within_a_year",
            "one_component_or_digit_off",
            "day_month_transposed",
            "exact",
        ],
        kinds: &[FieldKind::Dob],
        tf_level: Some(4),
    },
    ComparisonSpec {
        name: "address",
        levels: &["different", "half_the_tokens", "most_tokens", "exact"],
        kinds: &[FieldKind::Address],
        tf_level: Some(3),
    },
    ComparisonSpec {
        name: "city",
        levels: &["different", "jaro_winkler>=0.88", "exact"],
        kinds: &[FieldKind::City],
        tf_level: Some(2),
    },
    ComparisonSpec {
        name: "postcode",
        levels: &["different", "one_edit", "exact"],
        kinds: &[FieldKind::Postcode],
        tf_level: Some(2),
    },
    ComparisonSpec {
        name: "id",
        levels: &["different", "one_edit", "exact"],
        kinds: &[FieldKind::Id],
        tf_level: Some(2),
    },
    ComparisonSpec {
        name: "case",
        levels: &["none_shared", "shared_case_number"],
        kinds: &[FieldKind::Case],
        tf_level: None,
    },
    ComparisonSpec {
        name: "text",
        levels: &["different", "jaro_winkler>=0.88", "exact"],
        kinds: &[FieldKind::Text],
        tf_level: Some(2),
    },
];

/// Named levels that [`Comparison::evidence`] and the comparison functions share (each
/// must match its name in [`SPECS`]; a test checks).
mod lv {
    pub const FIRST_INITIAL: u8 = 1;
    pub const EMAIL_ONE_TYPO: u8 = 1;
    pub const EMAIL_EXACT: u8 = 3;
    pub const PHONE_SAME_LAST_7: u8 = 1;
    pub const PHONE_ONE_EDIT: u8 = 2;
    pub const PHONE_EXACT: u8 = 3;
    pub const SERIAL_AFTER_CONFUSABLES: u8 = 2;
    pub const DOB_EXACT: u8 = 4;
    pub const ADDRESS_MOST_TOKENS: u8 = 2;
    pub const ADDRESS_EXACT: u8 = 3;
    pub const ID_EXACT: u8 = 2;
    pub const CASE_SHARED: u8 = 1;
}

/// How far two records' phones or addresses agree, for the household guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContactAgreement {
    #[default]
    None,
    /// One keystroke off, or (phones) the same last seven digits, or (addresses) most
    /// tokens: close enough to be the same household's.
    Near,
    Exact,
}

/// What a compared pair tells the stages after scoring, as named facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Evidence {
    /// The pair agrees on something only one person has: a personal e-mail, a serial
    /// (exactly or after folding confusables), an id, a date of birth, a shared case
    /// number. Phones, addresses and role mailboxes are shared by households and offices.
    pub personal_key_agrees: bool,
    /// Two personal e-mails one typo apart.
    pub personal_email_typo: bool,
    /// The first names agree beyond an initial (phonetic, typo, nickname or exact): an
    /// initial does not tell household members apart (J. is James and John).
    pub first_names_beyond_initial: bool,
    pub phone: ContactAgreement,
    pub address: ContactAgreement,
    /// The phone agreed on exactly is one that households share (set by
    /// [`SharedValues::evidence`]).
    pub phone_household: bool,
    /// The address agreed on exactly is one that households share.
    pub address_household: bool,
}

/// The comparison vector of a pair, with the hash of the agreeing value at each
/// comparison's TF level (0 when not at that level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Comparison {
    pub levels: [u8; N],
    pub tf_keys: [u64; N],
}

impl Comparison {
    /// The named facts of this comparison (see [`Evidence`]).
    pub fn evidence(&self) -> Evidence {
        let l = &self.levels;
        let at = |i: usize, level: u8| l[i] == level;
        let at_least = |i: usize, level: u8| l[i] != MISSING && l[i] >= level;
        Evidence {
            personal_key_agrees: at(EMAIL, lv::EMAIL_EXACT)
                || at_least(SERIAL, lv::SERIAL_AFTER_CONFUSABLES)
                || at(ID, lv::ID_EXACT)
                || at(DOB, lv::DOB_EXACT)
                || at(CASE, lv::CASE_SHARED),
            personal_email_typo: at(EMAIL, lv::EMAIL_ONE_TYPO),
            first_names_beyond_initial: at_least(FIRST_NAME, lv::FIRST_INITIAL + 1),
            phone: match l[PHONE] {
                lv::PHONE_EXACT => ContactAgreement::Exact,
                lv::PHONE_SAME_LAST_7 | lv::PHONE_ONE_EDIT => ContactAgreement::Near,
                _ => ContactAgreement::None,
            },
            address: match l[ADDRESS] {
                lv::ADDRESS_EXACT => ContactAgreement::Exact,
                lv::ADDRESS_MOST_TOKENS => ContactAgreement::Near,
                _ => ContactAgreement::None,
            },
            // Whether a value is a household's is learned from the data: see
            // SharedValues::evidence.
            phone_household: false,
            address_household: false,
        }
    }
}

/// Two first names that may be the same person's: anything above "different"
/// (initial, phonetic, typo, nickname, exact), or the whole name written the other way
/// round ("Ortega Samantha" on a ticket is Samantha Ortega), as the name comparison
/// reads it.
pub fn first_names_compatible(a: &PersonName, b: &PersonName) -> bool {
    // Junior and senior are two people, whatever their first names say.
    if !a.generation.is_empty() && !b.generation.is_empty() && a.generation != b.generation {
        return false;
    }
    if first_name_level(a, b).0 > 0 {
        return true;
    }
    let full = |n: &PersonName| !n.first.is_empty() && !n.last.is_empty();
    let swapped = |a: &PersonName, b: &PersonName| {
        last_name_level(&a.last, &b.first, &a.last_phonetic, &b.first_phonetic).0 > 0
            && given_level(
                GivenName {
                    name: &a.first,
                    phonetic: &a.first_phonetic,
                    groups: &a.first_groups,
                },
                GivenName {
                    name: &b.last,
                    phonetic: &b.last_phonetic,
                    groups: &crate::normalize::name::nickname_groups(&b.last),
                },
            )
            .0 > 1
    };
    full(a) && full(b) && (swapped(a, b) || swapped(b, a))
}

/// Two whole names that may be one person's: compatible first names (as
/// [`first_names_compatible`] reads them) and surnames that agree at least phonetically
/// (either way round), or a missing part.
pub fn names_compatible(a: &PersonName, b: &PersonName) -> bool {
    let last = |x: &str, px: &str, y: &str, py: &str| {
        x.is_empty() || y.is_empty() || last_name_level(x, y, px, py).0 > 0
    };
    first_names_compatible(a, b)
        && (last(&a.last, &a.last_phonetic, &b.last, &b.last_phonetic)
            || last(&a.last, &a.last_phonetic, &b.first, &b.first_phonetic))
}

/// Two dates of birth that may be the same person's (exact, transposed, one off).
pub fn dobs_compatible(a: &NaiveDate, b: &NaiveDate) -> bool {
    dob_level(a, b).0 > 0
}

/// Two ids that may be the same (exact, or one edit apart).
pub fn ids_compatible(a: &str, b: &str) -> bool {
    id_level(a, b).0 > 0
}

/// Fewest different surnames among a value's holders that make the value "shared by
/// strangers". A family (one surname) or a couple with two surnames, a lodger, can hold
/// a phone, an address or a family e-mail; the household guard deals with those. Four
/// surnames that cannot be one family's share a value only when it is not personal at
/// all: a placeholder an agent typed (`noemail@noemail.com`), a switchboard, a test
/// address, a shared device.
pub const STRANGERS: usize = 4;

/// Holders' names kept per value: enough to find [`STRANGERS`], bounded memory.
const MAX_HOLDER_NAMES: usize = 16;

/// Values that many different people hold, learned from the data: for each comparison
/// with an exact level keyed by value (e-mail, phone, serial, address, id), the value
/// hashes whose holders carry at least [`STRANGERS`] mutually incompatible names. Their
/// exact agreement is no evidence: [`compare_with`] reads it as missing. A word list of
/// placeholders would miss the ones it does not know, and would never see a
/// switchboard; what the holders' names say works on any export.
#[derive(Debug, Default, Clone)]
pub struct SharedValues {
    values: [rustc_hash::FxHashSet<u64>; N],
    /// Values held by people whose first names cannot be one person's, each name on at
    /// least [`HOUSEHOLD_SUPPORT`] records, but not by strangers: a family's e-mail,
    /// phone, address or shared device. They say "this household", not "this person".
    household: [rustc_hash::FxHashSet<u64>; N],
}

/// Records a first name needs on a value before the value counts as a household's: one
/// gift order or nickname putting another name on a personal mobile does not make it a
/// family phone.
pub const HOUSEHOLD_SUPPORT: u32 = 1;

/// The comparisons whose values can be shared by a household or by strangers.
const KEYED: [usize; 5] = [EMAIL, PHONE, SERIAL, ADDRESS, ID];

impl SharedValues {
    /// Learns the shared values from every profile of a run.
    pub fn learn(data: &crate::record::Dataset) -> SharedValues {
        Self::learn_where(data, &data.records_per_profile(), |_, _| true)
    }

    /// [`SharedValues::learn`] for a night: `before` was learned from the same profile
    /// table when profile `p` had `sizes_before[p]` records (a profile beyond it is new).
    /// Only values held by a profile whose record count changed can change standing; the
    /// rest keep `before`'s. The same result as learning afresh, reading the holders of
    /// those values only.
    pub fn relearn(
        data: &crate::record::Dataset,
        before: &SharedValues,
        sizes_before: &[u32],
    ) -> SharedValues {
        let sizes = data.records_per_profile();
        let mut touched: [rustc_hash::FxHashSet<u64>; N] = Default::default();
        for (p, profile) in data.profiles.iter().enumerate() {
            if profile.names.is_empty() || sizes_before.get(p) == Some(&sizes[p]) {
                continue;
            }
            for (i, k) in keyed_values(profile) {
                touched[i].insert(k);
            }
        }
        let mut shared = Self::learn_where(data, &sizes, |i, k| touched[i].contains(&k));
        for (i, touched) in touched.iter().enumerate() {
            for (now, then) in [
                (&mut shared.values[i], &before.values[i]),
                (&mut shared.household[i], &before.household[i]),
            ] {
                now.extend(then.iter().filter(|k| !touched.contains(k)));
            }
        }
        shared
    }

    /// The standing of the values `wanted` keeps (comparison, value hash), from their
    /// holders: profile `p` has `sizes[p]` records.
    fn learn_where(
        data: &crate::record::Dataset,
        sizes: &[u32],
        wanted: impl Fn(usize, u64) -> bool,
    ) -> SharedValues {
        use rustc_hash::FxHashMap as HashMap;
        // Per comparison and value: its holders' distinct names, with their records.
        let mut holders: [HashMap<u64, Vec<(&PersonName, u32)>>; N] = Default::default();
        // A profile without records (an incremental run keeps those of removed records
        // in its table) holds nothing tonight.
        let dead = |size: u32| size == 0 && !data.records.is_empty();
        for (p, &size) in data.profiles.iter().zip(sizes) {
            if p.names.is_empty() || dead(size) {
                continue;
            }
            for (i, k) in keyed_values(p) {
                if !wanted(i, k) {
                    continue;
                }
                let names = holders[i].entry(k).or_default();
                for n in &p.names {
                    match names
                        .iter()
                        .position(|(m, _)| m.first == n.first && m.last == n.last)
                    {
                        Some(j) => names[j].1 += size.max(1),
                        None if names.len() < MAX_HOLDER_NAMES => names.push((n, size.max(1))),
                        None => {}
                    }
                }
            }
        }
        let mut shared = SharedValues::default();
        for i in KEYED {
            for (k, names) in &holders[i] {
                let just_names: Vec<&PersonName> = names.iter().map(|(n, _)| *n).collect();
                if distinct_families(&just_names) >= STRANGERS {
                    shared.values[i].insert(*k);
                } else if household_names(names) {
                    shared.household[i].insert(*k);
                }
            }
        }
        shared
    }

    /// Every value with its standing, for saving: (comparison, 0 = strangers' or 1 = a
    /// household's, value hash), sorted.
    pub fn entries(&self) -> Vec<(u8, u8, u64)> {
        let mut out: Vec<(u8, u8, u64)> = (0..N)
            .flat_map(|i| {
                let strangers = self.values[i].iter().map(move |&k| (i as u8, 0, k));
                strangers.chain(self.household[i].iter().map(move |&k| (i as u8, 1, k)))
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// The values [`SharedValues::entries`] gave (entries naming no comparison are
    /// skipped).
    pub fn from_entries(entries: &[(u8, u8, u64)]) -> SharedValues {
        let mut s = SharedValues::default();
        for &(i, kind, k) in entries {
            let i = i as usize;
            if i < N {
                if kind == 0 {
                    s.values[i].insert(k);
                } else {
                    s.household[i].insert(k);
                }
            }
        }
        s
    }

    /// Values whose standing (strangers', a household's, or neither) differs from
    /// `before`'s: (comparison, value hash). A profile holding one may compare otherwise
    /// tonight with profiles whose own records did not change.
    pub fn changed_since(&self, before: &SharedValues) -> rustc_hash::FxHashSet<(usize, u64)> {
        let mut out = rustc_hash::FxHashSet::default();
        for i in 0..N {
            for (now, then) in [
                (&self.values[i], &before.values[i]),
                (&self.household[i], &before.household[i]),
            ] {
                out.extend(now.symmetric_difference(then).map(|&k| (i, k)));
            }
        }
        out
    }

    /// True when comparison `i`'s agreeing value is a household's ([`SharedValues`]).
    pub fn household(&self, i: usize, key: u64) -> bool {
        key != 0 && self.household[i].contains(&key)
    }

    /// The named facts of a comparison made with [`compare_with`]: an e-mail or serial
    /// that a household shares is not a key only one person has.
    pub fn evidence(&self, c: &Comparison) -> Evidence {
        let mut ev = c.evidence();
        if ev.personal_key_agrees
            && (self.household(EMAIL, c.tf_keys[EMAIL])
                || self.household(SERIAL, c.tf_keys[SERIAL]))
        {
            let mut personal = *c;
            for i in [EMAIL, SERIAL] {
                if self.household(i, c.tf_keys[i]) {
                    personal.levels[i] = MISSING;
                }
            }
            ev.personal_key_agrees = personal.evidence().personal_key_agrees;
        }
        ev.phone_household =
            ev.phone == ContactAgreement::Exact && self.household(PHONE, c.tf_keys[PHONE]);
        ev.address_household =
            ev.address == ContactAgreement::Exact && self.household(ADDRESS, c.tf_keys[ADDRESS]);
        ev
    }

    /// How many values of comparison `i` households share.
    pub fn household_values(&self, i: usize) -> u64 {
        self.household[i].len() as u64
    }

    /// How many values of each comparison households share, by comparison name.
    pub fn household_counts(&self) -> Vec<(String, u64)> {
        (0..N)
            .filter(|&i| !self.household[i].is_empty())
            .map(|i| (SPECS[i].name.to_string(), self.household[i].len() as u64))
            .collect()
    }

    /// How many values of each comparison are shared by strangers (for `run.json`).
    pub fn counts(&self) -> Vec<(String, u64)> {
        (0..N)
            .filter(|&i| !self.values[i].is_empty())
            .map(|i| (SPECS[i].name.to_string(), self.values[i].len() as u64))
            .collect()
    }

    /// Per profile: true when it holds nothing personal ([`holds_personal_value`]).
    pub fn impersonal(&self, data: &crate::record::Dataset) -> Vec<bool> {
        use rayon::prelude::*;
        data.profiles
            .par_iter()
            .map(|p| !holds_personal_value(p, self))
            .collect()
    }

    /// True when comparison `i`'s agreeing value (its TF key) is shared by strangers.
    pub fn holds(&self, i: usize, key: u64) -> bool {
        key != 0 && self.values[i].contains(&key)
    }
}

/// Two first names that cannot be one person's, each on enough records.
fn household_names(names: &[(&PersonName, u32)]) -> bool {
    let supported: Vec<&PersonName> = names
        .iter()
        .filter(|(n, count)| *count >= HOUSEHOLD_SUPPORT && !n.first.is_empty())
        .map(|(n, _)| *n)
        .collect();
    supported.iter().enumerate().any(|(i, a)| {
        supported[i + 1..]
            .iter()
            .any(|b| !first_names_compatible(a, b))
    })
}

/// How many families these names come from: surnames that cannot be one family's
/// (greedy: each name joins the first earlier surname it agrees with, typo or phonetic
/// code included, else counts as another family). Names without a surname do not count.
fn distinct_families(names: &[&PersonName]) -> usize {
    let mut families: Vec<&PersonName> = Vec::new();
    for n in names.iter().filter(|n| !n.last.is_empty()) {
        let same = |m: &&PersonName| {
            last_name_level(&n.last, &m.last, &n.last_phonetic, &m.last_phonetic).0 > 0
        };
        if !families.iter().any(same) {
            families.push(n);
        }
    }
    families.len()
}

/// A profile's values that a household or strangers can share, as (comparison, value
/// hash as in its TF key): non-role e-mails, phones, folded serials, addresses and ids.
pub fn keyed_values(p: &Profile) -> Vec<(usize, u64)> {
    let mut keys: Vec<(usize, u64)> = Vec::new();
    keys.extend(
        p.emails
            .iter()
            .filter(|e| !e.role)
            .map(|e| (EMAIL, value_hash(&e.address))),
    );
    keys.extend(p.phones.iter().map(|x| (PHONE, value_hash(&x.e164))));
    keys.extend(p.serials.iter().map(|x| (SERIAL, value_hash(&x.folded))));
    keys.extend(p.addresses.iter().map(|x| (ADDRESS, value_hash(x))));
    keys.extend(p.ids.iter().map(|x| (ID, value_hash(x))));
    keys
}

/// True when a profile holds a value that points to one person (or one household): an
/// e-mail, phone, serial, address or id that strangers do not share, or a date of birth.
pub fn holds_personal_value(p: &Profile, shared: &SharedValues) -> bool {
    !p.dobs.is_empty()
        || keyed_values(p)
            .into_iter()
            .any(|(i, k)| !shared.holds(i, k))
}

/// [`compare`], with agreement on a value that strangers share read as missing.
pub fn compare_with(a: &Profile, b: &Profile, shared: &SharedValues) -> Comparison {
    let mut c = compare(a, b);
    for i in 0..N {
        if shared.holds(i, c.tf_keys[i]) {
            c.levels[i] = MISSING;
            c.tf_keys[i] = 0;
        }
    }
    c
}

/// Deterministic hash of a value for term-frequency tables.
pub fn value_hash<T: Hash + ?Sized>(v: &T) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish() | 1
}

/// Compares two profiles.
pub fn compare(a: &Profile, b: &Profile) -> Comparison {
    let mut c = Comparison {
        levels: [MISSING; N],
        tf_keys: [0; N],
    };
    compare_names(&a.names, &b.names, &mut c);
    best(&mut c, EMAIL, &a.emails, &b.emails, |x, y| {
        if x.address == y.address {
            if x.role {
                (2, 0)
            } else {
                (3, value_hash(&x.address))
            }
        } else if !x.role && !y.role && email_typo(&x.address, &y.address) {
            (1, 0)
        } else {
            (0, 0)
        }
    });
    best(&mut c, PHONE, &a.phones, &b.phones, |x, y| {
        if x.e164 == y.e164 {
            (3, value_hash(&x.e164))
        } else if within_one_edit(&x.e164, &y.e164) {
            // One keystroke: a digit mistyped, two swapped, one dropped or doubled.
            (2, 0)
        } else if x.last7() == y.last7() {
            (1, 0)
        } else {
            (0, 0)
        }
    });
    // Keyed by the folded serial at both exact levels: "C02…" read out as "CO2…" is the
    // same device for term frequencies, strangers and households alike.
    best(&mut c, SERIAL, &a.serials, &b.serials, |x, y| {
        if x.key == y.key {
            (3, value_hash(&x.folded))
        } else if x.folded == y.folded {
            (2, value_hash(&x.folded))
        } else if within_one_edit(&x.folded, &y.folded) {
            (1, 0)
        } else {
            (0, 0)
        }
    });
    best(&mut c, DOB, &a.dobs, &b.dobs, dob_level);
    best(&mut c, ADDRESS, &a.addresses, &b.addresses, |x, y| {
        if x == y {
            return (3, value_hash(x));
        }
        let overlap = token_overlap(x, y);
        let jw = jaro_winkler(x, y);
        if overlap >= 0.8 || jw >= JW_CLOSE {
            (2, 0)
        } else if overlap >= 0.5 || jw >= 0.85 {
            (1, 0)
        } else {
            (0, 0)
        }
    });
    best(&mut c, CITY, &a.cities, &b.cities, |x, y| text_level(x, y));
    best(&mut c, POSTCODE, &a.postcodes, &b.postcodes, |x, y| {
        if x == y {
            (2, value_hash(x))
        } else if within_one_edit(x, y) {
            (1, 0)
        } else {
            (0, 0)
        }
    });
    best(&mut c, ID, &a.ids, &b.ids, |x, y| id_level(x, y));
    best(&mut c, TEXT, &a.texts, &b.texts, |x, y| text_level(x, y));
    if !a.cases.is_empty() && !b.cases.is_empty() {
        c.levels[CASE] = u8::from(a.cases.iter().any(|x| b.cases.binary_search(x).is_ok()));
    }
    c
}

/// Two personal addresses one typo apart. The typo must touch a letter: addresses
/// whose letters agree but whose digits or separators differ (`jroslan68@` /
/// `jroslan67@`, `david.ulzel@` / `davidulzel@`) are how two people with the same name
/// get distinct mailboxes at one provider, so they count as different. Nor may it be
/// the first letter alone: `dsmith@` and `asmith@` are David's and Andrew's
/// initial-and-surname mailboxes far more often than one mistyped address.
pub fn email_typo(x: &str, y: &str) -> bool {
    let other_initial = x.len() == y.len()
        && x.as_bytes().first() != y.as_bytes().first()
        && x.as_bytes().get(1..) == y.as_bytes().get(1..);
    if other_initial {
        return false;
    }
    let decoration = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_alphabetic() && *c != '@')
            .collect()
    };
    let letters = |s: &str| -> String { s.chars().filter(|c| c.is_alphabetic()).collect() };
    within_one_edit(x, y) && (letters(x) != letters(y) || decoration(x) == decoration(y))
}

/// Date-of-birth level: exact, day and month transposed, one component or digit off.
pub fn dob_level(x: &NaiveDate, y: &NaiveDate) -> (u8, u64) {
    if x == y {
        return (4, value_hash(x));
    }
    if x.year() == y.year() && x.month() == y.day() && x.day() == y.month() {
        return (3, 0);
    }
    let same =
        (x.year() == y.year()) as u8 + (x.month() == y.month()) as u8 + (x.day() == y.day()) as u8;
    if same >= 2 || digits_one_edit(x, y) {
        (2, 0)
    } else if (*x - *y).num_days().abs() <= 366 {
        // A date of birth misremembered or mistyped by months: not a typo, but one
        // person's far more often than a date decades away (a father's, a son's).
        (1, 0)
    } else {
        (0, 0)
    }
}

/// The dates written as YYYYMMDD are one edit apart (a typed digit).
fn digits_one_edit(x: &NaiveDate, y: &NaiveDate) -> bool {
    let digits = |d: &NaiveDate| {
        let n = d.year() as u32 * 10_000 + d.month() * 100 + d.day();
        let mut out = [0u8; 8];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = ((n / 10u32.pow(7 - i as u32)) % 10) as u8;
        }
        out
    };
    crate::similarity::one_edit(&digits(x), &digits(y))
}

/// Identifier level: exact, or one edit apart (ids of four characters or more).
pub fn id_level(x: &str, y: &str) -> (u8, u64) {
    if x == y {
        (2, value_hash(x))
    } else if x.len() >= 4 && within_one_edit(x, y) {
        (1, 0)
    } else {
        (0, 0)
    }
}

fn text_level(x: &str, y: &str) -> (u8, u64) {
    if x == y {
        (2, value_hash(x))
    } else if jaro_winkler(x, y) >= JW_NEAR {
        (1, 0)
    } else {
        (0, 0)
    }
}

/// Sets comparison `i` to the best level over all value pairs (MISSING if either is empty).
fn best<T>(c: &mut Comparison, i: usize, xs: &[T], ys: &[T], f: impl Fn(&T, &T) -> (u8, u64)) {
    let mut top: Option<(u8, u64)> = None;
    for x in xs {
        for y in ys {
            let r = f(x, y);
            if top.is_none_or(|t| r.0 > t.0) {
                top = Some(r);
            }
        }
    }
    if let Some((level, key)) = top {
        c.levels[i] = level;
        c.tf_keys[i] = key;
    }
}

/// Share of the smaller token set found in the other.
fn token_overlap(a: &str, b: &str) -> f64 {
    let ta: Vec<&str> = a.split(' ').collect();
    let tb: Vec<&str> = b.split(' ').collect();
    let (small, large) = if ta.len() <= tb.len() {
        (&ta, &tb)
    } else {
        (&tb, &ta)
    };
    let shared = small.iter().filter(|t| large.contains(t)).count();
    shared as f64 / small.len().max(1) as f64
}

/// The parts of a name that a first-name comparison looks at.
#[derive(Clone, Copy)]
struct GivenName<'a> {
    name: &'a str,
    phonetic: &'a str,
    groups: &'a [u16],
}

/// First-name level of two names' first names.
pub fn first_name_level(a: &PersonName, b: &PersonName) -> (u8, u64) {
    given_level(
        GivenName {
            name: &a.first,
            phonetic: &a.first_phonetic,
            groups: &a.first_groups,
        },
        GivenName {
            name: &b.first,
            phonetic: &b.first_phonetic,
            groups: &b.first_groups,
        },
    )
}

fn given_level(a: GivenName, b: GivenName) -> (u8, u64) {
    let (x, y) = (a.name, b.name);
    if x == y {
        return (6, value_hash(x));
    }
    // Two names the nickname table knows, with no formal name in common, are two names
    // and not one mistyped: Tommy (Thomas) and Tammy (Tamara) in one household, Mark
    // and Mary. Only unknown spellings get the typo and phonetic levels.
    if !a.groups.is_empty() && !b.groups.is_empty() && !nickname_equivalent(a.groups, b.groups) {
        return (0, 0);
    }
    let jw = jaro_winkler(x, y);
    if x.len() > 1 && y.len() > 1 && jw >= JW_CLOSE {
        (5, 0)
    } else if nickname_equivalent(a.groups, b.groups) {
        (4, 0)
    } else if x.len() > 1 && y.len() > 1 && jw >= JW_NEAR || first_letter_typo(x, y) {
        (3, 0)
    } else if !a.phonetic.is_empty() && a.phonetic == b.phonetic {
        (2, 0)
    } else if (x.len() == 1 || y.len() == 1) && x.as_bytes().first() == y.as_bytes().first() {
        (1, 0)
    } else {
        (0, 0)
    }
}

/// One mistyped letter at the start of a name of five letters or more ("pcott" for
/// "scott", typed in a "ZELMOR, Scott" field): Jaro-Winkler weighs the first letters
/// most, so it misses exactly this typo. Short names are left out: one letter tells
/// Gary from Mary.
fn first_letter_typo(x: &str, y: &str) -> bool {
    x.len() >= 5
        && x.len() == y.len()
        && x.as_bytes()[0] != y.as_bytes()[0]
        && x.as_bytes()[1..] == y.as_bytes()[1..]
}

fn last_name_level(x: &str, y: &str, px: &str, py: &str) -> (u8, u64) {
    if x == y {
        return (4, value_hash(x));
    }
    let jw = jaro_winkler(x, y);
    if jw >= JW_CLOSE {
        (3, 0)
    } else if jw >= JW_NEAR {
        (2, 0)
    } else if !px.is_empty() && px == py {
        (1, 0)
    } else {
        (0, 0)
    }
}

/// Names: best pair of names, each compared as written and with first and last swapped
/// (FEBRL and hand-typed forms swap them); the orientation with more agreement wins.
fn compare_names(xs: &[PersonName], ys: &[PersonName], c: &mut Comparison) {
    // Rank by agreement strength relative to each comparison's top level.
    let rank = |l: u8, top: u8| {
        if l == MISSING {
            0
        } else {
            1 + (l as u32 * 100) / top as u32
        }
    };
    // (score, first-name level and key, last-name level and key)
    type Best = (u32, (u8, u64), (u8, u64));
    let mut best: Option<Best> = None;
    for x in xs {
        for y in ys {
            for swapped in [false, true] {
                if swapped && (y.first.is_empty() || y.last.is_empty()) {
                    continue;
                }
                // y's given name and surname, in the orientation tried.
                let (y_given, y_last, y_last_phonetic) = if swapped {
                    (
                        GivenName {
                            name: &y.last,
                            phonetic: &y.last_phonetic,
                            groups: &[],
                        },
                        &y.first,
                        &y.first_phonetic,
                    )
                } else {
                    (
                        GivenName {
                            name: &y.first,
                            phonetic: &y.first_phonetic,
                            groups: &y.first_groups,
                        },
                        &y.last,
                        &y.last_phonetic,
                    )
                };
                let x_given = GivenName {
                    name: &x.first,
                    phonetic: &x.first_phonetic,
                    groups: &x.first_groups,
                };
                let first = if x.first.is_empty() || y_given.name.is_empty() {
                    (MISSING, 0)
                } else {
                    given_level(x_given, y_given)
                };
                let last = if x.last.is_empty() || y_last.is_empty() {
                    (MISSING, 0)
                } else {
                    last_name_level(&x.last, y_last, &x.last_phonetic, y_last_phonetic)
                };
                // A swap must beat the written order clearly to be taken.
                let score = rank(first.0, 6) + rank(last.0, 4) - u32::from(swapped);
                if best.is_none_or(|b| score > b.0) {
                    best = Some((score, first, last));
                }
            }
        }
    }
    if let Some((_, first, last)) = best {
        (c.levels[FIRST_NAME], c.tf_keys[FIRST_NAME]) = first;
        (c.levels[LAST_NAME], c.tf_keys[LAST_NAME]) = last;
    }
}

/// The values of a profile counted for term frequencies, per comparison.
pub fn tf_values(p: &Profile, mut f: impl FnMut(usize, u64)) {
    for n in &p.names {
        if !n.first.is_empty() {
            f(FIRST_NAME, value_hash(&n.first));
        }
        if !n.last.is_empty() {
            f(LAST_NAME, value_hash(&n.last));
        }
    }
    p.emails
        .iter()
        .filter(|e| !e.role)
        .for_each(|e| f(EMAIL, value_hash(&e.address)));
    p.phones.iter().for_each(|x| f(PHONE, value_hash(&x.e164)));
    p.serials
        .iter()
        .for_each(|x| f(SERIAL, value_hash(&x.folded)));
    p.dobs.iter().for_each(|x| f(DOB, value_hash(x)));
    p.addresses.iter().for_each(|x| f(ADDRESS, value_hash(x)));
    p.cities.iter().for_each(|x| f(CITY, value_hash(x)));
    p.postcodes.iter().for_each(|x| f(POSTCODE, value_hash(x)));
    p.ids.iter().for_each(|x| f(ID, value_hash(x)));
    p.texts.iter().for_each(|x| f(TEXT, value_hash(x)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(name: &str, email: &str) -> Profile {
        let mut p = Profile::default();
        p.names.extend(crate::normalize::parse_full_name(name));
        p.emails.extend(crate::normalize::normalize_email(email));
        p
    }

    fn dataset(profiles: Vec<Profile>) -> crate::record::Dataset {
        crate::record::Dataset {
            profiles,
            ..Default::default()
        }
    }

    #[test]
    fn a_mistyped_first_letter_is_a_near_name_but_one_letter_does_not_make_gary_mary() {
        let n = |s: &str| crate::normalize::parse_full_name(s).unwrap();
        assert!(first_names_compatible(
            &n("Pcott Zelmor"),
            &n("Scott Zelmor")
        ));
        assert!(!first_names_compatible(
            &n("Gary Zelmor"),
            &n("Mary Zelmor")
        ));
        // Two known names, not one mistyped.
        assert!(!first_names_compatible(
            &n("Tommy Dumont"),
            &n("Tammy Dumont")
        ));
        assert!(first_names_compatible(
            &n("Tommy Dumont"),
            &n("Thomas Dumont")
        ));
    }

    #[test]
    fn dates_of_birth_are_levelled_by_how_far_apart_they_are() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let level = |a: &str, b: &str| dob_level(&d(a), &d(b)).0;
        assert_eq!(level("1980-03-07", "1980-03-07"), 4);
        assert_eq!(level("1980-03-07", "1980-07-03"), 3);
        assert_eq!(level("1980-03-07", "1980-03-17"), 2);
        // Months apart: misremembered, not a typo, and not someone else's either.
        assert_eq!(level("1980-03-07", "1979-11-20"), 1);
        // A father's and a son's.
        assert_eq!(level("1956-05-08", "1986-02-20"), 0);
        assert!(!dobs_compatible(&d("1956-05-08"), &d("1986-02-20")));
    }

    #[test]
    fn a_value_four_families_hold_is_no_evidence_a_familys_is() {
        let placeholder = "noemail@noemail.com";
        let strangers = dataset(vec![
            holder("Ann Lee", placeholder),
            holder("Bob Roe", placeholder),
            holder("Cy Day", placeholder),
            holder("Di Eve", placeholder),
        ]);
        let shared = SharedValues::learn(&strangers);
        let c = compare_with(&strangers.profiles[0], &strangers.profiles[1], &shared);
        assert_eq!(c.levels[EMAIL], MISSING);
        assert!(!holds_personal_value(&strangers.profiles[0], &shared));
        // Without the learned set, the same pair agrees exactly.
        let plain = compare(&strangers.profiles[0], &strangers.profiles[1]);
        assert_eq!(plain.levels[EMAIL], lv::EMAIL_EXACT);
        // A family e-mail: four first names, one surname (a typo in it included).
        let family = "thejacksons@gmail.com";
        let family = dataset(vec![
            holder("Ann Jackson", family),
            holder("Bob Jackson", family),
            holder("Cy Jakson", family),
            holder("Di Jackson", family),
        ]);
        let shared = SharedValues::learn(&family);
        let c = compare_with(&family.profiles[0], &family.profiles[1], &shared);
        assert_eq!(c.levels[EMAIL], lv::EMAIL_EXACT);
        assert!(holds_personal_value(&family.profiles[0], &shared));
        // Three families are not yet strangers (a couple with two surnames and a lodger).
        let three = dataset(vec![
            holder("Ann Lee", placeholder),
            holder("Bob Roe", placeholder),
            holder("Cy Day", placeholder),
        ]);
        assert!(SharedValues::learn(&three).counts().is_empty());
    }

    #[test]
    fn relearning_a_night_gives_what_learning_afresh_gives() {
        let (ph, fam) = ("noemail@noemail.com", "thereeds@hotmail.com");
        let mut profiles = vec![
            holder("Ann Lee", ph),
            holder("Bob Roe", ph),
            holder("Cy Day", ph),
            holder("Antoinette Reed", fam),
            holder("Anneliese Reed", fam),
            holder("Robert Smith", "robert.smith@gmail.com"),
        ];
        let with_records = |profiles: Vec<Profile>, of: &[u32]| {
            let mut d = dataset(profiles);
            d.records = of
                .iter()
                .enumerate()
                .map(|(i, &p)| crate::record::Record::bare(0, i as u64 + 2, &format!("r{i}"), p))
                .collect();
            d
        };
        let last = with_records(profiles.clone(), &[0, 1, 2, 3, 4, 5]);
        let before = SharedValues::learn(&last);
        // Tonight a fourth stranger gives the placeholder, and Anneliese's record is gone
        // (her profile stays in the table, without records).
        profiles.push(holder("Di Eve", ph));
        let tonight = with_records(profiles, &[0, 1, 2, 3, 5, 6]);
        let afresh = SharedValues::learn(&tonight);
        let relearned = SharedValues::relearn(&tonight, &before, &last.records_per_profile());
        assert_eq!(relearned.entries(), afresh.entries());
        assert_ne!(
            afresh.entries(),
            before.entries(),
            "the night changed standings"
        );
    }

    #[test]
    fn a_family_mailbox_is_a_households_key_not_a_persons() {
        let family = "thereeds@hotmail.com";
        let d = dataset(vec![
            holder("Antoinette Reed", family),
            holder("Anneliese Reed", family),
        ]);
        let shared = SharedValues::learn(&d);
        let c = compare_with(&d.profiles[0], &d.profiles[1], &shared);
        // Still evidence for the model (the level stays), but not a personal key: the
        // first-name guard applies.
        assert_eq!(c.levels[EMAIL], lv::EMAIL_EXACT);
        assert!(c.evidence().personal_key_agrees);
        assert!(!shared.evidence(&c).personal_key_agrees);
        // One person's mailbox under a nickname and surname-first stays personal.
        let own = "robert.smith@gmail.com";
        let d = dataset(vec![
            holder("Robert Smith", own),
            holder("Bob Smith", own),
            holder("Smith Robert", own),
        ]);
        let shared = SharedValues::learn(&d);
        let c = compare_with(&d.profiles[0], &d.profiles[2], &shared);
        assert!(shared.evidence(&c).personal_key_agrees);
        assert!(shared.household_counts().is_empty());
    }

    #[test]
    fn named_levels_match_their_specs() {
        let name = |i: usize, l: u8| SPECS[i].levels[l as usize];
        assert_eq!(name(FIRST_NAME, lv::FIRST_INITIAL), "initial");
        assert_eq!(name(EMAIL, lv::EMAIL_ONE_TYPO), "one_typo");
        assert_eq!(name(EMAIL, lv::EMAIL_EXACT), "exact");
        assert_eq!(name(PHONE, lv::PHONE_SAME_LAST_7), "same_last_7_digits");
        assert_eq!(name(PHONE, lv::PHONE_ONE_EDIT), "one_edit");
        assert_eq!(name(PHONE, lv::PHONE_EXACT), "exact");
        assert_eq!(
            name(SERIAL, lv::SERIAL_AFTER_CONFUSABLES),
            "exact_after_confusables"
        );
        assert_eq!(name(DOB, lv::DOB_EXACT), "exact");
        assert_eq!(name(ADDRESS, lv::ADDRESS_MOST_TOKENS), "most_tokens");
        assert_eq!(name(ADDRESS, lv::ADDRESS_EXACT), "exact");
        assert_eq!(name(ID, lv::ID_EXACT), "exact");
        assert_eq!(name(CASE, lv::CASE_SHARED), "shared_case_number");
    }
    use crate::normalize::{normalize_email, parse_full_name, PhoneNormalizer};

    fn person(name: &str, email: &str, phone: &str) -> Profile {
        let mut phones = PhoneNormalizer::new(phonenumber::country::Id::US);
        let mut p = Profile {
            names: parse_full_name(name).into_iter().collect(),
            emails: normalize_email(email).into_iter().collect(),
            phones: phones.normalize(phone).into_iter().collect(),
            ..Default::default()
        };
        p.canonicalize();
        p
    }

    #[test]
    fn an_email_typo_touches_a_letter() {
        assert!(email_typo("robert.smith@aol.com", "robert.smiht@aol.com"));
        assert!(email_typo("robert.smith@aol.com", "robert.smth@aol.com"));
        assert!(email_typo("jroslan68@yahoo.com", "jroslan68@yahho.com"));
        // Namesakes' mailboxes at one provider: same letters, other digits or separators.
        assert!(!email_typo("jroslan68@yahoo.com", "jroslan67@yahoo.com"));
        assert!(!email_typo("david.ulzel@aol.com", "davidulzel@aol.com"));
        assert!(!email_typo("robert.smith@aol.com", "robert_smith@aol.com"));
        assert!(!email_typo("robert.smith@aol.com", "bob.smith@aol.com"));
        // Two initials: two people.
        assert!(!email_typo("dsmith@aol.com", "asmith@aol.com"));
    }

    #[test]
    fn levels_of_a_messy_pair() {
        let a = person(
            "SMITH, Robert",
            "rob.smith+shop@gmail.com",
            "(555) 123-4567",
        );
        let b = person("Bob Smith", "robsmith@gmail.com", "555.123.4567");
        let c = compare(&a, &b);
        assert_eq!(
            SPECS[FIRST_NAME].levels[c.levels[FIRST_NAME] as usize],
            "nickname"
        );
        assert_eq!(
            SPECS[LAST_NAME].levels[c.levels[LAST_NAME] as usize],
            "exact"
        );
        assert_eq!(SPECS[EMAIL].levels[c.levels[EMAIL] as usize], "exact");
        assert_eq!(SPECS[PHONE].levels[c.levels[PHONE] as usize], "exact");
        assert_eq!(c.levels[SERIAL], MISSING);
        assert_eq!(c.levels[CASE], MISSING);
    }

    #[test]
    fn swapped_first_and_last_names_agree() {
        let a = person("Kayla Harrington", "", "");
        let b = person("Harrington Kayla", "", "");
        let c = compare(&a, &b);
        assert_eq!((c.levels[FIRST_NAME], c.levels[LAST_NAME]), (6, 4));
    }

    #[test]
    fn role_mailboxes_and_typos_get_their_own_levels() {
        let a = person("Ann Lee", "info@acme.com", "555 123 4567");
        let b = person("Jim Poe", "info@acme.com", "555 123 4568");
        let c = compare(&a, &b);
        assert_eq!(
            SPECS[EMAIL].levels[c.levels[EMAIL] as usize],
            "exact_role_mailbox"
        );
        assert_eq!(SPECS[PHONE].levels[c.levels[PHONE] as usize], "one_edit");
        assert_eq!(
            SPECS[FIRST_NAME].levels[c.levels[FIRST_NAME] as usize],
            "different"
        );
    }
}
