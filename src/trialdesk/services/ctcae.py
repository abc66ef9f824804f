"""CTCAE dictionary in the database: the terms shipped with the package are loaded at first start
(:func:`ensure_loaded`); ``trialdesk ctcae load XLSX`` swaps in NCI's workbook (versioned by its SHA-256, audited,
refused when it would orphan recorded adverse events); services read the terms to code AEs."""

from __future__ import annotations

import json
from typing import Any

from trialdesk.domain.access import SYSTEM, Action, Principal, require
from trialdesk.domain.ctcae import CtcaeDictionary, CtcaeTerm
from trialdesk.domain.errors import Conflict, InvalidInput
from trialdesk.services.unit_of_work import UnitOfWork

CTCAE_VERSION = "5.0"


def loaded_from(uow: UnitOfWork, version: str = CTCAE_VERSION) -> dict[str, Any] | None:
    """What the stored dictionary was loaded from (the last ``ctcae.*`` audit event of that version:
    ``{"version", "sha256", "source", ...}``); None when none was recorded."""
    for event in uow.audit.query(entity_type="ctcae", entity_id=version, limit=1):
        after = json.loads(event.after_json or "null")
        return after if isinstance(after, dict) else None
    return None


def orphans(uow: UnitOfWork, terms: list[CtcaeTerm]) -> list[str]:
    """The recorded adverse events a dictionary of ``terms`` would leave uncoded: their MedDRA code is gone, now
    names another term, or their grade is not defined any more. One line each (code, term, grade)."""
    by_code = {t.meddra_code: t for t in terms}
    out = []
    for code, name, grade in uow.ctcae.recorded():
        term = by_code.get(code)
        if term is None:
            out.append(f"{name!r} (MedDRA {code}) is not in the new dictionary")
        elif term.term != name:
            out.append(f"{name!r} (MedDRA {code}) is named {term.term!r} in the new dictionary")
        elif grade not in term.defined_grades:
            out.append(f"{name!r} grade {grade} is not defined in the new dictionary")
    return out


