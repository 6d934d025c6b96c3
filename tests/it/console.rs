//! The web console over real HTTP on loopback with curl and its cookie jar: logins, sessions, CSRF, login limits, and every console route walked with every role, on SQLite and on PostgreSQL.

use super::helpers::{Backend, Lib, botnet, event};
use serde_json::Value;
use std::process::Command;
use tongbao::connectors::http::auth::hash_password;
use tongbao::connectors::http::{HttpState, new_token, serve_behind};
use tongbao::model::submission::sha256_hex;
use tongbao::model::{Role, User};
use tongbao::store::{ReportFilter, Store, UserStore};

const PASSWORD: &str = "correct horse battery";

/// Every role the console knows, as a user named after it.
const ROLES: [(&str, &str); 6] =
    [("cert", "cncert"), ("csb", "csb"), ("gd", "bureau:GD"), ("bj", "bureau:BJ"), ("ctgd", "unit:CT-GD"), ("idcbj", "unit:IDC-BJ")];

struct Console {
    base: String,
    jars: tempfile::TempDir,
    /// CT-GD's upload token.
    token: String,
    lib: Lib,
}

impl Console {
    fn jar(&self, user: &str) -> String {
        self.jars.path().join(user).display().to_string()
    }

    /// curl with `user`'s cookie jar (read and written); the status and the body.
    async fn curl(&self, user: &str, args: &[&str]) -> (u16, String) {
        let jar = self.jar(user);
        let mut all: Vec<String> =
            vec!["-s".into(), "-o".into(), "-".into(), "-w".into(), "\n%{http_code}".into(), "-b".into(), jar.clone(), "-c".into(), jar];
        all.extend(args.iter().map(|a| a.to_string()));
        tokio::task::spawn_blocking(move || {
            let out = Command::new("curl").args(&all).output().expect("curl");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
            (code.trim().parse().unwrap_or(0), body.to_string())
        })
        .await
        .unwrap()
    }

    async fn login(&self, user: &str, password: &str) -> u16 {
        let url = format!("{}/login", self.base);
        self.curl(user, &["--data-urlencode", &format!("name={user}"), "--data-urlencode", &format!("password={password}"), &url]).await.0
    }

    async fn get(&self, user: &str, path: &str) -> (u16, String) {
        self.curl(user, &[&format!("{}{path}", self.base)]).await
    }

    async fn dashboard(&self, user: &str) -> Value {
        let (code, text) = self.get(user, "/api/v1/dashboard").await;
        assert_eq!(code, 200, "{user}: {text}");
        serde_json::from_str(&text).unwrap()
    }
}

async fn console(backend: Backend) -> Console {
    console_with(Lib::on(backend).await).await
}

async fn console_with(lib: Lib) -> Console {
    console_behind(lib, Vec::new()).await
}

/// The console served behind these trusted reverse proxies.
async fn console_behind(lib: Lib, proxies: Vec<ipnet::IpNet>) -> Console {
    let now = chrono::Utc::now();
    for (name, role) in ROLES {
        let user = User { name: name.parse().unwrap(), role: role.parse::<Role>().unwrap(), password_hash: hash_password(PASSWORD) };
        assert!(lib.store.put_user(&user, false, now).await.unwrap());
    }
    let token = new_token();
    lib.store.issue_token(&"CT-GD".parse().unwrap(), &sha256_hex(token.as_bytes()), now).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = HttpState::new(lib.store.clone(), lib.intake.clone(), 8 << 20);
    tokio::spawn(async move { serve_behind(listener, state, proxies, std::future::pending()).await.unwrap() });
    Console { base, jars: tempfile::tempdir().unwrap(), token, lib }
}

/// Reports of two provinces, received now, so that the dashboard has today's reports and
/// obligations due soon and overdue on both sides.
async fn seed(c: &Console) {
    let now = chrono::Utc::now();
    let ago = |h: i64| (now - chrono::Duration::hours(h)).to_rfc3339();
    for (unit, grade, province) in
        [("CT-GD", "major", "GD"), ("CT-GD", "large", "GD"), ("IDC-BJ", "major", "BJ"), ("IDC-BJ", "general", "BJ")]
    {
        let mut report = event(grade, &ago(30));
        report["provinces"] = serde_json::json!([province]);
        let r = c.lib.submit(unit, report, &ago(1)).await;
        assert!(r.errors.is_empty(), "{:?}", r.errors);
    }
}

