//! SLA policies and the SLA scanner on real PostgreSQL and JetStream.

use std::sync::Arc;

use chrono::{Duration, Utc};
use switchboard_proto::{
    common::v1::Priority,
    ticket::v1::{
        BusinessHours, CreateTicketRequest, GetSlaPolicyRequest, Requester, SlaPolicy, SlaTarget,
        UpdateSlaPolicyRequest,
    },
};
use switchboard_runtime::Role;
use switchboard_testkit::nats_url;
use switchboard_ticket::{PgTicketStore, TicketStore};
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{Running, authed};

fn policy(first_response_minutes: i32) -> SlaPolicy {
    SlaPolicy {
        targets: vec![SlaTarget {
            priority: Priority::Normal as i32,
            first_response_minutes,
            resolution_minutes: 480,
        }],
        business_hours: Some(BusinessHours {
            time_zone: "UTC".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn policies_are_validated_versioned_and_applied_to_new_tickets() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut c = app.client().await;
    let agent = app.token("acme", "agent-7", Role::Agent);
    let boss = app.token("acme", "boss", Role::Supervisor);
    let update = |p: SlaPolicy| UpdateSlaPolicyRequest { policy: Some(p) };

    assert_eq!(
        c.get_sla_policy(authed(GetSlaPolicyRequest {}, &agent))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        c.update_sla_policy(authed(update(policy(60)), &agent))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let bad = SlaPolicy {
        business_hours: Some(BusinessHours {
            time_zone: "Nowhere/Land".into(),
            ..Default::default()
        }),
        ..policy(-3)
    };
    let err = c
        .update_sla_policy(authed(update(bad), &boss))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields: Vec<String> = err
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert!(
        fields.contains(&"policy.targets[0].first_response_minutes".to_owned()),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"policy.business_hours.time_zone".to_owned()),
        "{fields:?}"
    );

    // Empty hours would be closed all week: around the clock instead.
    let around_the_clock = SlaPolicy {
        business_hours: None,
        ..policy(60)
    };
    let saved = c
        .update_sla_policy(authed(update(around_the_clock.clone()), &boss))
        .await?
        .into_inner();
    assert_eq!(saved.version, 1);
    let again = c
        .update_sla_policy(authed(update(around_the_clock), &boss))
        .await?
        .into_inner();
    assert_eq!(again.version, 2);
    let read = c
        .get_sla_policy(authed(GetSlaPolicyRequest {}, &agent))
        .await?
        .into_inner();
    assert_eq!(read, again);

    let before = Utc::now();
    let ticket = c
        .create_ticket(authed(
            CreateTicketRequest {
                subject: "Timed".into(),
                requester: Some(Requester {
                    email: "ada@example.com".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &agent,
        ))
        .await?
        .into_inner();
    let sla = ticket.sla.expect("an SLA state");
    let due = sla
        .first_response_due_time
        .expect("a first-response due time");
    let expected = (before + Duration::minutes(60)).timestamp();
    assert!(
        (due.seconds - expected).abs() <= 5,
        "due {} vs about {expected}",
        due.seconds
    );
    assert!(!sla.paused && !sla.first_response_breached);
    app.stop().await
}

#[tokio::test]
async fn two_scanners_at_once_emit_each_breach_once() -> anyhow::Result<()> {
    let app = Running::start(&nats_url()).await?;
    let mut c = app.client().await;
    let agent = app.token("acme", "agent-7", Role::Agent);
    let boss = app.token("acme", "boss", Role::Admin);
    c.update_sla_policy(authed(
        UpdateSlaPolicyRequest {
            policy: Some(SlaPolicy {
                business_hours: None,
                ..policy(1)
            }),
        },
        &boss,
    ))
    .await?;
    const TICKETS: usize = 30;
    for i in 0..TICKETS {
        c.create_ticket(authed(
            CreateTicketRequest {
                subject: format!("Waiting {i}"),
                requester: Some(Requester {
                    email: format!("c{i}@example.com"),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &agent,
        ))
        .await?;
    }
    // Two replicas' scanners, both looking five minutes ahead, small batches
    // so they contend for the same rows.
    let later = Utc::now() + Duration::minutes(5);
    let mut scanners = Vec::new();
    for _ in 0..2 {
        let store = Arc::new(PgTicketStore::new(app.pool().await));
        scanners.push(tokio::spawn(async move {
            let mut seen = 0;
            loop {
                let n = store.scan_sla(later, 4).await?;
                if n == 0 {
                    return anyhow::Ok(seen);
                }
                seen += n;
            }
        }));
    }
    let mut seen = 0;
    for s in scanners {
        seen += s.await??;
    }
    assert_eq!(
        seen, TICKETS,
        "each due ticket was scanned by exactly one scanner"
    );
    let events = app.events(2 * TICKETS).await?;
    let breaches: Vec<_> = events
        .iter()
        .filter(|(_, _, e)| e.r#type == "sla.breached")
        .collect();
    assert_eq!(breaches.len(), TICKETS);
    let mut tickets: Vec<&str> = breaches
        .iter()
        .map(|(_, _, e)| e.aggregate_id.as_str())
        .collect();
    tickets.sort();
    tickets.dedup();
    assert_eq!(tickets.len(), TICKETS, "one breach per ticket");
    app.stop().await
}
