//! HTTP upload: `POST /api/v1/submissions` (multipart file or JSON) with a per-unit bearer token, receipts by id, and a plain upload page. Only this folder knows axum.

pub mod auth;
mod console;
mod figures;
mod public_appeals;

use crate::decision::Parsed;
use crate::forms;
use crate::intake::Intake;
use crate::intake::appeals::{self, Answered, Answerer, Lodged, Requested};
use crate::model::appeal::{AppealChannel, AppealForm};
use crate::model::submission::{Sender, sha256_hex};
use crate::model::{Channel, Outcome, Receipt, Submission, SubmissionId, UnitCode};
use crate::store::{ConsoleStore, JobStore, Store, UserStore};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Form, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;

/// What one hub's HTTP listener allows at once, and the address it is reached at.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    pub max_upload_bytes: usize,
    /// Upload bytes held at once across requests; beyond it, 503 with Retry-After.
    pub max_upload_memory_bytes: usize,
    pub max_connections: usize,
    /// Connections one client address may hold at once, so one client cannot take them all.
    pub max_connections_per_address: usize,
    pub header_timeout: std::time::Duration,
    pub body_timeout: std::time::Duration,
    /// Spreadsheets parsed at once, each on a blocking thread (JSON bodies have slots of their own).
    pub parsers: usize,
    /// Where users reach the hub (`[serve] public_url`), for the links the hub mails them; never
    /// taken from a request's Host, which the requester chooses.
    pub public_url: Option<String>,
}

impl HttpLimits {
    pub fn from_config(c: &crate::config::ServeConfig) -> HttpLimits {
        HttpLimits {
            max_upload_bytes: c.max_upload_mb << 20,
            max_upload_memory_bytes: c.max_upload_memory_mb.max(c.max_upload_mb) << 20,
            max_connections: c.max_connections.max(1),
            max_connections_per_address: c.max_connections_per_address.max(1),
            header_timeout: std::time::Duration::from_secs(c.header_timeout_seconds.max(1)),
            body_timeout: std::time::Duration::from_secs(c.body_timeout_seconds.max(1)),
            parsers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            public_url: c.public_url.clone(),
        }
    }
}

pub struct HttpState<S> {
    pub store: Arc<S>,
    pub intake: Intake,
    limits: HttpLimits,
    /// Upload memory in KiB permits: taken for a request's declared length before its body is read.
    upload_memory: Arc<tokio::sync::Semaphore>,
    /// Parsing slots: a slow file (a million columns, an unterminated quote) holds one blocking
    /// thread, never the request tasks of others.
    parsers: Arc<tokio::sync::Semaphore>,
    /// JSON bodies' own slots: JSON reads in linear time, and never waits behind a spreadsheet.
    json_parsers: Arc<tokio::sync::Semaphore>,
    /// The memory spreadsheets being read may take together, in KiB permits (eight times the
    /// upload memory): the upload limit counts a file's bytes, its reading takes many times more.
    parse_memory: Arc<tokio::sync::Semaphore>,
    parse_memory_kib: usize,
    templates: minijinja::Environment<'static>,
    /// Signs console session cookies and CSRF tokens.
    session_key: auth::SessionKey,
    /// Console login attempts per account and per address.
    logins: auth::LoginLimits,
    /// Password checks at once (argon2: 19 MiB and tens of milliseconds each).
    login_hashes: tokio::sync::Semaphore,
    /// The lane of logins from an address their account logged in from before: a flood of
    /// guesses at unknown names from many addresses fills `login_hashes`, never this.
    known_login_hashes: tokio::sync::Semaphore,
    /// The dashboard's and the obligations board's figures per scope and filter, a few seconds
    /// old: every viewer of one scope sees the same, so a busy console costs a query every few
    /// seconds, not one a request, and no request waits for it while older figures exist.
    console_figures: figures::SharedFigures,
}

/// How long the console's shared figures are shown without a refresh.
const CONSOLE_FIGURES_FRESH: std::time::Duration = std::time::Duration::from_secs(5);
/// How long they may be shown while a refresh is under way or failing: a busy console's
/// figures are refreshed long before; after a quiet spell the first viewer waits for new ones.
const CONSOLE_FIGURES_KEPT: std::time::Duration = std::time::Duration::from_secs(10);

impl<S> HttpState<S> {
    /// The default limits, with this upload size.
    pub fn new(store: Arc<S>, intake: Intake, max_upload_bytes: usize) -> Arc<HttpState<S>> {
        let defaults = HttpLimits::from_config(&crate::config::ServeConfig::default());
        HttpState::with_limits(store, intake, HttpLimits { max_upload_bytes, ..defaults })
    }

