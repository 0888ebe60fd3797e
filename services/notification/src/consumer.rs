//! The durable consumer's handler: every event becomes, in the consumer's
//! transaction, in-app notifications, queued emails and queued webhook
//! deliveries, each at most once per (event, recipient, channel).

use chrono::Utc;
use sqlx::PgConnection;
use switchboard_events::{
    Envelope, Payload,
    consumer::{Handler, HandlerError},
};
use switchboard_proto::{
    common::v1::ActorKind,
    ticket::v1::{Customer, IdentityKind},
};
use uuid::Uuid;

use crate::{
    convert,
    domain::{
        self, Channel, Fact, Intent, input,
        templates::{self, Rendered, TemplateParts},
    },
    email,
    store::{self, NewDelivery, inbox::NewNotification},
    webhook,
};

/// What the handler needs to know of the configuration.
#[derive(Debug, Clone)]
pub struct HandlerConfig {
    /// Domain of outgoing `Message-ID`s.
    pub domain: String,
    /// Survey link; `{ticket}` becomes the ticket id.
    pub survey_url: String,
    /// Attempts per delivery.
    pub max_attempts: i32,
}

/// Turns events into notifications.
#[derive(Debug, Clone)]
pub struct Notifier {
    /// Settings.
    pub config: HandlerConfig,
}

#[async_trait::async_trait]
impl Handler for Notifier {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandlerError> {
        if domain::is_own_event(&event.r#type) {
            return Ok(());
        }
        let event_id = Uuid::parse_str(&event.id)
            .map_err(|e| HandlerError(format!("event id is not a UUID: {e}")))?;
        learn_contacts(tx, event).await?;
        let fact = convert::fact_of(event);
        if fact != Fact::Other {
            self.notify_people(tx, event, event_id, &fact).await?;
        }
        queue_webhooks(tx, event, event_id, self.config.max_attempts).await
    }
}

/// Remembers customers' addresses from events that show them: a merged
/// customer's email identity, and a customer acting (as their email
/// address, which customer tokens carry) on their own ticket.
async fn learn_contacts(tx: &mut PgConnection, event: &Envelope) -> Result<(), HandlerError> {
    let tenant = &event.tenant_id;
    if let Some(Payload::CustomerMerged(m)) = &event.payload {
        if let Some(email) = m.target.as_ref().and_then(email_of) {
            let target = &m
                .target
                .as_ref()
                .map(|t| t.name.clone())
                .unwrap_or_default();
            store::upsert_contact(tx, tenant, target, &email).await?;
        }
        return Ok(());
    }
    let Some(actor) = &event.actor else {
        return Ok(());
    };
    let Some(ticket) = convert::ticket_of(event) else {
        return Ok(());
    };
    if actor.kind == ActorKind::Customer as i32
        && !ticket.requester.is_empty()
        && email_address::EmailAddress::is_valid(&actor.id)
    {
        store::upsert_contact(tx, tenant, &ticket.requester, &actor.id).await?;
    }
    Ok(())
}

fn email_of(customer: &Customer) -> Option<String> {
    customer
        .identities
        .iter()
        .find(|i| i.kind == IdentityKind::Email as i32)
        .map(|i| i.value.clone())
}

