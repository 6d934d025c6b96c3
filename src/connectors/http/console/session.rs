//! Console sessions: the login page and form (with its per-account and per-address limits and CSRF), and logout.

use super::*;

pub(super) fn routes<S: Store + UserStore + ConsoleStore + JobStore>() -> Router<Arc<HttpState<S>>> {
    Router::new()
        .route("/login", get(login_page::<S>).post(login::<S>).layer(axum::extract::DefaultBodyLimit::max(LOGIN_MAX_BYTES)))
        .route("/logout", post(logout::<S>))
}

/// A login form's largest body: a name and a password, with room to spare.
const LOGIN_MAX_BYTES: usize = 8 * 1024;

async fn login_page<S: Store + UserStore>(State(state): State<Arc<HttpState<S>>>, headers: HeaderMap) -> Response {
    if viewer(&state, &headers, false).await.is_ok() {
        return Redirect::to("/console").into_response();
    }
    render(&state, "console/login.html", json!({ "error": null, "name": "" }))
}

#[derive(serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// Checks the password (on a blocking thread: argon2 takes tens of milliseconds on purpose);

/// a wrong name and a wrong password get the same answer after the same work.
async fn login<S: Store + UserStore>(
    State(state): State<Arc<HttpState<S>>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => {
            // Said on the login page, in Chinese, like every other refusal here.
            let (status, error) = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                (StatusCode::PAYLOAD_TOO_LARGE, format!("登录表单超过 {} KB，请只填写用户名和密码", LOGIN_MAX_BYTES >> 10))
            } else {
                (StatusCode::BAD_REQUEST, "登录表单无法读取：请通过本页面的表单提交用户名和密码".to_string())
            };
            let mut page = render(&state, "console/login.html", json!({ "error": error, "name": "" }));
            *page.status_mut() = status;
            return page;
        }
    };
    // The login form carries no session to bind a CSRF token to: a post another site's page
    // made (which would log the victim in as the attacker) is told apart by what the browser
    // says of it.
    if cross_site(&headers) {
        return (StatusCode::FORBIDDEN, "拒绝来自其他网站的登录请求：请直接打开本系统的登录页登录").into_response();
    }
    let refuse = |status: StatusCode, error: &str| {
        let mut page =
            render(&state, "console/login.html", json!({ "error": error, "name": form.name.chars().take(64).collect::<String>() }));
        *page.status_mut() = status;
        page
    };
    if !state.logins.allow(form.name.trim(), peer.ip()) {
        let mut page = refuse(StatusCode::TOO_MANY_REQUESTS, "登录尝试过多，请一分钟后再试");
        page.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return page;
    }
    let user = match form.name.trim().parse::<UserName>() {
        Ok(name) => match state.store.user(&name).await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "store unavailable for a login");
                return refuse(StatusCode::SERVICE_UNAVAILABLE, "存储暂时不可用，请稍后重试");
            }
        },
        Err(_) => None,
    };
    let hash = user.as_ref().map_or_else(|| auth::decoy_hash().to_string(), |u| u.password_hash.clone());
    let password = form.password.clone();
    // A few hashes at a time: each takes 19 MiB and tens of milliseconds of a core.
    let lane = if state.logins.knows(form.name.trim(), peer.ip()) { &state.known_login_hashes } else { &state.login_hashes };
    let Ok(_slot) = lane.acquire().await else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "服务正在停止");
    };
    let matches = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash)).await.unwrap_or(false);
    let Some(user) = user.filter(|_| matches) else {
        tracing::info!(user = %form.name.chars().take(64).collect::<String>(), address = %peer.ip(), "console login refused");
        return refuse(StatusCode::UNAUTHORIZED, "用户名或密码不正确");
    };
    state.logins.succeeded(form.name.trim(), peer.ip());
    let (cookie, id_hash) = state.session_key.new_session();
    let now = crate::clock::now();
    if let Err(e) = state.store.open_session(&id_hash, &user.name, now, now + chrono::Duration::hours(SESSION_HOURS)).await {
        tracing::warn!(error = %e, "store unavailable for a login");
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "存储暂时不可用，请稍后重试");
    }
    tracing::info!(user = %user.name, role = %user.role, address = %peer.ip(), "console login");
    let mut r = Redirect::to("/console").into_response();
    let set = format!("{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}", SESSION_HOURS * 3600, secure(&headers));
    r.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&set).expect("the cookie is ASCII"));
    r
}

/// Whether the browser says the request came from another site (`Sec-Fetch-Site`), or its
/// `Origin` names another host than the one it was sent to.
fn cross_site(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if text("sec-fetch-site") == Some("cross-site") {
        return true;
    }
    match (text("origin"), text("host")) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, h)| h) != Some(host),
        _ => false,
    }
}

/// `; Secure` unless the console is reached on a loopback address (where the hub itself speaks
/// plain HTTP): behind the TLS proxy the cookie never travels in the clear.
fn secure(headers: &HeaderMap) -> &'static str {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let name = host.rsplit_once(':').filter(|(h, port)| !h.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h);
    let loopback = name == "localhost" || name.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback { "" } else { "; Secure" }
}

/// Ends the session (only with the session's CSRF token, so no other site can log anyone out).
async fn logout<S: Store + UserStore>(
    State(state): State<Arc<HttpState<S>>>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    // A post that is no form carries no token: refused like one without it.
    let token = form.map(|Form(f)| f.csrf).unwrap_or_default();
    let Some(hash) = session_cookie(&headers).and_then(|c| state.session_key.open(c)) else {
        return Redirect::to("/login").into_response();
    };
    if !state.session_key.csrf_ok(&hash, &token) {
        return (StatusCode::FORBIDDEN, "CSRF token missing or wrong").into_response();
    }
    if let Err(e) = state.store.close_session(&hash, crate::clock::now()).await {
        tracing::warn!(error = %e, "store unavailable for a logout");
        return unavailable_page(&state);
    }
    let mut r = Redirect::to("/login").into_response();
    let clear = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}", secure(&headers));
    r.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&clear).expect("ASCII"));
    r
}
