//! The serial part of a durable write, on one core and without the disk: what a tenant actor
//! does for one member creation in a tenant that already holds many members (decide, serialise
//! the journal line, whose head is the audit line's, apply, hand the audit entry on), and what
//! its audit child does with the entry (chain the line). Group commit cannot go faster than this on one tenant.
//! Also the copy of the members a snapshot takes on the actor before it writes them elsewhere.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jiff::Timestamp;
use majlis_actors::audit::{AuditEntry, GENESIS_HASH, write_line};
use majlis_actors::catalog::Plan;
use majlis_actors::config::AuthConfig;
use majlis_actors::domain::{Email, MemberId, Slug};
use majlis_actors::store::snapshot_compact;
use majlis_actors::tenant::{
    Caller, Meeting, MembersFile, NewMember, NewTenant, Op, Request, Rsvp, RsvpResponse,
    TenantState,
};

/// Members the tenant holds before the measured writes.
const MEMBERS: usize = 100_000;
/// Meetings it holds, and the answers each has.
const MEETINGS: usize = 500;
const RSVPS: usize = 200;

fn tenant() -> TenantState {
    let new = NewTenant {
        slug: Slug::parse("bench").expect("slug"),
        name: "Bench".into(),
        plan: Plan::Enterprise,
        sector: "corporate".into(),
        sub_sector: None,
        hosts: Vec::new(),
        timezone: None,
    };
    TenantState::new(&new, Timestamp::UNIX_EPOCH)
}

fn member(i: usize) -> Request {
    Request::AddMember(NewMember {
        name: "Bench member".into(),
        email: Some(Email::parse(&format!("member{i}@bench.example")).expect("email")),
        phone: None,
        role: "member".into(),
    })
}

/// One member creation as the tenant actor does it: decide, the journal line, apply; answers
/// the entry it hands to its audit child.
fn create(state: &mut TenantState, i: usize, journal: &mut Vec<u8>) -> AuditEntry {
    let (caller, auth, now) = (
        Caller::OperatorAdmin,
        AuthConfig::default(),
        Timestamp::now(),
    );
    let decision = state
        .decide(member(i), now, &caller, &auth)
        .expect("a member");
    let change = decision.change.expect("a write");
    let seq = state.last_seq + 1;
    let record = change.into_record(seq, now, caller.principal(), None);
    journal.clear();
    let entry = record.write_line(journal).expect("journal line");
    journal.push(b'\n');
    state.apply(seq, record.op);
    entry
}

/// A tenant's year of meetings, each answered by its board.
fn meetings(state: &mut TenantState) {
    for n in 0..MEETINGS {
        let mut meeting: Meeting = serde_json::from_value(serde_json::json!({
            "id": format!("g_{n}"), "board_id": "b_1", "title": "Board meeting",
            "starts_at": "2027-01-10T06:00:00Z", "ends_at": "2027-01-10T08:00:00Z",
            "timezone": "Asia/Muscat", "location": null, "video_url": null,
            "status": "scheduled", "sequence": 0, "agenda": [], "rsvps": {}, "attendance": {},
            "created_at": "2026-11-23T00:00:00Z"
        }))
        .expect("a meeting");
        for _ in 0..RSVPS {
            let rsvp = Rsvp {
                response: RsvpResponse::Yes,
                note: Some("will attend".into()),
                at: Timestamp::UNIX_EPOCH,
            };
            meeting.rsvps.insert(MemberId::generate(), rsvp);
        }
        let seq = state.last_seq + 1;
        let meeting = Box::new(meeting);
        state.apply(seq, Op::MeetingSaved { meeting });
    }
}

fn write_path(c: &mut Criterion) {
    let mut state = tenant();
    let mut journal = Vec::new();
    for i in 0..MEMBERS {
        create(&mut state, i, &mut journal);
    }
    let mut next = MEMBERS;
    c.bench_function("tenant actor: member create among 100,000 members", |b| {
        b.iter(|| {
            next += 1;
            black_box(create(&mut state, next, &mut journal))
        })
    });

    c.bench_function("snapshot: copy 100,000 members and drop the copy", |b| {
        b.iter(|| black_box(state.dirty_copy()))
    });
    c.bench_function("snapshot: serialise 100,000 members", |b| {
        b.iter(|| black_box(snapshot_compact(state.last_seq, &state.members).expect("bytes")))
    });
    let mut file = MembersFile::default();
    file.snapshot(state.last_seq, &state.members)
        .expect("first");
    c.bench_function(
        "snapshot: members file of 100,000 members, 1,000 new since the last",
        |b| {
            b.iter_batched(
                || {
                    let mut changed = state.clone();
                    for _ in 0..1_000 {
                        next += 1;
                        create(&mut changed, next, &mut journal);
                    }
                    changed
                },
                |changed| {
                    let bytes = file
                        .snapshot(changed.last_seq, &changed.members)
                        .expect("bytes");
                    black_box(bytes.len())
                },
                BatchSize::LargeInput,
            )
        },
    );
    let mut with_meetings = tenant();
    meetings(&mut with_meetings);
    c.bench_function(
        "snapshot: copy 500 meetings of 200 answers and drop the copy",
        |b| b.iter(|| black_box(with_meetings.dirty_copy())),
    );
    let entry = create(&mut state, next + 1, &mut journal);
    let mut trail = Vec::new();
    c.bench_function("audit child: chain the line", |b| {
        b.iter_batched(
            || entry.clone(),
            |entry| {
                trail.clear();
                black_box(write_line(&entry, GENESIS_HASH, &mut trail))
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, write_path);
criterion_main!(benches);
