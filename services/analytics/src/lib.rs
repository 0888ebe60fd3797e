//! The analytics service. Its v1 contract is a draft for issue #8; until that lands
//! every call answers UNIMPLEMENTED (after authentication), while the service
//! already serves health and reflection in any process shape.

use switchboard_proto::analytics::v1::{
    self as pb,
    analytics_service_server::{self, AnalyticsService, AnalyticsServiceServer},
};
use switchboard_runtime::App;
use tonic::{Request, Response, Status};

/// The service's configuration name.
pub const SERVICE: &str = "analytics";

/// The gRPC service name, as health and reflection report it.
pub const GRPC_NAME: &str = analytics_service_server::SERVICE_NAME;

/// Adds the analytics service to `app`; with no dependencies yet, it is ready
/// as soon as the process serves.
pub fn mount(app: &mut App) {
    let server = AnalyticsServiceServer::new(AnalyticsApi)
        .max_decoding_message_size(app.settings().grpc.max_message_bytes);
    app.add_authenticated(server);
}

fn not_yet(method: &str) -> Status {
    Status::unimplemented(format!(
        "analytics.{method} is not implemented yet (issue #8)"
    ))
}

/// The draft `AnalyticsService`.
#[derive(Debug, Clone, Copy)]
pub struct AnalyticsApi;

#[tonic::async_trait]
impl AnalyticsService for AnalyticsApi {
    type WatchDashboardStream =
        std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::Dashboard, Status>> + Send>>;

    async fn get_overview(
        &self,
        _: Request<pb::GetOverviewRequest>,
    ) -> Result<Response<pb::Overview>, Status> {
        Err(not_yet("GetOverview"))
    }

    async fn watch_dashboard(
        &self,
        _: Request<pb::WatchDashboardRequest>,
    ) -> Result<Response<Self::WatchDashboardStream>, Status> {
        Err(not_yet("WatchDashboard"))
    }
}
