"""Analysis datasets: every PFS censoring rule, BOR, DoR, TEAE window and dose intensity on hand-built Subjects.

Grid used below (operations.schedule defaults): assessments planned on days 42, 84, 126, 168... after
randomization, window +/- 7 days. Day counts use the ADaM convention AVAL = date - randomization + 1.
"""

from __future__ import annotations

import datetime as dt

import pytest

from trialdesk.domain.analysis_spec import AnalysisSpec, PfsCensoring
from trialdesk.domain.datasets import (
    AdverseEventInput,
    AssessmentInput,
    CapturedData,
    DispositionInput,
    DoseInput,
    SubjectInput,
    best_overall_response,
    derive_datasets,
    pfs_outcome,
)
from trialdesk.domain.errors import InvalidInput
from trialdesk.domain.schedule import ScheduleSpec

R = dt.date(2026, 1, 1)
SPEC = AnalysisSpec()
SCHEDULE = ScheduleSpec()
CUT = dt.date(2027, 12, 31)


def day(n: int) -> dt.date:
    return R + dt.timedelta(days=n)


def pfs(visits, **kw):
    kw.setdefault("cut_date", CUT)
    return pfs_outcome(R, [(day(d), r) for d, r in visits], spec=SPEC, schedule=SCHEDULE, **kw)


def test_progression_is_an_event_at_the_assessment_date():
    out = pfs([(42, "SD"), (84, "PD")])
    assert (out.date, out.event, out.rule) == (day(84), True, "progression")


def test_death_without_progression_is_an_event():
    out = pfs([(42, "SD")], death_date=day(100))
    assert (out.date, out.event, out.rule) == (day(100), True, "death")


def test_earliest_of_progression_and_death():
    out = pfs([(42, "SD"), (84, "PD")], death_date=day(90))
    assert (out.date, out.rule) == (day(84), "progression")


def test_no_event_censored_at_last_adequate_assessment_ne_is_not_adequate():
    out = pfs([(42, "SD"), (84, "PR"), (126, "NE")])
    assert (out.date, out.event, out.rule) == (day(84), False, "censored_last_assessment")


def test_no_assessment_censored_at_randomization():
    out = pfs([])
    assert (out.date, out.event, out.rule) == (R, False, "censored_no_assessment")


def test_event_after_two_missed_assessments_is_censored_at_last_adequate_one():
    # last adequate day 42; planned 84 (77-91) and 126 (119-133) missed; PD on day 168
    out = pfs([(42, "SD"), (168, "PD")])
    assert (out.date, out.event, out.rule) == (day(42), False, "censored_missed_assessments")
    # death on day 140: the same two visits were missed
    out = pfs([(42, "SD")], death_date=day(140))
    assert (out.date, out.rule) == (day(42), "censored_missed_assessments")


def test_event_after_one_missed_assessment_stays_an_event():
    # only day 84 (77-91) is missed; day 126's window (119-133) is still open on day 130
    out = pfs([(42, "SD"), (130, "PD")])
    assert (out.date, out.event, out.rule) == (day(130), True, "progression")


def test_missed_assessments_counted_from_randomization_when_none_done():
    assert pfs([], death_date=day(60)).rule == "death"  # only day 42 (35-49) missed
    out = pfs([], death_date=day(95))  # days 42 and 84 (77-91) missed
    assert (out.date, out.event, out.rule) == (R, False, "censored_missed_assessments")


def test_ne_assessments_count_as_missed():
    out = pfs([(42, "SD"), (84, "NE"), (126, "NE"), (168, "PD")])
    assert (out.date, out.rule) == (day(42), "censored_missed_assessments")


def test_missed_threshold_comes_from_the_spec():
    spec = AnalysisSpec(pfs=PfsCensoring(missed_assessments=3))
    out = pfs_outcome(R, [(day(42), "SD"), (day(168), "PD")], cut_date=CUT, spec=spec, schedule=SCHEDULE)
    assert out.rule == "progression"


def test_new_therapy_before_event_censored_at_last_adequate_assessment_before_it():
    out = pfs([(42, "SD"), (84, "SD"), (126, "PD")], new_therapy_date=day(100))
    assert (out.date, out.event, out.rule) == (day(84), False, "censored_new_therapy")
    # an assessment on the day the new therapy starts precedes it
    assert pfs([(42, "SD"), (84, "SD")], new_therapy_date=day(84)).date == day(84)
    # no assessment before new therapy: censored at randomization
    assert pfs([(42, "SD")], new_therapy_date=day(20)).date == R


