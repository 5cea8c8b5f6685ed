//! `TenantState`: the tenant's collections in memory, and how a journal record changes them.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::catalog::{Plan, RoleMatrix};
use crate::domain::{Email, HostName, MemberId, Phone};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    Enabled,
    Disabled,
}

/// `tenant.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantMeta {
    pub slug: crate::domain::Slug,
    pub name: String,
    pub plan: Plan,
    pub sector: String,
    pub sub_sector: Option<String>,
    pub hosts: Vec<HostName>,
    pub status: TenantStatus,
    pub created_at: Timestamp,
}

/// `features.json`: which modules are switched on, and product flags such as `magic_link`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Features {
    pub modules: BTreeMap<String, bool>,
    pub flags: BTreeMap<String, bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    Active,
    Disabled,
}

/// One person of the tenant; `members.json` maps ids to these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub id: MemberId,
    pub name: String,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub role: String,
    pub status: MemberStatus,
    pub created_at: Timestamp,
}

/// The snapshot files, each replaced on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collection {
    Tenant,
    Features,
    Roles,
    Members,
}

impl Collection {
    pub const ALL: [Collection; 4] = [
        Collection::Tenant,
        Collection::Features,
        Collection::Roles,
        Collection::Members,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// A change to the state, as journaled. Each variant touches at most one collection, so replay
/// over snapshot files written at different moments stays exact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Op {
    /// The tenant was created (its files were written before this record); audit only.
    Created,
    /// Somebody read data in a way that must be on the record (operator access); audit only.
    Accessed,
    SetStatus {
        status: TenantStatus,
    },
    AddMember {
        member: Member,
    },
}

impl Op {
    pub fn collection(&self) -> Option<Collection> {
        match self {
            Op::Created | Op::Accessed => None,
            Op::SetStatus { .. } => Some(Collection::Tenant),
            Op::AddMember { .. } => Some(Collection::Members),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TenantState {
    pub meta: TenantMeta,
    pub features: Features,
    pub roles: RoleMatrix,
    pub members: BTreeMap<MemberId, Member>,
    /// Email and phone → member, derived from `members` (never stored).
    pub contacts: HashMap<String, MemberId>,
    /// The journal seq each collection's file (or memory, once applied) includes.
    pub seqs: [u64; 4],
    /// Collections changed since their file was last written.
    pub dirty: [bool; 4],
    /// The last seq applied anywhere, i.e. the next record gets `last_seq + 1`.
    pub last_seq: u64,
}

impl TenantState {
    /// Applies a journaled op unless its collection already includes it.
    pub fn apply(&mut self, seq: u64, op: &Op) {
        self.last_seq = self.last_seq.max(seq);
        let Some(collection) = op.collection() else {
            return;
        };
        let i = collection.index();
        if seq <= self.seqs[i] {
            return;
        }
        match op {
            Op::Created | Op::Accessed => {}
            Op::SetStatus { status } => self.meta.status = *status,
            Op::AddMember { member } => {
                for key in contact_keys(member) {
                    self.contacts.insert(key, member.id.clone());
                }
                self.members.insert(member.id.clone(), member.clone());
            }
        }
        self.seqs[i] = seq;
        self.dirty[i] = true;
    }

    /// Rebuilds the derived indexes after the collections were read from disk.
    pub fn reindex(&mut self) {
        self.contacts = self
            .members
            .values()
            .flat_map(|m| contact_keys(m).map(|key| (key, m.id.clone())))
            .collect();
    }

    /// The member who signs in with this email or phone, if any.
    pub fn member_by_contact(
        &self,
        email: Option<&Email>,
        phone: Option<&Phone>,
    ) -> Option<&Member> {
        let by_email = email.and_then(|e| self.contacts.get(&format!("email:{e}")));
        let by_phone = phone.and_then(|p| self.contacts.get(&format!("phone:{p}")));
        by_email.or(by_phone).and_then(|id| self.members.get(id))
    }

    pub fn seq_of(&self, collection: Collection) -> u64 {
        self.seqs[collection.index()]
    }

    pub fn is_dirty(&self, collection: Collection) -> bool {
        self.dirty[collection.index()]
    }

    /// After a snapshot: every collection is on disk at `seq`.
    pub fn mark_clean(&mut self, seq: u64) {
        self.seqs = [seq; 4];
        self.dirty = [false; 4];
    }

    pub fn is_enabled(&self) -> bool {
        self.meta.status == TenantStatus::Enabled
    }
}

fn contact_keys(member: &Member) -> impl Iterator<Item = String> + '_ {
    let email = member.email.iter().map(|e| format!("email:{e}"));
    let phone = member.phone.iter().map(|p| format!("phone:{p}"));
    email.chain(phone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Slug;

    fn state() -> TenantState {
        TenantState {
            meta: TenantMeta {
                slug: Slug::parse("acme").expect("slug"),
                name: "Acme".into(),
                plan: Plan::Free,
                sector: "corporate".into(),
                sub_sector: None,
                hosts: vec![],
                status: TenantStatus::Enabled,
                created_at: Timestamp::UNIX_EPOCH,
            },
            features: Features::default(),
            roles: RoleMatrix::new(),
            members: BTreeMap::new(),
            contacts: HashMap::new(),
            seqs: [0; 4],
            dirty: [false; 4],
            last_seq: 0,
        }
    }

    #[test]
    fn replay_skips_what_a_collection_already_holds() {
        let mut state = state();
        state.seqs = [5, 0, 0, 3];
        state.apply(
            4,
            &Op::SetStatus {
                status: TenantStatus::Disabled,
            },
        );
        assert!(state.is_enabled(), "tenant.json already includes seq 4");
        state.apply(
            6,
            &Op::SetStatus {
                status: TenantStatus::Disabled,
            },
        );
        assert!(!state.is_enabled());
        assert!(state.is_dirty(Collection::Tenant));
        assert!(!state.is_dirty(Collection::Members));
        assert_eq!(state.last_seq, 6);
    }
}
