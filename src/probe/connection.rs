//! A virtual user's own keep-alive connection to a plain-HTTP target: the load test's fast path.
//!
//! Why it exists: a load test must come close to `wrk` on one core while recording every
//! request. reqwest spends most of its time per request outside the kernel: the URL is parsed
//! three times, hyper-util's client and connector services are cloned, tower boxes redirect,
//! retry and timeout layers, and each request checks a connection out of a pool and crosses a
//! channel to another task. A closed-model user only ever has one request in flight, so it can
//! own one HTTP/1.1 connection and do the exchange on it itself ([`super::http1`]: one write
//! of the request, the response parsed from a reused read buffer), with none of that
//! machinery, not even hyper's split between a request handle and a connection task.
//!
//! What it must not change is the result: requests are rendered by the probe's own
//! [`Probe::render`], and what comes back is read and judged by the probe's own `receive` and
//! `conclude`, so a request has the same `Outcome` (reasons, messages, phases, expectations,
//! cache classification) as with [`Probe::run`]. Only the transport differs: one connection,
//! reopened after an error or when the server closes it; `connect` (and `dns` for a host name)
//! are reported by the request that opened it. HTTPS targets, proxies, targets that follow
//! redirects and `keep_alive: false` keep using [`Probe::run`] ([`Probe::connection`] returns
//! `None`).
//!
//! The open model's arrivals, which overlap, share a target's [`IdleConnections`] instead: each
//! request borrows one connection for its length ([`Probe::run_on`]).
//!
//! `Probe::run` itself sends a plain-HTTP `keep_alive: false` request on a one-shot
//! `Connection`: a connection that is opened for one request and closed after it needs no pool
//! and no task, which makes the daemon's default canary cheaper per request.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Uri};
use hyper::body::{Body, Frame, SizeHint};
use reqwest::Url;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use url::{Host, Position};

use super::classify::{self, Stage, Step};
use super::http1::{self, Conn};
use super::timing::{self, ConnectionTimes};
use super::{Exchange, Probe, Rendered, Reply, Sent, other};
use crate::flow::Session;
use crate::outcome::{Failure, Outcome};
use crate::scenario::{Call, Target};
use crate::template::Iteration;

/// Where a plain-HTTP target's connections go, worked out once per target.
#[derive(Debug)]
pub(crate) struct Route {
    /// Host name to resolve, or the address itself.
    host: RouteHost,
    port: u16,
    /// `Host` header value: the URL's host, and its port unless it is the default one.
    authority: HeaderValue,
}

#[derive(Debug)]
enum RouteHost {
    Name(String),
    Ip(IpAddr),
}

impl Route {
    /// The route of `target` when requests may go over a direct connection: plain HTTP, no
    /// proxy.
    pub(crate) fn of(target: &Target) -> Option<Route> {
        let url = &target.base_url;
        if url.scheme() != "http" || target.proxy.is_some() {
            return None;
        }
        let host = match url.host()? {
            Host::Domain(name) => RouteHost::Name(name.to_string()),
            Host::Ipv4(ip) => RouteHost::Ip(ip.into()),
            Host::Ipv6(ip) => RouteHost::Ip(ip.into()),
        };
        let authority = &url[Position::BeforeHost..Position::BeforePath];
        Some(Route {
            host,
            port: url.port_or_known_default()?,
            authority: HeaderValue::from_str(authority).ok()?,
        })
    }
}

/// One virtual user's connection to a target: at most one request at a time, on one HTTP/1.1
/// keep-alive connection that is opened on first use and reopened when it breaks or closes.
pub struct Connection<'p> {
    probe: &'p Probe,
    route: &'p Route,
    /// The open connection, if any.
    live: Option<Conn>,
    /// The last rendered path and its request target: a scenario whose path has no
    /// placeholders renders the same one every time, and need not be parsed again.
    last_target: Option<(String, Uri)>,
    /// The deadline of the request in flight: made by the first request (it needs a runtime),
    /// then reset for each one.
    timer: Option<Pin<Box<Sleep>>>,
}

impl fmt::Debug for Connection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("route", self.route)
            .field("open", &self.live.is_some())
            .finish()
    }
}

