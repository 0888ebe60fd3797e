//! The behaviour every [`TicketStore`] backend must show. Backends' test
//! suites call each function with a fresh, empty store.

use std::sync::Arc;

use switchboard_proto::common::v1::Actor;
use switchboard_runtime::{Caller, Role, TenantId};

use super::TicketStore;

pub mod privacy;
use crate::domain::{
    Identity, NewTicket,
    idempotency::{self, IdempotencyKey},
};

fn caller(tenant: &str) -> Caller {
    Caller {
        tenant: TenantId::parse(tenant).expect("valid tenant"),
        user: "agent-1".into(),
        role: Role::Agent,
        via: switchboard_runtime::auth::Via::Person,
    }
}

fn new_ticket(c: &Caller, email: &str, request_id: &str) -> NewTicket {
    use switchboard_proto::ticket::v1 as pb;
    NewTicket::from_request(
        c,
        pb::CreateTicketRequest {
            request_id: request_id.into(),
            subject: "Cannot log in".into(),
            description: "Password reset mail never arrives".into(),
            requester: Some(pb::Requester {
                email: email.into(),
                display_name: "Ann".into(),
                ..Default::default()
            }),
            tags: vec!["login".into()],
            ..Default::default()
        },
    )
    .expect("valid request")
}

fn actor() -> Actor {
    caller("acme").to_actor()
}

/// `new`'s `CreateTicket` key for `principal`, if it has a request id.
fn key(principal: &str, new: &NewTicket) -> Option<IdempotencyKey> {
    IdempotencyKey::new(
        principal.into(),
        idempotency::CREATE_TICKET,
        new.request_id.as_deref(),
        new.fingerprint(),
    )
}

/// A created ticket reads back equal, under its tenant only.
pub async fn create_then_get(store: &dyn TicketStore) {
    let acme = caller("acme");
    let created = store
        .create(
            &acme.tenant,
            &new_ticket(&acme, "ann@example.com", ""),
            None,
            actor(),
        )
        .await
        .expect("create");
    assert!(created.fresh);
    assert_eq!(created.ticket.version, 1);
    assert!(created.ticket.number > 0);
    let got = store
        .get(&acme.tenant, created.ticket.id)
        .await
        .expect("get");
    assert_eq!(got.as_ref(), Some(&created.ticket));
    let other = TenantId::parse("globex").unwrap();
    assert_eq!(
        store.get(&other, created.ticket.id).await.expect("get"),
        None
    );
}

/// A repeated request id returns the first ticket and creates nothing new.
pub async fn request_ids_make_create_idempotent(store: &dyn TicketStore) {
    let acme = caller("acme");
    let new = new_ticket(&acme, "bob@example.com", "req-1");
    let first = store
        .create(&acme.tenant, &new, key("staff:a", &new).as_ref(), actor())
        .await
        .expect("create");
    let again = store
        .create(&acme.tenant, &new, key("staff:a", &new).as_ref(), actor())
        .await
        .expect("create");
    assert!(first.fresh);
    assert!(!again.fresh);
    assert_eq!(first.ticket, again.ticket);
    // The same key in another tenant is another request.
    let globex = caller("globex");
    let there = new_ticket(&globex, "bob@example.com", "req-1");
    let elsewhere = store
        .create(
            &globex.tenant,
            &there,
            key("staff:a", &there).as_ref(),
            actor(),
        )
        .await
        .expect("create");
    assert!(elsewhere.fresh);
    assert_ne!(elsewhere.ticket.id, first.ticket.id);
}

