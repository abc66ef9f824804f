"""CTCAE dictionary in the database: load NCI's terms once (``trialdesk ctcae load``), read them for coding AEs."""

from __future__ import annotations

from typing import Any

from trialdesk.domain.access import Action, Principal, require
from trialdesk.domain.ctcae import CtcaeDictionary, CtcaeTerm
from trialdesk.domain.errors import Conflict, InvalidInput
from trialdesk.services.unit_of_work import UnitOfWork

CTCAE_VERSION = "5.0"


def load_terms(
    uow: UnitOfWork,
    principal: Principal,
    terms: list[CtcaeTerm],
    *,
    version: str = CTCAE_VERSION,
    source: str | None = None,
) -> dict[str, Any]:
    """Store the terms of one CTCAE version (admin, ``Action.CTCAE_LOAD``). Idempotent: terms are matched by
    MedDRA code; a second load of the same workbook changes nothing. Audited with the counts.

    Returns
    -------
    dict
        ``{"version", "count", "inserted", "updated", "unchanged"}``.
    """
    require(principal, Action.CTCAE_LOAD)
    if not terms:
        raise InvalidInput("no terms to load", field="terms")
    CtcaeDictionary(terms, version=version)  # unique names and codes, or InvalidInput
    counts = uow.ctcae.upsert(version, terms)
    result = {"version": version, "count": uow.ctcae.count(version), **counts}
    uow.record(
        "ctcae.loaded",
        "ctcae",
        version,
        after={**result, "source": source},
        reason=f"CTCAE v{version}: {len(terms)} terms loaded",
        actor=principal.username,
    )
    return result


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
            f"the CTCAE v{version} dictionary is not loaded; an administrator runs "
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
