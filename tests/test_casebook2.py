"""The casebook's remaining gaps (issue 15), on SQLite and PostgreSQL:

- every audit event about a subject's records (dose, dose override, AE, SAE report, tumour assessment,
  disposition, query steps, signature and its invalidation, record edits) names the subject, so the audit trail's
  subject filter (``services.audit.audit_trail(subject=...)``, ``trialdesk audit log --subject``) finds it, and
  another subject's events stay out;
- the casebook's Audit tab lists them;
- tumour-assessment rows carry the SDV badge like the other records;
- the panel tables show dates as people read them, machine-readable in ``<time datetime>``, in English and in
  Simplified Chinese, and moments in the sites' time zone (Asia/Shanghai, UTC+8).

References (hand-computed): docetaxel 75 mg/m² × BSA; weight 60 kg, height 160 cm: Mosteller BSA =
sqrt(60 × 160 / 3600) = 1.633 m², 122.5 mg planned; 150 mg given is 22 % above, so an override with its reason.
The clock is 2 Mar 2026 02:00 UTC = 10:00 in Shanghai (CST, UTC+8); a serious AE entered then is due 24 h later,
3 Mar 2026 10:00 CST. Dates: 2026-01-06 is "6 Jan 2026" / "2026年1月6日".
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from access_helpers import NCT, PASSWORD, make_users, token_for
from capture_helpers import THP_RELATIONSHIP, Clock, add_subject
from trialdesk.domain.access import Role
from trialdesk.services import adverse_events as ae
from trialdesk.services import monitoring, queries, signatures, treatment, tumor
from trialdesk.services.audit import audit_trail
from trialdesk.services.commands import (
    EditDose,
    EditRecord,
    MarkSaeReported,
    QueryStep,
    RaiseQuery,
    RecordAdverseEvent,
    RecordDisposition,
    RecordDose,
    RecordTumourAssessment,
    SignCasebook,
)

SUBJECT = "/ops/subjects/HUN-0001"
BASELINE = [
    {"lesion_id": "T1", "kind": "target", "organ": "liver", "measurement": 50},
    {"lesion_id": "T2", "kind": "target", "organ": "lung", "measurement": 30},
]
FOLLOW_UP = [
    {"lesion_id": "T1", "kind": "target", "measurement": 30},
    {"lesion_id": "T2", "kind": "target", "measurement": 20},
]


def _do(td, who, fn, *args):
    with td.uow(who.username) as uow:
        out = fn(uow, who, NCT, *args)
        uow.commit()
    return out


def _dose(td, who, number="HUN-0001", **kw):
    values = {"drug": "docetaxel", "cycle": 1, "dose_date": "2026-01-06", "actual_mg": 150, "weight_kg": 60,
              "height_cm": 160, "override_reason": "investigator decision", **kw}  # fmt: skip
    return _do(td, who, treatment.record_dose, number, RecordDose.model_validate(values))


@pytest.fixture
def filled(td):
    """HUN-0001 with one record of each kind, each with its follow-up steps; HUN-0002 with a dose of its own.
    Returns the app, the principals and ``{entity_type: {ids}}`` of HUN-0001's records."""
    td.clock = Clock(dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC))
    users = make_users(td)
    add_subject(td, "HUN-0001")
    add_subject(td, "HUN-0002")
    coord, inv, mon = users[Role.COORDINATOR], users[Role.INVESTIGATOR], users[Role.MONITOR]
    dose = _dose(td, coord)
    _do(td, coord, treatment.update_dose, "HUN-0001", dose["id"], EditDose(changes={"actual_mg": 149}, reason="typo"))
    _dose(td, coord, "HUN-0002")
    event = _do(
        td,
        coord,
        ae.record_adverse_event,
        "HUN-0001",
        RecordAdverseEvent.model_validate(
            {"term": "Febrile neutropenia", "grade": 3, "onset_date": "2026-03-01", "serious": True,
             "seriousness": ["hospitalisation"], "relationship": THP_RELATIONSHIP}
        ),
    )  # fmt: skip
    _do(td, coord, ae.mark_sae_reported, "HUN-0001", event["id"], MarkSaeReported())
    base = _do(
        td,
        coord,
        tumor.record_tumor_assessment,
        "HUN-0001",
        RecordTumourAssessment.model_validate({"assessment_date": "2025-12-28", "lesions": BASELINE, "baseline": True}),
    )
    follow = _do(
        td,
        coord,
        tumor.record_tumor_assessment,
        "HUN-0001",
        RecordTumourAssessment.model_validate({"assessment_date": "2026-02-16", "lesions": FOLLOW_UP}),
    )
    query = _do(
        td,
        mon,
        queries.raise_query,
        "HUN-0001",
        RaiseQuery(entity_type="dose", entity_id=str(dose["id"]), field="actual_mg", message="Source says 148 mg?"),
    )
    _do(td, coord, queries.answer_query, query["id"], QueryStep(text="149 mg per the pharmacy log"))
    _do(td, mon, queries.close_query, query["id"], QueryStep(text=None))
    _do(td, mon, queries.reopen_query, query["id"], QueryStep(text="the log says 148"))
    signed = _do(td, inv, signatures.sign_casebook, "HUN-0001", SignCasebook(password=PASSWORD))
    # a later change invalidates the signature (casebook.signature_invalidated) and is an AE edit with a reason
    _do(
        td,
        coord,
        ae.update_adverse_event,
        "HUN-0001",
        event["id"],
        EditRecord(changes={"grade": 4}, reason="worsened: grade 4 per the discharge letter"),
    )
    disposition = _do(
        td,
        coord,
        treatment.record_disposition,
        "HUN-0001",
        RecordDisposition(kind="end_of_treatment", event_date="2026-02-20", reason="adverse event"),
    )
    records = {
        "dose": {str(dose["id"])},
        "adverse_event": {str(event["id"])},
        "tumor_assessment": {str(base["assessment"]["id"]), str(follow["assessment"]["id"])},
        "query": {str(query["id"])},
        "signature": {str(signed["id"])},
        "disposition": {str(disposition["id"])},
    }
    return td, users, records


