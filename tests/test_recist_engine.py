"""RECIST 1.1 time-point and best overall responses, checked against the published rules.

Reference: Eisenhauer EA et al. New response evaluation criteria in solid tumours: revised RECIST guideline
(version 1.1). Eur J Cancer 2009;45:228-247 (section numbers below are the paper's). Every expected value is
computed by hand in the test from those rules, never taken from the engine.
"""

from __future__ import annotations

import datetime as dt

import pytest

from trialdesk.domain.recist import RecistSpec, evaluate_subject
from trialdesk.domain.recist_models import NewLesionFinding, Response, SubjectTumorAssessments

RANDOMIZED = dt.date(2025, 7, 1)


def T(lesion_id, measurement=None, *, organ=None, nodal=None, fragments=None, merged_into=None):
    record = {"kind": "target", "lesion_id": lesion_id}
    if organ is not None:
        record["organ"] = organ
    if nodal is not None:
        record["nodal"] = nodal
    if measurement is not None:
        record["measurement"] = measurement
    if fragments is not None:
        record["fragments_mm"] = fragments
    if merged_into is not None:
        record["merged_into"] = merged_into
    return record


def NT(lesion_id, status="present", organ=None):
    record = {"kind": "non_target", "lesion_id": lesion_id, "status": status}
    if organ is not None:
        record["organ"] = organ
    return record


def NEW(lesion_id, status="unequivocal"):
    return {"kind": "new", "lesion_id": lesion_id, "organ": "brain", "status": status}


def evaluate(baseline, *follow_ups, days=None, spec=None):
    """Follow-ups every 6 weeks (day 42, 84, ...) unless ``days`` says otherwise."""
    days = days or [42 * (i + 1) for i in range(len(follow_ups))]
    subject = SubjectTumorAssessments.model_validate(
        {
            "subject_id": "S-001",
            "randomization_date": RANDOMIZED.isoformat(),
            "baseline": {"date": (RANDOMIZED - dt.timedelta(days=7)).isoformat(), "lesions": baseline},
            "follow_ups": [
                {"date": (RANDOMIZED + dt.timedelta(days=d)).isoformat(), "lesions": lesions}
                for d, lesions in zip(days, follow_ups, strict=True)
            ],
        }
    )
    return evaluate_subject(subject, spec)


def overall(result):
    return [tp.overall_response for tp in result.time_points]


# ---------------------------------------------------------------------------------------------------------------
# Target response at the boundaries (4.3.1)


def test_exactly_30_percent_below_baseline_is_pr_and_just_above_is_sd():
    # Baseline 30 + 20 = 50 mm. 21 + 14 = 35 mm = 50 * 0.70: a 30.0 % decrease -> PR ("at least a 30% decrease").
    base = [T("T1", 30, organ="liver"), T("T2", 20, organ="lung")]
    res = evaluate(base, [T("T1", 21), T("T2", 14)], [T("T1", 21.1), T("T2", 14)])
    first, second = res.time_points
    assert first.sum_mm == 35.0 and first.change_from_baseline_pct == pytest.approx(-30.0)
    assert first.target_response is Response.PR
    # 35.1 mm: -29.8 %, not PR; +0.1 mm from the 35 mm nadir is not PD either -> SD.
    assert second.sum_mm == pytest.approx(35.1)
    assert second.target_response is Response.SD


def test_minus_30_percent_is_exact_even_where_binary_floats_are_not():
    # Baseline 11.1 + 22.2 = 33.3 mm; 70 % of it is 23.31 mm = 7.77 + 15.54. In binary floating point
    # 7.77 + 15.54 > 0.7 * (11.1 + 22.2), so a naive comparison would call this SD.
    assert 7.77 + 15.54 > 0.7 * (11.1 + 22.2)
    base = [T("T1", 11.1, organ="liver"), T("T2", 22.2, organ="lung")]
    res = evaluate(base, [T("T1", 7.77), T("T2", 15.54)])
    assert res.time_points[0].target_response is Response.PR


def test_plus_20_percent_with_4_mm_is_not_pd():
    # Nadir = baseline = 20 mm. 24 mm is +20 % but only +4 mm: PD needs both -> SD.
    res = evaluate([T("T1", 20, organ="liver")], [T("T1", 24)])
    tp = res.time_points[0]
    assert tp.change_from_nadir_pct == pytest.approx(20.0) and tp.change_from_nadir_mm == pytest.approx(4.0)
    assert tp.target_response is Response.SD
    assert tp.overall_response is Response.SD


