//! The authorization matrix of issue 18: every RPC, found by reflection,
//! called by every kind of caller against tenant A's objects, judged by one
//! table of expectations, with every answer scanned for text its caller must
//! never see.

use futures::StreamExt;
use prost::Message;
use switchboard_runtime::Role;
use tonic::Code;

use crate::{
    desk::Desk,
    dynamic::{self, Reply, Rpc},
    findings::Findings,
    fixture::{ADMIN_A, AGENT_A, Fixture, Markers, SUPERVISOR_A, TENANT_A, TENANT_B},
    requests,
};

/// Who may call an RPC on tenant A's objects.
#[derive(Debug, Clone, Copy)]
struct Allow {
    /// The customer who owns the object (customer A1, requester of the ticket).
    owner: bool,
    /// Another customer of the same tenant.
    other_customer: bool,
    /// The least staff role allowed; `None` when no staff may.
    min_staff_role: Option<Role>,
}

/// Everyone of the tenant, each on their own data (lists, inboxes, creates).
const ANYONE: Allow = Allow {
    owner: true,
    other_customer: true,
    min_staff_role: Some(Role::Agent),
};
/// The object's customer and the staff.
const OWNER_OR_STAFF: Allow = Allow {
    owner: true,
    other_customer: false,
    min_staff_role: Some(Role::Agent),
};
/// Agents, supervisors and admins.
const STAFF: Allow = Allow {
    owner: false,
    other_customer: false,
    min_staff_role: Some(Role::Agent),
};
/// Supervisors and admins.
const MANAGER: Allow = Allow {
    min_staff_role: Some(Role::Supervisor),
    ..STAFF
};
/// Admins only.
const ADMIN: Allow = Allow {
    min_staff_role: Some(Role::Admin),
    ..STAFF
};
/// Only the customer who owns the object (rating their own ticket).
const OWNER_ONLY: Allow = Allow {
    owner: true,
    other_customer: false,
    min_staff_role: None,
};

