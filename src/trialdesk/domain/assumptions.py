"""Explicit, documented assumptions.

Whatever the registry record leaves unsaid (a dose, a threshold, a schedule) is written in the protocol file
as a value *plus* an :class:`Assumption` that says where it comes from. Each operational section of the
protocol carries an ``assumptions`` mapping from the name (or dotted path) of the field it justifies to the
assumption, so that a reviewer can list every number the trial runs on that the registry did not publish.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Assumption(BaseModel):
    """Why a value that the registry record does not state was chosen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="Citation: guideline, label, paper, sister trial or 'usual practice'.")
    rationale: str | None = Field(default=None, description="Why this value, in a sentence.")


AssumptionMap = dict[str, Assumption]
