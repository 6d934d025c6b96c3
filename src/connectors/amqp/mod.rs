//! AMQP (RabbitMQ): the source that consumes reports and the sink that publishes notices and receipts. Only this folder knows lapin.
//!
//! Message contract: see `schemas/amqp.md`.

pub mod bench;
pub mod sink;
pub mod source;

pub(crate) use super::Backoff;

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Connection, ConnectionProperties};

/// Connects with a name that shows in the broker's management UI and `rabbitmqctl list_connections`.
pub(crate) async fn connect(url: &str, name: &str) -> lapin::Result<Connection> {
    let props = ConnectionProperties::default().with_connection_name(LongString::from(name.to_string()));
    Connection::connect(url, props).await
}

pub(crate) fn header(table: &mut FieldTable, key: &str, value: impl Into<String>) {
    table.insert(ShortString::from(key), AMQPValue::LongString(LongString::from(value.into())));
}

pub(crate) fn short(s: &ShortString) -> String {
    s.as_str().to_string()
}
