//! The durable consumer's handler: events become, in the consumer's
//! transaction, in-app notifications, queued emails and queued webhook
//! deliveries, each at most once per (event, recipient, channel).
//!
//! A batch of events costs a fixed number of statements whatever its size:
//! everything the events need is read for all of them at once, decided in
//! memory in stream order, then written with one multi-row statement per
//! table. Per-event statements made the consumer ~100× slower than the
//! stream (three round trips per event).

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use sqlx::PgConnection;
use switchboard_events::{
    Envelope,
    consumer::{Handler, HandlerError},
};
use uuid::Uuid;

use crate::{
    contacts::Contacts,
    convert,
    domain::{
        self, Channel, Fact, Intent, Rules, TicketFact,
        input::{self, Preferences},
        templates::{self, Rendered, TemplateParts},
    },
    email,
    handoff::{Handed, Handoff},
    people::People,
    privacy,
    store::{
        self, Contact, NewDelivery, TemplateRow, WebhookRow, inbox::NewNotification,
        settings::TemplateKey,
    },
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
        self.apply(tx, &[event]).await
    }
}

/// One event of a batch, with what people it concerns.
struct Planned<'a> {
    event: &'a Envelope,
    id: Uuid,
    fact: Fact,
    ticket: TicketFact,
    /// The requester's address as of this event (earlier events of the
    /// batch may have taught it).
    contact: Option<Contact>,
    intents: Vec<Intent>,
}

/// What the batch reads besides contacts.
struct Lookups {
    hooks: HashMap<String, Vec<WebhookRow>>,
    preferences: HashMap<(String, String), Preferences>,
    templates: HashMap<TemplateKey, TemplateRow>,
}

/// The rows a batch writes.
#[derive(Default)]
struct Rows {
    notifications: Vec<NewNotification>,
    /// Each queued only if its notification is recorded (new).
    deliveries: Vec<NewDelivery>,
}

impl Notifier {
    /// Applies `events` (not applied before, in stream order) through `tx`.
    pub async fn apply(
        &self,
        tx: &mut PgConnection,
        events: &[&Envelope],
    ) -> Result<(), HandlerError> {
        self.apply_handing(tx, events, None).await.map(drop)
    }