/// Concurrent creates with one request id yield exactly one ticket.
pub async fn concurrent_duplicates_create_one_ticket(store: Arc<dyn TicketStore>) {
    let acme = caller("acme");
    let new = new_ticket(&acme, "carol@example.com", "req-race");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let new = new.clone();
            let tenant = acme.tenant.clone();
            tokio::spawn(async move {
                let key = key("staff:a", &new);
                store.create(&tenant, &new, key.as_ref(), actor()).await
            })
        })
        .collect();
    let mut ids = Vec::new();
    let mut fresh = 0;
    for t in tasks {
        let created = t.await.expect("task").expect("create");
        fresh += usize::from(created.fresh);
        ids.push(created.ticket.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one ticket for one request id");
    assert_eq!(fresh, 1, "exactly one call created it");
}

/// One identity maps to one customer, per tenant, even under concurrency.
pub async fn identities_link_tickets_to_one_customer(store: Arc<dyn TicketStore>) {
    let acme = caller("acme");
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            let new = new_ticket(&acme, "dave@example.com", "");
            let tenant = acme.tenant.clone();
            tokio::spawn(async move { store.create(&tenant, &new, None, actor()).await })
        })
        .collect();
    let mut requesters = Vec::new();
    for t in tasks {
        requesters.push(t.await.expect("task").expect("create").ticket.requester_id);
    }
    requesters.dedup();
    assert_eq!(requesters.len(), 1, "one customer for one email");
    let identities = store
        .identities(&acme.tenant, requesters[0])
        .await
        .expect("identities");
    assert_eq!(identities, [Identity::Email("dave@example.com".into())]);

    let globex = caller("globex");
    let other = store
        .create(
            &globex.tenant,
            &new_ticket(&globex, "dave@example.com", ""),
            None,
            actor(),
        )
        .await
        .expect("create");
    assert_ne!(
        other.ticket.requester_id, requesters[0],
        "tenants never share customers"
    );
    assert!(
        store
            .identities(&acme.tenant, other.ticket.requester_id)
            .await
            .expect("identities")
            .is_empty()
    );
}

