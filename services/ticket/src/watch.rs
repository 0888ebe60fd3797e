//! `WatchTickets`: a tenant's ticket events, filtered by what the caller may
//! see, pushed to a live console.
//!
//! All of a tenant's watchers (and `WatchChat` visitors) share one core NATS
//! subscription to the tenant's subjects, where JetStream publishes also
//! arrive: it starts with the tenant's first watcher, stops with its last,
//! and decodes each event once for all of them. A watcher is ephemeral by
//! design (no replay), so it costs the stream no consumer state.

use std::{pin::Pin, sync::Arc};

use futures::StreamExt;
use prost::Message as _;
use switchboard_proto::{
    events::v1::{Envelope, envelope::Payload},
    ticket::v1::{self as pb, TicketEvent},
};
use switchboard_runtime::{
    Caller, Feed, Hub, Missed, Streams, TenantId,
    fanout::{Events, Listener, events},
};
use tonic::Status;
use uuid::Uuid;

use crate::domain::query::TicketQuery;

/// What a `WatchTickets` reader that was cut off does next.
pub const RESUME: &str = "list tickets again, then watch again";

/// The stream `WatchTickets` returns.
pub type WatchStream = Pin<Box<dyn futures::Stream<Item = Result<TicketEvent, Status>> + Send>>;

/// Whose tickets a watcher may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Staff: every ticket of the tenant, notes included.
    Staff,
    /// A customer: their own tickets, public messages only.
    Customer(Uuid),
}

/// Opens watch streams.
#[derive(Clone)]
pub struct Watcher {
    client: async_nats::Client,
    subject_prefix: String,
    streams: Streams,
    hub: Hub<TenantId, Events<Envelope>>,
}

impl Watcher {
    /// Watches subjects under `subject_prefix` through `client`, whose
    /// subscription capacity bounds what NATS buffers per tenant; every
    /// stream is opened through the process's stream budget `streams`
    /// (whose `fanout_buffer` bounds what a tenant's subscription keeps for
    /// its slowest watcher), and ends when the server shuts down.
    pub fn new(client: async_nats::Client, subject_prefix: String, streams: Streams) -> Self {
        Self {
            client,
            subject_prefix,
            streams,
            hub: Hub::new("ticket_events"),
        }
    }

    /// The stream budget watch streams are opened through.
    pub fn streams(&self) -> &Streams {
        &self.streams
    }

    /// A stream of `caller`'s tenant's ticket events that pass `filter` for
    /// `audience`; RESOURCE_EXHAUSTED past the caller's or tenant's cap, and
    /// cut off (never waited for) once its reader falls a buffer behind.
    pub async fn watch(
        &self,
        caller: &Caller,
        filter: TicketQuery,
        audience: Audience,
    ) -> Result<WatchStream, Status> {
        let (mut feed, out): (Feed<TicketEvent>, _) =
            self.streams.open(caller, "WatchTickets", RESUME)?;
        let mut events = self.events(&caller.tenant, filter, audience).await?;
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    biased;
                    () = feed.stopped() => return,
                    event = events.next() => event,
                };
                match event {
                    Ok(event) => {
                        if feed.offer(event).is_err() {
                            return;
                        }
                    }
                    Err(missed) => {
                        feed.missed(missed);
                        return;
                    }
                }
            }
        });
        Ok(Box::pin(out))
    }

    /// The tenant's ticket events that pass `filter` for `audience`, from
    /// the moment this returns (the tenant's subscription is then open).
    pub async fn events(
        &self,
        tenant: &TenantId,
        filter: TicketQuery,
        audience: Audience,
    ) -> Result<LiveEvents, Status> {
        let subject = format!("{}.{}.>", self.subject_prefix, tenant.as_str());
        let capacity = self.streams.limits().fanout_buffer;
        let listener = self
            .hub
            .listen(tenant.clone(), || async move {
                let subscription = self.client.subscribe(subject).await.map_err(|e| {
                    Status::unavailable(format!("cannot watch tickets right now: {e}"))
                })?;
                let (tx, shared) = events(capacity);
                Ok((shared, relay(subscription, tx)))
            })
            .await?;
        Ok(LiveEvents {
            listener,
            filter,
            audience,
        })
    }
}

/// Decodes the tenant's events once and hands them to every watcher, until
/// the subscription ends or the last watcher leaves (which drops it).
async fn relay(
    mut subscription: async_nats::Subscriber,
    tx: tokio::sync::broadcast::Sender<Arc<Envelope>>,
) {
    while let Some(message) = subscription.next().await {
        if let Ok(envelope) = Envelope::decode(message.payload) {
            // No watcher at this instant is no error: the last may be
            // leaving, and then the hub stops this task.
            let _ = tx.send(Arc::new(envelope));
        }
    }
    tracing::warn!("ticket events subscription ended; watchers must watch again");
}