/// The expectation of every RPC. An RPC the server has that is missing here
/// fails the test: a new RPC must be declared.
const EXPECT: &[(&str, Allow)] = &[
    // Tokens are managed by admins signed in as people.
    ("switchboard.access.v1.AccessService/CreateApiToken", ADMIN),
    ("switchboard.access.v1.AccessService/ListApiTokens", ADMIN),
    ("switchboard.access.v1.AccessService/RotateApiToken", ADMIN),
    ("switchboard.access.v1.AccessService/RevokeApiToken", ADMIN),
    ("switchboard.access.v1.AccessService/ListAuditEvents", ADMIN),
    ("switchboard.ticket.v1.TicketService/CreateTicket", ANYONE),
    (
        "switchboard.ticket.v1.TicketService/GetTicket",
        OWNER_OR_STAFF,
    ),
    // Each customer lists only their own tickets (checked by the markers).
    ("switchboard.ticket.v1.TicketService/ListTickets", ANYONE),
    ("switchboard.ticket.v1.TicketService/UpdateTicket", STAFF),
    ("switchboard.ticket.v1.TicketService/AssignTicket", STAFF),
    (
        "switchboard.ticket.v1.TicketService/AddMessage",
        OWNER_OR_STAFF,
    ),
    (
        "switchboard.ticket.v1.TicketService/ListMessages",
        OWNER_OR_STAFF,
    ),
    (
        "switchboard.ticket.v1.TicketService/ListTicketChanges",
        STAFF,
    ),
    (
        "switchboard.ticket.v1.TicketService/SubmitSatisfaction",
        OWNER_ONLY,
    ),
    ("switchboard.ticket.v1.TicketService/MergeTickets", STAFF),
    ("switchboard.ticket.v1.TicketService/GetSlaPolicy", STAFF),
    (
        "switchboard.ticket.v1.TicketService/UpdateSlaPolicy",
        MANAGER,
    ),
    ("switchboard.ticket.v1.TicketService/GetIntakeRules", STAFF),
    (
        "switchboard.ticket.v1.TicketService/UpdateIntakeRules",
        MANAGER,
    ),
    ("switchboard.ticket.v1.TicketService/WatchTickets", ANYONE),
    ("switchboard.ticket.v1.CustomerService/GetCustomer", STAFF),
    ("switchboard.ticket.v1.CustomerService/FindCustomer", STAFF),
    ("switchboard.ticket.v1.CustomerService/AddIdentity", STAFF),
    (
        "switchboard.ticket.v1.CustomerService/UpdateCustomer",
        STAFF,
    ),
    (
        "switchboard.ticket.v1.CustomerService/MergeCustomers",
        STAFF,
    ),
    (
        "switchboard.ticket.v1.CustomerService/ListCustomerHistory",
        STAFF,
    ),
    // Personal data: erasure, export and retention are the admins'.
    ("switchboard.ticket.v1.PrivacyService/EraseCustomer", ADMIN),
    ("switchboard.ticket.v1.PrivacyService/ExportCustomer", ADMIN),
    (
        "switchboard.ticket.v1.PrivacyService/GetRetentionPolicy",
        ADMIN,
    ),
    (
        "switchboard.ticket.v1.PrivacyService/UpdateRetentionPolicy",
        ADMIN,
    ),
    // Channel intake takes a staff token of the tenant (an integration).
    ("switchboard.ticket.v1.IntakeService/IngestEmail", STAFF),
    ("switchboard.ticket.v1.IntakeService/LogCall", STAFF),
    ("switchboard.ticket.v1.IntakeService/IngestSocial", STAFF),
    ("switchboard.ticket.v1.IntakeService/IngestSms", STAFF),
    ("switchboard.ticket.v1.IntakeService/SubmitWebForm", STAFF),
    ("switchboard.ticket.v1.IntakeService/StartChat", STAFF),
    ("switchboard.ticket.v1.IntakeService/SendChatMessage", STAFF),
    ("switchboard.ticket.v1.IntakeService/WatchChat", STAFF),
    ("switchboard.ticket.v1.IntakeService/EndChat", STAFF),
    ("switchboard.routing.v1.RoutingService/CreateAgent", ADMIN),
    ("switchboard.routing.v1.RoutingService/GetAgent", STAFF),
    ("switchboard.routing.v1.RoutingService/ListAgents", STAFF),
    ("switchboard.routing.v1.RoutingService/UpdateAgent", ADMIN),
    ("switchboard.routing.v1.RoutingService/DeleteAgent", ADMIN),
    ("switchboard.routing.v1.RoutingService/CreateGroup", ADMIN),
    ("switchboard.routing.v1.RoutingService/GetGroup", STAFF),
    ("switchboard.routing.v1.RoutingService/ListGroups", STAFF),
    ("switchboard.routing.v1.RoutingService/UpdateGroup", ADMIN),
    ("switchboard.routing.v1.RoutingService/DeleteGroup", ADMIN),
    (
        "switchboard.routing.v1.RoutingService/GetRoutingRules",
        STAFF,
    ),
    (
        "switchboard.routing.v1.RoutingService/UpdateRoutingRules",
        ADMIN,
    ),
    // The request names agent A: the agent sets their own presence, a
    // supervisor or admin anyone's.
    ("switchboard.routing.v1.RoutingService/SetPresence", STAFF),
    ("switchboard.routing.v1.RoutingService/Heartbeat", STAFF),
    ("switchboard.routing.v1.RoutingService/ClaimNext", STAFF),
    ("switchboard.routing.v1.RoutingService/GetQueue", STAFF),
    ("switchboard.routing.v1.RoutingService/WatchQueue", STAFF),
    // The caller's own inbox and preferences.
    (
        "switchboard.notification.v1.NotificationService/ListNotifications",
        ANYONE,
    ),
    (
        "switchboard.notification.v1.NotificationService/GetUnreadCount",
        ANYONE,
    ),
    (
        "switchboard.notification.v1.NotificationService/MarkRead",
        ANYONE,
    ),
    (
        "switchboard.notification.v1.NotificationService/Subscribe",
        ANYONE,
    ),
    (
        "switchboard.notification.v1.NotificationService/CreateWebhook",
        ADMIN,
    ),
    (
        "switchboard.notification.v1.NotificationService/GetWebhook",
        ADMIN,
    ),
    (
        "switchboard.notification.v1.NotificationService/ListWebhooks",
        ADMIN,
    ),
    (
        "switchboard.notification.v1.NotificationService/UpdateWebhook",
        ADMIN,
    ),
    (
        "switchboard.notification.v1.NotificationService/DeleteWebhook",
        ADMIN,
    ),
    (
        "switchboard.notification.v1.NotificationService/ListDeliveries",
        ADMIN,
    ),
    (
        "switchboard.notification.v1.NotificationService/RedeliverDelivery",
        ADMIN,
    ),
    (
        "switchboard.notification.v1.NotificationService/GetTemplate",
        STAFF,
    ),
    (
        "switchboard.notification.v1.NotificationService/UpdateTemplate",
        ADMIN,
    ),
    (
        "switchboard.notification.v1.NotificationService/GetPreferences",
        ANYONE,
    ),
    (
        "switchboard.notification.v1.NotificationService/UpdatePreferences",
        ANYONE,
    ),
    (
        "switchboard.notification.v1.NotificationService/GetNotificationRules",
        ADMIN,
    ),
    (
        "switchboard.notification.v1.NotificationService/UpdateNotificationRules",
        ADMIN,
    ),
    (
        "switchboard.knowledge.v1.KnowledgeService/CreateArticle",
        STAFF,
    ),
    // The article named is published and public: customers may read it.
    (
        "switchboard.knowledge.v1.KnowledgeService/GetArticle",
        ANYONE,
    ),
    (
        "switchboard.knowledge.v1.KnowledgeService/ListArticles",
        ANYONE,
    ),
    (
        "switchboard.knowledge.v1.KnowledgeService/UpdateArticle",
        STAFF,
    ),
    (
        "switchboard.knowledge.v1.KnowledgeService/PublishArticle",
        STAFF,
    ),
    (
        "switchboard.knowledge.v1.KnowledgeService/ArchiveArticle",
        STAFF,
    ),
    (
        "switchboard.knowledge.v1.KnowledgeService/ListArticleVersions",
        STAFF,
    ),
    (
        "switchboard.knowledge.v1.KnowledgeService/RestoreArticleVersion",
        STAFF,
    ),
    (
        "switchboard.knowledge.v1.KnowledgeService/CreateCategory",
        MANAGER,
    ),
    (
        "switchboard.knowledge.v1.KnowledgeService/ListCategories",
        ANYONE,
    ),
    (
        "switchboard.knowledge.v1.KnowledgeService/SearchArticles",
        ANYONE,
    ),
    (
        "switchboard.knowledge.v1.KnowledgeService/SuggestArticles",
        ANYONE,
    ),
    (
        "switchboard.knowledge.v1.KnowledgeService/VoteArticle",
        ANYONE,
    ),
    (
        "switchboard.analytics.v1.AnalyticsService/GetOverview",
        MANAGER,
    ),
    (
        "switchboard.analytics.v1.AnalyticsService/QueryTimeSeries",
        MANAGER,
    ),
    (
        "switchboard.analytics.v1.AnalyticsService/ListAgentStats",
        MANAGER,
    ),
    (
        "switchboard.analytics.v1.AnalyticsService/GetSlaReport",
        MANAGER,
    ),
    (
        "switchboard.analytics.v1.AnalyticsService/ListTopIssues",
        MANAGER,
    ),
    (
        "switchboard.analytics.v1.AnalyticsService/WatchDashboard",
        STAFF,
    ),
    (
        "switchboard.analytics.v1.AnalyticsService/ExportTicketFacts",
        MANAGER,
    ),
    (
        "switchboard.analytics.v1.AnalyticsService/GetBusinessCalendar",
        MANAGER,
    ),
    (
        "switchboard.analytics.v1.AnalyticsService/UpdateBusinessCalendar",
        ADMIN,
    ),
];

