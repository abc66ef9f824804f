"""The subject casebook: its header, the Summary and Audit tabs, the lesion grid, and the links that sit on each
captured value ("raise a query about this value") and on each record ("History").

A value a query may be raised about is named by a *target* ``entity_type:entity_id:field`` (``dose:12:actual_mg``).
The fields a target may name are listed in :data:`RAISE_FIELDS` (a tumour assessment's lesion is
``lesions.<lesion id>``); any other is refused. The casebook links such a value to
``?tab=queries&raise=<target>``: the raise-query form comes pre-filled, showing the value in words, and the user
types only the message. Without ``query.raise`` a value is plain text.

Audit: the History links (``/ops/audit?entity_type=dose&entity_id=12``) and the Audit tab are shown only to holders
of ``audit.view`` at the subject's site, since they lead to the audit-trail page that needs that permission; other
roles see neither (the record's own entry details stay on its tab).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from trialdesk.domain.access import Action, Principal
from trialdesk.entrypoints.web.i18n import day, num, when
from trialdesk.entrypoints.web.i18n import gettext as _
from trialdesk.entrypoints.web.labels import N_, label

Panel = dict[str, Any]

#: The fields of each record type a query may be raised about from the casebook.
RAISE_FIELDS: dict[str, tuple[str, ...]] = {
    "dose": ("dose_date", "planned_mg", "actual_mg", "weight_kg"),
    "adverse_event": ("term", "grade", "onset_date", "resolution_date", "serious", "outcome"),
    "tumor_assessment": ("assessment_date",),
    "disposition": ("event_date", "reason"),
    "screening": ("screened_on", "verdict"),
    "subject": ("status",),
}
#: Each queryable field in words (the msgid; shown translated)
FIELD_NAMES: dict[str, str] = {
    "dose_date": N_("dose date"),
    "planned_mg": N_("planned dose (mg)"),
    "actual_mg": N_("dose given (mg)"),
    "weight_kg": N_("weight (kg)"),
    "term": N_("CTCAE term"),
    "grade": N_("grade"),
    "onset_date": N_("onset date"),
    "resolution_date": N_("resolution date"),
    "serious": N_("serious"),
    "outcome": N_("outcome"),
    "assessment_date": N_("assessment date"),
    "event_date": N_("event date"),
    "reason": N_("reason"),
    "screened_on": N_("screening date"),
    "verdict": N_("verdict"),
    "status": N_("status"),
}
_DATE_FIELDS = frozenset({"dose_date", "onset_date", "resolution_date", "assessment_date", "event_date", "screened_on"})
_CODE_FIELDS = frozenset({"outcome", "verdict", "status"})
_LESION_FIELD = re.compile(r"^lesions\.[A-Za-z0-9_-]{1,20}$")
_TARGET = re.compile(r"^([a-z_]{1,40}):([0-9]{1,18}|[A-Za-z0-9_/-]{1,80}):([A-Za-z0-9_.-]{1,60})$")

#: The column (by index) of each record panel whose value a query may be about: column -> field.
_COLUMN_FIELDS: dict[str, tuple[str, dict[int, str]]] = {
    "doses": ("dose", {2: "dose_date", 3: "planned_mg", 4: "actual_mg", 5: "weight_kg"}),
    "adverse_events": (
        "adverse_event",
        {1: "term", 2: "grade", 3: "onset_date", 4: "resolution_date", 5: "serious", 6: "outcome"},
    ),
    "disposition": ("disposition", {1: "event_date", 2: "reason"}),
    "screenings": ("screening", {1: "screened_on", 2: "verdict"}),
}


def parse_target(target: str) -> tuple[str, str, str] | None:
    """``(entity_type, entity_id, field)`` of a target whose field may be queried from the casebook, else None."""
    m = _TARGET.match(target.strip())
    if m is None:
        return None
    entity_type, entity_id, field = m.groups()
    allowed = RAISE_FIELDS.get(entity_type)
    if allowed is None:
        return None
    if field in allowed or (entity_type == "tumor_assessment" and _LESION_FIELD.match(field)):
        return entity_type, entity_id, field
    return None


def raise_href(subject_number: str, target: str) -> str:
    return f"/ops/subjects/{subject_number}?" + urlencode({"tab": "queries", "raise": target}) + "#query-raise-form"


def history_href(entity_type: str, entity_id: Any) -> str:
    return "/ops/audit?" + urlencode({"entity_type": entity_type, "entity_id": str(entity_id)})


def drug_names(uow: Any, nct_id: str) -> dict[str, str]:
    """Each study drug's name (``docetaxel`` → ``Docetaxel``, 多西他赛 in Chinese): the protocol's regimens, in the
    page's language where the protocol's translations name it."""
    from trialdesk.entrypoints.web.protocol_text import protocol_text
    from trialdesk.services.subjects import protocol

    spec = protocol(uow, nct_id)
    treatment = spec.operations.treatment
    if treatment is None:
        return {}
    return {d.drug: protocol_text(spec, "drugs", d.drug, d.name) for arm in treatment.arms for d in arm.drugs}


def date_cell(value: Any) -> dict[str, str] | str:
    """A table cell of a calendar date as people read it (``1 Mar 2026`` / ``2026年3月1日``), the ISO date kept for
    machines: the page writes ``<time datetime="2026-03-01">1 Mar 2026</time>``. Blank when there is no date."""
    if value is None or value == "":
        return ""
    return {"text": day(value), "datetime": str(value)[:10]}


def moment_cell(value: Any) -> dict[str, str] | str:
    """A table cell of a moment in the sites' time zone, to the minute (``2 Mar 2026, 10:00 CST``), the stored UTC
    moment kept in ``datetime``. Blank when there is none."""
    if value is None or value == "":
        return ""
    return {"text": when(value), "datetime": str(value)}


def _shown(value: Any, field: str = "") -> str:
    """A queried value as people read it: dates in the human format, codes as labels, yes/no, rounded numbers."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if field in _DATE_FIELDS:
        return day(value)
    if field in _CODE_FIELDS:
        return label(value)
    if isinstance(value, float):
        return num(value, 1)
    return str(value)


