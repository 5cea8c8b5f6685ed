//! `Slug`: the name of a tenant and of its directory under `tenants/`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use super::ParseError;

/// A tenant slug: `^[a-z0-9][a-z0-9-]{1,62}$`. Because only these characters pass, a slug joined
/// to the data root can never climb out of it or name an absolute path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let bytes = raw.as_bytes();
        let len_ok = (2..=63).contains(&bytes.len());
        let first_ok = bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let rest_ok = bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if len_ok && first_ok && rest_ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ParseError::new(
                "slug",
                "must be 2 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Slug {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Slug::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_slugs() {
        for ok in ["acme", "ofc", "a1", "board-of-directors", &"a".repeat(63)] {
            assert!(Slug::parse(ok).is_ok(), "{ok} should pass");
        }
    }

    #[test]
    fn refuses_anything_that_could_become_a_path() {
        let long = "a".repeat(64);
        for bad in [
            "", "a", "..", "../etc", "a/b", "/abs", "Acme", "-acme", "acme_", "acmé", "a b", "a.b",
            &long,
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
