//! The knowledge store on PostgreSQL: every change writes the article, its
//! version row and its event (outbox) in one transaction.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};
use switchboard_events::{EventBuilder, Payload, outbox};
use switchboard_proto::events::v1 as ev;
use switchboard_runtime::TenantId;
use tokio::sync::Notify;
use uuid::Uuid;

use super::{Editor, IndexRow, KnowledgeStore, ListCursor, ListFilter};
use crate::{
    convert,
    domain::{
        Announce, Article, Category, Content, Feedback, KnowledgeError, Op, Request, Status,
        Version, apply, error::invalid,
    },
};

const ARTICLE_COLUMNS: &str = "id, version, revision, status, title, summary, body, locale, tags, \
     category_id, internal, promoted, translation_set, author, updated_by, created_at, \
     updated_at, published_at, helpful, not_helpful, views";

/// The aggregate type of article events.
const AGGREGATE: &str = "article";

/// PostgreSQL-backed [`KnowledgeStore`].
#[derive(Debug, Clone)]
pub struct PgKnowledgeStore {
    pool: PgPool,
    relay: Option<Arc<Notify>>,
}

impl PgKnowledgeStore {
    /// A store on `pool` (whose search path is the knowledge schema).
    pub fn new(pool: PgPool) -> Self {
        Self { pool, relay: None }
    }

    /// Wakes the outbox relay after each commit, so events leave at once
    /// rather than at its next poll.
    pub fn with_relay_waker(mut self, relay: Arc<Notify>) -> Self {
        self.relay = Some(relay);
        self
    }

    /// The pool, for the event consumer.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn wake_relay(&self) {
        if let Some(relay) = &self.relay {
            relay.notify_one();
        }
    }
}

fn article_from(row: &PgRow) -> Result<Article, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(Article {
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        revision: row.try_get("revision")?,
        status: Status::parse(&status).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "status".into(),
            source: format!("unknown status {status}").into(),
        })?,
        content: content_from(row)?,
        translation_set: row.try_get("translation_set")?,
        author: row.try_get("author")?,
        updated_by: row.try_get("updated_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        published_at: row.try_get("published_at")?,
        feedback: Feedback {
            helpful: row.try_get("helpful")?,
            not_helpful: row.try_get("not_helpful")?,
            views: row.try_get("views")?,
        },
    })
}

fn content_from(row: &PgRow) -> Result<Content, sqlx::Error> {
    Ok(Content {
        title: row.try_get("title")?,
        summary: row.try_get("summary")?,
        body: row.try_get("body")?,
        locale: row.try_get("locale")?,
        tags: row.try_get("tags")?,
        category: row.try_get("category_id")?,
        internal: row.try_get("internal")?,
        promoted: row.try_get("promoted")?,
    })
}

