"""The balance report: arm counts by stratum x site with margins.

Part of :mod:`trialdesk.domain.randomization`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from trialdesk.domain.errors import InvalidInput
from trialdesk.domain.randomization.spec import RandomizationSpec


@dataclass(frozen=True, slots=True)
class BalanceRow:
    """Counts by arm in one cell of the arm x stratum x site report.

    ``stratum`` or ``site`` is ``"*"`` in margin rows (all strata, all sites). ``imbalance`` is
    ``max_j n_j / r_j - min_j n_j / r_j`` (``|n_A - n_B|`` for 1:1).
    """

    stratum: str
    site: str
    counts: dict[str, int]
    imbalance: float

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def balance_table(spec: RandomizationSpec, assignments: Iterable[tuple[str, str, str]]) -> list[BalanceRow]:
    """Arm counts by stratum x site, with stratum margins, site margins and the grand total.

    Parameters
    ----------
    spec
        The randomization spec (arms and ratios).
    assignments
        ``(stratum_key, site_id, arm_id)`` of every subject randomized.

    Returns
    -------
    list[BalanceRow]
        Cells sorted by (stratum, site), then rows ``(stratum, "*")``, then ``("*", site)``, then ``("*", "*")``.
    """
    arm_ids = spec.arm_ids
    cells: dict[tuple[str, str], dict[str, int]] = {}
    for index, (stratum, site, arm) in enumerate(assignments):
        if arm not in arm_ids:
            raise InvalidInput(f"unknown arm {arm!r}; arms are {list(arm_ids)}", field=f"assignments[{index}].arm")
        cell = cells.setdefault((stratum, site), dict.fromkeys(arm_ids, 0))
        cell[arm] += 1

    def row(stratum: str, site: str, keys: list[tuple[str, str]]) -> BalanceRow:
        counts = {a: sum(cells[k][a] for k in keys) for a in arm_ids}
        scaled = [counts[a.id] / a.ratio for a in spec.arms]
        return BalanceRow(stratum, site, counts, max(scaled) - min(scaled))

    keys = sorted(cells)
    rows = [row(s, t, [(s, t)]) for s, t in keys]
    rows += [row(s, "*", [k for k in keys if k[0] == s]) for s in sorted({k[0] for k in keys})]
    rows += [row("*", t, [k for k in keys if k[1] == t]) for t in sorted({k[1] for k in keys})]
    rows.append(row("*", "*", keys))
    return rows
