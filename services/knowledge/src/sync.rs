//! What the knowledge service does with events: every replica follows
//! `article.*` to keep its own index current, and the replicas share one
//! durable consumer of `ticket.created` that suggests articles.

use std::sync::Arc;

use async_nats::jetstream::{
    self,
    consumer::{DeliverPolicy, pull::OrderedConfig},
};
use futures::StreamExt;
use prost::Message;
use sqlx::PgConnection;
use switchboard_events::{
    Envelope, EventBuilder, Payload,
    consumer::{Handler, HandlerError},
    outbox,
};
use switchboard_proto::events::v1 as ev;
use switchboard_runtime::{TenantId, backoff::Backoff};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    convert,
    index::{SearchIndex, SearchRequest},
    store::KnowledgeStore,
};

/// Most articles a `knowledge.suggested` event names.
pub const SUGGESTIONS_PER_TICKET: usize = 3;

/// Rebuilds `index` from the store, then applies every `article.*` event
/// published since the rebuild began, until `stop`. Events only say *which*
/// article changed: the article is re-read, so duplicates and reordering
/// converge on the database's latest state.
pub async fn follow_articles(
    stream: jetstream::stream::Stream,
    subject_prefix: String,
    store: Arc<dyn KnowledgeStore>,
    index: SearchIndex,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::default();
    loop {
        match follow_once(&stream, &subject_prefix, store.as_ref(), &index, &stop).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = %e, "article index follower failed; restarting"),
        }
        if !backoff.wait(&stop).await {
            return;
        }
    }
}

async fn follow_once(
    stream: &jetstream::stream::Stream,
    subject_prefix: &str,
    store: &dyn KnowledgeStore,
    index: &SearchIndex,
    stop: &CancellationToken,
) -> Result<(), String> {
    // Take the stream position first: any change committed during the
    // rebuild is then replayed, and replays are harmless.
    let mut info = stream.clone();
    let last = info
        .info()
        .await
        .map_err(|e| format!("stream info: {e}"))?
        .state
        .last_sequence;
    let count = index.rebuild(store).await.map_err(|e| e.to_string())?;
    tracing::info!(articles = count, "search index built");
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: format!("{subject_prefix}.*.article.>"),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: last + 1,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| format!("article consumer: {e}"))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| format!("article messages: {e}"))?;
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            next = messages.next() => next,
        };
        let message = next
            .ok_or("article messages ended")?
            .map_err(|e| format!("article messages: {e}"))?;
        let Ok(event) = Envelope::decode(message.payload.clone()) else {
            tracing::error!(subject = %message.subject, "undecodable article event skipped");
            continue;
        };
        let Ok(id) = Uuid::parse_str(&event.aggregate_id) else {
            continue;
        };
        if let Err(e) = index.refresh(store, &event.tenant_id, id).await {
            // The ordered consumer cannot redeliver; a full rebuild can.
            return Err(format!("refresh {id}: {e}"));
        }
    }
}

/// Suggests articles for each new ticket and announces them with
/// `knowledge.suggested`, in the consumer's transaction.
#[derive(Debug, Clone)]
pub struct SuggestOnTicketCreated {
    /// This replica's index.
    pub index: SearchIndex,
}

#[async_trait::async_trait]
impl Handler for SuggestOnTicketCreated {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandlerError> {
        let Some(Payload::TicketCreated(ev::TicketCreated {
            ticket: Some(ticket),
            ..
        })) = &event.payload
        else {
            return Ok(());
        };
        let tenant = TenantId::parse(&event.tenant_id).map_err(HandlerError)?;
        let text = format!("{}\n{}", ticket.subject, ticket.description);
        let page = self
            .index
            .search(SearchRequest {
                tenant: tenant.as_str().to_owned(),
                text,
                suggest: true,
                filter: crate::api::customer_filter(),
                offset: 0,
                limit: SUGGESTIONS_PER_TICKET,
            })
            .await
            .map_err(|e| HandlerError(e.to_string()))?;
        if page.hits.is_empty() {
            return Ok(());
        }
        let payload = Payload::KnowledgeSuggested(ev::KnowledgeSuggested {
            ticket: ticket.name.clone(),
            articles: page
                .hits
                .iter()
                .map(|h| ev::SuggestedArticle {
                    article: convert::article_name(h.id),
                    title: h.title.clone(),
                    score: h.score,
                })
                .collect(),
        });
        let envelope = EventBuilder::new(
            &tenant,
            "ticket",
            event.aggregate_id.clone(),
            event.aggregate_version,
        )
        .actor(switchboard_proto::common::v1::Actor {
            kind: switchboard_proto::common::v1::ActorKind::System as i32,
            ..Default::default()
        })
        .build_as("knowledge", "suggested", payload);
        outbox::append(tx, &envelope).await?;
        Ok(())
    }
}
