//! One message found by search: the conversation, when, and a snippet of
//! the text with the words that matched in bold.

use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;

use crate::i18n::gettext_f;
use crate::ui::components::{Avatar, set_lazy_tooltip};
use crate::ui::format;
use crate::ui::session::model::MessageItem;

/// Characters of text kept before the first match, so that a match deep
/// in a long message still shows in a two-line snippet.
const LEAD: usize = 30;

/// Characters of text kept in all: the label shows two lines, and GTK
/// shapes all the text it gets to measure it, so a long message passed
/// whole costs milliseconds per row (seconds for a page of results).
const WINDOW: usize = 160;

mod imp {
    use std::cell::RefCell;

    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/im/sotto/Sotto/ui/session/view/search_result_row.ui")]
    pub struct SearchResultRow {
        #[template_child]
        pub avatar: TemplateChild<Avatar>,
        #[template_child]
        pub title: TemplateChild<gtk::Label>,
        #[template_child]
        pub date_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub snippet: TemplateChild<gtk::Label>,
        pub item: RefCell<Option<MessageItem>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for SearchResultRow {
        const NAME: &'static str = "SottoSearchResultRow";
        type Type = super::SearchResultRow;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            Avatar::ensure_type();
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for SearchResultRow {}
    impl WidgetImpl for SearchResultRow {}
    impl BoxImpl for SearchResultRow {}
}

glib::wrapper! {
    pub struct SearchResultRow(ObjectSubclass<imp::SearchResultRow>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl SearchResultRow {
    /// `conversation` is what to call the chat the message is in;
    /// `query` what was searched for, to highlight.
    pub fn new(item: &MessageItem, conversation: &str, query: &str) -> Self {
        let row: Self = glib::Object::new();
        let imp = row.imp();
        imp.item.replace(Some(item.clone()));
        let Some(message) = item.message() else {
            return row;
        };
        imp.title.set_text(conversation);
        set_lazy_tooltip(&*imp.title, Some(&message.conversation));
        imp.avatar.set_text(conversation);
        imp.avatar.set_seed(message.conversation.as_str());
        imp.date_label
            .set_text(&format::relative_time(message.timestamp));
        set_lazy_tooltip(
            &*imp.date_label,
            Some(&format::day_label(message.timestamp)),
        );
        let snippet = snippet_markup(message.body.as_deref().unwrap_or_default(), query);
        let markup = if message.direction == "out" {
            // The pieces are escaped already; the template is ours.
            gettext_f("You: {message}", &[("message", &snippet)])
        } else {
            snippet
        };
        imp.snippet.set_markup(&markup);
        row
    }

    pub fn item(&self) -> Option<MessageItem> {
        self.imp().item.borrow().clone()
    }
}

/// Case and accents folded the way the archive's index folds them
/// (FTS5 `unicode61 remove_diacritics`), so "cafe" highlights "Café".
pub(super) fn fold(word: &str) -> String {
    glib::normalize(glib::casefold(word), glib::NormalizeMode::Default)
        .chars()
        .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
        .collect()
}

/// Words as the index sees them: runs of letters and digits, with their
/// byte ranges in `text`.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(move |w| (w.as_ptr() as usize - text.as_ptr() as usize, w))
}

/// `body` as Pango markup: every word that starts with a word of `query`
/// (the search matches prefixes) in bold, everything escaped, lines joined,
/// and text long before the first match or long after it cut to "…".
pub fn snippet_markup(body: &str, query: &str) -> String {
    let terms: Vec<String> = words(query).map(|(_, w)| fold(w)).collect();
    let is_hit = |w: &str| {
        let folded = fold(w);
        terms.iter().any(|t| folded.starts_with(t.as_str()))
    };
    let first = words(body).find(|&(_, w)| is_hit(w)).map(|(at, _)| at);
    // Start a little before the first match, at a word's start.
    let mut start = 0;
    if let Some(first) = first {
        let chars_before = body[..first].chars().count();
        if chars_before > LEAD {
            let want = body[..first]
                .char_indices()
                .nth(chars_before - LEAD)
                .map_or(0, |(i, _)| i);
            start = words(body)
                .map(|(at, _)| at)
                .find(|&at| at >= want)
                .unwrap_or(first)
                .min(first);
        }
    }
    // End WINDOW characters later, on a character boundary.
    let end = body[start..]
        .char_indices()
        .nth(WINDOW)
        .map_or(body.len(), |(i, _)| start + i);
    let text = &body[..end];
    let mut markup = String::new();
    if start > 0 {
        markup.push('…');
    }
    let mut at = start;
    // A word cut by the window is bold too if its start matches.
    for (from, w) in words(text).filter(|&(from, w)| from >= start && is_hit(w)) {
        let to = from + w.len();
        markup.push_str(&glib::markup_escape_text(&body[at..from]));
        markup.push_str("<b>");
        markup.push_str(&glib::markup_escape_text(&body[from..to]));
        markup.push_str("</b>");
        at = to;
    }
    markup.push_str(&glib::markup_escape_text(&body[at..end]));
    let mut markup = markup.split_whitespace().collect::<Vec<_>>().join(" ");
    if end < body.len() {
        markup.push('…');
    }
    markup
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matched_words_are_bold_and_the_rest_escaped() {
        assert_eq!(
            snippet_markup("Meet <me> at the café & bring snacks", "cafe sna"),
            "Meet &lt;me&gt; at the <b>café</b> &amp; bring <b>snacks</b>"
        );
        // Prefixes, any case, every occurrence.
        assert_eq!(
            snippet_markup("Lighthouse, LIGHTS and a light", "ligh"),
            "<b>Lighthouse</b>, <b>LIGHTS</b> and a <b>light</b>"
        );
        // Markup in the query is text, not markup.
        assert_eq!(snippet_markup("a <b> tag", "<b>"), "a &lt;<b>b</b>&gt; tag");
        assert_eq!(snippet_markup("no match here", "zebra"), "no match here");
        assert_eq!(snippet_markup("", "x"), "");
    }

    #[test]
    fn a_late_match_keeps_a_little_text_before_it() {
        let body = format!("{} the keyword\nis here", "word ".repeat(40));
        let markup = snippet_markup(&body, "keyword");
        assert!(markup.starts_with("…word "), "{markup}");
        assert!(markup.ends_with("the <b>keyword</b> is here"), "{markup}");
        assert!(markup.chars().count() < 60, "{markup}");
        // Multi-byte text before the match is cut on a character boundary.
        let body = format!("{}ünïcödé match", "ß".repeat(50));
        assert!(snippet_markup(&body, "match").ends_with("<b>match</b>"));
    }

    #[test]
    fn a_long_message_is_cut_after_the_match() {
        // A short window around the match, not the whole text, goes to GTK.
        let body = format!(
            "{} the keyword {}",
            "word ".repeat(400),
            "ünï ".repeat(4000)
        );
        let markup = snippet_markup(&body, "keyword");
        assert!(markup.starts_with("…word "), "{markup}");
        assert!(markup.contains("the <b>keyword</b> ünï ünï"), "{markup}");
        assert!(markup.ends_with('…'), "{markup}");
        assert!(markup.chars().count() <= WINDOW + 20, "{markup}");
        // A match at the start: cut only at the end.
        let body = format!("keyword {}", "ß".repeat(1000));
        let markup = snippet_markup(&body, "key");
        assert!(markup.starts_with("<b>keyword</b> ß"), "{markup}");
        assert!(markup.ends_with("ß…"), "{markup}");
        // Just as long as the window: nothing cut.
        let body = "x".repeat(WINDOW);
        assert_eq!(snippet_markup(&body, "y"), body);
    }
}
