//! `tls_server_config` → a rustls server config, rebuilt when a certificate, key or client CA
//! file changes (cert-manager and similar rotate them in place; a Kubernetes Secret mount swaps
//! a symlink). Each new connection compares the files' identity (modification time, size,
//! inode: three `stat` calls) with the one the config was built from; a rebuild that fails (a
//! new certificate written before its key) keeps the previous config and is retried on the next
//! connection, logged once per change.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use tokio_rustls::TlsAcceptor;

use super::client_cert::{AllowedSans, AnyClientCert};
use super::file::TlsServerFile;
use super::{FieldProblem, relative_to};
use crate::config::io_message;

/// PEM material given as a file (re-read when it changes) or inline in the web config.
#[derive(Debug)]
enum Pem {
    File { field: &'static str, path: PathBuf },
    Inline { field: &'static str, text: String },
}

impl Pem {
    fn from_fields(
        file_field: &'static str,
        file: Option<String>,
        inline_field: &'static str,
        inline: Option<String>,
        dir: &Path,
    ) -> Result<Option<Pem>, FieldProblem> {
        match (
            file.filter(|f| !f.is_empty()),
            inline.filter(|t| !t.is_empty()),
        ) {
            (Some(_), Some(_)) => Err((
                format!("tls_server_config.{file_field}"),
                format!("set either {file_field} or {inline_field}, not both"),
            )),
            (Some(file), None) => Ok(Some(Pem::File {
                field: file_field,
                path: relative_to(dir, &file),
            })),
            (None, Some(text)) => Ok(Some(Pem::Inline {
                field: inline_field,
                text,
            })),
            (None, None) => Ok(None),
        }
    }

    fn field(&self) -> String {
        let (Pem::File { field, .. } | Pem::Inline { field, .. }) = self;
        format!("tls_server_config.{field}")
    }

    fn read(&self) -> Result<Vec<u8>, FieldProblem> {
        match self {
            Pem::File { path, .. } => std::fs::read(path).map_err(|e| {
                (
                    self.field(),
                    format!("cannot read {}: {}", path.display(), io_message(&e)),
                )
            }),
            Pem::Inline { text, .. } => Ok(text.clone().into_bytes()),
        }
    }

    /// The file's identity now; `None` for inline material (it never changes).
    fn identity(&self) -> Option<FileIdentity> {
        match self {
            Pem::File { path, .. } => Some(std::fs::metadata(path).ok().map(|m| {
                (
                    m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    m.len(),
                    m.ino(),
                )
            })),
            Pem::Inline { .. } => None,
        }
    }
}

/// Modification time, size and inode of a file; `None` while it cannot be read.
type FileIdentity = Option<(SystemTime, u64, u64)>;

/// How client certificates are asked for, Go's `tls.ClientAuthType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    None,
    Request,
    RequireAny,
    VerifyIfGiven,
    RequireAndVerify,
}

/// Everything fixed at start; the PEM files are read from it on every rebuild.
#[derive(Debug)]
struct Settings {
    cert: Pem,
    key: Pem,
    client_ca: Option<Pem>,
    client_auth: ClientAuth,
    allowed_sans: Option<Vec<String>>,
    versions: Vec<&'static SupportedProtocolVersion>,
    provider: Arc<CryptoProvider>,
    prefer_server_order: bool,
}

/// The rustls config now in use and the file identities it was built from.
struct Current {
    identities: Vec<Option<FileIdentity>>,
    acceptor: TlsAcceptor,
    /// Identities of the last failed rebuild, so a failure is logged once.
    failed: Option<Vec<Option<FileIdentity>>>,
}

/// TLS for the server's connections, kept in step with the certificate files.
pub struct TlsSource {
    settings: Settings,
    current: Mutex<Current>,
}

impl TlsSource {
    /// Checks `tls_server_config` and builds the first rustls config from it: an unreadable
    /// file, a key that does not match its certificate, or a setting rustls cannot honour is
    /// refused here, with its field.
    pub(super) fn new(file: TlsServerFile, dir: &Path) -> Result<TlsSource, FieldProblem> {
        let settings = settings(file, dir)?;
        let identities = settings.identities();
        let acceptor = TlsAcceptor::from(Arc::new(build(&settings)?));
        Ok(TlsSource {
            settings,
            current: Mutex::new(Current {
                identities,
                acceptor,
                failed: None,
            }),
        })
    }

