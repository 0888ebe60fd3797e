//! Tenant A's desk as the matrix and the sweep find it: real tickets,
//! messages, customers, agents, groups, rules, articles, a webhook with a
//! delivery and notifications, with marker strings in everything a given
//! audience must never see.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use serde_json::{Value, json};
use switchboard_runtime::Role;
use switchboard_testkit::wait_for;

use crate::desk::{Desk, int, text};

/// The tenant whose objects every call names.
pub const TENANT_A: &str = "tenant-a";
/// The other tenant.
pub const TENANT_B: &str = "tenant-b";
/// Tenant A's agent, supervisor and admin (all registered as agents).
pub const AGENT_A: &str = "agent-a";
/// Tenant A's supervisor.
pub const SUPERVISOR_A: &str = "sup-a";
/// Tenant A's admin.
pub const ADMIN_A: &str = "admin-a";
/// The chat visitor of tenant A's chat.
const VISITOR: &str = "visitor-a1";

/// Strings that must never reach some audiences.
#[derive(Debug, Clone)]
pub struct Markers {
    /// In internal notes and staff-only texts: never shown to customers.
    pub internal: String,
    /// In every text of tenant A: never shown to tenant B.
    pub tenant_a: String,
    /// In customer A1's ticket: never shown to another customer.
    pub a1_private: String,
    /// Customer A1's email address (their user id).
    pub a1_email: String,
    /// Customer A2's email address.
    pub a2_email: String,
}

impl Markers {
    fn new() -> Self {
        let nonce = uuid::Uuid::now_v7().simple().to_string();
        let nonce = &nonce[nonce.len() - 10..];
        Self {
            internal: format!("INTERNAL{nonce}"),
            tenant_a: format!("TENANTA{nonce}"),
            a1_private: format!("A1PRIVATE{nonce}"),
            a1_email: format!("a1-{nonce}@a.example"),
            a2_email: format!("a2-{nonce}@a.example"),
        }
    }
}

/// Values for `$placeholders` in request templates.
#[derive(Debug, Clone, Default)]
pub struct Values {
    /// Tenant A's objects (`ticket`, `customer`, `agent`, ...): a request
    /// that uses one names a tenant-A object.
    pub objects: HashMap<String, Value>,
    /// Everything else (time ranges, ...).
    pub params: HashMap<String, Value>,
}

impl Values {
    /// These values with `fresh` objects in place of the shared ones.
    pub fn with(&self, fresh: HashMap<String, Value>) -> Self {
        let mut out = self.clone();
        out.objects.extend(fresh);
        out
    }
}

/// Tenant A's objects, created through the API.
pub struct Fixture {
    /// The marker strings.
    pub markers: Markers,
    /// Placeholder values naming the objects.
    pub values: Values,
}

/// Objects some RPCs need one of per call, because the call consumes or
/// changes them (a deleted agent, a merged ticket, a versioned update).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fresh {
    /// `agent`, `agent_version`.
    Agent,
    /// `group`, `group_version`.
    Group,
    /// `webhook`, `webhook_version`.
    Webhook,
    /// `ticket`, `ticket_version` (customer A1's).
    Ticket,
    /// `ticket`, `ticket_target` and their versions (both customer A1's).
    TicketPair,
    /// `customer`, `customer_target`.
    CustomerPair,
    /// `customer` (with a ticket, to be erased).
    Customer,
    /// `chat`, `chat_visitor`.
    Chat,
    /// `article`, `article_version` (published, public).
    Article,
    /// `article`, `article_version` (a draft).
    Draft,
    /// `api_token` (a live API token of tenant A).
    ApiToken,
}

const TICKETS: &str = "switchboard.ticket.v1.TicketService/";
const ROUTING: &str = "switchboard.routing.v1.RoutingService/";
const NOTIFY: &str = "switchboard.notification.v1.NotificationService/";
const KNOWLEDGE: &str = "switchboard.knowledge.v1.KnowledgeService/";
const INTAKE: &str = "switchboard.ticket.v1.IntakeService/";

