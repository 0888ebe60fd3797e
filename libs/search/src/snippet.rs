//! Highlighted excerpts.

use std::collections::BTreeMap;

use tantivy::Score;
use tantivy::schema::Field;
use tantivy::snippet::{Snippet, SnippetGenerator};
use tantivy::tokenizer::TextAnalyzer;

use crate::analysis::truncate_chars;

/// Target excerpt length in characters.
const SNIPPET_CHARS: usize = 160;
const ELLIPSIS: &str = "…";

/// Builds excerpts for the hits of one query.
pub(crate) struct Snippets {
    body: SnippetGenerator,
    summary: SnippetGenerator,
}

impl Snippets {
    /// `highlight` maps indexed (stemmed) terms to their weight; the generator re-analyzes the
    /// stored text with the index analyzer, so "refunded" in a body is highlighted for "refund".
    pub fn new(
        highlight: &BTreeMap<String, Score>,
        analyzer: &TextAnalyzer,
        body: Field,
        summary: Field,
    ) -> Self {
        Self {
            body: SnippetGenerator::new(highlight.clone(), analyzer.clone(), body, SNIPPET_CHARS),
            summary: SnippetGenerator::new(
                highlight.clone(),
                analyzer.clone(),
                summary,
                SNIPPET_CHARS,
            ),
        }
    }

    /// Escaped HTML: the best body excerpt, else the best summary excerpt, else the start of
    /// the summary (or body) without highlights.
    pub fn html(&self, body: &str, summary: &str) -> String {
        let snippet = self.body.snippet(body);
        if !snippet.is_empty() {
            return render(snippet, body);
        }
        let snippet = self.summary.snippet(summary);
        if !snippet.is_empty() {
            return render(snippet, summary);
        }
        plain(if summary.trim().is_empty() {
            body
        } else {
            summary
        })
    }
}

/// Excerpt without highlights, for browsing (no query terms).
pub(crate) fn plain(text: &str) -> String {
    let text = text.trim();
    let cut = truncate_chars(text, SNIPPET_CHARS);
    if cut.len() == text.len() {
        return escape(text);
    }
    // End on a word boundary when there is one reasonably close.
    let cut = match cut.rfind(char::is_whitespace) {
        Some(at) if at > cut.len() / 2 => &cut[..at],
        _ => cut,
    };
    format!("{}{ELLIPSIS}", escape(cut.trim_end()))
}

fn render(mut snippet: Snippet, text: &str) -> String {
    snippet.set_snippet_prefix_postfix("<mark>", "</mark>");
    let range = snippet.fragment_range();
    let mut html = String::new();
    if range.start > 0 {
        html.push_str(ELLIPSIS);
    }
    html.push_str(&snippet.to_html());
    if range.end < text.trim_end().len() {
        html.push_str(ELLIPSIS);
    }
    html
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_escapes_and_truncates_on_a_word() {
        assert_eq!(plain("a <b> & c"), "a &lt;b&gt; &amp; c");
        let long = "word ".repeat(100);
        let out = plain(&long);
        assert!(out.ends_with(ELLIPSIS));
        assert!(out.chars().count() <= SNIPPET_CHARS + 1);
        assert!(!out.contains("wor…"));
    }
}
