//! The reply headers, separators and footers of common mail clients, in
//! English, German, French and Spanish (plus Dutch, Italian and Portuguese
//! attributions, which cost nothing).

use std::sync::LazyLock;

use regex::Regex;

/// Compiled once; matched against single trimmed lines.
pub(super) struct Patterns {
    /// A whole attribution line: "On … wrote:", "Am … schrieb …:", …
    pub(super) attribution: Regex,
    /// The first words of an attribution a client may have wrapped.
    pub(super) attribution_start: Regex,
    /// Any line ending like an attribution, trusted only before a `>` line.
    pub(super) wrote_suffix: Regex,
    /// Outlook's "-----Original Message-----" and underscore rules.
    pub(super) separator: Regex,
    /// First line of an Outlook header block ("From: …").
    pub(super) header_from: Regex,
    /// Date line of an Outlook header block ("Sent: …").
    pub(super) header_sent: Regex,
    /// Subject line of an Outlook header block.
    pub(super) header_subject: Regex,
    /// "---------- Forwarded message ---------" and its relatives.
    pub(super) forward_marker: Regex,
    /// Subject prefixes of a forward.
    pub(super) forward_prefix: Regex,
    /// Any reply or forward subject prefix, with a ticket token tolerated before it.
    subject_prefix: Regex,
    /// "Sent from my iPhone" and its relatives.
    pub(super) mobile_footer: Regex,
}

impl Patterns {
    pub(super) fn get() -> &'static Self {
        static PATTERNS: LazyLock<Patterns> = LazyLock::new(Patterns::compile);
        &PATTERNS
    }

    /// The first reply/forward prefix of a subject (`"Re:"`, `"Fwd:"`, …).
    pub(super) fn first_subject_prefix<'s>(&self, subject: &'s str) -> Option<&'s str> {
        self.subject_prefix
            .captures(subject)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str())
    }

    fn compile() -> Self {
        let re = |pattern: &str| Regex::new(pattern).expect("static regex");
        Self {
            attribution: re(concat!(
                r"(?i)^(?:",
                r"on\b.{0,400}\bwrote\s?:",
                r"|am\b.{0,400}\bschrieb\b.{0,400}:",
                r"|.{0,400}\bschrieb am\b.{0,400}:",
                r"|le\b.{0,400}\ba écrit\s?:",
                r"|el\b.{0,400}\bescribió\s?:",
                r"|op\b.{0,400}\bschreef\b.{0,400}:",
                r"|il\b.{0,400}\bha scritto\s?:",
                r"|em\b.{0,400}\bescreveu\s?:",
                r")$",
            )),
            attribution_start: re(r"(?i)^(?:on|am|le|el|op|il|em)\s"),
            wrote_suffix: re(
                r"(?i)\b(?:wrote|schrieb|a écrit|escribió|schreef|ha scritto|escreveu)\s?:$",
            ),
            separator: re(concat!(
                r"(?i)^(?:_{20,}",
                r"|-{3,}\s*(?:original message|ursprüngliche nachricht|message d'origine",
                r"|mensaje original|messaggio originale|oorspronkelijk bericht)\s*-{3,})$",
            )),
            header_from: re(r"(?i)^\*?(?:from|von|de|da|van)\s?:\*?\s*\S"),
            header_sent: re(concat!(
                r"(?i)^\*?(?:sent|date|gesendet|datum|envoyé|enviado(?: el)?|fecha",
                r"|inviato|data|verzonden)\s?:",
            )),
            header_subject: re(r"(?i)^\*?(?:subject|betreff|objet|asunto|oggetto|onderwerp)\s?:"),
            forward_marker: re(concat!(
                r"(?i)^(?:-{5,}\s*(?:forwarded message|weitergeleitete nachricht",
                r"|message transféré|mensaje reenviado|messaggio inoltrato)\s*-{5,}",
                r"|begin forwarded message:|anfang der weitergeleiteten nachricht:",
                r"|début du message réexpédié\s?:|inicio del mensaje reenviado:)$",
            )),
            forward_prefix: re(r"(?i)^(?:fwd?|fw|wg|tr|rv)$"),
            subject_prefix: re(
                r"(?i)^\s*(?:\[[^\]]{0,40}\]\s*)*(re|aw|sv|vs|antw|réf|ref|res|fwd?|fw|wg|tr|rv)\s*(?:\[\d+\])?\s*:",
            ),
            mobile_footer: re(concat!(
                r"(?i)^(?:sent from my \w+(?: \w+)?|get outlook for (?:ios|android)",
                r"|von meinem \w+ gesendet|envoyé de mon \w+|enviado desde mi \w+)$",
            )),
        }
    }
}
