//! What can be asked of a tenant (`Request`), what it answers (`Reply`), and the decision a
//! request leads to: an answer from memory, or a change that becomes one journal record.

use std::collections::BTreeMap;
use std::net::IpAddr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::auth::{Access, Credential};
use super::state::{ApiKey, Channel, Features, KeyScope, Member, Op, TenantMeta, TenantStatus};
use crate::audit::{AuditEntry, AuditFacts, AuditLine, Diff, FromTo};
use crate::catalog::{Action, Catalog, Plan, RoleMatrix};
use crate::domain::{
    Email, HostName, Identity, MemberId, OtpCode, ParseError, Phone, Principal, Slug,
};
use crate::error::TenantError;
use crate::store::Sequenced;

/// Who is asking and from where; carried by every request into the audit trail.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub credential: Credential,
    pub ip: Option<IpAddr>,
    pub request_id: Option<String>,
}

impl RequestCtx {
    /// The server acting on its own (offline commands, tests).
    pub fn system() -> Self {
        Self {
            credential: Credential::OperatorAdmin,
            ip: None,
            request_id: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewTenant {
    pub slug: Slug,
    pub name: String,
    pub plan: Plan,
    pub sector: String,
    pub sub_sector: Option<String>,
    pub hosts: Vec<HostName>,
    /// IANA time zone; `Asia/Muscat` when not given.
    pub timezone: Option<String>,
}

impl NewTenant {
    /// Checks what the types cannot: the name, the time zone, and the sector against the catalog.
    pub fn validate(&self) -> Result<(), ParseError> {
        check_name(&self.name)?;
        if let Some(zone) = &self.timezone
            && jiff::tz::TimeZone::get(zone).is_err()
        {
            return Err(ParseError {
                field: "timezone",
                reason: format!("unknown IANA time zone '{zone}'"),
            });
        }
        Catalog::get().check_sector(&self.sector, self.sub_sector.as_deref())
    }
}

#[derive(Debug, Clone)]
pub struct NewMember {
    pub name: String,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub role: String,
}

/// A change to a member; `None` leaves a field as it is, `Some(None)` clears a contact.
#[derive(Debug, Clone, Default)]
pub struct MemberPatch {
    pub name: Option<String>,
    pub email: Option<Option<Email>>,
    pub phone: Option<Option<Phone>>,
    pub role: Option<String>,
}

/// Filters of the audit trail; `after` is the last seq of the previous page.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub module: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub after: Option<u64>,
    pub limit: usize,
}

#[derive(Debug)]
pub enum Request {
    /// What a sign-in page shows: no secrets, no members.
    PublicFace,
    OtpRequest {
        identity: Identity,
        channel: Channel,
    },
    OtpVerify {
        flow_id: String,
        code: OtpCode,
    },
    MagicRequest {
        email: Email,
    },
    MagicVerify {
        token: String,
    },
    Logout,
    Me,
    ListMembers,
    AddMember(NewMember),
    UpdateMember {
        id: MemberId,
        patch: MemberPatch,
    },
    SetMemberActive {
        id: MemberId,
        active: bool,
    },
    RevokeSessions {
        id: MemberId,
    },
    GetRoles,
    PutRoles(RoleMatrix),
    GetFeatures,
    PutFeatures(Features),
    ListKeys,
    CreateKey {
        name: String,
        scope: KeyScope,
    },
    RotateKey {
        id: String,
    },
    DeleteKey {
        id: String,
    },
    Audit(AuditQuery),
    AuditExport(AuditQuery),
    SetStatus(TenantStatus),
    Workspace(super::workspace::WorkspaceRequest),
}

impl Request {
    /// What the caller needs for this request. Every variant is listed: deny by default.
    pub fn access(&self) -> Access {
        use Action::{Create, Delete, Read, Update};
        match self {
            Request::PublicFace
            | Request::OtpRequest { .. }
            | Request::OtpVerify { .. }
            | Request::MagicRequest { .. }
            | Request::MagicVerify { .. } => Access::Public,
            Request::Logout | Request::Me => Access::Signed,
            Request::ListMembers => Access::Perm("members", Read),
            Request::AddMember(_) => Access::Perm("members", Create),
            Request::UpdateMember { .. }
            | Request::SetMemberActive { .. }
            | Request::RevokeSessions { .. } => Access::Perm("members", Update),
            Request::GetRoles => Access::Perm("roles", Read),
            Request::PutRoles(_) => Access::Perm("roles", Update),
            Request::GetFeatures => Access::Perm("settings", Read),
            Request::PutFeatures(_) => Access::Perm("settings", Update),
            Request::ListKeys => Access::Perm("api_keys", Read),
            Request::CreateKey { .. } => Access::Perm("api_keys", Create),
            Request::RotateKey { .. } => Access::Perm("api_keys", Update),
            Request::DeleteKey { .. } => Access::Perm("api_keys", Delete),
            Request::Audit(_) => Access::Perm("audit", Read),
            Request::AuditExport(_) => Access::Perm("audit_export", Read),
            Request::SetStatus(_) => Access::OperatorAdmin,
            Request::Workspace(request) => request.access(),
        }
    }

    /// The module a request reads or changes, for the operator-access audit line.
    pub fn module(&self) -> &'static str {
        match self.access() {
            Access::Perm(module, _) => module,
            _ => "tenant",
        }
    }
}

/// The public face of a tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantFace {
    pub slug: Slug,
    pub name: String,
    pub sector: String,
    pub sub_sector: Option<String>,
    pub plan: Plan,
}

