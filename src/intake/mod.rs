//! Intake: turns a submission into canonical reports, grades them, derives obligations, and commits it all at once.

pub mod json;
