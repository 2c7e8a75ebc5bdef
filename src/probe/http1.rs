//! synthex's own HTTP/1.1 client exchange on one TCP connection: the direct connection's codec.
//!
//! Why not hyper's `client::conn::http1`: a direct connection carries one request at a time,
//! sent and awaited by the task that wants its answer, so hyper's split between a
//! `SendRequest` handle and a connection dispatcher (the channels, wakers and body channel
//! between them) was most of the user-space time per request. Here the waiting task writes the
//! request and parses the response on the socket itself, with one reused write buffer (one
//! write per request) and one reused read buffer (one read for a small response).
//!
//! What must not change is what goes on the wire and how a fault reads:
//! - the request is framed by hyper's client rules: an empty body is sent without
//!   `Content-Length` and without `Transfer-Encoding`; a body gets `Content-Length` unless the
//!   request set a valid one (then that many bytes are sent) or a `Transfer-Encoding` (then it
//!   is sent chunked); `Host` is added last when the request has none;
//! - the response head is parsed with `httparse` (hyper's own parser) with hyper's limits (100
//!   header lines, a 417,792-byte head), 1xx interim responses are skipped, and the body is
//!   framed as RFC 9112 §6.3 says: none after HEAD, 1xx, 204 and 304, else chunked, else
//!   `Content-Length`, else until the server closes;
//! - keep-alive as RFC 9112 §9.3: `Connection: close` from either side, or an HTTP/1.0
//!   response without `Connection: keep-alive`, ends the connection after the exchange, and so
//!   does a response whose body was not read to its end or a body that ends when the server
//!   closes;
//! - errors carry hyper's wording ("connection closed before message completed", "error
//!   reading a body from connection: ..."), so [`super::classify`] gives a request the same
//!   reason and message as through reqwest.

use std::error::Error as StdError;
use std::fmt;
use std::future::poll_fn;
use std::io::{self, Write as _};
use std::mem::MaybeUninit;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, GetAll, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
use hyper::body::{Frame, SizeHint};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::headers::RequestHeaders;

/// Most header lines a response head may have (hyper's default).
const MAX_HEADERS: usize = 100;
/// Largest response head: hyper's default read buffer limit.
const MAX_HEAD_BYTES: usize = 8192 + 4096 * 100;
/// The read buffer's first size (hyper's); it grows for a larger head.
const READ_BUFFER: usize = 8192;
/// Free room kept in the read buffer before a read, so that a small response arrives in one
/// read that leaves room to spare (which tells tokio the socket is drained: no extra read).
const MIN_READ_ROOM: usize = 4096;
/// Chunk extension bytes allowed in one body (hyper's limit).
const MAX_CHUNK_EXTENSION_BYTES: u64 = 16 * 1024;
/// Size of a chunked body's trailer section (hyper's limit).
const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// One request, borrowed from the rendered request.
pub(crate) struct Request<'a> {
    pub(crate) method: &'a Method,
    /// The request target in origin form (path and query).
    pub(crate) target: &'a Uri,
    pub(crate) headers: &'a RequestHeaders<'a>,
    /// The `Host` value, sent when `headers` has none.
    pub(crate) host: &'a HeaderValue,
    pub(crate) body: &'a [u8],
}

/// An open client connection: the socket and the buffers its exchanges reuse.
pub(crate) struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet consumed.
    read: BytesMut,
    /// The request being written.
    write: Vec<u8>,
    /// Where the last head's names and values are in it (reused to spare an allocation).
    spans: Vec<(Range<usize>, Range<usize>)>,
    /// The server answered the last request with HTTP/1.0: the next request is HTTP/1.0 too
    /// (as hyper does), with `Connection: keep-alive`.
    http10: bool,
    /// The last exchange ended with the connection fit to carry another request.
    reusable: bool,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("peer", &self.stream.peer_addr().ok())
            .field("reusable", &self.reusable)
            .finish()
    }
}

