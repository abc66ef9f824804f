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
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from trialdesk.domain.assumptions import AssumptionMap
from trialdesk.domain.expr import (
    UNKNOWN,
    Binary,
    Comprehension,
    ExprError,
    IfExpr,
    Literal as LiteralNode,
    Logical,
    Name,
    Node,
    Scope,
    TypeEnv,
    Unary,
    check,
    evaluate as eval_expr,
    names_in,
    parse,
)
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
CRITERION_ID = re.compile(r"^(INC|EXC)-\d{2}(\.\d{2})?$")
#: derived quantities the randomization stratification factors are read from
STRATIFICATION_QUANTITIES = ("hr_status", "disease_setting", "visceral_metastases")


class ProtocolError(ValueError):
    """The eligibility section of the protocol is inconsistent with itself or with the registry criteria."""


class CriterionRule(BaseModel):
    """How one criterion is decided: exactly one of ``rule``, ``attestation``, ``heading``."""

    model_config = ConfigDict(extra="forbid")

    rule: Optional[str] = Field(None, description="Expression true when the requirement is satisfied.")
    attestation: Optional[str] = Field(None, description="What the investigator attests.")
    heading: bool = Field(False, description="Status derived from the numbered children.")
    note: Optional[str] = Field(None, description="How the rule reads the criterion.")

    @model_validator(mode="after")
    def _one(self) -> CriterionRule:
        n = (self.rule is not None) + (self.attestation is not None) + bool(self.heading)
        if n != 1:
            raise ValueError("give exactly one of rule, attestation, heading")
        return self

    @property
    def basis(self) -> str:
        return "rule" if self.rule is not None else "attestation" if self.attestation is not None else "heading"


