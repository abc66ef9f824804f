"""A simulated clinical course for the demo: what happens to each patient, as data (pure, seeded).

The demo driver (``services/demo.py``) turns these plans into calls of the real services, day by day. Everything
here is a function of a seeded ``numpy.random.Generator`` and the scenario parameters
(``protocols/NCT07003074.demo.yaml``), so a seed reproduces the same trial.

Tumour measurements are built backwards from a latent progression time: target-lesion sums shrink towards a nadir
(deeper for responders) and, at the first scheduled assessment on or after the latent PFS time, grow by more than
20 % and 5 mm from the nadir (or a new lesion appears), so that RECIST progression dates follow each arm's PFS
distribution, observed on the assessment grid as in a real trial.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DAYS_PER_MONTH = 30.4375


@dataclass(frozen=True)
class Arrival:
    """A patient who comes to a site for screening."""

    index: int
    site: str
    day: dt.date
    kind: str  # eligible | ineligible | incomplete


def site_activation_days(n_sites: int, first: int, last: int) -> list[int]:
    if n_sites <= 1:
        return [first]
    return [round(first + (last - first) * k / (n_sites - 1)) for k in range(n_sites)]


def arrivals(
    rng: np.random.Generator,
    sites: list[str],
    activation: dict[str, dt.date],
    *,
    start: dt.date,
    until: dt.date,
    rate_per_site_month: float,
    max_eligible: int,
    screen_failure_rate: float,
    incomplete_rate: float,
) -> list[Arrival]:
    """Poisson arrivals at each open site, in date order, until ``max_eligible`` eligible patients have come."""
    out: list[Arrival] = []
    rate = rate_per_site_month / DAYS_PER_MONTH / max(1e-9, 1.0 - screen_failure_rate - incomplete_rate)
    eligible = 0
    day = start
    index = 0
    while day <= until and eligible < max_eligible:
        open_sites = [s for s in sites if activation[s] <= day]
        for site in open_sites:
            for _ in range(rng.poisson(rate)):
                u = rng.random()
                kind = (
                    "ineligible"
                    if u < screen_failure_rate
                    else ("incomplete" if u < screen_failure_rate + incomplete_rate else "eligible")
                )
                if kind == "eligible":
                    if eligible >= max_eligible:
                        continue
                    eligible += 1
                out.append(Arrival(index, site, day, kind))
                index += 1
        day += dt.timedelta(days=1)
    return out


def shift_dates(value: Any, delta: dt.timedelta) -> Any:
    """Shift every ISO date string in a nested record by ``delta``."""
    if isinstance(value, dict):
        return {k: shift_dates(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [shift_dates(v, delta) for v in value]
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return (value + delta).isoformat()
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return (dt.date.fromisoformat(value) + delta).isoformat()
        except ValueError:
            return value
    return value


@dataclass
class PlannedAE:
    term: str
    grade: int
    onset: dt.date
    resolution: dt.date | None
    serious: bool


@dataclass
class Assessment:
    day: dt.date
    lesions: list[dict[str, Any]]
    progression: bool


@dataclass
class Course:
    """One randomized subject's simulated course."""

    arm: str
    randomized: dt.date
    pfs_day: dt.date  # latent progression date (continuous time)
    death_day: dt.date | None
    dropout_day: dt.date | None
    new_therapy_day: dt.date | None
    cycles: list[dt.date] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    delays: list[int] = field(default_factory=list)
    reduce_from_cycle: int | None = None
    aes: list[PlannedAE] = field(default_factory=list)
    assessments: list[Assessment] = field(default_factory=list)
    end_of_treatment: dt.date | None = None
    end_of_treatment_reason: str | None = None


def _exp_days(rng: np.random.Generator, median_months: float) -> float:
    return float(rng.exponential(median_months / math.log(2) * DAYS_PER_MONTH))


