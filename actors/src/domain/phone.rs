//! `Phone`: an E.164 phone number (`+` and 7 to 15 digits).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use super::ParseError;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Accepts `+96891234567`; spaces, dashes and parentheses people type are dropped first.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
            .collect();
        let digits = compact.strip_prefix('+').unwrap_or("");
        let ok = (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(compact))
        } else {
            Err(ParseError::new(
                "phone",
                "must be an E.164 number such as +96891234567",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Phone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Phone::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_typed_numbers() {
        let phone = Phone::parse("+968 9123-4567").expect("valid");
        assert_eq!(phone.as_str(), "+96891234567");
    }

    #[test]
    fn refuses_non_e164() {
        for bad in [
            "",
            "91234567",
            "+0123456789",
            "+12",
            "+1234567890123456",
            "+9689a234567",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
