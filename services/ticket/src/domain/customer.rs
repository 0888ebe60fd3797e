//! Customer profiles: identities in every form, and merging duplicates.

use chrono::{DateTime, Utc};
use switchboard_events::{EventBuilder, Payload};
use switchboard_proto::{
    common::v1::Actor,
    events::v1::{CustomerErased, CustomerMerged, Envelope},
    ticket::v1::{self as pb, IdentityKind},
};
use switchboard_runtime::{TenantId, Violations};
use uuid::Uuid;

use super::{Identity, is_e164, parse_email, ticket_name, timestamp};

/// Longest social handle or chat visitor id.
pub const MAX_HANDLE_BYTES: usize = 254;

impl Identity {
    /// Storage form back into an identity.
    pub fn from_storage(kind: &str, value: String) -> Option<Self> {
        Some(match kind {
            "email" => Identity::Email(value),
            "phone" => Identity::Phone(value),
            "social" => Identity::Social(value),
            "chat" => Identity::ChatVisitor(value),
            _ => return None,
        })
    }

    /// Validates a wire identity, reporting under `field`.
    pub fn from_proto(field: &str, raw: Option<&pb::Identity>, v: &mut Violations) -> Option<Self> {
        let Some(raw) = raw else {
            v.add(field, "is required");
            return None;
        };
        let value = raw.value.trim();
        let at = format!("{field}.value");
        let handle = |v: &mut Violations, what: &str| {
            if value.is_empty()
                || value.len() > MAX_HANDLE_BYTES
                || value.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                v.add(
                    &at,
                    format!("{what} must be 1 to {MAX_HANDLE_BYTES} bytes without spaces"),
                );
                false
            } else {
                true
            }
        };
        match IdentityKind::try_from(raw.kind) {
            Ok(IdentityKind::Email) => match parse_email(value) {
                Ok(email) => Some(Identity::Email(email)),
                Err(reason) => {
                    v.add(&at, reason);
                    None
                }
            },
            Ok(IdentityKind::Phone) if is_e164(value) => Some(Identity::Phone(value.to_owned())),
            Ok(IdentityKind::Phone) => {
                v.add(&at, "must be in E.164 form, e.g. +15551234567");
                None
            }
            Ok(IdentityKind::Social) => {
                let ok = handle(v, "a social identity")
                    && value
                        .split_once(':')
                        .is_some_and(|(net, h)| !net.is_empty() && !h.is_empty());
                if !ok {
                    v.add(&at, "must be `<network>:<handle>`, e.g. `x:@ada`");
                }
                ok.then(|| Identity::Social(value.to_lowercase()))
            }
            Ok(IdentityKind::ChatVisitor) => {
                handle(v, "a chat visitor id").then(|| Identity::ChatVisitor(value.to_owned()))
            }
            Ok(IdentityKind::Unspecified) | Err(_) => {
                v.add(
                    format!("{field}.kind"),
                    format!("unknown identity kind {}", raw.kind),
                );
                None
            }
        }
    }

    /// The identity a customer token's `sub` names: a bare email address,
    /// or `phone:`, `social:` or `chat:` before the value. Channel
    /// integrations act for customers who have no email address this way.
    pub fn from_principal(user: &str) -> Option<Self> {
        let (kind, value) = match user.split_once(':') {
            Some(("phone", v)) => (IdentityKind::Phone, v),
            Some(("social", v)) => (IdentityKind::Social, v),
            Some(("chat", v)) => (IdentityKind::ChatVisitor, v),
            _ => (IdentityKind::Email, user),
        };
        let raw = pb::Identity {
            kind: kind as i32,
            value: value.to_owned(),
        };
        Self::from_proto("sub", Some(&raw), &mut Violations::default())
    }

    /// The `sub` a customer token carries for this identity; the inverse of
    /// [`Identity::from_principal`].
    pub fn principal(&self) -> String {
        match self {
            Identity::Email(v) => v.clone(),
            Identity::Phone(v) => format!("phone:{v}"),
            Identity::Social(v) => format!("social:{v}"),
            Identity::ChatVisitor(v) => format!("chat:{v}"),
        }
    }

    /// The wire form.
    pub fn to_proto(&self) -> pb::Identity {
        let kind = match self {
            Identity::Email(_) => IdentityKind::Email,
            Identity::Phone(_) => IdentityKind::Phone,
            Identity::Social(_) => IdentityKind::Social,
            Identity::ChatVisitor(_) => IdentityKind::ChatVisitor,
        };
        pb::Identity {
            kind: kind as i32,
            value: self.value().to_owned(),
        }
    }
}

