//! An article's editable content: its bounds and how two versions differ.

use switchboard_runtime::Violations;
use uuid::Uuid;

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest summary, in characters.
pub const MAX_SUMMARY_CHARS: usize = 500;
/// Largest Markdown body, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Most tags per article.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;

/// What an editor writes; every version records one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Content {
    /// Headline.
    pub title: String,
    /// Short abstract.
    pub summary: String,
    /// Markdown source.
    pub body: String,
    /// BCP 47 locale.
    pub locale: String,
    /// Labels, de-duplicated, in the editor's order.
    pub tags: Vec<String>,
    /// Category or section.
    pub category: Option<Uuid>,
    /// Agents only.
    pub internal: bool,
    /// Shown first.
    pub promoted: bool,
}

impl Content {
    /// Trims and de-duplicates what an editor sent, then checks every bound;
    /// all violations are reported at once.
    pub fn normalized(mut self) -> Result<Self, Violations> {
        let mut v = Violations::default();
        self.title = self.title.trim().to_owned();
        self.summary = self.summary.trim().to_owned();
        let title_chars = self.title.chars().count();
        if title_chars == 0 {
            v.add("title", "must not be empty");
        } else if title_chars > MAX_TITLE_CHARS {
            v.add(
                "title",
                format!("is {title_chars} characters; at most {MAX_TITLE_CHARS}"),
            );
        }
        let summary_chars = self.summary.chars().count();
        if summary_chars > MAX_SUMMARY_CHARS {
            v.add(
                "summary",
                format!("is {summary_chars} characters; at most {MAX_SUMMARY_CHARS}"),
            );
        }
        if self.body.len() > MAX_BODY_BYTES {
            v.add(
                "body_markdown",
                format!("is {} bytes; at most {MAX_BODY_BYTES}", self.body.len()),
            );
        }
        if let Err(reason) = parse_locale(&self.locale) {
            v.add("locale", reason);
        }
        let mut tags: Vec<String> = Vec::with_capacity(self.tags.len());
        for (i, tag) in self.tags.iter().enumerate() {
            let tag = tag.trim();
            let chars = tag.chars().count();
            if chars == 0 || chars > MAX_TAG_CHARS {
                v.add(
                    format!("tags[{i}]"),
                    format!("must be 1 to {MAX_TAG_CHARS} characters"),
                );
            } else if tag.chars().any(char::is_control) {
                v.add(format!("tags[{i}]"), "must not contain control characters");
            } else if !tags.iter().any(|t| t == tag) {
                tags.push(tag.to_owned());
            }
        }
        if tags.len() > MAX_TAGS {
            v.add(
                "tags",
                format!("has {} tags; at most {MAX_TAGS}", tags.len()),
            );
        }
        self.tags = tags;
        v.into_result(self)
    }
}

/// Names of the fields that differ, as `Article` names them on the wire.
pub fn changed_fields(before: &Content, after: &Content) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |differs: bool, name| {
        if differs {
            out.push(name);
        }
    };
    check(before.title != after.title, "title");
    check(before.summary != after.summary, "summary");
    check(before.body != after.body, "body_markdown");
    check(before.locale != after.locale, "locale");
    check(before.tags != after.tags, "tags");
    check(before.category != after.category, "category");
    check(before.internal != after.internal, "internal");
    check(before.promoted != after.promoted, "promoted");
    out
}

/// Checks a BCP 47 tag of the common shape `language[-Script][-REGION]`
/// (`en`, `en-US`, `zh-Hant-TW`, `es-419`), in its canonical letter case so
/// that one locale is always spelled one way in filters.
pub fn parse_locale(raw: &str) -> Result<(), String> {
    const SHAPE: &str = "must be a BCP 47 locale such as `en`, `en-US` or `zh-Hant-TW`";
    if raw.is_empty() {
        return Err(format!("is required; {SHAPE}"));
    }
    let mut parts = raw.split('-');
    let language = parts.next().unwrap_or_default();
    let lower = |s: &str| s.chars().all(|c| c.is_ascii_lowercase());
    if !(2..=3).contains(&language.len()) || !lower(language) {
        return Err(format!("`{raw}`: language `{language}` {SHAPE}"));
    }
    let mut rest: Vec<&str> = parts.collect();
    if let Some(script) = rest.first().filter(|s| s.len() == 4) {
        let mut chars = script.chars();
        let title_case = chars.next().is_some_and(|c| c.is_ascii_uppercase())
            && chars.all(|c| c.is_ascii_lowercase());
        if !title_case {
            return Err(format!("`{raw}`: script `{script}` must look like `Hant`"));
        }
        rest.remove(0);
    }
    match rest.as_slice() {
        [] => Ok(()),
        [region]
            if (region.len() == 2 && region.chars().all(|c| c.is_ascii_uppercase()))
                || (region.len() == 3 && region.chars().all(|c| c.is_ascii_digit())) =>
        {
            Ok(())
        }
        _ => Err(format!("`{raw}` {SHAPE}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Content {
        Content {
            title: "  Reset your password ".into(),
            summary: "How to get back in".into(),
            body: "Click **Forgot password**.".into(),
            locale: "en-US".into(),
            tags: vec!["login".into(), " login ".into(), "account".into()],
            ..Content::default()
        }
    }

    #[test]
    fn normalizing_trims_and_deduplicates() {
        let c = valid().normalized().unwrap();
        assert_eq!(c.title, "Reset your password");
        assert_eq!(c.tags, vec!["login", "account"]);
    }

    #[test]
    fn every_bound_is_reported_by_field() {
        let c = Content {
            title: " ".into(),
            summary: "s".repeat(MAX_SUMMARY_CHARS + 1),
            body: "b".repeat(10 * 1024 * 1024),
            locale: "english".into(),
            tags: vec!["".into(), "x".repeat(65)],
            ..Content::default()
        };
        let v = c.normalized().unwrap_err();
        for field in [
            "title",
            "summary",
            "body_markdown",
            "locale",
            "tags[0]",
            "tags[1]",
        ] {
            assert!(v.has(field), "{field} reported in {v}");
        }
    }

    #[test]
    fn too_many_tags_are_refused() {
        let c = Content {
            tags: (0..=MAX_TAGS).map(|i| format!("t{i}")).collect(),
            ..valid()
        };
        assert!(c.normalized().unwrap_err().has("tags"));
    }

    #[test]
    fn locales_take_the_common_bcp47_shapes_in_canonical_case() {
        for ok in [
            "en",
            "en-US",
            "pt-BR",
            "zh-Hant-TW",
            "es-419",
            "sr-Latn",
            "fil",
        ] {
            assert_eq!(parse_locale(ok), Ok(()), "{ok}");
        }
        for bad in [
            "", "EN", "en_US", "en-us", "e", "engl", "zh-hant", "en-US-x", "en-", "12",
        ] {
            assert!(parse_locale(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn changed_fields_name_only_what_differs() {
        let a = valid().normalized().unwrap();
        let mut b = a.clone();
        assert!(changed_fields(&a, &b).is_empty());
        b.body.push_str(" Then check your inbox.");
        b.promoted = true;
        assert_eq!(changed_fields(&a, &b), vec!["body_markdown", "promoted"]);
    }
}
