//! One ticket's journey is one trace: the caller's `traceparent` on
//! CreateTicket, routing's handling of `ticket.created` (after the relay and
//! NATS), its AssignTicket call back to the ticket service, notification's
//! webhook delivery of `ticket.assigned`, and the webhook's own
//! `traceparent`, as exported over OTLP to a receiver in the test.

use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use switchboard_proto::ticket::v1::{
    CreateTicketRequest, Requester, ticket_service_client::TicketServiceClient,
};
use switchboard_runtime::Role;
use switchboard_testkit::{
    hooks::{Hook, HookReceiver},
    otlp::{OtlpReceiver, ReceivedSpan},
    wait_for,
};

use crate::{authed, desk::Desk};

const TENANT: &str = "traced";
const AGENT: &str = "agent-tia";
const ROUTING: &str = "switchboard.routing.v1.RoutingService/";
const NOTIFY: &str = "switchboard.notification.v1.NotificationService/";
/// The span id of the test's own (client) span.
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// A link of the journey and how its span is told apart.
struct Link {
    what: &'static str,
    is: fn(&ReceivedSpan) -> bool,
}

const LINKS: [Link; 4] = [
    Link {
        what: "ticket's CreateTicket server span",
        is: |s| s.name == "grpc" && s.attr("rpc") == Some(CREATE_TICKET),
    },
    Link {
        what: "routing's handler of ticket.created",
        is: |s| {
            s.name == "event"
                && s.attr("consumer") == Some("routing-tickets")
                && s.attr("event.type") == Some("ticket.created")
        },
    },
    Link {
        what: "ticket's AssignTicket server span",
        is: |s| s.name == "grpc" && s.attr("rpc") == Some(ASSIGN_TICKET),
    },
    Link {
        what: "notification's webhook delivery of ticket.assigned",
        is: |s| {
            s.name == "delivery"
                && s.attr("delivery.channel") == Some("webhook")
                && s.attr("event.type") == Some("ticket.assigned")
        },
    },
];

const CREATE_TICKET: &str = "/switchboard.ticket.v1.TicketService/CreateTicket";
const ASSIGN_TICKET: &str = "/switchboard.ticket.v1.TicketService/AssignTicket";

