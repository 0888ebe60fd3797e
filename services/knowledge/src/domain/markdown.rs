//! Article bodies: Markdown rendered to HTML that is safe to embed, and to
//! the plain text the search index reads.

use pulldown_cmark::{Event, Options, Parser, TagEnd, html};

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

/// Renders `markdown` to HTML, then sanitizes it: Markdown passes raw HTML
/// through, so scripts, styles, event handlers and `javascript:` links are
/// removed by ammonia's allow-list before any browser sees them.
pub fn to_safe_html(markdown: &str) -> String {
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, Parser::new_ext(markdown, options()));
    ammonia::clean(&raw)
}

/// The words of `markdown` without its markup (raw HTML tags dropped, the
/// text between them kept), one block
/// per line, for indexing and snippets.
pub fn to_plain_text(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Text(text) | Event::Code(text) => out.push_str(&text),
            Event::SoftBreak | Event::HardBreak => out.push(' '),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::Item
                | TagEnd::CodeBlock
                | TagEnd::TableCell,
            ) => out.push('\n'),
            _ => {}
        }
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders_and_scripts_do_not_survive() {
        let html = to_safe_html(
            "# Reset\n\nClick **Forgot password**.\n\n<script>alert(1)</script>\n\n[x](javascript:alert(2)) <img src=x onerror=alert(3)>",
        );
        assert!(html.contains("<h1>Reset</h1>"), "{html}");
        assert!(html.contains("<strong>Forgot password</strong>"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
    }

    #[test]
    fn plain_text_keeps_words_and_drops_markup() {
        let text =
            to_plain_text("## Steps\n\n1. Open *Settings*\n2. Press `Reset`\n\nSee <b>this</b>");
        assert_eq!(text, "Steps\nOpen Settings\nPress Reset\nSee this");
    }
}
