//! `ListTickets` and message listing: filters, order and page tokens.

use chrono::{DateTime, TimeZone, Utc};
use prost::Message as _;
use switchboard_proto::{
    common::v1::{Channel, Priority},
    ticket::v1 as pb,
};
use switchboard_runtime::Violations;
use uuid::Uuid;

use super::Status;

/// Default and largest page of tickets.
pub const TICKET_PAGE: (i64, i64) = (25, 100);
/// Default and largest page of messages.
pub const MESSAGE_PAGE: (i64, i64) = (50, 200);
/// Default and largest page of changes.
pub const CHANGE_PAGE: (i64, i64) = (100, 500);
/// Longest subject search text.
pub const MAX_SEARCH_CHARS: usize = 200;

/// Where a listing resumes: strictly after this (time, id) in list order.
pub type Cursor = (DateTime<Utc>, Uuid);

/// How `ListTickets` orders tickets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    /// Newest first.
    #[default]
    CreatedDesc,
    /// Oldest first.
    CreatedAsc,
    /// Most urgent first, then newest.
    PriorityDesc,
    /// Most recently changed first.
    UpdatedDesc,
}

impl Order {
    /// The page cursor of `ticket` in this order.
    pub fn cursor(self, ticket: &super::Ticket) -> (i64, Cursor) {
        match self {
            Order::PriorityDesc => (ticket.priority as i64, (ticket.created_at, ticket.id)),
            Order::UpdatedDesc => (0, (ticket.updated_at, ticket.id)),
            Order::CreatedDesc | Order::CreatedAsc => (0, (ticket.created_at, ticket.id)),
        }
    }
}

/// A validated ticket listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketQuery {
    /// Any of these.
    pub statuses: Vec<Status>,
    /// Any of these.
    pub priorities: Vec<Priority>,
    /// `Some(None)` = unassigned.
    pub assignee: Option<Option<String>>,
    /// In this group.
    pub group: Option<String>,
    /// Requested by this customer (forced for customers).
    pub requester: Option<Uuid>,
    /// With this tag.
    pub tag: Option<String>,
    /// Any of these.
    pub channels: Vec<Channel>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
    /// Case-insensitive subject text.
    pub subject_contains: Option<String>,
    /// Order of results.
    pub order: Order,
    /// Resume point: the last ticket's sort rank (priority order only), and
    /// its sort time and id.
    pub after: Option<(i64, Cursor)>,
    /// Page size.
    pub limit: i64,
    /// Fingerprint of filter and order, carried in page tokens.
    pub fingerprint: u64,
}

/// Page size from the request, bounded.
pub fn page_size(raw: i32, (default, max): (i64, i64), v: &mut Violations) -> i64 {
    match raw {
        0 => default,
        n if n < 0 || i64::from(n) > max => {
            v.add(
                "page_size",
                format!("must be 0 (default {default}) to {max}"),
            );
            default
        }
        n => i64::from(n),
    }
}

/// An opaque-looking page token for `cursor` under `fingerprint`.
pub fn page_token(fingerprint: u64, cursor: Cursor) -> String {
    ranked_page_token(fingerprint, (0, cursor))
}

/// A page token that also carries a sort rank.
pub fn ranked_page_token(fingerprint: u64, (rank, cursor): (i64, Cursor)) -> String {
    format!(
        "{fingerprint:016x}.{rank}.{}.{}",
        cursor.0.timestamp_micros(),
        cursor.1.simple()
    )
}

/// Parses a page token, which must come from the same filter and order.
pub fn parse_page_token(raw: &str, fingerprint: u64, v: &mut Violations) -> Option<Cursor> {
    parse_ranked_page_token(raw, fingerprint, v).map(|(_, cursor)| cursor)
}

/// Parses a token from [`ranked_page_token`].
pub fn parse_ranked_page_token(
    raw: &str,
    fingerprint: u64,
    v: &mut Violations,
) -> Option<(i64, Cursor)> {
    if raw.is_empty() {
        return None;
    }
    let parsed = (|| {
        let mut parts = raw.splitn(4, '.');
        let fp = u64::from_str_radix(parts.next()?, 16).ok()?;
        let rank: i64 = parts.next()?.parse().ok()?;
        let micros: i64 = parts.next()?.parse().ok()?;
        let id = Uuid::parse_str(parts.next()?).ok()?;
        Some((fp, rank, Utc.timestamp_micros(micros).single()?, id))
    })();
    match parsed {
        Some((fp, rank, at, id)) if fp == fingerprint => Some((rank, (at, id))),
        Some(_) => {
            v.add("page_token", "was issued for a different filter or order");
            None
        }
        None => {
            v.add("page_token", "is not a token this service issued");
            None
        }
    }
}

