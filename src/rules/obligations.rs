//! Who must do what, for whom, by when, under which article: the tables of SPEC §4 as functions.

use super::calendar::Calendar;
use crate::model::{
    Basis, Channel, Deadline, DeadlineRule, Duty, Grade, Obligation, Party, Province, Region, ReportId, ReportKind, UnitCode, UnitType,
    WarningLevel, YearMonth,
};
use chrono::{DateTime, Utc};
use chrono_tz::Asia::Shanghai;
use serde::{Deserialize, Serialize};

/// The operator-tunable parts of the rules; the regulations fix everything else.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// "The same period" (同一时期) of Art. 7 [僵尸机制], a rolling window in hours.
    pub botnet_window_hours: u32,
    /// Remind a reporter of 补报 when an urgent report has had no follow-up for this long.
    pub follow_up_after_hours: u32,
    /// Remind of the written, sealed report this long after a phoned one (Art. 18).
    pub written_report_after_hours: u32,
    pub botnet_thresholds: super::BotnetThresholds,
    /// How long before a deadline reminders go out.
    pub reminders: super::Leads,
    /// The registered unit (the public security authority's liaison) that CNCERT refers events
    /// suspected to be crimes to (Art. 17 [僵尸机制]). Without it the referral duty is still
    /// created, with no addressee, and stays open until a CNCERT user marks it done.
    pub public_security_unit: Option<String>,
    /// The addresses the hub sends mail from (not configured here: the composition root fills
    /// them from the SMTP sinks): no unit may register one as its contact.
    #[serde(skip)]
    pub hub_addresses: Vec<String>,
    /// Working days CNCERT has to refer such an event ("应报请" sets no time).
    pub crime_referral_workdays: u32,
    /// Working days the disposing unit and CNCERT have to answer a user's appeal (Art. 11
    /// [僵尸机制] asks for a mechanism and sets no time).
    pub user_appeal_answer_workdays: u32,
    /// Appeals one e-mail address or phone number may lodge in 24 hours; more are refused.
    pub user_appeals_per_contact_per_day: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            botnet_window_hours: 24,
            follow_up_after_hours: 24,
            written_report_after_hours: 24,
            botnet_thresholds: super::BotnetThresholds::default(),
            reminders: super::Leads::default(),
            public_security_unit: None,
            hub_addresses: Vec::new(),
            crime_referral_workdays: 1,
            user_appeal_answer_workdays: 5,
            user_appeals_per_contact_per_day: 3,
        }
    }
}

/// The reporting unit, as far as the rules care.
#[derive(Debug, Clone, Copy)]
pub struct Reporter<'a> {
    pub code: &'a UnitCode,
    pub unit_type: UnitType,
    pub region: Region,
}

impl Reporter<'_> {
    /// The party this unit acts as: CNCERT, CSB and the bureaus by their role, others by code.
    pub fn party(&self) -> Party {
        match (self.unit_type, self.region) {
            (UnitType::Cncert, _) => Party::Cncert,
            (UnitType::Csb, _) => Party::Csb,
            (UnitType::Bureau, Region::Province(p)) => Party::Bureau(p),
            _ => Party::Unit(self.code.clone()),
        }
    }
}

/// The facts of one accepted report that the obligations depend on.
#[derive(Debug, Clone, Copy)]
pub struct ReportFacts<'a> {
    pub report_id: ReportId,
    pub kind: ReportKind,
    pub grade: Option<Grade>,
    pub level: Option<WarningLevel>,
    pub discovered_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub reporter: Reporter<'a>,
    pub provinces: &'a [Province],
    pub cross_province: bool,
    pub channel: Channel,
    /// 终报: the report says the matter is over, so no further follow-up is owed.
    pub final_report: bool,
}

/// An obligation before it has an id and a status.
#[derive(Debug, Clone, PartialEq)]
pub struct ObligationDraft {
    /// Once-per-period obligations carry a key so that many reports create them once.
    pub key: Option<String>,
    pub duty: Duty,
    pub actor: Party,
    pub to: Vec<Party>,
    pub copy: Vec<Party>,
    pub deadline: Deadline,
    pub basis: Basis,
    pub binding: bool,
    /// The report that creates it also fulfils it (a report meets its own reporting duty).
    pub met_by_this: bool,
}

/// How fast a report must travel, from the grade or level (Art. 13 [通报办法]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Urgency {
    /// General events: in the monthly summary.
    Monthly,
    /// Level-4 warnings: 5 working days.
    Workdays,
    /// Large events, level-3 warnings: 4 hours.
    FourHours,
    /// Especially major / major events, level-1/2 warnings: 2 hours.
    TwoHours,
}

impl Urgency {
    pub fn of_grade(g: Grade) -> Urgency {
        match g {
            Grade::EspeciallyMajor | Grade::Major => Urgency::TwoHours,
            Grade::Large => Urgency::FourHours,
            Grade::General => Urgency::Monthly,
        }
    }
    pub fn of_level(l: WarningLevel) -> Urgency {
        match l {
            WarningLevel::Red | WarningLevel::Orange => Urgency::TwoHours,
            WarningLevel::Yellow => Urgency::FourHours,
            WarningLevel::Blue => Urgency::Workdays,
        }
    }
    pub fn of(grade: Option<Grade>, level: Option<WarningLevel>) -> Option<Urgency> {
        grade.map(Urgency::of_grade).or(level.map(Urgency::of_level))
    }
    pub fn is_urgent(self) -> bool {
        self >= Urgency::FourHours
    }
}

