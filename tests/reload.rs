//! Live reload against the real binary: real signals, real HTTP, the demo target's own counts.

mod common;

use std::time::Duration;

use common::{Proc, free_port, http_get, start_demo_target, synthex_bin, wait_http_ok};

fn config_text(target_port: u16) -> String {
    format!(
        r#"
targets:
  - name: shop
    base_url: http://127.0.0.1:{target_port}
    rate: 5/s
    scenarios:
      - {{name: health, request: {{path: /health}}}}
"#
    )
}

#[test]
fn sighup_never_ends_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let target_port = free_port();
    let _target = start_demo_target(target_port, dir.path());
    let config = dir.path().join("synthex.yml");
    std::fs::write(&config, config_text(target_port)).unwrap();
    let port = free_port();
    let log = dir.path().join("synthex.log");
    let mut daemon = Proc::spawn(
        "synthex",
        synthex_bin(),
        &[
            "run",
            &format!("--config.file={}", config.display()),
            &format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &log,
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_http_ok(&format!("{base}/-/healthy"), Duration::from_secs(20));
    for _ in 0..3 {
        let sent = std::process::Command::new("kill")
            .args(["-HUP", &daemon.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        daemon.is_running(),
        "SIGHUP ended the daemon: {}",
        std::fs::read_to_string(&log).unwrap()
    );
    let (status, _) = http_get(&format!("{base}/-/healthy")).unwrap();
    assert_eq!(status, 200);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("SIGHUP received").count(), 3, "{text}");
    let exit = daemon
        .terminate(Duration::from_secs(15))
        .expect("exits on SIGTERM");
    assert!(exit.success(), "{exit}");
}