class Criterion(BaseModel):
    """A registry criterion: stable id and verbatim text."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: str
    text: str

    @property
    def kind(self) -> str:
        return "inclusion" if self.id.startswith("INC") else "exclusion"


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
            constants={"thresholds": ("object", {k: "number" for k in spec.thresholds})},
            tables={k: "number" for k in spec.tables},
        )
        for name, node in self.derived.items():
            self._check(f"derived.{name}", node)
        for lname, defs in self.item_derived.items():
            for name, node in defs.items():
                self._check(f"item_derived.{lname}.{name}", node, {"item": ("item", lname)}, errors)
        for cid, node in self.rules.items():
            t = self._check(f"criteria.{cid}.rule", node, None, errors)
            if t is not None and t not in ("bool", "any"):
                errors.append(f"criteria.{cid}.rule: must be true/false, got {t}")
        if errors:
            raise ProtocolError("; ".join(errors))
        self.constants = {"thresholds": dict(spec.thresholds)}
        self.tables = {k: dict(v) for k, v in spec.tables.items()}

    def _check(self, where: str, node: Node, bound: Mapping[str, Any] | None = None, errors: list[str] | None = None):
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

    _compiled: Any = PrivateAttr(default=None)

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
    text: Optional[str] = Field(None, description="Verbatim registry text.")
    basis: Literal["rule", "attestation", "heading"]
    status: Status
    reason: str
    parent: Optional[str] = None


class ScreeningResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    screening_id: Optional[str] = None
    verdict: Verdict
    criteria: list[CriterionResult]

    def by_id(self) -> dict[str, CriterionResult]:
        return {c.id: c for c in self.criteria}

    def summary(self) -> str:
        bad = [c.id for c in self.criteria if c.status in ("not_met", "missing") and c.basis != "heading"]
        return f"{self.verdict}" + (f" ({', '.join(bad)})" if bad else "")


# --------------------------------------------------------------------------------------------- helpers
def coerce_criteria(criteria: Any) -> list[Criterion]:
    """Registry criteria, flattened in order (children after their heading).

    Accepts the registry ``eligibility`` object (``inclusion`` + ``exclusion`` lists), a list of objects/dicts
    with ``id``, ``text`` and optional ``children``, or a mapping id -> text.
    """
    if criteria is None:
        return []
    if not isinstance(criteria, (Mapping, list, tuple)) and hasattr(criteria, "inclusion"):
        criteria = list(criteria.inclusion) + list(criteria.exclusion)
    if isinstance(criteria, Mapping) and "inclusion" in criteria:
        criteria = list(criteria.get("inclusion", [])) + list(criteria.get("exclusion", []))
    if isinstance(criteria, Mapping):
        return [
            Criterion(id=k, text=v if isinstance(v, str) else _get(v, "text")) for k, v in criteria.items()
        ]
    out: list[Criterion] = []

    def add(c: Any) -> None:
        out.append(Criterion(id=_get(c, "id"), text=_get(c, "text")))
        kids = c.get("children") if isinstance(c, Mapping) else getattr(c, "children", None)
        for k in kids or []:
            add(k)

    for c in criteria:
        add(c)
    return out


def _get(obj: Any, attr: str) -> Any:
    return obj[attr] if isinstance(obj, Mapping) else getattr(obj, attr)


def criteria_from_registry_text(text: str) -> list[Criterion]:
    """Criterion ids and verbatim texts from the registry record's eligibility section (ClinicalTrials.gov text).

    Top-level bullets ``* ...`` are numbered ``INC-01``... / ``EXC-01``...; numbered lines under a bullet become
    its children ``EXC-03.01``...
    """
    m_inc = text.find("Inclusion Criteria")
    m_exc = text.find("Exclusion Criteria")
    if m_inc < 0 or m_exc < 0:
        raise ProtocolError("registry text has no 'Inclusion Criteria' / 'Exclusion Criteria' sections")
    end = len(text)
    for marker in ("Minimum Eligible Age", "Sex:", "Ages Eligible"):
        k = text.find(marker, m_exc)
        if k >= 0:
            end = min(end, k)
    out: list[Criterion] = []
    for prefix, block in (("INC", text[m_inc:m_exc]), ("EXC", text[m_exc:end])):
        top = 0
        sub = 0
        for line in block.splitlines()[1:]:
            s = line.strip()
            if s.startswith("* "):
                top += 1
                sub = 0
                out.append(Criterion(id=f"{prefix}-{top:02d}", text=s[2:].strip()))
            elif re.match(r"^\d+\.\s", s) and top:
                sub += 1
                out.append(Criterion(id=f"{prefix}-{top:02d}.{sub:02d}", text=re.sub(r"^\d+\.\s*", "", s)))
    return out


def heading_status(children: Sequence[str]) -> str:
    """Status of a heading from its children's statuses."""
    if "not_met" in children:
        return "not_met"
    if "missing" in children:
        return "missing"
    return "met"


def verdict_of(statuses: Sequence[str]) -> str:
    """Verdict from the statuses of the leaf (non-heading) criteria."""
    if "not_met" in statuses:
        return "ineligible"
    if "missing" in statuses:
        return "incomplete"
    return "eligible"


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
    spec: EligibilitySpec,
    record: ScreeningRecord | Mapping[str, Any],
    criteria: Any = None,
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
            reason = _Explainer(scope, comp.labels).reason(node, val)
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
            basis=c.basis,  # type: ignore[arg-type]
            status=status,  # type: ignore[arg-type]
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
            status=status,  # type: ignore[arg-type]
            reason=reason,
        )
    leaf = [r.status for r in results.values() if r.basis != "heading"]
    return ScreeningResult(
        screening_id=rec.screening_id,
        verdict=verdict_of(leaf),  # type: ignore[arg-type]
        criteria=[results[cid] for cid in order],
    )


# --------------------------------------------------------------------------------------------- reasons
_NEGATE = {"==": "!=", "!=": "==", "in": "not in", "notin": "in"}
_SHOW = {"notin": "not in"}


def _fmt(v: Any) -> str:
    if v is UNKNOWN or v is None:
        return "missing"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v.is_integer():
            return str(int(v))
        return f"{round(v, 2):.2f}".rstrip("0").rstrip(".")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


