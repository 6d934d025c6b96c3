//! The web console: login, logout and sessions, and the dashboard page with its JSON under `/api/v1/`, each scoped to what the viewer's role may see.
//!
//! A page without a session sends the browser to `/login`; an API call without a session or a
//! unit's bearer token gets 401. Every form carries the session's CSRF token, and a post
//! without it is refused (403) before anything is done.

use super::auth::{self, COOKIE, SESSION_HOURS};
use super::{HttpState, render};
use crate::model::time::{local_zh, start_of_day};
use crate::model::{Obligation, ObligationStatus, Role, UserName};
use crate::store::console::{Due, ReportQuery, Scope};
use crate::store::{ConsoleStore, JobStore, Store, UserStore};
use crate::store::{ObligationFilter, OutboxFilter, StoredReport};
use axum::extract::{ConnectInfo, Form, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::sync::Arc;

/// A login form's largest body: a name and a password, with room to spare.
const LOGIN_MAX_BYTES: usize = 8 * 1024;

/// Obligations listed per section of the dashboard; the counts cover all.
const LISTED: u32 = 50;

pub(super) fn routes<S: Store + UserStore + ConsoleStore + JobStore>() -> Router<Arc<HttpState<S>>> {
    Router::new()
        .route("/login", get(login_page::<S>).post(login::<S>).layer(axum::extract::DefaultBodyLimit::max(LOGIN_MAX_BYTES)))
        .route("/logout", post(logout::<S>))
        .route("/console", get(dashboard_page::<S>))
        .route("/api/v1/dashboard", get(dashboard_json::<S>))
        .route("/console/reports", get(reports_page::<S>))
        .route("/api/v1/reports", get(reports_json::<S>))
        .route("/console/reports/{id}", get(timeline_page::<S>))
        .route("/api/v1/reports/{id}", get(timeline_json::<S>))
        .route("/console/reports/{id}/raw", get(raw_file::<S>))
        .route("/console/obligations", get(board_page::<S>))
        .route("/api/v1/obligations", get(board_json::<S>))
        .route("/console/upload", get(upload_page::<S>).post(upload_preview::<S>))
        .route("/console/upload/{draft}/confirm", post(upload_confirm::<S>))
        .route("/console/upload/receipts/{id}", get(upload_receipt::<S>))
        .route("/console/units", get(units_page::<S>))
        .route("/api/v1/units", get(units_json::<S>))
        .route("/console/units/{code}", get(unit_page::<S>).post(unit_save::<S>))
        .route("/console/botnets", get(botnets_page::<S>))
        .route("/api/v1/botnets", get(botnets_json::<S>))
        .route("/console/review", get(review_list_page::<S>))
        .route("/api/v1/reviews", get(review_list_json::<S>))
        .route("/console/review/{report}", get(review_page::<S>).post(review_decide::<S>))
        .route("/console/digest", get(digest_page::<S>))
        .route("/api/v1/digest", get(digest_json::<S>))
        .route("/console/digest/{month}/chart.png", get(digest_chart::<S>))
        .route("/console/digest/{month}/workbook.xlsx", get(digest_workbook::<S>))
}

/// Who is asking: a console user by session, or a unit by its upload token (API only).
pub(super) struct Viewer {
    pub name: String,
    pub role: Role,
    /// The CSRF token of the viewer's session; none for a bearer token, which forms never carry.
    pub csrf: Option<String>,
    /// What the role may see, a group company's subsidiaries included.
    scope: Scope,
}

impl Viewer {
    fn scope(&self) -> Scope {
        self.scope.clone()
    }
}

/// A viewer of `role`, its scope read from the register (a group company's reaches the units
/// that name it as their group).
async fn viewer_of<S: Store>(
    state: &HttpState<S>,
    name: String,
    role: Role,
    csrf: Option<String>,
) -> Result<Viewer, crate::store::StoreError> {
    let scope = match &role {
        Role::Unit(_) => Scope::of(&role, &state.store.units().await?),
        _ => Scope::of(&role, &[]),
    };
    Ok(Viewer { name, role, csrf, scope })
}

/// The session cookie's value, if the request carries one.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
}

/// Why nobody could be identified: no session, or the store did not answer.
pub(super) enum NoViewer {
    Anonymous,
    Unavailable,
}

/// The viewer of a request: its session's user, else (when `tokens`) the unit of its bearer token.
pub(super) async fn viewer<S: Store + UserStore>(state: &HttpState<S>, headers: &HeaderMap, tokens: bool) -> Result<Viewer, NoViewer> {
    if let Some(hash) = session_cookie(headers).and_then(|c| state.session_key.open(c)) {
        match state.store.session_user(&hash, crate::clock::now()).await {
            Ok(Some(user)) => {
                return viewer_of(state, user.name.to_string(), user.role, Some(state.session_key.csrf(&hash))).await.map_err(|e| {
                    tracing::warn!(error = %e, "store unavailable for a viewer's scope");
                    NoViewer::Unavailable
                });
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "store unavailable for a session");
                return Err(NoViewer::Unavailable);
            }
        }
    }
    if tokens && let Some(token) = super::bearer(headers) {
        return match super::unit_of(state, Some(token)).await {
            Ok(unit) => viewer_of(state, unit.to_string(), Role::Unit(unit), None).await.map_err(|e| {
                tracing::warn!(error = %e, "store unavailable for a viewer's scope");
                NoViewer::Unavailable
            }),
            Err(p) if p.status == StatusCode::SERVICE_UNAVAILABLE => Err(NoViewer::Unavailable),
            Err(_) => Err(NoViewer::Anonymous),
        };
    }
    Err(NoViewer::Anonymous)
}

/// The viewer of a page: a console session, or the browser is sent to the login page.
pub(super) struct PageViewer(Viewer);

/// The viewer of an API call: a console session or a unit's bearer token, or 401.
pub(super) struct ApiViewer(Viewer);

impl<S: Store + UserStore + Send + Sync + 'static> FromRequestParts<Arc<HttpState<S>>> for PageViewer {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &Arc<HttpState<S>>) -> Result<Self, Response> {
        page_viewer(state, &parts.headers).await.map(PageViewer)
    }
}

impl<S: Store + UserStore + Send + Sync + 'static> FromRequestParts<Arc<HttpState<S>>> for ApiViewer {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &Arc<HttpState<S>>) -> Result<Self, Response> {
        api_viewer(state, &parts.headers).await.map(ApiViewer)
    }
}

/// A page's viewer, or where the browser goes instead.
async fn page_viewer<S: Store + UserStore>(state: &HttpState<S>, headers: &HeaderMap) -> Result<Viewer, Response> {
    match viewer(state, headers, false).await {
        Ok(v) => Ok(v),
        Err(NoViewer::Anonymous) => Err(Redirect::to("/login").into_response()),
        Err(NoViewer::Unavailable) => Err(unavailable_page(state)),
    }
}

/// An API call's viewer, or its 401/503 answer.
async fn api_viewer<S: Store + UserStore>(state: &HttpState<S>, headers: &HeaderMap) -> Result<Viewer, Response> {
    match viewer(state, headers, true).await {
        Ok(v) => Ok(v),
        Err(NoViewer::Anonymous) => {
            Err(super::problem(StatusCode::UNAUTHORIZED, "not_logged_in", "请先登录，或使用报送令牌").into_response())
        }
        Err(NoViewer::Unavailable) => {
            Err(super::problem(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "存储暂时不可用，请稍后重试").into_response())
        }
    }
}

fn unavailable_page<S>(state: &HttpState<S>) -> Response {
    let mut page = render(state, "console/login.html", json!({ "error": "存储暂时不可用，请稍后重试", "name": "" }));
    *page.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    page
}

async fn login_page<S: Store + UserStore>(State(state): State<Arc<HttpState<S>>>, headers: HeaderMap) -> Response {
    if viewer(&state, &headers, false).await.is_ok() {
        return Redirect::to("/console").into_response();
    }
    render(&state, "console/login.html", json!({ "error": null, "name": "" }))
}

#[derive(serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// Checks the password (on a blocking thread: argon2 takes tens of milliseconds on purpose);
/// a wrong name and a wrong password get the same answer after the same work.
async fn login<S: Store + UserStore>(
    State(state): State<Arc<HttpState<S>>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => {
            // Said on the login page, in Chinese, like every other refusal here.
            let (status, error) = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                (StatusCode::PAYLOAD_TOO_LARGE, format!("登录表单超过 {} KB，请只填写用户名和密码", LOGIN_MAX_BYTES >> 10))
            } else {
                (StatusCode::BAD_REQUEST, "登录表单无法读取：请通过本页面的表单提交用户名和密码".to_string())
            };
            let mut page = render(&state, "console/login.html", json!({ "error": error, "name": "" }));
            *page.status_mut() = status;
            return page;
        }
    };
    // The login form carries no session to bind a CSRF token to: a post another site's page
    // made (which would log the victim in as the attacker) is told apart by what the browser
    // says of it.
    if cross_site(&headers) {
        return (StatusCode::FORBIDDEN, "拒绝来自其他网站的登录请求：请直接打开本系统的登录页登录").into_response();
    }
    let refuse = |status: StatusCode, error: &str| {
        let mut page =
            render(&state, "console/login.html", json!({ "error": error, "name": form.name.chars().take(64).collect::<String>() }));
        *page.status_mut() = status;
        page
    };
    if !state.logins.allow(form.name.trim(), peer.ip()) {
        let mut page = refuse(StatusCode::TOO_MANY_REQUESTS, "登录尝试过多，请一分钟后再试");
        page.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return page;
    }
    let user = match form.name.trim().parse::<UserName>() {
        Ok(name) => match state.store.user(&name).await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "store unavailable for a login");
                return refuse(StatusCode::SERVICE_UNAVAILABLE, "存储暂时不可用，请稍后重试");
            }
        },
        Err(_) => None,
    };
    let hash = user.as_ref().map_or_else(|| auth::decoy_hash().to_string(), |u| u.password_hash.clone());
    let password = form.password.clone();
    // A few hashes at a time: each takes 19 MiB and tens of milliseconds of a core.
    let Ok(_slot) = state.login_hashes.acquire().await else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "服务正在停止");
    };
    let matches = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash)).await.unwrap_or(false);
    let Some(user) = user.filter(|_| matches) else {
        tracing::info!(user = %form.name.chars().take(64).collect::<String>(), address = %peer.ip(), "console login refused");
        return refuse(StatusCode::UNAUTHORIZED, "用户名或密码不正确");
    };
    let (cookie, id_hash) = state.session_key.new_session();
    let now = crate::clock::now();
    if let Err(e) = state.store.open_session(&id_hash, &user.name, now, now + chrono::Duration::hours(SESSION_HOURS)).await {
        tracing::warn!(error = %e, "store unavailable for a login");
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "存储暂时不可用，请稍后重试");
    }
    tracing::info!(user = %user.name, role = %user.role, address = %peer.ip(), "console login");
    let mut r = Redirect::to("/console").into_response();
    let set = format!("{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}", SESSION_HOURS * 3600, secure(&headers));
    r.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&set).expect("the cookie is ASCII"));
    r
}

