//! The command line as users meet it: flags, help, version, exit statuses, the demo, and a clean
//! exit on SIGTERM. Runs the real binary.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Proc, free_port, http_get, metric_sum, start_demo_target, synthex_bin, wait_http_ok};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(synthex_bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn version_names_the_version_and_the_git_revision() {
    let (code, stdout, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with(&format!("synthex {} (revision ", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
}

#[test]
fn help_explains_every_flag_of_every_command() {
    let cases: [(&[&str], &[&str]); 5] = [
        (
            &["--help"],
            &[
                "run",
                "check-config",
                "demo",
                "demo-target",
                "--log.level",
                "--log.format",
            ],
        ),
        (
            &["run", "--help"],
            &[
                "--config.file",
                "--web.listen-address",
                "--log.level",
                "--log.format",
            ],
        ),
        (&["check-config", "--help"], &["<FILE>"]),
        (
            &["demo", "--help"],
            &["--web.listen-address", "--config.file"],
        ),
        (&["demo-target", "--help"], &["--listen"]),
    ];
    for (args, expected) in cases {
        let (code, stdout, _) = run(args);
        assert_eq!(code, 0, "{args:?}");
        for flag in expected {
            assert!(
                stdout.contains(flag),
                "{args:?} help lacks {flag}:\n{stdout}"
            );
        }
    }
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, stderr) = run(&["run"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--config.file"), "{stderr}");
    let (code, _, _) = run(&["run", "--config.file=x.yml", "--log.level=loud"]);
    assert_eq!(code, 2);
}

#[test]
fn a_bad_config_is_refused_with_its_location_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    std::fs::write(
        &path,
        "targets:\n  - name: api\n    base_url: http://127.0.0.1:1\n    rate: 2/x\n    scenarios: [{name: a, request: {path: /}}]\n",
    )
    .unwrap();
    let port = free_port();
    for args in [
        vec!["check-config".to_string(), path.display().to_string()],
        vec![
            "run".to_string(),
            format!("--config.file={}", path.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
    ] {
        let (code, _, stderr) = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("{}:4:", path.display())),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("rate"), "{stderr}");
    }
    // `run` refused before binding its port.
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
}

#[test]
fn check_config_prints_what_would_run() {
    let (code, stdout, stderr) = run(&["check-config", "config/synthex.yml"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("order_status"), "{stdout}");
}

#[test]
fn the_demo_shows_live_metrics_within_seconds_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut demo = Proc::spawn(
        "demo",
        synthex_bin(),
        &["demo", &format!("--web.listen-address=127.0.0.1:{port}")],
        &dir.path().join("demo.log"),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_http_ok(&format!("{base}/-/ready"), Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(3));
    let (status, metrics) = http_get(&format!("{base}/metrics")).unwrap();
    assert_eq!(status, 200);
    for family in [
        "synthex_requests_total{",
        "synthex_request_duration_seconds_bucket{",
        "synthex_request_latency_seconds{",
        "synthex_cache_requests_total{",
        "synthex_target_stat{",
        "synthex_host_cpu_usage_ratio",
        "synthex_watched_process_resident_memory_bytes{",
        "synthex_build_info{",
        "process_resident_memory_bytes",
    ] {
        assert!(metrics.contains(family), "demo /metrics lacks {family}");
    }
    let (status, page) = http_get(&format!("{base}/")).unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("demo"), "status page: {page:.300}");
    assert_the_https_target_verifies_the_generated_certificate(
        &metrics,
        &dir.path().join("demo.log"),
    );
    let exit = demo
        .terminate(Duration::from_secs(15))
        .expect("demo exits on SIGTERM");
    assert!(exit.success(), "{exit}");
    let log = std::fs::read_to_string(dir.path().join("demo.log")).unwrap();
    assert!(log.contains("shutdown requested"), "{log}");
}

/// The demo's HTTPS target answers, verified against the certificate the demo generated (the
/// file named in its log), whose own `notAfter`, about 90 days ahead, is the expiry exported; the
/// connect phase (TCP and the TLS handshake) has data.
fn assert_the_https_target_verifies_the_generated_certificate(
    metrics: &str,
    log: &std::path::Path,
) {
    let text = std::fs::read_to_string(log).unwrap();
    let ca_file = text
        .split_whitespace()
        .find_map(|field| field.strip_prefix("ca_file="))
        .unwrap_or_else(|| panic!("the demo logs its certificate file: {text}"));
    let pem = std::fs::read(ca_file.trim_matches('"')).unwrap();
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(&pem)
        .map(|c: rustls::pki_types::CertificateDer<'static>| c.to_vec())
        .unwrap();
    let (_, cert) = <x509_parser::certificate::X509Certificate as x509_parser::prelude::FromDer<
        _,
    >>::from_der(&der)
    .unwrap();
    let not_after = cert.validity().not_after.timestamp() as f64;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let days = (not_after - now) / 86_400.0;
    assert!((89.9..=90.0).contains(&days), "valid {days} more days");
    let tls = r#"target="demo-tls""#;
    let expiry = metric_sum(metrics, "synthex_tls_cert_expiry_timestamp_seconds", &[tls]);
    assert_eq!(
        expiry, not_after,
        "exported expiry vs the generated certificate"
    );
    let ok = metric_sum(metrics, "synthex_requests_total", &[tls, r#"code="200""#]);
    assert!(
        ok >= 1.0,
        "no verified request to the HTTPS target:\n{metrics}"
    );
    let connects = metric_sum(
        metrics,
        "synthex_request_phase_duration_seconds_count",
        &[tls, r#"phase="connect""#],
    );
    assert!(connects >= 1.0, "no TLS connect phase");
}

#[test]
fn healthcheck_exits_0_on_200_1_otherwise_and_2_on_a_bad_url() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _target = start_demo_target(port, dir.path());
    let url = |path: &str| format!("--url=http://127.0.0.1:{port}{path}");
    assert_eq!(run(&["healthcheck", &url("/health")]).0, 0);
    let (code, _, stderr) = run(&["healthcheck", &url("/status/503")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("status 503, expected 200"), "{stderr}");
    let closed = free_port();
    let (code, _, _) = run(&["healthcheck", &format!("--url=http://127.0.0.1:{closed}/")]);
    assert_eq!(code, 1);
    let (code, _, stderr) = run(&["healthcheck", "--url=ftp://example.invalid/"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn healthcheck_reads_a_status_line_that_arrives_in_pieces() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0; 1024];
        let _ = stream.read(&mut request).unwrap();
        stream.write_all(b"HTTP/1.1 2").unwrap();
        stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        stream
            .write_all(b"00 OK\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
    });
    let (code, _, stderr) = run(&["healthcheck", &format!("--url=http://127.0.0.1:{port}/")]);
    assert_eq!(code, 0, "{stderr}");
    server.join().unwrap();
}
