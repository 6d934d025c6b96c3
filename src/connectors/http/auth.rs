//! Console logins: argon2 password hashes, session cookies signed with the hub's key, CSRF tokens bound to the session, and login rate limits. Only this file names argon2 and hmac.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::IpAddr;
use std::num::NonZeroU32;

/// The shortest password `tongbao users add` takes.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest: hashing cost grows with it, and nobody types more.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// How long a session lasts from login.
pub const SESSION_HOURS: i64 = 12;
/// The session cookie's name.
pub const COOKIE: &str = "tongbao_session";

/// Why a password is refused, in Chinese.
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("密码至少 {MIN_PASSWORD_CHARS} 个字符"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("密码至多 {MAX_PASSWORD_BYTES} 字节"));
    }
    Ok(())
}

/// The argon2id hash of `password` (PHC string with its salt and parameters).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes()).expect("16 bytes make a salt");
    argon2::Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 with default parameters hashes").to_string()
}

/// Whether `password` matches `hash`; a hash that is no PHC string matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    PasswordHash::new(hash).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash to verify against when the user does not exist, so that a wrong name takes as long
/// as a wrong password and the answer tells nobody which names exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("no user has this password"))
}

/// The key that signs session cookies and CSRF tokens: from `TONGBAO_SESSION_KEY` (at least
/// 32 bytes), the same on every instance; otherwise a random one for this process, so sessions
/// end when it stops and work only on the instance that opened them.
#[derive(Clone)]
pub struct SessionKey(Vec<u8>);

impl SessionKey {
    pub const ENV: &'static str = "TONGBAO_SESSION_KEY";

    pub fn from_env() -> SessionKey {
        match std::env::var(Self::ENV) {
            Ok(k) if k.len() >= 32 => SessionKey(k.into_bytes()),
            Ok(_) => {
                tracing::warn!(variable = Self::ENV, "session key shorter than 32 bytes; using a random key for this process");
                SessionKey::random()
            }
            Err(_) => {
                tracing::info!(variable = Self::ENV, "no session key set; console sessions last while this process runs");
                SessionKey::random()
            }
        }
    }

    pub fn random() -> SessionKey {
        let mut key = Vec::with_capacity(64);
        for _ in 0..4 {
            key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        }
        SessionKey(key)
    }

