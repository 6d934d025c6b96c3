//! What both backends read and write alike: packed bot sets, sender identities, a decision's reports in order, once-per-key obligations, when an outbox row was queued.

use super::StoreError;
use crate::decision::Decision;
use crate::model::submission::Sender;
use crate::model::{Obligation, OutboxId};

pub(super) fn corrupt(place: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { place: place.to_string(), detail: detail.to_string() }
}

pub(super) fn pack_v4(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}

pub(super) fn pack_v6(v: &[u128]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}

pub(super) fn unpack_v4(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4).map(|c| u32::from_be_bytes(c.try_into().expect("4 bytes"))).collect()
}

pub(super) fn unpack_v6(b: &[u8]) -> Vec<u128> {
    b.chunks_exact(16).map(|c| u128::from_be_bytes(c.try_into().expect("16 bytes"))).collect()
}

/// The identities a contact's mail address is registered under: itself, lower-cased, and its
/// folded mailbox (`Soc+GD@x.cn` is `soc@x.cn`'s), so that another unit cannot claim the same
/// mailbox in another spelling and mail from either spelling is the unit's.
pub(super) fn mail_idents(e: &crate::model::Email) -> Vec<String> {
    let exact = format!("email:{}", e.as_str().to_lowercase());
    let folded = format!("email:{}", crate::model::appeal::fold_mailbox(e.as_str()));
    if folded == exact { vec![exact] } else { vec![exact, folded] }
}

pub(super) fn sender_ident(s: &Sender) -> Option<String> {
    match s {
        Sender::Unit(_) => None,
        Sender::AmqpUser(u) => Some(format!("amqp:{u}")),
        Sender::Email(e) => Some(format!("email:{}", e.as_str().to_lowercase())),
    }
}

/// A decision's reports with their place in the submission, and the submission.
pub(super) fn reports_of(d: &Decision) -> impl Iterator<Item = (usize, &crate::model::Report, &crate::model::Submission)> {
    d.reports.iter().enumerate().map(move |(seq, r)| (seq, r, &d.submission))
}

/// Once-per-period obligations (keyed) recur in most decisions of a batch: each is inserted once.
#[derive(Default)]
pub(super) struct OncePerKey<'a>(std::collections::HashSet<&'a str>);

impl<'a> OncePerKey<'a> {
    pub(super) fn first(&mut self, o: &'a Obligation) -> bool {
        o.key.as_deref().is_none_or(|k| self.0.insert(k))
    }
}

/// When an outbox row was queued, in ms: its id is a UUIDv7 minted by the clock at that moment.
pub(super) fn queued_ms(id: OutboxId) -> Option<i64> {
    let (secs, nanos) = id.as_uuid().get_timestamp()?.to_unix();
    Some(i64::try_from(secs).ok()?.saturating_mul(1000) + i64::from(nanos / 1_000_000))
}

/// Tallies, most first, then by key.
pub(super) fn ranked(counts: std::collections::BTreeMap<String, u64>) -> Vec<crate::store::jobs::Tally> {
    let mut out: Vec<crate::store::jobs::Tally> = counts.into_iter().map(|(key, count)| crate::store::jobs::Tally { key, count }).collect();
    out.sort_by(|x, y| y.count.cmp(&x.count).then_with(|| x.key.cmp(&y.key)));
    out
}

/// A value every backend decodes from its rows: text, and 64-bit counts (maybe NULL).
pub(super) trait Tallied<R: sqlx::Row>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database> {}
impl<R: sqlx::Row, T> Tallied<R> for T where T: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database> {}

/// Adds up the digest's pass over a month's reports (`kind, sev, category, unit_code,
/// provinces, n, disposed, undisposed`, grouped finer than the digest needs) into `facts`.
pub(super) fn add_report_tallies<R>(rows: Vec<R>, facts: &mut crate::store::jobs::MonthFacts) -> Result<(), StoreError>
where
    R: sqlx::Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: Tallied<R>,
    i64: Tallied<R>,
    Option<i64>: Tallied<R>,
{
    use std::collections::BTreeMap;
    let mut by_kind_severity: BTreeMap<(String, String), u64> = BTreeMap::new();
    let (mut by_category, mut by_unit, mut by_provinces) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for r in rows {
        let kind: String = r.try_get("kind")?;
        let n = r.try_get::<i64, _>("n")? as u64;
        facts.targets_disposed += r.try_get::<Option<i64>, _>("disposed")?.unwrap_or(0) as u64;
        facts.targets_undisposed += r.try_get::<Option<i64>, _>("undisposed")?.unwrap_or(0) as u64;
        if matches!(kind.as_str(), "event" | "warning" | "botnet_event") {
            *by_category.entry(r.try_get::<String, _>("category")?).or_insert(0) += n;
            *by_unit.entry(r.try_get::<String, _>("unit_code")?).or_insert(0) += n;
            *by_provinces.entry(r.try_get::<String, _>("provinces")?).or_insert(0) += n;
        }
        *by_kind_severity.entry((kind, r.try_get::<String, _>("sev")?)).or_insert(0) += n;
    }
    facts.by_kind_severity = by_kind_severity.into_iter().map(|((k, s), n)| (k, s, n)).collect();
    facts.by_category = ranked(by_category);
    facts.by_unit = ranked(by_unit);
    facts.by_provinces = ranked(by_provinces);
    Ok(())
}