/// Article citations, with stable codes.
pub mod basis {
    use crate::model::Basis;

    const TONGBAO: &str = "《互联网网络安全信息通报实施办法》";
    const BOTNET: &str = "《木马和僵尸网络监测与处置机制》";

    fn b(code: &str, law: &str, article: &str) -> Basis {
        Basis { code: code.into(), citation_zh: format!("{law}{article}") }
    }
    pub fn tongbao_13_1() -> Basis {
        b("tongbao-13.1", TONGBAO, "第十三条第一款")
    }
    pub fn tongbao_13_2() -> Basis {
        b("tongbao-13.2", TONGBAO, "第十三条第二款")
    }
    pub fn tongbao_13_3() -> Basis {
        b("tongbao-13.3", TONGBAO, "第十三条第三款")
    }
    pub fn tongbao_16() -> Basis {
        b("tongbao-16", TONGBAO, "第十六条")
    }
    pub fn tongbao_18() -> Basis {
        b("tongbao-18", TONGBAO, "第十八条")
    }
    pub fn tongbao_19_2() -> Basis {
        b("tongbao-19.2", TONGBAO, "第十九条第二款")
    }
    pub fn tongbao_21() -> Basis {
        b("tongbao-21", TONGBAO, "第二十一条")
    }
    pub fn botnet_8_2() -> Basis {
        b("botnet-8.2", BOTNET, "第八条第（二）项")
    }
    pub fn botnet_8_3() -> Basis {
        b("botnet-8.3", BOTNET, "第八条第（三）项")
    }
    pub fn botnet_9_2() -> Basis {
        b("botnet-9.2", BOTNET, "第九条第（二）项")
    }
    pub fn botnet_9_3() -> Basis {
        b("botnet-9.3", BOTNET, "第九条第（三）项")
    }
    pub fn botnet_9_5() -> Basis {
        b("botnet-9.5", BOTNET, "第九条第（五）项")
    }
    pub fn botnet_11() -> Basis {
        b("botnet-11", BOTNET, "第十一条")
    }
    pub fn botnet_17() -> Basis {
        b("botnet-17", BOTNET, "第十七条")
    }
    pub fn tongbao_16_2() -> Basis {
        b("tongbao-16.2", TONGBAO, "第十六条第二款")
    }
    pub fn botnet_13() -> Basis {
        b("botnet-13", BOTNET, "第十三条")
    }
}

struct Builder<'c> {
    cal: &'c Calendar,
    out: Vec<ObligationDraft>,
}

impl Builder<'_> {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        duty: Duty,
        actor: Party,
        to: Vec<Party>,
        copy: Vec<Party>,
        rule: DeadlineRule,
        trigger: DateTime<Utc>,
        basis: Basis,
    ) -> &mut ObligationDraft {
        let copy = copy.into_iter().filter(|c| !to.contains(c)).collect();
        self.out.push(ObligationDraft {
            key: None,
            duty,
            actor,
            to,
            copy,
            deadline: self.cal.deadline(rule, trigger),
            basis,
            binding: true,
            met_by_this: false,
        });
        self.out.last_mut().expect("just pushed")
    }
}

/// The bureaus a report goes to: those of the affected provinces, else the reporter's own;
/// "the bureaus concerned" when neither is known.
pub fn bureaus(provinces: &[Province], reporter_region: Region) -> Vec<Party> {
    let mut ps: Vec<Province> = provinces.to_vec();
    if ps.is_empty() {
        ps.extend(reporter_region.province());
    }
    ps.sort();
    ps.dedup();
    if ps.is_empty() { vec![Party::BureausConcerned] } else { ps.into_iter().map(Party::Bureau).collect() }
}

/// A provincial subsidiary also copies its own bureau (Art. 12 ¶2 [通报办法]).
fn with_own_bureau(mut copy: Vec<Party>, to: &[Party], r: &Reporter<'_>) -> Vec<Party> {
    if r.unit_type == UnitType::BasicTelecomProvincial
        && let Some(p) = r.region.province()
    {
        let own = Party::Bureau(p);
        if !to.contains(&own) && !copy.contains(&own) {
            copy.push(own);
        }
    }
    copy
}

/// The month a report's facts belong to, in Shanghai time.
pub fn month_of(at: DateTime<Utc>) -> YearMonth {
    YearMonth::of(at.with_timezone(&Shanghai).date_naive())
}

