//! xmpp