    fn mac(&self, purpose: &str, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A new session: the cookie value (id and signature) and the hash of the id the store keeps.
    pub fn new_session(&self) -> (String, String) {
        let id = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let cookie = format!("{id}.{}", self.mac("session", &id));
        (cookie, session_hash(&id))
    }

    /// The stored hash of the session a cookie value names, when its signature is this key's.
    pub fn open(&self, cookie: &str) -> Option<String> {
        let (id, sig) = cookie.split_once('.')?;
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        constant_time_eq(self.mac("session", id).as_bytes(), sig.as_bytes()).then(|| session_hash(id))
    }

    /// The CSRF token of a session (by its stored hash): every form of the session carries it.
    pub fn csrf(&self, session_hash: &str) -> String {
        self.mac("csrf", session_hash)
    }

    /// Whether `token` is the CSRF token of the session.
    pub fn csrf_ok(&self, session_hash: &str, token: &str) -> bool {
        constant_time_eq(self.csrf(session_hash).as_bytes(), token.as_bytes())
    }
}

fn session_hash(id: &str) -> String {
    crate::model::submission::sha256_hex(id.as_bytes())
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    constant_time_eq(a, b)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Login attempts allowed: per account from one client address, per client address over all
/// accounts, and per account over all addresses (looser), each a burst then a steady rate. A
/// stranger guessing at an account from their address is throttled there, while the account's
/// owner still logs in from their own.
pub struct LoginLimits {
    per_account_and_address: governor::DefaultKeyedRateLimiter<(String, IpAddr)>,
    per_account: governor::DefaultKeyedRateLimiter<String>,
    per_address: governor::DefaultKeyedRateLimiter<IpAddr>,
    attempts: std::sync::atomic::AtomicU64,
    /// Where each account last logged in with its password, and when: an attack spread over
    /// many addresses exhausts the account's limit over all addresses, and the owner's own
    /// address is then let past that one limit (its own per-address limits still hold).
    known: std::sync::Mutex<std::collections::HashMap<(String, IpAddr), std::time::Instant>>,
}

/// How long an address an account logged in from stays its owner's.
const KNOWN_FOR: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);
/// Account and address pairs remembered at most; the oldest go first.
const KNOWN_AT_MOST: usize = 100_000;

/// Attempts at one account from one address: 5 at once, then one every 12 s (5 a minute).
const ACCOUNT_PER_MINUTE: u32 = 5;
/// Attempts at one account from all addresses together: it takes a guesser this many
/// addresses' worth of attempts to hold an account's owner out.
const ACCOUNT_ANY_ADDRESS_PER_MINUTE: u32 = 30;
/// Attempts from one address over all accounts: 20 at once, then 20 a minute.
const ADDRESS_PER_MINUTE: u32 = 20;

impl Default for LoginLimits {
    fn default() -> Self {
        let quota = |n: u32| governor::Quota::per_minute(NonZeroU32::new(n).expect("non-zero"));
        LoginLimits {
            per_account_and_address: governor::RateLimiter::keyed(quota(ACCOUNT_PER_MINUTE)),
            per_account: governor::RateLimiter::keyed(quota(ACCOUNT_ANY_ADDRESS_PER_MINUTE)),
            per_address: governor::RateLimiter::keyed(quota(ADDRESS_PER_MINUTE)),
            attempts: Default::default(),
            known: Default::default(),
        }
    }
}

/// Attempts between two sweeps of the limiters' idle keys, so that keys never grow without bound.
const SWEEP_EVERY: u64 = 1024;

impl LoginLimits {
    /// Counts an attempt; `false` when the address, the account from this address, or the
    /// account from everywhere has used up its attempts. Each is asked in that order and one
    /// over its limit counts nothing in those after it, so that nobody locks an account out from
    /// one address. An account is keyed by its name only when it is a valid user name (otherwise
    /// all such attempts share one key), and an IPv6 address by its /64, which one host can hold
    /// whole.
    pub fn allow(&self, account: &str, address: IpAddr) -> bool {
        if self.attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.per_account_and_address.retain_recent();
            self.per_account.retain_recent();
            self.per_address.retain_recent();
        }
        let address = host_of(address);
        if self.per_address.check_key(&address).is_err() {
            return false;
        }
        let key = account_key(account);
        if self.per_account_and_address.check_key(&(key.clone(), address)).is_err() {
            return false;
        }
        // The owner's own address: whatever strangers elsewhere spent of the account's limit.
        if self.is_known(&key, address) {
            return true;
        }
        self.per_account.check_key(&key).is_ok()
    }

    /// Remembers that `account` logged in with its password from `address`.
    pub fn succeeded(&self, account: &str, address: IpAddr) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= KNOWN_AT_MOST {
            known.retain(|_, at| at.elapsed() < KNOWN_FOR);
            if known.len() >= KNOWN_AT_MOST
                && let Some(oldest) = known.iter().min_by_key(|(_, at)| **at).map(|(k, _)| k.clone())
            {
                known.remove(&oldest);
            }
        }
        known.insert((account_key(account), host_of(address)), std::time::Instant::now());
    }

    /// Whether `account` logged in with its password from `address` lately: its login then
    /// takes a password-checking lane of its own, which strangers' guesses cannot fill.
    pub fn knows(&self, account: &str, address: IpAddr) -> bool {
        self.is_known(&account_key(account), host_of(address))
    }

    fn is_known(&self, key: &str, address: IpAddr) -> bool {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.get(&(key.to_string(), address)).is_some_and(|at| at.elapsed() < KNOWN_FOR)
    }
}

