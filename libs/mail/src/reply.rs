//! Telling new content from quoted history in a plain-text reply.
//!
//! Mail clients quote the message they answer below a reply header ("On …
//! wrote:", Outlook's "From: … Sent: … Subject:" block, …). The ticket only
//! needs what the customer added, so [`trim_reply`] cuts at the first such
//! header, drops a trailing `>` block and the signature. A forward is new
//! content for the help desk, so [`is_forward`] tells the caller to keep it
//! whole.

mod patterns;

use patterns::Patterns;

/// Lines after a `-- ` delimiter still taken for a signature; more means the
/// delimiter was probably part of the content.
const MAX_SIGNATURE_LINES: usize = 30;

/// The part of a plain-text reply its author wrote: quoted history, the
/// signature and a mobile "Sent from my …" line removed. Falls back to the
/// whole text when nothing else would remain.
pub fn trim_reply(text: &str) -> String {
    let p = Patterns::get();
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let kept = match find_reply_header(p, &lines) {
        Some(cut) if has_content(&lines[..cut.start]) => lines[..cut.start].to_vec(),
        // Nothing above the header but a `>` quote below it: the author
        // answered below the quote.
        Some(cut) if starts_with_quote(&lines[cut.end..]) => lines
            .iter()
            .enumerate()
            .filter(|(i, l)| !(cut.start..cut.end).contains(i) && !is_quoted(l))
            .map(|(_, l)| *l)
            .collect(),
        _ => lines.clone(),
    };
    let kept = strip_mobile_footer(p, strip_signature(strip_trailing_quote(&kept)));
    let trimmed = join_trimmed(&kept);
    if trimmed.is_empty() {
        join_trimmed(&lines)
    } else {
        trimmed
    }
}

/// Whether a message is a forward, which is new content and must not be
/// trimmed: its subject starts with a forward prefix (`Fwd:`, `FW:`, `WG:`,
/// `TR:`, `RV:`), or it is not a reply and its body holds a forwarded-message
/// marker before any reply header.
pub fn is_forward(subject: &str, text: &str) -> bool {
    let p = Patterns::get();
    match p.first_subject_prefix(subject) {
        Some(prefix) if p.forward_prefix.is_match(prefix) => return true,
        Some(_) => return false,
        None => {}
    }
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let cut = find_reply_header(p, &lines).map_or(lines.len(), |c| c.start);
    lines[..cut]
        .iter()
        .any(|l| p.forward_marker.is_match(l.trim()))
}

/// Lines `start..end` form a reply header.
struct Cut {
    start: usize,
    end: usize,
}

fn find_reply_header(p: &Patterns, lines: &[&str]) -> Option<Cut> {
    (0..lines.len()).find_map(|i| reply_header_at(p, lines, i))
}

fn reply_header_at(p: &Patterns, lines: &[&str], i: usize) -> Option<Cut> {
    let line = lines[i].trim();
    if line.is_empty() || is_quoted(line) {
        return None;
    }
    let single = |end| Some(Cut { start: i, end });
    if p.attribution.is_match(line) || p.separator.is_match(line) {
        return single(i + 1);
    }
    if p.attribution_start.is_match(line) {
        // Clients wrap a long "On <date>, <name> <address> wrote:" line.
        let mut joined = line.to_owned();
        for (j, next) in lines.iter().enumerate().skip(i + 1).take(2) {
            joined.push(' ');
            joined.push_str(next.trim());
            if p.attribution.is_match(&joined) {
                return single(j + 1);
            }
        }
    }
    if p.header_from.is_match(line) {
        let block = &lines[i + 1..lines.len().min(i + 7)];
        let sent = block.iter().any(|l| p.header_sent.is_match(l.trim()));
        let subject = block.iter().any(|l| p.header_subject.is_match(l.trim()));
        if sent && subject {
            return single(i + 1);
        }
    }
    if p.wrote_suffix.is_match(line) {
        let next = lines[i + 1..]
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty());
        if next.is_some_and(is_quoted) {
            return single(i + 1);
        }
    }
    None
}

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

fn starts_with_quote(lines: &[&str]) -> bool {
    lines
        .iter()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| is_quoted(l))
}

fn has_content(lines: &[&str]) -> bool {
    lines.iter().any(|l| !l.trim().is_empty())
}

fn strip_trailing_quote<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut end = lines.len();
    let mut saw_quote = false;
    while end > 0 {
        let line = lines[end - 1].trim();
        if is_quoted(line) {
            saw_quote = true;
        } else if !line.is_empty() {
            break;
        }
        end -= 1;
    }
    if saw_quote && has_content(&lines[..end]) {
        lines[..end].to_vec()
    } else {
        lines.to_vec()
    }
}

fn strip_signature(lines: Vec<&str>) -> Vec<&str> {
    let delimiter = lines.iter().rposition(|l| *l == "--" || *l == "-- ");
    match delimiter {
        Some(at) if has_content(&lines[..at]) && lines.len() - at - 1 <= MAX_SIGNATURE_LINES => {
            lines[..at].to_vec()
        }
        _ => lines,
    }
}

