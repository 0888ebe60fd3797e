//! API tokens as an integrator and an admin use them: scopes enforced before
//! any handler, the integration named in what it does, rotation with grace,
//! revocation reaching the server within the cache time, and the audit trail.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_runtime::Role;
use switchboard_testkit::wait_for;
use tonic::Code;

use crate::desk::{Desk, text};

const ACCESS: &str = "switchboard.access.v1.AccessService/";
const TICKETS: &str = "switchboard.ticket.v1.TicketService/";
const TENANT: &str = "acme";

async fn create(
    desk: &Desk,
    admin: &str,
    name: &str,
    scopes: &[&str],
) -> anyhow::Result<(String, String)> {
    let created = desk
        .call(
            admin,
            &format!("{ACCESS}CreateApiToken"),
            json!({"displayName": name, "scopes": scopes}),
        )
        .await?;
    let token = created.get("token").cloned().unwrap_or_default();
    Ok((text(&token, "name")?, text(&created, "secret")?))
}

async fn code(desk: &Desk, token: &str, rpc: &str, body: Value) -> anyhow::Result<(Code, String)> {
    let (reply, _) = desk.try_call(token, rpc, body).await?;
    Ok((reply.code, reply.summary()))
}

fn new_ticket(subject: &str) -> Value {
    json!({"subject": subject, "requester": {"email": "buyer@acme.test"}})
}