def test_new_therapy_after_progression_does_not_matter():
    out = pfs([(42, "SD"), (84, "PD")], new_therapy_date=day(95))
    assert (out.date, out.rule) == (day(84), "progression")


def test_new_therapy_rule_can_be_switched_off():
    spec = AnalysisSpec(pfs=PfsCensoring(censor_at_new_therapy=False))
    out = pfs_outcome(
        R,
        [(day(42), "SD"), (day(84), "SD"), (day(126), "PD")],
        cut_date=CUT,
        spec=spec,
        schedule=SCHEDULE,
        new_therapy_date=day(100),
    )
    assert out.rule == "progression"


def test_data_after_the_cut_are_ignored():
    out = pfs([(42, "SD"), (84, "SD"), (126, "PD")], cut_date=day(120), death_date=day(200))
    assert (out.date, out.rule) == (day(84), "censored_last_assessment")


def _data(**extra):
    subjects = [
        SubjectInput(
            "A1",
            "s",
            "tqb2102",
            R,
            {"hr_status": "positive", "disease_setting": "de_novo", "visceral_metastases": "yes"},
            birth_date=dt.date(1960, 6, 1),
        ),
        SubjectInput(
            "B1",
            "s",
            "thp",
            R,
            {"hr_status": "negative", "disease_setting": "recurrent", "visceral_metastases": "no"},
            birth_date=dt.date(1961, 1, 2),
        ),
        SubjectInput("LATE", "s", "thp", CUT + dt.timedelta(days=1), {}),
        SubjectInput("SCR", "s"),
    ]
    assessments = [
        AssessmentInput("A1", day(-3), None, baseline=True),
        AssessmentInput("A1", day(42), "PR"),
        AssessmentInput("A1", day(84), "PR"),
        AssessmentInput("A1", day(126), "PD"),
        AssessmentInput("B1", day(42), "SD"),
        AssessmentInput("B1", day(84), "SD"),
    ]
    doses = [
        DoseInput("A1", 1, "tqb2102", day(1), 100.0, 100.0),
        DoseInput("A1", 2, "tqb2102", day(22), 100.0, 100.0),
        DoseInput("A1", 3, "tqb2102", day(50), 80.0, 100.0),
    ]
    return CapturedData(subjects, (), assessments, extra.get("dispositions", ()), doses, extra.get("aes", ()))


def test_datasets_end_to_end_on_hand_built_subjects():
    ds = derive_datasets(_data(), SPEC, SCHEDULE, CUT)
    adsl = ds.adsl.set_index("subject_number")
    assert list(adsl.loc[["A1", "B1", "LATE", "SCR"], "itt"]) == [True, True, False, False]
    assert list(adsl.loc[["A1", "B1"], "safety"]) == [True, False]
    assert adsl.loc["A1", "age"] == 65 and adsl.loc["A1", "age_group"] == ">= 65"  # birthday 1960-06-01
    assert adsl.loc["B1", "age"] == 64  # turns 65 the day after randomization
    tte = ds.adtte.set_index("subject_number")
    assert list(tte.index) == ["A1", "B1"]
    assert (tte.loc["A1", "days"], tte.loc["A1", "event"]) == (127, 1)
    assert tte.loc["A1", "time"] == pytest.approx(127 / 30.4375)
    assert (tte.loc["B1", "days"], tte.loc["B1", "event"], tte.loc["B1", "rule"]) == (85, 0, "censored_last_assessment")
    assert tte.loc["A1", "hr_status"] == "positive"
    rs = ds.adrs.set_index("subject_number")
    assert (rs.loc["A1", "bor"], rs.loc["A1", "responder"]) == ("PR", True)
    # duration of response: first PR day 42 to PD day 126 -> 126 - 42 + 1 = 85 days, an event
    assert (rs.loc["A1", "dor_days"], rs.loc["A1", "dor_event"]) == (85, 1)
    assert (rs.loc["B1", "bor"], rs.loc["B1", "responder"]) == ("SD", False)
    ex = ds.adex.iloc[0]
    # RDI: actual DI = 280 mg / (49 + 21 days) = 4.0; planned DI = 300 / (3 x 21) = 4.7619...; ratio 0.84
    assert (ex["n_doses"], ex["cycles"], ex["duration_days"]) == (3, 3, 70)
    assert ex["rdi"] == pytest.approx(0.84)