/// FNV-1a: stable across processes and versions, unlike `DefaultHasher`.
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl TicketQuery {
    /// Validates a `ListTickets` request.
    pub fn from_request(req: &pb::ListTicketsRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let f = req.filter.clone().unwrap_or_default();
        let mut q = TicketQuery {
            limit: page_size(req.page_size, TICKET_PAGE, &mut v),
            ..Default::default()
        };
        q.fingerprint = fnv(&[f.encode_to_vec(), req.order.to_le_bytes().to_vec()].concat());
        for (i, s) in f.statuses.iter().enumerate() {
            match Status::from_proto(*s) {
                Some(s) => q.statuses.push(s),
                None => v.add(
                    format!("filter.statuses[{i}]"),
                    format!("unknown status {s}"),
                ),
            }
        }
        for (i, p) in f.priorities.iter().enumerate() {
            match Priority::try_from(*p) {
                Ok(Priority::Unspecified) | Err(_) => v.add(
                    format!("filter.priorities[{i}]"),
                    format!("unknown priority {p}"),
                ),
                Ok(p) => q.priorities.push(p),
            }
        }
        for (i, c) in f.channels.iter().enumerate() {
            match Channel::try_from(*c) {
                Ok(Channel::Unspecified) | Err(_) => v.add(
                    format!("filter.channels[{i}]"),
                    format!("unknown channel {c}"),
                ),
                Ok(c) => q.channels.push(c),
            }
        }
        let bounded = |field: &str, raw: &str, v: &mut Violations| -> Option<String> {
            if raw.len() > 256 {
                v.add(format!("filter.{field}"), "at most 256 bytes");
                return None;
            }
            (!raw.is_empty()).then(|| raw.to_owned())
        };
        q.assignee = match f.assignee.as_str() {
            "" => None,
            "none" => Some(None),
            a => bounded("assignee", a, &mut v).map(Some),
        };
        q.group = bounded("group", &f.group, &mut v);
        q.tag = bounded("tag", &f.tag.to_lowercase(), &mut v);
        if !f.requester.is_empty() {
            match f.requester.strip_prefix("customers/").map(Uuid::parse_str) {
                Some(Ok(id)) => q.requester = Some(id),
                _ => v.add("filter.requester", "must be `customers/{customer_id}`"),
            }
        }
        if let Some(range) = &f.created {
            let time = |t: &Option<prost_types::Timestamp>| {
                t.as_ref()
                    .and_then(|t| Utc.timestamp_opt(t.seconds, t.nanos.max(0) as u32).single())
            };
            q.created_from = time(&range.start_time);
            q.created_to = time(&range.end_time);
            if let (Some(a), Some(b)) = (q.created_from, q.created_to)
                && a >= b
            {
                v.add("filter.created", "start_time must be before end_time");
            }
        }
        let text = f.subject_contains.trim();
        if text.chars().count() > MAX_SEARCH_CHARS {
            v.add(
                "filter.subject_contains",
                format!("at most {MAX_SEARCH_CHARS} characters"),
            );
        } else if !text.is_empty() {
            q.subject_contains = Some(text.to_owned());
        }
        q.order = match pb::TicketOrder::try_from(req.order) {
            Ok(pb::TicketOrder::Unspecified | pb::TicketOrder::CreateTimeDesc) => {
                Order::CreatedDesc
            }
            Ok(pb::TicketOrder::CreateTimeAsc) => Order::CreatedAsc,
            Ok(pb::TicketOrder::PriorityDesc) => Order::PriorityDesc,
            Ok(pb::TicketOrder::UpdateTimeDesc) => Order::UpdatedDesc,
            Err(_) => {
                v.add("order", format!("unknown order {}", req.order));
                Order::CreatedDesc
            }
        };
        q.after = parse_ranked_page_token(&req.page_token, q.fingerprint, &mut v);
        v.into_result(q)
    }
}

