//! majlis: the board portal server. This crate reads settings, wires the actor runtime to the
//! HTTP edge, and implements the command line; `main.rs` only parses arguments and calls it.

pub mod allocator;
pub mod cli;
pub mod config;
pub mod scheduling;
pub mod serve;
pub mod startup;
pub mod telemetry;
