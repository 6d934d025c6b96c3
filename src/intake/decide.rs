//! The intake decision: from parsed reports and what the store already knows, everything one submission causes. Pure.

use crate::decision::{
    AuditRow, BotnetRow, Context, Decision, Engine, Fulfilment, Fulfils, Item, Needs, OutboxChannel, OutboxKind, OutboxRow, Parsed, Reopen,
    ReportRef, Reschedule,
};
use crate::model::receipt::ObligationSummary;
use crate::model::report::{Report, ReportBody, ReportContent, ReportInput};
use crate::model::submission::Sender;
use crate::model::{
    AcceptedReport, Duty, ErrorCode, Grade, IntakeError, Obligation, ObligationId, ObligationStatus, OutboxId, Outcome, Party, Province,
    Receipt, Region, Regrade, ReportId, ReportKind, Submission, Unit, UnitCode,
};
use crate::rules::botnet;
use crate::rules::obligations::{self as ob, ObligationDraft, ReportFacts, Reporter, Urgency};
use crate::rules::{BotSet, Policy};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

/// A submission's botnets and the period as its reports see it, worked out once per discovery
/// time: a form of 100,000 botnet rows (one report each) is graded in one pass over the period,
/// not one pass per report.
struct Batchmates {
    /// The botnets of all the submission's reports (see `submission_botnets`).
    together: Vec<BotnetRow>,
    /// How many botnets the context held before this submission: the rest are its own.
    ctx_len: usize,
    graded: HashMap<DateTime<Utc>, Graded>,
}

/// The period around one discovery time.
struct Graded {
    /// Indexes into `Context::botnets` of the other submissions' botnets in the window.
    in_window: Vec<usize>,
    /// The period with this submission, and this submission alone.
    agg: botnet::Aggregate,
    computed: Grade,
    own_grade: Grade,
    /// The period's earlier reports were raised to `computed` by the first report with this time.
    regraded: bool,
}

/// The botnets of every report of a submission, with placeholder report ids: reports of one
/// submission are graded together, each with its own discovery time (the unit knew them all).
/// Empty for a submission of one botnet report, which is graded with its own botnets.
fn submission_botnets(items: &[Item], unit: &UnitCode) -> Vec<BotnetRow> {
    // A report claiming another unit is refused: its bots grade nothing.
    let items: Vec<&Item> = items.iter().filter(|(_, r)| matches!(r, Ok(input) if input.unit.as_ref().is_none_or(|u| u == unit))).collect();
    let botnet_reports =
        items.iter().filter(|(_, r)| matches!(r, Ok(input) if matches!(input.content.body, ReportBody::BotnetEvent(_)))).count();
    if botnet_reports < 2 {
        return vec![];
    }
    items
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .filter_map(|input| match &input.content.body {
            ReportBody::BotnetEvent(b) => Some((input.content.discovered_at, b)),
            _ => None,
        })
        .flat_map(|(at, b)| {
            b.botnets.iter().enumerate().map(move |(idx, bn)| BotnetRow {
                report_id: ReportId::nil(),
                idx,
                cc: Some((bn.cc_ip, bn.port.get())),
                discovered_at: at,
                declared_count: bn.bot_count,
                bots: BotSet::from_ips(&bn.bot_ips),
            })
        })
        .collect()
}

/// Lists what the store must load for a batch.
pub fn needs(batch: &[Parsed], policy: &Policy) -> Needs {
    let mut n = Needs::default();
    let window = Duration::hours(i64::from(policy.botnet_window_hours));
    for p in batch {
        n.dedupe_keys.push(p.submission.dedupe_key.clone());
        n.senders.push(p.submission.sender.clone());
        for (_, item) in p.items.iter().flatten() {
            let Ok(r) = item else { continue };
            // A group company reporting for a subsidiary names it: that unit is loaded too.
            n.senders.extend(r.unit.clone().map(Sender::Unit));
            n.refs.extend(r.content.follows_up);
            match &r.content.body {
                ReportBody::DisposalFeedback(b) => {
                    n.refs.push(b.notice_ref);
                    n.owed_about.push(b.notice_ref);
                }
                ReportBody::Verification(b) => {
                    n.refs.push(b.notice_ref);
                    n.owed_about.push(b.notice_ref);
                }
                ReportBody::Appeal(b) => n.obligations.push(b.obligation),
                // Whose addresses they are now: a unit may not take another's.
                ReportBody::ContactUpdate(b) => {
                    for email in b.contacts.iter().filter_map(|c| c.email.as_ref()) {
                        n.senders.push(Sender::Email(email.clone()));
                        // Its folded form too (`soc+x@` is `soc@`'s mailbox).
                        n.senders.extend(crate::model::appeal::fold_mailbox(email.as_str()).parse().ok().map(Sender::Email));
                    }
                }
                ReportBody::BotnetEvent(_) => {
                    // The period reaches both ways: a report discovered before one already
                    // stored shares its period too.
                    let d = r.content.discovered_at;
                    n.botnet_span = Some(match n.botnet_span {
                        None => (d - window, d + window),
                        Some((a, b)) => (a.min(d - window), b.max(d + window)),
                    });
                }
                _ => {}
            }
        }
    }
    n
}

/// Decides a batch in order. Duplicates (stored, or earlier in the batch) get the first receipt.
pub fn decide_batch(batch: Vec<Parsed>, ctx: &mut Context, engine: &Engine) -> Vec<Decision> {
    let mut decided: Vec<Decision> = Vec::with_capacity(batch.len());
    // Where each key was first decided in this batch; its receipt is copied only for a duplicate.
    let mut first_in_batch: HashMap<String, usize> = HashMap::with_capacity(batch.len());
    for p in batch {
        let mut supersedes = None;
        let first = match first_in_batch.get(&p.submission.dedupe_key) {
            Some(&i) => Some((&decided[i].receipt, decided[i].submission.external_id.clone())),
            None => {
                let stored = ctx
                    .receipts
                    .get(&p.submission.dedupe_key)
                    .map(|r| (r, ctx.external_ids.get(&p.submission.dedupe_key).cloned().flatten()));
                match stored {
                    // Only a stored, decided submission is a duplicate. A refused one may have
                    // been refused for what was not in its bytes (its name, an unregistered
                    // sender, a limit): the same bytes sent again are decided afresh and take
                    // its key, unless this is the very same message delivered again.
                    Some((r, first_external_id)) if r.outcome == Outcome::Rejected && !redelivery(&p.submission, &first_external_id) => {
                        supersedes = Some(r.submission_id);
                        None
                    }
                    other => other,
                }
            }
        };
        if let Some((first, first_external_id)) = first {
            let mut receipt = first.clone();
            receipt.duplicate = true;
            let mut d = Decision::empty(p.submission, receipt.unit.clone(), receipt, true);
            // A clerk resends a mail (a new Message-ID) when the first receipt did not reach
            // them: it is answered again, marked as a repeat. The same mail read again after a
            // crash is not. Nothing else of a repeat is written.
            if d.submission.channel == crate::model::Channel::Email
                && d.receipt.unit.is_some()
                && d.submission.external_id != first_external_id
                && let Some(reply_to) = d.submission.reply_to.clone()
            {
                d.outbox.push(OutboxRow {
                    id: OutboxId::new(),
                    kind: OutboxKind::Receipt,
                    channel: OutboxChannel::Email,
                    recipient: reply_to,
                    subject_id: d.receipt.submission_id.to_string(),
                    urgent: true,
                    payload: crate::decision::Payload::new(&serde_json::json!({
                        "submission_id": d.receipt.submission_id,
                        "repeat": true,
                        "in_reply_to": d.submission.external_id,
                    })),
                    role: None,
                });
            }
            decided.push(d);
            continue;
        }
        let mut d = decide(p, ctx, engine);
        d.supersedes = supersedes;
        first_in_batch.insert(d.submission.dedupe_key.clone(), decided.len());
        decided.push(d);
    }
    decided
}

/// The same message delivered again (a mail re-read after a crash, an AMQP redelivery): its
/// channel names each message uniquely, and the id is the one first stored.
fn redelivery(submission: &Submission, first_external_id: &Option<String>) -> bool {
    matches!(submission.channel, crate::model::Channel::Email | crate::model::Channel::Amqp)
        && submission.external_id.is_some()
        && submission.external_id == *first_external_id
}

