"""The strings marked for translation in the web layer, and which of them lack a Chinese translation.

Run as a script to list what is missing (optionally only for some files)::

    .venv/bin/python tests/i18n_helpers.py [path ...]

Extraction is Babel's (``babel.messages.extract``) with Jinja2's extractor for the templates, the same way
``pybabel extract`` reads them; the catalogs are read by the product's own loader (``i18n.catalog``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.extract import extract_from_file

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "src" / "trialdesk" / "entrypoints" / "web"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true", "trimmed": "false"}


def sources() -> list[Path]:
    """The files whose strings the operations pages show: the web layer's templates and Python modules."""
    return sorted((WEB / "templates").glob("*.html")) + sorted(WEB.glob("*.py"))


def extract(path: Path) -> list[tuple[int, str]]:
    """(line, msgid) of every marked string of one file (a plural's singular and plural both)."""
    method = "jinja2.ext:babel_extract" if path.suffix == ".html" else "python"
    options = JINJA_OPTIONS if path.suffix == ".html" else {}
    found: list[tuple[int, str]] = []
    for lineno, message, _comments, _context in extract_from_file(
        method, str(path), keywords=KEYWORDS, options=options
    ):
        for text in message if isinstance(message, tuple) else (message,):
            if text:
                found.append((lineno, text))
    return found


def missing(paths: list[Path] | None = None, lang: str = "zh-Hans") -> list[tuple[str, int, str]]:
    """(file, line, msgid) of each marked string with no translation in ``lang``'s catalogs."""
    from trialdesk.entrypoints.web.i18n import catalog

    catalog.cache_clear()
    translations = catalog(lang)
    known: dict[str, object] = dict(translations._catalog) if translations is not None else {}  # type: ignore[attr-defined]
    singulars = {k[0] if isinstance(k, tuple) else k for k in known}
    out: list[tuple[str, int, str]] = []
    for path in paths or sources():
        for lineno, text in extract(path):
            if text not in singulars or not known.get(text, known.get((text, 0), "")):
                out.append((str(path.relative_to(ROOT)), lineno, text))
    return out


if __name__ == "__main__":
    chosen = [Path(a).resolve() for a in sys.argv[1:]] or None
    gaps = missing(chosen)
    for file, line, text in gaps:
        print(f"{file}:{line}: {text!r}")
    print(f"{len(gaps)} untranslated", file=sys.stderr)
