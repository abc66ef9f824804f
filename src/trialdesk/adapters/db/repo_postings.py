"""Results posting storage, part of ``uow.analysis``: the sponsor's approvals, the posting versions and the
recorded trial decisions (tables of migration ``0008_result_postings``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.repo_base import SqlRepository
from trialdesk.domain.records import ResultPosting, ResultsApproval, TrialDecision


class PostingsRepository(SqlRepository):
    def add_approval(self, **fields: Any) -> ResultsApproval:
        return self._insert(ResultsApproval(**fields))

    def approval_for_run(self, trial_id: int, run_id: int) -> ResultsApproval | None:
        """The latest approval of this run, if any."""
        c = t.results_approvals.c
        return self._one(
            select(ResultsApproval).where(c.trial_id == trial_id, c.run_id == run_id).order_by(c.id.desc()).limit(1)
        )

    def approvals(self, trial_id: int) -> list[ResultsApproval]:
        c = t.results_approvals.c
        return list(
            self.session.execute(select(ResultsApproval).where(c.trial_id == trial_id).order_by(c.id)).scalars()
        )

    def add_posting(self, **fields: Any) -> ResultPosting:
        return self._insert(ResultPosting(**fields))

    def postings(self, trial_id: int) -> list[ResultPosting]:
        """Every posting of the trial, version 1 first."""
        c = t.result_postings.c
        return list(
            self.session.execute(select(ResultPosting).where(c.trial_id == trial_id).order_by(c.version)).scalars()
        )

    def add_decision(self, **fields: Any) -> TrialDecision:
        return self._insert(TrialDecision(**fields))

    def decisions(self, trial_id: int) -> list[TrialDecision]:
        c = t.trial_decisions.c
        return list(self.session.execute(select(TrialDecision).where(c.trial_id == trial_id).order_by(c.id)).scalars())
