//! The demo's HTTPS target: a certificate generated when the demo starts, so the TLS phase and
//! the certificate-expiry panel and alerts have live data without a certificate shipped in the
//! repository (one checked in would expire, and its key would be public).
//!
//! The certificate is self-signed for the demo target's host (plus `localhost`, `127.0.0.1` and
//! `::1`), valid for [`VALIDITY`] like a Let's Encrypt certificate, and written as a PEM file that
//! the demo's HTTPS targets trust as their `tls.ca_file` (so the demo verifies it as a real
//! deployment would, no `insecure_skip_verify`); `curl --cacert` can use the same file.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use crate::web::WebLayer;

/// How long the generated certificate is valid.
pub const VALIDITY: Duration = Duration::from_secs(90 * 24 * 3600);

/// A generated certificate, its key, and the file holding the certificate.
#[derive(Debug)]
pub struct DemoCertificate {
    /// PEM of the certificate (also the trust anchor).
    pub cert_pem: String,
    key_pem: String,
    /// Where the certificate was written: the `tls.ca_file` of the demo's HTTPS targets.
    pub ca_file: PathBuf,
    /// End of validity (whole seconds, as the certificate encodes it).
    pub not_after: SystemTime,
}

impl DemoCertificate {
    /// A new key and certificate for `host`, valid from a day ago (clock skew) for
    /// [`VALIDITY`], written to `dir/demo-ca.pem`.
    pub fn generate(host: &str, dir: &Path) -> Result<DemoCertificate> {
        let mut names = vec![host.to_string()];
        for local in ["localhost", "127.0.0.1", "::1"] {
            if !names.iter().any(|n| n == local) {
                names.push(local.to_string());
            }
        }
        let key = rcgen::KeyPair::generate().context("generating the demo TLS key")?;
        let mut params =
            rcgen::CertificateParams::new(names).context("the demo certificate's names")?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("the system clock is before 1970")?;
        let from = Duration::from_secs(now.as_secs().saturating_sub(24 * 3600));
        let until = Duration::from_secs(now.as_secs()) + VALIDITY;
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        params.not_before = epoch + from;
        params.not_after = epoch + until;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "synthex demo target");
        let cert = params
            .self_signed(&key)
            .context("signing the demo certificate")?;
        let ca_file = dir.join("demo-ca.pem");
        std::fs::write(&ca_file, cert.pem())
            .with_context(|| format!("writing the demo certificate to {}", ca_file.display()))?;
        Ok(DemoCertificate {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            ca_file,
            not_after: UNIX_EPOCH + until,
        })
    }

    /// The web layer serving HTTPS with this certificate.
    pub fn web_layer(&self) -> Result<WebLayer> {
        WebLayer::with_certificate(self.cert_pem.clone(), self.key_pem.clone())
            .context("the demo certificate")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::{FromDer, X509Certificate};

    #[test]
    fn the_certificate_names_the_host_and_lasts_ninety_days() {
        let dir = std::env::temp_dir().join(format!("synthex-demo-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = DemoCertificate::generate("192.0.2.7", &dir).unwrap();
        let pem = std::fs::read_to_string(&cert.ca_file).unwrap();
        assert_eq!(pem, cert.cert_pem);
        let der = rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
            .map(|c: rustls::pki_types::CertificateDer<'static>| c.to_vec())
            .unwrap();
        let (_, parsed) = X509Certificate::from_der(&der).unwrap();
        let not_after = parsed.validity().not_after.timestamp();
        let not_before = parsed.validity().not_before.timestamp();
        let expected = cert.not_after.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        assert_eq!(not_after, expected);
        assert_eq!(not_after - not_before, 91 * 24 * 3600);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((not_after - now - 90 * 24 * 3600).abs() <= 2);
        let sans = format!("{:?}", parsed.subject_alternative_name().unwrap().unwrap());
        for name in ["192.0.2.7", "localhost", "127.0.0.1"] {
            let needle = if name.contains('.') && name.parse::<std::net::IpAddr>().is_ok() {
                format!("{:?}", name.parse::<std::net::Ipv4Addr>().unwrap().octets())
            } else {
                name.to_string()
            };
            assert!(sans.contains(&needle), "{name} not in {sans}");
        }
        assert!(cert.web_layer().unwrap().tls.is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
