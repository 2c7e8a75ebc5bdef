//! The deployment files are checked structurally, since no Docker engine or Kubernetes API server
//! runs here:
//! - `docker-compose.yml`: every bind-mounted host path exists, published host ports are unique,
//!   every image is pinned (the locally built one to Cargo's version), every service has a
//!   healthcheck (`synthex healthcheck` in the distroless image), named volumes are declared and
//!   used, `depends_on` names real services, the synthex config it mounts passes `synthex check-config` and probes the demo service, and
//!   Grafana's provisioning points at Prometheus and at the mounted dashboards;
//! - the `loadtest` profile runs `synthex load` on that config with reports on a named volume
//!   and the stack's Prometheus as `load.prometheus`; its command runs here against a demo
//!   target and a real Prometheus;
//! - `prometheus/prometheus.yml` passes `promtool check config` in the container's file layout
//!   (rule files included) and scrapes and alerts services that exist;
//! - the `Dockerfile` is multi-stage, builds with `--locked`, runs as a non-root user, and copies
//!   only paths that exist and are not excluded by `.dockerignore`;
//! - `deploy/kubernetes/`: mounted ConfigMaps and volumes exist, probes use named ports of their
//!   container, selectors match labels (Deployment → Pod, Service → Pod, ServiceMonitor →
//!   Service), the sidecar is native, hardened, listens where its port says, and its config passes
//!   `check-config` and probes the app over localhost; the PrometheusRule carries exactly the groups
//!   of `alerts/synthex.rules.yml`;
//! - `deploy/kubernetes/load-test-job.yaml` (standalone, not in kustomization.yaml): an Indexed
//!   Job whose completions and parallelism equal the N of `--shard=$(JOB_COMPLETION_INDEX)/N`,
//!   the index coming from the container's env; mounted ConfigMaps and volumes exist, every
//!   container is non-root and hardened, the config passes `check-config`, has no shard-level
//!   thresholds and loads the sidecar manifests' Service; its shards run here with the Job's own
//!   args (index substituted, 2 s) and `synthex report merge` holds all N; the `reports`
//!   container keeps the pod until the documented release file appears, or its time limit.
//! - `deploy/kubernetes/load-test-cronjob.yaml` (standalone, docs/ci.md): a nightly CronJob that
//!   never overlaps, whose Pod runs `load`, then `compare` on the directory `load` wrote against
//!   the mounted baseline into the issue file, then `file-issue` posting that very file with the
//!   Secret's token; hardened, pinned, a valid config; its `compare` step runs here on real
//!   reports with the manifest's own args and writes no issue without a regression.

mod common;
mod stack_support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, require_tool, start_demo_target, synthex_bin};
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

/// Every service has an exec-form healthcheck; the distroless synthex image runs
/// `synthex healthcheck` against its own port (it has no shell or wget); a `service_healthy`
/// dependency has a healthcheck to wait for.
#[test]
fn compose_healthchecks_exist_for_every_service() {
    let compose = compose();
    for (name, svc) in services(&compose) {
        // A service behind a profile (`loadtest`) is a one-shot job: it runs to its end and
        // nothing waits for it to be healthy; its dependencies are still checked.
        if svc.get("profiles").is_some() {
            assert!(
                svc.get("ports").is_none(),
                "{name}: a one-shot job publishes no port"
            );
            check_dependencies(&compose, name, svc);
            continue;
        }
        let test = seq(&svc["healthcheck"]["test"], &format!("{name}.healthcheck"));
        assert_eq!(
            test[0].as_str(),
            Some("CMD"),
            "{name}: exec-form healthcheck"
        );
        if svc.get("build").is_some() {
            let args: Vec<&str> = test.iter().filter_map(|v| v.as_str()).collect();
            assert_eq!(
                &args[1..3],
                &["/usr/local/bin/synthex", "healthcheck"],
                "{name}: the distroless image can only run synthex itself"
            );
            let command: Vec<&str> = seq(&svc["command"], &format!("{name}.command"))
                .iter()
                .filter_map(|v| v.as_str())
                .collect();
            let port = command
                .iter()
                .find_map(|a| a.rsplit_once(':').map(|(_, p)| p))
                .unwrap_or_else(|| panic!("{name}: no listen port in {command:?}"));
            assert!(
                args[3].starts_with(&format!("--url=http://127.0.0.1:{port}/")),
                "{name}: healthcheck {args:?} must check the service's own port {port}"
            );
        }
        check_dependencies(&compose, name, svc);
    }
}

