"""Eligibility: one rule (or attestation) per registry criterion, and the screening verdict.

The protocol section ``operations.eligibility`` (:class:`EligibilitySpec`) gives, for every inclusion and
exclusion criterion id of the registry record (``INC-02``, ``EXC-03.07`` ...), exactly one of

* ``rule``: an expression of :mod:`trialdesk.domain.expr` over the :class:`~trialdesk.domain.screening.ScreeningRecord`,
  its named ``derived`` quantities and the ``thresholds``;
* ``attestation``: what the investigator must confirm (criteria only a person can judge);
* ``heading: true``: a heading whose status is derived from its numbered children (``EXC-03`` from ``EXC-03.01``...).

Status convention
-----------------
A criterion's status always describes the *requirement for eligibility*, for inclusion and exclusion alike:

* ``met``: the requirement is satisfied (an inclusion criterion holds; an exclusion criterion does **not** apply);
* ``not_met``: the requirement fails (inclusion fails, or the patient has the excluding condition);
* ``missing``: the data needed to decide are missing;
* ``attested``: the investigator confirmed the requirement.

Exclusion rules are therefore written in their passing form (``not history.bleeding_disorder``). The verdict is
``ineligible`` if any criterion is ``not_met``, else ``incomplete`` if any is ``missing``, else ``eligible``.
A heading is ``not_met`` if any child is, else ``missing`` if any child is, else ``met``.

The registry criteria and the per-criterion rules are in :mod:`trialdesk.domain.eligibility_criteria`, the
human reasons in :mod:`trialdesk.domain.eligibility_reasons`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from trialdesk.domain.assumptions import AssumptionMap
from trialdesk.domain.eligibility_criteria import (
    CRITERION_ID,
    Criterion,
    CriterionRule,
    ProtocolError,
    coerce_criteria,
    criteria_from_registry_text,
)
from trialdesk.domain.eligibility_reasons import Explainer
from trialdesk.domain.expr import UNKNOWN, ExprError, Node, Scope, TypeEnv, TypeTag, check, parse
from trialdesk.domain.expr import evaluate as eval_expr
from trialdesk.domain.screening import ScreeningRecord, record_types, scope_dict

__all__ = [
    "ProtocolError",
    "Status",
    "Verdict",
    "CriterionRule",
    "Criterion",
    "EligibilitySpec",
    "CriterionResult",
    "ScreeningResult",
    "evaluate",
    "evaluate_named",
    "rule_statuses",
    "verdict_of",
    "heading_status",
    "criteria_from_registry_text",
    "coerce_criteria",
    "STRATIFICATION_QUANTITIES",
]

Status = Literal["met", "not_met", "missing", "attested"]
Verdict = Literal["eligible", "ineligible", "incomplete"]
#: derived quantities the randomization stratification factors are read from
STRATIFICATION_QUANTITIES = ("hr_status", "disease_setting", "visceral_metastases")


class _Compiled:
    """Parsed expressions of a spec (built once, at validation)."""

    def __init__(self, spec: EligibilitySpec):
        self.derived: dict[str, Node] = {}
        self.item_derived: dict[str, dict[str, Node]] = {}
        self.rules: dict[str, Node] = {}
        self.labels: dict[str, str] = dict(spec.labels)
        errors: list[str] = []

        def compile_(where: str, text: str) -> Node | None:
            try:
                return parse(text)
            except ExprError as exc:
                errors.append(f"{where}: {exc}")
                return None

        for name, text in spec.derived.items():
            node = compile_(f"derived.{name}", text)
            if node is not None:
                self.derived[name] = node
        for lname, defs in spec.item_derived.items():
            for name, text in defs.items():
                node = compile_(f"item_derived.{lname}.{name}", text)
                if node is not None:
                    self.item_derived.setdefault(lname, {})[name] = node
        for cid, c in spec.criteria.items():
            if c.rule is not None:
                node = compile_(f"criteria.{cid}.rule", c.rule)
                if node is not None:
                    self.rules[cid] = node
        if errors:
            raise ProtocolError("; ".join(errors))

        fields, lists = record_types()
        unknown_lists = set(spec.item_derived) - set(lists)
        if unknown_lists:
            raise ProtocolError(f"item_derived: unknown list field(s) {sorted(unknown_lists)}")
        self.type_env = TypeEnv(
            fields=fields,
            lists=lists,
            derived=self.derived,
            item_derived=self.item_derived,
            constants={"thresholds": ("object", dict.fromkeys(spec.thresholds, "number"))},
            tables=dict.fromkeys(spec.tables, "number"),
        )
        for name, tree in self.derived.items():
            self._check(f"derived.{name}", tree)
        for lname, trees in self.item_derived.items():
            for name, tree in trees.items():
                self._check(f"item_derived.{lname}.{name}", tree, {"item": ("item", lname)}, errors)
        for cid, tree in self.rules.items():
            t = self._check(f"criteria.{cid}.rule", tree, None, errors)
            if t is not None and t not in ("bool", "any"):
                errors.append(f"criteria.{cid}.rule: must be true/false, got {t}")
        if errors:
            raise ProtocolError("; ".join(errors))
        self.constants = {"thresholds": dict(spec.thresholds)}
        self.tables = {k: dict(v) for k, v in spec.tables.items()}

    def _check(
        self, where: str, node: Node, bound: Mapping[str, TypeTag] | None = None, errors: list[str] | None = None
    ) -> TypeTag | None:
        """The rule's type (an enum reported as ``'enum'``); ``None`` after recording an error in ``errors``."""
        try:
            t = check(node, self.type_env, bound)
            return t[0] if isinstance(t, tuple) and t[0] == "enum" else t
        except ExprError as exc:
            msg = f"{where}: {exc}"
            if errors is None:
                raise ProtocolError(msg) from None
            errors.append(msg)
            return None

    def scope(self, data: Mapping[str, Any]) -> Scope:
        return Scope(data, self.derived, self.item_derived, self.constants, self.tables)


