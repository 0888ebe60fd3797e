//! The gRPC handlers: decode, authorize, call the store or the index, encode.

use std::sync::Arc;

use switchboard_proto::knowledge::v1::{self as pb, knowledge_service_server::KnowledgeService};
use switchboard_runtime::{Caller, Role, Violations, caller};
use switchboard_search::{Filter, Hit, Status as IndexStatus};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    convert,
    domain::{Category, Content, KnowledgeError, Patch, Request as Change, error::invalid},
    index::{SearchIndex, SearchRequest, domain_status},
    store::{Editor, KnowledgeStore, ListCursor, ListFilter},
};

/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 512;
/// Longest suggestion subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 1000;
/// Largest suggestion description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 16 * 1024;
/// Deepest search page: offsets past this are refused rather than scanned.
pub const MAX_SEARCH_OFFSET: usize = 1000;
/// Most tags in a filter.
const MAX_FILTER_TAGS: usize = 20;

/// What customers may find: published, public articles.
pub fn customer_filter() -> Filter {
    Filter {
        statuses: vec![IndexStatus::Published],
        include_internal: false,
        ..Filter::default()
    }
}

/// The `KnowledgeService` implementation.
#[derive(Clone)]
pub struct KnowledgeApi {
    store: Arc<dyn KnowledgeStore>,
    index: SearchIndex,
}

impl KnowledgeApi {
    /// Handlers over `store`, searching `index`.
    pub fn new(store: Arc<dyn KnowledgeStore>, index: SearchIndex) -> Self {
        Self { store, index }
    }

    /// Updates this replica's index right after a write, so the writer's
    /// next search sees it; other replicas follow the event.
    async fn reindex(&self, caller: &Caller, id: Uuid) {
        if let Err(e) = self
            .index
            .refresh(self.store.as_ref(), caller.tenant.as_str(), id)
            .await
        {
            tracing::warn!(error = %e, article = %id, "index refresh failed; the event follower will retry");
        }
    }

    /// The article, if `caller` may read it; customers get NOT_FOUND for
    /// drafts, archived and internal articles so their existence stays private.
    async fn readable(&self, caller: &Caller, id: Uuid) -> Result<crate::domain::Article, Status> {
        match self.store.get(&caller.tenant, id).await? {
            Some(a) if caller.role.is_staff() || a.customer_visible() => Ok(a),
            _ => Err(KnowledgeError::NotFound(convert::article_name(id)).into()),
        }
    }

    async fn full(
        &self,
        caller: &Caller,
        a: &crate::domain::Article,
    ) -> Result<pb::Article, Status> {
        let mut out = convert::article_full(a);
        out.translations = self
            .store
            .translations(&caller.tenant, a)
            .await?
            .iter()
            .filter(|t| caller.role.is_staff() || t.customer_visible())
            .map(|t| pb::Translation {
                article: convert::article_name(t.id),
                locale: t.content.locale.clone(),
                status: convert::status(t.status) as i32,
            })
            .collect();
        if let Some(feedback) = out.feedback.as_mut() {
            let mine = self
                .store
                .my_vote(&caller.tenant, a.id, &caller.user)
                .await?;
            feedback.my_vote = convert::vote(mine) as i32;
        }
        Ok(out)
    }

    async fn change(
        &self,
        caller: &Caller,
        name: &str,
        change: Change,
        expected_version: i64,
    ) -> Result<Response<pb::Article>, Status> {
        require_staff(caller, "only staff edit articles")?;
        let id = article_id("name", name)?;
        let expected = (expected_version != 0).then_some(expected_version);
        let article = self
            .store
            .change(&caller.tenant, id, change, expected, &editor(caller))
            .await?;
        self.reindex(caller, id).await;
        Ok(Response::new(self.full(caller, &article).await?))
    }

