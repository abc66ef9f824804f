"""Results posting that is true (SQLite and PostgreSQL): due (the protocol's 334 target PFS events or a recorded
early stop), approved by the sponsor, confirmed, versioned; the public page's dates and history; the participant
flow claims no completion for subjects still in the study; the registry status follows operations."""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from access_helpers import NCT, make_users, token_for
from analysis_helpers import fill_database
from trialdesk.adapters.db.tables import AuditEventRow, TrialRow
from trialdesk.domain.access import Role
from trialdesk.domain.errors import Conflict, InvalidInput, PermissionDenied
from trialdesk.domain.schedule import ScheduleSpec
from trialdesk.services import analysis, results_posting
from trialdesk.services.commands import ApproveResults, PostResults, RecordTrialDecision, RunAnalysis
from trialdesk.stats.analysis_sim import SimulationSettings, simulate_captured_data

CUT = dt.date(2028, 9, 30)
EARLIER_CUT = dt.date(2028, 6, 30)
#: NCT07003074's design (protocol YAML, operations.design.target_events: rpact's 333.5 events rounded up)
TARGET_EVENTS = 334


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)


@pytest.fixture
def trial(td):
    data = simulate_captured_data(
        np.random.default_rng(3), ScheduleSpec(), SimulationSettings(n_subjects=80, n_screened_extra=10)
    )
    fill_database(td, data)
    td.clock = lambda: _at(CUT + dt.timedelta(days=1))
    return td, make_users(td), data


def _run(td, stat, cut=CUT) -> dict:
    with td.uow(stat.username) as uow:
        run = analysis.run_analysis(uow, stat, NCT, RunAnalysis(cut_date=cut), with_report=False)
        uow.commit()
    return run


def _call(td, principal, fn, *args):
    with td.uow(principal.username) as uow:
        out = fn(uow, principal, NCT, *args)
        uow.commit()
    return out


def _early_stop(td, sponsor):
    return _call(
        td,
        sponsor,
        results_posting.record_decision,
        RecordTrialDecision(kind="early_stop", reason="DMC recommendation at the interim: efficacy bound crossed"),
    )


def _approve(td, sponsor, run_id):
    return _call(td, sponsor, results_posting.approve_results, ApproveResults(run_id=run_id, confirm=True))


def _stored(td):
    with td.uow() as uow:
        trial_id = uow.trials.get(NCT).id
        postings = [
            (p.version, p.run_id, p.cut_date, p.posted_at, p.results_json) for p in uow.analysis.postings(trial_id)
        ]
    with td.session_factory() as s:
        row = s.execute(select(TrialRow).where(TrialRow.nct_id == NCT)).scalar_one()
        posted = (row.results_json, row.results_posted_at)
        actions = list(s.execute(select(AuditEventRow.action)).scalars())
    return postings, posted, actions


def test_posting_refused_before_the_primary_analysis_is_due(trial):
    td, users, _ = trial
    stat, sponsor = users[Role.STATISTICIAN], users[Role.SPONSOR]
    run = _run(td, stat)
    events = sum(r["events"] for r in run["summary"]["pfs"]["km"])
    assert events < TARGET_EVENTS  # 80 subjects cannot hold the design's events
    _approve(td, sponsor, run["run_id"])
    with pytest.raises(Conflict) as refused:
        _call(td, stat, results_posting.post_results, PostResults(run_id=run["run_id"], confirm=True))
    assert f"{events} of {TARGET_EVENTS} PFS events" in refused.value.message
    postings, posted, actions = _stored(td)
    assert postings == [] and posted == (None, None) and "results.posted" not in actions
    # a recorded early stop, with its reason, makes the analysis due
    decision = _early_stop(td, sponsor)
    assert decision["kind"] == "early_stop" and decision["recorded_by"] == sponsor.username
    out = _call(td, stat, results_posting.post_results, PostResults(run_id=run["run_id"], confirm=True))
    assert out["version"] == 1 and out["approved_by"] == sponsor.username
    assert {"trial.decision", "results.approved", "results.posted"} <= set(_stored(td)[2])