def _records(uow: Any, principal: Principal, nct_id: str, subject: Any, entity_type: str) -> list[dict[str, Any]]:
    """The subject's records of a type as the casebook shows them, in the panels' row order."""
    from trialdesk.services import adverse_events, treatment, tumor

    number = subject.subject_number
    if entity_type == "dose":
        names = drug_names(uow, nct_id)
        return [
            {**d, "drug_name": names.get(d["drug"], d["drug"])}
            for d in treatment.list_doses(uow, principal, nct_id, number)
        ]
    if entity_type == "adverse_event":
        return [adverse_events.ae_dict(uow, r, number) for r in uow.adverse_events.for_subject(subject.id)]
    if entity_type == "disposition":
        return list(treatment.list_dispositions(uow, principal, nct_id, number))
    if entity_type == "tumor_assessment":
        return list(tumor.recist_summary(uow, principal, nct_id, number)["assessments"])
    if entity_type == "screening":
        return [
            {
                "id": r.id,
                "screening_number": r.screening_number,
                "screened_on": r.screened_on,
                "verdict": r.verdict,
                "audit_id": f"{r.site_key}/{r.screening_number}",
            }
            for r in uow.screenings.for_subject(subject.id)
        ]
    return []


def _words(entity_type: str, record: dict[str, Any], field: str, subject_number: str) -> str:
    """The value a query is about, in words: ``Dose #12, cycle 3 docetaxel: actual mg = 120``."""
    name = _(FIELD_NAMES[field]) if field in FIELD_NAMES else field.replace("_", " ")
    if entity_type == "dose":
        drug = record.get("drug_name") or record["drug"]
        head = _("Dose #%(id)s, cycle %(cycle)s %(drug)s", id=record["id"], cycle=record["cycle"], drug=drug)
    elif entity_type == "adverse_event":
        head = _("Adverse event #%(id)s, %(term)s", id=record["id"], term=record["term"])
    elif entity_type == "disposition":
        head = _("Disposition #%(id)s, %(kind)s", id=record["id"], kind=str(record["kind"]).replace("_", " "))
    elif entity_type == "screening":
        head = _("Screening %(number)s", number=record["screening_number"])
    elif entity_type == "tumor_assessment":
        head = _("Tumour assessment #%(id)s of %(date)s", id=record["id"], date=day(record["assessment_date"]))
        if field.startswith("lesions."):
            lesion_id = field.split(".", 1)[1]
            lesion: dict[str, Any] = next((le for le in record["lesions"] if le.get("lesion_id") == lesion_id), {})
            value = lesion.get("measurement", lesion.get("status"))
            lesion_words = _("lesion %(id)s", id=lesion_id)
            return f"{head}: {lesion_words} = {_shown(value)}"
    else:
        head = _("Subject %(number)s", number=subject_number)
    return f"{head}: {name} = {_shown(record.get(field), field)}"


