//! The web console: login, logout and sessions, and the dashboard page with its JSON under `/api/v1/`, each scoped to what the viewer's role may see.
//!
//! A page without a session sends the browser to `/login`; an API call without a session or a
//! unit's bearer token gets 401. Every form carries the session's CSRF token, and a post
//! without it is refused (403) before anything is done.

use super::auth::{self, COOKIE, SESSION_HOURS};
use super::{HttpState, render};
use crate::model::time::{local_zh, start_of_day};
use crate::model::{Obligation, ObligationStatus, Role, UserName};
use crate::store::console::{Due, Scope};
use crate::store::{ConsoleStore, Store, UserStore};
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::sync::Arc;

/// Obligations listed per section of the dashboard; the counts cover all.
const LISTED: u32 = 50;

pub(super) fn routes<S: Store + UserStore + ConsoleStore>() -> Router<Arc<HttpState<S>>> {
    Router::new()
        .route("/login", get(login_page::<S>).post(login::<S>))
        .route("/logout", post(logout::<S>))
        .route("/console", get(dashboard_page::<S>))
        .route("/api/v1/dashboard", get(dashboard_json::<S>))
}

/// Who is asking: a console user by session, or a unit by its upload token (API only).
pub(super) struct Viewer {
    pub name: String,
    pub role: Role,
    /// The CSRF token of the viewer's session; none for a bearer token, which forms never carry.
    pub csrf: Option<String>,
}

impl Viewer {
    fn scope(&self) -> Scope {
        Scope::from(&self.role)
    }
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
        match state.store.session_user(&hash, Utc::now()).await {
            Ok(Some(user)) => {
                return Ok(Viewer { name: user.name.to_string(), role: user.role, csrf: Some(state.session_key.csrf(&hash)) });
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
            Ok(unit) => Ok(Viewer { name: unit.to_string(), role: Role::Unit(unit), csrf: None }),
            Err(p) if p.status == StatusCode::SERVICE_UNAVAILABLE => Err(NoViewer::Unavailable),
            Err(_) => Err(NoViewer::Anonymous),
        };
    }
    Err(NoViewer::Anonymous)
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
    Form(form): Form<LoginForm>,
) -> Response {
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
    let matches = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash)).await.unwrap_or(false);
    let Some(user) = user.filter(|_| matches) else {
        tracing::info!(user = %form.name.chars().take(64).collect::<String>(), address = %peer.ip(), "console login refused");
        return refuse(StatusCode::UNAUTHORIZED, "用户名或密码不正确");
    };
    let (cookie, id_hash) = state.session_key.new_session();
    let now = Utc::now();
    if let Err(e) = state.store.open_session(&id_hash, &user.name, now, now + chrono::Duration::hours(SESSION_HOURS)).await {
        tracing::warn!(error = %e, "store unavailable for a login");
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "存储暂时不可用，请稍后重试");
    }
    tracing::info!(user = %user.name, role = %user.role, address = %peer.ip(), "console login");
    let mut r = Redirect::to("/console").into_response();
    let set = format!("{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}", SESSION_HOURS * 3600);
    r.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&set).expect("the cookie is ASCII"));
    r
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
    if let Err(e) = state.store.close_session(&hash, Utc::now()).await {
        tracing::warn!(error = %e, "store unavailable for a logout");
        return unavailable_page(&state);
    }
    let mut r = Redirect::to("/login").into_response();
    let clear = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
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
async fn dashboard<S: Store + ConsoleStore>(state: &HttpState<S>, viewer: &Viewer) -> Result<serde_json::Value, crate::store::StoreError> {
    let now = Utc::now();
    let scope = viewer.scope();
    let today = state.store.report_tally(&scope, start_of_day(now)).await?;
    let soon = state.store.due_obligations(&scope, Due::Between(now, now + chrono::Duration::hours(24)), LISTED).await?;
    let overdue = state.store.due_obligations(&scope, Due::Overdue(now), LISTED).await?;
    let backlog = if viewer.role.sees_all() { state.store.outbox_backlog(now).await? } else { Vec::new() };
    let tally: Vec<_> = today
        .iter()
        .map(|t| {
            let kind = crate::model::ReportKind::parse(&t.kind).map_or("其他", |k| k.label_zh());
            let grade = match t.grade.as_deref() {
                Some(g) if g.starts_with("level-") => {
                    g.trim_start_matches("level-").parse::<u8>().map_or(g.to_string(), |l| format!("{l}级"))
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
        "viewer": { "name": viewer.name, "role": viewer.role.to_string(), "role_zh": viewer.role.label_zh() },
        "today": { "since": start_of_day(now), "total": today.iter().map(|t| t.count).sum::<i64>(), "by_kind_and_grade": tally },
        "due_soon": { "total": soon.total, "items": soon.items.iter().map(|o| obligation_view(o, now)).collect::<Vec<_>>() },
        "overdue": { "total": overdue.total, "items": overdue.items.iter().map(|o| obligation_view(o, now)).collect::<Vec<_>>() },
        "outbox_backlog": backlog,
    }))
}

async fn dashboard_page<S: Store + UserStore + ConsoleStore>(State(state): State<Arc<HttpState<S>>>, headers: HeaderMap) -> Response {
    let viewer = match page_viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match dashboard(&state, &viewer).await {
        Ok(d) => render(&state, "console/dashboard.html", json!({ "d": d, "csrf": viewer.csrf })),
        Err(e) => {
            tracing::warn!(error = %e, "store unavailable for the dashboard");
            unavailable_page(&state)
        }
    }
}

async fn dashboard_json<S: Store + UserStore + ConsoleStore>(State(state): State<Arc<HttpState<S>>>, headers: HeaderMap) -> Response {
    let viewer = match api_viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match dashboard(&state, &viewer).await {
        Ok(d) => Json(d).into_response(),
        Err(e) => super::store_unavailable(&e).into_response(),
    }
}
