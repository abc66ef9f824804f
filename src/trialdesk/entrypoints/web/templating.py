"""The Jinja2 templates of the web pages, and the context every operations page shares.

A module of its own so that route modules and the app import it without importing each other (``app.py`` imports
every route module to build its router list; a route module importing ``app.py`` for the templates was a cycle
waiting to happen).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from trialdesk.entrypoints.web.i18n import install as install_i18n

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
# gettext (``_``), and the filters that show codes, dates, times and numbers for people (entrypoints/web/i18n.py)
install_i18n(templates.env)


def month(value: Any) -> str:
    """A calendar month ``2026-01`` as people read it: ``Jan 2026`` / ``2026年1月``."""
    import datetime as dt

    from babel.dates import format_date

    from trialdesk.entrypoints.web import i18n

    text = str(value or "")
    try:
        first = dt.date.fromisoformat(text[:7] + "-01")
    except ValueError:
        return text
    chinese = i18n.language() == "zh-Hans"
    return format_date(first, "y年M月" if chinese else "MMM y", locale="zh_Hans_CN" if chinese else "en_GB")


def stratum(key: Any) -> str:
    """A randomization stratum key (``disease_setting=de_novo|hr_status=positive``) in words, each factor and level
    by its label: ``Disease setting: De novo metastatic · Hormone-receptor status: Positive``."""
    from trialdesk.entrypoints.web.i18n import gettext as _
    from trialdesk.entrypoints.web.labels import label

    text = str(key or "")
    parts = []
    for part in text.split("|"):
        factor, sep, level = part.partition("=")
        parts.append(_("%(factor)s: %(level)s", factor=label(factor), level=label(level)) if sep else label(part))
    return " · ".join(parts)


templates.env.filters.update(month=month, stratum=stratum)


def rule_text(value: Any) -> str:
    """A domain message or refusal in the page's language where its shape is known (``messages.shown``)."""
    from trialdesk.entrypoints.web.messages import shown

    return shown(value)


templates.env.filters["rule_text"] = rule_text


def figure_text() -> tuple[Any, bool]:
    """(how a figure writes its words, whether they need a CJK font) for the request's language: the catalogs'
    gettext when the page is in Chinese and a CJK font is installed, else English (``adapters/figures.py``)."""
    from trialdesk.adapters.figures import cjk_font, english
    from trialdesk.entrypoints.web import i18n

    if i18n.language() != "en" and cjk_font() is not None:
        return i18n.gettext, True
    return english, False


def _nav(request: Request) -> list[Any]:
    from trialdesk.entrypoints.web.nav import nav_for

    return nav_for(request)


#: base.html's navigation: the links the signed-in user's permissions open (entrypoints/web/nav.py)
templates.env.globals["nav_for"] = _nav


def _site_name(request: Request, site_key: str) -> str:
    from trialdesk.entrypoints.web.language import site_name

    return site_name(request, site_key)


#: a site's facility name for its key (base.html's account line names the user's sites)
templates.env.globals["site_name"] = _site_name


def ctx(request: Request, **values: Any) -> dict[str, Any]:
    """The template context of an operations page: the logged-in user and the session's CSRF token (both set on
    ``request.state`` by the authentication dependency), plus the page's own values."""
    from trialdesk.domain.access import Action

    principal = getattr(request.state, "principal", None)
    # the navigation links the audit trail for those who may read it (somewhere)
    can_view_audit = principal is not None and principal.sites_for(Action.AUDIT_VIEW) != frozenset()
    return {
        "user": principal,
        "csrf_token": getattr(request.state, "csrf", None),
        "can_view_audit": can_view_audit,
        **values,
    }