def describe(uow: Any, principal: Principal, nct_id: str, subject: Any, target: str) -> dict[str, str] | None:
    """The pre-filled raise-query form of ``target``: its parts and the value in words (None: not a value of this
    subject's records that may be queried)."""
    parsed = parse_target(target)
    if parsed is None:
        return None
    entity_type, entity_id, field = parsed
    if entity_type == "subject":
        record: dict[str, Any] | None = {"status": subject.status} if entity_id == subject.subject_number else None
    else:
        records = _records(uow, principal, nct_id, subject, entity_type)
        record = next((r for r in records if str(r["id"]) == entity_id), None)
    if record is None:
        return None
    return {
        "target": f"{entity_type}:{entity_id}:{field}",
        "entity_type": entity_type,
        "entity_id": entity_id,
        "field": field,
        "about": _words(entity_type, record, field, subject.subject_number),
    }


def sdv_states(uow: Any, principal: Principal, nct_id: str, subject: Any) -> dict[tuple[str, str], str]:
    """Each record's source-data-verification state (``services.monitoring``): verified, changed or unverified."""
    from trialdesk.services import monitoring

    refs = [(r.entity_type, r.entity_id) for r in monitoring.subject_records(uow, subject)]
    return monitoring.sdv_state_for(uow, principal, nct_id, subject.subject_number, refs)


#: The SDV badge of a record's state (unverified: none).
SDV_BADGE = {"verified": N_("SDV ✓"), "changed": N_("changed since SDV")}


def sdv_badge(states: dict[tuple[str, str], str], entity_type: str, entity_id: Any) -> str:
    """The badge of a record (translated), blank when it is not verified."""
    badge = SDV_BADGE.get(states.get((entity_type, str(entity_id)), ""))
    return _(badge) if badge else ""


def about_many(
    uow: Any, principal: Principal, nct_id: str, subject: Any, items: list[tuple[str, str, str]]
) -> list[str]:
    """What each ``(entity_type, entity_id, field)`` is about, in words with the value as it is now (the Queries
    tab's "On" column); a record or field the casebook does not know reads ``type id · field``."""
    cache: dict[str, dict[str, dict[str, Any]]] = {}
    out = []
    for entity_type, entity_id, field in items:
        record: dict[str, Any] | None = None
        if entity_type == "subject":
            record = {"status": subject.status} if entity_id == subject.subject_number else None
        elif entity_type in RAISE_FIELDS:
            if entity_type not in cache:
                records = _records(uow, principal, nct_id, subject, entity_type)
                cache[entity_type] = {str(r["id"]): r for r in records}
            record = cache[entity_type].get(str(entity_id))
        known = parse_target(f"{entity_type}:{entity_id}:{field}") is not None and field in (record or {})
        known = known or (record is not None and field.startswith("lesions."))
        if record is not None and known:
            out.append(_words(entity_type, record, field, subject.subject_number))
        else:
            out.append(f"{entity_type} {entity_id} · {field}")
    return out


