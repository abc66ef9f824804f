"""Strata: canonical stratum keys, every stratum of a spec, and a subject's levels from its screening (the one
yes/no conversion of derived values, :func:`factor_level`, used by screening and randomization alike).

Part of :mod:`trialdesk.domain.randomization`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from trialdesk.domain.errors import Conflict, InvalidInput
from trialdesk.domain.randomization.spec import _IDENT, _LEVEL, SITE_FACTOR, UNSTRATIFIED, RandomizationSpec


def stratum_key(levels: Mapping[str, str], spec: RandomizationSpec | None = None) -> str:
    """Canonical key of a stratum: ``"factor=level|factor=level"`` sorted by factor name.

    Parameters
    ----------
    levels
        Factor name -> level. Include ``"site"`` when the spec has ``site_as_factor`` (blocks scheme).
    spec
        When given, the factors must be exactly the spec's factors (plus ``site`` if ``site_as_factor``)
        and each level one of the factor's levels.

    Returns
    -------
    str
        ``"*"`` (:data:`UNSTRATIFIED`) when there are no factors.
    """
    for name, level in levels.items():
        if not isinstance(name, str) or not re.match(_IDENT, name):
            raise InvalidInput(f"factor name {name!r} must match {_IDENT}", field="levels")
        if not isinstance(level, str) or not _LEVEL.match(level):
            raise InvalidInput(
                f"level {level!r} of factor {name!r} must match {_LEVEL.pattern}", field=f"levels.{name}"
            )
    if spec is not None:
        expected = {f.name for f in spec.factors} | ({SITE_FACTOR} if spec.site_as_factor else set())
        if set(levels) != expected:
            missing, extra = sorted(expected - set(levels)), sorted(set(levels) - expected)
            raise InvalidInput(
                f"factors must be {sorted(expected)}; missing {missing}, unexpected {extra}", field="levels"
            )
        for f in spec.factors:
            if levels[f.name] not in f.levels:
                raise InvalidInput(
                    f"{levels[f.name]!r} is not a level of {f.name} {list(f.levels)}", field=f"levels.{f.name}"
                )
    if not levels:
        return UNSTRATIFIED
    return "|".join(f"{name}={levels[name]}" for name in sorted(levels))


def parse_stratum_key(key: str) -> dict[str, str]:
    """Inverse of :func:`stratum_key`."""
    if key == UNSTRATIFIED:
        return {}
    out: dict[str, str] = {}
    for part in key.split("|"):
        name, sep, level = part.partition("=")
        if not sep or name in out:
            raise InvalidInput(f"malformed stratum key {key!r}", field="stratum_key")
        out[name] = level
    if stratum_key(out) != key:
        raise InvalidInput(f"stratum key {key!r} is not canonical (expected {stratum_key(out)!r})", field="stratum_key")
    return out


def all_strata(spec: RandomizationSpec, sites: Sequence[str] = ()) -> list[str]:
    """Every stratum key of the spec (cartesian product of levels; times ``sites`` when ``site_as_factor``)."""
    axes: list[tuple[str, Sequence[str]]] = [(f.name, f.levels) for f in spec.factors]
    if spec.site_as_factor:
        if not sites:
            raise InvalidInput("site_as_factor is set: the list of site ids is needed", field="sites")
        axes.append((SITE_FACTOR, list(sites)))
    names = [name for name, _ in axes]
    return [stratum_key(dict(zip(names, combo))) for combo in itertools.product(*(lv for _, lv in axes))]


# --------------------------------------------------------------------------------------------------------------
# A subject's levels
# --------------------------------------------------------------------------------------------------------------


def factor_level(value: Any, levels: Sequence[str]) -> Any:
    """A derived screening value as the factor's level: the one yes/no conversion of the platform.

    A yes/no quantity (``True``/``False``) becomes the level ``"yes"``/``"no"``, or ``"true"``/``"false"`` when
    the factor is coded that way (the protocol's ``visceral_metastases`` levels are ``["yes", "no"]``); a yes/no
    value that matches neither coding is kept as is, so that a level outside the factor stays visible rather than
    silently dropped. ``None`` (unknown) stays ``None``, numbers stay numbers, anything else becomes text.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        for level in ("yes", "true") if value else ("no", "false"):
            if level in levels:
                return level
        return value
    if isinstance(value, (int, float)):
        return value
    return str(value)


def subject_strata(
    spec: RandomizationSpec, derived: Mapping[str, Any], site_key: str, *, include_site: bool
) -> dict[str, str]:
    """The subject's level of every stratification factor, from the screening record's derived values.

    Raises :class:`Conflict` naming the first missing factor, :class:`InvalidInput` for a level the spec does
    not know."""
    levels: dict[str, str] = {}
    for factor in spec.factors:
        value = derived.get(factor.derive)
        if value is None or value == "":
            raise Conflict(
                f"stratification factor {factor.name} is missing from the latest screening "
                f"(derived value {factor.derive!r}); complete the screening record first"
            )
        value = str(factor_level(value, factor.levels))
        if value not in factor.levels:
            raise InvalidInput(
                f"{value!r} is not a level of {factor.name} {list(factor.levels)}",
                field=f"screening.derived.{factor.derive}",
            )
        levels[factor.name] = value
    if include_site:
        levels[SITE_FACTOR] = site_key
    return levels


def allocation_stratum(spec: RandomizationSpec, levels: Mapping[str, str]) -> str:
    """The stratum an allocation is recorded under: with blocks, the list's stratum (site included when it is a
    factor); with minimization or simple draws, the factor levels without the site."""
    if spec.scheme == "blocks":
        return stratum_key(levels, spec)
    return stratum_key({k: v for k, v in levels.items() if k != SITE_FACTOR})
