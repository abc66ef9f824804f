"""The trial-wide operations pages in Simplified Chinese and in English (issue 15), SQLite and PostgreSQL, on the known
state of :mod:`nav_helpers`.

Independent references: the Chinese terms are the standard clinical and statistical names (不良事件, 严重不良事件,
受试者, 随机化, 质疑, 稽查轨迹, 数据截止, 意向性治疗, 风险比, 分层, 区组 ...), written here by hand; the times are
Asia/Shanghai (UTC+8, no daylight saving time since 1991, IANA tz database), the sites' zone in the protocol's
``operations.locale``: an event at 18:30 UTC on 1 March 2026 is 02:30 on 2 March in Shanghai. The raw codes the
issue quotes (``on_treatment``, ``de_novo``, ``|hr_status=``, ISO timestamps) must not reach the page.
"""

from __future__ import annotations

import datetime as dt
import os
import re

import pytest

from access_helpers import NCT, OWN
from capture_helpers import NOW, Clock
from nav_helpers import client_for, known_state
from trialdesk.adapters.db.tables import AllocationRow
from trialdesk.domain.access import SYSTEM
from trialdesk.services import queries
from trialdesk.services.commands import RaiseQuery

#: raw codes and machine formats that the issue found on screen
RAW = ("on_treatment", "de_novo", "|hr_status=", "hr_status=", "disease_setting=", "dose_not_changed")
ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
STRATUM = "disease_setting=de_novo|hr_status=positive"


def _prepare(td, shared_dir) -> None:
    """The known state, with HUN-0001 on treatment, HUN-0002 allocated in a real stratum of the protocol, and a
    query raised at 18:30 UTC (02:30 the next day in Shanghai)."""
    known_state(td, shared_dir)
    with td.uow("setup") as uow:
        subject = uow.subjects.get(uow.trials.get(NCT).id, "HUN-0001")
        subject.status = "on_treatment"
        for allocation in uow.session.query(AllocationRow).all():
            allocation.stratum = STRATUM
        uow.commit()
    td.clock = Clock(dt.datetime(2026, 3, 1, 18, 30, tzinfo=dt.UTC))
    with td.uow("setup") as uow:
        queries.raise_query(
            uow,
            SYSTEM,
            NCT,
            "HUN-0003",
            RaiseQuery(entity_type="subject", entity_id="HUN-0003", field="sex", message="Late-night check"),
        )
        uow.commit()
    td.clock = Clock(NOW)


def _visible(html: str) -> str:
    """The page's text and attribute values a person may see (scripts and styles dropped, entities kept)."""
    return re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)


def _check(client, path: str, lang: str, expected: list[str]) -> str:
    sep = "&" if "?" in path else "?"
    r = client.get(f"{path}{sep}lang={lang}")
    assert r.status_code == 200, (path, r.status_code)
    html = _visible(r.text)
    assert f'<html lang="{lang}">' in html, path
    missing = [text for text in expected if text not in html]
    assert not missing, (path, lang, missing)
    raw = [code for code in RAW if code in html]
    assert not raw, (path, lang, raw)
    # an ISO moment may remain in a machine-readable attribute (``<time datetime>``), never in the text
    shown = re.sub(r'datetime="[^"]*"', "", html)
    assert not ISO_MOMENT.search(shown), (path, lang, ISO_MOMENT.search(shown))
    return html


def test_site_staff_pages(td, shared_dir):
    _prepare(td, shared_dir)
    client = client_for(td, "coordinator1")
    home = _check(
        client,
        "/ops",
        "zh-Hans",
        [
            "中心首页",
            "严重不良事件报告时限",
            "今日到期访视",
            "逾期访视",
            "待签名的病例报告",
            "临床研究协调员",
            "2026年3月2日",
        ],
    )
    # the SAE entered at 02:00 UTC on 2 March: aware since 10:00 in Shanghai, its report due 24 h later
    assert "2026年3月2日 10:00 CST" in home and "2026年3月3日 10:00 CST" in home
    site = _check(client, f"/ops/sites/{OWN}", "zh-Hans", ["受试者", "治疗中", "招募中"])
    assert "On treatment" not in site
    listed = _check(client, "/ops/queries", "zh-Hans", ["数据质疑", "受试者", "待处理", "已回复", "未关闭天数"])
    # sites by their facility, not the slug
    assert f">{OWN}</td>" not in listed and ">Hunan Cancer Hospital</td>" in listed
    assert f"({OWN})" not in re.search(r"<main.*?</main>", home, re.S).group(0)  # the header is the frame's
    # English: the same pages with human labels and times
    home = _check(client, "/ops", "en", ["Site home", "SAE reporting clocks", "Overdue visits", "2 Mar 2026"])
    assert "2 Mar 2026, 10:00 CST" in home and "3 Mar 2026, 10:00 CST" in home
    site = _check(client, f"/ops/sites/{OWN}", "en", ["Subjects", "On treatment", "Recruiting"])
    _check(client, "/ops/queries", "en", ["Data queries", "Open", "Answered"])
    # the error page: its heading in words, in the chosen language
    r = client.get("/ops/subjects/NOPE-0001?lang=zh-Hans")
    assert r.status_code == 404 and "404 · 未找到" in r.text and "返回试验列表" in r.text


