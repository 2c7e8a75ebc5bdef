//! An HTTP/1.1 target that keeps its own count: the arrival time of every request, how many it
//! has answered, in total and per path, the connections it accepted and the most requests it
//! held at once, and for each answered request its `traceparent` header
//! and how long the target itself took. It runs on its own thread and runtime, so a stalled or
//! signalled prober cannot touch its clock or its books.
//!
//! Paths choose the answer: `/status/NNN…` answers status NNN, `/delay/MS…` waits MS
//! milliseconds more before answering (both may be combined: `/delay/30/status/500`),
//! `/fail-after/K…` answers 500 from the K+1-th request for that path on (a service that
//! breaks after a count it keeps); anything else is `200 ok` after the target's delay (fixed,
//! or chosen per request by its number).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The target; it serves until the test process ends.
pub struct CountingTarget {
    /// Where it listens (127.0.0.1).
    pub addr: SocketAddr,
    books: Arc<Books>,
}

/// One answered request, as the target saw it.
#[derive(Debug, Clone)]
pub struct Handled {
    /// Its `traceparent` header, if it had one.
    pub traceparent: Option<String>,
    /// From the request head's arrival to the response being handed over, in seconds.
    pub seconds: f64,
}

#[derive(Default)]
struct Books {
    arrivals: Mutex<Vec<Instant>>,
    answered: AtomicU64,
    /// Connections accepted.
    connections: AtomicU64,
    /// Requests received and not yet answered, now and at most.
    in_flight: AtomicU64,
    most_in_flight: AtomicU64,
    /// Per path: (arrived, answered).
    paths: Mutex<HashMap<String, (u64, u64)>>,
    handled: Mutex<Vec<Handled>>,
}

/// The delay of the `n`-th request (counted from 0 in arrival order).
type Delay = Arc<dyn Fn(u64) -> Duration + Send + Sync>;

impl CountingTarget {
    /// Starts a target that answers every request `200 ok` after `delay`.
    pub fn start(delay: Duration) -> CountingTarget {
        CountingTarget::start_with(move |_| delay)
    }

    /// Starts a target that answers its `n`-th request `200 ok` after `delay(n)`.
    pub fn start_with(delay: impl Fn(u64) -> Duration + Send + Sync + 'static) -> CountingTarget {
        let delay: Delay = Arc::new(delay);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let books = Arc::new(Books::default());
        let kept = Arc::clone(&books);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                serve(TcpListener::from_std(listener).unwrap(), kept, delay).await
            });
        });
        CountingTarget { addr, books }
    }

    /// Arrival times of every request so far.
    pub fn arrivals(&self) -> Vec<Instant> {
        self.books.arrivals.lock().unwrap().clone()
    }

    /// Every request answered so far, in the order they were answered.
    pub fn handled(&self) -> Vec<Handled> {
        self.books.handled.lock().unwrap().clone()
    }

    /// Requests received so far.
    pub fn count(&self) -> usize {
        self.books.arrivals.lock().unwrap().len()
    }

    /// Requests answered so far (the response handed to the connection).
    pub fn answered(&self) -> u64 {
        self.books.answered.load(Ordering::SeqCst)
    }

    /// Requests received for `path` so far.
    pub fn count_of(&self, path: &str) -> u64 {
        self.books
            .paths
            .lock()
            .unwrap()
            .get(path)
            .map_or(0, |c| c.0)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.books.connections.load(Ordering::SeqCst)
    }

    /// The most requests received and not yet answered at any one time so far.
    pub fn most_in_flight(&self) -> u64 {
        self.books.most_in_flight.load(Ordering::SeqCst)
    }

    /// Requests for `path` answered so far.
    pub fn answered_of(&self, path: &str) -> u64 {
        self.books
            .paths
            .lock()
            .unwrap()
            .get(path)
            .map_or(0, |c| c.1)
    }

    /// Arrivals in `[from, from + length)`, as a rate per second.
    pub fn rate_over(&self, from: Instant, length: Duration) -> f64 {
        let arrivals = self.books.arrivals.lock().unwrap();
        let n = arrivals
            .iter()
            .filter(|t| **t >= from && **t < from + length)
            .count();
        n as f64 / length.as_secs_f64()
    }
}

async fn serve(listener: TcpListener, books: Arc<Books>, delay: Delay) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        books.connections.fetch_add(1, Ordering::SeqCst);
        let books = Arc::clone(&books);
        let delay = Arc::clone(&delay);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let arrived = Instant::now();
                let now = books.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                books.most_in_flight.fetch_max(now, Ordering::SeqCst);
                let n = {
                    let mut arrivals = books.arrivals.lock().unwrap();
                    arrivals.push(arrived);
                    arrivals.len() as u64 - 1
                };
                let traceparent = request
                    .headers()
                    .get("traceparent")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let path = request.uri().path().to_string();
                let of_path = {
                    let mut paths = books.paths.lock().unwrap();
                    let counts = paths.entry(path.clone()).or_default();
                    counts.0 += 1;
                    counts.0
                };
                let (extra, status) = behaviour(&path, of_path);
                let books = Arc::clone(&books);
                let wait = delay(n) + extra;
                async move {
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    books.in_flight.fetch_sub(1, Ordering::SeqCst);
                    books.answered.fetch_add(1, Ordering::SeqCst);
                    books.paths.lock().unwrap().entry(path).or_default().1 += 1;
                    books.handled.lock().unwrap().push(Handled {
                        traceparent,
                        seconds: arrived.elapsed().as_secs_f64(),
                    });
                    let mut response = Response::new(Full::new(Bytes::from_static(b"ok\n")));
                    *response.status_mut() = status;
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The extra delay and the status a path asks for (see the module doc), for the `arrived`-th
/// request of that path.
fn behaviour(path: &str, arrived: u64) -> (Duration, hyper::StatusCode) {
    let mut parts = path.split('/');
    let (mut delay, mut status) = (Duration::ZERO, hyper::StatusCode::OK);
    while let Some(part) = parts.next() {
        match (part, parts.clone().next().map(str::parse::<u64>)) {
            ("delay", Some(Ok(ms))) => delay = Duration::from_millis(ms),
            ("fail-after", Some(Ok(k))) if arrived > k => {
                status = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            }
            ("status", Some(Ok(code))) => {
                status = u16::try_from(code)
                    .ok()
                    .and_then(|c| hyper::StatusCode::from_u16(c).ok())
                    .unwrap_or(status);
            }
            _ => {}
        }
    }
    (delay, status)
}
