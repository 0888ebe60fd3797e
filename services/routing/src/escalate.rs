//! SLA escalations and queue dashboards.

use chrono::Utc;
use prost_types::Timestamp;
use switchboard_proto::routing::v1::{self as pb, Presence};
use switchboard_runtime::TenantId;

use crate::{
    domain::{CHANNELS, TicketView, plan_escalation},
    events::{self, Escalated},
    router::{RouteError, Router},
    tickets::TicketCallError,
};

/// Which SLA alert arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `sla.warning`.
    Warning,
    /// `sla.breached`.
    Breached,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Warning => "sla.warning",
            Trigger::Breached => "sla.breached",
        }
    }
}

impl Router {
    /// Applies the ticket group's escalation policy for `trigger`.
    pub async fn escalate(
        &self,
        t: &TenantId,
        event_ticket: TicketView,
        trigger: Trigger,
    ) -> Result<(), RouteError> {
        // Act on the ticket as it is now: an alert about a ticket already
        // moved to another group follows that group's policy.
        let mut ticket = match self.tickets.get(t, event_ticket.id).await {
            Ok(now) => now,
            Err(TicketCallError::Refused(..)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if ticket.is_done() {
            return Ok(());
        }
        let dir = self.directory(t).await?;
        let Some(group) = ticket.group.as_deref().and_then(|g| dir.groups.get(g)) else {
            return Ok(());
        };
        let action = match trigger {
            Trigger::Warning => group.on_warning.as_ref(),
            Trigger::Breached => group.on_breach.as_ref(),
        };
        let Some(action) = action else { return Ok(()) };
        let plan = plan_escalation(action, &ticket);
        if plan.is_empty() {
            return Ok(());
        }
        let followers = plan.add_follower.as_ref().map(|f| {
            let mut all = ticket.followers.clone();
            all.push(f.clone());
            all
        });
        if plan.priority.is_some() || followers.is_some() {
            ticket = self
                .tickets
                .update(t, &ticket, plan.priority, None, followers)
                .await?;
        }
        if let Some(p) = plan.priority {
            self.store.reprioritize(t, ticket.id, p as i32).await?;
        }
        let target_group = plan
            .reassign_group
            .clone()
            .or_else(|| ticket.group.clone())
            .unwrap_or_default();
        if let Some(user) = &plan.reassign_to {
            ticket = self
                .tickets
                .assign(t, ticket.id, user, &target_group, ticket.version)
                .await?;
        } else if plan.reassign_group.is_some() {
            // Unassigned in the new group: the `ticket.assigned` that follows
            // routes it there.
            ticket = self
                .tickets
                .assign(t, ticket.id, "", &target_group, ticket.version)
                .await?;
        }
        let event = events::escalated(
            t,
            &Escalated {
                ticket: ticket.id,
                version: ticket.version,
                group: &group.id,
                trigger: trigger.as_str(),
                actions: &plan.actions,
                priority: ticket.priority,
                new_group: ticket.group.as_deref().unwrap_or(""),
                new_assignee: ticket.assignee.as_deref().unwrap_or(""),
            },
        );
        self.store.emit(&event).await?;
        tracing::info!(ticket = %ticket.id, trigger = trigger.as_str(), actions = ?plan.actions, "ticket escalated");
        Ok(())
    }

    /// One group's queue and agents now.
    pub async fn queue_stats(
        &self,
        t: &TenantId,
        group: &str,
    ) -> Result<pb::QueueStats, RouteError> {
        let dir = self.directory(t).await?;
        let (waiting, oldest) = self.store.queue_depth(t, group).await?;
        let agents: Vec<_> = dir.members(group).collect();
        let users: Vec<&str> = agents.iter().map(|a| a.user.as_str()).collect();
        let states = self.live.group_state(t, &users).await?;
        let now = Utc::now();
        let mut stats = pb::QueueStats {
            group: format!("groups/{group}"),
            waiting,
            oldest_wait_seconds: oldest.map_or(0, |o| (now - o).num_seconds().max(0)),
            update_time: Some(Timestamp {
                seconds: now.timestamp(),
                nanos: 0,
            }),
            ..Default::default()
        };
        for (agent, (presence, loads)) in agents.iter().zip(states) {
            let load: u32 = loads.iter().sum();
            // Capacity: the agent's listed limits plus the default once.
            let capacity: u32 =
                agent.capacity.channels.values().sum::<u32>() + agent.capacity.default;
            let full = CHANNELS
                .iter()
                .zip(loads)
                .any(|(c, l)| agent.capacity.limit(*c) > 0 && l >= agent.capacity.limit(*c));
            match presence {
                Presence::Online if full => stats.agents_busy += 1,
                Presence::Online => stats.agents_online += 1,
                Presence::Away => stats.agents_away += 1,
                _ => stats.agents_offline += 1,
            }
            if presence != Presence::Offline {
                stats.load += i64::from(load);
                stats.capacity += i64::from(capacity);
            }
        }
        Ok(stats)
    }
}
