"""The screening record: what a site collects to decide eligibility.

:class:`ScreeningRecord` is typed, carries units, and rejects unknown fields (``extra='forbid'``). Every item is
optional: an item left out is *missing*, and a rule that needs it evaluates to ``missing`` (the verdict is then
``incomplete``), never to a guess. Laboratory values carry their unit and upper limit of normal (ULN, in the same
unit); :func:`scope_dict` converts them to the canonical units of :mod:`trialdesk.domain.units` before rules
read them.

For cohort tables the record is *flattened* (:func:`flatten_record`) to one row of scalar columns with dotted
names (``labs.anc.value``); a list field becomes a count column ``<list>.n`` plus numbered slots
``<list>.<k>.<field>`` (``prior_therapies.0.drug_class``). :func:`unflatten_row` is the inverse.
"""

from __future__ import annotations

import datetime as dt
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trialdesk.domain.units import ANALYTES, UnitError, conversion_factor, normalize_unit

__all__ = [
    "Sex",
    "Her2",
    "Disease",
    "PriorTherapy",
    "Lesion",
    "Cns",
    "LabResult",
    "Labs",
    "Vitals",
    "Urinalysis",
    "MedicalHistory",
    "ScreeningRecord",
    "scope_dict",
    "record_types",
    "LIST_FIELDS",
    "flatten_record",
    "unflatten_row",
    "flat_schema",
]

Sex = Literal["female", "male"]
_Strict = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Her2(BaseModel):
    """HER2 testing (ASCO/CAP 2018: positive means IHC 3+ or ISH amplified)."""

    model_config = _Strict
    ihc: Literal["0", "1+", "2+", "3+"] | None = Field(None, description="Immunohistochemistry score.")
    ish: Literal["amplified", "not_amplified"] | None = Field(
        None, description="In situ hybridisation result per ASCO/CAP 2018 (after additional IHC work-up)."
    )
    ish_ratio: float | None = Field(None, ge=0, description="HER2/CEP17 ratio (informative).")
    ish_copy_number: float | None = Field(None, ge=0, description="Mean HER2 copies per cell (informative).")


class Disease(BaseModel):
    """Diagnosis of the breast cancer under study."""

    model_config = _Strict
    invasive_carcinoma: bool | None = Field(None, description="Invasive breast carcinoma.")
    confirmation: Literal["histological", "cytological", "not_confirmed"] | None = Field(
        None, description="How the diagnosis was confirmed."
    )
    recurrent_or_metastatic: bool | None = Field(
        None, description="Recurrent (locally, not amenable to curative treatment) or metastatic disease now."
    )
    presentation: Literal["de_novo", "recurrent"] | None = Field(
        None, description="De novo stage IV, or recurrence after treatment of early disease."
    )
    initial_diagnosis_date: dt.date | None = None
    recurrence_date: dt.date | None = Field(
        None, description="Date the recurrence/metastasis was found (recurrent) or diagnosed (de novo)."
    )


TherapyClass = Literal[
    "endocrine",
    "chemotherapy",
    "anthracycline",
    "anti_her2_antibody",
    "her2_tki",
    "topo1_adc",
    "other_adc",
    "cdk4_6_inhibitor",
    "immunotherapy",
    "other_targeted",
]

#: best response to a prior therapy: RECIST 1.1 overall response, or not known
BestResponse = Literal["CR", "PR", "SD", "PD", "NE", "unknown"]
#: why a prior therapy stopped
StopReason = Literal["completed", "progression", "toxicity", "patient_decision", "other"]


class PriorTherapy(BaseModel):
    """One prior systemic anticancer therapy (one line or regimen)."""

    model_config = _Strict
    drug_class: TherapyClass
    agent: str = Field(min_length=1, description="Generic name, lower case (e.g. 'epirubicin').")
    setting: Literal["neoadjuvant", "adjuvant", "metastatic"] = Field(
        description="'metastatic' = given in the recurrence/metastasis stage."
    )
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    ongoing: bool = False
    cumulative_dose_mg_m2: float | None = Field(
        None, ge=0, description="Cumulative dose (mg/m²); required to judge anthracycline exposure."
    )
    line_of_therapy: int | None = Field(
        None, ge=1, description="Line of therapy in its setting (1 = first line); informative, no rule reads it."
    )
    best_response: BestResponse | None = Field(
        None, description="Best response to this therapy (RECIST 1.1 CR/PR/SD/PD/NE, or 'unknown')."
    )
    reason_stopped: StopReason | None = Field(None, description="Why the therapy stopped (empty while ongoing).")

    @field_validator("agent")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.lower()

    @model_validator(mode="after")
    def _dates(self) -> PriorTherapy:
        if self.ongoing and self.end_date is not None:
            raise ValueError("end_date must be empty when ongoing is true")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        if self.ongoing and self.reason_stopped is not None:
            raise ValueError("reason_stopped must be empty when ongoing is true")
        return self


