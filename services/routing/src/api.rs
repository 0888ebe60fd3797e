//! gRPC handlers: decode, authorize, call the domain and the engine.

use std::{pin::Pin, sync::Arc, time::Duration};

use futures::Stream;
use prost_types::Timestamp;
use switchboard_proto::{
    common::v1::Channel,
    routing::v1::{self as pb, Presence, routing_service_server::RoutingService},
};
use switchboard_runtime::{
    Caller, Hub, Missed, Role, Streams, TenantId, Violations, caller, to_status,
};
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::{
    domain::{
        Agent, Capacity, Group,
        agent::{self, apply_fields},
        agents_page_after, agents_page_token, group, rules,
    },
    router::Router,
    store::StoreError,
};

type Reply<T> = Result<Response<T>, Status>;

/// Largest `ListAgents` page.
const MAX_PAGE: i32 = 500;
/// How often a queue with watchers is looked at again: once per tenant
/// and group, however many watch it.
const WATCH_EVERY: Duration = Duration::from_millis(500);

/// A queue's newest stats, or why they could not be read (then its poller
/// stops, its watchers end with the error, and the next starts afresh).
type QueueSnapshot = Result<pb::QueueStats, Status>;

/// The `RoutingService`.
#[derive(Debug, Clone)]
pub struct RoutingApi {
    router: Arc<Router>,
    streams: Streams,
    /// One poller per watched (tenant, group), shared by its watchers.
    queues: Hub<(TenantId, String), watch::Receiver<QueueSnapshot>>,
}

impl RoutingApi {
    /// Handlers over `router`; `WatchQueue` streams open through `streams`
    /// (which also ends them at shutdown).
    pub fn new(router: Arc<Router>, streams: Streams) -> Self {
        Self {
            router,
            streams,
            queues: Hub::new("queue_stats"),
        }
    }

    async fn agent_out(&self, caller: &Caller, a: &Agent) -> Result<pb::Agent, Status> {
        let (presence, loads) = self
            .router
            .live
            .agent_state(&caller.tenant, &a.user)
            .await
            .map_err(internal)?;
        let mut out = a.to_proto();
        out.presence = presence as i32;
        out.load = loads
            .into_iter()
            .map(|(c, n)| pb::ChannelLoad {
                channel: c as i32,
                load: n as i32,
            })
            .collect();
        Ok(out)
    }

    async fn invalidate(&self, caller: &Caller) -> Result<(), Status> {
        self.router
            .invalidate(&caller.tenant)
            .await
            .map_err(|e| to_status(&e))
    }
}

fn internal(e: impl std::fmt::Display) -> Status {
    tracing::warn!(error = %e, "routing backend failed");
    Status::unavailable(format!("routing backend unavailable: {e}"))
}

fn store(e: StoreError) -> Status {
    to_status(&e)
}

fn staff<T>(request: &Request<T>) -> Result<Caller, Status> {
    let c = caller(request)?.clone();
    if !c.role.is_staff() {
        return Err(Status::permission_denied("routing is for staff"));
    }
    Ok(c)
}

fn admin<T>(request: &Request<T>) -> Result<Caller, Status> {
    let c = staff(request)?;
    if c.role != Role::Admin {
        return Err(Status::permission_denied(
            "only admins manage agents, groups and routing rules",
        ));
    }
    Ok(c)
}

/// The group id in `raw` (`groups/{id}`), or INVALID_ARGUMENT naming `field`.
fn group_id(field: &str, raw: &str) -> Result<String, Status> {
    let mut v = Violations::default();
    let id = group::parse_name(field, raw, &mut v).map(str::to_owned);
    v.into_result(id.unwrap_or_default()).map_err(invalid)
}

fn invalid(v: Violations) -> Status {
    to_status(&v)
}

