//! Threading: which ids and tokens a reply offers for finding its ticket,
//! and a round trip through the ids the desk puts on its own mail.

use switchboard_mail::threading::{
    MAX_THREAD_KEYS, outgoing_message_id, parse_outgoing_message_id, reply_subject, thread_keys,
    ticket_token,
};

use crate::helpers::{fixture, message};

#[test]
fn subject_token_gives_the_ticket_number() {
    let email = fixture("token_subject.eml");
    assert_eq!(email.ticket_token, Some(1234));
    assert!(thread_keys(&email).is_empty());
}

#[test]
fn thread_keys_are_in_reply_to_then_references_newest_first_without_duplicates() {
    let email = fixture("references_chain.eml");
    assert_eq!(email.in_reply_to, ["t1234.maaaa0003@desk.example"]);
    assert_eq!(
        email.references,
        [
            "r1@reed.example",
            "t1234.maaaa0001@desk.example",
            "r2@reed.example",
            "t1234.maaaa0003@desk.example"
        ]
    );
    assert_eq!(
        thread_keys(&email),
        [
            "t1234.maaaa0003@desk.example",
            "r2@reed.example",
            "t1234.maaaa0001@desk.example",
            "r1@reed.example"
        ]
    );
    assert_eq!(email.ticket_token, None);
    assert_eq!(
        parse_outgoing_message_id(&thread_keys(&email)[0]),
        Some((1234, "aaaa0003".to_owned()))
    );
}

#[test]
fn thread_keys_are_capped() {
    let ids: Vec<String> = (0..40).map(|i| format!("<m{i}@example.com>")).collect();
    let references = format!("References: {}", ids.join(" "));
    let email = message(&["From: a@example.com", "Subject: r", &references], "hi\n");
    let keys = thread_keys(&email);
    assert_eq!(keys.len(), MAX_THREAD_KEYS);
    assert_eq!(keys[0], "m39@example.com");
}

#[test]
fn replies_to_desk_mail_lead_back_to_the_ticket_without_a_lookup() {
    for (name, ticket) in [
        ("gmail_reply.eml", 1234),
        ("outlook_reply.eml", 88),
        ("iphone_reply.eml", 5531),
    ] {
        let email = fixture(name);
        let found = thread_keys(&email)
            .iter()
            .find_map(|k| parse_outgoing_message_id(k))
            .map(|(t, _)| t);
        assert_eq!(found, Some(ticket), "{name}");
    }
    let foreign = fixture("attachments.eml");
    assert!(
        thread_keys(&foreign)
            .iter()
            .all(|k| parse_outgoing_message_id(k).is_none())
    );
}

#[test]
fn an_outgoing_id_survives_a_reply_round_trip() {
    let id = outgoing_message_id(42, "6f1c9e2a-0b3d-4c5e-8f70-91a2b3c4d5e6", "Desk.Example");
    assert_eq!(
        id,
        "<t42.m6f1c9e2a-0b3d-4c5e-8f70-91a2b3c4d5e6@desk.example>"
    );
    let subject = reply_subject("Printer broken", 42);
    let in_reply_to = format!("In-Reply-To: {id}");
    let references = format!("References: <first@customer.example> {id}");
    let reply_subject_header = format!("Subject: RE: {subject}");
    let email = message(
        &[
            "From: c@customer.example",
            &reply_subject_header,
            &in_reply_to,
            &references,
        ],
        "Thanks!\n\nOn Mon, 2 Nov 2026, Support wrote:\n> Did it help?\n",
    );
    assert_eq!(email.text, "Thanks!");
    assert_eq!(email.ticket_token, Some(42));
    assert_eq!(
        parse_outgoing_message_id(&thread_keys(&email)[0]),
        Some((42, "6f1c9e2a-0b3d-4c5e-8f70-91a2b3c4d5e6".to_owned()))
    );
}

#[test]
fn ticket_tokens_in_subjects() {
    assert_eq!(ticket_token("Re: [#T-1234] Cannot export"), Some(1234));
    assert_eq!(ticket_token("[#t-7] lower case"), Some(7));
    assert_eq!(
        ticket_token("AW: [#T-3] a [#T-9] b"),
        Some(3),
        "first token wins"
    );
    for none in [
        "Re: Order #1234",
        "[T-12]",
        "[#T-]",
        "[#T-12a]",
        "#T-12",
        "[#T-99999999999999999999]",
        "",
    ] {
        assert_eq!(ticket_token(none), None, "{none:?}");
    }
}