/// `GET /api/me`.
#[derive(Debug, Clone)]
pub struct MeView {
    pub member: Member,
    pub tenant: TenantFace,
    /// Modules this member can see: available to the tenant and readable by the role.
    pub modules: Vec<String>,
    pub via_key: bool,
}

#[derive(Debug)]
pub enum Reply {
    Face(TenantFace),
    Members(Vec<std::sync::Arc<Member>>),
    Member(std::sync::Arc<Member>),
    Meta(TenantMeta),
    Me(Box<MeView>),
    Flow {
        flow_id: String,
    },
    SignedIn {
        token: String,
        member: Member,
    },
    Done,
    Roles(RoleMatrix),
    Features(Features),
    Keys(Vec<ApiKey>),
    KeyIssued {
        key: ApiKey,
        secret: String,
    },
    AuditPage {
        lines: Vec<AuditLine>,
        next: Option<u64>,
    },
    Workspace(super::workspace::WorkspaceReply),
}

/// One line of `journal.jsonl`: the audit facts and the op itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalRecord {
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Principal,
    pub ip: Option<String>,
    pub action: String,
    pub module: String,
    pub target: String,
    pub diff: Diff,
    pub op: Op,
}

impl Sequenced for JournalRecord {
    fn seq(&self) -> u64 {
        self.seq
    }
}

impl JournalRecord {
    /// The audit facts of this record.
    fn facts(&self) -> AuditFacts<'_> {
        AuditFacts {
            seq: self.seq,
            at: &self.at,
            actor: &self.actor,
            ip: &self.ip,
            action: &self.action,
            module: &self.module,
            target: &self.target,
            diff: &self.diff,
        }
    }

    /// Appends this record's journal line (without its newline) to `out` and answers its audit
    /// entry: the line opens with the audit facts, so they are serialised once for both files.
    pub fn write_line(&self, out: &mut Vec<u8>) -> Result<AuditEntry, serde_json::Error> {
        let start = out.len();
        self.facts().write_head(out);
        let entry = AuditEntry::from_head(self.seq, &out[start..]);
        out.extend_from_slice(b",\"op\":");
        serde_json::to_writer(&mut *out, &self.op)?;
        out.push(b'}');
        Ok(entry)
    }

    pub fn audit_entry(&self) -> AuditEntry {
        AuditEntry::new(&self.facts())
    }
}

/// A write before it has a sequence number and a time.
#[derive(Debug)]
pub struct Change {
    pub action: &'static str,
    pub module: &'static str,
    pub target: String,
    pub diff: Diff,
    pub op: Op,
}

impl Change {
    pub fn into_record(
        self,
        seq: u64,
        at: Timestamp,
        actor: Principal,
        ip: Option<IpAddr>,
    ) -> JournalRecord {
        JournalRecord {
            seq,
            at,
            actor,
            ip: ip.map(|ip| ip.to_string()),
            action: self.action.to_owned(),
            module: self.module.to_owned(),
            target: self.target,
            diff: self.diff,
            op: self.op,
        }
    }

