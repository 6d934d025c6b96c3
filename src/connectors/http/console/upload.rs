//! Uploads from the console: a unit's file previewed with its bad cells marked, kept as a draft, stored only when confirmed.

use super::*;

pub(super) fn routes<S: Store + UserStore + ConsoleStore + JobStore>() -> Router<Arc<HttpState<S>>> {
    Router::new()
        .route("/console/upload", get(upload_page::<S>).post(upload_preview::<S>))
        .route("/console/upload/{draft}/confirm", post(upload_confirm::<S>))
        .route("/console/upload/receipts/{id}", get(upload_receipt::<S>))
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
    let _memory = match super::super::hold_upload_memory(&state, req.headers()) {
        Ok(m) => m,
        Err(p) => return page_error(p.status, &p.message),
    };
    let upload = match super::super::read_upload(&state, req, false).await {
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
        let kind = if spreadsheet { super::super::ParseKind::Spreadsheet(bytes.len()) } else { super::super::ParseKind::Json };
        super::super::parse_aside(&state, kind, move || {
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
        Err(e) => return super::super::store_unavailable(&e).into_response(),
    };
    let receipt = match super::super::ingest(&state, unit, bytes, &name).await {
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
            json!({ "receipt": super::super::receipt_view(&receipt), "file": "",
                    "outcome": receipt.outcome.label_zh() }),
        ),
        Ok(None) => not_found_page(&state, &viewer),
        Err(e) => super::super::store_unavailable(&e).into_response(),
    }
}
