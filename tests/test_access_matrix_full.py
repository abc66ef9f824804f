"""Every Action x every Role x {own site, other site}, through the service layer and through the HTTP API.

What is allowed comes from the independent EXPECTED table of test_access_matrix (written from the roles in the
issue, not from domain/access.py). For each Action at least one representative service operation (several where
the services take different paths to the same permission: data entry by dose, AE, tumour assessment and
disposition) is called as each role, at the role's own site (Hunan) and at another site (Anhui, activated so that
only access can refuse); site-free actions once per role. Asserted:

- allowed iff EXPECTED says so; an allowed call really succeeds (fresh subject / query per call, so calls are
  independent) and a state-changing one leaves a non-denial audit event by the caller;
- a refusal raises :class:`Denial` naming the action (or ``subject.view`` when the subject itself is hidden),
  answered 404 where the caller may not see the subject (existence must not leak), 403 for site and trial
  actions, 403 or 404 where the caller sees the subject but may not act on it;
- a 404 is exactly the answer (status and body) to the same request about a subject / query that does not exist;
- a refusal changes nothing: a digest of every table but the audit trail is as before, and the only new audit
  event is the denial itself (``access.denied`` by the caller, naming the action).

The HTTP half does the same over the JSON API (Bearer token per role) for every action with an API endpoint.
``audit.view`` has no service or endpoint yet (the ``audit log`` CLI reads the repository as the local operator):
it is covered by the domain matrix only, and ``test_every_action_has_an_operation`` says so explicitly.
The module builds its state once on SQLite (module-scoped fixture; ~45 s for ~480 cases). The same module
passed on PostgreSQL (~75 s) when pointed at it by hand; it is not parametrized over both to keep CI fast.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from access_helpers import NCT, OTHER, OWN, PASSWORD, make_users, token_for
from capture_helpers import THP_RELATIONSHIP, add_subject
from randomization_db_helpers import SEED, add_subjects, setup_list
from test_access_matrix import TRIAL_WIDE_ACTIONS, expected
from trialdesk.adapters.db.tables import AuditEventRow, Base
from trialdesk.adapters.randomization_secret import ENV_SECRET, SeedStore
from trialdesk.bootstrap import bootstrap
from trialdesk.domain.access import SYSTEM, Action, Denial, Role
from trialdesk.domain.ctcae import CtcaeTerm
from trialdesk.domain.errors import NotFound
from trialdesk.services import (
    accounts,
    adverse_events,
    analysis,
    ctcae,
    dashboard,
    design,
    monitoring,
    queries,
    randomization,
    registry,
    results_posting,
    screening,
    signatures,
    sites,
    treatment,
    tumor,
)
from trialdesk.services.commands import (
    ApproveResults,
    ChangeSiteStatus,
    PostResults,
    QueryStep,
    RaiseQuery,
    Randomize,
    RecordAdverseEvent,
    RecordDisposition,
    RecordDose,
    RecordTrialDecision,
    RecordTumourAssessment,
    RunAnalysis,
    ScreenPatient,
    SignCasebook,
)

A = Action
NOW = dt.datetime(2026, 1, 20, 9, 30, tzinfo=dt.UTC)
SCRATCH = "NCT99000001"  # a copy of the trial without a list: generating one there is the manage operation
ELIGIBLE = json.loads((Path(__file__).resolve().parents[1] / "docs" / "screening" / "eligible.json").read_text())
# CTCAE v5.0, Nausea (MedDRA 10028813), grade texts as in NCI's workbook.
NAUSEA = CtcaeTerm(
    term="Nausea",
    meddra_code=10028813,
    soc="Gastrointestinal disorders",
    grades={
        1: "Loss of appetite without alteration in eating habits",
        2: "Oral intake decreased without significant weight loss, dehydration or malnutrition",
        3: "Inadequate oral caloric or fluid intake; tube feeding, TPN, or hospitalization indicated",
        4: None,
        5: None,
    },
)
BASELINE = [{"lesion_id": "T1", "kind": "target", "organ": "liver", "measurement": 50}]
STRATUM = {"hr_status": "positive", "disease_setting": "recurrent", "visceral_metastases": "yes"}
SUBJECT_LEVEL = {
    A.SUBJECT_VIEW,
    A.RANDOMIZE,
    A.DATA_ENTER,
    A.QUERY_RAISE,
    A.QUERY_ANSWER,
    A.QUERY_CLOSE,
    A.CASEBOOK_SIGN,
    A.SDV_MARK,
    A.DEVIATION_RECORD,
    A.DEVIATION_CLOSE,
}
VOLATILE_COLUMNS = {"last_used_at", "last_seen_at"}  # touched by authenticating a request, not by the operation


# ---------------------------------------------------------------------------------------------------------------
# The shared state: one SQLite database for the module
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class World:
    td: Any
    principals: dict
    headers: dict
    client: TestClient
    seeds: SeedStore
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    def next(self) -> int:
        return next(self.counter)


def _scratch_copy(td) -> None:
    from trialdesk.adapters.protocol_files import load_default_protocol

    base = load_default_protocol()
    reg = base.registry.model_copy(
        update={"identification": base.registry.identification.model_copy(update={"nct_id": SCRATCH})}
    )
    with td.uow("setup") as uow:
        registry.save_protocol(uow, base.model_copy(update={"registry": reg}), reason="matrix test scratch copy")
        uow.commit()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("matrix") / "matrix.sqlite"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_SECRET, SEED.hex())  # the seed store the API's randomization reads
        td = bootstrap(f"sqlite:///{path}", clock=lambda: NOW)
        principals = make_users(td)
        with td.uow("setup") as uow:
            sites.change_site_status(
                uow, SYSTEM, NCT, OTHER, ChangeSiteStatus(status="RECRUITING", reason="matrix test: other site open")
            )
            ctcae.load_terms(uow, SYSTEM, [NAUSEA])
            uow.commit()
        setup_list(td, slots_per_stratum=4)
        _scratch_copy(td)
        add_subject(td, "SEED-0001")  # data for an analysis run that post_results can post
        with td.uow("setup") as uow:
            run = analysis.run_analysis(uow, SYSTEM, NCT, RunAnalysis(cut_date="2026-01-19"), with_report=False)
            # the primary analysis is due (an early stop) and the run approved, so that posting is allowed
            results_posting.record_decision(
                uow, SYSTEM, NCT, RecordTrialDecision(kind="early_stop", reason="matrix test: analysis due")
            )
            results_posting.approve_results(uow, SYSTEM, NCT, ApproveResults(run_id=run["run_id"], confirm=True))
            # The early stop closed recruitment at every site (tests/test_recruitment_closure.py); this world tests
            # permissions, so the two sites the matrix screens and randomizes at recruit again (set directly: the
            # services never reopen a closed site).
            for site in uow.sites.for_trial(uow.trials.get(NCT).id):
                if site.site_key in (OWN, OTHER):
                    site.status = "RECRUITING"
            uow.commit()
        headers = {role: {"Authorization": f"Bearer {token_for(td, p.username)}"} for role, p in principals.items()}
        store = SeedStore(path.parent / "secrets")
        store.save(NCT, SEED)
        client = TestClient(create_app_for(td))
        yield World(td, principals, headers, client, store)
        client.close()
        td.dispose()


def create_app_for(td):
    from trialdesk.entrypoints.web.app import create_app

    return create_app(td_app=td)


def _digest(td) -> dict[str, str]:
    """Every table but the audit trail and web sessions, row by row."""
    out = {}
    with td.uow() as uow:
        for table in Base.metadata.sorted_tables:
            if table.name in ("audit_events", "audit_head", "web_sessions"):
                continue
            cols = [c for c in table.columns if c.name not in VOLATILE_COLUMNS]
            rows = [tuple(r) for r in uow.session.execute(select(*cols).order_by(*table.primary_key.columns))]
            out[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return out


def _last_seq(td) -> int:
    with td.uow() as uow:
        return uow.session.execute(select(func.max(AuditEventRow.seq))).scalar_one() or 0


def _audit_since(td, seq: int) -> list:
    """Audit events after ``seq``: (action, actor, entity_id)."""
    with td.uow() as uow:
        return uow.session.execute(
            select(AuditEventRow.action, AuditEventRow.actor, AuditEventRow.entity_id)
            .where(AuditEventRow.seq > seq)
            .order_by(AuditEventRow.seq)
        ).all()


# ---------------------------------------------------------------------------------------------------------------
# The operations: for each Action, what to prepare (as setup), how to call the service, how to call the API
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Http:
    method: str
    path: Callable[[dict], str]
    body: Callable[[dict], Any] | None = None
    ok: int = 200


@dataclass(frozen=True)
class Op:
    name: str
    action: Action
    call: Callable[[Any, Any, dict], Any]  # (uow, principal, ctx)
    prepare: Callable[[World, str], dict] = lambda w, site: {"site": site}
    writes: bool = False  # an allowed call leaves a non-denial audit event
    undo: Callable[[World, dict], None] | None = None
    http: Http | None = None

    @property
    def site_free(self) -> bool:
        return self.action in TRIAL_WIDE_ACTIONS


def _subject(w: World, site: str) -> dict:
    """A fresh subject, screened eligible and randomized to THP, at ``site``."""
    number = f"{'H' if site == OWN else 'A'}-{w.next():04d}"
    add_subject(w.td, number, site=site)
    return {"site": site, "subject": number}


def _new_run(w: World, site: str) -> dict:
    """A fresh analysis run (not yet approved)."""
    with w.td.uow("setup") as uow:
        run = analysis.run_analysis(uow, SYSTEM, NCT, RunAnalysis(cut_date="2026-01-19"), with_report=False)
        uow.commit()
    return {"site": site, "run_id": run["run_id"]}


_CLOSED = RecordTrialDecision(kind="recruitment_closed", reason="matrix test: recruitment closed")


def _eligible(w: World, site: str) -> dict:
    """A fresh subject, screened eligible, not yet randomized."""
    n = w.next()
    [number] = add_subjects(w.td, [STRATUM], site=site, prefix="EO" if site == OWN else "EA", start=n)
    return {"site": site, "subject": number}


def _query(w: World, site: str) -> dict:
    ctx = _subject(w, site)
    with w.td.uow("setup") as uow:
        q = queries.raise_query(
            uow,
            SYSTEM,
            NCT,
            ctx["subject"],
            RaiseQuery(
                entity_type="subject",
                entity_id=ctx["subject"],
                field="birth_date",
                message="differs from the source document",
            ),
        )
        uow.commit()
    return {**ctx, "query": q["id"]}


_DEVIATION = {"category": "visit_schedule", "description": "C1D1 out of window", "occurred_on": "2026-01-09"}


def _deviation(w: World, site: str) -> dict:
    """A fresh subject with an open protocol deviation."""
    ctx = _subject(w, site)
    with w.td.uow("setup") as uow:
        d = monitoring.record_deviation(
            uow, SYSTEM, NCT, ctx["subject"], monitoring.RecordDeviation.model_validate(_DEVIATION)
        )
        uow.commit()
    return {**ctx, "deviation": d["id"]}


def _sdv_body(ctx: dict) -> dict:
    return {"entity_type": "subject", "entity_id": ctx["subject"]}


def _patient(w: World, site: str) -> dict:
    return {"site": site, "ref": f"MATRIX-{w.next()}"}


def _set_site_status(w: World, ctx: dict) -> None:
    with w.td.uow("setup") as uow:
        sites.change_site_status(
            uow, SYSTEM, NCT, ctx["site"], ChangeSiteStatus(status="RECRUITING", reason="matrix test: undo")
        )
        uow.commit()


def _dose(ctx: dict) -> dict:
    # 60 kg, 160 cm: Mosteller sqrt(60 x 160 / 3600) = 1.633 m2; docetaxel 75 mg/m2 x 1.633 = 122.5 mg
    return {
        "drug": "docetaxel",
        "cycle": 1,
        "dose_date": "2026-01-06",
        "actual_mg": 122.5,
        "weight_kg": 60,
        "height_cm": 160,
    }


def _ae(ctx: dict) -> dict:
    return {"term": "Nausea", "grade": 1, "onset_date": "2026-01-10", "relationship": THP_RELATIONSHIP}


def _tumor(ctx: dict) -> dict:
    return {"assessment_date": "2025-12-28", "lesions": BASELINE, "baseline": True}


def _query_body(ctx: dict) -> dict:
    return {"entity_type": "subject", "entity_id": ctx["subject"], "field": "sex", "message": "please check"}


SUBJ = "/api/v1/trials/" + NCT + "/subjects/{subject}"
TRIAL = "/api/v1/trials/" + NCT

OPS = [
    Op(
        "user.add",
        A.USER_MANAGE,
        writes=True,
        prepare=lambda w, site: {"name": f"matrix-user-{w.next()}"},
        call=lambda uow, p, c: accounts.add_user(uow, p, c["name"], [("coordinator", [OWN])]),
    ),
    Op(
        "site.status",
        A.SITE_ACTIVATE,
        writes=True,
        undo=_set_site_status,
        call=lambda uow, p, c: sites.change_site_status(
            uow, p, NCT, c["site"], ChangeSiteStatus(status="SUSPENDED", reason="matrix test")
        ),
        http=Http(
            "POST",
            lambda c: f"{TRIAL}/sites/{c['site']}/status",
            lambda c: {"status": "SUSPENDED", "reason": "matrix test"},
        ),
    ),
    Op(
        "protocol.load",
        A.PROTOCOL_LOAD,
        writes=True,
        prepare=lambda w, site: {"nct": f"NCT98{w.next():06d}"},
        call=lambda uow, p, c: registry.load_protocol(uow, p, _copy_of_protocol(c["nct"]), reason="matrix"),
    ),
    Op("ctcae.load", A.CTCAE_LOAD, writes=True, call=lambda uow, p, c: ctcae.load_terms(uow, p, [NAUSEA])),
    Op(
        "site.view",
        A.SITE_VIEW,
        call=lambda uow, p, c: sites.view_site(uow, p, NCT, c["site"]),
        http=Http("GET", lambda c: f"{TRIAL}/sites/{c['site']}"),
    ),
    Op(
        "dashboard",
        A.DASHBOARD_VIEW,
        call=lambda uow, p, c: dashboard.dashboard(uow, p, NCT),
        http=Http("GET", lambda c: f"{TRIAL}/dashboard"),
    ),
    Op(
        "subject.calendar",
        A.SUBJECT_VIEW,
        prepare=_subject,
        call=lambda uow, p, c: treatment.subject_calendar(uow, p, NCT, c["subject"]),
        http=Http("GET", lambda c: SUBJ.format(**c) + "/calendar"),
    ),
    Op(
        "subject.allocation",
        A.SUBJECT_VIEW,
        prepare=_subject,
        call=lambda uow, p, c: randomization.get_allocation(uow, p, NCT, c["subject"]),
        http=Http("GET", lambda c: SUBJ.format(**c) + "/randomization"),
    ),
    Op(
        "subject.adverse_events",
        A.SUBJECT_VIEW,
        prepare=_subject,
        call=lambda uow, p, c: adverse_events.list_adverse_events(uow, p, NCT, c["subject"]),
        http=Http("GET", lambda c: SUBJ.format(**c) + "/adverse-events"),
    ),
    Op(
        "screening.get",
        A.SUBJECT_VIEW,
        prepare=_subject,
        call=lambda uow, p, c: screening.get_screening(uow, p, NCT, c["site"], f"S-{c['subject']}"),
        http=Http("GET", lambda c: f"{TRIAL}/screenings/{c['site']}/S-{c['subject']}"),
    ),
    Op(
        "screen",
        A.SCREEN,
        writes=True,
        prepare=_patient,
        call=lambda uow, p, c: screening.screen_subject(
            uow, p, NCT, ScreenPatient(site=c["site"], patient_ref=c["ref"], record=ELIGIBLE)
        ),
        http=Http(
            "POST",
            lambda c: f"{TRIAL}/screenings",
            lambda c: {"site": c["site"], "patient_ref": c["ref"], "record": ELIGIBLE},
            201,
        ),
    ),
    Op(
        "randomize",
        A.RANDOMIZE,
        writes=True,
        prepare=_eligible,
        call=lambda uow, p, c: randomization.randomize_subject(
            uow, p, NCT, c["subject"], Randomize(confirm=True), seeds=c["seeds"]
        ),
        http=Http("POST", lambda c: SUBJ.format(**c) + "/randomization", lambda c: {"confirm": True}),
    ),
    Op(
        "dose",
        A.DATA_ENTER,
        writes=True,
        prepare=_subject,
        call=lambda uow, p, c: treatment.record_dose(uow, p, NCT, c["subject"], RecordDose(**_dose(c))),
        http=Http("POST", lambda c: SUBJ.format(**c) + "/doses", _dose, 201),
    ),
    Op(
        "adverse_event",
        A.DATA_ENTER,
        writes=True,
        prepare=_subject,
        call=lambda uow, p, c: adverse_events.record_adverse_event(
            uow, p, NCT, c["subject"], RecordAdverseEvent.model_validate(_ae(c))
        ),
        http=Http("POST", lambda c: SUBJ.format(**c) + "/adverse-events", _ae, 201),
    ),
    Op(
        "tumor_assessment",
        A.DATA_ENTER,
        writes=True,
        prepare=_subject,
        call=lambda uow, p, c: tumor.record_tumor_assessment(
            uow, p, NCT, c["subject"], RecordTumourAssessment.model_validate(_tumor(c))
        ),
        http=Http("POST", lambda c: SUBJ.format(**c) + "/tumor-assessments", _tumor, 201),
    ),
    Op(
        "disposition",
        A.DATA_ENTER,
        writes=True,
        prepare=_subject,
        call=lambda uow, p, c: treatment.record_disposition(
            uow,
            p,
            NCT,
            c["subject"],
            RecordDisposition(kind="end_of_treatment", event_date="2026-01-15", reason="investigator decision"),
        ),
        http=Http(
            "POST",
            lambda c: SUBJ.format(**c) + "/dispositions",
            lambda c: {"kind": "end_of_treatment", "event_date": "2026-01-15", "reason": "investigator decision"},
            201,
        ),
    ),
    Op(
        "query.raise",
        A.QUERY_RAISE,
        writes=True,
        prepare=_subject,
        call=lambda uow, p, c: queries.raise_query(uow, p, NCT, c["subject"], RaiseQuery(**_query_body(c))),
        http=Http("POST", lambda c: SUBJ.format(**c) + "/queries", _query_body, 201),
    ),
    Op(
        "query.answer",
        A.QUERY_ANSWER,
        writes=True,
        prepare=_query,
        call=lambda uow, p, c: queries.answer_query(uow, p, NCT, c["query"], QueryStep(text="corrected")),
        http=Http("POST", lambda c: f"{TRIAL}/queries/{c['query']}/answer", lambda c: {"text": "corrected"}),
    ),
    Op(
        "query.close",
        A.QUERY_CLOSE,
        writes=True,
        prepare=_query,
        call=lambda uow, p, c: queries.close_query(uow, p, NCT, c["query"], QueryStep(text="raised in error")),
        http=Http("POST", lambda c: f"{TRIAL}/queries/{c['query']}/close", lambda c: {"text": "raised in error"}),
    ),
    Op(
        "casebook.sign",
        A.CASEBOOK_SIGN,
        writes=True,
        prepare=_subject,
        call=lambda uow, p, c: signatures.sign_casebook(uow, p, NCT, c["subject"], SignCasebook(password=PASSWORD)),
        http=Http("POST", lambda c: SUBJ.format(**c) + "/signature", lambda c: {"password": PASSWORD}, 201),
    ),
    Op(
        "sdv.mark",
        A.SDV_MARK,
        writes=True,
        prepare=_subject,
        call=lambda uow, p, c: monitoring.mark_sdv(
            uow, p, NCT, c["subject"], monitoring.MarkSdv.model_validate(_sdv_body(c))
        ),
        http=Http("POST", lambda c: SUBJ.format(**c) + "/sdv", _sdv_body),
    ),
    Op(
        "deviation.record",
        A.DEVIATION_RECORD,
        writes=True,
        prepare=_subject,
        call=lambda uow, p, c: monitoring.record_deviation(
            uow, p, NCT, c["subject"], monitoring.RecordDeviation.model_validate(_DEVIATION)
        ),
        http=Http("POST", lambda c: SUBJ.format(**c) + "/deviations", lambda c: _DEVIATION, 201),
    ),
    Op(
        "deviation.close",
        A.DEVIATION_CLOSE,
        writes=True,
        prepare=_deviation,
        call=lambda uow, p, c: monitoring.close_deviation(
            uow, p, NCT, c["subject"], c["deviation"], monitoring.CloseDeviation(capa="visit reminders")
        ),
        http=Http(
            "POST",
            lambda c: SUBJ.format(**c) + f"/deviations/{c['deviation']}/close",
            lambda c: {"capa": "visit reminders"},
        ),
    ),
    Op(
        "monitoring.site_kri",
        A.MONITORING_VIEW,
        call=lambda uow, p, c: monitoring.site_kri(uow, p, NCT, c["site"]),
        http=Http("GET", lambda c: f"{TRIAL}/sites/{c['site']}/kri"),
    ),
    Op(
        "randomization.balance",
        A.RANDOMIZATION_LIST,
        call=lambda uow, p, c: randomization.balance(uow, p, NCT),
        http=Http("GET", lambda c: f"{TRIAL}/randomization/balance"),
    ),
    Op(
        "randomization.export",
        A.RANDOMIZATION_LIST,
        writes=True,
        call=lambda uow, p, c: randomization.export_list(uow, p, NCT, SEED),
        http=Http("POST", lambda c: f"{TRIAL}/randomization/export"),
    ),
    Op(
        "randomization.generate",
        A.RANDOMIZATION_MANAGE,
        writes=True,
        call=lambda uow, p, c: randomization.generate_list(uow, p, SCRATCH, SEED, slots_per_stratum=2),
    ),
    Op(
        "analysis.run",
        A.ANALYSIS_RUN,
        writes=True,
        call=lambda uow, p, c: analysis.run_analysis(
            uow, p, NCT, RunAnalysis(cut_date="2026-01-19"), with_report=False
        ),
        http=Http("POST", lambda c: f"{TRIAL}/analysis/runs", lambda c: {"cut_date": "2026-01-19"}, 201),
    ),
    Op(
        "results.post",
        A.RESULTS_POST,
        writes=True,
        call=lambda uow, p, c: results_posting.post_results(uow, p, NCT, PostResults(run_id=1, confirm=True)),
        http=Http("POST", lambda c: f"{TRIAL}/results", lambda c: {"run_id": 1, "confirm": True}),
    ),
    Op(
        "results.approve",
        A.RESULTS_APPROVE,
        writes=True,
        prepare=_new_run,
        call=lambda uow, p, c: results_posting.approve_results(
            uow, p, NCT, ApproveResults(run_id=c["run_id"], confirm=True)
        ),
        http=Http(
            "POST", lambda c: f"{TRIAL}/results/approvals", lambda c: {"run_id": c["run_id"], "confirm": True}, 201
        ),
    ),
    Op(
        "trial.decide",
        A.TRIAL_DECIDE,
        writes=True,
        # on the scratch copy: a closure closes the trial's sites, and the other operations screen and randomize
        call=lambda uow, p, c: results_posting.record_decision(uow, p, SCRATCH, _CLOSED),
        http=Http(
            "POST", lambda c: f"/api/v1/trials/{SCRATCH}/decisions", lambda c: _CLOSED.model_dump(mode="json"), 201
        ),
    ),
    Op(
        "design.closed_form",
        A.DESIGN_SIMULATE,
        call=lambda uow, p, c: design.closed_form(uow, p, NCT),
        http=Http("GET", lambda c: f"{TRIAL}/design"),
    ),
]

#: Actions without any service operation to call (covered by the domain matrix in test_access_matrix only).
NO_SERVICE = {A.AUDIT_VIEW}


def _copy_of_protocol(nct: str):
    from trialdesk.adapters.protocol_files import load_default_protocol

    base = load_default_protocol()
    reg = base.registry.model_copy(
        update={"identification": base.registry.identification.model_copy(update={"nct_id": nct})}
    )
    return base.model_copy(update={"registry": reg})


def _cases(ops):
    for op in ops:
        for role in Role:
            for where in ["trial"] if op.site_free else ["own", "other"]:
                yield pytest.param(op, role, where, id=f"{op.name}-{role.value}-{where}")


def _allowed(role: Role, op: Op, where: str) -> bool:
    return expected(role, op.action, "own" if where == "trial" else where)


def _expected_statuses(role: Role, op: Op, where: str) -> set[int]:
    """404 where the caller may not see the subject (its existence must not leak). Where the caller sees the
    subject but may not act on it, 403 or 404: nothing leaks either way (the services differ: dose, disposition
    and randomization answer 404, AE, tumour, query and signature 403). Anything else: 403."""
    if op.action in SUBJECT_LEVEL:
        return {404} if not expected(role, A.SUBJECT_VIEW, where) else {403, 404}
    return {403}


def _absent(ctx: dict) -> dict:
    """The same request about a subject / query that does not exist."""
    return {
        **ctx,
        **({"subject": "ZZ-9999"} if "subject" in ctx else {}),
        **({"query": 999999} if "query" in ctx else {}),
    }


def _as_if_absent(answer: dict, ctx: dict) -> dict:
    """``answer`` with the real subject number / query id written as the absent one's."""
    gone = _absent(ctx)
    key = "query" if "query" in ctx else "subject"
    return json.loads(re.sub(rf"\b{re.escape(str(ctx[key]))}\b", str(gone[key]), json.dumps(answer)))


