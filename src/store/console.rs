//! What the web console reads, scoped to what a role may see: today's reports by grade, and open obligations due soon or overdue, with the SQL both backends share.

use crate::model::{Obligation, Province, Role, UnitCode, UnitSet};
use crate::store::StoreError;
use chrono::{DateTime, Utc};

/// What a viewer may see: everything (CNCERT, CSB), a province (its bureau), or a unit's own
/// (a group company's: its subsidiaries' too, Art. 12¶2 [通报办法]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Province(Province),
    Units(UnitSet),
}

impl Scope {
    /// One unit's own, without subsidiaries (a filter a viewer chose).
    pub fn unit(code: UnitCode) -> Scope {
        Scope::Units(UnitSet::one(code))
    }

    /// The scope of `role`, a unit's reaching its subsidiaries among `registered`.
    pub fn of(role: &Role, registered: &[crate::model::Unit]) -> Scope {
        match role {
            Role::Cncert | Role::Csb => Scope::All,
            Role::Bureau(p) => Scope::Province(*p),
            Role::Unit(u) => Scope::Units(UnitSet::of(u.clone(), registered)),
        }
    }
}

/// Reports of one kind and grade (or level), counted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    pub kind: String,
    /// The grade of an event, `level-N` of a warning, none for the rest.
    pub grade: Option<String>,
    pub count: i64,
}

/// Which open obligations to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Open and due in `(from, to]`.
    Between(DateTime<Utc>, DateTime<Utc>),
    /// Past due at this instant and not done: open, or marked missed (漏报).
    Overdue(DateTime<Utc>),
    /// Done after their due time (迟报), since this instant.
    MetLate(DateTime<Utc>),
}

/// One party's obligations by state: what the board shows a row for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartyTally {
    pub actor: String,
    pub due_soon: i64,
    pub overdue: i64,
    pub missed: i64,
    pub met_late: i64,
}

/// A page of obligations and how many match in all.
#[derive(Debug, Clone)]
pub struct ObligationPage {
    pub items: Vec<Obligation>,
    pub total: i64,
}

/// Which reports to list, newest first; every field set narrows the list.
#[derive(Debug, Clone, Default)]
pub struct ReportQuery {
    pub kind: Option<crate::model::ReportKind>,
    /// An event's grade code (`major`), or `level-N` for a warning.
    pub grade: Option<String>,
    pub unit: Option<UnitCode>,
    pub province: Option<Province>,
    /// Received at or after.
    pub from: Option<DateTime<Utc>>,
    /// Received before.
    pub to: Option<DateTime<Utc>>,
    /// Reports that follow up this one.
    pub follows_up: Option<crate::model::ReportId>,
    /// The page after this report (ids are UUIDv7: id order is arrival order).
    pub before: Option<crate::model::ReportId>,
    pub limit: u32,
}

/// An audit entry as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: serde_json::Value,
}

/// A parameter of a console query, bound by each backend in its own types.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Text(String),
    At(DateTime<Utc>),
    Id(uuid::Uuid),
}

/// A public notice drafted for CSB's review (an outbox row of kind `notice_draft`), with CSB's
/// decision once made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NoticeDraft {
    pub report_id: String,
    pub created_at: DateTime<Utc>,
    /// The draft as intake wrote it: `notice_title`, `lines` (Art. 20's items), `provinces`.
    pub draft: serde_json::Value,
    pub review: Option<NoticeReview>,
}

/// CSB's decision on a draft.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NoticeReview {
    /// `approved` or `returned`.
    pub decision: String,
    pub decided_by: String,
    pub decided_at: DateTime<Utc>,
    pub title: String,
    pub lines: Vec<String>,
    /// Parties the approved notice went to (`unit:…`), copied to all bureaus.
    pub recipients: Vec<String>,
    pub note: Option<String>,
}

/// What CSB decides, and for an approval the rows that send the notice.
#[derive(Debug)]
pub struct Decided {
    pub review: NoticeReview,
    pub outbox: Vec<crate::decision::OutboxRow>,
}

