//! Personal data rules, free of I/O: what identifies a customer in free
//! text, what erasing them does to each message and audit entry, and the
//! retention policy.
//!
//! Erasure pseudonymises rather than deletes: tickets stay for statistics,
//! linked to a profile that names nobody. What the customer wrote is
//! replaced by [`ERASED`]; what others wrote about them keeps its words but
//! loses the customer's name, addresses, numbers and handles.

use regex::{Regex, RegexBuilder};
use sha2::{Digest, Sha256};
use switchboard_proto::{common::v1::ActorKind, ticket::v1 as pb};
use switchboard_runtime::Violations;

use super::{Identity, message::Message};

/// What replaces erased text.
pub const ERASED: &str = "[erased]";

/// The longest retention period, in days (100 years).
pub const MAX_RETENTION_DAYS: i32 = 36_500;

/// Shortest part of a name redacted on its own: shorter ones ("Al", "Jo")
/// would take ordinary words with them.
const MIN_NAME_PART: usize = 3;

/// Fewest digits of a phone number written without its country code that
/// count as that number.
const MIN_PHONE_DIGITS: usize = 7;

/// Finds what identifies one customer in free text: their names (whole and
/// each part of three letters or more), email addresses, phone numbers
/// however they are written (`+1 555-123-4567`, `(555) 123 4567`), social
/// handles and chat visitor ids; case-insensitively, whole words only.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// Names, addresses and handles: usually one pattern for all of them,
    /// one per needle should that outgrow the size limit.
    words: Vec<Regex>,
    /// The digits of each phone number (E.164 without `+`).
    phones: Vec<String>,
}

/// Runs of digits as people write phone numbers: digits with spaces,
/// dots, dashes, slashes and brackets between them.
fn phone_runs() -> &'static Regex {
    static RUNS: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RUNS.get_or_init(|| {
        Regex::new(r"\+?\(?\d(?:[\d\s().\-/]*\d)?").expect("the phone pattern compiles")
    })
}

impl Redactor {
    /// The redactor for a customer known by `names` and `identities`.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>, identities: &[Identity]) -> Self {
        let mut needles: Vec<String> = Vec::new();
        let mut add = |needle: &str| {
            let needle = needle.trim();
            if needle.chars().count() >= MIN_NAME_PART
                && !needles.iter().any(|n| n.eq_ignore_ascii_case(needle))
            {
                needles.push(needle.to_owned());
            }
        };
        let mut phones = Vec::new();
        for name in names {
            add(name);
            for part in name.split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-') {
                add(part);
            }
        }
        for identity in identities {
            match identity {
                Identity::Email(email) => add(email),
                Identity::Phone(phone) => {
                    phones.push(phone.trim_start_matches('+').to_owned());
                }
                Identity::Social(handle) => {
                    add(handle);
                    // `x:@ada` is also written `@ada` and `ada`.
                    if let Some((_, h)) = handle.split_once(':') {
                        add(h);
                        add(h.trim_start_matches('@'));
                    }
                }
                Identity::ChatVisitor(id) => add(id),
            }
        }
        // Longest first, so `ada@example.com` goes whole before `ada` could
        // take a piece of it.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        let edge = |c: Option<char>| {
            if c.is_some_and(char::is_alphanumeric) {
                r"\b"
            } else {
                ""
            }
        };
        let alternatives: Vec<String> = needles
            .iter()
            .map(|n| {
                format!(
                    "{}{}{}",
                    edge(n.chars().next()),
                    regex::escape(n),
                    edge(n.chars().last())
                )
            })
            .collect();
        let build = |pattern: &str| {
            RegexBuilder::new(pattern)
                .case_insensitive(true)
                .size_limit(1 << 24)
                .build()
        };
        let words = if alternatives.is_empty() {
            Vec::new()
        } else {
            match build(&alternatives.join("|")) {
                Ok(all) => vec![all],
                // Escaped literals always compile; only a set too large for
                // one pattern gets here, and each needle still goes.
                Err(_) => alternatives.iter().filter_map(|a| build(a).ok()).collect(),
            }
        };
        Self { words, phones }
    }

    /// Whether `written` (digits as written in text) is one of the phone
    /// numbers: all of it, or without the country code (a leading trunk
    /// `0` aside, as in `030 123456` for `+4930123456`).
    fn is_phone(&self, written: &str) -> bool {
        let digits: String = written.chars().filter(char::is_ascii_digit).collect();
        let national = digits.trim_start_matches('0');
        self.phones.iter().any(|p| {
            *p == digits
                || (national.len() >= MIN_PHONE_DIGITS
                    && national.len() + 3 >= p.len()
                    && p.ends_with(national))
        })
    }

    /// A run of digits with the phone numbers in it replaced: the run may
    /// hold other numbers too (`ticket 42 555 123 4567`), so each stretch
    /// of its space-separated groups is tried, longest first.
    fn redact_run(&self, run: &str) -> String {
        let groups: Vec<(usize, usize)> = run
            .split_whitespace()
            .map(|g| {
                let start = g.as_ptr() as usize - run.as_ptr() as usize;
                (start, start + g.len())
            })
            .collect();
        let mut out = String::with_capacity(run.len());
        let (mut copied, mut i) = (0, 0);
        while i < groups.len() {
            let hit = (i..groups.len())
                .rev()
                .find(|&j| self.is_phone(&run[groups[i].0..groups[j].1]));
            match hit {
                Some(j) => {
                    out.push_str(&run[copied..groups[i].0]);
                    out.push_str(ERASED);
                    copied = groups[j].1;
                    i = j + 1;
                }
                None => i += 1,
            }
        }
        out.push_str(&run[copied..]);
        out
    }

    /// `text` with everything that identifies the customer replaced by
    /// [`ERASED`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for words in &self.words {
            out = words.replace_all(&out, ERASED).into_owned();
        }
        if !self.phones.is_empty() {
            out = phone_runs()
                .replace_all(&out, |c: &regex::Captures<'_>| self.redact_run(&c[0]))
                .into_owned();
        }
        out
    }
}