def _events_of(td, records):
    """Every stored event whose entity is one of the records: (seq, action)."""
    with td.uow() as uow:
        return {(e.seq, e.action) for e in uow.audit.events() if e.entity_id in records.get(e.entity_type, set())}


#: the events the scenario must have written, one or more of each (hand-listed from the steps above)
EXPECTED_ACTIONS = {
    "dose.recorded",
    "dose.override",
    "dose.updated",
    "adverse_event.recorded",
    "adverse_event.sae_reported",
    "adverse_event.updated",
    "tumor_assessment.recorded",
    "query.opened",
    "query.answered",
    "query.closed",
    "query.reopened",
    "casebook.signed",
    "casebook.signature_invalidated",
    "disposition.recorded",
}


def test_subject_filter_finds_every_event_about_the_subjects_records(filled):
    td, users, records = filled
    about = _events_of(td, records)
    assert {action for _, action in about} >= EXPECTED_ACTIONS
    with td.uow() as uow:
        found = audit_trail(uow, users[Role.MONITOR], NCT, subject="HUN-0001", limit=1000)
        other = audit_trail(uow, users[Role.MONITOR], NCT, subject="HUN-0002", limit=1000)
    seqs = {r.seq for r in found}
    missing = sorted(action for seq, action in about if seq not in seqs)
    assert missing == []
    # HUN-0002's dose is its own, not HUN-0001's; and none of HUN-0001's record events is listed under HUN-0002
    assert not {r.seq for r in other} & {seq for seq, _ in about}
    assert sorted(r.action for r in other if r.entity_type == "dose") == ["dose.override", "dose.recorded"]


def test_cli_audit_log_subject_lists_them(filled, db_url):
    from trialdesk.entrypoints.cli.main import app as cli

    td, _, records = filled
    about = _events_of(td, records)
    out = CliRunner().invoke(
        cli, ["audit", "log", "--db", db_url, "--subject", "HUN-0001", "--limit", "1000", "--json"]
    )
    assert out.exit_code == 0, out.output
    listed = {(row["seq"], row["action"]) for row in json.loads(out.stdout)}
    assert about <= listed
    # each names the subject in its details (as the filter reads them)
    for row in json.loads(out.stdout):
        if row["entity"].split(":")[0] in records:
            named = [(row["before"] or {}).get("subject_number"), (row["after"] or {}).get("subject_number")]
            assert "HUN-0001" in named, row


def test_casebook_audit_tab_lists_the_record_events(filled):
    td, _, records = filled
    client = TestClient(create_app(td))
    h = {"Authorization": f"Bearer {token_for(td, 'monitor1')}"}
    page = client.get(f"{SUBJECT}?tab=audit", headers=h).text
    for action in ("disposition.recorded", "adverse_event.updated", "casebook.signature_invalidated", "query.reopened"):
        assert action in page, action


def create_app(td):
    from trialdesk.entrypoints.web.app import create_app as make

    return make(td_app=td)


# --- the casebook's tables ---------------------------------------------------------------------------------------


@pytest.fixture
def web(td):
    td.clock = Clock(dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC))
    users = make_users(td)
    add_subject(td, "HUN-0001")
    client = TestClient(create_app(td))
    h = {role: {"Authorization": f"Bearer {token_for(td, role + '1')}"} for role in ("coordinator", "monitor")}
    return td, users, client, h


