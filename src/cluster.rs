//! Clustering: links above the threshold, strongest first, merged with union-find —
//! but a merge is refused when it rests only on contact details a household shares
//! (phone, address, a role mailbox) between clearly different first names, or when the
//! two groups hold conflicting exclusive evidence (different dates of birth, different
//! ids) that the link does not outweigh. This stops the chaining that plain connected
//! components suffers (A~B through a household phone, B~C, so A=C).
//!
//! Nodes are profiles. A profile's records end up together when the profile links to
//! anything (itself included: twelve identical tickets are one customer when their shared
//! values are strong enough on their own); otherwise each record stands alone.

// FxHash: the keys are value hashes, small ids or short strings; SipHash is a
// measured cost here and its DoS resistance buys nothing for a batch job.
use rustc_hash::FxHashMap as HashMap;

use rayon::prelude::*;
use serde::Serialize;

use crate::compare::{self, ContactAgreement, Evidence};
use crate::normalize::PersonName;
use crate::record::{Dataset, Profile, ProfileOrd};

/// A scored candidate pair.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    pub a: ProfileOrd,
    pub b: ProfileOrd,
    pub weight: f32,
    /// What the comparison says, as named facts.
    pub evidence: Evidence,
    /// Scored only because the two records shared a golden ID in the previous run (the
    /// search did not pair them): such a pair may keep a link, but does not count in an
    /// average, so that the same input gives the same clusters with or without
    /// `--previous`.
    pub carried_only: bool,
}

/// A link that joined two groups: the reason two records share a golden ID.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Link {
    pub a: ProfileOrd,
    pub b: ProfileOrd,
    pub weight: f32,
}

#[derive(Debug, Default, Clone, Serialize, serde::Deserialize)]
pub struct ClusterStats {
    pub edges_above_threshold: u64,
    pub merges: u64,
    pub refused_different_first_names: u64,
    pub refused_household_contact_only: u64,
    pub household_phones: u64,
    pub household_addresses: u64,
    /// Family mailboxes and shared devices: held by people of one household, so no
    /// longer a key of one person.
    #[serde(default)]
    pub household_emails: u64,
    #[serde(default)]
    pub household_serials: u64,
    pub refused_conflicting_dob: u64,
    pub refused_conflicting_id: u64,
    /// Links refused because the two groups they would join score below the threshold
    /// on average over all their scored pairs (see `Groups::merge`).
    #[serde(default)]
    pub refused_weak_bridge: u64,
    /// Links on a name alone refused because the two groups hold personal keys of one
    /// kind and share none (see `keys_disagree`).
    #[serde(default)]
    pub refused_no_key_in_common: u64,
    /// Merges refused by a steward's `unlink` (`overrides.csv`).
    #[serde(default)]
    pub refused_override: u64,
    /// Links refused because one side is a profile with nothing personal in it (see
    /// [`cluster`]).
    #[serde(default)]
    pub refused_impersonal_profile: u64,
    /// Profiles left alone by the pairwise pass that joined the one customer holding
    /// their personal keys (see `attach_by_unique_keys`).
    #[serde(default)]
    pub attached_by_unique_key: u64,
    /// Scored pairs below the threshold raised to it because the two records shared a
    /// golden ID in the previous run (`--previous`) and no evidence is against it.
    pub links_kept_from_previous: u64,
}

/// What clustering did with one scored edge: the cause `evaluate` reports for a missed
/// pair, and the `decision` column of `pairs.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Decision {
    #[default]
    BelowThreshold,
    Linked,
    /// Above the threshold between profiles already joined through other links.
    AlreadyTogether,
    RefusedImpersonal,
    RefusedHousehold,
    RefusedFirstNames,
    RefusedDob,
    RefusedId,
    /// Above the threshold, but the groups it would join score below it on average.
    RefusedWeakBridge,
    /// Above the threshold on a name (no key, phone or address in common), between two
    /// groups whose e-mails, phones or serials of one kind share none: namesakes.
    RefusedNoKeyInCommon,
    /// A steward's `unlink` (`overrides.csv`) keeps two of the records apart.
    RefusedOverride,
}

impl Decision {
    /// Every decision, in discriminant order (`decision as u8` indexes it).
    const ALL: [Decision; 11] = [
        Decision::BelowThreshold,
        Decision::Linked,
        Decision::AlreadyTogether,
        Decision::RefusedImpersonal,
        Decision::RefusedHousehold,
        Decision::RefusedFirstNames,
        Decision::RefusedDob,
        Decision::RefusedId,
        Decision::RefusedWeakBridge,
        Decision::RefusedNoKeyInCommon,
        Decision::RefusedOverride,
    ];

    /// The decision `d as u8` was (the incremental state saves it so).
    pub fn from_u8(n: u8) -> Option<Decision> {
        Self::ALL.get(n as usize).copied().filter(|d| *d as u8 == n)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::BelowThreshold => "below threshold",
            Decision::Linked => "linked",
            Decision::AlreadyTogether => "already together",
            Decision::RefusedImpersonal => "refused: nothing personal",
            Decision::RefusedHousehold => "refused: household contact only",
            Decision::RefusedFirstNames => "refused: different first names",
            Decision::RefusedDob => "refused: conflicting dob",
            Decision::RefusedId => "refused: conflicting id",
            Decision::RefusedWeakBridge => "refused: weak on average",
            Decision::RefusedNoKeyInCommon => "refused: no key in common",
            Decision::RefusedOverride => "refused: steward unlink",
        }
    }
}

/// Result of clustering profiles.
#[derive(Debug, Default)]
pub struct Clustering {
    /// Root profile of each profile's group.
    pub group: Vec<ProfileOrd>,
    /// Whether a profile's records belong together (it linked to something or itself).
    pub linked: Vec<bool>,
    /// Strongest accepted link weight touching each profile (NaN when none).
    pub best_weight: Vec<f32>,
    pub links: Vec<Link>,
    /// What happened to each edge, in edge order.
    pub decisions: Vec<Decision>,
    pub stats: ClusterStats,
    /// Per cannot-link constraint (`overrides.csv` unlink): whether it refused a merge.
    pub constrained: Vec<bool>,
}

