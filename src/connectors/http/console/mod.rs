//! The web console, one file per feature (session, dashboard, reports, board, upload, review, units, botnets, digest), each with its own router; here the viewer, its scope and what every page shares.
//!
//! A page without a session sends the browser to `/login`; an API call without a session or a
//! unit's bearer token gets 401. Every form carries the session's CSRF token, and a post
//! without it is refused (403) before anything is done.

mod board;
mod botnets;
mod dashboard;
mod digest;
mod reports;
mod review;
mod session;
mod units;
mod upload;

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
use reports::{REPORTS_PER_PAGE, form_encode, report_view, visible_party};
use serde_json::json;
use std::sync::Arc;
use units::field_problem;

/// Obligations listed per section of the dashboard; the counts cover all.
const LISTED: u32 = 50;

pub(super) fn routes<S: Store + UserStore + ConsoleStore + JobStore>() -> Router<Arc<HttpState<S>>> {
    Router::new()
        .merge(session::routes::<S>())
        .merge(dashboard::routes::<S>())
        .merge(reports::routes::<S>())
        .merge(board::routes::<S>())
        .merge(digest::routes::<S>())
        .merge(upload::routes::<S>())
        .merge(review::routes::<S>())
        .merge(botnets::routes::<S>())
        .merge(units::routes::<S>())
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

fn viewer_view(viewer: &Viewer) -> serde_json::Value {
    json!({ "name": viewer.name, "role": viewer.role.to_string(), "role_zh": viewer.role.label_zh() })
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

fn forbidden_json() -> Response {
    super::problem(StatusCode::FORBIDDEN, "forbidden", "月度通报发送给通信保障局、各通信管理局和国家互联网应急中心，单位账号无权查看")
        .into_response()
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

/// Whether a posted CSRF token is the viewer's session's (compared in constant time).
fn csrf_matches(viewer: &Viewer, posted: Option<&str>) -> bool {
    match (&viewer.csrf, posted) {
        (Some(own), Some(posted)) => auth::same(own.as_bytes(), posted.trim().as_bytes()),
        _ => false,
    }
}

/// A form that carries only the session's CSRF token (logout, an upload's confirmation).
#[derive(serde::Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}
