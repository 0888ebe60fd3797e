//! CSV rows of ticket facts for the export: RFC 4180 lines, one fact per
//! row, the columns of [`CSV_HEADER`].

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use switchboard_kpi::TicketFact;
use uuid::Uuid;

/// The CSV columns of [`csv_row`].
pub const CSV_HEADER: &[&str] = &[
    "ticket_id",
    "created_at",
    "channel",
    "priority",
    "group",
    "assignee",
    "tags",
    "status",
    "created_by_agent",
    "first_reply_at",
    "first_reply_seconds",
    "first_reply_business_seconds",
    "first_solved_at",
    "solved_at",
    "full_resolution_seconds",
    "full_resolution_business_seconds",
    "requester_wait_seconds",
    "agent_wait_seconds",
    "reopens",
    "public_agent_replies",
    "assignee_hops",
    "group_hops",
    "one_touch",
    "satisfaction_score",
    "merged_into",
    "sla_first_reply",
    "sla_resolution",
];

/// One ticket's fact as CSV fields, in [`CSV_HEADER`] order.
pub fn csv_row(id: Uuid, f: &TicketFact) -> Vec<String> {
    let at = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    let num = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    let sla = |r: switchboard_kpi::fact::SlaRecord, done: Option<DateTime<Utc>>| match (
        r.target,
        r.breached_at,
        done,
    ) {
        (false, _, _) => String::new(),
        (true, Some(_), _) => "breached".into(),
        (true, None, Some(_)) => "met".into(),
        (true, None, None) => "pending".into(),
    };
    vec![
        id.to_string(),
        f.created_at.to_rfc3339(),
        f.channel.as_str().into(),
        f.priority.as_str().into(),
        f.group.clone().unwrap_or_default(),
        f.assignee.clone().unwrap_or_default(),
        f.tags.join(" "),
        f.status.as_str().into(),
        f.created_by_agent.to_string(),
        at(f.first_reply_at),
        num(f.first_reply.map(|e| e.calendar)),
        num(f.first_reply.map(|e| e.business)),
        at(f.first_solved_at),
        at(f.solved_at),
        num(f.full_resolution.map(|e| e.calendar)),
        num(f.full_resolution.map(|e| e.business)),
        f.requester_wait.calendar.to_string(),
        f.agent_wait.calendar.to_string(),
        f.reopens.to_string(),
        f.public_agent_replies.to_string(),
        f.assignee_hops.to_string(),
        f.group_hops.to_string(),
        f.one_touch.to_string(),
        f.satisfaction
            .map(|s| s.score.to_string())
            .unwrap_or_default(),
        f.merged.map(|m| m.target.to_string()).unwrap_or_default(),
        sla(f.sla_first_reply, f.first_reply_at),
        sla(f.sla_resolution, f.solved_at.filter(|_| f.merged.is_none())),
    ]
}

/// A cell a spreadsheet would run as a formula (it starts with `=`, `+`,
/// `-`, `@`, a tab or a carriage return) behind a single quote, as OWASP
/// recommends against CSV injection; a plain number (`-3`, `1.5`) stays a
/// number.
pub fn neutralise(field: &str) -> Cow<'_, str> {
    let number = {
        let digits = field.strip_prefix('-').unwrap_or(field);
        !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && digits.bytes().filter(|b| *b == b'.').count() <= 1
            && !digits.starts_with('.')
            && !digits.ends_with('.')
    };
    if field.starts_with(['=', '+', '-', '@', '\t', '\r']) && !number {
        Cow::Owned(format!("'{field}"))
    } else {
        Cow::Borrowed(field)
    }
}

/// One RFC 4180 line: every field [`neutralise`]d; fields with a comma,
/// quote or line break are quoted, quotes doubled.
pub fn csv_line(fields: &[impl AsRef<str>]) -> String {
    let mut line = String::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        let field = neutralise(field.as_ref());
        let field = field.as_ref();
        if field.contains([',', '"', '\r', '\n']) {
            line.push('"');
            line.push_str(&field.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(field);
        }
    }
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_what_needs_it() {
        assert_eq!(
            csv_line(&["a", "b,c", "say \"hi\"", "x\ny"]),
            "a,\"b,c\",\"say \"\"hi\"\"\",\"x\ny\"\r\n"
        );
    }

    #[test]
    fn formula_cells_are_neutralised_and_numbers_kept() {
        for (raw, out) in [
            ("=1+1", "'=1+1"),
            ("+1", "'+1"),
            ("-1+2", "'-1+2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("-", "'-"),
            ("-.5", "'-.5"),
            ("1-1", "1-1"),
            ("a=b", "a=b"),
            ("", ""),
            ("-3", "-3"),
            ("-1.5", "-1.5"),
            ("42", "42"),
        ] {
            assert_eq!(neutralise(raw), out, "{raw:?}");
        }
        assert_eq!(
            csv_line(&["=HYPERLINK(\"x\",\"y\")", "-2"]),
            "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\",-2\r\n"
        );
    }
}