/// Whether the browser says the request came from another site (`Sec-Fetch-Site`), or its
/// `Origin` names another host than the one it was sent to.
fn cross_site(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if text("sec-fetch-site") == Some("cross-site") {
        return true;
    }
    match (text("origin"), text("host")) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, h)| h) != Some(host),
        _ => false,
    }
}

/// `; Secure` unless the console is reached on a loopback address (where the hub itself speaks
/// plain HTTP): behind the TLS proxy the cookie never travels in the clear.
fn secure(headers: &HeaderMap) -> &'static str {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let name = host.rsplit_once(':').filter(|(h, port)| !h.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h);
    let loopback = name == "localhost" || name.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback { "" } else { "; Secure" }
}

#[derive(serde::Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Ends the session (only with the session's CSRF token, so no other site can log anyone out).
async fn logout<S: Store + UserStore>(
    State(state): State<Arc<HttpState<S>>>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    // A post that is no form carries no token: refused like one without it.
    let token = form.map(|Form(f)| f.csrf).unwrap_or_default();
    let Some(hash) = session_cookie(&headers).and_then(|c| state.session_key.open(c)) else {
        return Redirect::to("/login").into_response();
    };
    if !state.session_key.csrf_ok(&hash, &token) {
        return (StatusCode::FORBIDDEN, "CSRF token missing or wrong").into_response();
    }
    if let Err(e) = state.store.close_session(&hash, crate::clock::now()).await {
        tracing::warn!(error = %e, "store unavailable for a logout");
        return unavailable_page(&state);
    }
    let mut r = Redirect::to("/login").into_response();
    let clear = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}", secure(&headers));
    r.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&clear).expect("ASCII"));
    r
}

/// One obligation as the console lists it.
fn obligation_view(o: &Obligation, now: DateTime<Utc>) -> serde_json::Value {
    let due = o.deadline.due_at;
    json!({
        "id": o.id.to_string(),
        "report_id": o.report_id.map(|r| r.to_string()),
        "duty": o.duty.label_zh(),
        "actor": o.actor.to_string(),
        "actor_zh": o.actor.label_zh(),
        "due_at": due,
        "due_local": local_zh(due),
        "provisional": o.deadline.provisional,
        "basis": o.basis.citation_zh,
        "rule": o.deadline.rule.describe_zh(),
        "status": o.status.code(),
        "status_zh": if o.status == ObligationStatus::Open && due <= now { "已逾期" } else { o.status.label_zh() },
    })
}

/// The dashboard's facts for a viewer: today's reports, what is due in 24 hours, what is
/// overdue, and (for CNCERT and CSB) the outbox backlog.
async fn dashboard<S: Store + ConsoleStore>(
    state: &Arc<HttpState<S>>,
    viewer: &Viewer,
) -> Result<serde_json::Value, crate::store::StoreError> {
    let scope = viewer.scope();
    let sees_all = viewer.role.sees_all();
    let key = format!("dashboard:{scope:?}:{sees_all}");
    let shared = state.clone();
    let compute = move || async move { dashboard_figures(&shared, &scope, sees_all).await };
    let figures = state.console_figures.get(key, compute).await.map_err(crate::store::StoreError::Shared)?;
    let mut d = (*figures).clone();
    d["viewer"] = viewer_view(viewer);
    Ok(d)
}

/// The dashboard's figures for one scope, the same for every viewer of it.
async fn dashboard_figures<S: Store + ConsoleStore>(
    state: &HttpState<S>,
    scope: &Scope,
    sees_all: bool,
) -> Result<serde_json::Value, crate::store::StoreError> {
    let now = crate::clock::now();
    let scope = scope.clone();
    let today = state.store.report_tally(&scope, start_of_day(now)).await?;
    let soon = state.store.due_obligations(&scope, &Scope::All, Due::Between(now, now + chrono::Duration::hours(24)), LISTED).await?;
    let overdue = state.store.due_obligations(&scope, &Scope::All, Due::Overdue(now), LISTED).await?;
    let backlog = if sees_all { state.store.outbox_backlog(now).await? } else { Vec::new() };
    let awaiting_review = if sees_all { Some(state.store.awaiting_notices().await?) } else { None };
    let tally: Vec<_> = today
        .iter()
        .map(|t| {
            let kind = crate::model::ReportKind::parse(&t.kind).map_or("其他", |k| k.label_zh());
            let grade = match t.grade.as_deref() {
                Some(g) if g.starts_with("level-") => {
                    let level = g.trim_start_matches("level-").parse().ok().and_then(crate::model::WarningLevel::from_number);
                    level.map_or(g.to_string(), |l| l.label_zh().to_string())
                }
                Some(g) => g.parse::<crate::model::Grade>().map_or(g.to_string(), |g| g.label_zh().to_string()),
                None => "—".to_string(),
            };
            json!({ "kind": t.kind, "kind_zh": kind, "grade": t.grade, "grade_zh": grade, "count": t.count })
        })
        .collect();
    Ok(json!({
        "as_of": now,
        "as_of_local": local_zh(now),
        "today": { "since": start_of_day(now), "total": today.iter().map(|t| t.count).sum::<i64>(), "by_kind_and_grade": tally },
        "due_soon": { "total": soon.total, "items": soon.items.iter().map(|o| obligation_view(o, now)).collect::<Vec<_>>() },
        "overdue": { "total": overdue.total, "items": overdue.items.iter().map(|o| obligation_view(o, now)).collect::<Vec<_>>() },
        "outbox_backlog": backlog,
        "awaiting_review": awaiting_review,
    }))
}

async fn dashboard_page<S: Store + UserStore + ConsoleStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
) -> Response {
    match dashboard(&state, &viewer).await {
        Ok(d) => viewer_page(&state, &viewer, StatusCode::OK, "console/dashboard.html", json!({ "d": d })),
        Err(e) => {
            tracing::warn!(error = %e, "store unavailable for the dashboard");
            unavailable_page(&state)
        }
    }
}

async fn dashboard_json<S: Store + UserStore + ConsoleStore>(
    State(state): State<Arc<HttpState<S>>>,
    ApiViewer(viewer): ApiViewer,
) -> Response {
    match dashboard(&state, &viewer).await {
        Ok(d) => Json(d).into_response(),
        Err(e) => super::store_unavailable(&e).into_response(),
    }
}

/// Reports listed a page.
const REPORTS_PER_PAGE: u32 = 100;

/// The report list's filters as the query string gives them; what cannot be read is named.
fn report_query(params: &std::collections::HashMap<String, String>) -> Result<ReportQuery, String> {
    let get = |k: &str| params.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let day = |k: &str| -> Result<Option<DateTime<Utc>>, String> {
        match get(k) {
            None => Ok(None),
            Some(v) => chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .filter(|d| (2000..=9999).contains(&chrono::Datelike::year(d)))
                .and_then(|d| crate::model::time::parse_instant(&format!("{d} 12:00")).ok())
                .map(|noon| Some(start_of_day(noon)))
                .ok_or_else(|| format!("{k}：应为 2000–9999 年间的日期，如 2026-09-23")),
        }
    };
    Ok(ReportQuery {
        kind: match get("kind") {
            None => None,
            Some(k) => Some(crate::model::ReportKind::parse(k).ok_or_else(|| format!("kind：未知的报告类别 {k:?}"))?),
        },
        grade: get("grade").map(grade_filter).transpose()?,
        unit: get("unit").map(|u| u.parse().map_err(|_| format!("unit：单位代码不正确 {u:?}"))).transpose()?,
        province: get("province").map(|p| p.parse().map_err(|_| format!("province：省份代码不正确 {p:?}"))).transpose()?,
        from: day("from")?,
        // The last day named is included.
        to: day("to")?.map(|t| t + chrono::Duration::days(1)),
        follows_up: None,
        before: get("before").map(|b| b.parse().map_err(|_| format!("before：报告编号不正确 {b:?}"))).transpose()?,
        // A limit out of range is named, not quietly clamped.
        limit: match get("limit") {
            None => REPORTS_PER_PAGE,
            Some(l) => {
                l.parse().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| format!("limit：应为 1–1000 的整数，而不是 {l:?}"))?
            }
        },
    })
}

