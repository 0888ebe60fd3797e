//! Stored rows to wire messages.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;
use switchboard_proto::notification::v1 as pb;

use crate::store::{DeliveryRow, InboxRow, WebhookRow};

pub(crate) fn ts(t: DateTime<Utc>) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    })
}

pub(crate) fn notification(r: InboxRow) -> pb::Notification {
    pb::Notification {
        name: format!("notifications/{}", r.id),
        event_type: r.event_type,
        title: r.title,
        body: r.body,
        ticket: r.ticket,
        read: r.read_at.is_some(),
        create_time: ts(r.created_at),
        cursor: r.seq.to_string(),
        event_id: r.event_id.to_string(),
    }
}

/// The webhook without its secret (only creation returns it).
pub(crate) fn webhook(r: WebhookRow) -> pb::Webhook {
    pb::Webhook {
        name: format!("webhooks/{}", r.id),
        url: r.url,
        event_types: r.event_types,
        secret: String::new(),
        active: r.active,
        description: r.description,
        version: r.version,
        create_time: ts(r.created_at),
        update_time: ts(r.updated_at),
    }
}

pub(crate) fn status_name(s: pb::DeliveryStatus) -> Option<&'static str> {
    match s {
        pb::DeliveryStatus::Pending => Some("pending"),
        pb::DeliveryStatus::Delivered => Some("delivered"),
        pb::DeliveryStatus::DeadLettered => Some("dead"),
        pb::DeliveryStatus::Unspecified => None,
    }
}

pub(crate) fn delivery(r: DeliveryRow) -> pb::Delivery {
    let status = match r.status.as_str() {
        "pending" => pb::DeliveryStatus::Pending,
        "delivered" => pb::DeliveryStatus::Delivered,
        _ => pb::DeliveryStatus::DeadLettered,
    };
    pb::Delivery {
        name: format!(
            "webhooks/{}/deliveries/{}",
            r.webhook_id.map(|w| w.to_string()).unwrap_or_default(),
            r.id
        ),
        event_id: r.event_id.to_string(),
        event_type: r.event_type,
        status: status as i32,
        attempts: r.attempts,
        next_attempt_time: if status == pb::DeliveryStatus::Pending {
            ts(r.next_attempt_at)
        } else {
            None
        },
        last_error: r.last_error,
        last_status_code: r.last_status,
        create_time: ts(r.created_at),
        deliver_time: r.delivered_at.and_then(ts),
    }
}