def test_posting_refused_without_the_sponsors_approval(trial):
    td, users, _ = trial
    stat, sponsor = users[Role.STATISTICIAN], users[Role.SPONSOR]
    run = _run(td, stat)
    _early_stop(td, sponsor)
    with pytest.raises(Conflict) as refused:
        _call(td, stat, results_posting.post_results, PostResults(run_id=run["run_id"], confirm=True))
    assert "not approved by the sponsor" in refused.value.message
    assert _stored(td)[0] == []
    from trialdesk.entrypoints.web.app import create_app

    client = TestClient(create_app(td_app=td))
    h = {"Authorization": f"Bearer {token_for(td, stat.username)}"}
    page = client.post(f"/ops/analysis/runs/{run['run_id']}/post", headers=h, data={"confirm": "true"})
    assert page.status_code == 409 and "not approved by the sponsor" in page.text
    assert _stored(td)[0] == []
    # only the sponsor approves; the statistician may not approve their own run
    for role in (Role.STATISTICIAN, Role.ADMIN, Role.INVESTIGATOR, Role.MONITOR):
        with pytest.raises(PermissionDenied):
            _approve(td, users[role], run["run_id"])
    _approve(td, sponsor, run["run_id"])
    with pytest.raises(Conflict):  # approved once
        _approve(td, sponsor, run["run_id"])
    assert (
        _call(td, stat, results_posting.post_results, PostResults(run_id=run["run_id"], confirm=True))["version"] == 1
    )


def test_approval_and_posting_need_an_explicit_confirmation(trial):
    td, users, _ = trial
    stat, sponsor = users[Role.STATISTICIAN], users[Role.SPONSOR]
    run = _run(td, stat)
    _early_stop(td, sponsor)
    with pytest.raises(InvalidInput) as no_confirm:
        _call(td, sponsor, results_posting.approve_results, ApproveResults(run_id=run["run_id"]))
    assert no_confirm.value.problems[0].path == "confirm"
    _approve(td, sponsor, run["run_id"])
    with pytest.raises(InvalidInput) as no_confirm:
        _call(td, stat, results_posting.post_results, PostResults(run_id=run["run_id"]))
    assert no_confirm.value.problems[0].path == "confirm"
    assert _stored(td)[0] == []
    # the API and the page refuse the same way, naming the field
    from trialdesk.entrypoints.web.app import create_app

    client = TestClient(create_app(td_app=td))
    h = {"Authorization": f"Bearer {token_for(td, stat.username)}"}
    r = client.post(f"/api/v1/trials/{NCT}/results", headers=h, json={"run_id": run["run_id"]})
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "confirm"
    page = client.post(f"/ops/analysis/runs/{run['run_id']}/post", headers=h, data={})
    assert page.status_code == 422 and "confirm" in page.text
    assert _stored(td)[0] == []
    r = client.post(f"/api/v1/trials/{NCT}/results", headers=h, json={"run_id": run["run_id"], "confirm": True})
    assert r.status_code == 200 and r.json()["version"] == 1


def test_second_posting_keeps_the_first_and_the_page_shows_dates_and_history(trial):
    td, users, _ = trial
    stat, sponsor = users[Role.STATISTICIAN], users[Role.SPONSOR]
    first, second = _run(td, stat, EARLIER_CUT), _run(td, stat, CUT)
    _early_stop(td, sponsor)
    _approve(td, sponsor, first["run_id"])
    _approve(td, sponsor, second["run_id"])
    day1, day2 = CUT + dt.timedelta(days=2), CUT + dt.timedelta(days=40)
    td.clock = lambda: _at(day1)
    _call(td, stat, results_posting.post_results, PostResults(run_id=first["run_id"], confirm=True))
    td.clock = lambda: _at(day2)
    out = _call(td, stat, results_posting.post_results, PostResults(run_id=second["run_id"], confirm=True))
    assert out["version"] == 2
    postings, (current, posted_at), _ = _stored(td)
    assert [(v, r, c) for v, r, c, _, _ in postings] == [
        (1, first["run_id"], EARLIER_CUT.isoformat()),
        (2, second["run_id"], CUT.isoformat()),
    ]
    # version 1 is kept as it was posted; the registry shows version 2
    assert json.loads(postings[0][4]) == first["results_section"]
    assert json.loads(current) == second["results_section"] and posted_at.startswith(day2.isoformat())
    from trialdesk.entrypoints.web.app import create_app

    page = TestClient(create_app(td_app=td)).get(f"/trials/{NCT}").text
    assert re.search(rf'id="results-first-posted">{day1.isoformat()}<', page)
    assert re.search(rf'id="last-updated">{day2.isoformat()}<', page)
    assert "2025-06-25" not in page.split('id="last-updated">')[1][:12]  # not the record's frozen date
    for version, cut in ((1, EARLIER_CUT), (2, CUT)):
        row = re.search(rf'<tr id="results-version-{version}">(.*?)</tr>', page, re.S)
        assert row and cut.isoformat() in row.group(1)
    with td.uow() as uow:
        view = results_posting.registry_view(uow, NCT)
    assert view["first_posted"] == day1.isoformat() and view["last_updated"] == day2.isoformat()
    assert [h["version"] for h in view["history"]] == [1, 2]