/// The grades and warning levels the report list filters by: the stored code and its label.
fn grade_choices() -> Vec<(String, String)> {
    let grades = crate::model::Grade::ALL.iter().map(|g| (g.code().to_string(), g.label_zh().to_string()));
    let levels = crate::model::WarningLevel::ALL.iter().map(|l| (format!("level-{}", l.number()), format!("预警 {}", l.label_zh())));
    grades.chain(levels).collect()
}

/// A grade filter as stored (`major`, `level-1`), from its code or its name (重大, 一级预警).
fn grade_filter(asked: &str) -> Result<String, String> {
    if let Some((code, _)) = grade_choices().into_iter().find(|(code, label)| asked == code || asked == label) {
        return Ok(code);
    }
    // "一级预警", "红色预警": a warning's level; "重大", "Ⅱ级": an event's grade.
    let level = asked.contains("预警").then(|| crate::model::WarningLevel::parse(&asked.replace("预警", "")).ok()).flatten();
    match (level, asked.parse::<crate::model::Grade>()) {
        (Some(l), _) => Ok(format!("level-{}", l.number())),
        (None, Ok(g)) => Ok(g.code().to_string()),
        (None, Err(_)) => Err(format!(
            "grade：应为 especially_major、major、large、general 或 level-1…level-4（也可写 重大、一级预警 等），而不是 {:?}",
            asked.chars().take(20).collect::<String>()
        )),
    }
}

/// One report as the console lists it.
fn report_view(r: &StoredReport) -> serde_json::Value {
    let c = &r.report.content;
    json!({
        "id": r.report.id.to_string(),
        "submission_id": r.submission_id.to_string(),
        "received_at": r.received_at,
        "received_local": local_zh(r.received_at),
        "discovered_local": local_zh(c.discovered_at),
        "unit": r.report.unit.to_string(),
        "kind": c.kind().code(),
        "kind_zh": c.kind().label_zh(),
        // The code the list filters by (`major`, `level-4`), and how people read it.
        "grade": c.grade.map(|g| g.code().to_string()).or_else(|| c.level.map(|l| format!("level-{}", l.number()))),
        "grade_zh": c.grade.map(|g| g.label_zh().to_string()).or_else(|| c.level.map(|l| l.label_zh().to_string())).unwrap_or_else(|| "—".into()),
        "provinces": c.provinces.iter().map(|p| p.short_zh()).collect::<Vec<_>>().join("、"),
        "title": c.headline(60),
        "follows_up": c.follows_up.map(|f| f.to_string()),
    })
}

async fn report_list<S: Store + ConsoleStore>(
    state: &HttpState<S>,
    viewer: &Viewer,
    params: &std::collections::HashMap<String, String>,
) -> Result<serde_json::Value, Response> {
    let query = report_query(params).map_err(|e| super::problem(StatusCode::BAD_REQUEST, "bad_query", &e).into_response())?;
    // One more than the page, to know whether another page follows.
    let asked = ReportQuery { limit: query.limit + 1, ..query.clone() };
    let mut reports = state.store.report_page(&viewer.scope(), &asked).await.map_err(|e| super::store_unavailable(&e).into_response())?;
    let more = reports.len() > query.limit as usize;
    reports.truncate(query.limit as usize);
    let next = more.then(|| reports.last().map(|r| r.report.id.to_string())).flatten();
    Ok(json!({ "items": reports.iter().map(report_view).collect::<Vec<_>>(), "next_before": next }))
}

async fn reports_json<S: Store + UserStore + ConsoleStore>(
    State(state): State<Arc<HttpState<S>>>,
    ApiViewer(viewer): ApiViewer,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Response {
    match report_list(&state, &viewer, &params).await {
        Ok(list) => Json(list).into_response(),
        Err(r) => r,
    }
}

async fn reports_page<S: Store + UserStore + ConsoleStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let (list, error) = match report_list(&state, &viewer, &params).await {
        Ok(list) => (list, None),
        Err(r) if r.status() == StatusCode::BAD_REQUEST => (json!({ "items": [], "next_before": null }), report_query(&params).err()),
        Err(r) => return r,
    };
    // The filters, echoed into the form and carried to the next page.
    let keep: Vec<(String, String)> = ["kind", "grade", "unit", "province", "from", "to"]
        .iter()
        .filter_map(|k| params.get(*k).map(|v| (k.to_string(), v.chars().take(40).collect())))
        .collect();
    let mut filters: serde_json::Map<String, serde_json::Value> =
        ["kind", "grade", "unit", "province", "from", "to"].iter().map(|k| (k.to_string(), json!(""))).collect();
    filters.extend(keep.iter().map(|(k, v)| (k.clone(), json!(v))));
    let next_query = list["next_before"].as_str().map(|b| {
        let mut q: Vec<String> = keep.iter().map(|(k, v)| format!("{k}={}", form_encode(v))).collect();
        q.push(format!("before={b}"));
        q.join("&")
    });
    let kinds: Vec<_> = crate::model::ReportKind::ALL.iter().map(|k| json!({ "code": k.code(), "label": k.label_zh() })).collect();
    viewer_page(
        &state,
        &viewer,
        StatusCode::OK,
        "console/reports.html",
        json!({ "list": list, "filters": filters, "error": error, "next_query": next_query, "kinds": kinds,
                "grades": grade_choices().into_iter().map(|(code, label)| json!({ "code": code, "label": label })).collect::<Vec<_>>() }),
    )
}

/// Percent-encodes a query value (what a form would send).
fn form_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn viewer_view(viewer: &Viewer) -> serde_json::Value {
    json!({ "name": viewer.name, "role": viewer.role.to_string(), "role_zh": viewer.role.label_zh() })
}

/// Whether a viewer of `scope` may see `report`.
fn in_scope(scope: &Scope, report: &StoredReport) -> bool {
    match scope {
        Scope::All => true,
        Scope::Province(p) => report.report.content.provinces.contains(p),
        Scope::Units(us) => us.contains(&report.report.unit),
    }
}

/// Whether the viewer may download the file a report came in: the unit that sent it, CNCERT
/// and CSB. A bureau sees its province's reports, but a file may hold other provinces' too.
fn may_download(scope: &Scope, report: &StoredReport) -> bool {
    match scope {
        Scope::All => true,
        Scope::Units(us) => us.contains(&report.report.unit),
        Scope::Province(_) => false,
    }
}

/// Parties a unit's viewer may see named in a report's obligations and notices: itself and the
/// authorities, never another unit (a botnet report names the units told to dispose of it).
fn visible_party(scope: &Scope, party: &str) -> bool {
    match scope {
        Scope::Units(us) => party.strip_prefix("unit:").is_none_or(|u| us.codes().any(|c| c.as_str() == u)),
        _ => true,
    }
}

/// Whether a unit may see a notice addressed to `recipient`: to the authorities, to the topics
/// the authorities read, or to itself (its party, its addresses, its own AMQP routing keys).
fn unit_may_see_recipient(unit: &crate::model::UnitCode, recipient: &str, own_addresses: &[String]) -> bool {
    const AUTHORITIES: [&str; 5] = ["csb", "cncert", "bureau:", "bureaus:", "notice."];
    AUTHORITIES.iter().any(|a| recipient.starts_with(a))
        || recipient == format!("unit:{unit}")
        || own_addresses.iter().any(|a| a == recipient)
        || recipient.starts_with(&format!("to.{}.", unit.as_str().replace('.', "_")))
}

/// A report's whole story for a viewer who may see it: the report, its submission, grading and
/// regrading, every obligation with its article and state, follow-ups, notices, the audit trail.
async fn timeline<S: Store + ConsoleStore>(state: &HttpState<S>, viewer: &Viewer, id: &str) -> Result<serde_json::Value, Response> {
    let not_found = || super::problem(StatusCode::NOT_FOUND, "not_found", "没有这份报告，或无权查看").into_response();
    let id: crate::model::ReportId = id.parse().map_err(|_| not_found())?;
    let unavailable = |e: crate::store::StoreError| super::store_unavailable(&e).into_response();
    let scope = viewer.scope();
    let report = state.store.report(id, None).await.map_err(unavailable)?.filter(|r| in_scope(&scope, r)).ok_or_else(not_found)?;
    let now = crate::clock::now();
    let obligations =
        state.store.obligations(&ObligationFilter { report: Some(id), limit: 500, ..Default::default() }).await.map_err(unavailable)?;
    let obligations: Vec<_> = obligations.iter().filter(|o| visible_party(&scope, &o.actor.to_string())).collect();
    let follow_ups = state
        .store
        .report_page(&scope, &ReportQuery { follows_up: Some(id), limit: 100, ..Default::default() })
        .await
        .map_err(unavailable)?;
    let notices = state
        .store
        .outbox(&OutboxFilter { subject_id: Some(id.to_string()), limit: 500, ..Default::default() })
        .await
        .map_err(unavailable)?;
    let own_addresses: Vec<String> = match &scope {
        Scope::Units(us) => state
            .store
            .units()
            .await
            .map_err(unavailable)?
            .iter()
            .filter(|x| us.contains(&x.code))
            .flat_map(|x| x.emails().map(|e| e.as_str().to_string()))
            .collect(),
        _ => Vec::new(),
    };
    let notices: Vec<_> = notices
        .iter()
        .filter(|n| match &scope {
            Scope::Units(us) => us.codes().any(|u| unit_may_see_recipient(u, &n.recipient, &own_addresses)),
            _ => true,
        })
        .map(|n| {
            json!({ "created_local": local_zh(n.created_at), "kind": outbox_label(&n.kind), "channel": outbox_label(&n.channel),
                    "recipient": n.recipient, "status": outbox_label(&n.status), "attempts": n.attempts, "last_error": n.last_error,
                    "urgent": n.urgent })
        })
        .collect();
    let mut subjects = vec![id.to_string()];
    subjects.extend(obligations.iter().map(|o| o.id.to_string()));
    let audit = state.store.audit_of(&subjects, 500).await.map_err(unavailable)?;
    let audit: Vec<_> = audit
        .iter()
        .filter_map(|a| match &scope {
            // A unit reads what happened to its own report and duties, not what other units
            // were told or did (a botnet report's disposal notices name them).
            Scope::Units(us) => {
                let own_actor = !a.actor.starts_with("unit:") || us.codes().any(|u| a.actor == format!("unit:{u}") || a.actor == u.as_str());
                let detail = match a.action.as_str() {
                    "report.regraded" => json!({ "from": a.detail["from"], "to": a.detail["to"] }),
                    "obligation.reminded" | "obligation.missed" | "obligation.done" | "obligation.recomputed" | "obligation.reopened" => json!({}),
                    _ => return None,
                };
                own_actor.then(|| (a, detail))
            }
            _ => Some((a, a.detail.clone())),
        })
        .map(|(a, detail)| json!({ "at_local": local_zh(a.at), "actor": a.actor, "action": a.action, "subject": a.subject, "detail": detail.to_string() }))
        .collect();
    let c = &report.report.content;
    Ok(json!({
        "report": report_view(&report),
        "declared_grade_zh": report.report.declared_grade.map(|g| g.label_zh()),
        "particulars": c.particulars_zh().into_iter().map(|(label, value)| json!({ "label": label, "value": value })).collect::<Vec<_>>(),
        "may_download": may_download(&scope, &report),
        "obligations": obligations.iter().map(|o| obligation_view(o, now)).collect::<Vec<_>>(),
        "follow_ups": follow_ups.iter().map(report_view).collect::<Vec<_>>(),
        "notices": notices,
        "audit": audit,
    }))
}