/// An account as counted: its name when it is a valid user name, otherwise one shared key.
fn account_key(account: &str) -> String {
    account.parse::<crate::model::UserName>().map_or_else(|_| String::from("\0not a user name"), |n| n.as_str().to_string())
}

/// A client address as counted: an IPv6 address by its /64, which one host can hold whole.
fn host_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(std::net::Ipv6Addr::from(segments))
        }
        IpAddr::V6(v6) => IpAddr::V4(v6.to_ipv4_mapped().expect("checked")),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let h = hash_password("correct horse battery");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("anything", "not a hash"));
        assert_ne!(hash_password("correct horse battery"), h, "salted");
    }

    #[test]
    fn a_cookie_opens_only_with_its_own_signature_and_key() {
        let key = SessionKey::random();
        let (cookie, hash) = key.new_session();
        assert_eq!(key.open(&cookie).as_deref(), Some(hash.as_str()));
        let (id, sig) = cookie.split_once('.').unwrap();
        let mut forged = sig.to_string();
        forged.replace_range(0..1, if &sig[0..1] == "0" { "1" } else { "0" });
        assert_eq!(key.open(&format!("{id}.{forged}")), None);
        assert_eq!(SessionKey::random().open(&cookie), None, "another key");
        assert_eq!(key.open(id), None);
        assert_eq!(key.open(""), None);
        assert!(key.csrf_ok(&hash, &key.csrf(&hash)));
        assert!(!key.csrf_ok(&hash, &key.csrf("other")));
        assert!(!key.csrf_ok(&hash, ""));
    }

    #[test]
    fn logins_are_limited_per_account_and_per_address() {
        let limits = LoginLimits::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let allowed = (0..10).filter(|_| limits.allow("zhang", a)).count();
        assert_eq!(allowed, ACCOUNT_PER_MINUTE as usize);
        assert!(!limits.allow("ZHANG", a), "the account is limited from that address");
        assert!(limits.allow("zhang", b), "its owner still logs in from another address");
        assert!(limits.allow("li", b));
        // From many addresses at once the account is held at its looser limit over all of them.
        let owner: IpAddr = "203.0.113.50".parse().unwrap();
        limits.succeeded("zhao", owner);
        let spread = (0..100u8).filter(|i| limits.allow("zhao", IpAddr::from([198, 51, 100, *i]))).count();
        assert_eq!(spread, ACCOUNT_ANY_ADDRESS_PER_MINUTE as usize);
        assert!(!limits.allow("zhao", "203.0.113.51".parse().unwrap()), "a new address waits while the account is attacked");
        assert!(limits.allow("zhao", owner), "the address its owner logged in from is not held out by strangers");
        assert!(limits.knows("ZHAO", owner) && !limits.knows("zhao", "203.0.113.51".parse().unwrap()), "and it has its own lane");
        let more = (0..40).filter(|i| limits.allow(&format!("u{i}"), a)).count();
        assert!(more < ADDRESS_PER_MINUTE as usize, "the address is limited over all accounts: {more}");
        assert!(limits.allow("wang", b), "an address over its limit counted nothing against other accounts");

        // One IPv6 host holds a whole /64: its addresses count as one.
        let limits = LoginLimits::default();
        let spread = (0..30).filter(|i| limits.allow(&format!("v{i}"), format!("2001:db8::{i:x}").parse().unwrap())).count();
        assert_eq!(spread, ADDRESS_PER_MINUTE as usize);
        assert!(limits.allow("v99", "2001:db8:0:1::1".parse().unwrap()), "another /64");
        // Names that are no user names share one key, so they cannot fill the limiter.
        let junk = (0..10).filter(|i| limits.allow(&format!("{}{i}", "x".repeat(100)), "192.0.2.9".parse().unwrap())).count();
        assert_eq!(junk, ACCOUNT_PER_MINUTE as usize);
    }

    #[test]
    fn passwords_too_short_or_long_are_refused() {
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
        assert!(check_password("ten chars!").is_ok());
    }
}
