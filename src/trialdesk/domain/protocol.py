"""The trial protocol as data.

A :class:`Protocol` has two parts:

``registry``
    Every fact of the public registry record (ClinicalTrials.gov), verbatim where it is text. This is what the
    public registry page shows and what ``registry export`` writes as CT.gov API v2 JSON.
``operations``
    The rules the trial runs on: eligibility rules, randomization, regimens, visit schedule, RECIST settings and
    the statistical design. Each section is a typed model that lives in its own domain module; every value the
    registry record does not state is documented by an :class:`~trialdesk.domain.assumptions.Assumption`.

The model rejects unknown fields (``extra="forbid"``) everywhere except ``registry.extra``, which keeps
CT.gov keys that trialdesk does not model so that an import/export round trip loses nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trialdesk.domain.analysis_spec import AnalysisSpec
from trialdesk.domain.assumptions import AssumptionMap
from trialdesk.domain.design import DesignSpec
from trialdesk.domain.dosing import TreatmentSpec
from trialdesk.domain.eligibility import EligibilitySpec
from trialdesk.domain.monitoring import MonitoringSpec
from trialdesk.domain.randomization import RandomizationSpec
from trialdesk.domain.recist import RecistSpec
from trialdesk.domain.schedule import ScheduleSpec

NCT_ID_PATTERN = r"^NCT\d{8}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OverallStatus(StrEnum):
    """CT.gov ``Status`` enum (overall recruitment status)."""

    ACTIVE_NOT_RECRUITING = "ACTIVE_NOT_RECRUITING"
    COMPLETED = "COMPLETED"
    ENROLLING_BY_INVITATION = "ENROLLING_BY_INVITATION"
    NOT_YET_RECRUITING = "NOT_YET_RECRUITING"
    RECRUITING = "RECRUITING"
    SUSPENDED = "SUSPENDED"
    TERMINATED = "TERMINATED"
    WITHDRAWN = "WITHDRAWN"
    AVAILABLE = "AVAILABLE"
    NO_LONGER_AVAILABLE = "NO_LONGER_AVAILABLE"
    TEMPORARILY_NOT_AVAILABLE = "TEMPORARILY_NOT_AVAILABLE"
    APPROVED_FOR_MARKETING = "APPROVED_FOR_MARKETING"
    WITHHELD = "WITHHELD"
    UNKNOWN = "UNKNOWN"


class SiteStatus(StrEnum):
    """Recruitment status of one location (CT.gov ``RecruitmentStatus``)."""

    # CT.gov has one recruitment vocabulary for the study and for its locations, so a location's statuses are the
    # study's own (the first nine of OverallStatus, in its order); a site adds CLOSED for its activation lifecycle
    # (trialdesk.domain.sites). The docstring above is the JSON schema's description: keep it as it is.
    ACTIVE_NOT_RECRUITING = OverallStatus.ACTIVE_NOT_RECRUITING.value
    COMPLETED = OverallStatus.COMPLETED.value
    ENROLLING_BY_INVITATION = OverallStatus.ENROLLING_BY_INVITATION.value
    NOT_YET_RECRUITING = OverallStatus.NOT_YET_RECRUITING.value
    RECRUITING = OverallStatus.RECRUITING.value
    SUSPENDED = OverallStatus.SUSPENDED.value
    TERMINATED = OverallStatus.TERMINATED.value
    WITHDRAWN = OverallStatus.WITHDRAWN.value
    AVAILABLE = OverallStatus.AVAILABLE.value
    CLOSED = "CLOSED"


class PartialDate(_Strict):
    """A CT.gov date: ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``, with an optional type (ACTUAL/ESTIMATED)."""

    date: str = Field(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")
    type: str | None = None

    def as_date(self) -> dt.date:
        parts = [int(p) for p in self.date.split("-")] + [1, 1]
        return dt.date(parts[0], parts[1], parts[2])


class SecondaryId(_Strict):
    id: str
    type: str | None = None
    domain: str | None = None
    link: str | None = None


class Identification(_Strict):
    nct_id: str = Field(pattern=NCT_ID_PATTERN)
    org_study_id: str | None = None
    org_study_id_type: str | None = None
    organization: str | None = None
    organization_class: str | None = None
    brief_title: str
    official_title: str | None = None
    acronym: str | None = None
    secondary_ids: list[SecondaryId] = Field(default_factory=list)


class Status(_Strict):
    overall_status: OverallStatus
    last_update_post_date: str | None = Field(default=None, pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")
    status_verified_date: str | None = None
    start_date: PartialDate | None = None
    primary_completion_date: PartialDate | None = None
    completion_date: PartialDate | None = None
    study_first_submit_date: str | None = None
    study_first_post_date: str | None = None
    results_first_post_date: str | None = None
    why_stopped: str | None = None


class Enrollment(_Strict):
    count: int = Field(ge=0)
    type: str | None = None


class Design(_Strict):
    study_type: str
    phases: list[str] = Field(default_factory=list)
    allocation: str | None = None
    intervention_model: str | None = None
    intervention_model_description: str | None = None
    primary_purpose: str | None = None
    masking: str | None = None
    who_masked: list[str] = Field(default_factory=list)
    enrollment: Enrollment | None = None


class ArmGroup(_Strict):
    id: str | None = Field(default=None, description="Stable operational id, e.g. 'tqb2102'; not exported.")
    label: str
    type: str | None = None
    description: str | None = None
    intervention_names: list[str] = Field(default_factory=list)


class Intervention(_Strict):
    type: str
    name: str
    description: str | None = None
    arm_group_labels: list[str] = Field(default_factory=list)
    other_names: list[str] = Field(default_factory=list)


class Outcome(_Strict):
    measure: str
    description: str | None = None
    time_frame: str | None = None


class Outcomes(_Strict):
    primary: list[Outcome] = Field(default_factory=list)
    secondary: list[Outcome] = Field(default_factory=list)
    other: list[Outcome] = Field(default_factory=list)


class Criterion(_Strict):
    """One eligibility criterion with a stable id; headings carry numbered children."""

    id: str = Field(pattern=r"^(INC|EXC)-\d{2}(\.\d{2})?$")
    text: str
    children: list[Criterion] = Field(default_factory=list)

    def walk(self) -> Iterator[Criterion]:
        yield self
        for child in self.children:
            yield from child.walk()


_AGE_RE = re.compile(r"^(\d+(?:\.\d+)?) (Years?|Months?|Weeks?|Days?|Hours?|Minutes?)$")


class Eligibility(_Strict):
    criteria_text: str | None = Field(default=None, description="The record's criteria text, verbatim.")
    inclusion: list[Criterion] = Field(default_factory=list)
    exclusion: list[Criterion] = Field(default_factory=list)
    minimum_age: str | None = None
    maximum_age: str | None = None
    sex: str | None = None
    gender_based: bool | None = None
    healthy_volunteers: bool | None = None
    std_ages: list[str] = Field(default_factory=list)

    @field_validator("minimum_age", "maximum_age")
    @classmethod
    def _age(cls, value: str | None) -> str | None:
        if value is not None and not _AGE_RE.match(value):
            raise ValueError(f"age {value!r} is not of the form '18 Years'")
        return value

    def all_criteria(self) -> Iterator[Criterion]:
        for criterion in [*self.inclusion, *self.exclusion]:
            yield from criterion.walk()

    @staticmethod
    def age_years(value: str | None) -> float | None:
        if value is None:
            return None
        number, unit = _AGE_RE.match(value).groups()  # type: ignore[union-attr]
        factor = {"Year": 1.0, "Month": 1 / 12, "Week": 7 / 365.25, "Day": 1 / 365.25}.get(unit.rstrip("s"), 0.0)
        return float(number) * factor

    @model_validator(mode="after")
    def _unique_ids(self) -> Eligibility:
        seen: set[str] = set()
        for criterion in self.all_criteria():
            if criterion.id in seen:
                raise ValueError(f"criterion id {criterion.id} is used twice")
            seen.add(criterion.id)
        return self


class Organization(_Strict):
    name: str
    class_: str | None = Field(default=None, alias="class")


class ResponsibleParty(_Strict):
    type: str | None = None
    investigator_full_name: str | None = None
    investigator_title: str | None = None
    investigator_affiliation: str | None = None


class Contact(_Strict):
    name: str | None = None
    role: str | None = None
    phone: str | None = None
    phone_ext: str | None = None
    email: str | None = None


class Location(_Strict):
    site_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="Stable operational id of the site.")
    facility: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    status: SiteStatus | None = None
    contacts: list[Contact] = Field(default_factory=list)


class Reference(_Strict):
    citation: str | None = None
    pmid: str | None = None
    type: str | None = None


class RegistryRecord(_Strict):
    """Every fact of the registry record that trialdesk models."""

    identification: Identification
    status: Status
    sponsor: Organization | None = None
    collaborators: list[Organization] = Field(default_factory=list)
    responsible_party: ResponsibleParty | None = None
    brief_summary: str | None = None
    detailed_description: str | None = None
    conditions: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    design: Design
    arm_groups: list[ArmGroup] = Field(default_factory=list)
    interventions: list[Intervention] = Field(default_factory=list)
    outcomes: Outcomes = Field(default_factory=Outcomes)
    eligibility: Eligibility = Field(default_factory=Eligibility)
    central_contacts: list[Contact] = Field(default_factory=list)
    locations: list[Location] = Field(default_factory=list)
    references: list[Reference] = Field(default_factory=list)
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="CT.gov content that trialdesk does not model, kept verbatim for the round trip.",
    )

    @property
    def nct_id(self) -> str:
        return self.identification.nct_id

    @property
    def countries(self) -> list[str]:
        seen: list[str] = []
        for location in self.locations:
            if location.country and location.country not in seen:
                seen.append(location.country)
        return seen

    @model_validator(mode="after")
    def _unique_site_ids(self) -> RegistryRecord:
        seen: set[str] = set()
        for index, location in enumerate(self.locations):
            if location.site_id in seen:
                raise ValueError(f"locations[{index}].site_id {location.site_id!r} is used twice")
            seen.add(location.site_id)
        return self


class ProtocolTranslation(_Strict):
    """The protocol's own texts in one language other than English (the source language): each key names an
    existing item of the protocol, checked by :class:`Protocol`. The operations pages show them where the page's
    language is this one; the registry record and the rules keep the English text."""

    #: criterion id (``INC-01``, ``EXC-03.07``) -> the criterion's text
    criteria: dict[str, str] = Field(default_factory=dict)
    #: criterion id -> its attestation (``operations.eligibility.criteria.<id>.attestation``)
    attestations: dict[str, str] = Field(default_factory=dict)
    #: display label key (``operations.eligibility.labels``) -> template with the same ``{placeholders}``
    labels: dict[str, str] = Field(default_factory=dict)
    #: arm id -> the arm's label
    arms: dict[str, str] = Field(default_factory=dict)
    #: drug id (``operations.treatment.arms[].drugs[].drug``) -> the drug's name
    drugs: dict[str, str] = Field(default_factory=dict)


#: the kinds of protocol text a :class:`ProtocolTranslation` holds
TRANSLATION_KINDS = ("criteria", "attestations", "labels", "arms", "drugs")
_PLACEHOLDER = re.compile(r"\{([^}]+)\}")


class LocaleSpec(_Strict):
    """Where the sites work: the time zone their dates and times are shown in, and the languages of the
    operations pages (the first is the default for a user who has chosen none). The public registry page keeps the
    record's language. ``translations``: the protocol's texts per language (:class:`ProtocolTranslation`)."""

    time_zone: str = "UTC"
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1)
    translations: dict[str, ProtocolTranslation] = Field(default_factory=dict)
    assumptions: AssumptionMap = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> LocaleSpec:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"time_zone {self.time_zone!r} is not an IANA time zone") from exc
        unknown = [lang for lang in self.languages if lang not in SUPPORTED_LANGUAGES]
        if unknown:
            raise ValueError(f"languages {unknown} not supported (supported: {', '.join(SUPPORTED_LANGUAGES)})")
        bad = [lang for lang in self.translations if lang not in SUPPORTED_LANGUAGES or lang == "en"]
        if bad:
            raise ValueError(f"translations: {bad} not a supported language other than English (the source)")
        return self


#: the languages the operations pages are translated into (src/trialdesk/locale)
SUPPORTED_LANGUAGES = ("en", "zh-Hans")


class Operations(_Strict):
    """Operational rules; each section is owned by its domain module."""

    locale: LocaleSpec = Field(default_factory=LocaleSpec)

    eligibility: EligibilitySpec | None = None
    randomization: RandomizationSpec | None = None
    treatment: TreatmentSpec | None = None
    schedule: ScheduleSpec | None = None
    recist: RecistSpec | None = None
    design: DesignSpec | None = None
    analysis: AnalysisSpec | None = None
    monitoring: MonitoringSpec | None = None
    assumptions: AssumptionMap = Field(default_factory=dict)


class Protocol(_Strict):
    """A trial: its registry record and its operational rules."""

    schema_version: int = Field(default=1, ge=1, le=1)
    registry: RegistryRecord
    operations: Operations = Field(default_factory=Operations)

    @model_validator(mode="after")
    def _translations_name_the_protocol(self) -> Protocol:
        """Every key of ``operations.locale.translations`` names an existing criterion, attestation, label, arm or
        drug, and a translated label keeps its English template's placeholders."""
        for lang, translation in self.operations.locale.translations.items():
            for kind in TRANSLATION_KINDS:
                known = self.translatable(kind)
                for key, text in getattr(translation, kind).items():
                    where = f"operations.locale.translations.{lang}.{kind}.{key}"
                    if key not in known:
                        raise ValueError(f"{where}: {key!r} names no {kind[:-1]} of this protocol")
                    if kind == "labels" and set(_PLACEHOLDER.findall(text)) != set(_PLACEHOLDER.findall(known[key])):
                        raise ValueError(f"{where}: the placeholders differ from the English {known[key]!r}")
        return self

    def translatable(self, kind: str) -> dict[str, str]:
        """The English texts of one kind of :data:`TRANSLATION_KINDS`, by key."""
        eligibility = self.operations.eligibility
        if kind == "criteria":
            return {c.id: c.text for c in self.registry.eligibility.all_criteria()}
        if kind == "attestations":
            criteria = eligibility.criteria if eligibility else {}
            return {cid: c.attestation for cid, c in criteria.items() if c.attestation is not None}
        if kind == "labels":
            return dict(eligibility.labels) if eligibility else {}
        if kind == "arms":
            return {a.id: a.label for a in self.registry.arm_groups if a.id}
        if kind == "drugs":
            treatment = self.operations.treatment
            return {d.drug: d.name for arm in (treatment.arms if treatment else []) for d in arm.drugs}
        raise KeyError(f"unknown kind of protocol text {kind!r} (kinds: {', '.join(TRANSLATION_KINDS)})")

    @property
    def nct_id(self) -> str:
        return self.registry.nct_id

    def arm(self, key: str) -> ArmGroup:
        """Find an arm by operational id or by label (case-insensitive)."""
        wanted = key.strip().lower()
        for arm in self.registry.arm_groups:
            if (arm.id and arm.id.lower() == wanted) or arm.label.lower() == wanted:
                return arm
        known = ", ".join(a.id or a.label for a in self.registry.arm_groups)
        raise KeyError(f"unknown arm {key!r}; known arms: {known}")

    def site(self, site_id: str) -> Location:
        for location in self.registry.locations:
            if location.site_id == site_id:
                return location
        raise KeyError(f"unknown site {site_id!r}")