/// Adds up the digest's pass over obligations (`actor, duty, status, due_n, disposal_n`).
pub(super) fn add_obligation_tallies<R>(rows: Vec<R>, facts: &mut crate::store::jobs::MonthFacts) -> Result<(), StoreError>
where
    R: sqlx::Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: Tallied<R>,
    i64: Tallied<R>,
{
    let mut disposal: std::collections::BTreeMap<String, u64> = Default::default();
    for r in rows {
        let (actor, duty, status): (String, String, String) = (r.try_get("actor")?, r.try_get("duty")?, r.try_get("status")?);
        let disposal_n = r.try_get::<i64, _>("disposal_n")? as u64;
        if disposal_n > 0 {
            *disposal.entry(status.clone()).or_insert(0) += disposal_n;
        }
        let due_n = r.try_get::<i64, _>("due_n")? as u64;
        if due_n > 0 {
            facts.obligations.push((actor, duty, status, due_n));
        }
    }
    facts.disposal = disposal.into_iter().map(|(key, count)| crate::store::jobs::Tally { key, count }).collect();
    Ok(())
}

/// The stored text of the payload the last outbox rows share, made once for each role.
#[derive(Default)]
pub(super) struct PayloadTexts {
    current: Option<(crate::decision::Payload, Vec<(Option<&'static str>, std::sync::Arc<str>)>)>,
}

impl PayloadTexts {
    pub(super) fn of(&mut self, o: &crate::decision::OutboxRow) -> std::sync::Arc<str> {
        if o.role.is_none() {
            return o.payload_text();
        }
        if !self.current.as_ref().is_some_and(|(p, _)| p.same(&o.payload)) {
            self.current = Some((o.payload.clone(), Vec::new()));
        }
        let Some((_, texts)) = self.current.as_mut() else { unreachable!("set above") };
        if let Some((_, text)) = texts.iter().find(|(role, _)| *role == o.role) {
            return std::sync::Arc::clone(text);
        }
        let text = o.payload_text();
        texts.push((o.role, std::sync::Arc::clone(&text)));
        text
    }
}

/// What a delivered row's payload says it performs: its `performs` (one object, or a list of
/// them), and its items' when it is a batch.
pub(super) fn performed(payload: &serde_json::Value) -> Vec<serde_json::Value> {
    fn add(v: Option<&serde_json::Value>, out: &mut Vec<serde_json::Value>) {
        match v {
            Some(serde_json::Value::Array(list)) => out.extend(list.iter().cloned()),
            Some(one) => out.push(one.clone()),
            None => {}
        }
    }
    let mut out = Vec::new();
    add(payload.get("performs"), &mut out);
    for item in payload.get("items").and_then(|i| i.as_array()).into_iter().flatten() {
        add(item.pointer("/payload/performs"), &mut out);
    }
    out
}

/// The monthly digest's duty (Art. 19¶2 [通报办法]) is met when the last of its recipients has
/// it: `$1` the delivery time, `$2` the duty's key, `$3` the digest's outbox subject. Every row
/// that carries `{"performs": {"digest_month": …}}` (CSB's, the bureaus', each unit's; not CNCERT's
/// own copy) must be sent, or expanded into rows that are.
pub(super) const DIGEST_MET: &str = "UPDATE obligations SET status = CASE WHEN due_at >= $1 OR (provisional = TRUE AND status = 'open') THEN 'met' ELSE 'late' END, \
     next_alert_at = NULL, met_at = $1 WHERE okey = $2 AND status IN ('open', 'missed') \
     AND NOT EXISTS (SELECT 1 FROM outbox WHERE subject_id = $3 AND kind = 'digest' AND status NOT IN ('sent', 'expanded') \
     AND PERFORMS_DIGEST)";
