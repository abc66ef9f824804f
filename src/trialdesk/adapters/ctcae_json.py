"""The CTCAE v5.0 dictionary shipped with the package (``trialdesk/data/ctcae-v5.0.json``), derived from NCI's
workbook by :func:`derive_ctcae_json` (``trialdesk ctcae derive XLSX OUT``).

NCI's CTCAE is a work of the U.S. Government (public domain), so its terms may ship with trialdesk: a fresh install
codes adverse events with no workbook anywhere. The file records where it came from (NCI's page, the workbook's
name, date and SHA-256) so a dictionary in the database can always be traced to the file it was loaded from.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from trialdesk.adapters.ctcae_xlsx import CtcaeWorkbookError, read_ctcae_workbook
from trialdesk.domain.ctcae import CTCAE_GRADES, CtcaeDictionary, CtcaeSet, CtcaeTerm
from trialdesk.domain.errors import Problem

__all__ = ["NCI_CTCAE_URL", "derive_ctcae_json", "read_ctcae_json", "shipped_ctcae", "workbook_set"]

#: NCI CTEP's page for CTCAE (the v5.0 workbook is linked from it).
NCI_CTCAE_URL = "https://ctep.cancer.gov/protocoldevelopment/electronic_applications/ctc.htm"
SHIPPED_NAME = "ctcae-v5.0.json"
_FORMAT = "trialdesk-ctcae/1"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _version_of(name: str) -> str:
    """'CTCAE_v5.0_2017-11-27.xlsx' -> '5.0' (the only version trialdesk codes against so far)."""
    found = re.search(r"v(\d+)[._](\d+)", name, re.IGNORECASE)
    return f"{found[1]}.{found[2]}" if found else "5.0"


def workbook_set(path: str | Path) -> CtcaeSet:
    """NCI's workbook read with its SHA-256 (:class:`CtcaeWorkbookError` when it is not one)."""
    path = Path(path)
    terms = read_ctcae_workbook(path)
    return CtcaeSet(terms, _version_of(path.name), _sha256(path), f"workbook {path.name}")


def _term_json(term: CtcaeTerm) -> dict[str, Any]:
    return {
        "meddra_code": term.meddra_code,
        "soc": term.soc,
        "term": term.term,
        "grades": {str(g): term.grades[g] for g in CTCAE_GRADES},
        "definition": term.definition,
        "navigational_note": term.navigational_note,
        "version_change": term.version_change,
    }


def derive_ctcae_json(xlsx: str | Path, out: str | Path) -> dict[str, Any]:
    """Write the dictionary of NCI's workbook ``xlsx`` as JSON to ``out``: every term in workbook order, with the
    source (NCI, date, URL, the workbook's name and SHA-256). Returns the document's header (everything but the
    terms). Deterministic: the same workbook gives the same bytes."""
    xlsx = Path(xlsx)
    terms = read_ctcae_workbook(xlsx)
    CtcaeDictionary(terms)  # unique names and codes, or InvalidInput
    header: dict[str, Any] = {
        "format": _FORMAT,
        "title": "Common Terminology Criteria for Adverse Events (CTCAE)",
        "version": _version_of(xlsx.name),
        "source": {
            "publisher": "U.S. Department of Health and Human Services, National Institutes of Health, "
            "National Cancer Institute (NCI)",
            "published": "2017-11-27",
            "url": NCI_CTCAE_URL,
            "file": xlsx.name,
            "sha256": _sha256(xlsx),
            "licence": "Public domain: a work of the U.S. Government (17 U.S.C. 105)",
        },
        "count": len(terms),
    }
    # The header indented, then one term a line: readable, and a new workbook diffs term by term.
    head = json.dumps({**header, "terms": []}, indent=1, ensure_ascii=False)[: -len("[]\n}")]
    lines = ",\n".join(" " + json.dumps(_term_json(t), ensure_ascii=False) for t in terms)
    Path(out).write_text(f"{head}[\n{lines}\n ]\n}}\n", encoding="utf-8")
    return header


def read_ctcae_json(text: str, name: str = SHIPPED_NAME) -> CtcaeSet:
    """The terms of a document written by :func:`derive_ctcae_json`.

    Raises
    ------
    CtcaeWorkbookError
        Not such a document, or a term in it is malformed (the message names the term's index and field).
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CtcaeWorkbookError([Problem(name, f"not JSON: {exc}")]) from exc
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise CtcaeWorkbookError([Problem(name, f"not a trialdesk CTCAE dictionary (format {_FORMAT!r})")])
    terms: list[CtcaeTerm] = []
    problems: list[Problem] = []
    for i, raw in enumerate(document.get("terms") or []):
        try:
            grades = {int(g): text for g, text in dict(raw.get("grades") or {}).items()}
            terms.append(CtcaeTerm.model_validate({**raw, "grades": grades}))
        except (ValidationError, ValueError, TypeError, AttributeError) as exc:
            problems.append(Problem(f"{name}: terms[{i}]", str(exc).splitlines()[0]))
    if problems:
        raise CtcaeWorkbookError(problems)
    if not terms or len(terms) != document.get("count"):
        raise CtcaeWorkbookError([Problem(name, f"{len(terms)} terms, the header says {document.get('count')}")])
    source = document["source"]
    return CtcaeSet(terms, str(document["version"]), str(source["sha256"]), f"shipped {name} ({source['file']})")


@lru_cache(maxsize=1)
def shipped_ctcae() -> CtcaeSet:
    """The dictionary shipped with the package (read once per process: the file is part of the package)."""
    text = resources.files("trialdesk").joinpath("data", SHIPPED_NAME).read_text(encoding="utf-8")
    return read_ctcae_json(text)
