//! Webhook subscriptions, their delivery log and manual redelivery (admins).

use switchboard_proto::notification::v1 as pb;
use switchboard_runtime::caller;
use tonic::{Request, Response};
use uuid::Uuid;

use super::{ApiError, NotificationApi, Res, convert, invalid, require_admin};
use crate::domain::input::{
    WebhookInput, page_size, parse_delivery_name, parse_name, validate_webhook,
};

/// Fields `UpdateWebhook` may change.
const MUTABLE: [&str; 5] = ["url", "event_types", "secret", "active", "description"];

fn generated_secret() -> String {
    // Two UUIDv7s' random bits: 148 bits from the OS generator.
    let a = Uuid::now_v7().simple().to_string();
    let b = Uuid::now_v7().simple().to_string();
    format!("whsec_{}{}", &a[16..], &b[16..])
}

fn page_token_id(raw: &str) -> Result<Option<Uuid>, ApiError> {
    if raw.is_empty() {
        return Ok(None);
    }
    Uuid::parse_str(raw)
        .map(Some)
        .map_err(|_| invalid("page_token", "is not a page token this service issued"))
}

impl NotificationApi {
    pub(super) async fn create_webhook_impl(
        &self,
        request: Request<pb::CreateWebhookRequest>,
    ) -> Res<pb::Webhook> {
        let caller = caller(&request)?.clone();
        require_admin(&caller)?;
        let w = request.into_inner().webhook.unwrap_or_default();
        let mut input = WebhookInput {
            url: w.url,
            event_types: w.event_types,
            secret: w.secret,
            active: true,
            description: w.description,
        };
        validate_webhook(&input, true, &self.egress).map_err(ApiError::from)?;
        if input.secret.is_empty() {
            input.secret = generated_secret();
        }
        let row = self
            .store
            .create_webhook(caller.tenant.as_str(), &input)
            .await
            .map_err(|e| ApiError::from_store(e, "webhook"))?;
        let mut out = convert::webhook(row);
        out.secret = input.secret;
        Ok(Response::new(out))
    }

    pub(super) async fn get_webhook_impl(
        &self,
        request: Request<pb::GetWebhookRequest>,
    ) -> Res<pb::Webhook> {
        let caller = caller(&request)?.clone();
        require_admin(&caller)?;
        let id = parse_name(&request.get_ref().name, "webhooks", "name").map_err(ApiError::from)?;
        let row = self
            .store
            .webhook(caller.tenant.as_str(), id)
            .await
            .map_err(|e| ApiError::from_store(e, "webhook"))?;
        Ok(Response::new(convert::webhook(row)))
    }