    pub(super) fn audit_only(action: &'static str, module: &'static str, target: String) -> Self {
        Change {
            action,
            module,
            target,
            diff: Diff::none(),
            op: Op::Accessed,
        }
    }
}

/// Work to do once the change is durable.
#[derive(Debug)]
pub enum Effect {
    /// Send a sign-in code or link to a member.
    Deliver {
        member: Member,
        channel: Channel,
        secret: Secret,
    },
}

/// What is sent: a code to type, or a link to follow.
#[derive(Debug)]
pub enum Secret {
    Code(OtpCode),
    MagicToken(String),
}

/// The outcome of a request: an optional journaled change, the answer (which may be an error
/// that must still be recorded, like a wrong code), and work for after the flush.
#[derive(Debug)]
pub struct Decision {
    pub change: Option<Change>,
    pub reply: Result<Reply, TenantError>,
    pub effect: Option<Effect>,
}

impl Decision {
    pub(super) fn read(reply: Reply) -> Self {
        Self {
            change: None,
            reply: Ok(reply),
            effect: None,
        }
    }
    pub(super) fn write(change: Change, reply: Reply) -> Self {
        Self {
            change: Some(change),
            reply: Ok(reply),
            effect: None,
        }
    }
}

pub(super) fn check_name(name: &str) -> Result<(), ParseError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 200 || trimmed.chars().any(char::is_control)
    {
        return Err(ParseError {
            field: "name",
            reason: "must be 1 to 200 printable characters".into(),
        });
    }
    Ok(())
}

pub(super) fn invalid(field: &'static str, reason: impl Into<String>) -> TenantError {
    TenantError::Invalid(ParseError {
        field,
        reason: reason.into(),
    })
}

/// `{"field": {"from": old, "to": new}}` for each top-level field that differs.
///
/// Each side is written to JSON once and its fields are compared as written; the diff is
/// written from those bytes, so an edit of one field of a large record costs little more than
/// the record's JSON, and nothing is built as a tree.
pub fn field_diff<T: Serialize>(old: Option<&T>, new: Option<&T>) -> Diff {
    let json = |v: Option<&T>| v.and_then(|v| serde_json::to_vec(v).ok());
    let (old_json, new_json) = (json(old), json(new));
    match (
        fields_of(old_json.as_deref()),
        fields_of(new_json.as_deref()),
    ) {
        (Some(old_fields), Some(new_fields)) => {
            Diff::of(&RawChanges::between(old_fields, new_fields))
        }
        // A key written with escapes cannot be borrowed: compare whole trees instead.
        _ => Diff::of(&value_diff(old, new)),
    }
}

/// The top-level fields of a JSON object as written; an absent side or one that is not an
/// object has none. `None` when a key cannot be borrowed from the text.
fn fields_of(json: Option<&[u8]>) -> Option<BTreeMap<&str, &RawValue>> {
    let Some(json) = json else {
        return Some(BTreeMap::new());
    };
    if json.first() != Some(&b'{') {
        return Some(BTreeMap::new());
    }
    serde_json::from_slice(json).ok()
}

/// One field's change, `{"from": …, "to": …}`.
fn change(from: serde_json::Value, to: serde_json::Value) -> serde_json::Value {
    let mut pair = serde_json::Map::new();
    pair.insert("from".to_owned(), from);
    pair.insert("to".to_owned(), to);
    serde_json::Value::Object(pair)
}

/// The fields that differ between two records' JSON, each side borrowed as written (an absent
/// side is `null`), in key order.
struct RawChanges<'a>(Vec<(&'a str, Option<&'a RawValue>, Option<&'a RawValue>)>);

impl<'a> RawChanges<'a> {
    fn between(
        mut old: BTreeMap<&'a str, &'a RawValue>,
        new: BTreeMap<&'a str, &'a RawValue>,
    ) -> Self {
        let mut changes = Vec::new();
        for (key, to) in new {
            let from = old.remove(key);
            if !same_json(from, Some(to)) {
                changes.push((key, from, Some(to)));
            }
        }
        let removed = old
            .into_iter()
            .filter(|(_, from)| !same_json(Some(*from), None));
        changes.extend(removed.map(|(key, from)| (key, Some(from), None)));
        changes.sort_unstable_by_key(|(key, _, _)| *key);
        Self(changes)
    }
}

