//! The public appeal page (Art. 11 [僵尸机制]): posting an appeal, confirming it from the link mailed to its address, and the units' API to list and answer the appeals routed to them.

use super::*;

pub(super) fn routes<S: Store>() -> Router<Arc<HttpState<S>>> {
    Router::new()
        .route("/appeal", get(appeal_page::<S>).post(appeal_form::<S>).layer(DefaultBodyLimit::max(APPEAL_MAX_BYTES)))
        .route("/appeal/confirm/{secret}", get(appeal_confirm_page::<S>).post(appeal_confirm::<S>).layer(DefaultBodyLimit::max(1024)))
        .route("/api/v1/appeals", get(unit_appeals::<S>))
        .route("/api/v1/appeals/{id}/answer", post(answer_appeal::<S>).layer(DefaultBodyLimit::max(APPEAL_MAX_BYTES)))
}

/// An appeal form is a few lines of text; anything bigger is not one.
const APPEAL_MAX_BYTES: usize = 32 * 1024;

/// Field names of the appeal form as the page labels them.
fn appeal_field_zh(field: &str) -> &str {
    match field {
        "target" => "被处置的 IP 地址或域名",
        "disposal" => "被处置的情况",
        "reason" => "申诉理由",
        "name" => "申诉人",
        "email" => "电子邮箱",
        "phone" => "电话",
        other => other,
    }
}

fn appeal_view<S>(state: &HttpState<S>, form: &AppealForm) -> serde_json::Value {
    json!({
        "workdays": state.intake.engine().policy.user_appeal_answer_workdays,
        "per_day": state.intake.engine().policy.user_appeals_per_contact_per_day,
        "accepted": null,
        "confirm": null,
        "confirming": null,
        "errors": [],
        "form": { "target": form.target, "disposal": form.disposal, "reason": form.reason, "name": form.name, "email": form.email, "phone": form.phone },
    })
}

/// The public appeal page (Art. 11 [僵尸机制]): no account needed.
async fn appeal_page<S: Store>(State(state): State<Arc<HttpState<S>>>) -> Response {
    render(&state, "appeal.html", appeal_view(&state, &AppealForm::default()))
}

/// A posted appeal: stored and acknowledged on the page (201), or shown again with each
/// problem at its field (400); 429 when the address or the contact has used its allowance.
async fn appeal_form<S: Store>(
    State(state): State<Arc<HttpState<S>>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    form: Result<Form<AppealForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let page = |status: StatusCode, view: serde_json::Value| {
        let mut page = render(&state, "appeal.html", view);
        *page.status_mut() = status;
        page
    };
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => {
            let mut view = appeal_view(&state, &AppealForm::default());
            let (status, message) = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                (StatusCode::PAYLOAD_TOO_LARGE, format!("申诉内容超过 {} KB，请精简后提交", APPEAL_MAX_BYTES >> 10))
            } else if rejection.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "请通过本页面的表单提交（application/x-www-form-urlencoded）".to_string())
            } else {
                (StatusCode::BAD_REQUEST, "表单无法读取：每个栏目只能填写一次，且须为本页面的表单格式".to_string())
            };
            view["errors"] = json!([{ "field": "表单", "message": message }]);
            return page(status, view);
        }
    };
    let mut view = appeal_view(&state, &form);
    let confirm_url = state.limits.public_url.as_deref().map(|u| format!("{}/appeal/confirm/", u.trim_end_matches('/')));
    let requested = state.intake.request_appeal(form.clone(), AppealChannel::Web, format!("ip:{}", peer.ip()), confirm_url).await;
    let lodged = match requested {
        Ok(Requested::Confirm { email }) => {
            view["confirm"] = json!({ "email": email.as_str() });
            return page(StatusCode::ACCEPTED, view);
        }
        Ok(Requested::TooManyFromClient { per_hour }) => {
            view["errors"] = json!([{ "field": "提交次数", "message": format!("同一网络地址每小时最多提交 {per_hour} 次，请稍后再试") }]);
            let mut r = page(StatusCode::TOO_MANY_REQUESTS, view);
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("3600"));
            return r;
        }
        Ok(Requested::Lodged(l)) => Ok(l),
        Err(e) => Err(e),
    };
    appeal_lodged(&state, view, lodged)
}

/// Opens the page a confirmation mail links to: one button, so a mail scanner that follows
/// links lodges nothing.
async fn appeal_confirm_page<S: Store>(State(state): State<Arc<HttpState<S>>>, Path(secret): Path<String>) -> Response {
    let mut view = appeal_view(&state, &AppealForm::default());
    if !is_confirmation_secret(&secret) {
        return bad_confirmation_link(&state, view);
    }
    view["confirming"] = json!({ "secret": secret });
    render(&state, "appeal.html", view)
}

