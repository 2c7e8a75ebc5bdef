//! End-to-end alerting with real parts: the demo target, the synthex binary probing it, a real
//! Prometheus (Debian `prometheus`) loaded with the shipped `alerts/synthex.rules.yml`, and a real
//! Alertmanager (Debian `prometheus-alertmanager`) running the shipped `alerts/alertmanager.yml`
//! with its webhooks pointed at a recorder in this test.
//!
//! It proves that, with objectives taken from synthex's config (p95 100 ms, 5 % errors):
//! - a healthy target raises no alert;
//! - a 50 % error fault (the demo target's `/fault` endpoint) brings `SynthexErrorRatioHigh` for
//!   that target to Alertmanager's API, active, with the rule's labels and annotations, and the
//!   ticket webhook gets it;
//! - making every request fail brings `SynthexTargetDown` to the pager webhook, and Alertmanager
//!   inhibits the target's `SynthexErrorRatioHigh` meanwhile; healing resolves both;
//! - a 300 ms delay fault does the same for `SynthexLatencyHigh`.
//!
//! To run in about a minute, the test uses a copy of the rules with every duration (`for:` and
//! every range window) divided by the same factor, so the rules keep their proportions (for
//! example a `for:` twice the window), and Prometheus scrapes and evaluates every second.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use regex::Regex;
use serde_json::Value;

use common::{
    Proc, free_port, http_get, http_request, require_tool, start_demo_target, synthex_bin,
    wait_http_ok,
};

/// Every rule duration is divided by this: 5m windows become 10s, `for: 2m` becomes 4s.
const TIME_SCALE: u64 = 30;

/// Longest wait for one alert to arrive or resolve.
const ALERT_WAIT: Duration = Duration::from_secs(60);

fn synthex_config(target_port: u16) -> String {
    format!(
        r#"
targets:
  - name: demo
    base_url: http://127.0.0.1:{target_port}
    rate: 20/s
    timeout: 2s
    max_in_flight: 16
    # The default floor of 1/30s, scaled like the rules' windows.
    backoff: {{floor: 1/s}}
    objectives: {{p95: 100ms, error_ratio: 5%}}
    scenarios:
      - name: health
        request: {{path: /health}}
      - name: order
        request: {{path: "/orders/{{{{ int 1..100 }}}}"}}
"#
    )
}

fn prometheus_config(synthex_port: u16, alertmanager_port: u16, rules: &Path) -> String {
    format!(
        r#"
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ['{}']
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:{alertmanager_port}']
scrape_configs:
  - job_name: synthex
    static_configs:
      - targets: ['127.0.0.1:{synthex_port}']
"#,
        rules.display()
    )
}

/// The shipped rules with every `for:` and range window divided by `TIME_SCALE`. Fails on a
/// duration that does not divide evenly, so a new rule cannot slip through unscaled.
fn scaled_rules(shipped: &str) -> String {
    let scale = |amount: &str, unit: &str| -> String {
        let seconds = amount.parse::<u64>().unwrap()
            * match unit {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86_400,
                other => panic!("unit {other}"),
            };
        assert_eq!(seconds % TIME_SCALE, 0, "{amount}{unit} does not scale");
        format!("{}s", seconds / TIME_SCALE)
    };
    let window = Regex::new(r"\[(\d+)([smhd])\]").unwrap();
    let for_ = Regex::new(r"(?m)^(\s+for: )(\d+)([smh])$").unwrap();
    let text = window.replace_all(shipped, |c: &regex::Captures| {
        format!("[{}]", scale(&c[1], &c[2]))
    });
    let text = for_.replace_all(&text, |c: &regex::Captures| {
        format!("{}{}", &c[1], scale(&c[2], &c[3]))
    });
    let windows = window.find_iter(shipped).count();
    let fors = for_.find_iter(shipped).count();
    assert!(windows > 5 && fors > 5, "{windows} windows, {fors} `for:`");
    assert_eq!(
        shipped.matches("for:").count(),
        fors,
        "every `for:` is a plain duration on its own line"
    );
    text.into_owned()
}