impl Notifier {
    async fn notify_people(
        &self,
        tx: &mut PgConnection,
        event: &Envelope,
        event_id: Uuid,
        fact: &Fact,
    ) -> Result<(), HandlerError> {
        let tenant = event.tenant_id.as_str();
        let ticket = convert::ticket_of(event)
            .map(convert::ticket_fact)
            .unwrap_or_default();
        let contact = if ticket.requester.is_empty() {
            None
        } else {
            store::contact(tx, tenant, &ticket.requester).await?
        };
        let actor = event.actor.as_ref().map_or("", |a| a.id.as_str());
        let requester_email = contact.as_ref().map(|c| c.email.as_str());
        for intent in domain::recipients(fact, actor, requester_email) {
            let (prefs, _) = store::settings::preferences(tx, tenant, &intent.recipient).await?;
            if !prefs.allows(&event.r#type, intent.channel) {
                continue;
            }
            let locale = match intent.channel {
                Channel::Email => contact
                    .as_ref()
                    .map_or(templates::DEFAULT_LOCALE, |c| c.locale.as_str()),
                _ => templates::DEFAULT_LOCALE,
            };
            let context = convert::context(fact, &event.r#type, &intent, &self.config.survey_url);
            let rendered = render(tx, tenant, &intent, locale, &context).await?;
            let new = NewNotification {
                tenant,
                event_id,
                event_type: &event.r#type,
                recipient: &intent.recipient,
                channel: intent.channel,
                title: &rendered.subject,
                body: &rendered.text,
                ticket: &ticket.name,
            };
            let Some(notification_id) = store::inbox::insert_notification(tx, &new).await? else {
                continue;
            };
            if intent.channel != Channel::Email {
                continue;
            }
            let message_uuid = match fact {
                Fact::MessageAdded(_, m) if !m.id.is_empty() => m.id.clone(),
                _ => event.id.clone(),
            };
            let outgoing = email::thread(
                rendered,
                &intent.recipient,
                &ticket.subject,
                ticket.number,
                &ticket.id,
                &message_uuid,
                &self.config.domain,
            );
            let now = Utc::now();
            let not_before = prefs.quiet.and_then(|q| q.defer(now)).unwrap_or(now);
            store::deliveries::insert_delivery(
                tx,
                &NewDelivery {
                    notification_id,
                    tenant,
                    channel: "email",
                    webhook_id: None,
                    event_id,
                    event_type: &event.r#type,
                    target: &intent.recipient,
                    ticket: &ticket.name,
                    payload: serde_json::to_value(&outgoing)
                        .map_err(|e| HandlerError(e.to_string()))?,
                    max_attempts: self.config.max_attempts,
                    not_before,
                },
            )
            .await?;
        }
        Ok(())
    }
}

/// Renders `intent` with the tenant's template in `locale`, else in the
/// default locale, else the built-in one. A tenant template was checked on
/// save; should it still fail on real data, the built-in one is used rather
/// than losing the notification.
async fn render(
    tx: &mut PgConnection,
    tenant: &str,
    intent: &Intent,
    locale: &str,
    context: &serde_json::Value,
) -> Result<Rendered, HandlerError> {
    let mut custom = store::settings::template(tx, tenant, intent.kind, locale).await?;
    if custom.is_none() && locale != templates::DEFAULT_LOCALE {
        custom =
            store::settings::template(tx, tenant, intent.kind, templates::DEFAULT_LOCALE).await?;
    }
    let builtin = || -> TemplateParts {
        templates::builtin(intent.kind).expect("every kind has a built-in template")
    };
    if let Some(row) = custom {
        match templates::render(&row.parts(), context) {
            Ok(r) => return Ok(r),
            Err(e) => {
                tracing::warn!(error = %e, kind = intent.kind, "tenant template failed; using the built-in one")
            }
        }
    }
    templates::render(&builtin(), context).map_err(|e| HandlerError(e.to_string()))
}

/// Queues the event for every matching active webhook of its tenant.
async fn queue_webhooks(
    tx: &mut PgConnection,
    event: &Envelope,
    event_id: Uuid,
    max_attempts: i32,
) -> Result<(), HandlerError> {
    let hooks = store::webhooks::active_webhooks(tx, &event.tenant_id).await?;
    let hooks: Vec<_> = hooks
        .into_iter()
        .filter(|h| input::event_type_matches(&h.event_types, &event.r#type))
        .collect();
    if hooks.is_empty() {
        return Ok(());
    }
    let body = webhook::body(event);
    let ticket = convert::ticket_of(event)
        .map(|t| t.name.clone())
        .unwrap_or_default();
    for hook in hooks {
        let recipient = format!("webhooks/{}", hook.id);
        let new = NewNotification {
            tenant: &event.tenant_id,
            event_id,
            event_type: &event.r#type,
            recipient: &recipient,
            channel: Channel::Webhook,
            title: &event.r#type,
            body: "",
            ticket: &ticket,
        };
        let Some(notification_id) = store::inbox::insert_notification(tx, &new).await? else {
            continue;
        };
        store::deliveries::insert_delivery(
            tx,
            &NewDelivery {
                notification_id,
                tenant: &event.tenant_id,
                channel: "webhook",
                webhook_id: Some(hook.id),
                event_id,
                event_type: &event.r#type,
                target: &hook.url,
                ticket: &ticket,
                payload: body.clone(),
                max_attempts,
                not_before: Utc::now(),
            },
        )
        .await?;
    }
    Ok(())
}
