//! The gRPC handlers: decode, authorize, call the store, encode.

mod convert;
mod inbox;
mod rules;
mod settings;
mod webhooks;

use std::{sync::Arc, time::Duration};

use switchboard_proto::notification::v1::{
    self as pb, notification_service_server::NotificationService,
};
use switchboard_runtime::{
    Caller, DomainError, ErrorKind, FieldViolation, Hub, Role, Streams, TenantId, Violations,
    fanout::Events, to_status,
};
use tonic::{Request, Response, Status};

use crate::{
    domain::{SUPERVISORS_INBOX, egress::EgressPolicy},
    live::Signals,
    store::{LiveRow, PgStore, StoreError},
};

/// The `NotificationService` implementation.
#[derive(Debug, Clone)]
pub struct NotificationApi {
    store: PgStore,
    signals: Signals,
    /// Attempts a redelivery grants.
    max_attempts: i32,
    /// How often a tenant's idle inbox reader re-reads, in case a wake-up
    /// was lost.
    poll: Duration,
    /// One inbox reader per tenant with subscribers, shared by them.
    inbox_hub: Hub<TenantId, Events<LiveRow>>,
    /// The stream budget `Subscribe` opens through (it also ends streams at
    /// shutdown).
    streams: Streams,
    /// Where webhooks may point.
    egress: Arc<EgressPolicy>,
}

impl NotificationApi {
    /// The API over `store`.
    pub fn new(store: PgStore, signals: Signals, max_attempts: i32, streams: Streams) -> Self {
        Self {
            store,
            signals,
            max_attempts,
            poll: Duration::from_secs(1),
            inbox_hub: Hub::new("inbox"),
            streams,
            egress: Arc::default(),
        }
    }

    /// Webhooks may point only where `egress` permits (public addresses
    /// only, without this).
    pub fn with_egress(mut self, egress: Arc<EgressPolicy>) -> Self {
        self.egress = egress;
        self
    }
}

/// Failures of API calls.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad input.
    #[error("invalid request: {0}")]
    Invalid(#[from] Violations),
    /// Unknown resource.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Stale version.
    #[error("version conflict: the stored version is {0}")]
    Conflict(i64),
    /// Not allowed.
    #[error("{0}")]
    Denied(&'static str),
    /// The database is unreachable or overloaded; retrying may work.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl DomainError for ApiError {
    fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Invalid(_) => ErrorKind::InvalidArgument,
            ApiError::NotFound(_) => ErrorKind::NotFound,
            ApiError::Conflict(_) => ErrorKind::Aborted,
            ApiError::Denied(_) => ErrorKind::PermissionDenied,
            ApiError::Unavailable(_) => ErrorKind::Unavailable,
            ApiError::Internal(_) => ErrorKind::Internal,
        }
    }

    fn violations(&self) -> &[FieldViolation] {
        match self {
            ApiError::Invalid(v) => &v.0,
            _ => &[],
        }
    }
}

impl ApiError {
    fn from_store(e: StoreError, what: &'static str) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound(what),
            StoreError::Conflict(v) => ApiError::Conflict(v),
            StoreError::Db(e) => match switchboard_runtime::classify_db(&e) {
                switchboard_runtime::DbErrorClass::Unavailable => {
                    ApiError::Unavailable(e.to_string())
                }
                _ => ApiError::Internal(e.to_string()),
            },
        }
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        to_status(&e)
    }
}

/// A single-field violation.
pub(crate) fn invalid(field: &str, description: &str) -> ApiError {
    let mut v = Violations::default();
    v.add(field, description);
    ApiError::Invalid(v)
}

/// The inboxes `caller` reads: their own, and the supervisors' for
/// supervisors and admins; none for customers.
pub(crate) fn inboxes(caller: &Caller) -> Vec<String> {
    // In-app notifications are for staff only (see `domain::may_read_in_app`);
    // a customer whose token names the same user id as an agent's still
    // reads none of them.
    if !caller.role.is_staff() {
        return Vec::new();
    }
    let mut out = vec![caller.user.clone()];
    if matches!(caller.role, Role::Supervisor | Role::Admin) {
        out.push(SUPERVISORS_INBOX.to_owned());
    }
    out
}

pub(crate) fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::Denied(
            "only tenant admins manage webhooks, templates and notification rules",
        ))
    }
}

