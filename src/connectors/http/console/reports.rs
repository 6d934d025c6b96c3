//! Reports: the filtered list, a report's timeline (grading, duties, notices, audit) and its raw file, each within the viewer's scope.

use super::*;

pub(super) fn routes<S: Store + UserStore + ConsoleStore + JobStore>() -> Router<Arc<HttpState<S>>> {
    Router::new()
        .route("/console/reports", get(reports_page::<S>))
        .route("/api/v1/reports", get(reports_json::<S>))
        .route("/console/reports/{id}", get(timeline_page::<S>))
        .route("/api/v1/reports/{id}", get(timeline_json::<S>))
        .route("/console/reports/{id}/raw", get(raw_file::<S>))
}

/// Reports listed a page.
pub(super) const REPORTS_PER_PAGE: u32 = 100;

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
pub(super) fn report_view(r: &StoredReport) -> serde_json::Value {
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
    let query = report_query(params).map_err(|e| super::super::problem(StatusCode::BAD_REQUEST, "bad_query", &e).into_response())?;
    // One more than the page, to know whether another page follows.
    let asked = ReportQuery { limit: query.limit + 1, ..query.clone() };
    let mut reports =
        state.store.report_page(&viewer.scope(), &asked).await.map_err(|e| super::super::store_unavailable(&e).into_response())?;
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
pub(super) fn form_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
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
pub(super) fn visible_party(scope: &Scope, party: &str) -> bool {
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
    let not_found = || super::super::problem(StatusCode::NOT_FOUND, "not_found", "没有这份报告，或无权查看").into_response();
    let id: crate::model::ReportId = id.parse().map_err(|_| not_found())?;
    let unavailable = |e: crate::store::StoreError| super::super::store_unavailable(&e).into_response();
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
        Err(e) => return super::super::store_unavailable(&e).into_response(),
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
        Err(e) => super::super::store_unavailable(&e).into_response(),
    }
}
