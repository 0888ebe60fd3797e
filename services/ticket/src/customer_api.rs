//! `CustomerService` handlers: staff-only profile lookups, identities, merges
//! and history.

use std::sync::Arc;

use switchboard_proto::ticket::v1::{
    AddIdentityRequest, Customer as PbCustomer, FindCustomerRequest, GetCustomerRequest,
    HistoryEntry, ListCustomerHistoryRequest, ListCustomerHistoryResponse, MergeCustomersRequest,
    UpdateCustomerRequest, customer_service_server::CustomerService,
};
use switchboard_runtime::{Caller, Violations, caller, to_status};
use tonic::{Request, Response, Status};

use crate::{
    api::{TicketError, require_staff},
    domain::{
        Identity,
        customer::{CustomerUpdate, customer_name, parse_customer_name},
        query::{MESSAGE_PAGE, fnv, page_size, page_token, parse_page_token},
    },
    store::{
        TicketStore,
        customers::{CustomerError, CustomerStore},
    },
};

/// Both stores a customer call may need.
pub trait Stores: TicketStore + CustomerStore {}
impl<T: TicketStore + CustomerStore> Stores for T {}

/// The `CustomerService` implementation.
#[derive(Clone)]
pub struct CustomerApi {
    store: Arc<dyn Stores>,
}

impl CustomerApi {
    /// Handlers over `store`.
    pub fn new(store: Arc<dyn Stores>) -> Self {
        Self { store }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn staff<T>(request: &Request<T>) -> Result<Caller, Status> {
    let caller = caller(request)?.clone();
    tracing::Span::current().record("tenant", caller.tenant.as_str());
    require_staff(&caller, "customer profiles are for staff only")?;
    Ok(caller)
}

fn customer_error(e: CustomerError) -> Status {
    to_status(&e)
}

#[tonic::async_trait]
impl CustomerService for CustomerApi {
    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_customer(&self, request: Request<GetCustomerRequest>) -> Reply<PbCustomer> {
        let caller = staff(&request)?;
        let mut v = Violations::default();
        let id = parse_customer_name("name", &request.get_ref().name, &mut v);
        let id = v
            .into_result(id)
            .map_err(TicketError::from)?
            .unwrap_or_default();
        let customer = self
            .store
            .customer(&caller.tenant, id)
            .await
            .map_err(TicketError::from)?;
        let customer = customer.ok_or_else(|| customer_error(CustomerError::NotFound(id)))?;
        Ok(Response::new(customer.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn find_customer(&self, request: Request<FindCustomerRequest>) -> Reply<PbCustomer> {
        let caller = staff(&request)?;
        let mut v = Violations::default();
        let identity =
            Identity::from_proto("identity", request.get_ref().identity.as_ref(), &mut v);
        let identity = v
            .into_result(identity)
            .map_err(TicketError::from)?
            .expect("valid identity");
        let not_found = || {
            Status::not_found(format!(
                "no customer has {} `{}`",
                identity.kind(),
                identity.value()
            ))
        };
        let id = self
            .store
            .find_customer(&caller.tenant, &identity)
            .await
            .map_err(TicketError::from)?
            .ok_or_else(not_found)?;
        let customer = self
            .store
            .customer(&caller.tenant, id)
            .await
            .map_err(TicketError::from)?
            .ok_or_else(not_found)?;
        Ok(Response::new(customer.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn add_identity(&self, request: Request<AddIdentityRequest>) -> Reply<PbCustomer> {
        let caller = staff(&request)?;
        let req = request.get_ref();
        let mut v = Violations::default();
        let id = parse_customer_name("name", &req.name, &mut v);
        let identity = Identity::from_proto("identity", req.identity.as_ref(), &mut v);
        let (id, identity) = match v.into_result((id, identity)).map_err(TicketError::from)? {
            (Some(id), Some(identity)) => (id, identity),
            _ => unreachable!("no violations means both parsed"),
        };
        let customer = self
            .store
            .add_identity(&caller.tenant, id, &identity)
            .await
            .map_err(customer_error)?;
        Ok(Response::new(customer.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn update_customer(&self, request: Request<UpdateCustomerRequest>) -> Reply<PbCustomer> {
        let caller = staff(&request)?;
        let update = CustomerUpdate::from_request(request.get_ref()).map_err(TicketError::from)?;
        let customer = self
            .store
            .update_customer(&caller.tenant, &update)
            .await
            .map_err(customer_error)?;
        Ok(Response::new(customer.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn merge_customers(&self, request: Request<MergeCustomersRequest>) -> Reply<PbCustomer> {
        let caller = staff(&request)?;
        let req = request.get_ref();
        let mut v = Violations::default();
        let source = parse_customer_name("source", &req.source, &mut v);
        let target = parse_customer_name("target", &req.target, &mut v);
        let (source, target) = match v.into_result((source, target)).map_err(TicketError::from)? {
            (Some(s), Some(t)) => (s, t),
            _ => unreachable!("no violations means both parsed"),
        };
        let survivor = self
            .store
            .merge_customers(&caller.tenant, source, target, caller.to_actor())
            .await
            .map_err(customer_error)?;
        tracing::info!(source = %customer_name(source), target = %customer_name(target), "customers merged");
        Ok(Response::new(survivor.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_customer_history(
        &self,
        request: Request<ListCustomerHistoryRequest>,
    ) -> Reply<ListCustomerHistoryResponse> {
        let caller = staff(&request)?;
        let req = request.get_ref();
        let mut v = Violations::default();
        let id = parse_customer_name("name", &req.name, &mut v);
        let limit = page_size(req.page_size, MESSAGE_PAGE, &mut v);
        let fingerprint = fnv(req.name.as_bytes());
        let before = parse_page_token(&req.page_token, fingerprint, &mut v);
        let id = v
            .into_result(id)
            .map_err(TicketError::from)?
            .unwrap_or_default();
        let customer = self
            .store
            .customer(&caller.tenant, id)
            .await
            .map_err(TicketError::from)?;
        // A merged-away profile's history is its survivor's.
        let id = match customer {
            None => return Err(customer_error(CustomerError::NotFound(id))),
            Some(c) => c.merged_into.unwrap_or(c.id),
        };
        let mut entries = self
            .store
            .history(&caller.tenant, id, true, before, limit + 1)
            .await
            .map_err(TicketError::from)?;
        let more = entries.len() as i64 > limit;
        entries.truncate(limit as usize);
        let next_page_token = match entries.last() {
            Some((_, m)) if more => page_token(fingerprint, (m.created_at, m.id)),
            _ => String::new(),
        };
        Ok(Response::new(ListCustomerHistoryResponse {
            entries: entries
                .into_iter()
                .map(|(t, m)| HistoryEntry {
                    ticket: Some(t.to_proto()),
                    message: Some(m.to_proto()),
                })
                .collect(),
            next_page_token,
        }))
    }
}
