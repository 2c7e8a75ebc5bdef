//! Reading `docker-compose.yml`: services, their volumes, ports and commands, and where a
//! container path comes from in the repository.

use std::path::PathBuf;

use serde_yaml::Value;

use super::{repo, seq, str_of, yaml};

pub fn compose() -> Value {
    yaml("docker-compose.yml")
}

/// The services, by name.
pub fn services(compose: &Value) -> Vec<(&str, &Value)> {
    compose["services"]
        .as_mapping()
        .expect("docker-compose.yml has services")
        .iter()
        .map(|(name, svc)| (str_of(name, "service name"), svc))
        .collect()
}

pub fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"]
        .get(name)
        .unwrap_or_else(|| panic!("docker-compose.yml has no service {name}"))
}

/// One volume entry of a service: (source, target); source `None` for an anonymous volume.
pub fn volumes(service: &Value) -> Vec<(Option<String>, String)> {
    let Some(list) = service.get("volumes") else {
        return vec![];
    };
    seq(list, "volumes")
        .iter()
        .map(|v| match v {
            Value::String(s) => match s.split(':').collect::<Vec<_>>().as_slice() {
                [target] => (None, target.to_string()),
                [source, target, ..] => (Some(source.to_string()), target.to_string()),
                [] => unreachable!("split yields at least one part"),
            },
            long => (
                long.get("source").map(|s| str_of(s, "source").to_string()),
                str_of(&long["target"], "target").to_string(),
            ),
        })
        .collect()
}

/// Whether a volume source is a host path (a bind mount) rather than a named volume.
pub fn is_bind(source: &str) -> bool {
    source.starts_with("./")
        || source.starts_with('/')
        || source == "."
        || source.starts_with("../")
}

/// Host side of a bind mount, resolved against the repository root, which it must stay inside.
pub fn host_path(source: &str) -> PathBuf {
    assert!(
        !source.starts_with('/') && !source.starts_with("../"),
        "bind mount {source} must be a path inside the repository"
    );
    repo().join(source.trim_start_matches("./"))
}

/// Where `container_path` of `service` comes from in the repository, through its bind mounts.
pub fn host_path_of(service: &Value, container_path: &str) -> PathBuf {
    for (source, target) in volumes(service) {
        let Some(source) = source.filter(|s| is_bind(s)) else {
            continue;
        };
        if let Some(rest) = container_path.strip_prefix(&target) {
            if rest.is_empty() {
                return host_path(&source);
            }
            if let Some(rest) = rest.strip_prefix('/') {
                return host_path(&source).join(rest);
            }
        }
    }
    panic!("{container_path} is not bind-mounted from the repository")
}

/// Published host ports of a service (`host:container` or the long form).
pub fn host_ports(service: &Value) -> Vec<u16> {
    let Some(ports) = service.get("ports") else {
        return vec![];
    };
    seq(ports, "ports")
        .iter()
        .map(|p| {
            let published = match p {
                Value::String(s) => {
                    let parts: Vec<&str> = s.split(':').collect();
                    assert!(parts.len() >= 2, "port {s}: publish host:container");
                    parts[parts.len() - 2].to_string()
                }
                Value::Number(n) => panic!("port {n}: publish host:container"),
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

/// A service's `command`, which must be a list: the synthex image has no shell to split a string.
pub fn command(service: &Value) -> Vec<String> {
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