def test_every_action_has_an_operation():
    covered = {op.action for op in OPS}
    assert covered == set(Action) - NO_SERVICE
    assert {op.action for op in OPS if op.http} == covered - {
        A.USER_MANAGE,
        A.PROTOCOL_LOAD,
        A.CTCAE_LOAD,
        A.RANDOMIZATION_MANAGE,
    }
    assert not covered & NO_SERVICE


def _check_denial(w: World, role: Role, op: Op, before: dict, seq: int):
    """Nothing changed; the only new audit event is the denial, by the caller."""
    assert _digest(w.td) == before, f"a refused {op.name} by {role.value} changed something"
    [event] = _audit_since(w.td, seq)
    assert (event.action, event.actor) == ("access.denied", w.principals[role].username)
    return event


def _check_allowed(w: World, role: Role, op: Op, seq: int) -> None:
    new = _audit_since(w.td, seq)
    assert "access.denied" not in {e.action for e in new}
    if op.writes:
        assert any(e.actor == w.principals[role].username for e in new), f"{op.name} left no audit event"


# ---------------------------------------------------------------------------------------------------------------
# Through the service layer
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("op", "role", "where"), list(_cases(OPS)))
def test_service_matrix(world, op, role, where):
    w, principal = world, world.principals[role]
    site = OTHER if where == "other" else OWN
    ctx = {**op.prepare(w, site), "seeds": w.seeds}
    before, seq = _digest(w.td), _last_seq(w.td)
    denial = None
    try:
        with w.td.uow(principal.username) as uow:
            op.call(uow, principal, ctx)
            uow.commit()
    except Denial as exc:
        denial = exc
    allowed = _allowed(role, op, where)
    if allowed:
        assert denial is None, f"{role.value} was refused {op.name} at the {where} site: {denial}"
        _check_allowed(w, role, op, seq)
        if op.undo:
            op.undo(w, ctx)
        return
    assert denial is not None, f"{role.value} was allowed {op.name} at the {where} site"
    assert denial.status_code in _expected_statuses(role, op, where), (denial.status_code, denial)
    hidden = denial.status_code == 404
    assert denial.action == op.action or (hidden and denial.action == A.SUBJECT_VIEW), denial.action
    last = _check_denial(w, role, op, before, seq)
    assert last.entity_id == denial.action.value
    if hidden:  # indistinguishable from asking about a subject (query) that does not exist
        with pytest.raises(NotFound) as absent, w.td.uow(principal.username) as uow:
            op.call(uow, principal, _absent(ctx))
        assert not isinstance(absent.value, Denial)
        assert _as_if_absent(denial.to_dict(), ctx) == absent.value.to_dict()