def _rows(page: str, table_id: str | None = None, panel: str | None = None) -> list[list[str]]:
    """A table's body rows as the reader sees them (tags stripped)."""
    if panel:
        page = page.split(f'id="panel-{panel}"', 1)[1].split("</section>", 1)[0]
    if table_id:
        page = page.split(f'id="{table_id}"', 1)[1]
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def test_tumour_rows_carry_the_sdv_badge(web):
    """Like the other records: a verified assessment reads "SDV ✓"; corrected afterwards, "changed since SDV"."""
    td, users, client, h = web
    coord, mon = users[Role.COORDINATOR], users[Role.MONITOR]
    command = RecordTumourAssessment.model_validate(
        {"assessment_date": "2025-12-28", "lesions": BASELINE, "baseline": True}
    )
    base = _do(td, coord, tumor.record_tumor_assessment, "HUN-0001", command)["assessment"]

    def badge() -> str:
        page = client.get(f"{SUBJECT}?tab=tumour", headers=h["coordinator"]).text
        [row] = _rows(page, panel="tumour_assessments")
        return row[10]  # Date, Kind, Target sum, vs baseline, vs nadir, Target, Non-target, New, Overall, Reason, SDV

    assert badge() == ""
    _do(td, mon, monitoring.mark_sdv, "HUN-0001", monitoring.MarkSdv(entity_type="tumor_assessment",
                                                                      entity_id=str(base["id"])))  # fmt: skip
    assert badge() == "SDV ✓"
    changed = [{**BASELINE[0], "measurement": 52}, BASELINE[1]]
    _do(td, coord, tumor.update_tumor_assessment, "HUN-0001", base["id"],
        EditRecord(changes={"lesions": changed}, reason="T1 re-measured: 52 mm"))  # fmt: skip
    assert badge() == "changed since SDV"


def test_panel_dates_and_numbers_in_human_form(web):
    """Doses: the date as people read it with the ISO date in <time datetime>, mg to one decimal; the SAE clock in
    the sites' time zone; the lesion grid's columns are the assessments' dates; the same in Chinese."""
    td, users, client, h = web
    coord = users[Role.COORDINATOR]
    _dose(td, coord)
    _do(
        td,
        coord,
        ae.record_adverse_event,
        "HUN-0001",
        RecordAdverseEvent.model_validate(
            {"term": "Febrile neutropenia", "grade": 3, "onset_date": "2026-03-01", "serious": True,
             "seriousness": ["hospitalisation"], "relationship": THP_RELATIONSHIP}
        ),
    )  # fmt: skip
    page = client.get(f"{SUBJECT}?tab=treatment", headers=h["coordinator"]).text
    assert '<time datetime="2026-01-06">6 Jan 2026</time>' in page
    [dose] = _rows(page, panel="doses")
    # Cycle, Drug (its name in the protocol), Date, Planned mg, Given mg, Weight kg: 75 mg/m² × 1.633 m² = 122.5 mg;
    # 150 given; 60 kg
    assert dose[:6] == ["1", "Docetaxel", "6 Jan 2026", "122.5", "150", "60"]
    page = client.get(f"{SUBJECT}?tab=ae", headers=h["coordinator"]).text
    [event] = _rows(page, panel="adverse_events")
    assert event[3] == "1 Mar 2026" and '<time datetime="2026-03-01">' in page
    assert event[7] == "SAE report due by 3 Mar 2026, 10:00 CST"
    chinese = client.get(f"{SUBJECT}?tab=treatment&lang=zh-Hans", headers=h["coordinator"]).text
    assert '<time datetime="2026-01-06">2026年1月6日</time>' in chinese
    assert ">剂量水平<" in chinese  # the Doses table's column "Dose level"
    assert _rows(chinese, panel="doses")[0][1] == "多西他赛"  # docetaxel, as the protocol's translations name it
    ae_zh = client.get(f"{SUBJECT}?tab=ae", headers=h["coordinator"]).text
    assert "严重不良事件报告截止 2026年3月3日 10:00 CST" in ae_zh


def test_casebook_tables_in_chinese(filled):
    """In Simplified Chinese: a query's last step by its label (重新开启: re-opened), the RECIST reason in Chinese
    (部分缓解 = partial response; follow-up T1 30 + T2 20 = 50 mm vs 80 mm at baseline: −37.5 %), the signature's
    moment in the sites' time zone (02:00 UTC = 10:00 CST)."""
    td, _, _ = filled
    client = TestClient(create_app(td))
    h = {"Authorization": f"Bearer {token_for(td, 'monitor1')}"}
    queries_page = client.get(f"{SUBJECT}?tab=queries&lang=zh-Hans", headers=h).text
    [query] = _rows(queries_page, panel="queries")
    assert query[5] == "重新开启: the log says 148"
    tumour_page = client.get(f"{SUBJECT}?tab=tumour", headers=h).text  # the language is remembered (cookie)
    base, follow = _rows(tumour_page, panel="tumour_assessments")
    assert follow[9].startswith("部分缓解") and "PR:" not in follow[9] and "−37.5%" in follow[9]
    assert follow[10] == ""  # no SDV yet
    signature_page = client.get(f"{SUBJECT}?tab=signature", headers=h).text
    [signature] = _rows(signature_page, panel="signature")
    assert signature[0] == "2026年3月2日 10:00 CST"
    assert signature[4].startswith("已于 2026年3月2日 10:00 CST 失效")
