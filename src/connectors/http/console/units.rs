//! Registered units and their contacts: the list, one unit's page, and a contact change (a unit's own as its Art. 21 report).

use super::*;

pub(super) fn routes<S: Store + UserStore + ConsoleStore + JobStore>() -> Router<Arc<HttpState<S>>> {
    Router::new()
        .route("/console/units", get(units_page::<S>))
        .route("/api/v1/units", get(units_json::<S>))
        .route("/console/units/{code}", get(unit_page::<S>).post(unit_save::<S>))
}

/// The most a contact's name, phone or address may hold.
const CONTACT_FIELD_CHARS: usize = 200;

/// What is wrong with a typed field, if anything: characters the browser could not send as
/// UTF-8 (the form decoder turns them into U+FFFD), or more than `max` characters. Refused,
/// never cut or stored mangled.
pub(super) fn field_problem(value: &str, max: usize) -> Option<String> {
    let n = value.chars().count();
    if value.contains('\u{FFFD}') {
        Some("含有无法识别的字符（请以 UTF-8 提交）".to_string())
    } else if value.chars().any(crate::model::breaks_a_line) {
        Some("只能是一行：不能含有换行、控制字符或改变文字方向的字符".to_string())
    } else if n > max {
        Some(format!("最多 {max} 个字，现有 {n} 个字"))
    } else {
        None
    }
}

/// The units a viewer may see: all for CNCERT and CSB, a province's for its bureau, its own for a unit.
fn units_in_scope(scope: &Scope, units: Vec<crate::model::Unit>) -> Vec<crate::model::Unit> {
    units
        .into_iter()
        .filter(|u| match scope {
            Scope::All => true,
            Scope::Province(p) => u.province == crate::model::Region::Province(*p),
            Scope::Units(us) => us.contains(&u.code),
        })
        .collect()
}

fn unit_view(u: &crate::model::Unit) -> serde_json::Value {
    json!({
        "code": u.code.to_string(), "name": u.name, "type_zh": u.unit_type.label_zh(),
        "province": match u.province { crate::model::Region::Province(p) => p.name_zh().to_string(), crate::model::Region::National => "全国".to_string() },
        "important": u.important,
        "contacts": u.contacts.iter().map(|c| json!({ "role": c.role, "role_zh": c.role.label_zh(), "name": c.name,
            "phone": c.phone, "email": c.email.as_ref().map(|e| e.as_str().to_string()) })).collect::<Vec<_>>(),
    })
}

async fn units_json<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    ApiViewer(viewer): ApiViewer,
) -> Response {
    match state.store.units().await {
        Ok(units) => Json(units_in_scope(&viewer.scope(), units).iter().map(unit_view).collect::<Vec<_>>()).into_response(),
        Err(e) => super::super::store_unavailable(&e).into_response(),
    }
}

async fn units_page<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
) -> Response {
    match state.store.units().await {
        Ok(units) => {
            let list: Vec<_> = units_in_scope(&viewer.scope(), units).iter().map(unit_view).collect();
            viewer_page(&state, &viewer, StatusCode::OK, "console/units.html", json!({ "units": list }))
        }
        Err(e) => super::super::store_unavailable(&e).into_response(),
    }
}

/// Who may change a unit's contacts: CNCERT and CSB any unit's; a unit its own (Art. 21 [通报办法]).
fn may_edit_unit(viewer: &Viewer, code: &crate::model::UnitCode) -> bool {
    match &viewer.role {
        Role::Cncert | Role::Csb => true,
        Role::Unit(own) => own == code,
        Role::Bureau(_) => false,
    }
}

async fn unit_page<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
    Path(code): Path<String>,
) -> Response {
    unit_form(&state, &viewer, &code, None, StatusCode::OK).await
}