#[tokio::test]
async fn api_tokens_are_scoped_named_rotated_revoked_and_audited() -> anyhow::Result<()> {
    let desk = Desk::start(&[("SWITCHBOARD__AUTH__API_TOKEN_CACHE_SECONDS", "1")]).await?;
    let admin = desk.token(TENANT, "ada@acme.test", Role::Admin);
    let agent = desk.token(TENANT, "agent@acme.test", Role::Agent);

    let (name, secret) = create(&desk, &admin, "CRM sync", &["ticket:write"]).await?;
    assert!(secret.starts_with("sbt_"), "{secret}");
    let listed = desk
        .call(&admin, &format!("{ACCESS}ListApiTokens"), json!({}))
        .await?;
    let listing = listed.to_string();
    assert!(
        listing.contains("CRM sync") && !listing.contains(&secret),
        "{listing}"
    );
    assert!(
        listing.contains(&secret[..12]),
        "the prefix identifies it: {listing}"
    );

    // The integration files and changes a ticket; it is the actor.
    let ticket = desk
        .call(
            &secret,
            &format!("{TICKETS}CreateTicket"),
            new_ticket("From the CRM"),
        )
        .await?;
    let ticket_name = text(&ticket, "name")?;
    desk.call(
        &secret,
        &format!("{TICKETS}UpdateTicket"),
        json!({
            "ticket": {"name": ticket_name, "subject": "Renamed by the CRM"},
            "updateMask": "subject",
            "expectedVersion": ticket["version"],
        }),
    )
    .await?;
    let changes = desk
        .call(
            &agent,
            &format!("{TICKETS}ListTicketChanges"),
            json!({"name": ticket_name}),
        )
        .await?
        .to_string();
    assert!(
        changes.contains("ACTOR_KIND_INTEGRATION") && changes.contains("CRM sync"),
        "{changes}"
    );

    // Scopes are checked before any handler, and tokens cannot mint tokens.
    let (c, why) = code(
        &desk,
        &secret,
        "switchboard.routing.v1.RoutingService/ListAgents",
        json!({}),
    )
    .await?;
    assert_eq!(c, Code::PermissionDenied, "{why}");
    assert!(why.contains("routing:read"), "{why}");
    let (_, powerful) = create(&desk, &admin, "ops", &["admin", "access:write"]).await?;
    let (c, why) = code(
        &desk,
        &powerful,
        &format!("{ACCESS}CreateApiToken"),
        json!({"displayName": "child", "scopes": ["admin"]}),
    )
    .await?;
    assert_eq!(c, Code::PermissionDenied, "{why}");

    // Made-up and malformed tokens are refused alike.
    let (kept, last) = secret.split_at(secret.len() - 1);
    let wrong_secret = format!("{kept}{}", if last == "0" { "1" } else { "0" });
    for bad in [wrong_secret, "sbt_nope".to_owned()] {
        let (c, _) = code(&desk, &bad, &format!("{TICKETS}ListTickets"), json!({})).await?;
        assert_eq!(c, Code::Unauthenticated);
    }

    // Rotation with grace: both secrets work, then only the new one.
    let rotated = desk
        .call(
            &admin,
            &format!("{ACCESS}RotateApiToken"),
            json!({"name": name, "graceSeconds": 600}),
        )
        .await?;
    let fresh = text(&rotated, "secret")?;
    for s in [&secret, &fresh] {
        desk.call(s, &format!("{TICKETS}ListTickets"), json!({}))
            .await?;
    }
    desk.call(
        &admin,
        &format!("{ACCESS}RotateApiToken"),
        json!({"name": name}),
    )
    .await?;
    refused_soon(&desk.channel, &fresh, "the rotated-out secret").await?;

    // Revocation reaches the server within the cache time.
    let (_, live) = create(&desk, &admin, "short-lived", &["ticket:read"]).await?;
    desk.call(&live, &format!("{TICKETS}ListTickets"), json!({}))
        .await?;
    // Read scope reads, and only reads.
    let (c, why) = code(
        &desk,
        &live,
        &format!("{TICKETS}CreateTicket"),
        new_ticket("A reader writing"),
    )
    .await?;
    assert_eq!(c, Code::PermissionDenied, "{why}");
    assert!(why.contains("ticket:write"), "{why}");
    let listed = desk
        .call(&admin, &format!("{ACCESS}ListApiTokens"), json!({}))
        .await?;
    let short_lived = listed["tokens"]
        .as_array()
        .and_then(|all| all.iter().find(|t| t["displayName"] == "short-lived"))
        .cloned()
        .unwrap_or_default();
    let short_name = text(&short_lived, "name")?;
    desk.call(
        &admin,
        &format!("{ACCESS}RevokeApiToken"),
        json!({"name": short_name}),
    )
    .await?;
    refused_soon(&desk.channel, &live, "the revoked token").await?;
    let (c, why) = code(
        &desk,
        &admin,
        &format!("{ACCESS}RevokeApiToken"),
        json!({"name": short_name}),
    )
    .await?;
    assert_eq!(c, Code::FailedPrecondition, "{why}");

    // The trail: token changes with their targets, and a refused rule change.
    let (c, _) = code(
        &desk,
        &agent,
        "switchboard.routing.v1.RoutingService/UpdateRoutingRules",
        json!({"rules": {"rules": []}}),
    )
    .await?;
    assert_eq!(c, Code::PermissionDenied);
    let trail = || async {
        desk.call(
            &admin,
            &format!("{ACCESS}ListAuditEvents"),
            json!({"pageSize": 100}),
        )
        .await
        .map(|v| v.to_string())
        .unwrap_or_default()
    };
    wait_for(
        Duration::from_secs(10),
        "the trail to hold every audited call",
        || async {
            let t = trail().await;
            t.contains("UpdateRoutingRules")
                && t.contains("PERMISSION_DENIED")
                && t.contains(&short_name)
        },
    )
    .await?;
    let t = trail().await;
    assert!(
        t.contains("CreateApiToken") && t.contains("RevokeApiToken") && t.contains("ada@acme.test"),
        "{t}"
    );
    assert!(!t.contains("ListTickets"), "reads are not audited: {t}");
    // The integration's refused attempt to mint a token names it.
    assert!(
        t.contains(r#""actor":"ops""#) && t.contains(r#""actorKind":"integration""#),
        "{t}"
    );

    // An entry shows what was asked and the state after, secrets redacted.
    let hook_secret = "a-signing-secret-of-the-matrix";
    desk.call(
        &admin,
        "switchboard.notification.v1.NotificationService/CreateWebhook",
        json!({"webhook": {
            "url": "https://hooks.example.com/audit",
            "eventTypes": ["ticket.created"],
            "secret": hook_secret,
        }}),
    )
    .await?;
    let hooks = || async {
        desk.call(
            &admin,
            &format!("{ACCESS}ListAuditEvents"),
            json!({"method": "/switchboard.notification.v1.NotificationService/CreateWebhook"}),
        )
        .await
        .unwrap_or_default()
    };
    wait_for(
        Duration::from_secs(10),
        "the webhook's audit entry",
        || async {
            hooks().await["events"]
                .as_array()
                .is_some_and(|e| !e.is_empty())
        },
    )
    .await?;
    let entry = hooks().await["events"][0].clone();
    let asked: Value = serde_json::from_str(entry["requestJson"].as_str().unwrap_or("null"))?;
    let result: Value = serde_json::from_str(entry["resultJson"].as_str().unwrap_or("null"))?;
    assert_eq!(
        asked["webhook"]["url"], "https://hooks.example.com/audit",
        "{entry}"
    );
    assert_eq!(asked["webhook"]["secret"], "[redacted]", "{entry}");
    assert!(text(&result, "name")?.starts_with("webhooks/"), "{entry}");
    assert!(!entry.to_string().contains(hook_secret), "{entry}");

    // Filters: one service's calls, one actor's calls.
    let routing_only = desk
        .call(
            &admin,
            &format!("{ACCESS}ListAuditEvents"),
            json!({"method": "/switchboard.routing.v1.RoutingService/"}),
        )
        .await?;
    let events = routing_only["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!events.is_empty(), "{routing_only}");
    assert!(
        events.iter().all(|e| e["method"]
            .as_str()
            .is_some_and(|m| m.starts_with("/switchboard.routing.v1.RoutingService/"))),
        "{routing_only}"
    );
    let adas = desk
        .call(
            &admin,
            &format!("{ACCESS}ListAuditEvents"),
            json!({"actor": "ada@acme.test"}),
        )
        .await?
        .to_string();
    assert!(
        adas.contains("CreateApiToken") && !adas.contains("UpdateRoutingRules"),
        "{adas}"
    );

    desk.stop().await
}

#[tokio::test]
async fn routings_credential_can_only_read_assign_and_escalate_tickets() -> anyhow::Result<()> {
    let desk = Desk::start(&[]).await?;
    let agent = desk.token(TENANT, "agent@acme.test", Role::Agent);
    let ticket = desk
        .call(
            &agent,
            &format!("{TICKETS}CreateTicket"),
            new_ticket("Route me"),
        )
        .await?;
    let name = text(&ticket, "name")?;
    let tenant = switchboard_runtime::TenantId::parse(TENANT).expect("a tenant id");
    let routing = desk.issue(&switchboard_routing::tickets::credential(&tenant));

    let (c, why) = code(
        &desk,
        &routing,
        &format!("{TICKETS}GetTicket"),
        json!({"name": name}),
    )
    .await?;
    assert_eq!(c, Code::Ok, "{why}");
    for (rpc, body) in [
        ("TicketService/ListTickets", json!({})),
        ("TicketService/ListMessages", json!({"parent": name})),
        (
            "TicketService/AddMessage",
            json!({"parent": name, "body": "hi"}),
        ),
        (
            "TicketService/CreateTicket",
            new_ticket("Not routing's job"),
        ),
        (
            "CustomerService/FindCustomer",
            json!({"identity": {"kind": "IDENTITY_KIND_EMAIL", "value": "buyer@acme.test"}}),
        ),
        ("TicketService/UpdateSlaPolicy", json!({})),
    ] {
        let (c, why) = code(
            &desk,
            &routing,
            &format!("switchboard.ticket.v1.{rpc}"),
            body,
        )
        .await?;
        assert_eq!(c, Code::PermissionDenied, "{rpc}: {why}");
    }
    for rpc in [
        "switchboard.routing.v1.RoutingService/ListAgents",
        "switchboard.access.v1.AccessService/ListAuditEvents",
    ] {
        let (c, why) = code(&desk, &routing, rpc, json!({})).await?;
        assert_eq!(c, Code::PermissionDenied, "{rpc}: {why}");
    }
    desk.stop().await
}

/// The code `token` gets for ListTickets from the server behind `channel`.
async fn list_code(channel: &tonic::transport::Channel, token: &str) -> anyhow::Result<Code> {
    use prost::Message;
    let rpc = crate::dynamic::rpc(&format!("{TICKETS}ListTickets"));
    let request = crate::dynamic::from_json(rpc.input(), &json!({}))?;
    let bytes = bytes::Bytes::from(request.encode_to_vec());
    Ok(crate::dynamic::call(channel, &rpc, bytes, Some(token))
        .await
        .code)
}

/// Waits until the server behind `channel` refuses `token` (bounded).
async fn refused_soon(
    channel: &tonic::transport::Channel,
    token: &str,
    what: &str,
) -> anyhow::Result<()> {
    wait_for(
        Duration::from_secs(10),
        &format!("{what} refused"),
        || async { matches!(list_code(channel, token).await, Ok(Code::Unauthenticated)) },
    )
    .await
}

#[tokio::test]
async fn a_token_revoked_on_one_server_is_refused_by_another_within_the_cache_time()
-> anyhow::Result<()> {
    let env = [("SWITCHBOARD__AUTH__API_TOKEN_CACHE_SECONDS", "2")];
    let desk = Desk::start(&env).await?;
    let (second, other) = desk.second_server(&env).await?;
    let admin = desk.token(TENANT, "ada@acme.test", Role::Admin);
    let (name, secret) = create(&desk, &admin, "two replicas", &["ticket:read"]).await?;
    // Both replicas have verified (and cached) the token.
    assert_eq!(list_code(&desk.channel, &secret).await?, Code::Ok);
    assert_eq!(list_code(&other, &secret).await?, Code::Ok);

    desk.call(
        &admin,
        &format!("{ACCESS}RevokeApiToken"),
        json!({"name": name}),
    )
    .await?;
    refused_soon(&other, &secret, "the token on the other replica").await?;
    assert_eq!(
        list_code(&desk.channel, &secret).await?,
        Code::Unauthenticated
    );

    drop(other);
    second.terminate(Duration::from_secs(15)).await?;
    desk.stop().await
}
