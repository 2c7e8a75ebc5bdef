//! An HTTP/1.1 target whose behaviour the test sets and whose books the test reads: every
//! request it saw (path, arrival), the errors it served, and a gauge on `/metrics` whose value
//! the test controls, for Prometheus to scrape. It runs on its own thread and runtime, so the
//! prober under test cannot touch its clock or its books.
//!
//! Routes:
//! - `/health`: the status set with [`ScriptedTarget::set_health`] (200 at first);
//! - `/work`: `knee` workers, each answering one request at a time after `fast`; requests beyond
//!   them queue: a service that saturates at `knee` concurrent requests (`knee/fast` per second);
//! - `/limited`: at most `knee` requests at once, each answered 200 after `fast`; one more
//!   is answered 503 at once: a service with an enforced concurrency limit;
//! - `/tail`: every `every`-th request (1st, `every+1`-th, …) answers after `slow`, the rest
//!   after `fast`;
//! - `/flaky`: after `fast`, every `every`-th request answers 500, the rest 200;
//! - `/metrics`: `test_gauge VALUE` (Prometheus text format);
//! - anything else: 200 `ok`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// How `/work`, `/tail` and `/flaky` behave.
#[derive(Clone, Copy)]
pub struct Script {
    /// Service time of `/work` and of most `/tail` requests.
    pub fast: Duration,
    /// Service time of every `every`-th `/tail` request.
    pub slow: Duration,
    /// `/work` requests served at once.
    pub knee: usize,
    /// `/flaky` and `/tail`: one request in `every` fails or is slow (0: none).
    pub every: u64,
}

/// One request as the target saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Path without the query.
    pub path: String,
    /// When it arrived (monotonic).
    pub at: Instant,
    /// When it arrived (wall clock).
    pub wall: SystemTime,
    /// Whether it was answered with a 5xx.
    pub failed: bool,
    /// Whether it was one of `/tail`'s slow answers.
    pub slow: bool,
}

/// The target; it serves until the test process ends.
pub struct ScriptedTarget {
    /// Where it listens (127.0.0.1).
    pub addr: SocketAddr,
    books: Arc<Books>,
}

struct Books {
    script: Script,
    seen: Mutex<Vec<Seen>>,
    workers: tokio::sync::Semaphore,
    flaky: AtomicU64,
    tail: AtomicU64,
    health: AtomicU16,
    gauge: AtomicU64,
    extra_ms: AtomicU64,
}

impl ScriptedTarget {
    /// Starts a target following `script`.
    pub fn start(script: Script) -> ScriptedTarget {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let books = Arc::new(Books {
            script,
            seen: Mutex::new(Vec::new()),
            workers: tokio::sync::Semaphore::new(script.knee),
            flaky: AtomicU64::new(0),
            tail: AtomicU64::new(0),
            health: AtomicU16::new(200),
            gauge: AtomicU64::new(0f64.to_bits()),
            extra_ms: AtomicU64::new(0),
        });
        let kept = Arc::clone(&books);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(
                async move { serve(TcpListener::from_std(listener).unwrap(), kept).await },
            );
        });
        ScriptedTarget { addr, books }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Writes a config to `path`: one target `svc` on this server (rate 1/s, timeout 5s,
    /// kept-alive connections) running `scenarios` (YAML list items), then `extra` YAML.
    pub fn config(&self, path: &Path, scenarios: &str, extra: &str) -> PathBuf {
        std::fs::write(
            path,
            format!(
                "targets:\n  - name: svc\n    base_url: {}\n    rate: 1/s\n    timeout: 5s\n    keep_alive: true\n    scenarios:\n{scenarios}{extra}",
                self.base()
            ),
        )
        .unwrap();
        path.to_path_buf()
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.books.seen.lock().unwrap().clone()
    }

    /// Requests so far to `path`.
    pub fn seen_on(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }

    /// The status `/health` answers from now on.
    pub fn set_health(&self, status: u16) {
        self.books.health.store(status, Ordering::SeqCst);
    }

    /// A delay added to every answer but `/health` and `/metrics` from now on.
    pub fn set_extra_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap();
        self.books.extra_ms.store(ms, Ordering::SeqCst);
    }

    /// The value `/metrics` shows for `test_gauge` from now on.
    pub fn set_gauge(&self, value: f64) {
        self.books.gauge.store(value.to_bits(), Ordering::SeqCst);
    }
}

async fn serve(listener: TcpListener, books: Arc<Books>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let books = Arc::clone(&books);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let books = Arc::clone(&books);
                async move { Ok::<_, Infallible>(answer(&books, request.uri().path()).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(books: &Books, path: &str) -> Response<Full<Bytes>> {
    let (at, wall) = (Instant::now(), SystemTime::now());
    let script = books.script;
    let every = |counter: &AtomicU64| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        script.every > 0 && n.is_multiple_of(script.every)
    };
    // A slot of `/limited`, held until the answer is made.
    let mut slot = None;
    // Decided (and booked) on arrival, so a request the client gives up on is still seen.
    let (status, body, slow) = match path {
        "/limited" => {
            slot = books.workers.try_acquire().ok();
            let status = if slot.is_some() { 200 } else { 503 };
            (status, "limited\n".to_string(), false)
        }
        "/health" => (
            books.health.load(Ordering::SeqCst),
            "health\n".to_string(),
            false,
        ),
        "/work" => (200, "work\n".to_string(), false),
        "/tail" => (200, "tail\n".to_string(), every(&books.tail)),
        "/flaky" => {
            let failed = every(&books.flaky);
            (if failed { 500 } else { 200 }, "flaky\n".to_string(), false)
        }
        "/metrics" => {
            let value = f64::from_bits(books.gauge.load(Ordering::SeqCst));
            (
                200,
                format!("# TYPE test_gauge gauge\ntest_gauge {value}\n"),
                false,
            )
        }
        _ => (200, "ok\n".to_string(), false),
    };
    if path != "/metrics" {
        books.seen.lock().unwrap().push(Seen {
            path: path.to_string(),
            at,
            wall,
            failed: status >= 500,
            slow,
        });
    }
    let extra = books.extra_ms.load(Ordering::SeqCst);
    if extra > 0 && path != "/health" && path != "/metrics" {
        tokio::time::sleep(Duration::from_millis(extra)).await;
    }
    match path {
        "/work" => {
            let _worker = books.workers.acquire().await.unwrap();
            tokio::time::sleep(script.fast).await;
        }
        "/tail" => tokio::time::sleep(if slow { script.slow } else { script.fast }).await,
        "/flaky" => tokio::time::sleep(script.fast).await,
        "/limited" if slot.is_some() => tokio::time::sleep(script.fast).await,
        _ => {}
    }
    drop(slot);
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response
}
