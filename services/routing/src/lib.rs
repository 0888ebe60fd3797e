//! The routing service. Its v1 contract is a draft for issue #5; until that lands
//! every call answers UNIMPLEMENTED (after authentication), while the service
//! already serves health and reflection in any process shape.

use switchboard_proto::routing::v1::{
    self as pb,
    routing_service_server::{self, RoutingService, RoutingServiceServer},
};
use switchboard_runtime::App;
use tonic::{Request, Response, Status};

/// The service's configuration name.
pub const SERVICE: &str = "routing";

/// The gRPC service name, as health and reflection report it.
pub const GRPC_NAME: &str = routing_service_server::SERVICE_NAME;

/// Adds the routing service to `app`; with no dependencies yet, it is ready
/// as soon as the process serves.
pub fn mount(app: &mut App) {
    let server = RoutingServiceServer::new(RoutingApi)
        .max_decoding_message_size(app.settings().grpc.max_message_bytes);
    app.add_authenticated(server);
}

fn not_yet(method: &str) -> Status {
    Status::unimplemented(format!(
        "routing.{method} is not implemented yet (issue #5)"
    ))
}

/// The draft `RoutingService`.
#[derive(Debug, Clone, Copy)]
pub struct RoutingApi;

#[tonic::async_trait]
impl RoutingService for RoutingApi {
    async fn get_agent(
        &self,
        _: Request<pb::GetAgentRequest>,
    ) -> Result<Response<pb::Agent>, Status> {
        Err(not_yet("GetAgent"))
    }

    async fn set_presence(
        &self,
        _: Request<pb::SetPresenceRequest>,
    ) -> Result<Response<pb::Agent>, Status> {
        Err(not_yet("SetPresence"))
    }

    async fn claim_next(
        &self,
        _: Request<pb::ClaimNextRequest>,
    ) -> Result<Response<pb::ClaimNextResponse>, Status> {
        Err(not_yet("ClaimNext"))
    }
}
