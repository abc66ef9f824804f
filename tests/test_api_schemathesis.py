"""Issue 10: schemathesis over the whole JSON API, as served.

The spec is loaded from ``/openapi.json`` of the running app (it needs a token, like the rest of the API) over a
small demo database run to its data cut (so analysis runs and posted results exist), and every operation in it is
fuzzed with schema-valid and schema-invalid requests, authenticated as the demo admin and as principals with the
data rights the admin lacks (the statistician: analysis, design, randomization reports; a site's coordinator and
investigator: subject data capture, screening, randomization, signatures). Each response must

- not be a server error (``not_a_server_error``);
- carry a status code, content type, headers and body that the spec declares for it
  (``status_code_conformance``, ``content_type_conformance``, ``response_headers_conformance``,
  ``response_schema_conformance``);
- be a 4xx when the request breaks the schema (``negative_data_rejection``), and a 422 names the bad field.

Path parameters are drawn, most of the time, from the identifiers that exist in the demo (the trial, its sites,
subjects, adverse events, doses, assessments, queries, analysis runs), so requests reach the services instead of
stopping at a 404. Runs are derandomized (reproducible) and bounded (``MAX_EXAMPLES`` per operation and principal).
Every operation in the spec is fuzzed: none is excluded.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import checks as st_checks
from schemathesis.generation import GenerationMode

from trialdesk.entrypoints.web.app import create_app

NCT = "NCT07003074"
SUBJECTS, SEED = 8, 1
MAX_EXAMPLES = int(os.environ.get("TRIALDESK_SCHEMATHESIS_EXAMPLES", "12"))  # e.g. 200 for a long local run
# Principals: the demo admin (the requirement) and those holding the rights the admin is refused.
# Site staff of the Jilin site (code 14), which has subjects in this small demo.
PRINCIPALS = ["admin.demo", "stat.demo", "coord.14", "inv.14", "monitor.demo"]
SITE_OF = {"coord.14": "the-first-hospital-of-jilin-university", "inv.14": "the-first-hospital-of-jilin-university"}


def invalid_input_names_the_field(ctx, response, case):
    """A 422 says which field is wrong: ``problems`` lists at least one entry with a non-empty ``field``."""
    if response.status_code != 422:
        return None
    body = response.json()
    named = [p for p in body.get("problems") or [] if p.get("field")]
    assert named, f"a 422 that names no field: {body}"
    return True


CHECKS = [
    invalid_input_names_the_field,
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
    st_checks.negative_data_rejection,
]


def _operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation in the spec (built without a database: the spec needs none)."""
    spec = create_app(td_app=object()).openapi()
    return [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def demo_api(tmp_path_factory):
    """The app over a small demo run to its cut, its identifiers, and a token per principal."""
    from trialdesk.bootstrap import bootstrap
    from trialdesk.domain.access import SYSTEM
    from trialdesk.services import accounts
    from trialdesk.services.demo import run_demo

    folder = tmp_path_factory.mktemp("schemathesis")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRIALDESK_DATA_DIR", str(folder / "data"))  # the randomization seed file goes here
        td = bootstrap(f"sqlite:///{folder / 'demo.sqlite'}")
        report = run_demo(td, subjects=SUBJECTS, seed=SEED, to_completion=True)
        assert report.randomized >= 4 and report.analysis_run, report.to_dict()
        with td.uow() as uow:
            tokens = {name: accounts.create_token(uow, SYSTEM, name) for name in PRINCIPALS}
            uow.commit()
        known = _known_identifiers(td)
        web = create_app(td_app=td)
        schema = schemathesis.openapi.from_asgi(
            "/openapi.json", web, headers={"Authorization": f"Bearer {tokens['admin.demo']}"}
        )
        yield {"schema": schema, "tokens": tokens, "known": known, "web": web, "td": td}
        td.dispose()


def _known_identifiers(td) -> dict:
    """Identifiers that exist in the demo, grouped by subject so that one request's path parameters agree
    (the subject's site, its adverse events, doses, assessments, queries and screening)."""
    from sqlalchemy import text

    def rows(sql: str) -> list[tuple]:
        with td.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]

    per_subject = {
        "ae_id": rows("SELECT subject_id, id FROM adverse_events"),
        "dose_id": rows("SELECT subject_id, id FROM doses"),
        "assessment_id": rows("SELECT subject_id, id FROM tumor_assessments"),
        "query_id": rows("SELECT subject_id, id FROM queries"),
        "screening_number": rows("SELECT subject_id, screening_number FROM screenings WHERE subject_id IS NOT NULL"),
    }
    everywhere = {name: sorted({value for _, value in pairs}) for name, pairs in per_subject.items()}
    subjects = []
    for subject_id, number, site in rows("SELECT id, subject_number, site_key FROM subjects ORDER BY id"):
        own = {name: sorted(value for sid, value in pairs if sid == subject_id) for name, pairs in per_subject.items()}
        subjects.append(
            {
                "subject_number": number,
                "site_key": site,
                **{name: own[name] or everywhere[name] for name in per_subject},
            }
        )
    return {
        "subjects": subjects,
        "common": {
            "nct_id": [NCT],
            "run_id": [row[0] for row in rows("SELECT id FROM analysis_runs")],
            "query": [row[0] for row in rows("SELECT term FROM ctcae_terms ORDER BY id LIMIT 20")],
            "step": ["answer", "close", "reopen"],
        },
    }


