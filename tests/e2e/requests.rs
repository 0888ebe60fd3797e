//! A valid request for any RPC, naming tenant A's objects: resource-name
//! fields are filled by their names (`name`, `parent`, `ticket`, ...), and
//! the payload an RPC needs beyond them comes from one table of templates.

use prost_reflect::{DynamicMessage, Kind, ReflectMessage, Value as PValue};
use serde_json::{Value, json};

use crate::{
    dynamic::{self, Rpc},
    fixture::{Fresh, Values},
};

/// A request built for one call.
pub struct Built {
    /// The request.
    pub message: DynamicMessage,
    /// Whether it names one of tenant A's objects (a tenant-B caller must
    /// then be refused).
    pub names_object: bool,
}

/// Payloads beyond the resource names, protobuf JSON with `$placeholders`
/// (see [`Values`]). RPCs not listed send only their resource names.
/// Request ids reuse the fixture's own (customer A1's ticket, the internal
/// note), so an idempotent replay that crosses callers shows as a leak.
const TEMPLATES: &[(&str, &str)] = &[
    // TicketService
    (
        "TicketService/CreateTicket",
        r#"{"requestId": "matrix-ticket", "subject": "Matrix ticket", "description": "Made by the matrix", "requester": {"email": "matrix@x.example"}}"#,
    ),
    (
        "TicketService/UpdateTicket",
        r#"{"ticket": {"subject": "Renamed"}, "updateMask": "subject", "expectedVersion": "$ticket_version"}"#,
    ),
    (
        "TicketService/AssignTicket",
        r#"{"assignee": "agent-a", "expectedVersion": "$ticket_version"}"#,
    ),
    (
        "TicketService/AddMessage",
        r#"{"requestId": "matrix-note", "body": "Any news?"}"#,
    ),
    ("TicketService/SubmitSatisfaction", r#"{"score": 5}"#),
    (
        "TicketService/MergeTickets",
        r#"{"source": "$ticket", "target": "$ticket_target", "sourceVersion": "$ticket_version", "targetVersion": "$ticket_target_version"}"#,
    ),
    (
        "TicketService/UpdateSlaPolicy",
        r#"{"policy": {"targets": [{"priority": "PRIORITY_NORMAL", "firstResponseMinutes": 60, "resolutionMinutes": 480}]}}"#,
    ),
    (
        "TicketService/UpdateIntakeRules",
        r#"{"rules": {"rules": []}}"#,
    ),
    // CustomerService
    (
        "CustomerService/FindCustomer",
        r#"{"identity": {"kind": "IDENTITY_KIND_EMAIL", "value": "$a1_email"}}"#,
    ),
    (
        "CustomerService/AddIdentity",
        r#"{"identity": {"kind": "IDENTITY_KIND_PHONE", "value": "+15550001111"}}"#,
    ),
    (
        "CustomerService/UpdateCustomer",
        r#"{"customer": {"displayName": "Ada"}, "updateMask": "displayName"}"#,
    ),
    (
        "CustomerService/MergeCustomers",
        r#"{"source": "$customer", "target": "$customer_target"}"#,
    ),
    // PrivacyService (ten years: nothing the matrix made is that old)
    (
        "PrivacyService/UpdateRetentionPolicy",
        r#"{"policy": {"closedTicketDays": 3650}}"#,
    ),
    // IntakeService
    (
        "IntakeService/IngestEmail",
        r#"{"raw": "RnJvbTogbWF0cml4QHguZXhhbXBsZQ0KVG86IGRlc2tAYS5leGFtcGxlDQpTdWJqZWN0OiBIZWxsbw0KTWVzc2FnZS1JRDogPG1hdHJpeEB4LmV4YW1wbGU+DQoNCk15IHByaW50ZXIgaXMgYnJva2VuLg0K"}"#,
    ),
    (
        "IntakeService/LogCall",
        r#"{"contact": {"phone": "+15550002222"}, "subject": "Call", "direction": "CALL_DIRECTION_INBOUND", "outcome": "CALL_OUTCOME_RESOLVED", "durationSeconds": 60, "notes": "Called"}"#,
    ),
    (
        "IntakeService/IngestSocial",
        r#"{"author": {"social": "x:@matrix"}, "network": "x", "threadId": "thread-1", "postId": "post-1", "text": "Help"}"#,
    ),
    (
        "IntakeService/IngestSms",
        r#"{"from": "+15550003333", "text": "Help", "providerId": "sms-1"}"#,
    ),
    (
        "IntakeService/SubmitWebForm",
        r#"{"contact": {"email": "form@x.example"}, "subject": "Form", "description": "Sent from the form"}"#,
    ),
    (
        "IntakeService/StartChat",
        r#"{"visitor": {"chatVisitor": "matrix-visitor"}, "text": "Hi"}"#,
    ),
    (
        "IntakeService/SendChatMessage",
        r#"{"text": "Still there?"}"#,
    ),
    // RoutingService
    (
        "RoutingService/CreateAgent",
        r#"{"agent": {"name": "agents/matrix-new", "capacity": [{"max": 3}]}}"#,
    ),
    (
        "RoutingService/UpdateAgent",
        r#"{"agent": {"displayName": "Renamed"}, "updateMask": "displayName", "expectedVersion": "$agent_version"}"#,
    ),
    (
        "RoutingService/CreateGroup",
        r#"{"group": {"name": "groups/matrix-new"}}"#,
    ),
    (
        "RoutingService/UpdateGroup",
        r#"{"group": {"displayName": "Renamed"}, "updateMask": "displayName", "expectedVersion": "$group_version"}"#,
    ),
    (
        "RoutingService/UpdateRoutingRules",
        r#"{"rules": {"rules": []}}"#,
    ),
    (
        "RoutingService/SetPresence",
        r#"{"presence": "PRESENCE_AWAY"}"#,
    ),
    // NotificationService
    ("NotificationService/MarkRead", r#"{"all": true}"#),
    (
        "NotificationService/CreateWebhook",
        r#"{"webhook": {"url": "https://hooks.example.com/matrix", "eventTypes": ["ticket.created"]}}"#,
    ),
    (
        "NotificationService/UpdateWebhook",
        r#"{"webhook": {"description": "changed", "version": "$webhook_version"}, "updateMask": "description"}"#,
    ),
    (
        "NotificationService/GetTemplate",
        r#"{"name": "templates/ticket.assigned/en"}"#,
    ),
    (
        "NotificationService/UpdateTemplate",
        r#"{"template": {"name": "templates/ticket.assigned/en", "subject": "Assigned {{ ticket.number }}", "textBody": "You have {{ ticket.subject }}", "version": "0"}}"#,
    ),
    (
        "NotificationService/UpdatePreferences",
        r#"{"preferences": {"mutedEventTypes": ["ticket.updated"], "version": "0"}}"#,
    ),
    (
        "NotificationService/UpdateNotificationRules",
        r#"{"rules": [{"name": "mentions", "enabled": true}], "version": "0"}"#,
    ),
    // KnowledgeService
    (
        "KnowledgeService/CreateArticle",
        r#"{"title": "Matrix article", "bodyMarkdown": "Body", "locale": "en"}"#,
    ),
    (
        "KnowledgeService/UpdateArticle",
        r#"{"article": {"title": "Renamed"}, "updateMask": "title", "expectedVersion": "$article_version"}"#,
    ),
    (
        "KnowledgeService/PublishArticle",
        r#"{"expectedVersion": "$article_version"}"#,
    ),
    (
        "KnowledgeService/ArchiveArticle",
        r#"{"expectedVersion": "$article_version"}"#,
    ),
    (
        "KnowledgeService/RestoreArticleVersion",
        r#"{"version": "1", "expectedVersion": "$article_version"}"#,
    ),
    (
        "KnowledgeService/CreateCategory",
        r#"{"category": {"title": "Matrix category"}}"#,
    ),
    ("KnowledgeService/SearchArticles", r#"{"query": "printer"}"#),
    (
        "KnowledgeService/SuggestArticles",
        r#"{"subject": "printer", "description": "the printer tray jams"}"#,
    ),
    (
        "KnowledgeService/VoteArticle",
        r#"{"vote": "VOTE_HELPFUL"}"#,
    ),
    // AnalyticsService
    (
        "AnalyticsService/GetOverview",
        r#"{"range": {"startTime": "$range_start", "endTime": "$range_end"}}"#,
    ),
    (
        "AnalyticsService/QueryTimeSeries",
        r#"{"metric": "METRIC_CREATED", "bucket": "BUCKET_DAY", "range": {"startTime": "$range_start", "endTime": "$range_end"}}"#,
    ),
    (
        "AnalyticsService/ListAgentStats",
        r#"{"range": {"startTime": "$range_start", "endTime": "$range_end"}}"#,
    ),
    (
        "AnalyticsService/GetSlaReport",
        r#"{"range": {"startTime": "$range_start", "endTime": "$range_end"}}"#,
    ),
    (
        "AnalyticsService/ListTopIssues",
        r#"{"range": {"startTime": "$range_start", "endTime": "$range_end"}}"#,
    ),
    (
        "AnalyticsService/ExportTicketFacts",
        r#"{"range": {"startTime": "$range_start", "endTime": "$range_end"}}"#,
    ),
    (
        "AnalyticsService/UpdateBusinessCalendar",
        r#"{"businessHours": {"timeZone": "UTC", "hours": [{"weekday": 1, "startMinute": 540, "endMinute": 1020}]}}"#,
    ),
    (
        "AccessService/CreateApiToken",
        r#"{"displayName": "matrix", "scopes": ["ticket:read"]}"#,
    ),
    ("AccessService/RotateApiToken", r#"{"name": "$api_token"}"#),
    ("AccessService/RevokeApiToken", r#"{"name": "$api_token"}"#),
];

/// RPCs that consume or version the object they name: each call gets one
/// of its own.
const FRESH: &[(&str, Fresh)] = &[
    ("TicketService/UpdateTicket", Fresh::Ticket),
    ("TicketService/AssignTicket", Fresh::Ticket),
    ("TicketService/MergeTickets", Fresh::TicketPair),
    ("CustomerService/MergeCustomers", Fresh::CustomerPair),
    ("PrivacyService/EraseCustomer", Fresh::Customer),
    ("IntakeService/EndChat", Fresh::Chat),
    ("AccessService/RotateApiToken", Fresh::ApiToken),
    ("AccessService/RevokeApiToken", Fresh::ApiToken),
    ("RoutingService/UpdateAgent", Fresh::Agent),
    ("RoutingService/DeleteAgent", Fresh::Agent),
    ("RoutingService/UpdateGroup", Fresh::Group),
    ("RoutingService/DeleteGroup", Fresh::Group),
    ("NotificationService/UpdateWebhook", Fresh::Webhook),
    ("NotificationService/DeleteWebhook", Fresh::Webhook),
    ("KnowledgeService/UpdateArticle", Fresh::Article),
    ("KnowledgeService/PublishArticle", Fresh::Draft),
    ("KnowledgeService/ArchiveArticle", Fresh::Article),
    ("KnowledgeService/RestoreArticleVersion", Fresh::Article),
];

/// `Service/Method` without the package, as the tables key RPCs.
fn short(rpc: &Rpc) -> String {
    let name = rpc.name();
    let (service, method) = name.split_once('/').expect("Service/Method");
    let service = service.rsplit('.').next().unwrap_or(service);
    format!("{service}/{method}")
}

/// The fresh objects `rpc` needs per call, if any.
pub fn fresh(rpc: &Rpc) -> Option<Fresh> {
    let key = short(rpc);
    FRESH.iter().find(|(k, _)| *k == key).map(|(_, f)| *f)
}

/// A request for `rpc` naming the objects in `values`.
pub fn build(rpc: &Rpc, values: &Values) -> anyhow::Result<Built> {
    let key = short(rpc);
    let template = TEMPLATES
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, t)| serde_json::from_str::<Value>(t).expect("templates are JSON"))
        .unwrap_or_else(|| json!({}));
    let mut names_object = false;
    let body = substitute(template, values, &mut names_object)?;
    let mut message = dynamic::from_json(rpc.input(), &body)?;
    if !rpc.method().starts_with("Create") {
        names_object |= fill_names(rpc, &mut message, values);
    }
    Ok(Built {
        message,
        names_object,
    })
}

/// Replaces every `"$key"` string in `json` by its value.
fn substitute(json: Value, values: &Values, named: &mut bool) -> anyhow::Result<Value> {
    Ok(match json {
        Value::String(s) if s.starts_with('$') => {
            let key = &s[1..];
            if let Some(v) = values.objects.get(key) {
                *named = true;
                v.clone()
            } else {
                values
                    .params
                    .get(key)
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("no value for placeholder {s}"))?
            }
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| substitute(v, values, named))
                .collect::<anyhow::Result<_>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| Ok((k, substitute(v, values, named)?)))
                .collect::<anyhow::Result<_>>()?,
        ),
        other => other,
    })
}

