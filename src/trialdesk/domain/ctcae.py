"""CTCAE v5.0 dictionary: the NCI's adverse event terms, their MedDRA codes and the grades each term defines.

Common Terminology Criteria for Adverse Events (CTCAE) v5.0, NCI, 27 November 2017. Each term has a MedDRA
code (the term is a MedDRA Lowest Level Term), a System Organ Class, a text for each of grades 1 to 5 and a
definition. A term does not define every grade (the workbook writes '-' for those: *Eosinophilia* has no grade
2, 4 or 5, *Death NOS* only grade 5); :meth:`CtcaeDictionary.validate_grade` refuses such a grade.

The dictionary is built from a list of :class:`CtcaeTerm` (see :func:`trialdesk.adapters.ctcae_xlsx.read_ctcae_workbook`
for NCI's workbook); this module does no I/O.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from trialdesk.domain.errors import InvalidInput, Problem

__all__ = [
    "CTCAE_GRADES",
    "CtcaeDictionary",
    "CtcaeSet",
    "CtcaeTerm",
    "InvalidCtcaeGradeError",
    "UnknownCtcaeTermError",
]

CTCAE_GRADES = (1, 2, 3, 4, 5)

MeddraCode = Annotated[int, Field(ge=10_000_000, le=99_999_999, description="MedDRA code (8 digits).")]


class CtcaeTerm(BaseModel):
    """One CTCAE term with its grade texts; ``grades[g]`` is None where the term does not define grade ``g``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    term: str = Field(min_length=1, description="CTCAE term, e.g. 'Neutrophil count decreased'.")
    meddra_code: MeddraCode
    soc: str = Field(min_length=1, description="MedDRA System Organ Class.")
    grades: dict[int, str | None] = Field(description="Grade 1..5 -> description, None when not defined.")
    definition: str | None = None
    navigational_note: str | None = None
    version_change: str | None = Field(default=None, description="What changed from v4.03 (NCI's column).")

    @field_validator("term", "soc")
    @classmethod
    def _stripped(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("grades")
    @classmethod
    def _five_grades(cls, grades: dict[int, str | None]) -> dict[int, str | None]:
        if set(grades) != set(CTCAE_GRADES):
            raise ValueError(f"grades must have exactly the keys 1 to 5, got {sorted(grades)}")
        if all(text is None for text in grades.values()):
            raise ValueError("a term must define at least one grade")
        return {g: grades[g] for g in CTCAE_GRADES}

    @property
    def defined_grades(self) -> tuple[int, ...]:
        """The grades this term defines, ascending."""
        return tuple(g for g in CTCAE_GRADES if self.grades[g] is not None)


@dataclass(frozen=True)
class CtcaeSet:
    """The terms of one CTCAE file with what identifies it: ``version`` ("5.0"), ``sha256`` of NCI's workbook the
    terms come from (read directly, or through the JSON shipped with the package that was derived from it), and
    ``source`` (a short description for the audit trail)."""

    terms: list[CtcaeTerm]
    version: str
    sha256: str
    source: str


class UnknownCtcaeTermError(InvalidInput):
    """No CTCAE term by that name or MedDRA code."""

    def __init__(self, query: str | int, suggestions: list[str]) -> None:
        self.query = query
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__([Problem("term", f"{query!r} is not a CTCAE v5.0 term or MedDRA code{hint}")])


class InvalidCtcaeGradeError(InvalidInput):
    """A grade the term does not define (or no grade at all)."""

    def __init__(self, term: CtcaeTerm, grade: object) -> None:
        self.term = term
        self.grade = grade
        allowed = ", ".join(str(g) for g in term.defined_grades)
        super().__init__(
            [Problem("grade", f"grade {grade!r} is not defined for CTCAE term {term.term!r} (defined: {allowed})")]
        )


class CtcaeDictionary:
    """The CTCAE terms, looked up by term (case- and space-insensitive) or by MedDRA code.

    Parameters
    ----------
    terms
        The terms; names and MedDRA codes must be unique.
    version
        CTCAE version, for display.
    """

    def __init__(self, terms: Iterable[CtcaeTerm], version: str = "5.0") -> None:
        self.version = version
        self._terms: list[CtcaeTerm] = list(terms)
        self._by_name: dict[str, CtcaeTerm] = {}
        self._by_code: dict[int, CtcaeTerm] = {}
        problems: list[Problem] = []
        for i, term in enumerate(self._terms):
            key = _key(term.term)
            if key in self._by_name:
                problems.append(Problem(f"terms[{i}].term", f"duplicate term {term.term!r}"))
            if term.meddra_code in self._by_code:
                other = self._by_code[term.meddra_code].term
                message = f"MedDRA code {term.meddra_code} of {term.term!r} is also {other!r}"
                problems.append(Problem(f"terms[{i}].meddra_code", message))
            self._by_name.setdefault(key, term)
            self._by_code.setdefault(term.meddra_code, term)
        if problems:
            raise InvalidInput(problems)

    def __len__(self) -> int:
        return len(self._terms)

    def __iter__(self) -> Iterator[CtcaeTerm]:
        return iter(self._terms)

    def __contains__(self, query: object) -> bool:
        if isinstance(query, int) and not isinstance(query, bool):
            return query in self._by_code
        return isinstance(query, str) and (_key(query) in self._by_name or _as_code(query) in self._by_code)

    def get(self, query: str | int) -> CtcaeTerm:
        """The term named ``query`` (any case or spacing), or with that MedDRA code (int or digit string).

        Raises
        ------
        UnknownCtcaeTermError
            When there is no such term; the message suggests close names.
        """
        if isinstance(query, int) and not isinstance(query, bool):
            found = self._by_code.get(query)
        elif isinstance(query, str):
            found = self._by_name.get(_key(query)) or self._by_code.get(_as_code(query) or -1)
        else:
            found = None
        if found is None:
            raise UnknownCtcaeTermError(query, self.suggest(str(query)))
        return found

    def suggest(self, text: str, n: int = 3) -> list[str]:
        """Up to ``n`` term names close to ``text``."""
        names = {_key(t.term): t.term for t in self._terms}
        return [names[k] for k in difflib.get_close_matches(_key(text), list(names), n=n, cutoff=0.6)]

    def validate_grade(self, query: str | int, grade: int) -> CtcaeTerm:
        """Check that the term exists and defines ``grade``; return the term.

        Raises
        ------
        UnknownCtcaeTermError
            Unknown term or code.
        InvalidCtcaeGradeError
            ``grade`` is not an integer 1..5 or the term marks it '-' (not defined).
        """
        term = self.get(query)
        if not isinstance(grade, int) or isinstance(grade, bool) or grade not in CTCAE_GRADES:
            raise InvalidCtcaeGradeError(term, grade)
        if term.grades[grade] is None:
            raise InvalidCtcaeGradeError(term, grade)
        return term

    def socs(self) -> list[str]:
        """The System Organ Classes, in first-seen order."""
        return list(dict.fromkeys(t.soc for t in self._terms))

    def in_soc(self, soc: str) -> list[CtcaeTerm]:
        """The terms of one System Organ Class (case-insensitive)."""
        return [t for t in self._terms if _key(t.soc) == _key(soc)]


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _as_code(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None
