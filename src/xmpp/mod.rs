//! XMPP plumbing under the service: the TLS connector, the stream link with
//! IQ tracking, and stanza helpers. No policy lives here.

pub mod connector;
pub mod link;
pub mod pep;

pub use connector::{Connector, ConnectorError, Endpoint};
pub use link::{AttemptReport, Incoming, IqError, Link};
