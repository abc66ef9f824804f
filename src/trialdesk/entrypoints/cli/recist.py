"""``trialdesk recist``: evaluate a Subject's tumour assessments under RECIST 1.1.

Register in ``entrypoints/cli/main.py`` with ``app.add_typer(recist_app, name="recist")``.

``trialdesk recist evaluate FILE.json [--json] [--protocol FILE.yaml]`` prints every time point and the best
overall response; ``trialdesk recist evaluate --schema`` prints the JSON schema of the input. Examples of input
are in ``docs/recist/``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from trialdesk.domain.errors import InvalidInput, Problem, TrialdeskError, problems_from_pydantic
from trialdesk.domain.recist import RecistSpec, evaluate_subject
from trialdesk.domain.recist_models import RecistEvaluation, SubjectTumorAssessments

__all__ = ["recist_app", "load_recist_spec", "read_subject_file"]

EXIT_INVALID = 2

recist_app = typer.Typer(help="RECIST 1.1 tumour response.", no_args_is_help=True)


@recist_app.callback()
def _recist_group() -> None:
    """RECIST 1.1 tumour response (Eisenhauer et al., Eur J Cancer 2009;45:228-247)."""


def load_recist_spec(path: str | Path | None = None) -> RecistSpec:
    """Read ``operations.recist`` from a protocol YAML (default: the configured default trial's packaged protocol).

    A stop-gap loader until the full protocol loader is wired in. A packaged protocol without the section
    gives the :class:`RecistSpec` defaults; a file named explicitly must have it.
    """
    explicit = path is not None
    if path is None:
        from trialdesk.adapters.protocol_files import packaged_protocol_path

        path = packaged_protocol_path()
    path = Path(path)
    if not path.is_file():
        if explicit:
            raise InvalidInput(f"file {path} does not exist", field="protocol")
        return RecistSpec()
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path} is not valid YAML: {exc}", field="protocol") from exc
    section = ((data or {}).get("operations") or {}).get("recist") if isinstance(data, dict) else None
    if section is None:
        if explicit:
            raise InvalidInput(f"{path} has no operations.recist section", field="operations.recist")
        return RecistSpec()
    try:
        return RecistSpec.model_validate(section)
    except ValidationError as exc:
        raise InvalidInput(problems_from_pydantic(exc, prefix="operations.recist")) from exc


def read_subject_file(path: Path) -> SubjectTumorAssessments:
    """Parse and validate a Subject's assessments from a JSON file; :class:`InvalidInput` names each problem."""
    if not path.is_file():
        raise InvalidInput(f"file {path} does not exist", field="FILE")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInput([Problem(str(path), f"not valid JSON: {exc.msg}", exc.lineno)]) from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8 text", field="FILE") from exc
    try:
        return SubjectTumorAssessments.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(problems_from_pydantic(exc)) from exc


def _fmt(value: float | None, unit: str = "") -> str:
    return "" if value is None else f"{value:+.1f}{unit}" if unit == "%" else f"{value:g}{unit}"


def _print_evaluation(result: RecistEvaluation, console: Console) -> None:
    console.print(
        f"Subject [bold]{result.subject_id}[/]: randomized {result.randomization_date}, baseline "
        f"{result.baseline_date}, baseline sum {_fmt(result.baseline_sum_mm, ' mm') or 'n/a (non-target only)'}",
        highlight=False,
    )
    table = Table("Date", "Day", "Sum mm", "vs baseline", "vs nadir", "Target", "Non-target", "New", "Overall")
    for tp in result.time_points:
        table.add_row(
            str(tp.date),
            str(tp.days_from_randomization),
            _fmt(tp.sum_mm) or (f"({_fmt(tp.measured_sum_mm)})" if tp.measured_sum_mm is not None else ""),
            _fmt(tp.change_from_baseline_pct, "%"),
            _fmt(tp.change_from_nadir_pct, "%"),
            tp.target_response.value,
            tp.non_target_response.value,
            tp.new_lesions.value,
            f"[bold]{tp.overall_response.value}[/]",
        )
    console.print(table)
    for tp in result.time_points:
        for reason in tp.reasons:
            console.print(f"  {tp.date}: {reason}", highlight=False, markup=False, soft_wrap=True)
    console.print(
        f"Best overall response: [bold]{result.best_overall_response.value}[/]"
        + (f" ({result.best_overall_response_date})" if result.best_overall_response_date else "")
        + f"; first PD: {result.first_pd_date or 'none'}; SD counts from day {result.sd_earliest_day}",
        highlight=False,
        soft_wrap=True,
    )
    for reason in result.reasons:
        console.print(f"  {reason}", highlight=False, markup=False, soft_wrap=True)


@recist_app.command("evaluate")
def evaluate_command(
    file: Annotated[
        Path | None, typer.Argument(help="JSON file: one Subject's baseline and follow-up assessments.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the evaluation as JSON.")] = False,
    schema: Annotated[bool, typer.Option("--schema", help="Print the JSON schema of the input and exit.")] = False,
    protocol: Annotated[
        Path | None, typer.Option("--protocol", help="Protocol YAML whose operations.recist to use.")
    ] = None,
) -> None:
    """Evaluate one Subject's tumour assessments: time-point responses, best overall response, first PD."""
    if schema:
        sys.stdout.write(json.dumps(SubjectTumorAssessments.model_json_schema(), indent=2) + "\n")
        return
    err = Console(stderr=True)
    try:
        if file is None:
            raise InvalidInput("give the JSON file to evaluate (or --schema)", field="FILE")
        spec = load_recist_spec(protocol)
        result = evaluate_subject(read_subject_file(file), spec)
    except TrialdeskError as exc:
        err.print("[bold red]error:[/] invalid input" if isinstance(exc, InvalidInput) else "[bold red]error:[/]")
        for problem in getattr(exc, "problems", None) or [exc.message]:
            err.print(f"  {problem}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_INVALID if isinstance(exc, InvalidInput) else 1) from exc
    if as_json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        _print_evaluation(result, Console())
