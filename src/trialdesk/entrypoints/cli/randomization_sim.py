"""``trialdesk randomization simulate``: balance and predictability of a randomization scheme.

Register in ``entrypoints/cli/main.py`` on the ``randomization`` group, e.g.::

    from trialdesk.entrypoints.cli.randomization_sim import simulate_command
    randomization_app.command("simulate")(simulate_command)

(or, before that group exists, ``app.add_typer(randomization_sim_app, name="randomization")``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from trialdesk.domain.errors import InvalidInput
from trialdesk.entrypoints.cli.common import cli_errors, console, print_json

__all__ = ["simulate_command", "randomization_sim_app", "run_simulation"]

_SCHEMES = ("blocks", "minimization", "simple")


def run_simulation(
    subjects: int = 642,
    reps: int = 1000,
    scheme: str | None = None,
    seed: int = 20250101,
    protocol: Path | None = None,
    sites: int | None = None,
) -> list[dict[str, Any]]:
    """Simulate one scheme (or all three when ``scheme == "all"``) for the protocol's randomization spec."""
    import numpy as np

    from trialdesk.adapters.protocol_files import load_default_protocol, load_protocol
    from trialdesk.stats.randomization_sim import simulate_scheme

    loaded = load_protocol(protocol) if protocol is not None else load_default_protocol()
    spec = loaded.operations.randomization
    if spec is None:
        raise InvalidInput("the protocol has no operations.randomization section", field="operations.randomization")
    if scheme is not None and scheme != "all" and scheme not in _SCHEMES:
        raise InvalidInput(f"must be one of {', '.join(_SCHEMES)} or 'all', got {scheme!r}", field="--scheme")
    if subjects < 1:
        raise InvalidInput(f"must be >= 1, got {subjects}", field="--subjects")
    if reps < 2:
        raise InvalidInput(f"must be >= 2, got {reps}", field="--reps")
    n_sites = sites if sites is not None else max(len(loaded.registry.locations), 1)
    if n_sites < 1:
        raise InvalidInput(f"must be >= 1, got {n_sites}", field="--sites")
    schemes = list(_SCHEMES) if scheme == "all" else [scheme or spec.scheme]
    results = []
    for index, name in enumerate(schemes):
        # one independent, reproducible stream per scheme
        rng = np.random.default_rng([seed, index])
        result = simulate_scheme(spec, subjects, reps, rng, scheme=name, n_sites=n_sites, seed=seed)
        results.append(result.to_dict())
    return results


def _render(results: list[dict[str, Any]]) -> None:
    first = results[0]
    table = Table(
        title=f"{first['subjects']} subjects x {first['reps']} replicates, {first['sites']} sites, "
        f"{first['strata']} strata (mean [95th percentile])"
    )
    table.add_column("metric")
    for r in results:
        table.add_column(r["scheme"], justify="right")

    def cell(summary: dict[str, Any]) -> str:
        return f"{summary['mean']:.2f} [{summary['p95']:.1f}]"

    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("imbalance, total", lambda r: cell(r["imbalance_total"])),
        ("imbalance, worst stratum", lambda r: cell(r["imbalance_within_strata_max"])),
        ("imbalance, sum over strata", lambda r: cell(r["imbalance_within_strata_sum"])),
        ("imbalance, worst site", lambda r: cell(r["imbalance_within_sites_max"])),
        ("imbalance, sum over sites", lambda r: cell(r["imbalance_within_sites_sum"])),
    ]

    def worst_level(factor: str) -> Callable[[dict[str, Any]], str]:
        return lambda r: cell(r["imbalance_factor_levels_max"][factor])

    def guesses(unit: str) -> Callable[[dict[str, Any]], str]:
        return lambda r: f"{r['predictability'][unit]['mean']:.3f}"

    for factor in first["imbalance_factor_levels_max"]:
        rows.append((f"imbalance, worst level of {factor}", worst_level(factor)))
    for unit in ("overall", "stratum", "site"):
        rows.append((f"correct guesses, {unit} history", guesses(unit)))
    for label, fn in rows:
        table.add_row(label, *(fn(r) for r in results))
    console.print(table)
    console.print(
        "imbalance = |n(arm A) - n(arm B)| (ratio-scaled); correct guesses: convergence strategy "
        "(Blackwell-Hodges), 0.5 = unpredictable for 1:1."
    )


def simulate_command(
    subjects: Annotated[int, typer.Option("--subjects", help="Subjects per simulated trial.")] = 642,
    reps: Annotated[int, typer.Option("--reps", help="Replicate trials.")] = 1000,
    scheme: Annotated[
        str | None,
        typer.Option("--scheme", help="blocks, minimization, simple, or all (default: the protocol's scheme)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulation (not the allocation seed).")] = 20250101,
    json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    protocol: Annotated[Path | None, typer.Option("--protocol", help="Protocol YAML (default: packaged).")] = None,
    sites: Annotated[int | None, typer.Option("--sites", help="Number of sites (default: registry locations).")] = None,
) -> None:
    """Simulate a randomization scheme: imbalance (total, within strata, within sites) and predictability."""
    with cli_errors():
        results = run_simulation(subjects, reps, scheme, seed, protocol, sites)
        if json:
            print_json(results[0] if len(results) == 1 else results)
        else:
            _render(results)


randomization_sim_app = typer.Typer(help="Randomization scheme tools.", no_args_is_help=True)


@randomization_sim_app.callback()
def _group() -> None:
    """Randomization scheme tools."""


randomization_sim_app.command("simulate")(simulate_command)
