//! What can be asked of a tenant (`Request`), what it answers (`Reply`), and the decision a
//! request leads to: a read answered from memory, or a write that becomes one journal record.

use std::net::IpAddr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::state::{Member, MemberStatus, Op, TenantMeta, TenantState, TenantStatus};
use crate::audit::AuditEntry;
use crate::catalog::{Catalog, Plan};
use crate::domain::{Email, HostName, MemberId, ParseError, Phone, Principal, Slug};
use crate::error::TenantError;
use crate::store::Sequenced;

/// Who is asking and from where; carried by every request into the audit trail.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub principal: Principal,
    pub ip: Option<IpAddr>,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewTenant {
    pub slug: Slug,
    pub name: String,
    pub plan: Plan,
    pub sector: String,
    pub sub_sector: Option<String>,
    pub hosts: Vec<HostName>,
}

impl NewTenant {
    /// Checks what the types cannot: the name, and the sector against the catalog.
    pub fn validate(&self) -> Result<(), ParseError> {
        check_name(&self.name)?;
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

#[derive(Debug)]
pub enum Request {
    /// What a sign-in page shows: no secrets, no members.
    PublicFace,
    /// Members; `record_access` writes an audit line first (operator reads).
    ListMembers {
        record_access: bool,
    },
    AddMember(NewMember),
    SetStatus(TenantStatus),
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

#[derive(Debug)]
pub enum Reply {
    Face(TenantFace),
    Members(Vec<Member>),
    Member(Member),
    Meta(TenantMeta),
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
    pub diff: serde_json::Value,
    pub op: Op,
}

impl Sequenced for JournalRecord {
    fn seq(&self) -> u64 {
        self.seq
    }
}

impl JournalRecord {
    pub fn audit_entry(&self) -> AuditEntry {
        AuditEntry {
            seq: self.seq,
            at: self.at,
            actor: self.actor.clone(),
            ip: self.ip.clone(),
            action: self.action.clone(),
            module: self.module.clone(),
            target: self.target.clone(),
            diff: self.diff.clone(),
        }
    }
}

/// A write before it has a sequence number and a time.
#[derive(Debug)]
pub struct Change {
    pub action: &'static str,
    pub module: &'static str,
    pub target: String,
    pub diff: serde_json::Value,
    pub op: Op,
}

impl Change {
    pub fn into_record(self, seq: u64, at: Timestamp, ctx: &RequestCtx) -> JournalRecord {
        JournalRecord {
            seq,
            at,
            actor: ctx.principal.clone(),
            ip: ctx.ip.map(|ip| ip.to_string()),
            action: self.action.to_owned(),
            module: self.module.to_owned(),
            target: self.target,
            diff: self.diff,
            op: self.op,
        }
    }
}

#[derive(Debug)]
pub enum Decision {
    Read(Reply),
    /// Journal `change`, then answer `reply`.
    Write(Box<Change>, Reply),
}

fn check_name(name: &str) -> Result<(), ParseError> {
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

/// `{"field": {"from": old, "to": new}}` for each top-level field that differs.
pub fn field_diff<T: Serialize>(old: Option<&T>, new: Option<&T>) -> serde_json::Value {
    use serde_json::{Map, Value};
    let as_map = |v: Option<&T>| match v.map(serde_json::to_value) {
        Some(Ok(Value::Object(map))) => map,
        _ => Map::new(),
    };
    let (old, new) = (as_map(old), as_map(new));
    let mut diff = Map::new();
    for key in old.keys().chain(new.keys()) {
        let (from, to) = (
            old.get(key).cloned().unwrap_or(Value::Null),
            new.get(key).cloned().unwrap_or(Value::Null),
        );
        if from != to && !diff.contains_key(key) {
            diff.insert(key.clone(), serde_json::json!({ "from": from, "to": to }));
        }
    }
    Value::Object(diff)
}

impl TenantState {
    pub fn face(&self) -> TenantFace {
        TenantFace {
            slug: self.meta.slug.clone(),
            name: self.meta.name.clone(),
            sector: self.meta.sector.clone(),
            sub_sector: self.meta.sub_sector.clone(),
            plan: self.meta.plan,
        }
    }

    /// Decides what a request means against the current state, without changing it.
    pub fn decide(
        &self,
        request: Request,
        now: Timestamp,
        ctx: &RequestCtx,
    ) -> Result<Decision, TenantError> {
        match request {
            Request::PublicFace => Ok(Decision::Read(Reply::Face(self.face()))),
            Request::ListMembers { record_access } => {
                let members = Reply::Members(self.members.values().cloned().collect());
                if !record_access {
                    return Ok(Decision::Read(members));
                }
                let change = Change {
                    action: "members.read",
                    module: "members",
                    target: self.meta.slug.to_string(),
                    diff: serde_json::json!({}),
                    op: Op::Accessed,
                };
                Ok(Decision::Write(Box::new(change), members))
            }
            Request::AddMember(new) => self.decide_add_member(new, now),
            Request::SetStatus(status) => {
                let mut meta = self.meta.clone();
                meta.status = status;
                let action = match status {
                    TenantStatus::Enabled => "tenant.enable",
                    TenantStatus::Disabled => "tenant.disable",
                };
                let change = Change {
                    action,
                    module: "tenant",
                    target: self.meta.slug.to_string(),
                    diff: field_diff(Some(&self.meta), Some(&meta)),
                    op: Op::SetStatus { status },
                };
                let _ = ctx;
                Ok(Decision::Write(Box::new(change), Reply::Meta(meta)))
            }
        }
    }

    fn decide_add_member(&self, new: NewMember, now: Timestamp) -> Result<Decision, TenantError> {
        check_name(&new.name).map_err(TenantError::Invalid)?;
        if new.email.is_none() && new.phone.is_none() {
            return Err(TenantError::Invalid(ParseError {
                field: "email",
                reason: "a member needs an email or a phone to sign in".into(),
            }));
        }
        if !self.roles.contains_key(&new.role) {
            return Err(TenantError::Invalid(ParseError {
                field: "role",
                reason: format!("unknown role '{}'", new.role),
            }));
        }
        let plan = Catalog::get().plans.iter().find(|p| p.id == self.meta.plan);
        if let Some(max) = plan.and_then(|p| p.max_members)
            && self.members.len() >= max as usize
        {
            return Err(TenantError::PlanLimit(format!(
                "the {} plan allows {max} members",
                self.meta.plan.as_str()
            )));
        }
        if let Some(existing) = self.member_by_contact(new.email.as_ref(), new.phone.as_ref()) {
            let what = if new.email.is_some() && existing.email == new.email {
                "email"
            } else {
                "phone"
            };
            return Err(TenantError::Conflict(format!(
                "a member with this {what} exists"
            )));
        }
        let member = Member {
            id: MemberId::generate(),
            name: new.name.trim().to_owned(),
            email: new.email,
            phone: new.phone,
            role: new.role,
            status: MemberStatus::Active,
            created_at: now,
        };
        let change = Change {
            action: "member.create",
            module: "members",
            target: member.id.to_string(),
            diff: field_diff(None, Some(&member)),
            op: Op::AddMember {
                member: member.clone(),
            },
        };
        Ok(Decision::Write(Box::new(change), Reply::Member(member)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_names_only_changed_fields() {
        let old = serde_json::json!({"name": "Ann", "role": "member", "email": "a@x.om"});
        let new = serde_json::json!({"name": "Ann", "role": "admin", "email": "a@x.om"});
        assert_eq!(
            field_diff(Some(&old), Some(&new)),
            serde_json::json!({"role": {"from": "member", "to": "admin"}})
        );
        assert_eq!(
            field_diff(None, Some(&serde_json::json!({"name": "Ann"}))),
            serde_json::json!({"name": {"from": null, "to": "Ann"}})
        );
    }
}
