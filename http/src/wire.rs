//! Wire types: what the API accepts and answers, kept apart from the runtime's own types.

use std::sync::Arc;

use jiff::Timestamp;
use majlis_actors::catalog::Plan;
use majlis_actors::domain::{Email, HostName, MemberId, Phone, Slug};
use majlis_actors::tenant::{
    Member, MemberStatus, NewMember, NewTenant, TenantFace, TenantMeta, TenantStatus,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantBody {
    pub slug: Slug,
    pub name: String,
    pub plan: Plan,
    pub sector: String,
    #[serde(default)]
    pub sub_sector: Option<String>,
    #[serde(default)]
    pub hosts: Vec<HostName>,
    #[serde(default)]
    pub timezone: Option<String>,
}

impl From<CreateTenantBody> for NewTenant {
    fn from(body: CreateTenantBody) -> Self {
        NewTenant {
            slug: body.slug,
            name: body.name,
            plan: body.plan,
            sector: body.sector,
            sub_sector: body.sub_sector,
            hosts: body.hosts,
            timezone: body.timezone,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMemberBody {
    pub name: String,
    #[serde(default)]
    pub email: Option<Email>,
    #[serde(default)]
    pub phone: Option<Phone>,
    pub role: String,
}

impl From<CreateMemberBody> for NewMember {
    fn from(body: CreateMemberBody) -> Self {
        NewMember {
            name: body.name,
            email: body.email,
            phone: body.phone,
            role: body.role,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TenantOut {
    pub slug: Slug,
    pub name: String,
    pub plan: Plan,
    pub sector: String,
    pub sub_sector: Option<String>,
    pub hosts: Vec<HostName>,
    pub status: &'static str,
    pub created_at: Timestamp,
    pub timezone: String,
}

impl From<TenantMeta> for TenantOut {
    fn from(meta: TenantMeta) -> Self {
        TenantOut {
            slug: meta.slug,
            name: meta.name,
            plan: meta.plan,
            sector: meta.sector,
            sub_sector: meta.sub_sector,
            hosts: meta.hosts,
            status: match meta.status {
                TenantStatus::Enabled => "enabled",
                TenantStatus::Disabled => "disabled",
            },
            created_at: meta.created_at,
            timezone: meta.timezone,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct FaceOut {
    pub slug: Slug,
    pub name: String,
    pub sector: String,
    pub sub_sector: Option<String>,
    pub plan: Plan,
}

impl From<TenantFace> for FaceOut {
    fn from(face: TenantFace) -> Self {
        FaceOut {
            slug: face.slug,
            name: face.name,
            sector: face.sector,
            sub_sector: face.sub_sector,
            plan: face.plan,
        }
    }
}

/// A member as the API shows it, written straight from the tenant's shared copy.
#[derive(Debug)]
pub struct MemberOut(Arc<Member>);

/// The fields of [`MemberOut`] on the wire.
#[derive(Serialize)]
struct MemberFields<'a> {
    id: MemberId,
    name: &'a str,
    email: Option<&'a Email>,
    phone: Option<&'a Phone>,
    role: &'a str,
    status: &'static str,
    created_at: Timestamp,
}

impl Serialize for MemberOut {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let member = &*self.0;
        MemberFields {
            id: member.id,
            name: &member.name,
            email: member.email.as_ref(),
            phone: member.phone.as_ref(),
            role: &member.role,
            status: match member.status {
                MemberStatus::Active => "active",
                MemberStatus::Disabled => "disabled",
            },
            created_at: member.created_at,
        }
        .serialize(serializer)
    }
}

impl From<Arc<Member>> for MemberOut {
    fn from(member: Arc<Member>) -> Self {
        MemberOut(member)
    }
}

impl From<Member> for MemberOut {
    fn from(member: Member) -> Self {
        MemberOut(Arc::new(member))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtpRequestBody {
    pub identity: String,
    #[serde(default = "default_channel")]
    pub channel: majlis_actors::tenant::Channel,
}

fn default_channel() -> majlis_actors::tenant::Channel {
    majlis_actors::tenant::Channel::Email
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtpVerifyBody {
    pub flow: String,
    pub code: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MagicRequestBody {
    pub email: Email,
}

/// `PATCH /api/members/{id}`: absent fields stay; `null` clears a contact.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberBody {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub email: Option<Option<Email>>,
    #[serde(default, deserialize_with = "present")]
    pub phone: Option<Option<Phone>>,
    #[serde(default)]
    pub role: Option<String>,
}

/// Tells "absent" (`None`) from "null" (`Some(None)`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl From<UpdateMemberBody> for majlis_actors::tenant::MemberPatch {
    fn from(body: UpdateMemberBody) -> Self {
        majlis_actors::tenant::MemberPatch {
            name: body.name,
            email: body.email,
            phone: body.phone,
            role: body.role,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesBody {
    #[serde(default)]
    pub modules: std::collections::BTreeMap<String, bool>,
    #[serde(default)]
    pub flags: std::collections::BTreeMap<String, bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    pub name: String,
    pub scope: majlis_actors::tenant::KeyScope,
}

#[derive(Debug, Serialize)]
pub struct KeyOut {
    pub id: String,
    pub name: String,
    pub scope: majlis_actors::tenant::KeyScope,
    pub creator: MemberId,
    pub created_at: Timestamp,
    pub rotated_at: Option<Timestamp>,
    pub last_used: Option<Timestamp>,
    /// Shown once, when the key is made or rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl KeyOut {
    pub fn new(key: majlis_actors::tenant::ApiKey, secret: Option<String>) -> Self {
        KeyOut {
            id: key.id,
            name: key.name,
            scope: key.scope,
            creator: key.creator,
            created_at: key.created_at,
            rotated_at: key.rotated_at,
            last_used: key.last_used,
            secret,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct MeOut {
    pub member: MemberOut,
    pub role: String,
    pub tenant: FaceOut,
    pub modules: Vec<String>,
    pub via_api_key: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    pub actor: Option<String>,
    pub module: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub after: Option<u64>,
    pub limit: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_is_answered_with_the_fields_in_their_order() {
        let member = Member {
            id: MemberId::generate(),
            name: "Hamad".into(),
            email: Some(Email::parse("hamad@acme.example").expect("email")),
            phone: None,
            role: "secretary".into(),
            status: MemberStatus::Disabled,
            created_at: Timestamp::UNIX_EPOCH,
            epoch: 3,
        };
        let id = member.id;
        let json = serde_json::to_string(&MemberOut::from(Arc::new(member))).expect("json");
        assert_eq!(
            json,
            format!(
                r#"{{"id":"{id}","name":"Hamad","email":"hamad@acme.example","phone":null,"role":"secretary","status":"disabled","created_at":"1970-01-01T00:00:00Z"}}"#
            )
        );
    }
}