/// Concurrent changes each apply once on top of the one before: a change
/// written over a version it did not see would leave fewer version bumps.
/// Racing changes that all expect one version let exactly one through.
pub async fn concurrent_changes_apply_once_each(store: Arc<dyn TicketStore>) {
    use crate::domain::change::{self, TicketUpdate};
    let acme = caller("acme");
    let created = store
        .create(
            &acme.tenant,
            &new_ticket(&acme, "dan@example.com", ""),
            None,
            actor(),
        )
        .await
        .expect("create")
        .ticket;
    let run = |rule: super::Apply| {
        let store = store.clone();
        let tenant = acme.tenant.clone();
        tokio::spawn(async move { store.update(&tenant, created.id, None, rule).await })
    };

    // Each writer expects whatever version it is shown, as a change without
    // a version check does.
    let blind: Vec<_> = (0..8)
        .map(|i| {
            let who = acme.clone();
            run(Box::new(move |t| {
                let update = TicketUpdate {
                    id: t.id,
                    expected_version: t.version,
                    subject: Some(format!("subject {i}")),
                    ..Default::default()
                };
                change::update(t, &who, &update, chrono::Utc::now())
            }))
        })
        .collect();
    for task in blind {
        task.await.expect("task").expect("update");
    }
    let after = store
        .get(&acme.tenant, created.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(after.version, created.version + 8, "every change applied");
    assert!(after.subject.starts_with("subject "), "{}", after.subject);

    // Everyone expects the version they all read: one wins.
    let seen = after.version;
    let racing: Vec<_> = (0..6)
        .map(|i| {
            let who = acme.clone();
            run(Box::new(move |t| {
                change::assign(
                    t,
                    &who,
                    Some(format!("agent-{i}")),
                    None,
                    seen,
                    chrono::Utc::now(),
                )
            }))
        })
        .collect();
    let mut won = 0;
    for task in racing {
        match task.await.expect("task") {
            Ok(_) => won += 1,
            Err(crate::store::UpdateError::Rule(crate::domain::error::RuleError::Stale {
                expected,
                actual,
            })) => assert_eq!((expected, actual), (seen, seen + 1)),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one assignment at version {seen}");
    let last = store
        .get(&acme.tenant, created.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(last.version, seen + 1);
    assert!(
        last.assignee
            .as_deref()
            .is_some_and(|a| a.starts_with("agent-")),
        "{:?}",
        last.assignee
    );
}

/// Keys belong to a principal and an operation and are bound to the
/// request's fingerprint: another principal's key is independent, the same
/// request replays, a different request with the key is refused and
/// changes nothing.
pub async fn idempotency_keys_belong_to_their_caller(store: &dyn TicketStore) {
    let acme = caller("acme");
    let anns = new_ticket(&acme, "ann@example.com", "web-form-42");
    let bobs = new_ticket(&acme, "bob@example.com", "web-form-42");
    let tenant = &acme.tenant;
    let create = |new: &NewTicket, key: Option<IdempotencyKey>| {
        let new = new.clone();
        async move { store.create(tenant, &new, key.as_ref(), actor()).await }
    };
    let first = create(&anns, key("customer:ann", &anns))
        .await
        .expect("create");
    let other = create(&bobs, key("customer:bob", &bobs))
        .await
        .expect("create");
    assert!(first.fresh && other.fresh, "two principals, two tickets");
    assert_ne!(first.ticket.id, other.ticket.id);
    assert_ne!(first.ticket.requester_id, other.ticket.requester_id);

    let again = create(&anns, key("customer:ann", &anns))
        .await
        .expect("create");
    assert!(!again.fresh);
    assert_eq!(again.ticket, first.ticket);

    let mut changed = anns.clone();
    changed.subject = "Something else".into();
    let reused = create(&changed, key("customer:ann", &changed)).await;
    assert!(
        matches!(reused, Err(super::StoreError::KeyReused)),
        "{reused:?}"
    );

    // Another operation's key with the same request id is another request.
    let mut elsewhere = key("customer:ann", &anns).expect("key");
    elsewhere.operation = "SubmitWebForm".into();
    let form = create(&anns, Some(elsewhere)).await.expect("create");
    assert!(form.fresh);

    let listed = store
        .list(
            &acme.tenant,
            &crate::domain::query::TicketQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(listed.len(), 3, "the refused request wrote nothing");
}

/// A keyed change replays for its principal only, and never across tickets.
pub async fn keyed_messages_replay_for_their_principal_only(store: &dyn TicketStore) {
    use crate::domain::{change, message::NewMessage};
    use switchboard_proto::ticket::v1 as pb;
    let acme = caller("acme");
    let mut tickets = Vec::new();
    for email in ["ann@example.com", "bob@example.com"] {
        let created = store
            .create(&acme.tenant, &new_ticket(&acme, email, ""), None, actor())
            .await
            .expect("create");
        tickets.push(created.ticket.id);
    }
    let tenant = &acme.tenant;
    let add = |ticket: uuid::Uuid, body: &str, principal: &str| {
        let new = NewMessage::from_request(
            &acme,
            &pb::AddMessageRequest {
                parent: crate::domain::ticket_name(ticket),
                request_id: "note-1".into(),
                body: body.into(),
                visibility: pb::Visibility::Internal as i32,
                ..Default::default()
            },
        )
        .expect("valid message");
        let key = IdempotencyKey::new(
            principal.into(),
            idempotency::ADD_MESSAGE,
            new.request_id.as_deref(),
            new.fingerprint(),
        );
        let who = acme.clone();
        let apply: super::Apply =
            Box::new(move |t| change::add_message(t, &who, &new, chrono::Utc::now()));
        async move { store.update(tenant, ticket, key.as_ref(), apply).await }
    };
    let note = add(tickets[0], "secret", "staff:a").await.expect("add");
    assert!(!note.replayed);
    let again = add(tickets[0], "secret", "staff:a").await.expect("add");
    assert!(again.replayed);
    assert_eq!(again.message, note.message);

    // The same request id on another ticket is another request for its
    // principal, and independent for another principal.
    let moved = add(tickets[1], "secret", "staff:a").await;
    assert!(
        matches!(
            moved,
            Err(super::UpdateError::Store(super::StoreError::KeyReused))
        ),
        "{moved:?}"
    );
    let theirs = add(tickets[1], "hello", "staff:b").await.expect("add");
    assert!(!theirs.replayed);
    assert_eq!(theirs.ticket.id, tickets[1]);
    assert_eq!(theirs.message.expect("message").body, "hello");
    let on_first = store
        .messages(&acme.tenant, tickets[0], true, None, 100)
        .await
        .expect("messages");
    assert_eq!(
        on_first.iter().filter(|m| m.body == "secret").count(),
        1,
        "one note"
    );
}

/// Ticket numbers count 1, 2, 3… in each tenant, without gaps or
/// duplicates under concurrent creates in several tenants.
pub async fn ticket_numbers_count_per_tenant(store: Arc<dyn TicketStore>) {
    const EACH: i64 = 12;
    let tasks: Vec<_> = ["acme", "globex", "initech"]
        .into_iter()
        .flat_map(|tenant| (0..EACH).map(move |i| (tenant, i)))
        .map(|(tenant, i)| {
            let store = store.clone();
            let c = caller(tenant);
            let new = new_ticket(&c, &format!("n{i}@example.com"), "");
            tokio::spawn(async move {
                let created = store.create(&c.tenant, &new, None, actor()).await;
                (tenant, created.expect("create").ticket.number)
            })
        })
        .collect();
    let mut numbers = std::collections::BTreeMap::<&str, Vec<i64>>::new();
    for task in tasks {
        let (tenant, number) = task.await.expect("task");
        numbers.entry(tenant).or_default().push(number);
    }
    for (tenant, mut seen) in numbers {
        seen.sort();
        assert_eq!(seen, (1..=EACH).collect::<Vec<_>>(), "{tenant}");
    }
}
