//! Configuration: `tongbao.toml` and one file per connector under `connectors/`, validated by `tongbao check`.
//!
//! The doc comments on these structs are the user documentation of each setting.

use crate::rules::{Calendar, Policy};
use serde::Deserialize;
use std::path::{Path, PathBuf};

use crate::rules::MIN_RETENTION_DAYS;

/// `tongbao.toml`. Relative paths are taken from the directory the hub runs in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub store: StoreConfig,
    pub retention: Retention,
    pub calendar: CalendarConfig,
    /// Tunable rule settings (botnet window, reminder lead times, thresholds).
    pub rules: Policy,
    pub serve: ServeConfig,
    /// Who answers for botnet IP prefixes and domains (`[ownership] file`).
    pub ownership: OwnershipConfig,
    /// Cron expressions of the scheduler's jobs (Beijing time).
    pub schedule: crate::schedule::ScheduleConfig,
    /// Folder holding one `*.toml` file per connector instance.
    pub connectors_dir: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            store: StoreConfig::default(),
            retention: Retention::default(),
            calendar: CalendarConfig::default(),
            rules: Policy::default(),
            serve: ServeConfig::default(),
            schedule: crate::schedule::ScheduleConfig::default(),
            ownership: OwnershipConfig::default(),
            connectors_dir: PathBuf::from("connectors"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite` (embedded, the default: one instance) or `postgres` (several instances on one
    /// database).
    pub backend: String,
    /// The SQLite database file; created with its folder when missing.
    pub path: PathBuf,
    /// The environment variable holding the PostgreSQL URL (`postgres://user:password@host/db`),
    /// so the password stays out of the file.
    pub url_env: String,
    /// Connections this instance may hold to PostgreSQL.
    pub pool: u32,
    /// Seconds an instance on PostgreSQL holds the outbox rows it claimed for sending, and any
    /// instance the IMAP mailbox it reads; when it dies, another sends those rows (under the
    /// same message id) and reads that mailbox once this has passed.
    pub lease_seconds: u64,
    /// When a commit is on disk. `full` (the default): before intake acknowledges, so an
    /// acknowledged submission survives power loss. `normal`: faster, but the last commits
    /// before an OS crash or power cut can be lost after their senders were told they were
    /// stored; `tongbao check` warns about it.
    pub synchronous: crate::store::Synchronous,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: "sqlite".into(),
            path: PathBuf::from("data/tongbao.db"),
            url_env: "TONGBAO_DATABASE_URL".into(),
            pool: 8,
            lease_seconds: 120,
            synchronous: Default::default(),
        }
    }
}

