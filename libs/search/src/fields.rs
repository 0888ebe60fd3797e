//! The tantivy schema.

use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};

use crate::analysis::{ANALYZER, PLAIN_ANALYZER};

pub(crate) const ID_HI: &str = "id_hi";
pub(crate) const ID_LO: &str = "id_lo";
pub(crate) const BOOST: &str = "boost";
pub(crate) const PROMOTED: &str = "promoted";
pub(crate) const VERSION: &str = "version";

/// BM25 weight of each text field.
pub(crate) const TITLE_BOOST: f32 = 3.0;
pub(crate) const TAGS_BOOST: f32 = 2.0;
pub(crate) const SUMMARY_BOOST: f32 = 1.5;
pub(crate) const BODY_BOOST: f32 = 1.0;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Fields {
    /// `"{id}:{tenant}"`: the unit of replacement, so one tenant can never replace or remove
    /// another tenant's article even if ids collided.
    pub key: Field,
    pub tenant: Field,
    pub locale: Field,
    pub category: Field,
    pub section: Field,
    /// Tags verbatim, for exact filters and for returning them.
    pub tag: Field,
    pub status: Field,
    pub internal: Field,
    pub promoted: Field,
    pub version: Field,
    /// The id split into two u64 fast fields: score ties are broken by id, read per matching
    /// doc, and fast fields are the cheap way to read per-doc values.
    pub id_hi: Field,
    pub id_lo: Field,
    /// Precomputed promoted/helpfulness multiplier.
    pub boost: Field,
    pub title: Field,
    pub summary: Field,
    pub body: Field,
    /// Tags tokenized, for full-text matching.
    pub tags: Field,
    /// Every word of the article as written (folded, not stemmed), doc ids only. Only its term
    /// dictionary is used: typo and prefix matching run against real words, then map them to
    /// stems. Against stems directly, "authenticaton" (not stemmed, the suffix is misspelt) is
    /// 6 edits from "authent" (the stem of "authentication") instead of 1 from the word.
    pub spell: Field,
}

impl Fields {
    /// The searched text fields with their BM25 weights.
    pub fn text(&self) -> [(Field, f32); 4] {
        [
            (self.title, TITLE_BOOST),
            (self.tags, TAGS_BOOST),
            (self.summary, SUMMARY_BOOST),
            (self.body, BODY_BOOST),
        ]
    }
}

pub(crate) fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(ANALYZER)
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let text = TextOptions::default().set_indexing_options(indexing);
    let stored_text = text.clone().set_stored();
    let spell = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(PLAIN_ANALYZER)
            .set_index_option(IndexRecordOption::Basic),
    );

    let fields = Fields {
        key: b.add_text_field("key", STRING),
        tenant: b.add_text_field("tenant", STRING),
        locale: b.add_text_field("locale", STRING | STORED),
        category: b.add_text_field("category", STRING | STORED),
        section: b.add_text_field("section", STRING | STORED),
        tag: b.add_text_field("tag", STRING | STORED),
        status: b.add_text_field("status", STRING | STORED),
        internal: b.add_bool_field("internal", INDEXED | STORED),
        promoted: b.add_bool_field(PROMOTED, FAST | STORED),
        version: b.add_i64_field(VERSION, FAST),
        id_hi: b.add_u64_field(ID_HI, FAST),
        id_lo: b.add_u64_field(ID_LO, FAST),
        boost: b.add_f64_field(BOOST, FAST),
        title: b.add_text_field("title", stored_text.clone()),
        summary: b.add_text_field("summary", stored_text.clone()),
        body: b.add_text_field("body", stored_text),
        tags: b.add_text_field("tags", text),
        spell: b.add_text_field("spell", spell),
    };
    (b.build(), fields)
}
