//! The monthly digest in the console: the month's figures, where it went, its chart and its workbook (CNCERT, CSB and bureaus).

use super::*;

pub(super) fn routes<S: Store + UserStore + ConsoleStore + JobStore>() -> Router<Arc<HttpState<S>>> {
    Router::new()
        .route("/console/digest", get(digest_page::<S>))
        .route("/api/v1/digest", get(digest_json::<S>))
        .route("/console/digest/{month}/chart.png", get(digest_chart::<S>))
        .route("/console/digest/{month}/workbook.xlsx", get(digest_workbook::<S>))
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
        Err(e) => return super::super::problem(StatusCode::BAD_REQUEST, "bad_query", &e).into_response(),
    };
    match digest_view(&state, month).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => super::super::store_unavailable(&e).into_response(),
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
        Err(e) => return super::super::store_unavailable(&e).into_response(),
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
