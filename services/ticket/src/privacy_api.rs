//! `PrivacyService` handlers: erasure and export of a customer's personal
//! data, and the retention policy. Admins only.

use std::{pin::Pin, sync::Arc};

use futures::Stream;
use switchboard_proto::ticket::v1::{
    self as pb, CustomerExportPart, EraseCustomerRequest, EraseCustomerResponse,
    ExportCustomerRequest, GetRetentionPolicyRequest, RetentionPolicy,
    UpdateRetentionPolicyRequest, customer_export_part::Part,
    privacy_service_server::PrivacyService,
};
use switchboard_runtime::{
    Caller, Feed, Role, Streams, TenantId, Violations, auth::AuditTarget, caller, to_status,
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    api::TicketError,
    attachments::ObjectStore,
    domain::{
        customer::{customer_name, parse_customer_name},
        error::RuleError,
        privacy::Retention,
    },
    store::{
        TicketStore,
        customers::{CustomerError, CustomerStore},
        privacy::PrivacyStore,
    },
};

/// Every store a privacy call may need.
pub trait Stores: TicketStore + CustomerStore + PrivacyStore {}
impl<T: TicketStore + CustomerStore + PrivacyStore> Stores for T {}

/// Tickets per page of an export.
const EXPORT_TICKETS: i64 = 100;
/// Messages per page of an export.
const EXPORT_MESSAGES: i64 = 200;
/// Recorded changes per page of an export.
const EXPORT_CHANGES: i64 = 500;
/// Most merges followed from a merged-away profile to its survivor.
const MAX_MERGE_HOPS: usize = 32;

/// The `PrivacyService` implementation.
#[derive(Clone)]
pub struct PrivacyApi {
    store: Arc<dyn Stores>,
    objects: Arc<dyn ObjectStore>,
    streams: Streams,
}

