//! The routing engine: decides, reserves capacity, assigns through the ticket
//! service and keeps the queue. Shared by every replica through PostgreSQL
//! (queue leases) and Redis (presence, load, holds).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use switchboard_runtime::{DomainError, ErrorKind, TenantId};
use tonic::Code;
use uuid::Uuid;

use crate::{
    domain::{Agent, Group, Job, Roster, RoutingRule, TicketView, decide},
    events,
    live::{Live, LiveError},
    seat::{Ask, Seat, seat},
    store::{Store, StoreError, Waiting},
    tickets::{TicketCallError, TicketClient},
};

/// Why routing could not finish; the event is retried.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// PostgreSQL failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Redis failed.
    #[error(transparent)]
    Live(#[from] LiveError),
    /// The ticket service failed.
    #[error(transparent)]
    Tickets(#[from] TicketCallError),
}

impl DomainError for RouteError {
    fn kind(&self) -> ErrorKind {
        match self {
            RouteError::Store(e) => e.kind(),
            RouteError::Live(_) => ErrorKind::Unavailable,
            // The ticket service's answer keeps its meaning.
            RouteError::Tickets(TicketCallError::Conflict(_)) => ErrorKind::Aborted,
            RouteError::Tickets(TicketCallError::Refused(code, _)) => match code {
                Code::NotFound => ErrorKind::NotFound,
                Code::PermissionDenied => ErrorKind::PermissionDenied,
                Code::InvalidArgument => ErrorKind::InvalidArgument,
                Code::FailedPrecondition => ErrorKind::FailedPrecondition,
                _ => ErrorKind::Internal,
            },
            RouteError::Tickets(TicketCallError::Unavailable(_)) => ErrorKind::Unavailable,
        }
    }
}

type Result<T, E = RouteError> = std::result::Result<T, E>;

/// A tenant's agents, groups and rules, cached per replica and reloaded when
/// the tenant's revision in Redis moves.
#[derive(Debug, Default)]
pub struct Directory {
    /// The revision it was loaded at.
    pub rev: i64,
    /// Agents by user id.
    pub agents: Vec<Agent>,
    index: HashMap<String, usize>,
    members: HashMap<String, Vec<usize>>,
    /// Groups by id.
    pub groups: HashMap<String, Group>,
    /// The rule set.
    pub rules: Vec<RoutingRule>,
    /// Qualified agents per kind of job, worked out once (see `seat`).
    pub roster: Roster,
}

impl Directory {
    /// Builds the lookups.
    pub fn new(
        rev: i64,
        mut agents: Vec<Agent>,
        groups: Vec<Group>,
        rules: Vec<RoutingRule>,
    ) -> Self {
        agents.sort_by(|a, b| a.user.cmp(&b.user));
        let index = agents
            .iter()
            .enumerate()
            .map(|(i, a)| (a.user.clone(), i))
            .collect();
        let mut members: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, a) in agents.iter().enumerate() {
            for g in &a.groups {
                members.entry(g.clone()).or_default().push(i);
            }
        }
        let groups = groups.into_iter().map(|g| (g.id.clone(), g)).collect();
        Self {
            rev,
            agents,
            index,
            members,
            groups,
            rules,
            roster: Roster::default(),
        }
    }

    /// One agent.
    pub fn agent(&self, user: &str) -> Option<&Agent> {
        self.index.get(user).map(|i| &self.agents[*i])
    }

    /// The agents of a group.
    pub fn members(&self, group: &str) -> impl Iterator<Item = &Agent> {
        self.members
            .get(group)
            .into_iter()
            .flatten()
            .map(|i| &self.agents[*i])
    }
}

/// What placing a job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// Assigned to this agent; the ticket after the change.
    Assigned(String, i64),
    /// Nobody eligible had room.
    NoAgent,
    /// Another routing attempt holds the ticket.
    Held(String),
    /// The ticket was assigned by someone else, solved, closed or deleted.
    Gone,
}

/// Tunables, mostly for tests.
#[derive(Debug, Clone)]
pub struct RouterOptions {
    /// How long a presence lasts without a heartbeat.
    pub heartbeat_window: Duration,
    /// How long a replica keeps a waiting ticket to itself while trying it.
    pub lease: Duration,
    /// How old a replica's copy of presence and load may be when it
    /// chooses an agent (the reservation checks the truth either way).
    pub view_age: Duration,
}

impl Default for RouterOptions {
    fn default() -> Self {
        Self {
            heartbeat_window: Duration::from_secs(60),
            lease: Duration::from_secs(30),
            view_age: Duration::from_millis(500),
        }
    }
}

