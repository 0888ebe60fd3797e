//! Which services a process runs.

use std::{fmt, str::FromStr};

use switchboard_runtime::SERVICE_NAMES;

/// One of the five services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// Tickets, customers, messages, intake.
    Ticket,
    /// Agents, presence, assignment.
    Routing,
    /// Email, in-app and webhooks.
    Notification,
    /// Articles and search.
    Knowledge,
    /// Metrics and dashboards.
    Analytics,
}

impl Service {
    /// Every service, in start order.
    pub const ALL: [Service; 5] = [
        Service::Ticket,
        Service::Routing,
        Service::Notification,
        Service::Knowledge,
        Service::Analytics,
    ];

    /// Whether the service needs NATS.
    pub fn uses_events(self) -> bool {
        matches!(
            self,
            Service::Ticket
                | Service::Routing
                | Service::Knowledge
                | Service::Notification
                | Service::Analytics
        )
    }
}

impl FromStr for Service {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "ticket" => Ok(Service::Ticket),
            "routing" => Ok(Service::Routing),
            "notification" => Ok(Service::Notification),
            "knowledge" => Ok(Service::Knowledge),
            "analytics" => Ok(Service::Analytics),
            other => Err(format!(
                "unknown service `{other}` (expected all or a comma list of {})",
                SERVICE_NAMES.join(", ")
            )),
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Ticket => "ticket",
            Service::Routing => "routing",
            Service::Notification => "notification",
            Service::Knowledge => "knowledge",
            Service::Analytics => "analytics",
        })
    }
}

/// Parses `all` or a comma list into a sorted, de-duplicated set.
pub fn parse_list(raw: &str) -> Result<Vec<Service>, String> {
    if raw.trim() == "all" {
        return Ok(Service::ALL.to_vec());
    }
    let mut services = raw
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(str::parse)
        .collect::<Result<Vec<Service>, _>>()?;
    if services.is_empty() {
        return Err("no service named (expected all or a comma list)".to_owned());
    }
    services.sort();
    services.dedup();
    Ok(services)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_sort_and_dedupe() {
        assert_eq!(parse_list("all").unwrap(), Service::ALL);
        assert_eq!(
            parse_list("routing, ticket,routing").unwrap(),
            [Service::Ticket, Service::Routing]
        );
        assert!(
            parse_list("ticket,billing")
                .unwrap_err()
                .contains("billing")
        );
        assert!(parse_list(" , ").is_err());
    }

    #[test]
    fn names_round_trip() {
        for s in Service::ALL {
            assert_eq!(s.to_string().parse::<Service>().unwrap(), s);
        }
    }
}
