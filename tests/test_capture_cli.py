"""CLI: ctcae load (idempotent), ae add/list/edit, tumor add/summary, queries raise/answer/close/list, sign and
casebook, with clear errors (exit 2 for bad input)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from access_helpers import PASSWORD, make_users
from capture_helpers import THP_RELATIONSHIP, WORKBOOK, add_subject
from trialdesk.entrypoints.cli.main import app

runner = CliRunner()


def _cli(args, user=None, password=PASSWORD):
    env = {"TRIALDESK_PASSWORD": password} if user else {}
    result = runner.invoke(app, args + (["--as", user] if user else []), env=env)
    return result


def test_capture_cli_round_trip(td, db_url, shared_dir, tmp_path):
    make_users(td)
    add_subject(td, "HUN-0001")
    db = ["--db", db_url]
    load = _cli(["ctcae", "load", str(shared_dir / WORKBOOK), "--json"] + db)
    assert load.exit_code == 0, load.output
    assert json.loads(load.stdout)["count"] == 837
    again = _cli(["ctcae", "load", str(shared_dir / WORKBOOK), "--json"] + db)
    assert json.loads(again.stdout)["unchanged"] == 837
    term = _cli(["ctcae", "term", "10028813"] + db)
    assert "Nausea (MedDRA 10028813, Gastrointestinal disorders)" in term.stdout and "grade 4" not in term.stdout

    rel = [x for d, c in THP_RELATIONSHIP.items() for x in ("--relationship", f"{d}={c}")]
    bad = _cli(
        ["ae", "add", "HUN-0001", "--term", "Nausea", "--grade", "4", "--onset", "2026-01-20"] + rel + db,
        user="coordinator1",
    )
    assert bad.exit_code == 2 and "grade 4 is not defined for CTCAE term 'Nausea'" in bad.output
    add = _cli(
        ["ae", "add", "HUN-0001", "--term", "Nausea", "--grade", "2", "--onset", "2026-01-20", "--json"] + rel + db,
        user="coordinator1",
    )
    assert add.exit_code == 0, add.output
    ae_id = json.loads(add.stdout)["id"]
    monitor_add = _cli(
        ["ae", "add", "HUN-0001", "--term", "Nausea", "--grade", "2", "--onset", "2026-01-20"] + rel + db,
        user="monitor1",
    )
    assert monitor_add.exit_code == 1 and "may not data.enter" in monitor_add.output

    raised = _cli(
        [
            "queries",
            "raise",
            "HUN-0001",
            "--entity",
            "adverse_event",
            "--entity-id",
            str(ae_id),
            "--field",
            "grade",
            "--message",
            "Source says grade 3",
            "--json",
        ]
        + db,
        user="monitor1",
    )
    qid = json.loads(raised.stdout)["id"]
    assert _cli(["queries", "answer", str(qid), "Corrected"] + db, user="coordinator1").exit_code == 0
    edit = _cli(
        ["ae", "edit", "HUN-0001", str(ae_id), "--set", "grade=3", "--reason", "query " + str(qid), "--json"] + db,
        user="coordinator1",
    )
    assert json.loads(edit.stdout)["changed"]["grade"] == {"old": 2, "new": 3}
    closed = _cli(["queries", "close", str(qid), "--json"] + db, user="monitor1")
    assert json.loads(closed.stdout)["status"] == "closed"
    listed = _cli(["queries", "list", "--status", "closed"] + db, user="monitor1")
    assert f"#{qid} [closed] HUN-0001 adverse_event {ae_id}.grade" in listed.stdout

    lesions = tmp_path / "base.json"
    lesions.write_text(json.dumps([{"lesion_id": "T1", "kind": "target", "organ": "liver", "measurement": 40}]))
    base = _cli(
        ["tumor", "add", "HUN-0001", "--date", "2026-01-02", "--lesions", str(lesions), "--baseline"] + db,
        user="investigator1",
    )
    assert base.exit_code == 0 and "baseline  sum 40" in base.stdout

    wrong = _cli(["sign", "HUN-0001"] + db, user="investigator1", password="wrong password!")
    assert wrong.exit_code == 1  # the login itself fails
    signed = _cli(["sign", "HUN-0001"] + db, user="investigator1")
    assert signed.exit_code == 0 and "signed by investigator1" in signed.stdout
    status = _cli(["casebook", "HUN-0001", "--json"] + db, user="coordinator1")
    assert json.loads(status.stdout)["status"] == "signed"
