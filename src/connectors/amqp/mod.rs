//! AMQP (RabbitMQ): the source that consumes reports and the sink that publishes notices and receipts. Only this folder knows lapin.
//!
//! Message contract: see `schemas/amqp.md`.

pub mod bench;
pub mod sink;
pub mod source;

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Connection, ConnectionProperties};
use std::time::Duration;

/// Connects with a name that shows in the broker's management UI and `rabbitmqctl list_connections`.
pub(crate) async fn connect(url: &str, name: &str) -> lapin::Result<Connection> {
    let props = ConnectionProperties::default().with_connection_name(LongString::from(name.to_string()));
    Connection::connect(url, props).await
}

/// Backoff between reconnection attempts: 0.5 s doubling to 30 s.
pub(crate) struct Backoff(Duration);

impl Backoff {
    pub fn new() -> Backoff {
        Backoff(Duration::from_millis(500))
    }
    pub fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(30));
        d
    }
    pub fn reset(&mut self) {
        self.0 = Duration::from_millis(500);
    }

    /// After a lost connection: logs why, then waits the next backoff step or until shutdown.
    pub async fn wait_after(&mut self, connector: &str, role: &str, error: &str, shutdown: &mut tokio::sync::watch::Receiver<bool>) {
        let wait = self.next();
        tracing::warn!(connector, error, retry_in_ms = wait.as_millis() as u64, "AMQP {role} disconnected; reconnecting");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}

pub(crate) fn header(table: &mut FieldTable, key: &str, value: impl Into<String>) {
    table.insert(ShortString::from(key), AMQPValue::LongString(LongString::from(value.into())));
}

pub(crate) fn short(s: &ShortString) -> String {
    s.as_str().to_string()
}
