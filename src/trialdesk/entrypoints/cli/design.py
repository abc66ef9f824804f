"""``trialdesk design events|power|duration`` (closed form) and ``trialdesk simulate`` (Monte Carlo).

Register in ``entrypoints/cli/main.py`` with::

    from trialdesk.entrypoints.cli.design import design_app, simulate_command
    app.add_typer(design_app, name="design")
    app.command("simulate")(simulate_command)

The design comes from ``operations.design`` of a protocol file (default: the packaged NCT07003074 protocol) through
:func:`load_design`; ``make_simulate_command(loader)`` builds the command around another loader.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from trialdesk.domain.design import DesignSpec
from trialdesk.domain.errors import InvalidInput, problems_from_pydantic
from trialdesk.entrypoints.cli.common import cli_errors, print_json
from trialdesk.stats.simulation_results import DEFAULT_CHUNK_SIZE, DEFAULT_SEED, DEFAULT_TRIALS

__all__ = ["design_app", "simulate_command", "make_simulate_command", "load_design"]

console = Console()

design_app = typer.Typer(
    help="Closed-form design: Schoenfeld events and power, expected calendar time of the analyses.",
    no_args_is_help=True,
)


# ================================================================================================ loading
def _protocol_path(path_or_protocol: str | Path | None) -> Path:
    if path_or_protocol is None:
        from trialdesk.adapters.protocol_files import packaged_protocol_path

        return packaged_protocol_path()
    candidate = Path(path_or_protocol)
    if candidate.suffix.lower() in {".yaml", ".yml", ".json"} or candidate.exists():
        return candidate
    packaged = Path(str(resources.files("trialdesk") / "protocols" / f"{path_or_protocol}.yaml"))
    if packaged.is_file():
        return packaged
    raise InvalidInput(f"no protocol file {path_or_protocol!r} and no packaged protocol of that id", field="protocol")


def load_design(path_or_protocol: str | Path | None = None) -> DesignSpec:
    """Read ``operations.design`` from a protocol YAML/JSON file or a packaged protocol id (default: the configured default trial).

    A file whose root is the design section itself (or ``{design: ...}``) is accepted too. A stop-gap loader: the
    lead swaps it for the full protocol loader.
    """
    path = _protocol_path(path_or_protocol)
    if not path.is_file():
        raise InvalidInput(f"file {path} does not exist", field="protocol")
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} does not hold a mapping", field="protocol")
    prefix = "operations.design"
    if isinstance(data.get("operations"), dict) and "design" in data["operations"]:
        section = data["operations"]["design"]
    elif "design" in data and "registry" not in data:
        section, prefix = data["design"], "design"
    elif "target_events" in data:
        section, prefix = data, ""
    else:
        raise InvalidInput(f"{path} has no operations.design section", field="operations.design")
    try:
        return DesignSpec.model_validate(section)
    except ValidationError as exc:
        raise InvalidInput(problems_from_pydantic(exc, prefix=prefix)) from exc


def _override(
    design: DesignSpec,
    *,
    hr: float | None = None,
    control_median: float | None = None,
    alpha: float | None = None,
    power: float | None = None,
    events: int | None = None,
) -> DesignSpec:
    data = design.model_dump()
    if hr is not None:
        data.update(hazard_ratio=hr, experimental=None)
    if control_median is not None:
        data["control"] = {"kind": "exponential", "median": control_median}
    for name, value in (("alpha", alpha), ("power", power), ("target_events", events)):
        if value is not None:
            data[name] = value
    try:
        return DesignSpec.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(problems_from_pydantic(exc, prefix="design")) from exc


ProtocolOpt = Annotated[
    str | None,
    typer.Option("--protocol", help="Protocol YAML file or packaged id (default: the configured default trial)."),
]
HrOpt = Annotated[float | None, typer.Option("--hr", help="Hazard ratio experimental : control (default: design).")]
MedianOpt = Annotated[
    float | None, typer.Option("--control-median", help="Control median PFS in months (exponential).")
]
AlphaOpt = Annotated[float | None, typer.Option("--alpha", help="Significance level (one-sided unless --sided 2).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _fmt(x: float | None, digits: int = 4) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


# ========================================================================================== design events
@design_app.command("events")
def events_command(
    protocol: ProtocolOpt = None,
    hr: HrOpt = None,
    control_median: MedianOpt = None,
    alpha: AlphaOpt = None,
    power: Annotated[float | None, typer.Option("--power", help="Target power (default: design).")] = None,
    sided: Annotated[int, typer.Option("--sided", help="1 or 2 (fixed-design Schoenfeld only).")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Events needed: Schoenfeld fixed design and the protocol's group-sequential design, with expected timing."""
    from trialdesk.stats.design import DesignError, expected_event_time, required_events, schoenfeld_events

    with cli_errors():
        design = _override(load_design(protocol), hr=hr, control_median=control_median, alpha=alpha, power=power)
        try:
            hr_ = design.planning_hazard_ratio
            if hr_ is None:
                raise DesignError("hazards are not proportional; give --hr")
            fixed = schoenfeld_events(hr_, design.alpha, design.power, design.allocation_ratio, sided)
            gs = required_events(design) if sided == 1 else None
            gs_events = math.ceil(gs) if gs is not None else math.ceil(fixed)
            timing: dict[float, float | None] = {}
            for t in design.information_fractions:
                try:
                    timing[t] = expected_event_time(design, t * gs_events)
                except DesignError:
                    timing[t] = None
        except (DesignError, ValueError) as exc:
            raise InvalidInput(str(exc), field="design") from exc
    result: dict[str, Any] = {
        "hazard_ratio": hr_,
        "alpha": design.alpha,
        "sided": sided,
        "power": design.power,
        "allocation_ratio": design.allocation_ratio,
        "fixed_design_events": fixed,
        "group_sequential_events": gs,
        "planned_events": gs_events,
        "looks": [
            {"information_fraction": t, "events": t * gs_events, "expected_time_months": timing[t]}
            for t in design.information_fractions
        ],
    }
    if as_json:
        print_json(result)
        return
    console.print(
        f"HR {hr_:.4g}, alpha {design.alpha:g} ({sided}-sided), power {design.power:g}, "
        f"allocation {design.allocation_ratio:g}:1"
    )
    console.print(f"Schoenfeld fixed design: [bold]{fixed:.2f}[/] events")
    if gs is not None:
        console.print(
            f"Group-sequential ({len(design.information_fractions)} looks, {design.spending}): "
            f"[bold]{gs:.2f}[/] events -> plan {gs_events}"
        )
    table = Table("look", "fraction", "events", "expected month")
    for i, look in enumerate(result["looks"], 1):
        table.add_row(
            str(i), f"{look['information_fraction']:.2f}", f"{look['events']:.1f}", _fmt(look["expected_time_months"])
        )
    console.print(table)