    /// The acceptor for a new connection, rebuilt first if a certificate, key or CA file
    /// changed since the last one.
    pub fn acceptor(&self) -> TlsAcceptor {
        let identities = self.settings.identities();
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.identities != identities && current.failed.as_ref() != Some(&identities) {
            match build(&self.settings) {
                Ok(config) => {
                    tracing::info!("exporter: TLS certificate files changed, reloaded them");
                    current.acceptor = TlsAcceptor::from(Arc::new(config));
                    current.identities = identities;
                    current.failed = None;
                }
                Err((field, message)) => {
                    tracing::warn!(
                        field,
                        error = message,
                        "exporter: TLS files changed but cannot be used, keeping the previous ones"
                    );
                    current.failed = Some(identities);
                }
            }
        }
        current.acceptor.clone()
    }
}

impl Settings {
    fn identities(&self) -> Vec<Option<FileIdentity>> {
        [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()]
            .into_iter()
            .flatten()
            .map(Pem::identity)
            .collect()
    }
}

/// Go's names of the TLS versions, and the rustls versions among them.
const VERSIONS: &[(&str, Option<&SupportedProtocolVersion>)] = &[
    ("TLS10", None),
    ("TLS11", None),
    ("TLS12", Some(&rustls::version::TLS12)),
    ("TLS13", Some(&rustls::version::TLS13)),
];

/// Go's names of the curves, and the rustls key exchange groups among them.
fn curve(name: &str) -> Option<&'static dyn SupportedKxGroup> {
    use rustls::crypto::ring::kx_group;
    match name {
        "X25519" => Some(kx_group::X25519),
        "CurveP256" => Some(kx_group::SECP256R1),
        "CurveP384" => Some(kx_group::SECP384R1),
        _ => None,
    }
}

