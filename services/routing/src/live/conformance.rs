//! The behaviour every [`Seats`] backend must show. Backends' test suites
//! call each function with a fresh, empty backend.

use std::sync::Arc;

use switchboard_proto::common::v1::Channel;
use switchboard_runtime::TenantId;
use uuid::Uuid;

use super::{Check, Reserve, Seats};

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("valid tenant")
}

async fn reserve(
    s: &dyn Seats,
    t: &TenantId,
    ticket: Uuid,
    user: &str,
    channel: Channel,
    capacity: u32,
    mode: Check,
) -> Reserve {
    s.reserve(t, ticket, user, channel, capacity, mode, None)
        .await
        .expect("reserve")
}

/// A reserved ticket has one holder, whoever asks next; holds are per tenant.
pub async fn a_ticket_has_one_holder(s: &dyn Seats) {
    let acme = tenant("acme");
    let ticket = Uuid::now_v7();
    assert_eq!(s.holder(&acme, ticket).await.expect("holder"), None);
    assert_eq!(
        reserve(s, &acme, ticket, "ann", Channel::Chat, 5, Check::Room).await,
        Reserve::Reserved
    );
    assert_eq!(
        s.holder(&acme, ticket).await.expect("holder").as_deref(),
        Some("ann")
    );
    assert_eq!(s.held_by(&acme, "ann").await.expect("held"), [ticket]);
    for (user, mode) in [
        ("bob", Check::Room),
        ("bob", Check::Forced),
        ("ann", Check::Room),
    ] {
        assert_eq!(
            reserve(s, &acme, ticket, user, Channel::Chat, 5, mode).await,
            Reserve::HeldBy("ann".into()),
            "{user} {mode:?}"
        );
    }
    assert!(s.held_by(&acme, "bob").await.expect("held").is_empty());
    assert_eq!(s.held_by(&acme, "ann").await.expect("held"), [ticket]);

    let globex = tenant("globex");
    assert_eq!(s.holder(&globex, ticket).await.expect("holder"), None);
    assert_eq!(
        reserve(s, &globex, ticket, "bob", Channel::Chat, 5, Check::Room).await,
        Reserve::Reserved,
        "another tenant's ticket is another ticket"
    );
    assert_eq!(
        s.holder(&acme, ticket).await.expect("holder").as_deref(),
        Some("ann")
    );
}

/// Holds count against the agent's capacity per channel; a forced hold
/// counts past it; each release frees one.
pub async fn capacity_counts_per_channel(s: &dyn Seats) {
    let acme = tenant("acme");
    let chat: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    for id in &chat[..2] {
        assert_eq!(
            reserve(s, &acme, *id, "ann", Channel::Chat, 2, Check::Room).await,
            Reserve::Reserved
        );
    }
    assert_eq!(
        reserve(s, &acme, chat[2], "ann", Channel::Chat, 2, Check::Room).await,
        Reserve::Full
    );
    assert_eq!(s.holder(&acme, chat[2]).await.expect("holder"), None);
    assert_eq!(
        reserve(
            s,
            &acme,
            Uuid::now_v7(),
            "ann",
            Channel::Email,
            1,
            Check::Room
        )
        .await,
        Reserve::Reserved,
        "another channel has its own count"
    );
    assert_eq!(
        reserve(
            s,
            &acme,
            Uuid::now_v7(),
            "bob",
            Channel::Chat,
            2,
            Check::Room
        )
        .await,
        Reserve::Reserved,
        "another agent has their own count"
    );
    assert_eq!(
        reserve(s, &acme, chat[2], "ann", Channel::Chat, 2, Check::Forced).await,
        Reserve::Reserved,
        "a forced hold ignores capacity"
    );
    // Three chats held, capacity two: one release still leaves ann full.
    assert_eq!(
        s.release(&acme, chat[0], None).await.expect("release"),
        Some(("ann".into(), Channel::Chat))
    );
    assert_eq!(
        reserve(s, &acme, chat[3], "ann", Channel::Chat, 2, Check::Room).await,
        Reserve::Full
    );
    s.release(&acme, chat[1], None).await.expect("release");
    assert_eq!(
        reserve(s, &acme, chat[3], "ann", Channel::Chat, 2, Check::Room).await,
        Reserve::Reserved
    );
    let held = s.held_by(&acme, "ann").await.expect("held");
    assert_eq!(held.len(), 3, "two chats and the email: {held:?}");
    assert!(
        held.contains(&chat[2]) && held.contains(&chat[3]),
        "{held:?}"
    );
}

