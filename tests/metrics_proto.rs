//! The committed protobuf types (`src/metrics/proto/io.prometheus.client.rs`) are what prost
//! generates from the vendored `proto/io/prometheus/client/metrics.proto`, compiled by protox
//! (pure Rust, no protoc). With `SYNTHEX_REGENERATE=1` the test rewrites the file instead
//! (`scripts/gen-metrics-proto.sh`).

use std::path::Path;

#[test]
fn committed_protobuf_types_match_the_vendored_proto() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let descriptors = protox::compile(["io/prometheus/client/metrics.proto"], [root.join("proto")])
        .expect("the vendored metrics.proto compiles");
    let out = tempfile::tempdir().unwrap();
    prost_build::Config::new()
        .out_dir(out.path())
        .compile_fds(descriptors)
        .expect("prost generates the types");
    let generated = std::fs::read_to_string(out.path().join("io.prometheus.client.rs")).unwrap();
    let committed_path = root.join("src/metrics/proto/io.prometheus.client.rs");
    if std::env::var_os("SYNTHEX_REGENERATE").is_some() {
        std::fs::write(&committed_path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale or missing: run scripts/gen-metrics-proto.sh",
        committed_path.display()
    );
}