/// The recipients a reporter must send a report of this urgency to: (to, copy, rule, basis).
fn reporting_route(kind: ReportKind, urgency: Urgency, f: &ReportFacts<'_>) -> (Vec<Party>, Vec<Party>, DeadlineRule, Basis) {
    let bureaus = bureaus(f.provinces, f.reporter.region);
    if kind == ReportKind::BotnetEvent {
        // Art. 8(三) [僵尸机制]: what CNCERT finds itself it reports to CSB within 2 hours and
        // makes known to the bureaus concerned at once (copied here).
        if f.reporter.unit_type == UnitType::Cncert && urgency != Urgency::Monthly {
            return (vec![Party::Csb], bureaus, DeadlineRule::Hours(2), basis::botnet_8_3());
        }
        // Art. 8(二): an operator's urgent ones to CSB copying CNCERT; general ones to CNCERT.
        return if urgency == Urgency::Monthly {
            (vec![Party::Cncert], vec![], DeadlineRule::WorkdaysAfter(5), basis::botnet_8_2())
        } else {
            (vec![Party::Csb], vec![Party::Cncert], DeadlineRule::Hours(2), basis::botnet_8_2())
        };
    }
    match urgency {
        Urgency::TwoHours => {
            let mut to = vec![Party::Csb];
            to.extend(bureaus);
            (to, vec![Party::Cncert], DeadlineRule::Hours(2), basis::tongbao_13_1())
        }
        Urgency::FourHours => {
            let mut to = bureaus;
            if kind == ReportKind::Event && f.cross_province {
                to.insert(0, Party::Csb);
            }
            (to, vec![Party::Cncert], DeadlineRule::Hours(4), basis::tongbao_13_2())
        }
        Urgency::Workdays => (vec![Party::Cncert], bureaus, DeadlineRule::WorkdaysAfter(5), basis::tongbao_13_3()),
        Urgency::Monthly => (vec![Party::Cncert], bureaus, DeadlineRule::NthWorkdayOfNextMonth(5), basis::tongbao_13_3()),
    }
}

/// The obligations an accepted report creates (SPEC §4), given the urgency the report had
/// before (`earlier`, for a follow-up) so that a follow-up creates only what changed.
pub fn for_report(f: &ReportFacts<'_>, earlier: Option<Urgency>, cal: &Calendar, policy: &Policy) -> Vec<ObligationDraft> {
    let mut b = Builder { cal, out: Vec::new() };
    let me = f.reporter.party();
    let is_cncert = f.reporter.unit_type == UnitType::Cncert;
    match f.kind {
        ReportKind::Event | ReportKind::Warning | ReportKind::BotnetEvent => {
            let Some(urgency) = Urgency::of(f.grade, f.level) else { return b.out };
            let (to, copy, rule, basis) = reporting_route(f.kind, urgency, f);
            let copy = with_own_bureau(copy, &to, &f.reporter);
            let is_follow_up = earlier.is_some();
            let raised = earlier.is_some_and(|e| urgency > e);

            if urgency == Urgency::Monthly && f.kind != ReportKind::BotnetEvent {
                // General events go into the unit's monthly summary, and CNCERT's digest.
                let month = month_of(f.discovered_at);
                b.add(Duty::MonthlySummary, me.clone(), to.clone(), copy.clone(), rule, f.discovered_at, basis).key =
                    Some(format!("monthly_summary:{}:{month}", f.reporter.code));
                monthly_digest(&mut b, month, f.discovered_at);
            } else if !is_follow_up || raised {
                // The report meets its own reporting duty. A follow-up that raises the grade
                // starts the new grade's clock when the unit learned of it: its own discovery
                // time (Art. 16¶1 [通报办法]), so a raise reported late is late.
                let duty = if is_cncert { Duty::CncertReport } else { Duty::Report };
                b.add(duty, me.clone(), to.clone(), copy.clone(), rule, f.discovered_at, basis).met_by_this = true;
            }

            if f.kind == ReportKind::BotnetEvent && (!is_follow_up || raised) {
                cncert_botnet_duties(&mut b, f, urgency, is_cncert);
            }
            // Each report of an urgent matter asks for the next follow-up, until one says the
            // matter is over (终报).
            if urgency.is_urgent() && f.kind != ReportKind::BotnetEvent && !f.final_report {
                let o = b.add(
                    Duty::FollowUp,
                    me.clone(),
                    to.clone(),
                    copy.clone(),
                    DeadlineRule::Hours(policy.follow_up_after_hours),
                    f.received_at,
                    basis::tongbao_16(),
                );
                o.binding = false;
            }
            // Art. 16¶2 [通报办法]: a warning CNCERT receives is tracked and analysed at once, and
            // what is important reported to CSB; a reminder to CNCERT's duty officers.
            if f.kind == ReportKind::Warning && !is_cncert && !is_follow_up {
                let o = b.add(
                    Duty::TrackWarning,
                    Party::Cncert,
                    vec![Party::Csb],
                    vec![],
                    DeadlineRule::Hours(policy.follow_up_after_hours),
                    f.received_at,
                    basis::tongbao_16_2(),
                );
                o.binding = false;
            }
            if f.channel == Channel::Phone {
                let basis = if f.kind == ReportKind::BotnetEvent { basis::botnet_13() } else { basis::tongbao_18() };
                let o =
                    b.add(Duty::WrittenReport, me, to, copy, DeadlineRule::Hours(policy.written_report_after_hours), f.received_at, basis);
                o.binding = false;
            }
        }
        ReportKind::ContactUpdate => {
            b.add(
                Duty::ContactUpdate,
                me,
                vec![Party::Csb],
                vec![Party::Cncert],
                DeadlineRule::WorkdaysAfter(3),
                f.discovered_at,
                basis::tongbao_21(),
            )
            .met_by_this = true;
        }
        ReportKind::MonthlyGeneral => {} // see `for_monthly_summary`: it needs the month it covers
        ReportKind::DisposalFeedback | ReportKind::Verification => {} // see `after_notice` / `after_feedback`
        ReportKind::Appeal => {}         // see `reopened_deadline`: it reopens what it names
    }
    b.out
}

