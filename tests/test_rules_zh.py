"""What the trial's rules say, in Simplified Chinese (issue 15, part 4): the protocol's texts as data
(``operations.locale.translations``) and the domain's messages translated at the edge (``entrypoints/web/messages``).

Independent references: the expected Chinese below is written by hand with the standard Chinese clinical terms
(受试者, 随机化, 筛选, 知情同意, 新病灶, 部分缓解/疾病进展, 数据截止, 中性粒细胞绝对计数, 血小板计数, 左心室射血分数,
ECOG 体能状态, 间质性肺病, HER2 阳性 ...) and the page's date format (2026年1月10日); the English messages are the
domain's own, produced by calling the domain functions, and must come back byte for byte on an English page.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import json
import re
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import ValidationError

from access_helpers import NCT, OWN, make_users, token_for
from capture_helpers import Clock
from nav_helpers import client_for, known_state
from trialdesk.adapters.db.tables import AllocationRow
from trialdesk.adapters.protocol_files import load_default_protocol, packaged_protocol_path
from trialdesk.domain.access import Role
from trialdesk.domain.dosing import check_override
from trialdesk.domain.edit_checks import run_checks
from trialdesk.domain.eligibility import evaluate
from trialdesk.domain.errors import Conflict, InvalidInput, NotFound
from trialdesk.domain.protocol import TRANSLATION_KINDS, Protocol
from trialdesk.domain.recist import evaluate_subject
from trialdesk.domain.recist_models import SubjectTumorAssessments
from trialdesk.domain.results_posting import analysis_due_problem
from trialdesk.domain.timeline import TrialDates, cut_problems, randomization_problems, screening_problems
from trialdesk.entrypoints.web import i18n
from trialdesk.entrypoints.web.app import create_app
from trialdesk.entrypoints.web.forms import readable
from trialdesk.entrypoints.web.messages import (
    SHAPES,
    eligibility_reason,
    error_message,
    recist_reason,
    shape_of,
    translate,
)
from trialdesk.entrypoints.web.protocol_text import protocol_text

DOCS = Path(__file__).resolve().parents[1] / "docs" / "screening"
ZH = "zh-Hans"
DATES = TrialDates(start=dt.date(2025, 12, 1), end=None, today=dt.date(2026, 3, 2))
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def protocol() -> Protocol:
    return load_default_protocol()


def _raw() -> dict:
    return yaml.safe_load(packaged_protocol_path().read_text())


# --------------------------------------------------------------------------------------- protocol translations


def test_translations_cover_every_criterion_label_arm_and_drug(protocol):
    translation = protocol.operations.locale.translations[ZH]
    for kind in TRANSLATION_KINDS:
        english = protocol.translatable(kind)
        given = getattr(translation, kind)
        assert set(given) == set(english), (kind, set(english) ^ set(given))  # none missing, none extra
        untranslated = [k for k, text in given.items() if not HAN.search(text) and kind != "drugs"]
        assert not untranslated, (kind, untranslated)
    # 43 criteria of the registry record (8 inclusion, 6 exclusion with 21 + 4 + 4 numbered items)
    assert len(translation.criteria) == 43
    # the standard Chinese oncology terms
    expected_terms = {
        ("criteria", "INC-02"): "ECOG",
        ("criteria", "INC-03"): "HER2 阳性",
        ("criteria", "INC-07"): "可测量病灶",
        ("criteria", "EXC-01"): "脊髓压迫",
        ("criteria", "EXC-03.10"): "间质性肺病",
        ("labels", "ecog"): "ECOG 体能状态",
        ("labels", "labs.anc.value"): "中性粒细胞绝对计数",
        ("labels", "labs.platelets.value"): "血小板计数",
        ("labels", "labs.hemoglobin.value"): "血红蛋白",
        ("labels", "labs.total_bilirubin.value"): "总胆红素",
        ("labels", "creatinine_clearance_ml_min"): "肌酐清除率",
        ("labels", "lvef_percent"): "左心室射血分数",
        ("labels", "cns.brain_metastases"): "脑转移",
        ("arms", "thp"): "多西他赛 + 曲妥珠单抗 + 帕妥珠单抗",
        ("drugs", "docetaxel"): "多西他赛",
        ("drugs", "trastuzumab"): "曲妥珠单抗",
        ("drugs", "pertuzumab"): "帕妥珠单抗",
    }
    for (kind, key), term in expected_terms.items():
        assert term in getattr(translation, kind)[key], (kind, key)


def test_the_assumption_says_where_the_chinese_comes_from(protocol):
    assumption = protocol.operations.locale.assumptions["translations"]
    text = f"{assumption.source} {assumption.rationale}"
    assert "not public" in text and "working translations" in text
    assert "ethics committee" in text and "sponsor" in text


@pytest.mark.parametrize(
    ("kind", "key"),
    [("criteria", "INC-99"), ("labels", "labs.potassium.value"), ("arms", "placebo"), ("drugs", "capecitabine")],
)
def test_a_translation_naming_nothing_of_the_protocol_is_refused_naming_the_key(kind, key):
    data = _raw()
    data["operations"]["locale"]["translations"][ZH][kind][key] = "某项"
    with pytest.raises(ValidationError) as info:
        Protocol.model_validate(data)
    assert key in str(info.value) and f"translations.{ZH}.{kind}" in str(info.value)


def test_a_translated_label_keeps_its_placeholders_and_the_language_is_known():
    data = _raw()
    data["operations"]["locale"]["translations"][ZH]["labels"]["ecog"] = "ECOG 体能状态"  # {value} dropped
    with pytest.raises(ValidationError, match="placeholders"):
        Protocol.model_validate(data)
    data = _raw()
    data["operations"]["locale"]["translations"]["fr"] = copy.deepcopy(data["operations"]["locale"]["translations"][ZH])
    with pytest.raises(ValidationError, match="fr"):
        Protocol.model_validate(data)


def test_protocol_text_follows_the_page_language(protocol):
    english = "Good major organ function"
    with i18n.use(ZH):
        assert protocol_text(protocol, "criteria", "INC-08", english) == "主要器官功能良好"
        assert protocol_text(protocol, "arms", "tqb2102", "TQB2102 for Injection") == "注射用 TQB2102"
        assert protocol_text(protocol, "criteria", "INC-42", "no such") == "no such"
    with i18n.use("en"):
        assert protocol_text(protocol, "criteria", "INC-08", english) == english
    with pytest.raises(KeyError):
        protocol_text(protocol, "visits", "C1D1", "C1D1")


# ------------------------------------------------------------------------------------------ domain messages


def _eligibility(protocol, **changes) -> dict[str, str]:
    record = json.loads((DOCS / "eligible.json").read_text())
    for path, value in changes.items():
        target = record
        *head, last = path.split("__")
        for part in head:
            target = target[part]
        if value is None:
            del target[last]
        else:
            target[last] = value
    result = evaluate(protocol.operations.eligibility, record, protocol.registry.eligibility)
    return {c.id: c.reason for c in result.criteria}


def _recist(*follow_ups) -> list[str]:
    base = [
        {"kind": "target", "lesion_id": "T1", "measurement": 30, "organ": "liver"},
        {"kind": "target", "lesion_id": "T2", "measurement": 20, "organ": "lung"},
        {"kind": "non_target", "lesion_id": "NT1", "status": "present", "organ": "bone"},
    ]
    subject = SubjectTumorAssessments.model_validate(
        {
            "subject_id": "S-001",
            "randomization_date": "2025-07-01",
            "baseline": {"date": "2025-06-24", "lesions": base},
            "follow_ups": [
                {"date": (dt.date(2025, 7, 1) + dt.timedelta(days=42 * (i + 1))).isoformat(), "lesions": lesions}
                for i, lesions in enumerate(follow_ups)
            ],
        }
    )
    return [p.reason for p in evaluate_subject(subject).time_points]


def _override_message() -> str:
    with pytest.raises(InvalidInput) as info:
        check_override(100.0, 120.0, 0.10)
    return info.value.problems[0].message


def _messages(protocol) -> list[tuple[str, str]]:
    """(the domain's English message, the Chinese written by hand)."""
    [before] = screening_problems(dt.date(2026, 1, 5), dt.date(2026, 1, 10), DATES)
    [future] = screening_problems(dt.date(2026, 4, 1), None, DATES)
    [window] = randomization_problems(
        dt.date(2026, 3, 1), None, None, DATES, baseline_assessment=dt.date(2026, 1, 20), window_days=28
    )
    [cut] = cut_problems(dt.date(2026, 1, 1), dt.date(2026, 2, 1), DATES)
    posting = analysis_due_problem(29, 334, [])
    assert posting is not None
    return [
        (before.message, "“筛选日期” 2026年1月5日 早于 “签署知情同意日期” 2026年1月10日"),
        (future.message, "“筛选日期” 2026年4月1日 是将来的日期（今天是 2026年3月2日）"),
        (window.message, "“随机化日期” 2026年3月1日 晚于基线“评估日期” 2026年1月20日 超过 28 天；请重新进行基线评估"),
        (cut.message, "“数据截止日” 2026年1月1日 早于首例随机化日期 2026年2月1日"),
        (_override_message(), "处方剂量 120 mg 与计算剂量 100 mg 相差 20.0%（> 10%）；须填写调整原因"),
        (posting, "尚未到主要分析时间：数据截止时 PFS 事件数为 29/334，且未记录提前终止"),
    ]


def test_the_domain_messages_in_chinese(protocol):
    pairs = _messages(protocol)
    assert pairs[0][0] == "screened_on 2026-01-05 is before consent_date 2026-01-10"
    assert pairs[5][0].startswith("the primary analysis is not due: 29 of 334 PFS events")
    with i18n.use(ZH):
        for english, chinese in pairs:
            assert translate(english) == chinese, english


def test_adverse_event_checks_in_chinese():
    context = {"today": dt.date(2026, 3, 2), "consent_date": dt.date(2026, 2, 15)}
    event = {
        "term": "Anaemia",
        "grade": 2,
        "onset_date": dt.date(2026, 2, 10),
        "resolution_date": dt.date(2026, 2, 1),
        "outcome": "recovered",
        "serious": True,
        "seriousness": [],
    }
    failures = {f.check_id: f.message for f in run_checks("adverse_event", event, context)}
    unresolved = {**event, "resolution_date": None, "serious": False}
    failures.update({f.check_id: f.message for f in run_checks("adverse_event", unresolved, context)})
    expected = {
        "AE-END-AFTER-START": "结束日期 2026年2月1日 早于发生日期 2026年2月10日",
        "AE-ONSET-AFTER-CONSENT": "发生日期 2026年2月10日 早于受试者签署知情同意日期（2026年2月15日）",
        "AE-SERIOUS-CRITERIA": "严重不良事件须至少符合一项 ICH 严重性标准",
        "AE-RESOLVED-NO-DATE": "转归为“已恢复/已缓解”，但无结束日期；请填写事件结束的日期",
    }
    with i18n.use(ZH):
        for check_id, chinese in expected.items():
            assert translate(failures[check_id]) == chinese, failures[check_id]
    with i18n.use("en"):
        assert all(translate(message) is None for message in failures.values())


def test_a_refusal_on_the_error_page(protocol):
    posting = analysis_due_problem(29, 334, [])
    refusal = Conflict(f"results of analysis run 3 may not be posted: {posting}")
    invalid = InvalidInput(screening_problems(dt.date(2026, 1, 5), dt.date(2026, 1, 10), DATES))
    with i18n.use(ZH):
        assert error_message(refusal) == (
            "分析运行 3 的结果不能发布：尚未到主要分析时间：数据截止时 PFS 事件数为 29/334，且未记录提前终止"
        )
        assert error_message(invalid) == "“筛选日期”：“筛选日期” 2026年1月5日 早于 “签署知情同意日期” 2026年1月10日"
        assert error_message(NotFound("trial NCT00000000 is not loaded")) == "trial NCT00000000 is not loaded"
    with i18n.use("en"):
        assert error_message(refusal) == refusal.message
        assert error_message(invalid) == invalid.message


def test_the_pages_filter_says_refusals_and_messages_in_the_page_language():
    from trialdesk.entrypoints.web.templating import templates

    posting = analysis_due_problem(29, 334, [])
    page = templates.env.from_string("<p>{{ error|rule_text }}</p><small>{{ why|rule_text }}</small>")
    refusal = Conflict(f"results of analysis run 3 may not be posted: {posting}")
    with i18n.use(ZH):
        assert page.render(error=refusal, why=posting) == (
            "<p>分析运行 3 的结果不能发布：尚未到主要分析时间：数据截止时 PFS 事件数为 29/334，且未记录提前终止</p>"
            "<small>尚未到主要分析时间：数据截止时 PFS 事件数为 29/334，且未记录提前终止</small>"
        )
    with i18n.use("en"):
        assert page.render(error=refusal, why=posting) == f"<p>{refusal.message}</p><small>{posting}</small>"


def test_the_form_labels_name_the_fields(protocol):
    [before] = screening_problems(dt.date(2026, 1, 5), dt.date(2026, 1, 10), DATES)
    with i18n.use(ZH):
        labels = {"screened_on": "筛查日", "consent_date": "知情同意日"}
        assert translate(before.message, labels) == "“筛查日” 2026年1月5日 早于 “知情同意日” 2026年1月10日"


def test_eligibility_reasons_in_chinese(protocol):
    reasons = _eligibility(protocol, birth_date="1950-01-10", ecog=2)
    assert reasons["INC-02"] == "age 76 at consent 2026-01-10 > 75; ECOG PS 2 > 1"
    low = _eligibility(protocol, labs__anc__value=1.2)
    missing = _eligibility(protocol, labs__platelets=None)
    assert missing["INC-08"] == "labs.platelets.value missing"
    with i18n.use(ZH):
        assert (
            eligibility_reason(reasons["INC-02"], protocol)
            == "知情同意时（2026年1月10日）年龄 76 岁 > 75；ECOG 体能状态 2 > 1"
        )
        assert eligibility_reason(low["INC-08"], protocol) == "中性粒细胞绝对计数 1.2 ×10⁹/L < 1.5"
        assert eligibility_reason(missing["INC-08"], protocol) == "“血小板计数” 缺失"
        assert eligibility_reason(reasons["EXC-03.01"], protocol) == "5 年内其他恶性肿瘤：否"
        assert eligibility_reason(reasons["EXC-03"], protocol) == "全部 21 项均满足"
        assert eligibility_reason(reasons["INC-01"], protocol) == (
            "研究者已确认：受试者自愿入组（已签署知情同意书），预期能遵守方案。"
        )


def test_recist_reasons_in_chinese():
    minus = "\u2212"
    [partial] = _recist(
        [
            {"kind": "target", "lesion_id": "T1", "measurement": 20},
            {"kind": "target", "lesion_id": "T2", "measurement": 15},
            {"kind": "non_target", "lesion_id": "NT1", "status": "present"},
        ]
    )
    [new] = _recist(
        [
            {"kind": "target", "lesion_id": "T1", "measurement": 30},
            {"kind": "target", "lesion_id": "T2", "measurement": 20},
            {"kind": "non_target", "lesion_id": "NT1", "status": "present"},
            {"kind": "new", "lesion_id": "N1", "organ": "brain", "status": "unequivocal"},
        ]
    )
    assert partial == f"PR: sum {minus}30.0 % from baseline (≤{minus}30 %)"
    assert new == "PD: new lesion N1"
    with i18n.use(ZH):
        assert recist_reason(partial) == f"部分缓解（PR）：直径总和较基线变化 {minus}30.0%（≤{minus}30%）"
        assert recist_reason(new) == "疾病进展（PD）：新病灶 N1"


def test_english_stays_byte_identical(protocol):
    reasons = _eligibility(protocol, birth_date="1950-01-10", ecog=2)
    recist = _recist(
        [
            {"kind": "target", "lesion_id": "T1", "measurement": 30},
            {"kind": "target", "lesion_id": "T2", "measurement": 20},
            {"kind": "non_target", "lesion_id": "NT1", "status": "present"},
            {"kind": "new", "lesion_id": "N1", "organ": "brain", "status": "unequivocal"},
        ]
    )
    labels = {"screened_on": "Screening date", "consent_date": "Informed consent signed"}
    with i18n.use("en"):
        for english, _chinese in _messages(protocol):
            assert translate(english, labels) is None
        assert readable("screened_on 2026-01-05 is before consent_date 2026-01-10", labels) == (
            "“Screening date” 2026-01-05 is before “Informed consent signed” 2026-01-10"
        )
        for reason in reasons.values():
            assert eligibility_reason(reason, protocol) == reason
        assert recist_reason(recist[0]) == recist[0] == "PD: new lesion N1"


#: the message shapes covered (msgids of ``messages.SHAPES``): timeline, required, ranges, doses, posting, lesions
COVERED = {
    "%(fa)s %(da)s is before %(fb)s %(db)s",
    "%(fa)s %(da)s is after %(fb)s %(db)s",
    "%(fa)s %(da)s is in the future (today is %(db)s)",
    "%(fa)s %(da)s is after the trial's completion date %(db)s",
    "%(fa)s %(da)s is before the trial start date %(db)s",
    "%(fa)s %(da)s is before the first randomization %(db)s",
    "%(fa)s %(da)s is more than %(n)s days after the baseline %(fb)s %(db)s; repeat the baseline assessment",
    "dose date %(da)s is before randomization (%(db)s)",
    "must not be blank",
    "must be a number, got %(v)s",
    "%(v)s %(u)s is above the plausible maximum of %(w)s %(u)s",
    "%(v)s %(u)s is below the plausible minimum of %(w)s %(u)s",
    "prescribed %(p)s mg differs from the calculated %(c)s mg by %(pct)s%% (> %(tol)s%%); "
    "an override reason is required",
    "the primary analysis is not due: %(n)s of %(total)s PFS events at the data cut, and no early stop is recorded",
    "lesion %(id)s: %(m)s",
}


def test_the_covered_shapes_and_unmatched_messages_stay_english(protocol):
    msgids = {shape.msgid for shape in SHAPES}
    assert msgids >= COVERED, COVERED - msgids
    for english, _chinese in _messages(protocol):
        assert shape_of(english) is not None, english
    unmatched = [
        "trial NCT00000000 is not loaded",
        "subject 12-0001 is already randomized (R-0001)",
        "the protocol states no target events for the primary analysis (operations.design.target_events) "
        "and no early stop is recorded",
    ]
    with i18n.use(ZH):
        for message in unmatched:
            assert shape_of(message) is None and translate(message) is None
        # a reason part of no known shape stays as the domain wrote it
        assert eligibility_reason("birth_date 1950-01-10 < 2000-01-01", load_default_protocol()) == (
            "birth_date 1950-01-10 < 2000-01-01"
        )


# ------------------------------------------------------------------------------------------------ the page


def test_the_screening_page_in_chinese_shows_the_chinese_criteria(td):
    make_users(td)
    api = TestClient(create_app(td_app=td))
    token = {"Authorization": f"Bearer {token_for(td, f'{Role.COORDINATOR.value}1')}"}
    record = json.loads((DOCS / "ineligible.json").read_text())
    r = api.post(
        f"/api/v1/trials/{NCT}/screenings", headers=token, json={"site": OWN, "patient_ref": "HN-1", "record": record}
    )
    assert r.status_code == 201, r.text
    number = r.json()["screening_number"]
    client = client_for(td, f"{Role.COORDINATOR.value}1")
    chinese = client.get(f"/ops/sites/{OWN}/screenings/{number}?lang={ZH}")
    assert chinese.status_code == 200
    assert "主要器官功能良好" in chinese.text  # INC-08
    assert "经组织病理学或细胞病理学确诊的 HER2 阳性复发或转移性浸润性乳腺癌" in chinese.text  # INC-03
    assert "知情同意时（2026年1月10日）年龄 76 岁 &gt; 75；ECOG 体能状态 2 &gt; 1" in chinese.text
    assert "Good major organ function" not in chinese.text
    english = client.get(f"/ops/sites/{OWN}/screenings/{number}?lang=en")
    assert "Good major organ function" in english.text
    assert "age 76 at consent 2026-01-10 &gt; 75; ECOG PS 2 &gt; 1" in english.text


def test_the_screening_form_says_the_timeline_in_chinese(td):
    """A consent after today (the clock: 2 March 2026) and a screening before that consent, on a Chinese page: each
    message beside its field in Chinese, the fields by their Chinese labels, the dates as the page writes them."""
    td.clock = Clock()
    make_users(td)
    client = TestClient(create_app(td_app=td))
    headers = {"Authorization": f"Bearer {token_for(td, f'{Role.COORDINATOR.value}1')}", "Accept-Language": "zh-CN"}
    form = {"patient_ref": "P-9", "screened_on": "2026-01-10", "consent_date": "2026-04-01"}
    r = client.post(f"/ops/sites/{OWN}/screen", data=form, headers=headers, follow_redirects=False)
    assert r.status_code == 422
    beside = {
        m.group(1): html.unescape(m.group(2))
        for m in re.finditer(r'<p class="field-error" id="err-([^"]+)">([^<]*)</p>', r.text)
    }
    assert beside["consent_date"] == "“签署知情同意日期” 2026年4月1日 是将来的日期（今天是 2026年3月2日）"
    assert beside["screened_on"] == "“筛选日期” 2026年1月10日 早于 “签署知情同意日期” 2026年4月1日"
    english = client.post(
        f"/ops/sites/{OWN}/screen", data=form, headers={**headers, "Accept-Language": "en"}, follow_redirects=False
    )
    assert "“Screening date” 2026-01-10 is before “Informed consent signed” 2026-04-01" in html.unescape(english.text)


def test_the_casebook_names_the_arm_in_chinese(td, shared_dir):
    """The arm in the casebook's head: the protocol's Chinese label on a Chinese page; the English page keeps what it
    showed (the randomization service's label or the arm's id)."""
    known_state(td, shared_dir)
    client = client_for(td, "coordinator1")
    with td.uow() as uow:
        assert uow.session.query(AllocationRow).count() > 0
    chinese = {"注射用 TQB2102", "多西他赛 + 曲妥珠单抗 + 帕妥珠单抗"}
    page = client.get(f"/ops/subjects/HUN-0001?lang={ZH}").text
    arm = re.search(r'<dd id="subject-arm">([^<]*)</dd>', page)
    assert arm is not None and html.unescape(arm.group(1)) in chinese, arm
    english = client.get("/ops/subjects/HUN-0001?lang=en").text
    arm = re.search(r'<dd id="subject-arm">([^<]*)</dd>', english)
    assert arm is not None and html.unescape(arm.group(1)) not in chinese
