//! Validating requests: webhooks, preferences, resource names.

use chrono::{DateTime, Duration as TimeDelta, NaiveTime, TimeZone, Timelike, Utc};
use switchboard_runtime::Violations;
use uuid::Uuid;

use super::{Channel, egress::EgressPolicy};

/// Longest webhook URL.
pub const MAX_URL_LEN: usize = 2048;
/// Most event-type filters per webhook.
pub const MAX_EVENT_TYPES: usize = 50;
/// Most muted event types per user.
pub const MAX_MUTED: usize = 100;

/// A webhook's settable fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookInput {
    /// Where to POST.
    pub url: String,
    /// Event-type filters; empty for all.
    pub event_types: Vec<String>,
    /// Signing key.
    pub secret: String,
    /// Paused when false.
    pub active: bool,
    /// Free text.
    pub description: String,
}

/// Checks `w`; an empty secret is allowed only when `secret_optional`
/// (create generates one); the URL's host must be one `egress` permits.
pub fn validate_webhook(
    w: &WebhookInput,
    secret_optional: bool,
    egress: &EgressPolicy,
) -> Result<(), Violations> {
    let mut v = Violations::default();
    match reqwest::Url::parse(&w.url) {
        _ if w.url.len() > MAX_URL_LEN => v.add("webhook.url", "must be at most 2048 characters"),
        // The parser has normalised the host (`http://2130706433/` is
        // `127.0.0.1`), so the check sees the address a client would use.
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some_and(|h| !egress.permits_host(h)) =>
        {
            v.add(
                "webhook.url",
                "must not point at a loopback, private, link-local or other internal address \
                 (see `notification.webhook_allowed_cidrs`)",
            )
        }
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
        _ => v.add("webhook.url", "must be an absolute http or https URL"),
    }
    if w.event_types.len() > MAX_EVENT_TYPES {
        v.add("webhook.event_types", "at most 50 filters");
    }
    for (i, t) in w.event_types.iter().enumerate() {
        if !is_event_filter(t) {
            v.add(
                format!("webhook.event_types[{i}]"),
                "must be an event type like `ticket.created` or a family like `ticket.*`",
            );
        }
    }
    let secret_ok =
        (16..=256).contains(&w.secret.chars().count()) || (secret_optional && w.secret.is_empty());
    if !secret_ok {
        v.add("webhook.secret", "must be 16 to 256 characters");
    }
    if w.description.chars().count() > 1000 {
        v.add("webhook.description", "must be at most 1000 characters");
    }
    v.into_result(())
}

fn is_event_filter(raw: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    };
    match raw.split_once('.') {
        Some((family, "*")) => token(family),
        Some((family, event)) => token(family) && token(event),
        None => false,
    }
}

/// Whether a webhook with `filters` gets `event_type`.
pub fn event_type_matches(filters: &[String], event_type: &str) -> bool {
    if super::is_own_event(event_type) {
        return false;
    }
    filters.is_empty()
        || filters.iter().any(|f| match f.strip_suffix(".*") {
            Some(family) => event_type
                .strip_prefix(family)
                .is_some_and(|rest| rest.starts_with('.')),
            None => f == event_type,
        })
}

/// A user's notification preferences.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Preferences {
    /// Event types heard on no channel.
    pub muted_event_types: Vec<String>,
    /// Channels heard on for nothing.
    pub muted_channels: Vec<Channel>,
    /// Quiet hours, if any.
    pub quiet: Option<QuietHours>,
}

impl Preferences {
    /// Whether `event_type` may reach the user on `channel`.
    pub fn allows(&self, event_type: &str, channel: Channel) -> bool {
        !self.muted_channels.contains(&channel)
            && !self.muted_event_types.iter().any(|t| t == event_type)
    }
}

/// A daily window in which emails wait.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuietHours {
    /// Minutes after local midnight.
    pub start_minute: u32,
    /// Minutes after local midnight; before `start_minute` when it spans midnight.
    pub end_minute: u32,
    /// The user's time zone.
    pub tz: chrono_tz::Tz,
}

impl QuietHours {
    /// When an email due at `now` may go: `None` when not inside quiet hours.
    pub fn defer(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&self.tz);
        let minute = local.hour() * 60 + local.minute();
        let (start, end) = (self.start_minute, self.end_minute);
        let quiet = match start.cmp(&end) {
            std::cmp::Ordering::Less => (start..end).contains(&minute),
            std::cmp::Ordering::Greater => minute >= start || minute < end,
            std::cmp::Ordering::Equal => false,
        };
        if !quiet {
            return None;
        }
        let mut day = local.date_naive();
        if minute >= end {
            day = day.succ_opt()?;
        }
        let end_time = NaiveTime::from_hms_opt(end / 60, end % 60, 0)?;
        let naive = day.and_time(end_time);
        // A DST gap swallows the end time: the hour after it is the next
        // that exists.
        let resolved = self.tz.from_local_datetime(&naive).earliest().or_else(|| {
            self.tz
                .from_local_datetime(&(naive + TimeDelta::hours(1)))
                .earliest()
        })?;
        Some(resolved.with_timezone(&Utc))
    }
}

