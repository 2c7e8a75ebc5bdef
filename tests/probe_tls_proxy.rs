//! The probe's TLS (verification, expiry, server_name, stalled handshakes) and proxy handling,
//! against real local servers.

mod probe_support;

use std::time::Duration;

use probe_support::servers::{self, TestCert, reply, test_cert};
use probe_support::{global, message, reason, refused_port, run, scenario, target};
use synthex::outcome::FailureReason;
use synthex::probe::{Probe, ProbeErrorKind};
use synthex::scenario::Target;
use synthex::template::Iteration;
use tokio::time::Instant;

#[tokio::test]
async fn stalled_tls_handshake_is_timeout() {
    // Accepts TCP but never speaks TLS: the connect timeout (connector layer) fires.
    let server = servers::raw(|stream| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(stream);
    })
    .await;
    let mut t = target(&format!("https://{}", server.addr));
    t.timeout = Duration::from_millis(200);
    let o = run(&t, &scenario("/")).await;
    assert_eq!(reason(&o), Some(FailureReason::Timeout), "{}", message(&o));
}

#[tokio::test]
async fn explicit_proxy_is_used() {
    // A forward proxy receives the absolute URL and answers itself.
    let proxy = servers::http(|seen| reply(200, &[("x-via", "proxy")], seen.path.clone())).await;
    let mut t = target(&format!("http://127.0.0.1:{}/", refused_port()));
    t.proxy = Some(format!("http://{}", proxy.addr).parse().unwrap());
    let o = run(&t, &scenario("/through")).await;
    assert!(o.is_success(), "{:?}", o.failure);
    assert_eq!(proxy.log.requests().len(), 1);
}

/// Environment proxy variables must be ignored. Setting them in this process would race the
/// other tests, so the test re-runs itself in a child process with them set.
#[tokio::test]
async fn environment_proxy_is_ignored() {
    if let Ok(url) = std::env::var("SYNTHEX_PROBE_CHILD_TARGET") {
        let o = run(&target(&url), &scenario("/direct")).await;
        assert!(o.is_success(), "{:?}", o.failure);
        return;
    }
    let server = servers::http(|_| reply(200, &[], "")).await;
    let proxy = servers::http(|_| reply(502, &[], "")).await;
    let proxy_url = format!("http://{}", proxy.addr);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child.args([
        "environment_proxy_is_ignored",
        "--exact",
        "--test-threads=1",
    ]);
    child.env(
        "SYNTHEX_PROBE_CHILD_TARGET",
        format!("http://{}", server.addr),
    );
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        child.env(var, &proxy_url);
    }
    child.env_remove("NO_PROXY").env_remove("no_proxy");
    let output = tokio::task::spawn_blocking(move || child.output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 passed"));
    assert_eq!(server.log.requests().len(), 1);
    assert_eq!(proxy.log.connections(), 0);
}

fn tls_target(
    server_port: u16,
    ca: Option<&TestCert>,
) -> (Target, Option<tempfile::NamedTempFile>) {
    let mut t = target(&format!("https://127.0.0.1:{server_port}"));
    let file = ca.map(|cert| {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &cert.pem).unwrap();
        file
    });
    t.tls.ca_file = file.as_ref().map(|f| f.path().to_path_buf());
    (t, file)
}

#[tokio::test]
async fn tls_verification_and_certificate_expiry() {
    let cert = test_cert(&["127.0.0.1"], "2031-05-17T08:30:00Z");
    let server = servers::https(&cert, |_| reply(200, &[], "secure")).await;

    let (untrusted, _) = tls_target(server.port(), None);
    let o = run(&untrusted, &scenario("/")).await;
    assert_eq!(reason(&o), Some(FailureReason::Tls), "{}", message(&o));
    assert_eq!(
        o.cert_expiry,
        Some(cert.not_after),
        "expiry is recorded even when refused"
    );

    let (trusted, _file) = tls_target(server.port(), Some(&cert));
    let o = run(&trusted, &scenario("/")).await;
    assert!(o.is_success(), "{:?}", o.failure);
    assert_eq!(o.cert_expiry, Some(cert.not_after));
    assert!(o.phases.connect.is_some());

    let (mut insecure, _) = tls_target(server.port(), None);
    insecure.tls.insecure_skip_verify = true;
    insecure.keep_alive = true;
    let probe = Probe::new(&insecure, &global()).unwrap();
    for _ in 0..2 {
        // The second request rides the pooled connection and still reports the expiry.
        let o = probe
            .run(&scenario("/"), Instant::now(), &Iteration::default())
            .await;
        assert!(o.is_success(), "{:?}", o.failure);
        assert_eq!(o.cert_expiry, Some(cert.not_after));
    }
}

