//! How a meeting is shown over the API: the stored meeting, each agenda item with its number
//! ("1", "1.1" …), and the quorum, written straight to JSON (no intermediate `Value`; meeting
//! reads are the hottest answers).

use std::collections::BTreeMap;

use majlis_actors::tenant::{AgendaItem, Meeting, MeetingView};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

/// One meeting as the API shows it.
#[derive(Debug)]
pub(crate) struct MeetingJson<'a>(pub &'a MeetingView);

impl Serialize for MeetingJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let MeetingView {
            meeting,
            numbers,
            quorum,
        } = self.0;
        // Named in full, without `..`: a field added to `Meeting` must be added here too.
        let Meeting {
            id,
            board_id,
            title,
            starts_at,
            ends_at,
            timezone,
            location,
            video_url,
            status,
            sequence,
            agenda,
            rsvps,
            attendance,
            minutes,
            documents,
            created_at,
        } = &**meeting;
        let mut map = serializer.serialize_map(Some(17))?;
        map.serialize_entry("id", id)?;
        map.serialize_entry("board_id", board_id)?;
        map.serialize_entry("title", title)?;
        map.serialize_entry("starts_at", starts_at)?;
        map.serialize_entry("ends_at", ends_at)?;
        map.serialize_entry("timezone", timezone)?;
        map.serialize_entry("location", location)?;
        map.serialize_entry("video_url", video_url)?;
        map.serialize_entry("status", status)?;
        map.serialize_entry("sequence", sequence)?;
        map.serialize_entry("agenda", &Agenda { agenda, numbers })?;
        map.serialize_entry("rsvps", rsvps)?;
        map.serialize_entry("attendance", attendance)?;
        map.serialize_entry("minutes", minutes)?;
        map.serialize_entry("documents", documents)?;
        map.serialize_entry("created_at", created_at)?;
        map.serialize_entry("quorum", quorum)?;
        map.end()
    }
}

/// A list of meetings as the API shows it.
#[derive(Debug)]
pub(crate) struct MeetingsJson<'a>(pub &'a [MeetingView]);

impl Serialize for MeetingsJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for view in self.0 {
            seq.serialize_element(&MeetingJson(view))?;
        }
        seq.end()
    }
}

struct Agenda<'a> {
    agenda: &'a [AgendaItem],
    numbers: &'a BTreeMap<String, String>,
}

impl Serialize for Agenda<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.agenda.len()))?;
        for item in self.agenda {
            seq.serialize_element(&Numbered {
                item,
                number: self.numbers.get(&item.id),
            })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct Numbered<'a> {
    #[serde(flatten)]
    item: &'a AgendaItem,
    number: Option<&'a String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use majlis_actors::tenant::QuorumView;
    use serde_json::{Value, json};

    /// What the API showed before this view: the meeting as a `Value`, numbers and quorum added.
    fn through_value(view: &MeetingView) -> Value {
        let mut value = serde_json::to_value(&view.meeting).unwrap();
        for item in value["agenda"].as_array_mut().unwrap() {
            let number = view.numbers.get(item["id"].as_str().unwrap()).cloned();
            item["number"] = json!(number);
        }
        value["quorum"] = json!(view.quorum);
        value
    }

    fn view() -> MeetingView {
        let member = "m_00000000000000000001";
        let meeting: Meeting = serde_json::from_value(json!({
            "id": "g_00000000000000000001",
            "board_id": "b_00000000000000000001",
            "title": "Quarterly board meeting",
            "starts_at": "2027-01-10T06:00:00Z",
            "ends_at": "2027-01-10T08:00:00Z",
            "timezone": "Asia/Muscat",
            "location": "Muscat, \"HQ\"",
            "video_url": null,
            "status": "scheduled",
            "sequence": 3,
            "agenda": [
                {"id": "a1", "parent": null, "title": "Opening", "presenter": member,
                 "duration_min": 10, "notes": null, "recusals": []},
                {"id": "a2", "parent": "a1", "title": "Minutes", "presenter": null,
                 "duration_min": null, "notes": "n", "recusals": [member]},
                {"id": "a3", "parent": null, "title": "Unnumbered", "presenter": null,
                 "duration_min": null, "notes": null, "recusals": []}
            ],
            "rsvps": {member: {"response": "yes", "note": null, "at": "2026-11-02T09:30:00Z"}},
            "attendance": {},
            "minutes": null,
            "documents": [],
            "created_at": "2026-11-01T00:00:00Z"
        }))
        .expect("a meeting");
        MeetingView {
            meeting: std::sync::Arc::new(meeting),
            numbers: BTreeMap::from([("a1".into(), "1".into()), ("a2".into(), "1.1".into())]),
            quorum: QuorumView {
                voting_members: 5,
                required: 3,
                present: 2,
                quorate: false,
            },
        }
    }

    #[test]
    fn shows_what_the_stored_meeting_holds_with_numbers_and_quorum() {
        let view = view();
        let shown = serde_json::to_value(MeetingJson(&view)).unwrap();
        assert_eq!(shown, through_value(&view));
        assert_eq!(shown["agenda"][1]["number"], "1.1");
        assert_eq!(shown["agenda"][2]["number"], Value::Null);
        assert_eq!(shown["quorum"]["required"], 3);
        let list = serde_json::to_value(MeetingsJson(std::slice::from_ref(&view))).unwrap();
        assert_eq!(list, json!([through_value(&view)]));
    }
}
