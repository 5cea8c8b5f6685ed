//! `TenantState`: the tenant's collections in memory, and how a journal record changes them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::workspace::{ActionItem, AgendaItem, Attendance, Board, Meeting, Rsvp, Workspace};
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
    /// The IANA time zone new meetings default to.
    #[serde(default = "default_timezone")]
    pub timezone: String,
}

pub fn default_timezone() -> String {
    "Asia/Muscat".into()
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
    /// Bumped when the member's role changes, the member is disabled, or an admin ends their
    /// sessions: a session made under another epoch is dead.
    #[serde(default)]
    pub epoch: u32,
}

/// A signed-in browser. Stored under the SHA-256 of its id, never the id itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub member: MemberId,
    pub epoch: u32,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Kept in memory and saved with snapshots; after a crash it falls back to the last
    /// snapshot, which can only end a session sooner.
    pub last_seen: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Whatsapp,
}

/// A one-time code on its way to somebody: only its keyed hash is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OtpFlow {
    /// `email:…` or `phone:…`.
    pub identity: String,
    /// `None` for an identity no member has: the flow exists so that nothing tells them apart.
    pub member: Option<MemberId>,
    pub code_hash: String,
    pub channel: Channel,
    pub expires_at: Timestamp,
    pub tries: u8,
    pub used: bool,
}

/// Failed sign-ins of one identity, across every flow it asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lockout {
    pub failures: u32,
    pub locked_until: Option<Timestamp>,
}

/// `auth.json`: flows, lockouts and sessions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthData {
    pub flows: BTreeMap<String, OtpFlow>,
    pub lockouts: BTreeMap<String, Lockout>,
    pub sessions: BTreeMap<String, Session>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyScope {
    Read,
    Write,
    Admin,
}

/// An API key: acts for its creator, capped by its scope. Only its hash is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub scope: KeyScope,
    pub creator: MemberId,
    pub secret_hash: String,
    pub created_at: Timestamp,
    pub rotated_at: Option<Timestamp>,
    pub last_used: Option<Timestamp>,
}

/// The snapshot files, each replaced on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collection {
    Tenant,
    Features,
    Roles,
    Members,
    Auth,
    Keys,
    Boards,
    Meetings,
    Actions,
    Calendar,
}

pub const COLLECTIONS: usize = 10;

