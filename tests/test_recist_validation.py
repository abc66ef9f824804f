"""Bad RECIST input: baseline selection rules (RECIST 1.1, 3.2-3.3) and malformed records give clear errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from trialdesk.domain.errors import InvalidInput
from trialdesk.domain.recist import RecistInputError, RecistSpec, evaluate_subject
from trialdesk.domain.recist_models import SubjectTumorAssessments


def subject(baseline, follow_ups=(), randomization="2025-07-01"):
    return SubjectTumorAssessments.model_validate(
        {
            "subject_id": "S-009",
            "randomization_date": randomization,
            "baseline": {"date": "2025-06-24", "lesions": list(baseline)},
            "follow_ups": list(follow_ups),
        }
    )


def target(lesion_id, mm, organ="liver", nodal=False):
    return {"kind": "target", "lesion_id": lesion_id, "organ": organ, "nodal": nodal, "measurement": mm}


def problems_of(data) -> list[str]:
    with pytest.raises(RecistInputError) as info:
        evaluate_subject(data)
    assert isinstance(info.value, InvalidInput)
    assert "S-009" in str(info.value)
    return [str(p) for p in info.value.problems]


def test_a_valid_baseline_passes():
    ok = subject([target("T1", 10), target("N1", 15, "neck", nodal=True)])
    assert evaluate_subject(ok).baseline_sum_mm == 25.0


def test_more_than_five_targets_is_refused():
    organs = ["liver", "lung", "bone", "adrenal", "spleen", "skin"]
    [message] = problems_of(subject([target(f"T{i}", 20, organ) for i, organ in enumerate(organs, 1)]))
    assert "6 target lesions" in message and "at most 5" in message


def test_more_than_two_targets_in_one_organ_is_refused_naming_them():
    [message] = problems_of(subject([target("T1", 20), target("T2", 20, "Liver "), target("T3", 20)]))
    assert "3 target lesions in 'liver' (T1, T2, T3)" in message and "at most 2 per organ" in message


def test_lymph_nodes_count_as_one_organ():
    nodes = [target("N1", 20, "neck", True), target("N2", 20, "axilla", True), target("N3", 20, "groin", True)]
    [message] = problems_of(subject(nodes))
    assert "lymph nodes" in message and "N1, N2, N3" in message


def test_the_limits_are_protocol_settings():
    three = subject([target("T1", 20), target("T2", 20), target("T3", 20)])
    assert evaluate_subject(three, RecistSpec(max_targets_per_organ=3)).baseline_sum_mm == 60.0


@pytest.mark.parametrize(
    ("lesion", "fragment"),
    [
        (target("T1", 9.9), "longest diameter >= 10 mm, got 9.9 mm"),
        (target("N1", 14.9, "neck", True), "short axis >= 15 mm, got 14.9 mm (a node of this size is non-target)"),
        (target("N1", 9, "neck", True), "not pathological"),
        (target("T1", "too_small"), "needs a measurement in mm at baseline"),
        ({"kind": "new", "lesion_id": "X1", "organ": "brain"}, "cannot be 'new' at baseline"),
        ({"kind": "non_target", "lesion_id": "B1", "organ": "bone", "status": "absent"}, "must be 'present'"),
        ({"kind": "non_target", "lesion_id": "B1", "status": "present"}, "organ is required"),
    ],
)
def test_baseline_lesion_problems_name_the_lesion_and_the_rule(lesion, fragment):
    [message] = problems_of(subject([lesion]))
    assert repr(lesion["lesion_id"]) in message and fragment in message
    assert message.startswith("baseline.lesions[0]")


def test_no_baseline_lesion_is_refused():
    [message] = problems_of(subject([]))
    assert "no lesion recorded" in message


@pytest.mark.parametrize(
    ("follow_up_lesion", "fragment"),
    [
        ({"kind": "target", "lesion_id": "T9", "measurement": 10}, "not a baseline target lesion"),
        ({"kind": "non_target", "lesion_id": "T1", "status": "present"}, "not a baseline non-target lesion"),
        ({"kind": "new", "lesion_id": "T1"}, "recorded as new but it is a baseline lesion"),
        ({"kind": "target", "lesion_id": "T1", "merged_into": "T7"}, "merged_into 'T7' is not a target lesion"),
        ({"kind": "target", "lesion_id": "T1", "nodal": True, "measurement": 10}, "contradicts the baseline"),
    ],
)
def test_follow_up_problems(follow_up_lesion, fragment):
    data = subject([target("T1", 20)], [{"date": "2025-08-12", "lesions": [follow_up_lesion]}])
    [message] = problems_of(data)
    assert message.startswith("follow_ups[0].lesions[0]") and fragment in message


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        ({"kind": "target", "lesion_id": "T1"}, "exactly one of measurement, fragments_mm, merged_into"),
        ({"kind": "target", "lesion_id": "T1", "measurement": 5, "merged_into": "T2"}, "exactly one of"),
        ({"kind": "target", "lesion_id": "T1", "measurement": -1}, "greater than or equal to 0"),
        ({"kind": "target", "lesion_id": "T1", "measurement": "tiny"}, "too_small"),
        ({"kind": "target", "lesion_id": "T1", "fragments_mm": [12]}, "at least 2 items"),
        ({"kind": "target", "lesion_id": "T1", "merged_into": "T1"}, "names the lesion itself"),
        ({"kind": "tumour", "lesion_id": "T1"}, "'target', 'non_target', 'new'"),
        ({"kind": "non_target", "lesion_id": "B1", "status": "gone"}, "'present'"),
        ({"kind": "target", "lesion_id": "T1", "measurement": 12, "colour": "red"}, "Extra inputs"),
    ],
)
def test_malformed_records_are_refused_by_the_schema(record, fragment):
    with pytest.raises(ValidationError) as info:
        subject([target("T1", 20)], [{"date": "2025-08-12", "lesions": [record]}])
    assert fragment in str(info.value)
    assert "follow_ups.0.lesions.0" in str(info.value)


def test_impossible_date_is_refused():
    with pytest.raises(ValidationError) as info:
        subject([target("T1", 20)], [{"date": "2025-02-30", "lesions": []}], randomization="2025-01-01")
    text = str(info.value)
    assert "follow_ups.0.date" in text and "day value is outside expected range" in text


def test_follow_ups_must_be_in_order_and_after_randomization():
    with pytest.raises(ValidationError, match=r"follow_ups\[1\]\.date 2025-08-01 is not after"):
        subject([target("T1", 20)], [{"date": "2025-08-12", "lesions": []}, {"date": "2025-08-01", "lesions": []}])
    with pytest.raises(ValidationError, match="not after the randomization date 2025-07-01"):
        subject([target("T1", 20)], [{"date": "2025-06-30", "lesions": []}])


def test_duplicate_lesion_ids_are_refused():
    with pytest.raises(ValidationError, match="lesion_id 'T1' appears twice"):
        subject([target("T1", 20), target("T1", 30, "lung")])


def test_all_problems_are_reported_together():
    data = subject(
        [target("T1", 8), target("N1", 12, "neck", True)],
        [{"date": "2025-08-12", "lesions": [{"kind": "target", "lesion_id": "T5", "measurement": 3}]}],
    )
    assert len(problems_of(data)) == 3
