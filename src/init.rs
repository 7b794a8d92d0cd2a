//! `init`: drafts a `resolve.toml` from the exports themselves. Each file is opened the
//! way a run opens it (encoding, delimiter: `export`), a sample of its rows is read, and
//! each column is placed by its name (in several languages) and by its values (e-mail and
//! phone patterns, dates, serial-like codes, unique ids). The record id is a unique,
//! non-empty column; an id column whose values are another file's record ids is a case
//! reference; the phone region comes from which region's numbering plan the phones are
//! valid in (and e-mail domains, country columns); the date order from dates that can be
//! read only one way. Every guess is written as a comment with its reason, and columns it
//! could not place are listed, so the draft runs unedited and is easy to correct.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::config::{FieldKind, SystemKind};
use crate::error::{Error, Result};
use crate::export;
use crate::normalize::{self, DateOrder};

/// Rows read per file to judge its columns.
pub const SAMPLE_ROWS: usize = 2000;

/// Regions whose numbering plans are tried on a file's phone numbers.
const REGIONS: [&str; 24] = [
    "US", "GB", "DE", "FR", "IE", "AU", "CA", "NL", "BE", "ES", "IT", "AT", "CH", "SE", "NO", "DK",
    "FI", "PL", "PT", "NZ", "IN", "BR", "MX", "ZA",
];

/// Header words per field kind (compared after lower-casing and dropping everything but
/// letters and digits), in English, German, French, Spanish, Italian and Dutch.
const NAMES: &[(FieldKind, &[&str])] = &[
    (
        FieldKind::Email,
        &[
            "email",
            "mail",
            "emailaddress",
            "courriel",
            "correo",
            "correoelectronico",
            "posta",
            "epost",
        ],
    ),
    (
        FieldKind::Phone,
        &[
            "phone",
            "tel",
            "telephone",
            "telefon",
            "telefono",
            "telefoon",
            "mobile",
            "mobil",
            "handy",
            "cell",
            "cellphone",
            "portable",
            "callback",
            "fon",
            "phonenumber",
            "telefonnummer",
            "numero",
            "movil",
            "cellulare",
            "gsm",
        ],
    ),
    (
        FieldKind::FirstName,
        &[
            "firstname",
            "first",
            "givenname",
            "forename",
            "vorname",
            "prenom",
            "nombre",
            "voornaam",
            "nome",
        ],
    ),
    (
        FieldKind::LastName,
        &[
            "lastname",
            "last",
            "surname",
            "familyname",
            "nachname",
            "familienname",
            "nom",
            "apellido",
            "apellidos",
            "achternaam",
            "cognome",
        ],
    ),
    (
        FieldKind::FullName,
        &[
            "name",
            "fullname",
            "customer",
            "customername",
            "caller",
            "owner",
            "ownername",
            "kunde",
            "kundenname",
            "client",
            "clientname",
            "contact",
            "contactname",
            "nomcomplet",
            "nombrecompleto",
            "naam",
            "buyer",
            "person",
        ],
    ),
    (
        FieldKind::Serial,
        &[
            "serial",
            "serialnumber",
            "serialno",
            "sn",
            "deviceserial",
            "seriennummer",
            "numerodeserie",
            "imei",
            "assettag",
        ],
    ),
    (
        FieldKind::Address,
        &[
            "address",
            "street",
            "streetaddress",
            "addressline1",
            "addr",
            "strasse",
            "adresse",
            "rue",
            "calle",
            "direccion",
            "indirizzo",
            "straat",
            "shipaddress",
        ],
    ),
    (
        FieldKind::City,
        &[
            "city", "town", "ort", "stadt", "wohnort", "ville", "ciudad", "citta", "plaats",
        ],
    ),
    (
        FieldKind::Postcode,
        &[
            "zip",
            "zipcode",
            "postcode",
            "postalcode",
            "plz",
            "postleitzahl",
            "codepostal",
            "cp",
            "codigopostal",
            "cap",
            "postcodenl",
        ],
    ),
    (
        FieldKind::Dob,
        &[
            "dob",
            "birthdate",
            "dateofbirth",
            "birthday",
            "born",
            "geburtsdatum",
            "geburtstag",
            "datenaissance",
            "fechanacimiento",
            "datanascita",
            "geboortedatum",
        ],
    ),
    (
        FieldKind::Date,
        &[
            "date",
            "opened",
            "openedat",
            "created",
            "createdat",
            "orderdate",
            "purchasedate",
            "datum",
            "erstellt",
            "bestelldatum",
            "dateouverture",
            "fecha",
            "timestamp",
            "claimdate",
            "ticketdate",
        ],
    ),
    (
        FieldKind::Country,
        &[
            "country",
            "countrycode",
            "land",
            "pays",
            "pais",
            "paese",
            "nation",
        ],
    ),
    (
        FieldKind::Note,
        &[
            "subject",
            "description",
            "issue",
            "problem",
            "summary",
            "betreff",
            "anliegen",
            "sujet",
            "objet",
            "asunto",
            "comment",
            "comments",
            "notes",
            "note",
            "items",
        ],
    ),
];