async fn unit_form<S: Store + UserStore + ConsoleStore + JobStore>(
    state: &HttpState<S>,
    viewer: &Viewer,
    code: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let units = match state.store.units().await {
        Ok(u) => u,
        Err(e) => return super::super::store_unavailable(&e).into_response(),
    };
    let Some(unit) =
        code.parse::<crate::model::UnitCode>().ok().and_then(|c| units_in_scope(&viewer.scope(), units).into_iter().find(|u| u.code == c))
    else {
        return not_found_page(state, viewer);
    };
    let roles = [crate::model::ContactRole::Leader, crate::model::ContactRole::DepartmentHead, crate::model::ContactRole::Contact];
    let rows: Vec<_> = roles
        .iter()
        .map(|r| {
            let c = unit.contacts.iter().find(|c| c.role == *r);
            json!({ "role": r, "role_zh": r.label_zh(), "name": c.map(|c| c.name.clone()).unwrap_or_default(),
                    "phone": c.and_then(|c| c.phone.clone()).unwrap_or_default(),
                    "email": c.and_then(|c| c.email.as_ref().map(|e| e.as_str().to_string())).unwrap_or_default() })
        })
        .collect();
    viewer_page(
        state,
        viewer,
        status,
        "console/unit.html",
        json!({ "unit": unit_view(&unit), "rows": rows,
                "may_edit": may_edit_unit(viewer, &unit.code), "as_report": matches!(viewer.role, Role::Unit(_)), "error": error }),
    )
}

