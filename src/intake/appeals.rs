//! Users' appeals of a disposal (Art. 11 [僵尸机制]): lodging one routes it to the units answerable for its targets and to CNCERT as duties to answer; answering it mails the user and closes those duties.
//!
//! A user has no account, so nothing here trusts the sender beyond the checks of
//! `model::appeal`: the daily limit per contact is kept by the store in the same transaction
//! that stores the appeal, and an answer may come only from CNCERT or a unit it was routed to.

use crate::decision::{AuditRow, Engine, OutboxRow};
use crate::decision::{OutboxChannel, OutboxKind};
use crate::model::appeal::{AppealAnswer, AppealChannel, AppealForm, plain_text};
use crate::model::{AppealId, ErrorCode, IntakeError, Obligation, ObligationId, ObligationStatus, OutboxId, Party, UnitCode, UserAppeal};
// `lodge` re-checks what `request` checked: the stored form is what the poster typed.
use crate::rules::calendar::local_display;
use crate::rules::obligations as ob;
use crate::store::{AppealEffects, Store, StoreError, StoredAppeal};
use chrono::{DateTime, Utc};

const MAX_ANSWER: usize = 4000;

/// What became of an appeal.
#[derive(Debug)]
pub enum Lodged {
    /// Stored; the answer is due by `due_at`.
    Accepted { appeal: UserAppeal, due_at: DateTime<Utc> },
    /// Refused, each problem at its field; nothing stored.
    Refused(Vec<IntakeError>),
    /// The contact lodged the day's allowance already; nothing stored.
    TooMany { per_day: u32 },
}

/// Who answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answerer {
    /// A CNCERT user, by name (audited).
    Cncert { person: String },
    /// A unit the appeal was routed to, by its token.
    Unit(UnitCode),
}

impl Answerer {
    fn party(&self) -> Party {
        match self {
            Answerer::Cncert { .. } => Party::Cncert,
            Answerer::Unit(u) => Party::Unit(u.clone()),
        }
    }
}

/// What became of an answer.
#[derive(Debug, PartialEq)]
pub enum Answered {
    Done,
    /// No such appeal, or one the answerer was not asked to answer (the same answer, so
    /// nothing leaks about other units' appeals).
    NotFound,
    AlreadyAnswered,
    Refused(IntakeError),
}

/// How long the link in a confirmation mail stays good.
pub const CONFIRM_WITHIN_HOURS: i64 = 24;
/// Appeal requests one client address (or one sending mailbox) may post in an hour.
pub const REQUESTS_PER_CLIENT_HOUR: u32 = 20;

/// What became of a posted appeal.
#[derive(Debug)]
pub enum Requested {
    /// Waiting for its poster: a mail with a link and nothing the poster wrote went to `email`.
    Confirm { email: crate::model::Email },
    /// Lodged at once (no e-mail given: nothing is mailed to the poster), or refused.
    Lodged(Lodged),
    /// The client posted `per_hour` requests in the last hour; nothing stored.
    TooManyFromClient { per_hour: u32 },
}

