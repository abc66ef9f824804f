"""Risk-based monitoring (issue 15, part 2): SDV marks, the protocol-deviation log and KRIs per site, through the
service layer and the web pages, on SQLite and PostgreSQL.

Independent references: the KRI figures are computed by hand below from the known state of ``nav_helpers``
(dates and counts written out in its docstring) and from small made-up exposures; the deviation date rule is the
subject's timeline (consent on 2025-12-20, ``capture_helpers.CONSENT``); the flags follow the thresholds of the
protocol's ``operations.monitoring`` (ratio > 2 or < 0.5, minimum denominators), TransCelerate's RBM paper.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest

from access_helpers import NCT, OTHER, OWN
from capture_helpers import NOW, Clock
from nav_helpers import client_for, known_state
from trialdesk.domain.access import SYSTEM, Denial, Grant, Principal, Role
from trialdesk.domain.errors import Conflict, InvalidInput, NotFound
from trialdesk.domain.monitoring import MonitoringSpec, SiteExposure, record_version, sdv_state, site_kris
from trialdesk.services import adverse_events, monitoring
from trialdesk.services.commands import EditRecord
from trialdesk.services.monitoring import ClearSdv, CloseDeviation, MarkSdv, RecordDeviation

# -- the pure rules -----------------------------------------------------------------------------------------------


def test_record_version_and_state():
    a = record_version({"grade": 3, "term": "Nausea"})
    assert a == record_version({"term": "Nausea", "grade": 3})  # key order does not matter
    assert a != record_version({"term": "Nausea", "grade": 2})
    assert sdv_state(a, a) == "verified"
    assert sdv_state(a, "0" * 64) == "changed"
    assert sdv_state(a, None) == "unverified"


def _kri(rows, site, key):
    return next(k for k in rows[site] if k.key == key)


def test_kris_against_hand_computed_figures():
    # Three sites. Trial totals by hand: subjects 4+4+2 = 10, subject-cycles 12+12+4 = 28, records 20+20+10 = 50,
    # verified 10+20+0 = 30, open queries 9+2+0 = 11, AEs 3+18+0 = 21, deviations 4+0+0 = 4, overdue 2+2+0 = 4.
    by_site = {
        "A": SiteExposure(
            subjects=4,
            subject_cycles=12,
            records=20,
            verified=10,
            open_queries=9,
            adverse_events=3,
            deviations=4,
            overdue_visits=2,
        ),
        "B": SiteExposure(
            subjects=4,
            subject_cycles=12,
            records=20,
            verified=20,
            open_queries=2,
            adverse_events=18,
            deviations=0,
            overdue_visits=2,
        ),
        "C": SiteExposure(subjects=2, subject_cycles=4, records=10, verified=0),
    }
    rows = site_kris(by_site, MonitoringSpec())
    # open queries per subject: A 9/4 = 2.25, trial 11/10 = 1.1, ratio 2.25/1.1 = 2.04545... > 2: high
    q = _kri(rows, "A", "open_queries_per_subject")
    assert (q.rate, q.trial_rate, q.flag) == (2.25, 1.1, "high")
    assert q.ratio == pytest.approx(2.045454545, rel=1e-9)
    # AEs per subject-cycle: A 3/12 = 0.25, trial 21/28 = 0.75, ratio 1/3 < 0.5: low (under-reporting)
    ae = _kri(rows, "A", "aes_per_subject_cycle")
    assert (ae.rate, ae.trial_rate, ae.flag) == (0.25, 0.75, "low")
    assert ae.ratio == pytest.approx(1 / 3)
    # B: 18/12 = 1.5, ratio 2.0: not above 2, no flag
    assert (_kri(rows, "B", "aes_per_subject_cycle").ratio, _kri(rows, "B", "aes_per_subject_cycle").flag) == (
        2.0,
        None,
    )
    # C: 0 AEs over 4 subject-cycles, fewer than the 6 needed: shown, not judged, not flagged
    c_ae = _kri(rows, "C", "aes_per_subject_cycle")
    assert (c_ae.rate, c_ae.judged, c_ae.flag) == (0.0, False, None)
    # deviations per subject: A 4/4 = 1, trial 0.4, ratio 2.5: high; B 0: ratio 0, judged (4 subjects): low
    assert _kri(rows, "A", "deviations_per_subject").ratio == pytest.approx(2.5)
    assert _kri(rows, "A", "deviations_per_subject").flag == "high"
    assert (_kri(rows, "B", "deviations_per_subject").ratio, _kri(rows, "B", "deviations_per_subject").flag) == (
        0.0,
        "low",
    )
    # overdue visits per subject: A 0.5 against 0.4: ratio 1.25, no flag
    assert _kri(rows, "A", "overdue_visits_per_subject").ratio == pytest.approx(1.25)
    assert _kri(rows, "A", "overdue_visits_per_subject").flag is None
    # SDV coverage: A 10/20 = 0.5 against 30/50 = 0.6 (ratio 0.8333); C 0/10, judged (10 records): low
    sdv = _kri(rows, "A", "sdv_coverage")
    assert (sdv.rate, sdv.trial_rate, sdv.flag) == (0.5, 0.6, None)
    assert _kri(rows, "C", "sdv_coverage").flag == "low"
    # C has 2 subjects (< 3): its per-subject rates are not judged
    assert not _kri(rows, "C", "open_queries_per_subject").judged
    # only the risky side is flagged: B's 2 open queries / 4 = 0.5 against 1.1 (ratio 0.45 < 0.5) is no risk
    b_q = _kri(rows, "B", "open_queries_per_subject")
    assert b_q.ratio == pytest.approx(0.5 / 1.1) and b_q.judged and b_q.flag is None
    full = site_kris(
        {"A": SiteExposure(records=20, verified=20), "B": SiteExposure(records=20, verified=2)}, MonitoringSpec()
    )
    # coverage: A 1.0, B 0.1 against 22/40 = 0.55: A's ratio 1.82 (not above 2 anyway), B's 0.18: low
    assert _kri(full, "B", "sdv_coverage").flag == "low"
    many = site_kris(
        {"A": SiteExposure(subjects=4, overdue_visits=0), "B": SiteExposure(subjects=4, overdue_visits=8)},
        MonitoringSpec(),
    )
    # overdue visits: A 0 against 1.0 (ratio 0): not a risk; B 2.0 against 1.0: ratio 2.0, not above 2
    assert _kri(many, "A", "overdue_visits_per_subject").flag is None


def test_kri_without_exposure_has_no_rate():
    rows = site_kris({"A": SiteExposure(), "B": SiteExposure(subjects=5)}, MonitoringSpec())
    k = _kri(rows, "A", "open_queries_per_subject")
    assert (k.rate, k.ratio, k.flag) == (None, None, None)
    k = _kri(rows, "B", "open_queries_per_subject")
    assert (k.rate, k.trial_rate, k.ratio) == (0.0, 0.0, None)  # the trial's rate is 0: no ratio


def test_protocol_thresholds_are_cited():
    from trialdesk.adapters.protocol_files import load_default_protocol

    spec = load_default_protocol().operations.monitoring
    assert spec is not None
    assert (spec.ratio_high, spec.ratio_low, spec.min_subjects) == (2.0, 0.5, 3)
    assert "TransCelerate" in spec.assumptions["ratio_high"].source
    assert "E6(R3)" in spec.assumptions["ratio_high"].source


# -- the services on both databases -------------------------------------------------------------------------------


@pytest.fixture
def state(td, shared_dir):
    ids = known_state(td, shared_dir)
    with td.uow() as uow:
        from trialdesk.services.accounts import principal_for

        users = {role: principal_for(uow, uow.users.get(f"{role.value}1")) for role in Role}
    return td, users, ids


def _call(td, principal, fn, *args):
    with td.uow(principal.username) as uow:
        out = fn(uow, principal, NCT, *args)
        uow.commit()
    return out


def _ae_id(td, subject: str) -> str:
    with td.uow() as uow:
        s = uow.subjects.get(uow.trials.get(NCT).id, subject)
        return str(uow.adverse_events.for_subject(s.id)[0].id)


def test_sdv_mark_edit_changed_then_verified_again(state):
    td, users, _ = state
    monitor, coordinator = users[Role.MONITOR], users[Role.COORDINATOR]
    ae = _ae_id(td, "HUN-0002")
    before = _call(td, monitor, monitoring.subject_sdv, "HUN-0002")
    types = [r["entity_type"] for r in before["records"]]
    assert types == ["subject", "screening", "randomization", "adverse_event"]
    assert {r["state"] for r in before["records"]} == {"unverified"}
    out = _call(td, monitor, monitoring.mark_sdv, "HUN-0002", MarkSdv(entity_type="adverse_event", entity_id=ae))
    assert out["state"] == "verified" and out["mark"]["marked_by"] == "monitor1"
    after = _call(td, monitor, monitoring.subject_sdv, "HUN-0002")
    assert (after["verified"], after["total"]) == (1, 4)
    # the site corrects the AE: the mark no longer matches the record
    td.clock = Clock(NOW + dt.timedelta(hours=1))
    _call(
        td,
        coordinator,
        adverse_events.update_adverse_event,
        "HUN-0002",
        int(ae),
        EditRecord(changes={"grade": 4}, reason="source says grade 4"),
    )
    states = _call(td, monitor, monitoring.sdv_state_for, "HUN-0002", [("adverse_event", ae), ("dose", "999")])
    assert states == {("adverse_event", ae): "changed", ("dose", "999"): "unverified"}
    assert _call(td, monitor, monitoring.subject_sdv, "HUN-0002")["verified"] == 0
    # verified again: the old mark is superseded
    _call(td, monitor, monitoring.mark_sdv, "HUN-0002", MarkSdv(entity_type="adverse_event", entity_id=ae))
    assert _call(td, monitor, monitoring.sdv_state_for, "HUN-0002", [("adverse_event", ae)])[("adverse_event", ae)] == (
        "verified"
    )
    # a stale version (the page showed an older one) is refused
    with pytest.raises(Conflict):
        _call(
            td,
            monitor,
            monitoring.mark_sdv,
            "HUN-0002",
            MarkSdv(entity_type="subject", entity_id="HUN-0002", version="0" * 64),
        )
    # cleared with a reason: unverified; both steps audited
    _call(
        td,
        monitor,
        monitoring.clear_sdv,
        "HUN-0002",
        ClearSdv(entity_type="adverse_event", entity_id=ae, reason="wrong source"),
    )
    assert _call(td, monitor, monitoring.subject_sdv, "HUN-0002")["verified"] == 0
    with td.uow() as uow:
        events = [(e.action, e.entity_type, e.entity_id, e.actor) for e in uow.audit.query(limit=1000)]
    assert ("sdv.marked", "adverse_event", ae, "monitor1") in events
    assert ("sdv.cleared", "adverse_event", ae, "monitor1") in events
    # the audit trail's subject filter finds them (they name the subject as every subject's record event does)
    with td.uow() as uow:
        about = {(e.action, e.entity_id) for e in uow.audit.query(subject="HUN-0002", limit=1000)}
        other = {e.action for e in uow.audit.query(subject="HUN-0001", limit=1000)}
    assert {("sdv.marked", ae), ("sdv.cleared", ae)} <= about and not {"sdv.marked", "sdv.cleared"} & other


def test_sdv_refusals(state):
    td, users, _ = state
    # site staff never mark: the coordinator sees the subject (403)
    with pytest.raises(Denial) as refused:
        _call(
            td,
            users[Role.COORDINATOR],
            monitoring.mark_sdv,
            "HUN-0001",
            MarkSdv(entity_type="subject", entity_id="HUN-0001"),
        )
    assert refused.value.status_code == 403
    # the Hunan monitor cannot reach Anhui's subject: answered as absence (404)
    with pytest.raises(Denial) as hidden:
        _call(
            td,
            users[Role.MONITOR],
            monitoring.mark_sdv,
            "ANH-0001",
            MarkSdv(entity_type="subject", entity_id="ANH-0001"),
        )
    assert hidden.value.status_code == 404
    # a record of another subject, named as this one's
    with pytest.raises(InvalidInput) as other:
        _call(
            td,
            users[Role.MONITOR],
            monitoring.mark_sdv,
            "HUN-0001",
            MarkSdv(entity_type="adverse_event", entity_id=_ae_id(td, "HUN-0002")),
        )
    assert other.value.problems[0].path == "entity_id"


def test_deviation_date_before_consent_is_refused_naming_the_field(state):
    td, users, _ = state
    cmd = RecordDeviation(category="visit_schedule", description="C1D1 missed", occurred_on=dt.date(2025, 12, 19))
    with pytest.raises(InvalidInput) as refused:
        _call(td, users[Role.MONITOR], monitoring.record_deviation, "HUN-0002", cmd)
    [problem] = refused.value.problems
    assert problem.path == "occurred_on"
    assert "2025-12-19 is before consent_date 2025-12-20" in problem.message
    # in the future: refused too
    future = cmd.model_copy(update={"occurred_on": dt.date(2026, 3, 3)})
    with pytest.raises(InvalidInput):
        _call(td, users[Role.MONITOR], monitoring.record_deviation, "HUN-0002", future)
    # an informed-consent deviation may precede the consent (a procedure done before it)
    early = RecordDeviation(
        category="informed_consent", description="CT before consent", occurred_on=dt.date(2025, 12, 19), important=True
    )
    out = _call(td, users[Role.MONITOR], monitoring.record_deviation, "HUN-0002", early)
    assert (out["status"], out["important"], out["found_by"]) == ("open", True, "monitor1")


def test_deviation_log_record_close_and_scope(state):
    td, users, _ = state
    cmd = RecordDeviation(category="visit_schedule", description="C1D1 out of window", occurred_on=dt.date(2026, 1, 9))
    mine = _call(td, users[Role.COORDINATOR], monitoring.record_deviation, "HUN-0002", cmd)  # site staff record theirs
    assert mine["found_by"] == "coordinator1"
    # only the monitor closes, with the CAPA
    with pytest.raises(Denial):
        _call(td, users[Role.COORDINATOR], monitoring.close_deviation, "HUN-0002", mine["id"], CloseDeviation(capa="x"))
    closed = _call(
        td,
        users[Role.MONITOR],
        monitoring.close_deviation,
        "HUN-0002",
        mine["id"],
        CloseDeviation(capa="Visit reminders"),
    )
    assert (closed["status"], closed["capa"], closed["closed_by"]) == ("closed", "Visit reminders", "monitor1")
    with pytest.raises(Conflict):
        _call(td, users[Role.MONITOR], monitoring.close_deviation, "HUN-0002", mine["id"], CloseDeviation(capa="again"))
    with pytest.raises(NotFound):  # the deviation is not this subject's
        _call(td, users[Role.MONITOR], monitoring.close_deviation, "HUN-0001", mine["id"], CloseDeviation(capa="x"))
    _call(td, SYSTEM, monitoring.record_deviation, "ANH-0001", cmd)
    # the Hunan monitor lists Hunan's only; a trial-wide monitor both
    assert [d["subject"] for d in _call(td, users[Role.MONITOR], monitoring.list_deviations)] == ["HUN-0002"]
    everywhere = Principal("cra", (Grant(Role.MONITOR),))
    assert [d["subject"] for d in _call(td, everywhere, monitoring.list_deviations)] == ["HUN-0002", "ANH-0001"]
    assert [d["subject"] for d in monitoring_list(td, everywhere, status="open")] == ["ANH-0001"]
    with pytest.raises(Denial):  # the statistician sees no subject
        _call(td, users[Role.STATISTICIAN], monitoring.list_deviations)
    with td.uow() as uow:
        events = [(e.action, e.actor) for e in uow.audit.query(limit=1000)]
    assert ("deviation.recorded", "coordinator1") in events and ("deviation.closed", "monitor1") in events
    with td.uow() as uow:
        about = [e.action for e in uow.audit.query(subject="HUN-0002", limit=1000) if e.entity_type == "deviation"]
    assert sorted(about) == ["deviation.closed", "deviation.recorded"]


def monitoring_list(td, principal, **filters):
    with td.uow(principal.username) as uow:
        return monitoring.list_deviations(uow, principal, NCT, **filters)


def test_kri_report_on_the_known_state(state):
    """By hand from nav_helpers' known state at NOW (2026-03-02):

    - randomized: Hunan 2 (HUN-0001, HUN-0002), Anhui 1 (ANH-0001); trial 3;
    - open queries (open or answered, the dashboard's): Hunan 2, Anhui 1; trial 3 -> Hunan 1.0 per subject,
      Anhui 1.0, trial 1.0: ratios 1;
    - overdue visits: HUN-0002 C1D1 and TA1, ANH-0001 C1D1 and TA1 (both randomized 2026-01-05, no dose): Hunan 2,
      Anhui 2; trial 4 -> Hunan 1.0, Anhui 2.0, trial 4/3: ratios 0.75 and 1.5;
    - AEs: HUN-0002's one; no dose anywhere: no subject-cycle, no AE rate;
    - deviations: the one recorded below at Anhui -> Hunan 0, Anhui 1/1, trial 1/3: ratios 0 and 3;
    - SDV records: Hunan: HUN-0001 demographics, screening, randomization (3); HUN-0002 the same and its AE (4);
      HUN-0003 demographics and screening (2): 9; Anhui 3; the mark below: Hunan 1 of 9, trial 1 of 12.
    Every site has fewer than 3 subjects: nothing is judged, nothing flagged.
    """
    td, users, _ = state
    _call(
        td,
        SYSTEM,
        monitoring.record_deviation,
        "ANH-0001",
        RecordDeviation(category="other", description="x", occurred_on=dt.date(2026, 1, 6)),
    )
    _call(
        td, users[Role.MONITOR], monitoring.mark_sdv, "HUN-0001", MarkSdv(entity_type="subject", entity_id="HUN-0001")
    )
    sponsor = _call(td, users[Role.SPONSOR], monitoring.kri_report)
    rows = {r["site"]: {k["key"]: k for k in r["kris"]} for r in sponsor["sites"]}
    hun, anh = rows[OWN], rows[OTHER]
    assert (hun["open_queries_per_subject"]["rate"], anh["open_queries_per_subject"]["ratio"]) == (1.0, 1.0)
    assert hun["overdue_visits_per_subject"]["ratio"] == pytest.approx(0.75)
    assert anh["overdue_visits_per_subject"]["ratio"] == pytest.approx(1.5)
    assert hun["aes_per_subject_cycle"]["numerator"] == 1 and hun["aes_per_subject_cycle"]["rate"] is None
    assert (hun["deviations_per_subject"]["ratio"], anh["deviations_per_subject"]["ratio"]) == (0.0, pytest.approx(3.0))
    assert (hun["sdv_coverage"]["numerator"], hun["sdv_coverage"]["denominator"]) == (1, 9)
    assert hun["sdv_coverage"]["trial_rate"] == pytest.approx(1 / 12)
    assert not any(k["flag"] for r in rows.values() for k in r.values())
    # the same numbers as the dashboard's (one computation)
    from trialdesk.services import dashboard

    with td.uow() as uow:
        dash = {s["site"]: s for s in dashboard.dashboard(uow, users[Role.SPONSOR], NCT)["sites"]}
    exposure = {r["site"]: r["exposure"] for r in sponsor["sites"]}
    for site in (OWN, OTHER):
        assert exposure[site]["open_queries"] == dash[site]["open_queries"]
        assert exposure[site]["overdue_visits"] == dash[site]["overdue_visits"]
        assert exposure[site]["subjects"] == dash[site]["randomized"]
    # the Hunan monitor sees Hunan's row only, the same figures; the coordinator none (403)
    own = _call(td, users[Role.MONITOR], monitoring.kri_report)
    assert [r["site"] for r in own["sites"]] == [OWN]
    assert own["sites"][0]["kris"] == sponsor["sites"][[r["site"] for r in sponsor["sites"]].index(OWN)]["kris"]
    with pytest.raises(Denial) as refused:
        _call(td, users[Role.COORDINATOR], monitoring.kri_report)
    assert refused.value.status_code == 403
    with pytest.raises(Denial):
        _call(td, users[Role.MONITOR], monitoring.site_kri, OTHER)


# -- the pages ----------------------------------------------------------------------------------------------------


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_pages_record_list_csv_and_sdv(state):
    td, users, _ = state
    monitor = client_for(td, "monitor1")
    page = monitor.get("/ops/deviations")
    assert page.status_code == 200 and 'id="deviation-form"' in page.text
    token = _csrf(page.text)
    form = {"csrf_token": token, "subject": "HUN-0002", "category": "visit_schedule", "description": "=HYPERLINK(1)"}
    # before consent: the page comes back (422) with the message beside the date
    early = monitor.post("/ops/deviations", data={**form, "occurred_on": "2025-12-01"})
    assert early.status_code == 422 and 'id="err-occurred_on"' in early.text
    assert "2025-12-01 is before consent_date 2025-12-20" in early.text
    done = monitor.post("/ops/deviations", data={**form, "occurred_on": "2026-01-09"}, follow_redirects=False)
    assert done.status_code == 303
    listed = monitor.get("/ops/deviations")
    row = re.search(r'<tr id="deviation-(\d+)".*?</tr>', listed.text, re.S)
    assert row and 'data-label="Subject"' in row.group(0) and "HUN-0002" in row.group(0)
    assert 'href="/ops/subjects/HUN-0002/sdv"' in row.group(0)  # the monitor's way to the SDV page
    # every cell of the list says its column (labelled rows at 390 px)
    assert all("data-label=" in td for td in re.findall(r"<td[^>]*>", row.group(0)))
    # the CSV neutralises a formula
    rows = list(csv.DictReader(io.StringIO(monitor.get("/ops/deviations.csv").text)))
    assert [r["description"] for r in rows] == ["'=HYPERLINK(1)"]
    # close with the CAPA
    dev = row.group(1)
    closed = monitor.post(
        f"/ops/deviations/{dev}/close",
        data={"csrf_token": token, "subject": "HUN-0002", "capa": "Reminder calls"},
        follow_redirects=False,
    )
    assert closed.status_code == 303
    assert [r["status"] for r in csv.DictReader(io.StringIO(monitor.get("/ops/deviations.csv").text))] == ["closed"]
    # SDV: mark the demographics from the subject's SDV page
    sdv = monitor.get("/ops/subjects/HUN-0001/sdv")
    assert sdv.status_code == 200 and 'data-state="unverified"' in sdv.text
    version = re.search(
        r'name="entity_id" value="HUN-0001"><input type="hidden" name="version" value="([0-9a-f]+)"', sdv.text
    )
    marked = monitor.post(
        "/ops/subjects/HUN-0001/sdv",
        data={"csrf_token": token, "entity_type": "subject", "entity_id": "HUN-0001", "version": version.group(1)},
        follow_redirects=False,
    )
    assert marked.status_code == 303
    assert 'id="sdv-subject-HUN-0001" data-state="verified"' in monitor.get("/ops/subjects/HUN-0001/sdv").text
    # the KRI table: Hunan's row only, every cell labelled
    kri = monitor.get("/ops/monitoring")
    assert kri.status_code == 200
    assert re.findall(r'<tr[^>]* data-site="([^"]+)"', kri.text) == ["trial", OWN]
    body = re.search(r'<table class="list labelled" id="kri-table">.*?</table>', kri.text, re.S).group(0)
    assert all("data-label=" in cell for cell in re.findall(r"<td[^>]*>", body))
    # other site's subject: 404; the coordinator may not mark (403) nor see the KRIs (403)
    assert monitor.get("/ops/subjects/ANH-0001/sdv").status_code == 404
    coordinator = client_for(td, "coordinator1")
    ctoken = _csrf(coordinator.get("/ops/deviations").text)
    refused = coordinator.post(
        "/ops/subjects/HUN-0001/sdv", data={"csrf_token": ctoken, "entity_type": "subject", "entity_id": "HUN-0001"}
    )
    assert refused.status_code == 403
    assert coordinator.get("/ops/monitoring").status_code == 403
    assert 'name="version"' not in coordinator.get("/ops/subjects/HUN-0001/sdv").text  # no mark buttons
    assert "/sdv" not in coordinator.get("/ops/deviations").text


def test_pages_in_chinese(state):
    td, _, _ = state
    monitor = client_for(td, "monitor1")
    page = monitor.get("/ops/monitoring?lang=zh-Hans")
    assert "关键风险指标" in page.text
    assert "方案偏离" in monitor.get("/ops/deviations").text
    assert "源数据核查" in monitor.get("/ops/subjects/HUN-0001/sdv").text


def test_migration_0009_matches_the_tables(td):
    """``0009_monitoring`` creates exactly what ``tables.py`` declares for its two tables."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from trialdesk.adapters.db.tables import metadata

    with td.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diff if any(name in str(d) for name in ("sdv_marks", "protocol_deviations"))] == []


