"""``trialdesk calendar``, ``doses`` and ``disposition`` through the registered CLI (SQLite file database)."""

from __future__ import annotations

import json

from icalendar import Calendar
from typer.testing import CliRunner

from test_treatment_helpers import day, randomized_subject
from trialdesk.bootstrap import bootstrap
from trialdesk.entrypoints.cli.main import app

R = "2025-03-03"
runner = CliRunner()


def _cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_cli_plan_record_edit_calendar_ics_disposition(sqlite_url, tmp_path):
    td = bootstrap(sqlite_url)
    randomized_subject(td, "01-001", arm="thp", randomized_on=R)
    td.dispose()
    db = ("--db", sqlite_url)
    plan = _cli("doses", "plan", "01-001", "--cycle", 1, "--weight-kg", 60, "--dose-date", day(R, 1), "--json", *db)
    assert plan.exit_code == 0, plan.output
    assert {d["drug"]: d["dose_mg"] for d in json.loads(plan.stdout)["doses"]} == {
        "pertuzumab": 840.0,
        "trastuzumab": 480.0,
        "docetaxel": 122.5,
    }
    bad = _cli(
        "doses",
        "record",
        "01-001",
        "--drug",
        "docetaxel",
        "--cycle",
        1,
        "--dose-date",
        day(R, -1),
        "--actual-mg",
        122.5,
        "--weight-kg",
        60,
        *db,
    )
    assert bad.exit_code == 2 and "dose_date" in bad.output and "before randomization" in bad.output
    rec = _cli(
        "doses",
        "record",
        "01-001",
        "--drug",
        "docetaxel",
        "--cycle",
        1,
        "--dose-date",
        day(R, 1),
        "--actual-mg",
        122.5,
        "--weight-kg",
        60,
        "--json",
        *db,
    )
    assert rec.exit_code == 0, rec.output
    dose_id = json.loads(rec.stdout)["id"]
    edit = _cli("doses", "edit", "01-001", dose_id, "--set", "actual_mg=120", "--reason", "typo", "--json", *db)
    assert json.loads(edit.stdout)["changes"] == {"actual_mg": {"old": 122.5, "new": 120.0}}
    listed = json.loads(_cli("doses", "list", "01-001", "--json", *db).stdout)
    assert [(d["drug"], d["actual_mg"]) for d in listed] == [("docetaxel", 120.0)]

    out = tmp_path / "s.ics"
    cal = _cli("calendar", "01-001", "--as-of", day(R, 30), "--ics", out, "--json", *db)
    assert cal.exit_code == 0, cal.output
    visits = json.loads(cal.stdout)["visits"]
    by = {v["label"]: v for v in visits}
    assert by["C1D1"]["actual"] == day(R, 1) and by["C2D1"]["status"] == "overdue"
    assert len(Calendar.from_ical(out.read_bytes()).walk("VEVENT")) == len(visits)
    site = _cli("calendar", "--site", "hunan-cancer-hospital", "--as-of", day(R, 30), "--json", *db)
    assert json.loads(site.stdout)["visits"][0]["label"] == "C2D1"
    assert _cli("calendar", *db).exit_code == 2  # neither a subject nor --site

    disp = _cli(
        "disposition",
        "record",
        "01-001",
        "--kind",
        "end_of_treatment",
        "--date",
        day(R, 20),
        "--reason",
        "adverse event",
        "--json",
        *db,
    )
    assert disp.exit_code == 0 and json.loads(disp.stdout)["subject_status"] == "off_treatment"
    assert _cli("disposition", "record", "01-001", "--kind", "death", "--date", day(R, 25), *db).exit_code == 2