class EligibilitySpec(BaseModel):
    """Protocol section ``operations.eligibility``: rules per criterion id, derived quantities, thresholds."""

    model_config = ConfigDict(extra="forbid")

    thresholds: dict[str, float] = Field(default_factory=dict, description="Named numeric limits used by rules.")
    tables: dict[str, dict[str, float]] = Field(default_factory=dict, description="Lookup tables (lookup()).")
    derived: dict[str, str] = Field(default_factory=dict, description="Named expressions, defined once.")
    item_derived: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Per-element expressions of list fields; the element is `item`."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Display templates for names in reasons ({value} = the value)."
    )
    criteria: dict[str, CriterionRule] = Field(default_factory=dict, description="Criterion id -> how decided.")
    assumptions: AssumptionMap = Field(default_factory=dict)

    _compiled: _Compiled | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _validate(self) -> EligibilitySpec:
        bad = [cid for cid in self.criteria if not CRITERION_ID.match(cid)]
        if bad:
            raise ValueError(f"criteria: malformed id(s) {bad} (expected INC-01, EXC-03.07 ...)")
        for cid, c in self.criteria.items():
            children = [k for k in self.criteria if k.startswith(cid + ".")]
            if c.heading and not children:
                raise ValueError(f"criteria.{cid}: heading without numbered children")
            if "." in cid:
                parent = cid.split(".")[0]
                if parent not in self.criteria or not self.criteria[parent].heading:
                    raise ValueError(f"criteria.{cid}: parent {parent} must be a heading criterion")
        clash = set(self.derived) & {"thresholds", *ScreeningRecord.model_fields}
        if clash:
            raise ValueError(f"derived: names {sorted(clash)} shadow record fields")
        keys = (
            {f"thresholds.{k}" for k in self.thresholds}
            | {f"tables.{k}" for k in self.tables}
            | {f"derived.{k}" for k in self.derived}
            | {f"item_derived.{ln}.{k}" for ln, d in self.item_derived.items() for k in d}
            | {f"criteria.{k}" for k in self.criteria}
        )
        dangling = sorted(k for k in self.assumptions if k not in keys)
        if dangling:
            raise ValueError(f"assumptions: keys {dangling} name nothing in this section")
        undocumented = sorted(f"thresholds.{k}" for k in self.thresholds if f"thresholds.{k}" not in self.assumptions)
        if undocumented:
            raise ValueError(f"assumptions: thresholds without a documented source: {undocumented}")
        try:
            self._compiled = _Compiled(self)
        except ProtocolError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def compiled(self) -> _Compiled:
        if self._compiled is None:  # pragma: no cover - set by the validator
            self._compiled = _Compiled(self)
        return self._compiled

    def leaf_ids(self) -> list[str]:
        """Criterion ids decided by a rule or attestation (not headings), in protocol order."""
        return [cid for cid, c in self.criteria.items() if not c.heading]


class CriterionResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    kind: Literal["inclusion", "exclusion"]
    text: str | None = Field(None, description="Verbatim registry text.")
    basis: Literal["rule", "attestation", "heading"]
    status: Status
    reason: str
    parent: str | None = None


class ScreeningResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    screening_id: str | None = None
    verdict: Verdict
    criteria: list[CriterionResult]

    def by_id(self) -> dict[str, CriterionResult]:
        return {c.id: c for c in self.criteria}

    def summary(self) -> str:
        bad = [c.id for c in self.criteria if c.status in ("not_met", "missing") and c.basis != "heading"]
        return f"{self.verdict}" + (f" ({', '.join(bad)})" if bad else "")


def heading_status(children: Sequence[str]) -> str:
    """Status of a heading from its children's statuses."""
    if "not_met" in children:
        return "not_met"
    if "missing" in children:
        return "missing"
    return "met"


_VERDICT_OF_STATUS = {"not_met": "ineligible", "missing": "incomplete", "met": "eligible"}


def verdict_of(statuses: Sequence[str]) -> str:
    """Verdict from the statuses of the leaf (non-heading) criteria.

    The same rule as a heading's: one criterion not met decides, then one missing; only the names differ.
    """
    return _VERDICT_OF_STATUS[heading_status(statuses)]


def _status(value: Any) -> str:
    if value is UNKNOWN:
        return "missing"
    return "met" if value else "not_met"


def _as_data(record: ScreeningRecord | Mapping[str, Any]) -> tuple[ScreeningRecord, dict[str, Any]]:
    rec = record if isinstance(record, ScreeningRecord) else ScreeningRecord.model_validate(record)
    return rec, scope_dict(rec)


def rule_statuses(spec: EligibilitySpec, record: ScreeningRecord | Mapping[str, Any]) -> dict[str, str]:
    """Status of every leaf criterion, without reasons (the fast per-record path)."""
    rec, data = _as_data(record)
    comp = spec.compiled
    scope = comp.scope(data)
    out: dict[str, str] = {}
    for cid, c in spec.criteria.items():
        if c.heading:
            continue
        if c.rule is not None:
            out[cid] = _status(eval_expr(comp.rules[cid], scope))
        else:
            out[cid] = _attest_status(rec.attestations.get(cid))
    return out


def _attest_status(v: bool | None) -> str:
    return "missing" if v is None else "attested" if v else "not_met"


def evaluate_named(spec: EligibilitySpec, record: ScreeningRecord | Mapping[str, Any], name: str) -> Any:
    """Value of a derived quantity (or a dotted record path) for one record; ``None`` when missing.

    The randomization service reads the stratification factors with it:
    ``evaluate_named(spec, record, "hr_status")`` -> ``'positive'`` / ``'negative'``.
    """
    _, data = _as_data(record)
    comp = spec.compiled
    try:
        node = parse(name)
    except ExprError as exc:
        raise ProtocolError(f"cannot evaluate {name!r}: {exc}") from None
    comp._check(name, node)
    val = eval_expr(node, comp.scope(data))
    return None if val is UNKNOWN else val


