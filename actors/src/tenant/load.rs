//! Bringing a tenant's state into memory: creating its directory, or reading its snapshot files
//! and replaying the journal over them. Blocking code, run inside the tenant actor.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use jiff::Timestamp;

use super::commands::{JournalRecord, NewTenant};
use super::members_file::MembersFile;
use super::state::{AuthData, COLLECTIONS, Collection, Features, Member, TenantMeta, TenantState};
use crate::catalog::{Catalog, RoleMatrix};
use crate::domain::MemberId;
use crate::error::TenantError;
use crate::store::{
    Journal, StoreError, TenantPaths, load_snapshot, snapshot_bytes, snapshot_compact, sync_dir,
    write_snapshots,
};

/// The part of a journal record that replay needs: the audit facts (and their diff, the largest
/// part of a line) are skipped without being built.
#[derive(Debug, serde::Deserialize)]
struct Replayed {
    seq: u64,
    op: super::state::Op,
}

impl crate::store::Sequenced for Replayed {
    fn seq(&self) -> u64 {
        self.seq
    }
}

#[derive(Debug)]
pub struct Loaded {
    pub state: TenantState,
    pub journal: Journal,
    /// Journal records the audit trail does not hold yet, for the audit child to catch up on.
    pub replayed: Vec<JournalRecord>,
    pub torn_bytes: u64,
}

/// Why a load failed: `Corrupt` fails the tenant until an operator acts; `Conflict` refuses a
/// creation; `Io` is worth a restart.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Io(StoreError),
}

impl From<StoreError> for LoadError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Corrupt { .. } => LoadError::Corrupt(err.to_string()),
            StoreError::Io { .. } => LoadError::Io(err),
        }
    }
}

impl From<LoadError> for TenantError {
    fn from(err: LoadError) -> Self {
        match err {
            LoadError::Conflict(msg) => TenantError::Conflict(msg),
            LoadError::Corrupt(msg) => TenantError::Unavailable(msg),
            LoadError::Io(_) => TenantError::Storage,
        }
    }
}

/// Writes a new tenant's directory with its first snapshot files (seq 0).
pub fn create(paths: &TenantPaths, new: &NewTenant, now: Timestamp) -> Result<Loaded, LoadError> {
    let io = |what: &str, e: io::Error| LoadError::Io(StoreError::io(what.to_owned(), e));
    let parent = paths.dir().parent().unwrap_or(paths.dir());
    fs::create_dir_all(parent).map_err(|e| io("creating the tenants directory", e))?;
    match fs::create_dir(paths.dir()) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(LoadError::Conflict(format!(
                "tenant '{}' already exists",
                new.slug
            )));
        }
        Err(e) => return Err(io("creating the tenant directory", e)),
    }
    sync_dir(parent).map_err(|e| io("syncing the tenants directory", e))?;

    let state = TenantState::new(new, now);
    write_dirty(paths, &state, None)?;
    let recovered = Journal::recover::<JournalRecord>(&paths.journal())?;
    let mut state = state;
    state.mark_clean(0);
    Ok(Loaded {
        state,
        journal: recovered.journal,
        replayed: Vec::new(),
        torn_bytes: 0,
    })
}