impl StoreConfig {
    /// Where the store is, with the PostgreSQL URL read from the environment; why not, when the
    /// backend is unknown or its URL missing.
    pub fn location(&self) -> Result<crate::store::Location, String> {
        match self.backend.as_str() {
            "sqlite" => Ok(crate::store::Location::Sqlite { path: self.path.clone(), synchronous: self.synchronous }),
            "postgres" => match std::env::var(&self.url_env) {
                Ok(url) if !url.trim().is_empty() => Ok(crate::store::Location::Postgres(crate::store::PgLocation {
                    url: url.trim().to_string(),
                    pool: self.pool.max(2),
                    lease: std::time::Duration::from_secs(self.lease_seconds.max(1)),
                })),
                _ => Err(format!(
                    "[store] backend = \"postgres\" needs the database URL in the environment variable {} (url_env), e.g. \
                     postgres://tongbao:PASSWORD@db.example:5432/tongbao; it is not set",
                    self.url_env
                )),
            },
            other => Err(format!("[store] backend = {other:?}: expected \"sqlite\" or \"postgres\"")),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Days raw submissions and everything derived are kept; at least 60.
    pub days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { days: 180 }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalendarConfig {
    /// Working-day data file; when unset, `calendars/china.toml` in the hub's folder if there is
    /// one, and the years built into the binary in any case (the file's win).
    pub file: Option<PathBuf>,
}

/// Where `tongbao calendar import` writes, and the loader looks, when `[calendar] file` is unset.
pub const DEFAULT_CALENDAR_FILE: &str = "calendars/china.toml";

impl CalendarConfig {
    /// The file `calendar import` writes the State Council's new year into.
    pub fn file_to_write(&self) -> PathBuf {
        self.file.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_CALENDAR_FILE))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OwnershipConfig {
    /// TOML file mapping IP prefixes to operators and domain suffixes to registries or
    /// registrars (see `ownership.toml.example`). Unset: botnet events notify nobody
    /// automatically, and CNCERT staff notify by hand.
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Address of the HTTP listener (upload API and page); `127.0.0.1:0` picks a free port.
    pub listen: String,
    /// The largest upload accepted, in MiB; larger ones get 413.
    pub max_upload_mb: usize,
    /// Upload bytes held at once across all requests, in MiB; beyond it the answer is 503 with
    /// Retry-After, not growth.
    pub max_upload_memory_mb: usize,
    /// Connections served at once; more are answered 503 on arrival.
    pub max_connections: usize,
    /// Connections one client address may hold at once.
    pub max_connections_per_address: usize,
    /// Seconds a client has to send a request's headers (slow-loris), and its body.
    pub header_timeout_seconds: u64,
    pub body_timeout_seconds: u64,
    /// The reverse proxies in front of the hub (addresses or networks, `10.0.0.0/8`): a request
    /// from one of them is counted against the client its `X-Forwarded-For` names.
    pub trusted_proxies: Vec<String>,
    /// Where users reach the hub (`https://tongbao.example.cn`), for links in the mails the hub
    /// sends them (an appeal's confirmation). Without it the mail gives the page's path only.
    pub public_url: Option<String>,
}

impl ServeConfig {
    /// `trusted_proxies` read, or what is wrong with one of them.
    pub fn proxies(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("[serve] trusted_proxies: {p:?} is neither an address nor a network such as 10.0.0.0/8"))
            })
            .collect()
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: "127.0.0.1:8080".into(),
            max_upload_mb: 64,
            max_upload_memory_mb: 256,
            max_connections: 512,
            max_connections_per_address: 64,
            header_timeout_seconds: 10,
            body_timeout_seconds: 300,
            trusted_proxies: Vec::new(),
            public_url: None,
        }
    }
}

/// One connector instance, from `connectors/NAME.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ConnectorConfig {
    /// Reads `*.json` report files dropped into `<path>/<UNIT CODE>/`; moves each to
    /// `processed/` (or `rejected/`) beside it after its submission is committed.
    FolderSource {
        path: PathBuf,
        /// Seconds between scans.
        #[serde(default = "default_poll_seconds")]
        poll_seconds: u64,
    },
    /// Consumes report messages from RabbitMQ.
    AmqpSource {
        /// Name of the environment variable holding the AMQP URL (secrets stay out of files).
        url_env: String,
        queue: String,
        #[serde(default = "default_prefetch")]
        prefetch: u16,
    },
    /// Publishes notices to a topic exchange.
    AmqpSink {
        url_env: String,
        #[serde(default = "default_exchange")]
        exchange: String,
    },
    /// Reads e-mailed forms from an IMAP mailbox; IDLE where offered, else polling.
    ImapSource {
        host: String,
        port: u16,
        /// `tls` (993), `starttls` (143), or `plain` (loopback only).
        security: ImapSecurity,
        user_env: String,
        password_env: String,
        #[serde(default = "default_mailbox")]
        mailbox: String,
        #[serde(flatten)]
        mail: MailSourceSettings,
    },
    /// Reads e-mailed forms from a local Maildir (what Postfix delivers, what Dovecot serves).
    MaildirSource {
        path: PathBuf,
        #[serde(flatten)]
        mail: MailSourceSettings,
    },
    /// Sends receipts and notices through an SMTP server (lettre, pooled).
    SmtpSink {
        /// Name of the environment variable holding the SMTP URL: `smtp://host:25`,
        /// `smtp://user:pass@host:587?tls=required`, `smtps://user:pass@host:465`.
        url_env: String,
        /// The From of every mail, e.g. `通报中心 <tongbao@cncert.example.cn>`.
        from: String,
        #[serde(default = "default_smtp_concurrency")]
        concurrency: usize,
        /// Deadline for one message's whole SMTP conversation.
        #[serde(default = "default_smtp_timeout")]
        timeout_seconds: u64,
    },
}

