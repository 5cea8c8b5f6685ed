//! majlis-load: drives a real majlis server with the scenarios operators size machines with,
//! measures each against the same machine's ceilings (a static HTTP document, fdatasync of small
//! appends), and reads back every acknowledged write before it reports success.

pub mod ceilings;
pub mod chaos;
pub mod client;
pub mod cpu;
pub mod curve;
pub mod driver;
pub mod extra;
pub mod lanes;
pub mod login;
pub mod mailbox;
pub mod pin;
pub mod plot;
pub mod progress;
pub mod recovery;
pub mod report;
pub mod scenarios;
pub mod server;
pub mod server_settings;
pub mod tail;
pub mod verify;
pub mod writes;

pub use report::ScenarioReport;
pub use scenarios::{Options, Scenario, run};