async fn timeline_json<S: Store + UserStore + ConsoleStore>(
    State(state): State<Arc<HttpState<S>>>,
    ApiViewer(viewer): ApiViewer,
    Path(id): Path<String>,
) -> Response {
    match timeline(&state, &viewer, &id).await {
        Ok(t) => Json(t).into_response(),
        Err(r) => r,
    }
}

async fn timeline_page<S: Store + UserStore + ConsoleStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
    Path(id): Path<String>,
) -> Response {
    match timeline(&state, &viewer, &id).await {
        Ok(t) => viewer_page(&state, &viewer, StatusCode::OK, "console/report.html", json!({ "t": t })),
        Err(r) if r.status() == StatusCode::NOT_FOUND => not_found_page(&state, &viewer),
        Err(r) => r,
    }
}

/// The file a report came in, as it arrived, for the unit that sent it, CNCERT and CSB.
async fn raw_file<S: Store + UserStore + ConsoleStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
    Path(id): Path<String>,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "没有这份报告，或无权下载").into_response();
    let Ok(id) = id.parse::<crate::model::ReportId>() else { return not_found() };
    let report = match state.store.report(id, None).await {
        Ok(Some(r)) if may_download(&viewer.scope(), &r) => r,
        Ok(_) => return not_found(),
        Err(e) => return super::store_unavailable(&e).into_response(),
    };
    match state.store.submission_raw(report.submission_id).await {
        Ok(Some(bytes)) => {
            let name = format!("submission-{}.{}", report.submission_id, crate::forms::extension_of(&bytes));
            let mut r = bytes.into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            // A download, never rendered: the bytes are whatever the sender sent.
            h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).expect("ASCII"));
            h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            r
        }
        Ok(None) => not_found(),
        Err(e) => super::store_unavailable(&e).into_response(),
    }
}

/// How far back the board counts duties done late.
const LATE_WINDOW_DAYS: i64 = 30;

/// The obligations board: every party's duties due in 24 hours, overdue, missed and done late
/// (the last 30 days), and the list of one of those states, narrowed to a unit or a province.
async fn board<S: Store + ConsoleStore>(
    state: &Arc<HttpState<S>>,
    viewer: &Viewer,
    params: &std::collections::HashMap<String, String>,
) -> Result<serde_json::Value, Response> {
    let bad = |e: String| super::problem(StatusCode::BAD_REQUEST, "bad_query", &e).into_response();
    let get = |k: &str| params.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let state_code = match get("state").unwrap_or("overdue") {
        "due_soon" => "due_soon",
        "overdue" => "overdue",
        "met_late" => "met_late",
        other => return Err(bad(format!("state：应为 due_soon、overdue 或 met_late，而不是 {other:?}"))),
    };
    let narrow = match (get("unit"), get("province")) {
        (Some(u), _) => Scope::unit(u.parse().map_err(|_| bad(format!("unit：单位代码不正确 {u:?}")))?),
        (None, Some(p)) => Scope::Province(p.parse().map_err(|_| bad(format!("province：省份代码不正确 {p:?}")))?),
        (None, None) => Scope::All,
    };
    let scope = viewer.scope();
    let key = format!("board:{scope:?}:{state_code}:{narrow:?}");
    let shared = state.clone();
    let compute = move || async move {
        // Computed as of its own moment, which for a background refresh is not the request's.
        let now = crate::clock::now();
        let (soon, late_since) = (now + chrono::Duration::hours(24), now - chrono::Duration::days(LATE_WINDOW_DAYS));
        let due = match state_code {
            "due_soon" => Due::Between(now, soon),
            "met_late" => Due::MetLate(late_since),
            _ => Due::Overdue(now),
        };
        let tallies = shared.store.party_tallies(&scope, now, soon, late_since).await?;
        let page = shared.store.due_obligations(&scope, &narrow, due, REPORTS_PER_PAGE).await?;
        Ok(board_figures(now, state_code, &tallies, &page))
    };
    let figures = state
        .console_figures
        .get(key, compute)
        .await
        .map_err(|e| super::store_unavailable(&crate::store::StoreError::Shared(e)).into_response())?;
    let mut board = (*figures).clone();
    // The filters as asked, for the page's form.
    board["unit"] = json!(get("unit"));
    board["province"] = json!(get("province"));
    Ok(board)
}

/// The board's figures for one scope, state and filter.
fn board_figures(
    now: DateTime<Utc>,
    state_code: &str,
    tallies: &[crate::store::console::PartyTally],
    page: &crate::store::console::ObligationPage,
) -> serde_json::Value {
    let label = |actor: &str| actor.parse::<crate::model::Party>().map_or_else(|_| actor.to_string(), |p| p.label_zh());
    json!({
        "as_of": now,
        "as_of_local": local_zh(now),
        "state": state_code,
        "parties": tallies.iter().map(|t| json!({ "actor": t.actor, "actor_zh": label(&t.actor), "unit": t.actor.strip_prefix("unit:"), "due_soon": t.due_soon, "overdue": t.overdue,
                                                   "missed": t.missed, "met_late": t.met_late })).collect::<Vec<_>>(),
        "total": page.total,
        "items": page.items.iter().map(|o| obligation_view(o, now)).collect::<Vec<_>>(),
    })
}

async fn board_json<S: Store + UserStore + ConsoleStore>(
    State(state): State<Arc<HttpState<S>>>,
    ApiViewer(viewer): ApiViewer,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Response {
    match board(&state, &viewer, &params).await {
        Ok(b) => Json(b).into_response(),
        Err(r) => r,
    }
}

async fn board_page<S: Store + UserStore + ConsoleStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Response {
    match board(&state, &viewer, &params).await {
        Ok(b) => viewer_page(&state, &viewer, StatusCode::OK, "console/obligations.html", json!({ "b": b, "late_days": LATE_WINDOW_DAYS })),
        Err(r) => r,
    }
}

/// How people read an outbox row's kind, channel and status.
fn outbox_label(code: &str) -> String {
    match code {
        "receipt" => "回执",
        "notice" => "通报",
        "alert" => "提醒",
        "public_notice" => "通告",
        "notice_draft" => "通告草稿（待审核）",
        "reminder" => "到期提醒",
        "overdue" => "逾期告警",
        "escalation" => "升级处理",
        "summary_reminder" => "月度汇总提醒",
        "missing_summaries" => "未报月度汇总",
        "digest" => "月度通报",
        "batch" => "汇总邮件",
        "email" => "邮件",
        "amqp" => "消息队列",
        "party" => "按单位分发",
        "pending" => "待发送",
        "sent" => "已发送",
        "expanded" => "已分发",
        "failed" => "发送失败",
        "expired" => "已过期未发",
        other => other,
    }
    .to_string()
}

/// The month a digest request names (`YYYY-MM`), by default the last whole month in Beijing.
fn digest_month(asked: Option<&str>) -> Result<crate::model::YearMonth, String> {
    match asked.map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => m.parse().map_err(|_| format!("month：应为年月，如 2026-09，而不是 {:?}", m.chars().take(20).collect::<String>())),
        None => Ok(crate::model::YearMonth::of(crate::clock::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive()).previous()),
    }
}

/// The digest goes to CSB, every bureau and CNCERT (Art. 19–20 [通报办法]); units are not among
/// its readers.
fn may_read_digest(viewer: &Viewer) -> bool {
    !matches!(viewer.role, Role::Unit(_))
}

