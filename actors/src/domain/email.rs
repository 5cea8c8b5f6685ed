//! `Email`: a mailbox address, lower-cased and checked by a real parser.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use super::ParseError;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let trimmed = raw.trim();
        let bad = || ParseError::new("email", "is not a valid email address");
        if trimmed.len() > 254
            || !trimmed.contains('.')
            || trimmed
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '<')
        {
            return Err(bad());
        }
        let parsed = email_address::EmailAddress::from_str(trimmed).map_err(|_| bad())?;
        // A display name ("Ann <ann@x.om>") is not an address.
        if parsed.as_str() != trimmed {
            return Err(bad());
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Email::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_cases_and_trims() {
        let email = Email::parse("  Ann.Board@Example.OM ").expect("valid");
        assert_eq!(email.as_str(), "ann.board@example.om");
    }

    #[test]
    fn refuses_non_addresses() {
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.om",
            "ann@@x.om",
            "Ann <ann@x.om>",
            "a b@x.om",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
