"""The language and time zone of the operations pages: gettext catalogs (Babel), the user's language, the sites' time
zone, and the Jinja filters that show codes, dates, times and numbers the way a person reads them.

- **Catalogs.** ``src/trialdesk/locale/<lang>/LC_MESSAGES/*.po`` (gettext PO files, one per part of the product so
  that parts are translated independently); they are compiled in memory with Babel at the first use, so the package
  ships no binaries. English is the source language (msgids are the English text).
- **Which language.** A request's language is, in order: ``?lang=`` on a GET (remembered in the ``td_lang`` cookie),
  the ``td_lang`` cookie (set from the user's stored choice at login and by the switch in the header), the
  browser's ``Accept-Language``, then the trial's first language (``operations.locale.languages``) for a browser
  whose languages are none of ours, English for a client that states none (scripts, tests). The public
  registry pages (``/``, ``/trials/...``) stay in the record's language, English.
- **Which time zone.** The trial's ``operations.locale.time_zone`` (Asia/Shanghai for NCT07003074's sites); times
  are stored in UTC and shown in that zone, with its name.

Templates call ``_("text")`` / ``_("%(n)s of %(total)s", n=1, total=2)`` (Jinja's i18n extension, new style);
Python code of the web layer imports :func:`gettext` as ``_``. ``tests/test_i18n.py`` checks that every marked
string has its Chinese translation.
"""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations
from markupsafe import Markup

from trialdesk.domain.protocol import SUPPORTED_LANGUAGES

LOCALE_DIR = Path(__file__).resolve().parents[2] / "locale"
LANG_COOKIE = "td_lang"
#: the languages a user can pick, each named in itself
LANGUAGE_NAMES = {"en": "English", "zh-Hans": "简体中文"}
#: a language's gettext catalog folder and Babel locale
_CATALOG_DIR = {"en": "en", "zh-Hans": "zh_Hans"}
_BABEL_LOCALE = {"en": "en_GB", "zh-Hans": "zh_Hans_CN"}
#: the human date formats (unambiguous: 30 Nov 2026 / 2026年11月30日)
_DATE_PATTERN = {"en": "d MMM y", "zh-Hans": "y年M月d日"}

_language: ContextVar[str] = ContextVar("trialdesk_language", default="en")
_time_zone: ContextVar[str] = ContextVar("trialdesk_time_zone", default="UTC")


def normalize(value: str | None) -> str | None:
    """A supported language from a code a user or a browser sends (``zh``, ``zh-CN``, ``zh_Hans`` → ``zh-Hans``)."""
    if not value:
        return None
    code = value.strip().replace("_", "-").lower()
    for lang in SUPPORTED_LANGUAGES:
        if code == lang.lower():
            return lang
    if code.startswith("zh") and not any(t in code for t in ("hant", "-tw", "-hk", "-mo")):
        return "zh-Hans"
    if code.startswith("en"):
        return "en"
    return None


def from_accept_language(header: str) -> str | None:
    """The first supported language of an ``Accept-Language`` header, by its q-values."""
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        bits = part.strip().split(";")
        q = 1.0
        for bit in bits[1:]:
            name, _, value = bit.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        lang = normalize(bits[0])
        if lang is not None and q > 0:
            choices.append((-q, index, lang))
    return min(choices)[2] if choices else None


@cache
def catalog(lang: str) -> Translations | None:
    """The merged catalog of a language (every ``.po`` file of its folder), or None for the source language."""
    folder = LOCALE_DIR / _CATALOG_DIR.get(lang, lang) / "LC_MESSAGES"
    merged: Translations | None = None
    for po in sorted(folder.glob("*.po")):
        with po.open("rb") as handle:
            parsed = read_po(handle, locale=_BABEL_LOCALE.get(lang))
        buffer = io.BytesIO()
        write_mo(buffer, parsed)
        buffer.seek(0)
        translations = Translations(buffer, domain="messages")
        merged = translations if merged is None else merged.merge(translations)
    return merged


def language() -> str:
    return _language.get()


def time_zone() -> str:
    return _time_zone.get()


def html_lang() -> str:
    return language()


