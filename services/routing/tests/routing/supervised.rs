//! Routing's consumers are supervised: when the event stream is deleted
//! under them the service reports NOT_SERVING, and once the stream is back
//! they resubscribe, the service serves again and new events are handled.

use std::time::Duration;

use async_nats::jetstream;
use switchboard_events::stream::{connect, ensure_stream};
use switchboard_proto::common::v1::Channel as Ch;
use switchboard_runtime::Role;
use switchboard_testkit::wait_for;

use crate::helpers::{Desk, ticket};

#[tokio::test]
async fn a_deleted_stream_makes_routing_not_serving_until_its_consumers_are_back()
-> anyhow::Result<()> {
    let mut desk = Desk::new().await?;
    desk.routing(Duration::from_secs(60)).await?;
    assert_eq!(desk.health(0).await, 1);
    let js = jetstream::new(connect(&desk.nats_url).await?);

    js.delete_stream(&desk.settings.events.stream).await?;
    wait_for(Duration::from_secs(30), "routing NOT_SERVING", || async {
        desk.health(0).await == 2
    })
    .await?;

    ensure_stream(&js, &desk.settings.events).await?;
    wait_for(Duration::from_secs(30), "routing SERVING again", || async {
        desk.health(0).await == 1
    })
    .await?;

    let mut t = desk.tickets().await;
    let agent = desk.token("eve", Role::Agent);
    ticket(&mut t, &agent, "after the outage", Ch::Email, None).await?;
    // The new ticket's events handled on the recreated stream.
    desk.routing_idle_past(1).await?;
    desk.stop().await
}