impl Conn {
    /// A connection on `stream`, just opened.
    pub(crate) fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            read: BytesMut::with_capacity(READ_BUFFER),
            write: Vec::with_capacity(512),
            spans: Vec::new(),
            http10: false,
            reusable: true,
        }
    }

    /// Whether the connection can carry another request: its last exchange left it open and
    /// the server has neither closed it nor sent anything since (an idle connection the
    /// server's keep-alive timeout closed). Costs no system call unless tokio's readiness
    /// cache says the socket became readable while idle.
    pub(crate) async fn is_reusable(&mut self) -> bool {
        self.keeps_alive() && poll_fn(|cx| Poll::Ready(self.poll_idle(cx))).await
    }

    /// Whether the last exchange left the connection fit for another request: both sides
    /// keep it alive, the body was read to its end and nothing unasked-for followed it.
    pub(crate) fn keeps_alive(&self) -> bool {
        self.reusable && self.read.is_empty()
    }

    fn poll_idle(&mut self, cx: &mut Context<'_>) -> bool {
        match self.stream.poll_read_ready(cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            // Readable while idle: an end of file, a reset, or bytes nobody asked for. Only
            // "nothing after all" (tokio's cache was stale) leaves the connection usable.
            Poll::Ready(Ok(())) => matches!(
                self.stream.try_read(&mut [0; 1]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock
            ),
        }
    }

    /// Sends `request` and reads the response head; the body is read from the returned
    /// response. Call only on a connection [`Conn::is_reusable`] or new.
    pub(crate) async fn exchange(
        &mut self,
        request: &Request<'_>,
    ) -> Result<http::Response<Body<'_>>, Error> {
        self.reusable = false;
        self.write.clear();
        let request_keeps = encode(&mut self.write, request, self.http10);
        self.stream
            .write_all(&self.write)
            .await
            .map_err(|e| Error::with(ErrorKind::Write, e))?;
        let head = poll_fn(|cx| self.poll_head(cx, request.method)).await?;
        self.http10 = head.version == Version::HTTP_10;
        let keep_alive = request_keeps && head.keep_alive;
        let mut response = http::Response::new(Body {
            conn: self,
            framing: head.framing,
            keep_alive,
        });
        *response.status_mut() = head.status;
        *response.version_mut() = head.version;
        *response.headers_mut() = head.headers;
        if response.body().framing.is_done() {
            response.body_mut().finish();
        }
        Ok(response)
    }

    /// Reads until a final response head is complete.
    fn poll_head(&mut self, cx: &mut Context<'_>, method: &Method) -> Poll<Result<Head, Error>> {
        loop {
            if let Some(head) = self.parse_head(method)? {
                return Poll::Ready(Ok(head));
            }
            if self.read.len() >= MAX_HEAD_BYTES {
                return Poll::Ready(Err(Error::new(ErrorKind::TooLarge)));
            }
            let limit = MAX_HEAD_BYTES - self.read.len();
            let read = ready!(self.poll_fill(cx, limit)).map_err(|e| Error::with(ErrorKind::Io, e));
            if read? == 0 {
                return Poll::Ready(Err(Error::new(ErrorKind::Incomplete)));
            }
        }
    }

    /// Reads what the socket holds into the read buffer, at most `limit` (> 0) bytes; `Ok(0)`
    /// at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>, limit: usize) -> Poll<io::Result<usize>> {
        if self.read.capacity() - self.read.len() < MIN_READ_ROOM {
            // Reclaims the consumed front when the buffer is no longer shared, else grows it.
            self.read.reserve(self.read.len().max(READ_BUFFER));
        }
        let mut room = (&mut self.read).limit(limit);
        tokio_util::io::poll_read_buf(Pin::new(&mut self.stream), cx, &mut room)
    }

    /// The final response head at the front of the read buffer, once it is all there; 1xx
    /// interim responses before it are dropped.
    fn parse_head(&mut self, method: &Method) -> Result<Option<Head>, Error> {
        loop {
            if self.read.is_empty() {
                return Ok(None);
            }
            let Some(parsed) = self.parse_lines()? else {
                return Ok(None);
            };
            let bytes = self.read.split_to(parsed.length).freeze();
            let status =
                StatusCode::from_u16(parsed.code).map_err(|_| Error::new(ErrorKind::Status))?;
            let version = if parsed.minor == 1 {
                Version::HTTP_11
            } else {
                Version::HTTP_10
            };
            let mut headers = HeaderMap::with_capacity(self.spans.len());
            for (name, value) in &self.spans {
                let name = HeaderName::from_bytes(&bytes[name.clone()])
                    .map_err(|_| Error::new(ErrorKind::Header))?;
                let value = HeaderValue::from_maybe_shared(bytes.slice(value.clone()))
                    .map_err(|_| Error::new(ErrorKind::Header))?;
                headers.append(name, value);
            }
            let Some((framing, upgrade)) = framing(status, version, &headers, method)? else {
                continue; // 1xx: the final response follows
            };
            let keep_alive = keeps_alive(version, &headers) && !upgrade;
            return Ok(Some(Head {
                status,
                version,
                headers,
                framing,
                keep_alive,
            }));
        }
    }

    /// Parses the head at the front of the read buffer, noting where its header names and
    /// values are in `spans`; `None` while it is incomplete.
    fn parse_lines(&mut self) -> Result<Option<Lines>, Error> {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut []);
        let buffer: &[u8] = &self.read;
        let length = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut response,
            buffer,
            &mut slots,
        ) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(error) => return Err(Error::new(ErrorKind::from(error))),
        };
        let start = buffer.as_ptr() as usize;
        let span = |part: &[u8]| {
            let from = part.as_ptr() as usize - start;
            from..from + part.len()
        };
        self.spans.clear();
        self.spans.extend(
            response
                .headers
                .iter()
                .map(|h| (span(h.name.as_bytes()), span(h.value))),
        );
        Ok(Some(Lines {
            length,
            code: response.code.unwrap_or_default(),
            minor: response.version.unwrap_or_default(),
        }))
    }
}