    /// Index filter for `caller`: customers always get published public
    /// articles; staff choose statuses (default published and draft).
    async fn filter_for(
        &self,
        caller: &Caller,
        locale: &str,
        category: &str,
        tags: &[String],
        statuses: &[i32],
    ) -> Result<Filter, Status> {
        let mut v = Violations::default();
        if !locale.is_empty()
            && let Err(reason) = crate::domain::parse_locale(locale)
        {
            v.add("locale", reason);
        }
        if tags.len() > MAX_FILTER_TAGS {
            v.add("tags", format!("at most {MAX_FILTER_TAGS} tags"));
        }
        let statuses = statuses
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match pb::ArticleStatus::try_from(*s) {
                Ok(pb::ArticleStatus::Draft) => Some(IndexStatus::Draft),
                Ok(pb::ArticleStatus::Published) => Some(IndexStatus::Published),
                Ok(pb::ArticleStatus::Archived) => Some(IndexStatus::Archived),
                _ => {
                    v.add(format!("statuses[{i}]"), "must be a known article status");
                    None
                }
            })
            .collect::<Vec<_>>();
        let category = optional_id("category", "categories/", category, &mut v);
        v.into_result(()).map_err(KnowledgeError::from)?;
        let mut filter = if caller.role.is_staff() {
            Filter {
                statuses: if statuses.is_empty() {
                    vec![IndexStatus::Published, IndexStatus::Draft]
                } else {
                    statuses
                },
                include_internal: true,
                ..Filter::default()
            }
        } else {
            customer_filter()
        };
        filter.locale = (!locale.is_empty()).then(|| locale.to_owned());
        filter.tags = tags.to_vec();
        if let Some(id) = category {
            let found = self
                .store
                .category(&caller.tenant, id)
                .await?
                .ok_or_else(|| invalid("category", "no such category"))?;
            if found.parent.is_some() {
                filter.section = Some(id.to_string());
            } else {
                filter.category = Some(id.to_string());
            }
        }
        Ok(filter)
    }
}

fn editor(caller: &Caller) -> Editor {
    Editor {
        user: caller.user.clone(),
        actor: caller.to_actor(),
    }
}

fn start<T>(request: &Request<T>) -> Result<Caller, Status> {
    let caller = caller(request)?.clone();
    tracing::Span::current().record("tenant", caller.tenant.as_str());
    Ok(caller)
}

fn require_staff(caller: &Caller, why: &str) -> Result<(), KnowledgeError> {
    if caller.role.is_staff() {
        Ok(())
    } else {
        Err(KnowledgeError::Forbidden(why.to_owned()))
    }
}

/// Parses `prefix{uuid}`; `field` names it in the error.
fn resource_id(field: &str, prefix: &str, raw: &str) -> Result<Uuid, KnowledgeError> {
    raw.strip_prefix(prefix)
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| invalid(field, format!("must be `{prefix}{{id}}`, got `{raw}`")))
}

fn article_id(field: &str, raw: &str) -> Result<Uuid, KnowledgeError> {
    resource_id(field, "articles/", raw)
}

fn optional_id(field: &str, prefix: &str, raw: &str, v: &mut Violations) -> Option<Uuid> {
    if raw.is_empty() {
        return None;
    }
    match resource_id(field, prefix, raw) {
        Ok(id) => Some(id),
        Err(_) => {
            v.add(field, format!("must be `{prefix}{{id}}`, got `{raw}`"));
            None
        }
    }
}

fn page_size(requested: i32, default: i32, max: i32, v: &mut Violations) -> i64 {
    match requested {
        0 => i64::from(default),
        n if (1..=max).contains(&n) => i64::from(n),
        n => {
            v.add("page_size", format!("is {n}; must be 1 to {max}"));
            i64::from(default)
        }
    }
}

fn list_cursor(token: &str) -> Result<Option<ListCursor>, KnowledgeError> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || invalid("page_token", "is not a token this listing returned");
    let (micros, id) = token.split_once('.').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let time = chrono::DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
    Ok(Some((time, Uuid::parse_str(id).map_err(|_| bad())?)))
}

fn hit(h: &Hit) -> pb::SearchHit {
    let category = h.section.as_ref().or(h.category.as_ref());
    pb::SearchHit {
        article: Some(pb::Article {
            name: convert::article_name(h.id),
            title: h.title.clone(),
            summary: h.summary.clone(),
            locale: h.locale.clone(),
            tags: h.tags.clone(),
            status: convert::status(domain_status(h.status)) as i32,
            category: category
                .map(|c| format!("categories/{c}"))
                .unwrap_or_default(),
            internal: h.internal,
            promoted: h.promoted,
            ..pb::Article::default()
        }),
        score: h.score,
        snippet: h.snippet_html.clone(),
    }
}