class Lesion(BaseModel):
    """One baseline tumour lesion (target or non-target)."""

    model_config = _Strict
    organ: Literal[
        "breast",
        "chest_wall",
        "skin",
        "lymph_node",
        "soft_tissue",
        "lung",
        "pleura",
        "liver",
        "adrenal",
        "peritoneum",
        "brain",
        "bone",
        "other_visceral",
    ]
    site: str | None = Field(None, description="Free-text location.")
    longest_diameter_mm: float | None = Field(None, ge=0)
    short_axis_mm: float | None = Field(None, ge=0, description="Short axis, for lymph nodes.")
    method: Literal["ct", "mri", "caliper", "x_ray", "ultrasound", "pet_ct", "bone_scan"]
    previously_irradiated: bool = False


class Cns(BaseModel):
    """Central nervous system and spinal cord status."""

    model_config = _Strict
    spinal_cord_compression: bool | None = None
    brain_metastases: Literal["none", "treated_stable", "active"] | None = Field(
        None, description="'active' = untreated, progressing or symptomatic."
    )


class LabResult(BaseModel):
    """A laboratory value with its unit and upper limit of normal (same unit)."""

    model_config = _Strict
    value: float = Field(ge=0)
    unit: str
    uln: float | None = Field(None, gt=0, description="Upper limit of normal, in `unit`.")


class Labs(BaseModel):
    """Screening laboratory tests; each unit is checked against its analyte."""

    model_config = _Strict
    anc: LabResult | None = Field(None, description="Absolute neutrophil count.")
    platelets: LabResult | None = None
    hemoglobin: LabResult | None = None
    total_bilirubin: LabResult | None = None
    alt: LabResult | None = None
    ast: LabResult | None = None
    creatinine: LabResult | None = None
    albumin: LabResult | None = None

    @model_validator(mode="after")
    def _units(self) -> Labs:
        for name in type(self).model_fields:
            lab = getattr(self, name)
            if lab is None:
                continue
            try:
                conversion_factor(name, lab.unit)
            except UnitError as exc:
                raise ValueError(f"labs.{name}.unit: {exc}") from None
        return self


class Vitals(BaseModel):
    model_config = _Strict
    weight_kg: float | None = Field(None, gt=0, le=400)
    height_cm: float | None = Field(None, gt=0, le=250)
    systolic_bp_mmhg: float | None = Field(None, gt=0, le=300)
    diastolic_bp_mmhg: float | None = Field(None, gt=0, le=200)


class Urinalysis(BaseModel):
    model_config = _Strict
    protein_dipstick: Literal["negative", "trace", "1+", "2+", "3+", "4+"] | None = None
    protein_24h_g: float | None = Field(None, ge=0, description="24-hour urine protein (g).")


class MedicalHistory(BaseModel):
    """Yes/no history items, one per medical exclusion (true = the condition is present)."""

    model_config = _Strict
    other_malignancy_5y: bool | None = Field(None, description="EXC-03.01")
    unresolved_toxicity_above_grade1: bool | None = Field(None, description="EXC-03.02")
    major_surgery_4w: bool | None = Field(None, description="EXC-03.03")
    venous_access_disease: bool | None = Field(None, description="EXC-03.04")
    bleeding_disorder: bool | None = Field(None, description="EXC-03.05")
    thrombosis_6m: bool | None = Field(None, description="EXC-03.06")
    significant_cardiovascular_disease: bool | None = Field(None, description="EXC-03.08")
    uncontrolled_infection_14d: bool | None = Field(None, description="EXC-03.09")
    ild_pneumonitis_steroids: bool | None = Field(None, description="EXC-03.10")
    pulmonary_dysfunction_3m: bool | None = Field(None, description="EXC-03.11")
    active_hepatitis_uncontrolled: bool | None = Field(None, description="EXC-03.12")
    active_syphilis_needing_treatment: bool | None = Field(None, description="EXC-03.13")
    transplant: bool | None = Field(None, description="EXC-03.14")
    immunosuppression_required: bool | None = Field(None, description="EXC-03.15")
    immunodeficiency: bool | None = Field(None, description="EXC-03.16")
    dialysis: bool | None = Field(None, description="EXC-03.18")
    uncontrolled_diabetes: bool | None = Field(None, description="EXC-03.19")
    epilepsy_requiring_treatment: bool | None = Field(None, description="EXC-03.20")
    substance_abuse_or_mental_disorder: bool | None = Field(None, description="EXC-03.21")
    uncontrolled_effusion_or_lymphangitis: bool | None = Field(None, description="EXC-04.01")
    prior_radiotherapy: bool | None = Field(None, description="EXC-04.03 (with last_radiotherapy_end_date)")
    last_radiotherapy_end_date: dt.date | None = None
    antitumor_tcm_2w: bool | None = Field(None, description="EXC-04.04")
    study_drug_allergy: bool | None = Field(None, description="EXC-05.02")
    mab_severe_hypersensitivity: bool | None = Field(None, description="EXC-05.03")
    other_trial_4w: bool | None = Field(None, description="EXC-05.04")


