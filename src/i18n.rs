//! Translation helpers. Placeholders are named (`{user}`) so translators can
//! reorder them; translated pieces are never concatenated.

use crate::config;

/// Bind the text domain once per process. Safe to call more than once.
pub fn init() {
    use std::sync::Once;
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let localedir =
            std::env::var("SOTTO_LOCALEDIR").unwrap_or_else(|_| config::LOCALEDIR.into());
        // A missing locale directory only means untranslated strings.
        let _ = gettextrs::setlocale(gettextrs::LocaleCategory::LcAll, "");
        let _ = gettextrs::bindtextdomain(config::GETTEXT_PACKAGE, localedir);
        let _ = gettextrs::bind_textdomain_codeset(config::GETTEXT_PACKAGE, "UTF-8");
        let _ = gettextrs::textdomain(config::GETTEXT_PACKAGE);
    });
}

/// Translate `msgid`.
pub fn gettext(msgid: &str) -> String {
    gettextrs::gettext(msgid)
}

/// Translate `msgid` and fill named placeholders: `gettext_f("{user} joined", &[("user", name)])`.
pub fn gettext_f(msgid: &str, args: &[(&str, &str)]) -> String {
    fill(gettextrs::gettext(msgid), args)
}

/// Plural form with named placeholders; `{n}` is always available.
pub fn ngettext_f(msgid: &str, plural: &str, n: u32, args: &[(&str, &str)]) -> String {
    let s = gettextrs::ngettext(msgid, plural, n);
    let n_str = n.to_string();
    let mut all: Vec<(&str, &str)> = vec![("n", n_str.as_str())];
    all.extend_from_slice(args);
    fill(s, &all)
}

fn fill(mut s: String, args: &[(&str, &str)]) -> String {
    for (k, v) in args {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_placeholders_are_filled_in_any_order() {
        assert_eq!(
            fill("{b} then {a}".into(), &[("a", "1"), ("b", "2")]),
            "2 then 1"
        );
    }
}