/// A steward's `unlink` as clustering reads it: (its index, one profile, the other).
pub type CannotLink = (usize, ProfileOrd, ProfileOrd);

/// What clustering must respect beyond the edges: what conflicts cost, and the pairs
/// of profiles that must stay apart.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rules<'a> {
    pub penalties: ConflictPenalties,
    pub cannot_link: &'a [CannotLink],
}

/// What a conflict costs a merge: the evidence that disagreement on the field carries in
/// the model (bits, ≥ 0). See [`crate::model::Model::disagreement_penalty`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ConflictPenalties {
    pub dob: f64,
    pub id: f64,
}

/// Upper bound of exclusive values tracked per group: enough for typos, bounded memory.
const MAX_TRACKED_VALUES: usize = 16;

/// A group's exclusive values, borrowed from its profiles.
struct Group<'a> {
    dobs: Vec<chrono::NaiveDate>,
    ids: Vec<&'a compact_str::CompactString>,
    firsts: Vec<&'a PersonName>,
    /// Personal e-mails, phones and serials (see [`personal_keys`]).
    keys: Vec<(usize, u64)>,
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        parent[x as usize] = parent[parent[x as usize] as usize];
        x = parent[x as usize];
    }
    x
}

use compare::first_names_compatible;

/// Clusters profiles from scored edges; `self_weight[p]` is the weight of profile p
/// compared with itself (used for profiles with several records). `impersonal[p]` marks
/// a profile with nothing personal in it (a name, a city, and contact details strangers
/// share: "Jane Doe", `noemail@noemail.com`): a name alone does not say who someone is,
/// so it links to nothing and its records stay apart.
pub fn cluster(
    data: &Dataset,
    edges: &[Edge],
    self_weight: &[f32],
    impersonal: &[bool],
    shared: &compare::SharedValues,
    threshold_weight: f64,
    rules: Rules,
) -> Clustering {
    let Rules {
        penalties,
        cannot_link,
    } = rules;
    let mut c = Clustering {
        constrained: vec![
            false;
            cannot_link
                .iter()
                .map(|&(i, _, _)| i + 1)
                .max()
                .unwrap_or(0)
        ],
        group: Vec::new(),
        linked: self_weight
            .iter()
            .map(|&w| w as f64 >= threshold_weight)
            .collect(),
        best_weight: self_weight
            .iter()
            .map(|&w| {
                if w as f64 >= threshold_weight {
                    w
                } else {
                    f32::NAN
                }
            })
            .collect(),
        links: Vec::new(),
        decisions: vec![Decision::BelowThreshold; edges.len()],
        stats: ClusterStats::default(),
    };
    let households = Households::of(data, shared);
    c.stats.household_phones = shared.household_values(compare::PHONE);
    c.stats.household_addresses = shared.household_values(compare::ADDRESS);
    c.stats.household_emails = shared.household_values(compare::EMAIL);
    c.stats.household_serials = shared.household_values(compare::SERIAL);
    // Each profile's personal keys, for the no-key-in-common guard and attachment.
    let keys: Vec<Vec<(usize, u64)>> = data
        .profiles
        .par_iter()
        .map(|p| personal_keys(p, shared))
        .collect();
    let mut groups = Groups::new(data, edges, &keys);
    for &(i, a, b) in cannot_link {
        groups.forbid.entry(a).or_default().push((b, i));
        groups.forbid.entry(b).or_default().push((a, i));
    }
    groups.constrained = c.constrained.clone();
    for i in strongest_first(data, edges, threshold_weight) {
        let e = &edges[i];
        c.stats.edges_above_threshold += 1;
        if impersonal[e.a as usize] || impersonal[e.b as usize] {
            c.stats.refused_impersonal_profile += 1;
            c.decisions[i] = Decision::RefusedImpersonal;
            continue;
        }
        if households.only_evidence(e) {
            c.stats.refused_household_contact_only += 1;
            c.decisions[i] = Decision::RefusedHousehold;
            continue;
        }
        // A phone only one person's records hold is that person's key here too.
        let on_key = e.evidence.personal_key_agrees
            || e.evidence.phone == ContactAgreement::Exact && !e.evidence.phone_household;
        let merge = groups.merge(e, on_key, threshold_weight, penalties);
        c.decisions[i] = match &merge {
            Merge::Joined => Decision::Linked,
            Merge::AlreadyTogether => Decision::AlreadyTogether,
            Merge::Refused(Refusal::DifferentFirstNames) => Decision::RefusedFirstNames,
            Merge::Refused(Refusal::ConflictingDob) => Decision::RefusedDob,
            Merge::Refused(Refusal::ConflictingId) => Decision::RefusedId,
            Merge::Refused(Refusal::WeakBridge) => Decision::RefusedWeakBridge,
            Merge::Refused(Refusal::NoKeyInCommon) => Decision::RefusedNoKeyInCommon,
            Merge::Refused(Refusal::Override) => Decision::RefusedOverride,
        };
        match merge {
            Merge::Joined => {
                c.stats.merges += 1;
                c.links.push(Link {
                    a: e.a,
                    b: e.b,
                    weight: e.weight,
                });
            }
            Merge::AlreadyTogether => {}
            Merge::Refused(reason) => {
                match reason {
                    Refusal::DifferentFirstNames => c.stats.refused_different_first_names += 1,
                    Refusal::ConflictingDob => c.stats.refused_conflicting_dob += 1,
                    Refusal::ConflictingId => c.stats.refused_conflicting_id += 1,
                    Refusal::WeakBridge => c.stats.refused_weak_bridge += 1,
                    Refusal::NoKeyInCommon => c.stats.refused_no_key_in_common += 1,
                    Refusal::Override => c.stats.refused_override += 1,
                }
                continue;
            }
        }
        for p in [e.a, e.b] {
            c.linked[p as usize] = true;
            let best = &mut c.best_weight[p as usize];
            if best.is_nan() || *best < e.weight {
                *best = e.weight;
            }
        }
    }
    c.stats.attached_by_unique_key =
        attach_by_unique_keys(data, shared, &keys, &mut groups, &mut c);
    c.group = groups.roots();
    c.constrained = std::mem::take(&mut groups.constrained);
    c
}