# ---------------------------------------------------------------------------------------------------------------
# Through the HTTP API
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("op", "role", "where"), list(_cases([op for op in OPS if op.http])))
def test_http_matrix(world, op, role, where):
    w = world
    site = OTHER if where == "other" else OWN
    ctx = op.prepare(w, site)
    before, seq = _digest(w.td), _last_seq(w.td)
    body = op.http.body(ctx) if op.http.body else None
    r = w.client.request(
        op.http.method, op.http.path(ctx), headers=w.headers[role], **({"json": body} if body is not None else {})
    )
    if _allowed(role, op, where):
        assert r.status_code == op.http.ok, (role.value, where, r.status_code, r.text)
        _check_allowed(w, role, op, seq)
        if op.undo:
            op.undo(w, ctx)
        return
    assert r.status_code in _expected_statuses(role, op, where), (role.value, where, r.status_code, r.text)
    _check_denial(w, role, op, before, seq)
    if r.status_code == 404:  # the same answer as for a subject (query) that does not exist
        gone = _absent(ctx)
        r2 = w.client.request(
            op.http.method,
            op.http.path(gone),
            headers=w.headers[role],
            **({"json": op.http.body(gone)} if body is not None else {}),
        )
        assert (r2.status_code, r2.json()) == (404, _as_if_absent(r.json(), ctx))