/// A customer profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// UUIDv7 id.
    pub id: Uuid,
    /// Owning tenant.
    pub tenant: TenantId,
    /// How they are addressed.
    pub display_name: String,
    /// Every identity.
    pub identities: Vec<Identity>,
    /// First contact.
    pub created_at: DateTime<Utc>,
    /// The survivor this profile was merged into.
    pub merged_into: Option<Uuid>,
    /// Grows with each change.
    pub version: i64,
    /// Service tier; empty if none.
    pub tier: String,
    /// Lowercase tags.
    pub tags: Vec<String>,
    /// When the customer was erased; nothing personal remains since.
    pub erased_at: Option<DateTime<Utc>>,
}

impl Customer {
    /// The wire form.
    pub fn to_proto(&self) -> pb::Customer {
        pb::Customer {
            name: customer_name(self.id),
            display_name: self.display_name.clone(),
            identities: self.identities.iter().map(Identity::to_proto).collect(),
            create_time: Some(timestamp(self.created_at)),
            merged_into: self.merged_into.map(customer_name).unwrap_or_default(),
            version: self.version,
            tier: self.tier.clone(),
            tags: self.tags.clone(),
            erase_time: self.erased_at.map(timestamp),
        }
    }

    /// The `customer.erased` event for `self` (after erasure), naming the
    /// profiles erased with it, its tickets and hashes of its identities.
    pub fn erased_event(
        &self,
        merged: &[Uuid],
        tickets: &[Uuid],
        identity_sha256: Vec<String>,
        actor: Actor,
    ) -> Envelope {
        EventBuilder::new(&self.tenant, "customer", self.id.to_string(), self.version)
            .actor(actor)
            .build(
                "erased",
                Payload::CustomerErased(CustomerErased {
                    customer: customer_name(self.id),
                    merged_customers: merged.iter().copied().map(customer_name).collect(),
                    tickets: tickets.iter().copied().map(ticket_name).collect(),
                    identity_sha256,
                }),
            )
    }

    /// The `customer.merged` event for `self` (the survivor, after the merge).
    pub fn merged_event(&self, source: Uuid, moved: &[Uuid], actor: Actor) -> Envelope {
        EventBuilder::new(&self.tenant, "customer", self.id.to_string(), self.version)
            .actor(actor)
            .build(
                "merged",
                Payload::CustomerMerged(CustomerMerged {
                    source: customer_name(source),
                    target: Some(self.to_proto()),
                    moved_tickets: moved.iter().copied().map(ticket_name).collect(),
                }),
            )
    }
}

/// A validated `UpdateCustomer`: `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerUpdate {
    /// The customer.
    pub id: Uuid,
    /// New display name.
    pub display_name: Option<String>,
    /// New tier (empty clears it).
    pub tier: Option<String>,
    /// New tags (replacing).
    pub tags: Option<Vec<String>>,
}

