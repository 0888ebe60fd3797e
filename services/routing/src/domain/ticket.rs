//! The ticket as routing sees it: the facts rules test and what the queue
//! orders by.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use switchboard_proto::{
    common::v1::{Channel, Priority},
    ticket::v1::{self as tpb, TicketStatus, field_value::Kind},
};
use switchboard_rules::{Fact, Facts};
use uuid::Uuid;

use super::channel_name;

/// A custom field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Custom {
    /// Text.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A flag.
    Flag(bool),
}

/// What routing needs of a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketView {
    /// The ticket id.
    pub id: Uuid,
    /// Its version, for AssignTicket's optimistic check.
    pub version: i64,
    /// Where it came from.
    pub channel: Channel,
    /// How urgent.
    pub priority: Priority,
    /// Lifecycle state.
    pub status: TicketStatus,
    /// One line summary.
    pub subject: String,
    /// First message.
    pub description: String,
    /// Lower-case tags.
    pub tags: Vec<String>,
    /// Its group, if any.
    pub group: Option<String>,
    /// Its assignee, if any.
    pub assignee: Option<String>,
    /// Followers' user ids.
    pub followers: Vec<String>,
    /// The `language` custom field, lower-cased.
    pub language: Option<String>,
    /// The requester's tier when the ticket was opened.
    pub tier: Option<String>,
    /// Custom fields.
    pub custom: BTreeMap<String, Custom>,
    /// The earliest SLA due time.
    pub sla_due: Option<DateTime<Utc>>,
    /// When it was opened.
    pub created: DateTime<Utc>,
}

fn time(ts: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    ts.and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
}

fn opt(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.to_owned())
}

impl TicketView {
    /// Reads a ticket from the wire; `None` when its name is not `tickets/{uuid}`.
    pub fn from_proto(t: &tpb::Ticket) -> Option<Self> {
        let id = Uuid::parse_str(t.name.strip_prefix("tickets/")?).ok()?;
        let custom: BTreeMap<String, Custom> = t
            .custom_fields
            .iter()
            .filter_map(|(k, v)| {
                let value = match v.kind.as_ref()? {
                    Kind::Text(s) => Custom::Text(s.clone()),
                    Kind::Integer(i) => Custom::Integer(*i),
                    Kind::Flag(b) => Custom::Flag(*b),
                };
                Some((k.clone(), value))
            })
            .collect();
        let language = match custom.get("language") {
            Some(Custom::Text(l)) if !l.trim().is_empty() => Some(l.trim().to_ascii_lowercase()),
            _ => None,
        };
        let sla = t.sla.as_ref();
        let due = [
            time(sla.and_then(|s| s.first_response_due_time.as_ref())),
            time(sla.and_then(|s| s.resolution_due_time.as_ref())),
        ]
        .into_iter()
        .flatten()
        .min();
        Some(TicketView {
            id,
            version: t.version,
            channel: Channel::try_from(t.channel).unwrap_or(Channel::Unspecified),
            priority: Priority::try_from(t.priority).unwrap_or(Priority::Normal),
            status: TicketStatus::try_from(t.status).unwrap_or(TicketStatus::Unspecified),
            subject: t.subject.clone(),
            description: t.description.clone(),
            tags: t.tags.clone(),
            group: opt(&t.group),
            assignee: opt(&t.assignee),
            followers: t.followers.clone(),
            language,
            tier: opt(&t.requester_tier),
            custom,
            sla_due: due,
            created: time(t.create_time.as_ref()).unwrap_or_else(Utc::now),
        })
    }

    /// `tickets/{id}`.
    pub fn name(&self) -> String {
        format!("tickets/{}", self.id)
    }

    /// Whether the ticket is solved or closed (nobody works on it).
    pub fn is_done(&self) -> bool {
        matches!(self.status, TicketStatus::Solved | TicketStatus::Closed)
    }
}