# ---------------------------------------------------------------------------------------------------------------
# protocol.load from the CLI goes through the guarded service
# ---------------------------------------------------------------------------------------------------------------


def test_cli_protocol_load_is_guarded(world, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from trialdesk.entrypoints.cli.main import app

    w = world
    nct = "NCT97000001"
    path = tmp_path / "copy.json"
    path.write_text(_copy_of_protocol(nct).model_dump_json(by_alias=True))
    monkeypatch.setenv("TRIALDESK_PASSWORD", PASSWORD)
    monkeypatch.delenv("TRIALDESK_TOKEN", raising=False)
    url = str(w.td.engine.url.render_as_string(hide_password=False))
    before, seq = _digest(w.td), _last_seq(w.td)
    out = CliRunner().invoke(app, ["protocol", "load", str(path), "--db", url, "--as", "sponsor1"])
    assert out.exit_code == 1 and "sponsor1 may not protocol.load" in out.output, out.output
    assert _digest(w.td) == before
    events = [tuple(e) for e in _audit_since(w.td, seq)]
    assert ("access.denied", "sponsor1", "protocol.load") in events
    assert {a for a, _, _ in events} == {"auth.login", "auth.logout", "access.denied"}, events
    out = CliRunner().invoke(app, ["protocol", "load", str(path), "--db", url, "--as", "admin1"])
    assert out.exit_code == 0 and f"{nct}: created" in out.output, out.output
    assert ("trial.created", "admin1", nct) in _audit_since(w.td, seq)
