//! Writing a [`Change`]: ticket row, follow-up, message, audit and events
//! together — in one statement guarded by the version when nothing else is
//! inserted, else in one transaction under the ticket's row lock.

use sqlx::{PgConnection, PgPool, Postgres, Row, postgres::PgArguments, query::Query, types::Json};
use switchboard_events::{outbox, outbox::OutboxBatch};
use switchboard_runtime::TenantId;
use uuid::Uuid;

use super::{
    keys,
    rows::{TICKET_COLUMNS, kind_str, role_str, ticket_from_row},
    store_error,
};
use crate::{
    domain::{
        Ticket, change::Change, channel_str, idempotency::IdempotencyKey, message::Message,
        priority_str,
    },
    store::{Apply, MergeApply, StoreError, UpdateError, Updated},
};

/// Takes the next number of tenant `$2` (the ticket's tenant parameter
/// wherever it is used): an upsert, so a tenant's first ticket is number 1.
pub(super) const NEXT_NUMBER: &str = "INSERT INTO ticket_numbers AS tn (tenant_id, last_number) VALUES ($2, 1) \
     ON CONFLICT (tenant_id) DO UPDATE SET last_number = tn.last_number + 1 RETURNING last_number";

pub(super) async fn ticket(
    conn: &mut PgConnection,
    tenant: &TenantId,
    id: Uuid,
    lock: bool,
) -> Result<Option<Ticket>, sqlx::Error> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    sqlx::query(&format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND id = $2{lock}"
    ))
    .bind(tenant.as_str())
    .bind(id)
    .fetch_optional(conn)
    .await?
    .map(|row| ticket_from_row(&row))
    .transpose()
}

/// Runs the update transaction.
pub async fn update(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
    key: Option<&IdempotencyKey>,
    apply: Apply,
) -> Result<Updated, UpdateError> {
    if key.is_none()
        && let Some(updated) = update_unlocked(pool, tenant, id, &apply).await?
    {
        return Ok(updated);
    }
    let db = |e| UpdateError::Store(store_error(e));
    let mut tx = pool.begin().await.map_err(db)?;
    let current = ticket(&mut tx, tenant, id, true)
        .await
        .map_err(db)?
        .ok_or(UpdateError::NotFound)?;
    // Checked under the row lock, so a concurrent retry of the same request
    // waits for the first and then finds its message.
    if let Some(key) = key
        && let Some(seen) = keys::seen(&mut tx, tenant, key).await.map_err(db)?
    {
        return replay(&mut tx, tenant, key, &seen).await;
    }
    let mut change = apply(&current)?;
    if change.is_noop() {
        return Ok(Updated {
            ticket: change.ticket,
            message: None,
            replayed: false,
        });
    }
    write(&mut tx, &mut change).await.map_err(db)?;
    if let Some(key) = key {
        let made = change
            .message
            .as_ref()
            .map_or(change.subject().id, |m| m.ticket_id);
        let message = change.message.as_ref().map(|m| m.id);
        if !keys::record(&mut tx, tenant, key, made, message, change.at)
            .await
            .map_err(db)?
        {
            // The same key on another ticket won the race (it holds another
            // row lock): this request is not the one it recorded.
            drop(tx);
            let mut conn = pool.acquire().await.map_err(db)?;
            let seen = keys::seen(&mut conn, tenant, key)
                .await
                .map_err(db)?
                .ok_or(UpdateError::Store(StoreError::KeyReused))?;
            return replay(&mut conn, tenant, key, &seen).await;
        }
    }
    tx.commit().await.map_err(db)?;
    let Change {
        ticket,
        follow_up,
        message,
        ..
    } = change;
    Ok(Updated {
        ticket: follow_up.unwrap_or(ticket),
        message,
        replayed: false,
    })
}

/// The first result of `key`, or [`StoreError::KeyReused`] when it was
/// made by a different request.
async fn replay(
    conn: &mut PgConnection,
    tenant: &TenantId,
    key: &IdempotencyKey,
    seen: &keys::Seen,
) -> Result<Updated, UpdateError> {
    if !seen.same_request(key) {
        return Err(UpdateError::Store(StoreError::KeyReused));
    }
    keys::replay(conn, tenant, seen)
        .await
        .map_err(|e| UpdateError::Store(store_error(e)))
}