pub(crate) fn require_staff(caller: &Caller) -> Result<(), ApiError> {
    if caller.role.is_staff() {
        Ok(())
    } else {
        Err(ApiError::Denied("customers cannot read templates"))
    }
}

type Res<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl NotificationService for NotificationApi {
    type SubscribeStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<pb::Notification, Status>> + Send>,
    >;

    async fn list_notifications(
        &self,
        r: Request<pb::ListNotificationsRequest>,
    ) -> Res<pb::ListNotificationsResponse> {
        self.list_notifications_impl(r).await
    }

    async fn get_unread_count(
        &self,
        r: Request<pb::GetUnreadCountRequest>,
    ) -> Res<pb::GetUnreadCountResponse> {
        self.get_unread_count_impl(r).await
    }

    async fn mark_read(&self, r: Request<pb::MarkReadRequest>) -> Res<pb::MarkReadResponse> {
        self.mark_read_impl(r).await
    }

    async fn subscribe(&self, r: Request<pb::SubscribeRequest>) -> Res<Self::SubscribeStream> {
        self.subscribe_impl(r).await
    }

    async fn create_webhook(&self, r: Request<pb::CreateWebhookRequest>) -> Res<pb::Webhook> {
        self.create_webhook_impl(r).await
    }

    async fn get_webhook(&self, r: Request<pb::GetWebhookRequest>) -> Res<pb::Webhook> {
        self.get_webhook_impl(r).await
    }

    async fn list_webhooks(
        &self,
        r: Request<pb::ListWebhooksRequest>,
    ) -> Res<pb::ListWebhooksResponse> {
        self.list_webhooks_impl(r).await
    }

    async fn update_webhook(&self, r: Request<pb::UpdateWebhookRequest>) -> Res<pb::Webhook> {
        self.update_webhook_impl(r).await
    }

    async fn delete_webhook(&self, r: Request<pb::DeleteWebhookRequest>) -> Res<()> {
        self.delete_webhook_impl(r).await
    }

    async fn list_deliveries(
        &self,
        r: Request<pb::ListDeliveriesRequest>,
    ) -> Res<pb::ListDeliveriesResponse> {
        self.list_deliveries_impl(r).await
    }

    async fn redeliver_delivery(
        &self,
        r: Request<pb::RedeliverDeliveryRequest>,
    ) -> Res<pb::Delivery> {
        self.redeliver_delivery_impl(r).await
    }

    async fn get_template(&self, r: Request<pb::GetTemplateRequest>) -> Res<pb::Template> {
        self.get_template_impl(r).await
    }

    async fn update_template(&self, r: Request<pb::UpdateTemplateRequest>) -> Res<pb::Template> {
        self.update_template_impl(r).await
    }

    async fn get_preferences(&self, r: Request<pb::GetPreferencesRequest>) -> Res<pb::Preferences> {
        self.get_preferences_impl(r).await
    }

    async fn update_preferences(
        &self,
        r: Request<pb::UpdatePreferencesRequest>,
    ) -> Res<pb::Preferences> {
        self.update_preferences_impl(r).await
    }

    async fn get_notification_rules(
        &self,
        r: Request<pb::GetNotificationRulesRequest>,
    ) -> Res<pb::NotificationRules> {
        self.get_notification_rules_impl(r).await
    }

    async fn update_notification_rules(
        &self,
        r: Request<pb::UpdateNotificationRulesRequest>,
    ) -> Res<pb::NotificationRules> {
        self.update_notification_rules_impl(r).await
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn a_database_outage_is_unavailable_without_its_cause() {
        let refused = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connect to db.internal:5432 refused",
        );
        for outage in [sqlx::Error::PoolTimedOut, sqlx::Error::Io(refused)] {
            let status = Status::from(ApiError::from_store(StoreError::Db(outage), "rule"));
            assert_eq!(status.code(), tonic::Code::Unavailable);
            assert!(
                !status.message().contains("db.internal"),
                "{}",
                status.message()
            );
            assert!(!status.message().contains("pool"), "{}", status.message());
        }
        let bug = Status::from(ApiError::from_store(
            StoreError::Db(sqlx::Error::RowNotFound),
            "rule",
        ));
        assert_eq!(bug.code(), tonic::Code::Internal);
    }
}
