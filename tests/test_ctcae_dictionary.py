"""CtcaeTerm and CtcaeDictionary on hand-written terms (no workbook needed)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from trialdesk.domain.ctcae import CtcaeDictionary, CtcaeTerm, InvalidCtcaeGradeError, UnknownCtcaeTermError
from trialdesk.domain.errors import InvalidInput


def term(name, code, grades, soc="Investigations"):
    return CtcaeTerm(term=name, meddra_code=code, soc=soc, grades={g: grades.get(g) for g in range(1, 6)})


@pytest.fixture()
def ctcae():
    return CtcaeDictionary(
        [
            term("Neutrophil count decreased", 10029366, {1: "<LLN - 1500/mm3", 2: "a", 3: "b", 4: "<500/mm3"}),
            term("Febrile neutropenia", 10016288, {3: "ANC <1000/mm3 ...", 4: "c", 5: "Death"}, soc="Blood"),
        ]
    )


def test_lookup_by_name_code_and_digit_string(ctcae):
    t = ctcae.get("febrile  NEUTROPENIA")
    assert t.meddra_code == 10016288
    assert ctcae.get(10029366).term == "Neutrophil count decreased"
    assert ctcae.get("10029366").term == "Neutrophil count decreased"
    assert "Febrile neutropenia" in ctcae and 10016288 in ctcae and "Anemia" not in ctcae
    assert [t.term for t in ctcae.in_soc("blood")] == ["Febrile neutropenia"]


def test_validate_grade(ctcae):
    assert ctcae.validate_grade("Febrile neutropenia", 3).defined_grades == (3, 4, 5)
    with pytest.raises(InvalidCtcaeGradeError, match=r"grade 2 is not defined .* \(defined: 3, 4, 5\)"):
        ctcae.validate_grade("Febrile neutropenia", 2)
    with pytest.raises(InvalidCtcaeGradeError, match="grade 5 is not defined"):
        ctcae.validate_grade(10029366, 5)
    with pytest.raises(UnknownCtcaeTermError, match="did you mean 'Febrile neutropenia'"):
        ctcae.validate_grade("Febrile neutropaenia", 3)


def test_errors_carry_the_field(ctcae):
    with pytest.raises(InvalidInput) as info:
        ctcae.validate_grade("Febrile neutropenia", 1)
    assert [p.path for p in info.value.problems] == ["grade"]
    with pytest.raises(InvalidInput) as info:
        ctcae.get("Neutropenia")
    assert [p.path for p in info.value.problems] == ["term"]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"meddra_code": 1234567}, "greater than or equal to 10000000"),
        ({"grades": {1: "a", 2: None, 3: None, 4: None}}, "exactly the keys 1 to 5"),
        ({"grades": dict.fromkeys(range(1, 6))}, "at least one grade"),
        ({"term": "   "}, "must not be blank"),
    ],
)
def test_bad_terms_are_refused(kwargs, fragment):
    data = {"term": "X", "meddra_code": 10000001, "soc": "S", "grades": {1: "a", 2: None, 3: None, 4: None, 5: None}}
    with pytest.raises(ValidationError, match=fragment):
        CtcaeTerm(**(data | kwargs))


def test_duplicate_codes_are_refused():
    with pytest.raises(InvalidInput, match="MedDRA code 10029366 of 'B' is also 'A'"):
        CtcaeDictionary([term("A", 10029366, {1: "x"}), term("B", 10029366, {1: "y"})])
