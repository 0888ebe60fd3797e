//! What each change does to an article: a plain function from the current
//! article and the request to the next state, so the store only locks,
//! calls it and writes.

use chrono::{DateTime, Utc};

use super::{Article, Content, KnowledgeError, Status, changed_fields};

/// A requested change.
#[derive(Debug, Clone)]
pub enum Op {
    /// New content (the current content with the masked fields replaced).
    Edit(Content),
    /// Make it readable.
    Publish,
    /// Withdraw it.
    Archive,
    /// Bring back an earlier version's content.
    Restore {
        /// The version restored.
        version: i64,
        /// Its content.
        content: Content,
    },
}

/// Which event a change announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announce {
    /// `article.updated`.
    Updated,
    /// `article.published`.
    Published,
    /// `article.archived`.
    Archived,
}

/// The article after a change, and what to record about it.
#[derive(Debug, Clone)]
pub struct Change {
    /// The new state (version bumped).
    pub article: Article,
    /// Fields that changed, `status` included.
    pub changed: Vec<&'static str>,
    /// Set when restoring.
    pub restored_from: Option<i64>,
    /// The event to emit.
    pub announce: Announce,
}

/// Applies `op` to `current` for `editor` at `now`. `Ok(None)` means the
/// request changes nothing, so no version is recorded.
pub fn apply(
    current: &Article,
    op: Op,
    expected_version: Option<i64>,
    editor: &str,
    now: DateTime<Utc>,
) -> Result<Option<Change>, KnowledgeError> {
    if let Some(expected) = expected_version.filter(|&v| v != current.version) {
        return Err(KnowledgeError::Stale {
            expected,
            actual: current.version,
        });
    }
    let mut next = current.clone();
    let (announce, restored_from) = match op {
        Op::Edit(content) => {
            next.content = content.normalized()?;
            (Announce::Updated, None)
        }
        Op::Restore { version, content } => {
            if version >= current.version {
                return Err(KnowledgeError::Precondition(format!(
                    "version {version} is not an earlier version (the article is at {})",
                    current.version
                )));
            }
            next.content = content;
            (Announce::Updated, Some(version))
        }
        Op::Publish => {
            if current.status == Status::Published {
                return Err(KnowledgeError::Precondition(
                    "the article is already published".into(),
                ));
            }
            next.status = Status::Published;
            next.published_at.get_or_insert(now);
            (Announce::Published, None)
        }
        Op::Archive => {
            if current.status == Status::Archived {
                return Err(KnowledgeError::Precondition(
                    "the article is already archived".into(),
                ));
            }
            next.status = Status::Archived;
            (Announce::Archived, None)
        }
    };
    let mut changed = changed_fields(&current.content, &next.content);
    if next.status != current.status {
        changed.push("status");
    }
    if changed.is_empty() {
        return Ok(None);
    }
    next.version += 1;
    next.updated_by = editor.to_owned();
    next.updated_at = now;
    Ok(Some(Change {
        article: next,
        changed,
        restored_from,
        announce,
    }))
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::domain::Feedback;

    fn article(status: Status) -> Article {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        Article {
            id: Uuid::nil(),
            version: 3,
            revision: 9,
            status,
            content: Content {
                title: "Reset your password".into(),
                locale: "en".into(),
                ..Content::default()
            },
            translation_set: Uuid::nil(),
            author: "ann".into(),
            updated_by: "ann".into(),
            created_at: t0,
            updated_at: t0,
            published_at: None,
            feedback: Feedback::default(),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn publishing_a_draft_bumps_the_version_and_stamps_the_first_publication() {
        let c = apply(&article(Status::Draft), Op::Publish, Some(3), "bob", now())
            .unwrap()
            .unwrap();
        assert_eq!(c.article.status, Status::Published);
        assert_eq!(c.article.version, 4);
        assert_eq!(c.article.published_at, Some(now()));
        assert_eq!(c.article.updated_by, "bob");
        assert_eq!(c.changed, vec!["status"]);
        assert_eq!(c.announce, Announce::Published);
    }

    #[test]
    fn republishing_keeps_the_first_publication_time() {
        let mut a = article(Status::Archived);
        let first = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        a.published_at = Some(first);
        let c = apply(&a, Op::Publish, None, "bob", now()).unwrap().unwrap();
        assert_eq!(c.article.published_at, Some(first));
    }

    #[test]
    fn same_state_moves_are_refused_and_stale_versions_abort() {
        let published = article(Status::Published);
        assert!(matches!(
            apply(&published, Op::Publish, None, "b", now()),
            Err(KnowledgeError::Precondition(_))
        ));
        assert!(matches!(
            apply(&article(Status::Archived), Op::Archive, None, "b", now()),
            Err(KnowledgeError::Precondition(_))
        ));
        assert!(matches!(
            apply(&published, Op::Archive, Some(2), "b", now()),
            Err(KnowledgeError::Stale {
                expected: 2,
                actual: 3
            })
        ));
    }

    #[test]
    fn an_edit_that_changes_nothing_records_nothing() {
        let a = article(Status::Draft);
        assert!(
            apply(&a, Op::Edit(a.content.clone()), None, "b", now())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn an_invalid_edit_is_refused_by_field() {
        let a = article(Status::Draft);
        let bad = Content {
            title: String::new(),
            ..a.content.clone()
        };
        let Err(KnowledgeError::Invalid(v)) = apply(&a, Op::Edit(bad), None, "b", now()) else {
            panic!("empty title accepted");
        };
        assert!(v.has("title"));
    }

    #[test]
    fn restore_takes_only_earlier_versions_and_names_its_source() {
        let a = article(Status::Published);
        let old = Content {
            title: "Old title".into(),
            ..a.content.clone()
        };
        let c = apply(
            &a,
            Op::Restore {
                version: 1,
                content: old.clone(),
            },
            None,
            "b",
            now(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.article.content, old);
        assert_eq!(c.article.status, Status::Published);
        assert_eq!(c.restored_from, Some(1));
        assert_eq!(c.changed, vec!["title"]);
        assert!(matches!(
            apply(
                &a,
                Op::Restore {
                    version: 3,
                    content: old
                },
                None,
                "b",
                now()
            ),
            Err(KnowledgeError::Precondition(_))
        ));
    }
}

/// The fields an `UpdateArticle` names, each `Some` when masked.
#[derive(Debug, Clone, Default)]
pub struct Patch {
    /// New title.
    pub title: Option<String>,
    /// New summary.
    pub summary: Option<String>,
    /// New Markdown body.
    pub body: Option<String>,
    /// New locale.
    pub locale: Option<String>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// New category (`Some(None)` clears it).
    pub category: Option<Option<uuid::Uuid>>,
    /// New internal flag.
    pub internal: Option<bool>,
    /// New promoted flag.
    pub promoted: Option<bool>,
}

impl Patch {
    /// `current` with the masked fields replaced.
    pub fn apply_to(&self, current: &Content) -> Content {
        let mut next = current.clone();
        if let Some(v) = &self.title {
            next.title.clone_from(v);
        }
        if let Some(v) = &self.summary {
            next.summary.clone_from(v);
        }
        if let Some(v) = &self.body {
            next.body.clone_from(v);
        }
        if let Some(v) = &self.locale {
            next.locale.clone_from(v);
        }
        if let Some(v) = &self.tags {
            next.tags.clone_from(v);
        }
        if let Some(v) = self.category {
            next.category = v;
        }
        if let Some(v) = self.internal {
            next.internal = v;
        }
        if let Some(v) = self.promoted {
            next.promoted = v;
        }
        next
    }
}

/// A change as the API asks for it, before the store resolves it against the
/// locked article.
#[derive(Debug, Clone)]
pub enum Request {
    /// Replace the masked fields.
    Edit(Patch),
    /// Publish.
    Publish,
    /// Archive.
    Archive,
    /// Restore version n.
    Restore(i64),
}