/// Tokens of tenant A's people.
struct Staff {
    agent: String,
    admin: String,
    supervisor: String,
}

impl Staff {
    fn of(desk: &Desk) -> Self {
        Self {
            agent: desk.token(TENANT_A, AGENT_A, Role::Agent),
            admin: desk.token(TENANT_A, ADMIN_A, Role::Admin),
            supervisor: desk.token(TENANT_A, SUPERVISOR_A, Role::Supervisor),
        }
    }
}

impl Fixture {
    /// Creates tenant A's desk and waits until the event consumers have
    /// caught up with it (a mention notification and a webhook delivery).
    pub async fn create(desk: &Desk) -> anyhow::Result<Self> {
        let m = Markers::new();
        let s = Staff::of(desk);
        let mut objects = HashMap::new();
        let mut put = |k: &str, v: Value| objects.insert(k.to_owned(), v);

        let staff_only = format!("{} {}", m.internal, m.tenant_a);
        desk.call(
            &s.admin,
            &format!("{ROUTING}CreateGroup"),
            json!({"group": {"name": "groups/tier1", "displayName": format!("Tier one {staff_only}")}}),
        )
        .await?;
        put("group", json!("groups/tier1"));
        for user in [AGENT_A, SUPERVISOR_A, ADMIN_A] {
            desk.call(
                &s.admin,
                &format!("{ROUTING}CreateAgent"),
                json!({"agent": {
                    "name": format!("agents/{user}"),
                    "displayName": format!("{user} {staff_only}"),
                    "groups": ["tier1"],
                    "capacity": [{"max": 5}],
                }}),
            )
            .await?;
        }
        put("agent", json!(format!("agents/{AGENT_A}")));
        desk.call(
            &s.admin,
            &format!("{ROUTING}UpdateRoutingRules"),
            json!({"rules": {"rules": [{
                "name": format!("everyone {staff_only}"),
                "enabled": true,
                "conditions": {},
                "actions": {"group": "tier1"},
            }]}}),
        )
        .await?;
        desk.call(
            &s.admin,
            &format!("{TICKETS}UpdateSlaPolicy"),
            json!({"policy": {"targets": [{
                "priority": "PRIORITY_NORMAL", "firstResponseMinutes": 60, "resolutionMinutes": 480,
            }], "warningMinutes": 10}}),
        )
        .await?;
        desk.call(
            &s.admin,
            &format!("{TICKETS}UpdateIntakeRules"),
            json!({"rules": {"rules": [{
                "name": format!("never {staff_only}"),
                "enabled": true,
                "conditions": {"all": [{"field": "subject", "operator": "contains", "value": {"text": "zzz-never"}}]},
                "actions": {"addTags": ["never"]},
            }]}}),
        )
        .await?;
        let webhook = desk
            .call(
                &s.admin,
                &format!("{NOTIFY}CreateWebhook"),
                json!({"webhook": {
                    "url": "https://hooks.example.com/switchboard",
                    "eventTypes": ["ticket.created"],
                    "description": format!("CRM sync {staff_only}"),
                }}),
            )
            .await?;
        let webhook = text(&webhook, "name")?;
        put("webhook", json!(webhook));

        let article = publish_article(desk, &s.agent, &m.tenant_a, false).await?;
        put("article", json!(article.0));
        publish_article(desk, &s.agent, &staff_only, true).await?;
        let category = desk
            .call(
                &s.admin,
                &format!("{KNOWLEDGE}CreateCategory"),
                json!({"category": {"title": format!("Printers {}", m.tenant_a)}}),
            )
            .await?;
        put("category", json!(text(&category, "name")?));

        let a1 = desk.token(TENANT_A, &m.a1_email, Role::Customer);
        let a2 = desk.token(TENANT_A, &m.a2_email, Role::Customer);
        let ticket = desk
            .call(
                &a1,
                &format!("{TICKETS}CreateTicket"),
                json!({
                    "requestId": "matrix-ticket",
                    "subject": format!("Printer on fire {} {}", m.a1_private, m.tenant_a),
                    "description": format!("Smoke everywhere {}", m.a1_private),
                }),
            )
            .await?;
        let ticket_a1 = text(&ticket, "name")?;
        put("ticket", json!(ticket_a1));
        put("customer", json!(text(&ticket, "requester")?));
        let other = desk
            .call(
                &a2,
                &format!("{TICKETS}CreateTicket"),
                json!({"subject": format!("Scanner broken {}", m.tenant_a)}),
            )
            .await?;
        put("ticket_a2", json!(text(&other, "name")?));
        put("customer_a2", json!(text(&other, "requester")?));

        let add = format!("{TICKETS}AddMessage");
        desk.call(
            &s.agent,
            &add,
            json!({"parent": ticket_a1, "body": format!("We are on it {}", m.tenant_a)}),
        )
        .await?;
        desk.call(
            &s.agent,
            &add,
            json!({
                "parent": ticket_a1,
                "requestId": "matrix-note",
                "body": format!("Customer is difficult {staff_only}"),
                "visibility": "VISIBILITY_INTERNAL",
                "mentions": [SUPERVISOR_A],
            }),
        )
        .await?;
        // Findings 1 and 2 of issue 18: a note that names customers must not
        // reach them. A fixed server refuses the call, which is fine too.
        let _ = desk
            .try_call(
                &s.agent,
                &add,
                json!({
                    "parent": ticket_a1,
                    "requestId": "matrix-note-2",
                    "body": format!("Do not tell them {staff_only}"),
                    "visibility": "VISIBILITY_INTERNAL",
                    "mentions": [m.a1_email, m.a2_email],
                }),
            )
            .await?;
        let current = desk
            .call(
                &s.agent,
                &format!("{TICKETS}GetTicket"),
                json!({"name": ticket_a1}),
            )
            .await?;
        let _ = desk
            .try_call(
                &s.agent,
                &format!("{TICKETS}UpdateTicket"),
                json!({
                    "ticket": {"name": ticket_a1, "followers": [m.a2_email, AGENT_A]},
                    "updateMask": "followers",
                    "expectedVersion": int(&current, "version")?.to_string(),
                }),
            )
            .await?;
        let chat = start_chat(desk, &s.agent, VISITOR, &m).await?;
        put("chat", json!(chat));
        put("chat_visitor", json!(VISITOR));
        put("a1_email", json!(m.a1_email));

        let delivery = first_delivery(desk, &s.admin, &webhook).await?;
        put("delivery", json!(delivery));
        wait_for_notification(desk, &s.supervisor).await?;

        tenant_b(desk).await?;

        let now = chrono::Utc::now();
        let params = HashMap::from([
            (
                "range_start".to_owned(),
                json!((now - chrono::Duration::days(7)).to_rfc3339()),
            ),
            (
                "range_end".to_owned(),
                json!((now + chrono::Duration::days(1)).to_rfc3339()),
            ),
        ]);
        Ok(Self {
            markers: m,
            values: Values { objects, params },
        })
    }