impl Probe {
    /// A connection of its own for one virtual user, or `None` when this target must go through
    /// [`Probe::run`] (HTTPS, a proxy, redirects to follow, or `keep_alive: false`).
    pub fn connection(&self) -> Option<Connection<'_>> {
        if !self.keep_alive {
            return None;
        }
        self.direct()
    }

    /// A new direct connection along this target's route, if it has one (plain HTTP, no proxy,
    /// no redirects to follow: reqwest follows them, see [`super::redirect`]).
    pub(crate) fn direct(&self) -> Option<Connection<'_>> {
        if self.follows_redirects {
            return None;
        }
        Some(Connection {
            probe: self,
            route: self.route.as_ref()?,
            live: None,
            last_target: None,
            timer: None,
        })
    }
}

/// Idle direct connections to one target, shared by concurrent requests that each need one
/// connection for the length of a request (the open model's arrivals): a request takes the most
/// recently used idle connection (warm, and the least likely to have been closed by the server)
/// or opens a new one, and puts it back when its exchange left it open. There are never more
/// than the most requests ever in flight at once, which the open model caps.
#[derive(Default)]
pub struct IdleConnections(Mutex<Vec<Conn>>);

impl fmt::Debug for IdleConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idle = self.0.lock().map_or(0, |idle| idle.len());
        f.debug_struct("IdleConnections")
            .field("idle", &idle)
            .finish()
    }
}

impl IdleConnections {
    fn take(&self) -> Option<Conn> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }

    fn put(&self, live: Conn) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(live);
    }
}

impl Probe {
    /// Sends one request of `scenario` due at `scheduled` on a keep-alive connection from
    /// `idle` (see [`IdleConnections`]) where this target allows a direct connection
    /// ([`Probe::connection`]), else with [`Probe::run`]. Same `Outcome` either way.
    pub async fn run_on(
        &self,
        idle: &IdleConnections,
        call: &Call,
        scheduled: Instant,
        iteration: &Iteration,
    ) -> Outcome {
        let Some(mut connection) = self.connection() else {
            return self.run(call, scheduled, iteration).await;
        };
        connection.live = idle.take();
        let outcome = connection.run(call, scheduled, iteration).await;
        if let Some(live) = connection.live.take() {
            idle.put(live);
        }
        outcome
    }
}

impl Connection<'_> {
    /// Sends one request of `call` that was due at `scheduled`, exactly as [`Probe::run`]
    /// would, but on this connection. Never fails: problems are in the returned `Outcome`.
    pub async fn run(&mut self, call: &Call, scheduled: Instant, iteration: &Iteration) -> Outcome {
        self.exchange_for(call, scheduled, iteration, None)
            .await
            .outcome
    }

    /// Sends one request of a flow step on this connection, as [`Probe::send`] does.
    pub async fn send(&mut self, call: &Call, session: &Session, scheduled: Instant) -> Reply {
        self.exchange_for(call, scheduled, session.iteration(), Some(session))
            .await
    }

    pub(super) async fn exchange_for(
        &mut self,
        call: &Call,
        scheduled: Instant,
        iteration: &Iteration,
        session: Option<&Session>,
    ) -> Reply {
        let send_start = Instant::now();
        let mut times = ConnectionTimes::default();
        let probe = self.probe;
        let (mut trace_id, mut path) = (None, None);
        let exchange = match probe.render(call, iteration, session, |path| self.target(path)) {
            Ok(mut rendered) => {
                trace_id = rendered.trace_id;
                path = rendered.path.take();
                let deadline = send_start + self.probe.timeout;
                match &mut self.timer {
                    Some(timer) => timer.as_mut().reset(deadline),
                    None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
                }
                self.exchange(&rendered, &mut times).await
            }
            Err(failure) => Exchange::failed(failure),
        };
        let sent = Sent {
            scheduled,
            start: send_start,
            trace_id,
            path,
        };
        self.probe.conclude(call, sent, times, exchange)
    }

    /// The deadline of the request in flight (set by [`Connection::run`]).
    fn timer(&mut self) -> Pin<&mut Sleep> {
        self.timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::ZERO)))
            .as_mut()
    }

    /// The request target (origin form: path and query) of a rendered path, as the probe's
    /// URL would have it.
    fn target(&mut self, path: String) -> Result<Uri, Failure> {
        if let Some((last, uri)) = &self.last_target
            && *last == path
        {
            return Ok(uri.clone());
        }
        let endpoint = &self.probe.endpoint;
        let uri = match endpoint
            .verbatim_target(&path)
            .and_then(|target| Uri::try_from(target).ok())
        {
            Some(uri) => uri,
            None => {
                let url = endpoint.url(&path).map_err(other)?;
                let target = &url[Position::BeforePath..Position::AfterQuery];
                Uri::try_from(target).map_err(|e| invalid(&url, e))?
            }
        };
        self.last_target = Some((path, uri.clone()));
        Ok(uri)
    }

    /// Sends the rendered request on a ready connection and reads the response; keeps the
    /// connection only if the exchange went through and left it fit for another request.
    async fn exchange(
        &mut self,
        rendered: &Rendered<'_, Uri>,
        times: &mut ConnectionTimes,
    ) -> Exchange {
        let (probe, route) = (self.probe, self.route);
        let timeout = probe.timeout;
        let mut live = match self.ready(times).await {
            Ok(live) => live,
            Err(failure) => return Exchange::failed(failure),
        };
        let request = http1::Request {
            method: &rendered.method,
            target: &rendered.url,
            headers: &rendered.headers,
            // The `Host` header hyper-util adds when the request has none.
            host: &route.authority,
            body: rendered.body.as_deref().unwrap_or_default(),
        };
        let mut timer = self.timer();
        let exchange = match within(timer.as_mut(), live.exchange(&request)).await {
            None => Exchange::failed(classify::timed_out(Stage::Head, timeout)),
            Some(Err(error)) => {
                Exchange::failed(classify::classify(&error, Step::Exchange, Stage::Head))
            }
            Some(Ok(response)) => {
                let response = response.map(|body| Deadline {
                    body,
                    timer,
                    timeout,
                });
                probe.receive(response, |f| f).await
            }
        };
        if exchange.failure.is_none() && live.keeps_alive() {
            self.live = Some(live);
        }
        exchange
    }

    /// The open connection if it can take a request, or a new one.
    async fn ready(&mut self, times: &mut ConnectionTimes) -> Result<Conn, Failure> {
        if let Some(mut live) = self.live.take()
            // Closed by the server while idle (its keep-alive timeout): open another one
            // instead of failing the request on it.
            && live.is_reusable().await
        {
            return Ok(live);
        }
        let timeout = self.probe.timeout;
        let connecting = connect(self.route, times);
        within(self.timer(), connecting)
            .await
            .unwrap_or_else(|| Err(classify::timed_out(Stage::Head, timeout)))
    }
}

