"""The site's pseudonymous patient reference: one normal form, so that ``FUZZ-1`` and ``fuzz-1 `` are one patient.

:func:`clean_patient_ref` is what is stored and shown: Unicode NFKC (full-width and compatibility characters to
their plain forms), surrounding whitespace stripped and every inner run of whitespace collapsed to one space, the
case as typed. :func:`patient_key` is what is compared: the clean form case-folded. A reference is the site's
pseudonym, so it is unique per site (two sites may use the same pseudonym for different patients): at one site,
the same key is the same subject (a rescreening), never a second one.
"""

from __future__ import annotations

import unicodedata

__all__ = ["clean_patient_ref", "patient_key"]


def clean_patient_ref(ref: str) -> str:
    """NFKC, whitespace stripped and collapsed to single spaces; the case is kept (for display)."""
    return " ".join(unicodedata.normalize("NFKC", ref).split())


def patient_key(ref: str) -> str:
    """The comparison key: the clean form, case-folded (and NFKC again: case folding can undo it)."""
    return unicodedata.normalize("NFKC", clean_patient_ref(ref).casefold())
