//! How routing follows the world: ticket lifecycle events (created,
//! assigned, solved, reopened) and agents' presence (set, heartbeats, missed
//! heartbeats and the offline policy).

use switchboard_proto::routing::v1::Presence;
use switchboard_runtime::TenantId;

use crate::{
    domain::{OfflinePolicy, TicketView},
    events,
    live::Check,
    router::{RouteError, Router},
    tickets::TicketCallError,
};

type Result<T, E = RouteError> = std::result::Result<T, E>;

impl Router {
    /// `ticket.created`.
    pub async fn on_created(&self, t: &TenantId, ticket: TicketView) -> Result<()> {
        if ticket.assignee.is_some() {
            return self.on_assigned(t, ticket).await;
        }
        self.route(t, ticket, false).await
    }

    /// `ticket.assigned`: keep holds in step with who has the ticket, and
    /// route a ticket that returned to unassigned.
    pub async fn on_assigned(&self, t: &TenantId, event_ticket: TicketView) -> Result<()> {
        let holder = self.live.holder(t, event_ticket.id).await?;
        if holder.is_some() && holder == event_ticket.assignee {
            return Ok(());
        }
        // Events of one ticket may reach two replicas out of order: act on
        // the ticket as it is now, not as the event saw it.
        let ticket = match self.tickets.get(t, event_ticket.id).await {
            Ok(now) => now,
            Err(TicketCallError::Refused(..)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if holder.is_some() && holder == ticket.assignee {
            return Ok(());
        }
        if let Some(old) = &holder
            && self.live.release(t, ticket.id, Some(old)).await?.is_some()
        {
            self.drain_for(t, old).await?;
        }
        match &ticket.assignee {
            // Already queued in the group it shows (e.g. the event of showing
            // that group): the queue hands it out in order; routing it again
            // here could seat it ahead of older tickets. A ticket moved to
            // another group is routed again, into that group.
            None if ticket.group.is_some()
                && self.store.waiting_group(t, ticket.id).await? == ticket.group =>
            {
                Ok(())
            }
            None => self.route(t, ticket, true).await,
            Some(assignee) => {
                self.store.remove_waiting(t, ticket.id).await?;
                let dir = self.directory(t).await?;
                if !ticket.is_done()
                    && let Some(agent) = dir.agent(assignee)
                {
                    // People may assign past capacity; the load still counts.
                    let limit = agent.capacity.limit(ticket.channel);
                    self.live
                        .reserve(
                            t,
                            ticket.id,
                            assignee,
                            ticket.channel,
                            limit,
                            Check::Forced,
                            None,
                        )
                        .await?;
                }
                Ok(())
            }
        }
    }

    /// `ticket.status_changed`: a solved or closed ticket frees its agent; a
    /// reopened one counts again.
    pub async fn on_status(&self, t: &TenantId, ticket: TicketView) -> Result<()> {
        if ticket.is_done() {
            self.store.remove_waiting(t, ticket.id).await?;
            if let Some((user, _)) = self.live.release(t, ticket.id, None).await? {
                self.drain_for(t, &user).await?;
            }
            return Ok(());
        }
        if let Some(assignee) = &ticket.assignee
            && self.live.holder(t, ticket.id).await?.is_none()
        {
            let dir = self.directory(t).await?;
            if let Some(agent) = dir.agent(assignee) {
                let limit = agent.capacity.limit(ticket.channel);
                self.live
                    .reserve(
                        t,
                        ticket.id,
                        assignee,
                        ticket.channel,
                        limit,
                        Check::Forced,
                        None,
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Presence of one agent, checked against the directory.
    pub async fn set_presence(
        &self,
        t: &TenantId,
        user: &str,
        presence: Presence,
        reason: &'static str,
    ) -> Result<Presence> {
        let deadline = chrono::Utc::now()
            + chrono::TimeDelta::from_std(self.options.heartbeat_window).unwrap_or_default();
        let old = self.live.set_presence(t, user, presence, deadline).await?;
        if old != presence {
            self.store
                .emit(&events::status_changed(t, user, old, presence, reason))
                .await?;
        }
        match presence {
            Presence::Online => {
                self.drain_for(t, user).await?;
            }
            Presence::Offline if old != Presence::Offline => self.went_offline(t, user).await?,
            _ => {}
        }
        Ok(old)
    }

    /// Agents whose heartbeats stopped go offline; returns how many.
    pub async fn expire_heartbeats(&self) -> Result<usize> {
        let expired = self.live.expire(chrono::Utc::now(), 100).await?;
        for e in &expired {
            let Ok(t) = TenantId::parse(&e.tenant) else {
                continue;
            };
            tracing::info!(tenant = %e.tenant, agent = %e.user, "heartbeat missed; agent offline");
            self.store
                .emit(&events::status_changed(
                    &t,
                    &e.user,
                    e.was,
                    Presence::Offline,
                    "heartbeat_missed",
                ))
                .await?;
            self.went_offline(&t, &e.user).await?;
        }
        Ok(expired.len())
    }

    /// Applies each ticket group's offline policy to `user`'s open tickets:
    /// returned tickets are unassigned and routed again by the event that
    /// follows.
    async fn went_offline(&self, t: &TenantId, user: &str) -> Result<()> {
        let dir = self.directory(t).await?;
        for id in self.live.held_by(t, user).await? {
            let ticket = match self.tickets.get(t, id).await {
                Ok(ticket) => ticket,
                Err(TicketCallError::Refused(..)) => continue,
                Err(e) => return Err(e.into()),
            };
            let returns = ticket
                .group
                .as_deref()
                .and_then(|g| dir.groups.get(g))
                .is_some_and(|g| g.offline_policy == OfflinePolicy::Return);
            if returns && ticket.assignee.as_deref() == Some(user) && !ticket.is_done() {
                let group = ticket.group.clone().unwrap_or_default();
                match self.tickets.assign(t, id, "", &group, ticket.version).await {
                    Ok(_) | Err(TicketCallError::Conflict(_) | TicketCallError::Refused(..)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }
}
