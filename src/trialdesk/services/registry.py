"""Registry use cases: load and import trials, read them back, export them, rank related trials."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from typing import Protocol as TypingProtocol

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.audit import canonical_json
from trialdesk.domain.errors import NotFound
from trialdesk.domain.protocol import OverallStatus, Protocol, SiteStatus
from trialdesk.domain.records import Trial
from trialdesk.services.unit_of_work import UnitOfWork


@lru_cache(maxsize=64)
def _parse(protocol_json: str) -> Protocol:
    return Protocol.model_validate_json(protocol_json)


_BY_VERSION: dict[tuple[int | None, str, str], Protocol] = {}


def _protocol_of(row: Trial) -> Protocol:
    """The row's protocol, parsed once per (trial, version): the JSON column is loaded only on a cache miss."""
    key = (row.id, row.nct_id, row.updated_at)
    cached = _BY_VERSION.get(key)
    if cached is None:
        cached = _parse(row.protocol_json)
        if len(_BY_VERSION) > 256:
            _BY_VERSION.clear()
        _BY_VERSION[key] = cached
    return cached


def _search_text(p: Protocol) -> str:
    r = p.registry
    parts = [
        r.nct_id,
        r.identification.brief_title,
        r.identification.official_title or "",
        r.brief_summary or "",
        " ".join(r.conditions),
        " ".join(r.keywords),
        " ".join(i.name for i in r.interventions),
        r.sponsor.name if r.sponsor else "",
        " ".join(loc.city or "" for loc in r.locations),
    ]
    return " ".join(parts).lower()


def _summary(p: Protocol) -> dict[str, Any]:
    r = p.registry
    return {
        "nct_id": r.nct_id,
        "brief_title": r.identification.brief_title,
        "overall_status": r.status.overall_status.value,
        "locations": len(r.locations),
        "operations": sorted(k for k, v in p.operations.model_dump(exclude_none=True).items() if v),
    }


def save_protocol(uow: UnitOfWork, protocol: Protocol, *, source: str = "protocol", reason: str | None = None) -> str:
    """Create or replace a trial's protocol. Sites are created from the record's locations; an existing site
    keeps its live status (set by site activation), so reloading a protocol never silently reopens a site.
    Returns ``"created"``, ``"updated"`` or ``"unchanged"``."""
    now = uow.now().isoformat()
    nct = protocol.nct_id
    text = protocol.model_dump_json(by_alias=True)
    row = uow.trials.get(nct, for_update=True)
    outcome = "created"
    if row is None:
        row = uow.trials.create(
            nct_id=nct,
            brief_title=protocol.registry.identification.brief_title,
            overall_status=protocol.registry.status.overall_status.value,
            source=source,
            protocol_json=text,
            search_text=_search_text(protocol),
            created_at=now,
            updated_at=now,
        )
        uow.record("trial.created", "trial", nct, after=_summary(protocol), reason=reason, trial=nct)
    else:
        if row.protocol_json == text:
            return "unchanged"
        before = _summary(_parse(row.protocol_json))
        row.protocol_json, row.brief_title = text, protocol.registry.identification.brief_title
        row.overall_status, row.source = protocol.registry.status.overall_status.value, source
        row.search_text, row.updated_at = _search_text(protocol), now
        outcome = "updated"
        uow.record("trial.updated", "trial", nct, before=before, after=_summary(protocol), reason=reason, trial=nct)
    existing = {s.site_key: s for s in uow.sites.for_trial(stored_id(row))}
    for position, loc in enumerate(protocol.registry.locations):
        site = existing.get(loc.site_id)
        if site is None:
            uow.sites.create(
                trial_id=row.id,
                site_key=loc.site_id,
                position=position,
                facility=loc.facility,
                city=loc.city,
                state=loc.state,
                country=loc.country,
                status=loc.status.value if loc.status else None,
            )
        else:
            site.position, site.facility, site.city = position, loc.facility, loc.city
            site.state, site.country = loc.state, loc.country
    return outcome


def load_protocol(
    uow: UnitOfWork, principal: Principal, protocol: Protocol, *, source: str = "protocol", reason: str | None = None
) -> str:
    """Create or replace a trial's protocol on behalf of ``principal`` (admin, ``Action.PROTOCOL_LOAD``).

    The guarded entry to :func:`save_protocol` (which stays unguarded for bootstrap and scratch copies).
    Returns ``"created"``, ``"updated"`` or ``"unchanged"``; a refusal is audited and writes nothing.
    """
    require(principal, Action.PROTOCOL_LOAD)
    return save_protocol(uow, protocol, source=source, reason=reason)


class _Stored(TypingProtocol):
    @property
    def id(self) -> int | None: ...


def stored_id(record: _Stored) -> int:
    """The id of a record that storage holds: records carry ``id: int | None`` because a new one has no id until
    it is first written; every record a repository returns has one."""
    if record.id is None:
        raise RuntimeError(f"this {type(record).__name__} has not been written yet")
    return record.id


def get_trial_row(uow: UnitOfWork, nct_id: str) -> Trial:
    row = uow.trials.get(nct_id)
    if row is None:
        raise NotFound(f"trial {nct_id} is not loaded")
    return row


