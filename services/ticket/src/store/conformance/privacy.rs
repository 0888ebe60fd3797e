//! What every backend's erasure and retention must do (see
//! [`PrivacyStore`](crate::store::privacy::PrivacyStore)).

use switchboard_proto::ticket::v1 as pb;
use switchboard_runtime::{Caller, Role, TenantId};
use uuid::Uuid;

use super::{actor, caller};
use crate::{
    domain::{Identity, NewTicket, change, message::NewMessage, privacy::ERASED, ticket_name},
    privacy_api::Stores,
    store::{Apply, customers::CustomerError},
};

/// Strings that identify the customer of these checks.
const NAME: &str = "Zelda Quixotic";
const EMAIL: &str = "zelda.q@example.com";
const PHONE: &str = "+15557654321";

fn customer(tenant: &str, user: &str) -> Caller {
    Caller {
        tenant: TenantId::parse(tenant).expect("valid tenant"),
        user: user.into(),
        role: Role::Customer,
        via: switchboard_runtime::auth::Via::Person,
    }
}

/// A ticket for `email` named `name`, opened by an agent.
async fn open(store: &dyn Stores, tenant: &str, email: &str, name: &str, subject: &str) -> Uuid {
    let agent = caller(tenant);
    let new = NewTicket::from_request(
        &agent,
        pb::CreateTicketRequest {
            subject: subject.into(),
            description: format!("I am {name}, call me on {PHONE}"),
            requester: Some(pb::Requester {
                email: email.into(),
                display_name: name.into(),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .expect("valid ticket");
    store
        .create(&agent.tenant, &new, None, actor())
        .await
        .expect("create")
        .ticket
        .id
}

/// Adds `body` to `ticket` as `who`; returns the ticket it landed on (a
/// follow-up, when `ticket` was closed).
async fn say(store: &dyn Stores, who: &Caller, ticket: Uuid, body: &str, internal: bool) -> Uuid {
    let new = NewMessage::from_request(
        who,
        &pb::AddMessageRequest {
            parent: ticket_name(ticket),
            body: body.into(),
            visibility: if internal {
                pb::Visibility::Internal
            } else {
                pb::Visibility::Public
            } as i32,
            ..Default::default()
        },
    )
    .expect("valid message");
    let tenant = who.tenant.clone();
    let who = who.clone();
    let apply: Apply = Box::new(move |t| change::add_message(t, &who, &new, chrono::Utc::now()));
    store
        .update(&tenant, ticket, None, apply)
        .await
        .expect("add message")
        .ticket
        .id
}

fn mentions_customer(text: &str) -> bool {
    let lower = text.to_lowercase();
    ["zelda", "quixotic", EMAIL, "7654321"]
        .iter()
        .any(|m| lower.contains(m))
}

/// After erasure nothing the store answers names the customer: profile,
/// lookups, tickets, messages, audit trail; other customers keep theirs.
pub async fn erasure_leaves_nothing_that_names_the_customer(store: &dyn Stores) {
    let acme = caller("acme");
    let tenant = &acme.tenant;
    let ticket = open(store, "acme", EMAIL, NAME, "Zelda's printer").await;
    let other = open(store, "acme", "bob@example.com", "Bob", "Bob's printer").await;
    let id = store
        .get(tenant, ticket)
        .await
        .unwrap()
        .unwrap()
        .requester_id;
    store
        .add_identity(tenant, id, &Identity::Phone(PHONE.into()))
        .await
        .expect("add phone");
    say(
        store,
        &customer("acme", EMAIL),
        ticket,
        "My passport no. is X123",
        false,
    )
    .await;
    say(store, &acme, ticket, "Hi Zelda, call 555-765-4321?", false).await;
    say(store, &acme, ticket, "zelda.q@example.com is rude", true).await;
    say(store, &acme, other, "Hi Bob, Zelda says hi", false).await;

    let erased = store
        .erase_customer(tenant, id, actor())
        .await
        .expect("erase");
    assert_eq!(erased.tickets, [ticket]);
    assert_eq!(
        erased.messages, 4,
        "the description's message and three more"
    );
    let c = store.customer(tenant, id).await.unwrap().expect("kept");
    assert!(c.erased_at.is_some());
    assert_eq!((c.display_name.as_str(), c.identities.len()), ("", 0));
    for identity in [Identity::Email(EMAIL.into()), Identity::Phone(PHONE.into())] {
        assert_eq!(store.find_customer(tenant, &identity).await.unwrap(), None);
    }
    let t = store.get(tenant, ticket).await.unwrap().expect("kept");
    assert_eq!(t.description, ERASED);
    assert_eq!(t.subject, "[erased]'s printer");
    assert_eq!(t.requester_id, id, "still counted as one customer's");
    let messages = store
        .messages(tenant, ticket, true, None, 100)
        .await
        .unwrap();
    assert_eq!(messages.len(), 4);
    for m in &messages {
        assert!(!mentions_customer(&m.body), "{m:?}");
        assert!(!mentions_customer(&m.author.id), "{m:?}");
    }
    assert_eq!(
        messages[1].body, ERASED,
        "the customer's own words go whole"
    );
    assert_eq!(messages[2].body, "Hi [erased], call [erased]?");
    for c in store.changes(tenant, ticket, 0, 100).await.unwrap() {
        assert!(
            !mentions_customer(&format!("{} {} {}", c.actor.id, c.old, c.new)),
            "{c:?}"
        );
    }
    // Another customer's ticket is theirs; a mention there is staff's text
    // about someone else, and stays.
    let bobs = store
        .messages(tenant, other, true, None, 100)
        .await
        .unwrap();
    assert!(bobs.iter().any(|m| m.body == "Hi Bob, Zelda says hi"));

    // A new contact from the same address is a new person.
    let again = open(store, "acme", EMAIL, "Zelda", "Back again").await;
    assert_ne!(
        store
            .get(tenant, again)
            .await
            .unwrap()
            .unwrap()
            .requester_id,
        id
    );

    // Erasing again does nothing; the profile takes no identity back.
    let repeat = store
        .erase_customer(tenant, id, actor())
        .await
        .expect("erase");
    assert!(repeat.tickets.is_empty());
    assert!(matches!(
        store
            .add_identity(tenant, id, &Identity::Email("z@example.com".into()))
            .await,
        Err(CustomerError::Refused(_))
    ));
    // Another tenant's customer is not found.
    assert!(matches!(
        store
            .erase_customer(&TenantId::parse("globex").unwrap(), id, actor())
            .await,
        Err(CustomerError::NotFound(_))
    ));
}

/// Erasing a survivor erases the profiles merged into it; a merged-away
/// profile is refused, naming its survivor.
pub async fn erasure_covers_merged_profiles(store: &dyn Stores) {
    let acme = caller("acme");
    let tenant = &acme.tenant;
    let first = open(store, "acme", EMAIL, NAME, "Printer").await;
    let second = open(store, "acme", "zq@work.example", "Z. Quixotic", "Scanner").await;
    let source = store
        .get(tenant, second)
        .await
        .unwrap()
        .unwrap()
        .requester_id;
    let target = store
        .get(tenant, first)
        .await
        .unwrap()
        .unwrap()
        .requester_id;
    store
        .merge_customers(tenant, source, target, actor())
        .await
        .expect("merge");
    match store.erase_customer(tenant, source, actor()).await {
        Err(CustomerError::Refused(why)) => assert!(why.contains(&target.to_string()), "{why}"),
        other => panic!("erasing a merged-away profile: {other:?}"),
    }
    let erased = store
        .erase_customer(tenant, target, actor())
        .await
        .expect("erase");
    assert_eq!(erased.merged, [source]);
    assert_eq!(erased.tickets.len(), 2);
    let old = store.customer(tenant, source).await.unwrap().expect("kept");
    assert_eq!(
        (old.display_name.as_str(), old.erased_at.is_some()),
        ("", true)
    );
    for ticket in [first, second] {
        let t = store.get(tenant, ticket).await.unwrap().unwrap();
        assert_eq!(t.description, ERASED);
    }
}

/// Closed tickets past their tenant's policy go with their messages and
/// audit trail; open ones, recent ones and other tenants' stay.
pub async fn retention_deletes_closed_tickets_past_the_policy(store: &dyn Stores) {
    use crate::domain::{Status, change::TicketUpdate};
    let acme = caller("acme");
    assert_eq!(store.retention(&acme.tenant).await.unwrap().version, 0);
    let set = store.set_retention(&acme.tenant, 30).await.unwrap();
    assert_eq!((set.closed_ticket_days, set.version), (30, 1));
    assert_eq!(
        store.set_retention(&acme.tenant, 30).await.unwrap().version,
        2
    );
    let close = |ticket: Uuid, tenant: &'static str| async move {
        let agent = caller(tenant);
        for status in [Status::Solved, Status::Closed] {
            let current = store.get(&agent.tenant, ticket).await.unwrap().unwrap();
            let update = TicketUpdate {
                id: ticket,
                expected_version: current.version,
                status: Some(status),
                ..Default::default()
            };
            let who = agent.clone();
            let apply: Apply =
                Box::new(move |t| change::update(t, &who, &update, chrono::Utc::now()));
            store
                .update(&agent.tenant, ticket, None, apply)
                .await
                .expect("solve, then close");
        }
    };
    let closed = open(store, "acme", "ann@example.com", "Ann", "Old").await;
    let kept_open = open(store, "acme", "ann@example.com", "Ann", "Still open").await;
    let also_closed = open(store, "acme", "ann@example.com", "Ann", "Source").await;
    close(closed, "acme").await;
    close(also_closed, "acme").await;
    // A reply to a closed ticket opens a follow-up linked to it.
    let follow_up = say(
        store,
        &customer("acme", "ann@example.com"),
        closed,
        "And now?",
        false,
    )
    .await;
    assert_ne!(follow_up, closed);
    let globex = open(store, "globex", "gus@example.com", "Gus", "Old too").await;
    close(globex, "globex").await;

    // Nothing is old enough yet.
    let now = chrono::Utc::now();
    assert!(
        store
            .purge_closed(now, 100)
            .await
            .unwrap()
            .tickets
            .is_empty()
    );
    let later = now + chrono::Duration::days(31);
    let mut purged = store.purge_closed(later, 100).await.unwrap().tickets;
    purged.sort();
    let mut expected = vec![closed, also_closed];
    expected.sort();
    assert_eq!(purged, expected);
    for gone in &expected {
        assert_eq!(store.get(&acme.tenant, *gone).await.unwrap(), None);
        assert!(
            store
                .messages(&acme.tenant, *gone, true, None, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .changes(&acme.tenant, *gone, 0, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert!(store.get(&acme.tenant, kept_open).await.unwrap().is_some());
    let follow_up = store
        .get(&acme.tenant, follow_up)
        .await
        .unwrap()
        .expect("open, kept");
    assert_eq!(follow_up.follow_up_of, None, "its link would dangle");
    let globex_tenant = TenantId::parse("globex").unwrap();
    assert!(
        store.get(&globex_tenant, globex).await.unwrap().is_some(),
        "no policy there"
    );
    assert!(
        store
            .purge_closed(later, 100)
            .await
            .unwrap()
            .tickets
            .is_empty(),
        "done once"
    );
}
