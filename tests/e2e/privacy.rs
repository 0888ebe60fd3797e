//! Issue 20's erasure test: a customer known by marker strings (name, email
//! address, phone number) gets tickets, replies, notes, a rating, emails,
//! staff notifications, webhook deliveries, analytics facts, a vote and
//! preferences; an admin erases them; once every consumer has applied the
//! erasure, no answer, stream, export or row of any table of any service
//! holds a marker.
//!
//! The event stream itself is left out on purpose: JetStream messages
//! cannot be rewritten, so the events published before the erasure keep
//! the markers until the stream's `max_age` (see README, Privacy).

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use switchboard_runtime::Role;
use switchboard_testkit::{smtp::SmtpSink, wait_for};
use tonic::Code;

use crate::{
    census::Counter,
    desk::{Desk, int, text},
};

const TENANT: &str = "tenant-p";
const TICKETS: &str = "switchboard.ticket.v1.TicketService/";
const CUSTOMERS: &str = "switchboard.ticket.v1.CustomerService/";
const PRIVACY: &str = "switchboard.ticket.v1.PrivacyService/";
const NOTIFY: &str = "switchboard.notification.v1.NotificationService/";
const KNOWLEDGE: &str = "switchboard.knowledge.v1.KnowledgeService/";
const ANALYTICS: &str = "switchboard.analytics.v1.AnalyticsService/";

/// What identifies the customer, each unique to this run.
struct Person {
    name: String,
    first: String,
    last: String,
    email: String,
    phone: String,
    national: String,
}

impl Person {
    fn new() -> Self {
        let id = uuid::Uuid::now_v7();
        let nonce = id.simple().to_string();
        let nonce = &nonce[nonce.len() - 8..];
        let digits = format!("{:07}", id.as_u128() % 10_000_000);
        let (first, last) = (format!("Zed{nonce}"), format!("Quill{nonce}"));
        Self {
            name: format!("{first} {last}"),
            email: format!("zed-{nonce}@p.example"),
            phone: format!("+1555{digits}"),
            national: format!("555{digits}"),
            first,
            last,
        }
    }

    fn markers(&self) -> [&str; 6] {
        [
            &self.name,
            &self.first,
            &self.last,
            &self.email,
            &self.phone,
            &self.national,
        ]
    }
}

/// Every `schema.table` of the database with a row that holds `marker`,
/// as text or as the bytes of a `bytea` column.
async fn rows_holding(pool: &sqlx::PgPool, marker: &str) -> anyhow::Result<Vec<String>> {
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema::text, table_name::text FROM information_schema.tables \
         WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(pool)
    .await?;
    let hex = hex::encode(marker.as_bytes());
    let mut found = Vec::new();
    for (schema, table) in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT left(t::text, 400) FROM \"{schema}\".\"{table}\" t \
             WHERE t::text ILIKE '%' || $1 || '%' OR t::text ILIKE '%' || $2 || '%'"
        ))
        .bind(marker)
        .bind(&hex)
        .fetch_all(pool)
        .await?;
        if let Some(first) = rows.first() {
            found.push(format!("{schema}.{table} ({}, e.g. {first})", rows.len()));
        }
    }
    Ok(found)
}

