//! The deployment files are checked structurally, since no Docker engine or Kubernetes API server
//! runs here:
//! - `docker-compose.yml`: every bind-mounted host path exists, published host ports are unique,
//!   every image is pinned (the locally built one to Cargo's version), healthchecks exist wherever
//!   the image can run one, named volumes are declared and used, `depends_on` names real services,
//!   the synthex config it mounts passes `synthex check-config` and probes the demo service, and
//!   Grafana's provisioning points at Prometheus and at the mounted dashboards;
//! - `prometheus/prometheus.yml` passes `promtool check config` in the container's file layout
//!   (rule files included) and scrapes and alerts services that exist;
//! - the `Dockerfile` is multi-stage, builds with `--locked`, runs as a non-root user, and copies
//!   only paths that exist and are not excluded by `.dockerignore`;
//! - `deploy/kubernetes/`: mounted ConfigMaps and volumes exist, probes use named ports of their
//!   container, selectors match labels (Deployment → Pod, Service → Pod, ServiceMonitor →
//!   Service), the sidecar is native, hardened, listens where its port says, and its config passes
//!   `check-config` and probes the app over localhost; the PrometheusRule carries exactly the groups
//!   of `alerts/synthex.rules.yml`.

mod common;
mod stack_support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use common::require_tool;
use serde_yaml::Value;
use stack_support::compose::{
    command, compose, host_path, host_path_of, host_ports, is_bind, service, services, volumes,
};
use stack_support::{
    check_config, copy_tree, flag, k8s, map_keys, port_of, read, repo, seq, str_of, yaml, yaml_of,
};

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

#[test]
fn compose_has_the_stack_and_pins_every_image() {
    let compose = compose();
    assert!(
        compose.get("version").is_none(),
        "top-level `version:` is obsolete in the Compose Spec"
    );
    let names = map_keys(&compose["services"]);
    for wanted in [
        "demo-target",
        "synthex",
        "prometheus",
        "alertmanager",
        "grafana",
    ] {
        assert!(names.contains(wanted), "service {wanted} missing");
    }
    for (name, svc) in services(&compose) {
        let image = str_of(&svc["image"], &format!("{name}.image"));
        let (image_name, tag) = image
            .rsplit_once(':')
            .filter(|(_, tag)| !tag.contains('/'))
            .unwrap_or_else(|| panic!("{name}: image {image} has no tag"));
        assert!(
            !tag.is_empty() && tag != "latest",
            "{name}: image {image} is not pinned"
        );
        if let Some(build) = svc.get("build") {
            assert_eq!(
                (image_name, tag),
                ("synthex", env!("CARGO_PKG_VERSION")),
                "{name}: the image built here is tagged with Cargo's version"
            );
            let context = build
                .as_str()
                .or_else(|| build["context"].as_str())
                .expect("build context");
            assert!(
                host_path(context).join("Dockerfile").exists(),
                "{name}: no Dockerfile in {context}"
            );
        }
    }
}

#[test]
fn compose_mounts_exist_and_named_volumes_are_declared() {
    let compose = compose();
    let declared = map_keys(&compose["volumes"]);
    let mut used = BTreeSet::new();
    for (name, svc) in services(&compose) {
        for (source, target) in volumes(svc) {
            assert!(target.starts_with('/'), "{name}: volume target {target}");
            match source {
                Some(s) if is_bind(&s) => assert!(
                    host_path(&s).exists(),
                    "{name}: bind mount {s} -> {target}: {} does not exist",
                    host_path(&s).display()
                ),
                Some(volume) => {
                    assert!(
                        declared.contains(&volume),
                        "{name}: named volume {volume} is not declared under top-level volumes"
                    );
                    used.insert(volume);
                }
                None => panic!("{name}: anonymous volume {target}: use a named volume"),
            }
        }
    }
    assert_eq!(used, declared, "every declared volume is used");
}

#[test]
fn compose_host_ports_are_unique() {
    let compose = compose();
    let mut seen: BTreeMap<u16, &str> = BTreeMap::new();
    for (name, svc) in services(&compose) {
        for port in host_ports(svc) {
            if let Some(other) = seen.insert(port, name) {
                panic!("host port {port} published by both {other} and {name}");
            }
        }
    }
    assert!(seen.contains_key(&3000), "Grafana is published on 3000");
}