    pub fn with_limits(store: Arc<S>, intake: Intake, limits: HttpLimits) -> Arc<HttpState<S>> {
        let memory_kib = (limits.max_upload_memory_bytes.max(limits.max_upload_bytes) >> 10).min(tokio::sync::Semaphore::MAX_PERMITS);
        let parsers = limits.parsers.max(1);
        let parse_memory_kib = (limits.max_upload_memory_bytes.max(limits.max_upload_bytes).saturating_mul(8) >> 10)
            .clamp(1, u32::MAX as usize)
            .min(tokio::sync::Semaphore::MAX_PERMITS);
        Arc::new(HttpState {
            store,
            intake,
            limits,
            upload_memory: Arc::new(tokio::sync::Semaphore::new(memory_kib)),
            parsers: Arc::new(tokio::sync::Semaphore::new(parsers)),
            json_parsers: Arc::new(tokio::sync::Semaphore::new(parsers)),
            parse_memory: Arc::new(tokio::sync::Semaphore::new(parse_memory_kib)),
            parse_memory_kib,
            templates: crate::templates::environment(),
            session_key: auth::SessionKey::from_env(),
            logins: auth::LoginLimits::default(),
            login_hashes: tokio::sync::Semaphore::new(parsers),
            known_login_hashes: tokio::sync::Semaphore::new(1),
            console_figures: figures::SharedFigures::new(CONSOLE_FIGURES_FRESH, CONSOLE_FIGURES_KEPT),
        })
    }
}

pub fn router<S: Store + UserStore + ConsoleStore + JobStore>(state: Arc<HttpState<S>>) -> Router {
    let limit = state.limits.max_upload_bytes;
    Router::new()
        .merge(console::routes::<S>())
        .merge(public_appeals::routes::<S>())
        .route("/api/v1/submissions", post(submit::<S>))
        .route("/api/v1/submissions/{id}", get(receipt::<S>))
        .route("/upload", get(upload_page::<S>).post(upload_form::<S>))
        .route("/forms", get(blank_forms_page))
        .route("/forms/{kind}", get(blank_form))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz::<S>))
        .route("/metrics", get(metrics::<S>))
        .fallback(console::unknown_path::<S>)
        // The limit covers multipart overhead too; over it the answer is 413.
        .layer(DefaultBodyLimit::max(limit + 64 * 1024))
        .layer(axum::middleware::map_response(with_security_headers))
        .with_state(state)
}

/// What every answer says about how browsers may hold it: never cached (pages show one
/// viewer's data), never framed (no clickjacking of the review or contact forms), scripts and
/// everything else only from the hub itself (the pages have no inline script; their style is
/// one inline block), no sniffing of a download's type.
async fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        headers.entry(name).or_insert(header::HeaderValue::from_static(value));
    };
    set(headers, header::CACHE_CONTROL, "no-store");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; \
         frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
    response
}

/// `/healthz`: the process answers.
async fn healthz() -> &'static str {
    "ok\n"
}

/// `/readyz`: the store answers and every configured connector is connected; otherwise 503
/// naming what is not, so a load balancer sends nothing to a hub that cannot store or deliver.
async fn readyz<S: Store>(State(state): State<Arc<HttpState<S>>>) -> Response {
    let mut not_ready = Vec::new();
    if let Err(e) = state.store.units().await {
        // The database's own words stay in the log: this listener also faces the units.
        tracing::warn!(error = %e, "not ready: the store does not answer");
        not_ready.push(json!({ "what": "store", "problem": if e.is_full() { "disk full" } else { "not answering" } }));
    }
    for (name, why) in crate::metrics::get().connectors_down() {
        not_ready.push(json!({ "what": format!("connector {name}"), "problem": why }));
    }
    if not_ready.is_empty() {
        (StatusCode::OK, Json(json!({ "ready": true }))).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "ready": false, "not_ready": not_ready }))).into_response()
    }
}

/// `/metrics`: Prometheus (OpenMetrics) text, with the store's counts read now.
async fn metrics<S: Store>(State(state): State<Arc<HttpState<S>>>) -> Response {
    let now = crate::clock::now();
    let (states, backlog) = tokio::join!(state.store.obligation_states(now), state.store.outbox_backlog(now));
    let facts = match (states, backlog) {
        (Ok(states), Ok(backlog)) => Some(crate::metrics::StoreFacts {
            obligations_open: states.open,
            obligations_overdue: states.overdue,
            obligations_missed: states.missed,
            backlog,
        }),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "metrics scraped without the store's counts");
            None
        }
    };
    let text = crate::metrics::get().render(facts.as_ref());
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response()
}