/// The routing engine.
#[derive(Debug)]
pub struct Router {
    /// PostgreSQL.
    pub store: Arc<dyn Store>,
    /// Redis.
    pub live: Live,
    /// The ticket service.
    pub tickets: TicketClient,
    /// Tunables.
    pub options: RouterOptions,
    cache: Mutex<HashMap<String, Arc<Directory>>>,
}

impl Router {
    /// An engine over its three backends.
    pub fn new(
        store: Arc<dyn Store>,
        live: Live,
        tickets: TicketClient,
        options: RouterOptions,
    ) -> Self {
        Self {
            store,
            live,
            tickets,
            options,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's directory, reloaded when another replica (or this one)
    /// changed agents, groups or rules.
    pub async fn directory(&self, t: &TenantId) -> Result<Arc<Directory>> {
        let rev = self.live.revision(t).await?;
        if let Some(d) = self.cache.lock().expect("directory cache").get(t.as_str())
            && d.rev == rev
        {
            return Ok(d.clone());
        }
        let agents = self.store.all_agents(t).await?;
        let groups = self.store.list_groups(t).await?;
        let (rules, _) = self.store.rules(t).await?;
        let dir = Arc::new(Directory::new(rev, agents, groups, rules));
        self.cache
            .lock()
            .expect("directory cache")
            .insert(t.as_str().to_owned(), dir.clone());
        Ok(dir)
    }

    /// Forgets the tenant's directory everywhere after an admin change.
    pub async fn invalidate(&self, t: &TenantId) -> Result<()> {
        self.live.bump_revision(t).await?;
        self.cache
            .lock()
            .expect("directory cache")
            .remove(t.as_str());
        Ok(())
    }

    /// Chooses an agent for `job` (only `only`, when given), reserves their
    /// capacity and assigns the ticket with the expected version. With
    /// `pull` the agent asked for work, so being away does not stop them.
    pub async fn place(
        &self,
        t: &TenantId,
        dir: &Directory,
        job: &mut Job,
        only: Option<&str>,
        pull: bool,
    ) -> Result<Placed> {
        let ask = Ask {
            only,
            pull,
            max_age: self.options.view_age,
        };
        let user = match seat(&self.live, t, dir, job, ask).await? {
            Seat::Taken(user) => user,
            Seat::NoAgent => return Ok(Placed::NoAgent),
            Seat::Held(holder) => return Ok(Placed::Held(holder)),
        };
        for _ in 0..3 {
            match self
                .tickets
                .assign(t, job.ticket, &user, &job.group, job.version)
                .await
            {
                Ok(after) => return Ok(Placed::Assigned(user, after.version)),
                Err(TicketCallError::Conflict(_)) => {
                    let now = match self.tickets.get(t, job.ticket).await {
                        Ok(now) => now,
                        Err(e) => {
                            self.live.release(t, job.ticket, Some(&user)).await?;
                            return Err(e.into());
                        }
                    };
                    if now.assignee.as_deref() == Some(user.as_str()) {
                        return Ok(Placed::Assigned(user, now.version));
                    }
                    if now.is_done() || now.assignee.is_some() {
                        self.live.release(t, job.ticket, Some(&user)).await?;
                        return Ok(Placed::Gone);
                    }
                    job.version = now.version;
                }
                Err(TicketCallError::Refused(code, reason)) => {
                    tracing::info!(ticket = %job.ticket, ?code, %reason, "ticket refused the assignment");
                    self.live.release(t, job.ticket, Some(&user)).await?;
                    return Ok(Placed::Gone);
                }
                Err(e) => {
                    self.live.release(t, job.ticket, Some(&user)).await?;
                    return Err(e.into());
                }
            }
        }
        self.live.release(t, job.ticket, Some(&user)).await?;
        Ok(Placed::NoAgent)
    }

    /// Routes a ticket that has no assignee: rules, then an agent, else the
    /// queue. `keep_group` for tickets returning to (or moved within) a group.
    pub async fn route(
        &self,
        t: &TenantId,
        mut ticket: TicketView,
        keep_group: bool,
    ) -> Result<()> {
        if ticket.is_done() || ticket.assignee.is_some() {
            return Ok(());
        }
        let dir = self.directory(t).await?;
        let Some(decision) = decide(&dir.rules, &ticket, keep_group) else {
            tracing::debug!(ticket = %ticket.id, "no routing rule and no group; left to people");
            return Ok(());
        };
        if decision.priority.is_some() || !decision.add_tags.is_empty() {
            let tags = (!decision.add_tags.is_empty()).then(|| {
                let mut tags = ticket.tags.clone();
                tags.extend(decision.add_tags.iter().cloned());
                tags.truncate(20);
                tags
            });
            match self
                .tickets
                .update(t, &ticket, decision.priority, tags, None)
                .await
            {
                Ok(after) => ticket = after,
                Err(TicketCallError::Conflict(_)) => {
                    ticket = self.tickets.get(t, ticket.id).await?;
                    if ticket.is_done() || ticket.assignee.is_some() {
                        return Ok(());
                    }
                }
                Err(TicketCallError::Refused(..)) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        let mut job = Job {
            ticket: ticket.id,
            version: ticket.version,
            group: decision.group,
            channel: ticket.channel as i32,
            priority: ticket.priority as i32,
            skills: decision.skills,
            language: decision.language,
            sla_due: ticket.sla_due,
            created: ticket.created,
            rule: decision.rule,
        };
        self.place_or_queue(t, &dir, &mut job, ticket.group.as_deref())
            .await
    }

    /// Assigns `job` or queues it in its group; `shown` is the group the
    /// ticket names now.
    async fn place_or_queue(
        &self,
        t: &TenantId,
        dir: &Directory,
        job: &mut Job,
        shown: Option<&str>,
    ) -> Result<()> {
        match self.place(t, dir, job, None, false).await? {
            Placed::Assigned(user, version) => {
                self.record_assigned(t, job, &user, version, "rule").await
            }
            Placed::NoAgent => {
                if shown != Some(job.group.as_str()) {
                    self.show_group(t, job).await?;
                }
                // Sorted by user id, so a capped list is a stable one.
                let members = dir
                    .members(&job.group)
                    .take(events::QUEUED_MEMBERS)
                    .map(|a| a.user.clone())
                    .collect();
                let event = |position| events::queued(t, job, position, members);
                if self.store.enqueue(t, job, Box::new(event)).await? {
                    tracing::info!(ticket = %job.ticket, group = %job.group, "ticket queued");
                }
                Ok(())
            }
            Placed::Held(_) | Placed::Gone => Ok(()),
        }
    }

    /// Writes the queue's group onto the still unassigned ticket, so people
    /// and reports see where it waits. A ticket that changed meanwhile is
    /// queued anyway: assignment re-reads it on conflict.
    async fn show_group(&self, t: &TenantId, job: &mut Job) -> Result<()> {
        match self
            .tickets
            .assign(t, job.ticket, "", &job.group, job.version)
            .await
        {
            Ok(after) => job.version = after.version,
            Err(TicketCallError::Conflict(_) | TicketCallError::Refused(..)) => {
                tracing::debug!(ticket = %job.ticket, "ticket changed before its group was shown");
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    async fn record_assigned(
        &self,
        t: &TenantId,
        job: &Job,
        user: &str,
        version: i64,
        reason: &'static str,
    ) -> Result<()> {
        self.store
            .assigned(
                t,
                job.ticket,
                Box::new(|waited| {
                    let reason = if waited.is_some() && reason == "rule" {
                        "queue"
                    } else {
                        reason
                    };
                    events::assigned(t, job, user, version, reason, waited)
                }),
            )
            .await?;
        tracing::info!(ticket = %job.ticket, agent = %user, group = %job.group, "ticket assigned");
        Ok(())
    }

    /// Gives `user` waiting tickets of their groups while they have room.
    pub async fn drain_for(&self, t: &TenantId, user: &str) -> Result<usize> {
        let dir = self.directory(t).await?;
        let Some(agent) = dir.agent(user) else {
            return Ok(0);
        };
        let mut taken = 0;
        for _ in 0..5 {
            let leased = self
                .store
                .lease(t, Some(&agent.groups), 10, self.options.lease)
                .await?;
            if leased.is_empty() {
                break;
            }
            let took = self.settle_all(t, &dir, leased, Some(user)).await?;
            taken += took;
            if took == 0 {
                break;
            }
        }
        Ok(taken)
    }

    /// Tries leased waiting tickets in queue order; how many were assigned.
    /// A failure hands the untried ones back at once: left leased, they
    /// would wait out the lease although an agent may have room.
    async fn settle_all(
        &self,
        t: &TenantId,
        dir: &Directory,
        leased: Vec<Waiting>,
        only: Option<&str>,
    ) -> Result<usize> {
        let mut assigned = 0;
        let mut rest = leased.into_iter();
        while let Some(mut w) = rest.next() {
            match self.settle(t, dir, &mut w.job, only, "queue").await {
                Ok(took) => assigned += usize::from(took),
                Err(e) => {
                    self.unlease_all(t, rest).await?;
                    return Err(e);
                }
            }
        }
        Ok(assigned)
    }

    /// Hands back leased tickets that were not tried.
    async fn unlease_all(&self, t: &TenantId, rest: impl Iterator<Item = Waiting>) -> Result<()> {
        for w in rest {
            self.store.unlease(t, w.job.ticket).await?;
        }
        Ok(())
    }

    /// Tries one leased waiting ticket; whether it was assigned.
    async fn settle(
        &self,
        t: &TenantId,
        dir: &Directory,
        job: &mut Job,
        only: Option<&str>,
        reason: &'static str,
    ) -> Result<bool> {
        match self.place(t, dir, job, only, reason == "claim").await {
            Ok(Placed::Assigned(user, version)) => {
                self.record_assigned(t, job, &user, version, reason).await?;
                Ok(true)
            }
            Ok(Placed::NoAgent) => {
                self.store.unlease(t, job.ticket).await?;
                Ok(false)
            }
            Ok(Placed::Held(_) | Placed::Gone) => {
                self.store.remove_waiting(t, job.ticket).await?;
                Ok(false)
            }
            Err(e) => {
                self.store.unlease(t, job.ticket).await?;
                Err(e)
            }
        }
    }

    /// Tries the head of every group's queue again: the safety net for
    /// capacity freed while no trigger reached this replica.
    pub async fn retry_waiting(&self, per_group: i64) -> Result<usize> {
        let mut assigned = 0;
        for (tenant, group) in self.store.groups_waiting().await? {
            let Ok(t) = TenantId::parse(&tenant) else {
                continue;
            };
            let dir = self.directory(&t).await?;
            let groups = [group];
            let leased = self
                .store
                .lease(&t, Some(&groups), per_group, self.options.lease)
                .await?;
            assigned += self.settle_all(&t, &dir, leased, None).await?;
        }
        Ok(assigned)
    }

    /// `ClaimNext`: the best waiting ticket of `user`'s groups that they can
    /// take, in `channels` (all when empty).
    pub async fn claim_next(
        &self,
        t: &TenantId,
        user: &str,
        channels: &[i32],
    ) -> Result<Option<Uuid>> {
        let dir = self.directory(t).await?;
        let Some(agent) = dir.agent(user) else {
            return Err(StoreError::NotFound(format!("agents/{user}")).into());
        };
        let leased = self
            .store
            .lease(t, Some(&agent.groups), 20, self.options.lease)
            .await?;
        let mut claimed = None;
        let mut rest = leased.into_iter();
        while let Some(mut w) = rest.next() {
            let wanted = channels.is_empty() || channels.contains(&w.job.channel);
            if claimed.is_none() && wanted {
                // A ticket not taken was already handed back (or dropped) by
                // `settle`; on a failure the untried ones go back too.
                match self.settle(t, &dir, &mut w.job, Some(user), "claim").await {
                    Ok(true) => claimed = Some(w.job.ticket),
                    Ok(false) => {}
                    Err(e) => {
                        self.unlease_all(t, rest).await?;
                        return Err(e);
                    }
                }
            } else {
                self.store.unlease(t, w.job.ticket).await?;
            }
        }
        Ok(claimed)
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn the_ticket_services_answer_keeps_its_meaning() {
        let kind = |status: tonic::Status| RouteError::Tickets(status.into()).kind();
        assert_eq!(
            kind(tonic::Status::not_found("no ticket")),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind(tonic::Status::permission_denied("not yours")),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            kind(tonic::Status::failed_precondition("closed")),
            ErrorKind::FailedPrecondition
        );
        assert_eq!(kind(tonic::Status::aborted("stale")), ErrorKind::Aborted);
        assert_eq!(
            kind(tonic::Status::unavailable("down")),
            ErrorKind::Unavailable
        );
        assert_eq!(kind(tonic::Status::internal("bug")), ErrorKind::Unavailable);
    }

    #[test]
    fn a_database_outage_is_unavailable_and_a_bug_internal() {
        let db = |e: sqlx::Error| RouteError::Store(StoreError::Db(e)).kind();
        assert_eq!(db(sqlx::Error::PoolTimedOut), ErrorKind::Unavailable);
        assert_eq!(db(sqlx::Error::PoolClosed), ErrorKind::Unavailable);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(db(sqlx::Error::Io(refused)), ErrorKind::Unavailable);
        assert_eq!(db(sqlx::Error::RowNotFound), ErrorKind::Internal);
    }
}