/// Healthchecks wherever the image has a tool to run one. The distroless synthex image has no
/// shell or wget (and synthex no healthcheck subcommand), which the file must say.
#[test]
fn compose_healthchecks_exist_where_the_image_can_run_them() {
    let compose = compose();
    for (name, svc) in services(&compose) {
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
        let Some(deps) = svc.get("depends_on") else {
            continue;
        };
        for (dep, condition) in deps.as_mapping().expect("depends_on as a map") {
            let dep = str_of(dep, "depends_on");
            let healthy = condition["condition"] == "service_healthy";
            assert!(
                !healthy || service(&compose, dep).get("healthcheck").is_some(),
                "{name} waits for {dep} to be healthy, but {dep} has no healthcheck"
            );
        }
    }
    assert!(
        read("docker-compose.yml").contains("No healthcheck"),
        "services without a healthcheck say why"
    );
}

#[test]
fn compose_synthex_config_is_valid_and_probes_the_demo_target() {
    let compose = compose();
    let synthex = service(&compose, "synthex");
    let args = command(synthex);
    assert_eq!(args.first().map(String::as_str), Some("run"));
    let config = host_path_of(
        synthex,
        &flag(&args, "--config.file").expect("--config.file"),
    );
    check_config(&config);

    let demo_args = command(service(&compose, "demo-target"));
    assert_eq!(demo_args.first().map(String::as_str), Some("demo-target"));
    let demo_port = port_of(&flag(&demo_args, "--listen").expect("demo-target --listen"));
    let parsed = yaml_of(&config);
    assert_eq!(
        str_of(&parsed["targets"][0]["base_url"], "base_url"),
        format!("http://demo-target:{demo_port}")
    );

    // Prometheus scrapes synthex where it listens.
    let listen = flag(&args, "--web.listen-address").unwrap_or_else(|| ":9577".into());
    let prometheus = yaml("prometheus/prometheus.yml");
    let scrape = seq(&prometheus["scrape_configs"], "scrape_configs")
        .iter()
        .find(|s| s["job_name"] == "synthex")
        .expect("a scrape job named synthex");
    let targets = seq(&scrape["static_configs"][0]["targets"], "targets");
    assert_eq!(
        str_of(&targets[0], "target"),
        format!("synthex:{}", port_of(&listen))
    );
}