/// Serves the router on a bound listener until `shutdown` resolves, then lets open requests
/// finish. At most `max_connections` at once (more are closed on arrival); a client that does
/// not send its headers within `header_timeout` is cut off (slow-loris); each request knows its
/// client address (the appeal page limits posts by it).
pub async fn serve<S: Store + UserStore + ConsoleStore + JobStore>(
    listener: tokio::net::TcpListener,
    state: Arc<HttpState<S>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_behind(listener, state, Vec::new(), shutdown).await
}

/// `serve`, behind these reverse proxies: a request from one of them is from the client its
/// `X-Forwarded-For` names (login and appeal limits count that client), and a proxy's
/// connections are not held to the limit per address, since it carries everyone's.
pub async fn serve_behind<S: Store + UserStore + ConsoleStore + JobStore>(
    listener: tokio::net::TcpListener,
    state: Arc<HttpState<S>>,
    trusted_proxies: Vec<ipnet::IpNet>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use tower::ServiceExt as _;
    let trusted_proxies: Arc<[ipnet::IpNet]> = trusted_proxies.into();
    let limits = state.limits.clone();
    let app = router(state);
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let per_address: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>> = Default::default();
    let mut last_refusal_logged: Option<std::time::Instant> = None;
    let refusals = Arc::new(tokio::sync::Semaphore::new(REFUSALS_AT_ONCE));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let from_proxy = is_trusted(peer.ip(), &trusted_proxies);
        let address_slot = from_proxy || {
            let mut open = per_address.lock().unwrap_or_else(|p| p.into_inner());
            let n = open.entry(peer.ip()).or_insert(0);
            (*n < limits.max_connections_per_address).then(|| *n += 1).is_some()
        };
        let permit = connections.clone().try_acquire_owned().ok();
        let (Some(permit), true) = (permit, address_slot) else {
            if address_slot && !from_proxy {
                release_address(&per_address, peer.ip());
            }
            // One line every ten seconds at most: a flood of refusals must not flood the log.
            if last_refusal_logged.is_none_or(|t| t.elapsed() > std::time::Duration::from_secs(10)) {
                last_refusal_logged = Some(std::time::Instant::now());
                tracing::warn!(%peer, limit = limits.max_connections, per_address = limits.max_connections_per_address, "connections refused on arrival: too many open");
            }
            // Answered 503 while few are being answered so, so a client sees why rather than a
            // reset; in a flood beyond that the connection is simply closed.
            if let Ok(slot) = refusals.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse_connection(stream).await;
                    drop(slot);
                });
            }
            continue;
        };
        let app = app.clone();
        let trusted = trusted_proxies.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            let client = if from_proxy { client_address(peer, req.headers(), &trusted) } else { peer };
            req.extensions_mut().insert(axum::extract::ConnectInfo(client));
            let app = app.clone();
            // The forms a person fills in (login, appeal) are a few KB: they get a short time.
            let within = if is_form_post(&req) { FORM_TIMEOUT.min(limits.body_timeout) } else { limits.body_timeout };
            async move {
                // A declared body over the upload limit is refused without being kept.
                if let Some(declared) = declared_length(req.headers()).filter(|&n| n > limits.max_upload_bytes + (64 << 10)) {
                    let from_console = req.uri().path().starts_with("/console/");
                    refuse_unread_body(req, declared, limits.body_timeout).await;
                    let refusal = too_large(limits.max_upload_bytes);
                    if from_console {
                        // A person at the console's upload page reads a page, not JSON.
                        let page = format!(
                            "<!doctype html><meta charset=\"utf-8\"><title>文件过大</title><p>{}。</p><p><a href=\"/console/upload\">返回上传页</a></p>",
                            refusal.message
                        );
                        return Ok((refusal.status, axum::response::Html(page)).into_response());
                    }
                    return Ok::<_, std::convert::Infallible>(refusal.into_response());
                }
                // Every request, body included, is done within the body timeout: a client that
                // sends its headers and then stalls gives its connection back. A handler that
                // panics answers 500 and leaves the connection, and the hub, as they were.
                let too_slow = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let body = at_least(MIN_BODY_BYTES_PER_SECOND, BODY_GRACE, too_slow.clone());
                let handled = std::panic::AssertUnwindSafe(app.oneshot(req.map(body)));
                let slow_answer = || {
                    problem(
                        StatusCode::REQUEST_TIMEOUT,
                        "too_slow",
                        &format!("请求内容传输过慢（每秒不足 {MIN_BODY_BYTES_PER_SECOND} 字节），请检查网络后重试"),
                    )
                    .into_response()
                };
                match tokio::time::timeout(within, futures_util::FutureExt::catch_unwind(handled)).await {
                    // Whatever the handler made of a body cut short for its slowness, the client
                    // is told that.
                    Ok(Ok(_)) if too_slow.load(std::sync::atomic::Ordering::Relaxed) => Ok(slow_answer()),
                    Ok(Ok(response)) => response,
                    Ok(Err(_)) => {
                        tracing::error!(%peer, "a request's handler panicked (the panic is logged above); answered 500");
                        Ok(problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", "服务器内部错误，已记录，请稍后重试").into_response())
                    }
                    Err(_) => {
                        Ok(problem(StatusCode::REQUEST_TIMEOUT, "too_slow", &format!("请求未在 {} 秒内完成，请重试", within.as_secs()))
                            .into_response())
                    }
                }
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            // Headers are a few KB from any real client; 64 KB and 100 of them bound what one
            // request can make the hub hold before it is routed (431 beyond).
            .max_buf_size(64 << 10)
            .max_headers(100)
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        let slot = AddressSlot { open: per_address.clone(), ip: (!from_proxy).then_some(peer.ip()), _permit: permit };
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    // Open requests get a while to finish; idle keep-alive connections close at once.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), graceful.shutdown()).await;
    Ok(())
}

/// How long a login or an appeal may take, body included.
const FORM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// After `BODY_GRACE`, a body must have come at this average rate at least: a client that
/// trickles a byte every few seconds gives its connection back instead of holding it for the
/// whole body timeout.
const MIN_BODY_BYTES_PER_SECOND: u64 = 1024;
const BODY_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
/// Connections over the limit answered 503 at once; more than these are closed unanswered.
const REFUSALS_AT_ONCE: usize = 64;

/// A POST of one of the forms people fill in: the login and the public appeal page.
fn is_form_post<B>(req: &hyper::Request<B>) -> bool {
    req.method() == hyper::Method::POST && matches!(req.uri().path(), "/login" | "/appeal")
        || req.uri().path().starts_with("/appeal/confirm/")
}

/// The request's body, failing (and setting `too_slow`) once it has fallen below `per_second`
/// on average after `grace`: each frame is awaited only until the instant the bytes so far
/// would fall short.
fn at_least(
    per_second: u64,
    grace: std::time::Duration,
    too_slow: Arc<std::sync::atomic::AtomicBool>,
) -> impl FnOnce(hyper::body::Incoming) -> axum::body::Body {
    move |body| {
        let start = tokio::time::Instant::now();
        let frames = futures_util::stream::unfold(Some((body, 0u64)), move |state| {
            let too_slow = too_slow.clone();
            async move {
                let (mut body, read) = state?;
                let deadline = start + grace + std::time::Duration::from_secs_f64(read as f64 / per_second as f64);
                let next = std::future::poll_fn(|cx| hyper::body::Body::poll_frame(std::pin::Pin::new(&mut body), cx));
                match tokio::time::timeout_at(deadline, next).await {
                    Err(_) => {
                        too_slow.store(true, std::sync::atomic::Ordering::Relaxed);
                        Some((Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "body slower than the minimum rate")), None))
                    }
                    Ok(None) => None,
                    Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e)), None)),
                    Ok(Some(Ok(frame))) => {
                        let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                        Some((Ok(frame), Some((body, read + n))))
                    }
                }
            }
        });
        axum::body::Body::new(StreamBody(Box::pin(frames)))
    }
}