@contextmanager
def use(lang: str, tz: str | None = None) -> Iterator[None]:
    """Render in ``lang`` (and ``tz``) inside the block: the middleware's job for a request, a test's otherwise."""
    token = _language.set(normalize(lang) or "en")
    tz_token = _time_zone.set(tz) if tz else None
    try:
        yield
    finally:
        _language.reset(token)
        if tz_token is not None:
            _time_zone.reset(tz_token)


def gettext(message: str, **values: Any) -> str:
    """``message`` in the request's language (``%(name)s`` placeholders filled from ``values``)."""
    translations = catalog(language())
    text = translations.gettext(message) if translations is not None else message
    return text % values if values else text


def ngettext(singular: str, plural: str, n: int, **values: Any) -> str:
    translations = catalog(language())
    text = translations.ngettext(singular, plural, n) if translations is not None else (singular if n == 1 else plural)
    return text % {"num": n, **values}


_ = gettext


def _zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(time_zone())


def _babel_locale() -> Locale:
    return Locale.parse(_BABEL_LOCALE.get(language(), "en_GB"))


def _as_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str) and "T" in value:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def when(value: Any, *, seconds: bool = False) -> str:
    """A moment in the sites' time zone, to the minute, with the zone: ``30 Nov 2026, 14:05 CST`` /
    ``2026年11月30日 14:05 CST``. A plain date is shown as :func:`day`; None as an empty string."""
    if value is None or value == "":
        return ""
    moment = _as_datetime(value)
    if moment is None:
        return day(value)
    local = moment.astimezone(_zone())
    clock = format_time(local, "HH:mm:ss" if seconds else "HH:mm", locale=_babel_locale())
    return (
        f"{day(local.date())} {clock} {local.tzname()}"
        if language() != "en"
        else (f"{day(local.date())}, {clock} {local.tzname()}")
    )


def day(value: Any) -> str:
    """A calendar date, unambiguous in both languages: ``30 Nov 2026`` / ``2026年11月30日``."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        value = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(_zone()).date()
    elif isinstance(value, str):
        moment = _as_datetime(value)
        if moment is not None:
            value = moment.astimezone(_zone()).date()
        else:
            try:
                value = dt.date.fromisoformat(value[:10])
            except ValueError:
                return str(value)
    if not isinstance(value, dt.date):
        return str(value)
    return format_date(value, _DATE_PATTERN.get(language(), "d MMM y"), locale=_babel_locale())


def stamp(value: Any) -> str:
    """A moment with its date and time as ``format_datetime`` writes it in full (for the audit trail's tooltips)."""
    moment = _as_datetime(value)
    if moment is None:
        return "" if value is None else str(value)
    return (
        format_datetime(moment.astimezone(_zone()), "medium", locale=_babel_locale())
        + f" {moment.astimezone(_zone()).tzname()}"
    )


def num(value: Any, digits: int = 1) -> str:
    """A number rounded to ``digits`` decimals, trailing zeros dropped (``59.2``, ``480``); None as ``–``."""
    if value is None or value == "":
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    pattern = "#,##0" + ("." + "#" * digits if digits > 0 else "")
    return format_decimal(round(number, digits), format=pattern, locale=_babel_locale())


def pct(value: Any, digits: int = 1, *, signed: bool = False) -> str:
    """A percentage given in percent (``-18.4211`` → ``−18.4%``), with a sign when asked."""
    if value is None or value == "":
        return "–"
    number = float(value)
    pattern = ("+" if signed and number > 0 else "") + "#,##0" + ("." + "0" * digits if digits > 0 else "") + "%"
    text = format_percent(round(number, digits) / 100, format=pattern, locale=_babel_locale())
    return text.replace("-", "−")


def tz_note() -> Markup:
    """A small note naming the time zone the page's times are in."""
    return Markup('<span class="tz-note">{}</span>').format(gettext("Times in %(zone)s", zone=time_zone()))


def install(env: Any) -> None:
    """Give a Jinja environment the i18n extension and the filters (``templating.py`` calls it)."""
    from trialdesk.entrypoints.web.labels import label

    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(gettext=gettext, ngettext=ngettext, newstyle=True)
    env.filters.update(when=when, day=day, num=num, pct=pct, label=label, stamp=stamp)
    env.globals.update(html_lang=html_lang, language=language, tz_note=tz_note, LANGUAGE_NAMES=LANGUAGE_NAMES)
