//! tongbao: the hub that takes network-security reports from every channel, grades them, and keeps the regulations' clocks.

pub mod model;
pub mod rules;
pub mod intake;
pub mod store;
pub mod bench;
pub mod cli;
pub mod config;
pub mod forms;
pub mod connectors;
pub mod schemas;
pub mod serve;
