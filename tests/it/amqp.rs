//! The AMQP connector against the real RabbitMQ on 127.0.0.1:5672, with Python pika as the outside publisher.

use super::helpers::{Backend, Lib, event};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tongbao::connectors::amqp::{sink, source};
use tongbao::model::submission::Sender;
use tongbao::model::{Channel, Submission};
use tongbao::store::Store;

fn url() -> String {
    std::env::var("TONGBAO_TEST_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn python() -> String {
    std::env::var("TONGBAO_TEST_PYTHON").expect("TONGBAO_TEST_PYTHON is not set: run the tests through ./scripts/test, which installs pika")
}

/// Runs the outside client and returns the JSON line it printed.
fn client(args: &[&str]) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/amqp_client.py");
    let out = Command::new(python()).arg(script).args(args).output().expect("run python");
    assert!(out.status.success(), "amqp_client.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(out.stdout.trim_ascii()).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The AMQP tests take turns: one restarts the broker, which would break the others' connections.
static BROKER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn unique(prefix: &str) -> String {
    format!("{prefix}.{}", uuid::Uuid::now_v7().simple())
}

async fn broker() -> Connection {
    Connection::connect(&url(), ConnectionProperties::default()).await.expect("RabbitMQ on 127.0.0.1:5672 (scripts/test starts it)")
}

/// Closes every broker connection whose client-given name starts with `prefix`; returns how many.
fn close_connections(prefix: &str) -> usize {
    // The plain listing gives pids in the form close_connection takes: <rabbit@host.N.M.0>.
    let out = Command::new("rabbitmqctl").args(["-q", "list_connections", "pid", "client_properties"]).output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    let needle = format!("{{\"connection_name\",\"{prefix}");
    let mut closed = 0;
    for line in listing.lines().filter(|l| l.contains(&needle)) {
        let pid = line.split('\t').next().unwrap();
        let status = Command::new("rabbitmqctl").args(["-q", "close_connection", pid, "test closes it mid-stream"]).status().unwrap();
        closed += usize::from(status.success());
    }
    closed
}

struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(20), self.task).await.expect("connector stops within 20 s").unwrap();
    }
}

