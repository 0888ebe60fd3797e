//! What an SLA alert does to a ticket, by its group's policy.

use switchboard_proto::common::v1::Priority;

use super::{EscalationAction, TicketView};

/// The changes one escalation makes; empty fields change nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EscalationPlan {
    /// The raised priority.
    pub priority: Option<Priority>,
    /// The follower to add.
    pub add_follower: Option<String>,
    /// The user to assign.
    pub reassign_to: Option<String>,
    /// The group to move the ticket to.
    pub reassign_group: Option<String>,
    /// Names of what was done, for `routing.escalated`.
    pub actions: Vec<&'static str>,
}

impl EscalationPlan {
    /// Whether the plan changes anything.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// One step up; urgent stays urgent.
pub fn raised(p: Priority) -> Priority {
    match p {
        Priority::Low => Priority::Normal,
        Priority::Unspecified | Priority::Normal => Priority::High,
        Priority::High | Priority::Urgent => Priority::Urgent,
    }
}

/// The plan for `ticket` under `action`, leaving out what is already so
/// (a second alert on an urgent ticket raises nothing).
pub fn plan_escalation(action: &EscalationAction, ticket: &TicketView) -> EscalationPlan {
    let mut plan = EscalationPlan::default();
    if action.raise_priority && raised(ticket.priority) != ticket.priority {
        plan.priority = Some(raised(ticket.priority));
        plan.actions.push("raise_priority");
    }
    if let Some(f) = &action.add_follower
        && !ticket.followers.contains(f)
    {
        plan.add_follower = Some(f.clone());
        plan.actions.push("add_follower");
    }
    if let Some(g) = &action.reassign_group
        && ticket.group.as_ref() != Some(g)
    {
        plan.reassign_group = Some(g.clone());
        plan.actions.push("reassign_group");
    }
    if let Some(u) = &action.reassign_to
        && ticket.assignee.as_ref() != Some(u)
    {
        plan.reassign_to = Some(u.clone());
        plan.actions.push("reassign_to");
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ticket::tests::ticket;

    #[test]
    fn priorities_rise_one_step_and_stop_at_urgent() {
        assert_eq!(raised(Priority::Low), Priority::Normal);
        assert_eq!(raised(Priority::Normal), Priority::High);
        assert_eq!(raised(Priority::High), Priority::Urgent);
        assert_eq!(raised(Priority::Urgent), Priority::Urgent);
    }

    #[test]
    fn plans_skip_what_is_already_so() {
        let action = EscalationAction {
            raise_priority: true,
            reassign_group: Some("tier-2".into()),
            reassign_to: Some("sup".into()),
            add_follower: Some("lead".into()),
        };
        let mut t = ticket();
        let plan = plan_escalation(&action, &t);
        assert_eq!(plan.priority, Some(Priority::High));
        assert_eq!(
            plan.actions,
            [
                "raise_priority",
                "add_follower",
                "reassign_group",
                "reassign_to"
            ]
        );
        t.priority = Priority::Urgent;
        t.followers = vec!["lead".into()];
        t.group = Some("tier-2".into());
        t.assignee = Some("sup".into());
        let plan = plan_escalation(&action, &t);
        assert!(plan.is_empty(), "{plan:?}");
        assert!(plan_escalation(&EscalationAction::default(), &ticket()).is_empty());
    }
}
