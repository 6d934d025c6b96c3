//! Submissions: what arrived on one channel, kept whole with its sender and dedupe key.

use super::{Email, SubmissionId, UnitCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Amqp,
    Email,
    Upload,
    Cli,
    /// A report phoned in and recorded by staff (Art. 18 [通报办法]); the written report stays owed.
    Phone,
}

impl Channel {
    pub fn code(self) -> &'static str {
        match self {
            Channel::Amqp => "amqp",
            Channel::Email => "email",
            Channel::Upload => "upload",
            Channel::Cli => "cli",
            Channel::Phone => "phone",
        }
    }
    pub fn parse(s: &str) -> Option<Channel> {
        [Channel::Amqp, Channel::Email, Channel::Upload, Channel::Cli, Channel::Phone].into_iter().find(|c| c.code() == s)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Who the source says sent it; intake authenticates this against the registered units.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "by", content = "id", rename_all = "snake_case")]
pub enum Sender {
    /// Already authenticated by the source as this unit (CLI operator, upload token).
    Unit(UnitCode),
    /// The AMQP `user_id`, checked by the broker against the connection's login.
    AmqpUser(String),
    /// The mail's From address.
    Email(Email),
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sender::Unit(u) => write!(f, "unit:{u}"),
            Sender::AmqpUser(u) => write!(f, "amqp:{u}"),
            Sender::Email(e) => write!(f, "email:{e}"),
        }
    }
}

/// One arrival: raw bytes as received plus what the source knew about them.
#[derive(Debug, Clone)]
pub struct Submission {
    pub id: SubmissionId,
    /// Same input, same key: the store keeps one submission per key (AMQP message_id, else body hash; ...).
    pub dedupe_key: String,
    pub channel: Channel,
    pub sender: Sender,
    /// The source's own id (AMQP message_id, e-mail Message-ID, file name).
    pub external_id: Option<String>,
    /// Where the receipt goes back on the same channel (AMQP reply_to, mail address); none for CLI/HTTP.
    pub reply_to: Option<String>,
    /// Echoed on the receipt so the sender can match it (AMQP correlation_id, mail Message-ID).
    pub correlation_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub raw: Vec<u8>,
}

impl Submission {
    /// A submission whose dedupe key is `<channel>:<sender>:<sha256 of the bytes>`, for sources
    /// that have no id of their own.
    pub fn by_content(channel: Channel, sender: Sender, raw: Vec<u8>, received_at: DateTime<Utc>) -> Submission {
        let dedupe_key = format!("{channel}:{sender}:{}", sha256_hex(&raw));
        Submission {
            id: SubmissionId::new(),
            dedupe_key,
            channel,
            sender,
            external_id: None,
            reply_to: None,
            correlation_id: None,
            received_at,
            raw,
        }
    }
}

/// What a store indexes a dedupe key by: the first 16 bytes of its SHA-256. Keys are long and
/// random (hashes, message ids), so a narrow fixed-width digest keeps their index small. At 128
/// bits, matching the digest of somebody else's key is out of reach (a second preimage); a sender
/// who spends 2^64 work on two colliding keys of its own only gets its second submission refused
/// by the unique index. Stores read the key back and compare it, so a collision is never taken
/// for a duplicate.
pub fn dedupe_digest(key: &str) -> [u8; 16] {
    let full = Sha256::digest(key.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
