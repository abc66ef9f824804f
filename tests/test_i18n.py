"""The operations face in Simplified Chinese and English: catalogs complete and consistent, the language chosen as a
user expects (stored per user, switch, browser, trial default), the public page in the record's language, and dates,
times and numbers shown in the sites' time zone and a human format.

References are independent of the code: China Standard Time is UTC+8 all year (no daylight saving since 1991);
the expected Chinese words are the standard terms (NMPA GCP 2020 glossary, CTCAE 5.0 Chinese edition)."""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from access_helpers import NCT, PASSWORD, make_users
from i18n_helpers import missing
from trialdesk.entrypoints.web import i18n
from trialdesk.entrypoints.web.app import create_app
from trialdesk.entrypoints.web.labels import LABELS, label

PO_FILES = sorted((i18n.LOCALE_DIR / "zh_Hans" / "LC_MESSAGES").glob("*.po"))
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdf]")


def test_every_marked_string_of_the_operations_face_has_its_chinese_translation():
    gaps = missing()
    shown = "\n".join(f"{file}:{line}: {text!r}" for file, line, text in gaps[:40])
    assert not gaps, f"{len(gaps)} strings lack a zh-Hans translation (tests/i18n_helpers.py lists them):\n{shown}"


def _entries():
    for po in PO_FILES:
        with po.open("rb") as handle:
            for message in read_po(handle):
                if message.id:
                    yield po.name, message


def test_translations_keep_their_placeholders_and_agree_across_catalogs():
    assert PO_FILES, "no Simplified Chinese catalog"
    seen: dict[str, tuple[str, str]] = {}
    for name, message in _entries():
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        msgstr = message.string if isinstance(message.string, str) else message.string[0]
        assert msgstr, f"{name}: {msgid!r} has an empty translation"
        assert sorted(PLACEHOLDER.findall(msgid)) == sorted(PLACEHOLDER.findall(msgstr)), (name, msgid, msgstr)
        if msgid in seen:
            assert seen[msgid][1] == msgstr, f"{msgid!r}: {seen[msgid][0]} says {seen[msgid][1]!r}, {name} {msgstr!r}"
        seen[msgid] = (name, msgstr)


def _domain_enums() -> list[type[StrEnum]]:
    from trialdesk.domain import adverse_events, recist_models, schedule, subject_lifecycle
    from trialdesk.domain.access import Role
    from trialdesk.domain.protocol import OverallStatus

    found: list[type[StrEnum]] = [Role]
    for module in (adverse_events, recist_models, schedule, subject_lifecycle):
        found += [
            v for v in vars(module).values() if isinstance(v, type) and issubclass(v, StrEnum) and v is not StrEnum
        ]
    statuses = [s for s in OverallStatus if not s.value.endswith("AVAILABLE") and "MARKETING" not in s.value]
    return [*found, StrEnum("Statuses", {s.name: s.value for s in statuses})]


def test_every_code_the_domain_stores_has_a_label_and_a_chinese_one():
    codes = {member.value for enum in _domain_enums() for member in enum}
    assert codes - set(LABELS) == set()
    with i18n.use("en"):
        english = {code: label(code) for code in codes}
    with i18n.use("zh-Hans"):
        untranslated = {code for code in codes if label(code) == english[code]}
    # units keep their symbols (mg/m², mg/kg): the same in both languages
    assert untranslated <= {"mg_per_m2", "mg_per_kg"}


@pytest.mark.parametrize(
    ("code", "english", "chinese"),
    [
        ("on_treatment", "On treatment", "治疗中"),
        ("dose_not_changed", "Dose not changed", "剂量不变"),
        ("de_novo", "De novo metastatic", "初诊即转移"),
        ("PD", "Progressive disease (PD)", "疾病进展（PD）"),
        ("hospitalisation", "Hospitalisation or its prolongation", "导致住院或住院时间延长"),
        ("RECRUITING", "Recruiting", "招募中"),
    ],
)
def test_codes_read_as_words_in_both_languages(code, english, chinese):
    with i18n.use("en"):
        assert label(code) == english
    with i18n.use("zh-Hans"):
        assert label(code) == chinese
    # an unknown code still reads as words, never as an identifier with underscores
    with i18n.use("en"):
        assert label("some_new_code") == "Some new code"


def test_moments_are_shown_in_china_standard_time_and_dates_unambiguously():
    evening_utc = dt.datetime(2026, 11, 30, 18, 30, tzinfo=dt.UTC)  # 02:30 the next day in Beijing (UTC+8)
    with i18n.use("en", "Asia/Shanghai"):
        assert i18n.when(evening_utc) == "1 Dec 2026, 02:30 CST"
        assert i18n.when("2027-11-21T10:08:32.457739+00:00") == "21 Nov 2027, 18:08 CST"
        assert i18n.day(dt.date(2026, 3, 4)) == "4 Mar 2026"
        assert i18n.day(evening_utc) == "1 Dec 2026"  # the sites' calendar day, not UTC's
    with i18n.use("zh-Hans", "Asia/Shanghai"):
        assert i18n.when(evening_utc) == "2026年12月1日 02:30 CST"
        assert i18n.day("2026-03-04") == "2026年3月4日"
    with i18n.use("en", "UTC"):
        assert i18n.when(evening_utc) == "30 Nov 2026, 18:30 UTC"


