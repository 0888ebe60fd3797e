//! The rules of who hears what, how deliveries retry, and what a request may
//! contain; no I/O, so every rule is unit-tested on its own.

pub mod egress;
pub mod input;
pub mod recipients;
pub mod retry;
pub mod rules;
pub mod signing;
pub mod templates;

pub use recipients::{
    Channel, EscalationFact, Fact, Intent, MessageFact, QueueFact, TicketFact, may_read_in_app,
    recipients,
};
pub use rules::{Rule, Rules};

/// The in-app inbox every supervisor and admin of a tenant reads.
pub const SUPERVISORS_INBOX: &str = "role:supervisor";

/// Event types the service itself emits; never notified about, so a failing
/// webhook cannot feed itself.
pub fn is_own_event(event_type: &str) -> bool {
    event_type.starts_with("notification.")
}