/// Reads the snapshot files and replays the journal over them.
pub fn load(paths: &TenantPaths) -> Result<Loaded, LoadError> {
    let missing = |file: &str| LoadError::Corrupt(format!("{file} is missing"));
    let (meta_seq, meta) =
        load_snapshot::<TenantMeta>(&paths.tenant())?.ok_or_else(|| missing("tenant.json"))?;
    let (features_seq, features) =
        load_snapshot::<Features>(&paths.features())?.ok_or_else(|| missing("features.json"))?;
    let (roles_seq, roles) =
        load_snapshot::<RoleMatrix>(&paths.roles())?.ok_or_else(|| missing("roles.json"))?;
    let (members_seq, members) =
        load_snapshot::<BTreeMap<MemberId, Arc<Member>>>(&paths.members())?
            .ok_or_else(|| missing("members.json"))?;
    // Files that later versions added start empty for tenants made before them.
    let (auth_seq, auth) = load_snapshot::<AuthData>(&paths.auth())?.unwrap_or_default();
    let (keys_seq, keys) = load_snapshot(&paths.keys())?.unwrap_or_default();
    let (boards_seq, boards) = load_snapshot(&paths.boards())?.unwrap_or_default();
    let (meetings_seq, meetings) = load_snapshot(&paths.meetings())?.unwrap_or_default();
    let (actions_seq, actions) = load_snapshot(&paths.actions())?.unwrap_or_default();
    let (calendar_seq, calendar) = load_snapshot(&paths.calendar())?.unwrap_or_default();
    let seqs = [
        meta_seq,
        features_seq,
        roles_seq,
        members_seq,
        auth_seq,
        keys_seq,
        boards_seq,
        meetings_seq,
        actions_seq,
        calendar_seq,
    ];
    let mut state = TenantState {
        meta,
        features,
        roles: Catalog::get().share_roles(roles),
        members,
        auth,
        keys,
        workspace: super::workspace::Workspace {
            boards,
            meetings,
            actions,
            calendar,
        },
        contacts: Default::default(),
        seqs,
        dirty: [false; COLLECTIONS],
        last_seq: seqs.into_iter().max().unwrap_or(0),
    };
    state.reindex();
    enforce_plan_gate(&mut state);
    // Only records the audit trail lacks are kept; the others are applied and dropped.
    let audited = crate::audit::audited_seq(&paths.audit())?;
    let newest_snapshot = seqs.into_iter().max().unwrap_or(0);
    let mut unaudited = Vec::new();
    let mut first = true;
    // A record the trail holds and no snapshot does must be in the journal: what follows a hole
    // before it is not a torn batch, and is not cut.
    let acknowledged = if audited > newest_snapshot {
        audited
    } else {
        0
    };
    let (journal, torn_bytes) = Journal::recover_each(
        &paths.journal(),
        acknowledged,
        |record: Replayed, line: &[u8]| {
            // Compaction writes the changed files at the last seq, then empties the journal, so the
            // journal always continues from the newest snapshot; a gap means lost records.
            if std::mem::take(&mut first) && record.seq > newest_snapshot + 1 {
                return Err(format!(
                    "journal starts at seq {} but the newest snapshot ends at {newest_snapshot}",
                    record.seq
                ));
            }
            state.apply(record.seq, record.op);
            if record.seq > audited {
                // Only the few records the trail lacks are read whole, audit facts included.
                let whole: JournalRecord =
                    serde_json::from_slice(line).map_err(|e| e.to_string())?;
                unaudited.push(whole);
            }
            Ok(())
        },
    )?;
    Ok(Loaded {
        state,
        journal,
        replayed: unaudited,
        torn_bytes,
    })
}

/// A module above the tenant's plan stays off, even when `features.json` was edited by hand to
/// switch it on (the file is left as it is; the next snapshot writes the corrected map).
fn enforce_plan_gate(state: &mut TenantState) {
    let catalog = Catalog::get();
    let plan = state.meta.plan;
    let mut changed = false;
    for (module, enabled) in state.features.modules.iter_mut() {
        let allowed = catalog
            .module(module)
            .is_some_and(|m| m.requires_plan <= plan);
        if *enabled && !allowed {
            tracing::warn!(tenant = %state.meta.slug, %module, "module above the plan switched off");
            *enabled = false;
            changed = true;
        }
    }
    if changed {
        state.touch(Collection::Features);
    }
}

/// Writes every collection changed since its last snapshot, at the state's last seq (the
/// members from what `members` kept of the last snapshot, when given).
pub fn write_dirty(
    paths: &TenantPaths,
    state: &TenantState,
    members: Option<&mut MembersFile>,
) -> Result<Vec<Collection>, StoreError> {
    let (files, written) = dirty_files(paths, state, members)?;
    if !files.is_empty() {
        write_snapshots(paths.dir(), &files)?;
    }
    Ok(written)
}

/// The snapshot file of every collection changed since its last snapshot, at the state's last
/// seq, as bytes to write (here or on another thread), with the collections they hold.
pub type DirtyFiles<'a> = (Vec<(PathBuf, Cow<'a, [u8]>)>, Vec<Collection>);

/// The members file comes from `members`, which copies the members unchanged since the last
/// snapshot it made, when given.
pub fn dirty_files<'a>(
    paths: &TenantPaths,
    state: &TenantState,
    mut members: Option<&'a mut MembersFile>,
) -> Result<DirtyFiles<'a>, StoreError> {
    let seq = state.last_seq;
    let mut files = Vec::new();
    let mut written = Vec::new();
    for collection in Collection::ALL {
        if !state.is_dirty(collection) {
            continue;
        }
        let kept = match collection {
            Collection::Members => members.take(),
            _ => None,
        };
        let file = match kept {
            Some(kept) => (paths.members(), kept.snapshot(seq, &state.members)?),
            None => {
                let (path, bytes) = file_of(paths, state, collection)?;
                (path, Cow::Owned(bytes))
            }
        };
        files.push(file);
        written.push(collection);
    }
    Ok((files, written))
}

