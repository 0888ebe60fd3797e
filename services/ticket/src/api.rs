//! gRPC handlers: decode, authorize, call the domain and the store.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use switchboard_proto::ticket::v1::{
    self as pb, AddMessageRequest, AddMessageResponse, AssignTicketRequest, CreateTicketRequest,
    GetIntakeRulesRequest, GetSlaPolicyRequest, GetTicketRequest, IntakeRules, ListMessagesRequest,
    ListMessagesResponse, ListTicketChangesRequest, ListTicketChangesResponse, ListTicketsRequest,
    ListTicketsResponse, MergeTicketsRequest, SlaPolicy, SubmitSatisfactionRequest,
    Ticket as PbTicket, UpdateIntakeRulesRequest, UpdateSlaPolicyRequest, UpdateTicketRequest,
    WatchTicketsRequest, ticket_service_server::TicketService,
};
use switchboard_runtime::{
    Caller, DomainError, ErrorKind, FieldViolation, Role, Violations, caller, to_status,
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    domain::{
        Identity, NewTicket, RequesterProfile, Ticket,
        allowed::{self, Writer},
        change,
        error::RuleError,
        fields::{MAX_USER_BYTES, NOT_STAFF, Satisfaction, is_staff_id},
        idempotency::{self, IdempotencyKey},
        intake,
        message::{Message, NewMessage},
        parse_ticket_name,
        query::{
            CHANGE_PAGE, MESSAGE_PAGE, TicketQuery, fnv, page_size, page_token, parse_page_token,
            ranked_page_token,
        },
        sla::{Policy, TicketSla, reconcile},
    },
    store::{Apply, MergeApply, StoreError, TicketStore, UpdateError, Updated},
    tenant_cache::TenantCache,
    watch::{Audience, WatchStream, Watcher},
};

/// What can go wrong in a ticket call.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// The request is malformed.
    #[error(transparent)]
    Invalid(#[from] Violations),
    /// No such ticket for this caller.
    #[error("ticket `{0}` not found")]
    NotFound(String),
    /// The ticket's rules refuse the change.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DomainError for TicketError {
    fn kind(&self) -> ErrorKind {
        match self {
            TicketError::Invalid(v) => v.kind(),
            TicketError::NotFound(_) => ErrorKind::NotFound,
            TicketError::Rule(e) => e.kind(),
            TicketError::Store(e) => e.kind(),
        }
    }

    fn violations(&self) -> &[FieldViolation] {
        match self {
            TicketError::Invalid(v) => v.violations(),
            TicketError::Rule(e) => e.violations(),
            _ => &[],
        }
    }
}

impl From<TicketError> for Status {
    fn from(e: TicketError) -> Self {
        to_status(&e)
    }
}

fn update_error(name: &str) -> impl FnOnce(UpdateError) -> TicketError + '_ {
    move |e| match e {
        UpdateError::NotFound => TicketError::NotFound(name.to_owned()),
        UpdateError::Rule(e) => TicketError::Rule(e),
        UpdateError::Store(e) => TicketError::Store(e),
    }
}

/// Whose tickets a caller may see.
enum Scope {
    /// Every ticket of the tenant.
    Staff,
    /// Only tickets this customer requested (`None`: they have none yet).
    Customer(Option<Uuid>),
}

impl Scope {
    fn sees(&self, ticket: &Ticket) -> bool {
        match self {
            Scope::Staff => true,
            Scope::Customer(id) => *id == Some(ticket.requester_id),
        }
    }

    /// Whether a replayed result may be shown: the same visibility rules as
    /// any read, so a replay can never show what a fresh call would not.
    fn sees_result(&self, ticket: &Ticket, message: Option<&Message>) -> bool {
        self.sees(ticket) && (matches!(self, Scope::Staff) || message.is_none_or(|m| m.public))
    }
}

/// Set by intake on the ticket calls it makes for a channel (request
/// extensions never come from the network, so only in-process code sets
/// it): the channel may set what it knows ([`Writer::Channel`]), and the
/// `request_id` belongs to the intake RPC.
#[derive(Debug, Clone)]
pub struct Relayed {
    /// The intake RPC the `request_id` belongs to, e.g. `SubmitWebForm`.
    pub operation: &'static str,
    /// For an id the channel provider assigned (an SMS provider id, a
    /// Message-ID): the channel's principal and the fingerprint of what the
    /// channel delivered. Such an id names the message whichever customer
    /// it is matched to, and whichever way it is written (new ticket or
    /// reply).
    pub channel_key: Option<(String, [u8; 32])>,
}