/// How a caller relates to tenant A's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Customer A1, who owns the ticket.
    Owner,
    /// Customer A2, or a customer of tenant B.
    OtherCustomer,
    /// Staff in this role.
    Staff(Role),
}

/// One caller of the matrix.
struct Caller {
    label: &'static str,
    tenant: &'static str,
    kind: Kind,
    token: String,
    /// Strings this caller must never be shown.
    forbidden: Vec<String>,
}

/// Tenant B first, then tenant A's customers, then its staff from the least
/// to the most powerful, so a refused call cannot hide behind a change an
/// allowed one made.
fn callers(desk: &Desk, m: &Markers) -> Vec<Caller> {
    let caller = |label, tenant, kind, user: &str, forbidden: &[&String]| {
        let role = match kind {
            Kind::Staff(role) => role,
            _ => Role::Customer,
        };
        Caller {
            label,
            tenant,
            kind,
            token: desk.token(tenant, user, role),
            forbidden: forbidden.iter().map(|s| (*s).clone()).collect(),
        }
    };
    let b = [&m.internal, &m.tenant_a, &m.a1_private, &m.a1_email];
    vec![
        caller(
            "B customer",
            TENANT_B,
            Kind::OtherCustomer,
            "b1@b.example",
            &b,
        ),
        caller("B agent", TENANT_B, Kind::Staff(Role::Agent), "agent-b", &b),
        caller(
            "B supervisor",
            TENANT_B,
            Kind::Staff(Role::Supervisor),
            "sup-b",
            &b,
        ),
        caller("B admin", TENANT_B, Kind::Staff(Role::Admin), "admin-b", &b),
        caller(
            "A2 (other customer)",
            TENANT_A,
            Kind::OtherCustomer,
            &m.a2_email,
            &[&m.internal, &m.a1_private, &m.a1_email],
        ),
        caller(
            "A1 (owner)",
            TENANT_A,
            Kind::Owner,
            &m.a1_email,
            &[&m.internal],
        ),
        caller("A agent", TENANT_A, Kind::Staff(Role::Agent), AGENT_A, &[]),
        caller(
            "A supervisor",
            TENANT_A,
            Kind::Staff(Role::Supervisor),
            SUPERVISOR_A,
            &[],
        ),
        caller("A admin", TENANT_A, Kind::Staff(Role::Admin), ADMIN_A, &[]),
    ]
}

