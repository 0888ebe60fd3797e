//! Templates (admins save, staff read) and the caller's preferences.

use switchboard_proto::notification::v1 as pb;
use switchboard_runtime::caller;
use tonic::{Request, Response};

use super::{ApiError, NotificationApi, Res, convert, require_admin, require_staff};
use crate::domain::{
    Channel,
    input::{Preferences, validate_preferences},
    templates::{self, TemplateParts},
};

fn template_message(
    name: String,
    parts: TemplateParts,
    builtin: bool,
    version: i64,
    updated: Option<chrono::DateTime<chrono::Utc>>,
) -> pb::Template {
    pb::Template {
        name,
        subject: parts.subject,
        text_body: parts.text_body,
        html_body: parts.html_body,
        builtin,
        version,
        update_time: updated.and_then(convert::ts),
    }
}

fn preferences_message(p: Preferences, version: i64) -> pb::Preferences {
    pb::Preferences {
        muted_event_types: p.muted_event_types,
        muted_channels: p
            .muted_channels
            .into_iter()
            .map(|c| match c {
                Channel::Email => pb::DeliveryChannel::Email as i32,
                _ => pb::DeliveryChannel::InApp as i32,
            })
            .collect(),
        quiet_hours: p.quiet.map(|q| pb::QuietHours {
            start_minute: q.start_minute as i32,
            end_minute: q.end_minute as i32,
            time_zone: q.tz.name().to_owned(),
        }),
        version,
    }
}

impl NotificationApi {
    pub(super) async fn get_template_impl(
        &self,
        request: Request<pb::GetTemplateRequest>,
    ) -> Res<pb::Template> {
        let caller = caller(&request)?.clone();
        require_staff(&caller)?;
        let name = request.into_inner().name;
        let (kind, locale) = templates::parse_name(&name).map_err(ApiError::from)?;
        let stored = self
            .store
            .get_template(caller.tenant.as_str(), &kind, &locale)
            .await
            .map_err(|e| ApiError::from_store(e, "template"))?;
        let out = match stored {
            Some(row) => {
                template_message(name, row.parts(), false, row.version, Some(row.updated_at))
            }
            None => {
                let parts = templates::builtin(&kind).ok_or(ApiError::NotFound("template"))?;
                template_message(name, parts, true, 0, None)
            }
        };
        Ok(Response::new(out))
    }

    pub(super) async fn update_template_impl(
        &self,
        request: Request<pb::UpdateTemplateRequest>,
    ) -> Res<pb::Template> {
        let caller = caller(&request)?.clone();
        require_admin(&caller)?;
        let t = request.into_inner().template.unwrap_or_default();
        let (kind, locale) = templates::parse_name(&t.name).map_err(|mut v| {
            for f in &mut v.0 {
                f.field = "template.name".into();
            }
            ApiError::from(v)
        })?;
        let parts = TemplateParts {
            subject: t.subject,
            text_body: t.text_body,
            html_body: t.html_body,
        };
        templates::validate(&parts).map_err(ApiError::from)?;
        let row = self
            .store
            .save_template(caller.tenant.as_str(), &kind, &locale, t.version, &parts)
            .await
            .map_err(|e| ApiError::from_store(e, "template"))?;
        Ok(Response::new(template_message(
            t.name,
            row.parts(),
            false,
            row.version,
            Some(row.updated_at),
        )))
    }

    pub(super) async fn get_preferences_impl(
        &self,
        request: Request<pb::GetPreferencesRequest>,
    ) -> Res<pb::Preferences> {
        let caller = caller(&request)?;
        let (p, version) = self
            .store
            .get_preferences(caller.tenant.as_str(), &caller.user)
            .await
            .map_err(|e| ApiError::from_store(e, "preferences"))?;
        Ok(Response::new(preferences_message(p, version)))
    }

    pub(super) async fn update_preferences_impl(
        &self,
        request: Request<pb::UpdatePreferencesRequest>,
    ) -> Res<pb::Preferences> {
        let caller = caller(&request)?.clone();
        let p = request.into_inner().preferences.unwrap_or_default();
        let channels = p
            .muted_channels
            .iter()
            .map(|c| match pb::DeliveryChannel::try_from(*c) {
                Ok(pb::DeliveryChannel::InApp) => Some(Channel::InApp),
                Ok(pb::DeliveryChannel::Email) => Some(Channel::Email),
                _ => None,
            })
            .collect();
        let quiet = p
            .quiet_hours
            .map(|q| (q.start_minute, q.end_minute, q.time_zone));
        let prefs =
            validate_preferences(p.muted_event_types, channels, quiet).map_err(ApiError::from)?;
        let version = self
            .store
            .save_preferences(caller.tenant.as_str(), &caller.user, p.version, &prefs)
            .await
            .map_err(|e| ApiError::from_store(e, "preferences"))?;
        Ok(Response::new(preferences_message(prefs, version)))
    }
}