fn decide(p: Parsed, ctx: &mut Context, engine: &Engine) -> Decision {
    let sub = p.submission;
    let blank = Receipt {
        submission_id: sub.id,
        received_at: sub.received_at,
        outcome: Outcome::Rejected,
        unit: None,
        reports: vec![],
        errors: vec![],
        notes: vec![],
        regraded: vec![],
        duplicate: false,
        summary: None,
    };
    let Some(unit) = ctx.units.get(&sub.sender).cloned() else {
        // Stored, so nothing is lost, but answered to nobody: no outbox row for an unknown sender.
        let mut receipt = blank;
        receipt.errors.push(IntakeError::new(ErrorCode::UnknownSender, "sender", "已登记单位的身份", Some(sub.sender.to_string())));
        let mut d = Decision::empty(sub, None, receipt, false);
        d.audit.push(audit_submission(&d));
        return d;
    };
    let mut d = Decision::empty(sub, Some(unit.code.clone()), Receipt { unit: Some(unit.code.clone()), notes: p.notes, ..blank }, false);
    match p.items {
        Err(e) => d.receipt.errors.push(e),
        Ok(items) => {
            let mut mates =
                Batchmates { together: submission_botnets(&items, &unit.code), ctx_len: ctx.botnets.len(), graded: HashMap::new() };
            for (index, (ptr, item)) in items.into_iter().enumerate() {
                match item.and_then(|input| accept(&mut d, index, &ptr, input, &unit, &mut mates, ctx, engine)) {
                    Ok(()) => {}
                    Err(errs) => d.receipt.errors.extend(errs),
                }
            }
        }
    }
    d.receipt.outcome = Outcome::of(d.receipt.reports.len(), if d.receipt.errors.is_empty() { 0 } else { 1 });
    d.receipt.summarise_if_large();
    if let Some(reply_to) = d.submission.reply_to.clone() {
        d.outbox.push(OutboxRow {
            id: OutboxId::new(),
            kind: OutboxKind::Receipt,
            channel: if d.submission.channel == crate::model::Channel::Amqp { OutboxChannel::Amqp } else { OutboxChannel::Email },
            recipient: reply_to,
            subject_id: d.submission.id.to_string(),
            urgent: true,
            payload: crate::decision::Payload::new(&serde_json::json!({
                "submission_id": d.submission.id,
                "in_reply_to": d.submission.external_id,
                "correlation_id": d.submission.correlation_id,
            })),
            role: None,
        });
    }
    d.audit.push(audit_submission(&d));
    d
}

fn audit_submission(d: &Decision) -> AuditRow {
    AuditRow {
        actor: d.submission.sender.to_string(),
        action: match d.receipt.outcome {
            Outcome::Accepted => "submission.accepted",
            Outcome::PartlyAccepted => "submission.partly_accepted",
            Outcome::Rejected => "submission.rejected",
        },
        subject: d.submission.id.to_string(),
        detail: serde_json::json!({
            "channel": d.submission.channel,
            "reports": d.receipt.reports.len(),
            "errors": d.receipt.errors.iter().map(|e| e.code).collect::<Vec<_>>(),
        }),
    }
}

/// Accepts one parsed report into the decision, or says why not.
fn accept(
    d: &mut Decision,
    index: usize,
    ptr: &str,
    input: ReportInput,
    unit: &Unit,
    mates: &mut Batchmates,
    ctx: &mut Context,
    engine: &Engine,
) -> Result<(), Vec<IntakeError>> {
    // A group company may report for a subsidiary; the report is then the subsidiary's.
    let behalf = on_behalf_of(&input, ptr, unit, ctx)?;
    let unit: &Unit = behalf.as_deref().unwrap_or(unit);
    // This report's obligations are those pushed from here on.
    let first_new_obligation = d.obligations.len();
    let Admitted { mut content, earlier, notice, appealed } = admit(input, ptr, unit, ctx, &engine.policy)?;
    let kind = content.kind();
    let id = ReportId::new();
    let me = Reporter { code: &unit.code, unit_type: unit.unit_type, region: unit.province }.party();
    let PeriodGrade { grade_note, declared_grade, my_botnets, raised_by_hub } = grade_over_period(d, id, &mut content, mates, ctx, engine);
    // Art. 8(三) [僵尸机制]: after a regrade CNCERT's report copies the bureau of every province
    // the period's reports touch, not only this one's.
    let regraded_provinces: Vec<Province> =
        d.regrades.iter().filter_map(|g| ctx.refs.get(&g.report_id)).flat_map(|r| r.provinces.iter().copied()).collect();
    let mut drafts = duties_of(d, id, &content, unit, earlier.as_ref(), raised_by_hub, &regraded_provinces, engine);
    let mut fulfils = answers_and_updates(d, id, ptr, &content, unit, &me, earlier.as_ref(), notice.as_ref(), &mut drafts, ctx, engine);
    notify_botnet_owners(d, id, ptr, &content, unit, earlier.as_ref(), &mut drafts, engine);
    let mut summaries = oblige(d, id, drafts, &mut fulfils, &content, unit, engine);
    if let (Some(o), ReportBody::Appeal(b)) = (appealed, &content.body) {
        // An obligor appealing its own 迟报 or 漏报 does not reopen its own duty: CNCERT decides,
        // and the status stays until it grants the appeal (`tongbao obligations grant`).
        let own_lateness = o.actor == me && matches!(o.status, ObligationStatus::Late | ObligationStatus::Missed);
        summaries.push(if own_lateness { refer_to_cncert(d, o, b, id, &me) } else { reopen(d, ctx, o, b, id, &me, engine) });
    }
    record_fulfilments(d, ctx, fulfils, id, &me);

    let cc = match &content.body {
        ReportBody::BotnetEvent(b) => b.botnets.iter().map(|n| std::net::SocketAddr::new(n.cc_ip, n.port.get()).to_string()).collect(),
        _ => vec![],
    };
    d.receipt.reports.push(AcceptedReport {
        index,
        source: ptr.to_string(),
        report_id: id,
        kind,
        cc,
        grade: content.grade,
        level: content.level,
        grade_note,
        for_unit: behalf.as_ref().map(|u| u.code.clone()),
        obligations: summaries,
    });
    ctx.refs.insert(
        id,
        ReportRef {
            id,
            unit: unit.code.clone(),
            reporter_type: unit.unit_type,
            reporter_region: unit.province,
            kind,
            grade: content.grade,
            level: content.level,
            provinces: content.provinces.clone(),
        },
    );
    ctx.botnets.extend(my_botnets.iter().cloned());
    // A notice decided earlier in the batch creates duties a later feedback may meet.
    for o in d.obligations[first_new_obligation..].iter().filter(|o| matches!(o.duty, Duty::DisposalFeedback | Duty::Verification)) {
        if let Some(about) = o.report_id {
            ctx.owed.entry(about).or_default().push((o.duty, o.actor.clone()));
        }
    }
    d.botnets.extend(my_botnets);
    d.receipt.regraded = d.regrades.clone();
    d.reports.push(Report { id, unit: unit.code.clone(), declared_grade, content });
    Ok(())
}

/// The subsidiary a report is submitted for, when the sender is its group company and names it
/// in `unit` (Art. 12¶2 [通报办法], Art. 18 [僵尸机制]: the group gathers, verifies and reports its
/// provincial companies' information); `None` when the sender reports as itself. Any other unit
/// named is refused at `unit`, saying which codes the sender may use.
fn on_behalf_of(input: &ReportInput, ptr: &str, sender: &Unit, ctx: &Context) -> Result<Option<std::sync::Arc<Unit>>, Vec<IntakeError>> {
    let Some(claimed) = input.unit.as_ref().filter(|c| *c != &sender.code) else { return Ok(None) };
    if ctx.groups.get(claimed) == Some(&sender.code)
        && let Some(subsidiary) = ctx.units.get(&Sender::Unit(claimed.clone()))
    {
        return Ok(Some(subsidiary.clone()));
    }
    let mut subsidiaries: Vec<&str> = ctx.groups.iter().filter(|(_, g)| *g == &sender.code).map(|(s, _)| s.as_str()).collect();
    subsidiaries.sort();
    let expected = if subsidiaries.is_empty() {
        format!("本单位代码 {}（只能以本单位名义报送）", sender.code)
    } else {
        format!("本单位代码 {} 或本集团下属单位代码（{}）", sender.code, subsidiaries.join("、"))
    };
    Err(vec![IntakeError::new(ErrorCode::ForeignUnit, format!("{ptr}/unit"), expected, Some(claimed.to_string()))])
}

/// A report's content once its references are checked.
struct Admitted {
    content: ReportContent,
    /// The unit's own earlier report it follows up.
    earlier: Option<ReportRef>,
    /// The botnet event a feedback or verification answers.
    notice: Option<ReportRef>,
    /// The closed obligation an appeal reopens.
    appealed: Option<Obligation>,
}