/// A body made of a stream of frames (what `http_body_util::StreamBody` does, without the crate).
struct StreamBody(
    std::pin::Pin<Box<dyn futures_core::Stream<Item = Result<hyper::body::Frame<axum::body::Bytes>, std::io::Error>> + Send>>,
);

impl hyper::body::Body for StreamBody {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<axum::body::Bytes>, std::io::Error>>> {
        self.0.as_mut().poll_next(cx)
    }
}

/// Answers a connection over the limit with 503 and closes it: its request is read first (a
/// little, briefly), so the client is not reset while still sending.
async fn refuse_connection(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let body = r#"{"type":"about:blank","title":"busy","status":503,"detail":"服务器连接已满，请稍后重试"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nRetry-After: 5\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut head = [0u8; 8192];
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), stream.read(&mut head)).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// A connection's place among those open, its address's included: given back when dropped,
/// however the connection ends.
struct AddressSlot {
    open: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
    /// None for a trusted proxy, whose connections are not counted per address.
    ip: Option<std::net::IpAddr>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if let Some(ip) = self.ip {
            release_address(&self.open, ip);
        }
    }
}

fn is_trusted(ip: std::net::IpAddr, trusted: &[ipnet::IpNet]) -> bool {
    // An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d.
    let ip = match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
        v4 => v4,
    };
    trusted.iter().any(|net| net.contains(&ip))
}

