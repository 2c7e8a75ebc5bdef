//! The secured variant of the compose stack (`docker-compose.secured.yml` on top of
//! `docker-compose.yml`, certificates from `scripts/secured-certs.sh`), checked without a Docker
//! engine: the container file layout is rebuilt from the bind mounts, the certificates are made
//! by the shipped script, synthex runs with the merged command (paths mapped into that layout)
//! and the override's own healthcheck command must pass against it — and fail without the
//! credentials; the web config passes `promtool check web-config`, the Prometheus config passes
//! `promtool check config` in its layout and differs from the plain one only in how synthex is
//! scraped.

mod common;
mod stack_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Proc, free_port, require_tool, synthex_bin};
use serde_yaml::Value;
use stack_support::compose::{command, compose, host_path, is_bind, service, volumes};
use stack_support::{copy_tree, flag, port_of, seq, str_of, yaml, yaml_of};

const OVERRIDE: &str = "docker-compose.secured.yml";

/// Copies every bind mount of `services` (later ones win for the same container path) under
/// `root`, as the container sees them.
fn layout(root: &Path, services: &[&Value]) {
    let mut mounts = std::collections::BTreeMap::new();
    for svc in services {
        for (source, target) in volumes(svc) {
            if let Some(source) = source.filter(|s| is_bind(s)) {
                mounts.insert(target, source);
            }
        }
    }
    for (target, source) in mounts {
        let from = host_path(&source);
        assert!(from.exists(), "bind mount source {source} does not exist");
        copy_tree(&from, &root.join(target.trim_start_matches('/')));
    }
}

/// `arg` with container paths moved under `root` and port 9577 replaced by `port`.
fn mapped(arg: &str, root: &Path, port: u16) -> String {
    arg.replace("=/", &format!("={}/", root.display()))
        .replace(":9577", &format!(":{port}"))
}

fn make_certs(dir: &Path) {
    require_tool("openssl", "openssl");
    let out = Command::new("sh")
        .arg(host_path("scripts/secured-certs.sh"))
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/secured-certs.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn secured_compose_synthex_serves_tls_with_basic_auth_and_its_healthcheck_passes() {
    let promtool = require_tool("promtool", "prometheus");
    let base = compose();
    let secured = yaml(OVERRIDE);
    let plain = service(&base, "synthex");
    let over = &secured["services"]["synthex"];
    let args = command(over);
    // The override keeps the plain command and adds the web config.
    for kept in command(plain) {
        assert!(args.contains(&kept), "{OVERRIDE} drops {kept:?}");
    }
    let web_config = flag(&args, "--web.config.file").expect("--web.config.file");

    let root = tempfile::tempdir().unwrap();
    layout(root.path(), &[plain, over]);
    let secured_dir = Path::new(&web_config).parent().unwrap();
    let in_root = |p: &str| root.path().join(p.trim_start_matches('/'));
    make_certs(&in_root(&secured_dir.join("tls").display().to_string()));

    let out = Command::new(&promtool)
        .args(["check", "web-config"])
        .arg(in_root(&web_config))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check web-config: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let port = free_port();
    let run_args: Vec<String> = args.iter().map(|a| mapped(a, root.path(), port)).collect();
    let run_args: Vec<&str> = run_args.iter().map(String::as_str).collect();
    let mut daemon = Proc::spawn(
        "synthex",
        synthex_bin(),
        &run_args,
        &root.path().join("synthex.log"),
    );
    let test = seq(&over["healthcheck"]["test"], "healthcheck.test");
    assert_eq!(str_of(&test[0], "test"), "CMD");
    assert_eq!(str_of(&test[1], "test"), "/usr/local/bin/synthex");
    let check: Vec<String> = test[2..]
        .iter()
        .map(|a| mapped(str_of(a, "test"), root.path(), port))
        .collect();
    assert!(
        check.iter().any(|a| a.starts_with("--url=https://")),
        "{check:?}"
    );
    let healthcheck = |args: &[String]| {
        Command::new(synthex_bin())
            .args(args)
            .output()
            .unwrap()
            .status
            .code()
    };
    let mut healthy = false;
    for _ in 0..100 {
        // /-/ready needs a first result: the compose target is unreachable here, a failure is one.
        if healthcheck(&check) == Some(0) {
            healthy = true;
            break;
        }
        assert!(daemon.is_running(), "synthex exited");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        healthy,
        "the secured healthcheck never passed: {}",
        std::fs::read_to_string(root.path().join("synthex.log")).unwrap_or_default()
    );
    // Without the password, or without trusting the CA, the same check fails.
    let without_auth: Vec<String> = check
        .iter()
        .filter(|a| !a.starts_with("--basic-auth"))
        .cloned()
        .collect();
    assert_eq!(healthcheck(&without_auth), Some(1));
    let without_ca: Vec<String> = check
        .iter()
        .filter(|a| !a.starts_with("--tls.ca-file"))
        .cloned()
        .collect();
    assert_eq!(healthcheck(&without_ca), Some(1));
}

#[test]
fn secured_compose_prometheus_scrapes_synthex_with_the_ca_and_password_and_nothing_else_changes() {
    let promtool = require_tool("promtool", "prometheus");
    let base = compose();
    let secured = yaml(OVERRIDE);
    let plain = service(&base, "prometheus");
    let over = &secured["services"]["prometheus"];
    let root = tempfile::tempdir().unwrap();
    layout(root.path(), &[plain, over]);
    let config_path = flag(&command(plain), "--config.file").expect("--config.file");
    let config = root.path().join(config_path.trim_start_matches('/'));
    let parsed = yaml_of(&config);
    let job = seq(&parsed["scrape_configs"], "scrape_configs")
        .iter()
        .find(|s| s["job_name"] == "synthex")
        .expect("a synthex job")
        .clone();
    assert_eq!(job["scheme"], "https");
    assert_eq!(job["basic_auth"]["username"], "prometheus");
    // The CA and password files resolve (relative to the config file) inside the layout.
    let dir = config.parent().unwrap();
    let ca = dir.join(str_of(&job["tls_config"]["ca_file"], "ca_file"));
    let password = dir.join(str_of(&job["basic_auth"]["password_file"], "password_file"));
    make_certs(ca.parent().unwrap());
    assert!(ca.exists() && password.exists(), "{ca:?} {password:?}");
    // The synthex server certificate carries the name Prometheus verifies.
    let server_name = str_of(&job["tls_config"]["server_name"], "server_name");
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(ca.parent().unwrap().join("tls.crt"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("DNS:{server_name}")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let target = str_of(&job["static_configs"][0]["targets"][0], "target");
    assert_eq!(port_of(target), 9577);

    let out = Command::new(&promtool)
        .args(["check", "config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check config: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Nothing else differs from the plain stack's Prometheus config.
    let strip = |mut v: Value| {
        for scrape in v["scrape_configs"].as_sequence_mut().unwrap() {
            if scrape["job_name"] == "synthex" {
                let job = scrape.as_mapping_mut().unwrap();
                for key in ["scheme", "tls_config", "basic_auth"] {
                    job.remove(key);
                }
            }
        }
        v
    };
    assert_eq!(
        strip(yaml("prometheus/prometheus.secured.yml")),
        strip(yaml("prometheus/prometheus.yml"))
    );
}
