"""The demo runner: set up the trial, schedule sites and arrivals, screen and randomize, run the event loop to
the data cut, analyse and post."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from trialdesk.services.commands import (
    ApproveResults,
    ChangeSiteStatus,
    PostResults,
    Randomize,
    RecordTrialDecision,
    RunAnalysis,
    ScreenPatient,
)
from trialdesk.services.registry import get_trial_row, stored_id
from trialdesk.settings import DEMO_SEED, DEMO_SUBJECTS

if TYPE_CHECKING:
    from trialdesk.stats.trial_scenario import Arrival

from trialdesk.services.demo.scenario import DemoApp, DemoReport, demo_password, demo_users, load_scenario
from trialdesk.services.demo.subject_events import SubjectEvents


class DemoRunner(SubjectEvents):
    # -- setup --------------------------------------------------------------------------------------------------
    def setup(self) -> None:
        from trialdesk.domain.access import SYSTEM
        from trialdesk.services import accounts, ctcae
        from trialdesk.services.subjects import site_code

        with self.td.uow("demo") as uow:
            trial_id = stored_id(get_trial_row(uow, self.nct))
            self.sites = [s.site_key for s in uow.sites.for_trial(trial_id)]
            self.codes = {s: site_code(uow, trial_id, s) for s in self.sites}
        operator = SYSTEM
        with self.td.uow("demo") as uow:
            for username, role, sites, name in demo_users(self.sites, self.codes):
                if uow.users.get(username) is None:
                    accounts.add_user(
                        uow,
                        operator,
                        username,
                        [(role, sites)],
                        display_name=name,
                        password=demo_password(username),
                        demo=True,
                    )
                self.report.users.append(
                    {
                        "username": username,
                        "password": demo_password(username),
                        "role": f"{role} ({'all sites' if sites is None else ', '.join(sites)})",
                    }
                )
            uow.commit()
        with self.td.uow("demo") as uow:
            for username, *_ in demo_users(self.sites, self.codes):
                user = uow.users.get(username)
                assert user is not None  # created just above
                self.principals[username] = accounts.principal_for(uow, user)
        # $TRIALDESK_CTCAE_XLSX when configured, else the dictionary shipped with the package: AEs are always coded
        self.call("admin.demo", "ctcae.load", lambda uow, p: ctcae.ensure_loaded(uow, p))
        with self.td.uow() as uow:
            self.report.ctcae_loaded = bool(uow.ctcae.count(ctcae.CTCAE_VERSION))
            dictionary = ctcae.dictionary(uow) if self.report.ctcae_loaded else None
        if dictionary is not None:
            for arm in ("thp", "tqb2102"):
                for item in self.scenario["safety"][arm]:
                    if item["term"] in dictionary:
                        self.ae_grades[item["term"]] = sorted(dictionary.get(item["term"]).defined_grades)
        self.setup_randomization()
        self.schedule_sites()

    def setup_randomization(self) -> None:
        from trialdesk.services import randomization

        secret = hashlib.sha256(f"trialdesk-demo-seed-{self.seed}".encode()).digest()
        with self.td.uow() as uow:
            uow.ports.seeds.store().save(self.nct, secret)  # kept outside the database, as for a real list
        self.call("stat.demo", "randomization.generate", randomization.generate_list, self.nct, seed=secret)
        self.call("stat.demo", "randomization.go_live", randomization.go_live, self.nct, seed=secret)

    def schedule_sites(self) -> None:
        from trialdesk.stats.trial_scenario import site_activation_days

        first, last = self.scenario["accrual"]["site_activation_days"]
        last = min(last, int(self.accrual_months * 30.4375 / 3))
        with self.td.uow() as uow:
            trial_id = stored_id(get_trial_row(uow, self.nct))
            status = {s.site_key: s.status for s in uow.sites.for_trial(trial_id)}
        order = sorted(self.sites, key=lambda s: (status[s] != "RECRUITING", self.codes[s]))
        days = site_activation_days(len(order), first, last)
        self.activation: dict[str, dt.date] = {}
        for site, offset in zip(order, days):
            day = self.start + dt.timedelta(days=offset)
            self.activation[site] = day
            if status[site] != "RECRUITING":
                self.at(day, "activate", site)

    # -- arrivals ---------------------------------------------------------------------------------------------
    def schedule_arrivals(self) -> None:
        from trialdesk.stats.synthetic_cohort import synthetic_records
        from trialdesk.stats.trial_scenario import arrivals

        acc = self.scenario["accrual"]
        n_sites = len(self.sites)
        open_share = 1.0 - (sum((d - self.start).days for d in self.activation.values()) / n_sites) / (
            self.accrual_months * 30.4375
        )
        rate = self.subjects / self.accrual_months / n_sites / max(open_share, 0.3)
        plan = arrivals(
            self.rng("arrivals"),
            self.sites,
            self.activation,
            start=self.start,
            until=self.until,
            rate_per_site_month=rate,
            max_eligible=self.subjects,
            screen_failure_rate=acc["screen_failure_rate"],
            incomplete_rate=acc["incomplete_rate"],
        )
        pools = self._record_pools(synthetic_records, len(plan))
        for arrival in plan:
            self.at(arrival.day, "screen", arrival, pools)

    def _record_pools(
        self, synthetic_records: Callable[[int, np.random.Generator], list[dict[str, Any]]], n: int
    ) -> dict[str, list[dict[str, Any]]]:
        from trialdesk.domain.eligibility import evaluate
        from trialdesk.domain.screening import ScreeningRecord

        spec = self.eligibility
        pools: dict[str, list[dict[str, Any]]] = {"eligible": [], "ineligible": [], "incomplete": []}
        rng = self.rng("records")
        while min(len(v) for v in pools.values()) < max(5, n // 3) and sum(map(len, pools.values())) < 60 * n + 600:
            for record in synthetic_records(200, rng):
                verdict = evaluate(spec, ScreeningRecord.model_validate(record), self.protocol.registry.eligibility)
                pools[verdict.verdict].append(record)
        return pools

    # -- event handlers -----------------------------------------------------------------------------------------
    def on_activate(self, site: str) -> None:
        from trialdesk.services import sites

        self.call(
            "admin.demo",
            "site.activate",
            sites.change_site_status,
            self.nct,
            site,
            ChangeSiteStatus(status="RECRUITING", reason="site initiation visit completed"),
        )

    def _record_for(
        self, pools: dict[str, list[dict[str, Any]]], kind: str, index: int, day: dt.date
    ) -> dict[str, Any]:
        from trialdesk.stats.trial_scenario import shift_dates

        pool = pools[kind]
        record = dict(pool[index % len(pool)])
        consent = record["consent_date"]
        consent = consent if isinstance(consent, dt.date) else dt.date.fromisoformat(consent)
        record = dict(shift_dates(record, day - consent))
        record.pop("site", None)
        record.pop("screening_id", None)
        return record

    def on_screen(
        self,
        arrival: Arrival,
        pools: dict[str, list[dict[str, Any]]],
        kind_override: str | None = None,
        ref: str | None = None,
    ) -> None:
        from trialdesk.services import screening

        kind = kind_override or arrival.kind
        code = self.codes[arrival.site]
        patient_ref = ref or f"P{code}-{arrival.index:05d}"
        record = self._record_for(pools, kind, arrival.index, arrival.day)
        result = self.call(
            f"coord.{code}",
            "screening.recorded",
            screening.screen_subject,
            self.nct,
            ScreenPatient(site=arrival.site, patient_ref=patient_ref, record=record, screened_on=arrival.day),
        )
        if result is None:
            return
        self.report.screened += 1
        if result["verdict"] == "eligible":
            delay = int(self.rng("rand-delay", arrival.index).integers(0, 4))
            self.at(arrival.day + dt.timedelta(days=delay), "randomize", result["subject_number"], arrival.site)
        elif result["verdict"] == "incomplete":
            later = arrival.day + dt.timedelta(days=int(self.rng("rescreen", arrival.index).integers(7, 15)))
            self.at(
                later,
                "screen",
                arrival.__class__(arrival.index, arrival.site, later, "eligible"),
                pools,
                "eligible",
                patient_ref,
            )

    def on_randomize(self, subject_number: str, site: str) -> None:
        from trialdesk.services import randomization

        if self.report.randomized >= self.subjects:  # rescreened patients can overshoot the target: stop there
            return
        code = self.codes[site]
        day = self.clock().date()
        allocation = self.call(
            f"coord.{code}",
            "randomization.allocate",
            randomization.randomize_subject,
            self.nct,
            subject_number,
            Randomize(confirm=True, client_key=f"demo-{subject_number}", randomized_on=day),
        )
        if allocation is None:
            return
        self.report.randomized += 1
        arm = allocation["arm"]
        self.subject_arm[subject_number] = arm
        self.subject_site[subject_number] = site
        self.plan_course(subject_number, site, arm, day)

    def run(self) -> DemoReport:
        import heapq

        self.setup()
        self.schedule_arrivals()
        total = max(len(self.queue), 1)
        done = 0
        while self.queue:
            day, _order, _n, kind, payload = heapq.heappop(self.queue)
            if day > self.until or (self.cut is not None and day > self.cut):
                break
            self.clock.set(day)
            before = len(self.queue)
            getattr(self, f"on_{kind}")(*payload)
            total += len(self.queue) - before + (1 if len(self.queue) < before else 0)
            done += 1
            if self.progress and done % 25 == 0:
                self.progress(done, max(total, done))
        end = self.cut or min(self.until, self.clock().date())
        self.report.until = end.isoformat()
        self.report.pfs_events = self.pfs_events
        if self.to_completion:
            self.finish(end)
        self.mark_clock()
        if self.progress:
            self.progress(done, done)
        return self.report

    def mark_clock(self) -> None:
        """Leave the database on the trial clock (``services/trial_clock.py``): from now on every process that opens
        it (web, CLI) continues from the simulation's last moment at real speed."""
        from trialdesk.services.trial_clock import mark_simulated
        from trialdesk.services.unit_of_work import utc_now

        with self.td.uow("system") as uow:
            mark_simulated(uow, self.clock(), utc_now(), reason="demo: the simulated trial continues from its last day")
            uow.commit()

    def finish(self, cut: dt.date) -> None:
        from trialdesk.services import analysis

        self.clock.set(cut + dt.timedelta(days=1))
        self.report.cut_date = cut.isoformat()
        run = self.call("stat.demo", "analysis.run", analysis.run_analysis, self.nct, RunAnalysis(cut_date=cut))
        if run is None:
            return
        run_id = int(run["run_id"])
        self.report.analysis_run = run_id
        self.post_results(cut, run_id)

    def post_results(self, cut: dt.date, run_id: int) -> None:
        """The sponsor approves the run and the statistician posts it, both confirming. A demo smaller than the
        design reaches the design's target events scaled to its subjects, not the protocol's own target: the
        sponsor records that as an early stop (with the reason), so the primary analysis is due."""
        from trialdesk.services import results_posting

        design = self.protocol.operations.design
        if design is None or self.pfs_events < design.target_events:
            reason = (
                f"demo: {self.subjects} subjects simulated instead of {design.sample_size if design else 'the design'};"
                f" the final analysis is at the target events scaled to them ({self.target_events} PFS events)"
            )
            decision = RecordTrialDecision(kind="early_stop", decided_on=cut, reason=reason)
            self.call("sponsor.demo", "trial.decide", results_posting.record_decision, self.nct, decision)
        approval = ApproveResults(run_id=run_id, confirm=True, note="demo: final analysis approved for posting")
        self.call("sponsor.demo", "results.approve", results_posting.approve_results, self.nct, approval)
        command = PostResults(run_id=run_id, confirm=True)
        posted = self.call("stat.demo", "results.post", results_posting.post_results, self.nct, command)
        self.report.results_posted = posted is not None