impl Serialize for RawChanges<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, from, to) in &self.0 {
            map.serialize_entry(key, &FromTo { from, to })?;
        }
        map.end()
    }
}

/// Whether two sides of a field hold the same value (absent is `null`). Text written by one
/// serialiser differs only with the value, but for maps whose order may vary.
fn same_json(a: Option<&RawValue>, b: Option<&RawValue>) -> bool {
    fn text(raw: Option<&RawValue>) -> &str {
        raw.map_or("null", RawValue::get)
    }
    let (a, b) = (text(a), text(b));
    let nested = |t: &str| t.starts_with(['{', '[']);
    let tree = |t: &str| serde_json::from_str::<serde_json::Value>(t).ok();
    a == b || (nested(a) && nested(b) && tree(a) == tree(b))
}

/// `field_diff` on whole `Value` trees.
fn value_diff<T: Serialize>(old: Option<&T>, new: Option<&T>) -> serde_json::Value {
    use serde_json::{Map, Value};
    let as_map = |v: Option<&T>| match v.map(serde_json::to_value) {
        Some(Ok(Value::Object(map))) => map,
        _ => Map::new(),
    };
    let (mut old, new) = (as_map(old), as_map(new));
    let mut diff = Map::new();
    for (key, to) in new {
        let from = old.remove(&key).unwrap_or(Value::Null);
        if from != to {
            diff.insert(key, change(from, to));
        }
    }
    for (key, from) in old {
        if !from.is_null() {
            diff.insert(key, change(from, Value::Null));
        }
    }
    Value::Object(diff)
}