/// A response head's status line, its length and where it was parsed.
struct Lines {
    length: usize,
    code: u16,
    minor: u8,
}

/// A final response head, ready to be handed out.
struct Head {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    framing: Framing,
    /// The server lets the connection carry another request.
    keep_alive: bool,
}

/// Appends `request` to `dst` as hyper's client frames it (see the module doc), as HTTP/1.0
/// after an HTTP/1.0 response. Returns whether the request lets the connection carry another
/// one after it.
fn encode(dst: &mut Vec<u8>, request: &Request<'_>, http10: bool) -> bool {
    let headers = request.headers;
    let closes = headers
        .values(&CONNECTION)
        .iter()
        .any(|v| has(v.as_bytes(), "close"));
    let (framing, body) = request_framing(headers, request.body, http10);
    let target = request.target.path_and_query().map_or("/", |p| p.as_str());
    let version: &[u8] = if http10 {
        b" HTTP/1.0\r\n"
    } else {
        b" HTTP/1.1\r\n"
    };
    dst.extend_from_slice(request.method.as_str().as_bytes());
    dst.push(b' ');
    dst.extend_from_slice(target.as_bytes());
    dst.extend_from_slice(version);
    let chunked = framing == RequestFraming::Chunked;
    // The last `Transfer-Encoding` line of a chunked request must end in `chunked`.
    let mut encodings_left = if chunked {
        headers.values(&TRANSFER_ENCODING).iter().count()
    } else {
        0
    };
    for (name, value) in headers.lines() {
        if *name == TRANSFER_ENCODING {
            if !chunked {
                continue;
            }
            encodings_left -= 1;
            if encodings_left == 0 && !is_chunked(value) {
                header(dst, name.as_str(), &[value, b", chunked"]);
                continue;
            }
        }
        if *name == CONTENT_LENGTH
            && matches!(framing, RequestFraming::Chunked | RequestFraming::Set)
        {
            continue;
        }
        header(dst, name.as_str(), &[value]);
    }
    if headers.values(&HOST).iter().next().is_none() {
        header(dst, "host", &[request.host.as_bytes()]);
    }
    if http10
        && !closes
        && !headers
            .values(&CONNECTION)
            .iter()
            .any(|v| has(v.as_bytes(), "keep-alive"))
    {
        header(dst, "connection", &[b"keep-alive"]);
    }
    if framing == RequestFraming::Set {
        // Writing to a Vec cannot fail.
        let _ = write!(dst, "content-length: {}\r\n", body.len());
    }
    dst.extend_from_slice(b"\r\n");
    if chunked {
        let _ = write!(dst, "{:X}\r\n", body.len());
        dst.extend_from_slice(body);
        dst.extend_from_slice(b"\r\n0\r\n\r\n");
    } else {
        dst.extend_from_slice(body);
    }
    // A body shorter than the request's own Content-Length leaves the server waiting.
    !closes && framing != (RequestFraming::Length { short: true })
}