class ScreeningRecord(BaseModel):
    """Everything the eligibility rules read for one screened patient."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, title="ScreeningRecord")

    screening_id: str | None = None
    site: str | None = None
    birth_date: dt.date | None = None
    sex: Sex | None = None
    consent_date: dt.date | None = None
    planned_first_dose_date: dt.date | None = None
    ecog: int | None = Field(None, ge=0, le=5, description="ECOG performance status.")
    her2: Her2 = Field(default_factory=Her2)
    er_status: Literal["positive", "negative", "not_determined"] | None = None
    pr_status: Literal["positive", "negative", "not_determined"] | None = None
    disease: Disease = Field(default_factory=Disease)
    prior_therapies: list[PriorTherapy] | None = Field(
        None, description="Prior systemic therapies; [] = none, absent = not collected."
    )
    lesions: list[Lesion] | None = Field(None, description="Baseline lesions; absent = not collected.")
    cns: Cns = Field(default_factory=Cns)
    labs: Labs = Field(default_factory=Labs)
    lvef_percent: float | None = Field(None, gt=0, le=100)
    vitals: Vitals = Field(default_factory=Vitals)
    urinalysis: Urinalysis = Field(default_factory=Urinalysis)
    history: MedicalHistory = Field(default_factory=MedicalHistory)
    attestations: dict[str, bool] = Field(
        default_factory=dict,
        description="Investigator attestations by criterion id (true = the requirement is satisfied).",
    )

    @model_validator(mode="after")
    def _chronology(self) -> ScreeningRecord:
        if self.birth_date and self.consent_date and self.consent_date < self.birth_date:
            raise ValueError(f"consent_date {self.consent_date} is before birth_date {self.birth_date}")
        return self


LIST_FIELDS: dict[str, type[BaseModel]] = {"prior_therapies": PriorTherapy, "lesions": Lesion}


# --------------------------------------------------------------------------------------------- rule view
def scope_dict(record: ScreeningRecord) -> dict[str, Any]:
    """The record as nested dicts, lab values and ULNs converted to canonical units."""
    data = record.model_dump()
    labs = data["labs"]
    for name, lab in labs.items():
        if lab is None:
            continue
        f = conversion_factor(name, lab["unit"])
        lab["value"] = lab["value"] * f
        if lab["uln"] is not None:
            lab["uln"] = lab["uln"] * f
        lab["unit"] = ANALYTES[name][0]
    return data


def _unwrap(ann: Any) -> Any:
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return ann


def _type_of(ann: Any) -> Any:
    ann = _unwrap(ann)
    origin = typing.get_origin(ann)
    if origin is Literal:
        return ("enum", frozenset(typing.get_args(ann)))
    if origin is list:
        (elem,) = typing.get_args(ann)
        return ("list_of", elem)
    if origin is dict:
        return "any"
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ("object", {k: _type_of(f.annotation) for k, f in ann.model_fields.items()})
    if ann is bool:
        return "bool"
    if ann in (int, float):
        return "number"
    if ann is str:
        return "string"
    if ann is dt.date:
        return "date"
    return "any"


def record_types() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Type tree of :class:`ScreeningRecord` for the expression static check: ``(fields, list element types)``."""
    fields: dict[str, Any] = {}
    lists: dict[str, dict[str, Any]] = {}
    for name, f in ScreeningRecord.model_fields.items():
        t = _type_of(f.annotation)
        if isinstance(t, tuple) and t[0] == "list_of":
            lists[name] = {k: _type_of(ff.annotation) for k, ff in t[1].model_fields.items()}
            t = ("list", name)
        fields[name] = t
    return fields, lists


# --------------------------------------------------------------------------------------------- flat form
def _leaf_kind(ann: Any) -> str:
    t = _type_of(ann)
    kind: str = ("string" if t[0] == "enum" else t[0]) if isinstance(t, tuple) else t
    return kind