/// A month's digest as computed now, and to whom and when it was sent.
async fn digest_view<S: Store + JobStore>(
    state: &HttpState<S>,
    month: crate::model::YearMonth,
) -> Result<serde_json::Value, crate::store::StoreError> {
    let d = crate::schedule::compute_digest(&*state.store, month, crate::clock::now()).await?;
    let sent = state.store.outbox(&OutboxFilter { subject_id: Some(format!("digest:{month}")), limit: 200, ..Default::default() }).await?;
    let rate = |r: Option<f64>| r.map(|v| format!("{v}%")).unwrap_or_else(|| "—".into());
    Ok(json!({
        "month": month.to_string(),
        "digest": d,
        "rates": { "feedback": rate(d.disposal.feedback_rate), "disposal": rate(d.disposal.disposal_rate) },
        "sent": sent.iter().map(|n| json!({ "created_local": local_zh(n.created_at), "channel": outbox_label(&n.channel),
            "recipient": n.recipient, "status": outbox_label(&n.status), "last_error": n.last_error })).collect::<Vec<_>>(),
    }))
}

fn forbidden_json() -> Response {
    super::problem(StatusCode::FORBIDDEN, "forbidden", "月度通报发送给通信保障局、各通信管理局和国家互联网应急中心，单位账号无权查看")
        .into_response()
}

async fn digest_json<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    ApiViewer(viewer): ApiViewer,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if !may_read_digest(&viewer) {
        return forbidden_json();
    }
    let month = match digest_month(params.get("month").map(String::as_str)) {
        Ok(m) => m,
        Err(e) => return super::problem(StatusCode::BAD_REQUEST, "bad_query", &e).into_response(),
    };
    match digest_view(&state, month).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => super::store_unavailable(&e).into_response(),
    }
}

async fn digest_page<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if !may_read_digest(&viewer) {
        return forbidden_page(&state, &viewer);
    }
    let (month, error) = match digest_month(params.get("month").map(String::as_str)) {
        Ok(m) => (m, None),
        Err(e) => (digest_month(None).expect("the default month parses"), Some(e)),
    };
    match digest_view(&state, month).await {
        Ok(v) => viewer_page(
            &state,
            &viewer,
            StatusCode::OK,
            "console/digest.html",
            json!({ "g": v, "error": error, "current_colour": crate::digest::chart::CURRENT_HEX,
                    "previous_colour": crate::digest::chart::PREVIOUS_HEX }),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "store unavailable for the digest");
            unavailable_page(&state)
        }
    }
}

/// The chart or the workbook of a month's digest, computed now, for those who may read it.
async fn digest_file<S: Store + JobStore>(state: &HttpState<S>, viewer: &Viewer, month: &str, chart: bool) -> Response {
    if !may_read_digest(viewer) {
        return (StatusCode::FORBIDDEN, "无权查看").into_response();
    }
    let Ok(month) = month.parse::<crate::model::YearMonth>() else {
        return (StatusCode::NOT_FOUND, "没有这个月份").into_response();
    };
    let d = match crate::schedule::compute_digest(&*state.store, month, crate::clock::now()).await {
        Ok(d) => d,
        Err(e) => return super::store_unavailable(&e).into_response(),
    };
    let (bytes, content_type, disposition) = if chart {
        (crate::digest::chart::png(&d.by_grade), "image/png", None)
    } else {
        (
            crate::digest::workbook::xlsx(&d),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            // RFC 6266: the Chinese name for browsers that read filename*, an ASCII one for the rest.
            Some(format!(
                "attachment; filename=\"digest-{month}.xlsx\"; filename*=UTF-8''{}",
                form_encode(&format!("网络安全信息月度通报-{month}.xlsx"))
            )),
        )
    };
    match bytes {
        Ok(bytes) => {
            let mut r = bytes.into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            if let Some(d) = disposition {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&d).expect("ASCII"));
            }
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "digest file failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "生成失败").into_response()
        }
    }
}

async fn digest_chart<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
    Path(month): Path<String>,
) -> Response {
    digest_file(&state, &viewer, &month, true).await
}

async fn digest_workbook<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
    Path(month): Path<String>,
) -> Response {
    digest_file(&state, &viewer, &month, false).await
}

/// Rows and columns of each sheet a preview shows.
const PREVIEW_ROWS: usize = 200;
const PREVIEW_COLUMNS: usize = 30;

/// Only a unit submits, and only as itself (Art. 21 [通报办法]: the unit is the reporter).
/// The unit a viewer submits as: a unit's login, its own; a bureau's, the bureau registered for
/// its province, since bureaus are reporting units too (Art. 4 [通报办法]) and owe their monthly
/// summaries (Art. 13¶3). None for CNCERT and CSB, or a province with no bureau, or two.
async fn uploader<S: Store>(state: &HttpState<S>, viewer: &Viewer) -> Option<crate::model::UnitCode> {
    if let Some(unit) = viewer.role.unit() {
        return Some(unit.clone());
    }
    let province = viewer.role.province()?;
    let units = state.store.units().await.ok()?;
    let mut bureaus = units.iter().filter(|u| u.unit_type == crate::model::UnitType::Bureau && u.province.province() == Some(province));
    match (bureaus.next(), bureaus.next()) {
        (Some(one), None) => Some(one.code.clone()),
        _ => None,
    }
}

/// The most a contact's name, phone or address may hold.
const CONTACT_FIELD_CHARS: usize = 200;

/// What is wrong with a typed field, if anything: characters the browser could not send as
/// UTF-8 (the form decoder turns them into U+FFFD), or more than `max` characters. Refused,
/// never cut or stored mangled.
fn field_problem(value: &str, max: usize) -> Option<String> {
    let n = value.chars().count();
    if value.contains('\u{FFFD}') {
        Some("含有无法识别的字符（请以 UTF-8 提交）".to_string())
    } else if n > max {
        Some(format!("最多 {max} 个字，现有 {n} 个字"))
    } else {
        None
    }
}

/// A path nothing serves: under `/console`, the console's own not-found page for a signed-in
/// viewer (the login page for anyone else); elsewhere, the API's JSON answer.
pub(super) async fn unknown_path<S: Store + UserStore + Send + Sync + 'static>(
    State(state): State<Arc<HttpState<S>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    if uri.path() == "/console" || uri.path().starts_with("/console/") {
        return match page_viewer(&state, &headers).await {
            Ok(viewer) => not_found_page(&state, &viewer),
            Err(to_login) => to_login,
        };
    }
    super::problem(StatusCode::NOT_FOUND, "not_found", "没有这个地址").into_response()
}

fn forbidden_page<S>(state: &HttpState<S>, viewer: &Viewer) -> Response {
    viewer_page(state, viewer, StatusCode::FORBIDDEN, "console/forbidden.html", json!({}))
}

fn not_found_page<S>(state: &HttpState<S>, viewer: &Viewer) -> Response {
    viewer_page(state, viewer, StatusCode::NOT_FOUND, "console/not_found.html", json!({}))
}

/// A console page for `viewer`: `template` given `fields`, the viewer (as `d.viewer`, which the
/// navigation reads) and its CSRF token, answered with `status`.
fn viewer_page<S>(state: &HttpState<S>, viewer: &Viewer, status: StatusCode, template: &str, fields: serde_json::Value) -> Response {
    let mut context = json!({ "d": { "viewer": viewer_view(viewer) }, "csrf": viewer.csrf });
    // CNCERT keeps the calendar: from November it is told on every page while next year's
    // holiday schedule has not been imported.
    if viewer.role == Role::Cncert {
        let today = crate::clock::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
        context["calendar_missing"] = json!(state.intake.engine().calendar.schedule_missing(today));
    }
    if let serde_json::Value::Object(fields) = fields {
        for (name, value) in fields {
            context[name] = value;
        }
    }
    let mut page = render(state, template, context);
    *page.status_mut() = status;
    page
}

async fn upload_page<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
) -> Response {
    if uploader(&state, &viewer).await.is_none() {
        return forbidden_page(&state, &viewer);
    }
    viewer_page(
        &state,
        &viewer,
        StatusCode::OK,
        "console/upload.html",
        json!({ "max_mb": state.limits.max_upload_bytes >> 20, "error": null }),
    )
}

/// Whether a posted CSRF token is the viewer's session's (compared in constant time).
fn csrf_matches(viewer: &Viewer, posted: Option<&str>) -> bool {
    match (&viewer.csrf, posted) {
        (Some(own), Some(posted)) => auth::same(own.as_bytes(), posted.trim().as_bytes()),
        _ => false,
    }
}