def test_cli_kri_and_deviations(state, monkeypatch):
    from typer.testing import CliRunner

    from trialdesk.entrypoints.cli.main import app

    td, _, _ = state
    monkeypatch.delenv("TRIALDESK_TOKEN", raising=False)
    url = td.engine.url.render_as_string(hide_password=False)
    run = CliRunner().invoke
    out = run(
        app,
        ["deviations", "record", "HUN-0002", "--category", "eligibility", "--description", "ECOG 2", "--date",
         "2025-12-19", "--db", url],
    )  # fmt: skip
    # invalid input: exit status 2, naming the field and the date it conflicts with
    assert out.exit_code == 2 and "occurred_on" in out.output, out.output
    assert "consent_date 2025-12-20" in out.output
    out = run(
        app,
        ["deviations", "record", "HUN-0002", "--category", "eligibility", "--description", "ECOG 2", "--date",
         "2025-12-21", "--important", "--db", url],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    listed = run(app, ["deviations", "list", "--db", url])
    assert "HUN-0002 2025-12-21 eligibility IMPORTANT [open] ECOG 2" in listed.output
    kri = run(app, ["monitoring", "kri", "--db", url, "--json"])
    assert kri.exit_code == 0, kri.output
    import json

    rows = {r["site"]: r for r in json.loads(kri.output)["sites"]}
    assert rows[OWN]["exposure"]["deviations"] == 1 and rows[OWN]["exposure"]["subjects"] == 2
    mark = run(app, ["sdv", "mark", "HUN-0001", "subject:HUN-0001", "--db", url])
    assert mark.exit_code == 0 and "subject:HUN-0001 verified" in mark.output