/// Saves a unit's contacts: a unit's own change is submitted as its contact_update report
/// (Art. 21: it has 3 working days to report a change, and the report is its record); CNCERT's
/// or CSB's edit updates the registry directly, audited as an import.
async fn unit_save<S: Store + UserStore + ConsoleStore + JobStore>(
    State(state): State<Arc<HttpState<S>>>,
    PageViewer(viewer): PageViewer,
    Path(code): Path<String>,
    form: Result<Form<std::collections::HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else { return (StatusCode::BAD_REQUEST, "not a form").into_response() };
    if !csrf_matches(&viewer, form.get("csrf").map(String::as_str)) {
        return (StatusCode::FORBIDDEN, "CSRF token missing or wrong").into_response();
    }
    let Ok(code) = code.parse::<crate::model::UnitCode>() else { return (StatusCode::NOT_FOUND, "没有这个单位").into_response() };
    if !may_edit_unit(&viewer, &code) {
        return forbidden_page(&state, &viewer);
    }
    // What each field holds, checked before anything is stored: a browser sends UTF-8, and a
    // name or address of more than CONTACT_FIELD_CHARS is a mistake, not a contact.
    let mut contacts = Vec::new();
    let mut labels = Vec::new();
    for (role, label) in [("leader", "主管领导"), ("department_head", "责任部门负责人"), ("contact", "联系人")] {
        let field = |f: &str, what: &str| -> Result<Option<String>, String> {
            let value = form.get(&format!("{role}_{f}")).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
            match value.as_deref().and_then(|v| field_problem(v, CONTACT_FIELD_CHARS)) {
                Some(problem) => Err(format!("{label}{what}：{problem}")),
                None => Ok(value),
            }
        };
        let (name, phone, email) = match (field("name", "姓名"), field("phone", "电话"), field("email", "电子邮件")) {
            (Ok(n), Ok(p), Ok(e)) => (n, p, e),
            (Err(why), ..) | (_, Err(why), _) | (.., Err(why)) => {
                return unit_form(&state, &viewer, code.as_str(), Some(why), StatusCode::BAD_REQUEST).await;
            }
        };
        if name.is_none() && phone.is_none() && email.is_none() {
            continue;
        }
        contacts.push(json!({ "role": role, "name": name.unwrap_or_default(), "phone": phone, "email": email }));
        labels.push(label);
    }
    if contacts.is_empty() {
        return unit_form(&state, &viewer, code.as_str(), Some("请至少填写一位联系人".into()), StatusCode::BAD_REQUEST).await;
    }
    let now = crate::clock::now();
    if let Role::Unit(own) = &viewer.role {
        // A unit's page has no name field: a name posted anyway is a rename, which is no
        // contact change (Art. 21 [通报办法]) and is not dropped without a word.
        if form.get("name").is_some_and(|n| !n.trim().is_empty()) {
            let why = "单位名称不能在此修改：联系方式变更只更新联系人；单位名称的变更请联系 CNCERT 办理".to_string();
            return unit_form(&state, &viewer, own.as_str(), Some(why), StatusCode::BAD_REQUEST).await;
        }
        // The unit's own report of the change, through intake like any other report.
        let report = json!({ "kind": "contact_update", "discovered_at": now.to_rfc3339(), "content": { "contacts": contacts } });
        let sub = crate::model::Submission::by_content(
            crate::model::Channel::Upload,
            crate::model::submission::Sender::Unit(own.clone()),
            serde_json::to_vec(&report).unwrap_or_default(),
            now,
        );
        return match state.intake.submit(sub).await {
            Ok(r) if r.errors.is_empty() => Redirect::to(&format!("/console/units/{own}")).into_response(),
            Ok(r) => {
                // `/content/contacts/1/email` means the second contact given: named as the form names it.
                let place = |p: &str| -> String {
                    let mut parts = p.trim_start_matches("/content/contacts/").splitn(2, '/');
                    let who = parts.next().and_then(|i| i.parse::<usize>().ok()).and_then(|i| labels.get(i));
                    let what = match parts.next() {
                        Some("name") => "姓名",
                        Some("phone") => "电话",
                        Some("email") => "电子邮件",
                        _ => "",
                    };
                    who.map_or_else(String::new, |w| format!("{w}{what}"))
                };
                let why = r
                    .errors
                    .iter()
                    .map(|e| match (place(&e.place), e.message.strip_prefix(e.place.as_str())) {
                        (named, Some(rest)) if !named.is_empty() => format!("{named}{rest}"),
                        _ => e.message.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join("；");
                unit_form(&state, &viewer, own.as_str(), Some(why), StatusCode::BAD_REQUEST).await
            }
            Err(e) => {
                tracing::warn!(error = %e, "contact update not stored");
                (StatusCode::SERVICE_UNAVAILABLE, "暂时无法保存，请稍后重试").into_response()
            }
        };
    }
    let units = match state.store.units().await {
        Ok(u) => u,
        Err(e) => return super::super::store_unavailable(&e).into_response(),
    };
    let Some(mut unit) = units.iter().find(|u| u.code == code).cloned() else {
        return (StatusCode::NOT_FOUND, "没有这个单位").into_response();
    };
    let parsed: Result<Vec<crate::model::Contact>, _> = serde_json::from_value(serde_json::Value::Array(contacts));
    match parsed {
        Ok(contacts) => unit.contacts = contacts,
        Err(e) => return unit_form(&state, &viewer, code.as_str(), Some(format!("联系人信息不正确：{e}")), StatusCode::BAD_REQUEST).await,
    }
    if let Some(name) = form.get("name").map(|n| n.trim()).filter(|n| !n.is_empty()) {
        unit.name = name.chars().take(200).collect();
    }
    // The same rule a unit's own change meets in intake: never the hub's own mailbox (a mail
    // loop), never another unit's (it would speak for that unit), however the address is cased
    // or `+tag`ged.
    let fold = crate::model::appeal::fold_mailbox;
    let hub = &state.intake.engine().policy.hub_addresses;
    for email in unit.emails() {
        let folded = fold(email.as_str());
        let at_hubs_domain = hub.iter().any(|a| crate::model::appeal::within_domain_of(&folded, a));
        let why = if hub.iter().any(|a| fold(a) == folded) || (at_hubs_domain && !unit.unit_type.is_authority()) {
            Some(format!("{}：不能登记通报中心自己的发信地址或其所在域的邮箱", email.as_str()))
        } else {
            units
                .iter()
                .find(|other| other.code != unit.code && other.emails().any(|e| fold(e.as_str()) == folded))
                .map(|other| format!("{}：该邮箱已登记为 {} 的联系人", email.as_str(), other.code))
        };
        if let Some(why) = why {
            return unit_form(&state, &viewer, code.as_str(), Some(why), StatusCode::BAD_REQUEST).await;
        }
    }
    match state.store.import_units(std::slice::from_ref(&unit), now).await {
        Ok(_) => {
            tracing::info!(unit = %code, by = %viewer.name, "unit edited in the console");
            Redirect::to(&format!("/console/units/{code}")).into_response()
        }
        Err(e) => super::super::store_unavailable(&e).into_response(),
    }
}