/// The priority's lower-case name, as rules spell it.
pub fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::Unspecified | Priority::Normal => "normal",
        Priority::Low => "low",
        Priority::High => "high",
        Priority::Urgent => "urgent",
    }
}

impl Facts for TicketView {
    fn fact(&self, field: &str) -> Option<Fact<'_>> {
        match field {
            "channel" => Some(Fact::Text(channel_name(self.channel))),
            "priority" => Some(Fact::Text(priority_name(self.priority))),
            "subject" => Some(Fact::Text(&self.subject)),
            "description" => Some(Fact::Text(&self.description)),
            "tags" => Some(Fact::List(&self.tags)),
            "group" => self.group.as_deref().map(Fact::Text),
            "language" => self.language.as_deref().map(Fact::Text),
            "customer.tier" => self.tier.as_deref().map(Fact::Text),
            other => other
                .strip_prefix(switchboard_rules::CUSTOM_PREFIX)
                .and_then(|k| self.custom.get(k))
                .map(|v| match v {
                    Custom::Text(t) => Fact::Text(t),
                    Custom::Integer(i) => Fact::Integer(*i),
                    Custom::Flag(b) => Fact::Bool(*b),
                }),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use switchboard_proto::ticket::v1::FieldValue;

    /// A plain new email ticket for tests.
    pub(crate) fn ticket() -> TicketView {
        TicketView {
            id: Uuid::now_v7(),
            version: 1,
            channel: Channel::Email,
            priority: Priority::Normal,
            status: TicketStatus::New,
            subject: "Refund for order 42".into(),
            description: "I was charged twice".into(),
            tags: vec!["billing".into()],
            group: None,
            assignee: None,
            followers: vec![],
            language: None,
            tier: None,
            custom: BTreeMap::new(),
            sla_due: None,
            created: Utc::now(),
        }
    }

    #[test]
    fn wire_tickets_become_views_with_facts() {
        let id = Uuid::now_v7();
        let raw = tpb::Ticket {
            name: format!("tickets/{id}"),
            version: 3,
            channel: Channel::Chat as i32,
            priority: Priority::High as i32,
            group: "billing".into(),
            requester_tier: "gold".into(),
            custom_fields: [
                (
                    "language".to_owned(),
                    FieldValue {
                        kind: Some(Kind::Text("DE-ch".into())),
                    },
                ),
                (
                    "seats".to_owned(),
                    FieldValue {
                        kind: Some(Kind::Integer(40)),
                    },
                ),
            ]
            .into(),
            sla: Some(tpb::SlaState {
                first_response_due_time: Some(prost_types::Timestamp {
                    seconds: 2000,
                    nanos: 0,
                }),
                resolution_due_time: Some(prost_types::Timestamp {
                    seconds: 1000,
                    nanos: 0,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let t = TicketView::from_proto(&raw).unwrap();
        assert_eq!(t.id, id);
        assert_eq!(t.language.as_deref(), Some("de-ch"));
        assert_eq!(
            t.sla_due.unwrap().timestamp(),
            1000,
            "the earliest due time counts"
        );
        assert_eq!(t.fact("channel"), Some(Fact::Text("chat")));
        assert_eq!(t.fact("priority"), Some(Fact::Text("high")));
        assert_eq!(t.fact("group"), Some(Fact::Text("billing")));
        assert_eq!(t.fact("custom.seats"), Some(Fact::Integer(40)));
        assert_eq!(t.fact("customer.tier"), Some(Fact::Text("gold")));
        let untiered = TicketView::from_proto(&tpb::Ticket {
            name: format!("tickets/{id}"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(untiered.fact("customer.tier"), None, "no tier, no fact");
        assert_eq!(t.fact("custom.none"), None);
        assert_eq!(t.assignee, None);
        assert!(
            TicketView::from_proto(&tpb::Ticket {
                name: "tickets/x".into(),
                ..Default::default()
            })
            .is_none()
        );
    }
}