    pub(super) async fn list_webhooks_impl(
        &self,
        request: Request<pb::ListWebhooksRequest>,
    ) -> Res<pb::ListWebhooksResponse> {
        let caller = caller(&request)?.clone();
        require_admin(&caller)?;
        let r = request.into_inner();
        let limit = page_size(r.page_size, 50, 100).map_err(ApiError::from)?;
        let after = page_token_id(&r.page_token)?;
        let rows = self
            .store
            .list_webhooks(caller.tenant.as_str(), after, limit + 1)
            .await
            .map_err(|e| ApiError::from_store(e, "webhook"))?;
        let more = rows.len() as i64 > limit;
        let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
        let next_page_token = match (more, rows.last()) {
            (true, Some(last)) => last.id.to_string(),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListWebhooksResponse {
            webhooks: rows.into_iter().map(convert::webhook).collect(),
            next_page_token,
        }))
    }

    pub(super) async fn update_webhook_impl(
        &self,
        request: Request<pb::UpdateWebhookRequest>,
    ) -> Res<pb::Webhook> {
        let caller = caller(&request)?.clone();
        require_admin(&caller)?;
        let r = request.into_inner();
        let w = r.webhook.unwrap_or_default();
        let id = parse_name(&w.name, "webhooks", "webhook.name").map_err(ApiError::from)?;
        let paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
        if paths.is_empty() {
            return Err(invalid("update_mask", "name the fields to change").into());
        }
        if let Some(bad) = paths.iter().find(|p| !MUTABLE.contains(&p.as_str())) {
            return Err(invalid("update_mask", &format!("`{bad}` cannot be changed")).into());
        }
        let tenant = caller.tenant.as_str();
        let stored = self
            .store
            .webhook(tenant, id)
            .await
            .map_err(|e| ApiError::from_store(e, "webhook"))?;
        let has = |f: &str| paths.iter().any(|p| p == f);
        let input = WebhookInput {
            url: if has("url") { w.url } else { stored.url },
            event_types: if has("event_types") {
                w.event_types
            } else {
                stored.event_types
            },
            secret: if has("secret") {
                w.secret
            } else {
                stored.secret
            },
            active: if has("active") {
                w.active
            } else {
                stored.active
            },
            description: if has("description") {
                w.description
            } else {
                stored.description
            },
        };
        validate_webhook(&input, false, &self.egress).map_err(ApiError::from)?;
        let row = self
            .store
            .update_webhook(tenant, id, w.version, &input)
            .await
            .map_err(|e| ApiError::from_store(e, "webhook"))?;
        Ok(Response::new(convert::webhook(row)))
    }

    pub(super) async fn delete_webhook_impl(
        &self,
        request: Request<pb::DeleteWebhookRequest>,
    ) -> Res<()> {
        let caller = caller(&request)?.clone();
        require_admin(&caller)?;
        let id = parse_name(&request.get_ref().name, "webhooks", "name").map_err(ApiError::from)?;
        self.store
            .delete_webhook(caller.tenant.as_str(), id)
            .await
            .map_err(|e| ApiError::from_store(e, "webhook"))?;
        Ok(Response::new(()))
    }

    pub(super) async fn list_deliveries_impl(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Res<pb::ListDeliveriesResponse> {
        let caller = caller(&request)?.clone();
        require_admin(&caller)?;
        let r = request.into_inner();
        let webhook = parse_name(&r.parent, "webhooks", "parent").map_err(ApiError::from)?;
        let limit = page_size(r.page_size, 50, 100).map_err(ApiError::from)?;
        let before = page_token_id(&r.page_token)?;
        let status = pb::DeliveryStatus::try_from(r.status)
            .map_err(|_| invalid("status", "is not a delivery status"))?;
        let tenant = caller.tenant.as_str();
        // An unknown webhook is NOT_FOUND, not an empty log.
        self.store
            .webhook(tenant, webhook)
            .await
            .map_err(|e| ApiError::from_store(e, "webhook"))?;
        let rows = self
            .store
            .list_deliveries(
                tenant,
                webhook,
                convert::status_name(status),
                before,
                limit + 1,
            )
            .await
            .map_err(|e| ApiError::from_store(e, "delivery"))?;
        let more = rows.len() as i64 > limit;
        let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
        let next_page_token = match (more, rows.last()) {
            (true, Some(last)) => last.id.to_string(),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListDeliveriesResponse {
            deliveries: rows.into_iter().map(convert::delivery).collect(),
            next_page_token,
        }))
    }

    pub(super) async fn redeliver_delivery_impl(
        &self,
        request: Request<pb::RedeliverDeliveryRequest>,
    ) -> Res<pb::Delivery> {
        let caller = caller(&request)?.clone();
        require_admin(&caller)?;
        let (webhook, delivery) =
            parse_delivery_name(&request.get_ref().name).map_err(ApiError::from)?;
        let row = self
            .store
            .redeliver(caller.tenant.as_str(), webhook, delivery, self.max_attempts)
            .await
            .map_err(|e| ApiError::from_store(e, "delivery"))?;
        self.signals.dispatch.notify_one();
        Ok(Response::new(convert::delivery(row)))
    }
}
