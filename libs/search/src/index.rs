//! The index handle: writes serialize on one writer, reads never wait for it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query as TantivyQuery, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{
    DocAddress, DocSet, IndexReader, IndexWriter, ReloadPolicy, Searcher, TERMINATED,
    TantivyDocument, Term,
};
use uuid::Uuid;

use crate::analysis::{ANALYZER, PLAIN_ANALYZER, QueryAnalyzer, index_analyzer, plain_analyzer};
use crate::fields::{self, Fields, VERSION};
use crate::plan::text_query;
use crate::rank::{Ranker, quality_boost};
use crate::snippet::{Snippets, plain};
use crate::stats::{LiveStats, StatsCache};
use crate::{ArticleDoc, Error, Filter, Hit, MAX_LIMIT, MAX_OFFSET, Mode, Page, Query, Status};

/// Indexing memory shared by tantivy's writer threads; segments are flushed when it fills.
const WRITER_MEMORY_BYTES: usize = 50_000_000;

/// The full-text index. Cheap to clone; all clones share one index.
#[derive(Clone)]
pub struct Index {
    inner: Arc<Inner>,
}

struct Inner {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    analyzer: TextAnalyzer,
    query_analyzer: QueryAnalyzer,
    stats: StatsCache,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("docs", &self.len())
            .finish_non_exhaustive()
    }
}

impl Index {
    /// A fresh index held in memory.
    pub fn in_ram() -> Result<Self, Error> {
        let (schema, fields) = fields::schema();
        Self::open(tantivy::Index::create_in_ram(schema), fields)
    }

    /// A fresh index in `path`. The index is always rebuilt at start, so whatever a previous
    /// run left there is wiped; a directory holding anything other than a search index is
    /// refused rather than emptied.
    pub fn in_dir(path: &Path) -> Result<Self, Error> {
        prepare_dir(path)?;
        let (schema, fields) = fields::schema();
        Self::open(tantivy::Index::create_in_dir(path, schema)?, fields)
    }