def _with_known_ids(case_strategy, known: dict, site: str | None):
    """Cases whose path parameters are, three times in four, identifiers that exist in the demo and agree with
    each other (one subject, at the principal's site for site staff)."""
    subjects = [s for s in known["subjects"] if site is None or s["site_key"] == site] or known["subjects"]

    def values_for(subject: dict):
        choices = {name: st.sampled_from(values) for name, values in known["common"].items() if values}
        choices.update(
            {
                name: st.sampled_from(value) if isinstance(value, list) else st.just(value)
                for name, value in subject.items()
                if value
            }
        )
        return st.fixed_dictionaries(choices)

    def substitute(drawn):
        case, use_known, values = drawn
        if use_known and case.path_parameters:
            for name in list(case.path_parameters):
                if name in values:
                    case.path_parameters[name] = values[name]
        return case

    return st.tuples(
        case_strategy, st.sampled_from([True, True, True, False]), st.sampled_from(subjects).flatmap(values_for)
    ).map(substitute)


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_conforms(demo_api, principal, method, path):
    operation = demo_api["schema"][path][method]
    headers = {"Authorization": f"Bearer {demo_api['tokens'][principal]}"}
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(case=_with_known_ids(cases, demo_api["known"], SITE_OF.get(principal)))
    def fuzz(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    fuzz()


# --- hostile values: NUL bytes, huge integers, far dates (issue 14, item 4) ----------------------------------------

#: Values that used to reach the database or date arithmetic and answer 500: a NUL byte (PostgreSQL's driver refuses
#: it), integers past 64 bits, the first and last dates of the calendar.
HOSTILE = [
    "\x00",
    "ok\x00",
    2**70,
    -(2**70),
    "1180591620717411303424",
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00:00+00:00",
    "9999-12-31T23:59:59+00:00",
]
HOSTILE_EXAMPLES = int(os.environ.get("TRIALDESK_SCHEMATHESIS_HOSTILE", "3"))


def _hostile(case_strategy):
    """Schema-valid cases with some path parameters, query parameters and body fields (top level and one level
    down) replaced by :data:`HOSTILE` values."""

    def inject(drawn):
        case, picks = drawn
        slots: list[tuple[dict, str]] = []
        for container in (case.path_parameters, case.query):
            if isinstance(container, dict):
                slots.extend((container, key) for key in container)
        if isinstance(case.body, dict):
            for key, value in case.body.items():
                slots.append((case.body, key))
                if isinstance(value, dict):
                    slots.extend((value, inner) for inner in value)
        for (container, key), pick in zip(slots, picks, strict=False):
            if pick is not None:
                container[key] = pick
        return case

    picks = st.lists(st.one_of(st.none(), st.sampled_from(HOSTILE)), min_size=24, max_size=24)
    return st.tuples(case_strategy, picks).map(inject)


def _hostile_fuzzer(cases, headers: dict, seen: list, examples: int = HOSTILE_EXAMPLES):
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_hostile(cases))
    def fuzz(case):
        response = case.call_and_validate(
            headers=headers, checks=[st_checks.not_a_server_error, invalid_input_names_the_field]
        )
        seen.append(response.status_code)

    return fuzz