impl CustomerUpdate {
    /// Validates an `UpdateCustomer` request, collecting every violation.
    pub fn from_request(req: &pb::UpdateCustomerRequest) -> Result<Self, Violations> {
        let mut v = Violations::default();
        let Some(c) = &req.customer else {
            v.add("customer", "is required, with `name` and the new values");
            return Err(v);
        };
        let id = parse_customer_name("customer.name", &c.name, &mut v).unwrap_or_default();
        let mut update = CustomerUpdate {
            id,
            ..Default::default()
        };
        let paths = req
            .update_mask
            .as_ref()
            .map(|m| m.paths.as_slice())
            .unwrap_or_default();
        if paths.is_empty() {
            v.add(
                "update_mask",
                "name at least one of display_name, tier, tags",
            );
        }
        for path in paths {
            match path.as_str() {
                "display_name" => {
                    let name = c.display_name.trim();
                    if name.chars().count() > super::MAX_NAME_CHARS {
                        v.add(
                            "customer.display_name",
                            format!("at most {} characters", super::MAX_NAME_CHARS),
                        );
                    }
                    update.display_name = Some(name.to_owned());
                }
                "tier" => {
                    let tier = c.tier.trim().to_lowercase();
                    let ok = tier.len() <= 64
                        && tier.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                        });
                    if !ok {
                        v.add("customer.tier", "at most 64 of a-z, 0-9, `-`, `_`");
                    }
                    update.tier = Some(tier);
                }
                "tags" => {
                    let mut tag_errors = Violations::default();
                    update.tags = Some(super::normalize_tags(&c.tags, &mut tag_errors));
                    for e in tag_errors.0 {
                        v.add(format!("customer.{}", e.field), e.description);
                    }
                }
                other => v.add(
                    "update_mask",
                    format!(
                        "`{}` cannot be updated (display_name, tier, tags)",
                        other.chars().take(64).collect::<String>()
                    ),
                ),
            }
        }
        v.into_result(update)
    }
}

/// Why two profiles cannot be merged, if they cannot.
pub fn check_merge(source: &Customer, target: &Customer) -> Result<(), String> {
    if source.id == target.id {
        return Err("a customer cannot be merged into itself".into());
    }
    if source.merged_into.is_some() {
        return Err(format!("{} was already merged", customer_name(source.id)));
    }
    if source.erased_at.is_some() || target.erased_at.is_some() {
        return Err("an erased customer cannot be merged".into());
    }
    if target.merged_into.is_some() {
        return Err(format!(
            "{} was merged away; merge into its survivor",
            customer_name(target.id)
        ));
    }
    Ok(())
}

/// `customers/{id}`.
pub fn customer_name(id: Uuid) -> String {
    format!("customers/{id}")
}