/// Reads the uploaded file and shows it as the hub reads it, each refused cell marked with its
/// error, and keeps it as a draft; nothing is stored as a submission until it is confirmed.
async fn upload_preview<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
    req: axum::extract::Request,
) -> Response {
    let Some(unit) = uploader(&state, &viewer).await else { return forbidden_page(&state, &viewer) };
    let page_error = |status: StatusCode, message: &str| {
        viewer_page(
            &state,
            &viewer,
            status,
            "console/upload.html",
            json!({ "max_mb": state.limits.max_upload_bytes >> 20, "error": message }),
        )
    };
    let _memory = match super::hold_upload_memory(&state, req.headers()) {
        Ok(m) => m,
        Err(p) => return page_error(p.status, &p.message),
    };
    let upload = match super::read_upload(&state, req, false).await {
        Ok(u) => u,
        Err(p) => return page_error(p.status, &p.message),
    };
    if !csrf_matches(&viewer, upload.csrf.as_deref()) {
        return (StatusCode::FORBIDDEN, "CSRF token missing or wrong").into_response();
    }
    let limits = crate::forms::Limits { max_file_bytes: state.limits.max_upload_bytes, ..Default::default() };
    let (bytes, name) = (Arc::new(upload.bytes), upload.name);
    let read = {
        let (bytes, name) = (bytes.clone(), name.clone());
        let spreadsheet = crate::forms::is_spreadsheet(&bytes, &name);
        let kind = if spreadsheet { super::ParseKind::Spreadsheet } else { super::ParseKind::Json };
        super::parse_aside(&state, kind, move || {
            let now = crate::clock::now();
            if spreadsheet {
                let sheets = crate::forms::preview(&bytes, &name, &limits, PREVIEW_ROWS, PREVIEW_COLUMNS);
                let (items, notes) = crate::forms::parse_with_notes(&bytes, &name, now, &limits);
                (sheets.ok(), items, notes)
            } else {
                (None, crate::intake::json::parse_submission(&bytes, now), Vec::new())
            }
        })
        .await
    };
    let (sheets, items, notes) = match read {
        Ok(r) => r,
        Err(p) => return page_error(p.status, &p.message),
    };
    let (accepted, mut errors) = match &items {
        Ok(items) => (
            items.iter().filter(|(_, r)| r.is_ok()).count(),
            items.iter().filter_map(|(_, r)| r.as_ref().err()).flatten().cloned().collect(),
        ),
        Err(e) => (0, vec![e.clone()]),
    };
    errors.truncate(500);
    // Each refused cell carries its errors beside it.
    let mut by_place: std::collections::HashMap<&str, Vec<&str>> = std::collections::HashMap::new();
    for e in &errors {
        by_place.entry(e.place.as_str()).or_default().push(e.message.as_str());
    }
    let sheets: Vec<serde_json::Value> = sheets
        .unwrap_or_default()
        .iter()
        .map(|sheet| {
            json!({
                "name": sheet.name, "columns": sheet.columns, "truncated": sheet.truncated,
                "rows": sheet.rows.iter().map(|row| json!({
                    "number": row.number,
                    "cells": row.cells.iter().map(|(place, text)| json!({
                        "text": text, "place": place, "errors": by_place.get(place.as_str()).map(|m| m.join("；")),
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let draft = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let user: UserName = match viewer.name.parse() {
        Ok(u) => u,
        Err(_) => return forbidden_page(&state, &viewer),
    };
    match state.store.put_draft(&draft, &user, &name, &bytes, crate::clock::now()).await {
        Ok(crate::store::users::DraftKept::Kept) => {}
        Ok(crate::store::users::DraftKept::UserFull) => {
            let why = format!(
                "您已有 {} 份待确认的预览：请先确认或放弃其中之一（未确认的预览 {} 小时后自动清除），再上传新的文件",
                crate::store::users::DRAFTS_PER_USER,
                crate::store::users::DRAFT_HOURS
            );
            return page_error(StatusCode::TOO_MANY_REQUESTS, &why);
        }
        Ok(crate::store::users::DraftKept::HubFull) => {
            tracing::warn!(file = %name, bytes = bytes.len(), "upload previews hold their whole allowance; preview refused");
            return page_error(StatusCode::SERVICE_UNAVAILABLE, "待确认的预览已占满暂存空间，请稍后重试或直接确认已有的预览");
        }
        Err(e) => {
            tracing::warn!(error = %e, "store unavailable for an upload draft");
            return page_error(StatusCode::SERVICE_UNAVAILABLE, "存储暂时不可用，请稍后重试");
        }
    }
    tracing::info!(unit = %unit, file = %name, accepted, errors = errors.len(), "upload previewed");
    viewer_page(
        &state,
        &viewer,
        StatusCode::OK,
        "console/upload_preview.html",
        json!({ "draft": draft, "file": name,
            "accepted": accepted, "errors": errors, "notes": notes, "sheets": sheets, "draft_hours": crate::store::users::DRAFT_HOURS,
        }),
    )
}

/// Stores the previewed file as the unit's submission and shows its receipt with every deadline.
async fn upload_confirm<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
    Path(draft): Path<String>,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some(unit) = uploader(&state, &viewer).await else { return forbidden_page(&state, &viewer) };
    let token = form.map(|Form(f)| f.csrf).ok();
    if !csrf_matches(&viewer, token.as_deref()) {
        return (StatusCode::FORBIDDEN, "CSRF token missing or wrong").into_response();
    }
    let Ok(user) = viewer.name.parse::<UserName>() else { return forbidden_page(&state, &viewer) };
    let (name, bytes) = match state.store.draft(&draft, &user, crate::clock::now()).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return not_found_page(&state, &viewer);
        }
        Err(e) => return super::store_unavailable(&e).into_response(),
    };
    let receipt = match super::ingest(&state, unit, bytes, &name).await {
        Ok((_, receipt)) => receipt,
        Err(p) => {
            return viewer_page(
                &state,
                &viewer,
                p.status,
                "console/upload.html",
                json!({ "max_mb": state.limits.max_upload_bytes >> 20, "error": p.message }),
            );
        }
    };
    if let Err(e) = state.store.drop_draft(&draft).await {
        // The submission is stored; a draft left behind lapses within the hour, and confirming
        // it again is answered as a repeat.
        tracing::warn!(error = %e, "upload draft not dropped");
    }
    // The receipt has an address of its own, so reloading it shows it again rather than
    // posting the confirmation a second time.
    Redirect::to(&format!("/console/upload/receipts/{}", receipt.submission_id)).into_response()
}

/// A unit's receipt for one of its own submissions; another unit's is not found.
async fn upload_receipt<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
    Path(id): Path<String>,
) -> Response {
    let Some(unit) = uploader(&state, &viewer).await else { return forbidden_page(&state, &viewer) };
    let Ok(id) = id.parse::<crate::model::SubmissionId>() else { return not_found_page(&state, &viewer) };
    match state.store.receipt(id, Some(&unit)).await {
        Ok(Some(receipt)) => viewer_page(
            &state,
            &viewer,
            StatusCode::OK,
            "console/upload_receipt.html",
            json!({ "receipt": super::receipt_view(&receipt), "file": "",
                    "outcome": receipt.outcome.label_zh() }),
        ),
        Ok(None) => not_found_page(&state, &viewer),
        Err(e) => super::store_unavailable(&e).into_response(),
    }
}

/// CSB reviews (Art. 19 [通报办法]); CNCERT, which drafts and sends for CSB, reads along.
fn may_read_reviews(viewer: &Viewer) -> bool {
    matches!(viewer.role, Role::Csb | Role::Cncert)
}

/// The units a notice about a report goes to unless CSB chooses otherwise: the reporting unit
/// and the operators of the provinces it affects (authorities are copied as bureaus or not at all).
fn default_recipients(units: &[crate::model::Unit], report: &StoredReport) -> Vec<String> {
    use crate::model::{Region, UnitType};
    let provinces = &report.report.content.provinces;
    let mut out: Vec<String> = units
        .iter()
        .filter(|u| !matches!(u.unit_type, UnitType::Csb | UnitType::Cncert | UnitType::Bureau))
        .filter(|u| u.code == report.report.unit || matches!(u.province, Region::Province(p) if provinces.contains(&p)))
        .map(|u| u.code.to_string())
        .collect();
    out.sort();
    out
}

/// The most a notice's title, line count and line may hold: a notice is read in a mail.
const NOTICE_TITLE_CHARS: usize = 200;
const NOTICE_LINES: usize = 100;
const NOTICE_LINE_CHARS: usize = 2000;

/// The drafted lines of a notice, as text.
fn draft_lines(d: &crate::store::console::NoticeDraft) -> Vec<String> {
    d.draft["lines"].as_array().into_iter().flatten().filter_map(|l| l.as_str().map(str::to_string)).collect()
}

fn draft_view(d: &crate::store::console::NoticeDraft) -> serde_json::Value {
    json!({
        "report_id": d.report_id,
        "created_local": local_zh(d.created_at),
        "title": d.draft["notice_title"],
        "lines": d.draft["lines"],
        "review": d.review.as_ref().map(|r| json!({
            "decision": r.decision, "decision_zh": if r.decision == "approved" { "已批准" } else { "已退回" },
            "decided_by": r.decided_by, "decided_local": local_zh(r.decided_at), "title": r.title, "lines": r.lines,
            "recipients": r.recipients, "note": r.note,
        })),
    })
}

async fn review_list<S: Store + ConsoleStore>(state: &HttpState<S>) -> Result<serde_json::Value, crate::store::StoreError> {
    let waiting = state.store.notice_drafts(true, None, 200).await?;
    let all = state.store.notice_drafts(false, None, 100).await?;
    let decided: Vec<_> = all.iter().filter(|d| d.review.as_ref().is_some_and(|r| r.decision == "approved")).map(draft_view).collect();
    Ok(json!({ "waiting": waiting.iter().map(draft_view).collect::<Vec<_>>(), "approved": decided }))
}

async fn review_list_json<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    ApiViewer(viewer): ApiViewer,
) -> Response {
    if !may_read_reviews(&viewer) {
        return super::problem(StatusCode::FORBIDDEN, "forbidden", "通告审核仅对通信保障局和国家互联网应急中心开放").into_response();
    }
    match review_list(&state).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => super::store_unavailable(&e).into_response(),
    }
}

async fn review_list_page<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
) -> Response {
    if !may_read_reviews(&viewer) {
        return forbidden_page(&state, &viewer);
    }
    match review_list(&state).await {
        Ok(v) => viewer_page(&state, &viewer, StatusCode::OK, "console/review_list.html", json!({ "r": v })),
        Err(e) => {
            tracing::warn!(error = %e, "store unavailable for the review list");
            unavailable_page(&state)
        }
    }
}

/// One draft with its report, for the review form.
async fn review_of<S: Store + ConsoleStore>(
    state: &HttpState<S>,
    report: &str,
) -> Result<Option<(crate::store::console::NoticeDraft, StoredReport, Vec<String>)>, crate::store::StoreError> {
    let Ok(id) = report.parse::<crate::model::ReportId>() else { return Ok(None) };
    let Some(stored) = state.store.report(id, None).await? else { return Ok(None) };
    let Some(draft) = state.store.notice_drafts(false, Some(&id.to_string()), 1).await?.into_iter().next() else { return Ok(None) };
    let recipients = default_recipients(&state.store.units().await?, &stored);
    Ok(Some((draft, stored, recipients)))
}

async fn review_page<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
    Path(report): Path<String>,
) -> Response {
    if !may_read_reviews(&viewer) {
        return forbidden_page(&state, &viewer);
    }
    match review_of(&state, &report).await {
        Ok(Some((draft, stored, recipients))) => viewer_page(&state, &viewer, StatusCode::OK, "console/review.html", {
            // A returned draft is edited on from its returned version.
            let (title, lines) = match &draft.review {
                Some(r) => (json!(r.title), json!(r.lines.join("\n"))),
                None => (draft.draft["notice_title"].clone(), json!(draft_lines(&draft).join("\n"))),
            };
            let recipients = match &draft.review {
                Some(r) if !r.recipients.is_empty() => r.recipients.join(", "),
                _ => recipients.join(", "),
            };
            json!({ "draft": draft_view(&draft), "report": report_view(&stored), "form": { "title": title, "lines": lines },
                        "recipients": recipients, "may_decide": viewer.role == Role::Csb, "error": null })
        }),
        Ok(None) => not_found_page(&state, &viewer),
        Err(e) => super::store_unavailable(&e).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct ReviewForm {
    #[serde(default)]
    csrf: String,
    /// `approve` or `return`.
    #[serde(default)]
    action: String,
    #[serde(default)]
    title: String,
    /// The notice's lines, one a line.
    #[serde(default)]
    lines: String,
    /// Unit codes, separated by commas, spaces or lines.
    #[serde(default)]
    recipients: String,
    #[serde(default)]
    note: String,
}

/// A CSB user approves (with the text and the units it goes to, copied to all bureaus) or
/// returns a draft; each decision is audited with who and when.
async fn review_decide<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
    Path(report): Path<String>,
    form: Result<Form<ReviewForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else { return (StatusCode::BAD_REQUEST, "not a form").into_response() };
    if !csrf_matches(&viewer, Some(&form.csrf)) {
        return (StatusCode::FORBIDDEN, "CSRF token missing or wrong").into_response();
    }
    if viewer.role != Role::Csb {
        return forbidden_page(&state, &viewer);
    }
    let (draft, stored, _) = match review_of(&state, &report).await {
        Ok(Some(found)) => found,
        Ok(None) => return (StatusCode::NOT_FOUND, "没有这份通告草稿").into_response(),
        Err(e) => return super::store_unavailable(&e).into_response(),
    };
    let units = match state.store.units().await {
        Ok(u) => u,
        Err(e) => return super::store_unavailable(&e).into_response(),
    };
    let refuse = |message: String| {
        viewer_page(
            &state,
            &viewer,
            StatusCode::BAD_REQUEST,
            "console/review.html",
            // What the user wrote stays in the form, to be corrected rather than written again.
            json!({ "draft": draft_view(&draft), "report": report_view(&stored), "form": { "title": form.title, "lines": form.lines },
                    "recipients": form.recipients, "may_decide": true, "error": message }),
        )
    };
    let title = form.title.trim().to_string();
    let lines: Vec<String> = form.lines.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    if let Some(problem) = field_problem(&form.recipients, usize::MAX) {
        return refuse(format!("通告单位：{problem}"));
    }
    if let Some(problem) = field_problem(&title, NOTICE_TITLE_CHARS) {
        return refuse(format!("通告标题：{problem}"));
    }
    if lines.len() > NOTICE_LINES {
        return refuse(format!("通告内容：最多 {NOTICE_LINES} 行，现有 {} 行", lines.len()));
    }
    if let Some((n, problem)) = lines.iter().enumerate().find_map(|(n, l)| Some((n, field_problem(l, NOTICE_LINE_CHARS)?))) {
        return refuse(format!("通告内容第 {} 行：{problem}", n + 1));
    }
    let now = crate::clock::now();
    let (review, outbox) = match form.action.as_str() {
        "approve" => {
            let mut codes = Vec::new();
            for code in form.recipients.split(|c: char| c == ',' || c == '，' || c.is_whitespace()).filter(|c| !c.is_empty()) {
                match code.parse::<crate::model::UnitCode>() {
                    Ok(c) if units.iter().any(|u| u.code == c) => codes.push(c),
                    _ => return refuse(format!("通告单位：{code:?} 不是已登记的单位代码")),
                }
            }
            codes.sort();
            codes.dedup();
            if codes.is_empty() || title.is_empty() || lines.is_empty() {
                return refuse("批准前请填写通告标题、内容和至少一个通告单位".to_string());
            }
            let payload = json!({ "report_id": draft.report_id, "title": title, "lines": lines,
                                  "basis": "《互联网网络安全信息通报实施办法》第十九条、第二十条", "approved_by": viewer.name });
            let shared = crate::decision::Payload::new(&payload);
            let mut rows: Vec<_> = codes
                .iter()
                .map(|c| {
                    crate::fanout::shared_party_row(
                        crate::decision::OutboxKind::PublicNotice,
                        &crate::model::Party::Unit(c.clone()),
                        "to",
                        draft.report_id.clone(),
                        &shared,
                    )
                })
                .collect();
            rows.push(crate::fanout::shared_party_row(
                crate::decision::OutboxKind::PublicNotice,
                &crate::model::Party::AllBureaus,
                "copy",
                draft.report_id.clone(),
                &shared,
            ));
            let review = crate::store::console::NoticeReview {
                decision: "approved".into(),
                decided_by: viewer.name.clone(),
                decided_at: now,
                title,
                lines,
                recipients: codes.iter().map(|c| format!("unit:{c}")).collect(),
                note: None,
            };
            (review, rows)
        }
        "return" => {
            let note = form.note.trim().to_string();
            if note.is_empty() {
                return refuse("退回时请写明原因".to_string());
            }
            if let Some(problem) = field_problem(&note, NOTICE_LINE_CHARS) {
                return refuse(format!("退回原因：{problem}"));
            }
            let review = crate::store::console::NoticeReview {
                decision: "returned".into(),
                decided_by: viewer.name.clone(),
                decided_at: now,
                title,
                lines,
                recipients: vec![],
                note: Some(note),
            };
            (review, Vec::new())
        }
        _ => return refuse("请选择批准或退回".to_string()),
    };
    match state.store.review_notice(&draft.report_id, crate::store::console::Decided { review, outbox }).await {
        Ok(true) => {
            tracing::info!(report = %draft.report_id, by = %viewer.name, action = %form.action, "notice reviewed");
            Redirect::to("/console/review").into_response()
        }
        Ok(false) => refuse("此通告已由他人批准".to_string()),
        Err(e) => super::store_unavailable(&e).into_response(),
    }
}

/// Botnet events listed on the disposal board.
const BOTNET_EVENTS: u32 = 50;

/// The botnet disposal board (Art. 8–9 [僵尸机制]): the latest botnet events the viewer may see,
/// each with its disposal loop — the notified units' feedback, the verification, CNCERT's report
/// and result, escalations — and each step's clock and state.
async fn botnet_board<S: Store + ConsoleStore>(
    state: &HttpState<S>,
    viewer: &Viewer,
) -> Result<serde_json::Value, crate::store::StoreError> {
    use crate::model::Duty;
    let now = crate::clock::now();
    let scope = viewer.scope();
    let query = ReportQuery { kind: Some(crate::model::ReportKind::BotnetEvent), limit: BOTNET_EVENTS, ..Default::default() };
    let events = state.store.report_page(&scope, &query).await?;
    let mut out = Vec::new();
    for e in &events {
        let obligations =
            state.store.obligations(&ObligationFilter { report: Some(e.report.id), limit: 200, ..Default::default() }).await?;
        let steps: Vec<_> = obligations
            .iter()
            .filter(|o| {
                matches!(
                    o.duty,
                    Duty::DisposalFeedback | Duty::Verification | Duty::DisposalResult | Duty::CncertReport | Duty::CncertNotify
                )
            })
            .filter(|o| visible_party(&scope, &o.actor.to_string()))
            .map(|o| obligation_view(o, now))
            .collect();
        let open = obligations.iter().filter(|o| o.status == ObligationStatus::Open).count();
        let late = obligations.iter().filter(|o| matches!(o.status, ObligationStatus::Late | ObligationStatus::Missed)).count();
        out.push(json!({ "report": report_view(e), "steps": steps, "open": open, "late_or_missed": late }));
    }
    Ok(json!({ "as_of": now, "events": out }))
}

async fn botnets_json<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    ApiViewer(viewer): ApiViewer,
) -> Response {
    match botnet_board(&state, &viewer).await {
        Ok(b) => Json(b).into_response(),
        Err(e) => super::store_unavailable(&e).into_response(),
    }
}

async fn botnets_page<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
) -> Response {
    match botnet_board(&state, &viewer).await {
        Ok(b) => viewer_page(&state, &viewer, StatusCode::OK, "console/botnets.html", json!({ "b": b })),
        Err(e) => {
            tracing::warn!(error = %e, "store unavailable for the botnet board");
            unavailable_page(&state)
        }
    }
}

/// The units a viewer may see: all for CNCERT and CSB, a province's for its bureau, its own for a unit.
fn units_in_scope(scope: &Scope, units: Vec<crate::model::Unit>) -> Vec<crate::model::Unit> {
    units
        .into_iter()
        .filter(|u| match scope {
            Scope::All => true,
            Scope::Province(p) => u.province == crate::model::Region::Province(*p),
            Scope::Units(us) => us.contains(&u.code),
        })
        .collect()
}

fn unit_view(u: &crate::model::Unit) -> serde_json::Value {
    json!({
        "code": u.code.to_string(), "name": u.name, "type_zh": u.unit_type.label_zh(),
        "province": match u.province { crate::model::Region::Province(p) => p.name_zh().to_string(), crate::model::Region::National => "全国".to_string() },
        "important": u.important,
        "contacts": u.contacts.iter().map(|c| json!({ "role": c.role, "role_zh": c.role.label_zh(), "name": c.name,
            "phone": c.phone, "email": c.email.as_ref().map(|e| e.as_str().to_string()) })).collect::<Vec<_>>(),
    })
}

async fn units_json<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    ApiViewer(viewer): ApiViewer,
) -> Response {
    match state.store.units().await {
        Ok(units) => Json(units_in_scope(&viewer.scope(), units).iter().map(unit_view).collect::<Vec<_>>()).into_response(),
        Err(e) => super::store_unavailable(&e).into_response(),
    }
}

