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

/// A member of a tenant: `m_` followed by 20 lower-case hex digits. Held inline (no allocation,
/// no pointer to follow when compared), so the member maps of a large tenant stay cheap to search.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId([u8; MemberId::LEN]);

impl MemberId {
    const PREFIX: &'static str = "m_";
    const LEN: usize = Self::PREFIX.len() + RANDOM_HEX_LEN;

    pub fn generate() -> Self {
        let mut bytes = [0u8; Self::LEN];
        bytes[..Self::PREFIX.len()].copy_from_slice(Self::PREFIX.as_bytes());
        bytes[Self::PREFIX.len()..].copy_from_slice(random_suffix().as_bytes());
        Self(bytes)
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if well_formed(raw, Self::PREFIX)
            && let Ok(bytes) = <[u8; Self::LEN]>::try_from(raw.as_bytes())
        {
            Ok(Self(bytes))
        } else {
            Err(ParseError::new("id", "is not a member id"))
        }
    }

    pub fn as_str(&self) -> &str {
        // Only `generate` and `parse` make one, both from ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MemberId").field(&self.as_str()).finish()
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MemberId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MemberId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
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
    fn orders_and_shows_like_its_text() {
        let mut ids: Vec<MemberId> = (0..50).map(|_| MemberId::generate()).collect();
        ids.sort();
        let texts: Vec<&str> = ids.iter().map(MemberId::as_str).collect();
        assert!(texts.is_sorted());
        let id = ids[0];
        assert_eq!(format!("{id}"), id.as_str());
        assert_eq!(format!("{id:?}"), format!("MemberId({:?})", id.as_str()));
        let json = serde_json::to_string(&id).expect("json");
        assert_eq!(json, format!("\"{}\"", id.as_str()));
        assert_eq!(serde_json::from_str::<MemberId>(&json).expect("parse"), id);
        assert!(serde_json::from_str::<MemberId>("\"m_0123\"").is_err());
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