fn mask(m: Option<&prost_types::FieldMask>, v: &mut Violations) -> Vec<String> {
    match m {
        Some(m) if !m.paths.is_empty() => m.paths.iter().take(20).cloned().collect(),
        _ => {
            v.add("update_mask", "is required: name the fields to change");
            Vec::new()
        }
    }
}

fn presence_name(p: Presence) -> &'static str {
    match p {
        Presence::Online => "online",
        Presence::Away => "away",
        _ => "offline",
    }
}

#[tonic::async_trait]
impl RoutingService for RoutingApi {
    async fn create_agent(&self, request: Request<pb::CreateAgentRequest>) -> Reply<pb::Agent> {
        let c = admin(&request)?;
        let raw = request.into_inner().agent.unwrap_or_default();
        let mut v = Violations::default();
        let user = agent::parse_name("agent.name", &raw.name, &c.user, &mut v).map(str::to_owned);
        let mut a = Agent {
            user: user.unwrap_or_default(),
            display_name: String::new(),
            groups: vec![],
            skills: Default::default(),
            languages: vec![],
            capacity: Capacity::default(),
            version: 1,
        };
        apply_fields(&mut a, &raw, None, &mut v);
        v.into_result(()).map_err(invalid)?;
        let created = self
            .router
            .store
            .create_agent(&c.tenant, &a)
            .await
            .map_err(store)?;
        self.invalidate(&c).await?;
        Ok(Response::new(self.agent_out(&c, &created).await?))
    }