/// Checks raw preferences as the API receives them.
pub fn validate_preferences(
    muted_event_types: Vec<String>,
    muted_channels: Vec<Option<Channel>>,
    quiet: Option<(i32, i32, String)>,
) -> Result<Preferences, Violations> {
    let mut v = Violations::default();
    if muted_event_types.len() > MAX_MUTED {
        v.add("preferences.muted_event_types", "at most 100");
    }
    for (i, t) in muted_event_types.iter().enumerate() {
        if !is_event_filter(t) || t.ends_with(".*") {
            v.add(
                format!("preferences.muted_event_types[{i}]"),
                "must be an event type like `ticket.assigned`",
            );
        }
    }
    let mut channels = Vec::new();
    for (i, c) in muted_channels.into_iter().enumerate() {
        match c {
            Some(c) if c != Channel::Webhook => channels.push(c),
            _ => v.add(
                format!("preferences.muted_channels[{i}]"),
                "must be IN_APP or EMAIL",
            ),
        }
    }
    let mut quiet_hours = None;
    if let Some((start, end, tz)) = quiet {
        let minute = |m: i32| (0..1440).contains(&m);
        if !minute(start) {
            v.add("preferences.quiet_hours.start_minute", "must be 0 to 1439");
        }
        if !minute(end) {
            v.add("preferences.quiet_hours.end_minute", "must be 0 to 1439");
        }
        match tz.parse::<chrono_tz::Tz>() {
            Ok(tz) if minute(start) && minute(end) => {
                quiet_hours = Some(QuietHours {
                    start_minute: start as u32,
                    end_minute: end as u32,
                    tz,
                })
            }
            Ok(_) => {}
            Err(_) => v.add(
                "preferences.quiet_hours.time_zone",
                "must be an IANA time zone like `Europe/Paris`",
            ),
        }
    }
    let mut muted = muted_event_types;
    muted.sort();
    muted.dedup();
    channels.dedup();
    v.into_result(Preferences {
        muted_event_types: muted,
        muted_channels: channels,
        quiet: quiet_hours,
    })
}

/// The id in `<collection>/{uuid}`, or a violation naming `field`.
pub fn parse_name(name: &str, collection: &str, field: &str) -> Result<Uuid, Violations> {
    name.strip_prefix(collection)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| {
            let mut v = Violations::default();
            v.add(field, format!("must be `{collection}/{{uuid}}`"));
            v
        })
}

/// The ids in `webhooks/{uuid}/deliveries/{uuid}`.
pub fn parse_delivery_name(name: &str) -> Result<(Uuid, Uuid), Violations> {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["webhooks", w, "deliveries", d] => match (Uuid::parse_str(w), Uuid::parse_str(d)) {
            (Ok(w), Ok(d)) => Ok((w, d)),
            _ => Err(name_violation()),
        },
        _ => Err(name_violation()),
    }
}

fn name_violation() -> Violations {
    let mut v = Violations::default();
    v.add("name", "must be `webhooks/{uuid}/deliveries/{uuid}`");
    v
}