/// Checks what a report claims and names: it speaks for its own unit only, and each report, event,
/// duty or contact address it refers to is one this unit may refer to; fills what the unit left
/// to be assumed (its province, a botnet's operator).
fn admit(input: ReportInput, ptr: &str, unit: &Unit, ctx: &Context, policy: &ob::Policy) -> Result<Admitted, Vec<IntakeError>> {
    if let Some(claimed) = &input.unit
        && claimed != &unit.code
    {
        return Err(vec![IntakeError::new(
            ErrorCode::ForeignUnit,
            format!("{ptr}/unit"),
            format!("本单位代码 {}（只能以本单位名义报送）", unit.code),
            Some(claimed.to_string()),
        )]);
    }
    let mut content = input.content;
    let kind = content.kind();
    if input.provinces_from_reporter && content.provinces.is_empty() {
        match unit.province {
            Region::Province(p) => content.provinces = vec![p],
            // A national unit's own province is no answer: "全国" is never assumed by omission.
            Region::National if matches!(kind, ReportKind::Event | ReportKind::Warning) => {
                return Err(vec![IntakeError::new(
                    ErrorCode::MissingField,
                    ptr,
                    "涉及省份（全国性单位报送时须填写受影响的省份；省级单位不填则为本单位所在省份）",
                    None,
                )]);
            }
            Region::National => {}
        }
    }
    if let ReportBody::BotnetEvent(b) = &mut content.body
        && b.operator.is_none()
        && unit.unit_type.is_basic_telecom()
    {
        // The operator of a botnet an operator reports is, unless it says otherwise, itself.
        b.operator = Some(unit.name.clone());
    }
    let me = Reporter { code: &unit.code, unit_type: unit.unit_type, region: unit.province }.party();

    // References: a follow-up must name the unit's own earlier report of the same kind;
    // feedback and verification must name a botnet event.
    let earlier = match content.follows_up {
        None => None,
        Some(ref_id) => match ctx.refs.get(&ref_id) {
            // A group company's report on a subsidiary's event (its 汇总、核实, Art. 12¶2
            // [通报办法]) follows that report up, so the event is counted once.
            Some(r) if (r.unit == unit.code || ctx.groups.get(&r.unit) == Some(&unit.code)) && r.kind == kind => Some(r.clone()),
            _ => {
                return Err(vec![IntakeError::new(
                    ErrorCode::UnknownReference,
                    format!("{ptr}/follows_up"),
                    format!("本单位（或本集团下属单位）此前报送的同类（{}）报告编号", kind.label_zh()),
                    Some(ref_id.to_string()),
                )]);
            }
        },
    };
    let notice = match &content.body {
        ReportBody::DisposalFeedback(b) => Some(b.notice_ref),
        ReportBody::Verification(b) => Some(b.notice_ref),
        _ => None,
    };
    let notice = match notice {
        None => None,
        Some(n) => match ctx.refs.get(&n) {
            Some(r) if r.kind == ReportKind::BotnetEvent => Some(r.clone()),
            _ => {
                return Err(vec![IntakeError::new(
                    ErrorCode::UnknownReference,
                    format!("{ptr}/content/notice_ref"),
                    "已通报的木马和僵尸网络事件的报告编号",
                    Some(n.to_string()),
                )]);
            }
        },
    };

    // Art. 9(二)(三) [僵尸机制]: a feedback comes from a unit notified to dispose of the event, a
    // verification from the party that owes it; to anyone else the event is as unknown as
    // another unit's report, so nothing leaks about who was notified.
    let owed_duty = match &content.body {
        ReportBody::DisposalFeedback(_) => Some(Duty::DisposalFeedback),
        ReportBody::Verification(_) => Some(Duty::Verification),
        _ => None,
    };
    if let (Some(duty), Some(event)) = (owed_duty, &notice)
        && !ctx.owed.get(&event.id).is_some_and(|owed| owed.iter().any(|(d, p)| *d == duty && *p == me))
    {
        let expected = match duty {
            Duty::DisposalFeedback => "本单位收到处置通知的木马和僵尸网络事件的报告编号",
            _ => "本单位负责验证的木马和僵尸网络事件的报告编号",
        };
        return Err(vec![IntakeError::new(
            ErrorCode::UnknownReference,
            format!("{ptr}/content/notice_ref"),
            expected,
            Some(event.id.to_string()),
        )]);
    }

    // A contact update may not take an address that is another unit's registered contact: mail
    // from it would then speak for the claimer (Art. 21 [通报办法] updates one's own contacts).
    if let ReportBody::ContactUpdate(b) = &content.body {
        let taken: Vec<IntakeError> = b
            .contacts
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let email = c.email.as_ref()?;
                // The hub's own From address as a unit's contact would feed its receipts back
                // into its intake, one more each round (a mail loop); a `+tag` or other case of
                // it reaches the same mailbox, and so does any address at the hub's own domain
                // (postmaster@, a colleague's) for a unit that is not one of the authorities.
                let folded = crate::model::appeal::fold_mailbox(email.as_str());
                let hubs_domain = policy.hub_addresses.iter().any(|a| crate::model::appeal::within_domain_of(&folded, a));
                if policy.hub_addresses.iter().any(|a| crate::model::appeal::fold_mailbox(a) == folded)
                    || (hubs_domain && !unit.unit_type.is_authority())
                {
                    return Some(IntakeError::new(
                        ErrorCode::NotYours,
                        format!("{ptr}/content/contacts/{i}/email"),
                        "本单位联系人的邮箱（不能登记通报中心自己的发信地址）",
                        Some(email.as_str().to_string()),
                    ));
                }
                // Another unit's mailbox under a `+tag` or in other case is still its mailbox.
                let owner = ctx.units.get(&Sender::Email(email.clone())).or_else(|| {
                    let folded: crate::model::Email = crate::model::appeal::fold_mailbox(email.as_str()).parse().ok()?;
                    ctx.units.get(&Sender::Email(folded))
                })?;
                (owner.code != unit.code).then(|| {
                    IntakeError::new(
                        ErrorCode::NotYours,
                        format!("{ptr}/content/contacts/{i}/email"),
                        "本单位联系人的邮箱（该邮箱已登记为其他单位的联系人，如需转移请联系 CNCERT）",
                        Some(email.as_str().to_string()),
                    )
                })
            })
            .collect();
        if !taken.is_empty() {
            return Err(taken);
        }
    }

    let appealed = match &content.body {
        ReportBody::Appeal(b) => Some(appealable(ctx, b.obligation, ptr, &me, &unit.code)?),
        _ => None,
    };

    Ok(Admitted { content, earlier, notice, appealed })
}

/// How a botnet event came out of grading over its period.
struct PeriodGrade {
    /// Why the grade is what it is, when the hub chose it.
    grade_note: Option<String>,
    declared_grade: Option<Grade>,
    my_botnets: Vec<BotnetRow>,
    /// Other reports of the period, not the report's own botnets, pushed its grade up.
    raised_by_hub: bool,
}