impl TicketQuery {
    /// Whether a ticket (as events carry it) passes the filter; paging
    /// fields are ignored.
    pub fn matches(&self, t: &pb::Ticket) -> bool {
        let created = t.create_time.as_ref().and_then(|ts| {
            Utc.timestamp_opt(ts.seconds, ts.nanos.max(0) as u32)
                .single()
        });
        (self.statuses.is_empty()
            || Status::from_proto(t.status).is_some_and(|s| self.statuses.contains(&s)))
            && (self.priorities.is_empty()
                || self.priorities.iter().any(|p| *p as i32 == t.priority))
            && (self.channels.is_empty() || self.channels.iter().any(|c| *c as i32 == t.channel))
            && match &self.assignee {
                None => true,
                Some(None) => t.assignee.is_empty(),
                Some(Some(a)) => *a == t.assignee,
            }
            && self.group.as_ref().is_none_or(|g| *g == t.group)
            && self
                .requester
                .is_none_or(|r| t.requester == format!("customers/{r}"))
            && self.tag.as_ref().is_none_or(|tag| t.tags.contains(tag))
            && self
                .created_from
                .is_none_or(|from| created.is_some_and(|c| c >= from))
            && self
                .created_to
                .is_none_or(|to| created.is_some_and(|c| c < to))
            && self
                .subject_contains
                .as_ref()
                .is_none_or(|text| t.subject.to_lowercase().contains(&text.to_lowercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_filters_match_tickets_as_events_carry_them() {
        let ticket = pb::Ticket {
            status: pb::TicketStatus::Open as i32,
            priority: Priority::High as i32,
            assignee: "agent-7".into(),
            tags: vec!["vip".into()],
            subject: "Printer ON FIRE".into(),
            ..Default::default()
        };
        let query = |f: pb::TicketFilter| {
            TicketQuery::from_request(&pb::ListTicketsRequest {
                filter: Some(f),
                ..Default::default()
            })
            .unwrap()
        };
        assert!(query(pb::TicketFilter::default()).matches(&ticket));
        assert!(
            query(pb::TicketFilter {
                statuses: vec![pb::TicketStatus::Open as i32],
                subject_contains: "fire".into(),
                tag: "VIP".into(),
                ..Default::default()
            })
            .matches(&ticket)
        );
        assert!(
            !query(pb::TicketFilter {
                statuses: vec![pb::TicketStatus::New as i32],
                ..Default::default()
            })
            .matches(&ticket)
        );
        assert!(
            !query(pb::TicketFilter {
                assignee: "none".into(),
                ..Default::default()
            })
            .matches(&ticket)
        );
        assert!(
            !query(pb::TicketFilter {
                priorities: vec![Priority::Low as i32],
                ..Default::default()
            })
            .matches(&ticket)
        );
        assert!(
            !query(pb::TicketFilter {
                tag: "billing".into(),
                ..Default::default()
            })
            .matches(&ticket)
        );
    }

    #[test]
    fn page_tokens_round_trip_and_are_bound_to_their_filter() {
        let cursor = (
            Utc.timestamp_micros(1_790_000_000_123_456).unwrap(),
            Uuid::now_v7(),
        );
        let token = page_token(42, cursor);
        let mut v = Violations::default();
        assert_eq!(parse_page_token(&token, 42, &mut v), Some(cursor));
        assert_eq!(parse_page_token(&token, 43, &mut v), None);
        assert!(v.has("page_token"));
        let mut v = Violations::default();
        assert_eq!(parse_page_token("garbage", 42, &mut v), None);
        assert!(v.has("page_token"));
    }

    #[test]
    fn filters_validate_every_field() {
        let req = pb::ListTicketsRequest {
            page_size: 1000,
            filter: Some(pb::TicketFilter {
                statuses: vec![99],
                priorities: vec![0],
                channels: vec![42],
                requester: "people/1".into(),
                subject_contains: "x".repeat(MAX_SEARCH_CHARS + 1),
                ..Default::default()
            }),
            order: 9,
            ..Default::default()
        };
        let v = TicketQuery::from_request(&req).unwrap_err();
        for field in [
            "page_size",
            "filter.statuses[0]",
            "filter.priorities[0]",
            "filter.channels[0]",
            "filter.requester",
            "filter.subject_contains",
            "order",
        ] {
            assert!(v.has(field), "{field} missing from {v:?}");
        }
    }

    #[test]
    fn filters_parse_and_fingerprint_differs_by_filter() {
        let mut req = pb::ListTicketsRequest {
            filter: Some(pb::TicketFilter {
                assignee: "none".into(),
                tag: "VIP".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let q = TicketQuery::from_request(&req).unwrap();
        assert_eq!(q.assignee, Some(None));
        assert_eq!(q.tag.as_deref(), Some("vip"));
        assert_eq!(q.limit, TICKET_PAGE.0);
        req.order = pb::TicketOrder::CreateTimeAsc as i32;
        let asc = TicketQuery::from_request(&req).unwrap();
        assert_eq!(asc.order, Order::CreatedAsc);
        assert_ne!(asc.fingerprint, q.fingerprint);
    }
}