/// A profile's keys that can point to one person: personal e-mails, phones and serials
/// that neither strangers nor a household share; sorted, each once.
fn personal_keys(p: &Profile, shared: &compare::SharedValues) -> Vec<(usize, u64)> {
    use compare::{EMAIL, PHONE, SERIAL};
    let mut keys = compare::keyed_values(p);
    keys.retain(|&(i, k)| {
        [EMAIL, PHONE, SERIAL].contains(&i) && !shared.holds(i, k) && !shared.household(i, k)
    });
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Record-to-customer evidence, after the pairwise pass: a profile left on its own (a
/// nameless ticket with only a callback number, an order with only an e-mail) joins the
/// one customer that holds its personal keys, when every key it has that anyone else
/// holds is held by that customer alone, and nothing in it (a first name, a date of
/// birth, an id) conflicts. Pairwise, such a record scores a single field against the
/// prior and never links; against the customer's union of keys it is unambiguous.
///
/// A profile none of whose keys anyone else holds (a ticket with a name and nothing
/// else, or a name and a number never seen before) joins the one customer in the data
/// who holds its full name, spelled out, when no other person does: a customer in
/// more than one record, or a record with a personal key of its own, counts as a
/// person holding the name; name-only records do not. A profile holding a value that
/// strangers share (a placeholder) is never attached by name.
///
/// Targets are read before any attachment, so the order of profiles does not matter.
/// Returns how many profiles were attached.
fn attach_by_unique_keys(
    data: &Dataset,
    shared: &compare::SharedValues,
    keys: &[Vec<(usize, u64)>],
    groups: &mut Groups,
    c: &mut Clustering,
) -> u64 {
    let roots = groups.roots();
    let mut size = vec![0u32; roots.len()];
    let mut named = vec![false; roots.len()];
    for (p, &r) in roots.iter().enumerate() {
        size[r as usize] += 1;
        named[r as usize] |= !data.profiles[p].names.is_empty();
    }
    let alone = |p: usize| size[roots[p] as usize] == 1 && !c.linked[p];
    // Holders of each personal key, counted only in customers that have a name: a
    // nameless record alone says nothing about whose a key is.
    let mut owners: HashMap<(usize, u64), Vec<u32>> = HashMap::default();
    let mut name_owners: HashMap<u64, Vec<u32>> = HashMap::default();
    for (p, ks) in keys.iter().enumerate() {
        let r = roots[p];
        if !alone(p) || !ks.is_empty() {
            for k in full_names(&data.profiles[p], false) {
                add_owner(name_owners.entry(k).or_default(), r);
            }
        }
        if alone(p) || !named[r as usize] {
            continue;
        }
        for &k in ks {
            add_owner(owners.entry(k).or_default(), r);
        }
    }
    let targets: Vec<(u32, u32)> = (0..data.profiles.len())
        .filter(|&p| alone(p))
        .filter_map(|p| {
            let mut target = None;
            for k in &keys[p] {
                match owners.get(k).map(Vec::as_slice) {
                    None => {}
                    Some(&[r]) if target.is_none_or(|t| t == r) => target = Some(r),
                    Some(_) => return None,
                }
            }
            if target.is_none() && !holds_strangers_value(&data.profiles[p], shared) {
                let me = roots[p];
                for k in full_names(&data.profiles[p], true) {
                    let others: Vec<u32> = name_owners
                        .get(&k)
                        .map(|o| o.iter().copied().filter(|&r| r != me).collect())
                        .unwrap_or_default();
                    match others.as_slice() {
                        [] => {}
                        &[r] if target.is_none_or(|t| t == r) => target = Some(r),
                        _ => return None,
                    }
                }
            }
            target.map(|t| (p as u32, t))
        })
        .collect();
    let mut attached = 0;
    for (p, target) in targets {
        if groups.attach(p, target) {
            c.linked[p as usize] = true;
            attached += 1;
        }
    }
    attached
}

fn add_owner(owners: &mut Vec<u32>, root: u32) {
    if !owners.contains(&root) {
        owners.push(root);
    }
}

/// Keys of a profile's full names with a spelled-out first name: the name as written
/// ("first last") and each nickname group of the first name with the surname (Matt
/// Davidson is Matthew Davidson's); with `swapped` also read the other way round (a
/// surname-first ticket).
fn full_names(p: &Profile, swapped: bool) -> Vec<u64> {
    let mut v = Vec::new();
    let mut add = |first: &str, last: &str, groups: &[u16]| {
        v.push(compare::value_hash(&(first, last)));
        v.extend(groups.iter().map(|g| compare::value_hash(&(g, last))));
    };
    for n in &p.names {
        if n.first.chars().count() < 2 || n.last.chars().count() < 2 {
            continue;
        }
        add(&n.first, &n.last, &n.first_groups);
        if swapped {
            add(
                &n.last,
                &n.first,
                &crate::normalize::name::nickname_groups(&n.last),
            );
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// A profile holding a value strangers share (`noemail@noemail.com`, a shop's
/// switchboard): a placeholder record, whose name says nothing either.
fn holds_strangers_value(p: &Profile, shared: &compare::SharedValues) -> bool {
    compare::keyed_values(p)
        .into_iter()
        .any(|(i, k)| shared.holds(i, k))
}

/// Indices of the edges at or above the threshold, strongest first (ties by profile
/// ordinals, so the order does not depend on the thread count).
/// Edges above the threshold, strongest first. Equal weights (a household's members
/// often score alike) are ordered by the records the pair stands for, not by profile
/// ordinals: an incremental run numbers profiles otherwise than a full run, and the
/// same records must meet in the same order.
fn strongest_first(data: &Dataset, edges: &[Edge], threshold_weight: f64) -> Vec<usize> {
    let mut key = vec![u64::MAX; data.profiles.len()];
    for r in &data.records {
        let source = data
            .sources
            .get(r.source as usize)
            .map_or("", String::as_str);
        let h = crate::rows::row_hash([source.as_bytes(), r.record_id.as_bytes()]);
        let k = &mut key[r.profile as usize];
        *k = (*k).min(h);
    }
    let pair = |e: &Edge| {
        let (x, y) = (key[e.a as usize], key[e.b as usize]);
        (x.min(y), x.max(y))
    };
    let mut strong: Vec<usize> = (0..edges.len())
        .into_par_iter()
        .filter(|&i| edges[i].weight as f64 >= threshold_weight)
        .collect();
    strong.par_sort_unstable_by(|&x, &y| {
        let (x, y) = (&edges[x], &edges[y]);
        y.weight
            .total_cmp(&x.weight)
            .then_with(|| pair(x).cmp(&pair(y)))
            .then(x.a.cmp(&y.a))
            .then(x.b.cmp(&y.b))
    });
    strong
}

/// Which profiles hold a contact detail households share (learned in
/// [`compare::SharedValues`]; whether an edge's exact agreement is on one is in its
/// [`Evidence`]).
struct Households {
    holds_phone: Vec<bool>,
    holds_address: Vec<bool>,
}

impl Households {
    fn of(data: &Dataset, shared: &compare::SharedValues) -> Households {
        let holds = |i: usize, values: fn(&Profile) -> Vec<u64>| -> Vec<bool> {
            data.profiles
                .par_iter()
                .map(|p| values(p).iter().any(|&k| shared.household(i, k)))
                .collect()
        };
        let holds_phone = holds(compare::PHONE, |p| {
            p.phones
                .iter()
                .map(|x| compare::value_hash(&x.e164))
                .collect()
        });
        let holds_address = holds(compare::ADDRESS, |p| {
            p.addresses.iter().map(compare::value_hash).collect()
        });
        Households {
            holds_phone,
            holds_address,
        }
    }

    /// Household evidence alone (a phone or address that people with different first
    /// names share, plus the surname) links a household, not a person. An initial does
    /// not tell household members apart (J. is James and John); a typo'd personal
    /// e-mail does.
    fn only_evidence(&self, e: &Edge) -> bool {
        let ev = &e.evidence;
        let person_evidence =
            ev.personal_key_agrees || ev.personal_email_typo || ev.first_names_beyond_initial;
        if person_evidence {
            return false;
        }
        // A phone or address one keystroke from a household's counts as the household's:
        // a nameless ticket whose callback number has a typo is no more one person's.
        let near = |held: &[bool]| held[e.a as usize] || held[e.b as usize];
        (match ev.phone {
            ContactAgreement::Exact => ev.phone_household,
            ContactAgreement::Near => near(&self.holds_phone),
            ContactAgreement::None => false,
        }) || match ev.address {
            ContactAgreement::Exact => ev.address_household,
            ContactAgreement::Near => near(&self.holds_address),
            ContactAgreement::None => false,
        }
    }
}

enum Refusal {
    DifferentFirstNames,
    ConflictingDob,
    ConflictingId,
    WeakBridge,
    NoKeyInCommon,
    /// The merge would join the two sides of a cannot-link constraint.
    Override,
}

enum Merge {
    Joined,
    AlreadyTogether,
    Refused(Refusal),
}

/// Union-find over profiles, with the exclusive values each group holds, its members,
/// and every scored pair of each profile (for the average-linkage check).
struct Groups<'a> {
    /// Cannot-link constraints of each group's root: (a profile the group must not
    /// join, the constraint's index). Empty without overrides.
    forbid: rustc_hash::FxHashMap<u32, Vec<(u32, usize)>>,
    /// Per constraint: whether it refused a merge or an attachment.
    constrained: Vec<bool>,
    parent: Vec<u32>,
    /// The values of each root's group, made when the group first meets another
    /// (most profiles never do: made up front, they were ~0.2 GB at 1M records).
    values: Vec<Option<Box<Group<'a>>>>,
    /// Each root's profiles; empty for a root that is still a group of its own.
    members: Vec<Vec<u32>>,
    scored: Scored<'a>,
    profiles: &'a [Profile],
    /// Each profile's [`personal_keys`].
    keys: &'a [Vec<(usize, u64)>],
}

/// Every scored pair by profile, both directions (compressed rows of edge positions:
/// 4 bytes an entry instead of a copy of the other profile and the weight, which at 10M
/// records was ~1 GB more).
struct Scored<'e> {
    start: Vec<u32>,
    edge: Vec<u32>,
    edges: &'e [Edge],
}

impl<'e> Scored<'e> {
    fn of(n: usize, edges: &'e [Edge]) -> Scored<'e> {
        let mut start = vec![0u32; n + 1];
        let counted = || edges.iter().enumerate().filter(|(_, e)| !e.carried_only);
        for (_, e) in counted() {
            start[e.a as usize + 1] += 1;
            start[e.b as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut edge = vec![0u32; start[n] as usize];
        for (i, e) in counted() {
            for p in [e.a, e.b] {
                edge[fill[p as usize] as usize] = i as u32;
                fill[p as usize] += 1;
            }
        }
        Scored { start, edge, edges }
    }

    /// The profiles scored against `p`, with the pair's weight.
    fn of_profile(&self, p: u32) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.edge[self.start[p as usize] as usize..self.start[p as usize + 1] as usize]
            .iter()
            .map(move |&i| {
                let e = &self.edges[i as usize];
                (if e.a == p { e.b } else { e.a }, e.weight)
            })
    }
}

impl<'a> Groups<'a> {
    /// `keys[p]`: profile p's [`personal_keys`].
    fn new(data: &'a Dataset, edges: &'a [Edge], keys: &'a [Vec<(usize, u64)>]) -> Groups<'a> {
        let n = data.profiles.len();
        Groups {
            forbid: Default::default(),
            constrained: Vec::new(),
            members: vec![Vec::new(); n],
            scored: Scored::of(n, edges),
            parent: (0..n as u32).collect(),
            values: std::iter::repeat_with(|| None).take(n).collect(),
            profiles: &data.profiles,
            keys,
        }
    }

    /// The values of roots `ra` and `rb`, made for a root still on its own.
    fn pair(&mut self, ra: u32, rb: u32) -> (&Group<'a>, &Group<'a>) {
        for r in [ra, rb] {
            if self.values[r as usize].is_none() {
                // A root without values has never been joined: it is its own profile.
                let p = &self.profiles[r as usize];
                self.values[r as usize] = Some(Box::new(Group {
                    dobs: p.dobs.iter().take(MAX_TRACKED_VALUES).copied().collect(),
                    ids: p.ids.iter().take(MAX_TRACKED_VALUES).collect(),
                    firsts: first_names(p),
                    keys: self.keys[r as usize].clone(),
                }));
            }
        }
        match (&self.values[ra as usize], &self.values[rb as usize]) {
            (Some(a), Some(b)) => (a, b),
            _ => unreachable!("made above"),
        }
    }

    /// Root `r`'s profiles (itself while it is on its own).
    fn members_of<'m>(members: &'m [Vec<u32>], r: &'m u32) -> &'m [u32] {
        match &members[*r as usize] {
            m if m.is_empty() => std::slice::from_ref(r),
            m => m,
        }
    }

    /// Joins the groups of an edge's profiles unless a guard refuses: clearly different
    /// first names with no personal key (a household or an office), or conflicting
    /// dates of birth or ids that the link's weight does not pay for.
    /// `on_key`: the link agrees on a value only one person holds (a personal e-mail,
    /// serial, id, date of birth, cited case, or a phone no household shares).
    fn merge(
        &mut self,
        e: &Edge,
        on_key: bool,
        threshold_weight: f64,
        penalties: ConflictPenalties,
    ) -> Merge {
        let (ra, rb) = (find(&mut self.parent, e.a), find(&mut self.parent, e.b));
        if ra == rb {
            return Merge::AlreadyTogether;
        }
        if self.forbidden(ra, rb).is_some() {
            return Merge::Refused(Refusal::Override);
        }
        let (ga, gb) = self.pair(ra, rb);
        if generations_conflict(&ga.firsts, &gb.firsts)
            || !e.evidence.personal_key_agrees && first_names_conflict(&ga.firsts, &gb.firsts)
        {
            return Merge::Refused(Refusal::DifferentFirstNames);
        }
        let dob_conflict = conflicts(&ga.dobs, &gb.dobs, compare::dobs_compatible);
        let id_conflict = conflicts(&ga.ids, &gb.ids, |x, y| compare::ids_compatible(x, y));
        let cost = if dob_conflict { penalties.dob } else { 0.0 }
            + if id_conflict { penalties.id } else { 0.0 };
        if cost > 0.0 && e.weight as f64 - cost < threshold_weight {
            return Merge::Refused(if dob_conflict {
                Refusal::ConflictingDob
            } else {
                Refusal::ConflictingId
            });
        }
        // A link on the name (and city) alone between two groups that each hold their
        // own e-mails or phones, none in common, joins namesakes: two Viva Rowlands of
        // one town, each with her mailbox, number and street. A person's second mailbox
        // and number still join through the street they share.
        let contact = e.evidence.personal_email_typo
            || e.evidence.phone != ContactAgreement::None
            || e.evidence.address != ContactAgreement::None;
        if !on_key && !contact && keys_disagree(&ga.keys, &gb.keys) {
            return Merge::Refused(Refusal::NoKeyInCommon);
        }
        if !on_key && self.mean_weight_between(ra, rb) < threshold_weight {
            return Merge::Refused(Refusal::WeakBridge);
        }
        self.join(ra, rb);
        Merge::Joined
    }

    /// Average linkage: the mean weight of all scored pairs between two groups (the
    /// smaller group's pairs are walked, so a merge costs the edges of the smaller side).
    fn mean_weight_between(&mut self, ra: u32, rb: u32) -> f64 {
        let size = |r: u32| Self::members_of(&self.members, &r).len();
        let (small, big) = if size(ra) <= size(rb) {
            (ra, rb)
        } else {
            (rb, ra)
        };
        let (mut sum, mut n) = (0.0f64, 0u32);
        let Groups {
            parent,
            members,
            scored,
            ..
        } = self;
        for &p in Self::members_of(members, &small) {
            for (q, w) in scored.of_profile(p) {
                if find(parent, q) == big {
                    sum += w as f64;
                    n += 1;
                }
            }
        }
        if n == 0 {
            f64::INFINITY
        } else {
            sum / n as f64
        }
    }

    /// Joins profile `p`'s group to group `target` unless their first names, dates of
    /// birth or ids conflict (no link weight pays for a conflict here).
    fn attach(&mut self, p: ProfileOrd, target: ProfileOrd) -> bool {
        let (ra, rb) = (find(&mut self.parent, p), find(&mut self.parent, target));
        if ra == rb || self.forbidden(ra, rb).is_some() {
            return false;
        }
        let (ga, gb) = self.pair(ra, rb);
        if first_names_conflict(&ga.firsts, &gb.firsts)
            || generations_conflict(&ga.firsts, &gb.firsts)
            || conflicts(&ga.dobs, &gb.dobs, compare::dobs_compatible)
            || conflicts(&ga.ids, &gb.ids, |x, y| compare::ids_compatible(x, y))
        {
            return false;
        }
        self.join(ra, rb);
        true
    }

    /// The cannot-link constraint that joining roots `ra` and `rb` would break.
    fn forbidden(&mut self, ra: u32, rb: u32) -> Option<usize> {
        if self.forbid.is_empty() {
            return None;
        }
        let (small, other) = match (self.forbid.get(&ra), self.forbid.get(&rb)) {
            (Some(x), Some(y)) if y.len() < x.len() => (y.clone(), ra),
            (Some(x), _) => (x.clone(), rb),
            (None, Some(y)) => (y.clone(), ra),
            (None, None) => return None,
        };
        let i = small
            .into_iter()
            .find(|&(q, _)| find(&mut self.parent, q) == other)
            .map(|(_, i)| i)?;
        self.constrained[i] = true;
        Some(i)
    }

    /// Unions two roots: the smaller ordinal survives, so the result is order-free.
    fn join(&mut self, ra: u32, rb: u32) {
        let (keep, gone) = if ra < rb { (ra, rb) } else { (rb, ra) };
        if let Some(moved) = self.forbid.remove(&gone) {
            self.forbid.entry(keep).or_default().extend(moved);
        }
        let moved = self.values[gone as usize].take();
        if let (Some(g), Some(m)) = (self.values[keep as usize].as_mut(), moved.map(|m| *m)) {
            merge_values(&mut g.dobs, m.dobs);
            merge_values(&mut g.ids, m.ids);
            merge_values(&mut g.firsts, m.firsts);
            g.keys.extend(m.keys);
            g.keys.sort_unstable();
            g.keys.dedup();
        }
        let moved = match std::mem::take(&mut self.members[gone as usize]) {
            m if m.is_empty() => vec![gone],
            m => m,
        };
        let kept = &mut self.members[keep as usize];
        if kept.is_empty() {
            kept.push(keep);
        }
        kept.extend(moved);
        self.parent[gone as usize] = keep;
    }

    fn roots(&mut self) -> Vec<ProfileOrd> {
        (0..self.parent.len() as u32)
            .map(|p| find(&mut self.parent, p))
            .collect()
    }
}

/// First names of a profile (initials included), for the household check.
fn first_names(p: &Profile) -> Vec<&PersonName> {
    let mut v: Vec<&PersonName> = p
        .names
        .iter()
        .filter(|n| !n.first.is_empty())
        .take(MAX_TRACKED_VALUES)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Two groups whose first names cannot be one person's: no name of one agrees with any
/// of the other (Jen and R), or no *spelled-out* name does (an initial would let a
/// household's "J" join Jennifer's records to Jonathan's).
fn first_names_conflict(a: &[&PersonName], b: &[&PersonName]) -> bool {
    fn spelled<'n>(v: &[&'n PersonName]) -> Vec<&'n PersonName> {
        v.iter()
            .copied()
            .filter(|n| n.first.chars().count() > 1)
            .collect()
    }
    conflicts(a, b, |x, y| first_names_compatible(x, y))
        || conflicts(&spelled(a), &spelled(b), |x, y| {
            first_names_compatible(x, y)
        })
}

/// One group's records call someone Junior and the other's call him Senior (or II and
/// III): two people, whatever else the groups share (a family mailbox, the address,
/// a name written without the suffix elsewhere).
fn generations_conflict(a: &[&PersonName], b: &[&PersonName]) -> bool {
    a.iter().any(|x| {
        !x.generation.is_empty()
            && b.iter()
                .any(|y| !y.generation.is_empty() && y.generation != x.generation)
    })
}

/// Two groups that hold personal keys of a kind both have (e-mails, phones, serials) and
/// share none of them: two people's mailboxes and numbers, not one person's.
fn keys_disagree(a: &[(usize, u64)], b: &[(usize, u64)]) -> bool {
    let both = |kind: usize| a.iter().any(|&(i, _)| i == kind) && b.iter().any(|&(i, _)| i == kind);
    let common = [compare::EMAIL, compare::PHONE, compare::SERIAL]
        .into_iter()
        .any(both);
    // Both sorted (personal_keys, Groups::join): one pass finds a shared key.
    let (mut i, mut j) = (0, 0);
    while common && i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Equal => return false,
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
        }
    }
    common
}

/// Both sides hold values and no value of one agrees with any value of the other.
fn conflicts<T>(a: &[T], b: &[T], agree: impl Fn(&T, &T) -> bool) -> bool {
    !a.is_empty() && !b.is_empty() && !a.iter().any(|x| b.iter().any(|y| agree(x, y)))
}

fn merge_values<T: Ord>(into: &mut Vec<T>, from: Vec<T>) {
    into.extend(from);
    into.sort();
    into.dedup();
    into.truncate(MAX_TRACKED_VALUES);
}

#[cfg(test)]
mod tests {
    //! One test per guard, each on the smallest data where only that guard decides:
    //! switch the guard off and its test fails.
    use super::*;
    use crate::normalize::{parse_date, parse_full_name, PhoneNormalizer};
    use crate::record::Record;

    /// A dataset of one record per profile.
    fn data(profiles: Vec<Profile>) -> Dataset {
        let mut d = Dataset::default();
        d.sources.push("s".into());
        for (i, mut p) in profiles.into_iter().enumerate() {
            p.canonicalize();
            d.profiles.push(p);
            d.records
                .push(Record::bare(0, i as u64 + 2, &i.to_string(), i as u32));
        }
        d
    }

    fn person(name: Option<&str>, phone: Option<&str>) -> Profile {
        let mut p = Profile::default();
        p.names.extend(name.and_then(parse_full_name));
        if let Some(ph) = phone {
            let mut n = PhoneNormalizer::new(phonenumber::country::Id::US);
            p.phones.extend(n.normalize(ph));
        }
        p
    }

    const THRESHOLD: f64 = 10.0;

    fn edge(a: u32, b: u32, weight: f32, evidence: Evidence) -> Edge {
        Edge {
            a,
            b,
            weight,
            evidence,
            carried_only: false,
        }
    }

    /// A link that agrees on a key only one person has.
    fn on_key() -> Evidence {
        Evidence {
            personal_key_agrees: true,
            ..Default::default()
        }
    }

    fn run(d: &Dataset, edges: &[Edge], penalties: ConflictPenalties) -> Clustering {
        let self_weight = vec![f32::NAN; d.profiles.len()];
        cluster(
            d,
            edges,
            &self_weight,
            &vec![false; d.profiles.len()],
            &compare::SharedValues::learn(d),
            THRESHOLD,
            Rules {
                penalties,
                cannot_link: &[],
            },
        )
    }

    #[test]
    fn a_lone_record_joins_the_one_customer_that_holds_its_keys() {
        let (mine, theirs) = ("555 123 4567", "555 987 6543");
        let d = data(vec![
            person(Some("Robert Smith"), Some(mine)),
            person(Some("Bob Smith"), Some(mine)),
            // A nameless ticket with Robert's callback number.
            person(None, Some(mine)),
            // A nameless ticket with a number two different customers hold.
            person(Some("Ann Lee"), Some(theirs)),
            person(Some("Cy Day"), Some(theirs)),
            person(None, Some(theirs)),
        ]);
        let strong = on_key();
        let c = run(
            &d,
            &[
                edge(0, 1, 30.0, strong),
                edge(0, 2, 2.0, Evidence::default()),
            ],
            ConflictPenalties::default(),
        );
        assert_eq!(c.group[2], c.group[0]);
        assert!(c.linked[2]);
        assert_ne!(c.group[5], c.group[3]);
        assert_ne!(c.group[5], c.group[4]);
        assert_eq!(c.stats.attached_by_unique_key, 1);
    }

    #[test]
    fn a_steward_unlink_cuts_the_weakest_link_between_its_two_profiles() {
        let d = data(vec![
            person(Some("Robert Smith"), None),
            person(Some("Robert Smith"), None),
            person(Some("Robert Smith"), None),
            person(Some("Robert Smith"), None),
        ]);
        let strong = on_key();
        // A chain 0 - 1 - 2 - 3 whose weakest link is 1 - 2; the steward says 0 and 3
        // are two people.
        let edges = [
            edge(0, 1, 30.0, strong),
            edge(1, 2, 15.0, strong),
            edge(2, 3, 25.0, strong),
        ];
        let self_weight = vec![f32::NAN; 4];
        let c = cluster(
            &d,
            &edges,
            &self_weight,
            &[false; 4],
            &compare::SharedValues::learn(&d),
            THRESHOLD,
            Rules {
                penalties: ConflictPenalties::default(),
                cannot_link: &[(0, 0, 3)],
            },
        );
        assert_eq!(c.group[0], c.group[1]);
        assert_eq!(c.group[2], c.group[3]);
        assert_ne!(c.group[1], c.group[2]);
        assert_eq!(c.decisions[1], Decision::RefusedOverride);
        assert_eq!(c.constrained, [true]);
        // Without the constraint the chain is one customer.
        let c = run(&d, &edges, ConflictPenalties::default());
        assert_eq!(c.group[0], c.group[3]);
    }

    #[test]
    fn a_lone_name_only_record_joins_the_one_customer_of_that_name() {
        let d = data(vec![
            person(Some("Melissa Jormorros"), Some("555 123 4567")),
            person(Some("Melissa Jormorros"), Some("555 123 4567")),
            // Name-only tickets, one written surname first.
            person(Some("Melissa Jormorros"), None),
            person(Some("Jormorros Melissa"), None),
            // Two people are called Peter Garcia: a name-only ticket is neither's.
            person(Some("Peter Garcia"), Some("555 987 6543")),
            person(Some("Peter Garcia"), Some("555 987 6543")),
            person(Some("Peter Garcia"), Some("555 222 3333")),
            person(Some("Peter Garcia"), None),
        ]);
        let strong = on_key();
        let c = run(
            &d,
            &[edge(0, 1, 30.0, strong), edge(4, 5, 30.0, strong)],
            ConflictPenalties::default(),
        );
        assert_eq!(c.group[2], c.group[0]);
        assert_eq!(c.group[3], c.group[0]);
        assert!(c.group[7] != c.group[4] && c.group[7] != c.group[6]);
    }

    #[test]
    fn junior_and_senior_stay_two_people_whatever_links_them() {
        let d = data(vec![
            person(Some("Donald Brown Sr"), Some("555 123 4567")),
            person(Some("Donald Brown"), Some("555 123 4567")),
            person(Some("Donald Brown Jr"), Some("555 987 6543")),
            person(Some("Donald Brown"), Some("555 987 6543")),
        ]);
        let strong = on_key();
        // The two plain "Donald Brown" records share a family mailbox.
        let c = run(
            &d,
            &[
                edge(0, 1, 30.0, strong),
                edge(2, 3, 30.0, strong),
                edge(1, 3, 25.0, strong),
            ],
            ConflictPenalties::default(),
        );
        assert_ne!(c.group[0], c.group[2]);
        assert_eq!(c.decisions[2], Decision::RefusedFirstNames);
    }

    #[test]
    fn namesakes_with_their_own_keys_stay_apart() {
        let mut d = data(vec![
            person(Some("Viva Rowland"), Some("555 123 4567")),
            person(Some("Viva Rowland"), Some("555 123 4567")),
            person(Some("Viva Rowland"), Some("555 987 6543")),
            person(Some("Viva Rowland"), Some("555 987 6543")),
            // A third group with only an e-mail: no kind in common with the first.
            person(Some("Viva Rowland"), None),
        ]);
        d.profiles[4]
            .emails
            .extend(crate::normalize::normalize_email("viva@aol.com"));
        let strong = on_key();
        let on_name = Evidence {
            first_names_beyond_initial: true,
            ..Default::default()
        };
        let on_street = Evidence {
            address: ContactAgreement::Exact,
            ..on_name
        };
        let c = run(
            &d,
            &[
                edge(0, 1, 30.0, strong),
                edge(2, 3, 30.0, strong),
                edge(1, 2, 20.0, on_name),
                edge(0, 4, 20.0, on_name),
            ],
            ConflictPenalties::default(),
        );
        assert_ne!(c.group[1], c.group[2]);
        assert_eq!(c.decisions[2], Decision::RefusedNoKeyInCommon);
        assert_eq!(c.group[0], c.group[4]);
        // The same street: one person's second number.
        let c = run(
            &d,
            &[
                edge(0, 1, 30.0, strong),
                edge(2, 3, 30.0, strong),
                edge(1, 2, 20.0, on_street),
            ],
            ConflictPenalties::default(),
        );
        assert_eq!(c.group[1], c.group[2]);
    }

    #[test]
    fn a_weak_bridge_between_two_customers_is_refused() {
        // Two Harry Greaves, each with his own phone; a ticket of one scores above the
        // threshold against a record of the other on the name alone, but the two
        // customers' other pairs score far below it.
        let d = data(vec![
            person(Some("Harry Greaves"), Some("555 123 4567")),
            person(Some("Harry Greaves"), Some("555 123 4567")),
            person(Some("Harry Greaves"), Some("555 987 6543")),
            person(Some("Harry Greaves"), Some("555 987 6543")),
        ]);
        let strong = on_key();
        let name_only = Evidence::default();
        let edges = |bridge: Evidence| {
            vec![
                edge(0, 1, 30.0, strong),
                edge(2, 3, 30.0, strong),
                edge(1, 2, 11.0, bridge),
                edge(0, 2, 2.0, name_only),
                edge(0, 3, -3.0, name_only),
                edge(1, 3, 3.0, name_only),
            ]
        };
        // (On the name alone the two would be namesakes with no key in common; with an
        // address in common too, only the average decides.)
        let on_address = Evidence {
            address: ContactAgreement::Exact,
            ..Default::default()
        };
        let c = run(&d, &edges(on_address), ConflictPenalties::default());
        assert_ne!(c.group[1], c.group[2]);
        assert_eq!(c.stats.refused_weak_bridge, 1);
        assert_eq!(c.decisions[2], Decision::RefusedWeakBridge);
        // A bridge on a key of one person's is not weak, whatever the other pairs say.
        let c = run(&d, &edges(strong), ConflictPenalties::default());
        assert_eq!(c.group[1], c.group[2]);
    }

    #[test]
    fn household_guard_keeps_a_nameless_ticket_off_a_shared_phone() {
        let phone = "555 123 4567";
        // Jennifer and Robert share the phone: it is a household's.
        let d = data(vec![
            person(None, Some(phone)),
            person(Some("Robert Smith"), Some(phone)),
            person(Some("Jennifer Smith"), Some(phone)),
        ]);
        let key = compare::value_hash(&d.profiles[1].phones[0].e164);
        // The agreement as scoring reads it: is the phone a household's?
        let ev = |d: &Dataset| Evidence {
            phone: ContactAgreement::Exact,
            phone_household: compare::SharedValues::learn(d).household(compare::PHONE, key),
            ..Default::default()
        };
        let c = run(
            &d,
            &[edge(0, 1, 20.0, ev(&d))],
            ConflictPenalties::default(),
        );
        assert_eq!(c.stats.refused_household_contact_only, 1);
        assert_ne!(c.group[0], c.group[1]);
        // A phone only one person uses is evidence.
        let d = data(vec![
            person(None, Some(phone)),
            person(Some("Robert Smith"), Some(phone)),
        ]);
        let c = run(
            &d,
            &[edge(0, 1, 20.0, ev(&d))],
            ConflictPenalties::default(),
        );
        assert_eq!(c.group[0], c.group[1]);
    }

    #[test]
    fn first_name_guard_keeps_two_people_with_shared_details_apart() {
        let d = data(vec![
            person(Some("Robert Smith"), None),
            person(Some("Jennifer Smith"), None),
        ]);
        let c = run(
            &d,
            &[edge(0, 1, 20.0, Evidence::default())],
            ConflictPenalties::default(),
        );
        assert_eq!(c.stats.refused_different_first_names, 1);
        assert_ne!(c.group[0], c.group[1]);
        // A personal key (the same personal e-mail) outweighs different first names.
        let ev = Evidence {
            personal_key_agrees: true,
            ..Default::default()
        };
        let c = run(&d, &[edge(0, 1, 20.0, ev)], ConflictPenalties::default());
        assert_eq!(c.group[0], c.group[1]);
    }

    fn with_dob(name: &str, dob: &str) -> Profile {
        let mut p = person(Some(name), None);
        p.dobs.extend(parse_date(dob));
        p
    }

    fn with_id(name: &str, id: &str) -> Profile {
        let mut p = person(Some(name), None);
        p.ids.push(id.into());
        p
    }

    #[test]
    fn dob_guard_refuses_a_link_that_does_not_outweigh_the_conflict() {
        let d = data(vec![
            with_dob("Ann Lee", "1980-01-01"),
            with_dob("Ann Lee", "1992-07-15"),
        ]);
        let penalties = ConflictPenalties { dob: 5.0, id: 0.0 };
        let ev = Evidence {
            first_names_beyond_initial: true,
            ..Default::default()
        };
        let c = run(&d, &[edge(0, 1, 12.0, ev)], penalties);
        assert_eq!(c.stats.refused_conflicting_dob, 1);
        assert_ne!(c.group[0], c.group[1]);
        // A link strong enough to pay for the conflict merges.
        let c = run(&d, &[edge(0, 1, 16.0, ev)], penalties);
        assert_eq!(c.group[0], c.group[1]);
        // Dates one digit apart are not a conflict.
        let d = data(vec![
            with_dob("Ann Lee", "1980-01-01"),
            with_dob("Ann Lee", "1980-01-07"),
        ]);
        let c = run(&d, &[edge(0, 1, 12.0, ev)], penalties);
        assert_eq!(c.group[0], c.group[1]);
    }

    #[test]
    fn id_guard_refuses_a_link_that_does_not_outweigh_the_conflict() {
        let d = data(vec![
            with_id("Ann Lee", "AB1234"),
            with_id("Ann Lee", "ZZ9876"),
        ]);
        let penalties = ConflictPenalties { dob: 0.0, id: 5.0 };
        let ev = Evidence {
            first_names_beyond_initial: true,
            ..Default::default()
        };
        let c = run(&d, &[edge(0, 1, 12.0, ev)], penalties);
        assert_eq!(c.stats.refused_conflicting_id, 1);
        assert_ne!(c.group[0], c.group[1]);
        let c = run(&d, &[edge(0, 1, 16.0, ev)], penalties);
        assert_eq!(c.group[0], c.group[1]);
    }
}
