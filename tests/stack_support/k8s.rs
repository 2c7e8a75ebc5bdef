//! Reading `deploy/kubernetes/`: the objects kustomization.yaml lists, and the Pod's containers.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use super::{repo, seq, str_of, string_map, yaml, yaml_docs};

/// Every object of every manifest, after checking kustomization.yaml lists exactly the manifests.
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
        .collect();
    assert_eq!(listed, on_disk, "kustomization.yaml lists every manifest");
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