/// Art. 7 [僵尸机制]: grades a botnet event over the period with the other reports of it, and
/// raises the period's earlier reports to that grade, with their clocks run again and their
/// units told. Nothing for a report of another kind.
fn grade_over_period(
    d: &mut Decision,
    id: ReportId,
    content: &mut ReportContent,
    mates: &mut Batchmates,
    ctx: &mut Context,
    engine: &Engine,
) -> PeriodGrade {
    let mut grade_note = None;
    let mut declared_grade = None;
    let mut my_botnets = Vec::new();
    let mut raised_by_hub = false;
    if let ReportBody::BotnetEvent(b) = &content.body {
        for (idx, bn) in b.botnets.iter().enumerate() {
            let bots = BotSet::from_ips(&bn.bot_ips);
            my_botnets.push(BotnetRow {
                report_id: id,
                idx,
                cc: Some((bn.cc_ip, bn.port.get())),
                discovered_at: content.discovered_at,
                declared_count: bn.bot_count,
                bots,
            });
        }
        let window = Duration::hours(i64::from(engine.policy.botnet_window_hours));
        let at = content.discovered_at;
        let within = |r: &BotnetRow| (r.discovered_at - at).abs() < window;
        if !mates.graded.contains_key(&at) {
            // This submission's own botnets are among `together`, not taken twice from the
            // context, where its earlier reports put them after `ctx_len`.
            let together: &[BotnetRow] = if mates.together.is_empty() { &my_botnets } else { &mates.together };
            let in_window: Vec<usize> = (0..mates.ctx_len.min(ctx.botnets.len())).filter(|&i| within(&ctx.botnets[i])).collect();
            let own: Vec<botnet::Sighting<'_>> = together.iter().filter(|r| within(r)).map(BotnetRow::sighting).collect();
            let with_submission: Vec<botnet::Sighting<'_>> =
                in_window.iter().map(|&i| ctx.botnets[i].sighting()).chain(own.iter().cloned()).collect();
            let agg = botnet::aggregate_distinct(&with_submission);
            let graded = Graded {
                in_window,
                agg,
                computed: botnet::grade(&agg, &engine.policy.botnet_thresholds),
                own_grade: botnet::grade(&botnet::aggregate_distinct(&own), &engine.policy.botnet_thresholds),
                regraded: false,
            };
            mates.graded.insert(at, graded);
        }
        let graded = mates.graded.get_mut(&at).expect("just inserted");
        let (agg, computed, own_grade) = (graded.agg, graded.computed, graded.own_grade);
        // Only the first report with this discovery time raises the period's earlier reports:
        // the rest would find them raised already.
        let in_window: Vec<&BotnetRow> = if std::mem::replace(&mut graded.regraded, true) {
            Vec::new()
        } else {
            graded.in_window.iter().map(|&i| &ctx.botnets[i]).collect()
        };
        let declared = content.grade;
        let chosen = declared.map_or(computed, |g| g.max(computed));
        if declared.is_none_or(|g| g < computed) {
            grade_note = Some(match declared {
                Some(g) => format!(
                    "申报分级“{}”低于按规模计算的分级：{}",
                    g.label_zh(),
                    botnet::explain_zh(&agg, computed, &engine.policy.botnet_thresholds)
                ),
                None => botnet::explain_zh(&agg, computed, &engine.policy.botnet_thresholds),
            });
        }
        // What the unit declared stays readable whatever the period later makes of it.
        declared_grade = declared;
        // If the report's own botnets justify the grade, the reporter should have known it and
        // its clock runs from discovery; if other reports of the period pushed it over, the
        // clock runs from the moment of regrading (SPEC §3).
        raised_by_hub = declared.unwrap_or(Grade::General).max(own_grade) < computed;
        content.grade = Some(chosen);
        // Earlier reports of the period are raised to the period's grade.
        let mut seen = std::collections::HashSet::new();
        for row in in_window.iter().filter(|r| r.report_id != id) {
            if !seen.insert(row.report_id) {
                continue;
            }
            if let Some(r) = ctx.refs.get_mut(&row.report_id)
                && r.grade.is_some_and(|g| g < computed)
            {
                let owners: std::collections::BTreeSet<UnitCode> = in_window
                    .iter()
                    .filter(|b| b.report_id == row.report_id)
                    .filter_map(|b| b.cc.and_then(|(ip, _)| engine.ownership.of_ip(ip)).cloned())
                    .filter(|o| *o != r.unit)
                    .collect();
                raise_earlier_report(d, r, owners, computed, &agg, id, engine);
            }
        }
    }

    PeriodGrade { grade_note, declared_grade, my_botnets, raised_by_hub }
}

/// Raises an earlier report of the period to the period's grade (Art. 7 [僵尸机制]): its duties
/// whose clocks depend on the grade run again from now, its unit is told, and so are `owners`,
/// the units answerable for its C&C addresses, whose feedback is due sooner.
fn raise_earlier_report(
    d: &mut Decision,
    r: &mut ReportRef,
    owners: std::collections::BTreeSet<UnitCode>,
    computed: Grade,
    agg: &botnet::Aggregate,
    id: ReportId,
    engine: &Engine,
) {
    let received_at = d.submission.received_at;
    let from = r.grade.unwrap_or(Grade::General);
    r.grade = Some(computed);
    d.regrades.push(Regrade { report_id: r.id, from, to: computed, at: received_at });
    // The duties whose clocks depend on the grade run again under the new one, from now:
    // disposal feedback and the operator's verification (Art. 9(二)(三) [僵尸机制]).
    let mut new_deadlines = Vec::new();
    let owner = r.unit.clone();
    // Only a basic telecom operator that found the event owes a verification (Art. 9(三)).
    let verifier = r.reporter_type.is_basic_telecom().then_some(&owner);
    for draft in ob::after_notice(computed, received_at, &owner, verifier, &engine.calendar) {
        let actor = (draft.duty == Duty::Verification).then(|| draft.actor.clone());
        let next_alert_at = crate::rules::reminders::first_alert_at(&draft.deadline, true, &engine.policy.reminders, &engine.calendar);
        new_deadlines.push(format!(
            "{}：如尚未完成，应于 {}（北京时间）前完成",
            draft.duty.label_zh(),
            crate::rules::calendar::local_display(draft.deadline.due_at)
        ));
        d.reschedules.push(Reschedule { report: r.id, duty: draft.duty, actor, deadline: draft.deadline, next_alert_at });
    }
    // Every unit whose report changed grade is told, never left to find out.
    let why = botnet::explain_zh(agg, computed, &engine.policy.botnet_thresholds);
    d.outbox.push(regrade_notice(r, from, computed, received_at, &why, &new_deadlines));
    // The units answerable for its C&C addresses owe the feedback whose deadline moved:
    // they are told too.
    if let Some(feedback) = new_deadlines.iter().find(|l| l.starts_with(Duty::DisposalFeedback.label_zh())) {
        for owner in owners {
            let payload = serde_json::json!({
                "title": format!("【期限提前】木马和僵尸网络事件调整为“{}”，处置反馈期限提前", computed.label_zh()),
                "lines": [format!("报告编号：{}（反馈时请在 notice_ref 中填写）", r.id), format!("调整原因：{why}"), format!("新的期限：{feedback}")],
            });
            d.outbox.push(crate::fanout::party_row(OutboxKind::Alert, &Party::Unit(owner), "to", r.id.to_string(), &payload));
        }
    }
    d.audit.push(AuditRow {
        actor: "hub".into(),
        action: "report.regraded",
        subject: r.id.to_string(),
        detail: serde_json::json!({ "from": from, "to": computed, "by_report": id, "aggregate": agg }),
    });
}

/// The duties a report creates under the articles: its own reporting clocks (from the regrading
/// when the hub raised it), a referral of a suspected crime, and CNCERT's report after a regrade.
fn duties_of(
    d: &Decision,
    id: ReportId,
    content: &ReportContent,
    unit: &Unit,
    earlier: Option<&ReportRef>,
    raised_by_hub: bool,
    regraded_provinces: &[Province],
    engine: &Engine,
) -> Vec<(ReportId, ObligationDraft)> {
    let received_at = d.submission.received_at;
    let kind = content.kind();
    let reporter = Reporter { code: &unit.code, unit_type: unit.unit_type, region: unit.province };
    let mut facts = ReportFacts {
        report_id: id,
        kind,
        grade: content.grade,
        level: content.level,
        discovered_at: content.discovered_at,
        received_at,
        reporter,
        provinces: &content.provinces,
        cross_province: content.cross_province,
        channel: d.submission.channel,
        final_report: content.final_report,
    };
    if raised_by_hub {
        // The reporter could not know the period's grade: its deadlines run from the regrading.
        facts.discovered_at = received_at;
    }
    let earlier_urgency = earlier.as_ref().and_then(|e| Urgency::of(e.grade, e.level));
    let mut drafts: Vec<(ReportId, ObligationDraft)> =
        ob::for_report(&facts, earlier.as_ref().map(|_| earlier_urgency.unwrap_or(Urgency::Monthly)), &engine.calendar, &engine.policy)
            .into_iter()
            .map(|o| (id, o))
            .collect();
    if content.suspected_crime {
        // Art. 17 [僵尸机制]: referred to the public security authority by CNCERT, once per
        // event: keyed by the first report, so a follow-up that first says 涉嫌犯罪 creates it
        // and one that says it again does not.
        let event = earlier.as_ref().map(|e| e.id).unwrap_or(id);
        let mut referral = ob::crime_referral(received_at, &engine.calendar, &engine.policy);
        referral.key = Some(format!("crime_referral:{event}"));
        drafts.push((event, referral));
    }
    let mut provinces = content.provinces.clone();
    provinces.extend_from_slice(regraded_provinces);
    provinces.sort();
    provinces.dedup();
    if !d.regrades.is_empty() && !drafts.iter().any(|(_, o)| o.duty == Duty::CncertReport) {
        let g = content.grade.unwrap_or(Grade::General);
        drafts.extend(ob::after_regrade(g, received_at, &provinces, unit.province, &engine.calendar).into_iter().map(|o| (id, o)));
    } else if !regraded_provinces.is_empty() {
        // This report's own CNCERT report (its grade is the period's) copies them all too.
        for (_, o) in drafts.iter_mut().filter(|(_, o)| o.duty == Duty::CncertReport) {
            for b in ob::bureaus(&provinces, unit.province) {
                if !o.copy.contains(&b) && !o.to.contains(&b) {
                    o.copy.push(b);
                }
            }
        }
    }

    drafts
}