def test_plus_20_percent_with_5_mm_is_pd():
    # Nadir = baseline = 25 mm. 30 mm is +20 % and +5 mm -> PD.
    res = evaluate([T("T1", 25, organ="liver")], [T("T1", 30)])
    tp = res.time_points[0]
    assert tp.change_from_nadir_pct == pytest.approx(20.0) and tp.change_from_nadir_mm == pytest.approx(5.0)
    assert tp.target_response is Response.PD
    assert res.first_pd_date == RANDOMIZED + dt.timedelta(days=42)


def test_plus_5_mm_below_20_percent_is_not_pd():
    # 30 -> 35.9 mm: +5.9 mm but +19.7 % -> SD.
    res = evaluate([T("T1", 30, organ="liver")], [T("T1", 35.9)])
    assert res.time_points[0].target_response is Response.SD


def test_pd_is_measured_from_the_nadir_not_the_baseline():
    # Baseline 100 mm; 60 mm (-40 %, PR); then 72 mm: still -28 % from baseline, but +20 % and +12 mm above the
    # 60 mm nadir -> PD.
    base = [T("T1", 60, organ="liver"), T("T2", 40, organ="lung")]
    res = evaluate(base, [T("T1", 35), T("T2", 25)], [T("T1", 42), T("T2", 30)])
    pr, pd = res.time_points
    assert pr.target_response is Response.PR and pr.nadir_mm == 100.0
    assert pd.nadir_mm == 60.0
    assert pd.change_from_baseline_pct == pytest.approx(-28.0)
    assert pd.change_from_nadir_pct == pytest.approx(20.0) and pd.change_from_nadir_mm == pytest.approx(12.0)
    assert pd.target_response is Response.PD


def test_nadir_ignores_a_partial_sum():
    # An NE time point's partial sum (T2 missing) must not become the nadir: baseline 50, NE with T1 = 20,
    # then 30 + 20 = 50 mm: +0 % from the 50 mm nadir -> SD, not PD against 20 mm.
    base = [T("T1", 30, organ="liver"), T("T2", 20, organ="lung")]
    res = evaluate(base, [T("T1", 20), T("T2", "not_evaluated")], [T("T1", 30), T("T2", 20)])
    assert [tp.target_response for tp in res.time_points] == [Response.NE, Response.SD]
    assert res.time_points[1].nadir_mm == 50.0


# ---------------------------------------------------------------------------------------------------------------
# Lymph nodes (3.2, 4.3.1)


def test_nodes_under_10_mm_give_cr_while_still_counted_in_the_sum():
    # Node 20 mm short axis + liver 15 mm = 35 mm. Liver gone, node 8 mm: sum 8 mm (not 0), target CR.
    base = [T("T1", 15, organ="liver"), T("N1", 20, organ="axilla", nodal=True)]
    res = evaluate(base, [T("T1", "absent"), T("N1", 8)])
    tp = res.time_points[0]
    assert tp.sum_mm == 8.0
    assert tp.target_response is Response.CR
    assert tp.overall_response is Response.CR
    assert res.best_overall_response is Response.CR


def test_node_at_exactly_10_mm_is_not_cr():
    # CR needs every node < 10 mm: 10 mm is still pathological. 10 / 35 = -71 % -> PR.
    base = [T("T1", 15, organ="liver"), T("N1", 20, organ="axilla", nodal=True)]
    res = evaluate(base, [T("T1", "absent"), T("N1", 10)])
    assert res.time_points[0].target_response is Response.PR


def test_nodes_growing_but_staying_under_10_mm_stay_cr():
    # Node 16 -> 3 mm (CR) -> 9 mm: +6 mm, +200 % from the nadir, but every node is < 10 mm, so the CR
    # definition holds (nodes under 10 mm are normal, 3.2); CR is decided before PD.
    res = evaluate([T("N1", 16, organ="mediastinum", nodal=True)], [T("N1", 3)], [T("N1", 9)])
    assert [tp.target_response for tp in res.time_points] == [Response.CR, Response.CR]


# ---------------------------------------------------------------------------------------------------------------
# Too small to measure, split and merged lesions (4.3.2)


def test_too_small_counts_5_mm_and_is_not_cr():
    # 20 mm -> "too small to measure": 5 mm in the sum, -75 % -> PR, not CR (the lesion is still there).
    res = evaluate([T("T1", 20, organ="liver")], [T("T1", "too_small")])
    tp = res.time_points[0]
    assert tp.sum_mm == 5.0 and tp.target_response is Response.PR


