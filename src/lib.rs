//! tongbao: the hub that takes network-security reports from every channel, grades them, and keeps the regulations' clocks.

pub mod model;
pub mod rules;
pub mod intake;
pub mod store;
