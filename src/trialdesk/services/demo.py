"""The demo: a whole trial in motion, driven through the service layer.

``run_demo`` activates sites over time, screens simulated patients (synthetic screening records, about a third
failing real criteria), randomizes the eligible ones through the IWRS, records doses on the calendar (with delays,
reductions and reloads), adverse events by arm, tumour assessments whose RECIST progression follows each arm's
PFS distribution, deaths, withdrawals and new anticancer therapy; monitors raise queries that sites answer, and
investigators sign casebooks. Every change goes through the same services the web and API use, as the user who
would make it, on a simulated clock, so the audit trail is the real one. It is deterministic for a seed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import yaml

from trialdesk.domain.access import Principal
from trialdesk.domain.errors import TrialdeskError
from trialdesk.services.commands import (
    ChangeSiteStatus,
    DispositionKind,
    PlanDoses,
    PostResults,
    QueryStep,
    RaiseQuery,
    Randomize,
    RecordAdverseEvent,
    RecordDisposition,
    RecordDose,
    RecordTumourAssessment,
    RunAnalysis,
    ScreenPatient,
    SignCasebook,
)
from trialdesk.services.registry import get_trial_row, stored_id
from trialdesk.services.unit_of_work import Clock, UnitOfWork

if TYPE_CHECKING:
    from trialdesk.settings import Settings
    from trialdesk.stats.trial_scenario import Arrival, Assessment, PlannedAE

T = TypeVar("T")

DEMO_PASSWORD_SUFFIX = "-demo-password"  # demo mode only: known passwords, printed and shown on the home page


def demo_password(username: str) -> str:
    return f"{username}{DEMO_PASSWORD_SUFFIX}"


class SimClock:
    """The demo's clock: services read it through ``uow.now()``."""

    def __init__(self, day: dt.date) -> None:
        self.set(day)

    def set(self, day: dt.date, hour: int = 10) -> None:
        self.current = dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.current


@dataclass
class DemoReport:
    seed: int
    subjects_target: int
    start: str
    until: str
    screened: int = 0
    randomized: int = 0
    pfs_events: int = 0
    cut_date: str | None = None
    analysis_run: int | None = None
    results_posted: bool = False
    actions: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    users: list[dict[str, str]] = field(default_factory=list)
    ctcae_loaded: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "subjects_target": self.subjects_target, "start": self.start, "until": self.until,
                "screened": self.screened, "randomized": self.randomized, "pfs_events": self.pfs_events,
                "cut_date": self.cut_date, "analysis_run": self.analysis_run, "results_posted": self.results_posted,
                "actions": dict(self.actions), "refused": self.refused[:50], "refused_count": len(self.refused),
                "ctcae_loaded": self.ctcae_loaded, "users": self.users}


def load_scenario(path: str | Path | None = None, *, nct_id: str | None = None) -> dict[str, Any]:
    """The demo scenario: the file ``path``, else the one shipped beside the trial's protocol
    (``protocols/<nct_id>.demo.yaml``)."""
    if path is None:
        if nct_id is None:
            raise ValueError("load_scenario needs the scenario file or the trial it simulates")
        path = Path(str(resources.files("trialdesk") / "protocols" / f"{nct_id}.demo.yaml"))
    scenario: dict[str, Any] = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return scenario


def demo_users(sites: list[str], codes: dict[str, str]) -> list[tuple[str, str, list[str] | None, str]]:
    """(username, role, sites, display name) of the demo's users."""
    users: list[tuple[str, str, list[str] | None, str]] = [
        ("admin.demo", "admin", None, "Trial administrator"),
        ("stat.demo", "statistician", None, "Unblinded statistician"),
        ("sponsor.demo", "sponsor", None, "Sponsor study manager"),
        ("monitor.demo", "monitor", None, "Clinical research associate")]
    for site in sites:
        users.append((f"coord.{codes[site]}", "coordinator", [site], f"Study coordinator, site {codes[site]}"))
        users.append((f"inv.{codes[site]}", "investigator", [site], f"Investigator, site {codes[site]}"))
    return users


# ---------------------------------------------------------------------------------------------------------------
# The runner
# ---------------------------------------------------------------------------------------------------------------