# =========================================================================================== design power
@design_app.command("power")
def power_command(
    protocol: ProtocolOpt = None,
    hr: HrOpt = None,
    control_median: MedianOpt = None,
    alpha: AlphaOpt = None,
    events: Annotated[int | None, typer.Option("--events", help="Events at the final analysis.")] = None,
    sided: Annotated[int, typer.Option("--sided", help="1 or 2 (fixed-design Schoenfeld power).")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Power for a number of events: Schoenfeld fixed design and the group-sequential design, look by look."""
    from trialdesk.stats.design import DesignError, closed_form_report, schoenfeld_power

    with cli_errors():
        design = _override(load_design(protocol), hr=hr, control_median=control_median, alpha=alpha, events=events)
        try:
            report = closed_form_report(design)
            fixed = schoenfeld_power(
                design.target_events, report.hazard_ratio, design.alpha, design.allocation_ratio, sided
            )
        except (DesignError, ValueError) as exc:
            raise InvalidInput(str(exc), field="design") from exc
    result = report.model_dump() | {"fixed_design_power": fixed, "sided": sided}
    if as_json:
        print_json(result)
        return
    console.print(
        f"HR {report.hazard_ratio:.4g}, {design.target_events} events, alpha {design.alpha:g} ({sided}-sided)"
    )
    console.print(f"Schoenfeld fixed-design power: [bold]{fixed:.4f}[/]")
    if sided != 1:
        return  # the group-sequential design is one-sided
    console.print(f"Group-sequential power: [bold]{report.power:.4f}[/]")
    table = Table("look", "events", "expected month", "efficacy Z", "HR bound", "P(reject)", "P(futility)")
    for look in report.looks:
        table.add_row(
            f"{look.information_fraction:.2f}",
            f"{look.events:.1f}",
            _fmt(look.expected_time_months),
            f"{look.efficacy_z:.4f}",
            f"{look.efficacy_hr:.4f}",
            f"{look.reject_probability:.4f}",
            f"{look.futility_probability:.4f}",
        )
    console.print(table)


# ======================================================================================== design duration
@design_app.command("duration")
def duration_command(
    protocol: ProtocolOpt = None,
    hr: HrOpt = None,
    control_median: MedianOpt = None,
    events: Annotated[
        float | None, typer.Option("--events", help="Event count whose expected calendar month is wanted.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Expected calendar month (from first randomization) of the k-th PFS event, and of each planned look."""
    from trialdesk.stats.design import DesignError, accrual_duration, expected_event_time, max_expected_events

    with cli_errors():
        design = _override(load_design(protocol), hr=hr, control_median=control_median)
        wanted = [events] if events is not None else [float(e) for e in design.look_events]
        try:
            months = [expected_event_time(design, e) for e in wanted]
        except (DesignError, ValueError) as exc:
            raise InvalidInput(str(exc), field="events") from exc
    result: dict[str, Any] = {
        "accrual_months": accrual_duration(design.accrual, design.sample_size),
        "max_expected_events": max_expected_events(design),
        "events": [{"events": e, "expected_time_months": m} for e, m in zip(wanted, months)],
    }
    if as_json:
        print_json(result)
        return
    console.print(f"Accrual of {design.sample_size} subjects ends at month {result['accrual_months']:.2f}")
    table = Table("events", "expected month")
    for row in result["events"]:
        table.add_row(f"{row['events']:g}", f"{row['expected_time_months']:.2f}")
    console.print(table)


# ================================================================================================ simulate
def _print_simulation(oc: Any, report: Any) -> None:
    alt, null = oc.alternative, oc.null
    console.print(f"{alt.n_trials} trials per scenario, seed {alt.seed}; HR {alt.hazard_ratio:.4g} vs HR 1")
    console.print(
        f"Power {alt.rejection_probability.value:.4f} (MC SE {alt.rejection_probability.mc_se:.4f})"
        + (f"; closed form {report.power:.4f}" if report is not None else "")
    )
    console.print(f"Type I error {null.rejection_probability.value:.4f} (MC SE {null.rejection_probability.mc_se:.4f})")
    table = Table(
        "look", "events", "efficacy Z", "P(reject)", "P(futility)", "P(reject | HR 1)", "mean month", "mean enrolled"
    )
    for a, n in zip(alt.looks, null.looks):
        table.add_row(
            str(a.look),
            str(a.planned_events),
            f"{a.efficacy_z:.4f}",
            f"{a.reject_probability.value:.4f} ± {a.reject_probability.mc_se:.4f}",
            f"{a.futility_probability.value:.4f}",
            f"{n.reject_probability.value:.4f}",
            _fmt(a.mean_time_months),
            _fmt(a.mean_enrolled),
        )
    console.print(table)
    console.print(
        f"Expected events {alt.expected_events.value:.1f}, duration {alt.expected_duration_months.value:.2f} "
        f"months, sample size {alt.expected_sample_size.value:.1f} (HR 1: {null.expected_events.value:.1f}, "
        f"{null.expected_duration_months.value:.2f}, {null.expected_sample_size.value:.1f})"
    )
    q = alt.hazard_ratio_estimate_quantiles
    if q:
        console.print(
            f"Estimated HR at the deciding look: median {q['0.5']:.3f}, 95% of trials in [{q['0.025']:.3f}, "
            f"{q['0.975']:.3f}]"
        )
    if alt.target_not_reached_probability > 0:
        console.print(
            f"[yellow]warning:[/] {alt.target_not_reached_probability:.1%} of trials never reached the target events"
        )


def make_simulate_command(loader: Callable[[str | None], DesignSpec] = load_design) -> Callable[..., None]:
    """Build the ``simulate`` command around a design loader (``loader(protocol_option) -> DesignSpec``)."""

    def simulate_command(
        trials: Annotated[int, typer.Option("--trials", min=1, help="Simulated trials per scenario.")] = DEFAULT_TRIALS,
        hr: HrOpt = None,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the whole run.")] = DEFAULT_SEED,
        as_json: JsonOpt = False,
        protocol: ProtocolOpt = None,
        control_median: MedianOpt = None,
        events: Annotated[int | None, typer.Option("--events", help="Target events (final look).")] = None,
        workers: Annotated[
            int | None, typer.Option("--workers", min=1, help="Local Dask cluster with N worker processes.")
        ] = None,
        dask: Annotated[str | None, typer.Option("--dask", help="Address of a Dask scheduler.")] = None,
        chunk_size: Annotated[
            int, typer.Option("--chunk-size", min=1, help="Trials per seeded chunk.")
        ] = DEFAULT_CHUNK_SIZE,
        progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar.")] = True,
    ) -> None:
        """Simulate the trial (accrual, PFS, dropout, event-driven looks, stratified log-rank): power under the
        design's HR, type I error under HR 1, stopping probabilities, expected events, duration and sample size."""
        from contextlib import nullcontext

        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        from trialdesk.stats.design import DesignError, closed_form_report
        from trialdesk.stats.simulate import operating_characteristics

        with cli_errors():
            design = _override(loader(protocol), hr=hr, control_median=control_median, events=events)
            runner_cm: Any = nullcontext(None)
            if dask or workers:
                from trialdesk.adapters.dask_runner import dask_runner

                runner_cm = dask_runner(address=dask, workers=workers)
            show = progress and not as_json
            bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                disable=not show,
            )
            with runner_cm as runner, bar:
                task = bar.add_task("simulating", total=2 * trials)
                oc = operating_characteristics(
                    design, trials, seed, chunk_size=chunk_size, runner=runner, progress=lambda k: bar.advance(task, k)
                )
            try:
                report = closed_form_report(design)
            except (DesignError, ValueError):
                report = None
        if as_json:
            print_json(
                {
                    "design": design.model_dump(exclude={"assumptions"}),
                    "closed_form": report.model_dump() if report is not None else None,
                    "alternative": oc.alternative.model_dump(),
                    "null": oc.null.model_dump(),
                }
            )
            return
        _print_simulation(oc, report)

    return simulate_command


simulate_command = make_simulate_command()
