"""iCalendar export read back by a standard parser (icalendar) and checked line by line against RFC 5545."""

from __future__ import annotations

import datetime as dt

import pytest
from icalendar import Calendar

from trialdesk.adapters.ical import site_calendar_ics, subject_calendar_ics, visits_to_ics, write_ics
from trialdesk.domain.schedule import ScheduleSpec, SubjectTimeline, build_site_calendar, build_subject_calendar

D = dt.date
R = D(2025, 7, 1)
STAMP = dt.datetime(2025, 9, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def calendar():
    t = SubjectTimeline(
        subject_id="S001",
        site_id="hunan-cancer-hospital",
        randomization_date=R,
        dose_dates=[D(2025, 7, 3), D(2025, 7, 24), D(2025, 8, 21)],
        assessment_dates=[D(2025, 8, 13)],
    )
    return build_subject_calendar(ScheduleSpec(), t, D(2025, 9, 1), horizon_days=60)


def test_parser_reads_back_every_visit(calendar, tmp_path):
    path = write_ics(tmp_path / "S001.ics", subject_calendar_ics("S001", calendar, generated_at=STAMP))
    cal = Calendar.from_ical(path.read_bytes())
    assert str(cal["VERSION"]) == "2.0" and "trialdesk" in str(cal["PRODID"])
    events = cal.walk("VEVENT")
    assert len(events) == len(calendar)
    by_summary = {str(e["SUMMARY"]).split(" ")[1]: e for e in events}
    # C3D1 was given on 08-21 (a week late): the event sits on the actual date, all day
    c3 = by_summary["C3D1"]
    assert c3.decoded("DTSTART") == D(2025, 8, 21) and c3.decoded("DTEND") == D(2025, 8, 22)
    assert "out of window" in str(c3["DESCRIPTION"])
    # C4D1 not given yet: planned 08-21 + 21 = 09-11, window 09-08..09-14
    c4 = by_summary["C4D1"]
    assert c4.decoded("DTSTART") == D(2025, 9, 11)
    assert "Window: 2025-09-08 to 2025-09-14" in str(c4["DESCRIPTION"])
    # TA1 on the fixed grid: done 08-13
    assert by_summary["TA1"].decoded("DTSTART") == D(2025, 8, 13)
    uids = [str(e["UID"]) for e in events]
    assert len(set(uids)) == len(uids) and "S001-C4D1@trialdesk" in uids


def test_rfc5545_framing(calendar):
    raw = visits_to_ics(calendar, name="S001", generated_at=STAMP)
    text = raw.decode("utf-8")
    lines = text.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR" and lines[-1] == ""
    assert "\n" not in text.replace("\r\n", "")  # every line ends in CRLF
    assert all(len(line.encode("utf-8")) <= 75 for line in lines)  # folded at 75 octets
    assert text.count("BEGIN:VEVENT") == text.count("END:VEVENT") == len(calendar)
    assert "DTSTART;VALUE=DATE:20250911" in text
    assert "DTSTAMP:20250901T080000Z" in text


def test_site_calendar_only_holds_its_subjects():
    spec = ScheduleSpec()
    ts = [
        SubjectTimeline(subject_id=s, site_id=site, randomization_date=R)
        for s, site in (("S1", "a"), ("S2", "a"), ("S3", "b"))
    ]
    visits = [v for t in ts for v in build_subject_calendar(spec, t, D(2025, 7, 2))]
    cal = Calendar.from_ical(site_calendar_ics("a", visits, generated_at=STAMP))
    subjects = {str(e["SUMMARY"]).split(" ")[0] for e in cal.walk("VEVENT")}
    assert subjects == {"S1", "S2"}
    assert len(cal.walk("VEVENT")) == len(build_site_calendar(spec, ts, "a", D(2025, 7, 2)))


def test_reproducible_with_a_fixed_stamp(calendar):
    assert visits_to_ics(calendar, name="x", generated_at=STAMP) == visits_to_ics(
        calendar, name="x", generated_at=STAMP
    )
    with pytest.raises(ValueError, match="generated_at"):
        visits_to_ics(calendar, name="x", generated_at=dt.datetime(2025, 9, 1))