impl Allow {
    fn admits(self, kind: Kind) -> bool {
        match kind {
            Kind::Owner => self.owner,
            Kind::OtherCustomer => self.other_customer,
            Kind::Staff(role) => self.min_staff_role.is_some_and(|min| role >= min),
        }
    }
}

const DENIED: [Code; 2] = [Code::PermissionDenied, Code::NotFound];

/// Judges one cell: the caller's answer against the table and the markers.
fn judge(
    rpc: &Rpc,
    caller: &Caller,
    allow: Allow,
    names_object: bool,
    request: &[u8],
    reply: &Reply,
    out: &mut Findings,
) {
    let cell = format!("{} as {}", rpc.name(), caller.label);
    let foreign = caller.tenant != TENANT_A;
    let allowed = !(foreign && names_object) && allow.admits(caller.kind);
    if allowed {
        match reply.code {
            Code::PermissionDenied | Code::NotFound | Code::Unauthenticated => out.add(
                "allowed caller refused",
                format!("{cell}: {}", reply.summary()),
            ),
            Code::Internal | Code::Unknown | Code::Unavailable | Code::DeadlineExceeded => out.add(
                "allowed caller got a server error",
                format!("{cell}: {}", reply.summary()),
            ),
            Code::InvalidArgument => out.add(
                "note: allowed caller got INVALID_ARGUMENT (request not valid for this caller)",
                format!("{cell}: {}", reply.summary()),
            ),
            _ => {}
        }
    } else if !DENIED.contains(&reply.code) {
        let group = if reply.code == Code::Ok && foreign {
            "LEAK: tenant B succeeded on tenant A's object"
        } else if reply.code == Code::Ok {
            "LEAK: refused caller succeeded"
        } else {
            "refused caller got neither PERMISSION_DENIED nor NOT_FOUND"
        };
        out.add(group, format!("{cell}: {}", reply.summary()));
    }
    for marker in &caller.forbidden {
        let echoed = request
            .windows(marker.len())
            .any(|w| w == marker.as_bytes());
        if !echoed && reply.mentions(marker) {
            out.add(
                "LEAK: answer shows text this caller must not see",
                format!(
                    "{cell}: contains {marker} ({:?}, {} item(s))",
                    reply.code,
                    reply.items.len()
                ),
            );
        }
    }
}

