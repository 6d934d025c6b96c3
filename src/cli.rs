//! The command line: argument definitions and the commands behind them (serve, check, units, ingest, reports, deadline, calendar…).

use crate::config::{self, Loaded};
use crate::intake::Intake;
use crate::model::receipt::ObligationSummary;
use crate::model::submission::Sender;
use crate::model::{
    Channel, Grade, Obligation, ObligationStatus, Outcome, Party, Province, Receipt, Region, ReportId, ReportKind, Submission, Unit,
    UnitCode, UnitType, WarningLevel, YearMonth,
};
use crate::rules::Calendar;
use crate::rules::calendar::local_display;
use crate::rules::obligations::{self, ReportFacts, Reporter};
use crate::serve::App;
use crate::store::{ObligationFilter, ReportFilter, Store};
use anyhow::{Context as _, bail};
use chrono::{Datelike, NaiveDate};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(name = "tongbao", version, about = "Hub for network-security information reporting (通报)")]
pub struct Cli {
    /// Configuration file; defaults apply when it does not exist.
    #[arg(long, global = true, default_value = "tongbao.toml", env = "TONGBAO_CONFIG")]
    pub config: PathBuf,
    /// Print machine-readable JSON (times as RFC 3339 instants).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub: intake, connectors, until Ctrl-C or SIGTERM.
    Serve,
    /// Validate tongbao.toml and connectors/*.toml; exit non-zero on any problem.
    Check,
    /// Registered reporting units.
    #[command(subcommand)]
    Units(UnitsCmd),
    /// Submit report files as a unit: canonical JSON (one report or an array), or filled forms
    /// (xlsx, xlsm, xls, ods, csv).
    Ingest(IngestArgs),
    /// Stored reports.
    #[command(subcommand)]
    Reports(ReportsCmd),
    /// Obligations (who must do what by when).
    Obligations(ObligationsArgs),
    /// The obligations a report of this kind would create.
    Deadline(DeadlineArgs),
    /// Working-day calendar.
    #[command(subcommand)]
    Calendar(CalendarCmd),
    /// Write the JSON Schemas of the canonical types.
    Schemas {
        #[arg(long, default_value = "schemas")]
        out: PathBuf,
        /// Only check that the files are up to date; exit 1 if not.
        #[arg(long)]
        check: bool,
    },
    /// Blank spreadsheet forms for units to fill.
    #[command(subcommand)]
    Forms(FormsCmd),
    /// Measure throughput; see BENCHMARKS.md.
    #[command(subcommand)]
    Bench(crate::bench::BenchCmd),
    /// The monthly digest (Art. 19–20): print it, write its workbook, or send it now.
    Digest(DigestArgs),
    /// What waits in the outbox or did not go out, by channel (email, amqp, party) and status.
    Outbox,
    /// Users' appeals of a disposal (Art. 11 [僵尸机制]): list them, or answer one as CNCERT.
    #[command(subcommand)]
    Appeals(AppealsCmd),
    /// People who log in to the web console, and their roles.
    #[command(subcommand)]
    Users(UsersCmd),
}

