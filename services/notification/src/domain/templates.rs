//! Notification templates: built-in defaults per kind, tenant overrides per
//! kind and locale, rendered with MiniJinja.

use minijinja::Environment;
use serde_json::{Value, json};
use switchboard_runtime::Violations;

/// The template kinds, as in `templates/{kind}/{locale}`.
pub const KINDS: [&str; 10] = [
    "message.added",
    "ticket.solved",
    "ticket.pending",
    "ticket.reopened",
    "ticket.assigned",
    "message.mentioned",
    "message.followed",
    "sla.breached",
    "routing.queued",
    "routing.escalated",
];

/// The locale every built-in template is written in, and the last fallback.
pub const DEFAULT_LOCALE: &str = "en";

/// Longest subject template.
pub const MAX_SUBJECT: usize = 1024;
/// Longest body template.
pub const MAX_BODY: usize = 64 * 1024;
/// Template instructions one render may run, so a tenant's template cannot
/// loop for ever.
const FUEL: u64 = 200_000;

/// A template's three parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateParts {
    /// The subject (emails) or title (in-app).
    pub subject: String,
    /// The text part (emails) or body (in-app).
    pub text_body: String,
    /// The HTML part, auto-escaped.
    pub html_body: String,
}

/// A rendered notification.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rendered {
    /// One line.
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// HTML.
    pub html: String,
}

/// A template that failed, naming the part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {part}: {message}")]
pub struct TemplateError {
    /// `subject`, `text_body` or `html_body`.
    pub part: &'static str,
    /// MiniJinja's explanation.
    pub message: String,
}

/// The built-in template of `kind`.
pub fn builtin(kind: &str) -> Option<TemplateParts> {
    let (subject, text, html) = match kind {
        "message.added" => (
            "{{ ticket.subject }}",
            "{{ message.body }}\n\n--\nReply to this email to answer on ticket #{{ ticket.number }}.",
            "<div>{{ message.body }}</div>\n<hr><p>Reply to this email to answer on ticket #{{ ticket.number }}.</p>",
        ),
        "ticket.solved" => (
            "{{ ticket.subject }}",
            "Your request #{{ ticket.number }} has been solved.\n\nHow did we do? {{ survey_url }}",
            "<p>Your request #{{ ticket.number }} has been solved.</p>\n<p><a href=\"{{ survey_url }}\">How did we do?</a></p>",
        ),
        "ticket.pending" => (
            "{{ ticket.subject }}",
            "We are waiting for your answer on request #{{ ticket.number }}.\n\nReply to this email and we will pick it up again.",
            "<p>We are waiting for your answer on request #{{ ticket.number }}.</p>\n<p>Reply to this email and we will pick it up again.</p>",
        ),
        "ticket.reopened" => (
            "{{ ticket.subject }}",
            "We have reopened your request #{{ ticket.number }} and are working on it again.\n\nReply to this email to add anything.",
            "<p>We have reopened your request #{{ ticket.number }} and are working on it again.</p>\n<p>Reply to this email to add anything.</p>",
        ),
        "ticket.assigned" => (
            "Ticket #{{ ticket.number }} assigned to you",
            "{{ ticket.subject }}",
            "<p>{{ ticket.subject }}</p>",
        ),
        "message.mentioned" => (
            "{{ message.author }} mentioned you on #{{ ticket.number }}",
            "{{ message.body }}",
            "<div>{{ message.body }}</div>",
        ),
        "message.followed" => (
            "New message on #{{ ticket.number }}: {{ ticket.subject }}",
            "{{ message.body }}",
            "<div>{{ message.body }}</div>",
        ),
        "sla.breached" => (
            "SLA breached on #{{ ticket.number }} ({{ sla_target }})",
            "{{ ticket.subject }}",
            "<p>{{ ticket.subject }}</p>",
        ),
        "routing.queued" => (
            "A ticket waits in {{ queue.group }} ({{ queue.position }} in the queue)",
            "{{ ticket.name }} waits unassigned in {{ queue.group }}, priority {{ queue.priority }}.",
            "<p>{{ ticket.name }} waits unassigned in {{ queue.group }}, priority {{ queue.priority }}.</p>",
        ),
        "routing.escalated" => (
            "Ticket escalated on {{ escalation.trigger }}",
            "{{ ticket.name }}: {{ escalation.actions | join(', ') }}.{% if escalation.new_assignee %} Now assigned to {{ escalation.new_assignee }}.{% endif %}",
            "<p>{{ ticket.name }}: {{ escalation.actions | join(', ') }}.{% if escalation.new_assignee %} Now assigned to {{ escalation.new_assignee }}.{% endif %}</p>",
        ),
        _ => return None,
    };
    Some(TemplateParts {
        subject: subject.into(),
        text_body: text.into(),
        html_body: html.into(),
    })
}

/// Renders `parts` with `context`.
pub fn render(parts: &TemplateParts, context: &Value) -> Result<Rendered, TemplateError> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    let one = |part: &'static str, name: &str, source: &str| {
        env.render_named_str(name, source, context)
            .map_err(|e| TemplateError {
                part,
                message: detailed(&e),
            })
    };
    let subject = one("subject", "subject.txt", &parts.subject)?;
    Ok(Rendered {
        // A header is one line, whatever the template made of it.
        subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
        text: one("text_body", "body.txt", &parts.text_body)?,
        html: one("html_body", "body.html", &parts.html_body)?,
    })
}

fn detailed(e: &minijinja::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg.chars().take(500).collect()
}

