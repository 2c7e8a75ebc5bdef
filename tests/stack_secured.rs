//! The secured variant of the compose stack (`docker-compose.secured.yml` on top of
//! `docker-compose.yml`, certificates from `scripts/secured-certs.sh`), checked without a Docker
//! engine: the container file layout is rebuilt from the bind mounts, the certificates are made
//! by the shipped script, synthex runs with the merged command (paths mapped into that layout)
//! and the override's own healthcheck command must pass against it — and fail without the
//! credentials; the web config passes `promtool check web-config`, the Prometheus config passes
//! `promtool check config` in its layout and differs from the plain one only in how synthex is
//! scraped. The Kubernetes overlay (`deploy/kubernetes-secured`) gets the same treatment: its
//! JSON patches applied to the base, Secret volumes defined or issued by cert-manager, synthex run
//! with the patched args and files from the mounts, its exec probes passing (and failing without
//! the password), the ServiceMonitor's password verified against the web config's hash.

mod common;
mod stack_support;
mod web_support;

use std::path::Path;
use std::process::Command;

use common::{Proc, free_port, promtool_check, require_tool, synthex_bin, wait_until};
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
/// Starts synthex with the container's arguments mapped into `root`, listening on `port`.
fn spawn_mapped(args: &[String], root: &Path, port: u16) -> Proc {
    let run_args: Vec<String> = args.iter().map(|a| mapped(a, root, port)).collect();
    let run_args: Vec<&str> = run_args.iter().map(String::as_str).collect();
    Proc::spawn(
        "synthex",
        synthex_bin(),
        &run_args,
        &root.join("synthex.log"),
    )
}

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

    promtool_check(&promtool, "web-config", &in_root(&web_config));

    let port = free_port();
    let mut daemon = spawn_mapped(&args, root.path(), port);
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
    // /-/ready needs a first result: the compose target is unreachable here, a failure is one.
    wait_until(
        || healthcheck(&check) == Some(0),
        &mut daemon,
        &root.path().join("synthex.log"),
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

    promtool_check(&promtool, "config", &config);

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

// ---------------------------------------------------------------------------------------------
// Kubernetes: deploy/kubernetes-secured, a kustomize overlay of deploy/kubernetes

const OVERLAY: &str = "deploy/kubernetes-secured";

/// Applies the RFC 6902 operations the overlay uses (`add`, `replace`) to `doc`.
fn json_patch(doc: &mut Value, ops: &Value) {
    for op in seq(ops, "patch") {
        let path = str_of(&op["path"], "path");
        let (parent, last) = path.rsplit_once('/').expect("a JSON pointer");
        let mut node = &mut *doc;
        for key in parent.split('/').skip(1) {
            node = match key.parse::<usize>() {
                Ok(index) if node.is_sequence() => &mut node[index],
                _ => node
                    .get_mut(key)
                    .unwrap_or_else(|| panic!("{path}: no {key}")),
            };
        }
        let value = op["value"].clone();
        match (str_of(&op["op"], "op"), node) {
            ("add", Value::Sequence(items)) if last == "-" => items.push(value),
            ("add", Value::Mapping(map)) => {
                map.insert(Value::from(last), value);
            }
            ("replace", Value::Mapping(map)) => {
                assert!(map.contains_key(last), "{path}: replace of nothing");
                map.insert(Value::from(last), value);
            }
            (other, _) => panic!("{path}: {other} not supported here"),
        }
    }
}

/// The overlay's objects: the base's, its own resources, and the base patched as it says.
fn overlay_objects() -> Vec<Value> {
    let kustomization = yaml(&format!("{OVERLAY}/kustomization.yaml"));
    let resources: Vec<&str> = seq(&kustomization["resources"], "resources")
        .iter()
        .map(|r| str_of(r, "resource"))
        .collect();
    assert_eq!(
        resources[0], "../kubernetes",
        "the overlay builds on deploy/kubernetes"
    );
    let mut objects = stack_support::k8s::objects();
    for file in &resources[1..] {
        objects.extend(stack_support::yaml_docs(&format!("{OVERLAY}/{file}")));
    }
    for patch in seq(&kustomization["patches"], "patches") {
        let target = &patch["target"];
        let ops = yaml(&format!("{OVERLAY}/{}", str_of(&patch["path"], "path")));
        let object = objects
            .iter_mut()
            .find(|o| o["kind"] == target["kind"] && o["metadata"]["name"] == target["name"])
            .unwrap_or_else(|| panic!("patch target {target:?} is not in the base"));
        json_patch(object, &ops);
    }
    objects
}

fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn secured_kubernetes_sidecar_serves_tls_with_basic_auth_and_its_probes_pass() {
    let objects = overlay_objects();
    let deployment = named(&objects, "Deployment", "demo-app");
    let spec = &deployment["spec"]["template"]["spec"];
    stack_support::k8s::assert_pod_references_exist(&objects, spec);
    let synthex = &spec["initContainers"][0];
    assert_eq!(
        synthex["name"], "synthex",
        "the patch edits initContainers/0"
    );
    stack_support::k8s::assert_hardened(synthex);
    // Every Secret volume is a Secret here or one cert-manager writes.
    let certificate_secrets: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "Certificate")
        .map(|c| &c["spec"]["secretName"])
        .collect();
    for volume in seq(&spec["volumes"], "volumes") {
        if let Some(secret) = volume.get("secret") {
            let name = &secret["secretName"];
            assert!(
                objects
                    .iter()
                    .any(|o| o["kind"] == "Secret" && o["metadata"]["name"] == *name)
                    || certificate_secrets.contains(&name),
                "Secret {name:?} is mounted but neither defined nor issued"
            );
        }
    }

    // The container's files, from its mounts: the ConfigMap, the web Secret, the certificate.
    let root = tempfile::tempdir().unwrap();
    let args = stack_support::k8s::args(synthex);
    let file_of = |path: &str| root.path().join(path.trim_start_matches('/'));
    let config = flag(&args, "--config.file").expect("--config.file");
    let text = stack_support::k8s::configmap_file(&objects, spec, synthex, &config);
    copy_text(&file_of(&config), &text);
    let web_config = flag(&args, "--web.config.file").expect("--web.config.file");
    let (web_dir, _) = web_config.rsplit_once('/').unwrap();
    let web_volume = stack_support::k8s::mounted_at(spec, synthex, web_dir);
    let web_secret = named(
        &objects,
        "Secret",
        str_of(&web_volume["secret"]["secretName"], "secretName"),
    );
    for (file, content) in web_secret["stringData"].as_mapping().unwrap() {
        let file = str_of(file, "file");
        // The web config names the certificate by its absolute container path.
        let content =
            str_of(content, "content").replace(": /", &format!(": {}/", root.path().display()));
        copy_text(&file_of(&format!("{web_dir}/{file}")), &content);
    }
    let certificate = named(&objects, "Certificate", "synthex-tls");
    let tls_volume = spec["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["secret"]["secretName"] == certificate["spec"]["secretName"])
        .expect("the certificate's Secret is mounted");
    let tls_dir = seq(&synthex["volumeMounts"], "volumeMounts")
        .iter()
        .find(|m| m["name"] == tls_volume["name"])
        .map(|m| str_of(&m["mountPath"], "mountPath").to_string())
        .unwrap();
    let names: Vec<&str> = seq(&certificate["spec"]["dnsNames"], "dnsNames")
        .iter()
        .map(|n| str_of(n, "dnsName"))
        .collect();
    let ca = web_support::Ca::new("cert-manager stand-in");
    let server = ca.server_for(&names);
    copy_text(&file_of(&format!("{tls_dir}/tls.crt")), &server.cert);
    copy_text(&file_of(&format!("{tls_dir}/tls.key")), &server.key);
    copy_text(&file_of(&format!("{tls_dir}/ca.crt")), &ca.pem.cert);

    let port = free_port();
    let mut daemon = spawn_mapped(&args, root.path(), port);
    let probe = |name: &str| -> Vec<String> {
        let command = seq(&synthex[name]["exec"]["command"], "exec.command");
        assert_eq!(str_of(&command[0], "command"), "/usr/local/bin/synthex");
        command[1..]
            .iter()
            .map(|a| mapped(str_of(a, "command"), root.path(), port))
            .collect()
    };
    let status = |args: &[String]| {
        Command::new(synthex_bin())
            .args(args)
            .output()
            .unwrap()
            .status
            .code()
    };
    let (ready, live) = (probe("readinessProbe"), probe("livenessProbe"));
    wait_until(
        || status(&ready) == Some(0),
        &mut daemon,
        &root.path().join("synthex.log"),
    );
    assert_eq!(status(&live), Some(0));
    let without_auth: Vec<String> = live
        .iter()
        .filter(|a| !a.starts_with("--basic-auth"))
        .cloned()
        .collect();
    assert_eq!(status(&without_auth), Some(1));

    // Prometheus (the ServiceMonitor) scrapes over https, trusting the certificate's CA, with a
    // password that the web config's hash accepts and a server name the certificate carries.
    let monitor = named(&objects, "ServiceMonitor", "synthex");
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["scheme"], "https");
    assert_eq!(
        endpoint["tlsConfig"]["ca"]["secret"]["name"],
        certificate["spec"]["secretName"]
    );
    assert_eq!(endpoint["tlsConfig"]["ca"]["secret"]["key"], "ca.crt");
    assert!(names.contains(&str_of(&endpoint["tlsConfig"]["serverName"], "serverName")));
    let auth = named(
        &objects,
        "Secret",
        str_of(&endpoint["basicAuth"]["username"]["name"], "name"),
    );
    let value =
        |key: &Value| str_of(&auth["stringData"][str_of(key, "key")], "stringData").to_string();
    let user = value(&endpoint["basicAuth"]["username"]["key"]);
    let password = value(&endpoint["basicAuth"]["password"]["key"]);
    let web: Value = serde_yaml::from_str(str_of(
        &web_secret["stringData"]["web-config.yml"],
        "web-config.yml",
    ))
    .unwrap();
    let hash = str_of(&web["basic_auth_users"][user.as_str()], "hash");
    assert!(
        bcrypt::verify(&password, hash).unwrap(),
        "the scrape password does not match the hash"
    );
}

fn copy_text(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}
