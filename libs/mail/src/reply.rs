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