fn start_source(lib: &Lib, name: &str, queue: &str) -> Running {
    let (stop, rx) = watch::channel(false);
    let config = source::SourceConfig { name: name.into(), url: url(), queue: queue.into(), prefetch: 256 };
    Running { stop, task: tokio::spawn(source::run(config, lib.intake.clone(), rx)) }
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn declare_topology(queue: &str) {
    let conn = broker().await;
    let ch = conn.create_channel().await.unwrap();
    let config = source::SourceConfig { name: "t".into(), url: url(), queue: queue.into(), prefetch: 1 };
    source::declare_topology(&ch, &config).await.unwrap();
    conn.close(200, "ok".into()).await.unwrap();
}

async fn delete_queues(queues: &[String]) {
    let conn = broker().await;
    let ch = conn.create_channel().await.unwrap();
    for q in queues {
        let _ = ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await;
    }
    let _ = conn.close(200, "ok".into()).await;
}

async fn ten_thousand_reports_with_the_connection_closed_mid_stream_are_stored_exactly_once(backend: Backend) {
    let _turn = BROKER.lock().await;
    python(); // fail now, not after a timeout, when pika is missing
    let lib = Lib::on(backend).await;
    let queue = unique("tongbao.test.reports");
    let name = unique("bulk");
    declare_topology(&queue).await;
    let running = start_source(&lib, &name, &queue);

    let publisher = {
        let queue = queue.clone();
        tokio::task::spawn_blocking(move || client(&["publish", "ct-gd", "ct-gd-pass", &queue, "10000"]))
    };
    // Close the hub's connection from the broker's side while messages are flowing, twice.
    let mut closed = 0;
    for threshold in [2_000, 6_000] {
        wait_for("submissions to flow", Duration::from_secs(120), async || lib.store.counts().await.unwrap().submissions >= threshold)
            .await;
        closed += close_connections(&format!("tongbao-source-{name}"));
    }
    assert!(closed >= 2, "the test must really have closed the hub's connection");
    assert_eq!(publisher.await.unwrap()["published"], 10_000);
    wait_for("all 10,000 reports", Duration::from_secs(180), async || lib.store.counts().await.unwrap().reports >= 10_000).await;
    // Let redeliveries after the reconnection settle, then check nothing was stored twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counts = lib.store.counts().await.unwrap();
    assert_eq!((counts.submissions, counts.reports), (10_000, 10_000));
    running.stop().await;

    let conn = broker().await;
    let ch = conn.create_channel().await.unwrap();
    let q = ch
        .queue_declare(queue.as_str().into(), QueueDeclareOptions { passive: true, ..Default::default() }, FieldTable::default())
        .await
        .unwrap();
    assert_eq!(q.message_count(), 0, "everything acknowledged");
    conn.close(200, "ok".into()).await.unwrap();
    let dlq = format!("{queue}.dead");
    delete_queues(&[queue, dlq]).await;
}

fn header(props: &lapin::BasicProperties, key: &str) -> String {
    match props.headers().as_ref().and_then(|h| h.inner().get(key)) {
        Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        other => panic!("header {key} missing or not a string: {other:?}"),
    }
}

async fn poison_messages_are_dead_lettered_with_their_reason_while_good_ones_pass(backend: Backend) {
    let _turn = BROKER.lock().await;
    python(); // fail now, not after a timeout, when pika is missing
    let lib = Lib::on(backend).await;
    let queue = unique("tongbao.test.poison");
    declare_topology(&queue).await;
    let running = start_source(&lib, &unique("poison"), &queue);
    let q = queue.clone();
    assert_eq!(tokio::task::spawn_blocking(move || client(&["poison", "ct-gd", "ct-gd-pass", &q])).await.unwrap()["published"], 5);

    let conn = broker().await;
    let ch = conn.create_channel().await.unwrap();
    let dlq = format!("{queue}.dead");
    let mut dead = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while dead.len() < 4 && Instant::now() < deadline {
        match ch.basic_get(dlq.as_str().into(), BasicGetOptions { no_ack: true }).await.unwrap() {
            Some(m) => {
                let id = m.delivery.properties.message_id().as_ref().map(|s| s.as_str().to_string()).unwrap_or_default();
                dead.insert(
                    id,
                    (
                        header(&m.delivery.properties, "x-tongbao-error-code"),
                        header(&m.delivery.properties, "x-tongbao-error-place"),
                        header(&m.delivery.properties, "x-tongbao-error-message"),
                    ),
                );
            }
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    running.stop().await;
    let counts = lib.store.counts().await.unwrap();
    assert_eq!(dead.len(), 4, "{dead:#?} {counts:?}");
    assert_eq!(dead["bad-json"].0, "not_json");
    assert_eq!((dead["bad-grade"].0.as_str(), dead["bad-grade"].1.as_str()), ("bad_grade", "/grade"));
    assert!(dead["bad-grade"].2.contains("huge"), "Chinese message names what was found: {}", dead["bad-grade"].2);
    assert_eq!(dead["no-user"].0, "unknown_sender");
    assert_eq!(dead["stranger"].0, "unknown_sender");
    let counts = lib.store.counts().await.unwrap();
    assert_eq!((counts.submissions, counts.reports), (5, 1), "all five stored, one accepted");
    conn.close(200, "ok".into()).await.unwrap();
    delete_queues(&[queue, dlq]).await;
}

async fn a_forged_user_id_is_refused_and_nothing_is_stored(backend: Backend) {
    let _turn = BROKER.lock().await;
    python(); // fail now, not after a timeout, when pika is missing
    let lib = Lib::on(backend).await;
    let queue = unique("tongbao.test.forge");
    declare_topology(&queue).await;
    let running = start_source(&lib, &unique("forge"), &queue);
    let q = queue.clone();
    // An ordinary login cannot set another user_id: the broker refuses it.
    let r = tokio::task::spawn_blocking(move || client(&["forge", "ct-gd", "ct-gd-pass", &q, "cncert"])).await.unwrap();
    assert_eq!(r["refused"], true, "{r}");
    assert_eq!(r["code"], 406, "PRECONDITION_FAILED from the broker: {r}");
    // A gateway login (RabbitMQ's impersonator tag) may set any user_id, so the messages reach
    // the hub, whose own attribution refuses them: a user_id that is no unit's AMQP login, and
    // a unit's login with a report that claims another unit.
    for args in [vec!["tongbao-nobody"], vec!["ct-gd", "CM-GROUP"]] {
        let q = queue.clone();
        let r = tokio::task::spawn_blocking(move || {
            let mut all = vec!["forge", "tongbao-gateway", "gateway-pass", &q];
            all.extend(args.iter().copied());
            client(&all)
        })
        .await
        .unwrap();
        assert_eq!(r["refused"], false, "the broker lets an impersonator through: {r}");
    }
    wait_for("both refused by the hub", Duration::from_secs(30), async || lib.store.counts().await.unwrap().submissions == 2).await;
    running.stop().await;
    assert_eq!(lib.store.counts().await.unwrap().reports, 0, "nothing stored as a unit's report");
    let codes = lib.texts("SELECT receipt -> 'errors' -> 0 ->> 'code' FROM submissions ORDER BY received_at, id").await;
    assert_eq!(codes, ["unknown_sender", "foreign_unit"]);
    delete_queues(&[queue.clone(), format!("{queue}.dead")]).await;
}

async fn the_source_recovers_when_the_broker_cancels_its_consumer(backend: Backend) {
    let _turn = BROKER.lock().await;
    python(); // fail now, not after a timeout, when pika is missing
    let lib = Lib::on(backend).await;
    let queue = unique("tongbao.test.cancel");
    declare_topology(&queue).await;
    let running = start_source(&lib, &unique("cancel"), &queue);
    let q = queue.clone();
    tokio::task::spawn_blocking(move || client(&["publish", "ct-gd", "ct-gd-pass", &q, "5"])).await.unwrap();
    wait_for("first reports", Duration::from_secs(30), async || lib.store.counts().await.unwrap().reports == 5).await;

    // Someone deletes the queue under the consumer: the broker cancels it (a channel-level event).
    delete_queues(std::slice::from_ref(&queue)).await;
    // The source notices, reconnects and declares the queue again; messages published then arrive.
    let conn = broker().await;
    wait_for("the queue to be declared again", Duration::from_secs(30), async || {
        // A passive declare of a missing queue closes its channel: a fresh channel each time.
        let ch = conn.create_channel().await.unwrap();
        ch.queue_declare(queue.as_str().into(), QueueDeclareOptions { passive: true, ..Default::default() }, FieldTable::default())
            .await
            .is_ok()
    })
    .await;
    let q = queue.clone();
    tokio::task::spawn_blocking(move || client(&["publish", "ct-gd", "ct-gd-pass", &q, "8"])).await.unwrap();
    wait_for("reports after the cancel", Duration::from_secs(30), async || lib.store.counts().await.unwrap().reports == 8).await;
    running.stop().await;
    let _ = conn.close(200, "ok".into()).await;
    delete_queues(&[queue.clone(), format!("{queue}.dead")]).await;
}

async fn the_source_survives_a_broker_restart(backend: Backend) {
    let _turn = BROKER.lock().await;
    python(); // fail now, not after a timeout, when pika is missing
    let lib = Lib::on(backend).await;
    let queue = unique("tongbao.test.restart");
    declare_topology(&queue).await;
    let running = start_source(&lib, &unique("restart"), &queue);
    let q = queue.clone();
    tokio::task::spawn_blocking(move || client(&["publish", "ct-gd", "ct-gd-pass", &q, "10"])).await.unwrap();
    wait_for("first reports", Duration::from_secs(30), async || lib.store.counts().await.unwrap().reports == 10).await;

    let stop = Command::new("rabbitmqctl").args(["-q", "stop_app"]).status().unwrap();
    assert!(stop.success());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start = Command::new("rabbitmqctl").args(["-q", "start_app"]).status().unwrap();
    assert!(start.success());
    Command::new("rabbitmqctl").args(["-q", "await_startup", "--timeout", "60"]).status().unwrap();

    // Same message ids r-0..r-19: the first ten are duplicates and add nothing.
    let q = queue.clone();
    tokio::task::spawn_blocking(move || client(&["publish", "ct-gd", "ct-gd-pass", &q, "20"])).await.unwrap();
    wait_for("reports after the restart", Duration::from_secs(90), async || lib.store.counts().await.unwrap().reports == 20).await;
    let c = lib.store.counts().await.unwrap();
    assert_eq!((c.submissions, c.reports), (20, 20));
    running.stop().await;
    delete_queues(&[queue.clone(), format!("{queue}.dead")]).await;
}

async fn notices_and_receipts_reach_bound_queues_exactly_once(backend: Backend) {
    let _turn = BROKER.lock().await;
    let lib = Lib::on(backend).await;
    let exchange = unique("tongbao.test.notices");
    let notices = unique("tongbao.test.bureau-gd");
    let replies = unique("tongbao.test.replies");
    let conn = broker().await;
    let ch = conn.create_channel().await.unwrap();
    ch.exchange_declare(
        exchange.as_str().into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions { durable: true, ..Default::default() },
        FieldTable::default(),
    )
    .await
    .unwrap();
    for q in [&notices, &replies] {
        ch.queue_declare(q.as_str().into(), QueueDeclareOptions { durable: true, ..Default::default() }, FieldTable::default())
            .await
            .unwrap();
    }
    ch.queue_bind(
        notices.as_str().into(),
        exchange.as_str().into(),
        "notice.*.*.GD".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();

    // A major event arrives on AMQP with a reply queue; a general one creates no notice.
    let mut sub = Submission::by_content(
        Channel::Amqp,
        Sender::AmqpUser("ct-gd".into()),
        serde_json::to_vec(&event("major", "2026-10-01T23:30:00+08:00")).unwrap(),
        "2026-10-02T00:00:00+08:00".parse().unwrap(),
    );
    sub.reply_to = Some(replies.clone());
    sub.correlation_id = Some("corr-42".into());
    let receipt = lib.intake.submit(sub).await.unwrap();
    lib.submit("CT-GD", event("general", "2026-10-01T10:00:00+08:00"), "2026-10-02T00:00:00+08:00").await;

    let (stop, rx) = watch::channel(false);
    let config = sink::SinkConfig { name: "t".into(), url: url(), exchange: exchange.clone(), poll: Duration::from_millis(100) };
    let store = lib.store.clone();
    let running = Running { stop, task: tokio::spawn(sink::run(config, store, rx)) };

    let mut got = Vec::new();
    let mut consumer =
        ch.basic_consume(notices.as_str().into(), "t".into(), BasicConsumeOptions::default(), FieldTable::default()).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(20), consumer.next()).await.expect("a notice").unwrap().unwrap();
    first.ack(BasicAckOptions::default()).await.unwrap();
    got.push(first);
    // Nothing more comes for GD, even after several dispatcher rounds.
    assert!(tokio::time::timeout(Duration::from_secs(2), consumer.next()).await.is_err(), "exactly one notice");
    let n = &got[0];
    assert_eq!(n.routing_key.as_str(), "notice.event.major.GD");
    assert_eq!(n.properties.delivery_mode(), &Some(2));
    let body: serde_json::Value = serde_json::from_slice(&n.data).unwrap();
    assert_eq!(body["report"]["id"], receipt.reports[0].report_id.to_string());
    let outbox_id = lib
        .outbox(tongbao::store::OutboxFilter {
            kind: Some(tongbao::decision::OutboxKind::Notice),
            channel: Some(tongbao::decision::OutboxChannel::Amqp),
            ..Default::default()
        })
        .await[0]
        .id
        .to_string();
    assert_eq!(n.properties.message_id().as_ref().unwrap().as_str(), outbox_id, "message_id is the outbox row id");

    let reply = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(m) = ch.basic_get(replies.as_str().into(), BasicGetOptions { no_ack: true }).await.unwrap() {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("a receipt on the reply queue");
    assert_eq!(reply.delivery.properties.correlation_id().as_ref().unwrap().as_str(), "corr-42");
    let r: serde_json::Value = serde_json::from_slice(&reply.delivery.data).unwrap();
    assert_eq!(r["submission_id"], receipt.submission_id.to_string());

    // The broker drops the sink's connection; the sink reconnects and the next notice still arrives once.
    assert_eq!(close_connections("tongbao-sink-t"), 1);
    lib.submit("CT-GD", event("large", "2026-10-02T09:00:00+08:00"), "2026-10-02T10:00:00+08:00").await;
    let second =
        tokio::time::timeout(Duration::from_secs(30), consumer.next()).await.expect("a notice after reconnecting").unwrap().unwrap();
    second.ack(BasicAckOptions::default()).await.unwrap();
    assert_eq!(second.routing_key.as_str(), "notice.event.large.GD");
    assert!(tokio::time::timeout(Duration::from_secs(2), consumer.next()).await.is_err(), "exactly one");
    running.stop().await;

    let sent = lib.count("SELECT count(*) FROM outbox WHERE status = 'sent'").await;
    assert_eq!(sent, 3);
    for q in [&notices, &replies] {
        ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await.unwrap();
    }
    conn.close(200, "ok".into()).await.unwrap();
}

/// SIGKILL while the hub consumes from RabbitMQ: 3,000 reports published, `tongbao serve` killed
/// with SIGKILL mid-stream and started again; every report ends up stored exactly once (a
/// message is acknowledged only after its commit, so the broker redelivers the rest).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_consuming_from_rabbitmq_loses_nothing_and_stores_nothing_twice() {
    let _turn = BROKER.lock().await;
    python();
    let hub = crate::helpers::Hub::new().with_units();
    let queue = unique("tongbao.test.kill");
    hub.write("tongbao.toml", "[serve]\nlisten = \"127.0.0.1:0\"\n[schedule]\nenabled = false\n");
    hub.write(
        "connectors/mq.toml",
        &format!("kind = \"amqp-source\"\nurl_env = \"TONGBAO_DRILL_AMQP_URL\"\nqueue = \"{queue}\"\nprefetch = 64\n"),
    );
    // SAFETY: set before the hub process is spawned; no other thread reads this variable.
    unsafe { std::env::set_var("TONGBAO_DRILL_AMQP_URL", url()) };
    let (mut server, _) = crate::drills::start_serve(&hub, 1);
    wait_for("the hub's queue", Duration::from_secs(30), async || {
        let conn = broker().await;
        let ch = conn.create_channel().await.unwrap();
        ch.queue_declare(queue.as_str().into(), QueueDeclareOptions { passive: true, ..Default::default() }, FieldTable::default())
            .await
            .is_ok()
    })
    .await;
    const N: usize = 3000;
    let q = queue.clone();
    let publisher = tokio::task::spawn_blocking(move || client(&["publish", "ct-gd", "ct-gd-pass", &q, &N.to_string()]));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().unwrap();
    let _ = server.wait();
    let reports = || hub.report_summaries();
    let before = reports().len();
    assert!(before < N, "the kill came before the stream ended ({before} stored)");
    publisher.await.unwrap();
    let (server, _) = crate::drills::start_serve(&hub, 2);
    wait_for("every report after the restart", Duration::from_secs(120), async || reports().len() >= N).await;
    crate::drills::stop_serve(server);
    let (stored, distinct) = hub.stored_and_distinct();
    assert_eq!((stored, distinct), (N, N), "each of {N} stored once");
    delete_queues(&[queue.clone(), format!("{queue}.dead")]).await;
    eprintln!("drill sigkill/amqp: {N} published, {before} stored when killed, {stored} stored after the restart, 0 lost, 0 twice");
}

/// The standing hostile corpus of AMQP messages (`tests/hostile/amqp-cases.json`, written by
/// `tests/hostile/make_amqp.py`), published by pika as a gateway login that may set any
/// `user_id`: each refused case is dead-lettered with its exact code and place, each other one
/// is stored as CT-GD's report whatever its headers claim, and the good report published after
/// every case goes through.
async fn the_hostile_amqp_corpus_is_answered_case_by_case_and_the_hub_stays_up(backend: Backend) {
    let _turn = BROKER.lock().await;
    python(); // fail now, not after a timeout, when pika is missing
    let lib = Lib::on(backend).await;
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hostile/amqp-cases.json");
    let corpus: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let cases = corpus["cases"].as_array().unwrap();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let queue = unique("tongbao.test.hostile");
    declare_topology(&queue).await;
    let running = start_source(&lib, &unique("hostile"), &queue);
    let q = queue.clone();
    let published = tokio::task::spawn_blocking(move || client(&["corpus", "tongbao-gateway", "gateway-pass", &q, file])).await.unwrap();
    assert_eq!(published["published"], 2 * cases.len());
    let total = 2 * cases.len() as i64;
    wait_for("every message stored", Duration::from_secs(60), async || lib.store.counts().await.unwrap().submissions as i64 == total).await;

    let conn = broker().await;
    let ch = conn.create_channel().await.unwrap();
    let dlq = format!("{queue}.dead");
    let refused: Vec<&serde_json::Value> = cases.iter().filter(|c| c.get("refused").is_some()).collect();
    let mut dead = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while dead.len() < refused.len() && Instant::now() < deadline {
        match ch.basic_get(dlq.as_str().into(), BasicGetOptions { no_ack: true }).await.unwrap() {
            Some(m) => {
                let errors: Vec<serde_json::Value> = serde_json::from_str(&header(&m.delivery.properties, "x-tongbao-errors")).unwrap();
                dead.insert(header(&m.delivery.properties, "x-case"), errors);
            }
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    running.stop().await;
    let mut failures = Vec::new();
    for c in cases {
        let name = c["name"].as_str().unwrap();
        match (c.get("refused"), dead.get(name)) {
            (Some(want), Some(errors)) => {
                let (code, place) = (want["code"].as_str().unwrap(), want["place"].as_str().unwrap());
                let found = errors.iter().any(|e| {
                    e["code"] == code && if place == "第" { e["place"].as_str().unwrap().starts_with(place) } else { e["place"] == place }
                });
                if !found {
                    failures.push(format!("{name}: expected {code} at {place:?}, got {errors:?}"));
                }
            }
            (Some(_), None) => failures.push(format!("{name}: expected a dead letter, none came")),
            (None, Some(errors)) => failures.push(format!("{name}: expected stored, dead-lettered with {errors:?}")),
            (None, None) => {}
        }
    }
    // Every message that was not refused is CT-GD's report, whatever its headers claim.
    let stored =
        (lib.count("SELECT COUNT(*) FROM reports WHERE unit_code = 'CT-GD'").await, lib.count("SELECT COUNT(*) FROM reports").await);
    let accepted = (cases.len() - refused.len()) as i64 + cases.len() as i64;
    assert_eq!(stored, (accepted, accepted), "{failures:#?}");
    assert!(failures.is_empty(), "{} of {} cases answered otherwise:\n{}", failures.len(), cases.len(), failures.join("\n"));
    conn.close(200, "ok".into()).await.unwrap();
    delete_queues(&[queue, dlq]).await;
}

/// The drill of several hubs: three `tongbao serve` processes on one PostgreSQL and one
/// RabbitMQ, 30,000 reports published by pika (each asking for its receipt; every 100th a
/// major event, whose notice goes out on the topic exchange), one hub SIGKILLed mid-stream and
/// started again. Afterwards exactly 30,000 reports are stored; every report's receipt and every
/// notice reached its bound queue, and a message id came twice only for what the killed hub had
/// published and not yet marked sent; the month's reminder job ran once among the three; no AMQP
/// or urgent party row is left unsent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hubs_on_postgres_with_one_killed_mid_stream_store_each_report_once_and_answer_each_once() {
    let _turn = BROKER.lock().await;
    python();
    let db = crate::helpers::FreshDatabase::new().await;
    let hub = crate::helpers::Hub::new();
    let (queue, replies, notices, cncert, exchange) = (
        unique("tongbao.test.cluster"),
        unique("tongbao.test.cluster-replies"),
        unique("tongbao.test.cluster-gd"),
        unique("tongbao.test.cluster-cncert"),
        unique("tongbao.test.cluster-x"),
    );
    hub.write(
        "tongbao.toml",
        "[serve]\nlisten = \"127.0.0.1:0\"\n[store]\nbackend = \"postgres\"\nurl_env = \"TONGBAO_DRILL_PG_URL\"\nlease_seconds = 30\n",
    );
    hub.write(
        "connectors/mq.toml",
        &format!("kind = \"amqp-source\"\nurl_env = \"TONGBAO_DRILL_AMQP_URL\"\nqueue = \"{queue}\"\nprefetch = 64\n"),
    );
    hub.write("connectors/sink.toml", &format!("kind = \"amqp-sink\"\nurl_env = \"TONGBAO_DRILL_AMQP_URL\"\nexchange = \"{exchange}\"\n"));
    // SAFETY: set before the hub processes are spawned; no other thread reads these variables.
    unsafe {
        std::env::set_var("TONGBAO_DRILL_AMQP_URL", url());
        std::env::set_var("TONGBAO_DRILL_PG_URL", &db.url);
    }
    let hub = hub.with_units();
    let conn = broker().await;
    let ch = conn.create_channel().await.unwrap();
    ch.exchange_declare(
        exchange.as_str().into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions { durable: true, ..Default::default() },
        FieldTable::default(),
    )
    .await
    .unwrap();
    for q in [&replies, &notices, &cncert] {
        ch.queue_declare(q.as_str().into(), QueueDeclareOptions { durable: true, ..Default::default() }, FieldTable::default())
            .await
            .unwrap();
    }
    // The units' and CNCERT's systems: what the hub addresses to a party by its AMQP login (CNCERT's copies of notices, reminders).
    ch.queue_bind(cncert.as_str().into(), exchange.as_str().into(), "to.#".into(), QueueBindOptions::default(), FieldTable::default())
        .await
        .unwrap();
    ch.queue_bind(
        notices.as_str().into(),
        exchange.as_str().into(),
        "notice.*.*.GD".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();

    let mut hubs = Hubs((1..=3).map(|n| crate::drills::start_serve(&hub, n).0).collect());
    let store = tongbao::store::open(&tongbao::store::Location::Postgres(tongbao::store::PgLocation {
        url: db.url.clone(),
        pool: 2,
        lease: Duration::from_secs(5),
    }))
    .await
    .unwrap();
    wait_for("the hubs' queue", Duration::from_secs(30), async || {
        let ch = conn.create_channel().await.unwrap();
        ch.queue_declare(queue.as_str().into(), QueueDeclareOptions { passive: true, ..Default::default() }, FieldTable::default())
            .await
            .is_ok()
    })
    .await;
    const N: usize = 30_000;
    let (q, r) = (queue.clone(), replies.clone());
    let publisher = tokio::task::spawn_blocking(move || client(&["drill", "ct-gd", "ct-gd-pass", &q, &N.to_string(), &r]));
    wait_for("the stream to be under way", Duration::from_secs(60), async || store.counts().await.unwrap().reports >= 3_000).await;
    let mut killed = hubs.0.remove(1);
    killed.kill().unwrap();
    let _ = killed.wait();
    let at_kill = store.counts().await.unwrap().reports;
    hubs.0.push(crate::drills::start_serve(&hub, 4).0);
    publisher.await.unwrap();
    assert!((at_kill as usize) < N, "the kill came before the stream ended ({at_kill} stored)");

    wait_for("every report stored", Duration::from_secs(600), async || store.counts().await.unwrap().reports as usize >= N).await;
    // What must have gone out: every AMQP row, and every urgent party row fanned out (the rest
    // wait for the daily batch; mail rows for an SMTP sink these hubs do not have).
    let unsent = async || {
        let pending = |channel| tongbao::store::OutboxFilter {
            channel: Some(channel),
            status: Some("pending".into()),
            limit: 100_000,
            ..Default::default()
        };
        let amqp = store.outbox(&pending(tongbao::decision::OutboxChannel::Amqp)).await.unwrap().len();
        let party = store.outbox(&pending(tongbao::decision::OutboxChannel::Party)).await.unwrap().into_iter().filter(|r| r.urgent).count();
        (amqp, party)
    };
    let mut left = (usize::MAX, usize::MAX);
    let deadline = Instant::now() + Duration::from_secs(300);
    while left != (0, 0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        left = unsent().await;
    }
    let stuck: Vec<_> = store
        .outbox(&tongbao::store::OutboxFilter { status: Some("pending".into()), limit: 20, ..Default::default() })
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.channel == "amqp")
        .map(|r| (r.recipient, r.last_error))
        .collect();
    assert_eq!(left, (0, 0), "AMQP rows and urgent party rows still unsent: {stuck:?}");

    // What reached the bound queues, by message id.
    let mut seen = std::collections::HashMap::<String, (String, usize)>::new();
    for q in [&replies, &notices, &cncert] {
        let ch = conn.create_channel().await.unwrap();
        ch.basic_qos(1000, Default::default()).await.unwrap();
        let mut consumer = ch
            .basic_consume(
                q.as_str().into(),
                "drill".into(),
                BasicConsumeOptions { no_ack: true, ..Default::default() },
                FieldTable::default(),
            )
            .await
            .unwrap();
        while let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_secs(3), consumer.next()).await {
            let id = d.properties.message_id().as_ref().map(|m| m.to_string()).unwrap_or_default();
            let what = d.properties.correlation_id().as_ref().map(|c| c.to_string()).unwrap_or_else(|| d.routing_key.to_string());
            seen.entry(id).or_insert((what, 0)).1 += 1;
        }
    }
    for h in std::mem::take(&mut hubs.0) {
        crate::drills::stop_serve(h);
    }
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.reports as usize, N, "each of {N} reports stored once");
    // At least once, each under its own message id: what the killed hub had published but not
    // yet marked sent (one batch of its AMQP sink, 256 rows at most) goes out again from another
    // hub once its claim lapses, under the same message id, which receivers drop as a repeat.
    // Any other repeat (a claim lapsing while its hub is alive) fails the drill.
    let resent: Vec<_> = seen.iter().filter(|(_, (_, n))| *n > 1).collect();
    assert!(resent.len() <= 256 && resent.iter().all(|(_, (_, n))| *n == 2), "{} message ids delivered more than once", resent.len());
    let answered: std::collections::HashSet<&str> = seen.values().filter(|(w, _)| w.starts_with("c-")).map(|(w, _)| w.as_str()).collect();
    assert_eq!(answered.len(), N, "every report's receipt on the reply queue");
    let notices_seen = seen.values().filter(|(w, _)| w.starts_with("notice.")).count();
    assert_eq!(notices_seen, N / 100, "one notice for each major event");
    let to_cncert = seen.values().filter(|(w, _)| w.starts_with("to.CNCERT.notice")).count();
    assert_eq!(to_cncert, N / 100, "CNCERT's copy of each major event's notice");
    // Jobs: each period's reminder went to each unit once, whichever hub ran it.
    let reminders = store
        .outbox(&tongbao::store::OutboxFilter {
            kind: Some(tongbao::decision::OutboxKind::SummaryReminder),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut keys: Vec<_> = reminders.iter().map(|r| (r.recipient.clone(), r.subject_id.clone())).collect();
    let all = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), all, "a reminder sent twice");
    let receipts_sent = answered.len();
    delete_queues(&[queue.clone(), format!("{queue}.dead"), replies.clone(), notices.clone(), cncert.clone()]).await;
    eprintln!(
        "drill three hubs: {N} published, {at_kill} stored when one hub was killed, {} stored, {receipts_sent} receipts and \
         {notices_seen} notices and {to_cncert} copies to CNCERT each under its own message id ({} of them sent again by \
         another hub under the same id), {all} monthly reminders once each",
        counts.reports,
        resent.len()
    );
}

crate::on_both_backends!(
    multi_thread:
    ten_thousand_reports_with_the_connection_closed_mid_stream_are_stored_exactly_once,
    poison_messages_are_dead_lettered_with_their_reason_while_good_ones_pass,
    the_source_recovers_when_the_broker_cancels_its_consumer,
    the_source_survives_a_broker_restart,
    notices_and_receipts_reach_bound_queues_exactly_once,
    the_hostile_amqp_corpus_is_answered_case_by_case_and_the_hub_stays_up,
    a_forged_user_id_is_refused_and_nothing_is_stored,
);

/// Hub processes, killed when the test ends early, so that a failed drill leaves none running.
struct Hubs(Vec<std::process::Child>);

impl Drop for Hubs {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
