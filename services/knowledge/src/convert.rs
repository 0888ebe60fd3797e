//! Domain values to their wire shapes.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;
use switchboard_proto::knowledge::v1 as pb;
use uuid::Uuid;

use crate::domain::{Article, Category, Status, Version, markdown};

/// `articles/{id}`.
pub fn article_name(id: Uuid) -> String {
    format!("articles/{id}")
}

/// `categories/{id}`.
pub fn category_name(id: Uuid) -> String {
    format!("categories/{id}")
}

/// A wire timestamp.
pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// The wire status.
pub fn status(s: Status) -> pb::ArticleStatus {
    match s {
        Status::Draft => pb::ArticleStatus::Draft,
        Status::Published => pb::ArticleStatus::Published,
        Status::Archived => pb::ArticleStatus::Archived,
    }
}

/// An article without its body: what listings, search hits and events carry.
pub fn article_header(a: &Article) -> pb::Article {
    pb::Article {
        name: article_name(a.id),
        title: a.content.title.clone(),
        summary: a.content.summary.clone(),
        body_markdown: String::new(),
        body_html: String::new(),
        locale: a.content.locale.clone(),
        tags: a.content.tags.clone(),
        status: status(a.status) as i32,
        category: a.content.category.map(category_name).unwrap_or_default(),
        internal: a.content.internal,
        promoted: a.content.promoted,
        version: a.version,
        author: a.author.clone(),
        updated_by: a.updated_by.clone(),
        create_time: Some(timestamp(a.created_at)),
        update_time: Some(timestamp(a.updated_at)),
        publish_time: a.published_at.map(timestamp),
        translation_set: a.translation_set.to_string(),
        translations: Vec::new(),
        feedback: Some(pb::ArticleFeedback {
            article: article_name(a.id),
            helpful: a.feedback.helpful,
            not_helpful: a.feedback.not_helpful,
            views: a.feedback.views,
            my_vote: pb::Vote::Unspecified as i32,
        }),
    }
}

/// The whole article, body rendered to safe HTML.
pub fn article_full(a: &Article) -> pb::Article {
    pb::Article {
        body_markdown: a.content.body.clone(),
        body_html: markdown::to_safe_html(&a.content.body),
        ..article_header(a)
    }
}

/// A wire version.
pub fn version(article: Uuid, v: &Version) -> pb::ArticleVersion {
    pb::ArticleVersion {
        name: format!("{}/versions/{}", article_name(article), v.version),
        version: v.version,
        title: v.content.title.clone(),
        summary: v.content.summary.clone(),
        body_markdown: v.content.body.clone(),
        tags: v.content.tags.clone(),
        category: v.content.category.map(category_name).unwrap_or_default(),
        locale: v.content.locale.clone(),
        internal: v.content.internal,
        promoted: v.content.promoted,
        changed_fields: v.changed_fields.clone(),
        restored_from: v.restored_from.unwrap_or_default(),
        author: v.author.clone(),
        create_time: Some(timestamp(v.created_at)),
        body_bytes: v.content.body.len() as i64,
    }
}

/// A wire category.
pub fn category(c: &Category) -> pb::Category {
    pb::Category {
        name: category_name(c.id),
        title: c.title.clone(),
        description: c.description.clone(),
        parent: c.parent.map(category_name).unwrap_or_default(),
        position: c.position,
    }
}

/// The wire vote.
pub fn vote(helpful: Option<bool>) -> pb::Vote {
    match helpful {
        None => pb::Vote::Unspecified,
        Some(true) => pb::Vote::Helpful,
        Some(false) => pb::Vote::NotHelpful,
    }
}
