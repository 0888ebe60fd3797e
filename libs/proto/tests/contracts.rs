//! Checks that keep the contracts and their documentation in step.

use prost::Message;
use prost_types::FileDescriptorSet;

fn descriptor_set() -> FileDescriptorSet {
    FileDescriptorSet::decode(switchboard_proto::FILE_DESCRIPTOR_SET).expect("embedded set decodes")
}

/// `ticket_created` → `ticket.created`: the first `_` separates aggregate and event.
fn event_type(field: &str) -> String {
    field.replacen('_', ".", 1)
}

#[test]
fn every_envelope_payload_is_documented_in_asyncapi() {
    let doc = include_str!("../../../proto/switchboard/events/v1/asyncapi.yaml");
    let set = descriptor_set();
    let envelope = set
        .file
        .iter()
        .filter(|f| f.package() == "switchboard.events.v1")
        .flat_map(|f| &f.message_type)
        .find(|m| m.name() == "Envelope")
        .expect("Envelope is in the descriptor set");
    let payloads: Vec<_> = envelope
        .field
        .iter()
        .filter(|f| f.oneof_index.is_some())
        .map(|f| event_type(f.name()))
        .collect();
    assert!(!payloads.is_empty(), "the envelope has payload cases");
    for event in payloads {
        assert!(
            doc.contains(&format!("name: {event}")),
            "event `{event}` is missing from asyncapi.yaml"
        );
        let (aggregate, name) = event.split_once('.').expect("aggregate.event");
        assert!(
            doc.contains(&format!("'switchboard.{{tenant}}.{aggregate}.{name}'")),
            "event `{event}` has no channel in asyncapi.yaml"
        );
    }
}

#[test]
fn every_service_and_rpc_is_documented() {
    for file in descriptor_set()
        .file
        .iter()
        .filter(|f| f.package().starts_with("switchboard."))
    {
        let info = file
            .source_code_info
            .as_ref()
            .expect("source info is kept for reflection");
        for (i, service) in file.service.iter().enumerate() {
            let documented = |path: &[i32]| {
                info.location
                    .iter()
                    .any(|l| l.path == path && !l.leading_comments().trim().is_empty())
            };
            assert!(
                documented(&[6, i as i32]),
                "service {} has no comment",
                service.name()
            );
            for (j, method) in service.method.iter().enumerate() {
                assert!(
                    documented(&[6, i as i32, 2, j as i32]),
                    "rpc {}.{} has no comment",
                    service.name(),
                    method.name()
                );
            }
        }
    }
}
