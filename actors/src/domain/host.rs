//! `HostName`: the `Host` header of a request, normalised for the tenant lookup.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use super::ParseError;

/// Lower-cased, without port and trailing dot; only characters a DNS name may hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct HostName(String);

impl HostName {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let bad = || ParseError::new("host", "is not a host name");
        let raw = raw.trim();
        // `[::1]:8080` keeps its brackets; `name:port` loses the port.
        let without_port = if raw.starts_with('[') {
            raw.split_once(']').map(|(h, _)| &h[1..]).ok_or_else(bad)?
        } else {
            raw.rsplit_once(':').map_or(raw, |(h, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    h
                } else {
                    raw
                }
            })
        };
        let name = without_port.trim_end_matches('.').to_ascii_lowercase();
        let ok = !name.is_empty()
            && name.len() <= 253
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':'));
        if ok { Ok(Self(name)) } else { Err(bad()) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for HostName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        HostName::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_port_case_and_trailing_dot() {
        let host = HostName::parse("Acme.Majlis.Example.:8443").expect("valid");
        assert_eq!(host.as_str(), "acme.majlis.example");
        assert_eq!(HostName::parse("[::1]:80").expect("valid").as_str(), "::1");
    }

    #[test]
    fn refuses_garbage() {
        for bad in ["", "a/b", "a b", "évil.om", "x\r\ny"] {
            assert!(HostName::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
