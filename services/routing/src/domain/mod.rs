//! Routing's rules, without I/O: agents and groups as validated values,
//! routing-rule evaluation, agent selection, queue order and escalation plans.

pub mod agent;
pub mod escalation;
pub mod group;
pub mod page;
pub mod rank;
pub mod roster;
pub mod rules;
pub mod select;
pub mod ticket;

pub use agent::{Agent, Capacity};
pub use escalation::{EscalationPlan, plan_escalation};
pub use group::{EscalationAction, Group, OfflinePolicy, Strategy};
pub use page::{agents_page_after, agents_page_token};
pub use rank::{Scored, pick_scored};
pub use roster::{Fit, Roster};
pub use rules::{Decision, RoutingRule, decide};
pub use select::{Candidate, Job, eligible, pick, qualified, queue_order, skill_score};
pub use ticket::TicketView;

use switchboard_proto::common::v1::Channel;

/// Every channel a ticket can arrive through, for per-channel loads.
pub const CHANNELS: [Channel; 7] = [
    Channel::Email,
    Channel::Chat,
    Channel::Phone,
    Channel::Social,
    Channel::Sms,
    Channel::WebForm,
    Channel::Api,
];

/// The channel's lower-case name, as rules and storage spell it.
pub fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Unspecified => "*",
        Channel::Api => "api",
        Channel::Email => "email",
        Channel::Chat => "chat",
        Channel::Phone => "phone",
        Channel::Social => "social",
        Channel::Sms => "sms",
        Channel::WebForm => "web_form",
    }
}

/// Parses [`channel_name`]'s output.
pub fn parse_channel(s: &str) -> Option<Channel> {
    if s == "*" {
        return Some(Channel::Unspecified);
    }
    CHANNELS.into_iter().find(|c| channel_name(*c) == s)
}

/// Whether `id` is a valid group id or skill name: 1 to 64 of a-z, 0-9, `-`,
/// `_` (and `.` when `dots`).
pub fn is_slug(id: &str, dots: bool) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || b == b'-'
                || b == b'_'
                || (dots && b == b'.')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_round_trip() {
        for c in CHANNELS.into_iter().chain([Channel::Unspecified]) {
            assert_eq!(parse_channel(channel_name(c)), Some(c));
        }
        assert_eq!(parse_channel("fax"), None);
    }

    #[test]
    fn slugs_are_lower_case_words() {
        assert!(is_slug("tier-2_billing", false));
        assert!(is_slug("lang.de", true));
        assert!(!is_slug("lang.de", false));
        assert!(!is_slug("", false));
        assert!(!is_slug("Billing", false));
        assert!(!is_slug(&"a".repeat(65), false));
    }
}
