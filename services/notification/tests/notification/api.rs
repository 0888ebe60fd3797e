//! The admin and preference calls: validation, permissions, versions, and
//! that saved templates and preferences shape what is sent.

use std::time::Duration;

use prost_types::FieldMask;
use switchboard_proto::{notification::v1 as pb, ticket::v1::Visibility};
use switchboard_runtime::Role;
use switchboard_testkit::wait_for;
use tonic::Code;

use crate::{
    helpers::{Desk, TicketSpec, agent, authed, violated_fields},
    smtp::SmtpSink,
};

#[tokio::test]
async fn webhooks_are_validated_admin_only_and_versioned() -> anyhow::Result<()> {
    let sink = SmtpSink::start().await?;
    let desk = Desk::start(sink.addr, 3).await?;
    let admin = desk.token("admin-max", Role::Admin);
    let agent_token = desk.token("agent-ann", Role::Agent);
    let mut client = desk.client().await;
    let request = |url: &str, secret: &str| pb::CreateWebhookRequest {
        webhook: Some(pb::Webhook {
            url: url.into(),
            event_types: vec!["ticket.*".into()],
            secret: secret.into(),
            ..Default::default()
        }),
    };

    let denied = client
        .create_webhook(authed(
            request("https://crm.example.com/h", ""),
            &agent_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let bad = client
        .create_webhook(authed(request("ftp://crm", "short"), &admin))
        .await
        .unwrap_err();
    let fields = violated_fields(&bad);
    assert!(
        fields.contains(&"webhook.url".to_owned()) && fields.contains(&"webhook.secret".to_owned()),
        "{fields:?}"
    );
    let list = client
        .list_webhooks(authed(pb::ListWebhooksRequest::default(), &admin))
        .await?
        .into_inner();
    assert!(list.webhooks.is_empty(), "a refused create changes nothing");

    let created = client
        .create_webhook(authed(request("https://crm.example.com/h", ""), &admin))
        .await?
        .into_inner();
    assert!(
        created.secret.starts_with("whsec_") && created.secret.len() >= 32,
        "a secret is generated"
    );
    assert!(created.active);
    let got = client
        .get_webhook(authed(
            pb::GetWebhookRequest {
                name: created.name.clone(),
            },
            &admin,
        ))
        .await?
        .into_inner();
    assert!(got.secret.is_empty(), "the secret is write-only");

    let update = |version: i64| pb::UpdateWebhookRequest {
        webhook: Some(pb::Webhook {
            name: created.name.clone(),
            active: false,
            version,
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["active".into()],
        }),
    };
    let paused = client
        .update_webhook(authed(update(created.version), &admin))
        .await?
        .into_inner();
    assert!(!paused.active);
    assert_eq!(paused.url, created.url, "unmasked fields keep their values");
    assert_eq!(paused.version, created.version + 1);
    let stale = client
        .update_webhook(authed(update(created.version), &admin))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);

    client
        .delete_webhook(authed(
            pb::DeleteWebhookRequest {
                name: created.name.clone(),
            },
            &admin,
        ))
        .await?;
    let gone = client
        .get_webhook(authed(
            pb::GetWebhookRequest {
                name: created.name.clone(),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    desk.stop().await
}

#[tokio::test]
async fn templates_are_validated_on_save_and_used_per_locale() -> anyhow::Result<()> {
    let sink = SmtpSink::start().await?;
    let desk = Desk::start(sink.addr, 3).await?;
    let admin = desk.token("admin-max", Role::Admin);
    let mut client = desk.client().await;
    let name = "templates/message.added/en";

    let builtin = client
        .get_template(authed(pb::GetTemplateRequest { name: name.into() }, &admin))
        .await?
        .into_inner();
    assert!(builtin.builtin);
    assert_eq!(builtin.version, 0);

    let broken = client
        .update_template(authed(
            pb::UpdateTemplateRequest {
                template: Some(pb::Template {
                    name: name.into(),
                    subject: "{{ ticket.subject }}".into(),
                    text_body: "{% if %}".into(),
                    html_body: "<p>{{ message.body }</p>".into(),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    let fields = violated_fields(&broken);
    assert_eq!(fields, ["template.text_body", "template.html_body"]);
    let unknown = client
        .update_template(authed(
            pb::UpdateTemplateRequest {
                template: Some(pb::Template {
                    name: "templates/nope/en".into(),
                    subject: "x".into(),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&unknown), ["template.name"]);

    let saved = client
        .update_template(authed(
            pb::UpdateTemplateRequest {
                template: Some(pb::Template {
                    name: name.into(),
                    subject: "Update: {{ ticket.subject }}".into(),
                    text_body: "Hello! {{ message.body }} (#{{ ticket.number }})".into(),
                    html_body: "<p>{{ message.body }}</p>".into(),
                    version: 0,
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await?
        .into_inner();
    assert_eq!(saved.version, 1);
    assert!(!saved.builtin);

    let t = TicketSpec::new(31, "Shipping");
    desk.publish(&t.created_by("eve@example.com")).await?;
    let (reply, _) = t.message(
        2,
        agent("agent-ann"),
        Visibility::Public,
        "It ships today.",
        &[],
    );
    desk.publish(&reply).await?;
    wait_for(Duration::from_secs(20), "the templated email", || async {
        !sink.messages().await.is_empty()
    })
    .await?;
    let mail = sink.messages().await;
    assert!(
        mail[0]
            .data
            .contains("Subject: Re: [#T-31] Update: Shipping"),
        "{}",
        mail[0].data
    );
    assert!(mail[0].data.contains("Hello! It ships today. (#31)"));
    desk.stop().await
}

#[tokio::test]
async fn preferences_mute_channels_and_reject_stale_versions() -> anyhow::Result<()> {
    let sink = SmtpSink::start().await?;
    let desk = Desk::start(sink.addr, 3).await?;
    desk.introduce(&["agent-bo", "agent-cy"]).await?;
    let bo = desk.token("agent-bo", Role::Agent);
    let mut client = desk.client().await;
    let empty = client
        .get_preferences(authed(pb::GetPreferencesRequest {}, &bo))
        .await?
        .into_inner();
    assert_eq!(empty.version, 0);

    let bad = client
        .update_preferences(authed(
            pb::UpdatePreferencesRequest {
                preferences: Some(pb::Preferences {
                    muted_event_types: vec!["Nope".into()],
                    quiet_hours: Some(pb::QuietHours {
                        start_minute: 5000,
                        end_minute: 0,
                        time_zone: "Europe/Paris".into(),
                    }),
                    ..Default::default()
                }),
            },
            &bo,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&bad),
        [
            "preferences.muted_event_types[0]",
            "preferences.quiet_hours.start_minute"
        ]
    );
    let mute = |version: i64| pb::UpdatePreferencesRequest {
        preferences: Some(pb::Preferences {
            muted_channels: vec![pb::DeliveryChannel::InApp as i32],
            version,
            ..Default::default()
        }),
    };
    let saved = client
        .update_preferences(authed(mute(0), &bo))
        .await?
        .into_inner();
    assert_eq!(saved.version, 1);
    let stale = client
        .update_preferences(authed(mute(0), &bo))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);

    // bo muted in-app; cy did not: only cy hears the mention.
    let t = TicketSpec::new(5, "Muted");
    let (note, _) = t.message(
        2,
        agent("agent-ann"),
        Visibility::Internal,
        "ping",
        &["agent-bo", "agent-cy"],
    );
    desk.publish(&note).await?;
    let cy = desk.token("agent-cy", Role::Agent);
    wait_for(Duration::from_secs(20), "cy's notification", || {
        let mut client = client.clone();
        let cy = cy.clone();
        async move {
            client
                .get_unread_count(authed(pb::GetUnreadCountRequest {}, &cy))
                .await
                .is_ok_and(|r| r.into_inner().unread_count == 1)
        }
    })
    .await?;
    let bo_count = client
        .get_unread_count(authed(pb::GetUnreadCountRequest {}, &bo))
        .await?
        .into_inner();
    assert_eq!(bo_count.unread_count, 0);
    desk.stop().await
}