/// The client behind a trusted proxy: the nearest address of `X-Forwarded-For` (read from the
/// right, as each proxy appends the address it saw) that is not a trusted proxy itself. What
/// a client writes into the header itself sits further left and is never reached unless every
/// hop after it is trusted. Without a usable header, the proxy's own address.
fn client_address(peer: std::net::SocketAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> std::net::SocketAddr {
    let hops: Vec<&str> =
        headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim).collect();
    let mut client = peer.ip();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<std::net::IpAddr>() else { break };
        client = ip;
        if !is_trusted(ip, trusted) {
            break;
        }
    }
    std::net::SocketAddr::new(client, 0)
}

fn release_address(open: &std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>, ip: std::net::IpAddr) {
    let mut open = open.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(n) = open.get_mut(&ip) {
        *n -= 1;
        if *n == 0 {
            open.remove(&ip);
        }
    }
}

/// The most of a refused body read (and dropped) so that its sender sees the answer.
const DRAINED_AT_MOST: usize = 64 << 20;

/// Reads and drops the body of a request about to be refused, unless its client waits for a
/// go-ahead (`Expect: 100-continue`) or declares more than `DRAINED_AT_MOST`. A client still
/// sending when the connection closes with its bytes unread gets a TCP reset, and a browser
/// then shows "connection reset" instead of the 413 page that says what the limit is.
async fn refuse_unread_body(req: hyper::Request<hyper::body::Incoming>, declared: usize, within: std::time::Duration) {
    let waits = req.headers().get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if waits || declared > DRAINED_AT_MOST {
        return;
    }
    let mut body = axum::body::Body::new(req.into_body()).into_data_stream();
    let _ = tokio::time::timeout(within, async {
        let mut read = 0;
        while let Some(Ok(chunk)) = futures_util::StreamExt::next(&mut body).await {
            read += chunk.len();
            if read > DRAINED_AT_MOST {
                break;
            }
        }
    })
    .await;
}

/// The body length a request declares (`Content-Length`), if it declares one it can mean.
fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// 413 naming the limit, in Chinese.
fn too_large(limit: usize) -> Problem {
    let shown = if limit >= 1 << 20 { format!("{} MB", limit >> 20) } else { format!("{} KB", limit.div_ceil(1024)) };
    problem(StatusCode::PAYLOAD_TOO_LARGE, "too_large", &format!("文件超过 {shown} 的上传限制"))
}

/// Holds upload memory for a request, by its declared length (the upload limit when it
/// declares none), before its body is read; `Err` is the 503 to answer instead.
fn hold_upload_memory<S>(state: &HttpState<S>, headers: &HeaderMap) -> Result<tokio::sync::OwnedSemaphorePermit, Problem> {
    let limit = state.limits.max_upload_bytes;
    let bytes = declared_length(headers).unwrap_or(limit).min(limit + (64 << 10));
    let kib = u32::try_from((bytes >> 10).max(1)).unwrap_or(u32::MAX);
    state.upload_memory.clone().try_acquire_many_owned(kib).map_err(|_| {
        let mut p = problem(StatusCode::SERVICE_UNAVAILABLE, "busy", "服务器正在处理其他上传，请稍后重试");
        p.retry_after = Some(30);
        p
    })
}

/// What a body is read as: a spreadsheet (of so many bytes) waits for a spreadsheet slot and
/// for the memory its reading takes, JSON for a JSON slot, so a slow or large workbook never
/// delays a unit's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParseKind {
    Spreadsheet(usize),
    Json,
}

/// Memory a spreadsheet's reading takes per byte of the file, at most: a CSV's cells become
/// strings, rows and a report each (a 51 MB CSV of 700,000 rows peaked near 1.9 GB).
const PARSE_BYTES_PER_FILE_BYTE: usize = 40;

/// Runs a parse on a blocking thread, at most `parsers` of its kind at once.
async fn parse_aside<S, T: Send + 'static>(
    state: &HttpState<S>,
    kind: ParseKind,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Problem> {
    let stopping = |_| problem(StatusCode::SERVICE_UNAVAILABLE, "stopping", "服务正在停止");
    let slots = match kind {
        ParseKind::Spreadsheet(_) => &state.parsers,
        ParseKind::Json => &state.json_parsers,
    };
    // The reading's memory first, in KiB, so that two large files are read one after the
    // other rather than together (one alone may take the whole budget).
    let _memory = match kind {
        ParseKind::Spreadsheet(bytes) => {
            let budget = state.parse_memory_kib;
            let kib = u32::try_from((bytes.saturating_mul(PARSE_BYTES_PER_FILE_BYTE) >> 10).clamp(1, budget)).unwrap_or(u32::MAX);
            Some(state.parse_memory.clone().acquire_many_owned(kib).await.map_err(stopping)?)
        }
        ParseKind::Json => None,
    };
    let _slot = slots.clone().acquire_owned().await.map_err(stopping)?;
    tokio::task::spawn_blocking(work).await.map_err(|e| problem(StatusCode::INTERNAL_SERVER_ERROR, "parse_failed", &e.to_string()))
}

