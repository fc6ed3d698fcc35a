//! How times, fingerprints and message text look on screen. Pure
//! functions over values the service gave us, so they are easy to test.

use gtk::glib;

use crate::i18n::{gettext, gettext_f, ngettext_f};

/// Local date-time of a Unix-milliseconds timestamp.
fn local(ms: i64) -> Option<glib::DateTime> {
    glib::DateTime::from_unix_local(ms.div_euclid(1000)).ok()
}

fn now() -> Option<glib::DateTime> {
    glib::DateTime::now_local().ok()
}

/// Days between the local calendar dates of `a` and `b` (b later).
fn days_between(a: &glib::DateTime, b: &glib::DateTime) -> i64 {
    let day = |d: &glib::DateTime| {
        glib::DateTime::from_local(d.year(), d.month(), d.day_of_month(), 0, 0, 0.0).ok()
    };
    match (day(a), day(b)) {
        (Some(a), Some(b)) => b.difference(&a).as_seconds() / 86_400,
        _ => 0,
    }
}

/// Clock time, in the locale's 24 h or 12 h habit.
pub fn clock(ms: i64) -> String {
    // Translators: a time of day, in glib's strftime format; use "%l:%M %p"
    // where 12-hour clocks are the custom.
    local(ms)
        .and_then(|d| d.format(&gettext("%H:%M")).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The conversation list's short time: "Now", "5 min", "14:05",
/// "Yesterday", "Monday", "12 Mar", "12 Mar 2023".
pub fn relative_time(ms: i64) -> String {
    let (Some(then), Some(now)) = (local(ms), now()) else {
        return String::new();
    };
    let seconds = now.difference(&then).as_seconds();
    if (0..60).contains(&seconds) {
        return gettext("Now");
    }
    if (60..3600).contains(&seconds) {
        let minutes = (seconds / 60) as u32;
        return ngettext_f("{n} min", "{n} min", minutes, &[]);
    }
    let days = days_between(&then, &now);
    let format = match days {
        d if d <= 0 => return clock(ms),
        1 => return gettext("Yesterday"),
        // Translators: a weekday in glib's strftime format.
        2..=6 => gettext("%A"),
        // Translators: a day of this year in glib's strftime format.
        _ if then.year() == now.year() => gettext("%e %b"),
        // Translators: a date of another year in glib's strftime format.
        _ => gettext("%e %b %Y"),
    };
    then.format(&format)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The label of a day separator: "Today", "Yesterday", "Monday, 3 March".
pub fn day_label(ms: i64) -> String {
    let (Some(then), Some(now)) = (local(ms), now()) else {
        return String::new();
    };
    let format = match days_between(&then, &now) {
        0 => return gettext("Today"),
        1 => return gettext("Yesterday"),
        // Translators: a day separator of this year, glib strftime format.
        _ if then.year() == now.year() => gettext("%A, %e %B"),
        // Translators: a day separator of another year, glib strftime format.
        _ => gettext("%A, %e %B %Y"),
    };
    then.format(&format)
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Whether two timestamps fall on the same local calendar day.
pub fn same_day(a: i64, b: i64) -> bool {
    match (local(a), local(b)) {
        (Some(a), Some(b)) => {
            (a.year(), a.month(), a.day_of_month()) == (b.year(), b.month(), b.day_of_month())
        }
        _ => true,
    }
}

/// A fingerprint as people compare it: lowercase hex in groups of eight,
/// four groups a line (Conversations and Dino show the same blocks).
pub fn fingerprint(hex: &str) -> String {
    let hex: String = hex
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let groups: Vec<&str> = hex
        .as_bytes()
        .chunks(8)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    groups
        .chunks(4)
        .map(|line| line.join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Pango markup for a message body: escaped, with web, mail and XMPP
/// addresses turned into links.
pub fn linkify(text: &str) -> String {
    const SCHEMES: [&str; 4] = ["https://", "http://", "mailto:", "xmpp:"];
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while !rest.is_empty() {
        let next = SCHEMES
            .iter()
            .filter_map(|s| find_link_start(rest, s))
            .min();
        let Some(start) = next else {
            out.push_str(&glib::markup_escape_text(rest));
            break;
        };
        out.push_str(&glib::markup_escape_text(&rest[..start]));
        let tail = &rest[start..];
        let mut end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
            .unwrap_or(tail.len());
        // Punctuation that ends a sentence is not part of the address.
        // A closing parenthesis belongs to it only when it has an opening one.
        while end > 0 && tail[..end].ends_with(['.', ',', ';', ':', '!', '?', ')', '\'']) {
            let part = &tail[..end];
            if part.ends_with(')') && part.matches('(').count() >= part.matches(')').count() {
                break;
            }
            end -= 1;
        }
        let link = &tail[..end];
        if SCHEMES.iter().any(|s| link.eq_ignore_ascii_case(s)) {
            out.push_str(&glib::markup_escape_text(link));
        } else {
            let escaped = glib::markup_escape_text(link);
            out.push_str(&format!("<a href=\"{escaped}\">{escaped}</a>"));
        }
        rest = &tail[end..];
        if end == 0 {
            // Never loop on an empty match.
            let mut chars = rest.chars();
            if let Some(c) = chars.next() {
                out.push_str(&glib::markup_escape_text(&c.to_string()));
            }
            rest = chars.as_str();
        }
    }
    out
}

/// Where `scheme` starts a link in `text`: at a word boundary only.
fn find_link_start(text: &str, scheme: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find(scheme) {
        let at = from + pos;
        let boundary = at == 0
            || text[..at]
                .chars()
                .next_back()
                .is_some_and(|c| !c.is_alphanumeric());
        let has_more = text.len() > at + scheme.len();
        if boundary && has_more {
            return Some(at);
        }
        from = at + scheme.len();
    }
    None
}

/// "Alice: hi" style preview line for the conversation list.
pub fn preview_from_you(body: &str) -> String {
    gettext_f("You: {message}", &[("message", body)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_grouped_in_blocks_of_eight() {
        let hex = "05ab".to_string() + &"0123456789abcdef".repeat(4);
        let grouped = fingerprint(&hex[4..]);
        assert_eq!(
            grouped,
            "01234567 89abcdef 01234567 89abcdef\n01234567 89abcdef 01234567 89abcdef"
        );
        assert_eq!(fingerprint("AB:CD"), "abcd");
    }

    #[test]
    fn links_become_anchors_and_text_is_escaped() {
        assert_eq!(
            linkify("see https://example.org/a?b=1&c=2."),
            "see <a href=\"https://example.org/a?b=1&amp;c=2\">https://example.org/a?b=1&amp;c=2</a>."
        );
        assert_eq!(linkify("<b>not bold</b>"), "&lt;b&gt;not bold&lt;/b&gt;");
        assert_eq!(
            linkify("join xmpp:room@muc.example.org?join"),
            "join <a href=\"xmpp:room@muc.example.org?join\">xmpp:room@muc.example.org?join</a>"
        );
        assert_eq!(linkify("nohttp://x"), "nohttp://x");
        assert_eq!(linkify("just https://"), "just https://");
        assert_eq!(
            linkify("(https://example.org/wiki/A_(b))"),
            "(<a href=\"https://example.org/wiki/A_(b)\">https://example.org/wiki/A_(b)</a>)"
        );
    }

    #[test]
    fn same_day_compares_calendar_days() {
        let noon = glib::DateTime::from_local(2024, 5, 5, 12, 0, 0.0)
            .unwrap()
            .to_unix()
            * 1000;
        assert!(same_day(noon, noon + 3_600_000));
        assert!(!same_day(noon, noon + 86_400_000));
    }
}
