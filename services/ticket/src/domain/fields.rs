//! Custom fields, followers and satisfaction: the ticket's typed extras.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_proto::ticket::v1::{self as pb, field_value::Kind};
use switchboard_runtime::Violations;

use super::timestamp;

/// Most custom fields on a ticket.
pub const MAX_CUSTOM_FIELDS: usize = 50;
/// Longest custom field key.
pub const MAX_FIELD_KEY_BYTES: usize = 64;
/// Longest custom text value.
pub const MAX_FIELD_TEXT_BYTES: usize = 1024;
/// Most followers on a ticket.
pub const MAX_FOLLOWERS: usize = 50;
/// Longest user id.
pub const MAX_USER_BYTES: usize = 256;
/// Longest satisfaction comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;

/// A typed custom field value, as stored (JSONB) and compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldValue {
    /// Text.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A yes/no flag.
    Flag(bool),
}

impl FieldValue {
    /// Text form for the audit trail.
    pub fn display(&self) -> String {
        match self {
            FieldValue::Text(t) => t.clone(),
            FieldValue::Integer(i) => i.to_string(),
            FieldValue::Flag(b) => b.to_string(),
        }
    }
}

/// Custom fields by key, ordered so audit entries and JSON are stable.
pub type CustomFields = BTreeMap<String, FieldValue>;

/// Validates wire custom fields, reporting under `field`.
pub fn from_proto(
    field: &str,
    raw: &std::collections::HashMap<String, pb::FieldValue>,
    v: &mut Violations,
) -> CustomFields {
    if raw.len() > MAX_CUSTOM_FIELDS {
        v.add(
            field,
            format!(
                "at most {MAX_CUSTOM_FIELDS} custom fields, got {}",
                raw.len()
            ),
        );
        return CustomFields::new();
    }
    let mut out = CustomFields::new();
    for (key, value) in raw {
        let at = format!(
            "{field}.{}",
            key.chars().take(MAX_FIELD_KEY_BYTES).collect::<String>()
        );
        let key_ok = !key.is_empty()
            && key.len() <= MAX_FIELD_KEY_BYTES
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !key_ok {
            v.add(
                &at,
                format!("keys are 1 to {MAX_FIELD_KEY_BYTES} of a-z, 0-9 and _"),
            );
            continue;
        }
        let value = match &value.kind {
            Some(Kind::Text(t)) if t.len() > MAX_FIELD_TEXT_BYTES => {
                v.add(
                    &at,
                    format!("text values are at most {MAX_FIELD_TEXT_BYTES} bytes"),
                );
                continue;
            }
            Some(Kind::Text(t)) => FieldValue::Text(t.clone()),
            Some(Kind::Integer(i)) => FieldValue::Integer(*i),
            Some(Kind::Flag(b)) => FieldValue::Flag(*b),
            None => {
                v.add(&at, "a value (text, integer or flag) is required");
                continue;
            }
        };
        out.insert(key.clone(), value);
    }
    out
}

/// The wire form of custom fields.
pub fn to_proto(fields: &CustomFields) -> std::collections::HashMap<String, pb::FieldValue> {
    fields
        .iter()
        .map(|(k, v)| {
            let kind = match v {
                FieldValue::Text(t) => Kind::Text(t.clone()),
                FieldValue::Integer(i) => Kind::Integer(*i),
                FieldValue::Flag(b) => Kind::Flag(*b),
            };
            (k.clone(), pb::FieldValue { kind: Some(kind) })
        })
        .collect()
}