    /// New objects of `kind` in tenant A, as placeholder values.
    pub async fn fresh(&self, desk: &Desk, kind: Fresh) -> anyhow::Result<HashMap<String, Value>> {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let s = Staff::of(desk);
        let m = &self.markers;
        let pair = |k: &str, v: Value, kv: &str, vv: Value| {
            HashMap::from([(k.to_owned(), v), (kv.to_owned(), vv)])
        };
        Ok(match kind {
            Fresh::Agent => {
                let a = desk
                    .call(
                        &s.admin,
                        &format!("{ROUTING}CreateAgent"),
                        json!({"agent": {"name": format!("agents/fresh-{n}")}}),
                    )
                    .await?;
                pair(
                    "agent",
                    json!(text(&a, "name")?),
                    "agent_version",
                    json!(int(&a, "version")?.to_string()),
                )
            }
            Fresh::Group => {
                let g = desk
                    .call(
                        &s.admin,
                        &format!("{ROUTING}CreateGroup"),
                        json!({"group": {"name": format!("groups/fresh-{n}")}}),
                    )
                    .await?;
                pair(
                    "group",
                    json!(text(&g, "name")?),
                    "group_version",
                    json!(int(&g, "version")?.to_string()),
                )
            }
            Fresh::Webhook => {
                let w = desk
                    .call(
                        &s.admin,
                        &format!("{NOTIFY}CreateWebhook"),
                        json!({"webhook": {"url": "https://hooks.example.com/fresh", "eventTypes": ["article.created"]}}),
                    )
                    .await?;
                pair(
                    "webhook",
                    json!(text(&w, "name")?),
                    "webhook_version",
                    json!(int(&w, "version")?.to_string()),
                )
            }
            Fresh::Ticket => {
                let (name, version) = a1_ticket(desk, &s.agent, m, n).await?;
                pair("ticket", json!(name), "ticket_version", json!(version))
            }
            Fresh::TicketPair => {
                let (source, sv) = a1_ticket(desk, &s.agent, m, n).await?;
                let (target, tv) = a1_ticket(desk, &s.agent, m, n).await?;
                let mut out = pair("ticket", json!(source), "ticket_version", json!(sv));
                out.extend(pair(
                    "ticket_target",
                    json!(target),
                    "ticket_target_version",
                    json!(tv),
                ));
                out
            }
            Fresh::CustomerPair => {
                let mut out = HashMap::new();
                for (key, who) in [("customer", "src"), ("customer_target", "dst")] {
                    let t = desk
                        .call(
                            &s.agent,
                            &format!("{TICKETS}CreateTicket"),
                            json!({
                                "subject": format!("Merge me {}", m.tenant_a),
                                "requester": {"email": format!("{who}-{n}@a.example")},
                            }),
                        )
                        .await?;
                    out.insert(key.to_owned(), json!(text(&t, "requester")?));
                }
                out
            }
            Fresh::Customer => {
                let t = desk
                    .call(
                        &s.agent,
                        &format!("{TICKETS}CreateTicket"),
                        json!({
                            "subject": format!("Erase me {}", m.tenant_a),
                            "requester": {"email": format!("erase-{n}@a.example")},
                        }),
                    )
                    .await?;
                HashMap::from([("customer".to_owned(), json!(text(&t, "requester")?))])
            }
            Fresh::Chat => {
                let visitor = format!("fresh-visitor-{n}");
                let chat = start_chat(desk, &s.agent, &visitor, m).await?;
                pair("chat", json!(chat), "chat_visitor", json!(visitor))
            }
            Fresh::ApiToken => {
                let t = desk
                    .call(
                        &s.admin,
                        "switchboard.access.v1.AccessService/CreateApiToken",
                        json!({"displayName": format!("fresh-{n}"), "scopes": ["ticket:read"]}),
                    )
                    .await?;
                let name = t
                    .get("token")
                    .map(|t| text(t, "name"))
                    .ok_or_else(|| anyhow::anyhow!("CreateApiToken answered no token"))??;
                HashMap::from([("api_token".to_owned(), json!(name))])
            }
            Fresh::Article | Fresh::Draft => {
                let (name, version) = if kind == Fresh::Article {
                    publish_article(desk, &s.agent, &m.tenant_a, false).await?
                } else {
                    draft_article(desk, &s.agent, &m.tenant_a, false).await?
                };
                pair(
                    "article",
                    json!(name),
                    "article_version",
                    json!(version.to_string()),
                )
            }
        })
    }
}