/// Appends one header line whose value is `parts` put together.
fn header(dst: &mut Vec<u8>, name: &str, parts: &[&[u8]]) {
    dst.extend_from_slice(name.as_bytes());
    dst.extend_from_slice(b": ");
    for part in parts {
        dst.extend_from_slice(part);
    }
    dst.extend_from_slice(b"\r\n");
}

/// How a request's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestFraming {
    /// No body: no framing header is added and `Transfer-Encoding` is dropped.
    Empty,
    /// The request's own valid `Content-Length`; `short` when the body has fewer bytes.
    Length { short: bool },
    /// `Content-Length` is set from the body (replacing an invalid one).
    Set,
    /// Chunked, as the request's `Transfer-Encoding` asks.
    Chunked,
}

/// The framing of `body` in a request with `headers` (hyper's `Client::set_length`), and the
/// body bytes to send.
fn request_framing<'b>(
    headers: &RequestHeaders<'_>,
    body: &'b [u8],
    http10: bool,
) -> (RequestFraming, &'b [u8]) {
    if body.is_empty() {
        return (RequestFraming::Empty, body);
    }
    if !http10 && headers.values(&TRANSFER_ENCODING).iter().next().is_some() {
        return (RequestFraming::Chunked, body);
    }
    match content_length(headers.values(&CONTENT_LENGTH)) {
        Some(length) => {
            let sent = usize::try_from(length).map_or(body, |n| &body[..n.min(body.len())]);
            let short = (body.len() as u64) < length;
            (RequestFraming::Length { short }, sent)
        }
        None => (RequestFraming::Set, body),
    }
}

/// How a response's body is delimited, and how far it has been read.
#[derive(Debug)]
enum Framing {
    /// This many bytes are still to come.
    Length(u64),
    Chunked(Chunked),
    /// Until the server closes the connection.
    Eof,
    /// Read to its end (or failed).
    Done,
}

impl Framing {
    fn is_done(&self) -> bool {
        matches!(self, Framing::Done | Framing::Length(0))
    }
}