/// Settings shared by the mail sources.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSourceSettings {
    #[serde(default = "default_processed")]
    pub processed_folder: String,
    #[serde(default = "default_quarantine")]
    pub quarantine_folder: String,
    /// Accept mail only with `Authentication-Results: … dkim=pass` (set by the receiving MTA).
    #[serde(default)]
    pub require_dkim: bool,
    /// Seconds between looks at the mailbox when it cannot push news (no IDLE, Maildir).
    #[serde(default = "default_mail_poll")]
    pub poll_seconds: u64,
    #[serde(default = "default_max_mail_mb")]
    pub max_mail_mb: usize,
    /// Mails fetched and submitted at once: more is faster, fewer holds less memory
    /// (`max_mail_mb` each at worst).
    #[serde(default = "default_fetch_batch")]
    pub fetch_batch: usize,
    /// What the mailbox receives: units' reports (the default), or users' appeals of a
    /// disposal (Art. 11 [僵尸机制]) at a public appeals address.
    #[serde(default)]
    pub purpose: MailPurpose,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailPurpose {
    #[default]
    Reports,
    UserAppeals,
}

fn default_processed() -> String {
    "Processed".into()
}
fn default_quarantine() -> String {
    "Quarantine".into()
}
fn default_fetch_batch() -> usize {
    64
}
fn default_mail_poll() -> u64 {
    5
}
fn default_max_mail_mb() -> usize {
    64
}
fn default_smtp_concurrency() -> usize {
    4
}
fn default_smtp_timeout() -> u64 {
    120
}

fn default_poll_seconds() -> u64 {
    2
}
fn default_prefetch() -> u16 {
    256
}
fn default_exchange() -> String {
    "tongbao.notices".into()
}
fn default_mailbox() -> String {
    "INBOX".into()
}

impl ConnectorConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectorConfig::FolderSource { .. } => "folder-source",
            ConnectorConfig::AmqpSource { .. } => "amqp-source",
            ConnectorConfig::AmqpSink { .. } => "amqp-sink",
            ConnectorConfig::ImapSource { .. } => "imap-source",
            ConnectorConfig::MaildirSource { .. } => "maildir-source",
            ConnectorConfig::SmtpSink { .. } => "smtp-sink",
        }
    }

    /// The environment variables this connector reads secrets from.
    pub fn env_vars(&self) -> Vec<&str> {
        match self {
            ConnectorConfig::AmqpSource { url_env, .. } | ConnectorConfig::AmqpSink { url_env, .. } => vec![url_env],
            ConnectorConfig::ImapSource { user_env, password_env, .. } => vec![user_env, password_env],
            ConnectorConfig::SmtpSink { url_env, .. } => vec![url_env],
            _ => vec![],
        }
    }
}

#[derive(Debug, Clone)]
pub struct Connector {
    pub name: String,
    pub file: PathBuf,
    pub config: ConnectorConfig,
}

/// A configuration problem, with the file (and line, where TOML knows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

/// Everything loaded from disk, or every problem found on the way.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub calendar: Calendar,
    pub ownership: crate::rules::ownership::Ownership,
    pub connectors: Vec<Connector>,
}

fn toml_problem(file: &Path, text: &str, e: &toml::de::Error) -> Problem {
    let at = e.span().map(|s| {
        let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
        format!("line {line}: ")
    });
    Problem { file: file.to_path_buf(), message: format!("{}{}", at.unwrap_or_default(), e.message()) }
}