def _current_status(uow: UnitOfWork, nct_id: str) -> tuple[OverallStatus, str | None]:
    """The computed overall status and last-updated date; their one home is
    :func:`trialdesk.services.results_posting.current_status` (imported here, as it builds on this module)."""
    from trialdesk.services.results_posting import current_status

    return current_status(uow, nct_id)


def get_protocol(uow: UnitOfWork, nct_id: str, *, live_sites: bool = True) -> Protocol:
    """The trial's protocol as stored; with ``live_sites``, as it stands now: the locations carry the sites'
    current status, and the record's overall status and last-update date are the computed ones the public page
    shows (:func:`trialdesk.services.results_posting.current_status`)."""
    row = get_trial_row(uow, nct_id)
    protocol = _protocol_of(row)
    if not live_sites:
        return protocol
    status = {s.site_key: s.status for s in uow.sites.for_trial(stored_id(row))}
    locations = [
        loc.model_copy(update={"status": SiteStatus(live) if (live := status.get(loc.site_id)) else loc.status})
        for loc in protocol.registry.locations
    ]
    overall, last_updated = _current_status(uow, nct_id)
    record_status = protocol.registry.status.model_copy(
        update={
            "overall_status": overall,
            "last_update_post_date": last_updated or protocol.registry.status.last_update_post_date,
        }
    )
    registry = protocol.registry.model_copy(update={"locations": locations, "status": record_status})
    return protocol.model_copy(update={"registry": registry})


#: The scheme's parameters that, with the allocation history, let a reader predict the next arm (the block
#: sizes end a block; the minimization settings say how strongly the next arm is forced). Only the roles that
#: hold the list itself (statistician) or load the protocol (admin) see them.
CONCEALED_SCHEME_FIELDS: tuple[str, ...] = ("block_sizes", "minimization")


def sees_scheme(principal: Principal) -> bool:
    """Whether the principal may see the randomization scheme's parameters (statistician and admin only)."""
    return principal.can(Action.RANDOMIZATION_LIST) or principal.can(Action.PROTOCOL_LOAD)


def protocol_json_for(principal: Principal, protocol: Protocol) -> dict[str, Any]:
    """The protocol as API JSON, without the scheme's parameters for roles that must not predict allocations.

    The fields and their rationale entries (``assumptions``) are both removed: the rationale names the sizes.
    """
    data: dict[str, Any] = protocol.model_dump(mode="json", by_alias=True, exclude_none=True)
    rz = data.get("operations", {}).get("randomization")
    if rz is not None and not sees_scheme(principal):
        for name in CONCEALED_SCHEME_FIELDS:
            rz.pop(name, None)
            if isinstance(rz.get("assumptions"), dict):
                rz["assumptions"].pop(name, None)
    return data


def list_trials(uow: UnitOfWork, query: str | None = None) -> list[dict[str, Any]]:
    """Loaded trials (optionally those holding every word of ``query``) with the computed overall status and
    last-updated date the public page shows."""
    rows = uow.trials.list()
    out = []
    words = [w for w in re.split(r"\s+", (query or "").lower()) if w]
    for row in rows:
        if words and not all(w in row.search_text for w in words):
            continue
        overall, last_updated = _current_status(uow, row.nct_id)
        out.append(
            {
                "nct_id": row.nct_id,
                "brief_title": row.brief_title,
                "overall_status": overall.value,
                "last_updated": last_updated,
                "source": row.source,
                "has_results": row.results_json is not None,
            }
        )
    return out


def posted_results(uow: UnitOfWork, nct_id: str) -> dict[str, Any] | None:
    import json

    row = get_trial_row(uow, nct_id)
    results: dict[str, Any] | None = json.loads(row.results_json) if row.results_json else None
    return results


def export_study(uow: UnitOfWork, nct_id: str) -> dict[str, Any]:
    """The trial as a CT.gov API v2 study (with its posted results), through the study documents port."""
    return uow.ports.studies.protocol_to_study(get_protocol(uow, nct_id), results_section=posted_results(uow, nct_id))


_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"and", "or", "the", "of", "in", "for", "with", "plus", "combined", "injection", "drug", "a", "to"}


def _terms(p: Protocol) -> set[str]:
    text = " ".join(p.registry.conditions + [i.name for i in p.registry.interventions] + p.registry.keywords)
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


@dataclass(frozen=True)
class RelatedTrial:
    nct_id: str
    brief_title: str
    score: float
    shared_terms: tuple[str, ...]


def related_trials(uow: UnitOfWork, nct_id: str, limit: int = 5) -> list[RelatedTrial]:
    """Other loaded trials ranked by Jaccard similarity of their condition and intervention terms."""
    me = _terms(get_protocol(uow, nct_id, live_sites=False))
    ranked = []
    for row in uow.trials.list():
        if row.nct_id == nct_id:
            continue
        other = _terms(_parse(row.protocol_json))
        union = me | other
        score = len(me & other) / len(union) if union else 0.0
        if score > 0:
            ranked.append(RelatedTrial(row.nct_id, row.brief_title, round(score, 3), tuple(sorted(me & other))))
    ranked.sort(key=lambda r: (-r.score, r.nct_id))
    return ranked[:limit]


def protocol_digest(protocol: Protocol) -> str:
    import hashlib

    return hashlib.sha256(canonical_json(protocol.model_dump(mode="json")).encode()).hexdigest()