/// The idempotency key of a call by `caller` for `operation`: the caller's
/// own unless intake relays a channel's id.
fn idempotency_key(
    caller: &Caller,
    relayed: Option<&Relayed>,
    operation: &'static str,
    request_id: Option<&str>,
    fingerprint: impl FnOnce() -> [u8; 32],
) -> Option<IdempotencyKey> {
    let request_id = request_id?;
    let (principal, operation, fingerprint) = match relayed {
        Some(Relayed {
            operation,
            channel_key: Some((owner, fingerprint)),
        }) => (owner.clone(), *operation, *fingerprint),
        Some(relayed) => (
            idempotency::principal(caller),
            relayed.operation,
            fingerprint(),
        ),
        None => (idempotency::principal(caller), operation, fingerprint()),
    };
    IdempotencyKey::new(principal, operation, Some(request_id), fingerprint)
}

/// Which allow-list applies to `caller`.
fn writer(caller: &Caller, relayed: Option<&Relayed>) -> Writer {
    match (caller.role.is_staff(), relayed) {
        (true, _) => Writer::Staff,
        (false, Some(_)) => Writer::Channel,
        (false, None) => Writer::Customer,
    }
}

/// A replay the caller may not see is answered as a reused key: it reveals
/// nothing of what the first request made.
fn key_reused() -> TicketError {
    TicketError::Store(StoreError::KeyReused)
}

/// The `TicketService` implementation.
#[derive(Clone)]
pub struct TicketApi {
    store: Arc<dyn TicketStore>,
    watcher: Option<Watcher>,
    tenants: Arc<TenantCache>,
}

type Reply<T> = Result<Response<T>, Status>;

impl TicketApi {
    /// Handlers over `store`.
    pub fn new(store: Arc<dyn TicketStore>) -> Self {
        Self {
            store,
            watcher: None,
            tenants: Arc::default(),
        }
    }

    /// Serves `WatchTickets` from `watcher`.
    pub fn with_watcher(mut self, watcher: Watcher) -> Self {
        self.watcher = Some(watcher);
        self
    }

    /// The live event source of `WatchTickets`, when this process has one.
    pub(crate) fn watcher(&self) -> Option<&Watcher> {
        self.watcher.as_ref()
    }

    /// The tenant's SLA policy (cached briefly).
    async fn policy(
        &self,
        tenant: &switchboard_runtime::TenantId,
    ) -> Result<Option<Policy>, TicketError> {
        Ok(self
            .tenants
            .get(self.store.as_ref(), tenant)
            .await?
            .policy
            .clone())
    }

    /// The tier and tags of the customer behind `identity`, if known.
    async fn requester_profile(
        &self,
        tenant: &switchboard_runtime::TenantId,
        identity: &Identity,
    ) -> Result<Option<RequesterProfile>, TicketError> {
        let Some(id) = self.store.find_customer(tenant, identity).await? else {
            return Ok(None);
        };
        Ok(self.store.customer_profile(tenant, id).await?)
    }

    async fn scope(&self, caller: &Caller) -> Result<Scope, TicketError> {
        if caller.role != Role::Customer {
            return Ok(Scope::Staff);
        }
        let Some(identity) = Identity::from_principal(&caller.user) else {
            return Ok(Scope::Customer(None));
        };
        let id = self.store.find_customer(&caller.tenant, &identity).await?;
        Ok(Scope::Customer(id))
    }

    /// The ticket `name`, or NOT_FOUND when it does not exist or the caller
    /// may not see it (a customer must not learn other tickets exist).
    async fn visible(&self, caller: &Caller, name: &str) -> Result<(Ticket, Scope), TicketError> {
        let id = parse_ticket_name(name)?;
        tracing::Span::current().record("ticket", id.to_string());
        let not_found = || TicketError::NotFound(name.to_owned());
        let ticket = self
            .store
            .get(&caller.tenant, id)
            .await?
            .ok_or_else(not_found)?;
        let scope = self.scope(caller).await?;
        if scope.sees(&ticket) {
            Ok((ticket, scope))
        } else {
            Err(not_found())
        }
    }

