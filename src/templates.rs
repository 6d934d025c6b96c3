//! Every text a person reads (web pages, mails), as minijinja templates from `templates/`, compiled into the binary and checked by `tongbao check`.
//!
//! Templates whose names end in `.html` are autoescaped; values are never marked safe, so
//! nothing a unit submitted can become markup. Undefined variables are errors (strict mode),
//! so a misspelt field fails `tongbao check` rather than printing an empty line at 3 a.m.

use minijinja::{Environment, UndefinedBehavior};
use serde_json::json;

/// (name, source) of every template.
const TEMPLATES: &[(&str, &str)] = &[
    ("upload.html", include_str!("../templates/upload.html")),
    ("upload_receipt.html", include_str!("../templates/upload_receipt.html")),
    ("appeal.html", include_str!("../templates/appeal.html")),
    ("provisional.html", include_str!("../templates/provisional.html")),
    ("console/base.html", include_str!("../templates/console/base.html")),
    ("console/nav.html", include_str!("../templates/console/nav.html")),
    ("console/login.html", include_str!("../templates/console/login.html")),
    ("console/dashboard.html", include_str!("../templates/console/dashboard.html")),
    ("console/reports.html", include_str!("../templates/console/reports.html")),
    ("console/report.html", include_str!("../templates/console/report.html")),
    ("console/not_found.html", include_str!("../templates/console/not_found.html")),
    ("console/obligations.html", include_str!("../templates/console/obligations.html")),
    ("console/forbidden.html", include_str!("../templates/console/forbidden.html")),
    ("console/digest.html", include_str!("../templates/console/digest.html")),
    ("console/upload.html", include_str!("../templates/console/upload.html")),
    ("console/review_list.html", include_str!("../templates/console/review_list.html")),
    ("console/botnets.html", include_str!("../templates/console/botnets.html")),
    ("console/units.html", include_str!("../templates/console/units.html")),
    ("console/unit.html", include_str!("../templates/console/unit.html")),
    ("console/review.html", include_str!("../templates/console/review.html")),
    ("console/upload_preview.html", include_str!("../templates/console/upload_preview.html")),
    ("console/upload_receipt.html", include_str!("../templates/console/upload_receipt.html")),
    ("mail/receipt.subject.txt", include_str!("../templates/mail/receipt.subject.txt")),
    ("mail/receipt.txt", include_str!("../templates/mail/receipt.txt")),
    ("mail/receipt.html", include_str!("../templates/mail/receipt.html")),
    ("mail/notice.subject.txt", include_str!("../templates/mail/notice.subject.txt")),
    ("mail/notice.txt", include_str!("../templates/mail/notice.txt")),
    ("mail/notice.html", include_str!("../templates/mail/notice.html")),
    ("mail/alert.subject.txt", include_str!("../templates/mail/alert.subject.txt")),
    ("mail/alert.txt", include_str!("../templates/mail/alert.txt")),
    ("mail/alert.html", include_str!("../templates/mail/alert.html")),
    ("mail/batch.subject.txt", include_str!("../templates/mail/batch.subject.txt")),
    ("mail/batch.txt", include_str!("../templates/mail/batch.txt")),
    ("mail/batch.html", include_str!("../templates/mail/batch.html")),
    ("mail/digest.subject.txt", include_str!("../templates/mail/digest.subject.txt")),
    ("mail/digest.txt", include_str!("../templates/mail/digest.txt")),
    ("mail/digest.html", include_str!("../templates/mail/digest.html")),
];

/// The environment with every template loaded.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source).unwrap_or_else(|e| panic!("template {name} does not compile: {e}"));
    }
    env
}

/// Renders a template; the error names the template and the line.
pub fn render(env: &Environment<'_>, name: &str, ctx: impl serde::Serialize) -> Result<String, String> {
    env.get_template(name).and_then(|t| t.render(ctx)).map_err(|e| format!("template {name}: {e:#}"))
}