def test_numbers_are_rounded_for_reading():
    with i18n.use("en"):
        assert i18n.num(59.23) == "59.2" and i18n.num(420.0) == "420" and i18n.num(1234.5) == "1,234.5"
        assert i18n.pct(-18.4211) == "−18.4%" and i18n.pct(12.5, 0, signed=True) == "+12%"
        assert i18n.num(None) == "–"
    with i18n.use("zh-Hans"):
        assert i18n.num(1234.56, 2) == "1,234.56"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR, en;q=0.5", "en"),
        ("de, fr", None),
        ("zh-TW", None),  # Traditional Chinese is not Simplified
        ("en;q=0.3, zh-Hans;q=0.7", "zh-Hans"),
        ("zh;q=0", None),
    ],
)
def test_browser_language_preferences(header, expected):
    assert i18n.from_accept_language(header) == expected


def test_a_trial_must_name_a_real_time_zone_and_supported_languages():
    from pydantic import ValidationError

    from trialdesk.domain.protocol import LocaleSpec

    assert LocaleSpec(time_zone="Asia/Shanghai", languages=["zh-Hans", "en"]).time_zone == "Asia/Shanghai"
    with pytest.raises(ValidationError, match="time_zone 'Asia/Beijing' is not an IANA time zone"):
        LocaleSpec(time_zone="Asia/Beijing")
    with pytest.raises(ValidationError, match=r"languages \['fr'\] not supported"):
        LocaleSpec(languages=["fr"])


def test_the_default_trial_states_its_sites_time_zone_as_a_cited_assumption():
    from trialdesk.adapters.protocol_files import load_protocol

    path = Path(i18n.__file__).resolve().parents[2] / "protocols" / f"{NCT}.yaml"
    spec = load_protocol(path).operations.locale
    assert spec.time_zone == "Asia/Shanghai" and spec.languages[0] == "zh-Hans"
    assert "25 sites" in spec.assumptions["time_zone"].source and spec.assumptions["languages"].source


# --- in the web app, on both databases ------------------------------------------------------------------------


@pytest.fixture
def web(td):
    make_users(td)
    with TestClient(create_app(td_app=td)) as client:
        yield td, client


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _login(client, username: str, password: str = PASSWORD) -> str:
    """Log in (changing a one-time password on the way); the password now in force."""
    r = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": _csrf(client.get("/login").text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    if r.headers["location"].startswith("/account/password"):
        form = client.get("/account/password").text
        client.post(
            "/account/password",
            data={"current": password, "new": password + "!", "confirm": password + "!", "csrf_token": _csrf(form)},
        )
        return password + "!"
    return password


def test_the_login_page_follows_the_browser_and_the_trial(web):
    _td, client = web
    chinese = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert '<html lang="zh-Hans">' in chinese.text and "登录" in chinese.text
    english = client.get("/login", headers={"Accept-Language": "en-GB"})
    assert '<html lang="en">' in english.text and "Log in" in english.text
    # a browser whose languages are none of ours: the trial's first (its sites work in Chinese)
    assert '<html lang="zh-Hans">' in client.get("/login", headers={"Accept-Language": "de-DE"}).text
    # a client that states no language (a script): the source language
    assert '<html lang="en">' in client.get("/login", headers={"Accept-Language": ""}).text
    # ?lang= on a GET wins and is remembered
    picked = client.get("/login?lang=en", headers={"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in picked.text and client.cookies.get("td_lang") == "en"
    assert '<html lang="en">' in client.get("/login", headers={"Accept-Language": "zh-CN"}).text


def test_the_public_registry_page_stays_in_the_records_language(web):
    _td, client = web
    client.cookies.set("td_lang", "zh-Hans")
    page = client.get(f"/trials/{NCT}", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and '<html lang="en">' in page.text


def test_the_switch_stores_the_users_language_audits_it_and_follows_them_to_another_browser(web):
    td, client = web
    client.get("/login?lang=en")
    password = _login(client, "coordinator1")
    home = client.get("/ops")
    assert '<html lang="en">' in home.text and 'data-lang="zh-Hans"' in home.text
    r = client.post(
        "/account/language",
        data={"language": "zh-Hans", "next": "/ops", "csrf_token": _csrf(home.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/ops"
    after = client.get("/ops")
    assert '<html lang="zh-Hans">' in after.text and "退出登录" in after.text
    with td.uow() as uow:
        assert uow.users.get("coordinator1").language == "zh-Hans"
        events = uow.audit.query(action_prefix="user.language")
    assert len(events) == 1 and events[0].entity_id == "coordinator1"
    # another browser, English by its own preference: the stored choice wins at login
    with TestClient(create_app(td_app=td)) as other:
        other.get("/login?lang=en")
        _login(other, "coordinator1", password)
        assert other.cookies.get("td_lang") == "zh-Hans"
        assert '<html lang="zh-Hans">' in other.get("/ops").text


def test_the_switch_refuses_what_it_cannot_do(web):
    td, client = web
    _login(client, "monitor1")
    token = _csrf(client.get("/ops").text)
    bad = client.post("/account/language", data={"language": "fr", "csrf_token": token}, follow_redirects=False)
    assert bad.status_code == 422 and "language" in bad.text and "fr" in bad.text
    forged = client.post("/account/language", data={"language": "zh-Hans"}, follow_redirects=False)
    assert forged.status_code == 403
    away = client.post(
        "/account/language",
        data={"language": "en", "next": "//evil.example/", "csrf_token": token},
        follow_redirects=False,
    )
    assert away.status_code == 303 and away.headers["location"] == "/ops"
    with td.uow() as uow:
        assert uow.users.get("monitor1").language == "en"
