//! How the tenant decides member, role, feature, key and status requests: validation against the
//! current state, and the one journal record each change becomes.

use std::sync::Arc;

use jiff::Timestamp;

use super::auth::{Caller, new_key_secret, random_token, sha256_hex};
use super::commands::{
    Change, Decision, MeView, MemberPatch, NewMember, Reply, Request, TenantFace, check_name,
    field_diff, invalid,
};
use super::state::{ApiKey, Features, Member, MemberStatus, Op, TenantState, TenantStatus};
use crate::audit::Diff;
use crate::catalog::{Action, Catalog, RoleMatrix};
use crate::config::AuthConfig;
use crate::domain::{Email, MemberId, Phone};
use crate::error::TenantError;

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
        self.members
            .get(id)
            .map(|m| &**m)
            .ok_or(TenantError::NotFound("member"))
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
                        diff: Diff::none(),
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
                    return Ok(Decision::read(Reply::Member(Arc::new(member))));
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
            Request::GetRoles => Ok(Decision::read(Reply::Roles(self.roles.as_ref().clone()))),
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
                    creator: *creator,
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
                    diff: Diff::of(
                        &serde_json::json!({"rotated_at": {"from": key.rotated_at, "to": now}}),
                    ),
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
                    diff: Diff::none(),
                    op: Op::KeyDeleted { id },
                };
                Ok(Decision::write(change, Reply::Done))
            }
            Request::Workspace(request) => self.decide_workspace(request, now, caller, auth),
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
        let member = Arc::new(member);
        let change = Change {
            action,
            module: "members",
            target: member.id.to_string(),
            diff: field_diff(Some(old), Some(&*member)),
            op: Op::UpdateMember {
                member: Arc::clone(&member),
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
        let member = Arc::new(Member {
            id: MemberId::generate(),
            name: new.name.trim().to_owned(),
            email: new.email,
            phone: new.phone,
            role: new.role,
            status: MemberStatus::Active,
            created_at: now,
            epoch: 0,
        });
        let change = Change {
            action: "member.create",
            module: "members",
            target: member.id.to_string(),
            diff: field_diff(None, Some(&*member)),
            op: Op::AddMember {
                member: Arc::clone(&member),
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
            return Ok(Decision::read(Reply::Member(Arc::new(member))));
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
            diff: field_diff(Some(self.roles.as_ref()), Some(&roles)),
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
}