impl Collection {
    pub const ALL: [Collection; COLLECTIONS] = [
        Collection::Tenant,
        Collection::Features,
        Collection::Roles,
        Collection::Members,
        Collection::Auth,
        Collection::Keys,
        Collection::Boards,
        Collection::Meetings,
        Collection::Actions,
        Collection::Calendar,
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
    /// Something that must be on the record but changes nothing (operator reads, deliveries).
    Accessed,
    SetStatus {
        status: TenantStatus,
    },
    AddMember {
        member: Arc<Member>,
    },
    /// The whole member as it is now (name, contact, role, status, epoch).
    UpdateMember {
        member: Arc<Member>,
    },
    SetRoles {
        roles: RoleMatrix,
    },
    SetFeatures {
        features: Features,
    },
    OtpIssued {
        flow_id: String,
        flow: OtpFlow,
    },
    OtpFailed {
        flow_id: String,
        identity: String,
        locked_until: Option<Timestamp>,
    },
    SignedIn {
        flow_id: String,
        identity: String,
        session_hash: String,
        session: Session,
    },
    SignedOut {
        session_hash: String,
    },
    KeyCreated {
        key: ApiKey,
    },
    KeyRotated {
        id: String,
        secret_hash: String,
        at: Timestamp,
    },
    KeyDeleted {
        id: String,
    },
    BoardSaved {
        board: Board,
    },
    MeetingSaved {
        meeting: Box<Meeting>,
    },
    /// One member's answer to a meeting's invitation (the meeting's sequence moves on). Only the
    /// answer is journaled: an assembly of hundreds answering does not rewrite the meeting each
    /// time.
    RsvpSet {
        meeting: String,
        member: MemberId,
        rsvp: Rsvp,
    },
    /// One member's mark in a meeting's roll call (the meeting's sequence moves on).
    AttendanceSet {
        meeting: String,
        member: MemberId,
        attendance: Attendance,
    },
    /// One agenda item rewritten where it stands, its parent unchanged (the meeting's sequence
    /// moves on). Only the item is journaled: a note does not rewrite a long agenda.
    AgendaItemSet {
        meeting: String,
        item: AgendaItem,
    },
    ActionSaved {
        action: ActionItem,
    },
    CalendarRotated {
        member: MemberId,
    },
}

impl Op {
    pub fn collection(&self) -> Option<Collection> {
        match self {
            Op::Created | Op::Accessed => None,
            Op::SetStatus { .. } => Some(Collection::Tenant),
            Op::AddMember { .. } | Op::UpdateMember { .. } => Some(Collection::Members),
            Op::SetRoles { .. } => Some(Collection::Roles),
            Op::SetFeatures { .. } => Some(Collection::Features),
            Op::OtpIssued { .. }
            | Op::OtpFailed { .. }
            | Op::SignedIn { .. }
            | Op::SignedOut { .. } => Some(Collection::Auth),
            Op::KeyCreated { .. } | Op::KeyRotated { .. } | Op::KeyDeleted { .. } => {
                Some(Collection::Keys)
            }
            Op::BoardSaved { .. } => Some(Collection::Boards),
            Op::MeetingSaved { .. }
            | Op::RsvpSet { .. }
            | Op::AttendanceSet { .. }
            | Op::AgendaItemSet { .. } => Some(Collection::Meetings),
            Op::ActionSaved { .. } => Some(Collection::Actions),
            Op::CalendarRotated { .. } => Some(Collection::Calendar),
        }
    }
}

/// Failed sign-ins that lock an identity, and tries that kill one flow.
pub const MAX_FLOW_TRIES: u8 = 5;

#[derive(Debug, Clone, PartialEq)]
pub struct TenantState {
    pub meta: TenantMeta,
    pub features: Features,
    pub roles: Arc<RoleMatrix>,
    /// Shared with the answers that show them and with a snapshot's copy, so neither copies a
    /// member.
    pub members: BTreeMap<MemberId, Arc<Member>>,
    pub auth: AuthData,
    pub keys: BTreeMap<String, ApiKey>,
    pub workspace: Workspace,
    /// Email and phone → member, derived from `members` (never stored).
    pub contacts: HashMap<String, MemberId>,
    /// The journal seq each collection's file (or memory, once applied) includes.
    pub seqs: [u64; COLLECTIONS],
    /// Collections changed since their file was last written.
    pub dirty: [bool; COLLECTIONS],
    /// The last seq applied anywhere, i.e. the next record gets `last_seq + 1`.
    pub last_seq: u64,
}

impl TenantState {
    /// A tenant as it is created: no members, the catalog's features and roles for its plan and
    /// sector, every collection still to be written.
    pub fn new(new: &super::NewTenant, now: Timestamp) -> Self {
        let catalog = crate::catalog::Catalog::get();
        Self {
            meta: TenantMeta {
                slug: new.slug.clone(),
                name: new.name.trim().to_owned(),
                plan: new.plan,
                sector: new.sector.clone(),
                sub_sector: new.sub_sector.clone(),
                hosts: new.hosts.clone(),
                status: TenantStatus::Enabled,
                created_at: now,
                timezone: new.timezone.clone().unwrap_or_else(default_timezone),
            },
            features: Features {
                modules: catalog.default_features(new.plan, &new.sector),
                flags: BTreeMap::from([("magic_link".to_owned(), false)]),
            },
            roles: std::sync::Arc::clone(&catalog.default_roles),
            members: BTreeMap::new(),
            auth: AuthData::default(),
            keys: BTreeMap::new(),
            workspace: Workspace::default(),
            contacts: HashMap::new(),
            seqs: [0; COLLECTIONS],
            dirty: [true; COLLECTIONS],
            last_seq: 0,
        }
    }

