//! The durable writes of every write scenario — new members, member edits, agenda notes and
//! RSVPs, in turn — and how each acknowledged one is read back afterwards.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use reqwest::{Client, Method};
use serde_json::{Value, json};

use crate::client::{Tenant, tenant_request};
use crate::driver::Outcome;
use crate::lanes::{Call, Lanes};
use crate::verify::{MARK_PREFIX, VerifyError, check_state, check_writes, marks_in, new_marks};

/// What a write does. A worker takes them in turn, each worker starting at another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// An admin adds a member: acknowledged with the new member's id.
    NewMember,
    /// The admin renames themself.
    MemberEdit,
    /// The admin rewrites the notes of the meeting's agenda item.
    AgendaNote,
    /// The admin, who chairs the board, answers the meeting's invitation.
    Rsvp,
}

impl WriteKind {
    pub fn of(worker: usize, n: u64) -> Self {
        match (n + worker as u64) % 4 {
            0 => Self::NewMember,
            1 => Self::MemberEdit,
            2 => Self::AgendaNote,
            _ => Self::Rsvp,
        }
    }
}

/// The audit actions of the edits, each changing one object whose state must hold the mark of
/// the last of them.
const EDITS: [&str; 3] = ["member.update", "agenda.update", "meeting.rsvp"];

/// One durable write; an edit carries a mark no other write carries.
pub(crate) async fn write_op(lanes: Lanes, tenant: Tenant, worker: usize, n: u64) -> Outcome {
    let kind = WriteKind::of(worker, n);
    let mark = format!("{MARK_PREFIX}w{worker}n{n}r{:08x}", rand::random::<u32>());
    let (method, path, body) = match kind {
        WriteKind::NewMember => (
            Method::POST,
            "/api/members".to_owned(),
            json!({"name": "Load member", "email": format!("{mark}@{}.load", tenant.slug), "role": "member"}),
        ),
        WriteKind::MemberEdit => (
            Method::PATCH,
            format!("/api/members/{}", tenant.admin),
            json!({"name": format!("Load admin {mark}")}),
        ),
        WriteKind::AgendaNote => (
            Method::PATCH,
            format!("/api/meetings/{}/agenda/{}", tenant.meeting, tenant.item),
            json!({"notes": format!("Note {mark}")}),
        ),
        WriteKind::Rsvp => (
            Method::PUT,
            format!("/api/meetings/{}/rsvp", tenant.meeting),
            json!({"response": "yes", "note": format!("Coming {mark}")}),
        ),
    };
    let call = Call {
        method,
        path: &path,
        tenant: Some(&tenant.slug),
        key: Some(&tenant.key),
        json: serde_json::to_vec(&body).ok(),
    };
    let Some(answer) = lanes.send(worker, call).await else {
        return Outcome::io();
    };
    let outcome = Outcome::from_answer(&answer);
    let acknowledged = match (kind, outcome.status) {
        (WriteKind::NewMember, Some(201)) => serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .and_then(|v| v.get("id")?.as_str().map(str::to_owned)),
        (WriteKind::NewMember, _) => None,
        (_, Some(200..=299)) => Some(mark),
        _ => None,
    };
    Outcome {
        acknowledged: acknowledged.map(|a| (tenant.slug.clone(), a)),
        ..outcome
    }
}

/// What a tenant's audit trail has shown so far.
#[derive(Debug, Default)]
struct Trail {
    /// The last seq read.
    after: Option<u64>,
    /// Ids of created members and the marks the edits brought in.
    audited: HashSet<String>,
    /// The mark of the last change of each edited object, by its audit action.
    last: BTreeMap<&'static str, String>,
}

impl Trail {
    /// Reads the trail on from the last line seen.
    async fn read_on(&mut self, client: &Client, base: &str, tenant: &Tenant) {
        loop {
            let mut path = "/api/audit?limit=1000".to_owned();
            if let Some(after) = self.after {
                path += &format!("&after={after}");
            }
            let Some(page) = get_json(client, base, tenant, &path).await else {
                return;
            };
            for line in page["lines"].as_array().into_iter().flatten() {
                self.read_line(line);
            }
            if page["next"].as_u64().is_none() {
                return;
            }
        }
    }

    fn read_line(&mut self, line: &Value) {
        let action = line["action"].as_str().unwrap_or_default();
        if action == "member.create"
            && let Some(target) = line["target"].as_str()
        {
            self.audited.insert(target.to_owned());
        } else if let Some(edit) = EDITS.iter().find(|e| **e == action) {
            for mark in new_marks(&line["diff"]) {
                self.audited.insert(mark.clone());
                self.last.insert(edit, mark);
            }
        }
        if let Some(seq) = line["seq"].as_u64() {
            self.after = Some(seq);
        }
    }
}