/// What `appeals::request` mails: 64 lower-case hex digits.
fn is_confirmation_secret(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn bad_confirmation_link<S>(state: &HttpState<S>, mut view: serde_json::Value) -> Response {
    view["errors"] = json!([{ "field": "确认链接", "message": "链接无效、已使用或已超过 24 小时，请重新提交申诉" }]);
    let mut page = render(state, "appeal.html", view);
    *page.status_mut() = StatusCode::NOT_FOUND;
    page
}

/// Lodges the appeal a confirmation link names, once.
async fn appeal_confirm<S: Store>(State(state): State<Arc<HttpState<S>>>, Path(secret): Path<String>) -> Response {
    let view = appeal_view(&state, &AppealForm::default());
    if !is_confirmation_secret(&secret) {
        return bad_confirmation_link(&state, view);
    }
    match state.intake.confirm_appeal(secret).await {
        Ok(None) => bad_confirmation_link(&state, view),
        Ok(Some(l)) => appeal_lodged(&state, view, Ok(l)),
        Err(e) => appeal_lodged(&state, view, Err(e)),
    }
}

/// The page after an appeal was lodged, refused or over a limit.
fn appeal_lodged<S>(state: &HttpState<S>, mut view: serde_json::Value, lodged: Result<Lodged, crate::store::StoreError>) -> Response {
    let page = |status: StatusCode, view: serde_json::Value| {
        let mut page = render(state, "appeal.html", view);
        *page.status_mut() = status;
        page
    };
    match lodged {
        Ok(Lodged::Accepted { appeal, due_at }) => {
            view["accepted"] = json!({
                "id": appeal.id.to_string(),
                "targets": appeal.targets_zh(),
                "due": crate::rules::calendar::local_display(due_at),
                "email": appeal.email.as_ref().map(|e| e.as_str().to_string()),
            });
            page(StatusCode::CREATED, view)
        }
        Ok(Lodged::Refused(errors)) => {
            view["errors"] = errors.iter().map(|e| json!({ "field": appeal_field_zh(&e.place), "message": e.message })).collect();
            page(StatusCode::BAD_REQUEST, view)
        }
        Ok(Lodged::TooMany { per_day }) => {
            view["errors"] = json!([{ "field": "提交次数", "message": format!("同一邮箱或电话 24 小时内最多申诉 {per_day} 次；已受理的申诉会按期答复") }]);
            page(StatusCode::TOO_MANY_REQUESTS, view)
        }
        Err(e) => {
            tracing::error!(error = %e, "appeal not stored");
            view["errors"] = json!([{ "field": "系统", "message": "暂时无法保存，请稍后重试" }]);
            page(StatusCode::SERVICE_UNAVAILABLE, view)
        }
    }
}

#[derive(serde::Deserialize)]
struct AppealsQuery {
    #[serde(default)]
    all: bool,
}

/// The appeals routed to the token's unit, newest first; unanswered only unless `?all=true`.
async fn unit_appeals<S: Store>(
    State(state): State<Arc<HttpState<S>>>,
    headers: HeaderMap,
    q: Result<Query<AppealsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let unit = unit_of(&state, bearer(&headers)).await?;
    let Ok(Query(q)) = q else {
        return Err(problem(StatusCode::BAD_REQUEST, "bad_query", "查询参数应为 all=true 或 all=false"));
    };
    match state.store.user_appeals(Some(&unit), !q.all, 500).await {
        Ok(list) => Ok(Json(list).into_response()),
        Err(e) => Err(store_unavailable(&e)),
    }
}

#[derive(serde::Deserialize)]
struct AnswerBody {
    answer: String,
}

/// A unit answers an appeal routed to it: `{"answer": "…"}`; the user is mailed the answer.
async fn answer_appeal<S: Store>(
    State(state): State<Arc<HttpState<S>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<AnswerBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Problem> {
    let unit = unit_of(&state, bearer(&headers)).await?;
    let not_found = || problem(StatusCode::NOT_FOUND, "not_found", "没有这个申诉编号，或该申诉不由本单位答复");
    let id = id.parse::<crate::model::AppealId>().map_err(|_| not_found())?;
    let body = match body {
        Ok(Json(body)) => body,
        // Over the route's body limit: said so, with the limit, not taken for bad JSON.
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let limit = format!("答复请求体超过 {} KB：答复内容不超过 4000 字", APPEAL_MAX_BYTES >> 10);
            return Err(problem(StatusCode::PAYLOAD_TOO_LARGE, "too_large", &limit));
        }
        Err(_) => return Err(problem(StatusCode::BAD_REQUEST, "not_json", "请求体应为 JSON：{\"answer\": \"答复内容\"}")),
    };
    match appeals::answer(&*state.store, id, &Answerer::Unit(unit), &body.answer, crate::clock::now()).await {
        Ok(Answered::Done) => Ok(Json(json!({ "appeal": id, "status": "answered" })).into_response()),
        Ok(Answered::NotFound) => Err(not_found()),
        Ok(Answered::AlreadyAnswered) => Err(problem(StatusCode::CONFLICT, "already_answered", "该申诉已经答复")),
        Ok(Answered::Refused(e)) => {
            let code = if e.code == crate::model::ErrorCode::TooLarge { "too_large" } else { "empty_text" };
            Err(problem(StatusCode::BAD_REQUEST, code, &e.message))
        }
        Err(e) => Err(store_unavailable(&e)),
    }
}
