"""Web forms validated at the edge by the use case's command model, and their errors shown beside each field.

A browser posts strings; :func:`validate` turns them into a typed command (``RecordDose.model_validate(...)``)
or raises :class:`FormInvalid` with one message per form field, which the page re-renders with status 422, the
typed values kept in the inputs and each message in a ``<p class="field-error" id="err-<field>">`` that the input
references with ``aria-describedby`` (``templates/_forms.html``).

A form's input names are not always the command's field names (``rel_docetaxel`` is ``relationship.docetaxel``,
a lesion row's ``l2_value`` is ``lesions.1.measurement``): a ``rename`` function maps the dotted path of a
command field, or of a use case's :class:`InvalidInput` problem, to the form input that shows its message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from trialdesk.domain.errors import InvalidInput
from trialdesk.entrypoints.web.i18n import gettext as _

M = TypeVar("M", bound=BaseModel)
Rename = Callable[[str], str]

#: The message above a form whose fields failed validation (each field's own message is beside it). Kept in
#: English here (importers compare and pass it on); :func:`check_fields` is the same text in the reader's language.
CHECK_FIELDS = "Check the values marked below."


def check_fields() -> str:
    """:data:`CHECK_FIELDS` in the request's language."""
    return _("Check the values marked below.")


class FormInvalid(Exception):
    """The form's fields that failed validation: form field name -> message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class FormState:
    """A form coming back to its page: which form (its element id), what was typed (form field name -> text) and
    the messages (form field name -> message; ``message`` for the form as a whole)."""

    form: str
    values: Mapping[str, Any] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    message: str | None = None


def typed(form: FormData) -> dict[str, str]:
    """The text inputs of a submitted form, to put back in its inputs (files and the CSRF token left out)."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def text(form: FormData, name: str) -> str:
    """A text input's value ('' when absent; an uploaded file is not text)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def clean(model: type[BaseModel], data: Mapping[str, Any]) -> dict[str, Any]:
    """An empty input is "not given": ``None`` for an optional field, absent for a required one (so that the
    message says the field is required rather than that ``''`` is not a number)."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, str):
            value = value.strip()
        if value == "":
            model_field = model.model_fields.get(name)
            if model_field is None or model_field.is_required():
                continue
            value = None
        out[name] = value
    return out


_NUMBER_TYPES = frozenset({"float_parsing", "float_type", "decimal_parsing", "decimal_type", "finite_number"})
_WHOLE_TYPES = frozenset({"int_parsing", "int_type", "int_from_float", "int_parsing_size"})
_DATE_TYPES = frozenset(
    {"date_parsing", "date_type", "date_from_datetime_parsing", "date_from_datetime_inexact", "datetime_parsing"}
)


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def human_message(error: Mapping[str, Any]) -> str:
    """A pydantic error as a person reads it, in the request's language (the common types; others keep pydantic's
    English text, without its "Value error, " prefix)."""
    kind = str(error.get("type", ""))
    c: Mapping[str, Any] = error.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and c.get("min_length") == 1):
        return _("Required.")
    if kind in _NUMBER_TYPES:
        return _("Enter a number (for example 12.5).")
    if kind in _WHOLE_TYPES:
        return _("Enter a whole number.")
    if kind in _DATE_TYPES:
        return _("Enter a valid date as YYYY-MM-DD (for example 2026-01-31).")
    if kind == "date_future":
        return _("The date cannot be in the future.")
    if kind == "bool_parsing" or kind == "bool_type":
        return _("Choose yes or no.")
    if kind == "greater_than":
        return _("Must be greater than %(limit)s.", limit=_number(c.get("gt")))
    if kind == "greater_than_equal":
        return _("Must be greater than or equal to %(limit)s.", limit=_number(c.get("ge")))
    if kind == "less_than":
        return _("Must be less than %(limit)s.", limit=_number(c.get("lt")))
    if kind == "less_than_equal":
        return _("Must be less than or equal to %(limit)s.", limit=_number(c.get("le")))
    if kind == "string_too_short":
        return _("Too short: at least %(n)s characters.", n=c.get("min_length"))
    if kind == "string_too_long":
        return _("Too long: at most %(n)s characters.", n=c.get("max_length"))
    if kind in ("literal_error", "enum"):
        return _("Choose one of: %(choices)s.", choices=str(c.get("expected", "")).replace("'", ""))
    if kind == "extra_forbidden":
        return _("Not a field of this form.")
    return human_text(str(error.get("msg", "")))


