//! What a credential may call: scopes per service area, read or write, and
//! admin; and which scope each gRPC method needs.
//!
//! People (tokens from the local key or an identity provider) hold every
//! scope and are limited by their role in the handlers. Integrations and
//! services hold only the scopes their credential names, checked here before
//! any handler runs, so a new RPC is covered the day it is added: its
//! package names the area and its verb says whether it reads.

use std::fmt;

/// A part of the API a scope covers: one proto package each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Area {
    /// `switchboard.ticket.v1`: tickets, customers, intake.
    Ticket,
    /// `switchboard.routing.v1`: agents, groups, queues, rules.
    Routing,
    /// `switchboard.notification.v1`: inbox, webhooks, templates.
    Notification,
    /// `switchboard.knowledge.v1`: articles and suggestions.
    Knowledge,
    /// `switchboard.analytics.v1`: reports and the dashboard.
    Analytics,
    /// `switchboard.access.v1`: API tokens and the audit trail.
    Access,
}

impl Area {
    /// Every area, in scope-bit order.
    pub const ALL: [Area; 6] = [
        Area::Ticket,
        Area::Routing,
        Area::Notification,
        Area::Knowledge,
        Area::Analytics,
        Area::Access,
    ];

    /// The name in scope strings and proto packages.
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Ticket => "ticket",
            Area::Routing => "routing",
            Area::Notification => "notification",
            Area::Knowledge => "knowledge",
            Area::Analytics => "analytics",
            Area::Access => "access",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Area::ALL.into_iter().find(|a| a.as_str() == s)
    }

    fn index(self) -> u32 {
        self as u32
    }
}

/// Whether a call only reads or also changes something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Get, List, Watch, Search, … : changes nothing.
    Read,
    /// Everything else.
    Write,
}

/// Verbs of methods that change nothing (AIP-131/132 and our streams).
const READ_VERBS: [&str; 9] = [
    "Get",
    "List",
    "Query",
    "Watch",
    "Export",
    "Search",
    "Suggest",
    "Subscribe",
    "Find",
];

/// What calling `path` (`/switchboard.<area>.v1.<Service>/<Method>`) needs,
/// or `None` for a path outside Switchboard's packages.
pub fn required(path: &str) -> Option<(Area, Access)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    let area = service
        .strip_prefix("switchboard.")?
        .split('.')
        .next()
        .and_then(Area::parse)?;
    let reads = READ_VERBS.iter().any(|verb| {
        method
            .strip_prefix(verb)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_uppercase))
    });
    Some((area, if reads { Access::Read } else { Access::Write }))
}

/// A set of scopes: per area read or write (write includes read), and admin.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Scopes(u32);

const ADMIN_BIT: u32 = 1 << 31;

impl Scopes {
    /// Every scope: what a person's token carries.
    pub const ALL: Scopes = Scopes(u32::MAX);
    /// No scope at all.
    pub const NONE: Scopes = Scopes(0);

    fn read_bit(area: Area) -> u32 {
        1 << (2 * area.index())
    }

    fn write_bit(area: Area) -> u32 {
        1 << (2 * area.index() + 1)
    }

    /// This set plus `access` to `area`.
    pub fn with(self, area: Area, access: Access) -> Self {
        let bit = match access {
            Access::Read => Self::read_bit(area),
            Access::Write => Self::write_bit(area) | Self::read_bit(area),
        };
        Scopes(self.0 | bit)
    }

    /// This set plus the admin scope.
    pub fn with_admin(self) -> Self {
        Scopes(self.0 | ADMIN_BIT)
    }

    /// Whether the set allows `access` to `area`.
    pub fn allows(self, area: Area, access: Access) -> bool {
        let bit = match access {
            Access::Read => Self::read_bit(area),
            Access::Write => Self::write_bit(area),
        };
        self.0 & bit != 0
    }

    /// Whether the set holds the admin scope (tenant settings, tokens).
    pub fn is_admin(self) -> bool {
        self.0 & ADMIN_BIT != 0
    }

    /// Every scope of `self` and of `other`.
    pub fn union(self, other: Scopes) -> Self {
        Scopes(self.0 | other.0)
    }

