//! Turns analyzed words into a tantivy query.
//!
//! User text never goes through tantivy's `QueryParser`: it is tokenized with the index's own
//! analyzer and every clause is built here, so no input can cause a syntax error or reach
//! fields it should not.
//!
//! Typo and prefix matches are expanded against the term dictionaries into ordinary BM25 term
//! queries (tantivy's `FuzzyTermQuery` scores every match with a constant, which would rank a
//! typo match of a frequent word like a rare exact word), each weighted below the exact word.

use std::collections::BTreeMap;

use tantivy::query::{
    BooleanQuery, BoostQuery, DisjunctionMaxQuery, EmptyQuery, FuzzyTermQuery, Query, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Score, Term};

use crate::analysis::{QueryAnalyzer, Word};
use crate::fields::Fields;
use crate::stats::LiveStats;

/// Weight of a typo match by edit distance (index 0 is the exact word).
const TYPO_WEIGHT: [Score; 3] = [1.0, 0.5, 0.3];
/// Weight of a completion of the word being typed: below an exact word ("pass" should rank
/// documents about "pass" above those about "password"), above a typo.
const PREFIX_WEIGHT: Score = 0.7;
/// How many typo variants of one word are kept (the most frequent win).
const MAX_TYPO_TERMS: usize = 8;
/// How many completions of the word being typed are kept (the most frequent win).
const MAX_PREFIX_TERMS: usize = 24;
/// A word counts fully in its best field and by this fraction in the others.
const FIELD_TIE_BREAKER: Score = 0.3;
/// A document matching several variants of one word is scored by its best variant plus this
/// fraction of the others, so variants cannot add up to more than the word itself.
const VARIANT_TIE_BREAKER: Score = 0.1;

/// A built text query and the terms to highlight in snippets.
pub(crate) struct Plan {
    pub query: Box<dyn Query>,
    pub highlight: BTreeMap<String, Score>,
}

pub(crate) fn text_query(
    words: &[Word],
    fields: &Fields,
    stats: &LiveStats<'_>,
    analyzer: &mut QueryAnalyzer,
) -> tantivy::Result<Plan> {
    let mut highlight: BTreeMap<String, Score> = BTreeMap::new();
    let mut word_queries: Vec<Box<dyn Query>> = Vec::with_capacity(words.len());
    for word in words {
        let variants = variants(word, fields.spell, stats, analyzer)?;
        let mut variant_queries: Vec<Box<dyn Query>> = Vec::with_capacity(variants.len());
        for (term, weight) in &variants {
            let best = highlight.entry(term.clone()).or_insert(0.0);
            *best = best.max(*weight);
            variant_queries.push(all_fields(fields, term, *weight));
        }
        match variant_queries.len() {
            0 => {}
            1 => word_queries.extend(variant_queries),
            _ => word_queries.push(Box::new(DisjunctionMaxQuery::with_tie_breaker(
                variant_queries,
                VARIANT_TIE_BREAKER,
            ))),
        }
    }
    let query: Box<dyn Query> = match word_queries.len() {
        // Only a typed stop word without completions: nothing can match.
        0 => Box::new(EmptyQuery),
        1 => word_queries.remove(0),
        _ => Box::new(BooleanQuery::union(word_queries)),
    };
    Ok(Plan { query, highlight })
}

/// One term in every text field, each with its field weight: a word in the title and the body
/// counts more than in the body alone.
fn all_fields(fields: &Fields, term: &str, weight: Score) -> Box<dyn Query> {
    let clauses: Vec<Box<dyn Query>> = fields
        .text()
        .iter()
        .map(|(field, field_boost)| {
            let query = TermQuery::new(
                Term::from_field_text(*field, term),
                IndexRecordOption::WithFreqs,
            );
            Box::new(BoostQuery::new(Box::new(query), field_boost * weight)) as Box<dyn Query>
        })
        .collect();
    Box::new(DisjunctionMaxQuery::with_tie_breaker(
        clauses,
        FIELD_TIE_BREAKER,
    ))
}

/// Adds the streamed terms with their segment document frequencies. A macro because the
/// streamer's automaton bound names a trait from a crate tantivy does not re-export.
macro_rules! collect {
    ($stream:expr, $found:expr) => {{
        let mut stream = $stream;
        while stream.advance() {
            if let Ok(term) = std::str::from_utf8(stream.key()) {
                *$found.entry(term.to_owned()).or_insert(0u64) +=
                    u64::from(stream.value().doc_freq);
            }
        }
    }};
}