/// Parses `customers/{id}`, reporting under `field`.
pub fn parse_customer_name(field: &str, name: &str, v: &mut Violations) -> Option<Uuid> {
    match name.strip_prefix("customers/").map(Uuid::parse_str) {
        Some(Ok(id)) => Some(id),
        _ => {
            v.add(field, "must be `customers/{customer_id}`");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_round_trip_and_bad_ones_are_refused() {
        for identity in [
            Identity::Email("ada@example.com".into()),
            Identity::Phone("+15551234567".into()),
            Identity::Social("x:@ada".into()),
            Identity::ChatVisitor("v-123".into()),
        ] {
            assert_eq!(
                Identity::from_principal(&identity.principal()),
                Some(identity)
            );
        }
        assert_eq!(
            Identity::from_principal("Ada@Example.com"),
            Some(Identity::Email("ada@example.com".into()))
        );
        for bad in [
            "phone:555",
            "social:ada",
            "chat:",
            "chat:a b",
            "not-an-email",
            "",
        ] {
            assert_eq!(Identity::from_principal(bad), None, "{bad}");
        }
    }

    #[test]
    fn customer_updates_validate_by_field() {
        let req = |c: pb::Customer, paths: &[&str]| pb::UpdateCustomerRequest {
            customer: Some(c),
            update_mask: Some(prost_types::FieldMask {
                paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            }),
        };
        let name = customer_name(Uuid::now_v7());
        let ok = CustomerUpdate::from_request(&req(
            pb::Customer {
                name: name.clone(),
                tier: " Gold ".into(),
                tags: vec!["VIP".into()],
                ..Default::default()
            },
            &["tier", "tags"],
        ))
        .unwrap();
        assert_eq!(
            (ok.tier.as_deref(), ok.tags.as_deref()),
            (Some("gold"), Some(&["vip".to_owned()][..]))
        );
        assert_eq!(ok.display_name, None);
        let bad = CustomerUpdate::from_request(&req(
            pb::Customer {
                name: "people/1".into(),
                tier: "gold plan!".into(),
                tags: vec!["no spaces".into()],
                ..Default::default()
            },
            &["tier", "tags", "version"],
        ))
        .unwrap_err();
        for field in [
            "customer.name",
            "customer.tier",
            "customer.tags[0]",
            "update_mask",
        ] {
            assert!(bad.has(field), "{field} missing from {bad:?}");
        }
    }

    fn identity(kind: IdentityKind, value: &str) -> Result<Identity, Violations> {
        let mut v = Violations::default();
        let raw = pb::Identity {
            kind: kind as i32,
            value: value.into(),
        };
        let parsed = Identity::from_proto("identity", Some(&raw), &mut v);
        v.into_result(parsed.expect("no violation means a value"))
    }

    #[test]
    fn every_identity_kind_validates_and_normalizes() {
        assert_eq!(
            identity(IdentityKind::Email, " Ada@Example.com ").unwrap(),
            Identity::Email("ada@example.com".into())
        );
        assert_eq!(
            identity(IdentityKind::Phone, "+15551234567").unwrap(),
            Identity::Phone("+15551234567".into())
        );
        assert_eq!(
            identity(IdentityKind::Social, "X:@Ada").unwrap(),
            Identity::Social("x:@ada".into())
        );
        assert_eq!(
            identity(IdentityKind::ChatVisitor, "v-123").unwrap(),
            Identity::ChatVisitor("v-123".into())
        );
        let mut v = Violations::default();
        for (kind, value) in [
            (IdentityKind::Email, "not-an-email"),
            (IdentityKind::Phone, "555-1234"),
            (IdentityKind::Social, "ada"),
            (IdentityKind::ChatVisitor, "has space"),
        ] {
            let raw = pb::Identity {
                kind: kind as i32,
                value: value.into(),
            };
            assert_eq!(
                Identity::from_proto("identity", Some(&raw), &mut v),
                None,
                "{kind:?} {value}"
            );
        }
        assert_eq!(v.0.len(), 4);
        let mut v = Violations::default();
        Identity::from_proto(
            "identity",
            Some(&pb::Identity {
                kind: 9,
                value: "x".into(),
            }),
            &mut v,
        );
        assert!(v.has("identity.kind"));
    }

    #[test]
    fn storage_form_round_trips() {
        for i in [
            Identity::Email("a@b.c".into()),
            Identity::Phone("+1555".into()),
            Identity::Social("x:@a".into()),
            Identity::ChatVisitor("v".into()),
        ] {
            assert_eq!(
                Identity::from_storage(i.kind(), i.value().to_owned()),
                Some(i)
            );
        }
    }

    #[test]
    fn merges_refuse_self_and_merged_profiles() {
        let c = |merged: bool| Customer {
            id: Uuid::now_v7(),
            tenant: TenantId::parse("acme").unwrap(),
            display_name: String::new(),
            identities: vec![],
            created_at: Utc::now(),
            merged_into: merged.then(Uuid::now_v7),
            version: 1,
            tier: String::new(),
            tags: vec![],
            erased_at: None,
        };
        let (a, b) = (c(false), c(false));
        assert!(check_merge(&a, &b).is_ok());
        assert!(check_merge(&a, &a).unwrap_err().contains("itself"));
        assert!(
            check_merge(&c(true), &b)
                .unwrap_err()
                .contains("already merged")
        );
        assert!(check_merge(&a, &c(true)).unwrap_err().contains("survivor"));
    }
}