    /// Whether `self` holds every scope of `other`.
    pub fn contains(self, other: Scopes) -> bool {
        self.0 & other.0 == other.0
    }

    /// Parses scope strings: `<area>:read`, `<area>:write`, `admin`.
    pub fn parse<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut set = Scopes::NONE;
        for scope in scopes {
            if scope == "admin" {
                set = set.with_admin();
                continue;
            }
            let parsed = scope.split_once(':').and_then(|(area, access)| {
                let access = match access {
                    "read" => Access::Read,
                    "write" => Access::Write,
                    _ => return None,
                };
                Some((Area::parse(area)?, access))
            });
            match parsed {
                Some((area, access)) => set = set.with(area, access),
                None => {
                    return Err(format!(
                        "unknown scope `{}` (expected `admin` or `<area>:read|write` with area one of {})",
                        scope.chars().take(64).collect::<String>(),
                        Area::ALL.map(Area::as_str).join(", ")
                    ));
                }
            }
        }
        Ok(set)
    }

    /// The scope strings of this set, broadest form first per area.
    pub fn names(self) -> Vec<String> {
        let mut names = Vec::new();
        for area in Area::ALL {
            if self.allows(area, Access::Write) {
                names.push(format!("{}:write", area.as_str()));
            } else if self.allows(area, Access::Read) {
                names.push(format!("{}:read", area.as_str()));
            }
        }
        if self.is_admin() {
            names.push("admin".to_owned());
        }
        names
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Scopes::ALL {
            return f.write_str("Scopes(all)");
        }
        write!(f, "Scopes({})", self.names().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_classified_by_package_and_verb() {
        let cases = [
            (
                "/switchboard.ticket.v1.TicketService/GetTicket",
                Some((Area::Ticket, Access::Read)),
            ),
            (
                "/switchboard.ticket.v1.CustomerService/FindCustomer",
                Some((Area::Ticket, Access::Read)),
            ),
            (
                "/switchboard.ticket.v1.TicketService/CreateTicket",
                Some((Area::Ticket, Access::Write)),
            ),
            (
                "/switchboard.ticket.v1.IntakeService/IngestEmail",
                Some((Area::Ticket, Access::Write)),
            ),
            (
                "/switchboard.knowledge.v1.KnowledgeService/SuggestArticles",
                Some((Area::Knowledge, Access::Read)),
            ),
            (
                "/switchboard.notification.v1.NotificationService/Subscribe",
                Some((Area::Notification, Access::Read)),
            ),
            // A verb is a whole word: "Gettysburg" would not read.
            (
                "/switchboard.routing.v1.RoutingService/Getaway",
                Some((Area::Routing, Access::Write)),
            ),
            (
                "/switchboard.analytics.v1.AnalyticsService/UpdateBusinessCalendar",
                Some((Area::Analytics, Access::Write)),
            ),
            ("/grpc.health.v1.Health/Check", None),
            ("/switchboard.billing.v1.Billing/GetInvoice", None),
            ("garbage", None),
        ];
        for (path, expected) in cases {
            assert_eq!(required(path), expected, "{path}");
        }
    }

    #[test]
    fn write_includes_read_and_parse_round_trips() {
        let s = Scopes::parse(["ticket:write", "analytics:read", "admin"]).unwrap();
        assert!(s.allows(Area::Ticket, Access::Read));
        assert!(s.allows(Area::Ticket, Access::Write));
        assert!(s.allows(Area::Analytics, Access::Read));
        assert!(!s.allows(Area::Analytics, Access::Write));
        assert!(!s.allows(Area::Routing, Access::Read));
        assert!(s.is_admin());
        assert_eq!(s.names(), ["ticket:write", "analytics:read", "admin"]);
        assert_eq!(Scopes::parse(s.names().iter().map(String::as_str)), Ok(s));
        assert!(Scopes::ALL.contains(s));
        assert!(!s.contains(Scopes::ALL));
    }

    #[test]
    fn unknown_scopes_are_refused_by_name() {
        for bad in ["tickets:read", "ticket:delete", "ticket", "root", ""] {
            let err = Scopes::parse([bad]).unwrap_err();
            assert!(err.contains("unknown scope"), "{bad}: {err}");
        }
    }
}
