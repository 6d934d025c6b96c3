//! Integration tests: the real binary, the real store, real files; one binary, one module per area.

mod amqp;
mod cli;
mod console;
mod corpus;
mod delivery;
mod drills;
mod forms;
mod helpers;
mod http;
mod instances;
mod intake;
mod january;
mod mail;
mod schedule;
mod serve;
mod store;
mod tidy;
