"""Simulated captured data for the final analysis (tests, benchmarks, demos): a seeded generator in, plain
records out (:class:`~trialdesk.domain.datasets.CapturedData`).

Subjects are randomized 1:1 over an accrual period; progression times are exponential with the control median
and a proportional-hazards effect of the experimental Arm (``hazard_ratio``); tumour assessments follow the
protocol grid (``operations.schedule``) with a jitter inside the visit window, so progression is detected at
the first assessment after it. A share of PFS events are deaths without documented progression; some Subjects
drop out. Doses run every cycle until progression (docetaxel at most 6 cycles); adverse events are drawn per
Subject with arm-specific rates. Nothing here reads a clock or a global random state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from trialdesk.domain.datasets import (
    AdverseEventInput,
    AssessmentInput,
    CapturedData,
    DispositionInput,
    DoseInput,
    ScreeningInput,
    SubjectInput,
)
from trialdesk.domain.schedule import ScheduleSpec, assessment_grid

__all__ = ["SimulationSettings", "simulate_captured_data"]

_AE_TERMS = [  # (term, SOC, p_experimental, p_control)
    ("Neutrophil count decreased", "Investigations", 0.45, 0.55),
    ("Anemia", "Blood and lymphatic system disorders", 0.50, 0.30),
    ("Nausea", "Gastrointestinal disorders", 0.55, 0.30),
    ("Diarrhea", "Gastrointestinal disorders", 0.20, 0.45),
    ("Alopecia", "Skin and subcutaneous tissue disorders", 0.30, 0.60),
    ("Fatigue", "General disorders and administration site conditions", 0.35, 0.40),
    ("Pneumonitis", "Respiratory, thoracic and mediastinal disorders", 0.08, 0.01),
    ("Peripheral sensory neuropathy", "Nervous system disorders", 0.05, 0.25),
]


@dataclass(frozen=True)
class SimulationSettings:
    n_subjects: int = 642
    n_screened_extra: int = 120
    hazard_ratio: float = 0.70
    control_median_months: float = 18.5
    death_share: float = 0.12
    dropout_per_year: float = 0.05
    accrual_days: int = 730
    first_randomization: dt.date = dt.date(2025, 7, 1)
    cut_date: dt.date = dt.date(2028, 9, 30)
    orr_experimental: float = 0.70
    orr_control: float = 0.60
    new_therapy_share: float = 0.03
    sites: tuple[str, ...] = ("hunan-cancer-hospital",)


def simulate_captured_data(
    rng: np.random.Generator,
    schedule: ScheduleSpec,
    settings: SimulationSettings = SimulationSettings(),
    arms: tuple[str, str] = ("tqb2102", "thp"),
) -> CapturedData:
    """Draw one trial's captured data (see module docstring)."""
    s = settings
    n = s.n_subjects
    exp_arm, ctl_arm = arms
    arm = np.where(rng.permutation(np.arange(n) % 2 == 0), exp_arm, ctl_arm)
    rand_day = np.sort(rng.integers(0, s.accrual_days, n))
    rate_ctl = np.log(2) / (s.control_median_months * 30.4375)
    rate = np.where(arm == exp_arm, rate_ctl * s.hazard_ratio, rate_ctl)
    t_prog = rng.exponential(1.0 / rate)
    is_death = rng.random(n) < s.death_share
    t_drop = (
        rng.exponential(365.25 / max(s.dropout_per_year, 1e-9), n) if s.dropout_per_year > 0 else np.full(n, np.inf)
    )
    hr_pos = rng.random(n) < 0.5
    de_novo = rng.random(n) < 0.45
    visceral = rng.random(n) < 0.75
    ages = rng.integers(28, 76, n)
    ecog = (rng.random(n) < 0.4).astype(int)
    responder_p = np.where(arm == exp_arm, s.orr_experimental, s.orr_control)
    responder = rng.random(n) < responder_p
    new_therapy = rng.random(n) < s.new_therapy_share
    subjects, screenings, assessments, dispositions, doses, aes = [], [], [], [], [], []
    for i in range(n):
        sn = f"S-{i + 1:04d}"
        site = s.sites[i % len(s.sites)]
        r_on = s.first_randomization + dt.timedelta(days=int(rand_day[i]))
        if r_on > s.cut_date:
            continue
        birth = r_on - dt.timedelta(days=int(ages[i] * 365.25 + rng.integers(0, 365)))
        stratum = {
            "hr_status": "positive" if hr_pos[i] else "negative",
            "disease_setting": "de_novo" if de_novo[i] else "recurrent",
            "visceral_metastases": "yes" if visceral[i] else "no",
        }
        subjects.append(SubjectInput(sn, site, str(arm[i]), r_on, stratum, False, birth, "female", int(ecog[i])))
        screenings.append(ScreeningInput(sn, r_on - dt.timedelta(days=int(rng.integers(1, 20))), "eligible"))
        assessments.append(AssessmentInput(sn, r_on - dt.timedelta(days=3), None, baseline=True))
        event_day = float(t_prog[i])
        drop_day = float(t_drop[i])
        death_on = None
        last_day = min(drop_day, (s.cut_date - r_on).days)
        nt_on = None
        if new_therapy[i]:
            nt_day = float(rng.uniform(60, 400))
            if nt_day < min(event_day, last_day):
                nt_on = r_on + dt.timedelta(days=int(nt_day))
                last_day = min(last_day, nt_day + 1)
        pd_on = None
        for planned, window in assessment_grid(schedule, r_on, r_on + dt.timedelta(days=int(last_day))):
            day = (planned - r_on).days + int(rng.integers(-min(window, 3), min(window, 3) + 1))
            if day > last_day:
                break
            on = r_on + dt.timedelta(days=day)
            if day >= event_day and not is_death[i]:
                assessments.append(AssessmentInput(sn, on, "PD"))
                pd_on = on
                break
            if day >= event_day and is_death[i]:
                break
            resp = "PR" if responder[i] and day >= 42 else "SD"
            if rng.random() < 0.02:
                resp = "NE"
            assessments.append(AssessmentInput(sn, on, resp))
        if is_death[i] and event_day <= last_day:
            death_on = r_on + dt.timedelta(days=int(event_day))
            dispositions.append(DispositionInput(sn, "death", death_on, "Disease progression"))
        stop_on = pd_on or death_on or nt_on
        if nt_on is not None:
            dispositions.append(DispositionInput(sn, "new_therapy", nt_on, "New anticancer therapy"))
        end_treat = stop_on or (r_on + dt.timedelta(days=int(last_day)))
        cycle_day = 1
        cycle = 1
        while True:
            d_on = r_on + dt.timedelta(days=cycle_day)
            if d_on >= end_treat or d_on > s.cut_date:
                break
            delay = int(rng.random() < 0.1) * int(rng.integers(1, 8))
            if arm[i] == exp_arm:
                doses.append(
                    DoseInput(sn, cycle, "tqb2102", d_on, 400.0 * (0.8 if rng.random() < 0.05 else 1.0), 400.0)
                )
            else:
                if cycle <= 6:
                    doses.append(DoseInput(sn, cycle, "docetaxel", d_on, 120.0, 120.0))
                doses.append(
                    DoseInput(
                        sn, cycle, "trastuzumab", d_on, 480.0 if cycle == 1 else 360.0, 480.0 if cycle == 1 else 360.0
                    )
                )
                doses.append(
                    DoseInput(
                        sn, cycle, "pertuzumab", d_on, 840.0 if cycle == 1 else 420.0, 840.0 if cycle == 1 else 420.0
                    )
                )
            cycle += 1
            cycle_day += 21 + delay
        if stop_on is not None and stop_on <= s.cut_date and cycle > 1:
            reason = "Progressive disease" if pd_on else ("Death" if death_on else "New anticancer therapy")
            dispositions.append(DispositionInput(sn, "end_of_treatment", stop_on, reason))
        if cycle > 1:
            first = r_on + dt.timedelta(days=1)
            span = max((end_treat - first).days, 1)
            for term, soc, p_e, p_c in _AE_TERMS:
                if rng.random() < (p_e if arm[i] == exp_arm else p_c):
                    grade = int(rng.choice([1, 2, 3, 4], p=[0.45, 0.35, 0.15, 0.05]))
                    onset = first + dt.timedelta(days=int(rng.integers(0, span)))
                    if onset <= s.cut_date:
                        aes.append(
                            AdverseEventInput(
                                sn,
                                term,
                                soc,
                                grade,
                                onset,
                                serious=grade >= 4 or (grade == 3 and rng.random() < 0.3),
                                action_taken="drug withdrawn" if grade >= 4 and rng.random() < 0.2 else None,
                            )
                        )
    for j in range(s.n_screened_extra):
        on = s.first_randomization + dt.timedelta(days=int(rng.integers(0, s.accrual_days)))
        if on <= s.cut_date:
            sn = f"X-{j + 1:04d}"
            subjects.append(SubjectInput(sn, s.sites[j % len(s.sites)]))
            crit = tuple(rng.choice(["INC-03", "INC-07", "EXC-01", "INC-08"], size=1))
            screenings.append(ScreeningInput(sn, on, "ineligible" if j % 6 else "incomplete", crit if j % 6 else ()))
    return CapturedData(subjects, screenings, assessments, dispositions, doses, aes)
