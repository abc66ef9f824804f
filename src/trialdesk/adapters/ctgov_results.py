"""ClinicalTrials.gov ``resultsSection`` from a final analysis (:meth:`FinalAnalysis.to_dict`).

Modules: participantFlowModule (CONSORT counts), baselineCharacteristicsModule (baseline table by Arm and in
total), outcomeMeasuresModule (PFS median with its CI and the stratified Cox HR / log-rank analysis, ORR with
the difference, duration of response) and adverseEventsModule (all-cause deaths, SAEs, other non-serious TEAEs
over the frequency threshold). Shapes follow the records NLM publishes (see ``../shared/data/ctgov/*.json``);
:func:`results_problems` checks the document against ``ResultsSection`` of ``ctg-oas-v2.yaml`` (the schemas ship
with the package: :mod:`trialdesk.adapters.ctgov.schema`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from trialdesk.adapters.ctgov.schema import schema_problems
from trialdesk.domain.errors import IntegrityError, Problem
from trialdesk.domain.protocol import Protocol
from trialdesk.settings import Settings

__all__ = ["build_results_section", "results_problems"]


def _num(v: float | None, digits: int = 1) -> str:
    return "NA" if v is None else f"{v:.{digits}f}"


def _p(p: float | None) -> str:
    if p is None:
        return "NA"
    return "<0.0001" if p < 0.0001 else f"{p:.4f}"


def _groups(prefix: str, arms: list[dict[str, Any]], protocol: Protocol, total: bool = False) -> list[dict[str, Any]]:
    out = []
    for k, arm in enumerate(arms):
        try:
            ag = protocol.arm(arm["id"])
            title, desc = ag.label, ag.description or ag.label
        except KeyError:
            title, desc = arm["label"], arm["label"]
        out.append({"id": f"{prefix}{k:03d}", "title": title, "description": desc})
    if total:
        out.append({"id": f"{prefix}{len(arms):03d}", "title": "Total", "description": "Total of all reporting groups"})
    return out


def _flow(a: dict[str, Any], arms: list[dict[str, Any]], protocol: Protocol) -> dict[str, Any]:
    c = a["consort"]
    ids = {arm["id"]: f"FG{k:03d}" for k, arm in enumerate(arms)}
    per = {p["arm"]: p for p in c["arms"]}

    def stats(key: str) -> list[dict[str, Any]]:
        return [{"groupId": ids[x["id"]], "numSubjects": str(per[x["id"]][key])} for x in arms]

    # COMPLETED counts only participants whose end of study says they completed it; everyone else has not completed
    # (yet): the reasons name why, including those still on treatment or in follow-up at the data cut-off, so that
    # STARTED = COMPLETED + NOT COMPLETED and the reasons add up to NOT COMPLETED (CT.gov participant flow rules).
    def finished(reason: str) -> bool:
        return re.search(r"\bcomplet", reason, re.IGNORECASE) is not None

    not_completed: dict[str, dict[str, int]] = {}
    completed_n: dict[str, int] = {}
    for x in arms:
        p = per[x["id"]]
        left = p["left_study_reasons"]
        completed_n[x["id"]] = sum(n for r, n in left.items() if finished(r))
        rows = {r: n for r, n in left.items() if not finished(r)}
        if "ongoing_on_treatment" in p:
            rows["Death"] = rows.get("Death", 0) + p["died_in_study"]
            rows["Ongoing at the data cut-off: on study treatment"] = p["ongoing_on_treatment"]
            rows["Ongoing at the data cut-off: in follow-up"] = p["ongoing_follow_up"]
        else:  # a run stored before these counts existed: the ones still in the study, unsplit
            rows["Ongoing at the data cut-off"] = p["allocated"] - p["left_study"]
        for r, n in rows.items():
            not_completed.setdefault(r, {})[x["id"]] = n
    drops = [
        {"type": r, "reasons": [{"groupId": ids[x["id"]], "numSubjects": str(by.get(x["id"], 0))} for x in arms]}
        for r, by in sorted(not_completed.items())
        if any(by.values())
    ]
    completed = [{"groupId": ids[x["id"]], "numSubjects": str(completed_n[x["id"]])} for x in arms]
    not_completed_total = [
        {"groupId": ids[x["id"]], "numSubjects": str(per[x["id"]]["allocated"] - completed_n[x["id"]])} for x in arms
    ]
    period: dict[str, Any] = {
        "title": "Overall Study",
        "milestones": [
            {"type": "STARTED", "achievements": stats("allocated")},
            {"type": "Received Treatment", "achievements": stats("received")},
            {
                "type": "COMPLETED",
                "comment": f"Participants who completed the study by the data cut-off ({a['cut_date']})",
                "achievements": completed,
            },
            {
                "type": "NOT COMPLETED",
                "comment": "Includes participants still on treatment or in follow-up at the data cut-off",
                "achievements": not_completed_total,
            },
        ],
    }
    if drops:
        period["dropWithdraws"] = drops
    return {
        "recruitmentDetails": f"{c['randomized']} participants were randomized by the data cut-off {a['cut_date']}.",
        "preAssignmentDetails": f"{c['assessed']} participants were assessed for eligibility; {c['excluded']} "
        f"were not randomized (" + "; ".join(f"{k}: {v}" for k, v in c["excluded_reasons"].items()) + ").",
        "groups": _groups("FG", arms, protocol),
        "periods": [period],
    }


def _baseline(a: dict[str, Any], arms: list[dict[str, Any]], protocol: Protocol) -> dict[str, Any]:
    b = a["baseline"]
    keys = [x["id"] for x in arms] + ["total"]
    gid = {k: f"BG{i:03d}" for i, k in enumerate(keys)}
    denoms = [{"units": "Participants", "counts": [{"groupId": gid[k], "value": str(b["n"][k])} for k in keys]}]
    measures = []
    for row in b["rows"]:
        if row["kind"] == "continuous":
            meas = [
                {
                    "groupId": gid[k],
                    "value": _num(row["values"][k]["median"]),
                    "lowerLimit": _num(row["values"][k]["min"]),
                    "upperLimit": _num(row["values"][k]["max"]),
                }
                for k in keys
            ]
            measures.append(
                {
                    "title": "Age, Continuous",
                    "paramType": "MEDIAN",
                    "dispersionType": "FULL_RANGE",
                    "unitOfMeasure": "years",
                    "classes": [{"categories": [{"measurements": meas}]}],
                }
            )
        else:
            cats = [
                {
                    "title": lv,
                    "measurements": [{"groupId": gid[k], "value": str(row["values"][k][lv]["n"])} for k in keys],
                }
                for lv in row["levels"]
            ]
            measures.append(
                {
                    "title": row["label"],
                    "paramType": "COUNT_OF_PARTICIPANTS",
                    "unitOfMeasure": "Participants",
                    "classes": [{"categories": cats}],
                }
            )
    return {
        "populationDescription": "Intention-to-treat population: all randomized participants.",
        "groups": _groups("BG", arms, protocol, total=True),
        "denoms": denoms,
        "measures": measures,
    }


def _median_measure(
    rows: list[dict[str, Any]], arms: list[dict[str, Any]], ids: dict[str, str]
) -> list[dict[str, Any]]:
    by = {r["arm"]: r for r in rows}
    out = []
    for x in arms:
        r = by.get(x["id"])
        m: dict[str, Any] = {
            "groupId": ids[x["id"]],
            "value": _num(r["median"] if r else None),
            "lowerLimit": _num(r["median_lower"] if r else None),
            "upperLimit": _num(r["median_upper"] if r else None),
        }
        missing = [
            n
            for n, key in (("median", "median"), ("lower limit", "median_lower"), ("upper limit", "median_upper"))
            if r is None or r[key] is None
        ]
        if missing:
            m["comment"] = "Not estimable (" + ", ".join(missing) + "): too few events."
        out.append(m)
    return out


def _outcomes(a: dict[str, Any], arms: list[dict[str, Any]], protocol: Protocol) -> dict[str, Any]:
    spec = a["spec"]
    ids = {x["id"]: f"OG{k:03d}" for k, x in enumerate(arms)}
    groups = _groups("OG", arms, protocol)
    conf = f"{round(spec['conf_level'] * 100):g}"
    registry = protocol.registry.outcomes
    pfs_title = registry.primary[0].measure if registry.primary else "Progression-free survival (PFS)"
    pfs_frame = (
        registry.primary[0].time_frame
        if registry.primary and registry.primary[0].time_frame
        else f"Randomization to the data cut-off {a['cut_date']}"
    )
    km = a["pfs"]["km"]
    pfs: dict[str, Any] = {
        "type": "PRIMARY",
        "title": pfs_title,
        "description": "Time from randomization to RECIST 1.1 progression or death from any cause; Kaplan–Meier "
        f"median with Brookmeyer–Crowley {conf}% CI ({spec['conf_type']} transform). Censoring "
        "follows FDA guidance (2018).",
        "populationDescription": "Intention-to-treat population.",
        "reportingStatus": "POSTED",
        "paramType": "MEDIAN",
        "dispersionType": f"{conf}% Confidence Interval",
        "unitOfMeasure": spec["time_unit"],
        "timeFrame": pfs_frame,
        "groups": groups,
        "denoms": [{"units": "Participants", "counts": [{"groupId": ids[r["arm"]], "value": str(r["n"])} for r in km]}],
        "classes": [{"categories": [{"measurements": _median_measure(km, arms, ids)}]}],
    }
    cox, lr = a["pfs"]["cox"], a["pfs"]["logrank_stratified"]
    e, c = spec["experimental_arm"], spec["control_arm"]
    if cox is not None and e in ids and c in ids:
        strata = ", ".join(spec["stratify_by"]) or "none"
        pfs["analyses"] = [
            {
                "groupIds": [ids[e], ids[c]],
                "groupDescription": f"{e} versus {c}",
                "nonInferiorityType": "SUPERIORITY",
                "pValue": _p(lr["p_value"] if lr else cox["p_value"]),
                "pValueComment": "Two-sided, stratified log-rank test.",
                "statisticalMethod": "Log Rank",
                "statisticalComment": f"Stratified by the randomization factors: {strata}.",
                "paramType": "Hazard Ratio (HR)",
                "paramValue": f"{cox['hr']:.3f}",
                "ciPctValue": conf,
                "ciNumSides": "TWO_SIDED",
                "ciLowerLimit": f"{cox['lower']:.3f}",
                "ciUpperLimit": f"{cox['upper']:.3f}",
                "estimateComment": f"Stratified Cox proportional hazards model ({cox['ties']} ties); HR < 1 favours "
                f"{e}.",
            }
        ]
    orr = a["orr"]
    orr_measure: dict[str, Any] = {
        "type": "SECONDARY",
        "title": "Objective Response Rate (ORR)",
        "description": "Percentage of participants with a best overall response of complete or partial response "
        f"(RECIST 1.1); exact Clopper–Pearson {conf}% CI.",
        "populationDescription": "Intention-to-treat population.",
        "reportingStatus": "POSTED",
        "paramType": "NUMBER",
        "dispersionType": f"{conf}% Confidence Interval",
        "unitOfMeasure": "percentage of participants",
        "timeFrame": f"Randomization to the data cut-off {a['cut_date']}",
        "groups": groups,
        "denoms": [
            {"units": "Participants", "counts": [{"groupId": ids[r["arm"]], "value": str(r["n"])} for r in orr["arms"]]}
        ],
        "classes": [
            {
                "categories": [
                    {
                        "measurements": [
                            {
                                "groupId": ids[r["arm"]],
                                "value": _num(None if r["orr"] is None else 100 * r["orr"]),
                                "lowerLimit": _num(None if r["lower"] is None else 100 * r["lower"]),
                                "upperLimit": _num(None if r["upper"] is None else 100 * r["upper"]),
                            }
                            for r in orr["arms"]
                        ]
                    }
                ]
            }
        ],
    }
    if orr["difference"] is not None:
        d = orr["difference"]
        titles = {g["id"]: g["title"] for g in groups}  # the arms by their registry titles, not their codes
        orr_measure["analyses"] = [
            {
                "groupIds": [ids[e], ids[c]],
                "nonInferiorityType": "SUPERIORITY",
                "statisticalMethod": "Newcombe hybrid score interval",
                "paramType": "Risk Difference (RD)",
                "paramValue": f"{100 * d['estimate']:.1f}",
                "ciPctValue": conf,
                "ciNumSides": "TWO_SIDED",
                "ciLowerLimit": f"{100 * d['lower']:.1f}",
                "ciUpperLimit": f"{100 * d['upper']:.1f}",
                "estimateComment": f"Difference in ORR ({titles[ids[e]]} minus {titles[ids[c]]}), percentage points.",
            }
        ]
    measures = [pfs, orr_measure]
    if a["dor"]:
        measures.append(
            {
                "type": "SECONDARY",
                "title": "Duration of Response (DoR)",
                "description": "Time from the first CR or PR to progression or death, among responders; Kaplan–Meier "
                f"median with {conf}% CI.",
                "populationDescription": "Responders (CR or PR) of the intention-to-treat population.",
                "reportingStatus": "POSTED",
                "paramType": "MEDIAN",
                "dispersionType": f"{conf}% Confidence Interval",
                "unitOfMeasure": spec["time_unit"],
                "timeFrame": f"First response to the data cut-off {a['cut_date']}",
                "groups": groups,
                "denoms": [
                    {
                        "units": "Participants",
                        "counts": [{"groupId": ids[r["arm"]], "value": str(r["n"])} for r in a["dor"]],
                    }
                ],
                "classes": [{"categories": [{"measurements": _median_measure(a["dor"], arms, ids)}]}],
            }
        )
    return {"outcomeMeasures": measures}


def _adverse_events(
    a: dict[str, Any], arms: list[dict[str, Any]], protocol: Protocol, threshold: float
) -> dict[str, Any]:
    s = a["safety"]
    ids = {x["id"]: f"EG{k:03d}" for k, x in enumerate(arms)}
    n = s["safety_n"]
    groups = []
    for g, x in zip(_groups("EG", arms, protocol), arms):
        k = x["id"]
        groups.append(
            {
                **g,
                "deathsNumAffected": s["deaths"][k]["n"],
                "deathsNumAtRisk": n[k],
                "seriousNumAffected": s["any_sae"][k]["n"],
                "seriousNumAtRisk": n[k],
                "otherNumAffected": 0,
                "otherNumAtRisk": n[k],
            }
        )

    def events(rows: list[dict[str, Any]], keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        out = []
        for r in rows:
            if not keep(r):
                continue
            out.append(
                {
                    "term": r["term"],
                    "organSystem": r["soc"],
                    "sourceVocabulary": "CTCAE (5.0)",
                    "assessmentType": "SYSTEMATIC_ASSESSMENT",
                    "stats": [
                        {
                            "groupId": ids[x["id"]],
                            "numEvents": r["events"][x["id"]],
                            "numAffected": r["subjects"][x["id"]]["n"],
                            "numAtRisk": n[x["id"]],
                        }
                        for x in arms
                    ],
                }
            )
        return out

    def frequent(r: dict[str, Any]) -> bool:
        return any((r["subjects"][x["id"]]["pct"] or 0) >= threshold for x in arms)

    serious = events(s["sae_terms"], lambda r: True)
    other = events(s["nonserious_terms"], frequent)
    other_terms = {(o["organSystem"], o["term"]) for o in other}
    # participants affected by at least one "other" event that is reported (over the threshold)
    for g, x in zip(groups, arms):
        g["otherNumAffected"] = s["other_any"][x["id"]]["n"] if other_terms else 0
    return {
        "frequencyThreshold": f"{threshold:g}",
        "timeFrame": "From the first dose to 30 days after the last dose (deaths: all-cause, from "
        f"randomization), up to the data cut-off {a['cut_date']}",
        "description": "Treatment-emergent adverse events graded with CTCAE v5.0 in the safety population "
        "(participants who received at least one dose).",
        "allCauseMortalityComment": "All deaths from randomization to the data cut-off.",
        "eventGroups": groups,
        "seriousEvents": serious,
        "otherEvents": other,
    }


def build_results_section(
    analysis: dict[str, Any], protocol: Protocol, *, frequency_threshold: float = 5.0
) -> dict[str, Any]:
    """The CT.gov ``resultsSection`` for an analysis summary.

    Parameters
    ----------
    analysis : dict
        :meth:`trialdesk.stats.analysis.FinalAnalysis.to_dict`.
    protocol : Protocol
        Arm titles and descriptions, the primary outcome's title and time frame.
    frequency_threshold : float
        Percent of participants in any group over which non-serious events are listed (CT.gov asks for <= 5).
    """
    arms = analysis["arms"]
    return {
        "participantFlowModule": _flow(analysis, arms, protocol),
        "baselineCharacteristicsModule": _baseline(analysis, arms, protocol),
        "outcomeMeasuresModule": _outcomes(analysis, arms, protocol),
        "adverseEventsModule": _adverse_events(analysis, arms, protocol, frequency_threshold),
    }


def results_problems(
    section: dict[str, Any], *, strict: bool = True, settings: Settings | None = None
) -> list[Problem]:
    """Problems of a resultsSection against the ``ResultsSection`` schema of NLM's spec ([] when valid).

    The schema ships with the package, so this always validates (it never passes for want of a spec)."""
    return schema_problems(
        section, schema="ResultsSection", strict=strict, prefix="$.resultsSection", settings=settings
    )


def check_results_section(section: dict[str, Any], *, settings: Settings | None = None) -> None:
    """Raise :class:`IntegrityError` when the document does not validate."""
    problems = results_problems(section, settings=settings)
    if problems:
        raise IntegrityError(
            "resultsSection does not validate against ctg-oas-v2.yaml: " + "; ".join(str(p) for p in problems[:5])
        )
