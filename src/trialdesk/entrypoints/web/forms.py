"""Web forms validated at the edge by the use case's command model, and their errors shown beside each field.

A browser posts strings; :func:`validate` turns them into a typed command (``RecordDose.model_validate(...)``)
or raises :class:`FormInvalid` with one message per form field, which the page re-renders with status 422, the
typed values kept in the inputs and each message in a ``<p class="field-error" id="err-<field>">`` that the input
references with ``aria-describedby`` (``templates/_forms.html``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from trialdesk.domain.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)


class FormInvalid(Exception):
    """The form's fields that failed validation: form field name -> message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def clean(model: type[BaseModel], data: Mapping[str, Any]) -> dict[str, Any]:
    """An empty input is "not given": ``None`` for an optional field, absent for a required one (so that the
    message says the field is required rather than that ``''`` is not a number)."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, str):
            value = value.strip()
        if value == "":
            field = model.model_fields.get(name)
            if field is None or field.is_required():
                continue
            value = None
        out[name] = value
    return out


def _message(error: Mapping[str, Any]) -> str:
    if error["type"] == "missing":
        return "required"
    return str(error["msg"])


def validate(model: type[M], data: Mapping[str, Any], *, suffix: str = "") -> M:
    """``model`` validated from the form values ``data``; field names in the errors get ``suffix`` (a form with
    one row per drug names its inputs ``actual_mg__docetaxel``)."""
    try:
        return model.model_validate(clean(model, data))
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "form"
            errors.setdefault(name + suffix, _message(error))
        raise FormInvalid(errors) from exc


def service_errors(exc: InvalidInput, *, suffix: str = "", row_fields: frozenset[str] = frozenset()) -> dict[str, str]:
    """The fields a use case's :class:`InvalidInput` names, as form field names (``suffix`` added to the fields of
    a row, ``row_fields``)."""
    out: dict[str, str] = {}
    for problem in exc.problems:
        if problem.path:
            name = problem.path + (suffix if problem.path in row_fields else "")
            out.setdefault(name, problem.message)
    return out
