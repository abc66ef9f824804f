"""``trialdesk stats km|logrank|cox DATA.csv``: survival statistics on a CSV file, numbers as R's survival package.

Register in ``entrypoints/cli/main.py`` with ``app.add_typer(stats_app, name="stats")``
(``from trialdesk.entrypoints.cli.stats import app as stats_app``).

Data handling, the same for the three commands:

- The event column may be coded 0/1 (0 = censored), boolean, or R's 1/2 (1 = censored, 2 = event, e.g. ``lung$status``).
  The coding is detected as R's ``Surv()`` does: if the largest value is 2 the codes are 1/2, otherwise 0/1.
- Rows with a missing value in any column the command uses are dropped first (R's ``na.omit``); the JSON output
  says how many (``n_dropped``).
- A column that is not in the file, or a value that cannot be used, is an error naming it (exit code 2).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from trialdesk.domain.errors import InvalidInput
from trialdesk.entrypoints.cli.common import cli_errors, print_json

if TYPE_CHECKING:  # pandas, numpy and the survival code (scipy) load when a command runs, not for --help
    import pandas as pd

__all__ = ["app"]

app = typer.Typer(
    help="Survival statistics on a CSV file: Kaplan–Meier, log-rank and Cox, numbers as R's survival package.",
    no_args_is_help=True,
)
console = Console()

DataArg = Annotated[Path, typer.Argument(help="CSV file, one row per Subject.", show_default=False)]
TimeOpt = Annotated[str, typer.Option("--time", help="Column with the follow-up time.", show_default=False)]
EventOpt = Annotated[
    str, typer.Option("--event", help="Column with the event indicator: 0/1, boolean, or R's 1/2.", show_default=False)
]
StrataOpt = Annotated[
    list[str] | None, typer.Option("--strata", help="Stratification column; repeat to cross several.")
]
ConfLevelOpt = Annotated[float, typer.Option("--conf-level", min=0.0, max=1.0, help="Confidence level.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print all the numbers as JSON instead of a table.")]


def _load(data: Path, columns: dict[str, str | list[str] | None]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read the CSV, check the named columns exist, drop rows with a missing value in them (R's na.omit)."""
    import pandas as pd

    if not data.is_file():
        raise InvalidInput(f"file {str(data)!r} does not exist", field="DATA")
    try:
        df = pd.read_csv(data)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {str(data)!r} as CSV: {exc}", field="DATA") from None
    used: list[str] = []
    for option, names in columns.items():
        for name in [names] if isinstance(names, str) else (names or []):
            if name not in df.columns:
                raise InvalidInput(
                    f"column {name!r} is not in {data.name} (columns: {', '.join(map(str, df.columns))})", field=option
                )
            if name not in used:
                used.append(name)
    sub = df[used]
    complete = sub.notna().all(axis=1)
    meta = {
        "data": str(data),
        "n_rows": int(len(df)),
        "n_used": int(complete.sum()),
        "n_dropped": int((~complete).sum()),
    }
    if meta["n_used"] == 0:
        raise InvalidInput(f"no row has all of {used} present", field="DATA")
    return sub[complete].reset_index(drop=True), meta


def _event_coding(values: pd.Series) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    try:
        return "1/2 (R: 1 = censored, 2 = event)" if float(pd.to_numeric(values).max()) == 2 else "0/1"
    except (TypeError, ValueError):
        return "unknown"


def _strata_arg(df: pd.DataFrame, strata: list[str] | None) -> pd.DataFrame | None:
    return df[strata] if strata else None


def _fmt(v: Any, digits: int = 4) -> str:
    import numpy as np

    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "NA"
    if isinstance(v, (int, np.integer)):
        return str(v)
    return f"{v:.{digits}g}"


