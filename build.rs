//! Embeds the git commit into the binary so `--version` and `synthex_build_info` name the exact
//! source they were built from. A build without `.git` (a container build from a source archive)
//! can pass the revision in the `SYNTHEX_REVISION` environment variable instead.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SYNTHEX_REVISION");
    if let Ok(revision) = std::env::var("SYNTHEX_REVISION")
        && !revision.trim().is_empty()
    {
        println!("cargo:rustc-env=SYNTHEX_REVISION={}", revision.trim());
        return;
    }
    let revision = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=SYNTHEX_REVISION={revision}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");
}
