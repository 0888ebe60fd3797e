//! Text analysis shared by indexing and querying.

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer,
    Stemmer, TextAnalyzer,
};

use crate::{MAX_SEARCH_CHARS, MAX_SUGGEST_WORDS, Mode};

/// The name the indexing analyzer is registered under.
pub(crate) const ANALYZER: &str = "kb_en";
/// The name of the same analyzer without the stemmer (for the spelling vocabulary).
pub(crate) const PLAIN_ANALYZER: &str = "kb_plain";

/// Tokens longer than this (in bytes) are dropped: they are hashes, URLs or base64, never words
/// anyone searches for, and they bloat the term dictionary.
const MAX_TOKEN_BYTES: usize = 40;

/// The indexing analyzer: simple tokenizer (splits on anything not alphanumeric) → remove long
/// tokens → lowercase → ASCII folding ("café" matches "cafe") → English stemmer. The stemmer is
/// Snowball English (Porter2) as shipped with tantivy: it conflates "refunds"/"refunded" and
/// "billing"/"bill", which matters more for customer wording than its occasional over-stemming.
/// The help center is English-first; other locales still match on exact and prefix forms.
pub(crate) fn index_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// [`index_analyzer`] without the stemmer.
pub(crate) fn plain_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The indexing analyzer split in two halves so a query word is known both as typed (folded, for
/// prefix matching: stemming "passw" would be meaningless) and as indexed (stemmed).
#[derive(Clone)]
pub(crate) struct QueryAnalyzer {
    plain: TextAnalyzer,
    stem: TextAnalyzer,
}

impl QueryAnalyzer {
    pub fn new() -> Self {
        Self {
            plain: plain_analyzer(),
            stem: TextAnalyzer::builder(RawTokenizer::default())
                .filter(Stemmer::new(Language::English))
                .build(),
        }
    }

    fn plain_tokens(&mut self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stream = self.plain.token_stream(text);
        while let Some(token) = stream.next() {
            out.push(token.text.clone());
        }
        out
    }

    /// The indexed form of one folded word.
    pub fn stem(&mut self, plain: &str) -> String {
        let mut stream = self.stem.token_stream(plain);
        match stream.next() {
            Some(token) => token.text.clone(),
            None => plain.to_owned(),
        }
    }

    /// The words of a query, deduplicated by stem, in order of first appearance.
    pub fn words(&mut self, text: &str, mode: Mode) -> Vec<Word> {
        match mode {
            Mode::Search => self.search_words(text),
            Mode::Suggest => self.suggest_words(text),
        }
    }

    fn search_words(&mut self, text: &str) -> Vec<Word> {
        let text = truncate_chars(text, MAX_SEARCH_CHARS);
        // A trailing space or punctuation means the last word is finished: no type-ahead.
        let typing = text.chars().last().is_some_and(char::is_alphanumeric);
        let plain = self.plain_tokens(text);
        let last = plain.len().saturating_sub(1);
        // Stop words are dropped as in suggest mode, except from a query made only of them:
        // "how to" deserves an answer. Left in, they dominate: "is" is rare in titles, so BM25
        // gives it a high title idf and "where is my package" ranks any "... is ..." title first.
        let only_stop_words = plain.iter().all(|p| is_stop_word(p));
        let mut words: Vec<Word> = Vec::new();
        for (i, plain) in plain.into_iter().enumerate() {
            let prefix = typing && i == last && plain.chars().count() >= MIN_PREFIX_CHARS;
            let stop = is_stop_word(&plain);
            let mut word = self.word(plain, stop, prefix);
            if stop && !only_stop_words {
                if !prefix {
                    continue;
                }
                // "to" may be the start of "token": keep the completions, not "to" itself.
                word.exact = false;
            }
            merge_word(&mut words, word);
        }
        words
    }

    fn suggest_words(&mut self, text: &str) -> Vec<Word> {
        let mut words: Vec<Word> = Vec::new();
        let mut stream_words = self.plain_tokens(text).into_iter();
        while words.len() < MAX_SUGGEST_WORDS {
            let Some(plain) = stream_words.next() else {
                break;
            };
            if plain.chars().count() < 2 || is_stop_word(&plain) {
                continue;
            }
            let word = self.word(plain, false, false);
            merge_word(&mut words, word);
        }
        words
    }

    fn word(&mut self, plain: String, stop: bool, prefix: bool) -> Word {
        let stem = self.stem(&plain);
        // Typos in stop words would expand "where" to "there", "here", "were": pure noise.
        // Numbers (order ids, error codes) are either right or a different number.
        let distance = if stop || plain.chars().any(|c| c.is_ascii_digit()) {
            0
        } else {
            typo_distance(plain.chars().count())
        };
        Word {
            stem,
            plain,
            exact: true,
            distance,
            prefix,
        }
    }
}

/// A type-ahead prefix of one character would expand to a large slice of the dictionary and
/// means nothing yet.
const MIN_PREFIX_CHARS: usize = 2;

/// One analyzed query word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Word {
    /// As indexed (stemmed).
    pub stem: String,
    /// As typed, lowercased and folded.
    pub plain: String,
    /// Whether the word itself is searched (false for a stop word kept only for its
    /// completions).
    pub exact: bool,
    /// Maximum Levenshtein distance for typo matches (0 = exact only).
    pub distance: u8,
    /// Whether `plain` is also matched as a prefix (the word being typed).
    pub prefix: bool,
}

