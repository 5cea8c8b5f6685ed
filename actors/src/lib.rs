//! majlis-actors: the supervision tree, the tenant manager, the tenant actor that owns its
//! directory, its durable store (journal, snapshots, recovery) and its child actors.

pub mod audit;
pub mod catalog;
pub mod children;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod manager;
pub mod runtime;
pub mod store;
pub mod supervision;
pub mod tenant;

pub use clock::Clock;
pub use config::{Mode, RuntimeConfig};
pub use error::TenantError;
pub use runtime::{ManagerHandle, Runtime, StartError};