/// A plain-HTTP target loads its trust roots only at its first handshake, when a redirect
/// leads to HTTPS: they still verify the chain (system store plus `tls.ca_file`) and the expiry
/// is the test certificate's own.
#[tokio::test]
async fn a_plain_http_target_redirected_to_https_verifies_with_roots_loaded_on_demand() {
    let cert = test_cert(&["127.0.0.1"], "2030-02-11T10:00:00Z");
    let secure = servers::https(&cert, |_| reply(200, &[], "secure")).await;
    let location = format!("https://127.0.0.1:{}/landed", secure.port());
    let plain = servers::http(move |_| reply(302, &[("location", &location)], "")).await;
    let (_, file) = tls_target(secure.port(), Some(&cert));
    for trusted in [false, true] {
        let mut t = target(&format!("http://{}", plain.addr));
        t.follow_redirects = 1;
        if trusted {
            t.tls.ca_file = file.as_ref().map(|f| f.path().to_path_buf());
        }
        let probe = Probe::new(&t, &global()).unwrap();
        for _ in 0..2 {
            let o = probe
                .run(&scenario("/"), Instant::now(), &Iteration::default())
                .await;
            assert_eq!(o.cert_expiry, Some(cert.not_after));
            match trusted {
                true => assert!(o.is_success(), "{:?}", o.failure),
                false => assert_eq!(reason(&o), Some(FailureReason::Tls), "{}", message(&o)),
            }
        }
    }
    assert_eq!(
        secure.log.requests().len(),
        2,
        "only the trusted requests got through"
    );
}

#[tokio::test]
async fn tls_server_name_is_verified_and_sent_as_sni() {
    let cert = test_cert(&["api.internal"], "2030-01-01T00:00:00Z");
    let server = servers::https(&cert, |_| reply(200, &[], "")).await;
    let (mut t, _file) = tls_target(server.port(), Some(&cert));
    let o = run(&t, &scenario("/")).await;
    assert_eq!(
        reason(&o),
        Some(FailureReason::Tls),
        "the cert does not name 127.0.0.1"
    );

    t.tls.server_name = Some("api.internal".to_string());
    let o = run(&t, &scenario("/")).await;
    assert!(o.is_success(), "{:?}", o.failure);
    let seen = server.log.requests().pop().unwrap();
    assert_eq!(seen.sni.as_deref(), Some("api.internal"));
    let host = format!("127.0.0.1:{}", server.port());
    assert_eq!(seen.headers.get("host").unwrap().to_str().unwrap(), host);
}

#[tokio::test]
async fn expired_certificate_is_tls_with_its_expiry() {
    let cert = test_cert(&["127.0.0.1"], "2021-03-04T05:06:07Z");
    let server = servers::https(&cert, |_| reply(200, &[], "")).await;
    let (t, _file) = tls_target(server.port(), Some(&cert));
    let o = run(&t, &scenario("/")).await;
    assert_eq!(reason(&o), Some(FailureReason::Tls));
    assert!(
        message(&o).to_lowercase().contains("expired"),
        "{}",
        message(&o)
    );
    assert_eq!(o.cert_expiry, Some(cert.not_after));
}

#[test]
fn bad_ca_file_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificates here\n").unwrap();
    for path in [missing, empty] {
        let mut t = target("https://127.0.0.1:1");
        t.tls.ca_file = Some(path.clone());
        let error = Probe::new(&t, &global()).unwrap_err();
        assert!(
            matches!(error.kind, ProbeErrorKind::CaFile { .. }),
            "{error}"
        );
        let text = error.to_string();
        assert!(
            text.starts_with(&format!("target \"api\": tls.ca_file {}", path.display())),
            "{text}"
        );
    }
}