    /// As [`Self::apply`], queueing the deliveries due at once that
    /// `handoff` has room for claimed by this replica's dispatcher: hand
    /// the result over once `tx` commits.
    pub async fn apply_handing(
        &self,
        tx: &mut PgConnection,
        events: &[&Envelope],
        handoff: Option<&Handoff>,
    ) -> Result<Handed, HandlerError> {
        let mut planned = Vec::with_capacity(events.len());
        for event in events {
            if domain::is_own_event(&event.r#type) {
                continue;
            }
            let id = Uuid::parse_str(&event.id)
                .map_err(|e| HandlerError(format!("event id is not a UUID: {e}")))?;
            let fact = convert::fact_of(event);
            let ticket = fact.ticket().cloned().unwrap_or_default();
            planned.push(Planned {
                event,
                id,
                fact,
                ticket,
                contact: None,
                intents: Vec::new(),
            });
        }
        if planned.is_empty() {
            return Ok(Handed::default());
        }

        // Contacts change as the events go (in order), so each event sees
        // the address the ones before it taught, as one by one it would.
        let wanted: Vec<_> = planned
            .iter()
            .filter(|p| p.fact != Fact::Other && !p.ticket.requester.is_empty())
            .map(|p| (p.event.tenant_id.clone(), p.ticket.requester.clone()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut contacts = Contacts::load(tx, &wanted).await?;
        let named: Vec<_> = planned
            .iter()
            .flat_map(|p| {
                p.fact
                    .named_people()
                    .into_iter()
                    .map(|who| (p.event.tenant_id.clone(), who.to_owned()))
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut people = People::load(tx, &named).await?;
        // The tenants' switches over the default rules, once per batch.
        let tenants: HashSet<&str> = planned
            .iter()
            .filter(|p| p.fact != Fact::Other)
            .map(|p| p.event.tenant_id.as_str())
            .collect();
        let rules = store::rules::rules_of(tx, &tenants.into_iter().collect::<Vec<_>>()).await?;
        let all_on = Rules::all_on();
        for p in &mut planned {
            contacts.learn_from(p.event);
            people.learn_from(p.event);
            if p.fact == Fact::Other {
                continue;
            }
            p.contact = contacts.get(&p.event.tenant_id, &p.ticket.requester);
            let actor = p.event.actor.as_ref().map_or("", |a| a.id.as_str());
            let requester_email = p.contact.as_ref().map(|c| c.email.as_str());
            let tenant_rules = rules.get(&p.event.tenant_id).unwrap_or(&all_on);
            let tenant = p.event.tenant_id.as_str();
            let is_staff = |user: &str| people.is_staff(tenant, user);
            p.intents =
                domain::recipients(&p.fact, actor, requester_email, tenant_rules, &is_staff);
        }

        let lookups = Lookups::load(tx, &planned).await?;
        let mut rows = Rows::default();
        let now = Utc::now();
        for p in &planned {
            self.notify_people(&mut rows, p, &lookups, now)?;
            queue_webhooks(&mut rows, p, &lookups, self.config.max_attempts, now);
        }

        store::upsert_contacts(tx, contacts.learned()).await?;
        store::upsert_people(tx, people.learned()).await?;
        let recorded = store::inbox::insert_notifications(tx, &rows.notifications).await?;
        rows.deliveries
            .retain(|d| recorded.contains(&d.notification_id));
        let mut handed = store::deliveries::queue_deliveries(tx, rows.deliveries, handoff).await?;
        // After the batch's own rows, so copies it made before an erasure
        // are scrubbed too; what it stopped must not be sent.
        let stopped = privacy::apply(tx, events).await?;
        handed.0.retain(|l| !stopped.contains(&l.claimed.id));
        Ok(handed)
    }

    fn notify_people(
        &self,
        rows: &mut Rows,
        p: &Planned<'_>,
        lookups: &Lookups,
        now: chrono::DateTime<Utc>,
    ) -> Result<(), HandlerError> {
        let event = p.event;
        let tenant = event.tenant_id.as_str();
        let defaults = Preferences::default();
        for intent in &p.intents {
            let prefs = lookups
                .preferences
                .get(&(tenant.to_owned(), intent.recipient.clone()))
                .unwrap_or(&defaults);
            if !prefs.allows(&event.r#type, intent.channel) {
                continue;
            }
            let locale = locale_of(intent, p.contact.as_ref());
            let context = convert::context(&p.fact, &event.r#type, intent, &self.config.survey_url);
            let rendered = render(lookups, tenant, intent, locale, &context)?;
            let notification_id = Uuid::now_v7();
            rows.notifications.push(NewNotification {
                id: notification_id,
                tenant: tenant.to_owned(),
                event_id: p.id,
                event_type: event.r#type.clone(),
                recipient: intent.recipient.clone(),
                channel: intent.channel,
                title: rendered.subject.clone(),
                body: rendered.text.clone(),
                ticket: p.ticket.name.clone(),
            });
            if intent.channel != Channel::Email {
                continue;
            }
            let message_uuid = match &p.fact {
                Fact::MessageAdded(_, m) if !m.id.is_empty() => m.id.clone(),
                _ => event.id.clone(),
            };
            let outgoing = email::thread(
                rendered,
                &intent.recipient,
                &p.ticket.subject,
                p.ticket.number,
                &p.ticket.id,
                &message_uuid,
                &self.config.domain,
            );
            rows.deliveries.push(NewDelivery {
                notification_id,
                tenant: tenant.to_owned(),
                channel: "email",
                webhook_id: None,
                event_id: p.id,
                event_type: event.r#type.clone(),
                target: intent.recipient.clone(),
                ticket: p.ticket.name.clone(),
                payload: serde_json::to_string(&outgoing)
                    .map_err(|e| HandlerError(e.to_string()))?,
                max_attempts: self.config.max_attempts,
                not_before: prefs.quiet.and_then(|q| q.defer(now)).unwrap_or(now),
                traceparent: traceparent(event),
                tracestate: tracestate(event),
            });
        }
        Ok(())
    }
}

/// The locale an intent is rendered in: the customer's for email.
fn locale_of<'a>(intent: &Intent, contact: Option<&'a Contact>) -> &'a str {
    match intent.channel {
        Channel::Email => contact.map_or(templates::DEFAULT_LOCALE, |c| c.locale.as_str()),
        _ => templates::DEFAULT_LOCALE,
    }
}

fn key(tenant: &str, kind: &str, locale: &str) -> TemplateKey {
    (tenant.to_owned(), kind.to_owned(), locale.to_owned())
}

impl Lookups {
    /// Reads, in one query each, the subscriptions of the batch's tenants
    /// and the preferences and templates its intents may use.
    async fn load(tx: &mut PgConnection, planned: &[Planned<'_>]) -> Result<Self, sqlx::Error> {
        let tenants: Vec<&str> = planned
            .iter()
            .map(|p| p.event.tenant_id.as_str())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut people = HashSet::new();
        let mut kinds = HashSet::new();
        for p in planned {
            let tenant = p.event.tenant_id.as_str();
            for intent in &p.intents {
                people.insert((tenant.to_owned(), intent.recipient.clone()));
                let locale = locale_of(intent, p.contact.as_ref());
                kinds.insert(key(tenant, intent.kind, locale));
                kinds.insert(key(tenant, intent.kind, templates::DEFAULT_LOCALE));
            }
        }
        let people: Vec<_> = people.into_iter().collect();
        let kinds: Vec<_> = kinds.into_iter().collect();
        Ok(Self {
            hooks: store::webhooks::active_webhooks(tx, &tenants).await?,
            preferences: store::settings::preferences_of(tx, &people).await?,
            templates: store::settings::templates(tx, &kinds).await?,
        })
    }
}

/// Renders `intent` with the tenant's template in `locale`, else in the
/// default locale, else the built-in one. A tenant template was checked on
/// save; should it still fail on real data, the built-in one is used rather
/// than losing the notification.
fn render(
    lookups: &Lookups,
    tenant: &str,
    intent: &Intent,
    locale: &str,
    context: &serde_json::Value,
) -> Result<Rendered, HandlerError> {
    let custom = lookups
        .templates
        .get(&key(tenant, intent.kind, locale))
        .or_else(|| {
            lookups
                .templates
                .get(&key(tenant, intent.kind, templates::DEFAULT_LOCALE))
        });
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
fn queue_webhooks(
    rows: &mut Rows,
    p: &Planned<'_>,
    lookups: &Lookups,
    max_attempts: i32,
    now: chrono::DateTime<Utc>,
) {
    let event = p.event;
    let hooks: Vec<&WebhookRow> = lookups
        .hooks
        .get(&event.tenant_id)
        .into_iter()
        .flatten()
        .filter(|h| input::event_type_matches(&h.event_types, &event.r#type))
        .collect();
    if hooks.is_empty() {
        return;
    }
    // Serialized once for every subscription it goes to.
    let body = webhook::body_text(event);
    let ticket = convert::ticket_of(event)
        .map(|t| t.name.clone())
        .unwrap_or_default();
    for hook in hooks {
        let notification_id = Uuid::now_v7();
        rows.notifications.push(NewNotification {
            id: notification_id,
            tenant: event.tenant_id.clone(),
            event_id: p.id,
            event_type: event.r#type.clone(),
            recipient: format!("webhooks/{}", hook.id),
            channel: Channel::Webhook,
            title: event.r#type.clone(),
            body: String::new(),
            ticket: ticket.clone(),
        });
        rows.deliveries.push(NewDelivery {
            notification_id,
            tenant: event.tenant_id.clone(),
            channel: "webhook",
            webhook_id: Some(hook.id),
            event_id: p.id,
            event_type: event.r#type.clone(),
            target: hook.url.clone(),
            ticket: ticket.clone(),
            payload: body.clone(),
            max_attempts,
            not_before: now,
            traceparent: traceparent(event),
            tracestate: tracestate(event),
        });
    }
}

/// The trace `event` was published in, which its deliveries continue.
fn traceparent(event: &Envelope) -> Option<String> {
    event
        .trace
        .as_ref()
        .map(|t| t.traceparent.clone())
        .filter(|tp| !tp.is_empty())
}

/// `event`'s `tracestate`, when it has a trace.
fn tracestate(event: &Envelope) -> Option<String> {
    event
        .trace
        .as_ref()
        .map(|t| t.tracestate.clone())
        .filter(|ts| !ts.is_empty())
}