/// The stems a word stands for, with their weights: the word itself, the stems of the real
/// words it is a typo of and, while it is being typed, of the words it begins.
fn variants(
    word: &Word,
    spell: Field,
    stats: &LiveStats<'_>,
    analyzer: &mut QueryAnalyzer,
) -> tantivy::Result<BTreeMap<String, Score>> {
    let mut out = BTreeMap::new();
    if word.exact {
        out.insert(word.stem.clone(), 1.0);
    }
    if word.distance > 0 {
        let automaton = FuzzyTermQuery::new(
            Term::from_field_text(spell, &word.plain),
            word.distance,
            true,
        )
        .automaton()?;
        let mut found = BTreeMap::new();
        for segment in stats.searcher.segment_readers() {
            let inverted = segment.inverted_index(spell)?;
            let stream = inverted.terms().search(&automaton).into_stream()?;
            collect!(stream, found);
        }
        for candidate in most_frequent(found, MAX_TYPO_TERMS, spell, stats)? {
            let stem = analyzer.stem(&candidate);
            // Another form of the same word ("passwords") is the exact match already.
            if stem != word.stem {
                let distance = osa_distance(&word.plain, &candidate).clamp(1, 2);
                merge(&mut out, stem, TYPO_WEIGHT[distance]);
            }
        }
    }
    if word.prefix {
        let mut found = BTreeMap::new();
        let upper = prefix_upper_bound(word.plain.as_bytes());
        for segment in stats.searcher.segment_readers() {
            let inverted = segment.inverted_index(spell)?;
            let mut range = inverted.terms().range().ge(word.plain.as_bytes());
            if let Some(upper) = &upper {
                range = range.lt(upper);
            }
            let stream = range.into_stream()?;
            collect!(stream, found);
        }
        for candidate in most_frequent(found, MAX_PREFIX_TERMS, spell, stats)? {
            let stem = analyzer.stem(&candidate);
            if stem != word.stem {
                merge(&mut out, stem, PREFIX_WEIGHT);
            }
        }
    }
    Ok(out)
}

fn merge(out: &mut BTreeMap<String, Score>, term: String, weight: Score) {
    let entry = out.entry(term).or_insert(0.0);
    *entry = entry.max(weight);
}

/// Keeps the `cap` candidates found in the most documents (ties by term, for determinism).
/// Dictionary frequencies include deleted documents, so when the index has any, the frequencies
/// are recounted over live documents before choosing: the choice must not depend on history.
fn most_frequent(
    found: BTreeMap<String, u64>,
    cap: usize,
    field: Field,
    stats: &LiveStats<'_>,
) -> tantivy::Result<Vec<String>> {
    let needs_live = stats.has_deletes();
    if found.len() <= cap && !needs_live {
        return Ok(found.into_keys().collect());
    }
    let mut ranked: Vec<(u64, String)> = Vec::with_capacity(found.len());
    for (term, raw) in found {
        let freq = if needs_live {
            stats.live_doc_freq(&Term::from_field_text(field, &term))?
        } else {
            raw
        };
        if freq > 0 {
            ranked.push((freq, term));
        }
    }
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    ranked.truncate(cap);
    Ok(ranked.into_iter().map(|(_, term)| term).collect())
}

/// The smallest byte string greater than every string starting with `prefix`, if any.
fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last < u8::MAX {
            upper.push(last + 1);
            return Some(upper);
        }
    }
    None
}

/// Optimal string alignment distance (Levenshtein with adjacent transpositions costing 1), the
/// metric of the automaton that found the candidate; used to weight the candidate.
fn osa_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osa_counts_transpositions_once() {
        assert_eq!(osa_distance("reciev", "receiv"), 1);
        assert_eq!(osa_distance("pasword", "password"), 1);
        assert_eq!(osa_distance("abc", "abc"), 0);
        assert_eq!(osa_distance("", "ab"), 2);
    }

    #[test]
    fn upper_bound_of_prefix() {
        assert_eq!(prefix_upper_bound(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_upper_bound(&[b'a', 0xFF]), Some(b"b".to_vec()));
        assert_eq!(prefix_upper_bound(&[0xFF]), None);
    }
}
