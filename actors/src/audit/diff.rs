//! `Diff`: the changed fields of one audit line, `{"field": {"from": old, "to": new}, …}`, held
//! as the JSON it is written as. A line's hash covers these bytes as they stand in the file, so
//! a diff is written once, straight from typed data, and never rebuilt as a tree to be hashed.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The changed fields of one change, as JSON text.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Diff(Box<RawValue>);

impl Diff {
    /// No field changed: `{}`.
    pub fn none() -> Self {
        Self::of(&serde_json::Map::new())
    }

    /// The diff that `value` serialises to (typed changes, or a `Value` built by hand). Plain
    /// data with string keys always serialises; anything else is logged and recorded as `{}`.
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Self {
        match serde_json::value::to_raw_value(value) {
            Ok(raw) => Self(raw),
            Err(err) => {
                tracing::error!(error = %err, "an audit diff did not serialise");
                Self::none()
            }
        }
    }

    /// The JSON text, as it is written.
    pub fn as_raw(&self) -> &RawValue {
        &self.0
    }

    /// The diff as a tree, for reading its fields.
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(self.0.get()).unwrap_or(serde_json::Value::Null)
    }
}

impl From<serde_json::Value> for Diff {
    fn from(value: serde_json::Value) -> Self {
        Self::of(&value)
    }
}

/// Two diffs are equal when they are the same JSON value (not only the same text).
impl PartialEq for Diff {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get() || self.value() == other.value()
    }
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.get())
    }
}

/// One field's change, `{"from": …, "to": …}`.
#[derive(Debug, Serialize)]
pub struct FromTo<A, B> {
    pub from: A,
    pub to: B,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_is_written_as_it_was_built() {
        let diff = Diff::of(&serde_json::json!({"name": {"from": null, "to": "Ann"}}));
        assert_eq!(diff.to_string(), r#"{"name":{"from":null,"to":"Ann"}}"#);
        assert_eq!(Diff::none().to_string(), "{}");
        let typed = Diff::of(&FromTo { from: 1, to: 2 });
        assert_eq!(typed.to_string(), r#"{"from":1,"to":2}"#);
    }

    #[test]
    fn a_diff_reads_back_byte_for_byte_and_compares_by_value() {
        let text = r#"{"z":1,"a":{"to":2,"from":1}}"#;
        let diff: Diff = serde_json::from_str(text).expect("parses");
        assert_eq!(serde_json::to_string(&diff).expect("writes"), text);
        let sorted = Diff::of(&serde_json::json!({"a": {"from": 1, "to": 2}, "z": 1}));
        assert_eq!(diff, sorted, "the same value in another key order");
        assert_ne!(diff, Diff::none());
        assert_eq!(diff.value()["a"]["to"], 2);
    }
}