def test_treatment_emergent_window():
    aes = [
        AdverseEventInput("A1", "Nausea", "GI", 1, day(0)),  # before the first dose (day 1)
        AdverseEventInput("A1", "Nausea", "GI", 2, day(1)),
        AdverseEventInput("A1", "Fatigue", "Gen", 3, day(80)),  # last dose day 50 + 30
        AdverseEventInput("A1", "Rash", "Skin", 1, day(81)),
        AdverseEventInput("B1", "Rash", "Skin", 1, day(10)),
    ]  # B1 is not in the safety set
    ae = derive_datasets(_data(aes=aes), SPEC, SCHEDULE, CUT).adae
    assert list(ae["teae"]) == [False, True, True, False]
    assert set(ae["subject_number"]) == {"A1"}


def test_bad_records_name_the_field():
    with pytest.raises(InvalidInput) as exc:
        derive_datasets(_data(aes=[AdverseEventInput("A1", "X", "Y", 7, day(5))]), SPEC, SCHEDULE, CUT)
    assert "adverse_events[0].grade" in str(exc.value.problems)
    with pytest.raises(InvalidInput) as exc:
        derive_datasets(_data(dispositions=[DispositionInput("A1", "holiday", day(5))]), SPEC, SCHEDULE, CUT)
    assert "dispositions[0].kind" in str(exc.value.problems)


def test_disposition_dates_feed_pfs():
    dispositions = [DispositionInput("B1", "death", day(100), "Disease progression")]
    tte = derive_datasets(_data(dispositions=dispositions), SPEC, SCHEDULE, CUT).adtte.set_index("subject_number")
    assert (tte.loc["B1", "days"], tte.loc["B1", "event"], tte.loc["B1", "rule"]) == (101, 1, "death")


@pytest.mark.parametrize(
    ("visits", "confirm", "expected"),
    [
        ([(42, "PR"), (84, "CR")], False, ("CR", day(84))),
        ([(42, "SD"), (84, "PR"), (126, "PD")], False, ("PR", day(84))),
        ([(30, "SD")], False, ("NE", None)),  # SD before day 35 does not count
        ([(30, "SD"), (60, "PD")], False, ("PD", day(60))),
        ([(42, "non-CR/non-PD")], False, ("non-CR/non-PD", day(42))),
        ([(42, "PD"), (84, "PR")], False, ("PD", day(42))),  # responses after progression do not count
        ([(42, "PR"), (84, "SD")], True, ("SD", day(42))),  # unconfirmed PR counts as SD
        ([(42, "PR"), (63, "PR")], True, ("SD", day(42))),  # second PR only 21 days later: not a confirmation
    ],
)
def test_best_overall_response(visits, confirm, expected):
    got = best_overall_response(R, [(day(d), r) for d, r in visits], min_sd_days=35, confirm=confirm)
    assert got == expected


def test_confirmed_response():
    got = best_overall_response(R, [(day(42), "PR"), (day(84), "PR")], min_sd_days=35, confirm=True)
    assert got == ("PR", day(42))
    got = best_overall_response(R, [(day(42), "CR"), (day(84), "PR")], min_sd_days=35, confirm=True)
    assert got == ("PR", day(42))  # CR not confirmed by a CR, but confirmed as PR


def test_spec_rejects_unknown_response_and_pd_missing():
    with pytest.raises(ValueError):
        PfsCensoring(adequate_responses=("CR", "XX", "PD"))
    with pytest.raises(ValueError):
        PfsCensoring(adequate_responses=("CR", "PR"))


def test_protocol_has_analysis_section_with_documented_assumptions():
    from trialdesk.adapters.protocol_files import load_default_protocol

    spec = load_default_protocol().operations.analysis
    assert spec is not None and spec.conf_type == "log-log" and spec.ties == "efron"
    for name in (
        "pfs.missed_assessments",
        "pfs.censor_at_new_therapy",
        "conf_type",
        "ties",
        "stratify_by",
        "day_offset",
        "treatment_emergent_days",
        "subgroups",
    ):
        assert name in spec.assumptions, name
