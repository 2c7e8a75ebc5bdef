//! An HTTP/1.1 target that keeps its own count: the arrival time of every request and how many
//! it has answered. It runs on its own thread and runtime, so a stalled or signalled prober
//! cannot touch its clock or its books.

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

#[derive(Default)]
struct Books {
    arrivals: Mutex<Vec<Instant>>,
    answered: AtomicU64,
}

impl CountingTarget {
    /// Starts a target that answers every request `200 ok` after `delay`.
    pub fn start(delay: Duration) -> CountingTarget {
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

    /// Requests received so far.
    pub fn count(&self) -> usize {
        self.books.arrivals.lock().unwrap().len()
    }

    /// Requests answered so far (the response handed to the connection).
    pub fn answered(&self) -> u64 {
        self.books.answered.load(Ordering::SeqCst)
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

async fn serve(listener: TcpListener, books: Arc<Books>, delay: Duration) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let books = Arc::clone(&books);
        tokio::spawn(async move {
            let service = service_fn(move |_request: Request<hyper::body::Incoming>| {
                books.arrivals.lock().unwrap().push(Instant::now());
                let books = Arc::clone(&books);
                async move {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    books.answered.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok\n"))))
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