/// The object key a resource field names, from the field's name and the
/// noun of the method (top level) or of the message (one level down).
fn object_key(noun: &str, field: &str) -> Option<&'static str> {
    let by_noun = || {
        [
            ("Deliveries", "webhook"),
            ("Delivery", "delivery"),
            ("Webhook", "webhook"),
            ("Article", "article"),
            ("Customer", "customer"),
            ("Identity", "customer"),
            ("Agent", "agent"),
            ("Group", "group"),
            ("Chat", "chat"),
            ("Ticket", "ticket"),
            ("Message", "ticket"),
            ("Satisfaction", "ticket"),
            ("Call", "ticket"),
        ]
        .into_iter()
        .find(|(n, _)| noun.contains(n))
        .map(|(_, key)| key)
    };
    match field {
        "name" | "parent" | "source" | "target" => by_noun(),
        "ticket" if noun.contains("Chat") => Some("chat"),
        "ticket" => Some("ticket"),
        "group" if noun.contains("Queue") => Some("group"),
        "agent" => Some("agent"),
        "chat_visitor" if noun.contains("Chat") => Some("chat_visitor"),
        _ => None,
    }
}

/// Fills empty resource fields of `message` (top level and one level down)
/// with tenant A's objects; true when it filled any.
fn fill_names(rpc: &Rpc, message: &mut DynamicMessage, values: &Values) -> bool {
    let mut filled = fill_level(rpc.method(), message, values);
    let nested: Vec<_> = message
        .descriptor()
        .fields()
        .filter(|f| !f.is_list() && !f.is_map() && matches!(f.kind(), Kind::Message(_)))
        .filter(|f| !is_well_known(&f.kind()))
        .collect();
    for field in nested {
        let Kind::Message(desc) = field.kind() else {
            continue;
        };
        let mut inner = match message.get_field(&field).as_message() {
            Some(m) => m.clone(),
            None => DynamicMessage::new(desc.clone()),
        };
        let noun = desc.name().to_owned();
        if fill_level(&noun, &mut inner, values) {
            filled = true;
            message.set_field(&field, PValue::Message(inner));
        }
    }
    filled
}

fn fill_level(noun: &str, message: &mut DynamicMessage, values: &Values) -> bool {
    let mut filled = false;
    let fields: Vec<_> = message.descriptor().fields().collect();
    for field in fields {
        if field.kind() != Kind::String || field.is_list() || message.has_field(&field) {
            continue;
        }
        let Some(value) = object_key(noun, field.name())
            .and_then(|key| values.objects.get(key))
            .and_then(Value::as_str)
        else {
            continue;
        };
        message.set_field(&field, PValue::String(value.to_owned()));
        filled = true;
    }
    filled
}

pub fn is_well_known(kind: &Kind) -> bool {
    matches!(kind, Kind::Message(m) if m.package_name() == "google.protobuf")
}
