//! While the calendar lacks this year's holiday schedule, or from 1 November next year's: a warning in the log each day, a gauge, and a weekly mail to CNCERT, which keeps the calendar.

use crate::decision::{AuditRow, OutboxKind};
use crate::fanout::party_row;
use crate::model::Party;
use crate::rules::Calendar;
use crate::store::jobs::JobRun;
use crate::store::{JobStore, Store, StoreError};
use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Asia::Shanghai;

/// Looks for a missing schedule; at most one log warning a day and one mail a week.
pub async fn watch<S: Store + JobStore>(store: &S, cal: &Calendar, now: DateTime<Utc>) -> Result<String, StoreError> {
    let today = now.with_timezone(&Shanghai).date_naive();
    let missing = cal.schedule_missing(today);
    crate::metrics::get().calendar_schedule_missing(missing.is_some());
    let Some(year) = missing else { return Ok(String::new()) };
    let mut said = String::new();
    if store.job_ran("calendar_warning", &today.to_string()).await?.is_none() {
        let run = JobRun {
            job: "calendar_warning",
            period: today.to_string(),
            at: now,
            detail: serde_json::json!({ "year": year }),
            obligations: vec![],
            fulfils: vec![],
            outbox: vec![],
            audit: vec![],
        };
        if store.record_job(run).await? {
            tracing::warn!(
                year,
                "the calendar has no State Council holiday schedule for {year}: its deadlines are provisional (statutory holidays only) until `tongbao calendar import` reads the notice"
            );
            said = format!("{year}'s holiday schedule missing");
        }
    }
    let week = today.iso_week();
    let period = format!("{}-W{:02}", week.year(), week.week());
    if store.job_ran("calendar_reminder", &period).await?.is_none() {
        let title = format!("【提醒】{year} 年节假日安排尚未导入通报系统");
        let lines = vec![
            format!("{year} 年的国务院办公厅节假日安排通知尚未导入，落在 {year} 年的期限目前按法定节假日暂定计算。"),
            "暂定期限不判定迟报、漏报；导入后系统重新计算期限与状态，并就撤回的提示发出更正。".to_string(),
            "通知发布后，请将原文保存为文本文件，执行：tongbao calendar import 文件名".to_string(),
            "依据：《全国年节及纪念日放假办法》第二条".to_string(),
        ];
        let payload = serde_json::json!({ "alert": "calendar_missing", "title": title, "lines": lines, "year": year });
        let run = JobRun {
            job: "calendar_reminder",
            period: period.clone(),
            at: now,
            detail: serde_json::json!({ "year": year }),
            obligations: vec![],
            fulfils: vec![],
            outbox: vec![party_row(OutboxKind::Alert, &Party::Cncert, "to", format!("calendar:{year}"), &payload)],
            audit: vec![AuditRow { actor: "hub".into(), action: "calendar.missing", subject: year.to_string(), detail: payload }],
        };
        if store.record_job(run).await? {
            said = format!("{year}'s holiday schedule missing; CNCERT reminded ({period})");
        }
    }
    Ok(said)
}
