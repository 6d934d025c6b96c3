//! tongbao: the hub that takes network-security reports from every channel, grades them, and keeps the regulations' clocks.

pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connectors;
pub mod decision;
pub mod digest;
pub mod fanout;
pub mod forms;
pub mod intake;
pub mod metrics;
pub mod model;
pub mod rules;
pub mod schedule;
pub mod schemas;
pub mod serve;
pub mod store;
pub mod templates;
