//! E-mail addresses: lower case, trimmed, `mailto:` and display names removed,
//! plus-tags dropped (`rob.smith+shop@` → `rob.smith@`), dots removed where the provider
//! ignores them (gmail/googlemail), invalid addresses treated as missing, and role or
//! shared mailboxes (`info@`, `support@` …) flagged so they count as weak evidence.

use super::is_placeholder;
use compact_str::CompactString;

/// A normalized e-mail address.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Email {
    /// `local@domain`, canonical.
    pub address: CompactString,
    /// Length of the local part inside `address`.
    pub local_len: usize,
    /// A role or shared mailbox: evidence of an organisation, not of a person.
    pub role: bool,
}

impl Email {
    pub fn local(&self) -> &str {
        &self.address[..self.local_len]
    }
    pub fn domain(&self) -> &str {
        &self.address[self.local_len + 1..]
    }
}

/// Local parts that name a function, not a person.
const ROLE_LOCAL_PARTS: &[&str] = &[
    "info",
    "support",
    "sales",
    "admin",
    "contact",
    "office",
    "help",
    "helpdesk",
    "billing",
    "service",
    "services",
    "customerservice",
    "noreply",
    "no-reply",
    "team",
    "hello",
    "accounts",
    "accounting",
    "enquiries",
    "inquiries",
    "orders",
    "webmaster",
    "hr",
    "jobs",
    "marketing",
    "postmaster",
    "reception",
    "mail",
    "it",
    "finance",
    "purchasing",
    "shop",
    "store",
];

/// Providers that ignore dots in the local part, and their canonical domain.
const DOTLESS_PROVIDERS: &[(&str, &str)] =
    &[("gmail.com", "gmail.com"), ("googlemail.com", "gmail.com")];

/// Normalizes an e-mail address; `None` for placeholders and invalid addresses.
pub fn normalize_email(raw: &str) -> Option<Email> {
    if is_placeholder(raw) {
        return None;
    }
    let mut s = raw.trim();
    // "Bob Smith <bob@x.com>"
    if let (Some(open), Some(close)) = (s.rfind('<'), s.rfind('>')) {
        if open < close {
            s = &s[open + 1..close];
        }
    }
    let lower = s.trim().to_lowercase();
    let lower = lower.strip_prefix("mailto:").unwrap_or(&lower);
    let (local, domain) = lower.rsplit_once('@')?;
    if local.is_empty() || local.contains('@') || !valid_domain(domain) {
        return None;
    }
    if !local
        .chars()
        .all(|c| c.is_alphanumeric() || "._%+-'!#$&*=?^`{|}~/".contains(c))
    {
        return None;
    }
    let local = local.split('+').next().unwrap_or(local);
    if local.is_empty() {
        return None;
    }
    let (local, domain) = match DOTLESS_PROVIDERS.iter().find(|(d, _)| *d == domain) {
        Some((_, canonical)) => (local.replace('.', ""), *canonical),
        None => (local.to_string(), domain),
    };
    if local.is_empty() {
        return None;
    }
    let role = ROLE_LOCAL_PARTS.contains(&local.as_str());
    Some(Email {
        address: compact_str::format_compact!("{local}@{domain}"),
        local_len: local.len(),
        role,
    })
}

fn valid_domain(domain: &str) -> bool {
    let Some((_, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    tld.len() >= 2
        && domain.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_table() {
        let cases = [
            ("rob.smith+shop@gmail.com", Some("robsmith@gmail.com")),
            ("  Rob.Smith@GoogleMail.com ", Some("robsmith@gmail.com")),
            ("R.Smith@Example.COM", Some("r.smith@example.com")),
            ("bob+billing@example.org", Some("bob@example.org")),
            ("mailto:ann@example.org", Some("ann@example.org")),
            ("Ann Lee <ann.lee@example.org>", Some("ann.lee@example.org")),
            ("josé@exämple.de", Some("josé@exämple.de")),
            ("not an email", None),
            ("bob@", None),
            ("@example.com", None),
            ("bob@localhost", None),
            ("bob@@example.com", None),
            ("bob smith@example.com", None),
            ("N/A", None),
            ("", None),
        ];
        for (raw, want) in cases {
            assert_eq!(
                normalize_email(raw).map(|e| e.address),
                want.map(compact_str::CompactString::from),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn role_mailboxes_are_flagged() {
        assert!(normalize_email("Support@acme.com").unwrap().role);
        assert!(normalize_email("info+x@acme.com").unwrap().role);
        assert!(!normalize_email("robert@acme.com").unwrap().role);
        let e = normalize_email("rob@acme.com").unwrap();
        assert_eq!((e.local(), e.domain()), ("rob", "acme.com"));
    }

    proptest::proptest! {
        #[test]
        fn normalize_email_never_panics(s in "\\PC*") {
            if let Some(e) = normalize_email(&s) {
                proptest::prop_assert!(e.address.contains('@'));
                let _ = (e.local(), e.domain());
            }
        }
    }
}