/// Art. 11 [僵尸机制]: a user's appeal of a disposal is answered by each unit answerable for
/// its targets and by CNCERT, within `user_appeal_answer_workdays` working days of its arrival.
/// Keyed by appeal and party, so the answer closes them by key.
pub fn user_appeal_answers(appeal: &crate::model::UserAppeal, cal: &Calendar, policy: &Policy) -> Vec<ObligationDraft> {
    let mut b = Builder { cal, out: Vec::new() };
    let actors = appeal.units.iter().cloned().map(Party::Unit).chain([Party::Cncert]);
    for actor in actors {
        let copy = if actor == Party::Cncert { vec![] } else { vec![Party::Cncert] };
        let key = user_appeal_key(appeal.id, &actor);
        b.add(
            Duty::AnswerUserAppeal,
            actor,
            vec![],
            copy,
            DeadlineRule::WorkdaysAfter(policy.user_appeal_answer_workdays.max(1)),
            appeal.received_at,
            basis::botnet_11(),
        )
        .key = Some(key);
    }
    b.out
}

/// The key of one party's duty to answer an appeal; `user_appeal:<id>:` prefixes them all.
pub fn user_appeal_key(id: crate::model::AppealId, actor: &Party) -> String {
    format!("user_appeal:{id}:{actor}")
}

/// Art. 17 [僵尸机制]: an event suspected to be a crime is referred by CNCERT to the public
/// security authority (the unit `policy.public_security_unit` names), within
/// `crime_referral_workdays` working days of the report reaching the hub.
pub fn crime_referral(received_at: DateTime<Utc>, cal: &Calendar, policy: &Policy) -> ObligationDraft {
    let mut b = Builder { cal, out: Vec::new() };
    let to: Vec<Party> = policy.public_security_unit.as_deref().and_then(|c| c.parse().ok()).map(Party::Unit).into_iter().collect();
    b.add(
        Duty::CrimeReferral,
        Party::Cncert,
        to,
        vec![Party::Csb],
        DeadlineRule::WorkdaysAfter(policy.crime_referral_workdays.max(1)),
        received_at,
        basis::botnet_17(),
    );
    b.out.pop().expect("just added")
}

/// CNCERT's own duties for a botnet event it learns of (Art. 8(三) [僵尸机制]).
fn cncert_botnet_duties(b: &mut Builder<'_>, f: &ReportFacts<'_>, urgency: Urgency, reported_by_cncert: bool) {
    // CNCERT "knows" when the report reaches the hub, or at discovery when it found it itself.
    let knows_at = if reported_by_cncert { f.discovered_at } else { f.received_at };
    if urgency == Urgency::Monthly {
        b.add(
            Duty::CncertNotify,
            Party::Cncert,
            vec![Party::UnitsConcerned],
            vec![],
            DeadlineRule::WorkdaysAfter(5),
            knows_at,
            basis::botnet_8_3(),
        );
    } else if !reported_by_cncert {
        // When CNCERT itself reports, its report to CSB is the report above.
        let bureaus = bureaus(f.provinces, f.reporter.region);
        b.add(Duty::CncertReport, Party::Cncert, vec![Party::Csb], bureaus, DeadlineRule::Hours(2), knows_at, basis::botnet_8_3());
    }
}

fn monthly_digest(b: &mut Builder<'_>, month: YearMonth, trigger: DateTime<Utc>) {
    b.add(
        Duty::MonthlyDigest,
        Party::Cncert,
        vec![Party::Csb, Party::UnitsConcerned],
        vec![Party::AllBureaus],
        DeadlineRule::NthWorkdayOfNextMonth(10),
        trigger,
        basis::tongbao_19_2(),
    )
    .key = Some(format!("monthly_digest:{month}"));
}

/// The monthly-summary obligation a `monthly_general` report for `month` fulfils (created met if
/// no general event had created it), and CNCERT's digest for that month.
pub fn for_monthly_summary(unit: &Reporter<'_>, month: YearMonth, cal: &Calendar) -> Vec<ObligationDraft> {
    let mut o = monthly_summary_duty(unit, month, cal);
    o.met_by_this = true;
    let mut b = Builder { cal, out: vec![o] };
    monthly_digest(&mut b, month, super::calendar::start_of_day(month.first_day()));
    b.out
}

/// Whether a registered unit owes monthly summaries (Art. 4, 13¶3 [通报办法]): every reporting
/// unit Art. 4 names, bureaus included, but not CNCERT (which receives them), CSB, the
/// non-commercial networks (partners, not reporting units: NOTES.md 1) or the police liaison
/// named as `public_security_unit` (a recipient of referrals, not a reporter).
pub fn owes_monthly_summary(unit: &crate::model::Unit, policy: &Policy) -> bool {
    let liaison = policy.public_security_unit.as_deref().is_some_and(|c| c == unit.code.as_str());
    !liaison && !matches!(unit.unit_type, UnitType::Csb | UnitType::Cncert | UnitType::NonCommercialInterconnect)
}

