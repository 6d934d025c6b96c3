//! CSB's review of public notices (Art. 19–20 [通报办法]): drafts waiting, one draft's page, approval or return.

use super::*;

pub(super) fn routes<S: Store + UserStore + ConsoleStore + JobStore>() -> Router<Arc<HttpState<S>>> {
    Router::new()
        .route("/console/review", get(review_list_page::<S>))
        .route("/api/v1/reviews", get(review_list_json::<S>))
        .route("/console/review/{report}", get(review_page::<S>).post(review_decide::<S>))
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
        return super::super::problem(StatusCode::FORBIDDEN, "forbidden", "通告审核仅对通信保障局和国家互联网应急中心开放").into_response();
    }
    match review_list(&state).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => super::super::store_unavailable(&e).into_response(),
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
        Err(e) => super::super::store_unavailable(&e).into_response(),
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
        Err(e) => return super::super::store_unavailable(&e).into_response(),
    };
    let units = match state.store.units().await {
        Ok(u) => u,
        Err(e) => return super::super::store_unavailable(&e).into_response(),
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
        Err(e) => super::super::store_unavailable(&e).into_response(),
    }
}