/// Header words of columns holding a case, ticket, claim, order or account number.
const CASE_WORDS: &[&str] = &[
    "case",
    "ticket",
    "claim",
    "order",
    "invoice",
    "account",
    "ref",
    "reference",
    "rma",
    "incident",
    "kundennummer",
    "auftrag",
    "bestellung",
    "rechnung",
    "vorgang",
    "compte",
    "commande",
    "facture",
    "dossier",
    "pedido",
    "factura",
    "caso",
    "number",
    "no",
    "nr",
    "id",
];

/// Words in a file or column name that say what system an export comes from.
const KIND_WORDS: &[(SystemKind, &[&str])] = &[
    (
        SystemKind::Support,
        &[
            "support",
            "ticket",
            "helpdesk",
            "servicedesk",
            "case",
            "caller",
            "callback",
            "incident",
        ],
    ),
    (
        SystemKind::Warranty,
        &[
            "warranty",
            "garantie",
            "gewaehrleistung",
            "claim",
            "rma",
            "garantia",
        ],
    ),
    (
        SystemKind::Billing,
        &[
            "billing",
            "invoice",
            "rechnung",
            "facturation",
            "facture",
            "factura",
            "account",
            "payment",
        ],
    ),
    (
        SystemKind::Shop,
        &[
            "shop",
            "order",
            "orders",
            "webshop",
            "store",
            "bestellung",
            "commande",
            "pedido",
            "ecommerce",
        ],
    ),
];

/// Words in a header that mark a second party (who an order ships to).
const RECIPIENT_WORDS: &[&str] = &[
    "ship",
    "shipto",
    "recipient",
    "deliver",
    "liefer",
    "empfaenger",
    "livraison",
];

