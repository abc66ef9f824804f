"""Body surface area (BSA) formulas.

All four take weight in kilograms and height in centimetres and return m². They accept scalars or numpy arrays
(vectorized; a scalar in gives a Python ``float`` out).

=============  ====================================================  =============================================
Formula        Expression                                            Reference
=============  ====================================================  =============================================
Mosteller      sqrt(H × W / 3600)                                    Mosteller RD. N Engl J Med 1987;317:1098.
DuBois         0.007184 × W^0.425 × H^0.725                          Du Bois D, Du Bois EF. Arch Intern Med
                                                                     1916;17:863-71.
Haycock        0.024265 × W^0.5378 × H^0.3964                        Haycock GB et al. J Pediatr 1978;93:62-6.
Gehan–George   0.0235 × W^0.51456 × H^0.42246                        Gehan EA, George SL. Cancer Chemother Rep
                                                                     1970;54:225-35.
=============  ====================================================  =============================================
"""

from __future__ import annotations

from enum import StrEnum
from typing import overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["BsaFormula", "body_surface_area", "bsa_formula_text"]


class BsaFormula(StrEnum):
    """A body-surface-area formula."""

    MOSTELLER = "mosteller"
    DUBOIS = "dubois"
    HAYCOCK = "haycock"
    GEHAN_GEORGE = "gehan_george"


# (coefficient, weight exponent, height exponent): BSA = c × W^a × H^b
_POWER_LAW: dict[BsaFormula, tuple[float, float, float]] = {
    BsaFormula.DUBOIS: (0.007184, 0.425, 0.725),
    BsaFormula.HAYCOCK: (0.024265, 0.5378, 0.3964),
    BsaFormula.GEHAN_GEORGE: (0.0235, 0.51456, 0.42246),
}

_TEXT: dict[BsaFormula, str] = {
    BsaFormula.MOSTELLER: "Mosteller: sqrt(height_cm × weight_kg / 3600)",
    BsaFormula.DUBOIS: "DuBois: 0.007184 × weight_kg^0.425 × height_cm^0.725",
    BsaFormula.HAYCOCK: "Haycock: 0.024265 × weight_kg^0.5378 × height_cm^0.3964",
    BsaFormula.GEHAN_GEORGE: "Gehan–George: 0.0235 × weight_kg^0.51456 × height_cm^0.42246",
}


def bsa_formula_text(formula: BsaFormula | str) -> str:
    """Return the formula written out, for the audit trail of a dose."""
    return _TEXT[BsaFormula(formula)]


@overload
def body_surface_area(weight_kg: float, height_cm: float, formula: BsaFormula | str = ...) -> float: ...
@overload
def body_surface_area(
    weight_kg: ArrayLike, height_cm: ArrayLike, formula: BsaFormula | str = ...
) -> NDArray[np.float64]: ...


def body_surface_area(
    weight_kg: ArrayLike, height_cm: ArrayLike, formula: BsaFormula | str = BsaFormula.MOSTELLER
) -> float | NDArray[np.float64]:
    """Body surface area in m².

    Parameters
    ----------
    weight_kg, height_cm : float or array_like
        Body weight (kg) and height (cm); must be positive. Arrays broadcast.
    formula : BsaFormula or str
        ``"mosteller"`` (default), ``"dubois"``, ``"haycock"`` or ``"gehan_george"``.

    Returns
    -------
    float or numpy.ndarray
        BSA in m², unrounded.

    Raises
    ------
    ValueError
        If ``formula`` is unknown or a weight or height is not a positive finite number.
    """
    try:
        formula = BsaFormula(formula)
    except ValueError:
        known = ", ".join(f.value for f in BsaFormula)
        raise ValueError(f"formula: unknown BSA formula {formula!r}; known: {known}") from None
    w = np.asarray(weight_kg, dtype=float)
    h = np.asarray(height_cm, dtype=float)
    for name, values in (("weight_kg", w), ("height_cm", h)):
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise ValueError(f"{name}: must be a positive finite number, got {values.tolist()!r}")
    if formula is BsaFormula.MOSTELLER:
        out = np.sqrt(h * w / 3600.0)
    else:
        c, a, b = _POWER_LAW[formula]
        out = c * np.power(w, a) * np.power(h, b)
    return float(out) if out.ndim == 0 else out
