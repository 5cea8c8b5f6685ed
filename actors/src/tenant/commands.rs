//! What can be asked of a tenant (`Request`), what it answers (`Reply`), and the decision a
//! request leads to: an answer from memory, or a change that becomes one journal record.

use std::net::IpAddr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::auth::{
    Access, Caller, Credential, keyed_hash, new_key_secret, random_token, sha256_hex,
};
use super::state::{
    ApiKey, Channel, Features, KeyScope, MAX_FLOW_TRIES, Member, MemberStatus, Op, OtpFlow,
    Session, TenantMeta, TenantState, TenantStatus,
};
use crate::audit::{AuditEntry, AuditLine};
use crate::catalog::{Action, Catalog, Plan, RoleMatrix};
use crate::config::AuthConfig;
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
    Members(Vec<Member>),
    Member(Member),
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

    fn audit_only(action: &'static str, module: &'static str, target: String) -> Self {
        Change {
            action,
            module,
            target,
            diff: serde_json::json!({}),
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
    fn read(reply: Reply) -> Self {
        Self {
            change: None,
            reply: Ok(reply),
            effect: None,
        }
    }
    fn write(change: Change, reply: Reply) -> Self {
        Self {
            change: Some(change),
            reply: Ok(reply),
            effect: None,
        }
    }
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

fn invalid(field: &'static str, reason: impl Into<String>) -> TenantError {
    TenantError::Invalid(ParseError {
        field,
        reason: reason.into(),
    })
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

fn after(now: Timestamp, duration: std::time::Duration) -> Timestamp {
    jiff::SignedDuration::try_from(duration)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
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

    fn member(&self, id: &MemberId) -> Result<&Member, TenantError> {
        self.members.get(id).ok_or(TenantError::NotFound("member"))
    }

    /// Decides what a request means against the current state, without changing it. Access
    /// has been checked already.
    pub fn decide(
        &self,
        request: Request,
        now: Timestamp,
        caller: &Caller,
        auth: &AuthConfig,
    ) -> Result<Decision, TenantError> {
        match request {
            Request::PublicFace => Ok(Decision::read(Reply::Face(self.face()))),
            Request::OtpRequest { identity, channel } => {
                Ok(self.decide_otp_request(&identity, channel, now, auth))
            }
            Request::MagicRequest { email } => self.decide_magic_request(email, now, auth),
            Request::OtpVerify { flow_id, code } => {
                Ok(self.decide_verify(&flow_id, code.as_str(), now, auth))
            }
            Request::MagicVerify { token } => {
                let flow_id = sha256_hex(&token);
                Ok(self.decide_verify(&flow_id, &token, now, auth))
            }
            Request::Logout => match caller {
                Caller::Member {
                    session_hash: Some(hash),
                    ..
                } => Ok(Decision::write(
                    Change {
                        action: "auth.signout",
                        module: "auth",
                        target: caller.principal().to_string(),
                        diff: serde_json::json!({}),
                        op: Op::SignedOut {
                            session_hash: hash.clone(),
                        },
                    },
                    Reply::Done,
                )),
                _ => Ok(Decision::read(Reply::Done)),
            },
            Request::Me => {
                let id = caller.member_id().ok_or(TenantError::Unauthorized)?;
                let member = self.member(id)?.clone();
                let modules = Catalog::get()
                    .modules
                    .iter()
                    .filter(|m| self.module_available(&m.id))
                    .filter(|m| self.has_permission(caller, &m.id, Action::Read))
                    .map(|m| m.id.clone())
                    .collect();
                let via_key = matches!(
                    caller,
                    Caller::Member {
                        key_id: Some(_),
                        ..
                    }
                );
                Ok(Decision::read(Reply::Me(Box::new(MeView {
                    member,
                    tenant: self.face(),
                    modules,
                    via_key,
                }))))
            }
            Request::ListMembers => Ok(Decision::read(Reply::Members(
                self.members.values().cloned().collect(),
            ))),
            Request::AddMember(new) => self.decide_add_member(new, now, auth),
            Request::UpdateMember { id, patch } => self.decide_update_member(&id, patch, auth),
            Request::SetMemberActive { id, active } => {
                let old = self.member(&id)?;
                let mut member = old.clone();
                member.status = if active {
                    MemberStatus::Active
                } else {
                    MemberStatus::Disabled
                };
                if member.status == old.status {
                    return Ok(Decision::read(Reply::Member(member)));
                }
                if !active {
                    member.epoch += 1;
                }
                let action = if active {
                    "member.enable"
                } else {
                    "member.disable"
                };
                Ok(self.member_change(action, old, member))
            }
            Request::RevokeSessions { id } => {
                let old = self.member(&id)?;
                let mut member = old.clone();
                member.epoch += 1;
                Ok(self.member_change("member.sessions_revoke", old, member))
            }
            Request::GetRoles => Ok(Decision::read(Reply::Roles(self.roles.clone()))),
            Request::PutRoles(roles) => self.decide_roles(roles, auth),
            Request::GetFeatures => Ok(Decision::read(Reply::Features(self.features.clone()))),
            Request::PutFeatures(features) => self.decide_features(features),
            Request::ListKeys => Ok(Decision::read(Reply::Keys(
                self.keys.values().cloned().collect(),
            ))),
            Request::CreateKey { name, scope } => {
                check_name(&name).map_err(TenantError::Invalid)?;
                let creator = caller
                    .member_id()
                    .filter(|_| matches!(caller, Caller::Member { scope: None, .. }))
                    .ok_or_else(|| {
                        TenantError::Forbidden("keys are made by signed-in members".into())
                    })?;
                let id = format!("k_{}", random_token(10));
                let secret = new_key_secret(&id);
                let key = ApiKey {
                    id: id.clone(),
                    name: name.trim().to_owned(),
                    scope,
                    creator: creator.clone(),
                    secret_hash: sha256_hex(&secret),
                    created_at: now,
                    rotated_at: None,
                    last_used: None,
                };
                let mut public = key.clone();
                public.secret_hash = String::new();
                let change = Change {
                    action: "api_key.create",
                    module: "api_keys",
                    target: id,
                    diff: field_diff(None, Some(&public)),
                    op: Op::KeyCreated { key: key.clone() },
                };
                Ok(Decision::write(change, Reply::KeyIssued { key, secret }))
            }
            Request::RotateKey { id } => {
                let key = self.keys.get(&id).ok_or(TenantError::NotFound("api key"))?;
                let secret = new_key_secret(&id);
                let mut rotated = key.clone();
                rotated.secret_hash = sha256_hex(&secret);
                rotated.rotated_at = Some(now);
                let change = Change {
                    action: "api_key.rotate",
                    module: "api_keys",
                    target: id.clone(),
                    diff: serde_json::json!({"rotated_at": {"from": key.rotated_at, "to": now}}),
                    op: Op::KeyRotated {
                        id,
                        secret_hash: rotated.secret_hash.clone(),
                        at: now,
                    },
                };
                Ok(Decision::write(
                    change,
                    Reply::KeyIssued {
                        key: rotated,
                        secret,
                    },
                ))
            }
            Request::DeleteKey { id } => {
                if !self.keys.contains_key(&id) {
                    return Err(TenantError::NotFound("api key"));
                }
                let change = Change {
                    action: "api_key.delete",
                    module: "api_keys",
                    target: id.clone(),
                    diff: serde_json::json!({}),
                    op: Op::KeyDeleted { id },
                };
                Ok(Decision::write(change, Reply::Done))
            }
            Request::Audit(_) | Request::AuditExport(_) => Err(TenantError::Internal(
                "audit queries are answered by the audit child".into(),
            )),
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
                Ok(Decision::write(change, Reply::Meta(meta)))
            }
        }
    }

    fn member_change(&self, action: &'static str, old: &Member, member: Member) -> Decision {
        let change = Change {
            action,
            module: "members",
            target: member.id.to_string(),
            diff: field_diff(Some(old), Some(&member)),
            op: Op::UpdateMember {
                member: member.clone(),
            },
        };
        Decision::write(change, Reply::Member(member))
    }

    fn check_role(&self, role: &str, auth: &AuthConfig) -> Result<(), TenantError> {
        if role == "superadmin" && auth.operator_tenant.as_ref() != Some(&self.meta.slug) {
            return Err(invalid(
                "role",
                "superadmin exists only in the operator tenant",
            ));
        }
        if !self.roles.contains_key(role) {
            return Err(invalid("role", format!("unknown role '{role}'")));
        }
        Ok(())
    }

    fn check_contacts_free(
        &self,
        email: Option<&Email>,
        phone: Option<&Phone>,
        except: Option<&MemberId>,
    ) -> Result<(), TenantError> {
        for (taken, what) in [
            (
                email.and_then(|e| self.member_by_contact(Some(e), None)),
                "email",
            ),
            (
                phone.and_then(|p| self.member_by_contact(None, Some(p))),
                "phone",
            ),
        ] {
            if let Some(existing) = taken
                && Some(&existing.id) != except
            {
                return Err(TenantError::Conflict(format!(
                    "a member with this {what} exists"
                )));
            }
        }
        Ok(())
    }

    fn decide_add_member(
        &self,
        new: NewMember,
        now: Timestamp,
        auth: &AuthConfig,
    ) -> Result<Decision, TenantError> {
        check_name(&new.name).map_err(TenantError::Invalid)?;
        if new.email.is_none() && new.phone.is_none() {
            return Err(invalid(
                "email",
                "a member needs an email or a phone to sign in",
            ));
        }
        self.check_role(&new.role, auth)?;
        let plan = Catalog::get().plans.iter().find(|p| p.id == self.meta.plan);
        if let Some(max) = plan.and_then(|p| p.max_members)
            && self.members.len() >= max as usize
        {
            return Err(TenantError::PlanLimit(format!(
                "the {} plan allows {max} members",
                self.meta.plan.as_str()
            )));
        }
        self.check_contacts_free(new.email.as_ref(), new.phone.as_ref(), None)?;
        let member = Member {
            id: MemberId::generate(),
            name: new.name.trim().to_owned(),
            email: new.email,
            phone: new.phone,
            role: new.role,
            status: MemberStatus::Active,
            created_at: now,
            epoch: 0,
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
        Ok(Decision::write(change, Reply::Member(member)))
    }

    fn decide_update_member(
        &self,
        id: &MemberId,
        patch: MemberPatch,
        auth: &AuthConfig,
    ) -> Result<Decision, TenantError> {
        let old = self.member(id)?;
        let mut member = old.clone();
        if let Some(name) = patch.name {
            check_name(&name).map_err(TenantError::Invalid)?;
            member.name = name.trim().to_owned();
        }
        if let Some(email) = patch.email {
            member.email = email;
        }
        if let Some(phone) = patch.phone {
            member.phone = phone;
        }
        if member.email.is_none() && member.phone.is_none() {
            return Err(invalid(
                "email",
                "a member needs an email or a phone to sign in",
            ));
        }
        self.check_contacts_free(member.email.as_ref(), member.phone.as_ref(), Some(id))?;
        if let Some(role) = patch.role
            && role != member.role
        {
            self.check_role(&role, auth)?;
            member.role = role;
            // A new role ends every session made under the old one.
            member.epoch += 1;
        }
        if &member == old {
            return Ok(Decision::read(Reply::Member(member)));
        }
        Ok(self.member_change("member.update", old, member))
    }

    fn decide_roles(&self, roles: RoleMatrix, auth: &AuthConfig) -> Result<Decision, TenantError> {
        let catalog = Catalog::get();
        for (role, grants) in &roles {
            let name_ok = !role.is_empty()
                && role.len() <= 32
                && role
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !name_ok {
                return Err(invalid(
                    "roles",
                    format!("role name '{role}' must be a-z, 0-9, _"),
                ));
            }
            if role == "superadmin" && auth.operator_tenant.as_ref() != Some(&self.meta.slug) {
                return Err(invalid(
                    "roles",
                    "superadmin exists only in the operator tenant",
                ));
            }
            if let Some(module) = grants.keys().find(|m| catalog.module(m).is_none()) {
                return Err(invalid(
                    "roles",
                    format!("unknown module '{module}' in role '{role}'"),
                ));
            }
        }
        let admin_keeps_roles = roles
            .get("admin")
            .and_then(|g| g.get("roles"))
            .is_some_and(|a| a.contains(&Action::Update));
        if !admin_keeps_roles {
            return Err(invalid("roles", "the admin role must keep update on roles"));
        }
        if let Some(member) = self.members.values().find(|m| !roles.contains_key(&m.role)) {
            return Err(TenantError::Conflict(format!(
                "role '{}' is still held by member {}",
                member.role, member.id
            )));
        }
        let change = Change {
            action: "roles.update",
            module: "roles",
            target: self.meta.slug.to_string(),
            diff: field_diff(Some(&self.roles), Some(&roles)),
            op: Op::SetRoles {
                roles: roles.clone(),
            },
        };
        Ok(Decision::write(change, Reply::Roles(roles)))
    }

    fn decide_features(&self, features: Features) -> Result<Decision, TenantError> {
        let catalog = Catalog::get();
        for (module, enabled) in &features.modules {
            let found = catalog
                .module(module)
                .ok_or_else(|| invalid("modules", format!("unknown module '{module}'")))?;
            if !found.visible_in(&self.meta.sector) {
                return Err(invalid(
                    "modules",
                    format!(
                        "module '{module}' is not offered in the {} sector",
                        self.meta.sector
                    ),
                ));
            }
            if *enabled && found.requires_plan > self.meta.plan {
                return Err(TenantError::PlanRequired(format!(
                    "module '{module}' needs the {} plan",
                    found.requires_plan.as_str()
                )));
            }
        }
        let mut next = self.features.clone();
        next.modules.extend(features.modules);
        for (flag, value) in features.flags {
            if flag != "magic_link" {
                return Err(invalid("flags", format!("unknown flag '{flag}'")));
            }
            next.flags.insert(flag, value);
        }
        let change = Change {
            action: "features.update",
            module: "settings",
            target: self.meta.slug.to_string(),
            diff: field_diff(Some(&self.features), Some(&next)),
            op: Op::SetFeatures {
                features: next.clone(),
            },
        };
        Ok(Decision::write(change, Reply::Features(next)))
    }

    /// A new flow for any identity, known or not, so that nothing tells them apart; only a known,
    /// active member gets a message.
    fn decide_otp_request(
        &self,
        identity: &Identity,
        channel: Channel,
        now: Timestamp,
        auth: &AuthConfig,
    ) -> Decision {
        let flow_id = random_token(16);
        let code = OtpCode::generate();
        let member = self
            .member_by_identity(&identity.key())
            .filter(|m| m.status == MemberStatus::Active)
            .cloned();
        let flow = OtpFlow {
            identity: identity.key(),
            member: member.as_ref().map(|m| m.id.clone()),
            code_hash: keyed_hash(&auth.secret, &[&flow_id, code.as_str()]),
            channel,
            expires_at: after(now, auth.code_ttl),
            tries: 0,
            used: false,
        };
        let change = Change {
            action: "auth.otp.request",
            module: "auth",
            target: identity.masked(),
            diff: serde_json::json!({ "channel": channel, "known": member.is_some() }),
            op: Op::OtpIssued {
                flow_id: flow_id.clone(),
                flow,
            },
        };
        Decision {
            change: Some(change),
            reply: Ok(Reply::Flow { flow_id }),
            effect: member.map(|member| Effect::Deliver {
                member,
                channel,
                secret: Secret::Code(code),
            }),
        }
    }

    fn decide_magic_request(
        &self,
        email: Email,
        now: Timestamp,
        auth: &AuthConfig,
    ) -> Result<Decision, TenantError> {
        if !self
            .features
            .flags
            .get("magic_link")
            .copied()
            .unwrap_or(false)
        {
            return Err(TenantError::NotFound("magic link sign-in"));
        }
        let identity = Identity::Email(email);
        let token = random_token(32);
        let flow_id = sha256_hex(&token);
        let member = self
            .member_by_identity(&identity.key())
            .filter(|m| m.status == MemberStatus::Active)
            .cloned();
        let flow = OtpFlow {
            identity: identity.key(),
            member: member.as_ref().map(|m| m.id.clone()),
            code_hash: keyed_hash(&auth.secret, &[&flow_id, &token]),
            channel: Channel::Email,
            expires_at: after(now, auth.code_ttl),
            tries: MAX_FLOW_TRIES - 1,
            used: false,
        };
        let change = Change {
            action: "auth.magic.request",
            module: "auth",
            target: identity.masked(),
            diff: serde_json::json!({ "known": member.is_some() }),
            op: Op::OtpIssued {
                flow_id: flow_id.clone(),
                flow,
            },
        };
        Ok(Decision {
            change: Some(change),
            reply: Ok(Reply::Done),
            effect: member.map(|member| Effect::Deliver {
                member,
                channel: Channel::Email,
                secret: Secret::MagicToken(token),
            }),
        })
    }

    /// Checks a code (or magic token) against its flow. Failures are recorded (and counted
    /// against the identity, whichever flow they used); success opens a session.
    fn decide_verify(
        &self,
        flow_id: &str,
        secret: &str,
        now: Timestamp,
        auth: &AuthConfig,
    ) -> Decision {
        let Some(flow) = self.auth.flows.get(flow_id) else {
            return Decision {
                change: Some(Change::audit_only(
                    "auth.verify.unknown_flow",
                    "auth",
                    "-".into(),
                )),
                reply: Err(TenantError::InvalidCode),
                effect: None,
            };
        };
        let lockout = self.auth.lockouts.get(&flow.identity);
        if let Some(until) = lockout.and_then(|l| l.locked_until).filter(|t| *t > now) {
            let wait = until.duration_since(now).as_secs().max(1) as u64;
            return Decision {
                change: Some(Change::audit_only(
                    "auth.verify.locked",
                    "auth",
                    masked(&flow.identity),
                )),
                reply: Err(TenantError::RateLimited {
                    retry_after_secs: wait,
                }),
                effect: None,
            };
        }
        let expected = keyed_hash(&auth.secret, &[flow_id, secret]);
        let alive = !flow.used && flow.tries < MAX_FLOW_TRIES && now < flow.expires_at;
        let right = super::auth::equal_hashes(&expected, &flow.code_hash);
        let member = flow
            .member
            .as_ref()
            .and_then(|id| self.members.get(id))
            .filter(|m| m.status == MemberStatus::Active);
        match (alive && right, member) {
            (true, Some(member)) => {
                let token = random_token(16);
                let absolute = if auth.operator_tenant.as_ref() == Some(&self.meta.slug) {
                    auth.operator_session_absolute
                } else {
                    auth.session_absolute
                };
                let session = Session {
                    member: member.id.clone(),
                    epoch: member.epoch,
                    created_at: now,
                    expires_at: after(now, absolute),
                    last_seen: now,
                };
                let change = Change {
                    action: "auth.signin",
                    module: "auth",
                    target: member.id.to_string(),
                    diff: serde_json::json!({ "channel": flow.channel }),
                    op: Op::SignedIn {
                        flow_id: flow_id.to_owned(),
                        identity: flow.identity.clone(),
                        session_hash: sha256_hex(&token),
                        session,
                    },
                };
                Decision {
                    change: Some(change),
                    reply: Ok(Reply::SignedIn {
                        token,
                        member: member.clone(),
                    }),
                    effect: None,
                }
            }
            _ => {
                let failures = lockout.map_or(0, |l| l.failures) + 1;
                let locked_until =
                    (failures >= auth.lock_after.min(100)).then(|| after(now, auth.lock_for));
                let error = if right && now >= flow.expires_at {
                    TenantError::CodeExpired
                } else {
                    TenantError::InvalidCode
                };
                let change = Change {
                    action: "auth.verify.fail",
                    module: "auth",
                    target: masked(&flow.identity),
                    diff: serde_json::json!({
                        "reason": match (alive, right) {
                            (false, _) => "flow_dead",
                            (true, false) => "wrong_code",
                            (true, true) => "member_inactive",
                        },
                        "locked": locked_until.is_some(),
                    }),
                    op: Op::OtpFailed {
                        flow_id: flow_id.to_owned(),
                        identity: flow.identity.clone(),
                        locked_until,
                    },
                };
                Decision {
                    change: Some(change),
                    reply: Err(error),
                    effect: None,
                }
            }
        }
    }
}

/// Masks a stored identity key for the audit trail.
fn masked(identity_key: &str) -> String {
    let raw = identity_key
        .split_once(':')
        .map_or(identity_key, |(_, v)| v);
    Identity::parse(raw).map_or_else(|_| "-".into(), |i| i.masked())
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