/// A context with every variable templates may use, for validation.
pub fn sample_context() -> Value {
    json!({
        "event_type": "message.added",
        "recipient": "ada@example.com",
        "ticket": {"name": "tickets/0", "number": 42, "subject": "Printer on fire", "status": "open"},
        "message": {"body": "We are on it.", "author": "agent-7"},
        "survey_url": "https://example.com/survey/0",
        "sla_target": "first_response",
        "status_change": {"from": "open", "to": "pending"},
        "queue": {"group": "printers", "priority": "high", "position": 3},
        "escalation": {
            "trigger": "sla.breached", "actions": ["raise_priority", "reassign_to"],
            "group": "printers", "new_group": "tier-2", "new_assignee": "agent-9",
        },
    })
}

/// Checks a template for saving: sizes, then that every part compiles and
/// renders against [`sample_context`].
pub fn validate(parts: &TemplateParts) -> Result<(), Violations> {
    let mut v = Violations::default();
    if parts.subject.trim().is_empty() || parts.subject.len() > MAX_SUBJECT {
        v.add("template.subject", "must be 1 byte to 1 KiB");
    }
    if parts.text_body.len() > MAX_BODY {
        v.add("template.text_body", "must be at most 64 KiB");
    }
    if parts.html_body.len() > MAX_BODY {
        v.add("template.html_body", "must be at most 64 KiB");
    }
    if v.0.is_empty() {
        // Render part by part, so every broken part is named.
        let context = sample_context();
        for (part, field, source) in [
            ("subject", "template.subject", &parts.subject),
            ("text_body", "template.text_body", &parts.text_body),
            ("html_body", "template.html_body", &parts.html_body),
        ] {
            let probe = TemplateParts {
                subject: if part == "subject" {
                    source.clone()
                } else {
                    "x".into()
                },
                text_body: if part == "text_body" {
                    source.clone()
                } else {
                    String::new()
                },
                html_body: if part == "html_body" {
                    source.clone()
                } else {
                    String::new()
                },
            };
            if let Err(e) = render(&probe, &context) {
                v.add(field, e.message);
            }
        }
    }
    v.into_result(())
}

/// The kind and locale in `templates/{kind}/{locale}`.
pub fn parse_name(name: &str) -> Result<(String, String), Violations> {
    let bad = || {
        let mut v = Violations::default();
        v.add(
            "name",
            format!(
                "must be `templates/{{kind}}/{{locale}}` with a kind of {}",
                KINDS.join(", ")
            ),
        );
        v
    };
    let rest = name.strip_prefix("templates/").ok_or_else(bad)?;
    let (kind, locale) = rest.rsplit_once('/').ok_or_else(bad)?;
    if !KINDS.contains(&kind) || !is_locale(locale) {
        return Err(bad());
    }
    Ok((kind.to_owned(), locale.to_owned()))
}

/// `en`, `pt-BR`, `zh-Hant-TW`: a BCP 47-ish tag of at most 35 characters.
pub fn is_locale(raw: &str) -> bool {
    let mut parts = raw.split('-');
    let lang = parts.next().unwrap_or_default();
    raw.len() <= 35
        && (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_renders_the_sample() {
        for kind in KINDS {
            let parts = builtin(kind).expect(kind);
            validate(&parts).unwrap_or_else(|v| panic!("{kind}: {v}"));
            let r = render(&parts, &sample_context()).unwrap();
            assert!(!r.subject.is_empty(), "{kind}");
        }
        assert!(builtin("nope").is_none());
    }

    #[test]
    fn the_new_kinds_say_what_happened() {
        let ctx = sample_context();
        let pending = render(&builtin("ticket.pending").unwrap(), &ctx).unwrap();
        assert!(
            pending
                .text
                .contains("waiting for your answer on request #42")
        );
        let reopened = render(&builtin("ticket.reopened").unwrap(), &ctx).unwrap();
        assert!(reopened.html.contains("reopened your request #42"));
        let queued = render(&builtin("routing.queued").unwrap(), &ctx).unwrap();
        assert_eq!(
            queued.subject,
            "A ticket waits in printers (3 in the queue)"
        );
        let escalated = render(&builtin("routing.escalated").unwrap(), &ctx).unwrap();
        assert_eq!(
            escalated.text,
            "tickets/0: raise_priority, reassign_to. Now assigned to agent-9."
        );
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let mut ctx = sample_context();
        ctx["message"]["body"] = json!("<script>x</script> & co");
        let r = render(&builtin("message.added").unwrap(), &ctx).unwrap();
        assert!(r.html.contains("&lt;script&gt;"), "{}", r.html);
        assert!(r.text.contains("<script>x</script> & co"));
    }

    #[test]
    fn broken_templates_name_their_part() {
        let parts = TemplateParts {
            subject: "{{ ticket.subject ".into(),
            text_body: "{% for x in %}".into(),
            html_body: "ok".into(),
        };
        let v = validate(&parts).unwrap_err();
        assert!(
            v.has("template.subject") && v.has("template.text_body"),
            "{v}"
        );
        assert!(!v.has("template.html_body"));
        let runaway = TemplateParts {
            subject: "s".into(),
            text_body:
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
                    .into(),
            html_body: String::new(),
        };
        assert!(validate(&runaway).unwrap_err().has("template.text_body"));
    }

    #[test]
    fn subjects_are_one_line() {
        let parts = TemplateParts {
            subject: "a\n  b\r\nc".into(),
            text_body: String::new(),
            html_body: String::new(),
        };
        assert_eq!(render(&parts, &json!({})).unwrap().subject, "a b c");
    }

    #[test]
    fn names_parse() {
        assert_eq!(
            parse_name("templates/message.added/pt-BR").unwrap(),
            ("message.added".into(), "pt-BR".into())
        );
        assert!(parse_name("templates/nope/en").is_err());
        assert!(parse_name("templates/message.added/EN").is_err());
        assert!(parse_name("message.added/en").is_err());
    }
}