def run_demo(
    td: DemoApp,
    *,
    nct_id: str | None = None,
    subjects: int = DEMO_SUBJECTS,
    seed: int = DEMO_SEED,
    until: dt.date | None = None,
    to_completion: bool = False,
    scenario: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
    accrual_months: float | None = None,
) -> DemoReport:
    """Drive a simulated trial through the services of ``td`` (a bootstrapped database with no subjects): ``nct_id``,
    default the configured default trial (``Settings.default_trial``, NCT07003074), with the scenario shipped
    beside its protocol unless ``scenario`` is given.

    ``subjects`` subjects are randomized; accrual is compressed so that they arrive over ``accrual_months``
    (default: the design's 24 months for 642, scaled). The run stops at ``until`` or, with ``to_completion``, at
    the event-driven data cut (the design's target events scaled to ``subjects``), then runs the final analysis as
    the statistician and posts the results. The database clock is the simulated one while it runs.
    """
    nct = nct_id or td.settings.default_trial
    runner = DemoRunner(
        td,
        nct_id=nct,
        subjects=subjects,
        seed=seed,
        until=until,
        to_completion=to_completion,
        scenario=scenario or load_scenario(nct_id=nct),
        progress=progress,
        accrual_months=accrual_months,
    )
    return runner.run()