/// Runs a playwright-core script of `tests/browser/` with `args` in headless Chromium; what it
/// printed last, as JSON.
pub(crate) async fn browser(script: &str, args: Vec<String>) -> Value {
    let chromium = std::env::var("TONGBAO_TEST_CHROMIUM").expect("TONGBAO_TEST_CHROMIUM is not set: run the tests through ./scripts/test");
    let modules =
        std::env::var("TONGBAO_TEST_NODE_MODULES").expect("TONGBAO_TEST_NODE_MODULES is not set: scripts/test installs playwright-core");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser").join(script);
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .args(args)
            .env("NODE_PATH", &modules)
            .env("TONGBAO_TEST_CHROMIUM", chromium)
            .output()
            .expect("run node")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the browser script failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// A folder for a browser test's screenshots, kept in the build's temporary folder.
pub(crate) fn screenshots(test: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screens").join(test);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A query value as a form sends it.
fn form_encode(v: &str) -> String {
    v.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fn actors(d: &Value, section: &str) -> Vec<String> {
    d[section]["items"].as_array().unwrap().iter().map(|o| o["actor"].as_str().unwrap().to_string()).collect()
}

async fn a_user_logs_in_sees_the_dashboard_and_logs_out(backend: Backend) {
    let c = console(backend).await;
    seed(&c).await;
    // Without a session, pages send the browser to the login page and the API answers 401.
    let (code, _) = c.get("ctgd", "/console").await;
    assert_eq!(code, 303);
    assert_eq!(c.get("ctgd", "/api/v1/dashboard").await.0, 401);
    assert_eq!(c.login("ctgd", "wrong password!").await, 401);
    assert_eq!(c.get("ctgd", "/console").await.0, 303, "a failed login opens no session");

    assert_eq!(c.login("ctgd", PASSWORD).await, 303);
    let cookies = std::fs::read_to_string(c.jar("ctgd")).unwrap();
    assert!(cookies.contains("#HttpOnly_") && cookies.contains("tongbao_session"), "HttpOnly session cookie: {cookies}");
    let (code, page) = c.get("ctgd", "/console").await;
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("总览") && page.contains("单位 CT-GD"), "{page}");
    let d = c.dashboard("ctgd").await;
    assert_eq!(d["today"]["total"], 2, "CT-GD's two reports of today: {d}");
    // A login form far too large is refused on the login page, in Chinese.
    let big = format!("name={}", "x".repeat(20_000));
    let (code, page_413) = c.curl("stranger", &["--data", &big, &format!("{}/login", c.base)]).await;
    assert_eq!(code, 413, "{page_413}");
    assert!(page_413.contains("登录表单超过 8 KB"), "{page_413}");
    // Pages are never cached or framed, and run no script from elsewhere.
    let (_, headed) = c.curl("ctgd", &["-D", "-", &format!("{}/console", c.base)]).await;
    let head = headed.to_ascii_lowercase();
    for want in [
        "cache-control: no-store",
        "x-frame-options: deny",
        "content-security-policy: default-src 'self'",
        "frame-ancestors 'none'",
        "x-content-type-options: nosniff",
    ] {
        assert!(head.contains(want), "{want} in {}", &head[..head.len().min(600)]);
    }
    // CNCERT, which keeps the calendar, is told on every page while a year's holiday schedule
    // it should have is missing (this year's, or from November next year's); a unit is not.
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let missing = tongbao::rules::Calendar::builtin().schedule_missing(today);
    assert_eq!(c.login("cert", PASSWORD).await, 303);
    let (_, cert_page) = c.get("cert", "/console").await;
    assert_eq!(cert_page.contains("节假日安排尚未导入"), missing.is_some(), "{missing:?}: {cert_page}");
    assert!(!page.contains("节假日安排尚未导入"), "units are not asked to import calendars");

    // Logout needs the session's CSRF token.
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("a CSRF field").to_string();
    let logout = format!("{}/logout", c.base);
    assert_eq!(c.curl("ctgd", &["-X", "POST", &logout]).await.0, 403, "no token");
    assert_eq!(c.curl("ctgd", &["--data", "csrf=0000", &logout]).await.0, 403, "a wrong token");
    assert_eq!(c.get("ctgd", "/console").await.0, 200, "still logged in");
    assert_eq!(c.curl("ctgd", &["--data", &format!("csrf={csrf}"), &logout]).await.0, 303);
    assert_eq!(c.get("ctgd", "/console").await.0, 303, "logged out");

    // A login posted from another site's page is refused; behind a proxy (not loopback) the
    // cookie is Secure.
    let login_url = format!("{}/login", c.base);
    let form = ["--data-urlencode", "name=ctgd", "--data-urlencode", &format!("password={PASSWORD}")];
    for header in ["Origin: https://evil.example", "Sec-Fetch-Site: cross-site", "Origin: null"] {
        let mut args = vec!["-H", header];
        args.extend(form);
        args.push(&login_url);
        assert_eq!(c.curl("crosssite", &args).await.0, 403, "{header}");
    }
    let (code, headers) =
        c.curl("proxied", &["-D", "-", "-H", "Host: tongbao.cncert.example", form[0], form[1], form[2], form[3], &login_url]).await;
    assert_eq!(code, 303, "{headers}");
    assert!(headers.to_ascii_lowercase().contains("; secure"), "{headers}");
    let (code, headers) = c.curl("loopback", &["-D", "-", form[0], form[1], form[2], form[3], &login_url]).await;
    assert_eq!(code, 303, "{headers}");
    assert!(
        headers.contains("tongbao_session=") && !headers.to_ascii_lowercase().contains("; secure"),
        "plain HTTP on loopback: {headers}"
    );

    // A cookie whose signature was tampered with opens nothing.
    assert_eq!(c.login("csb", PASSWORD).await, 303);
    let jar = std::fs::read_to_string(c.jar("csb")).unwrap();
    let value = jar.lines().find(|l| l.contains("tongbao_session")).unwrap().split('\t').next_back().unwrap().to_string();
    let (id, sig) = value.split_once('.').unwrap();
    let forged = format!("tongbao_session={id}.{}", sig.chars().rev().collect::<String>());
    let (code, _) = c.curl("nobody", &["-H", &format!("Cookie: {forged}"), &format!("{}/api/v1/dashboard", c.base)]).await;
    assert_eq!(code, 401);
    // Removing a user ends their sessions at once.
    c.lib.store.remove_user(&"csb".parse().unwrap(), chrono::Utc::now()).await.unwrap();
    assert_eq!(c.get("csb", "/api/v1/dashboard").await.0, 401);
}

async fn logins_are_rate_limited_per_account(backend: Backend) {
    let c = console(backend).await;
    let mut codes = Vec::new();
    for _ in 0..7 {
        codes.push(c.login("gd", "not the password").await);
    }
    assert_eq!(codes[..5], [401; 5], "{codes:?}");
    assert_eq!(codes[5..], [429; 2], "{codes:?}");
    assert_eq!(c.login("gd", PASSWORD).await, 429, "even the right password waits from the address that guessed");
    assert_eq!(c.login("bj", PASSWORD).await, 303, "another account is not limited");
    assert_eq!(c.login("nosuchuser", "whatever password").await, 401, "an unknown name gets the wrong-password answer");
}

/// Behind a trusted reverse proxy each client's logins are limited by its own address (from
/// `X-Forwarded-For`), so one client's wrong passwords do not lock out the others; an address a
/// client writes into the header itself does not help it.
async fn behind_a_trusted_proxy_logins_are_limited_per_client(backend: Backend) {
    let c = console_behind(Lib::on(backend).await, vec!["127.0.0.1/32".parse().unwrap()]).await;
    let url = format!("{}/login", c.base);
    let login = async |client: &str, user: &str, password: &str| {
        let forwarded = format!("X-Forwarded-For: {client}");
        let (name, password) = (format!("name={user}"), format!("password={password}"));
        c.curl("proxy", &["-H", &forwarded, "--data-urlencode", &name, "--data-urlencode", &password, &url]).await.0
    };
    // Wrong passwords from one client, each for another account so no account's own limit is
    // reached: its 20 a minute, then 429 (the limit refills one every 3 s, so on a slow machine
    // a few more may pass before it).
    let mut codes = Vec::new();
    while codes.last() != Some(&429) && codes.len() < 60 {
        codes.push(login("198.51.100.7", &format!("guess{}", codes.len()), "not the password").await);
    }
    assert!(codes.len() > 20 && codes[..codes.len() - 1].iter().all(|&c| c == 401), "{codes:?}");
    assert_eq!(codes.last(), Some(&429), "the client's own limit: {codes:?}");
    assert_eq!(login("203.0.113.10, 198.51.100.7", "bj", PASSWORD).await, 429, "the limited client, whatever it writes before its address");
    assert_eq!(login("203.0.113.9", "gd", PASSWORD).await, 303, "another client behind the same proxy logs in");
    // A stranger guessing at an account is throttled at their own address; the account's owner
    // still logs in from theirs (no lock-out by strangers).
    let guesses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..7 {
            v.push(login("192.0.2.66", "bj", "not the password").await);
        }
        v
    };
    assert_eq!(guesses[5..], [429, 429], "{guesses:?}");
    assert_eq!(login("203.0.113.20", "bj", PASSWORD).await, 303, "the owner, from their own address");
}

/// Every console route of the OpenAPI file (which `http::the_openapi_file_describes_every_route_and_only_those`
/// keeps in step with the router), each method, with every role and none: each answers what the
/// role may have (403 or 404 otherwise, never a 5xx), a POST with the role's own CSRF token is
/// refused where the role may not act, no answer holds a report the role may not see, and each
/// role's dashboard holds only what it may see.
async fn every_console_route_answers_every_role_within_its_scope(backend: Backend) {
    let c = console(backend).await;
    seed(&c).await;
    for (user, _) in ROLES {
        assert_eq!(c.login(user, PASSWORD).await, 303, "{user}");
    }
    let all = c.dashboard("cert").await;
    assert_eq!(all["today"]["total"], 4, "{all}");
    assert_eq!(c.dashboard("csb").await["today"]["total"], 4);
    assert!(all["outbox_backlog"].is_array());
    let seen = [actors(&all, "due_soon"), actors(&all, "overdue")].concat();
    assert!(seen.iter().any(|a| a == "unit:CT-GD") && seen.iter().any(|a| a == "unit:IDC-BJ"), "both units have duties: {seen:?}");

    for (user, own) in [("ctgd", "unit:CT-GD"), ("idcbj", "unit:IDC-BJ")] {
        let d = c.dashboard(user).await;
        assert_eq!(d["today"]["total"], 2, "{user}: {d}");
        let seen = [actors(&d, "due_soon"), actors(&d, "overdue")].concat();
        assert!(!seen.is_empty() && seen.iter().all(|a| a == own), "{user} sees only its own duties: {seen:?}");
        assert_eq!(d["outbox_backlog"], serde_json::json!([]), "a unit sees no operations figures");
    }
    for (user, province) in [("gd", "GD"), ("bj", "BJ")] {
        let d = c.dashboard(user).await;
        assert_eq!(d["today"]["total"], 2, "{user}: {d}");
        for section in ["due_soon", "overdue"] {
            for o in d[section]["items"].as_array().unwrap() {
                let report = o["report_id"].as_str().map(|r| r.parse().unwrap());
                let of_province = match report {
                    Some(r) => {
                        c.lib.store.report(r, None).await.unwrap().unwrap().report.content.provinces.iter().any(|p| p.code() == province)
                    }
                    None => false,
                };
                let to_it = o["actor"] == format!("bureau:{province}");
                assert!(of_province || to_it, "{user} sees {o} of another province");
            }
        }
    }
    // A unit's upload token reads its own dashboard through the API, and no page.
    let bearer = format!("Authorization: Bearer {}", c.token);
    let (code, text) = c.curl("token", &["-H", &bearer, &format!("{}/api/v1/dashboard", c.base)]).await;
    assert_eq!(code, 200, "{text}");
    let d: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((d["viewer"]["role"].as_str(), d["today"]["total"].as_i64()), (Some("unit:CT-GD"), Some(2)));
    assert_eq!(c.curl("token", &["-H", &bearer, &format!("{}/console", c.base)]).await.0, 303, "a token opens no page");

    // The walk, after the figures above: an upload it confirms adds a report of today's.
    let csrf_of =
        |page: &str| page.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("a CSRF field").to_string();
    let mut csrf = std::collections::HashMap::new();
    for (user, _) in ROLES {
        csrf.insert(user, csrf_of(&c.get(user, "/console").await.1));
    }
    csrf.insert("anonymous", "none".to_string());
    // The subjects: Guangdong's reports (CT-GD's), Beijing's (IDC-BJ's), a draft of CT-GD's upload.
    let (gd_major, gd_large) = (report_of(&c, "CT-GD", "major").await, report_of(&c, "CT-GD", "large").await);
    let (bj_major, bj_general) = (report_of(&c, "IDC-BJ", "major").await, report_of(&c, "IDC-BJ", "general").await);
    let form = tempfile::NamedTempFile::with_suffix(".xlsx").unwrap();
    std::fs::write(form.path(), form_with_one_bad_cell()).unwrap();
    let url = format!("{}/console/upload", c.base);
    let (_, preview) =
        c.curl("ctgd", &["-F", &format!("csrf={}", csrf["ctgd"]), "-F", &format!("file=@{}", form.path().display()), &url]).await;
    let draft = preview.split("/console/upload/").nth(1).and_then(|s| s.split('/').next()).expect("a draft").to_string();
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    // What each role may not see: the other province's reports.
    let hidden = |user: &str| -> Vec<&String> {
        match user {
            "bj" | "idcbj" => vec![&gd_major, &gd_large],
            "gd" | "ctgd" => vec![&bj_major, &bj_general],
            _ => vec![],
        }
    };

    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/openapi.json")).unwrap()).unwrap();
    // Routes answered with a unit's token rather than a console session; `http` tests them.
    let token_routes = ["/api/v1/submissions", "/api/v1/appeals", "/upload", "/forms", "/appeal", "/healthz", "/readyz", "/metrics"];
    let mut walked = 0;
    for (template, methods) in spec["paths"].as_object().unwrap() {
        if token_routes.iter().any(|t| template == t || template.starts_with(&format!("{t}/"))) || template == "/logout" {
            continue;
        }
        let path = template
            .replace("{id}", &gd_major)
            .replace("{report}", &gd_major)
            .replace("{code}", "CT-GD")
            .replace("{month}", &month)
            .replace("{draft}", &draft);
        assert!(!path.contains('{'), "a parameter this walk does not fill: {template}");
        for method in methods.as_object().unwrap().keys() {
            for (user, _) in ROLES.iter().chain(&[("anonymous", "")]) {
                let user = *user;
                let (code, body) = match method.as_str() {
                    "get" => c.get(user, &path).await,
                    "post" if template == "/console/upload" => {
                        c.curl(user, &["-F", &format!("csrf={}", csrf[user]), "-F", "note=no file", &format!("{}{path}", c.base)]).await
                    }
                    // The role's own token and nothing else: an empty decision, an empty contact list.
                    "post" => c.curl(user, &["--data", &format!("csrf={}", csrf[user]), &format!("{}{path}", c.base)]).await,
                    other => panic!("a method this walk does not make: {other} {template}"),
                };
                let expected: &[u16] = match (user, method.as_str(), template.as_str()) {
                    ("anonymous", "get", "/login") => &[200],
                    // Logins have their own tests; these empty ones also meet the address's limit.
                    ("anonymous", "post", "/login") => &[400, 401, 429],
                    (_, "get", "/login") => &[303],
                    (_, "post", "/login") => &[400, 401, 429],
                    ("anonymous", _, t) if t.starts_with("/api/") => &[401],
                    ("anonymous", _, _) => &[303],
                    ("cert" | "csb", "get", "/console/review" | "/api/v1/reviews" | "/console/review/{report}") => &[200],
                    (_, "get", "/console/review" | "/api/v1/reviews" | "/console/review/{report}") => &[403],
                    ("csb", "post", "/console/review/{report}") => &[400],
                    (_, "post", "/console/review/{report}") => &[403],
                    ("ctgd" | "idcbj", _, t) if t.starts_with("/console/digest") || t == "/api/v1/digest" => &[403],
                    (_, "get", t) if t.starts_with("/console/digest") || t == "/api/v1/digest" => &[200],
                    ("ctgd" | "idcbj", "get", "/console/upload") => &[200],
                    ("ctgd" | "idcbj", "post", "/console/upload") => &[400],
                    (_, _, "/console/upload") => &[403],
                    ("ctgd", "post", "/console/upload/{draft}/confirm") => &[303],
                    ("ctgd" | "idcbj", "get", "/console/upload/receipts/{id}") => &[404],
                    (_, "get", "/console/upload/receipts/{id}") => &[403],
                    ("idcbj", "post", "/console/upload/{draft}/confirm") => &[404],
                    (_, "post", "/console/upload/{draft}/confirm") => &[403],
                    ("bj" | "idcbj", "post", "/console/units/{code}") => &[403],
                    ("bj" | "idcbj", _, "/console/reports/{id}" | "/api/v1/reports/{id}" | "/console/units/{code}") => &[404],
                    ("cert" | "csb" | "ctgd", "get", "/console/reports/{id}/raw") => &[200],
                    (_, "get", "/console/reports/{id}/raw") => &[403, 404],
                    ("cert" | "csb" | "ctgd", "post", "/console/units/{code}") => &[400],
                    (_, "post", "/console/units/{code}") => &[403],
                    (_, "get", _) => &[200],
                    (user, method, template) => panic!("no expectation for {user} {method} {template}"),
                };
                assert!(expected.contains(&code), "{user} {method} {path}: {code}, expected {expected:?}: {body}");
                for report in hidden(user) {
                    assert!(!body.contains(report.as_str()), "{user} {method} {path} shows report {report}: {body}");
                }
                walked += 1;
            }
        }
    }
    assert!(walked >= 25 * 7, "the console routes of the OpenAPI file (28 with their methods), with every role: {walked}");
    // A path nothing serves: the console's own 404 page, the API's JSON, or the login page.
    let (code, page) = c.get("gd", "/console/no-such-page").await;
    assert!(code == 404 && page.contains("<h1>"), "{code} {page}");
    let (code, body) = c.get("gd", "/api/v1/no-such-thing").await;
    assert!(code == 404 && body.contains("\"not_found\""), "{code} {body}");
    assert_eq!(c.get("anonymous", "/console/no-such-page").await.0, 303);
    // The file as sent, named for what it is.
    let headers = c.curl("ctgd", &["-D", "-", "-o", "/dev/null", &format!("{}/console/reports/{gd_major}/raw", c.base)]).await.1;
    assert!(headers.contains("submission-") && headers.contains(".json\""), "{headers}");

    // Logging out ends the session: the next page asks for a login.
    for (user, _) in ROLES {
        assert_eq!(c.curl(user, &["--data", &format!("csrf={}", csrf[user]), &format!("{}/logout", c.base)]).await.0, 303, "{user}");
        assert_eq!(c.get(user, "/console").await.0, 303, "{user}");
    }
}

/// The id of `unit`'s report of `grade`, from the store.
async fn report_of(c: &Console, unit: &str, grade: &str) -> String {
    let reports = c.lib.store.reports(&ReportFilter { unit: Some(unit.parse().unwrap()), limit: 100, ..Default::default() }).await.unwrap();
    let r = reports.iter().find(|r| r.report.content.grade.is_some_and(|g| g.code() == grade)).unwrap_or_else(|| panic!("{unit} {grade}"));
    r.report.id.to_string()
}

/// The report list and a report's timeline, each seen by whom it may be: a unit its own, a
/// bureau its province's (without the file, which may hold other provinces' reports), CNCERT
/// and CSB everything; the rest is 404, the same as a report that does not exist.
async fn a_reports_timeline_is_shown_only_to_who_may_see_it(backend: Backend) {
    // IDC-BJ answers for 203.0.113.0/24: a botnet CT-GD reports there is IDC-BJ's to dispose of.
    let ownership = tongbao::rules::ownership::Ownership::from_toml("[[prefix]]\ncidr = \"203.0.113.0/24\"\nunit = \"IDC-BJ\"\n").unwrap();
    let engine = std::sync::Arc::new(tongbao::decision::Engine {
        calendar: tongbao::rules::Calendar::builtin(),
        policy: Default::default(),
        ownership,
    });
    let c = console_with(Lib::with_engine_on(engine, backend).await).await;
    seed(&c).await;
    for (user, _) in ROLES {
        assert_eq!(c.login(user, PASSWORD).await, 303, "{user}");
    }
    let ct = report_of(&c, "CT-GD", "major").await;
    let bj = report_of(&c, "IDC-BJ", "major").await;
    // A follow-up of CT-GD's report, and two botnets of one period, the first regraded by the second.
    let follow = event("major", &chrono::Utc::now().to_rfc3339());
    let mut follow = follow;
    follow["follows_up"] = serde_json::json!(ct);
    let now = chrono::Utc::now();
    assert!(c.lib.submit("CT-GD", follow, &now.to_rfc3339()).await.errors.is_empty());
    let found = (now - chrono::Duration::hours(1)).to_rfc3339();
    let botnet_at = |cc: &str| {
        let mut b = botnet(60_000, &[], &found);
        b["content"]["botnets"][0]["cc_ip"] = serde_json::json!(cc);
        b
    };
    let first = c.lib.submit("CT-GD", botnet_at("198.51.100.1"), &now.to_rfc3339()).await.reports[0].report_id.to_string();
    assert!(c.lib.submit("CT-GD", botnet_at("198.51.100.2"), &now.to_rfc3339()).await.errors.is_empty());

    let notified = c.lib.submit("CT-GD", botnet(1_000, &[], &found), &now.to_rfc3339()).await.reports[0].report_id.to_string();

    let api = |id: &str| format!("/api/v1/reports/{id}");
    let raw = |id: &str| format!("/console/reports/{id}/raw");
    let timeline = async |user: &str, id: &str| -> (u16, Value) {
        let (code, text) = c.get(user, &api(id)).await;
        (code, serde_json::from_str(&text).unwrap_or(Value::Null))
    };

    let (code, t) = timeline("ctgd", &ct).await;
    assert_eq!(code, 200, "{t}");
    assert_eq!(t["report"]["unit"], "CT-GD");
    assert_eq!(t["may_download"], true);
    assert_eq!(t["follow_ups"].as_array().unwrap().len(), 1, "{t}");
    assert!(t["particulars"].to_string().contains("事件发生单位概况"), "Art. 14's items: {t}");
    let obligation_actors: Vec<&str> = t["obligations"].as_array().unwrap().iter().map(|o| o["actor"].as_str().unwrap()).collect();
    assert!(
        !obligation_actors.is_empty() && obligation_actors.iter().all(|a| !a.starts_with("unit:") || *a == "unit:CT-GD"),
        "{obligation_actors:?}"
    );
    let (code, bytes) = c.get("ctgd", &raw(&ct)).await;
    assert_eq!(code, 200);
    assert!(bytes.contains("\"major\""), "the file as sent: {bytes}");

    let (code, t) = timeline("ctgd", &first).await;
    assert_eq!(code, 200);
    let actions: Vec<&str> = t["audit"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"report.regraded"), "the regrade is in the audit trail: {actions:?}");
    assert_eq!(t["report"]["grade_zh"], "较大", "{t}");

    // The botnet IDC-BJ was told to dispose of: CT-GD reads its own report's story, and nothing
    // in it names IDC-BJ (its duty, the notices to it, the audit of the notification); CNCERT
    // sees all of that.
    let (code, t) = timeline("ctgd", &notified).await;
    assert_eq!(code, 200);
    assert!(!t.to_string().contains("IDC-BJ") && !t.to_string().contains("IDC_BJ"), "another unit named to CT-GD: {t:#}");
    let (_, all) = timeline("cert", &notified).await;
    assert!(all.to_string().contains("unit:IDC-BJ"), "CNCERT sees who was notified: {all:#}");
    // The botnet disposal board: CNCERT sees IDC-BJ's feedback owed on CT-GD's botnet event;
    // CT-GD sees its events without another unit's duty.
    let board = async |user: &str| -> Value { serde_json::from_str(&c.get(user, "/api/v1/botnets").await.1).unwrap() };
    let cert_board = board("cert").await;
    let step =
        |b: &Value| b["events"].as_array().unwrap().iter().find(|e| e["report"]["id"] == notified.as_str()).cloned().unwrap_or(Value::Null);
    let feedback = step(&cert_board)["steps"].as_array().cloned().unwrap_or_default();
    assert!(feedback.iter().any(|o| o["actor"] == "unit:IDC-BJ" && o["duty"] == "反馈处置情况"), "{cert_board:#}");
    let own_board = board("ctgd").await;
    assert!(!step(&own_board).is_null() && !own_board.to_string().contains("IDC-BJ"), "{own_board:#}");
    assert!(board("bj").await["events"].as_array().unwrap().iter().all(|e| e["report"]["provinces"].as_str().unwrap().contains("北京")));

    for (user, id, want) in [
        ("idcbj", &ct, 404),
        ("ctgd", &bj, 404),
        ("gd", &ct, 200),
        ("gd", &bj, 404),
        ("bj", &bj, 200),
        ("cert", &ct, 200),
        ("csb", &bj, 200),
        ("cert", &"0192b3c4-0000-7000-8000-000000000000".to_string(), 404),
        ("cert", &"not-an-id".to_string(), 404),
    ] {
        assert_eq!(timeline(user, id).await.0, want, "{user} → {id}");
        let page = c.get(user, &format!("/console/reports/{id}")).await.0;
        assert_eq!(page, want, "{user} → page of {id}");
    }
    assert_eq!(timeline("gd", &ct).await.1["may_download"], false, "a bureau gets no file");
    for (user, want) in [("gd", 404), ("idcbj", 404), ("cert", 200), ("csb", 200)] {
        assert_eq!(c.get(user, &raw(&ct)).await.0, want, "{user} downloads CT-GD's file");
    }

    // The list, scoped and filtered and paged.
    let list = async |user: &str, query: &str| -> Value {
        let (code, text) = c.get(user, &format!("/api/v1/reports{query}")).await;
        assert_eq!(code, 200, "{user} {query}: {text}");
        serde_json::from_str(&text).unwrap()
    };
    let units = |v: &Value| v["items"].as_array().unwrap().iter().map(|r| r["unit"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let own = list("ctgd", "").await;
    assert!(units(&own).iter().all(|u| u == "CT-GD") && units(&own).len() == 6, "{own}");
    assert!(units(&list("ctgd", "?unit=IDC-BJ").await).is_empty(), "a unit filter cannot widen the scope");
    assert_eq!(units(&list("gd", "").await).len(), 6, "Guangdong's reports");
    assert_eq!(units(&list("cert", "").await).len(), 8);
    assert_eq!(units(&list("cert", "?province=BJ").await), ["IDC-BJ", "IDC-BJ"]);
    assert_eq!(units(&list("cert", "?kind=event&grade=major").await).len(), 3);
    let by_name = list("cert", &format!("?kind=event&grade={}", form_encode("重大"))).await;
    assert_eq!(units(&by_name).len(), 3, "a grade by its Chinese name: {by_name}");
    assert!(by_name["items"].as_array().unwrap().iter().all(|r| r["grade"] == "major"), "each item's grade code: {by_name}");
    let (code, text) = c.get("cert", "/api/v1/reports?grade=huge").await;
    assert_eq!(code, 400, "an unknown grade is an error, not an empty list: {text}");
    assert!(text.contains("grade："), "{text}");
    assert_eq!(units(&list("cert", "?kind=botnet_event").await).len(), 3);
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%d").to_string();
    assert_eq!(units(&list("cert", &format!("?from={today}&to={today}")).await).len(), 8);
    assert_eq!(units(&list("cert", "?to=2020-01-01").await).len(), 0);
    let first_page = list("cert", "?limit=4").await;
    let next = first_page["next_before"].as_str().expect("a next page").to_string();
    let second_page = list("cert", &format!("?limit=4&before={next}")).await;
    let ids = |v: &Value| v["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let mut all = ids(&first_page);
    all.extend(ids(&second_page));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 8, "two pages, every report once");
    assert!(second_page["next_before"].is_null());
    for bad in ["0", "1001", "-3", "lots"] {
        let (code, text) = c.get("cert", &format!("/api/v1/reports?limit={bad}")).await;
        assert_eq!(code, 400, "limit={bad} is named, not clamped: {text}");
        assert!(text.contains("limit：应为 1–1000 的整数"), "{text}");
    }
    let (code, _) = c.get("cert", "/api/v1/reports?from=-5000-01-01").await;
    assert_eq!(code, 400, "a year no database holds is refused, not a store error");
    let (code, text) = c.get("cert", "/api/v1/reports?from=yesterday").await;
    assert_eq!(code, 400);
    assert!(text.contains("from") && text.contains("的日期"), "{text}");
    let (code, page) = c.get("cert", "/console/reports?kind=event").await;
    assert_eq!(code, 200);
    assert!(page.contains("IDC-BJ") && page.contains("CT-GD"), "{page}");
}

/// The obligations board: each party's duties by state, each list narrowed to a unit or a
/// province but never wider than the viewer's scope; its counts add up to its lists.
async fn the_obligations_board_counts_each_partys_duties_within_scope(backend: Backend) {
    let c = console(backend).await;
    seed(&c).await;
    for (user, _) in ROLES {
        assert_eq!(c.login(user, PASSWORD).await, 303, "{user}");
    }
    let board = async |user: &str, query: &str| -> Value {
        let (code, text) = c.get(user, &format!("/api/v1/obligations{query}")).await;
        assert_eq!(code, 200, "{user} {query}: {text}");
        serde_json::from_str(&text).unwrap()
    };
    let parties = |b: &Value| b["parties"].as_array().unwrap().iter().map(|p| p["actor"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let sum = |b: &Value, field: &str| b["parties"].as_array().unwrap().iter().map(|p| p[field].as_i64().unwrap()).sum::<i64>();

    let all = board("cert", "").await;
    assert!(parties(&all).contains(&"unit:CT-GD".to_string()) && parties(&all).contains(&"unit:IDC-BJ".to_string()), "{all}");
    for state in ["overdue", "due_soon", "met_late"] {
        let b = board("cert", &format!("?state={state}")).await;
        let counted = match state {
            "overdue" => sum(&b, "overdue") + sum(&b, "missed"),
            "due_soon" => sum(&b, "due_soon"),
            _ => sum(&b, "met_late"),
        };
        assert_eq!(b["total"].as_i64().unwrap(), counted, "{state}: the list and the counts agree: {b}");
    }
    let ct_only = board("cert", "?state=overdue&unit=CT-GD").await;
    assert!(ct_only["items"].as_array().unwrap().iter().all(|o| o["actor"] == "unit:CT-GD"), "{ct_only}");

    let own = board("ctgd", "").await;
    assert_eq!(parties(&own), ["unit:CT-GD"], "a unit sees its own row only: {own}");
    for query in ["?unit=IDC-BJ", "?state=due_soon&unit=IDC-BJ", "?province=BJ"] {
        assert_eq!(board("ctgd", query).await["total"], 0, "a filter cannot widen a unit's scope: {query}");
    }
    assert_eq!(board("gd", "?state=overdue&province=BJ").await["total"], 0, "nor a bureau's");
    assert!(!parties(&board("gd", "").await).contains(&"unit:IDC-BJ".to_string()));
    let (code, text) = c.get("cert", "/api/v1/obligations?state=soonish").await;
    assert_eq!(code, 400);
    assert!(text.contains("state"), "{text}");
    let (code, page) = c.get("gd", "/console/obligations?state=due_soon").await;
    assert_eq!(code, 200);
    assert!(page.contains("义务看板") && !page.contains("IDC-BJ"), "{page}");
}

/// Art. 19–20 [通报办法]: the month's digest as CSB, the bureaus and CNCERT read it, with its
/// chart, its workbook and to whom it went; units are not its readers.
async fn the_monthly_digest_page_shows_the_month_and_where_it_went(backend: Backend) {
    let c = console(backend).await;
    for (json, at) in [
        (event("general", "2026-09-03T10:00:00+08:00"), "2026-09-03T03:00:00Z"),
        (event("large", "2026-09-10T10:00:00+08:00"), "2026-09-10T03:00:00Z"),
        (event("major", "2026-08-10T10:00:00+08:00"), "2026-08-10T03:00:00Z"),
    ] {
        assert!(c.lib.submit("CT-GD", json, at).await.errors.is_empty());
    }
    for (user, _) in ROLES {
        assert_eq!(c.login(user, PASSWORD).await, 303, "{user}");
    }
    // The first months there are, and the last: a digest (empty), never a dropped connection.
    for month in ["1900-01", "1900-02", "9999-12"] {
        for path in ["/api/v1/digest?month=", "/console/digest?month="] {
            assert_eq!(c.get("gd", &format!("{path}{month}")).await.0, 200, "{path}{month}");
        }
        assert_eq!(c.get("gd", &format!("/console/digest/{month}/workbook.xlsx")).await.0, 200, "{month}");
    }
    let (code, text) = c.get("cert", "/api/v1/digest?month=2026-09").await;
    assert_eq!(code, 200, "{text}");
    let g: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((g["digest"]["total"].as_u64(), g["digest"]["previous_total"].as_u64()), (Some(2), Some(1)), "{g}");
    assert_eq!(g["sent"], serde_json::json!([]), "not sent yet");
    let (page_code, page) = c.get("gd", "/console/digest?month=2026-09").await;
    assert_eq!(page_code, 200);
    assert!(
        page.contains("月度通报 · 2026-09") && page.contains("/console/digest/2026-09/chart.png") && page.contains("id=\"not-sent\""),
        "{page}"
    );

    let (sent, _) = tongbao::schedule::send_digest(&*c.lib.store, "2026-09".parse().unwrap(), chrono::Utc::now()).await.unwrap();
    assert!(sent);
    let g: Value = serde_json::from_str(&c.get("csb", "/api/v1/digest?month=2026-09").await.1).unwrap();
    let mut recipients: Vec<&str> = g["sent"].as_array().unwrap().iter().map(|n| n["recipient"].as_str().unwrap()).collect();
    recipients.sort();
    assert_eq!(recipients, ["bureaus:all", "cncert", "csb", "unit:CT-GD"], "CSB, the bureaus and the unit concerned (Art. 19¶2): {g}");

    let bytes = |user: &'static str, path: &'static str| {
        let (jar, url) = (c.jar(user), format!("{}{path}", c.base));
        tokio::task::spawn_blocking(move || Command::new("curl").args(["-s", "-b", &jar, &url]).output().unwrap().stdout)
    };
    assert!(bytes("bj", "/console/digest/2026-09/chart.png").await.unwrap().starts_with(b"\x89PNG"));
    assert!(bytes("cert", "/console/digest/2026-09/workbook.xlsx").await.unwrap().starts_with(b"PK"));
    for path in [
        "/api/v1/digest?month=2026-09",
        "/console/digest?month=2026-09",
        "/console/digest/2026-09/chart.png",
        "/console/digest/2026-09/workbook.xlsx",
    ] {
        assert_eq!(c.get("ctgd", path).await.0, 403, "a unit: {path}");
    }
    let (code, text) = c.get("cert", "/api/v1/digest?month=2026-13").await;
    assert_eq!(code, 400);
    assert!(text.contains("month"), "{text}");
    let (code, page) = c.get("cert", "/console/digest?month=soon").await;
    assert_eq!(code, 200);
    assert!(page.contains("应为年月"), "the bad month is named and last month shown: {page}");
}

/// A generated event form as a clerk fills it with openpyxl: a good row discovered an hour ago,
/// and one whose grade is no grade (很大).
fn form_with_one_bad_cell() -> Vec<u8> {
    let at =
        (chrono::Utc::now() - chrono::Duration::hours(1)).with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%dT%H:%M:00").to_string();
    let row = |grade: &str, summary: &str| serde_json::json!([{"datetime": at}, grade, "拒绝服务攻击", "广东", "否", null, "某IDC机房", {"datetime": at}, summary, "部分用户访问缓慢", "已清洗流量", null]);
    crate::forms::filled_by_openpyxl(
        tongbao::model::ReportKind::Event,
        serde_json::json!([row("重大", "流量攻击"), row("很大", "另一起攻击")]),
    )
}

/// Upload with a preview: the file is read and shown with its bad cell marked, nothing is stored
/// until the unit confirms, and then the receipt lists every deadline. Only a unit uploads, only
/// its own draft can be confirmed, and every post carries the session's CSRF token.
async fn an_upload_is_previewed_with_its_bad_cell_marked_and_stored_only_when_confirmed(backend: Backend) {
    let c = console(backend).await;
    for user in ["ctgd", "idcbj", "gd"] {
        assert_eq!(c.login(user, PASSWORD).await, 303);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("事件信息报送表.xlsx");
    std::fs::write(&file, form_with_one_bad_cell()).unwrap();
    let (code, page) = c.get("ctgd", "/console/upload").await;
    assert_eq!(code, 200);
    let csrf_of =
        |page: &str| page.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("a CSRF field").to_string();
    let csrf = csrf_of(&page);
    let url = format!("{}/console/upload", c.base);
    let upload = async |user: &str, csrf: &str| {
        let file_field = format!("file=@{}", file.display());
        c.curl(user, &["-F", &format!("csrf={csrf}"), "-F", &file_field, &url]).await
    };
    assert_eq!(upload("ctgd", "wrong").await.0, 403, "no CSRF token, no preview");
    let (code, preview) = upload("ctgd", &csrf).await;
    assert_eq!(code, 200, "{preview}");
    assert!(preview.contains("id=\"accepted\">1<") && preview.contains("id=\"error-count\" class=\"late\">1<"), "{preview}");
    let bad = preview.split("class=\"bad\" data-place=\"").nth(1).and_then(|s| s.split('"').next()).expect("a marked cell").to_string();
    assert!(bad.starts_with("事件表!B"), "the grade cell is marked: {bad}");
    assert!(preview.contains(&format!("<td>{bad}</td>")), "and listed among the errors at the same place");
    assert_eq!(c.lib.store.counts().await.unwrap().submissions, 0, "nothing stored before the confirmation");
    let draft = preview.split("/console/upload/").nth(1).and_then(|s| s.split('/').next()).expect("a draft").to_string();
    let confirm = format!("{}/console/upload/{draft}/confirm", c.base);

    // Another unit cannot confirm it, even with its own session and token.
    let (_, other_page) = c.get("idcbj", "/console/upload").await;
    assert_eq!(c.curl("idcbj", &["--data", &format!("csrf={}", csrf_of(&other_page)), &confirm]).await.0, 404);
    assert_eq!(c.curl("ctgd", &["--data", "csrf=nope", &confirm]).await.0, 403);
    // Confirmed: sent on to the receipt's own address, which shows it again on a reload.
    let (code, _) = c.curl("ctgd", &["--data", &format!("csrf={csrf}"), "-D", "-", &confirm]).await;
    assert_eq!(code, 303);
    let stored = c.lib.store.reports(&ReportFilter { unit: Some("CT-GD".parse().unwrap()), limit: 1, ..Default::default() }).await.unwrap();
    let submission = stored[0].submission_id;
    let at = format!("/console/upload/receipts/{submission}");
    let (code, receipt) = c.get("ctgd", &at).await;
    assert_eq!(code, 200, "{receipt}");
    assert!(receipt.contains("部分受理") && receipt.contains("前（"), "the receipt with its deadlines: {receipt}");
    assert_eq!(c.get("ctgd", &at).await, (200, receipt), "a reload shows the same receipt");
    assert_eq!(c.get("idcbj", &at).await.0, 404, "another unit's receipt is not found");
    assert_eq!(c.lib.store.counts().await.unwrap().submissions, 1);
    assert_eq!(c.lib.store.counts().await.unwrap().reports, 1);
    assert_eq!(c.curl("ctgd", &["--data", &format!("csrf={csrf}"), &confirm]).await.0, 404, "a draft is confirmed once");
    // Previews left unconfirmed are capped per user: the sixth waiting one is refused, saying why.
    for n in 0..tongbao::store::users::DRAFTS_PER_USER {
        assert_eq!(upload("ctgd", &csrf).await.0, 200, "preview {n}");
    }
    let (code, page) = upload("ctgd", &csrf).await;
    assert_eq!(code, 429, "{page}");
    assert!(page.contains("待确认的预览"), "{page}");

    // Only units upload.
    assert_eq!(c.get("gd", "/console/upload").await.0, 403);
    let (_, gd_page) = c.get("gd", "/console").await;
    assert_eq!(upload("gd", &csrf_of(&gd_page)).await.0, 403, "no bureau is registered for Guangdong yet");

    // Art. 4, 13¶3 [通报办法]: a bureau is a reporting unit and sends its monthly summary; its
    // users submit as the bureau registered for their province, and as nothing else.
    let bureau = "[[units]]\ncode = \"GD-BUREAU\"\nname = \"广东省通信管理局\"\ntype = \"bureau\"\nprovince = \"GD\"\n\
                  contacts = [{ role = \"contact\", name = \"网安处\", email = \"wa@gdca.example.cn\" }]\n";
    c.lib.store.import_units(&crate::helpers::units_from_toml(bureau), chrono::Utc::now()).await.unwrap();
    let summary = dir.path().join("summary.json");
    let month = (chrono::Utc::now() - chrono::Duration::days(40)).format("%Y-%m").to_string();
    std::fs::write(&summary, serde_json::json!({"kind": "monthly_general", "content": {"month": month, "events": []}}).to_string())
        .unwrap();
    let (code, gd_upload) = c.get("gd", "/console/upload").await;
    assert_eq!(code, 200, "{gd_upload}");
    let gd_csrf = csrf_of(&gd_upload);
    let file_field = format!("file=@{}", summary.display());
    let (code, preview) = c.curl("gd", &["-F", &format!("csrf={gd_csrf}"), "-F", &file_field, &url]).await;
    assert_eq!(code, 200, "{preview}");
    let draft = preview.split("/console/upload/").nth(1).and_then(|s| s.split('/').next()).expect("a draft").to_string();
    let confirm = format!("{}/console/upload/{draft}/confirm", c.base);
    assert_eq!(c.curl("gd", &["--data", &format!("csrf={gd_csrf}"), &confirm]).await.0, 303);
    let theirs =
        c.lib.store.reports(&ReportFilter { unit: Some("GD-BUREAU".parse().unwrap()), limit: 5, ..Default::default() }).await.unwrap();
    assert_eq!(theirs.len(), 1, "stored as the bureau's own summary");
    assert_eq!(c.login("bj", PASSWORD).await, 303);
    assert_eq!(c.get("bj", "/console/upload").await.0, 403, "Beijing has no bureau registered here");
}

/// Art. 19 [通报办法]: a major event's public notice waits for CSB as a draft (CSB is told it
/// waits); a CSB user edits and approves it in the console, in Chromium; it then reaches the unit's mailbox
/// and the bureau's copy through the real Postfix and Dovecot. Nothing reached the unit before
/// the approval, a second approval is refused, and only CSB may decide.
async fn a_csb_user_approves_a_notice_and_it_reaches_the_units_mailbox(backend: Backend) {
    use crate::mail::{MAIL, authorities, imap_folder, nonce, smtp_config, wait_for};
    let _turn = MAIL.lock().await;
    let n = nonce();
    let (csb_box, bureau_box, cert_box, unit_box) = (
        format!("duty-{n}@csb.tongbao.test"),
        format!("wa-{n}@gdca.tongbao.test"),
        format!("duty-{n}@cert.tongbao.test"),
        format!("soc-{n}@ct-gd.tongbao.test"),
    );
    let c = console(backend).await;
    let more = format!(
        "[[units]]\ncode = \"CT-GD\"\nname = \"中国电信股份有限公司广东分公司\"\ntype = \"basic_telecom_provincial\"\nprovince = \"GD\"\n\
         contacts = [{{ role = \"contact\", name = \"李四\", email = \"{unit_box}\" }}]\n"
    );
    c.lib.store.import_units(&authorities(&csb_box, &bureau_box, &cert_box, &more), chrono::Utc::now()).await.unwrap();
    let now = chrono::Utc::now();
    let r = c.lib.submit("CT-GD", event("major", &(now - chrono::Duration::minutes(30)).to_rfc3339()), &now.to_rfc3339()).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let report = r.reports[0].report_id.to_string();

    let (stop, rx) = tokio::sync::watch::channel(false);
    let sink =
        tokio::spawn(tongbao::connectors::mail::smtp::run(smtp_config(&format!("hub-{n}@cncert.tongbao.test")), c.lib.store.clone(), rx));
    tongbao::fanout::expand_once(&*c.lib.store, chrono::Utc::now(), true).await.unwrap();
    let subjects = async |mailbox: &str| -> Vec<String> {
        imap_folder(mailbox, "INBOX")
            .await
            .iter()
            .filter_map(|m| mail_parser::MessageParser::default().parse(m)?.subject().map(str::to_string))
            .collect()
    };
    wait_for("CSB told a draft waits", std::time::Duration::from_secs(60), async || {
        subjects(&csb_box).await.iter().any(|s| s.contains("【待审核】"))
    })
    .await;
    assert!(!subjects(&unit_box).await.iter().any(|s| s.contains("【通告】")), "nothing to the unit before the approval");

    for user in ["csb", "cert", "gd"] {
        assert_eq!(c.login(user, PASSWORD).await, 303);
    }
    let (code, list) = c.get("csb", "/api/v1/reviews").await;
    assert_eq!(code, 200, "{list}");
    assert!(list.contains(&report), "the draft waits: {list}");
    assert_eq!(c.get("gd", "/console/review").await.0, 403, "a bureau does not review");
    let (code, form) = c.get("csb", &format!("/console/review/{report}")).await;
    assert_eq!(code, 200);
    assert!(
        form.contains("事件统计情况") && form.contains("态势分析") && form.contains("CT-GD"),
        "Art. 20's items and the default units: {form}"
    );
    let csrf_of =
        |page: &str| page.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("a CSRF field").to_string();
    let url = format!("{}/console/review/{report}", c.base);
    let decide = async |user: &str, csrf: &str, action: &str| {
        c.curl(
            user,
            &[
                "--data-urlencode",
                &format!("csrf={csrf}"),
                "--data-urlencode",
                &format!("action={action}"),
                "--data-urlencode",
                "title=【通告】广东某IDC遭受重大拒绝服务攻击",
                "--data-urlencode",
                "lines=事件统计情况：广东发生重大拒绝服务攻击 1 起\n态势分析：攻击流量呈上升趋势，请各单位加强防护",
                "--data-urlencode",
                "recipients=CT-GD",
                "--data-urlencode",
                "note=",
                &url,
            ],
        )
        .await
    };
    let (_, cert_page) = c.get("cert", "/console").await;
    assert_eq!(decide("cert", &csrf_of(&cert_page), "approve").await.0, 403, "CNCERT reads along but does not decide");
    assert_eq!(decide("csb", "wrong", "approve").await.0, 403);
    // A refused approval shows the form as the user wrote it; a title too long is refused, not cut.
    let refused = async |title: &str, recipients: &str| {
        let (title, recipients) = (format!("title={title}"), format!("recipients={recipients}"));
        let csrf = format!("csrf={}", csrf_of(&form));
        let args = ["--data-urlencode", &csrf, "--data-urlencode", "action=approve", "--data-urlencode", &title];
        c.curl("csb", &[&args[..], &["--data-urlencode", "lines=事件统计情况：改过的统计", "--data-urlencode", &recipients, &url]].concat())
            .await
    };
    let (code, body) = refused("我编辑过的标题", "NOPE").await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("不是已登记的单位代码") && body.contains("我编辑过的标题") && body.contains("改过的统计"), "{body}");
    let (code, body) = refused(&"长".repeat(201), "CT-GD").await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("最多 200 个字"), "{body}");

    // Returned with a reason: nothing goes out, and the form then holds the returned version.
    let csrf = format!("csrf={}", csrf_of(&form));
    let (code, body) = c
        .curl(
            "csb",
            &[
                "--data-urlencode",
                &csrf,
                "--data-urlencode",
                "action=return",
                "--data-urlencode",
                "title=【通告】退回后的标题",
                "--data-urlencode",
                "lines=事件统计情况：退回前的统计\n态势分析：待补充",
                "--data-urlencode",
                "recipients=CT-GD",
                "--data-urlencode",
                "note=请补充态势分析",
                &url,
            ],
        )
        .await;
    assert_eq!(code, 303, "{body}");
    let (_, page) = c.get("csb", &format!("/console/review/{report}")).await;
    assert!(page.contains("已退回：csb") && page.contains("请补充态势分析"), "{page}");
    assert!(
        page.contains("value=\"【通告】退回后的标题\"") && page.contains("态势分析：待补充"),
        "the returned version to edit on: {page}"
    );

    // The approval itself, as a CSB user makes it: in the browser, rewriting the analysis.
    let shots = screenshots(&format!("review-{backend:?}").to_lowercase());
    let analysis = "攻击流量呈上升趋势，请各单位加强防护";
    let seen = browser(
        "review.cjs",
        vec![c.base.clone(), shots.display().to_string(), "csb".into(), PASSWORD.into(), report.clone(), analysis.into()],
    )
    .await;
    assert!(seen["awaiting_on_dashboard"].as_u64().unwrap() >= 1, "the dashboard says a draft waits: {seen}");
    assert!(seen["drafted_lines"].to_string().contains("态势分析"), "Art. 20's items drafted: {seen}");
    assert_eq!(seen["recipients"], "CT-GD", "{seen}");
    assert_eq!(seen["approved_listed"], 1, "{seen}");
    assert!(seen["decision"].as_str().unwrap().starts_with("已批准：csb"), "{seen}");
    assert_eq!(seen["may_still_approve"], 0, "{seen}");
    let (code, body) = decide("csb", &csrf_of(&form), "approve").await;
    assert_eq!(code, 400, "approved once: {body}");
    assert!(body.contains("已由他人批准"));

    tongbao::fanout::expand_once(&*c.lib.store, chrono::Utc::now(), true).await.unwrap();
    wait_for("the notice at the unit", std::time::Duration::from_secs(60), async || {
        subjects(&unit_box).await.iter().any(|s| s.contains("【通告】"))
    })
    .await;
    wait_for("the copy at the bureau", std::time::Duration::from_secs(60), async || {
        subjects(&bureau_box).await.iter().any(|s| s.contains("【通告】"))
    })
    .await;
    let _ = stop.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), sink).await;
    let mail = imap_folder(&unit_box, "INBOX").await.into_iter().find(|m| String::from_utf8_lossy(m).contains("tongbao")).unwrap();
    let parsed = mail_parser::MessageParser::default().parse(&mail).unwrap();
    let notice = imap_folder(&unit_box, "INBOX")
        .await
        .iter()
        .filter_map(|m| mail_parser::MessageParser::default().parse(m).and_then(|p| p.body_text(0).map(|t| t.into_owned())))
        .find(|t| t.contains("态势分析"))
        .unwrap_or_else(|| panic!("the approved text in the unit's mail: {:?}", parsed.subject()));
    assert!(notice.contains(analysis), "CSB's edit went out: {notice}");
    let (_, t) = c.get("cert", &format!("/api/v1/reports/{report}")).await;
    assert!(t.contains("notice.approved") && t.contains("user:csb"), "the decision is audited with who: {t}");
    let t: Value = serde_json::from_str(&t).unwrap();
    let kinds: Vec<&str> = t["notices"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"通告") && kinds.contains(&"通告草稿（待审核）"), "the notice is shown as one, not as an alert: {kinds:?}");
}