#: pydantic's English messages (as a use case passes them on in :class:`InvalidInput`, the error type lost) and the
#: marked message each stands for
_PYDANTIC_TEXT: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"^Field required$"), lambda m: _("Required.")),
    (re.compile(r"^Input should be a valid (?:number|decimal)\b"), lambda m: _("Enter a number (for example 12.5).")),
    (re.compile(r"^Input should be a (?:valid integer|finite number)\b"), lambda m: _("Enter a whole number.")),
    (
        re.compile(r"^Input should be a valid date\b|^Datetimes provided to dates"),
        lambda m: _("Enter a valid date as YYYY-MM-DD (for example 2026-01-31)."),
    ),
    (re.compile(r"^Input should be a valid boolean\b"), lambda m: _("Choose yes or no.")),
    (
        re.compile(r"^Input should be greater than or equal to (\S+)$"),
        lambda m: _("Must be greater than or equal to %(limit)s.", limit=m.group(1)),
    ),
    (
        re.compile(r"^Input should be greater than (\S+)$"),
        lambda m: _("Must be greater than %(limit)s.", limit=m.group(1)),
    ),
    (
        re.compile(r"^Input should be less than or equal to (\S+)$"),
        lambda m: _("Must be less than or equal to %(limit)s.", limit=m.group(1)),
    ),
    (re.compile(r"^Input should be less than (\S+)$"), lambda m: _("Must be less than %(limit)s.", limit=m.group(1))),
    (
        re.compile(r"^String should have at most (\d+) characters?$"),
        lambda m: _("Too long: at most %(n)s characters.", n=m.group(1)),
    ),
    (re.compile(r"^String should have at least 1 character$"), lambda m: _("Required.")),
    (
        re.compile(r"^String should have at least (\d+) characters$"),
        lambda m: _("Too short: at least %(n)s characters.", n=m.group(1)),
    ),
    (
        re.compile(r"^Input should be ('.*')$"),
        lambda m: _("Choose one of: %(choices)s.", choices=m.group(1).replace("'", "")),
    ),
    (re.compile(r"^Extra inputs are not permitted$"), lambda m: _("Not a field of this form.")),
)


def human_text(message: str) -> str:
    """A message as a person reads it: pydantic's English wording (kept by a use case's :class:`InvalidInput`)
    replaced by the marked message it stands for; any other message as it is, less pydantic's prefixes."""
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    for pattern, say in _PYDANTIC_TEXT:
        found = pattern.search(message)
        if found:
            return say(found)
    return message


def _message(error: Mapping[str, Any]) -> str:
    return human_message(error)


#: The units that end field names, as people write them after a label.
_UNITS = {
    "mm": "mm",
    "cm": "cm",
    "kg": "kg",
    "mg": "mg",
    "m2": "m²",
    "mg_m2": "mg/m²",
    "mmhg": "mmHg",
    "percent": "%",
    "days": "days",
}


def _words(name: str) -> str:
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if name.endswith("_" + suffix):
            head = name[: -len(suffix) - 1].replace("_", " ")
            return f"{head} ({_UNITS[suffix]})"
    return name.replace("_", " ")


def field_label(path: str, labels: Mapping[str, str] | None = None) -> str:
    """The name of a field as a person reads it: its form label when ``labels`` has the path, else the path in
    words, list items counted from 1 (``lesions.0.size_mm`` -> "Lesion 1 size (mm)")."""
    if labels and path in labels:
        return labels[path]
    parts = [p for p in path.split(".") if p and p not in ("record", "body")]
    words: list[str] = []
    for i, part in enumerate(parts):
        if part.isdigit():
            continue
        item = _words(part)
        if i + 1 < len(parts) and parts[i + 1].isdigit():
            singular = item[:-3] + "y" if item.endswith("ies") else item[:-1] if item.endswith("s") else item
            item = f"{singular} {int(parts[i + 1]) + 1}"
        words.append(item)
    text = " ".join(words) or path
    return text[:1].upper() + text[1:]


_PATH = re.compile(r"\b[a-z][a-z0-9]*(?:[._][a-z0-9]+)+\b")


def readable(message: str, labels: Mapping[str, str]) -> str:
    """A use case's message with the field paths it names (``consent_date``, ``record.labs.anc.value``) replaced by
    the fields' labels, in quotes, so that a person reads the form's words rather than the record's; on a page
    that is not in English, a message of a known shape in the page's language (``messages.translate``)."""
    from trialdesk.entrypoints.web.messages import translate

    translated = translate(message, labels)
    if translated is not None:
        return translated

    def swap(found: re.Match[str]) -> str:
        path = found.group(0).removeprefix("record.")
        return f"“{labels[path]}”" if path in labels else found.group(0)

    return _PATH.sub(swap, message)


def validate(model: type[M], data: Mapping[str, Any], *, suffix: str = "", rename: Rename | None = None) -> M:
    """``model`` validated from the form values ``data``; field names in the errors get ``suffix`` (a form with
    one row per drug names its inputs ``actual_mg__docetaxel``), or are mapped by ``rename`` from the dotted path
    of the field in error."""
    try:
        return model.model_validate(clean(model, data))
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            if rename is not None:
                name = rename(".".join(str(part) for part in error["loc"]))
            else:
                name = (str(error["loc"][0]) if error["loc"] else "form") + suffix
            errors.setdefault(name, _message(error))
        raise FormInvalid(errors) from exc


def service_errors(
    exc: InvalidInput, *, suffix: str = "", row_fields: frozenset[str] = frozenset(), rename: Rename | None = None
) -> dict[str, str]:
    """The fields a use case's :class:`InvalidInput` names, as form field names (``suffix`` added to the fields of
    a row, ``row_fields``; or each path mapped by ``rename``)."""
    out: dict[str, str] = {}
    for problem in exc.problems:
        if problem.path:
            if rename is not None:
                name = rename(problem.path)
            else:
                name = problem.path + (suffix if problem.path in row_fields else "")
            out.setdefault(name, _translated(problem.message) or human_text(problem.message))
    return out


def _translated(message: str) -> str | None:
    from trialdesk.entrypoints.web.messages import translate

    return translate(message)
