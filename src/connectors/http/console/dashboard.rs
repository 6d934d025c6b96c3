//! The dashboard: today's reports by grade and the viewer's obligations due soon or overdue, as a page and as JSON.

use super::*;

pub(super) fn routes<S: Store + UserStore + ConsoleStore + JobStore>() -> Router<Arc<HttpState<S>>> {
    Router::new().route("/console", get(dashboard_page::<S>)).route("/api/v1/dashboard", get(dashboard_json::<S>))
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
        Err(e) => super::super::store_unavailable(&e).into_response(),
    }
}
