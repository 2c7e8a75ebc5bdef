//! TLS for one target: the rustls client configuration handed to reqwest, and the certificate
//! verifier that records the earliest `notAfter` of the peer chain.
//!
//! The configuration is built here rather than by reqwest so that synthex controls the crypto
//! provider (ring), the trust roots (system store plus `tls.ca_file`) and verification
//! (`tls.server_name`, `tls.insecure_skip_verify`), and so it sees every certificate chain the
//! target presents: expiry is recorded before verification, so an expired or untrusted
//! certificate still shows its date on the dashboard.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::ProbeErrorKind;
use crate::scenario::TlsSettings;

/// The earliest certificate expiry the target presented, shared by all its connections.
/// It keeps the last handshake's value, so requests on pooled connections still report it.
/// Every request reads it, so it is one atomic rather than a lock: whole seconds since the
/// epoch (X.509 times have no finer part) plus one, 0 before any handshake.
#[derive(Debug, Default)]
pub(crate) struct CertExpiry(AtomicU64);

impl CertExpiry {
    /// The value recorded by the most recent handshake, if any.
    pub(crate) fn get(&self) -> Option<SystemTime> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            stored => Some(UNIX_EPOCH + Duration::from_secs(stored - 1)),
        }
    }

    fn set(&self, expiry: SystemTime) {
        let seconds = expiry.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.0.store(seconds.saturating_add(1), Ordering::Relaxed);
    }
}

/// A client certificate chain and its key, for a server that asks for one.
pub(crate) type ClientIdentity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// Builds the rustls client configuration of one target. `expiry` receives the chain expiry
/// on every handshake; `identity` is presented to a server that asks for a client certificate.
/// The trust roots are loaded now, so the first handshake is timed like every other.
pub(crate) fn client_config(
    settings: &TlsSettings,
    expiry: Arc<CertExpiry>,
    identity: Option<ClientIdentity>,
) -> Result<ClientConfig, ProbeErrorKind> {
    build(settings, expiry, identity, true)
}

/// [`client_config`] for a plain-HTTP target, which only meets TLS when a redirect leads to an
/// HTTPS URL: the trust roots are loaded at the first handshake, if one ever comes, so a
/// plain-HTTP canary never holds the system store (`tls.ca_file` is still read and checked now).
pub(crate) fn on_demand_client_config(
    settings: &TlsSettings,
    expiry: Arc<CertExpiry>,
) -> Result<ClientConfig, ProbeErrorKind> {
    build(settings, expiry, None, false)
}

fn build(
    settings: &TlsSettings,
    expiry: Arc<CertExpiry>,
    identity: Option<ClientIdentity>,
    load_roots_now: bool,
) -> Result<ClientConfig, ProbeErrorKind> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let check = if settings.insecure_skip_verify {
        Check::AcceptAll
    } else {
        let trust = Trust {
            extra: ca_file_certificates(settings.ca_file.as_deref())?,
            provider: provider.clone(),
            verifier: OnceLock::new(),
        };
        if load_roots_now && let Verifier::Failed(error) = trust.verifier() {
            return Err(ProbeErrorKind::Tls(error.clone()));
        }
        Check::WebPki(trust)
    };
    let server_name = match &settings.server_name {
        Some(name) => Some(
            ServerName::try_from(name.clone())
                .map_err(|_| ProbeErrorKind::ServerName(name.clone()))?,
        ),
        None => None,
    };
    let verifier = RecordingVerifier {
        check,
        expiry,
        server_name,
        provider: provider.clone(),
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProbeErrorKind::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match identity {
        Some((certs, key)) => builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| ProbeErrorKind::Tls(e.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // No session resumption (tickets or session ids): a resumed handshake presents no
    // certificate, so it would skip verification and the expiry record, and it costs less than
    // a new client pays. Every new connection does a full handshake: with `keep_alive: false`
    // each request, with pooled connections each new connection, so a renewed certificate
    // shows at the first connection after the renewal.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// The certificates of `ca_file`, each checked as a trust anchor: an unreadable file or one
/// without a usable certificate is a configuration error at start, whenever the roots load.
fn ca_file_certificates(
    ca_file: Option<&Path>,
) -> Result<Vec<CertificateDer<'static>>, ProbeErrorKind> {
    let Some(path) = ca_file else {
        return Ok(Vec::new());
    };
    let problem = |detail: String| ProbeErrorKind::CaFile {
        path: path.to_path_buf(),
        detail,
    };
    let mut checked = RootCertStore::empty();
    let mut certs = Vec::new();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| problem(e.to_string()))? {
        let cert = cert.map_err(|e| problem(e.to_string()))?;
        checked
            .add(cert.clone())
            .map_err(|e| problem(e.to_string()))?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(problem("no PEM CERTIFICATE block found".to_string()));
    }
    Ok(certs)
}

fn native_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        for error in &loaded.errors {
            tracing::warn!(%error, "could not load some system root certificates");
        }
        loaded.certs
    })
}