/// The body framing of a response with `status`, `version` and `headers` to a `method`
/// request (RFC 9112 §6.3, as hyper's client decides it), and whether the connection is being
/// upgraded; `None` for an interim (1xx) response.
fn framing(
    status: StatusCode,
    version: Version,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Option<(Framing, bool)>, Error> {
    match status.as_u16() {
        101 => return Ok(Some((Framing::Done, true))),
        100..=199 => return Ok(None),
        204 | 304 => return Ok(Some((Framing::Done, false))),
        _ => {}
    }
    if *method == Method::HEAD {
        return Ok(Some((Framing::Done, false)));
    }
    if *method == Method::CONNECT && status.is_success() {
        return Ok(Some((Framing::Done, true)));
    }
    let framing = if headers.contains_key(TRANSFER_ENCODING) {
        if version == Version::HTTP_10 {
            return Err(Error::new(ErrorKind::TransferEncoding));
        }
        match headers.get_all(TRANSFER_ENCODING).iter().next_back() {
            Some(last) if is_chunked(last.as_bytes()) => Framing::Chunked(Chunked::default()),
            _ => Framing::Eof,
        }
    } else if let Some(length) = content_length(headers.get_all(CONTENT_LENGTH)) {
        // hyper reserves the two largest values for its own markers.
        if length > u64::MAX - 2 {
            return Err(Error::new(ErrorKind::TooLarge));
        }
        Framing::Length(length)
    } else if headers.contains_key(CONTENT_LENGTH) {
        return Err(Error::new(ErrorKind::ContentLength));
    } else {
        Framing::Eof
    };
    Ok(Some((framing, false)))
}

/// Whether a response with `version` and `headers` leaves the connection open: HTTP/1.1
/// unless a `Connection` line says `close`; HTTP/1.0 only with `keep-alive` (and no `close`).
fn keeps_alive(version: Version, headers: &HeaderMap) -> bool {
    let mut keep_alive = version == Version::HTTP_11;
    for value in headers.get_all(CONNECTION) {
        if has(value.as_bytes(), "close") {
            return false;
        }
        keep_alive |= has(value.as_bytes(), "keep-alive");
    }
    keep_alive
}

/// Whether the comma-separated list `value` holds `token` (any case).
fn has(value: &[u8], token: &str) -> bool {
    is_text(value)
        && value
            .split(|&b| b == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Whether the last transfer coding of `value` is `chunked`.
fn is_chunked(value: &[u8]) -> bool {
    is_text(value)
        && value
            .rsplit(|&b| b == b',')
            .next()
            .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// Whether `value` is text as `HeaderValue::to_str` takes it (visible ASCII, spaces and tabs),
/// so that a value it refuses holds no token here either. Then the only white space in it is
/// spaces and tabs, which `trim_ascii` trims as `str::trim` would.
fn is_text(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (b' '..0x7f).contains(&b))
}

/// The `Content-Length` all the header's values agree on, if they are all valid.
fn content_length(values: GetAll<'_, HeaderValue>) -> Option<u64> {
    let mut length = None;
    for value in values {
        for item in value.to_str().ok()?.split(',') {
            let item = item.trim();
            if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: u64 = item.parse().ok()?;
            if length.is_some_and(|l| l != n) {
                return None;
            }
            length = Some(n);
        }
    }
    length
}

/// A response body, read from its connection as the caller polls it.
pub(crate) struct Body<'c> {
    conn: &'c mut Conn,
    framing: Framing,
    /// The connection may carry another request once this body has been read to its end.
    keep_alive: bool,
}

/// What the read buffer gave a body.
enum Decoded {
    Data(Bytes),
    /// The body is complete.
    End,
    /// More bytes must be read first.
    More,
}

impl Body<'_> {
    /// Decodes what the read buffer holds.
    fn decode(&mut self) -> io::Result<Decoded> {
        let buffer = &mut self.conn.read;
        match &mut self.framing {
            Framing::Done | Framing::Length(0) => Ok(Decoded::End),
            _ if buffer.is_empty() => Ok(Decoded::More),
            Framing::Length(left) => {
                let take = usize::try_from(*left).map_or(buffer.len(), |n| n.min(buffer.len()));
                *left -= take as u64;
                Ok(Decoded::Data(buffer.split_to(take).freeze()))
            }
            Framing::Eof => Ok(Decoded::Data(buffer.split().freeze())),
            Framing::Chunked(chunked) => chunked.decode(buffer),
        }
    }

    /// The body ended: the connection is fit for another request if both sides said so.
    fn finish(&mut self) {
        let closes = matches!(self.framing, Framing::Eof);
        self.framing = Framing::Done;
        self.conn.reusable = self.keep_alive && !closes;
    }

    /// What an end of the stream before the body's end means.
    fn eof(&mut self) -> Option<io::Error> {
        match &self.framing {
            Framing::Eof => {
                self.finish();
                None
            }
            Framing::Chunked(chunked) if chunked.state != ChunkState::Body => Some(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "unexpected EOF during chunk size line",
            )),
            _ => Some(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "end of file before message length reached",
            )),
        }
    }
}