#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    /// Adds a console user; the password is read from standard input (one line), or asked for
    /// twice without echo when standard input is a terminal.
    Add {
        name: String,
        /// cncert, csb, bureau:GD (a province's bureau) or unit:CT-GD (a registered unit).
        #[arg(long)]
        role: String,
        /// Replace the user of that name (new role and password; their sessions end).
        #[arg(long)]
        replace: bool,
    },
    List,
    /// Removes a user; their sessions end at once.
    Remove {
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AppealsCmd {
    /// Appeals newest first: unanswered ones, or all with --all.
    List {
        #[arg(long)]
        all: bool,
        /// Only those routed to this unit.
        #[arg(long)]
        unit: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Answers an appeal as CNCERT: the user is mailed the answer and every duty to answer it closes.
    Answer {
        id: String,
        /// Who answers (recorded in the audit trail).
        #[arg(long)]
        by: String,
        /// The answer the user receives.
        #[arg(long)]
        text: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct DigestArgs {
    /// The month, YYYY-MM.
    #[arg(long)]
    pub month: String,
    /// Write the xlsx workbook (with native charts) here.
    #[arg(short = 'o', long)]
    pub out: Option<PathBuf>,
    /// Queue it to CSB and all bureaus (once per month: a second --send sends nothing).
    #[arg(long)]
    pub send: bool,
}

#[derive(Debug, Subcommand)]
pub enum FormsCmd {
    /// Write the blank xlsx form of KIND (event, warning, botnet_event, disposal_feedback,
    /// verification, monthly_general, contact_update), or of every kind with `all` into a folder.
    Generate {
        kind: String,
        #[arg(short, long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum UnitsCmd {
    /// Insert or update units from a TOML (`[[units]]`) or JSON (array) file.
    Import {
        file: PathBuf,
    },
    List,
    /// Upload tokens.
    #[command(subcommand)]
    Token(TokenCmd),
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Issue a new upload token for a unit; it is printed once and stored only as a hash.
    Issue { unit: String },
    /// Revoke a unit's upload tokens (all of them, or the one given), at once: the next request
    /// with a revoked token is refused.
    Revoke {
        unit: String,
        /// Only this token (as issued); without it, every token of the unit.
        #[arg(long)]
        token: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The unit submitting.
    #[arg(long)]
    pub unit: String,
    /// `phone` records a report phoned in by the unit (the written report stays owed).
    #[arg(long, default_value = "cli", value_parser = ["cli", "phone"])]
    pub channel: String,
}

#[derive(Debug, Subcommand)]
pub enum ReportsCmd {
    List {
        #[arg(long)]
        unit: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    Show {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ObligationsAction {
    /// Marks a duty of CNCERT's done by a person (a verification, a notice sent by other means),
    /// audited with who and when; met, or late past its due time.
    Done {
        id: String,
        /// Who did it (recorded in the audit trail).
        #[arg(long)]
        by: String,
        /// What was done, for the audit trail.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Grants a unit's appeal of its own 迟报 or 漏报 (which only CNCERT decides): the duty is
    /// owed again under its own rule from now, and the unit is told; lodged as CNCERT's appeal.
    Grant {
        id: String,
        /// Who at CNCERT decided (recorded with the appeal).
        #[arg(long)]
        by: String,
        /// Why, for the unit and the audit trail.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ObligationsArgs {
    #[command(subcommand)]
    pub action: Option<ObligationsAction>,
    /// Only open ones.
    #[arg(long)]
    pub open: bool,
    /// Only open ones past their due time.
    #[arg(long)]
    pub overdue: bool,
    #[arg(long)]
    pub report: Option<String>,
    #[arg(long, default_value_t = 200)]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct DeadlineArgs {
    #[arg(long)]
    pub kind: String,
    #[arg(long, conflicts_with = "level")]
    pub grade: Option<String>,
    #[arg(long)]
    pub level: Option<String>,
    /// When it was discovered (RFC 3339, or Beijing time `2026-09-23 10:00`).
    #[arg(long)]
    pub discovered: String,
    #[arg(long)]
    pub cross_province: bool,
    /// The province affected (decides which bureau).
    #[arg(long)]
    pub province: Option<String>,
    /// The reporting unit's type.
    #[arg(long, default_value = "cross_province_vas")]
    pub unit_type: String,
}

#[derive(Debug, Subcommand)]
pub enum CalendarCmd {
    /// Exit 0 and print `yes` for a working day, exit 1 and print `no` otherwise.
    IsWorkday { date: NaiveDate },
    /// The N-th working day strictly after DATE.
    AddWorkdays { date: NaiveDate, n: u32 },
    /// The N-th working day of a month (YYYY-MM).
    NthWorkday { month: String, n: u32 },
    /// Recompute provisional deadlines now that the calendar may have the year's data.
    Recompute,
    /// Read the State Council's holiday notice (国务院办公厅关于YYYY年部分节假日安排的通知, its
    /// text as published, UTF-8 or GBK), show what changes, write the year into the calendar
    /// file, and recompute the provisional deadlines it settles.
    Import {
        /// The notice's text.
        file: PathBuf,
        /// The year, when the text has no title naming it.
        #[arg(long)]
        year: Option<i32>,
        /// Show what would change, and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Check => check(&cli.config, cli.json),
        Command::Calendar(cmd) => calendar(&cli.config, cmd, cli.json).await,
        Command::Deadline(args) => deadline(&cli.config, args, cli.json),
        Command::Schemas { out, check } => {
            if check {
                let drift = crate::schemas::drift(&out);
                for name in &drift {
                    eprintln!("{} is out of date; run `tongbao schemas --out {}`", out.join(name).display(), out.display());
                }
                Ok(if drift.is_empty() { 0 } else { 1 })
            } else {
                crate::schemas::write(&out)?;
                println!("wrote {} schemas into {}", crate::schemas::all().len(), out.display());
                Ok(0)
            }
        }
        Command::Bench(cmd) => crate::bench::run(cmd, cli.json).await,
        Command::Forms(FormsCmd::Generate { kind, out }) => generate_forms(&kind, &out),
        Command::Serve => crate::serve::run(load(&cli.config)?).await,
        Command::Units(cmd) => units(open(&cli.config).await?, cmd, cli.json).await,
        Command::Ingest(args) => ingest(open(&cli.config).await?, args, cli.json).await,
        Command::Reports(cmd) => reports(open(&cli.config).await?, cmd, cli.json).await,
        Command::Obligations(args) => list_obligations(open(&cli.config).await?, args, cli.json).await,
        Command::Digest(args) => digest(open(&cli.config).await?, args, cli.json).await,
        Command::Appeals(cmd) => appeals(open(&cli.config).await?, cmd, cli.json).await,
        Command::Users(cmd) => users(open(&cli.config).await?, cmd, cli.json).await,
        Command::Outbox => {
            let app = open(&cli.config).await?;
            let backlog = app.store.outbox_backlog(crate::clock::now()).await?;
            if cli.json {
                print_json(&backlog)?;
            } else if backlog.is_empty() {
                println!("outbox: nothing waiting, failed or expired");
            } else {
                for b in &backlog {
                    println!("{:<8} {:<8} {:>8}  oldest {} h ago", b.channel, b.status, b.count, b.oldest_age_s / 3600);
                }
            }
            Ok(0)
        }
    }
}

async fn users(app: App, cmd: UsersCmd, json: bool) -> anyhow::Result<i32> {
    use crate::connectors::http::auth;
    use crate::model::{Role, User, UserName};
    use crate::store::UserStore;
    match cmd {
        UsersCmd::Add { name, role, replace } => {
            let name: UserName = name.parse().map_err(|e: String| anyhow::anyhow!("NAME: {e}"))?;
            let role: Role = role.parse().map_err(|e: String| anyhow::anyhow!("--role: {e}"))?;
            if let Role::Unit(code) = &role
                && !app.store.units().await?.iter().any(|u| &u.code == code)
            {
                bail!("--role: no registered unit {code} (import it with `tongbao units import`)");
            }
            let line = if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                // Typed by a person: not echoed, asked twice.
                let first = rpassword::prompt_password("password: ").context("reading the password from the terminal")?;
                let again = rpassword::prompt_password("password again: ").context("reading the password from the terminal")?;
                if first != again {
                    eprintln!("password: the two entries differ");
                    return Ok(2);
                }
                first
            } else {
                // A line, and no more than a password may be: `… | users add` of a huge stream
                // is refused after a few KB, not read into memory.
                use std::io::{BufRead as _, Read as _};
                let mut line = Vec::new();
                std::io::stdin().lock().take(4096).read_until(b'\n', &mut line).context("reading the password from standard input")?;
                if line.len() >= 4096 && !line.ends_with(b"\n") {
                    eprintln!("password: longer than a password may be (at most 1024 bytes)");
                    return Ok(2);
                }
                String::from_utf8(line).context("the password is not UTF-8")?
            };
            let password = line.trim_end_matches(['\r', '\n']);
            if let Err(e) = auth::check_password(password) {
                eprintln!("password: {e}");
                return Ok(2);
            }
            let password_hash = tokio::task::spawn_blocking({
                let password = password.to_string();
                move || auth::hash_password(&password)
            })
            .await?;
            let user = User { name: name.clone(), role: role.clone(), password_hash };
            if !app.store.put_user(&user, replace, crate::clock::now()).await? {
                eprintln!("user {name} exists; add --replace to give it a new role and password");
                return Ok(1);
            }
            if json {
                print_json(&serde_json::json!({ "user": name.as_str(), "role": role.to_string() }))?;
            } else {
                println!("user {name} ({role}) can log in to the console");
            }
        }
        UsersCmd::List => {
            let users = app.store.users().await?;
            if json {
                let list: Vec<_> =
                    users.iter().map(|u| serde_json::json!({ "user": u.name.as_str(), "role": u.role.to_string() })).collect();
                print_json(&list)?;
            } else {
                for u in &users {
                    println!("{:<24} {}", u.name, u.role);
                }
            }
        }
        UsersCmd::Remove { name } => {
            let name: UserName = name.parse().map_err(|e: String| anyhow::anyhow!("NAME: {e}"))?;
            if !app.store.remove_user(&name, crate::clock::now()).await? {
                eprintln!("no user {name}");
                return Ok(1);
            }
            println!("user {name} removed; their sessions have ended");
        }
    }
    Ok(0)
}

async fn digest(app: App, args: DigestArgs, json: bool) -> anyhow::Result<i32> {
    let month: crate::model::YearMonth = match args.month.parse() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("--month: {e}");
            return Ok(2);
        }
    };
    let (sent, d) = if args.send {
        let (fresh, d) = crate::schedule::send_digest(&*app.store, month, crate::clock::now()).await?;
        (Some(fresh), d)
    } else {
        (None, crate::schedule::compute_digest(&*app.store, month, crate::clock::now()).await?)
    };
    if let Some(out) = &args.out {
        let bytes = crate::digest::workbook::xlsx(&d).map_err(|e| anyhow::anyhow!(e))?;
        std::fs::write(out, bytes).with_context(|| format!("writing {}", out.display()))?;
    }
    if json {
        print_json(&serde_json::json!({ "digest": d, "queued": sent, "workbook": args.out }))?;
    } else {
        println!("{} 月度通报：{}", d.month, d.trend);
        for l in &d.by_grade {
            println!("  {}：{}（上月 {}）", l.label, l.count, l.previous);
        }
        if let Some(out) = &args.out {
            println!("workbook written to {}", out.display());
        }
        match sent {
            Some(true) => println!("queued to CSB, all bureaus and CNCERT"),
            Some(false) => println!("already sent for {month}; nothing queued"),
            None => {}
        }
    }
    Ok(0)
}

/// The configuration with its connectors, checked by the configuration and then by the
/// connectors (a From address only the mail library can judge is reported once the
/// configuration's own problems are fixed).
fn load_checked(path: &Path) -> Result<Loaded, Vec<config::Problem>> {
    let loaded = config::load(path)?;
    let problems = crate::connectors::problems(&loaded.connectors);
    if problems.is_empty() { Ok(loaded) } else { Err(problems) }
}

/// Loads the configuration, or fails listing every problem.
pub fn load(path: &Path) -> anyhow::Result<Loaded> {
    load_checked(path).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        anyhow::anyhow!("configuration has {} problem(s):\n{}", problems.len(), list.join("\n"))
    })
}

/// The configuration at `config_path`, checked, and the store it names, opened.
pub async fn open(config_path: &Path) -> anyhow::Result<App> {
    App::open(load(config_path)?).await
}

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn check(path: &Path, json: bool) -> anyhow::Result<i32> {
    match load_checked(path) {
        Ok(loaded) => {
            let warnings = config::warnings(&loaded);
            if json {
                print_json(
                    &serde_json::json!({ "ok": true, "warnings": warnings, "connectors": loaded.connectors.iter().map(|c| serde_json::json!({"name": c.name, "kind": c.config.kind()})).collect::<Vec<_>>() }),
                )?;
            } else {
                println!("{}: ok", path.display());
                println!("  store: {} at {}", loaded.config.store.backend, loaded.config.store.path.display());
                println!("  retention: {} days", loaded.config.retention.days);
                println!("  calendar years with data: {:?}", loaded.calendar.years().collect::<Vec<_>>());
                for c in &loaded.connectors {
                    println!("  connector {} ({})", c.name, c.config.kind());
                }
                for w in &warnings {
                    println!("  warning: {w}");
                }
            }
            Ok(0)
        }
        Err(problems) => {
            if json {
                print_json(&serde_json::json!({ "ok": false, "problems": problems.iter().map(|p| p.to_string()).collect::<Vec<_>>() }))?;
            } else {
                eprintln!("{} problem(s):", problems.len());
                for p in &problems {
                    eprintln!("  {p}");
                }
            }
            Ok(1)
        }
    }
}

async fn calendar(config_path: &Path, cmd: CalendarCmd, json: bool) -> anyhow::Result<i32> {
    if let CalendarCmd::Import { file, year, dry_run } = &cmd {
        return import_calendar(config_path, file, *year, *dry_run, json).await;
    }
    let cal = load(config_path)?.calendar;
    let show = |date: NaiveDate, provisional: bool| -> anyhow::Result<()> {
        if json {
            print_json(&serde_json::json!({ "date": date.to_string(), "provisional": provisional }))
        } else {
            println!("{date}{}", if provisional { " (provisional: no holiday data for that year)" } else { "" });
            Ok(())
        }
    };
    match cmd {
        CalendarCmd::IsWorkday { date } => {
            let a = cal.is_workday(date);
            if json {
                print_json(&serde_json::json!({ "date": date.to_string(), "workday": a.value, "provisional": a.provisional }))?;
            } else {
                println!("{}{}", if a.value { "yes" } else { "no" }, if a.provisional { " (provisional)" } else { "" });
            }
            Ok(if a.value { 0 } else { 1 })
        }
        CalendarCmd::AddWorkdays { date, n } => {
            let a = cal.add_workdays(date, n);
            show(a.value, a.provisional)?;
            Ok(0)
        }
        CalendarCmd::NthWorkday { month, n } => {
            let m: YearMonth = month.parse().map_err(|e: crate::model::ParseError| anyhow::anyhow!("{month}: {}", e.expected))?;
            if n == 0 {
                bail!("N counts from 1");
            }
            let a = cal.nth_workday(m, n);
            show(a.value, a.provisional)?;
            Ok(0)
        }
        CalendarCmd::Recompute => {
            let app = open(config_path).await?;
            let r = app.recompute_provisional(crate::clock::now()).await?;
            println!("recomputed {} provisional deadline(s); {} alert(s) corrected", r.settled, r.corrected);
            Ok(0)
        }
        CalendarCmd::Import { .. } => unreachable!("handled above"),
    }
}

/// `calendar import`: the notice read, the change shown, the year written, deadlines settled.
async fn import_calendar(config_path: &Path, notice: &Path, year: Option<i32>, dry_run: bool, json: bool) -> anyhow::Result<i32> {
    use crate::rules::holiday_notice;
    let loaded = load(config_path)?;
    // A State Council notice is a few KB; a stream that is not one is refused at 1 MB.
    let bytes = read_capped(notice, 1 << 20)?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => encoding_rs::GB18030.decode(e.as_bytes()).0.into_owned(),
    };
    let read = holiday_notice::parse(&text, year).map_err(|e| anyhow::anyhow!("{}: {e}", notice.display()))?;
    let target = loaded.config.calendar.file_to_write();
    let before = match std::fs::read_to_string(&target) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => crate::rules::calendar::BUILTIN.to_string(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", target.display())),
    };
    let table = holiday_notice::toml_table(&read);
    let after = holiday_notice::replace_year(&before, read.year, &table);
    Calendar::from_toml(&after).map_err(|e| anyhow::anyhow!("the calendar with {} would not load: {e}", read.year))?;
    // What the law fixes whatever the notice says: a statutory day not off in it is a misread.
    let not_off: Vec<String> = crate::rules::holidays::statutory(read.year)
        .unwrap_or_default()
        .into_iter()
        .filter(|(d, _)| !read.holidays.contains(d))
        .map(|(d, f)| format!("{d} ({})", f.label_zh()))
        .collect();
    let old = &loaded.calendar;
    let changed: Vec<String> = {
        let mut out = Vec::new();
        let mut day = chrono::NaiveDate::from_ymd_opt(read.year, 1, 1).expect("a year's first day");
        while day.year() == read.year {
            let was = old.is_workday(day);
            let now = !read.holidays.contains(&day)
                && (read.workdays.contains(&day) || !matches!(day.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun));
            if was.value != now {
                out.push(format!(
                    "{day}: {} → {}",
                    if was.value { "working day" } else { "day off" },
                    if now { "working day" } else { "day off" }
                ));
            }
            day = day.succ_opt().expect("in range");
        }
        out
    };
    if json {
        print_json(&serde_json::json!({ "year": read.year, "file": target.display().to_string(), "table": table,
            "changed_days": changed, "statutory_days_not_off": not_off, "written": !dry_run && not_off.is_empty() }))?;
    } else {
        println!("{}: the State Council's schedule for {}", notice.display(), read.year);
        print!("{table}");
        println!("{} day(s) change against the calendar in use:", changed.len());
        for c in &changed {
            println!("  {c}");
        }
    }
    if !not_off.is_empty() {
        eprintln!("refused: the notice as read leaves statutory holidays as working days: {}", not_off.join(", "));
        eprintln!("check the text (each item such as 二、春节：2月5日至11日放假调休，共7天。), or give --year");
        return Ok(1);
    }
    if dry_run {
        return Ok(0);
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = target.with_extension("toml.new");
    std::fs::write(&tmp, &after).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &target).with_context(|| format!("replacing {}", target.display()))?;
    if !json {
        println!("wrote {} into {}", read.year, target.display());
    }
    let app = open(config_path).await?;
    let r = app.recompute_provisional(crate::clock::now()).await?;
    if !json {
        println!("recomputed {} provisional deadline(s); {} alert(s) corrected", r.settled, r.corrected);
    }
    Ok(0)
}

fn generate_forms(kind: &str, out: &Path) -> anyhow::Result<i32> {
    let forms = if kind == "all" {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        crate::forms::spec::all().into_iter().map(|f| (out.join(format!("{}-{}.xlsx", f.kind.code(), f.title)), f)).collect::<Vec<_>>()
    } else {
        let k = ReportKind::parse(kind).ok_or_else(|| anyhow::anyhow!("{kind:?}: expected a report kind or `all`"))?;
        vec![(out.to_path_buf(), crate::forms::spec::for_kind(k))]
    };
    for (path, form) in forms {
        let bytes = crate::forms::write::blank(&form).map_err(|e| anyhow::anyhow!("writing the {} form: {e}", form.kind))?;
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(0)
}

fn parse_arg<T>(what: &str, value: &str, r: Result<T, crate::model::ParseError>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("--{what} {value:?}: expected {}", e.expected))
}

fn deadline(config_path: &Path, a: DeadlineArgs, json: bool) -> anyhow::Result<i32> {
    let loaded = load(config_path)?;
    let kind = ReportKind::parse(&a.kind)
        .ok_or_else(|| anyhow::anyhow!("--kind {:?}: expected one of event, warning, botnet_event, contact_update", a.kind))?;
    let grade = a.grade.as_deref().map(|g| parse_arg("grade", g, Grade::parse(g))).transpose()?;
    let level = a.level.as_deref().map(|l| parse_arg("level", l, WarningLevel::parse(l))).transpose()?;
    match kind {
        ReportKind::Event if grade.is_none() => bail!("an event needs --grade"),
        ReportKind::Warning if level.is_none() => bail!("a warning needs --level"),
        ReportKind::BotnetEvent if grade.is_none() => bail!("a botnet event needs --grade"),
        ReportKind::DisposalFeedback | ReportKind::Verification | ReportKind::MonthlyGeneral => {
            bail!("{kind} creates obligations from the notice or month it refers to; ask for the event's kind instead")
        }
        ReportKind::Appeal => bail!("an appeal creates no obligation: it reopens the one it names, under that one's rule"),
        _ => {}
    }
    let discovered_at = parse_arg("discovered", &a.discovered, crate::model::time::parse_instant(&a.discovered))?;
    let provinces: Vec<Province> =
        a.province.as_deref().map(|p| parse_arg("province", p, Province::parse(p))).transpose()?.into_iter().collect();
    let unit_type = parse_arg("unit-type", &a.unit_type, UnitType::parse(&a.unit_type))?;
    let code: UnitCode = "REPORTER".parse().expect("valid code");
    let facts = ReportFacts {
        report_id: ReportId::new(),
        kind,
        grade,
        level,
        discovered_at,
        received_at: discovered_at,
        reporter: Reporter { code: &code, unit_type, region: Region::National },
        provinces: &provinces,
        cross_province: a.cross_province,
        channel: Channel::Cli,
        final_report: false,
    };
    let drafts = obligations::for_report(&facts, None, &loaded.calendar, &loaded.config.rules);
    if json {
        let out: Vec<_> = drafts
            .iter()
            .map(|d| {
                serde_json::json!({
                    "duty": d.duty, "actor": d.actor, "to": d.to, "copy": d.copy,
                    "due_at": d.deadline.due_at, "due_local": local_display(d.deadline.due_at),
                    "rule": d.deadline.rule, "provisional": d.deadline.provisional,
                    "binding": d.binding, "basis": d.basis,
                })
            })
            .collect();
        print_json(&out)?;
    } else {
        for d in &drafts {
            println!(
                "{:<16} {} → {}{}\n{:16} due {} (Asia/Shanghai){}{}\n{:16} {}",
                d.duty.code(),
                d.actor,
                parties(&d.to),
                if d.copy.is_empty() { String::new() } else { format!("  copy {}", parties(&d.copy)) },
                "",
                local_display(d.deadline.due_at),
                if d.deadline.provisional { " PROVISIONAL" } else { "" },
                if d.binding { "" } else { " (reminder)" },
                "",
                d.basis.citation_zh,
            );
        }
    }
    Ok(0)
}

fn parties(ps: &[Party]) -> String {
    ps.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitsFile {
    units: Vec<Unit>,
}

/// Reads units from TOML (`[[units]]`) or JSON (an array, or `{"units": [...]}`).
pub fn read_units_file(path: &Path) -> anyhow::Result<Vec<Unit>> {
    // A register of every reporting unit is well under 16 MB; a stream that is not one stops there.
    let text = String::from_utf8(read_capped(path, 16 << 20)?).with_context(|| format!("{}: not UTF-8", path.display()))?;
    // `[[units]]` opens a TOML file as `[` opens a JSON array: the extension decides, else the
    // first line (a TOML table header is a bracketed name alone on its line).
    let first_line = text.trim_start().lines().next().unwrap_or_default().trim();
    let toml_header = first_line.starts_with('[')
        && first_line.ends_with(']')
        && !first_line.trim_matches(['[', ']', ' ']).is_empty()
        && !first_line.contains(['{', '"', ',']);
    let is_json = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => true,
        Some("toml") => false,
        _ => first_line.starts_with('{') || (first_line.starts_with('[') && !toml_header),
    };
    let units = if is_json {
        let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
        let list = if v.is_array() { v } else { v.get("units").cloned().unwrap_or(serde_json::Value::Null) };
        let list =
            list.as_array().ok_or_else(|| anyhow::anyhow!("{}: expected an array of units or {{\"units\": [...]}}", path.display()))?;
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for (i, u) in list.iter().enumerate() {
            match serde_json::from_value::<Unit>(u.clone()) {
                Ok(u) => out.push(u),
                Err(e) => errors.push(format!("  /{i}: {e}")),
            }
        }
        if !errors.is_empty() {
            bail!("{}: {} unit(s) refused, nothing imported:\n{}", path.display(), errors.len(), errors.join("\n"));
        }
        out
    } else {
        toml::from_str::<UnitsFile>(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?.units
    };
    let mut codes: Vec<&UnitCode> = units.iter().map(|u| &u.code).collect();
    codes.sort();
    if let Some(w) = codes.windows(2).find(|w| w[0] == w[1]) {
        bail!("{}: unit {} appears twice", path.display(), w[0]);
    }
    Ok(units)
}

async fn units(app: App, cmd: UnitsCmd, json: bool) -> anyhow::Result<i32> {
    match cmd {
        UnitsCmd::Import { file } => {
            let units = read_units_file(&file)?;
            let faults = crate::model::unit::group_faults(&units, &app.store.units().await?);
            if !faults.is_empty() {
                bail!("{}: {} group link(s) refused, nothing imported:\n  {}", file.display(), faults.len(), faults.join("\n  "));
            }
            let n = app.store.import_units(&units, crate::clock::now()).await?;
            if json {
                print_json(&serde_json::json!({ "imported": n }))?;
            } else {
                println!("imported {n} unit(s)");
            }
        }
        UnitsCmd::Token(TokenCmd::Issue { unit }) => {
            let code: UnitCode = parse_arg("unit", &unit, unit.parse())?;
            if !app.store.units().await?.iter().any(|u| u.code == code) {
                bail!("no registered unit {code}");
            }
            let token = crate::connectors::http::new_token();
            app.store.issue_token(&code, &crate::model::submission::sha256_hex(token.as_bytes()), crate::clock::now()).await?;
            if json {
                print_json(&serde_json::json!({ "unit": code, "token": token }))?;
            } else {
                println!("{token}");
                eprintln!("upload token for {code}: shown once, keep it secret (send it as `Authorization: Bearer …`)");
            }
        }
        UnitsCmd::Token(TokenCmd::Revoke { unit, token }) => {
            let code: UnitCode = parse_arg("unit", &unit, unit.parse())?;
            let hash = token.map(|t| crate::model::submission::sha256_hex(t.trim().as_bytes()));
            let n = app.store.revoke_tokens(&code, hash.as_deref(), crate::clock::now()).await?;
            if json {
                print_json(&serde_json::json!({ "unit": code, "revoked": n }))?;
            } else {
                println!("revoked {n} token(s) of {code}");
            }
            if n == 0 {
                eprintln!("{code}: no live token matched");
                return Ok(1);
            }
        }
        UnitsCmd::List => {
            let units = app.store.units().await?;
            if json {
                print_json(&units)?;
            } else {
                for u in &units {
                    let emails: Vec<&str> = u.emails().map(|e| e.as_str()).collect();
                    println!(
                        "{:<16} {:<28} {:<10} {}{}{}  {}",
                        u.code,
                        u.unit_type,
                        u.province,
                        u.name,
                        if u.important { " [重要信息系统]" } else { "" },
                        u.group.as_ref().map(|g| format!(" [集团 {g}]")).unwrap_or_default(),
                        emails.join(", ")
                    );
                }
            }
        }
    }
    Ok(0)
}

async fn ingest(app: App, args: IngestArgs, json: bool) -> anyhow::Result<i32> {
    let unit: UnitCode = parse_arg("unit", &args.unit, args.unit.parse())?;
    let channel = Channel::parse(&args.channel).expect("clap checked the value");
    let (intake, writer) = Intake::start(app.store.clone(), app.engine());
    let mut worst = 0;
    let mut receipts = Vec::new();
    // The same cap an HTTP upload has: `tongbao ingest /dev/zero` is refused, not read forever.
    let max = app.loaded.config.serve.max_upload_mb << 20;
    for file in &args.files {
        let raw = read_capped(file, max)?;
        let name = file.display().to_string();
        let mut sub = Submission::by_content(channel, Sender::Unit(unit.clone()), raw, crate::clock::now());
        sub.external_id = Some(name.clone());
        let receipt = if crate::forms::is_spreadsheet(&sub.raw, &name) {
            let (items, notes) = crate::forms::parse_with_notes(&sub.raw, &name, sub.received_at, &crate::forms::Limits::default());
            intake.submit_parsed(crate::decision::Parsed { notes, ..crate::decision::Parsed::new(sub, items) }).await?
        } else {
            intake.submit(sub).await?
        };
        worst = worst.max(match receipt.outcome {
            Outcome::Accepted => 0,
            Outcome::PartlyAccepted => 3,
            Outcome::Rejected => 4,
        });
        if !json {
            print_receipt(&file.display().to_string(), &receipt);
        }
        receipts.push(receipt);
    }
    drop(intake);
    writer.await?;
    if json {
        print_json(&if receipts.len() == 1 { serde_json::to_value(&receipts[0])? } else { serde_json::to_value(&receipts)? })?;
    }
    Ok(worst)
}

/// A file's bytes, refused whole past `max` bytes (read no further than one byte beyond).
fn read_capped(file: &Path, max: usize) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let mut raw = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(max as u64 + 1).read_to_end(&mut raw))
        .with_context(|| format!("reading {}", file.display()))?;
    if raw.len() > max {
        bail!("{}: larger than {} MB, the most this command reads", file.display(), max >> 20);
    }
    Ok(raw)
}

pub fn print_receipt(source: &str, r: &Receipt) {
    println!(
        "{source}: {} {}{}  submission {}",
        r.outcome.label_zh(),
        r.outcome.code(),
        if r.duplicate { " (duplicate of an earlier identical submission; nothing added)" } else { "" },
        r.submission_id
    );
    for a in &r.reports {
        let sev = a.grade.map(|g| g.to_string()).or(a.level.map(|l| format!("level {l}"))).unwrap_or_default();
        println!("  [{}] report {}  {} {}  {}", a.index, a.report_id, a.kind, sev, a.source);
        if !a.cc.is_empty() {
            println!("      C&C: {}", a.cc.join(", "));
        }
        if let Some(n) = &a.grade_note {
            println!("      grade: {n}");
        }
        for o in &a.obligations {
            print_obligation_line(o);
        }
    }
    for g in &r.regraded {
        println!("  regraded {} {} → {}", g.report_id, g.from, g.to);
    }
    for e in &r.errors {
        println!("  error {:<20} {}", e.code.to_string(), e.message);
    }
    for n in &r.notes {
        println!("  note  {} {}", n.place, n.message);
    }
}

fn print_obligation_line(o: &ObligationSummary) {
    println!(
        "      {:<18} {} → {}{}  due {}{}  {}",
        o.duty.code(),
        o.actor,
        parties(&o.to),
        if o.copy.is_empty() { String::new() } else { format!(" (copy {})", parties(&o.copy)) },
        local_display(o.due_at),
        if o.provisional { " PROVISIONAL" } else { "" },
        o.status.code()
    );
}

async fn reports(app: App, cmd: ReportsCmd, json: bool) -> anyhow::Result<i32> {
    match cmd {
        ReportsCmd::List { unit, kind, limit } => {
            let unit = unit.map(|u| parse_arg("unit", &u, u.parse::<UnitCode>())).transpose()?;
            let kind =
                kind.map(|k| ReportKind::parse(&k).ok_or_else(|| anyhow::anyhow!("--kind {k:?}: unknown report kind"))).transpose()?;
            let list = app.store.reports(&ReportFilter { unit, kind, limit }).await?;
            if json {
                print_json(&list)?;
            } else {
                for r in &list {
                    let c = &r.report.content;
                    let sev = c.grade.map(|g| g.to_string()).or(c.level.map(|l| format!("level {l}"))).unwrap_or_default();
                    println!(
                        "{}  {}  {:<12} {:<18} {:<16} discovered {}{}",
                        r.report.id,
                        local_display(r.received_at),
                        r.report.unit,
                        c.kind(),
                        sev,
                        local_display(c.discovered_at),
                        if c.suspected_crime { "  SUSPECTED CRIME (涉嫌犯罪)" } else { "" }
                    );
                }
            }
            Ok(0)
        }
        ReportsCmd::Show { id } => {
            let id: ReportId = parse_arg("id", &id, id.parse())?;
            let Some(r) = app.store.report(id, None).await? else {
                eprintln!("no report {id}");
                return Ok(1);
            };
            let obligations = app.store.obligations(&ObligationFilter { report: Some(id), limit: 1000, ..Default::default() }).await?;
            if json {
                print_json(&serde_json::json!({ "report": r, "obligations": obligations }))?;
            } else {
                println!("{}", serde_json::to_string_pretty(&r)?);
                print_obligations(&obligations);
            }
            Ok(0)
        }
    }
}

async fn appeals(app: App, cmd: AppealsCmd, json: bool) -> anyhow::Result<i32> {
    use crate::intake::appeals::{Answered, Answerer};
    match cmd {
        AppealsCmd::List { all, unit, limit } => {
            let unit = unit.map(|u| parse_arg("unit", &u, u.parse::<UnitCode>())).transpose()?;
            let list = app.store.user_appeals(unit.as_ref(), !all, limit).await?;
            if json {
                print_json(&list)?;
            } else {
                for a in &list {
                    let units: Vec<String> = a.appeal.units.iter().map(ToString::to_string).collect();
                    println!(
                        "{}  {}  {:<30} → {:<16} {}",
                        a.appeal.id,
                        local_display(a.appeal.received_at),
                        a.appeal.targets_zh(),
                        if units.is_empty() { "cncert".to_string() } else { units.join(",") },
                        if a.answer.is_some() { "answered" } else { "open" }
                    );
                }
            }
            Ok(0)
        }
        AppealsCmd::Answer { id, by, text } => {
            let id: crate::model::AppealId = parse_arg("id", &id, id.parse())?;
            if by.trim().is_empty() {
                eprintln!("--by: say who answers");
                return Ok(2);
            }
            let by = Answerer::Cncert { person: by.trim().to_string() };
            match crate::intake::appeals::answer(&*app.store, id, &by, &text, crate::clock::now()).await? {
                Answered::Done => {
                    if json {
                        print_json(&serde_json::json!({ "appeal": id, "status": "answered" }))?;
                    } else {
                        println!("{id}: answered");
                    }
                    Ok(0)
                }
                Answered::NotFound => {
                    eprintln!("{id}: no such appeal");
                    Ok(1)
                }
                Answered::AlreadyAnswered => {
                    eprintln!("{id}: answered already");
                    Ok(1)
                }
                Answered::Refused(e) => {
                    eprintln!("--text: {}", e.message);
                    Ok(2)
                }
            }
        }
    }
}

fn print_obligations(list: &[Obligation]) {
    for o in list {
        println!(
            "{}  {:<18} {:<14} → {:<28} due {}{}  {:<7} {}",
            o.id,
            o.duty.code(),
            o.actor.to_string(),
            parties(&o.to),
            local_display(o.deadline.due_at),
            if o.deadline.provisional { " PROVISIONAL" } else { "" },
            o.status.code(),
            o.basis.citation_zh
        );
    }
}

async fn list_obligations(app: App, a: ObligationsArgs, json: bool) -> anyhow::Result<i32> {
    if let Some(ObligationsAction::Grant { id, by, reason }) = &a.action {
        let id: crate::model::ObligationId = parse_arg("id", id, id.parse())?;
        if by.trim().is_empty() || reason.trim().is_empty() {
            eprintln!("--by and --reason: say who decided, and why");
            return Ok(2);
        }
        let units = app.store.units().await?;
        let Some(cncert) = units.iter().find(|u| u.unit_type == crate::model::UnitType::Cncert) else {
            eprintln!("no CNCERT unit is registered (tongbao units import): it is CNCERT that grants");
            return Ok(1);
        };
        let appeal = serde_json::json!({"kind": "appeal", "content": {"obligation": id.to_string(),
            "reason": format!("{}（CNCERT {} 裁定准予重新办理）", reason.trim(), by.trim())}});
        let sub =
            Submission::by_content(Channel::Cli, Sender::Unit(cncert.code.clone()), appeal.to_string().into_bytes(), crate::clock::now());
        let (intake, writer) = Intake::start(app.store.clone(), app.engine());
        let receipt = intake.submit(sub).await?;
        drop(intake);
        writer.await?;
        if json {
            print_json(&receipt)?;
        } else {
            print_receipt(&format!("grant {id}"), &receipt);
        }
        return Ok(if receipt.outcome == Outcome::Accepted { 0 } else { 1 });
    }
    if let Some(ObligationsAction::Done { id, by, note }) = a.action {
        let id: crate::model::ObligationId = parse_arg("id", &id, id.parse())?;
        if by.trim().is_empty() {
            eprintln!("--by: say who did it");
            return Ok(2);
        }
        return match app.store.close_cncert_duty(id, by.trim(), &note, crate::clock::now()).await? {
            Some(status) => {
                if json {
                    print_json(&serde_json::json!({ "id": id, "status": status }))?;
                } else {
                    println!("{id}: {}", status.code());
                }
                Ok(0)
            }
            None => {
                eprintln!("{id}: no open duty of CNCERT's with this id (units close theirs by reporting)");
                Ok(1)
            }
        };
    }
    let report = a.report.map(|r| parse_arg("report", &r, r.parse::<ReportId>())).transpose()?;
    let filter = ObligationFilter {
        status: (a.open && !a.overdue).then_some(ObligationStatus::Open),
        overdue_at: a.overdue.then(crate::clock::now),
        report,
        limit: a.limit,
    };
    let list = app.store.obligations(&filter).await?;
    if json {
        print_json(&list)?
    } else {
        print_obligations(&list)
    }
    Ok(0)
}