/// Only the named holder's hold is released; a release says who held the
/// ticket on which channel, once.
pub async fn release_frees_the_named_hold_once(s: &dyn Seats) {
    let acme = tenant("acme");
    let ticket = Uuid::now_v7();
    reserve(s, &acme, ticket, "ann", Channel::Email, 1, Check::Room).await;
    assert_eq!(
        s.release(&acme, ticket, Some("bob"))
            .await
            .expect("release"),
        None
    );
    assert_eq!(
        s.holder(&acme, ticket).await.expect("holder").as_deref(),
        Some("ann"),
        "bob's release left ann's hold"
    );
    assert_eq!(
        s.release(&tenant("globex"), ticket, None)
            .await
            .expect("release"),
        None
    );
    assert_eq!(
        s.release(&acme, ticket, Some("ann"))
            .await
            .expect("release"),
        Some(("ann".into(), Channel::Email))
    );
    assert_eq!(s.release(&acme, ticket, None).await.expect("release"), None);
    assert_eq!(s.holder(&acme, ticket).await.expect("holder"), None);
    assert!(s.held_by(&acme, "ann").await.expect("held").is_empty());
    assert_eq!(
        reserve(
            s,
            &acme,
            Uuid::now_v7(),
            "ann",
            Channel::Email,
            1,
            Check::Room
        )
        .await,
        Reserve::Reserved,
        "the released unit is free again"
    );
}

/// Automatic routing needs the agent online: an agent with no presence is
/// offline and gets nothing.
pub async fn online_with_room_refuses_an_offline_agent(s: &dyn Seats) {
    let acme = tenant("acme");
    let ticket = Uuid::now_v7();
    assert_eq!(
        reserve(
            s,
            &acme,
            ticket,
            "ann",
            Channel::Chat,
            5,
            Check::OnlineWithRoom
        )
        .await,
        Reserve::NotOnline
    );
    assert_eq!(s.holder(&acme, ticket).await.expect("holder"), None);
    assert!(s.held_by(&acme, "ann").await.expect("held").is_empty());
}

/// Racing reservations never put an agent over capacity nor give one ticket
/// two holders.
pub async fn racing_reservations_respect_capacity_and_holders(s: Arc<dyn Seats>) {
    let acme = tenant("acme");
    let many: Vec<_> = (0..12)
        .map(|_| {
            let (s, t) = (s.clone(), acme.clone());
            tokio::spawn(async move {
                s.reserve(
                    &t,
                    Uuid::now_v7(),
                    "ann",
                    Channel::Chat,
                    3,
                    Check::Room,
                    None,
                )
                .await
                .expect("reserve")
            })
        })
        .collect();
    let mut reserved = 0;
    for task in many {
        reserved += usize::from(task.await.expect("task") == Reserve::Reserved);
    }
    assert_eq!(reserved, 3, "capacity three");
    assert_eq!(s.held_by(&acme, "ann").await.expect("held").len(), 3);

    let ticket = Uuid::now_v7();
    let one: Vec<_> = (0..12)
        .map(|i| {
            let (s, t) = (s.clone(), acme.clone());
            tokio::spawn(async move {
                let user = format!("agent-{i}");
                s.reserve(&t, ticket, &user, Channel::Chat, 3, Check::Room, None)
                    .await
                    .expect("reserve")
            })
        })
        .collect();
    let mut winners = 0;
    for task in one {
        winners += usize::from(task.await.expect("task") == Reserve::Reserved);
    }
    assert_eq!(winners, 1, "one holder per ticket");
    assert!(s.holder(&acme, ticket).await.expect("holder").is_some());
}
