//! The members snapshot of a large tenant, kept as the bytes last written and where each member
//! lies in them, so that the next snapshot serialises only the members changed since (a changed
//! member is a new `Arc`) and copies the others. The file is byte for byte the one serialising
//! the whole map writes.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use super::state::Member;
use crate::domain::MemberId;
use crate::store::{StoreError, serialising_failed, snapshot_compact};

/// Below this many members a snapshot serialises them all and nothing is kept: that takes well
/// under a millisecond, and the kept bytes would cost a small tenant more memory than they save.
const KEEP_FROM: usize = 1_000;

/// One member as last written.
#[derive(Debug)]
struct Entry {
    id: MemberId,
    /// Held, so the member cannot change in place and its address cannot be reused: the same
    /// pointer means the same member.
    member: Arc<Member>,
    /// Its `"id":{…}` in the file's bytes.
    at: Range<usize>,
}

/// The members file last written, for the next snapshot to copy from.
#[derive(Debug, Default)]
pub struct MembersFile {
    bytes: Vec<u8>,
    /// In id order, as in the file.
    entries: Vec<Entry>,
    /// Members the last snapshot serialised (the others it copied).
    serialised: usize,
}

impl MembersFile {
    /// The members file at `seq`, kept for the next call when the tenant is large.
    pub fn snapshot(
        &mut self,
        seq: u64,
        members: &BTreeMap<MemberId, Arc<Member>>,
    ) -> Result<Cow<'_, [u8]>, StoreError> {
        if members.len() < KEEP_FROM {
            *self = Self {
                serialised: members.len(),
                ..Self::default()
            };
            return snapshot_compact(seq, members).map(Cow::Owned);
        }
        // Sized by the last file's bytes a member, so that a tenant that grew since does not
        // double the buffer; what is left over is handed back below.
        let per_member = self.bytes.len() / self.entries.len().max(1);
        let mut out = Vec::with_capacity(per_member * (members.len() + members.len() / 32) + 64);
        out.extend_from_slice(b"{\"seq\":");
        serde_json::to_writer(&mut out, &seq).map_err(serialising_failed)?;
        out.extend_from_slice(b",\"data\":{");
        let mut entries = Vec::with_capacity(members.len());
        let mut serialised = 0;
        let mut before = self.entries.iter().peekable();
        for (id, member) in members {
            // Entries of members gone since are passed over; both run in id order.
            while before.next_if(|e| e.id < *id).is_some() {}
            let kept = before
                .next_if(|e| e.id == *id)
                .filter(|e| Arc::ptr_eq(&e.member, member));
            if !entries.is_empty() {
                out.push(b',');
            }
            let start = out.len();
            match kept {
                Some(entry) => out.extend_from_slice(&self.bytes[entry.at.clone()]),
                None => {
                    serde_json::to_writer(&mut out, id).map_err(serialising_failed)?;
                    out.push(b':');
                    serde_json::to_writer(&mut out, &**member).map_err(serialising_failed)?;
                    serialised += 1;
                }
            }
            entries.push(Entry {
                id: *id,
                member: Arc::clone(member),
                at: start..out.len(),
            });
        }
        out.extend_from_slice(b"}}\n");
        // Kept until the next snapshot: a buffer that had to grow (the tenant grew by more than
        // the estimate) gives back its spare half. Not every time, since shrinking a large block
        // costs about as much as building the file.
        if out.capacity() > out.len() + out.len() / 8 {
            out.shrink_to_fit();
        }
        self.bytes = out;
        self.entries = entries;
        self.serialised = serialised;
        Ok(Cow::Borrowed(&self.bytes))
    }

    /// Members the last snapshot serialised rather than copied (all of a small tenant's).
    pub fn serialised(&self) -> usize {
        self.serialised
    }

    /// The memory this keeps: the file's bytes and where each member lies in them (the members
    /// themselves are the state's, shared).
    pub fn kept_bytes(&self) -> u64 {
        (self.bytes.capacity() + self.entries.capacity() * std::mem::size_of::<Entry>()) as u64
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::domain::Email;
    use crate::tenant::state::MemberStatus;

    fn member(n: usize) -> Arc<Member> {
        Arc::new(Member {
            id: MemberId::generate(),
            name: format!("Member \"{n}\" ✓"),
            email: Some(Email::parse(&format!("m{n}@example.com")).expect("email")),
            phone: None,
            role: "member".into(),
            status: MemberStatus::Active,
            created_at: Timestamp::UNIX_EPOCH,
            epoch: 0,
        })
    }

    fn members(n: usize) -> BTreeMap<MemberId, Arc<Member>> {
        (0..n).map(member).map(|m| (m.id, m)).collect()
    }

    fn renamed(old: &Member, name: &str) -> Arc<Member> {
        Arc::new(Member {
            name: name.into(),
            ..old.clone()
        })
    }

    #[test]
    fn every_snapshot_is_the_whole_map_serialised_through_adds_edits_and_removals() {
        let mut map = members(KEEP_FROM + 10);
        let mut file = MembersFile::default();
        for round in 0..4u64 {
            let bytes = file.snapshot(round, &map).expect("bytes").into_owned();
            assert_eq!(bytes, snapshot_compact(round, &map).expect("whole"));
            let ids: Vec<MemberId> = map.keys().copied().collect();
            // Some members renamed, some gone, some new, at both ends and in the middle.
            for id in ids.iter().step_by(97) {
                let changed = renamed(&map[id], &format!("round {round}"));
                map.insert(*id, changed);
            }
            for id in ids.iter().skip(1).step_by(211) {
                map.remove(id);
            }
            map.remove(&ids[ids.len() - 1]);
            for n in 0..25 {
                let m = member(10_000 * (round as usize + 1) + n);
                map.insert(m.id, m);
            }
        }
        let bytes = file.snapshot(9, &map).expect("bytes").into_owned();
        assert_eq!(bytes, snapshot_compact(9, &map).expect("whole"));
        assert_eq!(file.entries.len(), map.len());
    }

    #[test]
    fn an_unchanged_member_is_copied_and_a_replaced_one_serialised_again() {
        let mut map = members(KEEP_FROM);
        let mut file = MembersFile::default();
        file.snapshot(1, &map).expect("first");
        assert_eq!(file.serialised(), KEEP_FROM);
        let id = *map.keys().nth(KEEP_FROM / 2).expect("a member");
        map.insert(id, renamed(&map[&id], "Renamed"));
        let bytes = file.snapshot(2, &map).expect("second").into_owned();
        assert_eq!(bytes, snapshot_compact(2, &map).expect("whole"));
        assert_eq!(file.serialised(), 1);
        // The same member again under another pointer is serialised again.
        map.insert(id, Arc::new((*map[&id]).clone()));
        file.snapshot(3, &map).expect("third");
        assert_eq!(file.serialised(), 1);
        let written = &file.entries[KEEP_FROM / 2];
        assert!(Arc::ptr_eq(&written.member, &map[&id]));
        assert!(
            std::str::from_utf8(&file.bytes[written.at.clone()])
                .expect("utf-8")
                .contains("\"Renamed\"")
        );
    }

    #[test]
    fn a_tenant_that_grew_keeps_about_its_file_and_no_spare_buffer() {
        let mut map = members(KEEP_FROM);
        let mut file = MembersFile::default();
        for round in 0..3u64 {
            let written = file.snapshot(round, &map).expect("bytes").len() as u64;
            let entries = (map.len() * std::mem::size_of::<Entry>()) as u64;
            assert!(
                file.kept_bytes() <= written + written / 8 + entries,
                "round {round}"
            );
            // Half as many members again before the next snapshot.
            for n in 0..map.len() / 2 {
                let m = member(n);
                map.insert(m.id, m);
            }
        }
    }

    #[test]
    fn a_small_tenant_keeps_nothing() {
        let mut file = MembersFile::default();
        let large = members(KEEP_FROM);
        let written = file.snapshot(1, &large).expect("large").len() as u64;
        assert_eq!(file.entries.len(), KEEP_FROM);
        let per_member = std::mem::size_of::<Entry>() as u64;
        assert!(file.kept_bytes() >= written + KEEP_FROM as u64 * per_member);
        let small = members(3);
        let bytes = file.snapshot(2, &small).expect("small").into_owned();
        assert_eq!(bytes, snapshot_compact(2, &small).expect("whole"));
        assert!(file.entries.is_empty() && file.bytes.is_empty());
        assert_eq!(file.kept_bytes(), 0);
    }
}