#[tonic::async_trait]
impl KnowledgeService for KnowledgeApi {
    async fn create_article(
        &self,
        request: Request<pb::CreateArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let caller = start(&request)?;
        require_staff(&caller, "only staff write articles")?;
        let r = request.into_inner();
        let mut v = Violations::default();
        let category = optional_id("category", "categories/", &r.category, &mut v);
        let translation_of = optional_id("translation_of", "articles/", &r.translation_of, &mut v);
        let content = Content {
            title: r.title,
            summary: r.summary,
            body: r.body_markdown,
            locale: r.locale,
            tags: r.tags,
            category,
            internal: r.internal,
            promoted: r.promoted,
        }
        .normalized();
        // Report the content's violations together with the names'.
        let content = match content {
            Ok(content) => content,
            Err(bad) => {
                v.0.extend(bad.0);
                Content::default()
            }
        };
        v.into_result(()).map_err(KnowledgeError::from)?;
        let article = self
            .store
            .create(&caller.tenant, content, translation_of, &editor(&caller))
            .await?;
        self.reindex(&caller, article.id).await;
        Ok(Response::new(self.full(&caller, &article).await?))
    }

    async fn get_article(
        &self,
        request: Request<pb::GetArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let caller = start(&request)?;
        let r = request.into_inner();
        let id = article_id("name", &r.name)?;
        let mut article = self.readable(&caller, id).await?;
        if r.count_view {
            self.store
                .record_view(&caller.tenant, &article, &editor(&caller))
                .await?;
            article.feedback.views += 1;
        }
        Ok(Response::new(self.full(&caller, &article).await?))
    }

