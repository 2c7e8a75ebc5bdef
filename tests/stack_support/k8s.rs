//! Reading `deploy/kubernetes/`: the objects kustomization.yaml lists, the manifests applied on
//! their own, Pod containers, and the files they mount from ConfigMaps.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use super::{repo, seq, str_of, string_map, yaml, yaml_docs};

/// Manifests applied on their own with `kubectl apply -f`, not listed in kustomization.yaml:
/// applying the monitoring stack must not start a load test.
pub const STANDALONE: &[&str] = &["load-test-job.yaml", "load-test-cronjob.yaml"];

/// The objects of a standalone manifest.
pub fn standalone(file: &str) -> Vec<Value> {
    assert!(
        STANDALONE.contains(&file),
        "{file} is not a standalone manifest"
    );
    yaml_docs(&format!("deploy/kubernetes/{file}"))
}

/// Every object of every manifest, after checking kustomization.yaml lists exactly the manifests
/// that are not standalone.
pub fn objects() -> Vec<Value> {
    let kustomization = yaml("deploy/kubernetes/kustomization.yaml");
    let listed: BTreeSet<String> = seq(&kustomization["resources"], "resources")
        .iter()
        .map(|r| str_of(r, "resource").to_string())
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(repo().join("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .filter(|n| !STANDALONE.contains(&n.as_str()))
        .collect();
    assert_eq!(
        listed, on_disk,
        "kustomization.yaml lists every manifest but the standalone {STANDALONE:?}"
    );
    listed
        .iter()
        .flat_map(|f| yaml_docs(&format!("deploy/kubernetes/{f}")))
        .collect()
}

/// The one object of `kind`.
pub fn only<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}");
    found[0]
}

pub fn all<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

pub fn labels(object: &Value) -> BTreeMap<String, String> {
    string_map(&object["metadata"]["labels"])
}

/// A selector (a plain map or `matchLabels`) is non-empty and a subset of `labels`.
pub fn selects(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let selector = string_map(selector);
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Init containers (native sidecars) and containers of a Pod spec.
pub fn containers(pod_spec: &Value) -> Vec<&Value> {
    ["initContainers", "containers"]
        .iter()
        .filter_map(|k| pod_spec.get(*k))
        .flat_map(|c| seq(c, "containers"))
        .collect()
}

/// Named ports of a container: name → containerPort.
pub fn ports(container: &Value) -> BTreeMap<String, u64> {
    container
        .get("ports")
        .map(|p| {
            seq(p, "ports")
                .iter()
                .map(|p| {
                    let name = str_of(&p["name"], "port name").to_string();
                    (name, p["containerPort"].as_u64().expect("containerPort"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A container's `args` as strings.
pub fn args(container: &Value) -> Vec<String> {
    seq(&container["args"], "args")
        .iter()
        .map(|a| str_of(a, "arg").to_string())
        .collect()
}

/// The Pod volume of that name.
pub fn volume<'a>(pod_spec: &'a Value, name: &str) -> &'a Value {
    seq(&pod_spec["volumes"], "volumes")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no volume {name}"))
}

/// The volume a container mounts at `dir`.
pub fn mounted_at<'a>(pod_spec: &'a Value, container: &Value, dir: &str) -> &'a Value {
    let mount = seq(&container["volumeMounts"], "volumeMounts")
        .iter()
        .find(|m| m["mountPath"] == dir)
        .unwrap_or_else(|| {
            panic!(
                "{}: nothing mounted at {dir}",
                container["name"].as_str().unwrap_or("?")
            )
        });
    volume(pod_spec, str_of(&mount["name"], "volumeMount name"))
}

/// The text of the file at `path` in `container`, from the ConfigMap mounted at its directory.
pub fn configmap_file(
    objects: &[Value],
    pod_spec: &Value,
    container: &Value,
    path: &str,
) -> String {
    let (dir, file) = path.rsplit_once('/').unwrap();
    let volume = mounted_at(pod_spec, container, dir);
    let cm = all(objects, "ConfigMap")
        .into_iter()
        .find(|c| c["metadata"]["name"] == volume["configMap"]["name"])
        .unwrap_or_else(|| panic!("{dir}: no ConfigMap volume"));
    str_of(&cm["data"][file], "ConfigMap data").to_string()
}

/// Volumes and ConfigMaps referenced by the Pod exist, probes use named ports of their container,
/// and every container has CPU and memory requests and limits.
pub fn assert_pod_references_exist(objects: &[Value], spec: &Value) {
    let configmaps = all(objects, "ConfigMap");
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
    for c in containers(spec) {
        let name = str_of(&c["name"], "container name");
        let ports = ports(c);
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

/// A container that cannot become root, write its image or gain privileges.
pub fn assert_hardened(container: &Value) {
    let name = str_of(&container["name"], "container name");
    let sc = &container["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true, "{name}: runAsNonRoot");
    assert_eq!(
        sc["readOnlyRootFilesystem"], true,
        "{name}: readOnlyRootFilesystem"
    );
    assert_eq!(
        sc["allowPrivilegeEscalation"], false,
        "{name}: allowPrivilegeEscalation"
    );
}
