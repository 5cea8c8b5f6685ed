//! Wire types: what the API accepts and answers, kept apart from the runtime's own types.

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

#[derive(Debug, Serialize)]
pub struct MemberOut {
    pub id: MemberId,
    pub name: String,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub role: String,
    pub status: &'static str,
    pub created_at: Timestamp,
}

impl From<Member> for MemberOut {
    fn from(member: Member) -> Self {
        MemberOut {
            id: member.id,
            name: member.name,
            email: member.email,
            phone: member.phone,
            role: member.role,
            status: match member.status {
                MemberStatus::Active => "active",
                MemberStatus::Disabled => "disabled",
            },
            created_at: member.created_at,
        }
    }
}
