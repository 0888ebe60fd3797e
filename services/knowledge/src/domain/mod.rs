//! The knowledge base's rules, without I/O: what an article is, what a valid
//! one looks like, and what each change does to it.

pub mod change;
pub mod content;
pub mod error;
pub mod markdown;

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use change::{Announce, Change, Op, Patch, Request, apply};
pub use content::{Content, changed_fields, parse_locale};
pub use error::KnowledgeError;

/// Where an article is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Being written; staff only.
    Draft,
    /// Readable by customers unless internal.
    Published,
    /// Withdrawn; staff only.
    Archived,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Published => "published",
            Status::Archived => "archived",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "draft" => Some(Status::Draft),
            "published" => Some(Status::Published),
            "archived" => Some(Status::Archived),
            _ => None,
        }
    }
}

/// An article as stored: its current content and bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    /// Stable id.
    pub id: Uuid,
    /// Increases with every content or status change.
    pub version: i64,
    /// Increases with every change, votes included; orders index updates.
    pub revision: i64,
    /// Lifecycle state.
    pub status: Status,
    /// What readers see.
    pub content: Content,
    /// Shared by every translation of one article.
    pub translation_set: Uuid,
    /// Who created it.
    pub author: String,
    /// Who made the latest version.
    pub updated_by: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Time of the latest version.
    pub updated_at: DateTime<Utc>,
    /// First publication.
    pub published_at: Option<DateTime<Utc>>,
    /// Reader votes and views.
    pub feedback: Feedback,
}

impl Article {
    /// Whether a customer may read it.
    pub fn customer_visible(&self) -> bool {
        self.status == Status::Published && !self.content.internal
    }
}

/// What readers made of an article.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Feedback {
    /// Helpful votes.
    pub helpful: i64,
    /// Not-helpful votes.
    pub not_helpful: i64,
    /// Counted views.
    pub views: i64,
}

/// A category, or a section of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Stable id.
    pub id: Uuid,
    /// The category a section belongs to.
    pub parent: Option<Uuid>,
    /// Display name.
    pub title: String,
    /// Longer text.
    pub description: String,
    /// Order among siblings.
    pub position: i32,
}

/// One recorded version of an article.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    /// Its number.
    pub version: i64,
    /// Status after this version.
    pub status: Status,
    /// Content of this version.
    pub content: Content,
    /// Fields that differ from the previous version.
    pub changed_fields: Vec<String>,
    /// The version it restored, if any.
    pub restored_from: Option<i64>,
    /// Who made it.
    pub author: String,
    /// When.
    pub created_at: DateTime<Utc>,
}