/// The shipped Alertmanager config with its webhooks pointed at `webhook` (path = receiver
/// name) and the waits cut to a second, routes and inhibitions unchanged.
fn test_alertmanager_config(shipped: &str, webhook: u16) -> String {
    let mut config: serde_yaml::Value = serde_yaml::from_str(shipped).unwrap();
    let route = &mut config["route"];
    route["group_wait"] = "1s".into();
    route["group_interval"] = "1s".into();
    for child in route["routes"].as_sequence_mut().unwrap() {
        if child.get("group_wait").is_some() {
            child["group_wait"] = "1s".into();
        }
    }
    let mut hooks = 0;
    for receiver in config["receivers"].as_sequence_mut().unwrap() {
        let name = receiver["name"].as_str().unwrap().to_string();
        if let Some(list) = receiver
            .get_mut("webhook_configs")
            .and_then(|w| w.as_sequence_mut())
        {
            for hook in list {
                hook["url"] = format!("http://127.0.0.1:{webhook}/{name}").into();
                hooks += 1;
            }
        }
    }
    assert!(
        hooks >= 2,
        "the shipped config has a pager and a ticket webhook"
    );
    serde_yaml::to_string(&config).unwrap()
}

/// Webhook notifications received: (path, JSON body).
type Notifications = Arc<Mutex<Vec<(String, Value)>>>;

/// A minimal HTTP server recording every webhook POST; the thread ends with the test process.
fn start_webhook_recorder() -> (u16, Notifications) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received: Notifications = Arc::default();
    let sink = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            let mut length = 0;
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
            let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
            sink.lock().unwrap().push((path, json));
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, received)
}

/// The running stack, its endpoints and where to look when something goes wrong.
struct Stack {
    dir: tempfile::TempDir,
    target: String,
    prometheus: String,
    alertmanager: String,
    notifications: Notifications,
    _procs: Vec<Proc>,
}

impl Stack {
    fn start() -> Stack {
        let prometheus_bin = require_tool("prometheus", "prometheus");
        let alertmanager_bin = require_tool("prometheus-alertmanager", "prometheus-alertmanager");
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        let (target_port, synthex_port) = (free_port(), free_port());
        let (prom_port, am_port) = (free_port(), free_port());
        let (webhook_port, notifications) = start_webhook_recorder();
        let mut procs = Vec::new();

        let target = format!("http://127.0.0.1:{target_port}");
        procs.push(start_demo_target(target_port, dir.path()));

        std::fs::write(path("synthex.yml"), synthex_config(target_port)).unwrap();
        procs.push(Proc::spawn(
            "synthex",
            synthex_bin(),
            &[
                "run",
                &format!("--config.file={}", path("synthex.yml").display()),
                &format!("--web.listen-address=127.0.0.1:{synthex_port}"),
            ],
            &path("synthex.log"),
        ));

        let shipped_am = std::fs::read_to_string("alerts/alertmanager.yml").unwrap();
        std::fs::write(
            path("alertmanager.yml"),
            test_alertmanager_config(&shipped_am, webhook_port),
        )
        .unwrap();
        procs.push(Proc::spawn(
            "alertmanager",
            &alertmanager_bin,
            &[
                &format!("--config.file={}", path("alertmanager.yml").display()),
                &format!("--storage.path={}", path("am-data").display()),
                &format!("--web.listen-address=127.0.0.1:{am_port}"),
                "--cluster.listen-address=",
            ],
            &path("alertmanager.log"),
        ));

        let shipped_rules = std::fs::read_to_string("alerts/synthex.rules.yml").unwrap();
        std::fs::write(path("rules.yml"), scaled_rules(&shipped_rules)).unwrap();
        std::fs::write(
            path("prometheus.yml"),
            prometheus_config(synthex_port, am_port, &path("rules.yml")),
        )
        .unwrap();
        procs.push(Proc::spawn(
            "prometheus",
            &prometheus_bin,
            &[
                &format!("--config.file={}", path("prometheus.yml").display()),
                &format!("--storage.tsdb.path={}", path("tsdb").display()),
                &format!("--web.listen-address=127.0.0.1:{prom_port}"),
                "--rules.alert.resend-delay=1s",
            ],
            &path("prometheus.log"),
        ));

        let stack = Stack {
            dir,
            target,
            prometheus: format!("http://127.0.0.1:{prom_port}"),
            alertmanager: format!("http://127.0.0.1:{am_port}"),
            notifications,
            _procs: procs,
        };
        for url in [
            format!("http://127.0.0.1:{synthex_port}/-/ready"),
            format!("{}/-/ready", stack.alertmanager),
            format!("{}/-/ready", stack.prometheus),
        ] {
            wait_http_ok(&url, Duration::from_secs(30));
        }
        stack
    }