    async fn get_agent(&self, request: Request<pb::GetAgentRequest>) -> Reply<pb::Agent> {
        let c = staff(&request)?;
        let mut v = Violations::default();
        let user = agent::parse_name("name", &request.get_ref().name, &c.user, &mut v);
        let user = v
            .into_result(user.unwrap_or_default().to_owned())
            .map_err(invalid)?;
        let a = self
            .router
            .store
            .get_agent(&c.tenant, &user)
            .await
            .map_err(store)?;
        Ok(Response::new(self.agent_out(&c, &a).await?))
    }

    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Reply<pb::ListAgentsResponse> {
        let c = staff(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        if !(0..=MAX_PAGE).contains(&req.page_size) {
            v.add("page_size", format!("must be 0 to {MAX_PAGE}"));
        }
        let after = match agents_page_after(&req.page_token) {
            Some(after) => after,
            None => {
                v.add("page_token", "is not a token this service issued");
                String::new()
            }
        };
        let group = match req.group.strip_prefix("groups/").unwrap_or(&req.group) {
            "" => None,
            g if crate::domain::is_slug(g, false) => Some(g.to_owned()),
            _ => {
                v.add("group", "a group id");
                None
            }
        };
        v.into_result(()).map_err(invalid)?;
        let size = if req.page_size == 0 {
            100
        } else {
            req.page_size
        } as i64;
        let mut agents = self
            .router
            .store
            .list_agents(&c.tenant, group.as_deref(), &after, size + 1)
            .await
            .map_err(store)?;
        let next = if agents.len() as i64 > size {
            agents.truncate(size as usize);
            agents
                .last()
                .map(|a| agents_page_token(&a.user))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let mut out = Vec::with_capacity(agents.len());
        for a in &agents {
            out.push(self.agent_out(&c, a).await?);
        }
        Ok(Response::new(pb::ListAgentsResponse {
            agents: out,
            next_page_token: next,
        }))
    }

    async fn update_agent(&self, request: Request<pb::UpdateAgentRequest>) -> Reply<pb::Agent> {
        let c = admin(&request)?;
        let req = request.into_inner();
        let raw = req.agent.unwrap_or_default();
        let mut v = Violations::default();
        let user = agent::parse_name("agent.name", &raw.name, &c.user, &mut v).map(str::to_owned);
        let paths = mask(req.update_mask.as_ref(), &mut v);
        if req.expected_version <= 0 {
            v.add("expected_version", "is required: the version you last read");
        }
        let user = v.into_result(user.unwrap_or_default()).map_err(invalid)?;
        let mut a = self
            .router
            .store
            .get_agent(&c.tenant, &user)
            .await
            .map_err(store)?;
        let mut v = Violations::default();
        apply_fields(&mut a, &raw, Some(&paths), &mut v);
        v.into_result(()).map_err(invalid)?;
        let updated = self
            .router
            .store
            .update_agent(&c.tenant, &a, req.expected_version)
            .await
            .map_err(store)?;
        self.invalidate(&c).await?;
        Ok(Response::new(self.agent_out(&c, &updated).await?))
    }

    async fn delete_agent(
        &self,
        request: Request<pb::DeleteAgentRequest>,
    ) -> Reply<pb::DeleteAgentResponse> {
        let c = admin(&request)?;
        let mut v = Violations::default();
        let user =
            agent::parse_name("name", &request.get_ref().name, &c.user, &mut v).map(str::to_owned);
        let user = v.into_result(user.unwrap_or_default()).map_err(invalid)?;
        self.router
            .store
            .delete_agent(&c.tenant, &user)
            .await
            .map_err(store)?;
        self.invalidate(&c).await?;
        Ok(Response::new(pb::DeleteAgentResponse {}))
    }

    async fn create_group(&self, request: Request<pb::CreateGroupRequest>) -> Reply<pb::Group> {
        let c = admin(&request)?;
        let raw = request.into_inner().group.unwrap_or_default();
        let mut v = Violations::default();
        let id = group::parse_name("group.name", &raw.name, &mut v).map(str::to_owned);
        let mut g = Group::new(id.unwrap_or_default());
        g.apply(&raw, None, &mut v);
        v.into_result(()).map_err(invalid)?;
        let created = self
            .router
            .store
            .create_group(&c.tenant, &g)
            .await
            .map_err(store)?;
        self.invalidate(&c).await?;
        Ok(Response::new(created.to_proto()))
    }

    async fn get_group(&self, request: Request<pb::GetGroupRequest>) -> Reply<pb::Group> {
        let c = staff(&request)?;
        let id = group_id("name", &request.get_ref().name)?;
        let g = self
            .router
            .store
            .get_group(&c.tenant, &id)
            .await
            .map_err(store)?;
        Ok(Response::new(g.to_proto()))
    }

    async fn list_groups(
        &self,
        request: Request<pb::ListGroupsRequest>,
    ) -> Reply<pb::ListGroupsResponse> {
        let c = staff(&request)?;
        let groups = self
            .router
            .store
            .list_groups(&c.tenant)
            .await
            .map_err(store)?;
        Ok(Response::new(pb::ListGroupsResponse {
            groups: groups.iter().map(Group::to_proto).collect(),
        }))
    }

    async fn update_group(&self, request: Request<pb::UpdateGroupRequest>) -> Reply<pb::Group> {
        let c = admin(&request)?;
        let req = request.into_inner();
        let raw = req.group.unwrap_or_default();
        let mut v = Violations::default();
        let id = group::parse_name("group.name", &raw.name, &mut v).map(str::to_owned);
        let paths = mask(req.update_mask.as_ref(), &mut v);
        if req.expected_version <= 0 {
            v.add("expected_version", "is required: the version you last read");
        }
        let id = v.into_result(id.unwrap_or_default()).map_err(invalid)?;
        let mut g = self
            .router
            .store
            .get_group(&c.tenant, &id)
            .await
            .map_err(store)?;
        let mut v = Violations::default();
        g.apply(&raw, Some(&paths), &mut v);
        v.into_result(()).map_err(invalid)?;
        let updated = self
            .router
            .store
            .update_group(&c.tenant, &g, req.expected_version)
            .await
            .map_err(store)?;
        self.invalidate(&c).await?;
        Ok(Response::new(updated.to_proto()))
    }

    async fn delete_group(
        &self,
        request: Request<pb::DeleteGroupRequest>,
    ) -> Reply<pb::DeleteGroupResponse> {
        let c = admin(&request)?;
        let id = group_id("name", &request.get_ref().name)?;
        self.router
            .store
            .delete_group(&c.tenant, &id)
            .await
            .map_err(store)?;
        self.invalidate(&c).await?;
        Ok(Response::new(pb::DeleteGroupResponse {}))
    }

    async fn get_routing_rules(
        &self,
        request: Request<pb::GetRoutingRulesRequest>,
    ) -> Reply<pb::RoutingRules> {
        let c = staff(&request)?;
        let (list, version) = self.router.store.rules(&c.tenant).await.map_err(store)?;
        Ok(Response::new(rules::to_proto(&list, version)))
    }

    async fn update_routing_rules(
        &self,
        request: Request<pb::UpdateRoutingRulesRequest>,
    ) -> Reply<pb::RoutingRules> {
        let c = admin(&request)?;
        let raw = request.into_inner().rules.unwrap_or_default();
        let list = rules::from_proto(&raw).map_err(invalid)?;
        let version = self
            .router
            .store
            .put_rules(&c.tenant, &list)
            .await
            .map_err(store)?;
        self.invalidate(&c).await?;
        Ok(Response::new(rules::to_proto(&list, version)))
    }

    async fn set_presence(&self, request: Request<pb::SetPresenceRequest>) -> Reply<pb::Agent> {
        let c = staff(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let presence = match Presence::try_from(req.presence) {
            Ok(Presence::Unspecified) | Err(_) => {
                v.add(
                    "presence",
                    "must be PRESENCE_ONLINE, PRESENCE_AWAY or PRESENCE_OFFLINE",
                );
                Presence::Offline
            }
            Ok(p) => p,
        };
        let user = match req.agent.as_str() {
            "" => Some(c.user.clone()),
            name => agent::parse_name("agent", name, &c.user, &mut v).map(str::to_owned),
        };
        let user = v.into_result(user.unwrap_or_default()).map_err(invalid)?;
        if user != c.user && !matches!(c.role, Role::Admin | Role::Supervisor) {
            return Err(Status::permission_denied(
                "only admins and supervisors set another agent's presence",
            ));
        }
        let a = self
            .router
            .store
            .get_agent(&c.tenant, &user)
            .await
            .map_err(store)?;
        self.router
            .set_presence(&c.tenant, &user, presence, "set")
            .await
            .map_err(|e| to_status(&e))?;
        tracing::info!(agent = %user, presence = presence_name(presence), "presence set");
        Ok(Response::new(self.agent_out(&c, &a).await?))
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Reply<pb::HeartbeatResponse> {
        let c = staff(&request)?;
        let deadline = chrono::Utc::now()
            + chrono::TimeDelta::from_std(self.router.options.heartbeat_window).unwrap_or_default();
        let presence = self
            .router
            .live
            .heartbeat(&c.tenant, &c.user, deadline)
            .await
            .map_err(internal)?;
        // A heartbeat keeps an agent online; it never brings one back (the
        // script left an offline agent's state untouched).
        if presence == Presence::Offline {
            return Err(Status::failed_precondition(
                "agent is offline; SetPresence first",
            ));
        }
        Ok(Response::new(pb::HeartbeatResponse {
            presence: presence as i32,
            expire_time: Some(Timestamp {
                seconds: deadline.timestamp(),
                nanos: deadline.timestamp_subsec_nanos() as i32,
            }),
        }))
    }

    async fn claim_next(
        &self,
        request: Request<pb::ClaimNextRequest>,
    ) -> Reply<pb::ClaimNextResponse> {
        let c = staff(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        if req.channels.len() > 8 {
            v.add("channels", "at most 8");
        }
        for (i, ch) in req.channels.iter().enumerate() {
            if !matches!(Channel::try_from(*ch), Ok(c) if c != Channel::Unspecified) {
                v.add(format!("channels[{i}]"), format!("unknown channel {ch}"));
            }
        }
        v.into_result(()).map_err(invalid)?;
        self.router
            .store
            .get_agent(&c.tenant, &c.user)
            .await
            .map_err(store)?;
        let (presence, _) = self
            .router
            .live
            .agent_state(&c.tenant, &c.user)
            .await
            .map_err(internal)?;
        if presence == Presence::Offline {
            return Err(Status::failed_precondition(format!(
                "you are {}; go online or away to claim tickets",
                presence_name(presence)
            )));
        }
        let claimed = self
            .router
            .claim_next(&c.tenant, &c.user, &req.channels)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(pb::ClaimNextResponse {
            ticket: claimed
                .map(|id| format!("tickets/{id}"))
                .unwrap_or_default(),
        }))
    }

    async fn get_queue(&self, request: Request<pb::GetQueueRequest>) -> Reply<pb::QueueStats> {
        let c = staff(&request)?;
        let id = group_id("group", &request.get_ref().group)?;
        self.router
            .store
            .get_group(&c.tenant, &id)
            .await
            .map_err(store)?;
        let stats = self
            .router
            .queue_stats(&c.tenant, &id)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(stats))
    }

    type WatchQueueStream =
        Pin<Box<dyn Stream<Item = Result<pb::QueueStats, Status>> + Send + 'static>>;

    async fn watch_queue(
        &self,
        request: Request<pb::WatchQueueRequest>,
    ) -> Reply<Self::WatchQueueStream> {
        let c = staff(&request)?;
        let id = group_id("group", &request.get_ref().group)?;
        self.router
            .store
            .get_group(&c.tenant, &id)
            .await
            .map_err(store)?;
        let (mut feed, out) = self.streams.open(
            &c,
            "WatchQueue",
            "watch the queue again; the first message is its current state",
        )?;
        let router = self.router.clone();
        let key = (c.tenant.clone(), id);
        let (tenant, group) = key.clone();
        let (tap, mut stats) = self
            .queues
            .join(key, || async move {
                let first = router
                    .queue_stats(&tenant, &group)
                    .await
                    .map_err(|e| to_status(&e))?;
                let (tx, rx) = watch::channel(Ok(first));
                Ok((rx, poll_queue(router, tenant, group, tx)))
            })
            .await?;
        tokio::spawn(async move {
            let _tap = tap;
            loop {
                let current = stats.borrow_and_update().clone();
                match current {
                    // Stats are taken at the reader's pace: a slow reader
                    // skips to the newest.
                    Ok(current) => {
                        if feed.send(current).await.is_err() {
                            return;
                        }
                    }
                    Err(status) => {
                        feed.fail(status);
                        return;
                    }
                }
                tokio::select! {
                    () = feed.stopped() => return,
                    changed = stats.changed() => if changed.is_err() {
                        feed.missed(Missed::Stopped);
                        return;
                    },
                }
            }
        });
        Ok(Response::new(Box::pin(out)))
    }
}

/// Reads `group`'s stats every [`WATCH_EVERY`] for all its watchers and
/// publishes them when more than the clock moved, until the watchers are
/// gone (the hub then drops this) or a read fails.
async fn poll_queue(
    router: Arc<Router>,
    tenant: TenantId,
    group: String,
    tx: watch::Sender<QueueSnapshot>,
) {
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        match router.queue_stats(&tenant, &group).await {
            Ok(stats) => {
                tx.send_if_modified(|last| {
                    let same = matches!(last, Ok(l) if timeless(l) == timeless(&stats));
                    if !same {
                        *last = Ok(stats);
                    }
                    !same
                });
            }
            Err(e) => {
                tx.send_modify(|last| *last = Err(to_status(&e)));
                return;
            }
        }
    }
}

/// `s` without what moves with the clock alone.
fn timeless(s: &pb::QueueStats) -> pb::QueueStats {
    pb::QueueStats {
        update_time: None,
        oldest_wait_seconds: 0,
        ..s.clone()
    }
}