/// Loads `tongbao.toml` (defaults when the file does not exist), the calendar and the connectors,
/// collecting every problem rather than stopping at the first.
pub fn load(path: &Path) -> Result<Loaded, Vec<Problem>> {
    let mut problems = Vec::new();
    let config = match std::fs::read_to_string(path) {
        Ok(text) => match toml::from_str::<Config>(&text) {
            Ok(c) => c,
            Err(e) => {
                problems.push(toml_problem(path, &text, &e));
                // Still find the connectors folder, so their problems are reported in the same run.
                let dir = toml::from_str::<toml::Table>(&text).ok().and_then(|t| t.get("connectors_dir")?.as_str().map(PathBuf::from));
                Config { connectors_dir: dir.unwrap_or_else(|| Config::default().connectors_dir), ..Config::default() }
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
        Err(e) => {
            problems.push(Problem { file: path.to_path_buf(), message: format!("cannot read: {e}") });
            Config::default()
        }
    };
    if config.retention.days < MIN_RETENTION_DAYS {
        problems.push(Problem {
            file: path.to_path_buf(),
            message: format!(
                "[retention] days = {} is refused: data must be kept at least {MIN_RETENTION_DAYS} days (Art. 10 of the trojan and botnet mechanism)",
                config.retention.days
            ),
        });
    }
    if let Err(message) = config.store.location() {
        problems.push(Problem { file: path.to_path_buf(), message });
    }
    if let Err(message) = config.serve.proxies() {
        problems.push(Problem { file: path.to_path_buf(), message });
    }
    let t = &config.rules.botnet_thresholds;
    if t.large_total >= t.major_total {
        problems
            .push(Problem { file: path.to_path_buf(), message: "[rules.botnet_thresholds] large_total must be below major_total".into() });
    }
    if config.rules.public_security_unit.as_deref().is_some_and(|c| c.parse::<crate::model::UnitCode>().is_err()) {
        problems.push(Problem {
            file: path.to_path_buf(),
            message:
                "[rules] public_security_unit must be a unit code (the public security liaison registered with `tongbao units import`)"
                    .into(),
        });
    }
    if config.rules.botnet_window_hours == 0 {
        problems.push(Problem { file: path.to_path_buf(), message: "[rules] botnet_window_hours must be at least 1".into() });
    }
    // The built-in years, overlaid by those of the calendar file (the configured one, or
    // calendars/china.toml in the hub's folder when there is one): a binary that ships a newer
    // year is not held back by an older file, and a year imported into the file wins.
    let calendar_file = config.calendar.file.clone().or_else(|| Some(PathBuf::from(DEFAULT_CALENDAR_FILE)).filter(|p| p.exists()));
    let calendar = match &calendar_file {
        None => Calendar::builtin(),
        Some(file) => {
            match std::fs::read_to_string(file).map_err(|e| e.to_string()).and_then(|t| Calendar::from_toml(&t).map_err(|e| e.to_string()))
            {
                Ok(c) => Calendar::builtin().overlaid_by(&c),
                Err(e) => {
                    problems.push(Problem { file: file.clone(), message: e });
                    Calendar::builtin()
                }
            }
        }
    };
    let ownership = match &config.ownership.file {
        None => Default::default(),
        Some(file) => {
            match std::fs::read_to_string(file).map_err(|e| e.to_string()).and_then(|t| crate::rules::ownership::Ownership::from_toml(&t)) {
                Ok(o) => o,
                Err(e) => {
                    problems.push(Problem { file: file.clone(), message: e });
                    Default::default()
                }
            }
        }
    };
    if config.serve.listen.parse::<std::net::SocketAddr>().is_err() {
        problems.push(Problem {
            file: path.to_path_buf(),
            message: format!("[serve] listen = {:?}: expected an address and port such as 127.0.0.1:8080", config.serve.listen),
        });
    }
    for p in config.schedule.problems() {
        problems.push(Problem { file: path.to_path_buf(), message: p });
    }
    if let Err(e) = crate::templates::check() {
        problems.push(Problem { file: PathBuf::from("templates"), message: format!("template error: {e}") });
    }
    let connectors = load_connectors(&config.connectors_dir, &mut problems);
    if problems.is_empty() { Ok(Loaded { config, calendar, ownership, connectors }) } else { Err(problems) }
}

fn load_connectors(dir: &Path, problems: &mut Vec<Problem>) -> Vec<Connector> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return vec![],
        Err(e) => {
            problems.push(Problem { file: dir.to_path_buf(), message: format!("cannot read folder: {e}") });
            return vec![];
        }
    };
    let mut files: Vec<PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let name = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem { file: file.clone(), message: format!("cannot read: {e}") });
                continue;
            }
        };
        match toml::from_str::<ConnectorConfig>(&text) {
            Ok(config) => {
                if let Some(problem) = connector_problem(&config) {
                    problems.push(Problem { file: file.clone(), message: problem });
                }
                out.push(Connector { name, file, config })
            }
            Err(e) => problems.push(toml_problem(&file, &text, &e)),
        }
    }
    out
}