    async fn list_articles(
        &self,
        request: Request<pb::ListArticlesRequest>,
    ) -> Result<Response<pb::ListArticlesResponse>, Status> {
        let caller = start(&request)?;
        let r = request.into_inner();
        let filter = self
            .filter_for(&caller, &r.locale, &r.category, &r.tags, &r.statuses)
            .await?;
        let mut v = Violations::default();
        let limit = page_size(r.page_size, 20, 100, &mut v);
        v.into_result(()).map_err(KnowledgeError::from)?;
        let after = list_cursor(&r.page_token)?;
        let category = filter
            .category
            .as_ref()
            .or(filter.section.as_ref())
            .and_then(|c| Uuid::parse_str(c).ok());
        let statuses = if caller.role.is_staff() && !r.statuses.is_empty() {
            filter.statuses.iter().map(|s| domain_status(*s)).collect()
        } else {
            Vec::new()
        };
        let list = ListFilter {
            locale: filter.locale.clone(),
            category,
            statuses,
            tags: filter.tags.clone(),
            customer_visible: !caller.role.is_staff(),
        };
        let articles = self
            .store
            .list(&caller.tenant, &list, after, limit + 1)
            .await?;
        let more = articles.len() as i64 > limit;
        let page: Vec<_> = articles.into_iter().take(limit as usize).collect();
        let next_page_token = match page.last() {
            Some(last) if more => format!("{}.{}", last.updated_at.timestamp_micros(), last.id),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListArticlesResponse {
            articles: page.iter().map(convert::article_header).collect(),
            next_page_token,
        }))
    }

    async fn update_article(
        &self,
        request: Request<pb::UpdateArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let caller = start(&request)?;
        let r = request.into_inner();
        let article = r.article.unwrap_or_default();
        let paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
        let mut v = Violations::default();
        if paths.is_empty() {
            v.add("update_mask", "name at least one field to change");
        }
        let mut patch = Patch::default();
        for path in &paths {
            match path.as_str() {
                "title" => patch.title = Some(article.title.clone()),
                "summary" => patch.summary = Some(article.summary.clone()),
                "body_markdown" => patch.body = Some(article.body_markdown.clone()),
                "locale" => patch.locale = Some(article.locale.clone()),
                "tags" => patch.tags = Some(article.tags.clone()),
                "category" => {
                    patch.category = Some(optional_id(
                        "article.category",
                        "categories/",
                        &article.category,
                        &mut v,
                    ))
                }
                "internal" => patch.internal = Some(article.internal),
                "promoted" => patch.promoted = Some(article.promoted),
                other => v.add(
                    "update_mask",
                    format!(
                        "`{other}` is not editable; use title, summary, body_markdown, locale, tags, category, internal or promoted"
                    ),
                ),
            }
        }
        v.into_result(()).map_err(KnowledgeError::from)?;
        self.change(
            &caller,
            &article.name,
            Change::Edit(patch),
            r.expected_version,
        )
        .await
    }

    async fn publish_article(
        &self,
        request: Request<pb::ChangeArticleStatusRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let caller = start(&request)?;
        let r = request.into_inner();
        self.change(&caller, &r.name, Change::Publish, r.expected_version)
            .await
    }

    async fn archive_article(
        &self,
        request: Request<pb::ChangeArticleStatusRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let caller = start(&request)?;
        let r = request.into_inner();
        self.change(&caller, &r.name, Change::Archive, r.expected_version)
            .await
    }

    async fn list_article_versions(
        &self,
        request: Request<pb::ListArticleVersionsRequest>,
    ) -> Result<Response<pb::ListArticleVersionsResponse>, Status> {
        let caller = start(&request)?;
        require_staff(&caller, "only staff see article history")?;
        let r = request.into_inner();
        let id = article_id("name", &r.name)?;
        let mut v = Violations::default();
        let limit = page_size(r.page_size, 20, 100, &mut v);
        let before = match r.page_token.as_str() {
            "" => None,
            token => match token.parse::<i64>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    v.add("page_token", "is not a token this listing returned");
                    None
                }
            },
        };
        v.into_result(()).map_err(KnowledgeError::from)?;
        self.readable(&caller, id).await?;
        let versions = self
            .store
            .versions(&caller.tenant, id, before, limit + 1)
            .await?;
        let more = versions.len() as i64 > limit;
        let page: Vec<_> = versions.into_iter().take(limit as usize).collect();
        let next_page_token = match page.last() {
            Some(last) if more => last.version.to_string(),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListArticleVersionsResponse {
            versions: page.iter().map(|ver| convert::version(id, ver)).collect(),
            next_page_token,
        }))
    }

    async fn restore_article_version(
        &self,
        request: Request<pb::RestoreArticleVersionRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        let caller = start(&request)?;
        let r = request.into_inner();
        if r.version < 1 {
            return Err(invalid("version", "must be an earlier version number (1 or more)").into());
        }
        self.change(
            &caller,
            &r.name,
            Change::Restore(r.version),
            r.expected_version,
        )
        .await
    }

    async fn create_category(
        &self,
        request: Request<pb::CreateCategoryRequest>,
    ) -> Result<Response<pb::Category>, Status> {
        let caller = start(&request)?;
        if !matches!(caller.role, Role::Supervisor | Role::Admin) {
            return Err(KnowledgeError::Forbidden(
                "only supervisors and admins organize categories".into(),
            )
            .into());
        }
        let c = request.into_inner().category.unwrap_or_default();
        let mut v = Violations::default();
        let title = c.title.trim().to_owned();
        if title.is_empty() || title.chars().count() > 100 {
            v.add("category.title", "must be 1 to 100 characters");
        }
        if c.description.chars().count() > 1000 {
            v.add("category.description", "at most 1000 characters");
        }
        let parent = optional_id("category.parent", "categories/", &c.parent, &mut v);
        v.into_result(()).map_err(KnowledgeError::from)?;
        let created = self
            .store
            .create_category(
                &caller.tenant,
                Category {
                    id: Uuid::now_v7(),
                    parent,
                    title,
                    description: c.description,
                    position: c.position,
                },
            )
            .await?;
        Ok(Response::new(convert::category(&created)))
    }

    async fn list_categories(
        &self,
        request: Request<pb::ListCategoriesRequest>,
    ) -> Result<Response<pb::ListCategoriesResponse>, Status> {
        let caller = start(&request)?;
        let categories = self.store.categories(&caller.tenant).await?;
        Ok(Response::new(pb::ListCategoriesResponse {
            categories: categories.iter().map(convert::category).collect(),
        }))
    }

    async fn search_articles(
        &self,
        request: Request<pb::SearchArticlesRequest>,
    ) -> Result<Response<pb::SearchArticlesResponse>, Status> {
        let caller = start(&request)?;
        let r = request.into_inner();
        let filter = self
            .filter_for(&caller, &r.locale, &r.category, &r.tags, &r.statuses)
            .await?;
        let mut v = Violations::default();
        let chars = r.query.chars().count();
        if chars > MAX_QUERY_CHARS {
            v.add(
                "query",
                format!("is {chars} characters; at most {MAX_QUERY_CHARS}"),
            );
        }
        let limit = page_size(r.page_size, 10, 50, &mut v) as usize;
        let offset = match r.page_token.as_str() {
            "" => 0,
            token => match token.parse::<usize>() {
                Ok(n) if n <= MAX_SEARCH_OFFSET => n,
                _ => {
                    v.add(
                        "page_token",
                        format!("is not a token this search returned (results stop at {MAX_SEARCH_OFFSET})"),
                    );
                    0
                }
            },
        };
        v.into_result(()).map_err(KnowledgeError::from)?;
        let page = self
            .index
            .search(SearchRequest {
                tenant: caller.tenant.as_str().to_owned(),
                text: r.query,
                suggest: false,
                filter,
                offset,
                limit,
            })
            .await?;
        let next = offset + page.hits.len();
        let next_page_token =
            if next < page.total && next <= MAX_SEARCH_OFFSET && !page.hits.is_empty() {
                next.to_string()
            } else {
                String::new()
            };
        Ok(Response::new(pb::SearchArticlesResponse {
            hits: page.hits.iter().map(hit).collect(),
            total: page.total.min(i32::MAX as usize) as i32,
            next_page_token,
        }))
    }

    async fn suggest_articles(
        &self,
        request: Request<pb::SuggestArticlesRequest>,
    ) -> Result<Response<pb::SuggestArticlesResponse>, Status> {
        let caller = start(&request)?;
        let r = request.into_inner();
        let mut v = Violations::default();
        if r.subject.chars().count() > MAX_SUBJECT_CHARS {
            v.add("subject", format!("at most {MAX_SUBJECT_CHARS} characters"));
        }
        if r.description.len() > MAX_DESCRIPTION_BYTES {
            v.add(
                "description",
                format!("at most {MAX_DESCRIPTION_BYTES} bytes"),
            );
        }
        if r.subject.trim().is_empty() && r.description.trim().is_empty() {
            v.add("subject", "give a subject or a description to suggest for");
        }
        let limit = match r.limit {
            0 => 3,
            n @ 1..=10 => n as usize,
            n => {
                v.add("limit", format!("is {n}; must be 1 to 10"));
                3
            }
        };
        v.into_result(()).map_err(KnowledgeError::from)?;
        let mut filter = self.filter_for(&caller, &r.locale, "", &[], &[]).await?;
        filter.statuses = vec![IndexStatus::Published];
        let page = self
            .index
            .search(SearchRequest {
                tenant: caller.tenant.as_str().to_owned(),
                text: format!("{}\n{}", r.subject, r.description),
                suggest: true,
                filter,
                offset: 0,
                limit,
            })
            .await?;
        Ok(Response::new(pb::SuggestArticlesResponse {
            hits: page.hits.iter().map(hit).collect(),
        }))
    }

    async fn vote_article(
        &self,
        request: Request<pb::VoteArticleRequest>,
    ) -> Result<Response<pb::ArticleFeedback>, Status> {
        let caller = start(&request)?;
        let r = request.into_inner();
        let id = article_id("name", &r.name)?;
        let helpful = match pb::Vote::try_from(r.vote) {
            Ok(pb::Vote::Helpful) => true,
            Ok(pb::Vote::NotHelpful) => false,
            _ => return Err(invalid("vote", "must be VOTE_HELPFUL or VOTE_NOT_HELPFUL").into()),
        };
        self.readable(&caller, id).await?;
        let (article, _) = self
            .store
            .vote(&caller.tenant, id, &editor(&caller), helpful)
            .await?;
        self.reindex(&caller, id).await;
        Ok(Response::new(pb::ArticleFeedback {
            article: convert::article_name(id),
            helpful: article.feedback.helpful,
            not_helpful: article.feedback.not_helpful,
            views: article.feedback.views,
            my_vote: convert::vote(Some(helpful)) as i32,
        }))
    }
}
