//! The four vendors' exports: each system's columns, formats and quirks, and the
//! config that reads them.

use super::*;

pub(super) struct Writers {
    pub(super) warranty: csv::Writer<BufWriter<File>>,
    pub(super) billing: csv::Writer<BufWriter<File>>,
    pub(super) support: csv::Writer<BufWriter<File>>,
    pub(super) shop: csv::Writer<BufWriter<File>>,
    pub(super) truth: csv::Writer<BufWriter<File>>,
    pub(super) ids: [u64; 4],
    pub(super) out: std::path::PathBuf,
}

impl Writers {
    pub(super) fn new(out: &Path) -> Result<Writers> {
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
                    "ship_to",
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

    pub(super) fn finish(mut self) -> Result<()> {
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

    pub(super) fn next_id(&mut self, source: usize, prefix: &str) -> String {
        self.ids[source] += 1;
        format!("{prefix}{:07}", self.ids[source] * 7 + 1_000_000)
    }

    /// Writes a row, sometimes replaced by junk or made ragged, and its truth.
    pub(super) fn row(
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

pub(super) fn csv_err(path: &Path, e: csv::Error) -> Error {
    Error::io(path, std::io::Error::other(e.to_string()))
}

pub(super) fn warranty_row(
    w: &mut Writers,
    c: &Customer,
    serial: &str,
    cite: Option<String>,
    rng: &mut ChaCha8Rng,
) -> Result<()> {
    let first = title(&given_name(c, rng, false));
    let written = written_last(c, rng);
    let last = written.to_uppercase();
    let name = if rng.gen_bool(0.7) {
        format!("{last}, {first}")
    } else {
        format!("{first} {}", title(&written))
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
        noisy(email_of(c, rng), rng),
        noisy(&format_phone(&phone_digits(c, rng), 0), rng),
        serial,
        format!("{m}/{d}/{y}"),
        cite.unwrap_or_default(),
    ];
    w.row(0, c, fields, rng)
}

pub(super) fn billing_row(w: &mut Writers, c: &Customer, rng: &mut ChaCha8Rng) -> Result<()> {
    let city = c.city_name();
    let zip = if c.country.is_none() && rng.gen_bool(0.3) {
        format!("{}-{:04}", c.zip, rng.gen_range(0..10000))
    } else {
        c.zip.clone()
    };
    // An account at work carries the office's mailbox, switchboard and street.
    let (email, phone, street) = match &c.office {
        Some(o) => (o.email.as_str(), o.phone.as_str(), o.street.as_str()),
        None => (email_of(c, rng), c.phone.as_str(), c.street.as_str()),
    };
    let street = if rng.gen_bool(0.5) {
        STREET_TYPES
            .iter()
            .fold(street.to_string(), |s, (long, short)| {
                s.replace(long, short)
            })
    } else {
        street.to_string()
    };
    // The billing system is old: ASCII only.
    let given = c.folded(&given_name(c, rng, false), rng);
    let first = match c.middle {
        Some(mi) if rng.gen_bool(0.5) => format!("{} {mi}.", title(&given)),
        _ => title(&given),
    };
    let (y, m, d) = c.dob;
    let (oy, om, od) = event_date(rng);
    let id = w.next_id(1, "B");
    let fields = vec![
        id,
        noisy(&first, rng),
        required(&title(&c.folded(&written_last(c, rng), rng)), rng),
        noisy(email, rng),
        noisy(&format_phone(phone, 1 + rng.gen_range(0..2)), rng),
        c.mobile
            .as_deref()
            .map(|m| format_phone(m, 4))
            .unwrap_or_default(),
        noisy(&street, rng),
        city.to_string(),
        zip,
        if rng.gen_bool(P_PLACEHOLDER_DOB) {
            "1900-01-01".to_string()
        } else {
            noisy(&format!("{y}-{m:02}-{d:02}"), rng)
        },
        format!("{od:02}.{om:02}.{oy}"),
    ];
    w.row(1, c, fields, rng)
}

/// The tickets of a customer whose device keeps failing: one subject, each ticket 1 to
/// 10 days after the one before.
#[derive(Default)]
pub(super) struct Episode {
    start: Option<(chrono::NaiveDate, &'static str)>,
    days: i64,
}

pub(super) fn support_row(
    w: &mut Writers,
    c: &Customer,
    case: &str,
    episode: Option<&mut Episode>,
    rng: &mut ChaCha8Rng,
) -> Result<()> {
    let (first, last) = (
        title(&given_name(c, rng, true)),
        title(&written_last(c, rng)),
    );
    let (first, last) = if c.country.is_some() && rng.gen_bool(P_AGENT_FOLDS_ACCENTS) {
        (c.folded(&first, rng), c.folded(&last, rng))
    } else {
        (first, last)
    };
    let name = if rng.gen_bool(P_SURNAME_FIRST) {
        format!("{last} {first}")
    } else {
        format!("{first} {last}")
    };
    let serial = c.serials.choose(rng).cloned().unwrap_or_default();
    let serial = if rng.gen_bool(P_SERIAL_CONFUSION) {
        serial.replace('0', "O").replace('1', "I")
    } else {
        serial
    };
    let (mut y, mut m, mut d) = event_date(rng);
    // The draws are the same with or without an episode, so that every other value of
    // the exports stays as it was.
    let episode_date = |episode: &mut Episode, y: i32, m: u32, d: u32| {
        let drawn = chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        match episode.start {
            None => drawn,
            Some((start, _)) => {
                episode.days += 1 + i64::from(d % 10);
                start + chrono::Duration::days(episode.days)
            }
        }
    };
    let mut episode = episode;
    if let Some(e) = episode.as_deref_mut() {
        use chrono::Datelike;
        let day = episode_date(e, y, m, d);
        (y, m, d) = (day.year(), day.month(), day.day());
    }
    let fields = vec![
        case.to_string(),
        noisy(&name, rng),
        if rng.gen_bool(P_PLACEHOLDER_PHONE) {
            PLACEHOLDER_PHONE.to_string()
        } else {
            required(
                &format_phone(&phone_digits(c, rng), [0, 3, 4][rng.gen_range(0..3)]),
                rng,
            )
        },
        if rng.gen_bool(P_PLACEHOLDER_EMAIL) {
            PLACEHOLDER_EMAILS.choose(rng).unwrap_or(&"").to_string()
        } else if rng.gen_bool(0.4) {
            noisy(email_of(c, rng), rng)
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
        {
            let drawn: &'static str = SUBJECTS.choose(rng).copied().unwrap_or("");
            match episode {
                Some(e) => {
                    let start = e.start.get_or_insert((
                        chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default(),
                        drawn,
                    ));
                    start.1.to_string()
                }
                None => drawn.to_string(),
            }
        },
    ];
    let mut fields = fields;
    if rng.gen_bool(P_PLACEHOLDER_ROW) {
        fields[1] = PLACEHOLDER_NAMES.choose(rng).unwrap_or(&"").to_string();
        fields[2] = PLACEHOLDER_PHONE.to_string();
        fields[3] = PLACEHOLDER_EMAILS[0].to_string();
        fields[4] = String::new();
    } else if rng.gen_bool(P_KEY_ONLY_TICKET) {
        fields[1] = String::new();
    } else if rng.gen_bool(P_NAME_ONLY_TICKET) {
        for f in &mut fields[2..5] {
            f.clear();
        }
    }
    w.row(2, c, fields, rng)
}

/// The street a shop order ships to: usually the customer's, the new one after a move.
fn street_of<'a>(c: &'a Customer, rng: &mut ChaCha8Rng) -> &'a str {
    if rng.gen_bool(P_MOVED) {
        &c.new_street
    } else {
        &c.street
    }
}

/// A shop order by `c`; `recipient` is who it ships to when it is a gift.
pub(super) fn shop_row(
    w: &mut Writers,
    c: &Customer,
    recipient: Option<&Customer>,
    rng: &mut ChaCha8Rng,
) -> Result<()> {
    let name = format!(
        "{} {}",
        title(&given_name(c, rng, true)),
        title(&written_last(c, rng))
    );
    let email = if rng.gen_bool(P_NEW_EMAIL) {
        c.new_email.clone()
    } else {
        email_of(c, rng).to_string()
    };
    let email = match rng.gen_range(0..4) {
        0 => email.replacen('@', "+shop@", 1),
        1 => email.to_uppercase(),
        _ => email,
    };
    let email = if rng.gen_bool(P_PLACEHOLDER_EMAIL) {
        PLACEHOLDER_EMAILS.choose(rng).unwrap_or(&"").to_string()
    } else {
        email
    };
    let to = recipient.unwrap_or(c);
    let ship_to = if recipient.is_some() || rng.gen_bool(0.5) {
        format!("{} {}", title(&given_name(to, rng, true)), title(&to.last))
    } else {
        name.clone()
    };
    let street = if rng.gen_bool(P_PLACEHOLDER_ADDRESS) {
        "123 Test St"
    } else {
        street_of(to, rng)
    };
    let city = to.city_name();
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
        required(&ship_to, rng),
        noisy(street, rng),
        city.to_string(),
        to.zip.clone(),
        format!("{y}{m:02}{d:02}"),
        PRODUCTS.choose(rng).unwrap_or(&"").to_string(),
    ];
    let mut fields = fields;
    if rng.gen_bool(P_PLACEHOLDER_ROW) {
        fields[1] = PLACEHOLDER_NAMES.choose(rng).unwrap_or(&"").to_string();
        fields[2] = PLACEHOLDER_EMAILS[0].to_string();
        fields[3] = PLACEHOLDER_PHONE.to_string();
        fields[4] = fields[1].clone();
        fields[5] = "123 Test St".to_string();
    }
    w.row(3, c, fields, rng)
}

pub(super) fn write_config(out: &Path) -> Result<()> {
    let path = out.join("resolve.toml");
    let mut f = File::create(&path).map_err(|e| Error::io(&path, e))?;
    f.write_all(GENERATED_CONFIG.as_bytes())
        .map_err(|e| Error::io(&path, e))
}

pub(super) const GENERATED_CONFIG: &str = include_str!("resolve.toml");