/// A unit's once-a-month duty to send `month`'s general-event summary (Art. 13 ¶3 [通报办法]):
/// to CNCERT, copying its bureau, by the end of the 5th working day of the next month. Every
/// reporting unit owes it, events or not ("no events" is a valid summary).
pub fn monthly_summary_duty(unit: &Reporter<'_>, month: YearMonth, cal: &Calendar) -> ObligationDraft {
    let mut b = Builder { cal, out: Vec::new() };
    let trigger = super::calendar::start_of_day(month.first_day());
    let copy = bureaus(&[], unit.region);
    let copy = if copy == [Party::BureausConcerned] { vec![] } else { copy };
    let o = b.add(
        Duty::MonthlySummary,
        unit.party(),
        vec![Party::Cncert],
        copy,
        DeadlineRule::NthWorkdayOfNextMonth(5),
        trigger,
        basis::tongbao_13_3(),
    );
    o.key = Some(format!("monthly_summary:{}:{month}", unit.code));
    b.out.pop().expect("just added")
}

/// After CNCERT notifies a unit of a botnet event (Art. 9(二)(三) [僵尸机制]): the unit's disposal
/// feedback, and, when an operator found the event, that operator's verification.
pub fn after_notice(
    grade: Grade,
    notice_at: DateTime<Utc>,
    notified: &UnitCode,
    found_by_operator: Option<&UnitCode>,
    cal: &Calendar,
) -> Vec<ObligationDraft> {
    let mut b = Builder { cal, out: Vec::new() };
    let urgent = grade > Grade::General;
    let feedback_rule = if urgent { DeadlineRule::Hours(4) } else { DeadlineRule::WorkdaysAfter(5) };
    b.add(
        Duty::DisposalFeedback,
        Party::Unit(notified.clone()),
        vec![Party::Cncert],
        vec![],
        feedback_rule,
        notice_at,
        basis::botnet_9_2(),
    );
    if let Some(op) = found_by_operator {
        let rule = if urgent { DeadlineRule::Hours(6) } else { DeadlineRule::WorkdaysAfter(10) };
        b.add(Duty::Verification, Party::Unit(op.clone()), vec![Party::Cncert], vec![], rule, notice_at, basis::botnet_9_3());
    }
    b.out
}

/// A disposal feedback given by telephone leaves the written form owed (Art. 13 [僵尸机制]:
/// 紧急情况下，可以先电话联系，后补表格), as a phoned report does; a reminder, like Art. 18's.
pub fn written_feedback(feedback_at: DateTime<Utc>, disposing: &UnitCode, cal: &Calendar, policy: &Policy) -> ObligationDraft {
    let mut b = Builder { cal, out: Vec::new() };
    let o = b.add(
        Duty::WrittenReport,
        Party::Unit(disposing.clone()),
        vec![Party::Cncert],
        vec![],
        DeadlineRule::Hours(policy.written_report_after_hours),
        feedback_at,
        basis::botnet_13(),
    );
    o.binding = false;
    b.out.pop().expect("just added")
}

/// After a disposal feedback arrives (Art. 9(三)(五) [僵尸机制]): CNCERT verifies the events it
/// found itself, and reports the disposal result — within 2 hours for urgent events, in the
/// monthly digest for general ones.
pub fn after_feedback(
    grade: Grade,
    feedback_at: DateTime<Utc>,
    disposing: &UnitCode,
    found_by_cncert: bool,
    bureaus_of_event: Vec<Party>,
    cal: &Calendar,
) -> Vec<ObligationDraft> {
    let mut b = Builder { cal, out: Vec::new() };
    let urgent = grade > Grade::General;
    if found_by_cncert {
        let rule = if urgent { DeadlineRule::Hours(2) } else { DeadlineRule::WorkdaysAfter(5) };
        b.add(Duty::Verification, Party::Cncert, vec![Party::Unit(disposing.clone())], vec![], rule, feedback_at, basis::botnet_9_3());
    }
    if urgent {
        let mut to = vec![Party::Csb];
        to.extend(bureaus_of_event);
        b.add(Duty::DisposalResult, Party::Cncert, to, vec![], DeadlineRule::Hours(2), feedback_at, basis::botnet_9_5());
    } else {
        b.add(
            Duty::DisposalResult,
            Party::Cncert,
            vec![Party::Csb],
            vec![Party::AllBureaus],
            DeadlineRule::NthWorkdayOfNextMonth(10),
            feedback_at,
            basis::botnet_9_5(),
        );
    }
    b.out
}

/// When the botnet aggregate raises an earlier report's grade, the new grade's duties run from
/// the moment of regrading (SPEC §3): CNCERT's report to CSB within 2 hours.
pub fn after_regrade(
    new_grade: Grade,
    regraded_at: DateTime<Utc>,
    provinces: &[Province],
    region: Region,
    cal: &Calendar,
) -> Vec<ObligationDraft> {
    let mut b = Builder { cal, out: Vec::new() };
    if new_grade > Grade::General {
        b.add(
            Duty::CncertReport,
            Party::Cncert,
            vec![Party::Csb],
            bureaus(provinces, region),
            DeadlineRule::Hours(2),
            regraded_at,
            basis::botnet_8_3(),
        );
    }
    b.out
}

