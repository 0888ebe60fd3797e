//! The notification service. Its v1 contract is a draft for issue #6; until that lands
//! every call answers UNIMPLEMENTED (after authentication), while the service
//! already serves health and reflection in any process shape.

use switchboard_proto::notification::v1::{
    self as pb,
    notification_service_server::{self, NotificationService, NotificationServiceServer},
};
use switchboard_runtime::App;
use tonic::{Request, Response, Status};

/// The service's configuration name.
pub const SERVICE: &str = "notification";

/// The gRPC service name, as health and reflection report it.
pub const GRPC_NAME: &str = notification_service_server::SERVICE_NAME;

/// Adds the notification service to `app`; with no dependencies yet, it is ready
/// as soon as the process serves.
pub fn mount(app: &mut App) {
    let server = NotificationServiceServer::new(NotificationApi)
        .max_decoding_message_size(app.settings().grpc.max_message_bytes);
    app.add_authenticated(server);
}

fn not_yet(method: &str) -> Status {
    Status::unimplemented(format!(
        "notification.{method} is not implemented yet (issue #6)"
    ))
}

/// The draft `NotificationService`.
#[derive(Debug, Clone, Copy)]
pub struct NotificationApi;

#[tonic::async_trait]
impl NotificationService for NotificationApi {
    type SubscribeStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<pb::Notification, Status>> + Send>,
    >;

    async fn list_notifications(
        &self,
        _: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        Err(not_yet("ListNotifications"))
    }

    async fn mark_read(
        &self,
        _: Request<pb::MarkReadRequest>,
    ) -> Result<Response<pb::MarkReadResponse>, Status> {
        Err(not_yet("MarkRead"))
    }

    async fn subscribe(
        &self,
        _: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        Err(not_yet("Subscribe"))
    }
}