/// Sample contexts that use every variable, one per template family.
fn samples() -> Vec<(&'static str, serde_json::Value)> {
    let receipt = json!({
        "original_subject": "事件报送", "received_at": "2026-09-23 10:20", "submission_id": "0192",
        "outcome": "部分受理", "duplicate": false,
        "reports": [{"kind": "网络安全事件", "severity": "重大", "report_id": "0193", "grade_note": "x", "for_unit": "CT-GD", "source": "事件表!第4行", "cc": "203.0.113.7:6667",
            "obligations": [{"duty": "事件报告", "actor": "本单位", "to": "通信保障局", "due_at": "2026-09-23 12:00", "provisional": true, "basis": "第十二条", "overdue": "已逾期 2小时"}]}],
        "errors": ["事件表!B7：应为事件分级"],
        "notes": ["事件表!A3：未识别的列“序号”"], "blank_forms": ["网络安全事件信息报送表.xlsx"], "summary": "本次共受理 1000 份报告",
    });
    let notice = json!({
        "heading": "【通报】", "recipient": "广东省通信管理局", "kind": "网络安全事件", "severity": "重大", "title": "x", "report_id": "0193",
        "unit": "CT-GD", "discovered_at": "2026-09-23 10:00", "provinces": "广东", "details": [{"label": "影响", "value": "x"}],
        "duty": "事件报告", "basis": "第十二条",
    });
    let alert = json!({"recipient": "广东电信（张三）", "title": "【提醒】报送将于 2026-09-23 12:00 到期", "lines": ["事项：报送", "期限：2026-09-23 12:00"]});
    let batch = json!({"recipient": "广东电信（张三）", "items": [{"title": "【通报】预警", "lines": ["报告编号：0193"]}]});
    let line = json!({"label": "重大（事件）", "count": 3, "previous": 1});
    let digest = json!({
        "recipient": "通信保障局（李四）", "chart_cid": "chart", "current_colour": "#c0392b", "previous_colour": "#95a5a6",
        "rates": {"feedback": "50%", "disposal": "—"},
        "d": {"month": "2026-09", "previous_month": "2026-08", "trend": "本月共收到报告 3 份。",
            "by_grade": [line.clone()], "by_category": [line.clone()], "by_unit": [line.clone()], "by_province": [line],
            "typical": [{"severity": "重大", "kind": "事件信息", "unit": "CT-GD", "provinces": "广东", "discovered_at": "2026-09-23 10:00", "title": "x"}],
            "disposal": {"notified": 2, "on_time": 1, "late": 0, "missed": 1, "open": 0, "targets_disposed": 3, "targets_undisposed": 1},
            "lateness": [{"label": "CT-GD", "late": 1, "missed": 0}], "late_summaries": ["CT-GD 2026-08 月度汇总，一般事件 3 起"], "for_unit": "CT-GD"},
    });
    let obligation = json!({"id": "0194", "report_id": "0193", "duty": "事件报告", "rule": "2小时内", "actor": "unit:CT-GD", "actor_zh": "广东电信",
        "due_at": "2026-09-23T04:00:00Z", "due_local": "2026-09-23 12:00", "provisional": true, "basis": "《通报办法》第十二条", "status": "open", "status_zh": "已逾期"});
    let obligation_row = obligation.clone();
    let unit_row = json!({"code": "CT-GD", "name": "中国电信广东分公司", "type_zh": "基础电信业务经营者省级公司", "province": "广东省", "important": false,
        "contacts": [{"role": "leader", "role_zh": "主管领导", "name": "王五", "phone": null, "email": "w@gd.example.cn"}]});
    let report_row = json!({"id": "0193", "submission_id": "0192", "received_local": "2026-09-23 10:05", "discovered_local": "2026-09-23 10:00",
        "unit": "CT-GD", "kind": "event", "kind_zh": "事件信息", "grade_zh": "重大", "provinces": "广东", "title": "攻击", "follows_up": "0190"});
    let console = json!({"csrf": "abc", "d": {"as_of_local": "2026-09-23 10:00",
        "viewer": {"name": "zhang", "role": "bureau:GD", "role_zh": "广东通信管理局"},
        "today": {"total": 3, "by_kind_and_grade": [{"kind_zh": "事件信息", "grade_zh": "重大", "count": 3}]},
        "due_soon": {"total": 2, "items": [obligation.clone()]}, "overdue": {"total": 1, "items": [obligation]},
        "outbox_backlog": [{"channel": "email", "status": "pending", "count": 3, "oldest_age_s": 7200}], "awaiting_review": 2}});
    let mut out = vec![
        ("upload.html", json!({"max_mb": 64})),
        ("provisional.html", json!({"o": {"provisional": true}})),
        (
            "upload_receipt.html",
            json!({"problem": null, "file": "a.xlsx", "outcome": "部分受理", "receipt": {
                "submission_id": "0192", "duplicate": false,
                "reports": [{"index": 0, "kind": "事件信息", "grade": "重大", "grade_note": null, "report_id": "0193",
                    "obligations": [{"duty": "报送", "due_at": "2026-09-23 12:00", "status": "待履行", "provisional": true}]}],
                "errors": [{"code": "bad_grade", "place": "事件表!B7", "message": "x"}]}}),
        ),
        (
            "appeal.html",
            json!({"workdays": 5, "per_day": 3, "accepted": {"id": "0192", "targets": "203.0.113.7", "due": "2026-09-30 24:00", "email": "a@b.cn"},
                "confirm": null, "confirming": null,
                "errors": [{"field": "申诉理由", "message": "x"}],
                "form": {"target": "", "disposal": "", "reason": "", "name": "", "email": "", "phone": ""}}),
        ),
        ("console/base.html", json!({})),
        ("console/login.html", json!({"error": "用户名或密码不正确", "name": "zhang"})),
        ("console/nav.html", console.clone()),
        ("console/dashboard.html", console.clone()),
        ("console/not_found.html", console.clone()),
        ("console/forbidden.html", console.clone()),
        ("console/units.html", {
            let mut c = console.clone();
            c["units"] = json!([unit_row.clone()]);
            c
        }),
        ("console/unit.html", {
            let mut c = console.clone();
            c["unit"] = unit_row;
            c["rows"] = json!([{"role": "leader", "role_zh": "主管领导", "name": "王五", "phone": "", "email": "w@gd.example.cn"}]);
            c["may_edit"] = json!(true);
            c["as_report"] = json!(false);
            c["error"] = json!(null);
            c
        }),
        ("console/botnets.html", {
            let mut c = console.clone();
            c["b"] = json!({"events": [{"report": report_row.clone(), "open": 2, "late_or_missed": 1, "steps": [obligation_row.clone()]}]});
            c
        }),
        ("console/review_list.html", {
            let mut c = console.clone();
            let draft = json!({"report_id": "0193", "created_local": "2026-09-23 10:05", "title": "【通告】事件信息重大：攻击", "lines": ["事件统计情况：x"],
                "review": {"decision": "approved", "decision_zh": "已批准", "decided_by": "li", "decided_local": "2026-09-23 11:00", "title": "t",
                    "lines": ["x"], "recipients": ["unit:CT-GD"], "note": null}});
            c["r"] = json!({"waiting": [draft.clone()], "approved": [draft]});
            c
        }),
        ("console/review.html", {
            let mut c = console.clone();
            c["draft"] = json!({"report_id": "0193", "created_local": "2026-09-23 10:05", "title": "【通告】事件信息重大：攻击", "lines": ["事件统计情况：x"],
                "review": {"decision": "returned", "decision_zh": "已退回", "decided_by": "li", "decided_local": "2026-09-23 11:00", "title": "t",
                    "lines": ["x"], "recipients": [], "note": "请补充态势分析"}});
            c["report"] = report_row.clone();
            c["recipients"] = json!("CT-GD, IDC-GZ");
            c["form"] = json!({"title": "t", "lines": "x"});
            c["may_decide"] = json!(true);
            c["error"] = json!("请选择批准或退回");
            c
        }),
        ("console/upload.html", {
            let mut c = console.clone();
            c["max_mb"] = json!(64);
            c["error"] = json!("请选择文件");
            c
        }),
        ("console/upload_preview.html", {
            let mut c = console.clone();
            c["draft"] = json!("ab12");
            c["file"] = json!("事件表.xlsx");
            c["accepted"] = json!(2);
            c["draft_hours"] = json!(1);
            c["errors"] = json!([{"place": "事件表!D7", "code": "bad_grade", "message": "应为事件分级"}]);
            c["notes"] = json!([{"place": "事件表!J3", "message": "未识别的列"}]);
            c["sheets"] = json!([{"name": "事件表", "columns": ["A", "B"], "truncated": true, "rows": [{"number": 7, "cells": [
                {"text": "x", "place": "事件表!A7", "errors": null}, {"text": "很大", "place": "事件表!B7", "errors": "应为事件分级"}]}]}]);
            c
        }),
        ("console/upload_receipt.html", {
            let mut c = console.clone();
            c["file"] = json!("a.xlsx");
            c["outcome"] = json!("部分受理");
            c["receipt"] = json!({"submission_id": "0192", "duplicate": false,
                "reports": [{"index": 0, "source": "事件表!第4行", "report_id": "0193", "kind": "事件信息", "grade": "重大", "grade_note": null,
                    "obligations": [{"duty": "报送", "due_at": "2026-09-23 12:00", "status": "待办", "provisional": false}]}],
                "errors": [{"place": "事件表!B7", "code": "bad_grade", "message": "x"}]});
            c
        }),
        ("console/digest.html", {
            let mut c = console.clone();
            c["error"] = json!(null);
            c["current_colour"] = json!("#c0392b");
            c["previous_colour"] = json!("#95a5a6");
            c["g"] = json!({"month": "2026-09", "digest": digest["d"].clone(), "rates": digest["rates"].clone(),
                "sent": [{"created_local": "2026-10-01 09:00", "channel": "按单位分发", "recipient": "csb", "status": "已分发", "last_error": null}]});
            c
        }),
        ("console/obligations.html", {
            let mut c = console.clone();
            c["late_days"] = json!(30);
            c["b"] = json!({"state": "overdue", "as_of_local": "2026-09-23 10:00", "unit": null, "province": "GD", "total": 1, "items": [obligation_row.clone()],
                "parties": [{"actor": "unit:CT-GD", "actor_zh": "广东电信", "unit": "CT-GD", "due_soon": 1, "overdue": 2, "missed": 0, "met_late": 1}]});
            c
        }),
        ("console/reports.html", {
            let mut c = console.clone();
            c["list"] = json!({"items": [report_row.clone()], "next_before": "0193"});
            c["filters"] = json!({"kind": "event", "grade": "", "unit": "", "province": "GD", "from": "", "to": ""});
            c["error"] = json!("from：应为日期");
            c["next_query"] = json!("kind=event&before=0193");
            c["kinds"] = json!([{"code": "event", "label": "事件信息"}]);
            c["grades"] = json!([{"code": "major", "label": "重大"}]);
            c
        }),
        ("console/report.html", {
            let mut c = console;
            c["t"] = json!({"report": report_row.clone(), "declared_grade_zh": "较大", "may_download": true,
                "particulars": [{"label": "事件发生时间", "value": "2026-09-23 10:00"}], "obligations": [obligation_row],
                "follow_ups": [report_row], "notices": [{"created_local": "2026-09-23 10:05", "kind": "notice", "channel": "email",
                    "recipient": "bureau:GD", "status": "sent", "attempts": 1, "last_error": null, "urgent": true}],
                "audit": [{"at_local": "2026-09-23 10:05", "actor": "CT-GD", "action": "report.regraded", "subject": "0193", "detail": "{}"}]});
            c
        }),
        ("mail/receipt.subject.txt", receipt.clone()),
        ("mail/receipt.txt", receipt.clone()),
        ("mail/receipt.html", receipt),
        ("mail/notice.subject.txt", notice.clone()),
        ("mail/notice.txt", notice.clone()),
        ("mail/notice.html", notice),
    ];
    for (family, ctx) in [("alert", alert), ("batch", batch), ("digest", digest)] {
        for (name, _) in TEMPLATES.iter().filter(|(n, _)| n.starts_with(&format!("mail/{family}."))) {
            out.push((name, ctx.clone()));
        }
    }
    out
}

