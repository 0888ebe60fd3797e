//! The incremental fold: events in, a compact history kept, durations
//! measured only when a fact is asked for (they depend on the calendar and
//! on `now`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_sla::Calendar;

use super::{
    Author, Channel, Elapsed, Merge, Priority, Reply, Satisfaction, SlaRecord, SlaTarget,
    SlaTargets, Span, Status, TicketEvent, TicketFact,
};

/// Events that cannot be folded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FoldError {
    /// The history does not begin with `ticket.created`.
    #[error("a ticket's history must start with its creation")]
    NotCreated,
    /// A second `ticket.created` for the same ticket.
    #[error("a ticket is created only once")]
    CreatedTwice,
}

/// One ticket's history so far, folded event by event; small enough to
/// store next to the ticket and resume with the next event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    created_at: DateTime<Utc>,
    by_agent: bool,
    channel: Channel,
    priority: Priority,
    group: Option<String>,
    assignee: Option<String>,
    tags: Vec<String>,
    /// Status moves as `(at, to)`, so spans are measured at fact time.
    moves: Vec<(DateTime<Utc>, Status)>,
    replies: Vec<Reply>,
    /// The last agent and group ever set, unassigning aside: hops compare
    /// against them.
    last_assignee: Option<String>,
    last_group: Option<String>,
    assignee_hops: u32,
    group_hops: u32,
    satisfaction: Option<Satisfaction>,
    merged: Option<Merge>,
    sla_first_reply: SlaRecord,
    sla_resolution: SlaRecord,
}

impl Timeline {
    /// Starts from `ticket.created`.
    pub fn start(created: &TicketEvent) -> Result<Self, FoldError> {
        let TicketEvent::Created {
            at,
            by_agent,
            channel,
            priority,
            group,
            tags,
            assignee,
            sla,
        } = created
        else {
            return Err(FoldError::NotCreated);
        };
        let mut timeline = Self {
            created_at: *at,
            by_agent: *by_agent,
            channel: *channel,
            priority: *priority,
            group: group.clone(),
            assignee: assignee.clone(),
            tags: tags.clone(),
            moves: Vec::new(),
            replies: Vec::new(),
            last_assignee: assignee.clone(),
            last_group: group.clone(),
            assignee_hops: 0,
            group_hops: 0,
            satisfaction: None,
            merged: None,
            sla_first_reply: SlaRecord::default(),
            sla_resolution: SlaRecord::default(),
        };
        timeline.add_targets(*sla);
        Ok(timeline)
    }

    /// Folds the next event, in version order.
    pub fn apply(&mut self, event: &TicketEvent) -> Result<(), FoldError> {
        match event {
            TicketEvent::Created { .. } => return Err(FoldError::CreatedTwice),
            TicketEvent::Message {
                at,
                public: true,
                author: Author::Agent(agent),
            } => self.replies.push(Reply {
                at: *at,
                agent: agent.clone(),
            }),
            TicketEvent::Message { .. } => {}
            TicketEvent::Status { at, to, .. } => self.moves.push((*at, *to)),
            TicketEvent::Assigned {
                assignee, group, ..
            } => {
                self.assignee_hops += u32::from(hop(&mut self.last_assignee, assignee));
                self.group_hops += u32::from(hop(&mut self.last_group, group));
                self.assignee.clone_from(assignee);
                self.group.clone_from(group);
            }
            TicketEvent::PriorityChanged { priority, sla, .. } => {
                self.priority = *priority;
                self.add_targets(*sla);
            }
            TicketEvent::TagsChanged { tags, .. } => self.tags.clone_from(tags),
            TicketEvent::Rated { at, score } => {
                self.satisfaction = Some(Satisfaction {
                    score: (*score).clamp(1, 5),
                    at: *at,
                });
            }
            TicketEvent::MergedInto { at, target } => {
                self.merged = Some(Merge {
                    target: *target,
                    at: *at,
                });
            }
            TicketEvent::SlaBreached { at, target } => {
                let record = match target {
                    SlaTarget::FirstReply => &mut self.sla_first_reply,
                    SlaTarget::Resolution => &mut self.sla_resolution,
                };
                record.target = true;
                record.breached_at.get_or_insert(*at);
            }
        }
        Ok(())
    }