/// What one customer's erasure applies to every message and audit entry it
/// touches.
#[derive(Debug, Clone)]
pub struct Erasure {
    /// Finds the customer in other people's text.
    pub redactor: Redactor,
    /// The customer's user ids as actors: each identity's token form.
    pub principals: Vec<String>,
    /// What stands for the customer where an actor id was theirs:
    /// `customers/{id}`.
    pub pseudonym: String,
}

/// A message after erasure, when erasure changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasedMessage {
    /// The message as it is to be stored.
    pub message: Message,
    /// Attachment storage keys it no longer refers to (the files to delete).
    pub dropped: Vec<String>,
}

impl Erasure {
    /// Whether `actor_id` (as stored for a customer actor) is the customer.
    fn is_customer(&self, kind: ActorKind, actor_id: &str, requested: bool) -> bool {
        // On tickets they requested every customer actor is them (only the
        // requester writes there; merged profiles wrote as themselves).
        kind == ActorKind::Customer && (requested || self.principals.iter().any(|p| p == actor_id))
    }

    /// `m` after erasure, or `None` when it keeps every byte. The
    /// customer's own messages lose their text and attachments and name
    /// the pseudonym as author; so does the opening message of a ticket
    /// they requested (its `description`, the customer's words even when
    /// staff filed them); everyone else's lose what identifies the customer.
    pub fn message(
        &self,
        m: &Message,
        requested: bool,
        description: Option<&str>,
    ) -> Option<ErasedMessage> {
        let mut after = m.clone();
        let mut dropped = Vec::new();
        let theirs = self.is_customer(m.author.kind(), &m.author.id, requested);
        let opening = requested && description.is_some_and(|d| !d.is_empty() && d == m.body);
        if theirs || opening {
            after.body = ERASED.to_owned();
            if theirs {
                after.author.id = self.pseudonym.clone();
            }
            dropped = std::mem::take(&mut after.attachments)
                .into_iter()
                .map(|a| a.storage_key)
                .collect();
        } else {
            after.body = self.redactor.redact(&m.body);
            for a in &mut after.attachments {
                a.filename = self.redactor.redact(&a.filename);
            }
        }
        (after != *m).then_some(ErasedMessage {
            message: after,
            dropped,
        })
    }

    /// An audit entry's actor id, old and new values after erasure, or
    /// `None` when it keeps every byte.
    pub fn change(
        &self,
        kind: ActorKind,
        actor_id: &str,
        old: &str,
        new: &str,
    ) -> Option<(String, String, String)> {
        let actor = if self.is_customer(kind, actor_id, false) {
            self.pseudonym.clone()
        } else {
            actor_id.to_owned()
        };
        let (o, n) = (self.redactor.redact(old), self.redactor.redact(new));
        (actor != actor_id || o != old || n != new).then_some((actor, o, n))
    }
}

/// Lowercase hex SHA-256 of each identity's value and, for phone, social
/// and chat identities, of its token form: what `customer.erased` carries
/// so consumers find records keyed by either without the event naming them.
pub fn identity_hashes(identities: &[Identity]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for identity in identities {
        for form in [identity.value().to_owned(), identity.principal()] {
            let hash = hex::encode(Sha256::digest(form.as_bytes()));
            if !out.contains(&hash) {
                out.push(hash);
            }
        }
    }
    out
}