    async fn change(
        &self,
        caller: &Caller,
        name: &str,
        key: Option<&IdempotencyKey>,
        apply: Apply,
    ) -> Result<Updated, TicketError> {
        // Staff see every ticket of the tenant, and the update reads the
        // row itself (NOT_FOUND included): a read beforehand would repeat it.
        let id = if caller.role != Role::Customer {
            let id = parse_ticket_name(name)?;
            tracing::Span::current().record("ticket", id.to_string());
            id
        } else {
            self.visible(caller, name).await?.0.id
        };
        let updated = self
            .store
            .update(&caller.tenant, id, key, apply)
            .await
            .map_err(update_error(name))?;
        if updated.replayed
            && !self
                .scope(caller)
                .await?
                .sees_result(&updated.ticket, updated.message.as_ref())
        {
            return Err(key_reused());
        }
        Ok(updated)
    }
}

/// Runs a change rule, then moves the SLA clocks for what it changed.
fn with_sla<F>(policy: Option<Policy>, rule: F) -> Apply
where
    F: Fn(&Ticket, DateTime<Utc>) -> Result<change::Change, RuleError> + Send + Sync + 'static,
{
    Box::new(move |before| {
        let now = Utc::now();
        let mut change = rule(before, now)?;
        if let Some(policy) = &policy {
            if !change.is_noop() {
                reconcile(before, &mut change.ticket, policy, now);
            }
            if let Some(follow_up) = &mut change.follow_up {
                follow_up.sla = TicketSla::start(policy, follow_up.priority, now);
            }
        }
        Ok(change)
    })
}

/// PERMISSION_DENIED with `why` unless `caller` is staff.
pub(crate) fn require_staff(caller: &Caller, why: &str) -> Result<(), TicketError> {
    if caller.role.is_staff() {
        Ok(())
    } else {
        Err(TicketError::Rule(RuleError::Forbidden(why.to_owned())))
    }
}

/// PERMISSION_DENIED with `why` unless `caller` runs the desk (supervisor or admin).
fn require_manager(caller: &Caller, why: &str) -> Result<(), TicketError> {
    if matches!(caller.role, Role::Supervisor | Role::Admin) {
        Ok(())
    } else {
        Err(TicketError::Rule(RuleError::Forbidden(why.to_owned())))
    }
}

fn start<T>(request: &Request<T>) -> Result<Caller, Status> {
    let caller = caller(request)?.clone();
    tracing::Span::current().record("tenant", caller.tenant.as_str());
    Ok(caller)
}

/// A staff user id (the assignee gets what followers get); `me` is the
/// caller, whose staff role the assign rule checks.
fn user_id(field: &str, raw: &str, caller: &Caller, v: &mut Violations) -> Option<String> {
    match raw.trim() {
        "" => None,
        "me" => Some(caller.user.clone()),
        id if id.len() > MAX_USER_BYTES || id.chars().any(char::is_control) => {
            v.add(
                field,
                format!("1 to {MAX_USER_BYTES} bytes without control characters"),
            );
            None
        }
        id if !is_staff_id(id) => {
            v.add(field, NOT_STAFF);
            None
        }
        id => Some(id.to_owned()),
    }
}

#[tonic::async_trait]
impl TicketService for TicketApi {
    type WatchTicketsStream = WatchStream;

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn watch_tickets(&self, request: Request<WatchTicketsRequest>) -> Reply<WatchStream> {
        let caller = start(&request)?;
        let list = ListTicketsRequest {
            filter: request.into_inner().filter,
            ..Default::default()
        };
        let filter = TicketQuery::from_request(&list).map_err(TicketError::from)?;
        let audience = match self.scope(&caller).await? {
            Scope::Staff => Audience::Staff,
            Scope::Customer(Some(me)) => Audience::Customer(me),
            // Someone with no tickets yet watches nothing of anyone's.
            Scope::Customer(None) => Audience::Customer(Uuid::nil()),
        };
        let watcher = self
            .watcher
            .as_ref()
            .ok_or_else(|| Status::unavailable("watching is not configured on this server"))?;
        let stream = watcher.watch(&caller, filter, audience).await?;
        Ok(Response::new(stream))
    }