/// One collection's snapshot file, serialised whole.
fn file_of(
    paths: &TenantPaths,
    state: &TenantState,
    collection: Collection,
) -> Result<(PathBuf, Vec<u8>), StoreError> {
    let seq = state.last_seq;
    Ok(match collection {
        Collection::Tenant => (paths.tenant(), snapshot_bytes(seq, &state.meta)?),
        Collection::Features => (paths.features(), snapshot_bytes(seq, &state.features)?),
        Collection::Roles => (paths.roles(), snapshot_bytes(seq, state.roles.as_ref())?),
        // The largest file is written compact; the others stay readable by people.
        Collection::Members => (paths.members(), snapshot_compact(seq, &state.members)?),
        Collection::Auth => (paths.auth(), snapshot_compact(seq, &state.auth)?),
        Collection::Keys => (paths.keys(), snapshot_bytes(seq, &state.keys)?),
        Collection::Boards => (
            paths.boards(),
            snapshot_bytes(seq, &state.workspace.boards)?,
        ),
        Collection::Meetings => (
            paths.meetings(),
            snapshot_compact(seq, &state.workspace.meetings)?,
        ),
        Collection::Actions => (
            paths.actions(),
            snapshot_compact(seq, &state.workspace.actions)?,
        ),
        Collection::Calendar => (
            paths.calendar(),
            snapshot_bytes(seq, &state.workspace.calendar)?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Plan;
    use crate::domain::Principal;
    use crate::domain::Slug;
    use crate::tenant::commands::Change;
    use crate::tenant::state::{MemberStatus, Op};

    fn stage_member(loaded: &mut Loaded, n: u32) {
        let member = Member {
            id: MemberId::generate(),
            name: format!("M{n}"),
            email: None,
            phone: None,
            role: "member".into(),
            status: MemberStatus::Active,
            created_at: Timestamp::UNIX_EPOCH,
            epoch: 0,
        };
        let seq = loaded.state.last_seq + 1;
        let change = Change {
            action: "member.create",
            module: "members",
            target: member.id.to_string(),
            diff: crate::audit::Diff::none(),
            op: Op::AddMember {
                member: Arc::new(member),
            },
        };
        let record = change.into_record(seq, Timestamp::UNIX_EPOCH, Principal::System, None);
        loaded.journal.stage(&record).expect("stage");
        loaded.state.apply(seq, record.op);
    }

    /// A new tenant in `root` whose journal holds three member creations, flushed.
    fn tenant_with_three_members(root: &std::path::Path) -> (TenantPaths, Loaded) {
        let slug = Slug::parse("acme").expect("slug");
        let paths = TenantPaths::new(root, &slug);
        let new = NewTenant {
            slug,
            name: "Acme".into(),
            plan: Plan::Pro,
            sector: "corporate".into(),
            sub_sector: None,
            hosts: vec![],
            timezone: None,
        };
        let mut loaded = create(&paths, &new, Timestamp::UNIX_EPOCH).expect("create");
        for n in 0..3 {
            stage_member(&mut loaded, n);
        }
        loaded.journal.flush().expect("flush");
        (paths, loaded)
    }

    #[test]
    fn compaction_of_some_files_then_more_records_reloads_exactly() {
        let root = tempfile::tempdir().expect("tempdir");
        let (paths, mut loaded) = tenant_with_three_members(root.path());
        // Compaction: only members.json changed, so only it is written at seq 3.
        assert_eq!(
            write_dirty(&paths, &loaded.state, None).expect("snapshot"),
            vec![Collection::Members]
        );
        loaded.journal.truncate().expect("truncate");
        loaded.state.mark_clean(3);
        for n in 3..5 {
            stage_member(&mut loaded, n);
        }
        loaded.journal.flush().expect("flush");
        // One owner at a time: the journal stays locked while its first owner lives.
        drop(loaded);

        let reloaded = load(&paths).expect("reload");
        assert_eq!(reloaded.state.members.len(), 5);
        assert_eq!(reloaded.state.last_seq, 5);
        assert_eq!(
            reloaded.replayed.len(),
            2,
            "no audit trail yet: every journal record is unaudited"
        );
    }

    #[test]
    fn a_compaction_beside_new_records_reloads_exactly_at_every_step() {
        let root = tempfile::tempdir().expect("tempdir");
        let (paths, mut loaded) = tenant_with_three_members(root.path());
        // The compaction's start: the journal rotated aside, what changed copied.
        loaded.journal.rotate().expect("rotate");
        let copy = loaded.state.dirty_copy();
        let files = |state: &TenantState| dirty_files(&paths, state, None).expect("files");
        assert_eq!(
            files(&copy),
            files(&loaded.state),
            "the copy writes the same files"
        );
        loaded.state.mark_clean(3);
        // New records go on into the new journal while the snapshot is being written.
        for n in 3..5 {
            stage_member(&mut loaded, n);
        }
        loaded.journal.flush().expect("flush");
        drop(loaded);
        let reload = || {
            let reloaded = load(&paths).expect("reload");
            assert_eq!(reloaded.state.members.len(), 5);
            assert_eq!(reloaded.state.last_seq, 5);
        };

        // A crash before the snapshot: both journals replay.
        reload();
        // The snapshot is on disk, the rotated journal not yet retired: its records are skipped.
        let (written, _) = files(&copy);
        write_snapshots(paths.dir(), &written).expect("snapshot");
        reload();
        // Retired: the snapshot and the new journal hold everything.
        let owner = load(&paths).expect("load");
        let retire = owner.journal.lease().expect("lease");
        drop(owner);
        retire.retire_previous().expect("retire");
        drop(retire);
        assert!(!crate::store::previous_of(&paths.journal()).exists());
        reload();
    }
}
