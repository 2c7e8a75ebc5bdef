//! The deployment files are checked structurally, since no Docker engine or Kubernetes API server
//! runs here:
//! - `docker-compose.yml`: every bind-mounted host path exists, published host ports are unique,
//!   every image is pinned (the locally built one to Cargo's version), healthchecks exist wherever
//!   the image can run one, named volumes are declared, `depends_on` names real services, the
//!   synthex config it mounts passes `synthex check-config` and targets the demo service, and
//!   Grafana's provisioning points at the mounted dashboards;
//! - `prometheus/prometheus.yml` passes `promtool check config` in the container's file layout
//!   (rule files included) and scrapes and alerts services that exist;
//! - the `Dockerfile` is multi-stage, builds with `--locked`, runs as a non-root user, and copies
//!   only paths that exist and are not excluded by `.dockerignore`;
//! - `deploy/kubernetes/`: mounted ConfigMaps exist, named ports used by probes, the Service and the
//!   ServiceMonitor exist, selectors match labels, the sidecar's config passes `check-config` and
//!   probes the app's port on localhost, and the PrometheusRule carries exactly the groups of
//!   `alerts/synthex.rules.yml`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{require_tool, synthex_bin};
use serde_yaml::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_yaml::from_str(&read(path)).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

/// Every document of a multi-document YAML file.
fn yaml_docs(path: &str) -> Vec<Value> {
    let text = read(path);
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            serde::Deserialize::deserialize(doc).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
        })
        .filter(|doc: &Value| !doc.is_null())
        .collect()
}

fn str_of<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, found {v:?}"))
}

fn seq<'a>(v: &'a Value, what: &str) -> &'a Vec<Value> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("{what}: expected a list, found {v:?}"))
}

