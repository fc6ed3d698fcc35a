//! Shape checks for what people type as an XMPP address or a server, so the
//! form can say what is wrong before anything is sent. The service does the
//! real validation (RFC 7622 / PRECIS); this only catches the typos.

use crate::i18n::gettext;

/// Why typed text is not a bare JID (`name@example.org`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressProblem {
    Empty,
    MissingAt,
    EmptyName,
    EmptyDomain,
    Whitespace,
    HasResource,
    BadDomain,
}

impl AddressProblem {
    pub fn user_message(self) -> String {
        match self {
            AddressProblem::Empty => gettext("Enter an address, like name@example.org."),
            AddressProblem::MissingAt | AddressProblem::EmptyName | AddressProblem::EmptyDomain => {
                gettext("An address looks like name@example.org.")
            }
            AddressProblem::Whitespace => gettext("An address cannot contain spaces."),
            AddressProblem::HasResource => {
                gettext("Leave out the part after “/”: enter just name@example.org.")
            }
            AddressProblem::BadDomain => gettext("The part after “@” is not a valid server name."),
        }
    }
}

/// Check that `text` looks like a bare JID; returns it trimmed.
pub fn check_bare_jid(text: &str) -> Result<&str, AddressProblem> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AddressProblem::Empty);
    }
    if text.chars().any(char::is_whitespace) {
        return Err(AddressProblem::Whitespace);
    }
    if text.contains('/') {
        return Err(AddressProblem::HasResource);
    }
    let (local, domain) = text.rsplit_once('@').ok_or(AddressProblem::MissingAt)?;
    if local.is_empty() {
        return Err(AddressProblem::EmptyName);
    }
    if domain.is_empty() {
        return Err(AddressProblem::EmptyDomain);
    }
    if local.contains('@') || !is_domain(domain) {
        return Err(AddressProblem::BadDomain);
    }
    Ok(text)
}

fn is_domain(domain: &str) -> bool {
    domain.len() <= 253
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
}

/// Check a `HOST:PORT` server override; returns it trimmed.
pub fn check_server(text: &str) -> Result<&str, String> {
    let text = text.trim();
    let bad = || gettext("Enter the server as host:port, for example xmpp.example.org:5222.");
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || !is_domain(host) {
        return Err(bad());
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(text),
        _ => Err(bad()),
    }
}

/// Show `message` under a form (the revealer with its label) and mark the
/// address row as wrong; `None` clears both.
pub fn show_address_error(
    row: &impl gtk::prelude::IsA<gtk::Widget>,
    revealer: &gtk::Revealer,
    label: &gtk::Label,
    message: Option<&str>,
) {
    use gtk::prelude::WidgetExt;
    if let Some(message) = message {
        label.set_text(message);
        row.add_css_class("error");
    } else {
        row.remove_css_class("error");
    }
    revealer.set_reveal_child(message.is_some());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_addresses() {
        assert_eq!(
            check_bare_jid(" alice@example.org "),
            Ok("alice@example.org")
        );
        assert_eq!(
            check_bare_jid("jürgen@bücher.example"),
            Ok("jürgen@bücher.example")
        );
    }

    #[test]
    fn names_the_typo() {
        assert_eq!(check_bare_jid(""), Err(AddressProblem::Empty));
        assert_eq!(check_bare_jid("alice"), Err(AddressProblem::MissingAt));
        assert_eq!(
            check_bare_jid("@example.org"),
            Err(AddressProblem::EmptyName)
        );
        assert_eq!(check_bare_jid("alice@"), Err(AddressProblem::EmptyDomain));
        assert_eq!(
            check_bare_jid("al ice@example.org"),
            Err(AddressProblem::Whitespace)
        );
        assert_eq!(
            check_bare_jid("alice@example.org/phone"),
            Err(AddressProblem::HasResource)
        );
        assert_eq!(
            check_bare_jid("alice@exa..mple"),
            Err(AddressProblem::BadDomain)
        );
    }

    #[test]
    fn server_needs_host_and_port() {
        assert_eq!(check_server("127.0.0.1:5222"), Ok("127.0.0.1:5222"));
        assert_eq!(check_server("[::1]:5222"), Ok("[::1]:5222"));
        assert!(check_server("example.org").is_err());
        assert!(check_server("example.org:0").is_err());
        assert!(check_server(":5222").is_err());
        assert!(check_server("example.org:http").is_err());
    }
}