/// What a report answers or changes: the follow-up and written report it delivers, the feedback
/// or verification it gives (with targets left undisposed escalated and CNCERT's next duties),
/// a monthly summary's duties, and a contact update. Returns the duties it fulfils.
#[allow(clippy::too_many_arguments)]
fn answers_and_updates(
    d: &mut Decision,
    id: ReportId,
    ptr: &str,
    content: &ReportContent,
    unit: &Unit,
    me: &Party,
    earlier: Option<&ReportRef>,
    notice: Option<&ReportRef>,
    drafts: &mut Vec<(ReportId, ObligationDraft)>,
    ctx: &mut Context,
    engine: &Engine,
) -> Vec<Fulfils> {
    let received_at = d.submission.received_at;
    let reporter = Reporter { code: &unit.code, unit_type: unit.unit_type, region: unit.province };
    let mut fulfils = Vec::new();
    if let Some(e) = earlier {
        fulfils.push(Fulfils::About { report: e.id, duty: Duty::FollowUp, actor: me.clone() });
        if d.submission.channel != crate::model::Channel::Phone {
            fulfils.push(Fulfils::About { report: e.id, duty: Duty::WrittenReport, actor: me.clone() });
        }
    }
    match (&content.body, notice) {
        (ReportBody::DisposalFeedback(b), Some(event)) => {
            let left: Vec<(crate::model::Target, bool, String)> =
                b.undisposed.iter().map(|u| (u.target.clone(), u.important, format!("未处置，原因：{}", u.reason))).collect();
            escalate_targets(d, event, unit, &left, id, engine);
            fulfils.push(Fulfils::About { report: event.id, duty: Duty::DisposalFeedback, actor: me.clone() });
            // Art. 13 [僵尸机制]: a feedback by phone leaves the written form owed; a written one
            // delivers the form a phoned one left owed.
            if d.submission.channel == crate::model::Channel::Phone {
                drafts.push((event.id, ob::written_feedback(received_at, &unit.code, &engine.calendar, &engine.policy)));
            } else {
                fulfils.push(Fulfils::About { report: event.id, duty: Duty::WrittenReport, actor: me.clone() });
            }
            let grade = event.grade.unwrap_or(Grade::General);
            // Art. 9(三) [僵尸机制]: CNCERT verifies what it monitored, and what it collected from
            // others (an IDC's report, a feed): only an operator verifies its own findings.
            let found_by_cncert = !event.reporter_type.is_basic_telecom();
            let bureaus = ob::bureaus(&event.provinces, event.reporter_region);
            drafts.extend(
                ob::after_feedback(grade, received_at, &unit.code, found_by_cncert, bureaus, &engine.calendar)
                    .into_iter()
                    .map(|o| (event.id, o)),
            );
        }
        (ReportBody::Verification(b), Some(event)) => {
            let left: Vec<(crate::model::Target, bool, String)> = b
                .results
                .iter()
                .filter(|r| r.still_malicious)
                .map(|r| (r.target.clone(), false, "验证时仍存在恶意连接".to_string()))
                .collect();
            escalate_targets(d, event, unit, &left, id, engine);
            fulfils.push(Fulfils::About { report: event.id, duty: Duty::Verification, actor: me.clone() });
        }
        (ReportBody::MonthlyGeneral(b), _) => {
            drafts.extend(ob::for_monthly_summary(&reporter, b.month, &engine.calendar).into_iter().map(|o| (id, o)));
        }
        (ReportBody::ContactUpdate(b), _) => {
            // Art. 21 [通报办法]: an update changes the roles it names; the others stay as they
            // were, so a partial update never empties a unit's contacts or mail identities.
            let mut changed: Vec<crate::model::ContactRole> = b.contacts.iter().map(|c| c.role).collect();
            changed.dedup();
            // An earlier update in the same submission is where this one starts from.
            let current = match &d.contacts {
                Some((_, contacts)) => contacts.clone(),
                None => unit.contacts.clone(),
            };
            let kept: Vec<crate::model::Contact> = current.into_iter().filter(|c| !changed.contains(&c.role)).collect();
            let label = |roles: &mut dyn Iterator<Item = crate::model::ContactRole>| {
                let mut v: Vec<&str> = roles.map(|r| r.label_zh()).collect();
                v.dedup();
                if v.is_empty() { "无".to_string() } else { v.join("、") }
            };
            let note =
                format!("联系方式变更：更新 {}；保持不变 {}", label(&mut changed.iter().copied()), label(&mut kept.iter().map(|c| c.role)));
            d.receipt.notes.push(crate::model::Note::new(ptr, note));
            let merged: Vec<crate::model::Contact> = kept.into_iter().chain(b.contacts.iter().cloned()).collect();
            d.contacts = Some((unit.code.clone(), merged.clone()));
            speak_for_unit_from_now_on(ctx, unit, &merged);
        }
        _ => {}
    }

    fulfils
}

/// CNCERT's disposal notice to whoever answers for a new botnet event's addresses and domains,
/// with the duties it gives them. Nothing for a follow-up or another kind.
#[allow(clippy::too_many_arguments)]
fn notify_botnet_owners(
    d: &mut Decision,
    id: ReportId,
    ptr: &str,
    content: &ReportContent,
    unit: &Unit,
    earlier: Option<&ReportRef>,
    drafts: &mut Vec<(ReportId, ObligationDraft)>,
    engine: &Engine,
) {
    // CNCERT's disposal notice to whoever answers for the botnet's addresses and domains
    // (Art. 8(三), 9 [僵尸机制]): each owner owes feedback, and an operator that found the event
    // owes its verification.
    let received_at = d.submission.received_at;
    if let (ReportBody::BotnetEvent(b), None) = (&content.body, earlier) {
        let grade = content.grade.unwrap_or(Grade::General);
        // Each owner's targets, and the botnets they belong to.
        let mut owners: std::collections::BTreeMap<UnitCode, Vec<String>> = std::collections::BTreeMap::new();
        let mut botnets_of: std::collections::BTreeMap<UnitCode, std::collections::BTreeSet<usize>> = Default::default();
        for (i, bn) in b.botnets.iter().enumerate() {
            if let Some(u) = engine.ownership.of_ip(bn.cc_ip) {
                owners.entry(u.clone()).or_default().push(format!("{}:{}", bn.cc_ip, bn.port));
                botnets_of.entry(u.clone()).or_default().insert(i);
            }
            for dm in &bn.domains {
                if let Some(u) = engine.ownership.of_domain(dm) {
                    owners.entry(u.clone()).or_default().push(dm.to_string());
                    botnets_of.entry(u.clone()).or_default().insert(i);
                }
            }
        }
        if owners.is_empty() {
            // Nobody answers for these addresses in the ownership file: said, so that CNCERT
            // notifies by hand rather than believing it done.
            d.receipt.notes.push(crate::model::Note::new(
                ptr,
                "控制端地址和恶意域名均不在归属表（ownership）中：未能自动通知任何处置单位，请CNCERT人工通报".to_string(),
            ));
        }
        // Art. 9(三): the verification after disposal falls to the basic telecom operator that
        // found the event; CNCERT, as the monitoring unit, verifies every other (NOTES.md 14).
        let found_by_operator = unit.unit_type.is_basic_telecom().then_some(&unit.code);
        for (i, (owner, targets)) in owners.iter().enumerate() {
            let notice = ob::after_notice(grade, received_at, owner, found_by_operator.filter(|_| i == 0), &engine.calendar);
            let due = notice.first().map(|o| crate::rules::calendar::local_display(o.deadline.due_at)).unwrap_or_default();
            let payload = serde_json::json!({
                "report_id": id, "duty": Duty::DisposalFeedback, "basis": ob::basis::botnet_9_2().citation_zh,
                // The notice to the units concerned is CNCERT's (Art. 8(三)): delivered, it meets cncert_notify.
                "performs": { "report": id, "duty": Duty::CncertNotify },
                "title": format!("【处置通知】{}木马和僵尸网络事件：请于 {due} 前反馈处置情况", grade.label_zh()),
                "lines": disposal_notice_lines(id, grade, b, botnets_of.get(owner), owner, targets),
            });
            d.outbox.push(crate::fanout::party_row(OutboxKind::Notice, &Party::Unit(owner.clone()), "to", id.to_string(), &payload));
            d.audit.push(AuditRow {
                actor: "hub".into(),
                action: "botnet.notified",
                subject: id.to_string(),
                detail: serde_json::json!({ "unit": owner, "targets": targets }),
            });
            drafts.extend(notice.into_iter().map(|o| (id, o)));
        }
    }
}