#[tokio::test]
async fn an_erased_customer_is_in_no_answer_export_or_row() -> anyhow::Result<()> {
    let sink = SmtpSink::start().await?;
    let port = sink.addr.port().to_string();
    let desk = Desk::start(&[
        ("SWITCHBOARD__NOTIFICATION__SMTP_HOST", "127.0.0.1"),
        ("SWITCHBOARD__NOTIFICATION__SMTP_PORT", &port),
        ("SWITCHBOARD__NOTIFICATION__DOMAIN", "desk.p.test"),
        ("SWITCHBOARD__NOTIFICATION__REPLY_TO", "help@p.test"),
    ])
    .await?;
    let counter = Counter::new(desk.world()).await?;
    let p = Person::new();
    let agent = desk.token(TENANT, "agent-p", Role::Agent);
    let sup = desk.token(TENANT, "sup-p", Role::Supervisor);
    let admin = desk.token(TENANT, "admin-p", Role::Admin);
    let customer = desk.token(TENANT, &p.email, Role::Customer);

    // Integrations and the knowledge base the customer meets.
    let webhook = desk
        .call(
            &admin,
            &format!("{NOTIFY}CreateWebhook"),
            json!({"webhook": {"url": "https://hooks.example.com/crm", "eventTypes": []}}),
        )
        .await?;
    let webhook = text(&webhook, "name")?;
    let article = desk
        .call(
            &agent,
            &format!("{KNOWLEDGE}CreateArticle"),
            json!({"title": "Refunds", "bodyMarkdown": "How refunds work.", "locale": "en"}),
        )
        .await?;
    let article_name = text(&article, "name")?;
    desk.call(
        &agent,
        &format!("{KNOWLEDGE}PublishArticle"),
        json!({"name": article_name, "expectedVersion": int(&article, "version")?.to_string()}),
    )
    .await?;

    // The customer's ticket and everything that follows from it.
    let ticket = desk
        .call(
            &agent,
            &format!("{TICKETS}CreateTicket"),
            json!({
                "subject": format!("Refund for {}", p.name),
                "description": format!("This is {}, reach me on {}", p.name, p.phone),
                "requester": {"email": p.email, "displayName": p.name},
            }),
        )
        .await?;
    let name = text(&ticket, "name")?;
    let requester = text(&ticket, "requester")?;
    desk.call(
        &agent,
        &format!("{CUSTOMERS}AddIdentity"),
        json!({"name": requester, "identity": {"kind": "IDENTITY_KIND_PHONE", "value": p.phone}}),
    )
    .await?;
    let add = format!("{TICKETS}AddMessage");
    // The supervisor acts on it first, so the desk knows them as staff.
    desk.call(
        &sup,
        &add,
        json!({"parent": name, "body": "Watching this one", "visibility": "VISIBILITY_INTERNAL"}),
    )
    .await?;
    desk.call(
        &customer,
        &add,
        json!({"parent": name, "body": format!("{} again, call {}", p.first, p.phone)}),
    )
    .await?;
    desk.call(
        &agent,
        &add,
        json!({"parent": name, "body": format!("Dear {}, we refund you today.", p.name)}),
    )
    .await?;
    desk.call(
        &agent,
        &add,
        json!({
            "parent": name,
            "body": format!("{} ({}) called from {}", p.last, p.email, p.national),
            "visibility": "VISIBILITY_INTERNAL",
            "mentions": ["sup-p"],
        }),
    )
    .await?;
    let current = desk
        .call(
            &agent,
            &format!("{TICKETS}GetTicket"),
            json!({"name": name}),
        )
        .await?;
    desk.call(
        &agent,
        &format!("{TICKETS}UpdateTicket"),
        json!({
            "ticket": {"name": name, "status": "TICKET_STATUS_SOLVED"},
            "updateMask": "status",
            "expectedVersion": int(&current, "version")?.to_string(),
        }),
    )
    .await?;
    desk.call(
        &customer,
        &format!("{TICKETS}SubmitSatisfaction"),
        json!({"name": name, "score": 5, "comment": format!("Thanks, {}", p.first)}),
    )
    .await?;
    desk.call(
        &customer,
        &format!("{KNOWLEDGE}VoteArticle"),
        json!({"name": article_name, "vote": "VOTE_HELPFUL"}),
    )
    .await?;
    desk.call(
        &customer,
        &format!("{NOTIFY}UpdatePreferences"),
        json!({"preferences": {"mutedEventTypes": ["ticket.updated"], "version": "0"}}),
    )
    .await?;
    wait_for(
        Duration::from_secs(30),
        "an email to the customer",
        || async {
            sink.messages()
                .await
                .iter()
                .any(|m| m.rcpt.iter().any(|r| r == &p.email))
        },
    )
    .await?;
    counter.settled(Duration::from_secs(60)).await?;

    // The markers are everywhere before: the check below can see them.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&desk.world().db.url)
        .await?;
    let mut before = Vec::new();
    for marker in p.markers() {
        before.extend(rows_holding(&pool, marker).await?);
    }
    for table in [
        "ticket.customer_identities",
        "ticket.tickets",
        "ticket.messages",
        "notification.contacts",
        "notification.deliveries",
        "knowledge.article_votes",
        "analytics.ticket_terms",
    ] {
        assert!(
            before.iter().any(|t| t.starts_with(&format!("{table} "))),
            "{table} should hold a marker before erasure: {before:?}"
        );
    }
    let inbox = desk
        .call(&sup, &format!("{NOTIFY}ListNotifications"), json!({}))
        .await?;
    assert!(inbox.to_string().contains(&p.last), "the mention: {inbox}");

    let erased = desk
        .call(
            &admin,
            &format!("{PRIVACY}EraseCustomer"),
            json!({"name": requester}),
        )
        .await?;
    assert_eq!(int(&erased, "tickets")?, 1, "{erased}");
    counter.settled(Duration::from_secs(60)).await?;

    // No answer names them.
    let now = chrono::Utc::now();
    let range = json!({
        "startTime": (now - chrono::Duration::days(1)).to_rfc3339(),
        "endTime": (now + chrono::Duration::days(1)).to_rfc3339(),
    });
    let asks: Vec<(&str, String, Value)> = vec![
        (
            agent.as_str(),
            format!("{CUSTOMERS}GetCustomer"),
            json!({"name": requester}),
        ),
        (
            agent.as_str(),
            format!("{CUSTOMERS}ListCustomerHistory"),
            json!({"name": requester}),
        ),
        (agent.as_str(), format!("{TICKETS}ListTickets"), json!({})),
        (
            agent.as_str(),
            format!("{TICKETS}GetTicket"),
            json!({"name": name}),
        ),
        (
            agent.as_str(),
            format!("{TICKETS}ListMessages"),
            json!({"parent": name}),
        ),
        (
            agent.as_str(),
            format!("{TICKETS}ListTicketChanges"),
            json!({"name": name}),
        ),
        (
            sup.as_str(),
            format!("{NOTIFY}ListNotifications"),
            json!({}),
        ),
        (
            agent.as_str(),
            format!("{NOTIFY}ListNotifications"),
            json!({}),
        ),
        (
            admin.as_str(),
            format!("{NOTIFY}ListDeliveries"),
            json!({"parent": webhook}),
        ),
        (
            admin.as_str(),
            format!("{ANALYTICS}ExportTicketFacts"),
            json!({"range": range}),
        ),
        (
            admin.as_str(),
            format!("{ANALYTICS}ListTopIssues"),
            json!({"range": range}),
        ),
        (
            admin.as_str(),
            format!("{PRIVACY}ExportCustomer"),
            json!({"name": requester}),
        ),
    ];
    let mut leaks = Vec::new();
    for (token, rpc, body) in &asks {
        let (reply, _) = desk.try_call(token, rpc, body.clone()).await?;
        assert_eq!(reply.code, Code::Ok, "{rpc}: {}", reply.summary());
        for marker in p.markers() {
            if reply.mentions(marker) {
                leaks.push(format!("{rpc} answers {marker}"));
            }
        }
    }
    for identity in [
        json!({"kind": "IDENTITY_KIND_EMAIL", "value": p.email}),
        json!({"kind": "IDENTITY_KIND_PHONE", "value": p.phone}),
    ] {
        let (reply, _) = desk
            .try_call(
                &agent,
                &format!("{CUSTOMERS}FindCustomer"),
                json!({"identity": identity}),
            )
            .await?;
        assert_eq!(reply.code, Code::NotFound, "{}", reply.summary());
    }
    // No row of any table of any service holds them.
    for marker in p.markers() {
        for table in rows_holding(&pool, marker).await? {
            leaks.push(format!("{table} holds {marker}"));
        }
    }
    assert!(leaks.is_empty(), "after erasure:\n{}", leaks.join("\n"));
    // The tickets are kept for statistics.
    let kept = desk
        .call(
            &agent,
            &format!("{TICKETS}GetTicket"),
            json!({"name": name}),
        )
        .await?;
    assert_eq!(text(&kept, "status")?, "TICKET_STATUS_SOLVED");
    assert_eq!(text(&kept, "requester")?, requester);
    pool.close().await;
    desk.stop().await
}
