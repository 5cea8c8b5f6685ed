//! `Principal`: who asked for a change, as written in the `actor` field of an audit line.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::MemberId;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// The holder of the operator token.
    Operator,
    /// The server itself (recovery, scheduled work).
    System,
    /// Somebody not signed in (a sign-in attempt).
    Anonymous,
    /// An API key, by its id.
    ApiKey(String),
    Member(MemberId),
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Operator => f.write_str("operator"),
            Principal::System => f.write_str("system"),
            Principal::Anonymous => f.write_str("anonymous"),
            Principal::ApiKey(id) => f.write_str(id),
            Principal::Member(id) => f.write_str(id.as_str()),
        }
    }
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        match raw.as_str() {
            "operator" => Ok(Principal::Operator),
            "system" => Ok(Principal::System),
            "anonymous" => Ok(Principal::Anonymous),
            key if key.starts_with("k_") => Ok(Principal::ApiKey(key.to_owned())),
            other => MemberId::parse(other)
                .map(Principal::Member)
                .map_err(serde::de::Error::custom),
        }
    }
}
