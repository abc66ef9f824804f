"""The reason in words of each RECIST 1.1 time-point response (``TimePointResult.reason``).

Expected texts follow the definitions of Eisenhauer EA et al., Eur J Cancer 2009;45:228-247, section 4.3.1
(CR: all targets gone, nodes < 10 mm; PR: >= 30 % decrease of the sum from baseline; PD: >= 20 % increase from the
nadir *and* >= 5 mm absolute increase; SD: neither), 4.3.2 (new lesions), 4.3.3 (non-target lesions) and Table 1.
Every sum and percentage below is worked out by hand in the comments.
"""

from __future__ import annotations

import datetime as dt

import pytest

from trialdesk.domain.recist import evaluate_subject
from trialdesk.domain.recist_models import Response, SubjectTumorAssessments

RANDOMIZED = dt.date(2025, 7, 1)
M = "\u2212"  # minus sign


def T(lesion_id: str, mm: object, organ: str | None = None) -> dict[str, object]:
    return {"kind": "target", "lesion_id": lesion_id, "measurement": mm, **({"organ": organ} if organ else {})}


def NT(lesion_id: str, status: str = "present", organ: str | None = None) -> dict[str, object]:
    return {"kind": "non_target", "lesion_id": lesion_id, "status": status, **({"organ": organ} if organ else {})}


def NEW(lesion_id: str, status: str = "unequivocal") -> dict[str, object]:
    return {"kind": "new", "lesion_id": lesion_id, "organ": "brain", "status": status}


def reasons(baseline: list[dict[str, object]], *follow_ups: list[dict[str, object]]) -> list[tuple[Response, str]]:
    subject = SubjectTumorAssessments.model_validate(
        {
            "subject_id": "S-001",
            "randomization_date": RANDOMIZED.isoformat(),
            "baseline": {"date": "2025-06-24", "lesions": baseline},
            "follow_ups": [
                {"date": (RANDOMIZED + dt.timedelta(days=42 * (i + 1))).isoformat(), "lesions": lesions}
                for i, lesions in enumerate(follow_ups)
            ],
        }
    )
    return [(p.overall_response, p.reason) for p in evaluate_subject(subject).time_points]


# Baseline: targets 30 + 20 = 50 mm, one non-target.
BASE = [T("T1", 30, "liver"), T("T2", 20, "lung"), NT("NT1", organ="bone")]


def test_pr_at_exactly_30_percent_below_baseline() -> None:
    # 20 + 15 = 35 mm = 50 - 30 %: PR (4.3.1 "at least a 30 % decrease").
    [(response, reason)] = reasons(BASE, [T("T1", 20), T("T2", 15), NT("NT1")])
    assert response is Response.PR
    assert reason == f"PR: sum {M}30.0 % from baseline (≤{M}30 %)"


def test_sd_just_short_of_pr() -> None:
    # 21 + 15 = 36 mm: -28 % from baseline, nadir is the baseline 50 -> -28 % (-14 mm): SD.
    [(response, reason)] = reasons(BASE, [T("T1", 21), T("T2", 15), NT("NT1")])
    assert response is Response.SD
    assert reason.startswith(f"SD: sum {M}28.0 % from baseline, {M}28.0 % ({M}14 mm) from nadir")


def test_pd_at_20_percent_and_5_mm_above_nadir() -> None:
    # nadir 35 mm (PR), then 25 + 17 = 42 mm: +7 mm = +20 % over the nadir: PD.
    points = reasons(BASE, [T("T1", 20), T("T2", 15), NT("NT1")], [T("T1", 25), T("T2", 17), NT("NT1")])
    assert points[1] == (Response.PD, "PD: sum +20.0 % (+7 mm) from nadir (≥20 % and ≥5 mm)")


def test_20_percent_without_5_mm_is_not_pd() -> None:
    # Baseline 12 + 10 = 22 mm; 15 + 11.4 = 26.4 mm is +20 % but only +4.4 mm: SD (the 5 mm rule).
    base = [T("T1", 12, "liver"), T("T2", 10, "lung")]
    [(response, reason)] = reasons(base, [T("T1", 15), T("T2", 11.4)])
    assert response is Response.SD
    assert "+20.0 % (+4.4 mm) from nadir: neither PR" in reason


