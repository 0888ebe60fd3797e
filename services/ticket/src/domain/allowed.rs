//! What a caller may set, per RPC: one explicit allow-list for every ticket
//! RPC a customer reaches. A field outside the list is refused with
//! INVALID_ARGUMENT naming it (not silently ignored, so a client learns at
//! once that it does not count). Each request is destructured field by
//! field, so a field added to a request does not compile until it is
//! placed on or off the lists.

use switchboard_proto::ticket::v1 as pb;
use switchboard_runtime::Violations;

/// Who is writing, as far as the allow-lists care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// Staff: every field.
    Staff,
    /// A customer calling the ticket API themselves.
    Customer,
    /// A channel integration writing as the customer (intake): also what
    /// the channel itself knows (its channel, a web form's fields).
    Channel,
}

/// `CreateTicket` fields a customer may set. `requester` is allowed but only
/// its `display_name` is used: a customer always files for themselves.
pub const CUSTOMER_CREATE_TICKET: &[&str] = &[
    "request_id",
    "subject",
    "description",
    "requester",
    "attachments",
];
/// `CreateTicket` fields intake may set for a customer.
pub const CHANNEL_CREATE_TICKET: &[&str] = &[
    "request_id",
    "subject",
    "description",
    "channel",
    "requester",
    "custom_fields",
    "attachments",
];
/// `AddMessage` fields a customer may set (`visibility` only as PUBLIC).
pub const CUSTOMER_ADD_MESSAGE: &[&str] = &[
    "parent",
    "request_id",
    "body",
    "visibility",
    "attachments",
    "expected_version",
];
/// `AddMessage` fields intake may set for a customer.
pub const CHANNEL_ADD_MESSAGE: &[&str] = &[
    "parent",
    "request_id",
    "body",
    "visibility",
    "channel",
    "attachments",
    "expected_version",
];
/// `SubmitSatisfaction` fields a customer may set: all of them.
pub const CUSTOMER_SUBMIT_SATISFACTION: &[&str] = &["name", "score", "comment"];

/// Refuses each field of `set` that `allowed` does not name.
fn check(set: &[(&'static str, bool)], allowed: &[&str]) -> Result<(), Violations> {
    let mut v = Violations::default();
    for (field, _) in set.iter().filter(|(_, is_set)| *is_set) {
        if !allowed.contains(field) {
            v.add(
                *field,
                "is not yours to set: staff set it, or the desk does",
            );
        }
    }
    v.into_result(())
}

/// Checks the fields a `CreateTicket` by `writer` sets.
pub fn create_ticket(req: &pb::CreateTicketRequest, writer: Writer) -> Result<(), Violations> {
    let pb::CreateTicketRequest {
        request_id,
        subject,
        description,
        channel,
        priority,
        requester,
        tags,
        custom_fields,
        attachments,
    } = req;
    let allowed = match writer {
        Writer::Staff => return Ok(()),
        Writer::Customer => CUSTOMER_CREATE_TICKET,
        Writer::Channel => CHANNEL_CREATE_TICKET,
    };
    check(
        &[
            ("request_id", !request_id.is_empty()),
            ("subject", !subject.is_empty()),
            ("description", !description.is_empty()),
            ("channel", *channel != 0),
            ("priority", *priority != 0),
            ("requester", requester.is_some()),
            ("tags", !tags.is_empty()),
            ("custom_fields", !custom_fields.is_empty()),
            ("attachments", !attachments.is_empty()),
        ],
        allowed,
    )
}

/// Checks the fields an `AddMessage` by `writer` sets.
pub fn add_message(req: &pb::AddMessageRequest, writer: Writer) -> Result<(), Violations> {
    let pb::AddMessageRequest {
        parent,
        request_id,
        body,
        visibility,
        channel,
        attachments,
        mentions,
        status,
        expected_version,
    } = req;
    let allowed = match writer {
        Writer::Staff => return Ok(()),
        Writer::Customer => CUSTOMER_ADD_MESSAGE,
        Writer::Channel => CHANNEL_ADD_MESSAGE,
    };
    check(
        &[
            ("parent", !parent.is_empty()),
            ("request_id", !request_id.is_empty()),
            ("body", !body.is_empty()),
            ("visibility", *visibility != 0),
            ("channel", *channel != 0),
            ("attachments", !attachments.is_empty()),
            ("mentions", !mentions.is_empty()),
            ("status", *status != 0),
            ("expected_version", *expected_version != 0),
        ],
        allowed,
    )
}

/// Checks the fields a customer's `SubmitSatisfaction` sets (staff cannot
/// rate at all; the rule says so).
pub fn submit_satisfaction(req: &pb::SubmitSatisfactionRequest) -> Result<(), Violations> {
    let pb::SubmitSatisfactionRequest {
        name,
        score,
        comment,
    } = req;
    check(
        &[
            ("name", !name.is_empty()),
            ("score", *score != 0),
            ("comment", !comment.is_empty()),
        ],
        CUSTOMER_SUBMIT_SATISFACTION,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_proto::common::v1::{Channel, Priority};

    fn fields(r: Result<(), Violations>) -> Vec<String> {
        r.err()
            .map(|v| v.0.into_iter().map(|f| f.field).collect())
            .unwrap_or_default()
    }

    fn steering() -> pb::CreateTicketRequest {
        pb::CreateTicketRequest {
            request_id: "r".into(),
            subject: "VIP".into(),
            description: "route me".into(),
            channel: Channel::Email as i32,
            priority: Priority::Urgent as i32,
            requester: Some(pb::Requester::default()),
            tags: vec!["vip".into()],
            custom_fields: [("plan".to_owned(), pb::FieldValue::default())].into(),
            attachments: vec![pb::Attachment::default()],
        }
    }

    #[test]
    fn customers_cannot_steer_a_new_ticket() {
        assert_eq!(
            fields(create_ticket(&steering(), Writer::Customer)),
            ["channel", "priority", "tags", "custom_fields"]
        );
        let plain = pb::CreateTicketRequest {
            request_id: "r".into(),
            subject: "Help".into(),
            description: "please".into(),
            requester: Some(pb::Requester::default()),
            attachments: vec![pb::Attachment::default()],
            ..Default::default()
        };
        assert!(create_ticket(&plain, Writer::Customer).is_ok());
    }

    #[test]
    fn channels_set_what_they_know_and_staff_everything() {
        assert_eq!(
            fields(create_ticket(&steering(), Writer::Channel)),
            ["priority", "tags"]
        );
        assert!(create_ticket(&steering(), Writer::Staff).is_ok());
    }

    #[test]
    fn customers_reply_without_routing_a_message() {
        let req = pb::AddMessageRequest {
            parent: "tickets/x".into(),
            request_id: "r".into(),
            body: "hi".into(),
            visibility: pb::Visibility::Public as i32,
            channel: Channel::Email as i32,
            attachments: vec![pb::Attachment::default()],
            mentions: vec!["agent-1".into()],
            status: pb::TicketStatus::Solved as i32,
            expected_version: 3,
        };
        assert_eq!(
            fields(add_message(&req, Writer::Customer)),
            ["channel", "mentions", "status"]
        );
        assert_eq!(
            fields(add_message(&req, Writer::Channel)),
            ["mentions", "status"]
        );
        assert!(add_message(&req, Writer::Staff).is_ok());
    }

    #[test]
    fn a_rating_is_all_the_customers() {
        let req = pb::SubmitSatisfactionRequest {
            name: "tickets/x".into(),
            score: 5,
            comment: "great".into(),
        };
        assert!(submit_satisfaction(&req).is_ok());
    }
}