/// Applies the rule to the ticket as last committed and writes the result
/// (row, audit, events) in one statement that holds only while the version
/// is unchanged: two round trips and no transaction for most changes, where
/// the locked path takes six. `None` sends the change down the locked path:
/// it inserts a follow-up or a message, or the ticket moved meanwhile (the
/// rule then runs again on the new version, as it would have after the lock).
async fn update_unlocked(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
    apply: &Apply,
) -> Result<Option<Updated>, UpdateError> {
    let db = |e| UpdateError::Store(store_error(e));
    let mut conn = pool.acquire().await.map_err(db)?;
    let current = ticket(&mut conn, tenant, id, false)
        .await
        .map_err(db)?
        .ok_or(UpdateError::NotFound)?;
    let change = apply(&current)?;
    if change.is_noop() {
        return Ok(Some(Updated {
            ticket: change.ticket,
            message: None,
            replayed: false,
        }));
    }
    if change.follow_up.is_some()
        || change.message.is_some()
        || change.ticket.version == change.before_version
    {
        return Ok(None);
    }
    let sql = format!(
        "WITH u AS ({SAVE_TICKET} RETURNING id), a AS ({}), o AS ({}) SELECT count(*) FROM u",
        audit_sql(21, "u, "),
        OutboxBatch::insert_sql(31, "u, ")
    );
    let events = OutboxBatch::new(&change.envelopes()).map_err(db)?;
    let query = bind_audit(
        bind_ticket(sqlx::query(&sql), &change.ticket, change.before_version),
        &change,
    );
    let saved: i64 = events
        .bind(query)
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?
        .get(0);
    if saved == 0 {
        return Ok(None);
    }
    Ok(Some(Updated {
        ticket: change.ticket,
        message: None,
        replayed: false,
    }))
}

/// Runs the merge transaction.
pub async fn merge(
    pool: &PgPool,
    tenant: &TenantId,
    source: Uuid,
    target: Uuid,
    apply: MergeApply,
) -> Result<Ticket, UpdateError> {
    let db = |e| UpdateError::Store(store_error(e));
    let mut tx = pool.begin().await.map_err(db)?;
    // Lock in id order so two opposite merges cannot deadlock.
    let mut locked = Vec::new();
    for id in if source < target {
        [source, target]
    } else {
        [target, source]
    } {
        locked.push(
            ticket(&mut tx, tenant, id, true)
                .await
                .map_err(db)?
                .ok_or(UpdateError::NotFound)?,
        );
    }
    let (src, dst) = if locked[0].id == source {
        (&locked[0], &locked[1])
    } else {
        (&locked[1], &locked[0])
    };
    let (mut s, mut t) = apply(src, dst)?;
    sqlx::query("UPDATE messages SET ticket_id = $3 WHERE tenant_id = $1 AND ticket_id = $2")
        .bind(tenant.as_str())
        .bind(source)
        .bind(target)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    write(&mut tx, &mut s).await.map_err(db)?;
    write(&mut tx, &mut t).await.map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(t.ticket)
}

/// Writes a change (ticket row, follow-up, message, audit, events) inside
/// the caller's transaction.
pub(super) async fn write(tx: &mut PgConnection, change: &mut Change) -> Result<(), sqlx::Error> {
    if change.ticket.version != change.before_version {
        save_ticket(tx, &change.ticket, change.before_version).await?;
    }
    if let Some(follow) = &mut change.follow_up {
        follow.number = insert_ticket(tx, follow).await?;
    }
    if let Some(message) = &change.message {
        insert_message(tx, &change.subject().tenant, message).await?;
    }
    if !change.audit.is_empty() {
        bind_audit(sqlx::query(&audit_sql(1, "")), change)
            .execute(&mut *tx)
            .await?;
    }
    outbox::append_all(tx, &change.envelopes()).await?;
    Ok(())
}

/// An `INSERT INTO ticket_changes` of a change's audit rows, one statement
/// however many fields changed, bound from `$first` on by [`bind_audit`];
/// `from` (e.g. `"u, "`) joins a row source, so the rows are written only
/// when that source has a row.
fn audit_sql(first: usize, from: &str) -> String {
    let p = |i: usize| first + i;
    format!(
        "INSERT INTO ticket_changes (tenant_id, ticket_id, version, actor_kind, actor_id, actor_role, \
         field, old_value, new_value, changed_at) \
         SELECT ${}, ${}, ${}, ${}, ${}, ${}, x.f, x.o, x.n, ${} \
         FROM {from}UNNEST(${}::text[], ${}::text[], ${}::text[]) WITH ORDINALITY AS x(f, o, n, i) ORDER BY x.i",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7),
        p(8),
        p(9)
    )
}

