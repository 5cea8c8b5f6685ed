//! `--server-env KEY=VALUE`: a `MAJLIS_` setting for every server the harness starts, parsed
//! once, so that a run can measure the server with a setting changed (snapshots held off, say).

use std::fmt;
use std::str::FromStr;

use crate::server::is_harness_setting;

/// One `MAJLIS_KEY=value` for the servers the harness starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSetting {
    key: String,
    value: String,
}

impl ServerSetting {
    pub fn key(&self) -> &str {
        &self.key
    }
    pub fn value(&self) -> &str {
        &self.value
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("expected KEY=VALUE, as in MAJLIS_SNAPSHOT_EVERY=100000000")]
    NoEquals,
    #[error("{0}: only MAJLIS_ settings (capital letters, digits and _) reach the server")]
    NotMajlis(String),
    #[error("{0} is set by the harness itself, for its scenarios")]
    HarnessOwn(String),
}

impl FromStr for ServerSetting {
    type Err = SettingError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (key, value) = text.split_once('=').ok_or(SettingError::NoEquals)?;
        let name = key.strip_prefix("MAJLIS_").unwrap_or_default();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(SettingError::NotMajlis(key.to_owned()));
        }
        if is_harness_setting(key) {
            return Err(SettingError::HarnessOwn(key.to_owned()));
        }
        Ok(Self {
            key: key.to_owned(),
            value: value.to_owned(),
        })
    }
}

impl fmt::Display for ServerSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_majlis_setting_is_taken_whole() {
        let setting: ServerSetting = "MAJLIS_SNAPSHOT_EVERY=100000000".parse().expect("setting");
        assert_eq!(
            (setting.key(), setting.value()),
            ("MAJLIS_SNAPSHOT_EVERY", "100000000")
        );
        let with_equals: ServerSetting =
            "MAJLIS_PUBLIC_URL=http://x/?a=b".parse().expect("setting");
        assert_eq!(with_equals.value(), "http://x/?a=b");
        assert_eq!(with_equals.to_string(), "MAJLIS_PUBLIC_URL=http://x/?a=b");
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        let refused = |text: &str| text.parse::<ServerSetting>().expect_err(text);
        assert_eq!(refused("MAJLIS_SNAPSHOT_EVERY"), SettingError::NoEquals);
        for key in [
            "SNAPSHOT_EVERY",
            "MAJLIS_",
            "majlis_log",
            "MAJLIS_snapshot",
            "MAJLIS_A-B",
        ] {
            assert_eq!(
                refused(&format!("{key}=1")),
                SettingError::NotMajlis(key.to_owned())
            );
        }
        for key in [
            "MAJLIS_DATA_DIR",
            "MAJLIS_BIND",
            "MAJLIS_IDLE_SECS",
            "MAJLIS_SMTP_HOST",
            "MAJLIS_SMTP_PASSWORD",
        ] {
            assert_eq!(
                refused(&format!("{key}=1")),
                SettingError::HarnessOwn(key.to_owned())
            );
        }
    }
}