/// The trust roots (system store, loaded once per process, plus `tls.ca_file`) and the WebPKI
/// verifier on them, made once: when the configuration is built or at the first handshake
/// ([`on_demand_client_config`]).
#[derive(Debug)]
struct Trust {
    extra: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
    verifier: OnceLock<Verifier>,
}

#[derive(Debug)]
enum Verifier {
    Ready(Arc<WebPkiServerVerifier>),
    /// No trust roots at all: every chain is refused with an explanation. Not a config error:
    /// plain-HTTP targets never need roots, and an HTTPS target reports every request as a
    /// `tls` failure with this explanation.
    NoRoots,
    /// rustls refused the roots.
    Failed(String),
}

impl Trust {
    fn verifier(&self) -> &Verifier {
        self.verifier.get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(native_roots().iter().cloned());
            // Checked as anchors by `ca_file_certificates` already.
            roots.add_parsable_certificates(self.extra.iter().cloned());
            if roots.is_empty() {
                return Verifier::NoRoots;
            }
            match WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                self.provider.clone(),
            )
            .build()
            {
                Ok(verifier) => Verifier::Ready(verifier),
                Err(error) => Verifier::Failed(error.to_string()),
            }
        })
    }
}

/// How the chain itself is judged.
#[derive(Debug)]
enum Check {
    /// Standard WebPKI path building against the trust roots.
    WebPki(Trust),
    /// `insecure_skip_verify`: any chain is accepted (handshake signatures are still checked).
    AcceptAll,
}

/// Verifier that records chain expiry, then delegates to [`Check`], verifying against
/// `tls.server_name` when set.
#[derive(Debug)]
struct RecordingVerifier {
    check: Check,
    expiry: Arc<CertExpiry>,
    server_name: Option<ServerName<'static>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(expiry) = earliest_not_after(std::iter::once(end_entity).chain(intermediates)) {
            self.expiry.set(expiry);
        }
        let name = self.server_name.as_ref().unwrap_or(server_name);
        match &self.check {
            Check::WebPki(trust) => match trust.verifier() {
                Verifier::Ready(verifier) => verifier.verify_server_cert(
                    end_entity,
                    intermediates,
                    name,
                    ocsp_response,
                    now,
                ),
                Verifier::NoRoots => Err(rustls::Error::General(
                    "no trusted root certificates: the system store is empty and tls.ca_file is not set"
                        .to_string(),
                )),
                Verifier::Failed(error) => Err(rustls::Error::General(error.clone())),
            },
            Check::AcceptAll => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The earliest `notAfter` among `certs`; unparsable certificates are skipped (verification
/// reports them).
fn earliest_not_after<'a>(
    certs: impl Iterator<Item = &'a CertificateDer<'a>>,
) -> Option<SystemTime> {
    certs
        .filter_map(|der| x509_parser::parse_x509_certificate(der.as_ref()).ok())
        .map(|(_, cert)| cert.validity().not_after.timestamp())
        .min()
        .map(|secs| match u64::try_from(secs) {
            Ok(secs) => UNIX_EPOCH + Duration::from_secs(secs),
            Err(_) => UNIX_EPOCH,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_expiry_keeps_the_last_handshakes_whole_seconds() {
        let expiry = CertExpiry::default();
        assert_eq!(expiry.get(), None);
        let far = UNIX_EPOCH + Duration::from_secs(253_402_300_799); // 9999-12-31T23:59:59Z
        expiry.set(far);
        assert_eq!(expiry.get(), Some(far));
        let soon = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        expiry.set(soon);
        assert_eq!(expiry.get(), Some(soon));
        // A chain expired at the epoch itself is a date, not "no handshake yet".
        expiry.set(UNIX_EPOCH);
        assert_eq!(expiry.get(), Some(UNIX_EPOCH));
    }
}