def decorate(uow: Any, principal: Principal, nct_id: str, subject: Any, panels: dict[str, Panel]) -> None:
    """Link each captured value of the record panels to raising a query about it (``query.raise``), give each row
    its SDV badge, and a History link (``audit.view`` holders)."""
    can_raise = principal.can(Action.QUERY_RAISE, subject.site_key)
    can_audit = principal.can(Action.AUDIT_VIEW, subject.site_key)
    sdv: dict[tuple[str, str], str] | None = None
    for name, (entity_type, columns) in _COLUMN_FIELDS.items():
        panel = panels.get(name)
        if not panel or not panel.get("rows"):
            continue
        records = _records(uow, principal, nct_id, subject, entity_type)
        if len(records) != len(panel["rows"]):
            continue  # not the rows the records describe: leave the panel as it is
        if sdv is None:
            sdv = sdv_states(uow, principal, nct_id, subject)
        rows = []
        for record, row in zip(records, panel["rows"]):
            cells = list(row)
            if can_raise:
                for index, field in columns.items():
                    cell = cells[index] if index < len(cells) else None
                    if index >= len(cells) or (isinstance(cell, dict) and ("href" in cell or "raise" in cell)):
                        continue  # a link already, or no such column
                    target = f"{entity_type}:{record['id']}:{field}"
                    cells[index] = {
                        **(cell if isinstance(cell, dict) else {"text": cell}),  # a date keeps its datetime
                        "raise": raise_href(subject.subject_number, target),
                        "about": _words(entity_type, record, field, subject.subject_number),
                    }
            cells.append(sdv_badge(sdv, entity_type, record["id"]))
            if can_audit:
                audit_id = record.get("audit_id", record["id"])
                cells.append({"href": history_href(entity_type, audit_id), "text": _("History"), "small": True})
            rows.append(cells)
        panel["rows"] = rows
        panel["columns"] = [*panel["columns"], N_("SDV"), *([N_("Audit")] if can_audit else [])]
        panel["labelled"] = True


def lesion_grid(uow: Any, principal: Principal, nct_id: str, subject: Any, assessments: list[dict[str, Any]]) -> Panel:
    """Each lesion (id, kind, organ, site) × each assessment: its size in mm or its status; the size of a lesion
    links to raising a query about it."""
    can_raise = principal.can(Action.QUERY_RAISE, subject.site_key)
    lesions: dict[str, dict[str, Any]] = {}
    for a in assessments:
        for le in a["lesions"]:
            lesions.setdefault(le["lesion_id"], le)
    columns = [_("Lesion"), _("Kind"), _("Organ / site")] + [day(a["assessment_date"]) for a in assessments]
    rows = []
    for lesion_id, first in lesions.items():
        row: list[Any] = [
            lesion_id,
            label(first.get("kind", "")),
            " · ".join(str(x) for x in (first.get("organ"), first.get("site")) if x)
            + (" (" + _("nodal") + ")" if first.get("nodal") else ""),
        ]
        for a in assessments:
            found = next((le for le in a["lesions"] if le["lesion_id"] == lesion_id), None)
            if found is None:
                row.append("")
                continue
            value = found.get("measurement")
            status = found.get("status")
            if isinstance(value, (int, float)):
                text = _("%(mm)s mm", mm=num(value, 1))
            else:
                text = label(status) if status else _shown(value)
            if can_raise:
                target = f"tumor_assessment:{a['id']}:lesions.{lesion_id}"
                about = _words("tumor_assessment", a, f"lesions.{lesion_id}", subject.subject_number)
                row.append({"text": text, "raise": raise_href(subject.subject_number, target), "about": about})
            else:
                row.append(text)
        rows.append(row)
    return {
        "title": _("Lesions"),
        "columns": columns,
        "rows": rows,
        "labelled": True,
        "codes": {1},
        "empty": _("No lesion recorded."),
    }


def arm_label(uow: Any, nct_id: str, allocation: dict[str, Any] | None) -> str | None:
    """The arm as the randomization service shows it to this user, in the page's language where the protocol's
    translations name it (an arm the user may not see stays as the service shows it)."""
    if not allocation:
        return None
    shown: str | None = allocation["arm_label"] or allocation["arm"]
    if not allocation["arm"]:
        return shown
    from trialdesk.entrypoints.web.protocol_text import protocol_text
    from trialdesk.services.subjects import protocol

    return protocol_text(protocol(uow, nct_id), "arms", str(allocation["arm"]), shown or "")


