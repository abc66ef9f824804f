"""Reading NCI's CTCAE v5.0 workbook (``CTCAE_v5.0_2017-11-27.xlsx``) into :class:`CtcaeTerm` records.

The workbook has one sheet ("CTCAE v5.0 Clean Copy") whose first row names the columns: ``MedDRA Code``,
``MedDRA SOC``, ``CTCAE Term``, ``Grade 1`` .. ``Grade 5`` (followed by non-breaking spaces in NCI's file),
``Definition``, ``Navigational Note`` and ``CTCAE v5.0 Change``. Headers are matched case-, space- and
punctuation-insensitively, on any sheet, within the first rows. A cell holding '-' (NCI writes ' -') means the
term does not define that grade (or has no definition) and becomes None.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from pydantic import ValidationError

from trialdesk.domain.ctcae import CTCAE_GRADES, CtcaeDictionary, CtcaeTerm
from trialdesk.domain.errors import InvalidInput, Problem

__all__ = ["CtcaeWorkbookError", "load_ctcae_dictionary", "read_ctcae_workbook"]

_REQUIRED = {
    "meddra_code": ("meddra code", "meddra llt code", "meddra"),
    "soc": ("meddra soc", "soc", "system organ class"),
    "term": ("ctcae term", "term"),
    **{f"grade_{g}": (f"grade {g}",) for g in CTCAE_GRADES},
}
_OPTIONAL = {
    "definition": ("definition",),
    "navigational_note": ("navigational note",),
    "version_change": ("ctcae v5.0 change", "change"),
}
_HEADER_SCAN_ROWS = 10


class CtcaeWorkbookError(InvalidInput):
    """The file is not a readable CTCAE workbook, or a row of it is malformed."""


def _norm(value: Any) -> str:
    return re.sub(r"[^0-9a-z.]+", " ", str(value or "").replace("\xa0", " ").casefold()).strip()


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).replace("\xa0", " ").split())
    return None if text in ("", "-", "–", "—") else text


def _match_header(row: tuple[Any, ...]) -> dict[str, int] | None:
    names = [_norm(v) for v in row]
    columns: dict[str, int] = {}
    for field, aliases in {**_REQUIRED, **_OPTIONAL}.items():
        for alias in aliases:
            if alias in names:
                columns[field] = names.index(alias)
                break
    return columns if set(_REQUIRED) <= set(columns) else None


def read_ctcae_workbook(path: str | Path) -> list[CtcaeTerm]:
    """Read every term of NCI's CTCAE workbook.

    Parameters
    ----------
    path
        The ``.xlsx`` file (e.g. ``CTCAE_v5.0_2017-11-27.xlsx``: 837 terms).

    Returns
    -------
    list of CtcaeTerm
        In workbook order.

    Raises
    ------
    CtcaeWorkbookError
        When the file is missing, not an Excel workbook, has no sheet with the CTCAE columns (the message lists
        what was looked for), or a row is malformed (the message gives the sheet, row and column).
    """
    path = Path(path)
    if not path.is_file():
        raise CtcaeWorkbookError([Problem(str(path), "file does not exist")])
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise CtcaeWorkbookError(
            [Problem(str(path), f"not an Excel .xlsx workbook ({type(exc).__name__}: {exc})")]
        ) from exc
    try:
        for sheet in workbook.worksheets:
            rows = sheet.iter_rows(values_only=True)
            for header_index, row in enumerate(rows, start=1):
                if header_index > _HEADER_SCAN_ROWS:
                    break
                columns = _match_header(row)
                if columns is not None:
                    return _read_rows(path, sheet.title, header_index, columns, rows)
    finally:
        workbook.close()
    wanted = ", ".join(repr(aliases[0]) for aliases in _REQUIRED.values())
    message = f"no sheet has the CTCAE header row (looked for columns {wanted}); is this NCI's CTCAE workbook?"
    raise CtcaeWorkbookError([Problem(str(path), message)])


def _read_rows(path: Path, sheet: str, header_row: int, columns: dict[str, int], rows: Any) -> list[CtcaeTerm]:
    terms: list[CtcaeTerm] = []
    problems: list[Problem] = []
    for row_number, row in enumerate(rows, start=header_row + 1):

        def get(field: str, row: tuple[Any, ...] = row) -> Any:
            index = columns.get(field)
            return row[index] if index is not None and index < len(row) else None

        if all(_cell_text(v) is None for v in row):
            continue
        where = f"{sheet}!row {row_number}"
        code = get("meddra_code")
        if isinstance(code, float) and code.is_integer():
            code = int(code)
        elif isinstance(code, str) and code.strip().isdigit():
            code = int(code.strip())
        record = {
            "term": _cell_text(get("term")) or "",
            "meddra_code": code,
            "soc": _cell_text(get("soc")) or "",
            "grades": {g: _cell_text(get(f"grade_{g}")) for g in CTCAE_GRADES},
            "definition": _cell_text(get("definition")),
            "navigational_note": _cell_text(get("navigational_note")),
            "version_change": _cell_text(get("version_change")),
        }
        try:
            terms.append(CtcaeTerm.model_validate(record))
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"]) or "row"
                problems.append(Problem(f"{where} {field}", f"{err['msg']} (term {record['term']!r})"))
    if problems:
        raise CtcaeWorkbookError(problems)
    if not terms:
        raise CtcaeWorkbookError([Problem(f"{path}:{sheet}", "the CTCAE sheet has a header but no terms")])
    return terms


def load_ctcae_dictionary(path: str | Path) -> CtcaeDictionary:
    """Read the workbook and build the :class:`CtcaeDictionary` (checks names and codes are unique)."""
    return CtcaeDictionary(read_ctcae_workbook(path))
