//! `tongbao serve` and the hub's composition root (`start`): opens the store, starts intake and the connectors, and shuts down gracefully.

use crate::config::Loaded;
use crate::decision::Engine;
use crate::intake::Intake;
use crate::store::AnyStore;
use anyhow::Context as _;
use std::sync::Arc;
use tokio::sync::watch;

/// `tongbao serve`: starts the hub, runs until Ctrl-C or SIGTERM, then stops it gracefully.
pub async fn run(loaded: Loaded) -> anyhow::Result<i32> {
    let running = start(loaded).await?;
    tracing::info!(tasks = running.tasks.len(), "tongbao is running; Ctrl-C or SIGTERM stops it");
    wait_for_signal().await;
    running.stop().await?;
    Ok(0)
}

/// A started hub: its store, intake and writer, connectors, fan-out, scheduler and HTTP
/// listener, all stopped together by `stop`.
pub struct Running {
    /// Where the HTTP listener is bound (the configured address, with the port the system
    /// chose when it said 0).
    pub address: std::net::SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    intake: Intake,
    writer: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops taking work, finishes and commits what is in flight, and waits for every task.
    pub async fn stop(self) -> anyhow::Result<()> {
        tracing::info!("stopping: finishing in-flight submissions");
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        drop(self.intake);
        self.writer.await?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The loaded configuration and the store it names: what `serve` and every CLI command that
/// touches the store start from.
pub struct App {
    pub loaded: Loaded,
    pub store: Arc<AnyStore>,
}

impl App {
    /// Opens the store the configuration names.
    pub async fn open(loaded: Loaded) -> anyhow::Result<App> {
        let location = loaded.config.store.location().map_err(|e| anyhow::anyhow!(e))?;
        let store = crate::store::open(&location).await.with_context(|| format!("opening the store at {location}"))?;
        Ok(App { loaded, store: Arc::new(store) })
    }

    /// Settles the provisional deadlines the calendar now has the year for (see
    /// `schedule::recompute`).
    pub async fn recompute_provisional(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<crate::schedule::recompute::Recomputed> {
        let rules = &self.loaded.config.rules;
        Ok(crate::schedule::recompute::recompute(&*self.store, &self.loaded.calendar, &rules.reminders, now).await?)
    }

    /// The rules intake decides by, from the configuration.
    pub fn engine(&self) -> Arc<Engine> {
        Arc::new(Engine {
            calendar: self.loaded.calendar.clone(),
            policy: crate::rules::Policy {
                hub_addresses: crate::connectors::hub_addresses(&self.loaded.connectors),
                ..self.loaded.config.rules.clone()
            },
            ownership: self.loaded.ownership.clone(),
        })
    }
}

/// The composition root: opens the store the configuration names and starts everything
/// `serve` runs, returning once the HTTP listener is bound.
pub async fn start(loaded: Loaded) -> anyhow::Result<Running> {
    let app = App::open(loaded).await?;
    let loaded = &app.loaded;
    let location = loaded.config.store.location().map_err(|e| anyhow::anyhow!(e))?;
    tracing::info!(store = %location, retention_days = loaded.config.retention.days, "store open");
    for w in crate::config::warnings(loaded) {
        tracing::warn!(message = %w);
    }
    if let Some(clock) = crate::clock::describe() {
        tracing::warn!(%clock, "not the system clock: every deadline, alert and job runs on this one");
    }
    let years: Vec<i32> = loaded.calendar.years().collect();
    tracing::info!(?years, "calendar loaded");
    let recomputed = app.recompute_provisional(crate::clock::now()).await?;
    if recomputed.settled > 0 {
        tracing::info!(
            settled = recomputed.settled,
            corrected = recomputed.corrected,
            "provisional deadlines recomputed with new calendar data"
        );
    }
    if let Some(year) = loaded.calendar.schedule_missing(crate::clock::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive()) {
        tracing::warn!(
            year,
            "the calendar has no State Council holiday schedule for {year}: deadlines in it are provisional (statutory holidays only) until `tongbao calendar import` reads the notice"
        );
    }

    let engine = app.engine();
    let (intake, writer) = Intake::start(app.store.clone(), engine.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let lease = std::time::Duration::from_secs(app.loaded.config.store.lease_seconds);
    let mut tasks = crate::connectors::start(
        &app.loaded.connectors,
        &intake,
        &app.store,
        lease,
        app.loaded.config.serve.public_url.as_deref(),
        &stop_rx,
    );
    tasks.push(tokio::spawn(crate::fanout::run(app.store.clone(), std::time::Duration::from_secs(1), stop_rx.clone())));
    let schedule = app.loaded.config.schedule.clone();
    if schedule.enabled {
        let scheduler = crate::schedule::Scheduler::new(app.store.clone(), engine, schedule, app.loaded.config.retention.days)
            .map_err(|e| anyhow::anyhow!(e))?;
        tasks.push(tokio::spawn(scheduler.run(stop_rx.clone())));
    } else {
        tracing::warn!("scheduler disabled ([schedule] enabled = false): no reminders, alerts, digest or purge");
    }
    let listen = &app.loaded.config.serve.listen;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
    let address = listener.local_addr()?;
    tracing::info!(address = %address, "HTTP upload listening (POST /api/v1/submissions, GET /upload)");
    // People look for where to log in: the console's address, plainly, on standard error.
    eprintln!("tongbao console: http://{address}/console (accounts: tongbao users add NAME --role …)");
    let state = crate::connectors::http::HttpState::with_limits(
        app.store.clone(),
        intake.clone(),
        crate::connectors::http::HttpLimits::from_config(&app.loaded.config.serve),
    );
    // Checked when the configuration was loaded.
    let proxies = app.loaded.config.serve.proxies().map_err(|e| anyhow::anyhow!(e))?;
    let mut http_stop = stop_rx.clone();
    tasks.push(tokio::spawn(async move {
        let stopped = async move {
            let _ = http_stop.changed().await;
        };
        if let Err(e) = crate::connectors::http::serve_behind(listener, state, proxies, stopped).await {
            tracing::error!(error = %e, "HTTP listener failed");
        }
    }));
    Ok(Running { address, stop: stop_tx, tasks, intake, writer })
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