    fn open(index: tantivy::Index, fields: Fields) -> Result<Self, Error> {
        let analyzer = index_analyzer();
        index.tokenizers().register(ANALYZER, analyzer.clone());
        index
            .tokenizers()
            .register(PLAIN_ANALYZER, plain_analyzer());
        let writer = index.writer(WRITER_MEMORY_BYTES)?;
        // Manual reloads after each commit (under the writer lock) make a write visible to
        // searches before the write call returns, which the default delayed policy does not.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            inner: Arc::new(Inner {
                reader,
                writer: Mutex::new(writer),
                fields,
                analyzer,
                query_analyzer: QueryAnalyzer::new(),
                stats: StatsCache::default(),
            }),
        })
    }

    /// Replaces the whole content with `docs` in one commit; returns how many articles are
    /// indexed (an id given twice counts once, its highest version wins).
    pub fn rebuild(&self, docs: impl IntoIterator<Item = ArticleDoc>) -> Result<usize, Error> {
        self.write(|inner, writer| {
            writer.delete_all_documents()?;
            let mut seen: HashMap<String, i64> = HashMap::new();
            for doc in docs {
                let key = key(&doc.tenant, doc.id);
                match seen.get(&key) {
                    Some(version) if *version >= doc.version => continue,
                    // Deletes only reach documents added before them, so this drops the older
                    // copy added earlier in this batch and keeps the one added next.
                    Some(_) => {
                        writer.delete_term(Term::from_field_text(inner.fields.key, &key));
                    }
                    None => {}
                }
                seen.insert(key.clone(), doc.version);
                writer.add_document(inner.document(&doc, &key))?;
            }
            inner.commit(writer)?;
            Ok(seen.len())
        })
    }

    /// Indexes `doc` unless the same or a newer version of it is already indexed (then returns
    /// `false` and changes nothing). Searchable when this returns.
    pub fn upsert(&self, doc: ArticleDoc) -> Result<bool, Error> {
        Ok(self.upsert_many(vec![doc])? == 1)
    }

    /// [`Index::upsert`] for many documents in one commit; returns how many were indexed.
    pub fn upsert_many(&self, docs: Vec<ArticleDoc>) -> Result<usize, Error> {
        // Within the batch too, only the highest version of an article counts.
        let mut latest: HashMap<String, ArticleDoc> = HashMap::new();
        for doc in docs {
            let key = key(&doc.tenant, doc.id);
            match latest.get(&key) {
                Some(kept) if kept.version >= doc.version => {}
                _ => {
                    latest.insert(key, doc);
                }
            }
        }
        let mut latest: Vec<(String, ArticleDoc)> = latest.into_iter().collect();
        latest.sort_by(|a, b| a.0.cmp(&b.0));
        self.write(|inner, writer| {
            let searcher = inner.reader.searcher();
            let mut written = 0;
            for (key, doc) in &latest {
                if inner
                    .indexed_version(&searcher, key)?
                    .is_some_and(|v| v >= doc.version)
                {
                    continue;
                }
                writer.delete_term(Term::from_field_text(inner.fields.key, key));
                writer.add_document(inner.document(doc, key))?;
                written += 1;
            }
            if written > 0 {
                inner.commit(writer)?;
            }
            Ok(written)
        })
    }

    /// Removes an article; removing an absent article is not an error.
    pub fn remove(&self, tenant: &str, id: Uuid) -> Result<(), Error> {
        let key = key(tenant, id);
        self.write(|inner, writer| {
            let searcher = inner.reader.searcher();
            if inner.indexed_version(&searcher, &key)?.is_some() {
                writer.delete_term(Term::from_field_text(inner.fields.key, &key));
                inner.commit(writer)?;
            }
            Ok(())
        })
    }

    /// Number of indexed articles, all tenants together.
    pub fn len(&self) -> usize {
        usize::try_from(self.inner.reader.searcher().num_docs()).unwrap_or(usize::MAX)
    }

    /// Whether no article is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs one query. Never blocks on writers.
    pub fn search(&self, query: &Query<'_>) -> Result<Page, Error> {
        let inner = &*self.inner;
        let f = &inner.fields;
        let offset = query.offset.min(MAX_OFFSET);
        let limit = query.limit.clamp(1, MAX_LIMIT);
        let mut analyzer = inner.query_analyzer.clone();
        let words = analyzer.words(query.text, query.mode);
        if words.is_empty() && query.mode == Mode::Suggest {
            return Ok(Page::default());
        }

        let searcher = inner.reader.searcher();
        let text_fields: Vec<_> = f.text().iter().map(|(field, _)| *field).collect();
        let generation = inner.stats.get(&searcher, &text_fields)?;
        let stats = LiveStats {
            searcher: &searcher,
            generation: &generation,
        };

        let mut clauses = inner.filter_clauses(query.tenant, query.filter);
        let browse = words.is_empty();
        let snippets = if browse {
            None
        } else {
            let plan = text_query(&words, f, &stats, &mut analyzer)?;
            clauses.push((Occur::Must, plan.query));
            Some(Snippets::new(
                &plan.highlight,
                &inner.analyzer,
                f.body,
                f.summary,
            ))
        };
        let tantivy_query = BooleanQuery::new(clauses);
        let collector = (
            TopDocs::with_limit(limit)
                .and_offset(offset)
                .order_by(Ranker { browse }),
            Count,
        );
        let (top, total) =
            searcher.search_with_statistics_provider(&tantivy_query, &collector, &stats)?;

        let hits = top
            .into_iter()
            .map(|(key, address)| {
                inner.hit(
                    &searcher,
                    address,
                    Uuid::from_u128(key.id.0),
                    key.score,
                    snippets.as_ref(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page { hits, total })
    }

    /// Runs `op` with the writer. A failed operation is rolled back so that its half-done
    /// adds and deletes cannot ride along with the next commit.
    fn write<T>(
        &self,
        op: impl FnOnce(&Inner, &mut IndexWriter) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let inner = &*self.inner;
        let mut writer = inner.lock_writer()?;
        match op(inner, &mut writer) {
            Ok(value) => Ok(value),
            Err(error) => {
                // The operation's own error is the one worth reporting; a failed rollback leaves
                // the writer unusable and the next write will say so.
                let _ = writer.rollback();
                Err(error)
            }
        }
    }
}

impl Inner {
    fn lock_writer(&self) -> Result<MutexGuard<'_, IndexWriter>, Error> {
        match self.writer.lock() {
            Ok(writer) => Ok(writer),
            Err(poisoned) => {
                // A panic mid-write may have left uncommitted operations queued; drop them.
                self.writer.clear_poison();
                let mut writer = poisoned.into_inner();
                writer.rollback()?;
                Ok(writer)
            }
        }
    }

    fn commit(&self, writer: &mut IndexWriter) -> Result<(), Error> {
        writer.commit()?;
        self.reader.reload()?;
        // Compute the new generation's statistics now rather than in the next search.
        let text_fields: Vec<_> = self.fields.text().iter().map(|(f, _)| *f).collect();
        self.stats.get(&self.reader.searcher(), &text_fields)?;
        Ok(())
    }

    /// The version of the live document with this key, if any.
    fn indexed_version(&self, searcher: &Searcher, key: &str) -> Result<Option<i64>, Error> {
        let term = Term::from_field_text(self.fields.key, key);
        let mut newest = None;
        for segment in searcher.segment_readers() {
            let Some(mut postings) = segment
                .inverted_index(self.fields.key)?
                .read_postings(&term, IndexRecordOption::Basic)
                .map_err(tantivy::TantivyError::from)?
            else {
                continue;
            };
            let versions = segment.fast_fields().i64(VERSION)?;
            let mut doc = postings.doc();
            while doc != TERMINATED {
                if !segment.is_deleted(doc)
                    && let Some(version) = versions.first(doc)
                {
                    newest = newest.max(Some(version));
                }
                doc = postings.advance();
            }
        }
        Ok(newest)
    }

    fn document(&self, doc: &ArticleDoc, key: &str) -> TantivyDocument {
        let f = &self.fields;
        let id = doc.id.as_u128();
        let mut out = TantivyDocument::default();
        out.add_text(f.key, key);
        out.add_text(f.tenant, &doc.tenant);
        out.add_text(f.locale, &doc.locale);
        if let Some(category) = &doc.category {
            out.add_text(f.category, category);
        }
        if let Some(section) = &doc.section {
            out.add_text(f.section, section);
        }
        for tag in &doc.tags {
            out.add_text(f.tag, tag);
            out.add_text(f.tags, tag);
            out.add_text(f.spell, tag);
        }
        out.add_text(f.status, doc.status.as_str());
        out.add_bool(f.internal, doc.internal);
        out.add_bool(f.promoted, doc.promoted);
        out.add_i64(f.version, doc.version);
        out.add_u64(f.id_hi, (id >> 64) as u64);
        out.add_u64(f.id_lo, id as u64);
        out.add_f64(
            f.boost,
            quality_boost(doc.promoted, doc.helpful, doc.not_helpful),
        );
        out.add_text(f.title, &doc.title);
        out.add_text(f.summary, &doc.summary);
        out.add_text(f.body, &doc.body);
        for text in [&doc.title, &doc.summary, &doc.body] {
            out.add_text(f.spell, text);
        }
        out
    }

    /// Must-clauses on raw fields; they match or not and add nothing to the score.
    fn filter_clauses(&self, tenant: &str, filter: &Filter) -> Vec<(Occur, Box<dyn TantivyQuery>)> {
        let f = &self.fields;
        let mut terms = vec![Term::from_field_text(f.tenant, tenant)];
        if let Some(locale) = &filter.locale {
            terms.push(Term::from_field_text(f.locale, locale));
        }
        if let Some(category) = &filter.category {
            terms.push(Term::from_field_text(f.category, category));
        }
        if let Some(section) = &filter.section {
            terms.push(Term::from_field_text(f.section, section));
        }
        for tag in &filter.tags {
            terms.push(Term::from_field_text(f.tag, tag));
        }
        if !filter.include_internal {
            terms.push(Term::from_field_bool(f.internal, false));
        }
        let mut clauses: Vec<(Occur, Box<dyn TantivyQuery>)> = terms
            .into_iter()
            .map(|term| (Occur::Must, unscored(Box::new(term_query(term)))))
            .collect();
        if !filter.statuses.is_empty() {
            let any_status: Vec<Box<dyn TantivyQuery>> = filter
                .statuses
                .iter()
                .map(|s| {
                    Box::new(term_query(Term::from_field_text(f.status, s.as_str())))
                        as Box<dyn TantivyQuery>
                })
                .collect();
            clauses.push((
                Occur::Must,
                unscored(Box::new(BooleanQuery::union(any_status))),
            ));
        }
        clauses
    }

    fn hit(
        &self,
        searcher: &Searcher,
        address: DocAddress,
        id: Uuid,
        score: f32,
        snippets: Option<&Snippets>,
    ) -> Result<Hit, Error> {
        let f = &self.fields;
        let doc: TantivyDocument = searcher.doc(address)?;
        let text = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let title = text(f.title).ok_or(Error::Corrupt("title"))?;
        let summary = text(f.summary).unwrap_or_default();
        let body = text(f.body).unwrap_or_default();
        let status = text(f.status)
            .as_deref()
            .and_then(Status::parse)
            .ok_or(Error::Corrupt("status"))?;
        let flag = |field| doc.get_first(field).and_then(|v| v.as_bool());
        let snippet_html = match snippets {
            Some(snippets) => snippets.html(&body, &summary),
            None => plain(if summary.trim().is_empty() {
                &body
            } else {
                &summary
            }),
        };
        Ok(Hit {
            id,
            score,
            locale: text(f.locale).ok_or(Error::Corrupt("locale"))?,
            tags: doc
                .get_all(f.tag)
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            category: text(f.category),
            section: text(f.section),
            status,
            internal: flag(f.internal).ok_or(Error::Corrupt("internal"))?,
            promoted: flag(f.promoted).ok_or(Error::Corrupt("promoted"))?,
            title,
            summary,
            snippet_html,
        })
    }
}

fn term_query(term: Term) -> TermQuery {
    TermQuery::new(term, IndexRecordOption::Basic)
}

fn unscored(query: Box<dyn TantivyQuery>) -> Box<dyn TantivyQuery> {
    Box::new(ConstScoreQuery::new(query, 0.0))
}

/// The unit of replacement: ids are unique per tenant, and a uuid's text form has a fixed
/// length, so the pair is unambiguous.
fn key(tenant: &str, id: Uuid) -> String {
    format!("{}:{tenant}", id.hyphenated())
}

/// Empties `path` if it is a previous search index, creates it if missing.
fn prepare_dir(path: &Path) -> Result<(), Error> {
    let io = |source| Error::Dir {
        path: path.to_owned(),
        source,
    };
    if !path.exists() {
        return std::fs::create_dir_all(path).map_err(io);
    }
    let entries: Vec<_> = std::fs::read_dir(path)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    if entries.is_empty() {
        return Ok(());
    }
    let is_index = entries
        .iter()
        .any(|e| e.file_name() == "meta.json" || e.file_name() == ".managed.json");
    if !is_index {
        return Err(Error::NotAnIndexDir(path.to_owned()));
    }
    for entry in entries {
        let entry_path = entry.path();
        let result = if entry.file_type().map_err(io)?.is_dir() {
            std::fs::remove_dir_all(&entry_path)
        } else {
            std::fs::remove_file(&entry_path)
        };
        result.map_err(io)?;
    }
    Ok(())
}