def load_terms(
    uow: UnitOfWork,
    principal: Principal,
    terms: list[CtcaeTerm],
    *,
    version: str = CTCAE_VERSION,
    source: str | None = None,
    sha256: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Make the stored terms of one CTCAE version exactly ``terms`` (admin, ``Action.CTCAE_LOAD``).

    Terms are matched by MedDRA code: new ones are inserted, changed ones updated, and those the new list lacks
    removed. Idempotent: a second load of the same file changes nothing. A swap that would orphan a recorded
    adverse event (see :func:`orphans`) is refused with :class:`Conflict` naming them, and changes nothing.
    Audited (``ctcae.loaded``, or ``ctcae.swapped`` when the file differs from the one loaded before), with the
    counts, the source, the file's SHA-256 and, as ``before``, what was loaded until now.

    Returns
    -------
    dict
        ``{"version", "count", "inserted", "updated", "removed", "unchanged", "source", "sha256", "previous"}``.
    """
    require(principal, Action.CTCAE_LOAD)
    if not terms:
        raise InvalidInput("no terms to load", field="terms")
    CtcaeDictionary(terms, version=version)  # unique names and codes, or InvalidInput
    lost = orphans(uow, terms)
    if lost:
        shown = "; ".join(lost[:10]) + (f"; and {len(lost) - 10} more" if len(lost) > 10 else "")
        raise Conflict(
            f"refused: loading {source or 'these terms'} would orphan {len(lost)} recorded adverse event "
            f"term(s): {shown}. Recode those adverse events first, or keep the current dictionary."
        )
    previous = loaded_from(uow, version)
    stored = {r.meddra_code for r in uow.ctcae.all(version)}
    counts = uow.ctcae.upsert(version, terms)
    counts["removed"] = uow.ctcae.remove(version, sorted(stored - {t.meddra_code for t in terms}))
    before = {k: previous.get(k) for k in ("version", "count", "source", "sha256")} if previous is not None else None
    swapped = before is not None and before.get("sha256") != sha256
    result: dict[str, Any] = {
        "version": version,
        "count": uow.ctcae.count(version),
        **counts,
        "source": source,
        "sha256": sha256,
        "previous": before,
    }
    changed = counts["inserted"] + counts["updated"] + counts["removed"]
    uow.record(
        "ctcae.swapped" if swapped else "ctcae.loaded",
        "ctcae",
        version,
        before=before,
        after={k: v for k, v in result.items() if k != "previous"},
        reason=reason or f"CTCAE v{version}: {len(terms)} terms loaded from {source or 'a list'} ({changed} changed)",
        actor=principal.username,
    )
    return result


def ensure_loaded(uow: UnitOfWork, principal: Principal = SYSTEM, version: str = CTCAE_VERSION) -> dict[str, Any]:
    """On start: make sure a CTCAE dictionary is stored, as ``principal`` (the system at bootstrap; audited).

    Nothing stored yet: load ``ctcae_xlsx`` when configured, else the dictionary shipped with the package. Stored
    already and ``ctcae_xlsx`` configured with a file other than the one loaded (by SHA-256): swap it in, unless
    that would orphan recorded adverse events (then the stored dictionary stays, and ``status`` says why).

    Returns
    -------
    dict
        ``{"status": "loaded" | "swapped" | "kept" | "refused", "message", ...the load's result}``; the caller
        commits.
    """
    source = uow.ports.ctcae
    configured = source.configured()
    if uow.ctcae.count(version) and configured is None:
        return {"status": "kept", "message": f"CTCAE v{version} dictionary already loaded"}
    if configured is not None:
        current = loaded_from(uow, version) or {}
        if configured.is_file() and uow.ctcae.count(version) and current.get("sha256") == source.sha256(configured):
            return {"status": "kept", "message": f"CTCAE v{version}: {configured.name} is the loaded dictionary"}
        chosen = source.read_set(configured)  # InvalidInput names the file when it is missing or not a workbook
    else:
        chosen = source.shipped()
    first = not uow.ctcae.count(version)
    try:
        result = load_terms(
            uow,
            principal,
            chosen.terms,
            version=chosen.version,
            source=chosen.source,
            sha256=chosen.sha256,
            reason=f"CTCAE v{chosen.version} {'loaded at first start' if first else 'swapped at start'} "
            f"from {chosen.source}",
        )
    except Conflict as exc:
        return {"status": "refused", "message": f"$TRIALDESK_CTCAE_XLSX {configured} not loaded: {exc}"}
    status = "loaded" if first else "swapped"
    return {"status": status, "message": f"CTCAE v{chosen.version} {status}: {result['count']} terms", **result}


_CACHE: dict[tuple[Any, ...], CtcaeDictionary] = {}


def dictionary(uow: UnitOfWork, version: str = CTCAE_VERSION) -> CtcaeDictionary:
    """The loaded dictionary; :class:`Conflict` when ``ctcae load`` has not been run.

    Built once per process for each state of the stored terms (a cheap aggregate decides whether it changed)."""
    key = (uow.ctcae.store_id(), version, uow.ctcae.fingerprint(version))
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    terms = uow.ctcae.terms(version)
    if not terms:
        raise Conflict(
            f"the CTCAE v{version} dictionary is not loaded: it loads at first start (bootstrap), or an "
            "administrator runs 'trialdesk ctcae ensure' (the shipped dictionary) or "
            "'trialdesk ctcae load CTCAE_v5.0_2017-11-27.xlsx' (NCI's workbook)"
        )
    built = CtcaeDictionary(terms, version=version)
    if len(_CACHE) > 16:
        _CACHE.clear()
    _CACHE[key] = built
    return built


def term_info(uow: UnitOfWork, query: str, version: str = CTCAE_VERSION) -> dict[str, Any]:
    """One term with its defined grades (for the AE form's grade list)."""
    term = dictionary(uow, version).get(query)
    return {
        "term": term.term,
        "meddra_code": term.meddra_code,
        "soc": term.soc,
        "grades": {g: term.grades[g] for g in term.defined_grades},
        "defined_grades": list(term.defined_grades),
        "definition": term.definition,
    }


def term_names(uow: UnitOfWork, version: str = CTCAE_VERSION) -> list[str]:
    return sorted(r.term for r in uow.ctcae.all(version))