    fn get_json(&self, url: &str) -> Value {
        let (status, body) = http_get(url).unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(status, 200, "GET {url}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
    }

    /// Sets the demo target's failure mode (`None` heals it).
    fn fault(&self, query: Option<&str>) {
        let (method, url) = match query {
            Some(q) => ("PUT", format!("{}/fault?{q}", self.target)),
            None => ("DELETE", format!("{}/fault", self.target)),
        };
        let (status, body) = http_request(method, &url, "").unwrap();
        assert_eq!(status, 200, "{method} {url}: {body}");
    }

    /// Alerts Prometheus currently holds (pending and firing).
    fn prometheus_alerts(&self) -> Vec<Value> {
        let url = format!("{}/api/v1/alerts", self.prometheus);
        let json = self.get_json(&url);
        json["data"]["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Alerts Alertmanager lists (its API leaves out resolved ones).
    fn alertmanager_alerts(&self) -> Vec<Value> {
        let json = self.get_json(&format!("{}/api/v2/alerts", self.alertmanager));
        json.as_array().cloned().unwrap_or_default()
    }

    fn alertmanager_alert(&self, name: &str) -> Option<Value> {
        self.alertmanager_alerts()
            .into_iter()
            .find(|a| a["labels"]["alertname"] == name)
    }

    /// Whether the webhook of `receiver` got a notification with status `status` holding `name`.
    fn notified(&self, receiver: &str, status: &str, name: &str) -> bool {
        let path = format!("/{receiver}");
        self.notifications.lock().unwrap().iter().any(|(p, body)| {
            *p == path
                && body["status"] == status
                && body["alerts"].as_array().is_some_and(|alerts| {
                    alerts
                        .iter()
                        .any(|a| a["labels"]["alertname"] == name && a["status"] == status)
                })
        })
    }

    /// Polls `probe` every 250 ms until it yields, for at most `limit`; fails with diagnostics.
    fn wait_for<T>(&self, what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(value) = probe() {
                return value;
            }
            if Instant::now() > deadline {
                panic!("{what}: not within {limit:?}\n{}", self.diagnostics());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn diagnostics(&self) -> String {
        let mut out = String::new();
        for (name, url) in [
            (
                "Prometheus alerts",
                format!("{}/api/v1/alerts", self.prometheus),
            ),
            (
                "Prometheus rules",
                format!("{}/api/v1/rules?type=alert", self.prometheus),
            ),
            (
                "Alertmanager alerts",
                format!("{}/api/v2/alerts", self.alertmanager),
            ),
            ("demo target fault", format!("{}/fault", self.target)),
        ] {
            let body = http_get(&url)
                .map(|(_, b)| b)
                .unwrap_or_else(|e| e.to_string());
            out += &format!("--- {name}: {body:.6000}\n");
        }
        let notes = self.notifications.lock().unwrap();
        out += &format!("--- webhook notifications: {notes:?}\n");
        for log in [
            "synthex.log",
            "target.log",
            "prometheus.log",
            "alertmanager.log",
        ] {
            let text = std::fs::read_to_string(self.dir.path().join(log)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            out += &format!(
                "--- {log} (last lines, newest first):\n{}\n",
                tail.join("\n")
            );
        }
        out
    }

    /// Waits until `alert` is active in Alertmanager for the demo target, with the severity that
    /// routes it to `receiver`, a matching description and its runbook link, and until that
    /// receiver's webhook got it. Returns how long it took.
    fn expect_active(&self, alert: &str, receiver: &str, description: &Regex) -> Duration {
        let started = Instant::now();
        let found = self.wait_for(
            &format!("{alert} active in Alertmanager"),
            ALERT_WAIT,
            || {
                self.alertmanager_alert(alert)
                    .filter(|a| a["status"]["state"] == "active")
            },
        );
        let severity = if receiver == "pager" {
            "page"
        } else {
            receiver
        };
        let labels = &found["labels"];
        for (key, want) in [
            ("target", "demo"),
            ("severity", severity),
            ("job", "synthex"),
        ] {
            assert_eq!(labels[key], want, "{alert} label {key}: {found}");
        }
        let text = found["annotations"]["description"].as_str().unwrap_or("");
        assert!(
            description.is_match(text),
            "{alert} description {text:?} does not match {description}"
        );
        let url = found["annotations"]["runbook_url"].as_str().unwrap_or("");
        assert!(
            url.ends_with(&format!("#{}", alert.to_lowercase())),
            "{url}"
        );
        self.wait_for(
            &format!("{receiver} webhook for {alert}"),
            ALERT_WAIT,
            || self.notified(receiver, "firing", alert).then_some(()),
        );
        started.elapsed()
    }

    /// Waits until Alertmanager no longer lists `alert` and `receiver` heard it resolve.
    fn expect_resolved(&self, alert: &str, receiver: &str) -> Duration {
        let started = Instant::now();
        self.wait_for(
            &format!("{alert} resolved in Alertmanager"),
            ALERT_WAIT,
            || self.alertmanager_alert(alert).is_none().then_some(()),
        );
        self.wait_for(&format!("resolved webhook for {alert}"), ALERT_WAIT, || {
            self.notified(receiver, "resolved", alert).then_some(())
        });
        started.elapsed()
    }
}

#[test]
fn objective_alerts_reach_alertmanager_and_resolve() {
    let began = Instant::now();
    let stack = Stack::start();

    // Healthy: once the recording rules have data, watch one full scaled window plus the
    // longest `for:` of the two alerts under test: nothing may fire.
    stack.wait_for("recorded p95 of the healthy target", ALERT_WAIT, || {
        let url = format!(
            "{}/api/v1/query?query=synthex%3Arequest_duration_seconds%3Ap95_rate5m",
            stack.prometheus
        );
        let json = stack.get_json(&url);
        json["data"]["result"][0]["value"][1]
            .as_str()
            .map(String::from)
    });
    let quiet_until = Instant::now() + Duration::from_secs(12);
    while Instant::now() < quiet_until {
        let firing: Vec<Value> = stack
            .prometheus_alerts()
            .into_iter()
            .filter(|a| a["state"] == "firing")
            .collect();
        assert!(
            firing.is_empty(),
            "healthy target, yet firing: {firing:?}\n{}",
            stack.diagnostics()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        stack.alertmanager_alerts().is_empty(),
        "healthy target, yet Alertmanager holds alerts\n{}",
        stack.diagnostics()
    );

    // Errors: half the requests fail, ten times the 5 % objective.
    stack.fault(Some("error_ratio=0.5"));
    let took = stack.expect_active(
        "SynthexErrorRatioHigh",
        "ticket",
        &Regex::new(
            r"^demo \(synthex 127\.0\.0\.1:\d+\) failed [0-9.]+% .* the objective is at most 5%\.$",
        )
        .unwrap(),
    );
    eprintln!("SynthexErrorRatioHigh in Alertmanager after {took:?}");

    // Every request fails: the target is down, pages, and its error alert is inhibited.
    stack.fault(Some("error_ratio=1"));
    let took = stack.expect_active(
        "SynthexTargetDown",
        "pager",
        &Regex::new(r"^No synthetic request to demo \(synthex 127\.0\.0\.1:\d+\) has succeeded .*synthex_target_up is 0\.$")
            .unwrap(),
    );
    eprintln!("SynthexTargetDown in Alertmanager after {took:?}");
    let inhibited = stack.wait_for("SynthexErrorRatioHigh inhibited", ALERT_WAIT, || {
        stack
            .alertmanager_alert("SynthexErrorRatioHigh")
            .filter(|a| a["status"]["state"] == "suppressed")
    });
    assert!(
        !inhibited["status"]["inhibitedBy"]
            .as_array()
            .unwrap_or(&Vec::new())
            .is_empty(),
        "suppressed by an inhibition, not a silence: {inhibited}"
    );

    stack.fault(None);
    let took = stack.expect_resolved("SynthexTargetDown", "pager");
    eprintln!("SynthexTargetDown resolved {took:?} after healing");
    let took = stack.expect_resolved("SynthexErrorRatioHigh", "ticket");
    eprintln!("SynthexErrorRatioHigh resolved {took:?} later");

    // Latency: every request 300 ms late, three times the 100 ms p95 objective.
    stack.fault(Some("delay_ms=300"));
    let took = stack.expect_active(
        "SynthexLatencyHigh",
        "ticket",
        &Regex::new(r"^The p95 latency of demo \(synthex 127\.0\.0\.1:\d+\) .* is [0-9.]+ms; the objective is 100ms\.$")
            .unwrap(),
    );
    eprintln!("SynthexLatencyHigh in Alertmanager after {took:?}");
    stack.fault(None);
    let took = stack.expect_resolved("SynthexLatencyHigh", "ticket");
    eprintln!("SynthexLatencyHigh resolved {took:?} after healing");
    eprintln!("whole run: {:?}", began.elapsed());
}

#[test]
fn scaling_keeps_every_rule_duration_proportional() {
    let shipped = std::fs::read_to_string("alerts/synthex.rules.yml").unwrap();
    let scaled = scaled_rules(&shipped);
    assert!(scaled.contains("rate(synthex_requests_total[10s])"));
    assert!(scaled.contains("[120s]")); // 1h
    assert!(scaled.contains("for: 4s")); // 2m
    assert!(
        !Regex::new(r"\[\d+[mhd]\]|for: \d+[mh]")
            .unwrap()
            .is_match(&scaled)
    );
}
