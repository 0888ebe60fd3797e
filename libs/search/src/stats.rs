//! BM25 statistics computed over live documents only.
//!
//! tantivy's own statistics count deleted documents until their segment is merged, and a merge of
//! a segment with deletes re-estimates token counts from field norms while a fresh segment counts
//! them exactly. Both make scores depend on the history of writes: an index rebuilt from the
//! database would rank differently from the one that received the same articles as upserts. These
//! statistics depend only on the set of live documents, so both orders give identical scores.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tantivy::fieldnorm::FieldNormReader;
use tantivy::query::Bm25StatisticsProvider;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Searcher, TERMINATED, Term};

/// Per-searcher-generation figures that need a pass over every document.
pub(crate) struct GenerationStats {
    generation: u64,
    num_docs: u64,
    /// Sum over live documents of the field norm: the quantized token count tantivy stores per
    /// document. Quantized but identical for a document wherever it lives, unlike segment totals.
    tokens: HashMap<Field, u64>,
    /// Deleted doc ids per segment ordinal, ascending.
    deleted: Vec<Vec<DocId>>,
}

impl GenerationStats {
    fn compute(searcher: &Searcher, text_fields: &[Field]) -> tantivy::Result<Self> {
        let mut tokens: HashMap<Field, u64> = text_fields.iter().map(|f| (*f, 0)).collect();
        let mut deleted = Vec::with_capacity(searcher.segment_readers().len());
        for segment in searcher.segment_readers() {
            let segment_deleted: Vec<DocId> = if segment.has_deletes() {
                (0..segment.max_doc())
                    .filter(|doc| segment.is_deleted(*doc))
                    .collect()
            } else {
                Vec::new()
            };
            for field in text_fields {
                let norms = segment.get_fieldnorms_reader(*field)?;
                // Counting norm ids first keeps the pass to one byte read per document.
                let mut histogram = [0u64; 256];
                match segment.alive_bitset() {
                    Some(alive) => {
                        for doc in alive.iter_alive() {
                            histogram[usize::from(norms.fieldnorm_id(doc))] += 1;
                        }
                    }
                    None => {
                        for doc in 0..segment.max_doc() {
                            histogram[usize::from(norms.fieldnorm_id(doc))] += 1;
                        }
                    }
                }
                let sum: u64 = histogram
                    .iter()
                    .enumerate()
                    .map(|(id, n)| n * u64::from(FieldNormReader::id_to_fieldnorm(id as u8)))
                    .sum();
                *tokens.entry(*field).or_default() += sum;
            }
            deleted.push(segment_deleted);
        }
        Ok(Self {
            generation: searcher.generation().generation_id(),
            num_docs: searcher.num_docs(),
            tokens,
            deleted,
        })
    }
}

/// Remembers the statistics of the latest searcher generation.
#[derive(Default)]
pub(crate) struct StatsCache {
    latest: Mutex<Option<Arc<GenerationStats>>>,
}

impl StatsCache {
    pub fn get(
        &self,
        searcher: &Searcher,
        text_fields: &[Field],
    ) -> tantivy::Result<Arc<GenerationStats>> {
        let generation = searcher.generation().generation_id();
        // A poisoned cache only means a panic while computing; the slot is still a valid Option.
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(stats) = latest.as_ref()
            && stats.generation == generation
        {
            return Ok(stats.clone());
        }
        let stats = Arc::new(GenerationStats::compute(searcher, text_fields)?);
        // A search still holding an older searcher must not evict the current generation.
        if latest.as_ref().is_none_or(|s| s.generation < generation) {
            *latest = Some(stats.clone());
        }
        Ok(stats)
    }
}

/// [`Bm25StatisticsProvider`] over live documents (see the module docs).
pub(crate) struct LiveStats<'a> {
    pub searcher: &'a Searcher,
    pub generation: &'a GenerationStats,
}

impl LiveStats<'_> {
    /// Live documents containing `term`.
    pub fn live_doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let mut total = 0u64;
        for (ord, segment) in self.searcher.segment_readers().iter().enumerate() {
            let inverted = segment.inverted_index(term.field())?;
            let Some(info) = inverted.get_term_info(term)? else {
                continue;
            };
            let mut freq = u64::from(info.doc_freq);
            let deleted = self
                .generation
                .deleted
                .get(ord)
                .map(Vec::as_slice)
                .unwrap_or_default();
            if !deleted.is_empty() {
                let mut postings =
                    inverted.read_postings_from_terminfo(&info, IndexRecordOption::Basic)?;
                let mut dead = 0u64;
                // Walk whichever list is shorter: the postings, or the deleted docs (by seeking).
                if (info.doc_freq as usize) <= deleted.len() {
                    let mut doc = postings.doc();
                    while doc != TERMINATED {
                        if segment.is_deleted(doc) {
                            dead += 1;
                        }
                        doc = postings.advance();
                    }
                } else {
                    for &doc in deleted {
                        let current = postings.doc();
                        if current == TERMINATED {
                            break;
                        }
                        if current > doc {
                            continue;
                        }
                        if postings.seek(doc) == doc {
                            dead += 1;
                        }
                    }
                }
                freq -= dead;
            }
            total += freq;
        }
        Ok(total)
    }

    pub fn has_deletes(&self) -> bool {
        self.generation.deleted.iter().any(|d| !d.is_empty())
    }
}

impl Bm25StatisticsProvider for LiveStats<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        match self.generation.tokens.get(&field) {
            Some(tokens) => Ok(*tokens),
            // Not a text field we rank on; fall back to tantivy's figure.
            None => Bm25StatisticsProvider::total_num_tokens(self.searcher, field),
        }
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.generation.num_docs)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        self.live_doc_freq(term)
    }
}