def test_measured_value_under_5_mm_is_used_as_is_and_absent_is_0():
    base = [T("T1", 20, organ="liver"), T("T2", 30, organ="lung")]
    res = evaluate(base, [T("T1", 3), T("T2", "absent")])
    assert res.time_points[0].sum_mm == 3.0


def test_split_lesion_fragments_are_summed():
    # 40 mm lesion splits into 15 + 12 = 27 mm: -32.5 % -> PR.
    res = evaluate([T("T1", 40, organ="liver")], [T("T1", fragments=[15, 12])])
    tp = res.time_points[0]
    assert tp.sum_mm == 27.0 and tp.change_from_baseline_pct == pytest.approx(-32.5)
    assert tp.target_response is Response.PR


def test_merged_lesions_count_the_coalesced_diameter_once():
    # 20 + 15 = 35 mm coalesce into one 40 mm mass: T1 carries 40, T2 counts 0 -> 40 mm, +14.3 % -> SD.
    base = [T("T1", 20, organ="liver"), T("T2", 15, organ="liver")]
    res = evaluate(base, [T("T1", 40), T("T2", merged_into="T1")], [T("T1", 45), T("T2", merged_into="T1")])
    first, second = res.time_points
    assert first.sum_mm == 40.0 and first.target_response is Response.SD
    # 45 mm: +10 mm and +28.6 % above the 35 mm nadir -> PD.
    assert second.sum_mm == 45.0 and second.target_response is Response.PD


# ---------------------------------------------------------------------------------------------------------------
# Not evaluated (4.4.1)


def test_missing_target_gives_ne():
    base = [T("T1", 30, organ="liver"), T("T2", 20, organ="lung"), T("T3", 20, organ="bone")]
    res = evaluate(base, [T("T1", 20), T("T2", 10)])  # T3 not reported
    tp = res.time_points[0]
    assert tp.target_response is Response.NE and tp.overall_response is Response.NE
    assert tp.sum_mm is None and tp.measured_sum_mm == 30.0
    assert res.best_overall_response is Response.NE


def test_measured_lesions_alone_can_give_pd_despite_a_missing_one():
    # The paper's example (4.4.1): baseline sum 50 mm with three lesions, only two assessed, summing 80 mm:
    # PD whatever the missing lesion measures.
    base = [T("T1", 20, organ="liver"), T("T2", 15, organ="lung"), T("T3", 15, organ="adrenal")]
    res = evaluate(base, [T("T1", 45), T("T2", 35), T("T3", "not_evaluated")])
    tp = res.time_points[0]
    assert tp.target_response is Response.PD and tp.overall_response is Response.PD
    assert res.best_overall_response is Response.PD


def test_ne_target_with_new_lesion_is_pd():
    base = [T("T1", 30, organ="liver"), T("T2", 20, organ="lung")]
    res = evaluate(base, [T("T1", 20), T("T2", "not_evaluated"), NEW("X1")])
    assert res.time_points[0].overall_response is Response.PD


# ---------------------------------------------------------------------------------------------------------------
# Non-target lesions and new lesions (4.3.3), Table 1 and Table 2


@pytest.mark.parametrize(
    ("targets", "non_target_status", "expected_target", "expected_non_target", "expected_overall"),
    [
        # Table 1 rows: target, non-target, no new lesion -> overall
        ("CR", "absent", Response.CR, Response.CR, Response.CR),
        ("CR", "present", Response.CR, Response.NON_CR_NON_PD, Response.PR),
        ("CR", "not_evaluated", Response.CR, Response.NE, Response.PR),
        ("PR", "present", Response.PR, Response.NON_CR_NON_PD, Response.PR),
        ("PR", "not_evaluated", Response.PR, Response.NE, Response.PR),
        ("SD", "present", Response.SD, Response.NON_CR_NON_PD, Response.SD),
        ("SD", "not_evaluated", Response.SD, Response.NE, Response.SD),
        ("NE", "present", Response.NE, Response.NON_CR_NON_PD, Response.NE),
        ("PD", "present", Response.PD, Response.NON_CR_NON_PD, Response.PD),
        ("CR", "unequivocal_progression", Response.CR, Response.PD, Response.PD),
        ("PR", "unequivocal_progression", Response.PR, Response.PD, Response.PD),
    ],
)
def test_table_1(targets, non_target_status, expected_target, expected_non_target, expected_overall):
    # Baseline target 40 mm. CR: absent; PR: 20 mm (-50 %); SD: 36 mm (-10 %); NE: not evaluated; PD: 50 mm.
    reading = {"CR": "absent", "PR": 20, "SD": 36, "NE": "not_evaluated", "PD": 50}[targets]
    base = [T("T1", 40, organ="liver"), NT("B1", organ="bone")]
    res = evaluate(base, [T("T1", reading), NT("B1", non_target_status)])
    tp = res.time_points[0]
    assert (tp.target_response, tp.non_target_response, tp.overall_response) == (
        expected_target,
        expected_non_target,
        expected_overall,
    )


