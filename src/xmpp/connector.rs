//! Our own `ServerConnector`: tokio-xmpp has no hook for a custom CA, so we
//! build the rustls config ourselves — the system roots, or exactly the CA
//! file the user gave. Certificate checks are never switched off.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use sasl::common::ChannelBinding;
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_xmpp::Error as XmppError;
use tokio_xmpp::connect::{DnsConfig, ServerConnector, ServerConnectorError};
use tokio_xmpp::parsers::jid::Jid;
use tokio_xmpp::parsers::starttls;
use tokio_xmpp::xmlstream::{
    FallibleStreamElement, PendingFeaturesRecv, ReadError, StreamHeader, Timeouts,
    XmppStreamElement, initiate_stream,
};

/// How to reach the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The JID's domain's SRV records: `_xmpps-client._tcp` (direct TLS,
    /// XEP-0368) and `_xmpp-client._tcp` (STARTTLS), merged by priority;
    /// without any, the domain on port 5222 with STARTTLS.
    Srv,
    /// An explicit `HOST:PORT` speaking STARTTLS.
    StartTls { host: String, port: u16 },
    /// An explicit `HOST:PORT` speaking TLS from the first byte (XEP-0368).
    DirectTls { host: String, port: u16 },
}

impl Endpoint {
    /// Parse `HOST:PORT` (STARTTLS) or `tls://HOST:PORT` (direct TLS).
    pub fn parse(s: &str) -> Result<Endpoint, String> {
        let (direct, rest) = match s.strip_prefix("tls://") {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix("xmpp://").unwrap_or(s)),
        };
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("“{s}” needs a port, as in host:5222"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("“{s}” has no host"));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| format!("“{port}” is not a port number"))?;
        let host = host.to_owned();
        Ok(if direct {
            Endpoint::DirectTls { host, port }
        } else {
            Endpoint::StartTls { host, port }
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("{0}")]
    CertificateNotTrusted(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("the server does not offer TLS")]
    NoTls,
    #[error("CA file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
}

impl ServerConnectorError for ConnectorError {}

#[derive(Clone)]
pub struct Connector {
    endpoint: Endpoint,
    tls: Arc<ClientConfig>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Connector {
    pub fn new(endpoint: Endpoint, ca_file: Option<&Path>) -> Result<Connector, ConnectorError> {
        let mut roots = RootCertStore::empty();
        match ca_file {
            Some(path) => {
                let ca_err = |reason: String| ConnectorError::CaFile {
                    path: path.to_path_buf(),
                    reason,
                };
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                    .map_err(|e| ca_err(e.to_string()))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| ca_err(e.to_string()))?;
                if certs.is_empty() {
                    return Err(ca_err("no certificate in the file".into()));
                }
                for cert in certs {
                    roots.add(cert).map_err(|e| ca_err(e.to_string()))?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(native.certs);
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConnectorError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Connector {
            endpoint,
            tls: Arc::new(config),
        })
    }

    /// Connect TCP to the first reachable candidate; `true` = direct TLS.
    async fn tcp(&self, domain: &str) -> Result<(TcpStream, bool), XmppError> {
        let candidates = match &self.endpoint {
            Endpoint::Srv => srv_candidates(domain).await,
            Endpoint::StartTls { host, port } => vec![Candidate::new(host, *port, false)],
            Endpoint::DirectTls { host, port } => vec![Candidate::new(host, *port, true)],
        };
        let mut last = XmppError::Disconnected;
        for c in candidates {
            match DnsConfig::no_srv(&c.host, c.port).resolve().await {
                Ok(tcp) => return Ok((tcp, c.direct_tls)),
                Err(e) => {
                    tracing::debug!(host = %c.host, port = c.port, "candidate unreachable: {e}");
                    last = e;
                }
            }
        }
        Err(last)
    }

    async fn tls<S>(
        &self,
        stream: S,
        domain: &str,
    ) -> Result<(tokio_rustls::client::TlsStream<S>, ChannelBinding), XmppError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        // The certificate must name the JID's domain, whatever address we
        // dialled (RFC 6125 / RFC 7590).
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|e| ConnectorError::Tls(e.to_string()))?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(name, stream)
            .await
            .map_err(classify_tls_error)?;
        let (_, conn) = tls.get_ref();
        let binding = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => conn
                .export_keying_material(vec![0u8; 32], b"EXPORTER-Channel-Binding", None)
                .map(ChannelBinding::TlsExporter)
                .unwrap_or(ChannelBinding::None),
            _ => ChannelBinding::None,
        };
        Ok((tls, binding))
    }
}

fn classify_tls_error(e: std::io::Error) -> XmppError {
    let detail = e.to_string();
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return match inner {
            rustls::Error::InvalidCertificate(cert) => {
                ConnectorError::CertificateNotTrusted(format!("{cert:?}")).into()
            }
            other => ConnectorError::Tls(other.to_string()).into(),
        };
    }
    XmppError::Io(std::io::Error::new(e.kind(), detail))
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

impl ServerConnector for Connector {
    type Stream = BufStream<Tls>;