/// Turns a report's drafted duties into obligations, met now where the report itself meets them,
/// and sends what meeting them means: the report forwarded, CNCERT's reports performed.
fn oblige(
    d: &mut Decision,
    id: ReportId,
    drafts: Vec<(ReportId, ObligationDraft)>,
    fulfils: &mut Vec<Fulfils>,
    content: &ReportContent,
    unit: &Unit,
    engine: &Engine,
) -> Vec<ObligationSummary> {
    // Drafts become obligations; those this report meets get their status now, except keyed
    // ones, which may already exist and are fulfilled by key in the store.
    let received_at = d.submission.received_at;
    let mut summaries = Vec::new();
    for (about, draft) in drafts {
        // A provisional deadline makes nothing late: the year's schedule decides, when it comes.
        let on_time = received_at <= draft.deadline.due_at || draft.deadline.provisional;
        let met_status = if on_time { ObligationStatus::Met } else { ObligationStatus::Late };
        let id_for = draft.key.as_deref().map(ObligationId::from_key).unwrap_or_default();
        let (status, met_by) = match (&draft.key, draft.met_by_this) {
            (Some(key), true) => {
                fulfils.push(Fulfils::Key(key.clone()));
                (ObligationStatus::Open, None)
            }
            (None, true) => (met_status, Some(id)),
            (_, false) => (ObligationStatus::Open, None),
        };
        if draft.met_by_this && matches!(draft.duty, Duty::Report | Duty::CncertReport) {
            forward(d, id, &draft, content, unit);
            if draft.duty == Duty::Report && needs_csb_review(content) {
                draft_public_notice(d, id, content, unit);
            }
        }
        // Duties the hub performs on CNCERT's behalf: its report of this botnet event to CSB
        // (Art. 8(三) [僵尸机制]) and, built from this feedback, the disposal result to CSB and the
        // bureaus concerned (Art. 9(五)). Each is met when its notice is delivered.
        let performed = match draft.duty {
            Duty::CncertReport if !draft.met_by_this => Some("【CNCERT报告】"),
            Duty::DisposalResult if matches!(draft.deadline.rule, crate::model::DeadlineRule::Hours(_)) => Some("【处置结果】"),
            _ => None,
        };
        if let Some(label) = performed {
            perform_for_cncert(d, id, about, &draft, content, unit, label);
        }
        let shown = if draft.met_by_this { met_status } else { status };
        let obligation = Obligation {
            id: id_for,
            key: draft.key,
            report_id: Some(about),
            duty: draft.duty,
            actor: draft.actor,
            to: draft.to,
            copy: draft.copy,
            deadline: draft.deadline,
            basis: draft.basis,
            binding: draft.binding,
            status,
            met_by,
            met_at: met_by.map(|_| received_at),
            next_alert_at: (status == ObligationStatus::Open).then(|| {
                crate::rules::reminders::first_alert_at(&draft.deadline, draft.binding, &engine.policy.reminders, &engine.calendar)
            }),
        };
        summaries.push(ObligationSummary::of(&obligation, shown));
        d.obligations.push(obligation);
    }
    summaries
}

/// Records what a report fulfils, audited, and closes it in the context for later reports of
/// the batch.
fn record_fulfilments(d: &mut Decision, ctx: &mut Context, fulfils: Vec<Fulfils>, id: ReportId, me: &Party) {
    let received_at = d.submission.received_at;
    for target in fulfils {
        if let Fulfils::About { report, duty, actor } = &target {
            // A later appeal in the same batch must see this obligation closed.
            for o in ctx.obligations.values_mut().filter(|o| o.report_id == Some(*report) && o.duty == *duty && o.actor == *actor) {
                let on_time = received_at <= o.deadline.due_at || o.deadline.provisional;
                o.status = if on_time { ObligationStatus::Met } else { ObligationStatus::Late };
            }
        }
        d.audit.push(AuditRow {
            actor: me.to_string(),
            action: "obligation.fulfilled",
            subject: match &target {
                Fulfils::About { report, .. } => report.to_string(),
                Fulfils::Key(k) => k.clone(),
            },
            detail: serde_json::json!({ "by_report": id, "what": format!("{target:?}") }),
        });
        d.fulfilments.push(Fulfilment { target, by: id, at: received_at });
    }
}

/// The obligation an appeal names, if the appellant may appeal it and it is closed.
fn appealable(ctx: &Context, id: ObligationId, ptr: &str, me: &Party, unit: &UnitCode) -> Result<Obligation, Vec<IntakeError>> {
    let place = format!("{ptr}/content/obligation");
    let visible = ctx.obligations.get(&id).filter(|o| {
        let report_unit = o.report_id.and_then(|r| ctx.refs.get(&r)).map(|r| &r.unit);
        ob::may_appeal(o, me, unit, report_unit)
    });
    match visible {
        None => Err(vec![IntakeError::new(ErrorCode::UnknownReference, place, "与本单位有关的义务编号", Some(id.to_string()))]),
        Some(o) if o.status == ObligationStatus::Open => Err(vec![IntakeError::new(
            ErrorCode::NotReopenable,
            place,
            "已办结（按时、迟报或漏报）的义务；该义务仍在办理中，无需申诉",
            Some(id.to_string()),
        )]),
        Some(o) => Ok(o.clone()),
    }
}

/// An obligor's appeal of its own lateness, put to CNCERT: nothing changes until CNCERT grants
/// it; CNCERT is told what was appealed, why, and how to grant it.
fn refer_to_cncert(
    d: &mut Decision,
    o: Obligation,
    appeal: &crate::model::report::AppealBody,
    appeal_id: ReportId,
    me: &Party,
) -> ObligationSummary {
    let what = if o.status == ObligationStatus::Missed { "漏报" } else { "迟报" };
    let lines = vec![
        format!("申诉单位：{}（申诉编号 {appeal_id}）", me.label_zh()),
        format!("申诉理由：{}", appeal.reason),
        format!(
            "义务编号：{}（{}，期限 {}，现状态：{}）",
            o.id,
            o.duty.label_zh(),
            crate::rules::calendar::local_display(o.deadline.due_at),
            o.status.label_zh()
        ),
        format!("准予重新办理：tongbao obligations grant {} --by 姓名 --reason 理由；不准予则无需操作，状态保持不变", o.id),
    ];
    let payload = serde_json::json!({
        "report_id": o.report_id, "obligation_id": o.id, "duty": o.duty,
        "title": format!("【申诉待裁定】{}对本单位“{}”的{what}提出申诉", me.label_zh(), o.duty.label_zh()),
        "lines": lines,
    });
    d.outbox.push(crate::fanout::party_row(OutboxKind::Alert, &Party::Cncert, "to", o.id.to_string(), &payload));
    d.audit.push(AuditRow {
        actor: me.to_string(),
        action: "obligation.appeal_referred",
        subject: o.id.to_string(),
        detail: serde_json::json!({ "by_appeal": appeal_id, "status": o.status, "reason": appeal.reason }),
    });
    ObligationSummary::of(&o, o.status)
}