pub trait ConsoleStore {
    /// Drafts of public notices, newest first: those no CSB user has approved yet when
    /// `waiting`, else all.
    /// `report` narrows the list to that report's draft.
    fn notice_drafts(
        &self,
        waiting: bool,
        report: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<NoticeDraft>, StoreError>> + Send;
    /// How many notice drafts wait for a CSB approval (never approved; returned ones count).
    fn awaiting_notices(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;
    /// Records CSB's decision on the draft of `report_id` and, for an approval, queues its rows,
    /// in one transaction; `false` (nothing written) when there is no such draft or it was
    /// approved already (by another user a moment before). A returned draft may be approved later.
    fn review_notice(&self, report_id: &str, decided: Decided) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// The reports `query` selects that `scope` may see.
    fn report_page(&self, scope: &Scope, query: &ReportQuery) -> impl Future<Output = Result<Vec<super::StoredReport>, StoreError>> + Send;
    /// The audit entries about these subjects (reports, obligations, appeals), oldest first;
    /// intake's per-submission entries are not among them.
    fn audit_of(&self, subjects: &[String], limit: u32) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send;
    /// The reports received since `since` that `scope` may see, by kind and grade.
    fn report_tally(&self, scope: &Scope, since: DateTime<Utc>) -> impl Future<Output = Result<Vec<Tally>, StoreError>> + Send;
    /// The obligations `due` selects that `scope` may see, within `narrow` (the viewer's own
    /// filter; `Scope::All` for none), soonest due first.
    fn due_obligations(
        &self,
        scope: &Scope,
        narrow: &Scope,
        due: Due,
        limit: u32,
    ) -> impl Future<Output = Result<ObligationPage, StoreError>> + Send;
    /// Each party's obligations that `scope` may see: due by `soon`, overdue or missed at
    /// `now`, done late since `late_since`; the parties with the most overdue first.
    fn party_tallies(
        &self,
        scope: &Scope,
        now: DateTime<Utc>,
        soon: DateTime<Utc>,
        late_since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<PartyTally>, StoreError>> + Send;
}

/// A text parameter of a scoped query.
pub(crate) type Binds = Vec<String>;

/// The condition on `reports r` for `scope`, its parameters numbered from `first` (`$N`; the
/// SQLite backend turns them into `?N`).
pub(crate) fn report_scope(scope: &Scope, first: usize) -> (String, Binds) {
    match scope {
        Scope::All => ("1 = 1".into(), vec![]),
        Scope::Province(p) => (format!("(' ' || r.provinces || ' ') LIKE ${first}"), vec![format!("% {} %", p.code())]),
        Scope::Units(us) => {
            let codes: Vec<String> = us.codes().map(|u| u.to_string()).collect();
            let params: Vec<String> = (first..first + codes.len()).map(|i| format!("${i}")).collect();
            (format!("r.unit_code IN ({})", params.join(", ")), codes)
        }
    }
}

/// The condition on `obligations o` (joined to `reports r`) for `scope`: a unit sees its own
/// duties; a bureau its own, those addressed or copied to it, and those of its province's reports.
pub(crate) fn obligation_scope(scope: &Scope, first: usize) -> (String, Binds) {
    match scope {
        Scope::All => ("1 = 1".into(), vec![]),
        Scope::Province(p) => {
            let party = format!("bureau:{}", p.code());
            (
                format!(
                    "(o.actor = ${a} OR CAST(o.recipients AS TEXT) LIKE ${b} OR CAST(o.copies AS TEXT) LIKE ${b} \
                     OR CAST(o.recipients AS TEXT) LIKE ${d} OR CAST(o.copies AS TEXT) LIKE ${d} \
                     OR (' ' || r.provinces || ' ') LIKE ${c})",
                    a = first,
                    b = first + 1,
                    c = first + 2,
                    d = first + 3
                ),
                vec![party.clone(), format!("%\"{party}\"%"), format!("% {} %", p.code()), "%\"bureaus:all\"%".to_string()],
            )
        }
        Scope::Units(us) => {
            let parties: Vec<String> = us.codes().map(|u| format!("unit:{u}")).collect();
            let params: Vec<String> = (first..first + parties.len()).map(|i| format!("${i}")).collect();
            (format!("o.actor IN ({})", params.join(", ")), parties)
        }
    }
}

/// The condition for `due` and the instants it binds, as `$1` (and `$2`).
pub(crate) fn due_condition(due: Due) -> (&'static str, Vec<DateTime<Utc>>) {
    match due {
        Due::Between(from, to) => ("o.status = 'open' AND o.due_at > $1 AND o.due_at <= $2", vec![from, to]),
        Due::Overdue(now) => ("((o.status = 'open' AND o.due_at <= $1) OR o.status = 'missed')", vec![now]),
        Due::MetLate(since) => ("o.status = 'late' AND o.met_at >= $1", vec![since]),
    }
}

/// The query of `report_page` and its parameters in order (`$1`…).
pub(crate) fn report_page_query(scope: &Scope, q: &ReportQuery) -> (String, Vec<Param>) {
    let mut params = Vec::new();
    let mut conds = Vec::new();
    let (cond, binds) = report_scope(scope, 1);
    conds.push(cond);
    params.extend(binds.into_iter().map(Param::Text));
    let mut add = |sql: &str, p: Param, params: &mut Vec<Param>| {
        params.push(p);
        conds.push(sql.replace('#', &format!("${}", params.len())));
    };
    if let Some(k) = q.kind {
        add("r.kind = #", Param::Text(k.code().to_string()), &mut params);
    }
    if let Some(g) = &q.grade {
        add("coalesce(r.grade, 'level-' || r.level) = #", Param::Text(g.clone()), &mut params);
    }
    if let Some(u) = &q.unit {
        add("r.unit_code = #", Param::Text(u.to_string()), &mut params);
    }
    if let Some(p) = q.province {
        add("(' ' || r.provinces || ' ') LIKE #", Param::Text(format!("% {} %", p.code())), &mut params);
    }
    if let Some(t) = q.from {
        add("r.received_at >= #", Param::At(t), &mut params);
    }
    if let Some(t) = q.to {
        add("r.received_at < #", Param::At(t), &mut params);
    }
    if let Some(r) = q.follows_up {
        add("r.follows_up = #", Param::Id(r.as_uuid()), &mut params);
    }
    if let Some(r) = q.before {
        add("r.id < #", Param::Id(r.as_uuid()), &mut params);
    }
    let sql = format!(
        "SELECT r.submission_id, r.received_at, r.body FROM reports r WHERE {} ORDER BY r.id DESC LIMIT {}",
        conds.join(" AND "),
        q.limit.clamp(1, 1001)
    );
    (sql, params)
}

/// The audit query for `n` subjects (`$1`…`$n`): intake's per-submission entries are left out,
/// which is also what the partial index `audit_subject` covers.
pub(crate) fn audit_query(n: usize, limit: u32) -> String {
    let list: Vec<String> = (1..=n.max(1)).map(|i| format!("${i}")).collect();
    format!(
        "SELECT at, actor, action, subject, detail FROM audit WHERE subject IN ({}) AND action NOT LIKE 'submission.%' ORDER BY at, id LIMIT {}",
        list.join(", "),
        limit.clamp(1, 10_000)
    )
}

/// The query of `notice_drafts`: the report, when given, is `$1`.
pub(crate) fn notice_drafts_query(waiting: bool, report: bool, limit: u32) -> String {
    format!(
        "SELECT o.subject_id, o.created_at, o.payload, n.decision, n.decided_by, n.decided_at, n.title, n.lines, n.recipients, n.note \
         FROM outbox o LEFT JOIN notice_reviews n ON n.report_id = o.subject_id \
         WHERE o.kind = 'notice_draft' {} {} ORDER BY o.id DESC LIMIT {}",
        if waiting { "AND (n.decision IS NULL OR n.decision <> 'approved')" } else { "" },
        if report { "AND o.subject_id = $1" } else { "" },
        limit.clamp(1, 1000)
    )
}

/// Whether the report `$1` has a notice draft.
pub(crate) const DRAFT_EXISTS: &str = "SELECT 1 FROM outbox WHERE kind = 'notice_draft' AND subject_id = $1 LIMIT 1";

/// The query of `awaiting_notices`.
pub(crate) const AWAITING_NOTICES_QUERY: &str = "SELECT COUNT(*) AS n FROM outbox o LEFT JOIN notice_reviews n ON n.report_id = o.subject_id \
     WHERE o.kind = 'notice_draft' AND (n.decision IS NULL OR n.decision <> 'approved')";

/// Records a decision unless the draft was approved already (`$1`…`$8`: report, decision, by,
/// at, title, lines, recipients, note); one statement, so of two approvals at once one writes.
pub(crate) const REVIEW_UPSERT: &str = "INSERT INTO notice_reviews (report_id, decision, decided_by, decided_at, title, lines, recipients, note) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (report_id) DO UPDATE SET decision = excluded.decision, \
     decided_by = excluded.decided_by, decided_at = excluded.decided_at, title = excluded.title, lines = excluded.lines, \
     recipients = excluded.recipients, note = excluded.note WHERE notice_reviews.decision <> 'approved'";

/// The audit entry of a decision: who decided, and to whom the notice went or why it came back.
pub(crate) fn review_audit(report_id: &str, r: &NoticeReview) -> crate::decision::AuditRow {
    crate::decision::AuditRow {
        actor: format!("user:{}", r.decided_by),
        action: if r.decision == "approved" { "notice.approved" } else { "notice.returned" },
        subject: report_id.to_string(),
        detail: serde_json::json!({ "recipients": r.recipients, "note": r.note }),
    }
}

/// The query of `party_tallies`: `$1` now, `$2` soon, `$3` late since, then the scope's texts.
pub(crate) fn party_tally_query(scope: &Scope) -> (String, Binds) {
    let (cond, binds) = obligation_scope(scope, 4);
    let sql = format!(
        "SELECT o.actor, \
         sum(CASE WHEN o.status = 'open' AND o.due_at > $1 AND o.due_at <= $2 THEN 1 ELSE 0 END) AS due_soon, \
         sum(CASE WHEN o.status = 'open' AND o.due_at <= $1 THEN 1 ELSE 0 END) AS overdue, \
         sum(CASE WHEN o.status = 'missed' THEN 1 ELSE 0 END) AS missed, \
         sum(CASE WHEN o.status = 'late' AND o.met_at >= $3 THEN 1 ELSE 0 END) AS met_late \
         FROM obligations o LEFT JOIN reports r ON r.id = o.report_id \
         WHERE (o.status IN ('open', 'missed') OR (o.status = 'late' AND o.met_at >= $3)) AND {cond} \
         GROUP BY o.actor ORDER BY 3 DESC, 4 DESC, 2 DESC, 1 LIMIT 1000"
    );
    (sql, binds)
}

/// The query of `report_tally`, on `$1` (since) and the scope's parameters.
pub(crate) fn tally_query(scope: &Scope) -> (String, Binds) {
    let (cond, binds) = report_scope(scope, 2);
    let sql = format!(
        "SELECT r.kind, coalesce(r.grade, CASE WHEN r.level IS NOT NULL THEN 'level-' || r.level END) AS grade, count(*) AS n \
         FROM reports r WHERE r.received_at >= $1 AND {cond} GROUP BY 1, 2 ORDER BY 1, 2"
    );
    (sql, binds)
}

/// The page and count queries of `due_obligations`: the instants to bind first, then the scope's texts.
pub(crate) struct DueQuery {
    pub list: String,
    pub count: String,
    pub instants: Vec<DateTime<Utc>>,
    pub binds: Binds,
}

pub(crate) fn due_query(scope: &Scope, narrow: &Scope, due: Due, limit: u32) -> DueQuery {
    let (due_sql, instants) = due_condition(due);
    let (viewer, mut binds) = obligation_scope(scope, instants.len() + 1);
    let (filter, more) = obligation_scope(narrow, instants.len() + 1 + binds.len());
    binds.extend(more);
    let cond = format!("{viewer} AND {filter}");
    let from = "FROM obligations o LEFT JOIN reports r ON r.id = o.report_id";
    DueQuery {
        list: format!("SELECT o.* {from} WHERE {due_sql} AND {cond} ORDER BY o.due_at, o.id LIMIT {}", limit.max(1)),
        count: format!("SELECT count(*) {from} WHERE {due_sql} AND {cond}"),
        instants,
        binds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_is_scoped_to_what_it_may_see() {
        assert_eq!(Scope::of(&Role::Csb, &[]), Scope::All);
        let (sql, binds) = obligation_scope(&Scope::Province(Province::Guangdong), 3);
        assert!(sql.contains("$3") && sql.contains("$6") && !sql.contains("$7"), "{sql}");
        assert_eq!(binds, ["bureau:GD", "%\"bureau:GD\"%", "% GD %", "%\"bureaus:all\"%"]);
        let (sql, binds) = report_scope(&Scope::unit("CT-GD".parse().unwrap()), 2);
        assert_eq!((sql.as_str(), binds), ("r.unit_code IN ($2)", vec!["CT-GD".to_string()]));
        // A group company's viewer reaches its subsidiaries (Art. 12¶2 [通报办法]).
        let group = UnitSet { own: "CT-GROUP".parse().unwrap(), subsidiaries: vec!["CT-GD".parse().unwrap(), "CT-GX".parse().unwrap()] };
        let (sql, binds) = obligation_scope(&Scope::Units(group), 5);
        assert_eq!(
            (sql.as_str(), binds),
            ("o.actor IN ($5, $6, $7)", vec!["unit:CT-GROUP".into(), "unit:CT-GD".into(), "unit:CT-GX".into()])
        );
    }
}