def header(uow: Any, principal: Principal, nct_id: str, subject: Any) -> dict[str, Any]:
    """The casebook header: allocation (arm as the randomization service shows it to this user), key dates,
    open queries and the signature state."""
    from trialdesk.services import queries, signatures, treatment
    from trialdesk.services import randomization as rz

    number = subject.subject_number
    allocation = rz.get_allocation(uow, principal, nct_id, number)
    found = queries.list_queries(uow, principal, nct_id, subject_number=number)
    dispositions = treatment.list_dispositions(uow, principal, nct_id, number) if allocation else []
    signature = signatures.casebook_status(uow, principal, nct_id, number)
    return {
        "allocation": allocation,
        "arm": arm_label(uow, nct_id, allocation),
        "randomized_on": allocation["randomized_on"] if allocation else None,
        "created_on": str(subject.created_at)[:10],
        "screened_on": max(
            (r["screened_on"] for r in _records(uow, principal, nct_id, subject, "screening")), default=None
        ),
        "dispositions": [(d["kind"], d["event_date"]) for d in dispositions],
        "open_queries": sum(1 for q in found if q["status"] != "closed"),
        "signature": signature["status"],
        "can_audit": principal.can(Action.AUDIT_VIEW, subject.site_key),
    }


def summary(uow: Any, principal: Principal, nct_id: str, subject: Any) -> dict[str, Any]:
    """The Summary tab: the next visits, the queries not closed and the SAE reporting clocks still running."""
    from trialdesk.domain.errors import TrialdeskError
    from trialdesk.services import adverse_events, queries, treatment

    number = subject.subject_number
    try:
        visits = [v for v in treatment.subject_calendar(uow, principal, nct_id, number) if v.status.value != "done"]
    except TrialdeskError:
        visits = []
    open_queries = [
        q for q in queries.list_queries(uow, principal, nct_id, subject_number=number) if q["status"] != "closed"
    ]
    events = [adverse_events.ae_dict(uow, r, number) for r in uow.adverse_events.for_subject(subject.id)]
    clocks = [e for e in events if e["sae"] and not e["sae"]["reported_at"]]
    return {"visits": visits[:4], "queries": open_queries, "sae_clocks": clocks}


def audit_events(uow: Any, principal: Principal, nct_id: str, subject: Any, limit: int = 25) -> list[dict[str, Any]]:
    """The subject's latest audit events (``audit.view`` holders only: the caller checks): those of the subject and
    those naming it, and those of each of its records (doses, adverse events, assessments, dispositions, queries).
    Newest first.

    The services now name the subject (``subject_number``) in every event about its records, so the subject
    filter alone finds what they write; the records' own events are still gathered because the filter is not
    equivalent for events already in the chain (written before, and the trail is never rewritten) nor for the
    SDV marks of ``services.monitoring``, which name the subject as ``subject``."""
    from trialdesk.services import queries
    from trialdesk.services.audit import audit_trail

    found = {r.seq: r for r in audit_trail(uow, principal, nct_id, subject=subject.subject_number, limit=limit)}
    records = [(t, r["id"]) for t in ("dose", "adverse_event", "tumor_assessment", "disposition")
               for r in _records(uow, principal, nct_id, subject, t)]  # fmt: skip
    records += [
        ("query", q["id"]) for q in queries.list_queries(uow, principal, nct_id, subject_number=subject.subject_number)
    ]
    for entity_type, entity_id in records:
        for r in audit_trail(uow, principal, nct_id, entity_type=entity_type, entity_id=str(entity_id), limit=limit):
            found[r.seq] = r
    newest = sorted(found.values(), key=lambda r: r.seq, reverse=True)[:limit]
    return [
        {
            "occurred_at": r.occurred_at,
            "actor": r.actor,
            "action": r.action,
            "entity_type": r.entity_type,
            "entity_id": r.entity_id,
            "reason": r.reason,
        }
        for r in newest
    ]