def flat_schema(slots: Mapping[str, int] | None = None) -> dict[str, str]:
    """Flat column name -> kind (``number``, ``string``, ``date``, ``bool``) for cohort tables.

    ``slots`` gives the number of slots per list field (default 4 prior therapies, 6 lesions).
    """
    slots = dict({"prior_therapies": 4, "lesions": 6}, **(slots or {}))
    out: dict[str, str] = {}

    def model(prefix: str, m: type[BaseModel]) -> None:
        for name, f in m.model_fields.items():
            ann = _unwrap(f.annotation)
            path = f"{prefix}{name}"
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                model(path + ".", ann)
            elif typing.get_origin(ann) is list:
                (elem,) = typing.get_args(ann)
                out[f"{path}.n"] = "number"
                for k in range(slots[name]):
                    model(f"{path}.{k}.", elem)
            elif typing.get_origin(ann) is dict:
                continue  # attestations: columns attestations.<ID> are added by the caller
            else:
                out[path] = _leaf_kind(ann)

    model("", ScreeningRecord)
    return out


def flatten_record(record: ScreeningRecord | Mapping[str, Any]) -> dict[str, Any]:
    """One flat row (dotted column names) from a record; units are kept as recorded."""
    data = record.model_dump() if isinstance(record, BaseModel) else dict(record)
    out: dict[str, Any] = {}

    def rec(prefix: str, obj: Any) -> None:
        if isinstance(obj, Mapping):
            for k, v in obj.items():
                rec(f"{prefix}{k}.", v) if isinstance(v, (Mapping, list)) else _leaf(f"{prefix}{k}", v)
        elif isinstance(obj, list):
            base = prefix[:-1]
            out[f"{base}.n"] = len(obj)
            for i, item in enumerate(obj):
                rec(f"{base}.{i}.", item)

    def _leaf(key: str, v: Any) -> None:
        if key in LIST_FIELDS or (v is None and "." in key and key.split(".")[0] == "labs"):
            return  # a missing list is the count column left empty; a missing lab has no columns
        out[key] = v

    rec("", data)
    for key in LIST_FIELDS:
        if data.get(key) is None:
            out[f"{key}.n"] = None
    return out


def _missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return v == ""
    if isinstance(v, (bytes, bool, dt.date)):
        return False
    try:
        return bool(v != v)  # NaN, NaT
    except TypeError:  # pandas NA
        return True


@functools.lru_cache(maxsize=1)
def _bool_paths() -> frozenset[str]:
    """Flat paths of yes/no items, list slots written as ``<list>.*.<field>``."""
    out = set()
    for key, kind in flat_schema({"prior_therapies": 1, "lesions": 1}).items():
        if kind == "bool":
            parts = key.split(".")
            out.add(f"{parts[0]}.*.{parts[2]}" if parts[0] in LIST_FIELDS else key)
    return frozenset(out)


def _as_bool(key: str, v: Any) -> Any:
    parts = key.split(".")
    path = f"{parts[0]}.*.{parts[2]}" if parts[0] in LIST_FIELDS and len(parts) == 3 else key
    if (path in _bool_paths() or parts[0] == "attestations") and isinstance(v, (float, int)) and v in (0, 1):
        return bool(v)
    return v


def unflatten_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """Nested record dict (input for :class:`ScreeningRecord`) from a flat row; missing cells are dropped.

    Missing cells are ``None``, NaN, NaT or ``''``; yes/no items may be 1.0/0.0.
    """
    nested: dict[str, Any] = {}
    lists: dict[str, dict[int, dict[str, Any]]] = {}
    counts: dict[str, Any] = {}
    for key, v in row.items():
        parts = key.split(".")
        if parts[0] in LIST_FIELDS:
            if len(parts) == 1:
                continue
            if parts[1] == "n":
                counts[parts[0]] = v
            else:
                if not _missing(v):
                    lists.setdefault(parts[0], {}).setdefault(int(parts[1]), {})[parts[2]] = _as_bool(key, _py(v))
            continue
        if _missing(v):
            continue
        cur = nested
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = _as_bool(key, _py(v))
    for name in LIST_FIELDS:
        n = counts.get(name)
        if n is None or _missing(n):
            continue
        slots = lists.get(name, {})
        nested[name] = [slots.get(i, {}) for i in range(int(n))]
    # a lab row with only a unit (no value) is absent
    labs = nested.get("labs", {})
    for k in list(labs):
        if "value" not in labs[k]:
            del labs[k]
    return nested


def _py(v: Any) -> Any:
    """numpy / pandas scalars -> Python."""
    if type(v).__name__ == "Timestamp":
        return v.date()
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, dt.datetime):
        return v.date()
    return v


def normalize_lab_unit(unit: str) -> str:
    """Re-export for adapters: the canonical spelling of a unit."""
    return normalize_unit(unit)