async fn units_page<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
) -> Response {
    match state.store.units().await {
        Ok(units) => {
            let list: Vec<_> = units_in_scope(&viewer.scope(), units).iter().map(unit_view).collect();
            viewer_page(&state, &viewer, StatusCode::OK, "console/units.html", json!({ "units": list }))
        }
        Err(e) => super::store_unavailable(&e).into_response(),
    }
}

/// Who may change a unit's contacts: CNCERT and CSB any unit's; a unit its own (Art. 21 [通报办法]).
fn may_edit_unit(viewer: &Viewer, code: &crate::model::UnitCode) -> bool {
    match &viewer.role {
        Role::Cncert | Role::Csb => true,
        Role::Unit(own) => own == code,
        Role::Bureau(_) => false,
    }
}

async fn unit_page<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
    Path(code): Path<String>,
) -> Response {
    unit_form(&state, &viewer, &code, None, StatusCode::OK).await
}

async fn unit_form<S: Store + UserStore + ConsoleStore + JobStore>(
    state: &HttpState<S>,
    viewer: &Viewer,
    code: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let units = match state.store.units().await {
        Ok(u) => u,
        Err(e) => return super::store_unavailable(&e).into_response(),
    };
    let Some(unit) =
        code.parse::<crate::model::UnitCode>().ok().and_then(|c| units_in_scope(&viewer.scope(), units).into_iter().find(|u| u.code == c))
    else {
        return not_found_page(state, viewer);
    };
    let roles = [crate::model::ContactRole::Leader, crate::model::ContactRole::DepartmentHead, crate::model::ContactRole::Contact];
    let rows: Vec<_> = roles
        .iter()
        .map(|r| {
            let c = unit.contacts.iter().find(|c| c.role == *r);
            json!({ "role": r, "role_zh": r.label_zh(), "name": c.map(|c| c.name.clone()).unwrap_or_default(),
                    "phone": c.and_then(|c| c.phone.clone()).unwrap_or_default(),
                    "email": c.and_then(|c| c.email.as_ref().map(|e| e.as_str().to_string())).unwrap_or_default() })
        })
        .collect();
    viewer_page(
        state,
        viewer,
        status,
        "console/unit.html",
        json!({ "unit": unit_view(&unit), "rows": rows,
                "may_edit": may_edit_unit(viewer, &unit.code), "as_report": matches!(viewer.role, Role::Unit(_)), "error": error }),
    )
}

