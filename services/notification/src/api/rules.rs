//! The tenant's rules of who hears what (admins).

use switchboard_proto::notification::v1 as pb;
use switchboard_runtime::caller;
use tonic::{Request, Response};

use super::{ApiError, NotificationApi, Res, convert, require_admin};
use crate::{
    domain::{Rule, rules::validate_changes},
    store::rules::SavedRules,
};

fn rules_message(saved: SavedRules) -> pb::NotificationRules {
    pb::NotificationRules {
        rules: Rule::ALL
            .iter()
            .map(|r| pb::NotificationRule {
                name: r.name().to_owned(),
                enabled: saved.rules.is_on(*r),
                description: r.description().to_owned(),
            })
            .collect(),
        version: saved.version,
        update_time: saved.updated_at.and_then(convert::ts),
    }
}

impl NotificationApi {
    pub(super) async fn get_notification_rules_impl(
        &self,
        request: Request<pb::GetNotificationRulesRequest>,
    ) -> Res<pb::NotificationRules> {
        let caller = caller(&request)?;
        require_admin(caller)?;
        let saved = self
            .store
            .get_rules(caller.tenant.as_str())
            .await
            .map_err(|e| ApiError::from_store(e, "notification rules"))?;
        Ok(Response::new(rules_message(saved)))
    }

    pub(super) async fn update_notification_rules_impl(
        &self,
        request: Request<pb::UpdateNotificationRulesRequest>,
    ) -> Res<pb::NotificationRules> {
        let caller = caller(&request)?.clone();
        require_admin(&caller)?;
        let r = request.into_inner();
        let changes: Vec<(String, bool)> =
            r.rules.into_iter().map(|c| (c.name, c.enabled)).collect();
        let changes = validate_changes(&changes).map_err(ApiError::from)?;
        let tenant = caller.tenant.as_str();
        let current = self
            .store
            .get_rules(tenant)
            .await
            .map_err(|e| ApiError::from_store(e, "notification rules"))?;
        if current.version != r.version {
            return Err(ApiError::Conflict(current.version).into());
        }
        let mut rules = current.rules;
        for (rule, on) in changes {
            rules.set(rule, on);
        }
        // The save checks the version again, so a concurrent update between
        // the read and the write is refused rather than overwritten.
        let saved = self
            .store
            .save_rules(tenant, r.version, &rules)
            .await
            .map_err(|e| ApiError::from_store(e, "notification rules"))?;
        Ok(Response::new(rules_message(saved)))
    }
}
