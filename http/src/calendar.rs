//! iCalendar output (the `ics` crate): one VEVENT per meeting with a stable UID, UTC start and end
//! (correct in every client whatever the meeting's zone), attendees with their RSVP, a SEQUENCE
//! that grows with every change, and STATUS:CANCELLED for cancelled meetings.

use ics::parameters::{CN, PartStat, RSVP, Role};
use ics::properties::{
    Attendee, Description, DtEnd, DtStart, Location, Organizer, Sequence, Status, Summary, URL,
};
use ics::{Event, ICalendar, escape_text};
use jiff::Timestamp;
use majlis_actors::tenant::{CalendarData, MeetingStatus, RsvpResponse};

fn utc(at: Timestamp) -> String {
    at.strftime("%Y%m%dT%H%M%SZ").to_string()
}

fn event<'a>(data: &'a CalendarData, now: Timestamp, base_url: &str) -> Event<'a> {
    let meeting = &data.meeting;
    let uid = format!("{}@{}.majlis", meeting.id, data.tenant_slug);
    let mut event = Event::new(uid, utc(now));
    event.push(DtStart::new(utc(meeting.starts_at)));
    event.push(DtEnd::new(utc(meeting.ends_at)));
    event.push(Summary::new(escape_text(format!(
        "{} — {}",
        data.board.name, meeting.title
    ))));
    if let Some(location) = &meeting.location {
        event.push(Location::new(escape_text(location.clone())));
    }
    let link = format!("{base_url}/meetings/{}", meeting.id);
    let mut description = format!("Meeting page: {link}\nTime zone: {}", meeting.timezone);
    if let Some(video) = &meeting.video_url {
        description.push_str(&format!("\nJoin online: {video}"));
    }
    event.push(Description::new(escape_text(description)));
    event.push(URL::new(link));
    event.push(Sequence::new(meeting.sequence.to_string()));
    event.push(match meeting.status {
        MeetingStatus::Cancelled => Status::cancelled(),
        MeetingStatus::Draft => Status::tentative(),
        _ => Status::confirmed(),
    });
    if let Some(organizer) = data
        .organizer
        .as_ref()
        .and_then(|m| m.email.as_ref().map(|e| (m, e)))
    {
        let mut property = Organizer::new(format!("mailto:{}", organizer.1));
        property.add(CN::new(organizer.0.name.clone()));
        event.push(property);
    }
    for member in &data.members {
        let Some(email) = &member.email else { continue };
        let mut attendee = Attendee::new(format!("mailto:{email}"));
        attendee.add(CN::new(member.name.clone()));
        attendee.add(Role::REQ_PARTICIPANT);
        attendee.add(RSVP::True);
        attendee.add(match meeting.rsvps.get(&member.id).map(|r| r.response) {
            Some(RsvpResponse::Yes) => PartStat::ACCEPTED,
            Some(RsvpResponse::No) => PartStat::DECLINED,
            Some(RsvpResponse::Maybe) => PartStat::TENTATIVE,
            None => PartStat::NEEDS_ACTION,
        });
        event.push(attendee);
    }
    event
}

/// A calendar with the given meetings.
pub fn calendar(name: &str, events: &[CalendarData], now: Timestamp, base_url: &str) -> String {
    let mut calendar = ICalendar::new("2.0", "-//majlis//board portal//EN");
    calendar.push(ics::properties::Method::new("PUBLISH"));
    calendar.push(ics::components::Property::new(
        "X-WR-CALNAME",
        escape_text(name.to_owned()),
    ));
    for data in events {
        calendar.add_event(event(data, now, base_url));
    }
    calendar.to_string()
}