/// Art. 21 [通报办法]: units and their contacts. A unit sees and changes only its own, and its
/// change is stored as its contact_update report (through intake, with its duty met); CNCERT
/// edits any unit directly; a bureau reads its province's.
async fn units_and_contacts_are_changed_by_cncert_and_reported_by_the_unit_itself(backend: Backend) {
    let c = console(backend).await;
    for user in ["ctgd", "idcbj", "gd", "cert"] {
        assert_eq!(c.login(user, PASSWORD).await, 303);
    }
    let codes = async |user: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(&c.get(user, "/api/v1/units").await.1).unwrap();
        v.as_array().unwrap().iter().map(|u| u["code"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(codes("ctgd").await, ["CT-GD"]);
    assert!(codes("gd").await.contains(&"CT-GD".to_string()) && !codes("gd").await.contains(&"IDC-BJ".to_string()));
    assert!(codes("cert").await.len() > 3);
    assert_eq!(c.get("ctgd", "/console/units/IDC-BJ").await.0, 404);
    let csrf_of =
        |page: &str| page.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("a CSRF field").to_string();
    let (code, form) = c.get("ctgd", "/console/units/CT-GD").await;
    assert_eq!(code, 200);
    let save = async |user: &str, csrf: &str, unit: &str, fields: &[&str]| {
        let mut args = vec!["--data-urlencode".to_string(), format!("csrf={csrf}")];
        for f in fields {
            args.push("--data-urlencode".into());
            args.push(f.to_string());
        }
        args.push(format!("{}/console/units/{unit}", c.base));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        c.curl(user, &args).await
    };
    let leader = ["leader_name=新领导", "leader_email=new-leader@gd.example.cn", "leader_phone=020-12345678"];
    assert_eq!(save("ctgd", "nope", "CT-GD", &leader).await.0, 403);
    let (code, body) = save("ctgd", &csrf_of(&form), "CT-GD", &leader).await;
    assert_eq!(code, 303, "{body}");
    let contact_updates = async || {
        c.lib
            .store
            .reports(&ReportFilter { kind: Some(tongbao::model::ReportKind::ContactUpdate), limit: 10, ..Default::default() })
            .await
            .unwrap()
    };
    let updates = contact_updates().await;
    assert_eq!(updates.len(), 1, "the change is CT-GD's contact_update report");
    assert_eq!(updates[0].report.unit.as_str(), "CT-GD");
    let units = c.lib.store.units().await.unwrap();
    let ct = units.iter().find(|u| u.code.as_str() == "CT-GD").unwrap();
    assert!(ct.emails().any(|e| e.as_str() == "new-leader@gd.example.cn"), "{:?}", ct.contacts);

    let (_, other) = c.get("idcbj", "/console/units/IDC-BJ").await;
    assert_eq!(save("idcbj", &csrf_of(&other), "CT-GD", &leader).await.0, 403, "another unit cannot");
    let (_, gd_page) = c.get("gd", "/console").await;
    assert_eq!(save("gd", &csrf_of(&gd_page), "CT-GD", &leader).await.0, 403, "a bureau reads only");

    let (_, cert_form) = c.get("cert", "/console/units/IDC-BJ").await;
    let (code, body) = save("cert", &csrf_of(&cert_form), "IDC-BJ", &["contact_name=赵六", "contact_email=duty@idc-bj.example.cn"]).await;
    assert_eq!(code, 303, "{body}");
    let units = c.lib.store.units().await.unwrap();
    let idc = units.iter().find(|u| u.code.as_str() == "IDC-BJ").unwrap();
    assert!(idc.contacts.iter().any(|x| x.name == "赵六"), "{:?}", idc.contacts);
    assert_eq!(contact_updates().await.len(), 1, "CNCERT's edit is no report of the unit's");
    let (code, _) = save("cert", &csrf_of(&cert_form), "IDC-BJ", &["contact_email=not an address"]).await;
    assert_eq!(code, 400, "a contact that cannot be read is refused, not stored");

    // The unit's own mistakes, named as its form names the fields; too long or not UTF-8 is
    // refused, not cut or mangled.
    let (code, body) = save("ctgd", &csrf_of(&form), "CT-GD", &["leader_name=新领导", "leader_email=not an address"]).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("主管领导电子邮件：应为") && !body.contains("/content/contacts"), "{body}");
    let long = format!("leader_name={}", "长".repeat(201));
    let (code, body) = save("ctgd", &csrf_of(&form), "CT-GD", &[&long]).await;
    assert!(code == 400 && body.contains("主管领导姓名：最多 200 个字"), "{code} {body}");
    let url = format!("{}/console/units/CT-GD", c.base);
    let (code, body) = c.curl("ctgd", &["--data", &format!("csrf={}&leader_name=%C0%AF", csrf_of(&form)), &url]).await;
    assert!(code == 400 && body.contains("无法识别的字符"), "{code} {body}");
    // A rename posted through the contact form is refused, saying who renames units.
    let (code, body) = save("ctgd", &csrf_of(&form), "CT-GD", &["name=另一家公司", "leader_name=新领导"]).await;
    assert!(code == 400 && body.contains("单位名称不能在此修改"), "{code} {body}");
    assert_eq!(contact_updates().await.len(), 1, "none of these stored");
}

/// The console in headless Chromium, driven by playwright-core (`tests/browser/console.cjs`):
/// a unit's clerk logs in (after a wrong password), reads the dashboard, uploads a form with one
/// bad cell, sees it marked, confirms and reads the receipt's deadlines, reads the report list
/// and a timeline, and logs out; a bureau's officer sees only Guangdong. Screenshots are kept in the
/// build's temporary folder (`console-screens/`).
async fn the_console_works_in_a_real_browser(backend: Backend) {
    let c = console(backend).await;
    seed(&c).await;
    let other = report_of(&c, "IDC-BJ", "major").await;
    let shots = screenshots(&format!("{backend:?}").to_lowercase());
    let form = tempfile::NamedTempFile::with_suffix(".xlsx").unwrap();
    std::fs::write(form.path(), form_with_one_bad_cell()).unwrap();
    let seen = browser(
        "console.cjs",
        vec![c.base.clone(), shots.display().to_string(), PASSWORD.into(), other, form.path().display().to_string()],
    )
    .await;
    assert_eq!(seen["wrong_password"], "用户名或密码不正确", "{seen}");
    assert!(seen["clerk_header"].as_str().unwrap().contains("单位 CT-GD · ctgd"), "{seen}");
    assert_eq!(seen["clerk_today"], 2);
    assert_eq!((seen["preview_bad_cells"].as_u64(), seen["preview_accepted"].as_u64()), (Some(1), Some(1)), "{seen}");
    assert!(seen["preview_bad_place"].as_str().unwrap().starts_with("事件表!B"), "{seen}");
    assert_eq!(seen["receipt_outcome"], "回执：部分受理", "{seen}");
    assert!(seen["receipt_deadlines"].as_str().unwrap().contains("前（"), "{seen}");
    let clerk_units: Vec<&str> = seen["clerk_units"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
    assert_eq!(clerk_units, ["CT-GD", "CT-GD", "CT-GD"], "the two seeded and the one uploaded: {seen}");
    assert!(seen["timeline_heading"].as_str().unwrap().contains("CT-GD"), "{seen}");
    assert!(seen["timeline_obligations"].as_u64().unwrap() >= 2, "a header row and at least one duty: {seen}");
    assert_eq!(seen["timeline_download"], 1, "the unit may download its own file");
    assert_eq!(seen["after_logout"], "/login");
    assert_eq!(seen["officer_today"], 3, "the two seeded and the uploaded one, all of Guangdong");
    let officer_units: Vec<&str> = seen["officer_units"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
    assert!(!officer_units.is_empty() && officer_units.iter().all(|u| *u == "CT-GD"), "Guangdong's reports only: {seen}");
    assert!(!seen["officer_board"].to_string().contains("IDC"), "{seen}");
    assert_eq!(seen["other_province_status"], 404);
    for shot in [
        "dashboard-unit",
        "upload-preview-unit",
        "upload-receipt-unit",
        "reports-unit",
        "timeline-unit",
        "reports-bureau",
        "obligations-bureau",
    ] {
        let png = std::fs::read(shots.join(format!("{shot}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "{shot}.png");
    }
}

crate::on_both_backends!(
    multi_thread:
    a_user_logs_in_sees_the_dashboard_and_logs_out,
    logins_are_rate_limited_per_account,
    behind_a_trusted_proxy_logins_are_limited_per_client,
    every_console_route_answers_every_role_within_its_scope,
    a_reports_timeline_is_shown_only_to_who_may_see_it,
    the_obligations_board_counts_each_partys_duties_within_scope,
    the_console_works_in_a_real_browser,
    the_monthly_digest_page_shows_the_month_and_where_it_went,
    an_upload_is_previewed_with_its_bad_cell_marked_and_stored_only_when_confirmed,
    a_csb_user_approves_a_notice_and_it_reaches_the_units_mailbox,
    units_and_contacts_are_changed_by_cncert_and_reported_by_the_unit_itself,
);