    /// A target once given stays counted: the ticket was held to it, even
    /// if a later priority has none.
    fn add_targets(&mut self, sla: SlaTargets) {
        self.sla_first_reply.target |= sla.first_reply;
        self.sla_resolution.target |= sla.resolution;
    }

    /// The metrics as of `now`, in `calendar`'s business hours.
    pub fn fact(&self, calendar: &Calendar, now: DateTime<Utc>) -> TicketFact {
        let created = self.created_at;
        let walk = Walk::run(self, calendar, now);
        let merged = self.merged.is_some();
        let solved_at = if walk.status.is_resolved() && !merged {
            walk.solves.last().copied()
        } else {
            None
        };
        let first_solved_at = walk.solves.first().copied().filter(|_| !merged);
        let first_reply_at = self.replies.first().map(|r| r.at);
        let replies = u32::try_from(self.replies.len()).unwrap_or(u32::MAX);
        TicketFact {
            as_of: now,
            created_at: created,
            created_by_agent: self.by_agent,
            channel: self.channel,
            priority: self.priority,
            group: self.group.clone(),
            assignee: self.assignee.clone(),
            tags: self.tags.clone(),
            status: walk.status,
            first_reply_at,
            first_reply: first_reply_at.map(|at| Elapsed::between(calendar, created, at)),
            first_solved_at,
            first_resolution: first_solved_at.map(|at| Elapsed::between(calendar, created, at)),
            solved_at,
            full_resolution: solved_at.map(|at| Elapsed::between(calendar, created, at)),
            requester_wait: walk.requester_wait,
            agent_wait: walk.agent_wait,
            reopens: walk.reopens,
            public_agent_replies: replies,
            replies: self.replies.clone(),
            assignee_hops: self.assignee_hops,
            group_hops: self.group_hops,
            one_touch: solved_at.is_some() && replies == 1 && walk.reopens == 0,
            satisfaction: self.satisfaction,
            merged: self.merged,
            resolved_spans: walk.resolved,
            sla_first_reply: self.sla_first_reply,
            sla_resolution: self.sla_resolution,
        }
    }
}

/// Records a (re)assignment; true when it moved the ticket to someone or
/// somewhere other than where it last was.
fn hop(last: &mut Option<String>, next: &Option<String>) -> bool {
    let Some(next) = next else {
        return false;
    };
    let moved = last.as_ref().is_some_and(|l| l != next);
    *last = Some(next.clone());
    moved
}

/// The status history replayed once, accumulating time per status.
struct Walk {
    status: Status,
    requester_wait: Elapsed,
    agent_wait: Elapsed,
    solves: Vec<DateTime<Utc>>,
    reopens: u32,
    resolved: Vec<Span>,
}

impl Walk {
    fn run(timeline: &Timeline, calendar: &Calendar, now: DateTime<Utc>) -> Self {
        let mut walk = Self {
            status: Status::New,
            requester_wait: Elapsed::default(),
            agent_wait: Elapsed::default(),
            solves: Vec::new(),
            reopens: 0,
            resolved: Vec::new(),
        };
        let mut since = timeline.created_at;
        for &(at, to) in &timeline.moves {
            if to == walk.status {
                continue;
            }
            // Out-of-order timestamps shrink a span to nothing rather than
            // making it negative or moving time backwards.
            let at = at.max(since);
            walk.wait(calendar, since, at);
            match (walk.status.is_resolved(), to.is_resolved()) {
                (false, true) => {
                    walk.solves.push(at);
                    walk.resolved.push(Span {
                        start: at,
                        end: None,
                    });
                }
                (true, false) => {
                    walk.reopens += 1;
                    if let Some(span) = walk.resolved.last_mut() {
                        span.end = Some(at);
                    }
                }
                _ => {}
            }
            walk.status = to;
            since = at;
        }
        walk.wait(calendar, since, now);
        walk
    }

    /// Books `[from, to)` to whoever the current status has waiting.
    fn wait(&mut self, calendar: &Calendar, from: DateTime<Utc>, to: DateTime<Utc>) {
        let bucket = match self.status {
            Status::New | Status::Open | Status::OnHold => &mut self.requester_wait,
            Status::Pending => &mut self.agent_wait,
            Status::Solved | Status::Closed => return,
        };
        *bucket += Elapsed::between(calendar, from, to);
    }
}
