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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from trialdesk.domain.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)
Rename = Callable[[str], str]

#: The message above a form whose fields failed validation (each field's own message is beside it).
CHECK_FIELDS = "Check the values marked below."


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


def _message(error: Mapping[str, Any]) -> str:
    if error["type"] == "missing":
        return "required"
    return str(error["msg"])


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
            out.setdefault(name, problem.message)
    return out
