"""Risk-based monitoring (ICH E6(R3), issue 15): source-data verification states, protocol-deviation categories and
key risk indicators (KRIs) per site.

Pure: the services gather the counts and the records; this module decides.

- **SDV.** A monitor's mark pins the *version* of the record it verified: :func:`record_version`, a SHA-256 of the
  record's canonical content. A record whose current version differs from its active mark's is
  ``changed`` since verification (:func:`sdv_state`); only ``verified`` records count towards coverage.
- **Deviations.** Categories after ICH E3 (section 10.2, "important protocol deviations") and TransCelerate's
  protocol-deviation categories: :data:`DEVIATION_CATEGORIES`. An *important* deviation is one that may
  significantly affect the completeness, accuracy or reliability of the data or a subject's rights, safety or
  well-being (ICH E3 10.2; ICH E6(R3) glossary).
- **KRIs.** Per site, rates normalised by exposure, each compared with the trial-wide rate (the ratio) and flagged
  when the ratio lies outside ``[ratio_low, ratio_high]`` and the site's denominator reaches the minimum
  (:class:`MonitoringSpec`, from the protocol's ``operations.monitoring``): :func:`site_kris`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from trialdesk.domain.assumptions import AssumptionMap

#: Protocol-deviation categories (ICH E3 10.2 examples; TransCelerate deviation categories), as codes.
DEVIATION_CATEGORIES = (
    "eligibility",
    "informed_consent",
    "ip_administration",
    "visit_schedule",
    "assessment_missed",
    "safety_reporting",
    "other",
)
DEVIATION_STATUSES = ("open", "closed")
#: The records a monitor verifies against source, by the entity type the audit trail and the queries use.
SDV_ENTITY_TYPES = ("subject", "screening", "randomization", "dose", "adverse_event", "tumor_assessment", "disposition")
SDV_STATES = ("verified", "changed", "unverified")


def record_version(content: Mapping[str, Any]) -> str:
    """The version of a record: SHA-256 of its content as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sdv_state(current_version: str | None, marked_version: str | None) -> str:
    """``verified`` (an active mark of the current version), ``changed`` (an active mark of an older version: the
    record was edited after it was verified) or ``unverified`` (no active mark)."""
    if marked_version is None:
        return "unverified"
    return "verified" if marked_version == current_version else "changed"


class MonitoringSpec(BaseModel):
    """``operations.monitoring``: the KRI thresholds (defaults when the protocol has none)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: a site's rate above ``ratio_high`` x the trial's rate is flagged "high"
    ratio_high: float = Field(default=2.0, gt=1)
    #: below ``ratio_low`` x the trial's rate, "low" (for AEs, under-reporting)
    ratio_low: float = Field(default=0.5, gt=0, lt=1)
    #: the least randomized subjects a site needs before its per-subject rates are judged
    min_subjects: int = Field(default=3, ge=1)
    #: the least dosed subject-cycles before the AE rate is judged
    min_subject_cycles: int = Field(default=6, ge=1)
    #: the least captured records before SDV coverage is judged
    min_records: int = Field(default=10, ge=1)
    assumptions: AssumptionMap = Field(default_factory=dict)


@dataclass(frozen=True)
class SiteExposure:
    """What one site has captured: the numerators and the exposure the KRIs divide by."""

    subjects: int = 0  # randomized (the dashboard's count)
    subject_cycles: int = 0  # distinct (subject, cycle) with a dose
    records: int = 0  # records subject to SDV
    verified: int = 0  # of which verified at their current version
    open_queries: int = 0  # open or answered (the dashboard's count)
    adverse_events: int = 0
    deviations: int = 0
    overdue_visits: int = 0  # the dashboard's count

    def __add__(self, other: SiteExposure) -> SiteExposure:
        return SiteExposure(**{k: getattr(self, k) + getattr(other, k) for k in self.__dataclass_fields__})


@dataclass(frozen=True)
class KriDef:
    key: str
    numerator: str
    denominator: str
    #: the spec's minimum-denominator field
    minimum: str
    #: which side of the trial's rate is a risk: few open queries or overdue visits are no risk, few AEs or
    #: deviations may be under-reporting, low SDV coverage is one and high coverage is not
    risks: tuple[str, ...] = ("high", "low")


#: The KRIs, in display order (TransCelerate RACT / ICH E6(R3) 5.0 risk indicators).
KRIS = (
    KriDef("open_queries_per_subject", "open_queries", "subjects", "min_subjects", ("high",)),
    KriDef("aes_per_subject_cycle", "adverse_events", "subject_cycles", "min_subject_cycles"),
    KriDef("deviations_per_subject", "deviations", "subjects", "min_subjects"),
    KriDef("overdue_visits_per_subject", "overdue_visits", "subjects", "min_subjects", ("high",)),
    KriDef("sdv_coverage", "verified", "records", "min_records", ("low",)),
)


@dataclass(frozen=True)
class Kri:
    key: str
    numerator: int
    denominator: int
    rate: float | None  # numerator / denominator (None without exposure)
    trial_rate: float | None
    ratio: float | None  # rate / trial_rate (None when either is undefined or the trial's is 0)
    judged: bool  # the denominator reaches the spec's minimum
    flag: str | None  # "high" | "low" | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "rate": self.rate,
            "trial_rate": self.trial_rate,
            "ratio": self.ratio,
            "judged": self.judged,
            "flag": self.flag,
        }


def _rate(num: int, den: int) -> float | None:
    return num / den if den > 0 else None


def kris_for(site: SiteExposure, trial: SiteExposure, spec: MonitoringSpec) -> list[Kri]:
    """One site's KRIs against the trial's totals (the trial includes the site)."""
    out = []
    for d in KRIS:
        num, den = getattr(site, d.numerator), getattr(site, d.denominator)
        rate = _rate(num, den)
        trial_rate = _rate(getattr(trial, d.numerator), getattr(trial, d.denominator))
        ratio = rate / trial_rate if rate is not None and trial_rate else None
        judged = den >= getattr(spec, d.minimum)
        flag = None
        if judged and ratio is not None:
            side = "high" if ratio > spec.ratio_high else "low" if ratio < spec.ratio_low else None
            flag = side if side in d.risks else None
        out.append(Kri(d.key, num, den, rate, trial_rate, ratio, judged, flag))
    return out


def site_kris(by_site: Mapping[str, SiteExposure], spec: MonitoringSpec) -> dict[str, list[Kri]]:
    """Every site's KRIs; the trial-wide rate is over all the sites given."""
    trial = SiteExposure()
    for exposure in by_site.values():
        trial = trial + exposure
    return {site: kris_for(exposure, trial, spec) for site, exposure in by_site.items()}
