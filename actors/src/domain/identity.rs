//! `Identity`: what a person signs in with, an email or an E.164 phone; and `OtpCode`.

use std::fmt;

use super::{Email, ParseError, Phone};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    Email(Email),
    Phone(Phone),
}

impl Identity {
    /// An email when it has an `@`, otherwise a phone number.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if raw.contains('@') {
            Email::parse(raw).map(Identity::Email)
        } else {
            Phone::parse(raw).map(Identity::Phone).map_err(|_| {
                ParseError::new("identity", "must be an email or an E.164 phone number")
            })
        }
    }

    /// The key under which members, lockouts and flows are found: `email:…` or `phone:…`.
    pub fn key(&self) -> String {
        match self {
            Identity::Email(e) => format!("email:{e}"),
            Identity::Phone(p) => format!("phone:{p}"),
        }
    }

    /// For the audit trail: enough to recognise, not enough to harvest.
    pub fn masked(&self) -> String {
        fn mask(s: &str) -> String {
            let mut chars = s.chars();
            let first: String = chars.next().into_iter().collect();
            format!("{first}***")
        }
        match self {
            Identity::Email(e) => {
                let (local, domain) = e.as_str().split_once('@').unwrap_or((e.as_str(), ""));
                format!("{}@{domain}", mask(local))
            }
            Identity::Phone(p) => {
                let digits = p.as_str();
                let tail = &digits[digits.len().saturating_sub(3)..];
                format!("+***{tail}")
            }
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// A one-time code as typed: exactly six digits.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

impl OtpCode {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let trimmed = raw.trim();
        if trimmed.len() == 6 && trimmed.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(ParseError::new(
                "code",
                "must be the 6 digits that were sent",
            ))
        }
    }

    /// Six digits from the operating system's random source.
    pub fn generate() -> Self {
        use rand::TryRngCore;
        let mut bytes = [0u8; 4];
        // The OS source failing is not recoverable; a code must never be predictable.
        #[allow(clippy::expect_used)]
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .expect("the operating system's random source failed");
        Self(format!("{:06}", u32::from_le_bytes(bytes) % 1_000_000))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode(******)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_phones_are_told_apart() {
        assert_eq!(
            Identity::parse("Ann@X.om").expect("email").key(),
            "email:ann@x.om"
        );
        assert_eq!(
            Identity::parse("+968 9123 4567").expect("phone").key(),
            "phone:+96891234567"
        );
        assert!(Identity::parse("ann").is_err());
    }

    #[test]
    fn masking_keeps_little() {
        let email = Identity::parse("ann@acme.om").expect("email");
        assert_eq!(email.masked(), "a***@acme.om");
        let phone = Identity::parse("+96891234567").expect("phone");
        assert_eq!(phone.masked(), "+***567");
    }

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..100 {
            let code = OtpCode::generate();
            assert!(OtpCode::parse(code.as_str()).is_ok());
        }
        assert!(OtpCode::parse("12345").is_err());
        assert!(OtpCode::parse("12345a").is_err());
        assert!(
            !format!("{:?}", OtpCode::generate())
                .chars()
                .any(|c| c.is_ascii_digit())
        );
    }
}
