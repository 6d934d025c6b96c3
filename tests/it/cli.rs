//! The command line as a user runs it: deadlines and calendar answers of SPEC §8, ingest, check.

use super::helpers::Hub;

fn due_local(v: &serde_json::Value, duty: &str) -> String {
    v.as_array().unwrap().iter().find(|o| o["duty"] == duty).unwrap_or_else(|| panic!("no {duty} in {v:#}"))["due_local"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn deadline_gives_the_spec_worked_examples() {
    let hub = Hub::new();
    let (code, v) =
        hub.json(&["deadline", "--kind", "warning", "--level", "4", "--discovered", "2026-09-23T10:00:00+08:00", "--province", "GD"]);
    assert_eq!(code, 0);
    assert_eq!(due_local(&v, "report"), "2026-10-08 24:00");
    assert_eq!(v[0]["due_at"], "2026-10-08T16:00:00Z", "RFC 3339 instant in JSON");
    assert_eq!(v[0]["basis"]["code"], "tongbao-13.3");

    let (_, v) = hub.json(&["deadline", "--kind", "event", "--grade", "general", "--discovered", "2026-09-10 10:00"]);
    assert_eq!(due_local(&v, "monthly_summary"), "2026-10-13 24:00");
    let (_, v) = hub.json(&["deadline", "--kind", "event", "--grade", "一般", "--discovered", "2026-10-10 10:00"]);
    assert_eq!(due_local(&v, "monthly_summary"), "2026-11-06 24:00");
    let (_, v) = hub.json(&["deadline", "--kind", "event", "--grade", "general", "--discovered", "2026-04-15 10:00"]);
    assert_eq!(due_local(&v, "monthly_digest"), "2026-05-18 24:00");
    let (_, v) = hub.json(&["deadline", "--kind", "event", "--grade", "major", "--discovered", "2026-10-01T23:30:00+08:00"]);
    assert_eq!(due_local(&v, "report"), "2026-10-02 01:30");
    let (_, v) = hub.json(&["deadline", "--kind", "botnet_event", "--grade", "major", "--discovered", "2026-06-01T08:00:00+08:00"]);
    assert_eq!(due_local(&v, "report"), "2026-06-01 10:00");
    assert_eq!(due_local(&v, "cncert_report"), "2026-06-01 10:00");
}

#[test]
fn deadline_refuses_bad_arguments_with_what_was_expected() {
    let hub = Hub::new();
    let out = hub.run(&["deadline", "--kind", "event", "--grade", "huge", "--discovered", "2026-09-23 10:00"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--grade") && err.contains("特别重大"), "{err}");
    let out = hub.run(&["deadline", "--kind", "warning", "--discovered", "2026-09-23 10:00"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--level"));
}

#[test]
fn a_deadline_in_a_year_without_holiday_data_is_marked_provisional() {
    let hub = Hub::new();
    let (_, v) = hub.json(&["deadline", "--kind", "warning", "--level", "4", "--discovered", "2027-09-23 10:00"]);
    assert_eq!(v[0]["provisional"], true);
    let out = hub.run(&["deadline", "--kind", "warning", "--level", "4", "--discovered", "2027-09-23 10:00"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("PROVISIONAL"));
}

#[test]
fn calendar_commands_answer_with_dates_and_exit_codes() {
    let hub = Hub::new();
    let text = |args: &[&str]| {
        let out = hub.run(args);
        (out.status.code().unwrap(), String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    assert_eq!(text(&["calendar", "is-workday", "2026-10-10"]), (0, "yes".into()), "make-up Saturday");
    assert_eq!(text(&["calendar", "is-workday", "2026-10-05"]), (1, "no".into()), "National Day");
    assert_eq!(text(&["calendar", "add-workdays", "2026-09-23", "5"]), (0, "2026-10-08".into()));
    assert_eq!(text(&["calendar", "nth-workday", "2026-10", "5"]), (0, "2026-10-13".into()));
    assert_eq!(text(&["calendar", "nth-workday", "2026-05", "10"]), (0, "2026-05-18".into()));
    assert_eq!(text(&["calendar", "nth-workday", "2026-11", "5"]), (0, "2026-11-06".into()));
}

#[test]
fn a_calendar_file_named_in_the_config_adds_its_years_to_the_built_in_ones() {
    let hub = Hub::new();
    hub.write("cal.toml", "[years.2027]\nholidays = [\"01-01\"]\nworkdays = [\"01-02\"]\n");
    hub.write("tongbao.toml", "[calendar]\nfile = \"cal.toml\"\n");
    let (code, v) = hub.json(&["calendar", "is-workday", "2027-01-02"]);
    assert_eq!((code, v["workday"].as_bool(), v["provisional"].as_bool()), (0, Some(true), Some(false)), "the file's 2027");
    let (code, v) = hub.json(&["calendar", "is-workday", "2026-10-10"]);
    assert_eq!((code, v["provisional"].as_bool()), (0, Some(false)), "2026 still comes built in");
}

/// The CLI reads a file under the same cap as an HTTP upload: an endless one is refused, not read
/// until memory runs out.
#[test]
fn ingest_refuses_a_file_larger_than_an_upload_may_be() {
    let hub = Hub::new().with_units();
    hub.write("tongbao.toml", "[serve]\nmax_upload_mb = 1\n");
    let out = hub.run(&["ingest", "/dev/zero", "--unit", "CT-GD"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/dev/zero") && err.contains("larger than 1 MB"), "{err}");
    // Every command that reads a file or a stream stops at what it could mean.
    for (args, limit) in [
        (&["units", "import", "/dev/zero"][..], "larger than 16 MB"),
        (&["calendar", "import", "/dev/zero", "--dry-run"][..], "larger than 1 MB"),
    ] {
        let out = hub.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(limit), "{args:?}: {err}");
    }
}

/// A schedule the State Council might publish for 2027 (made up: the real one is not out),
/// in the published notice's words.
const NOTICE_2027: &str = "国务院办公厅关于2027年部分节假日安排的通知
各省、自治区、直辖市人民政府，国务院各部委、各直属机构：
　　经国务院批准，现将2027年元旦、春节、清明节、劳动节、端午节、中秋节和国庆节放假调休日期的具体安排通知如下。
　　一、元旦：1月1日（周五）至3日（周日）放假，共3天。
　　二、春节：2月5日（农历除夕、周五）至13日（农历正月初八、周六）放假调休，共9天。2月20日（周六）上班。
　　三、清明节：4月3日（周六）至5日（周一）放假，共3天。
　　四、劳动节：5月1日（周六）至5日（周三）放假调休，共5天。4月25日（周日）、5月8日（周六）上班。
　　五、端午节：6月9日（周三）放假，共1天。
　　六、中秋节：9月15日（周三）放假，共1天。
　　七、国庆节：10月1日（周五）至7日（周四）放假调休，共7天。9月26日（周日）、10月9日（周六）上班。
国务院办公厅
";

/// `calendar import`: the notice shown, the year written into calendars/china.toml, and the
/// provisional deadlines it settles recomputed; a text that would leave a statutory day
/// (《全国年节及纪念日放假办法》 Art. 2) as a working day is refused, naming it.
#[test]
fn calendar_import_reads_the_state_councils_notice_and_settles_provisional_deadlines() {
    let hub = Hub::new().with_units();
    // A general event of December goes into its monthly summary, due on January's 5th working day.
    let file = hub.write("e.json", &crate::helpers::event("general", "2026-12-05T10:00:00+08:00").to_string());
    let out = hub.run(&["ingest", file.to_str().unwrap(), "--unit", "CT-GD"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let provisional = |hub: &Hub| {
        let (_, v) = hub.json(&["obligations"]);
        v.as_array().unwrap().iter().filter(|o| o["deadline"]["provisional"] == true).count()
    };
    let before = provisional(&hub);
    assert!(before >= 1, "due 2027-01-08 under the statutory days alone");
    assert_eq!(hub.json(&["calendar", "is-workday", "2027-02-12"]).1["provisional"], true);

    let notice = hub.write("notice.txt", NOTICE_2027);
    let out = hub.run(&["calendar", "import", notice.to_str().unwrap(), "--dry-run"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        said.contains("[years.2027]") && said.contains("\"02-05..02-13\"") && said.contains("2027-02-09: working day → day off"),
        "{said}"
    );
    assert!(!hub.path().join("calendars/china.toml").exists(), "a dry run writes nothing");

    let out = hub.run(&["calendar", "import", notice.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains(&format!("recomputed {before} provisional deadline(s)")), "{said}");
    let written = std::fs::read_to_string(hub.path().join("calendars/china.toml")).unwrap();
    assert!(
        written.contains("[years.2026]") && written.contains("workdays = [\"02-20\", \"04-25\", \"05-08\", \"09-26\", \"10-09\"]"),
        "{written}"
    );
    assert_eq!(provisional(&hub), 0);
    let (code, v) = hub.json(&["calendar", "is-workday", "2027-02-12"]);
    assert_eq!((code, v["provisional"].as_bool()), (1, Some(false)), "off under the imported schedule");
    assert_eq!(hub.json(&["calendar", "is-workday", "2027-02-20"]).0, 0, "a make-up Saturday");

    let broken = hub.write(
        "broken.txt",
        &NOTICE_2027.replace("二、春节：2月5日（农历除夕、周五）至13日", "二、春节：2月6日（农历正月初一、周六）至13日"),
    );
    let out = hub.run(&["calendar", "import", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("2027-02-05 (春节)"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn check_accepts_the_shipped_defaults_and_names_every_problem() {
    let hub = Hub::new();
    let out = hub.run(&["check"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let repo = env!("CARGO_MANIFEST_DIR");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tongbao")).arg("check").current_dir(repo).output().unwrap();
    assert!(out.status.success(), "the repository's tongbao.toml: {}", String::from_utf8_lossy(&out.stderr));

    hub.write("tongbao.toml", "[retention]\ndays = 30\n[stor]\npath = \"x\"\n");
    hub.write("connectors/mq.toml", "kind = \"amqp-source\"\nqueue = \"reports\"\n");
    hub.write("connectors/odd.toml", "kind = \"fax-source\"\n");
    let out = hub.run(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in ["tongbao.toml", "stor", "mq.toml", "url_env", "odd.toml", "fax-source"] {
        assert!(err.contains(want), "{want} missing from: {err}");
    }
    hub.write("tongbao.toml", "[retention]\ndays = 59\n");
    let out = hub.run(&["serve"]);
    assert_eq!(out.status.code(), Some(1), "serve refuses a retention under 60 days");
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 60 days"));

    // What the configuration judges (a password in clear to a remote host) and what only the
    // mail connector can (a From address it would refuse) are both named.
    hub.write("tongbao.toml", "");
    std::fs::remove_file(hub.dir.path().join("connectors/mq.toml")).unwrap();
    std::fs::remove_file(hub.dir.path().join("connectors/odd.toml")).unwrap();
    hub.write(
        "connectors/imap.toml",
        "kind = \"imap-source\"\nhost = \"mail.example.cn\"\nport = 143\nsecurity = \"plain\"\nuser_env = \"U\"\npassword_env = \"P\"\n",
    );
    let out = hub.run(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback only"), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_file(hub.dir.path().join("connectors/imap.toml")).unwrap();
    hub.write("connectors/smtp.toml", "kind = \"smtp-sink\"\nurl_env = \"S\"\nfrom = \"通报中心\"\n");
    let out = hub.run(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("smtp.toml") && err.contains("is no mail address"), "{err}");
}

#[test]
fn ingesting_the_same_file_twice_adds_nothing() {
    let hub = Hub::new().with_units();
    let file = hub.write("r.json", &serde_json::to_string(&super::helpers::event("major", "2026-10-01T23:30:00+08:00")).unwrap());
    let file = file.to_str().unwrap();
    let (code, first) = hub.json(&["ingest", file, "--unit", "CT-GD"]);
    assert_eq!(code, 0);
    assert_eq!(first["outcome"], "accepted");
    let (_, reports1) = hub.json(&["reports", "list"]);
    let (_, obligations1) = hub.json(&["obligations"]);

    let (code, second) = hub.json(&["ingest", file, "--unit", "CT-GD"]);
    assert_eq!(code, 0);
    assert_eq!(second["duplicate"], true);
    assert_eq!(second["submission_id"], first["submission_id"]);
    assert_eq!(second["reports"], first["reports"], "the original receipt");
    let (_, reports2) = hub.json(&["reports", "list"]);
    let (_, obligations2) = hub.json(&["obligations"]);
    assert_eq!(reports1.as_array().unwrap().len(), 1);
    assert_eq!(reports1, reports2);
    assert_eq!(obligations1, obligations2);
}

#[test]
fn a_partly_bad_batch_keeps_the_good_reports_and_exits_3() {
    let hub = Hub::new().with_units();
    let repo = env!("CARGO_MANIFEST_DIR");
    let (code, r) = hub.json(&["ingest", &format!("{repo}/examples/batch-mixed.json"), "--unit", "CT-GD"]);
    assert_eq!(code, 3);
    assert_eq!(r["outcome"], "partly_accepted");
    assert_eq!(r["reports"].as_array().unwrap().len(), 2);
    let places: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["place"].as_str().unwrap()).collect();
    assert_eq!(places, vec!["/2/discovered_at", "/2/grade"]);
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("yesterday"));

    let id = r["reports"][0]["report_id"].as_str().unwrap();
    let (code, shown) = hub.json(&["reports", "show", id]);
    assert_eq!(code, 0);
    assert_eq!(shown["report"]["kind"], "warning");
    assert_eq!(shown["obligations"][0]["duty"], "report");
    assert_eq!(shown["obligations"][0]["status"], "late", "reported long after 2026-10-08");
}

#[tokio::test]
async fn an_unregistered_unit_is_refused_and_stored_all_the_same() {
    use tongbao::store::Store;
    let hub = Hub::new().with_units();
    let file = hub.write("r.json", &serde_json::to_string(&super::helpers::event("large", "2026-10-01T23:30:00+08:00")).unwrap());
    let (code, r) = hub.json(&["ingest", file.to_str().unwrap(), "--unit", "NOBODY"]);
    assert_eq!(code, 4);
    assert_eq!(r["errors"][0]["code"], "unknown_sender");
    let (_, reports) = hub.json(&["reports", "list"]);
    assert_eq!(reports.as_array().unwrap().len(), 0);
    // Nothing that came in is lost: the refused submission is stored, bytes and receipt.
    let id: tongbao::model::SubmissionId = r["submission_id"].as_str().unwrap().parse().unwrap();
    let store = tongbao::store::SqliteStore::open(&hub.path().join("data/tongbao.db")).await.unwrap();
    let stored = store.receipt(id, None).await.unwrap().expect("the refused submission is stored");
    assert_eq!(stored.errors[0].code, tongbao::model::ErrorCode::UnknownSender);
    assert_eq!(store.submission_raw(id).await.unwrap().unwrap(), std::fs::read(&file).unwrap(), "its bytes as sent");
}

#[test]
fn overdue_lists_open_obligations_past_their_time() {
    let hub = Hub::new().with_units();
    // A phoned-in major event long ago: the written report is owed and overdue.
    let file = hub.write("r.json", &serde_json::to_string(&super::helpers::event("major", "2026-01-05T09:00:00+08:00")).unwrap());
    let (code, _) = hub.json(&["ingest", file.to_str().unwrap(), "--unit", "CT-GD", "--channel", "phone"]);
    assert_eq!(code, 0);
    let (_, open) = hub.json(&["obligations", "--open"]);
    let duties: Vec<&str> = open.as_array().unwrap().iter().map(|o| o["duty"].as_str().unwrap()).collect();
    assert!(duties.contains(&"written_report") && duties.contains(&"follow_up"), "{duties:?}");
    assert!(!duties.contains(&"report"), "the phone call met the 2-hour duty");
    let (_, overdue) = hub.json(&["obligations", "--overdue"]);
    assert!(overdue.as_array().unwrap().is_empty(), "received just now: nothing overdue yet");

    // A general event of January 2026 owes January's summary, due in February: overdue now.
    let file = hub.write("g.json", &serde_json::to_string(&super::helpers::event("general", "2026-01-05T09:00:00+08:00")).unwrap());
    let (code, _) = hub.json(&["ingest", file.to_str().unwrap(), "--unit", "CT-GD"]);
    assert_eq!(code, 0);
    let (_, overdue) = hub.json(&["obligations", "--overdue"]);
    let overdue: Vec<(&str, &str)> =
        overdue.as_array().unwrap().iter().map(|o| (o["duty"].as_str().unwrap(), o["actor"].as_str().unwrap())).collect();
    assert_eq!(overdue, [("monthly_summary", "unit:CT-GD"), ("monthly_digest", "cncert")], "January's summary and digest, nothing else");
}

#[test]
fn units_import_refuses_a_bad_file_whole() {
    let hub = Hub::new();
    hub.write(
        "bad.json",
        r#"[{"code": "A", "name": "甲", "type": "basic_telecom_group", "province": "national"},
                              {"code": "B", "name": "乙", "type": "martian", "province": "GD"}]"#,
    );
    let out = hub.run(&["units", "import", "bad.json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/1") && err.contains("martian"), "{err}");
    let (_, units) = hub.json(&["units", "list"]);
    assert_eq!(units.as_array().unwrap().len(), 0, "nothing imported");
}

#[test]
fn committed_schemas_match_the_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let drift = tongbao::schemas::drift(&dir);
    assert!(drift.is_empty(), "{drift:?} drifted; run `cargo run -- schemas --out schemas` and commit");
}

#[test]
fn units_import_reads_a_toml_file_whatever_its_name() {
    let hub = Hub::new();
    let text = std::fs::read_to_string(hub.path().join("units.toml")).unwrap();
    let body = text.lines().skip_while(|l| !l.starts_with("[[units]]")).collect::<Vec<_>>().join("\n");
    hub.write("units-list.txt", &body);
    let out = hub.run(&["units", "import", "units-list.txt"]);
    assert!(out.status.success(), "a file opening with [[units]] is TOML: {}", String::from_utf8_lossy(&out.stderr));
}

/// What only people can do for CNCERT is marked done by one of them, audited with who, once.
#[test]
fn a_cncert_duty_is_marked_done_by_a_person_once() {
    let hub = Hub::new().with_units();
    let file = hub.write("b.json", &serde_json::to_string(&super::helpers::botnet(200_000, &[], "2026-10-12T09:00:00+08:00")).unwrap());
    let (code, _) = hub.json(&["ingest", file.to_str().unwrap(), "--unit", "CT-GD"]);
    assert_eq!(code, 0);
    let (_, open) = hub.json(&["obligations", "--open"]);
    let find = |duty: &str| open.as_array().unwrap().iter().find(|o| o["duty"] == duty).map(|o| o["id"].as_str().unwrap().to_string());
    let cncert = find("cncert_report").expect("CNCERT owes its report to CSB");
    let (code, done) = hub.json(&["obligations", "done", &cncert, "--by", "值班员张三", "--note", "已电话报告通信保障局"]);
    assert_eq!(code, 0, "{done}");
    assert_eq!(done["status"], "met", "done within the 2 hours that run from the report reaching the hub");
    let again = hub.run(&["obligations", "done", &cncert, "--by", "值班员张三"]);
    assert_eq!(again.status.code(), Some(1), "done once");
    assert!(String::from_utf8_lossy(&again.stderr).contains("no open duty of CNCERT's"));
    let (_, open) = hub.json(&["obligations", "--open"]);
    assert!(open.as_array().unwrap().iter().all(|o| o["id"] != cncert.as_str()));
}

/// A unit cannot erase its own 迟报 by appealing it: the appeal goes to CNCERT, the status stays,
/// and only CNCERT's grant (audited, with who decided) reopens the duty.
#[test]
fn a_units_appeal_of_its_own_lateness_waits_for_cncerts_grant() {
    let hub = Hub::new().with_units();
    // A level-4 warning reported three weeks after it was found: 迟报.
    let warning = serde_json::json!({"kind": "warning", "discovered_at": "2026-10-12 10:00", "category": "vulnerability", "level": 4,
        "provinces": ["GD"], "content": {"description": "d", "potential_harm": "h", "affected_scope": "s", "aware_parties": "a", "recommendations": "r"}});
    let file = hub.write("w.json", &warning.to_string());
    let (_, receipt) = hub.json(&["ingest", file.to_str().unwrap(), "--unit", "CT-GD"]);
    let late = receipt["reports"][0]["obligations"].as_array().unwrap().iter().find(|o| o["duty"] == "report").unwrap().clone();
    assert_eq!(late["status"], "late", "{late}");
    let id = late["id"].as_str().unwrap().to_string();
    let appeal = hub.write(
        "a.json",
        &serde_json::json!({"kind": "appeal", "content": {"obligation": id, "reason": "系统故障，实际已电话报告"}}).to_string(),
    );
    let (code, r) = hub.json(&["ingest", appeal.to_str().unwrap(), "--unit", "CT-GD"]);
    assert_eq!(code, 0, "the appeal itself is lodged: {r}");
    let status = |hub: &Hub| {
        let (_, all) = hub.json(&["obligations"]);
        all.as_array().unwrap().iter().find(|o| o["id"] == id.as_str()).unwrap()["status"].as_str().unwrap().to_string()
    };
    assert_eq!(status(&hub), "late", "its own lateness is not erased by its own appeal");
    let out = hub.run(&["obligations", "grant", &id, "--by", "值班员张三", "--reason", "核实确有系统故障"]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(status(&hub), "open", "CNCERT's grant reopens it under its own rule");
}

/// `tongbao … | head -1`: a reader that goes away ends the program quietly, never a panic.
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::io::{BufRead, BufReader};
    let hub = Hub::new().with_units();
    let events: Vec<serde_json::Value> = (0..1200)
        .map(|i| super::helpers::event("general", &format!("2026-10-{:02}T{:02}:{:02}:00+08:00", 1 + i / 600, i % 600 / 60 + 8, i % 60)))
        .collect();
    let file = hub.write("many.json", &serde_json::to_string(&events).unwrap());
    assert!(hub.run(&["ingest", file.to_str().unwrap(), "--unit", "CT-GD"]).status.success());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tongbao"))
        .args(["reports", "list", "--limit", "100000"])
        .current_dir(hub.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!first.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Tokens are revoked from the CLI, one or all of a unit's; revoking nothing live says so.
#[test]
fn a_units_tokens_are_revoked_one_or_all() {
    let hub = Hub::new().with_units();
    let issue = || hub.json(&["units", "token", "issue", "CT-GD"]).1["token"].as_str().unwrap().to_string();
    let (first, _second) = (issue(), issue());
    let (code, v) = hub.json(&["units", "token", "revoke", "CT-GD", "--token", &first]);
    assert_eq!((code, v["revoked"].as_u64()), (0, Some(1)));
    let (code, v) = hub.json(&["units", "token", "revoke", "CT-GD"]);
    assert_eq!((code, v["revoked"].as_u64()), (0, Some(1)), "the one left");
    let (code, v) = hub.json(&["units", "token", "revoke", "CT-GD"]);
    assert_eq!((code, v["revoked"].as_u64()), (1, Some(0)), "nothing live: exit 1");
}

/// Acknowledged means durable: commits are fsynced by default, and the faster setting that can
/// lose acknowledged submissions to a power cut is named and warned about by `tongbao check`.
#[test]
fn check_warns_about_commits_that_are_not_durable() {
    let hub = Hub::new();
    let (code, v) = hub.json(&["check"]);
    assert_eq!(code, 0);
    assert!(v["warnings"].as_array().unwrap().iter().all(|w| !w.as_str().unwrap().contains("synchronous")), "{v}");
    hub.write("tongbao.toml", "[store]\nsynchronous = \"normal\"\n");
    let (code, v) = hub.json(&["check"]);
    assert_eq!(code, 0, "a warning, not a refusal");
    assert!(v["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("power cut")), "{v}");
    hub.write("tongbao.toml", "[store]\nsynchronous = \"off\"\n");
    assert_ne!(hub.json(&["check"]).0, 0, "an unknown mode is refused");
}

/// `tongbao users`: a console login is made with the password on standard input, and only
/// with a role that names something real and a password long enough.
#[test]
fn users_are_added_with_a_password_from_standard_input_and_a_real_role() {
    let hub = Hub::new().with_units();
    let add = |name: &str, role: &str, password: &str| hub.run_with_input(&["users", "add", name, "--role", role], password);
    let out = add("Zhang.San", "bureau:GD", "correct horse battery\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("zhang.san (bureau:GD)"));
    assert!(add("li", "unit:CT-GD", "correct horse battery\r\n").status.success(), "a Windows line end is no part of the password");

    let refused = [
        (add("zhang.san", "csb", "another long password\n"), 1, "exists"),
        (add("wang", "unit:NOPE", "correct horse battery\n"), 1, "no registered unit NOPE"),
        (add("wang", "admin", "correct horse battery\n"), 1, "角色应为"),
        (add("wang", "csb", "short\n"), 2, "密码至少"),
        (add("张三", "csb", "correct horse battery\n"), 1, "用户名应为"),
    ];
    for (out, code, says) in refused {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        assert!(stderr.contains(says), "{says} in {stderr}");
    }
    let (code, list) = hub.json(&["users", "list"]);
    assert_eq!(code, 0);
    assert_eq!(list, serde_json::json!([{"user": "li", "role": "unit:CT-GD"}, {"user": "zhang.san", "role": "bureau:GD"}]));

    let replaced = hub.run_with_input(&["users", "add", "zhang.san", "--role", "csb", "--replace"], "another long password\n");
    assert!(replaced.status.success());
    assert!(hub.run(&["users", "remove", "li"]).status.success());
    assert_eq!(hub.run(&["users", "remove", "li"]).status.code(), Some(1));
    let (_, list) = hub.json(&["users", "list"]);
    assert_eq!(list, serde_json::json!([{"user": "zhang.san", "role": "csb"}]));
}