/// A GET with the tenant's key: the answer's JSON (`null` when it is not JSON), `None` when the
/// server cannot be reached.
async fn get_json(client: &Client, base: &str, tenant: &Tenant, path: &str) -> Option<Value> {
    let response = tenant_request(client, base, &tenant.slug, Method::GET, path)
        .bearer_auth(&tenant.key)
        .send()
        .await
        .ok()?;
    Some(response.json().await.unwrap_or(Value::Null))
}

/// What a tenant holds now: its members' ids, and the mark each edited object carries.
async fn read_state(
    client: &Client,
    base: &str,
    tenant: &Tenant,
) -> (HashSet<String>, BTreeMap<&'static str, Option<String>>) {
    let members = get_json(client, base, tenant, "/api/members").await;
    let meeting = get_json(
        client,
        base,
        tenant,
        &format!("/api/meetings/{}", tenant.meeting),
    )
    .await;
    let (members, meeting) = (members.unwrap_or_default(), meeting.unwrap_or_default());
    let mark_of = |text: &Value| {
        text.as_str()
            .and_then(|t| marks_in(t).next())
            .map(str::to_owned)
    };
    let list = members.as_array().map(Vec::as_slice).unwrap_or_default();
    let admin = list.iter().find(|m| m["id"] == tenant.admin.as_str());
    let item = meeting["agenda"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["id"] == tenant.item.as_str());
    let held = BTreeMap::from([
        ("member.update", admin.and_then(|m| mark_of(&m["name"]))),
        ("agenda.update", item.and_then(|i| mark_of(&i["notes"]))),
        (
            "meeting.rsvp",
            mark_of(&meeting["rsvps"][tenant.admin.as_str()]["note"]),
        ),
    ]);
    let ids = list
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_owned))
        .collect();
    (ids, held)
}

/// Reads back every acknowledged write and its audit line through the API, and checks that each
/// edited object holds the last change its trail shows.
pub(crate) async fn verify_api(
    client: &Client,
    base: &str,
    tenants: &[Tenant],
    acknowledged: &BTreeMap<String, HashSet<String>>,
) -> Result<u64, VerifyError> {
    for tenant in tenants {
        let Some(acked) = acknowledged.get(&tenant.slug) else {
            continue;
        };
        // The audit trail is written just after the acknowledgement, and a write still in flight
        // when the run ended may show in the state before its line does: give it a moment,
        // reading the trail on from the last line seen.
        let mut trail = Trail::default();
        let mut verdict = Ok(());
        for _ in 0..100 {
            trail.read_on(client, base, tenant).await;
            if acked.is_subset(&trail.audited) {
                let (present, held) = read_state(client, base, tenant).await;
                verdict = check_writes(&tenant.slug, acked, &present, &trail.audited)
                    .and_then(|()| check_state(&tenant.slug, &trail.last, &held));
                if verdict.is_ok() {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !acked.is_subset(&trail.audited) {
            let (present, _) = read_state(client, base, tenant).await;
            verdict = check_writes(&tenant.slug, acked, &present, &trail.audited);
        }
        verdict?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_worker_sends_every_kind_of_write() {
        for worker in 0..3 {
            let kinds: HashSet<String> = (0..4)
                .map(|n| format!("{:?}", WriteKind::of(worker, n)))
                .collect();
            assert_eq!(kinds.len(), 4);
        }
    }

    #[test]
    fn the_trail_remembers_the_last_mark_of_each_edit() {
        let mut trail = Trail::default();
        let line = |seq: u64, action: &str, diff: Value| json!({"seq": seq, "action": action, "target": "m_1", "diff": diff});
        trail.read_line(&line(1, "member.create", json!({})));
        trail.read_line(&line(
            2,
            "meeting.rsvp",
            json!({"rsvps": {"from": null, "to": {"m_1": {"note": "tok-a"}}}}),
        ));
        trail.read_line(&line(3, "meeting.rsvp", json!({"rsvps": {"from": {"m_1": {"note": "tok-a"}}, "to": {"m_1": {"note": "tok-b"}}}})));
        trail.read_line(&line(
            4,
            "meeting.update",
            json!({"title": {"from": null, "to": "tok-c"}}),
        ));
        assert_eq!(trail.after, Some(4));
        assert_eq!(
            trail.audited,
            ["m_1", "tok-a", "tok-b"].map(str::to_owned).into()
        );
        assert_eq!(
            trail.last,
            BTreeMap::from([("meeting.rsvp", "tok-b".to_owned())])
        );
    }
}