#[tokio::test]
async fn a_tickets_journey_from_create_to_webhook_is_one_trace() -> anyhow::Result<()> {
    let otlp = OtlpReceiver::start().await?;
    let hooks = HookReceiver::start().await?;
    let endpoint = otlp.endpoint();
    let desk = Desk::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        // Spans leave within 100 ms instead of the default 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        // Routing reaches ticket in process, through the same auth layer and
        // spans: the configured URL leads nowhere, yet tickets get assigned.
        ("SWITCHBOARD__CLIENTS__TICKET_URL", "http://127.0.0.1:9"),
        // The test's receiver listens on loopback.
        (
            "SWITCHBOARD__NOTIFICATION__WEBHOOK_ALLOWED_CIDRS",
            "127.0.0.0/8",
        ),
    ])
    .await?;
    let admin = desk.token(TENANT, "admin-tom", Role::Admin);
    let agent = desk.token(TENANT, AGENT, Role::Agent);

    // An agent online in the group every ticket is routed to, and a
    // webhook of ticket.assigned.
    desk.call(
        &admin,
        &format!("{ROUTING}CreateGroup"),
        json!({"group": {"name": "groups/tier1", "displayName": "Tier one"}}),
    )
    .await?;
    desk.call(
        &admin,
        &format!("{ROUTING}CreateAgent"),
        json!({"agent": {
            "name": format!("agents/{AGENT}"), "displayName": "Tia",
            "groups": ["tier1"], "capacity": [{"max": 5}],
        }}),
    )
    .await?;
    desk.call(
        &admin,
        &format!("{ROUTING}UpdateRoutingRules"),
        json!({"rules": {"rules": [{
            "name": "everyone", "enabled": true, "conditions": {}, "actions": {"group": "tier1"},
        }]}}),
    )
    .await?;
    desk.call(
        &agent,
        &format!("{ROUTING}SetPresence"),
        json!({"presence": "PRESENCE_ONLINE"}),
    )
    .await?;
    desk.call(
        &admin,
        &format!("{NOTIFY}CreateWebhook"),
        json!({"webhook": {"url": hooks.url(), "eventTypes": ["ticket.assigned"]}}),
    )
    .await?;

    // The caller's trace: a fresh trace id, a client span of the test's.
    let trace_id = uuid::Uuid::now_v7().simple().to_string();
    let mut request = authed(
        CreateTicketRequest {
            subject: "Traced from the first call".into(),
            requester: Some(Requester {
                email: "tracy@example.com".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        &admin,
    );
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{CLIENT_SPAN}-01").parse()?,
    );
    let ticket = TicketServiceClient::new(desk.channel.clone())
        .create_ticket(request)
        .await?
        .into_inner();

    // Barrier: the webhook of the ticket's assignment arrives...
    let hook = wait_for_hook(&hooks, &ticket.name).await?;
    let traceparent = hook.header("traceparent").map(str::to_owned);

    // ...then every link's span, once the batch exporter has sent it.
    let all_there = wait_for(Duration::from_secs(10), "every link's span", || async {
        let spans = otlp.trace(&trace_id);
        LINKS.iter().all(|l| spans.iter().any(l.is))
    })
    .await;
    let spans = otlp.trace(&trace_id);
    if let Err(e) = all_there {
        let missing: Vec<_> = LINKS
            .iter()
            .filter(|l| !spans.iter().any(l.is))
            .map(|l| l.what)
            .collect();
        let mut report = format!(
            "{e}\nmissing from trace {trace_id}: {missing:?}\n\
             the webhook's traceparent: {traceparent:?}\nspans in the trace:\n"
        );
        for s in &spans {
            report.push_str(&format!("  {s}\n"));
        }
        let mut others = std::collections::BTreeMap::<String, usize>::new();
        for s in otlp.spans().into_iter().filter(|s| s.trace_id != trace_id) {
            *others.entry(s.name).or_default() += 1;
        }
        report.push_str(&format!("spans of other traces, by name: {others:?}"));
        anyhow::bail!(report);
    }
    let find = |l: &Link| spans.iter().find(|s| (l.is)(s)).expect("waited for");
    assert_eq!(
        find(&LINKS[0]).parent_span_id,
        CLIENT_SPAN,
        "CreateTicket continues the caller's span"
    );
    let traceparent = traceparent
        .with_context(|| format!("the webhook carries no traceparent: {:?}", hook.headers))?;
    let parts: Vec<&str> = traceparent.split('-').collect();
    anyhow::ensure!(parts.len() == 4, "not a traceparent: {traceparent}");
    assert_eq!(
        parts[1], trace_id,
        "the webhook's traceparent is in the caller's trace"
    );
    assert_eq!(
        find(&LINKS[3]).span_id,
        parts[2],
        "the webhook's traceparent names the delivery's span"
    );
    desk.stop().await
}

/// The webhook announcing `ticket`'s assignment, once it arrives.
async fn wait_for_hook(hooks: &HookReceiver, ticket: &str) -> anyhow::Result<Hook> {
    let is_it = |h: &Hook| {
        h.header("switchboard-event-type") == Some("ticket.assigned")
            && serde_json::from_slice::<serde_json::Value>(&h.body).is_ok_and(|b| {
                b["event"]["ticketAssigned"]["ticket"]["name"].as_str() == Some(ticket)
            })
    };
    wait_for(
        Duration::from_secs(15),
        "the ticket.assigned webhook",
        || async { hooks.hooks().await.iter().any(is_it) },
    )
    .await?;
    Ok(hooks
        .hooks()
        .await
        .into_iter()
        .find(is_it)
        .expect("waited for"))
}