/// Validates a list of user ids (followers, mentions) under `field`, sorted
/// and de-duplicated.
pub fn user_ids(field: &str, raw: &[String], max: usize, v: &mut Violations) -> Vec<String> {
    if raw.len() > max {
        v.add(field, format!("at most {max} entries, got {}", raw.len()));
        return Vec::new();
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, id) in raw.iter().enumerate() {
        let id = id.trim();
        if id.is_empty() || id.len() > MAX_USER_BYTES || id.chars().any(char::is_control) {
            v.add(
                format!("{field}[{i}]"),
                format!("user ids are 1 to {MAX_USER_BYTES} bytes without control characters"),
            );
        } else {
            out.push(id.to_owned());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Whether `id` can name a staff member. Customers' tokens carry their
/// identity as `sub` (an email address, `phone:…`, `social:…` or `chat:…`)
/// and tickets name them `customers/{id}`; an id of either form is a
/// customer's, or cannot be told from one, so it is refused wherever an id
/// receives what staff see (followers, mentions, the assignee): internal
/// notes must never reach a customer's inbox.
pub fn is_staff_id(id: &str) -> bool {
    let resource = id
        .get(..CUSTOMER_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(CUSTOMER_PREFIX));
    !resource && super::Identity::from_principal(id).is_none()
}

const CUSTOMER_PREFIX: &str = "customers/";

/// What a refused non-staff id is told.
pub const NOT_STAFF: &str = "must be a staff user id; customers (`customers/{id}`, an email \
     address, or a `phone:`, `social:` or `chat:` identity) cannot be followers, mentioned or assigned";

/// [`user_ids`] that must all be staff ids ([`is_staff_id`]), for lists
/// that receive internal notes (followers, mentions).
pub fn staff_ids(field: &str, raw: &[String], max: usize, v: &mut Violations) -> Vec<String> {
    for (i, id) in raw.iter().enumerate() {
        let id = id.trim();
        if !id.is_empty() && !is_staff_id(id) {
            v.add(format!("{field}[{i}]"), NOT_STAFF);
        }
    }
    user_ids(field, raw, max, v)
}

/// A requester's rating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Satisfaction {
    /// 1 to 5.
    pub score: i32,
    /// Optional comment.
    pub comment: String,
    /// When it was given.
    pub submitted_at: DateTime<Utc>,
}

impl Satisfaction {
    /// Validates a rating.
    pub fn new(score: i32, comment: &str, now: DateTime<Utc>) -> Result<Self, Violations> {
        let mut v = Violations::default();
        if !(1..=5).contains(&score) {
            v.add("score", format!("must be 1 to 5, got {score}"));
        }
        let comment = comment.trim();
        if comment.chars().count() > MAX_COMMENT_CHARS {
            v.add("comment", format!("at most {MAX_COMMENT_CHARS} characters"));
        }
        v.into_result(Self {
            score,
            comment: comment.to_owned(),
            submitted_at: now,
        })
    }

    /// The wire form.
    pub fn to_proto(&self) -> pb::Satisfaction {
        pb::Satisfaction {
            score: self.score,
            comment: self.comment.clone(),
            submit_time: Some(timestamp(self.submitted_at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> pb::FieldValue {
        pb::FieldValue {
            kind: Some(Kind::Text(t.into())),
        }
    }

    #[test]
    fn custom_fields_are_typed_and_bounded() {
        let mut v = Violations::default();
        let raw = [
            ("plan".to_owned(), text("gold")),
            (
                "seats".to_owned(),
                pb::FieldValue {
                    kind: Some(Kind::Integer(12)),
                },
            ),
            ("Bad Key".to_owned(), text("x")),
            ("empty".to_owned(), pb::FieldValue { kind: None }),
            (
                "long".to_owned(),
                text(&"x".repeat(MAX_FIELD_TEXT_BYTES + 1)),
            ),
        ]
        .into_iter()
        .collect();
        let fields = from_proto("custom_fields", &raw, &mut v);
        assert_eq!(fields.get("plan"), Some(&FieldValue::Text("gold".into())));
        assert_eq!(fields.get("seats"), Some(&FieldValue::Integer(12)));
        assert_eq!(fields.len(), 2);
        assert!(v.has("custom_fields.Bad Key"));
        assert!(v.has("custom_fields.empty"));
        assert!(v.has("custom_fields.long"));
        assert_eq!(to_proto(&fields).len(), 2);
    }

    #[test]
    fn user_id_lists_are_deduplicated_and_bounded() {
        let mut v = Violations::default();
        let ids = user_ids(
            "followers",
            &["b".into(), "a".into(), "b".into(), " ".into()],
            5,
            &mut v,
        );
        assert_eq!(ids, ["a", "b"]);
        assert!(v.has("followers[3]"));
        let mut v = Violations::default();
        user_ids("mentions", &vec!["x".to_owned(); 6], 5, &mut v);
        assert!(v.has("mentions"));
    }

    #[test]
    fn only_staff_ids_may_follow_or_be_mentioned() {
        for staff in ["agent-1", "lead", "auth0|5f1c", "u-42", "Ops Team"] {
            assert!(is_staff_id(staff), "{staff}");
        }
        for customer in [
            "customers/0190a1b2-0000-7000-8000-000000000000",
            "Customers/anything",
            "ann@example.com",
            "Ann@Example.COM",
            "phone:+15551234567",
            "social:x:@ada",
            "chat:visitor-7",
        ] {
            assert!(!is_staff_id(customer), "{customer}");
        }
        let mut v = Violations::default();
        let ids = staff_ids(
            "mentions",
            &["agent-2".into(), "ann@example.com".into()],
            5,
            &mut v,
        );
        assert!(v.has("mentions[1]") && !v.has("mentions[0]"), "{v}");
        assert_eq!(ids.len(), 2, "validation continues; the caller refuses");
    }

    #[test]
    fn ratings_are_one_to_five() {
        let now = Utc::now();
        assert!(Satisfaction::new(0, "", now).unwrap_err().has("score"));
        assert!(Satisfaction::new(6, "", now).is_err());
        assert!(
            Satisfaction::new(3, &"x".repeat(MAX_COMMENT_CHARS + 1), now)
                .unwrap_err()
                .has("comment")
        );
        assert_eq!(
            Satisfaction::new(5, " thanks ", now).unwrap().comment,
            "thanks"
        );
    }
}
