//! Where articles live: a small trait, so the API and the indexer do not
//! care which database holds them, with PostgreSQL as its implementation.

mod postgres;

use async_trait::async_trait;
use switchboard_proto::common::v1::Actor;
use switchboard_runtime::TenantId;
use uuid::Uuid;

pub use postgres::PgKnowledgeStore;

use crate::domain::{Article, Category, Content, KnowledgeError, Request, Status, Version};

/// Filters of `list`.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this locale.
    pub locale: Option<String>,
    /// Only this category and its sections.
    pub category: Option<Uuid>,
    /// Only these statuses (empty: any).
    pub statuses: Vec<Status>,
    /// Only articles with all of these tags.
    pub tags: Vec<String>,
    /// Only what customers may read.
    pub customer_visible: bool,
}

/// Where a listing continues: the last row's change time and id.
pub type ListCursor = (chrono::DateTime<chrono::Utc>, Uuid);

/// An article with what the index needs besides it.
#[derive(Debug, Clone)]
pub struct IndexRow {
    /// The tenant.
    pub tenant: String,
    /// The article.
    pub article: Article,
    /// Its category's parent, when its category is a section.
    pub category_parent: Option<Uuid>,
}

/// Who did something, for versions and events.
#[derive(Debug, Clone)]
pub struct Editor {
    /// User id.
    pub user: String,
    /// As an event actor.
    pub actor: Actor,
}

/// The knowledge base's storage.
#[async_trait]
pub trait KnowledgeStore: Send + Sync + 'static {
    /// Creates a draft (version 1) with its first version row and
    /// `article.created`, optionally in `translation_of`'s set.
    async fn create(
        &self,
        tenant: &TenantId,
        content: Content,
        translation_of: Option<Uuid>,
        editor: &Editor,
    ) -> Result<Article, KnowledgeError>;

    /// One article.
    async fn get(&self, tenant: &TenantId, id: Uuid) -> Result<Option<Article>, KnowledgeError>;

    /// The other articles of `article`'s translation set.
    async fn translations(
        &self,
        tenant: &TenantId,
        article: &Article,
    ) -> Result<Vec<Article>, KnowledgeError>;

    /// Articles by filter, most recently changed first, after `after`.
    async fn list(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        after: Option<ListCursor>,
        limit: i64,
    ) -> Result<Vec<Article>, KnowledgeError>;

    /// Locks the article, applies the domain's rules, and writes the new
    /// state, a version row and its event in one transaction. Unchanged
    /// requests return the article as it is.
    async fn change(
        &self,
        tenant: &TenantId,
        id: Uuid,
        request: Request,
        expected_version: Option<i64>,
        editor: &Editor,
    ) -> Result<Article, KnowledgeError>;

    /// Versions, newest first, below `before`.
    async fn versions(
        &self,
        tenant: &TenantId,
        id: Uuid,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Version>, KnowledgeError>;

    /// Records `user`'s vote (replacing an earlier one) and emits
    /// `article.voted`; returns the article and the earlier vote.
    async fn vote(
        &self,
        tenant: &TenantId,
        id: Uuid,
        editor: &Editor,
        helpful: bool,
    ) -> Result<(Article, Option<bool>), KnowledgeError>;

    /// `user`'s current vote.
    async fn my_vote(
        &self,
        tenant: &TenantId,
        id: Uuid,
        user: &str,
    ) -> Result<Option<bool>, KnowledgeError>;

    /// Counts a view and emits `article.viewed`.
    async fn record_view(
        &self,
        tenant: &TenantId,
        article: &Article,
        editor: &Editor,
    ) -> Result<(), KnowledgeError>;

    /// Creates a category or section.
    async fn create_category(
        &self,
        tenant: &TenantId,
        category: Category,
    ) -> Result<Category, KnowledgeError>;

    /// One category.
    async fn category(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> Result<Option<Category>, KnowledgeError>;

    /// Every category of the tenant, by position.
    async fn categories(&self, tenant: &TenantId) -> Result<Vec<Category>, KnowledgeError>;

    /// Every article of every tenant, for rebuilding an index.
    async fn index_rows(&self) -> Result<Vec<IndexRow>, KnowledgeError>;

    /// One article, for updating an index.
    async fn index_row(&self, tenant: &str, id: Uuid) -> Result<Option<IndexRow>, KnowledgeError>;
}