/// Opens a connection along `route`, recording its DNS and set-up times in `times`.
async fn connect(route: &Route, times: &mut ConnectionTimes) -> Result<Conn, Failure> {
    times.started = Some(Instant::now());
    let addrs = match &route.host {
        RouteHost::Ip(ip) => vec![SocketAddr::new(*ip, route.port)],
        RouteHost::Name(name) => {
            let (took, result) = timing::lookup(name, route.port).await;
            times.dns = Some(took);
            result.map_err(|e| classify::classify(&e, Step::Resolve, Stage::Head))?
        }
    };
    let stream = open(&addrs)
        .await
        .map_err(|e| classify::classify(&ConnectError(e), Step::Connect, Stage::Head))?;
    times.ready = Some(Instant::now());
    Ok(Conn::new(stream))
}

/// Connects to the first address that accepts, with Nagle off as reqwest does.
async fn open(addrs: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no addresses");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(error) => last = error,
        }
    }
    Err(last)
}

/// `work`'s output, or `None` if `timer` fires first.
async fn within<F: Future>(timer: Pin<&mut Sleep>, work: F) -> Option<F::Output> {
    tokio::select! {
        biased;
        output = work => Some(output),
        () = timer => None,
    }
}

/// A response body that fails with the request's timeout once its deadline passes, and whose
/// errors are already classified as body failures.
struct Deadline<'t> {
    body: http1::Body<'t>,
    timer: Pin<&'t mut Sleep>,
    timeout: Duration,
}

impl Body for Deadline<'_> {
    type Data = Bytes;
    type Error = Failure;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Failure>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            let failed = |e| classify::classify(&e, Step::Exchange, Stage::Body);
            return Poll::Ready(frame.map(|frame| frame.map_err(failed)));
        }
        ready!(this.timer.as_mut().poll(cx));
        Poll::Ready(Some(Err(classify::timed_out(Stage::Body, this.timeout))))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A failed TCP connect, worded as reqwest (hyper-util) words it.
#[derive(Debug)]
struct ConnectError(io::Error);

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tcp connect error")
    }
}

impl StdError for ConnectError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

/// A rendered URL that is valid for `url` but not as an HTTP request target.
fn invalid(url: &Url, error: http::uri::InvalidUri) -> Failure {
    other(format!(
        "rendered URL {} is invalid: {error}",
        super::expect::excerpt(url.as_str())
    ))
}