fn category_from(row: &PgRow) -> Result<Category, sqlx::Error> {
    Ok(Category {
        id: row.try_get("id")?,
        parent: row.try_get("parent_id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        position: row.try_get("position")?,
    })
}

/// Foreign-key and uniqueness failures are the caller's mistakes, not ours.
fn constraint_error(e: sqlx::Error) -> KnowledgeError {
    if let Some(db) = e.as_database_error() {
        match db.constraint() {
            Some("articles_tenant_category_id_fkey" | "categories_tenant_parent_id_fkey") => {
                return invalid("category", "no such category");
            }
            Some("articles_tenant_translation_set_locale_key") => {
                return KnowledgeError::AlreadyExists(
                    "the translation set already has an article in this locale".into(),
                );
            }
            _ => {}
        }
    }
    e.into()
}

async fn insert_version(
    conn: &mut PgConnection,
    tenant: &TenantId,
    article: &Article,
    changed: &[&str],
    restored_from: Option<i64>,
) -> Result<(), sqlx::Error> {
    let c = &article.content;
    sqlx::query(
        "INSERT INTO article_versions (tenant, article_id, version, status, title, summary, body, \
         locale, tags, category_id, internal, promoted, changed_fields, restored_from, author, \
         created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
    )
    .bind(tenant.as_str())
    .bind(article.id)
    .bind(article.version)
    .bind(article.status.as_str())
    .bind(&c.title)
    .bind(&c.summary)
    .bind(&c.body)
    .bind(&c.locale)
    .bind(&c.tags)
    .bind(c.category)
    .bind(c.internal)
    .bind(c.promoted)
    .bind(changed)
    .bind(restored_from)
    .bind(&article.updated_by)
    .bind(article.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn emit(
    conn: &mut PgConnection,
    tenant: &TenantId,
    article: &Article,
    editor: &Editor,
    event: &'static str,
    payload: Payload,
) -> Result<(), sqlx::Error> {
    let envelope = EventBuilder::new(tenant, AGGREGATE, article.id.to_string(), article.version)
        .actor(editor.actor.clone())
        .build(event, payload);
    outbox::append(conn, &envelope).await
}

async fn lock(
    conn: &mut PgConnection,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Article, KnowledgeError> {
    let row = sqlx::query(&format!(
        "SELECT {ARTICLE_COLUMNS} FROM articles WHERE tenant = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant.as_str())
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| KnowledgeError::NotFound(convert::article_name(id)))?;
    Ok(article_from(&row)?)
}

#[async_trait]
impl KnowledgeStore for PgKnowledgeStore {
    async fn create(
        &self,
        tenant: &TenantId,
        content: Content,
        translation_of: Option<Uuid>,
        editor: &Editor,
    ) -> Result<Article, KnowledgeError> {
        let content = content.normalized()?;
        let mut tx = self.pool.begin().await?;
        let translation_set = match translation_of {
            None => Uuid::now_v7(),
            Some(source) => sqlx::query_scalar(
                "SELECT translation_set FROM articles WHERE tenant = $1 AND id = $2",
            )
            .bind(tenant.as_str())
            .bind(source)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| invalid("translation_of", "no such article"))?,
        };
        let now = Utc::now();
        let c = &content;
        let row = sqlx::query(&format!(
            "INSERT INTO articles (tenant, id, version, status, title, summary, body, locale, tags, \
             category_id, internal, promoted, translation_set, author, updated_by, created_at, \
             updated_at) VALUES ($1,$2,1,'draft',$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$12,$13,$13) \
             RETURNING {ARTICLE_COLUMNS}"
        ))
        .bind(tenant.as_str())
        .bind(Uuid::now_v7())
        .bind(&c.title)
        .bind(&c.summary)
        .bind(&c.body)
        .bind(&c.locale)
        .bind(&c.tags)
        .bind(c.category)
        .bind(c.internal)
        .bind(c.promoted)
        .bind(translation_set)
        .bind(&editor.user)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(constraint_error)?;
        let article = article_from(&row)?;
        insert_version(&mut tx, tenant, &article, &ALL_FIELDS, None).await?;
        let payload = Payload::ArticleCreated(ev::ArticleCreated {
            article: Some(convert::article_header(&article)),
        });
        emit(&mut tx, tenant, &article, editor, "created", payload).await?;
        tx.commit().await?;
        self.wake_relay();
        Ok(article)
    }

    async fn get(&self, tenant: &TenantId, id: Uuid) -> Result<Option<Article>, KnowledgeError> {
        let row = sqlx::query(&format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles WHERE tenant = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(article_from).transpose()?)
    }

    async fn translations(
        &self,
        tenant: &TenantId,
        article: &Article,
    ) -> Result<Vec<Article>, KnowledgeError> {
        let rows = sqlx::query(&format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles \
             WHERE tenant = $1 AND translation_set = $2 AND id <> $3 ORDER BY locale"
        ))
        .bind(tenant.as_str())
        .bind(article.translation_set)
        .bind(article.id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(article_from).collect::<Result<_, _>>()?)
    }

    async fn list(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        after: Option<ListCursor>,
        limit: i64,
    ) -> Result<Vec<Article>, KnowledgeError> {
        let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        let (after_time, after_id) = after.unzip();
        let rows = sqlx::query(&format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles a
             WHERE tenant = $1
               AND ($2::text IS NULL OR locale = $2)
               AND ($3::uuid IS NULL OR category_id = $3 OR category_id IN
                    (SELECT id FROM categories c WHERE c.tenant = $1 AND c.parent_id = $3))
               AND (cardinality($4::text[]) = 0 OR status = ANY($4))
               AND tags @> $5
               AND (NOT $6 OR (status = 'published' AND NOT internal))
               AND ($7::timestamptz IS NULL OR (updated_at, id) < ($7, $8))
             ORDER BY updated_at DESC, id DESC
             LIMIT $9"
        ))
        .bind(tenant.as_str())
        .bind(filter.locale.as_deref())
        .bind(filter.category)
        .bind(&statuses)
        .bind(&filter.tags)
        .bind(filter.customer_visible)
        .bind(after_time)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(article_from).collect::<Result<_, _>>()?)
    }

    async fn change(
        &self,
        tenant: &TenantId,
        id: Uuid,
        request: Request,
        expected_version: Option<i64>,
        editor: &Editor,
    ) -> Result<Article, KnowledgeError> {
        let mut tx = self.pool.begin().await?;
        let current = lock(&mut tx, tenant, id).await?;
        let op = match request {
            Request::Edit(patch) => Op::Edit(patch.apply_to(&current.content)),
            Request::Publish => Op::Publish,
            Request::Archive => Op::Archive,
            Request::Restore(version) => {
                let row = sqlx::query(
                    "SELECT title, summary, body, locale, tags, category_id, internal, promoted \
                     FROM article_versions WHERE tenant = $1 AND article_id = $2 AND version = $3",
                )
                .bind(tenant.as_str())
                .bind(id)
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| {
                    KnowledgeError::NotFound(format!(
                        "{}/versions/{version}",
                        convert::article_name(id)
                    ))
                })?;
                Op::Restore {
                    version,
                    content: content_from(&row)?,
                }
            }
        };
        let Some(change) = apply(&current, op, expected_version, &editor.user, Utc::now())? else {
            return Ok(current);
        };
        let next = &change.article;
        let c = &next.content;
        let row = sqlx::query(&format!(
            "UPDATE articles SET version = $3, revision = nextval('article_revisions'), \
             status = $4, title = $5, summary = $6, body = $7, locale = $8, tags = $9, \
             category_id = $10, internal = $11, promoted = $12, updated_by = $13, \
             updated_at = $14, published_at = $15 WHERE tenant = $1 AND id = $2 \
             RETURNING {ARTICLE_COLUMNS}"
        ))
        .bind(tenant.as_str())
        .bind(id)
        .bind(next.version)
        .bind(next.status.as_str())
        .bind(&c.title)
        .bind(&c.summary)
        .bind(&c.body)
        .bind(&c.locale)
        .bind(&c.tags)
        .bind(c.category)
        .bind(c.internal)
        .bind(c.promoted)
        .bind(&next.updated_by)
        .bind(next.updated_at)
        .bind(next.published_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(constraint_error)?;
        let article = article_from(&row)?;
        insert_version(
            &mut tx,
            tenant,
            &article,
            &change.changed,
            change.restored_from,
        )
        .await?;
        let header = Some(convert::article_header(&article));
        let (event, payload) = match change.announce {
            Announce::Updated => (
                "updated",
                Payload::ArticleUpdated(ev::ArticleUpdated {
                    article: header,
                    changed_fields: change.changed.iter().map(|f| f.to_string()).collect(),
                }),
            ),
            Announce::Published => (
                "published",
                Payload::ArticlePublished(ev::ArticlePublished { article: header }),
            ),
            Announce::Archived => (
                "archived",
                Payload::ArticleArchived(ev::ArticleArchived { article: header }),
            ),
        };
        emit(&mut tx, tenant, &article, editor, event, payload).await?;
        tx.commit().await?;
        self.wake_relay();
        Ok(article)
    }

    async fn versions(
        &self,
        tenant: &TenantId,
        id: Uuid,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Version>, KnowledgeError> {
        let rows = sqlx::query(
            "SELECT version, status, title, summary, body, locale, tags, category_id, internal, \
             promoted, changed_fields, restored_from, author, created_at FROM article_versions \
             WHERE tenant = $1 AND article_id = $2 AND version < $3 \
             ORDER BY version DESC LIMIT $4",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status")?;
                Ok(Version {
                    version: row.try_get("version")?,
                    status: Status::parse(&status).unwrap_or(Status::Draft),
                    content: content_from(row)?,
                    changed_fields: row.try_get("changed_fields")?,
                    restored_from: row.try_get("restored_from")?,
                    author: row.try_get("author")?,
                    created_at: row.try_get::<DateTime<Utc>, _>("created_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    async fn vote(
        &self,
        tenant: &TenantId,
        id: Uuid,
        editor: &Editor,
        helpful: bool,
    ) -> Result<(Article, Option<bool>), KnowledgeError> {
        let mut tx = self.pool.begin().await?;
        let current = lock(&mut tx, tenant, id).await?;
        let previous: Option<bool> = sqlx::query_scalar(
            "SELECT helpful FROM article_votes WHERE tenant = $1 AND article_id = $2 AND user_id = $3",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(&editor.user)
        .fetch_optional(&mut *tx)
        .await?;
        if previous == Some(helpful) {
            return Ok((current, previous));
        }
        sqlx::query(
            "INSERT INTO article_votes (tenant, article_id, user_id, helpful, voted_at) \
             VALUES ($1, $2, $3, $4, now()) ON CONFLICT (tenant, article_id, user_id) \
             DO UPDATE SET helpful = EXCLUDED.helpful, voted_at = EXCLUDED.voted_at",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(&editor.user)
        .bind(helpful)
        .execute(&mut *tx)
        .await?;
        let delta = |yes: bool| i64::from(helpful == yes) - i64::from(previous == Some(yes));
        let row = sqlx::query(&format!(
            "UPDATE articles SET helpful = helpful + $3, not_helpful = not_helpful + $4, \
             revision = nextval('article_revisions') WHERE tenant = $1 AND id = $2 \
             RETURNING {ARTICLE_COLUMNS}"
        ))
        .bind(tenant.as_str())
        .bind(id)
        .bind(delta(true))
        .bind(delta(false))
        .fetch_one(&mut *tx)
        .await?;
        let article = article_from(&row)?;
        let payload = Payload::ArticleVoted(ev::ArticleVoted {
            article: convert::article_name(id),
            vote: convert::vote(Some(helpful)) as i32,
            previous: convert::vote(previous) as i32,
            voter: editor.user.clone(),
            helpful: article.feedback.helpful,
            not_helpful: article.feedback.not_helpful,
        });
        emit(&mut tx, tenant, &article, editor, "voted", payload).await?;
        tx.commit().await?;
        self.wake_relay();
        Ok((article, previous))
    }

    async fn my_vote(
        &self,
        tenant: &TenantId,
        id: Uuid,
        user: &str,
    ) -> Result<Option<bool>, KnowledgeError> {
        Ok(sqlx::query_scalar(
            "SELECT helpful FROM article_votes WHERE tenant = $1 AND article_id = $2 AND user_id = $3",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(user)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn record_view(
        &self,
        tenant: &TenantId,
        article: &Article,
        editor: &Editor,
    ) -> Result<(), KnowledgeError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE articles SET views = views + 1 WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(article.id)
            .execute(&mut *tx)
            .await?;
        let payload = Payload::ArticleViewed(ev::ArticleViewed {
            article: convert::article_name(article.id),
            locale: article.content.locale.clone(),
            viewer: editor.user.clone(),
        });
        emit(&mut tx, tenant, article, editor, "viewed", payload).await?;
        tx.commit().await?;
        self.wake_relay();
        Ok(())
    }

    async fn create_category(
        &self,
        tenant: &TenantId,
        category: Category,
    ) -> Result<Category, KnowledgeError> {
        let mut tx = self.pool.begin().await?;
        if let Some(parent) = category.parent {
            let grandparent: Option<Option<Uuid>> = sqlx::query_scalar(
                "SELECT parent_id FROM categories WHERE tenant = $1 AND id = $2",
            )
            .bind(tenant.as_str())
            .bind(parent)
            .fetch_optional(&mut *tx)
            .await?;
            match grandparent {
                None => return Err(invalid("category.parent", "no such category")),
                Some(Some(_)) => {
                    return Err(invalid(
                        "category.parent",
                        "is a section; sections do not nest",
                    ));
                }
                Some(None) => {}
            }
        }
        let row = sqlx::query(
            "INSERT INTO categories (tenant, id, parent_id, title, description, position) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING id, parent_id, title, description, position",
        )
        .bind(tenant.as_str())
        .bind(category.id)
        .bind(category.parent)
        .bind(&category.title)
        .bind(&category.description)
        .bind(category.position)
        .fetch_one(&mut *tx)
        .await
        .map_err(constraint_error)?;
        tx.commit().await?;
        Ok(category_from(&row)?)
    }

    async fn category(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> Result<Option<Category>, KnowledgeError> {
        let row = sqlx::query(
            "SELECT id, parent_id, title, description, position FROM categories \
             WHERE tenant = $1 AND id = $2",
        )
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(category_from).transpose()?)
    }

    async fn categories(&self, tenant: &TenantId) -> Result<Vec<Category>, KnowledgeError> {
        let rows = sqlx::query(
            "SELECT id, parent_id, title, description, position FROM categories \
             WHERE tenant = $1 ORDER BY parent_id NULLS FIRST, position, title, id",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(category_from).collect::<Result<_, _>>()?)
    }

    async fn index_rows(&self) -> Result<Vec<IndexRow>, KnowledgeError> {
        let rows = sqlx::query(&format!(
            "SELECT a.tenant, c.parent_id AS category_parent, {} FROM articles a \
             LEFT JOIN categories c ON c.tenant = a.tenant AND c.id = a.category_id",
            qualified("a")
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(index_row_from).collect::<Result<_, _>>()?)
    }

    async fn index_row(&self, tenant: &str, id: Uuid) -> Result<Option<IndexRow>, KnowledgeError> {
        let row = sqlx::query(&format!(
            "SELECT a.tenant, c.parent_id AS category_parent, {} FROM articles a \
             LEFT JOIN categories c ON c.tenant = a.tenant AND c.id = a.category_id \
             WHERE a.tenant = $1 AND a.id = $2",
            qualified("a")
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(index_row_from).transpose()?)
    }
}

/// Every content field, as version 1 changed them all.
const ALL_FIELDS: [&str; 8] = [
    "title",
    "summary",
    "body_markdown",
    "locale",
    "tags",
    "category",
    "internal",
    "promoted",
];

fn qualified(alias: &str) -> String {
    ARTICLE_COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn index_row_from(row: &PgRow) -> Result<IndexRow, sqlx::Error> {
    Ok(IndexRow {
        tenant: row.try_get("tenant")?,
        article: article_from(row)?,
        category_parent: row.try_get("category_parent")?,
    })
}