/// Reopens an appealed obligation (Art. 11 [僵尸机制]): a fresh deadline under its rule, a notice
/// to the party that owes it, copied to those it is owed to.
fn reopen(
    d: &mut Decision,
    ctx: &mut Context,
    mut o: Obligation,
    appeal: &crate::model::report::AppealBody,
    appeal_id: ReportId,
    me: &Party,
    engine: &Engine,
) -> ObligationSummary {
    let at = d.submission.received_at;
    let deadline = ob::reopened_deadline(&o, at, &engine.calendar);
    let next_alert_at = crate::rules::reminders::first_alert_at(&deadline, o.binding, &engine.policy.reminders, &engine.calendar);
    let previous = o.status;
    o.status = ObligationStatus::Open;
    o.deadline = deadline;
    o.met_by = None;
    o.met_at = None;
    o.next_alert_at = Some(next_alert_at);
    d.reopens.push(Reopen { obligation: o.id, deadline, next_alert_at });
    let due = crate::rules::calendar::local_display(deadline.due_at);
    let about = o.report_id.map(|r| r.to_string()).unwrap_or_default();
    let mut lines = vec![
        format!("申诉单位：{}（申诉编号 {appeal_id}）", me.label_zh()),
        format!("申诉理由：{}", appeal.reason),
        format!("义务编号：{}（原状态：{}）", o.id, previous.label_zh()),
        format!("相关报告编号：{about}"),
    ];
    lines.extend(appeal.targets.iter().map(|t| format!("涉及：{t}")));
    let payload = serde_json::json!({
        "report_id": o.report_id, "obligation_id": o.id, "duty": o.duty, "basis": o.basis.citation_zh,
        "title": format!("【申诉】{}已重新办理：请于 {due} 前{}", o.duty.label_zh(), o.duty.label_zh()),
        "lines": lines,
    });
    let recipients = std::iter::once((&o.actor, "to")).chain(o.to.iter().map(|p| (p, "copy")));
    for (party, role) in recipients.filter(|(p, _)| p.is_concrete() && *p != me) {
        d.outbox.push(crate::fanout::party_row(OutboxKind::Notice, party, role, o.id.to_string(), &payload));
    }
    d.audit.push(AuditRow {
        actor: me.to_string(),
        action: "obligation.reopened",
        subject: o.id.to_string(),
        detail: serde_json::json!({ "by_appeal": appeal_id, "was": previous, "due_at": deadline.due_at }),
    });
    let summary = ObligationSummary::of(&o, ObligationStatus::Open);
    ctx.obligations.insert(o.id, o);
    summary
}

/// The report goes out as a notice on AMQP, one message per province affected, routed
/// `notice.<kind>.<grade>.<province>`; urgent ones at once, others batched (the dispatcher decides).
fn forward(d: &mut Decision, report: ReportId, draft: &ObligationDraft, content: &crate::model::report::ReportContent, unit: &Unit) {
    let urgent = matches!(draft.deadline.rule, crate::model::DeadlineRule::Hours(_));
    let severity = match (content.grade, content.level) {
        (Some(g), _) => g.code().to_string(),
        (None, Some(l)) => format!("level{}", l.number()),
        (None, None) => "none".to_string(),
    };
    let provinces: Vec<String> = if content.provinces.is_empty() {
        vec!["national".into()]
    } else {
        content.provinces.iter().map(|p| p.code().to_string()).collect()
    };
    // And to each party the table names, by its own channels (the fan-out resolves them).
    let payload = crate::decision::Payload::new(&notice_payload(report, draft, content, unit, "【通报】"));
    for (party, role) in draft.to.iter().map(|p| (p, "to")).chain(draft.copy.iter().map(|p| (p, "copy"))) {
        if !party.is_concrete() || *party == draft.actor {
            continue;
        }
        let mut row = crate::fanout::shared_party_row(OutboxKind::Notice, party, role, report.to_string(), &payload);
        row.urgent = urgent;
        d.outbox.push(row);
    }
    for province in provinces {
        d.outbox.push(OutboxRow {
            id: OutboxId::new(),
            kind: OutboxKind::Notice,
            channel: OutboxChannel::Amqp,
            recipient: format!("notice.{}.{severity}.{province}", content.kind()),
            subject_id: report.to_string(),
            urgent,
            payload: crate::decision::Payload::new(&serde_json::json!({
                "report_id": report, "duty": draft.duty, "to": draft.to, "copy": draft.copy,
                "basis": draft.basis.code, "province": province, "unit_name": unit.name,
            })),
            role: None,
        });
    }
}

/// Art. 19 ¶1 [通报办法]: especially major, major and large events and level 1–3 warnings are
/// announced (通告) to the units concerned, copied to all bureaus, after CSB's review.
fn needs_csb_review(content: &crate::model::report::ReportContent) -> bool {
    use crate::model::{Grade, ReportKind};
    match content.kind() {
        ReportKind::Event => matches!(content.grade, Some(Grade::EspeciallyMajor | Grade::Major | Grade::Large)),
        ReportKind::Warning => content.level.is_some_and(|l| l.number() <= 3),
        _ => false,
    }
}

/// The draft of a report's public notice with the contents Art. 20 lists, queued to CSB for
/// its review; nothing goes to the units until a CSB user approves it in the console.
fn draft_public_notice(d: &mut Decision, report: ReportId, content: &crate::model::report::ReportContent, unit: &Unit) {
    use crate::model::report::ReportBody;
    let provinces = content.provinces.iter().map(|p| p.short_zh()).collect::<Vec<_>>().join("、");
    let lines: Vec<String> = match &content.body {
        ReportBody::Event(e) => vec![
            format!(
                "事件统计情况：{}发生{}{}1 起（{}报送，发现于 {}）",
                if provinces.is_empty() { "全国".to_string() } else { provinces.clone() },
                severity_zh(content),
                content.kind().label_zh(),
                unit.name,
                crate::rules::calendar::local_display(content.discovered_at)
            ),
            format!("造成的危害：{}", e.summary),
            format!("影响程度：{}", e.impact),
            "态势分析：（待通信保障局审核时填写）".to_string(),
            format!("典型案例：{}；已采取的措施：{}", e.summary, e.measures),
        ],
        ReportBody::Warning(w) => vec![
            format!("受影响的系统：{}", w.description),
            format!("可能产生的危害和危害程度：{}", w.potential_harm),
            format!("可能影响的用户及范围：{}", w.affected_scope),
            format!("建议应采取的应对措施及建议：{}", w.recommendations),
        ],
        _ => return,
    };
    let payload = serde_json::json!({
        "report_id": report,
        "title": format!("【待审核】通告草稿：{}{}：{}", content.kind().label_zh(), severity_zh(content), content.headline(40)),
        "notice_title": format!("【通告】{}{}：{}", content.kind().label_zh(), severity_zh(content), content.headline(40)),
        "lines": lines,
        "basis": "《互联网网络安全信息通报实施办法》第十九条、第二十条",
        "provinces": content.provinces,
    });
    d.outbox.push(crate::fanout::party_row(OutboxKind::NoticeDraft, &Party::Csb, "review", report.to_string(), &payload));
}

/// What CNCERT's disposal notice tells a unit (Art. 8(三) [僵尸机制], 事件通报内容): for each of
/// its botnets the C&C address, port and discovery time, the operator it belongs to, the
/// malicious domains, the scale and the potential harm; then what it is asked to dispose of.
fn disposal_notice_lines(
    id: ReportId,
    grade: Grade,
    b: &crate::model::report::BotnetBody,
    mine: Option<&std::collections::BTreeSet<usize>>,
    owner: &UnitCode,
    targets: &[String],
) -> Vec<String> {
    let mut lines = vec![format!("报告编号：{id}（反馈时请在 notice_ref 中填写）"), format!("事件分级：{}", grade.label_zh())];
    for i in mine.into_iter().flatten() {
        let n = &b.botnets[*i];
        let domains =
            if n.domains.is_empty() { "无".to_string() } else { n.domains.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("、") };
        lines.push(format!(
            "控制端：IP {} 端口 {}，发现时间 {}，所属基础电信运营企业 {}，恶意域名 {domains}，规模 {} 个受控IP",
            n.cc_ip,
            n.port.get(),
            crate::model::time::local_zh(n.discovered_at),
            b.operator.clone().unwrap_or_else(|| owner.to_string()),
            n.bot_count
        ));
    }
    lines.push("潜在危害：受控主机可被控制端远程操纵，用于发起拒绝服务攻击、窃取用户信息、发送垃圾邮件或传播恶意代码".to_string());
    lines.extend(targets.iter().map(|t| format!("待处置：{t}")));
    lines
}

