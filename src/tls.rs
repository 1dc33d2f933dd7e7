//! Serving over TLS (rustls 0.23, ring provider), optionally asking hall agents for a client
//! certificate under the hall CA (mutual TLS). A client certificate is optional at the TLS
//! layer, so staff browsers and bearer-token agents still connect; the agent routes then accept
//! either credential.

use actix_web::dev::Extensions;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::any::Any;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let list: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?
        .collect();
    let list = list.map_err(|e| TlsError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if list.is_empty() {
        return Err(TlsError::File {
            path: path.display().to_string(),
            reason: "no certificate in the file".into(),
        });
    }
    Ok(list)
}

pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::File {
        path: key.display().to_string(),
        reason: e.to_string(),
    })?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs(ca)? {
                roots.add(c).map_err(|e| TlsError::File {
                    path: ca.display().to_string(),
                    reason: e.to_string(),
                })?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))
}

/// The verified client certificate chain of a TLS connection (leaf first).
#[derive(Clone, Debug)]
pub struct PeerCertificates(pub Vec<CertificateDer<'static>>);

/// `HttpServer::on_connect`: keep the client's verified chain for the handlers.
pub fn remember_peer(conn: &dyn Any, ext: &mut Extensions) {
    type Stream = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    if let Some(tls) = conn.downcast_ref::<Stream>() {
        let (_, session) = tls.get_ref();
        if let Some(chain) = session.peer_certificates() {
            ext.insert(PeerCertificates(
                chain.iter().map(|c| c.clone().into_owned()).collect(),
            ));
        }
    }
}

/// The hall code a hall client certificate names: subject CN, with OU `crosscert-hall`. The
/// chain itself was verified against the hall CA during the handshake.
pub fn hall_of_certificate(leaf: &CertificateDer<'_>) -> Option<String> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(leaf.as_ref()).ok()?;
    let subject = cert.subject();
    let ou_ok = subject
        .iter_organizational_unit()
        .any(|ou| ou.as_str().ok() == Some("crosscert-hall"));
    let cn = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    (ou_ok && !cn.is_empty()).then_some(cn)
}
