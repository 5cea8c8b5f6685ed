//! The routes, grouped by who may call them.

pub mod admin;
mod answer;
pub mod auth;
pub mod documents;
mod meeting_json;
pub mod public;
pub mod records;
pub mod tenant;
pub mod workspace;
