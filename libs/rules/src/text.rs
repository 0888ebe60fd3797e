//! Case-insensitive text matching that does not allocate.
//!
//! Lower-casing into a new `String` per comparison would allocate on every
//! condition of every rule for every routed ticket; instead ASCII text (the
//! common case) is compared byte by byte, and anything else by folding each
//! character with `char::to_lowercase` as it is read. Searches in ASCII text
//! scan bytes directly: routing runs them for every keyword of every rule.

/// `a == b`, ignoring case.
pub(crate) fn eq_ci(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        fold(a).eq(fold(b))
    }
}

/// Whether `needle` occurs in `hay`, ignoring case.
pub(crate) fn contains_ci(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() && needle.is_ascii() {
        return ascii_starts(hay.as_bytes(), needle.as_bytes())
            .next()
            .is_some();
    }
    occurrences(hay, needle).next().is_some()
}

/// Whether `word` occurs in `hay` as a whole word, ignoring case: neither
/// neighbour of the occurrence is a letter or digit, so "refund" is found in
/// "Refund please!" but not in "refunded".
pub(crate) fn has_word(hay: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    if hay.is_ascii() && word.is_ascii() {
        let (h, n) = (hay.as_bytes(), word.len());
        return ascii_starts(h, word.as_bytes()).any(|i| {
            let before = i > 0 && h[i - 1].is_ascii_alphanumeric();
            let after = h.get(i + n).is_some_and(u8::is_ascii_alphanumeric);
            !before && !after
        });
    }
    occurrences(hay, word).any(|(start, end)| {
        let before = hay[..start].chars().next_back();
        let after = hay[end..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// The words of a keyword value. Commas separate words too, since tenants
/// type "refund, cancel" as often as "refund cancel".
pub(crate) fn words(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
}

fn fold(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().flat_map(char::to_lowercase)
}

/// Where `needle` starts in `hay`, both ASCII, ignoring case.
fn ascii_starts<'a>(hay: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    let n = needle.len();
    let first = needle.first().map(u8::to_ascii_lowercase);
    (0..hay.len())
        .take_while(move |i| i + n <= hay.len())
        // Checking the first byte before the slice keeps the scan cheap.
        .filter(move |&i| {
            first.is_none_or(|f| hay[i].to_ascii_lowercase() == f)
                && hay[i..i + n].eq_ignore_ascii_case(needle)
        })
}

/// Byte ranges in `hay` that equal `needle` ignoring case, by start,
/// folding each character (for text beyond ASCII).
fn occurrences<'a>(hay: &'a str, needle: &'a str) -> impl Iterator<Item = (usize, usize)> + 'a {
    hay.char_indices().filter_map(move |(start, _)| {
        let len = folded_prefix_len(&hay[start..], needle)?;
        Some((start, start + len))
    })
}

/// The byte length of the prefix of `hay` that equals `needle` ignoring
/// case, if there is one that ends on a character boundary.
fn folded_prefix_len(hay: &str, needle: &str) -> Option<usize> {
    let mut want = fold(needle).peekable();
    for (i, c) in hay.char_indices() {
        if want.peek().is_none() {
            return Some(i);
        }
        for lower in c.to_lowercase() {
            // Running out part-way through a character is no match: its
            // folded form only partly equals the needle.
            if want.next() != Some(lower) {
                return None;
            }
        }
    }
    want.peek().is_none().then_some(hay.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_ignores_case_in_and_beyond_ascii() {
        assert!(eq_ci("Email", "EMAIL"));
        assert!(!eq_ci("email", "emails"));
        assert!(eq_ci("ÉTÉ", "été"));
        assert!(!eq_ci("été", "ete"));
        assert!(eq_ci("", ""));
    }

    #[test]
    fn substrings_ignore_case() {
        assert!(contains_ci("Invoice WRONG", "wrong"));
        assert!(contains_ci("abc", ""));
        assert!(!contains_ci("ab", "abc"));
        assert!(contains_ci("Großer ÄRGER heute", "ärger"));
        assert!(!contains_ci("Großer Ärger", "arger"));
        // The Kelvin sign folds to an ASCII `k`, so mixed input takes the
        // folding path rather than the byte path.
        assert!(contains_ci("5 \u{212A}elvin", "kelvin"));
    }

    #[test]
    fn a_needle_ending_inside_a_folded_character_does_not_match() {
        // `İ` folds to `i` plus a combining dot; `i` alone is only part of it.
        assert_eq!(folded_prefix_len("İx", "i"), None);
        assert_eq!(folded_prefix_len("İx", "i\u{307}"), Some("İ".len()));
    }

    #[test]
    fn whole_words_need_non_alphanumeric_neighbours() {
        assert!(has_word("Refund please!", "refund"));
        assert!(!has_word("I was refunded", "refund"));
        assert!(!has_word("prerefund", "refund"));
        assert!(has_word("(refund)", "REFUND"));
        assert!(has_word("no refund", "refund"));
        assert!(has_word("refunded, then refund again", "refund"));
        assert!(has_word("¿Reembolso?", "reembolso"));
        assert!(!has_word("reembolsó", "reembolso"));
        assert!(has_word("my e-mail bounced", "e-mail"));
        assert!(!has_word("refund", ""));
    }

    /// The byte scan for ASCII text must agree with the folding scan, which
    /// is correct for any text, on every kind of case and boundary.
    #[test]
    fn ascii_scans_agree_with_folding_scans() {
        let hays = [
            "",
            "a",
            "Refund please!",
            "I was refunded",
            "prerefund",
            "(REFUND)",
            "refunded, then refund again",
            "my e-mail bounced",
            "e-mail",
            "aaa",
            "a-a a",
            "order 42: 42nd",
            "Tab\there",
            "x refund",
            "refund x",
        ];
        let needles = [
            "", "a", "refund", "REFUND", "e-mail", "aa", "42", "a a", "refunded", "x", "-",
            "tab\t", "please!",
        ];
        for hay in hays {
            for needle in needles {
                let folded_any = occurrences(hay, needle).next().is_some();
                assert_eq!(contains_ci(hay, needle), folded_any, "{hay:?} {needle:?}");
                let folded_word = !needle.is_empty()
                    && occurrences(hay, needle).any(|(start, end)| {
                        let before = hay[..start].chars().next_back();
                        let after = hay[end..].chars().next();
                        !before.is_some_and(char::is_alphanumeric)
                            && !after.is_some_and(char::is_alphanumeric)
                    });
                assert_eq!(has_word(hay, needle), folded_word, "{hay:?} {needle:?}");
            }
        }
    }

    #[test]
    fn keyword_values_split_on_whitespace_and_commas() {
        let w: Vec<&str> = words(" refund,cancel\tchargeback , ").collect();
        assert_eq!(w, ["refund", "cancel", "chargeback"]);
        assert_eq!(words(" , ").count(), 0);
    }
}