class _Explainer:
    """Human reasons quoting the values a rule read (e.g. 'age 76 at consent 2026-01-10 > 75')."""

    def __init__(self, scope: Scope, labels: Mapping[str, str]):
        self.scope = scope
        self.labels = labels

    def value(self, node: Node) -> Any:
        return eval_expr(node, self.scope)

    def reason(self, node: Node, val: Any) -> str:
        parts = self.explain(node, val)
        seen: list[str] = []
        for p in parts:
            if p not in seen:
                seen.append(p)
        return "; ".join(seen)

    def label(self, node: Node, val: Any) -> str:
        key = node.dotted if isinstance(node, Name) else node.text
        tmpl = self.labels.get(key)
        if tmpl is None:
            return f"{key} {_fmt(val)}"
        if "{value}" not in tmpl:
            tmpl = tmpl + " {value}"
        return re.sub(r"\{([^}]+)\}", lambda m: self._placeholder(m.group(1), val), tmpl)

    def _placeholder(self, expr: str, val: Any) -> str:
        if expr == "value":
            return _fmt(val)
        try:
            return _fmt(eval_expr(parse(expr), self.scope))
        except ExprError:
            return "{" + expr + "}"

    def missing_names(self, node: Node) -> list[str]:
        out: list[str] = []
        for name in sorted(names_in(node)):
            path = tuple(name.split("."))
            if path[0] in self.scope.derived and len(path) == 1:
                if self.value(Name(path)) is UNKNOWN:
                    inner = self.missing_names(self.scope.derived[path[0]])
                    out.extend(inner or [name])
                continue
            try:
                if self.scope.resolve(path, {}) is UNKNOWN:
                    out.append(name)
            except ExprError:  # pragma: no cover - checked statically
                out.append(name)
        return out

    def explain(self, node: Node, val: Any) -> list[str]:
        if isinstance(node, Logical):
            lv, rv = self.value(node.left), self.value(node.right)
            if node.op == "and":
                if val is False:
                    picks = [(n, v) for n, v in ((node.left, lv), (node.right, rv)) if v is False]
                elif val is UNKNOWN:
                    picks = [(n, v) for n, v in ((node.left, lv), (node.right, rv)) if v is UNKNOWN]
                else:
                    picks = [(node.left, lv), (node.right, rv)]
            else:
                if val is True:
                    picks = [next((n, v) for n, v in ((node.left, lv), (node.right, rv)) if v is True)]
                elif val is UNKNOWN:
                    picks = [(n, v) for n, v in ((node.left, lv), (node.right, rv)) if v is UNKNOWN]
                else:
                    picks = [(node.left, lv), (node.right, rv)]
            out: list[str] = []
            for n, v in picks:
                out.extend(self.explain(n, v))
            return out
        if isinstance(node, Unary) and node.op == "not":
            return self.explain(node.operand, UNKNOWN if val is UNKNOWN else not val)
        if val is UNKNOWN:
            miss = self.missing_names(node)
            return [f"{m} missing" for m in miss] or [f"{node.text}: missing"]
        if isinstance(node, Binary) and node.op in ("==", "!=", "<", "<=", ">", ">=", "in", "notin"):
            return [self.compare(node, val)]
        if isinstance(node, Name):
            return [self.label(node, val) if node.dotted in self.labels else f"{node.dotted}: {_fmt(val)}"]
        if isinstance(node, (Comprehension, IfExpr)) or True:
            return [self.label(node, val)]

    def compare(self, node: Binary, val: Any) -> str:
        lv, rv = self.value(node.left), self.value(node.right)
        if val:
            sym = _SHOW.get(node.op, node.op)
        elif node.op in _NEGATE:
            sym = _NEGATE[node.op]
        else:
            sym = "<" if lv < rv else ">" if lv > rv else "="
        left = self.label(node.left, lv) if not isinstance(node.left, LiteralNode) else _fmt(lv)
        right = _fmt(rv)
        if isinstance(node.right, Name) and node.right.path[0] != "thresholds":
            right = self.label(node.right, rv)
        elif not isinstance(node.right, (LiteralNode, Name)) and not node.right.text.startswith("["):
            right = f"{right} ({node.right.text})"
        return f"{left} {sym} {right}"


def load_spec(data: Mapping[str, Any]) -> EligibilitySpec:
    """Validate a parsed ``operations.eligibility`` mapping; errors name the criterion and the problem."""
    try:
        return EligibilitySpec.model_validate(data)
    except ValidationError:
        raise
