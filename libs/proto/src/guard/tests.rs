use prost::Message;
use tonic::Code;
use tonic_types::StatusExt;

use super::*;
use crate::ticket::v1::{CreateTicketRequest, Requester, Ticket};

const CREATE: &str = "switchboard.ticket.v1.CreateTicketRequest";

fn create(subject: &str, email: &str) -> Vec<u8> {
    CreateTicketRequest {
        subject: subject.into(),
        requester: Some(Requester {
            email: email.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn violation(status: &Status) -> String {
    let details = status.get_error_details();
    let bad = details.bad_request().expect("bad request details");
    bad.field_violations[0].field.clone()
}

#[test]
fn clean_requests_pass() {
    assert!(guard(CREATE, &create("Printer\ton fire\r\n", "ada@example.com")).is_ok());
}

#[test]
fn nul_and_control_characters_are_refused_naming_the_field_at_any_depth() {
    let status = guard(CREATE, &create("ok", "ada\0@example.com")).unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violation(&status), "requester.email");
    for bad in ["a\0b", "\u{1b}[31m", "bell\u{7}"] {
        let status = guard(CREATE, &create(bad, "ada@example.com")).unwrap_err();
        assert_eq!(violation(&status), "subject", "{bad:?}");
    }
}

#[test]
fn invalid_utf8_is_refused_naming_the_field() {
    // Field 2 of CreateTicketRequest is `subject`? Find it from the schema so
    // the test does not depend on numbering.
    let descriptor = request_descriptor(CREATE).unwrap();
    let number = descriptor.get_field_by_name("subject").unwrap().number();
    let mut bytes = Vec::new();
    prost::encoding::encode_key(
        number,
        prost::encoding::WireType::LengthDelimited,
        &mut bytes,
    );
    prost::encoding::encode_varint(2, &mut bytes);
    bytes.extend_from_slice(&[0xc3, 0x28]);
    let status = guard(CREATE, &bytes).unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violation(&status), "subject");
}

#[test]
fn garbage_is_invalid_argument_not_internal() {
    let status = guard(CREATE, &[0xff, 0xff, 0xff]).unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let truncated = &create("a subject that is cut off", "x@example.com")[..10];
    assert_eq!(
        guard(CREATE, truncated).unwrap_err().code(),
        Code::InvalidArgument
    );
}

#[test]
fn answers_are_not_checked_so_clients_read_what_servers_stored() {
    let ticket = Ticket {
        subject: "legacy\0row".into(),
        ..Default::default()
    };
    assert!(guard("switchboard.ticket.v1.Ticket", &ticket.encode_to_vec()).is_ok());
}

#[test]
fn size_limits_come_from_one_table() {
    set_max_request_bytes(1024);
    assert_eq!(max_request_bytes(CREATE), 1024);
    assert_eq!(
        max_request_bytes("switchboard.ticket.v1.IngestEmailRequest"),
        26 << 20
    );
    let status = guard(CREATE, &create(&"x".repeat(2000), "a@example.com")).unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(service_max_request_bytes("switchboard.ticket.v1.IntakeService") >= 26 << 20);
    assert_eq!(
        service_max_request_bytes("switchboard.knowledge.v1.KnowledgeService"),
        1024
    );
    set_max_request_bytes(DEFAULT_MAX_REQUEST_BYTES);
}

#[test]
fn every_request_type_of_every_service_is_known() {
    let names: Vec<String> = SCHEMA.requests.iter().cloned().collect();
    assert!(names.len() > 50, "{names:?}");
    for name in names {
        assert!(request_descriptor(&name).is_some(), "{name}");
    }
}
