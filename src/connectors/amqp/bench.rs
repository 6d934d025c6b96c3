//! `tongbao bench amqp`: the hub's sustained ingest from RabbitMQ against a bare lapin consume-and-ack of the same messages.

use super::source::{self, SourceConfig};
use crate::intake::Intake;
use crate::store::Store;
use futures_util::StreamExt;
use lapin::BasicProperties;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Publishes `bodies` persistently to `queue` as `user` (the AMQP login), with confirms;
/// message ids are `bench-<run>-<index>`, distinct per message.
async fn publish(url: &str, queue: &str, user: &str, run_id: &str, bodies: &[Vec<u8>]) -> anyhow::Result<()> {
    let conn = super::connect(url, "tongbao-bench-publisher").await?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    for (c, chunk) in bodies.chunks(1000).enumerate() {
        let mut confirms = Vec::with_capacity(chunk.len());
        for (i, body) in chunk.iter().enumerate() {
            let props = BasicProperties::default()
                .with_delivery_mode(2)
                .with_user_id(user.into())
                .with_message_id(format!("bench-{run_id}-{}", c * 1000 + i).into())
                .with_content_type("application/json".into());
            confirms.push(ch.basic_publish("".into(), queue.into(), BasicPublishOptions::default(), body, props).await?);
        }
        for c in confirms {
            c.await?;
        }
    }
    conn.close(200, "done".into()).await?;
    Ok(())
}

/// Consumes `n` messages from `queue` with nothing else to do, acknowledging every
/// `ack_every`-th delivery with `multiple`; returns the seconds it took.
async fn drain(conn: &lapin::Connection, queue: &str, n: usize, prefetch: u16, ack_every: usize) -> anyhow::Result<f64> {
    let channel = conn.create_channel().await?;
    channel.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let mut consumer = channel.basic_consume(queue.into(), "bare".into(), BasicConsumeOptions::default(), FieldTable::default()).await?;
    let started = Instant::now();
    for got in 1..=n {
        let d = tokio::time::timeout(Duration::from_secs(60), consumer.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("bare consumer ended"))??;
        if got % ack_every == 0 || got == n {
            channel.basic_ack(d.delivery_tag, BasicAckOptions { multiple: ack_every > 1 }).await?;
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Runs both consumers over `bodies` and returns the figures.
pub async fn run<S: Store>(
    url: &str,
    user: &str,
    bodies: Vec<Vec<u8>>,
    prefetch: u16,
    intakes: Vec<Intake>,
    store: Arc<S>,
) -> anyhow::Result<serde_json::Value> {
    let n = bodies.len();
    let run_id = uuid::Uuid::now_v7().simple().to_string();
    let bare_q = format!("tongbao.bench.bare.{run_id}");
    let batched_q = format!("tongbao.bench.batched.{run_id}");
    let hub_q = format!("tongbao.bench.hub.{run_id}");
    let hub_bodies = bodies.clone();
    let setup = super::connect(url, "tongbao-bench-setup").await?;
    let ch = setup.create_channel().await?;
    for q in [&bare_q, &batched_q, &hub_q] {
        let cfg = SourceConfig { name: "bench".into(), url: url.into(), queue: q.clone(), prefetch };
        source::declare_topology(&ch, &cfg).await?;
    }
    let started = Instant::now();
    publish(url, &bare_q, user, &run_id, &bodies).await?;
    publish(url, &batched_q, user, &run_id, &bodies).await?;
    publish(url, &hub_q, user, &run_id, &hub_bodies).await?;
    let publish_s = started.elapsed().as_secs_f64();

    // 1. Bare lapin: consume and ack each message, nothing else; then at its fastest, acking
    //    with `multiple` every 64 deliveries.
    let conn = super::connect(url, "tongbao-bench-bare").await?;
    let bare_s = drain(&conn, &bare_q, n, prefetch, 1).await?;
    let batched_s = drain(&conn, &batched_q, n, prefetch, 64).await?;
    conn.close(200, "done".into()).await?;

    // 2. The hub: consume → intake → commit → ack (multiple), until every message is stored.
    let before = store.counts().await?.submissions;
    let (stop, rx) = watch::channel(false);
    let cfg = SourceConfig { name: "bench".into(), url: url.into(), queue: hub_q.clone(), prefetch };
    let started = Instant::now();
    // One source a hub, competing for the queue's messages as instances on other machines would.
    let tasks: Vec<_> = intakes.into_iter().map(|intake| tokio::spawn(source::run(cfg.clone(), intake, rx.clone()))).collect();
    loop {
        let stored = store.counts().await?.submissions - before;
        if stored as usize >= n {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "hub stored only {stored} of {n} in 600 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let hub_s = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    for task in tasks {
        task.await?;
    }

    for q in [&bare_q, &batched_q, &hub_q] {
        let _ = ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await;
        let _ = ch.queue_delete(format!("{q}.dead").as_str().into(), QueueDeleteOptions::default()).await;
    }
    setup.close(200, "done".into()).await?;
    Ok(serde_json::json!({
        "n": n, "prefetch": prefetch, "publish_both_s": publish_s,
        "bare_s": bare_s, "bare_per_s": n as f64 / bare_s,
        "bare_batched_s": batched_s, "bare_batched_per_s": n as f64 / batched_s,
        "hub_s": hub_s, "hub_per_s": n as f64 / hub_s,
        "hub_vs_bare": bare_s / hub_s,
        "hub_vs_bare_batched": batched_s / hub_s,
    }))
}
