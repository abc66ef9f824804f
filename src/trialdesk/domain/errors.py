"""The trialdesk error hierarchy.

Every error a user can provoke is a :class:`TrialdeskError` with a message that names the field and the problem.
The web layer maps them to HTTP status codes (see ``entrypoints/web/errors.py``), the CLI to exit codes.

- :class:`InvalidInput` (422): a value is malformed or out of range. ``problems`` lists ``(path, message)``.
- :class:`NotFound` (404): the entity does not exist *or the caller may not know that it exists*.
- :class:`PermissionDenied` (403): the caller's role or site scope does not allow the action.
- :class:`Conflict` (409): the action contradicts the current state (e.g. site not recruiting, cap reached).
- :class:`AuthenticationFailed` (401): bad credentials, locked account, expired session or token.
- :class:`IntegrityError` (500 in the API; non-zero exit in the CLI): stored data failed a check (audit chain,
  randomization commitment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError


class TrialdeskError(Exception):
    """Base class of every error trialdesk raises on purpose."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "message": self.message}


@dataclass(frozen=True)
class Problem:
    """One problem with an input: where (a dotted/JSON path, and a line when known) and what."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.path or "(root)"
        if self.line is not None:
            where += f" (line {self.line})"
        return f"{where}: {self.message}"


class InvalidInput(TrialdeskError):
    status_code = 422

    def __init__(self, problems: list[Problem] | str, *, field: str | None = None) -> None:
        if isinstance(problems, str):
            problems = [Problem(field or "", problems)]
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": type(self).__name__,
            "message": self.message,
            "problems": [{"field": p.path, "message": p.message, "line": p.line} for p in self.problems],
        }


class NotFound(TrialdeskError):
    status_code = 404


class PermissionDenied(TrialdeskError):
    status_code = 403


class Conflict(TrialdeskError):
    status_code = 409


class AuthenticationFailed(TrialdeskError):
    status_code = 401


class IntegrityError(TrialdeskError):
    status_code = 500


def problems_from_pydantic(exc: ValidationError, *, prefix: str = "") -> list[Problem]:
    """Turn a pydantic ``ValidationError`` into :class:`Problem` s with dotted paths."""
    problems = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err.get("loc", ()))
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        problems.append(Problem(path, err.get("msg", "invalid")))
    return problems
