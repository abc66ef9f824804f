"""``trialdesk dose``: the doses of one arm at one cycle, with formula and inputs.

Register in ``entrypoints/cli/main.py`` with ``app.command("dose")(dose_command)``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from trialdesk.domain.errors import InvalidInput, TrialdeskError, problems_from_pydantic

if TYPE_CHECKING:  # the dose engine (and numpy, through the BSA formulas) loads when a command runs
    from trialdesk.domain.dosing import TreatmentSpec

__all__ = ["dose_command", "load_treatment_spec"]

EXIT_INVALID = 2


def load_treatment_spec(path: str | Path | None = None) -> TreatmentSpec:
    """Read ``operations.treatment`` from a protocol YAML (default: the configured default trial's packaged protocol).

    A stop-gap loader: the lead swaps it for the full protocol loader.
    """
    from trialdesk.domain.dosing import TreatmentSpec

    if path is None:
        from trialdesk.adapters.protocol_files import packaged_protocol_path

        path = packaged_protocol_path()
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"file {path} does not exist", field="protocol")
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    section = ((data or {}).get("operations") or {}).get("treatment")
    if section is None:
        raise InvalidInput(f"{path} has no operations.treatment section", field="operations.treatment")
    try:
        return TreatmentSpec.model_validate(section)
    except ValidationError as exc:
        raise InvalidInput(problems_from_pydantic(exc, prefix="operations.treatment")) from exc


def _parse_levels(items: list[str]) -> dict[str, int]:
    levels: dict[str, int] = {}
    for item in items:
        drug, sep, level = item.partition("=")
        try:
            if not sep:
                raise ValueError
            levels[drug.strip().lower()] = int(level)
        except ValueError:
            raise InvalidInput(f"expected DRUG=LEVEL such as docetaxel=-1, got {item!r}", field="dose_level") from None
    return levels


def dose_command(
    arm: Annotated[str, typer.Option("--arm", help="Arm id (tqb2102, thp) or registry label, case-insensitive.")],
    cycle: Annotated[int, typer.Option("--cycle", help="Cycle number, from 1.")],
    weight_kg: Annotated[float, typer.Option("--weight-kg", help="Current body weight, kg.")],
    height_cm: Annotated[float, typer.Option("--height-cm", help="Height, cm.")],
    days_since_last_dose: Annotated[
        int | None,
        typer.Option("--days-since-last-dose", help="Days since the previous dose (late-dose reload rules)."),
    ] = None,
    last_weight_kg: Annotated[
        float | None, typer.Option("--last-weight-kg", help="Weight the previous dose used (the ±10% rule).")
    ] = None,
    dose_level: Annotated[
        list[str] | None, typer.Option("--dose-level", help="DRUG=LEVEL, e.g. docetaxel=-1; repeatable.")
    ] = None,
    dose_date: Annotated[
        dt.datetime | None, typer.Option("--dose-date", formats=["%Y-%m-%d"], help="Date of this dose.")
    ] = None,
    randomization_date: Annotated[
        dt.datetime | None,
        typer.Option(
            "--randomization-date", formats=["%Y-%m-%d"], help="Randomization date (the dose may not precede it)."
        ),
    ] = None,
    protocol: Annotated[
        Path | None,
        typer.Option(
            "--protocol", help="Protocol YAML file (default: the configured default trial's packaged protocol)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compute the doses of an arm at a cycle, each with its formula and inputs."""
    from trialdesk.domain.dosing import calculate_arm_doses

    err = Console(stderr=True)
    try:
        spec = load_treatment_spec(protocol)
        result = calculate_arm_doses(
            spec,
            arm,
            cycle=cycle,
            weight_kg=weight_kg,
            height_cm=height_cm,
            days_since_last_dose=days_since_last_dose,
            last_used_weight_kg=last_weight_kg,
            dose_levels=_parse_levels(dose_level or []),
            dose_date=dose_date.date() if dose_date else None,
            randomization_date=randomization_date.date() if randomization_date else None,
        )
    except TrialdeskError as exc:
        if as_json:
            typer.echo(json.dumps(exc.to_dict(), ensure_ascii=False), err=True)
        else:
            err.print(f"[red]Error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(EXIT_INVALID) from None
    if as_json:
        typer.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
        return
    out = Console()
    out.print(
        f"Arm {result.arm_id}, cycle {result.cycle}: BSA {result.bsa_m2} m² ({result.bsa_formula}); "
        f"weight {result.weight.weight_kg} kg ({result.weight.reason})",
        highlight=False,
    )
    table = Table("Drug", "Dose (mg)", "Basis", "Loading", "Infusion", "Observation")
    for d in result.doses:
        table.add_row(
            d.drug,
            f"{d.dose_mg:g}",
            d.basis.unit,
            "reload" if d.reload else ("yes" if d.loading else "no"),
            str(d.infusion_minutes),
            str(d.observation_minutes or "-"),
        )
    out.print(table)
    for d in result.doses:
        out.print(f"  {d.formula}", highlight=False, soft_wrap=True)
    for o in result.omitted:
        out.print(f"Not given: {o.drug} ({o.reason})", highlight=False)