/// The blank forms, one link a kind: where every refusal of an unrecognised sheet points.
async fn blank_forms_page() -> Html<String> {
    let links: String =
        forms::spec::all().iter().map(|f| format!("<li><a href=\"/forms/{}.xlsx\">{}.xlsx</a></li>", f.kind.code(), f.title)).collect();
    Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>空白报送表</title></head><body>\
         <h1>空白报送表</h1><p>请下载所需报送表，按列名填写后通过邮件或<a href=\"/upload\">上传页面</a>报送。</p><ul>{links}</ul></body></html>"
    ))
}

/// One blank form as an xlsx download: `/forms/event.xlsx`.
async fn blank_form(Path(kind): Path<String>) -> Response {
    let code = kind.strip_suffix(".xlsx").unwrap_or(&kind);
    let Some(form) = crate::model::ReportKind::parse(code).and_then(|k| forms::spec::all().into_iter().find(|f| f.kind == k)) else {
        return problem(StatusCode::NOT_FOUND, "unknown_form", "没有这种报送表").into_response();
    };
    match forms::write::blank(&form) {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"{}.xlsx\"; filename*=UTF-8''{}",
                        form.kind.code(),
                        utf8_percent(&format!("{}.xlsx", form.title))
                    ),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, "form_unavailable", &e.to_string()).into_response(),
    }
}

/// RFC 5987 percent-encoding of a file name.
fn utf8_percent(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// A new upload token: 256 random bits, shown once; the store keeps its SHA-256.
pub fn new_token() -> String {
    format!("tb_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Why a request was refused: the API answers it as JSON, the upload page shows the message.
struct Problem {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Seconds, for a 503 that will pass.
    retry_after: Option<u32>,
}

/// The store did not answer: the sender is told to try again; the database's own words go to
/// the log, not to a client of this listener.
fn store_unavailable(e: &crate::store::StoreError) -> Problem {
    tracing::warn!(error = %e, "store unavailable for a request");
    problem(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "存储暂时不可用，请稍后重试")
}

fn problem(status: StatusCode, code: &'static str, message: &str) -> Problem {
    Problem { status, code, message: message.to_string(), retry_after: None }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(json!({ "error": self.code, "message": self.message }))).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(s));
        }
        r
    }
}

async fn unit_of<S: Store>(state: &HttpState<S>, token: Option<&str>) -> Result<UnitCode, Problem> {
    let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
        return Err(problem(StatusCode::UNAUTHORIZED, "missing_token", "缺少报送令牌（Authorization: Bearer …）"));
    };
    match state.store.unit_for_token(&sha256_hex(token.as_bytes())).await {
        Ok(Some(unit)) => Ok(unit),
        Ok(None) => Err(problem(StatusCode::UNAUTHORIZED, "bad_token", "报送令牌无效或已吊销")),
        Err(e) => Err(store_unavailable(&e)),
    }
}

/// The token of `Authorization: Bearer …`; the scheme is case-insensitive (RFC 7235 §2.1).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let (scheme, token) = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Submits the bytes as the unit and returns the receipt with its status: 201 accepted or
/// partly accepted, 200 a repeat of an earlier identical upload, 400 refused.
async fn ingest<S: Store>(state: &HttpState<S>, unit: UnitCode, bytes: Vec<u8>, file_name: &str) -> Result<(StatusCode, Receipt), Problem> {
    let mut sub = Submission::by_content(Channel::Upload, Sender::Unit(unit), bytes, crate::clock::now());
    sub.external_id = Some(file_name.to_string());
    let limits = forms::Limits { max_file_bytes: state.limits.max_upload_bytes, ..Default::default() };
    let name = file_name.to_string();
    let kind = if forms::is_spreadsheet(&sub.raw, &name) { ParseKind::Spreadsheet(sub.raw.len()) } else { ParseKind::Json };
    let parsed = parse_aside(state, kind, move || {
        if kind != ParseKind::Json {
            let (items, notes) = forms::parse_with_notes(&sub.raw, &name, sub.received_at, &limits);
            Parsed { notes, ..Parsed::new(sub, items) }
        } else {
            let items = crate::intake::json::parse_submission(&sub.raw, sub.received_at);
            Parsed::new(sub, items)
        }
    })
    .await?;
    let result = state.intake.submit_parsed(parsed).await;
    match result {
        Ok(r) => {
            let status = match (r.duplicate, r.outcome) {
                (true, _) => StatusCode::OK,
                (false, Outcome::Rejected) => StatusCode::BAD_REQUEST,
                (false, _) => StatusCode::CREATED,
            };
            Ok((status, r))
        }
        Err(crate::intake::IntakeFailure::NotStored(e)) if e.is_full() => {
            Err(problem(StatusCode::SERVICE_UNAVAILABLE, "store_full", "存储空间已满，暂时无法保存，请稍后重试"))
        }
        Err(e) => {
            tracing::warn!(error = %e, "submission not stored; the sender is told to try again");
            Err(problem(StatusCode::SERVICE_UNAVAILABLE, "not_stored", "暂时无法保存，请稍后重试"))
        }
    }
}