def test_statistician_pages(td, shared_dir):
    _prepare(td, shared_dir)
    client = client_for(td, "statistician1")
    _check(
        client, "/ops/randomization", "zh-Hans", ["随机表", "分层", "激素受体状态", "阳性", "初诊即转移", "全部分层"]
    )
    _check(client, "/ops/analysis", "zh-Hans", ["最终分析", "数据截止日", "试验决定", "注册状态"])
    _check(client, "/ops/datasets", "zh-Hans", ["分析数据集", "不良事件", "数据截止日"])
    dashboard = _check(
        client, "/ops/dashboard", "zh-Hans", ["入组", "筛选失败", "逾期访视", "按中心", "按月", "2026年1月"]
    )
    design = _check(client, "/ops/design?trials=100", "zh-Hans", ["检验效能", "风险比", "单侧 α"])
    # the figures' words too (a CJK font is installed here: Droid Sans Fallback; matplotlib's SVG keeps each text as
    # a comment beside its glyph paths)
    from trialdesk.adapters.figures import cjk_font

    if cjk_font() is None and os.environ.get("TRIALDESK_REQUIRE_ALL"):
        pytest.fail("no CJK font (TRIALDESK_REQUIRE_ALL is set; .ci/run installs fonts-droid-fallback)")
    if cjk_font() is not None:
        assert "<!-- 已随机化 -->" in dashboard and "<!-- randomized -->" not in dashboard
        assert re.search(r"<!-- 2026年\d{1,2}月\d{1,2}日 -->", dashboard)  # the curve's dates
        assert "<!-- 检验效能与风险比的关系 -->" in design and "<!-- Power against hazard ratio -->" not in design
    else:  # without a font that has the glyphs, a figure keeps its English words rather than empty boxes
        assert "<!-- randomized -->" in dashboard and "<!-- Power against hazard ratio -->" in design
    balance = _check(
        client, "/ops/randomization", "en", ["Hormone-receptor status: Positive", "Disease setting: De novo metastatic"]
    )
    # the balance table names sites by their facility, not the slug
    assert f"<td>{OWN}</td>" not in balance
    dashboard = _check(client, "/ops/dashboard", "en", ["Enrollment", "Screen failures", "By month", "Jan 2026"])
    assert "<!-- randomized -->" in dashboard
    assert re.search(r"<!-- \d{1,2} [A-Z][a-z]{2,3} 2026 -->", dashboard)  # the curve's dates: 1 Feb 2026
    _check(client, "/ops/analysis", "en", ["Final analysis", "Data cut-off", "Trial decisions"])


def test_audit_trail_in_the_sites_time_zone(td, shared_dir):
    _prepare(td, shared_dir)
    client = client_for(td, "admin1")
    # the query raised at 18:30 UTC: its raised_at shown in the sites' zone, the next day
    zh = _check(client, "/ops/audit?action=query.opened", "zh-Hans", ["稽查轨迹", "操作人", "2026年3月2日 02:30 CST"])
    assert "2026年3月1日 18:30" not in zh
    en = _check(client, "/ops/audit?action=query.opened", "en", ["Audit trail", "2 Mar 2026, 02:30 CST"])
    assert "Times in Asia/Shanghai" in en


def test_login_page(td):
    from fastapi.testclient import TestClient

    from trialdesk.entrypoints.web.app import create_app

    client = TestClient(create_app(td_app=td))
    r = client.get("/login?lang=zh-Hans")
    assert r.status_code == 200 and '<html lang="zh-Hans">' in r.text
    assert "用户名" in r.text and "密码" in r.text and "连续 5 次登录失败后" in r.text
    r = client.get("/login?msg=You+are+logged+out")  # the cookie keeps Chinese
    assert "您已退出登录" in r.text
    r = client.get("/login?lang=en&msg=You+are+logged+out")
    assert "You are logged out" in r.text and "Username" in r.text