/// Compiles and renders every template with a sample (for `tongbao check`).
pub fn check() -> Result<(), String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source).map_err(|e| format!("template {name}: {e:#}"))?;
    }
    let samples = samples();
    for (name, _) in TEMPLATES {
        let Some((_, ctx)) = samples.iter().find(|(n, _)| n == name) else { return Err(format!("template {name} has no sample context")) };
        render(&env, name, ctx)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_compiles_and_renders() {
        super::check().unwrap();
    }

    #[test]
    fn html_mail_escapes_what_units_wrote() {
        let env = super::environment();
        let mut ctx = super::samples().into_iter().find(|(n, _)| *n == "mail/notice.html").unwrap().1;
        ctx["title"] = "<script>alert(1)</script>".into();
        let html = super::render(&env, "mail/notice.html", &ctx).unwrap();
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
    }

    #[test]
    fn the_upload_receipt_of_a_large_submission_says_how_much_it_leaves_out() {
        let env = super::environment();
        let mut ctx = super::samples().into_iter().find(|(n, _)| *n == "upload_receipt.html").unwrap().1;
        ctx["receipt"]["summary"] = serde_json::json!({"reports": 300, "errors": 0, "by_grade": {"large": 300}});
        let html = super::render(&env, "upload_receipt.html", &ctx).unwrap();
        assert!(html.contains("本次共受理 300 份报告") && html.contains("仅列出前 1 份报告"), "{html}");
    }

    #[test]
    fn a_missing_variable_is_an_error() {
        let env = super::environment();
        let e = super::render(&env, "mail/notice.txt", serde_json::json!({"recipient": "x"})).unwrap_err();
        assert!(e.contains("mail/notice.txt"), "{e}");
    }
}