#[test]
fn prometheus_config_passes_promtool_in_the_container_layout() {
    let promtool = require_tool("promtool", "prometheus");
    let compose = compose();
    let prom = service(&compose, "prometheus");
    let config_in_container = flag(&command(prom), "--config.file").expect("--config.file");

    // The container's view of the files, rebuilt from the bind mounts, so relative rule_files
    // resolve exactly as they will inside the container.
    let root = tempfile::tempdir().unwrap();
    for (source, target) in volumes(prom) {
        if let Some(source) = source.filter(|s| is_bind(s)) {
            let to = root.path().join(target.trim_start_matches('/'));
            copy_tree(&host_path(&source), &to);
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
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "promtool check config:\n{text}");

    // rule_files are literal paths (a glob matching nothing would pass silently), all checked.
    let parsed = yaml_of(&config);
    let rule_files = seq(&parsed["rule_files"], "rule_files");
    assert!(
        rule_files
            .iter()
            .any(|f| f.as_str().is_some_and(|f| f.ends_with("synthex.rules.yml"))),
        "rule_files loads the synthex alert rules"
    );
    for file in rule_files {
        assert!(
            !str_of(file, "rule file").contains('*'),
            "{file:?} is a glob"
        );
    }
    assert!(
        text.contains(&format!("SUCCESS: {} rule files found", rule_files.len())),
        "promtool did not load the rule files:\n{text}"
    );

    // Alerts go to the alertmanager service; Prometheus scrapes itself.
    let alertmanagers = &parsed["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"];
    assert_eq!(seq(alertmanagers, "alertmanagers")[0], "alertmanager:9093");
    assert!(
        service(&compose, "alertmanager")["command"][0]
            .as_str()
            .is_some_and(|c| c.starts_with("--config.file="))
    );
    let jobs: Vec<&Value> = seq(&parsed["scrape_configs"], "scrape_configs")
        .iter()
        .map(|s| &s["job_name"])
        .collect();
    assert!(
        jobs.iter().any(|j| **j == "prometheus"),
        "Prometheus scrapes itself"
    );
}

#[test]
fn grafana_provisioning_loads_the_mounted_dashboards_from_prometheus() {
    let compose = compose();
    let grafana = service(&compose, "grafana");
    assert_eq!(grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"], "true");
    assert_eq!(
        grafana["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"],
        "Viewer"
    );
    let provisioning = host_path_of(grafana, "/etc/grafana/provisioning");

    let datasources = yaml_of(&provisioning.join("datasources/prometheus.yml"));
    assert_eq!(datasources["apiVersion"], 1);
    let ds = &seq(&datasources["datasources"], "datasources")[0];
    assert_eq!(ds["type"], "prometheus");
    assert_eq!(ds["uid"], "prometheus");
    assert_eq!(ds["url"], "http://prometheus:9090");
    service(&compose, "prometheus");

    let providers = yaml_of(&provisioning.join("dashboards/synthex.yml"));
    assert_eq!(providers["apiVersion"], 1);
    let provider = &seq(&providers["providers"], "providers")[0];
    assert_eq!(provider["type"], "file");
    let path = str_of(&provider["options"]["path"], "options.path");
    assert_eq!(path, "/var/lib/grafana/dashboards");
    let mut uids = BTreeSet::new();
    for entry in std::fs::read_dir(host_path_of(grafana, path)).unwrap() {
        let file = entry.unwrap().path();
        if file.extension().is_some_and(|e| e == "json") {
            let json: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let uid = json["uid"].as_str().expect("dashboard uid").to_string();
            assert!(uids.insert(uid), "duplicate uid in {}", file.display());
        }
    }
    assert!(!uids.is_empty(), "no dashboard in {path}");
    let home = &grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"];
    let home = str_of(home, "home dashboard");
    assert!(
        host_path_of(grafana, home).exists(),
        "home dashboard {home}"
    );
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

/// The Dockerfile's instructions, comments and blank lines dropped.
fn dockerfile() -> Vec<String> {
    read("Dockerfile")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn dockerfile_is_multi_stage_locked_and_runs_as_non_root() {
    let lines = dockerfile();
    let stages: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("FROM "))
        .collect();
    assert!(stages.len() >= 2, "a multi-stage build");
    for &i in &stages {
        let image = lines[i].split_whitespace().nth(1).unwrap();
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            !tag.is_empty() && tag != "latest",
            "base image {image} is not pinned"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("cargo build --release --locked")),
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
        "the final stage runs as root"
    );
    assert!(last.iter().any(|l| l == "EXPOSE 9577"));
    let entrypoint = last
        .iter()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .expect("ENTRYPOINT");
    let entrypoint: Vec<String> = serde_json::from_str(entrypoint).expect("exec-form ENTRYPOINT");
    assert!(entrypoint[0].ends_with("/synthex"));
}

#[test]
fn dockerfile_copies_only_what_the_build_context_holds() {
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
    for line in dockerfile().iter().filter(|l| l.starts_with("COPY ")) {
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

#[test]
fn kubernetes_pod_mounts_and_probes_reference_what_exists() {
    let objects = k8s::objects();
    let deployment = k8s::only(&objects, "Deployment");
    let pod = &deployment["spec"]["template"];
    assert!(
        k8s::selects(
            &deployment["spec"]["selector"]["matchLabels"],
            &k8s::labels(pod)
        ),
        "the Deployment selects its Pod template"
    );
    let spec = &pod["spec"];
    assert_eq!(
        spec["shareProcessNamespace"], true,
        "the sidecar sees the app's processes"
    );

    let configmaps = k8s::all(&objects, "ConfigMap");
    let mut volume_names = BTreeSet::new();
    for volume in seq(&spec["volumes"], "volumes") {
        volume_names.insert(str_of(&volume["name"], "volume name").to_string());
        if let Some(cm) = volume.get("configMap") {
            let name = &cm["name"];
            assert!(
                configmaps.iter().any(|c| c["metadata"]["name"] == *name),
                "ConfigMap {name:?} is mounted but not defined"
            );
        }
    }
    for c in k8s::containers(spec) {
        let name = str_of(&c["name"], "container name");
        let ports = k8s::ports(c);
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
            if let Some(port) = c.get(probe).and_then(|p| p["httpGet"]["port"].as_str()) {
                assert!(
                    ports.contains_key(port),
                    "{name}.{probe} uses port {port}, not a named port of this container"
                );
            }
        }
        if let Some(mounts) = c.get("volumeMounts") {
            for mount in seq(mounts, "volumeMounts") {
                let volume = str_of(&mount["name"], "volumeMount name");
                assert!(
                    volume_names.contains(volume),
                    "{name} mounts undefined {volume}"
                );
            }
        }
        for kind in ["requests", "limits"] {
            let r = &c["resources"][kind];
            assert!(
                r["cpu"].is_string() && r["memory"].is_string(),
                "{name}: {kind}"
            );
        }
    }
}

#[test]
fn kubernetes_sidecar_is_native_hardened_and_its_config_is_valid() {
    let objects = k8s::objects();
    let spec = &k8s::only(&objects, "Deployment")["spec"]["template"]["spec"];
    let synthex = seq(&spec["initContainers"], "initContainers")
        .iter()
        .find(|c| c["name"] == "synthex")
        .expect("synthex is an init container");
    assert_eq!(synthex["restartPolicy"], "Always", "a native sidecar");
    for (probe, path) in [
        ("readinessProbe", "/-/ready"),
        ("livenessProbe", "/-/healthy"),
    ] {
        assert_eq!(synthex[probe]["httpGet"]["path"], path);
        assert_eq!(synthex[probe]["httpGet"]["port"], "metrics");
    }
    let sc = &synthex["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);

    let args = k8s::args(synthex);
    let listen = flag(&args, "--web.listen-address").unwrap_or_else(|| ":9577".into());
    assert_eq!(
        k8s::ports(synthex).get("metrics"),
        Some(&u64::from(port_of(&listen))),
        "port `metrics` is where synthex listens"
    );

    // The config file synthex reads comes from the mounted ConfigMap, and is valid.
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
    let cm = k8s::all(&objects, "ConfigMap")
        .into_iter()
        .find(|c| c["metadata"]["name"] == volume["configMap"]["name"])
        .unwrap();
    let text = str_of(&cm["data"][file], "ConfigMap data");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(file), text).unwrap();
    check_config(&tmp.path().join(file));

    // It probes an app container's port over the Pod's localhost.
    let app_ports: Vec<u64> = seq(&spec["containers"], "containers")
        .iter()
        .flat_map(|c| k8s::ports(c).into_values())
        .collect();
    let config: Value = serde_yaml::from_str(text).unwrap();
    for target in seq(&config["targets"], "targets") {
        let url = str_of(&target["base_url"], "base_url");
        let port = url
            .strip_prefix("http://127.0.0.1:")
            .and_then(|p| p.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("sidecar target {url} is not http://127.0.0.1:PORT"));
        assert!(
            app_ports.contains(&port),
            "{url}: no app container listens there"
        );
    }
}

#[test]
fn kubernetes_service_and_servicemonitor_select_the_pod_by_named_ports() {
    let objects = k8s::objects();
    let pod = &k8s::only(&objects, "Deployment")["spec"]["template"];
    let pod_ports: BTreeMap<String, u64> = k8s::containers(&pod["spec"])
        .into_iter()
        .flat_map(k8s::ports)
        .collect();

    let svc = k8s::only(&objects, "Service");
    assert!(
        k8s::selects(&svc["spec"]["selector"], &k8s::labels(pod)),
        "the Service selects the Pod"
    );
    let svc_ports = seq(&svc["spec"]["ports"], "Service ports");
    for p in svc_ports {
        if let Some(name) = p["targetPort"].as_str() {
            assert!(
                pod_ports.contains_key(name),
                "Service targetPort {name}: no such Pod port"
            );
        }
    }
    assert!(
        svc_ports
            .iter()
            .any(|p| p["name"] == "metrics" && p["targetPort"] == "metrics"),
        "the Service exposes the metrics port"
    );

    let monitor = k8s::only(&objects, "ServiceMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert!(
        k8s::selects(
            &monitor["spec"]["selector"]["matchLabels"],
            &k8s::labels(svc)
        ),
        "the ServiceMonitor selects the Service"
    );
    for endpoint in seq(&monitor["spec"]["endpoints"], "endpoints") {
        let port = &endpoint["port"];
        assert!(
            svc_ports.iter().any(|p| p["name"] == *port),
            "ServiceMonitor port {port:?} is not a Service port name"
        );
    }
    if let Some(job_label) = monitor["spec"].get("jobLabel") {
        let job_label = str_of(job_label, "jobLabel");
        assert_eq!(
            k8s::labels(svc).get(job_label).map(String::as_str),
            Some("synthex"),
            "jobLabel {job_label} names the job `synthex`, as in the compose stack"
        );
    }
}

#[test]
fn prometheus_rule_groups_equal_the_rule_file() {
    assert!(
        repo().join("alerts/synthex.rules.yml").exists(),
        "alerts/synthex.rules.yml is missing: the PrometheusRule must carry its groups"
    );
    let rules = yaml("alerts/synthex.rules.yml");
    assert!(
        !seq(&rules["groups"], "groups").is_empty(),
        "the rule file has groups"
    );
    let objects = k8s::objects();
    let rule = k8s::only(&objects, "PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert!(
        rule["spec"]["groups"] == rules["groups"],
        "deploy/kubernetes/prometheusrule.yaml is out of step with alerts/synthex.rules.yml: \
         run `python3 scripts/gen-prometheusrule.py`"
    );
}