/// How the IMAP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImapSecurity {
    /// TLS from the first byte (port 993).
    Tls,
    /// Plain connect, then STARTTLS before logging in (port 143).
    Starttls,
    /// No TLS: allowed only to a loopback address (checked by `tongbao check` and at connect).
    Plain,
}

/// True for 127.0.0.0/8, ::1 and `localhost`: the only places a password may travel unencrypted.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// What is wrong with a connector that parsed.
fn connector_problem(c: &ConnectorConfig) -> Option<String> {
    match c {
        ConnectorConfig::ImapSource { host, security: ImapSecurity::Plain, .. } if !is_loopback(host) => Some(format!(
            "security = \"plain\" sends the password in clear to {host}: use \"tls\" or \"starttls\" (plain is for loopback only)"
        )),
        ConnectorConfig::SmtpSink { concurrency: 0, .. } => Some("concurrency must be at least 1".into()),
        _ => None,
    }
}

/// Problems that only show at run time but can be seen now: secrets missing from the environment.
pub fn warnings(loaded: &Loaded) -> Vec<String> {
    let mut out = Vec::new();
    if loaded.config.store.synchronous == crate::store::Synchronous::Normal {
        out.push(
            "[store] synchronous = \"normal\": commits are not on disk when senders are told their submissions are stored; \
             after a power cut or OS crash the last of them can be lost. Use \"full\" (the default) in production"
                .to_string(),
        );
    }
    for c in &loaded.connectors {
        for var in c.config.env_vars() {
            if std::env::var_os(var).is_none() {
                out.push(format!(
                    "{}: environment variable {var} is not set; the {} connector will stay idle",
                    c.file.display(),
                    c.config.kind()
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_missing_file_means_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load(&dir.path().join("absent.toml")).unwrap();
        assert_eq!(loaded.config.retention.days, 180);
        assert_eq!(loaded.config.store.path, PathBuf::from("data/tongbao.db"));
    }

    #[test]
    fn short_retention_unknown_keys_and_bad_connectors_are_all_reported() {
        let dir = tempfile::tempdir().unwrap();
        let cdir = dir.path().join("connectors");
        std::fs::create_dir(&cdir).unwrap();
        std::fs::write(cdir.join("bad.toml"), "kind = \"carrier-pigeon\"\n").unwrap();
        std::fs::write(cdir.join("amqp.toml"), "kind = \"amqp-source\"\nqueue = \"q\"\n").unwrap();
        let cfg = dir.path().join("tongbao.toml");
        std::fs::write(&cfg, format!("connectors_dir = {:?}\n[retention]\ndays = 30\n[store]\npaht = \"x\"\n", cdir.display().to_string()))
            .unwrap();
        let problems = load(&cfg).unwrap_err();
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(text.iter().any(|t| t.contains("paht")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("carrier-pigeon")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("url_env")), "{text:?}");

        std::fs::write(&cfg, format!("connectors_dir = {:?}\n[retention]\ndays = 59\n", dir.path().join("none").display().to_string()))
            .unwrap();
        let problems = load(&cfg).unwrap_err();
        assert!(problems[0].message.contains("at least 60 days"), "{problems:?}");
    }

    #[test]
    fn every_example_connector_parses_and_plain_imap_off_loopback_is_refused() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/connectors");
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let c: ConnectorConfig = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(connector_problem(&c), None, "{}", path.display());
        }
        let plain = "kind = \"imap-source\"\nhost = \"mail.example.cn\"\nport = 143\nsecurity = \"plain\"\nuser_env = \"U\"\npassword_env = \"P\"\n";
        let c: ConnectorConfig = toml::from_str(plain).unwrap();
        assert!(connector_problem(&c).unwrap().contains("loopback"));
    }
}
