"""The subject's timeline and patient-level input rules (issue 14): every attack found by fuzzing is a regression
test here, on SQLite and PostgreSQL, refused with the field named and nothing written (rows and audit events
counted before and after); plus the pure rules of ``domain/timeline.py`` and ``domain/patient_ref.py``.

Independent facts: the trial started on 2025-06-23 (ClinicalTrials.gov NCT07003074, "Study Start (Actual)");
RECIST 1.1 baseline imaging is at most 4 weeks (28 days) before the start of treatment (Eisenhauer et al. 2009,
section 3.2); the eligible example screening record (docs/screening/eligible.json) gives consent on 2026-01-10.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select
from typer.testing import CliRunner

from access_helpers import NCT, OWN, PASSWORD, make_users, token_for
from capture_helpers import Clock, add_subject, principals
from randomization_db_helpers import setup_list, store_for
from trialdesk.adapters.db.tables import (
    AllocationRow,
    AnalysisRunRow,
    DispositionRow,
    DoseRow,
    ScreeningRow,
    SubjectRow,
    TumorAssessmentRow,
)
from trialdesk.adapters.protocol_files import load_default_protocol
from trialdesk.bootstrap import bootstrap
from trialdesk.domain.access import Role
from trialdesk.domain.errors import Conflict, InvalidInput
from trialdesk.domain.patient_ref import clean_patient_ref, patient_key
from trialdesk.domain.timeline import (
    TrialDates,
    assessment_problems,
    cut_problems,
    randomization_problems,
    screening_problems,
    trial_dates,
)
from trialdesk.services import analysis, randomization, screening, treatment, tumor
from trialdesk.services.commands import (
    Randomize,
    RecordDisposition,
    RecordDose,
    RecordTumourAssessment,
    RunAnalysis,
    ScreenPatient,
)

START = dt.date(2025, 6, 23)  # ClinicalTrials.gov: study start (actual)
TODAY = dt.date(2026, 1, 20)
ELIGIBLE = json.loads((Path(__file__).resolve().parents[1] / "docs" / "screening" / "eligible.json").read_text())
CONSENT = dt.date(2026, 1, 10)  # eligible.json
LESIONS = [
    {"lesion_id": "T1", "kind": "target", "organ": "liver", "measurement": 50},
    {"lesion_id": "N1", "kind": "non_target", "organ": "bone", "status": "present"},
]


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(9, 30), tzinfo=dt.UTC)


# --------------------------------------------------------------------------------------------- pure rules
def _paths(problems) -> list[str]:
    return [p.path for p in problems]


def test_trial_dates_come_from_the_registry_record():
    dates = trial_dates(load_default_protocol(), TODAY)
    assert dates.start == START
    assert dates.end is None  # completion 2030-07-31 is an estimate: today is the upper bound
    assert dates.latest == TODAY


def test_screening_order_names_the_field_and_the_date_it_conflicts_with():
    dates = TrialDates(START, None, dt.date(2027, 6, 1))
    [p] = screening_problems(dt.date(2027, 1, 3), dt.date(2027, 1, 5), dates)
    assert p.path == "screened_on" and p.message == "screened_on 2027-01-03 is before consent_date 2027-01-05"
    assert screening_problems(dt.date(2027, 1, 5), dt.date(2027, 1, 5), dates) == []  # same day is fine
    far = screening_problems(dt.date(2027, 1, 5), dt.date(9999, 12, 31), dates)
    assert "record.consent_date" in _paths(far) and any("in the future" in p.message for p in far)
    early = screening_problems(dt.date(1, 1, 1), None, dates)
    assert _paths(early) == ["screened_on"] and "before the trial start date 2025-06-23" in early[0].message


def test_randomization_not_before_screening_consent_or_trial_start():
    dates = TrialDates(START, None, TODAY)
    found = randomization_problems(dt.date(2026, 1, 9), dt.date(2026, 1, 12), CONSENT, dates, window_days=28)
    assert [p.message for p in found] == [
        "randomized_on 2026-01-09 is before screened_on 2026-01-12",
        "randomized_on 2026-01-09 is before consent_date 2026-01-10",
    ]
    assert randomization_problems(dt.date(2026, 1, 12), dt.date(2026, 1, 12), CONSENT, dates, window_days=28) == []
    assert "trial start" in randomization_problems(dt.date(1, 1, 1), None, None, dates, window_days=28)[0].message


def test_an_actual_completion_date_bounds_every_date():
    dates = TrialDates(START, dt.date(2026, 1, 1), TODAY)
    [p] = randomization_problems(dt.date(2026, 1, 2), None, None, dates, window_days=28)
    assert "after the trial's completion date 2026-01-01" in p.message


def test_baseline_assessment_within_28_days_before_randomization():
    dates = TrialDates(START, None, TODAY)
    r = dt.date(2026, 1, 5)
    kw = {"baseline": True, "randomized_on": r, "dates": dates, "window_days": 28}
    assert assessment_problems("assessment_date", r - dt.timedelta(days=28), **kw) == []
    [p] = assessment_problems("assessment_date", r - dt.timedelta(days=29), **kw)
    assert p.path == "assessment_date" and "2025-12-07" in p.message and "28 days" in p.message
    # a protocol with a window of its own: 14 days
    [p] = assessment_problems("assessment_date", r - dt.timedelta(days=15), **{**kw, "window_days": 14})
    assert "2025-12-21" in p.message and "14 days" in p.message


def test_the_baseline_window_is_the_protocols_assumption_from_recist():
    """RECIST 1.1 (Eisenhauer et al. 2009), section 3.2: baseline 'never more than 4 weeks before' treatment."""
    recist = load_default_protocol().operations.recist
    assert recist is not None and recist.baseline_window_days == 4 * 7
    assert "section 3.2" in recist.assumptions["baseline_window_days"].source


def test_baseline_of_the_first_subjects_may_precede_the_trial_start_by_the_window():
    dates = TrialDates(START, None, TODAY)
    early = dt.date(2025, 6, 1)  # 22 days before the start, 24 before randomization
    kw = {"dates": dates, "window_days": 28}
    assert assessment_problems("d", early, baseline=True, randomized_on=dt.date(2025, 6, 25), **kw) == []
    [p] = assessment_problems("d", dt.date(2025, 5, 25), baseline=True, randomized_on=None, **kw)
    assert p.message == "d 2025-05-25 is more than 28 days before the trial start date 2025-06-23"
    [p] = assessment_problems("d", dt.date(2025, 6, 22), baseline=False, randomized_on=None, **kw)
    assert "before the trial start date" in p.message  # a follow-up never precedes the start


def test_cut_inside_the_trial():
    dates = TrialDates(START, None, TODAY)
    assert cut_problems(TODAY, dt.date(2025, 8, 1), dates) == []
    assert "before the trial start" in cut_problems(dt.date(1, 1, 1), None, dates)[0].message
    assert "in the future" in cut_problems(dt.date(9999, 12, 31), None, dates)[0].message
    [p] = cut_problems(dt.date(2025, 7, 1), dt.date(2025, 8, 1), dates)
    assert p.message == "cut_date 2025-07-01 is before the first randomization 2025-08-01"


@pytest.mark.parametrize("typed", ["fuzz-1", "FUZZ-1", "fuzz-1 ", "  Fuzz-1\t", "ＦＵＺＺ－１"])
def test_patient_refs_that_are_one_patient(typed):
    assert patient_key(typed) == patient_key("FUZZ-1")


def test_patient_refs_that_differ_and_the_display_form():
    assert patient_key("FUZZ-1") != patient_key("FUZZ-11") and patient_key("A B") != patient_key("AB")
    assert patient_key("a   b") == patient_key("A B")
    assert clean_patient_ref("  HN-A\u3000 7 ") == "HN-A 7"  # ideographic space: NFKC -> space, collapsed


# --------------------------------------------------------------------------------------------- database
@pytest.fixture
def trial(db_url, tmp_path):
    clock = Clock(_at(TODAY))
    app = bootstrap(db_url, clock=clock)
    app.clock_control = clock
    yield app
    app.dispose()


def _counts(td) -> dict[str, int]:
    with td.uow() as uow:
        s = uow.session
        tables = {
            "subjects": SubjectRow,
            "screenings": ScreeningRow,
            "allocations": AllocationRow,
            "doses": DoseRow,
            "dispositions": DispositionRow,
            "tumor_assessments": TumorAssessmentRow,
            "analysis_runs": AnalysisRunRow,
        }
        out = {name: s.execute(select(func.count()).select_from(t)).scalar_one() for name, t in tables.items()}
        out["audit"] = len(list(uow.audit.events()))
    return out


def _screen(td, ref="P-1", record=None, **kw):
    coord = principals()[Role.COORDINATOR]
    with td.uow(coord.username) as uow:
        out = screening.screen_subject(
            uow, coord, NCT, ScreenPatient(site=OWN, patient_ref=ref, record=record or ELIGIBLE, **kw)
        )
        uow.commit()
    return out


def _refused(td, call, *fields: str) -> InvalidInput:
    """``call`` raises InvalidInput naming exactly ``fields`` and writes nothing."""
    before = _counts(td)
    with pytest.raises(InvalidInput) as info:
        call()
    assert sorted({p.path for p in info.value.problems}) == sorted(fields), info.value.message
    assert _counts(td) == before
    return info.value


def test_screened_before_consent_is_refused(trial):
    _refused(trial, lambda: _screen(trial, screened_on=dt.date(2026, 1, 5)), "screened_on")


def test_consent_in_the_future_or_on_9999_12_31_is_refused(trial):
    record = {**ELIGIBLE, "consent_date": "2026-01-25"}
    err = _refused(trial, lambda: _screen(trial, record=record), "record.consent_date", "screened_on")
    assert "consent_date 2026-01-25 is in the future (today is 2026-01-20)" in err.message
    record = {**ELIGIBLE, "consent_date": "9999-12-31"}
    err = _refused(trial, lambda: _screen(trial, record=record), "record.consent_date", "screened_on")
    assert "consent_date 9999-12-31 is in the future" in err.message


def test_screening_before_the_trial_started_is_refused(trial):
    record = {**ELIGIBLE, "consent_date": "2025-01-02"}
    err = _refused(
        trial,
        lambda: _screen(trial, record=record, screened_on=dt.date(2025, 1, 3)),
        "record.consent_date",
        "screened_on",
        # the example's recurrence (2025-11-18) and last prior therapy (2025-11-20) are after such a screening
        "record.disease.recurrence_date",
        "record.prior_therapies.3.end_date",
    )
    assert "before the trial start date 2025-06-23" in err.message


def test_attestation_of_a_criterion_the_protocol_lacks_is_refused(trial):
    record = {**ELIGIBLE, "attestations": {**ELIGIBLE["attestations"], "INC-99": True}}
    err = _refused(trial, lambda: _screen(trial, record=record), "record.attestations.INC-99")
    assert "INC-99" in err.message


@pytest.mark.parametrize("height", [0, -160])
def test_zero_or_negative_height_is_refused_at_screening(trial, height):
    record = {**ELIGIBLE, "vitals": {**ELIGIBLE["vitals"], "height_cm": height}}
    _refused(trial, lambda: _screen(trial, record=record), "record.vitals.height_cm")


def _randomize(td, number, on, tmp_path):
    coord = principals()[Role.COORDINATOR]
    with td.uow(coord.username) as uow:
        out = randomization.randomize_subject(
            uow, coord, NCT, number, Randomize(confirm=True, randomized_on=on), seeds=store_for(tmp_path)
        )
        uow.commit()
    return out


def test_randomization_dates_follow_the_timeline(trial, tmp_path):
    setup_list(trial)
    number = _screen(trial, screened_on=dt.date(2026, 1, 12))["subject_number"]
    err = _refused(trial, lambda: _randomize(trial, number, dt.date(2026, 1, 11), tmp_path), "randomized_on")
    assert err.message == "randomized_on: randomized_on 2026-01-11 is before screened_on 2026-01-12"
    err = _refused(trial, lambda: _randomize(trial, number, dt.date(2001, 1, 1), tmp_path), "randomized_on")
    assert "before the trial start date 2025-06-23" in err.message
    with pytest.raises(ValidationError) as info:  # 0001-01-01: no trial holds it
        Randomize(confirm=True, randomized_on="0001-01-01")
    assert info.value.errors()[0]["loc"] == ("randomized_on",)
    assert _randomize(trial, number, dt.date(2026, 1, 12), tmp_path)["randomized_on"] == "2026-01-12"


def test_the_same_patient_typed_differently_is_one_subject(trial, tmp_path):
    setup_list(trial)
    first = _screen(trial, "FUZZ-1", screened_on=dt.date(2026, 1, 12))
    again = _screen(trial, "fuzz-1 ")
    assert again["rescreen"] and again["subject_number"] == first["subject_number"]
    with trial.uow() as uow:
        [subject] = uow.subjects.list(uow.trials.get(NCT).id)
    assert subject.patient_ref == "FUZZ-1"  # shown as first typed
    _randomize(trial, first["subject_number"], TODAY, tmp_path)
    before = _counts(trial)
    with pytest.raises(Conflict):
        _screen(trial, "ＦＵＺＺ－１")  # full-width: the same patient, already randomized
    assert _counts(trial) == {**before, "audit": _counts(trial)["audit"]}
    assert _counts(trial)["subjects"] == 1


@pytest.fixture
def randomized(trial):
    """HUN-0001: consent 2025-12-20, randomized 2026-01-05 to THP (rows, as capture_helpers writes them)."""
    trial.clock_control.now = _at(dt.date(2026, 3, 2))
    add_subject(trial)
    return trial


def _assess(td, day, baseline):
    coord = principals()[Role.COORDINATOR]
    with td.uow(coord.username) as uow:
        cmd = RecordTumourAssessment.model_validate({"assessment_date": day, "lesions": LESIONS, "baseline": baseline})
        out = tumor.record_tumor_assessment(uow, coord, NCT, "HUN-0001", cmd)
        uow.commit()
    return out


def test_baseline_assessment_more_than_28_days_before_randomization_is_refused(randomized):
    err = _refused(randomized, lambda: _assess(randomized, "2025-12-07", True), "assessment_date")
    assert "baseline window starts 2025-12-08" in err.message
    assert _assess(randomized, "2025-12-08", True)["assessment"]["baseline"]


def test_a_known_height_is_never_silently_replaced_by_an_impossible_one(randomized):
    coord = principals()[Role.COORDINATOR]
    with randomized.uow() as uow:
        subject = uow.subjects.get(uow.trials.get(NCT).id, "HUN-0001")
        subject.height_cm = 160.0
        uow.commit()

    def dose(height, weight=60.0):
        with randomized.uow(coord.username) as uow:
            cmd = RecordDose(
                drug="docetaxel", cycle=1, dose_date="2026-01-06", actual_mg=122.5, weight_kg=weight, height_cm=height
            )
            treatment.record_dose(uow, coord, NCT, "HUN-0001", cmd)
            uow.commit()

    for height in (0, -5, 172):
        _refused(randomized, lambda h=height: dose(h), "height_cm")
    for weight in (0, -60, 5000):
        _refused(randomized, lambda w=weight: dose(None, w), "weight_kg")


def test_analysis_cut_outside_the_trial_is_refused(randomized):
    stat = principals()[Role.STATISTICIAN]
    for cut in ("0001-01-01", "9999-12-31", "2025-12-31"):  # before the start, future, before the first randomization
        with randomized.uow(stat.username) as uow, pytest.raises(InvalidInput) as info:
            analysis.analysis_datasets(uow, stat, NCT, cut)
        assert {p.path for p in info.value.problems} == {"cut_date"}
    err = _refused(randomized, lambda: _run(randomized, stat, dt.date(2025, 1, 1)), "cut_date")
    assert "before the trial start date 2025-06-23" in err.message


def _run(td, stat, cut):
    with td.uow(stat.username) as uow:
        analysis.run_analysis(uow, stat, NCT, RunAnalysis(cut_date=cut), with_report=False)
        uow.commit()


def _dispose(td, kind, day, reason="x"):
    coord = principals()[Role.COORDINATOR]
    with td.uow(coord.username) as uow:
        out = treatment.record_disposition(
            uow, coord, NCT, "HUN-0001", RecordDisposition(kind=kind, event_date=day, reason=reason)
        )
        uow.commit()
    return out


def test_death_is_not_before_a_recorded_new_therapy(randomized):
    _dispose(randomized, "new_therapy", "2026-02-20", "eribulin")
    err = _refused(randomized, lambda: _dispose(randomized, "death", "2026-02-19", "progression"), "event_date")
    assert "before the new anticancer therapy (2026-02-20)" in err.message


def test_several_new_therapies_are_recorded_and_listed(randomized):
    _dispose(randomized, "new_therapy", "2026-02-01", "capecitabine")
    _dispose(randomized, "new_therapy", "2026-02-20", "eribulin")
    _dispose(randomized, "death", "2026-03-01", "progression")
    with pytest.raises(Conflict):  # one death
        _dispose(randomized, "death", "2026-03-01", "again")
    _refused(randomized, lambda: _dispose(randomized, "new_therapy", "2026-01-04", "before"), "event_date")
    err = _refused(randomized, lambda: _dispose(randomized, "new_therapy", "2026-03-02", "after"), "event_date")
    assert "after the death (2026-03-01)" in err.message
    monitor = principals()[Role.MONITOR]
    with randomized.uow() as uow:
        listed = treatment.list_dispositions(uow, monitor, NCT, "HUN-0001")
    assert [(d["kind"], d["reason"]) for d in listed if d["kind"] == "new_therapy"] == [
        ("new_therapy", "capecitabine"),
        ("new_therapy", "eribulin"),
    ]


# --------------------------------------------------------------------------------------------- HTTP and CLI
def _login(client, username):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}, follow_redirects=False
    )
    if r.headers["location"].startswith("/account/password"):
        page = client.get("/account/password")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        client.post(
            "/account/password",
            data={"current": PASSWORD, "new": PASSWORD + "!", "confirm": PASSWORD + "!", "csrf_token": csrf},
        )
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ops").text).group(1)


def test_web_form_and_api_name_the_field_and_list_every_new_therapy(randomized):
    make_users(randomized)
    client = TestClient(create_app_for(randomized))
    coord = {"Authorization": f"Bearer {token_for(randomized, 'coordinator1')}"}
    url = f"/api/v1/trials/{NCT}/subjects/HUN-0001/dispositions"
    before = _counts(randomized)
    bad = client.post(url, json={"kind": "new_therapy", "event_date": "2025-01-01", "reason": "x"}, headers=coord)
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "event_date"
    assert _counts(randomized)["dispositions"] == before["dispositions"]
    for day, what in (("2026-02-01", "capecitabine"), ("2026-02-10", "eribulin")):
        ok = client.post(url, json={"kind": "new_therapy", "event_date": day, "reason": what}, headers=coord)
        assert ok.status_code == 201, ok.text
    assert [d["reason"] for d in client.get(url, headers=coord).json()] == ["capecitabine", "eribulin"]
    csrf = _login(client, "coordinator1")
    form = {"csrf_token": csrf, "kind": "new_therapy", "event_date": "2025-12-31", "reason": "tucatinib"}
    page = client.post("/ops/subjects/HUN-0001/dispositions", data=form, follow_redirects=False)
    assert page.status_code == 422 and "before randomization" in page.text and "tucatinib" in page.text
    subject_page = client.get("/ops/subjects/HUN-0001?tab=disposition").text
    assert "capecitabine" in subject_page and "eribulin" in subject_page


def create_app_for(td):
    from trialdesk.entrypoints.web.app import create_app

    return create_app(td_app=td)


def test_cli_lists_every_new_therapy(sqlite_url):
    from trialdesk.entrypoints.cli.main import app

    td = bootstrap(sqlite_url)
    add_subject(td, randomized=dt.date(2025, 7, 1))
    td.dispose()
    runner = CliRunner()
    db = ["--db", sqlite_url]
    for day, what in (("2025-08-01", "capecitabine"), ("2025-09-01", "eribulin")):
        out = runner.invoke(
            app, ["disposition", "record", "HUN-0001", "--kind", "new_therapy", "--date", day, "--reason", what, *db]
        )
        assert out.exit_code == 0, out.output
    bad = runner.invoke(
        app, ["disposition", "record", "HUN-0001", "--kind", "new_therapy", "--date", "2025-06-30", *db]
    )
    assert bad.exit_code != 0 and "event_date" in bad.output
    listed = runner.invoke(app, ["disposition", "list", "HUN-0001", "--json", *db])
    assert listed.exit_code == 0, listed.output
    assert [d["reason"] for d in json.loads(listed.stdout)] == ["capecitabine", "eribulin"]


def test_history_dates_after_the_screening_are_refused(trial):
    record = {**ELIGIBLE, "disease": {**ELIGIBLE["disease"], "recurrence_date": "2026-01-19"}}
    err = _refused(
        trial, lambda: _screen(trial, record=record, screened_on=dt.date(2026, 1, 18)), "record.disease.recurrence_date"
    )
    assert "recurrence_date 2026-01-19 is after screened_on 2026-01-18" in err.message


def test_randomization_more_than_28_days_after_the_baseline_assessment_is_refused(trial, tmp_path):
    setup_list(trial)
    number = _screen(trial, screened_on=dt.date(2026, 1, 12))["subject_number"]
    coord = principals()[Role.COORDINATOR]
    with trial.uow(coord.username) as uow:
        cmd = RecordTumourAssessment.model_validate(
            {"assessment_date": "2025-12-22", "lesions": LESIONS, "baseline": True}
        )
        tumor.record_tumor_assessment(uow, coord, NCT, number, cmd)
        uow.commit()
    err = _refused(trial, lambda: _randomize(trial, number, dt.date(2026, 1, 20), tmp_path), "randomized_on")
    assert "more than 28 days after the baseline assessment_date 2025-12-22" in err.message
    assert _randomize(trial, number, dt.date(2026, 1, 19), tmp_path)["randomized_on"] == "2026-01-19"  # day 28


def test_an_edit_is_checked_against_the_timeline_too(randomized):
    from trialdesk.services.commands import EditRecord

    assessment_id = _assess(randomized, "2025-12-20", True)["assessment"]["id"]
    coord = principals()[Role.COORDINATOR]

    def edit(day):
        with randomized.uow(coord.username) as uow:
            cmd = EditRecord(changes={"assessment_date": day}, reason="transcription error")
            tumor.update_tumor_assessment(uow, coord, NCT, "HUN-0001", assessment_id, cmd)
            uow.commit()

    err = _refused(randomized, lambda: edit("2024-01-01"), "assessment_date")
    assert "before the trial start date 2025-06-23" in err.message and "baseline window" in err.message


@pytest.fixture
def with_ctcae(randomized, shared_dir):
    from capture_helpers import load_ctcae

    load_ctcae(randomized, shared_dir)
    with randomized.uow("setup") as uow:  # a subject with no screening on record: no consent date
        uow.subjects.create(
            trial_id=uow.trials.get(NCT).id,
            site_key=OWN,
            subject_number="HUN-0009",
            patient_ref="legacy-9",
            status="screening",
            created_at="2026-01-01T00:00:00+00:00",
            data_version=0,
        )
        uow.commit()
    return randomized


def test_adverse_event_dates_follow_the_timeline_on_entry_and_edit(with_ctcae):
    from capture_helpers import THP_RELATIONSHIP
    from trialdesk.services import adverse_events as ae
    from trialdesk.services.commands import EditRecord, RecordAdverseEvent

    td = with_ctcae
    coord = principals()[Role.COORDINATOR]

    def record(subject, onset, relationship):
        with td.uow(coord.username) as uow:
            cmd = RecordAdverseEvent.model_validate(
                {"term": "Nausea", "grade": 2, "onset_date": onset, "relationship": relationship}
            )
            out = ae.record_adverse_event(uow, coord, NCT, subject, cmd)
            uow.commit()
        return out

    err = _refused(td, lambda: record("HUN-0009", "2025-01-01", {}), "onset_date")
    assert "onset_date 2025-01-01 is before the trial start date 2025-06-23" in err.message
    _refused(td, lambda: record("HUN-0001", "2025-12-19", THP_RELATIONSHIP), "onset_date")  # consent 2025-12-20
    ae_id = record("HUN-0001", "2025-12-20", THP_RELATIONSHIP)["id"]

    def edit():
        with td.uow(coord.username) as uow:
            cmd = EditRecord(changes={"onset_date": "2025-12-01"}, reason="typo")
            ae.update_adverse_event(uow, coord, NCT, "HUN-0001", ae_id, cmd)
            uow.commit()

    err = _refused(td, edit, "onset_date")
    assert "before the subject's informed consent (2025-12-20)" in err.message


def test_screening_api_names_the_field_and_keeps_one_subject_per_patient(trial):
    make_users(trial)
    client = TestClient(create_app_for(trial))
    h = {"Authorization": f"Bearer {token_for(trial, 'coordinator1')}"}
    url = f"/api/v1/trials/{NCT}/screenings"
    bad = {**ELIGIBLE, "attestations": {"EXC-77": True}}
    r = client.post(url, headers=h, json={"site": OWN, "patient_ref": "FUZZ-1", "record": bad})
    assert r.status_code == 422 and [p["field"] for p in r.json()["problems"]] == ["record.attestations.EXC-77"]
    r = client.post(
        url, headers=h, json={"site": OWN, "patient_ref": "FUZZ-1", "record": ELIGIBLE, "screened_on": "2026-01-09"}
    )
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "screened_on"
    assert _counts(trial)["subjects"] == 0
    first = client.post(url, headers=h, json={"site": OWN, "patient_ref": "FUZZ-1", "record": ELIGIBLE})
    second = client.post(url, headers=h, json={"site": OWN, "patient_ref": " fuzz-1 ", "record": ELIGIBLE})
    assert first.status_code == second.status_code == 201, second.text
    assert second.json()["subject_number"] == first.json()["subject_number"] and second.json()["rescreen"]
    assert _counts(trial)["subjects"] == 1
