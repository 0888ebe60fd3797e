//! Listing tickets, messages and audit entries with keyset pagination.

use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use switchboard_runtime::TenantId;
use uuid::Uuid;

use super::rows::{MESSAGE_COLUMNS, TICKET_COLUMNS, actor, message_from_row, ticket_from_row};
use crate::{
    domain::{
        Ticket, channel_str,
        message::Message,
        priority_str,
        query::{Cursor, Order, TicketQuery},
    },
    store::StoredChange,
};

/// Escapes `%`, `_` and `\` so user text matches literally in ILIKE.
fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A page of tickets. Keyset on (created_at, id): rows created while a client
/// pages land before its cursor (newest first) or after every page it has
/// read (oldest first), so no row is skipped or repeated.
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    q: &TicketQuery,
) -> Result<Vec<Ticket>, sqlx::Error> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = "
    ));
    sql.push_bind(tenant.as_str());
    if !q.statuses.is_empty() {
        sql.push(" AND status = ANY(")
            .push_bind(q.statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>())
            .push(")");
    }
    if !q.priorities.is_empty() {
        sql.push(" AND priority = ANY(")
            .push_bind(
                q.priorities
                    .iter()
                    .map(|p| priority_str(*p))
                    .collect::<Vec<_>>(),
            )
            .push(")");
    }
    if !q.channels.is_empty() {
        sql.push(" AND channel = ANY(")
            .push_bind(
                q.channels
                    .iter()
                    .map(|c| channel_str(*c))
                    .collect::<Vec<_>>(),
            )
            .push(")");
    }
    match &q.assignee {
        Some(Some(a)) => {
            sql.push(" AND assignee = ").push_bind(a.clone());
        }
        Some(None) => {
            sql.push(" AND assignee IS NULL");
        }
        None => {}
    }
    if let Some(g) = &q.group {
        sql.push(" AND group_id = ").push_bind(g.clone());
    }
    if let Some(r) = q.requester {
        sql.push(" AND requester_id = ").push_bind(r);
    }
    if let Some(tag) = &q.tag {
        sql.push(" AND tags @> ARRAY[")
            .push_bind(tag.clone())
            .push("]::text[]");
    }
    if let Some(from) = q.created_from {
        sql.push(" AND created_at >= ").push_bind(from);
    }
    if let Some(to) = q.created_to {
        sql.push(" AND created_at < ").push_bind(to);
    }
    if let Some(text) = &q.subject_contains {
        sql.push(" AND subject ILIKE ")
            .push_bind(like_literal(text));
    }
    let (keys, cmp, dir) = match q.order {
        Order::CreatedDesc => ("created_at, id", "<", "DESC"),
        Order::CreatedAsc => ("created_at, id", ">", "ASC"),
        Order::UpdatedDesc => ("updated_at, id", "<", "DESC"),
        Order::PriorityDesc => ("priority_rank, created_at, id", "<", "DESC"),
    };
    if let Some((rank, (at, id))) = q.after {
        sql.push(format!(" AND ({keys}) {cmp} ("));
        if q.order == Order::PriorityDesc {
            sql.push_bind(rank as i16).push(", ");
        }
        sql.push_bind(at).push(", ").push_bind(id).push(")");
    }
    let order_by = keys
        .split(", ")
        .map(|k| format!("{k} {dir}"))
        .collect::<Vec<_>>()
        .join(", ");
    sql.push(format!(" ORDER BY {order_by} LIMIT "))
        .push_bind(q.limit);
    let rows = sql.build().fetch_all(pool).await?;
    rows.iter().map(ticket_from_row).collect()
}

/// A page of messages, oldest first.
pub async fn messages(
    pool: &PgPool,
    tenant: &TenantId,
    ticket: Uuid,
    include_internal: bool,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    let (at, id) = after.unzip();
    sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND ticket_id = $2 \
         AND (public OR $3) AND ($4::timestamptz IS NULL OR (created_at, id) > ($4, $5)) \
         ORDER BY created_at, id LIMIT $6"
    ))
    .bind(tenant.as_str())
    .bind(ticket)
    .bind(include_internal)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(message_from_row)
    .collect()
}

/// A page of audit entries, oldest first.
pub async fn changes(
    pool: &PgPool,
    tenant: &TenantId,
    ticket: Uuid,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<StoredChange>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT seq, version, actor_kind, actor_id, actor_role, field, old_value, new_value, changed_at \
         FROM ticket_changes WHERE tenant_id = $1 AND ticket_id = $2 AND seq > $3 ORDER BY seq LIMIT $4",
    )
    .bind(tenant.as_str())
    .bind(ticket)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get("actor_kind")?;
            let role: String = r.try_get("actor_role")?;
            Ok(StoredChange {
                seq: r.try_get("seq")?,
                version: r.try_get("version")?,
                actor: actor(&kind, r.try_get("actor_id")?, &role),
                field: r.try_get("field")?,
                old: r.try_get("old_value")?,
                new: r.try_get("new_value")?,
                at: r.try_get("changed_at")?,
            })
        })
        .collect()
}