def _flow_counts(section):
    period = section["participantFlowModule"]["periods"][0]
    groups = {g["id"]: g["title"] for g in section["participantFlowModule"]["groups"]}
    milestones = {
        m["type"]: {groups[a["groupId"]]: int(a["numSubjects"]) for a in m["achievements"]}
        for m in period["milestones"]
    }
    drops = {
        d["type"]: {groups[a["groupId"]]: int(a["numSubjects"]) for a in d["reasons"]}
        for d in period.get("dropWithdraws", [])
    }
    return milestones, drops


def test_participant_flow_claims_no_completion_for_subjects_still_in_the_study(trial):
    td, users, data = trial
    run = _run(td, users[Role.STATISTICIAN])
    milestones, drops = _flow_counts(run["results_section"])
    # independent count from the captured records: randomized by the cut, dosed, and no end of treatment, end of
    # study or death recorded by the cut
    label = {"tqb2102": None, "thp": None}
    for arm in run["summary"]["arms"]:
        label[arm["id"]] = arm["label"]
    ended = {(d.subject_number, d.kind) for d in data.dispositions if d.date <= CUT}
    dosed = {d.subject_number for d in data.doses if d.date <= CUT}
    expect: dict[str, int] = {}
    for s in data.subjects:
        if s.arm is None or s.randomized_on is None or s.randomized_on > CUT or s.in_error:
            continue
        gone = any((s.subject_number, k) in ended for k in ("end_of_treatment", "end_of_study", "death"))
        if s.subject_number in dosed and not gone:
            expect[label[s.arm]] = expect.get(label[s.arm], 0) + 1
    assert sum(expect.values()) > 0
    assert drops["Ongoing at the data cut-off: on study treatment"] == {k: expect.get(k, 0) for k in label.values()}
    # nobody's end of study says "completed" in the simulation: no one has completed the study
    assert set(milestones["COMPLETED"].values()) == {0}
    for arm, started in milestones["STARTED"].items():
        assert milestones["COMPLETED"][arm] + milestones["NOT COMPLETED"][arm] == started
        assert sum(reasons[arm] for reasons in drops.values()) == milestones["NOT COMPLETED"][arm]


def test_registry_status_follows_operations(trial):
    from trialdesk.entrypoints.web.app import create_app

    td, users, _ = trial
    sponsor = users[Role.SPONSOR]
    client = TestClient(create_app(td_app=td))

    def status():
        with td.uow() as uow:
            computed = results_posting.trial_status(uow, NCT).value
        page = client.get(f"/trials/{NCT}").text
        assert re.search(rf'id="recruitment-status">{computed}<', page)
        return computed

    # 80 of 642 randomized, the record's recruiting site still recruiting
    assert status() == "RECRUITING"
    _call(td, sponsor, results_posting.record_decision, RecordTrialDecision(kind="recruitment_closed", reason="x"))
    assert status() == "ACTIVE_NOT_RECRUITING"
    _call(td, sponsor, results_posting.record_decision, RecordTrialDecision(kind="completed", reason="LSLV"))
    assert status() == "COMPLETED"
    with pytest.raises(InvalidInput) as future:
        _call(
            td,
            sponsor,
            results_posting.record_decision,
            RecordTrialDecision(kind="early_stop", reason="x", decided_on=CUT + dt.timedelta(days=30)),
        )
    assert future.value.problems[0].path == "decided_on"
    h = {"Authorization": f"Bearer {token_for(td, users[Role.INVESTIGATOR].username)}"}
    r = client.post(f"/api/v1/trials/{NCT}/decisions", headers=h, json={"kind": "completed", "reason": "x"})
    assert r.status_code == 403


