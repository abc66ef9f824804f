"""Loading NCI's CTCAE v5.0 workbook (shared/data/ctcae/CTCAE_v5.0_2017-11-27.xlsx).

References: the NCI CTCAE v5.0 publication (837 terms in 26 MedDRA System Organ Classes) and the workbook
itself, read here cell by cell with openpyxl independently of the reader under test.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from trialdesk.adapters.ctcae_xlsx import CtcaeWorkbookError, load_ctcae_dictionary, read_ctcae_workbook
from trialdesk.domain.ctcae import CtcaeDictionary, InvalidCtcaeGradeError, UnknownCtcaeTermError
from trialdesk.domain.errors import InvalidInput

WORKBOOK = "data/ctcae/CTCAE_v5.0_2017-11-27.xlsx"


@pytest.fixture(scope="module")
def workbook_path(shared_dir: Path) -> Path:
    path = shared_dir / WORKBOOK
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="module")
def ctcae(workbook_path: Path) -> CtcaeDictionary:
    return load_ctcae_dictionary(workbook_path)


@pytest.fixture(scope="module")
def raw_rows(workbook_path: Path) -> list[tuple]:
    """The workbook's data rows as openpyxl gives them (columns A..K), header dropped."""
    wb = openpyxl.load_workbook(workbook_path, read_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    return rows[1:]


def test_all_837_terms_in_26_socs(ctcae):
    assert len(ctcae) == 837
    assert len(ctcae.socs()) == 26
    assert len({t.meddra_code for t in ctcae}) == 837


@pytest.mark.parametrize(
    ("term", "code", "soc", "grades"),
    [
        ("Anemia", 10002272, "Blood and lymphatic system disorders", (1, 2, 3, 4, 5)),
        ("Febrile neutropenia", 10016288, "Blood and lymphatic system disorders", (3, 4, 5)),
        ("Neutrophil count decreased", 10029366, "Investigations", (1, 2, 3, 4)),
        ("Platelet count decreased", 10035528, "Investigations", (1, 2, 3, 4)),
        ("Ejection fraction decreased", 10050528, "Investigations", (2, 3, 4)),
        ("Alopecia", 10001760, "Skin and subcutaneous tissue disorders", (1, 2)),
        ("Nausea", 10028813, "Gastrointestinal disorders", (1, 2, 3)),
        ("Fatigue", 10016256, "General disorders and administration site conditions", (1, 2, 3)),
        ("Pneumonitis", 10035742, "Respiratory, thoracic and mediastinal disorders", (1, 2, 3, 4, 5)),
        ("Eosinophilia", 10014950, "Blood and lymphatic system disorders", (1, 3)),
        ("Death NOS", 10011914, "General disorders and administration site conditions", (5,)),
    ],
)
def test_spot_checked_terms(ctcae, term, code, soc, grades):
    t = ctcae.get(term)
    assert (t.term, t.meddra_code, t.soc, t.defined_grades) == (term, code, soc, grades)
    assert ctcae.get(code) is t and ctcae.get(term.upper()) is t and ctcae.get(f"  {term.lower()} ") is t


def test_grade_texts_and_definition(ctcae):
    anemia = ctcae.get("Anemia")
    assert anemia.grades[3] == "Hgb <8.0 g/dL; <4.9 mmol/L; <80 g/L; transfusion indicated"
    assert anemia.grades[5] == "Death"
    assert anemia.definition.startswith("A disorder characterized by a reduction in the amount of hemoglobin")
    death = ctcae.get("Death NOS")
    assert death.navigational_note.startswith("If death is due to an AE")


def test_every_grade_cell_agrees_with_validate_grade(ctcae, raw_rows):
    # Columns: A code, B SOC, C term, D..H grades 1..5 (NCI writes ' -' where a grade is not defined).
    assert len(raw_rows) == 837
    undefined = 0
    for row in raw_rows:
        code, term = row[0], row[2]
        for grade, cell in zip(range(1, 6), row[3:8], strict=True):
            if str(cell).strip() == "-":
                undefined += 1
                with pytest.raises(InvalidCtcaeGradeError):
                    ctcae.validate_grade(term, grade)
            else:
                assert ctcae.validate_grade(code, grade).term == term
    assert undefined == 1000  # counted in the workbook: 1000 of the 4185 grade cells are '-'


def test_bad_grade_and_unknown_term_errors(ctcae):
    with pytest.raises(InvalidCtcaeGradeError) as info:
        ctcae.validate_grade("Neutrophil count decreased", 5)
    assert "grade 5 is not defined for CTCAE term 'Neutrophil count decreased' (defined: 1, 2, 3, 4)" in str(info.value)
    for bad in (0, 6, -1, True, "3"):
        with pytest.raises(InvalidCtcaeGradeError):
            ctcae.validate_grade("Anemia", bad)
    with pytest.raises(UnknownCtcaeTermError) as info:
        ctcae.validate_grade("Anaemia", 2)
    assert isinstance(info.value, InvalidInput)
    assert "'Anaemia' is not a CTCAE v5.0 term" in str(info.value) and "'Anemia'" in str(info.value)
    with pytest.raises(UnknownCtcaeTermError):
        ctcae.get(10000000)


def test_a_file_that_is_not_a_workbook_is_refused(tmp_path):
    fake = tmp_path / "ctcae.xlsx"
    fake.write_text("MedDRA Code,CTCAE Term\n")
    with pytest.raises(CtcaeWorkbookError, match="not an Excel .xlsx workbook"):
        read_ctcae_workbook(fake)
    with pytest.raises(CtcaeWorkbookError, match="file does not exist"):
        read_ctcae_workbook(tmp_path / "missing.xlsx")


def test_a_workbook_without_the_ctcae_columns_is_refused(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["Subject", "Visit", "Date"])
    wb.active.append(["S1", "C1D1", "2025-07-01"])
    path = tmp_path / "other.xlsx"
    wb.save(path)
    with pytest.raises(CtcaeWorkbookError, match="no sheet has the CTCAE header row"):
        read_ctcae_workbook(path)


def _mini_workbook(tmp_path, rows):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Notes"
    ws.append(["This sheet is not the dictionary"])
    ws = wb.create_sheet("Terms")
    ws.append(["Common Terminology Criteria for Adverse Events v5.0"])  # a title row above the header
    ws.append(["MedDRA Code", "MedDRA SOC", "CTCAE Term", "Grade 1\xa0", "Grade 2", "GRADE 3", "Grade 4", "Grade 5",
               "Definition"])  # fmt: skip
    for row in rows:
        ws.append(row)
    path = tmp_path / "mini.xlsx"
    wb.save(path)
    return path


def test_reader_tolerates_header_variants_and_finds_the_sheet(tmp_path):
    path = _mini_workbook(
        tmp_path,
        [
            [10014950, "Blood", "Eosinophilia", ">ULN", " -", "Steroids initiated", "-", "\u2013", "A disorder."],
            [],
            ["10002272", "Blood", " Anemia ", "a", "b", "c", "d", "Death", " -"],
        ],
    )
    terms = read_ctcae_workbook(path)
    assert [(t.term, t.meddra_code, t.defined_grades) for t in terms] == [
        ("Eosinophilia", 10014950, (1, 3)),
        ("Anemia", 10002272, (1, 2, 3, 4, 5)),
    ]
    assert terms[1].definition is None and terms[1].navigational_note is None


def test_malformed_rows_are_reported_with_sheet_and_row(tmp_path):
    path = _mini_workbook(
        tmp_path,
        [
            [10014950, "Blood", "Eosinophilia", ">ULN", "-", "x", "-", "-", "d"],
            ["abc", "Blood", "Anemia", "a", "b", "c", "d", "e", "d"],
            [10001760, "Skin", "Alopecia", "-", "-", "-", "-", "-", "d"],
        ],
    )
    with pytest.raises(CtcaeWorkbookError) as info:
        read_ctcae_workbook(path)
    text = str(info.value)
    assert "Terms!row 4 meddra_code" in text and "'Anemia'" in text
    assert "Terms!row 5 grades" in text and "at least one grade" in text


def test_duplicate_terms_are_refused(tmp_path):
    path = _mini_workbook(
        tmp_path,
        [
            [10014950, "Blood", "Eosinophilia", "a", "-", "-", "-", "-", "d"],
            [10014951, "Blood", "EOSINOPHILIA", "a", "-", "-", "-", "-", "d"],
        ],
    )
    with pytest.raises(InvalidInput, match="duplicate term 'EOSINOPHILIA'"):
        load_ctcae_dictionary(path)