    /// Changes a meeting in place and moves its sequence on; a meeting that is gone is left alone.
    fn change_meeting(&mut self, id: &str, change: impl FnOnce(&mut Meeting)) {
        if let Some(meeting) = self.workspace.meetings.get_mut(id) {
            let meeting = Arc::make_mut(meeting);
            change(meeting);
            meeting.sequence += 1;
        }
    }

    /// Applies a journaled op unless its collection already includes it.
    pub fn apply(&mut self, seq: u64, op: Op) {
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
            Op::SetStatus { status } => self.meta.status = status,
            Op::AddMember { member } | Op::UpdateMember { member } => {
                let old = self.members.get(&member.id);
                if old.is_none_or(|old| old.email != member.email || old.phone != member.phone) {
                    for key in old.into_iter().flat_map(|old| contact_keys(old)) {
                        self.contacts.remove(&key);
                    }
                    for key in contact_keys(&member) {
                        self.contacts.insert(key, member.id);
                    }
                }
                self.members.insert(member.id, member);
            }
            Op::SetRoles { roles } => {
                self.roles = crate::catalog::Catalog::get().share_roles(roles);
            }
            Op::SetFeatures { features } => self.features = features,
            Op::OtpIssued { flow_id, flow } => {
                self.auth.flows.insert(flow_id, flow);
            }
            Op::OtpFailed {
                flow_id,
                identity,
                locked_until,
            } => {
                if let Some(flow) = self.auth.flows.get_mut(&flow_id) {
                    flow.tries = flow.tries.saturating_add(1);
                }
                let lockout = self.auth.lockouts.entry(identity).or_default();
                lockout.failures = lockout.failures.saturating_add(1);
                if locked_until.is_some() {
                    lockout.locked_until = locked_until;
                    lockout.failures = 0;
                }
            }
            Op::SignedIn {
                flow_id,
                identity,
                session_hash,
                session,
            } => {
                if let Some(flow) = self.auth.flows.get_mut(&flow_id) {
                    flow.used = true;
                }
                self.auth.lockouts.remove(&identity);
                self.auth.sessions.insert(session_hash, session);
            }
            Op::SignedOut { session_hash } => {
                self.auth.sessions.remove(&session_hash);
            }
            Op::KeyCreated { key } => {
                self.keys.insert(key.id.clone(), key);
            }
            Op::KeyRotated {
                id,
                secret_hash,
                at,
            } => {
                if let Some(key) = self.keys.get_mut(&id) {
                    key.secret_hash = secret_hash;
                    key.rotated_at = Some(at);
                }
            }
            Op::KeyDeleted { id } => {
                self.keys.remove(&id);
            }
            Op::BoardSaved { board } => {
                self.workspace.boards.insert(board.id.clone(), board);
            }
            Op::MeetingSaved { meeting } => {
                self.workspace
                    .meetings
                    .insert(meeting.id.clone(), Arc::new(*meeting));
            }
            Op::RsvpSet {
                meeting,
                member,
                rsvp,
            } => self.change_meeting(&meeting, |m| {
                m.rsvps.insert(member, rsvp);
            }),
            Op::AttendanceSet {
                meeting,
                member,
                attendance,
            } => self.change_meeting(&meeting, |m| {
                m.attendance.insert(member, attendance);
            }),
            Op::AgendaItemSet { meeting, item } => self.change_meeting(&meeting, |m| {
                if let Some(slot) = m.agenda.iter_mut().find(|i| i.id == item.id) {
                    *slot = item;
                }
            }),
            Op::ActionSaved { action } => {
                self.workspace.actions.insert(action.id.clone(), action);
            }
            Op::CalendarRotated { member } => {
                *self.workspace.calendar.entry(member).or_default() += 1;
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
            .flat_map(|m| contact_keys(m).map(|key| (key, m.id)))
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
        by_email
            .or(by_phone)
            .and_then(|id| self.members.get(id))
            .map(|m| &**m)
    }

    pub fn member_by_identity(&self, identity: &str) -> Option<&Member> {
        self.contacts
            .get(identity)
            .and_then(|id| self.members.get(id))
            .map(|m| &**m)
    }

    /// Drops what can never be used again: expired or spent flows, expired sessions and
    /// lockouts. Only done before a snapshot, so replay never depends on it.
    pub fn prune(&mut self, now: Timestamp) {
        let before = (
            self.auth.flows.len(),
            self.auth.sessions.len(),
            self.auth.lockouts.len(),
        );
        self.auth
            .flows
            .retain(|_, f| f.expires_at > now && !f.used && f.tries < MAX_FLOW_TRIES);
        let members = &self.members;
        self.auth.sessions.retain(|_, s| {
            s.expires_at > now && members.get(&s.member).is_some_and(|m| m.epoch == s.epoch)
        });
        self.auth
            .lockouts
            .retain(|_, l| l.failures > 0 || l.locked_until.is_some_and(|t| t > now));
        let after = (
            self.auth.flows.len(),
            self.auth.sessions.len(),
            self.auth.lockouts.len(),
        );
        if before != after {
            self.dirty[Collection::Auth.index()] = true;
        }
    }

    /// Marks a collection changed outside the journal (in-memory times saved with snapshots).
    pub fn touch(&mut self, collection: Collection) {
        self.dirty[collection.index()] = true;
    }

    pub fn seq_of(&self, collection: Collection) -> u64 {
        self.seqs[collection.index()]
    }

    pub fn is_dirty(&self, collection: Collection) -> bool {
        self.dirty[collection.index()]
    }

    /// The collections changed since their last snapshot, copied (the others left empty), for
    /// a snapshot written on another thread while this state moves on.
    pub fn dirty_copy(&self) -> TenantState {
        fn copy<T: Clone + Default>(dirty: bool, value: &T) -> T {
            if dirty { value.clone() } else { T::default() }
        }
        let d = |c: Collection| self.is_dirty(c);
        TenantState {
            meta: self.meta.clone(),
            features: copy(d(Collection::Features), &self.features),
            roles: std::sync::Arc::clone(&self.roles),
            members: copy(d(Collection::Members), &self.members),
            auth: copy(d(Collection::Auth), &self.auth),
            keys: copy(d(Collection::Keys), &self.keys),
            workspace: super::workspace::Workspace {
                boards: copy(d(Collection::Boards), &self.workspace.boards),
                meetings: copy(d(Collection::Meetings), &self.workspace.meetings),
                actions: copy(d(Collection::Actions), &self.workspace.actions),
                calendar: copy(d(Collection::Calendar), &self.workspace.calendar),
            },
            contacts: HashMap::new(),
            seqs: self.seqs,
            dirty: self.dirty,
            last_seq: self.last_seq,
        }
    }

    /// After a snapshot: every collection is on disk at `seq`.
    pub fn mark_clean(&mut self, seq: u64) {
        self.seqs = [seq; COLLECTIONS];
        self.dirty = [false; COLLECTIONS];
    }

    pub fn is_enabled(&self) -> bool {
        self.meta.status == TenantStatus::Enabled
    }
}

pub fn contact_keys(member: &Member) -> impl Iterator<Item = String> + '_ {
    let email = member.email.iter().map(|e| format!("email:{e}"));
    let phone = member.phone.iter().map(|p| format!("phone:{p}"));
    email.chain(phone)
}

#[cfg(test)]
pub(crate) fn test_state() -> TenantState {
    use crate::domain::Slug;
    let new = super::NewTenant {
        slug: Slug::parse("acme").expect("slug"),
        name: "Acme".into(),
        plan: Plan::Pro,
        sector: "corporate".into(),
        sub_sector: None,
        hosts: vec![],
        timezone: None,
    };
    // No features and an empty role matrix: each test grants what it needs.
    TenantState {
        features: Features::default(),
        roles: std::sync::Arc::new(RoleMatrix::new()),
        dirty: [false; COLLECTIONS],
        ..TenantState::new(&new, Timestamp::UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests;
