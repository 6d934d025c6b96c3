//! The botnet board: events by C&C with their disposal duties, within the viewer's scope.

use super::*;

pub(super) fn routes<S: Store + UserStore + ConsoleStore + JobStore>() -> Router<Arc<HttpState<S>>> {
    Router::new().route("/console/botnets", get(botnets_page::<S>)).route("/api/v1/botnets", get(botnets_json::<S>))
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
        Err(e) => super::super::store_unavailable(&e).into_response(),
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
