//! Subject terms: the words of a ticket's subject that say what it is
//! about, for top issues (a term rising against its recent baseline is a
//! recurring problem nobody has tagged yet).
//!
//! A subject is read as Unicode text: compatibility-normalized (NFKC, so
//! `Ｒｅｆｕｎｄ` and a decomposed `café` read like their plain forms),
//! lowercased, split into words by the Unicode word boundaries (UAX #29)
//! and at apostrophes (`customer's` → `customer`, `l'application` →
//! `application`). A word is a term unless it is a stop word (English,
//! German, French, Spanish, Italian and Portuguese, from NLTK's lists, and
//! a few mail-subject markers), has no letter (`404`, `2026`, `3.5`), or is
//! shorter than [`MIN_CHARS`] or longer than [`MAX_CHARS`] characters. The
//! first [`MAX_TERMS`] distinct terms count, in subject order.
//!
//! Scripts written without spaces between words (Chinese, Japanese, Thai)
//! get no word splitting of their own: single ideographs are too short to
//! count.

use std::collections::HashSet;
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

/// Most distinct terms taken from one subject.
pub const MAX_TERMS: usize = 20;
/// Fewest characters a term has.
pub const MIN_CHARS: usize = 3;
/// Most characters a term has (longer words are mostly ids and hashes).
pub const MAX_CHARS: usize = 32;
/// Bytes of a subject read; the rest is ignored.
pub const MAX_SUBJECT_BYTES: usize = 1024;

/// The stop word lists' languages (ISO 639-1).
pub const STOP_WORD_LANGUAGES: [&str; 6] = ["en", "de", "fr", "es", "it", "pt"];

/// Words of mail subjects that say nothing about the problem: forwarding
/// markers and greetings.
const DESK_STOP_WORDS: [&str; 6] = ["fwd", "hello", "thanks", "thank", "please", "pls"];

static STOP_WORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    STOP_WORD_LANGUAGES
        .iter()
        .filter_map(|code| stop_words::lookup(code))
        .flatten()
        .copied()
        .chain(DESK_STOP_WORDS)
        .collect()
});

/// Whether `word` (lowercase) is a stop word.
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(word)
}

/// The terms of `subject`: distinct, in order, at most [`MAX_TERMS`].
pub fn subject_terms(subject: &str) -> Vec<String> {
    let mut end = subject.len().min(MAX_SUBJECT_BYTES);
    while !subject.is_char_boundary(end) {
        end -= 1;
    }
    let text: String = subject[..end].nfkc().collect::<String>().to_lowercase();
    let mut terms: Vec<String> = Vec::new();
    let words = text
        .unicode_words()
        .flat_map(|w| w.split(['\'', '\u{2019}', '\u{02bc}']));
    for word in words {
        if terms.len() == MAX_TERMS {
            break;
        }
        let chars = word.chars().count();
        let keep = (MIN_CHARS..=MAX_CHARS).contains(&chars)
            && word.chars().any(char::is_alphabetic)
            && !is_stop_word(word);
        if keep && !terms.iter().any(|t| t == word) {
            terms.push(word.to_owned());
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_and_case_go_and_order_stays() {
        assert_eq!(
            subject_terms("Re: The REFUND for my order has NOT arrived"),
            ["refund", "order", "arrived"]
        );
        assert_eq!(
            subject_terms("Fwd: please help, thanks!"),
            ["help"],
            "mail markers and greetings are stop words too"
        );
        // German, French, Spanish stop words.
        assert_eq!(
            subject_terms("Die Rechnung ist nicht angekommen"),
            ["rechnung", "angekommen"]
        );
        assert_eq!(
            subject_terms("Problème avec votre facture"),
            ["problème", "facture"]
        );
        assert_eq!(
            subject_terms("No puedo pagar con tarjeta"),
            ["puedo", "pagar", "tarjeta"]
        );
        assert!(subject_terms("").is_empty());
        assert!(subject_terms("it is what it is").is_empty());
    }

    #[test]
    fn words_split_the_unicode_way() {
        // Accents and non-Latin scripts lowercase; Greek's final sigma too.
        assert_eq!(
            subject_terms("ÜBERWEISUNG fehlgeschlagen — ΠΛΗΡΩΜΗ ΟΔΟΣ"),
            ["überweisung", "fehlgeschlagen", "πληρωμη", "οδο\u{3c2}"]
        );
        // Composed and decomposed `é`, full-width letters: the same terms.
        assert_eq!(subject_terms("Cafe\u{301} café"), ["café"]);
        assert_eq!(subject_terms("ＶＰＮ broken"), ["vpn", "broken"]);
        // Apostrophes (straight and curly) split; possessives and elisions go.
        assert_eq!(
            subject_terms("Customer's l’application won't start"),
            ["customer", "application", "start"]
        );
        // Punctuation and hyphens separate words; Cyrillic is letters.
        assert_eq!(
            subject_terms("log-in/sign-up: ошибка входа"),
            ["log", "sign", "ошибка", "входа"]
        );
    }

    #[test]
    fn numbers_short_and_long_words_are_dropped() {
        assert_eq!(
            subject_terms("Order 12345 on 2026-11-03 costs 3.5 EUR, error 404 on win11 v2 ok"),
            ["order", "costs", "eur", "error", "win11"]
        );
        let long = "x".repeat(MAX_CHARS + 1);
        let edge = "y".repeat(MAX_CHARS);
        assert_eq!(subject_terms(&format!("{long} {edge} ab")), [edge]);
        // Single ideographs are too short to be terms.
        assert!(subject_terms("支付失败").is_empty());
    }

    #[test]
    fn terms_are_distinct_and_bounded() {
        assert_eq!(
            subject_terms("Login login LOGIN failed"),
            ["login", "failed"]
        );
        let many: Vec<String> = (0..40).map(|i| format!("word{i}")).collect();
        let terms = subject_terms(&many.join(" "));
        assert_eq!(terms.len(), MAX_TERMS);
        assert_eq!(terms, many[..MAX_TERMS]);
        // Only the first bytes of a huge subject are read, cut at a char.
        let huge = format!("{}refund", "é".repeat(MAX_SUBJECT_BYTES));
        assert!(subject_terms(&huge).iter().all(|t| t != "refund"));
        assert!(is_stop_word("the") && is_stop_word("und") && !is_stop_word("refund"));
    }
}