@app.command("km")
def km_command(
    data: DataArg,
    time: TimeOpt,
    event: EventOpt,
    group: Annotated[
        str | None, typer.Option("--group", help="Column of the groups (e.g. arm); one curve each.")
    ] = None,
    conf_type: Annotated[str, typer.Option("--conf-type", help="log (R's default), log-log or plain.")] = "log",
    conf_level: ConfLevelOpt = 0.95,
    times: Annotated[
        list[float] | None, typer.Option("--at", help="Also report S(t) at this time; repeatable.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Kaplan–Meier curves: median with its Brookmeyer–Crowley CI, restricted mean, S(t) at chosen times."""
    from trialdesk.stats.survival import KaplanMeierFitter, fit_km_by_group

    with cli_errors():
        df, meta = _load(data, {"--time": time, "--event": event, "--group": group})
        meta["event_coding"] = _event_coding(df[event])
        if group is None:
            fits = {"all": KaplanMeierFitter(conf_type, conf_level).fit(df[time], df[event], label="all")}  # type: ignore[arg-type]
        else:
            fits = fit_km_by_group(df[time], df[event], df[group], conf_type=conf_type, conf_level=conf_level)  # type: ignore[arg-type]
        at = list(times or [])
        curves = []
        for fit in fits.values():
            d = fit.to_dict()
            if at:
                d["at"] = [
                    {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
                    for row in fit.survival_at(at).astype(object).to_dict(orient="records")
                ]
            curves.append(d)
        if as_json:
            print_json({"command": "km", **meta, "time": time, "event": event, "group": group, "curves": curves})
            return
        table = Table(title=f"Kaplan–Meier ({conf_type} CI, {conf_level:g})")
        for col in ("group", "n", "events", "median", "LCL", "UCL", "rmean", "se(rmean)"):
            table.add_column(col, justify="left" if col == "group" else "right")
        for c in curves:
            table.add_row(str(c["label"]), str(c["n"]), str(c["events"]), _fmt(c["median"]), _fmt(c["median_ci"][0]),
                          _fmt(c["median_ci"][1]), _fmt(c["rmean"], 6), _fmt(c["rmean_se"]))  # fmt: skip
        console.print(table)
        if at:
            st = Table(title="S(t)")
            for col in ("group", "time", "n at risk", "S(t)", "se", "lower", "upper"):
                st.add_column(col, justify="left" if col == "group" else "right")
            for c in curves:
                for r in c["at"]:
                    st.add_row(str(c["label"]), _fmt(r["time"], 6), str(r["n_at_risk"]), _fmt(r["survival"]),
                               _fmt(r["se"]), _fmt(r["ci_lower"]), _fmt(r["ci_upper"]))  # fmt: skip
            console.print(st)
        _print_footer(meta, curves[0]["rmean_end"])


def _print_footer(meta: dict[str, Any], rmean_end: float | None = None) -> None:
    note = f"{meta['n_used']} rows used, {meta['n_dropped']} dropped for missing values; event coding {meta['event_coding']}"
    if rmean_end is not None:
        note += f"; restricted mean up to {rmean_end:g}"
    console.print(note, highlight=False)


@app.command("logrank")
def logrank_command(
    data: DataArg,
    time: TimeOpt,
    event: EventOpt,
    group: Annotated[str, typer.Option("--group", help="Column of the groups compared.", show_default=False)],
    strata: StrataOpt = None,
    rho: Annotated[float, typer.Option("--rho", min=0.0, help="G-rho weight: 0 log-rank, 1 Peto & Peto.")] = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Log-rank (or G-rho) test between groups, optionally stratified (R's survdiff)."""
    from trialdesk.stats.survival import logrank_test

    with cli_errors():
        df, meta = _load(data, {"--time": time, "--event": event, "--group": group, "--strata": strata})
        meta["event_coding"] = _event_coding(df[event])
        res = logrank_test(df[time], df[event], df[group], strata=_strata_arg(df, strata), rho=rho)
        out = res.to_dict()
        if as_json:
            print_json({"command": "logrank", **meta, "time": time, "event": event, "group": group,
                        "strata": strata or [], **out})  # fmt: skip
            return
        table = Table(title=out["test"] + (f", stratified by {' x '.join(strata)}" if strata else ""))
        for col in (group, "N", "Observed", "Expected", "(O-E)^2/E", "(O-E)^2/V"):
            table.add_column(col, justify="left" if col == group else "right")
        for j, g in enumerate(res.groups):
            o, e, v = res.observed[j], res.expected[j], res.variance[j, j]
            table.add_row(str(g), str(res.n[j]), _fmt(o, 6), _fmt(e, 6), _fmt((o - e) ** 2 / e if e > 0 else math.nan),
                          _fmt((o - e) ** 2 / v if v > 0 else math.nan))  # fmt: skip
        console.print(table)
        console.print(f"Chisq = {res.chisq:.6g} on {res.df} df, p = {res.p_value:.4g}", highlight=False)
        _print_footer(meta)


@app.command("cox")
def cox_command(
    data: DataArg,
    time: TimeOpt,
    event: EventOpt,
    group: Annotated[
        str | None,
        typer.Option("--group", help="Factor column (e.g. arm): indicators against its first level (sorted)."),
    ] = None,
    covariates: Annotated[
        list[str] | None, typer.Option("--covariate", help="Numeric covariate column; repeatable.")
    ] = None,
    strata: StrataOpt = None,
    ties: Annotated[str, typer.Option("--ties", help="efron (R's default) or breslow.")] = "efron",
    conf_level: ConfLevelOpt = 0.95,
    as_json: JsonOpt = False,
) -> None:
    """Cox proportional hazards model (R's coxph): HR, CI, Wald/score/likelihood-ratio tests."""
    import pandas as pd

    from trialdesk.stats.survival import CoxPHFitter

    with cli_errors():
        if group is None and not covariates:
            raise InvalidInput("give --group and/or at least one --covariate", field="--group")
        df, meta = _load(
            data, {"--time": time, "--event": event, "--group": group, "--covariate": covariates, "--strata": strata}
        )
        meta["event_coding"] = _event_coding(df[event])
        X = pd.DataFrame(index=df.index)
        reference = None
        if group is not None:
            levels = sorted(df[group].unique().tolist())
            if len(levels) < 2:
                raise InvalidInput(f"column {group!r} has a single value {levels[0]!r}", field="--group")
            reference = levels[0]
            for level in levels[1:]:
                X[f"{group}={level}"] = (df[group] == level).astype(float)
        for c in covariates or []:
            if not pd.api.types.is_numeric_dtype(df[c]):
                raise InvalidInput(f"column {c!r} is not numeric (e.g. {df[c].iloc[0]!r})", field="--covariate")
            X[c] = df[c].astype(float)
        fit = CoxPHFitter(ties=ties, conf_level=conf_level).fit(  # type: ignore[arg-type]
            df[time], df[event], X, strata=_strata_arg(df, strata)
        )
        out = fit.to_dict()
        if as_json:
            print_json({"command": "cox", **meta, "time": time, "event": event, "group": group,
                        "reference_level": reference, "covariates": covariates or [], "strata": strata or [], **out})  # fmt: skip
            return
        title = f"Cox model, ties={ties}" + (f", strata {' x '.join(strata)}" if strata else "")
        table = Table(title=title)
        for col in ("covariate", "coef", "HR", "se(coef)", "z", "p", f"{conf_level:g} lower", f"{conf_level:g} upper"):
            table.add_column(col, justify="left" if col == "covariate" else "right")
        for row in out["coefficients"]:
            table.add_row(row["covariate"], _fmt(row["coef"], 6), _fmt(row["exp(coef)"], 6), _fmt(row["se(coef)"], 6),
                          _fmt(row["z"]), _fmt(row["p"]), _fmt(row["lower"], 6), _fmt(row["upper"], 6))  # fmt: skip
        console.print(table)
        if reference is not None:
            console.print(f"reference level of {group}: {reference}", highlight=False)
        console.print(
            f"n = {fit.n_}, events = {fit.n_events_}; loglik {fit.log_likelihood_null_:.6f} -> {fit.log_likelihood_:.6f}"
            f" in {fit.n_iter_} iterations\n"
            f"Likelihood ratio test = {fit.likelihood_ratio_test_.statistic:.4f} on {fit.likelihood_ratio_test_.df} df,"
            f" p = {fit.likelihood_ratio_test_.p_value:.4g}\n"
            f"Wald test = {fit.wald_test_.statistic:.4f}, p = {fit.wald_test_.p_value:.4g}\n"
            f"Score (logrank) test = {fit.score_test_.statistic:.4f}, p = {fit.score_test_.p_value:.4g}",
            highlight=False,
        )
        _print_footer(meta)
