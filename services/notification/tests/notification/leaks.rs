//! Internal notes never reach a customer, whoever an agent lists as
//! follower or mention: the in-app inbox is the desk's own.

use std::time::Duration;

use switchboard_proto::ticket::v1::Visibility;
use switchboard_runtime::Role;
use switchboard_testkit::wait_for;

use crate::{
    helpers::{Desk, TicketSpec, agent, inbox},
    smtp::SmtpSink,
};

#[tokio::test]
async fn a_customer_listed_on_an_internal_note_hears_nothing_of_it() -> anyhow::Result<()> {
    let sink = SmtpSink::start().await?;
    let desk = Desk::start(sink.addr, 3).await?;
    let mut client = desk.client().await;

    // Bob is a customer with a ticket of his own; bo is an agent who has
    // acted on the desk.
    let bobs = TicketSpec::new(1, "Bob's own ticket");
    desk.publish(&bobs.created_by("bob@example.com")).await?;
    let (seen, _) = bobs.message(2, agent("agent-bo"), Visibility::Public, "hi", &[]);
    desk.publish(&seen).await?;

    // A careless agent lists Bob (by address and by customer name) and an
    // address never seen on an internal note of Alice's ticket.
    let mut alices = TicketSpec::new(2, "Alice's secret subject");
    alices.followers = vec![bobs.requester.clone(), "bob@example.com".into()];
    desk.publish(&alices.created_by("alice@example.com"))
        .await?;
    let marker = "INTERNAL-MARKER-7f3a";
    let (note, _) = alices.message(
        2,
        agent("agent-ann"),
        Visibility::Internal,
        marker,
        &[
            "bob@example.com",
            &bobs.requester,
            "carol@example.com",
            "agent-bo",
        ],
    );
    desk.publish(&note).await?;

    // The agent hears of it: the note has been handled.
    let bo = desk.token("agent-bo", Role::Agent);
    wait_for(Duration::from_secs(20), "the note in bo's inbox", || {
        let (mut client, bo) = (client.clone(), bo.clone());
        async move {
            inbox(&mut client, &bo)
                .await
                .is_ok_and(|n| n.iter().any(|n| n.body == marker))
        }
    })
    .await?;

    // Nobody else was made a notification of it, on any channel.
    let pool = desk.pool().await;
    let recipients: Vec<(String, String)> = sqlx::query_as(
        "SELECT recipient, channel FROM notifications WHERE event_id = $1::uuid ORDER BY recipient",
    )
    .bind(&note.id)
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        recipients,
        [("agent-bo".to_owned(), "in_app".to_owned())],
        "only staff hear of an internal note"
    );
    // And no customer token reads anything of it, whatever its subject.
    for user in [
        "bob@example.com",
        bobs.requester.as_str(),
        "carol@example.com",
    ] {
        let token = desk.token(user, Role::Customer);
        let got = inbox(&mut client, &token).await?;
        assert!(
            got.iter()
                .all(|n| !n.body.contains(marker) && !n.title.contains("secret")),
            "{user} read {got:?}"
        );
    }
    desk.stop().await
}
