//! The real binary on a simulated clock (`TONGBAO_CLOCK`) through the first working days of January 2027, before the State Council's schedule for 2027 is out, its mails read back from Dovecot.

use crate::delivery::{Cast, DrillHub, assert_ok, count, delivered, hub_for, start, stop};
use crate::mail::{MAIL, wait_for};
use std::time::Duration;

/// Runs the hub's commands and `serve` as if it were `at` (Beijing time).
fn at(hub: &mut DrillHub, instant: &str) {
    hub.env.retain(|(k, _)| k != "TONGBAO_CLOCK");
    hub.env.push(("TONGBAO_CLOCK".into(), instant.into()));
}

/// Starts the hub at the hub's clock, lets its catch-up run and its mails go out, and stops it.
async fn serve_a_while(hub: &DrillHub, n: u32) {
    let serve = start(hub, n);
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop(serve);
}

/// 《全国年节及纪念日放假办法》 Art. 2 and 《通报办法》 Art. 13¶3: December's summaries are due at
/// the end of Fri 2027-01-08 (元旦 is a holiday by law, though 2027's schedule is not out). On
/// Mon 01-04 each unit is reminded, the deadline marked 暂定; CNCERT is told the schedule is
/// missing. On the morning of the 8th nobody is alerted 漏报. CT-GD sends its summary that
/// evening; on the 9th only the bureau, which never sent, is listed and alerted, and CT-GD hears
/// nothing more. The digest of December waits for the 6th working day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_days_of_january_2027_on_a_simulated_clock_raise_no_false_alarm() {
    let _turn = MAIL.lock().await;
    let cast = Cast::new();
    let mut hub = hub_for(&cast, "");

    at(&mut hub, "2027-01-04T09:00:00+08:00");
    serve_a_while(&hub, 1).await;
    wait_for("the summary reminder at CT-GD", Duration::from_secs(60), async || {
        count(&cast.unit, "2027-01-08 24:00（暂定）", "").await >= 1
    })
    .await;
    wait_for("CNCERT told the 2027 schedule is missing", Duration::from_secs(60), async || {
        count(&cast.cert, "2027 年节假日安排尚未导入", "").await >= 1
    })
    .await;

    at(&mut hub, "2027-01-08T09:00:00+08:00");
    serve_a_while(&hub, 2).await;
    let summary = serde_json::json!({"kind": "monthly_general", "content": {"month": "2026-12", "events": []}});
    let file = hub.write("summary.json", &summary.to_string());
    at(&mut hub, "2027-01-08T20:00:00+08:00");
    let receipt = assert_ok(&hub, &["ingest", file.to_str().unwrap(), "--unit", "CT-GD", "--json"]);
    assert!(receipt.contains("\"met\""), "a summary on the 8th is on time, not 迟报: {receipt}");
    for mailbox in [&cast.unit, &cast.bureau, &cast.cert, &cast.csb] {
        assert_eq!(count(mailbox, "【逾期】", "").await, 0, "no 漏报 on 01-08 at {mailbox}");
    }

    at(&mut hub, "2027-01-09T09:00:00+08:00");
    serve_a_while(&hub, 3).await;
    wait_for("the missing list at CNCERT", Duration::from_secs(60), async || count(&cast.cert, "未报送单位", "").await >= 1).await;
    let missing: Vec<String> =
        delivered(&cast.cert).await.into_iter().filter(|d| d.subject.contains("未报送单位")).map(|d| d.text).collect();
    assert_eq!(missing.len(), 1);
    assert!(missing[0].contains("广东省通信管理局") && !missing[0].contains("CT-GD"), "{}", missing[0]);
    wait_for("the bureau's 漏报 alert", Duration::from_secs(60), async || count(&cast.bureau, "【逾期】", "").await >= 1).await;
    assert_eq!(count(&cast.unit, "【逾期】", "").await, 0, "CT-GD sent in time and hears no 漏报");
    let reminders: Vec<String> =
        delivered(&cast.unit).await.into_iter().filter(|d| d.subject.contains("【提醒】")).map(|d| d.subject).collect();
    assert!(
        !reminders.is_empty() && reminders.iter().all(|s| s.contains("暂定")),
        "every reminder says its deadline is provisional: {reminders:?}"
    );
    assert_eq!(count(&cast.csb, "【月度通报】2026-12", "").await, 0, "December's digest waits for 01-11");
}