/// Art. 9(四) [僵尸机制]: targets left undisposed in a feedback, or still malicious at
/// verification. Where the target's user runs an important information system (flagged in the
/// feedback, or marked in the ownership file), CSB is told, copying CNCERT, for the supervising
/// authority; otherwise the unit that reported them and CNCERT are told it is to be handled
/// under the service contract.
fn escalate_targets(
    d: &mut Decision,
    event: &ReportRef,
    from: &Unit,
    targets: &[(crate::model::Target, bool, String)],
    by_report: ReportId,
    engine: &Engine,
) {
    if targets.is_empty() {
        return;
    }
    let mut important = Vec::new();
    let mut contract = Vec::new();
    for (target, flagged, state) in targets {
        let user = engine.ownership.important_user(target).map(str::to_string).or_else(|| flagged.then(|| "反馈单位标明".to_string()));
        match user {
            Some(user) => important.push(format!("{target}（重要信息系统：{user}）：{state}")),
            None => contract.push(format!("{target}：{state}")),
        }
    }
    let head = |lines: &[String]| {
        let mut v = vec![format!("报告编号：{}", event.id), format!("报送单位：{}（{}）", from.name, from.code)];
        v.extend(lines.iter().cloned());
        v.push("依据：《木马和僵尸网络监测与处置机制》第九条第（四）项".to_string());
        v
    };
    if !important.is_empty() {
        let payload = serde_json::json!({
            "title": format!("【重要信息系统】木马和僵尸网络事件尚有 {} 个目标未清除，请协调监管部门处理", important.len()),
            "lines": head(&important),
        });
        d.outbox.push(crate::fanout::party_row(OutboxKind::Alert, &Party::Csb, "to", event.id.to_string(), &payload));
        d.outbox.push(crate::fanout::party_row(OutboxKind::Alert, &Party::Cncert, "copy", event.id.to_string(), &payload));
    }
    if !contract.is_empty() {
        let payload = serde_json::json!({
            "title": format!("【按服务协议处理】木马和僵尸网络事件尚有 {} 个目标未清除", contract.len()),
            "lines": head(&contract),
        });
        d.outbox.push(crate::fanout::party_row(OutboxKind::Alert, &Party::Unit(from.code.clone()), "to", event.id.to_string(), &payload));
        d.outbox.push(crate::fanout::party_row(OutboxKind::Alert, &Party::Cncert, "copy", event.id.to_string(), &payload));
    }
    d.audit.push(AuditRow {
        actor: "hub".into(),
        action: "botnet.escalated",
        subject: event.id.to_string(),
        detail: serde_json::json!({ "by_report": by_report, "important": important, "service_contract": contract }),
    });
}

/// A notice about `report` for the duty `draft`, headed `heading` (【通报】, 【CNCERT报告】, …).
/// Batched notices show its lines only: they carry what the articles list, not a pointer to it.
fn notice_payload(
    report: ReportId,
    draft: &ObligationDraft,
    content: &crate::model::report::ReportContent,
    unit: &Unit,
    heading: &str,
) -> serde_json::Value {
    let mut lines = vec![
        format!("报告编号：{report}"),
        format!("报送单位：{}（{}）", unit.name, unit.code),
        format!("发现时间：{}（北京时间）", crate::rules::calendar::local_display(content.discovered_at)),
    ];
    lines.extend(content.particulars_zh().into_iter().map(|(label, value)| format!("{label}：{value}")));
    lines.push(format!("报送要求：{}（{}）", draft.duty.label_zh(), draft.basis.citation_zh));
    serde_json::json!({
        "report_id": report, "duty": draft.duty, "basis": draft.basis.citation_zh,
        "title": format!("{heading}{}{}：{}", content.kind().label_zh(), severity_zh(content), content.headline(40)),
        "lines": lines, "unit_name": unit.name,
    })
}

/// Notices the hub sends for CNCERT to the parties a duty of CNCERT's names: about `subject`
/// (the report whose particulars they carry), performing `draft`'s duty about `about`.
fn perform_for_cncert(
    d: &mut Decision,
    subject: ReportId,
    about: ReportId,
    draft: &ObligationDraft,
    content: &crate::model::report::ReportContent,
    unit: &Unit,
    label: &str,
) {
    let value = notice_payload(subject, draft, content, unit, label);
    let payload = crate::decision::Payload::new(&value);
    // The duty is met when it reaches the party it is owed to first (CSB); copies and the other
    // addressees get the same notice but their delivery performs nothing.
    let mut primary = true;
    for (party, role) in draft.to.iter().map(|p| (p, "to")).chain(draft.copy.iter().map(|p| (p, "copy"))) {
        if party.is_concrete() && *party != draft.actor {
            if primary && role == "to" {
                let mut performing = value.clone();
                performing["performs"] = serde_json::json!({ "report": about, "duty": draft.duty });
                primary = false;
                d.outbox.push(crate::fanout::party_row(OutboxKind::Notice, party, role, subject.to_string(), &performing));
            } else {
                d.outbox.push(crate::fanout::shared_party_row(OutboxKind::Notice, party, role, subject.to_string(), &payload));
            }
        }
    }
}

/// The notice that tells a unit its botnet report was regraded because of other reports of the period.
fn regrade_notice(r: &ReportRef, from: Grade, to: Grade, at: DateTime<Utc>, why: &str, new_deadlines: &[String]) -> OutboxRow {
    let mut lines = vec![
        format!("报告编号：{}", r.id),
        format!("调整时间：{}（北京时间）", crate::rules::calendar::local_display(at)),
        format!("调整原因：{why}"),
        "依据：《木马和僵尸网络监测与处置机制》第七条（同一时期规模合并计算）".to_string(),
    ];
    lines.extend(new_deadlines.iter().map(|l| format!("新的期限：{l}")));
    let payload = serde_json::json!({
        "title": format!("【定级调整】贵单位报送的木马和僵尸网络事件由“{}”调整为“{}”", from.label_zh(), to.label_zh()),
        "lines": lines,
    });
    crate::fanout::party_row(OutboxKind::Alert, &Party::Unit(r.unit.clone()), "to", r.id.to_string(), &payload)
}

/// What the store will do with a contact update (the unit's e-mail senders become exactly its
/// new contacts' addresses), done to the context too, so that the submissions after it in the
/// same batch are authenticated as they would be in a later one.
fn speak_for_unit_from_now_on(ctx: &mut Context, unit: &Unit, contacts: &[crate::model::Contact]) {
    let updated = std::sync::Arc::new(Unit { contacts: contacts.to_vec(), ..unit.clone() });
    ctx.units.retain(|sender, u| !(matches!(sender, Sender::Email(_)) && u.code == unit.code));
    for u in ctx.units.values_mut().filter(|u| u.code == unit.code) {
        *u = updated.clone();
    }
    for email in contacts.iter().filter_map(|c| c.email.clone()) {
        ctx.units.insert(Sender::Email(email), updated.clone());
    }
}

fn severity_zh(c: &crate::model::report::ReportContent) -> String {
    match (c.grade, c.level) {
        (Some(g), _) => format!("（{}）", g.label_zh()),
        (None, Some(l)) => format!("（{}）", l.label_zh()),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::reads_untouched_by;
    use crate::model::Channel;

    fn decision(raw: &str) -> Decision {
        let submission = Submission::by_content(Channel::Cli, Sender::Unit("CT-GD".parse().unwrap()), raw.into(), Utc::now());
        let receipt = Receipt {
            submission_id: submission.id,
            received_at: submission.received_at,
            outcome: Outcome::Accepted,
            unit: None,
            reports: vec![],
            errors: vec![],
            notes: vec![],
            regraded: vec![],
            duplicate: false,
            summary: None,
        };
        Decision::empty(submission, None, receipt, false)
    }

    #[test]
    fn a_read_is_untouched_only_when_the_earlier_batch_writes_nothing_it_looks_at() {
        let earlier = decision("a");
        let other = decision("b");
        let needs = |d: &Decision| Needs { dedupe_keys: vec![d.submission.dedupe_key.clone()], ..Needs::default() };
        assert!(reads_untouched_by(&needs(&other), std::slice::from_ref(&earlier)));
        assert!(!reads_untouched_by(&needs(&earlier), std::slice::from_ref(&earlier)), "the same dedupe key");

        let regraded = ReportId::new();
        let mut regrading = decision("c");
        regrading.regrades.push(Regrade { report_id: regraded, from: Grade::General, to: Grade::Major, at: Utc::now() });
        let refers = Needs { refs: vec![regraded], ..needs(&other) };
        assert!(!reads_untouched_by(&refers, std::slice::from_ref(&regrading)), "a referenced report is regraded");
        assert!(reads_untouched_by(&refers, std::slice::from_ref(&earlier)));

        let mut contacts = decision("d");
        contacts.contacts = Some(("CT-GD".parse().unwrap(), vec![]));
        assert!(!reads_untouched_by(&needs(&other), &[contacts]), "units change");

        let appeal = Needs { obligations: vec![ObligationId::new()], ..needs(&other) };
        assert!(!reads_untouched_by(&appeal, std::slice::from_ref(&earlier)), "obligations may change");

        let mut botnets = decision("e");
        let now = Utc::now();
        botnets.botnets.push(BotnetRow {
            report_id: ReportId::new(),
            idx: 0,
            cc: None,
            discovered_at: now,
            declared_count: 1,
            bots: BotSet::default(),
        });
        let period = Needs { botnet_span: Some((now - Duration::hours(24), now)), ..needs(&other) };
        assert!(!reads_untouched_by(&period, std::slice::from_ref(&botnets)), "botnets of the period");
        assert!(reads_untouched_by(&needs(&other), &[botnets]));
    }
}