impl hyper::body::Body for Body<'_> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        let failed = |this: &mut Body<'_>, e| {
            this.framing = Framing::Done;
            Poll::Ready(Some(Err(Error::with(ErrorKind::Body, e))))
        };
        loop {
            if matches!(this.framing, Framing::Done) {
                return Poll::Ready(None);
            }
            match this.decode() {
                Ok(Decoded::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(Decoded::End) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Ok(Decoded::More) => {}
                Err(e) => return failed(this, e),
            }
            match ready!(this.conn.poll_fill(cx, usize::MAX)) {
                Ok(0) => match this.eof() {
                    None => return Poll::Ready(None),
                    Some(e) => return failed(this, e),
                },
                Ok(_) => {}
                Err(e) => return failed(this, e),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.framing.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Length(left) => SizeHint::with_exact(left),
            Framing::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

/// Where a chunked body's decoding is (RFC 9112 §7.1; the states and errors of hyper's
/// decoder, so a malformed body fails with the same message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ChunkState {
    #[default]
    Start,
    Size,
    SizeLws,
    Extension,
    SizeLf,
    Body,
    BodyCr,
    BodyLf,
    Trailer,
    TrailerLf,
    EndCr,
    EndLf,
    End,
}

/// A chunked body's decoder.
#[derive(Debug, Default)]
struct Chunked {
    state: ChunkState,
    /// The current chunk's size, then what is left of it.
    size: u64,
    extension_bytes: u64,
    /// The trailer section so far, if there is one.
    trailers: Option<Vec<u8>>,
    trailer_lines: usize,
}

impl Chunked {
    /// Decodes from the front of `buffer`: a piece of chunk data, the end, or a need for more.
    fn decode(&mut self, buffer: &mut BytesMut) -> io::Result<Decoded> {
        loop {
            match self.state {
                ChunkState::End => return Ok(Decoded::End),
                ChunkState::Body => {
                    if buffer.is_empty() {
                        return Ok(Decoded::More);
                    }
                    let take =
                        usize::try_from(self.size).map_or(buffer.len(), |n| n.min(buffer.len()));
                    self.size -= take as u64;
                    if self.size == 0 {
                        self.state = ChunkState::BodyCr;
                    }
                    return Ok(Decoded::Data(buffer.split_to(take).freeze()));
                }
                _ => {
                    let Some(&byte) = buffer.first() else {
                        return Ok(Decoded::More);
                    };
                    buffer.advance(1);
                    self.state = self.step(byte)?;
                    if self.state == ChunkState::End {
                        if let Some(trailers) = &self.trailers {
                            check_trailers(trailers, self.trailer_lines)?;
                        }
                        return Ok(Decoded::End);
                    }
                }
            }
        }
    }

    /// The state after `byte`, outside chunk data.
    fn step(&mut self, byte: u8) -> io::Result<ChunkState> {
        use ChunkState::*;
        let invalid = |message: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        match self.state {
            Start | Size => match (hex(byte), byte) {
                (Some(digit), _) => {
                    self.size = self
                        .size
                        .checked_mul(16)
                        .and_then(|size| size.checked_add(digit))
                        .ok_or_else(|| {
                            io::Error::new(
                                io::ErrorKind::InvalidData,
                                "invalid chunk size: overflow",
                            )
                        })?;
                    Ok(Size)
                }
                _ if self.state == Start => invalid("Invalid chunk size line: missing size digit"),
                (None, b'\t' | b' ') => Ok(SizeLws),
                (None, b';') => Ok(Extension),
                (None, b'\r') => Ok(SizeLf),
                _ => invalid("Invalid chunk size line: Invalid Size"),
            },
            SizeLws => match byte {
                b'\t' | b' ' => Ok(SizeLws),
                b';' => Ok(Extension),
                b'\r' => Ok(SizeLf),
                _ => invalid("Invalid chunk size linear white space"),
            },
            Extension => match byte {
                b'\r' => Ok(SizeLf),
                b'\n' => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "invalid chunk extension contains newline",
                )),
                _ => {
                    self.extension_bytes += 1;
                    if self.extension_bytes >= MAX_CHUNK_EXTENSION_BYTES {
                        Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "chunk extensions over limit",
                        ))
                    } else {
                        Ok(Extension)
                    }
                }
            },
            SizeLf => match byte {
                b'\n' if self.size == 0 => Ok(EndCr),
                b'\n' => Ok(Body),
                _ => invalid("Invalid chunk size LF"),
            },
            BodyCr => match byte {
                b'\r' => Ok(BodyLf),
                _ => invalid("Invalid chunk body CR"),
            },
            BodyLf => match byte {
                b'\n' => Ok(Start),
                _ => invalid("Invalid chunk body LF"),
            },
            Trailer => {
                self.keep_trailer_byte(byte)?;
                Ok(if byte == b'\r' { TrailerLf } else { Trailer })
            }
            TrailerLf => match byte {
                b'\n' => {
                    if self.trailer_lines >= MAX_HEADERS {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "chunk trailers count overflow",
                        ));
                    }
                    self.trailer_lines += 1;
                    self.keep_trailer_byte(byte)?;
                    Ok(EndCr)
                }
                _ => invalid("Invalid trailer end LF"),
            },
            EndCr => {
                if byte == b'\r' {
                    if self.trailers.is_some() {
                        self.keep_trailer_byte(byte)?;
                    }
                    return Ok(EndLf);
                }
                match &mut self.trailers {
                    None => self.trailers = Some(vec![byte]),
                    Some(_) => self.keep_trailer_byte(byte)?,
                }
                Ok(Trailer)
            }
            EndLf => match byte {
                b'\n' => {
                    if self.trailers.is_some() {
                        self.keep_trailer_byte(byte)?;
                    }
                    Ok(End)
                }
                _ => invalid("Invalid chunk end LF"),
            },
            Body | End => Ok(self.state),
        }
    }

    fn keep_trailer_byte(&mut self, byte: u8) -> io::Result<()> {
        let trailers = self.trailers.get_or_insert_with(Vec::new);
        trailers.push(byte);
        if trailers.len() >= MAX_TRAILER_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "chunk trailers bytes over limit",
            ));
        }
        Ok(())
    }
}