def test_hostile_values_never_answer_a_server_error(demo_api):
    """Every operation, as the admin and as a site coordinator, with NUL bytes, 2**70 and far dates injected: never a
    5xx, and a 422 names the field. Small and derandomized: about :data:`HOSTILE_EXAMPLES` cases per operation."""
    failures: list[str] = []
    seen: list[int] = []
    for principal in ("admin.demo", "coord.14"):
        headers = {"Authorization": f"Bearer {demo_api['tokens'][principal]}"}
        for method, path in OPERATIONS:
            operation = demo_api["schema"][path][method]
            cases = _with_known_ids(
                operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                demo_api["known"],
                SITE_OF.get(principal),
            )
            try:
                _hostile_fuzzer(cases, headers, seen)()
            except Exception as exc:  # collect every operation's failure, not just the first
                failures.append(f"{principal} {method} {path}: {str(exc)[:600]}")
    assert not failures, "\n\n".join(failures)
    assert len(seen) >= len(OPERATIONS) and seen.count(422) >= len(OPERATIONS) // 2  # the values did reach the API


def test_hostile_values_on_both_databases(td):
    """The same injection on SQLite and PostgreSQL (where a NUL byte or an integer past 64 bits reaches the driver
    differently), over a small world: users of every role and one randomized subject; every operation, as the
    admin, two cases each."""
    from access_helpers import make_users, token_for
    from test_treatment_helpers import randomized_subject

    make_users(td)
    randomized_subject(td, "01-001")
    headers = {"Authorization": f"Bearer {token_for(td, 'admin1')}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(td_app=td), headers=headers)
    known = {
        "subjects": [{"subject_number": "01-001", "site_key": "hunan-cancer-hospital"}],
        "common": {"nct_id": [NCT], "step": ["answer", "close", "reopen"]},
    }
    failures: list[str] = []
    seen: list[int] = []
    for method, path in OPERATIONS:
        cases = _with_known_ids(schema[path][method].as_strategy(generation_mode=GenerationMode.POSITIVE), known, None)
        try:
            _hostile_fuzzer(cases, headers, seen, examples=2)()
        except Exception as exc:
            failures.append(f"{method} {path}: {str(exc)[:600]}")
    assert not failures, "\n\n".join(failures)
    assert len(seen) >= len(OPERATIONS)


# --- invalid input gets a 4xx whose body names the field ----------------------------------------------------------


@pytest.fixture(scope="module")
def client(demo_api):
    from fastapi.testclient import TestClient

    with TestClient(demo_api["web"]) as c:
        yield c


def _as(demo_api, principal: str) -> dict:
    return {"Authorization": f"Bearer {demo_api['tokens'][principal]}"}


def _error_body(client, demo_api, response, status: int) -> dict:
    """The response has ``status`` and a body valid against the spec's ErrorBody."""
    import jsonschema

    assert response.status_code == status, response.text
    spec = client.get("/openapi.json", headers=_as(demo_api, "admin.demo")).json()
    body = response.json()
    jsonschema.validate(body, {"$ref": "#/components/schemas/ErrorBody", "components": spec["components"]})
    return body


def _fields(body: dict) -> set[str]:
    return {p["field"] for p in body["problems"]}


def _jilin_subject(demo_api) -> dict:
    subject = next(s for s in demo_api["known"]["subjects"] if s["site_key"] == SITE_OF["coord.14"])
    return subject


def test_schema_invalid_body_names_each_field(client, demo_api):
    subject = _jilin_subject(demo_api)
    response = client.post(
        f"/api/v1/trials/{NCT}/subjects/{subject['subject_number']}/doses",
        headers=_as(demo_api, "coord.14"),
        json={"cycle": "first", "dose_date": "2026-02-30", "actual_mg": 100, "weight_kg": 60, "colour": "blue"},
    )
    body = _error_body(client, demo_api, response, 422)
    assert body["error"] == "InvalidInput"
    # cycle is not an integer, 30 February is no date, drug is missing, colour is not a field of a dose.
    assert {"cycle", "dose_date", "drug", "colour"} <= _fields(body)


def test_body_that_is_not_an_object_is_named_body(client, demo_api):
    response = client.post(f"/api/v1/trials/{NCT}/results", headers=_as(demo_api, "stat.demo"), json="run 1")
    assert _fields(_error_body(client, demo_api, response, 422)) == {"body"}


def test_out_of_range_query_parameter_is_named(client, demo_api):
    """hr=0 used to reach log(0) in the closed-form design and answer 500."""
    response = client.get(f"/api/v1/trials/{NCT}/design", params={"hr": 0}, headers=_as(demo_api, "stat.demo"))
    assert _fields(_error_body(client, demo_api, response, 422)) == {"query.hr"}
    response = client.get(f"/api/v1/trials/{NCT}/design", params={"hr": 0.7}, headers=_as(demo_api, "stat.demo"))
    assert response.status_code == 200


def test_service_refuses_a_hazard_ratio_of_zero(demo_api):
    """The same rule in the service, for the design page (which reads ``hr`` without the API's bounds)."""
    from trialdesk.domain.access import SYSTEM
    from trialdesk.domain.errors import InvalidInput
    from trialdesk.services import design

    with demo_api["td"].uow() as uow, pytest.raises(InvalidInput) as exc:
        design.closed_form(uow, SYSTEM, NCT, 0.0)
    assert [p.path for p in exc.value.problems] == ["hr"]


def test_service_level_invalid_input_names_the_field(client, demo_api):
    """A change the service refuses (the cycle of a recorded dose is not editable) names that field."""
    subject = _jilin_subject(demo_api)
    dose_id = subject["dose_id"][0]
    url = f"/api/v1/trials/{NCT}/subjects/{subject['subject_number']}/doses/{dose_id}"
    response = client.patch(url, headers=_as(demo_api, "inv.14"), json={"changes": {"cycle": 9}, "reason": "typo"})
    assert _fields(_error_body(client, demo_api, response, 422)) == {"cycle"}
    response = client.patch(url, headers=_as(demo_api, "inv.14"), json={"changes": {"": 9}, "reason": "typo"})
    assert all(field.startswith("changes.") for field in _fields(_error_body(client, demo_api, response, 422)))


def test_unreadable_body_is_a_documented_400(client, demo_api):
    response = client.post(
        f"/api/v1/trials/{NCT}/results",
        headers={**_as(demo_api, "stat.demo"), "Content-Type": "application/json"},
        content=b"\xff\xfe{",
    )
    body = _error_body(client, demo_api, response, 400)
    assert body["error"] == "BadRequest"


def test_spec_covers_the_whole_api():
    """Every /api/ route the app serves is in the spec (so the fuzzing above reaches it), with the error bodies
    declared."""
    from fastapi.routing import APIRoute

    from trialdesk.entrypoints.web.app import route_table

    web = create_app(td_app=object())
    served = {
        (method, path)
        for path, methods, route in route_table(web)
        if path.startswith("/api/") and isinstance(route, APIRoute)
        for method in methods
        if method != "HEAD"
    }
    assert served and served <= set(OPERATIONS)
    spec = web.openapi()
    for path, item in spec["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            for status in ("401", "403", "404", "422"):
                body = operation["responses"].get(status, {}).get("content", {}).get("application/json", {})
                assert body.get("schema") == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
