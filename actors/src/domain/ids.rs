//! Record identifiers: a short type prefix and 80 random bits, so ids never collide or leak counts.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize};

use super::ParseError;

const RANDOM_HEX_LEN: usize = 20;

fn random_suffix() -> String {
    let bytes: [u8; RANDOM_HEX_LEN / 2] = rand::rng().random();
    hex::encode(bytes)
}

fn well_formed(raw: &str, prefix: &str) -> bool {
    raw.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == RANDOM_HEX_LEN
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// A member of a tenant: `m_` followed by 20 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct MemberId(String);

impl MemberId {
    const PREFIX: &'static str = "m_";

    pub fn generate() -> Self {
        Self(format!("{}{}", Self::PREFIX, random_suffix()))
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if well_formed(raw, Self::PREFIX) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ParseError::new("id", "is not a member id"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MemberId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        MemberId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        let id = MemberId::generate();
        assert_eq!(MemberId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn refuses_foreign_shapes() {
        for bad in [
            "",
            "m_",
            "m_xyz",
            "k_0123456789abcdef0123",
            "m_0123456789ABCDEF0123",
        ] {
            assert!(MemberId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
