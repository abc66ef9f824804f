"""Placeholder: the owner of this module replaces it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from trialdesk.domain.assumptions import AssumptionMap


class EligibilitySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assumptions: AssumptionMap = Field(default_factory=dict)