/// A body or multipart error in the house format: 413 names the limit, the rest say what was
/// wrong with the request, in Chinese.
fn body_problem<S>(state: &HttpState<S>, status: StatusCode, detail: &str) -> Problem {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(state.limits.max_upload_bytes);
    }
    problem(status, "bad_upload", &format!("请求体无法读取：应为 JSON 或 multipart/form-data（含 file 字段）的上传（{detail}）"))
}

/// Reads the upload: a multipart `file` field (plus optional `unit`), or a JSON body. With
/// `token_first` (the upload page), a `token` field sent before the file is checked before the
/// file is read, so a wrong token costs no upload.
/// An upload as it arrived: the file and the form fields beside it.
struct Upload {
    bytes: Vec<u8>,
    name: String,
    /// The unit the form claims (`unit`), checked against the token's.
    unit: Option<String>,
    token: Option<String>,
    /// The console's CSRF token (`csrf`).
    csrf: Option<String>,
}

async fn read_upload<S: Store>(state: &HttpState<S>, req: Request, token_first: bool) -> Result<Upload, Problem> {
    let is_multipart =
        req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("multipart/form-data"));
    // How long the body may take is bounded for every request by `serve` (the body timeout).
    if !is_multipart {
        let bytes = Bytes::from_request(req, &()).await.map_err(|e| body_problem(state, e.status(), &e.body_text()))?;
        return Ok(Upload { bytes: bytes.to_vec(), name: "body.json".into(), unit: None, token: None, csrf: None });
    }
    let mut mp = Multipart::from_request(req, &()).await.map_err(|e| body_problem(state, e.status(), &e.body_text()))?;
    let (mut file, mut name, mut unit, mut token, mut csrf) = (None, String::from("upload"), None, None, None);
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(body_problem(state, e.status(), &e.body_text())),
        };
        match field.name() {
            Some("file") => {
                // Only the last path component, and only for display: never used as a path.
                name = field.file_name().map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).to_string()).unwrap_or(name);
                let data = field.bytes().await.map_err(|e| body_problem(state, e.status(), &e.body_text()))?;
                if data.len() > state.limits.max_upload_bytes {
                    return Err(body_problem(state, StatusCode::PAYLOAD_TOO_LARGE, ""));
                }
                file = Some(data.to_vec());
            }
            Some("unit") => unit = field.text().await.ok(),
            Some("csrf") => csrf = field.text().await.ok(),
            Some("token") => {
                token = field.text().await.ok();
                if token_first && file.is_none() {
                    unit_of(state, token.as_deref()).await?;
                }
            }
            _ => {}
        }
    }
    let file = file.ok_or_else(|| problem(StatusCode::BAD_REQUEST, "missing_file", "缺少 file 字段（报送文件）"))?;
    Ok(Upload { bytes: file, name, unit, token, csrf })
}

async fn submit<S: Store>(State(state): State<Arc<HttpState<S>>>, req: Request) -> Result<Response, Problem> {
    let token = bearer(req.headers()).map(str::to_string);
    let claimed_header = req.headers().get("x-tongbao-unit").and_then(|v| v.to_str().ok()).map(str::to_string);
    let unit = unit_of(&state, token.as_deref()).await?;
    let _memory = hold_upload_memory(&state, req.headers())?;
    let Upload { bytes, name, unit: claimed_field, .. } = read_upload(&state, req, false).await?;
    if let Some(claimed) = claimed_header.or(claimed_field)
        && claimed.parse::<UnitCode>().ok().as_ref() != Some(&unit)
    {
        return Err(problem(StatusCode::FORBIDDEN, "foreign_unit", "令牌所属单位只能以本单位名义报送"));
    }
    let (status, receipt) = ingest(&state, unit, bytes, &name).await?;
    Ok((status, Json(receipt)).into_response())
}

