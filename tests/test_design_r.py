"""Live comparison with rpact (skips cleanly without Rscript or rpact)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from trialdesk.domain.design import DesignSpec, Dropout, ExponentialSurvival, UniformAccrual
from trialdesk.stats.design import closed_form_report, required_events

pytestmark = pytest.mark.r


def _rpact(code: str) -> list[float]:
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript not installed")
    probe = subprocess.run(
        [rscript, "-e", "quit(status = !requireNamespace('rpact', quietly = TRUE))"], capture_output=True, timeout=120
    )
    if probe.returncode != 0:
        pytest.skip("R package rpact not installed")
    out = subprocess.run(
        [rscript, "-e", "suppressMessages(library(rpact)); " + code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [float(x) for x in out.stdout.split()]


def test_live_rpact_group_sequential_sample_size_and_power():
    numbers = _rpact(
        "d <- getDesignGroupSequential(kMax = 3, informationRates = c(0.35, 0.7, 1), typeOfDesign = 'asOF', "
        "alpha = 0.025, beta = 0.15, futilityBounds = c(-0.5, 0.2), bindingFutility = FALSE); "
        "s <- getSampleSizeSurvival(d, hazardRatio = 0.72, median2 = 15, accrualTime = c(0, 20), "
        "maxNumberOfSubjects = 560, dropoutRate1 = 0.08, dropoutRate2 = 0.08, dropoutTime = 12); "
        "p <- getPowerSurvival(d, hazardRatio = 0.72, median2 = 15, accrualTime = c(0, 20), maxNumberOfSubjects = 560, "
        "maxNumberOfEvents = 380, dropoutRate1 = 0.08, dropoutRate2 = 0.08, dropoutTime = 12, directionUpper = FALSE); "
        "cat(d$criticalValues, s$maxNumberOfEvents, p$overallReject, p$analysisTime, sep = '\\n')"
    )
    bounds, events, power, times = numbers[:3], numbers[3], numbers[4], numbers[5:8]
    design = DesignSpec(
        sample_size=560,
        accrual=UniformAccrual(duration=20),
        control=ExponentialSurvival(median=15),
        hazard_ratio=0.72,
        dropout=Dropout(rate=0.08, time=12),
        power=0.85,
        target_events=380,
        interim_information_fractions=[0.35, 0.7],
        futility_z=[-0.5, 0.2],
    )
    report = closed_form_report(design)
    assert [look.efficacy_z for look in report.looks] == pytest.approx(bounds, abs=1e-6)
    assert required_events(design) == pytest.approx(events, rel=1e-6)
    assert report.power == pytest.approx(power, abs=1e-6)
    assert [look.expected_time_months for look in report.looks] == pytest.approx(times, abs=1e-4)