fn settings(file: TlsServerFile, dir: &Path) -> Result<Settings, FieldProblem> {
    let field = |name: &str| format!("tls_server_config.{name}");
    let cert = Pem::from_fields("cert_file", file.cert_file, "cert", file.cert, dir)?.ok_or_else(
        || {
            (
                field("cert_file"),
                "missing one of cert or cert_file".to_string(),
            )
        },
    )?;
    let key =
        Pem::from_fields("key_file", file.key_file, "key", file.key, dir)?.ok_or_else(|| {
            (
                field("key_file"),
                "missing one of key or key_file".to_string(),
            )
        })?;
    let client_ca = Pem::from_fields(
        "client_ca_file",
        file.client_ca_file,
        "client_ca",
        file.client_ca,
        dir,
    )?;
    let client_auth = match file.client_auth_type.as_deref().unwrap_or("") {
        "" | "NoClientCert" => ClientAuth::None,
        "RequestClientCert" => ClientAuth::Request,
        "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAny,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
        other => {
            return Err((
                field("client_auth_type"),
                format!(
                    "invalid {other:?}; expected NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"
                ),
            ));
        }
    };
    match (client_auth, &client_ca) {
        (ClientAuth::None, Some(_)) => {
            return Err((
                field("client_ca_file"),
                "a client CA is configured without a client_auth_type that asks for client certificates".to_string(),
            ));
        }
        (ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify, None) => {
            return Err((
                field("client_ca_file"),
                "verifying client certificates needs client_ca_file (or client_ca)".to_string(),
            ));
        }
        _ => {}
    }
    let allowed_sans = file.client_allowed_sans.filter(|sans| !sans.is_empty());
    if allowed_sans.is_some() && client_auth == ClientAuth::None {
        return Err((
            field("client_allowed_sans"),
            "needs a client_auth_type that asks for client certificates".to_string(),
        ));
    }
    let versions = versions(file.min_version.as_deref(), file.max_version.as_deref())?;
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(names) = file.cipher_suites.filter(|n| !n.is_empty()) {
        provider.cipher_suites = cipher_suites(&provider.cipher_suites, &names)?;
    }
    if let Some(names) = file.curve_preferences.filter(|n| !n.is_empty()) {
        provider.kx_groups = names
            .iter()
            .map(|name| {
                curve(name).ok_or_else(|| {
                    (
                        field("curve_preferences"),
                        format!(
                            "{name:?} is not available in synthex's TLS library (rustls with ring); expected X25519, CurveP256 or CurveP384"
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
    }
    Ok(Settings {
        cert,
        key,
        client_ca,
        client_auth,
        allowed_sans,
        versions,
        provider: Arc::new(provider),
        prefer_server_order: file.prefer_server_cipher_suites.unwrap_or(true),
    })
}

/// The rustls versions from `min` to `max` (Go's defaults: TLS12 to TLS13).
fn versions(
    min: Option<&str>,
    max: Option<&str>,
) -> Result<Vec<&'static SupportedProtocolVersion>, FieldProblem> {
    let position = |name: &'static str, value: Option<&str>, default: usize| match value {
        None | Some("") => Ok(default),
        Some(value) => match VERSIONS.iter().position(|(n, _)| *n == value) {
            Some(at) if VERSIONS[at].1.is_some() => Ok(at),
            Some(_) => Err((
                format!("tls_server_config.{name}"),
                format!(
                    "{value} is not supported: synthex's TLS library (rustls) speaks TLS12 and TLS13 only"
                ),
            )),
            None => Err((
                format!("tls_server_config.{name}"),
                format!("invalid {value:?}; expected TLS12 or TLS13"),
            )),
        },
    };
    let low = position("min_version", min, 2)?;
    let high = position("max_version", max, 3)?;
    if low > high {
        return Err((
            "tls_server_config.max_version".to_string(),
            format!(
                "{} is below min_version {}",
                VERSIONS[high].0, VERSIONS[low].0
            ),
        ));
    }
    Ok(VERSIONS[low..=high]
        .iter()
        .filter_map(|(_, v)| *v)
        .collect())
}

/// The TLS 1.3 suites (Go does not let them be chosen) and the named TLS 1.2 suites, in the
/// order given. Go also accepts the CHACHA20 names without their `_SHA256` suffix.
fn cipher_suites(
    available: &[SupportedCipherSuite],
    names: &[String],
) -> Result<Vec<SupportedCipherSuite>, FieldProblem> {
    let name_of = |suite: &SupportedCipherSuite| format!("{:?}", suite.suite());
    let tls12: Vec<&SupportedCipherSuite> = available
        .iter()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
        .collect();
    let mut chosen: Vec<SupportedCipherSuite> = available
        .iter()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        .copied()
        .collect();
    for name in names {
        let wanted = if name.ends_with("_CHACHA20_POLY1305") {
            format!("{name}_SHA256")
        } else {
            name.clone()
        };
        let Some(suite) = tls12.iter().find(|s| name_of(s) == wanted) else {
            let offered: Vec<String> = tls12.iter().map(|s| name_of(s)).collect();
            return Err((
                "tls_server_config.cipher_suites".to_string(),
                format!(
                    "{name:?} is not available in synthex's TLS library (rustls); it offers {offered:?}"
                ),
            ));
        };
        chosen.push(**suite);
    }
    Ok(chosen)
}

/// Reads the PEM material and builds the rustls config.
fn build(settings: &Settings) -> Result<ServerConfig, FieldProblem> {
    let cert_pem = settings.cert.read()?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| (settings.cert.field(), format!("not a PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err((
            settings.cert.field(),
            "no PEM certificate in it".to_string(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&settings.key.read()?).map_err(|e| {
        (
            settings.key.field(),
            format!("no PEM private key in it: {e}"),
        )
    })?;
    let verifier = client_verifier(settings)?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&settings.provider))
        .with_protocol_versions(&settings.versions)
        .map_err(|e| ("tls_server_config".to_string(), e.to_string()))?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        (
            settings.key.field(),
            format!("the key and certificate cannot be used together: {e}"),
        )
    })?;
    config.ignore_client_order = settings.prefer_server_order;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn client_verifier(
    settings: &Settings,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, FieldProblem> {
    let any = |mandatory| -> Arc<dyn ClientCertVerifier> {
        Arc::new(AnyClientCert {
            mandatory,
            provider: Arc::clone(&settings.provider),
        })
    };
    let verifier = match settings.client_auth {
        ClientAuth::None => return Ok(None),
        ClientAuth::Request => any(false),
        ClientAuth::RequireAny => any(true),
        ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify => {
            let Some(ca) = &settings.client_ca else {
                return Err((
                    "tls_server_config.client_ca_file".to_string(),
                    "verifying client certificates needs client_ca_file".to_string(),
                ));
            };
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&ca.read()?) {
                let cert = cert.map_err(|e| (ca.field(), format!("not a PEM certificate: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| (ca.field(), format!("unusable CA certificate: {e}")))?;
            }
            if roots.is_empty() {
                return Err((ca.field(), "no PEM certificate in it".to_string()));
            }
            let builder = WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::clone(&settings.provider),
            );
            let builder = if settings.client_auth == ClientAuth::VerifyIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder
                .build()
                .map_err(|e| (ca.field(), format!("cannot verify clients with it: {e}")))?
        }
    };
    Ok(Some(match &settings.allowed_sans {
        Some(allowed) => Arc::new(AllowedSans {
            inner: verifier,
            allowed: allowed.clone(),
        }),
        None => verifier,
    }))
}
