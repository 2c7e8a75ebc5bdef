//! Shared by tests/stack_files.rs and tests/stack_secured.rs: reading the repository's YAML
//! files and small helpers over `serde_yaml::Value`; compose and Kubernetes specifics live in
//! the submodules.
#![allow(dead_code)] // each test binary uses its own subset

pub mod compose;
pub mod k8s;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_yaml::Value;

use crate::common::synthex_bin;

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A file of the repository as text.
pub fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// A YAML file of the repository.
pub fn yaml(path: &str) -> Value {
    yaml_of(&repo().join(path))
}

/// A YAML file anywhere.
pub fn yaml_of(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Every document of a multi-document YAML file of the repository.
pub fn yaml_docs(path: &str) -> Vec<Value> {
    let text = read(path);
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            serde::Deserialize::deserialize(doc).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
        })
        .filter(|doc: &Value| !doc.is_null())
        .collect()
}

pub fn str_of<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, found {v:?}"))
}

pub fn seq<'a>(v: &'a Value, what: &str) -> &'a Vec<Value> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("{what}: expected a list, found {v:?}"))
}

/// The keys of a YAML map (empty when absent).
pub fn map_keys(v: &Value) -> BTreeSet<String> {
    string_map_or_keys(v).into_keys().collect()
}

fn string_map_or_keys(v: &Value) -> BTreeMap<String, Option<String>> {
    v.as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (str_of(k, "key").into(), v.as_str().map(str::to_string)))
                .collect()
        })
        .unwrap_or_default()
}

/// A YAML map of strings (labels, selectors); empty when absent.
pub fn string_map(v: &Value) -> BTreeMap<String, String> {
    string_map_or_keys(v)
        .into_iter()
        .map(|(k, v)| {
            let v = v.unwrap_or_else(|| panic!("{k}: expected a string value"));
            (k, v)
        })
        .collect()
}

/// The value of `--name=value` in `args`.
pub fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .find_map(|a| a.strip_prefix(&format!("{name}=")).map(str::to_string))
}

/// The port of a listen address such as `:9577` or `0.0.0.0:8089`.
pub fn port_of(address: &str) -> u16 {
    address
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("{address}: no port"))
}

/// `synthex check-config FILE` must succeed.
pub fn check_config(path: &Path) {
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

/// Copies `from` (file or directory) to `to`, creating parents.
pub fn copy_tree(from: &Path, to: &Path) {
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