    async fn connect(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<(PendingFeaturesRecv<Self::Stream>, ChannelBinding), XmppError> {
        let domain = jid.domain().as_str();
        let header = || StreamHeader {
            to: Some(Cow::Owned(domain.to_owned())),
            from: None,
            id: None,
        };
        let (tcp, direct_tls) = self.tcp(domain).await?;
        let (tls, binding) = match direct_tls {
            true => self.tls(tcp, domain).await?,
            false => {
                let plain = initiate_stream(BufStream::new(tcp), ns, header(), timeouts).await?;
                let (features, mut plain) = plain.recv_features().await?;
                if !features.can_starttls() {
                    return Err(ConnectorError::NoTls.into());
                }
                plain
                    .send(&XmppStreamElement::Starttls(starttls::Nonza::Request(
                        starttls::Request,
                    )))
                    .await?;
                loop {
                    let next: Option<Result<XmppStreamElement, ReadError>> = plain
                        .next()
                        .await
                        .map(|v| v.and_then(FallibleStreamElement::into_read_error));
                    match next {
                        Some(Ok(XmppStreamElement::Starttls(starttls::Nonza::Proceed(_)))) => break,
                        Some(Ok(_)) | Some(Err(ReadError::SoftTimeout)) => {}
                        Some(Err(ReadError::HardError(e))) => return Err(e.into()),
                        Some(Err(ReadError::ParseError(e))) => {
                            return Err(
                                std::io::Error::new(std::io::ErrorKind::InvalidData, e).into()
                            );
                        }
                        None | Some(Err(ReadError::StreamFooterReceived)) => {
                            return Err(XmppError::Disconnected);
                        }
                    }
                }
                let tcp = plain.into_inner().into_inner();
                self.tls(tcp, domain).await?
            }
        };
        let stream = initiate_stream(BufStream::new(tls), ns, header(), timeouts).await?;
        Ok((stream, binding))
    }
}

/// One place to try, from SRV or configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    host: String,
    port: u16,
    direct_tls: bool,
}

impl Candidate {
    fn new(host: &str, port: u16, direct_tls: bool) -> Candidate {
        Candidate {
            host: host.to_owned(),
            port,
            direct_tls,
        }
    }
}

/// SRV records as `(priority, weight, target, port, direct_tls)`.
type SrvRecord = (u16, u16, String, u16, bool);

/// XEP-0368: both SRV sets form one list ordered by priority; at equal
/// priority, direct TLS first (it saves a round trip), then by weight.
/// A lone "." target means the service is explicitly not offered.
fn order_candidates(domain: &str, mut records: Vec<SrvRecord>) -> Vec<Candidate> {
    records.retain(|r| !r.2.is_empty() && r.2 != ".");
    if records.is_empty() {
        return vec![Candidate::new(domain, 5222, false)];
    }
    records.sort_by(|a, b| a.0.cmp(&b.0).then(b.4.cmp(&a.4)).then(b.1.cmp(&a.1)));
    records
        .into_iter()
        .map(|(_, _, target, port, direct)| {
            Candidate::new(target.trim_end_matches('.'), port, direct)
        })
        .collect()
}

async fn srv_candidates(domain: &str) -> Vec<Candidate> {
    use hickory_resolver::TokioResolver;
    use hickory_resolver::proto::rr::RData;
    let resolver = match TokioResolver::builder_tokio().map(|b| b.build()) {
        Ok(Ok(r)) => r,
        _ => return order_candidates(domain, Vec::new()),
    };
    let mut records = Vec::new();
    for (service, direct) in [("_xmpps-client._tcp", true), ("_xmpp-client._tcp", false)] {
        let name = format!("{service}.{domain}.");
        if let Ok(lookup) = resolver.srv_lookup(name).await {
            for answer in lookup.answers() {
                if let RData::SRV(srv) = &answer.data {
                    records.push((
                        srv.priority,
                        srv.weight,
                        srv.target.to_ascii(),
                        srv.port,
                        direct,
                    ));
                }
            }
        }
    }
    order_candidates(domain, records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_clear_errors() {
        assert_eq!(
            Endpoint::parse("127.0.0.1:5222").unwrap(),
            Endpoint::StartTls {
                host: "127.0.0.1".into(),
                port: 5222
            }
        );
        assert_eq!(
            Endpoint::parse("tls://[::1]:5223").unwrap(),
            Endpoint::DirectTls {
                host: "::1".into(),
                port: 5223
            }
        );
        assert!(Endpoint::parse("example.org").unwrap_err().contains("port"));
        assert!(
            Endpoint::parse("example.org:http")
                .unwrap_err()
                .contains("port number")
        );
    }

    #[test]
    fn srv_records_merge_by_priority_preferring_direct_tls() {
        let recs = vec![
            (10, 0, "starttls.example.org.".into(), 5222, false),
            (5, 0, "backup.example.org.".into(), 443, true),
            (10, 0, "tls.example.org.".into(), 5223, true),
            (10, 50, "heavy.example.org.".into(), 5222, false),
        ];
        let got = order_candidates("example.org", recs);
        let names: Vec<_> = got
            .iter()
            .map(|c| (c.host.as_str(), c.direct_tls))
            .collect();
        assert_eq!(
            names,
            [
                ("backup.example.org", true),
                ("tls.example.org", true),
                ("heavy.example.org", false),
                ("starttls.example.org", false),
            ]
        );
    }

    #[test]
    fn without_srv_the_domain_is_tried_with_starttls() {
        assert_eq!(
            order_candidates("example.org", vec![(0, 0, ".".into(), 0, true)]),
            [Candidate::new("example.org", 5222, false)]
        );
    }
}