# Within a day: activation, screening, randomization, doses, AEs, assessments, disposition, monitoring.
_ORDER = {"activate": 0, "screen": 1, "randomize": 2, "dose": 3, "ae": 4, "assess": 5, "dispose": 6, "query": 7,
          "answer": 8, "sign": 9}


class DemoApp(Protocol):
    """What the demo drives: units of work on one database and the configuration (the default trial). The app's
    ``clock`` attribute, which its units of work read, is replaced by the simulated clock (:func:`_use_clock`)."""

    @property
    def settings(self) -> Settings: ...

    def uow(self, actor: str = "system") -> UnitOfWork: ...


def _use_clock(td: DemoApp, clock: Clock) -> None:
    """Run ``td`` on ``clock`` from now on: the units of work it opens read it, during the simulation and after it
    (calendars and the dashboard are then as of the simulated trial's last day, until the caller restores the real
    clock). Not part of :class:`DemoApp`'s type: an app's clock is a plain attribute that type checkers see as a
    method, never as settable."""
    app: Any = td
    app.clock = clock


class DemoRunner:
    def __init__(self, td: DemoApp, *, nct_id: str, subjects: int, seed: int, until: dt.date | None,
                 to_completion: bool, scenario: dict[str, Any], progress: Callable[[int, int], None] | None,
                 accrual_months: float | None) -> None:
        from trialdesk.services.registry import get_protocol

        self.td = td
        self.nct = nct_id
        self.seed = seed
        self.scenario = scenario
        self.progress = progress
        self.to_completion = to_completion
        with td.uow() as uow:
            self.protocol = get_protocol(uow, self.nct, live_sites=False)
        ops = self.protocol.operations
        start_date = self.protocol.registry.status.start_date
        if ops.treatment is None or ops.schedule is None or ops.eligibility is None or start_date is None:
            raise ValueError(f"the demo needs {nct_id}'s start date and its eligibility, treatment and schedule")
        self.treatment, self.schedule, self.eligibility = ops.treatment, ops.schedule, ops.eligibility
        self.start = start_date.as_date()
        self.until = until or (dt.date(2099, 1, 1) if to_completion else self.start + dt.timedelta(days=540))
        self.subjects = subjects
        design = self.protocol.operations.design
        self.target_events = max(4, round((design.target_events if design else 334) * subjects / 642))
        self.accrual_months = accrual_months or max(3.0, 24.0 * subjects / 642)
        self.clock = SimClock(self.start)
        _use_clock(td, self.clock)
        self.report = DemoReport(seed=seed, subjects_target=subjects, start=self.start.isoformat(),
                                 until=self.until.isoformat())
        self.principals: dict[str, Principal] = {}
        self.queue: list[tuple[dt.date, int, int, str, tuple[Any, ...]]] = []
        self.counter = 0
        self.pfs_events = 0
        self.cut: dt.date | None = None
        self.ae_grades: dict[str, list[int]] = {}
        self.subject_arm: dict[str, str] = {}
        self.subject_site: dict[str, str] = {}
        self.subject_weight: dict[str, float] = {}
        self.scheduled_answers: set[int] = set()

    # -- plumbing ---------------------------------------------------------------------------------------------
    def rng(self, *key: object) -> np.random.Generator:
        digest = hashlib.sha256(("|".join(map(str, (self.seed, *key)))).encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def at(self, day: dt.date, kind: str, *payload: Any) -> None:
        import heapq

        self.counter += 1
        heapq.heappush(self.queue, (day, _ORDER[kind], self.counter, kind, payload))

    def call(self, username: str, label: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``fn(uow, principal, *args, **kwargs)`` as ``username``, committed; a refusal is counted, not raised."""
        principal = self.principals[username]
        try:
            with self.td.uow(principal.username) as uow:
                result = fn(uow, principal, *args, **kwargs)
                uow.commit()
        except TrialdeskError as exc:
            self.report.refused.append(f"{self.clock().date()} {label} as {username}: {exc.message}")
            return None
        self.report.actions[label] += 1
        return result

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
                    accounts.add_user(uow, operator, username, [(role, sites)], display_name=name,
                                      password=demo_password(username), demo=True)
                self.report.users.append({"username": username, "password": demo_password(username), "role":
                                          f"{role} ({'all sites' if sites is None else ', '.join(sites)})"})
            uow.commit()
        with self.td.uow("demo") as uow:
            for username, *_ in demo_users(self.sites, self.codes):
                user = uow.users.get(username)
                assert user is not None  # created just above
                self.principals[username] = accounts.principal_for(uow, user)
        with self.td.uow() as uow:
            source = uow.ports.ctcae
        workbook = source.workbook()  # $TRIALDESK_CTCAE_XLSX, else NCI's file in shared/data/ctcae
        if workbook is not None:
            terms = source.read_terms(workbook)
            self.call("admin.demo", "ctcae.load", lambda uow, p: ctcae.load_terms(uow, p, terms))
            self.report.ctcae_loaded = True
            with self.td.uow() as uow:
                dictionary = ctcae.dictionary(uow)
            for arm in ("thp", "tqb2102"):
                for item in self.scenario["safety"][arm]:
                    term = dictionary.get(item["term"])
                    if term is not None:
                        self.ae_grades[item["term"]] = sorted(term.defined_grades)
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
            self.accrual_months * 30.4375)
        rate = self.subjects / self.accrual_months / n_sites / max(open_share, 0.3)
        plan = arrivals(self.rng("arrivals"), self.sites, self.activation, start=self.start, until=self.until,
                        rate_per_site_month=rate, max_eligible=self.subjects,
                        screen_failure_rate=acc["screen_failure_rate"], incomplete_rate=acc["incomplete_rate"])
        pools = self._record_pools(synthetic_records, len(plan))
        for arrival in plan:
            self.at(arrival.day, "screen", arrival, pools)

    def _record_pools(self, synthetic_records: Callable[[int, np.random.Generator], list[dict[str, Any]]],
                      n: int) -> dict[str, list[dict[str, Any]]]:
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

        self.call("admin.demo", "site.activate", sites.change_site_status, self.nct, site,
                  ChangeSiteStatus(status="RECRUITING", reason="site initiation visit completed"))

    def _record_for(self, pools: dict[str, list[dict[str, Any]]], kind: str, index: int,
                    day: dt.date) -> dict[str, Any]:
        from trialdesk.stats.trial_scenario import shift_dates

        pool = pools[kind]
        record = dict(pool[index % len(pool)])
        consent = record["consent_date"]
        consent = consent if isinstance(consent, dt.date) else dt.date.fromisoformat(consent)
        record = dict(shift_dates(record, day - consent))
        record.pop("site", None)
        record.pop("screening_id", None)
        return record

    def on_screen(self, arrival: Arrival, pools: dict[str, list[dict[str, Any]]], kind_override: str | None = None,
                  ref: str | None = None) -> None:
        from trialdesk.services import screening

        kind = kind_override or arrival.kind
        code = self.codes[arrival.site]
        patient_ref = ref or f"P{code}-{arrival.index:05d}"
        record = self._record_for(pools, kind, arrival.index, arrival.day)
        result = self.call(f"coord.{code}", "screening.recorded", screening.screen_subject, self.nct,
                           ScreenPatient(site=arrival.site, patient_ref=patient_ref, record=record,
                                         screened_on=arrival.day))
        if result is None:
            return
        self.report.screened += 1
        if result["verdict"] == "eligible":
            delay = int(self.rng("rand-delay", arrival.index).integers(0, 4))
            self.at(arrival.day + dt.timedelta(days=delay), "randomize", result["subject_number"], arrival.site)
        elif result["verdict"] == "incomplete":
            later = arrival.day + dt.timedelta(days=int(self.rng("rescreen", arrival.index).integers(7, 15)))
            self.at(later, "screen", arrival.__class__(arrival.index, arrival.site, later, "eligible"), pools,
                    "eligible", patient_ref)

    def on_randomize(self, subject_number: str, site: str) -> None:
        from trialdesk.services import randomization

        if self.report.randomized >= self.subjects:  # rescreened patients can overshoot the target: stop there
            return
        code = self.codes[site]
        day = self.clock().date()
        allocation = self.call(f"coord.{code}", "randomization.allocate", randomization.randomize_subject, self.nct,
                               subject_number, Randomize(confirm=True, client_key=f"demo-{subject_number}",
                                                         randomized_on=day))
        if allocation is None:
            return
        self.report.randomized += 1
        arm = allocation["arm"]
        self.subject_arm[subject_number] = arm
        self.subject_site[subject_number] = site
        self.plan_course(subject_number, site, arm, day)

    def plan_course(self, subject_number: str, site: str, arm: str, randomized: dt.date) -> None:
        from trialdesk.stats.trial_scenario import simulate_course

        rng = self.rng("course", subject_number)
        with self.td.uow() as uow:
            subject = uow.subjects.get(stored_id(get_trial_row(uow, self.nct)), subject_number)
            height = (subject.height_cm if subject is not None else None) or 160.0
        weight = float(self.rng("weight", subject_number).normal(60, 8))
        self.subject_weight[subject_number] = weight
        regimen = self.treatment.arm(arm)
        schedule = self.schedule
        from trialdesk.domain.schedule import assessment_grid

        grid = [(d - randomized).days for d, _window in assessment_grid(schedule, randomized,
                                                                        randomized + dt.timedelta(days=365 * 6))]
        grid = [d for d in grid if d > 0]
        course = simulate_course(rng, arm=arm, randomized=randomized, weight_kg=weight, scenario=self.scenario,
                                 max_cycles=min(regimen.max_cycles or 60, 60), assessment_days=grid,
                                 horizon=self.until, ae_grades=self.ae_grades)
        code = self.codes[site]
        staff, inv = f"coord.{code}", f"inv.{code}"
        for i, assessment in enumerate(course.assessments):
            self.at(assessment.day if i else randomized, "assess", subject_number, staff, assessment, i == 0,
                    assessment.progression)
        for cycle, (day, weight_kg, delay) in enumerate(zip(course.cycles, course.weights, course.delays), 1):
            self.at(day, "dose", subject_number, staff, cycle, weight_kg, height, delay,
                    course.reduce_from_cycle is not None and cycle >= course.reduce_from_cycle)
        for ae in course.aes:
            self.at(ae.onset, "ae", subject_number, staff, ae)
        if course.end_of_treatment:
            self.at(course.end_of_treatment, "dispose", subject_number, staff, "end_of_treatment",
                    course.end_of_treatment_reason, None)
            if self.scenario["monitoring"].get("sign_at_end_of_treatment"):
                self.at(course.end_of_treatment + dt.timedelta(days=7), "sign", subject_number, inv)
        if course.new_therapy_day:
            self.at(course.new_therapy_day, "dispose", subject_number, staff, "new_therapy", "second-line therapy",
                    {"description": "trastuzumab emtansine" if arm == "thp" else "pyrotinib + capecitabine"})
        if course.death_day and course.death_day <= self.until:
            progressed_first = course.assessments[-1].progression
            self.at(course.death_day, "dispose", subject_number, staff, "death",
                    "disease progression" if progressed_first else "cardiovascular event",
                    {"cause": "breast cancer" if progressed_first else "myocardial infarction",
                     "pfs_event": not progressed_first})
        if course.dropout_day and course.dropout_day <= self.until:
            self.at(course.dropout_day, "dispose", subject_number, staff, "end_of_study", "withdrawal of consent",
                    None)

    def on_dose(self, subject_number: str, staff: str, cycle: int, weight_kg: float, height_cm: float, delay: int,
                reduced: bool) -> None:
        from trialdesk.services import treatment

        day = self.clock().date()
        levels = None
        arm = self.subject_arm[subject_number]
        plan = self.call(staff, "dose.plan", treatment.planned_doses, self.nct, subject_number,
                         PlanDoses(cycle=cycle, weight_kg=weight_kg, height_cm=height_cm, dose_date=day))
        if plan is None:
            return
        for dose in plan["doses"]:
            level = -1 if reduced and dose["drug"] in ("docetaxel", "tqb2102") else 0
            amount = dose["dose_mg"]
            reason = None
            if level:
                levels = {dose["drug"]: level}
                reduced_plan = self.call(staff, "dose.plan", treatment.planned_doses, self.nct, subject_number,
                                         PlanDoses(cycle=cycle, weight_kg=weight_kg, height_cm=height_cm,
                                                   dose_date=day, dose_levels=levels))
                if reduced_plan:
                    amount = next(d["dose_mg"] for d in reduced_plan["doses"] if d["drug"] == dose["drug"])
                    reason = "grade 3 toxicity in a previous cycle"
            self.call(staff, "dose.recorded", treatment.record_dose, self.nct, subject_number, RecordDose(
                drug=dose["drug"], cycle=cycle, dose_date=day, actual_mg=amount, weight_kg=weight_kg,
                delay_reason="patient request / scheduling" if delay else None, reduction_level=level,
                reduction_reason=reason, height_cm=height_cm))
        del arm
        self.answer_edit_check_queries(subject_number, staff)
        if self.rng("query", subject_number, cycle).random() < self.scenario["monitoring"]["query_probability"]:
            lo, hi = self.scenario["monitoring"]["answer_days"]
            self.at(day + dt.timedelta(days=int(self.rng("q-day", subject_number, cycle).integers(3, 15))), "query",
                    subject_number, "dose", cycle, "actual_mg", "Please confirm the administered dose against the "
                    "pharmacy record.", staff, (lo, hi))

    def on_ae(self, subject_number: str, staff: str, ae: PlannedAE) -> None:
        from trialdesk.services import adverse_events

        if not self.report.ctcae_loaded:
            return
        arm = self.subject_arm[subject_number]
        drugs = [d.drug for d in self.treatment.arm(arm).drugs]
        relation = {drug: ("possible" if i == 0 else "unlikely") for i, drug in enumerate(drugs)}
        resolution = ae.resolution if ae.resolution and ae.resolution <= self.until else None
        self.call(staff, "adverse_event.recorded", adverse_events.record_adverse_event, self.nct, subject_number,
                  RecordAdverseEvent.model_validate({
                      "term": ae.term, "grade": ae.grade, "onset_date": ae.onset, "resolution_date": None,
                      "serious": ae.serious, "seriousness": ["hospitalisation"] if ae.serious else [],
                      "relationship": relation,
                      "action_taken": "dose_reduced" if ae.grade >= 3 else "dose_not_changed",
                      "outcome": "recovering" if resolution else "not_recovered"}))

    def on_assess(self, subject_number: str, staff: str, assessment: Assessment, baseline: bool,
                  progression: bool) -> None:
        from trialdesk.services import tumor

        result = self.call(staff, "tumor_assessment.recorded", tumor.record_tumor_assessment, self.nct, subject_number,
                           RecordTumourAssessment.model_validate({"assessment_date": assessment.day,
                                                                  "lesions": assessment.lesions,
                                                                  "baseline": baseline}))
        if result is not None and progression:
            self.count_event(assessment.day)
        self.answer_edit_check_queries(subject_number, staff)

    def answer_edit_check_queries(self, subject_number: str, staff: str) -> None:
        """Sites answer the queries that edit checks opened (out-of-window visits and the like) within days."""
        from trialdesk.services import queries

        open_ones = self.call("monitor.demo", "query.list", queries.list_queries, self.nct,
                              subject_number=subject_number, status="open") or []
        lo, hi = self.scenario["monitoring"]["answer_days"]
        for query in open_ones:
            if query["id"] in self.scheduled_answers:
                continue
            self.scheduled_answers.add(query["id"])
            day = self.clock().date() + dt.timedelta(days=int(self.rng("auto-answer", query["id"]).integers(lo, hi + 1)))
            self.at(day, "answer", query["id"], staff)

    def count_event(self, day: dt.date) -> None:
        self.pfs_events += 1
        if self.to_completion and self.cut is None and self.pfs_events >= self.target_events:
            self.cut = day

    def on_dispose(self, subject_number: str, staff: str, kind: DispositionKind, reason: str | None,
                   details: dict[str, Any] | None) -> None:
        from trialdesk.services import treatment

        details = dict(details or {})
        pfs_event = details.pop("pfs_event", False)
        result = self.call(staff, f"disposition.{kind}", treatment.record_disposition, self.nct, subject_number,
                           RecordDisposition(kind=kind, event_date=self.clock().date(), reason=reason,
                                             details=details or None))
        if result is not None and kind == "death" and pfs_event:
            self.count_event(self.clock().date())

    def on_query(self, subject_number: str, entity_type: str, cycle: int, field_name: str, message: str, staff: str,
                 answer_days: tuple[int, int]) -> None:
        from trialdesk.services import queries

        doses = self.call("monitor.demo", "dose.list", _doses_of, self.nct, subject_number, cycle)
        if not doses:
            return
        query = self.call("monitor.demo", "query.raised", queries.raise_query, self.nct, subject_number,
                          RaiseQuery(entity_type=entity_type, entity_id=str(doses[0]), field=field_name,
                                     message=message))
        if query is None:
            return
        self.scheduled_answers.add(query["id"])
        lo, hi = answer_days
        day = self.clock().date() + dt.timedelta(days=int(self.rng("answer", query["id"]).integers(lo, hi + 1)))
        self.at(day, "answer", query["id"], staff)

    def on_answer(self, query_id: int, staff: str) -> None:
        from trialdesk.services import queries

        if self.call(staff, "query.answered", queries.answer_query, self.nct, query_id,
                     QueryStep(text="Checked against the source documents: the entry is correct as recorded.")
                     ) is not None:
            self.call("monitor.demo", "query.closed", queries.close_query, self.nct, query_id,
                      QueryStep(text="Source verified."))

    def on_sign(self, subject_number: str, investigator: str) -> None:
        from trialdesk.services import signatures

        self.call(investigator, "casebook.signed", signatures.sign_casebook, self.nct, subject_number,
                  SignCasebook(password=demo_password(investigator)))

    # -- main loop ----------------------------------------------------------------------------------------------
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
        if self.progress:
            self.progress(done, done)
        return self.report

    def finish(self, cut: dt.date) -> None:
        from trialdesk.services import analysis

        self.clock.set(cut + dt.timedelta(days=1))
        self.report.cut_date = cut.isoformat()
        run = self.call("stat.demo", "analysis.run", analysis.run_analysis, self.nct, RunAnalysis(cut_date=cut))
        if run is None:
            return
        run_id = run.get("run_id") or run.get("id")
        self.report.analysis_run = run_id
        posted = self.call("stat.demo", "results.post", analysis.post_results, self.nct, PostResults(run_id=run_id))
        self.report.results_posted = posted is not None


def _doses_of(uow: UnitOfWork, principal: Principal, nct_id: str, subject_number: str, cycle: int) -> list[int]:
    """Ids of a subject's doses in a cycle (for a monitor's query)."""
    from trialdesk.services.subjects import get_subject

    _, subject = get_subject(uow, principal, nct_id, subject_number)
    return [stored_id(d) for d in uow.doses.for_subject(stored_id(subject)) if d.cycle == cycle]


def run_demo(td: DemoApp, *, nct_id: str | None = None, subjects: int = 120, seed: int = 7,
             until: dt.date | None = None, to_completion: bool = False, scenario: dict[str, Any] | None = None,
             progress: Callable[[int, int], None] | None = None, accrual_months: float | None = None) -> DemoReport:
    """Drive a simulated trial through the services of ``td`` (a bootstrapped database with no subjects): ``nct_id``,
    default the configured default trial (``Settings.default_trial``, NCT07003074), with the scenario shipped
    beside its protocol unless ``scenario`` is given.

    ``subjects`` subjects are randomized; accrual is compressed so that they arrive over ``accrual_months``
    (default: the design's 24 months for 642, scaled). The run stops at ``until`` or, with ``to_completion``, at
    the event-driven data cut (the design's target events scaled to ``subjects``), then runs the final analysis as
    the statistician and posts the results. The database clock is the simulated one while it runs.
    """
    nct = nct_id or td.settings.default_trial
    runner = DemoRunner(td, nct_id=nct, subjects=subjects, seed=seed, until=until, to_completion=to_completion,
                        scenario=scenario or load_scenario(nct_id=nct), progress=progress,
                        accrual_months=accrual_months)
    return runner.run()