def simulate_course(
    rng: np.random.Generator,
    *,
    arm: str,
    randomized: dt.date,
    weight_kg: float,
    scenario: dict[str, Any],
    max_cycles: int,
    assessment_days: list[int],
    horizon: dt.date,
    ae_grades: dict[str, list[int]],
) -> Course:
    """The clinical course of one subject from randomization (arms: ``tqb2102`` experimental, ``thp`` control).

    ``assessment_days`` are the protocol's fixed tumour-assessment grid (days after randomization);
    ``ae_grades`` the grades CTCAE defines for each term of the scenario (so planned AEs are always valid).
    """
    eff = scenario["efficacy"]
    median = eff["control_median_pfs_months"] * (1.0 if arm == "thp" else 1.0 / eff["hazard_ratio"])
    pfs = randomized + dt.timedelta(days=max(1.0, _exp_days(rng, median)))
    yearly = eff["death_without_progression_rate_per_year"]
    early_death = randomized + dt.timedelta(days=float(rng.exponential(365.25 / yearly))) if yearly > 0 else None
    if early_death is not None and early_death < pfs:
        death = early_death
    else:
        death = pfs + dt.timedelta(days=max(7.0, _exp_days(rng, eff["post_progression_death_median_months"])))
    dropout_at = randomized + dt.timedelta(days=float(rng.exponential(365.25 / eff["dropout_rate_per_year"])))
    dropout = None if dropout_at >= min(pfs, death) else dropout_at
    course = Course(
        arm=arm, randomized=randomized, pfs_day=pfs, death_day=death, dropout_day=dropout, new_therapy_day=None
    )

    # Tumour assessments on the fixed grid: sums shrink to a nadir, progression at the first visit >= pfs.
    responder = rng.random() < eff["response_probability"][arm]
    n_targets = int(rng.integers(1, 4))
    baseline = [float(rng.uniform(15, 45)) for _ in range(n_targets)]
    depth = float(rng.uniform(0.35, 0.75)) if responder else float(rng.uniform(0.0, 0.25))
    organs = ["liver", "lung", "breast"]
    stop = min(d for d in [death, dropout, horizon] if d is not None)
    progressed = False
    nadir = sum(baseline)
    for k, offset in enumerate([0, *assessment_days]):
        day = randomized + dt.timedelta(days=offset) if k else randomized - dt.timedelta(days=int(rng.integers(1, 14)))
        if k and day > stop:
            break
        if k == 0:
            sizes = baseline
        elif day >= pfs:
            growth = 1.25 + float(rng.uniform(0, 0.3))
            sizes = [max(s * (1 - depth), 3.0) * growth + 3.0 for s in baseline]
            progressed = True
        else:
            frac = min(1.0, k / 3)
            sizes = [max(s * (1 - depth * frac), 0.0) for s in baseline]
        sizes = [round(s) for s in sizes]
        if progressed and sum(sizes) < 1.2 * nadir + 5:
            sizes[0] += int(math.ceil(1.2 * nadir + 5 - sum(sizes)))
        nadir = min(nadir, sum(sizes)) if k else sum(sizes)
        lesions = [
            {"lesion_id": f"T{i + 1}", "kind": "target", "organ": organs[i], "nodal": False, "measurement": s}
            for i, s in enumerate(sizes)
        ]
        course.assessments.append(Assessment(day, lesions, progressed))
        if progressed:
            break
    pd_day = course.assessments[-1].day if progressed else None

    # Treatment: 21-day cycles until progression, death, dropout or (docetaxel) the cycle limit.
    treat_stop = min(d for d in [pd_day, death, dropout, horizon] if d is not None)
    tcfg = scenario["treatment"]
    day = randomized + dt.timedelta(days=int(rng.integers(0, 4)))
    weight = weight_kg
    while day < treat_stop and len(course.cycles) < max_cycles:
        delay = int(rng.integers(1, 8)) if course.cycles and rng.random() < tcfg["delay_probability"] else 0
        day = day + dt.timedelta(days=delay)
        if day >= treat_stop:
            break
        course.cycles.append(day)
        course.delays.append(delay)
        weight = round(max(35.0, weight + float(rng.normal(0, tcfg["weight_sd_kg_per_cycle"]))), 1)
        course.weights.append(weight)
        day = day + dt.timedelta(days=21)
    if course.cycles:
        last = course.cycles[-1]
        if pd_day is not None and pd_day <= treat_stop:
            reason = "progressive disease"
        elif death is not None and death <= treat_stop:
            reason = "death"
        elif dropout is not None and dropout <= treat_stop:
            reason = "withdrawal of consent"
        elif len(course.cycles) >= max_cycles:
            reason = "completed planned treatment"
        else:
            reason = None
        if reason:
            course.end_of_treatment = min(last + dt.timedelta(days=21), treat_stop)
            course.end_of_treatment_reason = reason
    if pd_day is not None and rng.random() < eff["new_therapy_after_pd_probability"]:
        course.new_therapy_day = pd_day + dt.timedelta(days=int(rng.integers(7, 30)))

    # Adverse events during treatment, per-arm incidence; grade >= 3 with the published share.
    if course.cycles:
        first, last = course.cycles[0], course.cycles[-1] + dt.timedelta(days=20)
        span = max((last - first).days, 1)
        for item in scenario["safety"][arm]:
            if rng.random() >= item["incidence"]:
                continue
            grades = ae_grades.get(item["term"])
            if not grades:
                continue
            severe = [g for g in grades if g >= 3 and g < 5]
            mild = [g for g in grades if g < 3]
            grade = (
                int(rng.choice(severe))
                if severe and (rng.random() < item["grade3_share"] or not mild)
                else int(rng.choice(mild))
                if mild
                else int(min(grades))
            )
            onset = first + dt.timedelta(days=int(rng.integers(0, span)))
            resolution = onset + dt.timedelta(days=int(rng.integers(3, 40)))
            serious = grade >= 3 and rng.random() < item.get("serious_share", 0.1)
            course.aes.append(PlannedAE(item["term"], grade, onset, resolution, bool(serious)))
            if (
                grade >= 3
                and course.reduce_from_cycle is None
                and rng.random() < tcfg["reduction_after_grade3_probability"]
            ):
                later = [i for i, c in enumerate(course.cycles) if c > onset]
                course.reduce_from_cycle = later[0] + 1 if later else None
        course.aes.sort(key=lambda a: a.onset)
    return course