fn map_keys(v: &Value) -> BTreeSet<String> {
    v.as_mapping()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `synthex check-config FILE` must succeed.
fn check_config(path: &Path) {
    let out = Command::new(synthex_bin())
        .arg("check-config")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "synthex check-config {} failed:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cargo_version() -> String {
    let manifest: toml_like::Manifest = toml_like::parse(&read("Cargo.toml"));
    manifest.version
}

/// Just enough of Cargo.toml: the package version (no TOML crate among the dependencies).
mod toml_like {
    pub struct Manifest {
        pub version: String,
    }
    pub fn parse(text: &str) -> Manifest {
        let version = text
            .lines()
            .skip_while(|l| l.trim() != "[package]")
            .find_map(|l| l.trim().strip_prefix("version = "))
            .expect("Cargo.toml [package] has a version")
            .trim_matches('"')
            .to_string();
        Manifest { version }
    }
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

/// One volume entry of a compose service: (source, target), source `None` for anonymous volumes.
fn volumes(service: &Value) -> Vec<(Option<String>, String)> {
    let Some(list) = service.get("volumes") else {
        return vec![];
    };
    seq(list, "volumes")
        .iter()
        .map(|v| match v {
            Value::String(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                match parts.as_slice() {
                    [target] => (None, target.to_string()),
                    [source, target, ..] => (Some(source.to_string()), target.to_string()),
                    [] => unreachable!(),
                }
            }
            long => (
                long.get("source").map(|s| str_of(s, "source").to_string()),
                str_of(&long["target"], "target").to_string(),
            ),
        })
        .collect()
}

fn is_bind(source: &str) -> bool {
    source.starts_with("./")
        || source.starts_with('/')
        || source == "."
        || source.starts_with("../")
}

/// Host side of a compose bind mount, resolved against the repository root.
fn host_path(source: &str) -> PathBuf {
    assert!(
        !source.starts_with('/') && !source.starts_with("../"),
        "bind mount {source} must be a path inside the repository"
    );
    repo().join(source.trim_start_matches("./"))
}

/// Published host ports of a compose service.
fn host_ports(service: &Value) -> Vec<u16> {
    let Some(ports) = service.get("ports") else {
        return vec![];
    };
    seq(ports, "ports")
        .iter()
        .map(|p| {
            let published = match p {
                Value::String(s) => {
                    let parts: Vec<&str> = s.split(':').collect();
                    assert!(
                        parts.len() >= 2,
                        "port {s}: publish host:container explicitly"
                    );
                    parts[parts.len() - 2].to_string()
                }
                Value::Number(n) => panic!("port {n}: publish host:container explicitly"),
                long => match &long["published"] {
                    Value::Number(n) => n.to_string(),
                    other => str_of(other, "published").to_string(),
                },
            };
            published
                .parse()
                .unwrap_or_else(|_| panic!("published port {published:?} is not a number"))
        })
        .collect()
}

/// The arguments of a service's `command` (list form required: no shell in the synthex image).
fn command(service: &Value) -> Vec<String> {
    service
        .get("command")
        .map(|c| {
            seq(c, "command")
                .iter()
                .map(|a| str_of(a, "command").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .find_map(|a| a.strip_prefix(&format!("{name}=")).map(str::to_string))
}

fn compose() -> Value {
    yaml("docker-compose.yml")
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"]
        .get(name)
        .unwrap_or_else(|| panic!("docker-compose.yml has no service {name}"))
}

/// Where a container path of `service` comes from in the repository (through its bind mounts).
fn host_path_of(service: &Value, container_path: &str) -> PathBuf {
    for (source, target) in volumes(service) {
        let Some(source) = source.filter(|s| is_bind(s)) else {
            continue;
        };
        if let Some(rest) = container_path.strip_prefix(&target) {
            if rest.is_empty() {
                return host_path(&source);
            }
            if rest.starts_with('/') {
                return host_path(&source).join(rest.trim_start_matches('/'));
            }
        }
    }
    panic!("{container_path} is not bind-mounted from the repository")
}

#[test]
fn compose_file_mounts_ports_images_volumes_and_healthchecks_are_sound() {
    let compose = compose();
    assert!(
        compose.get("version").is_none(),
        "top-level `version:` is obsolete in the Compose Spec"
    );
    let services = compose["services"].as_mapping().expect("services");
    let names: BTreeSet<String> = map_keys(&compose["services"]);
    for wanted in [
        "demo-target",
        "synthex",
        "prometheus",
        "alertmanager",
        "grafana",
    ] {
        assert!(names.contains(wanted), "service {wanted} missing");
    }
    let declared_volumes = map_keys(&compose["volumes"]);
    let version = cargo_version();
    let mut used_volumes = BTreeSet::new();
    let mut ports: BTreeMap<u16, String> = BTreeMap::new();

    for (name, svc) in services {
        let name = str_of(name, "service name");
        // Pinned image: a tag that is not `latest`; the locally built one carries Cargo's version.
        let image = str_of(&svc["image"], &format!("{name}.image"));
        let (repo_part, tag) = image
            .rsplit_once(':')
            .filter(|(_, tag)| !tag.contains('/'))
            .unwrap_or_else(|| panic!("{name}: image {image} has no tag"));
        assert!(
            tag != "latest" && !tag.is_empty(),
            "{name}: image {image} is not pinned"
        );
        if svc.get("build").is_some() {
            assert_eq!(
                (repo_part, tag),
                ("synthex", version.as_str()),
                "{name}: the built image is tagged with Cargo's version"
            );
            let context = svc["build"]
                .as_str()
                .or_else(|| svc["build"].get("context").and_then(Value::as_str))
                .expect("build context");
            assert!(
                host_path(context).join("Dockerfile").exists(),
                "{name}: no Dockerfile in {context}"
            );
        }

        for (source, target) in volumes(svc) {
            assert!(target.starts_with('/'), "{name}: volume target {target}");
            match source {
                Some(s) if is_bind(&s) => {
                    let path = host_path(&s);
                    assert!(
                        path.exists(),
                        "{name}: bind mount {s} -> {target}: {} does not exist",
                        path.display()
                    );
                }
                Some(volume) => {
                    assert!(
                        declared_volumes.contains(&volume),
                        "{name}: named volume {volume} is not declared under top-level volumes"
                    );
                    used_volumes.insert(volume);
                }
                None => panic!("{name}: anonymous volume {target}: use a named volume"),
            }
        }

        for port in host_ports(svc) {
            if let Some(other) = ports.insert(port, name.to_string()) {
                panic!("host port {port} published by both {other} and {name}");
            }
        }

        // Healthchecks wherever the image has a tool to run one; the distroless synthex image has
        // neither a shell nor wget, which the file must say in a comment.
        if svc.get("build").is_some() {
            assert!(
                svc.get("healthcheck").is_none(),
                "{name}: the distroless synthex image cannot run a healthcheck command"
            );
        } else {
            let test = seq(&svc["healthcheck"]["test"], &format!("{name}.healthcheck"));
            assert_eq!(
                test[0].as_str(),
                Some("CMD"),
                "{name}: exec-form healthcheck"
            );
        }

        if let Some(deps) = svc.get("depends_on") {
            for (dep, cond) in deps.as_mapping().expect("depends_on map") {
                let dep = str_of(dep, "depends_on");
                let dep_svc = service(&compose, dep);
                if cond["condition"].as_str() == Some("service_healthy") {
                    assert!(
                        dep_svc.get("healthcheck").is_some(),
                        "{name} waits for {dep} to be healthy, but {dep} has no healthcheck"
                    );
                }
            }
        }
    }
    assert_eq!(
        used_volumes, declared_volumes,
        "declared named volumes must all be used"
    );
    assert!(
        read("docker-compose.yml").contains("No healthcheck"),
        "services without a healthcheck say why"
    );

    let grafana = service(&compose, "grafana");
    assert_eq!(grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"], "true");
    assert_eq!(
        grafana["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"],
        "Viewer"
    );
}

#[test]
fn compose_synthex_config_is_valid_and_probes_the_demo_target() {
    let compose = compose();
    let synthex = service(&compose, "synthex");
    let args = command(synthex);
    assert_eq!(args.first().map(String::as_str), Some("run"));
    let config_in_container = flag(&args, "--config.file").expect("--config.file");
    let config = host_path_of(synthex, &config_in_container);
    check_config(&config);

    // The config probes the demo-target service on the port it listens on.
    let demo_args = command(service(&compose, "demo-target"));
    assert_eq!(demo_args.first().map(String::as_str), Some("demo-target"));
    let listen = flag(&demo_args, "--listen").expect("demo-target --listen");
    let port = listen.rsplit_once(':').unwrap().1;
    let parsed: Value = serde_yaml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let base_url = str_of(&parsed["targets"][0]["base_url"], "base_url");
    assert_eq!(base_url, format!("http://demo-target:{port}"));

    // Prometheus scrapes synthex where it listens.
    let listen = flag(&args, "--web.listen-address").unwrap_or_else(|| ":9577".into());
    let prometheus = prometheus_config();
    let scrape = seq(&prometheus["scrape_configs"], "scrape_configs")
        .iter()
        .find(|s| s["job_name"] == "synthex")
        .expect("a scrape job named synthex");
    let targets = seq(&scrape["static_configs"][0]["targets"], "targets");
    assert_eq!(
        targets[0].as_str().unwrap(),
        format!("synthex:{}", listen.rsplit_once(':').unwrap().1)
    );
}

fn prometheus_config() -> Value {
    yaml("prometheus/prometheus.yml")
}

/// Copies `from` (file or directory) to `to`, creating parents.
fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to)
            .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
    }
}

#[test]
fn prometheus_config_passes_promtool_in_the_container_layout() {
    let promtool = require_tool("promtool", "prometheus");
    let compose = compose();
    let prom = service(&compose, "prometheus");
    let args = command(prom);
    let config_in_container = flag(&args, "--config.file").expect("--config.file");

    // Rebuild the container's file system view from the bind mounts, so relative rule_files
    // resolve exactly as they will inside the container.
    let root = tempfile::tempdir().unwrap();
    for (source, target) in volumes(prom) {
        if let Some(source) = source.filter(|s| is_bind(s)) {
            copy_tree(
                &host_path(&source),
                &root.path().join(target.trim_start_matches('/')),
            );
        }
    }
    let config = root
        .path()
        .join(config_in_container.trim_start_matches('/'));
    let out = Command::new(&promtool)
        .args(["check", "config"])
        .arg(&config)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool check config:\n{text}");

    // rule_files are literal paths (a glob matching nothing would pass silently) and were checked.
    let parsed = prometheus_config();
    let rule_files = seq(&parsed["rule_files"], "rule_files");
    assert!(
        !rule_files.is_empty(),
        "rule_files must load the alert rules"
    );
    for file in rule_files {
        let file = str_of(file, "rule_files");
        assert!(!file.contains('*'), "rule file {file} must not be a glob");
        assert!(
            config.parent().unwrap().join(file).exists(),
            "rule file {file} missing in the container layout"
        );
    }
    assert!(
        text.contains(&format!("SUCCESS: {} rule files found", rule_files.len())),
        "promtool did not load the rule files:\n{text}"
    );
    assert!(
        rule_files
            .iter()
            .any(|f| f.as_str().unwrap().ends_with("synthex.rules.yml"))
    );

    // Alerts go to the alertmanager service, on the port it listens on.
    let am_targets = seq(
        &parsed["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"],
        "alertmanager targets",
    );
    assert_eq!(am_targets[0].as_str(), Some("alertmanager:9093"));
    service(&compose, "alertmanager");
    let self_scrape = seq(&parsed["scrape_configs"], "scrape_configs")
        .iter()
        .any(|s| s["job_name"] == "prometheus");
    assert!(self_scrape, "Prometheus scrapes itself");
}

#[test]
fn grafana_provisioning_loads_the_mounted_dashboards_from_prometheus() {
    let compose = compose();
    let grafana = service(&compose, "grafana");
    let provisioning = host_path_of(grafana, "/etc/grafana/provisioning");

    let datasources = yaml_of(&provisioning.join("datasources/prometheus.yml"));
    assert_eq!(datasources["apiVersion"], 1);
    let ds = &seq(&datasources["datasources"], "datasources")[0];
    assert_eq!(ds["type"], "prometheus");
    assert_eq!(ds["uid"], "prometheus");
    let url = str_of(&ds["url"], "url");
    let host = url
        .strip_prefix("http://")
        .and_then(|r| r.split(':').next())
        .unwrap();
    service(&compose, host);
    assert_eq!(url, "http://prometheus:9090");

    let providers = yaml_of(&provisioning.join("dashboards/synthex.yml"));
    assert_eq!(providers["apiVersion"], 1);
    let provider = &seq(&providers["providers"], "providers")[0];
    assert_eq!(provider["type"], "file");
    let path = str_of(&provider["options"]["path"], "options.path");
    assert_eq!(path, "/var/lib/grafana/dashboards");
    let dir = host_path_of(grafana, path);
    let mut uids = BTreeSet::new();
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let file = entry.unwrap().path();
        if file.extension().is_some_and(|e| e == "json") {
            let json: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let uid = json["uid"].as_str().expect("dashboard uid").to_string();
            assert!(
                uids.insert(uid),
                "duplicate dashboard uid in {}",
                file.display()
            );
            count += 1;
        }
    }
    assert!(count >= 1, "no dashboard JSON in {}", dir.display());
    let home = str_of(
        &grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"],
        "home dashboard",
    );
    assert!(
        host_path_of(grafana, home).exists(),
        "home dashboard {home}"
    );
}

fn yaml_of(path: &Path) -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

#[test]
fn dockerfile_is_multi_stage_locked_and_runs_as_non_root() {
    let text = read("Dockerfile");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let stages: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("FROM "))
        .map(|(i, _)| i)
        .collect();
    assert!(stages.len() >= 2, "multi-stage build expected");
    for &i in &stages {
        let image = lines[i].split_whitespace().nth(1).unwrap();
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            !tag.is_empty() && tag != "latest",
            "base image {image} is not pinned"
        );
    }
    assert!(
        text.contains("cargo build --release --locked"),
        "the builder uses the lock file"
    );
    let last = &lines[*stages.last().unwrap()..];
    assert!(
        last.iter().any(|l| l.starts_with("COPY --from=")),
        "the final stage copies the binary from the builder"
    );
    let user = last
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the final stage sets USER");
    let user = user.split(':').next().unwrap().trim();
    assert!(
        user != "root" && user != "0",
        "the final stage must not run as root"
    );
    assert!(last.contains(&"EXPOSE 9577"));
    let entrypoint = last
        .iter()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .expect("ENTRYPOINT");
    let entrypoint: Vec<String> = serde_json::from_str(entrypoint).expect("exec-form ENTRYPOINT");
    assert!(entrypoint[0].ends_with("/synthex"));

    // Every COPY source from the build context exists and is not excluded by .dockerignore.
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/').to_string())
        .collect();
    assert!(
        ignored.iter().any(|l| l == "target"),
        ".dockerignore target/"
    );
    for line in lines.iter().filter(|l| l.starts_with("COPY ")) {
        if line.starts_with("COPY --from=") {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().skip(1).collect();
        for source in &parts[..parts.len() - 1] {
            assert!(repo().join(source).exists(), "COPY {source}: missing");
            assert!(
                !ignored.iter().any(|i| i == source),
                "COPY {source}: excluded by .dockerignore"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

fn k8s_objects() -> Vec<Value> {
    let kustomization = yaml("deploy/kubernetes/kustomization.yaml");
    let resources = seq(&kustomization["resources"], "resources");
    let listed: BTreeSet<String> = resources
        .iter()
        .map(|r| str_of(r, "resource").to_string())
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(repo().join("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    assert_eq!(
        listed, on_disk,
        "kustomization.yaml lists every manifest in deploy/kubernetes"
    );
    listed
        .iter()
        .flat_map(|f| yaml_docs(&format!("deploy/kubernetes/{f}")))
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn labels(meta: &Value) -> BTreeMap<String, String> {
    string_map(&meta["labels"])
}

/// `selector` (a plain map or `matchLabels`) is a subset of `labels`.
fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A YAML map of strings (labels, selectors); empty when absent.
fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (str_of(k, "key").into(), str_of(v, "value").into()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn kubernetes_manifests_reference_what_exists() {
    let objects = k8s_objects();
    let deployments = find(&objects, "Deployment");
    assert_eq!(deployments.len(), 1);
    let deployment = deployments[0];
    let pod = &deployment["spec"]["template"];
    let pod_labels = labels(&pod["metadata"]);
    assert!(selects(
        &string_map(&deployment["spec"]["selector"]["matchLabels"]),
        &pod_labels
    ));
    let spec = &pod["spec"];
    assert_eq!(
        spec["shareProcessNamespace"], true,
        "the sidecar sees the app's processes"
    );

    // Every ConfigMap a Pod volume names exists.
    let configmaps = find(&objects, "ConfigMap");
    let mut volume_names = BTreeSet::new();
    for volume in seq(&spec["volumes"], "volumes") {
        volume_names.insert(str_of(&volume["name"], "volume name").to_string());
        if let Some(cm) = volume.get("configMap") {
            let name = str_of(&cm["name"], "configMap.name");
            assert!(
                configmaps.iter().any(|c| c["metadata"]["name"] == name),
                "ConfigMap {name} mounted but not defined"
            );
        }
    }

    let all_containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .filter_map(|k| spec.get(*k))
        .flat_map(|c| seq(c, "containers"))
        .collect();
    let mut pod_ports: BTreeMap<String, u64> = BTreeMap::new();
    for c in &all_containers {
        let name = str_of(&c["name"], "container name");
        let ports: BTreeMap<String, u64> = c
            .get("ports")
            .map(|p| {
                seq(p, "ports")
                    .iter()
                    .map(|p| {
                        (
                            str_of(&p["name"], "port name").to_string(),
                            p["containerPort"].as_u64().unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
            if let Some(port) = c.get(probe).and_then(|p| p["httpGet"]["port"].as_str()) {
                assert!(
                    ports.contains_key(port),
                    "{name}.{probe} uses port {port}, not a port of this container"
                );
            }
        }
        for mount in c
            .get("volumeMounts")
            .map(|m| seq(m, "volumeMounts").clone())
            .unwrap_or_default()
        {
            let volume = str_of(&mount["name"], "volumeMount name");
            assert!(
                volume_names.contains(volume),
                "{name} mounts undefined volume {volume}"
            );
        }
        let limits = &c["resources"]["limits"];
        let requests = &c["resources"]["requests"];
        assert!(
            limits["cpu"].is_string() && limits["memory"].is_string(),
            "{name}: limits"
        );
        assert!(
            requests["cpu"].is_string() && requests["memory"].is_string(),
            "{name}: requests"
        );
        pod_ports.extend(ports);
    }

    // The synthex sidecar: native sidecar, probes, hardening, and its config checks out.
    let synthex = all_containers
        .iter()
        .find(|c| c["name"] == "synthex")
        .expect("a container named synthex");
    assert!(
        seq(&spec["initContainers"], "initContainers")
            .iter()
            .any(|c| c["name"] == "synthex" && c["restartPolicy"] == "Always"),
        "synthex runs as a native sidecar"
    );
    assert_eq!(synthex["readinessProbe"]["httpGet"]["path"], "/-/ready");
    assert_eq!(synthex["readinessProbe"]["httpGet"]["port"], "metrics");
    assert_eq!(synthex["livenessProbe"]["httpGet"]["path"], "/-/healthy");
    assert_eq!(synthex["livenessProbe"]["httpGet"]["port"], "metrics");
    let sc = &synthex["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    let args: Vec<String> = seq(&synthex["args"], "args")
        .iter()
        .map(|a| str_of(a, "arg").to_string())
        .collect();
    let listen = flag(&args, "--web.listen-address").unwrap_or_else(|| ":9577".into());
    let listen_port: u64 = listen.rsplit_once(':').unwrap().1.parse().unwrap();
    assert_eq!(pod_ports.get("metrics"), Some(&listen_port));

    // The config file synthex reads comes from the mounted ConfigMap and is valid.
    let config_path = flag(&args, "--config.file").expect("--config.file");
    let (dir, file) = config_path.rsplit_once('/').unwrap();
    let mount = seq(&synthex["volumeMounts"], "volumeMounts")
        .iter()
        .find(|m| m["mountPath"] == dir)
        .expect("the config directory is mounted");
    let volume = seq(&spec["volumes"], "volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    let cm = configmaps
        .iter()
        .find(|c| c["metadata"]["name"] == volume["configMap"]["name"])
        .unwrap();
    let text = str_of(&cm["data"][file], "ConfigMap data");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(file);
    std::fs::write(&path, text).unwrap();
    check_config(&path);

    // It probes an app container's port over the Pod's localhost.
    let config: Value = serde_yaml::from_str(text).unwrap();
    let app_ports: Vec<u64> = all_containers
        .iter()
        .filter(|c| c["name"] != "synthex")
        .flat_map(|c| seq(&c["ports"], "ports").clone())
        .map(|p| p["containerPort"].as_u64().unwrap())
        .collect();
    for target in seq(&config["targets"], "targets") {
        let url = str_of(&target["base_url"], "base_url");
        let port: u64 = url
            .strip_prefix("http://127.0.0.1:")
            .unwrap_or_else(|| panic!("sidecar target {url} is not on localhost"))
            .trim_end_matches('/')
            .parse()
            .unwrap();
        assert!(
            app_ports.contains(&port),
            "{url}: no app container listens on {port}"
        );
    }

    // Service → Pod, ServiceMonitor → Service, named ports on each hop.
    let services = find(&objects, "Service");
    assert_eq!(services.len(), 1);
    let svc = services[0];
    assert!(
        selects(&string_map(&svc["spec"]["selector"]), &pod_labels),
        "Service selector matches the Pod labels"
    );
    let svc_ports: Vec<&Value> = seq(&svc["spec"]["ports"], "Service ports").iter().collect();
    for p in &svc_ports {
        if let Some(name) = p["targetPort"].as_str() {
            assert!(
                pod_ports.contains_key(name),
                "Service targetPort {name} is not a Pod port"
            );
        }
    }
    assert!(
        svc_ports
            .iter()
            .any(|p| p["name"] == "metrics" && p["targetPort"] == "metrics")
    );
    let monitors = find(&objects, "ServiceMonitor");
    assert_eq!(monitors.len(), 1);
    let monitor = monitors[0];
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert!(
        selects(
            &string_map(&monitor["spec"]["selector"]["matchLabels"]),
            &labels(&svc["metadata"])
        ),
        "ServiceMonitor selector matches the Service labels"
    );
    for endpoint in seq(&monitor["spec"]["endpoints"], "endpoints") {
        let port = str_of(&endpoint["port"], "endpoint port");
        assert!(
            svc_ports.iter().any(|p| p["name"] == port),
            "ServiceMonitor port {port} is not a Service port name"
        );
    }
    if let Some(job_label) = monitor["spec"].get("jobLabel") {
        let job_label = str_of(job_label, "jobLabel");
        assert!(
            labels(&svc["metadata"]).contains_key(job_label),
            "jobLabel {job_label} is not a Service label"
        );
    }
}

#[test]
fn prometheus_rule_groups_equal_the_rule_file() {
    let rules_path = repo().join("alerts/synthex.rules.yml");
    assert!(
        rules_path.exists(),
        "alerts/synthex.rules.yml is missing: the PrometheusRule must carry its groups"
    );
    let rules = yaml("alerts/synthex.rules.yml");
    let objects = k8s_objects();
    let prometheus_rules = find(&objects, "PrometheusRule");
    assert_eq!(prometheus_rules.len(), 1);
    let pr = prometheus_rules[0];
    assert_eq!(pr["apiVersion"], "monitoring.coreos.com/v1");
    assert!(
        !seq(&rules["groups"], "groups").is_empty(),
        "the rule file has groups"
    );
    assert!(
        pr["spec"]["groups"] == rules["groups"],
        "deploy/kubernetes/prometheusrule.yaml is out of step with alerts/synthex.rules.yml: \
         run `python3 scripts/gen-prometheusrule.py`"
    );
}