/// Tenant B's own desk, so its callers meet the same preconditions as
/// tenant A's (an SLA policy, its staff registered as agents).
async fn tenant_b(desk: &Desk) -> anyhow::Result<()> {
    let admin = desk.token(TENANT_B, "admin-b", Role::Admin);
    for user in ["agent-b", "sup-b", "admin-b"] {
        desk.call(
            &admin,
            &format!("{ROUTING}CreateAgent"),
            json!({"agent": {"name": format!("agents/{user}"), "capacity": [{"max": 5}]}}),
        )
        .await?;
    }
    desk.call(
        &admin,
        &format!("{TICKETS}UpdateSlaPolicy"),
        json!({"policy": {"targets": [{"priority": "PRIORITY_HIGH", "firstResponseMinutes": 30}]}}),
    )
    .await?;
    Ok(())
}

/// A new ticket of customer A1 filed by an agent: its name and version.
async fn a1_ticket(
    desk: &Desk,
    agent: &str,
    m: &Markers,
    n: u32,
) -> anyhow::Result<(String, String)> {
    let t = desk
        .call(
            agent,
            &format!("{TICKETS}CreateTicket"),
            json!({
                "subject": format!("Fresh {n} {} {}", m.a1_private, m.tenant_a),
                "requester": {"email": m.a1_email},
            }),
        )
        .await?;
    Ok((text(&t, "name")?, int(&t, "version")?.to_string()))
}