/// Checks a posted appeal and, when it gives an e-mail address, asks that address to confirm
/// before anything the poster wrote reaches it or anyone else: a stranger who types another
/// person's address makes the hub send only a fixed text with a link. A phone-only appeal is
/// lodged at once. Both count against the client's and the contact's limits in the store.
/// `client` names the poster's address (`ip:…`) or sending mailbox (`mail:…`); `confirm_url`
/// is the link's stem (`https://…/appeal/confirm/`), or `None` to give the code and the path only.
pub async fn request<S: Store>(
    store: &S,
    engine: &Engine,
    form: &AppealForm,
    channel: AppealChannel,
    client: &str,
    confirm_url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Requested, StoreError> {
    let appeal = match UserAppeal::from_form(form, channel, now) {
        Ok(a) => a,
        Err(errors) => return Ok(Requested::Lodged(Lodged::Refused(errors))),
    };
    // The hub's own mailboxes (its domain and below, however spelled) are nobody's appeal
    // address: a confirmation sent there would be the hub mailing itself.
    if let Some(email) = &appeal.email
        && engine.policy.hub_addresses.iter().any(|a| crate::model::appeal::within_domain_of(email.as_str(), a))
    {
        let e = IntakeError::new(
            ErrorCode::NotYours,
            "email",
            "申诉人自己的电子邮箱（不能是通报中心的邮箱）",
            Some(email.as_str().to_string()),
        );
        return Ok(Requested::Lodged(Lodged::Refused(vec![e])));
    }
    let per_day = engine.policy.user_appeals_per_contact_per_day;
    let limits = crate::store::RequestLimits { per_client_hour: REQUESTS_PER_CLIENT_HOUR, per_contact_day: per_day };
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let request = crate::store::AppealRequest {
        token_hash: crate::model::submission::sha256_hex(secret.as_bytes()),
        client: client.to_string(),
        contact: appeal.contact_key(),
        channel,
        form: form.clone(),
        at: now,
        confirmed: appeal.email.is_none(),
    };
    let outbox = match &appeal.email {
        None => vec![],
        Some(email) => {
            let link = match confirm_url {
                Some(stem) => format!("请在 {CONFIRM_WITHIN_HOURS} 小时内打开以下链接并点击“确认提交”：{stem}{secret}"),
                None => format!("请在 {CONFIRM_WITHIN_HOURS} 小时内打开申诉页面的 /appeal/confirm/{secret} 并点击“确认提交”。"),
            };
            // A fixed text: nothing here comes from the poster, so the hub's address cannot
            // carry a stranger's words to whatever address they typed.
            let lines = vec![
                "有人使用本邮箱提交了对网络处置（木马和僵尸网络处置）的申诉。".to_string(),
                link,
                "确认后申诉才会受理，受理情况和答复将发送到本邮箱。".to_string(),
                "如非本人操作，请忽略本邮件，申诉不会受理。本邮件由系统发出，请勿直接回复。".to_string(),
            ];
            let row = OutboxRow {
                id: OutboxId::new(),
                kind: OutboxKind::Alert,
                channel: OutboxChannel::Email,
                recipient: email.as_str().to_string(),
                subject_id: format!("appeal-request:{}", &request.token_hash[..16]),
                urgent: true,
                payload: crate::decision::Payload::new(&serde_json::json!({
                    "recipient_label": "申诉人", "title": "【申诉确认】请确认您提交的网络处置申诉", "lines": lines,
                })),
                role: None,
            };
            vec![row]
        }
    };
    match store.request_user_appeal(&request, limits, outbox).await? {
        crate::store::Requested::ClientLimit => Ok(Requested::TooManyFromClient { per_hour: REQUESTS_PER_CLIENT_HOUR }),
        crate::store::Requested::ContactLimit => Ok(Requested::Lodged(Lodged::TooMany { per_day })),
        crate::store::Requested::Stored => match appeal.email {
            Some(email) => Ok(Requested::Confirm { email }),
            None => Ok(Requested::Lodged(lodge(store, engine, form, channel, now).await?)),
        },
    }
}

/// Lodges the appeal whose confirmation link carried `secret`, once; `None` for a link that is
/// unknown, used already or older than `CONFIRM_WITHIN_HOURS`.
pub async fn confirm<S: Store>(store: &S, engine: &Engine, secret: &str, now: DateTime<Utc>) -> Result<Option<Lodged>, StoreError> {
    let hash = crate::model::submission::sha256_hex(secret.trim().as_bytes());
    let made_after = now - chrono::Duration::hours(CONFIRM_WITHIN_HOURS);
    match store.confirm_user_appeal(&hash, made_after, now).await? {
        None => Ok(None),
        Some((form, channel)) => Ok(Some(lodge(store, engine, &form, channel, now).await?)),
    }
}

/// Checks, routes and stores an appeal.
pub async fn lodge<S: Store>(
    store: &S,
    engine: &Engine,
    form: &AppealForm,
    channel: AppealChannel,
    now: DateTime<Utc>,
) -> Result<Lodged, StoreError> {
    let mut appeal = match UserAppeal::from_form(form, channel, now) {
        Ok(a) => a,
        Err(errors) => return Ok(Lodged::Refused(errors)),
    };
    appeal.units = answerable_units(&appeal, &engine.ownership);
    let obligations: Vec<Obligation> = ob::user_appeal_answers(&appeal, &engine.calendar, &engine.policy)
        .into_iter()
        .map(|d| {
            let next = crate::rules::reminders::first_alert_at(&d.deadline, d.binding, &engine.policy.reminders, &engine.calendar);
            Obligation {
                id: d.key.as_deref().map(ObligationId::from_key).unwrap_or_default(),
                key: d.key,
                report_id: None,
                duty: d.duty,
                actor: d.actor,
                to: d.to,
                copy: d.copy,
                deadline: d.deadline,
                basis: d.basis,
                binding: d.binding,
                status: ObligationStatus::Open,
                met_by: None,
                met_at: None,
                next_alert_at: Some(next),
            }
        })
        .collect();
    let due_at = obligations.iter().map(|o| o.deadline.due_at).max().unwrap_or(now);
    let due = local_display(due_at);
    let mut outbox = Vec::new();
    for o in &obligations {
        let lines = [
            vec![format!("申诉编号：{}", appeal.id), format!("答复期限：{due}（北京时间）")],
            particulars(&appeal),
            vec![
                format!("依据：{}", o.basis.citation_zh),
                match &o.actor {
                    Party::Cncert => "答复方式：tongbao appeals answer 申诉编号 --by 姓名 --text 答复内容".to_string(),
                    _ => format!("答复方式：POST /api/v1/appeals/{}/answer（本单位报送令牌），答复将发送给申诉人", appeal.id),
                },
            ],
        ]
        .concat();
        let payload = serde_json::json!({
            "title": format!("【用户申诉】{} 的处置被申诉：请于 {due} 前答复申诉人", appeal.targets_zh()),
            "lines": lines,
        });
        outbox.push(crate::fanout::party_row(OutboxKind::Alert, &o.actor, "to", appeal.id.to_string(), &payload));
    }
    if let Some(email) = &appeal.email {
        let lines = vec![
            format!("申诉编号：{}", appeal.id),
            format!("受理时间：{}（北京时间）", local_display(now)),
            format!("涉及：{}", appeal.targets_zh()),
            format!("答复期限：{due} 前，答复将发送到本邮箱"),
            "本邮件由系统发出，请勿直接回复。".to_string(),
        ];
        outbox.push(user_mail(&appeal, email, "【申诉已受理】您对网络处置的申诉已登记", lines));
    }
    let audit = vec![AuditRow {
        actor: format!("user:{}", appeal.contact_key()),
        action: "user_appeal.lodged",
        subject: appeal.id.to_string(),
        detail: serde_json::json!({ "channel": appeal.channel, "units": appeal.units, "targets": appeal.targets_zh() }),
    }];
    let per_day = engine.policy.user_appeals_per_contact_per_day;
    if !store.record_user_appeal(&appeal, AppealEffects { obligations, outbox, audit }, per_day).await? {
        return Ok(Lodged::TooMany { per_day });
    }
    Ok(Lodged::Accepted { appeal, due_at })
}

/// Records an answer and sends it to the user.
pub async fn answer<S: Store>(store: &S, id: AppealId, by: &Answerer, text: &str, now: DateTime<Utc>) -> Result<Answered, StoreError> {
    let text = plain_text(text);
    let expected = format!("答复内容（必填，不超过 {MAX_ANSWER} 字）");
    if text.is_empty() {
        return Ok(Answered::Refused(IntakeError::new(ErrorCode::EmptyText, "/answer", expected, None)));
    }
    if text.chars().count() > MAX_ANSWER {
        let found = Some(format!("{} 字", text.chars().count()));
        return Ok(Answered::Refused(IntakeError::new(ErrorCode::TooLarge, "/answer", expected, found)));
    }
    let Some(StoredAppeal { appeal, answer }) = store.user_appeal(id).await? else { return Ok(Answered::NotFound) };
    let allowed = match by {
        Answerer::Cncert { .. } => true,
        Answerer::Unit(u) => appeal.units.contains(u),
    };
    if !allowed {
        return Ok(Answered::NotFound);
    }
    if answer.is_some() {
        return Ok(Answered::AlreadyAnswered);
    }
    let by_code = match by {
        Answerer::Cncert { .. } => "cncert".to_string(),
        Answerer::Unit(u) => u.to_string(),
    };
    let answerer_zh = by.party().label_zh();
    let mut outbox = Vec::new();
    let told = match &appeal.email {
        Some(email) => {
            let lines = vec![
                format!("申诉编号：{}", appeal.id),
                format!("涉及：{}", appeal.targets_zh()),
                format!("答复单位：{answerer_zh}"),
                format!("答复时间：{}（北京时间）", local_display(now)),
                format!("答复内容：{text}"),
            ];
            outbox.push(user_mail(&appeal, email, "【申诉答复】您对网络处置的申诉已有答复", lines));
            format!("已发送至申诉人邮箱 {}", email.as_str())
        }
        None => format!("申诉人未留邮箱，请按所留电话 {} 告知", appeal.phone.as_deref().unwrap_or("")),
    };
    // The other parties that owed an answer learn that it was given, and what it said.
    let others = appeal.units.iter().cloned().map(Party::Unit).chain([Party::Cncert]).filter(|p| *p != by.party());
    for party in others {
        let payload = serde_json::json!({
            "title": format!("【用户申诉已答复】{} 的处置申诉由{}答复", appeal.targets_zh(), answerer_zh),
            "lines": [format!("申诉编号：{}", appeal.id), format!("答复内容：{text}"), told.clone()],
        });
        outbox.push(crate::fanout::party_row(OutboxKind::Alert, &party, "to", appeal.id.to_string(), &payload));
    }
    let person = match by {
        Answerer::Cncert { person } => person.clone(),
        Answerer::Unit(u) => u.to_string(),
    };
    let audit = vec![AuditRow {
        actor: person,
        action: "user_appeal.answered",
        subject: appeal.id.to_string(),
        detail: serde_json::json!({ "by": by_code, "delivery": told }),
    }];
    let record = AppealAnswer { by: by_code, text, at: now };
    if !store.answer_user_appeal(id, &record, AppealEffects { obligations: vec![], outbox, audit }).await? {
        return Ok(Answered::AlreadyAnswered);
    }
    Ok(Answered::Done)
}

/// The units whose networks or registries hold the appeal's targets, each once.
fn answerable_units(appeal: &UserAppeal, ownership: &crate::rules::ownership::Ownership) -> Vec<UnitCode> {
    let mut units: Vec<UnitCode> = appeal
        .targets
        .iter()
        .filter_map(|t| match t {
            crate::model::Target::Ip(ip) => ownership.of_ip(*ip),
            crate::model::Target::Domain(d) => ownership.of_domain(d),
        })
        .cloned()
        .collect();
    units.sort();
    units.dedup();
    units
}

/// The appeal as those who answer it read it.
fn particulars(appeal: &UserAppeal) -> Vec<String> {
    let mut lines = vec![
        format!("涉及：{}", appeal.targets_zh()),
        format!("被处置的情况：{}", appeal.disposal),
        format!("申诉理由：{}", appeal.reason),
        format!("申诉人：{}", appeal.name),
    ];
    lines.extend(appeal.email.as_ref().map(|e| format!("电子邮箱：{}", e.as_str())));
    lines.extend(appeal.phone.as_ref().map(|p| format!("电话：{p}")));
    lines
}

/// A mail to the user, straight to their address: they are no party of the registry.
fn user_mail(appeal: &UserAppeal, email: &crate::model::Email, title: &str, lines: Vec<String>) -> OutboxRow {
    OutboxRow {
        id: OutboxId::new(),
        kind: OutboxKind::Alert,
        channel: OutboxChannel::Email,
        recipient: email.as_str().to_string(),
        subject_id: appeal.id.to_string(),
        urgent: true,
        payload: crate::decision::Payload::new(&serde_json::json!({ "recipient_label": appeal.name, "title": title, "lines": lines })),
        role: None,
    }
}