/// One watcher's view of its tenant's live ticket events.
#[derive(Debug)]
pub struct LiveEvents {
    listener: Listener<Envelope>,
    filter: TicketQuery,
    audience: Audience,
}

impl LiveEvents {
    /// The next event this watcher may see, or why there will be none (it
    /// fell behind, or the subscription ended).
    pub async fn next(&mut self) -> Result<TicketEvent, Missed> {
        loop {
            let envelope = self.listener.recv().await?;
            if let Some(event) = visible_event(&envelope, &self.filter, self.audience) {
                return Ok(event);
            }
        }
    }
}

/// The watcher's view of an event, or `None` when it must not see it.
pub fn visible_event(
    envelope: &Envelope,
    filter: &TicketQuery,
    audience: Audience,
) -> Option<TicketEvent> {
    // Shared by every watcher of the tenant: look by reference, copy only
    // what this watcher is sent.
    let (ticket, message) = match envelope.payload.as_ref()? {
        Payload::TicketCreated(e) => (e.ticket.as_ref()?, None),
        Payload::TicketUpdated(e) => (e.ticket.as_ref()?, None),
        Payload::TicketStatusChanged(e) => (e.ticket.as_ref()?, None),
        Payload::TicketAssigned(e) => (e.ticket.as_ref()?, None),
        Payload::SatisfactionSubmitted(e) => (e.ticket.as_ref()?, None),
        Payload::MessageAdded(e) => (e.ticket.as_ref()?, e.message.as_ref()),
        // Published once per ticket; show the one this envelope is about.
        Payload::TicketMerged(e) => {
            let about = format!("tickets/{}", envelope.aggregate_id);
            let ticket = [e.source.as_ref(), e.target.as_ref()]
                .into_iter()
                .flatten()
                .find(|t| t.name == about)?;
            (ticket, None)
        }
        // SLA alerts are for staff.
        Payload::SlaWarning(e) if audience == Audience::Staff => (e.ticket.as_ref()?, None),
        Payload::SlaBreached(e) if audience == Audience::Staff => (e.ticket.as_ref()?, None),
        Payload::SlaWarning(_) | Payload::SlaBreached(_) | Payload::CustomerMerged(_) => {
            return None;
        }
        // Other services' events (articles, suggestions) are not ticket changes.
        _ => return None,
    };
    if let Audience::Customer(me) = audience {
        let internal = message
            .as_ref()
            .is_some_and(|m| m.visibility != pb::Visibility::Public as i32);
        if ticket.requester != format!("customers/{me}") || internal {
            return None;
        }
    }
    if !filter.matches(ticket) {
        return None;
    }
    Some(TicketEvent {
        event_id: envelope.id.clone(),
        r#type: envelope.r#type.clone(),
        ticket: Some(ticket.clone()),
        message: message.cloned(),
        occur_time: envelope.occurred_at,
    })
}

#[cfg(test)]
mod tests {
    use switchboard_proto::events::v1::{MessageAdded, TicketCreated};

    use super::*;

    fn envelope(payload: Payload) -> Envelope {
        Envelope {
            id: "e-1".into(),
            r#type: "x".into(),
            payload: Some(payload),
            ..Default::default()
        }
    }

    #[test]
    fn customers_see_their_tickets_and_public_messages_only() {
        let me = Uuid::now_v7();
        let mine = pb::Ticket {
            requester: format!("customers/{me}"),
            ..Default::default()
        };
        let theirs = pb::Ticket {
            requester: format!("customers/{}", Uuid::now_v7()),
            ..Default::default()
        };
        let all = TicketQuery::default();
        let created = |t: &pb::Ticket| {
            envelope(Payload::TicketCreated(TicketCreated {
                ticket: Some(t.clone()),
                ..Default::default()
            }))
        };
        let note = |visibility: pb::Visibility| {
            envelope(Payload::MessageAdded(MessageAdded {
                ticket: Some(mine.clone()),
                message: Some(pb::Message {
                    visibility: visibility as i32,
                    ..Default::default()
                }),
            }))
        };
        let customer = Audience::Customer(me);
        assert!(visible_event(&created(&mine), &all, customer).is_some());
        assert!(visible_event(&created(&theirs), &all, customer).is_none());
        assert!(visible_event(&note(pb::Visibility::Public), &all, customer).is_some());
        assert!(visible_event(&note(pb::Visibility::Internal), &all, customer).is_none());
        assert!(visible_event(&note(pb::Visibility::Internal), &all, Audience::Staff).is_some());
        assert!(visible_event(&created(&theirs), &all, Audience::Staff).is_some());
    }
}