async fn draft_article(
    desk: &Desk,
    agent: &str,
    text_in: &str,
    internal: bool,
) -> anyhow::Result<(String, i64)> {
    let a = desk
        .call(
            agent,
            &format!("{KNOWLEDGE}CreateArticle"),
            json!({
                "title": format!("Printer guide {text_in}"),
                "bodyMarkdown": format!("Open the printer tray. {text_in}"),
                "locale": "en",
                "internal": internal,
            }),
        )
        .await?;
    Ok((text(&a, "name")?, int(&a, "version")?))
}

/// A published article (internal or public) whose texts carry `text_in`.
async fn publish_article(
    desk: &Desk,
    agent: &str,
    text_in: &str,
    internal: bool,
) -> anyhow::Result<(String, i64)> {
    let (name, version) = draft_article(desk, agent, text_in, internal).await?;
    let a = desk
        .call(
            agent,
            &format!("{KNOWLEDGE}PublishArticle"),
            json!({"name": name, "expectedVersion": version.to_string()}),
        )
        .await?;
    Ok((name, int(&a, "version")?))
}

/// A chat of `visitor` (linked to customer A1): its ticket name.
async fn start_chat(
    desk: &Desk,
    integration: &str,
    visitor: &str,
    m: &Markers,
) -> anyhow::Result<String> {
    let chat = desk
        .call(
            integration,
            &format!("{INTAKE}StartChat"),
            json!({
                "visitor": {"chatVisitor": visitor, "email": m.a1_email},
                "text": format!("Hello, my printer {}", m.a1_private),
            }),
        )
        .await?;
    text(chat.get("ticket").unwrap_or(&Value::Null), "name")
}

/// The first delivery of `webhook`, once the notification consumer made one.
async fn first_delivery(desk: &Desk, admin: &str, webhook: &str) -> anyhow::Result<String> {
    let found = std::sync::Mutex::new(None);
    let (found_ref, path) = (&found, format!("{NOTIFY}ListDeliveries"));
    wait_for(
        Duration::from_secs(30),
        &format!("a delivery of {webhook}"),
        || {
            let path = &path;
            async move {
                let list = desk.call(admin, path, json!({"parent": webhook})).await;
                let first = list
                    .ok()
                    .and_then(|l| l.get("deliveries").and_then(|d| d.get(0)).cloned());
                let done = first.is_some();
                *found_ref.lock().expect("not poisoned") = first;
                done
            }
        },
    )
    .await?;
    let first = found.into_inner().expect("not poisoned");
    text(&first.expect("wait_for saw it"), "name")
}

/// Waits until `token`'s inbox has a notification (the internal note's mention).
async fn wait_for_notification(desk: &Desk, token: &str) -> anyhow::Result<()> {
    let path = format!("{NOTIFY}GetUnreadCount");
    wait_for(Duration::from_secs(30), "a mention notification", || {
        let path = &path;
        async move {
            desk.call(token, path, json!({}))
                .await
                .is_ok_and(|count| count.get("unreadCount").is_some())
        }
    })
    .await
}
