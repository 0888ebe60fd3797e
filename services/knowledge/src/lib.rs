//! The knowledge service. Its v1 contract is a draft for issue #7; until that lands
//! every call answers UNIMPLEMENTED (after authentication), while the service
//! already serves health and reflection in any process shape.

use switchboard_proto::knowledge::v1::{
    self as pb,
    knowledge_service_server::{self, KnowledgeService, KnowledgeServiceServer},
};
use switchboard_runtime::App;
use tonic::{Request, Response, Status};

/// The service's configuration name.
pub const SERVICE: &str = "knowledge";

/// The gRPC service name, as health and reflection report it.
pub const GRPC_NAME: &str = knowledge_service_server::SERVICE_NAME;

/// Adds the knowledge service to `app`; with no dependencies yet, it is ready
/// as soon as the process serves.
pub fn mount(app: &mut App) {
    let server = KnowledgeServiceServer::new(KnowledgeApi)
        .max_decoding_message_size(app.settings().grpc.max_message_bytes);
    app.add_authenticated(server);
}

fn not_yet(method: &str) -> Status {
    Status::unimplemented(format!(
        "knowledge.{method} is not implemented yet (issue #7)"
    ))
}

/// The draft `KnowledgeService`.
#[derive(Debug, Clone, Copy)]
pub struct KnowledgeApi;

#[tonic::async_trait]
impl KnowledgeService for KnowledgeApi {
    async fn get_article(
        &self,
        _: Request<pb::GetArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        Err(not_yet("GetArticle"))
    }

    async fn search_articles(
        &self,
        _: Request<pb::SearchArticlesRequest>,
    ) -> Result<Response<pb::SearchArticlesResponse>, Status> {
        Err(not_yet("SearchArticles"))
    }

    async fn suggest_articles(
        &self,
        _: Request<pb::SuggestArticlesRequest>,
    ) -> Result<Response<pb::SearchArticlesResponse>, Status> {
        Err(not_yet("SuggestArticles"))
    }
}