@pytest.mark.parametrize("targets", ["CR", "PR", "SD", "NE"])
def test_table_1_any_unequivocal_new_lesion_is_pd(targets):
    reading = {"CR": "absent", "PR": 20, "SD": 36, "NE": "not_evaluated"}[targets]
    res = evaluate([T("T1", 40, organ="liver")], [T("T1", reading), NEW("X1")])
    tp = res.time_points[0]
    assert tp.new_lesions is NewLesionFinding.UNEQUIVOCAL and tp.overall_response is Response.PD


def test_no_non_target_at_baseline_target_cr_is_overall_cr():
    res = evaluate([T("T1", 40, organ="liver")], [T("T1", "absent")])
    tp = res.time_points[0]
    assert tp.non_target_response is Response.NOT_APPLICABLE and tp.overall_response is Response.CR


@pytest.mark.parametrize(
    ("statuses", "new", "expected"),
    [
        # Table 2 (non-target disease only)
        (["absent", "absent"], None, Response.CR),
        (["present", "absent"], None, Response.NON_CR_NON_PD),
        (["present", "not_evaluated"], None, Response.NE),
        (["not_evaluated", "unequivocal_progression"], None, Response.PD),
        (["absent", "absent"], "unequivocal", Response.PD),
        (["absent", "absent"], "equivocal", Response.CR),
    ],
)
def test_table_2_non_target_disease_only(statuses, new, expected):
    base = [NT("B1", organ="bone"), NT("P1", organ="pleura")]
    follow = [NT("B1", statuses[0]), NT("P1", statuses[1])] + ([NEW("X1", new)] if new else [])
    res = evaluate(base, follow)
    tp = res.time_points[0]
    assert tp.target_response is Response.NOT_APPLICABLE and tp.sum_mm is None
    assert tp.overall_response is expected


def test_equivocal_new_lesion_is_not_pd_until_confirmed_then_pd_dates_from_first_sighting():
    # 4.3.2: "If repeat scans confirm there is definitely a new lesion, then progression should be declared
    # using the date of the initial scan."
    base = [T("T1", 40, organ="liver")]
    res = evaluate(base, [T("T1", 36)], [T("T1", 36), NEW("X1", "equivocal")], [T("T1", 36), NEW("X1")])
    assert overall(res) == [Response.SD, Response.SD, Response.PD]
    assert res.time_points[1].new_lesions is NewLesionFinding.EQUIVOCAL
    assert res.first_pd_date == RANDOMIZED + dt.timedelta(days=84)


def test_disease_reappearing_after_cr_is_pd():
    # Note to Table 3: after a true CR, any disease seen again makes PD, even if it meets PR against baseline.
    # Liver gone and node 8 mm (CR, sum 8); then node 11 mm: +3 mm only (no sum PD), 11/50 = PR by the sum,
    # but the node is pathological again after CR -> PD.
    base = [T("T1", 30, organ="liver"), T("N1", 20, organ="axilla", nodal=True)]
    res = evaluate(base, [T("T1", "absent"), T("N1", 8)], [T("T1", "absent"), T("N1", 11)])
    assert [tp.target_response for tp in res.time_points] == [Response.CR, Response.PR]
    assert overall(res) == [Response.CR, Response.PD]
    assert res.best_overall_response is Response.CR
    assert res.first_pd_date == RANDOMIZED + dt.timedelta(days=84)


def test_non_target_reappearing_after_cr_is_pd():
    base = [T("T1", 30, organ="liver"), NT("B1", organ="bone")]
    res = evaluate(base, [T("T1", "absent"), NT("B1", "absent")], [T("T1", "absent"), NT("B1", "present")])
    assert overall(res) == [Response.CR, Response.PD]


# ---------------------------------------------------------------------------------------------------------------
# Best overall response without confirmation (4.4)

