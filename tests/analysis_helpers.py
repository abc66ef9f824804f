"""Test-only filler: write simulated captured data straight into the operations tables (bulk inserts).

The end-to-end analysis tests need hundreds of Subjects with years of follow-up; going through the capture
services row by row would take minutes, so this writes the same columns those services write. The demo
driver (services/demo.py) is the through-the-services path.
"""

from __future__ import annotations

import json

from sqlalchemy import insert, select

from trialdesk.adapters.db.tables import (
    AdverseEventRow,
    AllocationRow,
    DispositionRow,
    DoseRow,
    ScreeningRow,
    SubjectRow,
    TrialRow,
    TumorAssessmentRow,
)
from trialdesk.domain.datasets import CapturedData

NCT = "NCT07003074"
TS = "2025-01-01T00:00:00+00:00"


def fill_database(td, data: CapturedData, nct: str = NCT) -> int:
    """Insert every record of ``data``; returns the number of Subjects."""
    with td.session_factory() as s:
        trial_id = s.execute(select(TrialRow.id).where(TrialRow.nct_id == nct)).scalar_one()
        s.execute(
            insert(SubjectRow),
            [
                {
                    "trial_id": trial_id,
                    "site_key": x.site,
                    "subject_number": x.subject_number,
                    "patient_ref": f"P-{x.subject_number}",
                    "status": "randomized" if x.arm else "screen_failed",
                    "birth_date": x.birth_date.isoformat() if x.birth_date else None,
                    "sex": x.sex,
                    "created_at": TS,
                }
                for x in data.subjects
            ],
        )
        ids = dict(
            s.execute(select(SubjectRow.subject_number, SubjectRow.id).where(SubjectRow.trial_id == trial_id)).all()
        )
        by_number = {x.subject_number: x for x in data.subjects}
        s.execute(
            insert(ScreeningRow),
            [
                {
                    "trial_id": trial_id,
                    "subject_id": ids[x.subject_number],
                    "site_key": by_number[x.subject_number].site,
                    "screening_number": f"SCR-{k:05d}",
                    "screened_on": x.screened_on.isoformat(),
                    "verdict": x.verdict,
                    "record_json": json.dumps({"ecog": by_number[x.subject_number].ecog}),
                    "results_json": "{}",
                    "failed_criteria": ",".join(x.failed_criteria),
                    "protocol_digest": "0" * 64,
                    "created_at": TS,
                    "created_by": "filler",
                }
                for k, x in enumerate(data.screenings)
            ],
        )
        s.execute(
            insert(AllocationRow),
            [
                {
                    "trial_id": trial_id,
                    "subject_id": ids[x.subject_number],
                    "site_key": x.site,
                    "stratum": "|".join(f"{k}={v}" for k, v in sorted(x.stratum.items())),
                    "randomization_number": f"R-{k:04d}",
                    "arm": x.arm,
                    "randomized_on": x.randomized_on.isoformat(),
                    "allocated_at": TS,
                    "allocated_by": "filler",
                    "in_error": x.in_error,
                }
                for k, x in enumerate(v for v in data.subjects if v.arm)
            ],
        )
        if data.assessments:
            s.execute(
                insert(TumorAssessmentRow),
                [
                    {
                        "subject_id": ids[a.subject_number],
                        "assessment_date": a.date.isoformat(),
                        "baseline": a.baseline,
                        "lesions_json": "{}",
                        "overall_response": a.response,
                        "entered_at": TS,
                        "entered_by": "filler",
                    }
                    for a in data.assessments
                ],
            )
        if data.dispositions:
            s.execute(
                insert(DispositionRow),
                [
                    {
                        "subject_id": ids[d.subject_number],
                        "kind": d.kind,
                        "event_date": d.date.isoformat(),
                        "reason": d.reason,
                        "entered_at": TS,
                        "entered_by": "filler",
                    }
                    for d in data.dispositions
                ],
            )
        if data.doses:
            s.execute(
                insert(DoseRow),
                [
                    {
                        "subject_id": ids[d.subject_number],
                        "cycle": d.cycle,
                        "drug": d.drug,
                        "dose_date": d.date.isoformat(),
                        "planned_mg": d.planned_mg,
                        "actual_mg": d.actual_mg,
                        "entered_at": TS,
                        "entered_by": "filler",
                    }
                    for d in data.doses
                ],
            )
        if data.adverse_events:
            s.execute(
                insert(AdverseEventRow),
                [
                    {
                        "subject_id": ids[a.subject_number],
                        "term": a.term,
                        "meddra_code": 10000000 + k,
                        "soc": a.soc,
                        "grade": a.grade,
                        "onset_date": a.onset.isoformat(),
                        "serious": a.serious,
                        "action_taken": a.action_taken,
                        "entered_at": TS,
                        "entered_by": "filler",
                    }
                    for k, a in enumerate(data.adverse_events)
                ],
            )
        s.commit()
    return len(data.subjects)