    #[tracing::instrument(skip_all, fields(tenant, ticket))]
    async fn create_ticket(&self, request: Request<CreateTicketRequest>) -> Reply<PbTicket> {
        let caller = start(&request)?;
        let relayed = request.extensions().get::<Relayed>().cloned();
        let req = request.into_inner();
        allowed::create_ticket(&req, writer(&caller, relayed.as_ref()))
            .map_err(TicketError::from)?;
        let mut new = NewTicket::from_request(&caller, req).map_err(TicketError::from)?;
        let key = idempotency_key(
            &caller,
            relayed.as_ref(),
            idempotency::CREATE_TICKET,
            new.request_id.as_deref(),
            || new.fingerprint(),
        );
        let tenant = self
            .tenants
            .get(self.store.as_ref(), &caller.tenant)
            .await
            .map_err(TicketError::from)?;
        if intake::needs_profile(&tenant.rules) {
            new.requester_profile = self
                .requester_profile(&caller.tenant, &new.identity)
                .await?;
        }
        let applied = intake::apply(&tenant.rules, &mut new);
        if !applied.is_empty() {
            tracing::debug!(rules = ?applied, "intake rules applied");
        }
        if let Some(policy) = &tenant.policy {
            new.sla = TicketSla::start(policy, new.priority, Utc::now());
        }
        let created = self
            .store
            .create(&caller.tenant, &new, key.as_ref(), caller.to_actor())
            .await
            .map_err(TicketError::from)?;
        tracing::Span::current().record("ticket", created.ticket.id.to_string());
        if created.fresh {
            metrics::counter!("tickets_created_total").increment(1);
        } else if !self.scope(&caller).await?.sees(&created.ticket) {
            return Err(key_reused().into());
        }
        Ok(Response::new(created.ticket.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant, ticket))]
    async fn get_ticket(&self, request: Request<GetTicketRequest>) -> Reply<PbTicket> {
        let caller = start(&request)?;
        let (ticket, _) = self.visible(&caller, &request.get_ref().name).await?;
        Ok(Response::new(ticket.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_tickets(
        &self,
        request: Request<ListTicketsRequest>,
    ) -> Reply<ListTicketsResponse> {
        let caller = start(&request)?;
        let mut query = TicketQuery::from_request(request.get_ref()).map_err(TicketError::from)?;
        if let Scope::Customer(me) = self.scope(&caller).await? {
            match (me, query.requester) {
                (Some(me), None) => query.requester = Some(me),
                (Some(me), Some(asked)) if me == asked => {}
                // A customer with no tickets, or asking about someone else.
                _ => return Ok(Response::new(ListTicketsResponse::default())),
            }
        }
        let limit = query.limit;
        query.limit += 1;
        let mut tickets = self
            .store
            .list(&caller.tenant, &query)
            .await
            .map_err(TicketError::from)?;
        let more = tickets.len() as i64 > limit;
        tickets.truncate(limit as usize);
        let next_page_token = match tickets.last() {
            Some(last) if more => ranked_page_token(query.fingerprint, query.order.cursor(last)),
            _ => String::new(),
        };
        Ok(Response::new(ListTicketsResponse {
            tickets: tickets.iter().map(Ticket::to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant, ticket))]
    async fn update_ticket(&self, request: Request<UpdateTicketRequest>) -> Reply<PbTicket> {
        let caller = start(&request)?;
        let update =
            change::TicketUpdate::from_request(request.get_ref()).map_err(TicketError::from)?;
        let name = request
            .get_ref()
            .ticket
            .as_ref()
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let who = caller.clone();
        let policy = self.policy(&caller.tenant).await?;
        let apply = with_sla(policy, move |t, now| change::update(t, &who, &update, now));
        let updated = self.change(&caller, &name, None, apply).await?;
        Ok(Response::new(updated.ticket.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant, ticket))]
    async fn assign_ticket(&self, request: Request<AssignTicketRequest>) -> Reply<PbTicket> {
        let caller = start(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let assignee = user_id("assignee", &req.assignee, &caller, &mut v);
        let group = match req.group.trim() {
            "" => None,
            g if g.len() > 128 || g.chars().any(char::is_control) => {
                v.add("group", "1 to 128 bytes without control characters");
                None
            }
            g => Some(g.to_owned()),
        };
        if req.expected_version <= 0 {
            v.add("expected_version", "is required: the version you last read");
        }
        let (assignee, group) = v
            .into_result((assignee, group))
            .map_err(TicketError::from)?;
        let who = caller.clone();
        let expected = req.expected_version;
        let policy = self.policy(&caller.tenant).await?;
        let apply = with_sla(policy, move |t, now| {
            change::assign(t, &who, assignee.clone(), group.clone(), expected, now)
        });
        let updated = self.change(&caller, &req.name, None, apply).await?;
        Ok(Response::new(updated.ticket.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant, ticket))]
    async fn add_message(&self, request: Request<AddMessageRequest>) -> Reply<AddMessageResponse> {
        let caller = start(&request)?;
        let relayed = request.extensions().get::<Relayed>();
        allowed::add_message(request.get_ref(), writer(&caller, relayed))
            .map_err(TicketError::from)?;
        let new =
            NewMessage::from_request(&caller, request.get_ref()).map_err(TicketError::from)?;
        let key = idempotency_key(
            &caller,
            relayed,
            idempotency::ADD_MESSAGE,
            new.request_id.as_deref(),
            || new.fingerprint(),
        );
        let who = caller.clone();
        let policy = self.policy(&caller.tenant).await?;
        let apply = with_sla(policy, move |t, now| {
            change::add_message(t, &who, &new, now)
        });
        let updated = self
            .change(&caller, &request.get_ref().parent, key.as_ref(), apply)
            .await?;
        Ok(Response::new(AddMessageResponse {
            message: updated.message.as_ref().map(|m| m.to_proto()),
            ticket: Some(updated.ticket.to_proto()),
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant, ticket))]
    async fn list_messages(
        &self,
        request: Request<ListMessagesRequest>,
    ) -> Reply<ListMessagesResponse> {
        let caller = start(&request)?;
        let req = request.get_ref();
        let mut v = Violations::default();
        let limit = page_size(req.page_size, MESSAGE_PAGE, &mut v);
        let fingerprint = fnv(req.parent.as_bytes());
        let after = parse_page_token(&req.page_token, fingerprint, &mut v);
        v.into_result(()).map_err(TicketError::from)?;
        let (ticket, scope) = self.visible(&caller, &req.parent).await?;
        let staff = matches!(scope, Scope::Staff);
        let mut messages = self
            .store
            .messages(&caller.tenant, ticket.id, staff, after, limit + 1)
            .await
            .map_err(TicketError::from)?;
        let more = messages.len() as i64 > limit;
        messages.truncate(limit as usize);
        let next_page_token = match messages.last() {
            Some(last) if more => page_token(fingerprint, (last.created_at, last.id)),
            _ => String::new(),
        };
        Ok(Response::new(ListMessagesResponse {
            messages: messages.iter().map(|m| m.to_proto()).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant, ticket))]
    async fn list_ticket_changes(
        &self,
        request: Request<ListTicketChangesRequest>,
    ) -> Reply<ListTicketChangesResponse> {
        let caller = start(&request)?;
        let req = request.get_ref();
        let mut v = Violations::default();
        let limit = page_size(req.page_size, CHANGE_PAGE, &mut v);
        let after: i64 = match req.page_token.as_str() {
            "" => 0,
            t => t.parse().unwrap_or_else(|_| {
                v.add("page_token", "is not a token this service issued");
                0
            }),
        };
        v.into_result(()).map_err(TicketError::from)?;
        let (ticket, _) = self.visible(&caller, &req.name).await?;
        require_staff(&caller, "customers cannot read a ticket's audit trail")?;
        let mut changes = self
            .store
            .changes(&caller.tenant, ticket.id, after, limit + 1)
            .await
            .map_err(TicketError::from)?;
        let more = changes.len() as i64 > limit;
        changes.truncate(limit as usize);
        let next_page_token = match changes.last() {
            Some(last) if more => last.seq.to_string(),
            _ => String::new(),
        };
        Ok(Response::new(ListTicketChangesResponse {
            changes: changes
                .into_iter()
                .map(|c| pb::TicketChange {
                    actor: Some(c.actor),
                    change_time: Some(crate::domain::timestamp(c.at)),
                    field: c.field,
                    old_value: c.old,
                    new_value: c.new,
                    version: c.version,
                })
                .collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant, ticket))]
    async fn merge_tickets(&self, request: Request<MergeTicketsRequest>) -> Reply<PbTicket> {
        let caller = start(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let mut name = |field: &str, raw: &str| match parse_ticket_name(raw) {
            Ok(id) => id,
            Err(_) => {
                v.add(field, "must be `tickets/{ticket_id}`");
                Uuid::nil()
            }
        };
        let (source, target) = (name("source", &req.source), name("target", &req.target));
        for (field, version) in [
            ("source_version", req.source_version),
            ("target_version", req.target_version),
        ] {
            if version <= 0 {
                v.add(field, "is required: the version you last read");
            }
        }
        v.into_result(()).map_err(TicketError::from)?;
        let who = caller.clone();
        let versions = (req.source_version, req.target_version);
        let policy = self.policy(&caller.tenant).await?;
        let apply: MergeApply = Box::new(move |s, t| {
            let now = Utc::now();
            let (mut sc, mut tc) = change::merge(s, t, &who, versions, now)?;
            if let Some(policy) = &policy {
                reconcile(s, &mut sc.ticket, policy, now);
                reconcile(t, &mut tc.ticket, policy, now);
            }
            Ok((sc, tc))
        });
        let target = self
            .store
            .merge(&caller.tenant, source, target, apply)
            .await
            .map_err(update_error(&format!("{} or {}", req.source, req.target)))?;
        Ok(Response::new(target.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_intake_rules(
        &self,
        request: Request<GetIntakeRulesRequest>,
    ) -> Reply<IntakeRules> {
        let caller = start(&request)?;
        require_staff(&caller, "intake rules are for staff")?;
        let (rules, version) = self
            .store
            .intake_rules(&caller.tenant)
            .await
            .map_err(TicketError::from)?;
        Ok(Response::new(intake::to_proto(&rules, version)))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn update_intake_rules(
        &self,
        request: Request<UpdateIntakeRulesRequest>,
    ) -> Reply<IntakeRules> {
        let caller = start(&request)?;
        require_manager(&caller, "only supervisors and admins set intake rules")?;
        let raw = request.into_inner().rules.unwrap_or_default();
        let rules = intake::from_proto(&raw).map_err(TicketError::from)?;
        let version = self
            .store
            .set_intake_rules(&caller.tenant, &rules)
            .await
            .map_err(TicketError::from)?;
        self.tenants.forget(&caller.tenant);
        Ok(Response::new(intake::to_proto(&rules, version)))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_sla_policy(&self, request: Request<GetSlaPolicyRequest>) -> Reply<SlaPolicy> {
        let caller = start(&request)?;
        require_staff(&caller, "SLA policies are for staff")?;
        let policy = self
            .store
            .sla_policy(&caller.tenant)
            .await
            .map_err(TicketError::from)?;
        let policy =
            policy.ok_or_else(|| Status::not_found("this tenant has no SLA policy yet"))?;
        Ok(Response::new(policy.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn update_sla_policy(
        &self,
        request: Request<UpdateSlaPolicyRequest>,
    ) -> Reply<SlaPolicy> {
        let caller = start(&request)?;
        require_manager(&caller, "only supervisors and admins set SLA policies")?;
        let raw = request.into_inner().policy.unwrap_or_default();
        let policy = Policy::from_proto(&raw).map_err(TicketError::from)?;
        let saved = self
            .store
            .set_sla_policy(&caller.tenant, &policy)
            .await
            .map_err(TicketError::from)?;
        self.tenants.forget(&caller.tenant);
        Ok(Response::new(saved.to_proto()))
    }

    #[tracing::instrument(skip_all, fields(tenant, ticket))]
    async fn submit_satisfaction(
        &self,
        request: Request<SubmitSatisfactionRequest>,
    ) -> Reply<PbTicket> {
        let caller = start(&request)?;
        let req = request.into_inner();
        allowed::submit_satisfaction(&req).map_err(TicketError::from)?;
        let rating =
            Satisfaction::new(req.score, &req.comment, Utc::now()).map_err(TicketError::from)?;
        let (ticket, scope) = self.visible(&caller, &req.name).await?;
        let is_requester = scope.sees(&ticket) && matches!(scope, Scope::Customer(_));
        let who = caller.clone();
        let apply: Apply = Box::new(move |t| change::rate(t, &who, is_requester, rating.clone()));
        let updated = self
            .store
            .update(&caller.tenant, ticket.id, None, apply)
            .await
            .map_err(update_error(&req.name))?;
        Ok(Response::new(updated.ticket.to_proto()))
    }
}