fn strip_mobile_footer<'a>(p: &Patterns, mut lines: Vec<&'a str>) -> Vec<&'a str> {
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    if let Some(at) = last
        && p.mobile_footer.is_match(lines[at].trim())
        && has_content(&lines[..at])
    {
        lines.truncate(at);
    }
    lines
}

/// Lines joined, with blank or separator-only lines removed from both ends.
fn join_trimmed(lines: &[&str]) -> String {
    let is_filler = |l: &&str| {
        let t = l.trim();
        t.is_empty() || (t.chars().count() >= 3 && t.chars().all(|c| "-_=─━*".contains(c)))
    };
    let start = lines
        .iter()
        .position(|l| !is_filler(l))
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !is_filler(l))
        .map_or(start, |e| e + 1);
    lines[start..end].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributions_of_common_clients_and_languages() {
        for attribution in [
            "On 02/11/2026 10:15, Support wrote:",
            "On Mon, Nov 2, 2026 at 10:15 AM Support <support@desk.example> wrote:",
            "Le lun. 2 nov. 2026 à 10:15, Support <support@desk.example> a écrit :",
            "El lun, 2 nov 2026 a las 10:15, Support (<support@desk.example>) escribió:",
            "Am 02.11.26 um 10:15 schrieb Support:",
            "Support <support@desk.example> schrieb am Mo., 2. Nov. 2026, 10:15:",
            "Op ma 2 nov. 2026 om 10:15 schreef Support <support@desk.example>:",
            "Il giorno lun 2 nov 2026 alle ore 10:15 Support ha scritto:",
            "-----Original Message-----",
            "-----Ursprüngliche Nachricht-----",
        ] {
            let text = format!("Thanks, that fixed it.\n\n{attribution}\nHow can we help?\n");
            assert_eq!(trim_reply(&text), "Thanks, that fixed it.", "{attribution}");
        }
    }

    #[test]
    fn unknown_wrote_line_counts_only_before_a_quote() {
        let quoted = "Done.\n\nSupport Team wrote:\n> Is it done?\n";
        assert_eq!(trim_reply(quoted), "Done.");
        let prose = "My colleague wrote:\nthe invoice is wrong.\n";
        assert_eq!(
            trim_reply(prose),
            "My colleague wrote:\nthe invoice is wrong."
        );
    }

    #[test]
    fn outlook_header_block_needs_sent_and_subject() {
        let reply = "Yes.\n\nFrom: Support\nSent: Monday\nTo: Jim\nSubject: Question\n\nOld text";
        assert_eq!(trim_reply(reply), "Yes.");
        let prose = "Yes.\n\nFrom: my manager\nwe need this by Friday.";
        assert_eq!(trim_reply(prose), prose);
    }

    #[test]
    fn answer_below_the_quote_is_kept() {
        let text = "On Mon, Support wrote:\n> Which model?\n\nThe LX-200.\n";
        assert_eq!(trim_reply(text), "The LX-200.");
        assert_eq!(
            trim_reply("> Which model?\n\nThe LX-200."),
            "> Which model?\n\nThe LX-200."
        );
    }

    #[test]
    fn signature_and_mobile_footer_go() {
        assert_eq!(
            trim_reply("Works now.\n\n-- \nJane Doe\nACME"),
            "Works now."
        );
        assert_eq!(
            trim_reply("Works now.\n\nVon meinem iPhone gesendet"),
            "Works now."
        );
        assert_eq!(
            trim_reply("Works now.\nGet Outlook for Android"),
            "Works now."
        );
        let long_tail = format!("Intro\n--\n{}", "line\n".repeat(MAX_SIGNATURE_LINES + 1));
        assert_eq!(trim_reply(&long_tail), long_tail.trim_end());
    }

    #[test]
    fn nothing_but_history_falls_back_to_the_whole_text() {
        assert_eq!(trim_reply("> only\n> quotes"), "> only\n> quotes");
        assert_eq!(trim_reply("Sent from my iPhone"), "Sent from my iPhone");
        assert_eq!(trim_reply(""), "");
        assert_eq!(trim_reply("\n\n  \n"), "");
    }

    #[test]
    fn forwards_by_subject_or_body_marker() {
        assert!(is_forward("Fwd: invoice", ""));
        assert!(is_forward("WG: Rechnung", ""));
        assert!(is_forward("[#T-1] FW: x", ""));
        assert!(!is_forward(
            "Re: Fwd: invoice",
            "---------- Forwarded message ---------"
        ));
        assert!(is_forward(
            "invoice",
            "See below.\n\nBegin forwarded message:\n\nFrom: a"
        ));
        assert!(!is_forward(
            "invoice",
            "Thanks.\n\nOn Mon, Support wrote:\n> ---------- Forwarded message ---------"
        ));
        assert!(!is_forward(
            "Forwarding rules",
            "How do I set up forwarding?"
        ));
    }
}
