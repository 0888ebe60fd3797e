//! The knowledge base's full-text index.
//!
//! PostgreSQL stays the source of truth: the knowledge service rebuilds this index from the
//! database at start and upserts every change afterwards. The index is one tantivy index for all
//! tenants; every query is confined to one tenant. Everything here is synchronous and CPU-bound:
//! async callers should wrap calls in `spawn_blocking`.
//!
//! Ranking is BM25 over title (3×), tags (2×), summary (1.5×) and body (1×), with typo tolerance
//! (Levenshtein expansions scored below exact words), type-ahead on the last word of a typed
//! query, and a mild multiplicative boost for promoted and well-rated articles.

mod analysis;
mod fields;
mod index;
mod plan;
mod rank;
mod snippet;
mod stats;

use uuid::Uuid;

pub use index::Index;

/// The largest `offset` a query may ask for; larger offsets are clamped to it.
pub const MAX_OFFSET: usize = 1000;
/// The largest page size; `limit` is clamped to `1..=MAX_LIMIT`.
pub const MAX_LIMIT: usize = 50;
/// How many characters of a `Mode::Search` text are considered.
pub const MAX_SEARCH_CHARS: usize = 512;
/// How many distinct words of a `Mode::Suggest` text are considered.
pub const MAX_SUGGEST_WORDS: usize = 64;

/// The publication status of an article.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Being written; visible to agents only.
    Draft,
    /// Live in the help center.
    Published,
    /// Withdrawn but kept.
    Archived,
}

impl Status {
    /// The lower-case name used in the index and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Published => "published",
            Status::Archived => "archived",
        }
    }

    /// The inverse of [`Status::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(Status::Draft),
            "published" => Some(Status::Published),
            "archived" => Some(Status::Archived),
            _ => None,
        }
    }
}

/// One article as the index sees it.
#[derive(Clone, Debug)]
pub struct ArticleDoc {
    /// The article id (unique within a tenant).
    pub id: Uuid,
    /// The owning tenant.
    pub tenant: String,
    /// Monotonically increasing per article; an older version never overwrites a newer one.
    pub version: i64,
    /// BCP 47 tag such as `en-US`, matched exactly.
    pub locale: String,
    /// The title.
    pub title: String,
    /// A one or two sentence summary.
    pub summary: String,
    /// Plain text body (the caller strips Markdown).
    pub body: String,
    /// Free-form tags; searchable as text and filterable exactly.
    pub tags: Vec<String>,
    /// Opaque category id.
    pub category: Option<String>,
    /// Opaque section id.
    pub section: Option<String>,
    /// Publication status.
    pub status: Status,
    /// Agents-only article.
    pub internal: bool,
    /// Pinned by an editor; ranks slightly higher.
    pub promoted: bool,
    /// "Was this helpful?" yes votes.
    pub helpful: u32,
    /// "Was this helpful?" no votes.
    pub not_helpful: u32,
}

/// How the query text is interpreted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A query typed by a person: typo tolerant, the last word is a prefix (type-ahead), empty
    /// text browses everything the filter allows.
    Search,
    /// A long text (ticket subject and description, draft question): a bag of its words, stop
    /// words dropped, no prefix matching.
    Suggest,
}

/// Restrictions applied on top of the tenant. `Default` restricts nothing except that internal
/// articles are hidden.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Exact locale, if any.
    pub locale: Option<String>,
    /// Exact category id, if any.
    pub category: Option<String>,
    /// Exact section id, if any.
    pub section: Option<String>,
    /// Tags that must all be present (exact match).
    pub tags: Vec<String>,
    /// Allowed statuses; empty allows any.
    pub statuses: Vec<Status>,
    /// Whether agents-only articles may be returned.
    pub include_internal: bool,
}

/// One search request.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    /// The tenant whose articles are searched; nothing else is ever visible.
    pub tenant: &'a str,
    /// The user's text (never parsed as query syntax).
    pub text: &'a str,
    /// How to read `text`.
    pub mode: Mode,
    /// Extra restrictions.
    pub filter: &'a Filter,
    /// Hits to skip, clamped to [`MAX_OFFSET`].
    pub offset: usize,
    /// Page size, clamped to `1..=MAX_LIMIT`.
    pub limit: usize,
}

/// One matching article.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// The article id.
    pub id: Uuid,
    /// Relevance after the promoted/helpfulness boost (browse mode: an ordering key only).
    pub score: f32,
    /// The title.
    pub title: String,
    /// The summary.
    pub summary: String,
    /// The locale.
    pub locale: String,
    /// The tags.
    pub tags: Vec<String>,
    /// The category id.
    pub category: Option<String>,
    /// The section id.
    pub section: Option<String>,
    /// The status.
    pub status: Status,
    /// Agents-only article.
    pub internal: bool,
    /// Promoted article.
    pub promoted: bool,
    /// HTML-escaped excerpt (~160 chars) of the body, or of the summary when the body has no
    /// match, with matches wrapped in `<mark>`…`</mark>`.
    pub snippet_html: String,
}

/// One page of results.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    /// The hits of this page, best first.
    pub hits: Vec<Hit>,
    /// How many articles match in total (for paging).
    pub total: usize,
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// tantivy failed (I/O in its directory, corrupted segment, ...).
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// Preparing the index directory failed.
    #[error("index directory {path}: {source}")]
    Dir {
        /// The directory.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The directory holds something other than a search index; it is not wiped.
    #[error("refusing to wipe {0}: it is neither empty nor a search index")]
    NotAnIndexDir(std::path::PathBuf),
    /// A stored document lacks a field this crate always writes.
    #[error("corrupt index document: {0}")]
    Corrupt(&'static str),
}
