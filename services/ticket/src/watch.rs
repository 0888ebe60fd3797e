//! `WatchTickets`: a tenant's ticket events, filtered by what the caller may
//! see, pushed to a live console.
//!
//! Watchers subscribe to the tenant's subjects on core NATS, where JetStream
//! publishes also arrive: a watcher is ephemeral by design (no replay), so it
//! costs the stream no consumer state.

use std::pin::Pin;

use futures::StreamExt;
use prost::Message as _;
use switchboard_proto::{
    events::v1::{Envelope, envelope::Payload},
    ticket::v1::{self as pb, TicketEvent},
};
use switchboard_runtime::{Caller, Feed, Streams, TenantId};
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
}

impl Watcher {
    /// Watches subjects under `subject_prefix` through `client`, whose
    /// subscription capacity bounds what NATS buffers per watcher; every
    /// stream is opened through the process's stream budget `streams`, and
    /// ends when the server shuts down.
    pub fn new(client: async_nats::Client, subject_prefix: String, streams: Streams) -> Self {
        Self {
            client,
            subject_prefix,
            streams,
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
        let (feed, out): (Feed<TicketEvent>, _) =
            self.streams.open(caller, "WatchTickets", RESUME)?;
        let events = self.events(&caller.tenant, filter, audience).await?;
        tokio::spawn(feed.forward(events));
        Ok(Box::pin(out))
    }

    /// The tenant's ticket events that pass `filter` for `audience`, as
    /// NATS delivers them; dropping the stream unsubscribes.
    pub async fn events(
        &self,
        tenant: &TenantId,
        filter: TicketQuery,
        audience: Audience,
    ) -> Result<impl futures::Stream<Item = TicketEvent> + Send + Unpin + 'static, Status> {
        let subject = format!("{}.{}.>", self.subject_prefix, tenant.as_str());
        let events = self
            .client
            .subscribe(subject)
            .await
            .map_err(|e| Status::unavailable(format!("cannot watch tickets right now: {e}")))?;
        Ok(events.filter_map(move |message| {
            let event = Envelope::decode(message.payload)
                .ok()
                .and_then(|envelope| visible_event(envelope, &filter, audience));
            std::future::ready(event)
        }))
    }
}

/// The watcher's view of an event, or `None` when it must not see it.
pub fn visible_event(
    envelope: Envelope,
    filter: &TicketQuery,
    audience: Audience,
) -> Option<TicketEvent> {
    let (ticket, message) = match envelope.payload? {
        Payload::TicketCreated(e) => (e.ticket?, None),
        Payload::TicketUpdated(e) => (e.ticket?, None),
        Payload::TicketStatusChanged(e) => (e.ticket?, None),
        Payload::TicketAssigned(e) => (e.ticket?, None),
        Payload::SatisfactionSubmitted(e) => (e.ticket?, None),
        Payload::MessageAdded(e) => (e.ticket?, e.message),
        // Published once per ticket; show the one this envelope is about.
        Payload::TicketMerged(e) => {
            let about = format!("tickets/{}", envelope.aggregate_id);
            let ticket = [e.source, e.target]
                .into_iter()
                .flatten()
                .find(|t| t.name == about)?;
            (ticket, None)
        }
        // SLA alerts are for staff.
        Payload::SlaWarning(e) if audience == Audience::Staff => (e.ticket?, None),
        Payload::SlaBreached(e) if audience == Audience::Staff => (e.ticket?, None),
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
    if !filter.matches(&ticket) {
        return None;
    }
    Some(TicketEvent {
        event_id: envelope.id,
        r#type: envelope.r#type,
        ticket: Some(ticket),
        message,
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
        assert!(visible_event(created(&mine), &all, customer).is_some());
        assert!(visible_event(created(&theirs), &all, customer).is_none());
        assert!(visible_event(note(pb::Visibility::Public), &all, customer).is_some());
        assert!(visible_event(note(pb::Visibility::Internal), &all, customer).is_none());
        assert!(visible_event(note(pb::Visibility::Internal), &all, Audience::Staff).is_some());
        assert!(visible_event(created(&theirs), &all, Audience::Staff).is_some());
    }
}