def test_5_mm_without_20_percent_is_not_pd() -> None:
    # 36 + 23 = 59 mm: +9 mm but +18 % over 50 mm: SD.
    [(response, reason)] = reasons(BASE, [T("T1", 36), T("T2", 23), NT("NT1")])
    assert response is Response.SD
    assert "+18.0 % (+9 mm) from nadir" in reason


def test_new_lesion_is_pd_whatever_the_sum() -> None:
    # Sum 40 mm (SD) but an unequivocal new lesion: PD (4.3.2).
    [(response, reason)] = reasons(BASE, [T("T1", 25), T("T2", 15), NT("NT1"), NEW("N1")])
    assert (response, reason) == (Response.PD, "PD: new lesion N1")


def test_unequivocal_non_target_progression() -> None:
    [(response, reason)] = reasons(BASE, [T("T1", 25), T("T2", 15), NT("NT1", "unequivocal_progression")])
    assert (response, reason) == (Response.PD, "PD: unequivocal non-target progression of NT1")


def test_several_pd_reasons_are_all_named() -> None:
    # 40 + 25 = 65 mm: +30 % (+15 mm) over 50, and a new lesion.
    [(_, reason)] = reasons(BASE, [T("T1", 40), T("T2", 25), NT("NT1"), NEW("N1")])
    assert reason == "PD: new lesion N1; sum +30.0 % (+15 mm) from nadir (≥20 % and ≥5 mm)"


def test_cr_and_target_cr_with_persisting_non_target() -> None:
    [(cr, cr_reason)] = reasons(BASE, [T("T1", "absent"), T("T2", "absent"), NT("NT1", "absent")])
    assert cr is Response.CR and cr_reason.startswith("CR: all target lesions gone")
    assert "all non-target lesions absent" in cr_reason
    # Table 1: target CR + non-target non-CR/non-PD = PR.
    [(pr, pr_reason)] = reasons(BASE, [T("T1", "absent"), T("T2", "absent"), NT("NT1")])
    assert (pr, pr_reason) == (Response.PR, "PR: target lesions gone but non-target disease persists")


def test_not_evaluated_target_is_ne_unless_pd_already() -> None:
    [(ne, ne_reason)] = reasons(BASE, [T("T1", 25), T("T2", "not_evaluated"), NT("NT1")])
    assert (ne, ne_reason) == (Response.NE, "NE: target T2 not evaluated")
    # 4.4.1: T1 alone at 80 mm is +30 mm over the 50 mm nadir: PD whatever T2 measures.
    [(pd, pd_reason)] = reasons(BASE, [T("T1", 80), T("T2", "not_evaluated"), NT("NT1")])
    assert pd is Response.PD
    assert pd_reason == (
        "PD: sum of the evaluated targets +60.0 % (+30 mm) from nadir (≥20 % and ≥5 mm), although T2 not evaluated"
    )


def test_equivocal_new_lesion_is_named_but_not_pd() -> None:
    [(response, reason)] = reasons(BASE, [T("T1", 25), T("T2", 15), NT("NT1"), NEW("N1", "equivocal")])
    assert response is Response.SD and reason.endswith("; equivocal new lesion N1 (not PD unless confirmed)")


def test_disease_back_after_cr() -> None:
    points = reasons(
        BASE,
        [T("T1", "absent"), T("T2", "absent"), NT("NT1", "absent")],
        [T("T1", "absent"), T("T2", "absent"), NT("NT1", "present")],
    )
    assert points[1] == (Response.PD, "PD: disease seen again after the overall CR of 2025-08-12")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("present", "non-CR/non-PD: non-target disease persists, no progression"),
        ("absent", "CR: all non-target lesions absent"),
        ("not_evaluated", "NE: non-target NT1 not evaluated"),
    ],
)
def test_non_target_disease_only(status: str, expected: str) -> None:
    # Table 2: no target lesion at baseline.
    [(_, reason)] = reasons([NT("NT1", organ="bone")], [NT("NT1", status)])
    assert reason == expected
