"""The vocabulary of an adverse event report: ICH E2A seriousness criteria, causality per study drug and the
CDISC action-taken and outcome codes.

They live in the domain so that the command a site fills in (:class:`trialdesk.services.commands.RecordAdverseEvent`),
the use case that stores it and the form that offers the choices all name the same values.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["SAE_REPORT_HOURS", "ActionTaken", "Outcome", "Relationship", "Seriousness"]

#: ICH E2A: a serious adverse event must be reported to the sponsor within 24 hours of the site learning of it.
SAE_REPORT_HOURS = 24


class Seriousness(StrEnum):
    """ICH E2A seriousness criteria."""

    DEATH = "death"
    LIFE_THREATENING = "life_threatening"
    HOSPITALISATION = "hospitalisation"
    DISABILITY = "disability"
    CONGENITAL_ANOMALY = "congenital_anomaly"
    MEDICALLY_IMPORTANT = "medically_important"


class Relationship(StrEnum):
    """Causality to one study drug (WHO-UMC-like scale)."""

    NOT_RELATED = "not_related"
    UNLIKELY = "unlikely"
    POSSIBLE = "possible"
    PROBABLE = "probable"
    DEFINITE = "definite"


class ActionTaken(StrEnum):
    """Action taken with study treatment (CDISC AEACN)."""

    DOSE_NOT_CHANGED = "dose_not_changed"
    DOSE_REDUCED = "dose_reduced"
    DRUG_INTERRUPTED = "drug_interrupted"
    DRUG_WITHDRAWN = "drug_withdrawn"
    NOT_APPLICABLE = "not_applicable"
    UNKNOWN = "unknown"


class Outcome(StrEnum):
    """Outcome of the event (CDISC AEOUT)."""

    RECOVERED = "recovered"
    RECOVERING = "recovering"
    NOT_RECOVERED = "not_recovered"
    RECOVERED_WITH_SEQUELAE = "recovered_with_sequelae"
    FATAL = "fatal"
    UNKNOWN = "unknown"
