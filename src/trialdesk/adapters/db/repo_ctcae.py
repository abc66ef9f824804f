"""CTCAE terms loaded from NCI's workbook: ``uow.ctcae``."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import String, delete, func, insert, select

from trialdesk.adapters.db import tables as t
from trialdesk.adapters.db.repo_base import SqlRepository
from trialdesk.adapters.db.tables import CtcaeTermRow
from trialdesk.domain.ctcae import CtcaeTerm
from trialdesk.domain.errors import InvalidInput, Problem


def _check_lengths(rows: list[dict[str, Any]]) -> None:
    """The ``String(n)`` limits of ``ctcae_terms`` (as ``adapters/db/lengths.py`` checks them for ORM writes)."""
    limits = {c.name: int(c.type.length) for c in t.ctcae_terms.columns if isinstance(c.type, String) and c.type.length}
    problems = [
        Problem(f"terms[{i}].{name}", f"at most {limit} characters ({len(row[name])} given)")
        for i, row in enumerate(rows)
        for name, limit in limits.items()
        if isinstance(row.get(name), str) and len(row[name]) > limit
    ]
    if problems:
        raise InvalidInput(problems)


def _grades_json(term: CtcaeTerm) -> str:
    return json.dumps({str(g): text for g, text in term.grades.items()}, sort_keys=True, ensure_ascii=False)


def row_to_term(row: CtcaeTermRow) -> CtcaeTerm:
    grades = {int(g): text for g, text in json.loads(row.grades_json).items()}
    return CtcaeTerm(term=row.term, meddra_code=row.meddra_code, soc=row.soc, grades=grades, definition=row.definition)


class Repository(SqlRepository):
    def count(self, version: str) -> int:
        return self.session.execute(
            select(func.count()).select_from(CtcaeTermRow).where(t.ctcae_terms.c.version == version)
        ).scalar_one()

    def store_id(self) -> str:
        """The database's URL (password hidden): dictionaries built from the terms are cached per database."""
        return str(self.session.get_bind().engine.url)

    def fingerprint(self, version: str) -> tuple[Any, ...]:
        """Changes whenever the stored terms of a version change (count, ids, text lengths)."""
        return tuple(
            self.session.execute(
                select(
                    func.count(),
                    func.max(t.ctcae_terms.c.id),
                    func.sum(
                        func.length(t.ctcae_terms.c.grades_json)
                        + func.length(t.ctcae_terms.c.term)
                        + func.coalesce(func.length(t.ctcae_terms.c.definition), 0)
                        + t.ctcae_terms.c.meddra_code
                    ),
                ).where(t.ctcae_terms.c.version == version)
            ).one()
        )

    def all(self, version: str) -> list[CtcaeTermRow]:
        return list(
            self.session.execute(
                select(CtcaeTermRow).where(t.ctcae_terms.c.version == version).order_by(t.ctcae_terms.c.id)
            ).scalars()
        )

    def terms(self, version: str) -> list[CtcaeTerm]:
        return [row_to_term(r) for r in self.all(version)]

    def upsert(self, version: str, terms: list[CtcaeTerm]) -> dict[str, int]:
        """Insert new terms, update changed ones (matched by MedDRA code); returns the counts."""
        existing = {r.meddra_code: r for r in self.all(version)}
        counts = {"inserted": 0, "updated": 0, "unchanged": 0}
        new: list[dict[str, Any]] = []
        for term in terms:
            values: dict[str, Any] = {
                "term": term.term,
                "soc": term.soc,
                "grades_json": _grades_json(term),
                "definition": term.definition,
            }
            row = existing.get(term.meddra_code)
            if row is None:
                new.append({"version": version, "meddra_code": term.meddra_code, **values})
                counts["inserted"] += 1
            elif any(getattr(row, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(row, k, v)
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
        if new:  # one executemany (a first load is 837 rows at every fresh start): lengths checked here, not by flush
            _check_lengths(new)
            self.session.execute(insert(t.ctcae_terms), new)
        self.session.flush()
        return counts

    def remove(self, version: str, codes: list[int]) -> int:
        """Delete the terms with these MedDRA codes (a swap to a workbook without them); returns how many."""
        if not codes:
            return 0
        table = t.ctcae_terms
        result = self.session.execute(
            delete(table).where(table.c.version == version, table.c.meddra_code.in_(sorted(set(codes))))
        )
        self.session.flush()
        return int(getattr(result, "rowcount", 0) or 0)

    def recorded(self) -> list[tuple[int, str, int]]:
        """Every distinct (MedDRA code, term, grade) recorded on an adverse event: what a new dictionary must keep."""
        c = t.adverse_events.c
        rows = self.session.execute(select(c.meddra_code, c.term, c.grade).distinct()).all()
        return sorted((int(code), str(term), int(grade)) for code, term, grade in rows)