/// A `service_healthy` dependency has a healthcheck to wait for.
fn check_dependencies(compose: &Value, name: &str, svc: &Value) {
    let Some(deps) = svc.get("depends_on") else {
        return;
    };
    for (dep, condition) in deps.as_mapping().expect("depends_on as a map") {
        let dep = str_of(dep, "depends_on");
        let healthy = condition["condition"] == "service_healthy";
        assert!(
            !healthy || service(compose, dep).get("healthcheck").is_some(),
            "{name} waits for {dep} to be healthy, but {dep} has no healthcheck"
        );
    }
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

/// The `loadtest` profile: `synthex load` on the stack's config against the demo target, reports
/// on a named volume under a placeholder path, Prometheus wired in by its service name; then run
/// here with the service's own args, the hosts pointed at a local demo target and a real
/// Prometheus, for 2 s.
#[test]
fn compose_loadtest_profile_runs_a_load_test_with_prometheus_wired_in() {
    let compose = compose();
    let job = service(&compose, "loadtest");
    assert_eq!(seq(&job["profiles"], "profiles")[0], "loadtest");
    let args = command(job);
    assert_eq!(args.first().map(String::as_str), Some("load"));
    let config = host_path_of(job, &flag(&args, "--config.file").expect("--config.file"));
    check_config(&config);
    let out = flag(&args, "--out").expect("--out");
    let (mount, _) = out
        .split_once("/{timestamp}")
        .expect("--out keeps every run apart");
    assert!(
        volumes(job)
            .iter()
            .any(|(source, target)| target == mount
                && source.as_deref().is_some_and(|s| !is_bind(s))),
        "{out}: the reports go to a named volume"
    );
    for dep in ["demo-target", "prometheus"] {
        assert_eq!(
            job["depends_on"][dep]["condition"], "service_healthy",
            "{dep}"
        );
    }
    // Prometheus by its service name and container port; the queries read series the stack has.
    let parsed = yaml_of(&config);
    let load = &parsed["load"];
    assert_eq!(
        str_of(&load["prometheus"]["url"], "load.prometheus.url"),
        "http://prometheus:9090"
    );
    assert!(host_ports(service(&compose, "prometheus")).contains(&9090));
    let readme = read("README.md");
    let queries = load["prometheus"]["queries"].as_mapping().expect("queries");
    for (name, query) in queries {
        let query = str_of(query, "query");
        let family = query
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .find(|w| w.starts_with("synthex_"))
            .unwrap_or_else(|| panic!("{name:?}: {query}"));
        assert!(
            readme.contains(&format!("| `{family}` |")),
            "{family} is not a documented metric"
        );
    }
    for limit in map_keys(&load["findings"]["limits"]) {
        assert!(
            queries.contains_key(limit.as_str()),
            "findings.limits.{limit} is not a query"
        );
    }

    // The service's own command, here: demo target and Prometheus on 127.0.0.1.
    let dir = tempfile::tempdir().unwrap();
    let demo_port = free_port();
    let _demo = start_demo_target(demo_port, dir.path());
    let (_prometheus, prometheus_url) = common::start_prometheus(
        dir.path(),
        "global:\n  scrape_interval: 15s\nscrape_configs: []\n",
    );
    let local = std::fs::read_to_string(&config)
        .unwrap()
        .replace(
            "http://demo-target:8089",
            &format!("http://127.0.0.1:{demo_port}"),
        )
        .replace("http://prometheus:9090", &prometheus_url);
    let local_config = dir.path().join("synthex.yml");
    std::fs::write(&local_config, local).unwrap();
    let reports = dir.path().join("reports");
    let run_args: Vec<String> = args
        .iter()
        .map(|a| {
            if a.starts_with("--config.file=") {
                format!("--config.file={}", local_config.display())
            } else {
                a.replace(mount, &reports.display().to_string())
            }
        })
        .chain(["--duration=2s".to_string(), "--warmup=1s".to_string()])
        .collect();
    let output = Command::new(synthex_bin())
        .args(&run_args)
        .output()
        .unwrap();
    assert!(
        matches!(output.status.code(), Some(0 | 3)),
        "{run_args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let made: Vec<_> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(
        made[0].display().to_string().ends_with("Z_light"),
        "{made:?}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(made[0].join("report.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = report["prometheus"]
        .as_array()
        .expect("prometheus series")
        .iter()
        .filter_map(|q| q["name"].as_str())
        .collect();
    assert_eq!(names, ["demo_cpu", "demo_in_flight"]);
    assert!(report["warmup"]["scenarios"].is_array());
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

/// The value Grafana reads for a provisioning string: each `$NAME` / `${NAME}` replaced by the
/// environment compose gives the grafana service (`${NAME:-default}` there resolved to its
/// default); panics on a variable compose does not set, which Grafana would read as empty.
fn grafana_value(grafana: &Value, text: &str) -> String {
    let environment = &grafana["environment"];
    let reference = regex::Regex::new(r"\$(?:\{(\w+)\}|(\w+))").unwrap();
    let default = regex::Regex::new(r"^\$\{\w+:-(.*)\}$").unwrap();
    reference
        .replace_all(text, |caps: &regex::Captures| {
            let name = caps.get(1).or(caps.get(2)).unwrap().as_str();
            let set = environment[name]
                .as_str()
                .unwrap_or_else(|| panic!("{text}: compose sets no {name} for grafana"));
            default
                .captures(set)
                .map_or(set.to_string(), |d| d[1].to_string())
        })
        .into_owned()
}

/// Grafana's Prometheus data source turns the exemplars synthex exports (the label of its real
/// OpenMetrics output) into links to the provisioned tracing data source, Tempo by default;
/// every variable the provisioning files use is set for the grafana service.
#[test]
fn grafana_exemplars_link_to_the_provisioned_tracing_datasource() {
    use synthex::metrics::{Format, Metrics};
    let compose = compose();
    let grafana = service(&compose, "grafana");
    let provisioning = host_path_of(grafana, "/etc/grafana/provisioning");
    let mut datasources = Vec::new();
    for entry in std::fs::read_dir(provisioning.join("datasources")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        // Every value with a variable resolves (an unset one would be empty in Grafana).
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            grafana_value(grafana, line);
        }
        let file: Value = serde_yaml::from_str(&text).unwrap();
        datasources.extend(seq(&file["datasources"], "datasources").iter().cloned());
    }

    // The label synthex's exemplars carry, from a real OpenMetrics encoding.
    let config = synthex::config::load(&repo().join("config/demo.yml")).unwrap();
    let metrics = Metrics::new(&config).unwrap();
    let (trace, _) = synthex::trace_context::generate();
    let outcome = synthex::outcome::Outcome {
        latency: Duration::from_millis(20),
        status: Some(200),
        retry_after: None,
        failure: None,
        cache: synthex::outcome::CacheResult::Unknown,
        phases: Default::default(),
        body_bytes: 3,
        cert_expiry: None,
        finished_at: std::time::SystemTime::now(),
        trace_id: Some(trace),
    };
    metrics.record(0, 0, &outcome);
    let page = String::from_utf8(metrics.encode_as(Format::OpenMetrics).unwrap()).unwrap();
    let exemplar = regex::Regex::new(&format!(r#" # \{{(\w+)="{trace}"\}} "#)).unwrap();
    let label = &exemplar
        .captures(&page)
        .expect("an exemplar with the trace id")[1];

    let prometheus = datasources
        .iter()
        .find(|d| d["type"] == "prometheus")
        .expect("the Prometheus data source");
    let destinations = seq(
        &prometheus["jsonData"]["exemplarTraceIdDestinations"],
        "exemplarTraceIdDestinations",
    );
    assert_eq!(destinations.len(), 1, "{destinations:?}");
    let destination = &destinations[0];
    assert_eq!(str_of(&destination["name"], "name"), label);
    let uid = grafana_value(
        grafana,
        str_of(&destination["datasourceUid"], "datasourceUid"),
    );
    let traces = datasources
        .iter()
        .find(|d| grafana_value(grafana, str_of(&d["uid"], "uid")) == uid)
        .unwrap_or_else(|| panic!("no provisioned data source with uid {uid}"));
    let kind = grafana_value(grafana, str_of(&traces["type"], "type"));
    let url = grafana_value(grafana, str_of(&traces["url"], "url"));
    assert_eq!(
        (kind.as_str(), url.as_str()),
        ("tempo", "http://tempo:3200")
    );
    // Its README section tells how to point it at Jaeger instead.
    let readme = read("README.md");
    for needle in ["GRAFANA_TRACES_TYPE=jaeger", "GRAFANA_TRACES_URL="] {
        assert!(readme.contains(needle), "README lacks {needle}");
    }
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
    for source in dockerfile_copied_paths() {
        assert!(repo().join(&source).exists(), "COPY {source}: missing");
        assert!(
            !ignored.contains(&source),
            "COPY {source}: excluded by .dockerignore"
        );
    }
}

/// The repository paths the builder stage copies into the image (sources of `COPY`, not
/// `COPY --from=`).
fn dockerfile_copied_paths() -> Vec<String> {
    dockerfile()
        .iter()
        .filter(|l| l.starts_with("COPY ") && !l.starts_with("COPY --from="))
        .flat_map(|line| {
            let parts: Vec<&str> = line.split_whitespace().skip(1).collect();
            parts[..parts.len() - 1]
                .iter()
                .map(|s| s.trim_end_matches('/').to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn dockerfile_copies_every_file_the_release_build_reads() {
    // build.rs names each file it reads (the release link script among them) with
    // `rerun-if-changed`; cargo's own configuration (`.cargo/config.toml`) sets compiler flags
    // the release build depends on. A build inside the image without them fails or differs.
    let copied = dockerfile_copied_paths();
    let is_copied = |path: &str| {
        copied
            .iter()
            .any(|c| path == c || path.starts_with(&format!("{c}/")))
    };
    let build_rs = read("build.rs");
    let mut read_by_build: Vec<String> = build_rs
        .split("rerun-if-changed=")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|path| !path.starts_with(".git"))
        .map(str::to_string)
        .collect();
    assert!(
        read_by_build.iter().any(|p| p == "link/daemon.ld"),
        "build.rs watches the link script: {read_by_build:?}"
    );
    if repo().join(".cargo/config.toml").exists() {
        read_by_build.push(".cargo/config.toml".into());
    }
    for path in &read_by_build {
        assert!(repo().join(path).exists(), "{path}: missing");
        assert!(
            is_copied(path),
            "the Dockerfile does not COPY {path}, which the release build reads"
        );
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
    k8s::assert_pod_references_exist(&objects, spec);
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
    k8s::assert_hardened(synthex);

    let args = k8s::args(synthex);
    let listen = flag(&args, "--web.listen-address").unwrap_or_else(|| ":9577".into());
    assert_eq!(
        k8s::ports(synthex).get("metrics"),
        Some(&u64::from(port_of(&listen))),
        "port `metrics` is where synthex listens"
    );

    // ConfigMap updates are picked up without a signal: auto-reload on, through a directory
    // mount (a subPath mount is never updated by the kubelet).
    let interval = flag(&args, "--config.auto-reload-interval").expect("auto-reload in a Pod");
    assert!(humantime::parse_duration(&interval).is_ok(), "{interval}");
    let mounts = seq(&synthex["volumeMounts"], "volumeMounts");
    assert!(
        mounts.iter().all(|m| m.get("subPath").is_none()),
        "{mounts:?}"
    );

    // The config file synthex reads comes from the mounted ConfigMap, and is valid.
    let config_path = flag(&args, "--config.file").expect("--config.file");
    let text = k8s::configmap_file(&objects, spec, synthex, &config_path);
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("synthex.yml");
    std::fs::write(&file, &text).unwrap();
    check_config(&file);

    // It probes an app container's port over the Pod's localhost.
    let app_ports: Vec<u64> = seq(&spec["containers"], "containers")
        .iter()
        .flat_map(|c| k8s::ports(c).into_values())
        .collect();
    let config: Value = serde_yaml::from_str(&text).unwrap();
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

// ---------------------------------------------------------------------------------------------
// Kubernetes: the load-test Job (deploy/kubernetes/load-test-job.yaml)

/// The Job's objects, the Job, its Pod spec and its `synthex load` container.
struct LoadJob {
    objects: Vec<Value>,
}

impl LoadJob {
    fn read() -> LoadJob {
        LoadJob {
            objects: k8s::standalone("load-test-job.yaml"),
        }
    }
    fn job(&self) -> &Value {
        k8s::only(&self.objects, "Job")
    }
    fn pod_spec(&self) -> &Value {
        &self.job()["spec"]["template"]["spec"]
    }
    fn container(&self, name: &str) -> &Value {
        k8s::containers(self.pod_spec())
            .into_iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("the Job has no container {name}"))
    }
    /// The `synthex load` container: the init container whose args start with `load`.
    fn load(&self) -> &Value {
        let load = self.container("load");
        assert_eq!(
            k8s::args(load)[0],
            "load",
            "the load container runs `synthex load`"
        );
        load
    }
    /// The N of `--shard=$(JOB_COMPLETION_INDEX)/N`.
    fn shards(&self) -> u64 {
        let shard = flag(&k8s::args(self.load()), "--shard").expect("--shard");
        let n = shard
            .strip_prefix("$(JOB_COMPLETION_INDEX)/")
            .unwrap_or_else(|| panic!("--shard={shard}: expected $(JOB_COMPLETION_INDEX)/N"));
        n.parse().unwrap_or_else(|_| panic!("--shard={shard}: N"))
    }
    fn config(&self) -> String {
        let config = flag(&k8s::args(self.load()), "--config.file").expect("--config.file");
        k8s::configmap_file(&self.objects, self.pod_spec(), self.load(), &config)
    }
}

#[test]
fn kubernetes_load_test_job_is_indexed_with_one_pod_per_shard() {
    let job = LoadJob::read();
    assert_eq!(job.job()["apiVersion"], "batch/v1");
    let spec = &job.job()["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = job.shards();
    assert!(n >= 2, "a distributed run has several shards");
    assert_eq!(
        spec["completions"].as_u64(),
        Some(n),
        "completions == N of --shard"
    );
    assert_eq!(
        spec["parallelism"].as_u64(),
        Some(n),
        "all shards run at once"
    );
    let backoff = spec["backoffLimit"].as_u64().expect("backoffLimit");
    assert!(
        backoff <= n,
        "backoffLimit {backoff}: a few retries at most"
    );
    assert!(
        spec["ttlSecondsAfterFinished"].as_u64().is_some(),
        "ttlSecondsAfterFinished cleans up finished runs"
    );
    assert_eq!(job.pod_spec()["restartPolicy"], "Never");
    for rule in seq(&spec["podFailurePolicy"]["rules"], "podFailurePolicy.rules") {
        if let Some(codes) = rule.get("onExitCodes") {
            job.container(str_of(&codes["containerName"], "containerName"));
        }
    }

    // Each shard writes into its own directory, named by the index it gets from its env.
    let load = job.load();
    let args = k8s::args(load);
    let out = flag(&args, "--out").expect("--out");
    assert!(
        out.contains("$(JOB_COMPLETION_INDEX)"),
        "--out={out}: one directory per shard"
    );
    let env = seq(&load["env"], "env");
    let index = env
        .iter()
        .find(|e| e["name"] == "JOB_COMPLETION_INDEX")
        .expect("JOB_COMPLETION_INDEX in the load container's env, for $(…) expansion");
    assert_eq!(
        index["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    assert!(
        flag(&args, "--profile").is_some() && args.iter().any(|a| a == "--quiet"),
        "a profile, no progress display"
    );
    let listen = flag(&args, "--web.listen-address").expect("live metrics");
    assert_eq!(
        k8s::ports(load).get("metrics"),
        Some(&u64::from(port_of(&listen))),
        "port `metrics` is where synthex listens"
    );
}

#[test]
fn kubernetes_load_test_job_mounts_a_valid_config_and_runs_as_non_root() {
    let job = LoadJob::read();
    let spec = job.pod_spec();
    k8s::assert_pod_references_exist(&job.objects, spec);
    let sc = &spec["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert!(
        sc["runAsUser"].as_u64().is_some_and(|u| u != 0),
        "runAsUser"
    );
    for c in k8s::containers(spec) {
        k8s::assert_hardened(c);
        let image = str_of(&c["image"], "image");
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            !tag.is_empty() && tag != "latest",
            "image {image} is not pinned"
        );
    }
    assert_eq!(
        str_of(&job.load()["image"], "image"),
        format!("synthex:{}", env!("CARGO_PKG_VERSION"))
    );

    let text = job.config();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("synthex.yml"), &text).unwrap();
    check_config(&tmp.path().join("synthex.yml"));
    let config: Value = serde_yaml::from_str(&text).unwrap();
    assert!(
        config["load"].get("thresholds").is_none(),
        "thresholds go on `report merge`: a shard failing one exits 3 and its pod loses the reports"
    );
    // It loads the demo app of the sidecar manifests, through its Service's `http` port.
    let objects = k8s::objects();
    let service = k8s::only(&objects, "Service");
    let name = str_of(&service["metadata"]["name"], "Service name");
    let http = seq(&service["spec"]["ports"], "ports")
        .iter()
        .find(|p| p["name"] == "http")
        .expect("Service port http");
    let url = str_of(&config["targets"][0]["base_url"], "base_url");
    assert_eq!(
        url,
        format!("http://{name}:{}", http["port"].as_u64().unwrap())
    );

    // The reports directory is a volume the `reports` container mounts at the same path, so the
    // files outlive the load container until they are copied out.
    let out = flag(&k8s::args(job.load()), "--out").unwrap();
    let dir = out.rsplit_once('/').unwrap().0;
    let volume = k8s::mounted_at(spec, job.load(), dir);
    assert!(volume.get("emptyDir").is_some(), "{dir}: an emptyDir");
    assert_eq!(
        k8s::mounted_at(spec, job.container("reports"), dir)["name"],
        volume["name"]
    );
    let init = seq(&spec["initContainers"], "initContainers");
    assert!(
        init.iter().any(|c| c["name"] == "load")
            && init.iter().all(|c| c.get("restartPolicy").is_none()),
        "the load runs to completion before the reports container starts"
    );
}

/// Waits up to `limit` for a child to exit; panics naming `what` when it does not.
fn exit_status(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} still runs after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The Job's shards run here as their pods run them — the args with the index substituted,
/// the pod's paths inside a temporary directory, the demo target for the Service, the profile
/// cut to 2 s — all at once; then `synthex report merge` of their report.json files, as the
/// manifest's header and docs/distributed-load-tests.md show, holds every shard.
#[test]
fn kubernetes_load_test_job_shards_run_here_and_merge() {
    let job = LoadJob::read();
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _target = start_demo_target(port, tmp.path());
    let mut config: Value = serde_yaml::from_str(&job.config()).unwrap();
    config["targets"][0]["base_url"] = Value::from(format!("http://127.0.0.1:{port}"));
    let config_file = tmp.path().join("synthex.yml");
    std::fs::write(&config_file, serde_yaml::to_string(&config).unwrap()).unwrap();

    let pod_root = tmp.path().join("pod");
    let n = job.shards();
    let mut reports = vec![];
    let shards: Vec<Child> = (0..n)
        .map(|i| {
            let args: Vec<String> = k8s::args(job.load())
                .iter()
                .map(|a| a.replace("$(JOB_COMPLETION_INDEX)", &i.to_string()))
                .map(|a| {
                    if a.starts_with("--config.file=") {
                        format!("--config.file={}", config_file.display())
                    } else if let Some(out) = a.strip_prefix("--out=") {
                        let out = pod_root.join(out.trim_start_matches('/'));
                        reports.push(out.join("report.json"));
                        format!("--out={}", out.display())
                    } else if a.starts_with("--web.listen-address=") {
                        format!("--web.listen-address=127.0.0.1:{}", free_port())
                    } else {
                        a
                    }
                })
                .chain(["--duration=2s".to_string()])
                .collect();
            Command::new(synthex_bin())
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, shard) in shards.into_iter().enumerate() {
        let out = shard.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "shard {i}/{n}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let merged = tmp.path().join("merged");
    let out = Command::new(synthex_bin())
        .args(["report", "merge"])
        .args(&reports)
        .arg(format!("--out={}", merged.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "report merge: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(merged.join("report.json")).unwrap())
            .unwrap();
    let shards: Vec<(u64, u64)> = report["shards"]
        .as_array()
        .expect("shards")
        .iter()
        .map(|s| (s["index"].as_u64().unwrap(), s["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(shards, (0..n).map(|i| (i, n)).collect::<Vec<_>>());
    assert_eq!(report["plan"]["profile"], "heavy");
    let requests: u64 = report["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|s| s["requests"].as_u64().unwrap_or(0))
        .sum();
    assert!(requests > 0, "the shards sent requests: {report:.300}");
}

/// The `reports` container ends — successfully — once the release file the docs tell to touch
/// appears, or after KEEP_SECONDS at most; its script runs here with the host's `sh` and
/// `timeout` (busybox has both).
#[test]
fn kubernetes_load_test_job_keeps_the_reports_until_released() {
    let job = LoadJob::read();
    let reports = job.container("reports");
    let command: Vec<String> = seq(&reports["command"], "command")
        .iter()
        .chain(seq(&reports["args"], "args"))
        .map(|a| str_of(a, "command").to_string())
        .collect();
    let env = |name: &str| {
        let var = seq(&reports["env"], "env")
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("reports container env {name}"));
        str_of(&var["value"], name).to_string()
    };
    let release = env("RELEASE_FILE");
    let keep: u64 = env("KEEP_SECONDS").parse().unwrap();
    assert!(
        keep >= 600,
        "KEEP_SECONDS {keep}: time enough to copy the reports"
    );
    let out_dir = flag(&k8s::args(job.load()), "--out").unwrap();
    let reports_dir = out_dir.rsplit_once('/').unwrap().0;
    assert_eq!(
        release.rsplit_once('/').unwrap().0,
        reports_dir,
        "the release file is in the shared reports volume"
    );
    for doc in [
        read("deploy/kubernetes/load-test-job.yaml"),
        read("docs/distributed-load-tests.md"),
    ] {
        assert!(
            doc.contains(&format!("touch {release}")),
            "the docs release the pod"
        );
    }

    let tmp = tempfile::tempdir().unwrap();
    let spawn = |keep: &str, release: &str| {
        Command::new(&command[0])
            .args(&command[1..])
            .env("KEEP_SECONDS", keep)
            .env("RELEASE_FILE", tmp.path().join(release))
            .spawn()
            .unwrap()
    };
    let mut released = spawn("60", "collected");
    let mut forgotten = spawn("1", "never-created");
    let status = exit_status(&mut forgotten, Duration::from_secs(10), "the time limit");
    assert!(status.success(), "after KEEP_SECONDS: {status}");
    assert!(
        released.try_wait().unwrap().is_none(),
        "the pod ended before the reports were copied"
    );
    std::fs::write(tmp.path().join("collected"), "").unwrap();
    let status = exit_status(&mut released, Duration::from_secs(10), "the released pod");
    assert!(status.success(), "after the release: {status}");
}

// ---------------------------------------------------------------------------------------------
// Kubernetes: the nightly CronJob (deploy/kubernetes/load-test-cronjob.yaml, docs/ci.md)

/// `args` with `$(POD_NAME)` replaced, as the kubelet expands it.
fn expanded(args: &[String], pod: &str) -> Vec<String> {
    args.iter().map(|a| a.replace("$(POD_NAME)", pod)).collect()
}

#[test]
fn kubernetes_nightly_cronjob_loads_compares_and_files_the_issue_in_order() {
    let objects = k8s::standalone("load-test-cronjob.yaml");
    let cron = k8s::only(&objects, "CronJob");
    assert_eq!(cron["apiVersion"], "batch/v1");
    let spec = &cron["spec"];
    let schedule = str_of(&spec["schedule"], "schedule");
    assert_eq!(
        schedule.split_whitespace().count(),
        5,
        "{schedule}: a 5-field cron schedule"
    );
    assert_eq!(
        spec["concurrencyPolicy"], "Forbid",
        "never two load tests at once"
    );
    let job = &spec["jobTemplate"]["spec"];
    assert!(
        job["activeDeadlineSeconds"].as_u64().is_some(),
        "a bounded run"
    );
    let pod = &job["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    k8s::assert_pod_references_exist(&objects, pod);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    for c in k8s::containers(pod) {
        k8s::assert_hardened(c);
        let image = str_of(&c["image"], "image");
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            !tag.is_empty() && tag != "latest",
            "image {image} is not pinned"
        );
    }
    for rule in seq(&job["podFailurePolicy"]["rules"], "podFailurePolicy.rules") {
        if let Some(codes) = rule.get("onExitCodes") {
            let name = &codes["containerName"];
            assert!(
                k8s::containers(pod).iter().any(|c| c["name"] == *name),
                "podFailurePolicy names {name:?}, not a container"
            );
        }
    }

    // load → compare (init containers, in this order) → file-issue.
    let init = seq(&pod["initContainers"], "initContainers");
    let names: Vec<&str> = init.iter().map(|c| str_of(&c["name"], "name")).collect();
    assert_eq!(names, ["load", "compare"], "load, then compare");
    let (load, compare) = (&init[0], &init[1]);
    let file_issue = seq(&pod["containers"], "containers")
        .iter()
        .find(|c| c["name"] == "file-issue")
        .expect("a file-issue container");
    let load_args = k8s::args(load);
    let compare_args = k8s::args(compare);
    assert_eq!(load_args[0], "load");
    assert_eq!(compare_args[0], "compare");
    let out = flag(&load_args, "--out").expect("--out");
    assert_eq!(
        compare_args[2], out,
        "compare judges the directory load wrote"
    );
    for flag_needed in ["--format=github-issue", "--exit-zero"] {
        assert!(
            compare_args.iter().any(|a| a == flag_needed),
            "compare needs {flag_needed}"
        );
    }
    let issue = flag(&compare_args, "--output").expect("--output");
    // Every container mounts the same reports volume at the same path.
    let reports_dir = out.rsplit_once('/').unwrap().0;
    let volume = k8s::mounted_at(pod, load, reports_dir);
    for c in [compare, file_issue] {
        assert_eq!(k8s::mounted_at(pod, c, reports_dir)["name"], volume["name"]);
    }
    let baseline = &compare_args[1];
    let baseline_dir = baseline.rsplit_once('/').unwrap().0;
    assert!(
        k8s::mounted_at(pod, compare, baseline_dir)
            .get("persistentVolumeClaim")
            .is_some(),
        "the baseline lives in a claim"
    );
    // file-issue posts the file compare writes, with the Secret's token and repository.
    let script = k8s::args(file_issue).join("\n");
    assert!(
        script.contains(&issue.replace("$(POD_NAME)", "$POD_NAME")),
        "file-issue reads {issue}:\n{script}"
    );
    assert!(script.contains("https://api.github.com/repos/$GITHUB_REPOSITORY/issues"));
    let env = seq(&file_issue["env"], "env");
    for (name, key) in [
        ("GITHUB_TOKEN", "token"),
        ("GITHUB_REPOSITORY", "repository"),
    ] {
        let var = env.iter().find(|e| e["name"] == name).expect(name);
        assert_eq!(var["valueFrom"]["secretKeyRef"]["name"], "synthex-github");
        assert_eq!(var["valueFrom"]["secretKeyRef"]["key"], key);
    }
    for c in [load, compare, file_issue] {
        let pod_name = seq(&c["env"], "env")
            .iter()
            .find(|e| e["name"] == "POD_NAME")
            .expect("POD_NAME in every step's env");
        assert_eq!(
            pod_name["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.name"
        );
    }

    // The config is valid; the steps run here with the manifest's args, paths moved to a
    // temporary directory and the target to a local demo target, 2 s instead of the profile.
    let config_path = flag(&load_args, "--config.file").unwrap();
    let text = k8s::configmap_file(&objects, pod, load, &config_path);
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _target = start_demo_target(port, tmp.path());
    let config = tmp.path().join("synthex.yml");
    std::fs::write(
        &config,
        text.replace("http://demo-app:8080", &format!("http://127.0.0.1:{port}")),
    )
    .unwrap();
    check_config(&config);
    let local = |args: &[String]| -> Vec<String> {
        expanded(args, "nightly-1")
            .iter()
            .map(|a| {
                a.replace(&config_path, config.to_str().unwrap())
                    .replace("/reports/", &format!("{}/reports/", tmp.path().display()))
                    .replace(
                        "/baseline/",
                        &format!("{}/reports/nightly-1/", tmp.path().display()),
                    )
            })
            .collect()
    };
    let mut load_run: Vec<String> = local(&load_args);
    load_run.retain(|a| !a.starts_with("--profile"));
    load_run.extend(["--users=2".to_string(), "--duration=2s".to_string()]);
    let run = Command::new(synthex_bin())
        .args(&load_run)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{load_run:?}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The run against itself as the baseline: no regression, so no issue file, exit 0.
    let output = Command::new(synthex_bin())
        .args(local(&compare_args))
        .env_remove("SYNTHEX_ARTIFACTS_URL")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let written = local(&[issue])[0].clone();
    assert!(
        !std::path::Path::new(&written).exists(),
        "{written}: no regression, no issue"
    );
}