def evaluate(
    spec: EligibilitySpec, record: ScreeningRecord | Mapping[str, Any], criteria: Any = None
) -> ScreeningResult:
    """Screen one record against every criterion.

    Parameters
    ----------
    spec
        The protocol's eligibility section.
    record
        A :class:`ScreeningRecord` or a dict validated into one (a malformed dict raises pydantic's
        ``ValidationError`` naming the field).
    criteria
        The registry criteria (``registry.eligibility``: objects or dicts with ``id`` and ``text``, or a mapping
        id -> text). When given, every registry id must have an entry in ``spec`` and vice versa, results follow
        registry order and carry the verbatim text.

    Returns
    -------
    ScreeningResult
        The verdict and one :class:`CriterionResult` per criterion (headings included).
    """
    rec, data = _as_data(record)
    comp = spec.compiled
    scope = comp.scope(data)
    reg = coerce_criteria(criteria)
    texts = {c.id: c.text for c in reg}
    if reg:
        missing = [c.id for c in reg if c.id not in spec.criteria]
        extra = [cid for cid in spec.criteria if cid not in texts]
        if missing or extra:
            raise ProtocolError(
                "eligibility rules and registry criteria differ: "
                + (f"no rule for {missing}" if missing else "")
                + ("; " if missing and extra else "")
                + (f"no registry criterion {extra}" if extra else "")
            )
        order = [c.id for c in reg]
    else:
        order = list(spec.criteria)

    results: dict[str, CriterionResult] = {}
    for cid in order:
        c = spec.criteria[cid]
        if c.heading:
            continue
        if c.rule is not None:
            node = comp.rules[cid]
            val = eval_expr(node, scope)
            status = _status(val)
            reason = Explainer(scope, comp.labels).reason(node, val)
        else:
            att = rec.attestations.get(cid)
            status = _attest_status(att)
            reason = {
                "attested": f"attested by the investigator: {c.attestation}",
                "not_met": f"the investigator did not attest: {c.attestation}",
                "missing": f"attestation missing: {c.attestation}",
            }[status]
        results[cid] = CriterionResult(
            id=cid,
            kind="inclusion" if cid.startswith("INC") else "exclusion",
            text=texts.get(cid),
            basis=c.basis,
            status=status,
            reason=reason,
            parent=cid.split(".")[0] if "." in cid else None,
        )
    for cid in order:
        c = spec.criteria[cid]
        if not c.heading:
            continue
        kids = [r for k, r in results.items() if k.startswith(cid + ".")]
        status = heading_status([k.status for k in kids])
        if status == "not_met":
            reason = "excluded by " + ", ".join(k.id for k in kids if k.status == "not_met")
        elif status == "missing":
            reason = "undecided: " + ", ".join(k.id for k in kids if k.status == "missing")
        else:
            reason = f"all {len(kids)} items satisfied"
        results[cid] = CriterionResult(
            id=cid,
            kind="inclusion" if cid.startswith("INC") else "exclusion",
            text=texts.get(cid),
            basis="heading",
            status=status,
            reason=reason,
        )
    leaf = [r.status for r in results.values() if r.basis != "heading"]
    return ScreeningResult(
        screening_id=rec.screening_id, verdict=verdict_of(leaf), criteria=[results[cid] for cid in order]
    )


def load_spec(data: Mapping[str, Any]) -> EligibilitySpec:
    """Validate a parsed ``operations.eligibility`` mapping; errors name the criterion and the problem."""
    try:
        return EligibilitySpec.model_validate(data)
    except ValidationError:
        raise