/// An appeal (Art. 11 [僵尸机制]) reopens a closed obligation: the same duty, owed by the same party
/// under the same rule, its clock restarted when the appeal arrives.
pub fn reopened_deadline(o: &Obligation, appealed_at: DateTime<Utc>, cal: &Calendar) -> Deadline {
    cal.deadline(o.deadline.rule, appealed_at)
}

/// Who may appeal an obligation: the party that owes it, a party it is owed or copied to, or the
/// unit whose report gave rise to it. Anyone else may not even learn that it exists.
pub fn may_appeal(o: &Obligation, appellant: &Party, appellant_unit: &UnitCode, report_unit: Option<&UnitCode>) -> bool {
    o.actor == *appellant || o.to.contains(appellant) || o.copy.contains(appellant) || report_unit == Some(appellant_unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::calendar::local_display;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    struct Case {
        kind: ReportKind,
        grade: Option<Grade>,
        level: Option<WarningLevel>,
        discovered: &'static str,
        cross: bool,
        unit_type: UnitType,
        channel: Channel,
    }

    impl Case {
        fn new(kind: ReportKind, discovered: &'static str) -> Case {
            Case { kind, grade: None, level: None, discovered, cross: false, unit_type: UnitType::CrossProvinceVas, channel: Channel::Cli }
        }
        fn grade(mut self, g: Grade) -> Case {
            self.grade = Some(g);
            self
        }
        fn level(mut self, l: WarningLevel) -> Case {
            self.level = Some(l);
            self
        }
        fn run(&self) -> Vec<ObligationDraft> {
            let code: UnitCode = "U1".parse().unwrap();
            let region = match self.unit_type {
                UnitType::BasicTelecomProvincial => Region::Province(Province::Jiangsu),
                _ => Region::National,
            };
            let f = ReportFacts {
                report_id: ReportId::new(),
                kind: self.kind,
                grade: self.grade,
                level: self.level,
                discovered_at: t(self.discovered),
                received_at: t(self.discovered),
                reporter: Reporter { code: &code, unit_type: self.unit_type, region },
                provinces: &[Province::Guangdong],
                cross_province: self.cross,
                channel: self.channel,
                final_report: false,
            };
            for_report(&f, None, &Calendar::builtin(), &Policy::default())
        }
    }

    fn find(os: &[ObligationDraft], duty: Duty) -> &ObligationDraft {
        os.iter().find(|o| o.duty == duty).unwrap_or_else(|| panic!("no {duty} in {os:#?}"))
    }

    fn gd() -> Party {
        Party::Bureau(Province::Guangdong)
    }

    #[test]
    fn worked_example_major_event_two_hours_across_national_day() {
        let os = Case::new(ReportKind::Event, "2026-10-01T23:30:00+08:00").grade(Grade::Major).run();
        let r = find(&os, Duty::Report);
        assert_eq!(local_display(r.deadline.due_at), "2026-10-02 01:30");
        assert_eq!(r.to, vec![Party::Csb, gd()]);
        assert_eq!(r.copy, vec![Party::Cncert]);
        assert_eq!(r.basis.code, "tongbao-13.1");
        assert!(r.met_by_this);
        let fu = find(&os, Duty::FollowUp);
        assert!(!fu.binding);
        assert_eq!(local_display(fu.deadline.due_at), "2026-10-02 23:30");
    }

    #[test]
    fn especially_major_event_and_level_1_2_warnings_are_two_hours_to_csb_and_bureau() {
        for c in [
            Case::new(ReportKind::Event, "2026-03-02T09:00:00+08:00").grade(Grade::EspeciallyMajor),
            Case::new(ReportKind::Warning, "2026-03-02T09:00:00+08:00").level(WarningLevel::Red),
            Case::new(ReportKind::Warning, "2026-03-02T09:00:00+08:00").level(WarningLevel::Orange),
        ] {
            let r = c.run();
            let r = find(&r, Duty::Report);
            assert_eq!(local_display(r.deadline.due_at), "2026-03-02 11:00");
            assert_eq!(r.to, vec![Party::Csb, gd()]);
        }
    }

    #[test]
    fn large_event_and_level_3_warning_are_four_hours_to_the_bureau_and_csb_only_when_cross_province() {
        let os = Case::new(ReportKind::Event, "2026-03-02T22:00:00+08:00").grade(Grade::Large).run();
        let r = find(&os, Duty::Report);
        assert_eq!(local_display(r.deadline.due_at), "2026-03-03 02:00");
        assert_eq!((r.to.clone(), r.copy.clone()), (vec![gd()], vec![Party::Cncert]));
        assert_eq!(r.basis.code, "tongbao-13.2");

        let mut c = Case::new(ReportKind::Event, "2026-03-02T22:00:00+08:00").grade(Grade::Large);
        c.cross = true;
        assert_eq!(find(&c.run(), Duty::Report).to, vec![Party::Csb, gd()]);

        // A cross-province level-3 *warning* does not go to CSB: Art. 13 ¶2 names events only.
        let mut w = Case::new(ReportKind::Warning, "2026-03-02T22:00:00+08:00").level(WarningLevel::Yellow);
        w.cross = true;
        assert_eq!(find(&w.run(), Duty::Report).to, vec![gd()]);
    }

    #[test]
    fn worked_example_level_4_warning_five_working_days() {
        let os = Case::new(ReportKind::Warning, "2026-09-23T10:00:00+08:00").level(WarningLevel::Blue).run();
        let r = find(&os, Duty::Report);
        assert_eq!(local_display(r.deadline.due_at), "2026-10-08 24:00");
        assert_eq!((r.to.clone(), r.copy.clone()), (vec![Party::Cncert], vec![gd()]));
        assert!(!r.deadline.provisional);
        assert!(os.iter().all(|o| o.duty != Duty::FollowUp), "level 4 is not urgent");
    }

    #[test]
    fn worked_examples_general_events_go_into_the_monthly_summary() {
        for (discovered, due, digest_due) in [
            ("2026-09-14T10:00:00+08:00", "2026-10-13 24:00", "2026-10-20 24:00"),
            ("2026-10-31T23:59:00+08:00", "2026-11-06 24:00", "2026-11-13 24:00"),
        ] {
            let os = Case::new(ReportKind::Event, discovered).grade(Grade::General).run();
            let s = find(&os, Duty::MonthlySummary);
            assert_eq!(local_display(s.deadline.due_at), due);
            assert_eq!(s.to, vec![Party::Cncert]);
            assert!(!s.met_by_this, "only the monthly summary meets it");
            assert!(s.key.as_deref().unwrap().starts_with("monthly_summary:U1:"));
            let d = find(&os, Duty::MonthlyDigest);
            assert_eq!(local_display(d.deadline.due_at), digest_due);
            assert_eq!(d.copy, vec![Party::AllBureaus]);
        }
    }

    #[test]
    fn worked_example_digest_for_april_2026_is_due_on_the_10th_working_day_of_may() {
        let code: UnitCode = "U1".parse().unwrap();
        let r = Reporter { code: &code, unit_type: UnitType::Isc, region: Region::National };
        let os = for_monthly_summary(&r, "2026-04".parse().unwrap(), &Calendar::builtin());
        assert_eq!(local_display(find(&os, Duty::MonthlyDigest).deadline.due_at), "2026-05-18 24:00");
        assert_eq!(local_display(find(&os, Duty::MonthlySummary).deadline.due_at), "2026-05-11 24:00");
        assert!(find(&os, Duty::MonthlySummary).met_by_this);
    }

    #[test]
    fn contact_change_three_working_days_to_csb_copy_cncert() {
        let os = Case::new(ReportKind::ContactUpdate, "2026-09-30T15:00:00+08:00").run();
        let r = find(&os, Duty::ContactUpdate);
        assert_eq!(local_display(r.deadline.due_at), "2026-10-10 24:00", "10-08, 10-09, then the Saturday make-up day");
        assert_eq!((r.to.clone(), r.copy.clone()), (vec![Party::Csb], vec![Party::Cncert]));
        assert!(r.met_by_this);
    }

    #[test]
    fn botnet_events_urgent_and_general() {
        let mut c = Case::new(ReportKind::BotnetEvent, "2026-06-01T08:00:00+08:00").grade(Grade::Major);
        c.unit_type = UnitType::BasicTelecomProvincial;
        let os = c.run();
        let r = find(&os, Duty::Report);
        assert_eq!((r.to.clone(), local_display(r.deadline.due_at)), (vec![Party::Csb], "2026-06-01 10:00".into()));
        assert!(r.copy.contains(&Party::Cncert) && r.copy.contains(&Party::Bureau(Province::Jiangsu)), "Art. 12 own bureau: {:?}", r.copy);
        let cn = find(&os, Duty::CncertReport);
        assert_eq!((cn.actor.clone(), local_display(cn.deadline.due_at)), (Party::Cncert, "2026-06-01 10:00".into()));
        assert_eq!(cn.basis.code, "botnet-8.3");

        let os = Case::new(ReportKind::BotnetEvent, "2026-06-01T08:00:00+08:00").grade(Grade::General).run();
        let r = find(&os, Duty::Report);
        assert_eq!((r.to.clone(), local_display(r.deadline.due_at)), (vec![Party::Cncert], "2026-06-08 24:00".into()));
        let n = find(&os, Duty::CncertNotify);
        assert_eq!((n.to.clone(), local_display(n.deadline.due_at)), (vec![Party::UnitsConcerned], "2026-06-08 24:00".into()));
    }

    #[test]
    fn a_botnet_event_cncert_finds_itself_goes_to_csb_in_two_hours_and_to_the_bureaus_concerned_under_art_8_3() {
        let mut c = Case::new(ReportKind::BotnetEvent, "2026-06-01T08:00:00+08:00").grade(Grade::Large);
        c.unit_type = UnitType::Cncert;
        let os = c.run();
        let r = find(&os, Duty::CncertReport);
        assert_eq!((r.to.clone(), local_display(r.deadline.due_at)), (vec![Party::Csb], "2026-06-01 10:00".into()));
        assert_eq!(r.basis.code, "botnet-8.3", "Art. 8(三) [僵尸机制], not 8(二)");
        assert!(r.copy.iter().any(|p| matches!(p, Party::Bureau(_) | Party::BureausConcerned)), "the bureaus concerned: {:?}", r.copy);
        assert_eq!(os.iter().filter(|o| o.duty == Duty::CncertReport).count(), 1, "one report, not a second to itself");
    }

    #[test]
    fn disposal_chain_deadlines() {
        let cal = Calendar::builtin();
        let op: UnitCode = "CM-GD".parse().unwrap();
        let notice = t("2026-06-01T09:00:00+08:00");
        // Found by an operator: feedback in 4 h, the operator's verification in 6 h.
        let os = after_notice(Grade::Large, notice, &op, Some(&op), &cal);
        assert_eq!(local_display(find(&os, Duty::DisposalFeedback).deadline.due_at), "2026-06-01 13:00");
        assert_eq!(local_display(find(&os, Duty::Verification).deadline.due_at), "2026-06-01 15:00");
        // General: 5 and 10 working days (06-19 Dragon Boat holiday is skipped).
        let os = after_notice(Grade::General, notice, &op, Some(&op), &cal);
        assert_eq!(local_display(find(&os, Duty::DisposalFeedback).deadline.due_at), "2026-06-08 24:00");
        assert_eq!(local_display(find(&os, Duty::Verification).deadline.due_at), "2026-06-15 24:00");
        // Found by CNCERT: no operator verification.
        assert!(after_notice(Grade::Major, notice, &op, None, &cal).iter().all(|o| o.duty != Duty::Verification));

        let fb = t("2026-06-18T16:00:00+08:00");
        let os = after_feedback(Grade::Major, fb, &op, true, vec![gd()], &cal);
        let v = find(&os, Duty::Verification);
        assert_eq!(
            (v.actor.clone(), v.to.clone(), local_display(v.deadline.due_at)),
            (Party::Cncert, vec![Party::Unit(op.clone())], "2026-06-18 18:00".into())
        );
        let r = find(&os, Duty::DisposalResult);
        assert_eq!((r.to.clone(), local_display(r.deadline.due_at)), (vec![Party::Csb, gd()], "2026-06-18 18:00".into()));
        let os = after_feedback(Grade::General, fb, &op, true, vec![gd()], &cal);
        assert_eq!(local_display(find(&os, Duty::Verification).deadline.due_at), "2026-06-26 24:00");
        assert_eq!(local_display(find(&os, Duty::DisposalResult).deadline.due_at), "2026-07-14 24:00");
    }

    #[test]
    fn phone_reports_leave_the_written_report_open() {
        let mut c = Case::new(ReportKind::Event, "2026-03-02T09:00:00+08:00").grade(Grade::Major);
        c.channel = Channel::Phone;
        let os = c.run();
        let w = find(&os, Duty::WrittenReport);
        assert!(!w.met_by_this);
        assert_eq!(w.basis.code, "tongbao-18");
        assert!(find(&os, Duty::Report).met_by_this, "the phone call meets the 2-hour duty");
    }

    #[test]
    fn a_follow_up_creates_reporting_duties_only_when_it_raises_the_urgency() {
        let code: UnitCode = "U1".parse().unwrap();
        let mk = |grade| ReportFacts {
            report_id: ReportId::new(),
            kind: ReportKind::Event,
            grade: Some(grade),
            level: None,
            discovered_at: t("2026-03-02T09:00:00+08:00"),
            received_at: t("2026-03-03T09:00:00+08:00"),
            reporter: Reporter { code: &code, unit_type: UnitType::Isc, region: Region::National },
            provinces: &[Province::Guangdong],
            cross_province: false,
            channel: Channel::Email,
            final_report: false,
        };
        let (cal, p) = (Calendar::builtin(), Policy::default());
        let same = for_report(&mk(Grade::Large), Some(Urgency::FourHours), &cal, &p);
        assert!(same.iter().all(|o| o.duty != Duty::Report));
        // Art. 16¶1 [通报办法]: the raised grade's clock runs from when the unit learned of it,
        // the follow-up's discovery, so a raise reported a day later is late.
        let raised = for_report(&mk(Grade::Major), Some(Urgency::FourHours), &cal, &p);
        let r = find(&raised, Duty::Report);
        assert_eq!(local_display(r.deadline.due_at), "2026-03-02 11:00", "2 hours from the follow-up's discovery");
        assert!(raised.iter().any(|o| o.duty == Duty::FollowUp), "a follow-up of an urgent event asks for the next");
        // 终报: the unit says the event is over; no further follow-up is asked.
        let last = ReportFacts { final_report: true, ..mk(Grade::Major) };
        assert!(for_report(&last, Some(Urgency::TwoHours), &cal, &p).iter().all(|o| o.duty != Duty::FollowUp));
    }

    #[test]
    fn a_deadline_in_a_year_without_data_is_provisional() {
        let os = Case::new(ReportKind::Warning, "2027-03-01T10:00:00+08:00").level(WarningLevel::Blue).run();
        assert!(find(&os, Duty::Report).deadline.provisional);
    }
}