/// The value of a hexadecimal digit.
fn hex(byte: u8) -> Option<u64> {
    char::from(byte).to_digit(16).map(u64::from)
}

/// Checks a trailer section of `lines` lines as hyper does (it is not kept: a probe judges
/// the head and the body).
fn check_trailers(section: &[u8], lines: usize) -> io::Result<()> {
    let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
    let mut slots = vec![httparse::EMPTY_HEADER; lines];
    match httparse::parse_headers(section, &mut slots) {
        Ok(httparse::Status::Complete((_, fields))) => {
            for field in fields {
                if HeaderName::from_bytes(field.name.as_bytes()).is_err() {
                    return Err(invalid(format!("Invalid header name: {field:?}")));
                }
                if HeaderValue::from_bytes(field.value).is_err() {
                    return Err(invalid(format!("Invalid header value: {field:?}")));
                }
            }
            Ok(())
        }
        Ok(httparse::Status::Partial) => Err(invalid("Partial header".to_string())),
        Err(e) => Err(io::Error::new(io::ErrorKind::InvalidInput, e)),
    }
}

/// A failed exchange, worded as hyper words it (see the module doc).
#[derive(Debug)]
pub(crate) struct Error {
    kind: ErrorKind,
    cause: Option<io::Error>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    /// Reading the response head failed.
    Io,
    /// The server closed the connection before a whole response head.
    Incomplete,
    Version,
    Header,
    Status,
    TooLarge,
    ContentLength,
    TransferEncoding,
    /// Reading the body failed.
    Body,
    /// Writing the request failed.
    Write,
}

impl Error {
    fn new(kind: ErrorKind) -> Error {
        Error { kind, cause: None }
    }

    fn with(kind: ErrorKind, cause: io::Error) -> Error {
        Error {
            kind,
            cause: Some(cause),
        }
    }

    /// The server closed the connection before a whole response: nothing to read, so the
    /// connection was lost (hyper's `is_incomplete_message`).
    pub(crate) fn is_incomplete(&self) -> bool {
        self.kind == ErrorKind::Incomplete
    }
}

impl From<httparse::Error> for ErrorKind {
    fn from(error: httparse::Error) -> ErrorKind {
        match error {
            httparse::Error::HeaderName
            | httparse::Error::HeaderValue
            | httparse::Error::NewLine
            | httparse::Error::Token => ErrorKind::Header,
            httparse::Error::Status => ErrorKind::Status,
            httparse::Error::TooManyHeaders => ErrorKind::TooLarge,
            httparse::Error::Version => ErrorKind::Version,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            ErrorKind::Io => "connection error",
            ErrorKind::Incomplete => "connection closed before message completed",
            ErrorKind::Version => "invalid HTTP version parsed",
            ErrorKind::Header => "invalid HTTP header parsed",
            ErrorKind::Status => "invalid HTTP status-code parsed",
            ErrorKind::TooLarge => "message head is too large",
            ErrorKind::ContentLength => "invalid content-length parsed",
            ErrorKind::TransferEncoding => "unexpected transfer-encoding parsed",
            ErrorKind::Body => "error reading a body from connection",
            ErrorKind::Write => "error writing a body to connection",
        })
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.cause.as_ref().map(|e| e as &(dyn StdError + 'static))
    }
}