impl PrivacyApi {
    /// Handlers over `store`, deleting dropped attachments from `objects`,
    /// streaming exports through `streams`.
    pub fn new(store: Arc<dyn Stores>, objects: Arc<dyn ObjectStore>, streams: Streams) -> Self {
        Self {
            store,
            objects,
            streams,
        }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn admin<T>(request: &Request<T>) -> Result<Caller, Status> {
    let caller = caller(request)?.clone();
    tracing::Span::current().record("tenant", caller.tenant.as_str());
    if caller.role != Role::Admin {
        return Err(TicketError::Rule(RuleError::Forbidden(
            "only admins erase, export or purge customers' data".into(),
        ))
        .into());
    }
    Ok(caller)
}

fn customer_id(name: &str) -> Result<Uuid, Status> {
    let mut v = Violations::default();
    let id = parse_customer_name("name", name, &mut v);
    Ok(v.into_result(id)
        .map_err(TicketError::from)?
        .unwrap_or_default())
}

/// Deletes attachment files no message refers to any more; a failure is
/// logged and leaves the file (the database no longer names it).
pub async fn delete_files(objects: &dyn ObjectStore, keys: &[String]) -> usize {
    let mut deleted = 0;
    for key in keys {
        match objects.delete(key).await {
            Ok(()) => deleted += 1,
            Err(e) => tracing::warn!(error = %e, "could not delete an erased attachment"),
        }
    }
    deleted
}

/// `response` naming `target` in the audit trail.
fn audited<T>(message: T, target: String) -> Response<T> {
    let mut response = Response::new(message);
    response.extensions_mut().insert(AuditTarget(target));
    response
}

#[tonic::async_trait]
impl PrivacyService for PrivacyApi {
    #[tracing::instrument(skip_all, fields(tenant))]
    async fn erase_customer(
        &self,
        request: Request<EraseCustomerRequest>,
    ) -> Reply<EraseCustomerResponse> {
        let caller = admin(&request)?;
        let id = customer_id(&request.get_ref().name)?;
        let erased = self
            .store
            .erase_customer(&caller.tenant, id, caller.to_actor())
            .await
            .map_err(|e| to_status(&e))?;
        let files = delete_files(self.objects.as_ref(), &erased.dropped_attachments).await;
        tracing::info!(
            customer = %customer_name(id),
            tickets = erased.tickets.len(),
            messages = erased.messages,
            files,
            "customer erased"
        );
        Ok(audited(
            EraseCustomerResponse {
                customer: Some(erased.customer.to_proto()),
                merged_customers: erased.merged.into_iter().map(customer_name).collect(),
                tickets: erased.tickets.len() as i64,
                messages: erased.messages as i64,
            },
            customer_name(id),
        ))
    }

    type ExportCustomerStream =
        Pin<Box<dyn Stream<Item = Result<CustomerExportPart, Status>> + Send>>;

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn export_customer(
        &self,
        request: Request<ExportCustomerRequest>,
    ) -> Reply<Self::ExportCustomerStream> {
        let caller = admin(&request)?;
        let named = customer_id(&request.get_ref().name)?;
        // A merged-away profile's data is its survivor's.
        let mut id = named;
        let mut customer = None;
        for _ in 0..MAX_MERGE_HOPS {
            let found = self
                .store
                .customer(&caller.tenant, id)
                .await
                .map_err(TicketError::from)?
                .ok_or_else(|| to_status(&CustomerError::NotFound(named)))?;
            match found.merged_into {
                Some(survivor) => id = survivor,
                None => {
                    customer = Some(found);
                    break;
                }
            }
        }
        let customer = customer.ok_or_else(|| {
            Status::failed_precondition(format!(
                "{} was merged more than {MAX_MERGE_HOPS} times over; export its survivor",
                customer_name(named)
            ))
        })?;
        // Finite, but each export walks the customer's whole history: the
        // caller's cap keeps one admin from running many at once.
        let (feed, out) = self.streams.open(
            &caller,
            "ExportCustomer",
            "export again; a partial export is incomplete",
        )?;
        tokio::spawn(export(
            self.store.clone(),
            caller.tenant.clone(),
            customer,
            feed,
        ));
        tracing::info!(customer = %customer_name(named), "customer export started");
        Ok(audited(Box::pin(out), customer_name(named)))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_retention_policy(
        &self,
        request: Request<GetRetentionPolicyRequest>,
    ) -> Reply<RetentionPolicy> {
        let caller = admin(&request)?;
        let policy = self
            .store
            .retention(&caller.tenant)
            .await
            .map_err(TicketError::from)?;
        Ok(Response::new(policy.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn update_retention_policy(
        &self,
        request: Request<UpdateRetentionPolicyRequest>,
    ) -> Reply<RetentionPolicy> {
        let caller = admin(&request)?;
        let wanted = Retention::from_request(request.get_ref()).map_err(TicketError::from)?;
        let policy = self
            .store
            .set_retention(&caller.tenant, wanted.closed_ticket_days)
            .await
            .map_err(TicketError::from)?;
        tracing::info!(
            closed_ticket_days = policy.closed_ticket_days,
            "retention policy changed"
        );
        Ok(Response::new(policy.to_proto()))
    }
}

fn part(part: Part) -> CustomerExportPart {
    CustomerExportPart { part: Some(part) }
}

/// Sends `customer`, the profiles merged into it, then each ticket it
/// requested with its messages and changes, page by page, until done or
/// the reader goes away.
async fn export(
    store: Arc<dyn Stores>,
    tenant: TenantId,
    customer: crate::domain::customer::Customer,
    mut feed: Feed<CustomerExportPart>,
) {
    if let Err(e) = export_into(store.as_ref(), &tenant, customer, &mut feed).await {
        feed.fail(e);
    }
}

async fn export_into(
    store: &dyn Stores,
    tenant: &TenantId,
    customer: crate::domain::customer::Customer,
    feed: &mut Feed<CustomerExportPart>,
) -> Result<(), Status> {
    // The reader left: nothing more to do, and nothing to report to it.
    macro_rules! send {
        ($part:expr) => {
            if feed.send(part($part)).await.is_err() {
                return Ok(());
            }
        };
    }
    let id = customer.id;
    send!(Part::Customer(customer.to_proto()));
    for merged in store.merged_profiles(tenant, id).await.map_err(status)? {
        send!(Part::Customer(merged.to_proto()));
    }
    let mut after = None;
    loop {
        let tickets = store
            .requested_tickets(tenant, id, after, EXPORT_TICKETS)
            .await
            .map_err(status)?;
        let full = tickets.len() as i64 == EXPORT_TICKETS;
        for ticket in tickets {
            after = Some(ticket.id);
            let ticket_id = ticket.id;
            send!(Part::Ticket(ticket.to_proto()));
            let mut cursor = None;
            loop {
                let messages = store
                    .messages(tenant, ticket_id, true, cursor, EXPORT_MESSAGES)
                    .await
                    .map_err(status)?;
                let more = messages.len() as i64 == EXPORT_MESSAGES;
                for m in messages {
                    cursor = Some((m.created_at, m.id));
                    send!(Part::Message(m.to_proto()));
                }
                if !more {
                    break;
                }
            }
            let mut seq = 0;
            loop {
                let changes = store
                    .changes(tenant, ticket_id, seq, EXPORT_CHANGES)
                    .await
                    .map_err(status)?;
                let more = changes.len() as i64 == EXPORT_CHANGES;
                for c in changes {
                    seq = c.seq;
                    send!(Part::Change(pb::TicketChange {
                        actor: Some(c.actor),
                        change_time: Some(crate::domain::timestamp(c.at)),
                        field: c.field,
                        old_value: c.old,
                        new_value: c.new,
                        version: c.version,
                    }));
                }
                if !more {
                    break;
                }
            }
        }
        if !full {
            return Ok(());
        }
    }
}

fn status(e: crate::store::StoreError) -> Status {
    to_status(&e)
}
