"""The clinical study report of the final analysis: HTML (figures embedded as SVG) and PDF (matplotlib
``PdfPages``: figures and tables rendered as pages, no external binaries), plus the dataset export.

The tables are built once (:func:`report_tables`) from :meth:`FinalAnalysis.to_dict` and rendered twice; the
figures are the KM plot of PFS with its number-at-risk table, the duration-of-response KM plot, the subgroup
forest plot and the CONSORT diagram.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from trialdesk.adapters.consort_svg import consort_figure, consort_svg
from trialdesk.adapters.figures import forest_plot, km_plot
from trialdesk.domain.errors import InvalidInput

if TYPE_CHECKING:
    from trialdesk.domain.datasets import Datasets
    from trialdesk.stats.analysis import FinalAnalysis
    from trialdesk.stats.survival import KaplanMeierFitter

__all__ = [
    "ReportTable",
    "report_tables",
    "report_figures",
    "render_html",
    "write_pdf",
    "write_report",
    "write_datasets",
]


@dataclass
class ReportTable:
    key: str
    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""
    emphasis: set[int] = field(default_factory=set)  # row indexes shown in bold (e.g. SOC rows)


def _n(v: float | None, d: int = 1) -> str:
    return "NE" if v is None else f"{v:.{d}f}"


def _ci(est: float | None, lo: float | None, hi: float | None, d: int = 1) -> str:
    return f"{_n(est, d)} ({_n(lo, d)}, {_n(hi, d)})"


def _np(c: dict[str, Any]) -> str:
    return f"{c['n']} ({_n(c['pct'])}%)" if c.get("pct") is not None else str(c["n"])


def _p(p: float | None) -> str:
    return "NE" if p is None else ("<0.0001" if p < 0.0001 else f"{p:.4f}")


def report_tables(a: dict[str, Any]) -> list[ReportTable]:
    """Every table of the report, from an analysis summary."""
    arms = [x["id"] for x in a["arms"]]
    label = {x["id"]: x["label"] for x in a["arms"]}
    unit = a["spec"]["time_unit"]
    conf = f"{round(a['spec']['conf_level'] * 100):g}%"
    tables = []
    km = a["pfs"]["km"]
    tables.append(
        ReportTable(
            "pfs",
            "Progression-free survival (ITT)",
            ["Arm", "N", "Events", "Censored", f"Median, {unit} ({conf} CI)"],
            [
                [
                    label[r["arm"]],
                    str(r["n"]),
                    str(r["events"]),
                    str(r["censored"]),
                    _ci(r["median"], r["median_lower"], r["median_upper"]),
                ]
                for r in km
            ],
            f"Kaplan–Meier; Brookmeyer–Crowley CI of the median, {a['spec']['conf_type']} "
            "transform. NE: not estimable.",
        )
    )
    cox, lrs, lru = a["pfs"]["cox"], a["pfs"]["logrank_stratified"], a["pfs"]["logrank_unstratified"]
    if cox:
        tables.append(
            ReportTable(
                "pfs_test",
                "PFS comparison",
                ["Statistic", "Value"],
                [
                    [
                        f"Hazard ratio {a['spec']['experimental_arm']} vs {a['spec']['control_arm']} ({conf} CI)",
                        _ci(cox["hr"], cox["lower"], cox["upper"], 3),
                    ],
                    [
                        "Cox model",
                        f"stratified ({cox['n_strata']} strata), {cox['ties']} ties; Wald p {_p(cox['p_value'])}",
                    ],
                    ["Stratified log-rank", f"chi-square {lrs['chisq']:.3f} (df {lrs['df']}), p {_p(lrs['p_value'])}"],
                    [
                        "Unstratified log-rank",
                        f"chi-square {lru['chisq']:.3f} (df {lru['df']}), p {_p(lru['p_value'])}",
                    ],
                ],
                "Stratified by the randomization factors: " + ", ".join(a["spec"]["stratify_by"]) + ".",
            )
        )
    rules = sorted({r for v in a["pfs"]["censoring"].values() for r in v})
    tables.append(
        ReportTable(
            "pfs_censoring",
            "PFS events and censoring",
            ["Rule"] + [label[x] for x in arms],
            [[r.replace("_", " ")] + [str(a["pfs"]["censoring"][x].get(r, 0)) for x in arms] for r in rules],
        )
    )
    orr = a["orr"]
    rows = [
        [
            label[r["arm"]],
            str(r["n"]),
            str(r["responders"]),
            _ci(
                None if r["orr"] is None else 100 * r["orr"],
                None if r["lower"] is None else 100 * r["lower"],
                None if r["upper"] is None else 100 * r["upper"],
            ),
        ]
        + [str(r["bor"][k]) for k in ("CR", "PR", "SD", "non-CR/non-PD", "PD", "NE")]
        for r in orr["arms"]
    ]
    note = "Clopper–Pearson exact CI."
    if orr["difference"]:
        d = orr["difference"]
        note += (
            f" Difference {label[a['spec']['experimental_arm']]} minus {label[a['spec']['control_arm']]}: "
            f"{_ci(100 * d['estimate'], 100 * d['lower'], 100 * d['upper'])} percentage points (Newcombe)."
        )
    tables.append(
        ReportTable(
            "orr",
            "Objective response (ITT, RECIST 1.1)",
            ["Arm", "N", "Responders", f"ORR % ({conf} CI)", "CR", "PR", "SD", "non-CR/non-PD", "PD", "NE"],
            rows,
            note,
        )
    )
    tables.append(
        ReportTable(
            "dor",
            "Duration of response (responders)",
            ["Arm", "Responders", "Events", f"Median, {unit} ({conf} CI)"],
            [
                [label[r["arm"]], str(r["n"]), str(r["events"]), _ci(r["median"], r["median_lower"], r["median_upper"])]
                for r in a["dor"]
            ],
        )
    )
    tables.append(
        ReportTable(
            "subgroups",
            "PFS by subgroup",
            ["Subgroup", "N", "Events", f"HR ({conf} CI)"],
            [
                [r["label"], str(r["n"]), str(r["events"]), _ci(r["hr"], r["lo"], r["hi"], 2) if r["hr"] else "NE"]
                for r in a["subgroups"]
            ],
            "Unstratified Cox model within each subgroup.",
        )
    )
    b = a["baseline"]
    keys = arms + ["total"]
    rows, bold = [], set()
    for row in b["rows"]:
        if row["kind"] == "continuous":
            v = row["values"]
            bold.add(len(rows))
            rows.append([row["label"]] + ["" for _ in keys])
            rows.append(
                ["  Median (range)"]
                + [f"{_n(v[k]['median'])} ({_n(v[k]['min'], 0)}–{_n(v[k]['max'], 0)})" for k in keys]
            )
            rows.append(["  Mean (SD)"] + [f"{_n(v[k]['mean'])} ({_n(v[k]['sd'])})" for k in keys])
        else:
            bold.add(len(rows))
            rows.append([row["label"]] + ["" for _ in keys])
            for lv in row["levels"]:
                rows.append([f"  {lv}"] + [_np(row["values"][k][lv]) for k in keys])
    tables.append(
        ReportTable(
            "baseline",
            "Baseline characteristics (ITT)",
            ["Characteristic"] + [f"{label[x]} (N={b['n'][x]})" for x in arms] + [f"Total (N={b['n']['total']})"],
            rows,
            emphasis=bold,
        )
    )
    s = a["safety"]
    head = ["Subjects with"] + [f"{label[x]} (N={s['safety_n'][x]})" for x in arms]
    tables.append(
        ReportTable(
            "safety_overview",
            "Safety overview (safety set)",
            head,
            [
                ["Any TEAE"] + [_np(s["any_teae"][x]) for x in arms],
                ["TEAE grade >= 3"] + [_np(s["any_grade3plus"][x]) for x in arms],
                ["Serious TEAE"] + [_np(s["any_sae"][x]) for x in arms],
                ["TEAE leading to discontinuation"] + [_np(s["leading_to_discontinuation"][x]) for x in arms],
                ["Fatal TEAE (grade 5)"] + [_np(s["fatal_teae"][x]) for x in arms],
                ["Death (any cause, ITT)"] + [str(s["deaths"][x]["n"]) for x in arms],
            ],
            "TEAE: onset from the first dose to 30 days after the last dose. CTCAE v5.0 grades.",
        )
    )
    rows, bold = [], set()
    for soc in s["by_soc"]:
        bold.add(len(rows))
        rows.append([soc["soc"]] + [_np(soc["subjects"][x]) for x in arms])
        for t in soc["terms"]:
            rows.append([f"  {t['term']}"] + [_np(t["subjects"][x]) for x in arms])
    tables.append(
        ReportTable(
            "teae_soc_pt",
            "TEAEs by system organ class and preferred term",
            ["SOC / preferred term"] + head[1:],
            rows,
            "Subjects counted once per row.",
            bold,
        )
    )
    tables.append(
        ReportTable(
            "worst_grade",
            "Subjects by worst TEAE grade",
            ["Worst grade"] + head[1:],
            [
                [f"Grade {g}" if g != ">=3" else "Grade >= 3"] + [_np(s["worst_grade"][x][g]) for x in arms]
                for g in ("1", "2", "3", "4", "5", ">=3")
            ],
        )
    )
    for name, title, key in (
        ("sae", "Serious TEAEs by preferred term", "sae_terms"),
        ("discontinuation", "TEAEs leading to discontinuation", "discontinuation_terms"),
    ):
        term_rows = [[f"{r['soc']}: {r['term']}"] + [_np(r["subjects"][x]) for x in arms] for r in s[key]]
        tables.append(ReportTable(name, title, ["SOC / preferred term"] + head[1:], term_rows))
    rows = []
    for e in s["exposure"]:
        rows.append(
            [
                label[e["arm"]],
                "cycles (all drugs)",
                str(e["treated"]),
                f"{_n(e['cycles_median'], 0)} ({_n(e['cycles_min'], 0)}–{_n(e['cycles_max'], 0)})",
                "",
            ]
        )
        for d in e["drugs"]:
            rows.append(
                [
                    "",
                    d["drug"],
                    str(d["subjects"]),
                    f"{d['doses']} doses",
                    f"{_n(d['rdi_median'], 3)} ({_n(d['rdi_min'], 3)}–{_n(d['rdi_max'], 3)})",
                ]
            )
    tables.append(
        ReportTable(
            "exposure",
            "Exposure",
            ["Arm", "Drug", "Treated", "Cycles median (range)", "RDI median (range)"],
            rows,
            "Relative dose intensity = actual / planned dose intensity (dose per day over the "
            "treatment span plus one cycle).",
        )
    )
    c = a["consort"]
    rows = [["Assessed for eligibility", str(c["assessed"])], ["Excluded", str(c["excluded"])]]
    rows += [[f"  {k}", str(v)] for k, v in c["excluded_reasons"].items()]
    rows += [["Randomized", str(c["randomized"])]]
    for x in c["arms"]:
        rows += [
            [
                f"{label[x['arm']]}: allocated / received / discontinued / ITT / safety",
                f"{x['allocated']} / {x['received']} / {x['discontinued_treatment']} / {x['analysed_itt']} / "
                f"{x['analysed_safety']}",
            ]
        ]
    tables.append(ReportTable("consort", "CONSORT counts", ["Stage", "n"], rows))
    return tables


def _risk_times(fits: dict[str, KaplanMeierFitter]) -> list[float]:
    t_max = max(float(f.timeline_[-1]) for f in fits.values())
    step = 6.0 if t_max > 18 else 3.0 if t_max > 6 else 1.0
    return list(np.arange(0.0, t_max + 1e-9, step))


def report_figures(analysis: FinalAnalysis) -> dict[str, Figure]:
    """Figures of a fitted :class:`~trialdesk.stats.analysis.FinalAnalysis`: km_pfs, km_dor, forest, consort."""
    labels = analysis.arm_labels
    unit = analysis.spec.time_unit
    figs: dict[str, Figure] = {}
    curves = [
        ("km_pfs", analysis.km_fits_, "Progression-free survival (ITT)", "randomization", "PFS probability"),
        ("km_dor", analysis.dor_fits_, "Duration of response", "first response", "Probability of response"),
    ]
    for name, by_arm, title, since, ylabel in curves:
        if by_arm:
            fits = {labels.get(k, k): f for k, f in by_arm.items()}
            figs[name] = km_plot(
                fits, risk_times=_risk_times(fits), title=title, xlabel=f"Time since {since} ({unit})", ylabel=ylabel
            )
    rows = [r for r in analysis.subgroups_ if r["hr"] is not None]
    if analysis.cox_:
        rows = [
            {
                "label": "All subjects (stratified)",
                "hr": analysis.cox_["hr"],
                "lo": analysis.cox_["lower"],
                "hi": analysis.cox_["upper"],
                "n": analysis.cox_["n"],
            }
        ] + rows
    # a subgroup too small to estimate (no events in an arm: HR 0 or infinite, CI unbounded) is left out of the plot
    # and keeps its row, marked not estimable, in the tables
    rows = [
        r for r in rows if all(r.get(k) is not None and math.isfinite(r[k]) and r[k] > 0 for k in ("hr", "lo", "hi"))
    ]
    if rows:
        figs["forest"] = forest_plot(rows, title="PFS hazard ratio by subgroup")
    figs["consort"] = consort_figure(analysis.consort_, labels)
    return figs


def _svg(fig: Figure) -> str:
    from matplotlib import rc_context

    buf = io.StringIO()
    with rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _html_table(t: ReportTable) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in t.header)
    body = []
    for i, row in enumerate(t.rows):
        cls = ' class="em"' if i in t.emphasis else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(t.header)}">None</td></tr>')
    note = f'<p class="note">{escape(t.note)}</p>' if t.note else ""
    return (
        # a table wider than a phone scrolls in its own box, reachable by keyboard (WCAG 2.1.1)
        f'<section id="t-{t.key}"><h2>{escape(t.title)}</h2>'
        f'<div class="wide" tabindex="0" role="region" aria-label="{escape(t.title)}"><table><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(body)}</tbody></table></div>{note}</section>"
    )


_CSS = """body{font-family:Helvetica,Arial,sans-serif;margin:2em auto;padding:0 .75em;max-width:1100px;color:#222}
h1{font-size:clamp(1.3rem,5vw,2rem)}svg{max-width:100%;height:auto}.wide{overflow-x:auto}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}th,td{border:1px solid #bbb;padding:3px 8px;
text-align:left;white-space:pre-wrap}th{background:#eef2f7}tr.em td{font-weight:bold;background:#f7f7f7}
.note{font-size:12px;color:#555}figure{margin:1em 0}figcaption{font-weight:bold}"""


def render_html(analysis: FinalAnalysis, *, title: str, figures: dict[str, Figure] | None = None) -> str:
    """The report as one self-contained HTML page (figures inline as SVG)."""
    a = analysis.to_dict()
    figs = report_figures(analysis) if figures is None else figures
    parts = [
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{escape(title)}</h1>"
        f"<p>Data cut-off: {escape(a['cut_date'])}. ITT population: {a['n_itt']} subjects.</p>"
    ]
    parts.append(
        '<figure id="f-consort"><figcaption>CONSORT flow diagram</figcaption>'
        + consort_svg(a["consort"], analysis.arm_labels)
        + "</figure>"
    )
    captions = {
        "km_pfs": "Kaplan–Meier estimate of progression-free survival",
        "km_dor": "Kaplan–Meier estimate of duration of response",
        "forest": "Forest plot of PFS hazard ratios",
    }
    tables = {t.key: t for t in report_tables(a)}
    order = [
        "consort",
        "baseline",
        "pfs",
        "pfs_test",
        "pfs_censoring",
        "km_pfs",
        "orr",
        "dor",
        "km_dor",
        "subgroups",
        "forest",
        "safety_overview",
        "teae_soc_pt",
        "worst_grade",
        "sae",
        "discontinuation",
        "exposure",
    ]
    for key in order:
        if key in tables:
            parts.append(_html_table(tables[key]))
        elif key in figs and key in captions:
            parts.append(f'<figure id="f-{key}"><figcaption>{captions[key]}</figcaption>{_svg(figs[key])}</figure>')
    parts.append("</body></html>")
    return "\n".join(parts)


def _table_pages(t: ReportTable, rows_per_page: int = 40) -> list[Figure]:
    """A table as A4-landscape pages of monospaced text lines (fast to draw; long tables continue)."""
    cells = [t.header] + (t.rows or [["None"] + [""] * (len(t.header) - 1)])
    widths = [min(max(len(str(r[c])) for r in cells), 60) for c in range(len(t.header))]

    def line(row: list[str]) -> str:
        return "  ".join(str(v)[:w].ljust(w) for v, w in zip(row, widths)).rstrip()

    total = sum(widths) + 2 * (len(widths) - 1)
    size = max(5.0, min(10.0, 774.0 / (0.6 * max(total, 1))))
    body = t.rows or [["None"] + [""] * (len(t.header) - 1)]
    pages = []
    for k in range(0, len(body), rows_per_page):
        fig = Figure(figsize=(11.69, 8.27))  # A4 landscape
        FigureCanvasAgg(fig)
        fig.text(0.04, 0.95, t.title + (" (continued)" if k else ""), fontsize=13, weight="bold")
        y = 0.91
        fig.text(0.04, y, line(t.header), fontsize=size, family="monospace", weight="bold")
        y -= 0.021
        fig.text(0.04, y, "-" * total, fontsize=size, family="monospace")
        for i, row in enumerate(body[k : k + rows_per_page], start=k):
            y -= 0.021
            fig.text(
                0.04, y, line(row), fontsize=size, family="monospace", weight="bold" if i in t.emphasis else "normal"
            )
        if t.note:
            fig.text(0.04, 0.03, t.note, fontsize=8, color="#444", wrap=True)
        pages.append(fig)
    return pages


def write_pdf(
    analysis: FinalAnalysis, path: str | Path, *, title: str, figures: dict[str, Figure] | None = None
) -> Path:
    """The report as a PDF: a title page, the figures, then every table (long tables span several pages)."""
    path = Path(path)
    a = analysis.to_dict()
    figs = report_figures(analysis) if figures is None else figures
    with PdfPages(path, metadata={"Title": title, "Creator": "trialdesk"}) as pdf:
        cover = Figure(figsize=(11.69, 8.27))
        FigureCanvasAgg(cover)
        cover.text(0.5, 0.6, title, ha="center", fontsize=16, weight="bold", wrap=True)
        cover.text(
            0.5, 0.5, f"Data cut-off {a['cut_date']} — ITT population {a['n_itt']} subjects", ha="center", fontsize=12
        )
        pdf.savefig(cover)
        for key in ("consort", "km_pfs", "forest", "km_dor"):
            if key in figs:
                pdf.savefig(figs[key])
        for t in report_tables(a):
            for page in _table_pages(t):
                pdf.savefig(page)
    return path


def write_report(analysis: FinalAnalysis, out_dir: str | Path, *, title: str) -> dict[str, Path]:
    """Write ``report.html`` and ``report.pdf`` into ``out_dir`` (created if missing)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figs = report_figures(analysis)
    html = out / "report.html"
    html.write_text(render_html(analysis, title=title, figures=figs), encoding="utf-8")
    pdf = write_pdf(analysis, out / "report.pdf", title=title, figures=figs)
    return {"html": html, "pdf": pdf}


def write_datasets(datasets: Datasets, out_dir: str | Path, fmt: str = "csv") -> list[Path]:
    """Export every analysis dataset (adsl, adtte, adrs, adae, adex, screening) as CSV or parquet."""
    if fmt not in ("csv", "parquet"):
        raise InvalidInput(f"must be 'csv' or 'parquet'; got {fmt!r}", field="format")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in datasets.as_dict().items():
        df = df.copy()
        for col in df.columns:
            if df[col].map(lambda v: isinstance(v, dt.date)).any():
                df[col] = pd.to_datetime(df[col], errors="coerce")
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            df.to_csv(path, index=False)
        else:
            df.to_parquet(path, index=False)
        paths.append(path)
    return paths