pub(super) fn after(now: Timestamp, duration: std::time::Duration) -> Timestamp {
    jiff::SignedDuration::try_from(duration)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_line_opens_with_its_audit_line_and_reads_back_whole() {
        let change = Change {
            action: "meeting.rsvp",
            module: "meetings",
            target: "g_1".into(),
            diff: Diff::of(
                &serde_json::json!({"rsvps": {"from": null, "to": {"m_1": {"note": "Coming \"soon\"\n"}}}}),
            ),
            op: Op::SetStatus {
                status: crate::tenant::state::TenantStatus::Disabled,
            },
        };
        let at = Timestamp::from_second(1_800_000_000).expect("time");
        let record = change.into_record(
            42,
            at,
            Principal::System,
            Some("192.0.2.7".parse().expect("ip")),
        );
        let mut out = b"earlier\n".to_vec();
        let entry = record.write_line(&mut out).expect("writes");
        // The journal line is the record as serde writes it, and reads back as the record.
        let line = &out[b"earlier\n".len()..];
        assert_eq!(line, serde_json::to_vec(&record).expect("json").as_slice());
        let back: JournalRecord = serde_json::from_slice(line).expect("parses");
        assert_eq!(back, record);
        // Its audit entry makes the line the facts make, and that line verifies.
        assert_eq!(entry, record.audit_entry());
        let audit = AuditLine::chain(&entry, crate::audit::GENESIS_HASH);
        assert_eq!(
            (audit.seq, &audit.diff, &audit.action),
            (42, &record.diff, &record.action)
        );
        assert_eq!(audit.compute_hash(), audit.hash);
    }

    #[test]
    fn diff_names_only_changed_fields() {
        let old = serde_json::json!({"name": "Ann", "role": "member", "email": "a@x.om"});
        let new = serde_json::json!({"name": "Ann", "role": "admin", "email": "a@x.om"});
        assert_eq!(
            field_diff(Some(&old), Some(&new)).value(),
            serde_json::json!({"role": {"from": "member", "to": "admin"}})
        );
        assert_eq!(
            field_diff(None, Some(&serde_json::json!({"name": "Ann"}))).value(),
            serde_json::json!({"name": {"from": null, "to": "Ann"}})
        );
        assert_eq!(
            field_diff(
                Some(&serde_json::json!({"name": "Ann", "phone": "+96890000000"})),
                Some(&serde_json::json!({"name": "Ann"}))
            )
            .value(),
            serde_json::json!({"phone": {"from": "+96890000000", "to": null}})
        );
    }

    #[test]
    fn diff_of_nested_fields_and_of_things_that_are_not_objects() {
        let old = serde_json::json!({"rsvps": {"m_1": {"note": null, "response": "yes"}}, "agenda": [1, 2], "title": "A"});
        let new = serde_json::json!({"rsvps": {"m_1": {"response": "no", "note": null}}, "agenda": [1, 2], "title": "A", "video": null});
        assert_eq!(
            field_diff(Some(&old), Some(&new)).value(),
            serde_json::json!({"rsvps": {
                "from": {"m_1": {"note": null, "response": "yes"}},
                "to": {"m_1": {"note": null, "response": "no"}}
            }})
        );
        assert_eq!(
            field_diff(Some(&old), Some(&old)).value(),
            serde_json::json!({})
        );
        assert_eq!(
            field_diff(Some(&serde_json::json!([1])), Some(&serde_json::json!([2]))).value(),
            serde_json::json!({})
        );
        assert_eq!(
            field_diff(None, Some(&serde_json::json!({"a": null, "b": 1}))).value(),
            serde_json::json!({"b": {"from": null, "to": 1}})
        );
    }

    #[test]
    fn a_diff_is_written_from_the_records_own_text() {
        #[derive(Serialize)]
        struct Record {
            zeta: u8,
            nested: Nested,
        }
        #[derive(Serialize)]
        struct Nested {
            b: u8,
            a: u8,
        }
        let old = Record {
            zeta: 1,
            nested: Nested { b: 1, a: 1 },
        };
        let new = Record {
            zeta: 2,
            nested: Nested { b: 2, a: 1 },
        };
        assert_eq!(
            field_diff(Some(&old), Some(&new)).to_string(),
            r#"{"nested":{"from":{"b":1,"a":1},"to":{"b":2,"a":1}},"zeta":{"from":1,"to":2}}"#
        );
    }

    #[test]
    fn a_map_written_in_another_order_is_no_change() {
        /// `{"m": {"a": 1, "b": 2}}`, its inner keys in either order (as a hash map may write).
        struct Record(bool);
        impl Serialize for Record {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut inner = vec![("a", 1), ("b", 2)];
                if self.0 {
                    inner.reverse();
                }
                struct Inner(Vec<(&'static str, u8)>);
                impl Serialize for Inner {
                    fn serialize<S: serde::Serializer>(
                        &self,
                        serializer: S,
                    ) -> Result<S::Ok, S::Error> {
                        let mut map = serializer.serialize_map(Some(self.0.len()))?;
                        for (key, value) in &self.0 {
                            map.serialize_entry(key, value)?;
                        }
                        map.end()
                    }
                }
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("m", &Inner(inner))?;
                map.end()
            }
        }
        assert_eq!(
            field_diff(Some(&Record(false)), Some(&Record(true))).to_string(),
            "{}"
        );
    }

    #[test]
    fn diff_of_the_text_as_written_is_the_diff_of_the_trees() {
        let old =
            serde_json::json!({"name": "Ann", "roles": {"b": [1, 2]}, "note": "x", "gone": 1});
        let cases = [
            (None, serde_json::json!({"name": "Ann", "z": null})),
            (Some(old.clone()), old.clone()),
            (
                Some(old.clone()),
                serde_json::json!({"name": "Bo", "roles": {"b": [2, 1]}, "note": "x"}),
            ),
            (
                Some(old.clone()),
                serde_json::json!({"name": "Ann \"A\"", "roles": {"b": [1, 2]}}),
            ),
        ];
        for (old, new) in cases {
            assert_eq!(
                field_diff(old.as_ref(), Some(&new)),
                Diff::from(value_diff(old.as_ref(), Some(&new))),
                "{old:?} -> {new}"
            );
        }
        // A key with an escape cannot be borrowed; the trees are compared instead.
        let escaped = serde_json::json!({"a\"b": 1});
        assert!(fields_of(Some(br#"{"a\"b":1}"#)).is_none());
        assert_eq!(
            field_diff(None, Some(&escaped)).value(),
            serde_json::json!({"a\"b": {"from": null, "to": 1}})
        );
    }
}