fn merge_word(words: &mut Vec<Word>, word: Word) {
    match words.iter_mut().find(|w| w.stem == word.stem) {
        Some(existing) => {
            existing.prefix |= word.prefix;
            existing.exact |= word.exact;
            if word.prefix {
                existing.plain = word.plain;
            }
            existing.distance = existing.distance.max(word.distance);
        }
        None => words.push(word),
    }
}

/// Levenshtein budget by word length: short words have too many neighbours to be typo
/// tolerant, long words absorb two mistakes.
pub(crate) fn typo_distance(chars: usize) -> u8 {
    match chars {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

pub(crate) fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

pub(crate) fn is_stop_word(plain: &str) -> bool {
    STOP_WORDS.binary_search(&plain).is_ok()
}

/// English function words plus the filler of support conversations ("hi", "thanks", "please",
/// "help") and the halves of contractions the tokenizer leaves behind ("don't" → "don", "t").
/// Kept sorted for binary search (a unit test checks it).
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "anyone",
    "are",
    "aren",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "cant",
    "could",
    "couldn",
    "d",
    "dear",
    "did",
    "didn",
    "do",
    "does",
    "doesn",
    "doing",
    "don",
    "dont",
    "down",
    "during",
    "each",
    "even",
    "few",
    "for",
    "from",
    "further",
    "get",
    "got",
    "had",
    "hadn",
    "has",
    "hasn",
    "have",
    "haven",
    "having",
    "he",
    "hello",
    "help",
    "her",
    "here",
    "hers",
    "herself",
    "hey",
    "hi",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "im",
    "in",
    "into",
    "is",
    "isn",
    "it",
    "its",
    "itself",
    "ive",
    "just",
    "know",
    "like",
    "ll",
    "m",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "need",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "please",
    "re",
    "really",
    "regards",
    "s",
    "same",
    "she",
    "should",
    "shouldn",
    "so",
    "some",
    "someone",
    "something",
    "still",
    "such",
    "t",
    "than",
    "thank",
    "thanks",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "ve",
    "very",
    "want",
    "was",
    "wasn",
    "we",
    "were",
    "weren",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "won",
    "would",
    "wouldn",
    "yet",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_and_unique() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn index_analyzer_stems_and_folds() {
        let mut a = index_analyzer();
        let mut stream = a.token_stream("Refunds CAFÉ receiving");
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            out.push(t.text.clone());
        }
        assert_eq!(out, ["refund", "cafe", "receiv"]);
    }

    #[test]
    fn search_words_mark_the_last_word_as_prefix_while_typing() {
        let mut qa = QueryAnalyzer::new();
        let words = qa.words("Reset passw", Mode::Search);
        assert_eq!(words.len(), 2);
        assert!(!words[0].prefix);
        assert!(words[1].prefix);
        assert_eq!(words[1].plain, "passw");
        let done = qa.words("Reset passw ", Mode::Search);
        assert!(!done[1].prefix);
    }

    #[test]
    fn search_words_drop_stop_words_unless_there_is_nothing_else() {
        let mut qa = QueryAnalyzer::new();
        let stems =
            |words: Vec<Word>| -> Vec<String> { words.into_iter().map(|w| w.stem).collect() };
        assert_eq!(
            stems(qa.words("where is my package ", Mode::Search)),
            ["packag"]
        );
        assert_eq!(stems(qa.words("how to ", Mode::Search)), ["how", "to"]);
        let typing = qa.words("reset password to", Mode::Search);
        assert_eq!(typing.len(), 3);
        assert!(!typing[2].exact && typing[2].prefix);
    }

    #[test]
    fn suggest_words_drop_stop_words_and_cap() {
        let mut qa = QueryAnalyzer::new();
        let words = qa.words(
            "Hi, I can't log in to my account, please help!",
            Mode::Suggest,
        );
        let stems: Vec<_> = words.iter().map(|w| w.stem.as_str()).collect();
        assert_eq!(stems, ["log", "account"]);
        let long: String = (0..200).map(|i| format!("word{i} ")).collect();
        assert_eq!(qa.words(&long, Mode::Suggest).len(), MAX_SUGGEST_WORDS);
    }

    #[test]
    fn typo_budget_follows_length() {
        let mut qa = QueryAnalyzer::new();
        let w = qa.words("cat pasword authentication", Mode::Search);
        let d: Vec<_> = w.iter().map(|w| w.distance).collect();
        assert_eq!(d, [0, 1, 2]);
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("hi", 10), "hi");
    }
}