# Baseline 40 mm. PR = 28 mm (-30 %). SD = 32 mm (-20 %): not PD even after a PR (+4 mm, +14 % over a 28 mm
# nadir). CR = absent. PD = a new lesion.
READING = {"SD": [T("T1", 32)], "PR": [T("T1", 28)], "CR": [T("T1", "absent")], "NE": [T("T1", "not_evaluated")],
           "PD": [T("T1", 32), NEW("X1")]}  # fmt: skip


def bor(sequence, days=None, spec=None):
    return evaluate([T("T1", 40, organ="liver")], *[READING[s] for s in sequence], days=days, spec=spec)


@pytest.mark.parametrize(
    ("sequence", "expected"),
    [
        (["SD", "PR", "SD", "CR"], Response.CR),
        (["PR", "CR", "NE"], Response.CR),
        (["SD", "PR", "SD"], Response.PR),
        (["PR", "SD", "PD"], Response.PR),
        (["SD", "SD", "PD"], Response.SD),
        (["PD", "PR", "CR"], Response.PD),  # nothing after the first PD counts
        (["NE", "NE"], Response.NE),
        (["NE", "PD"], Response.PD),
    ],
)
def test_best_overall_response_sequences(sequence, expected):
    res = bor(sequence)
    assert overall(res) == [Response[s] for s in sequence]
    assert res.best_overall_response is expected


def test_sd_counts_only_from_the_minimum_interval():
    # min_sd_interval_days = 42 (protocol setting). SD on day 41 then PD -> BOR PD; SD on day 42 -> BOR SD.
    early = bor(["SD", "PD"], days=[41, 84])
    assert early.best_overall_response is Response.PD
    assert early.best_overall_response_date == RANDOMIZED + dt.timedelta(days=84)
    on_time = bor(["SD", "PD"], days=[42, 84])
    assert on_time.best_overall_response is Response.SD
    # SD too early and nothing else evaluable -> NE.
    assert bor(["SD", "NE"], days=[30, 80]).best_overall_response is Response.NE


def test_min_sd_interval_comes_from_the_spec():
    res = bor(["SD", "PD"], days=[50, 90], spec=RecistSpec(min_sd_interval_days=56))
    assert res.best_overall_response is Response.PD
    assert res.min_sd_interval_days == 56


def test_early_pr_needs_no_interval():
    assert bor(["PR", "PD"], days=[20, 60]).best_overall_response is Response.PR


def test_non_target_only_bor_is_non_cr_non_pd_after_the_interval():
    res = evaluate([NT("B1", organ="bone")], [NT("B1", "present")], [NT("B1", "unequivocal_progression")])
    assert overall(res) == [Response.NON_CR_NON_PD, Response.PD]
    assert res.best_overall_response is Response.NON_CR_NON_PD
    assert res.first_pd_date == RANDOMIZED + dt.timedelta(days=84)


def test_pr_then_pd_example_end_to_end():
    # docs/recist/pr_then_pd.json in miniature: baseline 30 + 25 + 18 (node) = 73 mm.
    # Week 6: 20 + 15 + 12 = 47 mm (-35.6 %) PR. Week 12: 15 + 12 + 9 = 36 mm (-50.7 %) PR, nadir.
    # Week 18: 22 + 14 + 9 = 45 mm, +9 mm and +25 % over 36 -> PD.
    base = [T("T1", 30, organ="liver"), T("T2", 25, organ="lung"), T("N1", 18, organ="axilla", nodal=True)]
    res = evaluate(
        base,
        [T("T1", 20), T("T2", 15), T("N1", 12)],
        [T("T1", 15), T("T2", 12), T("N1", 9)],
        [T("T1", 22), T("T2", 14), T("N1", 9)],
    )
    assert res.baseline_sum_mm == 73.0
    assert [tp.sum_mm for tp in res.time_points] == [47.0, 36.0, 45.0]
    assert overall(res) == [Response.PR, Response.PR, Response.PD]
    assert res.time_points[2].change_from_nadir_pct == pytest.approx(25.0)
    assert res.best_overall_response is Response.PR
    assert res.first_pd_date == RANDOMIZED + dt.timedelta(days=126)


def test_visit_window_moves_the_sd_threshold():
    # 42-day interval with a 7-day visit window: SD counts from day 35 (an early first scan), not on day 34.
    spec = RecistSpec(min_sd_interval_days=42, min_sd_window_days=7)
    assert bor(["SD", "PD"], days=[35, 84], spec=spec).best_overall_response is Response.SD
    assert bor(["SD", "PD"], days=[34, 84], spec=spec).best_overall_response is Response.PD