/// Saves a unit's contacts: a unit's own change is submitted as its contact_update report
/// (Art. 21: it has 3 working days to report a change, and the report is its record); CNCERT's
/// or CSB's edit updates the registry directly, audited as an import.
async fn unit_save<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
    Path(code): Path<String>,
    form: Result<Form<std::collections::HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else { return (StatusCode::BAD_REQUEST, "not a form").into_response() };
    if !csrf_matches(&viewer, form.get("csrf").map(String::as_str)) {
        return (StatusCode::FORBIDDEN, "CSRF token missing or wrong").into_response();
    }
    let Ok(code) = code.parse::<crate::model::UnitCode>() else { return (StatusCode::NOT_FOUND, "没有这个单位").into_response() };
    if !may_edit_unit(&viewer, &code) {
        return forbidden_page(&state, &viewer);
    }
    // What each field holds, checked before anything is stored: a browser sends UTF-8, and a
    // name or address of more than CONTACT_FIELD_CHARS is a mistake, not a contact.
    let mut contacts = Vec::new();
    let mut labels = Vec::new();
    for (role, label) in [("leader", "主管领导"), ("department_head", "责任部门负责人"), ("contact", "联系人")] {
        let field = |f: &str, what: &str| -> Result<Option<String>, String> {
            let value = form.get(&format!("{role}_{f}")).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
            match value.as_deref().and_then(|v| field_problem(v, CONTACT_FIELD_CHARS)) {
                Some(problem) => Err(format!("{label}{what}：{problem}")),
                None => Ok(value),
            }
        };
        let (name, phone, email) = match (field("name", "姓名"), field("phone", "电话"), field("email", "电子邮件")) {
            (Ok(n), Ok(p), Ok(e)) => (n, p, e),
            (Err(why), ..) | (_, Err(why), _) | (.., Err(why)) => {
                return unit_form(&state, &viewer, code.as_str(), Some(why), StatusCode::BAD_REQUEST).await;
            }
        };
        if name.is_none() && phone.is_none() && email.is_none() {
            continue;
        }
        contacts.push(json!({ "role": role, "name": name.unwrap_or_default(), "phone": phone, "email": email }));
        labels.push(label);
    }
    if contacts.is_empty() {
        return unit_form(&state, &viewer, code.as_str(), Some("请至少填写一位联系人".into()), StatusCode::BAD_REQUEST).await;
    }
    let now = crate::clock::now();
    if let Role::Unit(own) = &viewer.role {
        // A unit's page has no name field: a name posted anyway is a rename, which is no
        // contact change (Art. 21 [通报办法]) and is not dropped without a word.
        if form.get("name").is_some_and(|n| !n.trim().is_empty()) {
            let why = "单位名称不能在此修改：联系方式变更只更新联系人；单位名称的变更请联系 CNCERT 办理".to_string();
            return unit_form(&state, &viewer, own.as_str(), Some(why), StatusCode::BAD_REQUEST).await;
        }
        // The unit's own report of the change, through intake like any other report.
        let report = json!({ "kind": "contact_update", "discovered_at": now.to_rfc3339(), "content": { "contacts": contacts } });
        let sub = crate::model::Submission::by_content(
            crate::model::Channel::Upload,
            crate::model::submission::Sender::Unit(own.clone()),
            serde_json::to_vec(&report).unwrap_or_default(),
            now,
        );
        return match state.intake.submit(sub).await {
            Ok(r) if r.errors.is_empty() => Redirect::to(&format!("/console/units/{own}")).into_response(),
            Ok(r) => {
                // `/content/contacts/1/email` means the second contact given: named as the form names it.
                let place = |p: &str| -> String {
                    let mut parts = p.trim_start_matches("/content/contacts/").splitn(2, '/');
                    let who = parts.next().and_then(|i| i.parse::<usize>().ok()).and_then(|i| labels.get(i));
                    let what = match parts.next() {
                        Some("name") => "姓名",
                        Some("phone") => "电话",
                        Some("email") => "电子邮件",
                        _ => "",
                    };
                    who.map_or_else(String::new, |w| format!("{w}{what}"))
                };
                let why = r
                    .errors
                    .iter()
                    .map(|e| match (place(&e.place), e.message.strip_prefix(e.place.as_str())) {
                        (named, Some(rest)) if !named.is_empty() => format!("{named}{rest}"),
                        _ => e.message.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join("；");
                unit_form(&state, &viewer, own.as_str(), Some(why), StatusCode::BAD_REQUEST).await
            }
            Err(e) => {
                tracing::warn!(error = %e, "contact update not stored");
                (StatusCode::SERVICE_UNAVAILABLE, "暂时无法保存，请稍后重试").into_response()
            }
        };
    }
    let units = match state.store.units().await {
        Ok(u) => u,
        Err(e) => return super::store_unavailable(&e).into_response(),
    };
    let Some(mut unit) = units.into_iter().find(|u| u.code == code) else {
        return (StatusCode::NOT_FOUND, "没有这个单位").into_response();
    };
    let parsed: Result<Vec<crate::model::Contact>, _> = serde_json::from_value(serde_json::Value::Array(contacts));
    match parsed {
        Ok(contacts) => unit.contacts = contacts,
        Err(e) => return unit_form(&state, &viewer, code.as_str(), Some(format!("联系人信息不正确：{e}")), StatusCode::BAD_REQUEST).await,
    }
    if let Some(name) = form.get("name").map(|n| n.trim()).filter(|n| !n.is_empty()) {
        unit.name = name.chars().take(200).collect();
    }
    match state.store.import_units(std::slice::from_ref(&unit), now).await {
        Ok(_) => {
            tracing::info!(unit = %code, by = %viewer.name, "unit edited in the console");
            Redirect::to(&format!("/console/units/{code}")).into_response()
        }
        Err(e) => super::store_unavailable(&e).into_response(),
    }
}