fn squash(s: &str) -> String {
    deunicode::deunicode(s)
        .to_lowercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

/// The words of a header: split on anything but letters and digits, and at lower-upper
/// case changes (`customerEmail`).
fn words(s: &str) -> Vec<String> {
    let folded = deunicode::deunicode(s);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in folded.chars() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase();
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// One column and what its name and values say.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    values: Vec<String>,
    filled: usize,
    distinct: usize,
}

impl Column {
    fn share(&self, test: impl Fn(&str) -> bool) -> f64 {
        if self.filled == 0 {
            return 0.0;
        }
        self.values
            .iter()
            .filter(|v| !v.trim().is_empty())
            .filter(|v| test(v))
            .count() as f64
            / self.filled as f64
    }

    fn unique(&self) -> bool {
        self.filled == self.values.len() && self.distinct == self.filled && self.filled > 0
    }
}

/// A placed column: its kind, and why.
#[derive(Debug, Clone)]
struct Placed {
    column: usize,
    kind: FieldKind,
    why: String,
    recipient: bool,
}

/// What `init` found in one export.
#[derive(Debug)]
pub struct Draft {
    pub path: PathBuf,
    pub name: String,
    pub kind: SystemKind,
    kind_why: String,
    pub delimiter: u8,
    encoding: &'static str,
    rows: usize,
    pub record_id: Option<String>,
    record_id_why: String,
    fields: Vec<Placed>,
    case_refs: Vec<(usize, String)>,
    unplaced: Vec<(String, String)>,
    pub region: Option<String>,
    region_why: String,
    pub date_order: Option<DateOrder>,
    date_why: String,
    header: Vec<String>,
}

fn looks_like_email(v: &str) -> bool {
    normalize::normalize_email(v).is_some()
}

fn digits(v: &str) -> usize {
    v.chars().filter(char::is_ascii_digit).count()
}

fn looks_like_phone(v: &str) -> bool {
    let d = digits(v);
    (7..=15).contains(&d)
        && v.chars()
            .all(|c| c.is_ascii_digit() || " +-().//".contains(c) || c == 'x')
        && !looks_like_date(v)
}

fn looks_like_date(v: &str) -> bool {
    normalize::parse_date_in(v, DateOrder::Dmy).is_some()
        || normalize::parse_date_in(v, DateOrder::Mdy).is_some()
}

/// A code with letters and digits mixed, such as a serial or a case number.
fn looks_like_code(v: &str) -> bool {
    let v = v.trim();
    let letters = v.chars().filter(char::is_ascii_alphabetic).count();
    let d = digits(v);
    v.len() >= 5 && v.len() <= 24 && d >= 2 && letters >= 1 && !v.contains(' ') && !v.contains('@')
}

fn looks_like_name(v: &str) -> bool {
    let t: Vec<&str> = v.split_whitespace().collect();
    !t.is_empty() && t.len() <= 5 && v.chars().all(|c| c.is_alphabetic() || " ,.'-".contains(c))
}

/// The kind a header names, if any: exact word first, then a word of it.
fn kind_by_name(header: &str) -> Option<(FieldKind, String)> {
    let sq = squash(header);
    for (kind, names) in NAMES {
        if names.contains(&sq.as_str()) {
            return Some((*kind, format!("its name `{header}`")));
        }
    }
    let ws = words(header);
    // The last word decides ("customer_email" is an e-mail, "email_opt_in" is not).
    for w in ws.iter().rev() {
        for (kind, names) in NAMES {
            if w.len() >= 3 && names.contains(&w.as_str()) {
                return Some((*kind, format!("`{w}` in its name `{header}`")));
            }
        }
    }
    None
}

fn is_case_name(header: &str) -> bool {
    let ws = words(header);
    ws.iter().any(|w| CASE_WORDS.contains(&w.as_str()))
        || CASE_WORDS
            .iter()
            .any(|c| c.len() > 4 && squash(header).contains(c))
}

fn is_recipient(header: &str) -> bool {
    let sq = squash(header);
    RECIPIENT_WORDS.iter().any(|w| sq.contains(w))
}

/// Reads one export and places its columns.
fn read(path: &Path) -> Result<(Vec<Column>, export::Export)> {
    let (_, delimiter) = export::read_header(path, None).map_err(|m| Error::input(path, m))?;
    let ex = export::read_export(path, delimiter)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(ex.delimiter)
        .from_reader(&ex.text[ex.body..]);
    let mut columns: Vec<Column> = ex
        .header
        .iter()
        .map(|h| Column {
            name: h.clone(),
            values: Vec::new(),
            filled: 0,
            distinct: 0,
        })
        .collect();
    let mut row = csv::ByteRecord::new();
    let mut n = 0;
    while n < SAMPLE_ROWS
        && reader
            .read_byte_record(&mut row)
            .map_err(|e| Error::input(path, e.to_string()))?
    {
        if row.iter().all(|f| f.is_empty()) {
            continue;
        }
        n += 1;
        for (i, c) in columns.iter_mut().enumerate() {
            let v = row.get(i).map(|b| export::decode(b).trim().to_string());
            c.values.push(v.unwrap_or_default());
        }
    }
    for c in &mut columns {
        c.filled = c.values.iter().filter(|v| !v.is_empty()).count();
        let set: HashSet<&String> = c.values.iter().filter(|v| !v.is_empty()).collect();
        c.distinct = set.len();
    }
    Ok((columns, ex))
}

/// Places the columns of one export (without the cross-file case references).
fn draft(path: &Path, name: String) -> Result<(Draft, Vec<Column>)> {
    let (columns, ex) = read(path)?;
    let mut fields: Vec<Placed> = Vec::new();
    let mut unplaced = Vec::new();
    let mut taken = vec![false; columns.len()];

    // The record id: a unique, non-empty column, an id-like name first.
    let ids: Vec<usize> = (0..columns.len())
        .filter(|&i| columns[i].unique())
        .collect();
    let record_id = ids
        .iter()
        .copied()
        .find(|&i| is_case_name(&columns[i].name) && !looks_like_email_col(&columns[i]))
        .or_else(|| {
            ids.iter().copied().find(|&i| {
                columns[i].share(looks_like_code) > 0.9
                    || columns[i].share(|v| digits(v) == v.len()) > 0.9
            })
        });
    let record_id_why = match record_id {
        Some(i) => format!(
            "`{}`: unique and filled in all {} rows read",
            columns[i].name,
            columns[i].values.len()
        ),
        None => "no column is unique and filled in every row read: name the row's own id".into(),
    };

    for (i, c) in columns.iter().enumerate() {
        if c.filled == 0 {
            unplaced.push((c.name.clone(), "empty in the rows read".into()));
            continue;
        }
        let email = c.share(looks_like_email);
        let phone = c.share(looks_like_phone);
        let date = c.share(looks_like_date);
        let by_name = kind_by_name(&c.name);
        // Values that are plainly e-mail addresses are e-mails, whatever the name says
        // (`E-Mail-Adresse` ends in the word for address).
        let by_name = match by_name {
            Some((k, _)) if k != FieldKind::Email && email >= 0.8 => Some((
                FieldKind::Email,
                format!("{:.0} % of its values are e-mail addresses", email * 100.0),
            )),
            other => other,
        };
        let placed = match by_name.clone() {
            // The name says; the values must not say otherwise.
            Some((FieldKind::Email, why)) if email >= 0.5 => Some((FieldKind::Email, why)),
            Some((FieldKind::Phone, why)) if phone >= 0.5 || email < 0.5 && date < 0.5 => {
                Some((FieldKind::Phone, why))
            }
            Some((k @ (FieldKind::Dob | FieldKind::Date), why)) if date >= 0.5 => Some((k, why)),
            Some((FieldKind::Email | FieldKind::Phone | FieldKind::Dob | FieldKind::Date, _)) => {
                None
            }
            Some((FieldKind::FullName, _)) if email >= 0.5 || phone >= 0.5 => None,
            Some((FieldKind::Note, _)) if Some(i) == record_id => None,
            Some(k) => Some(k),
            None => None,
        };
        let placed = placed.or_else(|| {
            // The values say.
            if email >= 0.8 {
                Some((
                    FieldKind::Email,
                    format!("{:.0} % of its values are e-mail addresses", email * 100.0),
                ))
            } else if phone >= 0.8 && c.distinct > 1 {
                Some((
                    FieldKind::Phone,
                    format!(
                        "{:.0} % of its values look like phone numbers",
                        phone * 100.0
                    ),
                ))
            } else if date >= 0.8 {
                let birth = c
                    .values
                    .iter()
                    .filter_map(|v| normalize::parse_date(v))
                    .filter(|d| {
                        use chrono::Datelike;
                        d.year() < 2008
                    })
                    .count() as f64
                    / c.filled as f64;
                if birth > 0.9 {
                    Some((
                        FieldKind::Dob,
                        format!("{:.0} % of its values are dates before 2008", birth * 100.0),
                    ))
                } else {
                    Some((
                        FieldKind::Date,
                        format!("{:.0} % of its values are dates", date * 100.0),
                    ))
                }
            } else {
                None
            }
        });
        match placed {
            Some((kind, why)) => {
                taken[i] = true;
                fields.push(Placed {
                    column: i,
                    kind,
                    why,
                    recipient: is_recipient(&c.name)
                        && matches!(
                            kind,
                            FieldKind::FullName
                                | FieldKind::FirstName
                                | FieldKind::LastName
                                | FieldKind::Address
                                | FieldKind::City
                                | FieldKind::Postcode
                                | FieldKind::Phone
                        ),
                });
            }
            None if Some(i) == record_id => taken[i] = true,
            None if c.share(looks_like_code) >= 0.8 && c.distinct * 10 >= c.filled * 5 => {
                // Codes with letters and digits, mostly distinct, and no id-like name: a
                // serial number.
                if !is_case_name(&c.name) {
                    taken[i] = true;
                    fields.push(Placed {
                        column: i,
                        kind: FieldKind::Serial,
                        why: "its values are letter-and-digit codes, mostly distinct".into(),
                        recipient: false,
                    });
                } else {
                    unplaced.push((c.name.clone(), "an id-like column (see case below)".into()));
                }
            }
            None if is_recipient(&c.name) && c.share(looks_like_name) >= 0.8 => {
                taken[i] = true;
                fields.push(Placed {
                    column: i,
                    kind: FieldKind::FullName,
                    why: format!(
                        "its values are names and `{}` names a ship-to party",
                        c.name
                    ),
                    recipient: true,
                });
            }
            None if c.share(looks_like_name) >= 0.8
                && by_name.is_none()
                && c.distinct * 2 >= c.filled =>
            {
                unplaced.push((
                    c.name.clone(),
                    "its values look like names, but its header names no person: map it as full_name if it is the customer's".into(),
                ));
            }
            None => unplaced.push((
                c.name.clone(),
                match kind_by_name(&c.name) {
                    Some((k, _)) => format!("its name says {k}, its values do not"),
                    None => "neither its name nor its values say what it is".into(),
                },
            )),
        }
    }
    // No column is named as a person's name: one whose values look like full names
    // (mostly two or more words of letters, mostly distinct) is taken as the name.
    let named = fields.iter().any(|f| {
        !f.recipient
            && matches!(
                f.kind,
                FieldKind::FullName | FieldKind::FirstName | FieldKind::LastName
            )
    });
    if !named {
        let people: Vec<usize> = (0..columns.len())
            .filter(|&i| !taken[i] && Some(i) != record_id)
            .filter(|&i| {
                let c = &columns[i];
                let multi = c.share(|v| v.split_whitespace().count() >= 2 || v.contains(','));
                c.share(looks_like_name) >= 0.8 && multi >= 0.6 && c.distinct * 2 >= c.filled
            })
            .collect();
        if let [i] = people[..] {
            taken[i] = true;
            unplaced.retain(|(n, _)| n != &columns[i].name);
            fields.push(Placed {
                column: i,
                kind: FieldKind::FullName,
                why: format!(
                    "no column is named as a name, and {:.0} % of `{}`'s values look like people's full names",
                    columns[i].share(looks_like_name) * 100.0,
                    columns[i].name
                ),
                recipient: false,
            });
        }
    }
    // Ship-to columns with no ship-to name cannot tell a gift: they are the buyer's.
    if !fields.iter().any(|f| {
        f.recipient
            && matches!(
                f.kind,
                FieldKind::FullName | FieldKind::FirstName | FieldKind::LastName
            )
    }) {
        for f in &mut fields {
            f.recipient = false;
        }
    }
    // One name kind: full_name and first/last together only when they are the recipient's.
    let has_parts = fields
        .iter()
        .any(|f| !f.recipient && matches!(f.kind, FieldKind::FirstName | FieldKind::LastName));
    if has_parts {
        let (drop, keep): (Vec<Placed>, Vec<Placed>) = fields
            .into_iter()
            .partition(|f| !f.recipient && f.kind == FieldKind::FullName);
        fields = keep;
        for f in drop {
            unplaced.push((
                columns[f.column].name.clone(),
                "another name column: first and last name are mapped".into(),
            ));
        }
    }

    // What system: the file name, then the column names.
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let find_kind = |text: &str| -> Option<(SystemKind, String)> {
        let sq = squash(text);
        KIND_WORDS.iter().find_map(|(k, ws)| {
            ws.iter()
                .find(|w| sq.contains(**w))
                .map(|w| (*k, w.to_string()))
        })
    };
    let (kind, kind_why) = match find_kind(&stem) {
        Some((k, w)) => (k, format!("`{w}` in the file name")),
        None => match record_id.and_then(|i| find_kind(&columns[i].name)) {
            Some((k, w)) => (k, format!("`{w}` in the record id's name")),
            None => (
                SystemKind::Other,
                "neither the file name nor the id column says".into(),
            ),
        },
    };

    // Phone region: the plan most of the phones are valid in.
    let phones: Vec<&str> = fields
        .iter()
        .filter(|f| f.kind == FieldKind::Phone)
        .flat_map(|f| columns[f.column].values.iter().map(String::as_str))
        .filter(|v| !v.is_empty())
        .take(400)
        .collect();
    // Evidence per region: phones valid in its numbering plan, e-mail domains of its
    // country (three votes each), and a country column's values (three votes each).
    let national: Vec<&str> = phones
        .iter()
        .copied()
        .filter(|p| !p.trim_start().starts_with('+'))
        .collect();
    let mut votes: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for r in REGIONS {
        let region = normalize::phone::parse_region(r).expect("known region");
        let n = national
            .iter()
            .filter(|p| normalize::phone::is_valid_in(p, region))
            .count();
        if n > 0 {
            votes.entry(r.to_string()).or_default().0 = n;
        }
    }
    for f in fields.iter().filter(|f| f.kind == FieldKind::Email) {
        for v in columns[f.column].values.iter().take(2000) {
            if let Some(t) = v
                .rsplit('.')
                .next()
                .filter(|t| t.len() == 2 && v.contains('@'))
            {
                let t = if t.eq_ignore_ascii_case("uk") {
                    "GB".to_string()
                } else {
                    t.to_ascii_uppercase()
                };
                if normalize::phone::parse_region(&t).is_some() {
                    votes.entry(t).or_default().1 += 1;
                }
            }
        }
    }
    for f in fields.iter().filter(|f| f.kind == FieldKind::Country) {
        for v in columns[f.column].values.iter().take(2000) {
            if let Some(r) = normalize::parse_country(v) {
                votes.entry(r.as_ref().to_string()).or_default().2 += 1;
            }
        }
    }
    let best = votes
        .iter()
        .map(|(r, (p, e, c))| (p + 3 * e + 3 * c, r, (p, e, c)))
        // On a tie (the NANP countries share +1) the region listed first.
        .max_by_key(|(score, r, _)| {
            let listed = REGIONS.iter().position(|x| x == r).unwrap_or(REGIONS.len());
            (*score, std::cmp::Reverse(listed))
        });
    let (region, region_why) = match best {
        Some((score, r, (p, e, c))) if score >= 3 => {
            let mut why = Vec::new();
            if *p > 0 {
                why.push(format!(
                    "{p} of {} phone numbers without a country code are valid in {r}",
                    national.len()
                ));
            }
            if *e > 0 {
                why.push(format!(
                    "{e} e-mail addresses end in .{}",
                    if r == "GB" {
                        "uk".to_string()
                    } else {
                        r.to_lowercase()
                    }
                ));
            }
            if *c > 0 {
                why.push(format!("{c} rows name the country {r}"));
            }
            (Some(r.clone()), why.join("; "))
        }
        _ => (
            None,
            "the phones and e-mails do not say (default_region applies)".into(),
        ),
    };

    // Date order: dates that only one order can read.
    let mut dmy = 0;
    let mut mdy = 0;
    for f in fields
        .iter()
        .filter(|f| matches!(f.kind, FieldKind::Dob | FieldKind::Date))
    {
        for v in &columns[f.column].values {
            match day_or_month_first(v) {
                Some(DateOrder::Dmy) => dmy += 1,
                Some(DateOrder::Mdy) => mdy += 1,
                _ => {}
            }
        }
    }
    let (date_order, date_why) = if dmy > 0 && mdy == 0 {
        (
            Some(DateOrder::Dmy),
            format!("{dmy} dates read only day first (such as 25/03)"),
        )
    } else if mdy > 0 && dmy == 0 {
        (
            Some(DateOrder::Mdy),
            format!("{mdy} dates read only month first (such as 03/25)"),
        )
    } else if dmy > 0 && mdy > 0 {
        (None, format!("{dmy} dates read only day first and {mdy} only month first: set date_order by hand"))
    } else {
        (None, String::new())
    };

    let d = Draft {
        path: path.to_path_buf(),
        name,
        kind,
        kind_why,
        delimiter: ex.delimiter,
        encoding: ex.encoding.as_str(),
        rows: columns.first().map_or(0, |c| c.values.len()),
        record_id: record_id.map(|i| columns[i].name.clone()),
        record_id_why,
        fields,
        case_refs: Vec::new(),
        unplaced,
        region,
        region_why,
        date_order,
        date_why,
        header: ex.header.clone(),
    };
    Ok((d, columns))
}

/// The order a date written `a/b/yyyy` (or with `.` or `-`) must be read in, when only
/// one reading is a date: `25/03/2024` is day first, `03/25/2024` month first.
fn day_or_month_first(v: &str) -> Option<DateOrder> {
    let date = v.split([' ', 'T']).next()?;
    let parts: Vec<&str> = date.split(['/', '.', '-']).collect();
    if parts.len() != 3 || parts[2].len() != 4 || parts[0].len() > 2 || parts[1].len() > 2 {
        return None;
    }
    let a: u32 = parts[0].parse().ok()?;
    let b: u32 = parts[1].parse().ok()?;
    match (a, b) {
        (13..=31, 1..=12) => Some(DateOrder::Dmy),
        (1..=12, 13..=31) => Some(DateOrder::Mdy),
        _ => None,
    }
}

fn looks_like_email_col(c: &Column) -> bool {
    c.share(looks_like_email) > 0.5
}

/// Drafts a config for `files`; `base` is the folder the config will live in (paths are
/// written relative to it when they are inside it).
pub fn init(files: &[PathBuf], base: &Path) -> Result<String> {
    if files.is_empty() {
        return Err(Error::Usage("name at least one export".into()));
    }
    let mut drafts = Vec::new();
    let mut all_columns = Vec::new();
    let mut names: HashSet<String> = HashSet::new();
    for f in files {
        let stem = f
            .file_stem()
            .map(|s| s.to_string_lossy().to_lowercase())
            .unwrap_or_else(|| "source".into());
        let mut name: String = stem
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { '_' })
            .collect();
        while !names.insert(name.clone()) {
            name.push('_');
        }
        let (d, cols) = draft(f, name)?;
        drafts.push(d);
        all_columns.push(cols);
    }

    // Record ids of each file, to find columns that cite them.
    let id_sets: Vec<HashSet<String>> = drafts
        .iter()
        .zip(&all_columns)
        .map(|(d, cols)| {
            d.record_id
                .as_ref()
                .and_then(|r| cols.iter().find(|c| &c.name == r))
                .map(|c| {
                    c.values
                        .iter()
                        .filter(|v| !v.is_empty())
                        .map(|v| squash(v))
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    for (i, d) in drafts.iter_mut().enumerate() {
        let placed: HashSet<usize> = d.fields.iter().map(|f| f.column).collect();
        for (ci, c) in all_columns[i].iter().enumerate() {
            if placed.contains(&ci) || Some(&c.name) == d.record_id.as_ref() || c.filled == 0 {
                continue;
            }
            for (j, ids) in id_sets.iter().enumerate() {
                if j == i || ids.is_empty() {
                    continue;
                }
                let hits = c
                    .values
                    .iter()
                    .filter(|v| !v.is_empty() && ids.contains(&squash(v)))
                    .count();
                if hits * 2 >= c.filled && hits > 0 {
                    d.case_refs.push((
                        ci,
                        format!(
                            "{hits} of its {} values are record ids of `{}`",
                            c.filled,
                            files[j].display()
                        ),
                    ));
                    d.unplaced.retain(|(n, _)| n != &c.name);
                    break;
                }
            }
        }
    }
    // A record id is a case number when no other file uses the same ids.
    let own_case: Vec<bool> = (0..drafts.len())
        .map(|i| {
            !id_sets[i].is_empty()
                && id_sets
                    .iter()
                    .enumerate()
                    .all(|(j, other)| j == i || other.is_disjoint(&id_sets[i]))
        })
        .collect();

    // The default region: the most common source region.
    let mut regions: HashMap<&str, usize> = HashMap::new();
    for d in &drafts {
        if let Some(r) = &d.region {
            *regions.entry(r.as_str()).or_default() += 1;
        }
    }
    let mut by: Vec<(&str, usize)> = regions.into_iter().collect();
    by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let default_region = by.first().map_or("US", |(r, _)| r).to_string();

    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Drafted by `idresolve init` from {} export(s). Every guess says why;",
        drafts.len()
    );
    let _ = writeln!(t, "# check the columns listed as not placed, then run:");
    let _ = writeln!(t, "#   idresolve run --config THIS_FILE --out out");
    let _ = writeln!(t, "[normalize]");
    let _ = writeln!(
        t,
        "default_region = {:?}    # {}",
        default_region,
        if by.is_empty() {
            "no export's phones or e-mails named a region".to_string()
        } else {
            "the region most exports' phones are written in".to_string()
        }
    );
    for (i, d) in drafts.iter().enumerate() {
        let cols = &all_columns[i];
        t.push('\n');
        let _ = writeln!(t, "[[source]]");
        let _ = writeln!(t, "name = {:?}", d.name);
        let _ = writeln!(t, "kind = {:?}    # {}", d.kind.as_str(), d.kind_why);
        let _ = writeln!(t, "path = {:?}", relative(&d.path, base));
        let _ = writeln!(
            t,
            "# {} rows read; {} encoded; {} columns",
            d.rows,
            d.encoding,
            d.header.len()
        );
        if d.delimiter != b',' {
            let shown = if d.delimiter == b'\t' {
                "\\t".to_string()
            } else {
                (d.delimiter as char).to_string()
            };
            let _ = writeln!(
                t,
                "delimiter = {shown:?}    # the most frequent separator of the header line"
            );
        }
        match &d.record_id {
            Some(r) => {
                let _ = writeln!(t, "record_id = {r:?}    # {}", d.record_id_why);
            }
            None => {
                let _ = writeln!(t, "# record_id = \"...\"    # {}", d.record_id_why);
                let _ = writeln!(
                    t,
                    "record_id = {:?}    # FIXME: the first column, not unique in the rows read",
                    d.header.first().cloned().unwrap_or_default()
                );
            }
        }
        if let Some(r) = d.region.as_ref().filter(|r| **r != default_region) {
            let _ = writeln!(t, "region = {r:?}    # {}", d.region_why);
        } else if d.region.is_some() {
            let _ = writeln!(t, "# region: {} ({})", default_region, d.region_why);
        }
        let region = d.region.clone().unwrap_or_else(|| default_region.clone());
        match d.date_order {
            Some(o) if o != DateOrder::of_region(&region) => {
                let _ = writeln!(t, "date_order = {:?}    # {}", o.as_str(), d.date_why);
            }
            Some(o) => {
                let _ = writeln!(
                    t,
                    "# date_order: {} ({}), the usual order in {region}",
                    o.as_str(),
                    d.date_why
                );
            }
            None if !d.date_why.is_empty() => {
                let _ = writeln!(t, "# date_order: {}", d.date_why);
            }
            None => {}
        }
        let _ = writeln!(t, "[source.fields]");
        let mut by_kind: BTreeMap<FieldKind, Vec<&Placed>> = BTreeMap::new();
        for f in d
            .fields
            .iter()
            .filter(|f| !f.recipient || !has_buyer_name(d))
        {
            by_kind.entry(f.kind).or_default().push(f);
        }
        // The case numbers: the record id when it is one, and the columns citing others.
        let mut case_cols: Vec<(String, String)> = Vec::new();
        if let Some(r) = &d.record_id {
            if own_case[i]
                && cols.iter().find(|c| &c.name == r).is_some_and(|c| {
                    c.share(|v| v.chars().any(|ch| ch.is_ascii_alphabetic())) > 0.5
                        || is_case_name(r)
                })
            {
                case_cols.push((
                    r.clone(),
                    "the record's own number (no other export uses the same ids)".into(),
                ));
            }
        }
        for (ci, why) in &d.case_refs {
            case_cols.push((cols[*ci].name.clone(), why.clone()));
        }
        for (kind, fs) in &by_kind {
            let names: Vec<String> = fs.iter().map(|f| cols[f.column].name.clone()).collect();
            let whys: Vec<String> = fs.iter().map(|f| f.why.clone()).collect();
            let _ = writeln!(
                t,
                "{} = {}    # {}",
                kind.as_str(),
                toml_list(&names),
                whys.join("; ")
            );
        }
        if !case_cols.is_empty() {
            let names: Vec<String> = case_cols.iter().map(|c| c.0.clone()).collect();
            let whys: Vec<String> = case_cols.iter().map(|c| c.1.clone()).collect();
            let _ = writeln!(t, "case = {}    # {}", toml_list(&names), whys.join("; "));
        }
        if has_buyer_name(d) {
            let rec: Vec<&Placed> = d.fields.iter().filter(|f| f.recipient).collect();
            if !rec.is_empty() {
                let _ = writeln!(
                    t,
                    "# Who the row ships to: the buyer's only when the name is the buyer's."
                );
                let _ = writeln!(t, "[source.recipient]");
                let mut by_kind: BTreeMap<FieldKind, Vec<String>> = BTreeMap::new();
                for f in rec {
                    by_kind
                        .entry(f.kind)
                        .or_default()
                        .push(cols[f.column].name.clone());
                }
                for (kind, names) in by_kind {
                    let _ = writeln!(
                        t,
                        "{} = {}    # a ship-to column",
                        kind.as_str(),
                        toml_list(&names)
                    );
                }
            }
        }
        for (name, why) in &d.unplaced {
            let _ = writeln!(t, "# not placed: `{name}`: {why}");
        }
    }
    Ok(t)
}

/// Whether a draft has a buyer name besides the recipient's columns.
fn has_buyer_name(d: &Draft) -> bool {
    d.fields.iter().any(|f| {
        !f.recipient
            && matches!(
                f.kind,
                FieldKind::FullName | FieldKind::FirstName | FieldKind::LastName
            )
    })
}

fn toml_list(names: &[String]) -> String {
    if names.len() == 1 {
        format!("{:?}", names[0])
    } else {
        format!(
            "[{}]",
            names
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// `path` relative to `base` when it lies inside it, else absolute.
fn relative(path: &Path, base: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
    abs.strip_prefix(&base)
        .map(|p| p.to_path_buf())
        .unwrap_or(abs)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_in_several_languages_name_their_kind() {
        for (h, k) in [
            ("E-Mail", FieldKind::Email),
            ("Tel.", FieldKind::Phone),
            ("Telefon", FieldKind::Phone),
            ("Nachname", FieldKind::LastName),
            ("prénom", FieldKind::FirstName),
            ("customer_email", FieldKind::Email),
            ("customerPhone", FieldKind::Phone),
            ("Geburtsdatum", FieldKind::Dob),
            ("PLZ", FieldKind::Postcode),
            ("ship_city", FieldKind::City),
        ] {
            assert_eq!(kind_by_name(h).map(|x| x.0), Some(k), "{h}");
        }
        assert_eq!(kind_by_name("amount"), None);
        assert!(is_case_name("Kundennummer"));
        assert!(is_case_name("support_case_ref"));
        assert!(is_recipient("ship_to"));
    }
}
