//! Decoding rows into domain values, and the text forms actors are stored in.

use chrono::{DateTime, Utc};
use sqlx::{Row, postgres::PgRow, types::Json};
use switchboard_proto::common::v1::{Actor, ActorKind, Role};
use switchboard_runtime::TenantId;

use crate::domain::{
    Status, Ticket,
    fields::{CustomFields, Satisfaction},
    message::{Attachment, Message},
    parse_channel, parse_priority,
    sla::TicketSla,
};

/// Every ticket column, in the order the decoders expect by name.
pub const TICKET_COLUMNS: &str = "id, tenant_id, number, subject, description, status, priority, channel, \
     requester_id, assignee, group_id, tags, version, created_at, updated_at, custom_fields, followers, \
     follow_up_of, first_response_at, solved_at, satisfaction, merged_into, merged_from, sla, requester_tier";

/// Every message column.
pub const MESSAGE_COLUMNS: &str = "id, ticket_id, author_kind, author_id, author_role, public, body, channel, attachments, mentions, created_at";

fn bad(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("unknown value `{value}`").into(),
    }
}

/// A ticket row.
pub fn ticket_from_row(row: &PgRow) -> Result<Ticket, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let priority: String = row.try_get("priority")?;
    let channel: String = row.try_get("channel")?;
    let tenant: String = row.try_get("tenant_id")?;
    Ok(Ticket {
        id: row.try_get("id")?,
        tenant: TenantId::parse(&tenant).map_err(|_| bad("tenant_id", &tenant))?,
        number: row.try_get("number")?,
        subject: row.try_get("subject")?,
        description: row.try_get("description")?,
        status: Status::parse(&status).ok_or_else(|| bad("status", &status))?,
        priority: parse_priority(&priority).ok_or_else(|| bad("priority", &priority))?,
        channel: parse_channel(&channel).ok_or_else(|| bad("channel", &channel))?,
        requester_id: row.try_get("requester_id")?,
        assignee: row.try_get("assignee")?,
        group: row.try_get("group_id")?,
        tags: row.try_get("tags")?,
        version: row.try_get("version")?,
        created_at: row.try_get::<DateTime<Utc>, _>("created_at")?,
        updated_at: row.try_get::<DateTime<Utc>, _>("updated_at")?,
        custom_fields: row.try_get::<Json<CustomFields>, _>("custom_fields")?.0,
        followers: row.try_get("followers")?,
        follow_up_of: row.try_get("follow_up_of")?,
        first_response_at: row.try_get("first_response_at")?,
        solved_at: row.try_get("solved_at")?,
        satisfaction: row
            .try_get::<Option<Json<Satisfaction>>, _>("satisfaction")?
            .map(|j| j.0),
        merged_into: row.try_get("merged_into")?,
        merged_from: row.try_get("merged_from")?,
        sla: row.try_get::<Json<TicketSla>, _>("sla")?.0,
        requester_tier: row.try_get("requester_tier")?,
    })
}

/// A message row.
pub fn message_from_row(row: &PgRow) -> Result<Message, sqlx::Error> {
    let channel: String = row.try_get("channel")?;
    let kind: String = row.try_get("author_kind")?;
    let role: String = row.try_get("author_role")?;
    Ok(Message {
        id: row.try_get("id")?,
        ticket_id: row.try_get("ticket_id")?,
        author: actor(&kind, row.try_get("author_id")?, &role),
        public: row.try_get("public")?,
        body: row.try_get("body")?,
        channel: parse_channel(&channel).ok_or_else(|| bad("channel", &channel))?,
        attachments: row.try_get::<Json<Vec<Attachment>>, _>("attachments")?.0,
        mentions: row.try_get("mentions")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Storage text of an actor kind (matches the first slice's `author_kind`).
pub fn kind_str(actor: &Actor) -> &'static str {
    match actor.kind() {
        ActorKind::Customer => "customer",
        ActorKind::Agent => "agent",
        ActorKind::System => "system",
        ActorKind::Integration => "integration",
        ActorKind::Unspecified => "",
    }
}

/// Storage text of an actor's role.
pub fn role_str(actor: &Actor) -> &'static str {
    match actor.role() {
        Role::Customer => "customer",
        Role::Agent => "agent",
        Role::Supervisor => "supervisor",
        Role::Admin => "admin",
        Role::Unspecified => "",
    }
}

/// An actor from its storage text.
pub fn actor(kind: &str, id: String, role: &str) -> Actor {
    let kind = match kind {
        "customer" => ActorKind::Customer,
        "agent" => ActorKind::Agent,
        "system" => ActorKind::System,
        "integration" => ActorKind::Integration,
        _ => ActorKind::Unspecified,
    };
    let role = match role {
        "customer" => Role::Customer,
        "agent" => Role::Agent,
        "supervisor" => Role::Supervisor,
        "admin" => Role::Admin,
        _ => Role::Unspecified,
    };
    Actor {
        kind: kind as i32,
        id,
        role: role as i32,
    }
}