/// A tenant's retention policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    /// Closed tickets older than this (by last change) are deleted; 0 keeps
    /// them.
    pub closed_ticket_days: i32,
    /// Grows with every update; 0 until one is set.
    pub version: i64,
}

impl Retention {
    /// Validates an `UpdateRetentionPolicy` request.
    pub fn from_request(req: &pb::UpdateRetentionPolicyRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let Some(policy) = &req.policy else {
            v.add("policy", "is required");
            return Err(v);
        };
        if !(0..=MAX_RETENTION_DAYS).contains(&policy.closed_ticket_days) {
            v.add(
                "policy.closed_ticket_days",
                format!("must be 0 (keep forever) to {MAX_RETENTION_DAYS}"),
            );
        }
        v.into_result(Self {
            closed_ticket_days: policy.closed_ticket_days,
            version: 0,
        })
    }

    /// The wire form.
    pub fn to_proto(self) -> pb::RetentionPolicy {
        pb::RetentionPolicy {
            closed_ticket_days: self.closed_ticket_days,
            version: self.version,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use switchboard_proto::common::v1::{Actor, Channel};
    use uuid::Uuid;

    use super::*;
    use crate::domain::message::Attachment;

    fn ada() -> Redactor {
        Redactor::new(
            ["Ada Lovelace"],
            &[
                Identity::Email("ada.l@example.com".into()),
                Identity::Phone("+15551234567".into()),
                Identity::Social("x:@adal".into()),
                Identity::ChatVisitor("visitor-42".into()),
            ],
        )
    }

    #[test]
    fn names_addresses_numbers_and_handles_are_redacted_in_any_case() {
        let r = ada();
        assert_eq!(
            r.redact("Dear ADA LOVELACE, we wrote to Ada.L@Example.com"),
            "Dear [erased], we wrote to [erased]"
        );
        assert_eq!(
            r.redact("Hi Ada, Mrs Lovelace called"),
            "Hi [erased], Mrs [erased] called"
        );
        for phone in [
            "+15551234567",
            "+1 555 123 4567",
            "(555) 123-4567",
            "555.123.4567",
            "ticket 42 555 123 4567",
        ] {
            let said = r.redact(&format!("call {phone} now"));
            assert!(
                said.ends_with("[erased] now") && !said.contains("4567"),
                "{phone}: {said}"
            );
        }
        assert_eq!(
            r.redact("ping x:@adal or @adal or adal"),
            "ping [erased] or [erased] or [erased]"
        );
        assert_eq!(r.redact("chat visitor-42 ended"), "chat [erased] ended");
    }

    #[test]
    fn other_words_and_numbers_are_kept() {
        let r = ada();
        // Parts match whole words only; other numbers are not the phone.
        for kept in [
            "Adam read the Adagio",
            "order 123-4567",
            "invoice 2026-12-08, ticket 42",
            "call +1 555 765 4321",
            "call 123 4567",
        ] {
            assert_eq!(r.redact(kept), kept);
        }
        // Short name parts are not redacted on their own.
        let de = Redactor::new([], &[Identity::Phone("+4930123456".into())]);
        assert_eq!(de.redact("Tel. 030 123456"), "Tel. [erased]");
        let r = Redactor::new(["Jo Li"], &[]);
        assert_eq!(r.redact("Jo Li went; jo went"), "[erased] went; jo went");
        assert_eq!(
            Redactor::new([], &[]).redact("nothing to do"),
            "nothing to do"
        );
    }

    #[test]
    fn regex_characters_in_names_are_literal() {
        let r = Redactor::new(["A.* (x)"], &[Identity::Email("a+b@x.io".into())]);
        assert_eq!(
            r.redact("A.* (x) wrote a+b@x.io; Ab wrote"),
            "[erased] wrote [erased]; Ab wrote"
        );
    }

    fn erasure() -> Erasure {
        Erasure {
            redactor: ada(),
            principals: vec!["ada.l@example.com".into(), "phone:+15551234567".into()],
            pseudonym: "customers/0190".into(),
        }
    }

    fn message(kind: ActorKind, author: &str, body: &str) -> Message {
        Message {
            id: Uuid::now_v7(),
            ticket_id: Uuid::now_v7(),
            author: Actor {
                kind: kind as i32,
                id: author.into(),
                role: 0,
            },
            public: true,
            body: body.into(),
            channel: Channel::Email,
            attachments: vec![Attachment {
                filename: "scan.pdf".into(),
                content_type: "application/pdf".into(),
                size_bytes: 10,
                storage_key: "acme/1".into(),
            }],
            mentions: vec![],
            created_at: Utc::now(),
        }
    }

    #[test]
    fn the_customers_messages_are_erased_whole_with_their_attachments() {
        let e = erasure();
        let m = message(ActorKind::Customer, "ada.l@example.com", "My card is 4242");
        let out = e.message(&m, true, None).expect("changed");
        assert_eq!(out.message.body, ERASED);
        assert_eq!(out.message.author.id, "customers/0190");
        assert!(out.message.attachments.is_empty());
        assert_eq!(out.dropped, ["acme/1"]);
        // On a ticket they did not request, only their own principals count.
        let other = message(ActorKind::Customer, "bob@example.com", "Bob here");
        assert_eq!(e.message(&other, false, None), None);
        let theirs = message(ActorKind::Customer, "phone:+15551234567", "text");
        assert_eq!(
            e.message(&theirs, false, None).unwrap().message.body,
            ERASED
        );
    }

    #[test]
    fn staff_messages_lose_only_what_identifies_the_customer() {
        let e = erasure();
        let mut m = message(
            ActorKind::Agent,
            "agent-7",
            "Hi Ada, fixed. Call 555 123 4567.",
        );
        m.attachments[0].filename = "ada lovelace passport.pdf".into();
        let out = e.message(&m, true, Some("other")).expect("changed");
        assert_eq!(out.message.body, "Hi [erased], fixed. Call [erased].");
        assert_eq!(out.message.author.id, "agent-7");
        assert_eq!(out.message.attachments[0].filename, "[erased] passport.pdf");
        assert!(out.dropped.is_empty(), "staff files are kept");
        let mut clean = message(ActorKind::Agent, "agent-7", "Fixed the printer.");
        clean.attachments.clear();
        assert_eq!(e.message(&clean, true, None), None, "nothing to change");
        // The opening message of their ticket is their words, whoever filed it.
        let opening = message(ActorKind::Agent, "agent-7", "My IBAN is DE00 1234");
        let out = e
            .message(&opening, true, Some("My IBAN is DE00 1234"))
            .expect("changed");
        assert_eq!(out.message.body, ERASED);
        assert_eq!(out.message.author.id, "agent-7");
        assert_eq!(out.dropped, ["acme/1"]);
        assert_eq!(
            e.message(&clean, false, Some("Fixed the printer.")),
            None,
            "only on tickets they requested"
        );
    }

    #[test]
    fn audit_entries_lose_the_customer_as_actor_and_in_values() {
        let e = erasure();
        assert_eq!(
            e.change(ActorKind::Customer, "ada.l@example.com", "solved", "open"),
            Some(("customers/0190".into(), "solved".into(), "open".into()))
        );
        assert_eq!(
            e.change(ActorKind::Agent, "agent-7", "Ada's printer", "Printer"),
            Some((
                "agent-7".into(),
                "[erased]'s printer".into(),
                "Printer".into()
            ))
        );
        assert_eq!(e.change(ActorKind::Agent, "agent-7", "new", "open"), None);
        // A staff member whose id happens to be the address stays staff.
        assert_eq!(
            e.change(ActorKind::Agent, "ada.l@example.com", "", ""),
            None
        );
    }

    #[test]
    fn identity_hashes_cover_values_and_token_forms() {
        let hashes = identity_hashes(&[
            Identity::Email("ada@example.com".into()),
            Identity::Phone("+15551234567".into()),
        ]);
        let sha = |s: &str| hex::encode(Sha256::digest(s.as_bytes()));
        assert_eq!(
            hashes,
            [
                sha("ada@example.com"),
                sha("+15551234567"),
                sha("phone:+15551234567")
            ]
        );
    }

    #[test]
    fn retention_days_are_bounded() {
        let req = |days| pb::UpdateRetentionPolicyRequest {
            policy: Some(pb::RetentionPolicy {
                closed_ticket_days: days,
                version: 0,
            }),
        };
        assert_eq!(
            Retention::from_request(&req(30))
                .unwrap()
                .closed_ticket_days,
            30
        );
        assert_eq!(
            Retention::from_request(&req(0)).unwrap().closed_ticket_days,
            0
        );
        for bad in [-1, MAX_RETENTION_DAYS + 1] {
            assert!(
                Retention::from_request(&req(bad))
                    .unwrap_err()
                    .has("policy.closed_ticket_days")
            );
        }
        assert!(
            Retention::from_request(&pb::UpdateRetentionPolicyRequest { policy: None })
                .unwrap_err()
                .has("policy")
        );
    }
}
