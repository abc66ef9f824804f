"""Issue 10: schemathesis over the whole JSON API, as served.

The spec is loaded from ``/openapi.json`` of the running app (it needs a token, like the rest of the API) over a
small demo database run to its data cut (so analysis runs and posted results exist), and every operation in it is
fuzzed with schema-valid and schema-invalid requests, authenticated as the demo admin and as principals with the
data rights the admin lacks (the statistician: analysis, design, randomization reports; the Hunan coordinator and
investigator: subject data capture, screening, randomization, signatures). Each response must

- not be a server error (``not_a_server_error``);
- carry a status code, content type, headers and body that the spec declares for it
  (``status_code_conformance``, ``content_type_conformance``, ``response_headers_conformance``,
  ``response_schema_conformance``);
- be a 4xx when the request breaks the schema (``negative_data_rejection``).

Path parameters are drawn, most of the time, from the identifiers that exist in the demo (the trial, its sites,
subjects, adverse events, doses, assessments, queries, analysis runs), so requests reach the services instead of
stopping at a 404. Runs are derandomized (reproducible) and bounded (``MAX_EXAMPLES`` per operation and principal).
Every operation in the spec is fuzzed: none is excluded.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

schemathesis = pytest.importorskip("schemathesis")

from schemathesis import checks as st_checks  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

from trialdesk.entrypoints.web.app import create_app  # noqa: E402

NCT = "NCT07003074"
SUBJECTS, SEED = 8, 1
MAX_EXAMPLES = 12
# Principals: the demo admin (the requirement) and those holding the rights the admin is refused.
PRINCIPALS = ["admin.demo", "stat.demo", "coord.12", "inv.12", "monitor.demo"]

CHECKS = [
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
    return [(method.upper(), path) for path, item in spec["paths"].items() for method in item
            if method in {"get", "post", "put", "patch", "delete"}]


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def demo_api(tmp_path_factory):
    """The app over a small demo run to its cut, its identifiers, and a token per principal."""
    from sqlalchemy import text

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
        queries = {
            "nct_id": "SELECT nct_id FROM trials",
            "site_key": "SELECT site_key FROM sites",
            "subject_number": "SELECT subject_number FROM subjects",
            "screening_number": "SELECT screening_number FROM screenings",
            "ae_id": "SELECT id FROM adverse_events",
            "assessment_id": "SELECT id FROM tumor_assessments",
            "dose_id": "SELECT id FROM doses",
            "query_id": "SELECT id FROM queries",
            "run_id": "SELECT id FROM analysis_runs",
            "query": "SELECT term FROM ctcae_terms ORDER BY id LIMIT 20",
        }
        with td.engine.connect() as conn:
            known = {name: sorted({row[0] for row in conn.execute(text(sql))}) for name, sql in queries.items()}
        known["step"] = ["answer", "close", "reopen"]
        known = {name: values for name, values in known.items() if values}
        web = create_app(td_app=td)
        schema = schemathesis.openapi.from_asgi("/openapi.json", web,
                                                headers={"Authorization": f"Bearer {tokens['admin.demo']}"})
        yield {"schema": schema, "tokens": tokens, "known": known}
        td.dispose()


def _with_known_ids(case_strategy, known: dict[str, list]):
    """Cases whose path parameters are, three times in four, identifiers that exist in the demo."""
    picks = st.fixed_dictionaries({name: st.sampled_from(values) for name, values in known.items()})

    def substitute(drawn):
        case, use_known, values = drawn
        if use_known and case.path_parameters:
            for name in list(case.path_parameters):
                if name in values:
                    case.path_parameters[name] = values[name]
        return case

    return st.tuples(case_strategy, st.sampled_from([True, True, True, False]), picks).map(substitute)


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_conforms(demo_api, principal, method, path):
    operation = demo_api["schema"][path][method]
    headers = {"Authorization": f"Bearer {demo_api['tokens'][principal]}"}
    cases = st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                      operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))

    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large])
    @given(case=_with_known_ids(cases, demo_api["known"]))
    def fuzz(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    fuzz()


def test_spec_covers_the_whole_api():
    """Every /api/ route the app serves is in the spec (so the fuzzing above reaches it), with the error bodies
    declared."""
    from fastapi.routing import APIRoute

    from trialdesk.entrypoints.web.app import route_table

    web = create_app(td_app=object())
    served = {(method, path) for path, methods, route in route_table(web) if path.startswith("/api/")
              and isinstance(route, APIRoute) for method in methods if method != "HEAD"}
    assert served and served <= set(OPERATIONS)
    spec = web.openapi()
    for path, item in spec["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            for status in ("401", "403", "404", "422"):
                body = operation["responses"].get(status, {}).get("content", {}).get("application/json", {})
                assert body.get("schema") == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)


if os.environ.get("TRIALDESK_SCHEMATHESIS_EXAMPLES"):  # a longer local run: TRIALDESK_SCHEMATHESIS_EXAMPLES=100
    MAX_EXAMPLES = int(os.environ["TRIALDESK_SCHEMATHESIS_EXAMPLES"])
