//! HTML bodies: made safe to show, and reduced to plain text.

use html2text::render::{TaggedLine, TextDecorator};

/// Width the text is laid out at; wide so that paragraphs stay on few lines
/// and reply headers ("On … wrote:") are not broken.
const RENDER_WIDTH: usize = 1_000;

/// Elements whose content is never meant to be read as message text.
const DROP_WITH_CONTENT: [&str; 4] = ["script", "style", "title", "template"];

/// Sanitizes HTML for display: no scripts, styles, event handlers or
/// dangerous URLs; `cid:` image sources stay so inline images can be mapped
/// to attachments.
///
/// Relative URLs go too: mail has no base to resolve them against, so shown
/// inside the help desk they would point at the desk's own pages.
pub(crate) fn sanitize(html: &str) -> String {
    ammonia::Builder::default()
        .clean_content_tags(DROP_WITH_CONTENT.into_iter().collect())
        .add_url_schemes(["cid"])
        .url_relative(ammonia::UrlRelative::Deny)
        .clean(html)
        .to_string()
}

/// Renders already sanitized HTML as plain text: block structure kept, links
/// written as `text <url>`, `<blockquote>` as `> ` lines.
pub(crate) fn to_text(sanitized: &str) -> String {
    let rendered = html2text::config::with_decorator(LinkDecorator::default())
        .no_link_wrapping()
        .allow_width_overflow()
        .string_from_read(sanitized.as_bytes(), RENDER_WIDTH)
        // html2text only fails on I/O or impossible widths; fall back to
        // the tag-free text ammonia can give rather than losing the body.
        .unwrap_or_else(|_| strip_all_tags(sanitized));
    collapse_self_links(rendered)
}

fn strip_all_tags(html: &str) -> String {
    ammonia::Builder::empty()
        .clean_content_tags(DROP_WITH_CONTENT.into_iter().collect())
        .clean(html)
        .to_string()
}

/// `https://x <https://x>` says the same thing twice; keep one.
fn collapse_self_links(text: String) -> String {
    if !text.contains(" <http") {
        return text;
    }
    let re = self_link_regex();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for caps in re.captures_iter(&text) {
        let (Some(whole), Some(shown), Some(target)) = (caps.get(0), caps.get(1), caps.get(2))
        else {
            continue;
        };
        if shown.as_str() == target.as_str() {
            out.push_str(&text[last..shown.end()]);
            last = whole.end();
        }
    }
    out.push_str(&text[last..]);
    out
}

fn self_link_regex() -> &'static regex::Regex {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(https?://\S+) <(https?://[^>\s]+)>").expect("static regex")
    });
    &RE
}

/// Plain text like html2text's own plain decorator, but links keep their
/// target inline instead of in footnotes that quote trimming would cut off.
#[derive(Clone, Debug, Default)]
struct LinkDecorator {
    open_links: Vec<Option<String>>,
}

impl TextDecorator for LinkDecorator {
    type Annotation = ();

    fn decorate_link_start(&mut self, url: &str) -> (String, ()) {
        let shown =
            (url.starts_with("http://") || url.starts_with("https://")).then(|| url.to_owned());
        self.open_links.push(shown);
        (String::new(), ())
    }

    fn decorate_link_end(&mut self) -> String {
        match self.open_links.pop().flatten() {
            Some(url) => format!(" <{url}>"),
            None => String::new(),
        }
    }

    fn decorate_em_start(&self) -> (String, ()) {
        (String::new(), ())
    }

    fn decorate_em_end(&self) -> String {
        String::new()
    }

    fn decorate_strong_start(&self) -> (String, ()) {
        (String::new(), ())
    }

    fn decorate_strong_end(&self) -> String {
        String::new()
    }

    fn decorate_strikeout_start(&self) -> (String, ()) {
        (String::new(), ())
    }

    fn decorate_strikeout_end(&self) -> String {
        String::new()
    }

    fn decorate_code_start(&self) -> (String, ()) {
        (String::new(), ())
    }

    fn decorate_code_end(&self) -> String {
        String::new()
    }

    fn decorate_preformat_first(&self) {}

    fn decorate_preformat_cont(&self) {}

    fn decorate_image(&mut self, _src: &str, title: &str) -> (String, ()) {
        let shown = if title.trim().is_empty() {
            String::new()
        } else {
            format!("[{}]", title.trim())
        };
        (shown, ())
    }

    fn header_prefix(&self, _level: usize) -> String {
        String::new()
    }

    fn quote_prefix(&self) -> String {
        "> ".to_owned()
    }

    fn unordered_item_prefix(&self) -> String {
        "* ".to_owned()
    }

    fn ordered_item_prefix(&self, i: i64) -> String {
        format!("{i}. ")
    }

    fn make_subblock_decorator(&self) -> Self {
        Self::default()
    }

    fn finalise(&mut self, _urls: Vec<String>) -> Vec<TaggedLine<()>> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_absolute_and_cid_urls_only() {
        let html = r#"<a href="/admin/delete">a</a><a href="https://x.example/">b</a><img src="cid:i@x"><img src="x.png"><a href="\\javascript:alert(1)">c</a>"#;
        assert_eq!(
            sanitize(html),
            r#"<a rel="noopener noreferrer">a</a><a href="https://x.example/" rel="noopener noreferrer">b</a><img src="cid:i@x"><img><a rel="noopener noreferrer">c</a>"#
        );
    }

    #[test]
    fn to_text_writes_links_inline_once() {
        let text = to_text(
            r#"<p>See <a href="https://a.example/x">the page</a> and <a href="https://b.example/">https://b.example/</a>.</p><blockquote>old</blockquote>"#,
        );
        assert_eq!(
            text.trim_end(),
            "See the page <https://a.example/x> and https://b.example/.\n\n> old"
        );
    }
}