/// Every caller on one RPC, in order.
async fn run_rpc(
    desk: &Desk,
    fixture: &Fixture,
    callers: &[Caller],
    rpc: Rpc,
    allow: Allow,
) -> Findings {
    let mut out = Findings::default();
    for caller in callers {
        let values = match requests::fresh(&rpc) {
            Some(kind) => match fixture.fresh(desk, kind).await {
                Ok(fresh) => fixture.values.with(fresh),
                Err(e) => {
                    out.add(
                        "fixture failed",
                        format!("{} for {}: {e:#}", rpc.name(), caller.label),
                    );
                    continue;
                }
            },
            None => fixture.values.clone(),
        };
        let built = match requests::build(&rpc, &values) {
            Ok(built) => built,
            Err(e) => {
                out.add(
                    "request could not be built",
                    format!("{}: {e:#}", rpc.name()),
                );
                return out;
            }
        };
        let body = built.message.encode_to_vec();
        let reply = dynamic::call(
            &desk.channel,
            &rpc,
            body.clone().into(),
            Some(&caller.token),
        )
        .await;
        judge(
            &rpc,
            caller,
            allow,
            built.names_object,
            &body,
            &reply,
            &mut out,
        );
    }
    let body = requests::build(&rpc, &fixture.values)
        .map(|b| b.message.encode_to_vec())
        .unwrap_or_default();
    let anonymous = dynamic::call(&desk.channel, &rpc, body.into(), None).await;
    if anonymous.code != Code::Unauthenticated {
        out.add(
            "no token but not UNAUTHENTICATED",
            format!("{}: {}", rpc.name(), anonymous.summary()),
        );
    }
    out
}

#[tokio::test]
async fn every_rpc_answers_every_caller_as_the_matrix_says() -> anyhow::Result<()> {
    let desk = Desk::start(&[]).await?;
    let fixture = Fixture::create(&desk).await?;
    let callers = callers(&desk, &fixture.markers);

    let mut findings = Findings::default();
    let mut cells = Vec::new();
    for rpc in dynamic::rpcs() {
        match EXPECT.iter().find(|(name, _)| *name == rpc.name()) {
            Some((_, allow)) => cells.push((rpc, *allow)),
            None => findings.add(
                "RPC without a declared expectation (add it to EXPECT)",
                rpc.name(),
            ),
        }
    }
    let checked = cells.len();
    let results: Vec<Findings> = futures::stream::iter(cells)
        .map(|(rpc, allow)| run_rpc(&desk, &fixture, &callers, rpc, allow))
        .buffer_unordered(6)
        .collect()
        .await;
    for result in results {
        findings.extend(result);
    }
    desk.stop().await?;

    let failures = findings.failures();
    println!(
        "authorization matrix: {checked} RPCs x {} callers (+ no token){}",
        callers.len(),
        findings.report()
    );
    assert_eq!(failures, 0, "{failures} failures:{}", findings.report());
    Ok(())
}
