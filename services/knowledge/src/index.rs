//! This replica's search index: the `switchboard-search` index fed from the
//! store. Tantivy is synchronous, so every call runs on the blocking pool.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use switchboard_search::{ArticleDoc, Filter, Index, Mode, Page, Query};
use uuid::Uuid;

use crate::{
    domain::{KnowledgeError, Status, markdown},
    store::{IndexRow, KnowledgeStore},
};

/// What to look for; owned, so it can move to the blocking pool.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The tenant searched.
    pub tenant: String,
    /// The words.
    pub text: String,
    /// Type-ahead search or suggestion from a long text.
    pub suggest: bool,
    /// What may match.
    pub filter: Filter,
    /// Hits skipped.
    pub offset: usize,
    /// Hits returned.
    pub limit: usize,
}

/// The replica's index and whether its first build finished.
#[derive(Clone)]
pub struct SearchIndex {
    index: Index,
    built: Arc<AtomicBool>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("documents", &self.index.len())
            .field("built", &self.is_built())
            .finish()
    }
}

impl SearchIndex {
    /// An empty in-memory index.
    pub fn in_ram() -> Result<Self, KnowledgeError> {
        Ok(Self {
            index: Index::in_ram()?,
            built: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Whether the index holds the database's articles yet.
    pub fn is_built(&self) -> bool {
        self.built.load(Ordering::Acquire)
    }

    /// Replaces the whole index with every article in `store`.
    pub async fn rebuild(&self, store: &dyn KnowledgeStore) -> Result<usize, KnowledgeError> {
        let rows = store.index_rows().await?;
        let index = self.index.clone();
        let count = blocking(move || index.rebuild(rows.iter().map(doc_of))).await??;
        self.built.store(true, Ordering::Release);
        Ok(count)
    }

    /// Brings one article up to date from `store` (a newer revision wins,
    /// so re-reads in any order converge).
    pub async fn refresh(
        &self,
        store: &dyn KnowledgeStore,
        tenant: &str,
        id: Uuid,
    ) -> Result<(), KnowledgeError> {
        let row = store.index_row(tenant, id).await?;
        let index = self.index.clone();
        let tenant = tenant.to_owned();
        blocking(move || match row {
            Some(row) => index.upsert(doc_of(&row)).map(drop),
            None => index.remove(&tenant, id),
        })
        .await??;
        Ok(())
    }

    /// Runs a search.
    pub async fn search(&self, request: SearchRequest) -> Result<Page, KnowledgeError> {
        let index = self.index.clone();
        let page = blocking(move || {
            index.search(&Query {
                tenant: &request.tenant,
                text: &request.text,
                mode: if request.suggest {
                    Mode::Suggest
                } else {
                    Mode::Search
                },
                filter: &request.filter,
                offset: request.offset,
                limit: request.limit,
            })
        })
        .await??;
        Ok(page)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, KnowledgeError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| KnowledgeError::Internal(format!("index task: {e}")))
}

/// The index's view of an article: its text without Markdown, and the
/// category as category plus section.
pub fn doc_of(row: &IndexRow) -> ArticleDoc {
    let a = &row.article;
    let (category, section) = match (row.category_parent, a.content.category) {
        (Some(parent), Some(section)) => (Some(parent), Some(section)),
        (None, category) => (category, None),
        (Some(_), None) => (None, None),
    };
    ArticleDoc {
        id: a.id,
        tenant: row.tenant.clone(),
        version: a.revision,
        locale: a.content.locale.clone(),
        title: a.content.title.clone(),
        summary: a.content.summary.clone(),
        body: markdown::to_plain_text(&a.content.body),
        tags: a.content.tags.clone(),
        category: category.map(|c| c.to_string()),
        section: section.map(|s| s.to_string()),
        status: search_status(a.status),
        internal: a.content.internal,
        promoted: a.content.promoted,
        helpful: a.feedback.helpful.clamp(0, i64::from(u32::MAX)) as u32,
        not_helpful: a.feedback.not_helpful.clamp(0, i64::from(u32::MAX)) as u32,
    }
}

/// The index's status.
pub fn search_status(s: Status) -> switchboard_search::Status {
    match s {
        Status::Draft => switchboard_search::Status::Draft,
        Status::Published => switchboard_search::Status::Published,
        Status::Archived => switchboard_search::Status::Archived,
    }
}

/// The domain status of an index hit.
pub fn domain_status(s: switchboard_search::Status) -> Status {
    match s {
        switchboard_search::Status::Draft => Status::Draft,
        switchboard_search::Status::Published => Status::Published,
        switchboard_search::Status::Archived => Status::Archived,
    }
}