/// A page size: `default` when 0, violations outside 0..=max.
pub fn page_size(raw: i32, default: i64, max: i64) -> Result<i64, Violations> {
    match raw {
        0 => Ok(default),
        n if n > 0 && i64::from(n) <= max => Ok(i64::from(n)),
        _ => {
            let mut v = Violations::default();
            v.add("page_size", format!("must be between 0 and {max}"));
            Err(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook() -> WebhookInput {
        WebhookInput {
            url: "https://crm.example.com/hooks/sb".into(),
            event_types: vec!["ticket.*".into(), "message.added".into()],
            secret: "0123456789abcdef".into(),
            active: true,
            description: String::new(),
        }
    }

    fn open() -> EgressPolicy {
        EgressPolicy::default()
    }

    #[test]
    fn webhooks_to_internal_addresses_are_refused_naming_the_url() {
        for url in [
            "http://127.0.0.1:9090/metrics",
            "http://[::1]/",
            "http://localhost:8080/",
            "http://169.254.169.254/latest/meta-data/",
            "http://2130706433/",
            "http://0x7f.1/",
            "https://user:pw@10.0.0.1/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            let w = WebhookInput {
                url: url.into(),
                ..hook()
            };
            let v = validate_webhook(&w, false, &open()).unwrap_err();
            assert!(v.has("webhook.url"), "{url}: {v}");
        }
        let lo = EgressPolicy::new(&["127.0.0.0/8".into()]).unwrap();
        let local = WebhookInput {
            url: "http://127.0.0.1:9000/hook".into(),
            ..hook()
        };
        assert!(validate_webhook(&local, false, &lo).is_ok());
    }

    #[test]
    fn webhooks_are_checked_field_by_field() {
        assert!(validate_webhook(&hook(), false, &open()).is_ok());
        let bad = WebhookInput {
            url: "ftp://x".into(),
            event_types: vec!["Ticket.Created".into(), "ticket".into()],
            secret: "short".into(),
            ..hook()
        };
        let v = validate_webhook(&bad, true, &open()).unwrap_err();
        for field in [
            "webhook.url",
            "webhook.event_types[0]",
            "webhook.event_types[1]",
            "webhook.secret",
        ] {
            assert!(v.has(field), "{field}: {v}");
        }
        let generated = WebhookInput {
            secret: String::new(),
            ..hook()
        };
        assert!(validate_webhook(&generated, true, &open()).is_ok());
        assert!(validate_webhook(&generated, false, &open()).is_err());
    }

    #[test]
    fn filters_match_types_and_families_but_never_own_events() {
        let f = vec!["ticket.*".to_owned(), "message.added".to_owned()];
        assert!(event_type_matches(&f, "ticket.created"));
        assert!(event_type_matches(&f, "message.added"));
        assert!(!event_type_matches(&f, "tickets.created"));
        assert!(!event_type_matches(&f, "sla.breached"));
        assert!(event_type_matches(&[], "sla.breached"));
        assert!(!event_type_matches(&[], "notification.failed"));
    }

    #[test]
    fn preferences_mute_types_and_channels() {
        let p = validate_preferences(
            vec!["ticket.assigned".into()],
            vec![Some(Channel::Email)],
            None,
        )
        .unwrap();
        assert!(!p.allows("ticket.assigned", Channel::InApp));
        assert!(!p.allows("message.added", Channel::Email));
        assert!(p.allows("message.added", Channel::InApp));
        let v = validate_preferences(
            vec!["nope".into()],
            vec![None],
            Some((-1, 2000, "Mars/Base".into())),
        )
        .unwrap_err();
        for field in [
            "preferences.muted_event_types[0]",
            "preferences.muted_channels[0]",
            "preferences.quiet_hours.start_minute",
            "preferences.quiet_hours.end_minute",
            "preferences.quiet_hours.time_zone",
        ] {
            assert!(v.has(field), "{field}: {v}");
        }
    }

    #[test]
    fn quiet_hours_defer_to_their_local_end() {
        let q = QuietHours {
            start_minute: 22 * 60,
            end_minute: 7 * 60,
            tz: chrono_tz::Europe::Paris,
        };
        // 23:30 in Paris (UTC+1 in January) waits until 07:00 Paris = 06:00 UTC.
        let late = Utc.with_ymd_and_hms(2026, 1, 10, 22, 30, 0).unwrap();
        assert_eq!(
            q.defer(late),
            Some(Utc.with_ymd_and_hms(2026, 1, 11, 6, 0, 0).unwrap())
        );
        let early = Utc.with_ymd_and_hms(2026, 1, 10, 3, 0, 0).unwrap();
        assert_eq!(
            q.defer(early),
            Some(Utc.with_ymd_and_hms(2026, 1, 10, 6, 0, 0).unwrap())
        );
        let noon = Utc.with_ymd_and_hms(2026, 1, 10, 11, 0, 0).unwrap();
        assert_eq!(q.defer(noon), None);
    }

    #[test]
    fn names_and_page_sizes_parse() {
        let id = Uuid::now_v7();
        assert_eq!(
            parse_name(&format!("webhooks/{id}"), "webhooks", "name").unwrap(),
            id
        );
        assert!(parse_name("webhooks/x", "webhooks", "name").is_err());
        assert!(parse_name(&format!("templates/{id}"), "webhooks", "name").is_err());
        let d = Uuid::now_v7();
        assert_eq!(
            parse_delivery_name(&format!("webhooks/{id}/deliveries/{d}")).unwrap(),
            (id, d)
        );
        assert!(parse_delivery_name("webhooks/a/deliveries").is_err());
        assert_eq!(page_size(0, 20, 100).unwrap(), 20);
        assert!(page_size(101, 20, 100).is_err());
        assert!(page_size(-1, 20, 100).is_err());
    }
}
