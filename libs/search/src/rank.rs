//! Final ordering: BM25 × a mild quality boost, ties broken by id.

use std::cmp::Reverse;
use std::sync::Arc;

use tantivy::collector::sort_key::NaturalComparator;
use tantivy::collector::{SegmentSortKeyComputer, SortKeyComputer};
use tantivy::columnar::ColumnValues;
use tantivy::{DocId, Score, SegmentReader};

use crate::fields::{BOOST, ID_HI, ID_LO, PROMOTED};

/// Multiplier for promoted articles.
const PROMOTED_BOOST: f64 = 1.1;
/// Multiplier for an article every voter found helpful, scaled by the Wilson bound below; the
/// product with `PROMOTED_BOOST` stays under 1.2 so quality nudges but never overturns a clearly
/// better text match.
const HELPFUL_BOOST: f64 = 0.09;

/// The multiplier stored with each article.
pub(crate) fn quality_boost(promoted: bool, helpful: u32, not_helpful: u32) -> f64 {
    let helpful = 1.0 + HELPFUL_BOOST * wilson_lower_bound(helpful, not_helpful);
    if promoted {
        helpful * PROMOTED_BOOST
    } else {
        helpful
    }
}

/// Lower bound of the 95% Wilson score interval of the helpful ratio: 1 vote out of 1 is weak
/// evidence, 95 out of 100 is strong, and the bound ranks them that way.
pub(crate) fn wilson_lower_bound(positive: u32, negative: u32) -> f64 {
    let n = f64::from(positive) + f64::from(negative);
    if n == 0.0 {
        return 0.0;
    }
    let z = 1.96_f64;
    let p = f64::from(positive) / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let margin = z * ((p * (1.0 - p) + z2 / (4.0 * n)) / n).sqrt();
    ((centre - margin) / (1.0 + z2 / n)).max(0.0)
}

/// Sort key: higher score first, then lower id first.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub(crate) struct RankKey {
    pub score: f32,
    pub id: Reverse<u128>,
}

/// Drops the last mantissa bits so that two layouts of the same documents that sum the same
/// per-field scores in a different order (tantivy's union reorders exhausted clauses) still
/// produce equal keys, leaving the tie to the id.
fn quantize(score: f32) -> f32 {
    f32::from_bits(score.to_bits() & !0xFF)
}

/// Ranks either by relevance (`browse == false`) or, for an empty query, promoted first then by
/// the quality boost.
pub(crate) struct Ranker {
    pub browse: bool,
}

impl SortKeyComputer for Ranker {
    type SortKey = RankKey;
    type Child = SegmentRanker;
    type Comparator = NaturalComparator;

    fn requires_scoring(&self) -> bool {
        !self.browse
    }

    fn segment_sort_key_computer(&self, segment: &SegmentReader) -> tantivy::Result<SegmentRanker> {
        let fast = segment.fast_fields();
        Ok(SegmentRanker {
            browse: self.browse,
            id_hi: fast.u64(ID_HI)?.first_or_default_col(0),
            id_lo: fast.u64(ID_LO)?.first_or_default_col(0),
            boost: fast.f64(BOOST)?.first_or_default_col(1.0),
            promoted: fast.bool(PROMOTED)?.first_or_default_col(false),
        })
    }
}

pub(crate) struct SegmentRanker {
    browse: bool,
    id_hi: Arc<dyn ColumnValues<u64>>,
    id_lo: Arc<dyn ColumnValues<u64>>,
    boost: Arc<dyn ColumnValues<f64>>,
    promoted: Arc<dyn ColumnValues<bool>>,
}

impl SegmentSortKeyComputer for SegmentRanker {
    type SortKey = RankKey;
    type SegmentSortKey = RankKey;
    type SegmentComparator = NaturalComparator;

    fn segment_sort_key(&mut self, doc: DocId, score: Score) -> RankKey {
        let id = (u128::from(self.id_hi.get_val(doc)) << 64) | u128::from(self.id_lo.get_val(doc));
        let boost = self.boost.get_val(doc) as f32;
        let score = if self.browse {
            let promoted = if self.promoted.get_val(doc) { 1.0 } else { 0.0 };
            promoted + boost
        } else {
            quantize(score) * boost
        };
        RankKey {
            score,
            id: Reverse(id),
        }
    }

    fn convert_segment_sort_key(&self, key: RankKey) -> RankKey {
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_prefers_many_votes() {
        assert_eq!(wilson_lower_bound(0, 0), 0.0);
        assert!(wilson_lower_bound(95, 5) > wilson_lower_bound(1, 0));
        assert!(wilson_lower_bound(5, 95) < wilson_lower_bound(50, 50));
    }

    #[test]
    fn boost_stays_mild() {
        assert_eq!(quality_boost(false, 0, 0), 1.0);
        let max = quality_boost(true, 1_000_000, 0);
        assert!(max > 1.15 && max < 1.2, "{max}");
    }

    #[test]
    fn key_orders_by_score_then_ascending_id() {
        let a = RankKey {
            score: 1.0,
            id: Reverse(1),
        };
        let b = RankKey {
            score: 1.0,
            id: Reverse(2),
        };
        let c = RankKey {
            score: 2.0,
            id: Reverse(3),
        };
        assert!(a > b);
        assert!(c > a);
    }
}