async fn receipt<S: Store>(
    State(state): State<Arc<HttpState<S>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let unit = unit_of(&state, bearer(&headers)).await?;
    let not_found = || problem(StatusCode::NOT_FOUND, "not_found", "没有这个报送编号");
    let id = id.parse::<SubmissionId>().map_err(|_| not_found())?;
    // Another unit's submission answers exactly like a missing one: nothing leaks.
    match state.store.receipt(id, Some(&unit)).await {
        Ok(Some(r)) => Ok(Json(r).into_response()),
        Ok(None) => Err(not_found()),
        Err(e) => Err(store_unavailable(&e)),
    }
}

fn render<S>(state: &HttpState<S>, name: &str, ctx: serde_json::Value) -> Response {
    match state.templates.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

async fn upload_page<S: Store>(State(state): State<Arc<HttpState<S>>>) -> Response {
    render(&state, "upload.html", json!({ "max_mb": state.limits.max_upload_bytes >> 20 }))
}

/// The page's form posts the token as a field (a plain HTML form cannot set headers); a
/// refusal is shown on the same page, with the status the API would give.
async fn upload_form<S: Store>(State(state): State<Arc<HttpState<S>>>, req: Request) -> Response {
    match upload_receipt_page(&state, req).await {
        Ok(page) => page,
        Err(p) => {
            let mut page = render(&state, "upload_receipt.html", json!({ "problem": p.message }));
            *page.status_mut() = p.status;
            page
        }
    }
}

async fn upload_receipt_page<S: Store>(state: &HttpState<S>, req: Request) -> Result<Response, Problem> {
    let _memory = hold_upload_memory(state, req.headers())?;
    let Upload { bytes, name, token, .. } = read_upload(state, req, true).await?;
    let unit = unit_of(state, token.as_deref()).await?;
    let (status, receipt) = ingest(state, unit, bytes, &name).await?;
    let mut page = render(
        state,
        "upload_receipt.html",
        json!({ "receipt": receipt_view(&receipt), "file": name, "outcome": receipt.outcome.label_zh(), "problem": null }),
    );
    *page.status_mut() = status;
    Ok(page)
}

/// A receipt as the upload pages show it: kinds, grades, duties and states in Chinese, deadlines
/// in Beijing time.
fn receipt_view(receipt: &Receipt) -> serde_json::Value {
    let mut view = serde_json::to_value(receipt).unwrap_or_default();
    // People read deadlines in Beijing time, as "2026-10-08 24:00".
    for (r, report) in receipt.reports.iter().zip(view["reports"].as_array_mut().into_iter().flatten()) {
        for (o, shown) in r.obligations.iter().zip(report["obligations"].as_array_mut().into_iter().flatten()) {
            shown["due_at"] = json!(crate::rules::calendar::local_display(o.due_at));
            shown["duty"] = json!(o.duty.label_zh());
            shown["status"] = json!(o.status.label_zh());
        }
        report["kind"] = json!(r.kind.label_zh());
        // Templates are strict about undefined names: absent optional fields are shown as null.
        report["grade_note"] = json!(r.grade_note);
        report["grade"] = json!(r.grade.map(|g| g.label_zh().to_string()).or(r.level.map(|l| l.label_zh().to_string())));
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_behind_a_trusted_proxy_is_the_nearest_untrusted_hop() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1/32".parse().unwrap()];
        let proxy: std::net::SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let ip = |h: &[&str]| client_address(proxy, &forwarded(h), &trusted).ip().to_string();
        assert_eq!(ip(&["203.0.113.9"]), "203.0.113.9");
        assert_eq!(ip(&["203.0.113.9, 10.1.2.3"]), "203.0.113.9", "through two proxies of ours");
        // A client that writes its own header gets its own address counted, not the one it wrote.
        assert_eq!(ip(&["198.51.100.1, 203.0.113.9"]), "203.0.113.9");
        assert_eq!(ip(&["198.51.100.1", "203.0.113.9"]), "203.0.113.9", "several header lines read as one list");
        assert_eq!(ip(&[]), "127.0.0.1", "no header: the proxy itself");
        assert_eq!(ip(&["not an address"]), "127.0.0.1");
        assert!(is_trusted("::ffff:10.0.0.7".parse().unwrap(), &trusted), "an IPv4 peer on a dual-stack socket");
        assert!(!is_trusted("203.0.113.9".parse().unwrap(), &trusted));
    }
}