# -- the pure rules ---------------------------------------------------------------------------------------------
def test_analysis_due_rule():
    from trialdesk.domain.results_posting import analysis_due_problem

    assert analysis_due_problem(333, TARGET_EVENTS, []) == (
        "the primary analysis is not due: 333 of 334 PFS events at the data cut, and no early stop is recorded"
    )
    assert analysis_due_problem(334, TARGET_EVENTS, []) is None
    assert analysis_due_problem(12, TARGET_EVENTS, ["recruitment_closed"]) is not None
    assert analysis_due_problem(12, TARGET_EVENTS, ["early_stop"]) is None
    assert "no target events" in (analysis_due_problem(500, None, []) or "")


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        # CT.gov status definitions (PRS data element definitions, "Overall Recruitment Status")
        ({"site_statuses": ("NOT_YET_RECRUITING",)}, "NOT_YET_RECRUITING"),  # not yet recruiting participants
        ({"site_statuses": ("RECRUITING",)}, "RECRUITING"),
        ({"site_statuses": ("RECRUITING",), "randomized": 100, "in_study": 100}, "RECRUITING"),
        ({"site_statuses": ("RECRUITING",), "randomized": 642, "in_study": 600}, "ACTIVE_NOT_RECRUITING"),
        ({"site_statuses": ("CLOSED",), "randomized": 100, "in_study": 90}, "ACTIVE_NOT_RECRUITING"),
        (
            {"site_statuses": ("RECRUITING",), "randomized": 100, "in_study": 90, "decisions": {"early_stop"}},
            "ACTIVE_NOT_RECRUITING",
        ),
        ({"site_statuses": ("RECRUITING",), "randomized": 642, "in_study": 0}, "COMPLETED"),  # last subject ended
        ({"site_statuses": ("RECRUITING",), "randomized": 100, "in_study": 0}, "RECRUITING"),  # target not reached
        ({"randomized": 642, "in_study": 5, "decisions": {"completed"}}, "COMPLETED"),
        ({"record_status": "WITHDRAWN"}, "WITHDRAWN"),  # the registry's own word
        ({"operated": False, "record_status": "ACTIVE_NOT_RECRUITING"}, "ACTIVE_NOT_RECRUITING"),
    ],
)
def test_registry_status_rule(facts, expected):
    from trialdesk.domain.protocol import OverallStatus
    from trialdesk.domain.results_posting import TrialOperations, registry_status

    record = OverallStatus(facts.pop("record_status", "RECRUITING"))
    ops = TrialOperations(
        record_status=record,
        operated=facts.pop("operated", True),
        sample_size=642,
        decisions=frozenset(facts.pop("decisions", set())),
        **facts,
    )
    assert registry_status(ops).value == expected


def test_migration_0008_matches_the_tables(td):
    """``0008_result_postings`` creates exactly what ``tables.py`` declares for the three tables."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from trialdesk.adapters.db.tables import metadata

    with td.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    ours = ("results_approvals", "result_postings", "trial_decisions")
    assert [d for d in diff if any(name in str(d) for name in ours)] == []


def test_migration_0008_keeps_results_posted_before_it_as_version_1(trial):
    """Results posted before versions existed become version 1 of that run, so the history starts with them."""
    from alembic import command
    from sqlalchemy import text

    from trialdesk.adapters.db.migrate import alembic_config, upgrade

    td, users, _ = trial
    run = _run(td, users[Role.STATISTICIAN])
    config = alembic_config(td.engine.url.render_as_string(hide_password=False))
    with td.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0007_audit_keyed_chain")
    section = json.dumps(run["results_section"])
    with td.engine.begin() as conn:
        conn.execute(
            text("UPDATE analysis_runs SET posted_at = '2028-10-01T12:00:00+00:00' WHERE id = :id"),
            {"id": run["run_id"]},
        )
        conn.execute(
            text(
                "UPDATE trials SET results_json = :s, results_posted_at = '2028-10-01T12:00:00+00:00' WHERE nct_id = :n"
            ),
            {"s": section, "n": NCT},
        )
    upgrade(td.engine)
    postings, _, _ = _stored(td)
    assert [(v, r, c, p[:10]) for v, r, c, p, _ in postings] == [(1, run["run_id"], CUT.isoformat(), "2028-10-01")]
    assert json.loads(postings[0][4]) == run["results_section"]
