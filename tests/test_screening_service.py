"""Screening log service on SQLite and PostgreSQL: verdicts and stored reasons, rescreening, site-unique
numbering, access and site rules, malformed records (nothing stored), the screen-failure summary.

References are independent of the code: the expected verdicts and reasons of the three example records are the
ones written out by hand in docs/screening/README.md; site codes are the sites' positions in the registry record
(/work/shared/seed, Locations: Hunan Cancer Hospital is the 12th listed, Anhui Provincial Hospital the 2nd).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from access_helpers import NCT, OTHER, OWN, make_users
from trialdesk.adapters.db.tables import AllocationRow, ScreeningRow, SubjectRow
from trialdesk.bootstrap import bootstrap
from trialdesk.domain.access import SYSTEM, Role
from trialdesk.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from trialdesk.services import screening, sites
from trialdesk.services.commands import ChangeSiteStatus, ScreenPatient

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "screening"
TODAY = dt.date(2026, 1, 20)


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


@pytest.fixture
def tdc(db_url):
    app = bootstrap(db_url, clock=lambda: dt.datetime(2026, 1, 20, 9, 30, tzinfo=dt.UTC))
    yield app
    app.dispose()


@pytest.fixture
def people(tdc):
    return make_users(tdc)


def screen(td, principal, ref, record, site=OWN, **kw):
    with td.uow(principal.username) as uow:
        command = ScreenPatient(site=site, patient_ref=ref, record=record, **kw)
        out = screening.screen_subject(uow, principal, NCT, command)
        uow.commit()
    return out


def counts(td):
    with td.uow() as uow:
        s = uow.session
        return (
            s.execute(select(func.count()).select_from(ScreeningRow)).scalar_one(),
            s.execute(select(func.count()).select_from(SubjectRow)).scalar_one(),
        )


def test_examples_give_their_verdicts_reasons_and_subject_status(tdc, people):
    coord = people[Role.COORDINATOR]
    ok = screen(tdc, coord, "HN-A", example("eligible"))
    bad = screen(tdc, coord, "HN-B", example("ineligible"))
    inc = screen(tdc, coord, "HN-C", example("incomplete"))
    assert (ok["verdict"], bad["verdict"], inc["verdict"]) == ("eligible", "ineligible", "incomplete")
    # Hunan Cancer Hospital is location 12 of the registry record
    assert [ok["subject_number"], bad["subject_number"], inc["subject_number"]] == ["12-0001", "12-0002", "12-0003"]
    assert [ok["screening_number"], bad["screening_number"], inc["screening_number"]] == [
        "S12-0001",
        "S12-0002",
        "S12-0003",
    ]
    # docs/screening/README.md: INC-02, INC-05 + EXC-05.01 (topo-I ADC in the metastatic setting), INC-08 (ANC)
    assert bad["failed_criteria"] == ["INC-02", "INC-05", "INC-08", "EXC-05.01"]

    with tdc.uow() as uow:
        trial = uow.trials.get(NCT)
        subj = {s.patient_ref: s for s in uow.subjects.list(trial.id)}
        assert {k: s.status for k, s in subj.items()} == {
            "HN-A": "eligible",
            "HN-B": "screen_failed",
            "HN-C": "screening",
        }
        # demographics copied from the record (eligible.json: born 1971-05-20, female, 160 cm)
        assert (subj["HN-A"].birth_date, subj["HN-A"].sex, subj["HN-A"].height_cm) == ("1971-05-20", "female", 160)
        row = screening.latest_screening(uow, subj["HN-B"].id)
        assert row.screening_number == "S12-0002" and row.verdict == "ineligible"
        assert row.failed_criteria == "INC-02,INC-05,INC-08,EXC-05.01"
        assert row.screened_on == "2026-01-20" and row.created_by == "coordinator1" and len(row.protocol_digest) == 64
        stored = {c["id"]: c for c in json.loads(row.results_json)}
        assert stored["INC-02"]["status"] == "not_met"
        assert stored["INC-02"]["reason"] == "age 76 at consent 2026-01-10 > 75; ECOG PS 2 > 1"
        assert "ANC 1.2 x10^9/L < 1.5" in stored["INC-08"]["reason"]
        assert stored["INC-02"]["text"].startswith("Age: 18-75 years old")  # verbatim registry text
        assert stored["EXC-05.01"]["status"] == "not_met" and stored["EXC-05"]["status"] == "not_met"
        assert stored["INC-01"]["status"] == "attested"
        assert json.loads(row.record_json)["labs"]["anc"] == {"value": 1200.0, "unit": "/uL", "uln": None}
        # stratification factors derived from the record: ER positive -> HR positive; recurrent; liver lesion
        assert json.loads(row.derived_json) == {
            "hr_status": "positive",
            "disease_setting": "recurrent",
            "visceral_metastases": "yes",
        }
        inc_row = screening.latest_screening(uow, subj["HN-C"].id)
        missing = {c["id"] for c in json.loads(inc_row.results_json) if c["status"] == "missing"}
        # README: HER2 2+ without ISH (INC-03), creatinine and LVEF missing (INC-08), EXC-06 not attested
        assert inc_row.failed_criteria == "" and missing == {"INC-03", "INC-08", "EXC-06"}
        actions = [e.action for e in uow.audit.query(limit=50)]
    assert actions.count("screening.recorded") == 3 and actions.count("subject.created") == 3


def test_derived_factors_follow_the_record(tdc, people):
    rec = example("eligible")
    rec["er_status"], rec["pr_status"] = "negative", "negative"
    rec["disease"]["presentation"] = "de_novo"
    rec["lesions"] = [{"organ": "lymph_node", "short_axis_mm": 17, "longest_diameter_mm": 22, "method": "ct"}]
    out = screen(tdc, people[Role.COORDINATOR], "HN-D", rec)
    assert out["derived"] == {"hr_status": "negative", "disease_setting": "de_novo", "visceral_metastases": "no"}
    del rec["lesions"]
    out = screen(tdc, people[Role.COORDINATOR], "HN-E", rec)
    assert out["derived"]["visceral_metastases"] is None  # lesions not collected: unknown, not a guess


def test_rescreen_keeps_every_screening_and_numbering_is_site_unique(tdc, people):
    coord = people[Role.COORDINATOR]
    first = screen(tdc, coord, "HN-1", example("incomplete"), screened_on=dt.date(2026, 1, 12))
    other = screen(tdc, coord, "HN-2", example("ineligible"))
    again = screen(tdc, coord, "HN-1", example("eligible"))
    assert first["subject_number"] == again["subject_number"] == "12-0001"
    assert other["subject_number"] == "12-0002"
    assert [first["screening_number"], other["screening_number"], again["screening_number"]] == [
        "S12-0001",
        "S12-0002",
        "S12-0003",
    ]
    assert (first["rescreen"], again["rescreen"]) == (False, True)
    # a second site numbers independently, with its own code (Anhui Provincial Hospital: location 2)
    with tdc.uow("admin") as uow:
        sites.change_site_status(
            uow, SYSTEM, NCT, OTHER, ChangeSiteStatus(status="RECRUITING", reason="site initiation visit done")
        )
        uow.commit()
    elsewhere = screen(tdc, SYSTEM, "HN-1", example("eligible"), site=OTHER)
    assert (elsewhere["subject_number"], elsewhere["screening_number"]) == ("02-0001", "S02-0001")

    with tdc.uow() as uow:
        log = screening.screening_log(uow, people[Role.MONITOR], NCT)
        subj = uow.subjects.get(uow.trials.get(NCT).id, "12-0001")
        assert subj.status == "eligible"
        assert [s["screening_number"] for s in screening.screenings_of(uow, coord, NCT, subj)] == [
            "S12-0001",
            "S12-0003",
        ]
        assert screening.latest_screening(uow, subj.id).screening_number == "S12-0003"
    # the monitor is scoped to Hunan: three screenings there, none of Anhui's
    assert [(r["screening_number"], r["subject_number"], r["verdict"], r["screened_on"]) for r in log] == [
        ("S12-0001", "12-0001", "incomplete", "2026-01-12"),
        ("S12-0002", "12-0002", "ineligible", "2026-01-20"),
        ("S12-0003", "12-0001", "eligible", "2026-01-20"),
    ]
    assert counts(tdc) == (4, 3)


def test_randomized_subject_cannot_be_rescreened(tdc, people):
    coord = people[Role.COORDINATOR]
    out = screen(tdc, coord, "HN-R", example("eligible"))
    with tdc.uow() as uow:
        trial = uow.trials.get(NCT)
        subj = uow.subjects.get(trial.id, out["subject_number"])
        uow.session.add(
            AllocationRow(
                trial_id=trial.id,
                subject_id=subj.id,
                site_key=OWN,
                stratum="x",
                randomization_number="R-0001",
                arm="tqb2102",
                **_allocation_extras(),
            )
        )
        subj.status = "randomized"
        uow.commit()
    with pytest.raises(Conflict, match="12-0001 is randomized"):
        screen(tdc, coord, "HN-R", example("eligible"))
    assert counts(tdc) == (1, 1)


def _allocation_extras() -> dict:
    """Values for the allocation columns this test does not care about (NOT NULL ones only)."""
    extras = {}
    for col in AllocationRow.__table__.columns:
        if (
            col.name
            in {
                "id",
                "trial_id",
                "subject_id",
                "site_key",
                "stratum",
                "randomization_number",
                "arm",
                "list_id",
                "slot_id",
            }
            or col.nullable
            or col.default is not None
        ):
            continue
        extras[col.name] = "2026-01-20T09:30:00+00:00" if "at" in col.name or "date" in col.name else "x"
    return extras


def test_site_must_be_recruiting_and_coordinator_only_at_own_site(tdc, people):
    coord = people[Role.COORDINATOR]
    # Anhui Provincial Hospital is NOT_YET_RECRUITING in the registry record
    with pytest.raises(Conflict, match="not RECRUITING"):
        screen(tdc, SYSTEM, "AN-1", example("eligible"), site=OTHER)
    with tdc.uow("admin") as uow:
        sites.change_site_status(
            uow, SYSTEM, NCT, OTHER, ChangeSiteStatus(status="RECRUITING", reason="site initiation visit done")
        )
        uow.commit()
    with pytest.raises(PermissionDenied):
        screen(tdc, coord, "AN-1", example("eligible"), site=OTHER)
    for role in (Role.MONITOR, Role.SPONSOR, Role.STATISTICIAN, Role.ADMIN):
        with pytest.raises(PermissionDenied):
            screen(tdc, people[role], "HN-X", example("eligible"))
    assert counts(tdc) == (0, 0)
    with tdc.uow() as uow:
        last = uow.audit.query(limit=1)[0]
    assert last.action == "access.denied" and last.actor == "admin1"
    # a suspended site does not screen either
    with tdc.uow("admin") as uow:
        sites.change_site_status(uow, SYSTEM, NCT, OWN, ChangeSiteStatus(status="SUSPENDED", reason="drug supply"))
        uow.commit()
    with pytest.raises(Conflict, match="SUSPENDED"):
        screen(tdc, coord, "HN-1", example("eligible"))
    assert counts(tdc) == (0, 0)


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda r: r["labs"]["anc"].__setitem__("value", "lots"), "record.labs.anc.value"),
        (lambda r: r["labs"]["anc"].__setitem__("unit", "kg"), "record.labs"),
        (lambda r: r.__setitem__("ecog", 7), "record.ecog"),
        (lambda r: r.__setitem__("favourite_colour", "blue"), "record.favourite_colour"),
        (lambda r: r["her2"].__setitem__("ihc", "4+"), "record.her2.ihc"),
        (lambda r: r["prior_therapies"][0].__setitem__("setting", "palliative"), "record.prior_therapies.0.setting"),
    ],
)
def test_malformed_record_names_the_field_and_stores_nothing(tdc, people, mutate, field):
    coord = people[Role.COORDINATOR]
    rec = copy.deepcopy(example("ineligible"))
    mutate(rec)
    with pytest.raises(InvalidInput) as info:
        screen(tdc, coord, "HN-M", rec)
    assert field in [p.path for p in info.value.problems], info.value.problems
    assert counts(tdc) == (0, 0)


def test_other_bad_inputs(tdc, people):
    coord = people[Role.COORDINATOR]
    # a blank reference, a future date and a malformed record are all named at once
    with pytest.raises(InvalidInput) as info:
        screen(tdc, coord, "  ", {"favourite_colour": "blue"}, screened_on=dt.date(2026, 1, 21))
    assert {p.path.split(".")[0] for p in info.value.problems} == {"patient_ref", "screened_on", "record"}
    assert "in the future" in info.value.message
    # what is no record at all, or a reference too long, the command model refuses
    with pytest.raises(ValidationError) as refused:
        screen(tdc, coord, "HN-1", "not a record")
    assert [e["loc"] for e in refused.value.errors()] == [("record",)]
    with pytest.raises(ValidationError, match="at most 80"):
        screen(tdc, coord, "x" * 81, example("eligible"))
    with pytest.raises(NotFound):
        screen(tdc, SYSTEM, "x", example("eligible"), site="no-such-site")
    assert counts(tdc) == (0, 0)


def test_log_and_summary_access(tdc, people):
    coord = people[Role.COORDINATOR]
    screen(tdc, coord, "HN-1", example("ineligible"))
    with tdc.uow() as uow:
        assert len(screening.screening_log(uow, people[Role.INVESTIGATOR], NCT, OWN)) == 1
        with pytest.raises(PermissionDenied):
            screening.screening_log(uow, coord, NCT, OTHER)
        for role in (Role.SPONSOR, Role.STATISTICIAN):  # no subject-level data for them
            with pytest.raises(PermissionDenied):
                screening.screening_log(uow, people[role], NCT)
        row = screening.screening_log(uow, coord, NCT)[0]
        with pytest.raises(PermissionDenied) as hidden:  # refused like absence
            screening.get_screening(uow, people[Role.SPONSOR], NCT, OWN, row["screening_number"])
        assert hidden.value.status_code == 404
        with pytest.raises(NotFound):
            screening.get_screening(uow, coord, NCT, OWN, "S12-0999")
        detail = screening.get_screening(uow, coord, NCT, OWN, row["screening_number"])
        assert detail["record"]["ecog"] == 2 and len(detail["criteria"]) > 20
        summary = screening.screen_failure_summary(uow, people[Role.SPONSOR], NCT)
    assert summary["screened"] == 1
    assert "patient_ref" not in json.dumps(summary) and "12-0001" not in json.dumps(summary)


def test_summary_counts_latest_screening_per_subject_by_criterion(tdc, people):
    coord = people[Role.COORDINATOR]
    rec_age = example("eligible")
    rec_age["birth_date"] = "1940-01-01"  # 86 at consent: INC-02 only
    rec_anc = example("eligible")
    rec_anc["labs"]["anc"] = {"value": 1.0, "unit": "10^9/L"}  # INC-08 only
    screen(tdc, coord, "P1", example("ineligible"))  # INC-02, INC-05, INC-08, EXC-05.01
    screen(tdc, coord, "P2", rec_age)  # INC-02
    screen(tdc, coord, "P3", rec_anc)  # INC-08 ...
    screen(tdc, coord, "P3", example("eligible"))  # ... then eligible at rescreen: no longer a failure
    screen(tdc, coord, "P4", example("incomplete"))
    screen(tdc, coord, "P5", example("eligible"))
    with tdc.uow() as uow:
        s = screening.screen_failure_summary(uow, people[Role.SPONSOR], NCT)
    assert (s["screened"], s["screenings"], s["eligible"], s["ineligible"], s["incomplete"]) == (5, 6, 2, 2, 1)
    # by hand: P1 and P2 fail INC-02; P1 alone INC-05, INC-08, EXC-05.01 (P3's failure was superseded)
    assert [(f["id"], f["subjects"]) for f in s["failures"]] == [
        ("INC-02", 2),
        ("INC-05", 1),
        ("INC-08", 1),
        ("EXC-05.01", 1),
    ]
    assert s["failures"][3]["parent"] == "EXC-05" and s["failures"][0]["text"].startswith("Age: 18-75")
    with tdc.uow() as uow, pytest.raises(PermissionDenied):
        screening.screen_failure_summary(uow, _nobody(), NCT)


def _nobody():
    from trialdesk.domain.access import Principal

    return Principal("nobody")