/// Binds [`audit_sql`]'s ten parameters for `change`.
fn bind_audit<'q>(
    query: Query<'q, Postgres, PgArguments>,
    change: &'q Change,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(change.ticket.tenant.as_str())
        .bind(change.ticket.id)
        .bind(change.ticket.version)
        .bind(kind_str(&change.actor))
        .bind(&change.actor.id)
        .bind(role_str(&change.actor))
        .bind(change.at)
        .bind(change.audit.iter().map(|e| e.field).collect::<Vec<_>>())
        .bind(
            change
                .audit
                .iter()
                .map(|e| e.old.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            change
                .audit
                .iter()
                .map(|e| e.new.as_str())
                .collect::<Vec<_>>(),
        )
}

/// Moves the ticket row: `$1` is its id, `$2` the version it must still
/// have, the rest are bound by [`bind_ticket`].
const SAVE_TICKET: &str = "UPDATE tickets SET subject = $3, status = $4, priority = $5, assignee = $6, group_id = $7, tags = $8, \
     version = $9, updated_at = $10, custom_fields = $11, followers = $12, first_response_at = $13, \
     solved_at = $14, satisfaction = $15, merged_into = $16, merged_from = $17, sla = $18, \
     sla_next_check_at = $19, requester_id = $20 \
     WHERE id = $1 AND version = $2";

/// Binds [`SAVE_TICKET`]'s twenty parameters.
fn bind_ticket<'q>(
    query: Query<'q, Postgres, PgArguments>,
    t: &'q Ticket,
    before_version: i64,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(t.id)
        .bind(before_version)
        .bind(&t.subject)
        .bind(t.status.as_str())
        .bind(priority_str(t.priority))
        .bind(&t.assignee)
        .bind(&t.group)
        .bind(&t.tags)
        .bind(t.version)
        .bind(t.updated_at)
        .bind(Json(&t.custom_fields))
        .bind(&t.followers)
        .bind(t.first_response_at)
        .bind(t.solved_at)
        .bind(t.satisfaction.as_ref().map(Json))
        .bind(t.merged_into)
        .bind(&t.merged_from)
        .bind(Json(&t.sla))
        .bind(t.sla.next_check())
        .bind(t.requester_id)
}

async fn save_ticket(
    tx: &mut PgConnection,
    t: &Ticket,
    before_version: i64,
) -> Result<(), sqlx::Error> {
    let updated = bind_ticket(sqlx::query(SAVE_TICKET), t, before_version)
        .execute(tx)
        .await?;
    // The row is locked, so this only fails if the lock was not taken.
    if updated.rows_affected() != 1 {
        return Err(sqlx::Error::RowNotFound);
    }
    Ok(())
}

/// Inserts a ticket numbered next in its tenant. The counter row stays
/// locked until the transaction ends: follow-ups are rare, and creates lock
/// it only for their one numbering statement.
async fn insert_ticket(tx: &mut PgConnection, t: &Ticket) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(&format!(
        "WITH n AS ({NEXT_NUMBER}) \
         INSERT INTO tickets (id, tenant_id, number, subject, description, status, priority, channel, requester_id, \
         assignee, group_id, tags, version, created_at, updated_at, custom_fields, followers, follow_up_of, \
         sla, sla_next_check_at, requester_tier) \
         SELECT $1, $2, n.last_number, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15, $16, $17, $18, $19 \
         FROM n RETURNING number",
    ))
    .bind(t.id)
    .bind(t.tenant.as_str())
    .bind(&t.subject)
    .bind(&t.description)
    .bind(t.status.as_str())
    .bind(priority_str(t.priority))
    .bind(channel_str(t.channel))
    .bind(t.requester_id)
    .bind(&t.assignee)
    .bind(&t.group)
    .bind(&t.tags)
    .bind(t.version)
    .bind(t.created_at)
    .bind(Json(&t.custom_fields))
    .bind(&t.followers)
    .bind(t.follow_up_of)
    .bind(Json(&t.sla))
    .bind(t.sla.next_check())
    .bind(&t.requester_tier)
    .fetch_one(tx)
    .await?;
    row.try_get("number")
}

async fn insert_message(
    tx: &mut PgConnection,
    tenant: &TenantId,
    m: &Message,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO messages (id, tenant_id, ticket_id, author_kind, author_id, author_role, public, body, channel, \
         attachments, mentions, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(m.id)
    .bind(tenant.as_str())
    .bind(m.ticket_id)
    .bind(kind_str(&m.author))
    .bind(&m.author.id)
    .bind(role_str(&m.author))
    .bind(m.public)
    .bind(&m.body)
    .bind(channel_str(m.channel))
    .bind(Json(&m.attachments))
    .bind(&m.mentions)
    .bind(m.created_at)
    .execute(tx)
    .await?;
    Ok(())
}
