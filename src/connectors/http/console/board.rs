//! The obligations board: every party's duties due soon, overdue, missed or met late, with the list behind each count.

use super::*;

pub(super) fn routes<S: Store + UserStore + ConsoleStore + JobStore>() -> Router<Arc<HttpState<S>>> {
    Router::new().route("/console/obligations", get(board_page::<S>)).route("/api/v1/obligations", get(board_json::<S>))
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
    let bad = |e: String| super::super::problem(StatusCode::BAD_REQUEST, "bad_query", &e).into_response();
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
        .map_err(|e| super::super::store_unavailable(&crate::store::StoreError::Shared(e)).into_response())?;
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
