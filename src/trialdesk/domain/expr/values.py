"""The unknown value of three-valued logic and the errors of the expression language.

Kept apart so that every other module of the package (parser, evaluators, type checker) can depend on them
without depending on each other.
"""

from __future__ import annotations

__all__ = ["UNKNOWN", "ExprError", "ExprNameError", "ExprSyntaxError", "ExprTypeError", "Unknown"]


class Unknown:
    """The missing value of three-valued logic (a singleton: :data:`UNKNOWN`)."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        raise TypeError("UNKNOWN has no truth value; test `is UNKNOWN`")


UNKNOWN = Unknown()


# --------------------------------------------------------------------------------------------- errors
class ExprError(ValueError):
    """Base class of expression errors."""


class ExprSyntaxError(ExprError):
    """The text is not a well-formed expression."""


class ExprNameError(ExprError):
    """An identifier, attribute or function does not exist."""


class ExprTypeError(ExprError):
    """Operands of incompatible types (found by the static check or at evaluation)."""
